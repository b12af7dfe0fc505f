//! The earning rules surface: every version of the base rule and of every promotion, a new
//! base rule version, and promotions (create, change = new version, end, versions, usage).
//! Managers and admins write ([`domain::access::Action::ConfigureLoyalty`]); analysts read too
//! ([`RULES_READERS`]).

use crate::ApiState;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiPath, Caller, blocking};
use app::promotions::{PromotionInput, PromotionVersionView, PromotionView, RuleVersionView};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use domain::access::Role;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Who may read rules and promotions.
pub(crate) const RULES_READERS: &[Role] = &[Role::Admin, Role::Manager, Role::Analyst];

/// A promotion's definition (`POST` and `PUT` take every field; `PUT` stores a new version).
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PromotionBody {
    /// In a simulation's draft only: the stored promotion this draft stands for (its usage
    /// counts against the caps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) id: Option<i64>,
    pub(crate) name: String,
    /// Higher wins a line; two promotions with one priority may not apply to one line.
    #[serde(default)]
    pub(crate) priority: i64,
    /// Programme-local `YYYY-MM-DDTHH:MM:SS` (the window is half-open); both or neither.
    pub(crate) starts_at: Option<String>,
    pub(crate) ends_at: Option<String>,
    /// `all`, `sku:<sku>` or `category:<category>`.
    pub(crate) target: String,
    /// `multiplier:<basis points>` (20000: double the base points) or
    /// `points_per_unit:<points>`.
    pub(crate) effect: String,
    /// Tier codes of the programme; empty for every member.
    #[serde(default)]
    pub(crate) tiers: Vec<String>,
    /// The order's eligible total must reach this.
    #[serde(default)]
    pub(crate) minimum_spend_minor: i64,
    /// Points one member may get from it per period.
    pub(crate) member_cap_points: Option<i64>,
    /// `day`, `month` or `lifetime` (programme-local).
    pub(crate) member_cap_period: Option<String>,
    /// Points it may give in total, across members.
    pub(crate) budget_points: Option<i64>,
}

impl From<PromotionBody> for PromotionInput {
    fn from(b: PromotionBody) -> Self {
        PromotionInput {
            id: b.id,
            name: b.name,
            priority: b.priority,
            starts_at: b.starts_at,
            ends_at: b.ends_at,
            target: b.target,
            effect: b.effect,
            tiers: b.tiers,
            minimum_spend_minor: b.minimum_spend_minor,
            member_cap_points: b.member_cap_points,
            member_cap_period: b.member_cap_period,
            budget_points: b.budget_points,
        }
    }
}

impl From<PromotionInput> for PromotionBody {
    fn from(i: PromotionInput) -> Self {
        PromotionBody {
            id: None,
            name: i.name,
            priority: i.priority,
            starts_at: i.starts_at,
            ends_at: i.ends_at,
            target: i.target,
            effect: i.effect,
            tiers: i.tiers,
            minimum_spend_minor: i.minimum_spend_minor,
            member_cap_points: i.member_cap_points,
            member_cap_period: i.member_cap_period,
            budget_points: i.budget_points,
        }
    }
}

/// A promotion: its latest version, life and usage.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PromotionResponse {
    /// Also its rule id in a lot's provenance.
    pub(crate) id: i64,
    pub(crate) version: i64,
    #[serde(flatten)]
    pub(crate) definition: PromotionBody,
    /// `active` or `ended`.
    pub(crate) state: String,
    pub(crate) created_at: String,
    /// When the latest version was stored.
    pub(crate) updated_at: String,
    pub(crate) ended_at: Option<String>,
    /// Points granted so far (every version).
    pub(crate) granted_points: i64,
    /// What is left of the budget; absent without one.
    pub(crate) budget_left: Option<i64>,
}

impl From<PromotionView> for PromotionResponse {
    fn from(p: PromotionView) -> Self {
        PromotionResponse {
            id: p.id,
            version: p.version,
            definition: p.definition.into(),
            state: p.state.to_owned(),
            created_at: p.created_at.to_string(),
            updated_at: p.updated_at.to_string(),
            ended_at: p.ended_at.map(|t| t.to_string()),
            granted_points: p.granted_points,
            budget_left: p.budget_left,
        }
    }
}

/// Promotions, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PromotionsResponse {
    pub(crate) promotions: Vec<PromotionResponse>,
}

/// One stored version of a promotion.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PromotionVersionResponse {
    pub(crate) id: i64,
    pub(crate) version: i64,
    #[serde(flatten)]
    pub(crate) definition: PromotionBody,
    pub(crate) created_at: String,
    pub(crate) created_by: String,
}

impl From<PromotionVersionView> for PromotionVersionResponse {
    fn from(v: PromotionVersionView) -> Self {
        PromotionVersionResponse {
            id: v.id,
            version: v.version,
            definition: v.definition.into(),
            created_at: v.created_at.to_string(),
            created_by: v.created_by,
        }
    }
}

/// A promotion's versions, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PromotionVersionsResponse {
    pub(crate) versions: Vec<PromotionVersionResponse>,
}

/// One version of an earning rule.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RuleVersionResponse {
    /// `base` or `promotion`.
    pub(crate) kind: String,
    /// The id lots name in their provenance (`rule_id:version`).
    pub(crate) rule_id: i64,
    pub(crate) version: i64,
    pub(crate) created_at: String,
    /// Base rule: points per `per_minor` minor units.
    pub(crate) points: Option<i64>,
    pub(crate) per_minor: Option<i64>,
    pub(crate) minimum_spend_minor: Option<i64>,
    /// Base rule: categories whose lines earn nothing from it.
    pub(crate) excluded_categories: Option<Vec<String>>,
    /// Promotion: its definition in this version.
    pub(crate) promotion: Option<PromotionBody>,
}

impl From<RuleVersionView> for RuleVersionResponse {
    fn from(v: RuleVersionView) -> Self {
        match v {
            RuleVersionView::Base {
                rule_id,
                version,
                points,
                per_minor,
                minimum_spend_minor,
                excluded_categories,
                created_at,
            } => RuleVersionResponse {
                kind: "base".to_owned(),
                rule_id,
                version,
                created_at: created_at.to_string(),
                points: Some(points),
                per_minor: Some(per_minor),
                minimum_spend_minor: Some(minimum_spend_minor),
                excluded_categories: Some(excluded_categories),
                promotion: None,
            },
            RuleVersionView::Promotion(p) => RuleVersionResponse {
                kind: "promotion".to_owned(),
                rule_id: p.id,
                version: p.version,
                created_at: p.created_at.to_string(),
                points: None,
                per_minor: None,
                minimum_spend_minor: None,
                excluded_categories: None,
                promotion: Some(p.definition.into()),
            },
        }
    }
}

/// Every rule version, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RulesResponse {
    pub(crate) rules: Vec<RuleVersionResponse>,
}

/// `PUT /loyalty/rules/base`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BaseRuleBody {
    /// Points per `per_minor` minor units spent (1 per 10,000: 1 point per NT$100).
    pub(crate) points: i64,
    pub(crate) per_minor: i64,
    /// Orders whose eligible total (outside the excluded categories) is below this earn
    /// nothing from the base rule (minor units; default 0: no minimum).
    #[serde(default)]
    pub(crate) minimum_spend_minor: i64,
    /// Categories whose lines earn nothing from the base rule (default: none).
    #[serde(default)]
    pub(crate) excluded_categories: Vec<String>,
}

/// The base rule's new version.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BaseRuleResponse {
    pub(crate) rule_id: i64,
    pub(crate) version: i64,
}

/// Every version of the base rule and of every promotion, newest first.
#[utoipa::path(get, path = "/api/v1/loyalty/rules", tag = "loyalty",
    responses((status = 200, description = "Rule versions, newest first (at most 1,000)", body = RulesResponse)))]
pub(crate) async fn list_loyalty_rules(
    State(state): State<ApiState>,
) -> Result<Json<RulesResponse>, ApiError> {
    let app = state.app.clone();
    let rules = blocking(move || app.rule_versions()).await?;
    Ok(Json(RulesResponse {
        rules: rules.into_iter().map(Into::into).collect(),
    }))
}

/// Stores a new version of the base earning rule (rate, minimum spend, excluded categories);
/// intake and the simulation apply it from now on, lots keep naming the version that earned them.
#[utoipa::path(put, path = "/api/v1/loyalty/rules/base", tag = "loyalty",
    request_body = BaseRuleBody,
    responses(
        (status = 200, description = "The new version", body = BaseRuleResponse),
        (status = 422, description = "invalid_field (also: no programme stored)", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn replace_loyalty_base_rule(
    State(state): State<ApiState>,
    Caller(who): Caller,
    ApiJson(body): ApiJson<BaseRuleBody>,
) -> Result<Json<BaseRuleResponse>, ApiError> {
    let app = state.app.clone();
    let rule = blocking(move || {
        app.set_base_rule(
            &who,
            &app::loyalty::BaseRuleInput {
                points: body.points,
                per_minor: body.per_minor,
                minimum_spend_minor: body.minimum_spend_minor,
                excluded_categories: body.excluded_categories,
            },
        )
    })
    .await?;
    Ok(Json(BaseRuleResponse {
        rule_id: rule.id as i64,
        version: i64::from(rule.version),
    }))
}

/// Promotions with their usage, newest first.
#[utoipa::path(get, path = "/api/v1/loyalty/promotions", tag = "loyalty",
    responses((status = 200, description = "Promotions (at most 500)", body = PromotionsResponse)))]
pub(crate) async fn list_promotions(
    State(state): State<ApiState>,
) -> Result<Json<PromotionsResponse>, ApiError> {
    let app = state.app.clone();
    let promotions = blocking(move || app.promotions()).await?;
    Ok(Json(PromotionsResponse {
        promotions: promotions.into_iter().map(Into::into).collect(),
    }))
}

/// Creates a promotion (version 1).
#[utoipa::path(post, path = "/api/v1/loyalty/promotions", tag = "loyalty",
    request_body = PromotionBody,
    responses(
        (status = 201, description = "The promotion", body = PromotionResponse),
        (status = 422, description = "invalid_field, or overlapping_promotions (naming both)", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn create_promotion(
    State(state): State<ApiState>,
    Caller(who): Caller,
    ApiJson(body): ApiJson<PromotionBody>,
) -> Result<(StatusCode, Json<PromotionResponse>), ApiError> {
    let app = state.app.clone();
    let p = blocking(move || app.create_promotion(&who, &body.into())).await?;
    Ok((StatusCode::CREATED, Json(p.into())))
}

/// One promotion with its usage.
#[utoipa::path(get, path = "/api/v1/loyalty/promotions/{id}", tag = "loyalty",
    params(("id" = i64, Path, description = "The promotion")),
    responses((status = 200, description = "The promotion", body = PromotionResponse)))]
pub(crate) async fn get_promotion(
    State(state): State<ApiState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<PromotionResponse>, ApiError> {
    let app = state.app.clone();
    let p = blocking(move || app.promotion(id)).await?;
    Ok(Json(p.into()))
}

/// Stores a new version of a promotion; lots earned under earlier versions keep naming them.
#[utoipa::path(put, path = "/api/v1/loyalty/promotions/{id}", tag = "loyalty",
    params(("id" = i64, Path, description = "The promotion")),
    request_body = PromotionBody,
    responses(
        (status = 200, description = "The promotion at its new version", body = PromotionResponse),
        (status = 409, description = "promotion_ended", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid_field, or overlapping_promotions (naming both)", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn replace_promotion(
    State(state): State<ApiState>,
    Caller(who): Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<PromotionBody>,
) -> Result<Json<PromotionResponse>, ApiError> {
    let app = state.app.clone();
    let p = blocking(move || app.update_promotion(&who, id, &body.into())).await?;
    Ok(Json(p.into()))
}

/// Ends a promotion: orders recorded from now on do not get it.
#[utoipa::path(post, path = "/api/v1/loyalty/promotions/{id}/end", tag = "loyalty",
    params(("id" = i64, Path, description = "The promotion")),
    responses(
        (status = 200, description = "The ended promotion", body = PromotionResponse),
        (status = 409, description = "promotion_ended: it had ended already", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn create_promotion_end(
    State(state): State<ApiState>,
    Caller(who): Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<PromotionResponse>, ApiError> {
    let app = state.app.clone();
    let p = blocking(move || app.end_promotion(&who, id)).await?;
    Ok(Json(p.into()))
}

/// Every version of a promotion, newest first.
#[utoipa::path(get, path = "/api/v1/loyalty/promotions/{id}/versions", tag = "loyalty",
    params(("id" = i64, Path, description = "The promotion")),
    responses((status = 200, description = "Its versions", body = PromotionVersionsResponse)))]
pub(crate) async fn list_promotion_versions(
    State(state): State<ApiState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<PromotionVersionsResponse>, ApiError> {
    let app = state.app.clone();
    let versions = blocking(move || app.promotion_versions(id)).await?;
    Ok(Json(PromotionVersionsResponse {
        versions: versions.into_iter().map(Into::into).collect(),
    }))
}

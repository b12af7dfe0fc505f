//! Non-purchase points and referrals: the versioned bonus rules, awards for reviews, surveys
//! and custom events (points from the rule, exactly once per external id), and referral codes
//! and referrals.

use crate::ApiState;
use crate::error::{ApiError, ErrorCode, Problem};
use crate::extract::{ApiJson, ApiPath, Caller, blocking};
use app::bonus::{
    AwardView, BonusRule, BonusRules, BonusRulesView, ReferralSettings, ReferralView, Referrals,
};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A customer named by the path is the resource: unknown answers 404.
fn not_found(e: ApiError) -> ApiError {
    match e.code {
        ErrorCode::UnknownCustomer => ApiError::new(ErrorCode::NotFound),
        _ => e,
    }
}

/// One kind's points.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BonusRuleBody {
    /// `sign_up`, `birthday`, `anniversary`, `review`, `survey_answered` or `custom`.
    pub(crate) kind: String,
    /// A custom event's code (`a-z 0-9 _ - .`, at most 64 bytes); custom rules only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) code: Option<String>,
    /// Free points awarded, 1 or more.
    pub(crate) points: i64,
}

/// Referral rewards and limits.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReferralSettingsBody {
    /// Points for the member whose code was used (0: none).
    pub(crate) referrer_points: i64,
    /// Points for the new member (0: none).
    pub(crate) referee_points: i64,
    /// The referee's first order must reach this total (programme currency, minor units).
    pub(crate) minimum_order_minor: i64,
    /// Referrals rewarded per referrer per period (1 to 10,000); beyond it they are refused.
    pub(crate) referrer_cap: i64,
    /// `day`, `month` or `lifetime` (programme-local).
    pub(crate) cap_period: String,
}

/// The non-purchase rules (`PUT` takes every field; a new version is stored).
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BonusRulesBody {
    pub(crate) rules: Vec<BonusRuleBody>,
    /// `feb28` or `mar1`: the day a 29 February birthday or anniversary is celebrated in a
    /// common year.
    pub(crate) leap_day_fallback: String,
    pub(crate) referral: ReferralSettingsBody,
}

/// A stored version of the non-purchase rules.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BonusRulesResponse {
    /// 0: none stored, nothing is awarded.
    pub(crate) version: i64,
    #[serde(flatten)]
    pub(crate) rules: BonusRulesBody,
    pub(crate) created_at: Option<String>,
}

impl From<BonusRulesView> for BonusRulesResponse {
    fn from(v: BonusRulesView) -> Self {
        let r = v.rules;
        BonusRulesResponse {
            version: v.version,
            rules: BonusRulesBody {
                rules: r
                    .rules
                    .into_iter()
                    .map(|r| BonusRuleBody {
                        kind: r.kind,
                        code: r.code,
                        points: r.points,
                    })
                    .collect(),
                leap_day_fallback: r.leap_day_fallback,
                referral: ReferralSettingsBody {
                    referrer_points: r.referral.referrer_points,
                    referee_points: r.referral.referee_points,
                    minimum_order_minor: r.referral.minimum_order_minor,
                    referrer_cap: r.referral.referrer_cap,
                    cap_period: r.referral.cap_period,
                },
            },
            created_at: v.created_at.map(|t| t.to_string()),
        }
    }
}

/// The non-purchase rules in force.
#[utoipa::path(get, path = "/api/v1/loyalty/bonus-rules", tag = "loyalty",
    responses((status = 200, description = "The rules (version 0: none stored)", body = BonusRulesResponse)))]
pub(crate) async fn get_bonus_rules(
    State(state): State<ApiState>,
) -> Result<Json<BonusRulesResponse>, ApiError> {
    let app = state.app.clone();
    Ok(Json(blocking(move || app.bonus_rules()).await?.into()))
}

/// Stores the non-purchase rules as a new version; awards name the version that paid them.
#[utoipa::path(put, path = "/api/v1/loyalty/bonus-rules", tag = "loyalty",
    request_body = BonusRulesBody,
    responses(
        (status = 200, description = "The new version", body = BonusRulesResponse),
        (status = 422, description = "invalid_field: unknown kind, custom rule without a code, points out of range", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn replace_bonus_rules(
    State(state): State<ApiState>,
    Caller(who): Caller,
    ApiJson(body): ApiJson<BonusRulesBody>,
) -> Result<Json<BonusRulesResponse>, ApiError> {
    let rules = BonusRules {
        rules: body
            .rules
            .into_iter()
            .map(|r| BonusRule {
                kind: r.kind,
                code: r.code,
                points: r.points,
            })
            .collect(),
        leap_day_fallback: body.leap_day_fallback,
        referral: ReferralSettings {
            referrer_points: body.referral.referrer_points,
            referee_points: body.referral.referee_points,
            minimum_order_minor: body.referral.minimum_order_minor,
            referrer_cap: body.referral.referrer_cap,
            cap_period: body.referral.cap_period,
        },
    };
    let app = state.app.clone();
    Ok(Json(
        blocking(move || app.set_bonus_rules(&who, &rules))
            .await?
            .into(),
    ))
}

/// `POST /customers/{id}/loyalty/awards`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AwardBody {
    /// `review`, `survey_answered` or `custom`.
    pub(crate) kind: String,
    /// The custom event's code (custom only).
    pub(crate) code: Option<String>,
    /// The shop's id of what is rewarded (the review, the survey answer): at most one award
    /// per kind and external id.
    pub(crate) external_id: String,
}

/// An award of free points.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AwardResponse {
    /// The award's event id.
    pub(crate) award_id: i64,
    pub(crate) customer_id: i64,
    pub(crate) kind: String,
    pub(crate) code: Option<String>,
    pub(crate) points: i64,
    /// The bonus rules version the points came from.
    pub(crate) rule_version: i64,
    /// As stored: `<kind>:<external_id>`.
    pub(crate) external_id: String,
    /// The last valid instant of the points (programme expiry), RFC 3339 UTC.
    pub(crate) expires_at: Option<String>,
    pub(crate) created_at: String,
}

impl From<AwardView> for AwardResponse {
    fn from(a: AwardView) -> Self {
        AwardResponse {
            award_id: a.award_id,
            customer_id: a.customer_id,
            kind: a.kind,
            code: a.code,
            points: a.points,
            rule_version: a.rule_version,
            external_id: a.external_id,
            expires_at: a.expires_at.map(|t| t.to_string()),
            created_at: a.created_at.to_string(),
        }
    }
}

/// Awards free points for a review, an answered survey or a custom event; the points come from
/// the rule in force. The same kind and external id again answers the first award.
#[utoipa::path(post, path = "/api/v1/customers/{id}/loyalty/awards", tag = "loyalty",
    params(("id" = i64, Path, description = "Patron's customer id")),
    request_body = AwardBody,
    responses(
        (status = 201, description = "Awarded", body = AwardResponse),
        (status = 200, description = "Awarded before with this external id", body = AwardResponse),
        (status = 404, description = "not_found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "conflicting_duplicate: the external id was awarded for other content", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid_field: unknown kind, no rule for it, unknown custom code", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn create_loyalty_award(
    State(state): State<ApiState>,
    Caller(who): Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<AwardBody>,
) -> Result<(StatusCode, Json<AwardResponse>), ApiError> {
    let app = state.app.clone();
    let (award, created) = blocking(move || {
        app.award_points(
            &who,
            id,
            &body.kind,
            body.code.as_deref(),
            &body.external_id,
        )
    })
    .await
    .map_err(not_found)?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(award.into())))
}

/// A member's referral code.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ReferralCodeResponse {
    pub(crate) customer_id: i64,
    /// 8 symbols (Crockford base 32, the last a check symbol); print as `XXXX-XXXX`. `null`
    /// until one is generated.
    pub(crate) code: Option<String>,
}

/// The member's referral code (`null` until one is generated).
#[utoipa::path(get, path = "/api/v1/customers/{id}/referral-code", tag = "loyalty",
    params(("id" = i64, Path, description = "Patron's customer id")),
    responses(
        (status = 200, description = "The code", body = ReferralCodeResponse),
        (status = 404, description = "not_found", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn get_referral_code(
    State(state): State<ApiState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<ReferralCodeResponse>, ApiError> {
    let app = state.app.clone();
    let code = blocking(move || app.referral_code(id)).await?;
    Ok(Json(ReferralCodeResponse {
        customer_id: id,
        code,
    }))
}

/// Generates the member's referral code (once: later calls answer the same code).
#[utoipa::path(post, path = "/api/v1/customers/{id}/referral-code", tag = "loyalty",
    params(("id" = i64, Path, description = "Patron's customer id")),
    responses(
        (status = 201, description = "Generated", body = ReferralCodeResponse),
        (status = 200, description = "The code generated before", body = ReferralCodeResponse),
        (status = 404, description = "not_found", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn create_referral_code(
    State(state): State<ApiState>,
    Caller(who): Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<(StatusCode, Json<ReferralCodeResponse>), ApiError> {
    let app = state.app.clone();
    let (code, created) = blocking(move || app.create_referral_code(&who, id)).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(ReferralCodeResponse {
            customer_id: id,
            code: Some(code),
        }),
    ))
}

/// `POST /customers/{id}/referred-by`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReferredByBody {
    /// The referrer's code as typed (dashes, spaces and case are ignored).
    pub(crate) referral_code: String,
}

/// A referral.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ReferralResponse {
    pub(crate) referrer_id: i64,
    pub(crate) referee_id: i64,
    pub(crate) code: String,
    /// `pending` (until the referee's first qualifying order), `rewarded`, `refused`, or
    /// `reversed` (the qualifying order was refunded in full within its return window: both
    /// rewards were clawed back).
    pub(crate) state: String,
    /// Why a refused referral gave no points (`self_referral`, `referrer_cap_reached`), or
    /// what reversed a rewarded one (`order_refunded`, `order_cancelled`).
    pub(crate) reason: Option<String>,
    /// The referee's order that settled it.
    pub(crate) order_id: Option<i64>,
    /// The bonus rules version that settled it.
    pub(crate) rule_version: Option<i64>,
    pub(crate) created_at: String,
    pub(crate) settled_at: Option<String>,
    /// When the rewards were clawed back.
    pub(crate) reversed_at: Option<String>,
}

impl From<ReferralView> for ReferralResponse {
    fn from(r: ReferralView) -> Self {
        ReferralResponse {
            referrer_id: r.referrer_id,
            referee_id: r.referee_id,
            code: r.code,
            state: r.state,
            reason: r.reason,
            order_id: r.order_id,
            rule_version: r.rule_version,
            created_at: r.created_at.to_string(),
            settled_at: r.settled_at.map(|t| t.to_string()),
            reversed_at: r.reversed_at.map(|t| t.to_string()),
        }
    }
}

/// Registers the customer as referred by the owner of a code (before their first order; the
/// code's own member is refused with `self_referral` and nothing is written).
#[utoipa::path(post, path = "/api/v1/customers/{id}/referred-by", tag = "loyalty",
    params(("id" = i64, Path, description = "Patron's customer id")),
    request_body = ReferredByBody,
    responses(
        (status = 200, description = "The referral", body = ReferralResponse),
        (status = 404, description = "not_found", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid_field: malformed or unknown code, already referred, already ordered; self_referral: the referee is the referrer", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn create_referred_by(
    State(state): State<ApiState>,
    Caller(who): Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<ReferredByBody>,
) -> Result<Json<ReferralResponse>, ApiError> {
    let app = state.app.clone();
    let r = blocking(move || app.register_referral(&who, id, &body.referral_code)).await?;
    Ok(Json(r.into()))
}

/// Who referred the member, and whom they referred.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ReferralsResponse {
    pub(crate) referred_by: Option<ReferralResponse>,
    /// Oldest first, at most 500.
    pub(crate) referred: Vec<ReferralResponse>,
}

impl From<Referrals> for ReferralsResponse {
    fn from(r: Referrals) -> Self {
        ReferralsResponse {
            referred_by: r.referred_by.map(Into::into),
            referred: r.referred.into_iter().map(Into::into).collect(),
        }
    }
}

/// The member's referrals, with how each ended.
#[utoipa::path(get, path = "/api/v1/customers/{id}/referrals", tag = "loyalty",
    params(("id" = i64, Path, description = "Patron's customer id")),
    responses((status = 200, description = "The referrals", body = ReferralsResponse)))]
pub(crate) async fn list_referrals(
    State(state): State<ApiState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<ReferralsResponse>, ApiError> {
    let app = state.app.clone();
    Ok(Json(blocking(move || app.referrals(id)).await?.into()))
}

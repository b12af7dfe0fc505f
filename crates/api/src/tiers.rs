//! The tier surface: the programme's tier group (read, and replaced as a new programme
//! version) and paid memberships (join, renew, cancel).

use crate::ApiState;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiPath, Caller, blocking};
use app::tiers::{
    MembershipAction, MembershipPayment, MembershipView, TierGroupSettings, TierGroupView,
    TierSettings,
};
use axum::Json;
use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a tier gives.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BenefitsBody {
    /// Earning multiplier in basis points (10,000 = ×1, up to the rule maximum); ×1 when absent.
    pub(crate) earn_multiplier_bp: Option<i64>,
    /// Orders from this amount (minor units) ship free; none when absent.
    pub(crate) free_shipping_threshold_minor: Option<i64>,
    /// Early access to sales and launches.
    pub(crate) early_access: Option<bool>,
    /// Points given on the member's birthday; 0 when absent.
    pub(crate) birthday_gift_points: Option<i64>,
}

/// A tier that can also be bought.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PaidBody {
    /// The fee of one term, in minor units of the programme currency (required, at least 1).
    pub(crate) fee_minor: Option<i64>,
    /// The term, 1 to 120 months.
    pub(crate) term_months: i64,
}

/// One tier of the group.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TierBody {
    pub(crate) code: String,
    /// Qualifying value (points or minor units, per `basis`) a period needs; 0 for the first
    /// tier, strictly rising after it.
    pub(crate) threshold: i64,
    pub(crate) benefits: Option<BenefitsBody>,
    /// Set when members may buy the tier.
    pub(crate) paid: Option<PaidBody>,
}

/// The tier group (`PUT` takes every field; a new programme version is stored).
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TierGroupBody {
    /// `points` (purchase points earned) or `spend` (minor units spent).
    pub(crate) basis: String,
    /// `calendar`, `anniversary` (from the member's first order) or `rolling:<days>` (reviewed
    /// monthly).
    pub(crate) period: String,
    /// At a period's end a member who did not requalify goes `one_down` or `to_earned`.
    pub(crate) downgrade: String,
    /// Days after the period's end the downgrade takes effect, 0 to 365.
    pub(crate) grace_days: i64,
    /// Days before the period's end the `tier.downgrade_notice` is written, 0 to 365.
    pub(crate) notice_days: i64,
    /// 1 to 20 tiers in ascending threshold order.
    pub(crate) tiers: Vec<TierBody>,
}

/// The tier group in force.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TierGroupResponse {
    /// The programme version it belongs to (0: none stored, the default group).
    pub(crate) programme_version: i64,
    #[serde(flatten)]
    pub(crate) group: TierGroupBody,
}

impl From<TierGroupView> for TierGroupResponse {
    fn from(v: TierGroupView) -> Self {
        let s = v.settings;
        TierGroupResponse {
            programme_version: v.programme_version,
            group: TierGroupBody {
                basis: s.basis,
                period: s.period,
                downgrade: s.downgrade,
                grace_days: s.grace_days,
                notice_days: s.notice_days,
                tiers: s
                    .tiers
                    .into_iter()
                    .map(|t| TierBody {
                        code: t.code,
                        threshold: t.threshold,
                        benefits: Some(BenefitsBody {
                            earn_multiplier_bp: Some(t.earn_multiplier_bp),
                            free_shipping_threshold_minor: t.free_shipping_threshold_minor,
                            early_access: Some(t.early_access),
                            birthday_gift_points: Some(t.birthday_gift_points),
                        }),
                        paid: t.paid.map(|(fee, months)| PaidBody {
                            fee_minor: Some(fee),
                            term_months: months,
                        }),
                    })
                    .collect(),
            },
        }
    }
}

fn settings(body: TierGroupBody) -> TierGroupSettings {
    TierGroupSettings {
        basis: body.basis,
        period: body.period,
        downgrade: body.downgrade,
        grace_days: body.grace_days,
        notice_days: body.notice_days,
        tiers: body
            .tiers
            .into_iter()
            .map(|t| {
                let b = t.benefits.unwrap_or(BenefitsBody {
                    earn_multiplier_bp: None,
                    free_shipping_threshold_minor: None,
                    early_access: None,
                    birthday_gift_points: None,
                });
                TierSettings {
                    code: t.code,
                    threshold: t.threshold,
                    earn_multiplier_bp: b
                        .earn_multiplier_bp
                        .unwrap_or(domain::loyalty::rules::MULTIPLIER_BP_ONE),
                    free_shipping_threshold_minor: b.free_shipping_threshold_minor,
                    early_access: b.early_access.unwrap_or(false),
                    birthday_gift_points: b.birthday_gift_points.unwrap_or(0),
                    // A paid tier without a fee is refused by the domain (fee 0).
                    paid: t.paid.map(|p| (p.fee_minor.unwrap_or(0), p.term_months)),
                }
            })
            .collect(),
    }
}

/// The programme's tier group: tiers, thresholds, benefits, basis, period and downgrade policy.
#[utoipa::path(get, path = "/api/v1/loyalty/tiers", tag = "loyalty",
    responses((status = 200, description = "The tier group in force", body = TierGroupResponse)))]
pub(crate) async fn get_loyalty_tiers(
    State(state): State<ApiState>,
) -> Result<Json<TierGroupResponse>, ApiError> {
    let app = state.app.clone();
    let v = blocking(move || app.tier_group()).await?;
    Ok(Json(v.into()))
}

/// Replaces the tier group: stored as a new programme version (earlier versions are kept).
/// Members keep their tier; reviews apply the new group from then on.
#[utoipa::path(put, path = "/api/v1/loyalty/tiers", tag = "loyalty",
    request_body = TierGroupBody,
    responses(
        (status = 200, description = "The new tier group", body = TierGroupResponse),
        (status = 422, description = "invalid_field: unknown basis, period or policy, thresholds not rising, a paid tier without a fee, no programme stored", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn replace_loyalty_tiers(
    State(state): State<ApiState>,
    Caller(who): Caller,
    ApiJson(body): ApiJson<TierGroupBody>,
) -> Result<Json<TierGroupResponse>, ApiError> {
    let s = settings(body);
    let app = state.app.clone();
    let v = blocking(move || app.update_tier_group(&who, &s)).await?;
    Ok(Json(v.into()))
}

/// `POST /customers/{id}/loyalty/membership` and `…/renew`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MembershipBody {
    /// A paid tier's code.
    pub(crate) tier: String,
    /// Where the payment was taken (`shop` when absent).
    pub(crate) source: Option<String>,
    /// The payment's id there: the fee is recorded once per id.
    pub(crate) external_id: String,
}

/// A paid membership.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MembershipResponse {
    pub(crate) customer_id: i64,
    pub(crate) tier: String,
    /// RFC 3339, UTC: the end of the paid term.
    pub(crate) ends_at: String,
    /// False once cancelled: the membership then ends at `ends_at`.
    pub(crate) renews: bool,
    /// The `membership_paid` event recording the fee (none for a cancellation).
    pub(crate) payment_event_id: Option<i64>,
}

impl From<MembershipView> for MembershipResponse {
    fn from(m: MembershipView) -> Self {
        MembershipResponse {
            customer_id: m.customer_id,
            tier: m.tier,
            ends_at: m.ends_at.to_string(),
            renews: m.renews,
            payment_event_id: m.payment_event_id,
        }
    }
}

/// A customer named by the path is the resource: unknown answers 404 (the use case says so).
async fn pay(
    state: ApiState,
    who: app::Principal,
    id: i64,
    action: MembershipAction,
    body: MembershipBody,
) -> Result<Response, ApiError> {
    let payment = MembershipPayment {
        source: body.source.unwrap_or_else(|| "shop".to_owned()),
        external_id: body.external_id,
        tier: body.tier,
    };
    let app = state.app.clone();
    let outcome = blocking(move || app.pay_membership(&who, id, action, &payment)).await?;
    match outcome {
        app::intake::Intake::Accepted(m) => {
            Ok(crate::orders::created(MembershipResponse::from(m), false))
        }
        app::intake::Intake::Duplicate(m) => {
            Ok(crate::orders::created(MembershipResponse::from(m), true))
        }
        app::intake::Intake::Rejected(e) => Err(e.into()),
    }
}

/// Joins the member to a paid tier for one term and records its fee (exactly once per payment
/// id). While it lasts the member is at least that tier.
#[utoipa::path(post, path = "/api/v1/customers/{id}/loyalty/membership", tag = "loyalty",
    params(("id" = i64, Path, description = "Patron's customer id")),
    request_body = MembershipBody,
    responses(
        (status = 201, description = "The membership; a replayed payment adds `Patron-Replayed: true`", body = MembershipResponse),
        (status = 404, description = "not_found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "conflicting_duplicate: the payment id was used with other content", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid_field: not a paid tier, already a member", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn create_loyalty_membership(
    State(state): State<ApiState>,
    Caller(who): Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<MembershipBody>,
) -> Result<Response, ApiError> {
    pay(state, who, id, MembershipAction::Join, body).await
}

/// Renews the member's paid membership: one more term after its current end, fee recorded
/// exactly once per payment id. A cancelled membership is not renewed.
#[utoipa::path(post, path = "/api/v1/customers/{id}/loyalty/membership/renew", tag = "loyalty",
    params(("id" = i64, Path, description = "Patron's customer id")),
    request_body = MembershipBody,
    responses(
        (status = 201, description = "The renewed membership", body = MembershipResponse),
        (status = 404, description = "not_found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "conflicting_duplicate", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid_field: no active membership of this tier, or cancelled", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn create_loyalty_membership_renewal(
    State(state): State<ApiState>,
    Caller(who): Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<MembershipBody>,
) -> Result<Response, ApiError> {
    pay(state, who, id, MembershipAction::Renew, body).await
}

/// Cancels the member's paid membership: it stays until its term ends and is not renewed.
#[utoipa::path(post, path = "/api/v1/customers/{id}/loyalty/membership/cancel", tag = "loyalty",
    params(("id" = i64, Path, description = "Patron's customer id")),
    responses(
        (status = 200, description = "The cancelled membership", body = MembershipResponse),
        (status = 404, description = "not_found", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid_field: no active membership", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn create_loyalty_membership_cancellation(
    State(state): State<ApiState>,
    Caller(who): Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<MembershipResponse>, ApiError> {
    let app = state.app.clone();
    let m = blocking(move || app.cancel_membership(&who, id)).await?;
    Ok(Json(m.into()))
}

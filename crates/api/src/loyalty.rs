//! The loyalty surface: redemption holds (reserve → commit or release; a hold expires on its
//! own), the member's loyalty summary and the lot detail of their statement.

use crate::ApiState;
use crate::error::{ApiError, ErrorCode, Problem};
use crate::extract::{ApiJson, ApiPath, Caller, blocking};
use app::intake::LineInput;
use app::loyalty::{
    HoldView, LotDetail, LoyaltySummary, ProgrammeSettings, ProgrammeView, Simulation,
};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /customers/{id}/points/holds`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct HoldBody {
    /// Points to reserve, 1 or more; at most the available points (balance − live holds).
    pub(crate) points: i64,
    /// How long the hold lives, 1 to 86,400 seconds; 900 when absent.
    pub(crate) ttl_seconds: Option<i64>,
}

/// A redemption hold.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct HoldResponse {
    pub(crate) hold_id: i64,
    pub(crate) customer_id: i64,
    pub(crate) points: i64,
    /// `held`, `committed`, `released` or `expired`.
    pub(crate) state: String,
    /// RFC 3339, UTC.
    pub(crate) expires_at: String,
    /// The redemption's event id once committed.
    pub(crate) redemption_id: Option<i64>,
}

impl From<HoldView> for HoldResponse {
    fn from(h: HoldView) -> Self {
        HoldResponse {
            hold_id: h.hold_id,
            customer_id: h.customer_id,
            points: h.points,
            state: h.state.to_owned(),
            expires_at: h.expires_at.to_string(),
            redemption_id: h.redemption_id,
        }
    }
}

/// The member's loyalty summary.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LoyaltyResponse {
    pub(crate) customer_id: i64,
    /// Spendable points.
    pub(crate) balance: i64,
    /// Points still in their return window.
    pub(crate) pending: i64,
    /// Points a return left owed (the `debt` shortfall policy), settled first from the next
    /// points that become active.
    pub(crate) debt: i64,
    /// Points held by live redemption holds.
    pub(crate) held: i64,
    /// `balance − held`.
    pub(crate) available: i64,
    /// Spendable points whose last valid day is within 30 days.
    pub(crate) expiring_soon: i64,
    /// RFC 3339, UTC: the earliest of those expiries.
    pub(crate) next_expiry_at: Option<String>,
    /// The tier that applies now (an override's, or a paid membership's when higher).
    pub(crate) tier: String,
    /// What the tier gives.
    pub(crate) benefits: crate::tiers::BenefitsBody,
    /// The tier earned by qualification, and since when (RFC 3339 UTC).
    pub(crate) earned_tier: String,
    pub(crate) tier_since: Option<String>,
    /// The next tier above the earned one.
    pub(crate) next_tier: Option<String>,
    /// `points` or `spend`: what `qualifying_points` and `points_to_next_tier` count.
    pub(crate) qualifying_basis: String,
    /// Qualifying value counted in the current period.
    pub(crate) qualifying_points: i64,
    /// What is still missing for the next tier.
    pub(crate) points_to_next_tier: Option<i64>,
    /// RFC 3339 UTC: the end of the current qualification period.
    pub(crate) period_ends_at: String,
    /// A downgrade ahead unless the member requalifies.
    pub(crate) pending_downgrade: Option<PendingDowngradeResponse>,
    /// A manual override in force.
    pub(crate) tier_override: Option<TierUntilResponse>,
    /// An active paid membership.
    pub(crate) membership: Option<MembershipSummaryResponse>,
}

/// A downgrade ahead.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PendingDowngradeResponse {
    pub(crate) to_tier: String,
    /// RFC 3339 UTC: when the `tier.downgrade_notice` is (or was) written.
    pub(crate) notify_at: String,
    /// RFC 3339 UTC: when the downgrade takes effect.
    pub(crate) effective_at: String,
}

/// A tier held until an instant.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TierUntilResponse {
    pub(crate) tier: String,
    /// RFC 3339 UTC.
    pub(crate) ends_at: String,
}

/// An active paid membership.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MembershipSummaryResponse {
    pub(crate) tier: String,
    /// RFC 3339 UTC: the end of the paid term.
    pub(crate) ends_at: String,
    /// False once cancelled.
    pub(crate) renews: bool,
}

impl From<LoyaltySummary> for LoyaltyResponse {
    fn from(s: LoyaltySummary) -> Self {
        LoyaltyResponse {
            customer_id: s.customer_id,
            balance: s.balance,
            pending: s.pending,
            debt: s.debt,
            held: s.held,
            available: s.available,
            expiring_soon: s.expiring_soon,
            next_expiry_at: s.next_expiry_at.map(|t| t.to_string()),
            tier: s.tier,
            benefits: crate::tiers::BenefitsBody {
                earn_multiplier_bp: Some(s.tier_detail.benefits.earn_multiplier_bp),
                free_shipping_threshold_minor: s.tier_detail.benefits.free_shipping_threshold_minor,
                early_access: Some(s.tier_detail.benefits.early_access),
                birthday_gift_points: Some(s.tier_detail.benefits.birthday_gift_points),
            },
            earned_tier: s.tier_detail.earned_tier,
            tier_since: s.tier_detail.since.map(|t| t.to_string()),
            next_tier: s.next_tier,
            qualifying_basis: s.tier_detail.basis.to_owned(),
            qualifying_points: s.qualifying_points,
            points_to_next_tier: s.points_to_next_tier,
            period_ends_at: s.tier_detail.period_end.to_string(),
            pending_downgrade: s.tier_detail.pending_downgrade.map(|(to, notify, at)| {
                PendingDowngradeResponse {
                    to_tier: to,
                    notify_at: notify.to_string(),
                    effective_at: at.to_string(),
                }
            }),
            tier_override: s
                .tier_detail
                .override_until
                .map(|(tier, until)| TierUntilResponse {
                    tier,
                    ends_at: until.to_string(),
                }),
            membership: s.tier_detail.membership.map(|(tier, until, renews)| {
                MembershipSummaryResponse {
                    tier,
                    ends_at: until.to_string(),
                    renews,
                }
            }),
        }
    }
}

/// A lot that still holds points.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LotResponse {
    pub(crate) event_id: i64,
    pub(crate) seq: i64,
    /// `earn`, `bonus` (free points of an award), `correction` or `restore` (points given back by
    /// a cancelled redemption).
    pub(crate) kind: String,
    pub(crate) amount: i64,
    pub(crate) remaining: i64,
    /// `pending` or `active`.
    pub(crate) state: String,
    pub(crate) earned_at: String,
    pub(crate) pending_until: Option<String>,
    /// The last valid instant (23:59:59 programme-local time), RFC 3339 UTC.
    pub(crate) expires_at: Option<String>,
    /// Why the points were given, for lots no order earned: an award's rule and version
    /// (`sign_up v3`), a correction's reason.
    pub(crate) reason: Option<String>,
    /// For points an order earned: what each of its lines earned, and under which rule
    /// versions (a return reverses exactly that).
    pub(crate) lines: Vec<LotLineResponse>,
}

/// What one order line earned into a lot.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LotLineResponse {
    /// 0-based index of the line in the order.
    pub(crate) line: i64,
    pub(crate) quantity: i64,
    pub(crate) points: i64,
    /// Each rule that gave points: the base rule (1), the tier bonus (65535) or a promotion
    /// (ids from 100001), with the version in force at the purchase.
    pub(crate) rules: Vec<LotRuleResponse>,
}

/// A rule version that gave a lot's line points.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LotRuleResponse {
    pub(crate) rule_id: i64,
    pub(crate) version: i64,
}

impl From<LotDetail> for LotResponse {
    fn from(l: LotDetail) -> Self {
        LotResponse {
            event_id: l.event_id,
            seq: l.seq,
            kind: l.kind.as_str().to_owned(),
            amount: l.amount,
            remaining: l.remaining,
            state: l.state,
            earned_at: l.earned_at.to_string(),
            pending_until: l.pending_until.map(|t| t.to_string()),
            expires_at: l.expires_at.map(|t| t.to_string()),
            reason: l.reason,
            lines: l
                .lines
                .into_iter()
                .map(|line| LotLineResponse {
                    line: line.line,
                    quantity: line.quantity,
                    points: line.points,
                    rules: line
                        .rules
                        .into_iter()
                        .map(|(rule_id, version)| LotRuleResponse { rule_id, version })
                        .collect(),
                })
                .collect(),
        }
    }
}

/// The lots of a member's statement.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LotsResponse {
    pub(crate) lots: Vec<LotResponse>,
}

/// A customer named by the path is the resource: unknown answers 404.
fn not_found(e: ApiError) -> ApiError {
    match e.code {
        ErrorCode::UnknownCustomer => ApiError::new(ErrorCode::NotFound),
        _ => e,
    }
}

/// Reserves points for a redemption.
#[utoipa::path(post, path = "/api/v1/customers/{id}/points/holds", tag = "loyalty",
    params(("id" = i64, Path, description = "Patron's customer id")),
    request_body = HoldBody,
    responses(
        (status = 201, description = "The hold", body = HoldResponse),
        (status = 422, description = "invalid_field or insufficient_points", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn create_points_hold(
    State(state): State<ApiState>,
    Caller(who): Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<HoldBody>,
) -> Result<(StatusCode, Json<HoldResponse>), ApiError> {
    let app = state.app.clone();
    let hold = blocking(move || app.reserve_points(&who, id, body.points, body.ttl_seconds))
        .await
        .map_err(not_found)?;
    Ok((StatusCode::CREATED, Json(hold.into())))
}

/// Commits a hold: its points are spent.
#[utoipa::path(post, path = "/api/v1/customers/{id}/points/holds/{hold_id}/commit", tag = "loyalty",
    params(("id" = i64, Path, description = "Patron's customer id"),
           ("hold_id" = i64, Path, description = "The hold")),
    responses(
        (status = 200, description = "The committed hold", body = HoldResponse),
        (status = 409, description = "hold_expired or hold_not_active", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn create_points_hold_commit(
    State(state): State<ApiState>,
    Caller(who): Caller,
    ApiPath((id, hold_id)): ApiPath<(i64, i64)>,
) -> Result<Json<HoldResponse>, ApiError> {
    let app = state.app.clone();
    let hold = blocking(move || app.commit_hold(&who, id, hold_id))
        .await
        .map_err(not_found)?;
    Ok(Json(hold.into()))
}

/// Releases a hold: its points are available again.
#[utoipa::path(post, path = "/api/v1/customers/{id}/points/holds/{hold_id}/release", tag = "loyalty",
    params(("id" = i64, Path, description = "Patron's customer id"),
           ("hold_id" = i64, Path, description = "The hold")),
    responses(
        (status = 200, description = "The released hold", body = HoldResponse),
        (status = 409, description = "hold_expired or hold_not_active", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn create_points_hold_release(
    State(state): State<ApiState>,
    Caller(who): Caller,
    ApiPath((id, hold_id)): ApiPath<(i64, i64)>,
) -> Result<Json<HoldResponse>, ApiError> {
    let app = state.app.clone();
    let hold = blocking(move || app.release_hold(&who, id, hold_id))
        .await
        .map_err(not_found)?;
    Ok(Json(hold.into()))
}

/// The member's loyalty summary: balance, pending, expiring soon, tier and progress.
#[utoipa::path(get, path = "/api/v1/customers/{id}/loyalty", tag = "loyalty",
    params(("id" = i64, Path, description = "Patron's customer id")),
    responses((status = 200, description = "The summary", body = LoyaltyResponse)))]
pub(crate) async fn get_loyalty(
    State(state): State<ApiState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<LoyaltyResponse>, ApiError> {
    let app = state.app.clone();
    let summary = blocking(move || app.loyalty_summary(id)).await?;
    Ok(Json(summary.into()))
}

/// `PUT /customers/{id}/loyalty/tier`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TierOverrideBody {
    /// One of the programme's tier codes.
    pub(crate) tier: String,
    /// RFC 3339, in the future: the override's end; the tier then follows qualifying points.
    pub(crate) ends_at: String,
    pub(crate) reason: String,
}

/// Sets the member's tier by hand until an end date (the latest override wins; audited). The
/// override also sets the tier's earning multiplier.
#[utoipa::path(put, path = "/api/v1/customers/{id}/loyalty/tier", tag = "loyalty",
    params(("id" = i64, Path, description = "Patron's customer id")),
    request_body = TierOverrideBody,
    responses(
        (status = 200, description = "The summary with the override in force", body = LoyaltyResponse),
        (status = 404, description = "not_found", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid_field: unknown tier, end not in the future, no reason", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn replace_loyalty_tier(
    State(state): State<ApiState>,
    Caller(who): Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<TierOverrideBody>,
) -> Result<Json<LoyaltyResponse>, ApiError> {
    let ends_at = body.ends_at.parse::<jiff::Timestamp>().map_err(|_| {
        ApiError::from(app::AppError::from(domain::FieldError::new(
            "ends_at",
            "must be an RFC 3339 instant",
        )))
    })?;
    let app = state.app.clone();
    let summary = blocking(move || {
        app.set_tier_override(&who, id, &body.tier, ends_at, &body.reason)?;
        app.loyalty_summary(id)
    })
    .await?;
    Ok(Json(summary.into()))
}

/// The member's lots that still hold points, soonest expiry first (the statement's lot detail).
#[utoipa::path(get, path = "/api/v1/customers/{id}/loyalty/lots", tag = "loyalty",
    params(("id" = i64, Path, description = "Patron's customer id")),
    responses((status = 200, description = "The lots", body = LotsResponse)))]
pub(crate) async fn list_loyalty_lots(
    State(state): State<ApiState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<LotsResponse>, ApiError> {
    let app = state.app.clone();
    let lots = blocking(move || app.loyalty_lots(id)).await?;
    Ok(Json(LotsResponse {
        lots: lots.into_iter().map(Into::into).collect(),
    }))
}

/// `POST /loyalty/simulate`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SimulateBody {
    /// The member the order would be for (their tier is shown); anyone when absent.
    pub(crate) customer_id: Option<i64>,
    /// ISO 4217; the programme currency when absent. Another currency earns nothing.
    pub(crate) currency: Option<String>,
    /// RFC 3339; now when absent. Promotions are matched in programme-local time.
    pub(crate) placed_at: Option<String>,
    pub(crate) lines: Vec<crate::orders::LineBody>,
    /// A draft promotion set to simulate instead of the stored promotions (empty: none at
    /// all); the stored ones when absent. A draft naming a stored promotion's `id` counts that
    /// promotion's usage against its caps.
    pub(crate) promotions: Option<Vec<crate::promotions::PromotionBody>>,
}

/// A promotion's part of the simulated order.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SimulatedPromotionResponse {
    pub(crate) rule_id: i64,
    pub(crate) version: i64,
    /// Before the member cap and the budget.
    pub(crate) uncapped: i64,
    pub(crate) granted: i64,
    /// What the caps took off.
    pub(crate) capped: i64,
}

/// One rule's part of a line.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SimulatedComponentResponse {
    pub(crate) rule_id: i64,
    pub(crate) version: i64,
    /// `base`, `promotion` or `tier`.
    pub(crate) kind: String,
    /// Basis points: 10,000 is ×1.
    pub(crate) multiplier_bp: i64,
    pub(crate) points: i64,
}

/// What one line would earn.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SimulatedLineResponse {
    /// Index into the request's lines.
    pub(crate) line: i64,
    pub(crate) sku: String,
    pub(crate) points: i64,
    pub(crate) components: Vec<SimulatedComponentResponse>,
    /// RFC 3339 UTC: the end of the return window, when the points would start pending.
    pub(crate) pending_until: Option<String>,
    /// RFC 3339 UTC: the last valid instant of the points.
    pub(crate) expires_at: Option<String>,
}

/// What the order would earn; nothing was written.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SimulationResponse {
    /// 0 when no programme is stored (the configured base rule applies).
    pub(crate) programme_version: i64,
    pub(crate) points: i64,
    pub(crate) lines: Vec<SimulatedLineResponse>,
    pub(crate) below_minimum_spend: bool,
    /// The member's tier, when `customer_id` was given.
    pub(crate) tier: Option<String>,
    /// Each promotion that applied.
    pub(crate) promotions: Vec<SimulatedPromotionResponse>,
}

impl From<Simulation> for SimulationResponse {
    fn from(s: Simulation) -> Self {
        SimulationResponse {
            programme_version: s.programme_version,
            points: s.points,
            lines: s
                .lines
                .into_iter()
                .map(|l| SimulatedLineResponse {
                    line: l.line,
                    sku: l.sku,
                    points: l.points,
                    components: l
                        .components
                        .into_iter()
                        .map(|c| SimulatedComponentResponse {
                            rule_id: c.rule_id,
                            version: c.version,
                            kind: c.kind.to_owned(),
                            multiplier_bp: c.multiplier_bp,
                            points: c.points,
                        })
                        .collect(),
                    pending_until: l.pending_until.map(|t| t.to_string()),
                    expires_at: l.expires_at.map(|t| t.to_string()),
                })
                .collect(),
            below_minimum_spend: s.below_minimum_spend,
            tier: s.tier,
            promotions: s
                .promotions
                .into_iter()
                .map(|p| SimulatedPromotionResponse {
                    rule_id: p.rule_id,
                    version: p.version,
                    uncapped: p.uncapped,
                    granted: p.granted,
                    capped: p.capped,
                })
                .collect(),
        }
    }
}

/// What an order would earn under the rules in force, line by line; writes nothing.
#[utoipa::path(post, path = "/api/v1/loyalty/simulate", tag = "loyalty",
    request_body = SimulateBody,
    responses(
        (status = 200, description = "The earn breakdown", body = SimulationResponse),
        (status = 422, description = "invalid_field, unknown_customer or overlapping_promotions (in the draft)", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn create_loyalty_simulation(
    State(state): State<ApiState>,
    ApiJson(body): ApiJson<SimulateBody>,
) -> Result<Json<SimulationResponse>, ApiError> {
    let placed_at = body
        .placed_at
        .map(|s| {
            s.parse::<jiff::Timestamp>().map_err(|_| {
                ApiError::from(app::AppError::from(domain::FieldError::new(
                    "placed_at",
                    "must be an RFC 3339 instant",
                )))
            })
        })
        .transpose()?;
    let lines: Vec<LineInput> = body
        .lines
        .into_iter()
        .map(|l| LineInput {
            sku: l.sku,
            category: l.category,
            quantity: l.quantity,
            unit_price_minor: l.unit_price_minor,
        })
        .collect();
    let draft: Option<Vec<app::promotions::PromotionInput>> = body
        .promotions
        .map(|d| d.into_iter().map(Into::into).collect());
    let app = state.app.clone();
    let sim = blocking(move || {
        app.simulate_earn(
            body.customer_id,
            body.currency.as_deref(),
            &lines,
            placed_at,
            draft.as_deref(),
        )
    })
    .await?;
    Ok(Json(sim.into()))
}

/// The loyalty programme's settings (`PUT` takes every field; a new version is stored).
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProgrammeBody {
    /// IANA time zone in which expiry, promotions and periods are evaluated (`Asia/Taipei`).
    pub(crate) time_zone: String,
    /// ISO 4217; must be the configured `loyalty.currency`.
    pub(crate) currency: String,
    /// What one point is worth when redeemed, in minor units (100: 1 point = NT$1).
    pub(crate) point_value_minor: i64,
    /// The return window: days purchase points stay pending (0 to 90).
    pub(crate) pending_days: i64,
    /// `never`, `days:<n>`, `end_of_month:activation|following`, `end_of_year:activation|following`
    /// or `inactivity:<n>`. A `paid` wallet must be `never`.
    pub(crate) expiry: String,
    /// Points of a cancelled redemption whose lot expired meanwhile: `forfeit` or
    /// `reinstate:<days>` (a fresh lot valid through the local day that many days later).
    pub(crate) expired_restore: String,
    /// Days before the last valid day a `points.expiring` reminder is written (0 to 365; 0: none).
    pub(crate) reminder_days: i64,
    /// `free` (reward points) or `paid` (stored value: may not expire).
    pub(crate) wallet_kind: String,
    /// What a return after the points were spent leaves: `debt` (the default: the balance
    /// stays ≥ 0, the uncovered points are owed and settled from the next points that become
    /// active) or `negative_balance` (the balance goes below zero by them).
    #[serde(default = "default_shortfall")]
    pub(crate) shortfall: String,
}

fn default_shortfall() -> String {
    app::loyalty::SHORTFALL_DEBT.to_owned()
}

/// A stored programme version.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProgrammeResponse {
    pub(crate) version: i64,
    #[serde(flatten)]
    pub(crate) settings: ProgrammeBody,
    /// The tier group as stored (JSON; `GET /api/v1/loyalty/tiers` shows it field by field).
    /// Versions stored before tier groups were editable hold `code:threshold[:multiplier_bp],…`.
    pub(crate) tiers: String,
    pub(crate) created_at: String,
}

impl From<ProgrammeView> for ProgrammeResponse {
    fn from(p: ProgrammeView) -> Self {
        let s = p.settings;
        ProgrammeResponse {
            version: p.version,
            settings: ProgrammeBody {
                time_zone: s.time_zone,
                currency: s.currency,
                point_value_minor: s.point_value_minor,
                pending_days: s.pending_days,
                expiry: s.expiry,
                expired_restore: s.expired_restore,
                reminder_days: s.reminder_days,
                wallet_kind: s.wallet_kind,
                shortfall: s.shortfall,
            },
            tiers: p.tiers,
            created_at: p.created_at.to_string(),
        }
    }
}

/// The programme in force.
#[utoipa::path(get, path = "/api/v1/loyalty/programme", tag = "loyalty",
    responses((status = 200, description = "The programme (version 0: none stored, the config's rule applies)", body = ProgrammeResponse)))]
pub(crate) async fn get_loyalty_programme(
    State(state): State<ApiState>,
) -> Result<Json<ProgrammeResponse>, ApiError> {
    let app = state.app.clone();
    let p = blocking(move || app.programme()).await?;
    Ok(Json(p.into()))
}

/// Stores new programme settings as a new version; earlier versions are kept.
#[utoipa::path(put, path = "/api/v1/loyalty/programme", tag = "loyalty",
    request_body = ProgrammeBody,
    responses(
        (status = 200, description = "The new version", body = ProgrammeResponse),
        (status = 422, description = "invalid_field (including an expiry on a paid wallet)", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn replace_loyalty_programme(
    State(state): State<ApiState>,
    Caller(who): Caller,
    ApiJson(body): ApiJson<ProgrammeBody>,
) -> Result<Json<ProgrammeResponse>, ApiError> {
    let settings = ProgrammeSettings {
        time_zone: body.time_zone,
        currency: body.currency,
        point_value_minor: body.point_value_minor,
        pending_days: body.pending_days,
        expiry: body.expiry,
        expired_restore: body.expired_restore,
        reminder_days: body.reminder_days,
        wallet_kind: body.wallet_kind,
        shortfall: body.shortfall,
    };
    let app = state.app.clone();
    let p = blocking(move || app.update_programme(&who, &settings)).await?;
    Ok(Json(p.into()))
}

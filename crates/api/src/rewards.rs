//! The rewards surface: the catalogue (create, list, read), voucher code pools (import or
//! generate), redeeming a reward for a customer, and cancelling a committed redemption.

use crate::ApiState;
use crate::error::{ApiError, ErrorCode, Problem};
use crate::extract::{ApiJson, ApiPath, Caller, blocking};
use app::rewards::{CancellationView, RewardRedemptionView, RewardView, VouchersAdded};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use domain::FieldError;
use domain::loyalty::rewards::RewardSpec;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /rewards`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RewardBody {
    /// 1 to 200 characters.
    pub(crate) name: String,
    /// Points a redemption costs, 1 to 100,000,000.
    pub(crate) points_price: i64,
    /// Units available in total; absent means unlimited.
    pub(crate) stock: Option<i64>,
    /// Live redemptions one member may hold; absent means no limit.
    pub(crate) per_member_limit: Option<i64>,
    /// RFC 3339: first instant the reward is offered.
    pub(crate) valid_from: Option<String>,
    /// RFC 3339: last instant the reward is offered (inclusive).
    pub(crate) valid_until: Option<String>,
    /// Each redemption issues one code of the reward's voucher pool.
    #[serde(default)]
    pub(crate) issues_voucher: bool,
}

/// A catalogue entry.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RewardResponse {
    pub(crate) id: i64,
    pub(crate) name: String,
    pub(crate) points_price: i64,
    pub(crate) stock: Option<i64>,
    /// Live (not cancelled) redemptions.
    pub(crate) redeemed: i64,
    pub(crate) per_member_limit: Option<i64>,
    pub(crate) valid_from: Option<String>,
    pub(crate) valid_until: Option<String>,
    pub(crate) issues_voucher: bool,
    /// Voucher codes left in the pool.
    pub(crate) codes_available: i64,
}

impl From<RewardView> for RewardResponse {
    fn from(r: RewardView) -> Self {
        RewardResponse {
            id: r.id,
            name: r.name,
            points_price: r.points_price,
            stock: r.stock,
            redeemed: r.redeemed,
            per_member_limit: r.per_member_limit,
            valid_from: r.valid_from.map(|t| t.to_string()),
            valid_until: r.valid_until.map(|t| t.to_string()),
            issues_voucher: r.issues_voucher,
            codes_available: r.codes_available,
        }
    }
}

/// The catalogue.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RewardsResponse {
    pub(crate) rewards: Vec<RewardResponse>,
}

/// `POST /rewards/{id}/vouchers`: exactly one of `codes` or `generate`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct VouchersBody {
    /// Codes to import (1 to 10,000; letters, digits and '-'; case-insensitive, unique).
    pub(crate) codes: Option<Vec<String>>,
    /// How many codes to generate (1 to 10,000), 80 random bits each.
    pub(crate) generate: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct VouchersResponse {
    pub(crate) reward_id: i64,
    pub(crate) added: i64,
    /// The generated codes; empty for an import.
    pub(crate) generated: Vec<String>,
    pub(crate) codes_available: i64,
}

impl From<VouchersAdded> for VouchersResponse {
    fn from(v: VouchersAdded) -> Self {
        VouchersResponse {
            reward_id: v.reward_id,
            added: v.added,
            generated: v.generated,
            codes_available: v.codes_available,
        }
    }
}

/// A redemption of a reward.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RewardRedemptionResponse {
    pub(crate) reward_id: i64,
    pub(crate) customer_id: i64,
    pub(crate) hold_id: i64,
    /// The redemption's id: cancel it by this.
    pub(crate) redemption_id: i64,
    pub(crate) points: i64,
    /// The voucher code issued, for a reward with a pool.
    pub(crate) voucher_code: Option<String>,
    pub(crate) state: String,
}

impl From<RewardRedemptionView> for RewardRedemptionResponse {
    fn from(r: RewardRedemptionView) -> Self {
        RewardRedemptionResponse {
            reward_id: r.reward_id,
            customer_id: r.customer_id,
            hold_id: r.hold_id,
            redemption_id: r.redemption_id,
            points: r.points,
            voucher_code: r.voucher_code,
            state: r.state,
        }
    }
}

/// What a cancellation gave back.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CancellationResponse {
    pub(crate) redemption_id: i64,
    pub(crate) customer_id: i64,
    pub(crate) cancellation_id: i64,
    /// Points back with their lots' original expiry.
    pub(crate) restored: i64,
    /// Points of lots that expired meanwhile, back with a fresh expiry (`reinstate` policy).
    pub(crate) reinstated: i64,
    /// Points of lots that expired meanwhile and stay expired (`forfeit` policy).
    pub(crate) forfeited: i64,
    /// The voucher code voided with the redemption.
    pub(crate) voided_code: Option<String>,
}

impl From<CancellationView> for CancellationResponse {
    fn from(c: CancellationView) -> Self {
        CancellationResponse {
            redemption_id: c.redemption_id,
            customer_id: c.customer_id,
            cancellation_id: c.cancellation_id,
            restored: c.restored,
            reinstated: c.reinstated,
            forfeited: c.forfeited,
            voided_code: c.voided_code,
        }
    }
}

fn instant(field: &str, s: Option<String>) -> Result<Option<Timestamp>, ApiError> {
    s.map(|s| {
        s.parse::<Timestamp>().map_err(|_| {
            ApiError::from(app::AppError::from(FieldError::new(
                field,
                "must be an RFC 3339 instant",
            )))
        })
    })
    .transpose()
}

/// Adds a reward to the catalogue.
#[utoipa::path(post, path = "/api/v1/rewards", tag = "loyalty",
    request_body = RewardBody,
    responses(
        (status = 201, description = "The reward", body = RewardResponse),
        (status = 422, description = "invalid_field", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn create_reward(
    State(state): State<ApiState>,
    Caller(who): Caller,
    ApiJson(body): ApiJson<RewardBody>,
) -> Result<(StatusCode, Json<RewardResponse>), ApiError> {
    let spec = RewardSpec {
        name: body.name,
        points_price: body.points_price,
        stock: body.stock,
        per_member_limit: body.per_member_limit,
        valid_from: instant("valid_from", body.valid_from)?,
        valid_until: instant("valid_until", body.valid_until)?,
        issues_voucher: body.issues_voucher,
    };
    let app = state.app.clone();
    let reward = blocking(move || app.create_reward(&who, spec)).await?;
    Ok((StatusCode::CREATED, Json(reward.into())))
}

/// The rewards catalogue.
#[utoipa::path(get, path = "/api/v1/rewards", tag = "loyalty",
    responses((status = 200, description = "The catalogue", body = RewardsResponse)))]
pub(crate) async fn list_rewards(
    State(state): State<ApiState>,
) -> Result<Json<RewardsResponse>, ApiError> {
    let app = state.app.clone();
    let rewards = blocking(move || app.rewards()).await?;
    Ok(Json(RewardsResponse {
        rewards: rewards.into_iter().map(Into::into).collect(),
    }))
}

/// One reward.
#[utoipa::path(get, path = "/api/v1/rewards/{id}", tag = "loyalty",
    params(("id" = i64, Path, description = "The reward")),
    responses((status = 200, description = "The reward", body = RewardResponse)))]
pub(crate) async fn get_reward(
    State(state): State<ApiState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<RewardResponse>, ApiError> {
    let app = state.app.clone();
    let reward = blocking(move || app.reward(id)).await?;
    Ok(Json(reward.into()))
}

/// Imports or generates voucher codes into a reward's pool.
#[utoipa::path(post, path = "/api/v1/rewards/{id}/vouchers", tag = "loyalty",
    params(("id" = i64, Path, description = "The reward")),
    request_body = VouchersBody,
    responses(
        (status = 201, description = "What was added", body = VouchersResponse),
        (status = 409, description = "voucher_code_taken (a code already in a pool; nothing was added)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid_field (a bad code, or one repeated in the request)", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn create_reward_vouchers(
    State(state): State<ApiState>,
    Caller(who): Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<VouchersBody>,
) -> Result<(StatusCode, Json<VouchersResponse>), ApiError> {
    let app = state.app.clone();
    let added = match (body.codes, body.generate) {
        (Some(codes), None) => blocking(move || app.import_voucher_codes(&who, id, &codes)).await?,
        (None, Some(n)) => blocking(move || app.generate_voucher_codes(&who, id, n)).await?,
        _ => {
            return Err(ApiError::from(app::AppError::from(FieldError::new(
                "codes",
                "give exactly one of codes or generate",
            ))));
        }
    };
    Ok((StatusCode::CREATED, Json(added.into())))
}

/// A customer named by the path is the resource: unknown answers 404.
fn not_found(e: ApiError) -> ApiError {
    match e.code {
        ErrorCode::UnknownCustomer => ApiError::new(ErrorCode::NotFound),
        _ => e,
    }
}

/// Redeems a reward for a customer: stock, member limit and points are checked and taken in
/// one transaction (hold → commit), and a voucher code is issued when the reward has a pool.
#[utoipa::path(post, path = "/api/v1/customers/{id}/rewards/{reward_id}/redemptions", tag = "loyalty",
    params(("id" = i64, Path, description = "Patron's customer id"),
           ("reward_id" = i64, Path, description = "The reward")),
    responses(
        (status = 201, description = "The redemption", body = RewardRedemptionResponse),
        (status = 409, description = "reward_unavailable, reward_limit_reached, out_of_stock or vouchers_exhausted", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "insufficient_points", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn create_reward_redemption(
    State(state): State<ApiState>,
    Caller(who): Caller,
    ApiPath((id, reward_id)): ApiPath<(i64, i64)>,
) -> Result<(StatusCode, Json<RewardRedemptionResponse>), ApiError> {
    let app = state.app.clone();
    let r = blocking(move || app.redeem_reward(&who, id, reward_id))
        .await
        .map_err(not_found)?;
    Ok((StatusCode::CREATED, Json(r.into())))
}

/// Cancels a committed redemption: its points come back to their lots' original expiry
/// (lots expired meanwhile follow the programme's `expired_restore` policy), a reward's stock
/// is given back and its voucher code voided. Cancelling again answers the first cancellation.
#[utoipa::path(post, path = "/api/v1/customers/{id}/points/redemptions/{redemption_id}/cancel", tag = "loyalty",
    params(("id" = i64, Path, description = "Patron's customer id"),
           ("redemption_id" = i64, Path, description = "The redemption (a committed hold's redemption_id)")),
    responses(
        (status = 200, description = "What was given back", body = CancellationResponse),
        (status = 404, description = "not_found: no such redemption of this customer", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn create_redemption_cancellation(
    State(state): State<ApiState>,
    Caller(who): Caller,
    ApiPath((id, redemption_id)): ApiPath<(i64, i64)>,
) -> Result<Json<CancellationResponse>, ApiError> {
    let app = state.app.clone();
    let c = blocking(move || app.cancel_redemption(&who, id, redemption_id))
        .await
        .map_err(not_found)?;
    Ok(Json(c.into()))
}

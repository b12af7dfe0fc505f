//! The one error envelope: RFC 9457 problem details (`application/problem+json`) with a
//! stable snake_case `code`. [`ErrorCode`] is the one table of codes, statuses and titles;
//! [`ApiError::from`] maps every [`AppError`] onto it. 5xx bodies are opaque and their cause
//! is logged once, here.

use app::AppError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// Every code the API answers with. Clients match on the code, never on the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorCode {
    InvalidField,
    UnknownCustomer,
    UnknownOrder,
    NotFound,
    IdentityConflict,
    ConflictingDuplicate,
    CustomerConflict,
    RefundExceedsOrder,
    InsufficientPoints,
    HoldExpired,
    HoldNotActive,
    RewardUnavailable,
    RewardLimitReached,
    OutOfStock,
    VouchersExhausted,
    OverlappingPromotions,
    PromotionEnded,
    SelfReferral,
    VoucherCodeTaken,
    TicketClosed,
    InvalidStatusChange,
    MergeIntoItself,
    MergeAcrossCustomers,
    TicketMerged,
    MessageNotInTicket,
    AgentNotInTeam,
    TicketNotSolved,
    SurveyAnswered,
    SurveyExpired,
    RatingOutOfRange,
    IdempotencyKeyReused,
    IdempotencyKeyInFlight,
    InvalidIdempotencyKey,
    Unauthenticated,
    InvalidSignature,
    Forbidden,
    MalformedJson,
    UnsupportedMediaType,
    PayloadTooLarge,
    InvalidQuery,
    InvalidPath,
    MethodNotAllowed,
    RouteNotFound,
    Unavailable,
    Internal,
}

impl ErrorCode {
    #[cfg(test)]
    pub(crate) const ALL: [ErrorCode; 45] = [
        ErrorCode::InvalidField,
        ErrorCode::UnknownCustomer,
        ErrorCode::UnknownOrder,
        ErrorCode::NotFound,
        ErrorCode::IdentityConflict,
        ErrorCode::ConflictingDuplicate,
        ErrorCode::CustomerConflict,
        ErrorCode::RefundExceedsOrder,
        ErrorCode::InsufficientPoints,
        ErrorCode::HoldExpired,
        ErrorCode::HoldNotActive,
        ErrorCode::RewardUnavailable,
        ErrorCode::RewardLimitReached,
        ErrorCode::OutOfStock,
        ErrorCode::VouchersExhausted,
        ErrorCode::OverlappingPromotions,
        ErrorCode::PromotionEnded,
        ErrorCode::SelfReferral,
        ErrorCode::VoucherCodeTaken,
        ErrorCode::TicketClosed,
        ErrorCode::InvalidStatusChange,
        ErrorCode::MergeIntoItself,
        ErrorCode::MergeAcrossCustomers,
        ErrorCode::TicketMerged,
        ErrorCode::MessageNotInTicket,
        ErrorCode::AgentNotInTeam,
        ErrorCode::TicketNotSolved,
        ErrorCode::SurveyAnswered,
        ErrorCode::SurveyExpired,
        ErrorCode::RatingOutOfRange,
        ErrorCode::IdempotencyKeyReused,
        ErrorCode::IdempotencyKeyInFlight,
        ErrorCode::InvalidIdempotencyKey,
        ErrorCode::Unauthenticated,
        ErrorCode::InvalidSignature,
        ErrorCode::Forbidden,
        ErrorCode::MalformedJson,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::PayloadTooLarge,
        ErrorCode::InvalidQuery,
        ErrorCode::InvalidPath,
        ErrorCode::MethodNotAllowed,
        ErrorCode::RouteNotFound,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
    ];

    /// The table: code → (HTTP status, stable code, title).
    pub(crate) fn describe(self) -> (StatusCode, &'static str, &'static str) {
        use ErrorCode::*;
        match self {
            InvalidField => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
                "A field is invalid",
            ),
            UnknownCustomer => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_customer",
                "Unknown customer",
            ),
            UnknownOrder => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_order",
                "Unknown order",
            ),
            NotFound => (StatusCode::NOT_FOUND, "not_found", "Not found"),
            IdentityConflict => (
                StatusCode::CONFLICT,
                "identity_conflict",
                "The identities belong to another customer",
            ),
            ConflictingDuplicate => (
                StatusCode::CONFLICT,
                "conflicting_duplicate",
                "This source and external id were sent before with other content",
            ),
            CustomerConflict => (
                StatusCode::CONFLICT,
                "customer_conflict",
                "The customer exists with another profile",
            ),
            RefundExceedsOrder => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "refund_exceeds_order",
                "The refund exceeds what remains of the order",
            ),
            InsufficientPoints => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "insufficient_points",
                "Not enough points",
            ),
            HoldExpired => (
                StatusCode::CONFLICT,
                "hold_expired",
                "The hold expired: its points are available again",
            ),
            HoldNotActive => (
                StatusCode::CONFLICT,
                "hold_not_active",
                "The hold was already committed or released",
            ),
            RewardUnavailable => (
                StatusCode::CONFLICT,
                "reward_unavailable",
                "The reward is not offered at this time",
            ),
            RewardLimitReached => (
                StatusCode::CONFLICT,
                "reward_limit_reached",
                "The member already redeemed this reward as often as allowed",
            ),
            OutOfStock => (
                StatusCode::CONFLICT,
                "out_of_stock",
                "The reward is out of stock",
            ),
            VouchersExhausted => (
                StatusCode::CONFLICT,
                "vouchers_exhausted",
                "The reward's voucher code pool is empty",
            ),
            OverlappingPromotions => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "overlapping_promotions",
                "Two promotions of the same priority could apply to the same line",
            ),
            PromotionEnded => (
                StatusCode::CONFLICT,
                "promotion_ended",
                "The promotion has ended: it cannot change",
            ),
            SelfReferral => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "self_referral",
                "The referee is the referrer, or shares one of their identities",
            ),
            VoucherCodeTaken => (
                StatusCode::CONFLICT,
                "voucher_code_taken",
                "A voucher code is already in a pool",
            ),
            TicketClosed => (
                StatusCode::CONFLICT,
                "ticket_closed",
                "The ticket is closed: reopen it before writing to it",
            ),
            InvalidStatusChange => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_status_change",
                "The ticket cannot change to this status",
            ),
            MergeIntoItself => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "merge_into_itself",
                "A ticket cannot be merged into itself",
            ),
            MergeAcrossCustomers => (
                StatusCode::CONFLICT,
                "merge_across_customers",
                "The tickets belong to different customers",
            ),
            TicketMerged => (
                StatusCode::CONFLICT,
                "ticket_merged",
                "The ticket was merged into another: use that one",
            ),
            MessageNotInTicket => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "message_not_in_ticket",
                "A listed entry is not a message of this ticket",
            ),
            AgentNotInTeam => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "agent_not_in_team",
                "The agent is not a member of the ticket's team",
            ),
            TicketNotSolved => (
                StatusCode::CONFLICT,
                "ticket_not_solved",
                "The ticket is not solved: it can be rated once solved or closed",
            ),
            SurveyAnswered => (
                StatusCode::CONFLICT,
                "survey_answered",
                "This survey was answered already",
            ),
            SurveyExpired => (
                StatusCode::GONE,
                "survey_expired",
                "This survey link has expired",
            ),
            RatingOutOfRange => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "rating_out_of_range",
                "The rating is outside the scale",
            ),
            IdempotencyKeyReused => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "Idempotency-Key reused with another request",
            ),
            IdempotencyKeyInFlight => (
                StatusCode::CONFLICT,
                "idempotency_key_in_flight",
                "A request with this Idempotency-Key is still running",
            ),
            InvalidIdempotencyKey => (
                StatusCode::BAD_REQUEST,
                "invalid_idempotency_key",
                "Invalid Idempotency-Key header",
            ),
            Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "Missing or invalid API key",
            ),
            InvalidSignature => (
                StatusCode::UNAUTHORIZED,
                "invalid_signature",
                "Missing or invalid webhook signature",
            ),
            Forbidden => (
                StatusCode::FORBIDDEN,
                "forbidden",
                "This key's role may not do that",
            ),
            MalformedJson => (
                StatusCode::BAD_REQUEST,
                "malformed_json",
                "The body is not valid JSON",
            ),
            UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "The body must be application/json",
            ),
            PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "The body is too large",
            ),
            InvalidQuery => (
                StatusCode::BAD_REQUEST,
                "invalid_query",
                "Invalid query string",
            ),
            InvalidPath => (
                StatusCode::BAD_REQUEST,
                "invalid_path",
                "Invalid path parameter",
            ),
            MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "Method not allowed on this route",
            ),
            RouteNotFound => (StatusCode::NOT_FOUND, "route_not_found", "No such route"),
            Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "The service is unavailable",
            ),
            Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
            ),
        }
    }
}

/// One invalid field: its JSON path and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub(crate) struct FieldProblem {
    pub(crate) field: String,
    pub(crate) reason: String,
}

/// An RFC 9457 problem details body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub(crate) struct Problem {
    /// `urn:patron:problem:<code>`.
    #[serde(rename = "type")]
    pub(crate) type_uri: String,
    pub(crate) title: String,
    pub(crate) status: u16,
    /// Stable snake_case code to match on.
    pub(crate) code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) detail: Option<String>,
    /// The invalid fields, for `invalid_field` and the like.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) errors: Vec<FieldProblem>,
    /// The fields that differ from what was stored, for the conflict codes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) differences: Vec<String>,
}

/// An error on its way to becoming a problem response.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) code: ErrorCode,
    pub(crate) detail: Option<String>,
    pub(crate) errors: Vec<FieldProblem>,
    pub(crate) differences: Vec<String>,
}

impl ApiError {
    pub(crate) fn new(code: ErrorCode) -> ApiError {
        ApiError {
            code,
            detail: None,
            errors: Vec::new(),
            differences: Vec::new(),
        }
    }

    pub(crate) fn with_detail(code: ErrorCode, detail: impl Into<String>) -> ApiError {
        ApiError {
            detail: Some(detail.into()),
            ..ApiError::new(code)
        }
    }

    /// `invalid_field` naming one field.
    pub(crate) fn field(field: impl Into<String>, reason: impl Into<String>) -> ApiError {
        let (field, reason) = (field.into(), reason.into());
        ApiError {
            detail: Some(format!("{field}: {reason}")),
            errors: vec![FieldProblem { field, reason }],
            ..ApiError::new(ErrorCode::InvalidField)
        }
    }

    /// An unexpected failure: logged here, once, and answered with an opaque 500.
    pub(crate) fn internal(cause: anyhow::Error) -> ApiError {
        tracing::error!(error = format!("{cause:#}"), "internal error");
        ApiError::new(ErrorCode::Internal)
    }

    pub(crate) fn status(&self) -> StatusCode {
        self.code.describe().0
    }

    pub(crate) fn problem(&self) -> Problem {
        let (status, code, title) = self.code.describe();
        Problem {
            type_uri: format!("urn:patron:problem:{code}"),
            title: title.to_owned(),
            status: status.as_u16(),
            code: code.to_owned(),
            detail: self.detail.clone(),
            errors: self.errors.clone(),
            differences: self.differences.clone(),
        }
    }
}

impl From<AppError> for ApiError {
    /// The table from use-case outcomes to codes; exhaustive, so a new variant needs a row.
    fn from(e: AppError) -> ApiError {
        match e {
            AppError::Invalid(f) => ApiError::field(f.field, f.reason),
            AppError::UnknownCustomer => ApiError::new(ErrorCode::UnknownCustomer),
            AppError::UnknownOrder => ApiError::new(ErrorCode::UnknownOrder),
            AppError::NotFound => ApiError::new(ErrorCode::NotFound),
            AppError::IdentityConflict { .. } => ApiError::new(ErrorCode::IdentityConflict),
            AppError::ConflictingDuplicate { differences } => ApiError {
                differences,
                ..ApiError::new(ErrorCode::ConflictingDuplicate)
            },
            AppError::CustomerConflict {
                customer_id,
                differences,
            } => ApiError {
                differences,
                ..ApiError::with_detail(
                    ErrorCode::CustomerConflict,
                    format!("customer {customer_id} exists with another profile"),
                )
            },
            AppError::RefundExceedsOrder(r) => {
                ApiError::with_detail(ErrorCode::RefundExceedsOrder, r.to_string())
            }
            AppError::InsufficientPoints(p) => {
                ApiError::with_detail(ErrorCode::InsufficientPoints, p.to_string())
            }
            AppError::HoldRefused(r) => {
                let code = match r {
                    domain::loyalty::holds::HoldError::HoldExpired { .. } => ErrorCode::HoldExpired,
                    _ => ErrorCode::HoldNotActive,
                };
                ApiError::with_detail(code, r.to_string())
            }
            AppError::RewardRefused(r) => {
                use domain::loyalty::rewards::RewardRefusal;
                let code = match r {
                    RewardRefusal::OutsideValidity => ErrorCode::RewardUnavailable,
                    RewardRefusal::MemberLimitReached { .. } => ErrorCode::RewardLimitReached,
                    RewardRefusal::OutOfStock => ErrorCode::OutOfStock,
                    RewardRefusal::NoVoucherCodes => ErrorCode::VouchersExhausted,
                };
                ApiError::with_detail(code, r.to_string())
            }
            AppError::VoucherCodeTaken { code } => ApiError::with_detail(
                ErrorCode::VoucherCodeTaken,
                format!("{code} is already in a pool"),
            ),
            AppError::TicketRefused(r) => {
                use domain::desk::TicketRefusal;
                let code = match r {
                    TicketRefusal::Closed => ErrorCode::TicketClosed,
                    TicketRefusal::BackToNew => ErrorCode::InvalidStatusChange,
                    TicketRefusal::MergeIntoItself => ErrorCode::MergeIntoItself,
                    TicketRefusal::MergeAcrossCustomers => ErrorCode::MergeAcrossCustomers,
                    TicketRefusal::AlreadyMerged { .. } => ErrorCode::TicketMerged,
                    TicketRefusal::MessageNotInTicket { .. } => ErrorCode::MessageNotInTicket,
                    TicketRefusal::AgentNotInTeam => ErrorCode::AgentNotInTeam,
                };
                ApiError::with_detail(code, r.to_string())
            }
            AppError::CsatRefused(r) => {
                use domain::desk::CsatRefusal;
                let code = match r {
                    CsatRefusal::NotSolved => ErrorCode::TicketNotSolved,
                    CsatRefusal::AlreadyAnswered => ErrorCode::SurveyAnswered,
                    CsatRefusal::LinkExpired { .. } => ErrorCode::SurveyExpired,
                    CsatRefusal::RatingOutOfRange { .. } => ErrorCode::RatingOutOfRange,
                };
                ApiError::with_detail(code, r.to_string())
            }
            AppError::PromotionRefused(r) => {
                use app::promotions::PromotionRefusal;
                let code = match r {
                    PromotionRefusal::Overlapping { .. } => ErrorCode::OverlappingPromotions,
                    PromotionRefusal::Ended { .. } => ErrorCode::PromotionEnded,
                };
                ApiError::with_detail(code, r.to_string())
            }
            AppError::SelfReferral => ApiError::new(ErrorCode::SelfReferral),
            AppError::IdempotencyKeyReused => ApiError::new(ErrorCode::IdempotencyKeyReused),
            AppError::Unauthenticated => ApiError::new(ErrorCode::Unauthenticated),
            AppError::InvalidSignature => ApiError::new(ErrorCode::InvalidSignature),
            AppError::Forbidden => ApiError::new(ErrorCode::Forbidden),
            AppError::Internal(cause) => ApiError::internal(cause),
        }
    }
}

/// Content type of every error body.
pub(crate) const PROBLEM_JSON: &str = "application/problem+json";

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = serde_json::to_vec(&self.problem()).expect("a problem serializes");
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if status == StatusCode::UNAUTHORIZED && self.code != ErrorCode::InvalidSignature {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

#[cfg(test)]
mod tests;

//! What a use case can answer besides success. Expected outcomes are variants the caller
//! matches on; anything unexpected is `Internal` and its cause is logged once by the surface.

use domain::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Malformed or out-of-range input.
    #[error("invalid input: {0}")]
    Invalid(FieldError),
    #[error("unknown customer")]
    UnknownCustomer,
    #[error("unknown order")]
    UnknownOrder,
    #[error("not found")]
    NotFound,
    /// The identities given belong to different customers, or to another customer.
    #[error("identities belong to another customer")]
    IdentityConflict { customer_ids: Vec<i64> },
    /// The same (source, external_id) was stored before with other content.
    #[error("an event with this source and external id exists with other content")]
    ConflictingDuplicate { differences: Vec<String> },
    /// The same customer exists with another profile.
    #[error("the customer exists with another profile")]
    CustomerConflict {
        customer_id: i64,
        differences: Vec<String>,
    },
    #[error("refund exceeds what remains of the order: {0}")]
    RefundExceedsOrder(domain::order::RefundError),
    #[error("{0}")]
    InsufficientPoints(domain::ledger::InsufficientPoints),
    /// A hold that expired, was released or was committed cannot change.
    #[error("{0}")]
    HoldRefused(domain::loyalty::holds::HoldError),
    /// The reward is not offered now, the member reached its limit, or stock or codes ran out.
    #[error("{0}")]
    RewardRefused(domain::loyalty::rewards::RewardRefusal),
    /// An imported voucher code is already in a pool (this reward's or another's), perhaps
    /// added by a concurrent request a moment ago.
    #[error("voucher code {code} is already in a pool")]
    VoucherCodeTaken { code: String },
    /// The ticket does not take this change (closed, or a status it cannot go back to).
    #[error("{0}")]
    TicketRefused(domain::desk::TicketRefusal),
    /// A promotion change that overlaps another of the same priority, or touches an ended one.
    #[error("{0}")]
    PromotionRefused(crate::promotions::PromotionRefusal),
    /// A satisfaction rating refused: not solved, answered, expired, out of range.
    #[error("{0}")]
    CsatRefused(domain::desk::CsatRefusal),
    /// A referral whose referee is the referrer: the same member, or a customer sharing one of
    /// the referrer's identities (email, phone, LINE user id, shop id — compared normalised:
    /// lower-case email, E.164 phone). Nothing is written.
    #[error("the referee is the referrer (the same member or one of their identities)")]
    SelfReferral,
    #[error("Idempotency-Key reused with another request")]
    IdempotencyKeyReused,
    #[error("missing or invalid API key")]
    Unauthenticated,
    /// A signed inbound webhook (LINE) whose signature is missing or wrong.
    #[error("missing or invalid signature")]
    InvalidSignature,
    #[error("this role may not do that")]
    Forbidden,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<FieldError> for AppError {
    fn from(e: FieldError) -> Self {
        AppError::Invalid(e)
    }
}

pub type AppResult<T> = Result<T, AppError>;

//! Patron's business rules, pure: money and points, customer identities, orders,
//! intake events and the points ledger's earning and reversal arithmetic.
//!
//! Nothing here performs IO, reads the clock, draws randomness or knows JSON:
//! callers pass instants and ids in, and get values or typed errors back.

pub mod access;
pub mod calendar;
pub mod customer;
pub mod desk;
pub mod email;
pub mod event;
pub mod ledger;
pub mod limits;
pub mod loyalty;
pub mod money;
pub mod order;
pub mod sla;
pub mod template;

pub use customer::{CustomerProfile, Email, Identity, IdentityKind, PhoneNumber};
pub use event::{EventKind, ExternalRef};
pub use ledger::{EarnRule, Points};
pub use money::{Currency, Money};
pub use order::{Order, OrderLine};

/// A field that failed validation: which field and why, in words a shop developer can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The same error, with its field nested under `prefix` (`lines[2].quantity`).
    pub fn within(self, prefix: &str) -> Self {
        FieldError {
            field: format!("{prefix}.{}", self.field),
            reason: self.reason,
        }
    }
}

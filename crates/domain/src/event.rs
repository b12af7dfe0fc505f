//! Intake events: everything that happens to a customer arrives as an event with a
//! `source` and an `external_id`, the pair that makes intake exactly-once.

use crate::FieldError;
use crate::limits::{EXTERNAL_ID_BYTES_MAX, SOURCE_BYTES_MAX};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    OrderPlaced,
    OrderRefunded,
    OrderCancelled,
    ProfileChanged,
    CartUpdated,
    /// A manual points correction (Patron's own event).
    PointsCorrected,
    /// A committed redemption hold (Patron's own event).
    PointsRedeemed,
    /// A run of the expiry job (Patron's own event; its transfers name the customers).
    PointsExpired,
    /// A cancelled redemption (Patron's own event; its transfers give the points back).
    RedemptionCancelled,
    /// A non-purchase award of free points (Patron's own event; its transfer is the lot).
    PointsAwarded,
    /// A paid membership's fee: joining a paid tier or renewing it (Patron's own kind; the
    /// external id is the payment's, so a fee is recorded once).
    MembershipPaid,
    /// Points that became active settled a debt a return left (Patron's own event; its
    /// `settle` transfers name the lots they consumed).
    PointsDebtSettled,
    /// An award taken back (Patron's own event): a referral whose qualifying order was
    /// refunded in full within its return window. Its `reverse` transfer names the award's lot.
    AwardReversed,
}

impl EventKind {
    pub const ALL: [EventKind; 13] = [
        EventKind::OrderPlaced,
        EventKind::OrderRefunded,
        EventKind::OrderCancelled,
        EventKind::ProfileChanged,
        EventKind::CartUpdated,
        EventKind::PointsCorrected,
        EventKind::PointsRedeemed,
        EventKind::PointsExpired,
        EventKind::RedemptionCancelled,
        EventKind::PointsAwarded,
        EventKind::MembershipPaid,
        EventKind::PointsDebtSettled,
        EventKind::AwardReversed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::OrderPlaced => "order_placed",
            EventKind::OrderRefunded => "order_refunded",
            EventKind::OrderCancelled => "order_cancelled",
            EventKind::ProfileChanged => "profile_changed",
            EventKind::CartUpdated => "cart_updated",
            EventKind::PointsCorrected => "points_corrected",
            EventKind::PointsRedeemed => "points_redeemed",
            EventKind::PointsExpired => "points_expired",
            EventKind::RedemptionCancelled => "redemption_cancelled",
            EventKind::PointsAwarded => "points_awarded",
            EventKind::MembershipPaid => "membership_paid",
            EventKind::PointsDebtSettled => "points_debt_settled",
            EventKind::AwardReversed => "award_reversed",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Where an event came from and its id there. Unique in the database.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExternalRef {
    pub source: String,
    pub external_id: String,
}

impl ExternalRef {
    pub fn parse(source: &str, external_id: &str) -> Result<ExternalRef, FieldError> {
        if source.is_empty() || source.len() > SOURCE_BYTES_MAX {
            return Err(FieldError::new(
                "source",
                format!("must be 1 to {SOURCE_BYTES_MAX} bytes"),
            ));
        }
        if !source
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        {
            return Err(FieldError::new(
                "source",
                "may contain only ASCII letters, digits and - _ . :",
            ));
        }
        if external_id.is_empty() || external_id.len() > EXTERNAL_ID_BYTES_MAX {
            return Err(FieldError::new(
                "external_id",
                format!("must be 1 to {EXTERNAL_ID_BYTES_MAX} bytes"),
            ));
        }
        if external_id.chars().any(char::is_control) {
            return Err(FieldError::new(
                "external_id",
                "contains control characters",
            ));
        }
        Ok(ExternalRef {
            source: source.to_owned(),
            external_id: external_id.to_owned(),
        })
    }
}

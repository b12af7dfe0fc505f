//! The points ledger's arithmetic, after TigerBeetle: integer points, transfers that each
//! name a debit and a credit account (so every transfer sums to zero by construction),
//! append-only history, and corrections as compensating transfers with a reason.
//!
//! An earn transfer is also a *lot*: it carries `remaining`, `pending_until` and `expires_at`,
//! so the loyalty engine can consume lots and expire them without a second table on the hot path.

use crate::FieldError;
use crate::limits::POSTING_POINTS_MAX;
use std::fmt;

/// A whole number of points. Points never pass through floats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Points(pub i64);

impl Points {
    /// A positive amount for one posting, within [`POSTING_POINTS_MAX`].
    pub fn posting(amount: i64) -> Result<Points, FieldError> {
        if !(1..=POSTING_POINTS_MAX).contains(&amount) {
            return Err(FieldError::new(
                "points",
                format!("must be 1 to {POSTING_POINTS_MAX}"),
            ));
        }
        Ok(Points(amount))
    }
}

impl fmt::Display for Points {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Why a transfer happened. Stored as text; the set grows with the loyalty engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferKind {
    /// Points earned by an order: a lot.
    Earn,
    /// Points taken back because (part of) the order was refunded or cancelled.
    Reverse,
    /// A manual correction, always with a reason.
    Correction,
    /// Points spent on a redemption (a committed hold); consumes lots.
    Redeem,
    /// Points of a lot that expired, taken by the expiry job; consumes the lot.
    Expire,
    /// Points given back by a cancelled redemption: a new lot naming the lot it restores, with
    /// that lot's expiry (or a fresh one, or expired at once, by the programme's policy).
    Restore,
    /// Free points of a non-purchase award (sign-up, birthday, referral, …): a lot with no
    /// revenue behind it, and not qualifying points (tiers count purchase earns only).
    Bonus,
    /// Points of a lot that became active taken to settle a debt a return left (the
    /// programme's `debt` shortfall policy); consumes that lot.
    Settle,
}

impl TransferKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TransferKind::Earn => "earn",
            TransferKind::Reverse => "reverse",
            TransferKind::Correction => "correction",
            TransferKind::Redeem => "redeem",
            TransferKind::Expire => "expire",
            TransferKind::Restore => "restore",
            TransferKind::Bonus => "bonus",
            TransferKind::Settle => "settle",
        }
    }

    pub fn parse(s: &str) -> Option<TransferKind> {
        [
            TransferKind::Earn,
            TransferKind::Reverse,
            TransferKind::Correction,
            TransferKind::Redeem,
            TransferKind::Expire,
            TransferKind::Restore,
            TransferKind::Bonus,
            TransferKind::Settle,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// The base earning rule: `points` for every full `per_minor` minor units spent, rounded down.
/// The default is 1 point per NT$100 (10,000 minor units of TWD).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EarnRule {
    pub points: i64,
    pub per_minor: i64,
}

impl Default for EarnRule {
    fn default() -> Self {
        EarnRule {
            points: 1,
            per_minor: 10_000,
        }
    }
}

impl EarnRule {
    pub fn new(points: i64, per_minor: i64) -> Result<EarnRule, FieldError> {
        if !(0..=1_000_000).contains(&points) {
            return Err(FieldError::new("earn.points", "must be 0 to 1000000"));
        }
        if !(1..=1_000_000_000_000).contains(&per_minor) {
            return Err(FieldError::new("earn.per_minor", "must be 1 to 10^12"));
        }
        Ok(EarnRule { points, per_minor })
    }

    /// Points earned by spending `amount_minor` (never negative, rounded down).
    pub fn earn(self, amount_minor: i64) -> i64 {
        let amount = i128::from(amount_minor.max(0));
        let earned = amount * i128::from(self.points) / i128::from(self.per_minor);
        i64::try_from(earned).unwrap_or(i64::MAX)
    }

    /// Points to take back when `refund_minor` of an order whose still-paid amount is
    /// `paid_before_minor` is refunded: what the order earns on its paid amount before,
    /// minus what it earns after. Summed over any sequence of refunds that empties the
    /// order, this gives back exactly the order's original earn.
    pub fn reversal(self, paid_before_minor: i64, refund_minor: i64) -> i64 {
        self.earn(paid_before_minor) - self.earn(paid_before_minor - refund_minor)
    }
}

/// A customer's balance after a debit of `amount`, or why it is refused.
pub fn debit_balance(
    balance: i64,
    amount: i64,
    allow_negative: bool,
) -> Result<i64, InsufficientPoints> {
    let after = balance - amount;
    if after < 0 && !allow_negative {
        return Err(InsufficientPoints {
            balance,
            requested: amount,
        });
    }
    Ok(after)
}

/// How a return's clawback of `amount` points is booked when the customer's active lots can
/// give only `covered` of them (loyalty.md §E: never refused, never truncated at zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clawback {
    /// Points the reversal transfer debits now.
    pub posted: i64,
    /// Points no lot could give: a debt (`Debt`, not posted yet) or the depth of the negative
    /// balance (`NegativeBalance`, posted). Settled from the next points that become active.
    pub uncovered: i64,
    pub policy: crate::loyalty::programme::ShortfallPolicy,
}

/// Books a clawback of `amount` of which the lots cover `covered` (clamped to `0..=amount`).
pub fn clawback(
    covered: i64,
    amount: i64,
    policy: crate::loyalty::programme::ShortfallPolicy,
) -> Clawback {
    use crate::loyalty::programme::ShortfallPolicy;
    let covered = covered.clamp(0, amount.max(0));
    let uncovered = amount.max(0) - covered;
    Clawback {
        posted: match policy {
            ShortfallPolicy::Debt => covered,
            ShortfallPolicy::NegativeBalance => amount.max(0),
        },
        uncovered,
        policy,
    }
}

/// Splits `available` newly active points over open debts (oldest first): what each takes.
pub fn settle(open: &[i64], available: i64) -> Vec<i64> {
    let mut left = available.max(0);
    open.iter()
        .map(|&owed| {
            let take = owed.max(0).min(left);
            left -= take;
            take
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("balance {balance} is less than the {requested} points requested")]
pub struct InsufficientPoints {
    pub balance: i64,
    pub requested: i64,
}

#[cfg(test)]
mod tests;

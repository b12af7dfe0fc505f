//! Holds: pay-with-points at checkout as reserve → commit or release, with holds that expire on
//! their own (loyalty.md §G.3, two-phase like Brevo's credit/debit).
//!
//! A hold reserves points without touching lots: `available = spendable − Σ live holds`, and a
//! reserve beyond it is refused. Commit turns the hold into a spend (the caller then plans the
//! spend with [`crate::loyalty::lots::plan_spend`], counting the *other* live holds only);
//! release and expiry simply drop the reservation. Transitions are pure: each returns the hold's
//! next value and the caller persists it under the account's lock, so two concurrent reserves
//! can never both see the same available points.
//!
//! A hold is live while `now < expires_at`; from `expires_at` on it counts as expired whether or
//! not the expiry job has written it, so a late job never lets an expired hold be committed.

use crate::limits::POSTING_POINTS_MAX;
use jiff::{SignedDuration, Timestamp};

/// Longest a hold may live: a checkout that has not paid in a day is abandoned.
pub const HOLD_TTL_SECS_MAX: i64 = 86_400;
/// Live holds one member may have at once.
pub const HOLDS_PER_MEMBER_MAX: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HoldId(pub u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldState {
    Held,
    Committed,
    Released,
    Expired,
}

impl HoldState {
    pub fn as_str(self) -> &'static str {
        match self {
            HoldState::Held => "held",
            HoldState::Committed => "committed",
            HoldState::Released => "released",
            HoldState::Expired => "expired",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hold {
    pub id: HoldId,
    pub points: i64,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub state: HoldState,
}

/// Why a hold transition is refused; nothing changes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HoldError {
    #[error("points: must be 1 to {POSTING_POINTS_MAX}, got {points}")]
    PointsOutOfRange { points: i64 },
    #[error("ttl: must be 1 to {HOLD_TTL_SECS_MAX} seconds")]
    TtlOutOfRange,
    #[error("available {available} points is less than the {requested} requested")]
    InsufficientAvailable { available: i64, requested: i64 },
    #[error("at most {HOLDS_PER_MEMBER_MAX} live holds per member")]
    TooManyHolds,
    #[error("hold {id:?} expired at {expired_at}")]
    HoldExpired { id: HoldId, expired_at: Timestamp },
    #[error("hold {id:?} is already {}", state.as_str())]
    NotHeld { id: HoldId, state: HoldState },
}

impl Hold {
    /// The hold's state as of `now`.
    pub fn state_at(&self, now: Timestamp) -> HoldState {
        if self.state == HoldState::Held && now >= self.expires_at {
            HoldState::Expired
        } else {
            self.state
        }
    }
}

/// Σ points of the holds live at `now`, leaving out `except` (the hold being committed).
pub fn held_points(holds: &[Hold], except: Option<HoldId>, now: Timestamp) -> i64 {
    holds
        .iter()
        .filter(|h| Some(h.id) != except && h.state_at(now) == HoldState::Held)
        .fold(0_i64, |s, h| s.saturating_add(h.points))
}

/// A new hold of `points` for `ttl_secs`, refused beyond `spendable − Σ live holds`.
pub fn reserve(
    id: HoldId,
    points: i64,
    spendable: i64,
    holds: &[Hold],
    now: Timestamp,
    ttl_secs: i64,
) -> Result<Hold, HoldError> {
    if !(1..=POSTING_POINTS_MAX).contains(&points) {
        return Err(HoldError::PointsOutOfRange { points });
    }
    if !(1..=HOLD_TTL_SECS_MAX).contains(&ttl_secs) {
        return Err(HoldError::TtlOutOfRange);
    }
    let live = holds
        .iter()
        .filter(|h| h.state_at(now) == HoldState::Held)
        .count();
    if live >= HOLDS_PER_MEMBER_MAX {
        return Err(HoldError::TooManyHolds);
    }
    let available = spendable.saturating_sub(held_points(holds, None, now));
    if points > available {
        return Err(HoldError::InsufficientAvailable {
            available,
            requested: points,
        });
    }
    let expires_at = now
        .checked_add(SignedDuration::from_secs(ttl_secs))
        .map_err(|_| HoldError::TtlOutOfRange)?;
    Ok(Hold {
        id,
        points,
        created_at: now,
        expires_at,
        state: HoldState::Held,
    })
}

fn live(hold: &Hold, now: Timestamp) -> Result<(), HoldError> {
    match hold.state_at(now) {
        HoldState::Held => Ok(()),
        HoldState::Expired => Err(HoldError::HoldExpired {
            id: hold.id,
            expired_at: hold.expires_at,
        }),
        state => Err(HoldError::NotHeld { id: hold.id, state }),
    }
}

/// The committed hold; refused once expired, released or committed (so never twice).
pub fn commit(hold: &Hold, now: Timestamp) -> Result<Hold, HoldError> {
    live(hold, now)?;
    Ok(Hold {
        state: HoldState::Committed,
        ..*hold
    })
}

/// The released hold; refused unless live.
pub fn release(hold: &Hold, now: Timestamp) -> Result<Hold, HoldError> {
    live(hold, now)?;
    Ok(Hold {
        state: HoldState::Released,
        ..*hold
    })
}

/// Holds the expiry job marks expired at `now` (idempotent: expired holds are not listed again).
pub fn plan_hold_expiry(holds: &[Hold], now: Timestamp) -> Vec<HoldId> {
    holds
        .iter()
        .filter(|h| h.state == HoldState::Held && h.state_at(now) == HoldState::Expired)
        .map(|h| h.id)
        .collect()
}

#[cfg(test)]
mod tests;

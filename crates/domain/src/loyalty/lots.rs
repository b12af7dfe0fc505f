//! Lots: every earn is a lot, and everything that takes points away names the lots it took
//! them from (loyalty.md §G.1, §E). Functions here compute plans — what to change — from the
//! lots as they are and the instant `now`; `apply_*` turn a plan into new lot values, so the
//! store can persist exactly the same changes.
//!
//! A lot keeps four numbers with one invariant, `remaining + spent + reversed == amount`:
//! - `remaining`: points still in the lot (for an expired lot: the points that expired);
//! - `spent`: points consumed from it by spends, clawbacks and debt settlement (a cancelled
//!   redemption gives them back);
//! - `reversed`: points of the lot's own remaining taken away by a return of its order;
//! - `clawed_back` (beside the invariant): points of the lot's order returned after they were
//!   spent, taken from other lots or owed; with `reversed` it bounds what a return may reverse.
//!
//! Decisions:
//! - **Effective state.** A lot is read at `now`: a pending lot whose `pending_until` has passed
//!   is active, an active lot past expiry ([`is_expired`]) is expired — whether or not the job
//!   has written that yet. The activation/expiry job ([`plan_maintenance`]) only materialises
//!   it, so it is idempotent and restartable.
//! - **Spend order.** Soonest expiry first; lots that never expire last; then the oldest
//!   `earned_at`; then the lower lot id — total and deterministic (bonus points with 30 days
//!   are spent before purchase points with a year).
//! - **Returns** reverse the points the order's lines earned, from the lot's per-line
//!   provenance (the rule version that earned them, never today's rules). They come out of the
//!   lot's own remaining first (a pending lot: no balance impact; an expired lot: nothing the
//!   member still had); what was already spent is clawed back from the member's other active
//!   lots in spend order; anything still missing becomes a debt. The wallet's
//!   [`ShortfallPolicy`] decides only how a debt reads: beside a zero balance, or as a negative
//!   balance. Either way a debt is settled from the next points that become active
//!   ([`plan_settle_debt`]), so a debt and active points never coexist after settlement.
//! - **Cancelled redemptions** give each consumed point back to the lot it came from, with that
//!   lot's original expiry. If the lot has expired meanwhile, the wallet's
//!   [`ExpiredRestorePolicy`] decides: the points stay expired, or come back as a new lot valid
//!   for a grace period.

use crate::limits::POSTING_POINTS_MAX;
use crate::loyalty::accounting::RevenueClass;
use crate::loyalty::expiry::{end_of_local_day, is_expired, local_date};
use crate::loyalty::programme::{ExpiredRestorePolicy, ShortfallPolicy};
use crate::loyalty::rules::{NonPurchaseKind, RuleRef};
use crate::order::Order;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use std::collections::BTreeMap;

/// Lots one spend, reversal or restore may touch: enough for years of weekly purchases.
pub const LOTS_PER_PLAN_MAX: usize = 10_000;

/// A lot's id, assigned by the caller (the store's row id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LotId(pub u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LotState {
    /// Inside its return window: not spendable, not in the balance.
    Pending,
    Active,
    /// Past its expiry; `remaining` is what expired.
    Expired,
    /// Every point of the lot was reversed by returns.
    Reversed,
}

impl LotState {
    pub fn as_str(self) -> &'static str {
        match self {
            LotState::Pending => "pending",
            LotState::Active => "active",
            LotState::Expired => "expired",
            LotState::Reversed => "reversed",
        }
    }
}

/// What one order line earned into a lot, as earned: the quantity bought, the points, and the
/// rule versions that produced them. Returns are reversed from this, not from today's rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinePoints {
    pub line: usize,
    pub quantity: i64,
    pub points: i64,
    pub rules: Vec<RuleRef>,
}

/// Why a lot exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LotSource {
    /// Earned by an order, with its per-line provenance.
    Purchase {
        order_ref: String,
        lines: Vec<LinePoints>,
    },
    /// A sign-up, birthday, referral or other event.
    NonPurchase {
        kind: NonPurchaseKind,
        rule: RuleRef,
    },
    /// Points given back by a cancelled redemption after their lot expired, with a grace.
    Restored { from: LotId },
}

impl LotSource {
    /// Purchase points carry revenue; everything else is free (IFRS 15: nothing was paid).
    pub fn revenue_class(&self) -> RevenueClass {
        match self {
            LotSource::Purchase { .. } => RevenueClass::Purchase,
            LotSource::NonPurchase { .. } | LotSource::Restored { .. } => RevenueClass::Free,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lot {
    pub id: LotId,
    pub amount: i64,
    pub remaining: i64,
    pub spent: i64,
    pub reversed: i64,
    /// Points of this lot's order reversed after they were spent, so taken from other lots or
    /// owed: they no longer count as reversible. Always ≤ `spent + remaining` at reversal time.
    pub clawed_back: i64,
    pub state: LotState,
    pub earned_at: Timestamp,
    pub pending_until: Option<Timestamp>,
    pub expires_at: Option<Timestamp>,
    pub source: LotSource,
}

/// Why a lot operation is refused. Nothing is changed by a refused operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LotError {
    #[error("points: must be 1 to {POSTING_POINTS_MAX}, got {points}")]
    PointsOutOfRange { points: i64 },
    #[error("lot {0:?} does not exist")]
    UnknownLot(LotId),
    #[error("available {available} points is less than the {requested} requested")]
    InsufficientPoints { available: i64, requested: i64 },
    #[error("lot {lot:?}: {requested} points to reverse exceed the {reversible} not yet reversed")]
    ExceedsLot {
        lot: LotId,
        reversible: i64,
        requested: i64,
    },
    #[error("lot {0:?} was not earned by an order, so it has no lines to return")]
    NotAPurchase(LotId),
    #[error("line {line} was never bought in this order")]
    UnknownLine { line: usize },
    #[error("line {line}: {requested} units returned exceed the {bought} bought")]
    ExceedsLine {
        line: usize,
        requested: i64,
        bought: i64,
    },
    #[error("lot {lot:?}: restoring {requested} points exceeds the {spent} spent from it")]
    RestoreExceedsSpent {
        lot: LotId,
        spent: i64,
        requested: i64,
    },
    #[error("pending_until must be after earned_at, and expires_at after both")]
    BadInstants,
    #[error("a plan may touch at most {LOTS_PER_PLAN_MAX} lots")]
    TooManyLots,
    #[error("amounts too large to compute")]
    Overflow,
}

fn posting(points: i64) -> Result<i64, LotError> {
    if !(1..=POSTING_POINTS_MAX).contains(&points) {
        return Err(LotError::PointsOutOfRange { points });
    }
    Ok(points)
}

impl Lot {
    /// A new lot: pending until `pending_until` if given, active otherwise.
    pub fn earn(
        id: LotId,
        amount: i64,
        earned_at: Timestamp,
        pending_until: Option<Timestamp>,
        expires_at: Option<Timestamp>,
        source: LotSource,
    ) -> Result<Lot, LotError> {
        let amount = posting(amount)?;
        let activated_at = pending_until.unwrap_or(earned_at);
        if pending_until.is_some_and(|p| p <= earned_at)
            || expires_at.is_some_and(|e| e < activated_at)
        {
            return Err(LotError::BadInstants);
        }
        Ok(Lot {
            id,
            amount,
            remaining: amount,
            spent: 0,
            reversed: 0,
            clawed_back: 0,
            state: if pending_until.is_some() {
                LotState::Pending
            } else {
                LotState::Active
            },
            earned_at,
            pending_until,
            expires_at,
            source,
        })
    }

    /// The lot's state as of `now` (see the module note on effective state).
    pub fn state_at(&self, now: Timestamp) -> LotState {
        let expired = self.expires_at.is_some_and(|e| is_expired(e, now));
        match self.state {
            LotState::Reversed | LotState::Expired => self.state,
            LotState::Pending if self.pending_until.is_some_and(|p| now >= p) => {
                if expired {
                    LotState::Expired
                } else {
                    LotState::Active
                }
            }
            LotState::Pending => LotState::Pending,
            LotState::Active if expired => LotState::Expired,
            LotState::Active => LotState::Active,
        }
    }

    fn spendable_at(&self, now: Timestamp) -> bool {
        self.remaining > 0 && self.state_at(now) == LotState::Active
    }
}

/// The pending window's end for a purchase earned at `earned_at`: `pending_days` local calendar
/// days later at the same local time (so DST never shortens it); `None` for no window.
pub fn pending_until(
    earned_at: Timestamp,
    pending_days: i32,
    zone: &TimeZone,
) -> Option<Timestamp> {
    if pending_days <= 0 {
        return None;
    }
    earned_at
        .to_zoned(zone.clone())
        .checked_add(i64::from(pending_days).days())
        .ok()
        .map(|z| z.timestamp())
}

/// Sort key of the spend order: soonest expiry, never-expiring last, oldest, lowest id.
fn spend_key(lot: &Lot) -> (bool, Option<Timestamp>, Timestamp, LotId) {
    (
        lot.expires_at.is_none(),
        lot.expires_at,
        lot.earned_at,
        lot.id,
    )
}

/// Points taken from one lot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Consumption {
    pub lot: LotId,
    pub points: i64,
}

/// A member's points as of an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Balance {
    /// Σ remaining of effectively active lots.
    pub active: i64,
    /// Σ remaining of lots still in their return window.
    pub pending: i64,
    /// Points owed after clawbacks not yet settled.
    pub debt: i64,
    /// What the member is shown: `active − debt`, floored at zero under
    /// [`ShortfallPolicy::Debt`] (the debt is shown beside it), negative under
    /// [`ShortfallPolicy::NegativeBalance`].
    pub shown: i64,
    /// What may be spent before holds: `active − debt` (negative while a debt is outstanding).
    pub spendable: i64,
}

/// The balance derived from the lots, `debt` and the wallet's shortfall policy.
pub fn balance(lots: &[Lot], debt: i64, policy: ShortfallPolicy, now: Timestamp) -> Balance {
    let mut active: i64 = 0;
    let mut pending: i64 = 0;
    for lot in lots {
        match lot.state_at(now) {
            LotState::Active => active = active.saturating_add(lot.remaining),
            LotState::Pending => pending = pending.saturating_add(lot.remaining),
            LotState::Expired | LotState::Reversed => {}
        }
    }
    let spendable = active.saturating_sub(debt);
    Balance {
        active,
        pending,
        debt,
        shown: match policy {
            ShortfallPolicy::Debt => spendable.max(0),
            ShortfallPolicy::NegativeBalance => spendable,
        },
        spendable,
    }
}

/// Takes `points` from the effectively active lots in spend order, skipping `exclude`.
fn consume(
    lots: &[Lot],
    points: i64,
    now: Timestamp,
    exclude: Option<LotId>,
) -> (Vec<Consumption>, i64) {
    let mut candidates: Vec<&Lot> = lots
        .iter()
        .filter(|l| Some(l.id) != exclude && l.spendable_at(now))
        .collect();
    candidates.sort_by_key(|l| spend_key(l));
    let mut left = points;
    let mut taken = Vec::new();
    for lot in candidates {
        if left == 0 {
            break;
        }
        let p = left.min(lot.remaining);
        taken.push(Consumption {
            lot: lot.id,
            points: p,
        });
        left -= p;
    }
    (taken, left)
}

/// The lots a spend of `points` consumes, refused beyond `spendable − held` (held: points of
/// the member's other active holds; pass 0 when committing a hold, whose points were held).
pub fn plan_spend(
    lots: &[Lot],
    debt: i64,
    held: i64,
    points: i64,
    now: Timestamp,
) -> Result<Vec<Consumption>, LotError> {
    let points = posting(points)?;
    if lots.len() > LOTS_PER_PLAN_MAX {
        return Err(LotError::TooManyLots);
    }
    let available = balance(lots, debt, ShortfallPolicy::Debt, now)
        .spendable
        .saturating_sub(held);
    if points > available {
        return Err(LotError::InsufficientPoints {
            available,
            requested: points,
        });
    }
    let (taken, left) = consume(lots, points, now, None);
    if left != 0 {
        // Unreachable while spendable counts the same lots `consume` walks; refuse anyway.
        return Err(LotError::InsufficientPoints {
            available: points - left,
            requested: points,
        });
    }
    Ok(taken)
}

/// Applies consumptions (a spend, clawback or settlement) to the lots: remaining → spent.
pub fn apply_consumptions(lots: &mut [Lot], taken: &[Consumption]) -> Result<(), LotError> {
    let index: BTreeMap<LotId, usize> = lots.iter().enumerate().map(|(i, l)| (l.id, i)).collect();
    for c in taken {
        let &i = index.get(&c.lot).ok_or(LotError::UnknownLot(c.lot))?;
        if c.points > lots[i].remaining {
            return Err(LotError::Overflow);
        }
    }
    for c in taken {
        if let Some(&i) = index.get(&c.lot) {
            lots[i].remaining -= c.points;
            lots[i].spent += c.points;
        }
    }
    Ok(())
}

/// Points to reverse for a return of `returned_now` units per line (line index, units), given
/// the units of each line returned before: cumulative, from the lot's own per-line points, so
/// returns that empty a line reverse exactly what it earned.
pub fn line_reversal_points(
    lot: &Lot,
    returned_before: &BTreeMap<usize, i64>,
    returned_now: &[(usize, i64)],
) -> Result<i64, LotError> {
    let LotSource::Purchase { lines, .. } = &lot.source else {
        return Err(LotError::NotAPurchase(lot.id));
    };
    let mut now_by_line: BTreeMap<usize, i64> = BTreeMap::new();
    for &(line, units) in returned_now {
        if units <= 0 {
            return Err(LotError::PointsOutOfRange { points: units });
        }
        let e = now_by_line.entry(line).or_insert(0);
        *e = e.checked_add(units).ok_or(LotError::Overflow)?;
    }
    let mut total: i64 = 0;
    for (&line, &units) in &now_by_line {
        let earned = lines
            .iter()
            .find(|l| l.line == line)
            .ok_or(LotError::UnknownLine { line })?;
        let before = returned_before.get(&line).copied().unwrap_or(0).max(0);
        let after = before.checked_add(units).ok_or(LotError::Overflow)?;
        if after > earned.quantity {
            return Err(LotError::ExceedsLine {
                line,
                requested: after,
                bought: earned.quantity,
            });
        }
        // Floor of the cumulative share: the last unit returned takes the rounding remainder.
        let share =
            |q: i64| i128::from(earned.points) * i128::from(q) / i128::from(earned.quantity);
        let points = i64::try_from(share(after) - share(before)).map_err(|_| LotError::Overflow)?;
        total = total.checked_add(points).ok_or(LotError::Overflow)?;
    }
    Ok(total)
}

/// Checks a return against the order it refers to (a line never bought is refused), then
/// computes the points to reverse: see [`line_reversal_points`].
pub fn order_line_reversal_points(
    order: &Order,
    lot: &Lot,
    returned_before: &BTreeMap<usize, i64>,
    returned_now: &[(usize, i64)],
) -> Result<i64, LotError> {
    for &(line, units) in returned_now {
        let bought = order
            .lines
            .get(line)
            .ok_or(LotError::UnknownLine { line })?
            .quantity;
        if units > bought {
            return Err(LotError::ExceedsLine {
                line,
                requested: units,
                bought,
            });
        }
    }
    line_reversal_points(lot, returned_before, returned_now)
}

/// What reversing points of a lot changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReversalPlan {
    pub lot: LotId,
    pub points: i64,
    /// Taken from the lot's own remaining (no balance impact if it was pending or expired).
    pub from_lot: i64,
    /// The state the lot had when reversed (decides whether the balance moves).
    pub lot_state: LotState,
    /// Points already spent, clawed back from the member's other active lots.
    pub clawed_back: Vec<Consumption>,
    /// What could not be clawed back: added to the member's debt.
    pub new_debt: i64,
}

/// Plans the reversal of `points` of lot `lot_id` (from [`line_reversal_points`]).
pub fn plan_reversal(
    lots: &[Lot],
    lot_id: LotId,
    points: i64,
    now: Timestamp,
) -> Result<ReversalPlan, LotError> {
    let points = posting(points)?;
    if lots.len() > LOTS_PER_PLAN_MAX {
        return Err(LotError::TooManyLots);
    }
    let lot = lots
        .iter()
        .find(|l| l.id == lot_id)
        .ok_or(LotError::UnknownLot(lot_id))?;
    let reversible = lot.amount - lot.reversed - lot.clawed_back;
    if points > reversible {
        return Err(LotError::ExceedsLot {
            lot: lot_id,
            reversible,
            requested: points,
        });
    }
    let from_lot = points.min(lot.remaining);
    let (clawed_back, new_debt) = consume(lots, points - from_lot, now, Some(lot_id));
    Ok(ReversalPlan {
        lot: lot_id,
        points,
        from_lot,
        lot_state: lot.state_at(now),
        clawed_back,
        new_debt,
    })
}

/// Applies a reversal; returns the member's debt after it.
pub fn apply_reversal(lots: &mut [Lot], debt: i64, plan: &ReversalPlan) -> Result<i64, LotError> {
    let i = lots
        .iter()
        .position(|l| l.id == plan.lot)
        .ok_or(LotError::UnknownLot(plan.lot))?;
    let lot = &lots[i];
    if plan.from_lot > lot.remaining || plan.points > lot.amount - lot.reversed - lot.clawed_back {
        return Err(LotError::ExceedsLot {
            lot: plan.lot,
            reversible: lot.amount - lot.reversed - lot.clawed_back,
            requested: plan.points,
        });
    }
    apply_consumptions(lots, &plan.clawed_back)?;
    let lot = &mut lots[i];
    lot.remaining -= plan.from_lot;
    lot.reversed += plan.from_lot;
    lot.clawed_back += plan.points - plan.from_lot;
    if lot.reversed == lot.amount {
        lot.state = LotState::Reversed;
    }
    debt.checked_add(plan.new_debt).ok_or(LotError::Overflow)
}

/// Settles `debt` from active points: the lots in `first` (just activated, in order), then
/// the other active lots in spend order. Run after anything that makes points active.
pub fn plan_settle_debt(
    lots: &[Lot],
    debt: i64,
    first: &[LotId],
    now: Timestamp,
) -> Vec<Consumption> {
    let mut left = debt.max(0);
    let mut taken: Vec<Consumption> = Vec::new();
    for id in first {
        if left == 0 {
            break;
        }
        if let Some(lot) = lots.iter().find(|l| l.id == *id && l.remaining > 0) {
            let p = left.min(lot.remaining);
            taken.push(Consumption {
                lot: lot.id,
                points: p,
            });
            left -= p;
        }
    }
    if left > 0 {
        let used: Vec<LotId> = taken.iter().map(|c| c.lot).collect();
        let rest: Vec<Lot> = lots
            .iter()
            .filter(|l| !used.contains(&l.id))
            .cloned()
            .collect();
        let (more, _) = consume(&rest, left, now, None);
        taken.extend(more);
    }
    taken
}

/// What the activation/expiry job changes at `now`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MaintenancePlan {
    /// Pending lots whose window has passed, in `pending_until` order.
    pub activations: Vec<LotId>,
    /// Debt settled from the activated (then other active) lots.
    pub settlement: Vec<Consumption>,
    /// Active lots past expiry, with the points that expire.
    pub expiries: Vec<Consumption>,
}

/// The job's plan: activate what is due (settling debt from it first, as at its activation
/// instant), then expire what is past expiry. Running it twice changes nothing the second time.
pub fn plan_maintenance(lots: &[Lot], debt: i64, now: Timestamp) -> MaintenancePlan {
    let mut due: Vec<&Lot> = lots
        .iter()
        .filter(|l| l.state == LotState::Pending && l.pending_until.is_some_and(|p| now >= p))
        .collect();
    due.sort_by_key(|l| (l.pending_until, l.id));
    let activations: Vec<LotId> = due.iter().map(|l| l.id).collect();
    let settlement = if debt > 0 && !activations.is_empty() {
        plan_settle_debt(lots, debt, &activations, now)
    } else {
        Vec::new()
    };
    let settled: BTreeMap<LotId, i64> = settlement.iter().map(|c| (c.lot, c.points)).collect();
    let expiries = lots
        .iter()
        .filter(|l| {
            matches!(l.state, LotState::Active | LotState::Pending)
                && l.state_at(now) == LotState::Expired
        })
        .map(|l| Consumption {
            lot: l.id,
            points: l.remaining - settled.get(&l.id).copied().unwrap_or(0),
        })
        .collect();
    MaintenancePlan {
        activations,
        settlement,
        expiries,
    }
}

/// Applies the job's plan; returns the debt after settlement.
pub fn apply_maintenance(
    lots: &mut [Lot],
    debt: i64,
    plan: &MaintenancePlan,
) -> Result<i64, LotError> {
    apply_consumptions(lots, &plan.settlement)?;
    for lot in lots.iter_mut() {
        if plan.activations.contains(&lot.id) {
            lot.state = LotState::Active;
        }
        if plan.expiries.iter().any(|c| c.lot == lot.id) {
            lot.state = LotState::Expired;
        }
    }
    let settled: i64 = plan.settlement.iter().map(|c| c.points).sum();
    Ok((debt - settled).max(0))
}

/// A new lot for points restored after their lot expired (grace policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GraceLot {
    pub from: LotId,
    pub points: i64,
    pub expires_at: Timestamp,
}

/// What cancelling a redemption gives back.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RestorePlan {
    /// Points going back to their lot: active lots get them back spendable with their original
    /// expiry; expired lots (under `StayExpired`) get them back expired.
    pub to_lots: Vec<Consumption>,
    /// Points from expired lots coming back as new lots (under `RestoreWithGrace`).
    pub grace_lots: Vec<GraceLot>,
}

/// Plans giving back the consumptions of a cancelled redemption.
pub fn plan_restore(
    lots: &[Lot],
    consumed: &[Consumption],
    policy: ExpiredRestorePolicy,
    zone: &TimeZone,
    now: Timestamp,
) -> Result<RestorePlan, LotError> {
    if consumed.len() > LOTS_PER_PLAN_MAX {
        return Err(LotError::TooManyLots);
    }
    let mut by_lot: BTreeMap<LotId, i64> = BTreeMap::new();
    for c in consumed {
        posting(c.points)?;
        let e = by_lot.entry(c.lot).or_insert(0);
        *e = e.checked_add(c.points).ok_or(LotError::Overflow)?;
    }
    let mut plan = RestorePlan::default();
    for (&id, &points) in &by_lot {
        let lot = lots
            .iter()
            .find(|l| l.id == id)
            .ok_or(LotError::UnknownLot(id))?;
        if points > lot.spent {
            return Err(LotError::RestoreExceedsSpent {
                lot: id,
                spent: lot.spent,
                requested: points,
            });
        }
        match (lot.state_at(now), policy) {
            (LotState::Expired, ExpiredRestorePolicy::RestoreWithGrace(days)) => {
                let last_day = local_date(now, zone)
                    .checked_add(i64::from(days.get()).days())
                    .map_err(|_| LotError::Overflow)?;
                let expires_at = end_of_local_day(last_day, zone).ok_or(LotError::Overflow)?;
                plan.grace_lots.push(GraceLot {
                    from: id,
                    points,
                    expires_at,
                });
            }
            // Active lots take their points back with their original expiry; expired lots keep
            // them expired (`StayExpired`). A lot whose order was returned after the spend keeps
            // them too: the return already clawed the equivalent from elsewhere.
            _ => plan.to_lots.push(Consumption { lot: id, points }),
        }
    }
    Ok(plan)
}

/// Applies a restore: `to_lots` move spent → remaining; each grace lot is taken from its
/// source's `spent` for good (the points now live in the new lot) and returned as a new lot
/// with the id `next_id` gives it.
pub fn apply_restore(
    lots: &mut Vec<Lot>,
    plan: &RestorePlan,
    now: Timestamp,
    mut next_id: impl FnMut() -> LotId,
) -> Result<Vec<LotId>, LotError> {
    for c in &plan.to_lots {
        let lot = lots
            .iter_mut()
            .find(|l| l.id == c.lot)
            .ok_or(LotError::UnknownLot(c.lot))?;
        if c.points > lot.spent {
            return Err(LotError::RestoreExceedsSpent {
                lot: c.lot,
                spent: lot.spent,
                requested: c.points,
            });
        }
        lot.spent -= c.points;
        lot.remaining += c.points;
    }
    let mut created = Vec::new();
    for g in &plan.grace_lots {
        let id = next_id();
        let lot = Lot::earn(
            id,
            g.points,
            now,
            None,
            Some(g.expires_at),
            LotSource::Restored { from: g.from },
        )?;
        lots.push(lot);
        created.push(id);
    }
    Ok(created)
}

/// A broken ledger invariant: a bug, to abort the transaction on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvariantViolation {
    #[error("lot {0:?}: remaining + spent + reversed differs from amount, or a part is negative")]
    LotParts(LotId),
    #[error("lot {0:?}: state does not match its numbers")]
    LotState(LotId),
    #[error("stored balance {stored} differs from the {derived} derived from the lots")]
    Balance { stored: i64, derived: i64 },
    #[error("debt {debt} is negative, or outstanding while {active} points are active")]
    Debt { debt: i64, active: i64 },
}

/// `remaining + spent + reversed == amount`, each part non-negative (no lot over-consumed), and
/// the state consistent with the numbers.
pub fn check_lot(lot: &Lot) -> Result<(), InvariantViolation> {
    let parts_ok = lot.remaining >= 0
        && lot.spent >= 0
        && lot.reversed >= 0
        && lot.clawed_back >= 0
        && lot.amount > 0
        && i128::from(lot.reversed) + i128::from(lot.clawed_back) <= i128::from(lot.amount)
        && i128::from(lot.remaining) + i128::from(lot.spent) + i128::from(lot.reversed)
            == i128::from(lot.amount);
    if !parts_ok {
        return Err(InvariantViolation::LotParts(lot.id));
    }
    let state_ok = match lot.state {
        LotState::Reversed => lot.reversed == lot.amount,
        LotState::Pending => lot.pending_until.is_some() && lot.spent == 0,
        LotState::Active | LotState::Expired => true,
    };
    if !state_ok {
        return Err(InvariantViolation::LotState(lot.id));
    }
    Ok(())
}

/// Every lot's invariant, the stored (materialised) spendable balance against the lots, and
/// "no debt while points are active" (after settlement).
pub fn check_account(
    lots: &[Lot],
    debt: i64,
    stored_spendable: i64,
    now: Timestamp,
) -> Result<(), InvariantViolation> {
    for lot in lots {
        check_lot(lot)?;
    }
    let b = balance(lots, debt, ShortfallPolicy::NegativeBalance, now);
    if b.spendable != stored_spendable {
        return Err(InvariantViolation::Balance {
            stored: stored_spendable,
            derived: b.spendable,
        });
    }
    if debt < 0 || (debt > 0 && b.active > 0) {
        return Err(InvariantViolation::Debt {
            debt,
            active: b.active,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;

//! Tiers: qualification, upgrade at once, downgrade only at a period's end, overrides, benefits.
//!
//! A [`TierConfig`] is a tier group: tiers in ascending order of threshold (the first has
//! threshold 0), a basis (qualifying points or spend), a qualification period and a downgrade
//! policy. [`evaluate_tier`] is a pure function of the member's qualifying history, their
//! current tier and `now`, all local dates read in the programme zone.
//!
//! Decisions:
//! - **Upgrade at once** when the value of the current period so far reaches a higher tier.
//! - A tier earned in a period is kept for the rest of it **and the whole next period**; at each
//!   period boundary a member whose last period did not requalify them is downgraded — one tier
//!   (`OneDown`, never below what they earned) or straight to the tier earned (`ToEarned`) —
//!   effective `grace_days` after the boundary, unless they requalify within the grace.
//! - **Advance notice:** when the current period's value so far does not hold the current tier,
//!   the decision carries a notice due `notice_days` before the period ends.
//! - **Periods:** calendar year; anniversary year (from the member's anniversary date, 29
//!   February falling back to 28 February); or a rolling window of `days`, reviewed for
//!   downgrade at each local month boundary.
//! - **Returns** are negative events dated at the original order (`counts_at`), so a return
//!   reduces the period the purchase counted in.
//! - **Manual override** sets the tier until its end date; afterwards the member is evaluated
//!   normally from their underlying tier.

use crate::FieldError;
use crate::loyalty::expiry::{local_date, start_of_local_day};
use crate::loyalty::rules::{
    LeapDayFallback, MULTIPLIER_BP_MAX, MULTIPLIER_BP_ONE, celebration_date,
};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

/// Tiers in one group.
pub const TIERS_MAX: usize = 20;
/// Longest tier code, in bytes.
pub const TIER_CODE_BYTES_MAX: usize = 64;
/// Longest rolling qualification window, in days (three years).
pub const ROLLING_WINDOW_DAYS_MAX: i32 = 1_096;
/// Longest downgrade grace or advance notice, in days.
pub const TIER_NOTICE_DAYS_MAX: i32 = 365;
/// Longest paid membership term, in months (ten years).
pub const MEMBERSHIP_TERM_MONTHS_MAX: i32 = 120;
/// Highest paid membership fee, in minor units.
pub const MEMBERSHIP_FEE_MINOR_MAX: i64 = 10_000_000_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TierError {
    #[error("{0}")]
    Field(FieldError),
    #[error("tier rank {rank} does not exist (the group has {tiers})")]
    UnknownRank { rank: usize, tiers: usize },
    #[error("a date is out of range")]
    OutOfRange,
}

impl From<FieldError> for TierError {
    fn from(e: FieldError) -> Self {
        TierError::Field(e)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QualificationBasis {
    QualifyingPoints,
    SpendMinor,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TierPeriod {
    CalendarYear,
    AnniversaryYear { anniversary: Date },
    Rolling { days: i32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DowngradePolicy {
    OneDown,
    ToEarned,
}

/// What a tier gives; readable by the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TierBenefits {
    /// Basis points, 10,000 = 1×.
    pub earn_multiplier_bp: i64,
    /// Orders from this amount ship free; `None`: no free shipping.
    pub free_shipping_threshold_minor: Option<i64>,
    pub early_access: bool,
    /// Points given on the member's birthday; 0 for none.
    pub birthday_gift_points: i64,
}

impl Default for TierBenefits {
    fn default() -> Self {
        TierBenefits {
            earn_multiplier_bp: MULTIPLIER_BP_ONE,
            free_shipping_threshold_minor: None,
            early_access: false,
            birthday_gift_points: 0,
        }
    }
}

/// A tier a member may also buy: the fee of one term and its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaidMembership {
    pub fee_minor: i64,
    pub term_months: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tier {
    pub code: String,
    /// Value needed in a period to earn the tier.
    pub threshold: i64,
    pub benefits: TierBenefits,
    /// Set when the tier can also be bought; a paying member is at least this tier.
    pub paid: Option<PaidMembership>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierConfig {
    tiers: Vec<Tier>,
    basis: QualificationBasis,
    period: TierPeriod,
    downgrade: DowngradePolicy,
    grace_days: i32,
    notice_days: i32,
}

impl TierConfig {
    pub fn new(
        tiers: Vec<Tier>,
        basis: QualificationBasis,
        period: TierPeriod,
        downgrade: DowngradePolicy,
        grace_days: i32,
        notice_days: i32,
    ) -> Result<TierConfig, TierError> {
        if tiers.is_empty() || tiers.len() > TIERS_MAX {
            return Err(
                FieldError::new("tiers", format!("must have 1 to {TIERS_MAX} tiers")).into(),
            );
        }
        if tiers[0].threshold != 0 {
            return Err(FieldError::new(
                "tiers[0].threshold",
                "the first tier's threshold must be 0",
            )
            .into());
        }
        for (i, t) in tiers.iter().enumerate() {
            let field = |f: &str| format!("tiers[{i}].{f}");
            let code = t.code.trim();
            if code.is_empty()
                || code.len() > TIER_CODE_BYTES_MAX
                || tiers[..i].iter().any(|o| o.code == t.code)
            {
                return Err(FieldError::new(
                    field("code"),
                    format!("must be unique, 1 to {TIER_CODE_BYTES_MAX} bytes"),
                )
                .into());
            }
            if i > 0 && t.threshold <= tiers[i - 1].threshold {
                return Err(FieldError::new(
                    field("threshold"),
                    "must be above the previous tier's",
                )
                .into());
            }
            if !(MULTIPLIER_BP_ONE..=MULTIPLIER_BP_MAX).contains(&t.benefits.earn_multiplier_bp) {
                return Err(FieldError::new(
                    field("benefits.earn_multiplier_bp"),
                    format!("must be {MULTIPLIER_BP_ONE} to {MULTIPLIER_BP_MAX}"),
                )
                .into());
            }
            if let Some(paid) = t.paid {
                if i == 0 {
                    return Err(FieldError::new(
                        field("paid"),
                        "the first tier is everyone's and cannot be paid",
                    )
                    .into());
                }
                if !(1..=MEMBERSHIP_FEE_MINOR_MAX).contains(&paid.fee_minor) {
                    return Err(FieldError::new(
                        field("paid.fee_minor"),
                        format!("a paid tier needs a fee of 1 to {MEMBERSHIP_FEE_MINOR_MAX}"),
                    )
                    .into());
                }
                if !(1..=MEMBERSHIP_TERM_MONTHS_MAX).contains(&paid.term_months) {
                    return Err(FieldError::new(
                        field("paid.term_months"),
                        format!("must be 1 to {MEMBERSHIP_TERM_MONTHS_MAX}"),
                    )
                    .into());
                }
            }
            if t.benefits
                .free_shipping_threshold_minor
                .is_some_and(|v| v < 0)
                || t.benefits.birthday_gift_points < 0
            {
                return Err(
                    FieldError::new(field("benefits"), "amounts must not be negative").into(),
                );
            }
        }
        if let TierPeriod::Rolling { days } = period
            && !(1..=ROLLING_WINDOW_DAYS_MAX).contains(&days)
        {
            return Err(FieldError::new(
                "period.days",
                format!("must be 1 to {ROLLING_WINDOW_DAYS_MAX}"),
            )
            .into());
        }
        for (name, days) in [("grace_days", grace_days), ("notice_days", notice_days)] {
            if !(0..=TIER_NOTICE_DAYS_MAX).contains(&days) {
                return Err(
                    FieldError::new(name, format!("must be 0 to {TIER_NOTICE_DAYS_MAX}")).into(),
                );
            }
        }
        Ok(TierConfig {
            tiers,
            basis,
            period,
            downgrade,
            grace_days,
            notice_days,
        })
    }

    pub fn tiers(&self) -> &[Tier] {
        &self.tiers
    }

    pub fn basis(&self) -> QualificationBasis {
        self.basis
    }

    pub fn period(&self) -> TierPeriod {
        self.period
    }

    pub fn downgrade(&self) -> DowngradePolicy {
        self.downgrade
    }

    pub fn grace_days(&self) -> i32 {
        self.grace_days
    }

    pub fn notice_days(&self) -> i32 {
        self.notice_days
    }

    /// The rank of the tier with this code.
    pub fn rank_of(&self, code: &str) -> Option<usize> {
        self.tiers.iter().position(|t| t.code == code)
    }

    /// The same group reviewed over `period` (an anniversary year is per member: the group
    /// stores the kind, each member's evaluation its own anniversary).
    pub fn with_period(&self, period: TierPeriod) -> TierConfig {
        TierConfig {
            period,
            ..self.clone()
        }
    }

    /// The benefits of tier `rank`.
    pub fn benefits(&self, rank: usize) -> Option<&TierBenefits> {
        self.tiers.get(rank).map(|t| &t.benefits)
    }

    /// The highest tier whose threshold `value` reaches.
    pub fn rank_for(&self, value: i64) -> usize {
        self.tiers
            .iter()
            .rposition(|t| value >= t.threshold)
            .unwrap_or(0)
    }
}

/// A movement of qualifying value; returns are negative and dated at the original order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QualifyingEvent {
    pub counts_at: Timestamp,
    pub points: i64,
    pub spend_minor: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TierOverride {
    pub rank: usize,
    pub until: Timestamp,
}

/// The member's tier as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TierState {
    /// The tier earned by qualification (what applies once any override ends).
    pub rank: usize,
    /// When the member reached `rank`.
    pub since: Timestamp,
    pub manual: Option<TierOverride>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TierChange {
    Keep,
    Upgrade,
    Downgrade,
    /// A manual override is in force; the underlying tier is evaluated but not applied.
    Override,
}

/// A downgrade ahead: when to tell the member, to which tier, and from when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DowngradeNotice {
    pub notify_at: Timestamp,
    pub to_rank: usize,
    pub effective_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TierDecision {
    /// The tier that applies now (the override's while one is in force).
    pub rank: usize,
    /// The tier by qualification alone, to store as [`TierState::rank`].
    pub underlying_rank: usize,
    pub change: TierChange,
    pub period_start: Timestamp,
    pub period_end: Timestamp,
    /// The value counted so far for the current period (window, for rolling periods).
    pub value: i64,
    /// The value of the previous period (the window ending at the period's start, for rolling).
    pub value_previous: i64,
    /// The next tier up and what is missing to reach it.
    pub next: Option<(usize, i64)>,
    pub notice: Option<DowngradeNotice>,
}

fn local_midnight(date: Date, zone: &TimeZone) -> Result<Timestamp, TierError> {
    start_of_local_day(date, zone).ok_or(TierError::OutOfRange)
}

fn add_days(at: Timestamp, days: i32, zone: &TimeZone) -> Result<Timestamp, TierError> {
    at.to_zoned(zone.clone())
        .checked_add(i64::from(days).days())
        .map(|z| z.timestamp())
        .map_err(|_| TierError::OutOfRange)
}

/// The review period containing `now`: `[start, end)`, local midnights as UTC.
pub fn period_bounds(
    period: TierPeriod,
    zone: &TimeZone,
    now: Timestamp,
) -> Result<(Timestamp, Timestamp), TierError> {
    let today = local_date(now, zone);
    let (start, end) = match period {
        TierPeriod::CalendarYear => {
            let first = today.first_of_year();
            (
                first,
                first
                    .checked_add(1.year())
                    .map_err(|_| TierError::OutOfRange)?,
            )
        }
        TierPeriod::Rolling { .. } => {
            let first = today.first_of_month();
            (
                first,
                first
                    .checked_add(1.month())
                    .map_err(|_| TierError::OutOfRange)?,
            )
        }
        TierPeriod::AnniversaryYear { anniversary } => {
            let on = |year: i16| {
                celebration_date(anniversary, year, LeapDayFallback::February28)
                    .ok_or(TierError::OutOfRange)
            };
            let this = on(today.year())?;
            let start = if this <= today {
                this
            } else {
                on(today.year() - 1)?
            };
            (start, on(start.year() + 1)?)
        }
    };
    Ok((local_midnight(start, zone)?, local_midnight(end, zone)?))
}

fn value_in(
    history: &[QualifyingEvent],
    basis: QualificationBasis,
    from: Timestamp,
    to: Timestamp,
    inclusive_end: bool,
) -> i64 {
    history
        .iter()
        .filter(|e| {
            e.counts_at >= from && (e.counts_at < to || (inclusive_end && e.counts_at == to))
        })
        .map(|e| match basis {
            QualificationBasis::QualifyingPoints => e.points,
            QualificationBasis::SpendMinor => e.spend_minor,
        })
        .fold(0_i64, i64::saturating_add)
}

/// For a rolling window: the value of `history` in the window ending at `now` (what
/// [`evaluate_tier`] counts as the current value), `None` for calendar and anniversary
/// periods. Intake uses it to make a member's counted value exact before an upgrade: between
/// reviews the stored value still holds purchases that have since left the window.
pub fn rolling_window_value(
    history: &[QualifyingEvent],
    config: &TierConfig,
    zone: &TimeZone,
    now: Timestamp,
) -> Result<Option<i64>, TierError> {
    Ok(rolling_window_start(config, zone, now)?
        .map(|from| value_in(history, config.basis, from, now, true)))
}

/// The start of the rolling window ending at `now`; `None` for other periods.
pub fn rolling_window_start(
    config: &TierConfig,
    zone: &TimeZone,
    now: Timestamp,
) -> Result<Option<Timestamp>, TierError> {
    match config.period {
        TierPeriod::Rolling { days } => add_days(now, -days, zone).map(Some),
        _ => Ok(None),
    }
}

/// The member's tier at `now`.
pub fn evaluate_tier(
    history: &[QualifyingEvent],
    config: &TierConfig,
    state: &TierState,
    zone: &TimeZone,
    now: Timestamp,
) -> Result<TierDecision, TierError> {
    let tiers = config.tiers.len();
    for rank in [Some(state.rank), state.manual.map(|m| m.rank)]
        .into_iter()
        .flatten()
    {
        if rank >= tiers {
            return Err(TierError::UnknownRank { rank, tiers });
        }
    }
    let (start, end) = period_bounds(config.period, zone, now)?;
    let (value_now, value_prev) = match config.period {
        TierPeriod::Rolling { days } => {
            let window_start = add_days(now, -days, zone)?;
            let boundary_window = add_days(start, -days, zone)?;
            (
                value_in(history, config.basis, window_start, now, true),
                value_in(history, config.basis, boundary_window, start, false),
            )
        }
        _ => {
            let (prev_start, _) = period_bounds(
                config.period,
                zone,
                start
                    .checked_sub(jiff::SignedDuration::from_secs(1))
                    .map_err(|_| TierError::OutOfRange)?,
            )?;
            (
                value_in(history, config.basis, start, now, true),
                value_in(history, config.basis, prev_start, start, false),
            )
        }
    };
    let earned_now = config.rank_for(value_now);
    let earned_prev = config.rank_for(value_prev);
    let current = state.rank;
    let target = |earned: usize| match config.downgrade {
        DowngradePolicy::OneDown => current.saturating_sub(1).max(earned),
        DowngradePolicy::ToEarned => earned,
    };

    let mut underlying = current;
    let mut change = TierChange::Keep;
    let mut notice = None;
    if earned_now > current {
        underlying = earned_now;
        change = TierChange::Upgrade;
    } else {
        let entitled = earned_prev.max(earned_now);
        let held_before_period = state.since < start;
        if current > entitled && held_before_period {
            let effective_at = add_days(start, config.grace_days, zone)?;
            let to_rank = target(entitled);
            if now >= effective_at {
                underlying = to_rank;
                change = TierChange::Downgrade;
            } else {
                notice = Some(DowngradeNotice {
                    notify_at: add_days(start, -config.notice_days, zone)?,
                    to_rank,
                    effective_at,
                });
            }
        } else if current > earned_now {
            // The current period has not (yet) held the tier: warn ahead of its end.
            notice = Some(DowngradeNotice {
                notify_at: add_days(end, -config.notice_days, zone)?,
                to_rank: target(earned_now),
                effective_at: add_days(end, config.grace_days, zone)?,
            });
        }
    }
    let rank = match state.manual {
        Some(o) if now < o.until => {
            change = TierChange::Override;
            o.rank
        }
        _ => underlying,
    };
    let next = config
        .tiers
        .get(underlying + 1)
        .map(|t| (underlying + 1, t.threshold.saturating_sub(value_now).max(0)));
    Ok(TierDecision {
        rank,
        underlying_rank: underlying,
        change,
        period_start: start,
        period_end: end,
        value: value_now,
        value_previous: value_prev,
        next,
        notice,
    })
}

/// The member's tier as materialised (one row per member), kept in step by every event that
/// moves it — an order's earn, a return, an override, a paid membership, the review at a
/// period's end — so that reading a member's tier is one primary-key lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberTier {
    /// The tier earned by qualification.
    pub rank: usize,
    /// When the member reached `rank`.
    pub since: Timestamp,
    /// The start of the review period `value_current` counts (the member's anniversary year
    /// for anniversary periods; for rolling windows the month of the last review).
    pub period_start: Timestamp,
    /// Qualifying value of the current period (for rolling windows: the window at the last
    /// review plus everything since, made exact again by each review and before an upgrade).
    pub value_current: i64,
    /// Qualifying value of the previous period.
    pub value_previous: i64,
    /// A downgrade ahead: to which tier, from when, and when the member is told.
    pub pending: Option<DowngradeNotice>,
    pub manual: Option<TierOverride>,
    /// A paid membership: the member is at least this tier until the term ends.
    pub membership: Option<TierOverride>,
}

impl MemberTier {
    /// A member seen for the first time at `now`: the first tier, nothing counted.
    pub fn new(
        config: &TierConfig,
        zone: &TimeZone,
        now: Timestamp,
    ) -> Result<MemberTier, TierError> {
        let (start, _) = period_bounds(config.period, zone, now)?;
        Ok(MemberTier {
            rank: 0,
            since: now,
            period_start: start,
            value_current: 0,
            value_previous: 0,
            pending: None,
            manual: None,
            membership: None,
        })
    }

    /// The tier that applies at `now`: the override's while one is in force, else the earned
    /// one; never below an active paid membership's.
    pub fn effective(&self, now: Timestamp) -> usize {
        let base = match self.manual {
            Some(o) if now < o.until => o.rank,
            _ => self.rank,
        };
        match self.membership {
            Some(m) if now < m.until => base.max(m.rank),
            _ => base,
        }
    }

    /// The state moved into the review period containing `now`: the current value becomes
    /// the previous one when exactly one period passed (zero when more did). Rolling windows
    /// keep counting (the review recomputes them from the ledger).
    pub fn rolled(
        &self,
        config: &TierConfig,
        zone: &TimeZone,
        now: Timestamp,
    ) -> Result<MemberTier, TierError> {
        let (start, _) = period_bounds(config.period, zone, now)?;
        if start <= self.period_start {
            return Ok(*self);
        }
        let mut next = *self;
        next.period_start = start;
        if let TierPeriod::Rolling { .. } = config.period {
            next.value_previous = self.value_current;
            return Ok(next);
        }
        let (prev_start, _) = period_bounds(
            config.period,
            zone,
            start
                .checked_sub(jiff::SignedDuration::from_secs(1))
                .map_err(|_| TierError::OutOfRange)?,
        )?;
        next.value_previous = if prev_start == self.period_start {
            self.value_current
        } else {
            0
        };
        next.value_current = 0;
        Ok(next)
    }

    /// Counts `value` (negative for a return) that counts at `counts_at` in a state already
    /// [`rolled`](Self::rolled) to `now`: into the current period, the previous one, or
    /// nowhere when older. A rise that reaches a higher tier upgrades at once; one that holds
    /// the current tier again cancels a pending downgrade. A fall never downgrades here: that
    /// happens only at a period's end.
    pub fn count(
        &mut self,
        config: &TierConfig,
        zone: &TimeZone,
        counts_at: Timestamp,
        value: i64,
        now: Timestamp,
    ) -> Result<TierChange, TierError> {
        let prev_start = match config.period {
            TierPeriod::Rolling { days } => add_days(self.period_start, -days, zone)?,
            _ => {
                period_bounds(
                    config.period,
                    zone,
                    self.period_start
                        .checked_sub(jiff::SignedDuration::from_secs(1))
                        .map_err(|_| TierError::OutOfRange)?,
                )?
                .0
            }
        };
        let window_start = match config.period {
            TierPeriod::Rolling { days } => add_days(now, -days, zone)?,
            _ => self.period_start,
        };
        if counts_at >= window_start {
            self.value_current = self.value_current.saturating_add(value);
        } else if counts_at >= prev_start && counts_at < self.period_start {
            self.value_previous = self.value_previous.saturating_add(value);
        }
        let earned = config.rank_for(self.value_current);
        if earned > self.rank {
            self.rank = earned;
            self.since = now;
            self.pending = None;
            return Ok(TierChange::Upgrade);
        }
        if earned == self.rank && value > 0 {
            self.pending = None;
        }
        Ok(TierChange::Keep)
    }

    /// Applies a review's decision (see [`evaluate_tier`]) made at `now`.
    pub fn apply(&mut self, decision: &TierDecision, now: Timestamp) {
        if decision.underlying_rank != self.rank {
            self.rank = decision.underlying_rank;
            self.since = now;
        }
        self.period_start = decision.period_start;
        self.value_current = decision.value;
        self.value_previous = decision.value_previous;
        self.pending = decision.notice;
    }

    /// The next instant a review must look at this member after `now`: for a member above
    /// the first tier the advance-notice instant and the end of the period; a pending notice
    /// or downgrade; the end of an override or of a paid membership. `None`: nothing ahead
    /// but new events (a first-tier member moves only by earning).
    pub fn review_at(
        &self,
        config: &TierConfig,
        zone: &TimeZone,
        notice_sent: bool,
        now: Timestamp,
    ) -> Result<Option<Timestamp>, TierError> {
        let (_, period_end) = period_bounds(config.period, zone, now.max(self.period_start))?;
        let notice_at = add_days(period_end, -config.notice_days, zone)?;
        let mut at: Option<Timestamp> = None;
        let mut consider = |t: Timestamp| {
            if t > now {
                at = Some(at.map_or(t, |a| a.min(t)));
            }
        };
        if self.rank > 0 || self.pending.is_some() {
            consider(notice_at);
            consider(period_end);
        }
        if let Some(p) = self.pending {
            if !notice_sent {
                consider(p.notify_at);
            }
            consider(p.effective_at);
        }
        if let Some(o) = self.manual {
            consider(o.until);
        }
        if let Some(m) = self.membership {
            consider(m.until);
        }
        Ok(at)
    }
}

#[cfg(test)]
mod tests;

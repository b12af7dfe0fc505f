//! When points expire: the expiry models of a wallet and the instants they produce.
//!
//! **Decision:** points are valid through the whole last local day of their validity, so a lot's
//! `expires_at` is **23:59:59 programme-local time** of that day, stored as the UTC instant (what
//! a member is shown, and what the time-zone test asks for). A lot counts as expired from
//! the next local midnight on ([`is_expired`]): `now ≥ expires_at + 1 s`, so a sub-second instant
//! inside 23:59:59 is still valid and the expiry job, run at local midnight, sees exactly the
//! day's lots. Validity is counted from the lot's *activation* (the end of its pending window, or
//! the earning instant if it had none): a return window never eats into a member's validity.
//!
//! Local dates come from the programme's IANA zone (Asia/Taipei by default, no DST); for zones
//! with DST, local midnight that falls in a gap moves to the first instant after it (jiff's
//! `start_of_day`).

use crate::FieldError;
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan};

/// Longest validity or inactivity window, in days (ten years).
pub const EXPIRY_DAYS_MAX: i32 = 3_660;
/// Earliest a reminder can be sent before expiry, in days.
pub const REMINDER_DAYS_BEFORE_MAX: i32 = 365;
/// Local time of day at which expiry reminders are due unless the caller picks another.
pub const REMINDER_LOCAL_TIME_DEFAULT: Time = Time::constant(10, 0, 0, 0);

/// A whole number of days, 1 to [`EXPIRY_DAYS_MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExpiryDays(i32);

impl ExpiryDays {
    pub fn new(days: i32) -> Result<ExpiryDays, FieldError> {
        if !(1..=EXPIRY_DAYS_MAX).contains(&days) {
            return Err(FieldError::new(
                "expiry.days",
                format!("must be 1 to {EXPIRY_DAYS_MAX}"),
            ));
        }
        Ok(ExpiryDays(days))
    }

    pub fn get(self) -> i32 {
        self.0
    }
}

/// Which calendar period's end a lot expires at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeriodAnchor {
    /// The end of the month (or year) the lot was activated in.
    Activation,
    /// The end of the month (or year) after that: the common Taiwanese "end of next year".
    Following,
}

/// A wallet's expiry model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiryPolicy {
    /// Points never expire (the only policy a paid stored-value wallet accepts).
    Never,
    /// Valid through the local day `days` after activation.
    DaysAfterActivation(ExpiryDays),
    /// Valid through the last local day of a month.
    EndOfMonth(PeriodAnchor),
    /// Valid through 31 December, local.
    EndOfYear(PeriodAnchor),
    /// The whole balance expires once the member has had no activity for `days`; lots carry no
    /// expiry of their own (see [`inactivity_expires_at`]).
    AfterInactivity(ExpiryDays),
}

impl ExpiryPolicy {
    pub fn is_never(self) -> bool {
        self == ExpiryPolicy::Never
    }
}

/// Why an expiry instant could not be computed: only dates beyond jiff's range (year 9999).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpiryError {
    #[error("expiry date is out of range for an activation at {activated_at}")]
    OutOfRange { activated_at: Timestamp },
}

/// The first instant of local date `date` in `zone` (local midnight), as UTC.
pub fn start_of_local_day(date: Date, zone: &TimeZone) -> Option<Timestamp> {
    let zoned = date.to_zoned(zone.clone()).ok()?;
    Some(zoned.start_of_day().ok()?.timestamp())
}

/// The last whole second of local date `date` in `zone` (23:59:59 where the day is 24 h long),
/// as UTC: one second before the next local midnight.
pub fn end_of_local_day(date: Date, zone: &TimeZone) -> Option<Timestamp> {
    let next = start_of_local_day(date.tomorrow().ok()?, zone)?;
    next.checked_sub(SignedDuration::from_secs(1)).ok()
}

/// The local calendar date of `at` in `zone`.
pub fn local_date(at: Timestamp, zone: &TimeZone) -> Date {
    zone.to_datetime(at).date()
}

/// Whether a lot that `expires_at` is expired at `now`: from the next local midnight on.
pub fn is_expired(expires_at: Timestamp, now: Timestamp) -> bool {
    match expires_at.checked_add(SignedDuration::from_secs(1)) {
        Ok(boundary) => now >= boundary,
        Err(_) => false,
    }
}

/// When a lot activated at `activated_at` expires under `policy`, or `None` if it does not carry
/// its own expiry (`Never`, `AfterInactivity`).
pub fn lot_expires_at(
    policy: ExpiryPolicy,
    activated_at: Timestamp,
    zone: &TimeZone,
) -> Result<Option<Timestamp>, ExpiryError> {
    let out_of_range = || ExpiryError::OutOfRange { activated_at };
    let day = local_date(activated_at, zone);
    let last_day = match policy {
        ExpiryPolicy::Never | ExpiryPolicy::AfterInactivity(_) => return Ok(None),
        ExpiryPolicy::DaysAfterActivation(days) => day
            .checked_add(i64::from(days.get()).days())
            .map_err(|_| out_of_range())?,
        ExpiryPolicy::EndOfMonth(anchor) => {
            let months = match anchor {
                PeriodAnchor::Activation => 0,
                PeriodAnchor::Following => 1,
            };
            day.first_of_month()
                .checked_add(months.months())
                .map_err(|_| out_of_range())?
                .last_of_month()
        }
        ExpiryPolicy::EndOfYear(anchor) => {
            let years = match anchor {
                PeriodAnchor::Activation => 0,
                PeriodAnchor::Following => 1,
            };
            day.first_of_year()
                .checked_add(years.years())
                .map_err(|_| out_of_range())?
                .last_of_year()
        }
    };
    end_of_local_day(last_day, zone)
        .map(Some)
        .ok_or_else(out_of_range)
}

/// Under `AfterInactivity(days)`, when the whole balance expires given the member's last
/// activity; `None` for every other policy.
pub fn inactivity_expires_at(
    policy: ExpiryPolicy,
    last_activity_at: Timestamp,
    zone: &TimeZone,
) -> Result<Option<Timestamp>, ExpiryError> {
    match policy {
        ExpiryPolicy::AfterInactivity(days) => lot_expires_at(
            ExpiryPolicy::DaysAfterActivation(days),
            last_activity_at,
            zone,
        ),
        _ => Ok(None),
    }
}

/// A count of days before expiry at which to remind, 0 to [`REMINDER_DAYS_BEFORE_MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReminderDays(i32);

impl ReminderDays {
    pub fn new(days: i32) -> Result<ReminderDays, FieldError> {
        if !(0..=REMINDER_DAYS_BEFORE_MAX).contains(&days) {
            return Err(FieldError::new(
                "reminder.days_before",
                format!("must be 0 to {REMINDER_DAYS_BEFORE_MAX}"),
            ));
        }
        Ok(ReminderDays(days))
    }

    pub fn get(self) -> i32 {
        self.0
    }
}

/// When to remind a member of points that expire at `expires_at`: at `local_time` on the local
/// date `days_before` days before the last valid day. `None` only out of jiff's range.
pub fn reminder_at(
    expires_at: Timestamp,
    days_before: ReminderDays,
    local_time: Time,
    zone: &TimeZone,
) -> Option<Timestamp> {
    let last_day = local_date(expires_at, zone);
    let day = last_day
        .checked_sub(i64::from(days_before.get()).days())
        .ok()?;
    zone.to_ambiguous_zoned(day.to_datetime(local_time))
        .compatible()
        .ok()
        .map(|z| z.timestamp())
}

#[cfg(test)]
mod tests;

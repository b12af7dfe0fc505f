//! Business calendars: when a shop's desk is open, so SLA clocks can count business time.
//!
//! A [`Calendar`] is an IANA time zone, weekly [`Frame`]s per weekday (several per day, so a
//! lunch break is simply a gap; a frame may end at `24:00`) and dated [`Exception`]s: holidays,
//! 補班 make-up workdays, partial closures (a typhoon signal from 14:00) and partial openings.
//! Open time on a local date follows helpdesk.md §B.2:
//!
//! > open(date) = weekly frames of its weekday ∪ active `Open` exceptions − active `Close` exceptions
//!
//! so **a closure always wins**: a holiday that falls on a declared make-up day is closed, and
//! a typhoon closure cuts into 補班 hours too. Local times are turned into instants with jiff's
//! "compatible" rule (a frame boundary inside a skipped hour moves past the gap; inside a
//! repeated hour it takes the first occurrence), so DST zones count real elapsed time.
//!
//! Everything here is a pure function of its arguments. Searches are bounded by
//! [`SLA_SEARCH_DAYS_MAX`], so a calendar with no open time returns an error instead of looping.

mod ical;
mod presets;

pub use ical::{
    ICAL_BYTES_MAX, ICAL_EVENT_DAYS_MAX, ICAL_EVENTS_MAX, IcalError, parse_ical_holidays,
};
pub use presets::{hong_kong_2026, hong_kong_weekly, taiwan_2026, taiwan_weekly};

use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::ControlFlow;
use std::sync::Arc;

/// Frames on one weekday or in one exception. Shops have two or three; 12 leaves room for
/// shift patterns without letting one calendar grow without bound.
pub const CALENDAR_FRAMES_PER_DAY_MAX: usize = 12;
/// Dated exceptions in one calendar: ten years of holidays, make-up days and closures.
pub const CALENDAR_EXCEPTIONS_MAX: usize = 2_000;
/// Longest label of an exception ("National Day", "颱風停班"), in characters.
pub const CALENDAR_LABEL_CHARS_MAX: usize = 200;
/// How far ahead a deadline, next-open or end-of-business-day search looks, in days.
/// A calendar with no open time in this window has no answer: an error, never a loop.
pub const SLA_SEARCH_DAYS_MAX: i64 = 400;
/// Longest range [`Calendar::business_time`] measures, in days (ten years).
pub const CALENDAR_RANGE_DAYS_MAX: i64 = 3_660;
/// Minutes in a local day; a frame's end may equal it (`24:00`).
pub const MINUTES_PER_DAY: u16 = 1_440;
/// Most local dates one [`Calendar::indexed`] precomputes (two years; a few tens of bytes each).
pub const CALENDAR_INDEX_DAYS_MAX: i64 = 732;

/// A half-open local time range `[start, end)` within one day, minute resolution.
/// `end` may be `24:00`; `end > start` always holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Frame {
    start: u16,
    end: u16,
}

/// Why a frame could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("{value:?} is not a time of day HH:MM between 00:00 and 24:00")]
    BadTimeOfDay { value: String },
    #[error("the frame ends at {end}, not after its start {start}")]
    EndNotAfterStart { start: String, end: String },
}

impl Frame {
    /// A frame from minutes after local midnight: `0 <= start < end <= 1440`.
    pub fn from_minutes(start: u16, end: u16) -> Result<Frame, FrameError> {
        for value in [start, end] {
            if value > MINUTES_PER_DAY {
                return Err(FrameError::BadTimeOfDay {
                    value: value.to_string(),
                });
            }
        }
        if end <= start {
            return Err(FrameError::EndNotAfterStart {
                start: hhmm(start),
                end: hhmm(end),
            });
        }
        Ok(Frame { start, end })
    }

    /// A frame from two `HH:MM` strings; `24:00` is accepted as an end.
    pub fn parse(start: &str, end: &str) -> Result<Frame, FrameError> {
        Frame::from_minutes(parse_hhmm(start)?, parse_hhmm(end)?)
    }

    /// The whole local day, `00:00–24:00`.
    pub fn whole_day() -> Frame {
        Frame {
            start: 0,
            end: MINUTES_PER_DAY,
        }
    }

    /// Minutes after local midnight at which the frame opens.
    pub fn start_minute(self) -> u16 {
        self.start
    }

    /// Minutes after local midnight at which the frame closes (1440 for `24:00`).
    pub fn end_minute(self) -> u16 {
        self.end
    }

    fn overlaps(self, other: Frame) -> bool {
        self.start < other.end && other.start < self.end
    }
}

impl fmt::Display for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", hhmm(self.start), hhmm(self.end))
    }
}

fn hhmm(minute: u16) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

fn parse_hhmm(text: &str) -> Result<u16, FrameError> {
    let bad = || FrameError::BadTimeOfDay {
        value: text.to_string(),
    };
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return Err(bad());
    }
    if !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let h: u16 = h.parse().map_err(|_| bad())?;
    let m: u16 = m.parse().map_err(|_| bad())?;
    if m > 59 || h > 24 || (h == 24 && m != 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

/// What a dated exception does to its date's open time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Change {
    /// The frames are closed (a holiday is `Close` over the whole day). Closures win.
    Close,
    /// The frames are open in addition to the weekly frames (補班, special openings).
    Open,
}

/// One dated exception to the weekly frames, in the calendar's local time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exception {
    pub date: Date,
    pub change: Change,
    pub frames: Vec<Frame>,
    pub label: String,
    /// Inactive entries stay in the editable list but change nothing (Zammad's holiday toggle).
    pub active: bool,
}

impl Exception {
    /// A public holiday: the whole date closed.
    pub fn holiday(date: Date, label: impl Into<String>) -> Exception {
        Exception {
            date,
            change: Change::Close,
            frames: vec![Frame::whole_day()],
            label: label.into(),
            active: true,
        }
    }

    /// A 補班 make-up workday: a normally closed date open with `frames`.
    pub fn make_up_workday(date: Date, frames: Vec<Frame>, label: impl Into<String>) -> Exception {
        Exception {
            date,
            change: Change::Open,
            frames,
            label: label.into(),
            active: true,
        }
    }

    /// A partial closure, e.g. a typhoon closure `14:00–24:00`.
    pub fn closure(date: Date, frame: Frame, label: impl Into<String>) -> Exception {
        Exception {
            date,
            change: Change::Close,
            frames: vec![frame],
            label: label.into(),
            active: true,
        }
    }

    /// A partial opening, e.g. an extra Sunday sale `10:00–14:00`.
    pub fn opening(date: Date, frame: Frame, label: impl Into<String>) -> Exception {
        Exception {
            date,
            change: Change::Open,
            frames: vec![frame],
            label: label.into(),
            active: true,
        }
    }
}

/// The input of [`Calendar::new`]: what an admin edits.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CalendarSpec {
    /// IANA time zone name, e.g. `Asia/Taipei`, `Asia/Hong_Kong`.
    pub zone: String,
    /// Frames per weekday, Monday first (`weekly[0]` is Monday, `weekly[6]` Sunday).
    pub weekly: [Vec<Frame>; 7],
    pub exceptions: Vec<Exception>,
}

/// Why a [`CalendarSpec`] is not a calendar. `field` names the offending entry, e.g.
/// `weekly.mon` or `exceptions[3].frames`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("zone: unknown IANA time zone {zone:?}")]
    UnknownZone { zone: String },
    #[error("{field}: frame {second} overlaps frame {first}")]
    Overlap {
        field: String,
        first: Frame,
        second: Frame,
    },
    #[error("{field}: {count} frames, at most {CALENDAR_FRAMES_PER_DAY_MAX}")]
    TooManyFrames { field: String, count: usize },
    #[error("{field}: an exception needs at least one frame")]
    NoFrames { field: String },
    #[error("exceptions: {count} entries, at most {CALENDAR_EXCEPTIONS_MAX}")]
    TooManyExceptions { count: usize },
    #[error("{field}: label longer than {CALENDAR_LABEL_CHARS_MAX} characters")]
    LabelTooLong { field: String },
}

impl CalendarError {
    /// The same error as a [`crate::FieldError`], for callers that report field lists.
    pub fn to_field_error(&self) -> crate::FieldError {
        let field = match self {
            CalendarError::UnknownZone { .. } => "zone".to_string(),
            CalendarError::TooManyExceptions { .. } => "exceptions".to_string(),
            CalendarError::Overlap { field, .. }
            | CalendarError::TooManyFrames { field, .. }
            | CalendarError::NoFrames { field }
            | CalendarError::LabelTooLong { field } => field.clone(),
        };
        let text = self.to_string();
        let reason = match text.split_once(": ") {
            Some((_, reason)) => reason.to_string(),
            None => text,
        };
        crate::FieldError::new(field, reason)
    }
}

/// Why a question about business time has no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error("no open time within {SLA_SEARCH_DAYS_MAX} days after {from}")]
    NoOpenTime { from: Timestamp },
    #[error("the range is longer than {CALENDAR_RANGE_DAYS_MAX} days")]
    RangeTooLong,
    #[error("the range ends before it starts")]
    EndBeforeStart,
    #[error("the duration is negative")]
    NegativeDuration,
    #[error("the instant is outside the supported time range")]
    OutOfRange,
}

/// A half-open instant interval `[start, end)`: a pause, an open span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Interval {
    pub start: Timestamp,
    pub end: Timestamp,
}

impl Interval {
    pub fn new(start: Timestamp, end: Timestamp) -> Interval {
        Interval { start, end }
    }

    pub fn duration(self) -> SignedDuration {
        self.end.duration_since(self.start)
    }
}

/// Local-minute ranges `(start, end)` of one day, sorted, disjoint and non-adjacent.
type DayMinutes = Vec<(u16, u16)>;

/// A validated business calendar. Build it with [`Calendar::new`].
#[derive(Debug, Clone)]
pub struct Calendar {
    zone_name: String,
    zone: TimeZone,
    weekly: [DayMinutes; 7],
    /// Active exceptions by date: (extra open, closed), each merged.
    exceptions: BTreeMap<Date, (DayMinutes, DayMinutes)>,
    /// Open spans of a run of dates, computed once ([`Calendar::indexed`]); shared by clones.
    index: Option<Arc<DayIndex>>,
}

/// The local midnights and open spans of consecutive local dates, exactly as
/// [`Calendar::local_instant`] and [`Calendar::day_spans`] compute them, so a scan over those
/// dates reads them instead of converting local times to instants again (the bulk SLA
/// recompute evaluates thousands of tickets against one calendar over the same few days).
#[derive(Debug)]
struct DayIndex {
    /// [`day_number`] of the first date.
    first_day: i64,
    /// Local midnight of each date, as an instant.
    midnights: Vec<Timestamp>,
    /// The open spans of date `i` are `spans[starts[i]..starts[i + 1]]`.
    starts: Vec<usize>,
    spans: Vec<Interval>,
}

impl DayIndex {
    fn day(&self, date: Date) -> Option<(Timestamp, &[Interval])> {
        let i = usize::try_from(day_number(date) - self.first_day).ok()?;
        let midnight = *self.midnights.get(i)?;
        let (&start, &end) = (self.starts.get(i)?, self.starts.get(i + 1)?);
        Some((midnight, &self.spans[start..end]))
    }
}

/// Days from 1970-01-01 to `date` in the proleptic Gregorian calendar (negative before it).
fn day_number(date: Date) -> i64 {
    let (month, day) = (i64::from(date.month()), i64::from(date.day()));
    // Years start in March, so the leap day is the last day of its year.
    let year = i64::from(date.year()) - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

const WEEKDAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn check_frames(field: &str, frames: &[Frame]) -> Result<(), CalendarError> {
    if frames.len() > CALENDAR_FRAMES_PER_DAY_MAX {
        return Err(CalendarError::TooManyFrames {
            field: field.to_string(),
            count: frames.len(),
        });
    }
    for (i, first) in frames.iter().enumerate() {
        for second in &frames[i + 1..] {
            if first.overlaps(*second) {
                return Err(CalendarError::Overlap {
                    field: field.to_string(),
                    first: *first,
                    second: *second,
                });
            }
        }
    }
    Ok(())
}

/// Sorted union of minute ranges; touching ranges merge (12:00–13:00 + 13:00–14:00).
fn union(mut ranges: Vec<(u16, u16)>) -> DayMinutes {
    ranges.sort_unstable();
    let mut out: DayMinutes = Vec::with_capacity(ranges.len());
    for (start, end) in ranges {
        match out.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => out.push((start, end)),
        }
    }
    out
}

/// `open − closed`, both sorted and disjoint.
fn subtract(open: &[(u16, u16)], closed: &[(u16, u16)]) -> DayMinutes {
    let mut out = Vec::new();
    for &(start, end) in open {
        let mut cursor = start;
        for &(cs, ce) in closed {
            if ce <= cursor || cs >= end {
                continue;
            }
            if cs > cursor {
                out.push((cursor, cs));
            }
            cursor = cursor.max(ce);
        }
        if cursor < end {
            out.push((cursor, end));
        }
    }
    out
}

impl Calendar {
    /// Parse a spec into a calendar: the zone must exist, frames of one weekday or one
    /// exception must not overlap, and the limits hold. Exceptions on the same date combine
    /// (opens are unioned, closures are unioned, then closures win).
    pub fn new(spec: &CalendarSpec) -> Result<Calendar, CalendarError> {
        let zone = TimeZone::get(&spec.zone).map_err(|_| CalendarError::UnknownZone {
            zone: spec.zone.clone(),
        })?;
        let mut weekly: [DayMinutes; 7] = Default::default();
        for (day, frames) in spec.weekly.iter().enumerate() {
            let field = format!("weekly.{}", WEEKDAY_NAMES[day]);
            check_frames(&field, frames)?;
            weekly[day] = union(frames.iter().map(|f| (f.start, f.end)).collect());
        }
        if spec.exceptions.len() > CALENDAR_EXCEPTIONS_MAX {
            return Err(CalendarError::TooManyExceptions {
                count: spec.exceptions.len(),
            });
        }
        let mut raw: BTreeMap<Date, (DayMinutes, DayMinutes)> = BTreeMap::new();
        for (i, exception) in spec.exceptions.iter().enumerate() {
            let field = format!("exceptions[{i}]");
            if exception.label.chars().count() > CALENDAR_LABEL_CHARS_MAX {
                return Err(CalendarError::LabelTooLong {
                    field: format!("{field}.label"),
                });
            }
            let frames_field = format!("{field}.frames");
            if exception.frames.is_empty() {
                return Err(CalendarError::NoFrames {
                    field: frames_field,
                });
            }
            check_frames(&frames_field, &exception.frames)?;
            if !exception.active {
                continue;
            }
            let entry = raw.entry(exception.date).or_default();
            let target = match exception.change {
                Change::Open => &mut entry.0,
                Change::Close => &mut entry.1,
            };
            target.extend(exception.frames.iter().map(|f| (f.start, f.end)));
        }
        let exceptions = raw
            .into_iter()
            .map(|(date, (open, closed))| (date, (union(open), union(closed))))
            .collect();
        Ok(Calendar {
            zone_name: spec.zone.clone(),
            zone,
            weekly,
            exceptions,
            index: None,
        })
    }

    /// The same calendar with the open spans of the local dates around `[from, until]`
    /// computed once (the last [`CALENDAR_INDEX_DAYS_MAX`] of them when there are more).
    /// Every answer is the same as without the index; questions about other dates compute
    /// their spans as usual. Dates out of range build no index.
    pub fn indexed(mut self, from: Timestamp, until: Timestamp) -> Calendar {
        self.index = None;
        self.index = self.build_index(from, until).map(Arc::new);
        self
    }

    fn build_index(&self, from: Timestamp, until: Timestamp) -> Option<DayIndex> {
        let last = self.local_date(until.max(from)).tomorrow().ok()?;
        let mut first = self.local_date(from).yesterday().ok()?;
        let mut days = day_number(last) - day_number(first) + 1;
        if days > CALENDAR_INDEX_DAYS_MAX {
            first = last
                .checked_sub(jiff::Span::new().days(CALENDAR_INDEX_DAYS_MAX - 1))
                .ok()?;
            days = CALENDAR_INDEX_DAYS_MAX;
        }
        let mut index = DayIndex {
            first_day: day_number(first),
            midnights: Vec::with_capacity(usize::try_from(days).ok()?),
            starts: Vec::with_capacity(usize::try_from(days + 1).ok()?),
            spans: Vec::new(),
        };
        let mut date = first;
        for _ in 0..days {
            index.midnights.push(self.local_instant(date, 0).ok()?);
            index.starts.push(index.spans.len());
            index.spans.extend(self.day_spans(date).ok()?);
            date = date.tomorrow().ok()?;
        }
        index.starts.push(index.spans.len());
        Some(index)
    }

    /// Local midnight of `date` as an instant and its open spans, from the index when it
    /// covers the date.
    fn day(&self, date: Date) -> Result<(Timestamp, Cow<'_, [Interval]>), TimeError> {
        if let Some((midnight, spans)) = self.index.as_deref().and_then(|i| i.day(date)) {
            return Ok((midnight, Cow::Borrowed(spans)));
        }
        Ok((
            self.local_instant(date, 0)?,
            Cow::Owned(self.day_spans(date)?),
        ))
    }

    /// The IANA name the calendar was built with.
    pub fn zone_name(&self) -> &str {
        &self.zone_name
    }

    pub fn zone(&self) -> &TimeZone {
        &self.zone
    }

    /// Open local minute ranges of `date` after applying its exceptions.
    fn day_minutes(&self, date: Date) -> DayMinutes {
        let weekday = usize::try_from(date.weekday().to_monday_zero_offset()).unwrap_or(0);
        let base = &self.weekly[weekday % 7];
        match self.exceptions.get(&date) {
            None => base.clone(),
            Some((open, closed)) => {
                let mut all = base.clone();
                all.extend_from_slice(open);
                subtract(&union(all), closed)
            }
        }
    }

    /// The open frames of a local date, after exceptions (for display and previews).
    pub fn frames_on(&self, date: Date) -> Vec<Frame> {
        self.day_minutes(date)
            .into_iter()
            .map(|(start, end)| Frame { start, end })
            .collect()
    }

    fn local_instant(&self, date: Date, minute: u16) -> Result<Timestamp, TimeError> {
        let (date, minute) = if minute >= MINUTES_PER_DAY {
            (date.tomorrow().map_err(|_| TimeError::OutOfRange)?, 0)
        } else {
            (date, minute)
        };
        let hour = i8::try_from(minute / 60).map_err(|_| TimeError::OutOfRange)?;
        let min = i8::try_from(minute % 60).map_err(|_| TimeError::OutOfRange)?;
        let time = Time::new(hour, min, 0, 0).map_err(|_| TimeError::OutOfRange)?;
        self.zone
            .to_ambiguous_timestamp(DateTime::from_parts(date, time))
            .compatible()
            .map_err(|_| TimeError::OutOfRange)
    }

    /// Open instant intervals of a local date, sorted.
    fn day_spans(&self, date: Date) -> Result<Vec<Interval>, TimeError> {
        let mut spans = Vec::new();
        for (start, end) in self.day_minutes(date) {
            let span = Interval::new(
                self.local_instant(date, start)?,
                self.local_instant(date, end)?,
            );
            // A frame swallowed by a DST gap converts to an empty or reversed span.
            if span.start < span.end {
                spans.push(span);
            }
        }
        Ok(spans)
    }

    fn local_date(&self, at: Timestamp) -> Date {
        self.zone.to_datetime(at).date()
    }

    /// Visit the open spans clipped to `[from, until)`, in order, until `visit` breaks.
    pub(crate) fn scan(
        &self,
        from: Timestamp,
        until: Timestamp,
        mut visit: impl FnMut(Interval) -> ControlFlow<()>,
    ) -> Result<(), TimeError> {
        if until <= from {
            return Ok(());
        }
        // Start a day early: with DST or a 24:00 end the previous date can reach past midnight.
        let mut date = self
            .local_date(from)
            .yesterday()
            .map_err(|_| TimeError::OutOfRange)?;
        loop {
            let (midnight, spans) = self.day(date)?;
            if midnight >= until {
                return Ok(());
            }
            for span in spans.iter() {
                let start = span.start.max(from);
                let end = span.end.min(until);
                if start < end && visit(Interval::new(start, end)).is_break() {
                    return Ok(());
                }
            }
            date = date.tomorrow().map_err(|_| TimeError::OutOfRange)?;
        }
    }

    /// Whether the desk is open at `at` (frames are half-open: open at 09:00, closed at 18:00).
    pub fn is_open(&self, at: Timestamp) -> Result<bool, TimeError> {
        let until = at
            .checked_add(SignedDuration::from_nanos(1))
            .map_err(|_| TimeError::OutOfRange)?;
        let mut open = false;
        self.scan(at, until, |_| {
            open = true;
            ControlFlow::Break(())
        })?;
        Ok(open)
    }

    /// The first open instant at or after `at` (`at` itself when open).
    pub fn next_open(&self, at: Timestamp) -> Result<Timestamp, TimeError> {
        let until = search_limit(at)?;
        let mut found = None;
        self.scan(at, until, |span| {
            found = Some(span.start);
            ControlFlow::Break(())
        })?;
        found.ok_or(TimeError::NoOpenTime { from: at })
    }

    /// Business time in `[from, until)`.
    pub fn business_time(
        &self,
        from: Timestamp,
        until: Timestamp,
    ) -> Result<SignedDuration, TimeError> {
        Basis::Business(self).measure(from, until, &[])
    }

    /// The deadline `add(from, amount)`: the smallest instant `t >= from` with
    /// `business_time(from, t) == amount`. Used up exactly at a closing instant, the deadline
    /// is that closing instant, not the next opening (helpdesk.md T11).
    pub fn add_business(
        &self,
        from: Timestamp,
        amount: SignedDuration,
    ) -> Result<Timestamp, TimeError> {
        Basis::Business(self).add(from, amount, &[])
    }

    /// The close of a business day: the last closing instant of the first local date with open
    /// time at or after `at` (the day containing `at`, or the next one if `at` is after its
    /// close), then `days_after` further dates with open time. `0` is "same day", `1` "next
    /// business day".
    pub fn end_of_business_day(
        &self,
        at: Timestamp,
        days_after: u16,
    ) -> Result<Timestamp, TimeError> {
        let limit = search_limit(at)?;
        let mut date = self.local_date(at);
        let mut remaining = days_after;
        let mut found_first = false;
        loop {
            let (midnight, spans) = self.day(date)?;
            if midnight >= limit {
                return Err(TimeError::NoOpenTime { from: at });
            }
            if let Some(last) = spans.last() {
                if found_first {
                    remaining = remaining.saturating_sub(1);
                } else {
                    found_first = last.end > at;
                }
                if found_first && remaining == 0 {
                    return Ok(last.end);
                }
            }
            date = date.tomorrow().map_err(|_| TimeError::OutOfRange)?;
        }
    }

    /// `[from, until)` cut into local-date pieces in the calendar's zone, as
    /// `(date, frame)`, e.g. a pause from 23:45 to 00:45 is `23:45–24:00` and `00:00–00:45`
    /// (how Zammad stores pauses as calendar breaks; helpdesk.md T17).
    pub fn local_day_pieces(
        &self,
        from: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<(Date, Frame)>, TimeError> {
        if until < from {
            return Err(TimeError::EndBeforeStart);
        }
        if until.duration_since(from) > range_max() {
            return Err(TimeError::RangeTooLong);
        }
        let mut pieces = Vec::new();
        let mut date = self.local_date(from);
        loop {
            let day_start = self.local_instant(date, 0)?;
            let day_end = self.local_instant(date, MINUTES_PER_DAY)?;
            if day_start >= until {
                return Ok(pieces);
            }
            let start = from.max(day_start);
            let end = until.min(day_end);
            if start < end {
                let start_min = self.minute_of_day(start, date);
                let end_min = if end == day_end {
                    MINUTES_PER_DAY
                } else {
                    self.minute_of_day(end, date)
                };
                if let Ok(frame) = Frame::from_minutes(start_min, end_min) {
                    pieces.push((date, frame));
                }
            }
            date = date.tomorrow().map_err(|_| TimeError::OutOfRange)?;
        }
    }

    /// The start of the local date after the one containing `at`: everything
    /// [`Calendar::end_of_business_day`] looked at to answer `at` lies before it.
    pub(crate) fn next_midnight(&self, at: Timestamp) -> Result<Timestamp, TimeError> {
        let date = self.local_date(at);
        let next = date.tomorrow().map_err(|_| TimeError::OutOfRange)?;
        match self.index.as_deref().and_then(|i| i.day(next)) {
            Some((midnight, _)) => Ok(midnight),
            None => self.local_instant(next, 0),
        }
    }

    /// The first instant from which `other` may answer a business-time question differently
    /// from `self`: `None` when the two calendars answer every question alike,
    /// `Some(Timestamp::MIN)` when anything may change (another zone, other weekly frames, or
    /// a changed date within four days of a UTC offset change of the zone).
    ///
    /// The guarantee (what lets a recompute skip tickets, see `sla::SlaState::calendar_horizon`):
    /// every [`Basis::add_until`], [`Calendar::next_open`] and [`Basis::measure`] whose answer
    /// (or scan limit) is before the returned instant `T`, and every
    /// [`Calendar::end_of_business_day`] whose answer's following local midnight is before `T`,
    /// gives the same answer on both calendars. Why: the scans visit local dates in order and
    /// dates before the first changed date `D` have the same open spans; with a fixed UTC offset
    /// around `D`, the spans of `D` lie in `[midnight D, midnight D+1]`, agree before `T` (the
    /// first instant where one is open and the other is not) and later dates start after them
    /// (even a 26 h offset change after the window cannot bring a later date before `T`).
    pub fn first_difference(&self, other: &Calendar) -> Result<Option<Timestamp>, TimeError> {
        if self.zone_name != other.zone_name || self.weekly != other.weekly {
            return Ok(Some(Timestamp::MIN));
        }
        let dates: std::collections::BTreeSet<Date> = self
            .exceptions
            .keys()
            .chain(other.exceptions.keys())
            .copied()
            .collect();
        for date in dates {
            if self.day_minutes(date) == other.day_minutes(date) {
                continue;
            }
            let midnight = self.local_instant(date, 0)?;
            let window_start = midnight
                .checked_sub(SignedDuration::from_hours(48))
                .unwrap_or(Timestamp::MIN);
            let window_end = midnight
                .checked_add(SignedDuration::from_hours(96))
                .unwrap_or(Timestamp::MAX);
            let transition = self.zone.following(window_start).next();
            if transition.is_some_and(|t| t.timestamp() <= window_end) {
                return Ok(Some(Timestamp::MIN));
            }
            let (mine, theirs) = (self.day_spans(date)?, other.day_spans(date)?);
            if mine == theirs {
                continue;
            }
            return Ok(Some(first_disagreement(&mine, &theirs)));
        }
        Ok(None)
    }

    fn minute_of_day(&self, at: Timestamp, date: Date) -> u16 {
        let local = self.zone.to_datetime(at);
        if local.date() != date {
            return 0;
        }
        let minutes = i32::from(local.hour()) * 60 + i32::from(local.minute());
        u16::try_from(minutes).unwrap_or(0)
    }
}

/// The first instant inside exactly one of two lists of sorted, disjoint half-open spans
/// (the lists differ, so there is one; it is a boundary of some span).
fn first_disagreement(a: &[Interval], b: &[Interval]) -> Timestamp {
    let inside = |spans: &[Interval], t: Timestamp| spans.iter().any(|s| s.start <= t && t < s.end);
    let mut points: Vec<Timestamp> = a.iter().chain(b).flat_map(|s| [s.start, s.end]).collect();
    points.sort_unstable();
    points
        .into_iter()
        .find(|&t| inside(a, t) != inside(b, t))
        .unwrap_or(Timestamp::MIN)
}

fn search_limit(from: Timestamp) -> Result<Timestamp, TimeError> {
    let days = SignedDuration::from_hours(24 * SLA_SEARCH_DAYS_MAX);
    Ok(from.checked_add(days).unwrap_or(Timestamp::MAX))
}

fn range_max() -> SignedDuration {
    SignedDuration::from_hours(24 * CALENDAR_RANGE_DAYS_MAX)
}

/// What a target counts: the calendar's open time, or all time (calendar-hour targets).
/// Pauses are subtracted in both cases (helpdesk.md §B.2).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Basis<'a> {
    Business(&'a Calendar),
    AllTime,
}

impl Basis<'_> {
    /// Visit counted spans in `[from, until)`: open time minus `pauses` (sorted, disjoint).
    fn scan_unpaused(
        self,
        from: Timestamp,
        until: Timestamp,
        pauses: &[Interval],
        mut visit: impl FnMut(Interval) -> ControlFlow<()>,
    ) -> Result<(), TimeError> {
        let mut cut = |span: Interval| -> ControlFlow<()> {
            let mut cursor = span.start;
            for pause in pauses {
                if pause.end <= cursor || pause.start >= span.end {
                    continue;
                }
                if pause.start > cursor {
                    visit(Interval::new(cursor, pause.start))?;
                }
                cursor = cursor.max(pause.end);
                if cursor >= span.end {
                    return ControlFlow::Continue(());
                }
            }
            if cursor < span.end {
                visit(Interval::new(cursor, span.end))?;
            }
            ControlFlow::Continue(())
        };
        match self {
            Basis::Business(calendar) => calendar.scan(from, until, cut),
            Basis::AllTime => {
                if from < until {
                    let _ = cut(Interval::new(from, until));
                }
                Ok(())
            }
        }
    }

    /// Counted time in `[from, until)`, pauses excluded.
    pub(crate) fn measure(
        self,
        from: Timestamp,
        until: Timestamp,
        pauses: &[Interval],
    ) -> Result<SignedDuration, TimeError> {
        if until < from {
            return Err(TimeError::EndBeforeStart);
        }
        if until.duration_since(from) > range_max() {
            return Err(TimeError::RangeTooLong);
        }
        let mut total = SignedDuration::ZERO;
        self.scan_unpaused(from, until, pauses, |span| {
            total = total.saturating_add(span.duration());
            ControlFlow::Continue(())
        })?;
        Ok(total)
    }

    /// The smallest `t >= from` with `measure(from, t) == amount`, looking no further than
    /// `limit`; `None` when `limit` comes first.
    pub(crate) fn add_until(
        self,
        from: Timestamp,
        amount: SignedDuration,
        pauses: &[Interval],
        limit: Timestamp,
    ) -> Result<Option<Timestamp>, TimeError> {
        if amount.is_negative() {
            return Err(TimeError::NegativeDuration);
        }
        if amount.is_zero() {
            return Ok(Some(from));
        }
        let mut remaining = amount;
        let mut found = None;
        self.scan_unpaused(from, limit, pauses, |span| {
            let length = span.duration();
            if remaining <= length {
                found = span.start.checked_add(remaining).ok();
                return ControlFlow::Break(());
            }
            remaining = remaining.saturating_sub(length);
            ControlFlow::Continue(())
        })?;
        Ok(found)
    }

    /// [`Basis::add_until`] with the [`SLA_SEARCH_DAYS_MAX`] bound.
    pub(crate) fn add(
        self,
        from: Timestamp,
        amount: SignedDuration,
        pauses: &[Interval],
    ) -> Result<Timestamp, TimeError> {
        self.add_until(from, amount, pauses, search_limit(from)?)?
            .ok_or(TimeError::NoOpenTime { from })
    }
}

/// Weekly frames for `days` (Monday = 0) set to `frames`, other days closed.
pub fn weekly_frames(days: &[Weekday], frames: &[Frame]) -> [Vec<Frame>; 7] {
    let mut weekly: [Vec<Frame>; 7] = Default::default();
    for day in days {
        let index = usize::try_from(day.to_monday_zero_offset()).unwrap_or(0) % 7;
        weekly[index] = frames.to_vec();
    }
    weekly
}

#[cfg(test)]
mod tests;

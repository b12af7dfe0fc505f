//! A minimal iCalendar (RFC 5545) reader for holiday feeds: all-day `VEVENT`s with
//! `DTSTART;VALUE=DATE`, optional `DTEND` (exclusive) and `SUMMARY` become whole-day
//! [`Exception::holiday`] entries. That is what government and Google holiday feeds publish
//! (Zammad imports the same feeds); anything richer is refused with the line number, not
//! guessed at, so an admin sees why a feed did not import.

use super::Exception;
use jiff::civil::Date;

/// Largest feed accepted, in bytes.
pub const ICAL_BYTES_MAX: usize = 1_048_576;
/// Most events in one feed.
pub const ICAL_EVENTS_MAX: usize = 2_000;
/// Longest event, in days (a multi-day holiday such as 春節 becomes one entry per day).
pub const ICAL_EVENT_DAYS_MAX: i64 = 31;

/// Why a feed did not import; `line` is 1-based in the unfolded text's original numbering.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IcalError {
    #[error("the feed is larger than {ICAL_BYTES_MAX} bytes")]
    TooLarge,
    #[error("the feed has more than {ICAL_EVENTS_MAX} events")]
    TooManyEvents,
    #[error("line {line}: {reason}")]
    Line { line: usize, reason: String },
}

fn line_error(line: usize, reason: impl Into<String>) -> IcalError {
    IcalError::Line {
        line,
        reason: reason.into(),
    }
}

/// Holidays in an iCalendar text, one [`Exception`] per date, in feed order.
pub fn parse_ical_holidays(text: &str) -> Result<Vec<Exception>, IcalError> {
    if text.len() > ICAL_BYTES_MAX {
        return Err(IcalError::TooLarge);
    }
    let mut holidays = Vec::new();
    let mut events = 0usize;
    let mut event: Option<Event> = None;
    for (line_no, line) in unfold(text) {
        let (name_params, value) = match line.split_once(':') {
            Some(parts) => parts,
            None if line.trim().is_empty() => continue,
            None => return Err(line_error(line_no, "not a NAME:VALUE content line")),
        };
        let mut params = name_params.split(';');
        let name = params.next().unwrap_or("").to_ascii_uppercase();
        let params: Vec<String> = params.map(str::to_ascii_uppercase).collect();
        match (name.as_str(), event.as_mut()) {
            ("BEGIN", None) if value.eq_ignore_ascii_case("VEVENT") => {
                events += 1;
                if events > ICAL_EVENTS_MAX {
                    return Err(IcalError::TooManyEvents);
                }
                event = Some(Event {
                    line: line_no,
                    ..Event::default()
                });
            }
            ("BEGIN", Some(_)) if value.eq_ignore_ascii_case("VALARM") => {
                // Alarms nest inside events and carry nothing we need.
            }
            ("END", Some(current)) if value.eq_ignore_ascii_case("VEVENT") => {
                current.finish(&mut holidays)?;
                event = None;
            }
            ("DTSTART", Some(current)) => {
                current.start = Some(parse_date(line_no, &params, value)?)
            }
            ("DTEND", Some(current)) => current.end = Some(parse_date(line_no, &params, value)?),
            ("SUMMARY", Some(current)) => {
                // Over-long labels are cut rather than refused: the date is what matters.
                current.summary = unescape(value)
                    .chars()
                    .take(super::CALENDAR_LABEL_CHARS_MAX)
                    .collect();
            }
            ("STATUS", Some(current)) => {
                current.cancelled = value.eq_ignore_ascii_case("CANCELLED");
            }
            ("RRULE" | "RDATE", Some(_)) => {
                return Err(line_error(
                    line_no,
                    "recurring events are not supported; list each date",
                ));
            }
            _ => {}
        }
    }
    if let Some(open) = event {
        return Err(line_error(open.line, "VEVENT without END:VEVENT"));
    }
    Ok(holidays)
}

#[derive(Debug, Default)]
struct Event {
    line: usize,
    start: Option<Date>,
    end: Option<Date>,
    summary: String,
    cancelled: bool,
}

impl Event {
    fn finish(&self, holidays: &mut Vec<Exception>) -> Result<(), IcalError> {
        if self.cancelled {
            return Ok(());
        }
        let start = self
            .start
            .ok_or_else(|| line_error(self.line, "VEVENT without DTSTART"))?;
        // DTEND is exclusive; without it an all-day event lasts one day (RFC 5545 §3.6.1).
        let end = match self.end {
            Some(end) => end,
            None => start
                .tomorrow()
                .map_err(|_| line_error(self.line, "date out of range"))?,
        };
        if end <= start {
            return Err(line_error(self.line, "DTEND is not after DTSTART"));
        }
        let days = start
            .until(end)
            .map_err(|_| line_error(self.line, "date out of range"))?
            .get_days();
        if i64::from(days) > ICAL_EVENT_DAYS_MAX {
            return Err(line_error(
                self.line,
                format!("event longer than {ICAL_EVENT_DAYS_MAX} days"),
            ));
        }
        let mut date = start;
        while date < end {
            holidays.push(Exception::holiday(date, self.summary.clone()));
            date = date
                .tomorrow()
                .map_err(|_| line_error(self.line, "date out of range"))?;
        }
        Ok(())
    }
}

/// Content lines with their first physical line number; a line starting with a space or tab
/// continues the previous one (RFC 5545 §3.1 folding).
fn unfold(text: &str) -> Vec<(usize, String)> {
    let mut lines: Vec<(usize, String)> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        match (raw.strip_prefix([' ', '\t']), lines.last_mut()) {
            (Some(rest), Some(last)) => last.1.push_str(rest),
            _ => lines.push((i + 1, raw.to_string())),
        }
    }
    lines
}

fn parse_date(line: usize, params: &[String], value: &str) -> Result<Date, IcalError> {
    if params.iter().any(|p| p == "VALUE=DATE-TIME") || value.contains('T') {
        return Err(line_error(
            line,
            "only all-day dates (VALUE=DATE, YYYYMMDD) are supported",
        ));
    }
    let value = value.trim();
    if value.len() != 8 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(line_error(
            line,
            format!("{value:?} is not a date YYYYMMDD"),
        ));
    }
    let part = |range: std::ops::Range<usize>| value.get(range).unwrap_or("");
    let (Ok(year), Ok(month), Ok(day)) = (
        part(0..4).parse::<i16>(),
        part(4..6).parse::<i8>(),
        part(6..8).parse::<i8>(),
    ) else {
        return Err(line_error(
            line,
            format!("{value:?} is not a date YYYYMMDD"),
        ));
    };
    Date::new(year, month, day)
        .map_err(|_| line_error(line, format!("{value:?} is not a calendar date")))
}

/// Undo RFC 5545 TEXT escaping (`\,` `\;` `\\` `\n`).
fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n' | 'N') => out.push(' '),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

//! The JSON documents of the desk's configuration: a business calendar (the same document the
//! calendar endpoints, the SLA preview and `patron sla preview --calendar FILE` take) and an
//! SLA policy; plus the text forms of durations (`4h`, `240m`, `1h30m`) and targets
//! (`4h`, `same_day`, `follow_up`). Each turns into its `domain` type with errors naming the
//! offending entry (`weekly.mon[1]`, `exceptions[3].frames`).

use domain::FieldError;
use domain::calendar::{
    Calendar, CalendarSpec, Change, Exception, Frame, taiwan_2026, taiwan_weekly,
};
use domain::desk::parse_priority;
use domain::sla::{
    Channel, ClockKind, Condition, Policy, ResolutionMode, Status, Target, WarningRule,
};
use jiff::SignedDuration;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

/// Longest calendar or policy name, in characters.
pub const DESK_NAME_CHARS_MAX: usize = 100;

/// `{"start": "09:00", "end": "12:00"}`; `24:00` is a valid end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrameDoc {
    pub start: String,
    pub end: String,
}

/// Frames per weekday; a missing day is closed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeeklyDoc {
    #[serde(default)]
    pub mon: Vec<FrameDoc>,
    #[serde(default)]
    pub tue: Vec<FrameDoc>,
    #[serde(default)]
    pub wed: Vec<FrameDoc>,
    #[serde(default)]
    pub thu: Vec<FrameDoc>,
    #[serde(default)]
    pub fri: Vec<FrameDoc>,
    #[serde(default)]
    pub sat: Vec<FrameDoc>,
    #[serde(default)]
    pub sun: Vec<FrameDoc>,
}

/// A dated exception: `close` (a holiday, a typhoon closure from 14:00) or `open`
/// (a 補班 make-up workday, an extra opening). A `close` without frames closes the whole day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExceptionDoc {
    /// `YYYY-MM-DD`, local to the calendar's zone.
    pub date: String,
    /// `close` or `open`.
    pub change: String,
    #[serde(default)]
    pub frames: Vec<FrameDoc>,
    #[serde(default)]
    pub label: String,
    /// Inactive entries stay listed but change nothing.
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

/// A business calendar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarDoc {
    #[serde(default)]
    pub name: String,
    /// IANA zone, e.g. `Asia/Taipei`.
    pub zone: String,
    pub weekly: WeeklyDoc,
    #[serde(default)]
    pub exceptions: Vec<ExceptionDoc>,
}

fn frame_doc(f: Frame) -> FrameDoc {
    let hhmm = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
    FrameDoc {
        start: hhmm(f.start_minute()),
        end: hhmm(f.end_minute()),
    }
}

fn frames(field: &str, docs: &[FrameDoc]) -> Result<Vec<Frame>, FieldError> {
    docs.iter()
        .enumerate()
        .map(|(i, f)| {
            Frame::parse(&f.start, &f.end)
                .map_err(|e| FieldError::new(format!("{field}[{i}]"), e.to_string()))
        })
        .collect()
}

impl CalendarDoc {
    /// The domain spec, with frame and date errors naming their entry.
    pub fn to_spec(&self) -> Result<CalendarSpec, FieldError> {
        if self.name.chars().count() > DESK_NAME_CHARS_MAX {
            return Err(FieldError::new(
                "name",
                format!("at most {DESK_NAME_CHARS_MAX} characters"),
            ));
        }
        let w = &self.weekly;
        let days = [
            ("mon", &w.mon),
            ("tue", &w.tue),
            ("wed", &w.wed),
            ("thu", &w.thu),
            ("fri", &w.fri),
            ("sat", &w.sat),
            ("sun", &w.sun),
        ];
        let mut weekly: [Vec<Frame>; 7] = Default::default();
        for (slot, (name, docs)) in weekly.iter_mut().zip(days) {
            *slot = frames(&format!("weekly.{name}"), docs)?;
        }
        if self.exceptions.len() > domain::calendar::CALENDAR_EXCEPTIONS_MAX {
            return Err(FieldError::new(
                "exceptions",
                format!(
                    "at most {} entries",
                    domain::calendar::CALENDAR_EXCEPTIONS_MAX
                ),
            ));
        }
        let mut exceptions = Vec::with_capacity(self.exceptions.len());
        for (i, e) in self.exceptions.iter().enumerate() {
            let field = format!("exceptions[{i}]");
            let date: Date = e.date.parse().map_err(|_| {
                FieldError::new(format!("{field}.date"), "must be a date YYYY-MM-DD")
            })?;
            let change = match e.change.as_str() {
                "close" => Change::Close,
                "open" => Change::Open,
                _ => {
                    return Err(FieldError::new(
                        format!("{field}.change"),
                        "must be close or open",
                    ));
                }
            };
            let mut list = frames(&format!("{field}.frames"), &e.frames)?;
            if list.is_empty() && change == Change::Close {
                list.push(Frame::whole_day());
            }
            exceptions.push(Exception {
                date,
                change,
                frames: list,
                label: e.label.clone(),
                active: e.active,
            });
        }
        Ok(CalendarSpec {
            zone: self.zone.clone(),
            weekly,
            exceptions,
        })
    }

    /// The validated calendar (zone known, no overlapping frames, limits kept).
    pub fn calendar(&self) -> Result<Calendar, FieldError> {
        Calendar::new(&self.to_spec()?).map_err(|e| e.to_field_error())
    }

    pub fn from_spec(name: &str, spec: &CalendarSpec) -> CalendarDoc {
        let day = |i: usize| spec.weekly[i].iter().copied().map(frame_doc).collect();
        CalendarDoc {
            name: name.to_owned(),
            zone: spec.zone.clone(),
            weekly: WeeklyDoc {
                mon: day(0),
                tue: day(1),
                wed: day(2),
                thu: day(3),
                fri: day(4),
                sat: day(5),
                sun: day(6),
            },
            exceptions: spec
                .exceptions
                .iter()
                .map(|e| ExceptionDoc {
                    date: e.date.to_string(),
                    change: match e.change {
                        Change::Close => "close",
                        Change::Open => "open",
                    }
                    .to_owned(),
                    frames: e.frames.iter().copied().map(frame_doc).collect(),
                    label: e.label.clone(),
                    active: e.active,
                })
                .collect(),
        }
    }

    /// The desk's default calendar until a shop stores its own: Taiwan office hours
    /// (09:00–12:00, 13:00–18:00, Monday to Friday) with the 2026 national holidays.
    pub fn taiwan_default() -> CalendarDoc {
        CalendarDoc::from_spec(
            "Taiwan office hours 2026",
            &CalendarSpec {
                zone: "Asia/Taipei".to_owned(),
                weekly: taiwan_weekly(),
                exceptions: taiwan_2026(),
            },
        )
    }
}

/// Longest text form of a duration.
const DURATION_TEXT_BYTES_MAX: usize = 32;

/// A duration such as `4h`, `240m`, `90s`, `2d` or `1h30m` (units d, h, m, s; whole numbers).
pub fn parse_duration(field: &str, text: &str) -> Result<SignedDuration, FieldError> {
    let bad = || {
        FieldError::new(
            field,
            "must be a duration like 4h, 240m, 1h30m or 2d (units d, h, m, s)",
        )
    };
    let text = text.trim();
    if text.is_empty() || text.len() > DURATION_TEXT_BYTES_MAX {
        return Err(bad());
    }
    let mut seconds: i64 = 0;
    let mut number: Option<i64> = None;
    for c in text.chars() {
        if let Some(d) = c.to_digit(10) {
            let n = number.unwrap_or(0);
            number = Some(
                n.checked_mul(10)
                    .and_then(|n| n.checked_add(i64::from(d)))
                    .ok_or_else(bad)?,
            );
            continue;
        }
        let unit = match c {
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => return Err(bad()),
        };
        let n = number.take().ok_or_else(bad)?;
        seconds = n
            .checked_mul(unit)
            .and_then(|s| seconds.checked_add(s))
            .ok_or_else(bad)?;
    }
    if number.is_some() {
        return Err(bad());
    }
    Ok(SignedDuration::from_secs(seconds))
}

/// Whether a duration target counts open hours of the calendar or all hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Basis {
    #[default]
    Business,
    Calendar,
}

/// A target as text: a duration (`4h`, `240m`) counted on `basis`, `same_day` (close of the
/// start's business day) or `follow_up` (close of the next business day).
pub fn parse_target(field: &str, text: &str, basis: Basis) -> Result<Target, FieldError> {
    let within = |e: FieldError| FieldError::new(field, e.reason);
    match text.trim() {
        "same_day" => Target::end_of_business_day(0).map_err(within),
        "follow_up" | "next_business_day" => Target::end_of_business_day(1).map_err(within),
        other => {
            let duration = parse_duration(field, other)?;
            match basis {
                Basis::Business => Target::business(duration),
                Basis::Calendar => Target::calendar(duration),
            }
            .map_err(within)
        }
    }
}

/// One clock's target in a policy: `{"business": "4h"}`, `{"calendar": "24h"}` or
/// `{"end_of_business_day": 0}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum TargetDoc {
    Business(String),
    Calendar(String),
    EndOfBusinessDay(u16),
}

/// Which tickets a policy applies to; empty lists match anything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionDoc {
    /// SLA channels: `im`, `email`, `phone`, `in_store`, `other`.
    #[serde(default)]
    pub channels: Vec<String>,
    #[serde(default)]
    pub priorities: Vec<String>,
    #[serde(default)]
    pub tiers: Vec<String>,
    #[serde(default)]
    pub categories: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarningDoc {
    pub lead: String,
    #[serde(default)]
    pub outside_open_hours: bool,
}

/// An SLA policy. Targets and pauses are keyed by clock name (`ack`, `first_response`, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyDoc {
    pub name: String,
    /// The calendar business targets count on (default 1, the desk's default calendar).
    #[serde(default = "default_calendar_id")]
    pub calendar_id: i64,
    #[serde(default)]
    pub when: ConditionDoc,
    pub targets: std::collections::BTreeMap<String, TargetDoc>,
    /// Statuses pausing each clock; clocks not listed keep the default pauses.
    #[serde(default)]
    pub pauses: std::collections::BTreeMap<String, Vec<String>>,
    pub warning: Option<WarningDoc>,
    #[serde(default)]
    pub ai_replies_count: bool,
    #[serde(default)]
    pub notes_count_as_update: bool,
    /// `first_solve` (default) or `total`.
    #[serde(default)]
    pub resolution_mode: Option<String>,
}

fn default_calendar_id() -> i64 {
    super::DEFAULT_CALENDAR_ID
}

pub fn channel_as_str(c: Channel) -> &'static str {
    match c {
        Channel::Im => "im",
        Channel::Email => "email",
        Channel::Phone => "phone",
        Channel::InStore => "in_store",
        Channel::Other => "other",
    }
}

fn parse_clock(field: &str, s: &str) -> Result<ClockKind, FieldError> {
    ClockKind::parse(s).ok_or_else(|| FieldError::new(field, format!("unknown clock {s:?}")))
}

impl PolicyDoc {
    pub fn policy(&self) -> Result<Policy, FieldError> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > DESK_NAME_CHARS_MAX {
            return Err(FieldError::new(
                "name",
                format!("1 to {DESK_NAME_CHARS_MAX} characters"),
            ));
        }
        let mut policy = Policy::new(name);
        let channels = [
            Channel::Im,
            Channel::Email,
            Channel::Phone,
            Channel::InStore,
            Channel::Other,
        ];
        let mut when = Condition::default();
        for (i, c) in self.when.channels.iter().enumerate() {
            let channel = channels
                .into_iter()
                .find(|x| channel_as_str(*x) == c)
                .ok_or_else(|| {
                    FieldError::new(
                        format!("when.channels[{i}]"),
                        "must be im, email, phone, in_store or other",
                    )
                })?;
            when.channels.push(channel);
        }
        for (i, p) in self.when.priorities.iter().enumerate() {
            when.priorities.push(
                parse_priority(p)
                    .map_err(|e| FieldError::new(format!("when.priorities[{i}]"), e.reason))?,
            );
        }
        for (i, c) in self.when.categories.iter().enumerate() {
            domain::desk::Category::parse(c)
                .map_err(|e| FieldError::new(format!("when.categories[{i}]"), e.reason))?;
            when.categories.push(c.clone());
        }
        when.tiers = self.when.tiers.clone();
        policy.when = when;
        for (clock, target) in &self.targets {
            let field = format!("targets.{clock}");
            let kind = parse_clock(&field, clock)?;
            let target = match target {
                TargetDoc::Business(text) => parse_target(&field, text, Basis::Business)?,
                TargetDoc::Calendar(text) => parse_target(&field, text, Basis::Calendar)?,
                TargetDoc::EndOfBusinessDay(days) => Target::end_of_business_day(*days)
                    .map_err(|e| FieldError::new(&field, e.reason))?,
            };
            policy = policy.with_target(kind, target);
        }
        for (clock, statuses) in &self.pauses {
            let field = format!("pauses.{clock}");
            let kind = parse_clock(&field, clock)?;
            let list = statuses
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    Status::parse(s).ok_or_else(|| {
                        FieldError::new(format!("{field}[{i}]"), format!("unknown status {s:?}"))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            policy = policy.with_pauses(kind, &list);
        }
        if let Some(w) = &self.warning {
            let lead = parse_duration("warning.lead", &w.lead)?;
            policy = policy.with_warning(WarningRule::new(lead, w.outside_open_hours)?);
        }
        policy.ai_replies_count = self.ai_replies_count;
        policy.notes_count_as_update = self.notes_count_as_update;
        policy.resolution_mode = match self.resolution_mode.as_deref() {
            None | Some("first_solve") => ResolutionMode::FirstSolve,
            Some("total") => ResolutionMode::Total,
            Some(_) => {
                return Err(FieldError::new(
                    "resolution_mode",
                    "must be first_solve or total",
                ));
            }
        };
        if self.calendar_id <= 0 {
            return Err(FieldError::new("calendar_id", "must be positive"));
        }
        Ok(policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_targets_parse() {
        let s = |t: &str| parse_duration("d", t).map(|d| d.as_secs());
        assert_eq!(s("4h"), Ok(14_400));
        assert_eq!(s("240m"), Ok(14_400));
        assert_eq!(s("1h30m"), Ok(5_400));
        assert_eq!(s("2d"), Ok(172_800));
        for bad in ["", "h", "4", "4x", "-4h", "99999999999999999999d", "4 h"] {
            assert!(s(bad).is_err(), "{bad}");
        }
        assert!(parse_target("t", "same_day", Basis::Business).is_ok());
        assert!(parse_target("t", "1s", Basis::Business).is_err());
    }

    #[test]
    fn the_default_calendar_round_trips_and_errors_name_the_entry() {
        let doc = CalendarDoc::taiwan_default();
        let spec = doc.to_spec().unwrap();
        assert_eq!(CalendarDoc::from_spec(&doc.name, &spec), doc);
        assert!(doc.calendar().is_ok());
        let mut bad = doc.clone();
        bad.weekly.tue.push(FrameDoc {
            start: "11:00".into(),
            end: "14:00".into(),
        });
        assert_eq!(bad.calendar().unwrap_err().field, "weekly.tue");
        let mut bad = doc.clone();
        bad.weekly.wed[1].end = "12:30".into();
        assert_eq!(bad.calendar().unwrap_err().field, "weekly.wed[1]");
        let mut bad = doc;
        bad.exceptions[2].date = "2026-02-30".into();
        assert_eq!(bad.calendar().unwrap_err().field, "exceptions[2].date");
    }
}

//! `patron sla preview`: when would a target started at an instant be due on a calendar, and
//! when would its warning fire — so a shop can check a calendar file before storing it. The
//! calendar file is the same JSON document `PUT /api/v1/calendars/{id}` takes; without one
//! the Taiwan preset (office hours with the 2026 holidays) is used. No database is opened.

use anyhow::{Context, Result, bail};
use app::desk::documents::{Basis, CalendarDoc};
use app::desk::{PreviewInput, PreviewView, sla_preview};
use std::path::PathBuf;

/// Largest calendar file read, in bytes.
pub const CALENDAR_FILE_BYTES_MAX: u64 = 4 * 1024 * 1024;

#[derive(Debug, clap::Subcommand)]
pub enum SlaCommand {
    /// The deadline and warning instant of one target on a calendar.
    Preview(PreviewArgs),
}

#[derive(Debug, clap::Args)]
pub struct PreviewArgs {
    /// Calendar JSON file (as `PUT /api/v1/calendars/{id}` takes); default: the Taiwan preset.
    #[arg(long, value_name = "FILE.json")]
    pub calendar: Option<PathBuf>,
    /// Start instant, RFC 3339 with an offset (e.g. 2025-10-09T17:30:00+08:00).
    #[arg(long)]
    pub start: String,
    /// 4h, 240m, 1h30m, same_day or follow_up.
    #[arg(long)]
    pub target: String,
    /// Count open hours of the calendar (the default).
    #[arg(long, conflicts_with = "calendar_time")]
    pub business: bool,
    /// Count all hours (wall-clock time), pauses still excluded.
    #[arg(long)]
    pub calendar_time: bool,
    /// A pause START/END (RFC 3339 instants); repeat for several.
    #[arg(long = "pause", value_name = "START/END")]
    pub pauses: Vec<String>,
    /// Warn this long before the deadline (e.g. 15m), in the target's own time.
    #[arg(long)]
    pub warn: Option<String>,
    /// Also send warnings outside open hours.
    #[arg(long)]
    pub warn_outside_open_hours: bool,
}

pub fn run(command: SlaCommand) -> Result<()> {
    match command {
        SlaCommand::Preview(args) => {
            let answer = preview(&args)?;
            print!("{}", render(&answer));
            Ok(())
        }
    }
}

fn read_calendar(path: &PathBuf) -> Result<CalendarDoc> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    if size > CALENDAR_FILE_BYTES_MAX {
        bail!(
            "{}: {size} bytes, at most {CALENDAR_FILE_BYTES_MAX}",
            path.display()
        );
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{}: not a calendar document", path.display()))
}

pub fn preview(args: &PreviewArgs) -> Result<PreviewView> {
    let calendar = match &args.calendar {
        Some(path) => read_calendar(path)?,
        None => CalendarDoc::taiwan_default(),
    };
    let pauses = args
        .pauses
        .iter()
        .enumerate()
        .map(|(i, p)| {
            p.split_once('/')
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .with_context(|| format!("--pause #{}: expected START/END, got {p:?}", i + 1))
        })
        .collect::<Result<Vec<_>>>()?;
    let input = PreviewInput {
        calendar,
        start: args.start.clone(),
        target: args.target.clone(),
        basis: if args.calendar_time {
            Basis::Calendar
        } else {
            Basis::Business
        },
        pauses,
        warning_lead: args.warn.clone(),
        warn_outside_open_hours: args.warn_outside_open_hours,
    };
    sla_preview(&input).map_err(|e| anyhow::anyhow!("{}: {}", e.field, e.reason))
}

fn local(t: jiff::Timestamp, zone: &str) -> String {
    match jiff::tz::TimeZone::get(zone) {
        Ok(tz) => t.display_with_offset(tz.to_offset(t)).to_string(),
        Err(_) => t.to_string(),
    }
}

/// `deadline`, then `warning` when there is one: local time (zone) and UTC.
pub fn render(p: &PreviewView) -> String {
    let mut out = format!(
        "deadline  {}  ({}, {})\n",
        local(p.deadline, &p.zone),
        p.zone,
        p.deadline
    );
    match p.warning_at {
        Some(w) => out.push_str(&format!(
            "warning   {}  ({}, {w})\n",
            local(w, &p.zone),
            p.zone
        )),
        None => out.push_str("warning   none\n"),
    }
    out
}

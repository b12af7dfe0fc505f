//! `patron sla preview`: when would a target started at an instant be due on a calendar, and
//! when would its warning fire — so a shop can check a calendar file before storing it. The
//! calendar file is the same JSON document `PUT /api/v1/calendars/{id}` takes; without one
//! the Taiwan preset (office hours with the 2026 holidays) is used. No database is opened.
//!
//! `patron desk classify --input messages.jsonl`: each line's category, confidence,
//! sentiment, urgency and FAQ intent by the model trained from the shipped set; when the
//! lines carry labels, accuracy, a confusion matrix, per-class precision and recall, FAQ-intent
//! precision and very-negative recall — so a shop can measure it on its own past tickets.

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

/// Largest message file read, in bytes.
pub const MESSAGES_FILE_BYTES_MAX: u64 = 256 * 1024 * 1024;

#[derive(Debug, clap::Subcommand)]
pub enum DeskCommand {
    /// Classify a JSONL file of messages (`{"text", "channel"?, "subject"?}` per line; labels
    /// `category`, `intent`, `sentiment` make it an evaluation).
    Classify(ClassifyArgs),
}

#[derive(Debug, clap::Args)]
pub struct ClassifyArgs {
    /// JSON Lines file of messages.
    #[arg(long, value_name = "FILE.jsonl")]
    pub input: PathBuf,
    /// table (default), json (one object per line) or csv.
    #[arg(long, default_value = "table")]
    pub output: String,
}

pub fn run_desk(command: DeskCommand) -> Result<()> {
    match command {
        DeskCommand::Classify(args) => {
            let out = classify(&args)?;
            print!("{out}");
            Ok(())
        }
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// The whole output of `patron desk classify`.
pub fn classify(args: &ClassifyArgs) -> Result<String> {
    use app::desk::classifier::{evaluate, parse_messages, shipped_classifier};
    use domain::desk::Category;
    use std::fmt::Write as _;
    if !["table", "json", "csv"].contains(&args.output.as_str()) {
        bail!("--output {:?}: use table, json or csv", args.output);
    }
    let path = &args.input;
    let size = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    if size > MESSAGES_FILE_BYTES_MAX {
        bail!(
            "{}: {size} bytes, at most {MESSAGES_FILE_BYTES_MAX}",
            path.display()
        );
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let lines = parse_messages(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let classifier = shipped_classifier();
    let (e, analyses) = evaluate(&classifier, &lines);
    let mut out = String::new();
    match args.output.as_str() {
        "json" => {
            for a in &analyses {
                let v = app::desk::classifier::view(a, 0);
                let line = serde_json::json!({
                    "category": v.category.as_str(),
                    "confidence": (f64::from(v.confidence) * 1000.0).round() / 1000.0,
                    "sentiment": (f64::from(v.sentiment) * 1000.0).round() / 1000.0,
                    "sentiment_label": v.sentiment_label.as_str(),
                    "urgency": v.urgency,
                    "intent": v.intent.map(|i| i.as_str()),
                });
                writeln!(out, "{line}")?;
            }
        }
        "csv" => {
            writeln!(
                out,
                "line,category,confidence,sentiment,sentiment_label,urgency,intent"
            )?;
            for (i, a) in analyses.iter().enumerate() {
                let urgency: Vec<&str> = a.urgency.iter().map(|u| u.as_str()).collect();
                writeln!(
                    out,
                    "{},{},{:.3},{:.3},{},{},{}",
                    i + 1,
                    a.category.as_str(),
                    a.confidence,
                    a.sentiment,
                    a.sentiment_label().as_str(),
                    csv_field(&urgency.join(" ")),
                    a.intent.map_or("", |i| i.as_str())
                )?;
            }
        }
        _ => {
            writeln!(
                out,
                "{:>5}  {:<18} {:>5}  {:>6}  {:<14} {:<18} urgency",
                "line", "category", "conf", "sent", "label", "intent"
            )?;
            for (i, a) in analyses.iter().enumerate() {
                let urgency: Vec<&str> = a.urgency.iter().map(|u| u.as_str()).collect();
                writeln!(
                    out,
                    "{:>5}  {:<18} {:>5.2}  {:>6.2}  {:<14} {:<18} {}",
                    i + 1,
                    a.category.as_str(),
                    a.confidence,
                    a.sentiment,
                    a.sentiment_label().as_str(),
                    a.intent.map_or("-", |i| i.as_str()),
                    urgency.join(",")
                )?;
            }
        }
    }
    if e.messages > 0 && args.output != "json" {
        writeln!(
            out,
            "\naccuracy {:.3} ({} of {} messages)",
            e.accuracy(),
            e.correct,
            e.messages
        )?;
        writeln!(
            out,
            "FAQ-intent precision {:.3} ({} of {} named right)",
            e.intent_precision(),
            e.intents_right,
            e.intents_named
        )?;
        if e.very_negative > 0 {
            writeln!(
                out,
                "very-negative recall {:.3} ({} of {})",
                e.very_negative_recall(),
                e.very_negative_found,
                e.very_negative
            )?;
        }
        writeln!(out, "\nper class            precision  recall  support")?;
        for c in Category::ALL {
            let (p, r, n) = e.class(c);
            writeln!(out, "  {:<18} {:>9.3} {:>7.3} {:>8}", c.as_str(), p, r, n)?;
        }
        writeln!(
            out,
            "\nconfusion (rows: labelled, columns: predicted, in the order above)"
        )?;
        for (i, row) in e.confusion.iter().enumerate() {
            let cells: Vec<String> = row.iter().map(|n| format!("{n:>4}")).collect();
            writeln!(out, "  {:<18}{}", Category::ALL[i].as_str(), cells.join(""))?;
        }
    } else if e.messages > 0 {
        eprintln!(
            "accuracy {:.3}, FAQ-intent precision {:.3}, very-negative recall {:.3}",
            e.accuracy(),
            e.intent_precision(),
            e.very_negative_recall()
        );
    }
    Ok(out)
}

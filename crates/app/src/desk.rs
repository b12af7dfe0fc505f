//! The service desk's use cases: open a ticket (API, web form, or a phone call or counter
//! complaint logged by staff), add messages (with stored attachments, on e-mail tickets) and
//! notes, change status, assign; read a ticket with its log, team, tags and live SLA clocks;
//! list the queue; store business calendars; preview a deadline. Tags, teams and hand-offs
//! are in [`teams`].
//!
//! Every change appends to the ticket's log and, in the same transaction, re-evaluates the
//! ticket's SLA clocks with [`domain::sla::evaluate`] on the whole timeline (deadlines are
//! recomputed from the clocks' original starts), persists the clock events not yet stored
//! (a warning or breach once per clock instance, guaranteed by a unique index, so a request,
//! a timer and a second worker racing store it once), and schedules the next instant
//! something happens as a durable job ([`SLA_TIMER_JOB`], deduplicated per ticket and
//! instant). Breaches are thus recorded at their instant even when nobody touches the ticket.
//! Message bodies are personal data: they are stored, never logged.

pub mod ab;
pub mod agents;
pub mod classifier;
pub mod csat;
pub mod documents;
pub mod kb;
pub mod kpis;
pub mod merge;
pub mod recompute;
pub mod replies;
pub mod teams;

use crate::customers::{Created, resolve_or_create};
use crate::intake::CustomerRef;
use crate::{App, AppError, AppResult, Principal};
use anyhow::{Context, anyhow};
use documents::{Basis, CalendarDoc, PolicyDoc, parse_duration, parse_target};
use domain::calendar::{Calendar, Interval};
use domain::desk::{
    self, Body, Category, Reference, Sender, TicketChannel, TicketEvent, parse_assignee,
    parse_party, parse_priority, parse_status, parse_subject, priority_as_str,
};
use domain::sla::{
    self, ClockAction, ClockEvent, ClockKind, Party, Policy, Priority, SlaState, Status,
    TicketFacts, WarningRule, default_policy,
};
use domain::{EventKind, FieldError};
use jiff::Timestamp;
use serde_json::json;
use std::collections::HashMap;
use store::desk::{self as rows, SlaEventRow, TicketEventRow, TicketRow};
use store::desk_triage as rows_triage;
use store::sql::Tx;

/// Job kind of an SLA timer: re-evaluate one ticket at the instant a warning or deadline is
/// due (payload `{"ticket_id": N}`), or re-evaluate a page of open tickets after a calendar
/// or policy edit (payload `{"recompute_after": N}`).
pub const SLA_TIMER_JOB: &str = "desk.sla_timer";
/// The desk's default calendar: the Taiwan preset until a shop stores its own.
pub const DEFAULT_CALENDAR_ID: i64 = 1;
/// Tickets re-evaluated per recompute job (one transaction, see [`recompute`]).
pub const SLA_RECOMPUTE_PAGE_TICKETS: i64 = recompute::SLA_RECOMPUTE_CHUNK_TICKETS;
/// Largest queue page.
pub const TICKET_PAGE_MAX: i64 = 100;
/// Policies in the ordered list.
pub const SLA_POLICIES_MAX: usize = domain::sla::SLA_POLICIES_MAX;

/// A ticket as a request describes it, before validation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketInput {
    /// `email`, `line`, `web`, `api`, `phone`, `in_store`, `social`.
    pub channel: String,
    pub subject: Option<String>,
    /// The first message: the customer's words (or the agent's, for an agent-opened ticket).
    pub body: String,
    pub customer: Option<CustomerRef>,
    /// An order (the id of its `order_placed` event).
    pub order_id: Option<i64>,
    pub priority: Option<String>,
    pub category: Option<String>,
    /// `customer` (default: the customer wrote, called or came to the counter) or `agent`
    /// (the desk contacts the customer first).
    pub opened_by: Option<String>,
    pub assignee: Option<String>,
    /// The team the ticket starts with; by default the first team listing its category.
    pub team: Option<String>,
}

pub(crate) struct ValidTicket {
    channel: TicketChannel,
    subject: Option<String>,
    body: Body,
    priority: Priority,
    /// Whether the request set the priority (otherwise triage chooses it).
    priority_given: bool,
    category: Option<Category>,
    opened_by: Party,
    assignee: Option<String>,
    team: Option<String>,
}

impl TicketInput {
    pub(crate) fn validate(&self) -> Result<ValidTicket, FieldError> {
        Ok(ValidTicket {
            channel: TicketChannel::parse(&self.channel)?,
            subject: self.subject.as_deref().map(parse_subject).transpose()?,
            body: Body::parse(&self.body)?,
            priority: self
                .priority
                .as_deref()
                .map(parse_priority)
                .transpose()?
                .unwrap_or(Priority::Normal),
            priority_given: self.priority.is_some(),
            category: self.category.as_deref().map(Category::parse).transpose()?,
            opened_by: self
                .opened_by
                .as_deref()
                .map(parse_party)
                .transpose()?
                .unwrap_or(Party::Customer),
            assignee: self.assignee.as_deref().map(parse_assignee).transpose()?,
            team: self
                .team
                .as_deref()
                .map(domain::desk::teams::parse_team)
                .transpose()?,
        })
    }
}

/// A message to add: `from` is `customer`, `agent`, `ai` or `system`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageInput {
    pub from: String,
    pub body: String,
    /// An acknowledgement only ("we received it"): fulfils `ack`, never a response clock.
    pub ack_only: bool,
}

/// One entry of a ticket's log as shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketEventView {
    pub id: i64,
    pub at: Timestamp,
    pub kind: String,
    /// Who recorded it (`key:ab12cd34`, `cli`, `system`).
    pub actor: String,
    pub from: Option<String>,
    pub ack_only: bool,
    pub body: Option<String>,
    pub value: Option<String>,
    pub previous: Option<String>,
    pub other_ticket_id: Option<i64>,
    pub clock: Option<String>,
    pub instance: Option<i64>,
    pub action: Option<String>,
    /// For messages: the files it carried, in order (an inbound e-mail's, stored or refused;
    /// those an agent's reply sent; on a split's copy, the original's). For `merged_from`:
    /// every file of the ticket merged in.
    pub attachments: Vec<MessageAttachmentView>,
}

/// One file a message of the log carried (its bytes: `GET …/attachments/{id}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageAttachmentView {
    pub attachment_id: i64,
    pub filename: Option<String>,
    pub content_type: String,
    pub size_bytes: i64,
    /// Why the file was refused when received (its bytes were not kept); `None` when stored.
    pub refused_reason: Option<String>,
}

/// One SLA clock instance as of now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClockView {
    pub clock: ClockKind,
    pub instance: u32,
    /// `running`, `paused`, `fulfilled`, `breached`, `cancelled`.
    pub state: &'static str,
    pub target: String,
    pub started_at: Timestamp,
    pub due_at: Option<Timestamp>,
    pub warn_at: Option<Timestamp>,
    pub breached_at: Option<Timestamp>,
    pub fulfilled_at: Option<Timestamp>,
    pub cancelled_at: Option<Timestamp>,
    pub paused_since: Option<Timestamp>,
    pub elapsed_seconds: i64,
    pub margin_seconds: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaView {
    pub policy: String,
    pub calendar_id: i64,
    pub clocks: Vec<ClockView>,
}

/// A ticket in a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketSummary {
    pub id: i64,
    pub reference: String,
    pub channel: String,
    pub status: String,
    pub priority: String,
    pub category: Option<String>,
    pub subject: Option<String>,
    pub customer_id: Option<i64>,
    pub order_id: Option<i64>,
    pub assignee: Option<String>,
    pub opened_by: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// The earliest deadline of a running clock, from the last evaluation.
    pub sla_next_due_at: Option<Timestamp>,
    pub sla_breached: bool,
    /// The team the ticket is with (none: the general queue).
    pub team: Option<String>,
    /// Its tags, sorted.
    pub tags: Vec<String>,
}

/// A ticket with its log and live clocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketView {
    pub ticket: TicketSummary,
    pub events: Vec<TicketEventView>,
    /// `None` when the clocks cannot be computed (the reason is in `sla_error`).
    pub sla: Option<SlaView>,
    pub sla_error: Option<String>,
}

/// Which tickets a queue shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketQuery {
    pub statuses: Vec<String>,
    /// An assignee handle, or `none` for unassigned tickets.
    pub assignee: Option<String>,
    pub customer_id: Option<i64>,
    /// Only tickets carrying this tag.
    pub tag: Option<String>,
    /// A team's name, or `none` for tickets of no team.
    pub team: Option<String>,
}

/// A stored (or default) calendar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarView {
    pub id: i64,
    pub doc: CalendarDoc,
    /// 0 for the built-in default that was never stored.
    pub version: i64,
    pub updated_at: Option<Timestamp>,
}

/// `patron sla preview` and `POST /sla/preview`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewInput {
    pub calendar: CalendarDoc,
    /// RFC 3339.
    pub start: String,
    /// `4h`, `240m`, `same_day`, `follow_up`.
    pub target: String,
    pub basis: Basis,
    /// RFC 3339 `(start, end)` pairs.
    pub pauses: Vec<(String, String)>,
    /// `15m`; no warning when absent.
    pub warning_lead: Option<String>,
    pub warn_outside_open_hours: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewView {
    pub deadline: Timestamp,
    pub warning_at: Option<Timestamp>,
    pub zone: String,
}

fn parse_instant(field: &str, text: &str) -> Result<Timestamp, FieldError> {
    text.parse::<Timestamp>().map_err(|_| {
        FieldError::new(
            field,
            "must be an RFC 3339 instant with an offset, e.g. 2026-03-02T09:00:00+08:00",
        )
    })
}

fn sla_field_error(e: sla::SlaError) -> FieldError {
    match e {
        sla::SlaError::PauseEndsBeforeStart { index } => {
            FieldError::new(format!("pauses[{index}]"), "ends before it starts")
        }
        sla::SlaError::TooManyPauses => FieldError::new(
            "pauses",
            format!("at most {} intervals", sla::SLA_PAUSES_MAX),
        ),
        other => FieldError::new("calendar", other.to_string()),
    }
}

/// The deadline and warning instant of one target (pure; no store).
pub fn sla_preview(input: &PreviewInput) -> Result<PreviewView, FieldError> {
    let calendar = input
        .calendar
        .calendar()
        .map_err(|e| e.within("calendar"))?;
    let start = parse_instant("start", &input.start)?;
    let target = parse_target("target", &input.target, input.basis)?;
    if input.pauses.len() > sla::SLA_PAUSES_MAX {
        return Err(sla_field_error(sla::SlaError::TooManyPauses));
    }
    let pauses = input
        .pauses
        .iter()
        .enumerate()
        .map(|(i, (a, b))| {
            Ok(Interval::new(
                parse_instant(&format!("pauses[{i}].start"), a)?,
                parse_instant(&format!("pauses[{i}].end"), b)?,
            ))
        })
        .collect::<Result<Vec<_>, FieldError>>()?;
    let warning = input
        .warning_lead
        .as_deref()
        .map(|lead| {
            let lead = parse_duration("warning_lead", lead)?;
            WarningRule::new(lead, input.warn_outside_open_hours)
                .map_err(|e| FieldError::new("warning_lead", e.reason))
        })
        .transpose()?;
    let answer =
        sla::preview(&calendar, start, target, &pauses, warning).map_err(sla_field_error)?;
    Ok(PreviewView {
        deadline: answer.deadline,
        warning_at: answer.warning_at,
        zone: calendar.zone_name().to_owned(),
    })
}

fn target_text(target: sla::Target) -> String {
    match target.rule() {
        sla::TargetRule::Business(d) => format!("business {}s", d.as_secs()),
        sla::TargetRule::Calendar(d) => format!("calendar {}s", d.as_secs()),
        sla::TargetRule::EndOfBusinessDay(0) => "same_day".to_owned(),
        sla::TargetRule::EndOfBusinessDay(n) => format!("end_of_business_day +{n}"),
    }
}

fn clock_view(c: &sla::ClockState) -> ClockView {
    let state = if c.cancelled_at.is_some() {
        "cancelled"
    } else if c.breached_at.is_some() {
        "breached"
    } else if c.fulfilled_at.is_some() {
        "fulfilled"
    } else if c.paused_since.is_some() {
        "paused"
    } else {
        "running"
    };
    ClockView {
        clock: c.kind,
        instance: c.instance,
        state,
        target: target_text(c.target),
        started_at: c.started_at,
        due_at: c.due_at,
        warn_at: c.warn_at,
        breached_at: c.breached_at,
        fulfilled_at: c.fulfilled_at,
        cancelled_at: c.cancelled_at,
        paused_since: c.paused_since,
        elapsed_seconds: c.elapsed.as_secs(),
        margin_seconds: c.margin.map(|m| m.as_secs()),
    }
}

fn summary(t: TicketRow) -> TicketSummary {
    TicketSummary {
        id: t.id,
        reference: t.reference,
        channel: t.channel,
        status: t.status,
        priority: t.priority,
        category: t.category,
        subject: t.subject,
        customer_id: t.customer_id,
        order_id: t.order_event_id,
        assignee: t.assignee,
        opened_by: t.opened_by,
        created_at: t.created_at,
        updated_at: t.updated_at,
        sla_next_due_at: t.sla_next_due_at,
        sla_breached: t.sla_breached,
        team: None,
        tags: Vec::new(),
    }
}

/// Fills in the team and tags of `tickets` (two queries, whatever their number).
fn with_labels(tx: &mut Tx<'_>, tickets: &mut [TicketSummary]) -> anyhow::Result<()> {
    let ids: Vec<i64> = tickets.iter().map(|t| t.id).collect();
    for l in store::desk_teams::labels_of(tx, &ids)? {
        if let Some(t) = tickets.iter_mut().find(|t| t.id == l.ticket_id) {
            t.team = l.team;
            t.tags = l.tags;
        }
    }
    Ok(())
}

fn event_view(
    r: TicketEventRow,
    attachments: Vec<MessageAttachmentView>,
) -> anyhow::Result<TicketEventView> {
    Ok(TicketEventView {
        attachments,
        id: r.id,
        at: store::instant(r.at_micros)?,
        kind: r.kind,
        actor: r.actor,
        from: r.sender,
        ack_only: r.ack_only,
        body: r.body,
        value: r.value,
        previous: r.previous,
        other_ticket_id: r.other_id,
        clock: r.clock,
        instance: r.instance,
        action: r.action,
    })
}

fn action_as_str(a: ClockAction) -> &'static str {
    match a {
        ClockAction::Activate => "activate",
        ClockAction::Pause => "pause",
        ClockAction::Resume => "resume",
        ClockAction::Warn => "warn",
        ClockAction::Breach => "breach",
        ClockAction::Fulfill => "fulfill",
        ClockAction::Cancel => "cancel",
    }
}

fn parse_action(s: &str) -> Option<ClockAction> {
    [
        ClockAction::Activate,
        ClockAction::Pause,
        ClockAction::Resume,
        ClockAction::Warn,
        ClockAction::Breach,
        ClockAction::Fulfill,
        ClockAction::Cancel,
    ]
    .into_iter()
    .find(|a| action_as_str(*a) == s)
}

/// The stored row of a log entry.
fn event_row(ticket_id: i64, at: Timestamp, actor: &str, e: &TicketEvent) -> TicketEventRow {
    let mut row = TicketEventRow {
        ticket_id,
        at_micros: at.as_microsecond(),
        kind: e.kind().to_owned(),
        actor: actor.to_owned(),
        ..TicketEventRow::default()
    };
    match e {
        TicketEvent::Opened { channel, by } => {
            row.value = Some(channel.as_str().to_owned());
            row.previous = Some(desk::party_as_str(*by).to_owned());
        }
        TicketEvent::Message {
            from,
            ack_only,
            body,
        } => {
            row.sender = Some(from.as_str().to_owned());
            row.ack_only = *ack_only;
            row.body = Some(body.as_str().to_owned());
        }
        TicketEvent::Note { from, body } => {
            row.sender = Some(from.as_str().to_owned());
            row.body = Some(body.as_str().to_owned());
        }
        TicketEvent::FollowUp { body } => row.body = Some(body.as_str().to_owned()),
        TicketEvent::Status { from, to } => {
            row.previous = Some(from.as_str().to_owned());
            row.value = Some(to.as_str().to_owned());
        }
        TicketEvent::Assigned { assignee } => row.value = assignee.clone(),
        TicketEvent::PriorityChanged { priority } => {
            row.value = Some(priority_as_str(*priority).to_owned());
        }
        TicketEvent::CategoryChanged { category } => {
            row.value = category.map(|c| c.as_str().to_owned());
        }
        TicketEvent::Sla {
            clock,
            instance,
            action,
        } => {
            row.clock = Some(clock.as_str().to_owned());
            row.instance = Some(i64::from(*instance));
            row.action = Some(action_as_str(*action).to_owned());
        }
        TicketEvent::MergedInto { into } => row.other_id = Some(*into),
        TicketEvent::MergedFrom { from } => row.other_id = Some(*from),
        TicketEvent::Classified { summary } => row.value = Some(summary.clone()),
        TicketEvent::SplitTo { to } => row.other_id = Some(*to),
        TicketEvent::SplitFrom { from } => row.other_id = Some(*from),
        TicketEvent::Tagged { tag } | TicketEvent::Untagged { tag } => {
            row.value = Some(tag.clone());
        }
        TicketEvent::HandedOff { from, to, note } => {
            row.previous = from.clone();
            row.value = Some(to.clone());
            row.body = note.as_ref().map(|n| n.as_str().to_owned());
        }
    }
    row
}

/// The clock-relevant log entries of a ticket, as domain events; other kinds are skipped.
fn decode(rows: &[TicketEventRow]) -> anyhow::Result<Vec<(Timestamp, TicketEvent)>> {
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let at = store::instant(r.at_micros)?;
        let body = || {
            Body::parse(r.body.as_deref().unwrap_or_default())
                .map_err(|e| anyhow!("ticket event {}: {e}", r.id))
        };
        let sender = || {
            Sender::parse(r.sender.as_deref().unwrap_or_default())
                .map_err(|e| anyhow!("ticket event {}: {e}", r.id))
        };
        let event = match r.kind.as_str() {
            "message" => TicketEvent::Message {
                from: sender()?,
                ack_only: r.ack_only,
                body: body()?,
            },
            "note" => TicketEvent::Note {
                from: sender()?,
                body: body()?,
            },
            "follow_up" => TicketEvent::FollowUp { body: body()? },
            "status" => TicketEvent::Status {
                from: parse_status(r.previous.as_deref().unwrap_or_default())?,
                to: parse_status(r.value.as_deref().unwrap_or_default())?,
            },
            _ => continue,
        };
        out.push((at, event));
    }
    Ok(out)
}

/// The instant to record a new log entry at: now, but never before the previous entry (two
/// servers' clocks may differ slightly; the timeline must stay in order).
fn entry_instant(tx: &mut Tx<'_>, ticket_id: i64, now: Timestamp) -> anyhow::Result<Timestamp> {
    let last = rows::events_of(tx, ticket_id)?
        .last()
        .map(|r| store::instant(r.at_micros))
        .transpose()?;
    Ok(last.map_or(now, |l| l.max(now)))
}

/// The ordered policies with their calendars. A stored policy that no longer parses is an
/// internal error: policies are validated when stored.
fn load_policies(tx: &mut Tx<'_>) -> anyhow::Result<Vec<(Policy, i64)>> {
    rows::policies(tx)?
        .into_iter()
        .map(|row| {
            let doc: PolicyDoc = serde_json::from_str(&row.spec)
                .with_context(|| format!("stored policy {}", row.position))?;
            let policy = doc
                .policy()
                .map_err(|e| anyhow!("stored policy {}: {e}", row.position))?;
            Ok((policy, row.calendar_id))
        })
        .collect()
}

fn load_calendar_doc(tx: &mut Tx<'_>, id: i64) -> anyhow::Result<Option<CalendarView>> {
    match rows::get_calendar(tx, id)? {
        Some(row) => {
            let doc: CalendarDoc =
                serde_json::from_str(&row.spec).with_context(|| format!("stored calendar {id}"))?;
            Ok(Some(CalendarView {
                id,
                doc,
                version: row.version,
                updated_at: Some(row.updated_at),
            }))
        }
        None if id == DEFAULT_CALENDAR_ID => Ok(Some(CalendarView {
            id,
            doc: CalendarDoc::taiwan_default(),
            version: 0,
            updated_at: None,
        })),
        None => Ok(None),
    }
}

fn load_calendar(tx: &mut Tx<'_>, id: i64) -> anyhow::Result<Result<Calendar, String>> {
    Ok(match load_calendar_doc(tx, id)? {
        Some(view) => view
            .doc
            .calendar()
            .map_err(|e| format!("calendar {id}: {e}")),
        None => Err(format!("calendar {id} does not exist")),
    })
}

/// What the clocks of a ticket are, as of `now`.
struct Evaluation {
    /// Shared: the bulk recompute evaluates thousands of tickets under the same policies.
    policy: std::sync::Arc<Policy>,
    calendar_id: i64,
    state: SlaState,
}

fn facts(t: &TicketRow) -> anyhow::Result<TicketFacts> {
    let channel = TicketChannel::parse(&t.channel)?;
    Ok(TicketFacts {
        channel: channel.sla_channel(),
        priority: parse_priority(&t.priority)?,
        tier: None,
        category: t.category.clone(),
    })
}

/// Evaluates the ticket's clocks. `Ok(Err(reason))` when they cannot be computed (a calendar
/// without open time, a missing calendar): the ticket keeps working, the reason is shown.
fn evaluate(
    tx: &mut Tx<'_>,
    t: &TicketRow,
    events: &[TicketEventRow],
    now: Timestamp,
) -> anyhow::Result<Result<Evaluation, String>> {
    // A ticket merged into another has no clocks of its own any more (merge::merge_tickets).
    if let Some(into) = store::desk_ops::merged_into(tx, t.id)? {
        return Ok(Err(format!(
            "merged into ticket {into}: its clocks stopped at the merge"
        )));
    }
    let facts = facts(t)?;
    let policies = load_policies(tx)?;
    let (policy, calendar_id) = policies
        .into_iter()
        .find(|(p, _)| p.when.matches(&facts))
        .unwrap_or_else(|| {
            (
                default_policy(facts.channel, facts.priority),
                DEFAULT_CALENDAR_ID,
            )
        });
    let calendar = match load_calendar(tx, calendar_id)? {
        Ok(c) => c,
        Err(reason) => return Ok(Err(reason)),
    };
    let decoded = decode(events)?;
    let log: Vec<(Timestamp, &TicketEvent)> = decoded.iter().map(|(at, e)| (*at, e)).collect();
    // A log too long for the engine keeps working as a conversation; its clocks show why not.
    let timeline = match desk::timeline(t.created_at, parse_party(&t.opened_by)?, &log) {
        Ok(timeline) => timeline,
        Err(e) => return Ok(Err(format!("timeline: {e}"))),
    };
    Ok(match sla::evaluate(&timeline, &policy, &calendar, now) {
        Ok(state) => Ok(Evaluation {
            policy: std::sync::Arc::new(policy),
            calendar_id,
            state,
        }),
        Err(e) => Err(e.to_string()),
    })
}

fn stored_clock_events(rows: &[SlaEventRow]) -> Vec<ClockEvent> {
    rows.iter()
        .filter_map(|r| {
            Some(ClockEvent {
                kind: ClockKind::parse(&r.clock)?,
                instance: u32::try_from(r.instance).ok()?,
                action: parse_action(&r.action)?,
                at: Timestamp::from_microsecond(r.at_micros).ok()?,
            })
        })
        .collect()
}

/// Re-evaluates a (locked) ticket: persists new clock events once, records warnings and
/// breaches in the ticket's log, schedules the next timer and updates the queue fields.
fn reevaluate(
    tx: &mut Tx<'_>,
    t: &TicketRow,
    now: Timestamp,
    attempts_max: i64,
) -> anyhow::Result<()> {
    let events = rows::events_of(tx, t.id)?;
    let evaluation = evaluate(tx, t, &events, now)?;
    apply_evaluation(tx, t, evaluation, None, now, attempts_max)
}

/// FNV-1a, 64 bits: a stable hash for [`evaluation_digest`].
fn fnv1a(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A digest of what an evaluation asks to persist: its policy, its clock events up to now and
/// its next timer. Equal digests mean the same rows were written last time.
fn evaluation_digest(e: &Evaluation) -> i64 {
    digest_with_timer(e, timer_micros(e))
}

/// The timer an evaluation asks for, as stored in `tickets.sla_timer` (`i64::MIN`: none).
fn timer_micros(e: &Evaluation) -> i64 {
    sla::next_timer(&e.state).map_or(i64::MIN, Timestamp::as_microsecond)
}

/// [`evaluation_digest`] with `timer` in place of the evaluation's own: equal to the stored
/// digest with the stored timer, the evaluation has the clock events persisted then.
fn digest_with_timer(e: &Evaluation, timer: i64) -> i64 {
    let mut h = fnv1a(0xcbf2_9ce4_8422_2325, e.policy.name.as_bytes());
    for ev in &e.state.events {
        h = fnv1a(h, ev.kind.as_str().as_bytes());
        h = fnv1a(h, &ev.instance.to_le_bytes());
        h = fnv1a(h, action_as_str(ev.action).as_bytes());
        h = fnv1a(h, &ev.at.as_microsecond().to_le_bytes());
    }
    h = fnv1a(h, &timer.to_le_bytes());
    h as i64
}

/// How far the evaluation looked at its calendar, as stored in `tickets.sla_horizon`
/// (`i64::MIN`: not at all). A calendar edit whose first difference is after it cannot change
/// the ticket's clocks ([`domain::sla::SlaState::calendar_horizon`]).
fn horizon_micros(e: &Evaluation) -> i64 {
    e.state
        .calendar_horizon
        .map_or(i64::MIN, Timestamp::as_microsecond)
}

/// Persists what an evaluation found (see [`reevaluate`]): the same code as the bulk
/// recompute's, for one ticket ([`recompute::persist`]).
fn apply_evaluation(
    tx: &mut Tx<'_>,
    t: &TicketRow,
    evaluation: Result<Evaluation, String>,
    known_digest: Option<i64>,
    now: Timestamp,
    attempts_max: i64,
) -> anyhow::Result<()> {
    recompute::persist(
        tx,
        vec![recompute::Outcome {
            ticket: t,
            evaluation,
            known: known_digest.map(|digest| recompute::Known {
                digest: Some(digest),
                horizon: None,
                calendar_id: None,
                timer: None,
            }),
        }],
        now,
        attempts_max,
    )
}

fn refused(e: desk::TicketRefusal) -> AppError {
    AppError::TicketRefused(e)
}

/// The current state fields of a ticket row, parsed.
pub(crate) struct Current {
    status: Status,
    priority: Priority,
    category: Option<String>,
    assignee: Option<String>,
}

fn current(t: &TicketRow) -> anyhow::Result<Current> {
    Ok(Current {
        status: parse_status(&t.status)?,
        priority: parse_priority(&t.priority)?,
        category: t.category.clone(),
        assignee: t.assignee.clone(),
    })
}

fn save_state(tx: &mut Tx<'_>, id: i64, c: &Current, now: Timestamp) -> anyhow::Result<()> {
    rows::update_state(
        tx,
        id,
        &rows::TicketState {
            status: c.status.as_str(),
            priority: priority_as_str(c.priority),
            category: c.category.as_deref(),
            assignee: c.assignee.as_deref(),
            now_micros: now.as_microsecond(),
        },
    )
}

/// The year part of a reference: the creation year in the default calendar's zone.
fn reference_year(tx: &mut Tx<'_>, at: Timestamp) -> anyhow::Result<i16> {
    let zone = load_calendar_doc(tx, DEFAULT_CALENDAR_ID)?
        .and_then(|c| jiff::tz::TimeZone::get(&c.doc.zone).ok())
        .unwrap_or(jiff::tz::TimeZone::UTC);
    Ok(at.to_zoned(zone).year())
}

/// What triage needs from the app: the classifier in force and the settings.
pub(crate) struct TriageContext<'a> {
    pub model_version: i64,
    pub classifier: &'a domain::desk::classify::Classifier,
    pub settings: &'a crate::Settings,
}

/// What triage decided for a new ticket.
pub(crate) struct Triage {
    analysis: domain::desk::classify::Analysis,
    priority: Priority,
    assignee: Option<String>,
    /// The team the ticket joins (given, or by category).
    team: Option<String>,
    model_version: i64,
}

impl Triage {
    /// The `classified` log line: `key=value` pairs, no personal data.
    fn summary(&self, priority: Priority) -> String {
        let a = &self.analysis;
        let urgency: Vec<&str> = a.urgency.iter().map(|u| u.as_str()).collect();
        format!(
            "category={} confidence={:.2} sentiment={:.2} ({}) urgency={} intent={} priority={} model={}",
            a.category.as_str(),
            a.confidence,
            a.sentiment,
            a.sentiment_label().as_str(),
            if urgency.is_empty() {
                "none".to_owned()
            } else {
                urgency.join(",")
            },
            a.intent.map_or("none", |i| i.as_str()),
            priority_as_str(priority),
            self.model_version,
        )
    }
}

/// Classifies the opening message, values the customer (tier, CLV), applies the priority
/// rule and picks an agent from the roster ([`domain::desk::triage`]).
fn triage_tx(
    tx: &mut Tx<'_>,
    with: &TriageContext<'_>,
    v: &ValidTicket,
    customer_id: Option<i64>,
    now: Timestamp,
) -> AppResult<Triage> {
    use domain::desk::triage::{self, CustomerValue, TriageFacts};
    let analysis = with
        .classifier
        .analyse(v.subject.as_deref(), v.body.as_str());
    let value = match customer_id {
        None => CustomerValue::Standard,
        Some(id) => {
            let tier = crate::loyalty::tier_rank_tx(tx, with.settings, id, now)?;
            let clv = store::predictions::prediction(tx, id)?.and_then(|p| p.clv_12m_minor);
            CustomerValue::of(tier, clv)
        }
    };
    let category = v.category.unwrap_or(analysis.category);
    let facts = TriageFacts {
        category,
        sentiment: analysis.sentiment,
        urgency: &analysis.urgency,
        value,
    };
    let priority = triage::priority(&facts);
    let senior = triage::needs_senior(&facts, priority);
    // A ticket with a team is routed among the team's members only.
    let team = teams::resolve_team(tx, v.team.as_deref(), Some(category))?;
    let members = match &team {
        Some(t) => Some(store::desk_teams::members(tx, t)?),
        None => None,
    };
    let roster: Vec<triage::Agent> = rows_triage::agents(tx)?
        .into_iter()
        .filter(|a| members.as_ref().is_none_or(|m| m.contains(&a.handle)))
        .map(|a| triage::Agent {
            skills: a
                .skills
                .split(',')
                .filter_map(|s| Category::parse(s.trim()).ok())
                .collect(),
            handle: a.handle,
            senior: a.senior,
            max_load: a.max_load,
            active: a.active,
            load: a.load,
            last_assigned_seq: a.last_assigned_seq,
        })
        .collect();
    let assignee = triage::choose_agent(&roster, category, senior).map(|a| a.handle.clone());
    Ok(Triage {
        analysis,
        priority,
        assignee,
        team,
        model_version: with.model_version,
    })
}

/// A customer's message arriving on a channel, in the caller's transaction: appended to the
/// ticket `existing` names (reopening it when solved), or else a new ticket opened from `input`
/// for `customer_id` with its clocks, triage and acknowledgement. Answers the ticket id and
/// whether it was opened; every channel's inbound path comes through here.
#[allow(clippy::too_many_arguments)]
pub(crate) fn customer_message_tx(
    tx: &mut Tx<'_>,
    who: &Principal,
    existing: Option<i64>,
    input: &TicketInput,
    customer_id: Option<i64>,
    now: Timestamp,
    attempts_max: i64,
    line_reply_token: Option<&str>,
    with: &TriageContext<'_>,
) -> AppResult<(i64, bool)> {
    if let Some(id) = existing {
        let body = Body::parse(&input.body).map_err(|e| e.within("message"))?;
        change_ticket_tx(tx, who, id, now, attempts_max, "ticket.message", |s| {
            message_log(s, Sender::Customer, false, body)
        })?;
        return Ok((id, false));
    }
    let v = input.validate().map_err(|e| e.within("message"))?;
    let customer = customer_id.map(CustomerRef::Id);
    let id = open_ticket_tx(
        tx,
        who,
        &v,
        customer.as_ref(),
        None,
        now,
        attempts_max,
        line_reply_token,
        with,
    )?;
    Ok((id, true))
}

/// Opens a ticket in the caller's transaction: resolves the customer and the order, writes
/// the log (with the automatic acknowledgement on the channels that get one) and starts the
/// clocks. `line_reply_token` lets the acknowledgement answer a LINE message by reply.
#[allow(clippy::too_many_arguments)]
pub(crate) fn open_ticket_tx(
    tx: &mut Tx<'_>,
    who: &Principal,
    v: &ValidTicket,
    customer: Option<&CustomerRef>,
    order_id: Option<i64>,
    now: Timestamp,
    attempts_max: i64,
    line_reply_token: Option<&str>,
    triage_with: &TriageContext<'_>,
) -> AppResult<i64> {
    let mut customer_id = match customer {
        None => None,
        Some(CustomerRef::Id(id)) => {
            if !store::customers::exists(tx, *id)? {
                return Err(AppError::UnknownCustomer);
            }
            Some(*id)
        }
        Some(CustomerRef::Described(d)) => {
            let valid = d.validate().map_err(|e| e.within("customer"))?;
            let (id, _created): (i64, Created) =
                resolve_or_create(tx, &valid, now.as_microsecond())?;
            Some(id)
        }
    };
    if let Some(order_id) = order_id {
        let order = store::events::get(tx, order_id)?
            .filter(|e| e.kind == EventKind::OrderPlaced)
            .ok_or(AppError::UnknownOrder)?;
        match (customer_id, order.customer_id) {
            (None, owner) => customer_id = owner,
            (Some(c), Some(owner)) if c != owner => {
                return Err(
                    FieldError::new("order_id", "the order belongs to another customer").into(),
                );
            }
            _ => {}
        }
    }
    let from = match v.opened_by {
        Party::Customer => Sender::Customer,
        Party::Agent => Sender::Agent,
    };
    let status = match desk::status_after_message(Status::New, from).map_err(refused)? {
        Some(s) => s,
        None => Status::New,
    };
    // Triage of a customer's message: classification, priority, routing.
    let triage = match v.opened_by {
        Party::Customer => Some(triage_tx(tx, triage_with, v, customer_id, now)?),
        Party::Agent => None,
    };
    let priority = match &triage {
        Some(t) if !v.priority_given => t.priority,
        _ => v.priority,
    };
    let category = v.category.or(triage.as_ref().map(|t| t.analysis.category));
    let assignee = v
        .assignee
        .clone()
        .or_else(|| triage.as_ref().and_then(|t| t.assignee.clone()));
    let team = match &triage {
        Some(t) => t.team.clone(),
        None => teams::resolve_team(tx, v.team.as_deref(), v.category)?,
    };
    if let (Some(team), Some(agent)) = (&team, &v.assignee)
        && !store::desk_teams::members(tx, team)?.contains(agent)
    {
        return Err(refused(desk::TicketRefusal::AgentNotInTeam));
    }
    let id = rows::insert_ticket(
        tx,
        &rows::NewTicket {
            channel: v.channel.as_str(),
            status: status.as_str(),
            priority: priority_as_str(priority),
            category: category.map(Category::as_str),
            subject: v.subject.as_deref(),
            customer_id,
            order_event_id: order_id,
            assignee: assignee.as_deref(),
            opened_by: desk::party_as_str(v.opened_by),
            now_micros: now.as_microsecond(),
        },
    )?;
    let reference = Reference {
        year: reference_year(tx, now)?,
        ticket_id: id,
    };
    rows::set_reference(tx, id, &reference.to_string())?;
    let mut log = vec![TicketEvent::Opened {
        channel: v.channel,
        by: v.opened_by,
    }];
    if let Some(p) = (v.priority != Priority::Normal).then_some(v.priority) {
        log.push(TicketEvent::PriorityChanged { priority: p });
    }
    if v.category.is_some() {
        log.push(TicketEvent::CategoryChanged {
            category: v.category,
        });
    }
    if v.assignee.is_some() {
        log.push(TicketEvent::Assigned {
            assignee: v.assignee.clone(),
        });
    }
    log.push(TicketEvent::Message {
        from,
        ack_only: false,
        body: v.body.clone(),
    });
    if status != Status::New {
        log.push(TicketEvent::Status {
            from: Status::New,
            to: status,
        });
    }
    for e in &log {
        rows::append_event(tx, &event_row(id, now, &who.actor, e))?;
    }
    if let Some(team) = &team {
        // The request named the team, or the category placed it (a system decision).
        let actor = if v.team.is_some() {
            &who.actor
        } else {
            "system"
        };
        store::desk_teams::set_team(tx, id, Some(team))?;
        let placed = TicketEvent::HandedOff {
            from: None,
            to: team.clone(),
            note: None,
        };
        rows::append_event(tx, &event_row(id, now, actor, &placed))?;
    }
    if let Some(t) = &triage {
        let mut system = vec![TicketEvent::Classified {
            summary: t.summary(priority),
        }];
        if v.category.is_none() {
            system.push(TicketEvent::CategoryChanged { category });
        }
        if !v.priority_given && priority != Priority::Normal {
            system.push(TicketEvent::PriorityChanged { priority });
        }
        if v.assignee.is_none()
            && let Some(a) = &t.assignee
        {
            rows_triage::record_assignment(tx, a)?;
            system.push(TicketEvent::Assigned {
                assignee: Some(a.clone()),
            });
        }
        for e in &system {
            rows::append_event(tx, &event_row(id, now, "system", e))?;
        }
    }
    let row = rows::get_ticket(tx, id)?.ok_or(AppError::NotFound)?;
    if v.opened_by == Party::Customer && replies::acknowledges(v.channel) {
        replies::acknowledge(
            tx,
            &row,
            triage_with.settings,
            now,
            attempts_max,
            line_reply_token,
        )?;
        // Tier two: a FAQ answer when the intent is certain and the ticket can fill it.
        if let Some(intent) = triage.as_ref().and_then(|t| t.analysis.intent) {
            replies::answer_faq(tx, &row, intent, triage_with, now, attempts_max)?;
        }
    }
    reevaluate(tx, &row, now, attempts_max)?;
    store::audit::insert(
        tx,
        now.as_microsecond(),
        &who.actor,
        "ticket.open",
        Some(&format!("ticket:{id}")),
        Some(&format!("channel={}", v.channel)),
    )?;
    Ok(id)
}

/// Runs `change` on a locked ticket in the caller's transaction, appends what it returns,
/// saves the state, sends outbound messages of a LINE ticket to LINE (through the outbox)
/// or of an e-mail ticket by e-mail, and re-evaluates the clocks. Answers the ids of the
/// e-mail messages queued.
pub(crate) fn change_ticket_tx(
    tx: &mut Tx<'_>,
    who: &Principal,
    id: i64,
    now: Timestamp,
    attempts_max: i64,
    action: &str,
    change: impl FnOnce(&mut Current) -> AppResult<Vec<TicketEvent>>,
) -> AppResult<Vec<i64>> {
    let row = rows::lock_ticket(tx, id)?.ok_or(AppError::NotFound)?;
    let mut state = current(&row)?;
    let log = change(&mut state)?;
    let mut queued = Vec::new();
    if log.is_empty() {
        return Ok(queued);
    }
    let at = entry_instant(tx, id, now)?;
    for e in &log {
        rows::append_event(tx, &event_row(id, at, &who.actor, e))?;
        if let TicketEvent::Message { from, body, .. } = e
            && *from != Sender::Customer
            && row.channel == TicketChannel::Line.as_str()
        {
            crate::line::enqueue_for_ticket(tx, &row, body.as_str(), None, now, attempts_max)?;
        }
        if let TicketEvent::Message { from, body, .. } = e
            && *from != Sender::Customer
            && row.channel == TicketChannel::Email.as_str()
        {
            let auto_reply = *from != Sender::Agent;
            queued.push(crate::email::enqueue_for_ticket(
                tx,
                &row,
                body.as_str(),
                auto_reply,
                now,
                attempts_max,
            )?);
        }
    }
    save_state(tx, id, &state, at)?;
    let row = rows::get_ticket(tx, id)?.ok_or(AppError::NotFound)?;
    reevaluate(tx, &row, now, attempts_max)?;
    store::audit::insert(
        tx,
        now.as_microsecond(),
        &who.actor,
        action,
        Some(&format!("ticket:{id}")),
        None,
    )?;
    Ok(queued)
}

/// The log entries of a public message: a customer's message on a solved, closed or
/// waiting ticket reopens it first; an agent's first answer opens a new one after it.
pub(crate) fn message_log(
    state: &mut Current,
    from: Sender,
    ack_only: bool,
    body: Body,
) -> AppResult<Vec<TicketEvent>> {
    let mut log = Vec::new();
    let next = desk::status_after_message(state.status, from).map_err(refused)?;
    if from == Sender::Customer
        && let Some(to) = next
    {
        log.push(TicketEvent::Status {
            from: state.status,
            to,
        });
        state.status = to;
    }
    log.push(TicketEvent::Message {
        from,
        ack_only,
        body,
    });
    if from != Sender::Customer
        && !ack_only
        && let Some(to) = next
    {
        log.push(TicketEvent::Status {
            from: state.status,
            to,
        });
        state.status = to;
    }
    Ok(log)
}

impl App {
    /// Opens a ticket with its first message and starts its clocks.
    pub fn open_ticket(&self, who: &Principal, input: &TicketInput) -> AppResult<TicketView> {
        let v = input.validate()?;
        let customer = input
            .customer
            .as_ref()
            .map(|c| match c {
                CustomerRef::Id(id) if *id > 0 => Ok(CustomerRef::Id(*id)),
                CustomerRef::Id(_) => Err(FieldError::new("customer.id", "must be positive")),
                CustomerRef::Described(d) => d
                    .validate()
                    .map(|_| CustomerRef::Described(d.clone()))
                    .map_err(|e| e.within("customer")),
            })
            .transpose()?;
        let now = self.now();
        let attempts_max = self.settings.job_attempts_max;
        let (model_version, classifier) = self.classifier()?;
        let with = TriageContext {
            model_version,
            classifier: &classifier,
            settings: &self.settings,
        };
        let id = self.store.write(|tx| {
            open_ticket_tx(
                tx,
                who,
                &v,
                customer.as_ref(),
                input.order_id,
                now,
                attempts_max,
                None,
                &with,
            )
        })?;
        tracing::info!(ticket_id = id, channel = %v.channel, "ticket opened");
        self.ticket(id)
    }

    /// Runs `change` on a locked ticket, appends what it returns, saves the state and
    /// re-evaluates the clocks, all in one transaction.
    fn change_ticket(
        &self,
        who: &Principal,
        id: i64,
        action: &str,
        change: impl Fn(&mut Current) -> AppResult<Vec<TicketEvent>>,
    ) -> AppResult<TicketView> {
        let now = self.now();
        let attempts_max = self.settings.job_attempts_max;
        self.store
            .write(|tx| change_ticket_tx(tx, who, id, now, attempts_max, action, &change))?;
        self.ticket(id)
    }

    /// Adds a public message. A customer's message reopens a solved or closed ticket; an
    /// agent's first answer opens a new one; an agent may not write on a closed ticket
    /// (`TicketRefused(Closed)`: reopen it first).
    pub fn add_message(
        &self,
        who: &Principal,
        id: i64,
        input: &MessageInput,
    ) -> AppResult<TicketView> {
        self.add_message_with_attachments(who, id, input, &[])
    }

    /// [`App::add_message`] with stored attachments of the ticket sent along: only on an
    /// e-mail ticket, from an agent or AI, within the per-message limits (recorded with the
    /// outgoing e-mail, `email_outgoing_attachments`).
    pub fn add_message_with_attachments(
        &self,
        who: &Principal,
        id: i64,
        input: &MessageInput,
        attachment_ids: &[i64],
    ) -> AppResult<TicketView> {
        let from = Sender::parse(&input.from)?;
        let body = Body::parse(&input.body)?;
        if input.ack_only && from == Sender::Customer {
            return Err(FieldError::new("ack_only", "only outbound messages acknowledge").into());
        }
        if !attachment_ids.is_empty() && !matches!(from, Sender::Agent | Sender::Ai) {
            return Err(FieldError::new(
                "attachment_ids",
                "only an agent's or AI's message sends attachments",
            )
            .into());
        }
        let now = self.now();
        let attempts_max = self.settings.job_attempts_max;
        let id = self.store.write(|tx| {
            // A ticket merged into another: the conversation continues on the survivor.
            let id = merge::survivor(tx, id)?;
            if !attachment_ids.is_empty() {
                let row = rows::get_ticket(tx, id)?.ok_or(AppError::NotFound)?;
                if row.channel != TicketChannel::Email.as_str() {
                    return Err(FieldError::new(
                        "attachment_ids",
                        "attachments are sent on e-mail tickets only",
                    )
                    .into());
                }
                crate::email::check_outgoing_attachments(tx, id, attachment_ids)?;
            }
            let queued = change_ticket_tx(tx, who, id, now, attempts_max, "ticket.message", |s| {
                message_log(s, from, input.ack_only, body.clone())
            })?;
            if !attachment_ids.is_empty() {
                let [email_id] = queued[..] else {
                    return Err(anyhow!("{} e-mails queued for one message", queued.len()).into());
                };
                store::email::attach_outgoing(tx, email_id, attachment_ids)?;
                // The message just logged names what it sent.
                let message = rows::last_message_id(tx, id, from.as_str())?
                    .ok_or_else(|| anyhow!("ticket {id}: the message was not logged"))?;
                store::email::attach_to_event(tx, message, attachment_ids)?;
            }
            Ok::<_, AppError>(id)
        })?;
        self.ticket(id)
    }

    /// Adds an internal note (never shown to the customer).
    pub fn add_note(&self, who: &Principal, id: i64, body: &str) -> AppResult<TicketView> {
        let body = Body::parse(body)?;
        self.change_ticket(who, id, "ticket.note", |state| {
            desk::check_writable(state.status).map_err(refused)?;
            Ok(vec![TicketEvent::Note {
                from: Sender::Agent,
                body: body.clone(),
            }])
        })
    }

    /// Logs a follow-up contact (the in-store `follow_up` promise).
    pub fn add_follow_up(&self, who: &Principal, id: i64, body: &str) -> AppResult<TicketView> {
        let body = Body::parse(body)?;
        self.change_ticket(who, id, "ticket.follow_up", |state| {
            desk::check_writable(state.status).map_err(refused)?;
            Ok(vec![TicketEvent::FollowUp { body: body.clone() }])
        })
    }

    /// Changes the status; the same status again changes nothing.
    pub fn change_status(&self, who: &Principal, id: i64, status: &str) -> AppResult<TicketView> {
        let to = parse_status(status)?;
        self.change_ticket(who, id, "ticket.status", |state| match desk::status_change(
            state.status,
            to,
        )
        .map_err(refused)?
        {
            None => Ok(Vec::new()),
            Some(to) => {
                let from = state.status;
                state.status = to;
                Ok(vec![TicketEvent::Status { from, to }])
            }
        })
    }

    /// Assigns the ticket to an agent handle, or unassigns it with `None`.
    pub fn assign_ticket(
        &self,
        who: &Principal,
        id: i64,
        assignee: Option<&str>,
    ) -> AppResult<TicketView> {
        let assignee = assignee.map(parse_assignee).transpose()?;
        let now = self.now();
        let attempts_max = self.settings.job_attempts_max;
        self.store.write(|tx| {
            // A ticket with a team goes only to a member of that team.
            if let Some(agent) = &assignee
                && let Some(team) = store::desk_teams::team_of(tx, id)?
                && !store::desk_teams::members(tx, &team)?.contains(agent)
            {
                return Err(refused(desk::TicketRefusal::AgentNotInTeam));
            }
            change_ticket_tx(tx, who, id, now, attempts_max, "ticket.assign", |state| {
                desk::check_writable(state.status).map_err(refused)?;
                if state.assignee == assignee {
                    return Ok(Vec::new());
                }
                state.assignee = assignee.clone();
                Ok(vec![TicketEvent::Assigned {
                    assignee: assignee.clone(),
                }])
            })
        })?;
        self.ticket(id)
    }

    /// Changes priority and/or category; the policy is chosen again with the new values and
    /// deadlines are recomputed from the original starts.
    pub fn classify_ticket(
        &self,
        who: &Principal,
        id: i64,
        priority: Option<&str>,
        category: Option<Option<&str>>,
    ) -> AppResult<TicketView> {
        let priority = priority.map(parse_priority).transpose()?;
        let category = category
            .map(|c| c.map(Category::parse).transpose())
            .transpose()?;
        self.change_ticket(who, id, "ticket.classify", |state| {
            desk::check_writable(state.status).map_err(refused)?;
            let mut log = Vec::new();
            if let Some(p) = priority.filter(|p| *p != state.priority) {
                state.priority = p;
                log.push(TicketEvent::PriorityChanged { priority: p });
            }
            if let Some(c) = category {
                let name = c.map(|c| c.as_str().to_owned());
                if name != state.category {
                    state.category = name;
                    log.push(TicketEvent::CategoryChanged { category: c });
                }
            }
            Ok(log)
        })
        .and_then(|view| {
            // A person's label is a training example: retrain within the hour.
            if category.is_some() {
                self.schedule_classifier_retrain()?;
            }
            Ok(view)
        })
    }

    /// A ticket by id, with its log and its clocks as of now (computed, not stored).
    pub fn ticket(&self, id: i64) -> AppResult<TicketView> {
        let now = self.now();
        self.store.read(|tx| {
            let row = rows::get_ticket(tx, id)?.ok_or(AppError::NotFound)?;
            let events = rows::events_of(tx, id)?;
            let (sla, sla_error) = match evaluate(tx, &row, &events, now)? {
                Ok(e) => (
                    Some(SlaView {
                        policy: e.policy.name.clone(),
                        calendar_id: e.calendar_id,
                        clocks: e.state.clocks.iter().map(clock_view).collect(),
                    }),
                    None,
                ),
                Err(reason) => (None, Some(reason)),
            };
            let mut carried: HashMap<i64, Vec<MessageAttachmentView>> = HashMap::new();
            for a in store::email::event_attachments_of_ticket(tx, id)? {
                carried
                    .entry(a.event_id)
                    .or_default()
                    .push(MessageAttachmentView {
                        attachment_id: a.attachment.id,
                        filename: a.attachment.filename,
                        content_type: a.attachment.content_type,
                        size_bytes: a.attachment.size_bytes,
                        refused_reason: a.attachment.refused_reason,
                    });
            }
            let events = events
                .into_iter()
                .map(|e| {
                    let attachments = carried.remove(&e.id).unwrap_or_default();
                    event_view(e, attachments)
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let mut ticket = [summary(row)];
            with_labels(tx, &mut ticket)?;
            let [ticket] = ticket;
            Ok(TicketView {
                ticket,
                events,
                sla,
                sla_error,
            })
        })
    }

    /// A ticket by its id (`123`) or reference (`T-2026-000123`).
    pub fn find_ticket_id(&self, text: &str) -> AppResult<i64> {
        if let Ok(id) = text.parse::<i64>() {
            return Ok(id);
        }
        let reference = Reference::parse(text).ok_or(AppError::NotFound)?;
        let row = self
            .store
            .read(|tx| rows::get_ticket(tx, reference.ticket_id))?
            .filter(|t| t.reference == reference.to_string())
            .ok_or(AppError::NotFound)?;
        Ok(row.id)
    }

    /// A page of the queue after `after_id`, in id order (oldest first).
    pub fn tickets(
        &self,
        query: &TicketQuery,
        after_id: i64,
        limit: i64,
    ) -> AppResult<Vec<TicketSummary>> {
        // One more than a page is allowed: the API asks for it to tell whether a page follows.
        if !(1..=TICKET_PAGE_MAX + 1).contains(&limit) {
            return Err(FieldError::new("limit", format!("must be 1 to {TICKET_PAGE_MAX}")).into());
        }
        for s in &query.statuses {
            parse_status(s)?;
        }
        let assignee = match query.assignee.as_deref() {
            None => None,
            Some("none") => Some(None),
            Some(a) => Some(Some(parse_assignee(a)?)),
        };
        let tag = query
            .tag
            .as_deref()
            .map(domain::desk::teams::parse_tag)
            .transpose()?;
        let team = match query.team.as_deref() {
            None => None,
            Some("none") => Some(None),
            Some(t) => Some(Some(domain::desk::teams::parse_team(t)?)),
        };
        let filter = rows::TicketFilter {
            statuses: query.statuses.iter().map(String::as_str).collect(),
            assignee: assignee.as_ref().map(|a| a.as_deref()),
            customer_id: query.customer_id,
            tag: tag.as_deref(),
            team: team.as_ref().map(|t| t.as_deref()),
        };
        Ok(self.store.read(|tx| {
            let mut page: Vec<TicketSummary> = rows::list_tickets(tx, &filter, after_id, limit)?
                .into_iter()
                .map(summary)
                .collect();
            with_labels(tx, &mut page)?;
            anyhow::Ok(page)
        })?)
    }

    /// A calendar; calendar 1 is the Taiwan preset until stored.
    pub fn calendar(&self, id: i64) -> AppResult<CalendarView> {
        self.store
            .read(|tx| load_calendar_doc(tx, id))?
            .ok_or(AppError::NotFound)
    }

    /// Creates or replaces a calendar after validating it (errors name the entry), and
    /// schedules the re-evaluation of every ticket not closed (a closure added today moves
    /// today's deadlines, helpdesk.md T27).
    pub fn put_calendar(
        &self,
        who: &Principal,
        id: i64,
        doc: &CalendarDoc,
    ) -> AppResult<CalendarView> {
        if id <= 0 {
            return Err(FieldError::new("id", "must be positive").into());
        }
        let spec = doc.to_spec()?;
        domain::calendar::Calendar::new(&spec).map_err(|e| e.to_field_error())?;
        let normalized = CalendarDoc::from_spec(&doc.name, &spec);
        let text = serde_json::to_string(&normalized).context("calendar to JSON")?;
        let now = self.now_micros();
        let attempts_max = self.settings.job_attempts_max;
        self.store.write(|tx| {
            let edit = calendar_edit(tx, id, &spec)?;
            let version = rows::put_calendar(tx, id, &normalized.name, &text, now)?;
            enqueue_recompute(
                tx,
                0,
                now,
                attempts_max,
                &format!("calendar:{id}:{version}"),
                Some(&edit),
            )?;
            store::audit::insert(
                tx,
                now,
                &who.actor,
                "calendar.put",
                Some(&format!("calendar:{id}")),
                Some(&format!("version={version}")),
            )?;
            Ok::<_, AppError>(())
        })?;
        self.calendar(id)
    }

    /// The ordered SLA policies as stored (empty: the built-in defaults apply).
    pub fn sla_policies(&self) -> AppResult<Vec<PolicyDoc>> {
        self.store.read(|tx| {
            rows::policies(tx)?
                .into_iter()
                .map(|r| {
                    serde_json::from_str(&r.spec)
                        .with_context(|| format!("stored policy {}", r.position))
                        .map_err(AppError::from)
                })
                .collect()
        })
    }

    /// Replaces the ordered SLA policy list (first match wins) and re-evaluates open tickets.
    pub fn put_sla_policies(&self, who: &Principal, docs: &[PolicyDoc]) -> AppResult<()> {
        if docs.len() > SLA_POLICIES_MAX {
            return Err(FieldError::new(
                "policies",
                format!("at most {SLA_POLICIES_MAX} policies"),
            )
            .into());
        }
        let now = self.now_micros();
        let attempts_max = self.settings.job_attempts_max;
        let mut stored = Vec::with_capacity(docs.len());
        for (i, doc) in docs.iter().enumerate() {
            doc.policy()
                .map_err(|e| e.within(&format!("policies[{i}]")))?;
            stored.push(rows::PolicyRow {
                position: i as i64,
                name: doc.name.trim().to_owned(),
                spec: serde_json::to_string(doc).context("policy to JSON")?,
                calendar_id: doc.calendar_id,
            });
        }
        self.store.write(|tx| {
            for (i, doc) in docs.iter().enumerate() {
                if load_calendar_doc(tx, doc.calendar_id)?.is_none() {
                    return Err(AppError::Invalid(FieldError::new(
                        format!("policies[{i}].calendar_id"),
                        "no such calendar",
                    )));
                }
            }
            rows::replace_policies(tx, &stored, now)?;
            enqueue_recompute(tx, 0, now, attempts_max, &format!("policies:{now}"), None)?;
            store::audit::insert(
                tx,
                now,
                &who.actor,
                "sla_policies.put",
                None,
                Some(&format!("policies={}", docs.len())),
            )?;
            Ok(())
        })
    }

    /// The job body of [`SLA_TIMER_JOB`].
    pub fn run_sla_timer_job(&self, payload: &str) -> Result<(), String> {
        let value: serde_json::Value =
            serde_json::from_str(payload).map_err(|e| format!("bad payload: {e}"))?;
        let result = if let Some(id) = value.get("ticket_id").and_then(|v| v.as_i64()) {
            self.sla_timer(id)
        } else if let Some(after) = value.get("recompute_after").and_then(|v| v.as_i64()) {
            // A calendar edit names the calendar and its first difference; a policy edit
            // (or a job from before migration 17) recomputes every open ticket.
            let edit = match (
                value.get("calendar_id").and_then(|v| v.as_i64()),
                value.get("changed_from").and_then(|v| v.as_i64()),
            ) {
                (Some(calendar_id), Some(changed_from_micros)) => {
                    Some(store::desk_ops::CalendarEdit {
                        calendar_id,
                        changed_from_micros,
                    })
                }
                _ => None,
            };
            self.sla_recompute_page(
                after,
                value.get("tag").and_then(|v| v.as_str()).unwrap_or(""),
                edit.as_ref(),
            )
        } else {
            return Err("payload names no ticket_id or recompute_after".to_owned());
        };
        result.map_err(|e| e.to_string())
    }

    /// Re-evaluates one ticket now (a timer fired).
    fn sla_timer(&self, id: i64) -> AppResult<()> {
        let now = self.now();
        let attempts_max = self.settings.job_attempts_max;
        self.store.write(|tx| {
            // A ticket that does not exist has nothing to time: done.
            if let Some(row) = rows::lock_ticket(tx, id)? {
                reevaluate(tx, &row, now, attempts_max)?;
            }
            Ok(())
        })
    }

    /// Re-evaluates a page of tickets not closed (after a calendar edit: those it may
    /// affect), then schedules the next page.
    fn sla_recompute_page(
        &self,
        after: i64,
        tag: &str,
        edit: Option<&store::desk_ops::CalendarEdit>,
    ) -> AppResult<()> {
        let now = self.now();
        let attempts_max = self.settings.job_attempts_max;
        self.store.write(|tx| {
            let chunk = recompute::recompute_chunk(
                tx,
                after,
                SLA_RECOMPUTE_PAGE_TICKETS,
                now,
                attempts_max,
                edit,
            )?;
            if let Some(last) = chunk
                .last_id
                .filter(|_| chunk.tickets as i64 == SLA_RECOMPUTE_PAGE_TICKETS)
            {
                enqueue_recompute(tx, last, now.as_microsecond(), attempts_max, tag, edit)?;
            }
            anyhow::Ok(())
        })?;
        Ok(())
    }

    /// Re-evaluates every ticket not closed now, chunk by chunk (what the recompute job does
    /// after a calendar or policy edit, without the job queue); returns how many.
    pub fn recompute_open_tickets(&self) -> AppResult<usize> {
        let now = self.now();
        let attempts_max = self.settings.job_attempts_max;
        let mut after = 0;
        let mut total = 0;
        loop {
            let chunk = self.store.write(|tx| {
                recompute::recompute_chunk(
                    tx,
                    after,
                    SLA_RECOMPUTE_PAGE_TICKETS,
                    now,
                    attempts_max,
                    None,
                )
            })?;
            total += chunk.tickets;
            match chunk.last_id {
                Some(last) if chunk.tickets as i64 == SLA_RECOMPUTE_PAGE_TICKETS => after = last,
                _ => return Ok(total),
            }
        }
    }
}

/// What replacing calendar `id` by `spec` may change: from its first difference with the
/// calendar in force (everything when that one is missing or broken; nothing new when equal,
/// then only tickets without a known horizon are recomputed).
fn calendar_edit(
    tx: &mut Tx<'_>,
    id: i64,
    spec: &domain::calendar::CalendarSpec,
) -> anyhow::Result<store::desk_ops::CalendarEdit> {
    let new = Calendar::new(spec).map_err(|e| anyhow!("calendar {id}: {e}"))?;
    let changed_from = match load_calendar(tx, id)? {
        Ok(old) => match old.first_difference(&new) {
            Ok(Some(at)) => at.as_microsecond(),
            Ok(None) => i64::MAX,
            Err(_) => i64::MIN,
        },
        Err(_) => i64::MIN,
    };
    Ok(store::desk_ops::CalendarEdit {
        calendar_id: id,
        changed_from_micros: changed_from,
    })
}

fn enqueue_recompute(
    tx: &mut Tx<'_>,
    after: i64,
    now_micros: i64,
    attempts_max: i64,
    tag: &str,
    edit: Option<&store::desk_ops::CalendarEdit>,
) -> anyhow::Result<()> {
    let payload = match edit {
        None => json!({ "recompute_after": after, "tag": tag }),
        Some(e) => json!({
            "recompute_after": after,
            "tag": tag,
            "calendar_id": e.calendar_id,
            "changed_from": e.changed_from_micros,
        }),
    }
    .to_string();
    let key = format!("{SLA_TIMER_JOB}:recompute:{tag}:{after}");
    store::jobs::enqueue(
        tx,
        &store::jobs::NewJob {
            kind: SLA_TIMER_JOB,
            payload: &payload,
            due_at_micros: now_micros,
            max_attempts: attempts_max,
            dedupe_key: Some(&key),
            now_micros,
        },
    )?;
    Ok(())
}

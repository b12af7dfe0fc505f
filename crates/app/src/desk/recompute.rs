//! Re-evaluating every open ticket after a calendar or policy edit, in chunks.
//!
//! One chunk is one write transaction: the chunk's tickets (locked on PostgreSQL) and their
//! clock-relevant log entries (without bodies) are read with two range queries; policies and
//! calendars are parsed once; the SLA engine evaluates the tickets in parallel on every core
//! (it is pure); then what changed is written with the same code as a single ticket's
//! re-evaluation ([`super::apply_evaluation`]). A ticket whose evaluation has the digest stored
//! by its last evaluation (same clock events, timer and policy) has nothing new to persist, so
//! its stored SLA events are not even read; only moved queue fields are written. The result is the
//! same as re-evaluating each ticket alone ([`super::reevaluate`]), at a fraction of the cost:
//! no per-ticket transaction, no per-ticket policy or calendar parsing.

use super::{
    DEFAULT_CALENDAR_ID, Evaluation, apply_evaluation, facts, load_calendar, load_policies,
};
use anyhow::anyhow;
use domain::calendar::Calendar;
use domain::desk::{self, Body, Sender, TicketEvent, parse_party, parse_status};
use domain::sla::{self, Policy, default_policy};
use jiff::Timestamp;
use std::collections::HashMap;
use store::desk_ops::{self, BulkTicket, ClockEntryRow};
use store::sql::Tx;

/// Tickets per chunk (one transaction: the write lock is held about 0.1 s per chunk on SQLite;
/// 20,000 per chunk measured no clear gain in `patron bench sla`).
pub const SLA_RECOMPUTE_CHUNK_TICKETS: i64 = 5_000;

/// Policies and calendars, parsed once per chunk.
struct Inputs {
    policies: Vec<(Policy, i64)>,
    calendars: HashMap<i64, Result<Calendar, String>>,
}

/// What a chunk did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChunkReport {
    pub tickets: usize,
    /// The last ticket id of the chunk (the next chunk starts after it).
    pub last_id: Option<i64>,
}

/// The clock-relevant entries of one ticket as domain events. Bodies are not read: the SLA
/// engine never looks at them, so every message carries the same placeholder.
fn decode(
    rows: &[ClockEntryRow],
    placeholder: &Body,
) -> anyhow::Result<Vec<(Timestamp, TicketEvent)>> {
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let at = store::instant(r.at_micros)?;
        let sender = || {
            Sender::parse(r.sender.as_deref().unwrap_or_default())
                .map_err(|e| anyhow!("ticket event {}: {e}", r.id))
        };
        let event = match r.kind.as_str() {
            "message" => TicketEvent::Message {
                from: sender()?,
                ack_only: r.ack_only,
                body: placeholder.clone(),
            },
            "note" => TicketEvent::Note {
                from: sender()?,
                body: placeholder.clone(),
            },
            "follow_up" => TicketEvent::FollowUp {
                body: placeholder.clone(),
            },
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

/// The same evaluation as [`super::evaluate`], from pre-loaded inputs.
fn evaluate_one(
    inputs: &Inputs,
    t: &BulkTicket,
    entries: &[ClockEntryRow],
    placeholder: &Body,
    now: Timestamp,
) -> anyhow::Result<Result<Evaluation, String>> {
    if let Some(into) = t.merged_into {
        return Ok(Err(format!(
            "merged into ticket {into}: its clocks stopped at the merge"
        )));
    }
    let facts = facts(&t.row)?;
    let (policy, calendar_id) = inputs
        .policies
        .iter()
        .find(|(p, _)| p.when.matches(&facts))
        .cloned()
        .unwrap_or_else(|| {
            (
                default_policy(facts.channel, facts.priority),
                DEFAULT_CALENDAR_ID,
            )
        });
    let calendar = match inputs.calendars.get(&calendar_id) {
        Some(Ok(c)) => c,
        Some(Err(reason)) => return Ok(Err(reason.clone())),
        None => return Ok(Err(format!("calendar {calendar_id} does not exist"))),
    };
    let decoded = decode(entries, placeholder)?;
    let log: Vec<(Timestamp, &TicketEvent)> = decoded.iter().map(|(at, e)| (*at, e)).collect();
    let timeline = match desk::timeline(t.row.created_at, parse_party(&t.row.opened_by)?, &log) {
        Ok(timeline) => timeline,
        Err(e) => return Ok(Err(format!("timeline: {e}"))),
    };
    Ok(match sla::evaluate(&timeline, &policy, calendar, now) {
        Ok(state) => Ok(Evaluation {
            policy,
            calendar_id,
            state,
        }),
        Err(e) => Err(e.to_string()),
    })
}

/// Rows of `all` (sorted by ticket id) per ticket id.
fn by_ticket<T>(all: &[T], id: impl Fn(&T) -> i64) -> HashMap<i64, &[T]> {
    let mut out = HashMap::new();
    let mut start = 0;
    while start < all.len() {
        let key = id(&all[start]);
        let mut end = start + 1;
        while end < all.len() && id(&all[end]) == key {
            end += 1;
        }
        out.insert(key, &all[start..end]);
        start = end;
    }
    out
}

/// Re-evaluates up to `limit` tickets not closed after `after_id` in the caller's transaction.
pub(crate) fn recompute_chunk(
    tx: &mut Tx<'_>,
    after_id: i64,
    limit: i64,
    now: Timestamp,
    attempts_max: i64,
) -> anyhow::Result<ChunkReport> {
    let tickets = desk_ops::bulk_unclosed_tickets(tx, after_id, limit)?;
    let (Some(first), Some(last)) = (tickets.first(), tickets.last()) else {
        return Ok(ChunkReport::default());
    };
    let (first_id, last_id) = (first.row.id, last.row.id);
    let entries = desk_ops::bulk_clock_entries(tx, first_id, last_id)?;
    let policies = load_policies(tx)?;
    let mut calendars = HashMap::new();
    for id in policies
        .iter()
        .map(|(_, c)| *c)
        .chain([DEFAULT_CALENDAR_ID])
    {
        if let std::collections::hash_map::Entry::Vacant(slot) = calendars.entry(id) {
            slot.insert(load_calendar(tx, id)?);
        }
    }
    let inputs = Inputs {
        policies,
        calendars,
    };
    let entries = by_ticket(&entries, |e| e.ticket_id);
    let placeholder = Body::parse("(body not read)").map_err(|e| anyhow!("{e}"))?;
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8);
    let per_thread = tickets.len().div_ceil(threads).max(1);
    let evaluations: Vec<anyhow::Result<Result<Evaluation, String>>> =
        std::thread::scope(|scope| {
            let handles: Vec<_> = tickets
                .chunks(per_thread)
                .map(|part| {
                    let (inputs, entries, placeholder) = (&inputs, &entries, &placeholder);
                    scope.spawn(move || {
                        part.iter()
                            .map(|t| {
                                let log = entries.get(&t.row.id).copied().unwrap_or(&[]);
                                evaluate_one(inputs, t, log, placeholder, now)
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("an SLA evaluation thread panicked"))
                .collect()
        });
    for (t, evaluation) in tickets.iter().zip(evaluations) {
        let evaluation = evaluation?;
        apply_evaluation(tx, &t.row, evaluation, t.sla_digest, now, attempts_max)?;
    }
    Ok(ChunkReport {
        tickets: tickets.len(),
        last_id: Some(last_id),
    })
}

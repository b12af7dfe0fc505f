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
    DEFAULT_CALENDAR_ID, Evaluation, SLA_TIMER_JOB, action_as_str, digest_with_timer,
    evaluation_digest, event_row, facts, horizon_micros, load_calendar, load_policies,
    stored_clock_events, timer_micros,
};
use anyhow::anyhow;
use domain::calendar::Calendar;
use domain::desk::{self, Body, Sender, TicketEvent, parse_party, parse_status};
use domain::sla::{self, ClockAction, ClockEvent, Policy, default_policy};
use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use store::desk::{SlaEventRow, TicketRow};
use store::desk_ops::{self, BulkTicket, ClockEntryRow};
use store::sql::Tx;

/// Tickets per chunk (one transaction: the write lock is held about 0.1 s per chunk on SQLite;
/// 20,000 per chunk measured no clear gain in `patron bench sla`).
pub const SLA_RECOMPUTE_CHUNK_TICKETS: i64 = 5_000;

/// How far past now a chunk's calendars are indexed ([`domain::calendar::Calendar::indexed`]):
/// the deadlines of open tickets lie mostly within days; later ones are computed unindexed.
const SLA_RECOMPUTE_INDEX_DAYS_AHEAD: i64 = 60;

/// Policies and calendars, parsed once per chunk.
struct Inputs {
    policies: Vec<(Arc<Policy>, i64)>,
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
                Arc::new(default_policy(facts.channel, facts.priority)),
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

/// A ticket's index in the chunk and its clock-relevant log, for a worker to evaluate.
type Work = (usize, Vec<ClockEntryRow>);

/// Sends the chunk's tickets to the workers in id order as their logs are read.
struct Feeder<'a> {
    tickets: &'a [BulkTicket],
    /// The first ticket not sent yet.
    next: usize,
    send: std::sync::mpsc::Sender<Work>,
}

impl Feeder<'_> {
    /// Sends every ticket before `id` with an empty log, then the ticket `id` with `log`
    /// (entries of a ticket not in the chunk, e.g. closed meanwhile, are dropped).
    fn send_upto(&mut self, id: i64, mut log: Vec<ClockEntryRow>) -> anyhow::Result<()> {
        while let Some(t) = self.tickets.get(self.next) {
            if t.row.id > id {
                break;
            }
            let own = t.row.id == id;
            let work = if own {
                std::mem::take(&mut log)
            } else {
                Vec::new()
            };
            self.send
                .send((self.next, work))
                .map_err(|_| anyhow!("the SLA evaluation workers stopped"))?;
            self.next += 1;
            if own {
                break;
            }
        }
        Ok(())
    }
}

/// Re-evaluates up to `limit` tickets not closed after `after_id` in the caller's transaction.
/// After a calendar edit (`edit`), tickets it cannot affect are not even read: those whose
/// last evaluation looked at another calendar, or at this one only before the edit's first
/// difference (`tickets.sla_horizon`, see [`domain::sla::SlaState::calendar_horizon`]).
pub(crate) fn recompute_chunk(
    tx: &mut Tx<'_>,
    after_id: i64,
    limit: i64,
    now: Timestamp,
    attempts_max: i64,
    edit: Option<&desk_ops::CalendarEdit>,
) -> anyhow::Result<ChunkReport> {
    let watch = crate::sys::Stopwatch::start();
    let tickets = desk_ops::bulk_unclosed_tickets(tx, after_id, limit, edit)?;
    let (Some(first), Some(last)) = (tickets.first(), tickets.last()) else {
        return Ok(ChunkReport::default());
    };
    let (first_id, last_id) = (first.row.id, last.row.id);
    let policies = load_policies(tx)?;
    // Each calendar's open spans from the oldest ticket's creation to well past now are
    // computed once for the chunk, not again for every clock of every ticket.
    let oldest = tickets
        .iter()
        .map(|t| t.row.created_at)
        .min()
        .unwrap_or(now);
    let ahead = now
        .checked_add(SignedDuration::from_hours(
            24 * SLA_RECOMPUTE_INDEX_DAYS_AHEAD,
        ))
        .unwrap_or(now);
    let mut calendars = HashMap::new();
    for id in policies
        .iter()
        .map(|(_, c)| *c)
        .chain([DEFAULT_CALENDAR_ID])
    {
        if let std::collections::hash_map::Entry::Vacant(slot) = calendars.entry(id) {
            slot.insert(load_calendar(tx, id)?.map(|c| c.indexed(oldest, ahead)));
        }
    }
    let inputs = Inputs {
        policies: policies
            .into_iter()
            .map(|(p, c)| (Arc::new(p), c))
            .collect(),
        calendars,
    };
    let read_tickets = watch.elapsed();
    let placeholder = Body::parse("(body not read)").map_err(|e| anyhow!("{e}"))?;
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8);
    // Reading overlaps evaluating: the log is streamed in ticket order and each ticket goes to
    // a worker as soon as its last entry is read; the workers evaluate while the rest is read.
    let mut evaluations: Vec<Option<anyhow::Result<Result<Evaluation, String>>>> =
        (0..tickets.len()).map(|_| None).collect();
    let (send, recv) = std::sync::mpsc::channel::<Work>();
    let recv = std::sync::Mutex::new(recv);
    let fed = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (inputs, tickets, placeholder, recv) = (&inputs, &tickets, &placeholder, &recv);
                scope.spawn(move || {
                    let mut out = Vec::new();
                    loop {
                        let next = match recv.lock() {
                            Ok(r) => r.recv(),
                            Err(_) => break,
                        };
                        let Ok((i, log)) = next else { break };
                        out.push((i, evaluate_one(inputs, &tickets[i], &log, placeholder, now)));
                    }
                    out
                })
            })
            .collect();
        let mut feeder = Feeder {
            tickets: &tickets,
            next: 0,
            send,
        };
        let mut pending: Vec<ClockEntryRow> = Vec::new();
        let mut fed = desk_ops::each_clock_entry(tx, first_id, last_id, edit, |e| {
            if let Some(p) = pending
                .first()
                .map(|p| p.ticket_id)
                .filter(|p| *p != e.ticket_id)
            {
                feeder.send_upto(p, std::mem::take(&mut pending))?;
            }
            pending.push(e);
            Ok(())
        });
        if let (Ok(()), Some(p)) = (&fed, pending.first().map(|p| p.ticket_id)) {
            fed = feeder.send_upto(p, std::mem::take(&mut pending));
        }
        if fed.is_ok() {
            fed = feeder.send_upto(i64::MAX, Vec::new());
        }
        drop(feeder);
        for h in handles {
            for (i, evaluation) in h.join().expect("an SLA evaluation thread panicked") {
                evaluations[i] = Some(evaluation);
            }
        }
        fed
    });
    fed?;
    let evaluated = watch.elapsed();
    let evaluations = evaluations
        .into_iter()
        .map(|e| e.unwrap_or_else(|| Err(anyhow!("a ticket was not evaluated"))));
    let outcomes = tickets
        .iter()
        .zip(evaluations)
        .map(|(t, evaluation)| {
            Ok(Outcome {
                ticket: &t.row,
                evaluation: evaluation?,
                known: Some(Known {
                    digest: t.sla_digest,
                    horizon: t.sla_horizon,
                    calendar_id: t.sla_calendar_id,
                    timer: t.sla_timer,
                }),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    persist(tx, outcomes, now, attempts_max)?;
    tracing::debug!(
        tickets = tickets.len(),
        read_tickets_ms = read_tickets.as_millis() as u64,
        evaluated_ms = evaluated.as_millis() as u64,
        written_ms = watch.elapsed().as_millis() as u64,
        "SLA recompute chunk"
    );
    Ok(ChunkReport {
        tickets: tickets.len(),
        last_id: Some(last_id),
    })
}

/// One ticket's evaluation to persist, with what the caller read of its last one (the bulk
/// recompute reads it; a single ticket's re-evaluation does not).
pub(super) struct Outcome<'a> {
    pub ticket: &'a TicketRow,
    pub evaluation: Result<Evaluation, String>,
    pub known: Option<Known>,
}

/// What the last evaluation of a ticket stored besides its queue fields.
#[derive(Debug, Clone, Copy)]
pub(super) struct Known {
    /// [`super::evaluation_digest`]: when the new evaluation has the same, its events and timer
    /// were persisted before and only the queue fields are checked.
    pub digest: Option<i64>,
    /// `tickets.sla_horizon` and `sla_calendar_id`.
    pub horizon: Option<i64>,
    pub calendar_id: Option<i64>,
    /// `tickets.sla_timer`: the timer the digest covers.
    pub timer: Option<i64>,
}

/// An evaluation on its way to the store.
struct Pending<'a> {
    ticket: &'a TicketRow,
    evaluation: Evaluation,
    digest: i64,
    /// The same digest as the last evaluation: its events and timer were persisted then.
    same: bool,
    /// At least its events were (only the timer differs, e.g. a calendar edit moved a
    /// deadline): nothing to read or store but the new timer and the queue fields.
    events_same: bool,
    known: Option<Known>,
    breached: bool,
    /// Index of the ticket's first new clock event in the batch, and how many.
    events: (usize, usize),
}

/// Persists evaluations: new clock events once (a warning or breach also as an entry of the
/// ticket's log), the next timer of each ticket as a durable job deduplicated by ticket and
/// instant, and the queue fields that moved. One ticket (a request, a timer) or a whole chunk
/// of the bulk recompute: the same code, each kind of row written with multi-row statements.
pub(super) fn persist(
    tx: &mut Tx<'_>,
    outcomes: Vec<Outcome<'_>>,
    now: Timestamp,
    attempts_max: i64,
) -> anyhow::Result<()> {
    let now_micros = now.as_microsecond();
    let watch = crate::sys::Stopwatch::start();
    let mut pending = Vec::with_capacity(outcomes.len());
    for o in outcomes {
        let t = o.ticket;
        match o.evaluation {
            Err(reason) => {
                if t.sla_error.as_deref() != Some(reason.as_str()) {
                    tracing::warn!(ticket_id = t.id, %reason, "SLA clocks cannot be computed");
                    store::desk::update_sla(tx, t.id, None, None, t.sla_breached, Some(&reason))?;
                }
            }
            Ok(evaluation) => {
                let digest = evaluation_digest(&evaluation);
                let stored = o.known.and_then(|k| k.digest);
                let same = stored == Some(digest);
                let events_same = same
                    || o.known
                        .and_then(|k| k.timer)
                        .is_some_and(|timer| stored == Some(digest_with_timer(&evaluation, timer)));
                pending.push(Pending {
                    ticket: t,
                    evaluation,
                    digest,
                    same,
                    events_same,
                    known: o.known,
                    breached: t.sla_breached,
                    events: (0, 0),
                });
            }
        }
    }
    // The same events as last time were persisted then; the others need what is stored to
    // find what is new.
    let changed: Vec<i64> = pending
        .iter()
        .filter(|p| !p.events_same)
        .map(|p| p.ticket.id)
        .collect();
    let mut stored: HashMap<i64, Vec<SlaEventRow>> = HashMap::new();
    for row in desk_ops::sla_events_of_many(tx, &changed)? {
        stored.entry(row.ticket_id).or_default().push(row);
    }
    let mut new_rows: Vec<SlaEventRow> = Vec::new();
    let mut new_events: Vec<ClockEvent> = Vec::new();
    for p in pending.iter_mut().filter(|p| !p.events_same) {
        let persisted = stored_clock_events(stored.get(&p.ticket.id).map_or(&[], Vec::as_slice));
        p.breached = persisted.iter().any(|e| e.action == ClockAction::Breach);
        let found = sla::new_events(&persisted, &p.evaluation.state);
        p.events = (new_events.len(), found.len());
        for e in found {
            new_rows.push(SlaEventRow {
                ticket_id: p.ticket.id,
                clock: e.kind.as_str().to_owned(),
                instance: i64::from(e.instance),
                action: action_as_str(e.action).to_owned(),
                at_micros: e.at.as_microsecond(),
                policy: p.evaluation.policy.name.clone(),
                recorded_at_micros: now_micros,
            });
            new_events.push(e);
        }
    }
    let read_stored = watch.elapsed();
    let inserted = desk_ops::insert_sla_events(tx, &new_rows)?;
    let mut log = Vec::new();
    for p in pending.iter_mut() {
        let (first, count) = p.events;
        for (e, _) in new_events[first..first + count]
            .iter()
            .zip(&inserted[first..first + count])
            .filter(|(e, inserted)| {
                **inserted && matches!(e.action, ClockAction::Warn | ClockAction::Breach)
            })
        {
            let entry = TicketEvent::Sla {
                clock: e.kind,
                instance: e.instance,
                action: e.action,
            };
            log.push(event_row(p.ticket.id, e.at, "system", &entry));
            if e.action == ClockAction::Breach {
                p.breached = true;
                tracing::info!(ticket_id = p.ticket.id, clock = %e.kind, instance = e.instance, "SLA breached");
            }
        }
    }
    desk_ops::append_events_many(tx, &log)?;
    let events_written = watch.elapsed();
    let timers: Vec<(i64, i64, String, String)> = pending
        .iter()
        .filter(|p| !p.same)
        .filter_map(|p| {
            let micros = sla::next_timer(&p.evaluation.state)?.as_microsecond();
            let id = p.ticket.id;
            Some((
                id,
                micros,
                format!("{SLA_TIMER_JOB}:{id}:{micros}"),
                json!({ "ticket_id": id }).to_string(),
            ))
        })
        .collect();
    let jobs: Vec<store::jobs::NewJob<'_>> = timers
        .iter()
        .map(|(_, micros, key, payload)| store::jobs::NewJob {
            kind: SLA_TIMER_JOB,
            payload,
            due_at_micros: *micros,
            max_attempts: attempts_max,
            dedupe_key: Some(key),
            now_micros,
        })
        .collect();
    store::jobs::enqueue_many(tx, &jobs)?;
    let timers_written = watch.elapsed();
    let mut updates = Vec::new();
    for p in &pending {
        let t = p.ticket;
        let next_due = p
            .evaluation
            .state
            .clocks
            .iter()
            .filter(|c| !c.is_stopped() && c.paused_since.is_none())
            .filter_map(|c| c.due_at)
            .min();
        // Unchanged queue fields are not written again (a recompute touches only what moved).
        let unchanged = t.sla_policy.as_deref() == Some(p.evaluation.policy.name.as_str())
            && t.sla_next_due_at == next_due
            && t.sla_breached == p.breached
            && t.sla_error.is_none()
            && p.same
            && p.known.is_some_and(|k| {
                k.horizon == Some(horizon_micros(&p.evaluation))
                    && k.calendar_id == Some(p.evaluation.calendar_id)
            });
        if !unchanged {
            updates.push(desk_ops::SlaUpdate {
                id: t.id,
                policy: &p.evaluation.policy.name,
                next_due_micros: next_due.map(Timestamp::as_microsecond),
                breached: p.breached,
                digest: p.digest,
                horizon_micros: horizon_micros(&p.evaluation),
                calendar_id: p.evaluation.calendar_id,
                timer_micros: timer_micros(&p.evaluation),
            });
        }
    }
    desk_ops::update_sla_many(tx, &updates)?;
    if pending.len() > 1 {
        tracing::debug!(
            tickets = pending.len(),
            changed = changed.len(),
            events = new_rows.len(),
            timers = jobs.len(),
            updates = updates.len(),
            read_stored_ms = read_stored.as_millis() as u64,
            events_ms = events_written.as_millis() as u64,
            timers_ms = timers_written.as_millis() as u64,
            updated_ms = watch.elapsed().as_millis() as u64,
            "SLA evaluations persisted"
        );
    }
    Ok(())
}

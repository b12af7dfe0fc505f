//! Merging and splitting tickets.
//!
//! **Merge** ticket B into A (a customer wrote twice, on two channels): A's log gets a
//! `merged_from` entry pointing at B whose body is B's transcript (its messages, notes and
//! follow-ups with their instants and senders), B's log gets `merged_into` pointing at A and B
//! is closed, which stops its clocks. B keeps its own log (it is append-only); `tickets.merged_into`
//! remembers the survivor, so a message later added to B ([`App::add_message`]) lands on A.
//!
//! **Split** selected messages of a ticket off into a new ticket (two problems in one
//! conversation): the new ticket starts now with copies of those messages, the same channel,
//! customer, order, priority, category and assignee; both logs point at each other
//! (`split_to` / `split_from`). The original log is never edited.
//!
//! Attachments follow the conversation: a copied message names the files its original carried,
//! and A's `merged_from` entry names every file of B, so each shows in the surviving or new
//! ticket's attachment list and an agent there may send it on.
//!
//! Managers and admins may merge and split any ticket; an agent only tickets in its own
//! queue: assigned to its handle (`key:<prefix>`, the actor the audit log shows) or unassigned.

use super::{Current, TicketView, change_ticket_tx, entry_instant, event_row, reevaluate, refused};
use crate::{App, AppError, AppResult, Principal};
use anyhow::anyhow;
use domain::FieldError;
use domain::access::Role;
use domain::desk::{
    self, Body, Sender, TICKET_BODY_BYTES_MAX, TicketChannel, TicketEvent, parse_subject,
};
use domain::sla::{Party, Status};
use store::desk::{self as rows, TicketRow};
use store::desk_ops;
use store::sql::Tx;

/// Messages one split may move.
pub const SPLIT_MESSAGES_MAX: usize = 100;
/// Hops followed from a merged ticket to its survivor (a chain A ← B ← C is two).
const MERGE_HOPS_MAX: usize = 16;

/// The ticket a message for `id` belongs on: `id` itself, or the ticket it was merged into
/// (followed through chains of merges).
pub(crate) fn survivor(tx: &mut Tx<'_>, id: i64) -> anyhow::Result<i64> {
    let mut current = id;
    for _ in 0..MERGE_HOPS_MAX {
        match desk_ops::merged_into(tx, current)? {
            Some(next) => current = next,
            None => return Ok(current),
        }
    }
    Err(anyhow!(
        "ticket {id}: merge chain longer than {MERGE_HOPS_MAX}"
    ))
}

/// Whether `who` may merge or split ticket `t`.
fn may_reorganise(who: &Principal, t: &TicketRow) -> bool {
    match who.role {
        Role::Admin | Role::Manager => true,
        Role::Agent => t.assignee.as_deref().is_none_or(|a| a == who.actor),
        Role::Analyst | Role::Integration => false,
    }
}

/// B's conversation as text for A's log, cut at the body limit.
fn transcript(from: &TicketRow, log: &[rows::TicketEventRow]) -> anyhow::Result<String> {
    let mut out = format!("Merged from {}:\n", from.reference);
    for e in log {
        let Some(body) = e.body.as_deref() else {
            continue;
        };
        let who = e.sender.as_deref().unwrap_or("agent");
        let line = format!(
            "[{} {} {}] {}\n",
            store::instant(e.at_micros)?,
            e.kind,
            who,
            body
        );
        if out.len() + line.len() > TICKET_BODY_BYTES_MAX {
            out.push('…');
            break;
        }
        out.push_str(&line);
    }
    Ok(out)
}

impl App {
    /// Merges ticket `from` into ticket `into` (see the module documentation). Refused, each
    /// with its own [`desk::TicketRefusal`], when they are the same ticket, when they belong
    /// to different customers, when either was merged before, when `into` is closed
    /// (`ticket_closed`: reopen it first); `Forbidden` when an agent does not own both.
    pub fn merge_tickets(&self, who: &Principal, into: i64, from: i64) -> AppResult<TicketView> {
        if into == from {
            return Err(refused(desk::TicketRefusal::MergeIntoItself));
        }
        let now = self.now();
        let attempts_max = self.settings.job_attempts_max;
        self.store.write(|tx| {
            // Lock in id order so two merges of the same pair cannot deadlock.
            let (low, high) = (into.min(from), into.max(from));
            let low_row = rows::lock_ticket(tx, low)?.ok_or(AppError::NotFound)?;
            let high_row = rows::lock_ticket(tx, high)?.ok_or(AppError::NotFound)?;
            let (target, source) = if low == into {
                (low_row, high_row)
            } else {
                (high_row, low_row)
            };
            if !may_reorganise(who, &target) || !may_reorganise(who, &source) {
                return Err(AppError::Forbidden);
            }
            // Two customers' conversations are never joined (a privacy leak other desks
            // have had: a stranger's mail appended to someone's ticket).
            if let (Some(a), Some(b)) = (target.customer_id, source.customer_id)
                && a != b
            {
                return Err(refused(desk::TicketRefusal::MergeAcrossCustomers));
            }
            for t in [source.id, target.id] {
                if let Some(other) = desk_ops::merged_into(tx, t)? {
                    return Err(refused(desk::TicketRefusal::AlreadyMerged {
                        ticket: t,
                        into: other,
                    }));
                }
            }
            desk::check_writable(Status::parse(&target.status).unwrap_or(Status::Open))
                .map_err(refused)?;
            let log = rows::events_of(tx, source.id)?;
            let text = transcript(&source, &log)?;
            let at = entry_instant(tx, target.id, now)?;
            let mut row = event_row(
                target.id,
                at,
                &who.actor,
                &TicketEvent::MergedFrom { from: source.id },
            );
            row.body = Some(text);
            let entry = rows::append_event(tx, &row)?;
            // The files of B's conversation travel with its transcript: A lists them, and an
            // agent on A may send them on.
            let files: Vec<i64> = store::email::attachments_of_ticket(tx, source.id)?
                .iter()
                .map(|a| a.id)
                .collect();
            store::email::attach_to_event(tx, entry, &files)?;
            desk_ops::set_merged_into(tx, source.id, target.id)?;
            change_ticket_tx(
                tx,
                who,
                source.id,
                now,
                attempts_max,
                "ticket.merge_into",
                |state: &mut Current| {
                    let mut log = vec![TicketEvent::MergedInto { into: target.id }];
                    if state.status != Status::Closed {
                        log.push(TicketEvent::Status {
                            from: state.status,
                            to: Status::Closed,
                        });
                        state.status = Status::Closed;
                    }
                    Ok(log)
                },
            )?;
            let target = rows::get_ticket(tx, target.id)?.ok_or(AppError::NotFound)?;
            reevaluate(tx, &target, now, attempts_max)?;
            store::audit::insert(
                tx,
                now.as_microsecond(),
                &who.actor,
                "ticket.merge",
                Some(&format!("ticket:{}", target.id)),
                Some(&format!("from=ticket:{}", source.id)),
            )?;
            Ok::<_, AppError>(())
        })?;
        tracing::info!(into, from, "tickets merged");
        self.ticket(into)
    }

    /// Splits the messages `message_ids` (ids of `message` entries of ticket `id`'s log) off
    /// into a new ticket and returns it.
    pub fn split_ticket(
        &self,
        who: &Principal,
        id: i64,
        message_ids: &[i64],
        subject: Option<&str>,
    ) -> AppResult<TicketView> {
        if message_ids.is_empty() || message_ids.len() > SPLIT_MESSAGES_MAX {
            return Err(FieldError::new(
                "message_ids",
                format!("1 to {SPLIT_MESSAGES_MAX} message ids"),
            )
            .into());
        }
        let mut wanted = message_ids.to_vec();
        wanted.sort_unstable();
        wanted.dedup();
        if wanted.len() != message_ids.len() {
            return Err(FieldError::new("message_ids", "an id is listed twice").into());
        }
        let subject = subject.map(parse_subject).transpose()?;
        let now = self.now();
        let attempts_max = self.settings.job_attempts_max;
        let new_id = self.store.write(|tx| {
            let original = rows::lock_ticket(tx, id)?.ok_or(AppError::NotFound)?;
            if !may_reorganise(who, &original) {
                return Err(AppError::Forbidden);
            }
            let status = Status::parse(&original.status)
                .ok_or_else(|| anyhow!("ticket {id}: stored status {}", original.status))?;
            desk::check_writable(status).map_err(refused)?;
            let log = rows::events_of(tx, id)?;
            let mut moved = Vec::with_capacity(wanted.len());
            for want in message_ids {
                let e = log
                    .iter()
                    .find(|e| e.id == *want && e.kind == "message")
                    .ok_or(refused(desk::TicketRefusal::MessageNotInTicket {
                        message_id: *want,
                    }))?;
                let from = Sender::parse(e.sender.as_deref().unwrap_or_default())?;
                let body = Body::parse(e.body.as_deref().unwrap_or_default())?;
                moved.push((e.id, from, e.ack_only, body));
            }
            // Log order, whatever order the request listed them in.
            moved.sort_by_key(|m| m.0);
            let channel = TicketChannel::parse(&original.channel)?;
            let opened_by = if moved[0].1 == Sender::Customer {
                Party::Customer
            } else {
                Party::Agent
            };
            let first_status = desk::status_after_message(Status::New, moved[0].1)
                .map_err(refused)?
                .unwrap_or(Status::New);
            let new_id = rows::insert_ticket(
                tx,
                &rows::NewTicket {
                    channel: &original.channel,
                    status: first_status.as_str(),
                    priority: &original.priority,
                    category: original.category.as_deref(),
                    subject: subject.as_deref().or(original.subject.as_deref()),
                    customer_id: original.customer_id,
                    order_event_id: original.order_event_id,
                    assignee: original.assignee.as_deref(),
                    opened_by: desk::party_as_str(opened_by),
                    now_micros: now.as_microsecond(),
                },
            )?;
            let reference = desk::Reference {
                year: super::reference_year(tx, now)?,
                ticket_id: new_id,
            };
            rows::set_reference(tx, new_id, &reference.to_string())?;
            let opening = [
                TicketEvent::Opened {
                    channel,
                    by: opened_by,
                },
                TicketEvent::SplitFrom { from: id },
            ];
            for e in &opening {
                rows::append_event(tx, &event_row(new_id, now, &who.actor, e))?;
            }
            // Each copied message names the files the original carried.
            for (original_entry, from, ack_only, body) in &moved {
                let copy = TicketEvent::Message {
                    from: *from,
                    ack_only: *ack_only,
                    body: body.clone(),
                };
                let entry = rows::append_event(tx, &event_row(new_id, now, &who.actor, &copy))?;
                store::email::copy_event_attachments(tx, *original_entry, entry)?;
            }
            if first_status != Status::New {
                let e = TicketEvent::Status {
                    from: Status::New,
                    to: first_status,
                };
                rows::append_event(tx, &event_row(new_id, now, &who.actor, &e))?;
            }
            let at = entry_instant(tx, id, now)?;
            let mut row = event_row(id, at, &who.actor, &TicketEvent::SplitTo { to: new_id });
            row.value = Some(
                moved
                    .iter()
                    .map(|m| m.0.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
            );
            rows::append_event(tx, &row)?;
            let created = rows::get_ticket(tx, new_id)?.ok_or(AppError::NotFound)?;
            reevaluate(tx, &created, now, attempts_max)?;
            store::audit::insert(
                tx,
                now.as_microsecond(),
                &who.actor,
                "ticket.split",
                Some(&format!("ticket:{id}")),
                Some(&format!("to=ticket:{new_id} messages={}", moved.len())),
            )?;
            Ok::<_, AppError>(new_id)
        })?;
        tracing::info!(ticket_id = id, new_ticket_id = new_id, "ticket split");
        self.ticket(new_id)
    }
}

//! The service desk's tickets: a ticket is one conversation with a customer, and its history
//! is an append-only log of [`TicketEvent`]s (messages in and out, notes, status changes,
//! assignment, priority, category, SLA clock events, merges). Everything the desk shows —
//! the current status, the SLA clocks — is derived from that log; nothing is edited in place.
//!
//! This module holds the vocabulary (channels, categories, statuses as in [`crate::sla`]),
//! the validated inputs (message bodies, subjects, assignee handles), the reference number
//! format and the rules for what an event does to a ticket: a customer reply reopens a solved
//! or closed ticket, an agent may not write on a closed one, and [`timeline`] turns the log
//! into the [`Timeline`] the SLA engine evaluates.

pub mod classify;
pub mod kb;
pub mod ops;
pub mod reply;
pub mod teams;
pub mod triage;

use crate::FieldError;
use crate::sla::{
    Activity, Author, Channel, ClockAction, ClockKind, Entry, Party, Priority, Status, Timeline,
};
use jiff::Timestamp;
use std::fmt;

/// Largest message or note body, in bytes (UTF-8). An e-mail body beyond this belongs in an
/// attachment; the request limit of the API is larger, so this is the limit callers meet.
pub const TICKET_BODY_BYTES_MAX: usize = 64 * 1024;
/// Longest subject, in characters.
pub const TICKET_SUBJECT_CHARS_MAX: usize = 200;
/// Longest assignee handle, in bytes (ASCII).
pub const ASSIGNEE_BYTES_MAX: usize = 64;
/// Digits of the number part of a reference, at least (zero-padded).
pub const REFERENCE_DIGITS_MIN: usize = 6;

/// Where a ticket came in, as the desk shows it. [`TicketChannel::sla_channel`] maps it onto
/// the SLA engine's channel table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TicketChannel {
    Email,
    Line,
    /// The shop's web form or web chat.
    Web,
    /// The shop's own systems through the API.
    Api,
    /// A call logged by staff.
    Phone,
    /// A complaint at the counter, logged by staff.
    InStore,
    /// Facebook, Instagram and other social messages, through the API.
    Social,
}

impl TicketChannel {
    pub const ALL: [TicketChannel; 7] = [
        TicketChannel::Email,
        TicketChannel::Line,
        TicketChannel::Web,
        TicketChannel::Api,
        TicketChannel::Phone,
        TicketChannel::InStore,
        TicketChannel::Social,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TicketChannel::Email => "email",
            TicketChannel::Line => "line",
            TicketChannel::Web => "web",
            TicketChannel::Api => "api",
            TicketChannel::Phone => "phone",
            TicketChannel::InStore => "in_store",
            TicketChannel::Social => "social",
        }
    }

    pub fn parse(s: &str) -> Result<TicketChannel, FieldError> {
        TicketChannel::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| {
                FieldError::new(
                    "channel",
                    "must be email, line, web, api, phone, in_store or social",
                )
            })
    }

    /// The SLA channel whose default targets apply: LINE and social are instant messaging
    /// (answer within the hour); a web form is answered like the default (2 h), because a
    /// form is not a live chat; the API is the default too.
    pub fn sla_channel(self) -> Channel {
        match self {
            TicketChannel::Email => Channel::Email,
            TicketChannel::Line | TicketChannel::Social => Channel::Im,
            TicketChannel::Phone => Channel::Phone,
            TicketChannel::InStore => Channel::InStore,
            TicketChannel::Web | TicketChannel::Api => Channel::Other,
        }
    }
}

impl fmt::Display for TicketChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a complaint or question is about (issue 6's category codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    ProductDefect,
    ServiceAttitude,
    LogisticsDelay,
    OrderStatus,
    ReturnRefund,
    AccountPassword,
    BillingPayment,
    PointsMembership,
    Praise,
    Other,
}

impl Category {
    pub const ALL: [Category; 10] = [
        Category::ProductDefect,
        Category::ServiceAttitude,
        Category::LogisticsDelay,
        Category::OrderStatus,
        Category::ReturnRefund,
        Category::AccountPassword,
        Category::BillingPayment,
        Category::PointsMembership,
        Category::Praise,
        Category::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::ProductDefect => "product_defect",
            Category::ServiceAttitude => "service_attitude",
            Category::LogisticsDelay => "logistics_delay",
            Category::OrderStatus => "order_status",
            Category::ReturnRefund => "return_refund",
            Category::AccountPassword => "account_password",
            Category::BillingPayment => "billing_payment",
            Category::PointsMembership => "points_membership",
            Category::Praise => "praise",
            Category::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Result<Category, FieldError> {
        Category::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| FieldError::new("category", format!("unknown category {s:?}")))
    }
}

/// `low`, `normal`, `high`, `urgent`.
pub fn priority_as_str(priority: Priority) -> &'static str {
    match priority {
        Priority::Low => "low",
        Priority::Normal => "normal",
        Priority::High => "high",
        Priority::Urgent => "urgent",
    }
}

pub fn parse_priority(s: &str) -> Result<Priority, FieldError> {
    match s {
        "low" => Ok(Priority::Low),
        "normal" => Ok(Priority::Normal),
        "high" => Ok(Priority::High),
        "urgent" => Ok(Priority::Urgent),
        _ => Err(FieldError::new(
            "priority",
            "must be low, normal, high or urgent",
        )),
    }
}

/// A status by name, as a field error naming `status` when unknown.
pub fn parse_status(s: &str) -> Result<Status, FieldError> {
    Status::parse(s).ok_or_else(|| {
        FieldError::new(
            "status",
            "must be new, open, waiting_on_customer, waiting_on_third_party, solved or closed",
        )
    })
}

/// `customer` or `agent`.
pub fn party_as_str(party: Party) -> &'static str {
    match party {
        Party::Customer => "customer",
        Party::Agent => "agent",
    }
}

pub fn parse_party(s: &str) -> Result<Party, FieldError> {
    match s {
        "customer" => Ok(Party::Customer),
        "agent" => Ok(Party::Agent),
        _ => Err(FieldError::new("opened_by", "must be customer or agent")),
    }
}

/// A message or note body: not blank, at most [`TICKET_BODY_BYTES_MAX`] bytes, no NUL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body(String);

impl Body {
    pub fn parse(text: &str) -> Result<Body, FieldError> {
        if text.trim().is_empty() {
            return Err(FieldError::new("body", "must not be blank"));
        }
        if text.len() > TICKET_BODY_BYTES_MAX {
            return Err(FieldError::new(
                "body",
                format!("at most {TICKET_BODY_BYTES_MAX} bytes"),
            ));
        }
        if text.contains('\0') {
            return Err(FieldError::new("body", "must not contain NUL characters"));
        }
        Ok(Body(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A subject line: one line, trimmed, 1 to [`TICKET_SUBJECT_CHARS_MAX`] characters.
pub fn parse_subject(text: &str) -> Result<String, FieldError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(FieldError::new("subject", "must not be blank"));
    }
    if trimmed.chars().count() > TICKET_SUBJECT_CHARS_MAX {
        return Err(FieldError::new(
            "subject",
            format!("at most {TICKET_SUBJECT_CHARS_MAX} characters"),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(FieldError::new("subject", "must be one line"));
    }
    Ok(trimmed.to_owned())
}

/// An agent's handle as tickets are assigned to it (`amy`, `desk.taipei`, `key:ab12cd34`):
/// ASCII letters, digits and `.`, `_`, `-`, `:`, `@`, 1 to [`ASSIGNEE_BYTES_MAX`] bytes.
/// Staff accounts arrive later; until then a handle is what the shop uses.
pub fn parse_assignee(text: &str) -> Result<String, FieldError> {
    let ok = !text.is_empty()
        && text.len() <= ASSIGNEE_BYTES_MAX
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_:@".contains(&b));
    if !ok {
        return Err(FieldError::new(
            "assignee",
            format!(
                "1 to {ASSIGNEE_BYTES_MAX} ASCII letters, digits or . _ - : @ (or null to unassign)"
            ),
        ));
    }
    Ok(text.to_owned())
}

/// A ticket's reference number, e.g. `T-2026-000123`: `T`, the year the ticket was opened in
/// the desk's time zone, and the ticket id zero-padded to at least [`REFERENCE_DIGITS_MIN`]
/// digits. The number is the id itself, not a per-year counter, so two desks never contend
/// for a counter and a reference always names one ticket; the year only helps people read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Reference {
    pub year: i16,
    pub ticket_id: i64,
}

impl Reference {
    /// Parses `T-YYYY-NNNNNN` (case-insensitive `T`, at least six digits).
    pub fn parse(text: &str) -> Option<Reference> {
        let rest = text.strip_prefix('T').or_else(|| text.strip_prefix('t'))?;
        let rest = rest.strip_prefix('-')?;
        let (year, number) = rest.split_once('-')?;
        if year.len() != 4 || number.len() < REFERENCE_DIGITS_MIN || number.len() > 18 {
            return None;
        }
        if !year
            .bytes()
            .chain(number.bytes())
            .all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let ticket_id: i64 = number.parse().ok()?;
        (ticket_id > 0).then_some(Reference {
            year: year.parse().ok()?,
            ticket_id,
        })
    }

    /// The first reference in free text (an e-mail subject `Re: 訂單問題 [T-2026-000123]`).
    pub fn find_in(text: &str) -> Option<Reference> {
        let bytes = text.as_bytes();
        (0..bytes.len())
            .filter(|&i| matches!(bytes[i], b'T' | b't'))
            .filter(|&i| i == 0 || !bytes[i - 1].is_ascii_alphanumeric())
            .find_map(|i| {
                let end = bytes[i..]
                    .iter()
                    .position(|b| !(b.is_ascii_alphanumeric() || *b == b'-'))
                    .map_or(bytes.len(), |p| i + p);
                Reference::parse(&text[i..end])
            })
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "T-{:04}-{:0width$}",
            self.year,
            self.ticket_id,
            width = REFERENCE_DIGITS_MIN
        )
    }
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sender {
    Customer,
    /// A person on the desk.
    Agent,
    /// An AI agent answering on the desk's behalf.
    Ai,
    /// Triggers and auto-replies (acknowledgements, FAQ answers): they never answer for SLA.
    System,
}

impl Sender {
    pub const ALL: [Sender; 4] = [Sender::Customer, Sender::Agent, Sender::Ai, Sender::System];

    pub fn as_str(self) -> &'static str {
        match self {
            Sender::Customer => "customer",
            Sender::Agent => "agent",
            Sender::Ai => "ai",
            Sender::System => "system",
        }
    }

    pub fn parse(s: &str) -> Result<Sender, FieldError> {
        Sender::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| FieldError::new("from", "must be customer, agent, ai or system"))
    }

    fn author(self) -> Author {
        match self {
            Sender::Customer | Sender::Agent => Author::Human,
            Sender::Ai => Author::Ai,
            Sender::System => Author::System,
        }
    }
}

/// One entry of a ticket's log. Bodies are personal data: never log them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketEvent {
    /// Creation: the channel and who opened it; the first message follows as its own event.
    Opened {
        channel: TicketChannel,
        by: Party,
    },
    /// A public message. From the customer it is inbound; otherwise outbound. `ack_only`
    /// marks "we received it" replies, which satisfy `ack` but no response clock.
    Message {
        from: Sender,
        ack_only: bool,
        body: Body,
    },
    /// An internal note, never shown to the customer.
    Note {
        from: Sender,
        body: Body,
    },
    /// A logged follow-up contact (the in-store `follow_up` promise).
    FollowUp {
        body: Body,
    },
    Status {
        from: Status,
        to: Status,
    },
    Assigned {
        assignee: Option<String>,
    },
    PriorityChanged {
        priority: Priority,
    },
    CategoryChanged {
        category: Option<Category>,
    },
    /// An SLA clock event persisted from the engine (only warnings and breaches go in the
    /// ticket's log; the full metric stream is kept beside it).
    Sla {
        clock: ClockKind,
        instance: u32,
        action: ClockAction,
    },
    /// This ticket was merged into `into` (it is closed by the same transaction).
    MergedInto {
        into: i64,
    },
    /// Ticket `from` was merged into this one.
    MergedFrom {
        from: i64,
    },
    /// What the classifier found in the opening message (category, confidence, sentiment,
    /// urgency, FAQ intent, priority, model version), as one line of `key=value` pairs.
    Classified {
        summary: String,
    },
    /// Messages of this ticket were copied into the new ticket `to`.
    SplitTo {
        to: i64,
    },
    /// This ticket was split off ticket `from`.
    SplitFrom {
        from: i64,
    },
    /// A tag was put on the ticket ([`teams::parse_tag`]).
    Tagged {
        tag: String,
    },
    /// A tag was taken off the ticket.
    Untagged {
        tag: String,
    },
    /// The ticket moved from team `from` (none: the general queue) to team `to`, with a
    /// note for the new team. No status changes: the SLA clocks run on.
    HandedOff {
        from: Option<String>,
        to: String,
        note: Option<Body>,
    },
}

impl TicketEvent {
    /// The stored kind name.
    pub fn kind(&self) -> &'static str {
        match self {
            TicketEvent::Opened { .. } => "opened",
            TicketEvent::Message { .. } => "message",
            TicketEvent::Note { .. } => "note",
            TicketEvent::FollowUp { .. } => "follow_up",
            TicketEvent::Status { .. } => "status",
            TicketEvent::Assigned { .. } => "assigned",
            TicketEvent::PriorityChanged { .. } => "priority",
            TicketEvent::CategoryChanged { .. } => "category",
            TicketEvent::Sla { .. } => "sla",
            TicketEvent::MergedInto { .. } => "merged_into",
            TicketEvent::MergedFrom { .. } => "merged_from",
            TicketEvent::Classified { .. } => "classified",
            TicketEvent::SplitTo { .. } => "split_to",
            TicketEvent::SplitFrom { .. } => "split_from",
            TicketEvent::Tagged { .. } => "tagged",
            TicketEvent::Untagged { .. } => "untagged",
            TicketEvent::HandedOff { .. } => "handed_off",
        }
    }

    /// What the event means to the SLA clocks, if anything.
    pub fn activity(&self) -> Option<Activity> {
        match self {
            TicketEvent::Message {
                from: Sender::Customer,
                ..
            } => Some(Activity::CustomerMessage),
            TicketEvent::Message { from, ack_only, .. } => Some(Activity::Reply {
                author: from.author(),
                ack_only: *ack_only,
            }),
            TicketEvent::Note { from, .. } => Some(Activity::Note {
                author: from.author(),
            }),
            TicketEvent::FollowUp { .. } => Some(Activity::FollowUp),
            TicketEvent::Status { to, .. } => Some(Activity::Status(*to)),
            _ => None,
        }
    }
}

/// Why an event may not be added to a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TicketRefusal {
    /// Closed tickets take no outbound messages, notes or changes; reopen first
    /// (a customer's message reopens it by itself).
    #[error("the ticket is closed: reopen it (status open) before writing to it")]
    Closed,
    #[error("a ticket cannot go back to status new")]
    BackToNew,
    #[error("a ticket cannot be merged into itself")]
    MergeIntoItself,
    /// Two customers' conversations are never joined.
    #[error("the tickets belong to different customers")]
    MergeAcrossCustomers,
    /// A merged ticket takes part in no further merge or split: use its survivor.
    #[error("ticket {ticket} was merged into ticket {into} already")]
    AlreadyMerged { ticket: i64, into: i64 },
    /// A split names a log entry that is not a message of the ticket.
    #[error("entry {message_id} is not a message of this ticket")]
    MessageNotInTicket { message_id: i64 },
    /// A ticket with a team is assigned only to an agent of that team.
    #[error("the agent is not a member of the ticket's team: hand the ticket off first")]
    AgentNotInTeam,
}

/// Why a satisfaction rating is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CsatRefusal {
    #[error("the ticket is not solved: it can be rated once solved or closed")]
    NotSolved,
    /// The customer's survey link takes one answer (a shop relaying a change of mind rates
    /// with its key).
    #[error("this survey was answered already")]
    AlreadyAnswered,
    #[error("this survey link expired {days} days after it was sent")]
    LinkExpired { days: i64 },
    #[error("a rating is {min} to {max}")]
    RatingOutOfRange { min: i64, max: i64 },
}

/// What adding a message does to the status: a customer writing on a solved or closed ticket
/// reopens it (Zendesk and Zammad behaviour; the follow-up must not be lost), and an agent's
/// first public answer on a new ticket opens it. `Ok(None)` leaves the status alone.
pub fn status_after_message(
    current: Status,
    from: Sender,
) -> Result<Option<Status>, TicketRefusal> {
    match (from, current) {
        (Sender::Customer, Status::Solved | Status::Closed) => Ok(Some(Status::Open)),
        // A customer reply ending a wait on the customer: the SLA replay opens it too.
        (Sender::Customer, Status::WaitingOnCustomer) => Ok(Some(Status::Open)),
        (Sender::Customer, _) => Ok(None),
        (_, Status::Closed) => Err(TicketRefusal::Closed),
        (Sender::Agent | Sender::Ai, Status::New) => Ok(Some(Status::Open)),
        _ => Ok(None),
    }
}

/// Checks a status change by staff. Changing to the current status is not a change (`None`).
pub fn status_change(current: Status, to: Status) -> Result<Option<Status>, TicketRefusal> {
    if to == current {
        return Ok(None);
    }
    if to == Status::New {
        return Err(TicketRefusal::BackToNew);
    }
    Ok(Some(to))
}

/// Notes, assignment, priority and category changes are refused only on closed tickets.
pub fn check_writable(current: Status) -> Result<(), TicketRefusal> {
    if current == Status::Closed {
        return Err(TicketRefusal::Closed);
    }
    Ok(())
}

/// The SLA timeline of a ticket's log: creation, then every event that matters to the clocks,
/// in log order. `events` must be in log order with non-decreasing instants.
pub fn timeline(
    created_at: Timestamp,
    opened_by: Party,
    events: &[(Timestamp, &TicketEvent)],
) -> Result<Timeline, FieldError> {
    let mut entries = Vec::new();
    let mut first_customer_message_skipped = false;
    for (at, event) in events {
        let Some(activity) = event.activity() else {
            continue;
        };
        // The customer's opening message is the creation itself (the clocks start there).
        if opened_by == Party::Customer
            && !first_customer_message_skipped
            && activity == Activity::CustomerMessage
            && *at == created_at
        {
            first_customer_message_skipped = true;
            continue;
        }
        entries.push(Entry { at: *at, activity });
    }
    Timeline::new(created_at, opened_by, entries)
}

/// The status after a log: the last status change, or `new`.
pub fn current_status<'a>(events: impl IntoIterator<Item = &'a TicketEvent>) -> Status {
    events
        .into_iter()
        .filter_map(|e| match e {
            TicketEvent::Status { to, .. } => Some(*to),
            _ => None,
        })
        .last()
        .unwrap_or(Status::New)
}

#[cfg(test)]
mod reply_tests;
#[cfg(test)]
mod tests;

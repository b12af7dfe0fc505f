//! The desk's e-mail channel. Inbound mail arrives raw — posted by a mail provider's
//! webhook or fetched from an IMAP mailbox by the [`FETCH_JOB`] — and is read by
//! [`domain::email`]: a message that cannot be read is kept raw with the error in
//! `email_quarantine`, never lost; automatic mail (RFC 3834: `Auto-Submitted`, `Precedence`,
//! `X-Autoreply`, `List-Id`, bounces, our own Message-IDs coming back) is recorded as ignored
//! with its reason and opens no ticket; the rest is threaded onto a ticket by `In-Reply-To` /
//! `References` against the Message-IDs stored in and out, then by the reference number in
//! the subject — either way only onto the sender's own ticket — else opens a new ticket. A Message-ID is
//! stored once (unique index), so a redelivery is a duplicate. Attachments are stored within
//! [`EMAIL_ATTACHMENT_BYTES_MAX`] and [`EMAIL_ATTACHMENTS_PER_MESSAGE_BYTES_MAX`]; a file over
//! them is recorded with the reason and without its bytes, the message itself kept.
//!
//! Outbound: agent replies and the automatic acknowledgement on e-mail tickets are written
//! as `email_messages` rows with a generated Message-ID and a [`SEND_JOB`] in the same
//! transaction; the job sends through SMTP to the sender of the ticket's latest inbound
//! message, with the reference in the subject and `In-Reply-To` / `References` set. An
//! agent's reply may carry stored attachments of its ticket (`email_outgoing_attachments`),
//! sent as the parts of a `multipart/mixed` message.
//! Automatic replies carry `Auto-Submitted: auto-replied` and are limited per recipient
//! ([`AUTO_REPLIES_PER_SENDER_MAX`] per [`AUTO_REPLY_WINDOW_SECONDS`]).
//! Addresses, subjects and bodies are personal data: stored, never logged.

pub mod imap;
pub mod smtp;
pub mod tls;

use crate::customers::{CustomerInput, resolve_or_create};
use crate::desk::{self, TicketInput};
use crate::{App, AppError, AppResult, Principal};
use domain::access::Role;
use domain::desk::{Sender, TICKET_BODY_BYTES_MAX, TICKET_SUBJECT_CHARS_MAX, TicketChannel};
use domain::email::{
    EMAIL_ATTACHMENT_BYTES_MAX, EMAIL_ATTACHMENTS_PER_MESSAGE_BYTES_MAX,
    EMAIL_ATTACHMENTS_PER_MESSAGE_MAX, EMAIL_MESSAGE_BYTES_MAX, IgnoreReason, Outgoing,
    ParsedEmail,
};
use domain::{FieldError, IdentityKind};
use imap::ImapSettings;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use smtp::{SmtpError, SmtpSettings};
use store::desk::{self as rows, TicketRow};
use store::email::{self as mail, EmailRow};
use store::sql::Tx;

/// Job kind sending one outgoing message (payload `{"email_id": N}`).
pub const SEND_JOB: &str = "email.send";
/// Job kind fetching the IMAP mailbox once, then scheduling the next fetch.
pub const FETCH_JOB: &str = "email.fetch";
/// Automatic replies one address gets per window; more are recorded as `suppressed`.
pub const AUTO_REPLIES_PER_SENDER_MAX: i64 = 3;
pub const AUTO_REPLY_WINDOW_SECONDS: i64 = 3600;
/// Seconds between two IMAP fetches unless configured.
pub const IMAP_FETCH_INTERVAL_SECONDS_DEFAULT: i64 = 60;
/// Messages read per fetch; the rest wait for the next one.
pub const IMAP_FETCH_MESSAGES_PER_RUN_MAX: usize = 200;
/// Quarantined messages per page.
pub const QUARANTINE_PAGE_MAX: i64 = 100;
/// The right-hand side of the Message-IDs Patron generates.
pub const MESSAGE_ID_DOMAIN: &str = "patron.desk";

/// The e-mail channel's configuration (`desk.imap.*`, `desk.smtp.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailSettings {
    pub imap: Option<ImapSettings>,
    pub smtp: Option<SmtpSettings>,
    pub fetch_interval_seconds: i64,
}

impl Default for EmailSettings {
    fn default() -> Self {
        EmailSettings {
            imap: None,
            smtp: None,
            fetch_interval_seconds: IMAP_FETCH_INTERVAL_SECONDS_DEFAULT,
        }
    }
}

/// What became of one inbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboundOutcome {
    /// Stored on a ticket (`opened` when it started one).
    Ticket {
        ticket_id: i64,
        reference: String,
        opened: bool,
        email_id: i64,
    },
    /// The same Message-ID was received before.
    Duplicate { ticket_id: Option<i64> },
    /// Automatic mail: recorded, no ticket, no reply.
    Ignored { reason: IgnoreReason },
    /// Unreadable: kept raw with the error.
    Quarantined { quarantine_id: i64, error: String },
}

/// One quarantined message as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantineView {
    pub id: i64,
    pub source: String,
    pub error: String,
    pub size_bytes: i64,
    pub received_at: jiff::Timestamp,
}

/// One attachment as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentView {
    pub id: i64,
    pub filename: Option<String>,
    pub content_type: String,
    pub size_bytes: i64,
    /// False when refused (the bytes were not kept; `refused_reason` says why).
    pub stored: bool,
    pub refused_reason: Option<String>,
    pub created_at: jiff::Timestamp,
}

/// What one IMAP fetch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchOutcome {
    pub fetched: usize,
    pub tickets: usize,
    pub duplicates: usize,
    pub ignored: usize,
    pub quarantined: usize,
}

fn email_principal() -> Principal {
    Principal {
        key_id: None,
        role: Role::Integration,
        actor: "email".to_owned(),
    }
}

/// `text` cut to at most `max` bytes on a character boundary.
fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The ticket message for an e-mail: its text (cut to the body limit), or a line saying
/// what it carried when it has no text.
fn message_body(m: &ParsedEmail) -> String {
    let text = m.text.trim();
    if text.is_empty() {
        return format!(
            "[e-mail without text, {} attachment(s)]",
            m.attachments.len()
        );
    }
    let text: String = text.chars().filter(|c| *c != '\0').collect();
    cut(&text, TICKET_BODY_BYTES_MAX).to_owned()
}

fn subject_line(m: &ParsedEmail) -> Option<String> {
    let s: String = m
        .subject
        .as_deref()?
        .chars()
        .filter(|c| !c.is_control())
        .take(TICKET_SUBJECT_CHARS_MAX)
        .collect();
    let s = s.trim().to_owned();
    (!s.is_empty()).then_some(s)
}

/// A Message-ID for a message that has none: the hash of its bytes, so a redelivery of the
/// same bytes is still recognised.
fn synthetic_message_id(raw: &[u8]) -> String {
    let digest = Sha256::digest(raw);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256.{hex}@{MESSAGE_ID_DOMAIN}")
}

/// Message-IDs to thread by, most specific first.
fn thread_ids(m: &ParsedEmail) -> Vec<String> {
    let mut ids: Vec<String> = m.in_reply_to.clone();
    ids.extend(m.references.iter().rev().cloned());
    ids.dedup();
    ids
}

/// Writes an outgoing message and its [`SEND_JOB`] for a message on an e-mail ticket;
/// returns the message's id. `auto_reply` marks an automatic message (acknowledgement, FAQ
/// answer).
pub(crate) fn enqueue_for_ticket(
    tx: &mut Tx<'_>,
    ticket: &TicketRow,
    text: &str,
    auto_reply: bool,
    now: jiff::Timestamp,
    attempts_max: i64,
) -> anyhow::Result<i64> {
    let now_micros = now.as_microsecond();
    let n = mail::count_outgoing(tx, ticket.id)? + 1;
    let message_id = format!("{}.{n}.{now_micros}@{MESSAGE_ID_DOMAIN}", ticket.reference);
    let Some(email_id) = mail::insert(
        tx,
        &EmailRow {
            direction: "out".to_owned(),
            message_id,
            ticket_id: Some(ticket.id),
            auto_reply,
            body: Some(text.to_owned()),
            outcome: "queued".to_owned(),
            created_at_micros: now_micros,
            ..EmailRow::default()
        },
    )?
    else {
        anyhow::bail!("generated Message-ID already stored");
    };
    let payload = json!({ "email_id": email_id }).to_string();
    store::jobs::enqueue(
        tx,
        &store::jobs::NewJob {
            kind: SEND_JOB,
            payload: &payload,
            due_at_micros: now_micros,
            max_attempts: attempts_max,
            dedupe_key: None,
            now_micros,
        },
    )?;
    Ok(email_id)
}

/// Checks that `ids` name stored (not refused) attachments of `ticket_id`, within the
/// per-message limits of [`EMAIL_ATTACHMENTS_PER_MESSAGE_MAX`] files and
/// [`EMAIL_ATTACHMENTS_PER_MESSAGE_BYTES_MAX`] bytes, each at most once.
pub(crate) fn check_outgoing_attachments(
    tx: &mut Tx<'_>,
    ticket_id: i64,
    ids: &[i64],
) -> AppResult<()> {
    if ids.len() > EMAIL_ATTACHMENTS_PER_MESSAGE_MAX {
        return Err(FieldError::new(
            "attachment_ids",
            format!("at most {EMAIL_ATTACHMENTS_PER_MESSAGE_MAX} attachments per message"),
        )
        .into());
    }
    let mut total = 0i64;
    for (i, id) in ids.iter().enumerate() {
        let field = format!("attachment_ids[{i}]");
        if ids[..i].contains(id) {
            return Err(FieldError::new(field, "listed twice").into());
        }
        let Some((row, data)) = mail::attachment_data(tx, ticket_id, *id)? else {
            return Err(FieldError::new(field, "not an attachment of this ticket").into());
        };
        if data.is_none() {
            return Err(FieldError::new(
                field,
                "this attachment was refused when received: its bytes were not kept",
            )
            .into());
        }
        total += row.size_bytes;
    }
    if total > EMAIL_ATTACHMENTS_PER_MESSAGE_BYTES_MAX as i64 {
        return Err(FieldError::new(
            "attachment_ids",
            format!(
                "{total} bytes is over the {EMAIL_ATTACHMENTS_PER_MESSAGE_BYTES_MAX}-byte limit per message"
            ),
        )
        .into());
    }
    Ok(())
}

/// Stores the attachments of an inbound message within the limits; a refused one is
/// recorded with its reason and without its bytes. Returns their ids in order.
fn store_attachments(
    tx: &mut Tx<'_>,
    m: &ParsedEmail,
    email_id: i64,
    ticket_id: i64,
    now_micros: i64,
) -> anyhow::Result<Vec<i64>> {
    let mut ids = Vec::with_capacity(m.attachments.len());
    let mut total = 0usize;
    for (i, a) in m.attachments.iter().enumerate() {
        let size = a.data.len();
        let refused = if i >= EMAIL_ATTACHMENTS_PER_MESSAGE_MAX {
            Some(format!(
                "more than {EMAIL_ATTACHMENTS_PER_MESSAGE_MAX} attachments in one message"
            ))
        } else if size > EMAIL_ATTACHMENT_BYTES_MAX {
            Some(format!(
                "{size} bytes is over the {EMAIL_ATTACHMENT_BYTES_MAX}-byte limit per file"
            ))
        } else if total + size > EMAIL_ATTACHMENTS_PER_MESSAGE_BYTES_MAX {
            Some(format!(
                "the message's attachments pass the {EMAIL_ATTACHMENTS_PER_MESSAGE_BYTES_MAX}-byte limit per message"
            ))
        } else {
            None
        };
        if refused.is_none() {
            total += size;
        }
        let filename: Option<String> = a
            .filename
            .as_deref()
            .map(|f| f.chars().filter(|c| !c.is_control()).take(255).collect());
        let content_type: String = a.content_type.chars().take(127).collect();
        ids.push(mail::insert_attachment(
            tx,
            &mail::NewAttachment {
                email_id,
                ticket_id: Some(ticket_id),
                filename: filename.as_deref(),
                content_type: &content_type,
                size_bytes: size as i64,
                data: refused.is_none().then_some(a.data.as_slice()),
                refused_reason: refused.as_deref(),
                now_micros,
            },
        )?);
    }
    Ok(ids)
}

impl App {
    /// Handles one raw inbound message (from the webhook or IMAP; `source` says which).
    pub fn receive_email(&self, source: &str, raw: &[u8]) -> AppResult<InboundOutcome> {
        if raw.len() > EMAIL_MESSAGE_BYTES_MAX {
            return Err(FieldError::new(
                "body",
                format!("a message may be at most {EMAIL_MESSAGE_BYTES_MAX} bytes"),
            )
            .into());
        }
        let now = self.now();
        let now_micros = now.as_microsecond();
        let m = match domain::email::parse_message(raw) {
            Ok(m) => m,
            Err(e) => {
                let error = e.to_string();
                let id = self
                    .store
                    .write(|tx| mail::quarantine(tx, source, &error, raw, now_micros))?;
                tracing::warn!(quarantine_id = id, source, %error, "inbound e-mail quarantined");
                return Ok(InboundOutcome::Quarantined {
                    quarantine_id: id,
                    error,
                });
            }
        };
        let message_id = m
            .message_id
            .clone()
            .unwrap_or_else(|| synthetic_message_id(raw));
        let from = m.from.clone().map(|f| f.address).unwrap_or_default();
        let attempts_max = self.settings.job_attempts_max;
        let who = email_principal();
        let (model_version, classifier) = self.classifier()?;
        let with = desk::TriageContext {
            model_version,
            classifier: &classifier,
            settings: &self.settings,
        };
        let outcome = self.store.write(|tx| {
            if let Some(existing) = mail::by_message_id(tx, &message_id)? {
                if existing.direction == "out" {
                    store::audit::insert(
                        tx,
                        now_micros,
                        &who.actor,
                        "email.ignored",
                        existing.ticket_id.map(|t| format!("ticket:{t}")).as_deref(),
                        Some("reason=own_message"),
                    )?;
                    return Ok::<_, AppError>(InboundOutcome::Ignored {
                        reason: IgnoreReason::OwnMessage,
                    });
                }
                return Ok(InboundOutcome::Duplicate {
                    ticket_id: existing.ticket_id,
                });
            }
            let mut row = EmailRow {
                direction: "in".to_owned(),
                message_id: message_id.clone(),
                from_address: Some(from.clone()),
                subject: m.subject.clone(),
                in_reply_to: m.in_reply_to.first().cloned(),
                refs: (!m.references.is_empty()).then(|| m.references.join(" ")),
                outcome: "ticket".to_owned(),
                created_at_micros: now_micros,
                ..EmailRow::default()
            };
            // Mail from the desk's own address is ours coming back, whatever its Message-ID.
            let from_us = self
                .settings
                .email
                .smtp
                .as_ref()
                .is_some_and(|s| s.from.eq_ignore_ascii_case(&from));
            let reason = if from_us {
                Some(IgnoreReason::OwnMessage)
            } else {
                domain::email::loop_reason(&m)
            };
            if let Some(reason) = reason {
                row.outcome = "ignored".to_owned();
                row.reason = Some(reason.as_str().to_owned());
                mail::insert(tx, &row)?;
                return Ok(InboundOutcome::Ignored { reason });
            }
            let customer_id = match (CustomerInput {
                identities: vec![(IdentityKind::Email, from.clone())],
                ..CustomerInput::default()
            })
            .validate()
            {
                Ok(valid) => Some(resolve_or_create(tx, &valid, now_micros)?.0),
                Err(_) => None,
            };
            // Headers thread onto the sender's own ticket only: a stranger answering in the
            // thread (or forging In-Reply-To) gets a ticket of their own, never someone else's.
            let mut ticket_id = match mail::ticket_of_any(tx, &thread_ids(&m))? {
                Some(id) => rows::get_ticket(tx, id)?
                    .filter(|t| t.customer_id.is_none() || t.customer_id == customer_id)
                    .map(|t| t.id),
                None => None,
            };
            if ticket_id.is_none()
                && let Some(reference) = m
                    .subject
                    .as_deref()
                    .and_then(domain::email::subject_reference)
                && let Some(t) = rows::get_ticket(tx, reference.ticket_id)?
                && t.reference == reference.to_string()
                && t.channel == TicketChannel::Email.as_str()
                && (t.customer_id.is_none() || t.customer_id == customer_id)
            {
                ticket_id = Some(t.id);
            }
            let Some(email_id) = mail::insert(tx, &row)? else {
                return Ok(InboundOutcome::Duplicate { ticket_id: None });
            };
            let input = TicketInput {
                channel: TicketChannel::Email.as_str().to_owned(),
                subject: subject_line(&m),
                body: message_body(&m),
                ..TicketInput::default()
            };
            // The acknowledgement's send job reads the inbound row by ticket, so the row is
            // stored (above) before the ticket's log is written.
            let (ticket_id, opened) = desk::customer_message_tx(
                tx,
                &who,
                ticket_id,
                &input,
                customer_id,
                now,
                attempts_max,
                None,
                &with,
            )?;
            mail::set_ticket(tx, email_id, ticket_id)?;
            let attachments = store_attachments(tx, &m, email_id, ticket_id, now_micros)?;
            if !attachments.is_empty() {
                // The customer's message just logged names what it carried.
                let message = rows::last_message_id(tx, ticket_id, Sender::Customer.as_str())?
                    .ok_or_else(|| {
                        anyhow::anyhow!("ticket {ticket_id}: no customer message was logged")
                    })?;
                mail::attach_to_event(tx, message, &attachments)?;
            }
            let reference = rows::get_ticket(tx, ticket_id)?
                .map(|t| t.reference)
                .unwrap_or_default();
            Ok(InboundOutcome::Ticket {
                ticket_id,
                reference,
                opened,
                email_id,
            })
        })?;
        match &outcome {
            InboundOutcome::Ticket {
                ticket_id, opened, ..
            } => tracing::info!(ticket_id, opened, source, "inbound e-mail stored"),
            InboundOutcome::Duplicate { ticket_id } => {
                tracing::info!(?ticket_id, source, "inbound e-mail seen before")
            }
            InboundOutcome::Ignored { reason } => {
                tracing::info!(reason = reason.as_str(), source, "inbound e-mail ignored")
            }
            InboundOutcome::Quarantined { .. } => {}
        }
        Ok(outcome)
    }

    /// Quarantined messages after `after_id`.
    pub fn quarantined_emails(&self, after_id: i64, limit: i64) -> AppResult<Vec<QuarantineView>> {
        if !(1..=QUARANTINE_PAGE_MAX).contains(&limit) {
            return Err(
                FieldError::new("limit", format!("must be 1 to {QUARANTINE_PAGE_MAX}")).into(),
            );
        }
        self.store
            .read(|tx| mail::quarantined(tx, after_id, limit))?
            .into_iter()
            .map(|r| {
                Ok(QuarantineView {
                    id: r.id,
                    source: r.source,
                    error: r.error,
                    size_bytes: r.size_bytes,
                    received_at: store::instant(r.received_at_micros)?,
                })
            })
            .collect::<anyhow::Result<_>>()
            .map_err(AppError::from)
    }

    /// The raw bytes of a quarantined message.
    pub fn quarantined_email_raw(&self, id: i64) -> AppResult<Vec<u8>> {
        self.store
            .read(|tx| mail::quarantined_raw(tx, id))?
            .ok_or(AppError::NotFound)
    }

    /// A ticket's attachments.
    pub fn ticket_attachments(&self, ticket_id: i64) -> AppResult<Vec<AttachmentView>> {
        let rows = self.store.read(|tx| {
            rows::get_ticket(tx, ticket_id)?.ok_or(AppError::NotFound)?;
            Ok::<_, AppError>(mail::attachments_of_ticket(tx, ticket_id)?)
        })?;
        rows.into_iter()
            .map(|r| {
                Ok(AttachmentView {
                    id: r.id,
                    filename: r.filename,
                    content_type: r.content_type,
                    size_bytes: r.size_bytes,
                    stored: r.stored,
                    refused_reason: r.refused_reason,
                    created_at: store::instant(r.created_at_micros)?,
                })
            })
            .collect::<anyhow::Result<_>>()
            .map_err(AppError::from)
    }

    /// One stored attachment with its bytes; `NotFound` for a refused one.
    pub fn ticket_attachment(
        &self,
        ticket_id: i64,
        id: i64,
    ) -> AppResult<(AttachmentView, Vec<u8>)> {
        let (r, data) = self
            .store
            .read(|tx| mail::attachment_data(tx, ticket_id, id))?
            .ok_or(AppError::NotFound)?;
        let data = data.ok_or(AppError::NotFound)?;
        Ok((
            AttachmentView {
                id: r.id,
                filename: r.filename,
                content_type: r.content_type,
                size_bytes: r.size_bytes,
                stored: r.stored,
                refused_reason: r.refused_reason,
                created_at: store::instant(r.created_at_micros)?,
            },
            data,
        ))
    }

    /// The messages stored for a ticket, in and out (tests and support read them).
    pub fn ticket_emails(&self, ticket_id: i64) -> AppResult<Vec<EmailRow>> {
        Ok(self.store.read(|tx| mail::of_ticket(tx, ticket_id))?)
    }

    /// Inbound messages recorded as ignored, newest first.
    pub fn ignored_emails(&self, limit: i64) -> AppResult<Vec<EmailRow>> {
        Ok(self.store.read(|tx| mail::ignored(tx, limit))?)
    }

    /// Schedules the IMAP fetch (a no-op without IMAP configured). Due at the next multiple
    /// of the interval, deduplicated by that instant, so several instances starting at once
    /// schedule one chain.
    pub fn schedule_email_fetch(&self) -> AppResult<bool> {
        if self.settings.email.imap.is_none() {
            return Ok(false);
        }
        let now = self.now_micros();
        let attempts_max = self.settings.job_attempts_max;
        let interval = self.settings.email.fetch_interval_seconds.max(1) * 1_000_000;
        self.store
            .write(|tx| enqueue_fetch(tx, now, now, attempts_max, interval))?;
        Ok(true)
    }

    /// The job body of [`FETCH_JOB`]: schedules the next fetch, then fetches.
    pub fn run_email_fetch_job(&self, _payload: &str) -> Result<(), String> {
        let Some(imap) = self.settings.email.imap.clone() else {
            return Ok(());
        };
        let now = self.now_micros();
        let interval = self.settings.email.fetch_interval_seconds.max(1) * 1_000_000;
        let attempts_max = self.settings.job_attempts_max;
        self.store
            .write(|tx| enqueue_fetch(tx, now + interval, now, attempts_max, interval))
            .map_err(|e| format!("{e:#}"))?;
        let outcome = self.fetch_mail(&imap).map_err(|e| e.to_string())?;
        tracing::info!(
            fetched = outcome.fetched,
            tickets = outcome.tickets,
            duplicates = outcome.duplicates,
            ignored = outcome.ignored,
            quarantined = outcome.quarantined,
            "IMAP mailbox fetched"
        );
        Ok(())
    }

    /// Fetches the messages after the last UID stored (all of them when UIDVALIDITY
    /// changed), handles each, marks it `\Seen` and stores its UID, one message at a time.
    pub fn fetch_mail(&self, s: &ImapSettings) -> AppResult<FetchOutcome> {
        let imap_err = |e: imap::ImapError| AppError::Internal(anyhow::anyhow!("{e}"));
        let mut client = imap::Client::open(&s.host, s.port, &s.tls).map_err(imap_err)?;
        client.login(&s.user, &s.password).map_err(imap_err)?;
        let selected = client.select(&s.mailbox).map_err(imap_err)?;
        let last = match self.store.read(|tx| mail::imap_state(tx, &s.mailbox))? {
            Some((validity, last)) if validity == selected.uid_validity => last,
            _ => 0,
        };
        let uids = client.uids_after(last).map_err(imap_err)?;
        let mut outcome = FetchOutcome::default();
        for uid in uids.into_iter().take(IMAP_FETCH_MESSAGES_PER_RUN_MAX) {
            let size = client.size(uid).map_err(imap_err)?;
            if let Some(size) = size.filter(|s| *s > EMAIL_MESSAGE_BYTES_MAX as i64) {
                // Too large to read: left unread in the mailbox, and listed for a person.
                let error = format!(
                    "{size} bytes is over the {EMAIL_MESSAGE_BYTES_MAX}-byte limit; \
                     left unread in mailbox {} as UID {uid}",
                    s.mailbox
                );
                let now = self.now_micros();
                self.store
                    .write(|tx| mail::quarantine(tx, "imap", &error, b"", now))?;
                outcome.quarantined += 1;
            } else if let Some(raw) = client.fetch(uid).map_err(imap_err)? {
                outcome.fetched += 1;
                match self.receive_email("imap", &raw)? {
                    InboundOutcome::Ticket { .. } => outcome.tickets += 1,
                    InboundOutcome::Duplicate { .. } => outcome.duplicates += 1,
                    InboundOutcome::Ignored { .. } => outcome.ignored += 1,
                    InboundOutcome::Quarantined { .. } => outcome.quarantined += 1,
                }
                client.mark_seen(uid).map_err(imap_err)?;
            }
            let now = self.now_micros();
            self.store.write(|tx| {
                mail::put_imap_state(tx, &s.mailbox, selected.uid_validity, uid, now)
            })?;
        }
        let _ = client.logout();
        Ok(outcome)
    }

    /// The job body of [`SEND_JOB`]. A 4xx or network failure returns an error (retried
    /// with backoff); a 5xx refusal is recorded and dead-letters the job at once.
    pub fn run_email_send_job(&self, payload: &str) -> Result<(), String> {
        let value: Value =
            serde_json::from_str(payload).map_err(|e| format!("bad payload: {e}"))?;
        let email_id = value["email_id"]
            .as_i64()
            .ok_or("payload names no email_id")?;
        let now = self.now();
        let now_micros = now.as_microsecond();
        let window_start = now_micros - AUTO_REPLY_WINDOW_SECONDS * 1_000_000;
        let db = |e: anyhow::Error| format!("{e:#}");
        let Some(smtp) = self.settings.email.smtp.clone() else {
            self.store
                .write(|tx| {
                    mail::set_outcome(
                        tx,
                        email_id,
                        None,
                        "failed",
                        Some("smtp_not_configured"),
                        None,
                    )
                })
                .map_err(db)?;
            return Ok(());
        };
        // Decide recipient, threading and whether to send, in one transaction.
        let plan = self
            .store
            .write(|tx| {
                let Some(row) = mail::get(tx, email_id)? else {
                    return Ok(None);
                };
                if row.outcome != "queued" {
                    return Ok(None);
                }
                let Some(ticket) = row
                    .ticket_id
                    .map(|t| rows::get_ticket(tx, t))
                    .transpose()?
                    .flatten()
                else {
                    mail::set_outcome(tx, email_id, None, "failed", Some("no_ticket"), None)?;
                    return Ok(None);
                };
                let inbound = mail::latest_inbound(tx, ticket.id)?;
                let to = match inbound.as_ref().and_then(|i| i.from_address.clone()) {
                    Some(a) => Some(a),
                    None => ticket
                        .customer_id
                        .map(|c| mail::email_of(tx, c))
                        .transpose()?
                        .flatten(),
                };
                let Some(to) = to else {
                    mail::set_outcome(tx, email_id, None, "failed", Some("no_recipient"), None)?;
                    return Ok(None);
                };
                if row.auto_reply
                    && mail::count_auto_replies_to(tx, &to, window_start)?
                        >= AUTO_REPLIES_PER_SENDER_MAX
                {
                    mail::set_outcome(
                        tx,
                        email_id,
                        Some(&to),
                        "suppressed",
                        Some("rate_limited"),
                        None,
                    )?;
                    tracing::info!(
                        email_id,
                        "automatic reply suppressed by the per-sender limit"
                    );
                    return Ok(None);
                }
                let subject = domain::email::ticket_subject(
                    &ticket.reference,
                    inbound
                        .as_ref()
                        .and_then(|i| i.subject.as_deref())
                        .or(ticket.subject.as_deref()),
                );
                let in_reply_to = inbound.as_ref().map(|i| i.message_id.clone());
                let mut references: Vec<String> = inbound
                    .as_ref()
                    .and_then(|i| i.refs.as_deref())
                    .map(|r| r.split_whitespace().map(str::to_owned).collect())
                    .unwrap_or_default();
                references.extend(in_reply_to.clone());
                if references.len() > domain::email::EMAIL_REFERENCES_MAX {
                    references.drain(..references.len() - domain::email::EMAIL_REFERENCES_MAX);
                }
                let refs = references.join(" ");
                mail::set_threading(
                    tx,
                    email_id,
                    &subject,
                    in_reply_to.as_deref(),
                    (!refs.is_empty()).then_some(refs.as_str()),
                )?;
                mail::set_outcome(tx, email_id, Some(&to), "queued", None, None)?;
                let mut attachments = Vec::new();
                for f in mail::outgoing_attachments(tx, email_id)? {
                    let data = f.data.ok_or_else(|| {
                        anyhow::anyhow!("attachment {} has no stored bytes", f.attachment_id)
                    })?;
                    attachments.push(domain::email::OutgoingAttachment {
                        filename: f.filename,
                        content_type: f.content_type,
                        data,
                    });
                }
                Ok::<_, anyhow::Error>(Some(Outgoing {
                    from: smtp.from.clone(),
                    to,
                    subject,
                    message_id: row.message_id,
                    in_reply_to,
                    references,
                    auto_replied: row.auto_reply,
                    date: now,
                    body: row.body.unwrap_or_default(),
                    attachments,
                }))
            })
            .map_err(db)?;
        let Some(out) = plan else {
            return Ok(());
        };
        let helo = smtp
            .from
            .rsplit('@')
            .next()
            .unwrap_or("localhost")
            .to_owned();
        let data = domain::email::compose(&out);
        match smtp::send(&smtp, &helo, &out.to, &data) {
            Ok(()) => {
                self.store
                    .write(|tx| {
                        mail::set_outcome(tx, email_id, None, "sent", None, Some(now_micros))
                    })
                    .map_err(db)?;
                tracing::info!(email_id, auto_reply = out.auto_replied, "e-mail sent");
                Ok(())
            }
            // The job error is logged: it carries the reply codes only, as a server's text
            // may quote the recipient's address. The whole reply is kept on the row.
            Err(SmtpError::Transient(e)) => Err(format!("SMTP: {}", reply_codes(&e))),
            Err(SmtpError::Permanent(e)) => {
                let reason: String = e.chars().take(200).collect();
                self.store
                    .write(|tx| {
                        mail::set_outcome(tx, email_id, None, "failed", Some(&reason), None)
                    })
                    .map_err(db)?;
                Err(crate::jobs::permanent(&format!(
                    "SMTP refused: {}",
                    reply_codes(&reason)
                )))
            }
        }
    }
}

/// The reply code and enhanced status code of an SMTP reply (`550 5.1.1`), or the text of
/// a network error (which names no person).
fn reply_codes(text: &str) -> String {
    let mut words = text.split_whitespace();
    match words.next() {
        Some(code) if code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit()) => {
            match words.next() {
                Some(status) if status.bytes().all(|b| b.is_ascii_digit() || b == b'.') => {
                    format!("{code} {status}")
                }
                _ => code.to_owned(),
            }
        }
        _ => text.chars().take(200).collect(),
    }
}

fn enqueue_fetch(
    tx: &mut Tx<'_>,
    not_before_micros: i64,
    now_micros: i64,
    attempts_max: i64,
    interval_micros: i64,
) -> anyhow::Result<()> {
    // The next multiple of the interval at or after `not_before`.
    let due = not_before_micros.div_euclid(interval_micros) * interval_micros;
    let due = if due < not_before_micros {
        due + interval_micros
    } else {
        due
    };
    let key = format!("{FETCH_JOB}@{due}");
    store::jobs::enqueue(
        tx,
        &store::jobs::NewJob {
            kind: FETCH_JOB,
            payload: "{}",
            due_at_micros: due,
            max_attempts: attempts_max,
            dedupe_key: Some(&key),
            now_micros,
        },
    )?;
    Ok(())
}

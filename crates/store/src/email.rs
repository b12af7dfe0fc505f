//! The e-mail channel's tables: `email_messages` (every message in or out, unique by
//! Message-ID), `email_quarantine` (inbound mail that could not be read, kept raw with the
//! error), `email_attachments` (stored files, or the reason one was refused) and
//! `imap_state` (UIDVALIDITY and the last UID fetched per mailbox).

use crate::args;
use crate::sql::{Arg, Row, Tx};
use anyhow::Result;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EmailRow {
    pub id: i64,
    /// `in` or `out`.
    pub direction: String,
    pub message_id: String,
    pub ticket_id: Option<i64>,
    pub from_address: Option<String>,
    pub to_address: Option<String>,
    pub subject: Option<String>,
    pub in_reply_to: Option<String>,
    /// Space-separated Message-IDs.
    pub refs: Option<String>,
    pub auto_reply: bool,
    /// The text of an outgoing message.
    pub body: Option<String>,
    pub outcome: String,
    pub reason: Option<String>,
    pub created_at_micros: i64,
    pub sent_at_micros: Option<i64>,
}

const EMAIL_COLUMNS: &str = "id, direction, message_id, ticket_id, from_address, to_address, \
    subject, in_reply_to, refs, auto_reply, body, outcome, reason, created_at, sent_at";

fn email(r: &Row) -> Result<EmailRow> {
    let text = |i| -> Result<Option<String>> { Ok(r.opt_text(i)?.map(str::to_owned)) };
    Ok(EmailRow {
        id: r.int(0)?,
        direction: r.text(1)?.to_owned(),
        message_id: r.text(2)?.to_owned(),
        ticket_id: r.opt_int(3)?,
        from_address: text(4)?,
        to_address: text(5)?,
        subject: text(6)?,
        in_reply_to: text(7)?,
        refs: text(8)?,
        auto_reply: r.int(9)? != 0,
        body: text(10)?,
        outcome: r.text(11)?.to_owned(),
        reason: text(12)?,
        created_at_micros: r.int(13)?,
        sent_at_micros: r.opt_int(14)?,
    })
}

/// Inserts a message; `None` when its Message-ID is stored already.
pub fn insert(tx: &mut Tx<'_>, e: &EmailRow) -> Result<Option<i64>> {
    tx.query_opt(
        "INSERT INTO email_messages (direction, message_id, ticket_id, from_address,
                 to_address, subject, in_reply_to, refs, auto_reply, body, outcome, reason,
                 created_at, sent_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
             ON CONFLICT (message_id) DO NOTHING RETURNING id",
        args![
            e.direction.as_str(),
            e.message_id.as_str(),
            e.ticket_id,
            e.from_address.as_deref(),
            e.to_address.as_deref(),
            e.subject.as_deref(),
            e.in_reply_to.as_deref(),
            e.refs.as_deref(),
            i64::from(e.auto_reply),
            e.body.as_deref(),
            e.outcome.as_str(),
            e.reason.as_deref(),
            e.created_at_micros,
            e.sent_at_micros
        ],
    )?
    .map(|r| r.int(0))
    .transpose()
}

pub fn get(tx: &mut Tx<'_>, id: i64) -> Result<Option<EmailRow>> {
    tx.query_opt(
        &format!("SELECT {EMAIL_COLUMNS} FROM email_messages WHERE id = $1"),
        args![id],
    )?
    .map(|r| email(&r))
    .transpose()
}

pub fn by_message_id(tx: &mut Tx<'_>, message_id: &str) -> Result<Option<EmailRow>> {
    tx.query_opt(
        &format!("SELECT {EMAIL_COLUMNS} FROM email_messages WHERE message_id = $1"),
        args![message_id],
    )?
    .map(|r| email(&r))
    .transpose()
}

/// The ticket of the first of `message_ids` stored (in or out) with a ticket.
pub fn ticket_of_any(tx: &mut Tx<'_>, message_ids: &[String]) -> Result<Option<i64>> {
    for id in message_ids {
        if let Some(row) = by_message_id(tx, id)?
            && let Some(t) = row.ticket_id
        {
            return Ok(Some(t));
        }
    }
    Ok(None)
}

pub fn set_ticket(tx: &mut Tx<'_>, id: i64, ticket_id: i64) -> Result<()> {
    tx.execute(
        "UPDATE email_messages SET ticket_id = $2 WHERE id = $1",
        args![id, ticket_id],
    )?;
    Ok(())
}

/// The newest inbound message of a ticket (an answer replies to it).
pub fn latest_inbound(tx: &mut Tx<'_>, ticket_id: i64) -> Result<Option<EmailRow>> {
    tx.query_opt(
        &format!(
            "SELECT {EMAIL_COLUMNS} FROM email_messages
             WHERE ticket_id = $1 AND direction = 'in' AND outcome = 'ticket'
             ORDER BY id DESC LIMIT 1"
        ),
        args![ticket_id],
    )?
    .map(|r| email(&r))
    .transpose()
}

/// Messages of a ticket, in order.
pub fn of_ticket(tx: &mut Tx<'_>, ticket_id: i64) -> Result<Vec<EmailRow>> {
    tx.query(
        &format!("SELECT {EMAIL_COLUMNS} FROM email_messages WHERE ticket_id = $1 ORDER BY id"),
        args![ticket_id],
    )?
    .iter()
    .map(email)
    .collect()
}

/// Outgoing messages of a ticket so far (numbers the next Message-ID).
pub fn count_outgoing(tx: &mut Tx<'_>, ticket_id: i64) -> Result<i64> {
    tx.query_one(
        "SELECT COUNT(*) FROM email_messages WHERE ticket_id = $1 AND direction = 'out'",
        args![ticket_id],
    )?
    .int(0)
}

/// Automatic replies sent to `address` since `since_micros`.
pub fn count_auto_replies_to(tx: &mut Tx<'_>, address: &str, since_micros: i64) -> Result<i64> {
    tx.query_one(
        "SELECT COUNT(*) FROM email_messages
         WHERE to_address = $1 AND direction = 'out' AND auto_reply = 1 AND outcome = 'sent'
           AND created_at >= $2",
        args![address, since_micros],
    )?
    .int(0)
}

/// Records where an outgoing message went and how it ended.
pub fn set_outcome(
    tx: &mut Tx<'_>,
    id: i64,
    to_address: Option<&str>,
    outcome: &str,
    reason: Option<&str>,
    sent_at_micros: Option<i64>,
) -> Result<()> {
    tx.execute(
        "UPDATE email_messages SET to_address = COALESCE($2, to_address), outcome = $3,
             reason = $4, sent_at = $5
         WHERE id = $1",
        args![id, to_address, outcome, reason, sent_at_micros],
    )?;
    Ok(())
}

/// Sets the threading headers an outgoing message was given.
pub fn set_threading(
    tx: &mut Tx<'_>,
    id: i64,
    subject: &str,
    in_reply_to: Option<&str>,
    refs: Option<&str>,
) -> Result<()> {
    tx.execute(
        "UPDATE email_messages SET subject = $2, in_reply_to = $3, refs = $4 WHERE id = $1",
        args![id, subject, in_reply_to, refs],
    )?;
    Ok(())
}

/// Ignored inbound messages, newest first (loop protection at work).
pub fn ignored(tx: &mut Tx<'_>, limit: i64) -> Result<Vec<EmailRow>> {
    tx.query(
        &format!(
            "SELECT {EMAIL_COLUMNS} FROM email_messages
             WHERE direction = 'in' AND outcome = 'ignored' ORDER BY id DESC LIMIT $1"
        ),
        args![limit],
    )?
    .iter()
    .map(email)
    .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantineRow {
    pub id: i64,
    pub source: String,
    pub error: String,
    pub size_bytes: i64,
    pub received_at_micros: i64,
}

pub fn quarantine(
    tx: &mut Tx<'_>,
    source: &str,
    error: &str,
    raw: &[u8],
    now_micros: i64,
) -> Result<i64> {
    tx.query_one(
        "INSERT INTO email_quarantine (source, error, size_bytes, raw, received_at)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
        args![source, error, raw.len() as i64, raw, now_micros],
    )?
    .int(0)
}

/// Quarantined messages after `after_id`, oldest first.
pub fn quarantined(tx: &mut Tx<'_>, after_id: i64, limit: i64) -> Result<Vec<QuarantineRow>> {
    tx.query(
        "SELECT id, source, error, size_bytes, received_at FROM email_quarantine
         WHERE id > $1 ORDER BY id LIMIT $2",
        args![after_id, limit],
    )?
    .iter()
    .map(|r| {
        Ok(QuarantineRow {
            id: r.int(0)?,
            source: r.text(1)?.to_owned(),
            error: r.text(2)?.to_owned(),
            size_bytes: r.int(3)?,
            received_at_micros: r.int(4)?,
        })
    })
    .collect()
}

pub fn quarantined_raw(tx: &mut Tx<'_>, id: i64) -> Result<Option<Vec<u8>>> {
    tx.query_opt("SELECT raw FROM email_quarantine WHERE id = $1", args![id])?
        .map(|r| Ok(r.blob(0)?.to_vec()))
        .transpose()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentRow {
    pub id: i64,
    pub email_id: i64,
    pub ticket_id: Option<i64>,
    pub filename: Option<String>,
    pub content_type: String,
    pub size_bytes: i64,
    pub stored: bool,
    pub refused_reason: Option<String>,
    pub created_at_micros: i64,
}

#[derive(Debug, Clone)]
pub struct NewAttachment<'a> {
    pub email_id: i64,
    pub ticket_id: Option<i64>,
    pub filename: Option<&'a str>,
    pub content_type: &'a str,
    pub size_bytes: i64,
    /// `None` when refused.
    pub data: Option<&'a [u8]>,
    pub refused_reason: Option<&'a str>,
    pub now_micros: i64,
}

pub fn insert_attachment(tx: &mut Tx<'_>, a: &NewAttachment<'_>) -> Result<i64> {
    let data = a.data.map_or(Arg::Null, Arg::Blob);
    tx.query_one(
        "INSERT INTO email_attachments (email_id, ticket_id, filename, content_type, size_bytes,
             data, refused_reason, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        &[
            Arg::from(a.email_id),
            Arg::from(a.ticket_id),
            Arg::from(a.filename),
            Arg::from(a.content_type),
            Arg::from(a.size_bytes),
            data,
            Arg::from(a.refused_reason),
            Arg::from(a.now_micros),
        ],
    )?
    .int(0)
}

const ATTACHMENT_COLUMNS: &str = "id, email_id, ticket_id, filename, content_type, size_bytes, \
    data IS NOT NULL, refused_reason, created_at";

fn attachment(r: &Row) -> Result<AttachmentRow> {
    Ok(AttachmentRow {
        id: r.int(0)?,
        email_id: r.int(1)?,
        ticket_id: r.opt_int(2)?,
        filename: r.opt_text(3)?.map(str::to_owned),
        content_type: r.text(4)?.to_owned(),
        size_bytes: r.int(5)?,
        stored: r.int(6)? != 0,
        refused_reason: r.opt_text(7)?.map(str::to_owned),
        created_at_micros: r.int(8)?,
    })
}

pub fn attachments_of_ticket(tx: &mut Tx<'_>, ticket_id: i64) -> Result<Vec<AttachmentRow>> {
    tx.query(
        &format!(
            "SELECT {ATTACHMENT_COLUMNS} FROM email_attachments WHERE ticket_id = $1
             UNION
             SELECT {ATTACHMENT_COLUMNS} FROM email_attachments WHERE id IN ({CARRIED_BY_TICKET})
             ORDER BY id"
        ),
        args![ticket_id],
    )?
    .iter()
    .map(attachment)
    .collect()
}

/// The attachments the log of ticket `$1` names on its entries: a ticket's own files plus
/// those a split copied onto it or a merge brought in with the other ticket's transcript.
const CARRIED_BY_TICKET: &str = "SELECT ea.attachment_id FROM ticket_event_attachments ea
      JOIN ticket_events e ON e.id = ea.event_id WHERE e.ticket_id = $1";

/// An attachment of a ticket with its bytes (`None` bytes when it was refused).
pub fn attachment_data(
    tx: &mut Tx<'_>,
    ticket_id: i64,
    id: i64,
) -> Result<Option<(AttachmentRow, Option<Vec<u8>>)>> {
    tx.query_opt(
        &format!(
            "SELECT {ATTACHMENT_COLUMNS}, data FROM email_attachments
             WHERE id = $2 AND (ticket_id = $1 OR id IN ({CARRIED_BY_TICKET}))"
        ),
        args![ticket_id, id],
    )?
    .map(|r| Ok((attachment(&r)?, r.opt_blob(9)?.map(<[u8]>::to_vec))))
    .transpose()
}

/// `(uid_validity, last_uid)` of a mailbox.
pub fn imap_state(tx: &mut Tx<'_>, mailbox: &str) -> Result<Option<(i64, i64)>> {
    tx.query_opt(
        "SELECT uid_validity, last_uid FROM imap_state WHERE mailbox = $1",
        args![mailbox],
    )?
    .map(|r| Ok((r.int(0)?, r.int(1)?)))
    .transpose()
}

pub fn put_imap_state(
    tx: &mut Tx<'_>,
    mailbox: &str,
    uid_validity: i64,
    last_uid: i64,
    now_micros: i64,
) -> Result<()> {
    tx.execute(
        "INSERT INTO imap_state (mailbox, uid_validity, last_uid, updated_at)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (mailbox) DO UPDATE SET uid_validity = excluded.uid_validity,
             last_uid = excluded.last_uid, updated_at = excluded.updated_at",
        args![mailbox, uid_validity, last_uid, now_micros],
    )?;
    Ok(())
}

/// A customer's e-mail address (the first by value), for mail on a ticket that no inbound
/// message started.
pub fn email_of(tx: &mut Tx<'_>, customer_id: i64) -> Result<Option<String>> {
    tx.query_opt(
        "SELECT value FROM customer_identities WHERE customer_id = $1 AND kind = 'email'
         ORDER BY value LIMIT 1",
        args![customer_id],
    )?
    .map(|r| Ok(r.text(0)?.to_owned()))
    .transpose()
}

/// Records that outgoing message `email_id` carries these stored attachments, in order.
pub fn attach_outgoing(tx: &mut Tx<'_>, email_id: i64, attachment_ids: &[i64]) -> Result<()> {
    for (position, id) in attachment_ids.iter().enumerate() {
        tx.execute(
            "INSERT INTO email_outgoing_attachments (email_id, position, attachment_id)
             VALUES ($1, $2, $3)",
            args![email_id, position as i64, *id],
        )?;
    }
    Ok(())
}

/// One file an outgoing message carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingFile {
    pub attachment_id: i64,
    pub filename: Option<String>,
    pub content_type: String,
    /// `None` if the stored bytes are gone (never, as stored attachments are not deleted).
    pub data: Option<Vec<u8>>,
}

/// The files outgoing message `email_id` carries, in order.
pub fn outgoing_attachments(tx: &mut Tx<'_>, email_id: i64) -> Result<Vec<OutgoingFile>> {
    tx.query(
        "SELECT a.id, a.filename, a.content_type, a.data
           FROM email_outgoing_attachments o JOIN email_attachments a ON a.id = o.attachment_id
          WHERE o.email_id = $1 ORDER BY o.position",
        args![email_id],
    )?
    .iter()
    .map(|r| {
        Ok(OutgoingFile {
            attachment_id: r.int(0)?,
            filename: r.opt_text(1)?.map(str::to_owned),
            content_type: r.text(2)?.to_owned(),
            data: r.opt_blob(3)?.map(<[u8]>::to_vec),
        })
    })
    .collect()
}

/// Names the attachments message `event_id` of a ticket's log carried, in order.
pub fn attach_to_event(tx: &mut Tx<'_>, event_id: i64, attachment_ids: &[i64]) -> Result<()> {
    for (position, id) in attachment_ids.iter().enumerate() {
        tx.execute(
            "INSERT INTO ticket_event_attachments (event_id, position, attachment_id)
             VALUES ($1, $2, $3)",
            args![event_id, position as i64, *id],
        )?;
    }
    Ok(())
}

/// Names on log entry `to` the attachments entry `from` carried, in the same order (a split
/// copying a message onto its new ticket).
pub fn copy_event_attachments(tx: &mut Tx<'_>, from: i64, to: i64) -> Result<()> {
    tx.execute(
        "INSERT INTO ticket_event_attachments (event_id, position, attachment_id)
         SELECT $2, position, attachment_id FROM ticket_event_attachments WHERE event_id = $1",
        args![from, to],
    )?;
    Ok(())
}

/// One attachment a message of a ticket's log carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventAttachmentRow {
    pub event_id: i64,
    pub attachment: AttachmentRow,
}

/// The attachments the messages of ticket `ticket_id`'s log carried, per entry in order.
pub fn event_attachments_of_ticket(
    tx: &mut Tx<'_>,
    ticket_id: i64,
) -> Result<Vec<EventAttachmentRow>> {
    // The columns of ATTACHMENT_COLUMNS, of `a`.
    tx.query(
        "SELECT a.id, a.email_id, a.ticket_id, a.filename, a.content_type, a.size_bytes,
                a.data IS NOT NULL, a.refused_reason, a.created_at, ea.event_id
           FROM ticket_events e
           JOIN ticket_event_attachments ea ON ea.event_id = e.id
           JOIN email_attachments a ON a.id = ea.attachment_id
          WHERE e.ticket_id = $1
          ORDER BY ea.event_id, ea.position",
        args![ticket_id],
    )?
    .iter()
    .map(|r| {
        Ok(EventAttachmentRow {
            event_id: r.int(9)?,
            attachment: attachment(r)?,
        })
    })
    .collect()
}

//! E-mail as the desk reads and writes it, with no IO: [`mime`] parses an RFC 5322 message
//! (folded headers, RFC 2047 encoded words, multipart bodies, quoted-printable and base64,
//! UTF-8 / Big5 / GB2312 / GBK / ISO-8859-1 and every other charset `encoding_rs` knows)
//! into a [`mime::ParsedEmail`]; [`loop_reason`] says why a message must not become a ticket
//! nor be answered automatically (RFC 3834); [`compose`] writes an outgoing message with
//! UTF-8 encoded properly. Malformed input is an error value, never a panic.

pub mod mime;

#[cfg(test)]
mod tests;

pub use mime::{Attachment, MimeError, ParsedEmail, parse_message};

use crate::desk::Reference;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

/// Largest raw message the desk accepts, in bytes (webhook body limit and IMAP fetch).
pub const EMAIL_MESSAGE_BYTES_MAX: usize = 25 * 1024 * 1024;
/// Largest attachment stored, in bytes; a larger one is dropped with a recorded reason.
pub const EMAIL_ATTACHMENT_BYTES_MAX: usize = 5 * 1024 * 1024;
/// Largest total of the attachments stored for one message, in bytes.
pub const EMAIL_ATTACHMENTS_PER_MESSAGE_BYTES_MAX: usize = 10 * 1024 * 1024;
/// Attachments stored per message; later ones are dropped with a recorded reason.
pub const EMAIL_ATTACHMENTS_PER_MESSAGE_MAX: usize = 20;
/// Longest Message-ID kept, in bytes.
pub const EMAIL_MESSAGE_ID_BYTES_MAX: usize = 998;
/// Message-IDs of `References` considered for threading.
pub const EMAIL_REFERENCES_MAX: usize = 50;

/// Why an inbound message is recorded as ignored: no ticket, no automatic reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IgnoreReason {
    /// `Auto-Submitted` other than `no` (RFC 3834).
    AutoSubmitted,
    /// `Precedence: bulk`, `junk` or `list`.
    Precedence,
    /// `X-Autoreply` / `X-Autorespond`.
    AutoReplyHeader,
    /// `List-Id`: mail from a mailing list.
    MailingList,
    /// A delivery report or a message from a mailer daemon (empty `Return-Path`,
    /// MAILER-DAEMON / postmaster, `multipart/report; report-type=delivery-status`).
    Bounce,
    /// One of our own outgoing messages came back.
    OwnMessage,
}

impl IgnoreReason {
    pub fn as_str(self) -> &'static str {
        match self {
            IgnoreReason::AutoSubmitted => "auto_submitted",
            IgnoreReason::Precedence => "precedence",
            IgnoreReason::AutoReplyHeader => "auto_reply_header",
            IgnoreReason::MailingList => "mailing_list",
            IgnoreReason::Bounce => "bounce",
            IgnoreReason::OwnMessage => "own_message",
        }
    }
}

/// The RFC 3834 reason a message is automatic, if it is. (Our own Message-IDs coming back
/// are recognised by the caller, which knows them.)
pub fn loop_reason(m: &ParsedEmail) -> Option<IgnoreReason> {
    let bounce_sender = |address: &str| {
        let local = address.split('@').next().unwrap_or("").to_ascii_lowercase();
        local == "mailer-daemon" || local == "postmaster"
    };
    if m.return_path.as_deref().is_some_and(|r| r.is_empty())
        || m.from.as_ref().is_some_and(|f| bounce_sender(&f.address))
        || m.is_delivery_report
    {
        return Some(IgnoreReason::Bounce);
    }
    if let Some(v) = m.header("auto-submitted") {
        let token = v.split(';').next().unwrap_or("").trim();
        if !token.eq_ignore_ascii_case("no") {
            return Some(IgnoreReason::AutoSubmitted);
        }
    }
    if let Some(v) = m.header("precedence") {
        let v = v.trim().to_ascii_lowercase();
        if matches!(v.as_str(), "bulk" | "junk" | "list") {
            return Some(IgnoreReason::Precedence);
        }
    }
    if m.header("x-autoreply").is_some() || m.header("x-autorespond").is_some() {
        return Some(IgnoreReason::AutoReplyHeader);
    }
    if m.header("list-id").is_some() {
        return Some(IgnoreReason::MailingList);
    }
    None
}

/// The first ticket reference (`T-2026-000042`) in a subject line.
pub fn subject_reference(subject: &str) -> Option<Reference> {
    let bytes = subject.as_bytes();
    for (i, _) in subject.match_indices(['T', 't']) {
        if bytes.get(i + 1) != Some(&b'-') {
            continue;
        }
        let end = bytes[i + 2..]
            .iter()
            .position(|b| !(b.is_ascii_digit() || *b == b'-'))
            .map_or(bytes.len(), |p| i + 2 + p);
        if let Some(r) = Reference::parse(&subject[i..end]) {
            return Some(r);
        }
    }
    None
}

/// An outgoing message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub from: String,
    pub to: String,
    pub subject: String,
    /// Without angle brackets.
    pub message_id: String,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    /// Marks an automatic reply (`Auto-Submitted: auto-replied`, RFC 3834).
    pub auto_replied: bool,
    pub date: jiff::Timestamp,
    pub body: String,
}

/// `Subject` for a ticket's mail: the reference in brackets first, unless already present.
pub fn ticket_subject(reference: &str, subject: Option<&str>) -> String {
    let subject = subject.map(str::trim).filter(|s| !s.is_empty());
    match subject {
        Some(s) if s.contains(reference) => s.to_owned(),
        Some(s) => {
            let re = if s.to_ascii_lowercase().starts_with("re:") {
                ""
            } else {
                "Re: "
            };
            format!("[{reference}] {re}{s}")
        }
        None => format!("[{reference}]"),
    }
}

/// An RFC 2047 `B` encoded word sequence for non-ASCII text; ASCII text as is.
pub fn encode_header_text(text: &str) -> String {
    let clean: String = text.chars().filter(|c| !c.is_control()).collect();
    if clean.is_ascii() && !clean.contains("=?") {
        return clean;
    }
    // Encoded words are at most 75 characters: split the text on character boundaries.
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in clean.chars() {
        if chunk.len() + c.len_utf8() > 45 {
            words.push(format!("=?UTF-8?B?{}?=", B64.encode(chunk.as_bytes())));
            chunk.clear();
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(format!("=?UTF-8?B?{}?=", B64.encode(chunk.as_bytes())));
    }
    words.join("\r\n ")
}

fn rfc5322_date(t: jiff::Timestamp) -> String {
    t.strftime("%a, %d %b %Y %H:%M:%S +0000").to_string()
}

/// Writes `m` as an RFC 5322 message with CRLF line ends: headers in ASCII (RFC 2047 for
/// the subject), the UTF-8 body in base64 wrapped at 76 columns.
pub fn compose(m: &Outgoing) -> String {
    let mut out = String::new();
    let mut header = |name: &str, value: &str| {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push_str("\r\n");
    };
    header("From", &m.from);
    header("To", &m.to);
    header("Subject", &encode_header_text(&m.subject));
    header("Date", &rfc5322_date(m.date));
    header("Message-ID", &format!("<{}>", m.message_id));
    if let Some(id) = &m.in_reply_to {
        header("In-Reply-To", &format!("<{id}>"));
    }
    if !m.references.is_empty() {
        let refs: Vec<String> = m.references.iter().map(|r| format!("<{r}>")).collect();
        header("References", &refs.join("\r\n "));
    }
    if m.auto_replied {
        header("Auto-Submitted", "auto-replied");
        header("X-Auto-Response-Suppress", "All");
    }
    header("MIME-Version", "1.0");
    header("Content-Type", "text/plain; charset=utf-8");
    header("Content-Transfer-Encoding", "base64");
    out.push_str("\r\n");
    let encoded = B64.encode(m.body.as_bytes());
    for line in encoded.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push_str("\r\n");
    }
    out
}

//! E-mail as the desk reads and writes it, with no IO: [`mime`] parses an RFC 5322 message
//! (folded headers, RFC 2047 encoded words, multipart bodies, quoted-printable and base64,
//! UTF-8 / Big5 / GB2312 / GBK / ISO-8859-1 and every other charset `encoding_rs` knows)
//! into a [`mime::ParsedEmail`]; [`loop_reason`] says why a message must not become a ticket
//! nor be answered automatically (RFC 3834); [`compose`] writes an outgoing message with
//! UTF-8 encoded properly, and its attachments as base64 parts of a `multipart/mixed` body. Malformed input is an error value, never a panic.

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
    /// Files sent with the text; none: a plain `text/plain` message.
    pub attachments: Vec<OutgoingAttachment>,
}

/// A file an outgoing message carries (one of the ticket's stored attachments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingAttachment {
    /// Any Unicode name (`退貨單.pdf`); written RFC 2231 (and RFC 2047 in `name`) when not
    /// plain ASCII.
    pub filename: Option<String>,
    /// `type/subtype`; anything else goes as `application/octet-stream`.
    pub content_type: String,
    pub data: Vec<u8>,
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
    encode_words(text, 45)
}

/// [`encode_header_text`] with at most `chunk_bytes` of UTF-8 per encoded word (45 bytes
/// make a 72-character word; a word must stay within 75).
fn encode_words(text: &str, chunk_bytes: usize) -> String {
    let clean: String = text.chars().filter(|c| !c.is_control()).collect();
    if clean.is_ascii() && !clean.contains("=?") {
        return clean;
    }
    // Encoded words are at most 75 characters: split the text on character boundaries.
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in clean.chars() {
        if chunk.len() + c.len_utf8() > chunk_bytes {
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

/// `data` in base64, wrapped at 76 columns with CRLF.
fn push_base64(out: &mut String, data: &[u8]) {
    let encoded = B64.encode(data);
    for line in encoded.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push_str("\r\n");
    }
}

/// Characters of one RFC 2231 section value (after `filename*N*=`), so that a header line
/// stays well under 78 columns.
const RFC2231_SECTION_CHARS_MAX: usize = 60;

/// Whether a filename can go as a plain quoted parameter.
fn plain_filename(name: &str) -> bool {
    name.len() <= RFC2231_SECTION_CHARS_MAX
        && name
            .bytes()
            .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
}

/// `filename*0*=UTF-8''%E9%80%80;` continuation sections (RFC 2231 §3–4) of `name`, each
/// on its own folded line; a `%XX` triple is never cut.
fn rfc2231_sections(param: &str, name: &str) -> String {
    let mut encoded = Vec::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push((b as char).to_string());
        } else {
            encoded.push(format!("%{b:02X}"));
        }
    }
    let mut sections = Vec::new();
    let mut current = String::from("UTF-8''");
    for piece in encoded {
        if current.len() + piece.len() > RFC2231_SECTION_CHARS_MAX {
            sections.push(std::mem::take(&mut current));
        }
        current.push_str(&piece);
    }
    sections.push(current);
    sections
        .iter()
        .enumerate()
        .map(|(i, s)| format!("{param}*{i}*={s}"))
        .collect::<Vec<_>>()
        .join(";\r\n ")
}

/// `type/subtype` when it is one (letters, digits and `!#$&-^_.+`), else
/// `application/octet-stream`.
fn safe_content_type(ct: &str) -> String {
    let token = |t: &str| {
        !t.is_empty()
            && t.len() <= 64
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    let ct = ct.trim().to_ascii_lowercase();
    match ct.split_once('/') {
        Some((a, b)) if token(a) && token(b) => ct,
        _ => "application/octet-stream".to_owned(),
    }
}

/// The multipart boundary of a message: derived from its Message-ID (no randomness here).
/// `=_` never occurs in base64 text, so no part can contain it.
fn boundary(message_id: &str) -> String {
    let hash = message_id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("=_patron_{hash:016x}")
}

/// Writes `m` as an RFC 5322 message with CRLF line ends: headers in ASCII (RFC 2047 for
/// the subject), the UTF-8 body in base64 wrapped at 76 columns; with attachments, a
/// `multipart/mixed` body whose first part is the text and each further part a file in
/// base64, its name in RFC 2231 form (`filename*0*=UTF-8''…`) and, for clients that only
/// read `name`, RFC 2047 form.
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
    if m.attachments.is_empty() {
        header("Content-Type", "text/plain; charset=utf-8");
        header("Content-Transfer-Encoding", "base64");
        out.push_str("\r\n");
        push_base64(&mut out, m.body.as_bytes());
        return out;
    }
    let boundary = boundary(&m.message_id);
    header(
        "Content-Type",
        &format!("multipart/mixed; boundary=\"{boundary}\""),
    );
    out.push_str("\r\nThis is a multipart message in MIME format.\r\n");
    out.push_str(&format!("--{boundary}\r\n"));
    out.push_str("Content-Type: text/plain; charset=utf-8\r\n");
    out.push_str("Content-Transfer-Encoding: base64\r\n\r\n");
    push_base64(&mut out, m.body.as_bytes());
    for a in &m.attachments {
        out.push_str(&format!("--{boundary}\r\n"));
        let ct = safe_content_type(&a.content_type);
        let name: Option<String> = a
            .filename
            .as_deref()
            .map(|f| f.chars().filter(|c| !c.is_control()).collect())
            .filter(|f: &String| !f.trim().is_empty());
        match &name {
            Some(n) if plain_filename(n) => {
                out.push_str(&format!("Content-Type: {ct}; name=\"{n}\"\r\n"));
                out.push_str(&format!(
                    "Content-Disposition: attachment; filename=\"{n}\"\r\n"
                ));
            }
            Some(n) => {
                // 39 bytes a word: ` name="` and the word stay within 78 columns. An ASCII
                // name (long, or with quotes) is read from `filename*` by RFC 2231 readers.
                let shown = if n.is_ascii() {
                    n.replace(['"', '\\'], "_")
                } else {
                    encode_words(n, 39)
                };
                out.push_str(&format!("Content-Type: {ct};\r\n name=\"{shown}\"\r\n"));
                out.push_str(&format!(
                    "Content-Disposition: attachment;\r\n {}\r\n",
                    rfc2231_sections("filename", n)
                ));
            }
            None => {
                out.push_str(&format!("Content-Type: {ct}\r\n"));
                out.push_str("Content-Disposition: attachment\r\n");
            }
        }
        out.push_str("Content-Transfer-Encoding: base64\r\n\r\n");
        push_base64(&mut out, &a.data);
    }
    out.push_str(&format!("--{boundary}--\r\n"));
    out
}

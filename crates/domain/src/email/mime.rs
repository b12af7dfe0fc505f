//! A small, forgiving RFC 5322 / MIME reader. It unfolds headers, decodes RFC 2047 encoded
//! words and RFC 2231 parameters, walks multipart bodies (alternative: text/plain preferred,
//! text/html reduced to text otherwise; mixed and the rest: the inline text parts are the
//! body, the other leaves are attachments), undoes quoted-printable and base64, and decodes
//! every charset `encoding_rs` knows to UTF-8. What it cannot read is an error naming why —
//! never a panic — so the caller can keep the raw message for a person to look at.

use base64::Engine;
use base64::alphabet::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use std::borrow::Cow;

/// Deepest nesting of multiparts read.
pub const MIME_DEPTH_MAX: usize = 10;
/// Most body parts read in one message.
pub const MIME_PARTS_MAX: usize = 200;

/// Base64 as mail writes it: padding optional, trailing bits tolerated.
const LENIENT_B64: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Why a message cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MimeError {
    #[error("the message is empty")]
    Empty,
    #[error("the message does not start with a header section")]
    NoHeaders,
    #[error("the message names no sender address (From)")]
    NoSender,
    #[error("a multipart body names no boundary")]
    MissingBoundary,
    #[error("multiparts nested deeper than {MIME_DEPTH_MAX}")]
    TooDeep,
    #[error("more than {MIME_PARTS_MAX} body parts")]
    TooManyParts,
    #[error("unknown charset {0:?}")]
    UnknownCharset(String),
    #[error("a base64 body part is not valid base64")]
    BadBase64,
}

/// A sender: display name (decoded) and address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    pub name: Option<String>,
    pub address: String,
}

/// A body part that is not the message's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub filename: Option<String>,
    /// `type/subtype`, lower-case.
    pub content_type: String,
    pub data: Vec<u8>,
}

/// What the desk needs of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedEmail {
    /// Every header in order: name as written, value unfolded (not decoded).
    pub headers: Vec<(String, String)>,
    /// Without angle brackets.
    pub message_id: Option<String>,
    pub in_reply_to: Vec<String>,
    /// At most [`super::EMAIL_REFERENCES_MAX`], the most recent kept.
    pub references: Vec<String>,
    pub from: Option<Mailbox>,
    /// `Some("")` for the null return path `<>` of a bounce.
    pub return_path: Option<String>,
    /// Decoded.
    pub subject: Option<String>,
    /// The body as UTF-8 text.
    pub text: String,
    pub attachments: Vec<Attachment>,
    /// `multipart/report; report-type=delivery-status` somewhere in the message.
    pub is_delivery_report: bool,
}

impl ParsedEmail {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Bytes of a header as text: UTF-8 when valid (RFC 6532), otherwise Latin-1.
fn header_text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

/// Splits an entity into its header section and body.
fn split_entity(raw: &[u8]) -> (&[u8], &[u8]) {
    let mut i = 0;
    // An entity may start with its empty line: no headers.
    loop {
        let Some(nl) = raw[i..].iter().position(|&b| b == b'\n') else {
            return (raw, &[]);
        };
        let line = &raw[i..i + nl];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return (&raw[..i], &raw[i + nl + 1..]);
        }
        i += nl + 1;
    }
}

/// Unfolded headers. Lines that are neither a header nor a continuation are skipped, except
/// that the very first line must be a header (or an mbox `From ` line).
fn parse_headers(section: &[u8], top: bool) -> Result<Vec<(String, String)>, MimeError> {
    let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
    for (n, line) in section.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            if let Some((_, value)) = headers.last_mut() {
                value.push(b' ');
                value.extend_from_slice(trim_bytes(line));
            }
            continue;
        }
        if n == 0 && top && line.starts_with(b"From ") {
            continue;
        }
        match line.iter().position(|&b| b == b':') {
            Some(colon) if colon > 0 && line[..colon].iter().all(|b| b.is_ascii_graphic()) => {
                headers.push((
                    header_text(&line[..colon]),
                    trim_bytes(&line[colon + 1..]).to_vec(),
                ));
            }
            _ if headers.is_empty() && top => return Err(MimeError::NoHeaders),
            _ => {}
        }
    }
    Ok(headers
        .into_iter()
        .map(|(n, v)| (n, header_text(&v)))
        .collect())
}

fn trim_bytes(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end.max(start)]
}

fn find<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Sections of one RFC 2231 continued parameter joined back into one value (longest kept).
const PARAMETER_SECTIONS_MAX: u32 = 100;

/// One section of a continued parameter: its number, whether percent-encoded, its text.
type Section = (u32, bool, String);

/// `name*3*` → (`name`, 3, encoded); `name*3` → (`name`, 3, plain); anything else → `None`.
fn continuation(name: &str) -> Option<(&str, u32, bool)> {
    let (rest, encoded) = match name.strip_suffix('*') {
        Some(r) => (r, true),
        None => (name, false),
    };
    let (base, n) = rest.rsplit_once('*')?;
    if base.is_empty() || n.is_empty() || n.len() > 3 || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u32 = n.parse().ok()?;
    (n < PARAMETER_SECTIONS_MAX).then_some((base, n, encoded))
}

/// The value of continued sections `(n, encoded, text)` in order (RFC 2231 §3–4): encoded
/// sections are percent-decoded, the first one naming the charset (`utf-8'lang'…`).
fn join_sections(mut sections: Vec<Section>) -> String {
    sections.sort_by_key(|s| s.0);
    let mut charset = None;
    let mut bytes = Vec::new();
    for (i, (n, encoded, text)) in sections.iter().enumerate() {
        if *n as usize != i {
            break; // a gap: the value ends at the last contiguous section
        }
        if *encoded {
            let mut text = text.as_str();
            if i == 0 {
                let mut pieces = text.splitn(3, '\'');
                if let (Some(cs), Some(_lang), Some(rest)) =
                    (pieces.next(), pieces.next(), pieces.next())
                {
                    charset = Some(cs.to_owned());
                    text = rest;
                }
            }
            bytes.extend(percent_decode(text.as_bytes()));
        } else {
            bytes.extend_from_slice(text.as_bytes());
        }
    }
    decode_charset(&bytes, charset.as_deref()).unwrap_or_else(|_| header_text(&bytes))
}

/// A structured header value: `type/subtype; a=b; c="d"` → lower-case value and parameters
/// (names lower-case; RFC 2231 `name*=charset''%XX` decoded and `name*0*=…; name*1*=…`
/// continuations joined, ahead of a plain parameter of the same name).
fn parse_parameters(value: &str) -> (String, Vec<(String, String)>) {
    let mut parts = split_unquoted(value, ';').into_iter();
    let main = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    let mut params = Vec::new();
    let mut continued: Vec<(String, Vec<Section>)> = Vec::new();
    for p in parts {
        let Some((name, v)) = p.split_once('=') else {
            continue;
        };
        let name = name.trim().to_ascii_lowercase();
        let v = v.trim();
        let v = if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
            unquote(&v[1..v.len() - 1])
        } else {
            v.to_owned()
        };
        if let Some((base, n, encoded)) = continuation(&name) {
            match continued.iter_mut().find(|(b, _)| b == base) {
                Some((_, sections)) => sections.push((n, encoded, v)),
                None => continued.push((base.to_owned(), vec![(n, encoded, v)])),
            }
        } else if let Some(base) = name.strip_suffix('*') {
            params.push((base.to_owned(), decode_rfc2231(&v)));
        } else {
            params.push((name, v));
        }
    }
    for (base, sections) in continued.into_iter().rev() {
        params.insert(0, (base, join_sections(sections)));
    }
    (main, params)
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn split_unquoted(s: &str, sep: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            cur.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => {
                cur.push(c);
                escaped = true;
            }
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            c if c == sep && !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn unquote(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `utf-8'lang'%E4%BD%A0` → text.
fn decode_rfc2231(v: &str) -> String {
    let mut pieces = v.splitn(3, '\'');
    let (Some(charset), Some(_lang), Some(text)) = (pieces.next(), pieces.next(), pieces.next())
    else {
        return v.to_owned();
    };
    let bytes = percent_decode(text.as_bytes());
    decode_charset(&bytes, Some(charset)).unwrap_or_else(|_| header_text(&bytes))
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn percent_decode(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (
                b.get(i + 1).copied().and_then(hex),
                b.get(i + 2).copied().and_then(hex),
            )
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// Quoted-printable: `=XX` and soft line breaks; a malformed `=` is kept as written.
pub fn decode_quoted_printable(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' {
            match (b.get(i + 1).copied(), b.get(i + 2).copied()) {
                (Some(b'\r'), Some(b'\n')) => {
                    i += 3;
                    continue;
                }
                (Some(b'\n'), _) => {
                    i += 2;
                    continue;
                }
                (Some(h), Some(l)) => {
                    if let (Some(h), Some(l)) = (hex(h), hex(l)) {
                        out.push(h << 4 | l);
                        i += 3;
                        continue;
                    }
                }
                _ => {}
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

fn decode_base64(b: &[u8]) -> Result<Vec<u8>, MimeError> {
    let clean: Vec<u8> = b
        .iter()
        .copied()
        .filter(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/')
        .collect();
    LENIENT_B64.decode(&clean).map_err(|_| MimeError::BadBase64)
}

/// Bytes in `charset` as UTF-8. No charset: UTF-8 when valid, else Latin-1 (never lossy).
pub fn decode_charset(bytes: &[u8], charset: Option<&str>) -> Result<String, MimeError> {
    let label = charset
        .map(|c| c.trim().trim_matches('"'))
        .filter(|c| !c.is_empty());
    let label = match label {
        None => None,
        Some(l) if l.eq_ignore_ascii_case("us-ascii") || l.eq_ignore_ascii_case("ascii") => None,
        Some(l) => Some(l),
    };
    match label {
        None => Ok(match std::str::from_utf8(bytes) {
            Ok(s) => s.to_owned(),
            Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
        }),
        Some(l) => {
            let encoding = encoding_rs::Encoding::for_label(l.as_bytes())
                .ok_or_else(|| MimeError::UnknownCharset(l.chars().take(40).collect()))?;
            let (text, _had_errors) = encoding.decode_without_bom_handling(bytes);
            Ok(text.into_owned())
        }
    }
}

/// One RFC 2047 encoded word `=?charset?B|Q?text?=` at the start of `s`: its text and the
/// bytes it used.
fn encoded_word(s: &str) -> Option<(String, usize)> {
    let rest = s.strip_prefix("=?")?;
    let q1 = rest.find('?')?;
    let charset = &rest[..q1];
    let after = &rest[q1 + 1..];
    let q2 = after.find('?')?;
    let encoding = &after[..q2];
    let text_start = &after[q2 + 1..];
    let end = text_start.find("?=")?;
    let text = &text_start[..end];
    if text.contains(' ') {
        return None;
    }
    let bytes = match encoding {
        "B" | "b" => decode_base64(text.as_bytes()).ok()?,
        "Q" | "q" => {
            let t: Vec<u8> = text
                .bytes()
                .map(|b| if b == b'_' { b' ' } else { b })
                .collect();
            decode_quoted_printable(&t)
        }
        _ => return None,
    };
    let charset = charset.split('*').next().unwrap_or(charset);
    let decoded = decode_charset(&bytes, Some(charset)).ok()?;
    let used = 2 + q1 + 1 + q2 + 1 + end + 2;
    Some((decoded, used))
}

/// An unstructured header value with its encoded words decoded; whitespace between two
/// adjacent encoded words is dropped (RFC 2047 §6.2).
pub fn decode_words(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    let mut pending_space = String::new();
    let mut last_was_word = false;
    while !rest.is_empty() {
        if rest.starts_with("=?")
            && let Some((text, used)) = encoded_word(rest)
        {
            if !last_was_word {
                out.push_str(&pending_space);
            }
            pending_space.clear();
            out.push_str(&text);
            rest = &rest[used..];
            last_was_word = true;
            continue;
        }
        let c = rest.chars().next().unwrap_or(' ');
        rest = &rest[c.len_utf8()..];
        if c == ' ' || c == '\t' {
            pending_space.push(c);
            continue;
        }
        out.push_str(&pending_space);
        pending_space.clear();
        out.push(c);
        last_was_word = false;
    }
    if !last_was_word {
        out.push_str(&pending_space);
    }
    out
}

/// The `<…>` tokens of a header (Message-ID lists).
fn angle_ids(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = value;
    while let Some(start) = rest.find('<') {
        let Some(len) = rest[start + 1..].find('>') else {
            break;
        };
        let id = rest[start + 1..start + 1 + len].trim();
        if !id.is_empty() && id.len() <= super::EMAIL_MESSAGE_ID_BYTES_MAX && !id.contains(' ') {
            out.push(id.to_owned());
        }
        rest = &rest[start + 1 + len + 1..];
    }
    out
}

fn valid_address(a: &str) -> bool {
    let a = a.trim();
    a.len() <= 254
        && a.split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && !d.is_empty())
        && !a
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
}

/// The first mailbox of an address header.
pub fn parse_mailbox(value: &str) -> Option<Mailbox> {
    let first = split_unquoted(value, ',').into_iter().next()?;
    if let Some(open) = first.rfind('<') {
        let close = first[open..].find('>').map(|c| open + c)?;
        let address = first[open + 1..close].trim().to_owned();
        let name = decode_words(first[..open].trim());
        let name = name.trim().trim_matches('"').trim().to_owned();
        return valid_address(&address).then(|| Mailbox {
            name: (!name.is_empty()).then_some(name),
            address,
        });
    }
    let address = first.split_whitespace().find(|t| t.contains('@'))?;
    valid_address(address).then(|| Mailbox {
        name: None,
        address: address.to_owned(),
    })
}

/// HTML reduced to readable text: scripts and styles dropped, block ends as new lines,
/// tags removed, common entities decoded.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        out.push_str(&rest[..lt]);
        rest = &rest[lt..];
        let Some(gt) = rest.find('>') else {
            rest = "";
            break;
        };
        let tag = rest[1..gt].trim().to_ascii_lowercase();
        rest = &rest[gt + 1..];
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        if (name == "script" || name == "style") && !tag.starts_with('/') {
            let close = format!("</{name}");
            match rest.to_ascii_lowercase().find(&close) {
                Some(i) => {
                    rest = &rest[i..];
                    if let Some(g) = rest.find('>') {
                        rest = &rest[g + 1..];
                    }
                }
                None => rest = "",
            }
            continue;
        }
        if matches!(
            name.as_str(),
            "br" | "p" | "div" | "tr" | "li" | "h1" | "h2" | "h3" | "h4" | "table" | "blockquote"
        ) {
            out.push('\n');
        }
    }
    out.push_str(rest);
    let text = decode_entities(&out);
    let mut lines: Vec<&str> = Vec::new();
    for line in text.lines().map(str::trim_end) {
        if line.trim().is_empty() && lines.last().is_none_or(|l| l.trim().is_empty()) {
            continue;
        }
        lines.push(line);
    }
    lines.join("\n").trim().to_owned()
}

fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let end = rest[1..].find(';').map(|e| e + 1).filter(|e| *e <= 10);
        let decoded = end.and_then(|e| {
            let name = &rest[1..e];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some(' '),
                n if n.starts_with("#x") || n.starts_with("#X") => u32::from_str_radix(&n[2..], 16)
                    .ok()
                    .and_then(char::from_u32),
                n if n.starts_with('#') => n[1..].parse().ok().and_then(char::from_u32),
                _ => None,
            };
            c.map(|c| (c, e + 1))
        });
        match decoded {
            Some((c, used)) => {
                out.push(c);
                rest = &rest[used..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// What walking the body collected.
#[derive(Default)]
struct Collected {
    plain: Vec<String>,
    html: Vec<String>,
    attachments: Vec<Attachment>,
    report: bool,
    parts: usize,
}

fn transfer_decode(body: &[u8], cte: &str) -> Result<Vec<u8>, MimeError> {
    match cte {
        "base64" => decode_base64(body),
        "quoted-printable" => Ok(decode_quoted_printable(body)),
        _ => Ok(body.to_vec()),
    }
}

/// The parts of a multipart body between `--boundary` lines.
fn split_multipart<'a>(body: &'a [u8], boundary: &str) -> Vec<&'a [u8]> {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let mut parts = Vec::new();
    let mut start: Option<usize> = None;
    let mut i = 0;
    while i <= body.len() {
        let end = body[i..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(body.len(), |p| i + p);
        let line = &body[i..end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.starts_with(delimiter) {
            let tail = trim_bytes(&line[delimiter.len()..]);
            if tail.is_empty() || tail == b"--" {
                if let Some(s) = start {
                    // The line break before a delimiter belongs to the delimiter.
                    let mut e = i;
                    if e > s && body[e - 1] == b'\n' {
                        e -= 1;
                        if e > s && body[e - 1] == b'\r' {
                            e -= 1;
                        }
                    }
                    parts.push(&body[s..e.max(s)]);
                }
                if tail == b"--" {
                    return parts;
                }
                start = Some((end + 1).min(body.len()));
            }
        }
        i = end + 1;
    }
    // No closing delimiter: the last part runs to the end.
    if let Some(s) = start {
        parts.push(&body[s..]);
    }
    parts
}

fn walk(entity: &[u8], depth: usize, out: &mut Collected) -> Result<(), MimeError> {
    if depth > MIME_DEPTH_MAX {
        return Err(MimeError::TooDeep);
    }
    out.parts += 1;
    if out.parts > MIME_PARTS_MAX {
        return Err(MimeError::TooManyParts);
    }
    let (head, body) = split_entity(entity);
    let headers = parse_headers(head, false)?;
    walk_body(&headers, body, depth, out)
}

fn walk_body(
    headers: &[(String, String)],
    body: &[u8],
    depth: usize,
    out: &mut Collected,
) -> Result<(), MimeError> {
    let (content_type, params) = find(headers, "content-type")
        .map(parse_parameters)
        .unwrap_or_else(|| ("text/plain".to_owned(), Vec::new()));
    let content_type = if content_type.contains('/') {
        content_type
    } else {
        "text/plain".to_owned()
    };
    if let Some(subtype) = content_type.strip_prefix("multipart/") {
        let boundary = param(&params, "boundary")
            .filter(|b| !b.is_empty())
            .ok_or(MimeError::MissingBoundary)?;
        if subtype == "report"
            && param(&params, "report-type")
                .is_some_and(|t| t.eq_ignore_ascii_case("delivery-status"))
        {
            out.report = true;
        }
        let parts = split_multipart(body, boundary);
        if subtype == "alternative" {
            // The richest readable alternative: text/plain first, else the last part.
            let mut chosen = None;
            for p in &parts {
                let (head, _) = split_entity(p);
                let h = parse_headers(head, false)?;
                let ct = find(&h, "content-type")
                    .map(|v| parse_parameters(v).0)
                    .unwrap_or_else(|| "text/plain".to_owned());
                if ct == "text/plain" {
                    chosen = Some(*p);
                    break;
                }
            }
            let chosen = chosen.or(parts.last().copied());
            if let Some(p) = chosen {
                walk(p, depth + 1, out)?;
            }
            return Ok(());
        }
        for p in parts {
            walk(p, depth + 1, out)?;
        }
        return Ok(());
    }
    let cte = find(headers, "content-transfer-encoding")
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let (disposition, dparams) = find(headers, "content-disposition")
        .map(parse_parameters)
        .unwrap_or_default();
    let filename = param(&dparams, "filename")
        .or_else(|| param(&params, "name"))
        .map(decode_words)
        .filter(|f| !f.trim().is_empty());
    let data = transfer_decode(body, &cte)?;
    let is_text = content_type == "text/plain" || content_type == "text/html";
    if is_text && disposition != "attachment" && filename.is_none() {
        let text = decode_charset(&data, param(&params, "charset"))?;
        if content_type == "text/html" {
            out.html.push(html_to_text(&text));
        } else {
            out.plain.push(text);
        }
        return Ok(());
    }
    out.attachments.push(Attachment {
        filename,
        content_type,
        data,
    });
    Ok(())
}

fn normalise_newlines(s: &str) -> Cow<'_, str> {
    if s.contains('\r') {
        Cow::Owned(s.replace("\r\n", "\n").replace('\r', "\n"))
    } else {
        Cow::Borrowed(s)
    }
}

/// Parses a raw RFC 5322 message.
pub fn parse_message(raw: &[u8]) -> Result<ParsedEmail, MimeError> {
    if trim_bytes(raw).is_empty() {
        return Err(MimeError::Empty);
    }
    let (head, body) = split_entity(raw);
    let headers = parse_headers(head, true)?;
    if headers.is_empty() {
        return Err(MimeError::NoHeaders);
    }
    let from = find(&headers, "from").and_then(parse_mailbox);
    let Some(from) = from else {
        return Err(MimeError::NoSender);
    };
    let mut collected = Collected::default();
    walk_body(&headers, body, 0, &mut collected)?;
    let text = if collected.plain.is_empty() {
        collected.html.join("\n\n")
    } else {
        collected.plain.join("\n\n")
    };
    let text = normalise_newlines(&text).trim().to_owned();
    let message_id = find(&headers, "message-id").and_then(|v| {
        angle_ids(v).into_iter().next().or_else(|| {
            let v = v.trim();
            (!v.is_empty() && !v.contains(' ') && v.len() <= super::EMAIL_MESSAGE_ID_BYTES_MAX)
                .then(|| v.to_owned())
        })
    });
    let mut references = find(&headers, "references")
        .map(angle_ids)
        .unwrap_or_default();
    if references.len() > super::EMAIL_REFERENCES_MAX {
        references.drain(..references.len() - super::EMAIL_REFERENCES_MAX);
    }
    let return_path = find(&headers, "return-path").map(|v| {
        let v = v.trim();
        angle_ids(v)
            .into_iter()
            .next()
            .unwrap_or_else(|| v.trim_matches(['<', '>']).trim().to_owned())
    });
    let subject = find(&headers, "subject")
        .map(|s| decode_words(s).trim().to_owned())
        .filter(|s| !s.is_empty());
    Ok(ParsedEmail {
        message_id,
        in_reply_to: find(&headers, "in-reply-to")
            .map(angle_ids)
            .unwrap_or_default(),
        references,
        from: Some(from),
        return_path,
        subject,
        text,
        attachments: collected.attachments,
        is_delivery_report: collected.report,
        headers,
    })
}

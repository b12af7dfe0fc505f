//! Parsers for transaction logs handed in as text: the CDNOW formats and a
//! generic `customer_id,date,amount` CSV. The caller owns the files; these
//! functions take `&str` or any `BufRead`. Errors name the 1-based line and the
//! 1-based column (character position) where the bad field starts.

use std::collections::HashMap;
use std::io::{BufRead, Read};

use crate::calendar::{days_from_civil, is_valid_date};
use crate::summary::Transaction;

/// Longest line accepted, in bytes.
pub const LINE_BYTES_MAX: usize = 64 * 1024;

/// What is wrong at a position.
#[derive(Debug, Clone, PartialEq)]
pub enum ParseErrorKind {
    MissingField {
        field: &'static str,
    },
    BadDate {
        text: String,
    },
    BadNumber {
        field: &'static str,
        text: String,
    },
    MissingHeaderColumn {
        column: String,
    },
    /// An unterminated quoted field, or text after a closing quote.
    BadQuoting,
    InvalidUtf8,
    LineTooLong,
    Io {
        message: String,
    },
}

/// A parse failure at a line and column (both 1-based).
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    pub kind: ParseErrorKind,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}, column {}: ", self.line, self.column)?;
        match &self.kind {
            ParseErrorKind::MissingField { field } => write!(f, "missing field {field}"),
            ParseErrorKind::BadDate { text } => write!(f, "bad date {text:?}"),
            ParseErrorKind::BadNumber { field, text } => write!(
                f,
                "bad {field} {text:?}: expected a finite, non-negative number"
            ),
            ParseErrorKind::MissingHeaderColumn { column } => {
                write!(f, "header has no {column} column")
            }
            ParseErrorKind::BadQuoting => {
                write!(f, "unterminated quoted field or text after a closing quote")
            }
            ParseErrorKind::InvalidUtf8 => write!(f, "not UTF-8 text"),
            ParseErrorKind::LineTooLong => write!(f, "line longer than {LINE_BYTES_MAX} bytes"),
            ParseErrorKind::Io { message } => write!(f, "read error: {message}"),
        }
    }
}

impl std::error::Error for ParseError {}

/// A parsed log whose customer keys were strings: `transactions[i].customer`
/// indexes `customer_keys`.
#[derive(Debug, Clone, PartialEq)]
pub struct TransactionLog {
    pub transactions: Vec<Transaction>,
    pub customer_keys: Vec<String>,
}

/// Whitespace-separated fields with their 1-based character columns.
fn whitespace_fields(line: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in line.char_indices() {
        match (c.is_whitespace(), start) {
            (false, None) => start = Some(i),
            (true, Some(s)) => {
                out.push((s, &line[s..i]));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, &line[s..]));
    }
    out.into_iter()
        .map(|(byte, text)| (line[..byte].chars().count() + 1, text))
        .collect()
}

/// Parses `YYYYMMDD` or `YYYY-MM-DD` (optionally followed by a time, which is
/// ignored) into a day number.
pub fn parse_date(text: &str) -> Option<i32> {
    let date = text.split([' ', 'T']).next()?;
    let (y, m, d) = if date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit()) {
        (&date[0..4], &date[4..6], &date[6..8])
    } else {
        let mut parts = date.split('-');
        let parts = (parts.next()?, parts.next()?, parts.next()?, parts.next());
        if parts.3.is_some() || parts.0.len() != 4 {
            return None;
        }
        (parts.0, parts.1, parts.2)
    };
    let (y, m, d) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    is_valid_date(y, m, d).then(|| days_from_civil(y, m, d))
}

struct Cursor<'a> {
    line: usize,
    fields: Vec<(usize, &'a str)>,
    line_len: usize,
}

impl<'a> Cursor<'a> {
    fn field(&self, index: usize, name: &'static str) -> Result<(usize, &'a str), ParseError> {
        self.fields.get(index).copied().ok_or(ParseError {
            line: self.line,
            column: self.line_len + 1,
            kind: ParseErrorKind::MissingField { field: name },
        })
    }

    fn number<T: std::str::FromStr>(
        &self,
        index: usize,
        name: &'static str,
    ) -> Result<T, ParseError> {
        let (column, text) = self.field(index, name)?;
        text.trim().parse().map_err(|_| ParseError {
            line: self.line,
            column,
            kind: ParseErrorKind::BadNumber {
                field: name,
                text: text.to_string(),
            },
        })
    }

    fn date(&self, index: usize) -> Result<i32, ParseError> {
        let (column, text) = self.field(index, "date")?;
        parse_date(text.trim()).ok_or(ParseError {
            line: self.line,
            column,
            kind: ParseErrorKind::BadDate {
                text: text.to_string(),
            },
        })
    }
}

fn cdnow(
    text: &str,
    skip_header: bool,
    id_field: usize,
    date_field: usize,
    amount_field: usize,
) -> Result<Vec<Transaction>, ParseError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if (skip_header && i == 0) || line.trim().is_empty() {
            continue;
        }
        let cursor = Cursor {
            line: i + 1,
            fields: whitespace_fields(line),
            line_len: line.chars().count(),
        };
        out.push(Transaction {
            customer: cursor.number(id_field, "customer id")?,
            day: cursor.date(date_field)?,
            amount: cursor.number(amount_field, "amount")?,
        });
    }
    Ok(out)
}

/// `CDNOW_sample.txt`: no header; master id, sample id, `YYYYMMDD`, CDs, dollars.
/// The customer key is the sample id (1..2357). CRLF line ends are accepted.
pub fn cdnow_sample(text: &str) -> Result<Vec<Transaction>, ParseError> {
    cdnow(text, false, 1, 2, 4)
}

/// `CDNOW_master.txt`: one header line; customer id, `YYYYMMDD`, CDs, dollars.
pub fn cdnow_master(text: &str) -> Result<Vec<Transaction>, ParseError> {
    cdnow(text, true, 0, 1, 3)
}

/// A date layout given as a pattern of `%Y` (four-digit year), `%m` (month,
/// one or two digits), `%d` (day, one or two digits) and literal characters,
/// e.g. `%m/%d/%Y`. Text after the pattern is accepted only when it starts with
/// a space or `T` (a time of day, ignored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateFormat {
    items: Vec<DateItem>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DateItem {
    Year,
    Month,
    Day,
    Literal(char),
}

impl DateFormat {
    /// Parses a pattern; it must name the year, the month and the day once each.
    pub fn parse(pattern: &str) -> Result<Self, String> {
        let mut items = Vec::new();
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                items.push(DateItem::Literal(c));
                continue;
            }
            items.push(match chars.next() {
                Some('Y') => DateItem::Year,
                Some('m') => DateItem::Month,
                Some('d') => DateItem::Day,
                Some('%') => DateItem::Literal('%'),
                other => {
                    return Err(format!(
                        "unsupported date pattern item %{}: use %Y, %m, %d",
                        other.map(String::from).unwrap_or_default()
                    ));
                }
            });
        }
        for (item, name) in [
            (DateItem::Year, "%Y"),
            (DateItem::Month, "%m"),
            (DateItem::Day, "%d"),
        ] {
            if items.iter().filter(|i| **i == item).count() != 1 {
                return Err(format!("date pattern must contain {name} exactly once"));
            }
        }
        Ok(Self { items })
    }

    /// Day number of `text`, or `None` when it does not match or is no real date.
    pub fn parse_date(&self, text: &str) -> Option<i32> {
        let bytes = text.as_bytes();
        let mut at = 0;
        let (mut year, mut month, mut day) = (None, None, None);
        for item in &self.items {
            let digits = |at: usize, min: usize, max: usize| -> Option<(u32, usize)> {
                let run = bytes[at..]
                    .iter()
                    .take(max)
                    .take_while(|b| b.is_ascii_digit())
                    .count();
                if run < min {
                    return None;
                }
                let value = bytes[at..at + run]
                    .iter()
                    .fold(0u32, |v, b| v * 10 + u32::from(b - b'0'));
                Some((value, at + run))
            };
            match *item {
                DateItem::Year => {
                    let (v, next) = digits(at, 4, 4)?;
                    year = Some(v as i32);
                    at = next;
                }
                DateItem::Month => {
                    let (v, next) = digits(at, 1, 2)?;
                    month = Some(v);
                    at = next;
                }
                DateItem::Day => {
                    let (v, next) = digits(at, 1, 2)?;
                    day = Some(v);
                    at = next;
                }
                DateItem::Literal(c) => {
                    let rest = text.get(at..)?;
                    if !rest.starts_with(c) {
                        return None;
                    }
                    at += c.len_utf8();
                }
            }
        }
        if at < bytes.len() && !matches!(bytes[at], b' ' | b'T') {
            return None;
        }
        let (y, m, d) = (year?, month?, day?);
        is_valid_date(y, m, d).then(|| days_from_civil(y, m, d))
    }
}

/// Which columns of a CSV hold what, and how its dates are written.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvOptions {
    pub customer_column: String,
    pub date_column: String,
    /// `None`: the file has no amounts; every transaction gets amount 0.
    pub amount_column: Option<String>,
    /// `None`: `YYYY-MM-DD` or `YYYYMMDD` as in [`parse_date`].
    pub date_format: Option<DateFormat>,
}

impl Default for CsvOptions {
    /// lifetimes' layout: `customer_id`, `date`, `amount`.
    fn default() -> Self {
        Self {
            customer_column: "customer_id".to_owned(),
            date_column: "date".to_owned(),
            amount_column: Some("amount".to_owned()),
            date_format: None,
        }
    }
}

/// One field of a CSV line: byte range of its content and whether it holds
/// doubled quotes to undo.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Span {
    start: usize,
    end: usize,
    /// Byte offset where the field begins (for error columns).
    begin: usize,
    escaped: bool,
}

/// Splits an RFC 4180 line: fields separated by commas, optionally enclosed in
/// double quotes, in which commas are literal and `""` is one quote. Surrounding
/// spaces outside quotes are trimmed. Returns the byte offset of an unterminated
/// quote or of text after a closing quote.
fn split_csv_line(line: &str, out: &mut Vec<Span>) -> Result<(), usize> {
    out.clear();
    let bytes = line.as_bytes();
    let mut at = 0;
    loop {
        let begin = at;
        while at < bytes.len() && bytes[at] == b' ' {
            at += 1;
        }
        if at < bytes.len() && bytes[at] == b'"' {
            let quote = at;
            at += 1;
            let start = at;
            let mut escaped = false;
            loop {
                match bytes[at..].iter().position(|&b| b == b'"') {
                    None => return Err(quote),
                    Some(k) => {
                        at += k;
                        if bytes.get(at + 1) == Some(&b'"') {
                            escaped = true;
                            at += 2;
                        } else {
                            break;
                        }
                    }
                }
            }
            let end = at;
            at += 1;
            while at < bytes.len() && bytes[at] == b' ' {
                at += 1;
            }
            out.push(Span {
                start,
                end,
                begin,
                escaped,
            });
            match bytes.get(at) {
                None => return Ok(()),
                Some(b',') => at += 1,
                Some(_) => return Err(at),
            }
        } else {
            let end = bytes[at..]
                .iter()
                .position(|&b| b == b',')
                .map_or(bytes.len(), |k| at + k);
            let mut trimmed_end = end;
            while trimmed_end > at && bytes[trimmed_end - 1] == b' ' {
                trimmed_end -= 1;
            }
            out.push(Span {
                start: at,
                end: trimmed_end,
                begin,
                escaped: false,
            });
            if end == bytes.len() {
                return Ok(());
            }
            at = end + 1;
        }
    }
}

fn span_text<'a>(line: &'a str, span: &Span) -> std::borrow::Cow<'a, str> {
    let text = &line[span.start..span.end];
    if span.escaped {
        std::borrow::Cow::Owned(text.replace("\"\"", "\""))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// 1-based character column of byte offset `byte` in `line`.
fn char_column(line: &str, byte: usize) -> usize {
    line.get(..byte).map_or(byte, |p| p.chars().count()) + 1
}

/// FxHash (rustc's hasher): much faster than SipHash for interning millions of
/// short customer keys; the input is the caller's own file, not an adversary's.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

impl std::hash::Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let v = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(SEED);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(SEED);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

pub(crate) type FxMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<FxHasher>>;

/// Parses an amount: a finite, non-negative decimal number.
pub(crate) fn parse_amount(text: &str) -> Option<f64> {
    let v: f64 = text.parse().ok()?;
    (v.is_finite() && v >= 0.0).then_some(v)
}

/// Generic CSV with a header naming `customer_id`, `date` and `amount` columns
/// (any order, other columns ignored; names matched case-insensitively). Dates
/// as in [`parse_date`]. Customer keys are arbitrary strings, interned in order
/// of first appearance.
pub fn transactions_csv(reader: impl BufRead) -> Result<TransactionLog, ParseError> {
    transactions_csv_with(reader, &CsvOptions::default())
}

/// Column positions found in a header: customer, date, amount (if any).
pub(crate) type Columns = (usize, usize, Option<usize>);

/// Finds the option's columns in a header line already split into `spans`.
fn header_columns(
    line: &str,
    line_number: usize,
    spans: &[Span],
    options: &CsvOptions,
) -> Result<Columns, ParseError> {
    let find = |name: &str| {
        spans
            .iter()
            .position(|s| span_text(line, s).eq_ignore_ascii_case(name))
            .ok_or_else(|| ParseError {
                line: line_number,
                column: 1,
                kind: ParseErrorKind::MissingHeaderColumn {
                    column: name.to_owned(),
                },
            })
    };
    let id_at = find(&options.customer_column)?;
    let date_at = find(&options.date_column)?;
    let amount_at = options.amount_column.as_deref().map(find).transpose()?;
    Ok((id_at, date_at, amount_at))
}

/// One data line's customer key, day and amount.
pub(crate) struct Record<'a> {
    pub(crate) key: std::borrow::Cow<'a, str>,
    pub(crate) day: i32,
    pub(crate) amount: f64,
}

/// What one raw line (without its line end) holds.
pub(crate) enum Line<'a> {
    Blank,
    Header(Columns),
    Record(Record<'a>),
}

/// Parses one raw line (line end removed) of a CSV whose header gave `columns`
/// (`None`: this line is the header). The reference path, with exact error positions.
pub(crate) fn parse_line<'a>(
    raw: &'a [u8],
    line_number: usize,
    columns: Option<Columns>,
    options: &CsvOptions,
    spans: &mut Vec<Span>,
) -> Result<Line<'a>, ParseError> {
    let error = |column: usize, kind: ParseErrorKind| ParseError {
        line: line_number,
        column,
        kind,
    };
    if raw.len() > LINE_BYTES_MAX {
        return Err(error(1, ParseErrorKind::LineTooLong));
    }
    let line = std::str::from_utf8(raw).map_err(|e| {
        let valid = std::str::from_utf8(&raw[..e.valid_up_to()]).unwrap_or("");
        error(valid.chars().count() + 1, ParseErrorKind::InvalidUtf8)
    })?;
    if line.trim().is_empty() {
        return Ok(Line::Blank);
    }
    split_csv_line(line, spans)
        .map_err(|at| error(char_column(line, at), ParseErrorKind::BadQuoting))?;
    let Some((id_at, date_at, amount_at)) = columns else {
        return header_columns(line, line_number, spans, options).map(Line::Header);
    };
    let field = |index: usize, name: &'static str| {
        spans.get(index).ok_or_else(|| {
            error(
                line.chars().count() + 1,
                ParseErrorKind::MissingField { field: name },
            )
        })
    };
    let id_span = field(id_at, "customer_id")?;
    let key = span_text(line, id_span);
    if key.is_empty() {
        return Err(error(
            char_column(line, id_span.begin),
            ParseErrorKind::MissingField {
                field: "customer_id",
            },
        ));
    }
    let date_span = field(date_at, "date")?;
    let date_text = span_text(line, date_span);
    let day = match &options.date_format {
        Some(format) => format.parse_date(&date_text),
        None => parse_date(&date_text),
    }
    .ok_or_else(|| {
        error(
            char_column(line, date_span.begin),
            ParseErrorKind::BadDate {
                text: date_text.to_string(),
            },
        )
    })?;
    let amount = match amount_at {
        None => 0.0,
        Some(index) => {
            let span = field(index, "amount")?;
            let text = span_text(line, span);
            parse_amount(&text).ok_or_else(|| {
                error(
                    char_column(line, span.begin),
                    ParseErrorKind::BadNumber {
                        field: "amount",
                        text: text.to_string(),
                    },
                )
            })?
        }
    };
    Ok(Line::Record(Record { key, day, amount }))
}

/// [`transactions_csv`] with column names and date layout from `options`.
/// Quoted fields follow RFC 4180 on one line (a quoted line break is an error);
/// amounts must be finite and non-negative; invalid UTF-8 is an error.
pub fn transactions_csv_with(
    mut reader: impl BufRead,
    options: &CsvOptions,
) -> Result<TransactionLog, ParseError> {
    let mut columns: Option<Columns> = None;
    let mut keys: FxMap<Box<str>, u64> = FxMap::default();
    let mut log = TransactionLog {
        transactions: Vec::new(),
        customer_keys: Vec::new(),
    };
    let mut buffer = Vec::new();
    let mut spans = Vec::new();
    let mut line_number = 0;
    loop {
        buffer.clear();
        line_number += 1;
        let read = reader
            .by_ref()
            .take(LINE_BYTES_MAX as u64 + 2)
            .read_until(b'\n', &mut buffer)
            .map_err(|e| ParseError {
                line: line_number,
                column: 1,
                kind: ParseErrorKind::Io {
                    message: e.to_string(),
                },
            })?;
        if read == 0 {
            break;
        }
        if buffer.last() == Some(&b'\n') {
            buffer.pop();
        } else if buffer.len() > LINE_BYTES_MAX {
            return Err(ParseError {
                line: line_number,
                column: 1,
                kind: ParseErrorKind::LineTooLong,
            });
        }
        if buffer.last() == Some(&b'\r') {
            buffer.pop();
        }
        let record = match parse_line(&buffer, line_number, columns, options, &mut spans)? {
            Line::Blank => continue,
            Line::Header(found) => {
                columns = Some(found);
                continue;
            }
            Line::Record(record) => record,
        };
        let customer = match keys.get(record.key.as_ref()) {
            Some(&c) => c,
            None => {
                let c = keys.len() as u64;
                keys.insert(record.key.as_ref().into(), c);
                log.customer_keys.push(record.key.into_owned());
                c
            }
        };
        log.transactions.push(Transaction {
            customer,
            day: record.day,
            amount: record.amount,
        });
    }
    Ok(log)
}

#[cfg(test)]
mod tests;

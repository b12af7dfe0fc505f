//! Parsers for transaction logs handed in as text: the CDNOW formats and a
//! generic `customer_id,date,amount` CSV. The caller owns the files; these
//! functions take `&str` or any `BufRead`. Errors name the 1-based line and the
//! 1-based column (character position) where the bad field starts.

use std::collections::HashMap;
use std::io::BufRead;

use crate::calendar::{days_from_civil, is_valid_date};
use crate::summary::Transaction;

/// Longest line accepted, in bytes.
pub const LINE_BYTES_MAX: usize = 64 * 1024;

/// What is wrong at a position.
#[derive(Debug, Clone, PartialEq)]
pub enum ParseErrorKind {
    MissingField { field: &'static str },
    BadDate { text: String },
    BadNumber { field: &'static str, text: String },
    MissingHeaderColumn { column: &'static str },
    LineTooLong,
    Io { message: String },
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
            ParseErrorKind::BadNumber { field, text } => write!(f, "bad {field} {text:?}"),
            ParseErrorKind::MissingHeaderColumn { column } => {
                write!(f, "header has no {column} column")
            }
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

/// Splits a CSV line on commas, stripping one pair of surrounding double quotes
/// per field (quoted commas are not supported: ids, dates and amounts never need them).
fn csv_fields(line: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut column = 1;
    for field in line.split(',') {
        let trimmed = field.trim();
        let unquoted = trimmed
            .strip_prefix('"')
            .and_then(|f| f.strip_suffix('"'))
            .unwrap_or(trimmed);
        out.push((column, unquoted));
        column += field.chars().count() + 1;
    }
    out
}

/// Generic CSV with a header naming `customer_id`, `date` and `amount` columns
/// (any order, other columns ignored). Dates as in [`parse_date`]. Customer keys
/// are arbitrary strings, interned in order of first appearance.
pub fn transactions_csv(reader: impl BufRead) -> Result<TransactionLog, ParseError> {
    let mut columns: Option<[usize; 3]> = None;
    let mut keys: HashMap<String, u64> = HashMap::new();
    let mut log = TransactionLog {
        transactions: Vec::new(),
        customer_keys: Vec::new(),
    };
    for (i, line) in reader.lines().enumerate() {
        let line_number = i + 1;
        let line = line.map_err(|e| ParseError {
            line: line_number,
            column: 1,
            kind: ParseErrorKind::Io {
                message: e.to_string(),
            },
        })?;
        if line.len() > LINE_BYTES_MAX {
            return Err(ParseError {
                line: line_number,
                column: 1,
                kind: ParseErrorKind::LineTooLong,
            });
        }
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let fields = csv_fields(line);
        let Some([id_at, date_at, amount_at]) = columns else {
            let find = |name: &'static str| {
                fields
                    .iter()
                    .position(|(_, f)| f.eq_ignore_ascii_case(name))
                    .ok_or(ParseError {
                        line: line_number,
                        column: 1,
                        kind: ParseErrorKind::MissingHeaderColumn { column: name },
                    })
            };
            columns = Some([find("customer_id")?, find("date")?, find("amount")?]);
            continue;
        };
        let cursor = Cursor {
            line: line_number,
            line_len: line.chars().count(),
            fields,
        };
        let (_, key) = cursor.field(id_at, "customer_id")?;
        let next = keys.len() as u64;
        let customer = *keys.entry(key.to_string()).or_insert_with(|| {
            log.customer_keys.push(key.to_string());
            next
        });
        log.transactions.push(Transaction {
            customer,
            day: cursor.date(date_at)?,
            amount: cursor.number(amount_at, "amount")?,
        });
    }
    Ok(log)
}

#[cfg(test)]
mod tests;

//! `patron import`: customers and orders from CSV, JSON Lines or the CDNOW transaction format,
//! streamed in batches through the same use cases as the API.
//!
//! Memory stays bounded whatever the file size: rows are read, grouped into orders and sent in
//! batches of [`IMPORT_BATCH_ROWS_MAX`] at most; rejected rows are written out as they are found.
//! Each batch is one transaction and every order carries (source, external id), so a run killed
//! at any point and started again ends with exactly the totals of an uninterrupted run.

use crate::progress::Progress;
use anyhow::{Context, Result, bail};
use app::customers::CustomerInput;
use app::intake::{CustomerRef, Intake, LineInput, OrderInput, ValidOrder};
use app::{App, AppError, Principal};
use domain::{Currency, IdentityKind};
use serde::Deserialize;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

/// Orders (or customers) per transaction, at most.
pub const IMPORT_BATCH_ROWS_MAX: usize = 10_000;
/// Default orders per transaction. Larger transactions write each randomly placed index page
/// (balances, a customer's orders and lots) once for more orders: on SQLite 5,000 imported
/// about 1.5× as fast as 1,000 (`patron bench import --batch-rows`), while the writer is held
/// for well under a second per batch.
pub const IMPORT_BATCH_ROWS_DEFAULT: usize = 5_000;
/// Longest accepted input line (JSON Lines, CDNOW), in bytes.
pub const IMPORT_LINE_BYTES_MAX: usize = 1 << 20;
/// Rejected rows printed to stderr when no `--rejects` file is given.
pub const REJECTS_PRINTED_MAX: u64 = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
    Cdnow,
}

impl Format {
    pub fn parse(s: &str) -> Result<Format> {
        match s {
            "csv" => Ok(Format::Csv),
            "jsonl" | "ndjson" => Ok(Format::Jsonl),
            "cdnow" => Ok(Format::Cdnow),
            _ => bail!("unknown format {s:?}: use csv, jsonl or cdnow"),
        }
    }

    /// Guesses from the file name: `.csv`, `.jsonl`/`.ndjson`, CDNOW's `.txt`.
    pub fn guess(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()? {
            "csv" => Some(Format::Csv),
            "jsonl" | "ndjson" => Some(Format::Jsonl),
            "txt" => Some(Format::Cdnow),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Orders,
    Customers,
}

#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub path: PathBuf,
    pub format: Format,
    pub kind: Kind,
    /// The `source` of every imported order (their external ids are unique within it).
    pub source: String,
    /// Currency for rows that name none (CDNOW is in US dollars).
    pub currency: Currency,
    pub batch_rows: usize,
    /// Renames file columns to Patron's (`訂單編號` → `order_id`).
    pub column_map: Vec<(String, String)>,
    /// Time zone that dates without a time are read in.
    pub time_zone: jiff::tz::TimeZone,
    /// Where rejected rows go as CSV (row, column, reason); stderr when absent.
    pub rejects: Option<PathBuf>,
    /// Print a line to stdout after each committed batch (for supervising scripts and tests).
    pub report_batches: bool,
}

impl ImportOptions {
    pub fn new(path: PathBuf, format: Format, kind: Kind) -> ImportOptions {
        ImportOptions {
            path,
            format,
            kind,
            source: "import".to_owned(),
            currency: if format == Format::Cdnow {
                Currency::parse("USD").expect("USD")
            } else {
                Currency::TWD
            },
            batch_rows: IMPORT_BATCH_ROWS_DEFAULT,
            column_map: Vec::new(),
            time_zone: jiff::tz::TimeZone::get("Asia/Taipei")
                .expect("Asia/Taipei in the tz database"),
            rejects: None,
            report_batches: false,
        }
    }
}

/// Parses `a=b,c=d` column mappings.
pub fn parse_column_map(s: &str) -> Result<Vec<(String, String)>> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|pair| {
            let (from, to) = pair
                .split_once('=')
                .with_context(|| format!("column mapping {pair:?} is not FROM=TO"))?;
            Ok((from.trim().to_owned(), to.trim().to_owned()))
        })
        .collect()
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Data rows read (header excluded).
    pub rows: u64,
    /// Orders or customers stored by this run.
    pub accepted: u64,
    /// Already stored with the same content (a re-run, or a resumed run).
    pub duplicates: u64,
    /// Rows refused, each reported with row, column and reason.
    pub rejected_rows: u64,
}

/// One refused row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// 1-based line number in the file (the header is line 1 in CSV and CDNOW).
    pub row: u64,
    pub column: Option<String>,
    pub reason: String,
}

struct Rejects {
    out: Box<dyn Write>,
    file: String,
    to_file: bool,
    count: u64,
}

impl Rejects {
    fn new(path: Option<&Path>, file: &Path) -> Result<Rejects> {
        let (out, to_file): (Box<dyn Write>, bool) = match path {
            Some(p) => {
                let mut f = std::io::BufWriter::new(
                    std::fs::File::create(p)
                        .with_context(|| format!("creating {}", p.display()))?,
                );
                writeln!(f, "row,column,reason")?;
                (Box::new(f), true)
            }
            None => (Box::new(std::io::stderr()), false),
        };
        Ok(Rejects {
            out,
            file: file.display().to_string(),
            to_file,
            count: 0,
        })
    }

    fn add(&mut self, r: Reject) -> Result<()> {
        self.count += 1;
        let column = r.column.unwrap_or_default();
        if self.to_file {
            let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
            writeln!(
                self.out,
                "{},{},{}",
                r.row,
                quote(&column),
                quote(&r.reason)
            )?;
        } else if self.count <= REJECTS_PRINTED_MAX {
            let col = if column.is_empty() {
                String::new()
            } else {
                format!(" column {column}:")
            };
            writeln!(self.out, "{}: row {}:{col} {}", self.file, r.row, r.reason)?;
        }
        Ok(())
    }
}

/// A reader that counts the bytes it hands out, for the progress bar.
struct Counting<R> {
    inner: R,
    bytes: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

/// One parsed item and the file row it started on.
enum Item {
    Order(OrderInput),
    Customer(CustomerInput),
}

type Parsed = Result<(u64, Item), Reject>;

/// A batch as the parser thread hands it to the writer: orders validated there already (so
/// that the writer spends its time on the database), rows in file order.
#[derive(Default)]
struct Batch {
    rows: Vec<u64>,
    orders: Vec<app::AppResult<ValidOrder>>,
    customers: Vec<CustomerInput>,
    rejects: Vec<Reject>,
}

impl Batch {
    fn len(&self) -> usize {
        self.rows.len() + self.rejects.len()
    }
}

/// Imports a file. Errors that concern the whole file (unreadable, missing column) stop
/// before anything is written; errors in a row reject that row only.
pub fn run(app: &App, options: &ImportOptions) -> Result<ImportReport> {
    if !(1..=IMPORT_BATCH_ROWS_MAX).contains(&options.batch_rows) {
        bail!("batch size must be 1 to {IMPORT_BATCH_ROWS_MAX}");
    }
    domain::ExternalRef::parse(&options.source, "x")
        .map_err(|e| anyhow::anyhow!("--source: {}", e.reason))?;
    let file = std::fs::File::open(&options.path)
        .with_context(|| format!("opening {}", options.path.display()))?;
    let total = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bytes = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let reader = BufReader::with_capacity(
        1 << 16,
        Counting {
            inner: file,
            bytes: bytes.clone(),
        },
    );
    let who = Principal {
        actor: "cli:import".to_owned(),
        ..Principal::cli()
    };
    let mut rejects = Rejects::new(options.rejects.as_deref(), &options.path)?;
    let mut progress = Progress::new(total);
    let mut report = ImportReport::default();

    // Parsing and order validation run on their own thread, one batch ahead of the database
    // writes; the writer sends each batch back when done, so that freeing it costs the parser
    // thread, not the writer.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(2);
    let (done_tx, done_rx) = std::sync::mpsc::channel::<Batch>();
    let opts = options.clone();
    let currency = app.settings.currency;
    let parser = std::thread::spawn(move || -> Result<u64> {
        let mut batch = Batch::default();
        let mut send = |item: Parsed| -> bool {
            match item {
                Ok((row, Item::Order(o))) => {
                    batch.rows.push(row);
                    batch.orders.push(o.validate(currency));
                }
                Ok((row, Item::Customer(c))) => {
                    batch.rows.push(row);
                    batch.customers.push(c);
                }
                Err(r) => batch.rejects.push(r),
            }
            if batch.len() >= opts.batch_rows {
                if tx.send(std::mem::take(&mut batch)).is_err() {
                    return false;
                }
                done_rx.try_iter().for_each(drop);
            }
            true
        };
        let rows = match opts.format {
            Format::Csv => parse_csv(reader, &opts, &mut send)?,
            Format::Jsonl => parse_jsonl(reader, &opts, &mut send)?,
            Format::Cdnow => parse_cdnow(reader, &opts, &mut send)?,
        };
        if batch.len() > 0 {
            let _ = tx.send(batch);
        }
        Ok(rows)
    });

    // Planner statistics are refreshed whenever the rows stored have doubled since the last
    // refresh: a handful of ANALYZEs for any file, and never a plan made for an empty table.
    let mut analysed_at = 0;
    for mut batch in rx {
        let results: Vec<Intake<()>> = if options.kind == Kind::Orders {
            app.place_valid_orders(&who, &batch.orders)?
                .into_iter()
                .map(discard)
                .collect()
        } else {
            app.import_customers(&who, &batch.customers)?
                .into_iter()
                .map(discard)
                .collect()
        };
        for (&row, result) in batch.rows.iter().zip(results) {
            match result {
                Intake::Accepted(()) => report.accepted += 1,
                Intake::Duplicate(()) => report.duplicates += 1,
                Intake::Rejected(e) => {
                    let (column, reason) = describe(&e, options);
                    batch.rejects.push(Reject {
                        row,
                        column,
                        reason,
                    });
                }
            }
        }
        // The report lists rejected rows in file order, whichever step refused them.
        batch.rejects.sort_by_key(|r| r.row);
        for r in batch.rejects.drain(..) {
            rejects.add(r)?;
        }
        let _ = done_tx.send(batch);
        if report.accepted >= 2 * analysed_at.max(options.batch_rows.div_ceil(2) as u64) {
            app.refresh_intake_statistics()?;
            analysed_at = report.accepted;
        }
        if options.report_batches {
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "committed {} stored, {} already present",
                report.accepted, report.duplicates
            )?;
            out.flush()?;
        }
        progress.update(
            bytes.load(std::sync::atomic::Ordering::Relaxed),
            report.accepted + report.duplicates + rejects.count,
        );
    }
    report.rows = parser
        .join()
        .map_err(|_| anyhow::anyhow!("the parser thread panicked"))??;
    report.rejected_rows = rejects.count;
    rejects.out.flush()?;
    progress.finish();
    Ok(report)
}

fn discard<T>(r: Intake<T>) -> Intake<()> {
    match r {
        Intake::Accepted(_) => Intake::Accepted(()),
        Intake::Duplicate(_) => Intake::Duplicate(()),
        Intake::Rejected(e) => Intake::Rejected(e),
    }
}

/// The column and the reason for a rejection from the use case.
fn describe(e: &AppError, options: &ImportOptions) -> (Option<String>, String) {
    match e {
        AppError::Invalid(f) => {
            let leaf = f.field.rsplit('.').next().unwrap_or(&f.field);
            let column = match leaf {
                "external_id" => "order_id",
                other => other,
            };
            let column = if options.format == Format::Jsonl {
                f.field.clone()
            } else {
                column.to_owned()
            };
            (Some(column), f.reason.clone())
        }
        AppError::ConflictingDuplicate { differences } => (
            None,
            format!(
                "already imported with other content (differs in {})",
                differences.join(", ")
            ),
        ),
        AppError::CustomerConflict { differences, .. } => (
            None,
            format!(
                "customer exists with another profile (differs in {})",
                differences.join(", ")
            ),
        ),
        other => (None, other.to_string()),
    }
}

/// Patron's order and customer columns.
const ORDER_COLUMNS: &[&str] = &[
    "order_id",
    "customer_id",
    "email",
    "phone",
    "line_user_id",
    "name",
    "occurred_at",
    "currency",
    "sku",
    "category",
    "quantity",
    "unit_price_minor",
    "unit_price",
];
const CUSTOMER_COLUMNS: &[&str] = &[
    "customer_id",
    "email",
    "phone",
    "line_user_id",
    "name",
    "birthday",
    "locale",
    "time_zone",
];

fn parse_csv(
    reader: impl Read,
    opts: &ImportOptions,
    send: &mut dyn FnMut(Parsed) -> bool,
) -> Result<u64> {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(reader);
    let headers = csv
        .byte_headers()
        .context("reading the CSV header")?
        .clone();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (i, h) in headers.iter().enumerate() {
        let name = std::str::from_utf8(h).map_err(|_| {
            anyhow::anyhow!(
                "{}: row 1: header {i} is not valid UTF-8",
                opts.path.display()
            )
        })?;
        let name = name.trim().trim_start_matches('\u{feff}');
        let name = opts
            .column_map
            .iter()
            .find(|(from, _)| from == name)
            .map_or(name, |(_, to)| to.as_str());
        index.insert(name.to_owned(), i);
    }
    let known = if opts.kind == Kind::Orders {
        ORDER_COLUMNS
    } else {
        CUSTOMER_COLUMNS
    };
    let required: &[&str] = if opts.kind == Kind::Orders {
        &["order_id", "sku"]
    } else {
        &[]
    };
    for r in required {
        if !index.contains_key(*r) {
            bail!(
                "{}: missing column `{r}` (columns: {})",
                opts.path.display(),
                known.join(", ")
            );
        }
    }
    if opts.kind == Kind::Orders
        && !index.contains_key("unit_price_minor")
        && !index.contains_key("unit_price")
    {
        bail!(
            "{}: missing column `unit_price_minor` (or `unit_price`)",
            opts.path.display()
        );
    }
    if !["customer_id", "email", "phone", "line_user_id"]
        .iter()
        .any(|c| index.contains_key(*c))
    {
        bail!(
            "{}: missing a customer column: customer_id, email, phone or line_user_id",
            opts.path.display()
        );
    }
    let mut record = csv::ByteRecord::new();
    let mut rows = 0u64;
    // Consecutive rows with the same order_id are lines of one order.
    let mut pending: Option<(u64, String, OrderInput)> = None;
    loop {
        let more = match csv.read_byte_record(&mut record) {
            Ok(more) => more,
            Err(e) => {
                let row = e.position().map_or(rows + 2, |p| p.line());
                rows += 1;
                if !send(Err(Reject {
                    row,
                    column: None,
                    reason: format!("malformed CSV: {e}"),
                })) {
                    return Ok(rows);
                }
                if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                    return Err(e.into());
                }
                continue;
            }
        };
        if !more {
            break;
        }
        rows += 1;
        let row = record.position().map_or(rows + 1, |p| p.line());
        let fields = match csv_fields(&record, &index, row) {
            Ok(f) => f,
            Err(r) => {
                if !send(Err(r)) {
                    return Ok(rows);
                }
                continue;
            }
        };
        let get = Fields(&fields);
        if opts.kind == Kind::Customers {
            let item = customer_row(&get)
                .map(|c| (row, Item::Customer(c)))
                .map_err(|(column, reason)| Reject {
                    row,
                    column: Some(column),
                    reason,
                });
            if !send(item) {
                return Ok(rows);
            }
            continue;
        }
        let parsed = order_row(&get, opts);
        match parsed {
            Err((column, reason)) => {
                if let Some((r, _, o)) = pending.take()
                    && !send(Ok((r, Item::Order(o))))
                {
                    return Ok(rows);
                }
                if !send(Err(Reject {
                    row,
                    column: Some(column),
                    reason,
                })) {
                    return Ok(rows);
                }
            }
            Ok((order_id, order)) => match &mut pending {
                Some((_, id, o)) if *id == order_id => o.lines.extend(order.lines),
                _ => {
                    if let Some((r, _, o)) = pending.replace((row, order_id, order))
                        && !send(Ok((r, Item::Order(o))))
                    {
                        return Ok(rows);
                    }
                }
            },
        }
    }
    if let Some((r, _, o)) = pending {
        send(Ok((r, Item::Order(o))));
    }
    Ok(rows)
}

fn csv_fields(
    record: &csv::ByteRecord,
    index: &HashMap<String, usize>,
    row: u64,
) -> Result<HashMap<String, String>, Reject> {
    let mut out = HashMap::with_capacity(index.len());
    for (name, &i) in index {
        let raw = record.get(i).unwrap_or_default();
        let value = std::str::from_utf8(raw).map_err(|_| Reject {
            row,
            column: Some(name.clone()),
            reason: "not valid UTF-8".to_owned(),
        })?;
        out.insert(name.clone(), value.trim().to_owned());
    }
    Ok(out)
}

type ColumnError = (String, String);

/// One CSV row's values by Patron column name; empty values read as absent.
struct Fields<'a>(&'a HashMap<String, String>);

impl Fields<'_> {
    fn get(&self, column: &str) -> Option<&str> {
        self.0
            .get(column)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }
}

fn customer_identities(f: &Fields<'_>) -> Vec<(IdentityKind, String)> {
    [
        ("customer_id", IdentityKind::ShopCustomerId),
        ("email", IdentityKind::Email),
        ("phone", IdentityKind::Phone),
        ("line_user_id", IdentityKind::LineUserId),
    ]
    .into_iter()
    .filter_map(|(col, kind)| f.get(col).map(|v| (kind, v.to_owned())))
    .collect()
}

fn customer_row(f: &Fields<'_>) -> Result<CustomerInput, ColumnError> {
    let get = |c: &str| f.get(c);
    let c = CustomerInput {
        identities: customer_identities(f),
        name: get("name").map(str::to_owned),
        birthday: get("birthday").map(str::to_owned),
        locale: get("locale").map(str::to_owned),
        time_zone: get("time_zone").map(str::to_owned),
    };
    if c.identities.is_empty() {
        return Err((
            "customer_id".to_owned(),
            "a customer needs customer_id, email, phone or line_user_id".to_owned(),
        ));
    }
    // Validate here so the report names the file's column.
    c.validate().map_err(|e| {
        let column = match e.field.as_str() {
            "shop_customer_id" => "customer_id".to_owned(),
            other => other.to_owned(),
        };
        (column, e.reason)
    })?;
    Ok(c)
}

fn order_row(f: &Fields<'_>, opts: &ImportOptions) -> Result<(String, OrderInput), ColumnError> {
    let get = |c: &str| f.get(c);
    let err = |c: &str, r: String| (c.to_owned(), r);
    let order_id = get("order_id")
        .ok_or_else(|| err("order_id", "is empty".to_owned()))?
        .to_owned();
    let identities = customer_identities(f);
    if identities.is_empty() {
        return Err(err(
            "customer_id",
            "a row needs customer_id, email, phone or line_user_id".to_owned(),
        ));
    }
    let currency = match get("currency") {
        Some(c) => Currency::parse(c).map_err(|e| err("currency", e.reason))?,
        None => opts.currency,
    };
    let quantity = match get("quantity") {
        Some(q) => q
            .parse::<i64>()
            .map_err(|_| err("quantity", format!("{q:?} is not a whole number")))?,
        None => 1,
    };
    let unit_price_minor = match (get("unit_price_minor"), get("unit_price")) {
        (Some(p), _) => p.parse::<i64>().map_err(|_| {
            err(
                "unit_price_minor",
                format!("{p:?} is not a whole number of minor units"),
            )
        })?,
        (None, Some(p)) => decimal_to_minor(p, currency).map_err(|r| err("unit_price", r))?,
        (None, None) => return Err(err("unit_price_minor", "is empty".to_owned())),
    };
    let occurred_at = get("occurred_at")
        .map(|s| parse_instant(s, &opts.time_zone).map_err(|r| err("occurred_at", r)))
        .transpose()?;
    let order = OrderInput {
        source: opts.source.clone(),
        external_id: order_id.clone(),
        customer: CustomerRef::Described(CustomerInput {
            identities,
            name: get("name").map(str::to_owned),
            ..CustomerInput::default()
        }),
        occurred_at,
        currency: currency.code().to_owned(),
        lines: vec![LineInput {
            sku: get("sku").unwrap_or_default().to_owned(),
            category: get("category").map(str::to_owned),
            quantity,
            unit_price_minor,
        }],
    };
    Ok((order_id, order))
}

/// `12.30` in `currency` → 1230 minor units; refuses more decimals than the currency has,
/// negative amounts and exponents (money never passes through floats).
pub fn decimal_to_minor(s: &str, currency: Currency) -> Result<i64, String> {
    let s = s.trim();
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    let per_major = currency.minor_per_major();
    let digits = per_major.ilog10() as usize;
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(format!("{s:?} is not a non-negative decimal amount"));
    }
    if frac.len() > digits {
        return Err(format!(
            "{s:?} has more decimals than {currency} allows ({digits})"
        ));
    }
    let whole: i64 = whole.parse().map_err(|_| format!("{s:?} is too large"))?;
    let frac: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<digits$}")
            .parse()
            .map_err(|_| format!("{s:?}"))?
    };
    whole
        .checked_mul(per_major)
        .and_then(|w| w.checked_add(frac))
        .ok_or_else(|| format!("{s:?} is too large"))
}

/// RFC 3339 instant, or a date (`2026-03-02`, `20260302`) read as local midnight in `tz`.
fn parse_instant(s: &str, tz: &jiff::tz::TimeZone) -> Result<jiff::Timestamp, String> {
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Ok(t);
    }
    let date = if s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()) {
        jiff::civil::Date::strptime("%Y%m%d", s)
    } else {
        s.parse::<jiff::civil::Date>()
    }
    .map_err(|_| format!("{s:?} is not an RFC 3339 instant or a date YYYY-MM-DD"))?;
    date.to_zoned(tz.clone())
        .map(|z| z.timestamp())
        .map_err(|e| e.to_string())
}

/// CDNOW: `customer_id date number_of_cds dollar_value`, whitespace-separated, a header line.
/// Each row is one order, identified by its line number.
fn parse_cdnow(
    reader: impl BufRead,
    opts: &ImportOptions,
    send: &mut dyn FnMut(Parsed) -> bool,
) -> Result<u64> {
    let mut rows = 0;
    for (i, line) in reader.split(b'\n').enumerate() {
        let row = i as u64 + 1;
        let line = line.with_context(|| format!("reading {}", opts.path.display()))?;
        let Ok(text) = std::str::from_utf8(&line) else {
            rows += 1;
            if !send(Err(Reject {
                row,
                column: None,
                reason: "not valid UTF-8".to_owned(),
            })) {
                break;
            }
            continue;
        };
        let fields: Vec<&str> = text.split_whitespace().collect();
        if fields.is_empty() || (row == 1 && fields.first() == Some(&"customer_id")) {
            continue;
        }
        rows += 1;
        if !send(cdnow_row(row, &fields, opts)) {
            break;
        }
    }
    Ok(rows)
}

fn cdnow_row(row: u64, fields: &[&str], opts: &ImportOptions) -> Parsed {
    let reject = |column: &str, reason: String| Reject {
        row,
        column: Some(column.to_owned()),
        reason,
    };
    if fields.len() != 4 {
        return Err(Reject {
            row,
            column: None,
            reason: format!("expected 4 fields, found {}", fields.len()),
        });
    }
    let occurred_at = parse_instant(fields[1], &opts.time_zone).map_err(|r| reject("date", r))?;
    let cds: i64 = fields[2].parse().map_err(|_| {
        reject(
            "number_of_cds",
            format!("{:?} is not a whole number", fields[2]),
        )
    })?;
    let amount =
        decimal_to_minor(fields[3], opts.currency).map_err(|r| reject("dollar_value", r))?;
    Ok((
        row,
        Item::Order(OrderInput {
            source: opts.source.clone(),
            external_id: format!("line-{row}"),
            customer: CustomerRef::Described(CustomerInput {
                identities: vec![(IdentityKind::ShopCustomerId, fields[0].to_owned())],
                ..CustomerInput::default()
            }),
            occurred_at: Some(occurred_at),
            currency: opts.currency.code().to_owned(),
            // CDNOW gives a row total and a count of CDs, not a unit price: one line holds the total.
            lines: vec![LineInput {
                sku: format!("CD-x{}", cds.clamp(0, 1_000)),
                category: Some("music".to_owned()),
                quantity: 1,
                unit_price_minor: amount,
            }],
        }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonOrder {
    external_id: String,
    #[serde(default)]
    source: Option<String>,
    customer: JsonCustomer,
    #[serde(default)]
    occurred_at: Option<String>,
    #[serde(default)]
    currency: Option<String>,
    lines: Vec<JsonLine>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonCustomer {
    #[serde(default)]
    id: Option<i64>,
    #[serde(default)]
    shop_customer_id: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    line_user_id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    birthday: Option<String>,
    #[serde(default)]
    locale: Option<String>,
    #[serde(default)]
    time_zone: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonLine {
    sku: String,
    #[serde(default)]
    category: Option<String>,
    quantity: i64,
    unit_price_minor: i64,
}

impl JsonCustomer {
    fn input(self) -> CustomerInput {
        let identities = [
            (IdentityKind::ShopCustomerId, self.shop_customer_id),
            (IdentityKind::Email, self.email),
            (IdentityKind::Phone, self.phone),
            (IdentityKind::LineUserId, self.line_user_id),
        ]
        .into_iter()
        .filter_map(|(k, v)| Some((k, v?)))
        .collect();
        CustomerInput {
            identities,
            name: self.name,
            birthday: self.birthday,
            locale: self.locale,
            time_zone: self.time_zone,
        }
    }
}

fn parse_jsonl(
    mut reader: impl BufRead,
    opts: &ImportOptions,
    send: &mut dyn FnMut(Parsed) -> bool,
) -> Result<u64> {
    let mut rows = 0;
    let mut line = Vec::new();
    let mut row = 0u64;
    loop {
        line.clear();
        let n = (&mut reader)
            .take(IMPORT_LINE_BYTES_MAX as u64 + 1)
            .read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        row += 1;
        if line.len() > IMPORT_LINE_BYTES_MAX {
            // Skip the rest of an over-long line.
            let mut sink = Vec::new();
            reader.read_until(b'\n', &mut sink)?;
            rows += 1;
            if !send(Err(Reject {
                row,
                column: None,
                reason: format!("line longer than {IMPORT_LINE_BYTES_MAX} bytes"),
            })) {
                break;
            }
            continue;
        }
        let text = match std::str::from_utf8(&line) {
            Ok(t) if t.trim().is_empty() => continue,
            Ok(t) => t,
            Err(_) => {
                rows += 1;
                if !send(Err(Reject {
                    row,
                    column: None,
                    reason: "not valid UTF-8".to_owned(),
                })) {
                    break;
                }
                continue;
            }
        };
        rows += 1;
        let item = jsonl_row(row, text, opts);
        if !send(item) {
            break;
        }
    }
    Ok(rows)
}

fn jsonl_row(row: u64, text: &str, opts: &ImportOptions) -> Parsed {
    let reject = |column: Option<&str>, reason: String| Reject {
        row,
        column: column.map(str::to_owned),
        reason,
    };
    if opts.kind == Kind::Customers {
        let c: JsonCustomer =
            serde_json::from_str(text).map_err(|e| reject(None, format!("invalid JSON: {e}")))?;
        return Ok((row, Item::Customer(c.input())));
    }
    let o: JsonOrder =
        serde_json::from_str(text).map_err(|e| reject(None, format!("invalid JSON: {e}")))?;
    let occurred_at = o
        .occurred_at
        .as_deref()
        .map(|s| parse_instant(s, &opts.time_zone).map_err(|r| reject(Some("occurred_at"), r)))
        .transpose()?;
    let customer = match o.customer.id {
        Some(id) => CustomerRef::Id(id),
        None => CustomerRef::Described(o.customer.input()),
    };
    Ok((
        row,
        Item::Order(OrderInput {
            source: o.source.unwrap_or_else(|| opts.source.clone()),
            external_id: o.external_id,
            customer,
            occurred_at,
            currency: o
                .currency
                .unwrap_or_else(|| opts.currency.code().to_owned()),
            lines: o
                .lines
                .into_iter()
                .map(|l| LineInput {
                    sku: l.sku,
                    category: l.category,
                    quantity: l.quantity,
                    unit_price_minor: l.unit_price_minor,
                })
                .collect(),
        }),
    ))
}

#[cfg(test)]
mod tests;

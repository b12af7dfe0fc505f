//! Transaction CSV → per-customer summary in one pass, without materialising the
//! transactions: each line is parsed at the byte level and folded into its
//! customer's running summary (first and last purchase period, distinct periods,
//! repeat spend), so memory is O(customers) beyond the input, not O(rows).
//!
//! The answer is the one [`crate::parse::transactions_csv_with`] followed by
//! [`crate::summary::summarize`] gives, errors included: any line the byte-level
//! path does not recognise (quotes, non-ASCII, odd numbers or dates, blank or bad
//! lines) goes through the reference line parser, and a log that is not in date
//! order per customer (the fold needs each customer's periods in order) is
//! summarised by the reference path instead.
//!
//! Large files are cut in two at a line break past the middle and the halves are
//! folded on two threads; the later half's summaries are then appended customer
//! by customer (a customer seen in both continues where the first half left off).
//! Amounts may then be summed in a different order (last-bit differences); any
//! error or disorder sends the file through the sequential pass, which reports it
//! with the right line number.

use std::borrow::Cow;

use crate::calendar::{days_from_civil, is_valid_date};
use crate::parse::{self, Columns, CsvOptions, FxMap, Line, ParseError, Record};
use crate::summary::{self, CustomerSummary, SummaryError, TimeScale, Transaction};

/// Numeric customer ids below this are interned through a dense table (4 bytes
/// per possible id) instead of a hash map.
const DENSE_ID_MAX: u64 = 1 << 24;

/// The dense table may cover ids up to this many times the customers seen so
/// far (plus [`DENSE_ID_SLACK`]), so sparse large ids do not cost memory.
const DENSE_IDS_PER_CUSTOMER_MAX: u64 = 8;
const DENSE_ID_SLACK: u64 = 1 << 16;

/// Most digits of an amount parsed exactly by integer arithmetic (the mantissa
/// stays below 2⁵³, so one correctly rounded division gives `str::parse`'s value).
const AMOUNT_DIGITS_MAX: usize = 15;

/// Why a CSV could not be summarised.
#[derive(Debug, Clone, PartialEq)]
pub enum CsvSummaryError {
    Parse(ParseError),
    Summary(SummaryError),
}

impl std::fmt::Display for CsvSummaryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Parse(e) => e.fmt(f),
            Self::Summary(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for CsvSummaryError {}

impl From<ParseError> for CsvSummaryError {
    fn from(e: ParseError) -> Self {
        Self::Parse(e)
    }
}

impl From<SummaryError> for CsvSummaryError {
    fn from(e: SummaryError) -> Self {
        Self::Summary(e)
    }
}

/// Customer keys in order of first appearance: one text buffer, or the numeric ids
/// themselves when every key is a canonical decimal id (the fast path's case).
#[derive(Debug, Clone, Default)]
pub struct CustomerKeys {
    text: String,
    ends: Vec<usize>,
    /// When set, the keys are these ids and `text`/`ends` are unused.
    ids: Option<Vec<u32>>,
}

impl PartialEq for CustomerKeys {
    /// Same keys in the same order, however they are stored.
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && (0..self.len()).all(|i| self.get(i) == other.get(i))
    }
}

impl CustomerKeys {
    fn numeric(ids: Vec<u32>) -> Self {
        Self {
            ids: Some(ids),
            ..Self::default()
        }
    }

    fn push(&mut self, key: &str) {
        self.text.push_str(key);
        self.ends.push(self.text.len());
    }

    pub fn len(&self) -> usize {
        self.ids.as_ref().map_or(self.ends.len(), Vec::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The key of customer `index` (the `customer` field of a summary).
    pub fn get(&self, index: usize) -> Option<Cow<'_, str>> {
        if let Some(ids) = &self.ids {
            return ids.get(index).map(|id| Cow::Owned(id.to_string()));
        }
        let end = *self.ends.get(index)?;
        let start = if index == 0 { 0 } else { self.ends[index - 1] };
        Some(Cow::Borrowed(&self.text[start..end]))
    }
}

/// Summaries (in order of first appearance; `customer` indexes `customer_keys`) and
/// what the file held.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvSummary {
    pub summaries: Vec<CustomerSummary>,
    pub customer_keys: CustomerKeys,
    /// Transactions (data lines) in the file.
    pub transactions: u64,
    /// Of them, those after the observation end (left out of the summaries).
    pub transactions_after_end: u64,
    /// The last purchase day in the file; `None` without transactions.
    pub last_day: Option<i32>,
    /// The observation end used: the one given, else `last_day`.
    pub observation_end_day: Option<i32>,
}

/// A customer's running summary.
#[derive(Debug, Clone, Copy)]
struct Running {
    first_period: i32,
    last_period: i32,
    /// Distinct purchase periods so far (0: no purchase up to the observation end).
    periods: u32,
    /// Sum of the amounts after the first period.
    repeat_spend: f64,
    /// Sum of the amounts in the first period (needed to merge two parts of a file).
    first_spend: f64,
}

impl Running {
    const EMPTY: Running = Running {
        first_period: 0,
        last_period: 0,
        periods: 0,
        repeat_spend: 0.0,
        first_spend: 0.0,
    };

    /// Adds a purchase in `period`, which must not precede the last one seen.
    fn add(&mut self, period: i32, amount: f64) -> Result<(), OutOfOrder> {
        if self.periods == 0 {
            *self = Running {
                first_period: period,
                last_period: period,
                periods: 1,
                repeat_spend: 0.0,
                first_spend: amount,
            };
        } else if period == self.last_period {
            if self.periods > 1 {
                self.repeat_spend += amount;
            } else {
                self.first_spend += amount;
            }
        } else if period > self.last_period {
            self.last_period = period;
            self.periods += 1;
            self.repeat_spend += amount;
        } else {
            return Err(OutOfOrder);
        }
        Ok(())
    }

    /// Customer `customer`'s summary at `end_period`; `None` without a purchase.
    fn summary(
        &self,
        customer: u64,
        end_period: i32,
        scale: &TimeScale,
    ) -> Option<CustomerSummary> {
        if self.periods == 0 {
            return None;
        }
        let frequency = self.periods - 1;
        Some(CustomerSummary {
            customer,
            frequency,
            recency: f64::from(self.last_period - self.first_period) / scale.multiplier,
            age: f64::from(end_period - self.first_period) / scale.multiplier,
            monetary_value: if frequency == 0 {
                0.0
            } else {
                self.repeat_spend / f64::from(frequency)
            },
        })
    }

    /// Appends `later`, the same customer's summary of a later part of the file.
    fn merge(&mut self, later: &Running) -> Result<(), OutOfOrder> {
        if later.periods == 0 {
            return Ok(());
        }
        if self.periods == 0 {
            *self = *later;
            return Ok(());
        }
        if later.first_period == self.last_period {
            if self.periods > 1 {
                self.repeat_spend += later.first_spend;
            } else {
                self.first_spend += later.first_spend;
            }
            self.periods += later.periods - 1;
        } else if later.first_period > self.last_period {
            self.repeat_spend += later.first_spend;
            self.periods += later.periods;
        } else {
            return Err(OutOfOrder);
        }
        self.repeat_spend += later.repeat_spend;
        self.last_period = later.last_period;
        Ok(())
    }
}

/// Interns customer keys: canonical decimal ids (no sign, no leading zero) by
/// value, everything else by text.
#[derive(Default)]
struct Interner {
    dense: Vec<u32>,
    numeric: FxMap<u64, u32>,
    text: FxMap<Box<str>, u32>,
    keys: CustomerKeys,
    /// The dense table may always cover ids below this (a part of a file sized
    /// by its bytes: the customers of a later part arrive with large ids first).
    dense_ids_min: u64,
}

fn canonical_id(key: &[u8]) -> Option<u64> {
    if key.is_empty() || key.len() > 18 || (key[0] == b'0' && key.len() > 1) {
        return None;
    }
    key.iter().try_fold(0u64, |v, &b| {
        b.is_ascii_digit().then(|| v * 10 + u64::from(b - b'0'))
    })
}

impl Interner {
    /// Index of `key`, and whether it is new.
    fn intern(&mut self, key: &str) -> (u32, bool) {
        let count = self.keys.len() as u32;
        let Some(id) = canonical_id(key.as_bytes()) else {
            if let Some(&c) = self.text.get(key) {
                return (c, false);
            }
            self.text.insert(key.into(), count);
            self.keys.push(key);
            return (count, true);
        };
        if let Some(&c) = self.dense.get(id as usize)
            && c != u32::MAX
        {
            return (c, false);
        }
        if let Some(&c) = self.numeric.get(&id) {
            return (c, false);
        }
        let dense_limit = DENSE_ID_MAX.min(
            (DENSE_ID_SLACK + DENSE_IDS_PER_CUSTOMER_MAX * (u64::from(count) + 1))
                .max(self.dense_ids_min),
        );
        if id < dense_limit {
            if id as usize >= self.dense.len() {
                let size = (id as usize + 1)
                    .next_power_of_two()
                    .min(DENSE_ID_MAX as usize);
                self.dense.resize(size, u32::MAX);
            }
            self.dense[id as usize] = count;
        } else {
            self.numeric.insert(id, count);
        }
        self.keys.push(key);
        (count, true)
    }
}

/// `YYYY-MM-DD` from exactly ten ASCII bytes.
fn iso_day(text: &[u8]) -> Option<i32> {
    if text.len() != 10 || text[4] != b'-' || text[7] != b'-' {
        return None;
    }
    let digit = |i: usize| {
        let d = text[i].wrapping_sub(b'0');
        (d < 10).then_some(u32::from(d))
    };
    let y = digit(0)? * 1000 + digit(1)? * 100 + digit(2)? * 10 + digit(3)?;
    let m = digit(5)? * 10 + digit(6)?;
    let d = digit(8)? * 10 + digit(9)?;
    is_valid_date(y as i32, m, d).then(|| days_from_civil(y as i32, m, d))
}

/// `digits[.digits]` with at most [`AMOUNT_DIGITS_MAX`] digits, exactly as `str::parse`.
fn plain_amount(text: &[u8]) -> Option<f64> {
    const POWERS: [f64; AMOUNT_DIGITS_MAX + 1] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    ];
    let (mut mantissa, mut digits, mut fraction) = (0u64, 0usize, None);
    for (i, &b) in text.iter().enumerate() {
        match b {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + u64::from(b - b'0');
                digits += 1;
                if digits > AMOUNT_DIGITS_MAX {
                    return None;
                }
            }
            b'.' if fraction.is_none() && i > 0 && i + 1 < text.len() => fraction = Some(i),
            _ => return None,
        }
    }
    if digits == 0 {
        return None;
    }
    let scale = fraction.map_or(0, |at| text.len() - at - 1);
    Some(mantissa as f64 / POWERS[scale])
}

/// Fields of a plain line (ASCII, no quotes): byte ranges split at commas, spaces trimmed.
fn plain_fields<'a>(line: &'a [u8], out: &mut [&'a [u8]; FIELDS_PLAIN_MAX]) -> Option<usize> {
    let mut count = 0;
    for field in line.split(|&b| b == b',') {
        if count == FIELDS_PLAIN_MAX {
            return None;
        }
        let mut f = field;
        while let [b' ', rest @ ..] = f {
            f = rest;
        }
        while let [rest @ .., b' '] = f {
            f = rest;
        }
        out[count] = f;
        count += 1;
    }
    Some(count)
}

/// Lines with more fields than this go through the reference parser.
const FIELDS_PLAIN_MAX: usize = 16;

/// The last date text seen and its day (logs sorted by date repeat it).
#[derive(Default)]
struct DateCache {
    text: [u8; 16],
    /// `None` until a date has been parsed.
    len: Option<usize>,
    day: i32,
}

impl DateCache {
    /// Day of the date text `date` (plain ASCII); `None` when the byte-level parser
    /// does not take it.
    fn day(&mut self, date: &[u8], options: &CsvOptions) -> Option<i32> {
        if self.len.is_some_and(|len| date == &self.text[..len]) {
            return Some(self.day);
        }
        let day = match &options.date_format {
            None => iso_day(date),
            Some(format) => format.parse_date(std::str::from_utf8(date).ok()?),
        }?;
        if date.len() <= self.text.len() {
            self.text[..date.len()].copy_from_slice(date);
            self.len = Some(date.len());
            self.day = day;
        }
        Some(day)
    }
}

/// Byte-level parse of a plain data line; `None` sends it to the reference parser.
fn fast_record<'a>(
    line: &'a [u8],
    columns: Columns,
    options: &CsvOptions,
    cache: &mut DateCache,
) -> Option<Record<'a>> {
    if line.iter().any(|&b| b == b'"' || b >= 0x80) {
        return None;
    }
    let mut fields = [&line[..0]; FIELDS_PLAIN_MAX];
    let count = plain_fields(line, &mut fields)?;
    let (id_at, date_at, amount_at) = columns;
    if id_at >= count || date_at >= count || amount_at.is_some_and(|a| a >= count) {
        return None;
    }
    let key = fields[id_at];
    if key.is_empty() {
        return None;
    }
    let day = cache.day(fields[date_at], options)?;
    let amount = match amount_at {
        None => 0.0,
        Some(at) => plain_amount(fields[at])?,
    };
    Some(Record {
        key: Cow::Borrowed(std::str::from_utf8(key).ok()?),
        day,
        amount,
    })
}

/// A customer's periods arrived out of order: the fold cannot merge them.
struct OutOfOrder;

/// Records are folded in batches of this many: interning a batch, then updating
/// its customers, keeps many independent memory look-ups in flight (the per-row
/// cost at a million customers is two cache misses, not the parsing).
const FOLD_BATCH_ROWS: usize = 64;

/// The running summaries and the batch of records not yet folded in.
struct Fold<'a> {
    interner: Interner,
    running: Vec<Running>,
    batch: Vec<Record<'a>>,
    slots: Vec<u32>,
    scale: TimeScale,
    /// Records after this day are counted, not folded (`i32::MAX`: none).
    observation_end_day: i32,
    period_cache: (i32, i32),
    rows: u64,
    rows_after_end: u64,
    /// Largest day seen (`i32::MIN` before any record).
    last_day: i32,
}

impl<'a> Fold<'a> {
    fn push(&mut self, record: Record<'a>) -> Result<(), OutOfOrder> {
        self.batch.push(record);
        if self.batch.len() == FOLD_BATCH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), OutOfOrder> {
        self.slots.clear();
        for record in &self.batch {
            let (customer, new) = self.interner.intern(&record.key);
            if new {
                self.running.push(Running::EMPTY);
            }
            self.slots.push(customer);
        }
        self.rows += self.batch.len() as u64;
        for (record, &customer) in self.batch.iter().zip(&self.slots) {
            self.last_day = self.last_day.max(record.day);
            if record.day > self.observation_end_day {
                self.rows_after_end += 1;
                continue;
            }
            let period = if self.period_cache.0 == record.day {
                self.period_cache.1
            } else {
                let p = self.scale.unit.index(record.day);
                self.period_cache = (record.day, p);
                p
            };
            self.running[customer as usize].add(period, record.amount)?;
        }
        self.batch.clear();
        Ok(())
    }

    fn new(scale: &TimeScale, observation_end_day: i32) -> Self {
        Fold {
            interner: Interner::default(),
            running: Vec::new(),
            batch: Vec::with_capacity(FOLD_BATCH_ROWS),
            slots: Vec::with_capacity(FOLD_BATCH_ROWS),
            scale: *scale,
            observation_end_day,
            period_cache: (i32::MIN, 0),
            rows: 0,
            rows_after_end: 0,
            last_day: i32::MIN,
        }
    }

    /// Folds every line of `bytes` (a whole file, or a part after the header when
    /// `columns` are known); errors count lines from the start of `bytes`.
    fn lines(
        &mut self,
        bytes: &'a [u8],
        mut columns: Option<Columns>,
        options: &CsvOptions,
    ) -> Result<Result<(), OutOfOrder>, CsvSummaryError> {
        let mut spans = Vec::new();
        let mut cache = DateCache::default();
        for (i, raw) in bytes.split_inclusive(|&b| b == b'\n').enumerate() {
            let line = raw.strip_suffix(b"\n").unwrap_or(raw);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let fast = match columns {
                Some(c) if line.len() <= parse::LINE_BYTES_MAX => {
                    fast_record(line, c, options, &mut cache)
                }
                _ => None,
            };
            let record = match fast {
                Some(record) => record,
                None => match parse::parse_line(line, i + 1, columns, options, &mut spans)? {
                    Line::Blank => continue,
                    Line::Header(found) => {
                        columns = Some(found);
                        continue;
                    }
                    Line::Record(record) => record,
                },
            };
            if let Err(e) = self.push(record) {
                return Ok(Err(e));
            }
        }
        Ok(self.flush())
    }

    /// Appends the fold of the rest of the file: its customers not seen here
    /// follow in their order of first appearance.
    fn append(&mut self, later: Fold<'_>) -> Result<(), OutOfOrder> {
        for (index, state) in later.running.iter().enumerate() {
            let key = later.interner.keys.get(index).unwrap_or_default();
            let (customer, new) = self.interner.intern(&key);
            if new {
                self.running.push(*state);
            } else {
                self.running[customer as usize].merge(state)?;
            }
        }
        self.rows += later.rows;
        self.rows_after_end += later.rows_after_end;
        self.last_day = self.last_day.max(later.last_day);
        Ok(())
    }

    /// The summaries at `observation_end_day` (`None`: the last day seen).
    fn finish(self, observation_end_day: Option<i32>) -> CsvSummary {
        let last_day = (self.rows > 0).then_some(self.last_day);
        let end = observation_end_day.or(last_day);
        let summaries = match end {
            Some(end) => {
                let end_period = self.scale.unit.index(end);
                self.running
                    .iter()
                    .enumerate()
                    .filter_map(|(c, s)| s.summary(c as u64, end_period, &self.scale))
                    .collect()
            }
            None => Vec::new(),
        };
        CsvSummary {
            summaries,
            customer_keys: self.interner.keys,
            transactions: self.rows,
            transactions_after_end: self.rows_after_end,
            last_day,
            observation_end_day: end,
        }
    }
}

/// Whether a raw line (line end removed) is blank as the reference parser sees it.
fn is_blank_line(line: &[u8]) -> bool {
    line.iter()
        .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\x0B' | b'\x0C' | b'\r'))
}

/// Files of at least this many bytes are folded in two halves on two threads.
const PARALLEL_BYTES_MIN: usize = 1 << 22;

/// The header's columns and the offset of the first byte after its line; `None`
/// when the first non-blank line is no valid header (the sequential pass reports it).
fn header(bytes: &[u8], options: &CsvOptions) -> Option<(Columns, usize)> {
    let mut spans = Vec::new();
    let mut header_end = 0;
    for (i, raw) in bytes.split_inclusive(|&b| b == b'\n').enumerate() {
        header_end += raw.len();
        let line = raw.strip_suffix(b"\n").unwrap_or(raw);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match parse::parse_line(line, i + 1, None, options, &mut spans).ok()? {
            Line::Blank => continue,
            Line::Header(found) => return Some((found, header_end)),
            Line::Record(_) => return None,
        }
    }
    None
}

/// Where to cut `bytes` in two for [`PARALLEL_BYTES_MIN`]: the header's columns
/// and the start of the first line after the middle. `None` when the file is
/// small, has no plain header first, or no line break after the middle.
fn split_point(bytes: &[u8], options: &CsvOptions, bytes_min: usize) -> Option<(Columns, usize)> {
    if bytes.len() < bytes_min.max(2) {
        return None;
    }
    let (columns, header_end) = header(bytes, options)?;
    let middle = bytes.len() / 2;
    let cut = middle + bytes[middle..].iter().position(|&b| b == b'\n')? + 1;
    (cut > header_end && cut < bytes.len()).then_some((columns, cut))
}

/// The general fold: two halves on two threads for large files, else one pass.
fn summarize_fast(
    bytes: &[u8],
    options: &CsvOptions,
    scale: &TimeScale,
    observation_end_day: Option<i32>,
    parallel_bytes_min: usize,
) -> Result<Result<CsvSummary, OutOfOrder>, CsvSummaryError> {
    let fold_end = observation_end_day.unwrap_or(i32::MAX);
    if let Some((columns, cut)) = split_point(bytes, options, parallel_bytes_min) {
        let (head, tail) = bytes.split_at(cut);
        let (first, second) = rayon::join(
            || {
                let mut fold = Fold::new(scale, fold_end);
                fold.lines(head, None, options).map(|r| r.map(|()| fold))
            },
            || {
                let mut fold = Fold::new(scale, fold_end);
                // About one new customer per line at most: a hint only (ids
                // beyond it go to the hash map), and the table stays below a
                // third of the part's size.
                fold.interner.dense_ids_min = (tail.len() / LINE_BYTES_MIN) as u64;
                fold.lines(tail, Some(columns), options)
                    .map(|r| r.map(|()| fold))
            },
        );
        // Any error or disorder: the sequential pass below gives the answer
        // with the right line numbers.
        if let (Ok(Ok(mut first)), Ok(Ok(second))) = (first, second)
            && first.append(second).is_ok()
        {
            return Ok(Ok(first.finish(observation_end_day)));
        }
    }
    let mut fold = Fold::new(scale, fold_end);
    Ok(fold
        .lines(bytes, None, options)?
        .map(|()| fold.finish(observation_end_day)))
}

/// Fewest bytes of a data line with an ISO date: `1,2020-01-01` and its line break.
const LINE_BYTES_MIN: usize = 13;

/// Summary of every customer of a transaction CSV (`options` name the columns
/// and the date layout, as in [`crate::parse::transactions_csv_with`]) with a
/// purchase on or before `observation_end_day`, in one pass over `bytes`.
pub fn summarize_csv(
    bytes: &[u8],
    options: &CsvOptions,
    scale: &TimeScale,
    observation_end_day: i32,
) -> Result<CsvSummary, CsvSummaryError> {
    summarize_csv_with(bytes, options, scale, Some(observation_end_day))
}

/// [`summarize_csv`] with the observation end optional: `None` observes up to the
/// last purchase in the file. The answer (summaries, keys, counts, errors) is the
/// one [`crate::parse::transactions_csv_with`] followed by [`summary::summarize`]
/// gives; only the last bits of a monetary value may differ (amounts are summed
/// per customer in file order).
pub fn summarize_csv_with(
    bytes: &[u8],
    options: &CsvOptions,
    scale: &TimeScale,
    observation_end_day: Option<i32>,
) -> Result<CsvSummary, CsvSummaryError> {
    summarize_csv_inner(
        bytes,
        options,
        scale,
        observation_end_day,
        usize::MAX,
        PARALLEL_BYTES_MIN,
    )
}

/// [`summarize_csv_with`] with the numeric path's chunk cap and the general path's
/// parallel threshold as parameters (tests cut small files with them).
fn summarize_csv_inner(
    bytes: &[u8],
    options: &CsvOptions,
    scale: &TimeScale,
    observation_end_day: Option<i32>,
    chunks_max: usize,
    parallel_bytes_min: usize,
) -> Result<CsvSummary, CsvSummaryError> {
    if !(scale.multiplier.is_finite() && scale.multiplier > 0.0) {
        return Err(SummaryError::InvalidMultiplier {
            multiplier: scale.multiplier,
        }
        .into());
    }
    if let Some((columns, header_end)) = header(bytes, options)
        && let Some(done) = numeric::summarize(
            &bytes[header_end..],
            columns,
            options,
            scale,
            observation_end_day,
            chunks_max,
        )
    {
        return Ok(done);
    }
    if let Ok(done) = summarize_fast(
        bytes,
        options,
        scale,
        observation_end_day,
        parallel_bytes_min,
    )? {
        return Ok(done);
    }
    let log = parse::transactions_csv_with(bytes, options)?;
    let last_day = log.transactions.iter().map(|t| t.day).max();
    let end = observation_end_day.or(last_day);
    let summaries = match end {
        Some(end) => summary::summarize(&log.transactions, scale, end)?,
        None => Vec::new(),
    };
    let mut customer_keys = CustomerKeys::default();
    for key in &log.customer_keys {
        customer_keys.push(key);
    }
    Ok(CsvSummary {
        summaries,
        customer_keys,
        transactions: log.transactions.len() as u64,
        transactions_after_end: end.map_or(0, |end| {
            log.transactions.iter().filter(|t| t.day > end).count() as u64
        }),
        last_day,
        observation_end_day: end,
    })
}

/// Every transaction of a CSV: the answer of [`crate::parse::transactions_csv_with`]
/// (transactions, keys and errors alike) from bytes in memory, with the byte-level
/// parser on plain lines and the reference parser on the others.
pub fn read_transactions(
    bytes: &[u8],
    options: &CsvOptions,
) -> Result<parse::TransactionLog, ParseError> {
    let mut log = parse::TransactionLog {
        transactions: Vec::with_capacity(bytes.len() / 24),
        customer_keys: Vec::new(),
    };
    let mut interner = Interner::default();
    let mut columns = None;
    let mut spans = Vec::new();
    let mut cache = DateCache::default();
    for (i, raw) in bytes.split_inclusive(|&b| b == b'\n').enumerate() {
        let line = raw.strip_suffix(b"\n").unwrap_or(raw);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let fast = match columns {
            Some(c) if line.len() <= parse::LINE_BYTES_MAX => {
                fast_record(line, c, options, &mut cache)
            }
            _ => None,
        };
        let record = match fast {
            Some(record) => record,
            None => match parse::parse_line(line, i + 1, columns, options, &mut spans)? {
                Line::Blank => continue,
                Line::Header(found) => {
                    columns = Some(found);
                    continue;
                }
                Line::Record(record) => record,
            },
        };
        let (customer, _) = interner.intern(&record.key);
        log.transactions.push(Transaction {
            customer: u64::from(customer),
            day: record.day,
            amount: record.amount,
        });
    }
    log.customer_keys = (0..interner.keys.len())
        .map(|i| interner.keys.get(i).unwrap_or_default().into_owned())
        .collect();
    Ok(log)
}

mod numeric;

#[cfg(test)]
mod tests;

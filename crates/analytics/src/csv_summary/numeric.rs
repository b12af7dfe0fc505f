//! The fast path of [`super::summarize_csv_with`] for the common layout: every data line
//! plain (ASCII, unquoted, the fields the byte-level parser reads) and every customer
//! key a canonical decimal id (no sign, no leading zero) below 2³² from a dense range
//! (the largest id at most [`IDS_PER_ROW_MAX`] × rows + [`IDS_SLACK`]).
//!
//! Three phases, none of which depends on how the file is cut, so the answer is the
//! sequential fold's bit for bit (each customer's amounts are summed in file order):
//! 1. the data lines are cut into chunks at line breaks and parsed in parallel into
//!    (id, day, amount) records, grouped within each chunk by a bucket of the id
//!    (a stable counting sort, so file order holds within a bucket), with each chunk's
//!    ids in order of first appearance;
//! 2. the buckets are folded in parallel, each over its records of every chunk in chunk
//!    order, into a table indexed by the id's high bits: a bucket's table is small
//!    (about 1/[`BUCKETS`] of the ids), so the fold stays in cache;
//! 3. the chunks' first appearances are merged in file order into the customer order
//!    and the summaries are read out of the tables.
//!
//! Anything else (a line the byte-level parser does not take, text or sparse ids, a
//! customer's periods out of order) returns `None` and the general path answers,
//! errors included.

use rayon::prelude::*;

use super::{
    CsvSummary, CustomerKeys, DateCache, FIELDS_PLAIN_MAX, Running, canonical_id, is_blank_line,
    iso_day, plain_amount,
};
use crate::parse::{self, Columns, CsvOptions};
use crate::summary::{CustomerSummary, TimeScale};

/// Ids are spread over this many buckets by their low bits.
const BUCKET_BITS: u32 = 8;
const BUCKETS: usize = 1 << BUCKET_BITS;

/// Chunks of the data lines: at least this many bytes each, and at most
/// [`CHUNKS_PER_THREAD`] per rayon thread (more than one, to even out the threads).
const CHUNK_BYTES_MIN: usize = 1 << 20;
const CHUNKS_PER_THREAD: usize = 4;

/// The dense tables may cover ids up to this many per data row (plus [`IDS_SLACK`]):
/// 24 bytes of table per possible id, so at most about 100 bytes per row.
const IDS_PER_ROW_MAX: u64 = 4;
const IDS_SLACK: u64 = 1 << 16;

/// Fewest bytes of a data line: `1,2020-01-01` and its line break (rows ≤ bytes / this).
const LINE_BYTES_MIN: u64 = 13;

/// Bytes of a typical data line (`123456,2020-01-01,12.34`), for sizing buffers.
const TYPICAL_LINE_BYTES: usize = 24;

/// One data line: customer id, day, amount.
#[derive(Debug, Clone, Copy)]
struct IdRecord {
    id: u32,
    day: i32,
    amount: f64,
}

/// Bucket of an id: its low bits mixed with the next ones, so ids with a common
/// stride still spread. Within one bucket the high bits ([`slot`]) identify the id.
fn bucket(id: u32) -> usize {
    ((id ^ (id >> BUCKET_BITS)) as usize) & (BUCKETS - 1)
}

/// Index of an id in its bucket's table.
fn slot(id: u32) -> usize {
    (id >> BUCKET_BITS) as usize
}

/// One chunk's records, grouped by bucket.
struct Chunk {
    /// Bucket `b`'s records, in file order.
    buckets: Vec<Vec<IdRecord>>,
    /// The chunk's ids in order of first appearance within it.
    firsts: Vec<u32>,
    rows: u64,
    max_id: u32,
    /// Largest day of the chunk (`i32::MIN` when it holds no record).
    last_day: i32,
}

/// Byte-level parse of a plain data line with a canonical numeric key, in one pass
/// over its fields: (id, day, amount) exactly as [`super::fast_record`] and
/// [`canonical_id`] would give, or `None` where either would refuse it.
fn numeric_line(
    line: &[u8],
    columns: Columns,
    options: &CsvOptions,
    cache: &mut DateCache,
) -> Option<(u64, i32, f64)> {
    let (id_at, date_at, amount_at) = columns;
    let (mut id, mut day) = (None, None);
    let mut amount = if amount_at.is_none() { Some(0.0) } else { None };
    for (k, field) in line.split(|&b| b == b',').enumerate() {
        if k == FIELDS_PLAIN_MAX {
            return None;
        }
        let mut f = field;
        while let [b' ', rest @ ..] = f {
            f = rest;
        }
        while let [rest @ .., b' '] = f {
            f = rest;
        }
        // The parsers below take digits, '-' and '.' only; other fields, and dates
        // in a caller's layout, must be free of quotes and non-ASCII bytes.
        if k == id_at && k != date_at && Some(k) != amount_at {
            id = Some(canonical_id(f)?);
        } else if k == date_at && k != id_at && Some(k) != amount_at {
            if options.date_format.is_some() && f.iter().any(|&b| b == b'"' || b >= 0x80) {
                return None;
            }
            day = Some(cache.day(f, options)?);
        } else if Some(k) == amount_at && k != id_at && k != date_at {
            amount = Some(plain_amount(f)?);
        } else if f.iter().any(|&b| b == b'"' || b >= 0x80) {
            return None;
        }
    }
    Some((id?, day?, amount?))
}

/// The last ISO date seen on the strict path, as two integers, and its day.
#[derive(Default)]
struct IsoCache {
    key: Option<(u64, u16)>,
    day: i32,
}

/// The layout `bench analytics` and lifetimes write, parsed without splitting fields:
/// `id,YYYY-MM-DD,amount` with the default columns and date layout, nothing else on
/// the line. Whatever it accepts [`numeric_line`] reads the same way (the id, date and
/// amount parsers take no comma, space or quote, so the line has exactly these three
/// fields); anything else returns `None` and goes there.
fn strict_line(line: &[u8], cache: &mut IsoCache) -> Option<(u64, i32, f64)> {
    let comma = line.iter().position(|&b| b == b',')?;
    let id = canonical_id(&line[..comma])?;
    let rest = &line[comma + 1..];
    if rest.len() < 12 || rest[10] != b',' {
        return None;
    }
    let date = &rest[..10];
    let key = (
        u64::from_le_bytes([
            date[0], date[1], date[2], date[3], date[4], date[5], date[6], date[7],
        ]),
        u16::from_le_bytes([date[8], date[9]]),
    );
    let day = if cache.key == Some(key) {
        cache.day
    } else {
        let day = iso_day(date)?;
        *cache = IsoCache {
            key: Some(key),
            day,
        };
        day
    };
    Some((id, day, plain_amount(&rest[11..])?))
}

/// Parses one chunk of data lines; `None` when a line or an id is not for this path.
fn parse_chunk(
    bytes: &[u8],
    columns: Columns,
    options: &CsvOptions,
    id_limit: u64,
) -> Option<Chunk> {
    // Room for the expected rows of each bucket, so few of them grow.
    let per_bucket = bytes.len() / (TYPICAL_LINE_BYTES * BUCKETS) + 16;
    let mut buckets: Vec<Vec<IdRecord>> = (0..BUCKETS)
        .map(|_| Vec::with_capacity(per_bucket))
        .collect();
    let mut seen: Vec<u64> = Vec::new();
    let mut firsts = Vec::new();
    let mut cache = DateCache::default();
    let mut iso_cache = IsoCache::default();
    let strict = columns == (0, 1, Some(2)) && options.date_format.is_none();
    let (mut rows, mut max_id, mut last_day) = (0u64, 0u32, i32::MIN);
    for raw in bytes.split(|&b| b == b'\n') {
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line.len() > parse::LINE_BYTES_MAX {
            return None;
        }
        let parsed = match strict.then(|| strict_line(line, &mut iso_cache)).flatten() {
            Some(parsed) => Some(parsed),
            None => numeric_line(line, columns, options, &mut cache),
        };
        let Some((id, day, amount)) = parsed else {
            if is_blank_line(line) {
                continue;
            }
            return None;
        };
        let id = u32::try_from(id)
            .ok()
            .filter(|&id| u64::from(id) <= id_limit)?;
        let word = (id >> 6) as usize;
        if word >= seen.len() {
            seen.resize((word + 1).next_power_of_two(), 0);
        }
        let bit = 1u64 << (id & 63);
        if seen[word] & bit == 0 {
            seen[word] |= bit;
            firsts.push(id);
        }
        rows += 1;
        max_id = max_id.max(id);
        last_day = last_day.max(day);
        buckets[bucket(id)].push(IdRecord { id, day, amount });
    }
    Some(Chunk {
        buckets,
        firsts,
        rows,
        max_id,
        last_day,
    })
}

/// Cuts `data` at line breaks into about `count` pieces.
fn cut(data: &[u8], count: usize) -> Vec<&[u8]> {
    let mut pieces = Vec::with_capacity(count);
    let mut start = 0;
    for k in 1..count {
        let target = data.len() / count * k;
        if target <= start {
            continue;
        }
        let Some(offset) = data[target..].iter().position(|&b| b == b'\n') else {
            break;
        };
        pieces.push(&data[start..target + offset + 1]);
        start = target + offset + 1;
    }
    pieces.push(&data[start..]);
    pieces
}

/// A bucket's running summaries, and how many of its rows fell after the end.
struct Folded {
    table: Vec<Running>,
    after_end: u64,
}

/// Folds bucket `b` of every chunk, in chunk order; `None` when a customer's periods
/// arrive out of order.
fn fold_bucket(
    chunks: &[Chunk],
    b: usize,
    table_len: usize,
    scale: &TimeScale,
    end_day: i32,
) -> Option<Folded> {
    let mut table = vec![Running::EMPTY; table_len];
    let mut after_end = 0;
    let mut period_cache = (i32::MIN, 0);
    for chunk in chunks {
        for r in &chunk.buckets[b] {
            if r.day > end_day {
                after_end += 1;
                continue;
            }
            let period = if period_cache.0 == r.day {
                period_cache.1
            } else {
                let p = scale.unit.index(r.day);
                period_cache = (r.day, p);
                p
            };
            table[slot(r.id)].add(period, r.amount).ok()?;
        }
    }
    Some(Folded { table, after_end })
}

/// The numeric path of [`super::summarize_csv_with`]: `data` are the lines after the
/// header that gave `columns`. `chunks_max` caps the number of chunks (tests cut small
/// files in many pieces with it).
pub(super) fn summarize(
    data: &[u8],
    columns: Columns,
    options: &CsvOptions,
    scale: &TimeScale,
    observation_end_day: Option<i32>,
    chunks_max: usize,
) -> Option<CsvSummary> {
    let id_limit = IDS_PER_ROW_MAX * (data.len() as u64 / LINE_BYTES_MIN + 1) + IDS_SLACK;
    let count = (data.len() / CHUNK_BYTES_MIN)
        .min(rayon::current_num_threads() * CHUNKS_PER_THREAD)
        .clamp(1, chunks_max.max(1));
    let pieces = cut(data, count);
    let chunks: Vec<Chunk> = pieces
        .par_iter()
        .map(|piece| parse_chunk(piece, columns, options, id_limit))
        .collect::<Option<Vec<Chunk>>>()?;
    let rows: u64 = chunks.iter().map(|c| c.rows).sum();
    let max_id = chunks.iter().map(|c| c.max_id).max().unwrap_or(0);
    if u64::from(max_id) > IDS_PER_ROW_MAX * rows + IDS_SLACK {
        return None;
    }
    if rows == 0 {
        return Some(CsvSummary {
            summaries: Vec::new(),
            customer_keys: CustomerKeys::numeric(Vec::new()),
            transactions: 0,
            transactions_after_end: 0,
            last_day: None,
            observation_end_day,
        });
    }
    let last_day = chunks.iter().map(|c| c.last_day).max().unwrap_or(i32::MIN);
    let end_day = observation_end_day.unwrap_or(last_day);
    let table_len = slot(max_id) + 1;
    let folded: Vec<Folded> = (0..BUCKETS)
        .into_par_iter()
        .map(|b| fold_bucket(&chunks, b, table_len, scale, end_day))
        .collect::<Option<Vec<Folded>>>()?;
    let mut seen = vec![0u64; max_id as usize / 64 + 1];
    let mut order: Vec<u32> = Vec::with_capacity(chunks.iter().map(|c| c.firsts.len()).sum());
    for chunk in &chunks {
        for &id in &chunk.firsts {
            let (word, bit) = (id as usize / 64, 1u64 << (id % 64));
            if seen[word] & bit == 0 {
                seen[word] |= bit;
                order.push(id);
            }
        }
    }
    drop(chunks);
    let end_period = scale.unit.index(end_day);
    // Written in place (an exact-size collect), then customers without a purchase up
    // to the end (marked by an impossible index) are dropped.
    let none = CustomerSummary {
        customer: u64::MAX,
        frequency: 0,
        recency: 0.0,
        age: 0.0,
        monetary_value: 0.0,
    };
    let mut summaries: Vec<CustomerSummary> = Vec::new();
    order
        .par_iter()
        .enumerate()
        .map(|(index, &id)| {
            folded[bucket(id)].table[slot(id)]
                .summary(index as u64, end_period, scale)
                .unwrap_or(none)
        })
        .collect_into_vec(&mut summaries);
    summaries.retain(|s| s.customer != u64::MAX);
    Some(CsvSummary {
        summaries,
        customer_keys: CustomerKeys::numeric(order),
        transactions: rows,
        transactions_after_end: folded.iter().map(|f| f.after_end).sum(),
        last_day: Some(last_day),
        observation_end_day: Some(end_day),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_and_slots_identify_every_id() {
        let mut seen = std::collections::HashSet::new();
        for id in (0..70_000u32).chain([u32::MAX - 3, u32::MAX]) {
            assert!(seen.insert((bucket(id), slot(id))), "{id}");
        }
        // A common stride of 256 still spreads over the buckets.
        let used: std::collections::HashSet<usize> =
            (0..1024u32).map(|k| bucket(k * 256)).collect();
        assert_eq!(used.len(), BUCKETS);
    }

    fn log(rows: usize, ids: u64, seed: u64) -> String {
        let mut state = seed;
        let mut next = move |n: u64| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) % n
        };
        let mut text = String::from("customer_id,date,amount\n");
        let mut day = crate::calendar::days_from_civil(2020, 1, 1);
        for _ in 0..rows {
            day += i32::from(next(5) == 0);
            let (y, m, d) = crate::calendar::civil_from_days(day);
            let cents = next(100_000);
            text += &format!(
                "{},{y:04}-{m:02}-{d:02},{}.{:02}\n",
                next(ids),
                cents / 100,
                cents % 100
            );
        }
        text
    }

    /// The numeric path takes a plain log with dense ids, and gives the sequential
    /// fold's answer bit for bit however many chunks it cuts the file into.
    #[test]
    fn takes_dense_numeric_logs_and_matches_the_sequential_fold_exactly() {
        let text = log(5_000, 700, 3);
        let bytes = text.as_bytes();
        let options = CsvOptions::default();
        let (columns, header_end) = super::super::header(bytes, &options).unwrap();
        let scale = TimeScale::DAYS_IN_WEEKS;
        let end_day = crate::calendar::days_from_civil(2020, 6, 1);
        let end = Some(end_day);
        let mut fold = super::super::Fold::new(&scale, end_day);
        assert!(fold.lines(bytes, None, &options).unwrap().is_ok());
        let want = fold.finish(end);
        assert!(want.summaries.iter().any(|s| s.frequency > 2));
        for chunks in [1, 2, 5, 64] {
            let got =
                summarize(&bytes[header_end..], columns, &options, &scale, end, chunks).unwrap();
            assert_eq!(got.customer_keys, want.customer_keys);
            assert_eq!(got.summaries.len(), want.summaries.len());
            for (a, b) in got.summaries.iter().zip(&want.summaries) {
                assert_eq!(a.customer, b.customer);
                assert_eq!(a.frequency, b.frequency);
                assert_eq!(a.recency.to_bits(), b.recency.to_bits());
                assert_eq!(a.age.to_bits(), b.age.to_bits());
                assert_eq!(a.monetary_value.to_bits(), b.monetary_value.to_bits());
            }
            assert_eq!(
                (got.transactions, got.transactions_after_end, got.last_day),
                (
                    want.transactions,
                    want.transactions_after_end,
                    want.last_day
                )
            );
        }
        // Without an end, the last purchase day is the end and nothing is left out.
        let open = summarize(&bytes[header_end..], columns, &options, &scale, None, 3).unwrap();
        assert_eq!(open.observation_end_day, open.last_day);
        assert_eq!(open.transactions_after_end, 0);
        assert_eq!(open.transactions, 5_000);
    }

    #[test]
    fn leaves_text_keys_sparse_ids_and_quoted_lines_to_the_general_path() {
        let options = CsvOptions::default();
        let scale = TimeScale::DAYS_IN_WEEKS;
        for text in [
            "customer_id,date,amount\n1,2020-01-01,5\nabc,2020-01-02,5\n",
            "customer_id,date,amount\n1,2020-01-01,5\n4000000000,2020-01-02,5\n",
            "customer_id,date,amount\n1,2020-01-01,5\n\"2\",2020-01-02,5\n",
            "customer_id,date,amount\n1,2020-01-01,5\n01,2020-01-02,5\n",
            "customer_id,date,amount\n1,2020-01-09,5\n1,2020-01-02,5\n",
        ] {
            let bytes = text.as_bytes();
            let (columns, header_end) = super::super::header(bytes, &options).unwrap();
            assert!(
                summarize(&bytes[header_end..], columns, &options, &scale, None, 4).is_none(),
                "{text}"
            );
        }
    }

    /// The strict parser accepts a subset of what the field parser does, with the same
    /// answer: lines near the layout, including every one-byte corruption of one.
    #[test]
    fn the_strict_parser_agrees_with_the_field_parser() {
        let options = CsvOptions::default();
        let mut lines: Vec<Vec<u8>> = [
            "1,2020-01-01,5.00",
            "123456,2020-02-29,0.5",
            "0,2020-01-01,1",
            "01,2020-01-01,1",
            "1, 2020-01-01,1",
            "1,2020-01-01 ,1",
            "1,2020-01-01,1,",
            "1,2020-01-01,",
            "1,2020-1-01,1",
            "1,2021-02-29,1",
            ",2020-01-01,1",
            "1,2020-01-01,1e3",
            "1,2020-01-01,\"1\"",
        ]
        .iter()
        .map(|l| l.as_bytes().to_vec())
        .collect();
        let base = b"12,2020-03-04,56.78".to_vec();
        for at in 0..base.len() {
            for b in [b'0', b'9', b',', b' ', b'-', b'.', b'"', b'a', 0xff] {
                let mut line = base.clone();
                line[at] = b;
                lines.push(line);
            }
        }
        for line in &lines {
            let strict = strict_line(line, &mut IsoCache::default());
            let fields = numeric_line(line, (0, 1, Some(2)), &options, &mut DateCache::default());
            if strict.is_some() {
                assert_eq!(strict, fields, "{}", String::from_utf8_lossy(line));
            }
        }
        assert!(strict_line(&base, &mut IsoCache::default()).is_some());
    }

    #[test]
    fn cuts_at_line_breaks_and_keeps_every_byte() {
        let data = b"1,a\n22,b\n333,c\n4,d";
        for count in 1..8 {
            let pieces = cut(data, count);
            assert_eq!(pieces.concat(), data.to_vec());
            for p in &pieces[..pieces.len() - 1] {
                assert_eq!(p.last(), Some(&b'\n'));
            }
        }
    }
}

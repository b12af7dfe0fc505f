use super::*;
use crate::parse::DateFormat;
use crate::summary::PeriodUnit;

/// The reference answer: parse every transaction, then summarise.
fn reference(
    bytes: &[u8],
    options: &CsvOptions,
    scale: &TimeScale,
    end: i32,
) -> Result<CsvSummary, CsvSummaryError> {
    let log = parse::transactions_csv_with(bytes, options)?;
    let summaries = summary::summarize(&log.transactions, scale, end)?;
    let mut customer_keys = CustomerKeys::default();
    for key in &log.customer_keys {
        customer_keys.push(key);
    }
    Ok(CsvSummary {
        summaries,
        customer_keys,
        transactions: log.transactions.len() as u64,
        transactions_after_end: log.transactions.iter().filter(|t| t.day > end).count() as u64,
        last_day: log.transactions.iter().map(|t| t.day).max(),
        observation_end_day: Some(end),
    })
}

/// Same customers, counts and periods; amounts to rounding (the fold sums in file
/// order). Also with the file cut in two halves folded apart, whatever its size, and
/// cut in up to seven chunks for the numeric path. The transaction reader gives the
/// reference parser's answer exactly.
fn check(bytes: &[u8], options: &CsvOptions, scale: &TimeScale, end: i32) {
    let want = reference(bytes, options, scale, end);
    check_against(summarize_csv(bytes, options, scale, end), &want, bytes);
    if let Ok(Ok(split)) = summarize_fast(bytes, options, scale, Some(end), 1) {
        check_against(Ok(split), &want, bytes);
    }
    for chunks in [2, 7] {
        check_against(
            summarize_csv_inner(bytes, options, scale, Some(end), chunks, 1),
            &want,
            bytes,
        );
    }
    assert_eq!(
        read_transactions(bytes, options),
        parse::transactions_csv_with(bytes, options),
        "input {:?}",
        String::from_utf8_lossy(bytes)
    );
}

fn check_against(
    got: Result<CsvSummary, CsvSummaryError>,
    want: &Result<CsvSummary, CsvSummaryError>,
    bytes: &[u8],
) {
    match (&got, want) {
        (Ok(g), Ok(w)) => {
            assert_eq!(g.customer_keys, w.customer_keys);
            assert_eq!(
                (g.transactions, g.transactions_after_end, g.last_day),
                (w.transactions, w.transactions_after_end, w.last_day)
            );
            assert_eq!(g.summaries.len(), w.summaries.len());
            for (a, b) in g.summaries.iter().zip(&w.summaries) {
                assert_eq!(
                    (a.customer, a.frequency, a.recency, a.age),
                    (b.customer, b.frequency, b.recency, b.age)
                );
                let tolerance = 1e-12 * b.monetary_value.abs().max(1.0);
                assert!((a.monetary_value - b.monetary_value).abs() <= tolerance);
            }
        }
        _ => assert_eq!(&got, want, "input {:?}", String::from_utf8_lossy(bytes)),
    }
}

/// splitmix64: a tiny seeded generator for the property tests.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const END: (i32, u32, u32) = (2020, 3, 31);

fn end_day() -> i32 {
    days_from_civil(END.0, END.1, END.2)
}

#[test]
fn agrees_with_the_reference_on_hand_picked_files() {
    let scale = TimeScale::DAYS_IN_WEEKS;
    let options = CsvOptions::default();
    let cases: &[&str] = &[
        "customer_id,date,amount\n1,2020-01-01,5.00\n1,2020-01-01,2.5\n1,2020-01-08,3\n2,2020-02-01,1.25\n",
        "date,amount,customer_id\r\n2020-01-01,5,a\r\n\r\n2020-01-03,7.125,\"a\"\r\n2020-01-04,1e2,007\r\n2020-01-05,1,7\r\n",
        "customer_id,date,amount\n 1 , 2020-01-01 , 5 \n1,20200102,6\n1,2020-01-03 10:00,7\n",
        "customer_id,date,amount\n1,2020-01-01,5\n1,2020-05-01,5\n2,2020-06-01,1\n3,2020-02-01,2\n",
        // Not in date order per customer: the reference path answers.
        "customer_id,date,amount\n1,2020-01-09,5\n1,2020-01-01,2\n1,2020-01-09,3\n",
        // Errors: bad date, negative amount, missing column, bad quoting, empty key.
        "customer_id,date,amount\n1,2020-02-30,5\n",
        "customer_id,date,amount\n1,2020-02-03,-5\n",
        "customer_id,date\n1,2020-02-03\n",
        "customer_id,date,amount\n\"1,2020-02-03,5\n",
        "customer_id,date,amount\n,2020-02-03,5\n",
        "customer_id,date,amount\n1,2020-02-03\n",
        "",
    ];
    for case in cases {
        check(case.as_bytes(), &options, &scale, end_day());
    }
    let monthly = TimeScale {
        unit: PeriodUnit::Month,
        multiplier: 1.0,
    };
    let us = CsvOptions {
        date_format: Some(DateFormat::parse("%m/%d/%Y").unwrap()),
        ..CsvOptions::default()
    };
    check(
        b"customer_id,date,amount\n1,1/2/2020,5\n1,1/20/2020,5\n1,2/2/2020,1\n",
        &us,
        &monthly,
        end_day(),
    );
}

#[test]
fn agrees_with_the_reference_on_random_logs_and_random_bytes() {
    let scale = TimeScale::DAYS_IN_WEEKS;
    let options = CsvOptions::default();
    let start = days_from_civil(2020, 1, 1);
    for seed in 0..200 {
        let mut rng = SplitMix(seed);
        let mut rows: Vec<(i32, u64, u64)> = (0..rng.below(60))
            .map(|_| {
                (
                    start + rng.below(120) as i32,
                    rng.below(12),
                    rng.below(100_000),
                )
            })
            .collect();
        if seed % 3 != 0 {
            rows.sort_unstable();
        }
        let mut text = String::from("customer_id,date,amount\n");
        for (day, customer, cents) in rows {
            let (y, m, d) = crate::calendar::civil_from_days(day);
            text += &format!(
                "{customer},{y:04}-{m:02}-{d:02},{}.{:02}\n",
                cents / 100,
                cents % 100
            );
        }
        check(text.as_bytes(), &options, &scale, end_day());
        // Corrupt a few bytes: whatever the reference says (answer or error), so do we.
        let mut bytes = text.into_bytes();
        for _ in 0..rng.below(4) {
            if !bytes.is_empty() {
                let at = rng.below(bytes.len() as u64) as usize;
                bytes[at] = b"\",\n-.0x \xff"[rng.below(9) as usize];
            }
        }
        check(&bytes, &options, &scale, end_day());
    }
}

#[test]
fn dense_and_hashed_numeric_ids_and_text_ids_intern_consistently() {
    let mut interner = Interner::default();
    let keys = [
        "5",
        "99999999999",
        "abc",
        "05",
        "5",
        "99999999999",
        "05",
        "abc",
    ];
    let got: Vec<(u32, bool)> = keys.iter().map(|k| interner.intern(k)).collect();
    assert_eq!(
        got,
        vec![
            (0, true),
            (1, true),
            (2, true),
            (3, true),
            (0, false),
            (1, false),
            (3, false),
            (2, false)
        ]
    );
    assert_eq!(interner.keys.get(3).as_deref(), Some("05"));
    assert_eq!(interner.keys.get(4), None);
}

#[test]
fn plain_amounts_parse_exactly_as_the_standard_library() {
    for text in [
        "0",
        "12.34",
        "0.1",
        "999999999999.999",
        "123456789012345",
        "7.0",
    ] {
        assert_eq!(plain_amount(text.as_bytes()), text.parse().ok(), "{text}");
    }
    for text in ["", ".5", "5.", "1.2.3", "1e5", "-1", "1234567890123456"] {
        assert_eq!(plain_amount(text.as_bytes()), None, "{text}");
    }
}

use super::*;
use crate::test_data::read;

#[test]
fn cdnow_sample_parses_every_row() {
    let transactions = cdnow_sample(&read("CDNOW_sample.txt")).unwrap();
    assert_eq!(transactions.len(), 6_919);
    assert_eq!(
        transactions[0],
        Transaction {
            customer: 1,
            day: days_from_civil(1997, 1, 1),
            amount: 29.33
        }
    );
    let customers: std::collections::BTreeSet<u64> =
        transactions.iter().map(|t| t.customer).collect();
    assert_eq!(customers.len(), 2_357);
}

#[test]
fn cdnow_master_parses_every_row() {
    let transactions = cdnow_master(&read("CDNOW_master.txt")).unwrap();
    assert_eq!(transactions.len(), 69_659);
    assert_eq!(transactions[0].customer, 1);
    assert_eq!(transactions[0].amount, 11.77);
}

#[test]
fn csv_parses_and_interns_keys() {
    let text = "date,amount,customer_id\n2020-01-02,10.5,alice\n2020-01-03 00:00:00,\"2\",bob\n20200104,3,alice\n";
    let log = transactions_csv(text.as_bytes()).unwrap();
    assert_eq!(
        log.customer_keys,
        vec!["alice".to_string(), "bob".to_string()]
    );
    let got: Vec<(u64, i32, f64)> = log
        .transactions
        .iter()
        .map(|t| (t.customer, t.day, t.amount))
        .collect();
    let d = days_from_civil(2020, 1, 2);
    assert_eq!(got, vec![(0, d, 10.5), (1, d + 1, 2.0), (0, d + 2, 3.0)]);
}

#[test]
fn errors_name_line_and_column() {
    let cases: Vec<(&str, ParseError)> = vec![
        (
            "customer_id,date,amount\nc1,2020-02-30,1\n",
            ParseError {
                line: 2,
                column: 4,
                kind: ParseErrorKind::BadDate {
                    text: "2020-02-30".into(),
                },
            },
        ),
        (
            "customer_id,date,amount\nc1,2020-02-03,1\nc2,2020-02-03,x1\n",
            ParseError {
                line: 3,
                column: 15,
                kind: ParseErrorKind::BadNumber {
                    field: "amount",
                    text: "x1".into(),
                },
            },
        ),
        (
            "customer_id,date\n",
            ParseError {
                line: 1,
                column: 1,
                kind: ParseErrorKind::MissingHeaderColumn {
                    column: "amount".into(),
                },
            },
        ),
        (
            "customer_id,date,amount\nc1,2020-02-03\n",
            ParseError {
                line: 2,
                column: 14,
                kind: ParseErrorKind::MissingField { field: "amount" },
            },
        ),
    ];
    for (text, want) in cases {
        assert_eq!(transactions_csv(text.as_bytes()), Err(want), "{text}");
    }
    let err = cdnow_sample(" 00004 0001 19970101  2   29.33\r\n 00004 0001 1997013x  2   1\r\n")
        .unwrap_err();
    assert_eq!((err.line, err.column), (2, 13));
}

#[test]
fn csv_quoted_fields_and_custom_columns() {
    let text = "\"Order, id\",Buyer,When,\"Total\"\r\n\"A,1\",\"O'Brien, \"\"Jo\"\"\",03/02/2021,\"1,5\"\nx, bob ,3/4/2021 10:00, 2.5 \n";
    let options = CsvOptions {
        customer_column: "buyer".into(),
        date_column: "when".into(),
        amount_column: Some("total".into()),
        date_format: Some(DateFormat::parse("%m/%d/%Y").unwrap()),
    };
    let err = transactions_csv_with(text.as_bytes(), &options).unwrap_err();
    // "1,5" is not a number: the error points at the quoted field's start.
    assert_eq!((err.line, err.column), (2, 36));
    let text = text.replace("\"1,5\"", "\"1.5\"");
    let log = transactions_csv_with(text.as_bytes(), &options).unwrap();
    assert_eq!(log.customer_keys, vec!["O'Brien, \"Jo\"", "bob"]);
    assert_eq!(log.transactions[0].day, days_from_civil(2021, 3, 2));
    assert_eq!(log.transactions[1].day, days_from_civil(2021, 3, 4));
    assert_eq!(log.transactions[1].amount, 2.5);
}

#[test]
fn csv_rejects_bad_quoting_negative_and_non_finite_amounts() {
    for (text, line, column) in [
        ("customer_id,date,amount\n\"c1,2020-01-01,1\n", 2, 1),
        ("customer_id,date,amount\n\"c1\"x,2020-01-01,1\n", 2, 5),
        ("customer_id,date,amount\nc1,2020-01-01,-1\n", 2, 15),
        ("customer_id,date,amount\nc1,2020-01-01,NaN\n", 2, 15),
        ("customer_id,date,amount\nc1,2020-01-01,inf\n", 2, 15),
        ("customer_id,date,amount\n,2020-01-01,1\n", 2, 1),
    ] {
        let err = transactions_csv(text.as_bytes()).unwrap_err();
        assert_eq!((err.line, err.column), (line, column), "{text:?}: {err}");
    }
}

#[test]
fn date_formats() {
    let f = DateFormat::parse("%d.%m.%Y").unwrap();
    assert_eq!(
        f.parse_date("31.12.1999"),
        Some(days_from_civil(1999, 12, 31))
    );
    assert_eq!(f.parse_date("31.02.1999"), None);
    assert_eq!(f.parse_date("31.12.1999x"), None);
    assert_eq!(f.parse_date("31.12"), None);
    assert!(DateFormat::parse("%Y-%m").is_err());
    assert!(DateFormat::parse("%Y-%m-%d %H").is_err());
}

/// xorshift64*: a seeded byte source for the property test.
fn next(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

#[test]
fn csv_reader_survives_arbitrary_bytes() {
    // Bytes biased towards the characters that matter to the parser.
    const ALPHABET: &[u8] = b",\"\n\r -.0123456789eE%T\xff\xc3\xa9abcdefghijklmnopqrstuvwxyz_";
    let header = b"customer_id,date,amount\n";
    for seed in 1..=3_000u64 {
        let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let len = (next(&mut state) % 200) as usize;
        let mut bytes = if seed.is_multiple_of(2) {
            header.to_vec()
        } else {
            Vec::new()
        };
        for _ in 0..len {
            let r = next(&mut state);
            bytes.push(if r.is_multiple_of(5) {
                (r >> 8) as u8
            } else {
                ALPHABET[(r >> 8) as usize % ALPHABET.len()]
            });
        }
        match transactions_csv(&bytes[..]) {
            Ok(log) => {
                for t in &log.transactions {
                    assert!(t.amount.is_finite() && t.amount >= 0.0, "seed {seed}");
                    assert!(
                        (t.customer as usize) < log.customer_keys.len(),
                        "seed {seed}"
                    );
                }
            }
            Err(e) => {
                let lines = bytes.split(|&b| b == b'\n').count();
                assert!(e.line >= 1 && e.line <= lines, "seed {seed}: {e}");
                assert!(e.column >= 1, "seed {seed}: {e}");
                assert!(!e.to_string().is_empty());
            }
        }
    }
}

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
                kind: ParseErrorKind::MissingHeaderColumn { column: "amount" },
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

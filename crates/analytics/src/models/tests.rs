use super::*;
use crate::test_data::cdnow_rows;

fn row(frequency: u32, recency: f64, age: f64) -> CustomerRow {
    CustomerRow {
        frequency,
        recency,
        age,
    }
}

#[test]
fn compress_merges_identical_rows_and_keeps_the_total_weight() {
    let rows = cdnow_rows();
    let compressed = compress(&rows);
    let total: f64 = compressed.iter().map(|r| r.weight).sum();
    assert_eq!(total, rows.len() as f64);
    assert!(compressed.len() < rows.len());
    let mut keys: Vec<_> = rows
        .iter()
        .map(|r| (r.frequency, r.recency.to_bits(), r.age.to_bits()))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(compressed.len(), keys.len());
}

#[test]
fn degenerate_data_is_an_error() {
    let w = |r: CustomerRow| WeightedRow {
        frequency: r.frequency,
        recency: r.recency,
        age: r.age,
        weight: 1.0,
    };
    let cases: Vec<(Vec<CustomerRow>, FitError)> = vec![
        (
            vec![row(1, 2.0, 3.0)],
            FitError::TooFewCustomers {
                customers: 1.0,
                min: MIN_CUSTOMERS,
            },
        ),
        (
            vec![row(0, 0.0, 3.0), row(0, 0.0, 5.0)],
            FitError::NoRepeatBuyers,
        ),
        (
            vec![row(2, 1.0, 3.0), row(2, 1.0, 3.0)],
            FitError::IdenticalRows,
        ),
        (
            vec![row(2, 4.0, 3.0), row(2, 1.0, 3.0)],
            FitError::InvalidInput {
                row: 0,
                reason: "recency exceeds age (T)",
            },
        ),
        (
            vec![row(0, 1.0, 3.0), row(2, 1.0, 3.0)],
            FitError::InvalidInput {
                row: 0,
                reason: "recency must be 0 when frequency is 0",
            },
        ),
    ];
    for (rows, want) in cases {
        let weighted: Vec<WeightedRow> = rows.into_iter().map(w).collect();
        assert_eq!(validate_continuous(&weighted), Err(want));
    }
}

#[test]
fn weighted_sum_is_the_same_serial_and_parallel() {
    let rows: Vec<WeightedRow> = (0..PARALLEL_ROWS_MIN as u32 + 10)
        .map(|i| WeightedRow {
            frequency: i % 7,
            recency: f64::from(i % 5),
            age: 10.0,
            weight: 1.0 + f64::from(i % 3),
        })
        .collect();
    let data = GroupedRows::new(rows.clone());
    let parallel = data.weighted_sum(|r, slot| {
        assert_eq!(data.distinct_frequencies[slot], r.frequency);
        r.recency + 1.0
    });
    let serial: f64 = rows.iter().map(|r| r.weight * (r.recency + 1.0)).sum();
    assert!((parallel - serial).abs() < 1e-6 * serial);
}

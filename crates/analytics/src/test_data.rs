//! Loaders for the shared CDNOW / donations reference files, for unit tests only.

use crate::models::CustomerRow;

pub(crate) fn read(name: &str) -> String {
    let path = format!(
        "{}/../../../shared/data/cdnow/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// One row of `cdnow_customers_summary_with_transactions.csv`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CdnowSummaryRow {
    pub(crate) id: u64,
    pub(crate) row: CustomerRow,
    pub(crate) zbar: f64,
}

pub(crate) fn cdnow_summary() -> Vec<CdnowSummaryRow> {
    read("cdnow_customers_summary_with_transactions.csv")
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.trim().split(',').collect();
            CdnowSummaryRow {
                id: f[0].parse().unwrap(),
                row: CustomerRow {
                    frequency: f[1].parse().unwrap(),
                    recency: f[2].parse().unwrap(),
                    age: f[3].parse().unwrap(),
                },
                zbar: f[4].parse().unwrap(),
            }
        })
        .collect()
}

pub(crate) fn cdnow_rows() -> Vec<CustomerRow> {
    cdnow_summary().iter().map(|r| r.row).collect()
}

/// `donations.csv`: (frequency, recency, periods, weight).
pub(crate) fn donations() -> Vec<(u32, u32, u32, f64)> {
    read("donations.csv")
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.trim().split(',').collect();
            (
                f[0].parse().unwrap(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
                f[3].parse().unwrap(),
            )
        })
        .collect()
}

/// Asserts |got − want| ≤ tolerance, naming the quantity.
pub(crate) fn assert_close(what: &str, got: f64, want: f64, tolerance: f64) {
    assert!(
        (got - want).abs() <= tolerance,
        "{what}: got {got}, want {want} ± {tolerance}"
    );
}

/// Asserts a relative difference of at most `tolerance`.
pub(crate) fn assert_relative(what: &str, got: f64, want: f64, tolerance: f64) {
    assert!(
        ((got - want) / want).abs() <= tolerance,
        "{what}: got {got}, want {want} (relative tolerance {tolerance})"
    );
}

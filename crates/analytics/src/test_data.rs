//! Loaders for the shared CDNOW / donations reference files, for unit tests only.

use crate::models::CustomerRow;

pub(crate) fn read(name: &str) -> String {
    let path = format!("{}/../../testdata/cdnow/{name}", env!("CARGO_MANIFEST_DIR"));
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

/// The CDNOW calibration / holdout split computed from `CDNOW_sample.txt`.
pub(crate) fn cdnow_holdout() -> Vec<crate::summary::CalibrationHoldoutSummary> {
    use crate::calendar::days_from_civil;
    let transactions = crate::parse::cdnow_sample(&read("CDNOW_sample.txt")).unwrap();
    crate::summary::calibration_and_holdout(
        &transactions,
        &crate::summary::TimeScale::DAYS_IN_WEEKS,
        days_from_civil(1997, 9, 30),
        days_from_civil(1998, 6, 30),
    )
    .unwrap()
}

/// Holdout checks shared by the purchase models: Σ conditional E[Y(39)] over
/// customers, Σ (E[X(T+39)] − E[X(T)]) and corr(conditional, actual).
pub(crate) fn holdout_figures(model: &dyn crate::models::PurchaseModel) -> (f64, f64, f64) {
    let rows = cdnow_rows();
    let actual: Vec<f64> = cdnow_holdout()
        .iter()
        .map(|h| f64::from(h.frequency_holdout))
        .collect();
    let predicted: Vec<f64> = rows
        .iter()
        .map(|r| model.conditional_expected_purchases(r, 39.0))
        .collect();
    let unconditional: f64 = rows
        .iter()
        .map(|r| {
            model.expected_purchases_new_customer(r.age + 39.0)
                - model.expected_purchases_new_customer(r.age)
        })
        .sum();
    let n = rows.len() as f64;
    let (mp, ma) = (
        predicted.iter().sum::<f64>() / n,
        actual.iter().sum::<f64>() / n,
    );
    let cov: f64 = predicted
        .iter()
        .zip(&actual)
        .map(|(p, a)| (p - mp) * (a - ma))
        .sum();
    let vp: f64 = predicted.iter().map(|p| (p - mp).powi(2)).sum();
    let va: f64 = actual.iter().map(|a| (a - ma).powi(2)).sum();
    (
        predicted.iter().sum(),
        unconditional,
        cov / (vp * va).sqrt(),
    )
}

use super::*;
use crate::test_data::{assert_close, assert_relative, cdnow_summary};

fn cdnow_spend() -> Vec<SpendRow> {
    cdnow_summary()
        .iter()
        .map(|r| SpendRow {
            frequency: r.row.frequency,
            monetary_value: r.zbar,
        })
        .collect()
}

#[test]
fn fit_matches_lifetimes_on_cdnow() {
    let report = fit(&cdnow_spend(), &FitOptions::default()).unwrap();
    let p = report.params;
    assert_relative("p", p.p, 6.248802, 1e-4);
    assert_relative("q", p.q, 3.744588, 1e-4);
    assert_relative("gamma", p.gamma, 15.447748, 1e-4);
    assert_close("LL", report.log_likelihood, -4055.9232, 1e-3);
    assert!(report.warnings.is_empty() && report.standard_errors.is_some());
    assert_close(
        "population mean",
        p.population_mean_spend().unwrap(),
        35.17,
        0.01,
    );
    let spend = cdnow_spend();
    let mean_conditional = spend
        .iter()
        .filter(|r| r.frequency > 0)
        .map(|r| {
            p.conditional_expected_spend(r.frequency, r.monetary_value)
                .unwrap()
        })
        .sum::<f64>()
        / 946.0;
    assert_close("mean conditional spend", mean_conditional, 35.38, 0.01);
}

#[test]
fn invalid_spend_is_rejected_and_q_below_one_has_no_mean() {
    let rows = [
        SpendRow {
            frequency: 1,
            monetary_value: 10.0,
        },
        SpendRow {
            frequency: 2,
            monetary_value: 0.0,
        },
    ];
    assert_eq!(
        fit(&rows, &FitOptions::default()),
        Err(FitError::InvalidInput {
            row: 1,
            reason: "monetary value of a repeat buyer must be positive"
        })
    );
    let heavy_tail = GammaGammaParams {
        p: 2.0,
        q: 0.8,
        gamma: 3.0,
    };
    assert_eq!(heavy_tail.conditional_expected_spend(3, 20.0), None);
}

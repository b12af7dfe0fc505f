use super::*;
use crate::test_data::{assert_close, assert_relative, cdnow_rows, cdnow_summary, holdout_figures};

/// lifetimes 0.11.3 estimates on CDNOW (analytics.md §3.1).
const LIFETIMES: BgNbdParams = BgNbdParams {
    r: 0.242593,
    alpha: 4.413532,
    a: 0.792886,
    b: 2.425752,
};

#[test]
fn fit_matches_lifetimes_on_cdnow() {
    let report = fit(&cdnow_rows(), &FitOptions::default()).unwrap();
    let p = report.params;
    for (name, got, want) in [
        ("r", p.r, LIFETIMES.r),
        ("alpha", p.alpha, LIFETIMES.alpha),
        ("a", p.a, LIFETIMES.a),
        ("b", p.b, LIFETIMES.b),
    ] {
        assert_relative(name, got, want, 1e-4);
    }
    assert_close("LL", report.log_likelihood, -9582.4256, 1e-3);
    assert!(report.converged && report.gradient_norm < 1e-5);
    let se = report.standard_errors.unwrap();
    // lifetimes' standard errors: 0.0126, 0.378, 0.186, 0.705.
    for (name, got, want) in [
        ("se r", se.r, 0.0126),
        ("se alpha", se.alpha, 0.378),
        ("se a", se.a, 0.186),
        ("se b", se.b, 0.705),
    ] {
        assert_relative(name, got, want, 0.01);
    }
}

#[test]
fn log_likelihood_at_lifetimes_parameters() {
    let rows = crate::models::compress(&cdnow_rows());
    assert_close("LL", log_likelihood(&LIFETIMES, &rows), -9582.4256, 1e-3);
}

#[test]
fn point_predictions_match_hardie() {
    let p = LIFETIMES;
    let customer_1 = cdnow_summary()[0].row;
    assert_close(
        "E[Y(39)] customer 1",
        p.conditional_expected_purchases(&customer_1, 39.0),
        1.225910,
        1e-5,
    );
    for (t, want) in [
        (1.0 / 7.0, 0.007816),
        (1.0, 0.053185),
        (3.0, 0.150632),
        (31.8571, 1.040494),
        (32.0, 1.043737),
        (78.0, 1.857972),
    ] {
        assert_close(
            &format!("E[X({t})]"),
            p.expected_purchases_new_customer(t),
            want,
            1e-5,
        );
    }
    assert_close(
        "P(X(39)=0)",
        p.probability_of_purchases(39.0, 0),
        0.574307,
        1e-6,
    );
    let total: f64 = (0..200).map(|n| p.probability_of_purchases(39.0, n)).sum();
    assert_close("sum of P(X(39)=n)", total, 1.0, 1e-9);
}

#[test]
fn probability_alive_distribution_matches_r_btyd() {
    let mut alive: Vec<f64> = cdnow_rows()
        .iter()
        .map(|r| LIFETIMES.probability_alive(r))
        .collect();
    alive.sort_by(f64::total_cmp);
    let mean = alive.iter().sum::<f64>() / alive.len() as f64;
    assert_close("mean P(alive)", mean, 0.81344, 1e-4);
    assert_close("median P(alive)", alive[alive.len() / 2], 1.0, 1e-12);
    // Q1 (numpy linear interpolation at 0.25 (n − 1)).
    let pos = 0.25 * (alive.len() - 1) as f64;
    let q1 = alive[pos as usize] + (pos.fract()) * (alive[pos as usize + 1] - alive[pos as usize]);
    assert_close("Q1 P(alive)", q1, 0.66041, 1e-4);
}

#[test]
fn large_frequencies_stay_finite() {
    let row = CustomerRow {
        frequency: 5_000,
        recency: 38.99,
        age: 39.0,
    };
    let e = LIFETIMES.conditional_expected_purchases(&row, 39.0);
    assert!(e.is_finite() && e > 1_000.0, "{e}");
    assert!(row_log_likelihood(&LIFETIMES, &row).is_finite());
}

#[test]
fn holdout_sums_match_lifetimes() {
    let fitted = fit(&cdnow_rows(), &FitOptions::default()).unwrap().params;
    let (conditional, unconditional, correlation) = holdout_figures(&fitted);
    assert_close("sum conditional E[Y(39)]", conditional, 1653.4, 0.1);
    assert_close("sum unconditional", unconditional, 1666.7, 0.1);
    assert_close("corr with actual", correlation, 0.6256, 1e-4);
}

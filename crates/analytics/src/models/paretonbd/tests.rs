use super::*;
use crate::special::GAUSS_LEGENDRE_NODES;
use crate::test_data::{assert_close, assert_relative, cdnow_rows, holdout_figures};

const LIFETIMES: ParetoNbdParams = ParetoNbdParams {
    r: 0.553278,
    alpha: 10.577565,
    s: 0.606197,
    beta: 11.667573,
};

#[test]
fn log_likelihood_at_lifetimes_parameters_matches_closed_form() {
    let rows = crate::models::compress(&cdnow_rows());
    assert_close("LL", log_likelihood(&LIFETIMES, &rows), -9594.9740, 2e-4);
}

#[test]
fn quadrature_agrees_with_64_nodes_including_large_frequencies_and_alpha_much_below_beta() {
    let fine = gauss_legendre_nodes(GAUSS_LEGENDRE_NODES);
    let mut rows = cdnow_rows();
    rows.extend([
        CustomerRow {
            frequency: 400,
            recency: 20.0,
            age: 39.0,
        },
        CustomerRow {
            frequency: 5_000,
            recency: 38.5,
            age: 39.0,
        },
        CustomerRow {
            frequency: 3,
            recency: 0.01,
            age: 500.0,
        },
    ]);
    for p in [
        LIFETIMES,
        ParetoNbdParams {
            r: 2.0,
            alpha: 0.5,
            s: 3.0,
            beta: 80.0,
        },
    ] {
        for row in &rows {
            let (a, d) = log_parts(&p, row, nodes());
            let (a64, d64) = log_parts(&p, row, &fine);
            let got = log_add_exp(a, d);
            let want = log_add_exp(a64, d64);
            // Per-customer log-likelihood error ≤ 1e-7 relative (about 1e-9 at the CDNOW estimates).
            assert!(
                got.is_finite() && (got - want).abs() < 1e-7 * want.abs().max(1.0),
                "{p:?} {row:?}: {got} vs {want}"
            );
        }
    }
}

#[test]
fn fit_reaches_the_published_optimum() {
    let report = fit(&cdnow_rows(), &FitOptions::default()).unwrap();
    assert!(
        report.log_likelihood >= -9594.974,
        "{}",
        report.log_likelihood
    );
    let p = report.params;
    assert_relative("r", p.r, LIFETIMES.r, 1e-3);
    assert_relative("alpha", p.alpha, LIFETIMES.alpha, 1e-3);
    assert_relative("s", p.s, LIFETIMES.s, 1e-3);
    assert_relative("beta", p.beta, LIFETIMES.beta, 1e-3);
    let (conditional, unconditional, correlation) = holdout_figures(&p);
    assert_close("sum conditional E[Y(39)]", conditional, 1665.5, 0.1);
    assert_close("sum unconditional", unconditional, 1745.2, 0.1);
    assert_close("corr with actual", correlation, 0.6302, 1e-4);
}

#[test]
fn probability_alive_distribution_matches_r_btyd() {
    let mut alive: Vec<f64> = cdnow_rows()
        .iter()
        .map(|r| LIFETIMES.probability_alive(r))
        .collect();
    alive.sort_by(f64::total_cmp);
    let mean = alive.iter().sum::<f64>() / alive.len() as f64;
    assert_close("mean P(alive)", mean, 0.44628, 1e-4);
    assert_close("median P(alive)", alive[alive.len() / 2], 0.35003, 1e-4);
}

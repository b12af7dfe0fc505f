use super::*;
use crate::test_data::{assert_close, assert_relative, donations};

fn donation_rows() -> Vec<BgBbRow> {
    donations()
        .into_iter()
        .map(|(frequency, recency, periods, weight)| BgBbRow {
            frequency,
            recency,
            periods,
            weight,
        })
        .collect()
}

#[test]
fn fit_matches_lifetimes_on_donations() {
    let rows = donation_rows();
    let report = fit(&rows, &FitOptions::default()).unwrap();
    let p = report.params;
    assert_relative("alpha", p.alpha, 1.203522, 1e-4);
    assert_relative("beta", p.beta, 0.749716, 1e-4);
    assert_relative("gamma", p.gamma, 0.656718, 1e-4);
    assert_relative("delta", p.delta, 2.783442, 1e-4);
    assert_close("LL", report.log_likelihood, -33225.581, 1e-3);
    let expected: f64 = rows
        .iter()
        .map(|r| r.weight * p.conditional_expected_purchases(r, 5))
        .sum();
    assert_close("sum E[next 5]", expected, 12_884.16, 0.1);
    let alive = p.probability_alive(&rows[0]);
    assert!(alive > 0.0 && alive < 1.0);
}

#[test]
fn inconsistent_patterns_are_rejected() {
    let mut rows = donation_rows();
    rows[3].frequency = rows[3].recency + 1;
    assert_eq!(
        fit(&rows, &FitOptions::default()),
        Err(FitError::InvalidInput {
            row: 3,
            reason: "frequency exceeds recency"
        })
    );
}

#[test]
fn analytic_gradient_matches_finite_differences() {
    let rows = donation_rows();
    for p in [
        BgBbParams {
            alpha: 1.2,
            beta: 0.75,
            gamma: 0.66,
            delta: 2.8,
        },
        BgBbParams {
            alpha: 0.3,
            beta: 4.0,
            gamma: 2.5,
            delta: 0.4,
        },
    ] {
        let (value, gradient) = log_likelihood_and_gradient(&p, &rows);
        assert_close("LL", value, log_likelihood(&p, &rows), 1e-6 * value.abs());
        let theta = p.to_vec();
        for i in 0..4 {
            let h = 1e-6 * theta[i];
            let (mut up, mut down) = (theta.clone(), theta.clone());
            up[i] += h;
            down[i] -= h;
            let numeric = (log_likelihood(&BgBbParams::from_slice(&up), &rows)
                - log_likelihood(&BgBbParams::from_slice(&down), &rows))
                / (2.0 * h);
            assert_relative(BgBbParams::NAMES[i], gradient[i], numeric, 1e-5);
        }
    }
}

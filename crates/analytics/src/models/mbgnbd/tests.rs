use super::*;
use crate::test_data::{assert_close, assert_relative, cdnow_rows, holdout_figures};

#[test]
fn fit_and_holdout_match_lifetimes_on_cdnow() {
    let report = fit(&cdnow_rows(), &FitOptions::default()).unwrap();
    let p = report.params;
    assert_relative("r", p.r, 0.524838, 1e-4);
    assert_relative("alpha", p.alpha, 6.182988, 1e-4);
    assert_relative("a", p.a, 0.891356, 1e-4);
    assert_relative("b", p.b, 1.614000, 1e-4);
    assert_close("LL", report.log_likelihood, -9582.1327, 1e-3);
    let (conditional, unconditional, correlation) = holdout_figures(&p);
    assert_close("sum conditional E[Y(39)]", conditional, 1576.7, 0.1);
    assert_close("sum unconditional", unconditional, 1574.3, 0.1);
    assert_close("corr with actual", correlation, 0.6272, 1e-4);
}

#[test]
fn customers_without_repeats_can_be_dead() {
    let p = MbgNbdParams {
        r: 0.524838,
        alpha: 6.182988,
        a: 0.891356,
        b: 1.614,
    };
    let row = CustomerRow {
        frequency: 0,
        recency: 0.0,
        age: 38.86,
    };
    let alive = p.probability_alive(&row);
    assert!(alive > 0.0 && alive < 1.0, "{alive}");
}

use super::*;

fn check_close(got: f64, want: f64, tolerance: f64) {
    assert!(
        (got - want).abs() <= tolerance * want.abs().max(1.0),
        "got {got}, want {want}"
    );
}

#[test]
fn ln_gamma_matches_known_values() {
    // (x, ln Γ(x)) from tables / exact factorials.
    let cases = [
        (1.0, 0.0),
        (2.0, 0.0),
        (0.5, 0.5723649429247001),
        (3.5, 1.2009736023470743),
        (10.0, 362_880.0_f64.ln()),
        (20.0, 121_645_100_408_832_000.0_f64.ln()),
        (0.1, 2.252712651734206),
        (101.0, 363.73937555556347),
    ];
    for (x, want) in cases {
        check_close(ln_gamma(x), want, 1e-13);
    }
}

#[test]
fn ln_gamma_is_continuous_at_the_stirling_switch() {
    let below = ln_gamma(LN_GAMMA_STIRLING_MIN - 1e-9);
    let above = ln_gamma(LN_GAMMA_STIRLING_MIN);
    check_close(below, above, 1e-9);
}

#[test]
fn log_add_exp_handles_infinities_and_large_values() {
    assert_eq!(
        log_add_exp(f64::NEG_INFINITY, f64::NEG_INFINITY),
        f64::NEG_INFINITY
    );
    check_close(log_add_exp(f64::NEG_INFINITY, 3.0), 3.0, 1e-15);
    check_close(log_add_exp(1000.0, 1000.0), 1000.0 + 2f64.ln(), 1e-15);
    check_close(log_sum_exp(&[0.0, 0.0, 0.0]), 3f64.ln(), 1e-15);
}

#[test]
fn hyp2f1_matches_closed_forms() {
    // ₂F₁(1, 1; 2; z) = −ln(1 − z) / z.
    for z in [0.1, 0.5, 0.9, 0.99] {
        check_close(
            hyp2f1(1.0, 1.0, 2.0, z).unwrap(),
            -(1.0 - z).ln() / z,
            1e-12,
        );
    }
    // ₂F₁(a, b; b; z) = (1 − z)^(−a).
    check_close(
        hyp2f1(2.5, 3.0, 3.0, 0.3).unwrap(),
        0.7f64.powf(-2.5),
        1e-13,
    );
    assert_eq!(hyp2f1(1.0, 1.0, 2.0, 1.0), None);
}

#[test]
fn gauss_legendre_integrates_polynomials_exactly() {
    let nodes = gauss_legendre();
    assert_eq!(nodes.len(), GAUSS_LEGENDRE_NODES);
    let total_weight: f64 = nodes.iter().map(|(_, w)| w).sum();
    check_close(total_weight, 2.0, 1e-13);
    // ∫ x^10 dx over [−1, 1] = 2/11.
    let integral: f64 = nodes.iter().map(|(x, w)| w * x.powi(10)).sum();
    check_close(integral, 2.0 / 11.0, 1e-13);
}

#[test]
fn digamma_matches_known_values_and_the_derivative_of_ln_gamma() {
    // ψ(1) = −γ, ψ(1/2) = −γ − 2 ln 2, ψ(10) = H₉ − γ.
    let euler = 0.577_215_664_901_532_9;
    check_close(digamma(1.0), -euler, 1e-14);
    check_close(digamma(0.5), -euler - 2.0 * 2f64.ln(), 1e-14);
    let h9: f64 = (1..10).map(|k| 1.0 / f64::from(k)).sum();
    check_close(digamma(10.0), h9 - euler, 1e-14);
    for x in [1e-3, 0.3, 2.5, 7.0, 40.0, 1e4] {
        let h = 1e-5 * x;
        let numeric = (ln_gamma(x + h) - ln_gamma(x - h)) / (2.0 * h);
        let got = digamma(x);
        assert!(
            (got - numeric).abs() < 1e-6 * got.abs().max(1.0),
            "ψ({x}) = {got}, numeric {numeric}"
        );
    }
    assert!(digamma(0.0).is_nan() && digamma(-1.0).is_nan());
}

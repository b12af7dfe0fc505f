//! Special functions the models need, written for accuracy on the ranges the
//! BTYD likelihoods visit: ln Γ, ln B, log-sum-exp, the Gauss hypergeometric
//! series ₂F₁ and Gauss–Legendre quadrature nodes. Everything works in log space
//! where the quantities can overflow.

use std::f64::consts::PI;
use std::sync::OnceLock;

/// Lanczos coefficients for g = 7, n = 9 (relative error about 1e-15 for x > 0).
const LANCZOS_G: f64 = 7.0;
const LANCZOS_COEFFICIENTS: [f64; 9] = [
    0.999_999_999_999_809_9,
    676.520_368_121_885_1,
    -1_259.139_216_722_402_8,
    771.323_428_777_653_1,
    -176.615_029_162_140_6,
    12.507_343_278_686_905,
    -0.138_571_095_265_720_12,
    9.984_369_578_019_572e-6,
    1.505_632_735_149_311_6e-7,
];

/// Above this argument ln Γ uses the Stirling series, which is more accurate there.
const LN_GAMMA_STIRLING_MIN: f64 = 15.0;

/// Most terms the ₂F₁ series may sum before giving up.
pub const HYP2F1_TERMS_MAX: usize = 2_000_000;

/// Relative size of the last ₂F₁ term below which the series has converged.
const HYP2F1_RELATIVE_TOLERANCE: f64 = 1e-16;

/// Number of Gauss–Legendre nodes used by [`gauss_legendre`].
pub const GAUSS_LEGENDRE_NODES: usize = 64;

/// Natural logarithm of the gamma function for `x > 0`.
///
/// Returns `+inf` at 0 and NaN for negative or NaN input; the callers validate
/// parameters first, so those values never reach a likelihood.
pub fn ln_gamma(x: f64) -> f64 {
    if x.is_nan() || x < 0.0 {
        return f64::NAN;
    }
    if x == 0.0 {
        return f64::INFINITY;
    }
    if x < 0.5 {
        // Reflection: Γ(x) Γ(1 − x) = π / sin(πx).
        return (PI / (PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    if x >= LN_GAMMA_STIRLING_MIN {
        return ln_gamma_stirling(x);
    }
    let z = x - 1.0;
    let mut sum = LANCZOS_COEFFICIENTS[0];
    for (i, c) in LANCZOS_COEFFICIENTS.iter().enumerate().skip(1) {
        sum += c / (z + i as f64);
    }
    let t = z + LANCZOS_G + 0.5;
    0.5 * (2.0 * PI).ln() + (z + 0.5) * t.ln() - t + sum.ln()
}

fn ln_gamma_stirling(x: f64) -> f64 {
    // ln Γ(x) = (x − ½) ln x − x + ½ ln 2π + Σ B₂ₖ / (2k (2k−1) x^(2k−1)).
    let inv = 1.0 / x;
    let inv2 = inv * inv;
    let series = inv
        * (1.0 / 12.0
            + inv2
                * (-1.0 / 360.0
                    + inv2 * (1.0 / 1260.0 + inv2 * (-1.0 / 1680.0 + inv2 * (1.0 / 1188.0)))));
    (x - 0.5) * x.ln() - x + 0.5 * (2.0 * PI).ln() + series
}

/// Below this argument [`digamma`] shifts up by the recurrence ψ(x) = ψ(x+1) − 1/x.
const DIGAMMA_ASYMPTOTIC_MIN: f64 = 10.0;

/// The digamma function ψ(x) = d ln Γ(x) / dx for `x > 0` (NaN otherwise):
/// recurrence up to x ≥ 10, then the asymptotic series (error below 1e-15).
pub fn digamma(x: f64) -> f64 {
    if x.is_nan() || x <= 0.0 {
        return f64::NAN;
    }
    let mut x = x;
    let mut shift = 0.0;
    while x < DIGAMMA_ASYMPTOTIC_MIN {
        shift -= 1.0 / x;
        x += 1.0;
    }
    let inv = 1.0 / x;
    let inv2 = inv * inv;
    // ψ(x) ~ ln x − 1/(2x) − Σ B₂ₖ / (2k x^(2k)).
    let series = inv2
        * (1.0 / 12.0
            - inv2
                * (1.0 / 120.0
                    - inv2
                        * (1.0 / 252.0
                            - inv2
                                * (1.0 / 240.0
                                    - inv2 * (1.0 / 132.0 - inv2 * (691.0 / 32760.0))))));
    shift + x.ln() - 0.5 * inv - series
}

/// ln B(a, b) = ln Γ(a) + ln Γ(b) − ln Γ(a + b).
pub fn ln_beta(a: f64, b: f64) -> f64 {
    ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b)
}

/// ln(eᵃ + eᵇ) without overflow; `-inf` operands are allowed.
pub fn log_add_exp(a: f64, b: f64) -> f64 {
    let (hi, lo) = if a >= b { (a, b) } else { (b, a) };
    if hi == f64::NEG_INFINITY {
        return f64::NEG_INFINITY;
    }
    hi + (lo - hi).exp().ln_1p()
}

/// ln Σ eᵛ over `values` without overflow; `-inf` for an empty slice.
pub fn log_sum_exp(values: &[f64]) -> f64 {
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if hi == f64::NEG_INFINITY {
        return hi;
    }
    hi + values.iter().map(|v| (v - hi).exp()).sum::<f64>().ln()
}

/// Gauss hypergeometric function ₂F₁(a, b; c; z) by its power series, for
/// `0 ≤ z < 1`.
///
/// Callers arrange the parameters (Euler's transformation) so that the terms stay
/// bounded; the series is then summed directly. Returns `None` when the series
/// does not converge within [`HYP2F1_TERMS_MAX`] terms or a term is not finite.
pub fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> Option<f64> {
    if !(0.0..1.0).contains(&z) {
        return None;
    }
    let mut term = 1.0_f64;
    let mut sum = 1.0_f64;
    for n in 0..HYP2F1_TERMS_MAX {
        let n = n as f64;
        term *= (a + n) * (b + n) / ((c + n) * (n + 1.0)) * z;
        sum += term;
        if !term.is_finite() || !sum.is_finite() {
            return None;
        }
        if term.abs() <= HYP2F1_RELATIVE_TOLERANCE * sum.abs() || term == 0.0 {
            return Some(sum);
        }
    }
    None
}

/// c · (₂F₁(a, b; c; z) − 1) / b for `0 ≤ z < 1`, summed as
/// Σₙ₌₁ (a)ₙ (b+1)ₙ₋₁ / ((c+1)ₙ₋₁ n!) zⁿ, i.e. without dividing by `b` or `c`:
/// finite at b = 0 (the BG/NBD expectations at a = 1) and at c = 0
/// (a + b + x − 1 = 0), where the textbook forms are 0/0. Needs c > −1.
/// `None` when the series does not converge or a term is not finite.
pub fn hyp2f1_scaled_excess(a: f64, b: f64, c: f64, z: f64) -> Option<f64> {
    if !(0.0..1.0).contains(&z) || c <= -1.0 {
        return None;
    }
    let mut term = a * z;
    let mut sum = term;
    if term == 0.0 {
        return Some(0.0);
    }
    for n in 1..HYP2F1_TERMS_MAX {
        let n = n as f64;
        term *= (a + n) * (b + n) / ((c + n) * (n + 1.0)) * z;
        sum += term;
        if !term.is_finite() || !sum.is_finite() {
            return None;
        }
        if term.abs() <= HYP2F1_RELATIVE_TOLERANCE * sum.abs() || term == 0.0 {
            return Some(sum);
        }
    }
    None
}

/// −(e^(εL) − 1) / ε with its ε → 0 limit −L.
pub fn expm1_ratio(epsilon: f64, log_base: f64) -> f64 {
    if epsilon == 0.0 {
        -log_base
    } else {
        -(epsilon * log_base).exp_m1() / epsilon
    }
}

/// Gauss–Legendre nodes and weights on [−1, 1] with [`GAUSS_LEGENDRE_NODES`]
/// points, computed once by Newton's method on the Legendre polynomial.
pub fn gauss_legendre() -> &'static [(f64, f64)] {
    static NODES: OnceLock<Vec<(f64, f64)>> = OnceLock::new();
    NODES.get_or_init(|| gauss_legendre_nodes(GAUSS_LEGENDRE_NODES))
}

/// Gauss–Legendre nodes and weights on [−1, 1] for `n` points.
pub fn gauss_legendre_nodes(n: usize) -> Vec<(f64, f64)> {
    let nf = n as f64;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let mut x = (PI * (i as f64 + 0.75) / (nf + 0.5)).cos();
        let mut derivative = 0.0;
        for _ in 0..100 {
            // Legendre recurrence for P_n(x) and its derivative.
            let mut p0 = 1.0;
            let mut p1 = x;
            for k in 2..=n {
                let k = k as f64;
                let p2 = ((2.0 * k - 1.0) * x * p1 - (k - 1.0) * p0) / k;
                p0 = p1;
                p1 = p2;
            }
            derivative = nf * (x * p1 - p0) / (x * x - 1.0);
            let step = p1 / derivative;
            x -= step;
            if step.abs() < 1e-15 {
                break;
            }
        }
        let weight = 2.0 / ((1.0 - x * x) * derivative * derivative);
        out.push((x, weight));
    }
    out
}

#[cfg(test)]
mod tests;

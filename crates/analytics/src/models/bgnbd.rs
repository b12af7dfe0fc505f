//! BG/NBD (Fader, Hardie & Lee 2005): Poisson purchasing with gamma(r, α)
//! heterogeneous rates, geometric dropout after each repeat purchase with
//! beta(a, b) heterogeneous probabilities. Likelihood (eq. 6) in log space,
//! P(alive), conditional and unconditional expectations (eqs. 9–10, through
//! Euler's transformation of ₂F₁ so large x cannot overflow) and P(X(t) = n)
//! (eq. 8).

use super::{
    CustomerRow, FitError, FitOptions, FitReport, GroupedRows, ModelParams, PurchaseModel,
    WeightedRow, compress, fit_by_log_parameters_with_gradient, validate_continuous,
};
use crate::special::{digamma, expm1_ratio, hyp2f1_scaled_excess, ln_beta, ln_gamma, log_add_exp};

/// BG/NBD parameters: purchase rate λ ~ gamma(shape `r`, rate `alpha`),
/// dropout probability p ~ beta(`a`, `b`). `alpha` is in the data's time unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BgNbdParams {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
}

impl ModelParams for BgNbdParams {
    const NAMES: &'static [&'static str] = &["r", "alpha", "a", "b"];
    fn to_vec(&self) -> Vec<f64> {
        vec![self.r, self.alpha, self.a, self.b]
    }
    fn from_slice(v: &[f64]) -> Self {
        Self {
            r: v[0],
            alpha: v[1],
            a: v[2],
            b: v[3],
        }
    }
}

/// Per-frequency constants of the likelihood.
#[derive(Debug, Clone, Copy)]
struct FrequencyTerms {
    base: f64,
    log_alive: f64,
    log_dead: f64,
}

fn frequency_terms(p: &BgNbdParams, x: u32) -> FrequencyTerms {
    let x = f64::from(x);
    let beta_ab = ln_beta(p.a, p.b);
    FrequencyTerms {
        base: ln_gamma(p.r + x) - ln_gamma(p.r) + p.r * p.alpha.ln(),
        log_alive: ln_beta(p.a, p.b + x) - beta_ab,
        log_dead: if x > 0.0 {
            ln_beta(p.a + 1.0, p.b + x - 1.0) - beta_ab
        } else {
            f64::NEG_INFINITY
        },
    }
}

fn row_log_likelihood_with(p: &BgNbdParams, terms: &FrequencyTerms, row: &WeightedRow) -> f64 {
    let rx = p.r + f64::from(row.frequency);
    terms.base
        + log_add_exp(
            terms.log_alive - rx * (p.alpha + row.age).ln(),
            terms.log_dead - rx * (p.alpha + row.recency).ln(),
        )
}

/// Log-likelihood of one customer.
pub fn row_log_likelihood(params: &BgNbdParams, row: &CustomerRow) -> f64 {
    let terms = frequency_terms(params, row.frequency);
    let weighted = WeightedRow {
        frequency: row.frequency,
        recency: row.recency,
        age: row.age,
        weight: 1.0,
    };
    row_log_likelihood_with(params, &terms, &weighted)
}

fn grouped_log_likelihood(params: &BgNbdParams, data: &GroupedRows) -> f64 {
    let terms: Vec<FrequencyTerms> = data
        .distinct_frequencies
        .iter()
        .map(|&x| frequency_terms(params, x))
        .collect();
    data.weighted_sum(|row, slot| row_log_likelihood_with(params, &terms[slot], row))
}

/// Total log-likelihood of weighted rows.
pub fn log_likelihood(params: &BgNbdParams, rows: &[WeightedRow]) -> f64 {
    grouped_log_likelihood(params, &GroupedRows::new(rows.to_vec()))
}

/// Per-frequency constants of the likelihood and their derivatives, for the
/// BG/NBD family: "alive" term ln B(a, b+x+shift) − ln B(a, b), "dead" term
/// ln B(a+1, b+x+shift−1) − ln B(a, b) when x + shift > 0 (shift 0: BG/NBD,
/// shift 1: MBG/NBD).
#[derive(Debug, Clone, Copy)]
struct FamilyTerms {
    base: f64,
    base_dr: f64,
    log_alive: f64,
    alive_da: f64,
    alive_db: f64,
    /// `None` when the model has no death before the first repeat purchase.
    log_dead: Option<(f64, f64, f64)>,
}

fn family_terms(p: &BgNbdParams, x: u32, shift: u32) -> FamilyTerms {
    let BgNbdParams { r, alpha, a, b } = *p;
    let xf = f64::from(x);
    let k = f64::from(x + shift);
    let beta_ab = ln_beta(a, b);
    let (psi_a, psi_b, psi_ab) = (digamma(a), digamma(b), digamma(a + b));
    let psi_abk = digamma(a + b + k);
    FamilyTerms {
        base: ln_gamma(r + xf) - ln_gamma(r) + r * alpha.ln(),
        base_dr: digamma(r + xf) - digamma(r) + alpha.ln(),
        log_alive: ln_beta(a, b + k) - beta_ab,
        alive_da: psi_ab - psi_abk,
        alive_db: digamma(b + k) - psi_abk - psi_b + psi_ab,
        log_dead: (x + shift > 0).then(|| {
            (
                ln_beta(a + 1.0, b + k - 1.0) - beta_ab,
                digamma(a + 1.0) - psi_abk - psi_a + psi_ab,
                digamma(b + k - 1.0) - psi_abk - psi_b + psi_ab,
            )
        }),
    }
}

/// Total log-likelihood and gradient of the BG/NBD family over grouped rows.
/// ln(α + T), ln(α + t_x) and their reciprocals come from per-distinct-value
/// tables, so a row costs one exp and one ln_1p.
pub(crate) fn family_log_likelihood_and_gradient(
    params: &BgNbdParams,
    shift: u32,
    data: &GroupedRows,
) -> (f64, Vec<f64>) {
    let terms: Vec<FamilyTerms> = data
        .distinct_frequencies
        .iter()
        .map(|&x| family_terms(params, x, shift))
        .collect();
    let ages = data.ages.log_and_inverse(params.alpha);
    let recencies = data.recencies.log_and_inverse(params.alpha);
    let r_over_alpha = params.r / params.alpha;
    let v = data.weighted_sum_indexed(|i, row| {
        let t = &terms[data.slots[i] as usize];
        let rx = params.r + f64::from(row.frequency);
        let (log_age, inverse_age) = ages[data.ages.slots[i] as usize];
        let alive = t.log_alive - rx * log_age;
        let Some((log_dead, dead_da, dead_db)) = t.log_dead else {
            return [
                t.base + alive,
                t.base_dr - log_age,
                r_over_alpha - rx * inverse_age,
                t.alive_da,
                t.alive_db,
            ];
        };
        let (log_recency, inverse_recency) = recencies[data.recencies.slots[i] as usize];
        let dead = log_dead - rx * log_recency;
        // ln(eᵃ + eᵈ) = max + ln(1 + e^(−|a−d|)), with the weights eᵃ/(eᵃ+eᵈ), eᵈ/(eᵃ+eᵈ).
        let e = (-(alive - dead).abs()).exp();
        let total = alive.max(dead) + e.ln_1p();
        let (small, large) = (e / (1.0 + e), 1.0 / (1.0 + e));
        let (wa, wd) = if alive >= dead {
            (large, small)
        } else {
            (small, large)
        };
        [
            t.base + total,
            t.base_dr - wa * log_age - wd * log_recency,
            r_over_alpha - rx * (wa * inverse_age + wd * inverse_recency),
            wa * t.alive_da + wd * dead_da,
            wa * t.alive_db + wd * dead_db,
        ]
    });
    (v[0], v[1..].to_vec())
}

/// Gradient of the total log-likelihood in (r, α, a, b) (analytic, through ψ).
pub fn log_likelihood_gradient(params: &BgNbdParams, rows: &[WeightedRow]) -> Vec<f64> {
    family_log_likelihood_and_gradient(params, 0, &GroupedRows::new(rows.to_vec())).1
}

/// Fits by maximum likelihood; rows are compressed to unique (x, t_x, T) first.
pub fn fit(rows: &[CustomerRow], options: &FitOptions) -> Result<FitReport<BgNbdParams>, FitError> {
    fit_weighted(&compress(rows), options)
}

/// Fits weighted rows (e.g. already compressed) by maximum likelihood.
pub fn fit_weighted(
    rows: &[WeightedRow],
    options: &FitOptions,
) -> Result<FitReport<BgNbdParams>, FitError> {
    validate_continuous(rows)?;
    let data = GroupedRows::new(rows.to_vec());
    let start = start_values(&data);
    fit_by_log_parameters_with_gradient(
        &|theta: &[f64]| {
            family_log_likelihood_and_gradient(&BgNbdParams::from_slice(theta), 0, &data)
        },
        &start,
        data.total_weight,
        options,
    )
}

/// Start point from the data: r = 1 with α matching the mean purchase rate.
fn start_values(data: &GroupedRows) -> BgNbdParams {
    let (purchases, exposure) = data.rows.iter().fold((0.0, 0.0), |(x, t), r| {
        (x + r.weight * f64::from(r.frequency), t + r.weight * r.age)
    });
    BgNbdParams {
        r: 1.0,
        alpha: (exposure / purchases.max(1.0)).max(1e-3),
        a: 1.0,
        b: 2.0,
    }
}

impl BgNbdParams {
    /// P(X(t) = n) for a new customer (eq. 8).
    pub fn probability_of_purchases(&self, t: f64, n: u32) -> f64 {
        let BgNbdParams { r, alpha, a, b } = *self;
        let nf = f64::from(n);
        let log_stay = (alpha / (alpha + t)).ln();
        let log_go = (t / (alpha + t)).ln();
        let beta_ab = ln_beta(a, b);
        let first =
            ln_beta(a, b + nf) - beta_ab + ln_gamma(r + nf) - ln_gamma(r) - ln_gamma(nf + 1.0)
                + r * log_stay
                + if n > 0 { nf * log_go } else { 0.0 };
        let mut total = first.exp();
        if n > 0 {
            // 1 − P(NBD count < n).
            let mut below = 0.0;
            for j in 0..n {
                let jf = f64::from(j);
                let log_term = ln_gamma(r + jf) - ln_gamma(r) - ln_gamma(jf + 1.0)
                    + r * log_stay
                    + if j > 0 { jf * log_go } else { 0.0 };
                below += log_term.exp();
            }
            let tail = (1.0 - below).max(0.0);
            total += (ln_beta(a + 1.0, b + nf - 1.0) - beta_ab).exp() * tail;
        }
        total
    }
}

impl PurchaseModel for BgNbdParams {
    fn probability_alive(&self, row: &CustomerRow) -> f64 {
        if row.frequency == 0 {
            return 1.0;
        }
        let x = f64::from(row.frequency);
        let log_ratio = self.a.ln() - (self.b + x - 1.0).ln()
            + (self.r + x) * ((self.alpha + row.age).ln() - (self.alpha + row.recency).ln());
        logistic_of_negative(log_ratio)
    }

    fn conditional_expected_purchases_if_alive(&self, frequency: u32, age: f64, t: f64) -> f64 {
        let BgNbdParams { r, alpha, a, b } = *self;
        let c = a + b + f64::from(frequency) - 1.0;
        expectation_bracket(a + b - 1.0 - r, a, c, t / (alpha + age + t), {
            ((alpha + age) / (alpha + age + t)).ln()
        })
    }

    fn expected_purchases_new_customer(&self, t: f64) -> f64 {
        let BgNbdParams { r, alpha, a, b } = *self;
        expectation_bracket(a + b - 1.0 - r, a, a + b - 1.0, t / (alpha + t), {
            (alpha / (alpha + t)).ln()
        })
    }
}

/// c/(a−1) · [1 − (1−z)^(a−1) ₂F₁(A, a−1; c; z)] with ln(1 − z) = `log_one_minus_z`:
/// the BG/NBD-family expectation after Euler's transformation
/// (1−z)^(r+x) ₂F₁(r+x, b+x; c; z) = (1−z)^(a−1) ₂F₁(A, a−1; c; z), written so
/// that neither a = 1 nor c = 0 divides zero by zero (both have finite limits).
/// NaN only when the series does not converge.
pub(crate) fn expectation_bracket(upper: f64, a: f64, c: f64, z: f64, log_one_minus_z: f64) -> f64 {
    let epsilon = a - 1.0;
    let Some(excess) = hyp2f1_scaled_excess(upper, epsilon, c, z) else {
        return f64::NAN;
    };
    c * expm1_ratio(epsilon, log_one_minus_z) - (epsilon * log_one_minus_z).exp() * excess
}

/// 1 / (1 + eˣ) without overflow.
pub(crate) fn logistic_of_negative(x: f64) -> f64 {
    if x > 0.0 {
        let e = (-x).exp();
        e / (1.0 + e)
    } else {
        1.0 / (1.0 + x.exp())
    }
}

#[cfg(test)]
mod tests;

//! BG/NBD (Fader, Hardie & Lee 2005): Poisson purchasing with gamma(r, α)
//! heterogeneous rates, geometric dropout after each repeat purchase with
//! beta(a, b) heterogeneous probabilities. Likelihood (eq. 6) in log space,
//! P(alive), conditional and unconditional expectations (eqs. 9–10, through
//! Euler's transformation of ₂F₁ so large x cannot overflow) and P(X(t) = n)
//! (eq. 8).

use super::{
    CustomerRow, FitError, FitOptions, FitReport, GroupedRows, ModelParams, PurchaseModel,
    WeightedRow, compress, fit_by_log_parameters, validate_continuous,
};
use crate::special::{hyp2f1, ln_beta, ln_gamma, log_add_exp};

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
    fit_by_log_parameters(
        &|theta: &[f64]| grouped_log_likelihood(&BgNbdParams::from_slice(theta), &data),
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

    fn conditional_expected_purchases(&self, row: &CustomerRow, t: f64) -> f64 {
        let BgNbdParams { r, alpha, a, b } = *self;
        let x = f64::from(row.frequency);
        let z = t / (alpha + row.age + t);
        let log_one_minus_z = ((alpha + row.age) / (alpha + row.age + t)).ln();
        // Euler: (1−z)^(r+x) ₂F₁(r+x, b+x; a+b+x−1; z) = (1−z)^(a−1) ₂F₁(a+b−1−r, a−1; a+b+x−1; z).
        let Some(f) = hyp2f1(a + b - 1.0 - r, a - 1.0, a + b + x - 1.0, z) else {
            return f64::NAN;
        };
        let bracket = -((a - 1.0) * log_one_minus_z).exp_m1()
            + ((a - 1.0) * log_one_minus_z).exp() * (1.0 - f);
        (a + b + x - 1.0) / (a - 1.0) * bracket * self.probability_alive(row)
    }

    fn expected_purchases_new_customer(&self, t: f64) -> f64 {
        let BgNbdParams { r, alpha, a, b } = *self;
        let z = t / (alpha + t);
        let log_one_minus_z = (alpha / (alpha + t)).ln();
        let Some(f) = hyp2f1(a + b - 1.0 - r, a - 1.0, a + b - 1.0, z) else {
            return f64::NAN;
        };
        let bracket = -((a - 1.0) * log_one_minus_z).exp_m1()
            + ((a - 1.0) * log_one_minus_z).exp() * (1.0 - f);
        (a + b - 1.0) / (a - 1.0) * bracket
    }
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

//! MBG/NBD (Batislam, Denizel & Filiztekin 2007): the BG/NBD with a dropout
//! opportunity also at time 0, so customers with no repeat purchase can be dead.
//! Likelihood, P(alive) and expectations, with ₂F₁ through Euler's transformation.

use super::bgnbd::logistic_of_negative;
use super::{
    CustomerRow, FitError, FitOptions, FitReport, GroupedRows, ModelParams, PurchaseModel,
    WeightedRow, compress, fit_by_log_parameters, validate_continuous,
};
use crate::special::{hyp2f1, ln_beta, ln_gamma, log_add_exp};

/// MBG/NBD parameters, same roles as [`super::bgnbd::BgNbdParams`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MbgNbdParams {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
}

impl ModelParams for MbgNbdParams {
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

#[derive(Debug, Clone, Copy)]
struct FrequencyTerms {
    base: f64,
    log_alive: f64,
    log_dead: f64,
}

fn frequency_terms(p: &MbgNbdParams, x: u32) -> FrequencyTerms {
    let x = f64::from(x);
    let beta_ab = ln_beta(p.a, p.b);
    FrequencyTerms {
        base: ln_gamma(p.r + x) - ln_gamma(p.r) + p.r * p.alpha.ln(),
        log_alive: ln_beta(p.a, p.b + x + 1.0) - beta_ab,
        log_dead: ln_beta(p.a + 1.0, p.b + x) - beta_ab,
    }
}

fn row_log_likelihood_with(p: &MbgNbdParams, terms: &FrequencyTerms, row: &WeightedRow) -> f64 {
    let rx = p.r + f64::from(row.frequency);
    terms.base
        + log_add_exp(
            terms.log_alive - rx * (p.alpha + row.age).ln(),
            terms.log_dead - rx * (p.alpha + row.recency).ln(),
        )
}

fn grouped_log_likelihood(params: &MbgNbdParams, data: &GroupedRows) -> f64 {
    let terms: Vec<FrequencyTerms> = data
        .distinct_frequencies
        .iter()
        .map(|&x| frequency_terms(params, x))
        .collect();
    data.weighted_sum(|row, slot| row_log_likelihood_with(params, &terms[slot], row))
}

/// Total log-likelihood of weighted rows.
pub fn log_likelihood(params: &MbgNbdParams, rows: &[WeightedRow]) -> f64 {
    grouped_log_likelihood(params, &GroupedRows::new(rows.to_vec()))
}

/// Fits by maximum likelihood; rows are compressed to unique (x, t_x, T) first.
pub fn fit(
    rows: &[CustomerRow],
    options: &FitOptions,
) -> Result<FitReport<MbgNbdParams>, FitError> {
    fit_weighted(&compress(rows), options)
}

/// Fits weighted rows by maximum likelihood.
pub fn fit_weighted(
    rows: &[WeightedRow],
    options: &FitOptions,
) -> Result<FitReport<MbgNbdParams>, FitError> {
    validate_continuous(rows)?;
    let data = GroupedRows::new(rows.to_vec());
    let (purchases, exposure) = data.rows.iter().fold((0.0, 0.0), |(x, t), r| {
        (x + r.weight * f64::from(r.frequency), t + r.weight * r.age)
    });
    let start = MbgNbdParams {
        r: 1.0,
        alpha: (exposure / purchases.max(1.0)).max(1e-3),
        a: 1.0,
        b: 2.0,
    };
    fit_by_log_parameters(
        &|theta: &[f64]| grouped_log_likelihood(&MbgNbdParams::from_slice(theta), &data),
        &start,
        data.total_weight,
        options,
    )
}

impl PurchaseModel for MbgNbdParams {
    fn probability_alive(&self, row: &CustomerRow) -> f64 {
        let x = f64::from(row.frequency);
        let log_ratio = self.a.ln() - (self.b + x).ln()
            + (self.r + x) * ((self.alpha + row.age).ln() - (self.alpha + row.recency).ln());
        logistic_of_negative(log_ratio)
    }

    fn conditional_expected_purchases(&self, row: &CustomerRow, t: f64) -> f64 {
        let MbgNbdParams { r, alpha, a, b } = *self;
        let x = f64::from(row.frequency);
        let z = t / (alpha + row.age + t);
        let log_one_minus_z = ((alpha + row.age) / (alpha + row.age + t)).ln();
        // Euler: (1−z)^(r+x) ₂F₁(r+x, b+x+1; a+b+x; z) = (1−z)^(a−1) ₂F₁(a+b−r, a−1; a+b+x; z).
        let Some(f) = hyp2f1(a + b - r, a - 1.0, a + b + x, z) else {
            return f64::NAN;
        };
        let bracket = -((a - 1.0) * log_one_minus_z).exp_m1()
            + ((a - 1.0) * log_one_minus_z).exp() * (1.0 - f);
        (a + b + x) / (a - 1.0) * bracket * self.probability_alive(row)
    }

    fn expected_purchases_new_customer(&self, t: f64) -> f64 {
        let MbgNbdParams { r, alpha, a, b } = *self;
        let z = t / (alpha + t);
        let log_one_minus_z = (alpha / (alpha + t)).ln();
        let Some(f) = hyp2f1(a + b - r, a - 1.0, a + b, z) else {
            return f64::NAN;
        };
        let bracket = -((a - 1.0) * log_one_minus_z).exp_m1()
            + ((a - 1.0) * log_one_minus_z).exp() * (1.0 - f);
        b / (a - 1.0) * bracket
    }
}

#[cfg(test)]
mod tests;

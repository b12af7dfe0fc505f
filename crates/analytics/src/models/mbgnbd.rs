//! MBG/NBD (Batislam, Denizel & Filiztekin 2007): the BG/NBD with a dropout
//! opportunity also at time 0, so customers with no repeat purchase can be dead.
//! Likelihood, P(alive) and expectations, with ₂F₁ through Euler's transformation.

use super::bgnbd::{
    BgNbdParams, expectation_bracket, family_log_likelihood_and_gradient, logistic_of_negative,
};
use super::{
    CustomerRow, FitError, FitOptions, FitReport, GroupedRows, ModelParams, PurchaseModel,
    WeightedRow, compress, fit_by_log_parameters_with_gradient, validate_continuous,
};
use crate::special::{ln_beta, ln_gamma, log_add_exp};

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

/// The MBG/NBD likelihood is the BG/NBD family's with the dropout opportunity
/// shifted by one purchase.
fn log_likelihood_and_gradient(params: &MbgNbdParams, data: &GroupedRows) -> (f64, Vec<f64>) {
    let p = BgNbdParams {
        r: params.r,
        alpha: params.alpha,
        a: params.a,
        b: params.b,
    };
    family_log_likelihood_and_gradient(&p, 1, data)
}

/// Gradient of the total log-likelihood in (r, α, a, b) (analytic, through ψ).
pub fn log_likelihood_gradient(params: &MbgNbdParams, rows: &[WeightedRow]) -> Vec<f64> {
    log_likelihood_and_gradient(params, &GroupedRows::new(rows.to_vec())).1
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
    fit_by_log_parameters_with_gradient(
        &|theta: &[f64]| log_likelihood_and_gradient(&MbgNbdParams::from_slice(theta), &data),
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

    fn conditional_expected_purchases_if_alive(&self, frequency: u32, age: f64, t: f64) -> f64 {
        let MbgNbdParams { r, alpha, a, b } = *self;
        let c = a + b + f64::from(frequency);
        expectation_bracket(a + b - r, a, c, t / (alpha + age + t), {
            ((alpha + age) / (alpha + age + t)).ln()
        })
    }

    fn expected_purchases_new_customer(&self, t: f64) -> f64 {
        let MbgNbdParams { r, alpha, a, b } = *self;
        // b/(a−1) · […] = (b/c) · c/(a−1) · […] with c = a + b.
        b / (a + b)
            * expectation_bracket(a + b - r, a, a + b, t / (alpha + t), {
                (alpha / (alpha + t)).ln()
            })
    }
}

#[cfg(test)]
mod tests;

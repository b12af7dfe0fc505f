//! Gamma-Gamma spend model (Fader & Hardie note 025): each transaction's value
//! is gamma(p, ν) with ν ~ gamma(q, γ) across customers, so a customer's mean
//! spend over x transactions has a closed-form density. Fitted on repeat buyers;
//! gives the conditional expected mean spend used by CLV.

use super::{FitError, FitOptions, FitReport, FitWarning, ModelParams, fit_by_log_parameters};
use crate::special::ln_gamma;

/// Gamma-Gamma parameters (lifetimes calls `gamma` `v`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GammaGammaParams {
    pub p: f64,
    pub q: f64,
    pub gamma: f64,
}

impl ModelParams for GammaGammaParams {
    const NAMES: &'static [&'static str] = &["p", "q", "gamma"];
    fn to_vec(&self) -> Vec<f64> {
        vec![self.p, self.q, self.gamma]
    }
    fn from_slice(v: &[f64]) -> Self {
        Self {
            p: v[0],
            q: v[1],
            gamma: v[2],
        }
    }
}

/// A customer's repeat-purchase count and mean repeat spend.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpendRow {
    pub frequency: u32,
    pub monetary_value: f64,
}

/// Log density of the observed mean spend of one customer (x > 0, m > 0).
pub fn row_log_likelihood(params: &GammaGammaParams, row: &SpendRow) -> f64 {
    let GammaGammaParams { p, q, gamma } = *params;
    let x = f64::from(row.frequency);
    let m = row.monetary_value;
    let px = p * x;
    ln_gamma(px + q) - ln_gamma(px) - ln_gamma(q)
        + q * gamma.ln()
        + (px - 1.0) * m.ln()
        + px * x.ln()
        - (px + q) * (gamma + m * x).ln()
}

/// Total log-likelihood over the repeat buyers in `rows` (x = 0 rows are skipped).
pub fn log_likelihood(params: &GammaGammaParams, rows: &[SpendRow]) -> f64 {
    let repeaters: Vec<SpendRow> = rows.iter().copied().filter(|r| r.frequency > 0).collect();
    super::parallel_sum(&repeaters, |r| row_log_likelihood(params, r))
}

/// Fits on the repeat buyers of `rows` (rows with frequency 0 are ignored, as
/// the model describes repeat spend). Monetary values of repeat buyers must be
/// positive and finite. A fit with q ≤ 1 succeeds with a warning: the population
/// mean spend does not exist then, and [`GammaGammaParams::conditional_expected_spend`]
/// returns `None`.
pub fn fit(
    rows: &[SpendRow],
    options: &FitOptions,
) -> Result<FitReport<GammaGammaParams>, FitError> {
    let mut repeaters = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        if r.frequency == 0 {
            continue;
        }
        if !(r.monetary_value.is_finite() && r.monetary_value > 0.0) {
            return Err(FitError::InvalidInput {
                row: i,
                reason: "monetary value of a repeat buyer must be positive",
            });
        }
        repeaters.push(*r);
    }
    if repeaters.is_empty() {
        return Err(FitError::NoRepeatBuyers);
    }
    if repeaters.len() < 2 {
        return Err(FitError::TooFewCustomers {
            customers: repeaters.len() as f64,
            min: 2.0,
        });
    }
    if repeaters.iter().all(|r| *r == repeaters[0]) {
        return Err(FitError::IdenticalRows);
    }
    let mean = repeaters.iter().map(|r| r.monetary_value).sum::<f64>() / repeaters.len() as f64;
    // Start at p = 1, q = 2, γ = mean spend, so that pγ/(q−1) is the observed mean.
    let start = GammaGammaParams {
        p: 1.0,
        q: 2.0,
        gamma: mean,
    };
    let mut report = fit_by_log_parameters(
        &|theta: &[f64]| {
            let params = GammaGammaParams::from_slice(theta);
            super::parallel_sum(&repeaters, |r| row_log_likelihood(&params, r))
        },
        &start,
        repeaters.len() as f64,
        options,
    )?;
    if report.params.q <= 1.0 {
        report
            .warnings
            .push(FitWarning::GammaGammaQAtMostOne { q: report.params.q });
    }
    Ok(report)
}

impl GammaGammaParams {
    /// Population mean spend per transaction pγ/(q−1); `None` when q ≤ 1.
    pub fn population_mean_spend(&self) -> Option<f64> {
        (self.q > 1.0).then(|| self.p * self.gamma / (self.q - 1.0))
    }

    /// E[mean spend | x, m̄]: a weighted average of the population mean and the
    /// customer's observed mean; the population mean when x = 0. `None` when q ≤ 1.
    pub fn conditional_expected_spend(&self, frequency: u32, monetary_value: f64) -> Option<f64> {
        let population = self.population_mean_spend()?;
        let x = f64::from(frequency);
        let weight = (self.q - 1.0) / (self.p * x + self.q - 1.0);
        Some(weight * population + (1.0 - weight) * monetary_value)
    }
}

#[cfg(test)]
mod tests;

//! Customer lifetime value: expected purchases per step from a purchase model,
//! times the Gamma-Gamma conditional expected spend, discounted per step.
//!
//! [`ClvOptions::lifetimes_compatible`] reproduces lifetimes'
//! `customer_lifetime_value` (and PyMC-Marketing's): `months` steps of a fixed
//! month length in the data's unit (4.345 weeks, 30 days), each step's
//! expected purchases discounted by (1 + d)^month. Unlike lifetimes, each step
//! reuses the previous cumulative expectation (one model evaluation per step,
//! not two).

use rayon::prelude::*;

use crate::models::PurchaseModel;
use crate::models::gamma_gamma::GammaGammaParams;
use crate::summary::CustomerSummary;

/// Month length in weeks used by lifetimes for weekly data.
pub const MONTH_WEEKS_LIFETIMES: f64 = 4.345;
/// Month length in days used by lifetimes for daily data.
pub const MONTH_DAYS_LIFETIMES: f64 = 30.0;

/// Customers per rayon task.
const PARALLEL_CHUNK_CUSTOMERS: usize = 4_096;

/// Horizon and discounting.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClvOptions {
    /// Number of discounting steps.
    pub steps: u32,
    /// Length of one step in the data's time unit.
    pub step_length: f64,
    /// Discount rate per step (0.01 = 1 % per step).
    pub discount_rate_per_step: f64,
}

impl ClvOptions {
    /// lifetimes' convention: `months` monthly steps of `month_length`
    /// ([`MONTH_WEEKS_LIFETIMES`] for weekly data), monthly `discount_rate`.
    pub fn lifetimes_compatible(months: u32, month_length: f64, discount_rate: f64) -> Self {
        Self {
            steps: months,
            step_length: month_length,
            discount_rate_per_step: discount_rate,
        }
    }
}

/// Why CLV could not be computed.
#[derive(Debug, Clone, PartialEq)]
pub enum ClvError {
    /// Gamma-Gamma q ≤ 1: expected spend is undefined (it would come out negative).
    SpendUndefined { q: f64 },
    /// Options must be finite, step length positive, discount rate > −1.
    InvalidOptions,
    /// A prediction was not finite for the customer at `index`.
    NonFinite { index: usize },
}

impl std::fmt::Display for ClvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SpendUndefined { q } => write!(f, "Gamma-Gamma q = {q} ≤ 1: no mean spend"),
            Self::InvalidOptions => write!(f, "invalid CLV options"),
            Self::NonFinite { index } => write!(f, "non-finite CLV for customer {index}"),
        }
    }
}

impl std::error::Error for ClvError {}

/// Discounted CLV of one customer.
pub fn customer_lifetime_value(
    model: &dyn PurchaseModel,
    spend: &GammaGammaParams,
    customer: &CustomerSummary,
    options: &ClvOptions,
) -> Result<f64, ClvError> {
    if !(options.step_length.is_finite()
        && options.step_length > 0.0
        && options.discount_rate_per_step.is_finite()
        && options.discount_rate_per_step > -1.0)
    {
        return Err(ClvError::InvalidOptions);
    }
    let value = spend
        .conditional_expected_spend(customer.frequency, customer.monetary_value)
        .ok_or(ClvError::SpendUndefined { q: spend.q })?;
    let row = customer.row();
    let mut previous = 0.0;
    let mut total = 0.0;
    for step in 1..=options.steps {
        let cumulative =
            model.conditional_expected_purchases(&row, f64::from(step) * options.step_length);
        total += value * (cumulative - previous)
            / (1.0 + options.discount_rate_per_step).powi(step as i32);
        previous = cumulative;
    }
    if total.is_finite() {
        Ok(total)
    } else {
        Err(ClvError::NonFinite { index: 0 })
    }
}

/// CLV of every customer, in order, in parallel.
pub fn customer_lifetime_values(
    model: &dyn PurchaseModel,
    spend: &GammaGammaParams,
    customers: &[CustomerSummary],
    options: &ClvOptions,
) -> Result<Vec<f64>, ClvError> {
    let chunks: Vec<Result<Vec<f64>, ClvError>> = customers
        .par_chunks(PARALLEL_CHUNK_CUSTOMERS)
        .enumerate()
        .map(|(k, chunk)| {
            chunk
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    customer_lifetime_value(model, spend, c, options).map_err(|e| match e {
                        ClvError::NonFinite { .. } => ClvError::NonFinite {
                            index: k * PARALLEL_CHUNK_CUSTOMERS + i,
                        },
                        other => other,
                    })
                })
                .collect()
        })
        .collect();
    let mut out = Vec::with_capacity(customers.len());
    for chunk in chunks {
        out.extend(chunk?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;

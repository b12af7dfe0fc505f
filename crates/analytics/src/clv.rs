//! Customer lifetime value: expected purchases per step from a purchase model,
//! times the Gamma-Gamma conditional expected spend, discounted per step.
//!
//! [`ClvOptions::lifetimes_compatible`] reproduces lifetimes'
//! `customer_lifetime_value` (and PyMC-Marketing's): `months` steps of a fixed
//! month length in the data's unit (4.345 weeks, 30 days), each step's
//! expected purchases discounted by (1 + d)^month. Unlike lifetimes, each step
//! reuses the previous cumulative expectation (one model evaluation per step,
//! not two), and since E[Y(t) | x, t_x, T] = P(alive) · E[Y(t) | alive, x, T],
//! the expectations are computed once per distinct (x, T) for a whole population.

use rayon::prelude::*;

use crate::models::PurchaseModel;
use crate::models::gamma_gamma::GammaGammaParams;
use crate::parse::FxMap;
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

fn validate(spend: &GammaGammaParams, options: &ClvOptions) -> Result<(), ClvError> {
    if !(options.step_length.is_finite()
        && options.step_length > 0.0
        && options.discount_rate_per_step.is_finite()
        && options.discount_rate_per_step > -1.0)
    {
        return Err(ClvError::InvalidOptions);
    }
    spend
        .population_mean_spend()
        .map(|_| ())
        .ok_or(ClvError::SpendUndefined { q: spend.q })
}

/// Σ over steps of the discounted increments of E[Y(t) | alive, x, T]: a
/// customer's CLV is P(alive) × this × expected spend.
fn discounted_purchases_if_alive(
    model: &dyn PurchaseModel,
    frequency: u32,
    age: f64,
    options: &ClvOptions,
) -> f64 {
    let mut previous = 0.0;
    let mut total = 0.0;
    for step in 1..=options.steps {
        let cumulative = model.conditional_expected_purchases_if_alive(
            frequency,
            age,
            f64::from(step) * options.step_length,
        );
        total += (cumulative - previous) / (1.0 + options.discount_rate_per_step).powi(step as i32);
        previous = cumulative;
    }
    total
}

/// Discounted CLV of one customer.
pub fn customer_lifetime_value(
    model: &dyn PurchaseModel,
    spend: &GammaGammaParams,
    customer: &CustomerSummary,
    options: &ClvOptions,
) -> Result<f64, ClvError> {
    validate(spend, options)?;
    let purchases = discounted_purchases_if_alive(model, customer.frequency, customer.age, options);
    value_of(model, spend, customer, purchases).ok_or(ClvError::NonFinite { index: 0 })
}

fn value_of(
    model: &dyn PurchaseModel,
    spend: &GammaGammaParams,
    customer: &CustomerSummary,
    purchases_if_alive: f64,
) -> Option<f64> {
    let value = spend.conditional_expected_spend(customer.frequency, customer.monetary_value)?;
    let total = value * purchases_if_alive * model.probability_alive(&customer.row());
    total.is_finite().then_some(total)
}

/// CLV of every customer, in order, in parallel. The model's expectations are
/// evaluated once per distinct (x, T), not once per customer and step.
pub fn customer_lifetime_values(
    model: &dyn PurchaseModel,
    spend: &GammaGammaParams,
    customers: &[CustomerSummary],
    options: &ClvOptions,
) -> Result<Vec<f64>, ClvError> {
    validate(spend, options)?;
    let mut distinct: FxMap<(u32, u64), u32> = FxMap::default();
    let mut keys: Vec<(u32, f64)> = Vec::new();
    let slots: Vec<u32> = customers
        .iter()
        .map(|c| {
            *distinct
                .entry((c.frequency, c.age.to_bits()))
                .or_insert_with(|| {
                    keys.push((c.frequency, c.age));
                    (keys.len() - 1) as u32
                })
        })
        .collect();
    drop(distinct);
    let purchases: Vec<f64> = keys
        .par_iter()
        .with_min_len(64)
        .map(|&(frequency, age)| discounted_purchases_if_alive(model, frequency, age, options))
        .collect();
    let values: Vec<Option<f64>> = customers
        .par_iter()
        .zip(slots.par_iter())
        .with_min_len(PARALLEL_CHUNK_CUSTOMERS)
        .map(|(c, &slot)| value_of(model, spend, c, purchases[slot as usize]))
        .collect();
    values
        .iter()
        .enumerate()
        .map(|(index, v)| v.ok_or(ClvError::NonFinite { index }))
        .collect()
}

#[cfg(test)]
mod tests;

//! Transaction log → per-customer summary in lifetimes' vocabulary (frequency,
//! recency, T, monetary value), with an optional calibration / holdout split.
//!
//! Semantics (the ones that trip users, made explicit):
//! * Purchases are bucketed into periods (day, Monday–Sunday week or calendar
//!   month) and purchases of one customer in the same period are merged into one
//!   transaction whose amount is their sum.
//! * `frequency` counts periods with a purchase after the first one; the first
//!   purchase is excluded from `monetary_value`, which is the mean of the merged
//!   amounts of the repeat periods (0 when frequency is 0).
//! * Times are period-index differences divided by `multiplier`: periods of one
//!   day with multiplier 7 give fractional weeks, as in CDNOW.
//! * Transactions after the observation end are ignored; in a calibration /
//!   holdout split only customers whose first purchase falls in calibration are
//!   summarised.

use crate::calendar::{month_index, week_index};
use crate::models::CustomerRow;

/// One purchase: customer key, day number (days since 1970-01-01, see
/// [`crate::calendar`]) and amount.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transaction {
    pub customer: u64,
    pub day: i32,
    pub amount: f64,
}

/// Bucket within which one customer's purchases merge into one transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeriodUnit {
    Day,
    /// Monday to Sunday (pandas' `W`).
    Week,
    /// Calendar month.
    Month,
}

impl PeriodUnit {
    /// Index of the period containing `day`.
    pub fn index(self, day: i32) -> i32 {
        match self {
            Self::Day => day,
            Self::Week => week_index(day),
            Self::Month => month_index(day),
        }
    }
}

/// How to bucket and measure time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeScale {
    pub unit: PeriodUnit,
    /// Reported times are period differences divided by this (7 turns days into weeks).
    pub multiplier: f64,
}

impl TimeScale {
    /// Days merged, time in weeks: the CDNOW convention (lifetimes `freq="D",
    /// freq_multiplier=7`).
    pub const DAYS_IN_WEEKS: Self = Self {
        unit: PeriodUnit::Day,
        multiplier: 7.0,
    };
}

/// One customer's summary.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CustomerSummary {
    pub customer: u64,
    /// Repeat purchase periods (x).
    pub frequency: u32,
    /// Time from first to last purchase (t_x).
    pub recency: f64,
    /// Time from first purchase to the end of the period summarised (lifetimes' `T`).
    pub age: f64,
    /// Mean merged amount of the repeat periods; 0 when frequency is 0.
    pub monetary_value: f64,
}

impl CustomerSummary {
    /// The (x, t_x, T) row the purchase models take.
    pub fn row(&self) -> CustomerRow {
        CustomerRow {
            frequency: self.frequency,
            recency: self.recency,
            age: self.age,
        }
    }
}

/// A calibration summary plus what the customer did in the holdout period.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CalibrationHoldoutSummary {
    pub calibration: CustomerSummary,
    /// Purchase periods in the holdout.
    pub frequency_holdout: u32,
    /// Mean merged amount of the holdout periods; 0 without holdout purchases.
    pub monetary_value_holdout: f64,
    /// Length of the holdout period (same unit as `recency`).
    pub duration_holdout: f64,
}

/// Why a summary could not be computed.
#[derive(Debug, Clone, PartialEq)]
pub enum SummaryError {
    /// `multiplier` must be finite and positive.
    InvalidMultiplier { multiplier: f64 },
    /// The transaction at `index` has a non-finite amount.
    NonFiniteAmount { index: usize },
    /// The calibration must end before the observation ends.
    CalibrationEndAfterObservationEnd,
}

impl std::fmt::Display for SummaryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::InvalidMultiplier { multiplier } => {
                write!(f, "time multiplier must be positive, got {multiplier}")
            }
            Self::NonFiniteAmount { index } => {
                write!(f, "transaction {index} has a non-finite amount")
            }
            Self::CalibrationEndAfterObservationEnd => {
                write!(f, "calibration end must be before observation end")
            }
        }
    }
}

impl std::error::Error for SummaryError {}

/// A customer's merged purchase periods: (period index, summed amount), ascending.
type Periods = Vec<(i32, f64)>;

fn validate(transactions: &[Transaction], scale: &TimeScale) -> Result<(), SummaryError> {
    if !(scale.multiplier.is_finite() && scale.multiplier > 0.0) {
        return Err(SummaryError::InvalidMultiplier {
            multiplier: scale.multiplier,
        });
    }
    if let Some(index) = transactions.iter().position(|t| !t.amount.is_finite()) {
        return Err(SummaryError::NonFiniteAmount { index });
    }
    Ok(())
}

/// Groups transactions with `day ≤ last_day` (and `day > after_day`) by customer,
/// merging same-period purchases; customers in ascending key order.
fn merged_periods(
    transactions: &[Transaction],
    unit: PeriodUnit,
    after_day: Option<i32>,
    last_day: i32,
) -> Vec<(u64, Periods)> {
    let mut keyed: Vec<(u64, i32, f64)> = transactions
        .iter()
        .filter(|t| t.day <= last_day && after_day.is_none_or(|a| t.day > a))
        .map(|t| (t.customer, unit.index(t.day), t.amount))
        .collect();
    keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut out: Vec<(u64, Periods)> = Vec::new();
    for (customer, period, amount) in keyed {
        match out.last_mut() {
            Some((c, periods)) if *c == customer => match periods.last_mut() {
                Some((p, sum)) if *p == period => *sum += amount,
                _ => periods.push((period, amount)),
            },
            _ => out.push((customer, vec![(period, amount)])),
        }
    }
    out
}

fn summarise_customer(
    customer: u64,
    periods: &Periods,
    end_period: i32,
    multiplier: f64,
) -> CustomerSummary {
    let first = periods[0].0;
    let last = periods[periods.len() - 1].0;
    let frequency = (periods.len() - 1) as u32;
    let monetary_value = if frequency == 0 {
        0.0
    } else {
        periods[1..].iter().map(|(_, a)| a).sum::<f64>() / f64::from(frequency)
    };
    CustomerSummary {
        customer,
        frequency,
        recency: f64::from(last - first) / multiplier,
        age: f64::from(end_period - first) / multiplier,
        monetary_value,
    }
}

/// Summary of every customer with a purchase on or before `observation_end_day`.
pub fn summarize(
    transactions: &[Transaction],
    scale: &TimeScale,
    observation_end_day: i32,
) -> Result<Vec<CustomerSummary>, SummaryError> {
    validate(transactions, scale)?;
    let end_period = scale.unit.index(observation_end_day);
    Ok(
        merged_periods(transactions, scale.unit, None, observation_end_day)
            .iter()
            .map(|(c, periods)| summarise_customer(*c, periods, end_period, scale.multiplier))
            .collect(),
    )
}

/// Calibration summary up to `calibration_end_day` (inclusive) and holdout
/// counts over (`calibration_end_day`, `observation_end_day`], for customers whose
/// first purchase is in calibration (lifetimes' `calibration_and_holdout_data`).
pub fn calibration_and_holdout(
    transactions: &[Transaction],
    scale: &TimeScale,
    calibration_end_day: i32,
    observation_end_day: i32,
) -> Result<Vec<CalibrationHoldoutSummary>, SummaryError> {
    validate(transactions, scale)?;
    if calibration_end_day >= observation_end_day {
        return Err(SummaryError::CalibrationEndAfterObservationEnd);
    }
    let calibration_period = scale.unit.index(calibration_end_day);
    let duration_holdout =
        f64::from(scale.unit.index(observation_end_day) - calibration_period) / scale.multiplier;
    let calibration = merged_periods(transactions, scale.unit, None, calibration_end_day);
    let holdout = merged_periods(
        transactions,
        scale.unit,
        Some(calibration_end_day),
        observation_end_day,
    );
    let mut holdout_iter = holdout.iter().peekable();
    let mut out = Vec::with_capacity(calibration.len());
    for (customer, periods) in &calibration {
        while holdout_iter.peek().is_some_and(|(c, _)| c < customer) {
            holdout_iter.next();
        }
        let (frequency_holdout, monetary_value_holdout) = match holdout_iter.peek() {
            Some((c, later)) if c == customer => (
                later.len() as u32,
                later.iter().map(|(_, a)| a).sum::<f64>() / later.len() as f64,
            ),
            _ => (0, 0.0),
        };
        out.push(CalibrationHoldoutSummary {
            calibration: summarise_customer(
                *customer,
                periods,
                calibration_period,
                scale.multiplier,
            ),
            frequency_holdout,
            monetary_value_holdout,
            duration_holdout,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;

//! BG/BB (Fader, Hardie & Shang 2010): discrete-time, non-contractual model for
//! n repeat-purchase opportunities — beta(α, β) transaction probabilities and
//! beta(γ, δ) dropout probabilities. Works on compressed (x, t_x, n, count) rows
//! as in the donations data set.

use super::{FitError, FitOptions, FitReport, ModelParams, fit_by_log_parameters};
use crate::special::{ln_beta, ln_gamma, log_sum_exp};

/// BG/BB parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BgBbParams {
    pub alpha: f64,
    pub beta: f64,
    pub gamma: f64,
    pub delta: f64,
}

impl ModelParams for BgBbParams {
    const NAMES: &'static [&'static str] = &["alpha", "beta", "gamma", "delta"];
    fn to_vec(&self) -> Vec<f64> {
        vec![self.alpha, self.beta, self.gamma, self.delta]
    }
    fn from_slice(v: &[f64]) -> Self {
        Self {
            alpha: v[0],
            beta: v[1],
            gamma: v[2],
            delta: v[3],
        }
    }
}

/// `weight` customers with x repeat transactions, the last in period t_x, out
/// of n opportunities.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BgBbRow {
    pub frequency: u32,
    pub recency: u32,
    pub periods: u32,
    pub weight: f64,
}

/// Most opportunities per row accepted (the likelihood sums n − t_x terms).
pub const PERIODS_MAX: u32 = 100_000;

/// Log-likelihood of one pattern (eq. 5), per customer.
pub fn row_log_likelihood(params: &BgBbParams, row: &BgBbRow) -> f64 {
    let BgBbParams {
        alpha,
        beta,
        gamma,
        delta,
    } = *params;
    let (x, tx, n) = (
        f64::from(row.frequency),
        f64::from(row.recency),
        f64::from(row.periods),
    );
    let beta_ab = ln_beta(alpha, beta);
    let beta_gd = ln_beta(gamma, delta);
    let mut terms = Vec::with_capacity((row.periods - row.recency) as usize + 1);
    terms.push(ln_beta(alpha + x, beta + n - x) - beta_ab + ln_beta(gamma, delta + n) - beta_gd);
    for i in 0..row.periods - row.recency {
        let i = f64::from(i);
        terms.push(
            ln_beta(alpha + x, beta + tx - x + i) - beta_ab + ln_beta(gamma + 1.0, delta + tx + i)
                - beta_gd,
        );
    }
    log_sum_exp(&terms)
}

/// Total (weighted) log-likelihood.
pub fn log_likelihood(params: &BgBbParams, rows: &[BgBbRow]) -> f64 {
    super::parallel_sum(rows, |r| r.weight * row_log_likelihood(params, r))
}

fn validate(rows: &[BgBbRow]) -> Result<(), FitError> {
    for (i, r) in rows.iter().enumerate() {
        let reason = if !(r.weight.is_finite() && r.weight > 0.0) {
            Some("weight must be positive")
        } else if r.periods > PERIODS_MAX {
            Some("too many periods")
        } else if r.recency > r.periods {
            Some("recency exceeds periods")
        } else if r.frequency > r.recency {
            Some("frequency exceeds recency")
        } else if (r.frequency == 0) != (r.recency == 0) {
            Some("recency must be 0 exactly when frequency is 0")
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(FitError::InvalidInput { row: i, reason });
        }
    }
    let customers: f64 = rows.iter().map(|r| r.weight).sum();
    if customers < super::MIN_CUSTOMERS {
        return Err(FitError::TooFewCustomers {
            customers,
            min: super::MIN_CUSTOMERS,
        });
    }
    if rows.iter().all(|r| r.frequency == 0) {
        return Err(FitError::NoRepeatBuyers);
    }
    if rows.iter().all(|r| {
        (r.frequency, r.recency, r.periods) == (rows[0].frequency, rows[0].recency, rows[0].periods)
    }) {
        return Err(FitError::IdenticalRows);
    }
    Ok(())
}

/// Fits by maximum likelihood on weighted pattern rows.
pub fn fit(rows: &[BgBbRow], options: &FitOptions) -> Result<FitReport<BgBbParams>, FitError> {
    validate(rows)?;
    let total_weight: f64 = rows.iter().map(|r| r.weight).sum();
    let start = BgBbParams {
        alpha: 1.0,
        beta: 1.0,
        gamma: 1.0,
        delta: 1.0,
    };
    fit_by_log_parameters(
        &|theta: &[f64]| log_likelihood(&BgBbParams::from_slice(theta), rows),
        &start,
        total_weight,
        options,
    )
}

impl BgBbParams {
    /// P(alive at opportunity n + 1 | x, t_x, n).
    pub fn probability_alive(&self, row: &BgBbRow) -> f64 {
        let (x, n) = (f64::from(row.frequency), f64::from(row.periods));
        let log_alive = ln_beta(self.alpha + x, self.beta + n - x) - ln_beta(self.alpha, self.beta)
            + ln_beta(self.gamma, self.delta + n + 1.0)
            - ln_beta(self.gamma, self.delta);
        (log_alive - row_log_likelihood(self, row)).exp()
    }

    /// Expected transactions in the next `future_periods` opportunities for one
    /// customer with this pattern (FHS 2010 eq. 13). Requires γ ≠ 1.
    pub fn conditional_expected_purchases(&self, row: &BgBbRow, future_periods: u32) -> f64 {
        let BgBbParams {
            alpha,
            beta,
            gamma,
            delta,
        } = *self;
        let (x, n, m) = (
            f64::from(row.frequency),
            f64::from(row.periods),
            f64::from(future_periods),
        );
        let log_front = ln_beta(alpha + x + 1.0, beta + n - x)
            - ln_beta(alpha, beta)
            - row_log_likelihood(self, row)
            + ln_gamma(gamma + delta)
            - ln_gamma(1.0 + delta);
        let now = (ln_gamma(1.0 + delta + n) - ln_gamma(gamma + delta + n)).exp();
        let later = (ln_gamma(1.0 + delta + n + m) - ln_gamma(gamma + delta + n + m)).exp();
        log_front.exp() * delta / (gamma - 1.0) * (now - later)
    }
}

#[cfg(test)]
mod tests;

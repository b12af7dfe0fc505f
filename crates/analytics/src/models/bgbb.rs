//! BG/BB (Fader, Hardie & Shang 2010): discrete-time, non-contractual model for
//! n repeat-purchase opportunities — beta(α, β) transaction probabilities and
//! beta(γ, δ) dropout probabilities. Works on compressed (x, t_x, n, count) rows
//! as in the donations data set.

use super::{FitError, FitOptions, FitReport, ModelParams, fit_by_log_parameters_with_gradient};
use crate::special::{digamma, ln_beta, ln_gamma, log_sum_exp};

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

/// One pattern's log-likelihood and its gradient in (α, β, γ, δ) (per customer).
/// Each term of eq. 5 is ln B(α+x, β+b) + ln B(γ+c, δ+d) less the normalising
/// ln B(α, β) + ln B(γ, δ); ∂ ln B(u, v)/∂u = ψ(u) − ψ(u+v), and the gradient of
/// the log-sum is the terms' gradients averaged with their softmax weights.
fn row_log_likelihood_and_gradient(params: &BgBbParams, row: &BgBbRow) -> [f64; 5] {
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
    let psi_alpha_x = digamma(alpha + x);
    // (ln term, ∂α, ∂β, ∂γ, ∂δ) of one term before the normalising constants.
    let term = |b: f64, c: f64, d: f64| -> [f64; 5] {
        let (psi_ab, psi_gd) = (
            digamma(alpha + x + beta + b),
            digamma(gamma + c + delta + d),
        );
        let psi_gamma_c = digamma(gamma + c);
        [
            ln_beta(alpha + x, beta + b) + ln_beta(gamma + c, delta + d),
            psi_alpha_x - psi_ab,
            digamma(beta + b) - psi_ab,
            psi_gamma_c - psi_gd,
            digamma(delta + d) - psi_gd,
        ]
    };
    let mut terms = Vec::with_capacity((row.periods - row.recency) as usize + 1);
    terms.push(term(n - x, 0.0, n));
    for i in 0..row.periods - row.recency {
        let i = f64::from(i);
        terms.push(term(tx - x + i, 1.0, tx + i));
    }
    let peak = terms.iter().fold(f64::NEG_INFINITY, |m, t| m.max(t[0]));
    let mut sums = [0.0_f64; 5];
    for t in &terms {
        let w = (t[0] - peak).exp();
        sums[0] += w;
        for i in 1..5 {
            sums[i] += w * t[i];
        }
    }
    let (psi_ab, psi_gd) = (digamma(alpha + beta), digamma(gamma + delta));
    [
        peak + sums[0].ln() - ln_beta(alpha, beta) - ln_beta(gamma, delta),
        sums[1] / sums[0] - digamma(alpha) + psi_ab,
        sums[2] / sums[0] - digamma(beta) + psi_ab,
        sums[3] / sums[0] - digamma(gamma) + psi_gd,
        sums[4] / sums[0] - digamma(delta) + psi_gd,
    ]
}

/// Total (weighted) log-likelihood and its gradient in (α, β, γ, δ).
pub fn log_likelihood_and_gradient(params: &BgBbParams, rows: &[BgBbRow]) -> (f64, Vec<f64>) {
    let v = super::parallel_sum_n(rows, |_, r| {
        let mut v = row_log_likelihood_and_gradient(params, r);
        for x in &mut v {
            *x *= r.weight;
        }
        v
    });
    (v[0], v[1..].to_vec())
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
    fit_by_log_parameters_with_gradient(
        &|theta: &[f64]| log_likelihood_and_gradient(&BgBbParams::from_slice(theta), rows),
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

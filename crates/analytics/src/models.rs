//! Shared machinery of the buy-till-you-die models: the per-customer row types
//! in lifetimes' vocabulary, compression into weighted unique rows, fit options,
//! the fit report and its errors, and the maximum-likelihood driver that every
//! model uses (BFGS over log-parameters, Hessian standard errors).
//!
//! Time is whatever unit the rows are in (weeks for CDNOW); every reported
//! log-likelihood is the total over customers in that unit, as in the papers.

pub mod bgbb;
pub mod bgnbd;
pub mod gamma_gamma;
pub mod mbgnbd;
pub mod paretonbd;

use rayon::prelude::*;
use std::cell::RefCell;

use crate::optimize::{self, MinimizeOptions};

/// One customer's calibration summary as the models see it.
///
/// `frequency` = x, the number of repeat purchase periods; `recency` = t_x, time
/// from first to last purchase (0 when x = 0); `age` = lifetimes' `T`, time from
/// first purchase to the end of the calibration period.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CustomerRow {
    pub frequency: u32,
    pub recency: f64,
    pub age: f64,
}

/// A [`CustomerRow`] standing for `weight` identical customers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WeightedRow {
    pub frequency: u32,
    pub recency: f64,
    pub age: f64,
    pub weight: f64,
}

impl WeightedRow {
    pub fn row(&self) -> CustomerRow {
        CustomerRow {
            frequency: self.frequency,
            recency: self.recency,
            age: self.age,
        }
    }
}

/// Likelihood sums switch to rayon above this many (weighted) rows.
pub const PARALLEL_ROWS_MIN: usize = 20_000;

/// Rows per rayon task; fixed so the floating-point sum does not depend on scheduling.
const PARALLEL_CHUNK_ROWS: usize = 4_096;

/// The optimiser works on ln(parameter); estimates beyond ±this are reported as a
/// bound hit (parameter below e⁻²⁰ ≈ 2e-9 or above e²⁰ ≈ 4.9e8).
pub const LOG_PARAMETER_ABS_MAX: f64 = 20.0;

/// Objective values beyond this log-parameter are treated as outside the domain.
const LOG_PARAMETER_DOMAIN_ABS_MAX: f64 = 40.0;

/// Settings shared by all fits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitOptions {
    /// L2 penalty as in lifetimes: the optimiser minimises
    /// `−LL / Σweights + penalizer × Σ parameter²`. lifetimes applies it to
    /// parameters on its internally rescaled time axis; ours are in the data's unit.
    pub penalizer: f64,
    /// Most BFGS iterations per attempt.
    pub iterations_max: u32,
    /// Convergence when the sup norm of the gradient of the mean negative
    /// log-likelihood with respect to the log-parameters is below this.
    pub gradient_tolerance: f64,
}

impl Default for FitOptions {
    fn default() -> Self {
        Self {
            penalizer: 0.0,
            iterations_max: 500,
            gradient_tolerance: 1e-8,
        }
    }
}

/// Model parameters as a fixed, named vector (for the generic fit driver).
pub trait ModelParams: Sized + Copy + std::fmt::Debug {
    /// Parameter names in vector order.
    const NAMES: &'static [&'static str];
    fn to_vec(&self) -> Vec<f64>;
    fn from_slice(values: &[f64]) -> Self;
}

/// Something a caller should know about a successful fit.
#[derive(Debug, Clone, PartialEq)]
pub enum FitWarning {
    /// The Hessian at the optimum is not positive definite: no standard errors.
    SingularHessian,
    /// Gamma-Gamma with q ≤ 1: the population mean spend pγ/(q−1) does not exist,
    /// so spend and CLV predictions are not defined.
    GammaGammaQAtMostOne { q: f64 },
}

/// Why a fit returned no parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum FitError {
    /// A row is outside the model's domain.
    InvalidInput { row: usize, reason: &'static str },
    /// Fewer customers (total weight) than the model can identify parameters from.
    TooFewCustomers { customers: f64, min: f64 },
    /// Nobody bought again: the purchase-rate and dropout parameters are not identified.
    NoRepeatBuyers,
    /// Every customer has the same summary: the mixing distributions are not identified.
    IdenticalRows,
    /// The optimiser stopped without meeting its convergence rule.
    NotConverged {
        iterations: u32,
        gradient_norm: f64,
        log_likelihood: f64,
        params: Vec<f64>,
    },
    /// The optimum lies at the edge of the parameter box (see [`LOG_PARAMETER_ABS_MAX`]).
    HitBound { param: &'static str, value: f64 },
    /// The log-likelihood was not finite at the start point or at the optimum.
    NonFinite { what: &'static str },
}

impl std::fmt::Display for FitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::InvalidInput { row, reason } => write!(f, "invalid input in row {row}: {reason}"),
            Self::TooFewCustomers { customers, min } => {
                write!(f, "{customers} customers, at least {min} needed")
            }
            Self::NoRepeatBuyers => write!(f, "no customer made a repeat purchase"),
            Self::IdenticalRows => write!(f, "all customers have identical summaries"),
            Self::NotConverged {
                iterations,
                gradient_norm,
                ..
            } => write!(
                f,
                "no convergence after {iterations} iterations (gradient norm {gradient_norm:e})"
            ),
            Self::HitBound { param, value } => {
                write!(f, "parameter {param} hit its bound at {value:e}")
            }
            Self::NonFinite { what } => write!(f, "non-finite {what}"),
        }
    }
}

impl std::error::Error for FitError {}

/// A maximum-likelihood fit.
#[derive(Debug, Clone, PartialEq)]
pub struct FitReport<P> {
    pub params: P,
    /// Total log-likelihood (unpenalised) in the data's time unit.
    pub log_likelihood: f64,
    pub iterations: u32,
    /// Sup norm of the gradient of the mean objective in log-parameters at the optimum.
    pub gradient_norm: f64,
    /// Always true in a returned report: a fit that does not converge is
    /// [`FitError::NotConverged`]. Kept so reports can be logged as they are.
    pub converged: bool,
    /// Standard errors from the inverse observed information (delta method from
    /// the log-parameter Hessian); `None` when the Hessian is singular.
    pub standard_errors: Option<P>,
    pub warnings: Vec<FitWarning>,
}

/// Rows sorted by frequency with the distinct frequencies, so per-frequency
/// terms (ln Γ, ln B) are computed once per distinct x rather than per row.
#[derive(Debug, Clone)]
pub(crate) struct GroupedRows {
    pub(crate) rows: Vec<WeightedRow>,
    pub(crate) distinct_frequencies: Vec<u32>,
    /// For each row, its index in `distinct_frequencies`.
    pub(crate) slots: Vec<u32>,
    /// Distinct ages (T) and recencies (t_x), with each row's index into them:
    /// real logs take few distinct values (days over a calibration window), so
    /// ln(α + T) and ln(α + t_x) are computed once per distinct value.
    pub(crate) ages: DistinctValues,
    pub(crate) recencies: DistinctValues,
    pub(crate) total_weight: f64,
}

/// The distinct values of one column and each row's index into them.
#[derive(Debug, Clone, Default)]
pub(crate) struct DistinctValues {
    pub(crate) values: Vec<f64>,
    pub(crate) slots: Vec<u32>,
}

impl DistinctValues {
    fn new(column: impl Iterator<Item = f64>) -> Self {
        let mut index: crate::parse::FxMap<u64, u32> = crate::parse::FxMap::default();
        let mut values = Vec::new();
        let slots = column
            .map(|v| {
                *index.entry(v.to_bits()).or_insert_with(|| {
                    values.push(v);
                    (values.len() - 1) as u32
                })
            })
            .collect();
        Self { values, slots }
    }

    /// (ln(shift + v), 1/(shift + v)) for every distinct value v.
    pub(crate) fn log_and_inverse(&self, shift: f64) -> Vec<(f64, f64)> {
        self.values
            .iter()
            .map(|v| ((shift + v).ln(), 1.0 / (shift + v)))
            .collect()
    }
}

impl GroupedRows {
    pub(crate) fn new(mut rows: Vec<WeightedRow>) -> Self {
        rows.sort_by_key(|r| r.frequency);
        let mut distinct_frequencies: Vec<u32> = Vec::new();
        let mut slots = Vec::with_capacity(rows.len());
        for row in &rows {
            if distinct_frequencies.last() != Some(&row.frequency) {
                distinct_frequencies.push(row.frequency);
            }
            slots.push((distinct_frequencies.len() - 1) as u32);
        }
        let total_weight = rows.iter().map(|r| r.weight).sum();
        let ages = DistinctValues::new(rows.iter().map(|r| r.age));
        let recencies = DistinctValues::new(rows.iter().map(|r| r.recency));
        Self {
            rows,
            distinct_frequencies,
            slots,
            ages,
            recencies,
            total_weight,
        }
    }

    /// Σ weight × term(row index, row) of vectors, in fixed parallel chunks.
    pub(crate) fn weighted_sum_indexed<F, const N: usize>(&self, term: F) -> [f64; N]
    where
        F: Fn(usize, &WeightedRow) -> [f64; N] + Sync,
    {
        parallel_sum_n(&self.rows, |i, row| {
            let mut v = term(i, row);
            for x in &mut v {
                *x *= row.weight;
            }
            v
        })
    }

    /// Σ weight × term(row, slot) of vectors (a log-likelihood and its gradient).
    pub(crate) fn weighted_sum_n<F, const N: usize>(&self, term: F) -> [f64; N]
    where
        F: Fn(&WeightedRow, usize) -> [f64; N] + Sync,
    {
        parallel_sum_n(&self.rows, |i, row| {
            let mut v = term(row, self.slots[i] as usize);
            for x in &mut v {
                *x *= row.weight;
            }
            v
        })
    }

    /// Σ weight × term(row, slot), in parallel chunks above [`PARALLEL_ROWS_MIN`].
    pub(crate) fn weighted_sum<F>(&self, term: F) -> f64
    where
        F: Fn(&WeightedRow, usize) -> f64 + Sync,
    {
        let chunk_sum = |start: usize, rows: &[WeightedRow]| -> f64 {
            rows.iter()
                .enumerate()
                .map(|(i, row)| row.weight * term(row, self.slots[start + i] as usize))
                .sum()
        };
        if self.rows.len() < PARALLEL_ROWS_MIN {
            return chunk_sum(0, &self.rows);
        }
        let partial: Vec<f64> = self
            .rows
            .par_chunks(PARALLEL_CHUNK_ROWS)
            .enumerate()
            .map(|(k, rows)| chunk_sum(k * PARALLEL_CHUNK_ROWS, rows))
            .collect();
        partial.iter().sum()
    }
}

/// Σ term(item) of fixed-size vectors (a log-likelihood and its gradient), in
/// fixed parallel chunks above [`PARALLEL_ROWS_MIN`] items.
pub(crate) fn parallel_sum_n<T, F, const N: usize>(items: &[T], term: F) -> [f64; N]
where
    T: Sync,
    F: Fn(usize, &T) -> [f64; N] + Sync,
{
    let chunk_sum = |start: usize, chunk: &[T]| -> [f64; N] {
        let mut acc = [0.0; N];
        for (i, item) in chunk.iter().enumerate() {
            for (a, v) in acc.iter_mut().zip(term(start + i, item)) {
                *a += v;
            }
        }
        acc
    };
    if items.len() < PARALLEL_ROWS_MIN {
        return chunk_sum(0, items);
    }
    let partial: Vec<[f64; N]> = items
        .par_chunks(PARALLEL_CHUNK_ROWS)
        .enumerate()
        .map(|(k, chunk)| chunk_sum(k * PARALLEL_CHUNK_ROWS, chunk))
        .collect();
    let mut acc = [0.0; N];
    for part in partial {
        for (a, v) in acc.iter_mut().zip(part) {
            *a += v;
        }
    }
    acc
}

/// Σ term(item), in fixed parallel chunks above [`PARALLEL_ROWS_MIN`] items.
pub(crate) fn parallel_sum<T, F>(items: &[T], term: F) -> f64
where
    T: Sync,
    F: Fn(&T) -> f64 + Sync,
{
    if items.len() < PARALLEL_ROWS_MIN {
        return items.iter().map(&term).sum();
    }
    let partial: Vec<f64> = items
        .par_chunks(PARALLEL_CHUNK_ROWS)
        .map(|chunk| chunk.iter().map(&term).sum::<f64>())
        .collect();
    partial.iter().sum()
}

/// Collapses identical (x, t_x, T) rows into weighted rows, sorted by (x, t_x, T).
/// Counts in a hash map first, so only the unique rows are sorted.
pub fn compress(rows: &[CustomerRow]) -> Vec<WeightedRow> {
    compress_by(rows, |r| *r)
}

/// [`compress`] of `row(item)` for each item, without collecting the rows first.
pub fn compress_by<T: Sync>(
    items: &[T],
    row: impl Fn(&T) -> CustomerRow + Sync,
) -> Vec<WeightedRow> {
    // f64::total_cmp's order as an integer key, so the sort compares integers.
    fn total_order(v: f64) -> i64 {
        let bits = v.to_bits() as i64;
        bits ^ ((((bits >> 63) as u64) >> 1) as i64)
    }
    type Counts = crate::parse::FxMap<(u32, u64, u64), u32>;
    let count = |part: &[T]| {
        let mut counts = Counts::default();
        for r in part.iter().map(&row) {
            *counts
                .entry((r.frequency, r.recency.to_bits(), r.age.to_bits()))
                .or_insert(0) += 1;
        }
        counts
    };
    // Large inputs: one map per thread over a contiguous part, then merged (the
    // counts are integers and the output is sorted, so the answer is the same).
    let counts = if items.len() < PARALLEL_ROWS_MIN {
        count(items)
    } else {
        let part = items.len().div_ceil(rayon::current_num_threads().max(1));
        let mut parts: Vec<Counts> = items.par_chunks(part).map(count).collect();
        let mut counts = parts.swap_remove(0);
        for other in parts {
            for (key, n) in other {
                *counts.entry(key).or_insert(0) += n;
            }
        }
        counts
    };
    let mut out: Vec<WeightedRow> = counts
        .into_iter()
        .map(|((frequency, recency, age), count)| WeightedRow {
            frequency,
            recency: f64::from_bits(recency),
            age: f64::from_bits(age),
            weight: f64::from(count),
        })
        .collect();
    out.sort_unstable_by_key(|r| (r.frequency, total_order(r.recency), total_order(r.age)));
    out
}

/// Checks continuous-time rows (BG/NBD family, Pareto/NBD) and the degenerate cases.
pub(crate) fn validate_continuous(rows: &[WeightedRow]) -> Result<(), FitError> {
    for (i, r) in rows.iter().enumerate() {
        let reason = if !(r.recency.is_finite() && r.age.is_finite() && r.weight.is_finite()) {
            Some("non-finite value")
        } else if r.weight <= 0.0 {
            Some("weight must be positive")
        } else if r.recency < 0.0 {
            Some("recency must be non-negative")
        } else if r.age <= 0.0 {
            Some("age (T) must be positive")
        } else if r.recency > r.age {
            Some("recency exceeds age (T)")
        } else if r.frequency == 0 && r.recency != 0.0 {
            Some("recency must be 0 when frequency is 0")
        } else if r.frequency > 0 && r.recency <= 0.0 {
            Some("recency must be positive when frequency is positive")
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(FitError::InvalidInput { row: i, reason });
        }
    }
    check_degenerate(rows)
}

pub(crate) fn check_degenerate(rows: &[WeightedRow]) -> Result<(), FitError> {
    let customers: f64 = rows.iter().map(|r| r.weight).sum();
    if customers < MIN_CUSTOMERS {
        return Err(FitError::TooFewCustomers {
            customers,
            min: MIN_CUSTOMERS,
        });
    }
    if rows.iter().all(|r| r.frequency == 0) {
        return Err(FitError::NoRepeatBuyers);
    }
    let first = rows[0];
    if rows
        .iter()
        .all(|r| r.frequency == first.frequency && r.recency == first.recency && r.age == first.age)
    {
        return Err(FitError::IdenticalRows);
    }
    Ok(())
}

/// Fewest customers (total weight) a fit accepts.
pub const MIN_CUSTOMERS: f64 = 2.0;

/// One evaluation of a [`LogLikelihoodAndGradient`], remembered.
struct Evaluation {
    theta: Vec<f64>,
    log_likelihood: f64,
    gradient: Vec<f64>,
}

/// A total log-likelihood with its gradient in the natural parameters.
pub(crate) type LogLikelihoodAndGradient<'a> = dyn Fn(&[f64]) -> (f64, Vec<f64>) + Sync + 'a;

/// Maximum-likelihood fit over log-parameters with an analytic gradient: `total`
/// maps natural parameters θ to (total LL, ∂LL/∂θ); `start` are natural start
/// values. BFGS runs on the exact gradient (chain rule through θ = eᶻ) and the
/// Hessian for standard errors comes from forward gradient differences.
pub(crate) fn fit_by_log_parameters_with_gradient<P: ModelParams>(
    total: &LogLikelihoodAndGradient<'_>,
    start: &P,
    total_weight: f64,
    options: &FitOptions,
) -> Result<FitReport<P>, FitError> {
    // The start check, BFGS's first step, the final log-likelihood and the
    // Hessian's base gradient all ask for points already evaluated: remember the last.
    let last: RefCell<Option<Evaluation>> = RefCell::new(None);
    let total = |theta: &[f64]| -> (f64, Vec<f64>) {
        if let Some(e) = &*last.borrow()
            && e.theta == theta
        {
            return (e.log_likelihood, e.gradient.clone());
        }
        let (log_likelihood, gradient) = total(theta);
        *last.borrow_mut() = Some(Evaluation {
            theta: theta.to_vec(),
            log_likelihood,
            gradient: gradient.clone(),
        });
        (log_likelihood, gradient)
    };
    let penalizer = options.penalizer;
    let objective = |z: &[f64]| -> (f64, Vec<f64>) {
        if z.iter().any(|v| v.abs() > LOG_PARAMETER_DOMAIN_ABS_MAX) {
            return (f64::INFINITY, vec![0.0; z.len()]);
        }
        let theta: Vec<f64> = z.iter().map(|v| v.exp()).collect();
        let (ll, grad) = total(&theta);
        if !ll.is_finite() {
            return (f64::INFINITY, vec![0.0; z.len()]);
        }
        let penalty: f64 = penalizer * theta.iter().map(|v| v * v).sum::<f64>();
        let g = theta
            .iter()
            .zip(&grad)
            .map(|(t, d)| (-d / total_weight + 2.0 * penalizer * t) * t)
            .collect();
        (-ll / total_weight + penalty, g)
    };
    let z0: Vec<f64> = start.to_vec().iter().map(|v| v.ln()).collect();
    if !objective(&z0).0.is_finite() {
        return Err(FitError::NonFinite {
            what: "log-likelihood at the start point",
        });
    }
    let minimum = optimize::minimize_with_gradient(
        &objective,
        &z0,
        &MinimizeOptions {
            iterations_max: options.iterations_max,
            gradient_tolerance: options.gradient_tolerance,
        },
    );
    let theta: Vec<f64> = minimum.point.iter().map(|v| v.exp()).collect();
    let log_likelihood = total(&theta).0;
    if !log_likelihood.is_finite() {
        return Err(FitError::NonFinite {
            what: "log-likelihood at the optimum",
        });
    }
    if let Some(i) = minimum
        .point
        .iter()
        .position(|z| z.abs() > LOG_PARAMETER_ABS_MAX)
    {
        return Err(FitError::HitBound {
            param: P::NAMES[i],
            value: theta[i],
        });
    }
    if !minimum.converged {
        return Err(FitError::NotConverged {
            iterations: minimum.iterations,
            gradient_norm: minimum.gradient_norm,
            log_likelihood,
            params: theta,
        });
    }
    let total_objective = |z: &[f64]| {
        let (v, g) = objective(z);
        (
            v * total_weight,
            g.iter().map(|d| d * total_weight).collect(),
        )
    };
    let gradient_at_minimum = total_objective(&minimum.point).1;
    let h = optimize::hessian_from_gradient_forward(
        &total_objective,
        &minimum.point,
        &gradient_at_minimum,
    );
    Ok(report_with_standard_errors(
        &theta,
        &h,
        log_likelihood,
        &minimum,
    ))
}

fn report_with_standard_errors<P: ModelParams>(
    theta: &[f64],
    hessian: &[Vec<f64>],
    log_likelihood: f64,
    minimum: &optimize::Minimum,
) -> FitReport<P> {
    let mut warnings = Vec::new();
    let standard_errors = match optimize::invert_positive_definite(hessian) {
        Some(cov) => Some(P::from_slice(
            &theta
                .iter()
                .enumerate()
                .map(|(i, t)| t * cov[i][i].sqrt())
                .collect::<Vec<_>>(),
        )),
        None => {
            warnings.push(FitWarning::SingularHessian);
            None
        }
    };
    FitReport {
        params: P::from_slice(theta),
        log_likelihood,
        iterations: minimum.iterations,
        gradient_norm: minimum.gradient_norm,
        converged: true,
        standard_errors,
        warnings,
    }
}

/// Predictions every continuous-time purchase model offers.
pub trait PurchaseModel: Sync {
    /// Probability the customer is still alive at the end of calibration.
    fn probability_alive(&self, row: &CustomerRow) -> f64;
    /// E[Y(t) | alive at T, x, T]: expected purchases in the next `t` time units of
    /// a customer known to be alive. It does not depend on t_x, so callers scoring
    /// many customers (CLV) compute it once per distinct (x, T).
    fn conditional_expected_purchases_if_alive(&self, frequency: u32, age: f64, t: f64) -> f64;
    /// E[Y(t) | x, t_x, T] = P(alive) · E[Y(t) | alive, x, T]: expected purchases in
    /// the next `t` time units.
    fn conditional_expected_purchases(&self, row: &CustomerRow, t: f64) -> f64 {
        self.probability_alive(row)
            * self.conditional_expected_purchases_if_alive(row.frequency, row.age, t)
    }
    /// E[X(t)]: expected purchases of a new customer in its first `t` time units.
    fn expected_purchases_new_customer(&self, t: f64) -> f64;
}

#[cfg(test)]
mod tests;

//! Pareto/NBD (Schmittlein, Morrison & Colombo 1987): Poisson purchasing with
//! gamma(r, α) rates and exponential lifetimes with gamma(s, β) dropout rates.
//!
//! The likelihood's "died between t_x and T" term is an integral that the
//! literature writes with ₂F₁ differences, which overflow or cancel for large x
//! (lifetimes #25). Here it is computed directly by Gauss–Legendre quadrature
//! after the substitution u = ((α + t_x)/(α + τ))^(r+s+x), which absorbs the
//! steep power-law decay so the remaining integrand ((α+τ)/(β+τ))^(s+1) is smooth
//! and bounded; everything stays in log space and no subtraction cancels.

use super::{
    CustomerRow, FitError, FitOptions, FitReport, GroupedRows, ModelParams, PurchaseModel,
    WeightedRow, compress, fit_by_log_parameters_with_gradient, validate_continuous,
};
use crate::special::{digamma, gauss_legendre_nodes, ln_gamma, log_add_exp};
use std::sync::OnceLock;

/// Gauss–Legendre nodes per panel of the death-time integral.
pub const QUADRATURE_NODES: usize = 12;

/// The u-interval [ρ, 1] is split into panels [b/8, b] down from 1 (geometric
/// grading, so the u^(1/k) endpoint behaviour at small ρ is resolved); at most
/// this many panels, the last one reaching down to ρ.
const QUADRATURE_PANELS_MAX: usize = 12;

/// Ratio between consecutive panel boundaries.
const QUADRATURE_PANEL_RATIO: f64 = 1.0 / 8.0;

// `log_parts` keeps the per-node terms on the stack (64 nodes per panel at most,
// the size the tests compare against).
const QUADRATURE_TERMS_MAX: usize = 64 * QUADRATURE_PANELS_MAX;
const _: () = assert!(QUADRATURE_NODES <= 64);

/// Terms of the gradient path, which always uses [`QUADRATURE_NODES`] per panel
/// (or [`DIRECT_NODES_WIDE`] at most).
const GRADIENT_TERMS_MAX: usize = QUADRATURE_NODES * QUADRATURE_PANELS_MAX;
const _: () = assert!(DIRECT_NODES_WIDE <= GRADIENT_TERMS_MAX);

/// The direct route (see `direct_route_applies`) needs (r+s+x)·ln((α+T)/(α+t_x))
/// at most this…
const DIRECT_DECAY_MAX: f64 = 30.0;

/// …and ln((α+T)/(α+t_x)) at most this.
const DIRECT_SPAN_MAX: f64 = 3.0;

/// Gauss–Legendre nodes of the direct route up to a decay of
/// [`DIRECT_DECAY_NARROW_MAX`], and [`DIRECT_NODES_WIDE`] beyond (both keep the
/// row's log-likelihood within about 1e-12 relative of 64-node panels).
pub const DIRECT_NODES: usize = 10;
const DIRECT_DECAY_NARROW_MAX: f64 = 10.0;
pub const DIRECT_NODES_WIDE: usize = 16;

/// Below this |s − 1| the expectations use their s → 1 limit.
const UNIT_SHAPE_EPSILON: f64 = 1e-9;

/// Pareto/NBD parameters: purchase rate λ ~ gamma(`r`, `alpha`), dropout rate
/// μ ~ gamma(`s`, `beta`); `alpha` and `beta` in the data's time unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParetoNbdParams {
    pub r: f64,
    pub alpha: f64,
    pub s: f64,
    pub beta: f64,
}

impl ModelParams for ParetoNbdParams {
    const NAMES: &'static [&'static str] = &["r", "alpha", "s", "beta"];
    fn to_vec(&self) -> Vec<f64> {
        vec![self.r, self.alpha, self.s, self.beta]
    }
    fn from_slice(v: &[f64]) -> Self {
        Self {
            r: v[0],
            alpha: v[1],
            s: v[2],
            beta: v[3],
        }
    }
}

fn nodes() -> &'static [(f64, f64)] {
    static NODES: OnceLock<Vec<(f64, f64)>> = OnceLock::new();
    NODES.get_or_init(|| gauss_legendre_nodes(QUADRATURE_NODES))
}

/// (ln of the "alive at T" part, ln of the "died in (t_x, T]" part), both
/// without the common factor Γ(r+x) αʳ / Γ(r).
fn log_parts(p: &ParetoNbdParams, row: &CustomerRow, nodes: &[(f64, f64)]) -> (f64, f64) {
    let ParetoNbdParams { r, alpha, s, beta } = *p;
    let x = f64::from(row.frequency);
    let log_alive = -(r + x) * (alpha + row.age).ln() + s * (beta.ln() - (beta + row.age).ln());
    if row.age <= row.recency {
        return (log_alive, f64::NEG_INFINITY);
    }
    let k = r + s + x;
    let log_alpha_tx = (alpha + row.recency).ln();
    let log_rho = k * (log_alpha_tx - (alpha + row.age).ln());
    let rho = log_rho.exp();
    // Integrand ((α+τ)/(β+τ))^(s+1) at τ(u) = (α+t_x) u^(−1/k) − α, in logs.
    let mut log_terms = [0.0_f64; QUADRATURE_TERMS_MAX];
    let mut used = 0;
    let mut peak = f64::NEG_INFINITY;
    let mut upper = 1.0_f64;
    for panel in 0..QUADRATURE_PANELS_MAX {
        let last = panel + 1 == QUADRATURE_PANELS_MAX || upper * QUADRATURE_PANEL_RATIO <= rho;
        let lower = if last {
            rho
        } else {
            upper * QUADRATURE_PANEL_RATIO
        };
        // Width of the first panel without cancellation when ρ is close to 1.
        let width = if panel == 0 && last {
            -log_rho.exp_m1()
        } else {
            upper - lower
        };
        let half = 0.5 * width;
        let mid = lower + half;
        for (node, weight) in nodes {
            let u = mid + half * node;
            let log_alpha_tau = log_alpha_tx - u.ln() / k;
            let tau = log_alpha_tau.exp() - alpha;
            let value = (weight * half).ln() + (s + 1.0) * (log_alpha_tau - (beta + tau).ln());
            log_terms[used] = value;
            used += 1;
            peak = peak.max(value);
        }
        if last {
            break;
        }
        upper = lower;
    }
    let sum: f64 = log_terms[..used].iter().map(|v| (v - peak).exp()).sum();
    let log_integral = peak + sum.ln();
    let log_died = s.ln() + s * beta.ln() - k * log_alpha_tx - k.ln() + log_integral;
    (log_alive, log_died)
}

/// Quadrature nodes with the logarithms of their weights: (node, ln weight).
fn log_weighted_nodes() -> &'static [(f64, f64)] {
    static NODES: OnceLock<Vec<(f64, f64)>> = OnceLock::new();
    NODES.get_or_init(|| nodes().iter().map(|&(x, w)| (x, w.ln())).collect())
}

/// ln(alive + died) of one row (without the common factor, as [`log_parts`])
/// and its gradient in (r, α, s, β). The died part's derivative is the integral
/// of the integrand's score, so it reuses the quadrature nodes of the value:
/// ∂/∂θ ln ∫ f = ∫ f ∂ln f/∂θ / ∫ f, with ∂ln f/∂r = −ln(α+τ),
/// ∂/∂α = −(r+x)/(α+τ), ∂/∂s = 1/s + ln β − ln(β+τ), ∂/∂β = s/β − (s+1)/(β+τ).
fn log_parts_with_gradient(p: &ParetoNbdParams, row: &WeightedRow) -> [f64; 5] {
    let ParetoNbdParams { r, alpha, s, beta } = *p;
    let x = f64::from(row.frequency);
    let log_alpha_age = (alpha + row.age).ln();
    let log_beta = beta.ln();
    let log_beta_age = (beta + row.age).ln();
    let log_alive = -(r + x) * log_alpha_age + s * (log_beta - log_beta_age);
    let alive_gradient = [
        -log_alpha_age,
        -(r + x) / (alpha + row.age),
        log_beta - log_beta_age,
        s / beta - s / (beta + row.age),
    ];
    if row.age <= row.recency {
        let [dr, da, ds, db] = alive_gradient;
        return [log_alive, dr, da, ds, db];
    }
    let k = r + s + x;
    let log_alpha_tx = (alpha + row.recency).ln();
    // Per node: ln term, ln(α+τ), 1/(α+τ), ln(β+τ), 1/(β+τ); the arrays are sized
    // per route (zeroing the panels' array costs as much as a short rule).
    let span = ((row.age - row.recency) / (alpha + row.recency)).ln_1p();
    let (sums, peak, log_factor) = if direct_route_applies(p, k, span, log_alpha_tx) {
        let mut terms = [[0.0_f64; 5]; DIRECT_NODES_WIDE];
        let used = direct_terms(p, x, log_alpha_tx, span, &mut terms);
        let (sums, peak) = weighted_sums(&terms[..used]);
        (sums, peak, s.ln() + s * log_beta)
    } else {
        let mut terms = [[0.0_f64; 5]; GRADIENT_TERMS_MAX];
        let used = panel_terms(p, k, log_alpha_tx, log_alpha_age, &mut terms);
        let (sums, peak) = weighted_sums(&terms[..used]);
        (
            sums,
            peak,
            s.ln() + s * log_beta - k * log_alpha_tx - k.ln(),
        )
    };
    let log_died = log_factor + peak + sums[0].ln();
    let mean = |i: usize| sums[i] / sums[0];
    let died_gradient = [
        -mean(1),
        -(r + x) * mean(2),
        1.0 / s + log_beta - mean(3),
        s / beta - (s + 1.0) * mean(4),
    ];
    let total = log_add_exp(log_alive, log_died);
    let (wa, wd) = ((log_alive - total).exp(), (log_died - total).exp());
    let mut out = [total, 0.0, 0.0, 0.0, 0.0];
    for i in 0..4 {
        out[i + 1] = wa * alive_gradient[i] + wd * died_gradient[i];
    }
    out
}

/// Whether the death-time integral of a row is taken directly in v = ln(α + τ)
/// with [`DIRECT_NODES`] or [`DIRECT_NODES_WIDE`] Gauss–Legendre nodes rather
/// than on graded u-panels.
/// In v the integrand is e^(−(r+x−1)v) (β − α + eᵛ)^(−(s+1)) over an interval of
/// length `span` = ln((α+T)/(α+t_x)): entire in its exponential part, so the
/// rule converges fast while k·span (the decay across the interval) is moderate;
/// its only singularities sit at v = ln(β−α) ± iπ (β > α) or at ln(α−β) left of
/// the interval (α > β), which must stay well away from it.
fn direct_route_applies(p: &ParetoNbdParams, k: f64, span: f64, log_alpha_tx: f64) -> bool {
    k * span <= DIRECT_DECAY_MAX
        && span <= DIRECT_SPAN_MAX
        && (p.beta >= p.alpha || log_alpha_tx - (p.alpha - p.beta).ln() >= 2.0 * span)
}

/// Gauss–Legendre nodes of the direct route for a decay k·span, with ln weights.
fn direct_nodes(decay: f64) -> &'static [(f64, f64)] {
    static NARROW: OnceLock<Vec<(f64, f64)>> = OnceLock::new();
    static WIDE: OnceLock<Vec<(f64, f64)>> = OnceLock::new();
    let (cell, count) = if decay <= DIRECT_DECAY_NARROW_MAX {
        (&NARROW, DIRECT_NODES)
    } else {
        (&WIDE, DIRECT_NODES_WIDE)
    };
    cell.get_or_init(|| {
        gauss_legendre_nodes(count)
            .iter()
            .map(|&(x, w)| (x, w.ln()))
            .collect()
    })
}

/// Direct-route terms (see [`direct_route_applies`]): the τ-integrand
/// (α+τ)^(−(r+x)) (β+τ)^(−(s+1)) dτ/dv at each node, in logs, with the scores.
fn direct_terms(
    p: &ParetoNbdParams,
    x: f64,
    log_alpha_tx: f64,
    span: f64,
    terms: &mut [[f64; 5]],
) -> usize {
    let ParetoNbdParams { r, alpha, s, beta } = *p;
    let half = 0.5 * span;
    let log_half = half.ln();
    let mid = log_alpha_tx + half;
    let nodes = direct_nodes((r + s + x) * span);
    debug_assert!(nodes.len() <= terms.len());
    for (slot, &(node, log_weight)) in terms.iter_mut().zip(nodes) {
        let v = mid + half * node;
        let alpha_tau = v.exp();
        let beta_tau = alpha_tau - alpha + beta;
        let log_beta_tau = beta_tau.ln();
        let value = log_weight + log_half - (r + x - 1.0) * v - (s + 1.0) * log_beta_tau;
        *slot = [value, v, 1.0 / alpha_tau, log_beta_tau, 1.0 / beta_tau];
    }
    nodes.len()
}

/// Σ e^(ln term − peak) and the same weighted sums of the scores, with the peak.
fn weighted_sums(terms: &[[f64; 5]]) -> ([f64; 5], f64) {
    let peak = terms.iter().fold(f64::NEG_INFINITY, |m, t| m.max(t[0]));
    let mut sums = [0.0_f64; 5];
    for t in terms {
        let w = (t[0] - peak).exp();
        sums[0] += w;
        for i in 1..5 {
            sums[i] += w * t[i];
        }
    }
    (sums, peak)
}

/// Graded u-panel terms (see [`log_parts`]) with the scores.
fn panel_terms(
    p: &ParetoNbdParams,
    k: f64,
    log_alpha_tx: f64,
    log_alpha_age: f64,
    terms: &mut [[f64; 5]; GRADIENT_TERMS_MAX],
) -> usize {
    let ParetoNbdParams { alpha, s, beta, .. } = *p;
    let log_rho = k * (log_alpha_tx - log_alpha_age);
    let rho = log_rho.exp();
    let mut used = 0;
    let mut upper = 1.0_f64;
    for panel in 0..QUADRATURE_PANELS_MAX {
        let last = panel + 1 == QUADRATURE_PANELS_MAX || upper * QUADRATURE_PANEL_RATIO <= rho;
        let lower = if last {
            rho
        } else {
            upper * QUADRATURE_PANEL_RATIO
        };
        let width = if panel == 0 && last {
            -log_rho.exp_m1()
        } else {
            upper - lower
        };
        let half = 0.5 * width;
        let log_half = half.ln();
        let mid = lower + half;
        for &(node, log_weight) in log_weighted_nodes() {
            let u = mid + half * node;
            let log_alpha_tau = log_alpha_tx - u.ln() / k;
            let alpha_tau = log_alpha_tau.exp();
            let beta_tau = alpha_tau - alpha + beta;
            let log_beta_tau = beta_tau.ln();
            let value = log_weight + log_half + (s + 1.0) * (log_alpha_tau - log_beta_tau);
            terms[used] = [
                value,
                log_alpha_tau,
                1.0 / alpha_tau,
                log_beta_tau,
                1.0 / beta_tau,
            ];
            used += 1;
        }
        if last {
            break;
        }
        upper = lower;
    }
    used
}

fn log_likelihood_and_gradient(params: &ParetoNbdParams, data: &GroupedRows) -> (f64, Vec<f64>) {
    let bases: Vec<(f64, f64)> = data
        .distinct_frequencies
        .iter()
        .map(|&x| {
            let x = f64::from(x);
            (
                base(params, x as u32),
                digamma(params.r + x) - digamma(params.r) + params.alpha.ln(),
            )
        })
        .collect();
    let v = data.weighted_sum_n(|row, slot| {
        let mut out = log_parts_with_gradient(params, row);
        out[0] += bases[slot].0;
        out[1] += bases[slot].1;
        out[2] += params.r / params.alpha;
        out
    });
    (v[0], v[1..].to_vec())
}

/// Gradient of the total log-likelihood in (r, α, s, β) (analytic; the
/// death-time integral is differentiated under the integral sign).
pub fn log_likelihood_gradient(params: &ParetoNbdParams, rows: &[WeightedRow]) -> Vec<f64> {
    log_likelihood_and_gradient(params, &GroupedRows::new(rows.to_vec())).1
}

fn base(p: &ParetoNbdParams, x: u32) -> f64 {
    let x = f64::from(x);
    ln_gamma(p.r + x) - ln_gamma(p.r) + p.r * p.alpha.ln()
}

/// Log-likelihood of one customer.
pub fn row_log_likelihood(params: &ParetoNbdParams, row: &CustomerRow) -> f64 {
    let (alive, died) = log_parts(params, row, nodes());
    base(params, row.frequency) + log_add_exp(alive, died)
}

fn grouped_log_likelihood(params: &ParetoNbdParams, data: &GroupedRows) -> f64 {
    let bases: Vec<f64> = data
        .distinct_frequencies
        .iter()
        .map(|&x| base(params, x))
        .collect();
    let nodes = nodes();
    data.weighted_sum(|row, slot| {
        let (alive, died) = log_parts(params, &row.row(), nodes);
        bases[slot] + log_add_exp(alive, died)
    })
}

/// Total log-likelihood of weighted rows.
pub fn log_likelihood(params: &ParetoNbdParams, rows: &[WeightedRow]) -> f64 {
    grouped_log_likelihood(params, &GroupedRows::new(rows.to_vec()))
}

/// Fits by maximum likelihood; rows are compressed to unique (x, t_x, T) first.
/// Deterministic (fixed, data-driven start point).
pub fn fit(
    rows: &[CustomerRow],
    options: &FitOptions,
) -> Result<FitReport<ParetoNbdParams>, FitError> {
    fit_weighted(&compress(rows), options)
}

/// Fits weighted rows by maximum likelihood.
pub fn fit_weighted(
    rows: &[WeightedRow],
    options: &FitOptions,
) -> Result<FitReport<ParetoNbdParams>, FitError> {
    validate_continuous(rows)?;
    let data = GroupedRows::new(rows.to_vec());
    let (purchases, exposure, max_age) = data.rows.iter().fold((0.0, 0.0, 0.0_f64), |acc, r| {
        (
            acc.0 + r.weight * f64::from(r.frequency),
            acc.1 + r.weight * r.age,
            acc.2.max(r.age),
        )
    });
    let start = ParetoNbdParams {
        r: 1.0,
        alpha: (exposure / purchases.max(1.0)).max(1e-3),
        s: 1.0,
        beta: max_age,
    };
    fit_by_log_parameters_with_gradient(
        &|theta: &[f64]| log_likelihood_and_gradient(&ParetoNbdParams::from_slice(theta), &data),
        &start,
        data.total_weight,
        options,
    )
}

/// (1 − (1 + h)^(−(s−1))) / (s − 1), with its s → 1 limit ln(1 + h).
fn power_difference(s: f64, h: f64) -> f64 {
    let log_growth = h.ln_1p();
    if (s - 1.0).abs() < UNIT_SHAPE_EPSILON {
        log_growth
    } else {
        -(-(s - 1.0) * log_growth).exp_m1() / (s - 1.0)
    }
}

impl PurchaseModel for ParetoNbdParams {
    fn probability_alive(&self, row: &CustomerRow) -> f64 {
        let (alive, died) = log_parts(self, row, nodes());
        (alive - log_add_exp(alive, died)).exp()
    }

    fn conditional_expected_purchases_if_alive(&self, frequency: u32, age: f64, t: f64) -> f64 {
        let x = f64::from(frequency);
        (self.r + x) / (self.alpha + age)
            * (self.beta + age)
            * power_difference(self.s, t / (self.beta + age))
    }

    fn expected_purchases_new_customer(&self, t: f64) -> f64 {
        self.r / self.alpha * self.beta * power_difference(self.s, t / self.beta)
    }
}

#[cfg(test)]
mod tests;

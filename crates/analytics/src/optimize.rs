//! Unconstrained minimisation for the maximum-likelihood fits: BFGS with an
//! Armijo backtracking line search, on analytic gradients ([`minimize_with_gradient`])
//! or central finite-difference gradients ([`minimize`]), a Nelder–Mead fallback
//! for when BFGS stalls far from a stationary point, and a Hessian (from gradient
//! differences, or from function values) for standard errors. The models optimise over
//! log-parameters, so "unconstrained" covers their positivity constraints.
//!
//! Objectives return `f64::INFINITY` (or NaN) outside their domain; both methods
//! treat such points as worse than any finite value and never return them.

// Small dense linear algebra reads best with explicit indices.
#![allow(clippy::needless_range_loop)]

/// Relative step of the central-difference gradient (in the optimiser's coordinates).
pub const GRADIENT_STEP_RELATIVE: f64 = 1e-5;

/// Relative step of the finite-difference Hessian.
pub const HESSIAN_STEP_RELATIVE: f64 = 1e-4;

/// Armijo sufficient-decrease constant.
const ARMIJO_C1: f64 = 1e-4;

/// Smallest line-search step tried before BFGS declares the search stalled.
const LINE_SEARCH_STEP_MIN: f64 = 1e-12;

/// A stalled BFGS run still counts as converged when the gradient (sup norm) is
/// below this: the optimum was reached to the precision of the finite differences.
const STALLED_GRADIENT_TOLERANCE: f64 = 1e-5;

/// A step that lowers the objective by less than this fraction of its value,
/// with the gradient below [`STALLED_GRADIENT_TOLERANCE`], ends BFGS as converged.
const STALLED_RELATIVE_DECREASE: f64 = 1e-15;

/// Settings of [`minimize`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MinimizeOptions {
    /// Most BFGS iterations per attempt.
    pub iterations_max: u32,
    /// Convergence when the sup norm of the gradient falls below this.
    pub gradient_tolerance: f64,
}

impl Default for MinimizeOptions {
    fn default() -> Self {
        Self {
            iterations_max: 500,
            gradient_tolerance: 1e-8,
        }
    }
}

/// Result of a minimisation; `converged` says whether the stopping rule was met.
#[derive(Debug, Clone, PartialEq)]
pub struct Minimum {
    pub point: Vec<f64>,
    pub value: f64,
    /// BFGS iterations plus Nelder–Mead iterations, over all attempts.
    pub iterations: u32,
    /// Sup norm of the finite-difference gradient at `point`.
    pub gradient_norm: f64,
    pub converged: bool,
}

fn finite_or_inf(value: f64) -> f64 {
    if value.is_finite() {
        value
    } else {
        f64::INFINITY
    }
}

/// Central-difference gradient of `f` at `x`.
pub fn gradient(f: &dyn Fn(&[f64]) -> f64, x: &[f64]) -> Vec<f64> {
    let mut probe = x.to_vec();
    (0..x.len())
        .map(|i| {
            let h = GRADIENT_STEP_RELATIVE * x[i].abs().max(1.0);
            probe[i] = x[i] + h;
            let up = f(&probe);
            probe[i] = x[i] - h;
            let down = f(&probe);
            probe[i] = x[i];
            (up - down) / (2.0 * h)
        })
        .collect()
}

/// Finite-difference Hessian of `f` at `x` (symmetric, from function values).
pub fn hessian(f: &dyn Fn(&[f64]) -> f64, x: &[f64]) -> Vec<Vec<f64>> {
    let n = x.len();
    let steps: Vec<f64> = x
        .iter()
        .map(|v| HESSIAN_STEP_RELATIVE * v.abs().max(1.0))
        .collect();
    let centre = f(x);
    let mut probe = x.to_vec();
    let mut eval = |moves: &[(usize, f64)]| {
        for &(i, d) in moves {
            probe[i] += d;
        }
        let value = f(&probe);
        probe.copy_from_slice(x);
        value
    };
    let mut out = vec![vec![0.0; n]; n];
    for i in 0..n {
        let hi = steps[i];
        out[i][i] = (eval(&[(i, hi)]) - 2.0 * centre + eval(&[(i, -hi)])) / (hi * hi);
        for j in 0..i {
            let hj = steps[j];
            let value = (eval(&[(i, hi), (j, hj)])
                - eval(&[(i, hi), (j, -hj)])
                - eval(&[(i, -hi), (j, hj)])
                + eval(&[(i, -hi), (j, -hj)]))
                / (4.0 * hi * hj);
            out[i][j] = value;
            out[j][i] = value;
        }
    }
    out
}

/// Hessian of `f` at `x` by central differences of its analytic gradient,
/// symmetrised (2n gradient evaluations instead of O(n²) function values).
pub fn hessian_from_gradient(f: &ValueAndGradient<'_>, x: &[f64]) -> Vec<Vec<f64>> {
    let n = x.len();
    let mut out = vec![vec![0.0; n]; n];
    let mut probe = x.to_vec();
    for j in 0..n {
        let h = HESSIAN_STEP_RELATIVE * x[j].abs().max(1.0);
        probe[j] = x[j] + h;
        let up = f(&probe).1;
        probe[j] = x[j] - h;
        let down = f(&probe).1;
        probe[j] = x[j];
        for i in 0..n {
            out[i][j] = (up[i] - down[i]) / (2.0 * h);
        }
    }
    for i in 0..n {
        for j in 0..i {
            let mean = 0.5 * (out[i][j] + out[j][i]);
            out[i][j] = mean;
            out[j][i] = mean;
        }
    }
    out
}

/// Hessian of `f` at `x` by forward differences of its analytic gradient from
/// `gradient_at_x`, symmetrised: n gradient evaluations, O(h) accurate (about
/// 1e-4 relative), ample for standard errors.
pub fn hessian_from_gradient_forward(
    f: &ValueAndGradient<'_>,
    x: &[f64],
    gradient_at_x: &[f64],
) -> Vec<Vec<f64>> {
    let n = x.len();
    let mut out = vec![vec![0.0; n]; n];
    let mut probe = x.to_vec();
    for j in 0..n {
        let h = HESSIAN_STEP_RELATIVE * x[j].abs().max(1.0);
        probe[j] = x[j] + h;
        let up = f(&probe).1;
        probe[j] = x[j];
        for i in 0..n {
            out[i][j] = (up[i] - gradient_at_x[i]) / h;
        }
    }
    for i in 0..n {
        for j in 0..i {
            let mean = 0.5 * (out[i][j] + out[j][i]);
            out[i][j] = mean;
            out[j][i] = mean;
        }
    }
    out
}

/// Inverse of a symmetric positive-definite matrix by Cholesky; `None` when the
/// matrix is not positive definite (or not finite).
pub fn invert_positive_definite(m: &[Vec<f64>]) -> Option<Vec<Vec<f64>>> {
    let n = m.len();
    let mut l = vec![vec![0.0; n]; n];
    for i in 0..n {
        for j in 0..=i {
            let mut sum = m[i][j];
            for k in 0..j {
                sum -= l[i][k] * l[j][k];
            }
            if i == j {
                if sum.is_nan() || sum <= 0.0 || !sum.is_finite() {
                    return None;
                }
                l[i][i] = sum.sqrt();
            } else {
                l[i][j] = sum / l[j][j];
            }
        }
    }
    // Solve L Lᵀ X = I column by column.
    let mut inv = vec![vec![0.0; n]; n];
    for col in 0..n {
        let mut y = vec![0.0; n];
        for i in 0..n {
            let mut sum = if i == col { 1.0 } else { 0.0 };
            for k in 0..i {
                sum -= l[i][k] * y[k];
            }
            y[i] = sum / l[i][i];
        }
        for i in (0..n).rev() {
            let mut sum = y[i];
            for k in i + 1..n {
                sum -= l[k][i] * inv[k][col];
            }
            inv[i][col] = sum / l[i][i];
        }
    }
    Some(inv)
}

fn sup_norm(v: &[f64]) -> f64 {
    v.iter().fold(0.0, |acc, g| acc.max(g.abs()))
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// An objective with its gradient: `(f(x), ∇f(x))`.
pub type ValueAndGradient<'a> = dyn Fn(&[f64]) -> (f64, Vec<f64>) + 'a;

/// BFGS on `f` from `x0` (inverse-Hessian update, Armijo backtracking) with
/// central finite-difference gradients.
pub fn bfgs(f: &dyn Fn(&[f64]) -> f64, x0: &[f64], options: &MinimizeOptions) -> Minimum {
    let f = |x: &[f64]| finite_or_inf(f(x));
    bfgs_with_gradient(&|x: &[f64]| (f(x), gradient(&f, x)), x0, options)
}

/// BFGS on `f` from `x0` with the gradient `f` returns. Points where the value
/// or the gradient is not finite count as outside the domain.
pub fn bfgs_with_gradient(
    f: &ValueAndGradient<'_>,
    x0: &[f64],
    options: &MinimizeOptions,
) -> Minimum {
    let f = |x: &[f64]| {
        let (value, g) = f(x);
        if value.is_finite() && g.iter().all(|v| v.is_finite()) {
            (value, g)
        } else {
            (f64::INFINITY, g)
        }
    };
    let n = x0.len();
    let mut x = x0.to_vec();
    let (mut value, mut g) = f(&x);
    let mut h_inv: Vec<Vec<f64>> = (0..n)
        .map(|i| (0..n).map(|j| if i == j { 1.0 } else { 0.0 }).collect())
        .collect();
    let mut iterations = 0;
    let mut first_step = true;
    while iterations < options.iterations_max {
        if !value.is_finite() || g.iter().any(|v| !v.is_finite()) {
            break;
        }
        if sup_norm(&g) < options.gradient_tolerance {
            return Minimum {
                gradient_norm: sup_norm(&g),
                point: x,
                value,
                iterations,
                converged: true,
            };
        }
        iterations += 1;
        let mut direction: Vec<f64> = (0..n).map(|i| -dot(&h_inv[i], &g)).collect();
        let mut slope = dot(&direction, &g);
        if slope.is_nan() || slope >= 0.0 {
            // Not a descent direction: reset to steepest descent.
            for i in 0..n {
                for j in 0..n {
                    h_inv[i][j] = if i == j { 1.0 } else { 0.0 };
                }
            }
            direction = g.iter().map(|v| -v).collect();
            slope = dot(&direction, &g);
        }
        let mut step = 1.0;
        let mut accepted = None;
        while step >= LINE_SEARCH_STEP_MIN {
            let trial: Vec<f64> = x
                .iter()
                .zip(&direction)
                .map(|(a, d)| a + step * d)
                .collect();
            let (trial_value, trial_g) = f(&trial);
            if trial_value <= value + ARMIJO_C1 * step * slope {
                accepted = Some((trial, trial_value, trial_g));
                break;
            }
            step *= 0.5;
        }
        let Some((next, next_value, next_g)) = accepted else {
            break;
        };
        let s: Vec<f64> = next.iter().zip(&x).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = next_g.iter().zip(&g).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &y);
        if sy > 1e-300 {
            if first_step {
                let scale = sy / dot(&y, &y);
                for (i, row) in h_inv.iter_mut().enumerate() {
                    row[i] = scale;
                }
                first_step = false;
            }
            let rho = 1.0 / sy;
            let hy: Vec<f64> = (0..n).map(|i| dot(&h_inv[i], &y)).collect();
            let yhy = dot(&y, &hy);
            for i in 0..n {
                for j in 0..n {
                    h_inv[i][j] +=
                        (1.0 + rho * yhy) * rho * s[i] * s[j] - rho * (hy[i] * s[j] + s[i] * hy[j]);
                }
            }
        }
        let decrease = value - next_value;
        x = next;
        value = next_value;
        g = next_g;
        // At scale the finite-difference gradient has a noise floor above a tight
        // tolerance; a step that no longer changes the objective ends the search.
        if decrease <= STALLED_RELATIVE_DECREASE * value.abs()
            && sup_norm(&g) < STALLED_GRADIENT_TOLERANCE
        {
            break;
        }
    }
    let gradient_norm = sup_norm(&g);
    Minimum {
        converged: value.is_finite()
            && gradient_norm.is_finite()
            && gradient_norm < STALLED_GRADIENT_TOLERANCE.max(options.gradient_tolerance),
        point: x,
        value,
        iterations,
        gradient_norm,
    }
}

/// Nelder–Mead simplex search from `x0` with initial edge `scale`.
pub fn nelder_mead(
    f: &dyn Fn(&[f64]) -> f64,
    x0: &[f64],
    scale: f64,
    iterations_max: u32,
) -> (Vec<f64>, f64, u32) {
    let f = |x: &[f64]| finite_or_inf(f(x));
    let n = x0.len();
    let mut simplex: Vec<(Vec<f64>, f64)> = Vec::with_capacity(n + 1);
    simplex.push((x0.to_vec(), f(x0)));
    for i in 0..n {
        let mut p = x0.to_vec();
        p[i] += scale;
        let v = f(&p);
        simplex.push((p, v));
    }
    let mut iterations = 0;
    while iterations < iterations_max {
        iterations += 1;
        simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
        let best = simplex[0].1;
        let worst = simplex[n].1;
        if worst.is_finite() && (worst - best).abs() <= 1e-14 * (best.abs() + 1e-14) {
            break;
        }
        let centroid: Vec<f64> = (0..n)
            .map(|j| simplex[..n].iter().map(|(p, _)| p[j]).sum::<f64>() / n as f64)
            .collect();
        let towards = |t: f64| -> Vec<f64> {
            centroid
                .iter()
                .zip(&simplex[n].0)
                .map(|(c, w)| c + t * (w - c))
                .collect()
        };
        let reflected = towards(-1.0);
        let reflected_value = f(&reflected);
        if reflected_value < simplex[0].1 {
            let expanded = towards(-2.0);
            let expanded_value = f(&expanded);
            simplex[n] = if expanded_value < reflected_value {
                (expanded, expanded_value)
            } else {
                (reflected, reflected_value)
            };
        } else if reflected_value < simplex[n - 1].1 {
            simplex[n] = (reflected, reflected_value);
        } else {
            let contracted = if reflected_value < simplex[n].1 {
                towards(-0.5)
            } else {
                towards(0.5)
            };
            let contracted_value = f(&contracted);
            if contracted_value < simplex[n].1.min(reflected_value) {
                simplex[n] = (contracted, contracted_value);
            } else {
                let best_point = simplex[0].0.clone();
                for vertex in simplex.iter_mut().skip(1) {
                    let p: Vec<f64> = best_point
                        .iter()
                        .zip(&vertex.0)
                        .map(|(b, v)| b + 0.5 * (v - b))
                        .collect();
                    let v = f(&p);
                    *vertex = (p, v);
                }
            }
        }
    }
    simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
    let (point, value) = simplex.swap_remove(0);
    (point, value, iterations)
}

/// Most Nelder–Mead iterations of the fallback in [`minimize`].
const NELDER_MEAD_ITERATIONS_MAX: u32 = 5_000;

/// BFGS from `x0`; when it stops without converging, Nelder–Mead from the best
/// point found, then BFGS again to polish. Deterministic. Finite-difference gradients.
pub fn minimize(f: &dyn Fn(&[f64]) -> f64, x0: &[f64], options: &MinimizeOptions) -> Minimum {
    let f = |x: &[f64]| finite_or_inf(f(x));
    minimize_with_gradient(&|x: &[f64]| (f(x), gradient(&f, x)), x0, options)
}

/// [`minimize`] with the gradient `f` returns (the Nelder–Mead fallback uses the values).
pub fn minimize_with_gradient(
    f: &ValueAndGradient<'_>,
    x0: &[f64],
    options: &MinimizeOptions,
) -> Minimum {
    let first = bfgs_with_gradient(f, x0, options);
    if first.converged {
        return first;
    }
    let start = if first.value.is_finite() {
        first.point.clone()
    } else {
        x0.to_vec()
    };
    let (point, _, nm_iterations) =
        nelder_mead(&|x: &[f64]| f(x).0, &start, 0.5, NELDER_MEAD_ITERATIONS_MAX);
    let mut second = bfgs_with_gradient(f, &point, options);
    second.iterations += first.iterations + nm_iterations;
    if second.value.is_finite() && (second.value <= first.value || !first.value.is_finite()) {
        second
    } else {
        Minimum {
            iterations: second.iterations,
            ..first
        }
    }
}

#[cfg(test)]
mod tests;

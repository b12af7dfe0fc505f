use super::*;
use crate::test_data::cdnow_rows;

fn row(frequency: u32, recency: f64, age: f64) -> CustomerRow {
    CustomerRow {
        frequency,
        recency,
        age,
    }
}

#[test]
fn compress_merges_identical_rows_and_keeps_the_total_weight() {
    let rows = cdnow_rows();
    let compressed = compress(&rows);
    let total: f64 = compressed.iter().map(|r| r.weight).sum();
    assert_eq!(total, rows.len() as f64);
    assert!(compressed.len() < rows.len());
    let mut keys: Vec<_> = rows
        .iter()
        .map(|r| (r.frequency, r.recency.to_bits(), r.age.to_bits()))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(compressed.len(), keys.len());
}

/// Above the parallel threshold the counts are made per part and merged: the same
/// weighted rows as counting them one by one.
#[test]
fn compress_in_parallel_parts_counts_like_one_pass() {
    let rows: Vec<CustomerRow> = (0..3 * PARALLEL_ROWS_MIN as u32)
        .map(|i| {
            let x = i % 7;
            let age = f64::from(10 + i % 13);
            row(x, if x == 0 { 0.0 } else { f64::from(i % 5 + 1) }, age)
        })
        .collect();
    let mut want: std::collections::BTreeMap<(u32, u64, u64), f64> = Default::default();
    for r in &rows {
        *want
            .entry((r.frequency, r.recency.to_bits(), r.age.to_bits()))
            .or_default() += 1.0;
    }
    let got = compress(&rows);
    assert_eq!(got.len(), want.len());
    for w in &got {
        assert_eq!(
            want[&(w.frequency, w.recency.to_bits(), w.age.to_bits())],
            w.weight
        );
    }
    assert!(got.windows(2).all(
        |p| (p[0].frequency, p[0].recency, p[0].age) < (p[1].frequency, p[1].recency, p[1].age)
    ));
}

#[test]
fn degenerate_data_is_an_error() {
    let w = |r: CustomerRow| WeightedRow {
        frequency: r.frequency,
        recency: r.recency,
        age: r.age,
        weight: 1.0,
    };
    let cases: Vec<(Vec<CustomerRow>, FitError)> = vec![
        (
            vec![row(1, 2.0, 3.0)],
            FitError::TooFewCustomers {
                customers: 1.0,
                min: MIN_CUSTOMERS,
            },
        ),
        (
            vec![row(0, 0.0, 3.0), row(0, 0.0, 5.0)],
            FitError::NoRepeatBuyers,
        ),
        (
            vec![row(2, 1.0, 3.0), row(2, 1.0, 3.0)],
            FitError::IdenticalRows,
        ),
        (
            vec![row(2, 4.0, 3.0), row(2, 1.0, 3.0)],
            FitError::InvalidInput {
                row: 0,
                reason: "recency exceeds age (T)",
            },
        ),
        (
            vec![row(0, 1.0, 3.0), row(2, 1.0, 3.0)],
            FitError::InvalidInput {
                row: 0,
                reason: "recency must be 0 when frequency is 0",
            },
        ),
    ];
    for (rows, want) in cases {
        let weighted: Vec<WeightedRow> = rows.into_iter().map(w).collect();
        assert_eq!(validate_continuous(&weighted), Err(want));
    }
}

#[test]
fn weighted_sum_is_the_same_serial_and_parallel() {
    let rows: Vec<WeightedRow> = (0..PARALLEL_ROWS_MIN as u32 + 10)
        .map(|i| WeightedRow {
            frequency: i % 7,
            recency: f64::from(i % 5),
            age: 10.0,
            weight: 1.0 + f64::from(i % 3),
        })
        .collect();
    let data = GroupedRows::new(rows.clone());
    let parallel = data.weighted_sum(|r, slot| {
        assert_eq!(data.distinct_frequencies[slot], r.frequency);
        r.recency + 1.0
    });
    let serial: f64 = rows.iter().map(|r| r.weight * (r.recency + 1.0)).sum();
    assert!((parallel - serial).abs() < 1e-6 * serial);
}

/// splitmix64 with the samplers the recovery test needs (seeded, deterministic).
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform on (0, 1).
    fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        (-2.0 * self.unit().ln()).sqrt() * (2.0 * std::f64::consts::PI * self.unit()).cos()
    }
    /// Gamma(shape, scale) by Marsaglia–Tsang (with the shape < 1 boost).
    fn gamma(&mut self, shape: f64, scale: f64) -> f64 {
        if shape < 1.0 {
            return self.gamma(shape + 1.0, scale) * self.unit().powf(1.0 / shape);
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = self.normal();
            let v = (1.0 + c * x).powi(3);
            if v > 0.0 && self.unit().ln() < 0.5 * x * x + d - d * v + d * v.ln() {
                return d * v * scale;
            }
        }
    }
    fn beta(&mut self, a: f64, b: f64) -> f64 {
        let x = self.gamma(a, 1.0);
        x / (x + self.gamma(b, 1.0))
    }
}

/// Central finite differences of `f` at `theta`, relative step.
fn numeric_gradient(f: &dyn Fn(&[f64]) -> f64, theta: &[f64]) -> Vec<f64> {
    (0..theta.len())
        .map(|i| {
            let h = 1e-6 * theta[i];
            let mut up = theta.to_vec();
            let mut down = theta.to_vec();
            up[i] += h;
            down[i] -= h;
            (f(&up) - f(&down)) / (2.0 * h)
        })
        .collect()
}

fn assert_gradients_agree(name: &str, analytic: &[f64], numeric: &[f64], scale: f64) {
    for (i, (a, n)) in analytic.iter().zip(numeric).enumerate() {
        assert!(
            (a - n).abs() <= 1e-5 * scale.max(a.abs()),
            "{name} ∂{i}: analytic {a}, numeric {n}"
        );
    }
}

#[test]
fn analytic_gradients_match_finite_differences_at_random_parameters() {
    let rows = compress(&cdnow_rows());
    let spend: Vec<gamma_gamma::SpendRow> = crate::test_data::cdnow_summary()
        .iter()
        .filter(|c| c.row.frequency > 0)
        .map(|c| gamma_gamma::SpendRow {
            frequency: c.row.frequency,
            monetary_value: c.zbar,
        })
        .collect();
    let mut rng = Rng(7);
    for _ in 0..8 {
        let mut draw = |lo: f64, hi: f64| lo * (hi / lo).powf(rng.unit());
        let theta = [
            draw(0.05, 5.0),
            draw(0.5, 50.0),
            draw(0.1, 5.0),
            draw(0.2, 50.0),
        ];
        let ll_scale = bgnbd::log_likelihood(&bgnbd::BgNbdParams::from_slice(&theta), &rows).abs();
        let scale = 1e-3 * ll_scale;
        assert_gradients_agree(
            "BG/NBD",
            &bgnbd::log_likelihood_gradient(&bgnbd::BgNbdParams::from_slice(&theta), &rows),
            &numeric_gradient(
                &|t| bgnbd::log_likelihood(&bgnbd::BgNbdParams::from_slice(t), &rows),
                &theta,
            ),
            scale,
        );
        assert_gradients_agree(
            "MBG/NBD",
            &mbgnbd::log_likelihood_gradient(&mbgnbd::MbgNbdParams::from_slice(&theta), &rows),
            &numeric_gradient(
                &|t| mbgnbd::log_likelihood(&mbgnbd::MbgNbdParams::from_slice(t), &rows),
                &theta,
            ),
            scale,
        );
        assert_gradients_agree(
            "Pareto/NBD",
            &paretonbd::log_likelihood_gradient(
                &paretonbd::ParetoNbdParams::from_slice(&theta),
                &rows,
            ),
            &numeric_gradient(
                &|t| paretonbd::log_likelihood(&paretonbd::ParetoNbdParams::from_slice(t), &rows),
                &theta,
            ),
            scale,
        );
        let spend_theta = [theta[0] + 1.0, theta[2] + 1.0, theta[1]];
        assert_gradients_agree(
            "Gamma-Gamma",
            &gamma_gamma::log_likelihood_gradient(
                &gamma_gamma::GammaGammaParams::from_slice(&spend_theta),
                &spend,
            ),
            &numeric_gradient(
                &|t| {
                    gamma_gamma::log_likelihood(
                        &gamma_gamma::GammaGammaParams::from_slice(t),
                        &spend,
                    )
                },
                &spend_theta,
            ),
            scale,
        );
    }
}

#[test]
fn probability_alive_is_a_probability_and_moves_the_right_way() {
    let mut rng = Rng(11);
    for _ in 0..200 {
        let mut draw = |lo: f64, hi: f64| lo * (hi / lo).powf(rng.unit());
        let theta = [
            draw(0.05, 5.0),
            draw(0.5, 50.0),
            draw(0.1, 5.0),
            draw(0.2, 50.0),
        ];
        let models: [&dyn PurchaseModel; 3] = [
            &bgnbd::BgNbdParams::from_slice(&theta),
            &mbgnbd::MbgNbdParams::from_slice(&theta),
            &paretonbd::ParetoNbdParams::from_slice(&theta),
        ];
        let age = draw(1.0, 100.0);
        let frequency = (draw(1.0, 60.0)) as u32;
        let recency = age * rng.unit();
        for model in models {
            let p = |x: u32, tx: f64, t: f64| {
                model.probability_alive(&CustomerRow {
                    frequency: x,
                    recency: if x == 0 { 0.0 } else { tx },
                    age: t,
                })
            };
            let here = p(frequency, recency, age);
            assert!((0.0..=1.0).contains(&here), "{theta:?}: {here}");
            // A later last purchase means more likely alive; a longer silence
            // (larger T, same t_x) means less likely alive.
            assert!(p(frequency, (recency + 0.5 * (age - recency)).min(age), age) >= here - 1e-12);
            assert!(p(frequency, recency, age * 1.5) <= here + 1e-12);
            let expected = model.conditional_expected_purchases(
                &CustomerRow {
                    frequency,
                    recency,
                    age,
                },
                10.0,
            );
            assert!(
                expected.is_finite() && expected >= 0.0,
                "{theta:?}: {expected}"
            );
        }
    }
}

#[test]
fn expectations_stay_finite_at_a_equal_one_and_a_plus_b_equal_one() {
    let row = CustomerRow {
        frequency: 0,
        recency: 0.0,
        age: 30.0,
    };
    for (a, b) in [(1.0, 2.0), (0.4, 0.6), (1.0 + 1e-12, 2.0), (0.3, 0.5)] {
        let bg = bgnbd::BgNbdParams {
            r: 0.3,
            alpha: 4.0,
            a,
            b,
        };
        let mbg = mbgnbd::MbgNbdParams {
            r: 0.3,
            alpha: 4.0,
            a,
            b,
        };
        for model in [&bg as &dyn PurchaseModel, &mbg] {
            let conditional = model.conditional_expected_purchases(&row, 20.0);
            let new = model.expected_purchases_new_customer(20.0);
            assert!(
                conditional.is_finite() && conditional > 0.0,
                "a {a} b {b}: {conditional}"
            );
            assert!(new.is_finite() && new > 0.0, "a {a} b {b}: {new}");
        }
    }
    // At a = 1 the expectation is the limit of its neighbours.
    let at = |a: f64| {
        bgnbd::BgNbdParams {
            r: 0.3,
            alpha: 4.0,
            a,
            b: 2.0,
        }
        .conditional_expected_purchases(&row, 20.0)
    };
    assert!((at(1.0) - 0.5 * (at(1.0 - 1e-7) + at(1.0 + 1e-7))).abs() < 1e-9);
}

#[test]
fn bgnbd_recovers_the_parameters_it_generated_data_from() {
    // gen_bgnbd.py's process: births over 12 weeks, 78 weeks observed, BG/NBD purchases.
    let truth = bgnbd::BgNbdParams {
        r: 0.243,
        alpha: 4.414,
        a: 0.793,
        b: 2.426,
    };
    let (weeks, birth_weeks) = (78.0, 12.0);
    let mut rng = Rng(42);
    let rows: Vec<CustomerRow> = (0..20_000)
        .map(|_| {
            let birth = rng.unit() * birth_weeks;
            let lambda = rng.gamma(truth.r, 1.0 / truth.alpha).max(1e-300);
            let drop = rng.beta(truth.a, truth.b);
            let (mut t, mut last, mut x) = (birth, birth, 0);
            loop {
                t += -rng.unit().ln() / lambda;
                if t >= weeks {
                    break;
                }
                last = t;
                x += 1;
                if rng.unit() < drop {
                    break;
                }
            }
            CustomerRow {
                frequency: x,
                recency: last - birth,
                age: weeks - birth,
            }
        })
        .collect();
    let fit = bgnbd::fit(&rows, &FitOptions::default()).unwrap();
    let se = fit.standard_errors.unwrap();
    for (name, got, want, error) in [
        ("r", fit.params.r, truth.r, se.r),
        ("alpha", fit.params.alpha, truth.alpha, se.alpha),
        ("a", fit.params.a, truth.a, se.a),
        ("b", fit.params.b, truth.b, se.b),
    ] {
        assert!(
            (got - want).abs() <= 4.0 * error,
            "{name}: fitted {got} ± {error}, true {want}"
        );
    }
}

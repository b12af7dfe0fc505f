use super::*;

fn rosenbrock(x: &[f64]) -> f64 {
    (1.0 - x[0]).powi(2) + 100.0 * (x[1] - x[0] * x[0]).powi(2)
}

#[test]
fn bfgs_finds_the_rosenbrock_minimum() {
    let m = minimize(&rosenbrock, &[-1.2, 1.0], &MinimizeOptions::default());
    assert!(m.converged, "{m:?}");
    assert!(
        (m.point[0] - 1.0).abs() < 1e-5 && (m.point[1] - 1.0).abs() < 1e-5,
        "{m:?}"
    );
}

#[test]
fn nelder_mead_finds_a_quadratic_minimum() {
    let f = |x: &[f64]| (x[0] - 3.0).powi(2) + 2.0 * (x[1] + 1.0).powi(2);
    let (p, v, _) = nelder_mead(&f, &[0.0, 0.0], 1.0, 2_000);
    assert!(v < 1e-10 && (p[0] - 3.0).abs() < 1e-4, "{p:?} {v}");
}

#[test]
fn minimize_survives_infinite_regions() {
    // Domain x > 0; the start's first step overshoots into the infinite region.
    let f = |x: &[f64]| {
        if x[0] <= 0.0 {
            f64::INFINITY
        } else {
            x[0] - 2.0 * x[0].ln()
        }
    };
    let m = minimize(&f, &[0.1], &MinimizeOptions::default());
    assert!(m.converged && (m.point[0] - 2.0).abs() < 1e-6, "{m:?}");
}

#[test]
fn hessian_and_inverse_of_a_quadratic() {
    let f = |x: &[f64]| 2.0 * x[0] * x[0] + x[0] * x[1] + 3.0 * x[1] * x[1];
    let h = hessian(&f, &[0.3, -0.2]);
    let want = [[4.0, 1.0], [1.0, 6.0]];
    for i in 0..2 {
        for j in 0..2 {
            assert!((h[i][j] - want[i][j]).abs() < 1e-5, "{h:?}");
        }
    }
    let inv = invert_positive_definite(&h).unwrap();
    let det = 23.0;
    assert!((inv[0][0] - 6.0 / det).abs() < 1e-6 && (inv[0][1] + 1.0 / det).abs() < 1e-6);
    assert_eq!(
        invert_positive_definite(&[vec![1.0, 2.0], vec![2.0, 1.0]]),
        None
    );
}

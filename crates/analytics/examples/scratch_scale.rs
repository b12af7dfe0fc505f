use analytics::models::{CustomerRow, FitOptions, bgnbd, compress, paretonbd};
fn main() {
    let mut state: u64 = 42;
    let mut next = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut rows = Vec::new();
    for _ in 0..1_000_000 {
        let age = ((66.0 + 12.0 * next()) * 7.0).floor() / 7.0;
        let lambda = -0.3 * (next() * next()).ln();
        let p: f64 = 0.25 * next();
        let mut t = 0.0;
        let mut x = 0u32;
        let mut tx = 0.0;
        loop {
            t += -(next().max(1e-12)).ln() / lambda.max(1e-6);
            if t > age { break; }
            x += 1;
            tx = (t * 7.0).floor() / 7.0;
            if next() < p { break; }
        }
        if x > 0 && tx <= 0.0 { tx = 1.0 / 7.0; }
        rows.push(CustomerRow { frequency: x, recency: if x == 0 { 0.0 } else { tx.min(age) }, age });
    }
    let c = compress(&rows);
    println!("unique rows {}", c.len());
    let r = bgnbd::fit_weighted(&c, &FitOptions::default()).unwrap();
    println!("bgnbd {:?} ll {} it {}", r.params, r.log_likelihood, r.iterations);
    let r = paretonbd::fit_weighted(&c, &FitOptions::default()).unwrap();
    println!("pnbd {:?} ll {} it {}", r.params, r.log_likelihood, r.iterations);
}

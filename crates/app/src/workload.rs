//! Seeded generators of realistic shop data: a small PRNG, the gamma and beta draws the
//! BG/NBD + Gamma-Gamma process needs, and Taiwanese names. Used by `patron demo`,
//! `patron bench` and the tests; deterministic for a given seed.

/// SplitMix64's output function.
pub fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// xoshiro256** seeded through SplitMix64.
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    pub fn seeded(seed: u64) -> Rng {
        let mut s = [0; 4];
        let mut x = seed;
        for v in &mut s {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            *v = splitmix64(x);
        }
        Rng { s }
    }

    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [0, n).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit();
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Gamma(shape, scale) by Marsaglia and Tsang.
    pub fn gamma(&mut self, shape: f64, scale: f64) -> f64 {
        if shape < 1.0 {
            let u = 1.0 - self.unit();
            return self.gamma(shape + 1.0, scale) * u.powf(1.0 / shape);
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = self.normal();
            let v = (1.0 + c * x).powi(3);
            if v <= 0.0 {
                continue;
            }
            let u = 1.0 - self.unit();
            if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
                return d * v * scale;
            }
        }
    }

    pub fn beta(&mut self, a: f64, b: f64) -> f64 {
        let x = self.gamma(a, 1.0);
        let y = self.gamma(b, 1.0);
        x / (x + y)
    }

    /// Exponential with the given rate.
    pub fn exponential(&mut self, rate: f64) -> f64 {
        -(1.0 - self.unit()).ln() / rate
    }
}

/// Parameters of the BG/NBD purchase process and Gamma-Gamma spend, with CDNOW-like defaults
/// (rates per day; spend in TWD minor units).
#[derive(Debug, Clone, Copy)]
pub struct ShopProcess {
    pub r: f64,
    pub alpha_days: f64,
    pub a: f64,
    pub b: f64,
    pub spend_p: f64,
    pub spend_q: f64,
    pub spend_gamma_minor: f64,
}

impl Default for ShopProcess {
    fn default() -> Self {
        // r and α from the CDNOW fit (α in weeks × 7 for days); spend scaled to NT$.
        ShopProcess {
            r: 0.2426,
            alpha_days: 4.4135 * 7.0,
            a: 0.7929,
            b: 2.4258,
            spend_p: 6.25,
            spend_q: 3.74,
            spend_gamma_minor: 15.44 * 3000.0,
        }
    }
}

/// One simulated purchase: customer index, day offset from the start, amount in minor units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Purchase {
    pub customer: u64,
    pub day: i64,
    pub amount_minor: i64,
}

/// Simulates one customer's purchases over `horizon_days` after a first purchase on `first_day`.
pub fn simulate_customer(
    rng: &mut Rng,
    p: &ShopProcess,
    customer: u64,
    first_day: i64,
    horizon_days: i64,
    out: &mut Vec<Purchase>,
) {
    let lambda = rng.gamma(p.r, 1.0 / p.alpha_days);
    let drop_p = rng.beta(p.a, p.b);
    let nu = rng.gamma(p.spend_q, 1.0 / p.spend_gamma_minor);
    let mean_spend = |rng: &mut Rng| -> i64 {
        let z = rng.gamma(p.spend_p, 1.0 / nu);
        // Whole NT$ amounts: shops price in dollars.
        ((z / 100.0).round().max(1.0) as i64) * 100
    };
    let mut t = first_day as f64;
    out.push(Purchase {
        customer,
        day: first_day,
        amount_minor: mean_spend(rng),
    });
    loop {
        t += rng.exponential(lambda.max(1e-9));
        if t >= horizon_days as f64 {
            break;
        }
        out.push(Purchase {
            customer,
            day: t as i64,
            amount_minor: mean_spend(rng),
        });
        if rng.unit() < drop_p {
            break;
        }
    }
}

const SURNAMES: &[&str] = &[
    "陳", "林", "黃", "張", "李", "王", "吳", "劉", "蔡", "楊", "許", "鄭", "謝", "郭", "洪", "曾",
    "邱", "廖", "賴", "周", "徐", "蘇", "葉", "莊", "呂", "江", "何", "蕭", "羅", "高",
];
const GIVEN: &[&str] = &[
    "怡君", "雅婷", "淑芬", "家豪", "志明", "俊傑", "冠宇", "宜蓁", "欣怡", "承恩", "佩珊", "建宏",
    "詩涵", "柏翰", "思妤", "宗翰", "美玲", "文雄", "靜宜", "子涵", "品妤", "信宏", "雅雯", "志偉",
];

/// A plausible Taiwanese full name.
pub fn taiwanese_name(rng: &mut Rng) -> String {
    format!("{}{}", rng.pick(SURNAMES), rng.pick(GIVEN))
}

/// Product catalogue of a small Taiwanese tea-and-lifestyle shop: (SKU, category, NT$ price).
pub const CATALOGUE: &[(&str, &str, i64)] = &[
    ("TEA-OOLONG-150G", "茶葉", 680),
    ("TEA-BLACK-100G", "茶葉", 450),
    ("TEA-GIFTBOX", "禮盒", 1_880),
    ("CUP-CELADON", "茶具", 1_200),
    ("POT-YIXING", "茶具", 3_600),
    ("SNACK-PINEAPPLE-CAKE", "點心", 390),
    ("SNACK-NOUGAT", "點心", 280),
    ("BAG-CANVAS", "生活", 520),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_have_the_right_means() {
        let mut rng = Rng::seeded(7);
        let n = 200_000;
        let mean_gamma = (0..n).map(|_| rng.gamma(2.5, 3.0)).sum::<f64>() / f64::from(n);
        assert!((mean_gamma - 7.5).abs() < 0.1, "{mean_gamma}");
        let mean_small = (0..n).map(|_| rng.gamma(0.3, 1.0)).sum::<f64>() / f64::from(n);
        assert!((mean_small - 0.3).abs() < 0.01, "{mean_small}");
        let mean_beta = (0..n).map(|_| rng.beta(0.8, 2.4)).sum::<f64>() / f64::from(n);
        assert!((mean_beta - 0.25).abs() < 0.01, "{mean_beta}");
        assert!(rng.below(10) < 10);
    }

    #[test]
    fn simulation_is_deterministic() {
        let run = |seed| {
            let mut rng = Rng::seeded(seed);
            let mut out = Vec::new();
            for c in 0..100 {
                simulate_customer(&mut rng, &ShopProcess::default(), c, 0, 365, &mut out);
            }
            out
        };
        assert_eq!(run(1), run(1));
        assert!(run(1).len() > 100);
    }
}

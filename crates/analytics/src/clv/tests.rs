use super::*;
use crate::models::bgnbd::BgNbdParams;
use crate::test_data::{assert_close, cdnow_summary};

fn cdnow_customers() -> Vec<CustomerSummary> {
    cdnow_summary()
        .iter()
        .map(|r| CustomerSummary {
            customer: r.id,
            frequency: r.row.frequency,
            recency: r.row.recency,
            age: r.row.age,
            monetary_value: r.zbar,
        })
        .collect()
}

#[test]
fn lifetimes_compatible_clv_on_cdnow() {
    let bgnbd = BgNbdParams {
        r: 0.242593,
        alpha: 4.413532,
        a: 0.792886,
        b: 2.425752,
    };
    let gg = GammaGammaParams {
        p: 6.248802,
        q: 3.744588,
        gamma: 15.447748,
    };
    let options = ClvOptions::lifetimes_compatible(12, MONTH_WEEKS_LIFETIMES, 0.01);
    let values = customer_lifetime_values(&bgnbd, &gg, &cdnow_customers(), &options).unwrap();
    let total: f64 = values.iter().sum();
    // lifetimes 0.11.3: total 71,509.90, customer 1 = 36.28, max 1,174.79.
    assert_close("total CLV", total, 71_509.90, 0.01 + 1e-6 * total);
    assert_close("customer 1", values[0], 36.28, 0.005);
    let max = values.iter().copied().fold(0.0, f64::max);
    assert_close("max", max, 1_174.79, 0.005);
    let mut sorted = values.clone();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    assert_close("median", sorted[n / 2], 10.19, 0.005);
}

#[test]
fn clv_refuses_undefined_spend_and_bad_options() {
    let bgnbd = BgNbdParams {
        r: 0.24,
        alpha: 4.4,
        a: 0.79,
        b: 2.4,
    };
    let customer = cdnow_customers()[0];
    let heavy = GammaGammaParams {
        p: 6.0,
        q: 0.9,
        gamma: 15.0,
    };
    let options = ClvOptions::lifetimes_compatible(12, MONTH_WEEKS_LIFETIMES, 0.01);
    assert_eq!(
        customer_lifetime_value(&bgnbd, &heavy, &customer, &options),
        Err(ClvError::SpendUndefined { q: 0.9 })
    );
    let gg = GammaGammaParams {
        p: 6.0,
        q: 3.7,
        gamma: 15.0,
    };
    let bad = ClvOptions {
        step_length: 0.0,
        ..options
    };
    assert_eq!(
        customer_lifetime_value(&bgnbd, &gg, &customer, &bad),
        Err(ClvError::InvalidOptions)
    );
    // No discounting and one long step = E[Y(t)] × spend.
    let single = ClvOptions {
        steps: 1,
        step_length: 52.14,
        discount_rate_per_step: 0.0,
    };
    let row = customer.row();
    let want = bgnbd.conditional_expected_purchases(&row, 52.14)
        * gg.conditional_expected_spend(customer.frequency, customer.monetary_value)
            .unwrap();
    assert_close(
        "undiscounted",
        customer_lifetime_value(&bgnbd, &gg, &customer, &single).unwrap(),
        want,
        1e-12,
    );
}

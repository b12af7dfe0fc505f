use super::*;
use crate::calendar::days_from_civil;
use crate::test_data::read;

fn cdnow_orders() -> Vec<Order> {
    crate::parse::cdnow_sample(&read("CDNOW_sample.txt"))
        .unwrap()
        .iter()
        .map(|t| Order {
            customer: t.customer,
            occurred_at_micros: i64::from(t.day) * DAY_MICROS + 3_600_000_000,
            amount_minor: (t.amount * 100.0).round() as i64,
        })
        .collect()
}

#[test]
fn refit_on_cdnow_orders_matches_the_bgnbd_fit() {
    let end = days_from_civil(1997, 9, 30);
    let summaries = summarize_orders(&cdnow_orders(), end);
    assert_eq!(summaries.len(), 2_357);
    let refit = refit(&summaries).unwrap();
    assert!(refit.purchase_converged);
    assert!(
        refit.purchase_params_json.starts_with("{\"r\":0.2425"),
        "{}",
        refit.purchase_params_json
    );
    assert!(
        refit.purchase_log_likelihood.starts_with("-9582.4"),
        "{}",
        refit.purchase_log_likelihood
    );
    assert!(refit.spend_params_json.is_some());
    assert_eq!(refit.predictions.len(), 2_357);
    for p in &refit.predictions {
        assert!((0..=PPM).contains(&p.p_alive_ppm));
        assert!(p.expected_purchases_90d_milli >= 0);
        assert!(p.clv_12m_minor.is_some_and(|v| v >= 0));
    }
    // A one-time buyer is alive by construction; a lapsed heavy buyer is a churn risk.
    assert!(refit.predictions.iter().any(|p| p.churn_risk));
    assert!(refit.predictions.iter().any(|p| !p.churn_risk));
}

#[test]
fn refit_reports_degenerate_data() {
    let one = [Order {
        customer: 1,
        occurred_at_micros: 0,
        amount_minor: 100,
    }];
    assert!(refit(&summarize_orders(&one, 10)).is_err());
}

#[test]
fn cohorts_stream_per_customer() {
    let mut b = CohortBuilder::default();
    let jan = i64::from(days_from_civil(2024, 1, 5)) * DAY_MICROS;
    let feb = i64::from(days_from_civil(2024, 2, 5)) * DAY_MICROS;
    let mar = i64::from(days_from_civil(2024, 3, 5)) * DAY_MICROS;
    b.add_customer(&[jan, feb, feb]);
    b.add_customer(&[jan]);
    b.add_customer(&[feb, mar]);
    let m = b.finish(month_of_micros(mar));
    assert_eq!(m.len(), 2);
    assert_eq!(m[0].cohort, "2024-01");
    assert_eq!(m[0].active, vec![2, 1, 0]);
    assert_eq!(m[0].retention_ppm, vec![1_000_000, 500_000, 0]);
    assert_eq!(m[1].active, vec![1, 1]);
}

#[test]
fn kpis_scale_to_integers() {
    let day = |d| i64::from(days_from_civil(2024, 1, d)) * DAY_MICROS;
    let orders = [
        Order {
            customer: 1,
            occurred_at_micros: day(2),
            amount_minor: 1000,
        },
        Order {
            customer: 1,
            occurred_at_micros: day(12),
            amount_minor: 3000,
        },
        Order {
            customer: 2,
            occurred_at_micros: day(13),
            amount_minor: 2000,
        },
    ];
    let k = kpis(
        &orders,
        days_from_civil(2024, 1, 10),
        days_from_civil(2024, 1, 20),
    );
    assert_eq!(
        (k.customers_at_start, k.customers_at_end, k.new_customers),
        (1, 2, 1)
    );
    assert_eq!(k.retention_rate_ppm, Some(1_000_000));
    assert_eq!(k.average_order_value_minor, Some(2500));
    assert_eq!(k.revenue_minor, 5000);
}

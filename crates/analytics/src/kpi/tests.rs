use super::*;

#[test]
fn kpis_of_a_small_log() {
    let t = |customer: u64, day: i32, amount: f64| Transaction {
        customer,
        day,
        amount,
    };
    // Previous period (0, 10], period (10, 20].
    let log = [
        t(1, 5, 10.0), // active before, returns twice
        t(1, 12, 20.0),
        t(1, 15, 30.0),
        t(2, 8, 5.0),   // active before, churns
        t(3, 1, 7.0),   // only before
        t(4, 14, 40.0), // new
        t(4, 14, 10.0), // same day again: one purchase day
        t(5, -30, 1.0), // old customer reactivated
        t(5, 19, 15.0),
    ];
    let k = period_kpis(
        &log,
        Period {
            start_day: 10,
            end_day: 20,
        },
    );
    assert_eq!(
        (k.customers_at_start, k.customers_at_end, k.new_customers),
        (3, 3, 1)
    );
    assert_eq!(
        (k.retained_customers, k.reactivated_customers, k.orders),
        (1, 1, 5)
    );
    assert_eq!(k.revenue, 115.0);
    assert_eq!(k.retention_rate, Some(2.0 / 3.0));
    assert_eq!(k.churn_rate, Some(1.0 - 2.0 / 3.0));
    assert_eq!(k.repeat_purchase_rate, Some(1.0 / 3.0));
    assert_eq!(k.purchase_frequency, Some(5.0 / 3.0));
    assert_eq!(k.average_order_value, Some(23.0));
    let empty = period_kpis(
        &[],
        Period {
            start_day: 0,
            end_day: 7,
        },
    );
    assert_eq!(
        (empty.retention_rate, empty.average_order_value),
        (None, None)
    );
}

use super::*;
use crate::calendar::days_from_civil;
use crate::parse::cdnow_sample;
use crate::test_data::read;

#[test]
fn small_log_gives_the_expected_matrix() {
    let t = |customer: u64, month: u32, day: u32| Transaction {
        customer,
        day: days_from_civil(2024, month, day),
        amount: 1.0,
    };
    let log = [
        t(1, 1, 5),
        t(1, 1, 20),
        t(1, 3, 1),
        t(2, 1, 9),
        t(2, 2, 1),
        t(3, 2, 3),
    ];
    let got = retention_matrix(&log);
    let jan = 2024 * 12;
    assert_eq!(
        got,
        vec![
            CohortRow {
                first_month: jan,
                customers: 2,
                active: vec![2, 1, 1],
                rates: vec![1.0, 0.5, 0.5]
            },
            CohortRow {
                first_month: jan + 1,
                customers: 1,
                active: vec![1, 0],
                rates: vec![1.0, 0.0]
            },
        ]
    );
    assert!(retention_matrix(&[]).is_empty());
}

#[test]
fn cdnow_cohorts_are_the_first_quarter_of_1997() {
    let rows = retention_matrix(&cdnow_sample(&read("CDNOW_sample.txt")).unwrap());
    assert_eq!(rows.len(), 3);
    assert_eq!(rows.iter().map(|r| r.customers).sum::<u32>(), 2_357);
    assert_eq!(rows[0].active.len(), 18);
    assert!(
        rows.iter()
            .all(|r| r.active[0] == r.customers && r.active[1] < r.customers)
    );
}

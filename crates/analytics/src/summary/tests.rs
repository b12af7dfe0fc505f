use super::*;
use crate::calendar::days_from_civil;
use crate::parse::cdnow_sample;
use crate::test_data::{cdnow_summary, read};

fn cdnow_split() -> Vec<CalibrationHoldoutSummary> {
    let transactions = cdnow_sample(&read("CDNOW_sample.txt")).unwrap();
    calibration_and_holdout(
        &transactions,
        &TimeScale::DAYS_IN_WEEKS,
        days_from_civil(1997, 9, 30),
        days_from_civil(1998, 6, 30),
    )
    .unwrap()
}

/// Rounds half away from zero at 2 decimals, as the shipped file was written
/// (values are well away from ties after the 1e-9 nudge).
fn round2(v: f64) -> f64 {
    (v * 100.0 + 1e-9).round() / 100.0
}

#[test]
fn reproduces_the_shipped_cdnow_summary_exactly() {
    let ours = cdnow_split();
    let shipped = cdnow_summary();
    assert_eq!(ours.len(), shipped.len());
    let mut mismatches = Vec::new();
    for (o, s) in ours.iter().zip(&shipped) {
        let c = &o.calibration;
        if c.customer != s.id
            || c.frequency != s.row.frequency
            || round2(c.recency) != s.row.recency
            || round2(c.age) != s.row.age
            || round2(c.monetary_value) != s.zbar
        {
            mismatches.push((c.customer, *c, s.row, s.zbar));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches: {:?}",
        mismatches.len(),
        &mismatches[..mismatches.len().min(5)]
    );
    // Exact day arithmetic: customer 1 first bought 1997-01-01, last 1997-08-02.
    let c1 = &ours[0].calibration;
    assert_eq!((c1.recency * 7.0).round(), 213.0);
    assert!((c1.recency - 213.0 / 7.0).abs() < 1e-12 && (c1.age - 272.0 / 7.0).abs() < 1e-12);
}

#[test]
fn cdnow_holdout_and_descriptives() {
    let ours = cdnow_split();
    let holdout: u32 = ours.iter().map(|o| o.frequency_holdout).sum();
    assert_eq!(holdout, 1_882);
    let repeaters = ours.iter().filter(|o| o.calibration.frequency > 0).count();
    assert_eq!(repeaters, 946);
    let calibration_repeats: u32 = ours.iter().map(|o| o.calibration.frequency).sum();
    assert_eq!(calibration_repeats, 2_457);
    let holdout_buyers = ours.iter().filter(|o| o.frequency_holdout > 0).count();
    assert_eq!(holdout_buyers, 684);
    assert!(
        ours.iter()
            .all(|o| (o.duration_holdout - 273.0 / 7.0).abs() < 1e-12)
    );
}

#[test]
fn merges_same_period_purchases_per_unit() {
    let d = days_from_civil(2024, 1, 1); // a Monday
    let t = |day: i32, amount: f64| Transaction {
        customer: 9,
        day,
        amount,
    };
    let log = [
        t(d, 10.0),
        t(d, 5.0),
        t(d + 3, 20.0),
        t(d + 8, 30.0),
        t(d + 40, 1.0),
    ];
    // (unit, multiplier, frequency, recency, age, monetary value) at end d + 59.
    let cases = [
        (PeriodUnit::Day, 1.0, 3, 40.0, 59.0, 17.0),
        (PeriodUnit::Week, 1.0, 2, 5.0, 8.0, 15.5),
        (PeriodUnit::Month, 1.0, 1, 1.0, 1.0, 1.0),
        (PeriodUnit::Day, 7.0, 3, 40.0 / 7.0, 59.0 / 7.0, 17.0),
    ];
    for (unit, multiplier, frequency, recency, age, monetary_value) in cases {
        let got = summarize(&log, &TimeScale { unit, multiplier }, d + 59).unwrap();
        assert_eq!(
            got,
            vec![CustomerSummary {
                customer: 9,
                frequency,
                recency,
                age,
                monetary_value
            }],
            "{unit:?}"
        );
    }
    assert_eq!(
        summarize(
            &log,
            &TimeScale {
                unit: PeriodUnit::Day,
                multiplier: 0.0
            },
            d
        ),
        Err(SummaryError::InvalidMultiplier { multiplier: 0.0 })
    );
}

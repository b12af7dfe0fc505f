use super::*;

fn input(customer: u64, since: f64, purchases: f64, monetary: f64) -> RfmInput {
    RfmInput {
        customer,
        time_since_last_purchase: since,
        purchases,
        monetary,
    }
}

#[test]
fn quintiles_share_scores_on_ties() {
    let cases: Vec<(Vec<f64>, Vec<u8>)> = vec![
        (
            (1..=10).map(f64::from).collect(),
            vec![1, 1, 2, 2, 3, 3, 4, 4, 5, 5],
        ),
        (vec![0.0, 0.0, 0.0, 0.0, 7.0], vec![1, 1, 1, 1, 5]),
        (vec![3.0, 1.0, 2.0], vec![4, 1, 2]),
    ];
    for (values, want) in cases {
        assert_eq!(quintile_scores(&values), want, "{values:?}");
    }
}

#[test]
fn segments_follow_the_documented_grid() {
    let cases = [
        ((5, 5), Segment::Champions),
        ((4, 4), Segment::Champions),
        ((3, 5), Segment::Loyal),
        ((1, 5), Segment::CantLoseThem),
        ((2, 3), Segment::AtRisk),
        ((5, 1), Segment::New),
        ((3, 1), Segment::PotentialLoyalist),
        ((4, 2), Segment::PotentialLoyalist),
        ((2, 1), Segment::Hibernating),
        ((1, 1), Segment::Lost),
    ];
    for ((r, f), want) in cases {
        assert_eq!(Segment::from_scores(r, f), want, "R{r} F{f}");
    }
}

#[test]
fn scoring_rewards_recent_frequent_big_spenders() {
    let inputs = [
        input(1, 1.0, 10.0, 100.0),
        input(2, 50.0, 1.0, 5.0),
        input(3, 2.0, 1.0, 20.0),
        input(4, 40.0, 8.0, 80.0),
        input(5, 20.0, 3.0, 30.0),
    ];
    let got: Vec<(u64, u8, u8, u8, Segment)> = score(&inputs)
        .iter()
        .map(|s| (s.customer, s.recency, s.frequency, s.monetary, s.segment))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, 5, 5, 5, Segment::Champions),
            (2, 1, 1, 1, Segment::Lost),
            (3, 4, 1, 2, Segment::New),
            (4, 2, 4, 4, Segment::CantLoseThem),
            (5, 3, 3, 3, Segment::Loyal),
        ]
    );
}

#[test]
fn scoring_summaries_equals_scoring_their_inputs() {
    let summaries: Vec<CustomerSummary> = (0..500u32)
        .map(|i| CustomerSummary {
            customer: u64::from(i),
            frequency: i % 9,
            recency: if i % 9 == 0 { 0.0 } else { f64::from(i % 31) },
            age: 40.0 + f64::from(i % 17),
            monetary_value: if i % 9 == 0 {
                0.0
            } else {
                f64::from(i % 23) * 1.5
            },
        })
        .collect();
    let inputs: Vec<RfmInput> = summaries.iter().map(Into::into).collect();
    assert_eq!(score_summaries(&summaries), score(&inputs));
}

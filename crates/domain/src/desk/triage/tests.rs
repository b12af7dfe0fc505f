use super::*;

fn facts(
    category: Category,
    sentiment: f32,
    urgency: &[Urgency],
    value: CustomerValue,
) -> Priority {
    priority(&TriageFacts {
        category,
        sentiment,
        urgency,
        value,
    })
}

#[test]
fn the_priority_rule_adds_severity_sentiment_and_value() {
    use CustomerValue::*;
    use Priority::*;
    let cases: &[(Category, f32, &[Urgency], CustomerValue, Priority)] = &[
        (Category::OrderStatus, 0.0, &[], Standard, Normal),
        (Category::Praise, 0.8, &[], Standard, Low),
        (Category::Praise, 0.8, &[], Vip, Normal),
        (Category::ProductDefect, -0.3, &[], Standard, Normal),
        (Category::ProductDefect, -0.7, &[], Standard, High),
        (Category::ProductDefect, -0.7, &[], Vip, Urgent),
        (Category::LogisticsDelay, -0.7, &[], Valued, High),
        (
            Category::LogisticsDelay,
            -0.7,
            &[Urgency::Media],
            Standard,
            Urgent,
        ),
        (
            Category::ReturnRefund,
            0.0,
            &[Urgency::LegalThreat, Urgency::ConsumerAgency],
            Standard,
            High,
        ),
        (Category::Other, 0.0, &[Urgency::Safety], Standard, Urgent),
        (Category::BillingPayment, -0.2, &[], Valued, High),
    ];
    for (category, sentiment, urgency, value, expected) in cases {
        assert_eq!(
            facts(*category, *sentiment, urgency, *value),
            *expected,
            "{category:?} {sentiment} {urgency:?} {value:?}"
        );
    }
}

#[test]
fn customer_value_comes_from_tier_or_clv() {
    assert_eq!(CustomerValue::of(None, None), CustomerValue::Standard);
    assert_eq!(
        CustomerValue::of(Some((0, 3)), Some(0)),
        CustomerValue::Standard
    );
    assert_eq!(CustomerValue::of(Some((1, 3)), None), CustomerValue::Valued);
    assert_eq!(CustomerValue::of(Some((2, 3)), None), CustomerValue::Vip);
    assert_eq!(
        CustomerValue::of(None, Some(VIP_CLV_MINOR_MIN)),
        CustomerValue::Vip
    );
    assert_eq!(
        CustomerValue::of(None, Some(VALUED_CLV_MINOR_MIN)),
        CustomerValue::Valued
    );
}

fn agent(handle: &str, skills: &[Category], senior: bool, load: i64, seq: i64) -> Agent {
    Agent {
        handle: handle.to_owned(),
        skills: skills.to_vec(),
        senior,
        max_load: 3,
        active: true,
        load,
        last_assigned_seq: seq,
    }
}

#[test]
fn routing_takes_skill_then_load_then_round_robin_and_seniors_for_the_angry() {
    let roster = vec![
        agent("amy", &[Category::ProductDefect], false, 0, 5),
        agent("ben", &[], false, 1, 1),
        agent("cat", &[], true, 1, 2),
        agent("dan", &[], false, 1, 0),
        agent("eve", &[], true, 3, 0),
    ];
    let pick = |c, senior| choose_agent(&roster, c, senior).map(|a| a.handle.as_str());
    // amy has the skill and the least load.
    assert_eq!(pick(Category::ProductDefect, false), Some("amy"));
    // amy lacks the skill; ben, cat, dan tie on load: dan was assigned longest ago.
    assert_eq!(pick(Category::Praise, false), Some("dan"));
    // a senior is wanted: cat (eve is full).
    assert_eq!(pick(Category::Praise, true), Some("cat"));
    let mut full = roster.clone();
    for a in &mut full {
        a.load = a.max_load;
    }
    assert_eq!(choose_agent(&full, Category::Other, false), None);
    // No senior free: anyone skilled.
    let juniors = vec![agent("ben", &[], false, 0, 0)];
    assert_eq!(
        choose_agent(&juniors, Category::Other, true).map(|a| a.handle.as_str()),
        Some("ben")
    );
}

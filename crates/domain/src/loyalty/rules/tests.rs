use super::*;
use crate::money::Currency;
use jiff::civil::date;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn taipei() -> TimeZone {
    TimeZone::get("Asia/Taipei").unwrap()
}

fn rule(id: u64, version: u32) -> RuleRef {
    RuleRef { id, version }
}

/// 1 point per NT$100, rule 1 v1.
fn base() -> BaseRule {
    BaseRule {
        rule: rule(1, 1),
        earn: EarnRule::default(),
        minimum_spend_minor: 0,
        excluded_categories: vec!["gift-card".into()],
    }
}

fn order(lines: &[(&str, Option<&str>, i64, i64)]) -> Order {
    Order::new(
        Currency::TWD,
        lines
            .iter()
            .map(|&(sku, cat, q, p)| OrderLine::new(sku, cat, q, p).unwrap())
            .collect(),
    )
    .unwrap()
}

fn ctx(at: &str) -> EarnContext {
    EarnContext {
        placed_at: ts(at),
        zone: taipei(),
        tier: None,
        usage: Vec::new(),
    }
}

fn promo(id: u64, priority: i32, target: Target, effect: PromotionEffect) -> Promotion {
    Promotion {
        rule: rule(id, 1),
        priority,
        window: None,
        target,
        effect,
        tiers: Vec::new(),
        minimum_spend_minor: 0,
        member_cap: None,
        budget_points: None,
    }
}

fn line_points(plan: &EarnPlan) -> Vec<i64> {
    plan.lines.iter().map(|l| l.points).collect()
}

#[test]
fn base_points_are_the_order_floor_split_by_largest_remainder() {
    // Exact shares 1.505, 2.505, 0.99: per-line floors would give 3 points, the order earns 5.
    let o = order(&[
        ("A", None, 1, 15_050),
        ("B", None, 2, 12_525),
        ("C", None, 1, 9_900),
    ]);
    let rules = RuleSet::new(base(), vec![]).unwrap();
    let plan = simulate(&o, &rules, &ctx("2026-01-01T00:00:00Z")).unwrap();
    assert_eq!(plan.points, 5);
    // C has the largest remainder; A and B tie and the lower index wins.
    assert_eq!(line_points(&plan), vec![2, 2, 1]);
    assert_eq!(plan.lines[0].components[0].rule, rule(1, 1));
    assert_eq!(plan.revenue, RevenueClass::Purchase);
}

#[test]
fn sum_of_line_earns_equals_order_earn_on_many_orders() {
    // A small deterministic generator: the property must hold for every order shape.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move |m: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % m
    };
    let tier = TierEarn {
        tier: "gold".into(),
        rule: rule(9, 2),
        multiplier_bp: 15_000,
    };
    let rules = RuleSet::new(
        base(),
        vec![promo(
            2,
            1,
            Target::Category("tea".into()),
            PromotionEffect::Multiplier { bp: 25_000 },
        )],
    )
    .unwrap();
    for _ in 0..2_000 {
        let n = 1 + next(6) as usize;
        let lines: Vec<OrderLine> = (0..n)
            .map(|i| {
                let cat = ["tea", "cup", "gift-card"][next(3) as usize];
                OrderLine::new(
                    &format!("S{i}"),
                    Some(cat),
                    1 + next(5) as i64,
                    next(50_000) as i64,
                )
                .unwrap()
            })
            .collect();
        let o = Order::new(Currency::TWD, lines).unwrap();
        let mut c = ctx("2026-01-01T00:00:00Z");
        c.tier = Some(tier.clone());
        let plan = simulate(&o, &rules, &c).unwrap();
        assert_eq!(plan.points, line_points(&plan).iter().sum::<i64>());
        let eligible: i64 = o
            .lines
            .iter()
            .filter(|l| l.category.as_deref() != Some("gift-card"))
            .map(|l| l.total_minor())
            .sum();
        let base_sum: i64 = plan
            .lines
            .iter()
            .flat_map(|l| &l.components)
            .filter(|c| c.kind == ComponentKind::Base)
            .map(|c| c.points)
            .sum();
        assert_eq!(base_sum, EarnRule::default().earn(eligible));
    }
}

#[test]
fn multipliers_precedence_and_tier_bonus() {
    let o = order(&[
        ("OOLONG", Some("tea"), 2, 50_000), // 10 base points
        ("CUP", Some("cup"), 1, 30_000),    // 3
        ("GIFT", Some("gift-card"), 1, 100_000),
    ]);
    let rules = RuleSet::new(
        base(),
        vec![
            // Double points on tea (priority 1) and triple on OOLONG (priority 5): OOLONG wins 3×.
            promo(
                2,
                1,
                Target::Category("tea".into()),
                PromotionEffect::Multiplier { bp: 20_000 },
            ),
            promo(
                3,
                5,
                Target::Sku("OOLONG".into()),
                PromotionEffect::Multiplier { bp: 30_000 },
            ),
            promo(
                4,
                0,
                Target::Category("cup".into()),
                PromotionEffect::PointsPerUnit { points: 7 },
            ),
        ],
    )
    .unwrap();
    assert_eq!(
        rules
            .promotions()
            .iter()
            .map(|p| p.rule.id)
            .collect::<Vec<_>>(),
        vec![3, 2, 4]
    );
    let mut c = ctx("2026-01-01T00:00:00Z");
    c.tier = Some(TierEarn {
        tier: "gold".into(),
        rule: rule(9, 1),
        multiplier_bp: 15_000,
    });
    let plan = simulate(&o, &rules, &c).unwrap();
    // OOLONG: 10 base + 20 (3×) + 5 tier; CUP: 3 base + 7 per unit + 1 (floor of 1.5 over the
    // order: tier bonus 6.5 → 6, split 5/1); GIFT: excluded.
    assert_eq!(line_points(&plan), vec![35, 11, 0]);
    assert_eq!(plan.points, 46);
    let kinds: Vec<(ComponentKind, RuleRef, i64, i64)> = plan.lines[0]
        .components
        .iter()
        .map(|c| (c.kind, c.rule, c.multiplier_bp, c.points))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (ComponentKind::Base, rule(1, 1), 10_000, 10),
            (ComponentKind::Promotion, rule(3, 1), 30_000, 20),
            (ComponentKind::Tier, rule(9, 1), 15_000, 5),
        ]
    );
    assert!(plan.lines[2].components.is_empty());
    let provenance = plan.line_points(&o);
    assert_eq!(provenance.len(), 2);
    assert_eq!(provenance[0].quantity, 2);
    assert_eq!(
        provenance[0].rules,
        vec![rule(1, 1), rule(3, 1), rule(9, 1)]
    );
}

#[test]
fn a_promotion_starting_at_local_midnight() {
    let mut p = promo(
        2,
        1,
        Target::AllLines,
        PromotionEffect::Multiplier { bp: 20_000 },
    );
    p.window = Some(
        LocalWindow::new(
            date(2026, 3, 1).at(0, 0, 0, 0),
            date(2026, 3, 2).at(0, 0, 0, 0),
        )
        .unwrap(),
    );
    let rules = RuleSet::new(base(), vec![p]).unwrap();
    let o = order(&[("A", None, 1, 100_000)]);
    // (instant, points): 1 March 00:00 Taipei is 28 February 16:00Z.
    let cases = [
        ("2026-02-28T15:59:59Z", 10),
        ("2026-02-28T16:00:00Z", 20),
        ("2026-03-01T15:59:59Z", 20),
        ("2026-03-01T16:00:00Z", 10),
    ];
    for (at, want) in cases {
        assert_eq!(simulate(&o, &rules, &ctx(at)).unwrap().points, want, "{at}");
    }
}

#[test]
fn caps_and_budgets_report_what_was_capped() {
    let mut p = promo(
        2,
        1,
        Target::AllLines,
        PromotionEffect::Multiplier { bp: 30_000 },
    );
    p.member_cap = Some(MemberCap {
        points: 50,
        period: CapPeriod::Month,
    });
    p.budget_points = Some(1_000);
    let rules = RuleSet::new(base(), vec![p]).unwrap();
    let o = order(&[("A", None, 1, 150_000), ("B", None, 1, 150_000)]); // 30 base, 60 bonus
    // (member used, budget used, granted, capped, line points)
    let cases = [
        (0, 0, 50, 10, vec![40, 40]),
        (45, 0, 5, 55, vec![18, 17]),
        (0, 990, 10, 50, vec![20, 20]),
        (60, 0, 0, 60, vec![15, 15]),
        (0, 2_000, 0, 60, vec![15, 15]),
    ];
    for (member_used, budget_used, granted, capped, lines) in cases {
        let mut c = ctx("2026-01-01T00:00:00Z");
        c.usage = vec![PromotionUsage {
            rule_id: 2,
            member_used,
            budget_used,
        }];
        let plan = simulate(&o, &rules, &c).unwrap();
        assert_eq!(
            plan.promotions[0].granted, granted,
            "{member_used}/{budget_used}"
        );
        assert_eq!(plan.promotions[0].capped, capped);
        assert_eq!(plan.promotions[0].uncapped, 60);
        assert_eq!(line_points(&plan), lines);
        assert_eq!(plan.points, 30 + granted);
    }
    assert_eq!(
        cap_period_start(CapPeriod::Month, ts("2026-01-31T17:00:00Z"), &taipei()),
        Some(ts("2026-01-31T16:00:00Z"))
    );
    assert_eq!(
        cap_period_start(CapPeriod::Day, ts("2026-01-15T17:00:00Z"), &taipei()),
        Some(ts("2026-01-15T16:00:00Z"))
    );
    assert_eq!(
        cap_period_start(CapPeriod::Lifetime, ts("2026-01-15T17:00:00Z"), &taipei()),
        None
    );
}

#[test]
fn thresholds_and_tier_targeting() {
    let mut b = base();
    b.minimum_spend_minor = 50_000;
    let mut vip = promo(
        2,
        1,
        Target::AllLines,
        PromotionEffect::Multiplier { bp: 20_000 },
    );
    vip.tiers = vec!["gold".into()];
    vip.minimum_spend_minor = 100_000;
    let rules = RuleSet::new(b, vec![vip]).unwrap();
    let gold = |at: &str| {
        let mut c = ctx(at);
        c.tier = Some(TierEarn {
            tier: "gold".into(),
            rule: rule(9, 1),
            multiplier_bp: MULTIPLIER_BP_ONE,
        });
        c
    };
    let small = order(&[("A", None, 1, 49_999)]);
    let plan = simulate(&small, &rules, &gold("2026-01-01T00:00:00Z")).unwrap();
    assert!(plan.below_minimum_spend);
    assert_eq!(plan.points, 0);
    let mid = order(&[("A", None, 1, 90_000)]);
    assert_eq!(
        simulate(&mid, &rules, &gold("2026-01-01T00:00:00Z"))
            .unwrap()
            .points,
        9
    );
    let big = order(&[("A", None, 1, 100_000)]);
    assert_eq!(
        simulate(&big, &rules, &gold("2026-01-01T00:00:00Z"))
            .unwrap()
            .points,
        20
    );
    assert_eq!(
        simulate(&big, &rules, &ctx("2026-01-01T00:00:00Z"))
            .unwrap()
            .points,
        10
    );
}

#[test]
fn bad_rule_sets_are_refused() {
    let double = |id, priority, target| {
        promo(
            id,
            priority,
            target,
            PromotionEffect::Multiplier { bp: 20_000 },
        )
    };
    let windowed = |id, from: u8, to: u8| {
        let mut p = double(id, 1, Target::AllLines);
        p.window = Some(
            LocalWindow::new(
                date(2026, 3, from as i8).at(0, 0, 0, 0),
                date(2026, 3, to as i8).at(0, 0, 0, 0),
            )
            .unwrap(),
        );
        p
    };
    let cases: Vec<(Vec<Promotion>, Option<RuleError>)> = vec![
        (
            vec![
                double(2, 1, Target::Category("tea".into())),
                double(3, 1, Target::Sku("OOLONG".into())),
            ],
            Some(RuleError::OverlappingPromotions {
                first: rule(2, 1),
                second: rule(3, 1),
            }),
        ),
        (
            vec![
                double(2, 1, Target::Category("tea".into())),
                double(3, 2, Target::Sku("OOLONG".into())),
            ],
            None,
        ),
        (
            vec![
                double(2, 1, Target::Sku("A".into())),
                double(3, 1, Target::Sku("B".into())),
            ],
            None,
        ),
        // Back-to-back windows do not overlap; overlapping ones do.
        (vec![windowed(2, 1, 5), windowed(3, 5, 9)], None),
        (
            vec![windowed(2, 1, 6), windowed(3, 5, 9)],
            Some(RuleError::OverlappingPromotions {
                first: rule(2, 1),
                second: rule(3, 1),
            }),
        ),
        (
            vec![
                double(2, 1, Target::Sku("A".into())),
                double(2, 2, Target::Sku("B".into())),
            ],
            Some(RuleError::DuplicateRule { id: 2 }),
        ),
        (
            vec![double(1, 1, Target::Sku("A".into()))],
            Some(RuleError::DuplicateRule { id: 1 }),
        ),
    ];
    for (promotions, want) in cases {
        assert_eq!(RuleSet::new(base(), promotions).err(), want);
    }
    let bad = promo(
        2,
        1,
        Target::AllLines,
        PromotionEffect::Multiplier { bp: 5_000 },
    );
    match RuleSet::new(base(), vec![bad]) {
        Err(RuleError::Field(f)) => assert_eq!(f.field, "promotions[0].effect.multiplier_bp"),
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        LocalWindow::new(
            date(2026, 3, 2).at(0, 0, 0, 0),
            date(2026, 3, 1).at(0, 0, 0, 0)
        )
        .is_err()
    );
}

#[test]
fn birthday_on_29_february() {
    let born = date(2000, 2, 29);
    // (year, fallback, celebrated on)
    let cases = [
        (2027, LeapDayFallback::February28, date(2027, 2, 28)),
        (2027, LeapDayFallback::March1, date(2027, 3, 1)),
        (2028, LeapDayFallback::February28, date(2028, 2, 29)),
        (2028, LeapDayFallback::March1, date(2028, 2, 29)),
    ];
    for (year, fallback, want) in cases {
        assert_eq!(celebration_date(born, year, fallback), Some(want));
        assert!(birthday_award_due(born, fallback, want));
        assert!(!birthday_award_due(
            born,
            fallback,
            want.yesterday().unwrap()
        ));
    }
    assert_eq!(
        celebration_date(date(1990, 7, 4), 2027, LeapDayFallback::March1),
        Some(date(2027, 7, 4))
    );
}

#[test]
fn non_purchase_points_are_free() {
    let kinds = [
        NonPurchaseKind::SignUp,
        NonPurchaseKind::Birthday,
        NonPurchaseKind::Anniversary,
        NonPurchaseKind::Referral,
        NonPurchaseKind::Review,
        NonPurchaseKind::SurveyAnswered,
        NonPurchaseKind::Custom,
    ];
    for kind in kinds {
        let g = NonPurchaseRule::new(rule(7, 3), kind, 100).unwrap().grant();
        assert_eq!(g.revenue, RevenueClass::Free, "{}", kind.as_str());
        assert_eq!(g.points, 100);
        assert_eq!(g.rule, rule(7, 3));
    }
    assert!(NonPurchaseRule::new(rule(7, 3), NonPurchaseKind::Review, 0).is_err());
}

#[test]
fn non_purchase_kinds_parse_what_they_print() {
    for kind in NonPurchaseKind::ALL {
        assert_eq!(NonPurchaseKind::parse(kind.as_str()), Some(kind));
    }
    for bad in ["", "Sign_Up", "likes", "referral "] {
        assert_eq!(NonPurchaseKind::parse(bad), None, "{bad:?}");
    }
    let r = NonPurchaseRule::new(rule(7, 3), NonPurchaseKind::Custom, 25).unwrap();
    assert_eq!(r.points(), 25);
}

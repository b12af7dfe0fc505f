use super::*;
use jiff::civil::date;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn taipei() -> TimeZone {
    TimeZone::get("Asia/Taipei").unwrap()
}

fn tier(code: &str, threshold: i64, multiplier: i64) -> Tier {
    Tier {
        code: code.into(),
        threshold,
        benefits: TierBenefits {
            earn_multiplier_bp: multiplier,
            ..TierBenefits::default()
        },
        paid: None,
    }
}

fn config(period: TierPeriod, downgrade: DowngradePolicy) -> TierConfig {
    TierConfig::new(
        vec![
            tier("member", 0, 10_000),
            tier("silver", 1_000, 12_500),
            Tier {
                code: "gold".into(),
                threshold: 5_000,
                benefits: TierBenefits {
                    earn_multiplier_bp: 15_000,
                    free_shipping_threshold_minor: Some(0),
                    early_access: true,
                    birthday_gift_points: 500,
                },
                paid: None,
            },
        ],
        QualificationBasis::QualifyingPoints,
        period,
        downgrade,
        30,
        14,
    )
    .unwrap()
}

fn event(at: &str, points: i64) -> QualifyingEvent {
    QualifyingEvent {
        counts_at: ts(at),
        points,
        spend_minor: points * 100,
    }
}

fn state(rank: usize, since: &str) -> TierState {
    TierState {
        rank,
        since: ts(since),
        manual: None,
    }
}

#[test]
fn upgrade_at_once_and_returns_reduce_qualifying_points() {
    let c = config(TierPeriod::CalendarYear, DowngradePolicy::OneDown);
    let history = vec![
        event("2026-02-01T04:00:00Z", 700),
        event("2026-05-01T04:00:00Z", 500),
    ];
    let d = evaluate_tier(
        &history,
        &c,
        &state(0, "2025-01-01T00:00:00Z"),
        &taipei(),
        ts("2026-05-01T05:00:00Z"),
    )
    .unwrap();
    assert_eq!((d.rank, d.change, d.value), (1, TierChange::Upgrade, 1_200));
    assert_eq!(d.next, Some((2, 3_800)));
    assert_eq!(d.period_start, ts("2025-12-31T16:00:00Z"));
    assert_eq!(d.period_end, ts("2026-12-31T16:00:00Z"));
    // A return of 300 points of the February order, inside the period: no upgrade.
    let mut returned = history.clone();
    returned.push(event("2026-02-01T04:00:00Z", -300));
    let d = evaluate_tier(
        &returned,
        &c,
        &state(0, "2025-01-01T00:00:00Z"),
        &taipei(),
        ts("2026-05-01T05:00:00Z"),
    )
    .unwrap();
    assert_eq!((d.rank, d.change, d.value), (0, TierChange::Keep, 900));
    // Spend basis reads the other column.
    assert_eq!(c.rank_for(999), 0);
    assert_eq!(c.benefits(2).unwrap().birthday_gift_points, 500);
}

/// Gold since 2025 with only 200 points in 2026: (policy, now, applied rank, change, notice?).
#[test]
fn downgrade_only_at_period_end_with_grace_and_notice() {
    let history = vec![
        event("2025-03-01T04:00:00Z", 6_000),
        event("2026-03-01T04:00:00Z", 200),
    ];
    let gold = state(2, "2025-03-01T04:00:00Z");
    let cases = [
        // Mid 2026: still gold (earned in 2025), notice due 14 days before 2026 ends.
        (
            DowngradePolicy::OneDown,
            "2026-11-01T00:00:00Z",
            2,
            TierChange::Keep,
            Some(("2026-12-17T16:00:00Z", 1, "2027-01-30T16:00:00Z")),
        ),
        (
            DowngradePolicy::ToEarned,
            "2026-11-01T00:00:00Z",
            2,
            TierChange::Keep,
            Some(("2026-12-17T16:00:00Z", 0, "2027-01-30T16:00:00Z")),
        ),
        // In the grace after the boundary: kept, the downgrade pending.
        (
            DowngradePolicy::OneDown,
            "2027-01-10T00:00:00Z",
            2,
            TierChange::Keep,
            Some(("2026-12-17T16:00:00Z", 1, "2027-01-30T16:00:00Z")),
        ),
        // After the grace: one down, or to the level earned in 2026.
        (
            DowngradePolicy::OneDown,
            "2027-01-30T16:00:00Z",
            1,
            TierChange::Downgrade,
            None,
        ),
        (
            DowngradePolicy::ToEarned,
            "2027-02-01T00:00:00Z",
            0,
            TierChange::Downgrade,
            None,
        ),
    ];
    for (policy, now, rank, change, notice) in cases {
        let c = config(TierPeriod::CalendarYear, policy);
        let d = evaluate_tier(&history, &c, &gold, &taipei(), ts(now)).unwrap();
        assert_eq!((d.rank, d.change), (rank, change), "{policy:?} {now}");
        let want = notice.map(|(n, to, e)| DowngradeNotice {
            notify_at: ts(n),
            to_rank: to,
            effective_at: ts(e),
        });
        assert_eq!(d.notice, want, "{policy:?} {now}");
    }
    // Requalifying within the grace keeps the tier.
    let mut again = history.clone();
    again.push(event("2027-01-05T04:00:00Z", 5_000));
    let d = evaluate_tier(
        &again,
        &config(TierPeriod::CalendarYear, DowngradePolicy::OneDown),
        &gold,
        &taipei(),
        ts("2027-02-01T00:00:00Z"),
    )
    .unwrap();
    assert_eq!((d.rank, d.change, d.notice), (2, TierChange::Keep, None));
    // Upgraded late in 2026: kept through 2027 with no notice until 2027's own shortfall.
    let late = state(2, "2026-12-30T04:00:00Z");
    let mut late_history = history.clone();
    late_history.push(event("2026-12-30T04:00:00Z", 5_000));
    let d = evaluate_tier(
        &late_history,
        &config(TierPeriod::CalendarYear, DowngradePolicy::OneDown),
        &late,
        &taipei(),
        ts("2027-03-01T00:00:00Z"),
    )
    .unwrap();
    assert_eq!(d.rank, 2);
    assert_eq!(d.change, TierChange::Keep);
    assert_eq!(d.notice.unwrap().notify_at, ts("2027-12-17T16:00:00Z"));
}

#[test]
fn manual_override_until_its_end_date() {
    let c = config(TierPeriod::CalendarYear, DowngradePolicy::OneDown);
    let s = TierState {
        rank: 0,
        since: ts("2025-01-01T00:00:00Z"),
        manual: Some(TierOverride {
            rank: 2,
            until: ts("2026-06-30T16:00:00Z"),
        }),
    };
    let during = evaluate_tier(&[], &c, &s, &taipei(), ts("2026-06-30T15:59:59Z")).unwrap();
    assert_eq!(
        (during.rank, during.underlying_rank, during.change),
        (2, 0, TierChange::Override)
    );
    let after = evaluate_tier(&[], &c, &s, &taipei(), ts("2026-06-30T16:00:00Z")).unwrap();
    assert_eq!((after.rank, after.change), (0, TierChange::Keep));
    let bad = TierState {
        manual: Some(TierOverride {
            rank: 3,
            until: ts("2026-06-30T16:00:00Z"),
        }),
        ..s
    };
    assert_eq!(
        evaluate_tier(&[], &c, &bad, &taipei(), ts("2026-01-01T00:00:00Z")),
        Err(TierError::UnknownRank { rank: 3, tiers: 3 })
    );
}

#[test]
fn anniversary_and_rolling_periods() {
    let z = taipei();
    // (period, now, start, end)
    let cases = [
        (
            TierPeriod::AnniversaryYear {
                anniversary: date(2024, 2, 29),
            },
            "2027-03-10T00:00:00Z",
            "2027-02-27T16:00:00Z",
            "2028-02-28T16:00:00Z",
        ),
        (
            TierPeriod::AnniversaryYear {
                anniversary: date(2020, 8, 15),
            },
            "2026-08-14T15:59:59Z",
            "2025-08-14T16:00:00Z",
            "2026-08-14T16:00:00Z",
        ),
        (
            TierPeriod::Rolling { days: 365 },
            "2026-05-20T00:00:00Z",
            "2026-04-30T16:00:00Z",
            "2026-05-31T16:00:00Z",
        ),
    ];
    for (period, now, start, end) in cases {
        assert_eq!(
            period_bounds(period, &z, ts(now)).unwrap(),
            (ts(start), ts(end)),
            "{period:?}"
        );
    }
    // Rolling 90 days: the window slides; an old purchase drops out.
    let c = config(TierPeriod::Rolling { days: 90 }, DowngradePolicy::ToEarned);
    let history = vec![event("2026-01-10T04:00:00Z", 1_200)];
    let in_window = evaluate_tier(
        &history,
        &c,
        &state(0, "2025-01-01T00:00:00Z"),
        &z,
        ts("2026-03-01T00:00:00Z"),
    )
    .unwrap();
    assert_eq!((in_window.rank, in_window.value), (1, 1_200));
    let slid = evaluate_tier(
        &history,
        &c,
        &state(1, "2026-03-01T00:00:00Z"),
        &z,
        ts("2026-04-20T00:00:00Z"),
    )
    .unwrap();
    assert_eq!(slid.value, 0);
    // Held since March, the April boundary review (window to 1 April still had the purchase).
    assert_eq!(slid.rank, 1);
}

#[test]
fn bad_configs_are_refused() {
    let base = || vec![tier("member", 0, 10_000), tier("silver", 1_000, 10_000)];
    let make = |tiers: Vec<Tier>, period, grace| {
        TierConfig::new(
            tiers,
            QualificationBasis::SpendMinor,
            period,
            DowngradePolicy::OneDown,
            grace,
            0,
        )
        .map(|_| ())
        .map_err(|e| match e {
            TierError::Field(f) => f.field,
            other => other.to_string(),
        })
    };
    let cases = [
        (make(base(), TierPeriod::CalendarYear, 0), Ok(())),
        (
            make(vec![], TierPeriod::CalendarYear, 0),
            Err("tiers".to_string()),
        ),
        (
            make(vec![tier("member", 5, 10_000)], TierPeriod::CalendarYear, 0),
            Err("tiers[0].threshold".into()),
        ),
        (
            make(
                vec![tier("member", 0, 10_000), tier("silver", 0, 10_000)],
                TierPeriod::CalendarYear,
                0,
            ),
            Err("tiers[1].threshold".into()),
        ),
        (
            make(
                vec![tier("member", 0, 10_000), tier("member", 10, 10_000)],
                TierPeriod::CalendarYear,
                0,
            ),
            Err("tiers[1].code".into()),
        ),
        (
            make(vec![tier("member", 0, 9_000)], TierPeriod::CalendarYear, 0),
            Err("tiers[0].benefits.earn_multiplier_bp".into()),
        ),
        (
            make(base(), TierPeriod::Rolling { days: 0 }, 0),
            Err("period.days".into()),
        ),
        (
            make(base(), TierPeriod::CalendarYear, -1),
            Err("grace_days".into()),
        ),
    ];
    for (got, want) in cases {
        assert_eq!(got, want);
    }
}

#[test]
fn member_state_rolls_into_the_next_period() {
    let c = config(TierPeriod::CalendarYear, DowngradePolicy::OneDown);
    let zone = taipei();
    let mut m = MemberTier::new(&c, &zone, ts("2026-03-01T04:00:00Z")).unwrap();
    assert_eq!(m.period_start, ts("2025-12-31T16:00:00Z"));
    m.count(
        &c,
        &zone,
        ts("2026-03-01T04:00:00Z"),
        1_200,
        ts("2026-03-01T04:00:00Z"),
    )
    .unwrap();
    // One period later the value is the previous period's; two later it is gone.
    let next = m.rolled(&c, &zone, ts("2027-01-05T00:00:00Z")).unwrap();
    assert_eq!(
        (next.period_start, next.value_current, next.value_previous),
        (ts("2026-12-31T16:00:00Z"), 0, 1_200)
    );
    let later = m.rolled(&c, &zone, ts("2028-01-05T00:00:00Z")).unwrap();
    assert_eq!((later.value_current, later.value_previous), (0, 0));
    // Inside the same period nothing moves.
    assert_eq!(m.rolled(&c, &zone, ts("2026-12-31T15:59:59Z")).unwrap(), m);
}

#[test]
fn member_state_upgrades_at_once_and_returns_reduce_their_period() {
    let c = config(TierPeriod::CalendarYear, DowngradePolicy::OneDown);
    let zone = taipei();
    let now = ts("2026-03-01T04:00:00Z");
    let mut m = MemberTier::new(&c, &zone, now).unwrap();
    assert_eq!(m.count(&c, &zone, now, 900, now).unwrap(), TierChange::Keep);
    assert_eq!(
        m.count(&c, &zone, now, 100, now).unwrap(),
        TierChange::Upgrade
    );
    assert_eq!((m.rank, m.since), (1, now));
    // A return never downgrades by itself.
    assert_eq!(
        m.count(&c, &zone, now, -600, now).unwrap(),
        TierChange::Keep
    );
    assert_eq!((m.rank, m.value_current), (1, 400));
    // Next year: a return of a 2026 purchase reduces 2026, not 2027.
    let later = ts("2027-02-01T04:00:00Z");
    let mut m = m.rolled(&c, &zone, later).unwrap();
    m.count(&c, &zone, later, 300, later).unwrap();
    m.count(&c, &zone, now, -100, later).unwrap();
    assert_eq!((m.value_current, m.value_previous), (300, 300));
    // A purchase older than the previous period counts nowhere.
    m.count(&c, &zone, ts("2024-06-01T00:00:00Z"), -50, later)
        .unwrap();
    assert_eq!((m.value_current, m.value_previous), (300, 300));
}

#[test]
fn member_state_requalifying_cancels_a_pending_downgrade() {
    let c = config(TierPeriod::CalendarYear, DowngradePolicy::OneDown);
    let zone = taipei();
    let now = ts("2027-01-05T04:00:00Z");
    let mut m = MemberTier::new(&c, &zone, now).unwrap();
    m.rank = 1;
    m.since = ts("2025-06-01T00:00:00Z");
    m.pending = Some(DowngradeNotice {
        notify_at: ts("2026-12-01T16:00:00Z"),
        to_rank: 0,
        effective_at: ts("2027-01-30T16:00:00Z"),
    });
    m.count(&c, &zone, now, 999, now).unwrap();
    assert!(m.pending.is_some(), "999 does not hold silver");
    m.count(&c, &zone, now, 1, now).unwrap();
    assert_eq!((m.rank, m.pending), (1, None));
}

#[test]
fn member_effective_tier_and_review_instants() {
    let c = config(TierPeriod::CalendarYear, DowngradePolicy::OneDown);
    let zone = taipei();
    let now = ts("2026-03-01T04:00:00Z");
    let mut m = MemberTier::new(&c, &zone, now).unwrap();
    // A first-tier member with nothing ahead is not reviewed.
    assert_eq!(m.review_at(&c, &zone, false, now).unwrap(), None);
    m.rank = 1;
    // Above the first tier: the notice instant (14 days before the year ends) comes first.
    assert_eq!(
        m.review_at(&c, &zone, false, now).unwrap(),
        Some(ts("2026-12-17T16:00:00Z"))
    );
    let until = ts("2026-04-01T00:00:00Z");
    m.manual = Some(TierOverride { rank: 0, until });
    assert_eq!(m.effective(now), 0, "an override may also lower the tier");
    assert_eq!(m.review_at(&c, &zone, false, now).unwrap(), Some(until));
    m.membership = Some(TierOverride {
        rank: 2,
        until: ts("2026-03-15T00:00:00Z"),
    });
    assert_eq!(m.effective(now), 2, "a paid membership is a floor");
    assert_eq!(m.effective(ts("2026-03-20T00:00:00Z")), 0);
    assert_eq!(m.effective(ts("2026-04-02T00:00:00Z")), 1);
    assert_eq!(
        m.review_at(&c, &zone, false, now).unwrap(),
        Some(ts("2026-03-15T00:00:00Z"))
    );
}

#[test]
fn paid_tiers_need_a_fee_and_a_term() {
    let mk = |i: usize, paid: Option<PaidMembership>| {
        let mut tiers = vec![tier("member", 0, 10_000), tier("gold", 100, 10_000)];
        tiers[i].paid = paid;
        TierConfig::new(
            tiers,
            QualificationBasis::QualifyingPoints,
            TierPeriod::CalendarYear,
            DowngradePolicy::OneDown,
            0,
            0,
        )
    };
    let field = |r: Result<TierConfig, TierError>| match r {
        Err(TierError::Field(f)) => f.field,
        other => panic!("{other:?}"),
    };
    let paid = |fee_minor, term_months| {
        Some(PaidMembership {
            fee_minor,
            term_months,
        })
    };
    assert!(mk(1, paid(99_900, 12)).is_ok());
    assert_eq!(field(mk(1, paid(0, 12))), "tiers[1].paid.fee_minor");
    assert_eq!(field(mk(1, paid(100, 0))), "tiers[1].paid.term_months");
    assert_eq!(field(mk(1, paid(100, 121))), "tiers[1].paid.term_months");
    assert_eq!(field(mk(0, paid(100, 12))), "tiers[0].paid");
}

use super::*;

// Amounts in these tests are whole currency units (CU), as in IFRS 15 IE52: the functions work
// in minor units of any exponent, and "rounded to whole CU" is rounding to the minor unit of a
// zero-exponent currency.

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn estimate(version: u32, expected: i64, at: &str) -> BreakageEstimate {
    BreakageEstimate {
        version,
        expected_redeemed_points: expected,
        set_by: "finance@shop".into(),
        set_at: ts(at),
        reason: "quarterly review".into(),
    }
}

/// IFRS 15 IE52 end to end: sale, period 1, estimate change in period 2, our period-3 extension.
#[test]
fn ifrs15_example_52() {
    let ssp = points_ssp_minor(10_000, 1, 9_500, 10_000).unwrap();
    assert_eq!(ssp, 9_500);
    let allocation = allocate(100_000, 100_000, ssp, AllocationRounding::ExactRatio).unwrap();
    assert_eq!(
        allocation,
        Allocation {
            goods_minor: 91_324,
            points_minor: 8_676
        }
    );
    let sale = sale_journal(allocation);
    assert!(journal_balances(&sale));
    assert_eq!(
        sale,
        vec![
            JournalLine {
                account: JournalAccount::Receivable,
                debit_minor: 100_000,
                credit_minor: 0
            },
            JournalLine {
                account: JournalAccount::RevenueGoods,
                debit_minor: 0,
                credit_minor: 91_324
            },
            JournalLine {
                account: JournalAccount::ContractLiabilityPoints,
                debit_minor: 0,
                credit_minor: 8_676
            },
        ]
    );

    let history = EstimateHistory::new(estimate(1, 9_500, "2026-01-01T00:00:00Z")).unwrap();
    // Period 1: 4,500 redeemed, estimate 9,500.
    let p1 = recognise(
        CohortPosition {
            allocated_minor: 8_676,
            redeemed_points: 4_500,
            expected_redeemed_points: history.current().expected_redeemed_points,
            closed: false,
        },
        0,
    )
    .unwrap();
    assert_eq!(
        p1,
        Recognition {
            cumulative_minor: 4_110,
            period_minor: 4_110,
            liability_minor: 4_566
        }
    );
    let roll1 = roll_forward(0, 8_676, 0, p1.period_minor).unwrap();
    assert_eq!(roll1.closing_minor, 4_566);

    // Period 2: 8,500 redeemed cumulatively, estimate revised to 9,700 (version 2).
    let history = history
        .revise(estimate(2, 9_700, "2026-12-31T00:00:00Z"))
        .unwrap();
    assert_eq!(history.versions().len(), 2);
    assert_eq!(
        history
            .as_of(ts("2026-06-01T00:00:00Z"))
            .unwrap()
            .expected_redeemed_points,
        9_500
    );
    let p2 = recognise(
        CohortPosition {
            allocated_minor: 8_676,
            redeemed_points: 8_500,
            expected_redeemed_points: history.current().expected_redeemed_points,
            closed: false,
        },
        p1.cumulative_minor,
    )
    .unwrap();
    assert_eq!(
        p2,
        Recognition {
            cumulative_minor: 7_603,
            period_minor: 3_493,
            liability_minor: 1_073
        }
    );
    let roll2 = roll_forward(roll1.closing_minor, 0, 0, p2.period_minor).unwrap();
    assert_eq!(roll2.closing_minor, 1_073);
    let journal2 = recognition_journal(p2.period_minor);
    assert!(journal_balances(&journal2));
    assert_eq!(journal2[0].account, JournalAccount::ContractLiabilityPoints);
    assert_eq!(journal2[0].debit_minor, 3_493);
    assert_eq!(journal2[1].credit_minor, 3_493);

    // Period 3 (our extension): 1,000 more redeemed, the last 500 expire: the cohort closes and
    // recognises everything that is left.
    let p3 = recognise(
        CohortPosition {
            allocated_minor: 8_676,
            redeemed_points: 9_500,
            expected_redeemed_points: 9_700,
            closed: true,
        },
        p2.cumulative_minor,
    )
    .unwrap();
    assert_eq!(
        p3,
        Recognition {
            cumulative_minor: 8_676,
            period_minor: 1_073,
            liability_minor: 0
        }
    );
    assert_eq!(
        roll_forward(roll2.closing_minor, 0, 0, p3.period_minor)
            .unwrap()
            .closing_minor,
        0
    );
}

/// KPMG handbook Examples 10A/10B (loyalty.md §B.3) under both rounding policies:
/// (policy, allocation to points, year-2 revenue, year-3 revenue 10A, year-3 revenue 10B).
#[test]
fn kpmg_variant_under_both_rounding_policies() {
    let cases = [
        (AllocationRounding::WholePercent, 9_000, 4_175, 3_552, 4_140),
        (AllocationRounding::ExactRatio, 8_842, 4_102, 3_490, 4_067),
    ];
    for (policy, points, year2, year3_10a, year3_10b) in cases {
        let ssp = points_ssp_minor(10_000, 1, 9_700, 10_000).unwrap();
        let allocation = allocate(100_000, 100_000, ssp, policy).unwrap();
        assert_eq!(allocation.points_minor, points, "{policy:?}");
        assert_eq!(allocation.goods_minor, 100_000 - points, "{policy:?}");
        let position = |redeemed, expected| CohortPosition {
            allocated_minor: points,
            redeemed_points: redeemed,
            expected_redeemed_points: expected,
            closed: false,
        };
        let y2 = recognise(position(4_500, 9_700), 0).unwrap();
        assert_eq!(y2.period_minor, year2, "{policy:?}");
        let a = recognise(position(8_500, 9_900), y2.cumulative_minor).unwrap();
        assert_eq!(a.period_minor, year3_10a, "{policy:?} 10A");
        let b = recognise(position(8_500, 9_200), y2.cumulative_minor).unwrap();
        assert_eq!(b.period_minor, year3_10b, "{policy:?} 10B");
    }
}

#[test]
fn free_points_carry_no_revenue() {
    let a = allocate_lot(
        RevenueClass::Free,
        5_000,
        5_000,
        300,
        AllocationRounding::ExactRatio,
    )
    .unwrap();
    assert_eq!(
        a,
        Allocation {
            goods_minor: 5_000,
            points_minor: 0
        }
    );
    let p = allocate_lot(
        RevenueClass::Purchase,
        100_000,
        100_000,
        9_500,
        AllocationRounding::ExactRatio,
    )
    .unwrap();
    assert_eq!(p.points_minor, 8_676);
}

#[test]
fn recognition_is_capped_at_the_allocation() {
    // More redeemed than expected: min(1, …) caps the ratio.
    let r = recognise(
        CohortPosition {
            allocated_minor: 8_676,
            redeemed_points: 9_900,
            expected_redeemed_points: 9_500,
            closed: false,
        },
        4_110,
    )
    .unwrap();
    assert_eq!(r.cumulative_minor, 8_676);
    assert_eq!(r.liability_minor, 0);
    // A rising estimate can give a negative period (cumulative catch-up downwards).
    let down = recognise(
        CohortPosition {
            allocated_minor: 8_676,
            redeemed_points: 4_500,
            expected_redeemed_points: 10_000,
            closed: false,
        },
        4_110,
    )
    .unwrap();
    assert_eq!(down.cumulative_minor, 3_904);
    assert_eq!(down.period_minor, -206);
    let journal = recognition_journal(down.period_minor);
    assert!(journal_balances(&journal));
    assert_eq!(journal[0].credit_minor, 206);
}

#[test]
fn returns_reverse_the_returned_share_exactly() {
    let allocation = Allocation {
        goods_minor: 91_324,
        points_minor: 8_676,
    };
    // Three partial returns that empty the order reverse exactly the allocation.
    let mut before = 0;
    let mut total = Allocation {
        goods_minor: 0,
        points_minor: 0,
    };
    for part in [33_333, 33_333, 33_334] {
        let r = reverse_for_return(allocation, before, part).unwrap();
        assert_eq!(r.goods_minor + r.points_minor, part);
        assert!(journal_balances(&return_journal(r)));
        total.goods_minor += r.goods_minor;
        total.points_minor += r.points_minor;
        before += part;
    }
    assert_eq!(total, allocation);
    assert_eq!(
        reverse_for_return(allocation, 90_000, 10_001),
        Err(AccountingError::ReturnExceedsPrice {
            returned_minor: 100_001,
            price_minor: 100_000
        })
    );
}

#[test]
fn bad_inputs_are_refused() {
    let cases: Vec<(Result<Allocation, AccountingError>, AccountingError)> = vec![
        (
            allocate(-1, 1, 1, AllocationRounding::ExactRatio),
            AccountingError::Negative {
                field: "price_minor",
            },
        ),
        (
            allocate(1, 0, 0, AllocationRounding::ExactRatio),
            AccountingError::ZeroSsp,
        ),
    ];
    for (got, want) in cases {
        assert_eq!(got, Err(want));
    }
    // Extreme amounts compute without overflow: the share never exceeds the price.
    let huge = allocate(i64::MAX, i64::MAX, i64::MAX, AllocationRounding::ExactRatio).unwrap();
    assert_eq!(
        huge.goods_minor.checked_add(huge.points_minor),
        Some(i64::MAX)
    );
    assert_eq!(
        points_ssp_minor(1, 1, 1, 0),
        Err(AccountingError::NotPositive { field: "issued" })
    );
    let h = EstimateHistory::new(estimate(1, 9_500, "2026-01-01T00:00:00Z")).unwrap();
    assert_eq!(
        h.revise(estimate(3, 9_700, "2026-02-01T00:00:00Z")),
        Err(AccountingError::EstimateVersion {
            expected: 2,
            got: 3
        })
    );
    assert!(matches!(
        h.revise(estimate(2, 9_700, "2025-02-01T00:00:00Z")),
        Err(AccountingError::EstimateOutOfOrder { .. })
    ));
    let mut anonymous = estimate(2, 9_700, "2026-02-01T00:00:00Z");
    anonymous.set_by = " ".into();
    assert_eq!(
        h.revise(anonymous),
        Err(AccountingError::EstimateText { field: "set_by" })
    );
    assert!(EstimateHistory::new(estimate(2, 1, "2026-01-01T00:00:00Z")).is_err());
}

#[test]
fn liability_by_expiry_bucket_sums_to_the_liability() {
    let now = ts("2026-01-01T00:00:00Z");
    let lots = [
        OutstandingLot {
            expires_at: Some(ts("2026-01-10T15:59:59Z")),
            points: 100,
        },
        OutstandingLot {
            expires_at: Some(ts("2026-03-01T15:59:59Z")),
            points: 200,
        },
        OutstandingLot {
            expires_at: Some(ts("2027-12-31T15:59:59Z")),
            points: 300,
        },
        OutstandingLot {
            expires_at: None,
            points: 400,
        },
    ];
    let buckets = liability_by_expiry_bucket(1_073, &lots, now, &[30, 90, 365]).unwrap();
    let got: Vec<(Option<i64>, bool, i64, i64)> = buckets
        .iter()
        .map(|b| (b.within_days, b.never, b.points, b.liability_minor))
        .collect();
    assert_eq!(
        got,
        vec![
            (Some(30), false, 100, 107),
            (Some(90), false, 200, 215),
            (Some(365), false, 0, 0),
            (None, false, 300, 322),
            (None, true, 400, 429),
        ]
    );
    assert_eq!(
        buckets.iter().map(|b| b.liability_minor).sum::<i64>(),
        1_073
    );
    assert_eq!(
        liability_by_expiry_bucket(1, &lots, now, &[90, 30]),
        Err(AccountingError::BadBuckets)
    );
}

fn rate(cohort: &str, version: u32, rate_ppm: i64, at: &str) -> RateEstimate {
    RateEstimate {
        cohort: cohort.into(),
        version,
        rate_ppm,
        set_at: ts(at),
    }
}

#[test]
fn rate_in_force_by_cohort_version_and_instant() {
    let estimates = [
        rate("2026-03", 1, 950_000, "2026-03-01T00:00:00Z"),
        rate("2026-03", 2, 970_000, "2026-04-20T00:00:00Z"),
        rate("2026-05", 1, 900_000, "2026-05-02T00:00:00Z"),
    ];
    let at = |s| ts(s);
    assert_eq!(
        rate_in_force(&[], "2026-03", at("2026-03-05T00:00:00Z")),
        PPM
    );
    assert_eq!(
        rate_in_force(&estimates, "2026-02", at("2026-09-01T00:00:00Z")),
        PPM
    );
    assert_eq!(
        rate_in_force(&estimates, "2026-03", at("2026-03-31T00:00:00Z")),
        950_000
    );
    assert_eq!(
        rate_in_force(&estimates, "2026-03", at("2026-04-20T00:00:00Z")),
        970_000
    );
    // A later cohort without its own estimate takes the latest earlier one's.
    assert_eq!(
        rate_in_force(&estimates, "2026-04", at("2026-04-30T00:00:00Z")),
        970_000
    );
    assert_eq!(
        rate_in_force(&estimates, "2026-04", at("2026-04-01T00:00:00Z")),
        950_000
    );
    assert_eq!(
        rate_in_force(&estimates, "2026-06", at("2026-06-01T00:00:00Z")),
        900_000
    );
    // Not yet set at that instant.
    assert_eq!(
        rate_in_force(&estimates, "2026-05", at("2026-05-01T00:00:00Z")),
        970_000
    );
}

#[test]
fn expected_redeemed_and_checks() {
    assert_eq!(expected_redeemed(10_000, 950_000), Ok(9_500));
    assert_eq!(expected_redeemed(10_000, 970_000), Ok(9_700));
    assert_eq!(expected_redeemed(3, 500_000), Ok(2), "half rounds up");
    assert_eq!(expected_redeemed(10, 0), Err(AccountingError::Rate));
    assert_eq!(check_rate_ppm(PPM + 1), Err(AccountingError::Rate));
    assert_eq!(check_rate_ppm(1), Ok(1));
    assert_eq!(parse_cohort("2026-03"), Ok((2026, 3)));
    for bad in [
        "2026-13", "2026-00", "26-03", "2026/03", "2026-3", "+026-03", "1969-12", "",
    ] {
        assert_eq!(parse_cohort(bad), Err(AccountingError::Cohort), "{bad}");
    }
    assert!(check_estimate_text("reason", "  ").is_err());
    assert!(check_estimate_text("reason", &"x".repeat(ESTIMATE_TEXT_CHARS_MAX + 1)).is_err());
    assert!(check_estimate_text("reason", "quarterly review").is_ok());
}

use super::*;
use crate::loyalty::expiry::{ExpiryDays, ExpiryPolicy, PeriodAnchor, lot_expires_at};
use crate::loyalty::rules::{NonPurchaseKind, RuleRef};
use crate::money::Currency;
use crate::order::OrderLine;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn taipei() -> TimeZone {
    TimeZone::get("Asia/Taipei").unwrap()
}

fn bonus(id: u64, amount: i64, earned: &str, expires: Option<&str>) -> Lot {
    Lot::earn(
        LotId(id),
        amount,
        ts(earned),
        None,
        expires.map(ts),
        LotSource::NonPurchase {
            kind: NonPurchaseKind::Review,
            rule: RuleRef { id: 50, version: 1 },
        },
    )
    .unwrap()
}

/// A purchase lot of three lines earned under rule 1 v1 (1 pt per NT$100) with a 2× promotion
/// (rule 2 v4) on line 0: 20 + 3 + 5 = 28 points.
fn purchase(id: u64, earned: &str, pending: Option<&str>, expires: Option<&str>) -> Lot {
    let v1 = RuleRef { id: 1, version: 1 };
    let promo = RuleRef { id: 2, version: 4 };
    Lot::earn(
        LotId(id),
        28,
        ts(earned),
        pending.map(ts),
        expires.map(ts),
        LotSource::Purchase {
            order_ref: "ORD-1".into(),
            lines: vec![
                LinePoints {
                    line: 0,
                    quantity: 2,
                    points: 20,
                    rules: vec![v1, promo],
                },
                LinePoints {
                    line: 1,
                    quantity: 3,
                    points: 3,
                    rules: vec![v1],
                },
                LinePoints {
                    line: 2,
                    quantity: 1,
                    points: 5,
                    rules: vec![v1],
                },
            ],
        },
    )
    .unwrap()
}

fn order() -> Order {
    Order::new(
        Currency::TWD,
        vec![
            OrderLine::new("OOLONG", Some("tea"), 2, 50_000).unwrap(),
            OrderLine::new("CUP", Some("cup"), 3, 10_000).unwrap(),
            OrderLine::new("POT", Some("pot"), 1, 50_000).unwrap(),
        ],
    )
    .unwrap()
}

const NOW: &str = "2026-03-10T04:00:00Z";

#[test]
fn spend_order_is_soonest_expiry_then_never_last_then_oldest_then_id() {
    // A bonus lot with 30 days and a purchase lot with a year: the bonus goes first.
    let now = ts(NOW);
    let z = taipei();
    let bonus_expiry = lot_expires_at(
        ExpiryPolicy::DaysAfterActivation(ExpiryDays::new(30).unwrap()),
        ts("2026-03-01T04:00:00Z"),
        &z,
    )
    .unwrap();
    let year = lot_expires_at(
        ExpiryPolicy::EndOfYear(PeriodAnchor::Following),
        ts("2026-02-01T04:00:00Z"),
        &z,
    )
    .unwrap();
    let mut lots = vec![
        purchase(
            1,
            "2026-02-01T04:00:00Z",
            None,
            year.map(|t| t.to_string()).as_deref(),
        ),
        bonus(
            2,
            10,
            "2026-03-01T04:00:00Z",
            bonus_expiry.map(|t| t.to_string()).as_deref(),
        ),
        bonus(3, 10, "2026-01-01T04:00:00Z", None),
        bonus(4, 10, "2026-01-01T04:00:00Z", None),
        bonus(5, 10, "2025-12-01T04:00:00Z", None),
    ];
    let plan = plan_spend(&lots, 0, 0, 45, now).unwrap();
    let got: Vec<(u64, i64)> = plan.iter().map(|c| (c.lot.0, c.points)).collect();
    // Bonus (30 d), purchase (next year), then never-expiring: oldest, then lower id.
    assert_eq!(got, vec![(2, 10), (1, 28), (5, 7)]);
    apply_consumptions(&mut lots, &plan).unwrap();
    let b = balance(&lots, 0, ShortfallPolicy::Debt, now);
    assert_eq!(b.active, 23);
    assert!(plan_spend(&lots, 0, 0, 24, now).is_err());
    assert_eq!(
        plan_spend(&lots, 0, 20, 4, now),
        Err(LotError::InsufficientPoints {
            available: 3,
            requested: 4
        })
    );
    for lot in &lots {
        check_lot(lot).unwrap();
    }
}

#[test]
fn pending_points_activate_at_the_right_instant_and_returns_cancel_them() {
    let z = taipei();
    let earned = ts("2026-03-01T04:00:00Z");
    let until = pending_until(earned, 7, &z).unwrap();
    assert_eq!(until, ts("2026-03-08T04:00:00Z"));
    let mut lots = vec![purchase(
        1,
        "2026-03-01T04:00:00Z",
        Some(&until.to_string()),
        None,
    )];
    let before = ts("2026-03-08T03:59:59Z");
    assert_eq!(lots[0].state_at(before), LotState::Pending);
    assert_eq!(balance(&lots, 0, ShortfallPolicy::Debt, before).pending, 28);
    assert_eq!(lots[0].state_at(until), LotState::Active);
    assert!(plan_maintenance(&lots, 0, before).activations.is_empty());

    // A return of line 2 inside the window: no balance impact, the lot shrinks.
    let points =
        order_line_reversal_points(&order(), &lots[0], &BTreeMap::new(), &[(2, 1)]).unwrap();
    assert_eq!(points, 5);
    let plan = plan_reversal(&lots, LotId(1), points, before).unwrap();
    assert_eq!(plan.lot_state, LotState::Pending);
    assert_eq!(plan.from_lot, 5);
    assert!(plan.clawed_back.is_empty());
    assert_eq!(apply_reversal(&mut lots, 0, &plan).unwrap(), 0);
    assert_eq!(balance(&lots, 0, ShortfallPolicy::Debt, before).active, 0);
    assert_eq!(lots[0].remaining, 23);

    // The job activates at the instant, and is idempotent.
    let job = plan_maintenance(&lots, 0, until);
    assert_eq!(job.activations, vec![LotId(1)]);
    apply_maintenance(&mut lots, 0, &job).unwrap();
    assert_eq!(lots[0].state, LotState::Active);
    assert_eq!(
        plan_maintenance(&lots, 0, until),
        MaintenancePlan::default()
    );

    // A full return of the rest of the order inside the window: the lot is reversed.
    let mut pending = vec![purchase(
        1,
        "2026-03-01T04:00:00Z",
        Some(&until.to_string()),
        None,
    )];
    let all = order_line_reversal_points(
        &order(),
        &pending[0],
        &BTreeMap::new(),
        &[(0, 2), (1, 3), (2, 1)],
    )
    .unwrap();
    assert_eq!(all, 28);
    let plan = plan_reversal(&pending, LotId(1), all, before).unwrap();
    apply_reversal(&mut pending, 0, &plan).unwrap();
    assert_eq!(pending[0].state, LotState::Reversed);
    check_lot(&pending[0]).unwrap();
}

#[test]
fn partial_return_uses_the_original_rule_versions_provenance() {
    // The lot was earned with a 2× promotion on line 0 that no longer exists: returning one of
    // the two units of line 0 reverses 10 points (half of the 20 it earned), and returning the
    // second unit later reverses the other 10 — never a recompute under today's rules.
    let lot = purchase(1, "2026-01-01T04:00:00Z", None, None);
    let o = order();
    type Units = Vec<(usize, i64)>;
    let cases: Vec<(Units, Units, Result<i64, LotError>)> = vec![
        (vec![], vec![(0, 1)], Ok(10)),
        (vec![(0, 1)], vec![(0, 1)], Ok(10)),
        // Three units of 3 points: 1 each, the cumulative floor keeps the total exact.
        (vec![], vec![(1, 1)], Ok(1)),
        (vec![], vec![(1, 2)], Ok(2)),
        (vec![(1, 2)], vec![(1, 1)], Ok(1)),
        (vec![], vec![(0, 2), (1, 3), (2, 1)], Ok(28)),
        (
            vec![(0, 2)],
            vec![(0, 1)],
            Err(LotError::ExceedsLine {
                line: 0,
                requested: 3,
                bought: 2,
            }),
        ),
        (vec![], vec![(7, 1)], Err(LotError::UnknownLine { line: 7 })),
        (
            vec![],
            vec![(1, 4)],
            Err(LotError::ExceedsLine {
                line: 1,
                requested: 4,
                bought: 3,
            }),
        ),
    ];
    for (before, now, want) in cases {
        let before: BTreeMap<usize, i64> = before.into_iter().collect();
        assert_eq!(
            order_line_reversal_points(&o, &lot, &before, &now),
            want,
            "{before:?} {now:?}"
        );
    }
    let free = bonus(2, 10, "2026-01-01T04:00:00Z", None);
    assert_eq!(
        line_reversal_points(&free, &BTreeMap::new(), &[(0, 1)]),
        Err(LotError::NotAPurchase(LotId(2)))
    );
}

#[test]
fn a_return_after_the_points_were_spent_leaves_a_debt_or_a_negative_balance() {
    let now = ts(NOW);
    let mut lots = vec![
        purchase(1, "2026-01-01T04:00:00Z", None, None),
        bonus(2, 5, "2026-01-02T04:00:00Z", None),
    ];
    // Spend 30 of the 33 points: the purchase lot is emptied (it is older), 2 left in lot 2...
    let spend = plan_spend(&lots, 0, 0, 30, now).unwrap();
    apply_consumptions(&mut lots, &spend).unwrap();
    assert_eq!((lots[0].remaining, lots[1].remaining), (0, 3));
    // ...then the whole order is returned: 28 points to reverse, 3 clawed back, 25 owed.
    let plan = plan_reversal(&lots, LotId(1), 28, now).unwrap();
    assert_eq!(plan.from_lot, 0);
    assert_eq!(
        plan.clawed_back,
        vec![Consumption {
            lot: LotId(2),
            points: 3
        }]
    );
    assert_eq!(plan.new_debt, 25);
    let debt = apply_reversal(&mut lots, 0, &plan).unwrap();
    assert_eq!(debt, 25);
    let shown = |policy| balance(&lots, debt, policy, now).shown;
    assert_eq!(shown(ShortfallPolicy::Debt), 0);
    assert_eq!(shown(ShortfallPolicy::NegativeBalance), -25);
    // The order cannot be reversed twice.
    assert_eq!(
        plan_reversal(&lots, LotId(1), 1, now),
        Err(LotError::ExceedsLot {
            lot: LotId(1),
            reversible: 0,
            requested: 1
        })
    );
    // New points settle the debt first.
    lots.push(bonus(3, 40, "2026-03-10T04:00:00Z", None));
    let settle = plan_settle_debt(&lots, debt, &[LotId(3)], now);
    apply_consumptions(&mut lots, &settle).unwrap();
    let debt = debt - settle.iter().map(|c| c.points).sum::<i64>();
    assert_eq!(debt, 0);
    assert_eq!(balance(&lots, debt, ShortfallPolicy::Debt, now).shown, 15);
    check_account(&lots, debt, 15, now).unwrap();
}

#[test]
fn a_cancelled_redemption_restores_the_original_lots_and_expiry() {
    let z = taipei();
    let now = ts("2026-03-10T04:00:00Z");
    let short = "2026-03-20T15:59:59Z";
    let long = "2026-12-31T15:59:59Z";
    let make = || {
        vec![
            bonus(1, 10, "2026-03-01T04:00:00Z", Some(short)),
            bonus(2, 10, "2026-03-01T04:00:00Z", Some(long)),
        ]
    };
    let mut lots = make();
    let spend = plan_spend(&lots, 0, 0, 15, now).unwrap();
    apply_consumptions(&mut lots, &spend).unwrap();
    // Cancelled before anything expired: back to the same lots, same expiry.
    let plan = plan_restore(&lots, &spend, ExpiredRestorePolicy::StayExpired, &z, now).unwrap();
    apply_restore(&mut lots, &plan, now, || LotId(99)).unwrap();
    assert_eq!(lots, make());

    // Cancelled after lot 1 expired: (policy, balance after, new lots).
    let later = ts("2026-03-25T04:00:00Z");
    let grace = ExpiredRestorePolicy::RestoreWithGrace(ExpiryDays::new(14).unwrap());
    let cases = [(ExpiredRestorePolicy::StayExpired, 10, 0), (grace, 20, 1)];
    for (policy, want_balance, new_lots) in cases {
        let mut lots = make();
        apply_consumptions(&mut lots, &spend).unwrap();
        let job = plan_maintenance(&lots, 0, later);
        assert_eq!(
            job.expiries,
            vec![Consumption {
                lot: LotId(1),
                points: 0
            }]
        );
        apply_maintenance(&mut lots, 0, &job).unwrap();
        let plan = plan_restore(&lots, &spend, policy, &z, later).unwrap();
        let created = apply_restore(&mut lots, &plan, later, || LotId(99)).unwrap();
        assert_eq!(created.len(), new_lots, "{policy:?}");
        assert_eq!(
            balance(&lots, 0, ShortfallPolicy::Debt, later).active,
            want_balance,
            "{policy:?}"
        );
        // Lot 2 got its 5 back with its original expiry either way.
        assert_eq!(lots[1].remaining, 10);
        assert_eq!(lots[1].expires_at, Some(ts(long)));
        if new_lots == 1 {
            // Grace: valid through 8 April (25 March + 14 days), 23:59:59 Taipei.
            assert_eq!(lots[2].expires_at, Some(ts("2026-04-08T15:59:59Z")));
            assert_eq!(lots[2].source, LotSource::Restored { from: LotId(1) });
        } else {
            assert_eq!(lots[0].remaining, 10);
            assert_eq!(lots[0].state, LotState::Expired);
        }
        for lot in &lots {
            check_lot(lot).unwrap();
        }
    }
    assert!(matches!(
        plan_restore(&make(), &spend, ExpiredRestorePolicy::StayExpired, &z, now),
        Err(LotError::RestoreExceedsSpent { .. })
    ));
}

#[test]
fn invariants_catch_over_consumption_and_drift() {
    let now = ts(NOW);
    let mut lot = bonus(1, 10, "2026-01-01T04:00:00Z", None);
    check_lot(&lot).unwrap();
    lot.remaining = 11;
    assert_eq!(check_lot(&lot), Err(InvariantViolation::LotParts(LotId(1))));
    lot.remaining = -1;
    lot.spent = 11;
    assert_eq!(check_lot(&lot), Err(InvariantViolation::LotParts(LotId(1))));
    let lots = vec![bonus(1, 10, "2026-01-01T04:00:00Z", None)];
    assert_eq!(
        check_account(&lots, 0, 9, now),
        Err(InvariantViolation::Balance {
            stored: 9,
            derived: 10
        })
    );
    assert_eq!(
        check_account(&lots, 3, 7, now),
        Err(InvariantViolation::Debt {
            debt: 3,
            active: 10
        })
    );
    // Applying consumptions beyond a lot's remaining is refused and changes nothing.
    let mut lots = lots;
    let too_much = [Consumption {
        lot: LotId(1),
        points: 11,
    }];
    assert!(apply_consumptions(&mut lots, &too_much).is_err());
    assert_eq!(lots[0].remaining, 10);
    assert_eq!(
        Lot::earn(
            LotId(2),
            0,
            now,
            None,
            None,
            LotSource::Restored { from: LotId(1) }
        ),
        Err(LotError::PointsOutOfRange { points: 0 })
    );
    assert_eq!(
        Lot::earn(
            LotId(2),
            1,
            now,
            Some(now),
            None,
            LotSource::Restored { from: LotId(1) }
        ),
        Err(LotError::BadInstants)
    );
}

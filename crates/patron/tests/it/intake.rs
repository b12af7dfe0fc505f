//! Exactly-once intake of orders, refunds and events, and the points they post.

use crate::support::{order, refund};
use app::AppError;
use app::intake::{Intake, LineInput};
use domain::access::Role;
use test_support::{TestApp, both_backends};

fn who() -> app::Principal {
    TestApp::principal(Role::Integration)
}

both_backends!(order_earns_once_and_replays_its_outcome, |t: &TestApp| {
    let o = order("A-1", "C-1", 3, 45_000); // NT$1,350 → 13 points
    let Intake::Accepted(first) = t.app.place_order(&who(), &o).unwrap() else {
        panic!("accepted")
    };
    assert_eq!(first.points_earned, 13);
    assert_eq!(t.app.points_balance(first.customer_id).unwrap(), 13);
    let Intake::Duplicate(again) = t.app.place_order(&who(), &o).unwrap() else {
        panic!("duplicate")
    };
    assert_eq!(again, first);
    assert_eq!(t.app.points_balance(first.customer_id).unwrap(), 13);
    // The customer exists once, found by the shop id.
    let second = t
        .app
        .place_order(&who(), &order("A-2", "C-1", 1, 10_000))
        .unwrap();
    let Intake::Accepted(second) = second else {
        panic!("accepted")
    };
    assert_eq!(second.customer_id, first.customer_id);
    assert_eq!(t.app.points_balance(first.customer_id).unwrap(), 14);
});

both_backends!(
    same_id_other_content_is_a_conflict_naming_fields,
    |t: &TestApp| {
        t.app
            .place_order(&who(), &order("A-1", "C-1", 3, 45_000))
            .unwrap();
        let changed = order("A-1", "C-1", 4, 45_000);
        match t.app.place_order(&who(), &changed).unwrap() {
            Intake::Rejected(AppError::ConflictingDuplicate { differences }) => {
                assert_eq!(differences, vec!["lines[0].quantity"]);
            }
            other => panic!("expected a conflict, got {other:?}"),
        }
        let customer = t
            .app
            .find_customer(
                &domain::Identity::parse(domain::IdentityKind::ShopCustomerId, "C-1").unwrap(),
            )
            .unwrap()
            .unwrap();
        assert_eq!(t.app.points_balance(customer).unwrap(), 13);
    }
);

both_backends!(bad_orders_change_nothing, |t: &TestApp| {
    let mut negative = order("B-1", "C-1", 1, -100);
    let r = t.app.place_order(&who(), &negative).unwrap();
    assert!(
        matches!(r, Intake::Rejected(AppError::Invalid(ref e)) if e.field == "lines[0].unit_price_minor"),
        "{r:?}"
    );
    negative.lines[0].unit_price_minor = 100;
    negative.currency = "XYZ".to_owned();
    let r = t.app.place_order(&who(), &negative).unwrap();
    assert!(
        matches!(r, Intake::Rejected(AppError::Invalid(ref e)) if e.field == "currency"),
        "{r:?}"
    );
    let mut unknown = order("B-2", "C-1", 1, 100);
    unknown.customer = app::intake::CustomerRef::Id(999_999);
    assert!(matches!(
        t.app.place_order(&who(), &unknown).unwrap(),
        Intake::Rejected(AppError::UnknownCustomer)
    ));
    let mut empty = order("B-3", "C-1", 1, 100);
    empty.lines.clear();
    assert!(matches!(
        t.app.place_order(&who(), &empty).unwrap(),
        Intake::Rejected(AppError::Invalid(_))
    ));
    // Nothing was stored: the ids can still be used.
    assert!(matches!(
        t.app
            .place_order(&who(), &order("B-1", "C-1", 1, 100))
            .unwrap(),
        Intake::Accepted(_)
    ));
    t.app
        .store
        .read(|tx| {
            assert_eq!(
                store::events::count_by_kind(tx, domain::EventKind::OrderPlaced)?,
                1
            );
            assert_eq!(store::customers::count(tx)?, 1);
            anyhow::Ok(())
        })
        .unwrap();
});

both_backends!(refunds_reverse_exactly_what_was_earned, |t: &TestApp| {
    let mut o = order("R-1", "C-1", 2, 45_000);
    o.lines.push(LineInput {
        sku: "CUP".to_owned(),
        category: None,
        quantity: 1,
        unit_price_minor: 39_900,
    });
    // NT$900 + NT$399 = NT$1,299 → 12 points.
    let Intake::Accepted(placed) = t.app.place_order(&who(), &o).unwrap() else {
        panic!()
    };
    assert_eq!(placed.points_earned, 12);
    let Intake::Accepted(r1) = t
        .app
        .refund_order(&who(), &refund("RF-1", "R-1", Some(vec![(0, 1)])))
        .unwrap()
    else {
        panic!()
    };
    assert_eq!((r1.amount_minor, r1.points_reversed), (45_000, 4)); // 12 − floor(849) = 12 − 8
    let Intake::Duplicate(again) = t
        .app
        .refund_order(&who(), &refund("RF-1", "R-1", Some(vec![(0, 1)])))
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(again, r1);
    // Refunding more than remains of a line is refused and changes nothing.
    let over = t
        .app
        .refund_order(&who(), &refund("RF-2", "R-1", Some(vec![(0, 2)])));
    assert!(
        matches!(over, Err(AppError::RefundExceedsOrder(_))),
        "{over:?}"
    );
    let Intake::Accepted(rest) = t
        .app
        .refund_order(&who(), &refund("RF-3", "R-1", None))
        .unwrap()
    else {
        panic!()
    };
    assert_eq!((rest.amount_minor, rest.points_reversed), (84_900, 8));
    assert_eq!(t.app.points_balance(placed.customer_id).unwrap(), 0);
    let nothing = t.app.refund_order(&who(), &refund("RF-4", "R-1", None));
    assert!(matches!(nothing, Err(AppError::RefundExceedsOrder(_))));
    let unknown = t.app.refund_order(&who(), &refund("RF-5", "nope", None));
    assert!(matches!(unknown, Err(AppError::UnknownOrder)));
    let check = t.app.store.read(store::ledger::check).unwrap();
    assert!(check.is_healthy(), "{check:?}");
});

/// Places `n` orders of NT$1,000 (10 points each) for the shop's customer `shop_id`, with
/// external ids `<prefix>-0`, `<prefix>-1`, …; returns the customer's id.
fn thousand_dollar_orders(t: &TestApp, prefix: &str, shop_id: &str, n: usize) -> i64 {
    let mut customer = 0;
    for i in 0..n {
        let Intake::Accepted(o) = t
            .app
            .place_order(
                &who(),
                &order(&format!("{prefix}-{i}"), shop_id, 1, 100_000),
            )
            .unwrap()
        else {
            panic!("order {prefix}-{i} not accepted")
        };
        customer = o.customer_id;
    }
    customer
}

both_backends!(statement_pages_and_corrections_compensate, |t: &TestApp| {
    let customer = thousand_dollar_orders(t, "S", "C-9", 5);
    let manager = TestApp::principal(Role::Manager);
    let c = t
        .app
        .correct_points(&manager, customer, -7, "客服補償撤回")
        .unwrap();
    assert_eq!(c.points, -7);
    assert!(matches!(
        t.app.correct_points(&manager, customer, -100, "too much"),
        Err(AppError::InsufficientPoints(_))
    ));
    assert!(matches!(
        t.app.correct_points(&manager, customer, 5, "  "),
        Err(AppError::Invalid(_))
    ));
    assert_eq!(t.app.points_balance(customer).unwrap(), 43);
    let page1 = t.app.points_statement(customer, (0, 0), 4).unwrap();
    assert_eq!(page1.entries.len(), 4);
    let page2 = t
        .app
        .points_statement(customer, page1.next.unwrap(), 4)
        .unwrap();
    assert_eq!(page2.entries.len(), 2);
    assert_eq!(page2.next, None);
    let total: i64 = page1
        .entries
        .iter()
        .chain(&page2.entries)
        .map(|e| e.points)
        .sum();
    assert_eq!(total, 43);
    let check = t.app.store.read(store::ledger::check).unwrap();
    assert!(check.is_healthy(), "{check:?}");
});

both_backends!(
    a_batch_naming_stored_orders_twice_replays_each_once,
    |t: &TestApp| {
        t.app
            .place_orders(
                &who(),
                &[
                    order("D-1", "C-1", 1, 20_000),
                    order("D-2", "C-2", 1, 30_000),
                ],
            )
            .unwrap();
        // Stored D-1 twice, stored D-2 once with other content, new D-3 twice.
        let results = t
            .app
            .place_orders(
                &who(),
                &[
                    order("D-1", "C-1", 1, 20_000),
                    order("D-3", "C-1", 1, 50_000),
                    order("D-1", "C-1", 1, 20_000),
                    order("D-2", "C-2", 2, 30_000),
                    order("D-3", "C-1", 1, 50_000),
                ],
            )
            .unwrap();
        let kinds: Vec<&str> = results
            .iter()
            .map(|r| match r {
                Intake::Accepted(_) => "accepted",
                Intake::Duplicate(_) => "duplicate",
                Intake::Rejected(AppError::ConflictingDuplicate { .. }) => "conflict",
                Intake::Rejected(_) => "rejected",
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "duplicate",
                "accepted",
                "duplicate",
                "conflict",
                "duplicate"
            ]
        );
        let (Intake::Duplicate(first), Intake::Duplicate(again)) = (&results[0], &results[2])
        else {
            unreachable!()
        };
        assert_eq!(first, again);
        // C-1: 2 points for D-1 and 5 for D-3, each once.
        assert_eq!(t.app.points_balance(first.customer_id).unwrap(), 7);
    }
);

both_backends!(
    orders_validated_against_another_currency_are_refused_whole,
    |t: &TestApp| {
        let hkd = domain::Currency::parse("HKD").unwrap();
        let o = order("V-1", "C-1", 1, 10_000);
        let elsewhere = [o.validate(hkd)];
        match t.app.place_valid_orders(&who(), &elsewhere) {
            Err(AppError::Internal(e)) => {
                assert!(e.to_string().contains("another programme currency"), "{e}");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        let shop = domain::Identity::parse(domain::IdentityKind::ShopCustomerId, "C-1").unwrap();
        assert_eq!(t.app.find_customer(&shop).unwrap(), None, "nothing written");
        // Validated against the programme's own currency, the same order goes in.
        let here = [o.validate(t.app.settings.currency)];
        let results = t.app.place_valid_orders(&who(), &here).unwrap();
        assert!(matches!(results[..], [Intake::Accepted(_)]), "{results:?}");
    }
);

// `store::ledger::check` is what the model test and the benches rely on to say a ledger is
// sound: each way a ledger can go wrong, written straight into the tables, shows in its own
// figure, and the ledger reads healthy again once the damage is undone.
both_backends!(the_ledger_check_sees_each_kind_of_damage, |t: &TestApp| {
    let customer = thousand_dollar_orders(t, "L", "C-L", 3);
    let manager = TestApp::principal(Role::Manager);
    t.app
        .correct_points(&manager, customer, -15, "客服補償撤回")
        .unwrap();
    let check = || t.app.store.read(store::ledger::check).unwrap();
    assert!(check().is_healthy(), "{:?}", check());
    let account = t
        .app
        .store
        .read(|tx| store::ledger::customer_account(tx, customer))
        .unwrap()
        .unwrap()
        .id;
    // The lot the correction took from (partly) and an untouched one.
    let lots: Vec<(i64, i64, i64)> = t
        .app
        .store
        .read(|tx| {
            tx.query(
                "SELECT event_id, seq, remaining FROM transfers
                 WHERE credit_account_id = $1 AND kind = 'earn' ORDER BY event_id",
                store::args![account],
            )?
            .iter()
            .map(|r| Ok((r.int(0)?, r.int(1)?, r.int(2)?)))
            .collect::<anyhow::Result<Vec<_>>>()
        })
        .unwrap();
    assert_eq!(lots.iter().map(|l| l.2).collect::<Vec<_>>(), [0, 5, 10]);
    let run = |sql: &str, args: &[store::sql::Arg]| {
        t.app.store.write(|tx| tx.execute(sql, args)).unwrap();
    };
    let damaged = |damage: (&str, &[store::sql::Arg]),
                   repair: (&str, &[store::sql::Arg]),
                   expected: store::ledger::LedgerCheck| {
        run(damage.0, damage.1);
        assert_eq!(check(), expected, "after {}", damage.0);
        run(repair.0, repair.1);
        assert!(check().is_healthy(), "after repairing {}", damage.0);
    };
    let healthy = store::ledger::LedgerCheck {
        sum_of_balances: 0,
        accounts_off: 0,
        lots_off: 0,
        lots_over_consumed: 0,
        debts_off: 0,
    };
    // A balance that no transfer explains: off against the postings and against the lots.
    damaged(
        (
            "UPDATE accounts SET balance = balance + 1 WHERE id = $1",
            store::args![account],
        ),
        (
            "UPDATE accounts SET balance = balance - 1 WHERE id = $1",
            store::args![account],
        ),
        store::ledger::LedgerCheck {
            sum_of_balances: 1,
            accounts_off: 1,
            lots_off: 1,
            ..healthy.clone()
        },
    );
    // A transfer whose amount changed after the fact (its lot kept in step): the issuance
    // account's derived balance no longer cancels the customer's.
    let (e, s, _) = lots[2];
    damaged(
        (
            "UPDATE transfers SET amount = amount + 1, remaining = remaining + 1
             WHERE event_id = $1 AND seq = $2",
            store::args![e, s],
        ),
        (
            "UPDATE transfers SET amount = amount - 1, remaining = remaining - 1
             WHERE event_id = $1 AND seq = $2",
            store::args![e, s],
        ),
        store::ledger::LedgerCheck {
            sum_of_balances: -1,
            accounts_off: 1,
            lots_off: 1,
            ..healthy.clone()
        },
    );
    // A lot that lost points no spend took.
    let (e, s, _) = lots[1];
    damaged(
        (
            "UPDATE transfers SET remaining = remaining - 1 WHERE event_id = $1 AND seq = $2",
            store::args![e, s],
        ),
        (
            "UPDATE transfers SET remaining = remaining + 1 WHERE event_id = $1 AND seq = $2",
            store::args![e, s],
        ),
        store::ledger::LedgerCheck {
            lots_off: 1,
            lots_over_consumed: 1,
            ..healthy.clone()
        },
    );
    // A debt with no debit behind it, beside active points.
    damaged(
        (
            "UPDATE accounts SET debt = debt + 1 WHERE id = $1",
            store::args![account],
        ),
        (
            "UPDATE accounts SET debt = debt - 1 WHERE id = $1",
            store::args![account],
        ),
        store::ledger::LedgerCheck {
            debts_off: 1,
            ..healthy.clone()
        },
    );
});

//! A return after the points were spent (loyalty.md §E): never refused, never truncated at
//! zero. Under the programme's `debt` policy the balance stays ≥ 0 and the uncovered points
//! are owed, settled first from the next points that become active (immediate earns,
//! corrections, activation, restores) with `settle` transfers; under `negative_balance` the
//! balance goes below zero. Partial returns, a return of a pending lot, the summary and the
//! statement, and the setting itself over HTTP.

use crate::http::{Server, get, request};
use crate::support::{healthy, order, refund};
use app::AppError;
use app::intake::{Intake, LineInput, OrderInput};
use app::loyalty::ProgrammeSettings;
use domain::access::Role;
use domain::ledger::TransferKind;
use jiff::SignedDuration;
use test_support::{TestApp, both_backends};

fn who() -> app::Principal {
    TestApp::principal(Role::Manager)
}

fn programme(t: &TestApp, shortfall: &str, pending_days: i64) {
    t.app
        .update_programme(
            &who(),
            &ProgrammeSettings {
                time_zone: "Asia/Taipei".to_owned(),
                currency: "TWD".to_owned(),
                point_value_minor: 100,
                pending_days,
                expiry: "never".to_owned(),
                expired_restore: "forfeit".to_owned(),
                reminder_days: 0,
                wallet_kind: "free".to_owned(),
                shortfall: shortfall.to_owned(),
            },
        )
        .unwrap();
}

/// An order of two lines earning 60 and 40 points (NT$6,000 and NT$4,000).
fn two_lines(id: &str, customer: &str) -> OrderInput {
    let mut o = order(id, customer, 1, 600_000);
    o.lines.push(LineInput {
        sku: "POT-01".to_owned(),
        category: None,
        quantity: 1,
        unit_price_minor: 400_000,
    });
    o
}

fn place(t: &TestApp, o: &OrderInput) -> (i64, i64) {
    let Intake::Accepted(placed) = t.app.place_order(&who(), o).unwrap() else {
        panic!("accepted")
    };
    (placed.customer_id, placed.points_earned)
}

fn spend(t: &TestApp, c: i64, points: i64) -> i64 {
    let h = t.app.reserve_points(&who(), c, points, None).unwrap();
    t.app
        .commit_hold(&who(), c, h.hold_id)
        .unwrap()
        .redemption_id
        .unwrap()
}

fn give_back(t: &TestApp, id: &str, order_id: &str, lines: Option<Vec<(usize, i64)>>) -> i64 {
    let Intake::Accepted(r) = t
        .app
        .refund_order(&who(), &refund(id, order_id, lines))
        .unwrap()
    else {
        panic!("accepted")
    };
    r.points_reversed
}

/// (balance, pending, debt) from the member summary, checked against the statement's debt.
fn position(t: &TestApp, c: i64) -> (i64, i64, i64) {
    let s = t.app.loyalty_summary(c).unwrap();
    let statement = t.app.points_statement(c, (0, 0), 500).unwrap();
    assert_eq!(
        statement.debt, s.debt,
        "the statement shows the summary's debt"
    );
    (s.balance, s.pending, s.debt)
}

fn settled(t: &TestApp, c: i64) -> Vec<i64> {
    t.app
        .points_statement(c, (0, 0), 500)
        .unwrap()
        .entries
        .into_iter()
        .filter(|e| e.kind == TransferKind::Settle)
        .map(|e| e.points)
        .collect()
}

both_backends!(
    debt_policy_owes_what_a_return_cannot_claw_back,
    |t: &TestApp| {
        programme(t, "debt", 0);
        let (c, earned) = place(t, &two_lines("D-1", "C-D"));
        assert_eq!(earned, 100);
        spend(t, c, 90);
        // A partial return: line 1 earned 40; only 10 are left to claw back.
        assert_eq!(give_back(t, "D-1-R1", "D-1", Some(vec![(1, 1)])), 40);
        assert_eq!(position(t, c), (0, 0, 30));
        healthy(t);
        // Spending into the debt is refused, and changes nothing.
        assert!(matches!(
            t.app.reserve_points(&who(), c, 1, None),
            Err(AppError::InsufficientPoints(_))
        ));
        // The rest of the order: 60 more owed, a second debt.
        assert_eq!(give_back(t, "D-1-R2", "D-1", None), 60);
        assert_eq!(position(t, c), (0, 0, 90));
        // A replayed return answers the full reversal again, owed part included.
        let Intake::Duplicate(again) = t
            .app
            .refund_order(&who(), &refund("D-1-R2", "D-1", None))
            .unwrap()
        else {
            panic!("duplicate")
        };
        assert_eq!(again.points_reversed, 60);
        healthy(t);
        // Points active at once settle the debt first: 50 of 90.
        let (_, earned) = place(t, &order("D-2", "C-D", 1, 500_000));
        assert_eq!(earned, 50);
        assert_eq!(position(t, c), (0, 0, 40));
        assert_eq!(settled(t, c), vec![-30, -20]);
        // A correction settles the rest and leaves 60 spendable.
        t.app.correct_points(&who(), c, 100, "goodwill").unwrap();
        assert_eq!(position(t, c), (60, 0, 0));
        assert_eq!(settled(t, c), vec![-30, -20, -40]);
        assert_eq!(t.app.points_balance(c).unwrap(), 60);
        healthy(t);
    }
);

both_backends!(
    debt_is_settled_at_activation_and_a_pending_return_owes_nothing,
    |t: &TestApp| {
        programme(t, "debt", 2);
        let (c, earned) = place(t, &order("P-1", "C-P", 1, 800_000));
        assert_eq!(earned, 80);
        t.advance(SignedDuration::from_hours(49));
        t.app.run_pending_jobs().unwrap();
        assert_eq!(position(t, c), (80, 0, 0));
        spend(t, c, 80);
        // Pending points of a second order: a return inside the window takes them, no debt.
        place(t, &order("P-2", "C-P", 1, 300_000));
        assert_eq!(position(t, c), (0, 30, 0));
        assert_eq!(give_back(t, "P-2-R", "P-2", None), 30);
        assert_eq!(position(t, c), (0, 0, 0));
        // The spent order returned: 80 owed.
        assert_eq!(give_back(t, "P-1-R", "P-1", None), 80);
        assert_eq!(position(t, c), (0, 0, 80));
        healthy(t);
        // A third order stays pending (not spendable, not settling) until activation.
        place(t, &order("P-3", "C-P", 1, 1_000_000));
        assert_eq!(position(t, c), (0, 100, 80));
        t.advance(SignedDuration::from_hours(49));
        t.app.run_pending_jobs().unwrap();
        assert_eq!(position(t, c), (20, 0, 0));
        assert_eq!(settled(t, c), vec![-80]);
        healthy(t);
    }
);

both_backends!(
    negative_balance_policy_goes_below_zero_and_recovers,
    |t: &TestApp| {
        programme(t, "negative_balance", 0);
        let (c, _) = place(t, &two_lines("N-1", "C-N"));
        let redemption = spend(t, c, 90);
        assert_eq!(give_back(t, "N-1-R1", "N-1", Some(vec![(0, 1)])), 60);
        assert_eq!(position(t, c), (-50, 0, 0));
        healthy(t);
        assert!(matches!(
            t.app.reserve_points(&who(), c, 1, None),
            Err(AppError::InsufficientPoints(_))
        ));
        // 30 new points: still 20 below zero, nothing left on any lot.
        place(t, &order("N-2", "C-N", 1, 300_000));
        assert_eq!(position(t, c), (-20, 0, 0));
        assert!(
            t.app.loyalty_lots(c).unwrap().is_empty(),
            "every new point paid the negative balance"
        );
        healthy(t);
        // The cancelled redemption gives 90 back: 70 spendable.
        let cancelled = t.app.cancel_redemption(&who(), c, redemption).unwrap();
        assert_eq!(cancelled.restored, 90);
        assert_eq!(position(t, c), (70, 0, 0));
        let lots: i64 = t
            .app
            .loyalty_lots(c)
            .unwrap()
            .iter()
            .map(|l| l.remaining)
            .sum();
        assert_eq!(lots, 70);
        // No settle transfers under this policy: the return posted the whole clawback.
        assert!(settled(t, c).is_empty());
        healthy(t);
    }
);

/// (events, transfers): what a refused request must leave as it was.
fn written(t: &TestApp) -> (i64, i64) {
    t.app
        .store
        .read(|tx| {
            let events = tx.query_one("SELECT COUNT(*) FROM events", &[])?.int(0)?;
            let transfers = tx
                .query_one("SELECT COUNT(*) FROM transfers", &[])?
                .int(0)?;
            Ok::<_, anyhow::Error>((events, transfers))
        })
        .unwrap()
}

both_backends!(
    a_correction_stays_above_zero_under_negative_balance_unless_allowed,
    |t: &TestApp| {
        programme(t, "negative_balance", 0);
        let (c, _) = place(t, &two_lines("NC-1", "C-NC"));
        spend(t, c, 90);
        // The return may take the balance below zero (the programme's policy) …
        assert_eq!(give_back(t, "NC-1-R1", "NC-1", Some(vec![(0, 1)])), 60);
        assert_eq!(position(t, c), (-50, 0, 0));
        // … but a manual correction may not, on an account a return took below zero or not.
        let before = written(t);
        let e = t.app.correct_points(&who(), c, -5, "manual").unwrap_err();
        assert!(
            matches!(e, AppError::InsufficientPoints(p) if p.balance == -50 && p.requested == 5),
            "{e:?}"
        );
        assert_eq!((written(t), position(t, c)), (before, (-50, 0, 0)));
        // Back above zero: a correction beyond the balance is refused as well.
        t.app.correct_points(&who(), c, 60, "goodwill").unwrap();
        assert_eq!(position(t, c), (10, 0, 0));
        let before = written(t);
        assert!(matches!(
            t.app.correct_points(&who(), c, -11, "manual"),
            Err(AppError::InsufficientPoints(_))
        ));
        assert_eq!((written(t), position(t, c)), (before, (10, 0, 0)));
        t.app.correct_points(&who(), c, -10, "manual").unwrap();
        assert_eq!(position(t, c), (0, 0, 0));
        healthy(t);
        // Explicitly allowed (`loyalty.allow_negative_balance`): below zero, the depth recorded.
        let allowed = app::App::new(
            t.db.open(),
            t.clock.clone(),
            std::sync::Arc::new(app::sys::SeededEntropy::new(77)),
            t.sender.clone(),
            app::Settings {
                allow_negative_balance: true,
                ..t.app.settings.clone()
            },
        );
        allowed.correct_points(&who(), c, -7, "manual").unwrap();
        assert_eq!(position(t, c), (-7, 0, 0));
        healthy(t);
    }
);

both_backends!(
    a_cancelled_redemption_settles_a_debt_first,
    |t: &TestApp| {
        programme(t, "debt", 0);
        let (c, _) = place(t, &order("X-1", "C-X", 1, 500_000));
        let (_, _) = place(t, &order("X-2", "C-X", 1, 500_000));
        let redemption = spend(t, c, 100);
        assert_eq!(give_back(t, "X-1-R", "X-1", None), 50);
        assert_eq!(position(t, c), (0, 0, 50));
        let cancelled = t.app.cancel_redemption(&who(), c, redemption).unwrap();
        assert_eq!(cancelled.restored, 100);
        assert_eq!(position(t, c), (50, 0, 0));
        assert_eq!(settled(t, c), vec![-50]);
        healthy(t);
    }
);

both_backends!(shortfall_is_a_programme_setting_over_http, |t: &TestApp| {
    let key = t
        .app
        .create_key(&app::Principal::cli(), Role::Manager, "programme")
        .unwrap();
    let server = Server::start(t.app.clone());
    let body = |shortfall: &str| {
        format!(
            r#"{{"time_zone":"Asia/Taipei","currency":"TWD","point_value_minor":100,"pending_days":7,
                "expiry":"never","expired_restore":"forfeit","reminder_days":0,"wallet_kind":"free"{shortfall}}}"#
        )
    };
    let put = |b: &str| {
        request(
            &server.addr,
            "PUT",
            "/api/v1/loyalty/programme",
            Some(&key),
            Some(b),
        )
    };
    let r = put(&body(""));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["shortfall"], "debt", "the default");
    let r = put(&body(r#","shortfall":"negative_balance""#));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["shortfall"], "negative_balance");
    let r = put(&body(r#","shortfall":"truncate""#));
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.json()["code"], "invalid_field");
    assert_eq!(r.json()["errors"][0]["field"], "shortfall");
    let r = get(&server.addr, "/api/v1/loyalty/programme", &key);
    assert_eq!(r.json()["shortfall"], "negative_balance", "nothing changed");
    // The summary and the statement show the debt.
    let (c, _) = place(t, &order("H-1", "C-H", 1, 500_000));
    let r = get(
        &server.addr,
        &format!("/api/v1/customers/{c}/loyalty"),
        &key,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["debt"], 0);
    let r = get(
        &server.addr,
        &format!("/api/v1/customers/{c}/points/statement"),
        &key,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["debt"], 0);
});

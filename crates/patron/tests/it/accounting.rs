//! Loyalty accounting (IFRS 15) end to end: IFRS 15 Illustrative Example 52 (loyalty.md §B.2)
//! through real orders, redemptions over HTTP, an estimate change and expiry, read back from
//! the roll-forward, liability-by-expiry and journal endpoints; and bad input.
//!
//! IE52 rounds to whole currency units, so these apps run in a zero-exponent currency (JPY)
//! with 1 point per ¥10 and 1 point worth ¥1.

use crate::http::{Server, get, post, put};
use crate::support::healthy;
use app::Settings;
use app::intake::{Intake, LineInput, OrderInput};
use domain::access::Role;
use domain::ledger::EarnRule;
use domain::money::Currency;
use jiff::{SignedDuration, Timestamp};
use test_support::{Backend, TestApp};

fn ie52_app(backend: Backend) -> Option<TestApp> {
    TestApp::with_settings(
        backend,
        Settings {
            currency: Currency::parse("JPY").unwrap(),
            earn: EarnRule::new(1, 10).unwrap(),
            ..Settings::default()
        },
    )
}

fn jpy_order(id: &str, customer: &str, yen: i64) -> OrderInput {
    OrderInput {
        source: "shop".to_owned(),
        external_id: id.to_owned(),
        customer: crate::support::customer(customer),
        occurred_at: None,
        currency: "JPY".to_owned(),
        lines: vec![LineInput {
            sku: "TEA-01".to_owned(),
            category: None,
            quantity: 1,
            unit_price_minor: yen,
        }],
    }
}

/// Reserves and commits `points` of customer `c` over HTTP.
fn redeem(addr: &str, key: &str, c: i64, points: i64) {
    let holds = format!("/api/v1/customers/{c}/points/holds");
    let r = post(addr, &holds, key, &format!(r#"{{"points":{points}}}"#));
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["hold_id"].as_i64().unwrap();
    let r = post(addr, &format!("{holds}/{id}/commit"), key, "{}");
    assert_eq!(r.status, 200, "{}", r.body);
}

fn set_estimate(addr: &str, key: &str, ppm: i64, reason: &str) -> serde_json::Value {
    let r = put(
        addr,
        "/api/v1/loyalty/accounting/breakage",
        key,
        &format!(r#"{{"cohort":"2026-03","expected_redemption_ppm":{ppm},"reason":"{reason}"}}"#),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

/// (opening, allocated, reversed, recognised, closing) of each period.
fn rollforward(addr: &str, key: &str, to: &str) -> Vec<[i64; 5]> {
    let r = get(
        addr,
        &format!("/api/v1/loyalty/accounting/rollforward?from=2026-03-01&to={to}&period=month"),
        key,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let body = r.json();
    assert_eq!(body["currency"], "JPY");
    body["periods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let f = |k: &str| p[k].as_i64().unwrap();
            let row = [
                f("opening_minor"),
                f("allocated_minor"),
                f("reversed_minor"),
                f("recognised_minor"),
                f("closing_minor"),
            ];
            assert_eq!(row[0] + row[1] - row[2] - row[3], row[4], "{p}");
            row
        })
        .collect()
}

fn ifrs15_example_52(t: &TestApp) {
    let key = t
        .app
        .create_key(&app::Principal::cli(), Role::Manager, "finance")
        .unwrap();
    let analyst = t
        .app
        .create_key(&app::Principal::cli(), Role::Analyst, "audit")
        .unwrap();
    let server = Server::start(t.app.clone());
    let addr = server.addr.as_str();
    // Points valid 80 days from earning (2026-03-02): through 2026-05-21, Taipei.
    let r = put(
        addr,
        "/api/v1/loyalty/programme",
        &key,
        r#"{"time_zone":"Asia/Taipei","currency":"JPY","point_value_minor":1,"pending_days":0,
            "expiry":"days:80","expired_restore":"forfeit","reminder_days":0,"wallet_kind":"free"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // At issuance 9,500 of the 10,000 points are expected to be redeemed.
    let v1 = set_estimate(addr, &key, 950_000, "IE52 at issuance");
    assert_eq!(v1["estimates"][0]["version"], 1);
    assert!(
        v1["estimates"][0]["set_by"]
            .as_str()
            .unwrap()
            .starts_with("key:"),
        "{v1}"
    );

    // Period 1 (March 2026): sales of ¥100,000 earn 10,000 points, in two orders.
    let mut customers = Vec::new();
    for (id, who) in [("IE52-A", "C-A"), ("IE52-B", "C-B")] {
        let Intake::Accepted(o) = t
            .app
            .place_order(
                &TestApp::principal(Role::Integration),
                &jpy_order(id, who, 50_000),
            )
            .unwrap()
        else {
            panic!("accepted")
        };
        assert_eq!(o.points_earned, 5_000);
        customers.push(o.customer_id);
    }
    let (a, b) = (customers[0], customers[1]);
    redeem(addr, &key, a, 4_500);
    // Free points carry no revenue: a member given 1,000 points by correction (an order under
    // ¥10 earns nothing) spends them, and no figure moves.
    let Intake::Accepted(free) = t
        .app
        .place_order(
            &TestApp::principal(Role::Integration),
            &jpy_order("FREE-1", "C-F", 5),
        )
        .unwrap()
    else {
        panic!("accepted")
    };
    assert_eq!(free.points_earned, 0);
    t.app
        .correct_points(
            &TestApp::principal(Role::Manager),
            free.customer_id,
            1_000,
            "goodwill",
        )
        .unwrap();
    redeem(addr, &key, free.customer_id, 1_000);
    healthy(t);

    t.clock.set("2026-04-10T04:00:00Z".parse().unwrap());
    assert_eq!(
        rollforward(addr, &analyst, "2026-03-31"),
        vec![[0, 8_676, 0, 4_110, 4_566]],
        "sale 91,324 / 8,676; 4,500 of 9,500 redeemed → 4,110"
    );

    // Period 2 (April): 4,000 more redeemed (8,500 in all); the estimate rises to 9,700.
    redeem(addr, &key, a, 500);
    redeem(addr, &key, b, 3_500);
    let v2 = set_estimate(addr, &key, 970_000, "redemptions run above plan");
    let versions = v2["estimates"].as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[1]["version"], 2);
    assert_eq!(versions[1]["expected_redemption_ppm"], 970_000);
    assert_eq!(versions[0]["expected_redemption_ppm"], 950_000, "kept");
    t.clock.set("2026-04-30T12:00:00Z".parse().unwrap());
    assert_eq!(
        rollforward(addr, &analyst, "2026-04-30"),
        vec![[0, 8_676, 0, 4_110, 4_566], [4_566, 0, 0, 3_493, 1_073]],
        "8,500 / 9,700 × 8,676 = 7,603 cumulative: 3,493 in period 2, liability 1,073"
    );
    let r = get(
        addr,
        "/api/v1/loyalty/accounting/liability-by-expiry",
        &analyst,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let report = r.json();
    assert_eq!(report["liability_minor"], 1_073);
    let buckets = report["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 6, "30, 90, 180, 365, later, never");
    assert_eq!(buckets[0]["within_days"], 30);
    assert_eq!(
        (
            buckets[0]["points"].clone(),
            buckets[0]["liability_minor"].clone()
        ),
        (1_500.into(), 1_073.into()),
        "B's 1,500 outstanding purchase points expire on 2026-05-21: {report}"
    );
    let sum: i64 = buckets
        .iter()
        .map(|b| b["liability_minor"].as_i64().unwrap())
        .sum();
    assert_eq!(sum, 1_073);

    // Period 3 (May), our extension: 1,000 more redeemed, the last 500 expire → nothing
    // outstanding, recognised = allocated.
    t.clock.set("2026-05-05T02:00:00Z".parse().unwrap());
    redeem(addr, &key, b, 1_000);
    let lots = t.app.loyalty_lots(b).unwrap();
    assert_eq!(lots.len(), 1);
    let last: Timestamp = lots[0].expires_at.unwrap();
    assert_eq!(last, "2026-05-21T15:59:59Z".parse().unwrap());
    t.clock.set(last + SignedDuration::from_secs(1));
    t.app.run_pending_jobs().unwrap();
    assert_eq!(t.app.points_balance(b).unwrap(), 0, "the last 500 expired");
    t.clock.set("2026-06-01T01:00:00Z".parse().unwrap());
    assert_eq!(
        rollforward(addr, &analyst, "2026-05-31"),
        vec![
            [0, 8_676, 0, 4_110, 4_566],
            [4_566, 0, 0, 3_493, 1_073],
            [1_073, 0, 0, 1_073, 0]
        ]
    );
    let r = get(
        addr,
        "/api/v1/loyalty/accounting/liability-by-expiry",
        &analyst,
    );
    assert_eq!(r.json()["liability_minor"], 0);

    // The journal: Dr/Cr lines per period that balance, with IE52's entries.
    let r = get(
        addr,
        "/api/v1/loyalty/accounting/journal.csv?from=2026-03-01&to=2026-05-31",
        &analyst,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.header("content-type").unwrap().starts_with("text/csv"));
    let lines: Vec<&str> = r.body.lines().collect();
    assert_eq!(
        lines[0],
        "period_from,period_to,entry,cohort,account,debit_minor,credit_minor,currency"
    );
    for expected in [
        "2026-03-01,2026-03-31,sale,2026-03,receivable,100000,0,JPY",
        "2026-03-01,2026-03-31,sale,2026-03,revenue_goods,0,91324,JPY",
        "2026-03-01,2026-03-31,sale,2026-03,contract_liability_points,0,8676,JPY",
        "2026-03-01,2026-03-31,recognition,2026-03,contract_liability_points,4110,0,JPY",
        "2026-03-01,2026-03-31,recognition,2026-03,revenue_points,0,4110,JPY",
        "2026-04-01,2026-04-30,recognition,2026-03,contract_liability_points,3493,0,JPY",
        "2026-04-01,2026-04-30,recognition,2026-03,revenue_points,0,3493,JPY",
        "2026-05-01,2026-05-31,recognition,2026-03,contract_liability_points,1073,0,JPY",
        "2026-05-01,2026-05-31,recognition,2026-03,revenue_points,0,1073,JPY",
    ] {
        assert!(
            lines.contains(&expected),
            "{expected} missing from\n{}",
            r.body
        );
    }
    let (mut debit, mut credit) = (0, 0);
    for l in &lines[1..] {
        let f: Vec<&str> = l.split(',').collect();
        debit += f[5].parse::<i64>().unwrap();
        credit += f[6].parse::<i64>().unwrap();
    }
    assert_eq!(debit, credit, "the journal balances");
    assert_eq!(lines.len(), 1 + 3 + 2 * 3);
    healthy(t);
}

#[test]
fn ifrs15_example_52_end_to_end_sqlite() {
    ifrs15_example_52(&ie52_app(Backend::Sqlite).expect("sqlite"));
}

#[test]
fn ifrs15_example_52_end_to_end_postgres() {
    if let Some(t) = ie52_app(Backend::Postgres) {
        ifrs15_example_52(&t);
    }
}

test_support::both_backends!(
    bad_accounting_input_gets_clear_codes_and_changes_nothing,
    |t: &TestApp| {
        let manager = t
            .app
            .create_key(&app::Principal::cli(), Role::Manager, "finance")
            .unwrap();
        let analyst = t
            .app
            .create_key(&app::Principal::cli(), Role::Analyst, "audit")
            .unwrap();
        let agent = t
            .app
            .create_key(&app::Principal::cli(), Role::Agent, "desk")
            .unwrap();
        let server = Server::start(t.app.clone());
        let addr = server.addr.as_str();
        let path = "/api/v1/loyalty/accounting/breakage";
        let ok = r#"{"cohort":"2026-03","expected_redemption_ppm":900000,"reason":"plan"}"#;
        assert_eq!(put(addr, path, &manager, ok).status, 200);
        for (body, field) in [
            (
                r#"{"cohort":"2026-13","expected_redemption_ppm":900000,"reason":"x"}"#,
                "cohort",
            ),
            (
                r#"{"cohort":"March","expected_redemption_ppm":900000,"reason":"x"}"#,
                "cohort",
            ),
            (
                r#"{"cohort":"2026-03","expected_redemption_ppm":0,"reason":"x"}"#,
                "expected_redemption_ppm",
            ),
            (
                r#"{"cohort":"2026-03","expected_redemption_ppm":1000001,"reason":"x"}"#,
                "expected_redemption_ppm",
            ),
            (
                r#"{"cohort":"2026-03","expected_redemption_ppm":900000,"reason":"  "}"#,
                "reason",
            ),
        ] {
            let r = put(addr, path, &manager, body);
            assert_eq!(
                (r.status, r.json()["code"].clone()),
                (422, "invalid_field".into()),
                "{body}: {}",
                r.body
            );
            assert!(r.body.contains(field), "{field}: {}", r.body);
        }
        // Analysts read, only managers and admins set; agents do not read.
        assert_eq!(put(addr, path, &analyst, ok).status, 403);
        assert_eq!(get(addr, path, &agent).status, 403);
        let r = get(addr, path, &analyst);
        assert_eq!(r.status, 200);
        let estimates = r.json()["estimates"].as_array().unwrap().clone();
        assert_eq!(estimates.len(), 1, "nothing else was stored: {estimates:?}");
        assert_eq!(estimates[0]["expected_redemption_ppm"], 900_000);
        for query in [
            "rollforward?period=week",
            "rollforward?from=2026-04-01&to=2026-03-01",
            "rollforward?from=2026-02-30",
            "rollforward?from=2000-01-01&to=2026-03-01",
            "journal.csv?period=day",
            "liability-by-expiry?buckets=30,10",
            "liability-by-expiry?buckets=soon",
        ] {
            let r = get(
                addr,
                &format!("/api/v1/loyalty/accounting/{query}"),
                &analyst,
            );
            assert_eq!(
                (r.status, r.json()["code"].clone()),
                (422, "invalid_field".into()),
                "{query}: {}",
                r.body
            );
        }
        // Defaults: this year by month, to today (2026-03-02): January to March.
        let r = get(addr, "/api/v1/loyalty/accounting/rollforward", &analyst);
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["periods"].as_array().unwrap().len(), 3);
        // The audit log names who set the estimate.
        let audit = t.app.audit_recent(i64::MAX, 100).unwrap();
        assert!(
            audit.iter().any(|e| e.action == "loyalty.breakage.set"),
            "{audit:?}"
        );
    }
);

/// A return reverses the points' allocation of the refunded share, and the roll-forward and the
/// journal show it. Without an estimate every point is expected to be redeemed (no breakage).
fn return_reverses_the_refunded_share(t: &TestApp) {
    let key = t
        .app
        .create_key(&app::Principal::cli(), Role::Manager, "finance")
        .unwrap();
    let server = Server::start(t.app.clone());
    let addr = server.addr.as_str();
    let r = put(
        addr,
        "/api/v1/loyalty/programme",
        &key,
        r#"{"time_zone":"Asia/Taipei","currency":"JPY","point_value_minor":1,"pending_days":7,
            "expiry":"never","expired_restore":"forfeit","reminder_days":0,"wallet_kind":"free"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let mut o = jpy_order("RET-1", "C-R", 50_000);
    o.lines.push(LineInput {
        sku: "POT-01".to_owned(),
        category: None,
        quantity: 1,
        unit_price_minor: 50_000,
    });
    let Intake::Accepted(placed) = t
        .app
        .place_order(&TestApp::principal(Role::Integration), &o)
        .unwrap()
    else {
        panic!("accepted")
    };
    assert_eq!(placed.points_earned, 10_000);
    // 100,000 × 10,000 / 110,000 = 9,090.9 → 9,091 to the points.
    t.advance(SignedDuration::from_hours(24));
    let Intake::Accepted(_) = t
        .app
        .refund_order(
            &TestApp::principal(Role::Integration),
            &crate::support::refund("RET-1-R", "RET-1", Some(vec![(1, 1)])),
        )
        .unwrap()
    else {
        panic!("accepted")
    };
    assert_eq!(
        rollforward(addr, &key, "2026-03-31"),
        vec![[0, 9_091, 4_546, 0, 4_545]],
        "half the price refunded: round(9,091 / 2) reversed"
    );
    let r = get(
        addr,
        "/api/v1/loyalty/accounting/journal.csv?from=2026-03-01&to=2026-03-31",
        &key,
    );
    for expected in [
        "2026-03-01,2026-03-31,return,2026-03,revenue_goods,45454,0,JPY",
        "2026-03-01,2026-03-31,return,2026-03,contract_liability_points,4546,0,JPY",
        "2026-03-01,2026-03-31,return,2026-03,receivable,0,50000,JPY",
    ] {
        assert!(
            r.body.lines().any(|l| l == expected),
            "{expected} missing from\n{}",
            r.body
        );
    }
    healthy(t);
}

#[test]
fn return_reverses_the_refunded_share_sqlite() {
    return_reverses_the_refunded_share(&ie52_app(Backend::Sqlite).expect("sqlite"));
}

#[test]
fn return_reverses_the_refunded_share_postgres() {
    if let Some(t) = ie52_app(Backend::Postgres) {
        return_reverses_the_refunded_share(&t);
    }
}

/// A cancelled redemption gives its points back as restore lots that keep the purchase's
/// revenue share, so the recognition of the redemption is reversed — also when the cancelled
/// redemption had spent points restored by an earlier cancellation (a chain of restores). The
/// roll-forward balances in every period across the cancels.
fn cancel_reverses_the_recognition(t: &TestApp) {
    let key = t
        .app
        .create_key(&app::Principal::cli(), Role::Manager, "finance")
        .unwrap();
    let server = Server::start(t.app.clone());
    let addr = server.addr.as_str();
    let r = put(
        addr,
        "/api/v1/loyalty/programme",
        &key,
        r#"{"time_zone":"Asia/Taipei","currency":"JPY","point_value_minor":1,"pending_days":0,
            "expiry":"never","expired_restore":"forfeit","reminder_days":0,"wallet_kind":"free"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let who = TestApp::principal(Role::Manager);
    let Intake::Accepted(placed) = t
        .app
        .place_order(&who, &jpy_order("CAN-1", "C-CAN", 10_000))
        .unwrap()
    else {
        panic!("accepted")
    };
    let c = placed.customer_id;
    assert_eq!(placed.points_earned, 1_000);
    // 10,000 × 1,000 / 11,000 = 909.1 → 909 to the points (no breakage estimate: 100 %).
    let spend = |points: i64| {
        let h = t.app.reserve_points(&who, c, points, None).unwrap();
        t.app
            .commit_hold(&who, c, h.hold_id)
            .unwrap()
            .redemption_id
            .unwrap()
    };
    let first = spend(1_000);
    assert_eq!(
        rollforward(addr, &key, "2026-03-31"),
        vec![[0, 909, 0, 909, 0]]
    );
    t.app.cancel_redemption(&who, c, first).unwrap();
    assert_eq!(
        rollforward(addr, &key, "2026-03-31"),
        vec![[0, 909, 0, 0, 909]],
        "the cancel reverses the recognition"
    );
    // The restored points are spent again, then that redemption is cancelled in April: its
    // restore lot names the first restore lot, not the purchase.
    let second = spend(1_000);
    assert_eq!(
        rollforward(addr, &key, "2026-03-31"),
        vec![[0, 909, 0, 909, 0]]
    );
    t.advance(SignedDuration::from_hours(24 * 31));
    t.app.cancel_redemption(&who, c, second).unwrap();
    assert_eq!(
        rollforward(addr, &key, "2026-04-30"),
        vec![[0, 909, 0, 909, 0], [0, 0, 0, -909, 909]],
        "April reverses March's recognition: nothing is redeemed any more"
    );
    // Half spent for good: round(909 / 2) = 455 recognised to date, 454 still owed.
    spend(500);
    assert_eq!(
        rollforward(addr, &key, "2026-04-30"),
        vec![[0, 909, 0, 909, 0], [0, 0, 0, -454, 454]]
    );
    healthy(t);
}

#[test]
fn cancel_reverses_the_recognition_sqlite() {
    cancel_reverses_the_recognition(&ie52_app(Backend::Sqlite).expect("sqlite"));
}

#[test]
fn cancel_reverses_the_recognition_postgres() {
    if let Some(t) = ie52_app(Backend::Postgres) {
        cancel_reverses_the_recognition(&t);
    }
}

/// Migration 20 moves a purchase lot's lines (`lot_lines`) and revenue (`lot_revenue`) onto
/// the lot's transfer row: a database written before it reads back the same lines, by line,
/// and the same revenue, and the IFRS 15 cohort totals count the lot once.
fn lot_provenance_upgrade(backend: Backend) {
    let Some(db) = test_support::TestDatabase::new(backend) else {
        return;
    };
    let store = store::Store::open_unmigrated(&db.url, &db.options).unwrap();
    store.migrate_through(19).unwrap();
    let recorded = 1_772_000_000_000_000_i64;
    store
        .write(|tx| {
            tx.batch(
                "INSERT INTO accounts (id, code) VALUES (9001, 'upgrade:from'), (9002, 'upgrade:to')",
            )?;
            tx.execute(
                "INSERT INTO events (id, source, external_id, kind, occurred_at, recorded_at,
                                     currency, amount_minor, content_hash, body)
                 VALUES (7001, 'shop', 'A-1', 'order_placed', $1, $1, 'TWD', 120000, $2, '{}')",
                store::args![recorded, &b"hash"[..]],
            )?;
            tx.execute(
                "INSERT INTO transfers (event_id, seq, debit_account_id, credit_account_id,
                                        amount, kind, created_at, remaining)
                 VALUES (7001, 0, 9001, 9002, 12, 'earn', $1, 12)",
                store::args![recorded],
            )?;
            tx.batch(
                "INSERT INTO lot_lines (lot_event_id, lot_seq, line, quantity, points, rules)
                 VALUES (7001, 0, 1, 1, 2, '1:1,100001:2'), (7001, 0, 0, 2, 10, '1:1');",
            )?;
            tx.execute(
                "INSERT INTO lot_revenue (lot_event_id, lot_seq, cohort, recorded_at, points,
                                          price_minor, points_ssp_minor, allocated_minor, rate_ppm)
                 VALUES (7001, 0, '2026-02', $1, 12, 120000, 1140, 1128, 950000)",
                store::args![recorded],
            )?;
            anyhow::Ok(())
        })
        .unwrap();
    let applied = store.migrate().unwrap();
    assert_eq!(
        applied.iter().map(|m| m.version).collect::<Vec<_>>(),
        vec![20]
    );
    let (lines, revenue, totals) = store
        .read(|tx| {
            anyhow::Ok((
                store::loyalty::lot_lines(tx, (7001, 0))?,
                store::accounting::lot_revenue(tx, (7001, 0))?,
                store::accounting::cohort_totals(tx, recorded)?,
            ))
        })
        .unwrap();
    let lines: Vec<(i64, i64, i64, String)> = lines
        .into_iter()
        .map(|l| (l.line, l.quantity, l.points, l.rules))
        .collect();
    assert_eq!(
        lines,
        vec![
            (0, 2, 10, "1:1".to_owned()),
            (1, 1, 2, "1:1,100001:2".to_owned())
        ]
    );
    assert_eq!(
        revenue,
        Some(store::accounting::LotRevenue {
            cohort: "2026-02".to_owned(),
            price_minor: 120000,
            points_ssp_minor: 1140,
            allocated_minor: 1128,
            rate_ppm: 950000,
        })
    );
    assert_eq!(totals.len(), 1);
    assert_eq!(
        (
            totals[0].cohort.as_str(),
            totals[0].issued,
            totals[0].price_minor,
            totals[0].allocated_minor
        ),
        ("2026-02", 12, 120000, 1128)
    );
    // The old tables are gone.
    let gone = store.read(|tx| tx.query("SELECT 1 FROM lot_lines", &[]));
    assert!(gone.is_err(), "lot_lines still exists");
}

#[test]
fn lot_provenance_upgrade_sqlite() {
    lot_provenance_upgrade(Backend::Sqlite);
}

#[test]
fn lot_provenance_upgrade_postgres() {
    lot_provenance_upgrade(Backend::Postgres);
}

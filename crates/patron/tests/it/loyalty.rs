//! The loyalty engine end to end (loyalty.md §E): pending points activated by the job at the
//! right instant, returns inside the window, expiry at local midnight, per-line reversal under
//! the rule version of the day, redemption holds under concurrency over HTTP, and bad input.

use crate::http::{Server, get, post, request};
use crate::support::{healthy, integration, order, outbox, refund};
use app::intake::{Intake, LineInput};
use domain::access::Role;
use jiff::{SignedDuration, Timestamp};
use test_support::{TestApp, both_backends};

/// Installs the default programme and places one order of NT$1,350 (13 points).
fn programme_and_order(t: &TestApp, id: &str) -> i64 {
    t.app
        .install_default_programme(&TestApp::principal(Role::Admin))
        .unwrap();
    let Intake::Accepted(o) = t
        .app
        .place_order(&integration(), &order(id, "C-1", 3, 45_000))
        .unwrap()
    else {
        panic!("accepted")
    };
    assert_eq!(o.points_earned, 13);
    o.customer_id
}

both_backends!(pending_points_activate_after_seven_days, |t: &TestApp| {
    let c = programme_and_order(t, "P-1");
    let s = t.app.loyalty_summary(c).unwrap();
    assert_eq!((s.balance, s.pending), (0, 13), "pending, not spendable");
    healthy(t);
    // One second before the window ends: still pending.
    t.advance(SignedDuration::from_hours(7 * 24) - SignedDuration::from_secs(1));
    t.app.run_pending_jobs().unwrap();
    assert_eq!(t.app.points_balance(c).unwrap(), 0);
    t.advance(SignedDuration::from_secs(1));
    t.app.run_pending_jobs().unwrap();
    let s = t.app.loyalty_summary(c).unwrap();
    assert_eq!(
        (s.balance, s.pending),
        (13, 0),
        "active at the window's end"
    );
    // Running again changes nothing.
    t.app.run_pending_jobs().unwrap();
    assert_eq!(t.app.points_balance(c).unwrap(), 13);
    healthy(t);
});

both_backends!(return_inside_window_cancels_pending_lot, |t: &TestApp| {
    let c = programme_and_order(t, "P-2");
    t.advance(SignedDuration::from_hours(3 * 24));
    let Intake::Accepted(r) = t
        .app
        .refund_order(&integration(), &refund("RF-P-2", "P-2", None))
        .unwrap()
    else {
        panic!("accepted")
    };
    assert_eq!(r.points_reversed, 13);
    let s = t.app.loyalty_summary(c).unwrap();
    assert_eq!((s.balance, s.pending), (0, 0), "no balance impact");
    healthy(t);
    t.advance(SignedDuration::from_hours(5 * 24));
    t.app.run_pending_jobs().unwrap();
    assert_eq!(t.app.points_balance(c).unwrap(), 0);
    healthy(t);
});

both_backends!(expiry_at_local_end_of_following_year, |t: &TestApp| {
    let c = programme_and_order(t, "P-3");
    let lots = t.app.loyalty_lots(c).unwrap();
    assert_eq!(lots.len(), 1);
    // Activated 2026-03-09 (Taipei): valid through 2027-12-31 23:59:59 +08:00.
    let last: Timestamp = "2027-12-31T15:59:59Z".parse().unwrap();
    assert_eq!(lots[0].expires_at, Some(last));
    assert_eq!(lots[0].state, "pending");
    t.advance(SignedDuration::from_hours(7 * 24));
    t.app.run_pending_jobs().unwrap();
    assert_eq!(t.app.points_balance(c).unwrap(), 13);
    t.clock.set(last);
    t.app.run_pending_jobs().unwrap();
    assert_eq!(
        t.app.points_balance(c).unwrap(),
        13,
        "valid through 23:59:59"
    );
    assert_eq!(t.app.loyalty_summary(c).unwrap().expiring_soon, 13);
    // Local midnight: the scheduled job expires the lot.
    t.clock.set(last + SignedDuration::from_secs(1));
    let run = t.app.run_pending_jobs().unwrap();
    assert!(run.done >= 1, "{run:?}");
    assert_eq!(t.app.points_balance(c).unwrap(), 0);
    // Idempotent: another run finds nothing.
    assert_eq!(t.app.expire_due().unwrap(), 0);
    assert_eq!(t.app.points_balance(c).unwrap(), 0);
    assert!(t.app.loyalty_lots(c).unwrap().is_empty());
    healthy(t);
});

both_backends!(
    partial_return_reverses_the_line_under_its_rule_version,
    |t: &TestApp| {
        t.app
            .install_default_programme(&TestApp::principal(Role::Admin))
            .unwrap();
        let mut o = order("P-4", "C-4", 1, 50_000);
        for (sku, q, p) in [("CUP", 2, 30_000), ("POT", 1, 45_000)] {
            o.lines.push(LineInput {
                sku: sku.to_owned(),
                category: None,
                quantity: q,
                unit_price_minor: p,
            });
        }
        // NT$1,550 → 15 points: lines 5 + 6 + 4 (largest remainder).
        let Intake::Accepted(placed) = t.app.place_order(&integration(), &o).unwrap() else {
            panic!("accepted")
        };
        assert_eq!(placed.points_earned, 15);
        // The rules change: 2 points per NT$100 from now on.
        let v2 = t
            .app
            .set_base_rule(
                &TestApp::principal(Role::Admin),
                &app::loyalty::BaseRuleInput {
                    points: 2,
                    per_minor: 10_000,
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(v2.version, 2);
        let Intake::Accepted(r) = t
            .app
            .refund_order(&integration(), &refund("RF-P-4", "P-4", Some(vec![(1, 2)])))
            .unwrap()
        else {
            panic!("accepted")
        };
        assert_eq!(r.points_reversed, 6, "what line 1 earned under version 1");
        let s = t.app.loyalty_summary(placed.customer_id).unwrap();
        assert_eq!(s.pending, 9);
        // A new order earns under version 2.
        let Intake::Accepted(next) = t
            .app
            .place_order(&integration(), &order("P-5", "C-4", 1, 10_000))
            .unwrap()
        else {
            panic!("accepted")
        };
        assert_eq!(next.points_earned, 2);
        // The rest, after activation: the balance ends at what P-5 earned.
        t.advance(SignedDuration::from_hours(7 * 24));
        t.app.run_pending_jobs().unwrap();
        assert_eq!(t.app.points_balance(placed.customer_id).unwrap(), 11);
        let Intake::Accepted(rest) = t
            .app
            .refund_order(&integration(), &refund("RF-P-4b", "P-4", None))
            .unwrap()
        else {
            panic!("accepted")
        };
        assert_eq!(rest.points_reversed, 9);
        assert_eq!(t.app.points_balance(placed.customer_id).unwrap(), 2);
        healthy(t);
    }
);

/// A customer with `points` active points, and a manager key for the API.
fn funded(t: &TestApp, points: i64) -> (i64, String) {
    let Intake::Accepted(o) = t
        .app
        .place_order(&integration(), &order("F-1", "C-F", 1, 100))
        .unwrap()
    else {
        panic!("accepted")
    };
    let manager = TestApp::principal(Role::Manager);
    t.app
        .correct_points(&manager, o.customer_id, points, "opening balance")
        .unwrap();
    let key = t
        .app
        .create_key(&app::Principal::cli(), Role::Manager, "loyalty")
        .unwrap();
    (o.customer_id, key)
}

both_backends!(
    thousand_concurrent_redemptions_over_http_exactly_ten_succeed,
    |t: &TestApp| {
        let (c, key) = funded(t, 1_000);
        let server = Server::start(t.app.clone());
        let holds = format!("/api/v1/customers/{c}/points/holds");
        let results: Vec<(usize, usize)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..20)
                .map(|_| {
                    let (addr, key, holds) = (server.addr.clone(), key.clone(), holds.clone());
                    s.spawn(move || {
                        let (mut ok, mut refused) = (0, 0);
                        for _ in 0..50 {
                            let r = post(&addr, &holds, &key, r#"{"points":100}"#);
                            if r.status == 422 {
                                assert_eq!(r.json()["code"], "insufficient_points", "{}", r.body);
                                refused += 1;
                                continue;
                            }
                            assert_eq!(r.status, 201, "{}", r.body);
                            let id = r.json()["hold_id"].as_i64().unwrap();
                            let done = post(&addr, &format!("{holds}/{id}/commit"), &key, "{}");
                            assert_eq!(done.status, 200, "{}", done.body);
                            assert_eq!(done.json()["state"], "committed");
                            ok += 1;
                        }
                        (ok, refused)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let ok: usize = results.iter().map(|r| r.0).sum();
        let refused: usize = results.iter().map(|r| r.1).sum();
        assert_eq!((ok, refused), (10, 990));
        assert_eq!(t.app.points_balance(c).unwrap(), 0);
        let summary = get(
            &server.addr,
            &format!("/api/v1/customers/{c}/loyalty"),
            &key,
        );
        assert_eq!(summary.status, 200, "{}", summary.body);
        assert_eq!(summary.json()["available"], 0);
        healthy(t);
    }
);

both_backends!(
    bad_redemptions_get_clear_codes_and_change_nothing,
    |t: &TestApp| {
        let (c, key) = funded(t, 300);
        let server = Server::start(t.app.clone());
        let holds = format!("/api/v1/customers/{c}/points/holds");
        // Beyond the balance.
        let r = post(&server.addr, &holds, &key, r#"{"points":301}"#);
        assert_eq!(
            (r.status, r.json()["code"].clone()),
            (422, "insufficient_points".into())
        );
        // A hold that expired.
        let r = post(
            &server.addr,
            &holds,
            &key,
            r#"{"points":200,"ttl_seconds":60}"#,
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let id = r.json()["hold_id"].as_i64().unwrap();
        let r = post(&server.addr, &holds, &key, r#"{"points":200}"#);
        assert_eq!(r.status, 422, "held points are not available: {}", r.body);
        t.advance(SignedDuration::from_secs(60));
        let r = post(&server.addr, &format!("{holds}/{id}/commit"), &key, "{}");
        assert_eq!(
            (r.status, r.json()["code"].clone()),
            (409, "hold_expired".into())
        );
        assert_eq!(t.app.points_balance(c).unwrap(), 300);
        // Its points are available again; a released hold cannot be committed.
        let r = post(&server.addr, &holds, &key, r#"{"points":300}"#);
        assert_eq!(r.status, 201, "{}", r.body);
        let id = r.json()["hold_id"].as_i64().unwrap();
        let r = post(&server.addr, &format!("{holds}/{id}/release"), &key, "{}");
        assert_eq!(
            (r.status, r.json()["state"].clone()),
            (200, "released".into())
        );
        let r = post(&server.addr, &format!("{holds}/{id}/commit"), &key, "{}");
        assert_eq!(
            (r.status, r.json()["code"].clone()),
            (409, "hold_not_active".into())
        );
        // An adjustment without a reason.
        let r = post(
            &server.addr,
            &format!("/api/v1/customers/{c}/points/corrections"),
            &key,
            r#"{"points":-50,"reason":"  "}"#,
        );
        assert_eq!(
            (r.status, r.json()["code"].clone()),
            (422, "invalid_field".into())
        );
        assert_eq!(t.app.points_balance(c).unwrap(), 300);
        let s = t.app.loyalty_summary(c).unwrap();
        assert_eq!((s.held, s.available), (0, 300));
        healthy(t);
    }
);

/// Default programme, one order of NT$1,350 (13 points) activated, 10 of them redeemed.
/// Returns (customer, redemption id).
fn redeemed_ten(t: &TestApp, id: &str) -> (i64, i64) {
    let c = programme_and_order(t, id);
    t.advance(SignedDuration::from_hours(7 * 24));
    t.app.run_pending_jobs().unwrap();
    let hold = t.app.reserve_points(&integration(), c, 10, None).unwrap();
    let done = t.app.commit_hold(&integration(), c, hold.hold_id).unwrap();
    assert_eq!(t.app.points_balance(c).unwrap(), 3);
    (c, done.redemption_id.unwrap())
}

both_backends!(
    cancelled_redemption_restores_points_with_their_original_expiry,
    |t: &TestApp| {
        let (c, redemption) = redeemed_ten(t, "X-1");
        let last: Timestamp = "2027-12-31T15:59:59Z".parse().unwrap();
        t.advance(SignedDuration::from_hours(24));
        let done = t
            .app
            .cancel_redemption(&integration(), c, redemption)
            .unwrap();
        assert_eq!((done.restored, done.reinstated, done.forfeited), (10, 0, 0));
        assert_eq!(t.app.points_balance(c).unwrap(), 13);
        let lots = t.app.loyalty_lots(c).unwrap();
        let restored: Vec<_> = lots
            .iter()
            .filter(|l| l.kind == domain::ledger::TransferKind::Restore)
            .collect();
        assert_eq!(restored.len(), 1, "{lots:?}");
        assert_eq!(restored[0].remaining, 10);
        assert_eq!(restored[0].expires_at, Some(last), "the original expiry");
        healthy(t);
        // Idempotent: the second call answers the first and changes nothing.
        let again = t
            .app
            .cancel_redemption(&integration(), c, redemption)
            .unwrap();
        assert_eq!(again, done);
        assert_eq!(t.app.points_balance(c).unwrap(), 13);
        // Nothing else to cancel: an unknown redemption or another customer's.
        assert!(matches!(
            t.app
                .cancel_redemption(&integration(), c, redemption + 1_000),
            Err(app::AppError::NotFound)
        ));
        // The restored points expire with their lot.
        t.clock.set(last + SignedDuration::from_secs(1));
        t.app.run_pending_jobs().unwrap();
        assert_eq!(t.app.points_balance(c).unwrap(), 0);
        healthy(t);
    }
);

both_backends!(
    cancelled_redemption_of_an_expired_lot_is_forfeited_by_default,
    |t: &TestApp| {
        let (c, redemption) = redeemed_ten(t, "X-2");
        t.clock.set("2028-01-05T00:00:00Z".parse().unwrap());
        t.app.run_pending_jobs().unwrap();
        assert_eq!(t.app.points_balance(c).unwrap(), 0, "the rest expired");
        let done = t
            .app
            .cancel_redemption(&integration(), c, redemption)
            .unwrap();
        assert_eq!((done.restored, done.reinstated, done.forfeited), (0, 0, 10));
        assert_eq!(t.app.points_balance(c).unwrap(), 0);
        assert!(t.app.loyalty_lots(c).unwrap().is_empty());
        healthy(t);
    }
);

both_backends!(
    cancelled_redemption_of_an_expired_lot_is_reinstated_when_configured,
    |t: &TestApp| {
        let (c, redemption) = redeemed_ten(t, "X-3");
        let admin = TestApp::principal(Role::Admin);
        t.app
            .set_expired_restore_policy(
                &admin,
                domain::loyalty::programme::ExpiredRestorePolicy::RestoreWithGrace(
                    domain::loyalty::expiry::ExpiryDays::new(30).unwrap(),
                ),
            )
            .unwrap();
        // 2028-01-05 08:00 Taipei.
        t.clock.set("2028-01-05T00:00:00Z".parse().unwrap());
        t.app.run_pending_jobs().unwrap();
        let done = t
            .app
            .cancel_redemption(&integration(), c, redemption)
            .unwrap();
        assert_eq!((done.restored, done.reinstated, done.forfeited), (0, 10, 0));
        assert_eq!(t.app.points_balance(c).unwrap(), 10);
        let lots = t.app.loyalty_lots(c).unwrap();
        assert_eq!(lots.len(), 1);
        // Valid through 2028-02-04 23:59:59 Asia/Taipei.
        let fresh: Timestamp = "2028-02-04T15:59:59Z".parse().unwrap();
        assert_eq!(lots[0].expires_at, Some(fresh));
        healthy(t);
        t.clock.set(fresh + SignedDuration::from_secs(1));
        t.app.run_pending_jobs().unwrap();
        assert_eq!(t.app.points_balance(c).unwrap(), 0);
        healthy(t);
    }
);

/// `n` customers with `points` active points each, and a manager key.
fn members(t: &TestApp, n: usize, points: i64) -> (Vec<i64>, String) {
    let manager = TestApp::principal(Role::Manager);
    let ids = (0..n)
        .map(|i| {
            let Intake::Accepted(o) = t
                .app
                .place_order(
                    &integration(),
                    &order(&format!("M-{i}"), &format!("C-M{i}"), 1, 100),
                )
                .unwrap()
            else {
                panic!("accepted")
            };
            t.app
                .correct_points(&manager, o.customer_id, points, "opening balance")
                .unwrap();
            o.customer_id
        })
        .collect();
    let key = t
        .app
        .create_key(&app::Principal::cli(), Role::Manager, "rewards")
        .unwrap();
    (ids, key)
}

/// One redeemer's outcome: the customer, the (redemption, voucher code) pairs won, refusals.
type Attempts = (i64, Vec<(i64, String)>, usize);

both_backends!(
    concurrent_reward_redemptions_over_http_never_oversell,
    |t: &TestApp| {
        let (customers, key) = members(t, 10, 1_000);
        let server = Server::start(t.app.clone());
        let r = post(
            &server.addr,
            "/api/v1/rewards",
            &key,
            r#"{"name":"Tea cup","points_price":100,"stock":5,"issues_voucher":true}"#,
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let reward = r.json()["id"].as_i64().unwrap();
        let r = post(
            &server.addr,
            &format!("/api/v1/rewards/{reward}/vouchers"),
            &key,
            r#"{"generate":8}"#,
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let generated = r.json()["generated"].as_array().unwrap().len();
        assert_eq!(generated, 8);
        let results: Vec<Attempts> = std::thread::scope(|s| {
            let handles: Vec<_> = customers
                .iter()
                .map(|&c| {
                    let (addr, key) = (server.addr.clone(), key.clone());
                    s.spawn(move || {
                        let mut won = Vec::new();
                        let mut refused = 0;
                        for _ in 0..3 {
                            let r = post(
                                &addr,
                                &format!("/api/v1/customers/{c}/rewards/{reward}/redemptions"),
                                &key,
                                "{}",
                            );
                            if r.status == 409 {
                                assert_eq!(r.json()["code"], "out_of_stock", "{}", r.body);
                                refused += 1;
                                continue;
                            }
                            assert_eq!(r.status, 201, "{}", r.body);
                            let j = r.json();
                            won.push((
                                j["redemption_id"].as_i64().unwrap(),
                                j["voucher_code"].as_str().unwrap().to_owned(),
                            ));
                        }
                        (c, won, refused)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let won: Vec<(i64, i64, String)> = results
            .iter()
            .flat_map(|(c, w, _)| w.iter().map(|(r, code)| (*c, *r, code.clone())))
            .collect();
        let refused: usize = results.iter().map(|r| r.2).sum();
        assert_eq!((won.len(), refused), (5, 25), "exactly the stock");
        let codes: std::collections::BTreeSet<&str> = won.iter().map(|w| w.2.as_str()).collect();
        assert_eq!(codes.len(), 5, "one distinct code per redemption");
        let spent: i64 = customers
            .iter()
            .map(|&c| 1_000 - t.app.points_balance(c).unwrap())
            .sum();
        assert_eq!(spent, 500);
        let r = get(&server.addr, &format!("/api/v1/rewards/{reward}"), &key);
        assert_eq!(
            (
                r.json()["redeemed"].as_i64(),
                r.json()["codes_available"].as_i64()
            ),
            (Some(5), Some(3))
        );
        healthy(t);
        // Cancelling one returns its points and its stock, and voids its code.
        let (c, redemption, code) = won[0].clone();
        let before = t.app.points_balance(c).unwrap();
        let r = post(
            &server.addr,
            &format!("/api/v1/customers/{c}/points/redemptions/{redemption}/cancel"),
            &key,
            "{}",
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["restored"], 100);
        assert_eq!(r.json()["voided_code"], code.as_str());
        assert_eq!(t.app.points_balance(c).unwrap(), before + 100);
        assert_eq!(t.app.voucher_code_state(&code).unwrap(), "void");
        let r = get(&server.addr, &format!("/api/v1/rewards/{reward}"), &key);
        assert_eq!(r.json()["redeemed"], 4);
        // Cancelling again changes nothing.
        let r = post(
            &server.addr,
            &format!("/api/v1/customers/{c}/points/redemptions/{redemption}/cancel"),
            &key,
            "{}",
        );
        assert_eq!((r.status, r.json()["restored"].as_i64()), (200, Some(100)));
        assert_eq!(t.app.points_balance(c).unwrap(), before + 100);
        healthy(t);
    }
);

both_backends!(
    bad_reward_redemptions_get_clear_codes_and_change_nothing,
    |t: &TestApp| {
        let (customers, key) = members(t, 1, 250);
        let c = customers[0];
        let server = Server::start(t.app.clone());
        let create = |body: &str| {
            let r = post(&server.addr, "/api/v1/rewards", &key, body);
            assert_eq!(r.status, 201, "{}", r.body);
            r.json()["id"].as_i64().unwrap()
        };
        let redeem = |reward: i64| {
            post(
                &server.addr,
                &format!("/api/v1/customers/{c}/rewards/{reward}/redemptions"),
                &key,
                "{}",
            )
        };
        let code =
            |r: &crate::http::Response| (r.status, r.json()["code"].as_str().unwrap().to_owned());
        // A per-member limit of one.
        let limited = create(r#"{"name":"Once","points_price":50,"per_member_limit":1}"#);
        assert_eq!(redeem(limited).status, 201);
        assert_eq!(
            code(&redeem(limited)),
            (409, "reward_limit_reached".to_owned())
        );
        // Outside the validity window.
        let later =
            create(r#"{"name":"Later","points_price":50,"valid_from":"2030-01-01T00:00:00Z"}"#);
        assert_eq!(code(&redeem(later)), (409, "reward_unavailable".to_owned()));
        // A voucher reward with an empty pool.
        let empty = create(r#"{"name":"Voucher","points_price":50,"issues_voucher":true}"#);
        assert_eq!(code(&redeem(empty)), (409, "vouchers_exhausted".to_owned()));
        // Beyond the balance (200 left).
        let dear = create(r#"{"name":"Dear","points_price":201}"#);
        assert_eq!(code(&redeem(dear)), (422, "insufficient_points".to_owned()));
        assert_eq!(t.app.points_balance(c).unwrap(), 200);
        for id in [later, empty, dear] {
            assert_eq!(t.app.reward(id).unwrap().redeemed, 0, "no stock taken");
        }
        // Bad catalogue input and repeated voucher codes.
        let r = post(
            &server.addr,
            "/api/v1/rewards",
            &key,
            r#"{"name":"","points_price":1}"#,
        );
        assert_eq!(code(&r), (422, "invalid_field".to_owned()));
        let vouchers = format!("/api/v1/rewards/{empty}/vouchers");
        let r = post(
            &server.addr,
            &vouchers,
            &key,
            r#"{"codes":["ABCD-1","abcd-1"]}"#,
        );
        assert_eq!(code(&r), (422, "invalid_field".to_owned()));
        let r = post(&server.addr, &vouchers, &key, r#"{"codes":["ABCD-1"]}"#);
        assert_eq!(r.status, 201, "{}", r.body);
        let r = post(
            &server.addr,
            &vouchers,
            &key,
            r#"{"codes":["EFGH-2","abcd-1"]}"#,
        );
        assert_eq!(code(&r), (409, "voucher_code_taken".to_owned()));
        assert_eq!(
            t.app.reward(empty).unwrap().codes_available,
            1,
            "nothing added"
        );
        // The imported code is issued once.
        let r = redeem(empty);
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.json()["voucher_code"], "ABCD-1");
        assert_eq!(code(&redeem(empty)), (409, "vouchers_exhausted".to_owned()));
        assert_eq!(t.app.points_balance(c).unwrap(), 150);
        healthy(t);
    }
);

/// Rows in the tables a write would touch.
fn written(t: &TestApp) -> Vec<i64> {
    t.app
        .store
        .read(|tx| -> anyhow::Result<Vec<i64>> {
            let r = tx.query_one(
                "SELECT (SELECT COUNT(*) FROM events), (SELECT COUNT(*) FROM transfers),
                        (SELECT COUNT(*) FROM audit_log), (SELECT COUNT(*) FROM customers),
                        (SELECT COUNT(*) FROM jobs), (SELECT COUNT(*) FROM points_holds)",
                &[],
            )?;
            (0..6).map(|i| r.int(i)).collect()
        })
        .unwrap()
}

both_backends!(
    simulation_breaks_the_earn_down_per_line_and_writes_nothing,
    |t: &TestApp| {
        let c = programme_and_order(t, "S-1");
        let key = t
            .app
            .create_key(&app::Principal::cli(), Role::Integration, "shop")
            .unwrap();
        let server = Server::start(t.app.clone());
        let before = written(t);
        let body = format!(
            r#"{{"customer_id":{c},"lines":[
                {{"sku":"TEA-01","quantity":3,"unit_price_minor":45000}},
                {{"sku":"CUP","quantity":2,"unit_price_minor":30000}}]}}"#
        );
        let r = post(&server.addr, "/api/v1/loyalty/simulate", &key, &body);
        assert_eq!(r.status, 200, "{}", r.body);
        let j = r.json();
        // NT$1,950 → 19 points: 13.5 and 6 by largest remainder → 13 + 6.
        assert_eq!(j["points"], 19);
        assert_eq!(j["tier"], "member");
        assert_eq!(j["programme_version"], 1);
        let lines = j["lines"].as_array().unwrap();
        assert_eq!(lines.len(), 2);
        let points: Vec<i64> = lines
            .iter()
            .map(|l| l["points"].as_i64().unwrap())
            .collect();
        assert_eq!(points.iter().sum::<i64>(), 19, "sum of lines = order");
        let base = &lines[0]["components"][0];
        assert_eq!(
            (
                base["rule_id"].as_i64(),
                base["version"].as_i64(),
                base["kind"].as_str()
            ),
            (Some(1), Some(1), Some("base"))
        );
        assert_eq!(base["multiplier_bp"], 10_000);
        let window_end = t.app.now() + SignedDuration::from_hours(7 * 24);
        assert_eq!(lines[1]["pending_until"], window_end.to_string());
        assert_eq!(lines[1]["expires_at"], "2027-12-31T15:59:59Z");
        assert_eq!(written(t), before, "a simulation writes nothing");
        // Bad input: an unknown customer, a bad line.
        let r = post(
            &server.addr,
            "/api/v1/loyalty/simulate",
            &key,
            r#"{"customer_id":999999,"lines":[{"sku":"A","quantity":1,"unit_price_minor":100}]}"#,
        );
        assert_eq!(
            (r.status, r.json()["code"].as_str()),
            (422, Some("unknown_customer"))
        );
        let r = post(
            &server.addr,
            "/api/v1/loyalty/simulate",
            &key,
            r#"{"lines":[{"sku":"A","quantity":0,"unit_price_minor":100}]}"#,
        );
        assert_eq!(
            (r.status, r.json()["code"].as_str()),
            (422, Some("invalid_field"))
        );
        assert_eq!(written(t), before);
    }
);

both_backends!(
    expiry_reminder_is_written_once_thirty_days_before_the_last_day,
    |t: &TestApp| {
        let c = programme_and_order(t, "R-1");
        t.advance(SignedDuration::from_hours(7 * 24));
        t.app.run_pending_jobs().unwrap();
        assert!(outbox(t, "points.expiring").is_empty());
        // Last valid day 2027-12-31 (Taipei): reminded 2027-12-01 10:00 +08:00.
        let due: Timestamp = "2027-12-01T02:00:00Z".parse().unwrap();
        t.clock.set(due - SignedDuration::from_secs(1));
        t.app.run_pending_jobs().unwrap();
        assert!(outbox(t, "points.expiring").is_empty(), "not before");
        t.clock.set(due);
        let run = t.app.run_pending_jobs().unwrap();
        assert!(run.done >= 1, "the scheduled job ran: {run:?}");
        let sent = outbox(t, "points.expiring");
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert_eq!(sent[0]["customer_id"], c);
        assert_eq!(sent[0]["points"], 13);
        assert_eq!(sent[0]["expires_at"], "2027-12-31T15:59:59Z");
        // Once per lot: running again, later, writes nothing more.
        assert_eq!(t.app.remind_expiring().unwrap(), 0);
        t.advance(SignedDuration::from_hours(24));
        t.app.run_pending_jobs().unwrap();
        assert_eq!(outbox(t, "points.expiring").len(), 1);
        healthy(t);
    }
);

both_backends!(
    programme_settings_are_versioned_and_validated,
    |t: &TestApp| {
        let key = t
            .app
            .create_key(&app::Principal::cli(), Role::Manager, "config")
            .unwrap();
        let agent = t
            .app
            .create_key(&app::Principal::cli(), Role::Agent, "desk")
            .unwrap();
        let server = Server::start(t.app.clone());
        let r = get(&server.addr, "/api/v1/loyalty/programme", &key);
        assert_eq!((r.status, r.json()["version"].as_i64()), (200, Some(0)));
        let put = |key: &str, body: &str| {
            crate::http::request(
                &server.addr,
                "PUT",
                "/api/v1/loyalty/programme",
                Some(key),
                Some(body),
            )
        };
        let good = r#"{"time_zone":"Asia/Taipei","currency":"TWD","point_value_minor":100,
            "pending_days":7,"expiry":"end_of_year:following","expired_restore":"reinstate:30",
            "reminder_days":14,"wallet_kind":"free"}"#;
        assert_eq!(
            put(&agent, good).status,
            403,
            "configuration is for managers"
        );
        let r = put(&key, good);
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["version"], 1);
        assert_eq!(r.json()["expired_restore"], "reinstate:30");
        // Each bad field: a clear error naming it, and no new version.
        for (bad, field) in [
            (good.replace("Asia/Taipei", "Asia/Nowhere"), "time_zone"),
            (good.replace(r#""TWD""#, r#""HKD""#), "currency"),
            (
                good.replace(r#""pending_days":7"#, r#""pending_days":91"#),
                "pending_days",
            ),
            (good.replace("end_of_year:following", "sometimes"), "expiry"),
            (good.replace("reinstate:30", "maybe"), "expired_restore"),
            (
                good.replace(r#""reminder_days":14"#, r#""reminder_days":400"#),
                "reminder_days",
            ),
            (good.replace(r#""free""#, r#""paid""#), "expiry"),
        ] {
            let r = put(&key, &bad);
            assert_eq!(
                (r.status, r.json()["code"].as_str()),
                (422, Some("invalid_field")),
                "{field}: {}",
                r.body
            );
            assert_eq!(r.json()["errors"][0]["field"], field, "{}", r.body);
        }
        // A paid wallet that never expires (and forfeits) is accepted.
        let paid = good
            .replace("end_of_year:following", "never")
            .replace("reinstate:30", "forfeit")
            .replace(r#""free""#, r#""paid""#);
        let r = put(&key, &paid);
        assert_eq!(
            (r.status, r.json()["version"].as_i64()),
            (200, Some(2)),
            "{}",
            r.body
        );
        let r = get(&server.addr, "/api/v1/loyalty/programme", &agent);
        assert_eq!(
            (
                r.json()["version"].as_i64(),
                r.json()["wallet_kind"].as_str()
            ),
            (Some(2), Some("paid"))
        );
    }
);

both_backends!(tier_multiplies_purchase_earn_batch_level, |t: &TestApp| {
    t.app
        .install_default_programme(&TestApp::principal(Role::Admin))
        .unwrap();
    // This year: C-G earns 10,000 points (gold, ×1.5), C-S 3,000 (silver, ×1.25), each
    // as a new member (×1).
    let first = t
        .app
        .place_orders(
            &integration(),
            &[
                order("T-G1", "C-G", 1, 100_000_000),
                order("T-S1", "C-S", 1, 30_000_000),
            ],
        )
        .unwrap();
    let earned: Vec<i64> = first
        .iter()
        .map(|r| match r {
            Intake::Accepted(o) => o.points_earned,
            _ => panic!("accepted"),
        })
        .collect();
    assert_eq!(earned, [10_000, 3_000], "new members earn ×1");
    // One batch: the gold, the silver and a new member, NT$10,000 each (100 base points).
    let second = t
        .app
        .place_orders(
            &integration(),
            &[
                order("T-G2", "C-G", 1, 1_000_000),
                order("T-S2", "C-S", 1, 1_000_000),
                order("T-N1", "C-N", 1, 1_000_000),
            ],
        )
        .unwrap();
    let earned: Vec<i64> = second
        .iter()
        .map(|r| match r {
            Intake::Accepted(o) => o.points_earned,
            _ => panic!("accepted"),
        })
        .collect();
    assert_eq!(earned, [150, 125, 100], "gold ×1.5, silver ×1.25, new ×1");
    let gold = match &second[0] {
        Intake::Accepted(o) => o.customer_id,
        _ => unreachable!(),
    };
    assert_eq!(t.app.loyalty_summary(gold).unwrap().tier, "gold");
    // The simulation agrees with intake.
    let sim = t
        .app
        .simulate_earn(
            Some(gold),
            None,
            &[LineInput {
                sku: "TEA".into(),
                category: None,
                quantity: 1,
                unit_price_minor: 1_000_000,
            }],
            None,
            None,
        )
        .unwrap();
    assert_eq!((sim.points, sim.tier.as_deref()), (150, Some("gold")));
    // A return reverses exactly what the order earned, tier bonus included.
    let Intake::Accepted(r) = t
        .app
        .refund_order(&integration(), &refund("RF-T-G2", "T-G2", None))
        .unwrap()
    else {
        panic!("accepted")
    };
    assert_eq!(r.points_reversed, 150);
    healthy(t);
});

both_backends!(
    manual_tier_override_until_its_end_date_sets_tier_and_multiplier,
    |t: &TestApp| {
        t.app
            .install_default_programme(&TestApp::principal(Role::Admin))
            .unwrap();
        let earned = |id: &str| match t
            .app
            .place_order(&integration(), &order(id, "C-O", 1, 1_000_000))
            .unwrap()
        {
            Intake::Accepted(o) => (o.customer_id, o.points_earned),
            _ => panic!("accepted"),
        };
        let (c, first) = earned("O-1");
        assert_eq!(first, 100, "a new member earns ×1");
        let manager = t
            .app
            .create_key(&app::Principal::cli(), Role::Manager, "tiers")
            .unwrap();
        let integration = t
            .app
            .create_key(&app::Principal::cli(), Role::Integration, "shop")
            .unwrap();
        let server = Server::start(t.app.clone());
        let path = format!("/api/v1/customers/{c}/loyalty/tier");
        let ends = (t.app.now() + SignedDuration::from_hours(24 * 30)).to_string();
        let put = |key: &str, path: &str, body: &str| {
            request(&server.addr, "PUT", path, Some(key), Some(body))
        };
        // Bad input changes nothing.
        for (body, field) in [
            (
                format!(r#"{{"tier":"platinum","ends_at":"{ends}","reason":"VIP"}}"#),
                "tier",
            ),
            (
                r#"{"tier":"gold","ends_at":"2020-01-01T00:00:00Z","reason":"VIP"}"#.to_owned(),
                "ends_at",
            ),
            (
                r#"{"tier":"gold","ends_at":"soon","reason":"VIP"}"#.to_owned(),
                "ends_at",
            ),
            (
                format!(r#"{{"tier":"gold","ends_at":"{ends}","reason":"  "}}"#),
                "reason",
            ),
        ] {
            let r = put(&manager, &path, &body);
            assert_eq!(r.status, 422, "{body}: {}", r.body);
            assert_eq!(r.json()["code"], "invalid_field", "{}", r.body);
            assert!(r.body.contains(field), "{field}: {}", r.body);
        }
        let r = put(
            &manager,
            "/api/v1/customers/999999/loyalty/tier",
            &format!(r#"{{"tier":"gold","ends_at":"{ends}","reason":"VIP"}}"#),
        );
        assert_eq!(r.status, 404, "{}", r.body);
        let r = put(
            &integration,
            &path,
            &format!(r#"{{"tier":"gold","ends_at":"{ends}","reason":"VIP"}}"#),
        );
        assert_eq!(r.status, 403, "{}", r.body);
        assert_eq!(t.app.loyalty_summary(c).unwrap().tier, "member");
        // A manager sets gold for 30 days: the summary says gold and orders earn ×1.5.
        let r = put(
            &manager,
            &path,
            &format!(r#"{{"tier":"gold","ends_at":"{ends}","reason":"VIP"}}"#),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["tier"], "gold", "{}", r.body);
        assert_eq!(earned("O-2").1, 150);
        // At its end the tier follows qualifying points again.
        t.advance(SignedDuration::from_hours(24 * 30));
        assert_eq!(t.app.loyalty_summary(c).unwrap().tier, "member");
        assert_eq!(earned("O-3").1, 100);
        healthy(t);
    }
);

both_backends!(
    the_statement_shows_each_lot_and_what_each_spend_took,
    |t: &TestApp| {
        // 13 points pending for seven days, then active.
        let c = programme_and_order(t, "ST-1");
        let order_lot = t.app.loyalty_lots(c).unwrap()[0].clone();
        t.advance(SignedDuration::from_hours(8 * 24));
        t.app.run_pending_jobs().unwrap();
        let manager = TestApp::principal(Role::Manager);
        let goodwill = t.app.correct_points(&manager, c, 5, "goodwill").unwrap();
        assert!(goodwill.consumed.is_empty());
        // 15 of 18: the order's lot first (the same expiry, earlier), then 2 of the goodwill lot.
        let hold = t.app.reserve_points(&manager, c, 15, None).unwrap();
        t.app.commit_hold(&manager, c, hold.hold_id).unwrap();
        // A negative correction takes the last 3 and says so in its own entry.
        let taken = t.app.correct_points(&manager, c, -3, "duplicate").unwrap();
        let consumed: Vec<(i64, i64, i64)> = taken
            .consumed
            .iter()
            .map(|l| (l.event_id, l.seq, l.points))
            .collect();
        assert_eq!(consumed, vec![(goodwill.event_id, goodwill.seq, 3)]);

        let key = t
            .app
            .create_key(&app::Principal::cli(), Role::Agent, "desk")
            .unwrap();
        let server = Server::start(t.app.clone());
        let r = get(
            &server.addr,
            &format!("/api/v1/customers/{c}/points/statement"),
            &key,
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        let entries = body["entries"].as_array().unwrap();
        let kinds: Vec<&str> = entries
            .iter()
            .map(|e| e["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["earn", "correction", "redeem", "correction"]);
        let earn = &entries[0];
        assert_eq!(
            (
                earn["points"].as_i64(),
                earn["remaining"].as_i64(),
                earn["lot_state"].as_str()
            ),
            (Some(13), Some(0), Some("active"))
        );
        assert_eq!(
            earn["expires_at"].as_str(),
            Some(order_lot.expires_at.unwrap().to_string().as_str())
        );
        assert_eq!(earn["consumed"], serde_json::json!([]));
        assert_eq!(entries[1]["remaining"].as_i64(), Some(0));
        assert_eq!(entries[1]["lot_state"].as_str(), Some("active"));
        let redeem = &entries[2];
        assert_eq!(redeem["points"].as_i64(), Some(-15));
        assert_eq!(redeem["lot_state"], serde_json::Value::Null);
        assert_eq!(
            redeem["consumed"],
            serde_json::json!([
                {"event_id": order_lot.event_id, "seq": order_lot.seq, "points": 13},
                {"event_id": goodwill.event_id, "seq": goodwill.seq, "points": 2}
            ])
        );
        assert_eq!(
            entries[3]["consumed"],
            serde_json::json!([{"event_id": goodwill.event_id, "seq": goodwill.seq, "points": 3}])
        );
        healthy(t);
    }
);

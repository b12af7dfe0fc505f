//! Promotions end to end: windows in programme-local time, SKU and category targets, member
//! caps per period, a global budget spent exactly under concurrent orders, returns under the
//! version that earned, simulation with a draft set, and the API's bad input.

use crate::http::{Server, get, post, request};
use crate::support::{customer, healthy, order, refund};
use app::Principal;
use app::intake::{Intake, LineInput, OrderInput};
use app::promotions::{PromotionInput, PromotionRefusal};
use domain::access::Role;
use jiff::{SignedDuration, Timestamp};
use test_support::{TestApp, both_backends};

fn who() -> Principal {
    TestApp::principal(Role::Integration)
}

fn manager() -> Principal {
    TestApp::principal(Role::Manager)
}

fn install(t: &TestApp) {
    t.app
        .install_default_programme(&TestApp::principal(Role::Admin))
        .unwrap();
}

fn promotion(name: &str, target: &str, effect: &str) -> PromotionInput {
    PromotionInput {
        name: name.to_owned(),
        target: target.to_owned(),
        effect: effect.to_owned(),
        ..PromotionInput::default()
    }
}

fn at(instant: &str) -> Timestamp {
    instant.parse().unwrap()
}

/// An order of `lines` (sku, category, quantity, unit price) placed at `placed`.
fn order_at(
    id: &str,
    shop_customer: &str,
    placed: Timestamp,
    lines: &[(&str, &str, i64, i64)],
) -> OrderInput {
    OrderInput {
        source: "shop".to_owned(),
        external_id: id.to_owned(),
        customer: customer(shop_customer),
        occurred_at: Some(placed),
        currency: "TWD".to_owned(),
        lines: lines
            .iter()
            .map(|&(sku, category, quantity, unit_price_minor)| LineInput {
                sku: sku.to_owned(),
                category: Some(category.to_owned()),
                quantity,
                unit_price_minor,
            })
            .collect(),
    }
}

fn place(t: &TestApp, o: &OrderInput) -> app::intake::OrderOutcome {
    match t.app.place_order(&who(), o).unwrap() {
        Intake::Accepted(o) => o,
        other => panic!("accepted: {other:?}"),
    }
}

fn earned(t: &TestApp, o: &OrderInput) -> i64 {
    place(t, o).points_earned
}

/// (line, points, rules) of an order's lot.
fn lot_lines(t: &TestApp, order_id: i64) -> Vec<(i64, i64, String)> {
    t.app
        .store
        .read(|tx| store::loyalty::lot_lines(tx, (order_id, 0)))
        .unwrap()
        .into_iter()
        .map(|l| (l.line, l.points, l.rules))
        .collect()
}

fn count(t: &TestApp, sql: &str) -> i64 {
    t.app
        .store
        .read(|tx| tx.query_one(sql, &[])?.int(0))
        .unwrap()
}

both_backends!(
    promotion_starts_at_local_midnight_in_taipei,
    |t: &TestApp| {
        install(t);
        let p = t
            .app
            .create_promotion(
                &manager(),
                &PromotionInput {
                    starts_at: Some("2026-04-01T00:00:00".into()),
                    ends_at: Some("2026-04-08T00:00:00".into()),
                    ..promotion("April double points", "all", "multiplier:20000")
                },
            )
            .unwrap();
        assert_eq!((p.id, p.version, p.state), (100_001, 1, "active"));
        let tea = [("TEA-01", "茶葉", 1, 100_000)];
        // 2026-03-31 23:59:59 Asia/Taipei is 15:59:59Z: base points only.
        let before = at("2026-03-31T15:59:59Z");
        let midnight = at("2026-03-31T16:00:00Z");
        assert_eq!(earned(t, &order_at("M-1", "C-1", before, &tea)), 10);
        assert_eq!(earned(t, &order_at("M-2", "C-1", midnight, &tea)), 20);
        // The window is half-open: 2026-04-08 00:00 local earns base again.
        assert_eq!(
            earned(t, &order_at("M-3", "C-1", at("2026-04-07T16:00:00Z"), &tea)),
            10
        );
        // The simulation agrees at both instants.
        let lines: Vec<LineInput> = order_at("x", "x", before, &tea).lines;
        for (instant, points) in [(before, 10), (midnight, 20)] {
            let sim = t
                .app
                .simulate_earn(None, None, &lines, Some(instant), None)
                .unwrap();
            assert_eq!(sim.points, points, "{instant}");
        }
        assert_eq!(t.app.promotion(p.id).unwrap().granted_points, 10);
        healthy(t);
    }
);

both_backends!(sku_and_category_promotions_by_precedence, |t: &TestApp| {
    install(t);
    let tea = t
        .app
        .create_promotion(
            &manager(),
            &PromotionInput {
                priority: 10,
                ..promotion("Tea ×3", "sku:TEA-01", "multiplier:30000")
            },
        )
        .unwrap();
    let books = t
        .app
        .create_promotion(
            &manager(),
            &PromotionInput {
                priority: 5,
                ..promotion("Books +5 a copy", "category:books", "points_per_unit:5")
            },
        )
        .unwrap();
    // A category promotion under the SKU one: the higher priority wins the tea line.
    t.app
        .create_promotion(
            &manager(),
            &PromotionInput {
                priority: 1,
                ..promotion("Tea leaves ×2", "category:茶葉", "multiplier:20000")
            },
        )
        .unwrap();
    let o = place(
        t,
        &order_at(
            "S-1",
            "C-1",
            t.app.now(),
            &[
                ("TEA-01", "茶葉", 1, 100_000),
                ("BOOK-1", "books", 2, 25_000),
                ("MUG", "kitchen", 1, 50_000),
            ],
        ),
    );
    // Base: NT$2,000 → 20 points as 10 / 5 / 5; tea +20 (×3); books +10 (2 × 5).
    assert_eq!(o.points_earned, 50);
    assert_eq!(
        lot_lines(t, o.order_id),
        vec![
            (0, 30, format!("1:1,{}:1", tea.id)),
            (1, 15, format!("1:1,{}:1", books.id)),
            (2, 5, "1:1".to_owned()),
        ]
    );
    // Another tea-leaf SKU gets the category promotion.
    let o = place(
        t,
        &order_at("S-2", "C-1", t.app.now(), &[("OOLONG", "茶葉", 1, 100_000)]),
    );
    assert_eq!(o.points_earned, 20);
    healthy(t);
});

/// The default programme and a promotion of 100 points a purchase, at most 150 per member per
/// month.
fn capped_monthly(t: &TestApp) -> app::promotions::PromotionView {
    install(t);
    t.app
        .create_promotion(
            &manager(),
            &PromotionInput {
                member_cap_points: Some(150),
                member_cap_period: Some("month".into()),
                ..promotion("100 a purchase, 150 a month", "all", "points_per_unit:100")
            },
        )
        .unwrap()
}

both_backends!(member_cap_per_month_reached_then_reset, |t: &TestApp| {
    let p = capped_monthly(t);
    let cup = [("CUP", "kitchen", 1, 10_000)];
    let march = |d: i64| at("2026-03-10T02:00:00Z") + SignedDuration::from_hours(24 * d);
    assert_eq!(earned(t, &order_at("C-1a", "C-1", march(0), &cup)), 101);
    assert_eq!(
        earned(t, &order_at("C-1b", "C-1", march(1), &cup)),
        51,
        "capped at 150"
    );
    assert_eq!(earned(t, &order_at("C-1c", "C-1", march(2), &cup)), 1);
    // Another member has a cap of their own.
    assert_eq!(earned(t, &order_at("C-2a", "C-2", march(2), &cup)), 101);
    // A return reverses the promotion points with the lot but gives no cap back.
    let Intake::Accepted(r) = t
        .app
        .refund_order(&who(), &refund("RF-C-1a", "C-1a", None))
        .unwrap()
    else {
        panic!("accepted")
    };
    assert_eq!(r.points_reversed, 101);
    assert_eq!(earned(t, &order_at("C-1d", "C-1", march(3), &cup)), 1);
    // 2026-04-01 00:00 Asia/Taipei: a new month, a new cap.
    assert_eq!(
        earned(
            t,
            &order_at("C-1e", "C-1", at("2026-03-31T16:00:00Z"), &cup)
        ),
        101
    );
    // Several orders of one member in one batch share the cap, in order.
    let batch: Vec<OrderInput> = (0..3)
        .map(|i| order_at(&format!("C-3{i}"), "C-3", march(4), &cup))
        .collect();
    let points: Vec<i64> = t
        .app
        .place_orders(&who(), &batch)
        .unwrap()
        .into_iter()
        .map(|r| match r {
            Intake::Accepted(o) => o.points_earned,
            other => panic!("accepted: {other:?}"),
        })
        .collect();
    assert_eq!(points, [101, 51, 1]);
    let view = t.app.promotion(p.id).unwrap();
    assert_eq!(view.granted_points, 100 + 50 + 100 + 100 + 150);
    assert_eq!(view.budget_left, None);
    healthy(t);
});

both_backends!(
    budget_spent_exactly_under_concurrent_orders,
    |t: &TestApp| {
        install(t);
        let p = t
            .app
            .create_promotion(
                &manager(),
                &PromotionInput {
                    budget_points: Some(1_000),
                    ..promotion("First come", "all", "points_per_unit:30")
                },
            )
            .unwrap();
        // 8 instances × 6 batches of 2 orders: 96 orders × 30 = 2,880 points asked of 1,000.
        let apps: Vec<app::App> = (0..8).map(|i| t.sibling(900 + i)).collect();
        let total: i64 = std::thread::scope(|s| {
            let handles: Vec<_> = apps
                .iter()
                .enumerate()
                .map(|(i, app)| {
                    s.spawn(move || {
                        let mut sum = 0;
                        for b in 0..6 {
                            let batch: Vec<OrderInput> = (0..2)
                                .map(|k| {
                                    order(
                                        &format!("B-{i}-{b}-{k}"),
                                        &format!("C-{i}-{b}-{k}"),
                                        1,
                                        10_000,
                                    )
                                })
                                .collect();
                            for r in app.place_orders(&who(), &batch).unwrap() {
                                match r {
                                    Intake::Accepted(o) => sum += o.points_earned,
                                    other => panic!("accepted: {other:?}"),
                                }
                            }
                        }
                        sum
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(total, 96 + 1_000, "base points plus exactly the budget");
        let view = t.app.promotion(p.id).unwrap();
        assert_eq!((view.granted_points, view.budget_left), (1_000, Some(0)));
        assert_eq!(
            count(
                t,
                "SELECT CAST(SUM(points) AS BIGINT) FROM promotion_grants"
            ),
            1_000
        );
        // Spent: the next order earns base points only.
        assert_eq!(earned(t, &order("B-last", "C-last", 1, 10_000)), 1);
        healthy(t);
    }
);

both_backends!(
    new_member_cap_holds_under_concurrent_first_orders,
    |t: &TestApp| {
        capped_monthly(t);
        // 8 instances at once send the first orders of a member nobody has seen yet, round
        // after round: whichever creates the customer, the others resolve to it and count its
        // grants.
        const ROUNDS: usize = 12;
        let apps: Vec<app::App> = (0..8).map(|i| t.sibling(950 + i)).collect();
        let start = std::sync::Barrier::new(apps.len());
        let total: i64 = std::thread::scope(|s| {
            let handles: Vec<_> = apps
                .iter()
                .enumerate()
                .map(|(i, app)| {
                    let start = &start;
                    s.spawn(move || {
                        // Failures are collected, not panicked on, so that no thread is left
                        // waiting at the barrier.
                        let (mut sum, mut failures) = (0, Vec::new());
                        for round in 0..ROUNDS {
                            let o = order(
                                &format!("N-{round}-{i}"),
                                &format!("NEW-{round}"),
                                1,
                                10_000,
                            );
                            start.wait();
                            match app.place_orders(&who(), &[o]).as_deref() {
                                Ok([Intake::Accepted(o)]) => sum += o.points_earned,
                                other => failures.push(format!("{other:?}")),
                            }
                        }
                        (sum, failures)
                    })
                })
                .collect();
            let mut total = 0;
            for h in handles {
                let (sum, failures) = h.join().unwrap();
                assert!(failures.is_empty(), "{failures:?}");
                total += sum;
            }
            total
        });
        let rounds = ROUNDS as i64;
        assert_eq!(count(t, "SELECT COUNT(*) FROM customers"), rounds);
        let over = count(
            t,
            "SELECT COUNT(*) FROM (SELECT customer_id FROM promotion_grants
               GROUP BY customer_id HAVING SUM(points) <> 150) AS off",
        );
        assert_eq!(over, 0, "every member granted exactly the cap");
        assert_eq!(
            total,
            rounds * (8 + 150),
            "base points plus each member's cap"
        );
        healthy(t);
    }
);

both_backends!(
    return_after_an_edit_reverses_under_the_old_version,
    |t: &TestApp| {
        install(t);
        let p = t
            .app
            .create_promotion(&manager(), &promotion("Double", "all", "multiplier:20000"))
            .unwrap();
        let first = place(t, &order("R-1", "C-1", 1, 100_000));
        assert_eq!(first.points_earned, 20);
        t.advance(SignedDuration::from_hours(1));
        let v2 = t
            .app
            .update_promotion(
                &manager(),
                p.id,
                &promotion("Quintuple", "all", "multiplier:50000"),
            )
            .unwrap();
        assert_eq!(v2.version, 2);
        // The cached rule set follows the change at once.
        let second = place(t, &order("R-2", "C-1", 1, 100_000));
        assert_eq!(second.points_earned, 50);
        assert_eq!(lot_lines(t, first.order_id)[0].2, format!("1:1,{}:1", p.id));
        assert_eq!(
            lot_lines(t, second.order_id)[0].2,
            format!("1:1,{}:2", p.id)
        );
        let Intake::Accepted(r) = t
            .app
            .refund_order(&who(), &refund("RF-R-1", "R-1", None))
            .unwrap()
        else {
            panic!("accepted")
        };
        assert_eq!(r.points_reversed, 20, "what version 1 gave, not version 2");
        let s = t.app.loyalty_summary(first.customer_id).unwrap();
        assert_eq!(s.pending, 50);
        let versions = t.app.promotion_versions(p.id).unwrap();
        let v: Vec<(i64, &str)> = versions
            .iter()
            .map(|v| (v.version, v.definition.effect.as_str()))
            .collect();
        assert_eq!(v, [(2, "multiplier:50000"), (1, "multiplier:20000")]);
        // Ended: the next order earns base points only; an ended promotion does not change.
        t.app.end_promotion(&manager(), p.id).unwrap();
        assert_eq!(earned(t, &order("R-3", "C-1", 1, 100_000)), 10);
        let e = t
            .app
            .update_promotion(
                &manager(),
                p.id,
                &promotion("Again", "all", "multiplier:20000"),
            )
            .unwrap_err();
        assert!(
            matches!(
                e,
                app::AppError::PromotionRefused(PromotionRefusal::Ended { .. })
            ),
            "{e:?}"
        );
        healthy(t);
    }
);

both_backends!(simulation_with_a_draft_set_writes_nothing, |t: &TestApp| {
    install(t);
    t.app
        .create_promotion(
            &manager(),
            &PromotionInput {
                budget_points: Some(15),
                ..promotion("Small budget", "all", "multiplier:20000")
            },
        )
        .unwrap();
    let c = place(t, &order("D-1", "C-1", 1, 100_000));
    assert_eq!(c.points_earned, 20);
    let tables = [
        "SELECT COUNT(*) FROM events",
        "SELECT COUNT(*) FROM transfers",
        "SELECT COUNT(*) FROM promotion_grants",
        "SELECT COUNT(*) FROM promotion_versions",
        "SELECT budget_used FROM promotions",
        "SELECT revision FROM promotion_revision",
    ];
    let before: Vec<i64> = tables.iter().map(|q| count(t, q)).collect();
    let lines = order("x", "x", 1, 100_000).lines;
    // The stored rules: the budget has 5 points left.
    let sim = t
        .app
        .simulate_earn(Some(c.customer_id), None, &lines, None, None)
        .unwrap();
    assert_eq!(sim.points, 15);
    assert_eq!(
        (
            sim.promotions[0].uncapped,
            sim.promotions[0].granted,
            sim.promotions[0].capped
        ),
        (10, 5, 5)
    );
    // A draft set instead: a SKU promotion ×4, and nothing of the stored one.
    let draft = [PromotionInput {
        priority: 3,
        ..promotion("Draft tea ×4", "sku:TEA-01", "multiplier:40000")
    }];
    let sim = t
        .app
        .simulate_earn(None, None, &lines, None, Some(&draft))
        .unwrap();
    assert_eq!(sim.points, 40);
    assert_eq!(
        sim.promotions[0].rule_id as u64,
        app::promotions::DRAFT_RULE_ID_FIRST
    );
    // A draft that overlaps itself is refused like a stored one.
    let overlapping = [
        promotion("A", "all", "multiplier:20000"),
        promotion("B", "category:茶葉", "points_per_unit:3"),
    ];
    let e = t
        .app
        .simulate_earn(None, None, &lines, None, Some(&overlapping))
        .unwrap_err();
    assert!(
        matches!(
            e,
            app::AppError::PromotionRefused(PromotionRefusal::Overlapping { .. })
        ),
        "{e:?}"
    );
    let after: Vec<i64> = tables.iter().map(|q| count(t, q)).collect();
    assert_eq!(before, after, "the simulation wrote nothing");
});

both_backends!(promotions_over_http_and_bad_input, |t: &TestApp| {
    install(t);
    let manager = t
        .app
        .create_key(&Principal::cli(), Role::Manager, "promotions")
        .unwrap();
    let analyst = t
        .app
        .create_key(&Principal::cli(), Role::Analyst, "reports")
        .unwrap();
    let server = Server::start(t.sibling(77));
    let addr = server.addr.as_str();
    let march = r#""starts_at": "2026-03-01T00:00:00", "ends_at": "2026-04-01T00:00:00""#;
    let r = post(
        addr,
        "/api/v1/loyalty/promotions",
        &manager,
        &format!(
            r#"{{"name": "March double", "target": "all", "effect": "multiplier:20000", {march}}}"#
        ),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["id"].as_i64().unwrap();
    let count_promotions = || {
        get(addr, "/api/v1/loyalty/promotions", &analyst).json()["promotions"]
            .as_array()
            .unwrap()
            .len()
    };
    // Overlapping with the same priority: refused, naming both, nothing written.
    let r = post(
        addr,
        "/api/v1/loyalty/promotions",
        &manager,
        &format!(
            r#"{{"name": "Books", "target": "category:books", "effect": "points_per_unit:5", {march}}}"#
        ),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    let body = r.json();
    assert_eq!(body["code"], "overlapping_promotions");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains(&id.to_string()) && detail.contains(&(id + 1).to_string()),
        "{detail}"
    );
    assert_eq!(count_promotions(), 1);
    // Bad input: each a 422 naming the field, nothing written.
    for (body, field) in [
        (
            r#"{"name": "Backwards", "target": "all", "effect": "multiplier:20000", "priority": 2, "starts_at": "2026-04-01T00:00:00", "ends_at": "2026-03-01T00:00:00"}"#,
            "ends_at",
        ),
        (
            r#"{"name": "Typo", "target": "all", "effect": "triple", "priority": 2}"#,
            "effect",
        ),
        (
            r#"{"name": "Typo", "target": "skus:A", "effect": "multiplier:20000", "priority": 2}"#,
            "target",
        ),
        (
            r#"{"name": "Half a window", "target": "all", "effect": "multiplier:20000", "priority": 2, "starts_at": "2026-04-01T00:00:00"}"#,
            "ends_at",
        ),
        (
            r#"{"name": "Tiny", "target": "all", "effect": "multiplier:5000", "priority": 2}"#,
            "effect",
        ),
        (
            r#"{"name": "Nobody", "target": "all", "effect": "multiplier:20000", "priority": 2, "tiers": ["platinum"]}"#,
            "tiers",
        ),
        (
            r#"{"name": "Cap", "target": "all", "effect": "multiplier:20000", "priority": 2, "member_cap_points": 5}"#,
            "member_cap_period",
        ),
        (
            r#"{"id": 5, "name": "Mine", "target": "all", "effect": "multiplier:20000", "priority": 2}"#,
            "id",
        ),
        (
            r#"{"name": " ", "target": "all", "effect": "multiplier:20000", "priority": 2}"#,
            "name",
        ),
        (
            r#"{"name": "Huge", "target": "all", "effect": "multiplier:20000", "priority": 9999999999}"#,
            "priority",
        ),
    ] {
        let r = post(addr, "/api/v1/loyalty/promotions", &manager, body);
        assert_eq!(r.status, 422, "{body}: {}", r.body);
        assert_eq!(r.json()["code"], "invalid_field", "{body}");
        assert_eq!(r.json()["errors"][0]["field"], field, "{body}: {}", r.body);
    }
    assert_eq!(count_promotions(), 1);
    // A new version, then the versions and the rule list.
    t.advance(SignedDuration::from_secs(60));
    let r = request(
        addr,
        "PUT",
        &format!("/api/v1/loyalty/promotions/{id}"),
        Some(&manager),
        Some(&format!(
            r#"{{"name": "March double, capped", "target": "all", "effect": "multiplier:20000", "budget_points": 500, {march}}}"#
        )),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (
            r.json()["version"].as_i64(),
            r.json()["budget_left"].as_i64()
        ),
        (Some(2), Some(500))
    );
    let r = get(
        addr,
        &format!("/api/v1/loyalty/promotions/{id}/versions"),
        &analyst,
    );
    let versions: Vec<i64> = r.json()["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, [2, 1]);
    t.advance(SignedDuration::from_secs(60));
    let r = request(
        addr,
        "PUT",
        "/api/v1/loyalty/rules/base",
        Some(&manager),
        Some(r#"{"points": 2, "per_minor": 10000}"#),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["version"], 2);
    let rules = get(addr, "/api/v1/loyalty/rules", &analyst).json();
    let listed: Vec<(String, i64, i64)> = rules["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["kind"].as_str().unwrap().to_owned(),
                r["rule_id"].as_i64().unwrap(),
                r["version"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("base".to_owned(), 1, 2),
            ("promotion".to_owned(), id, 2),
            ("base".to_owned(), 1, 1),
            ("promotion".to_owned(), id, 1),
        ]
    );
    // The simulation over HTTP takes a draft set.
    let r = post(
        addr,
        "/api/v1/loyalty/simulate",
        &analyst,
        r#"{"lines": [{"sku": "TEA-01", "quantity": 1, "unit_price_minor": 100000}],
            "placed_at": "2026-03-05T02:00:00Z",
            "promotions": [{"name": "Draft", "target": "sku:TEA-01", "effect": "points_per_unit:7"}]}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["points"], 27, "{}", r.body);
    // Roles: an analyst reads, does not write.
    let r = post(
        addr,
        "/api/v1/loyalty/promotions",
        &analyst,
        r#"{"name": "No", "target": "all", "effect": "multiplier:20000"}"#,
    );
    assert_eq!(r.status, 403);
    // Ending: once; an ended promotion does not change.
    let r = post(
        addr,
        &format!("/api/v1/loyalty/promotions/{id}/end"),
        &manager,
        "",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["state"], "ended");
    let r = post(
        addr,
        &format!("/api/v1/loyalty/promotions/{id}/end"),
        &manager,
        "",
    );
    assert_eq!(r.json()["code"], "promotion_ended");
    assert_eq!(r.status, 409);
    let r = get(addr, "/api/v1/loyalty/promotions/99", &analyst);
    assert_eq!(r.status, 404);
    drop(server);
});

both_backends!(
    base_rule_minimum_spend_and_excluded_categories_apply,
    |t: &TestApp| {
        install(t);
        let manager = t
            .app
            .create_key(&Principal::cli(), Role::Manager, "rules")
            .unwrap();
        let server = Server::start(t.sibling(78));
        let addr = server.addr.as_str();
        let put_base = |body: &str| {
            request(
                addr,
                "PUT",
                "/api/v1/loyalty/rules/base",
                Some(&manager),
                Some(body),
            )
        };
        let r = put_base(
            r#"{"points": 1, "per_minor": 10000, "minimum_spend_minor": 50000,
                "excluded_categories": ["禮券", " 運費 ", "禮券"]}"#,
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["version"], 2);
        // Bad input: a clear error naming the field, and no version written.
        for (body, field) in [
            (
                r#"{"points": 1, "per_minor": 10000, "excluded_categories": [" "]}"#,
                "excluded_categories",
            ),
            (
                r#"{"points": 1, "per_minor": 10000, "minimum_spend_minor": -1}"#,
                "minimum_spend_minor",
            ),
        ] {
            let r = put_base(body);
            assert_eq!(
                (
                    r.status,
                    r.json()["code"].as_str(),
                    r.json()["errors"][0]["field"].as_str()
                ),
                (422, Some("invalid_field"), Some(field)),
                "{}",
                r.body
            );
        }
        // Every version is kept, with what it excluded.
        let rules = get(addr, "/api/v1/loyalty/rules", &manager).json();
        let base: Vec<(i64, i64, serde_json::Value)> = rules["rules"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["kind"] == "base")
            .map(|r| {
                (
                    r["version"].as_i64().unwrap(),
                    r["minimum_spend_minor"].as_i64().unwrap(),
                    r["excluded_categories"].clone(),
                )
            })
            .collect();
        assert_eq!(
            base,
            vec![
                (2, 50_000, serde_json::json!(["禮券", "運費"])),
                (1, 0, serde_json::json!([])),
            ]
        );
        let now = t.app.now();
        // NT$450 of tea and a NT$1,000 gift card: the eligible NT$450 is below the minimum.
        let small = [
            ("TEA-01", "茶葉", 1, 45_000),
            ("GIFT-1000", "禮券", 1, 100_000),
        ];
        // NT$600 of tea, the gift card and delivery: 6 points, none from the excluded lines.
        let large = [
            ("TEA-01", "茶葉", 2, 30_000),
            ("GIFT-1000", "禮券", 1, 100_000),
            ("SHIP", "運費", 1, 10_000),
        ];
        let simulated = |lines: &[(&str, &str, i64, i64)]| {
            let body = serde_json::json!({
                "lines": lines.iter().map(|l| serde_json::json!({
                    "sku": l.0, "category": l.1, "quantity": l.2, "unit_price_minor": l.3
                })).collect::<Vec<_>>()
            });
            let r = post(
                addr,
                "/api/v1/loyalty/simulate",
                &manager,
                &body.to_string(),
            );
            assert_eq!(r.status, 200, "{}", r.body);
            let b = r.json();
            (
                b["points"].as_i64().unwrap(),
                b["below_minimum_spend"].as_bool().unwrap(),
            )
        };
        assert_eq!(simulated(&small), (0, true));
        assert_eq!(simulated(&large), (6, false));
        // Intake earns the same, and the lot names version 2 on the tea line only.
        assert_eq!(earned(t, &order_at("MS-1", "C-MS", now, &small)), 0);
        let o = place(t, &order_at("MS-2", "C-MS", now, &large));
        assert_eq!(o.points_earned, 6);
        assert_eq!(lot_lines(t, o.order_id), vec![(0, 6, "1:2".to_owned())]);
        // Returning the gift card reverses nothing; the tea reverses what it earned.
        let r = t
            .app
            .refund_order(&who(), &refund("MS-2-R1", "MS-2", Some(vec![(1, 1)])))
            .unwrap();
        assert!(
            matches!(r, Intake::Accepted(ref r) if r.points_reversed == 0),
            "{r:?}"
        );
        // A later version without them: every line earns again, from the first dollar.
        let r = put_base(r#"{"points": 1, "per_minor": 10000}"#);
        assert_eq!(r.json()["version"], 3);
        assert_eq!(simulated(&small), (14, false));
        assert_eq!(earned(t, &order_at("MS-3", "C-MS", now, &small)), 14);
        healthy(t);
        drop(server);
    }
);

both_backends!(lots_show_what_each_line_earned_over_http, |t: &TestApp| {
    install(t);
    let p = t
        .app
        .create_promotion(
            &manager(),
            &promotion("Tea x2", "category:茶葉", "multiplier:20000"),
        )
        .unwrap();
    let o = place(
        t,
        &order_at(
            "LOT-1",
            "C-1",
            t.app.now(),
            &[("TEA-1", "茶葉", 1, 100_000), ("CUP-1", "茶具", 2, 50_000)],
        ),
    );
    assert_eq!(o.points_earned, 30);
    t.app
        .correct_points(&manager(), o.customer_id, 5, "goodwill")
        .unwrap();
    let key = t
        .app
        .create_key(&Principal::cli(), Role::Manager, "desk")
        .unwrap();
    let server = Server::start(t.app.clone());
    let r = get(
        &server.addr,
        &format!("/api/v1/customers/{}/loyalty/lots", o.customer_id),
        &key,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    let lots = body["lots"].as_array().unwrap();
    let earn = lots
        .iter()
        .find(|l| l["event_id"] == o.order_id)
        .expect("the order's lot");
    assert_eq!(earn["kind"], "earn");
    assert_eq!(earn["state"], "pending");
    assert_eq!(earn["reason"], serde_json::Value::Null);
    assert_eq!(
        earn["lines"],
        serde_json::json!([
            {"line": 0, "quantity": 1, "points": 20,
             "rules": [{"rule_id": 1, "version": 1}, {"rule_id": p.id, "version": 1}]},
            {"line": 1, "quantity": 2, "points": 10,
             "rules": [{"rule_id": 1, "version": 1}]}
        ])
    );
    let correction = lots
        .iter()
        .find(|l| l["kind"] == "correction")
        .expect("the correction's lot");
    assert_eq!(correction["reason"], "goodwill");
    assert_eq!(correction["lines"], serde_json::json!([]));
    healthy(t);
});

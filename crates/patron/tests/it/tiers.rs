//! Tiers end to end on both backends: upgrade at once, no drop on 1 January, downgrade at a
//! period's end after its grace with one advance notice, requalifying inside the grace,
//! one-down vs to-earned, returns reducing the period they counted in, overrides with an end,
//! paid memberships (join, renew, cancel, expiry), and the tier group's API with bad input.
//!
//! The test clock starts on 2026-03-02 at 09:00 in Taipei; the tier group here is calendar
//! years with member 0 / silver 1,000 / gold 5,000 qualifying points (×1 earning, so an order
//! of NT$1 × 100 × n earns n points).

use crate::http::{Server, get, request};
use crate::support::{healthy, integration, order, outbox, refund};
use app::intake::Intake;
use app::tiers::{TierGroupSettings, TierSettings};
use domain::access::Role;
use jiff::{SignedDuration, Timestamp};
use test_support::{Backend, TestApp, both_backends};

fn group(downgrade: &str, grace_days: i64, notice_days: i64) -> TierGroupSettings {
    let tier = |code: &str, threshold: i64| TierSettings {
        code: code.to_owned(),
        threshold,
        earn_multiplier_bp: 10_000,
        free_shipping_threshold_minor: None,
        early_access: false,
        birthday_gift_points: 0,
        paid: None,
    };
    let mut gold = tier("gold", 5_000);
    gold.earn_multiplier_bp = 15_000;
    gold.early_access = true;
    gold.paid = Some((99_900, 12));
    TierGroupSettings {
        basis: "points".to_owned(),
        period: "calendar".to_owned(),
        downgrade: downgrade.to_owned(),
        grace_days,
        notice_days,
        tiers: vec![tier("member", 0), tier("silver", 1_000), gold],
    }
}

fn setup(t: &TestApp, downgrade: &str, grace_days: i64, notice_days: i64) {
    let admin = TestApp::principal(Role::Admin);
    t.app.install_default_programme(&admin).unwrap();
    t.app
        .update_tier_group(&admin, &group(downgrade, grace_days, notice_days))
        .unwrap();
}

/// Places an order earning `points` (before any tier bonus); returns (customer, earned).
fn buy(t: &TestApp, id: &str, customer: &str, points: i64) -> (i64, i64) {
    match t
        .app
        .place_order(&integration(), &order(id, customer, 1, points * 10_000))
        .unwrap()
    {
        Intake::Accepted(o) => (o.customer_id, o.points_earned),
        other => panic!("{id}: {other:?}"),
    }
}

/// Moves the clock to `local` (a civil date-time in Asia/Taipei) and runs due jobs.
fn at(t: &TestApp, local: &str) {
    let target = local
        .parse::<jiff::civil::DateTime>()
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::get("Asia/Taipei").unwrap())
        .unwrap()
        .timestamp();
    let now = t.app.now();
    assert!(target >= now, "{local} is in the past");
    t.advance(target.duration_since(now));
    t.app.run_pending_jobs().unwrap();
}

fn tier(t: &TestApp, c: i64) -> String {
    t.app.loyalty_summary(c).unwrap().tier
}

fn changes(t: &TestApp) -> Vec<(String, String)> {
    outbox(t, app::tiers::TIER_CHANGED_TOPIC)
        .iter()
        .map(|m| {
            (
                m["from"].as_str().unwrap_or_default().to_owned(),
                m["to"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn pair(from: &str, to: &str) -> (String, String) {
    (from.to_owned(), to.to_owned())
}

both_backends!(upgrade_at_once_and_kept_across_new_year, |t: &TestApp| {
    setup(t, "one_down", 14, 30);
    let (c, _) = buy(t, "U-1", "C-U", 800);
    assert_eq!(tier(t, c), "member");
    let (_, _) = buy(t, "U-2", "C-U", 300);
    let s = t.app.loyalty_summary(c).unwrap();
    assert_eq!(
        (s.tier.as_str(), s.qualifying_points, s.next_tier.as_deref()),
        ("silver", 1_100, Some("gold"))
    );
    assert_eq!(s.points_to_next_tier, Some(3_900));
    assert_eq!(changes(t), [pair("member", "silver")]);
    // A batch: the first order lifts the member to gold, the next one in the same batch
    // still earns at silver (orders in a batch do not lift each other).
    let out = t
        .app
        .place_orders(
            &integration(),
            &[
                order("U-3", "C-U", 1, 4_000 * 10_000),
                order("U-4", "C-U", 1, 100 * 10_000),
            ],
        )
        .unwrap();
    let earned: Vec<i64> = out
        .iter()
        .map(|r| match r {
            Intake::Accepted(o) => o.points_earned,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(earned, [4_000, 100]);
    assert_eq!(tier(t, c), "gold");
    // The next order earns ×1.5 at once.
    assert_eq!(buy(t, "U-5", "C-U", 100).1, 150);
    // Across 1 January the gold earned in 2026 holds for all of 2027.
    at(t, "2027-01-01T08:00");
    let s = t.app.loyalty_summary(c).unwrap();
    assert_eq!((s.tier.as_str(), s.qualifying_points), ("gold", 0));
    assert_eq!(
        s.tier_detail
            .pending_downgrade
            .as_ref()
            .map(|p| p.0.as_str()),
        Some("silver"),
        "warned of what 2027 must hold"
    );
    assert_eq!(
        changes(t),
        [pair("member", "silver"), pair("silver", "gold")]
    );
    assert!(outbox(t, app::tiers::DOWNGRADE_NOTICE_TOPIC).is_empty());
    healthy(t);
});

both_backends!(
    downgrade_after_period_end_and_grace_with_one_notice,
    |t: &TestApp| {
        setup(t, "one_down", 14, 30);
        let (c, _) = buy(t, "D-1", "C-D", 1_200);
        assert_eq!(tier(t, c), "silver");
        at(t, "2027-01-01T08:00");
        assert_eq!(tier(t, c), "silver", "earned in 2026: kept through 2027");
        // 2027 earns nothing: the notice is due 30 days before its end, written once.
        at(t, "2027-12-01T23:00");
        assert!(
            outbox(t, app::tiers::DOWNGRADE_NOTICE_TOPIC).is_empty(),
            "not before"
        );
        at(t, "2027-12-02T00:30");
        let notices = outbox(t, app::tiers::DOWNGRADE_NOTICE_TOPIC);
        assert_eq!(notices.len(), 1, "{notices:?}");
        assert_eq!(notices[0]["customer_id"], c);
        assert_eq!(notices[0]["to"], "member");
        assert_eq!(notices[0]["effective_at"], "2028-01-14T16:00:00Z");
        t.app.review_tiers().unwrap();
        // Past the period's end, inside the grace: still silver, no second notice.
        at(t, "2028-01-01T08:00");
        assert_eq!(tier(t, c), "silver");
        at(t, "2028-01-14T23:59");
        assert_eq!(tier(t, c), "silver");
        at(t, "2028-01-15T00:01");
        assert_eq!(tier(t, c), "member");
        assert_eq!(outbox(t, app::tiers::DOWNGRADE_NOTICE_TOPIC).len(), 1);
        assert_eq!(
            changes(t),
            [pair("member", "silver"), pair("silver", "member")]
        );
        // Reviews are idempotent: running again changes nothing.
        t.app.review_tiers().unwrap();
        t.app.run_pending_jobs().unwrap();
        assert_eq!(changes(t).len(), 2);
        healthy(t);
    }
);

both_backends!(
    requalifying_inside_the_grace_keeps_the_tier,
    |t: &TestApp| {
        setup(t, "one_down", 14, 30);
        let (c, _) = buy(t, "R-1", "C-R", 1_200);
        at(t, "2028-01-05T10:00");
        let s = t.app.loyalty_summary(c).unwrap();
        assert_eq!(s.tier, "silver");
        assert!(s.tier_detail.pending_downgrade.is_some(), "{s:?}");
        // The member earns silver again in 2028 before the grace ends.
        buy(t, "R-2", "C-R", 1_000);
        assert!(
            t.app
                .loyalty_summary(c)
                .unwrap()
                .tier_detail
                .pending_downgrade
                .is_none()
        );
        at(t, "2028-01-20T10:00");
        assert_eq!(tier(t, c), "silver");
        assert_eq!(changes(t), [pair("member", "silver")]);
    }
);

fn one_policy(backend: Backend, policy: &str) -> String {
    let Some(t) = TestApp::new(backend) else {
        return String::new();
    };
    setup(&t, policy, 0, 30);
    let (c, _) = buy(&t, "P-1", "C-P", 5_000);
    assert_eq!(tier(&t, c), "gold");
    // 2027 earns 100 points: not even silver.
    at(&t, "2027-02-01T10:00");
    buy(&t, "P-2", "C-P", 100);
    at(&t, "2028-01-01T00:30");
    tier(&t, c)
}

#[test]
fn one_down_versus_to_earned_sqlite() {
    assert_eq!(one_policy(Backend::Sqlite, "one_down"), "silver");
    assert_eq!(one_policy(Backend::Sqlite, "to_earned"), "member");
}

#[test]
fn one_down_versus_to_earned_postgres() {
    if TestApp::new(Backend::Postgres).is_some() {
        assert_eq!(one_policy(Backend::Postgres, "one_down"), "silver");
        assert_eq!(one_policy(Backend::Postgres, "to_earned"), "member");
    }
}

both_backends!(returns_reduce_the_period_they_counted_in, |t: &TestApp| {
    setup(t, "one_down", 14, 30);
    let (c, _) = buy(t, "T-1", "C-T", 1_200);
    buy(t, "T-2", "C-T", 300);
    assert_eq!(t.app.loyalty_summary(c).unwrap().qualifying_points, 1_500);
    t.app
        .refund_order(&integration(), &refund("RT-1", "T-1", None))
        .unwrap();
    let s = t.app.loyalty_summary(c).unwrap();
    assert_eq!(
        (s.tier.as_str(), s.qualifying_points),
        ("silver", 300),
        "no downgrade mid-period"
    );
    // 2027: a new silver year; returning a 2026 purchase does not touch 2027's value.
    at(t, "2027-02-01T10:00");
    buy(t, "T-3", "C-T", 1_500);
    t.app
        .refund_order(&integration(), &refund("RT-2", "T-2", None))
        .unwrap();
    assert_eq!(t.app.loyalty_summary(c).unwrap().qualifying_points, 1_500);
    // Another member: 2026's only purchase returned, so 2026 did not earn silver and the
    // review downgrades at the end of the year's grace.
    let (d, _) = buy(t, "T-4", "C-T2", 1_000);
    assert_eq!(tier(t, d), "silver");
    t.app
        .refund_order(&integration(), &refund("RT-4", "T-4", Some(vec![(0, 1)])))
        .unwrap();
    assert_eq!(t.app.loyalty_summary(d).unwrap().qualifying_points, 0);
    at(t, "2027-12-02T10:00");
    let notices = outbox(t, app::tiers::DOWNGRADE_NOTICE_TOPIC);
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(notices[0]["customer_id"], d);
    at(t, "2028-01-15T10:00");
    assert_eq!(tier(t, d), "member");
    assert_eq!(tier(t, c), "silver", "2027 held silver");
    healthy(t);
});

both_backends!(
    override_with_an_end_date_is_mirrored_and_ends,
    |t: &TestApp| {
        setup(t, "one_down", 14, 30);
        let (c, _) = buy(t, "O-1", "C-O", 100);
        let manager = TestApp::principal(Role::Manager);
        let ends = t.app.now() + SignedDuration::from_hours(24 * 30);
        t.app
            .set_tier_override(&manager, c, "gold", ends, "VIP")
            .unwrap();
        let s = t.app.loyalty_summary(c).unwrap();
        assert_eq!(
            (s.tier.as_str(), s.tier_detail.earned_tier.as_str()),
            ("gold", "member")
        );
        assert_eq!(
            s.tier_detail.override_until,
            Some(("gold".to_owned(), ends))
        );
        assert!(s.tier_detail.benefits.early_access);
        assert_eq!(
            buy(t, "O-2", "C-O", 100).1,
            150,
            "the override's multiplier"
        );
        // An override for someone who never bought creates their state.
        let (e, _) = buy(t, "O-3", "C-O2", 1);
        t.app
            .set_tier_override(&manager, e, "silver", ends, "apology")
            .unwrap();
        assert_eq!(tier(t, e), "silver");
        t.advance(SignedDuration::from_hours(24 * 30) + SignedDuration::from_secs(1));
        t.app.run_pending_jobs().unwrap();
        assert_eq!(tier(t, c), "member");
        assert_eq!(tier(t, e), "member");
        assert_eq!(
            changes(t),
            [
                pair("member", "gold"),
                pair("member", "silver"),
                pair("gold", "member"),
                pair("silver", "member"),
            ]
        );
        // tier_overrides keeps the audit.
        let rows = t
            .app
            .store
            .read(|tx| {
                tx.query_one("SELECT COUNT(*) FROM tier_overrides", &[])?
                    .int(0)
            })
            .unwrap();
        assert_eq!(rows, 2);
    }
);

fn events_of(t: &TestApp, kind: domain::EventKind) -> i64 {
    t.app
        .store
        .read(|tx| store::events::count_by_kind(tx, kind))
        .unwrap()
}

both_backends!(paid_membership_join_renew_cancel_expiry, |t: &TestApp| {
    setup(t, "one_down", 14, 30);
    let (c, _) = buy(t, "M-1", "C-M", 100);
    let shop = t
        .app
        .create_key(&app::Principal::cli(), Role::Integration, "shop")
        .unwrap();
    let analyst = t
        .app
        .create_key(&app::Principal::cli(), Role::Analyst, "bi")
        .unwrap();
    let server = Server::start(t.app.clone());
    let base = format!("/api/v1/customers/{c}/loyalty/membership");
    let post = |key: &str, path: &str, body: &str| {
        request(&server.addr, "POST", path, Some(key), Some(body))
    };
    let paid = || events_of(t, domain::EventKind::MembershipPaid);
    // Bad input changes nothing.
    for (path, body, status, field) in [
        (
            base.clone(),
            r#"{"tier":"platinum","external_id":"PAY-0"}"#,
            422,
            "tier",
        ),
        (
            base.clone(),
            r#"{"tier":"silver","external_id":"PAY-0"}"#,
            422,
            "tier",
        ),
        (
            base.clone(),
            r#"{"tier":"gold","external_id":""}"#,
            422,
            "external_id",
        ),
        (
            format!("{base}/renew"),
            r#"{"tier":"gold","external_id":"PAY-0"}"#,
            422,
            "tier",
        ),
        (
            "/api/v1/customers/999999/loyalty/membership".to_owned(),
            r#"{"tier":"gold","external_id":"PAY-0"}"#,
            404,
            "",
        ),
    ] {
        let r = post(&shop, &path, body);
        assert_eq!(r.status, status, "{path} {body}: {}", r.body);
        assert!(r.body.contains(field), "{field}: {}", r.body);
    }
    let r = post(&shop, &format!("{base}/cancel"), "{}");
    assert_eq!(r.status, 422, "nothing to cancel: {}", r.body);
    let r = post(&analyst, &base, r#"{"tier":"gold","external_id":"PAY-1"}"#);
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!((paid(), tier(t, c).as_str()), (0, "member"));

    // Join: gold for 12 months, the fee recorded once.
    let r = post(&shop, &base, r#"{"tier":"gold","external_id":"PAY-1"}"#);
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["ends_at"], "2027-03-02T01:00:00Z");
    assert_eq!(r.json()["renews"], true);
    assert_eq!((paid(), tier(t, c).as_str()), (1, "gold"));
    let fee = t
        .app
        .store
        .read(|tx| {
            tx.query_one(
                "SELECT amount_minor FROM events WHERE kind = 'membership_paid'",
                &[],
            )?
            .int(0)
        })
        .unwrap();
    assert_eq!(fee, 99_900);
    // The same payment again answers the first outcome; its id with other content conflicts.
    let again = post(&shop, &base, r#"{"tier":"gold","external_id":"PAY-1"}"#);
    assert_eq!(again.status, 201, "{}", again.body);
    assert_eq!(again.header("Patron-Replayed"), Some("true"));
    assert_eq!(
        again.json()["payment_event_id"],
        r.json()["payment_event_id"]
    );
    let other = post(
        &shop,
        &format!("{base}/renew"),
        r#"{"tier":"gold","external_id":"PAY-1"}"#,
    );
    assert_eq!(other.status, 409, "{}", other.body);
    // Joining again while active is refused.
    let r = post(&shop, &base, r#"{"tier":"gold","external_id":"PAY-2"}"#);
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(paid(), 1);
    // Renew: one more term after the current end.
    let r = post(
        &shop,
        &format!("{base}/renew"),
        r#"{"tier":"gold","external_id":"PAY-3"}"#,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["ends_at"], "2028-03-02T01:00:00Z");
    assert_eq!(paid(), 2);
    // Cancel: stays until the term ends, no renewal.
    let r = post(&shop, &format!("{base}/cancel"), "{}");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["renews"], false);
    let r = post(
        &shop,
        &format!("{base}/renew"),
        r#"{"tier":"gold","external_id":"PAY-4"}"#,
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(paid(), 2);
    let summary = get(
        &server.addr,
        &format!("/api/v1/customers/{c}/loyalty"),
        &shop,
    );
    assert_eq!(summary.json()["tier"], "gold", "{}", summary.body);
    assert_eq!(summary.json()["membership"]["renews"], false);
    assert_eq!(summary.json()["earned_tier"], "member");
    // While active the member earns as gold; at the term's end the job drops it.
    assert_eq!(buy(t, "M-2", "C-M", 100).1, 150);
    at(t, "2028-03-02T08:59");
    assert_eq!(tier(t, c), "gold");
    at(t, "2028-03-02T09:01");
    assert_eq!(tier(t, c), "member");
    assert!(
        t.app
            .loyalty_summary(c)
            .unwrap()
            .tier_detail
            .membership
            .is_none()
    );
    assert_eq!(changes(t), [pair("member", "gold"), pair("gold", "member")]);
    // After the end the member may join again.
    let r = post(&shop, &base, r#"{"tier":"gold","external_id":"PAY-5"}"#);
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(paid(), 3);
});

both_backends!(tier_group_api_validates_and_versions, |t: &TestApp| {
    let admin = TestApp::principal(Role::Admin);
    t.app.install_default_programme(&admin).unwrap();
    let manager = t
        .app
        .create_key(&app::Principal::cli(), Role::Manager, "m")
        .unwrap();
    let agent = t
        .app
        .create_key(&app::Principal::cli(), Role::Agent, "a")
        .unwrap();
    let server = Server::start(t.app.clone());
    let r = get(&server.addr, "/api/v1/loyalty/tiers", &agent);
    assert_eq!(r.status, 200, "{}", r.body);
    let j = r.json();
    assert_eq!(
        (j["programme_version"].as_i64(), j["period"].as_str()),
        (Some(1), Some("calendar"))
    );
    assert_eq!(j["tiers"][2]["code"], "gold");
    assert_eq!(j["tiers"][2]["benefits"]["earn_multiplier_bp"], 15_000);
    let put = |key: &str, body: &str| {
        request(
            &server.addr,
            "PUT",
            "/api/v1/loyalty/tiers",
            Some(key),
            Some(body),
        )
    };
    let tiers = r#"[{"code":"member","threshold":0},{"code":"silver","threshold":1000},
                    {"code":"gold","threshold":5000,"benefits":{"earn_multiplier_bp":15000,"early_access":true,"free_shipping_threshold_minor":0,"birthday_gift_points":500},
                     "paid":{"fee_minor":99900,"term_months":12}}]"#;
    let body = |basis: &str, period: &str, downgrade: &str, tiers: &str| {
        format!(
            r#"{{"basis":"{basis}","period":"{period}","downgrade":"{downgrade}","grace_days":14,"notice_days":30,"tiers":{tiers}}}"#
        )
    };
    for (b, field) in [
        (body("visits", "calendar", "one_down", tiers), "basis"),
        (body("points", "weekly", "one_down", tiers), "period"),
        (
            body("points", "rolling:0", "one_down", tiers),
            "period.days",
        ),
        (body("points", "calendar", "never", tiers), "downgrade"),
        (
            body(
                "points",
                "calendar",
                "one_down",
                r#"[{"code":"member","threshold":0},{"code":"silver","threshold":1000},{"code":"gold","threshold":1000}]"#,
            ),
            "tiers[2].threshold",
        ),
        (
            body(
                "points",
                "calendar",
                "one_down",
                r#"[{"code":"member","threshold":0},{"code":"gold","threshold":10,"paid":{"term_months":12}}]"#,
            ),
            "tiers[1].paid.fee_minor",
        ),
        (
            body(
                "points",
                "calendar",
                "one_down",
                r#"[{"code":"member","threshold":0},{"code":"member","threshold":10}]"#,
            ),
            "tiers[1].code",
        ),
    ] {
        let r = put(&manager, &b);
        assert_eq!(r.status, 422, "{b}: {}", r.body);
        assert_eq!(r.json()["code"], "invalid_field", "{}", r.body);
        assert!(r.body.contains(field), "{field}: {}", r.body);
    }
    let r = put(&agent, &body("spend", "anniversary", "to_earned", tiers));
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(t.app.programme().unwrap().version, 1, "nothing changed");
    let r = put(&manager, &body("spend", "rolling:365", "to_earned", tiers));
    assert_eq!(r.status, 200, "{}", r.body);
    let r = get(&server.addr, "/api/v1/loyalty/tiers", &agent);
    let j = r.json();
    assert_eq!(
        (
            j["programme_version"].as_i64(),
            j["basis"].as_str(),
            j["period"].as_str(),
            j["downgrade"].as_str()
        ),
        (
            Some(2),
            Some("spend"),
            Some("rolling:365"),
            Some("to_earned")
        )
    );
    assert_eq!(j["tiers"][2]["paid"]["fee_minor"], 99_900);
    assert_eq!(j["tiers"][2]["benefits"]["birthday_gift_points"], 500);
    // Old versions are kept.
    let versions = t
        .app
        .store
        .read(|tx| {
            tx.query_one("SELECT COUNT(*) FROM loyalty_programmes", &[])?
                .int(0)
        })
        .unwrap();
    assert_eq!(versions, 2);
    // Spend basis: an order of NT$1,000 (100,000 minor) counts 100,000 toward silver (1,000).
    let (c, _) = buy(t, "S-1", "C-S", 10);
    let s = t.app.loyalty_summary(c).unwrap();
    assert_eq!((s.tier.as_str(), s.qualifying_points), ("gold", 100_000));
    assert_eq!(s.tier_detail.basis, "spend");
});

both_backends!(anniversary_years_run_from_the_first_order, |t: &TestApp| {
    let admin = TestApp::principal(Role::Admin);
    t.app.install_default_programme(&admin).unwrap();
    let mut g = group("to_earned", 0, 30);
    g.period = "anniversary".to_owned();
    t.app.update_tier_group(&admin, &g).unwrap();
    let (c, _) = buy(t, "A-1", "C-A", 1_200);
    let s = t.app.loyalty_summary(c).unwrap();
    assert_eq!(s.tier, "silver");
    assert_eq!(
        s.tier_detail.period_end,
        "2027-03-01T16:00:00Z".parse::<Timestamp>().unwrap(),
        "the member's year ends on their anniversary, local midnight"
    );
    // No drop on 1 January; the year after the anniversary must hold silver again.
    at(t, "2027-01-02T10:00");
    assert_eq!(tier(t, c), "silver");
    at(t, "2028-03-02T00:30");
    assert_eq!(tier(t, c), "member");
});

both_backends!(
    rolling_window_upgrades_on_the_exact_window,
    |t: &TestApp| {
        let admin = TestApp::principal(Role::Admin);
        t.app.install_default_programme(&admin).unwrap();
        let mut g = group("to_earned", 0, 30);
        g.period = "rolling:365".to_owned();
        t.app.update_tier_group(&admin, &g).unwrap();
        at(t, "2026-03-02T10:00");
        let (c, _) = buy(t, "RW-1", "C-RW", 600);
        // The review on 1 March 2027 still sees the purchase of 2 March 2026 in its window.
        at(t, "2027-03-01T08:00");
        let s = t.app.loyalty_summary(c).unwrap();
        assert_eq!((s.tier.as_str(), s.qualifying_points), ("member", 600));
        // On 20 March that purchase has left the 365-day window: the member is shown 0 (and
        // 1,000 to silver), not the 600 stored at the review; 500 more is 500, not the 1,100
        // the value counted since the review would say, and lifts nobody.
        at(t, "2027-03-20T10:00");
        let s = t.app.loyalty_summary(c).unwrap();
        assert_eq!(
            (s.tier.as_str(), s.qualifying_points, s.points_to_next_tier),
            ("member", 0, Some(1_000))
        );
        buy(t, "RW-2", "C-RW", 500);
        let s = t.app.loyalty_summary(c).unwrap();
        assert_eq!((s.tier.as_str(), s.qualifying_points), ("member", 500));
        assert!(changes(t).is_empty(), "{:?}", changes(t));
        // 600 more inside the window is 1,100: silver at once.
        buy(t, "RW-3", "C-RW", 600);
        let s = t.app.loyalty_summary(c).unwrap();
        assert_eq!((s.tier.as_str(), s.qualifying_points), ("silver", 1_100));
        assert_eq!(changes(t), [pair("member", "silver")]);
        healthy(t);
    }
);

/// The reference model's member: their orders `(year, points, returned)`, tier and since.
#[derive(Debug, Default, Clone)]
struct ModelMember {
    orders: Vec<(String, i16, i64, bool)>,
    rank: usize,
    since: Option<Timestamp>,
}

const MODEL_STEPS: usize = 1_200;
const MODEL_CUSTOMERS: u64 = 8;
const MODEL_THRESHOLDS: [i64; 3] = [0, 1_000, 3_000];
const MODEL_CODES: [&str; 3] = ["member", "silver", "gold"];

fn model_rank(value: i64) -> usize {
    MODEL_THRESHOLDS
        .iter()
        .rposition(|t| value >= *t)
        .unwrap_or(0)
}

fn taipei() -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::get("Asia/Taipei").unwrap()
}

/// Local midnights of 2 December (the advance notice, 30 days before the year ends) and 1
/// January: the instants a member above the first tier is reviewed.
fn review_instants_between(from: Timestamp, to: Timestamp) -> bool {
    let zone = taipei();
    let (a, b) = (
        from.to_zoned(zone.clone()).year(),
        to.to_zoned(zone.clone()).year(),
    );
    (a..=b + 1).any(|y| {
        [jiff::civil::date(y, 12, 2), jiff::civil::date(y, 1, 1)]
            .into_iter()
            .any(|d| {
                let t = d.to_zoned(zone.clone()).unwrap().timestamp();
                t > from && t <= to
            })
    })
}

/// Seeded model-based test of tier evaluation: random orders, returns (including of last
/// year's purchases), clock advances across midnights and years, reviews run by the job and
/// by hand; after every step each member's tier and qualifying points match a small model of
/// the rules (calendar years, upgrade at once, a tier earned in a year held through the next,
/// downgrade to the tier earned at the year's end, no grace). A failure prints its seed.
fn run_model(t: &TestApp, seed: u64) {
    let admin = TestApp::principal(Role::Admin);
    t.app.install_default_programme(&admin).unwrap();
    let mut settings = t.app.programme().unwrap().settings;
    settings.expiry = "never".to_owned();
    settings.pending_days = 0;
    t.app.update_programme(&admin, &settings).unwrap();
    let mut g = group("to_earned", 0, 30);
    for (i, tier) in g.tiers.iter_mut().enumerate() {
        tier.threshold = MODEL_THRESHOLDS[i];
        tier.earn_multiplier_bp = 10_000;
        tier.paid = None;
    }
    t.app.update_tier_group(&admin, &g).unwrap();
    let zone = taipei();
    let mut rng = app::workload::Rng::seeded(seed);
    let mut members: std::collections::BTreeMap<String, ModelMember> = Default::default();
    let mut ids: std::collections::HashMap<String, i64> = Default::default();
    for step in 0..MODEL_STEPS {
        let ctx = format!("seed {seed:#x}, step {step}");
        let now = t.app.now();
        let year = now.to_zoned(zone.clone()).year();
        let op = rng.below(20);
        if op < 10 {
            let customer = format!("C{}", rng.below(MODEL_CUSTOMERS));
            let points = rng.below(1_500) as i64 + 1;
            let id = format!("O{step}");
            let (c, earned) = buy(t, &id, &customer, points);
            assert_eq!(earned, points, "{ctx}");
            ids.insert(customer.clone(), c);
            let m = members.entry(customer).or_default();
            m.orders.push((id, year, points, false));
            let value: i64 = m
                .orders
                .iter()
                .filter(|o| o.1 == year && !o.3)
                .map(|o| o.2)
                .sum();
            if model_rank(value) > m.rank {
                m.rank = model_rank(value);
                m.since = Some(now);
            }
        } else if op < 14 {
            let customer = format!("C{}", rng.below(MODEL_CUSTOMERS));
            let Some(m) = members.get_mut(&customer) else {
                continue;
            };
            let open: Vec<usize> = (0..m.orders.len()).filter(|&i| !m.orders[i].3).collect();
            if open.is_empty() {
                continue;
            }
            let i = *rng.pick(&open);
            let (id, _, points, _) = m.orders[i].clone();
            let Intake::Accepted(r) = t
                .app
                .refund_order(&integration(), &refund(&format!("R{step}"), &id, None))
                .unwrap()
            else {
                panic!("{ctx}: return refused")
            };
            assert_eq!(r.points_reversed, points, "{ctx}");
            m.orders[i].3 = true;
        } else if op < 19 {
            // Forward 1 to 45 days and some hours; the job reviews whoever is due.
            let by =
                SignedDuration::from_hours(24 * (1 + rng.below(45) as i64) + rng.below(24) as i64);
            t.advance(by);
            t.app.run_pending_jobs().unwrap();
            let later = t.app.now();
            let start = jiff::civil::date(later.to_zoned(zone.clone()).year(), 1, 1)
                .to_zoned(zone.clone())
                .unwrap()
                .timestamp();
            let this = later.to_zoned(zone.clone()).year();
            if review_instants_between(now, later) {
                for m in members.values_mut().filter(|m| m.rank > 0) {
                    let value = |y: i16| -> i64 {
                        m.orders
                            .iter()
                            .filter(|o| o.1 == y && !o.3)
                            .map(|o| o.2)
                            .sum()
                    };
                    let entitled = model_rank(value(this - 1)).max(model_rank(value(this)));
                    if m.rank > entitled && m.since.is_some_and(|s| s < start) {
                        m.rank = entitled;
                        m.since = Some(later);
                    }
                }
            }
        } else {
            // A review by hand: nothing is due, nothing changes.
            t.app.review_tiers().unwrap();
        }
        let year = t.app.now().to_zoned(zone.clone()).year();
        for (customer, m) in &members {
            let s = t.app.loyalty_summary(ids[customer]).unwrap();
            let value: i64 = m
                .orders
                .iter()
                .filter(|o| o.1 == year && !o.3)
                .map(|o| o.2)
                .sum();
            assert_eq!(
                (s.tier.as_str(), s.qualifying_points),
                (MODEL_CODES[m.rank], value),
                "{ctx}: {customer} {m:?}"
            );
        }
    }
    healthy(t);
}

both_backends!(tier_evaluation_matches_the_model, |t: &TestApp| {
    run_model(t, 0x71e5_0001);
});

both_backends!(
    concurrent_orders_and_returns_of_one_member_do_not_deadlock,
    |t: &TestApp| {
        setup(t, "one_down", 14, 30);
        // Orders to return later, then orders and returns of the same member at once (the
        // intake locks the member's tier row before the account; so must a return).
        for i in 0..20 {
            buy(t, &format!("K-{i}"), "C-K", 100);
        }
        let (c, _) = buy(t, "K-x", "C-K", 100);
        std::thread::scope(|s| {
            s.spawn(|| {
                for i in 0..20 {
                    buy(t, &format!("K-new-{i}"), "C-K", 100);
                }
            });
            s.spawn(|| {
                for i in 0..20 {
                    let r = t
                        .app
                        .refund_order(
                            &integration(),
                            &refund(&format!("RK-{i}"), &format!("K-{i}"), None),
                        )
                        .unwrap();
                    assert!(matches!(r, Intake::Accepted(_)), "{r:?}");
                }
            });
        });
        // 21 + 20 orders of 100, 20 returned: 2,100 points count, silver.
        let s = t.app.loyalty_summary(c).unwrap();
        assert_eq!((s.tier.as_str(), s.qualifying_points), ("silver", 2_100));
        healthy(t);
    }
);

both_backends!(
    members_who_earned_before_tier_state_are_adopted,
    |t: &TestApp| {
        setup(t, "one_down", 14, 30);
        let (g, _) = buy(t, "B-1", "C-B1", 5_000);
        let (s, _) = buy(t, "B-2", "C-B2", 1_200);
        at(t, "2027-02-01T10:00");
        let (n, _) = buy(t, "B-3", "C-B3", 1_100);
        // As if they had earned before migration 12: no tier rows at all.
        t.app
            .store
            .write(|tx| tx.execute("DELETE FROM member_tiers", &[]))
            .unwrap();
        assert_eq!(tier(t, g), "member");
        assert_eq!(t.app.adopt_member_tiers().unwrap(), 3);
        assert_eq!(t.app.adopt_member_tiers().unwrap(), 0, "idempotent");
        // Gold and silver earned in 2026 hold through 2027; 2027's own silver too.
        assert_eq!(
            (tier(t, g), tier(t, s), tier(t, n)),
            ("gold".into(), "silver".into(), "silver".into())
        );
        assert_eq!(t.app.loyalty_summary(n).unwrap().qualifying_points, 1_100);
        // Then the usual rules: 2027 earned nothing for g and s.
        at(t, "2028-01-16T10:00");
        assert_eq!(
            (tier(t, g), tier(t, s), tier(t, n)),
            ("silver".into(), "member".into(), "silver".into())
        );
    }
);

//! Non-purchase points and referrals end to end: sign-up once, birthdays on 29 February in a
//! common year across local midnight in Asia/Taipei, anniversaries, custom events replayed,
//! referrals (happy path, self-referral, cap, second order), free lots without revenue, and
//! bad input over HTTP.

use crate::http::{Server, get, post, request};
use crate::support::{healthy, order, refund};
use app::bonus::{BonusRule, BonusRules, ReferralSettings};
use app::customers::{Created, CustomerInput};
use app::intake::Intake;
use domain::IdentityKind;
use domain::access::Role;
use domain::ledger::TransferKind;
use jiff::{SignedDuration, Timestamp};
use test_support::{TestApp, both_backends};

fn admin() -> app::Principal {
    TestApp::principal(Role::Admin)
}

fn rule(kind: &str, code: Option<&str>, points: i64) -> BonusRule {
    BonusRule {
        kind: kind.to_owned(),
        code: code.map(str::to_owned),
        points,
    }
}

fn rules(list: Vec<BonusRule>, fallback: &str, referral: (i64, i64, i64, i64)) -> BonusRules {
    BonusRules {
        rules: list,
        leap_day_fallback: fallback.to_owned(),
        referral: ReferralSettings {
            referrer_points: referral.0,
            referee_points: referral.1,
            minimum_order_minor: referral.2,
            referrer_cap: referral.3,
            cap_period: "month".to_owned(),
        },
    }
}

fn member(shop_id: &str, birthday: Option<&str>) -> CustomerInput {
    CustomerInput {
        identities: vec![(IdentityKind::ShopCustomerId, shop_id.to_owned())],
        birthday: birthday.map(str::to_owned),
        ..CustomerInput::default()
    }
}

fn create(t: &TestApp, shop_id: &str, birthday: Option<&str>) -> i64 {
    t.app
        .create_customer(&admin(), &member(shop_id, birthday))
        .unwrap()
        .0
        .id
}

fn set_clock(t: &TestApp, to: &str) {
    t.clock.set(to.parse::<Timestamp>().unwrap());
}

/// The customer's bonus lots: (points, reason).
fn bonus_lots(t: &TestApp, customer: i64) -> Vec<(i64, String)> {
    t.app
        .points_statement(customer, (0, 0), 500)
        .unwrap()
        .entries
        .into_iter()
        .filter(|e| e.kind == TransferKind::Bonus)
        .map(|e| (e.points, e.reason.unwrap_or_default()))
        .collect()
}

fn award_exists(t: &TestApp, external_id: &str) -> bool {
    t.app
        .store
        .read(|tx| store::events::find(tx, "patron", external_id))
        .unwrap()
        .is_some()
}

both_backends!(
    sign_up_award_is_given_once_per_new_customer,
    |t: &TestApp| {
        t.app.install_default_programme(&admin()).unwrap();
        // Before any rule: nothing.
        let early = create(t, "EARLY", None);
        t.app
            .set_bonus_rules(
                &admin(),
                &rules(vec![rule("sign_up", None, 50)], "feb28", (0, 0, 0, 1)),
            )
            .unwrap();
        let (c, how) = t
            .app
            .create_customer(&admin(), &member("S-1", None))
            .unwrap();
        assert_eq!((how, c.points_balance), (Created::New, 50));
        assert_eq!(bonus_lots(t, c.id), vec![(50, "sign_up v1".to_owned())]);
        // The programme's expiry: end of the following year, 23:59:59 Taipei.
        let lots = t.app.loyalty_lots(c.id).unwrap();
        assert_eq!(
            lots[0].expires_at,
            Some("2027-12-31T15:59:59Z".parse().unwrap())
        );
        // The same customer again: no second award.
        let (again, how) = t
            .app
            .create_customer(&admin(), &member("S-1", None))
            .unwrap();
        assert_eq!((how, again.points_balance), (Created::Existing, 50));
        // A customer created by an order's intake gets it in the order's transaction.
        let Intake::Accepted(o) = t
            .app
            .place_order(&admin(), &order("SU-1", "S-2", 1, 45_000))
            .unwrap()
        else {
            panic!("accepted")
        };
        assert_eq!(bonus_lots(t, o.customer_id).len(), 1);
        assert_eq!(t.app.points_balance(o.customer_id).unwrap(), 50);
        // A second order of that customer gives no second sign-up.
        t.app
            .place_order(&admin(), &order("SU-2", "S-2", 1, 45_000))
            .unwrap();
        assert_eq!(bonus_lots(t, o.customer_id).len(), 1);
        assert_eq!(bonus_lots(t, early), vec![]);
        // So does a customer first seen in another intake event, and one imported.
        let mut data = serde_json::Map::new();
        data.insert("name".to_owned(), "王小明".into());
        let Intake::Accepted(e) = t
            .app
            .record_event(
                &admin(),
                &app::intake::EventInput {
                    source: "shop".to_owned(),
                    external_id: "PC-1".to_owned(),
                    kind: domain::EventKind::ProfileChanged,
                    customer: crate::support::customer("S-3"),
                    occurred_at: None,
                    data,
                },
            )
            .unwrap()
        else {
            panic!("accepted")
        };
        assert_eq!(t.app.points_balance(e.customer_id).unwrap(), 50);
        let imported = t
            .app
            .import_customers(&admin(), &[member("S-4", None), member("S-1", None)])
            .unwrap();
        let Intake::Accepted(s4) = imported[0] else {
            panic!("accepted: {imported:?}")
        };
        assert!(matches!(imported[1], Intake::Duplicate(_)));
        assert_eq!(t.app.points_balance(s4).unwrap(), 50);
        assert_eq!(t.app.points_balance(c.id).unwrap(), 50);
        // Free points are not qualifying points.
        assert_eq!(t.app.loyalty_summary(c.id).unwrap().qualifying_points, 0);
        healthy(t);
        // They expire like any lot: the expiry job takes them after their last valid second.
        set_clock(t, "2027-12-31T15:59:59Z");
        t.app.run_pending_jobs().unwrap();
        assert_eq!(t.app.points_balance(c.id).unwrap(), 50);
        t.advance(SignedDuration::from_secs(1));
        t.app.run_pending_jobs().unwrap();
        assert_eq!(t.app.points_balance(c.id).unwrap(), 0);
        healthy(t);
    }
);

/// A member born on 29 February gets the birthday award on the fallback day of a common year,
/// at local midnight in Asia/Taipei, once however often the job runs.
fn leap_day_birthday(t: &TestApp, fallback: &str) {
    t.app.install_default_programme(&admin()).unwrap();
    // 2027-02-27 20:00 in Taipei; 2027 is a common year.
    set_clock(t, "2027-02-27T12:00:00Z");
    let leap = create(t, "LEAP", Some("2000-02-29"));
    let march = create(t, "MARCH", Some("1990-03-01"));
    t.app
        .set_bonus_rules(
            &admin(),
            &rules(
                vec![rule("birthday", None, 100), rule("anniversary", None, 30)],
                fallback,
                (0, 0, 0, 1),
            ),
        )
        .unwrap();
    t.app.run_pending_jobs().unwrap();
    set_clock(t, "2027-02-27T15:59:59Z");
    t.app.run_pending_jobs().unwrap();
    assert_eq!(
        t.app.points_balance(leap).unwrap(),
        0,
        "not yet 28 February"
    );
    // Midnight of 28 February in Taipei.
    t.advance(SignedDuration::from_secs(1));
    t.app.run_pending_jobs().unwrap();
    t.app.run_pending_jobs().unwrap();
    let on_28 = if fallback == "feb28" { 100 } else { 0 };
    assert_eq!(t.app.points_balance(leap).unwrap(), on_28);
    assert_eq!(t.app.points_balance(march).unwrap(), 0);
    // One second before 1 March in Taipei: nothing new.
    set_clock(t, "2027-02-28T15:59:59Z");
    t.app.run_pending_jobs().unwrap();
    assert_eq!(t.app.points_balance(leap).unwrap(), on_28);
    t.advance(SignedDuration::from_secs(1));
    t.app.run_pending_jobs().unwrap();
    t.app.run_pending_jobs().unwrap();
    assert_eq!(
        t.app.points_balance(leap).unwrap(),
        100,
        "exactly one award"
    );
    assert_eq!(t.app.points_balance(march).unwrap(), 100);
    assert!(award_exists(t, &format!("birthday-{leap}-2027")));
    assert_eq!(bonus_lots(t, leap), vec![(100, "birthday v1".to_owned())]);
    // Running the day's celebration again by hand writes nothing.
    assert_eq!(t.app.celebrate("2027-03-01".parse().unwrap()).unwrap(), 0);
    assert_eq!(t.app.celebrate("2027-02-28".parse().unwrap()).unwrap(), 0);
    healthy(t);
}

both_backends!(leap_day_birthday_falls_on_28_february, |t: &TestApp| {
    leap_day_birthday(t, "feb28");
});

both_backends!(leap_day_birthday_falls_on_1_march, |t: &TestApp| {
    leap_day_birthday(t, "mar1");
});

both_backends!(anniversary_of_joining_at_local_midnight, |t: &TestApp| {
    t.app.install_default_programme(&admin()).unwrap();
    // Joined 2026-03-02 09:00 in Taipei (the test clock's start).
    let joined = create(t, "JOINED", None);
    set_clock(t, "2027-03-01T12:00:00Z");
    let newer = create(t, "NEWER", None);
    t.app
        .set_bonus_rules(
            &admin(),
            &rules(vec![rule("anniversary", None, 30)], "feb28", (0, 0, 0, 1)),
        )
        .unwrap();
    t.app.run_pending_jobs().unwrap();
    set_clock(t, "2027-03-01T15:59:59Z");
    t.app.run_pending_jobs().unwrap();
    assert_eq!(t.app.points_balance(joined).unwrap(), 0);
    // 2027-03-02 00:00 in Taipei.
    t.advance(SignedDuration::from_secs(1));
    t.app.run_pending_jobs().unwrap();
    t.app.run_pending_jobs().unwrap();
    assert_eq!(
        bonus_lots(t, joined),
        vec![(30, "anniversary v1".to_owned())]
    );
    assert_eq!(t.app.points_balance(newer).unwrap(), 0);
    assert!(award_exists(t, &format!("anniversary-{joined}-2027")));
    // The next day's job is scheduled; it gives nothing more.
    t.advance(SignedDuration::from_hours(24));
    t.app.run_pending_jobs().unwrap();
    assert_eq!(t.app.points_balance(joined).unwrap(), 30);
    healthy(t);
});

both_backends!(
    custom_event_replay_answers_the_first_award,
    |t: &TestApp| {
        t.app.install_default_programme(&admin()).unwrap();
        let c = create(t, "C-1", None);
        let set = |points| {
            rules(
                vec![
                    rule("custom", Some("app_download"), points),
                    rule("review", None, 10),
                ],
                "feb28",
                (0, 0, 0, 1),
            )
        };
        t.app.set_bonus_rules(&admin(), &set(20)).unwrap();
        let who = TestApp::principal(Role::Integration);
        let (first, created) = t
            .app
            .award_points(&who, c, "custom", Some("app_download"), "ext-1")
            .unwrap();
        assert!(created);
        assert_eq!((first.points, first.rule_version), (20, 1));
        // The rule changes; a replay still answers the first award.
        t.app.set_bonus_rules(&admin(), &set(99)).unwrap();
        let (again, created) = t
            .app
            .award_points(&who, c, "custom", Some("app_download"), "ext-1")
            .unwrap();
        assert!(!created);
        assert_eq!(again, first);
        assert_eq!(
            bonus_lots(t, c),
            vec![(20, "custom:app_download v1".to_owned())]
        );
        // The same external id for other content is a conflict, and writes nothing.
        let e = t
            .app
            .award_points(&who, c, "custom", Some("newsletter"), "ext-1")
            .unwrap_err();
        assert!(
            matches!(e, app::AppError::ConflictingDuplicate { .. }),
            "{e:?}"
        );
        // A review is a separate namespace of external ids.
        let (review, created) = t
            .app
            .award_points(&who, c, "review", None, "ext-1")
            .unwrap();
        assert!(created);
        assert_eq!((review.points, review.rule_version), (10, 2));
        assert_eq!(t.app.points_balance(c).unwrap(), 30);
        healthy(t);
    }
);

/// A referrer with a code, the bonus rules (referrer 200, referee 100, NT$1,000 minimum,
/// `cap` per month) and the default programme.
fn referrer(t: &TestApp, cap: i64) -> (i64, String) {
    t.app.install_default_programme(&admin()).unwrap();
    t.app
        .set_bonus_rules(&admin(), &rules(vec![], "feb28", (200, 100, 100_000, cap)))
        .unwrap();
    let a = create(t, "A", None);
    let (code, created) = t.app.create_referral_code(&admin(), a).unwrap();
    assert!(created);
    assert_eq!(
        t.app.create_referral_code(&admin(), a).unwrap(),
        (code.clone(), false)
    );
    (a, code)
}

fn referred(t: &TestApp, shop_id: &str, code: &str) -> i64 {
    t.app
        .create_customer_referred(&admin(), &member(shop_id, None), Some(code))
        .unwrap()
        .0
        .id
}

fn bonus_points(t: &TestApp, c: i64) -> i64 {
    bonus_lots(t, c).iter().map(|l| l.0).sum()
}

both_backends!(
    referral_rewards_both_on_the_first_qualifying_order,
    |t: &TestApp| {
        let (a, code) = referrer(t, 5);
        // Printed with a dash and in lower case: still the same code.
        let printed = format!("{}-{}", &code[..4], &code[4..]).to_lowercase();
        let b = referred(t, "B", &printed);
        let v = t.app.referrals(b).unwrap().referred_by.unwrap();
        assert_eq!((v.referrer_id, v.state.as_str()), (a, "pending"));
        // An order below the minimum spend leaves it pending.
        t.app
            .place_order(&admin(), &order("R-1", "B", 1, 50_000))
            .unwrap();
        t.app.run_pending_jobs().unwrap();
        assert_eq!((bonus_points(t, a), bonus_points(t, b)), (0, 0));
        let Intake::Accepted(o) = t
            .app
            .place_order(&admin(), &order("R-2", "B", 3, 45_000))
            .unwrap()
        else {
            panic!("accepted")
        };
        t.app.run_pending_jobs().unwrap();
        assert_eq!((bonus_points(t, a), bonus_points(t, b)), (200, 100));
        let v = t.app.referrals(a).unwrap().referred.pop().unwrap();
        assert_eq!(
            (v.state.as_str(), v.order_id, v.rule_version),
            ("rewarded", Some(o.order_id), Some(1))
        );
        // A second qualifying order rewards nobody again.
        t.app
            .place_order(&admin(), &order("R-3", "B", 3, 45_000))
            .unwrap();
        t.app.run_pending_jobs().unwrap();
        assert_eq!(t.app.settle_referral(b).unwrap().unwrap().state, "rewarded");
        assert_eq!((bonus_points(t, a), bonus_points(t, b)), (200, 100));
        assert_eq!(bonus_lots(t, a), vec![(200, "referral v1".to_owned())]);
        healthy(t);
    }
);

/// (balance, pending, debt) of a member.
fn position(t: &TestApp, c: i64) -> (i64, i64, i64) {
    let s = t.app.loyalty_summary(c).unwrap();
    (s.balance, s.pending, s.debt)
}

/// The member's `reverse` transfers: (points, reason).
fn reversals(t: &TestApp, c: i64) -> Vec<(i64, String)> {
    t.app
        .points_statement(c, (0, 0), 500)
        .unwrap()
        .entries
        .into_iter()
        .filter(|e| e.kind == TransferKind::Reverse)
        .map(|e| (e.points, e.reason.unwrap_or_default()))
        .collect()
}

fn referral_state(t: &TestApp, referee: i64) -> (String, Option<String>, bool) {
    let v = t.app.referrals(referee).unwrap().referred_by.unwrap();
    (v.state, v.reason, v.reversed_at.is_some())
}

/// The state of a referral reversed for `reason`, as [`referral_state`] reads it.
fn reversed(reason: &str) -> (String, Option<String>, bool) {
    ("reversed".to_owned(), Some(reason.to_owned()), true)
}

/// The one `reverse` transfer of a referral reward clawed back for `reason`.
fn clawed_back(points: i64, reason: &str) -> Vec<(i64, String)> {
    vec![(points, format!("referral reversed: {reason}"))]
}

fn give_back(t: &TestApp, id: &str, order_id: &str, lines: Option<Vec<(usize, i64)>>) {
    let r = t
        .app
        .refund_order(&admin(), &refund(id, order_id, lines))
        .unwrap();
    assert!(matches!(r, Intake::Accepted(_)), "{r:?}");
}

both_backends!(
    a_referral_is_reversed_when_its_order_is_refunded_in_full_in_time,
    |t: &TestApp| {
        // The default programme: 7 days pending, the debt shortfall policy.
        let (a, code) = referrer(t, 5);
        let b = referred(t, "B", &code);
        t.app
            .place_order(&admin(), &order("RV-1", "B", 4, 45_000))
            .unwrap();
        t.app.run_pending_jobs().unwrap();
        assert_eq!(
            (position(t, a), position(t, b)),
            ((200, 0, 0), (100, 18, 0))
        );
        // The referrer spends 150 of the 200.
        let h = t.app.reserve_points(&admin(), a, 150, None).unwrap();
        t.app.commit_hold(&admin(), a, h.hold_id).unwrap();
        // A partial refund that leaves NT$1,350 (the minimum is NT$1,000) keeps the rewards.
        give_back(t, "RV-1-R1", "RV-1", Some(vec![(0, 1)]));
        t.app.run_pending_jobs().unwrap();
        assert_eq!(referral_state(t, b).0, "rewarded");
        assert_eq!(position(t, a), (50, 0, 0));
        // The rest, six days later (inside the 7-day window): the order is refunded in full.
        t.advance(SignedDuration::from_hours(6 * 24));
        give_back(t, "RV-1-R2", "RV-1", None);
        t.app.run_pending_jobs().unwrap();
        assert_eq!(referral_state(t, b), reversed("order_refunded"));
        // The referrer: 50 clawed back from what is left, 150 owed (the debt policy).
        assert_eq!(position(t, a), (0, 0, 150));
        assert_eq!(reversals(t, a), clawed_back(-50, "order_refunded"));
        // The referee: the award's lot gives its 100 back; the order's pending points went
        // with the refunds.
        assert_eq!(position(t, b), (0, 0, 0));
        assert!(award_exists(t, &format!("referral-{b}-referrer-reversed")));
        assert!(award_exists(t, &format!("referral-{b}-referee-reversed")));
        healthy(t);
        // Once: settling again (a replayed job) changes nothing.
        assert_eq!(t.app.settle_referral(b).unwrap().unwrap().state, "reversed");
        assert_eq!((position(t, a), position(t, b)), ((0, 0, 150), (0, 0, 0)));
        // Nor does a new qualifying order of the referee reward it again.
        t.app
            .place_order(&admin(), &order("RV-2", "B", 3, 45_000))
            .unwrap();
        t.app.run_pending_jobs().unwrap();
        assert_eq!(referral_state(t, b).0, "reversed");
        assert_eq!(bonus_points(t, a), 200, "the one award lot, reversed");
        // The referrer's next active points settle the debt first.
        t.app
            .correct_points(&TestApp::principal(Role::Manager), a, 160, "goodwill")
            .unwrap();
        assert_eq!(position(t, a), (10, 0, 0));
        healthy(t);
    }
);

both_backends!(
    a_referral_that_did_not_record_its_rule_version_follows_its_awards,
    |t: &TestApp| {
        // A referral rewarded before migration 19 has no rule version on its row; its awards
        // name the version, whose NT$1,000 minimum still decides a partial refund.
        let (a, code) = referrer(t, 5);
        let b = referred(t, "B", &code);
        t.app
            .place_order(&admin(), &order("LV-1", "B", 3, 45_000))
            .unwrap();
        t.app.run_pending_jobs().unwrap();
        assert_eq!(referral_state(t, b).0, "rewarded");
        let cleared = t
            .app
            .store
            .write(|tx| {
                tx.execute(
                    "UPDATE referrals SET rule_version = NULL WHERE referee_id = $1",
                    store::args![b],
                )
            })
            .unwrap();
        assert_eq!(cleared, 1);
        // A later rule set without a minimum must not be the one that decides.
        t.app
            .set_bonus_rules(&admin(), &rules(vec![], "feb28", (200, 100, 0, 5)))
            .unwrap();
        give_back(t, "LV-1-R", "LV-1", Some(vec![(0, 1)]));
        t.app.run_pending_jobs().unwrap();
        assert_eq!(referral_state(t, b), reversed("order_refunded"));
        assert_eq!(position(t, a), (0, 0, 0));
        healthy(t);
    }
);

both_backends!(
    a_partial_refund_below_the_minimum_reverses_the_referral,
    |t: &TestApp| {
        let (a, code) = referrer(t, 5);
        let b = referred(t, "B", &code);
        // NT$1,350 qualifies (the minimum is NT$1,000) …
        t.app
            .place_order(&admin(), &order("PM-1", "B", 3, 45_000))
            .unwrap();
        t.app.run_pending_jobs().unwrap();
        assert_eq!(referral_state(t, b).0, "rewarded");
        assert_eq!((position(t, a), bonus_points(t, b)), ((200, 0, 0), 100));
        // … until one item goes back inside the return window: NT$900 does not.
        give_back(t, "PM-1-R", "PM-1", Some(vec![(0, 1)]));
        t.app.run_pending_jobs().unwrap();
        assert_eq!(referral_state(t, b), reversed("order_refunded"));
        assert_eq!(position(t, a), (0, 0, 0));
        assert_eq!(reversals(t, a), clawed_back(-200, "order_refunded"));
        assert_eq!(position(t, b).0, 0, "the referee's award went back too");
        healthy(t);
        // Refunded below the minimum before the referral job ran: that order does not
        // qualify, the referral waits for the next one.
        let c = referred(t, "C", &code);
        t.app
            .place_order(&admin(), &order("PM-2", "C", 3, 45_000))
            .unwrap();
        give_back(t, "PM-2-R", "PM-2", Some(vec![(0, 1)]));
        t.app.run_pending_jobs().unwrap();
        assert_eq!(referral_state(t, c), ("pending".to_owned(), None, false));
        assert_eq!(bonus_points(t, c), 0);
        healthy(t);
    }
);

both_backends!(
    a_cancelled_referral_order_under_negative_balance_goes_below_zero,
    |t: &TestApp| {
        let (a, code) = referrer(t, 5);
        let mut settings = t.app.programme().unwrap().settings;
        settings.shortfall = "negative_balance".to_owned();
        t.app.update_programme(&admin(), &settings).unwrap();
        let b = referred(t, "B", &code);
        t.app
            .place_order(&admin(), &order("NB-1", "B", 3, 45_000))
            .unwrap();
        t.app.run_pending_jobs().unwrap();
        let h = t.app.reserve_points(&admin(), a, 180, None).unwrap();
        t.app.commit_hold(&admin(), a, h.hold_id).unwrap();
        let mut cancel = refund("NB-1-C", "NB-1", None);
        cancel.kind = domain::EventKind::OrderCancelled;
        t.app.refund_order(&admin(), &cancel).unwrap();
        t.app.run_pending_jobs().unwrap();
        assert_eq!(referral_state(t, b), reversed("order_cancelled"));
        // The whole 200 is posted: 20 from the lots, 180 below zero.
        assert_eq!(position(t, a), (-180, 0, 0));
        assert_eq!(reversals(t, a), clawed_back(-200, "order_cancelled"));
        assert_eq!(position(t, b), (0, 0, 0));
        healthy(t);
    }
);

both_backends!(
    a_referral_stands_after_the_window_and_waits_when_refunded_first,
    |t: &TestApp| {
        let (a, code) = referrer(t, 5);
        // Refunded in full after the 7-day window: the rewards stay.
        let b = referred(t, "B", &code);
        t.app
            .place_order(&admin(), &order("LW-1", "B", 3, 45_000))
            .unwrap();
        t.app.run_pending_jobs().unwrap();
        t.advance(SignedDuration::from_hours(8 * 24));
        t.app.run_pending_jobs().unwrap();
        give_back(t, "LW-1-R", "LW-1", None);
        t.app.run_pending_jobs().unwrap();
        assert_eq!(referral_state(t, b), ("rewarded".to_owned(), None, false));
        assert_eq!((bonus_points(t, a), position(t, a).0), (200, 200));
        // Refunded in full before the referral job ran: that order does not qualify, the
        // referral waits for the next one.
        let c = referred(t, "C", &code);
        t.app
            .place_order(&admin(), &order("LW-2", "C", 3, 45_000))
            .unwrap();
        give_back(t, "LW-2-R", "LW-2", None);
        t.app.run_pending_jobs().unwrap();
        assert_eq!(referral_state(t, c), ("pending".to_owned(), None, false));
        assert_eq!((position(t, a).0, bonus_points(t, c)), (200, 0));
        let Intake::Accepted(o) = t
            .app
            .place_order(&admin(), &order("LW-3", "C", 3, 45_000))
            .unwrap()
        else {
            panic!("accepted")
        };
        t.app.run_pending_jobs().unwrap();
        let v = t.app.referrals(c).unwrap().referred_by.unwrap();
        assert_eq!(
            (v.state.as_str(), v.order_id),
            ("rewarded", Some(o.order_id))
        );
        assert_eq!((position(t, a).0, bonus_points(t, c)), (400, 100));
        healthy(t);
    }
);

/// (customers, identities, referrals, events): what a refused request must leave as it was.
fn footprint(t: &TestApp) -> [i64; 4] {
    t.app
        .store
        .read(|tx| {
            let mut out = [0; 4];
            for (i, table) in ["customers", "customer_identities", "referrals", "events"]
                .iter()
                .enumerate()
            {
                out[i] = tx
                    .query_one(&format!("SELECT COUNT(*) FROM {table}"), &[])?
                    .int(0)?;
            }
            Ok::<_, anyhow::Error>(out)
        })
        .unwrap()
}

both_backends!(
    self_referral_is_refused_with_a_clear_code_and_writes_nothing,
    |t: &TestApp| {
        let (_, _) = referrer(t, 5);
        // A referrer known by email, phone and LINE user id.
        let owner = t
            .app
            .create_customer(
                &admin(),
                &CustomerInput {
                    identities: vec![
                        (IdentityKind::Email, "Mei.Lin@Example.tw".to_owned()),
                        (IdentityKind::Phone, "+886912345678".to_owned()),
                        (IdentityKind::LineUserId, "U4af4980629".to_owned()),
                    ],
                    ..CustomerInput::default()
                },
            )
            .unwrap()
            .0
            .id;
        let (code, _) = t.app.create_referral_code(&admin(), owner).unwrap();
        let before = footprint(t);
        // The member's own code.
        let e = t.app.register_referral(&admin(), owner, &code).unwrap_err();
        assert!(matches!(e, app::AppError::SelfReferral), "{e:?}");
        // A "new" customer given the referrer's email, phone or LINE id in another spelling:
        // normalised, it is the referrer (with a new shop id that would have been attached).
        for (kind, value) in [
            (IdentityKind::Email, " mei.lin@EXAMPLE.TW "),
            (IdentityKind::Phone, "0912-345-678"),
            (IdentityKind::LineUserId, "  U4af4980629 "),
        ] {
            let input = CustomerInput {
                identities: vec![
                    (kind, value.to_owned()),
                    (IdentityKind::ShopCustomerId, "NEW-1".to_owned()),
                ],
                ..CustomerInput::default()
            };
            let e = t
                .app
                .create_customer_referred(&admin(), &input, Some(&code))
                .unwrap_err();
            assert!(matches!(e, app::AppError::SelfReferral), "{kind:?}: {e:?}");
            assert_eq!(footprint(t), before, "{kind:?}: nothing written");
        }
        assert!(t.app.referrals(owner).unwrap().referred_by.is_none());
        assert!(t.app.referrals(owner).unwrap().referred.is_empty());
        // Over HTTP: 422 with the code `self_referral`.
        let key = t
            .app
            .create_key(&app::Principal::cli(), Role::Integration, "shop")
            .unwrap();
        let server = Server::start(t.sibling(91));
        let r = post(
            &server.addr,
            "/api/v1/customers",
            &key,
            &format!(r#"{{"identities": {{"phone": "0912 345 678"}}, "referral_code": "{code}"}}"#),
        );
        assert_eq!(
            (r.status, r.json()["code"].as_str()),
            (422, Some("self_referral")),
            "{}",
            r.body
        );
        let r = post(
            &server.addr,
            &format!("/api/v1/customers/{owner}/referred-by"),
            &key,
            &format!(r#"{{"referral_code": "{code}"}}"#),
        );
        assert_eq!(
            (r.status, r.json()["code"].as_str()),
            (422, Some("self_referral")),
            "{}",
            r.body
        );
        assert_eq!(footprint(t), before);
        // Another member may still use the code.
        let b = referred(t, "B", &code);
        assert_eq!(referral_state(t, b).0, "pending");
        drop(server);
    }
);

both_backends!(
    referrals_beyond_the_referrers_cap_are_refused,
    |t: &TestApp| {
        let (a, code) = referrer(t, 1);
        let b = referred(t, "B", &code);
        let c = referred(t, "C", &code);
        t.app
            .place_order(&admin(), &order("CAP-1", "B", 3, 45_000))
            .unwrap();
        t.app.run_pending_jobs().unwrap();
        t.app
            .place_order(&admin(), &order("CAP-2", "C", 3, 45_000))
            .unwrap();
        t.app.run_pending_jobs().unwrap();
        assert_eq!(
            (bonus_points(t, a), bonus_points(t, b), bonus_points(t, c)),
            (200, 100, 0)
        );
        let v = t.app.referrals(c).unwrap().referred_by.unwrap();
        assert_eq!(
            (v.state.as_str(), v.reason.as_deref()),
            ("refused", Some("referrer_cap_reached"))
        );
        // Next month the cap starts again.
        set_clock(t, "2026-04-01T00:00:00Z");
        let d = referred(t, "D", &code);
        t.app
            .place_order(&admin(), &order("CAP-3", "D", 3, 45_000))
            .unwrap();
        t.app.run_pending_jobs().unwrap();
        assert_eq!((bonus_points(t, a), bonus_points(t, d)), (400, 100));
        healthy(t);
    }
);

both_backends!(
    a_mistyped_referral_code_is_refused_and_writes_nothing,
    |t: &TestApp| {
        let (a, code) = referrer(t, 5);
        // One symbol changed: the check symbol catches it.
        let mut typo: Vec<char> = code.chars().collect();
        typo[2] = if typo[2] == '7' { '8' } else { '7' };
        let typo: String = typo.into_iter().collect();
        let before = t.app.store.read(store::customers::count).unwrap();
        let e = t
            .app
            .create_customer_referred(&admin(), &member("TYPO", None), Some(&typo))
            .unwrap_err();
        assert!(
            matches!(&e, app::AppError::Invalid(f) if f.field == "referral_code"),
            "{e:?}"
        );
        assert_eq!(t.app.store.read(store::customers::count).unwrap(), before);
        let b = create(t, "B", None);
        let e = t.app.register_referral(&admin(), b, &typo).unwrap_err();
        assert!(
            matches!(&e, app::AppError::Invalid(f) if f.field == "referral_code"),
            "{e:?}"
        );
        assert!(t.app.referrals(b).unwrap().referred_by.is_none());
        assert!(t.app.referrals(a).unwrap().referred.is_empty());
        // After an order it is too late to be referred.
        t.app
            .place_order(&admin(), &order("LATE-1", "B", 1, 100))
            .unwrap();
        let e = t.app.register_referral(&admin(), b, &code).unwrap_err();
        assert!(
            matches!(&e, app::AppError::Invalid(f) if f.field == "referral_code"),
            "{e:?}"
        );
    }
);

both_backends!(
    free_lots_carry_no_revenue_in_the_roll_forward,
    |t: &TestApp| {
        t.app.install_default_programme(&admin()).unwrap();
        t.app
            .set_bonus_rules(
                &admin(),
                &rules(vec![rule("sign_up", None, 500)], "feb28", (0, 0, 0, 1)),
            )
            .unwrap();
        let Intake::Accepted(o) = t
            .app
            .place_order(&admin(), &order("ACC-1", "ACC", 3, 45_000))
            .unwrap()
        else {
            panic!("accepted")
        };
        let c = o.customer_id;
        let awards: Vec<(i64, i64)> = t
            .app
            .loyalty_lots(c)
            .unwrap()
            .into_iter()
            .filter(|l| l.kind == TransferKind::Bonus)
            .map(|l| (l.event_id, l.seq))
            .collect();
        assert_eq!(awards.len(), 1);
        let revenue_rows = |lot: (i64, i64)| {
            t.app
                .store
                .read(|tx| {
                    tx.query_one(
                        "SELECT COUNT(*) FROM transfers
                         WHERE event_id = $1 AND seq = $2 AND cohort IS NOT NULL",
                        store::args![lot.0, lot.1],
                    )?
                    .int(0)
                })
                .unwrap()
        };
        assert_eq!(revenue_rows(awards[0]), 0, "free points carry no revenue");
        assert_eq!(revenue_rows((o.order_id, 0)), 1, "purchase points do");
        // Spend exactly the free points (their lot is the oldest of the same expiry).
        let who = TestApp::principal(Role::Integration);
        let hold = t.app.reserve_points(&who, c, 500, None).unwrap();
        t.app.commit_hold(&who, c, hold.hold_id).unwrap();
        let report = t
            .app
            .liability_rollforward(Some("2026-03-01"), Some("2026-03-31"), None)
            .unwrap();
        let p = &report.periods[0];
        let allocated: i64 = t
            .app
            .store
            .read(|tx| {
                tx.query_one(
                    "SELECT CAST(SUM(allocated_minor) AS BIGINT) FROM transfers",
                    &[],
                )?
                .int(0)
            })
            .unwrap();
        assert!(allocated > 0);
        assert_eq!(
            (
                p.opening_minor,
                p.allocated_minor,
                p.recognised_minor,
                p.closing_minor
            ),
            (0, allocated, 0, allocated),
            "redeeming free points recognises no revenue"
        );
        healthy(t);
    }
);

both_backends!(
    bonus_bad_input_over_http_gets_codes_and_changes_nothing,
    |t: &TestApp| {
        t.app.install_default_programme(&admin()).unwrap();
        let manager = t
            .app
            .create_key(&app::Principal::cli(), Role::Manager, "bonus")
            .unwrap();
        let shop = t
            .app
            .create_key(&app::Principal::cli(), Role::Integration, "shop")
            .unwrap();
        let server = Server::start(t.app.clone());
        let addr = &server.addr;
        let put = |body: &str| {
            request(
                addr,
                "PUT",
                "/api/v1/loyalty/bonus-rules",
                Some(&manager),
                Some(body),
            )
        };
        let referral = r#""referral":{"referrer_points":200,"referee_points":100,"minimum_order_minor":100000,"referrer_cap":5,"cap_period":"month"}"#;
        // An unknown kind.
        let r = put(&format!(
            r#"{{"rules":[{{"kind":"likes","points":5}}],"leap_day_fallback":"feb28",{referral}}}"#
        ));
        assert_eq!(
            (r.status, r.json()["code"].clone()),
            (422, "invalid_field".into()),
            "{}",
            r.body
        );
        // A custom rule without a code; an unknown fallback.
        let r = put(&format!(
            r#"{{"rules":[{{"kind":"custom","points":5}}],"leap_day_fallback":"feb28",{referral}}}"#
        ));
        assert_eq!(
            (r.status, r.json()["code"].clone()),
            (422, "invalid_field".into()),
            "{}",
            r.body
        );
        let r = put(&format!(
            r#"{{"rules":[],"leap_day_fallback":"feb30",{referral}}}"#
        ));
        assert_eq!(r.status, 422, "{}", r.body);
        // A referral cap of zero names the field as sent.
        let r = put(
            r#"{"rules":[],"leap_day_fallback":"feb28","referral":{"referrer_points":1,"referee_points":1,"minimum_order_minor":0,"referrer_cap":0,"cap_period":"month"}}"#,
        );
        assert_eq!(
            (r.status, r.json()["errors"][0]["field"].clone()),
            (422, "referral.referrer_cap".into()),
            "{}",
            r.body
        );
        assert_eq!(
            get(addr, "/api/v1/loyalty/bonus-rules", &manager).json()["version"],
            0
        );
        // The integration key may not change the rules.
        let r = request(
            addr,
            "PUT",
            "/api/v1/loyalty/bonus-rules",
            Some(&shop),
            Some("{}"),
        );
        assert_eq!(r.status, 403);
        let r = put(&format!(
            r#"{{"rules":[{{"kind":"custom","code":"app_download","points":20}}],"leap_day_fallback":"mar1",{referral}}}"#
        ));
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["version"], 1);
        assert_eq!(r.json()["rules"][0]["code"], "app_download");
        // Awards: an unknown kind, an unknown custom code, a kind with no rule.
        let c = create(t, "H-1", None);
        let awards = format!("/api/v1/customers/{c}/loyalty/awards");
        for body in [
            r#"{"kind":"likes","external_id":"x-1"}"#,
            r#"{"kind":"custom","code":"newsletter","external_id":"x-1"}"#,
            r#"{"kind":"review","external_id":"x-1"}"#,
            r#"{"kind":"birthday","external_id":"x-1"}"#,
        ] {
            let r = post(addr, &awards, &shop, body);
            assert_eq!(
                (r.status, r.json()["code"].clone()),
                (422, "invalid_field".into()),
                "{body}: {}",
                r.body
            );
        }
        assert_eq!(t.app.points_balance(c).unwrap(), 0);
        let body = r#"{"kind":"custom","code":"app_download","external_id":"x-1"}"#;
        let r = post(addr, &awards, &shop, body);
        assert_eq!(
            (r.status, r.json()["points"].clone()),
            (201, 20.into()),
            "{}",
            r.body
        );
        let r = post(addr, &awards, &shop, body);
        assert_eq!(
            (r.status, r.json()["points"].clone()),
            (200, 20.into()),
            "{}",
            r.body
        );
        let r = post(addr, "/api/v1/customers/999999/loyalty/awards", &shop, body);
        assert_eq!(r.status, 404, "{}", r.body);
        assert_eq!(t.app.points_balance(c).unwrap(), 20);
        // Referral codes: generated once; a mistyped one is refused with a code.
        let r = get(addr, &format!("/api/v1/customers/{c}/referral-code"), &shop);
        assert_eq!(
            (r.status, r.json()["code"].clone()),
            (200, serde_json::Value::Null)
        );
        let r = post(
            addr,
            &format!("/api/v1/customers/{c}/referral-code"),
            &shop,
            "{}",
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let code = r.json()["code"].as_str().unwrap().to_owned();
        let r = get(addr, &format!("/api/v1/customers/{c}/referral-code"), &shop);
        assert_eq!(
            (r.status, r.json()["code"].clone()),
            (200, code.clone().into())
        );
        let mut typo: Vec<char> = code.chars().collect();
        typo[0] = if typo[0] == 'X' { 'Y' } else { 'X' };
        let typo: String = typo.into_iter().collect();
        let r = post(
            addr,
            "/api/v1/customers",
            &shop,
            &format!(r#"{{"identities":{{"shop_customer_id":"H-2"}},"referral_code":"{typo}"}}"#),
        );
        assert_eq!(
            (r.status, r.json()["code"].clone()),
            (422, "invalid_field".into()),
            "{}",
            r.body
        );
        assert_eq!(
            r.json()["errors"][0]["field"],
            "referral_code",
            "{}",
            r.body
        );
        let found = t
            .app
            .find_customer(&domain::Identity::parse(IdentityKind::ShopCustomerId, "H-2").unwrap())
            .unwrap();
        assert_eq!(found, None, "nothing written");
        let r = post(
            addr,
            "/api/v1/customers",
            &shop,
            &format!(r#"{{"identities":{{"shop_customer_id":"H-2"}},"referral_code":"{code}"}}"#),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let h2 = r.json()["id"].as_i64().unwrap();
        let r = get(addr, &format!("/api/v1/customers/{h2}/referrals"), &shop);
        assert_eq!(r.json()["referred_by"]["state"], "pending", "{}", r.body);
        let r = post(
            addr,
            &format!("/api/v1/customers/{h2}/referred-by"),
            &shop,
            &format!(r#"{{"referral_code":"{typo}"}}"#),
        );
        assert_eq!(
            (r.status, r.json()["code"].clone()),
            (422, "invalid_field".into()),
            "{}",
            r.body
        );
        healthy(t);
    }
);

both_backends!(
    one_award_posted_concurrently_over_http_is_written_once,
    |t: &TestApp| {
        t.app.install_default_programme(&admin()).unwrap();
        t.app
            .set_bonus_rules(
                &admin(),
                &rules(vec![rule("review", None, 15)], "feb28", (0, 0, 0, 1)),
            )
            .unwrap();
        let c = create(t, "CONC", None);
        let shop = t
            .app
            .create_key(&app::Principal::cli(), Role::Integration, "shop")
            .unwrap();
        let server = Server::start(t.app.clone());
        let path = format!("/api/v1/customers/{c}/loyalty/awards");
        let statuses: Vec<(u16, i64)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    let (addr, shop, path) = (server.addr.clone(), shop.clone(), path.clone());
                    s.spawn(move || {
                        let r = post(
                            &addr,
                            &path,
                            &shop,
                            r#"{"kind":"review","external_id":"rv-9"}"#,
                        );
                        (r.status, r.json()["award_id"].as_i64().unwrap_or(-1))
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let created = statuses.iter().filter(|s| s.0 == 201).count();
        let replayed = statuses.iter().filter(|s| s.0 == 200).count();
        assert_eq!((created, replayed), (1, 7), "{statuses:?}");
        assert!(
            statuses.iter().all(|s| s.1 == statuses[0].1),
            "one award id"
        );
        assert_eq!(bonus_lots(t, c), vec![(15, "review v1".to_owned())]);
        assert_eq!(t.app.points_balance(c).unwrap(), 15);
        healthy(t);
    }
);

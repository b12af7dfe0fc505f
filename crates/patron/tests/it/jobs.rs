//! Webhooks through the outbox and the job worker: signed per Standard Webhooks, retried with
//! backoff, dead-lettered, and delivered once even with two workers on one database.

use crate::support::order;
use app::Principal;
use domain::access::Role;
use jiff::SignedDuration;
use test_support::{TestApp, both_backends};

fn who() -> Principal {
    TestApp::principal(Role::Integration)
}

both_backends!(
    order_webhooks_are_signed_and_delivered_once,
    |t: &TestApp| {
        let admin = TestApp::principal(Role::Admin);
        let ep = t
            .app
            .create_webhook_endpoint(
                &admin,
                "http://127.0.0.1:9/hooks",
                &["order.placed".to_owned()],
            )
            .unwrap();
        t.app
            .place_order(&who(), &order("W-1", "C-1", 1, 50_000))
            .unwrap();
        t.app
            .place_order(&who(), &order("W-1", "C-1", 1, 50_000))
            .unwrap(); // a replay publishes nothing
        assert!(
            t.sender.sent.lock().unwrap().is_empty(),
            "nothing is sent inside the request"
        );
        let run = t.app.run_pending_jobs().unwrap();
        assert_eq!(run.done, 1);
        let sent = t.sender.sent.lock().unwrap().clone();
        assert_eq!(sent.len(), 1);
        let h = |name: &str| {
            sent[0]
                .headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        let ts: i64 = h("webhook-timestamp").parse().unwrap();
        let expected =
            app::webhooks::sign(&ep.secret, &h("webhook-id"), ts, &sent[0].body).unwrap();
        assert_eq!(h("webhook-signature"), expected);
        let body: serde_json::Value = serde_json::from_str(&sent[0].body).unwrap();
        assert_eq!(body["type"], "order.placed");
        assert_eq!(body["data"]["points_earned"], 5);
        assert_eq!(
            t.app.run_pending_jobs().unwrap(),
            app::jobs::JobRun::default()
        );
    }
);

both_backends!(
    failed_deliveries_back_off_then_dead_letter,
    |t: &TestApp| {
        let admin = TestApp::principal(Role::Admin);
        t.app
            .create_webhook_endpoint(&admin, "http://127.0.0.1:9/hooks", &["*".to_owned()])
            .unwrap();
        *t.sender.script.lock().unwrap() = vec![500; 100];
        t.app
            .place_order(&who(), &order("W-2", "C-1", 1, 50_000))
            .unwrap();
        let mut attempts = 0;
        for _ in 0..t.app.settings.job_attempts_max {
            let run = t.app.run_pending_jobs().unwrap();
            attempts += run.retried + run.dead;
            // Not due again until the backoff has passed.
            assert_eq!(
                t.app.run_pending_jobs().unwrap(),
                app::jobs::JobRun::default()
            );
            t.advance(SignedDuration::from_hours(2));
        }
        assert_eq!(attempts as i64, t.app.settings.job_attempts_max);
        let states = t
            .app
            .store
            .read(|tx| store::jobs::states_of_kind(tx, app::webhooks::DELIVER_JOB))
            .unwrap();
        assert_eq!(states.len(), 1);
        assert_eq!(states[0].1, "dead");
        assert_eq!(
            t.sender.sent.lock().unwrap().len() as i64,
            t.app.settings.job_attempts_max
        );
    }
);

both_backends!(two_workers_deliver_each_message_once, |t: &TestApp| {
    let admin = TestApp::principal(Role::Admin);
    t.app
        .create_webhook_endpoint(
            &admin,
            "http://127.0.0.1:9/hooks",
            &["order.placed".to_owned()],
        )
        .unwrap();
    let batch: Vec<_> = (0..200)
        .map(|i| order(&format!("P-{i}"), &format!("C-{}", i % 7), 1, 20_000))
        .collect();
    t.app.place_orders(&who(), &batch).unwrap();
    let other = t.sibling(99);
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| t.app.run_pending_jobs().unwrap());
        let b = s.spawn(|| other.run_pending_jobs().unwrap());
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!(a.done + b.done, 200, "{a:?} {b:?}");
    let sent = t.sender.sent.lock().unwrap();
    let mut ids: Vec<String> = sent
        .iter()
        .map(|w| {
            w.headers
                .iter()
                .find(|(k, _)| k == "webhook-id")
                .unwrap()
                .1
                .clone()
        })
        .collect();
    assert_eq!(ids.len(), 200);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 200, "no message delivered twice");
});

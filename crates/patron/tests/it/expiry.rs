//! The batched expiry (`store::loyalty::expire_lots`: a few multi-row statements per chunk of
//! lots): it expires exactly what is due, and refuses — changing nothing — when a lot no longer
//! holds the points it was read with (a spend between the read and the write).

use crate::support::order;
use app::intake::Intake;
use app::loyalty::ProgrammeSettings;
use domain::access::Role;
use jiff::SignedDuration;
use test_support::{TestApp, both_backends};

both_backends!(
    batched_expiry_expires_what_is_due_and_refuses_a_stale_lot,
    |t: &TestApp| {
        let who = TestApp::principal(Role::Manager);
        t.app
            .update_programme(
                &who,
                &ProgrammeSettings {
                    time_zone: "Asia/Taipei".to_owned(),
                    currency: "TWD".to_owned(),
                    point_value_minor: 100,
                    pending_days: 0,
                    expiry: "days:1".to_owned(),
                    expired_restore: "forfeit".to_owned(),
                    reminder_days: 0,
                    wallet_kind: "free".to_owned(),
                    shortfall: "debt".to_owned(),
                },
            )
            .unwrap();
        let mut customers = Vec::new();
        for i in 0..300 {
            let Intake::Accepted(o) = t
                .app
                .place_order(
                    &who,
                    &order(
                        &format!("E-{i}"),
                        &format!("C-{}", i % 7),
                        1,
                        50_000 + 10_000 * (i % 3),
                    ),
                )
                .unwrap()
            else {
                panic!("accepted")
            };
            customers.push(o.customer_id);
        }
        t.advance(SignedDuration::from_hours(24 * 3));
        let now = t.app.now().as_microsecond();
        // A lot read with one point more than it holds: the batch is refused as a whole.
        let refused = t.app.store.write(|tx| -> anyhow::Result<()> {
            let mut due = store::loyalty::due_expiring_lots(tx, now - 1_000_000, 1_000)?;
            assert_eq!(due.len(), 300);
            due[123].remaining += 1;
            let event = store::events::insert(
                tx,
                &store::events::NewEvent {
                    source: "patron",
                    external_id: "stale-expiry",
                    kind: domain::EventKind::PointsExpired,
                    customer_id: None,
                    order_event_id: None,
                    occurred_at_micros: now,
                    recorded_at_micros: now,
                    currency: None,
                    amount_minor: None,
                    content_hash: &[],
                    body: "{}",
                },
            )?
            .unwrap();
            let issuance = store::ledger::system_account(tx, store::ledger::ISSUANCE_ACCOUNT)?;
            store::loyalty::expire_lots(tx, event, issuance, now, &due)
        });
        assert!(refused.is_err(), "a stale lot refuses the batch");
        let held = |t: &TestApp| -> i64 {
            customers
                .iter()
                .collect::<std::collections::BTreeSet<_>>()
                .iter()
                .map(|c| t.app.points_balance(**c).unwrap())
                .sum()
        };
        // 100 orders each of 5, 6 and 7 points.
        assert_eq!(held(t), 1_800, "nothing changed");
        assert_eq!(t.app.expire_due().unwrap(), 1_800);
        assert_eq!(held(t), 0);
        assert_eq!(t.app.expire_due().unwrap(), 0, "idempotent");
        let check = t.app.store.read(store::ledger::check).unwrap();
        assert!(check.is_healthy(), "{check:?}");
    }
);

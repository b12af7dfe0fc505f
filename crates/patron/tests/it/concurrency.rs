//! The same order posted by 16 concurrent HTTP clients is stored once and earns once.

use crate::http::{Server, post};
use domain::access::Role;
use test_support::{TestApp, both_backends};

both_backends!(same_order_from_16_clients_is_stored_once, |t: &TestApp| {
    let key = t
        .app
        .create_key(&app::Principal::cli(), Role::Integration, "concurrency")
        .unwrap();
    let server = Server::start(t.app.clone());
    let body = r#"{"source":"web","external_id":"race-1","customer":{"identities":{"shop_customer_id":"C-race"}},
                   "lines":[{"sku":"TEA","quantity":3,"unit_price_minor":45000}]}"#;
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(16));
    let answers: Vec<(u16, serde_json::Value, bool)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..16)
            .map(|_| {
                let (addr, key, barrier) = (server.addr.clone(), key.clone(), barrier.clone());
                s.spawn(move || {
                    barrier.wait();
                    let r = post(&addr, "/api/v1/orders", &key, body);
                    (
                        r.status,
                        r.json(),
                        r.header("Patron-Replayed") == Some("true"),
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        answers.iter().filter(|a| a.2).count(),
        15,
        "one accepted, fifteen replayed"
    );
    for (status, body, _) in &answers {
        assert_eq!(*status, 201, "{body}");
        assert_eq!(body, &answers[0].1, "every client sees the first outcome");
    }
    assert_eq!(answers[0].1["points_earned"], 13);
    let customer = answers[0].1["customer_id"].as_i64().unwrap();
    assert_eq!(t.app.points_balance(customer).unwrap(), 13);
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
    assert!(t.app.store.read(store::ledger::check).unwrap().is_healthy());
});

both_backends!(
    distinct_orders_from_concurrent_clients_all_earn,
    |t: &TestApp| {
        let key = t
            .app
            .create_key(&app::Principal::cli(), Role::Integration, "concurrency")
            .unwrap();
        let server = Server::start(t.app.clone());
        std::thread::scope(|s| {
            for c in 0..8 {
                let (addr, key) = (server.addr.clone(), key.clone());
                s.spawn(move || {
                for i in 0..10 {
                    let body = format!(
                        r#"{{"source":"web","external_id":"o-{c}-{i}","customer":{{"identities":{{"shop_customer_id":"C-{}"}}}},"lines":[{{"sku":"TEA","quantity":1,"unit_price_minor":10000}}]}}"#,
                        i % 3
                    );
                    let r = post(&addr, "/api/v1/orders", &key, &body);
                    assert_eq!(r.status, 201, "{}", r.body);
                }
            });
            }
        });
        let total: i64 = ["C-0", "C-1", "C-2"]
            .iter()
            .map(|c| {
                let id = t
                    .app
                    .find_customer(
                        &domain::Identity::parse(domain::IdentityKind::ShopCustomerId, c).unwrap(),
                    )
                    .unwrap()
                    .unwrap();
                t.app.points_balance(id).unwrap()
            })
            .sum();
        assert_eq!(total, 80);
        assert!(t.app.store.read(store::ledger::check).unwrap().is_healthy());
    }
);

/// Two transactions that lock two rows in opposite orders: PostgreSQL breaks the deadlock by
/// failing one; `write` runs the victim again, and both commit, the victim's first attempt
/// rolled back. (SQLite's one writer cannot deadlock.)
#[test]
fn a_deadlock_victim_is_run_again_postgres() {
    use std::sync::Barrier;
    use std::sync::atomic::{AtomicU32, Ordering};
    let Some(db) = test_support::TestDatabase::new(test_support::Backend::Postgres) else {
        return;
    };
    let store = db.open();
    store
        .write(|tx| {
            tx.batch(
                "CREATE TABLE deadlock_probe (id BIGINT PRIMARY KEY, n BIGINT NOT NULL);
                 INSERT INTO deadlock_probe VALUES (1, 0), (2, 0);",
            )
        })
        .unwrap();
    let bump = |tx: &mut store::sql::Tx<'_>, id: i64| {
        tx.execute(
            "UPDATE deadlock_probe SET n = n + 1 WHERE id = $1",
            store::args![id],
        )
    };
    // Each side locks its first row, waits for the other to do the same, then asks for the
    // other's row; only the first attempt waits at the barrier.
    let run = || {
        let barrier = Barrier::new(2);
        let attempts = AtomicU32::new(0);
        let results: Vec<anyhow::Result<()>> = std::thread::scope(|s| {
            let handles: Vec<_> = [(1, 2), (2, 1)]
                .into_iter()
                .map(|(first, second)| {
                    let (store, barrier, attempts) = (&store, &barrier, &attempts);
                    s.spawn(move || {
                        let mut mine = 0;
                        let work = |tx: &mut store::sql::Tx<'_>| {
                            attempts.fetch_add(1, Ordering::SeqCst);
                            mine += 1;
                            bump(tx, first)?;
                            if mine == 1 {
                                barrier.wait();
                            }
                            bump(tx, second)?;
                            Ok::<_, anyhow::Error>(())
                        };
                        store.write(work)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        (results, attempts.into_inner())
    };
    let counts = || -> Vec<i64> {
        store
            .read(|tx| {
                tx.query("SELECT n FROM deadlock_probe ORDER BY id", &[])?
                    .iter()
                    .map(|r| r.int(0))
                    .collect::<anyhow::Result<Vec<i64>>>()
            })
            .unwrap()
    };

    let (results, attempts) = run();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(attempts, 3, "the victim ran twice");
    assert_eq!(counts(), [2, 2], "each update counted once");
}

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

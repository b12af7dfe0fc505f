//! Importing voucher codes concurrently: the same new code sent by several requests at once is
//! added once; every other request answers 409 `voucher_code_taken` and adds nothing (on
//! PostgreSQL the insert skips a code a concurrent transaction committed meanwhile).

use crate::http::{Server, post};
use domain::access::Role;
use test_support::{TestApp, both_backends};

const REQUESTS: usize = 8;

both_backends!(
    concurrent_imports_of_one_new_code_count_it_once,
    |t: &TestApp| {
        let key = t
            .app
            .create_key(&app::Principal::cli(), Role::Manager, "vouchers")
            .unwrap();
        let server = Server::start(t.app.clone());
        let r = post(
            &server.addr,
            "/api/v1/rewards",
            &key,
            r#"{"name":"Tea cup","points_price":100,"issues_voucher":true}"#,
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let reward = r.json()["id"].as_i64().unwrap();
        let path = format!("/api/v1/rewards/{reward}/vouchers");
        for round in 0..5 {
            let code = format!("RACE-{round}");
            let body = format!(r#"{{"codes":["{code}","ONLY-{round}-"]}}"#);
            let barrier = std::sync::Barrier::new(REQUESTS);
            let answers: Vec<(u16, String)> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..REQUESTS)
                    .map(|i| {
                        let (addr, key, path, barrier) = (&server.addr, &key, &path, &barrier);
                        // Each request has one code of its own besides the shared one: a
                        // refused request must add neither.
                        let body =
                            body.replace(&format!("ONLY-{round}-"), &format!("ONLY-{round}-{i}"));
                        s.spawn(move || {
                            barrier.wait();
                            let r = post(addr, path, key, &body);
                            let code = r.json()["code"].as_str().unwrap_or_default().to_owned();
                            (r.status, code)
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            let won = answers.iter().filter(|a| a.0 == 201).count();
            assert_eq!(won, 1, "round {round}: {answers:?}");
            assert!(
                answers
                    .iter()
                    .all(|a| a.0 == 201 || (a.0, a.1.as_str()) == (409, "voucher_code_taken")),
                "round {round}: {answers:?}"
            );
            assert_eq!(
                t.app.reward(reward).unwrap().codes_available,
                2 * (round + 1),
                "round {round}: the shared code and the winner's own, nothing else"
            );
        }
    }
);

//! Two real `patron serve` processes on one database: every webhook job and every SLA timer
//! runs exactly once.

use crate::http::{patron, post, read_until};
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use test_support::{Backend, TestDatabase};

/// A webhook receiver on loopback: sends each delivery's `webhook-id` down the channel.
fn receiver() -> (String, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                let (mut id, mut length) = (None, 0usize);
                loop {
                    line.clear();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let l = line.trim_end();
                    if l.is_empty() {
                        break;
                    }
                    if let Some((k, v)) = l.split_once(':') {
                        match k.to_ascii_lowercase().as_str() {
                            "webhook-id" => id = Some(v.trim().to_owned()),
                            "content-length" => length = v.trim().parse().unwrap_or(0),
                            _ => {}
                        }
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                if let Some(id) = id {
                    let _ = tx.send(id);
                }
            });
        }
    });
    (addr, rx)
}

/// A `patron serve` on `url`; its log (stderr) piped when `log` is set.
fn serve(url: &str, log: bool) -> (Child, String) {
    let mut child = patron()
        .args(["--database-url", url, "serve", "--listen", "127.0.0.1:0"])
        .env("PATRON_JOBS_POLL_INTERVAL_MS", "20")
        .stdout(Stdio::piped())
        .stderr(if log { Stdio::piped() } else { Stdio::null() })
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let line = read_until(&mut out, "listening on");
    (child, line.rsplit("http://").next().unwrap().to_owned())
}

fn two_instances_deliver_each_webhook_once(backend: Backend) {
    let Some(db) = TestDatabase::new(backend) else {
        return;
    };
    db.open();
    let url = db.url_for_child();
    let key = |role: &str| {
        let out = patron()
            .args(["--database-url", &url, "keys", "create", "--role", role])
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let (admin, shop) = (key("admin"), key("integration"));
    let (hook_addr, deliveries) = receiver();
    let (mut a, addr_a) = serve(&url, false);
    let (mut b, addr_b) = serve(&url, false);
    let endpoint = post(
        &addr_a,
        "/api/v1/webhooks",
        &admin,
        &format!(r#"{{"url":"http://{hook_addr}/hook","topics":["order.placed"]}}"#),
    );
    assert_eq!(endpoint.status, 201, "{}", endpoint.body);
    let orders = 100;
    for i in 0..orders {
        let addr = if i % 2 == 0 { &addr_a } else { &addr_b };
        let body = format!(
            r#"{{"source":"web","external_id":"two-{i}","customer":{{"identities":{{"shop_customer_id":"C-{}"}}}},"lines":[{{"sku":"TEA","quantity":1,"unit_price_minor":20000}}]}}"#,
            i % 9
        );
        let r = post(addr, "/api/v1/orders", &shop, &body);
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let mut seen = HashSet::new();
    for n in 0..orders {
        let id = deliveries
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("only {n} of {orders} webhooks arrived"));
        assert!(seen.insert(id.clone()), "{id} delivered twice");
    }
    // Both workers keep polling; nothing more may arrive.
    assert!(
        deliveries.recv_timeout(Duration::from_millis(500)).is_err(),
        "an extra delivery arrived"
    );
    for c in [&mut a, &mut b] {
        c.kill().unwrap();
        c.wait().unwrap();
    }
    let states = db
        .open()
        .read(|tx| store::jobs::states_of_kind(tx, app::webhooks::DELIVER_JOB))
        .unwrap();
    assert_eq!(states.len(), orders);
    assert!(
        states
            .iter()
            .all(|(_, state, attempts)| state == "done" && *attempts == 1),
        "{states:?}"
    );
}

#[test]
fn two_serve_instances_sqlite() {
    two_instances_deliver_each_webhook_once(Backend::Sqlite);
}

#[test]
fn two_serve_instances_postgres() {
    two_instances_deliver_each_webhook_once(Backend::Postgres);
}

/// 1,000 tickets whose first-response timers fell due months ago (opened under the test clock),
/// then two `patron serve` processes on the system clock: each timer fires once, each breach is
/// recorded once, and no job is claimed twice.
fn two_instances_fire_each_sla_timer_once(backend: Backend) {
    let Some(t) = test_support::TestApp::new(backend) else {
        return;
    };
    const TICKETS: usize = 1_000;
    let who = test_support::TestApp::principal(domain::access::Role::Integration);
    for i in 0..TICKETS {
        t.app
            .open_ticket(&who, &crate::desk::line_ticket(&format!("U-two-{i}")))
            .unwrap();
    }
    let breaches = || {
        t.db.open()
            .read(|tx| store::desk::count_sla_events(tx, "first_response", "breach"))
            .unwrap()
    };
    assert!(breaches().is_empty(), "no timer has run yet");
    let url = t.db.url_for_child();
    // Each process logs a line per breach it records: both logs feed one channel.
    let (logged, breach_lines) = mpsc::channel();
    let mut children = Vec::new();
    for _ in 0..2 {
        let (mut child, _) = serve(&url, true);
        let log = BufReader::new(child.stderr.take().unwrap());
        let logged = logged.clone();
        std::thread::spawn(move || {
            for line in log.lines().map_while(Result::ok) {
                if line.contains("SLA breached") && line.contains("first_response") {
                    let _ = logged.send(());
                }
            }
        });
        children.push(child);
    }
    for n in 0..TICKETS {
        breach_lines
            .recv_timeout(Duration::from_secs(180))
            .unwrap_or_else(|_| panic!("only {n} of {TICKETS} breaches logged"));
    }
    // Both keep polling until their logs stay quiet: nothing may run twice.
    while breach_lines
        .recv_timeout(Duration::from_millis(500))
        .is_ok()
    {}
    for c in &mut children {
        c.kill().unwrap();
        c.wait().unwrap();
    }
    let recorded = breaches();
    assert_eq!(recorded.len(), TICKETS);
    assert!(recorded.iter().all(|(_, n)| *n == 1), "{recorded:?}");
    let states =
        t.db.open()
            .read(|tx| store::jobs::states_of_kind(tx, app::desk::SLA_TIMER_JOB))
            .unwrap();
    assert!(states.len() >= TICKETS, "{} timers", states.len());
    assert!(
        states
            .iter()
            .all(|(_, state, attempts)| state != "dead" && *attempts <= 1),
        "a timer was claimed twice or died: {:?}",
        states
            .iter()
            .filter(|(_, state, attempts)| state == "dead" || *attempts > 1)
            .collect::<Vec<_>>()
    );
    let done = states
        .iter()
        .filter(|(_, state, _)| state == "done")
        .count();
    assert!(done >= TICKETS, "{done} timers done");
}

#[test]
fn two_serve_instances_fire_sla_timers_once_sqlite() {
    two_instances_fire_each_sla_timer_once(Backend::Sqlite);
}

#[test]
fn two_serve_instances_fire_sla_timers_once_postgres() {
    two_instances_fire_each_sla_timer_once(Backend::Postgres);
}

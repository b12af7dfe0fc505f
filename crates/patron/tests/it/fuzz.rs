//! Random bodies against the real router: whatever arrives, the answer is a 2xx or a 4xx
//! problem+json with a code — never a 5xx, never a dropped connection.

use crate::http::{Server, request};
use app::workload::Rng;
use domain::access::Role;
use test_support::{Backend, TestApp};

const VALID: &[(&str, &str)] = &[
    (
        "/api/v1/orders",
        r#"{"source":"web","external_id":"F-1","customer":{"identities":{"email":"a@b.tw","phone":"0912345678"},"name":"王小明"},"occurred_at":"2026-03-01T02:00:00Z","currency":"TWD","lines":[{"sku":"TEA","category":"茶葉","quantity":2,"unit_price_minor":45000}]}"#,
    ),
    (
        "/api/v1/refunds",
        r#"{"source":"web","external_id":"RF-1","order":{"external_id":"F-1"},"lines":[{"line":0,"quantity":1}]}"#,
    ),
    (
        "/api/v1/customers",
        r#"{"identities":{"shop_customer_id":"C-9","line_user_id":"U123"},"name":"林怡君","birthday":"1990-02-28","locale":"zh-TW","time_zone":"Asia/Taipei"}"#,
    ),
    (
        "/api/v1/events",
        r#"{"source":"web","external_id":"E-1","kind":"cart_updated","customer":{"id":1},"data":{"value_minor":12000,"currency":"TWD"}}"#,
    ),
    (
        "/api/v1/customers/1/points/corrections",
        r#"{"points":-5,"reason":"補償"}"#,
    ),
];

const TOKENS: &[&str] = &[
    "-1",
    "1.5",
    "1e308",
    "null",
    "true",
    "\"\"",
    "[]",
    "{}",
    "\"XYZ\"",
    "9223372036854775807",
    "-9223372036854775808",
    "\"\u{0}\"",
    "\"😀\"",
    "\"2026-13-45\"",
    "{\"a\":",
    "]",
    "\\u0000",
    "\"\\ud800\"",
];

fn token(rng: &mut Rng) -> &'static str {
    TOKENS[rng.below(TOKENS.len() as u64) as usize]
}

#[test]
fn random_bodies_never_crash_the_api() {
    let t = TestApp::new(Backend::Sqlite).unwrap();
    let key = t
        .app
        .create_key(&app::Principal::cli(), Role::Admin, "fuzz")
        .unwrap();
    let server = Server::start(t.app.clone());
    for (path, body) in VALID {
        request(&server.addr, "POST", path, Some(&key), Some(body));
    }
    let seed = 0xf022_u64;
    let mut rng = Rng::seeded(seed);
    for case in 0..1_500 {
        let (path, base) = *rng.pick(VALID);
        let mut body = base.to_owned();
        for _ in 0..1 + rng.below(3) {
            if body.is_empty() {
                body.push_str(token(&mut rng));
            }
            let chars: Vec<(usize, char)> = body.char_indices().collect();
            let (at, _) = chars[rng.below(chars.len() as u64) as usize];
            match rng.below(4) {
                0 => body.insert_str(at, token(&mut rng)),
                1 => {
                    let end = (at + 1 + rng.below(12) as usize).min(body.len());
                    if body.is_char_boundary(end) {
                        body.replace_range(at..end, token(&mut rng));
                    }
                }
                2 => body.truncate(at),
                _ => {
                    // Replace a number with an extreme one.
                    if let Some(p) = body[at..]
                        .find(|c: char| c.is_ascii_digit())
                        .map(|p| p + at)
                    {
                        body.insert_str(p, "99999999999999999999");
                    }
                }
            }
        }
        let r = request(&server.addr, "POST", path, Some(&key), Some(&body));
        let ctx = format!("case {case} (seed {seed:#x}): POST {path} {body}");
        assert!(r.status < 500, "{ctx} → {} {}", r.status, r.body);
        if r.status >= 400 {
            assert_eq!(
                r.header("content-type"),
                Some("application/problem+json"),
                "{ctx}"
            );
            assert!(r.json()["code"].is_string(), "{ctx}: {}", r.body);
        }
    }
    assert!(t.app.store.read(store::ledger::check).unwrap().is_healthy());
}

//! The router in-process against a real `App` on a fresh SQLite file per test: the auth
//! matrix over the route table, the error envelope for bad input, idempotency keys, intake
//! duplicates and conflicts, metrics and the OpenAPI document.

use crate::routes::{Access, ROUTES};
use crate::{ApiOptions, router};
use app::sys::{ManualClock, SeededEntropy};
use app::webhooks::WebhookSender;
use app::{App, Principal};
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use domain::access::Role;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tower::ServiceExt;

/// Records the webhook posts it is asked to make.
#[derive(Debug, Default)]
struct RecordingSender(Mutex<Vec<String>>);

impl WebhookSender for RecordingSender {
    fn post(&self, url: &str, _headers: &[(&str, String)], _body: &str) -> Result<u16, String> {
        self.0.lock().unwrap().push(url.to_owned());
        Ok(200)
    }
}

/// A fresh store, an app, a router and one key per role.
struct TestApi {
    app: App,
    router: Router,
    keys: HashMap<Role, String>,
    dir: PathBuf,
}

impl Drop for TestApi {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An answer: status, headers and the body as JSON (or as a string when it is not JSON).
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or_default()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn text(&self) -> &str {
        self.body.as_str().unwrap_or_default()
    }
}

static DIRS: AtomicU64 = AtomicU64::new(0);

impl TestApi {
    fn new(options: ApiOptions) -> TestApi {
        let dir = std::env::temp_dir().join(format!(
            "patron-api-test-{}-{}",
            std::process::id(),
            DIRS.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("patron.db").to_string_lossy().into_owned();
        let store =
            store::Store::open(&store::DatabaseUrl::Sqlite { path }, &Default::default()).unwrap();
        let clock = Arc::new(ManualClock::new("2025-03-01T02:00:00Z".parse().unwrap()));
        let app = App::new(
            store,
            clock,
            Arc::new(SeededEntropy::new(7)),
            Arc::new(RecordingSender::default()),
            app::Settings::default(),
        );
        let keys = Role::ALL
            .into_iter()
            .map(|r| (r, app.create_key(&Principal::cli(), r, "test").unwrap()))
            .collect();
        if options.bench_scratch {
            app.bench_scratch_create().unwrap();
        }
        TestApi {
            router: router(app.clone(), options),
            app,
            keys,
            dir,
        }
    }

    fn key(&self, role: Role) -> &str {
        &self.keys[&role]
    }

    async fn send(&self, req: Request<Body>) -> Answer {
        let response = self.router.clone().oneshot(req).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer {
            status,
            headers,
            body,
        }
    }

    /// A request as admin, with a JSON body when given.
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        self.call_as(Some(self.key(Role::Admin)), method, path, body, &[])
            .await
    }

    async fn call_as(
        &self,
        key: Option<&str>,
        method: &str,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let body = body.map(|b| b.to_string());
        self.raw(key, method, path, body.as_deref(), headers).await
    }

    async fn raw(
        &self,
        key: Option<&str>,
        method: &str,
        path: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(k) = key {
            req = req.header("authorization", format!("Bearer {k}"));
        }
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let body = body.map_or_else(Body::empty, |b| Body::from(b.to_owned()));
        self.send(req.body(body).unwrap()).await
    }
}

fn order(external_id: &str, quantity: i64) -> Value {
    json!({
        "source": "shop",
        "external_id": external_id,
        "customer": { "identities": { "shop_customer_id": "c-1", "email": "Amy@Example.com" }, "name": "Amy" },
        "occurred_at": "2025-02-28T10:00:00+08:00",
        "lines": [{ "sku": "TEA-1", "category": "tea", "quantity": quantity, "unit_price_minor": 25_000 }],
    })
}

fn concrete(path: &str) -> String {
    // Promotion ids start at 100001, apart from the other rule ids.
    let id = if path.starts_with("/api/v1/loyalty/promotions/") {
        "100001"
    } else {
        "1"
    };
    path.replace("{id}", id)
        .replace("{attachment_id}", "1")
        .replace("{token}", "00000000000000000000000000000000")
}

/// A raw e-mail with one attachment (`hello`).
const EMAIL_WITH_ATTACHMENT: &str = "From: Amy <amy@example.com>\r\nSubject: =?UTF-8?B?5YyF6KOd?=\r\n\
    Message-ID: <m1@example.com>\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
    --b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\u{5305}\u{88dd}\u{58de}\u{4e86}\r\n\
    --b\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename=\"box.png\"\r\n\
    Content-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n--b--\r\n";

impl TestApi {
    /// Posts a raw message to the inbound e-mail webhook as admin.
    async fn post_email(&self, raw: &str) -> Answer {
        let req = Request::builder()
            .method("POST")
            .uri("/api/v1/desk/inbound/email")
            .header("authorization", format!("Bearer {}", self.key(Role::Admin)))
            .header("content-type", "message/rfc822")
            .body(Body::from(raw.to_owned()))
            .unwrap();
        self.send(req).await
    }
}

#[tokio::test]
async fn inbound_email_outcomes_quarantine_and_attachments() {
    let t = TestApi::new(ApiOptions::default());
    let a = t.post_email(EMAIL_WITH_ATTACHMENT).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(a.body["outcome"], "ticket");
    assert_eq!(a.body["opened"], true);
    let ticket = a.body["ticket_id"].as_i64().unwrap();
    assert_eq!(
        t.post_email(EMAIL_WITH_ATTACHMENT).await.body["outcome"],
        "duplicate"
    );
    let auto = "From: a@b.tw\r\nAuto-Submitted: auto-replied\r\n\r\nOut of office";
    let a = t.post_email(auto).await;
    assert_eq!(
        (a.body["outcome"].as_str(), a.body["reason"].as_str()),
        (Some("ignored"), Some("auto_submitted"))
    );
    let a = t.post_email("garbage without headers").await;
    assert_eq!(a.body["outcome"], "quarantined");
    let listed = t
        .call("GET", "/api/v1/desk/inbound/email/quarantine", None)
        .await;
    assert_eq!(
        listed.body["items"][0]["error"],
        "the message does not start with a header section"
    );
    let id = listed.body["items"][0]["id"].as_i64().unwrap();
    let raw = t
        .call(
            "GET",
            &format!("/api/v1/desk/inbound/email/quarantine/{id}"),
            None,
        )
        .await;
    assert_eq!(raw.text(), "garbage without headers");
    let files = t
        .call(
            "GET",
            &format!("/api/v1/tickets/{ticket}/attachments"),
            None,
        )
        .await;
    assert_eq!(files.body[0]["filename"], "box.png");
    assert_eq!(files.body[0]["stored"], true);
    let file_id = files.body[0]["id"].as_i64().unwrap();
    let file = t
        .call(
            "GET",
            &format!("/api/v1/tickets/{ticket}/attachments/{file_id}"),
            None,
        )
        .await;
    assert_eq!(file.text(), "hello");
    assert_eq!(
        file.header("content-disposition"),
        Some("attachment; filename=\"box.png\"")
    );
    // Over the general body limit, within the e-mail limit: accepted.
    let big = format!(
        "From: b@c.tw\r\nSubject: big\r\n\r\n{}",
        "x".repeat(crate::REQUEST_BODY_BYTES_MAX + 10)
    );
    assert_eq!(t.post_email(&big).await.body["outcome"], "ticket");
    // Not message/rfc822: refused, nothing stored.
    let a = t
        .call("POST", "/api/v1/desk/inbound/email", Some(json!({})))
        .await;
    assert_eq!(a.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Only integration and admin keys may post mail.
    let req = Request::builder()
        .method("POST")
        .uri("/api/v1/desk/inbound/email")
        .header("authorization", format!("Bearer {}", t.key(Role::Agent)))
        .header("content-type", "message/rfc822")
        .body(Body::from(EMAIL_WITH_ATTACHMENT))
        .unwrap();
    assert_eq!(t.send(req).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn auth_matrix_every_route_and_role() {
    let t = TestApi::new(ApiOptions {
        bench_scratch: true,
    });
    t.call("POST", "/api/v1/orders", Some(order("o-1", 1)))
        .await;
    // Ticket 1 is an e-mail ticket with attachment 1; quarantined message 1 is unreadable.
    assert_eq!(
        t.post_email(EMAIL_WITH_ATTACHMENT).await.body["ticket_id"],
        1
    );
    assert_eq!(t.post_email("not mail").await.body["quarantine_id"], 1);
    let ticket = json!({ "channel": "line", "body": "包裹還沒到" });
    t.call("POST", "/api/v1/tickets", Some(ticket)).await;
    let reward = json!({ "name": "Tea cup", "points_price": 10 });
    t.call("POST", "/api/v1/rewards", Some(reward)).await;
    // Promotion 100001, under a stored programme.
    let programme = json!({ "time_zone": "Asia/Taipei", "currency": "TWD",
        "point_value_minor": 100, "pending_days": 0, "expiry": "never",
        "expired_restore": "forfeit", "reminder_days": 0, "wallet_kind": "free" });
    let stored = t
        .call("PUT", "/api/v1/loyalty/programme", Some(programme))
        .await;
    assert_eq!(stored.status, StatusCode::OK, "{}", stored.body);
    let promotion = json!({ "name": "Double", "target": "all", "effect": "multiplier:20000" });
    let made = t
        .call("POST", "/api/v1/loyalty/promotions", Some(promotion))
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let test = json!({ "name": "ack wording", "template_key": "ack", "variants": [
        { "name": "a", "template": "ack", "weight": 1 },
        { "name": "b", "template": "ack", "weight": 1 },
    ]});
    let made = t.call("POST", "/api/v1/desk/ab-tests", Some(test)).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let signed: Vec<&str> = ROUTES
        .iter()
        .filter(|r| r.access == Access::Signed)
        .map(|r| r.path)
        .collect();
    assert_eq!(
        signed,
        ["/api/v1/channels/line/webhook"],
        "signature-authenticated routes are few and named"
    );
    for route in ROUTES {
        let method = route.verb.method();
        let path = concrete(route.path);
        let body = (method == axum::http::Method::POST).then(|| json!({}));
        let anonymous = t
            .call_as(None, method.as_str(), &path, body.clone(), &[])
            .await;
        let wrong = t
            .call_as(
                Some("ptr_00000000_00000000000000000000000000000000"),
                method.as_str(),
                &path,
                body.clone(),
                &[],
            )
            .await;
        if route.access == Access::Public {
            assert_eq!(anonymous.status, StatusCode::OK, "{path}");
            continue;
        }
        if route.access == Access::Token {
            // The token in the path is the credential: an unknown one is not found (an
            // empty rating is invalid first), with or without a key, whatever the role.
            let expected = if method == axum::http::Method::GET {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            for a in [&anonymous, &wrong] {
                assert_eq!(a.status, expected, "{path}: {}", a.body);
            }
            for role in Role::ALL {
                let a = t
                    .call_as(Some(t.key(role)), method.as_str(), &path, body.clone(), &[])
                    .await;
                assert!(!route.access.allows(role));
                assert_eq!(a.status, expected, "{path} as {role:?}");
            }
            continue;
        }
        if route.access == Access::Signed {
            // No key is asked for, and none replaces the signature: every caller without a
            // valid signature is refused, whatever its role.
            for role in Role::ALL {
                let a = t
                    .call_as(Some(t.key(role)), method.as_str(), &path, body.clone(), &[])
                    .await;
                assert!(!route.access.allows(role));
                assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{path} as {role:?}");
                assert_eq!(a.code(), "invalid_signature");
            }
            for a in [&anonymous, &wrong] {
                assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{path}");
                assert_eq!(a.code(), "invalid_signature");
            }
            continue;
        }
        for a in [&anonymous, &wrong] {
            assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{} {path}", method);
            assert_eq!(a.code(), "unauthenticated");
            assert_eq!(a.header("www-authenticate"), Some("Bearer"));
        }
        for role in Role::ALL {
            let a = t
                .call_as(Some(t.key(role)), method.as_str(), &path, body.clone(), &[])
                .await;
            let allowed = route.access.allows(role);
            assert_eq!(
                a.status == StatusCode::FORBIDDEN,
                !allowed,
                "{method} {path} as {role:?}: {} {}",
                a.status,
                a.body
            );
            assert!(
                !matches!(a.status.as_u16(), 401 | 404 | 405 | 500),
                "{method} {path} as {role:?}: {} {}",
                a.status,
                a.body
            );
            if !allowed {
                assert_eq!(a.code(), "forbidden");
            }
        }
    }
}

#[tokio::test]
async fn bench_route_only_with_the_option() {
    let t = TestApi::new(ApiOptions::default());
    let a = t
        .call(
            "POST",
            "/api/v1/bench/scratch",
            Some(json!({"customer": "c", "day": 1, "amount_minor": 5})),
        )
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(a.code(), "route_not_found");
    let t = TestApi::new(ApiOptions {
        bench_scratch: true,
    });
    let a = t
        .call(
            "POST",
            "/api/v1/bench/scratch",
            Some(json!({"customer": "c", "day": 1, "amount_minor": 5})),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    assert_eq!(a.body, json!({}));
}

/// Sends a raw body to `POST /orders` and checks the envelope's status and code.
async fn check_bad_body(
    t: &TestApi,
    body: &str,
    content_type: Option<&str>,
    status: u16,
    code: &str,
) -> Answer {
    let mut req = Request::builder()
        .method("POST")
        .uri("/api/v1/orders")
        .header("authorization", format!("Bearer {}", t.key(Role::Admin)));
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let a = t.send(req.body(Body::from(body.to_owned())).unwrap()).await;
    assert_eq!(a.status.as_u16(), status, "{body:.80}: {}", a.body);
    assert_eq!(a.code(), code, "{body:.80}");
    assert_eq!(a.header("content-type"), Some("application/problem+json"));
    assert_eq!(a.body["status"], status);
    a
}

#[tokio::test]
async fn bad_input_answers_in_the_envelope() {
    let t = TestApi::new(ApiOptions::default());
    let json = Some("application/json");
    check_bad_body(&t, "{\"source\": ", json, 400, "malformed_json").await;
    check_bad_body(
        &t,
        &format!("{} trailing", order("o-1", 1)),
        json,
        400,
        "malformed_json",
    )
    .await;
    check_bad_body(&t, "{}", Some("text/plain"), 415, "unsupported_media_type").await;
    check_bad_body(&t, "{}", None, 415, "unsupported_media_type").await;

    let mut wrong_type = order("o-1", 1);
    wrong_type["lines"][0]["quantity"] = json!("two");
    let a = check_bad_body(&t, &wrong_type.to_string(), json, 422, "invalid_field").await;
    assert_eq!(a.body["errors"][0]["field"], "lines[0].quantity");

    let mut unknown = order("o-1", 1);
    unknown["colour"] = json!("red");
    let a = check_bad_body(&t, &unknown.to_string(), json, 422, "invalid_field").await;
    assert!(
        a.body["errors"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("unknown field `colour`"),
        "{}",
        a.body
    );

    let mut missing = order("o-1", 1);
    missing["lines"][0].as_object_mut().unwrap().remove("sku");
    let a = check_bad_body(&t, &missing.to_string(), json, 422, "invalid_field").await;
    assert_eq!(a.body["errors"][0]["field"], "lines[0].sku");

    let mut fractional = order("o-1", 1);
    fractional["lines"][0]["unit_price_minor"] = json!(12.5);
    let a = check_bad_body(&t, &fractional.to_string(), json, 422, "invalid_field").await;
    assert_eq!(a.body["errors"][0]["field"], "lines[0].unit_price_minor");

    let mut negative = order("o-1", 1);
    negative["lines"][0]["unit_price_minor"] = json!(-100);
    let a = check_bad_body(&t, &negative.to_string(), json, 422, "invalid_field").await;
    assert_eq!(
        a.body["errors"][0]["field"], "lines[0].unit_price_minor",
        "{}",
        a.body
    );

    let mut currency = order("o-1", 1);
    currency["currency"] = json!("XXQ");
    let a = check_bad_body(&t, &currency.to_string(), json, 422, "invalid_field").await;
    assert_eq!(a.body["errors"][0]["field"], "currency", "{}", a.body);

    let mut when = order("o-1", 1);
    when["occurred_at"] = json!("yesterday");
    check_bad_body(&t, &when.to_string(), json, 422, "invalid_field").await;

    let big = format!(
        "{{\"source\": \"{}\"}}",
        "x".repeat(crate::REQUEST_BODY_BYTES_MAX)
    );
    check_bad_body(&t, &big, json, 413, "payload_too_large").await;

    let a = t.call("GET", "/api/v1/customers/abc", None).await;
    assert_eq!((a.status.as_u16(), a.code()), (400, "invalid_path"));
    let a = t.call("GET", "/api/v1/customers?limit=abc", None).await;
    assert_eq!((a.status.as_u16(), a.code()), (400, "invalid_query"));
    let a = t.call("GET", "/api/v1/customers?colour=red", None).await;
    assert_eq!((a.status.as_u16(), a.code()), (400, "invalid_query"));
    let a = t.call("GET", "/api/v1/customers?limit=1000", None).await;
    assert_eq!((a.status.as_u16(), a.code()), (400, "invalid_query"));
    let a = t
        .call("GET", "/api/v1/customers?cursor=nonsense", None)
        .await;
    assert_eq!((a.status.as_u16(), a.code()), (400, "invalid_query"));
    let a = t.call("GET", "/api/v1/nothing", None).await;
    assert_eq!((a.status.as_u16(), a.code()), (404, "route_not_found"));
    let a = t.call("DELETE", "/api/v1/customers", None).await;
    assert_eq!((a.status.as_u16(), a.code()), (405, "method_not_allowed"));
    let a = t.call("GET", "/api/v1/customers/999", None).await;
    assert_eq!((a.status.as_u16(), a.code()), (404, "not_found"));
}

#[tokio::test]
async fn order_duplicate_replays_and_conflict_names_differences() {
    let t = TestApi::new(ApiOptions::default());
    let first = t
        .call("POST", "/api/v1/orders", Some(order("o-1", 2)))
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(first.body["total_minor"], 50_000);
    assert_eq!(first.body["points_earned"], 5);
    assert_eq!(first.body["occurred_at"], "2025-02-28T02:00:00Z");
    assert_eq!(first.header("patron-replayed"), None);

    let again = t
        .call("POST", "/api/v1/orders", Some(order("o-1", 2)))
        .await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.body, first.body);
    assert_eq!(again.header("patron-replayed"), Some("true"));

    let other = t
        .call("POST", "/api/v1/orders", Some(order("o-1", 3)))
        .await;
    assert_eq!(
        (other.status.as_u16(), other.code()),
        (409, "conflicting_duplicate")
    );
    assert_eq!(other.body["differences"], json!(["lines[0].quantity"]));

    let id = first.body["order_id"].as_i64().unwrap();
    let got = t.call("GET", &format!("/api/v1/orders/{id}"), None).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body["lines"][0]["sku"], "TEA-1");
    assert_eq!(got.body["order_id"], id);

    let customer = first.body["customer_id"].as_i64().unwrap();
    let points = t
        .call("GET", &format!("/api/v1/customers/{customer}/points"), None)
        .await;
    assert_eq!(points.body, json!({"customer_id": customer, "balance": 5}));
    let c = t
        .call("GET", &format!("/api/v1/customers/{customer}"), None)
        .await;
    assert_eq!(c.body["identities"]["email"], json!(["amy@example.com"]));
    assert_eq!(c.body["points_balance"], 5);
}

#[tokio::test]
async fn intake_rejections() {
    let t = TestApi::new(ApiOptions::default());
    let mut by_id = order("o-1", 1);
    by_id["customer"] = json!({"id": 4242});
    let a = t.call("POST", "/api/v1/orders", Some(by_id)).await;
    assert_eq!((a.status.as_u16(), a.code()), (422, "unknown_customer"));

    let mut both = order("o-1", 1);
    both["customer"]["id"] = json!(1);
    let a = t.call("POST", "/api/v1/orders", Some(both)).await;
    assert_eq!((a.status.as_u16(), a.code()), (422, "invalid_field"));
    assert_eq!(a.body["errors"][0]["field"], "customer");

    let placed = t
        .call("POST", "/api/v1/orders", Some(order("o-2", 2)))
        .await;
    assert_eq!(placed.status, StatusCode::CREATED);
    let refund = |external_id: &str, quantity: i64| json!({"source": "shop", "external_id": external_id, "order": {"external_id": "o-2"}, "lines": [{"line": 0, "quantity": quantity}]});
    let a = t
        .call("POST", "/api/v1/refunds", Some(refund("r-1", 3)))
        .await;
    assert_eq!(
        (a.status.as_u16(), a.code()),
        (422, "refund_exceeds_order"),
        "{}",
        a.body
    );
    let a = t
        .call("POST", "/api/v1/refunds", Some(refund("r-1", 1)))
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    assert_eq!(a.body["amount_minor"], 25_000);
    let again = t
        .call("POST", "/api/v1/refunds", Some(refund("r-1", 1)))
        .await;
    assert_eq!(again.body, a.body);
    assert_eq!(again.header("patron-replayed"), Some("true"));
    let a = t
        .call(
            "POST",
            "/api/v1/refunds",
            Some(json!({"source": "shop", "external_id": "r-9", "order": {"external_id": "nope"}})),
        )
        .await;
    assert_eq!((a.status.as_u16(), a.code()), (422, "unknown_order"));

    let cancel = json!({"source": "shop", "external_id": "x-1", "kind": "order_cancelled", "data": {"order_external_id": "o-2"}});
    let a = t.call("POST", "/api/v1/events", Some(cancel)).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    assert_eq!(a.body["kind"], "order_cancelled");
    assert_eq!(a.body["amount_minor"], 25_000);

    let profile = json!({"source": "crm", "external_id": "p-1", "kind": "profile_changed",
        "customer": {"identities": {"shop_customer_id": "c-1"}}, "data": {"name": "Amy Lin"}});
    let a = t.call("POST", "/api/v1/events", Some(profile)).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let a = t
        .call(
            "POST",
            "/api/v1/events",
            Some(
                json!({"source": "crm", "external_id": "p-2", "kind": "order_placed", "data": {}}),
            ),
        )
        .await;
    assert_eq!((a.status.as_u16(), a.code()), (422, "invalid_field"));
}

#[tokio::test]
async fn customers_create_list_and_conflict() {
    let t = TestApi::new(ApiOptions::default());
    let body = |name: &str, n: u32| json!({"identities": {"shop_customer_id": format!("c-{n}")}, "name": name});
    let a = t
        .call("POST", "/api/v1/customers", Some(body("Amy", 1)))
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    assert_eq!(a.body["locale"], "zh-TW");
    let same = t
        .call("POST", "/api/v1/customers", Some(body("Amy", 1)))
        .await;
    assert_eq!(same.status, StatusCode::OK);
    assert_eq!(same.body, a.body);
    let other = t
        .call("POST", "/api/v1/customers", Some(body("Bea", 1)))
        .await;
    assert_eq!(
        (other.status.as_u16(), other.code()),
        (409, "customer_conflict")
    );
    assert_eq!(other.body["differences"], json!(["name"]));
    for n in 2..=5 {
        t.call("POST", "/api/v1/customers", Some(body("X", n)))
            .await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/customers?limit=2&cursor={c}"),
            None => "/api/v1/customers?limit=2".to_owned(),
        };
        let page = t.call("GET", &path, None).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        seen.extend(
            page.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].as_i64().unwrap()),
        );
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, vec![1, 2, 3, 4, 5]);
}

#[tokio::test]
async fn points_statement_and_corrections() {
    let t = TestApi::new(ApiOptions::default());
    let placed = t
        .call("POST", "/api/v1/orders", Some(order("o-1", 4)))
        .await;
    let customer = placed.body["customer_id"].as_i64().unwrap();
    let path = format!("/api/v1/customers/{customer}/points/corrections");
    let a = t
        .call(
            "POST",
            &path,
            Some(json!({"points": 3, "reason": "goodwill"})),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    assert_eq!(
        (a.body["kind"].as_str(), a.body["points"].as_i64()),
        (Some("correction"), Some(3))
    );
    let a = t
        .call(
            "POST",
            &path,
            Some(json!({"points": -100, "reason": "oops"})),
        )
        .await;
    assert_eq!((a.status.as_u16(), a.code()), (422, "insufficient_points"));
    for points in [0, i64::MIN, i64::MAX] {
        let a = t
            .call(
                "POST",
                &path,
                Some(json!({"points": points, "reason": "x"})),
            )
            .await;
        assert_eq!(
            (a.status.as_u16(), a.code()),
            (422, "invalid_field"),
            "{points}"
        );
    }
    let a = t
        .call(
            "POST",
            "/api/v1/customers/999/points/corrections",
            Some(json!({"points": 1, "reason": "x"})),
        )
        .await;
    assert_eq!((a.status.as_u16(), a.code()), (404, "not_found"));

    let first = t
        .call(
            "GET",
            &format!("/api/v1/customers/{customer}/points/statement?limit=1"),
            None,
        )
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(first.body["entries"][0]["kind"], "earn");
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let second = t
        .call(
            "GET",
            &format!("/api/v1/customers/{customer}/points/statement?limit=1&cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(second.body["entries"][0]["kind"], "correction");
    assert_eq!(second.body["next_cursor"], Value::Null);
    let balance = t
        .call("GET", &format!("/api/v1/customers/{customer}/points"), None)
        .await;
    assert_eq!(balance.body["balance"], 13);

    let audit = t.call("GET", "/api/v1/audit?limit=2", None).await;
    assert_eq!(audit.status, StatusCode::OK);
    assert_eq!(audit.body["items"][0]["action"], "points.correct");
    assert!(audit.body["next_cursor"].is_string());
}

#[tokio::test]
async fn idempotency_key_replays_and_refuses_reuse() {
    let t = TestApi::new(ApiOptions::default());
    let key = Some(t.key(Role::Manager));
    let customer = t
        .call(
            "POST",
            "/api/v1/customers",
            Some(json!({"identities": {"shop_customer_id": "c-1"}})),
        )
        .await;
    let path = format!(
        "/api/v1/customers/{}/points/corrections",
        customer.body["id"]
    );
    let body = json!({"points": 2, "reason": "welcome"});
    let headers = [("idempotency-key", "welcome-1")];
    let first = t
        .call_as(key, "POST", &path, Some(body.clone()), &headers)
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(first.header("idempotent-replayed"), None);
    let again = t
        .call_as(key, "POST", &path, Some(body.clone()), &headers)
        .await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.body, first.body);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    let balance = t
        .call(
            "GET",
            &format!("/api/v1/customers/{}/points", customer.body["id"]),
            None,
        )
        .await;
    assert_eq!(balance.body["balance"], 2, "the replay posted nothing");

    let other = t
        .call_as(
            key,
            "POST",
            &path,
            Some(json!({"points": 5, "reason": "welcome"})),
            &headers,
        )
        .await;
    assert_eq!(
        (other.status.as_u16(), other.code()),
        (422, "idempotency_key_reused")
    );
    // Keys are per API key: another key may use the same text.
    let admin = t
        .call_as(
            Some(t.key(Role::Admin)),
            "POST",
            &path,
            Some(body.clone()),
            &headers,
        )
        .await;
    assert_eq!(admin.status, StatusCode::CREATED);
    assert_eq!(admin.header("idempotent-replayed"), None);

    // A 4xx is final and replayed too.
    let bad = [("idempotency-key", "bad-1")];
    let a = t
        .call_as(
            key,
            "POST",
            &path,
            Some(json!({"points": 0, "reason": "x"})),
            &bad,
        )
        .await;
    let b = t
        .call_as(
            key,
            "POST",
            &path,
            Some(json!({"points": 0, "reason": "x"})),
            &bad,
        )
        .await;
    assert_eq!((a.status.as_u16(), b.status.as_u16()), (422, 422));
    assert_eq!(b.header("idempotent-replayed"), Some("true"));
    assert_eq!(b.header("content-type"), Some("application/problem+json"));
    assert_eq!(a.body, b.body);

    let long = "k".repeat(256);
    let a = t
        .call_as(
            key,
            "POST",
            &path,
            Some(body),
            &[("idempotency-key", long.as_str())],
        )
        .await;
    assert_eq!(
        (a.status.as_u16(), a.code()),
        (400, "invalid_idempotency_key")
    );
}

#[tokio::test]
async fn idempotency_key_held_by_another_process_is_in_flight() {
    let t = TestApi::new(ApiOptions::default());
    let key = t.key(Role::Manager);
    let customer = t
        .call(
            "POST",
            "/api/v1/customers",
            Some(json!({"identities": {"shop_customer_id": "c-9"}})),
        )
        .await;
    let path = format!(
        "/api/v1/customers/{}/points/corrections",
        customer.body["id"]
    );
    let body = json!({"points": 3, "reason": "goodwill"});
    let key_id = t
        .app
        .authenticate(key)
        .unwrap()
        .key_id
        .expect("an API key's principal");
    // Another instance sharing the database is running this very request.
    let hash = crate::idempotency::request_hash(
        &axum::http::Method::POST,
        &path,
        body.to_string().as_bytes(),
    );
    let store::idempotency::Begin::Claimed { claimed_at_micros } =
        t.app.idempotency_begin(key_id, "gw-1", &hash).unwrap()
    else {
        panic!("claimed by the other instance");
    };
    let headers = [("idempotency-key", "gw-1")];
    let busy = t
        .call_as(Some(key), "POST", &path, Some(body.clone()), &headers)
        .await;
    assert_eq!(
        (busy.status.as_u16(), busy.code()),
        (409, "idempotency_key_in_flight")
    );
    let other = t
        .call_as(
            Some(key),
            "POST",
            &path,
            Some(json!({"points": 4, "reason": "goodwill"})),
            &headers,
        )
        .await;
    assert_eq!(
        (other.status.as_u16(), other.code()),
        (422, "idempotency_key_reused")
    );
    let balance = t
        .call(
            "GET",
            &format!("/api/v1/customers/{}/points", customer.body["id"]),
            None,
        )
        .await;
    assert_eq!(balance.body["balance"], 0, "neither request ran");
    // The other instance answers; this one now replays its answer.
    let answer = store::idempotency::StoredResponse {
        request_hash: hash,
        status: 201,
        response: r#"{"from":"the other instance"}"#.to_owned(),
    };
    assert!(
        t.app
            .idempotency_finish(key_id, "gw-1", claimed_at_micros, Some(&answer))
            .unwrap()
    );
    let replayed = t
        .call_as(Some(key), "POST", &path, Some(body), &headers)
        .await;
    assert_eq!(replayed.status, StatusCode::CREATED);
    assert_eq!(replayed.body["from"], "the other instance");
    assert_eq!(replayed.header("idempotent-replayed"), Some("true"));
}

#[tokio::test]
async fn metrics_count_requests_and_events() {
    let t = TestApi::new(ApiOptions::default());
    t.call("POST", "/api/v1/orders", Some(order("o-1", 1)))
        .await;
    t.call("POST", "/api/v1/orders", Some(order("o-1", 1)))
        .await;
    t.call("POST", "/api/v1/orders", Some(order("o-1", 9)))
        .await;
    let a = t
        .call_as(Some(t.key(Role::Analyst)), "GET", "/metrics", None, &[])
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let text = a.text();
    for line in [
        "patron_http_requests_total{method=\"POST\",route=\"/api/v1/orders\",status=\"201\"} 2",
        "patron_http_requests_total{method=\"POST\",route=\"/api/v1/orders\",status=\"409\"} 1",
        "patron_http_request_duration_seconds_count{route=\"/api/v1/orders\"} 3",
        "patron_http_request_duration_seconds_bucket{route=\"/api/v1/orders\",le=\"+Inf\"} 3",
        "patron_events_total{kind=\"order_placed\",result=\"accepted\"} 1",
        "patron_events_total{kind=\"order_placed\",result=\"duplicate\"} 1",
        "patron_events_total{kind=\"order_placed\",result=\"rejected\"} 1",
        "# TYPE patron_http_request_duration_seconds histogram",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
}

#[tokio::test]
async fn health_and_request_ids() {
    let t = TestApi::new(ApiOptions::default());
    let a = t
        .raw(
            None,
            "GET",
            "/healthz",
            None,
            &[("x-request-id", "abc-123")],
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body, json!({"status": "ok"}));
    assert_eq!(a.header("x-request-id"), Some("abc-123"));
    let b = t.raw(None, "GET", "/healthz", None, &[]).await;
    assert!(b.header("x-request-id").unwrap().starts_with("req-"));
}

#[tokio::test]
async fn openapi_document_is_served_and_matches_the_snapshot() {
    let t = TestApi::new(ApiOptions::default());
    let a = t.raw(None, "GET", "/api/v1/openapi.json", None, &[]).await;
    assert_eq!(a.status, StatusCode::OK);
    insta::assert_json_snapshot!("openapi", a.body);
}

/// Every `$ref` in `v`.
fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.push(r);
            }
            m.values().for_each(|x| refs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

#[test]
fn openapi_document_is_structurally_valid() {
    let doc: Value = serde_json::from_str(&crate::openapi::document_json()).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1."));
    assert!(doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer");
    let mut ids = std::collections::HashSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            assert!(ids.insert(id.to_owned()), "{id} twice");
            assert!(!op["responses"].as_object().unwrap().is_empty(), "{id}");
        }
    }
    for route in ROUTES {
        let op = &doc["paths"][route.path][route.verb.method().as_str().to_lowercase()];
        assert_eq!(op["operationId"], route.operation_id, "{}", route.path);
        let secured = op.get("security").is_some();
        assert_eq!(
            secured,
            !matches!(
                route.access,
                Access::Public | Access::Signed | Access::Token
            ),
            "{}",
            route.operation_id
        );
        let (verb, _) = route.operation_id.split_once('_').unwrap();
        assert!(
            ["get", "list", "create", "replace"].contains(&verb),
            "{}",
            route.operation_id
        );
    }
    assert_eq!(ids.len(), ROUTES.len());
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("{r}"));
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "{r} does not resolve"
        );
    }
}

#[tokio::test]
async fn webhook_endpoint_receives_orders() {
    let t = TestApi::new(ApiOptions::default());
    let a = t
        .call(
            "POST",
            "/api/v1/webhooks",
            Some(json!({"url": "https://example.test/hook", "topics": ["order.placed"]})),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    assert!(a.body["secret"].as_str().unwrap().starts_with("whsec_"));
    let bad = t
        .call(
            "POST",
            "/api/v1/webhooks",
            Some(json!({"url": "ftp://x", "topics": ["order.placed"]})),
        )
        .await;
    assert_eq!((bad.status.as_u16(), bad.code()), (422, "invalid_field"));
    t.call("POST", "/api/v1/orders", Some(order("o-1", 1)))
        .await;
    let app = t.app.clone();
    let run = tokio::task::spawn_blocking(move || app.run_pending_jobs())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.done, 1);
}

//! The desk's operations end to end: merge and split (with who may), CSAT through the survey
//! token link, template A/B assignment and results, KPIs on a small worked scenario with exact
//! figures, and the complaint-trend spike flag.

use crate::http::{Server, get, post, request};
use app::Principal;
use app::desk::ab::{AbTestInput, Variant};
use app::desk::kpis::ReportQuery;
use app::desk::{MessageInput, TicketInput, TicketView};
use app::intake::{CustomerRef, LineInput, OrderInput};
use app::{AppError, customers::CustomerInput};
use domain::IdentityKind;
use domain::access::Role;
use domain::desk::TicketRefusal;
use jiff::SignedDuration;
use serde_json::json;
use test_support::{TestApp, both_backends};

fn customer(email: &str) -> Option<CustomerRef> {
    Some(CustomerRef::Described(CustomerInput {
        identities: vec![(IdentityKind::Email, email.to_owned())],
        ..Default::default()
    }))
}

fn open(t: &TestApp, channel: &str, body: &str) -> TicketView {
    t.app
        .open_ticket(
            &TestApp::principal(Role::Integration),
            &TicketInput {
                channel: channel.to_owned(),
                body: body.to_owned(),
                customer: customer("mei@example.tw"),
                ..TicketInput::default()
            },
        )
        .unwrap()
}

fn say(t: &TestApp, id: i64, from: &str, body: &str) -> TicketView {
    let who = TestApp::principal(if from == "customer" {
        Role::Integration
    } else {
        Role::Agent
    });
    t.app
        .add_message(
            &who,
            id,
            &MessageInput {
                from: from.to_owned(),
                body: body.to_owned(),
                ack_only: false,
            },
        )
        .unwrap()
}

fn status(t: &TestApp, id: i64, to: &str) {
    t.app
        .change_status(&TestApp::principal(Role::Agent), id, to)
        .unwrap();
}

fn kinds(v: &TicketView) -> Vec<&str> {
    v.events.iter().map(|e| e.kind.as_str()).collect()
}

both_backends!(merge_and_split, |t: &TestApp| {
    let agent = TestApp::principal(Role::Agent);
    let a = open(t, "email", "訂單 A1001 的茶葉罐破了").ticket.id;
    let b = open(t, "line", "我剛剛也寄信了，茶葉罐是破的").ticket.id;
    t.advance(SignedDuration::from_mins(5));
    let merged = t.app.merge_tickets(&agent, a, b).unwrap();
    let entry = merged
        .events
        .iter()
        .find(|e| e.kind == "merged_from")
        .expect("merged_from on the survivor");
    assert_eq!(entry.other_ticket_id, Some(b));
    assert!(
        entry.body.as_deref().unwrap().contains("我剛剛也寄信了"),
        "B's transcript is in A's log"
    );
    let gone = t.app.ticket(b).unwrap();
    assert_eq!(gone.ticket.status, "closed");
    assert_eq!(gone.ticket.sla_next_due_at, None, "B's clocks stopped");
    let pointer = gone
        .events
        .iter()
        .find(|e| e.kind == "merged_into")
        .unwrap();
    assert_eq!(pointer.other_ticket_id, Some(a));
    // A later message threaded to B lands on A.
    let b_events = gone.events.len();
    let after = say(t, b, "customer", "請問什麼時候可以換貨？");
    assert_eq!(after.ticket.id, a);
    assert_eq!(
        after.events.last().unwrap().body.as_deref(),
        Some("請問什麼時候可以換貨？")
    );
    assert_eq!(
        t.app.ticket(b).unwrap().events.len(),
        b_events,
        "B unchanged"
    );
    // Refusals, each with its own reason: itself, twice, and an agent outside its own queue.
    let same = t.app.merge_tickets(&agent, a, a).unwrap_err();
    assert!(
        matches!(
            same,
            AppError::TicketRefused(TicketRefusal::MergeIntoItself)
        ),
        "{same:?}"
    );
    let twice = t.app.merge_tickets(&agent, a, b).unwrap_err();
    assert!(
        matches!(
            twice,
            AppError::TicketRefused(TicketRefusal::AlreadyMerged { ticket, into })
                if ticket == b && into == a
        ),
        "{twice:?}"
    );
    let into_merged = t.app.merge_tickets(&agent, b, a).unwrap_err();
    assert!(
        matches!(
            into_merged,
            AppError::TicketRefused(TicketRefusal::AlreadyMerged { ticket, .. }) if ticket == b
        ),
        "{into_merged:?}"
    );
    let stranger = t
        .app
        .open_ticket(
            &TestApp::principal(Role::Integration),
            &TicketInput {
                channel: "email".to_owned(),
                body: "我的訂單也有問題".to_owned(),
                customer: customer("lin@example.tw"),
                ..TicketInput::default()
            },
        )
        .unwrap()
        .ticket
        .id;
    let other = t.app.merge_tickets(&agent, a, stranger).unwrap_err();
    assert!(
        matches!(
            other,
            AppError::TicketRefused(TicketRefusal::MergeAcrossCustomers)
        ),
        "{other:?}"
    );
    let c = open(t, "web", "另一個問題").ticket.id;
    t.app
        .assign_ticket(&TestApp::principal(Role::Manager), c, Some("bob"))
        .unwrap();
    assert!(matches!(
        t.app.merge_tickets(&agent, a, c),
        Err(AppError::Forbidden)
    ));
    let manager = TestApp::principal(Role::Manager);
    t.app.merge_tickets(&manager, a, c).unwrap();

    // Split two messages of A off into a new ticket.
    let d = open(t, "email", "第一個問題：點數沒有入帳").ticket.id;
    t.advance(SignedDuration::from_mins(1));
    let view = say(t, d, "customer", "第二個問題：發票抬頭要改");
    let second = view.events.last().unwrap().id;
    let view = say(t, d, "customer", "發票統編 12345678");
    let third = view.events.last().unwrap().id;
    let split = t
        .app
        .split_ticket(&agent, d, &[third, second], Some("發票抬頭"))
        .unwrap();
    let e = split.ticket.id;
    assert_ne!(e, d);
    assert_eq!(split.ticket.subject.as_deref(), Some("發票抬頭"));
    assert_eq!(split.ticket.channel, "email");
    assert_eq!(split.ticket.customer_id, view.ticket.customer_id);
    assert_eq!(kinds(&split)[..2], ["opened", "split_from"]);
    assert_eq!(split.events[1].other_ticket_id, Some(d));
    let bodies: Vec<&str> = split
        .events
        .iter()
        .filter(|e| e.kind == "message")
        .filter_map(|e| e.body.as_deref())
        .collect();
    assert_eq!(bodies, ["第二個問題：發票抬頭要改", "發票統編 12345678"]);
    assert!(split.sla.is_some(), "the new ticket has clocks");
    let original = t.app.ticket(d).unwrap();
    let to = original
        .events
        .iter()
        .find(|e| e.kind == "split_to")
        .unwrap();
    assert_eq!(to.other_ticket_id, Some(e));
    assert_eq!(
        to.value.as_deref(),
        Some(format!("{second},{third}").as_str())
    );
    // Not a message of this ticket (a split_to entry; another ticket's message): named;
    // nothing is created.
    let bad = t.app.split_ticket(&agent, d, &[to.id], None).unwrap_err();
    assert!(
        matches!(
            bad,
            AppError::TicketRefused(TicketRefusal::MessageNotInTicket { message_id })
                if message_id == to.id
        ),
        "{bad:?}"
    );
    let foreign = split
        .events
        .iter()
        .rfind(|e| e.kind == "message")
        .unwrap()
        .id;
    let bad = t
        .app
        .split_ticket(&agent, d, &[second, foreign], None)
        .unwrap_err();
    assert!(
        matches!(
            bad,
            AppError::TicketRefused(TicketRefusal::MessageNotInTicket { message_id })
                if message_id == foreign
        ),
        "{bad:?}"
    );
    assert!(t.app.ticket(e + 1).is_err(), "no ticket was created");
});

both_backends!(csat_token_link, |t: &TestApp| {
    let server = Server::start(t.app.clone());
    let addr = server.addr.as_str();
    let cli = Principal::cli();
    let shop = t.app.create_key(&cli, Role::Integration, "shop").unwrap();
    let id = open(t, "web", "收到的茶包少一包").ticket.id;
    let link = post(
        addr,
        &format!("/api/v1/tickets/{id}/csat/link"),
        &shop,
        "{}",
    );
    assert_eq!(link.status, 200, "{}", link.body);
    let token = link.json()["token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 32);
    let again = post(
        addr,
        &format!("/api/v1/tickets/{id}/csat/link"),
        &shop,
        "{}",
    );
    assert_eq!(
        again.json()["token"],
        token.as_str(),
        "one token per ticket"
    );
    let path = format!("/api/v1/desk/csat/{token}");
    // No key needed; the ticket is not solved yet, so it cannot be rated.
    let survey = request(addr, "GET", &path, None, None);
    assert_eq!(survey.status, 200, "{}", survey.body);
    assert_eq!(survey.json()["rating"], serde_json::Value::Null);
    let early = request(addr, "POST", &path, None, Some(r#"{"rating":4}"#));
    assert_eq!(early.status, 409, "{}", early.body);
    assert_eq!(early.json()["code"], "ticket_not_solved");
    status(t, id, "solved");
    let out_of_range = request(addr, "POST", &path, None, Some(r#"{"rating":6}"#));
    assert_eq!(out_of_range.status, 422);
    assert_eq!(out_of_range.json()["code"], "rating_out_of_range");
    let rated = request(addr, "POST", &path, None, Some(r#"{"rating":4}"#));
    assert_eq!(rated.status, 200, "{}", rated.body);
    assert_eq!(rated.json()["rating"], 4);
    // The link takes one answer: a second one (the link forwarded, or opened by staff)
    // cannot overwrite the customer's.
    let again = request(addr, "POST", &path, None, Some(r#"{"rating":1}"#));
    assert_eq!(again.status, 409, "{}", again.body);
    assert_eq!(again.json()["code"], "survey_answered");
    assert_eq!(request(addr, "GET", &path, None, None).json()["rating"], 4);
    // A second rating replaces the first; the audit log keeps both.
    let by_key = post(
        addr,
        &format!("/api/v1/tickets/{id}/csat"),
        &shop,
        r#"{"rating":2}"#,
    );
    assert_eq!(by_key.status, 200, "{}", by_key.body);
    let survey = request(addr, "GET", &path, None, None).json();
    assert_eq!(survey["rating"], 2);
    let audit = t.app.audit_recent(i64::MAX, 20).unwrap();
    let details: Vec<&str> = audit
        .iter()
        .filter(|a| a.action == "ticket.csat")
        .filter_map(|a| a.detail.as_deref())
        .collect();
    assert!(details.contains(&"rating=2 previous=4"), "{details:?}");
    assert!(details.contains(&"rating=4"), "{details:?}");
    // Unknown and malformed tokens are simply not found.
    let unknown = request(
        addr,
        "GET",
        "/api/v1/desk/csat/0123456789abcdef0123456789abcdef",
        None,
        None,
    );
    assert_eq!(unknown.status, 404);
    let malformed = request(addr, "GET", "/api/v1/desk/csat/not-a-token", None, None);
    assert_eq!(malformed.status, 404);
    // A link answers within 28 days of its creation; after that it is gone (410), and the
    // refusal changes nothing.
    let late = open(t, "web", "茶包破了").ticket.id;
    status(t, late, "solved");
    let link = post(
        addr,
        &format!("/api/v1/tickets/{late}/csat/link"),
        &shop,
        "{}",
    );
    let late_path = format!(
        "/api/v1/desk/csat/{}",
        link.json()["token"].as_str().unwrap()
    );
    t.advance(SignedDuration::from_hours(24 * 28 + 1));
    let expired = request(addr, "POST", &late_path, None, Some(r#"{"rating":5}"#));
    assert_eq!(expired.status, 410, "{}", expired.body);
    assert_eq!(expired.json()["code"], "survey_expired");
    assert_eq!(
        request(addr, "GET", &late_path, None, None).json()["rating"],
        serde_json::Value::Null
    );
    // The customer writes again, the ticket is solved again: the window counts from that
    // solve, on the same link, for another 28 days.
    say(t, late, "customer", "還是破的");
    status(t, late, "solved");
    t.advance(SignedDuration::from_hours(24 * 27));
    let again = request(addr, "POST", &late_path, None, Some(r#"{"rating":5}"#));
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.json()["rating"], 5);
});

both_backends!(ab_assignment_and_results, |t: &TestApp| {
    let cli = Principal::cli();
    t.app
        .put_template(
            &cli,
            "ack_warm",
            "zh-TW",
            "{{ customer.honorific }}您好，謝謝您的耐心！案件編號 {{ ticket.reference }}，我們會盡快回覆。",
        )
        .unwrap();
    let test = t
        .app
        .create_ab_test(
            &cli,
            &AbTestInput {
                name: "ack wording".to_owned(),
                template_key: "ack".to_owned(),
                variants: vec![
                    Variant {
                        name: "plain".to_owned(),
                        template: "ack".to_owned(),
                        weight: 1,
                    },
                    Variant {
                        name: "warm".to_owned(),
                        template: "ack_warm".to_owned(),
                        weight: 1,
                    },
                ],
            },
        )
        .unwrap();
    // A variant naming no template is refused, naming it; so is a second test of the key.
    let dup = t.app.create_ab_test(
        &cli,
        &AbTestInput {
            name: "again".to_owned(),
            template_key: "ack".to_owned(),
            variants: vec![
                Variant {
                    name: "x".to_owned(),
                    template: "ack".to_owned(),
                    weight: 1,
                },
                Variant {
                    name: "y".to_owned(),
                    template: "nope".to_owned(),
                    weight: 1,
                },
            ],
        },
    );
    assert!(matches!(dup, Err(AppError::Invalid(ref e)) if e.field == "variants[1].template"));
    let both_plain = AbTestInput {
        name: "again".to_owned(),
        template_key: "ack".to_owned(),
        variants: vec![
            Variant {
                name: "x".to_owned(),
                template: "ack".to_owned(),
                weight: 1,
            },
            Variant {
                name: "y".to_owned(),
                template: "ack".to_owned(),
                weight: 3,
            },
        ],
    };
    let running = t.app.create_ab_test(&cli, &both_plain);
    assert!(matches!(running, Err(AppError::Invalid(ref e)) if e.field == "template_key"));
    let mut expected = [0i64; 2];
    let mut ids = Vec::new();
    for n in 0..12 {
        let v = open(t, "email", &format!("第 {n} 封信：請問退貨流程"));
        let id = v.ticket.id;
        let variant = domain::desk::ops::ab_variant(test.id, id, &[1, 1]);
        expected[variant] += 1;
        let ack = v
            .events
            .iter()
            .find(|e| e.kind == "message" && e.ack_only)
            .unwrap();
        assert_eq!(
            ack.body.as_deref().unwrap().contains("謝謝您的耐心"),
            variant == 1,
            "ticket {id} got variant {variant}"
        );
        ids.push((id, variant));
    }
    // Results: solve every ticket, rate them, reopen one of the warm ones.
    let mut ratings = [Vec::new(), Vec::new()];
    for (i, (id, variant)) in ids.iter().enumerate() {
        status(t, *id, "solved");
        let r = 1 + (i as i64 % 5);
        t.app
            .rate_ticket(&TestApp::principal(Role::Integration), *id, r)
            .unwrap();
        ratings[*variant].push(r);
    }
    let reopened = ids.iter().find(|(_, v)| *v == 1).unwrap().0;
    say(t, reopened, "customer", "還是沒有收到退貨單");
    let view = t.app.ab_test(test.id).unwrap();
    assert_eq!(view.results.len(), 2);
    for (v, r) in view.results.iter().enumerate() {
        assert_eq!(r.tickets, expected[v], "{}", r.variant.name);
        assert_eq!(r.csat_count, ratings[v].len() as i64);
        let mean = ratings[v].iter().sum::<i64>() as f64 / ratings[v].len() as f64;
        assert!((r.csat_mean.unwrap() - mean).abs() < 1e-9);
        assert_eq!(r.solved, expected[v]);
        assert_eq!(r.reopened, i64::from(v == 1));
    }
    assert!(expected[0] > 0 && expected[1] > 0, "{expected:?}");
    // Stopped: new tickets get the plain template again; results stay.
    let stopped = t.app.stop_ab_test(&cli, test.id).unwrap();
    assert!(stopped.stopped_at.is_some());
    let later = open(t, "email", "再問一次");
    let ack = later.events.iter().find(|e| e.ack_only).unwrap();
    assert!(!ack.body.as_deref().unwrap().contains("謝謝您的耐心"));
    assert_eq!(t.app.ab_test(test.id).unwrap().results, view.results);
});

both_backends!(kpis_worked_scenario, |t: &TestApp| {
    let server = Server::start(t.app.clone());
    let addr = server.addr.as_str();
    let cli = Principal::cli();
    let manager = t.app.create_key(&cli, Role::Manager, "lead").unwrap();
    let agent_key = t.app.create_key(&cli, Role::Agent, "desk").unwrap();
    let manager_p = TestApp::principal(Role::Manager);
    let shop = TestApp::principal(Role::Integration);
    // Monday 2026-03-02, Taipei office hours 09:00–12:00 and 13:00–18:00. The clock starts at 09:00.
    let t1 = open(t, "web", "網站付款失敗").ticket.id; // 09:00
    t.app.assign_ticket(&manager_p, t1, Some("amy")).unwrap();
    t.advance(SignedDuration::from_mins(30));
    say(t, t1, "agent", "已協助重新付款"); // 09:30: 30 min
    t.advance(SignedDuration::from_mins(30));
    status(t, t1, "solved"); // 10:00: resolved in 60 min
    let t2 = open(t, "phone", "來電：宅配延誤").ticket.id; // 10:00
    t.app.assign_ticket(&manager_p, t2, Some("bob")).unwrap();
    let t3 = open(t, "email", "如何退貨？").ticket.id; // 10:00
    let t4 = open(t, "line", "會員點數查詢").ticket.id; // 10:00
    t.advance(SignedDuration::from_mins(5));
    say(t, t3, "system", "退貨流程：請至會員中心申請。"); // 10:05 an automatic answer
    status(t, t3, "solved"); // 10:05: resolved in 5 min, automatically
    t.advance(SignedDuration::from_mins(55));
    say(t, t3, "customer", "還是不會操作"); // 11:00 reopens
    t.advance(SignedDuration::from_mins(90));
    say(t, t2, "agent", "已聯絡物流"); // 12:30: 150 calendar min, 120 business (lunch)
    t.advance(SignedDuration::from_mins(30));
    status(t, t2, "solved"); // 13:00: 180 calendar min, 120 business
    t.app.rate_ticket(&shop, t1, 5).unwrap();
    t.app.rate_ticket(&shop, t2, 3).unwrap();
    t.app.run_pending_jobs().unwrap(); // persists T4's first-response breach (due 11:00)
    let _ = t4;

    let q = "/api/v1/desk/kpis?from=2026-03-02&to=2026-03-02";
    let denied = get(addr, q, &agent_key);
    assert_eq!(denied.status, 403, "agents do not read KPIs");
    let r = get(addr, q, &manager);
    assert_eq!(r.status, 200, "{}", r.body);
    let k = r.json();
    assert_eq!(k["from"], "2026-03-01T16:00:00Z");
    assert_eq!(k["to"], "2026-03-02T16:00:00Z");
    assert_eq!(k["tickets"], 4);
    assert_eq!(
        k["first_response"],
        json!({"count": 2, "median_business_minutes": 30.0, "p90_business_minutes": 120.0,
               "median_calendar_minutes": 30.0, "p90_calendar_minutes": 150.0})
    );
    assert_eq!(k["solved"], 3);
    assert_eq!(k["resolution_rate"], 0.75);
    assert_eq!(
        k["resolution"],
        json!({"count": 3, "median_business_minutes": 60.0, "p90_business_minutes": 120.0,
               "median_calendar_minutes": 60.0, "p90_calendar_minutes": 180.0}),
        "T3 5 min, T1 60 min, T2 180 calendar / 120 business min"
    );
    assert_eq!(k["auto_resolved"], 1);
    assert_eq!(k["human_intervened"], 2);
    assert_eq!(k["human_intervention_rate"], 0.5);
    assert_eq!(k["reopened"], 1);
    assert_eq!(k["csat_count"], 2);
    assert_eq!(k["csat_mean"], 4.0);
    assert_eq!(
        k["csat_by_agent"],
        json!([{"key": "amy", "count": 1, "mean": 5.0}, {"key": "bob", "count": 1, "mean": 3.0}])
    );
    assert_eq!(
        k["csat_by_category"],
        json!([{"key": "billing_payment", "count": 1, "mean": 5.0},
               {"key": "logistics_delay", "count": 1, "mean": 3.0}]),
        "categories as triage filed the opening messages"
    );
    assert_eq!(
        k["csat_by_template"],
        json!([{"key": "ack", "count": 1, "mean": 5.0}]),
        "only T1 (web) was acknowledged by template and rated"
    );
    let fr = k["sla"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["clock"] == "first_response")
        .unwrap();
    // T1 met (09:30 ≤ 11:00); T2 breached (due 12:00, answered 12:30); T4 breached (LINE,
    // due 11:00, nobody answered); T3's 24 h e-mail clock is still running.
    assert_eq!(fr["met"], 1, "{fr}");
    assert_eq!(fr["breached"], 2, "{fr}");
    assert_eq!(k["backlog_total"], 2);
    assert_eq!(
        k["backlog_by_status"],
        json!([{"key": "new", "count": 1}, {"key": "open", "count": 1},
               {"key": "waiting_on_customer", "count": 0}, {"key": "waiting_on_third_party", "count": 0}])
    );
    assert_eq!(
        k["backlog_by_age"][0],
        json!({"key": "under_1d", "count": 2})
    );
    // One channel only.
    let line = get(addr, &format!("{q}&channel=line"), &manager).json();
    assert_eq!(line["tickets"], 1);
    assert_eq!(line["first_response"]["count"], 0);
    // Bad input names the field.
    let bad = get(
        addr,
        "/api/v1/desk/kpis?from=2026-03-05&to=2026-03-01",
        &manager,
    );
    assert_eq!(bad.status, 422);
    let bad = get(addr, "/api/v1/desk/kpis?from=yesterday", &manager);
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("from"), "{}", bad.body);
    let direct = t
        .app
        .desk_kpis(&ReportQuery {
            from: Some("2026-03-02".to_owned()),
            to: Some("2026-03-02".to_owned()),
            channel: None,
        })
        .unwrap();
    assert_eq!(direct.auto_resolution_rate, Some(1.0 / 3.0));
    assert_eq!(direct.reopen_rate, Some(1.0 / 3.0));
});

both_backends!(trends_flag_spikes, |t: &TestApp| {
    let server = Server::start(t.app.clone());
    let addr = server.addr.as_str();
    let cli = Principal::cli();
    let analyst = t.app.create_key(&cli, Role::Analyst, "bi").unwrap();
    let order = t
        .app
        .place_order(
            &TestApp::principal(Role::Integration),
            &OrderInput {
                source: "web".to_owned(),
                external_id: "A-1".to_owned(),
                customer: CustomerRef::Described(CustomerInput {
                    identities: vec![(IdentityKind::Email, "mei@example.tw".to_owned())],
                    ..Default::default()
                }),
                occurred_at: None,
                currency: "TWD".to_owned(),
                lines: vec![LineInput {
                    sku: "TEA-OOLONG".to_owned(),
                    category: None,
                    quantity: 1,
                    unit_price_minor: 45000,
                }],
            },
        )
        .unwrap()
        .into_result()
        .unwrap()
        .0
        .order_id;
    // Five quiet days with one delay complaint each, then six on Saturday about one product.
    for day in 0..6 {
        let n = if day == 5 { 6 } else { 1 };
        for _ in 0..n {
            t.app
                .open_ticket(
                    &TestApp::principal(Role::Integration),
                    &TicketInput {
                        channel: "web".to_owned(),
                        body: "物流太慢了".to_owned(),
                        category: Some("logistics_delay".to_owned()),
                        order_id: (day == 5).then_some(order),
                        ..TicketInput::default()
                    },
                )
                .unwrap();
        }
        // Praise is not a complaint.
        t.app
            .open_ticket(
                &TestApp::principal(Role::Integration),
                &TicketInput {
                    channel: "web".to_owned(),
                    body: "謝謝客服".to_owned(),
                    category: Some("praise".to_owned()),
                    ..TicketInput::default()
                },
            )
            .unwrap();
        t.advance(SignedDuration::from_hours(24));
    }
    let r = get(
        addr,
        "/api/v1/desk/trends?from=2026-03-02&to=2026-03-07&by=category&period=day",
        &analyst,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["periods"].as_array().unwrap().len(), 6);
    assert_eq!(v["periods"][0], "2026-03-02");
    assert_eq!(v["series"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["series"][0]["key"], "logistics_delay");
    assert_eq!(v["series"][0]["counts"], json!([1, 1, 1, 1, 1, 6]));
    assert_eq!(
        v["series"][0]["spikes"],
        json!([false, false, false, false, false, true])
    );
    let p = get(
        addr,
        "/api/v1/desk/trends?from=2026-03-02&to=2026-03-07&by=product&period=day",
        &analyst,
    )
    .json();
    assert_eq!(p["series"][0]["key"], "TEA-OOLONG");
    assert_eq!(p["series"][0]["counts"], json!([0, 0, 0, 0, 0, 6]));
    assert_eq!(p["series"][0]["spikes"][5], true);
    let w = get(
        addr,
        "/api/v1/desk/trends?from=2026-03-02&to=2026-03-08&period=week",
        &analyst,
    )
    .json();
    assert_eq!(w["periods"], json!(["2026-03-02"]));
    assert_eq!(w["series"][0]["counts"], json!([11]));
    let bad = get(addr, "/api/v1/desk/trends?by=colour", &analyst);
    assert_eq!(bad.status, 422);
});

both_backends!(
    calendar_edit_recomputes_open_tickets_in_the_background,
    |t: &TestApp| {
        // Monday 09:00: a web ticket's first response is due 2 business hours later, 11:00.
        let id = open(t, "web", "網站結帳一直失敗").ticket.id;
        let before = t.app.ticket(id).unwrap();
        assert_eq!(
            before.ticket.sla_next_due_at,
            Some("2026-03-02T03:00:00Z".parse().unwrap())
        );
        // A typhoon closes the office from 10:00 today: one hour is used, the other is Tuesday
        // 09:00–10:00. The edit only schedules the recompute; the job moves the deadline.
        let mut doc = app::desk::documents::CalendarDoc::taiwan_default();
        doc.exceptions.push(app::desk::documents::ExceptionDoc {
            date: "2026-03-02".to_owned(),
            change: "close".to_owned(),
            frames: vec![app::desk::documents::FrameDoc {
                start: "10:00".to_owned(),
                end: "24:00".to_owned(),
            }],
            label: "颱風停班".to_owned(),
            active: true,
        });
        t.app.put_calendar(&Principal::cli(), 1, &doc).unwrap();
        let stored = t.app.tickets(&Default::default(), 0, 10).unwrap();
        assert_eq!(
            stored[0].sla_next_due_at, before.ticket.sla_next_due_at,
            "not yet recomputed"
        );
        let run = t.app.run_pending_jobs().unwrap();
        assert!(run.done >= 1);
        let after = t.app.tickets(&Default::default(), 0, 10).unwrap();
        assert_eq!(
            after[0].sla_next_due_at,
            Some("2026-03-03T01:00:00Z".parse().unwrap()),
            "the earliest running deadline is now the 24 calendar-hour periodic update"
        );
        let view = t.app.ticket(id).unwrap();
        let fr = view
            .sla
            .unwrap()
            .clocks
            .into_iter()
            .find(|c| c.clock.as_str() == "first_response")
            .unwrap();
        assert_eq!(
            fr.due_at,
            Some("2026-03-03T02:00:00Z".parse().unwrap()),
            "first response: Tuesday 10:00 in Taipei"
        );
    }
);

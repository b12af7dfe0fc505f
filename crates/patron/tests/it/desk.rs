//! The service desk end to end: tickets over HTTP with their clocks paused and resumed by
//! status, breaches recorded by durable timers when nobody answers (once, even with two
//! workers and 1,000 timers due), calendars validated with errors naming the entry, the SLA
//! preview over HTTP and on the command line, replies to closed tickets, and bad input.

use crate::http::{Server, get, patron, post, request};
use app::Principal;
use app::desk::{MessageInput, SLA_TIMER_JOB, TicketInput};
use domain::access::Role;
use jiff::SignedDuration;
use serde_json::{Value, json};
use test_support::{TestApp, both_backends};

fn keys(t: &TestApp) -> (String, String, String) {
    let cli = Principal::cli();
    (
        t.app.create_key(&cli, Role::Integration, "shop").unwrap(),
        t.app.create_key(&cli, Role::Agent, "desk").unwrap(),
        t.app.create_key(&cli, Role::Manager, "lead").unwrap(),
    )
}

fn clock<'a>(ticket: &'a Value, name: &str, instance: u64) -> &'a Value {
    ticket["sla"]["clocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["clock"] == name && c["instance"] == instance)
        .unwrap_or_else(|| panic!("no {name}#{instance} in {}", ticket["sla"]))
}

pub(crate) fn line_ticket(shop_user: &str) -> TicketInput {
    TicketInput {
        channel: "line".to_owned(),
        subject: Some("包裹還沒到".to_owned()),
        body: "我上週訂的茶葉還沒收到，請問什麼時候會到？".to_owned(),
        customer: Some(app::intake::CustomerRef::Described(
            app::customers::CustomerInput {
                identities: vec![(domain::IdentityKind::LineUserId, shop_user.to_owned())],
                ..Default::default()
            },
        )),
        ..TicketInput::default()
    }
}

both_backends!(ticket_lifecycle_over_http, |t: &TestApp| {
    let (shop, agent, _) = keys(t);
    let server = Server::start(t.app.clone());
    let addr = server.addr.as_str();
    // Monday 2026-03-02 09:00 in Taipei: the desk has just opened.
    let body = json!({
        "channel": "line",
        "subject": "包裹還沒到",
        "body": "我上週訂的茶葉還沒收到",
        "customer": { "identities": { "line_user_id": "U-amy" } },
    });
    let r = post(addr, "/api/v1/tickets", &shop, &body.to_string());
    assert_eq!(r.status, 201, "{}", r.body);
    let ticket = r.json();
    let id = ticket["ticket"]["id"].as_i64().unwrap();
    assert_eq!(
        ticket["ticket"]["reference"],
        format!("T-2026-{id:06}"),
        "reference format"
    );
    assert_eq!(ticket["ticket"]["status"], "new");
    assert!(ticket["ticket"]["customer_id"].is_i64());
    assert_eq!(ticket["sla"]["policy"], "default_im");
    let fr = clock(&ticket, "first_response", 0);
    assert_eq!(fr["state"], "running");
    assert_eq!(fr["due_at"], "2026-03-02T02:00:00Z", "60 business minutes");
    assert_eq!(fr["warn_at"], "2026-03-02T01:45:00Z");
    assert_eq!(
        clock(&ticket, "resolution", 0)["due_at"],
        "2026-03-04T01:00:00Z",
        "48 calendar hours for normal priority"
    );
    assert_eq!(ticket["ticket"]["sla_next_due_at"], "2026-03-02T02:00:00Z");

    // An agent answers after 30 minutes: first response fulfilled, the ticket opens.
    t.advance(SignedDuration::from_mins(30));
    let r = post(
        addr,
        &format!("/api/v1/tickets/{id}/messages"),
        &agent,
        r#"{"body":"您好，我們馬上幫您查詢物流狀態。"}"#,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let ticket = r.json();
    assert_eq!(ticket["ticket"]["status"], "open");
    let fr = clock(&ticket, "first_response", 0);
    assert_eq!(fr["state"], "fulfilled");
    assert_eq!(fr["elapsed_seconds"], 1800);
    assert_eq!(fr["margin_seconds"], 1800);

    // Waiting on the customer pauses resolution; the customer's reply resumes it.
    let r = post(
        addr,
        &format!("/api/v1/tickets/{id}/status"),
        &agent,
        r#"{"status":"waiting_on_customer"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let ticket = r.json();
    let resolution = clock(&ticket, "resolution", 0);
    assert_eq!(resolution["state"], "paused");
    assert_eq!(resolution["paused_since"], "2026-03-02T01:30:00Z");
    t.advance(SignedDuration::from_hours(1));
    let r = post(
        addr,
        &format!("/api/v1/tickets/{id}/messages"),
        &shop,
        r#"{"body":"訂單編號是 A123"}"#,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let ticket = r.json();
    assert_eq!(
        ticket["ticket"]["status"], "open",
        "a customer reply ends the wait"
    );
    let resolution = clock(&ticket, "resolution", 0);
    assert_eq!(resolution["state"], "running");
    assert_eq!(
        resolution["due_at"], "2026-03-04T02:00:00Z",
        "the hour paused is added"
    );
    let next = clock(&ticket, "next_response", 1);
    assert_eq!(next["started_at"], "2026-03-02T02:30:00Z");
    assert_eq!(next["due_at"], "2026-03-02T03:30:00Z");

    // Assignment and the queue's filters.
    let r = post(
        addr,
        &format!("/api/v1/tickets/{id}/assignment"),
        &agent,
        r#"{"assignee":"amy"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    for (query, expected) in [
        ("?assignee=amy", 1),
        ("?assignee=none", 0),
        ("?status=open,new", 1),
        ("?status=closed", 0),
        ("", 1),
    ] {
        let r = get(addr, &format!("/api/v1/tickets{query}"), &agent);
        assert_eq!(r.status, 200, "{query}: {}", r.body);
        assert_eq!(
            r.json()["items"].as_array().unwrap().len(),
            expected,
            "{query}"
        );
    }
    let reference = ticket["ticket"]["reference"].as_str().unwrap().to_owned();
    let r = get(addr, &format!("/api/v1/tickets/{reference}"), &agent);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["ticket"]["id"], id);

    // Solved, then closed: an agent may not write; a customer's message reopens it.
    for status in ["solved", "closed"] {
        let r = post(
            addr,
            &format!("/api/v1/tickets/{id}/status"),
            &agent,
            &json!({ "status": status }).to_string(),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = post(
        addr,
        &format!("/api/v1/tickets/{id}/messages"),
        &agent,
        r#"{"body":"還有其他問題嗎？"}"#,
    );
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.json()["code"], "ticket_closed");
    let r = post(
        addr,
        &format!("/api/v1/tickets/{id}/notes"),
        &agent,
        r#"{"body":"客人很急"}"#,
    );
    assert_eq!(r.json()["code"], "ticket_closed");
    let r = post(
        addr,
        &format!("/api/v1/tickets/{id}/status"),
        &agent,
        r#"{"status":"new"}"#,
    );
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["code"], "invalid_status_change");
    let r = post(
        addr,
        &format!("/api/v1/tickets/{id}/messages"),
        &shop,
        r#"{"body":"收到的茶葉是壞的"}"#,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let ticket = r.json();
    assert_eq!(
        ticket["ticket"]["status"], "open",
        "reopened by the customer"
    );
    let events = ticket["events"].as_array().unwrap();
    let n = events.len();
    assert_eq!(events[n - 2]["kind"], "status");
    assert_eq!(events[n - 2]["previous"], "closed");
    assert_eq!(events[n - 2]["value"], "open");
    assert_eq!(events[n - 1]["kind"], "message");
    assert_eq!(events[n - 1]["from"], "customer");
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(&kinds[..2], ["opened", "message"]);
});

both_backends!(unanswered_ticket_breaches_once, |t: &TestApp| {
    let who = TestApp::principal(Role::Integration);
    let view = t.app.open_ticket(&who, &line_ticket("U-bob")).unwrap();
    let id = view.ticket.id;
    assert_eq!(t.app.run_pending_jobs().unwrap().done, 0, "nothing due yet");
    // Nobody answers; the clock moves past the deadline (10:00 in Taipei) and the worker runs.
    t.advance(SignedDuration::from_hours(3));
    let run = t.app.run_pending_jobs().unwrap();
    assert_eq!(run.done, 1, "{run:?}");
    assert_eq!(t.app.run_pending_jobs().unwrap().done, 0);
    assert_eq!(t.sibling(7).run_pending_jobs().unwrap().done, 0);
    let breaches = t
        .app
        .store
        .read(|tx| store::desk::count_sla_events(tx, "first_response", "breach"))
        .unwrap();
    assert_eq!(breaches, vec![(id, 1)]);
    let stored = t
        .app
        .store
        .read(|tx| store::desk::sla_events_of(tx, id))
        .unwrap();
    let breach = stored
        .iter()
        .find(|e| e.clock == "first_response" && e.action == "breach")
        .unwrap();
    assert_eq!(
        store::instant(breach.at_micros).unwrap().to_string(),
        "2026-03-02T02:00:00Z",
        "recorded at the deadline, not when the worker ran"
    );
    let view = t.app.ticket(id).unwrap();
    let sla_entries: Vec<_> = view
        .events
        .iter()
        .filter(|e| e.kind == "sla")
        .map(|e| {
            (
                e.clock.clone().unwrap(),
                e.action.clone().unwrap(),
                e.at.to_string(),
            )
        })
        .collect();
    assert!(
        sla_entries.contains(&(
            "first_response".into(),
            "warn".into(),
            "2026-03-02T01:45:00Z".into()
        )),
        "{sla_entries:?}"
    );
    assert_eq!(
        sla_entries
            .iter()
            .filter(|e| e.0 == "first_response" && e.1 == "breach")
            .count(),
        1
    );
    assert!(view.ticket.sla_breached);
    let fr = view
        .sla
        .unwrap()
        .clocks
        .into_iter()
        .find(|c| c.clock == domain::sla::ClockKind::FirstResponse)
        .unwrap();
    assert_eq!(fr.state, "breached");
    // A late answer fulfils the clock but never takes the breach back.
    let agent = TestApp::principal(Role::Agent);
    let reply = MessageInput {
        from: "agent".into(),
        body: "抱歉讓您久等了".into(),
        ack_only: false,
    };
    t.app.add_message(&agent, id, &reply).unwrap();
    let again = t
        .app
        .store
        .read(|tx| store::desk::count_sla_events(tx, "first_response", "breach"))
        .unwrap();
    assert_eq!(again, vec![(id, 1)]);
});

both_backends!(an_auto_acknowledgement_fulfils_only_ack, |t: &TestApp| {
    let who = TestApp::principal(Role::Integration);
    let mut input = line_ticket("U-carol");
    input.channel = "email".into();
    let id = t.app.open_ticket(&who, &input).unwrap().ticket.id;
    let ack = MessageInput {
        from: "system".into(),
        body: "我們已收到您的來信，案件編號 T-2026-000001".into(),
        ack_only: true,
    };
    let view = t.app.add_message(&who, id, &ack).unwrap();
    assert_eq!(
        view.ticket.status, "new",
        "an auto-reply does not open the ticket"
    );
    let state = |kind| {
        view.sla
            .as_ref()
            .unwrap()
            .clocks
            .iter()
            .find(|c| c.clock == kind)
            .unwrap()
            .state
    };
    assert_eq!(state(domain::sla::ClockKind::Ack), "fulfilled");
    assert_eq!(state(domain::sla::ClockKind::FirstResponse), "running");
    let customer_ack = MessageInput {
        from: "customer".into(),
        body: "x".into(),
        ack_only: true,
    };
    assert!(matches!(
        t.app.add_message(&who, id, &customer_ack),
        Err(app::AppError::Invalid(_))
    ));
});

both_backends!(
    a_thousand_timers_fire_once_with_two_workers,
    |t: &TestApp| {
        let who = TestApp::principal(Role::Integration);
        const TICKETS: usize = 1_000;
        let mut ids = Vec::with_capacity(TICKETS);
        for i in 0..TICKETS {
            ids.push(
                t.app
                    .open_ticket(&who, &line_ticket(&format!("U-{i}")))
                    .unwrap()
                    .ticket
                    .id,
            );
        }
        t.advance(SignedDuration::from_hours(2));
        let second = t.sibling(4242);
        let barrier = std::sync::Barrier::new(2);
        let runs: Vec<_> = std::thread::scope(|s| {
            let workers = [&t.app, &second].map(|app| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    app.run_pending_jobs().unwrap()
                })
            });
            workers.map(|w| w.join().unwrap()).to_vec()
        });
        assert_eq!(runs[0].done + runs[1].done, TICKETS, "{runs:?}");
        assert_eq!(
            runs[0].retried + runs[1].retried + runs[0].dead + runs[1].dead,
            0
        );
        let (breaches, warnings, jobs) = t
            .app
            .store
            .read(|tx| {
                Ok::<_, anyhow::Error>((
                    store::desk::count_sla_events(tx, "first_response", "breach")?,
                    store::desk::count_sla_events(tx, "first_response", "warn")?,
                    store::jobs::states_of_kind(tx, SLA_TIMER_JOB)?,
                ))
            })
            .unwrap();
        assert_eq!(breaches.len(), TICKETS);
        assert!(
            breaches.iter().all(|(_, n)| *n == 1),
            "each breach stored once"
        );
        assert_eq!(
            breaches.iter().map(|b| b.0).collect::<Vec<_>>(),
            ids,
            "every ticket breached"
        );
        assert!(warnings.iter().all(|(_, n)| *n == 1));
        let done: Vec<_> = jobs.iter().filter(|j| j.1 == "done").collect();
        assert_eq!(done.len(), TICKETS);
        assert!(done.iter().all(|j| j.2 == 1), "each timer ran once");
        // Every ticket now has its next timer (the periodic update warning), not yet due.
        assert_eq!(jobs.iter().filter(|j| j.1 == "pending").count(), TICKETS);
    }
);

both_backends!(calendars_and_preview_over_http, |t: &TestApp| {
    let (_, agent, manager) = keys(t);
    let server = Server::start(t.app.clone());
    let addr = server.addr.as_str();
    let r = get(addr, "/api/v1/calendars/1", &agent);
    assert_eq!(r.status, 200, "{}", r.body);
    let default = r.json();
    assert_eq!(default["version"], 0, "the Taiwan preset until stored");
    assert_eq!(default["calendar"]["zone"], "Asia/Taipei");
    assert_eq!(default["calendar"]["weekly"]["mon"][1]["start"], "13:00");

    let overlapping = json!({
        "zone": "Asia/Taipei",
        "weekly": { "mon": [{"start":"09:00","end":"12:00"}, {"start":"11:00","end":"18:00"}] },
    });
    let put = |key: &str, id: i64, body: &Value| {
        request(
            addr,
            "PUT",
            &format!("/api/v1/calendars/{id}"),
            Some(key),
            Some(&body.to_string()),
        )
    };
    let r = put(&manager, 2, &overlapping);
    assert_eq!(r.status, 422, "{}", r.body);
    let problem = r.json();
    assert_eq!(problem["code"], "invalid_field");
    assert_eq!(problem["errors"][0]["field"], "weekly.mon");
    assert!(
        problem["errors"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("overlaps"),
        "{problem}"
    );
    for (body, field) in [
        (
            json!({"zone":"Asia/Taipei","weekly":{"tue":[{"start":"18:00","end":"09:00"}]}}),
            "weekly.tue[0]",
        ),
        (json!({"zone":"Mars/Olympus","weekly":{}}), "zone"),
        (
            json!({"zone":"Asia/Taipei","weekly":{},"exceptions":[{"date":"2026-02-30","change":"close"}]}),
            "exceptions[0].date",
        ),
        (
            json!({"zone":"Asia/Taipei","weekly":{},"exceptions":[{"date":"2026-03-07","change":"open"}]}),
            "exceptions[0].frames",
        ),
        (
            json!({"zone":"Asia/Taipei","weekly":{"wed":[{"start":"25:00","end":"26:00"}]}}),
            "weekly.wed[0]",
        ),
        (
            json!({"zone":"Asia/Taipei","weekly":{"fri":[{"start":"09:00"}]}}),
            "weekly.fri[0].end",
        ),
    ] {
        let r = put(&manager, 2, &body);
        assert_eq!(r.status, 422, "{body}: {}", r.body);
        assert_eq!(r.json()["errors"][0]["field"], field, "{body}");
    }
    let hk = json!({
        "name": "Hong Kong shop",
        "zone": "Asia/Hong_Kong",
        "weekly": { "tue": [{"start":"09:00","end":"18:00"}], "wed": [{"start":"09:00","end":"18:00"}] },
        "exceptions": [{"date":"2026-03-03","change":"close","frames":[{"start":"14:00","end":"24:00"}],"label":"八號風球"}],
    });
    let r = put(&agent, 2, &hk);
    assert_eq!(r.status, 403, "agents do not configure the desk");
    let r = put(&manager, 2, &hk);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["version"], 1);
    assert_eq!(put(&manager, 2, &hk).json()["version"], 2);
    assert_eq!(
        get(addr, "/api/v1/calendars/2", &agent).json()["calendar"]["name"],
        "Hong Kong shop"
    );
    assert_eq!(get(addr, "/api/v1/calendars/3", &agent).status, 404);

    // T27: typhoon closure from 14:00; a ticket at 13:00 with 2 business hours is due at 10:00
    // the next day.
    let preview = json!({
        "calendar_id": 2,
        "start": "2026-03-03T13:00:00+08:00",
        "target": "2h",
        "warning_lead": "15m",
    });
    let r = post(addr, "/api/v1/sla/preview", &manager, &preview.to_string());
    assert_eq!(r.status, 200, "{}", r.body);
    let answer = r.json();
    assert_eq!(answer["deadline"], "2026-03-04T02:00:00Z");
    assert_eq!(answer["deadline_local"], "2026-03-04T10:00:00+08:00");
    assert_eq!(answer["warning_at_local"], "2026-03-04T09:45:00+08:00");
    // T22 with an inline calendar, and a pause.
    let inline = json!({
        "calendar": {
            "zone": "Asia/Taipei",
            "weekly": {
                "mon": [{"start":"09:00","end":"12:00"},{"start":"13:00","end":"18:00"}],
                "thu": [{"start":"09:00","end":"12:00"},{"start":"13:00","end":"18:00"}],
                "fri": [{"start":"09:00","end":"12:00"},{"start":"13:00","end":"18:00"}],
            },
            "exceptions": [{"date":"2025-10-10","change":"close","label":"國慶日"}],
        },
        "start": "2025-10-09T17:30:00+08:00",
        "target": "240m",
    });
    let r = post(addr, "/api/v1/sla/preview", &manager, &inline.to_string());
    assert_eq!(r.json()["deadline"], "2025-10-13T05:30:00Z", "{}", r.body);
    let mut paused = inline.clone();
    paused["pauses"] =
        json!([{"start":"2025-10-13T09:00:00+08:00","end":"2025-10-13T10:00:00+08:00"}]);
    let r = post(addr, "/api/v1/sla/preview", &manager, &paused.to_string());
    assert_eq!(r.json()["deadline"], "2025-10-13T06:30:00Z", "{}", r.body);
    for (patch, field) in [
        (json!({"target": "soon"}), "target"),
        (json!({"start": "yesterday"}), "start"),
        (json!({"basis": "lunar"}), "basis"),
        (json!({"warning_lead": "0m"}), "warning_lead"),
        (
            json!({"pauses": [{"start":"2025-10-13T10:00:00+08:00","end":"2025-10-13T09:00:00+08:00"}]}),
            "pauses[0]",
        ),
        (
            json!({"calendar": {"zone":"Asia/Taipei","weekly":{}}}),
            "calendar",
        ),
    ] {
        let mut body = inline.clone();
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = post(addr, "/api/v1/sla/preview", &manager, &body.to_string());
        assert_eq!(r.status, 422, "{patch}: {}", r.body);
        assert_eq!(r.json()["errors"][0]["field"], field, "{patch}: {}", r.body);
    }
});

both_backends!(bad_desk_input_never_panics, |t: &TestApp| {
    let (shop, agent, manager) = keys(t);
    let server = Server::start(t.app.clone());
    let addr = server.addr.as_str();
    let r = post(
        addr,
        "/api/v1/tickets",
        &shop,
        r#"{"channel":"web","body":"網站付款失敗"}"#,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let huge = "字".repeat(domain::desk::TICKET_BODY_BYTES_MAX / 3 + 1);
    let cases: Vec<(&str, &str, String, &str)> = vec![
        (
            "POST",
            "/api/v1/tickets",
            r#"{"channel":"fax","body":"x"}"#.into(),
            "channel",
        ),
        (
            "POST",
            "/api/v1/tickets",
            r#"{"channel":"web","body":"   "}"#.into(),
            "body",
        ),
        (
            "POST",
            "/api/v1/tickets",
            json!({"channel":"web","body":huge}).to_string(),
            "body",
        ),
        (
            "POST",
            "/api/v1/tickets",
            r#"{"channel":"web","body":"x","priority":"asap"}"#.into(),
            "priority",
        ),
        (
            "POST",
            "/api/v1/tickets",
            r#"{"channel":"web","body":"x","category":"weather"}"#.into(),
            "category",
        ),
        (
            "POST",
            "/api/v1/tickets",
            r#"{"channel":"web","body":"x","subject":"a\nb"}"#.into(),
            "subject",
        ),
        (
            "POST",
            "/api/v1/tickets",
            r#"{"channel":"web","body":"x","assignee":"王小明"}"#.into(),
            "assignee",
        ),
        (
            "POST",
            "/api/v1/tickets",
            r#"{"channel":"web","body":"x","opened_by":"robot"}"#.into(),
            "opened_by",
        ),
        (
            "POST",
            "/api/v1/tickets",
            r#"{"channel":"web","body":"x","customer":{"id":-1}}"#.into(),
            "customer.id",
        ),
        (
            "POST",
            "/api/v1/tickets",
            r#"{"channel":"web","body":"x","surprise":1}"#.into(),
            "surprise",
        ),
        (
            "POST",
            "/api/v1/tickets",
            r#"{"channel":7,"body":"x"}"#.into(),
            "channel",
        ),
        (
            "POST",
            "/api/v1/tickets/1/messages",
            r#"{"from":"martian","body":"x"}"#.into(),
            "from",
        ),
        (
            "POST",
            "/api/v1/tickets/1/status",
            r#"{"status":"pending"}"#.into(),
            "status",
        ),
        (
            "POST",
            "/api/v1/tickets/1/assignment",
            r#"{"assignee":""}"#.into(),
            "assignee",
        ),
    ];
    for (method, path, body, field) in &cases {
        let r = request(addr, method, path, Some(&shop), Some(body));
        assert_eq!(r.status, 422, "{path} {body}: {}", r.body);
        assert_eq!(
            r.json()["errors"][0]["field"],
            *field,
            "{path} {body}: {}",
            r.body
        );
    }
    let r = post(
        addr,
        "/api/v1/tickets",
        &shop,
        r#"{"channel":"web","body":"x","customer":{"id":999}}"#,
    );
    assert_eq!(r.json()["code"], "unknown_customer");
    let r = post(
        addr,
        "/api/v1/tickets",
        &shop,
        r#"{"channel":"web","body":"x","order_id":999}"#,
    );
    assert_eq!(r.json()["code"], "unknown_order");
    for path in [
        "/api/v1/tickets/999",
        "/api/v1/tickets/T-2026-000999",
        "/api/v1/tickets/T-2025-000001",
        "/api/v1/tickets/not-a-ticket",
        "/api/v1/tickets/-1",
    ] {
        let r = get(addr, path, &agent);
        assert_eq!(r.status, 404, "{path}: {}", r.body);
    }
    for path in [
        "/api/v1/tickets?limit=0",
        "/api/v1/tickets?limit=1000",
        "/api/v1/tickets?cursor=%%%",
        "/api/v1/tickets?status=pending",
        "/api/v1/tickets?assignee=%E7%8E%8B",
        "/api/v1/tickets?colour=red",
    ] {
        let r = get(addr, path, &agent);
        assert!(
            matches!(r.status, 400 | 422),
            "{path}: {} {}",
            r.status,
            r.body
        );
    }
    for body in ["", "{", "[]", "null", r#"{"zone":1}"#] {
        let r = request(
            addr,
            "PUT",
            "/api/v1/calendars/1",
            Some(&manager),
            Some(body),
        );
        assert!(
            matches!(r.status, 400 | 422),
            "{body}: {} {}",
            r.status,
            r.body
        );
    }
    let r = request(
        addr,
        "PUT",
        "/api/v1/calendars/0",
        Some(&manager),
        Some(r#"{"zone":"Asia/Taipei","weekly":{}}"#),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    let r = request(
        addr,
        "PUT",
        "/api/v1/sla/policies",
        Some(&manager),
        Some(r#"{"policies":[{"name":"vip","targets":{"first_response":{"business":"1s"}}}]}"#),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(
        r.json()["errors"][0]["field"],
        "policies[0].targets.first_response"
    );
    let r = request(
        addr,
        "PUT",
        "/api/v1/sla/policies",
        Some(&manager),
        Some(
            r#"{"policies":[{"name":"vip","calendar_id":42,"targets":{"first_response":{"business":"30m"}}}]}"#,
        ),
    );
    assert_eq!(
        r.json()["errors"][0]["field"],
        "policies[0].calendar_id",
        "{}",
        r.body
    );
});

both_backends!(
    policies_choose_targets_and_recompute_open_tickets,
    |t: &TestApp| {
        let who = TestApp::principal(Role::Integration);
        let manager = TestApp::principal(Role::Manager);
        let mut urgent = line_ticket("U-dan");
        urgent.priority = Some("urgent".into());
        let id = t.app.open_ticket(&who, &urgent).unwrap().ticket.id;
        let policy: app::desk::documents::PolicyDoc = serde_json::from_value(json!({
            "name": "urgent_im",
            "when": { "channels": ["im"], "priorities": ["urgent"] },
            "targets": { "first_response": { "business": "15m" } },
        }))
        .unwrap();
        t.app.put_sla_policies(&manager, &[policy]).unwrap();
        // The recompute job re-evaluates the open ticket with the new policy.
        assert!(t.app.run_pending_jobs().unwrap().done >= 1);
        let view = t.app.ticket(id).unwrap();
        let sla = view.sla.unwrap();
        assert_eq!(sla.policy, "urgent_im");
        let fr = sla
            .clocks
            .iter()
            .find(|c| c.clock == domain::sla::ClockKind::FirstResponse)
            .unwrap();
        assert_eq!(fr.due_at.unwrap().to_string(), "2026-03-02T01:15:00Z");
        assert_eq!(
            view.ticket.sla_next_due_at.unwrap().to_string(),
            "2026-03-02T01:15:00Z"
        );
        // Priority changes choose the policy again: a normal ticket gets the channel default.
        let view = t
            .app
            .classify_ticket(&manager, id, Some("normal"), Some(Some("logistics_delay")))
            .unwrap();
        assert_eq!(view.sla.unwrap().policy, "default_im");
        assert_eq!(view.ticket.category.as_deref(), Some("logistics_delay"));
    }
);

#[test]
fn sla_preview_on_the_command_line() {
    let dir = std::env::temp_dir().join(format!("patron-sla-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let calendar = dir.join("calendar.json");
    let frames = json!([{"start":"09:00","end":"12:00"},{"start":"13:00","end":"18:00"}]);
    std::fs::write(
        &calendar,
        json!({
            "zone": "Asia/Taipei",
            "weekly": { "mon": frames, "tue": frames, "wed": frames, "thu": frames, "fri": frames },
            "exceptions": [{"date":"2025-10-10","change":"close","label":"國慶日"}],
        })
        .to_string(),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = patron()
            .args(["sla", "preview"])
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let file = calendar.to_str().unwrap();
    let (ok, out, err) = run(&[
        "--calendar",
        file,
        "--start",
        "2025-10-09T17:30:00+08:00",
        "--target",
        "4h",
        "--warn",
        "15m",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("deadline  2025-10-13T13:30:00+08:00"), "{out}");
    assert!(out.contains("warning   2025-10-13T13:15:00+08:00"), "{out}");
    let (ok, out, _) = run(&[
        "--calendar",
        file,
        "--start",
        "2025-10-09T17:30:00+08:00",
        "--target",
        "24h",
        "--calendar-time",
    ]);
    assert!(ok);
    assert!(
        out.contains("deadline  2025-10-10T17:30:00+08:00"),
        "T24: {out}"
    );
    let (ok, out, _) = run(&[
        "--calendar",
        file,
        "--start",
        "2025-10-09T17:30:00+08:00",
        "--target",
        "4h",
        "--pause",
        "2025-10-13T09:00:00+08:00/2025-10-13T10:00:00+08:00",
    ]);
    assert!(ok);
    assert!(out.contains("deadline  2025-10-13T14:30:00+08:00"), "{out}");
    let (ok, out, _) = run(&[
        "--start",
        "2026-03-03T15:00:00+08:00",
        "--target",
        "same_day",
    ]);
    assert!(ok);
    assert!(
        out.contains("deadline  2026-03-03T18:00:00+08:00"),
        "T28: {out}"
    );
    std::fs::write(
        &calendar,
        r#"{"zone":"Asia/Taipei","weekly":{"mon":[{"start":"09:00","end":"12:00"},{"start":"11:00","end":"13:00"}]}}"#,
    )
    .unwrap();
    let (ok, _, err) = run(&[
        "--calendar",
        file,
        "--start",
        "2026-03-02T09:00:00+08:00",
        "--target",
        "1h",
    ]);
    assert!(!ok);
    assert!(err.contains("calendar.weekly.mon"), "{err}");
    let (ok, _, err) = run(&[
        "--start",
        "2026-03-02T09:00:00+08:00",
        "--target",
        "1h",
        "--pause",
        "nonsense",
    ]);
    assert!(!ok);
    assert!(err.contains("--pause"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A LINE sender that records requests and answers 200 (or a scripted status).
#[derive(Default)]
struct RecordingLine {
    sent: std::sync::Mutex<Vec<(String, String)>>,
    status: std::sync::Mutex<Vec<u16>>,
}

impl app::line::LineSender for RecordingLine {
    fn post(&self, url: &str, token: &str, body: &str) -> Result<u16, String> {
        assert_eq!(token, "token-1");
        self.sent
            .lock()
            .unwrap()
            .push((url.to_owned(), body.to_owned()));
        Ok(self.status.lock().unwrap().pop().unwrap_or(200))
    }
}

/// POSTs a raw LINE webhook body with an optional signature header.
fn line_post(addr: &str, body: &str, signature: Option<&str>) -> (u16, Value) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let mut req = format!(
        "POST /api/v1/channels/line/webhook HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(sig) = signature {
        req.push_str(&format!("X-Line-Signature: {sig}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out.split_whitespace().nth(1).unwrap().parse().unwrap();
    let json = out
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    (status, json)
}

fn line_message(event_id: &str, user: &str, text: &str) -> String {
    json!({
        "destination": "Ubot",
        "events": [{
            "type": "message", "mode": "active", "timestamp": 1772413200000_i64,
            "webhookEventId": event_id, "replyToken": format!("reply-{event_id}"),
            "source": { "type": "user", "userId": user },
            "message": { "type": "text", "id": format!("m-{event_id}"), "text": text },
            "deliveryContext": { "isRedelivery": false },
        }],
    })
    .to_string()
}

both_backends!(line_webhook_end_to_end, |t: &TestApp| {
    let line = std::sync::Arc::new(RecordingLine::default());
    let app = t.app.clone().with_line_sender(line.clone());
    let admin = TestApp::principal(Role::Admin);
    app.put_line_channel(
        &admin,
        &app::line::LineChannelInput {
            channel_secret: "secret-1".into(),
            access_token: "token-1".into(),
            api_base_url: Some("http://127.0.0.1:9/line".into()),
        },
    )
    .unwrap();
    let server = Server::start(app.clone());
    let addr = server.addr.as_str();
    let tickets = |app: &app::App| {
        app.tickets(&Default::default(), 0, 100)
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>()
    };

    // A bad or missing signature: 401 and nothing stored.
    let body = line_message("e1", "U-line-amy", "我的訂單在哪裡？");
    let bad = app::line::signature("another-secret", body.as_bytes());
    for sig in [Some(bad.as_str()), None, Some("not base64!")] {
        let (status, json) = line_post(addr, &body, sig);
        assert_eq!(status, 401, "{json}");
        assert_eq!(json["code"], "invalid_signature");
    }
    assert!(tickets(&app).is_empty());
    assert_eq!(
        app.store.read(store::customers::count).unwrap(),
        0,
        "no customer created"
    );

    // A signed message: a customer by LINE id, a ticket, an acknowledgement by reply.
    let sig = app::line::signature("secret-1", body.as_bytes());
    let (status, json) = line_post(addr, &body, Some(&sig));
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["messages"], 1);
    assert_eq!(json["tickets_opened"], 1);
    let list = tickets(&app);
    assert_eq!(list.len(), 1);
    let id = list[0].id;
    let reference = list[0].reference.clone();
    let view = app.ticket(id).unwrap();
    assert_eq!(view.ticket.channel, "line");
    let ack = view
        .events
        .iter()
        .find(|e| e.kind == "message" && e.from.as_deref() == Some("system"))
        .expect("an automatic acknowledgement");
    assert!(ack.ack_only);
    assert!(ack.body.as_deref().unwrap().contains(&reference), "{ack:?}");
    let state = |v: &app::desk::TicketView, kind| {
        v.sla
            .as_ref()
            .unwrap()
            .clocks
            .iter()
            .find(|c| c.clock == kind)
            .map(|c| c.state)
    };
    assert_ne!(
        state(&view, domain::sla::ClockKind::FirstResponse),
        Some("fulfilled"),
        "an auto-ack never answers for first_response"
    );
    assert_eq!(app.run_pending_jobs().unwrap().done, 1);
    {
        let sent = line.sent.lock().unwrap();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].0, "http://127.0.0.1:9/line/v2/bot/message/reply");
        let b: Value = serde_json::from_str(&sent[0].1).unwrap();
        assert_eq!(b["replyToken"], "reply-e1");
        assert!(
            b["messages"][0]["text"]
                .as_str()
                .unwrap()
                .contains(&reference)
        );
    }

    // A redelivery is skipped; a second message continues the same ticket.
    let (_, json) = line_post(addr, &body, Some(&sig));
    assert_eq!(json["duplicates"], 1);
    let body2 = line_message("e2", "U-line-amy", "訂單編號是 A123");
    let sig2 = app::line::signature("secret-1", body2.as_bytes());
    let (status, json) = line_post(addr, &body2, Some(&sig2));
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["tickets_opened"], 0);
    assert_eq!(tickets(&app).len(), 1);
    let customer_messages = app
        .ticket(id)
        .unwrap()
        .events
        .iter()
        .filter(|e| e.kind == "message" && e.from.as_deref() == Some("customer"))
        .count();
    assert_eq!(customer_messages, 2);

    // Unknown event types are accepted and ignored.
    let follow = json!({ "destination": "Ubot", "events": [
        { "type": "follow", "webhookEventId": "e3", "source": { "type": "user", "userId": "U-line-bob" } },
        { "type": "some_future_event", "webhookEventId": "e4" },
    ]})
    .to_string();
    let sig3 = app::line::signature("secret-1", follow.as_bytes());
    let (status, json) = line_post(addr, &follow, Some(&sig3));
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["ignored"], 2);
    assert_eq!(tickets(&app).len(), 1);

    // An agent's answer on the LINE ticket goes out as a push.
    let agent = TestApp::principal(Role::Agent);
    app.add_message(
        &agent,
        id,
        &MessageInput {
            from: "agent".into(),
            body: "您好，包裹明天會到。".into(),
            ack_only: false,
        },
    )
    .unwrap();
    assert_eq!(app.run_pending_jobs().unwrap().done, 1);
    let sent = line.sent.lock().unwrap();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1].0, "http://127.0.0.1:9/line/v2/bot/message/push");
    let b: Value = serde_json::from_str(&sent[1].1).unwrap();
    assert_eq!(b["to"], "U-line-amy");
});

both_backends!(templates_replies_and_compensation, |t: &TestApp| {
    let (_, agent, manager) = keys(t);
    let server = Server::start(t.app.clone());
    let addr = server.addr.as_str();
    // An unknown variable is refused when saved.
    let r = request(
        addr,
        "PUT",
        "/api/v1/templates/logistics_delay",
        Some(&manager),
        Some(r#"{"locale":"zh-TW","body":"{{customer.nickname}} 您好"}"#),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("customer.nickname"), "{}", r.body);
    let r = get(addr, "/api/v1/templates", &agent);
    assert_eq!(r.status, 200);
    assert!(r.json().as_array().unwrap().len() >= 12);

    let body = json!({
        "channel": "email",
        "subject": "商品破損",
        "body": "收到的茶壺有裂痕",
        "customer": { "identities": { "email": "wang@example.com" }, "name": "王小明" },
    });
    let r = post(addr, "/api/v1/tickets", &agent, &body.to_string());
    assert_eq!(r.status, 201, "{}", r.body);
    let ticket = r.json();
    let id = ticket["ticket"]["id"].as_i64().unwrap();
    let reference = ticket["ticket"]["reference"].as_str().unwrap().to_owned();
    let customer_id = ticket["ticket"]["customer_id"].as_i64().unwrap();
    let ack = &ticket["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["from"] == "system")
        .unwrap()["body"];
    assert!(ack.as_str().unwrap().starts_with("王顧客 您好"), "{ack}");
    assert_eq!(clock(&ticket, "ack", 0)["state"], "fulfilled");
    assert_eq!(clock(&ticket, "first_response", 0)["state"], "running");

    // A template the ticket cannot fill (no order) is an error, not a blank.
    let r = post(
        addr,
        &format!("/api/v1/tickets/{id}/replies"),
        &agent,
        r#"{"template":"order_status"}"#,
    );
    assert_eq!(r.status, 422, "{}", r.body);
    let r = post(
        addr,
        &format!("/api/v1/tickets/{id}/replies"),
        &agent,
        r#"{"template":"product_defect","title":"mr"}"#,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let ticket = r.json();
    let last = ticket["events"]
        .as_array()
        .unwrap()
        .iter()
        .rfind(|e| e["kind"] == "message")
        .unwrap()
        .clone();
    let text = last["body"].as_str().unwrap();
    assert!(text.starts_with("王先生 您好"), "{text}");
    assert!(text.contains(&reference));
    assert_eq!(clock(&ticket, "first_response", 0)["state"], "fulfilled");

    // Compensation: agents up to the limit, more needs a manager.
    let limit = domain::desk::reply::COMPENSATION_POINTS_AGENT_MAX;
    let path = format!("/api/v1/tickets/{id}/compensation");
    let over = json!({ "points": limit + 1, "reason": "茶壺破損" }).to_string();
    let r = post(addr, &path, &agent, &over);
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(
        t.app.points_balance(customer_id).unwrap(),
        0,
        "nothing posted"
    );
    let r = post(
        addr,
        &path,
        &agent,
        &json!({ "points": limit, "reason": "茶壺破損" }).to_string(),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(r.json()["reason"].as_str().unwrap().contains(&reference));
    let r = post(addr, &path, &manager, &over);
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(t.app.points_balance(customer_id).unwrap(), 2 * limit + 1);
    let statement = t.app.points_statement(customer_id, (0, 0), 10).unwrap();
    assert_eq!(statement.entries.len(), 2);
    assert!(
        statement.entries[0]
            .reason
            .as_deref()
            .unwrap()
            .contains(&reference)
    );
    let view = t.app.ticket(id).unwrap();
    let notes = view
        .events
        .iter()
        .filter(|e| e.kind == "note" && e.body.as_deref().unwrap().starts_with("Compensation"))
        .count();
    assert_eq!(notes, 2, "the ticket log records each compensation");
    for bad in [
        json!({ "points": 0, "reason": "x" }),
        json!({ "points": 5, "reason": " " }),
    ] {
        let r = post(addr, &path, &manager, &bad.to_string());
        assert_eq!(r.status, 422, "{bad}: {}", r.body);
    }
});

/// Articles a shop might keep, and questions asked in other words.
const ARTICLES: &[(&str, &str)] = &[
    (
        "如何辦理退貨",
        "收到商品七天內可申請退貨，請至會員中心的訂單頁面點選退貨，我們會安排宅配收件。",
    ),
    (
        "忘記密碼怎麼辦",
        "在登入頁點選「忘記密碼」，輸入註冊信箱後會收到重設密碼的連結，連結一小時內有效。",
    ),
    (
        "查詢訂單配送進度",
        "出貨後會寄送物流單號，可在訂單頁面追蹤包裹目前的配送狀態與預計到貨日。",
    ),
    (
        "會員點數如何使用",
        "結帳時可折抵點數，每一點折抵一元，點數效期為取得後一年。",
    ),
    (
        "門市營業時間",
        "各門市營業時間為上午十一點至晚上九點，國定假日照常營業。",
    ),
    (
        "付款方式說明",
        "我們接受信用卡、LINE Pay、超商代碼與貨到付款。",
    ),
    (
        "商品瑕疵處理",
        "若收到的商品有破損或瑕疵，請拍照上傳，我們會免費換貨並負擔運費。",
    ),
    (
        "發票開立與寄送",
        "電子發票會在出貨後寄到您的信箱，也可以存入手機條碼載具。",
    ),
    (
        "修改收件地址",
        "訂單出貨前可以在訂單頁面修改收件地址，出貨後請聯繫客服。",
    ),
    (
        "Shipping abroad",
        "We ship to Hong Kong and Macau; delivery takes five to seven days.",
    ),
];

/// Each question with the title of the article that answers it.
const QUESTIONS: &[(&str, &str)] = &[
    ("我想把買的東西退回去", "如何辦理退貨"),
    ("東西不喜歡可以退嗎", "如何辦理退貨"),
    ("密碼想不起來登入不了", "忘記密碼怎麼辦"),
    ("要怎麼重設我的密碼", "忘記密碼怎麼辦"),
    ("我的包裹現在到哪裡了", "查詢訂單配送進度"),
    ("訂單什麼時候會到貨", "查詢訂單配送進度"),
    ("我的點數可以折抵多少錢", "會員點數如何使用"),
    ("你們店幾點開門", "門市營業時間"),
    ("可以用LINE Pay付錢嗎", "付款方式說明"),
    ("收到的杯子破掉了", "商品瑕疵處理"),
    ("發票會寄到哪裡", "發票開立與寄送"),
    ("我地址填錯了想改", "修改收件地址"),
    ("do you ship to hong kong", "Shipping abroad"),
];

both_backends!(knowledge_base_recall_at_3, |t: &TestApp| {
    let admin = TestApp::principal(Role::Admin);
    for (title, body) in ARTICLES {
        let locale = if title.is_ascii() { "en" } else { "zh-TW" };
        t.app
            .create_article(
                &admin,
                &app::desk::kb::ArticleInput {
                    locale: locale.into(),
                    title: (*title).into(),
                    body: (*body).into(),
                },
            )
            .unwrap();
    }
    let mut found = 0;
    let mut misses = Vec::new();
    for (question, expected) in QUESTIONS {
        let hits = t.app.search_articles(question, 3).unwrap();
        if hits.iter().any(|h| h.article.title == *expected) {
            found += 1;
        } else {
            misses.push(*question);
        }
    }
    let recall = found as f64 / QUESTIONS.len() as f64;
    eprintln!(
        "knowledge base recall@3 = {recall:.2} ({found}/{})",
        QUESTIONS.len()
    );
    assert!(recall >= 0.9, "recall@3 {recall:.2}; missed {misses:?}");
    assert!(matches!(
        t.app.search_articles("  ", 3),
        Err(app::AppError::Invalid(_))
    ));
    assert!(t.app.search_articles("zzzz", 3).unwrap().is_empty());
});

both_backends!(
    calendar_change_recomputes_open_tickets_as_one_by_one,
    |t: &TestApp| {
        let who = TestApp::principal(Role::Integration);
        let manager = TestApp::principal(Role::Manager);
        let mut ids = Vec::new();
        for n in 0..5 {
            ids.push(
                t.app
                    .open_ticket(&who, &line_ticket(&format!("U-bulk-{n}")))
                    .unwrap()
                    .ticket
                    .id,
            );
        }
        // A closed ticket inside the id range: its log is read by the bulk query but skipped.
        t.app.change_status(&manager, ids[2], "solved").unwrap();
        t.app.change_status(&manager, ids[2], "closed").unwrap();
        // One answered ticket (its first response is fulfilled, others still run).
        t.app
            .change_status(&manager, ids[4], "waiting_on_customer")
            .unwrap();
        t.app.run_pending_jobs().unwrap();
        let before: Vec<_> = ids
            .iter()
            .map(|id| t.app.ticket(*id).unwrap().ticket.sla_next_due_at)
            .collect();
        // Whole-day closures today and tomorrow move the open tickets' deadlines.
        let today = t
            .app
            .now()
            .to_zoned(jiff::tz::TimeZone::get("Asia/Taipei").unwrap())
            .date();
        let mut doc = app::desk::documents::CalendarDoc::taiwan_default();
        for date in [today, today.tomorrow().unwrap()] {
            doc.exceptions.push(app::desk::documents::ExceptionDoc {
                date: date.to_string(),
                change: "close".to_owned(),
                frames: Vec::new(),
                label: "颱風停班".to_owned(),
                active: true,
            });
        }
        t.app
            .put_calendar(&manager, app::desk::DEFAULT_CALENDAR_ID, &doc)
            .unwrap();
        assert!(t.app.run_pending_jobs().unwrap().done >= 1);
        let mut moved = 0;
        for (id, before) in ids.iter().zip(before) {
            let view = t.app.ticket(*id).unwrap();
            // The stored queue deadline is what evaluating the ticket alone finds now.
            let live = view.sla.as_ref().and_then(|s| {
                s.clocks
                    .iter()
                    .filter(|c| c.state == "running")
                    .filter_map(|c| c.due_at)
                    .min()
            });
            if view.ticket.status == "closed" {
                assert_eq!(view.ticket.sla_next_due_at, before, "ticket {id}");
                continue;
            }
            assert_eq!(view.ticket.sla_next_due_at, live, "ticket {id}");
            moved += usize::from(before != live);
        }
        assert!(moved >= 3, "{moved} deadlines moved");
    }
);

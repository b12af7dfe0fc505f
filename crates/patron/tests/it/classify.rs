//! Desk classification end to end: `POST /api/v1/desk/classify`, triage on ticket open
//! (category, priority and assignee recorded as log events), the tiered auto-reply (an
//! order-status question answered with the real order's figures; a complaint never
//! answered automatically), routing to seniors, and the retrain job storing a new model
//! from an agent's label.

use crate::http::{Server, post, request};
use crate::support::order;
use app::Principal;
use app::desk::TicketInput;
use app::desk::agents::AgentInput;
use app::intake::{CustomerRef, Intake};
use domain::access::Role;
use jiff::SignedDuration;
use serde_json::json;
use test_support::{TestApp, both_backends};

fn email_ticket(customer_id: i64, body: &str) -> TicketInput {
    TicketInput {
        channel: "email".to_owned(),
        subject: Some("詢問".to_owned()),
        body: body.to_owned(),
        customer: Some(CustomerRef::Id(customer_id)),
        ..TicketInput::default()
    }
}

fn messages(view: &app::desk::TicketView, from: &str) -> Vec<String> {
    view.events
        .iter()
        .filter(|e| e.kind == "message" && e.from.as_deref() == Some(from))
        .filter_map(|e| e.body.clone())
        .collect()
}

fn classified(view: &app::desk::TicketView) -> String {
    view.events
        .iter()
        .find(|e| e.kind == "classified")
        .and_then(|e| e.value.clone())
        .expect("a classified event")
}

fn agent(t: &TestApp, handle: &str, senior: bool, max_load: i64) {
    t.app
        .put_agent(
            &Principal::cli(),
            handle,
            &AgentInput {
                skills: Vec::new(),
                senior,
                max_load,
                active: true,
                teams: Vec::new(),
            },
        )
        .unwrap();
}

both_backends!(
    classify_endpoint_answers_and_refuses_bad_input,
    |t: &TestApp| {
        let cli = Principal::cli();
        let agent_key = t.app.create_key(&cli, Role::Agent, "desk").unwrap();
        let shop = t.app.create_key(&cli, Role::Integration, "shop").unwrap();
        let server = Server::start(t.app.clone());
        let addr = server.addr.as_str();
        let r = post(
            addr,
            "/api/v1/desk/classify",
            &agent_key,
            &json!({"text": "我的訂單在哪裡？", "channel": "line"}).to_string(),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let v = r.json();
        assert_eq!(v["category"], "order_status");
        assert_eq!(v["intent"], "where_is_my_order");
        assert_eq!(v["model_version"], 0);
        let c = v["confidence"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&c));
        let r = post(
            addr,
            "/api/v1/desk/classify",
            &agent_key,
            &json!({"text": "東西壞掉了，再不處理我就找消基會和記者！！！"}).to_string(),
        );
        let v = r.json();
        assert_eq!(v["sentiment_label"], "very_negative", "{v}");
        assert_eq!(v["urgency"], json!(["consumer_agency", "media"]));
        assert!(v["intent"].is_null());
        for bad in [
            json!({"text": ""}),
            json!({"text": "hi", "channel": "fax"}),
            json!({"text": 3}),
            json!({"text": "x".repeat(70_000)}),
        ] {
            let r = post(addr, "/api/v1/desk/classify", &agent_key, &bad.to_string());
            assert_eq!(r.status, 422, "{bad}: {}", r.body);
        }
        let r = post(
            addr,
            "/api/v1/desk/classify",
            &shop,
            &json!({"text": "hi"}).to_string(),
        );
        assert_eq!(r.status, 403, "an integration key may not classify");
        // The roster over HTTP: a manager stores, an agent reads.
        let manager = t.app.create_key(&cli, Role::Manager, "lead").unwrap();
        let body = json!({"skills": ["product_defect"], "senior": true, "max_load": 5}).to_string();
        let r = request(
            addr,
            "PUT",
            "/api/v1/desk/agents/amy",
            Some(&manager),
            Some(&body),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let bad = json!({"skills": ["nope"], "max_load": 5}).to_string();
        let r = request(
            addr,
            "PUT",
            "/api/v1/desk/agents/amy",
            Some(&manager),
            Some(&bad),
        );
        assert_eq!(r.status, 422, "{}", r.body);
        let r = request(addr, "GET", "/api/v1/desk/agents", Some(&agent_key), None);
        assert_eq!(r.json()[0]["skills"], json!(["product_defect"]));
    }
);

both_backends!(
    an_order_status_question_is_answered_with_the_real_order,
    |t: &TestApp| {
        let who = TestApp::principal(Role::Integration);
        let Intake::Accepted(placed) = t
            .app
            .place_order(&who, &order("A-77", "C-7", 3, 45_000))
            .unwrap()
        else {
            panic!("order not accepted")
        };
        let view = t
            .app
            .open_ticket(
                &who,
                &email_ticket(placed.customer_id, "請問我的訂單出貨了嗎？"),
            )
            .unwrap();
        let system = messages(&view, "system");
        assert_eq!(
            system.len(),
            2,
            "acknowledgement, then the FAQ answer: {system:?}"
        );
        let answer = &system[1];
        assert!(
            answer.contains(&format!("#{}", placed.order_id)),
            "{answer}"
        );
        assert!(answer.contains("NT$1,350"), "{answer}");
        let placed_on = placed
            .occurred_at
            .to_zoned(jiff::tz::TimeZone::get("Asia/Taipei").unwrap())
            .date()
            .to_string();
        assert!(answer.contains(&placed_on), "{answer}");
        assert!(answer.contains("無退款"), "{answer}");
        assert!(answer.contains(&view.ticket.reference), "{answer}");
        let summary = classified(&view);
        assert!(summary.contains("intent=where_is_my_order"), "{summary}");
        assert_eq!(view.ticket.category.as_deref(), Some("order_status"));
        // Automatic replies fulfil ack, never first_response.
        let sla = view.sla.as_ref().unwrap();
        let state = |name: &str| {
            sla.clocks
                .iter()
                .find(|c| c.clock.as_str() == name)
                .map(|c| c.state)
        };
        assert_eq!(state("ack"), Some("fulfilled"));
        assert_eq!(state("first_response"), Some("running"));
        // The password answer gives the configured reset page.
        let view = t
            .app
            .open_ticket(&who, &email_ticket(placed.customer_id, "忘記密碼怎麼辦"))
            .unwrap();
        let system = messages(&view, "system");
        assert_eq!(system.len(), 2, "{system:?}");
        assert!(
            system[1].contains(app::DEFAULT_PASSWORD_RESET_URL),
            "{}",
            system[1]
        );
        // A customer with nothing to fill the answer: no FAQ answer, a note for the person.
        let stranger = TicketInput {
            channel: "web".to_owned(),
            body: "我的點數還有多少？".to_owned(),
            ..TicketInput::default()
        };
        let view = t.app.open_ticket(&who, &stranger).unwrap();
        assert_eq!(
            messages(&view, "system").len(),
            1,
            "only the acknowledgement"
        );
        assert!(view.events.iter().any(|e| e.kind == "note"));
    }
);

both_backends!(
    a_complaint_never_gets_a_faq_answer_and_goes_to_a_senior,
    |t: &TestApp| {
        agent(t, "amy", false, 10);
        agent(t, "ben", true, 10);
        let who = TestApp::principal(Role::Integration);
        let Intake::Accepted(placed) = t
            .app
            .place_order(&who, &order("A-78", "C-8", 1, 45_000))
            .unwrap()
        else {
            panic!("order not accepted")
        };
        let angry = "我的訂單在哪裡？等了兩週還沒到，氣死我了！！！再不處理我要上網爆料";
        let view = t
            .app
            .open_ticket(&who, &email_ticket(placed.customer_id, angry))
            .unwrap();
        assert_eq!(
            messages(&view, "system").len(),
            1,
            "only the acknowledgement"
        );
        let summary = classified(&view);
        assert!(summary.contains("intent=none"), "{summary}");
        assert!(summary.contains("very_negative"), "{summary}");
        assert!(summary.contains("urgency=media"), "{summary}");
        assert_eq!(view.ticket.priority, "urgent", "{summary}");
        assert_eq!(
            view.ticket.assignee.as_deref(),
            Some("ben"),
            "angry → senior"
        );
        // Calm tickets go round robin by load: amy (0 open) first, then … amy again has 1,
        // ben 1: the one assigned longest ago.
        let calm = |body: &str| {
            t.app
                .open_ticket(&who, &email_ticket(placed.customer_id, body))
                .unwrap()
                .ticket
                .assignee
        };
        assert_eq!(calm("請問退貨流程").as_deref(), Some("amy"));
        assert_eq!(calm("發票要怎麼開統編").as_deref(), Some("ben"));
        assert_eq!(calm("會員有什麼優惠").as_deref(), Some("amy"));
        // The events were written by the system, the SLA policy saw the priority.
        assert!(
            view.events
                .iter()
                .any(|e| e.kind == "assigned" && e.actor == "system")
        );
        assert!(
            view.events
                .iter()
                .any(|e| e.kind == "priority" && e.value.as_deref() == Some("urgent"))
        );
    }
);

both_backends!(
    the_retrain_job_learns_from_an_agents_label,
    |t: &TestApp| {
        let who = TestApp::principal(Role::Integration);
        let manager = TestApp::principal(Role::Manager);
        let (version, _) = t.app.classifier().unwrap();
        assert_eq!(version, 0, "a fresh store uses the shipped model");
        let view = t
            .app
            .open_ticket(
                &who,
                &TicketInput {
                    channel: "web".to_owned(),
                    body: "蝦皮上的賣場是你們開的嗎".to_owned(),
                    ..TicketInput::default()
                },
            )
            .unwrap();
        // The agent's label must differ from the system's own category to be a label at all.
        let label = if view.ticket.category.as_deref() == Some("other") {
            "points_membership"
        } else {
            "other"
        };
        t.app
            .classify_ticket(&manager, view.ticket.id, None, Some(Some(label)))
            .unwrap();
        // Nothing yet: the retrain is due within the hour.
        t.app.run_pending_jobs().unwrap();
        assert_eq!(t.app.classifier().unwrap().0, 0);
        t.advance(SignedDuration::from_hours(2));
        let run = t.app.run_pending_jobs().unwrap();
        assert!(run.done >= 1);
        let (version, _) = t.app.classifier().unwrap();
        assert_eq!(version, 1);
        let again = t.app.retrain_classifier().unwrap();
        assert_eq!(again.version, 2);
        assert_eq!(
            again.agent_labels, 1,
            "the system's own category is not a label"
        );
        let v = t
            .app
            .classify_message(&app::desk::classifier::ClassifyInput {
                text: "請問營業時間".to_owned(),
                channel: None,
                subject: None,
            })
            .unwrap();
        assert_eq!(v.model_version, 2);
    }
);

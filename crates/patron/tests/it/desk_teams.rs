//! Teams and tags on the desk end to end over HTTP: teams configured by a manager, agents in
//! teams, a new ticket joining its category's team and routed among its members, tags added
//! and removed through the log and filtered on, a hand-off with a note that keeps the SLA
//! clocks running, assignment held to the team, who may do what; and the dedicated error
//! codes of merge, split and replies on closed tickets.

use crate::http::{Server, get, post, request};
use app::Principal;
use domain::access::Role;
use jiff::SignedDuration;
use serde_json::{Value, json};
use test_support::{TestApp, both_backends};

fn put(addr: &str, path: &str, key: &str, body: Value) -> crate::http::Response {
    request(addr, "PUT", path, Some(key), Some(&body.to_string()))
}

fn kinds(ticket: &Value) -> Vec<String> {
    ticket["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

/// `(clock, instance, state, due_at)` of every clock.
fn clocks(ticket: &Value) -> Vec<(String, i64, String, Value)> {
    ticket["sla"]["clocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["clock"].as_str().unwrap().to_owned(),
                c["instance"].as_i64().unwrap(),
                c["state"].as_str().unwrap().to_owned(),
                c["due_at"].clone(),
            )
        })
        .collect()
}

/// The ids of a queue page.
fn ids(page: &crate::http::Response) -> Vec<i64> {
    assert_eq!(page.status, 200, "{}", page.body);
    page.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect()
}

both_backends!(teams_tags_and_hand_off, |t: &TestApp| {
    let server = Server::start(t.app.clone());
    let addr = server.addr.as_str();
    let cli = Principal::cli();
    let manager = t.app.create_key(&cli, Role::Manager, "lead").unwrap();
    let agent = t.app.create_key(&cli, Role::Agent, "desk").unwrap();
    let analyst = t.app.create_key(&cli, Role::Analyst, "bi").unwrap();
    let shop = t.app.create_key(&cli, Role::Integration, "shop").unwrap();

    // Teams: only a manager (or admin) configures them; names may be Chinese.
    let refused = put(
        addr,
        "/api/v1/desk/teams/%E7%89%A9%E6%B5%81",
        &agent,
        json!({}),
    );
    assert_eq!(refused.status, 403, "{}", refused.body);
    for (name, categories) in [
        ("物流", json!(["logistics_delay", "order_status"])),
        ("退貨", json!(["return_refund"])),
        ("客服", json!([])),
    ] {
        let path = format!(
            "/api/v1/desk/teams/{}",
            name.bytes()
                .map(|b| format!("%{b:02X}"))
                .collect::<String>()
        );
        let r = put(addr, &path, &manager, json!({ "categories": categories }));
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["name"], name);
    }
    let bad = put(
        addr,
        "/api/v1/desk/teams/x",
        &manager,
        json!({"categories": ["nope"]}),
    );
    assert_eq!(bad.status, 422);
    assert_eq!(bad.json()["errors"][0]["field"], "categories[0].category");
    // Agents join teams on the roster; an unknown team is refused.
    for (handle, teams) in [
        ("amy", json!(["物流"])),
        ("ben", json!(["退貨"])),
        ("cindy", json!(["客服"])),
    ] {
        let r = put(
            addr,
            &format!("/api/v1/desk/agents/{handle}"),
            &manager,
            json!({ "max_load": 10, "teams": teams }),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["teams"], teams);
    }
    let unknown = put(
        addr,
        "/api/v1/desk/agents/dan",
        &manager,
        json!({ "max_load": 10, "teams": ["技術"] }),
    );
    assert_eq!(unknown.status, 422, "{}", unknown.body);
    assert_eq!(unknown.json()["errors"][0]["field"], "teams[0]");
    let teams = get(addr, "/api/v1/desk/teams", &analyst).json();
    assert_eq!(teams.as_array().unwrap().len(), 3);
    let logistics = teams
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "物流");
    assert_eq!(logistics.unwrap()["members"], json!(["amy"]));

    // A delay complaint joins 物流 and goes to its only member, whoever else is free.
    let opened = post(
        addr,
        "/api/v1/tickets",
        &shop,
        &json!({
            "channel": "web",
            "subject": "包裹還沒到",
            "body": "我上週訂的茶葉到現在還沒收到，物流一直顯示處理中。",
            "category": "logistics_delay",
            "customer": {"identities": {"email": "mei@example.tw"}},
        })
        .to_string(),
    );
    assert_eq!(opened.status, 201, "{}", opened.body);
    let ticket = opened.json();
    let id = ticket["ticket"]["id"].as_i64().unwrap();
    assert_eq!(ticket["ticket"]["team"], "物流");
    assert_eq!(ticket["ticket"]["assignee"], "amy");
    let placed = ticket["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "handed_off")
        .expect("the team placement is in the log");
    assert_eq!(placed["actor"], "system");
    assert_eq!(placed["value"], "物流");
    // Praise names no team's category: no team, and routed over the whole roster.
    let praise = post(
        addr,
        "/api/v1/tickets",
        &shop,
        &json!({"channel": "web", "body": "謝謝你們，客服很親切！", "category": "praise"})
            .to_string(),
    )
    .json();
    let praise_id = praise["ticket"]["id"].as_i64().unwrap();
    assert_eq!(praise["ticket"]["team"], Value::Null);
    // A team named at opening must exist, and an agent given with it must belong to it;
    // either refusal opens nothing.
    let named = |team: &str, assignee: Option<&str>| {
        post(
            addr,
            "/api/v1/tickets",
            &shop,
            &json!({"channel": "web", "body": "發票要改抬頭", "team": team, "assignee": assignee})
                .to_string(),
        )
    };
    let unknown_team = named("技術", None);
    assert_eq!(unknown_team.status, 422, "{}", unknown_team.body);
    assert_eq!(unknown_team.json()["errors"][0]["field"], "team");
    let outsider = named("退貨", Some("amy"));
    assert_eq!(outsider.status, 422, "{}", outsider.body);
    assert_eq!(outsider.json()["code"], "agent_not_in_team");
    assert_eq!(ids(&get(addr, "/api/v1/tickets", &agent)), [id, praise_id]);

    // Tags: through the log, lower-cased, repeated adds change nothing.
    let path = format!("/api/v1/tickets/{id}/tags");
    let tagged = post(addr, &path, &manager, r#"{"add":["VIP","媒體"]}"#);
    assert_eq!(tagged.status, 200, "{}", tagged.body);
    let tagged = tagged.json();
    assert_eq!(tagged["ticket"]["tags"], json!(["vip", "媒體"]));
    let n = kinds(&tagged).iter().filter(|k| *k == "tagged").count();
    assert_eq!(n, 2);
    let again = post(addr, &path, &manager, r#"{"add":["vip"]}"#).json();
    assert_eq!(kinds(&again).len(), kinds(&tagged).len(), "nothing new");
    let removed = post(addr, &path, &manager, r#"{"remove":["媒體"]}"#).json();
    assert_eq!(removed["ticket"]["tags"], json!(["vip"]));
    let last = removed["events"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (last["kind"].as_str(), last["value"].as_str()),
        (Some("untagged"), Some("媒體"))
    );
    // Bad tags are refused, naming the entry, and change nothing.
    let bad = post(addr, &path, &manager, r#"{"add":["ok","a b"]}"#);
    assert_eq!(bad.status, 422);
    assert_eq!(bad.json()["errors"][0]["field"], "add[1]");
    let after = get(addr, &format!("/api/v1/tickets/{id}"), &manager).json();
    assert_eq!(after["ticket"]["tags"], json!(["vip"]));
    assert_eq!(kinds(&after).len(), kinds(&removed).len());
    // Queues filter by tag and team.
    assert_eq!(ids(&get(addr, "/api/v1/tickets?tag=VIP", &agent)), [id]);
    assert!(ids(&get(addr, "/api/v1/tickets?tag=nope", &agent)).is_empty());
    assert_eq!(
        ids(&get(
            addr,
            "/api/v1/tickets?team=%E7%89%A9%E6%B5%81",
            &agent
        )),
        [id]
    );
    assert_eq!(
        ids(&get(addr, "/api/v1/tickets?team=none", &agent)),
        [praise_id]
    );
    let bad_query = get(addr, "/api/v1/tickets?tag=a%20b", &agent);
    assert_eq!(bad_query.status, 422, "{}", bad_query.body);

    // Who may: an analyst and a shop's key never; an agent only its own or unassigned
    // tickets (this one is amy's, not this key's).
    assert_eq!(post(addr, &path, &analyst, r#"{"add":["x"]}"#).status, 403);
    let handoff = format!("/api/v1/tickets/{id}/handoff");
    assert_eq!(
        post(addr, &handoff, &shop, r#"{"team":"退貨"}"#).status,
        403
    );
    assert_eq!(post(addr, &path, &agent, r#"{"add":["x"]}"#).status, 403);
    let own = post(
        addr,
        &format!("/api/v1/tickets/{praise_id}/assignment"),
        &manager,
        r#"{"assignee":null}"#,
    );
    assert_eq!(own.status, 200, "{}", own.body);
    let queued = post(
        addr,
        &format!("/api/v1/tickets/{praise_id}/tags"),
        &agent,
        r#"{"add":["表揚"]}"#,
    );
    assert_eq!(
        queued.status, 200,
        "an unassigned ticket is in the agent's queue"
    );

    // Hand-off: a note for the new team, the assignee (not in 退貨) cleared, the status and
    // every clock untouched — a hand-off is not a pause.
    t.advance(SignedDuration::from_mins(10));
    let before = get(addr, &format!("/api/v1/tickets/{id}"), &manager).json();
    let moved = post(
        addr,
        &handoff,
        &manager,
        &json!({"team": "退貨", "note": "客人改要退貨，請協助"}).to_string(),
    );
    assert_eq!(moved.status, 200, "{}", moved.body);
    let moved = moved.json();
    assert_eq!(moved["ticket"]["team"], "退貨");
    assert_eq!(moved["ticket"]["assignee"], Value::Null);
    assert_eq!(moved["ticket"]["status"], before["ticket"]["status"]);
    let events = moved["events"].as_array().unwrap();
    let entry = events.iter().rfind(|e| e["kind"] == "handed_off").unwrap();
    assert_eq!(entry["previous"], "物流");
    assert_eq!(entry["value"], "退貨");
    assert_eq!(entry["body"], "客人改要退貨，請協助");
    assert_eq!(events.last().unwrap()["kind"], "assigned");
    assert_eq!(
        clocks(&moved),
        clocks(&before),
        "the clocks run on unchanged"
    );
    assert!(
        clocks(&moved).iter().any(|c| c.2 == "running"),
        "{:?}",
        clocks(&moved)
    );
    assert_eq!(
        ids(&get(
            addr,
            "/api/v1/tickets?team=%E9%80%80%E8%B2%A8&assignee=none",
            &agent
        )),
        [id]
    );
    // Assignment respects the team: amy is not in 退貨, ben is.
    let assign = format!("/api/v1/tickets/{id}/assignment");
    let wrong = post(addr, &assign, &manager, r#"{"assignee":"amy"}"#);
    assert_eq!(wrong.status, 422, "{}", wrong.body);
    assert_eq!(wrong.json()["code"], "agent_not_in_team");
    assert_eq!(
        post(addr, &assign, &manager, r#"{"assignee":"ben"}"#).status,
        200
    );
    // ben joins 客服 too: a hand-off there keeps him.
    put(
        addr,
        "/api/v1/desk/agents/ben",
        &manager,
        json!({ "max_load": 10, "teams": ["退貨", "客服"] }),
    );
    let kept = post(addr, &handoff, &manager, r#"{"team":"客服"}"#).json();
    assert_eq!(kept["ticket"]["assignee"], "ben");
    assert_eq!(kept["ticket"]["team"], "客服");
    // The same team again changes nothing; an unknown team or a closed ticket is refused.
    let same = post(addr, &handoff, &manager, r#"{"team":"客服"}"#).json();
    assert_eq!(kinds(&same).len(), kinds(&kept).len());
    let nowhere = post(addr, &handoff, &manager, r#"{"team":"技術"}"#);
    assert_eq!(nowhere.status, 422);
    assert_eq!(nowhere.json()["errors"][0]["field"], "team");
    post(
        addr,
        &format!("/api/v1/tickets/{id}/status"),
        &manager,
        r#"{"status":"closed"}"#,
    );
    let closed = post(addr, &handoff, &manager, r#"{"team":"物流"}"#);
    assert_eq!(closed.status, 409);
    assert_eq!(closed.json()["code"], "ticket_closed");
    let closed_tag = post(addr, &path, &manager, r#"{"add":["late"]}"#);
    assert_eq!(closed_tag.json()["code"], "ticket_closed");
});

both_backends!(desk_refusals_have_their_own_codes, |t: &TestApp| {
    let server = Server::start(t.app.clone());
    let addr = server.addr.as_str();
    let cli = Principal::cli();
    let manager = t.app.create_key(&cli, Role::Manager, "lead").unwrap();
    let open = |email: &str, body: &str| -> i64 {
        let r = post(
            addr,
            "/api/v1/tickets",
            &manager,
            &json!({
                "channel": "web",
                "body": body,
                "customer": {"identities": {"email": email}},
            })
            .to_string(),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        r.json()["ticket"]["id"].as_i64().unwrap()
    };
    let a = open("mei@example.tw", "茶葉罐破了");
    let b = open("mei@example.tw", "我也寫了信：茶葉罐破了");
    let stranger = open("lin@example.tw", "我的訂單也有問題");
    let merge = |into: i64, from: i64| {
        post(
            addr,
            &format!("/api/v1/tickets/{into}/merge"),
            &manager,
            &json!({ "from": from.to_string() }).to_string(),
        )
    };
    let code = |r: crate::http::Response, status: u16| {
        assert_eq!(r.status, status, "{}", r.body);
        r.json()["code"].as_str().unwrap().to_owned()
    };
    assert_eq!(code(merge(a, a), 422), "merge_into_itself");
    assert_eq!(code(merge(a, stranger), 409), "merge_across_customers");
    assert_eq!(merge(a, b).status, 200);
    assert_eq!(code(merge(a, b), 409), "ticket_merged");
    assert_eq!(code(merge(b, a), 409), "ticket_merged");
    let ticket = get(addr, &format!("/api/v1/tickets/{a}"), &manager).json();
    let not_message = ticket["events"][0]["id"].as_i64().unwrap();
    let split = post(
        addr,
        &format!("/api/v1/tickets/{a}/split"),
        &manager,
        &json!({ "message_ids": [not_message] }).to_string(),
    );
    assert_eq!(code(split, 422), "message_not_in_ticket");
    // Closed tickets take no agent message and no template reply, whether or not the
    // template could be filled.
    post(
        addr,
        &format!("/api/v1/tickets/{stranger}/status"),
        &manager,
        r#"{"status":"closed"}"#,
    );
    let reply = post(
        addr,
        &format!("/api/v1/tickets/{stranger}/replies"),
        &manager,
        r#"{"template":"logistics_delay"}"#,
    );
    assert_eq!(code(reply, 409), "ticket_closed");
    let message = post(
        addr,
        &format!("/api/v1/tickets/{stranger}/messages"),
        &manager,
        r#"{"body":"您好"}"#,
    );
    assert_eq!(code(message, 409), "ticket_closed");
});

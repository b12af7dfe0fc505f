//! The demo's complaint desk: a few hundred tickets over the past two weeks on every channel
//! (e-mail, LINE, web form, phone, counter) with zh-TW messages, in every state — answered,
//! solved and rated, reopened, waiting, breached, and some whose resolution deadline falls
//! within the next hour or two at the demo's now — plus a running A/B test of the
//! acknowledgement. Tickets about an order (delays, defects, returns, billing, order status)
//! name the customer's latest order, so complaint trends by product are populated.
//!
//! The history is played through the ordinary use cases on an [`App`] over the same store
//! whose clock is moved from action to action (so every instant, clock event and breach is
//! what the desk would have recorded live), ending at the real now; durable timers due by then
//! are run, so breaches are persisted at their own instants.

use anyhow::Result;
use app::desk::ab::{AbTestInput, Variant};
use app::desk::{MessageInput, TicketInput};
use app::intake::CustomerRef;
use app::sys::ManualClock;
use app::workload::Rng;
use app::{App, Principal};
use domain::access::Role;
use jiff::{SignedDuration, Timestamp};
use std::sync::Arc;

/// What the demo put on the desk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DemoDesk {
    pub tickets: usize,
    pub solved: usize,
    pub rated: usize,
    pub near_breach: usize,
}

/// (category, channel, subject, first message, an agent's answer)
const STORIES: &[(&str, &str, &str, &str, &str)] = &[
    (
        "logistics_delay",
        "line",
        "包裹還沒到",
        "我上週五訂的東方美人茶到現在還沒收到，物流頁面一直顯示處理中，請問怎麼了？",
        "非常抱歉讓您久等了！我們已向物流確認，包裹明天會送達，並為您加贈點數作為補償。",
    ),
    (
        "product_defect",
        "email",
        "茶葉罐破損",
        "收到的鐵觀音禮盒罐子凹了一大塊，裡面的茶葉也受潮了，這是要送人的，很失望。",
        "很抱歉收到的商品有瑕疵，我們會立即寄出新的禮盒，破損的商品不需寄回。",
    ),
    (
        "return_refund",
        "web",
        "申請退貨",
        "請問未拆封的茶包可以退貨嗎？要怎麼申請？",
        "未拆封商品七天內都可以退貨，我們已為您建立退貨單，物流會到府收件。",
    ),
    (
        "service_attitude",
        "in_store",
        "門市服務態度",
        "今天在信義門市詢問商品，店員一直滑手機，回答也很不耐煩。",
        "謝謝您告訴我們，我們已與門市主管溝通並加強教育訓練，造成不愉快深感抱歉。",
    ),
    (
        "billing_payment",
        "phone",
        "重複扣款",
        "來電反映：信用卡被扣了兩次款，金額都是 NT$1,280。",
        "已確認為重複授權，第二筆款項已取消，三到五個工作天內會退回您的卡片。",
    ),
    (
        "points_membership",
        "line",
        "點數沒有入帳",
        "我上個月消費的點數一直沒有入帳，會員等級也沒有更新。",
        "已為您查詢，點數在退貨期後入帳，目前已入帳完成，會員等級也更新了。",
    ),
    (
        "order_status",
        "email",
        "訂單狀態查詢",
        "想請問訂單目前出貨了嗎？需要在週末前收到。",
        "您的訂單今天已出貨，預計明天送達，物流單號已寄到您的信箱。",
    ),
    (
        "account_password",
        "web",
        "無法登入",
        "忘記密碼，重設信一直收不到，試了好幾次。",
        "已為您手動寄出重設連結，請檢查垃圾郵件匣，連結 24 小時內有效。",
    ),
    (
        "praise",
        "line",
        "謝謝客服",
        "上次的問題處理得很快，客服人員很親切，謝謝你們！",
        "謝謝您的肯定，我們會繼續努力！",
    ),
];

const AGENTS: [&str; 4] = ["amy", "ben", "cindy", "david"];

/// Categories whose tickets are about an order, and so name one.
const ORDER_CATEGORIES: [&str; 5] = [
    "logistics_delay",
    "product_defect",
    "return_refund",
    "billing_payment",
    "order_status",
];

/// What happens to a ticket after it is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Open,
    Answer,
    Wait,
    Solve,
    Rate(i64),
    FollowUp,
}

fn minutes(n: u64) -> SignedDuration {
    SignedDuration::from_mins(n as i64)
}

/// Fills the desk of `app`'s store, ending at `app`'s now.
pub fn fill(app: &App, customers: u64, tickets: usize, seed: u64) -> Result<DemoDesk> {
    let now = app.now();
    let clock = Arc::new(ManualClock::new(now - SignedDuration::from_hours(24 * 15)));
    let desk = App::new(
        app.store.clone(),
        clock.clone(),
        app.entropy.clone(),
        app.webhooks.clone(),
        app.settings.clone(),
    );
    let admin = Principal {
        actor: "cli:demo".to_owned(),
        ..Principal::cli()
    };
    desk.put_template(
        &admin,
        "ack_warm",
        "zh-TW",
        "{{ customer.honorific }}您好，謝謝您耐心告訴我們！案件編號 {{ ticket.reference }}，專人會盡快與您聯繫。",
    )?;
    desk.create_ab_test(
        &admin,
        &AbTestInput {
            name: "確認信語氣".to_owned(),
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
    )?;
    let mut rng = Rng::seeded(seed ^ 0x6465_736b);
    let mut plan: Vec<(Timestamp, usize, Action)> = Vec::new();
    let mut report = DemoDesk::default();
    for i in 0..tickets {
        let roll = rng.below(100);
        if roll < 6 {
            // Near breach: opened just under 48 h ago (normal resolution target), answered,
            // not solved: its resolution deadline is 15 to 90 minutes away.
            let created = now - SignedDuration::from_hours(48) + minutes(15 + rng.below(75));
            plan.push((created, i, Action::Open));
            plan.push((created + minutes(20 + rng.below(30)), i, Action::Answer));
            report.near_breach += 1;
            continue;
        }
        let created = now - minutes(30 + rng.below(14 * 24 * 60));
        plan.push((created, i, Action::Open));
        if roll < 15 {
            continue; // nobody answered: breached by now unless very recent
        }
        let answered = created + minutes(5 + rng.below(300));
        plan.push((answered, i, Action::Answer));
        if roll < 25 {
            plan.push((answered + minutes(10), i, Action::Wait));
            continue;
        }
        if roll < 40 {
            continue; // answered, still open
        }
        let solved = answered + minutes(30 + rng.below(24 * 60));
        plan.push((solved, i, Action::Solve));
        report.solved += 1;
        if rng.below(10) < 7 {
            let rating = *rng.pick(&[5, 5, 5, 4, 4, 4, 3, 2, 1]);
            plan.push((
                solved + minutes(60 + rng.below(600)),
                i,
                Action::Rate(rating),
            ));
            report.rated += 1;
        }
        if rng.below(10) == 0 {
            plan.push((
                solved + minutes(700 + rng.below(1_000)),
                i,
                Action::FollowUp,
            ));
        }
    }
    plan.retain(|(at, _, _)| *at <= now);
    plan.sort_by_key(|(at, i, _)| (*at, *i));
    let shop = Principal {
        key_id: None,
        role: Role::Integration,
        actor: "cli:demo".to_owned(),
    };
    let mut ids = vec![0i64; tickets];
    let mut stories = vec![0usize; tickets];
    for (at, i, action) in plan {
        clock.set(at);
        let agent = Principal {
            key_id: None,
            role: Role::Agent,
            actor: AGENTS[i % AGENTS.len()].to_owned(),
        };
        match action {
            Action::Open => {
                let s = rng.below(STORIES.len() as u64) as usize;
                let (category, mut channel, subject, body, _) = STORIES[s];
                if rng.below(4) == 0 {
                    channel = *rng.pick(&["email", "line", "web", "phone", "in_store"]);
                }
                let customer = (customers > 0).then(|| 1 + rng.below(customers) as i64);
                // A complaint about an order names it (the customer's latest order, as a
                // shop's form would fill in), so trends by product have something to count.
                let order_id = match customer {
                    Some(c) if ORDER_CATEGORIES.contains(&category) => desk
                        .store
                        .read(|tx| store::desk_triage::latest_order_of(tx, c))?,
                    _ => None,
                };
                let view = desk.open_ticket(
                    &shop,
                    &TicketInput {
                        channel: channel.to_owned(),
                        subject: Some(subject.to_owned()),
                        body: body.to_owned(),
                        customer: customer.map(CustomerRef::Id),
                        order_id,
                        category: Some(category.to_owned()),
                        assignee: Some(agent.actor.clone()),
                        priority: Some(
                            if rng.below(10) == 0 { "high" } else { "normal" }.to_owned(),
                        ),
                        ..TicketInput::default()
                    },
                )?;
                ids[i] = view.ticket.id;
                stories[i] = s;
                report.tickets += 1;
            }
            Action::Answer => {
                desk.add_message(
                    &agent,
                    ids[i],
                    &MessageInput {
                        from: "agent".to_owned(),
                        body: STORIES[stories[i]].4.to_owned(),
                        ack_only: false,
                    },
                )?;
            }
            Action::Wait => {
                desk.change_status(&agent, ids[i], "waiting_on_customer")?;
            }
            Action::Solve => {
                desk.change_status(&agent, ids[i], "solved")?;
            }
            Action::Rate(r) => {
                desk.rate_ticket(&shop, ids[i], r)?;
            }
            Action::FollowUp => {
                desk.add_message(
                    &shop,
                    ids[i],
                    &MessageInput {
                        from: "customer".to_owned(),
                        body: "不好意思，問題好像又發生了，可以再幫我看一下嗎？".to_owned(),
                        ack_only: false,
                    },
                )?;
            }
        }
    }
    clock.set(now);
    desk.run_pending_jobs()?;
    Ok(report)
}

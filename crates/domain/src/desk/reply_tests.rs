//! Honorifics, the built-in templates' structure and variables, and compensation limits.

use super::kb;
use super::reply::*;
use crate::access::Role;
use crate::customer::Locale;
use crate::template::{Context, Template};

#[test]
fn honorifics() {
    let cases: &[(Option<&str>, Option<Title>, Locale, &str)] = &[
        (Some("王小明"), Some(Title::Mr), Locale::ZhTw, "王先生"),
        (Some("王美玲"), Some(Title::Ms), Locale::ZhTw, "王小姐"),
        (Some("王大同"), Some(Title::Manager), Locale::ZhHk, "王經理"),
        (Some("王大同"), None, Locale::ZhTw, "王顧客"),
        (Some("歐陽娜娜"), Some(Title::Ms), Locale::ZhTw, "歐陽小姐"),
        (Some("歐陽"), Some(Title::Mr), Locale::ZhTw, "歐先生"),
        (None, Some(Title::Mr), Locale::ZhTw, "親愛的顧客"),
        (Some("  "), None, Locale::ZhTw, "親愛的顧客"),
        (Some("Amy Wang"), Some(Title::Ms), Locale::En, "Ms Wang"),
        (Some("Amy Wang"), None, Locale::En, "Amy Wang"),
        (Some("王小明"), Some(Title::Mr), Locale::En, "Mr 王"),
        (None, None, Locale::En, "customer"),
    ];
    for (name, title, locale, expect) in cases {
        assert_eq!(
            honorific(*name, *title, *locale),
            *expect,
            "{name:?} {title:?}"
        );
    }
}

fn full_context(returning: bool, order: bool, compensation: bool) -> Context {
    let mut c = Context::default();
    c.text("customer.honorific", "王先生")
        .text("ticket.reference", "T-2026-000042")
        .text("order.id", "1001")
        .text("order.placed_on", "2026-02-27")
        .text("compensation.points", "300")
        .text("faq.answer", "步驟一、步驟二")
        .text("order.amount", "NT$1,350")
        .text("order.state", "處理中")
        .text("points.balance", "120")
        .text("account.reset_url", "https://shop.example/reset")
        .text("store.hours", "週一 09:00–18:00");
    c.flag("customer.returning", returning)
        .flag("order.known", order)
        .flag("compensation.offered", compensation);
    c
}

#[test]
fn every_default_template_parses_renders_and_has_five_parts() {
    for key in TEMPLATE_KEYS {
        for locale in ["zh-TW", "en"] {
            let text = default_template(key, locale).unwrap();
            let t = Template::parse(text, REPLY_VARIABLES)
                .unwrap_or_else(|e| panic!("{key} {locale}: {e}"));
            for flags in [(false, false, false), (true, true, true)] {
                let out = t
                    .render(&full_context(flags.0, flags.1, flags.2))
                    .unwrap_or_else(|e| panic!("{key} {locale}: {e}"));
                let blocks: Vec<&str> = out.split("\n\n").collect();
                // Greeting, five parts (thanks, apology, findings, solution, follow-up),
                // sign-off.
                assert_eq!(blocks.len(), 7, "{key} {locale}:\n{out}");
                assert!(!out.contains("{{") && !out.contains("{%"), "{key} {locale}");
                assert!(blocks[0].contains("王先生"), "{key} {locale}");
            }
            let rendered = t.render(&full_context(false, false, false)).unwrap();
            if key != "ack" && key != "faq" && key != "order_status" {
                assert!(
                    !rendered.contains("300"),
                    "{key}: no compensation unless offered"
                );
            }
            if key != "order_status" {
                assert!(rendered.contains("T-2026-000042"), "{key} {locale}");
            }
        }
    }
    let zh = default_template("product_defect", "zh-TW").unwrap();
    let out = Template::parse(zh, REPLY_VARIABLES)
        .unwrap()
        .render(&full_context(true, true, true))
        .unwrap();
    assert!(
        out.contains("訂單 #1001") && out.contains("300 點"),
        "{out}"
    );
    assert!(default_template("nope", "en").is_none());
}

#[test]
fn compensation_limits_by_role() {
    assert_eq!(
        compensation_limit(Role::Agent),
        Some(COMPENSATION_POINTS_AGENT_MAX)
    );
    assert_eq!(
        compensation_limit(Role::Manager),
        Some(COMPENSATION_POINTS_MAX)
    );
    assert_eq!(
        compensation_limit(Role::Admin),
        Some(COMPENSATION_POINTS_MAX)
    );
    assert_eq!(compensation_limit(Role::Analyst), None);
    assert_eq!(compensation_limit(Role::Integration), None);
}

#[test]
fn kb_terms_are_bigrams_and_words() {
    assert_eq!(
        kb::terms("如何退貨"),
        ["何", "何退", "如", "如何", "貨", "退", "退貨"]
    );
    assert_eq!(kb::terms("退"), ["退"]);
    assert_eq!(
        kb::terms("LINE Pay 付款！ＡＢＣ１"),
        ["abc1", "line", "pay", "付", "付款", "款"]
    );
    assert!(kb::terms("  ，。!? ").is_empty());
    let postings = vec![
        ("退貨".to_owned(), 1),
        ("退貨".to_owned(), 2),
        ("運費".to_owned(), 2),
    ];
    let ranked = kb::rank(&postings, 10, 3);
    assert_eq!(ranked[0].0, 2);
    assert_eq!(ranked.len(), 2);
}

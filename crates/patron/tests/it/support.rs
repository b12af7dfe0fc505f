//! Shared builders for the integration tests.

use app::customers::CustomerInput;
use app::intake::{CustomerRef, LineInput, OrderInput, RefundInput};
use domain::access::Role;
use domain::{EventKind, IdentityKind};
use test_support::TestApp;

/// The shop's integration key: what sends orders and refunds.
pub(crate) fn integration() -> app::Principal {
    TestApp::principal(Role::Integration)
}

/// Asserts the ledger's invariants (`store::ledger::check`).
pub(crate) fn healthy(t: &TestApp) {
    let check = t.app.store.read(store::ledger::check).unwrap();
    assert!(check.is_healthy(), "{check:?}");
}

/// The outbox messages of `topic`, oldest first.
pub(crate) fn outbox(t: &TestApp, topic: &str) -> Vec<serde_json::Value> {
    t.app
        .store
        .read(|tx| -> anyhow::Result<Vec<serde_json::Value>> {
            tx.query(
                "SELECT payload FROM outbox WHERE topic = $1 ORDER BY id",
                &[store::sql::Arg::Text(topic)],
            )?
            .iter()
            .map(|r| Ok(serde_json::from_str(r.text(0)?)?))
            .collect()
        })
        .unwrap()
}

pub(crate) fn customer(shop_id: &str) -> CustomerRef {
    CustomerRef::Described(CustomerInput {
        identities: vec![(IdentityKind::ShopCustomerId, shop_id.to_owned())],
        ..CustomerInput::default()
    })
}

/// An order of one line: `quantity` × `unit_price_minor`.
pub(crate) fn order(
    external_id: &str,
    shop_customer: &str,
    quantity: i64,
    unit_price_minor: i64,
) -> OrderInput {
    OrderInput {
        source: "shop".to_owned(),
        external_id: external_id.to_owned(),
        customer: customer(shop_customer),
        occurred_at: None,
        currency: "TWD".to_owned(),
        lines: vec![LineInput {
            sku: "TEA-01".to_owned(),
            category: Some("茶葉".to_owned()),
            quantity,
            unit_price_minor,
        }],
    }
}

pub(crate) fn refund(
    external_id: &str,
    order_external_id: &str,
    lines: Option<Vec<(usize, i64)>>,
) -> RefundInput {
    RefundInput {
        source: "shop".to_owned(),
        external_id: external_id.to_owned(),
        order_source: None,
        order_external_id: order_external_id.to_owned(),
        lines,
        occurred_at: None,
        kind: EventKind::OrderRefunded,
    }
}

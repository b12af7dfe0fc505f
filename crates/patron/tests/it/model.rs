//! Seeded model-based test of intake and the ledger: thousands of random operations (order,
//! duplicate order, same id with other content, refund, duplicate refund, correction) over
//! many customers, checked after every step against a small in-memory model.

use crate::support::{order, refund};
use app::AppError;
use app::intake::{Intake, LineInput};
use app::workload::Rng;
use domain::EarnRule;
use domain::access::Role;
use std::collections::HashMap;
use test_support::{TestApp, both_backends};

#[derive(Debug, Clone)]
struct ModelOrder {
    customer: String,
    lines: Vec<(i64, i64)>,
    refunded: Vec<i64>,
    paid: i64,
    /// What each line earned: the order's floor split by largest remainder over line totals.
    line_points: Vec<i64>,
}

/// Points a return of `q` more units of a line reverses: the floor of the cumulative share of
/// what the line earned (the last unit takes the rounding remainder).
fn line_reversal(points: i64, bought: i64, before: i64, q: i64) -> i64 {
    if points == 0 {
        return 0;
    }
    points * (before + q) / bought - points * before / bought
}

#[derive(Debug, Default)]
struct Model {
    orders: HashMap<String, ModelOrder>,
    refunds: HashMap<String, (String, Vec<(usize, i64)>)>,
    balances: HashMap<String, i64>,
    events: usize,
}

const STEPS: usize = 1_500;
const CUSTOMERS: u64 = 40;

fn run(t: &TestApp, seed: u64) {
    let rule = EarnRule::default();
    let who = TestApp::principal(Role::Integration);
    let mut rng = Rng::seeded(seed);
    let mut m = Model::default();
    let mut ids: HashMap<String, i64> = HashMap::new();
    for step in 0..STEPS {
        let ctx = format!("seed {seed:#x}, step {step}");
        let op = rng.below(10);
        let known: Vec<String> = {
            let mut k: Vec<_> = m.orders.keys().cloned().collect();
            k.sort();
            k
        };
        if op < 4 || known.is_empty() {
            // A new order of 1–3 lines.
            let id = format!("O{step}");
            let customer = format!("C{}", rng.below(CUSTOMERS));
            let lines: Vec<(i64, i64)> = (0..1 + rng.below(3))
                .map(|_| (1 + rng.below(4) as i64, 100 * rng.below(2_000) as i64))
                .collect();
            let mut input = order(&id, &customer, lines[0].0, lines[0].1);
            for &(q, p) in &lines[1..] {
                input.lines.push(LineInput {
                    sku: "X".to_owned(),
                    category: None,
                    quantity: q,
                    unit_price_minor: p,
                });
            }
            let Intake::Accepted(o) = t.app.place_order(&who, &input).unwrap() else {
                panic!("{ctx}: order refused")
            };
            let paid: i64 = lines.iter().map(|(q, p)| q * p).sum();
            assert_eq!(o.points_earned, rule.earn(paid), "{ctx}");
            *m.balances.entry(customer.clone()).or_default() += rule.earn(paid);
            let weights: Vec<i128> = lines.iter().map(|(q, p)| i128::from(q * p)).collect();
            let line_points =
                domain::loyalty::allocate_largest_remainder(rule.earn(paid), &weights);
            ids.insert(customer.clone(), o.customer_id);
            m.orders.insert(
                id,
                ModelOrder {
                    customer,
                    refunded: vec![0; lines.len()],
                    lines,
                    paid,
                    line_points,
                },
            );
            m.events += 1;
        } else if op < 6 {
            // The same order again, unchanged: a duplicate.
            let id = rng.pick(&known).clone();
            let o = &m.orders[&id];
            let mut input = order(&id, &o.customer, o.lines[0].0, o.lines[0].1);
            for &(q, p) in &o.lines[1..] {
                input.lines.push(LineInput {
                    sku: "X".to_owned(),
                    category: None,
                    quantity: q,
                    unit_price_minor: p,
                });
            }
            assert!(
                matches!(
                    t.app.place_order(&who, &input).unwrap(),
                    Intake::Duplicate(_)
                ),
                "{ctx}"
            );
        } else if op < 7 {
            // The same id with other content: a conflict.
            let id = rng.pick(&known).clone();
            let o = &m.orders[&id];
            let input = order(&id, &o.customer, o.lines[0].0 + 1, o.lines[0].1);
            let r = t.app.place_order(&who, &input).unwrap();
            assert!(
                matches!(r, Intake::Rejected(AppError::ConflictingDuplicate { .. })),
                "{ctx}: {r:?}"
            );
        } else if op < 9 {
            // A refund of some units of one line, or of everything left.
            let id = rng.pick(&known).clone();
            let o = m.orders[&id].clone();
            let refund_id = format!("R{step}");
            let lines = if rng.below(3) == 0 {
                None
            } else {
                let l = rng.below(o.lines.len() as u64) as usize;
                Some(vec![(l, 1 + rng.below(2) as i64)])
            };
            let plan: Vec<(usize, i64)> = match &lines {
                None => (0..o.lines.len())
                    .map(|l| (l, o.lines[l].0 - o.refunded[l]))
                    .filter(|x| x.1 > 0)
                    .collect(),
                Some(v) => v.clone(),
            };
            let fits =
                !plan.is_empty() && plan.iter().all(|&(l, q)| q <= o.lines[l].0 - o.refunded[l]);
            let r = t
                .app
                .refund_order(&who, &refund(&refund_id, &id, lines.clone()));
            if fits {
                let Ok(Intake::Accepted(out)) = r else {
                    panic!("{ctx}: refund refused: {r:?}")
                };
                let amount: i64 = plan.iter().map(|&(l, q)| q * o.lines[l].1).sum();
                // Per line, from what each line earned (loyalty.md §E: returns reverse the
                // line's own points, not an order-level recomputation).
                let reversed: i64 = plan
                    .iter()
                    .map(|&(l, q)| line_reversal(o.line_points[l], o.lines[l].0, o.refunded[l], q))
                    .sum();
                assert_eq!(
                    (out.amount_minor, out.points_reversed),
                    (amount, reversed),
                    "{ctx}"
                );
                let mo = m.orders.get_mut(&id).unwrap();
                for &(l, q) in &plan {
                    mo.refunded[l] += q;
                }
                mo.paid -= amount;
                *m.balances.get_mut(&o.customer).unwrap() -= reversed;
                m.refunds.insert(refund_id, (id, lines.unwrap_or_default()));
                m.events += 1;
            } else {
                assert!(
                    matches!(r, Err(AppError::RefundExceedsOrder(_))),
                    "{ctx}: {r:?}"
                );
            }
        } else if let Some(rid) = {
            let mut k: Vec<_> = m.refunds.keys().cloned().collect();
            k.sort();
            (!k.is_empty()).then(|| rng.pick(&k).clone())
        } {
            // A refund sent again: the first outcome, nothing posted.
            let (order_id, lines) = m.refunds[&rid].clone();
            let lines = if lines.is_empty() { None } else { Some(lines) };
            let r = t
                .app
                .refund_order(&who, &refund(&rid, &order_id, lines))
                .unwrap();
            assert!(matches!(r, Intake::Duplicate(_)), "{ctx}: {r:?}");
        }
        // After every step: balances match the model, the ledger is healthy, nothing twice.
        {
            for (c, b) in &m.balances {
                assert_eq!(
                    t.app.points_balance(ids[c]).unwrap(),
                    *b,
                    "{ctx}: balance of {c}"
                );
            }
            let check = t.app.store.read(store::ledger::check).unwrap();
            assert!(check.is_healthy(), "{ctx}: {check:?}");
            let stored = t
                .app
                .store
                .read(|tx| {
                    let mut n = 0;
                    for k in [
                        domain::EventKind::OrderPlaced,
                        domain::EventKind::OrderRefunded,
                    ] {
                        n += store::events::count_by_kind(tx, k)?;
                    }
                    anyhow::Ok(n)
                })
                .unwrap();
            assert_eq!(stored as usize, m.events, "{ctx}: events stored");
        }
    }
}

both_backends!(random_operations_match_the_model, |t: &TestApp| {
    run(t, 0x9a7_0001);
});

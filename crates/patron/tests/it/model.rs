//! Seeded model-based test of the loyalty ledger through `app::App` with the manual clock, on
//! both backends: random operations — earn, duplicate earn, same id with other content, full
//! and partial return, duplicate return, hold, commit, release, hold expiry (the clock passes
//! a hold's TTL), reward redemption, cancelled redemption and its replay, corrections, the
//! jobs (activation with debt settlement, expiry), an expiry run, tier evaluation through the
//! member summary, and clock advances across local midnights in Asia/Taipei — each checked
//! against a small reference model of lots, holds, debts and balances.
//!
//! What is checked, and when: after **every** step, the touched customer's balance, pending and
//! debt and every one of their live lots (key, remaining, state) against the model; after every
//! job or expiry run and every [`SNAPSHOT_EVERY`] steps, every account and every live lot in
//! the database; the full `store::ledger::check` (a scan of the whole ledger, so quadratic if
//! run every step) every [`FULL_CHECK_EVERY`] steps and at the end. A failure names the seed
//! and the step. Seeds alternate the shortfall policy (`debt` / `negative_balance`), the
//! pending window (0 or 2 days) and the expired-restore policy; each seed is a fresh database
//! on its own thread, [`SEEDS`] × [`STEPS`] = 100,000 operations per backend.

use crate::support::{order, refund};
use app::AppError;
use app::intake::{Intake, LineInput, OrderInput};
use app::loyalty::ProgrammeSettings;
use app::sys::{ManualClock, SeededEntropy};
use app::workload::Rng;
use app::{App, Settings};
use domain::access::Role;
use domain::loyalty::holds::HoldError;
use domain::loyalty::rewards::RewardSpec;
use jiff::{SignedDuration, Timestamp, ToSpan};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use store::DatabaseUrl;
use test_support::{Backend, RecordingSender, TestApp, TestDatabase, both_backends};

const SEEDS: u64 = 10;
const STEPS: usize = 10_000;
const CUSTOMERS: usize = 30;
const SNAPSHOT_EVERY: usize = 250;
const FULL_CHECK_EVERY: usize = 250;
/// Seeds run at once (each on its own database).
const THREADS: usize = 10;
const EXPIRY_DAYS: i64 = 5;
const REWARD_PRICE: i64 = 25;
const SILVER: i64 = 150;
const GOLD: i64 = 600;
const HOLDS_LIVE_MAX: usize = domain::loyalty::holds::HOLDS_PER_MEMBER_MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LotState {
    Pending,
    Active,
    Expired,
}

#[derive(Debug, Clone)]
struct Lot {
    key: (i64, i64),
    customer: usize,
    remaining: i64,
    state: LotState,
    pending_until: Option<Timestamp>,
    expires_at: Option<Timestamp>,
}

#[derive(Debug, Clone)]
struct Order {
    customer: usize,
    lines: Vec<(i64, i64)>,
    refunded: Vec<i64>,
    line_points: Vec<i64>,
    lot: Option<(i64, i64)>,
    /// When the order was recorded: a return reduces the qualifying points of that period.
    earned_at: Timestamp,
}

/// A live lot as read back: key, remaining, state.
type LiveLot = ((i64, i64), i64, String);
/// An account as read back: customer id, (balance, pending, debt).
type AccountFigures = (i64, (i64, i64, i64));

/// A return sent: its id, the order's id and the lines (`None`: everything left).
type Return = (String, String, Option<Vec<(usize, i64)>>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HoldState {
    Held,
    Committed,
    Released,
}

#[derive(Debug, Clone)]
struct Hold {
    id: i64,
    customer: usize,
    points: i64,
    expires_at: Timestamp,
    state: HoldState,
}

#[derive(Debug, Clone)]
struct Redemption {
    id: i64,
    customer: usize,
    consumed: Vec<((i64, i64), i64)>,
    cancelled: Option<(i64, i64, i64, i64)>,
}

#[derive(Debug, Clone)]
struct Debt {
    event: i64,
    negative: bool,
    open: i64,
}

#[derive(Debug, Clone, Default)]
struct Customer {
    id: Option<i64>,
    balance: i64,
    pending: i64,
    debts: Vec<Debt>,
    earns: Vec<(Timestamp, i64)>,
}

impl Customer {
    fn debt(&self) -> i64 {
        self.debts
            .iter()
            .filter(|d| !d.negative)
            .map(|d| d.open)
            .sum()
    }
}

/// The reference: every lot, hold, redemption and debt, in plain vectors.
struct Model {
    negative_balance: bool,
    pending_days: i64,
    grace_days: Option<i64>,
    lots: Vec<Lot>,
    by_key: BTreeMap<(i64, i64), usize>,
    orders: BTreeMap<String, Order>,
    refunds: Vec<Return>,
    holds: Vec<Hold>,
    redemptions: Vec<Redemption>,
    customers: Vec<Customer>,
    /// What the run went through, by outcome: the end asserts the interesting ones happened.
    seen: BTreeMap<&'static str, u64>,
}

fn taipei() -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::get("Asia/Taipei").unwrap()
}

/// The last valid second (23:59:59 local) of the local day `days` after `at`'s.
fn end_of_day_after(at: Timestamp, days: i64) -> Timestamp {
    let date = at
        .to_zoned(taipei())
        .date()
        .checked_add(days.days())
        .unwrap();
    date.at(23, 59, 59, 0)
        .to_zoned(taipei())
        .unwrap()
        .timestamp()
}

fn is_expired(expires_at: Option<Timestamp>, now: Timestamp) -> bool {
    expires_at.is_some_and(|e| now >= e + SignedDuration::from_secs(1))
}

/// Points a return of `q` more units of a line reverses (the last unit takes the remainder).
fn line_reversal(points: i64, bought: i64, before: i64, q: i64) -> i64 {
    points * (before + q) / bought - points * before / bought
}

impl Model {
    fn saw(&mut self, what: &'static str) {
        *self.seen.entry(what).or_default() += 1;
    }

    fn add_lot(&mut self, lot: Lot) {
        self.by_key.insert(lot.key, self.lots.len());
        self.lots.push(lot);
    }

    fn lot_mut(&mut self, key: (i64, i64)) -> &mut Lot {
        let i = self.by_key[&key];
        &mut self.lots[i]
    }

    /// Active lots of `c` with points, in the order a debit consumes them.
    fn spend_order(&self, c: usize) -> Vec<usize> {
        let mut v: Vec<usize> = (0..self.lots.len())
            .filter(|&i| {
                let l = &self.lots[i];
                l.customer == c && l.remaining > 0 && l.state == LotState::Active
            })
            .collect();
        v.sort_by_key(|&i| {
            let l = &self.lots[i];
            (l.expires_at.is_none(), l.expires_at, l.key)
        });
        v
    }

    /// Consumes `amount` from `c`'s active lots; returns what each lot gave.
    fn consume(&mut self, c: usize, amount: i64) -> Vec<((i64, i64), i64)> {
        let mut left = amount;
        let mut taken = Vec::new();
        for i in self.spend_order(c) {
            if left == 0 {
                break;
            }
            let take = self.lots[i].remaining.min(left);
            self.lots[i].remaining -= take;
            left -= take;
            taken.push((self.lots[i].key, take));
        }
        assert_eq!(left, 0, "model: the lots cover a debit the balance allows");
        taken
    }

    /// Points that just became active on `lots` settle `c`'s debts, oldest first.
    fn settle(&mut self, c: usize, lots: &[(i64, i64)]) {
        for &key in lots {
            let mut available = self.lot_mut(key).remaining;
            let mut debts = std::mem::take(&mut self.customers[c].debts);
            debts.sort_by_key(|d| d.event);
            for d in debts.iter_mut() {
                let take = d.open.min(available);
                if take == 0 {
                    continue;
                }
                d.open -= take;
                available -= take;
                self.lot_mut(key).remaining -= take;
                self.seen
                    .entry("debt settled")
                    .and_modify(|n| *n += 1)
                    .or_insert(1);
                if !d.negative {
                    self.customers[c].balance -= take;
                }
            }
            debts.retain(|d| d.open > 0);
            self.customers[c].debts = debts;
        }
    }

    fn held(&self, c: usize, now: Timestamp) -> (i64, usize) {
        let live: Vec<&Hold> = self
            .holds
            .iter()
            .filter(|h| h.customer == c && h.state == HoldState::Held && now < h.expires_at)
            .collect();
        (live.iter().map(|h| h.points).sum(), live.len())
    }

    /// The activation job: pending lots whose window ended, oldest window first.
    fn activate_due(&mut self, now: Timestamp) {
        let mut due: Vec<usize> = (0..self.lots.len())
            .filter(|&i| {
                self.lots[i].state == LotState::Pending
                    && self.lots[i].pending_until.is_some_and(|p| p <= now)
            })
            .collect();
        due.sort_by_key(|&i| (self.lots[i].pending_until, self.lots[i].key));
        let mut by_customer: BTreeMap<usize, Vec<(i64, i64)>> = BTreeMap::new();
        for i in due {
            let l = &mut self.lots[i];
            l.state = LotState::Active;
            if l.remaining > 0 {
                let (c, r, key) = (l.customer, l.remaining, l.key);
                self.customers[c].balance += r;
                self.customers[c].pending -= r;
                by_customer.entry(c).or_default().push(key);
            }
        }
        for (c, lots) in by_customer {
            self.settle(c, &lots);
        }
    }

    /// The expiry: active lots past their last valid second lose what they hold.
    fn expire_due(&mut self, now: Timestamp) -> i64 {
        let mut total = 0;
        for l in &mut self.lots {
            if l.state == LotState::Active && l.remaining > 0 && is_expired(l.expires_at, now) {
                self.customers[l.customer].balance -= l.remaining;
                total += l.remaining;
                *self.seen.entry("lot expired").or_default() += 1;
                l.remaining = 0;
                l.state = LotState::Expired;
            }
        }
        total
    }
}

struct Run<'a> {
    t: &'a TestApp,
    seed: u64,
    rng: Rng,
    m: Model,
    reward: i64,
}

fn who() -> app::Principal {
    TestApp::principal(Role::Manager)
}

impl Run<'_> {
    fn now(&self) -> Timestamp {
        self.t.app.now()
    }

    fn order_input(&self, id: &str, c: usize, lines: &[(i64, i64)]) -> OrderInput {
        let mut input = order(id, &format!("C{c}"), lines[0].0, lines[0].1);
        for &(q, p) in &lines[1..] {
            input.lines.push(LineInput {
                sku: "X".to_owned(),
                category: None,
                quantity: q,
                unit_price_minor: p,
            });
        }
        input
    }

    fn known(&mut self) -> Option<usize> {
        let known: Vec<usize> = (0..CUSTOMERS)
            .filter(|&c| self.m.customers[c].id.is_some())
            .collect();
        (!known.is_empty()).then(|| *self.rng.pick(&known))
    }

    fn earn(&mut self, step: usize, ctx: &str) -> usize {
        let c = self.rng.below(CUSTOMERS as u64) as usize;
        let id = format!("O{step}");
        let lines: Vec<(i64, i64)> = (0..1 + self.rng.below(3))
            .map(|_| {
                (
                    1 + self.rng.below(4) as i64,
                    100 * self.rng.below(500) as i64,
                )
            })
            .collect();
        let input = self.order_input(&id, c, &lines);
        let now = self.now();
        let Intake::Accepted(o) = self.t.app.place_order(&who(), &input).unwrap() else {
            panic!("{ctx}: order refused")
        };
        let paid: i64 = lines.iter().map(|(q, p)| q * p).sum();
        let points = paid / 10_000;
        assert_eq!(o.points_earned, points, "{ctx}: points earned");
        let weights: Vec<i128> = lines.iter().map(|(q, p)| i128::from(q * p)).collect();
        let line_points = domain::loyalty::allocate_largest_remainder(points, &weights);
        self.m.customers[c].id = Some(o.customer_id);
        let mut lot = None;
        if points > 0 {
            let key = (o.order_id, 0);
            lot = Some(key);
            self.m.customers[c].earns.push((now, points));
            let pending_until = (self.m.pending_days > 0)
                .then(|| now + SignedDuration::from_hours(24 * self.m.pending_days));
            let activated = pending_until.unwrap_or(now);
            self.m.add_lot(Lot {
                key,
                customer: c,
                remaining: points,
                state: if pending_until.is_some() {
                    LotState::Pending
                } else {
                    LotState::Active
                },
                pending_until,
                expires_at: Some(end_of_day_after(activated, EXPIRY_DAYS)),
            });
            if pending_until.is_some() {
                self.m.customers[c].pending += points;
            } else {
                self.m.customers[c].balance += points;
                self.m.settle(c, &[key]);
            }
        }
        self.m.orders.insert(
            id,
            Order {
                customer: c,
                refunded: vec![0; lines.len()],
                lines,
                line_points,
                lot,
                earned_at: now,
            },
        );
        c
    }

    fn duplicate_earn(&mut self, ctx: &str) -> Option<usize> {
        let ids: Vec<String> = self.m.orders.keys().cloned().collect();
        if ids.is_empty() {
            return None;
        }
        let id = self.rng.pick(&ids).clone();
        let o = self.m.orders[&id].clone();
        if self.rng.below(4) == 0 {
            // Same id, other content: a conflict, nothing stored.
            let mut lines = o.lines.clone();
            lines[0].0 += 1;
            let r = self
                .t
                .app
                .place_order(&who(), &self.order_input(&id, o.customer, &lines))
                .unwrap();
            assert!(
                matches!(r, Intake::Rejected(AppError::ConflictingDuplicate { .. })),
                "{ctx}: {r:?}"
            );
        } else {
            let r = self
                .t
                .app
                .place_order(&who(), &self.order_input(&id, o.customer, &o.lines))
                .unwrap();
            assert!(matches!(r, Intake::Duplicate(_)), "{ctx}: {r:?}");
        }
        Some(o.customer)
    }

    fn ret(&mut self, step: usize, ctx: &str) -> Option<usize> {
        let ids: Vec<String> = self.m.orders.keys().cloned().collect();
        if ids.is_empty() {
            return None;
        }
        let id = self.rng.pick(&ids).clone();
        let o = self.m.orders[&id].clone();
        let refund_id = format!("R{step}");
        let lines = if self.rng.below(3) == 0 {
            None
        } else {
            let l = self.rng.below(o.lines.len() as u64) as usize;
            Some(vec![(l, 1 + self.rng.below(2) as i64)])
        };
        let plan: Vec<(usize, i64)> = match &lines {
            None => (0..o.lines.len())
                .map(|l| (l, o.lines[l].0 - o.refunded[l]))
                .filter(|x| x.1 > 0)
                .collect(),
            Some(v) => v.clone(),
        };
        let fits = !plan.is_empty() && plan.iter().all(|&(l, q)| q <= o.lines[l].0 - o.refunded[l]);
        let r = self
            .t
            .app
            .refund_order(&who(), &refund(&refund_id, &id, lines.clone()));
        if !fits {
            assert!(
                matches!(r, Err(AppError::RefundExceedsOrder(_))),
                "{ctx}: {r:?}"
            );
            return Some(o.customer);
        }
        let Ok(Intake::Accepted(out)) = r else {
            panic!("{ctx}: refund refused: {r:?}")
        };
        let reversed: i64 = plan
            .iter()
            .map(|&(l, q)| line_reversal(o.line_points[l], o.lines[l].0, o.refunded[l], q))
            .sum();
        assert_eq!(out.points_reversed, reversed, "{ctx}: points reversed");
        let c = o.customer;
        let mo = self.m.orders.get_mut(&id).unwrap();
        for &(l, q) in &plan {
            mo.refunded[l] += q;
        }
        self.m.refunds.push((refund_id, id, lines));
        let Some(key) = o.lot.filter(|_| reversed > 0) else {
            return Some(c);
        };
        // The tier state counts a return against the period its purchase counted in.
        self.m.customers[c].earns.push((o.earned_at, -reversed));
        let lot = self.m.lot_mut(key);
        if lot.state == LotState::Pending {
            assert!(lot.remaining >= reversed, "{ctx}: model pending lot");
            lot.remaining -= reversed;
            self.m.customers[c].pending -= reversed;
            self.m.saw("return of pending points");
            return Some(c);
        }
        let from_lot = lot.remaining.min(reversed);
        let covered = self.m.customers[c].balance.clamp(0, reversed);
        let posted = if self.m.negative_balance {
            reversed
        } else {
            covered
        };
        if posted > 0 {
            self.m.lot_mut(key).remaining -= from_lot;
            self.m.consume(c, covered - from_lot);
        }
        self.m.saw("return of active points");
        if reversed > covered {
            self.m.saw("return after the points were spent");
            self.m.customers[c].debts.push(Debt {
                event: out.refund_id,
                negative: self.m.negative_balance,
                open: reversed - covered,
            });
        }
        self.m.customers[c].balance -= posted;
        Some(c)
    }

    fn duplicate_return(&mut self, ctx: &str) -> Option<usize> {
        if self.m.refunds.is_empty() {
            return None;
        }
        let (rid, order_id, lines) = self.rng.pick(&self.m.refunds).clone();
        let r = self
            .t
            .app
            .refund_order(&who(), &refund(&rid, &order_id, lines))
            .unwrap();
        assert!(matches!(r, Intake::Duplicate(_)), "{ctx}: {r:?}");
        Some(self.m.orders[&order_id].customer)
    }

    fn hold(&mut self, ctx: &str) -> Option<usize> {
        let c = self.known()?;
        let now = self.now();
        let (held, live) = self.m.held(c, now);
        let available = self.m.customers[c].balance - held;
        let points = 1 + self.rng.below(available.max(1) as u64 + 5) as i64;
        let ttl = 60 + self.rng.below(4 * 3_600) as i64;
        let r =
            self.t
                .app
                .reserve_points(&who(), self.m.customers[c].id.unwrap(), points, Some(ttl));
        if live >= HOLDS_LIVE_MAX {
            assert!(matches!(r, Err(AppError::Invalid(_))), "{ctx}: {r:?}");
        } else if points > available {
            assert!(
                matches!(r, Err(AppError::InsufficientPoints(_))),
                "{ctx}: {r:?}"
            );
        } else {
            let h = r.unwrap_or_else(|e| panic!("{ctx}: hold refused: {e:?}"));
            assert_eq!(h.points, points, "{ctx}");
            self.m.holds.push(Hold {
                id: h.hold_id,
                customer: c,
                points,
                expires_at: now + SignedDuration::from_secs(ttl),
                state: HoldState::Held,
            });
        }
        Some(c)
    }

    /// Commits (or releases) a random hold; the model says which refusal to expect.
    fn finish_hold(&mut self, commit: bool, ctx: &str) -> Option<usize> {
        if self.m.holds.is_empty() {
            return None;
        }
        // Mostly recent holds, so that many are still live.
        let n = self.m.holds.len();
        let i = n - 1 - (self.rng.below(n.min(8) as u64) as usize);
        let h = self.m.holds[i].clone();
        let now = self.now();
        let cid = self.m.customers[h.customer].id.unwrap();
        let r = if commit {
            self.t.app.commit_hold(&who(), cid, h.id)
        } else {
            self.t.app.release_hold(&who(), cid, h.id)
        };
        match h.state {
            HoldState::Held if now >= h.expires_at => self.m.saw("expired hold refused"),
            _ => {}
        }
        match h.state {
            HoldState::Held if now >= h.expires_at => assert!(
                matches!(r, Err(AppError::HoldRefused(HoldError::HoldExpired { .. }))),
                "{ctx}: {r:?}"
            ),
            HoldState::Held if commit && self.m.customers[h.customer].balance < h.points => {
                assert!(
                    matches!(r, Err(AppError::InsufficientPoints(_))),
                    "{ctx}: {r:?}"
                )
            }
            HoldState::Held => {
                let v = r.unwrap_or_else(|e| panic!("{ctx}: hold refused: {e:?}"));
                if commit {
                    self.m.saw("hold committed");
                    let consumed = self.m.consume(h.customer, h.points);
                    self.m.customers[h.customer].balance -= h.points;
                    self.m.holds[i].state = HoldState::Committed;
                    self.m.redemptions.push(Redemption {
                        id: v.redemption_id.expect("a committed hold's redemption"),
                        customer: h.customer,
                        consumed,
                        cancelled: None,
                    });
                } else {
                    self.m.holds[i].state = HoldState::Released;
                }
            }
            _ => assert!(
                matches!(r, Err(AppError::HoldRefused(HoldError::NotHeld { .. }))),
                "{ctx}: {r:?}"
            ),
        }
        Some(h.customer)
    }

    fn redeem(&mut self, ctx: &str) -> Option<usize> {
        let c = self.known()?;
        let now = self.now();
        let (held, live) = self.m.held(c, now);
        let r = self
            .t
            .app
            .redeem_reward(&who(), self.m.customers[c].id.unwrap(), self.reward);
        if live >= HOLDS_LIVE_MAX {
            assert!(matches!(r, Err(AppError::Invalid(_))), "{ctx}: {r:?}");
        } else if self.m.customers[c].balance - held < REWARD_PRICE {
            assert!(
                matches!(r, Err(AppError::InsufficientPoints(_))),
                "{ctx}: {r:?}"
            );
        } else {
            let v = r.unwrap_or_else(|e| panic!("{ctx}: redemption refused: {e:?}"));
            self.m.saw("reward redeemed");
            let consumed = self.m.consume(c, REWARD_PRICE);
            self.m.customers[c].balance -= REWARD_PRICE;
            self.m.holds.push(Hold {
                id: v.hold_id,
                customer: c,
                points: REWARD_PRICE,
                expires_at: now,
                state: HoldState::Committed,
            });
            self.m.redemptions.push(Redemption {
                id: v.redemption_id,
                customer: c,
                consumed,
                cancelled: None,
            });
        }
        Some(c)
    }

    fn cancel(&mut self, ctx: &str) -> Option<usize> {
        if self.m.redemptions.is_empty() {
            return None;
        }
        let i = self.rng.below(self.m.redemptions.len() as u64) as usize;
        let r = self.m.redemptions[i].clone();
        let c = r.customer;
        let now = self.now();
        let v = self
            .t
            .app
            .cancel_redemption(&who(), self.m.customers[c].id.unwrap(), r.id)
            .unwrap_or_else(|e| panic!("{ctx}: cancel refused: {e:?}"));
        if let Some((id, restored, reinstated, forfeited)) = r.cancelled {
            // The replay answers the first cancellation and changes nothing.
            assert_eq!(
                (v.cancellation_id, v.restored, v.reinstated, v.forfeited),
                (id, restored, reinstated, forfeited),
                "{ctx}: replayed cancellation"
            );
            return Some(c);
        }
        self.m.saw("redemption cancelled");
        let mut consumed = r.consumed.clone();
        consumed.sort();
        let mut seq = 0;
        let mut active = Vec::new();
        let mut grace = Vec::new();
        let (mut restored, mut forfeited) = (0, 0);
        for (key, points) in consumed {
            let lot = self.m.lot_mut(key).clone();
            let expired = lot.state == LotState::Expired || is_expired(lot.expires_at, now);
            if expired && self.m.grace_days.is_some() {
                grace.push(points);
                continue;
            }
            let restore = (v.cancellation_id, seq);
            seq += 1;
            self.m.add_lot(Lot {
                key: restore,
                customer: c,
                remaining: if expired { 0 } else { points },
                state: if expired {
                    LotState::Expired
                } else {
                    LotState::Active
                },
                pending_until: None,
                expires_at: lot.expires_at,
            });
            if expired {
                self.m.saw("expired points forfeited");
                forfeited += points;
            } else {
                restored += points;
                active.push(restore);
            }
        }
        if !grace.is_empty() {
            self.m.saw("expired points reinstated");
        }
        let reinstated: i64 = grace.iter().sum();
        for points in grace {
            let key = (v.cancellation_id, seq);
            seq += 1;
            self.m.add_lot(Lot {
                key,
                customer: c,
                remaining: points,
                state: LotState::Active,
                pending_until: None,
                expires_at: Some(end_of_day_after(now, self.m.grace_days.unwrap())),
            });
            active.push(key);
        }
        assert_eq!(
            (v.restored, v.reinstated, v.forfeited),
            (restored, reinstated, forfeited),
            "{ctx}: cancellation"
        );
        self.m.customers[c].balance += restored + reinstated;
        self.m.settle(c, &active);
        self.m.redemptions[i].cancelled =
            Some((v.cancellation_id, restored, reinstated, forfeited));
        Some(c)
    }

    fn correct(&mut self, ctx: &str) -> Option<usize> {
        let c = self.known()?;
        let points = 1 + self.rng.below(40) as i64;
        let points = if self.rng.below(2) == 0 {
            points
        } else {
            -points
        };
        let r = self
            .t
            .app
            .correct_points(&who(), self.m.customers[c].id.unwrap(), points, "model");
        let mc = &self.m.customers[c];
        // A return may take the balance below zero (`negative_balance`); a correction never
        // may without the configuration's allowance, which the model does not give.
        if points < 0 && mc.balance < -points {
            assert!(
                matches!(r, Err(AppError::InsufficientPoints(_))),
                "{ctx}: {r:?}"
            );
            return Some(c);
        }
        let e = r.unwrap_or_else(|e| panic!("{ctx}: correction refused: {e:?}"));
        if points > 0 {
            let key = (e.event_id, e.seq);
            self.m.add_lot(Lot {
                key,
                customer: c,
                remaining: points,
                state: LotState::Active,
                pending_until: None,
                expires_at: None,
            });
            self.m.customers[c].balance += points;
            self.m.settle(c, &[key]);
        } else {
            // Below zero only where allowed: the lots give what they hold, the rest is a
            // negative debt of this correction.
            let covered = self.m.customers[c].balance.clamp(0, -points);
            self.m.consume(c, covered);
            if -points > covered {
                self.m.customers[c].debts.push(Debt {
                    event: e.event_id,
                    negative: true,
                    open: -points - covered,
                });
            }
            self.m.customers[c].balance += points;
        }
        Some(c)
    }

    fn tier(&mut self, ctx: &str) -> Option<usize> {
        let c = self.known()?;
        let now = self.now();
        let s = self
            .t
            .app
            .loyalty_summary(self.m.customers[c].id.unwrap())
            .unwrap();
        let year = now.to_zoned(taipei()).date().first_of_year();
        let from = year.to_zoned(taipei()).unwrap().timestamp();
        let mc = &self.m.customers[c];
        let qualifying: i64 = mc.earns.iter().filter(|e| e.0 >= from).map(|e| e.1).sum();
        let rank = |t: &str| ["member", "silver", "gold"].iter().position(|x| *x == t);
        let tier = match qualifying {
            q if q >= GOLD => "gold",
            q if q >= SILVER => "silver",
            _ => "member",
        };
        // Upgrades are immediate, so this year's points are a floor; a tier earned last year
        // holds through this one (downgrades only at a period's end, see `tiers.rs`), so the
        // member's tier may be higher than this year's points alone give.
        assert!(
            rank(s.tier.as_str()) >= rank(tier),
            "{ctx}: tier {} below the {tier} this year's {qualifying} points give",
            s.tier
        );

        let (held, _) = self.m.held(c, now);
        assert_eq!(
            (
                s.balance,
                s.pending,
                s.debt,
                s.held,
                s.available,
                s.qualifying_points,
            ),
            (
                mc.balance,
                mc.pending,
                mc.debt(),
                held,
                mc.balance - held,
                qualifying,
            ),
            "{ctx}: summary"
        );
        self.m.saw(match tier {
            "gold" => "tier gold",
            "silver" => "tier silver",
            _ => "tier member",
        });
        Some(c)
    }

    /// One customer's account and live lots against the model (one read transaction).
    fn check_customer(&self, c: usize, ctx: &str) {
        let mc = &self.m.customers[c];
        let Some(id) = mc.id else { return };
        let (account, lots) = self
            .t
            .app
            .store
            .read(|tx| -> anyhow::Result<_> {
                let account = store::ledger::customer_account(tx, id)?.unwrap();
                let lots = store::loyalty::live_lots(tx, account.id)?;
                Ok((account, lots))
            })
            .unwrap();
        assert_eq!(
            (account.balance, account.pending, account.debt),
            (mc.balance, mc.pending, mc.debt()),
            "{ctx}: account of C{c} (balance, pending, debt)"
        );
        let mut lots: Vec<LiveLot> = lots
            .into_iter()
            .map(|l| {
                let state = l.lot_state.unwrap_or_else(|| "active".to_owned());
                ((l.event_id, l.seq), l.remaining.unwrap_or(0), state)
            })
            .collect();
        lots.sort();
        assert_eq!(lots, self.model_lots(c), "{ctx}: live lots of C{c}");
    }

    fn model_lots(&self, c: usize) -> Vec<LiveLot> {
        let mut lots: Vec<_> = self
            .m
            .lots
            .iter()
            .filter(|l| l.customer == c && l.remaining > 0)
            .map(|l| {
                let state = match l.state {
                    LotState::Pending => "pending",
                    LotState::Active => "active",
                    LotState::Expired => "expired",
                };
                (l.key, l.remaining, state.to_owned())
            })
            .collect();
        lots.sort();
        lots
    }

    /// Every account and every live lot in the database, read with two queries.
    fn check_all(&self, ctx: &str) {
        type Read = (Vec<AccountFigures>, Vec<(i64, LiveLot)>);
        let (accounts, lots): Read = self
            .t
            .app
            .store
            .read(|tx| -> anyhow::Result<_> {
                let accounts = tx
                    .query(
                        "SELECT customer_id, balance, pending, debt FROM accounts
                         WHERE customer_id IS NOT NULL",
                        &[],
                    )?
                    .iter()
                    .map(|r| Ok((r.int(0)?, (r.int(1)?, r.int(2)?, r.int(3)?))))
                    .collect::<anyhow::Result<_>>()?;
                let lots = tx
                    .query(
                        "SELECT a.customer_id, t.event_id, t.seq, t.remaining,
                                COALESCE(t.lot_state, 'active')
                         FROM transfers t JOIN accounts a ON a.id = t.credit_account_id
                         WHERE t.remaining > 0 AND a.customer_id IS NOT NULL
                           AND (t.lot_state IS NULL OR t.lot_state <> 'expired')",
                        &[],
                    )?
                    .iter()
                    .map(|r| {
                        Ok((
                            r.int(0)?,
                            ((r.int(1)?, r.int(2)?), r.int(3)?, r.text(4)?.to_owned()),
                        ))
                    })
                    .collect::<anyhow::Result<_>>()?;
                Ok((accounts, lots))
            })
            .unwrap();
        let index = |id: i64| {
            (0..CUSTOMERS)
                .find(|&c| self.m.customers[c].id == Some(id))
                .unwrap_or_else(|| panic!("{ctx}: an account the model does not know"))
        };
        let mut stored: Vec<(usize, i64, i64, i64)> = accounts
            .into_iter()
            .map(|(id, (b, p, d))| (index(id), b, p, d))
            .collect();
        stored.sort();
        let expected: Vec<(usize, i64, i64, i64)> = (0..CUSTOMERS)
            .filter(|&c| self.m.customers[c].id.is_some())
            .map(|c| {
                let mc = &self.m.customers[c];
                (c, mc.balance, mc.pending, mc.debt())
            })
            .collect();
        assert_eq!(stored, expected, "{ctx}: accounts (balance, pending, debt)");
        let mut stored: Vec<(usize, LiveLot)> =
            lots.into_iter().map(|(id, l)| (index(id), l)).collect();
        stored.sort();
        let expected: Vec<(usize, LiveLot)> = (0..CUSTOMERS)
            .flat_map(|c| self.model_lots(c).into_iter().map(move |l| (c, l)))
            .collect();
        assert_eq!(stored, expected, "{ctx}: live lots");
    }

    fn full_check(&self, ctx: &str) {
        let check = self.t.app.store.read(store::ledger::check).unwrap();
        assert!(check.is_healthy(), "{ctx}: {check:?}");
    }

    fn step(&mut self, step: usize) {
        let ctx = format!("seed {:#x}, step {step}", self.seed);
        let op = self.rng.below(100);
        let touched = match op {
            0..=24 => Some(self.earn(step, &ctx)),
            25..=29 => self.duplicate_earn(&ctx),
            30..=39 => self.ret(step, &ctx),
            40..=41 => self.duplicate_return(&ctx),
            42..=51 => self.hold(&ctx),
            52..=57 => self.finish_hold(true, &ctx),
            58..=61 => self.finish_hold(false, &ctx),
            62..=68 => self.redeem(&ctx),
            69..=74 => self.cancel(&ctx),
            75..=78 => self.correct(&ctx),
            79..=81 => self.tier(&ctx),
            82..=85 => {
                let now = self.now();
                let expired = self.t.app.expire_due().unwrap();
                assert_eq!(expired, self.m.expire_due(now), "{ctx}: points expired");
                self.check_all(&ctx);
                None
            }
            86..=91 => {
                let now = self.now();
                self.t.app.run_pending_jobs().unwrap();
                self.m.activate_due(now);
                self.m.expire_due(now);
                self.check_all(&ctx);
                None
            }
            _ => {
                // The clock moves on: minutes (holds expire) to two days (windows end,
                // lots expire), across local midnights.
                let secs = match self.rng.below(10) {
                    0..=3 => 60 + self.rng.below(3_600) as i64,
                    4..=7 => 3_600 + self.rng.below(12 * 3_600) as i64,
                    _ => 86_400 + self.rng.below(86_400) as i64,
                };
                self.t.advance(SignedDuration::from_secs(secs));
                None
            }
        };
        if let Some(c) = touched {
            self.check_customer(c, &ctx);
        }
        if step.is_multiple_of(SNAPSHOT_EVERY) {
            self.check_all(&ctx);
        }
        if step % FULL_CHECK_EVERY == FULL_CHECK_EVERY - 1 {
            self.full_check(&ctx);
        }
    }
}

fn setup(t: &TestApp, seed: u64) -> Model {
    let negative_balance = seed % 2 == 1;
    let pending_days = if seed % 4 < 2 { 2 } else { 0 };
    let grace_days = seed.is_multiple_of(3).then_some(3);
    let settings = ProgrammeSettings {
        time_zone: "Asia/Taipei".to_owned(),
        currency: "TWD".to_owned(),
        point_value_minor: 100,
        pending_days,
        expiry: format!("days:{EXPIRY_DAYS}"),
        expired_restore: grace_days.map_or("forfeit".to_owned(), |d| format!("reinstate:{d}")),
        reminder_days: 0,
        wallet_kind: "free".to_owned(),
        shortfall: if negative_balance {
            "negative_balance"
        } else {
            "debt"
        }
        .to_owned(),
    };
    t.app.update_programme(&who(), &settings).unwrap();
    // Tiers that earn ×1, low enough to be reached: the tier is evaluated, never multiplied.
    t.app
        .store
        .write(|tx| {
            let mut row = store::loyalty::current_programme(tx)?.unwrap();
            row.tiers = format!("member:0,silver:{SILVER},gold:{GOLD}");
            store::loyalty::insert_programme(tx, &row)
        })
        .unwrap();
    Model {
        negative_balance,
        pending_days,
        grace_days,
        lots: Vec::new(),
        by_key: BTreeMap::new(),
        orders: BTreeMap::new(),
        refunds: Vec::new(),
        holds: Vec::new(),
        redemptions: Vec::new(),
        customers: vec![Customer::default(); CUSTOMERS],
        seen: BTreeMap::new(),
    }
}

/// A fresh database for one seed. On PostgreSQL its connections commit without waiting for
/// the WAL flush (`synchronous_commit=off`): a commit costs ~10 ms of fsync on this disk
/// otherwise, which would make the run a measure of the disk. Nothing the model checks
/// depends on durability across a crash; isolation and constraints are unchanged.
fn fresh(backend: Backend, seed: u64) -> TestApp {
    let mut db = TestDatabase::new(backend).expect("a database");
    if let DatabaseUrl::Postgres { url } = &mut db.url {
        let sep = if url.contains('?') { '&' } else { '?' };
        url.push_str(&format!("{sep}options=-c%20synchronous_commit%3Doff"));
    }
    let clock = Arc::new(ManualClock::new(test_support::start_instant()));
    let sender = Arc::new(RecordingSender::default());
    TestApp {
        app: App::new(
            db.open(),
            clock.clone(),
            Arc::new(SeededEntropy::new(seed)),
            sender.clone(),
            Settings::default(),
        ),
        clock,
        sender,
        backend,
        db,
    }
}

fn run(backend: Backend, seed: u64) {
    let t = fresh(backend, seed);
    let m = setup(&t, seed);
    let reward = t
        .app
        .create_reward(
            &who(),
            RewardSpec {
                name: "Tea".to_owned(),
                points_price: REWARD_PRICE,
                stock: None,
                per_member_limit: None,
                valid_from: None,
                valid_until: None,
                issues_voucher: false,
            },
        )
        .unwrap()
        .id;
    let mut run = Run {
        t: &t,
        seed,
        rng: Rng::seeded(seed),
        m,
        reward,
    };
    for step in 0..STEPS {
        run.step(step);
    }
    let ctx = format!("seed {seed:#x}, end");
    run.check_all(&ctx);
    run.full_check(&ctx);
    let seen = &run.m.seen;
    eprintln!("model: seed {seed:#x}: {seen:?}");
    // The run went where the bugs live: spent points returned, debts settled, expiries,
    // cancellations of spent lots, holds past their TTL, tiers reached.
    let mut expected = vec![
        "return after the points were spent",
        "return of active points",
        "debt settled",
        "lot expired",
        "redemption cancelled",
        "expired hold refused",
        "hold committed",
        "reward redeemed",
        "tier member",
        "tier silver",
    ];
    if run.m.pending_days > 0 {
        expected.push("return of pending points");
    }
    for what in expected {
        assert!(
            seen.get(what).is_some_and(|n| *n > 0),
            "{ctx}: never saw {what:?}: {seen:?}"
        );
    }
}

fn run_all(t: &TestApp) {
    let next = AtomicUsize::new(0);
    let started = app::sys::Stopwatch::start();
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed) as u64;
                    if i >= SEEDS {
                        break;
                    }
                    run(t.backend, 0x1ed9_e700 + i);
                }
            });
        }
    });
    eprintln!(
        "model: {} operations on {:?} in {:.1} s",
        SEEDS as usize * STEPS,
        t.backend,
        started.elapsed().as_secs_f64()
    );
}

both_backends!(random_operations_match_the_model, |t: &TestApp| {
    run_all(t);
});

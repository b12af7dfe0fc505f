//! Reading a customer's points (balance, statement) and correcting them with compensating
//! transfers that always carry a reason.

use crate::{App, AppError, AppResult, Principal};
use anyhow::Context;
use domain::ledger::{Clawback, Points, TransferKind, clawback, debit_balance};
use domain::limits::REASON_CHARS_MAX;
use domain::loyalty::programme::ShortfallPolicy;
use domain::{EventKind, FieldError};
use std::collections::HashMap;
use store::events::NewEvent;
use store::ledger::{self, NewTransfer, TransferRow};
use store::sql::Tx;

/// One line of a customer's points statement, from the customer's side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementEntry {
    pub event_id: i64,
    pub seq: i64,
    pub kind: TransferKind,
    /// Positive when points arrived, negative when they left.
    pub points: i64,
    pub remaining: Option<i64>,
    pub reason: Option<String>,
    pub created_at: jiff::Timestamp,
    /// For a lot: `pending`, `active` or `expired`.
    pub lot_state: Option<String>,
    pub pending_until: Option<jiff::Timestamp>,
    pub expires_at: Option<jiff::Timestamp>,
    /// For points that left: the lots they were taken from, soonest expiry first.
    pub consumed: Vec<ConsumedLot>,
}

/// Points a debit took from one lot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumedLot {
    /// The lot's transfer.
    pub event_id: i64,
    pub seq: i64,
    pub points: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub entries: Vec<StatementEntry>,
    /// Points a return left owed (the `debt` shortfall policy), not yet settled: not a
    /// transfer until settled, so shown beside the entries.
    pub debt: i64,
    /// Pass back as `after` for the next page; `None` on the last page.
    pub next: Option<(i64, i64)>,
}

/// Hard upper bound on one statement page.
pub const STATEMENT_PAGE_MAX: i64 = 500;

fn entry(account: i64, t: TransferRow) -> StatementEntry {
    let points = if t.credit_account_id == account {
        t.amount
    } else {
        -t.amount
    };
    StatementEntry {
        event_id: t.event_id,
        seq: t.seq,
        kind: t.kind,
        points,
        remaining: t.remaining,
        reason: t.reason,
        created_at: t.created_at,
        lot_state: t.lot_state,
        pending_until: t.pending_until,
        expires_at: t.expires_at,
        consumed: Vec::new(),
    }
}

/// Fills in which lots each debit of `entries` consumed, with one statement.
fn with_consumptions(tx: &mut Tx<'_>, entries: &mut [StatementEntry]) -> anyhow::Result<()> {
    let debits: Vec<(i64, i64)> = entries
        .iter()
        .filter(|e| e.points < 0)
        .map(|e| (e.event_id, e.seq))
        .collect();
    if debits.is_empty() {
        return Ok(());
    }
    let mut by_transfer: HashMap<(i64, i64), Vec<ConsumedLot>> = HashMap::new();
    for c in ledger::consumptions_of(tx, &debits)? {
        by_transfer
            .entry(c.transfer)
            .or_default()
            .push(ConsumedLot {
                event_id: c.lot.0,
                seq: c.lot.1,
                points: c.amount,
            });
    }
    for e in entries {
        if let Some(lots) = by_transfer.remove(&(e.event_id, e.seq)) {
            e.consumed = lots;
        }
    }
    Ok(())
}

/// Debits `amount` from `account` for transfer `transfer`, consuming open lots soonest-expiry
/// first and recording which lots gave how much. Returns what the lots could not cover (the
/// caller records it as a debt; only a return or a correction allowed below zero leaves one).
pub(crate) fn consume_lots(
    tx: &mut Tx<'_>,
    account: i64,
    transfer: (i64, i64),
    amount: i64,
) -> anyhow::Result<i64> {
    let mut left = amount;
    for lot in ledger::open_lots(tx, account)? {
        if left == 0 {
            break;
        }
        let take = lot.remaining.unwrap_or(0).min(left);
        if take > 0 {
            ledger::consume_lot(tx, transfer, (lot.event_id, lot.seq), take)?;
            left -= take;
        }
    }
    Ok(left)
}

/// Points taken back from a member by a reversal event (a return, a reversed award): its one
/// `reverse` transfer (seq 0) names the lot the points came from.
pub(crate) struct ClawBack<'a> {
    pub(crate) event_id: i64,
    pub(crate) account: i64,
    pub(crate) issuance: i64,
    /// The lot the points came from, and what it still holds.
    pub(crate) lot: (i64, i64),
    pub(crate) lot_remaining: i64,
    pub(crate) amount: i64,
    pub(crate) reason: &'a str,
    pub(crate) shortfall: ShortfallPolicy,
    pub(crate) now_micros: i64,
}

/// Books a clawback of active points (loyalty.md §E: never refused, never truncated at zero),
/// under the account's row lock: the balance is Σ remaining of the active lots, so it is what
/// the lots can give. Taken from the named lot first, then the other active lots (soonest
/// expiry first); what they cannot give follows the shortfall policy — `debt` posts only the
/// covered part and records the rest as a `debt` row, `negative_balance` posts all, the
/// balance goes below zero and the depth is a `negative` row — settled from the next points
/// that become active ([`settle_debts`]).
pub(crate) fn claw_back(tx: &mut Tx<'_>, c: &ClawBack<'_>) -> anyhow::Result<Clawback> {
    let balance = ledger::add_to_balance(tx, c.account, 0)?;
    let covered = balance.clamp(0, c.amount);
    let booked = clawback(covered, c.amount, c.shortfall);
    if booked.posted > 0 {
        ledger::insert_transfer(
            tx,
            &NewTransfer {
                event_id: c.event_id,
                seq: 0,
                debit_account_id: c.account,
                credit_account_id: c.issuance,
                amount: booked.posted,
                kind: TransferKind::Reverse,
                created_at_micros: c.now_micros,
                remaining: None,
                pending_until_micros: None,
                expires_at_micros: None,
                lot: Some(c.lot),
                reason: Some(c.reason),
                lot_state: None,
                lines: Vec::new(),
                revenue: None,
            },
        )?;
        let from_lot = c.lot_remaining.min(covered);
        if from_lot > 0 {
            ledger::consume_lot(tx, (c.event_id, 0), c.lot, from_lot)?;
        }
        // What was spent already is clawed back from the other active lots.
        if covered > from_lot {
            let short = consume_lots(tx, c.account, (c.event_id, 0), covered - from_lot)?;
            assert_eq!(short, 0, "the balance is what the active lots hold");
        }
    }
    if booked.uncovered > 0 {
        let negative = c.shortfall == ShortfallPolicy::NegativeBalance;
        if negative {
            ledger::allow_negative(tx, c.account)?;
        }
        ledger::insert_debt(
            tx,
            c.event_id,
            c.account,
            negative,
            booked.uncovered,
            c.now_micros,
        )?;
    }
    if booked.posted > 0 {
        ledger::add_to_balance(tx, c.account, -booked.posted)?;
    }
    Ok(booked)
}

/// Settles `account`'s open debts, oldest first, from points that just became active on
/// `lots` (`(lot, points available)`): first in, first settled (loyalty.md §E). A `debt` (not
/// posted yet) is paid by a `settle` transfer consuming the lot, under one
/// `points_debt_settled` event named after the first lot (a lot becomes active once); a
/// `negative` debt was posted when the balance went below zero, so the lot is consumed by that
/// debit's own transfer and the balance does not move again. Returns the points settled.
pub(crate) fn settle_debts(
    tx: &mut Tx<'_>,
    account: i64,
    lots: &[((i64, i64), i64)],
    now_micros: i64,
) -> anyhow::Result<i64> {
    let mut debts = ledger::open_debts(tx, account)?;
    if debts.is_empty() || lots.iter().all(|l| l.1 <= 0) {
        return Ok(0);
    }
    let mut event: Option<(i64, i64)> = None;
    let mut settled_by_transfer = 0;
    let mut settled = 0;
    for &(lot, available) in lots {
        let open: Vec<i64> = debts.iter().map(|d| d.open).collect();
        for (d, take) in debts
            .iter_mut()
            .zip(domain::ledger::settle(&open, available))
        {
            if take == 0 {
                continue;
            }
            if d.negative {
                ledger::consume_lot(tx, (d.event_id, 0), lot, take)?;
            } else {
                let (event_id, seq) = match event {
                    Some(e) => e,
                    None => {
                        let customer = ledger::account_customer(tx, account)?;
                        let id = store::events::insert(
                            tx,
                            &NewEvent {
                                source: "patron",
                                external_id: &format!("settle-{}-{}", lot.0, lot.1),
                                kind: EventKind::PointsDebtSettled,
                                customer_id: customer,
                                order_event_id: None,
                                occurred_at_micros: now_micros,
                                recorded_at_micros: now_micros,
                                currency: None,
                                amount_minor: None,
                                content_hash: &[],
                                body: "{}",
                            },
                        )?
                        .context("a lot settled debts twice")?;
                        (id, 0)
                    }
                };
                let issuance = ledger::system_account(tx, ledger::ISSUANCE_ACCOUNT)?;
                let reason = format!("debt:{}", d.event_id);
                ledger::insert_transfer(
                    tx,
                    &NewTransfer {
                        event_id,
                        seq,
                        debit_account_id: account,
                        credit_account_id: issuance,
                        amount: take,
                        kind: TransferKind::Settle,
                        created_at_micros: now_micros,
                        remaining: None,
                        pending_until_micros: None,
                        expires_at_micros: None,
                        lot: Some(lot),
                        reason: Some(&reason),
                        lot_state: None,
                        lines: Vec::new(),
                        revenue: None,
                    },
                )?;
                ledger::consume_lot(tx, (event_id, seq), lot, take)?;
                event = Some((event_id, seq + 1));
                settled_by_transfer += take;
            }
            ledger::settle_debt(tx, d, take)?;
            d.open -= take;
            settled += take;
        }
    }
    if settled_by_transfer > 0 {
        let after = ledger::add_to_balance(tx, account, -settled_by_transfer)?;
        assert!(after >= 0, "a settlement took the balance below zero");
    }
    Ok(settled)
}

impl App {
    pub fn points_balance(&self, customer_id: i64) -> AppResult<i64> {
        self.store.read(|tx| {
            let a = ledger::customer_account(tx, customer_id)?.ok_or(AppError::NotFound)?;
            Ok(a.balance)
        })
    }

    /// A page of the customer's statement after `after` (exclusive), oldest first.
    pub fn points_statement(
        &self,
        customer_id: i64,
        after: (i64, i64),
        limit: i64,
    ) -> AppResult<Statement> {
        if !(1..=STATEMENT_PAGE_MAX).contains(&limit) {
            return Err(
                FieldError::new("limit", format!("must be 1 to {STATEMENT_PAGE_MAX}")).into(),
            );
        }
        self.store.read(|tx| {
            let a = ledger::customer_account(tx, customer_id)?.ok_or(AppError::NotFound)?;
            let rows = ledger::statement(tx, a.id, after, limit + 1)?;
            let more = rows.len() as i64 > limit;
            let mut entries: Vec<_> = rows
                .into_iter()
                .take(limit as usize)
                .map(|t| entry(a.id, t))
                .collect();
            with_consumptions(tx, &mut entries)?;
            let next = if more {
                entries.last().map(|e| (e.event_id, e.seq))
            } else {
                None
            };
            Ok(Statement {
                entries,
                debt: a.debt,
                next,
            })
        })
    }

    /// Posts a correction: `points` > 0 credits the customer (a new lot), < 0 debits them.
    /// Never changes a past transfer; refuses a debit below zero (`InsufficientPoints`,
    /// nothing written) unless the configuration allows it (`loyalty.allow_negative_balance`)
    /// — whatever a return under the `negative_balance` shortfall policy did to the account.
    pub fn correct_points(
        &self,
        who: &Principal,
        customer_id: i64,
        points: i64,
        reason: &str,
    ) -> AppResult<StatementEntry> {
        Points::posting(points.abs())?;
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > REASON_CHARS_MAX {
            return Err(FieldError::new(
                "reason",
                format!("must be 1 to {REASON_CHARS_MAX} characters"),
            )
            .into());
        }
        let now = self.now_micros();
        let external_id = format!("correction-{}", self.random_hex(12));
        let allow_negative = self.settings.allow_negative_balance;
        self.store.write(|tx| {
            post_correction(
                tx,
                who,
                customer_id,
                points,
                reason,
                &external_id,
                now,
                allow_negative,
            )
        })
    }
}

/// Posts a correction in the caller's transaction (see [`App::correct_points`]); `reason` is
/// already checked. The service desk posts compensation through it with the ticket's
/// reference in the reason.
#[allow(clippy::too_many_arguments)]
pub(crate) fn post_correction(
    tx: &mut Tx<'_>,
    who: &Principal,
    customer_id: i64,
    points: i64,
    reason: &str,
    external_id: &str,
    now: i64,
    allow_negative: bool,
) -> AppResult<StatementEntry> {
    let amount = Points::posting(points.abs())?.0;
    let account = ledger::customer_account(tx, customer_id)?.ok_or(AppError::UnknownCustomer)?;
    let issuance = ledger::system_account(tx, ledger::ISSUANCE_ACCOUNT)?;
    if points < 0 {
        // Only the caller's explicit allowance lets a correction go below zero: an account a
        // return took below zero (the `negative_balance` shortfall policy) has
        // `allow_negative` set, but that is the return's licence, not the correction's. The
        // balance is read under the account's row lock, so the check holds until commit.
        let balance = ledger::add_to_balance(tx, account.id, 0)?;
        debit_balance(balance, amount, allow_negative).map_err(AppError::InsufficientPoints)?;
        if allow_negative && !account.allow_negative && balance < amount {
            ledger::allow_negative(tx, account.id)?;
        }
    }
    let body = serde_json::json!({ "points": points, "reason": reason }).to_string();
    let event_id = store::events::insert(
        tx,
        &NewEvent {
            source: "patron",
            external_id,
            kind: EventKind::PointsCorrected,
            customer_id: Some(customer_id),
            order_event_id: None,
            occurred_at_micros: now,
            recorded_at_micros: now,
            currency: None,
            amount_minor: None,
            content_hash: &[],
            body: &body,
        },
    )?
    .context("fresh correction id collided")?;
    let (debit, credit) = if points > 0 {
        (issuance, account.id)
    } else {
        (account.id, issuance)
    };
    let transfer = NewTransfer {
        event_id,
        seq: 0,
        debit_account_id: debit,
        credit_account_id: credit,
        amount,
        kind: TransferKind::Correction,
        created_at_micros: now,
        remaining: (points > 0).then_some(amount),
        pending_until_micros: None,
        expires_at_micros: None,
        lot: None,
        reason: Some(reason),
        lot_state: None,
        lines: Vec::new(),
        revenue: None,
    };
    ledger::insert_transfer(tx, &transfer)?;
    ledger::add_to_balance(tx, account.id, points)?;
    if points < 0 {
        let uncovered = consume_lots(tx, account.id, (event_id, 0), amount)?;
        if uncovered > 0 {
            // Allowed below zero: the depth is a `negative` debt, settled by the next points.
            ledger::insert_debt(tx, event_id, account.id, true, uncovered, now)?;
        }
    } else {
        settle_debts(tx, account.id, &[((event_id, 0), amount)], now)?;
    }
    store::audit::insert(
        tx,
        now,
        &who.actor,
        "points.correct",
        Some(&format!("customer:{customer_id}")),
        Some(&format!("points={points}")),
    )?;
    let row = ledger::of_event(tx, event_id)?
        .pop()
        .context("correction just written")?;
    let mut entries = [entry(account.id, row)];
    with_consumptions(tx, &mut entries)?;
    let [entry] = entries;
    Ok(entry)
}

//! Reading a customer's points (balance, statement) and correcting them with compensating
//! transfers that always carry a reason.

use crate::{App, AppError, AppResult, Principal};
use anyhow::Context;
use domain::ledger::{Points, TransferKind, debit_balance};
use domain::limits::REASON_CHARS_MAX;
use domain::{EventKind, FieldError};
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
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub entries: Vec<StatementEntry>,
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
    }
}

/// Debits `amount` from `account` for transfer `transfer`, consuming open lots soonest-expiry
/// first and recording which lots gave how much. Whatever the lots cannot cover is a debt
/// (only reachable when negative balances are allowed).
pub(crate) fn consume_lots(
    tx: &mut Tx<'_>,
    account: i64,
    transfer: (i64, i64),
    amount: i64,
) -> anyhow::Result<()> {
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
    Ok(())
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
            let entries: Vec<_> = rows
                .into_iter()
                .take(limit as usize)
                .map(|t| entry(a.id, t))
                .collect();
            let next = if more {
                entries.last().map(|e| (e.event_id, e.seq))
            } else {
                None
            };
            Ok(Statement { entries, next })
        })
    }

    /// Posts a correction: `points` > 0 credits the customer (a new lot), < 0 debits them.
    /// Never changes a past transfer; refuses a debit below zero unless debt is allowed.
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
        debit_balance(
            account.balance,
            amount,
            allow_negative || account.allow_negative,
        )
        .map_err(AppError::InsufficientPoints)?;
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
    };
    ledger::insert_transfer(tx, &transfer)?;
    if points < 0 {
        consume_lots(tx, account.id, (event_id, 0), amount)?;
    }
    ledger::add_to_balance(tx, account.id, points)?;
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
    Ok(entry(account.id, row))
}

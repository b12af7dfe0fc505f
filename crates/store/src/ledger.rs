//! Accounts and transfers. Balances are materialised on the account row and changed in the
//! same transaction as the transfer; the database refuses a negative balance where it is not
//! allowed, a transfer to the same account, and a non-positive amount.
//!
//! An account has two materialised figures: `balance`, the **spendable** points (Σ remaining
//! of its active lots, less any debt), and `pending`, Σ remaining of its lots still in their
//! return window. A pending lot's earn transfer is credited at once, so credits − debits =
//! balance + pending; activation moves a lot's remaining from `pending` to `balance`.

use crate::sql::{Row, Tx};
use crate::{args, instant};
use anyhow::{Result, anyhow};
use domain::ledger::TransferKind;

/// The system account points are issued from and returned to.
pub const ISSUANCE_ACCOUNT: &str = "points_issuance";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountRow {
    pub id: i64,
    pub balance: i64,
    pub allow_negative: bool,
    /// Points in lots still in their return window (not spendable).
    pub pending: i64,
    /// Points a return left owed under the `debt` shortfall policy, not yet settled.
    pub debt: i64,
}

/// The id of a system account, created on first use (negative balance allowed). The id never
/// changes once committed, so each connection remembers it after the first commit.
pub fn system_account(tx: &mut Tx<'_>, code: &str) -> Result<i64> {
    if let Some(id) = tx.system_account_id(code) {
        return Ok(id);
    }
    let id = match tx.query_opt("SELECT id FROM accounts WHERE code = $1", args![code])? {
        Some(r) => r.int(0)?,
        None => {
            tx.execute(
                "INSERT INTO accounts (code, allow_negative) VALUES ($1, 1) ON CONFLICT DO NOTHING",
                args![code],
            )?;
            tx.query_one("SELECT id FROM accounts WHERE code = $1", args![code])?
                .int(0)?
        }
    };
    tx.learn_system_account_id(code, id);
    Ok(id)
}

pub fn customer_account(tx: &mut Tx<'_>, customer_id: i64) -> Result<Option<AccountRow>> {
    tx.query_opt(
        "SELECT id, balance, allow_negative, pending, debt FROM accounts WHERE customer_id = $1",
        args![customer_id],
    )?
    .map(|r| {
        Ok(AccountRow {
            id: r.int(0)?,
            balance: r.int(1)?,
            allow_negative: r.int(2)? != 0,
            pending: r.int(3)?,
            debt: r.int(4)?,
        })
    })
    .transpose()
}

/// The customer an account belongs to (`None` for a system account).
pub fn account_customer(tx: &mut Tx<'_>, account_id: i64) -> Result<Option<i64>> {
    tx.query_one(
        "SELECT customer_id FROM accounts WHERE id = $1",
        args![account_id],
    )?
    .opt_int(0)
}

/// Lets an account's balance go below zero (the `negative_balance` shortfall policy, or a
/// correction allowed below zero); the database refuses a negative balance otherwise.
pub fn allow_negative(tx: &mut Tx<'_>, account_id: i64) -> Result<()> {
    tx.execute(
        "UPDATE accounts SET allow_negative = 1 WHERE id = $1",
        args![account_id],
    )?;
    Ok(())
}

/// Adds `delta` to an account's balance and returns the new balance. Takes the row lock on
/// PostgreSQL, so concurrent debits of one account serialise here.
pub fn add_to_balance(tx: &mut Tx<'_>, account_id: i64, delta: i64) -> Result<i64> {
    tx.query_one(
        "UPDATE accounts SET balance = balance + $2 WHERE id = $1 RETURNING balance",
        args![account_id, delta],
    )?
    .int(0)
}

#[derive(Debug, Clone)]
pub struct NewTransfer<'a> {
    pub event_id: i64,
    pub seq: i64,
    pub debit_account_id: i64,
    pub credit_account_id: i64,
    pub amount: i64,
    pub kind: TransferKind,
    pub created_at_micros: i64,
    /// For an earn (a lot): what is left of it; `None` for other kinds.
    pub remaining: Option<i64>,
    pub pending_until_micros: Option<i64>,
    pub expires_at_micros: Option<i64>,
    /// For a reversal or correction: the lot it takes from.
    pub lot: Option<(i64, i64)>,
    pub reason: Option<&'a str>,
    /// For a lot: `Some(LOT_PENDING)` while in its return window; `None` means active.
    pub lot_state: Option<&'static str>,
    /// For a purchase lot: what each order line earned into it, and under which rule versions
    /// (empty otherwise). Stored on the lot's own row: an order's earn writes one row.
    pub lines: Vec<crate::loyalty::LotLine>,
    /// For a purchase lot: the revenue it took of its order's price (IFRS 15); `None` for
    /// everything else, free points included.
    pub revenue: Option<crate::accounting::LotRevenue>,
}

/// `transfers.lot_state` of a lot in its return window.
pub const LOT_PENDING: &str = "pending";
/// `transfers.lot_state` of an active lot (a NULL state means active too).
pub const LOT_ACTIVE: &str = "active";
/// `transfers.lot_state` of a lot the expiry job expired.
pub const LOT_EXPIRED: &str = "expired";

pub fn insert_transfer(tx: &mut Tx<'_>, t: &NewTransfer<'_>) -> Result<()> {
    insert_transfers(tx, std::slice::from_ref(t))
}

/// Records that transfer (event_id, seq) consumed `amount` of a lot, and reduces the lot.
pub fn consume_lot(
    tx: &mut Tx<'_>,
    transfer: (i64, i64),
    lot: (i64, i64),
    amount: i64,
) -> Result<()> {
    let changed = tx.execute(
        "UPDATE transfers SET remaining = remaining - $3
         WHERE event_id = $1 AND seq = $2 AND remaining IS NOT NULL AND remaining >= $3",
        args![lot.0, lot.1, amount],
    )?;
    anyhow::ensure!(changed == 1, "lot {lot:?} cannot give {amount} points");
    tx.execute(
        "INSERT INTO lot_consumptions (event_id, seq, lot_event_id, lot_seq, amount)
         VALUES ($1, $2, $3, $4, $5)",
        args![transfer.0, transfer.1, lot.0, lot.1, amount],
    )?;
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRow {
    pub event_id: i64,
    pub seq: i64,
    pub debit_account_id: i64,
    pub credit_account_id: i64,
    pub amount: i64,
    pub kind: TransferKind,
    pub created_at: jiff::Timestamp,
    pub remaining: Option<i64>,
    pub pending_until: Option<jiff::Timestamp>,
    pub expires_at: Option<jiff::Timestamp>,
    pub lot: Option<(i64, i64)>,
    pub reason: Option<String>,
    /// For a lot: `pending`, `active` or `expired` (see [`LOT_PENDING`]).
    pub lot_state: Option<String>,
}

pub(crate) const COLUMNS: &str = "event_id, seq, debit_account_id, credit_account_id, amount, kind, created_at, \
                       remaining, pending_until, expires_at, lot_event_id, lot_seq, reason, \
                       CASE WHEN remaining IS NULL THEN NULL ELSE COALESCE(lot_state, 'active') END";

pub(crate) fn from_row(r: &Row) -> Result<TransferRow> {
    let lot = match (r.opt_int(10)?, r.opt_int(11)?) {
        (Some(e), Some(s)) => Some((e, s)),
        _ => None,
    };
    Ok(TransferRow {
        event_id: r.int(0)?,
        seq: r.int(1)?,
        debit_account_id: r.int(2)?,
        credit_account_id: r.int(3)?,
        amount: r.int(4)?,
        kind: TransferKind::parse(r.text(5)?).ok_or_else(|| anyhow!("unknown transfer kind"))?,
        created_at: instant(r.int(6)?)?,
        remaining: r.opt_int(7)?,
        pending_until: r.opt_int(8)?.map(instant).transpose()?,
        expires_at: r.opt_int(9)?.map(instant).transpose()?,
        lot,
        reason: r.opt_text(12)?.map(str::to_owned),
        lot_state: r.opt_text(13)?.map(str::to_owned),
    })
}

/// Transfers caused by one event, in sequence order.
pub fn of_event(tx: &mut Tx<'_>, event_id: i64) -> Result<Vec<TransferRow>> {
    tx.query(
        &format!("SELECT {COLUMNS} FROM transfers WHERE event_id = $1 ORDER BY seq"),
        args![event_id],
    )?
    .iter()
    .map(from_row)
    .collect()
}

/// Transfers touching a customer account after the cursor (event_id, seq), oldest first.
/// (Earns are debited to the issuance account only, which lets the debit index skip them.)
pub fn statement(
    tx: &mut Tx<'_>,
    account_id: i64,
    after: (i64, i64),
    limit: i64,
) -> Result<Vec<TransferRow>> {
    tx.query(
        &format!(
            "SELECT {COLUMNS} FROM transfers
             WHERE (credit_account_id = $1 OR (debit_account_id = $1 AND kind <> 'earn'))
               AND (event_id > $2 OR (event_id = $2 AND seq > $3))
             ORDER BY event_id, seq LIMIT $4"
        ),
        args![account_id, after.0, after.1, limit],
    )?
    .iter()
    .map(from_row)
    .collect()
}

/// Ledger-wide figures for invariant checks, each zero on a healthy ledger.
///
/// Customer balances are materialised on the account row; system accounts (issuance) are not,
/// so that every order does not contend for one hot row: their balance is derived from transfers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerCheck {
    /// Σ materialised customer balances + Σ derived system balances: zero when every
    /// transfer's debit equals its credit.
    pub sum_of_balances: i64,
    /// Customer accounts whose balance + pending differs from credits − debits.
    pub accounts_off: i64,
    /// Customer accounts whose balance + the unsettled depth of their `negative` debts differs
    /// from Σ remaining of their active lots, or whose pending differs from Σ remaining of
    /// their pending lots.
    pub lots_off: i64,
    /// Lots whose remaining + consumed differs from their amount.
    pub lots_over_consumed: i64,
    /// Customer accounts whose materialised `debt` differs from Σ unsettled `debt` rows, or
    /// that owe points (either kind) while an active lot still has points: settlement comes
    /// first, so points never sit beside a debt.
    pub debts_off: i64,
}

pub fn check(tx: &mut Tx<'_>) -> Result<LedgerCheck> {
    // Each table is read once, grouped per account, so the check is linear in the ledger (a
    // correlated sum per account over the debits, which no index serves, made it accounts ×
    // transfers). System balances are derived from the transfers, customers' read as stored.
    let postings = tx.query_one(
        "WITH flows (account_id, amount) AS (
             SELECT credit_account_id, SUM(amount) FROM transfers GROUP BY credit_account_id
             UNION ALL
             SELECT debit_account_id, -SUM(amount) FROM transfers GROUP BY debit_account_id),
           net (account_id, amount) AS (
             SELECT account_id, SUM(amount) FROM flows GROUP BY account_id)
         SELECT CAST(COALESCE(SUM(CASE WHEN a.code IS NULL THEN a.balance + a.pending
                                       ELSE COALESCE(n.amount, 0) END), 0) AS BIGINT),
                COUNT(CASE WHEN a.code IS NULL AND a.balance + a.pending <> COALESCE(n.amount, 0)
                           THEN 1 END)
         FROM accounts a LEFT JOIN net n ON n.account_id = a.id",
        &[],
    )?;
    let accounts = tx.query_one(
        "WITH owed (account_id, debt, negative, open) AS (
             SELECT account_id,
                    SUM(CASE WHEN kind = 'debt' THEN amount - settled ELSE 0 END),
                    SUM(CASE WHEN kind = 'negative' THEN amount - settled ELSE 0 END),
                    SUM(CASE WHEN settled < amount THEN 1 ELSE 0 END)
             FROM points_debts GROUP BY account_id),
           lots (account_id, active, pending, live) AS (
             SELECT credit_account_id,
                    SUM(CASE WHEN lot_state IS NULL OR lot_state <> 'pending' THEN remaining ELSE 0 END),
                    SUM(CASE WHEN lot_state = 'pending' THEN remaining ELSE 0 END),
                    SUM(CASE WHEN remaining > 0 AND (lot_state IS NULL OR lot_state = 'active')
                             THEN 1 ELSE 0 END)
             FROM transfers WHERE remaining IS NOT NULL GROUP BY credit_account_id)
         SELECT COUNT(CASE WHEN a.balance + COALESCE(o.negative, 0) <> COALESCE(l.active, 0)
                             OR a.pending <> COALESCE(l.pending, 0) THEN 1 END),
                COUNT(CASE WHEN a.debt <> COALESCE(o.debt, 0)
                             OR (COALESCE(o.open, 0) > 0 AND COALESCE(l.live, 0) > 0) THEN 1 END)
         FROM accounts a
         LEFT JOIN owed o ON o.account_id = a.id
         LEFT JOIN lots l ON l.account_id = a.id
         WHERE a.code IS NULL",
        &[],
    )?;
    let lots_over_consumed = tx
        .query_one(
            "SELECT COUNT(*) FROM transfers t
             WHERE t.remaining IS NOT NULL AND t.remaining + COALESCE(
                 (SELECT SUM(c.amount) FROM lot_consumptions c
                  WHERE c.lot_event_id = t.event_id AND c.lot_seq = t.seq), 0) <> t.amount",
            &[],
        )?
        .int(0)?;
    Ok(LedgerCheck {
        sum_of_balances: postings.int(0)?,
        accounts_off: postings.int(1)?,
        lots_off: accounts.int(0)?,
        lots_over_consumed,
        debts_off: accounts.int(1)?,
    })
}

impl LedgerCheck {
    pub fn is_healthy(&self) -> bool {
        *self
            == LedgerCheck {
                sum_of_balances: 0,
                accounts_off: 0,
                lots_off: 0,
                lots_over_consumed: 0,
                debts_off: 0,
            }
    }
}

/// One debt a debit left: points no lot could give (see `points_debts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DebtRow {
    /// The debit's event (a return or a correction).
    pub event_id: i64,
    pub account_id: i64,
    /// `true` for a `negative` debt (posted; the balance went below zero by it), `false` for
    /// a `debt` (owed, not posted).
    pub negative: bool,
    /// What is still owed.
    pub open: i64,
}

/// `points_debts.kind` of a debt owed and not posted.
pub const DEBT_OWED: &str = "debt";
/// `points_debts.kind` of a shortfall posted as a negative balance.
pub const DEBT_NEGATIVE: &str = "negative";

/// Records that event `event_id`'s debit left `amount` points no lot could give; a `debt`
/// also adds to the account's materialised `debt`.
pub fn insert_debt(
    tx: &mut Tx<'_>,
    event_id: i64,
    account_id: i64,
    negative: bool,
    amount: i64,
    now_micros: i64,
) -> Result<()> {
    assert!(amount > 0, "a debt must be positive");
    let kind = if negative { DEBT_NEGATIVE } else { DEBT_OWED };
    tx.execute(
        "INSERT INTO points_debts (event_id, account_id, kind, amount, created_at)
         VALUES ($1, $2, $3, $4, $5)",
        args![event_id, account_id, kind, amount, now_micros],
    )?;
    if !negative {
        tx.execute(
            "UPDATE accounts SET debt = debt + $2 WHERE id = $1",
            args![account_id, amount],
        )?;
    }
    Ok(())
}

/// The event's debt, if its debit left one.
pub fn debt_of_event(tx: &mut Tx<'_>, event_id: i64) -> Result<Option<(bool, i64)>> {
    tx.query_opt(
        "SELECT kind, amount FROM points_debts WHERE event_id = $1",
        args![event_id],
    )?
    .map(|r| Ok((r.text(0)? == DEBT_NEGATIVE, r.int(1)?)))
    .transpose()
}

/// Unsettled debts of an account, oldest first.
pub fn open_debts(tx: &mut Tx<'_>, account_id: i64) -> Result<Vec<DebtRow>> {
    tx.query(
        "SELECT event_id, kind, amount - settled FROM points_debts
         WHERE account_id = $1 AND settled < amount ORDER BY event_id",
        args![account_id],
    )?
    .iter()
    .map(|r| {
        Ok(DebtRow {
            event_id: r.int(0)?,
            account_id,
            negative: r.text(1)? == DEBT_NEGATIVE,
            open: r.int(2)?,
        })
    })
    .collect()
}

/// Of `account_ids`, those with an unsettled debt of either kind, in ascending order (one
/// probe of the partial index of open debts per 512 accounts).
pub fn accounts_owing(tx: &mut Tx<'_>, account_ids: &[i64]) -> Result<Vec<i64>> {
    // Only the accounts asked about, through the partial index of open debts: a batch of
    // orders must not read every open debt of the programme.
    let mut owing = Vec::new();
    for chunk in crate::events::statement_chunks(account_ids, 512) {
        let list = crate::events::param_list(chunk.len(), 1);
        let sql = format!(
            "SELECT DISTINCT account_id FROM points_debts
             WHERE settled < amount AND account_id IN ({list})"
        );
        let params: Vec<crate::sql::Arg<'_>> =
            chunk.iter().map(|&a| crate::sql::Arg::Int(a)).collect();
        for r in tx.query(&sql, &params)? {
            owing.push(r.int(0)?);
        }
    }
    owing.sort_unstable();
    Ok(owing)
}

/// Marks `amount` of event `event_id`'s debt settled; a `debt` also leaves the account's
/// materialised `debt`.
pub fn settle_debt(tx: &mut Tx<'_>, debt: &DebtRow, amount: i64) -> Result<()> {
    let changed = tx.execute(
        "UPDATE points_debts SET settled = settled + $2
         WHERE event_id = $1 AND settled + $2 <= amount",
        args![debt.event_id, amount],
    )?;
    anyhow::ensure!(changed == 1, "debt {} cannot take {amount}", debt.event_id);
    if !debt.negative {
        tx.execute(
            "UPDATE accounts SET debt = debt - $2 WHERE id = $1",
            args![debt.account_id, amount],
        )?;
    }
    Ok(())
}

/// Active lots credited to `account_id` with points left, soonest expiry first
/// (never-expiring last), then oldest first: the order a debit consumes them in.
pub fn open_lots(tx: &mut Tx<'_>, account_id: i64) -> Result<Vec<TransferRow>> {
    tx.query(
        &format!(
            "SELECT {COLUMNS} FROM transfers
             WHERE credit_account_id = $1 AND remaining > 0
               AND (lot_state IS NULL OR lot_state = 'active')
             ORDER BY expires_at IS NULL, expires_at, event_id, seq"
        ),
        args![account_id],
    )?
    .iter()
    .map(from_row)
    .collect()
}

/// Points accounts of the given customers: `(customer_id, account_id)`.
pub fn customer_accounts(tx: &mut Tx<'_>, customer_ids: &[i64]) -> Result<Vec<(i64, i64)>> {
    let mut out = Vec::with_capacity(customer_ids.len());
    for chunk in crate::events::statement_chunks(customer_ids, 512) {
        let list = crate::events::param_list(chunk.len(), 1);
        let sql = format!("SELECT customer_id, id FROM accounts WHERE customer_id IN ({list})");
        let params: Vec<crate::sql::Arg<'_>> =
            chunk.iter().map(|&c| crate::sql::Arg::Int(c)).collect();
        for r in tx.query(&sql, &params)? {
            out.push((r.int(0)?, r.int(1)?));
        }
    }
    Ok(out)
}

/// Points a debit took from one lot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Consumption {
    pub transfer: (i64, i64),
    pub lot: (i64, i64),
    pub amount: i64,
}

/// What each of `transfers` consumed, and of which lots, by transfer, then lot.
pub fn consumptions_of(tx: &mut Tx<'_>, transfers: &[(i64, i64)]) -> Result<Vec<Consumption>> {
    let wanted: std::collections::HashSet<(i64, i64)> = transfers.iter().copied().collect();
    let mut events: Vec<i64> = transfers.iter().map(|t| t.0).collect();
    events.sort_unstable();
    events.dedup();
    let mut out = Vec::new();
    for chunk in crate::events::statement_chunks(&events, 512) {
        let list = crate::events::param_list(chunk.len(), 1);
        let sql = format!(
            "SELECT event_id, seq, lot_event_id, lot_seq, amount FROM lot_consumptions
             WHERE event_id IN ({list}) ORDER BY event_id, seq, lot_event_id, lot_seq"
        );
        let params: Vec<crate::sql::Arg<'_>> =
            chunk.iter().map(|&e| crate::sql::Arg::Int(e)).collect();
        for r in tx.query(&sql, &params)? {
            let transfer = (r.int(0)?, r.int(1)?);
            if wanted.contains(&transfer) {
                out.push(Consumption {
                    transfer,
                    lot: (r.int(2)?, r.int(3)?),
                    amount: r.int(4)?,
                });
            }
        }
    }
    Ok(out)
}

/// Inserts transfers with multi-row statements.
pub fn insert_transfers(tx: &mut Tx<'_>, transfers: &[NewTransfer<'_>]) -> Result<()> {
    const PARAMS_PER_ROW: usize = 20;
    for chunk in crate::events::statement_chunks(transfers, crate::events::BATCH_STATEMENT_ROWS) {
        let sql = format!(
            "INSERT INTO transfers (event_id, seq, debit_account_id, credit_account_id, amount, kind,
                                    created_at, remaining, pending_until, expires_at, lot_event_id,
                                    lot_seq, reason, lot_state, lines, cohort, price_minor,
                                    points_ssp_minor, allocated_minor, rate_ppm)
             VALUES {}",
            crate::events::placeholders(chunk.len(), PARAMS_PER_ROW, 1)
        );
        let lines: Vec<Option<String>> = chunk
            .iter()
            .map(|t| crate::loyalty::lines_text(&t.lines))
            .collect();
        let mut params = Vec::with_capacity(chunk.len() * PARAMS_PER_ROW);
        for (t, lines) in chunk.iter().zip(&lines) {
            assert!(t.amount > 0, "transfer amount must be positive");
            assert_ne!(
                t.debit_account_id, t.credit_account_id,
                "transfer to the same account"
            );
            let r = t.revenue.as_ref();
            params.extend_from_slice(args![
                t.event_id,
                t.seq,
                t.debit_account_id,
                t.credit_account_id,
                t.amount,
                t.kind.as_str(),
                t.created_at_micros,
                t.remaining,
                t.pending_until_micros,
                t.expires_at_micros,
                t.lot.map(|l| l.0),
                t.lot.map(|l| l.1),
                t.reason,
                t.lot_state,
                lines.as_deref(),
                r.map(|r| r.cohort.as_str()),
                r.map(|r| r.price_minor),
                r.map(|r| r.points_ssp_minor),
                r.map(|r| r.allocated_minor),
                r.map(|r| r.rate_ppm)
            ]);
        }
        tx.execute(&sql, &params)?;
    }
    Ok(())
}

/// Adds each `(account_id, delta)` to its account's balance in one statement per chunk and
/// returns the new balances. Sorted by account id, so concurrent writers lock in one order.
pub fn add_to_balances(tx: &mut Tx<'_>, deltas: &[(i64, i64)]) -> Result<Vec<(i64, i64)>> {
    let mut sorted = deltas.to_vec();
    sorted.sort_unstable();
    let mut out = Vec::with_capacity(sorted.len());
    for chunk in crate::events::statement_chunks(&sorted, crate::events::BATCH_STATEMENT_ROWS) {
        let mut cases = String::new();
        let mut ids = Vec::with_capacity(chunk.len());
        let mut params = Vec::with_capacity(chunk.len() * 2);
        for (i, (account, delta)) in chunk.iter().enumerate() {
            cases.push_str(&format!(
                " WHEN ${} THEN CAST(${} AS BIGINT)",
                2 * i + 1,
                2 * i + 2
            ));
            ids.push(format!("${}", 2 * i + 1));
            params.push(crate::sql::Arg::Int(*account));
            params.push(crate::sql::Arg::Int(*delta));
        }
        let sql = format!(
            "UPDATE accounts SET balance = balance + CASE id{cases} END WHERE id IN ({}) RETURNING id, balance",
            ids.join(", ")
        );
        for r in tx.query(&sql, &params)? {
            out.push((r.int(0)?, r.int(1)?));
        }
    }
    anyhow::ensure!(
        out.len() == sorted.len(),
        "an account to update does not exist"
    );
    Ok(out)
}

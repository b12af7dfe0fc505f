//! The rewards catalogue, voucher code pools and reward redemptions. Stock is taken by one
//! conditional update (`redeemed < stock`), which also takes the reward's row lock, so
//! concurrent redemptions of one reward serialise there and never oversell; the voucher code a
//! redemption issues is picked under that lock.

use crate::sql::{Arg, Row, Tx};
use crate::{args, instant};
use anyhow::Result;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewardRow {
    pub id: i64,
    pub name: String,
    pub points_price: i64,
    pub stock: Option<i64>,
    /// Live (not cancelled) redemptions.
    pub redeemed: i64,
    pub per_member_limit: Option<i64>,
    pub valid_from: Option<jiff::Timestamp>,
    pub valid_until: Option<jiff::Timestamp>,
    pub issues_voucher: bool,
    /// Voucher codes still available in the pool.
    pub codes_available: i64,
    pub created_at: jiff::Timestamp,
}

const REWARD_COLUMNS: &str = "id, name, points_price, stock, redeemed, per_member_limit, valid_from, \
     valid_until, issues_voucher, created_at, \
     (SELECT COUNT(*) FROM voucher_codes v WHERE v.reward_id = rewards.id AND v.state = 'available')";

fn reward_from(r: &Row) -> Result<RewardRow> {
    Ok(RewardRow {
        id: r.int(0)?,
        name: r.text(1)?.to_owned(),
        points_price: r.int(2)?,
        stock: r.opt_int(3)?,
        redeemed: r.int(4)?,
        per_member_limit: r.opt_int(5)?,
        valid_from: r.opt_int(6)?.map(instant).transpose()?,
        valid_until: r.opt_int(7)?.map(instant).transpose()?,
        issues_voucher: r.int(8)? != 0,
        created_at: instant(r.int(9)?)?,
        codes_available: r.int(10)?,
    })
}

/// What a new reward is stored with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReward<'a> {
    pub name: &'a str,
    pub points_price: i64,
    pub stock: Option<i64>,
    pub per_member_limit: Option<i64>,
    pub valid_from_micros: Option<i64>,
    pub valid_until_micros: Option<i64>,
    pub issues_voucher: bool,
    pub created_at_micros: i64,
}

pub fn insert_reward(tx: &mut Tx<'_>, r: &NewReward<'_>) -> Result<i64> {
    tx.query_one(
        "INSERT INTO rewards (name, points_price, stock, per_member_limit, valid_from, valid_until,
                              issues_voucher, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        args![
            r.name,
            r.points_price,
            r.stock,
            r.per_member_limit,
            r.valid_from_micros,
            r.valid_until_micros,
            i64::from(r.issues_voucher),
            r.created_at_micros
        ],
    )?
    .int(0)
}

pub fn reward(tx: &mut Tx<'_>, id: i64) -> Result<Option<RewardRow>> {
    tx.query_opt(
        &format!("SELECT {REWARD_COLUMNS} FROM rewards WHERE id = $1"),
        args![id],
    )?
    .map(|r| reward_from(&r))
    .transpose()
}

/// The catalogue, oldest first.
pub fn list_rewards(tx: &mut Tx<'_>, limit: i64) -> Result<Vec<RewardRow>> {
    tx.query(
        &format!("SELECT {REWARD_COLUMNS} FROM rewards ORDER BY id LIMIT $1"),
        args![limit],
    )?
    .iter()
    .map(reward_from)
    .collect()
}

/// Takes one unit of stock; false when none is left. Takes the reward's row lock.
pub fn take_stock(tx: &mut Tx<'_>, reward_id: i64) -> Result<bool> {
    Ok(tx.execute(
        "UPDATE rewards SET redeemed = redeemed + 1
         WHERE id = $1 AND (stock IS NULL OR redeemed < stock)",
        args![reward_id],
    )? == 1)
}

/// Gives one unit of stock back (a cancelled redemption).
pub fn return_stock(tx: &mut Tx<'_>, reward_id: i64) -> Result<()> {
    let changed = tx.execute(
        "UPDATE rewards SET redeemed = redeemed - 1 WHERE id = $1 AND redeemed > 0",
        args![reward_id],
    )?;
    anyhow::ensure!(
        changed == 1,
        "reward {reward_id} has no redemption to give back"
    );
    Ok(())
}

/// The codes among `codes` already in some pool.
pub fn existing_codes(tx: &mut Tx<'_>, codes: &[&str]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for chunk in codes.chunks(512) {
        let list = (1..=chunk.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let params: Vec<Arg<'_>> = chunk.iter().map(|c| Arg::Text(c)).collect();
        for r in tx.query(
            &format!("SELECT code FROM voucher_codes WHERE code IN ({list}) ORDER BY code"),
            &params,
        )? {
            out.push(r.text(0)?.to_owned());
        }
    }
    Ok(out)
}

/// Adds available codes to a reward's pool, skipping any code that exists already (in any
/// pool, perhaps inserted by a concurrent transaction); returns the codes it added.
pub fn insert_codes(
    tx: &mut Tx<'_>,
    reward_id: i64,
    codes: &[&str],
    now_micros: i64,
) -> Result<Vec<String>> {
    let mut added = Vec::with_capacity(codes.len());
    for chunk in codes.chunks(crate::events::BATCH_STATEMENT_ROWS) {
        let mut values = Vec::with_capacity(chunk.len());
        let mut params: Vec<Arg<'_>> = Vec::with_capacity(chunk.len() * 3);
        for (i, code) in chunk.iter().enumerate() {
            values.push(format!(
                "(${}, ${}, 'available', ${})",
                3 * i + 1,
                3 * i + 2,
                3 * i + 3
            ));
            params.extend_from_slice(args![reward_id, *code, now_micros]);
        }
        for r in tx.query(
            &format!(
                "INSERT INTO voucher_codes (reward_id, code, state, created_at) VALUES {}
                 ON CONFLICT (code) DO NOTHING RETURNING code",
                values.join(", ")
            ),
            &params,
        )? {
            added.push(r.text(0)?.to_owned());
        }
    }
    Ok(added)
}

/// Issues the reward's oldest available code to a redemption; `None` when the pool is empty.
/// Called under the reward's row lock (after [`take_stock`]).
pub fn issue_code(
    tx: &mut Tx<'_>,
    reward_id: i64,
    redemption_id: i64,
) -> Result<Option<(i64, String)>> {
    let Some(r) = tx.query_opt(
        "SELECT id, code FROM voucher_codes WHERE reward_id = $1 AND state = 'available'
         ORDER BY id LIMIT 1",
        args![reward_id],
    )?
    else {
        return Ok(None);
    };
    let (id, code) = (r.int(0)?, r.text(1)?.to_owned());
    let changed = tx.execute(
        "UPDATE voucher_codes SET state = 'issued', redemption_id = $2
         WHERE id = $1 AND state = 'available'",
        args![id, redemption_id],
    )?;
    anyhow::ensure!(
        changed == 1,
        "voucher code {id} was issued under the reward's lock"
    );
    Ok(Some((id, code)))
}

/// Voids an issued code (its redemption was cancelled).
pub fn void_code(tx: &mut Tx<'_>, code_id: i64) -> Result<()> {
    let changed = tx.execute(
        "UPDATE voucher_codes SET state = 'void' WHERE id = $1 AND state = 'issued'",
        args![code_id],
    )?;
    anyhow::ensure!(changed == 1, "voucher code {code_id} was not issued");
    Ok(())
}

/// The state of a code (`available`, `issued`, `void`).
pub fn code_state(tx: &mut Tx<'_>, code: &str) -> Result<Option<String>> {
    tx.query_opt(
        "SELECT state FROM voucher_codes WHERE code = $1",
        args![code],
    )?
    .map(|r| Ok(r.text(0)?.to_owned()))
    .transpose()
}

/// Live redemptions of a reward by one customer.
pub fn member_redemptions(tx: &mut Tx<'_>, customer_id: i64, reward_id: i64) -> Result<i64> {
    tx.query_one(
        "SELECT COUNT(*) FROM reward_redemptions
         WHERE customer_id = $1 AND reward_id = $2 AND state = 'committed'",
        args![customer_id, reward_id],
    )?
    .int(0)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedemptionRow {
    pub id: i64,
    pub reward_id: i64,
    pub customer_id: i64,
    pub hold_id: i64,
    /// The `points_redeemed` event.
    pub event_id: i64,
    pub points: i64,
    pub voucher_code_id: Option<i64>,
    pub voucher_code: Option<String>,
    /// `committed` or `cancelled`.
    pub state: String,
    pub created_at: jiff::Timestamp,
}

#[allow(clippy::too_many_arguments)]
pub fn insert_redemption(
    tx: &mut Tx<'_>,
    reward_id: i64,
    customer_id: i64,
    hold_id: i64,
    event_id: i64,
    points: i64,
    now_micros: i64,
) -> Result<i64> {
    tx.query_one(
        "INSERT INTO reward_redemptions (reward_id, customer_id, hold_id, event_id, points, state,
                                         created_at)
         VALUES ($1, $2, $3, $4, $5, 'committed', $6) RETURNING id",
        args![
            reward_id,
            customer_id,
            hold_id,
            event_id,
            points,
            now_micros
        ],
    )?
    .int(0)
}

pub fn set_redemption_code(tx: &mut Tx<'_>, id: i64, code_id: i64) -> Result<()> {
    tx.execute(
        "UPDATE reward_redemptions SET voucher_code_id = $2 WHERE id = $1",
        args![id, code_id],
    )?;
    Ok(())
}

/// The reward redemption whose points were spent by event `event_id`.
pub fn redemption_by_event(tx: &mut Tx<'_>, event_id: i64) -> Result<Option<RedemptionRow>> {
    tx.query_opt(
        "SELECT r.id, r.reward_id, r.customer_id, r.hold_id, r.event_id, r.points,
                r.voucher_code_id, v.code, r.state, r.created_at
         FROM reward_redemptions r LEFT JOIN voucher_codes v ON v.id = r.voucher_code_id
         WHERE r.event_id = $1",
        args![event_id],
    )?
    .map(|r| {
        Ok(RedemptionRow {
            id: r.int(0)?,
            reward_id: r.int(1)?,
            customer_id: r.int(2)?,
            hold_id: r.int(3)?,
            event_id: r.int(4)?,
            points: r.int(5)?,
            voucher_code_id: r.opt_int(6)?,
            voucher_code: r.opt_text(7)?.map(str::to_owned),
            state: r.text(8)?.to_owned(),
            created_at: instant(r.int(9)?)?,
        })
    })
    .transpose()
}

/// Marks a committed reward redemption cancelled; false when it already was.
pub fn cancel_redemption(tx: &mut Tx<'_>, id: i64) -> Result<bool> {
    Ok(tx.execute(
        "UPDATE reward_redemptions SET state = 'cancelled' WHERE id = $1 AND state = 'committed'",
        args![id],
    )? == 1)
}

//! Redemptions after the fact and the rewards catalogue: cancelling a committed redemption
//! (its points come back with compensating `restore` transfers, never by editing the ledger),
//! rewards with a points price, stock, per-member limit and validity window, voucher code
//! pools (imported or generated from the app's entropy), and redeeming a reward through the
//! hold → commit path in one transaction.
//!
//! **Cancelled redemptions.** Every lot the redemption consumed gets its points back as a new
//! `restore` lot that names it and keeps its original `expires_at`. Points of a lot that has
//! expired meanwhile follow the programme's `expired_restore` policy: `forfeit` gives them back
//! and expires them at once (a `restore` then an `expire` transfer, so the ledger shows both),
//! `reinstate:<days>` gives them back valid through the local day `<days>` days after the
//! cancellation. Cancelling twice answers the first cancellation (the cancellation event is
//! unique per redemption).

use crate::loyalty::{
    EXPIRE_JOB, commit_in, expiry_due, load, reserve_in, schedule, schedule_reminders,
};
use crate::{App, AppError, AppResult, Principal};
use anyhow::Context;
use domain::ledger::TransferKind;
use domain::loyalty::lots::{Consumption, Lot, LotId, LotSource, LotState, plan_restore};
use domain::loyalty::rewards::{
    RewardRefusal, RewardSpec, VOUCHER_CODES_PER_REQUEST_MAX, VoucherCode, check_redeemable,
    parse_codes,
};
use domain::{EventKind, FieldError};
use jiff::Timestamp;
use store::events::NewEvent;
use store::ledger::{self, NewTransfer};
use store::loyalty as rows;
use store::rewards::{self as rewards_rows, NewReward, RewardRow};
use store::sql::Tx;

/// Rewards one catalogue page lists.
pub const REWARDS_PAGE_MAX: i64 = 500;

const REASON_RESTORED: &str = "redemption cancelled";
const REASON_REINSTATED: &str = "redemption cancelled: reinstated";
const REASON_FORFEITED: &str = "redemption cancelled: forfeited";

/// What cancelling a redemption gave back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancellationView {
    pub redemption_id: i64,
    pub customer_id: i64,
    /// The `redemption_cancelled` event.
    pub cancellation_id: i64,
    /// Points back in their lots' original expiry.
    pub restored: i64,
    /// Points of expired lots given back with a fresh expiry (`reinstate`).
    pub reinstated: i64,
    /// Points of expired lots that stay expired (`forfeit`).
    pub forfeited: i64,
    /// The voucher code voided with the redemption.
    pub voided_code: Option<String>,
}

/// A catalogue entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewardView {
    pub id: i64,
    pub name: String,
    pub points_price: i64,
    pub stock: Option<i64>,
    pub redeemed: i64,
    pub per_member_limit: Option<i64>,
    pub valid_from: Option<Timestamp>,
    pub valid_until: Option<Timestamp>,
    pub issues_voucher: bool,
    pub codes_available: i64,
}

fn reward_view(r: RewardRow) -> RewardView {
    RewardView {
        id: r.id,
        name: r.name,
        points_price: r.points_price,
        stock: r.stock,
        redeemed: r.redeemed,
        per_member_limit: r.per_member_limit,
        valid_from: r.valid_from,
        valid_until: r.valid_until,
        issues_voucher: r.issues_voucher,
        codes_available: r.codes_available,
    }
}

fn spec_of(r: &RewardRow) -> RewardSpec {
    RewardSpec {
        name: r.name.clone(),
        points_price: r.points_price,
        stock: r.stock,
        per_member_limit: r.per_member_limit,
        valid_from: r.valid_from,
        valid_until: r.valid_until,
        issues_voucher: r.issues_voucher,
    }
}

/// One redemption of a reward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewardRedemptionView {
    pub reward_id: i64,
    pub customer_id: i64,
    pub hold_id: i64,
    /// The `points_redeemed` event: the id to cancel it by.
    pub redemption_id: i64,
    pub points: i64,
    pub voucher_code: Option<String>,
    /// `committed` or `cancelled`.
    pub state: String,
}

/// What a voucher pool request added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VouchersAdded {
    pub reward_id: i64,
    pub added: i64,
    /// The generated codes (empty for an import: the caller has them).
    pub generated: Vec<String>,
    pub codes_available: i64,
}

/// Reads what a cancellation event gave back from its transfers.
fn cancellation_view(
    tx: &mut Tx<'_>,
    redemption_id: i64,
    customer_id: i64,
    cancellation_id: i64,
) -> AppResult<CancellationView> {
    let mut v = CancellationView {
        redemption_id,
        customer_id,
        cancellation_id,
        restored: 0,
        reinstated: 0,
        forfeited: 0,
        voided_code: None,
    };
    for t in ledger::of_event(tx, cancellation_id)? {
        match (t.kind, t.reason.as_deref()) {
            (TransferKind::Restore, Some(REASON_REINSTATED)) => v.reinstated += t.amount,
            (TransferKind::Restore, Some(REASON_RESTORED)) => v.restored += t.amount,
            (TransferKind::Expire, _) => v.forfeited += t.amount,
            _ => {}
        }
    }
    if let Some(r) = rewards_rows::redemption_by_event(tx, redemption_id)? {
        v.voided_code = r.voucher_code;
    }
    Ok(v)
}

fn lot_state(row: &ledger::TransferRow) -> LotState {
    match row.lot_state.as_deref() {
        Some(ledger::LOT_EXPIRED) => LotState::Expired,
        Some(ledger::LOT_PENDING) => LotState::Pending,
        _ => LotState::Active,
    }
}

impl App {
    /// Cancels committed redemption `redemption_id` (a `points_redeemed` event of the
    /// customer): its points come back as described in the module note, a reward's stock is
    /// given back and its voucher code voided. Idempotent: a second call answers the first.
    pub fn cancel_redemption(
        &self,
        who: &Principal,
        customer_id: i64,
        redemption_id: i64,
    ) -> AppResult<CancellationView> {
        let now = self.now();
        let now_micros = now.as_microsecond();
        self.store.write(|tx| {
            let account = ledger::customer_account(tx, customer_id)?.ok_or(AppError::NotFound)?;
            // The account's row lock: a cancellation and a spend of one account serialise.
            ledger::add_to_balance(tx, account.id, 0)?;
            let event = store::events::get(tx, redemption_id)?
                .filter(|e| e.kind == EventKind::PointsRedeemed)
                .filter(|e| e.customer_id == Some(customer_id))
                .ok_or(AppError::NotFound)?;
            let external_id = format!("cancel-{}", event.id);
            if let Some(done) = store::events::find(tx, "patron", &external_id)? {
                return cancellation_view(tx, redemption_id, customer_id, done.id);
            }
            let redeem = ledger::of_event(tx, redemption_id)?
                .into_iter()
                .find(|t| t.kind == TransferKind::Redeem)
                .context("a redemption without its redeem transfer")?;
            let loyalty = load(tx, &self.settings)?;
            let zone = loyalty.programme.zone().clone();
            let consumed = rows::consumptions_of(tx, (redeem.event_id, redeem.seq))?;
            let mut lots = Vec::with_capacity(consumed.len());
            let mut keys = Vec::with_capacity(consumed.len());
            let mut taken = Vec::with_capacity(consumed.len());
            for (i, (key, points)) in consumed.iter().enumerate() {
                let row = rows::transfer(tx, *key)?.context("a consumed lot")?;
                let remaining = row.remaining.context("a consumed transfer is a lot")?;
                let id = LotId(i as u64);
                lots.push(Lot {
                    id,
                    amount: row.amount,
                    remaining,
                    spent: row.amount - remaining,
                    reversed: 0,
                    clawed_back: 0,
                    state: lot_state(&row),
                    earned_at: row.created_at,
                    pending_until: row.pending_until,
                    expires_at: row.expires_at,
                    source: LotSource::Restored { from: id },
                });
                keys.push(*key);
                taken.push(Consumption {
                    lot: id,
                    points: *points,
                });
            }
            let plan = plan_restore(&lots, &taken, loyalty.expired_restore, &zone, now)
                .map_err(|e| anyhow::anyhow!("restore plan: {e}"))?;
            let body = serde_json::json!({ "redemption_id": redemption_id }).to_string();
            let cancellation_id = store::events::insert(
                tx,
                &NewEvent {
                    source: "patron",
                    external_id: &external_id,
                    kind: EventKind::RedemptionCancelled,
                    customer_id: Some(customer_id),
                    order_event_id: None,
                    occurred_at_micros: now_micros,
                    recorded_at_micros: now_micros,
                    currency: None,
                    amount_minor: None,
                    content_hash: &[],
                    body: &body,
                },
            )?
            .context("redemption cancelled twice under its lock")?;
            let issuance = ledger::system_account(tx, ledger::ISSUANCE_ACCOUNT)?;
            let mut seq = 0;
            let mut delta = 0;
            let mut restore = |tx: &mut Tx<'_>,
                               from: Option<(i64, i64)>,
                               points: i64,
                               expires_at: Option<Timestamp>,
                               reason: &'static str|
             -> anyhow::Result<i64> {
                let at = seq;
                seq += 1;
                ledger::insert_transfer(
                    tx,
                    &NewTransfer {
                        event_id: cancellation_id,
                        seq: at,
                        debit_account_id: issuance,
                        credit_account_id: account.id,
                        amount: points,
                        kind: TransferKind::Restore,
                        created_at_micros: now_micros,
                        remaining: Some(points),
                        pending_until_micros: None,
                        expires_at_micros: expires_at.map(|t| t.as_microsecond()),
                        lot: from,
                        reason: Some(reason),
                        lot_state: None,
                        lines: Vec::new(),
                        revenue: None,
                    },
                )?;
                Ok(at)
            };
            let mut forfeits = Vec::new();
            let mut active: Vec<((i64, i64), i64)> = Vec::new();
            // A restored lot keeps its expiry, which no scheduled expiry run may cover any more
            // (its lot was spent): the expiry job must run then.
            let mut next_expiry: Option<Timestamp> = None;
            for c in &plan.to_lots {
                let lot = &lots[c.lot.0 as usize];
                let key = keys[c.lot.0 as usize];
                if lot.state_at(now) == LotState::Expired {
                    let at = restore(tx, Some(key), c.points, lot.expires_at, REASON_FORFEITED)?;
                    forfeits.push((at, c.points));
                } else {
                    let at = restore(tx, Some(key), c.points, lot.expires_at, REASON_RESTORED)?;
                    active.push(((cancellation_id, at), c.points));
                    delta += c.points;
                    if let Some(e) = lot.expires_at {
                        next_expiry = Some(next_expiry.map_or(e, |n: Timestamp| n.min(e)));
                    }
                }
            }
            for g in &plan.grace_lots {
                let key = keys[g.from.0 as usize];
                let at = restore(
                    tx,
                    Some(key),
                    g.points,
                    Some(g.expires_at),
                    REASON_REINSTATED,
                )?;
                active.push(((cancellation_id, at), g.points));
                delta += g.points;
                // A fresh expiry instant: the expiry job must run then.
                schedule(
                    tx,
                    EXPIRE_JOB,
                    expiry_due(g.expires_at.as_microsecond()),
                    now_micros,
                    self.settings.job_attempts_max,
                )?;
            }
            // A redemption always consumes lots in full; anything not traced to a lot (a debt
            // era) comes back without expiry.
            let traced: i64 = consumed.iter().map(|c| c.1).sum();
            if redeem.amount > traced {
                let at = restore(tx, None, redeem.amount - traced, None, REASON_RESTORED)?;
                active.push(((cancellation_id, at), redeem.amount - traced));
                delta += redeem.amount - traced;
            }
            for (lot_seq, points) in forfeits {
                let at = seq;
                seq += 1;
                ledger::insert_transfer(
                    tx,
                    &NewTransfer {
                        event_id: cancellation_id,
                        seq: at,
                        debit_account_id: account.id,
                        credit_account_id: issuance,
                        amount: points,
                        kind: TransferKind::Expire,
                        created_at_micros: now_micros,
                        remaining: None,
                        pending_until_micros: None,
                        expires_at_micros: None,
                        lot: Some((cancellation_id, lot_seq)),
                        reason: Some("expired"),
                        lot_state: None,
                        lines: Vec::new(),
                        revenue: None,
                    },
                )?;
                ledger::consume_lot(
                    tx,
                    (cancellation_id, at),
                    (cancellation_id, lot_seq),
                    points,
                )?;
                rows::mark_expired(tx, (cancellation_id, lot_seq))?;
            }
            if let Some(e) = next_expiry {
                schedule(
                    tx,
                    EXPIRE_JOB,
                    expiry_due(e.as_microsecond()).max(now_micros),
                    now_micros,
                    self.settings.job_attempts_max,
                )?;
            }
            let after = ledger::add_to_balance(tx, account.id, delta)?;
            // Restored points are active again: they settle what the account owes first
            // (a return may have left a debt or a negative balance since the redemption).
            crate::points::settle_debts(tx, account.id, &active, now_micros)?;
            assert!(
                after >= 0 || account.allow_negative,
                "a cancellation left a negative balance"
            );
            // Restored lots are new lots: they get their own expiry reminder.
            schedule_reminders(tx, &loyalty, now_micros, self.settings.job_attempts_max)?;
            if let Some(r) = rewards_rows::redemption_by_event(tx, redemption_id)?
                && rewards_rows::cancel_redemption(tx, r.id)?
            {
                rewards_rows::return_stock(tx, r.reward_id)?;
                if let Some(code) = r.voucher_code_id {
                    rewards_rows::void_code(tx, code)?;
                }
            }
            store::audit::insert(
                tx,
                now_micros,
                &who.actor,
                "points.redemption.cancel",
                Some(&format!("redemption:{redemption_id}")),
                Some(&format!("points={}", redeem.amount)),
            )?;
            cancellation_view(tx, redemption_id, customer_id, cancellation_id)
        })
    }

    /// Adds a reward to the catalogue.
    pub fn create_reward(&self, who: &Principal, spec: RewardSpec) -> AppResult<RewardView> {
        let spec = spec.validate()?;
        let now = self.now_micros();
        self.store.write(|tx| {
            let id = rewards_rows::insert_reward(
                tx,
                &NewReward {
                    name: &spec.name,
                    points_price: spec.points_price,
                    stock: spec.stock,
                    per_member_limit: spec.per_member_limit,
                    valid_from_micros: spec.valid_from.map(|t| t.as_microsecond()),
                    valid_until_micros: spec.valid_until.map(|t| t.as_microsecond()),
                    issues_voucher: spec.issues_voucher,
                    created_at_micros: now,
                },
            )?;
            store::audit::insert(
                tx,
                now,
                &who.actor,
                "loyalty.reward.create",
                Some(&format!("reward:{id}")),
                Some(&format!("points_price={}", spec.points_price)),
            )?;
            Ok(reward_view(
                rewards_rows::reward(tx, id)?.context("reward just written")?,
            ))
        })
    }

    pub fn reward(&self, id: i64) -> AppResult<RewardView> {
        self.store.read(|tx| {
            Ok(reward_view(
                rewards_rows::reward(tx, id)?.ok_or(AppError::NotFound)?,
            ))
        })
    }

    pub fn rewards(&self) -> AppResult<Vec<RewardView>> {
        self.store.read(|tx| {
            Ok(rewards_rows::list_rewards(tx, REWARDS_PAGE_MAX)?
                .into_iter()
                .map(reward_view)
                .collect())
        })
    }

    /// Adds imported `codes` to a voucher reward's pool; every code must be new (in this
    /// request and in every pool), or nothing is added.
    pub fn import_voucher_codes(
        &self,
        who: &Principal,
        reward_id: i64,
        codes: &[String],
    ) -> AppResult<VouchersAdded> {
        let codes = parse_codes(codes)?;
        self.add_codes(who, reward_id, codes, false)
    }

    /// Generates `count` codes of 80 random bits each from the app's entropy.
    pub fn generate_voucher_codes(
        &self,
        who: &Principal,
        reward_id: i64,
        count: i64,
    ) -> AppResult<VouchersAdded> {
        if !(1..=VOUCHER_CODES_PER_REQUEST_MAX as i64).contains(&count) {
            return Err(FieldError::new(
                "generate",
                format!("must be 1 to {VOUCHER_CODES_PER_REQUEST_MAX}"),
            )
            .into());
        }
        let codes: Vec<VoucherCode> = (0..count)
            .map(|_| {
                let mut bits = [0u8; 16];
                self.entropy.fill(&mut bits);
                VoucherCode::from_entropy(u128::from_le_bytes(bits))
            })
            .collect();
        self.add_codes(who, reward_id, codes, true)
    }

    fn add_codes(
        &self,
        who: &Principal,
        reward_id: i64,
        codes: Vec<VoucherCode>,
        generated: bool,
    ) -> AppResult<VouchersAdded> {
        let now = self.now_micros();
        let strs: Vec<&str> = codes.iter().map(VoucherCode::as_str).collect();
        self.store.write(|tx| {
            let reward = rewards_rows::reward(tx, reward_id)?.ok_or(AppError::NotFound)?;
            if !reward.issues_voucher {
                return Err(
                    FieldError::new("reward", "this reward issues no voucher codes").into(),
                );
            }
            let taken = rewards_rows::existing_codes(tx, &strs)?;
            if let Some(code) = taken.first() {
                // 80 random bits do not collide in practice; an import may repeat a code.
                return Err(AppError::VoucherCodeTaken { code: code.clone() });
            }
            // A concurrent request may add the same code between the check and the insert:
            // the insert skips codes that exist by then, and any skipped code refuses the
            // whole request (the transaction rolls back), so each code is counted once.
            let added = rewards_rows::insert_codes(tx, reward_id, &strs, now)?;
            if added.len() < strs.len() {
                let code = strs
                    .iter()
                    .find(|c| !added.iter().any(|a| a == **c))
                    .context("a skipped code")?;
                return Err(AppError::VoucherCodeTaken {
                    code: (*code).to_owned(),
                });
            }
            store::audit::insert(
                tx,
                now,
                &who.actor,
                "loyalty.vouchers.add",
                Some(&format!("reward:{reward_id}")),
                Some(&format!("codes={} generated={generated}", strs.len())),
            )?;
            let after = rewards_rows::reward(tx, reward_id)?.context("reward")?;
            Ok(VouchersAdded {
                reward_id,
                added: strs.len() as i64,
                generated: if generated {
                    strs.iter().map(|s| (*s).to_owned()).collect()
                } else {
                    vec![]
                },
                codes_available: after.codes_available,
            })
        })
    }

    /// Redeems a reward for the customer in one transaction: checks the validity window and
    /// the member's limit under the account's row lock, takes one unit of stock (a
    /// conditional update that never oversells), reserves and commits a hold for the points
    /// price, and issues one voucher code when the reward has a pool. Any refusal changes
    /// nothing.
    pub fn redeem_reward(
        &self,
        who: &Principal,
        customer_id: i64,
        reward_id: i64,
    ) -> AppResult<RewardRedemptionView> {
        let now = self.now();
        let now_micros = now.as_microsecond();
        self.store.write(|tx| {
            let account = ledger::customer_account(tx, customer_id)?.ok_or(AppError::NotFound)?;
            ledger::add_to_balance(tx, account.id, 0)?;
            let reward = rewards_rows::reward(tx, reward_id)?.ok_or(AppError::NotFound)?;
            let mine = rewards_rows::member_redemptions(tx, customer_id, reward_id)?;
            check_redeemable(&spec_of(&reward), now, mine).map_err(AppError::RewardRefused)?;
            if !rewards_rows::take_stock(tx, reward_id)? {
                return Err(AppError::RewardRefused(RewardRefusal::OutOfStock));
            }
            let hold_id = reserve_in(
                tx,
                who,
                customer_id,
                account.id,
                reward.points_price,
                crate::loyalty::HOLD_TTL_SECS_DEFAULT,
                now,
            )?;
            let event_id = commit_in(tx, who, customer_id, account.id, hold_id, now)?;
            let id = rewards_rows::insert_redemption(
                tx,
                reward_id,
                customer_id,
                hold_id,
                event_id,
                reward.points_price,
                now_micros,
            )?;
            let mut voucher_code = None;
            if reward.issues_voucher {
                let (code_id, code) = rewards_rows::issue_code(tx, reward_id, id)?
                    .ok_or(AppError::RewardRefused(RewardRefusal::NoVoucherCodes))?;
                rewards_rows::set_redemption_code(tx, id, code_id)?;
                voucher_code = Some(code);
            }
            store::audit::insert(
                tx,
                now_micros,
                &who.actor,
                "loyalty.reward.redeem",
                Some(&format!("reward:{reward_id}")),
                Some(&format!("customer={customer_id} redemption={event_id}")),
            )?;
            Ok(RewardRedemptionView {
                reward_id,
                customer_id,
                hold_id,
                redemption_id: event_id,
                points: reward.points_price,
                voucher_code,
                state: "committed".to_owned(),
            })
        })
    }

    /// The state of a voucher code (`available`, `issued` or `void`).
    pub fn voucher_code_state(&self, code: &str) -> AppResult<String> {
        let code = VoucherCode::parse(code)?;
        self.store
            .read(|tx| rewards_rows::code_state(tx, code.as_str())?.ok_or(AppError::NotFound))
    }
}

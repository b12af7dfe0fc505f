//! Tiers in use: the programme's tier group (stored with each programme version, edited
//! through the API), the materialised per-member state (`member_tiers`, one row per member)
//! kept in step by intake, returns, overrides and paid memberships, and the `loyalty.tiers`
//! review job that downgrades at a period's end and writes the advance notices.
//!
//! The rules are `domain::loyalty::tiers`; this module maps them onto rows. A member with no
//! row is at the first tier with nothing counted.

use crate::intake::Intake;
use crate::loyalty::{Loyalty, load, schedule};
use crate::{App, AppError, AppResult, Principal};
use anyhow::{Context, anyhow};
use domain::loyalty::tiers::{
    DowngradeNotice, DowngradePolicy, MemberTier, PaidMembership, QualificationBasis,
    QualifyingEvent, Tier, TierBenefits, TierConfig, TierError, TierOverride, TierPeriod,
    TierState, evaluate_tier, period_bounds,
};
use domain::{EventKind, FieldError};
use jiff::{Timestamp, ToSpan};
use serde_json::{Value, json};
use std::collections::HashMap;
use store::events::NewEvent;
use store::member_tiers::{self as rows, MemberTierRow};
use store::sql::Tx;

/// Reviews members whose period ended, whose notice or downgrade is due, or whose override
/// or paid membership ended.
pub const TIERS_JOB: &str = "loyalty.tiers";
/// Outbox topic written on every change of a member's tier.
pub const TIER_CHANGED_TOPIC: &str = "tier.changed";
/// Outbox topic written once per downgrade, `notice_days` before it.
pub const DOWNGRADE_NOTICE_TOPIC: &str = "tier.downgrade_notice";
/// Members one review transaction handles; the job loops until none is due.
pub const MEMBERS_PER_JOB_TX_MAX: i64 = 500;
/// How far back a review reads a member's qualifying history, in days: the previous
/// calendar or anniversary year, or the longest rolling window before a month's start.
const HISTORY_DAYS: i32 = domain::loyalty::tiers::ROLLING_WINDOW_DAYS_MAX + 31;

/// A tier group's settings as the API shows and takes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierGroupSettings {
    /// `points` (qualifying points earned) or `spend` (minor units spent).
    pub basis: String,
    /// `calendar`, `anniversary` or `rolling:<days>`.
    pub period: String,
    /// `one_down` or `to_earned`.
    pub downgrade: String,
    pub grace_days: i64,
    pub notice_days: i64,
    pub tiers: Vec<TierSettings>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierSettings {
    pub code: String,
    pub threshold: i64,
    pub earn_multiplier_bp: i64,
    pub free_shipping_threshold_minor: Option<i64>,
    pub early_access: bool,
    pub birthday_gift_points: i64,
    /// `(fee_minor, term_months)` of a tier that can be bought.
    pub paid: Option<(i64, i64)>,
}

fn int32(field: &str, v: i64) -> Result<i32, FieldError> {
    i32::try_from(v).map_err(|_| FieldError::new(field, "out of range"))
}

fn tier_error(e: TierError) -> FieldError {
    match e {
        TierError::Field(f) => f,
        other => FieldError::new("tiers", other.to_string()),
    }
}

/// The anniversary placeholder of a group reviewed over each member's anniversary year.
fn anniversary_placeholder() -> TierPeriod {
    TierPeriod::AnniversaryYear {
        anniversary: jiff::civil::date(2000, 1, 1),
    }
}

/// Builds the domain's tier group from settings; every rule is checked there.
pub fn tier_config(s: &TierGroupSettings) -> Result<TierConfig, FieldError> {
    let basis = match s.basis.as_str() {
        "points" => QualificationBasis::QualifyingPoints,
        "spend" => QualificationBasis::SpendMinor,
        other => {
            return Err(FieldError::new(
                "basis",
                format!("expected points or spend, got {other:?}"),
            ));
        }
    };
    let period = match s.period.split_once(':') {
        None if s.period == "calendar" => TierPeriod::CalendarYear,
        None if s.period == "anniversary" => anniversary_placeholder(),
        Some(("rolling", d)) => TierPeriod::Rolling {
            days: d.parse().map_err(|_| {
                FieldError::new(
                    "period",
                    format!("expected rolling:<days>, got {:?}", s.period),
                )
            })?,
        },
        _ => {
            return Err(FieldError::new(
                "period",
                format!(
                    "expected calendar, anniversary or rolling:<days>, got {:?}",
                    s.period
                ),
            ));
        }
    };
    let downgrade = match s.downgrade.as_str() {
        "one_down" => DowngradePolicy::OneDown,
        "to_earned" => DowngradePolicy::ToEarned,
        other => {
            return Err(FieldError::new(
                "downgrade",
                format!("expected one_down or to_earned, got {other:?}"),
            ));
        }
    };
    let tiers = s
        .tiers
        .iter()
        .enumerate()
        .map(|(i, t)| {
            Ok(Tier {
                code: t.code.clone(),
                threshold: t.threshold,
                benefits: TierBenefits {
                    earn_multiplier_bp: t.earn_multiplier_bp,
                    free_shipping_threshold_minor: t.free_shipping_threshold_minor,
                    early_access: t.early_access,
                    birthday_gift_points: t.birthday_gift_points,
                },
                paid: t
                    .paid
                    .map(|(fee_minor, months)| {
                        Ok::<_, FieldError>(PaidMembership {
                            fee_minor,
                            term_months: int32(&format!("tiers[{i}].paid.term_months"), months)?,
                        })
                    })
                    .transpose()?,
            })
        })
        .collect::<Result<Vec<_>, FieldError>>()?;
    TierConfig::new(
        tiers,
        basis,
        period,
        downgrade,
        int32("grace_days", s.grace_days)?,
        int32("notice_days", s.notice_days)?,
    )
    .map_err(tier_error)
}

/// The settings of a tier group (the inverse of [`tier_config`]).
pub fn group_settings(c: &TierConfig) -> TierGroupSettings {
    TierGroupSettings {
        basis: match c.basis() {
            QualificationBasis::QualifyingPoints => "points",
            QualificationBasis::SpendMinor => "spend",
        }
        .to_owned(),
        period: match c.period() {
            TierPeriod::CalendarYear => "calendar".to_owned(),
            TierPeriod::AnniversaryYear { .. } => "anniversary".to_owned(),
            TierPeriod::Rolling { days } => format!("rolling:{days}"),
        },
        downgrade: match c.downgrade() {
            DowngradePolicy::OneDown => "one_down",
            DowngradePolicy::ToEarned => "to_earned",
        }
        .to_owned(),
        grace_days: i64::from(c.grace_days()),
        notice_days: i64::from(c.notice_days()),
        tiers: c
            .tiers()
            .iter()
            .map(|t| TierSettings {
                code: t.code.clone(),
                threshold: t.threshold,
                earn_multiplier_bp: t.benefits.earn_multiplier_bp,
                free_shipping_threshold_minor: t.benefits.free_shipping_threshold_minor,
                early_access: t.benefits.early_access,
                birthday_gift_points: t.benefits.birthday_gift_points,
                paid: t.paid.map(|p| (p.fee_minor, i64::from(p.term_months))),
            })
            .collect(),
    }
}

/// The stored text of a tier group: JSON (programme versions before it hold the older
/// `code:threshold[:multiplier_bp],…` text, which still parses).
pub(crate) fn tiers_text(c: &TierConfig) -> String {
    let s = group_settings(c);
    json!({
        "basis": s.basis,
        "period": s.period,
        "downgrade": s.downgrade,
        "grace_days": s.grace_days,
        "notice_days": s.notice_days,
        "tiers": s.tiers.iter().map(|t| json!({
            "code": t.code,
            "threshold": t.threshold,
            "earn_multiplier_bp": t.earn_multiplier_bp,
            "free_shipping_threshold_minor": t.free_shipping_threshold_minor,
            "early_access": t.early_access,
            "birthday_gift_points": t.birthday_gift_points,
            "paid": t.paid.map(|(fee, months)| json!({ "fee_minor": fee, "term_months": months })),
        })).collect::<Vec<_>>(),
    })
    .to_string()
}

/// Parses the JSON form of [`tiers_text`].
pub(crate) fn parse_tiers_json(s: &str) -> Result<TierConfig, FieldError> {
    let bad = |what: &str| FieldError::new("tiers", format!("stored tier group: {what}"));
    let v: Value = serde_json::from_str(s).map_err(|_| bad("not JSON"))?;
    let text = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| bad(k))
    };
    let int = |v: &Value, k: &str| v.get(k).and_then(Value::as_i64).ok_or_else(|| bad(k));
    let tiers = v
        .get("tiers")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("tiers"))?
        .iter()
        .map(|t| {
            Ok(TierSettings {
                code: t
                    .get("code")
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad("code"))?
                    .to_owned(),
                threshold: int(t, "threshold")?,
                earn_multiplier_bp: int(t, "earn_multiplier_bp")?,
                free_shipping_threshold_minor: t
                    .get("free_shipping_threshold_minor")
                    .and_then(Value::as_i64),
                early_access: t
                    .get("early_access")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                birthday_gift_points: int(t, "birthday_gift_points")?,
                paid: match t.get("paid") {
                    Some(p) if !p.is_null() => Some((int(p, "fee_minor")?, int(p, "term_months")?)),
                    _ => None,
                },
            })
        })
        .collect::<Result<Vec<_>, FieldError>>()?;
    tier_config(&TierGroupSettings {
        basis: text("basis")?,
        period: text("period")?,
        downgrade: text("downgrade")?,
        grace_days: int(&v, "grace_days")?,
        notice_days: int(&v, "notice_days")?,
        tiers,
    })
}

fn instant(micros: i64) -> AppResult<Timestamp> {
    Ok(store::instant(micros)?)
}

fn internal(e: TierError) -> AppError {
    AppError::Internal(anyhow!("tiers: {e}"))
}

impl Loyalty {
    /// The tier group as it applies to a member first seen at `joined_at`: an anniversary
    /// year runs from the local date they joined.
    pub(crate) fn member_config(&self, joined_at: Timestamp) -> TierConfig {
        match self.tiers.period() {
            TierPeriod::AnniversaryYear { .. } => {
                self.tiers.with_period(TierPeriod::AnniversaryYear {
                    anniversary: domain::loyalty::expiry::local_date(
                        joined_at,
                        self.programme.zone(),
                    ),
                })
            }
            _ => self.tiers.clone(),
        }
    }
}

/// One member's tier state in memory, between reading its row and writing it back.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub(crate) customer_id: i64,
    pub(crate) state: MemberTier,
    joined_at: Timestamp,
    notice_sent_for: Option<i64>,
    renews: bool,
    /// The tier that applied when the row was last written.
    effective_before: usize,
    /// Whether a row was stored when this was read.
    stored: bool,
    /// Counted values `(counts_at, value)` not yet written (replayed if the row turns out to
    /// have been written meanwhile by another transaction).
    counted: Vec<(Timestamp, i64)>,
}

fn rank_or(config: &TierConfig, code: Option<&str>) -> Option<usize> {
    code.and_then(|c| config.rank_of(c))
}

impl Member {
    fn fresh(customer_id: i64, loyalty: &Loyalty, now: Timestamp) -> AppResult<Member> {
        let config = loyalty.member_config(now);
        Ok(Member {
            customer_id,
            state: MemberTier::new(&config, loyalty.programme.zone(), now).map_err(internal)?,
            joined_at: now,
            notice_sent_for: None,
            renews: false,
            effective_before: 0,
            stored: false,
            counted: vec![],
        })
    }

    /// The member as stored, moved into the period containing `now`. A tier code the group
    /// no longer has falls back to the tier the counted value reaches; an override or
    /// membership naming one is dropped.
    fn from_row(row: &MemberTierRow, loyalty: &Loyalty, now: Timestamp) -> AppResult<Member> {
        let joined_at = instant(row.joined_at)?;
        let config = loyalty.member_config(joined_at);
        let zone = loyalty.programme.zone();
        let value_current = row.value_current;
        let until = |rank: Option<usize>, at: Option<i64>| -> AppResult<Option<TierOverride>> {
            Ok(match (rank, at) {
                (Some(rank), Some(at)) => Some(TierOverride {
                    rank,
                    until: instant(at)?,
                }),
                _ => None,
            })
        };
        let stored = MemberTier {
            rank: rank_or(&config, Some(&row.tier))
                .unwrap_or_else(|| config.rank_for(value_current)),
            since: instant(row.since)?,
            period_start: instant(row.period_start)?,
            value_current,
            value_previous: row.value_previous,
            pending: match (
                rank_or(&config, row.downgrade_to.as_deref()),
                row.downgrade_at,
                row.downgrade_notify_at,
            ) {
                (Some(to_rank), Some(at), Some(notify)) => Some(DowngradeNotice {
                    notify_at: instant(notify)?,
                    to_rank,
                    effective_at: instant(at)?,
                }),
                _ => None,
            },
            manual: until(
                rank_or(&config, row.override_tier.as_deref()),
                row.override_ends_at,
            )?,
            membership: until(
                rank_or(&config, row.membership_tier.as_deref()),
                row.membership_ends_at,
            )?,
        };
        let effective_before = stored.effective(instant(row.updated_at)?);
        Ok(Member {
            customer_id: row.customer_id,
            state: stored.rolled(&config, zone, now).map_err(internal)?,
            joined_at,
            notice_sent_for: row.notice_sent_for,
            renews: row.membership_renews,
            effective_before,
            stored: true,
            counted: vec![],
        })
    }

    /// Counts `value` at `counts_at` (see [`MemberTier::count`]).
    fn count(
        &mut self,
        loyalty: &Loyalty,
        counts_at: Timestamp,
        value: i64,
        now: Timestamp,
    ) -> AppResult<()> {
        let config = loyalty.member_config(self.joined_at);
        self.state
            .count(&config, loyalty.programme.zone(), counts_at, value, now)
            .map_err(internal)?;
        self.counted.push((counts_at, value));
        Ok(())
    }

    fn notice_sent(&self) -> bool {
        self.state
            .pending
            .is_some_and(|p| self.notice_sent_for == Some(p.effective_at.as_microsecond()))
    }

    fn to_row(&self, loyalty: &Loyalty, now: Timestamp) -> AppResult<MemberTierRow> {
        let config = loyalty.member_config(self.joined_at);
        let code = |rank: usize| -> AppResult<String> {
            Ok(config
                .tiers()
                .get(rank)
                .with_context(|| format!("tier rank {rank}"))?
                .code
                .clone())
        };
        let s = &self.state;
        let review_at = s
            .review_at(&config, loyalty.programme.zone(), self.notice_sent(), now)
            .map_err(internal)?;
        Ok(MemberTierRow {
            customer_id: self.customer_id,
            tier: code(s.rank)?,
            since: s.since.as_microsecond(),
            joined_at: self.joined_at.as_microsecond(),
            period_start: s.period_start.as_microsecond(),
            value_current: s.value_current,
            value_previous: s.value_previous,
            downgrade_to: s.pending.map(|p| code(p.to_rank)).transpose()?,
            downgrade_notify_at: s.pending.map(|p| p.notify_at.as_microsecond()),
            downgrade_at: s.pending.map(|p| p.effective_at.as_microsecond()),
            notice_sent_for: self.notice_sent_for,
            override_tier: s.manual.map(|o| code(o.rank)).transpose()?,
            override_ends_at: s.manual.map(|o| o.until.as_microsecond()),
            membership_tier: s.membership.map(|m| code(m.rank)).transpose()?,
            membership_ends_at: s.membership.map(|m| m.until.as_microsecond()),
            membership_renews: self.renews && s.membership.is_some(),
            review_at: review_at.map(|t| t.as_microsecond()),
            updated_at: now.as_microsecond(),
        })
    }
}

/// The `tier.changed` message of a member whose tier went from `from` to `to`.
fn changed_payload(
    loyalty: &Loyalty,
    customer_id: i64,
    from: usize,
    to: usize,
    reason: &str,
    now: Timestamp,
) -> Value {
    let code = |r: usize| loyalty.tiers.tiers().get(r).map(|t| t.code.clone());
    json!({
        "customer_id": customer_id,
        "from": code(from),
        "to": code(to),
        "reason": reason,
        "at": now.to_string(),
    })
}

/// Writes members back: rows that were read (and locked) are replaced, new ones inserted. A
/// row another transaction inserted meanwhile is read again, locked, and what this one counted
/// is counted into it. Writes a `tier.changed` message per member whose tier changed and
/// schedules the review at the earliest new review instant.
pub(crate) fn write_members(
    tx: &mut Tx<'_>,
    loyalty: &Loyalty,
    members: Vec<Member>,
    reason: &str,
    now: Timestamp,
    attempts: i64,
) -> AppResult<()> {
    if members.is_empty() {
        return Ok(());
    }
    let (stored, fresh): (Vec<Member>, Vec<Member>) = members.into_iter().partition(|m| m.stored);
    let mut done: Vec<Member> = stored;
    let fresh_rows = fresh
        .iter()
        .map(|m| m.to_row(loyalty, now))
        .collect::<AppResult<Vec<_>>>()?;
    let inserted: std::collections::HashSet<i64> =
        rows::insert_absent(tx, &fresh_rows)?.into_iter().collect();
    let mut raced = Vec::new();
    for m in fresh {
        if inserted.contains(&m.customer_id) {
            changed(tx, loyalty, &m, reason, now, attempts)?;
        } else {
            raced.push(m);
        }
    }
    if !raced.is_empty() {
        let ids: Vec<i64> = raced.iter().map(|m| m.customer_id).collect();
        let now_stored: HashMap<i64, MemberTierRow> = rows::get_many(tx, &ids, true)?
            .into_iter()
            .map(|r| (r.customer_id, r))
            .collect();
        for m in raced {
            let row = now_stored
                .get(&m.customer_id)
                .context("a member row vanished")?;
            let mut again = Member::from_row(row, loyalty, now)?;
            for &(at, value) in &m.counted {
                again.count(loyalty, at, value, now)?;
            }
            done.push(again);
        }
    }
    let rows_out = done
        .iter()
        .map(|m| m.to_row(loyalty, now))
        .collect::<AppResult<Vec<_>>>()?;
    rows::upsert_many(tx, &rows_out)?;
    for m in &done {
        changed(tx, loyalty, m, reason, now, attempts)?;
    }
    let mut first: Option<i64> = None;
    for r in rows_out.iter().chain(&fresh_rows) {
        if let Some(at) = r.review_at {
            first = Some(first.map_or(at, |f| f.min(at)));
        }
    }
    if let Some(at) = first {
        schedule(tx, TIERS_JOB, at, now.as_microsecond(), attempts)?;
    }
    Ok(())
}

fn changed(
    tx: &mut Tx<'_>,
    loyalty: &Loyalty,
    m: &Member,
    reason: &str,
    now: Timestamp,
    attempts: i64,
) -> AppResult<()> {
    let after = m.state.effective(now);
    if after != m.effective_before {
        let endpoints = store::outbox::active_endpoints(tx)?;
        crate::webhooks::record(
            tx,
            &endpoints,
            TIER_CHANGED_TOPIC,
            &changed_payload(
                loyalty,
                m.customer_id,
                m.effective_before,
                after,
                reason,
                now,
            ),
            now.as_microsecond(),
            attempts,
        )?;
    }
    Ok(())
}

/// The tier state of a batch's members, read with one primary-key statement (locked on
/// PostgreSQL) before any order is decided.
pub(crate) struct BatchTiers {
    members: HashMap<i64, Member>,
}

impl BatchTiers {
    /// Reads the rows of `customer_ids` (customers already stored); none without a stored
    /// programme (no tiers apply then).
    pub(crate) fn load(
        tx: &mut Tx<'_>,
        loyalty: &Loyalty,
        customer_ids: &[i64],
        now: Timestamp,
    ) -> AppResult<BatchTiers> {
        let mut members = HashMap::new();
        if loyalty.version > 0 && !customer_ids.is_empty() {
            for row in rows::get_many(tx, customer_ids, true)? {
                members.insert(row.customer_id, Member::from_row(&row, loyalty, now)?);
            }
        }
        Ok(BatchTiers { members })
    }

    /// Reads (and locks) the rows of `customer_ids` not read yet: customers a batch took for
    /// new that another transaction created a moment ago. Read before any promotion is locked,
    /// so every batch locks member rows first and promotions after.
    pub(crate) fn load_more(
        &mut self,
        tx: &mut Tx<'_>,
        loyalty: &Loyalty,
        customer_ids: &[i64],
        now: Timestamp,
    ) -> AppResult<()> {
        let missing: Vec<i64> = customer_ids
            .iter()
            .copied()
            .filter(|c| !self.members.contains_key(c))
            .collect();
        if loyalty.version > 0 && !missing.is_empty() {
            for row in rows::get_many(tx, &missing, true)? {
                self.members
                    .insert(row.customer_id, Member::from_row(&row, loyalty, now)?);
            }
        }
        Ok(())
    }

    /// The tier that applies to the customer now (the first for one without a row).
    pub(crate) fn effective(&self, customer_id: i64, now: Timestamp) -> usize {
        self.members
            .get(&customer_id)
            .map_or(0, |m| m.state.effective(now))
    }

    /// Rolling windows only: before a batch counts its orders (`counted`: customer, order
    /// event id, the value it counts), each stored member whose counted value plus the batch's
    /// would reach a higher tier gets the exact value of the window ending now, read from the
    /// ledger without the batch's orders. Between monthly reviews the stored value still holds
    /// purchases that have left the window since; an upgrade is decided on the exact one. One
    /// history read per such member; nothing for other periods.
    pub(crate) fn make_exact(
        &mut self,
        tx: &mut Tx<'_>,
        loyalty: &Loyalty,
        counted: &[(i64, i64, i64)],
        now: Timestamp,
    ) -> AppResult<()> {
        if loyalty.version == 0 || !matches!(loyalty.tiers.period(), TierPeriod::Rolling { .. }) {
            return Ok(());
        }
        let mut batch: HashMap<i64, (Vec<i64>, i64)> = HashMap::new();
        for &(customer_id, order, value) in counted {
            let entry = batch.entry(customer_id).or_default();
            entry.0.push(order);
            entry.1 = entry.1.saturating_add(value);
        }
        for (customer_id, (orders, value)) in &batch {
            let Some(m) = self.members.get_mut(customer_id) else {
                continue;
            };
            let config = loyalty.member_config(m.joined_at);
            if config.rank_for(m.state.value_current.saturating_add(*value)) <= m.state.rank {
                continue;
            }
            if let Some(exact) =
                rolling_window_exact(tx, loyalty, &config, *customer_id, now, orders)?
            {
                m.state.value_current = exact;
            }
        }
        Ok(())
    }

    /// Counts an accepted order's qualifying value for its member.
    pub(crate) fn count(
        &mut self,
        loyalty: &Loyalty,
        customer_id: i64,
        value: i64,
        now: Timestamp,
    ) -> AppResult<()> {
        if loyalty.version == 0 || value == 0 {
            return Ok(());
        }
        let member = match self.members.entry(customer_id) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(Member::fresh(customer_id, loyalty, now)?)
            }
        };
        member.count(loyalty, now, value, now)
    }

    /// Writes the members whose value moved (see [`write_members`]).
    pub(crate) fn write(
        self,
        tx: &mut Tx<'_>,
        loyalty: &Loyalty,
        now: Timestamp,
        attempts: i64,
    ) -> AppResult<()> {
        let mut moved: Vec<Member> = self
            .members
            .into_values()
            .filter(|m| !m.counted.is_empty())
            .collect();
        moved.sort_by_key(|m| m.customer_id);
        write_members(tx, loyalty, moved, "earned", now, attempts)
    }
}

/// The member's qualifying movements recorded at or after `from`, leaving out those of the
/// orders `except` (a batch's own, counted separately).
/// The member's qualifying value in the rolling window ending `now`, read from the ledger
/// without the orders `except`; `None` when the period is not a rolling window.
fn rolling_window_exact(
    tx: &mut Tx<'_>,
    loyalty: &Loyalty,
    config: &TierConfig,
    customer_id: i64,
    now: Timestamp,
    except: &[i64],
) -> AppResult<Option<i64>> {
    let zone = loyalty.programme.zone();
    let Some(from) =
        domain::loyalty::tiers::rolling_window_start(config, zone, now).map_err(internal)?
    else {
        return Ok(None);
    };
    let history = qualifying_history(tx, loyalty, customer_id, from, except)?;
    domain::loyalty::tiers::rolling_window_value(&history, config, zone, now).map_err(internal)
}

fn qualifying_history(
    tx: &mut Tx<'_>,
    loyalty: &Loyalty,
    customer_id: i64,
    from: Timestamp,
    except: &[i64],
) -> AppResult<Vec<QualifyingEvent>> {
    rows::qualifying_history(
        tx,
        customer_id,
        loyalty.programme.currency().code(),
        from.as_microsecond(),
    )?
    .into_iter()
    .filter(|(order, ..)| !except.contains(order))
    .map(|(_, at, points, spend_minor)| {
        Ok(QualifyingEvent {
            counts_at: instant(at)?,
            points,
            spend_minor,
        })
    })
    .collect()
}

/// The value an order counts toward its member's tier: its points or its spend.
pub(crate) fn qualifying_value(loyalty: &Loyalty, points: i64, spend_minor: i64) -> i64 {
    match loyalty.tiers.basis() {
        QualificationBasis::QualifyingPoints => points,
        QualificationBasis::SpendMinor => spend_minor,
    }
}

/// A return of an order recorded at `order_recorded_at`, worth `value` (see
/// [`qualifying_value`]): reduces the qualifying value of the period the purchase counted in
/// (never downgrades by itself: that happens at a period's end).
pub(crate) fn count_return(
    tx: &mut Tx<'_>,
    loyalty: &Loyalty,
    customer_id: i64,
    order_recorded_at: Timestamp,
    value: i64,
    now: Timestamp,
    attempts: i64,
) -> AppResult<()> {
    if loyalty.version == 0 || value == 0 {
        return Ok(());
    }
    let Some(row) = rows::get(tx, customer_id, true)? else {
        return Ok(());
    };
    let mut m = Member::from_row(&row, loyalty, now)?;
    m.count(loyalty, order_recorded_at, -value, now)?;
    write_members(tx, loyalty, vec![m], "returned", now, attempts)
}

/// The member's state, locked, or a fresh one.
fn member_for_update(
    tx: &mut Tx<'_>,
    loyalty: &Loyalty,
    customer_id: i64,
    now: Timestamp,
) -> AppResult<Member> {
    match rows::get(tx, customer_id, true)? {
        Some(row) => Member::from_row(&row, loyalty, now),
        None => Member::fresh(customer_id, loyalty, now),
    }
}

/// Mirrors a manual override (already appended to `tier_overrides`) onto the member's row.
pub(crate) fn set_override(
    tx: &mut Tx<'_>,
    loyalty: &Loyalty,
    customer_id: i64,
    rank: usize,
    until: Timestamp,
    now: Timestamp,
    attempts: i64,
) -> AppResult<()> {
    let mut m = member_for_update(tx, loyalty, customer_id, now)?;
    m.state.manual = Some(TierOverride { rank, until });
    write_members(tx, loyalty, vec![m], "override", now, attempts)
}

/// A member's tier as the summary shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberTierView {
    /// The tier that applies now.
    pub rank: usize,
    pub tier: String,
    pub benefits: TierBenefits,
    /// The tier earned by qualification, and since when.
    pub earned_tier: String,
    pub since: Option<Timestamp>,
    /// `points` or `spend`.
    pub basis: &'static str,
    /// The qualifying value counted in the current period.
    pub qualifying_value: i64,
    pub period_end: Timestamp,
    pub next_tier: Option<String>,
    /// What is missing to reach the next tier.
    pub to_next_tier: Option<i64>,
    /// `(tier, notify_at, effective_at)` of a downgrade ahead.
    pub pending_downgrade: Option<(String, Timestamp, Timestamp)>,
    pub override_until: Option<(String, Timestamp)>,
    /// `(tier, ends_at, renews)`.
    pub membership: Option<(String, Timestamp, bool)>,
}

/// The member's tier at `now`, from the materialised state.
pub(crate) fn member_view(
    tx: &mut Tx<'_>,
    loyalty: &Loyalty,
    customer_id: i64,
    now: Timestamp,
) -> AppResult<MemberTierView> {
    let row = rows::get(tx, customer_id, false)?;
    let m = match &row {
        Some(row) => Member::from_row(row, loyalty, now)?,
        None => Member::fresh(customer_id, loyalty, now)?,
    };
    let config = loyalty.member_config(m.joined_at);
    let tiers = config.tiers();
    let code = |r: usize| tiers.get(r).map(|t| t.code.clone()).unwrap_or_default();
    let s = &m.state;
    let rank = s.effective(now);
    let zone = loyalty.programme.zone();
    let (_, period_end) = period_bounds(config.period(), zone, now).map_err(internal)?;
    // Under a rolling window the stored value is exact only at a review or an upgrade: since
    // then purchases may have left the window. The member is shown the window ending now.
    let mut value = s.value_current;
    if row.is_some()
        && let Some(exact) = rolling_window_exact(tx, loyalty, &config, customer_id, now, &[])?
    {
        value = exact;
    }
    let next = tiers.get(s.rank + 1);
    Ok(MemberTierView {
        rank,
        tier: code(rank),
        benefits: tiers.get(rank).map(|t| t.benefits).unwrap_or_default(),
        earned_tier: code(s.rank),
        since: row.as_ref().map(|_| s.since),
        basis: match config.basis() {
            QualificationBasis::QualifyingPoints => "points",
            QualificationBasis::SpendMinor => "spend",
        },
        qualifying_value: value,
        period_end,
        next_tier: next.map(|t| t.code.clone()),
        to_next_tier: next.map(|t| (t.threshold - value).max(0)),
        pending_downgrade: s
            .pending
            .map(|p| (code(p.to_rank), p.notify_at, p.effective_at)),
        override_until: s
            .manual
            .filter(|o| now < o.until)
            .map(|o| (code(o.rank), o.until)),
        membership: s
            .membership
            .filter(|o| now < o.until)
            .map(|o| (code(o.rank), o.until, m.renews)),
    })
}

/// The tier rank that applies to the customer now and the number of tiers.
pub(crate) fn effective_rank(
    tx: &mut Tx<'_>,
    loyalty: &Loyalty,
    customer_id: i64,
    now: Timestamp,
) -> AppResult<usize> {
    Ok(match rows::get(tx, customer_id, false)? {
        Some(row) => Member::from_row(&row, loyalty, now)?.state.effective(now),
        None => 0,
    })
}

/// The tier group in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierGroupView {
    /// 0 when no programme is stored.
    pub programme_version: i64,
    pub settings: TierGroupSettings,
}

/// A paid membership as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipView {
    pub customer_id: i64,
    pub tier: String,
    pub ends_at: Timestamp,
    /// False once cancelled: it then ends at `ends_at`.
    pub renews: bool,
    /// The `membership_paid` event of the payment this answers (none for a cancellation).
    pub payment_event_id: Option<i64>,
}

/// What a membership payment is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MembershipAction {
    Join,
    Renew,
}

impl MembershipAction {
    fn as_str(self) -> &'static str {
        match self {
            MembershipAction::Join => "join",
            MembershipAction::Renew => "renew",
        }
    }
}

/// A membership payment: the tier bought and the payment's id in the shop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipPayment {
    pub source: String,
    pub external_id: String,
    pub tier: String,
}

fn add_months(at: Timestamp, months: i32, zone: &jiff::tz::TimeZone) -> AppResult<Timestamp> {
    Ok(at
        .to_zoned(zone.clone())
        .checked_add(i64::from(months).months())
        .map_err(|e| anyhow!("membership term: {e}"))?
        .timestamp())
}

impl App {
    /// The tier group in force (the default one when no programme is stored).
    pub fn tier_group(&self) -> AppResult<TierGroupView> {
        self.store.read(|tx| {
            let loyalty = load(tx, &self.settings)?;
            Ok(TierGroupView {
                programme_version: loyalty.version,
                settings: group_settings(&loyalty.tiers),
            })
        })
    }

    /// Stores `settings` as the tier group of a new programme version (earlier versions are
    /// kept); checked by the domain first, so bad input changes nothing. Needs a stored
    /// programme. Members keep their state; the next review applies the new group.
    pub fn update_tier_group(
        &self,
        who: &Principal,
        settings: &TierGroupSettings,
    ) -> AppResult<TierGroupView> {
        let config = tier_config(settings)?;
        let now = self.now();
        self.store.write(|tx| {
            let mut row = store::loyalty::current_programme(tx)?
                .ok_or_else(|| FieldError::new("programme", "no programme is stored"))?;
            row.tiers = tiers_text(&config);
            row.created_at = now;
            let version = store::loyalty::insert_programme(tx, &row)?;
            store::audit::insert(
                tx,
                now.as_microsecond(),
                &who.actor,
                "loyalty.tiers.update",
                Some(&format!("programme:{version}")),
                Some(&format!("tiers={}", config.tiers().len())),
            )?;
            Ok(TierGroupView {
                programme_version: version,
                settings: group_settings(&config),
            })
        })
    }

    /// The `loyalty.tiers` job: see [`App::review_tiers`].
    pub(crate) fn run_tiers_job(&self, _payload: &str) -> Result<(), String> {
        self.review_tiers().map(|_| ()).map_err(|e| e.to_string())
    }

    /// Reviews every member whose review instant has come: recomputes the current and
    /// previous period's qualifying value from the ledger, evaluates the tier with
    /// `evaluate_tier` (downgrade only after a period's end and its grace, one-down or to the
    /// tier earned), ends overrides and paid memberships whose time is over, writes a
    /// `tier.downgrade_notice` once per downgrade when its notice is due and a `tier.changed`
    /// on every change, then schedules itself at the next review instant. Idempotent and
    /// restartable: a member reviewed is not due again until its next instant. Returns the
    /// number of members reviewed.
    pub fn review_tiers(&self) -> AppResult<i64> {
        let now = self.now();
        let attempts = self.settings.job_attempts_max;
        let mut total = 0;
        loop {
            let (reviewed, done) = self.store.write(|tx| -> AppResult<(i64, bool)> {
                let loyalty = load(tx, &self.settings)?;
                let due = rows::due(tx, now.as_microsecond(), MEMBERS_PER_JOB_TX_MAX)?;
                let mut members = Vec::with_capacity(due.len());
                for customer_id in &due {
                    let Some(row) = rows::get(tx, *customer_id, true)? else {
                        continue;
                    };
                    members.push(self.review(tx, &loyalty, &row, now, attempts)?);
                }
                write_members(tx, &loyalty, members, "review", now, attempts)?;
                if let Some(next) = rows::next_review(tx)? {
                    schedule(
                        tx,
                        TIERS_JOB,
                        next.max(now.as_microsecond()),
                        now.as_microsecond(),
                        attempts,
                    )?;
                }
                Ok((
                    due.len() as i64,
                    (due.len() as i64) < MEMBERS_PER_JOB_TX_MAX,
                ))
            })?;
            total += reviewed;
            if done {
                return Ok(total);
            }
        }
    }

    /// Gives every member who earned before tier state was materialised (migration 12) a
    /// row: the tier their last two periods earn them (a tier earned last period holds
    /// through this one), then reviewed like any other. Idempotent; `patron serve` runs it at
    /// start. Returns the members adopted.
    pub fn adopt_member_tiers(&self) -> AppResult<i64> {
        let now = self.now();
        let attempts = self.settings.job_attempts_max;
        let mut total = 0;
        loop {
            let adopted = self.store.write(|tx| -> AppResult<i64> {
                let loyalty = load(tx, &self.settings)?;
                if loyalty.version == 0 {
                    return Ok(0);
                }
                let from = now
                    .to_zoned(loyalty.programme.zone().clone())
                    .checked_sub(HISTORY_DAYS.days())
                    .map_err(|e| anyhow!("history start: {e}"))?
                    .timestamp();
                let ids = rows::unadopted(tx, from.as_microsecond(), MEMBERS_PER_JOB_TX_MAX)?;
                let mut members = Vec::with_capacity(ids.len());
                for customer_id in &ids {
                    let mut m = Member::fresh(*customer_id, &loyalty, now)?;
                    let config = loyalty.member_config(m.joined_at);
                    let zone = loyalty.programme.zone();
                    let reviewed =
                        self.review(tx, &loyalty, &m.to_row(&loyalty, now)?, now, attempts)?;
                    let (start, _) = period_bounds(config.period(), zone, now).map_err(internal)?;
                    let earned_prev = config.rank_for(reviewed.state.value_previous);
                    let earned_now = config.rank_for(reviewed.state.value_current);
                    m = reviewed;
                    m.state.rank = earned_prev.max(earned_now);
                    // Held since before this period when last period earned it, so the
                    // review at this period's end applies the downgrade rules to it.
                    m.state.since = if earned_prev >= earned_now {
                        start
                            .checked_sub(jiff::SignedDuration::from_secs(1))
                            .map_err(|e| anyhow!("{e}"))?
                    } else {
                        now
                    };
                    m.state.pending = None;
                    m.effective_before = m.state.rank;
                    m.stored = false;
                    members.push(m);
                }
                write_members(tx, &loyalty, members, "adopted", now, attempts)?;
                Ok(ids.len() as i64)
            })?;
            total += adopted;
            if adopted < MEMBERS_PER_JOB_TX_MAX {
                return Ok(total);
            }
        }
    }

    fn review(
        &self,
        tx: &mut Tx<'_>,
        loyalty: &Loyalty,
        row: &MemberTierRow,
        now: Timestamp,
        attempts: i64,
    ) -> AppResult<Member> {
        let mut m = Member::from_row(row, loyalty, now)?;
        let zone = loyalty.programme.zone();
        let config = loyalty.member_config(m.joined_at);
        if m.state.manual.is_some_and(|o| o.until <= now) {
            m.state.manual = None;
        }
        if m.state.membership.is_some_and(|o| o.until <= now) {
            m.state.membership = None;
            m.renews = false;
        }
        let from = now
            .to_zoned(zone.clone())
            .checked_sub(HISTORY_DAYS.days())
            .map_err(|e| anyhow!("history start: {e}"))?
            .timestamp();
        let history = qualifying_history(tx, loyalty, m.customer_id, from, &[])?;
        let decision = evaluate_tier(
            &history,
            &config,
            &TierState {
                rank: m.state.rank,
                since: m.state.since,
                manual: m.state.manual,
            },
            zone,
            now,
        )
        .map_err(internal)?;
        m.state.apply(&decision, now);
        if let Some(p) = m.state.pending
            && now >= p.notify_at
            && !m.notice_sent()
        {
            let code = |r: usize| config.tiers().get(r).map(|t| t.code.clone());
            let endpoints = store::outbox::active_endpoints(tx)?;
            crate::webhooks::record(
                tx,
                &endpoints,
                DOWNGRADE_NOTICE_TOPIC,
                &json!({
                    "customer_id": m.customer_id,
                    "tier": code(m.state.rank),
                    "to": code(p.to_rank),
                    "effective_at": p.effective_at.to_string(),
                    "qualifying_value": m.state.value_current,
                    "threshold": config.tiers().get(m.state.rank).map(|t| t.threshold),
                }),
                now.as_microsecond(),
                attempts,
            )?;
            m.notice_sent_for = Some(p.effective_at.as_microsecond());
        }
        Ok(m)
    }

    /// Records the fee of a paid tier (a `membership_paid` event, exactly once per payment
    /// id) and joins the member to it for one term, or renews their membership for one more
    /// term after its current end. A replay of the same payment answers the first outcome;
    /// the same payment id with other content is a conflict.
    pub fn pay_membership(
        &self,
        who: &Principal,
        customer_id: i64,
        action: MembershipAction,
        payment: &MembershipPayment,
    ) -> AppResult<Intake<MembershipView>> {
        let reference = domain::ExternalRef::parse(&payment.source, &payment.external_id)?;
        let content = json!({
            "action": action.as_str(),
            "customer_id": customer_id,
            "tier": payment.tier,
        });
        let (body, hash) = crate::canonical::body_and_hash(&content);
        let now = self.now();
        let attempts = self.settings.job_attempts_max;
        self.store.write(|tx| {
            let loyalty = load(tx, &self.settings)?;
            let replayed = |tx: &mut Tx<'_>, e: &store::events::EventRow| {
                crate::intake::replay(e, EventKind::MembershipPaid, &hash, &body, || {
                    membership_view(tx, &loyalty, customer_id, Some(e.id), now)
                })
            };
            if let Some(e) = store::events::find(tx, &reference.source, &reference.external_id)? {
                return replayed(tx, &e);
            }
            if loyalty.version == 0 {
                return Err(FieldError::new("tier", "no loyalty programme is stored").into());
            }
            let (rank, paid) = paid_tier(&loyalty, &payment.tier)?;
            if !store::customers::exists(tx, customer_id)? {
                return Err(AppError::NotFound);
            }
            let mut m = member_for_update(tx, &loyalty, customer_id, now)?;
            let zone = loyalty.programme.zone();
            let active = m.state.membership.filter(|o| now < o.until);
            let until = match (action, active) {
                (MembershipAction::Join, None) => add_months(now, paid.term_months, zone)?,
                (MembershipAction::Join, Some(_)) => {
                    return Err(FieldError::new(
                        "tier",
                        "the member already has an active paid membership: renew it instead",
                    )
                    .into());
                }
                (MembershipAction::Renew, Some(o)) if o.rank == rank && m.renews => {
                    add_months(o.until, paid.term_months, zone)?
                }
                (MembershipAction::Renew, Some(o)) if o.rank == rank => {
                    return Err(FieldError::new(
                        "tier",
                        "the membership was cancelled: it ends at its term; join again after",
                    )
                    .into());
                }
                (MembershipAction::Renew, _) => {
                    return Err(FieldError::new(
                        "tier",
                        "the member has no active membership of this tier to renew",
                    )
                    .into());
                }
            };
            let record = json!({ "request": content, "ends_at": until.to_string() }).to_string();
            let Some(event_id) = store::events::insert(
                tx,
                &NewEvent {
                    source: &reference.source,
                    external_id: &reference.external_id,
                    kind: EventKind::MembershipPaid,
                    customer_id: Some(customer_id),
                    order_event_id: None,
                    occurred_at_micros: now.as_microsecond(),
                    recorded_at_micros: now.as_microsecond(),
                    currency: Some(loyalty.programme.currency().code()),
                    amount_minor: Some(paid.fee_minor),
                    content_hash: &hash,
                    body: &record,
                },
            )?
            else {
                let e = store::events::find(tx, &reference.source, &reference.external_id)?
                    .context("event vanished")?;
                return replayed(tx, &e);
            };
            m.state.membership = Some(TierOverride { rank, until });
            m.renews = true;
            write_members(tx, &loyalty, vec![m], "membership", now, attempts)?;
            store::audit::insert(
                tx,
                now.as_microsecond(),
                &who.actor,
                &format!("loyalty.membership.{}", action.as_str()),
                Some(&format!("customer:{customer_id}")),
                Some(&format!("event={event_id} fee_minor={}", paid.fee_minor)),
            )?;
            Ok(Intake::Accepted(membership_view(
                tx,
                &loyalty,
                customer_id,
                Some(event_id),
                now,
            )?))
        })
    }

    /// Cancels the member's paid membership: it stays until its term ends and is not
    /// renewed. Cancelling a cancelled membership answers the same; none active is refused.
    pub fn cancel_membership(
        &self,
        who: &Principal,
        customer_id: i64,
    ) -> AppResult<MembershipView> {
        let now = self.now();
        let attempts = self.settings.job_attempts_max;
        self.store.write(|tx| {
            let loyalty = load(tx, &self.settings)?;
            if !store::customers::exists(tx, customer_id)? {
                return Err(AppError::NotFound);
            }
            let mut m = member_for_update(tx, &loyalty, customer_id, now)?;
            if m.state.membership.is_none_or(|o| now >= o.until) {
                return Err(FieldError::new(
                    "membership",
                    "the member has no active paid membership",
                )
                .into());
            }
            if m.renews {
                m.renews = false;
                write_members(tx, &loyalty, vec![m], "membership", now, attempts)?;
                store::audit::insert(
                    tx,
                    now.as_microsecond(),
                    &who.actor,
                    "loyalty.membership.cancel",
                    Some(&format!("customer:{customer_id}")),
                    None,
                )?;
            }
            membership_view(tx, &loyalty, customer_id, None, now)
        })
    }
}

fn paid_tier(loyalty: &Loyalty, code: &str) -> AppResult<(usize, PaidMembership)> {
    let tiers = loyalty.tiers.tiers();
    let paid: Vec<&str> = tiers
        .iter()
        .filter(|t| t.paid.is_some())
        .map(|t| t.code.as_str())
        .collect();
    match loyalty
        .tiers
        .rank_of(code)
        .and_then(|r| tiers[r].paid.map(|p| (r, p)))
    {
        Some(found) => Ok(found),
        None if paid.is_empty() => {
            Err(FieldError::new("tier", "the programme has no paid tier").into())
        }
        None => Err(FieldError::new("tier", format!("must be one of {}", paid.join(", "))).into()),
    }
}

fn membership_view(
    tx: &mut Tx<'_>,
    loyalty: &Loyalty,
    customer_id: i64,
    payment_event_id: Option<i64>,
    now: Timestamp,
) -> AppResult<MembershipView> {
    let row = rows::get(tx, customer_id, false)?.context("member row")?;
    let m = Member::from_row(&row, loyalty, now)?;
    let o = m.state.membership.context("membership")?;
    Ok(MembershipView {
        customer_id,
        tier: loyalty
            .tiers
            .tiers()
            .get(o.rank)
            .map(|t| t.code.clone())
            .unwrap_or_default(),
        ends_at: o.until,
        renews: m.renews,
        payment_event_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> TierGroupSettings {
        let tier = |code: &str, threshold: i64, paid: Option<(i64, i64)>| TierSettings {
            code: code.to_owned(),
            threshold,
            earn_multiplier_bp: 10_000,
            free_shipping_threshold_minor: None,
            early_access: false,
            birthday_gift_points: 0,
            paid,
        };
        TierGroupSettings {
            basis: "spend".to_owned(),
            period: "rolling:365".to_owned(),
            downgrade: "to_earned".to_owned(),
            grace_days: 14,
            notice_days: 30,
            tiers: vec![
                tier("member", 0, None),
                tier("silver", 100, None),
                tier("gold", 1_000, Some((99_900, 12))),
            ],
        }
    }

    #[test]
    fn tier_groups_round_trip_through_their_stored_text() {
        let c = tier_config(&settings()).unwrap();
        let again = parse_tiers_json(&tiers_text(&c)).unwrap();
        assert_eq!(again, c);
        assert_eq!(group_settings(&again), settings());
    }

    #[test]
    fn bad_tier_groups_name_the_field() {
        type Change = Box<dyn Fn(&mut TierGroupSettings)>;
        let cases: Vec<(Change, &str)> = vec![
            (Box::new(|s| s.basis = "visits".into()), "basis"),
            (Box::new(|s| s.period = "rolling:x".into()), "period"),
            (Box::new(|s| s.period = "weekly".into()), "period"),
            (Box::new(|s| s.downgrade = "never".into()), "downgrade"),
            (
                Box::new(|s| s.tiers[2].threshold = 100),
                "tiers[2].threshold",
            ),
            (
                Box::new(|s| s.tiers[2].paid = Some((0, 12))),
                "tiers[2].paid.fee_minor",
            ),
            (
                Box::new(|s| s.tiers[2].paid = Some((100, 0))),
                "tiers[2].paid.term_months",
            ),
            (
                Box::new(|s| s.tiers[0].paid = Some((100, 12))),
                "tiers[0].paid",
            ),
            (Box::new(|s| s.grace_days = -1), "grace_days"),
        ];
        for (change, field) in cases {
            let mut s = settings();
            change(&mut s);
            assert_eq!(tier_config(&s).unwrap_err().field, field);
        }
    }
}

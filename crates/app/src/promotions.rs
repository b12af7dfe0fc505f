//! Promotions: stored, versioned forever, applied at intake with exact caps.
//!
//! A promotion is created, changed (each change a new version with its full definition) and
//! ended; the set in force is the latest version of every promotion not ended, loaded with the
//! programme (and cached with it, see [`crate::loyalty::LoyaltyCache`]). Its rule id in a lot's
//! provenance (the lot's `lines` rules) is the promotion id, so a return reverses what the
//! version of the day of purchase gave. Every promotion change first bumps `promotion_revision`,
//! whose row lock serialises changes: the overlap check sees every promotion committed before.
//!
//! Caps: a promotion with a member cap or a budget that gave points in a batch is locked
//! (`promotions` row, `FOR UPDATE` on PostgreSQL; SQLite has one writer) before its usage is
//! read, then the batch is decided again in order with the usage running, and the grants and
//! budget counters are written in the lot's transaction. Batches without such a promotion read
//! nothing more. A return reverses promotion points with the lot's lines but gives no usage
//! back: a cap limits what the promotion grants (as a voucher used on an order that is
//! returned stays used), and refunds stay free of promotion locks.

use crate::{App, AppError, AppResult, Principal};
use anyhow::Context;
use domain::FieldError;
use domain::loyalty::expiry::{local_date, start_of_local_day};
use domain::loyalty::rules::{
    BaseRule, CapPeriod, LocalWindow, MemberCap, Promotion, PromotionEffect, PromotionGrant,
    PromotionUsage, RuleError, RuleRef, RuleSet, Target,
};
use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use std::collections::HashMap;
use store::promotions::{self as rows, Locking, NewGrant, PromotionRow, PromotionVersionRow};
use store::sql::Tx;

/// Promotions and rule versions one list answers with at most.
pub const PROMOTIONS_LIST_MAX: i64 = 500;
/// Rule versions `GET /loyalty/rules` answers with at most.
pub const RULE_VERSIONS_LIST_MAX: i64 = 1_000;
/// A promotion's name, in characters.
pub const PROMOTION_NAME_CHARS_MAX: usize = domain::limits::NAME_CHARS_MAX;
/// Draft promotions one simulation takes.
pub const DRAFT_PROMOTIONS_MAX: usize = domain::loyalty::rules::PROMOTIONS_MAX;
/// The rule id of the first draft promotion without an id in a simulation (drafts count up).
pub const DRAFT_RULE_ID_FIRST: u64 = 1 << 40;

/// Why a promotion change is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PromotionRefusal {
    #[error(
        "promotions {first} and {second} have the same priority and can apply to the same line: give one a higher priority"
    )]
    Overlapping { first: i64, second: i64 },
    #[error("promotion {id} has ended: it cannot change")]
    Ended { id: i64 },
}

/// A promotion as written by a manager (and as a simulation's draft).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PromotionInput {
    /// In a simulation's draft: the stored promotion this draft replaces (its usage counts).
    pub id: Option<i64>,
    pub name: String,
    /// Higher wins; two promotions with one priority may not apply to one line.
    pub priority: i64,
    /// Programme-local `YYYY-MM-DDTHH:MM:SS`, half-open; both or neither.
    pub starts_at: Option<String>,
    pub ends_at: Option<String>,
    /// `all`, `sku:<sku>` or `category:<category>`.
    pub target: String,
    /// `multiplier:<basis points>` (20000: double points) or `points_per_unit:<points>`.
    pub effect: String,
    /// Tier codes; empty for every member.
    pub tiers: Vec<String>,
    pub minimum_spend_minor: i64,
    pub member_cap_points: Option<i64>,
    /// `day`, `month` or `lifetime` (programme-local).
    pub member_cap_period: Option<String>,
    pub budget_points: Option<i64>,
}

/// A stored promotion: its latest version, life and usage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromotionView {
    pub id: i64,
    pub version: i64,
    pub definition: PromotionInput,
    /// `active` or `ended`.
    pub state: &'static str,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub ended_at: Option<Timestamp>,
    /// Points granted so far, every version.
    pub granted_points: i64,
    /// `budget_points − ` what the budget counted; `None` without a budget.
    pub budget_left: Option<i64>,
}

/// One stored version of a promotion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromotionVersionView {
    pub id: i64,
    pub version: i64,
    pub definition: PromotionInput,
    pub created_at: Timestamp,
    pub created_by: String,
}

/// One version of an earning rule: the base rule or a promotion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleVersionView {
    Base {
        rule_id: i64,
        version: i64,
        points: i64,
        per_minor: i64,
        minimum_spend_minor: i64,
        excluded_categories: Vec<String>,
        created_at: Timestamp,
    },
    Promotion(Box<PromotionVersionView>),
}

impl RuleVersionView {
    fn created_at(&self) -> Timestamp {
        match self {
            RuleVersionView::Base { created_at, .. } => *created_at,
            RuleVersionView::Promotion(p) => p.created_at,
        }
    }
}

fn cap_period_text(p: CapPeriod) -> &'static str {
    match p {
        CapPeriod::Day => "day",
        CapPeriod::Month => "month",
        CapPeriod::Lifetime => "lifetime",
    }
}

fn parse_cap_period(s: &str) -> Result<CapPeriod, FieldError> {
    match s {
        "day" => Ok(CapPeriod::Day),
        "month" => Ok(CapPeriod::Month),
        "lifetime" => Ok(CapPeriod::Lifetime),
        _ => Err(FieldError::new(
            "member_cap_period",
            format!("expected day, month or lifetime, got {s:?}"),
        )),
    }
}

fn parse_target(s: &str) -> Result<Target, FieldError> {
    let bad = || {
        FieldError::new(
            "target",
            format!("expected all, sku:<sku> or category:<category>, got {s:?}"),
        )
    };
    match s.split_once(':') {
        None if s == "all" => Ok(Target::AllLines),
        Some(("sku", v)) if !v.is_empty() => Ok(Target::Sku(v.to_owned())),
        Some(("category", v)) if !v.is_empty() => Ok(Target::Category(v.to_owned())),
        _ => Err(bad()),
    }
}

fn target_text(t: &Target) -> String {
    match t {
        Target::AllLines => "all".to_owned(),
        Target::Sku(s) => format!("sku:{s}"),
        Target::Category(c) => format!("category:{c}"),
    }
}

fn parse_effect(s: &str) -> Result<PromotionEffect, FieldError> {
    let bad = || {
        FieldError::new(
            "effect",
            format!("expected multiplier:<basis points> or points_per_unit:<points>, got {s:?}"),
        )
    };
    let (kind, n) = s.split_once(':').ok_or_else(bad)?;
    let n: i64 = n.parse().map_err(|_| bad())?;
    match kind {
        "multiplier" => Ok(PromotionEffect::Multiplier { bp: n }),
        "points_per_unit" => Ok(PromotionEffect::PointsPerUnit { points: n }),
        _ => Err(bad()),
    }
}

fn effect_text(e: PromotionEffect) -> String {
    match e {
        PromotionEffect::Multiplier { bp } => format!("multiplier:{bp}"),
        PromotionEffect::PointsPerUnit { points } => format!("points_per_unit:{points}"),
    }
}

fn parse_local(field: &str, s: &str) -> Result<DateTime, FieldError> {
    let bad = || {
        FieldError::new(
            field,
            format!("must be a programme-local date-time YYYY-MM-DDTHH:MM:SS, got {s:?}"),
        )
    };
    let local = s.parse::<DateTime>().map_err(|_| bad())?;
    // Whole seconds: what is stored is what was checked.
    if local.subsec_nanosecond() != 0 {
        return Err(bad());
    }
    Ok(local)
}

/// The domain's field names for a promotion, in the API's words.
fn api_field(e: FieldError) -> FieldError {
    let field = e
        .field
        .rsplit_once("].")
        .map_or(e.field.as_str(), |(_, f)| f);
    let field = match field {
        "window.ends" => "ends_at",
        "member_cap.points" => "member_cap_points",
        f if f.starts_with("effect.") => "effect",
        f if f.starts_with("target.") => "target",
        f => f,
    };
    FieldError::new(field, e.reason)
}

/// Parses an input into the domain's promotion under rule `rule`; field errors name the
/// input's fields.
fn parse_input(input: &PromotionInput, rule: RuleRef) -> Result<Promotion, FieldError> {
    let window = match (&input.starts_at, &input.ends_at) {
        (None, None) => None,
        (Some(s), Some(e)) => Some(
            LocalWindow::new(parse_local("starts_at", s)?, parse_local("ends_at", e)?).map_err(
                |e| match e {
                    RuleError::Field(f) => api_field(f),
                    other => FieldError::new("ends_at", other.to_string()),
                },
            )?,
        ),
        (Some(_), None) => {
            return Err(FieldError::new(
                "ends_at",
                "give both starts_at and ends_at, or neither",
            ));
        }
        (None, Some(_)) => {
            return Err(FieldError::new(
                "starts_at",
                "give both starts_at and ends_at, or neither",
            ));
        }
    };
    let member_cap = match (input.member_cap_points, &input.member_cap_period) {
        (None, None) => None,
        (Some(points), Some(period)) => Some(MemberCap {
            points,
            period: parse_cap_period(period)?,
        }),
        (Some(_), None) => {
            return Err(FieldError::new(
                "member_cap_period",
                "give member_cap_points and member_cap_period together",
            ));
        }
        (None, Some(_)) => {
            return Err(FieldError::new(
                "member_cap_points",
                "give member_cap_points and member_cap_period together",
            ));
        }
    };
    let priority = i32::try_from(input.priority).map_err(|_| {
        FieldError::new("priority", format!("must be {} to {}", i32::MIN, i32::MAX))
    })?;
    for t in &input.tiers {
        if t.contains(',') {
            return Err(FieldError::new("tiers", "a tier code has no comma"));
        }
    }
    Ok(Promotion {
        rule,
        priority,
        window,
        target: parse_target(&input.target)?,
        effect: parse_effect(&input.effect)?,
        tiers: input.tiers.clone(),
        minimum_spend_minor: input.minimum_spend_minor,
        member_cap,
        budget_points: input.budget_points,
    })
}

fn input_from(row: &PromotionVersionRow) -> PromotionInput {
    PromotionInput {
        id: Some(row.promotion_id),
        name: row.name.clone(),
        priority: row.priority,
        starts_at: row.starts_at_local.clone(),
        ends_at: row.ends_at_local.clone(),
        target: row.target.clone(),
        effect: row.effect.clone(),
        tiers: if row.tiers.is_empty() {
            Vec::new()
        } else {
            row.tiers.split(',').map(str::to_owned).collect()
        },
        minimum_spend_minor: row.minimum_spend_minor,
        member_cap_points: row.member_cap_points,
        member_cap_period: row.member_cap_period.clone(),
        budget_points: row.budget_points,
    }
}

fn rule_of(id: i64, version: i64) -> AppResult<RuleRef> {
    Ok(RuleRef {
        id: u64::try_from(id).context("promotion id")?,
        version: u32::try_from(version).context("promotion version")?,
    })
}

/// A stored version as the domain's promotion (stored rows were checked when written).
fn stored_promotion(row: &PromotionVersionRow) -> AppResult<Promotion> {
    parse_input(&input_from(row), rule_of(row.promotion_id, row.version)?).map_err(|e| {
        AppError::Internal(anyhow::anyhow!(
            "stored promotion {} v{}: {}: {}",
            row.promotion_id,
            row.version,
            e.field,
            e.reason
        ))
    })
}

fn refused(e: RuleError) -> AppError {
    match e {
        RuleError::OverlappingPromotions { first, second } => {
            AppError::PromotionRefused(PromotionRefusal::Overlapping {
                first: first.id as i64,
                second: second.id as i64,
            })
        }
        RuleError::Field(f) => AppError::Invalid(api_field(f)),
        other => FieldError::new("promotion", other.to_string()).into(),
    }
}

/// The rule set in force: `base` and the latest version of every promotion not ended, with the
/// promotion revision it was read at (one statement, one snapshot).
pub(crate) fn rules_in_force(tx: &mut Tx<'_>, base: BaseRule) -> AppResult<(i64, RuleSet)> {
    let (revision, stored) = rows::in_force(tx)?;
    let promotions = stored
        .iter()
        .map(stored_promotion)
        .collect::<AppResult<Vec<_>>>()?;
    let set = RuleSet::new(base, promotions)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("stored rule set: {e}")))?;
    Ok((revision, set))
}

/// Whether a promotion's grants are counted against a cap.
fn capped(p: &Promotion) -> bool {
    p.member_cap.is_some() || p.budget_points.is_some()
}

/// `[start, end)` of the member-cap period containing `at` (micros); `Lifetime` is unbounded.
fn cap_period(period: CapPeriod, at: Timestamp, zone: &TimeZone) -> AppResult<(i64, i64)> {
    let day = local_date(at, zone);
    let (start, next) = match period {
        CapPeriod::Lifetime => return Ok((i64::MIN, i64::MAX)),
        CapPeriod::Day => (day, day.tomorrow().context("next day")?),
        CapPeriod::Month => {
            let first = day.first_of_month();
            (
                first,
                first
                    .checked_add(jiff::Span::new().months(1))
                    .context("next month")?,
            )
        }
    };
    let micros = |d| {
        start_of_local_day(d, zone)
            .map(|t| t.as_microsecond())
            .context("local midnight")
    };
    Ok((micros(start)?, micros(next)?))
}

/// Usage of the capped promotions a batch touches, read under their locks and kept running as
/// the batch is decided in order.
pub(crate) struct BatchUsage {
    /// Capped promotions by rule id: (member cap, has budget).
    capped: HashMap<u64, (Option<MemberCap>, bool)>,
    budget_used: HashMap<u64, i64>,
    /// (placed_at micros, points) by (promotion, customer): stored grants since the earliest
    /// period start the batch needs, then this batch's.
    grants: HashMap<(u64, i64), Vec<(i64, i64)>>,
}

impl BatchUsage {
    /// The capped promotions that would give points in this batch (`grants` as decided without
    /// usage); empty when none — then nothing is read.
    pub(crate) fn touched<'a>(
        rules: &RuleSet,
        grants: impl Iterator<Item = &'a [PromotionGrant]>,
    ) -> Vec<u64> {
        let capped: Vec<u64> = rules
            .promotions()
            .iter()
            .filter(|p| capped(p))
            .map(|p| p.rule.id)
            .collect();
        if capped.is_empty() {
            return capped;
        }
        let mut touched: Vec<u64> = grants
            .flatten()
            .filter(|g| g.uncapped > 0 && capped.contains(&g.rule.id))
            .map(|g| g.rule.id)
            .collect();
        touched.sort_unstable();
        touched.dedup();
        touched
    }

    /// Reads the budgets of promotions `touched` (locking their rows under
    /// [`Locking::ForUpdate`], intake's path; a simulation reads without locks), then the
    /// grants to `customers` (the batch's customers as resolved, including one another
    /// transaction created a moment ago) of those with a member cap since the earliest period
    /// start among `placed` instants.
    pub(crate) fn read(
        tx: &mut Tx<'_>,
        rules: &RuleSet,
        zone: &TimeZone,
        touched: &[u64],
        customers: &[i64],
        placed: &[Timestamp],
        locking: Locking,
    ) -> AppResult<BatchUsage> {
        let ids: Vec<i64> = touched.iter().map(|&id| id as i64).collect();
        let budgets = rows::budgets(tx, &ids, locking)?;
        let capped: HashMap<u64, (Option<MemberCap>, bool)> = rules
            .promotions()
            .iter()
            .filter(|p| touched.contains(&p.rule.id))
            .map(|p| (p.rule.id, (p.member_cap, p.budget_points.is_some())))
            .collect();
        // A version committed after the rules were loaded may have lowered the budget: the
        // stored one, read under the lock, counts too (as points already used).
        let budget_used = budgets
            .into_iter()
            .map(|(id, used, stored)| {
                let loaded = rules
                    .promotions()
                    .iter()
                    .find(|p| p.rule.id as i64 == id)
                    .and_then(|p| p.budget_points);
                let lowered = match (loaded, stored) {
                    (Some(l), Some(s)) => (l - s).max(0),
                    _ => 0,
                };
                (id as u64, used + lowered)
            })
            .collect();
        let mut since = i64::MAX;
        let mut member_ids = Vec::new();
        for (&id, (cap, _)) in &capped {
            if let Some(cap) = cap {
                member_ids.push(id as i64);
                for &at in placed {
                    since = since.min(cap_period(cap.period, at, zone)?.0);
                }
            }
        }
        member_ids.sort_unstable();
        let mut grants: HashMap<(u64, i64), Vec<(i64, i64)>> = HashMap::new();
        if !member_ids.is_empty() && !customers.is_empty() {
            for (p, c, at, points) in rows::member_grants(tx, &member_ids, customers, since)? {
                grants.entry((p as u64, c)).or_default().push((at, points));
            }
        }
        Ok(BatchUsage {
            capped,
            budget_used,
            grants,
        })
    }

    /// What the capped promotions already gave, for an order of `customer` placed at `at`.
    pub(crate) fn for_order(
        &self,
        customer: i64,
        at: Timestamp,
        zone: &TimeZone,
    ) -> AppResult<Vec<PromotionUsage>> {
        let mut out = Vec::with_capacity(self.capped.len());
        for (&id, (cap, _)) in &self.capped {
            let member_used = match cap {
                Some(cap) => {
                    let (from, to) = cap_period(cap.period, at, zone)?;
                    self.grants.get(&(id, customer)).map_or(0, |given| {
                        given
                            .iter()
                            .filter(|&&(at, _)| at >= from && at < to)
                            .map(|&(_, points)| points)
                            .sum()
                    })
                }
                None => 0,
            };
            out.push(PromotionUsage {
                rule_id: id,
                member_used,
                budget_used: self.budget_used.get(&id).copied().unwrap_or(0),
            });
        }
        Ok(out)
    }

    /// Counts an order's grants before the next order is decided.
    pub(crate) fn add(&mut self, customer: i64, at: Timestamp, grants: &[PromotionGrant]) {
        for g in grants.iter().filter(|g| g.granted > 0) {
            let Some((_, has_budget)) = self.capped.get(&g.rule.id) else {
                continue;
            };
            if *has_budget {
                *self.budget_used.entry(g.rule.id).or_default() += g.granted;
            }
            self.grants
                .entry((g.rule.id, customer))
                .or_default()
                .push((at.as_microsecond(), g.granted));
        }
    }
}

/// The grants of one batch's lots and the budget counters to add, to write in its transaction.
pub(crate) fn record(tx: &mut Tx<'_>, rules: &RuleSet, grants: &[NewGrant]) -> AppResult<()> {
    if grants.is_empty() {
        return Ok(());
    }
    let mut budgets: HashMap<i64, i64> = HashMap::new();
    for g in grants {
        let budgeted = rules
            .promotions()
            .iter()
            .any(|p| p.rule.id as i64 == g.promotion_id && p.budget_points.is_some());
        if budgeted {
            *budgets.entry(g.promotion_id).or_default() += g.points;
        }
    }
    let mut budgets: Vec<(i64, i64)> = budgets.into_iter().collect();
    budgets.sort_unstable();
    rows::record_grants(tx, grants, &budgets)?;
    Ok(())
}

fn version_view(row: &PromotionVersionRow) -> PromotionVersionView {
    PromotionVersionView {
        id: row.promotion_id,
        version: row.version,
        definition: input_from(row),
        created_at: row.created_at,
        created_by: row.created_by.clone(),
    }
}

fn promotion_view(tx: &mut Tx<'_>, row: &PromotionRow) -> AppResult<PromotionView> {
    let id = row.latest.promotion_id;
    Ok(PromotionView {
        id,
        version: row.latest.version,
        definition: input_from(&row.latest),
        state: if row.ended_at.is_some() {
            "ended"
        } else {
            "active"
        },
        created_at: row.created_at,
        updated_at: row.latest.created_at,
        ended_at: row.ended_at,
        granted_points: rows::granted(tx, id)?,
        budget_left: row.latest.budget_points.map(|b| b - row.budget_used),
    })
}

impl App {
    /// Checks `input` as promotion `id` (a new one: the id it will get) against the promotions in force and
    /// the programme's tiers; returns the row to store. Runs after the revision lock.
    fn check_promotion(
        &self,
        tx: &mut Tx<'_>,
        id: i64,
        input: &PromotionInput,
        who: &Principal,
        now: Timestamp,
    ) -> AppResult<PromotionVersionRow> {
        let name = input.name.trim();
        if name.is_empty()
            || name.chars().count() > PROMOTION_NAME_CHARS_MAX
            || name.chars().any(char::is_control)
        {
            return Err(FieldError::new(
                "name",
                format!(
                    "must be 1 to {PROMOTION_NAME_CHARS_MAX} characters without control characters"
                ),
            )
            .into());
        }
        if input.id.is_some_and(|i| i != id) {
            return Err(FieldError::new(
                "id",
                "only a simulation's draft names a promotion; the path names this one",
            )
            .into());
        }
        let loyalty = crate::loyalty::load(tx, &self.settings)?;
        if loyalty.version == 0 {
            return Err(FieldError::new("programme", "no loyalty programme is stored").into());
        }
        let codes: Vec<&str> = loyalty
            .tiers
            .tiers()
            .iter()
            .map(|t| t.code.as_str())
            .collect();
        if let Some(t) = input.tiers.iter().find(|t| !codes.contains(&t.as_str())) {
            return Err(FieldError::new(
                "tiers",
                format!(
                    "{t:?} is not one of the programme's tiers ({})",
                    codes.join(", ")
                ),
            )
            .into());
        }
        let rule = rule_of(id, 1)?;
        let promotion = parse_input(input, rule)?;
        let mut set: Vec<Promotion> = loyalty
            .rules
            .promotions()
            .iter()
            .filter(|p| p.rule.id as i64 != id)
            .cloned()
            .collect();
        set.push(promotion.clone());
        RuleSet::new(loyalty.rules.base().clone(), set).map_err(refused)?;
        let window_text =
            |d: Option<DateTime>| d.map(|d| d.strftime("%Y-%m-%dT%H:%M:%S").to_string());
        Ok(PromotionVersionRow {
            promotion_id: id,
            version: 0,
            name: name.to_owned(),
            priority: i64::from(promotion.priority),
            starts_at_local: window_text(promotion.window.map(|w| w.starts)),
            ends_at_local: window_text(promotion.window.map(|w| w.ends)),
            target: target_text(&promotion.target),
            effect: effect_text(promotion.effect),
            tiers: promotion.tiers.join(","),
            minimum_spend_minor: promotion.minimum_spend_minor,
            member_cap_points: promotion.member_cap.map(|c| c.points),
            member_cap_period: promotion
                .member_cap
                .map(|c| cap_period_text(c.period).to_owned()),
            budget_points: promotion.budget_points,
            created_at: now,
            created_by: who.actor.clone(),
        })
    }

    /// Stores a new promotion (version 1). Refused with nothing written when a field is
    /// invalid, no programme is stored, or it overlaps a promotion of the same priority.
    pub fn create_promotion(
        &self,
        who: &Principal,
        input: &PromotionInput,
    ) -> AppResult<PromotionView> {
        if input.id.is_some() {
            return Err(FieldError::new("id", "a new promotion gets its id when stored").into());
        }
        let now = self.now();
        self.store.write(|tx| {
            rows::bump_revision(tx)?;
            let id = rows::next_promotion_id(tx)?;
            let row = self.check_promotion(tx, id, input, who, now)?;
            rows::insert_promotion(tx, id, &row)?;
            store::audit::insert(
                tx,
                now.as_microsecond(),
                &who.actor,
                "loyalty.promotion.create",
                Some(&format!("promotion:{id}:1")),
                None,
            )?;
            let row = rows::promotion(tx, id)?.context("promotion just written")?;
            promotion_view(tx, &row)
        })
    }

    /// Stores a new version of promotion `id`; lots earned under earlier versions keep naming
    /// them. Refused like a creation, and when the promotion has ended or the new budget is
    /// below what the promotion already granted.
    pub fn update_promotion(
        &self,
        who: &Principal,
        id: i64,
        input: &PromotionInput,
    ) -> AppResult<PromotionView> {
        let now = self.now();
        self.store.write(|tx| {
            rows::bump_revision(tx)?;
            let current = rows::promotion(tx, id)?.ok_or(AppError::NotFound)?;
            if current.ended_at.is_some() {
                return Err(AppError::PromotionRefused(PromotionRefusal::Ended { id }));
            }
            let row = self.check_promotion(tx, id, input, who, now)?;
            if let Some(budget) = row.budget_points {
                let used = match current.latest.budget_points {
                    Some(_) => current.budget_used,
                    None => rows::granted(tx, id)?,
                };
                if budget < used {
                    return Err(FieldError::new(
                        "budget_points",
                        format!("the promotion already granted {used} points"),
                    )
                    .into());
                }
            }
            let version = rows::insert_version(tx, id, &row)?;
            store::audit::insert(
                tx,
                now.as_microsecond(),
                &who.actor,
                "loyalty.promotion.version",
                Some(&format!("promotion:{id}:{version}")),
                None,
            )?;
            let row = rows::promotion(tx, id)?.context("promotion just written")?;
            promotion_view(tx, &row)
        })
    }

    /// Ends promotion `id`: orders recorded from now on do not get it. Ending twice is refused.
    pub fn end_promotion(&self, who: &Principal, id: i64) -> AppResult<PromotionView> {
        let now = self.now();
        self.store.write(|tx| {
            rows::bump_revision(tx)?;
            rows::promotion(tx, id)?.ok_or(AppError::NotFound)?;
            if !rows::end_promotion(tx, id, &who.actor, now.as_microsecond())? {
                return Err(AppError::PromotionRefused(PromotionRefusal::Ended { id }));
            }
            store::audit::insert(
                tx,
                now.as_microsecond(),
                &who.actor,
                "loyalty.promotion.end",
                Some(&format!("promotion:{id}")),
                None,
            )?;
            let row = rows::promotion(tx, id)?.context("promotion just written")?;
            promotion_view(tx, &row)
        })
    }

    /// Promotion `id` with its usage.
    pub fn promotion(&self, id: i64) -> AppResult<PromotionView> {
        self.store.read(|tx| {
            let row = rows::promotion(tx, id)?.ok_or(AppError::NotFound)?;
            promotion_view(tx, &row)
        })
    }

    /// Promotions, newest first (at most [`PROMOTIONS_LIST_MAX`]).
    pub fn promotions(&self) -> AppResult<Vec<PromotionView>> {
        self.store.read(|tx| {
            rows::list(tx, PROMOTIONS_LIST_MAX)?
                .iter()
                .map(|r| promotion_view(tx, r))
                .collect()
        })
    }

    /// Every version of promotion `id`, newest first.
    pub fn promotion_versions(&self, id: i64) -> AppResult<Vec<PromotionVersionView>> {
        self.store.read(|tx| {
            rows::promotion(tx, id)?.ok_or(AppError::NotFound)?;
            Ok(rows::versions(tx, Some(id), PROMOTIONS_LIST_MAX)?
                .iter()
                .map(version_view)
                .collect())
        })
    }

    /// Every version of the base rule and of every promotion, newest first (at most
    /// [`RULE_VERSIONS_LIST_MAX`]).
    pub fn rule_versions(&self) -> AppResult<Vec<RuleVersionView>> {
        self.store.read(|tx| {
            let mut out: Vec<RuleVersionView> =
                rows::base_rule_versions(tx, RULE_VERSIONS_LIST_MAX)?
                    .into_iter()
                    .map(|r| RuleVersionView::Base {
                        rule_id: r.rule_id,
                        version: r.version,
                        points: r.points,
                        per_minor: r.per_minor,
                        minimum_spend_minor: r.minimum_spend_minor,
                        excluded_categories: r.excluded_categories,
                        created_at: r.created_at,
                    })
                    .collect();
            out.extend(
                rows::versions(tx, None, RULE_VERSIONS_LIST_MAX)?
                    .iter()
                    .map(|r| RuleVersionView::Promotion(Box::new(version_view(r)))),
            );
            // Stable: within one instant the base rule's versions come before promotions'.
            out.sort_by_key(|v| std::cmp::Reverse(v.created_at()));
            out.truncate(RULE_VERSIONS_LIST_MAX as usize);
            Ok(out)
        })
    }
}

/// The rule set a simulation runs: the stored one, or `base` with the draft promotions, each
/// under its stored id (version: the next) or a draft id from [`DRAFT_RULE_ID_FIRST`].
pub(crate) fn draft_rules(
    tx: &mut Tx<'_>,
    base: &BaseRule,
    draft: &[PromotionInput],
) -> AppResult<RuleSet> {
    if draft.len() > DRAFT_PROMOTIONS_MAX {
        return Err(FieldError::new(
            "promotions",
            format!("at most {DRAFT_PROMOTIONS_MAX} promotions"),
        )
        .into());
    }
    let mut promotions = Vec::with_capacity(draft.len());
    let mut next_draft = DRAFT_RULE_ID_FIRST;
    for (i, d) in draft.iter().enumerate() {
        let rule = match d.id {
            Some(id) => {
                let stored = rows::promotion(tx, id)?.ok_or_else(|| {
                    FieldError::new(format!("promotions[{i}].id"), "no such promotion")
                })?;
                rule_of(id, stored.latest.version + 1)?
            }
            None => {
                next_draft += 1;
                RuleRef {
                    id: next_draft - 1,
                    version: 1,
                }
            }
        };
        promotions.push(parse_input(d, rule).map_err(|e| e.within(&format!("promotions[{i}]")))?);
    }
    RuleSet::new(base.clone(), promotions).map_err(|e| match e {
        RuleError::Field(f) => AppError::Invalid(f),
        other => refused(other),
    })
}

/// The usage a simulation for `customer` (or anyone) at `at` sees: read without locks.
pub(crate) fn simulation_usage(
    tx: &mut Tx<'_>,
    rules: &RuleSet,
    zone: &TimeZone,
    customer: Option<i64>,
    at: Timestamp,
) -> AppResult<Vec<PromotionUsage>> {
    let stored: Vec<u64> = rules
        .promotions()
        .iter()
        .filter(|p| capped(p) && p.rule.id < DRAFT_RULE_ID_FIRST)
        .map(|p| p.rule.id)
        .collect();
    if stored.is_empty() {
        return Ok(Vec::new());
    }
    let customers: Vec<i64> = customer.into_iter().collect();
    let usage = BatchUsage::read(
        tx,
        rules,
        zone,
        &stored,
        &customers,
        &[at],
        Locking::Unlocked,
    )?;
    usage.for_order(customer.unwrap_or(0), at, zone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_round_trip_through_their_text() {
        for t in ["all", "sku:TEA-01", "category:茶葉", "sku:a:b"] {
            assert_eq!(target_text(&parse_target(t).unwrap()), t);
        }
        for e in ["multiplier:20000", "points_per_unit:5"] {
            assert_eq!(effect_text(parse_effect(e).unwrap()), e);
        }
        for p in ["day", "month", "lifetime"] {
            assert_eq!(cap_period_text(parse_cap_period(p).unwrap()), p);
        }
    }

    #[test]
    fn bad_definitions_name_their_field() {
        for t in ["", "sku:", "skus:A", "category", "ALL"] {
            assert_eq!(parse_target(t).unwrap_err().field, "target", "{t:?}");
        }
        for e in ["", "triple", "multiplier:", "multiplier:x", "bonus:5"] {
            assert_eq!(parse_effect(e).unwrap_err().field, "effect", "{e:?}");
        }
        assert_eq!(
            parse_cap_period("week").unwrap_err().field,
            "member_cap_period"
        );
        assert_eq!(
            parse_local("ends_at", "2026-04-01T00:00:00.5")
                .unwrap_err()
                .field,
            "ends_at"
        );
        let rule = RuleRef {
            id: 100_001,
            version: 1,
        };
        let base = PromotionInput {
            name: "x".into(),
            target: "all".into(),
            effect: "multiplier:20000".into(),
            ..PromotionInput::default()
        };
        let backwards = PromotionInput {
            starts_at: Some("2026-04-01T00:00:00".into()),
            ends_at: Some("2026-04-01T00:00:00".into()),
            ..base.clone()
        };
        assert_eq!(parse_input(&backwards, rule).unwrap_err().field, "ends_at");
        let half_cap = PromotionInput {
            member_cap_points: Some(5),
            ..base.clone()
        };
        assert_eq!(
            parse_input(&half_cap, rule).unwrap_err().field,
            "member_cap_period"
        );
        // Domain field names come back in the API's words.
        assert_eq!(
            api_field(FieldError::new("promotions[3].effect.multiplier_bp", "r")).field,
            "effect"
        );
        assert_eq!(
            api_field(FieldError::new("member_cap.points", "r")).field,
            "member_cap_points"
        );
    }

    #[test]
    fn cap_periods_are_programme_local() {
        let zone = TimeZone::get("Asia/Taipei").unwrap();
        // 2026-03-31 23:59:59 and 2026-04-01 00:00:00 in Taipei.
        let last: Timestamp = "2026-03-31T15:59:59Z".parse().unwrap();
        let first: Timestamp = "2026-03-31T16:00:00Z".parse().unwrap();
        let march = cap_period(CapPeriod::Month, last, &zone).unwrap();
        let april = cap_period(CapPeriod::Month, first, &zone).unwrap();
        assert_eq!(march.1, first.as_microsecond());
        assert_eq!(april.0, first.as_microsecond());
        assert_eq!(
            march.0,
            "2026-02-28T16:00:00Z"
                .parse::<Timestamp>()
                .unwrap()
                .as_microsecond()
        );
        let day = cap_period(CapPeriod::Day, last, &zone).unwrap();
        assert_eq!(day.1 - day.0, 86_400_000_000);
        assert_eq!(
            cap_period(CapPeriod::Lifetime, last, &zone).unwrap(),
            (i64::MIN, i64::MAX)
        );
    }
}

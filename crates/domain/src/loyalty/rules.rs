//! Earning rules and promotions: what an order earns, line by line, with provenance.
//!
//! A [`RuleSet`] is one base rule (points per currency unit, a minimum spend, excluded
//! categories) and the promotions in force; every rule is identified by id **and version**
//! ([`RuleRef`]) and a lot records the versions that earned it, so a return is reversed by the
//! rules of the day of purchase, never today's.
//!
//! Rounding policy (sum of line earns = order earn, by construction):
//! - **Base points** are the order-level floor, `floor(eligible_total × points / per_minor)`
//!   (the existing [`EarnRule::earn`]), then split over the eligible lines in proportion to
//!   their totals by **largest remainder, ties to the lower line index**
//!   ([`allocate_largest_remainder`]). A member never loses a point to per-line flooring.
//! - **Each bonus** (one per promotion, one for the tier) is computed the same way: the exact
//!   bonus over its lines in `i128`, floored once, split by largest remainder.
//! - A line's earn is base + its bonuses; the order's earn is the sum of the line earns.
//!
//! Precedence: at most one promotion applies to a line — the one with the **highest priority,
//! then the lowest rule id**. Two promotions with the same priority that could both apply to
//! one line (overlapping windows, targets and tiers) are refused when the set is built, so the
//! tie-break is only ever a tidy fallback. Multipliers apply to the base points of the line;
//! the tier multiplier applies to base points too (bonuses do not compound).
//!
//! Promotion windows are programme-local date-times, half-open `[starts, ends)`: a promotion
//! from 2026-03-01 00:00 Asia/Taipei starts at 2026-02-28T16:00:00Z. Caps per member per period
//! and global budgets take the amounts already used as inputs (the caller reads them under the
//! same lock it writes the earn with) and report what was granted and what was capped.
//!
//! Non-purchase points (sign-up, birthday, anniversary, referral, review, survey, custom) are
//! free points: they carry no revenue (see `accounting`).

use crate::FieldError;
use crate::ledger::EarnRule;
use crate::limits::{POSTING_POINTS_MAX, SKU_BYTES_MAX};
use crate::loyalty::accounting::RevenueClass;
use crate::loyalty::allocate_largest_remainder;
use crate::loyalty::expiry::{local_date, start_of_local_day};
use crate::loyalty::lots::LinePoints;
use crate::order::{Order, OrderLine};
use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;

/// A multiplier of exactly 1×, in basis points.
pub const MULTIPLIER_BP_ONE: i64 = 10_000;
/// Largest multiplier, in basis points (100×).
pub const MULTIPLIER_BP_MAX: i64 = 1_000_000;
/// Promotions in one rule set.
pub const PROMOTIONS_MAX: usize = 200;
/// Tiers one promotion may target.
pub const PROMOTION_TIERS_MAX: usize = 20;
/// Excluded categories of the base rule.
pub const EXCLUDED_CATEGORIES_MAX: usize = 100;
/// Largest fixed points per unit a promotion may give.
pub const POINTS_PER_UNIT_MAX: i64 = 1_000_000;

/// A rule's identity: id and version. Versions are kept forever; a set holds one version of
/// each rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RuleRef {
    pub id: u64,
    pub version: u32,
}

/// Why a rule set, a rule or an evaluation is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("{0}")]
    Field(FieldError),
    #[error("rule {id} appears more than once in the set")]
    DuplicateRule { id: u64 },
    #[error(
        "promotions {first:?} and {second:?} have the same priority and can apply to the same line: give one a higher priority"
    )]
    OverlappingPromotions { first: RuleRef, second: RuleRef },
    #[error("the order is in {order}, the programme in {programme}")]
    CurrencyMismatch {
        order: &'static str,
        programme: &'static str,
    },
    #[error("amounts too large to compute")]
    Overflow,
}

impl From<FieldError> for RuleError {
    fn from(e: FieldError) -> Self {
        RuleError::Field(e)
    }
}

fn check_text(field: &str, v: &str) -> Result<String, RuleError> {
    let v = v.trim();
    if v.is_empty() || v.len() > SKU_BYTES_MAX || v.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            format!("must be 1 to {SKU_BYTES_MAX} bytes without control characters"),
        )
        .into());
    }
    Ok(v.to_owned())
}

fn check_multiplier(field: &str, bp: i64) -> Result<i64, RuleError> {
    if !(MULTIPLIER_BP_ONE..=MULTIPLIER_BP_MAX).contains(&bp) {
        return Err(FieldError::new(
            field,
            format!("must be {MULTIPLIER_BP_ONE} to {MULTIPLIER_BP_MAX} basis points"),
        )
        .into());
    }
    Ok(bp)
}

fn check_amount(field: &str, v: i64) -> Result<i64, RuleError> {
    if !(0..=POSTING_POINTS_MAX).contains(&v) {
        return Err(FieldError::new(field, format!("must be 0 to {POSTING_POINTS_MAX}")).into());
    }
    Ok(v)
}

/// Points per currency unit on eligible lines, above a minimum spend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseRule {
    pub rule: RuleRef,
    pub earn: EarnRule,
    /// Orders whose eligible total is below this earn nothing from the base rule.
    pub minimum_spend_minor: i64,
    /// Lines in these categories earn nothing (gift cards, delivery …).
    pub excluded_categories: Vec<String>,
}

/// Which lines a promotion applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    AllLines,
    Sku(String),
    Category(String),
}

impl Target {
    fn matches(&self, line: &OrderLine) -> bool {
        match self {
            Target::AllLines => true,
            Target::Sku(s) => line.sku == *s,
            Target::Category(c) => line.category.as_deref() == Some(c.as_str()),
        }
    }

    /// Whether some line could match both (a SKU may be in any category).
    fn overlaps(&self, other: &Target) -> bool {
        match (self, other) {
            (Target::Sku(a), Target::Sku(b)) | (Target::Category(a), Target::Category(b)) => a == b,
            _ => true,
        }
    }
}

/// What a promotion adds to the lines it wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromotionEffect {
    /// Base points × multiplier (basis points: 20,000 = double points).
    Multiplier { bp: i64 },
    /// Fixed points per unit bought.
    PointsPerUnit { points: i64 },
}

/// A half-open programme-local window `[starts, ends)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalWindow {
    pub starts: DateTime,
    pub ends: DateTime,
}

impl LocalWindow {
    pub fn new(starts: DateTime, ends: DateTime) -> Result<LocalWindow, RuleError> {
        if ends <= starts {
            return Err(FieldError::new("window.ends", "must be after window.starts").into());
        }
        Ok(LocalWindow { starts, ends })
    }

    /// Whether `at`, read in `zone`, falls inside the window.
    pub fn contains(&self, at: Timestamp, zone: &TimeZone) -> bool {
        let local = zone.to_datetime(at);
        self.starts <= local && local < self.ends
    }

    fn overlaps(&self, other: &LocalWindow) -> bool {
        self.starts < other.ends && other.starts < self.ends
    }
}

/// The period a per-member cap counts over, in programme-local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapPeriod {
    Day,
    Month,
    /// The promotion's whole life.
    Lifetime,
}

/// The start of the cap period containing `at`; `None` for `Lifetime` (count from the start).
/// Callers sum the member's grants since then and pass them in [`PromotionUsage`].
pub fn cap_period_start(period: CapPeriod, at: Timestamp, zone: &TimeZone) -> Option<Timestamp> {
    let day = local_date(at, zone);
    match period {
        CapPeriod::Day => start_of_local_day(day, zone),
        CapPeriod::Month => start_of_local_day(day.first_of_month(), zone),
        CapPeriod::Lifetime => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberCap {
    pub points: i64,
    pub period: CapPeriod,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promotion {
    pub rule: RuleRef,
    /// Higher wins.
    pub priority: i32,
    pub window: Option<LocalWindow>,
    pub target: Target,
    pub effect: PromotionEffect,
    /// Tier codes the promotion is for; empty for every member.
    pub tiers: Vec<String>,
    /// The order's eligible total must reach this.
    pub minimum_spend_minor: i64,
    pub member_cap: Option<MemberCap>,
    /// Points the promotion may give in total, across members.
    pub budget_points: Option<i64>,
}

impl Promotion {
    fn check(&self) -> Result<(), RuleError> {
        match &self.target {
            Target::AllLines => {}
            Target::Sku(s) => {
                check_text("target.sku", s)?;
            }
            Target::Category(c) => {
                check_text("target.category", c)?;
            }
        }
        match self.effect {
            PromotionEffect::Multiplier { bp } => {
                check_multiplier("effect.multiplier_bp", bp)?;
            }
            PromotionEffect::PointsPerUnit { points } => {
                if !(1..=POINTS_PER_UNIT_MAX).contains(&points) {
                    return Err(FieldError::new(
                        "effect.points_per_unit",
                        format!("must be 1 to {POINTS_PER_UNIT_MAX}"),
                    )
                    .into());
                }
            }
        }
        if self.tiers.len() > PROMOTION_TIERS_MAX {
            return Err(
                FieldError::new("tiers", format!("at most {PROMOTION_TIERS_MAX} tiers")).into(),
            );
        }
        for t in &self.tiers {
            check_text("tiers", t)?;
        }
        check_amount("minimum_spend_minor", self.minimum_spend_minor)?;
        if let Some(cap) = self.member_cap {
            check_amount("member_cap.points", cap.points)?;
        }
        if let Some(budget) = self.budget_points {
            check_amount("budget_points", budget)?;
        }
        if let Some(w) = self.window
            && w.ends <= w.starts
        {
            return Err(FieldError::new("window.ends", "must be after window.starts").into());
        }
        Ok(())
    }

    fn overlaps(&self, other: &Promotion) -> bool {
        let windows = match (&self.window, &other.window) {
            (Some(a), Some(b)) => a.overlaps(b),
            _ => true,
        };
        let tiers = self.tiers.is_empty()
            || other.tiers.is_empty()
            || self.tiers.iter().any(|t| other.tiers.contains(t));
        windows && tiers && self.target.overlaps(&other.target)
    }

    fn applies(&self, line: &OrderLine, ctx: &EarnContext, eligible_total: i64) -> bool {
        self.window
            .is_none_or(|w| w.contains(ctx.placed_at, &ctx.zone))
            && (self.tiers.is_empty()
                || ctx
                    .tier
                    .as_ref()
                    .is_some_and(|t| self.tiers.contains(&t.tier)))
            && eligible_total >= self.minimum_spend_minor
            && self.target.matches(line)
    }
}

/// A validated rule set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSet {
    base: BaseRule,
    promotions: Vec<Promotion>,
}

impl RuleSet {
    pub fn new(base: BaseRule, promotions: Vec<Promotion>) -> Result<RuleSet, RuleError> {
        check_amount("base.minimum_spend_minor", base.minimum_spend_minor)?;
        if base.excluded_categories.len() > EXCLUDED_CATEGORIES_MAX {
            return Err(FieldError::new(
                "base.excluded_categories",
                format!("at most {EXCLUDED_CATEGORIES_MAX}"),
            )
            .into());
        }
        for c in &base.excluded_categories {
            check_text("base.excluded_categories", c)?;
        }
        if promotions.len() > PROMOTIONS_MAX {
            return Err(FieldError::new(
                "promotions",
                format!("at most {PROMOTIONS_MAX} promotions"),
            )
            .into());
        }
        for (i, p) in promotions.iter().enumerate() {
            p.check().map_err(|e| match e {
                RuleError::Field(f) => RuleError::Field(f.within(&format!("promotions[{i}]"))),
                other => other,
            })?;
            if p.rule.id == base.rule.id {
                return Err(RuleError::DuplicateRule { id: p.rule.id });
            }
        }
        for (i, a) in promotions.iter().enumerate() {
            for b in &promotions[i + 1..] {
                if a.rule.id == b.rule.id {
                    return Err(RuleError::DuplicateRule { id: a.rule.id });
                }
                if a.priority == b.priority && a.overlaps(b) {
                    let (first, second) = if a.rule <= b.rule {
                        (a.rule, b.rule)
                    } else {
                        (b.rule, a.rule)
                    };
                    return Err(RuleError::OverlappingPromotions { first, second });
                }
            }
        }
        let mut promotions = promotions;
        // Evaluation order is the precedence order: priority descending, then rule id.
        promotions.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.rule.cmp(&b.rule)));
        Ok(RuleSet { base, promotions })
    }

    pub fn base(&self) -> &BaseRule {
        &self.base
    }

    /// In precedence order.
    pub fn promotions(&self) -> &[Promotion] {
        &self.promotions
    }
}

/// The member's tier multiplier, from the tier's benefits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierEarn {
    pub tier: String,
    pub rule: RuleRef,
    pub multiplier_bp: i64,
}

/// What a promotion has already given: to this member in the current cap period, and to all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PromotionUsage {
    pub rule_id: u64,
    pub member_used: i64,
    pub budget_used: i64,
}

/// Everything an evaluation needs besides the order and the rules.
#[derive(Debug, Clone)]
pub struct EarnContext {
    pub placed_at: Timestamp,
    pub zone: TimeZone,
    pub tier: Option<TierEarn>,
    pub usage: Vec<PromotionUsage>,
}

/// Which rule produced a part of a line's points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComponentKind {
    Base,
    Promotion,
    Tier,
}

/// One rule's contribution to one line: what it was applied to and what it gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EarnComponent {
    pub rule: RuleRef,
    pub kind: ComponentKind,
    /// The line total for the base rule; the line's base points for multipliers; the units for
    /// points per unit.
    pub basis: i64,
    /// Basis points; `MULTIPLIER_BP_ONE` for the base rule and points per unit.
    pub multiplier_bp: i64,
    pub points: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineEarn {
    pub line: usize,
    pub points: i64,
    pub components: Vec<EarnComponent>,
}

/// A promotion's total for the order before and after its caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PromotionGrant {
    pub rule: RuleRef,
    pub uncapped: i64,
    pub granted: i64,
    pub capped: i64,
}

/// What an order earns: the total, each line with its provenance, each promotion's grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EarnPlan {
    pub points: i64,
    pub lines: Vec<LineEarn>,
    pub promotions: Vec<PromotionGrant>,
    /// The eligible total was below the base rule's minimum spend.
    pub below_minimum_spend: bool,
    pub revenue: RevenueClass,
}

impl EarnPlan {
    /// The per-line provenance a lot keeps for reversals.
    pub fn line_points(&self, order: &Order) -> Vec<LinePoints> {
        self.lines
            .iter()
            .filter(|l| l.points > 0)
            .map(|l| LinePoints {
                line: l.line,
                quantity: order.lines.get(l.line).map_or(0, |o| o.quantity),
                points: l.points,
                rules: l.components.iter().map(|c| c.rule).collect(),
            })
            .collect()
    }
}

/// `floor(Σ weights / divisor)` split over the weights by largest remainder.
fn split_floor(weights: &[i128], divisor: i128) -> Result<Vec<i64>, RuleError> {
    let sum = weights
        .iter()
        .try_fold(0_i128, |s, &w| s.checked_add(w))
        .ok_or(RuleError::Overflow)?;
    let total = i64::try_from(sum / divisor).map_err(|_| RuleError::Overflow)?;
    Ok(allocate_largest_remainder(total, weights))
}

/// What `order` would earn under `rules` in `ctx` — the simulation, and the earn itself.
pub fn simulate(order: &Order, rules: &RuleSet, ctx: &EarnContext) -> Result<EarnPlan, RuleError> {
    let n = order.lines.len();
    let eligible: Vec<bool> = order
        .lines
        .iter()
        .map(|l| {
            l.category
                .as_ref()
                .is_none_or(|c| !rules.base.excluded_categories.contains(c))
        })
        .collect();
    let eligible_total = order
        .lines
        .iter()
        .zip(&eligible)
        .filter(|(_, e)| **e)
        .try_fold(0_i64, |s, (l, _)| s.checked_add(l.total_minor()))
        .ok_or(RuleError::Overflow)?;
    let mut lines: Vec<LineEarn> = (0..n)
        .map(|line| LineEarn {
            line,
            points: 0,
            components: Vec::new(),
        })
        .collect();
    let below_minimum_spend = eligible_total < rules.base.minimum_spend_minor;
    if below_minimum_spend {
        return Ok(EarnPlan {
            points: 0,
            lines,
            promotions: Vec::new(),
            below_minimum_spend,
            revenue: RevenueClass::Purchase,
        });
    }

    // Base points: order-level floor, split by line totals.
    let base_total = rules.base.earn.earn(eligible_total);
    let weights: Vec<i128> = order
        .lines
        .iter()
        .zip(&eligible)
        .map(|(l, &e)| if e { i128::from(l.total_minor()) } else { 0 })
        .collect();
    let base = if base_total > 0 {
        allocate_largest_remainder(base_total, &weights)
    } else {
        vec![0; n]
    };
    for (i, line) in lines.iter_mut().enumerate() {
        if eligible[i] {
            line.components.push(EarnComponent {
                rule: rules.base.rule,
                kind: ComponentKind::Base,
                basis: order.lines[i].total_minor(),
                multiplier_bp: MULTIPLIER_BP_ONE,
                points: base[i],
            });
        }
    }

    // The winning promotion of each line: the first applicable one in precedence order.
    let winner: Vec<Option<usize>> = order
        .lines
        .iter()
        .zip(&eligible)
        .map(|(l, &e)| {
            if !e {
                return None;
            }
            rules
                .promotions
                .iter()
                .position(|p| p.applies(l, ctx, eligible_total))
        })
        .collect();
    let mut grants = Vec::new();
    for (pi, promotion) in rules.promotions.iter().enumerate() {
        let won: Vec<usize> = (0..n).filter(|&i| winner[i] == Some(pi)).collect();
        if won.is_empty() {
            continue;
        }
        let (line_weights, divisor, multiplier_bp) = match promotion.effect {
            PromotionEffect::Multiplier { bp } => (
                won.iter()
                    .map(|&i| i128::from(base[i]) * i128::from(bp - MULTIPLIER_BP_ONE))
                    .collect::<Vec<_>>(),
                i128::from(MULTIPLIER_BP_ONE),
                bp,
            ),
            PromotionEffect::PointsPerUnit { points } => (
                won.iter()
                    .map(|&i| i128::from(order.lines[i].quantity) * i128::from(points))
                    .collect(),
                1,
                MULTIPLIER_BP_ONE,
            ),
        };
        let uncapped_lines = split_floor(&line_weights, divisor)?;
        let uncapped: i64 = uncapped_lines.iter().sum();
        let usage = ctx.usage.iter().find(|u| u.rule_id == promotion.rule.id);
        let member_left = promotion
            .member_cap
            .map(|c| (c.points - usage.map_or(0, |u| u.member_used)).max(0));
        let budget_left = promotion
            .budget_points
            .map(|b| (b - usage.map_or(0, |u| u.budget_used)).max(0));
        let allowed = [member_left, budget_left]
            .into_iter()
            .flatten()
            .fold(uncapped, i64::min);
        let granted_lines = if allowed < uncapped {
            let w: Vec<i128> = uncapped_lines.iter().map(|&p| i128::from(p)).collect();
            allocate_largest_remainder(allowed, &w)
        } else {
            uncapped_lines
        };
        for (k, &i) in won.iter().enumerate() {
            lines[i].components.push(EarnComponent {
                rule: promotion.rule,
                kind: ComponentKind::Promotion,
                basis: match promotion.effect {
                    PromotionEffect::Multiplier { .. } => base[i],
                    PromotionEffect::PointsPerUnit { .. } => order.lines[i].quantity,
                },
                multiplier_bp,
                points: granted_lines[k],
            });
        }
        grants.push(PromotionGrant {
            rule: promotion.rule,
            uncapped,
            granted: allowed,
            capped: uncapped - allowed,
        });
    }

    // Tier bonus on base points.
    if let Some(tier) = &ctx.tier {
        let bp = check_multiplier("tier.multiplier_bp", tier.multiplier_bp)?;
        if bp > MULTIPLIER_BP_ONE {
            let w: Vec<i128> = base
                .iter()
                .map(|&b| i128::from(b) * i128::from(bp - MULTIPLIER_BP_ONE))
                .collect();
            let bonus = split_floor(&w, i128::from(MULTIPLIER_BP_ONE))?;
            for (i, line) in lines.iter_mut().enumerate() {
                if eligible[i] {
                    line.components.push(EarnComponent {
                        rule: tier.rule,
                        kind: ComponentKind::Tier,
                        basis: base[i],
                        multiplier_bp: bp,
                        points: bonus[i],
                    });
                }
            }
        }
    }

    let mut points: i64 = 0;
    for line in &mut lines {
        line.points = line
            .components
            .iter()
            .try_fold(0_i64, |s, c| s.checked_add(c.points))
            .ok_or(RuleError::Overflow)?;
        points = points.checked_add(line.points).ok_or(RuleError::Overflow)?;
    }
    Ok(EarnPlan {
        points,
        lines,
        promotions: grants,
        below_minimum_spend,
        revenue: RevenueClass::Purchase,
    })
}

/// Events that give points without a purchase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NonPurchaseKind {
    SignUp,
    Birthday,
    Anniversary,
    Referral,
    Review,
    SurveyAnswered,
    /// A shop-defined event, told apart by its rule id.
    Custom,
}

impl NonPurchaseKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NonPurchaseKind::SignUp => "sign_up",
            NonPurchaseKind::Birthday => "birthday",
            NonPurchaseKind::Anniversary => "anniversary",
            NonPurchaseKind::Referral => "referral",
            NonPurchaseKind::Review => "review",
            NonPurchaseKind::SurveyAnswered => "survey_answered",
            NonPurchaseKind::Custom => "custom",
        }
    }

    pub const ALL: [NonPurchaseKind; 7] = [
        NonPurchaseKind::SignUp,
        NonPurchaseKind::Birthday,
        NonPurchaseKind::Anniversary,
        NonPurchaseKind::Referral,
        NonPurchaseKind::Review,
        NonPurchaseKind::SurveyAnswered,
        NonPurchaseKind::Custom,
    ];

    pub fn parse(s: &str) -> Option<NonPurchaseKind> {
        NonPurchaseKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A fixed award for an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NonPurchaseRule {
    rule: RuleRef,
    kind: NonPurchaseKind,
    points: i64,
}

/// A non-purchase award: always free points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NonPurchaseGrant {
    pub rule: RuleRef,
    pub kind: NonPurchaseKind,
    pub points: i64,
    pub revenue: RevenueClass,
}

impl NonPurchaseRule {
    pub fn new(rule: RuleRef, kind: NonPurchaseKind, points: i64) -> Result<Self, RuleError> {
        if !(1..=POSTING_POINTS_MAX).contains(&points) {
            return Err(
                FieldError::new("points", format!("must be 1 to {POSTING_POINTS_MAX}")).into(),
            );
        }
        Ok(NonPurchaseRule { rule, kind, points })
    }

    pub fn points(&self) -> i64 {
        self.points
    }

    pub fn grant(&self) -> NonPurchaseGrant {
        NonPurchaseGrant {
            rule: self.rule,
            kind: self.kind,
            points: self.points,
            revenue: RevenueClass::Free,
        }
    }
}

/// Where a 29 February birthday (or anniversary) falls in a common year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LeapDayFallback {
    #[default]
    February28,
    March1,
}

/// The local date in `year` on which a birthday or anniversary of `date` is celebrated.
/// `None` only outside jiff's year range.
pub fn celebration_date(date: Date, year: i16, fallback: LeapDayFallback) -> Option<Date> {
    match Date::new(year, date.month(), date.day()) {
        Ok(d) => Some(d),
        // Only 29 February can fail in a valid year.
        Err(_) => match fallback {
            LeapDayFallback::February28 => Date::new(year, 2, 28).ok(),
            LeapDayFallback::March1 => Date::new(year, 3, 1).ok(),
        },
    }
}

/// Whether the birthday award of a member born on `birthday` is due on the local date `today`.
pub fn birthday_award_due(birthday: Date, fallback: LeapDayFallback, today: Date) -> bool {
    celebration_date(birthday, today.year(), fallback) == Some(today)
}

#[cfg(test)]
mod tests;

//! The loyalty engine's use cases over `domain::loyalty`: the programme and its earning rules
//! (stored, every version kept), earning with pending lots and expiry (used by intake),
//! the activation and expiry jobs, redemption holds, and the member's loyalty summary.
//!
//! Until a programme is stored, orders earn by the config's [`crate::Settings::earn`] as rule
//! 0 version 0, active at once and never expiring (the platform's behaviour); `patron demo`
//! and [`App::install_default_programme`] store the default Taiwanese programme.

use crate::{App, AppError, AppResult, Principal};
use anyhow::{Context, anyhow};
use domain::ledger::{EarnRule, TransferKind};
use domain::loyalty::expiry::{
    self, ExpiryDays, ExpiryPolicy, PeriodAnchor, REMINDER_LOCAL_TIME_DEFAULT, ReminderDays,
};
use domain::loyalty::holds::{self, Hold, HoldError, HoldId, HoldState};
use domain::loyalty::lots::pending_until;
use domain::loyalty::programme::{
    ExpiredRestorePolicy, PENDING_DAYS_DEFAULT, PROGRAMME_TIME_ZONE_DEFAULT, Programme,
    ShortfallPolicy,
};
use domain::loyalty::rules::{BaseRule, EarnContext, RuleRef, RuleSet, TierEarn, simulate};
use domain::loyalty::tiers::{
    DowngradePolicy, QualificationBasis, Tier, TierBenefits, TierConfig, TierPeriod,
};
use domain::{Currency, EventKind, FieldError, Order};
use jiff::{SignedDuration, Timestamp};
use store::events::NewEvent;
use store::jobs::NewJob;
use store::ledger::{self, NewTransfer};
use store::loyalty::{self as rows, ProgrammeRow, RuleRow};
use store::sql::Tx;

/// Moves pending lots whose return window ended to the spendable balance.
pub const ACTIVATE_JOB: &str = "loyalty.activate";
/// Expires lots past their last valid day.
pub const EXPIRE_JOB: &str = "loyalty.expire";
/// Writes `points.expiring` reminders for lots nearing their last valid day.
pub const REMIND_JOB: &str = "loyalty.remind";
/// The outbox topic of an expiry reminder (the engagement capability sends it).
pub const EXPIRING_TOPIC: &str = "points.expiring";
/// The default programme's reminder: this many days before the last valid day.
pub const REMINDER_DAYS_DEFAULT: i64 = 30;
/// `loyalty_programmes.wallet_kind` of free reward points.
pub const WALLET_FREE: &str = "free";
/// `loyalty_programmes.wallet_kind` of paid stored value (never expires).
pub const WALLET_PAID: &str = "paid";
/// The base earning rule's id.
pub const BASE_RULE_ID: i64 = 1;
/// Lots one job transaction activates; the job loops until none is due.
pub const LOTS_PER_JOB_TX_MAX: i64 = 500;
/// Lots one expiry transaction expires (a few multi-row statements per 256 lots); the job
/// loops until none is due, so memory stays bounded whatever the number of lots.
pub const EXPIRY_LOTS_PER_TX_MAX: i64 = 4_096;
/// "Expiring soon" in the member summary: points whose last valid day is within this.
pub const EXPIRING_SOON_DAYS: i64 = 30;
/// How long a hold lives unless the caller asks for less.
pub const HOLD_TTL_SECS_DEFAULT: i64 = 900;

/// The default programme's tiers: code, the points earned in a calendar year to reach it and,
/// optionally, the tier's earning multiplier in basis points (10,000 = ×1, the default).
pub const DEFAULT_TIERS: &str = "member:0,silver:3000:12500,gold:10000:15000";

/// The rule id a tier bonus is recorded under in a lot's provenance (its `lines` rules): the
/// tier table of programme version `v` is rule `TIER_RULE_ID:v`.
pub const TIER_RULE_ID: u64 = 0xFFFF;

/// The programme in force, parsed.
#[derive(Debug, Clone)]
pub struct Loyalty {
    /// 0 when no programme is stored (the config's rule applies).
    pub version: i64,
    pub programme: Programme,
    pub pending_days: i32,
    pub expiry: ExpiryPolicy,
    pub rules: RuleSet,
    pub tiers: TierConfig,
    /// Points of a cancelled redemption whose lot expired meanwhile: forfeit or reinstate.
    pub expired_restore: ExpiredRestorePolicy,
    /// Days before a lot's last valid day its `points.expiring` reminder is written.
    pub reminder_days: Option<ReminderDays>,
    /// The promotion revision the rules' promotions were read at (0 without a programme).
    pub promotion_revision: i64,
    /// What a return that claws back spent points leaves: a debt or a negative balance.
    pub shortfall: ShortfallPolicy,
}

/// The programme in force, kept per (programme version, base rule version, promotion
/// revision): a batch reads those three in one statement and loads the rest only when they
/// changed. Everything [`load`] reads must be covered by that key.
#[derive(Debug, Default)]
pub struct LoyaltyCache(std::sync::Mutex<Option<(RulesKey, std::sync::Arc<Loyalty>)>>);

/// (programme version, base rule version, promotion revision).
type RulesKey = (i64, i64, i64);

/// The programme in force, from the cache when its key still holds (intake's path).
pub(crate) fn load_cached(
    tx: &mut Tx<'_>,
    settings: &crate::Settings,
    cache: &LoyaltyCache,
) -> AppResult<std::sync::Arc<Loyalty>> {
    let key = store::promotions::rules_fingerprint(tx, BASE_RULE_ID)?;
    if let Some((k, l)) = cache.0.lock().expect("loyalty cache").as_ref()
        && *k == key
    {
        return Ok(l.clone());
    }
    let loyalty = std::sync::Arc::new(load(tx, settings)?);
    // Keep it only when what was loaded is what the key names (nothing changed in between).
    let loaded = (
        loyalty.version,
        if loyalty.version == 0 {
            key.1
        } else {
            i64::from(loyalty.rules.base().rule.version)
        },
        if loyalty.version == 0 {
            key.2
        } else {
            loyalty.promotion_revision
        },
    );
    if loaded == key {
        *cache.0.lock().expect("loyalty cache") = Some((key, loyalty.clone()));
    }
    Ok(loyalty)
}

fn expiry_text(p: ExpiryPolicy) -> String {
    let anchor = |a: PeriodAnchor| match a {
        PeriodAnchor::Activation => "activation",
        PeriodAnchor::Following => "following",
    };
    match p {
        ExpiryPolicy::Never => "never".to_owned(),
        ExpiryPolicy::DaysAfterActivation(d) => format!("days:{}", d.get()),
        ExpiryPolicy::EndOfMonth(a) => format!("end_of_month:{}", anchor(a)),
        ExpiryPolicy::EndOfYear(a) => format!("end_of_year:{}", anchor(a)),
        ExpiryPolicy::AfterInactivity(d) => format!("inactivity:{}", d.get()),
    }
}

pub(crate) fn parse_expiry(s: &str) -> Result<ExpiryPolicy, FieldError> {
    let bad = || FieldError::new("expiry", format!("unknown expiry policy {s:?}"));
    let anchor = |a: &str| match a {
        "activation" => Ok(PeriodAnchor::Activation),
        "following" => Ok(PeriodAnchor::Following),
        _ => Err(bad()),
    };
    let days = |d: &str| ExpiryDays::new(d.parse().map_err(|_| bad())?);
    Ok(match s.split_once(':') {
        None if s == "never" => ExpiryPolicy::Never,
        Some(("days", d)) => ExpiryPolicy::DaysAfterActivation(days(d)?),
        Some(("end_of_month", a)) => ExpiryPolicy::EndOfMonth(anchor(a)?),
        Some(("end_of_year", a)) => ExpiryPolicy::EndOfYear(anchor(a)?),
        Some(("inactivity", d)) => ExpiryPolicy::AfterInactivity(days(d)?),
        _ => return Err(bad()),
    })
}

fn parse_tiers(s: &str) -> Result<TierConfig, FieldError> {
    let bad = || {
        FieldError::new(
            "tiers",
            format!("expected code:threshold[:multiplier_bp],… got {s:?}"),
        )
    };
    let tiers = s
        .split(',')
        .map(|t| {
            let mut parts = t.split(':');
            let (Some(code), Some(threshold), multiplier, None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(bad());
            };
            let mut benefits = TierBenefits::default();
            if let Some(m) = multiplier {
                benefits.earn_multiplier_bp = m.parse().map_err(|_| bad())?;
            }
            Ok(Tier {
                code: code.to_owned(),
                threshold: threshold.parse().map_err(|_| bad())?,
                benefits,
                paid: None,
            })
        })
        .collect::<Result<Vec<_>, FieldError>>()?;
    TierConfig::new(
        tiers,
        QualificationBasis::QualifyingPoints,
        TierPeriod::CalendarYear,
        DowngradePolicy::OneDown,
        0,
        30,
    )
    .map_err(|e| FieldError::new("tiers", e.to_string()))
}

/// A stored tier group: JSON since tier groups are edited through the API, the older
/// `code:threshold[:multiplier_bp],…` text before.
fn parse_stored_tiers(s: &str) -> Result<TierConfig, FieldError> {
    if s.trim_start().starts_with('{') {
        crate::tiers::parse_tiers_json(s)
    } else {
        parse_tiers(s)
    }
}

fn base_rule(rule: RuleRef, earn: EarnRule, minimum_spend_minor: i64) -> AppResult<RuleSet> {
    RuleSet::new(
        BaseRule {
            rule,
            earn,
            minimum_spend_minor,
            excluded_categories: vec![],
        },
        vec![],
    )
    .map_err(|e| AppError::Internal(anyhow!("rule set: {e}")))
}

/// A new version of the base earning rule, as given.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BaseRuleInput {
    /// Points per `per_minor` minor units of eligible spend.
    pub points: i64,
    pub per_minor: i64,
    /// Orders whose eligible total (lines outside the excluded categories) is below this earn
    /// nothing from the base rule (minor units; 0: no minimum).
    pub minimum_spend_minor: i64,
    /// Categories whose lines earn nothing from the base rule (gift cards, delivery …).
    pub excluded_categories: Vec<String>,
}

impl BaseRuleInput {
    /// The domain's base rule (as checked by `RuleSet::new`), names trimmed and each once, in
    /// the order given.
    fn validate(&self) -> AppResult<BaseRule> {
        let earn = EarnRule::new(self.points, self.per_minor)?;
        if earn.points == 0 {
            return Err(FieldError::new("points", "must be at least 1").into());
        }
        let mut excluded: Vec<String> = Vec::with_capacity(self.excluded_categories.len());
        for c in &self.excluded_categories {
            let c = c.trim().to_owned();
            if !excluded.contains(&c) {
                excluded.push(c);
            }
        }
        let base = BaseRule {
            rule: RuleRef {
                id: BASE_RULE_ID as u64,
                version: 0,
            },
            earn,
            minimum_spend_minor: self.minimum_spend_minor,
            excluded_categories: excluded,
        };
        RuleSet::new(base.clone(), vec![]).map_err(|e| match e {
            domain::loyalty::rules::RuleError::Field(f) => AppError::Invalid(FieldError::new(
                f.field.strip_prefix("base.").unwrap_or(&f.field).to_owned(),
                f.reason,
            )),
            other => AppError::Invalid(FieldError::new("base", other.to_string())),
        })?;
        Ok(base)
    }
}

fn rule_ref(rule_id: i64, version: i64) -> AppResult<RuleRef> {
    Ok(RuleRef {
        id: u64::try_from(rule_id).context("rule id")?,
        version: u32::try_from(version).context("rule version")?,
    })
}

/// Reads the programme in force (or the config's fallback) inside a transaction.
pub(crate) fn load(tx: &mut Tx<'_>, settings: &crate::Settings) -> AppResult<Loyalty> {
    let Some(p) = rows::current_programme(tx)? else {
        let programme = Programme::new(None, settings.currency, 100)
            .map_err(|e| AppError::Internal(anyhow!("{e}")))?;
        return Ok(Loyalty {
            version: 0,
            programme,
            pending_days: 0,
            expiry: ExpiryPolicy::Never,
            rules: base_rule(rule_ref(0, 0)?, settings.earn, 0)?,
            tiers: parse_tiers(DEFAULT_TIERS)?,
            expired_restore: ExpiredRestorePolicy::StayExpired,
            reminder_days: None,
            promotion_revision: 0,
            // The platform's setting, until a programme says otherwise.
            shortfall: if settings.allow_negative_balance {
                ShortfallPolicy::NegativeBalance
            } else {
                ShortfallPolicy::Debt
            },
        });
    };
    let currency = Currency::parse(&p.currency)?;
    let programme = Programme::new(Some(&p.time_zone), currency, p.point_value_minor)
        .map_err(|e| AppError::Internal(anyhow!("stored programme: {e}")))?;
    let rule = rows::current_rule(tx, BASE_RULE_ID)?.context("programme without a base rule")?;
    let (promotion_revision, rules) = crate::promotions::rules_in_force(
        tx,
        BaseRule {
            rule: rule_ref(rule.rule_id, rule.version)?,
            earn: EarnRule::new(rule.points, rule.per_minor)?,
            minimum_spend_minor: rule.minimum_spend_minor,
            excluded_categories: rule.excluded_categories,
        },
    )?;
    Ok(Loyalty {
        version: p.version,
        programme,
        pending_days: i32::try_from(p.pending_days).context("pending days")?,
        expiry: parse_expiry(&p.expiry)?,
        rules,
        tiers: parse_stored_tiers(&p.tiers)?,
        expired_restore: parse_expired_restore(&p.expired_restore)?,
        reminder_days: match p.reminder_days {
            0 => None,
            d => Some(ReminderDays::new(
                i32::try_from(d).context("reminder days")?,
            )?),
        },
        promotion_revision,
        shortfall: parse_shortfall(&p.shortfall)?,
    })
}

/// `loyalty_programmes.shortfall` of [`ShortfallPolicy::Debt`].
pub const SHORTFALL_DEBT: &str = "debt";
/// `loyalty_programmes.shortfall` of [`ShortfallPolicy::NegativeBalance`].
pub const SHORTFALL_NEGATIVE_BALANCE: &str = "negative_balance";

/// The stored text of a [`ShortfallPolicy`]: `debt` or `negative_balance`.
pub fn shortfall_text(p: ShortfallPolicy) -> &'static str {
    match p {
        ShortfallPolicy::Debt => SHORTFALL_DEBT,
        ShortfallPolicy::NegativeBalance => SHORTFALL_NEGATIVE_BALANCE,
    }
}

/// Parses `debt` or `negative_balance`.
pub fn parse_shortfall(s: &str) -> Result<ShortfallPolicy, FieldError> {
    match s {
        SHORTFALL_DEBT => Ok(ShortfallPolicy::Debt),
        SHORTFALL_NEGATIVE_BALANCE => Ok(ShortfallPolicy::NegativeBalance),
        other => Err(FieldError::new(
            "shortfall",
            format!("expected debt or negative_balance, got {other:?}"),
        )),
    }
}

/// The stored text of an [`ExpiredRestorePolicy`]: `forfeit` or `reinstate:<days>`.
pub fn expired_restore_text(p: ExpiredRestorePolicy) -> String {
    match p {
        ExpiredRestorePolicy::StayExpired => "forfeit".to_owned(),
        ExpiredRestorePolicy::RestoreWithGrace(d) => format!("reinstate:{}", d.get()),
    }
}

/// Parses `forfeit` or `reinstate:<days>`.
pub fn parse_expired_restore(s: &str) -> Result<ExpiredRestorePolicy, FieldError> {
    let bad = || {
        FieldError::new(
            "expired_restore",
            format!("expected forfeit or reinstate:<days>, got {s:?}"),
        )
    };
    match s.split_once(':') {
        None if s == "forfeit" => Ok(ExpiredRestorePolicy::StayExpired),
        Some(("reinstate", d)) => Ok(ExpiredRestorePolicy::RestoreWithGrace(ExpiryDays::new(
            d.parse().map_err(|_| bad())?,
        )?)),
        _ => Err(bad()),
    }
}

/// What one order earns, decided in memory before anything is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EarnDecision {
    pub(crate) points: i64,
    /// (line, quantity, points, rules as `id:version,…`), one per line that earned.
    pub(crate) lines: Vec<(i64, i64, i64, String)>,
    /// Set when the lot starts pending (its window ends after `now`).
    pub(crate) pending_until: Option<Timestamp>,
    pub(crate) expires_at: Option<Timestamp>,
    /// Each promotion's total for the order, before and after its caps.
    pub(crate) promotions: Vec<domain::loyalty::rules::PromotionGrant>,
}

impl Loyalty {
    /// The tier bonus of a member of tier `rank` (the one that applies now): `None` without a
    /// stored programme (the config's rule applies alone) or when the tier earns ×1.
    pub(crate) fn tier_earn(&self, rank: usize) -> AppResult<Option<TierEarn>> {
        if self.version == 0 {
            return Ok(None);
        }
        let (Some(tier), Some(benefits)) =
            (self.tiers.tiers().get(rank), self.tiers.benefits(rank))
        else {
            return Ok(None);
        };
        if benefits.earn_multiplier_bp <= domain::loyalty::rules::MULTIPLIER_BP_ONE {
            return Ok(None);
        }
        Ok(Some(TierEarn {
            tier: tier.code.clone(),
            rule: RuleRef {
                id: TIER_RULE_ID,
                version: u32::try_from(self.version).context("programme version")?,
            },
            multiplier_bp: benefits.earn_multiplier_bp,
        }))
    }

    /// What `order`, placed at `placed_at` by a member of `tier` (see [`Loyalty::tier_earn`]),
    /// earns under the rules in force, recorded at `now`.
    pub(crate) fn decide(
        &self,
        order: &Order,
        placed_at: Timestamp,
        now: Timestamp,
        tier: Option<TierEarn>,
    ) -> AppResult<EarnDecision> {
        self.decide_with_usage(order, placed_at, now, tier, vec![])
    }

    /// [`Loyalty::decide`] with what the capped promotions already gave (see
    /// `promotions::BatchUsage`).
    pub(crate) fn decide_with_usage(
        &self,
        order: &Order,
        placed_at: Timestamp,
        now: Timestamp,
        tier: Option<TierEarn>,
        usage: Vec<domain::loyalty::rules::PromotionUsage>,
    ) -> AppResult<EarnDecision> {
        let zone = self.programme.zone().clone();
        let ctx = EarnContext {
            placed_at,
            zone: zone.clone(),
            tier,
            usage,
        };
        let plan = simulate(order, &self.rules, &ctx)
            .map_err(|e| AppError::Internal(anyhow!("earning: {e}")))?;
        let lines: Vec<(i64, i64, i64, String)> = plan
            .line_points(order)
            .into_iter()
            .map(|l| {
                let rules = l
                    .rules
                    .iter()
                    .map(|r| format!("{}:{}", r.id, r.version))
                    .collect::<Vec<_>>()
                    .join(",");
                (l.line as i64, l.quantity, l.points, rules)
            })
            .collect();
        let sum: i64 = lines.iter().map(|l| l.2).sum();
        assert_eq!(sum, plan.points, "sum of line earns = order earn");
        let window_end = pending_until(placed_at, self.pending_days, &zone);
        let activated_at = window_end.unwrap_or(placed_at);
        let expires_at = expiry::lot_expires_at(self.expiry, activated_at, &zone)
            .map_err(|e| AppError::Internal(anyhow!("{e}")))?;
        Ok(EarnDecision {
            points: plan.points,
            lines,
            pending_until: window_end.filter(|p| *p > now),
            expires_at,
            promotions: plan.promotions,
        })
    }
}

/// Enqueues `kind` due at `due_micros`, once per instant (the job handles everything due by
/// then and schedules the next instant itself).
pub(crate) fn schedule(
    tx: &mut Tx<'_>,
    kind: &str,
    due_micros: i64,
    now_micros: i64,
    attempts: i64,
) -> anyhow::Result<()> {
    let key = format!("{kind}@{due_micros}");
    store::jobs::enqueue(
        tx,
        &NewJob {
            kind,
            payload: "{}",
            due_at_micros: due_micros,
            max_attempts: attempts,
            dedupe_key: Some(&key),
            now_micros,
        },
    )?;
    Ok(())
}

/// The instant a lot expiring at `expires_at` micros is expired from (the next local midnight).
pub(crate) fn expiry_due(expires_at_micros: i64) -> i64 {
    expires_at_micros + 1_000_000
}

/// The member's loyalty picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoyaltySummary {
    pub customer_id: i64,
    /// Spendable points (materialised).
    pub balance: i64,
    /// Points in their return window.
    pub pending: i64,
    /// Points a return left owed (the `debt` shortfall policy), settled from the next points
    /// that become active.
    pub debt: i64,
    /// Points held by live redemption holds.
    pub held: i64,
    /// `balance − held`.
    pub available: i64,
    /// Active points whose last valid day is within [`EXPIRING_SOON_DAYS`].
    pub expiring_soon: i64,
    /// The earliest expiry among those.
    pub next_expiry_at: Option<Timestamp>,
    /// The tier that applies now (an override's or a paid membership's when higher).
    pub tier: String,
    pub next_tier: Option<String>,
    /// The qualifying value (points or spend, per the tier group's basis) counted in the
    /// current period.
    pub qualifying_points: i64,
    /// What is still needed for the next tier above the earned one.
    pub points_to_next_tier: Option<i64>,
    /// The materialised tier state: benefits, period, pending downgrade, override, membership.
    pub tier_detail: crate::tiers::MemberTierView,
}

/// One live lot in the statement's lot detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LotDetail {
    pub event_id: i64,
    pub seq: i64,
    pub kind: TransferKind,
    pub amount: i64,
    pub remaining: i64,
    pub state: String,
    pub earned_at: Timestamp,
    pub pending_until: Option<Timestamp>,
    pub expires_at: Option<Timestamp>,
    /// Why the points were given, for lots not earned by an order (an award's rule and
    /// version, a correction's reason).
    pub reason: Option<String>,
    /// For a purchase lot: what each order line earned, under which rule versions.
    pub lines: Vec<LotLineView>,
}

/// What one order line earned into a lot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LotLineView {
    /// 0-based index of the line in the order.
    pub line: i64,
    pub quantity: i64,
    pub points: i64,
    /// `(rule id, version)` of each rule that gave points: the base rule, the tier rule
    /// ([`TIER_RULE_ID`]) or a promotion.
    pub rules: Vec<(i64, i64)>,
}

fn line_view(l: store::loyalty::LotLine) -> AppResult<LotLineView> {
    let rules = l
        .rules
        .split(',')
        .filter(|r| !r.is_empty())
        .map(|r| {
            r.split_once(':')
                .and_then(|(id, v)| Some((id.parse().ok()?, v.parse().ok()?)))
                .ok_or_else(|| AppError::Internal(anyhow!("stored lot rules {:?}", l.rules)))
        })
        .collect::<AppResult<_>>()?;
    Ok(LotLineView {
        line: l.line,
        quantity: l.quantity,
        points: l.points,
        rules,
    })
}

impl App {
    /// Stores the default Taiwanese programme (1 point per NT$100, 7 days pending, expiry at
    /// the end of the following year in Asia/Taipei, three tiers) as a new version, and the
    /// base rule as a new rule version. Returns the programme version.
    pub fn install_default_programme(&self, who: &Principal) -> AppResult<i64> {
        let now = self.now();
        self.store.write(|tx| {
            let version = rows::insert_programme(
                tx,
                &ProgrammeRow {
                    version: 0,
                    time_zone: PROGRAMME_TIME_ZONE_DEFAULT.to_owned(),
                    currency: Currency::TWD.code().to_owned(),
                    point_value_minor: 100,
                    pending_days: i64::from(PENDING_DAYS_DEFAULT),
                    expiry: expiry_text(ExpiryPolicy::EndOfYear(PeriodAnchor::Following)),
                    tiers: DEFAULT_TIERS.to_owned(),
                    expired_restore: expired_restore_text(ExpiredRestorePolicy::StayExpired),
                    reminder_days: REMINDER_DAYS_DEFAULT,
                    wallet_kind: WALLET_FREE.to_owned(),
                    shortfall: SHORTFALL_DEBT.to_owned(),
                    created_at: now,
                },
            )?;
            let earn = EarnRule::default();
            rows::insert_rule_version(
                tx,
                &RuleRow {
                    rule_id: BASE_RULE_ID,
                    version: 0,
                    points: earn.points,
                    per_minor: earn.per_minor,
                    minimum_spend_minor: 0,
                    excluded_categories: vec![],
                },
                now.as_microsecond(),
            )?;
            store::audit::insert(
                tx,
                now.as_microsecond(),
                &who.actor,
                "loyalty.programme.install",
                Some(&format!("programme:{version}")),
                None,
            )?;
            Ok(version)
        })
    }

    /// Stores a new version of the base earning rule — its rate, minimum spend and excluded
    /// categories; earlier versions stay, and lots keep naming the version that earned them.
    /// Intake and the simulation apply the version in force. Needs a stored programme.
    pub fn set_base_rule(&self, who: &Principal, input: &BaseRuleInput) -> AppResult<RuleRef> {
        let base = input.validate()?;
        let now = self.now_micros();
        self.store.write(|tx| {
            if rows::current_programme(tx)?.is_none() {
                return Err(FieldError::new("programme", "no programme is stored").into());
            }
            let version = rows::insert_rule_version(
                tx,
                &RuleRow {
                    rule_id: BASE_RULE_ID,
                    version: 0,
                    points: base.earn.points,
                    per_minor: base.earn.per_minor,
                    minimum_spend_minor: base.minimum_spend_minor,
                    excluded_categories: base.excluded_categories.clone(),
                },
                now,
            )?;
            store::audit::insert(
                tx,
                now,
                &who.actor,
                "loyalty.rule.version",
                Some(&format!("rule:{BASE_RULE_ID}:{version}")),
                Some(&format!(
                    "points={} per_minor={} minimum_spend_minor={} excluded_categories={}",
                    base.earn.points,
                    base.earn.per_minor,
                    base.minimum_spend_minor,
                    base.excluded_categories.len()
                )),
            )?;
            rule_ref(BASE_RULE_ID, version)
        })
    }

    /// Stores a new programme version with `policy` for points of a cancelled redemption whose
    /// lot expired meanwhile; every other setting carries over. Needs a stored programme.
    pub fn set_expired_restore_policy(
        &self,
        who: &Principal,
        policy: ExpiredRestorePolicy,
    ) -> AppResult<i64> {
        let now = self.now();
        self.store.write(|tx| {
            let mut row = rows::current_programme(tx)?
                .ok_or_else(|| FieldError::new("programme", "no programme is stored"))?;
            row.expired_restore = expired_restore_text(policy);
            row.created_at = now;
            let version = rows::insert_programme(tx, &row)?;
            store::audit::insert(
                tx,
                now.as_microsecond(),
                &who.actor,
                "loyalty.programme.update",
                Some(&format!("programme:{version}")),
                Some(&format!("expired_restore={}", row.expired_restore)),
            )?;
            Ok(version)
        })
    }

    /// The programme in force.
    pub fn loyalty_programme(&self) -> AppResult<Loyalty> {
        self.store.read(|tx| load(tx, &self.settings))
    }

    /// The `loyalty.activate` job: every pending lot whose window has ended becomes active
    /// (its points move from `pending` to `balance`), a batch per transaction; then the next
    /// activation (and the activated lots' expiry) is scheduled. Idempotent and restartable:
    /// a lot is activated by a conditional update, at most once.
    pub(crate) fn run_activate_job(&self, _payload: &str) -> Result<(), String> {
        self.activate_due().map_err(|e| e.to_string())
    }

    fn activate_due(&self) -> AppResult<()> {
        let now = self.now_micros();
        let attempts = self.settings.job_attempts_max;
        loop {
            let done = self.store.write(|tx| -> AppResult<bool> {
                let due = rows::due_pending_lots(tx, now, LOTS_PER_JOB_TX_MAX)?;
                let mut by_account: std::collections::BTreeMap<i64, i64> = Default::default();
                let mut activated = Vec::with_capacity(due.len());
                for lot in &due {
                    if rows::activate_lot(tx, lot.lot)? && lot.remaining > 0 {
                        *by_account.entry(lot.account_id).or_default() += lot.remaining;
                        activated.push(lot);
                    }
                }
                let deltas: Vec<(i64, i64)> = by_account.into_iter().collect();
                rows::add_to_pendings(
                    tx,
                    &deltas.iter().map(|&(a, d)| (a, -d)).collect::<Vec<_>>(),
                )?;
                ledger::add_to_balances(tx, &deltas)?;
                // Points that just became active settle what their account owes first.
                let accounts: Vec<i64> = deltas.iter().map(|d| d.0).collect();
                for account in ledger::accounts_owing(tx, &accounts)? {
                    let lots: Vec<((i64, i64), i64)> = activated
                        .iter()
                        .filter(|l| l.account_id == account)
                        .map(|l| (l.lot, l.remaining))
                        .collect();
                    crate::points::settle_debts(tx, account, &lots, now)?;
                }
                if let Some(next) = rows::next_pending_until(tx)? {
                    schedule(tx, ACTIVATE_JOB, next.max(now), now, attempts)?;
                }
                if let Some(next) = rows::next_expiry(tx)? {
                    schedule(tx, EXPIRE_JOB, expiry_due(next), now, attempts)?;
                }
                if !due.is_empty() {
                    let loyalty = load(tx, &self.settings)?;
                    schedule_reminders(tx, &loyalty, now, attempts)?;
                }
                Ok((due.len() as i64) < LOTS_PER_JOB_TX_MAX)
            })?;
            if done {
                return Ok(());
            }
        }
    }

    /// The `loyalty.expire` job: every active lot past its last valid day gives its remaining
    /// points up with an `expire` transfer (one `points_expired` event per batch), then the
    /// next expiry instant is scheduled. Idempotent and restartable: an expired lot has no
    /// points left, so a second run finds nothing.
    pub(crate) fn run_expire_job(&self, _payload: &str) -> Result<(), String> {
        self.expire_due().map(|_| ()).map_err(|e| e.to_string())
    }

    /// Runs the expiry now; returns the points expired.
    pub fn expire_due(&self) -> AppResult<i64> {
        let now = self.now_micros();
        let attempts = self.settings.job_attempts_max;
        let mut total = 0;
        loop {
            let external_id = format!("expiry-{}", self.random_hex(12));
            let (expired, done) = self.store.write(|tx| -> AppResult<(i64, bool)> {
                // Lots whose last valid second ended before now: `expires_at + 1 s <= now`.
                let due = rows::due_expiring_lots(tx, now - 1_000_000, EXPIRY_LOTS_PER_TX_MAX)?;
                let mut expired = 0;
                if !due.is_empty() {
                    let issuance = ledger::system_account(tx, ledger::ISSUANCE_ACCOUNT)?;
                    let event_id = store::events::insert(
                        tx,
                        &NewEvent {
                            source: "patron",
                            external_id: &external_id,
                            kind: EventKind::PointsExpired,
                            customer_id: None,
                            order_event_id: None,
                            occurred_at_micros: now,
                            recorded_at_micros: now,
                            currency: None,
                            amount_minor: None,
                            content_hash: &[],
                            body: "{}",
                        },
                    )?
                    .context("fresh expiry id collided")?;
                    rows::expire_lots(tx, event_id, issuance, now, &due)?;
                    let mut by_account: std::collections::BTreeMap<i64, i64> = Default::default();
                    for lot in &due {
                        *by_account.entry(lot.account_id).or_default() -= lot.remaining;
                        expired += lot.remaining;
                    }
                    let deltas: Vec<(i64, i64)> = by_account.into_iter().collect();
                    for (account, balance) in ledger::add_to_balances(tx, &deltas)? {
                        assert!(balance >= 0, "expiry took account {account} below zero");
                    }
                }
                if let Some(next) = rows::next_expiry(tx)? {
                    schedule(tx, EXPIRE_JOB, expiry_due(next).max(now), now, attempts)?;
                }
                Ok((expired, (due.len() as i64) < EXPIRY_LOTS_PER_TX_MAX))
            })?;
            total += expired;
            if done {
                return Ok(total);
            }
        }
    }

    /// The member's loyalty summary at now.
    pub fn loyalty_summary(&self, customer_id: i64) -> AppResult<LoyaltySummary> {
        let now = self.now();
        self.store.read(|tx| {
            let loyalty = load(tx, &self.settings)?;
            let account = ledger::customer_account(tx, customer_id)?.ok_or(AppError::NotFound)?;
            let (held, _) = rows::held_points(tx, account.id, now.as_microsecond())?;
            let soon = now + SignedDuration::from_hours(24 * EXPIRING_SOON_DAYS);
            let mut expiring_soon = 0;
            let mut next_expiry_at = None;
            for lot in rows::live_lots(tx, account.id)? {
                if lot.lot_state.as_deref() == Some(ledger::LOT_PENDING) {
                    continue;
                }
                if let (Some(e), Some(r)) = (lot.expires_at, lot.remaining)
                    && e <= soon
                {
                    expiring_soon += r;
                    next_expiry_at = Some(next_expiry_at.map_or(e, |n: Timestamp| n.min(e)));
                }
            }
            let tier = crate::tiers::member_view(tx, &loyalty, customer_id, now)?;
            Ok(LoyaltySummary {
                customer_id,
                balance: account.balance,
                pending: account.pending,
                debt: account.debt,
                held,
                available: account.balance - held,
                expiring_soon,
                next_expiry_at,
                tier: tier.tier.clone(),
                next_tier: tier.next_tier.clone(),
                qualifying_points: tier.qualifying_value,
                points_to_next_tier: tier.to_next_tier,
                tier_detail: tier,
            })
        })
    }

    /// Sets the member's tier by hand until `ends_at` (a manager's decision, with a reason,
    /// audited); the tier must be one of the programme's, `ends_at` in the future. The latest
    /// override wins; when it ends the tier follows qualifying points again.
    pub fn set_tier_override(
        &self,
        who: &Principal,
        customer_id: i64,
        tier: &str,
        ends_at: Timestamp,
        reason: &str,
    ) -> AppResult<()> {
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > domain::limits::REASON_CHARS_MAX {
            return Err(FieldError::new(
                "reason",
                format!(
                    "must be 1 to {} characters",
                    domain::limits::REASON_CHARS_MAX
                ),
            )
            .into());
        }
        let now = self.now();
        if ends_at <= now {
            return Err(FieldError::new("ends_at", "must be in the future").into());
        }
        self.store.write(|tx| {
            let loyalty = load(tx, &self.settings)?;
            if loyalty.version == 0 {
                return Err(FieldError::new("tier", "no loyalty programme is stored").into());
            }
            let Some(rank) = loyalty.tiers.rank_of(tier) else {
                let codes: Vec<&str> = loyalty
                    .tiers
                    .tiers()
                    .iter()
                    .map(|t| t.code.as_str())
                    .collect();
                return Err(FieldError::new(
                    "tier",
                    format!("must be one of {}", codes.join(", ")),
                )
                .into());
            };
            if !store::customers::exists(tx, customer_id)? {
                return Err(AppError::NotFound);
            }
            rows::insert_tier_override(
                tx,
                customer_id,
                tier,
                ends_at.as_microsecond(),
                reason,
                &who.actor,
                now.as_microsecond(),
            )?;
            crate::tiers::set_override(
                tx,
                &loyalty,
                customer_id,
                rank,
                ends_at,
                now,
                self.settings.job_attempts_max,
            )?;
            store::audit::insert(
                tx,
                now.as_microsecond(),
                &who.actor,
                "loyalty.tier.override",
                Some(&format!("customer:{customer_id}")),
                None,
            )?;
            Ok(())
        })
    }

    /// The customer's lots that still hold points, soonest expiry first.
    pub fn loyalty_lots(&self, customer_id: i64) -> AppResult<Vec<LotDetail>> {
        self.store.read(|tx| {
            let account = ledger::customer_account(tx, customer_id)?.ok_or(AppError::NotFound)?;
            rows::live_lots_with_lines(tx, account.id)?
                .into_iter()
                .map(|(t, lines)| {
                    Ok(LotDetail {
                        lines: lines.into_iter().map(line_view).collect::<AppResult<_>>()?,
                        event_id: t.event_id,
                        seq: t.seq,
                        kind: t.kind,
                        amount: t.amount,
                        remaining: t.remaining.unwrap_or(0),
                        state: t.lot_state.unwrap_or_else(|| ledger::LOT_ACTIVE.to_owned()),
                        earned_at: t.created_at,
                        pending_until: t.pending_until,
                        expires_at: t.expires_at,
                        reason: t.reason,
                    })
                })
                .collect()
        })
    }
}

/// A hold as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldView {
    pub hold_id: i64,
    pub customer_id: i64,
    pub points: i64,
    /// `held`, `committed`, `released` or `expired` (as of now).
    pub state: &'static str,
    pub expires_at: Timestamp,
    /// The redemption event of a committed hold.
    pub redemption_id: Option<i64>,
}

fn domain_hold(row: &rows::HoldRow) -> Hold {
    Hold {
        id: HoldId(row.id as u64),
        points: row.points,
        created_at: row.created_at,
        expires_at: row.expires_at,
        state: match row.state.as_str() {
            "committed" => HoldState::Committed,
            "released" => HoldState::Released,
            _ => HoldState::Held,
        },
    }
}

fn view(row: &rows::HoldRow, now: Timestamp) -> HoldView {
    HoldView {
        hold_id: row.id,
        customer_id: row.customer_id,
        points: row.points,
        state: domain_hold(row).state_at(now).as_str(),
        expires_at: row.expires_at,
        redemption_id: row.event_id,
    }
}

/// Maps a refused hold transition onto the use-case error.
fn refused(e: HoldError) -> AppError {
    match e {
        HoldError::PointsOutOfRange { .. } => FieldError::new("points", e.to_string()).into(),
        HoldError::TtlOutOfRange => FieldError::new("ttl_seconds", e.to_string()).into(),
        HoldError::TooManyHolds => FieldError::new("points", e.to_string()).into(),
        HoldError::InsufficientAvailable {
            available,
            requested,
        } => AppError::InsufficientPoints(domain::ledger::InsufficientPoints {
            balance: available,
            requested,
        }),
        other => AppError::HoldRefused(other),
    }
}

impl App {
    /// Reserves `points` of the customer's available points (balance − live holds) for
    /// `ttl_secs`. The account row is locked first, so concurrent reservations serialise and
    /// never hold more than the balance.
    pub fn reserve_points(
        &self,
        who: &Principal,
        customer_id: i64,
        points: i64,
        ttl_secs: Option<i64>,
    ) -> AppResult<HoldView> {
        let now = self.now();
        let ttl = ttl_secs.unwrap_or(HOLD_TTL_SECS_DEFAULT);
        self.store.write(|tx| {
            let account = ledger::customer_account(tx, customer_id)?.ok_or(AppError::NotFound)?;
            let id = reserve_in(tx, who, customer_id, account.id, points, ttl, now)?;
            let row = rows::hold(tx, customer_id, id)?.context("hold just written")?;
            Ok(view(&row, now))
        })
    }
}

/// Reserves `points` for `ttl` seconds in the caller's transaction; returns the hold's id.
/// Takes the account's row lock first, so concurrent reservations serialise and never hold
/// more than the balance.
pub(crate) fn reserve_in(
    tx: &mut Tx<'_>,
    who: &Principal,
    customer_id: i64,
    account_id: i64,
    points: i64,
    ttl: i64,
    now: Timestamp,
) -> AppResult<i64> {
    let now_micros = now.as_microsecond();
    // The row lock: concurrent reservations of one account queue here.
    let balance = ledger::add_to_balance(tx, account_id, 0)?;
    let (held, live) = rows::held_points(tx, account_id, now_micros)?;
    // The domain sees the live holds as one aggregate: enough for its checks.
    let existing: Vec<Hold> = (0..live)
        .map(|i| Hold {
            id: HoldId(i as u64),
            points: if i == 0 { held } else { 0 },
            created_at: now,
            expires_at: now + SignedDuration::from_secs(1),
            state: HoldState::Held,
        })
        .collect();
    let hold = holds::reserve(HoldId(0), points, balance, &existing, now, ttl).map_err(refused)?;
    let id = rows::insert_hold(
        tx,
        customer_id,
        account_id,
        hold.points,
        now_micros,
        hold.expires_at.as_microsecond(),
    )?;
    store::audit::insert(
        tx,
        now_micros,
        &who.actor,
        "points.hold",
        Some(&format!("hold:{id}")),
        Some(&format!("points={points}")),
    )?;
    Ok(id)
}

impl App {
    /// Commits a live hold: its points are spent (a `redeem` transfer consuming lots soonest
    /// expiry first) under one `points_redeemed` event. Refused once the hold expired, was
    /// released or was committed; nothing changes then.
    pub fn commit_hold(
        &self,
        who: &Principal,
        customer_id: i64,
        hold_id: i64,
    ) -> AppResult<HoldView> {
        let now = self.now();
        self.store.write(|tx| {
            let account = ledger::customer_account(tx, customer_id)?.ok_or(AppError::NotFound)?;
            commit_in(tx, who, customer_id, account.id, hold_id, now)?;
            let row = rows::hold(tx, customer_id, hold_id)?.context("hold just written")?;
            Ok(view(&row, now))
        })
    }

    /// Releases a live hold: its points are available again. Refused unless live.
    pub fn release_hold(
        &self,
        who: &Principal,
        customer_id: i64,
        hold_id: i64,
    ) -> AppResult<HoldView> {
        let now = self.now();
        let now_micros = now.as_microsecond();
        self.store.write(|tx| {
            let account = ledger::customer_account(tx, customer_id)?.ok_or(AppError::NotFound)?;
            ledger::add_to_balance(tx, account.id, 0)?;
            let row = rows::hold(tx, customer_id, hold_id)?.ok_or(AppError::NotFound)?;
            holds::release(&domain_hold(&row), now).map_err(refused)?;
            if !rows::finish_hold(tx, hold_id, "released", None, now_micros)? {
                return Err(anyhow!("hold {hold_id} changed under its lock").into());
            }
            store::audit::insert(
                tx,
                now_micros,
                &who.actor,
                "points.release",
                Some(&format!("hold:{hold_id}")),
                None,
            )?;
            let row = rows::hold(tx, customer_id, hold_id)?.context("hold just written")?;
            Ok(view(&row, now))
        })
    }
}

/// Commits live hold `hold_id` in the caller's transaction: a `redeem` transfer consuming lots
/// soonest expiry first under one `points_redeemed` event, whose id it returns.
pub(crate) fn commit_in(
    tx: &mut Tx<'_>,
    who: &Principal,
    customer_id: i64,
    account_id: i64,
    hold_id: i64,
    now: Timestamp,
) -> AppResult<i64> {
    let now_micros = now.as_microsecond();
    let balance = ledger::add_to_balance(tx, account_id, 0)?;
    let row = rows::hold(tx, customer_id, hold_id)?.ok_or(AppError::NotFound)?;
    holds::commit(&domain_hold(&row), now).map_err(refused)?;
    domain::ledger::debit_balance(balance, row.points, false)
        .map_err(AppError::InsufficientPoints)?;
    let external_id = format!("hold-{hold_id}");
    let body = serde_json::json!({ "hold_id": hold_id, "points": row.points }).to_string();
    let event_id = store::events::insert(
        tx,
        &NewEvent {
            source: "patron",
            external_id: &external_id,
            kind: EventKind::PointsRedeemed,
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
    .context("hold committed twice")?;
    let issuance = ledger::system_account(tx, ledger::ISSUANCE_ACCOUNT)?;
    ledger::insert_transfer(
        tx,
        &NewTransfer {
            event_id,
            seq: 0,
            debit_account_id: account_id,
            credit_account_id: issuance,
            amount: row.points,
            kind: TransferKind::Redeem,
            created_at_micros: now_micros,
            remaining: None,
            pending_until_micros: None,
            expires_at_micros: None,
            lot: None,
            reason: Some("redemption"),
            lot_state: None,
            lines: Vec::new(),
            revenue: None,
        },
    )?;
    crate::points::consume_lots(tx, account_id, (event_id, 0), row.points)?;
    let after = ledger::add_to_balance(tx, account_id, -row.points)?;
    assert!(after >= 0, "a redemption took the balance below zero");
    if !rows::finish_hold(tx, hold_id, "committed", Some(event_id), now_micros)? {
        return Err(anyhow!("hold {hold_id} changed under its lock").into());
    }
    store::audit::insert(
        tx,
        now_micros,
        &who.actor,
        "points.redeem",
        Some(&format!("hold:{hold_id}")),
        Some(&format!("points={}", row.points)),
    )?;
    Ok(event_id)
}

/// One rule's part of a simulated line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulatedComponent {
    pub rule_id: i64,
    pub version: i64,
    /// `base`, `promotion` or `tier`.
    pub kind: &'static str,
    /// Basis points (10,000 = ×1).
    pub multiplier_bp: i64,
    pub points: i64,
}

/// What one line would earn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulatedLine {
    pub line: i64,
    pub sku: String,
    pub points: i64,
    pub components: Vec<SimulatedComponent>,
    pub pending_until: Option<Timestamp>,
    pub expires_at: Option<Timestamp>,
}

/// What an order would earn under the rules in force, with nothing written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Simulation {
    /// 0 when no programme is stored (the config's rule).
    pub programme_version: i64,
    pub points: i64,
    pub lines: Vec<SimulatedLine>,
    pub below_minimum_spend: bool,
    /// The member's tier, when a customer was named.
    pub tier: Option<String>,
    /// Each promotion that applied: its total before and after caps (the member's usage when a
    /// customer was named, the budget's in any case).
    pub promotions: Vec<SimulatedPromotion>,
}

/// A promotion's part of a simulated order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulatedPromotion {
    pub rule_id: i64,
    pub version: i64,
    pub uncapped: i64,
    pub granted: i64,
    pub capped: i64,
}

impl App {
    /// What an order of `lines` in `currency` (the programme's when absent), placed at
    /// `placed_at` (now when absent), would earn for `customer_id` (or anyone) under the rules
    /// in force, or with `draft` as the promotions instead of the stored ones. Caps count what
    /// the promotions already gave. Reads only: nothing is written.
    pub fn simulate_earn(
        &self,
        customer_id: Option<i64>,
        currency: Option<&str>,
        lines: &[crate::intake::LineInput],
        placed_at: Option<Timestamp>,
        draft: Option<&[crate::promotions::PromotionInput]>,
    ) -> AppResult<Simulation> {
        let order_lines = lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                domain::OrderLine::new(
                    &l.sku,
                    l.category.as_deref(),
                    l.quantity,
                    l.unit_price_minor,
                )
                .map_err(|e| e.within(&format!("lines[{i}]")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let now = self.now();
        let placed_at = placed_at.unwrap_or(now);
        let summary = match customer_id {
            Some(c) => Some(self.loyalty_summary(c).map_err(|e| match e {
                AppError::NotFound => AppError::UnknownCustomer,
                e => e,
            })?),
            None => None,
        };
        let tier = summary.as_ref().map(|s| s.tier.clone());
        let rank = summary.as_ref().map(|s| s.tier_detail.rank);
        self.store.read(|tx| {
            let loyalty = load(tx, &self.settings)?;
            let currency = match currency {
                Some(c) => Currency::parse(c)?,
                None => loyalty.programme.currency(),
            };
            let order = Order::new(currency, order_lines)?;
            let earns = currency == loyalty.programme.currency();
            let tier_earn = match rank {
                Some(rank) => loyalty.tier_earn(rank)?,
                None => None,
            };
            let rules = match draft {
                Some(d) => crate::promotions::draft_rules(tx, loyalty.rules.base(), d)?,
                None => loyalty.rules.clone(),
            };
            let zone = loyalty.programme.zone().clone();
            let usage =
                crate::promotions::simulation_usage(tx, &rules, &zone, customer_id, placed_at)?;
            let ctx = EarnContext {
                placed_at,
                zone,
                tier: tier_earn.clone(),
                usage,
            };
            let plan = simulate(&order, &rules, &ctx)
                .map_err(|e| AppError::Internal(anyhow!("earning: {e}")))?;
            let decision = loyalty.decide(&order, placed_at, now, tier_earn)?;
            let lines = plan
                .lines
                .iter()
                .map(|l| SimulatedLine {
                    line: l.line as i64,
                    sku: order
                        .lines
                        .get(l.line)
                        .map(|o| o.sku.clone())
                        .unwrap_or_default(),
                    points: if earns { l.points } else { 0 },
                    components: l
                        .components
                        .iter()
                        .map(|c| SimulatedComponent {
                            rule_id: c.rule.id as i64,
                            version: i64::from(c.rule.version),
                            kind: match c.kind {
                                domain::loyalty::rules::ComponentKind::Base => "base",
                                domain::loyalty::rules::ComponentKind::Promotion => "promotion",
                                domain::loyalty::rules::ComponentKind::Tier => "tier",
                            },
                            multiplier_bp: c.multiplier_bp,
                            points: if earns { c.points } else { 0 },
                        })
                        .collect(),
                    pending_until: decision.pending_until,
                    expires_at: decision.expires_at,
                })
                .collect();
            Ok(Simulation {
                programme_version: loyalty.version,
                points: if earns { plan.points } else { 0 },
                lines,
                below_minimum_spend: plan.below_minimum_spend,
                tier: tier.clone(),
                promotions: plan
                    .promotions
                    .iter()
                    .map(|g| SimulatedPromotion {
                        rule_id: g.rule.id as i64,
                        version: i64::from(g.rule.version),
                        uncapped: if earns { g.uncapped } else { 0 },
                        granted: if earns { g.granted } else { 0 },
                        capped: if earns { g.capped } else { 0 },
                    })
                    .collect(),
            })
        })
    }
}

/// Lots one reminder transaction handles; the job loops until none is due.
pub const REMINDERS_PER_JOB_TX_MAX: i64 = 500;

/// When the reminder of a lot expiring at `expires_at_micros` is due, if reminders are on.
pub(crate) fn reminder_due(loyalty: &Loyalty, expires_at_micros: i64) -> Option<i64> {
    let days = loyalty.reminder_days?;
    let expires_at = Timestamp::from_microsecond(expires_at_micros).ok()?;
    expiry::reminder_at(
        expires_at,
        days,
        REMINDER_LOCAL_TIME_DEFAULT,
        loyalty.programme.zone(),
    )
    .map(|t| t.as_microsecond())
}

/// Schedules the reminder job for the next lot still to remind of (once per due instant).
pub(crate) fn schedule_reminders(
    tx: &mut Tx<'_>,
    loyalty: &Loyalty,
    now_micros: i64,
    attempts: i64,
) -> AppResult<()> {
    if loyalty.reminder_days.is_none() {
        return Ok(());
    }
    if let Some(next) = rows::unreminded_lots(tx, now_micros, 1)?.first()
        && let Some(due) = reminder_due(loyalty, next.expires_at)
    {
        schedule(tx, REMIND_JOB, due.max(now_micros), now_micros, attempts)?;
    }
    Ok(())
}

impl App {
    /// The `loyalty.remind` job: see [`App::remind_expiring`].
    pub(crate) fn run_remind_job(&self, _payload: &str) -> Result<(), String> {
        self.remind_expiring()
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Writes one `points.expiring` outbox message per active lot whose reminder instant
    /// (`reminder_days` before its last valid day, at 10:00 programme-local time) has come,
    /// once per lot and expiry (recorded in `lot_reminders` in the same transaction), then
    /// schedules itself for the next one. Idempotent and restartable. Returns the count.
    pub fn remind_expiring(&self) -> AppResult<i64> {
        let now = self.now_micros();
        let attempts = self.settings.job_attempts_max;
        let mut total = 0;
        loop {
            let (written, done) = self.store.write(|tx| -> AppResult<(i64, bool)> {
                let loyalty = load(tx, &self.settings)?;
                if loyalty.reminder_days.is_none() {
                    return Ok((0, true));
                }
                let lots = rows::unreminded_lots(tx, now, REMINDERS_PER_JOB_TX_MAX)?;
                let endpoints = store::outbox::active_endpoints(tx)?;
                let mut written = 0;
                let mut reached_future = false;
                for lot in &lots {
                    // Reminder instants grow with expiry: the first one not due ends the run.
                    if reminder_due(&loyalty, lot.expires_at).is_none_or(|due| due > now) {
                        reached_future = true;
                        break;
                    }
                    if rows::insert_reminder(tx, lot, now)? {
                        let payload = serde_json::json!({
                            "customer_id": lot.customer_id,
                            "lot": format!("{}:{}", lot.lot.0, lot.lot.1),
                            "points": lot.remaining,
                            "expires_at": store::instant(lot.expires_at)?.to_string(),
                        });
                        crate::webhooks::record(
                            tx,
                            &endpoints,
                            EXPIRING_TOPIC,
                            &payload,
                            now,
                            attempts,
                        )?;
                        written += 1;
                    }
                }
                schedule_reminders(tx, &loyalty, now, attempts)?;
                Ok((
                    written,
                    reached_future || (lots.len() as i64) < REMINDERS_PER_JOB_TX_MAX,
                ))
            })?;
            total += written;
            if done {
                return Ok(total);
            }
        }
    }
}

/// The programme's settings as stored and shown; also what an update gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgrammeSettings {
    pub time_zone: String,
    pub currency: String,
    pub point_value_minor: i64,
    /// The return window: days purchase points stay pending.
    pub pending_days: i64,
    /// `never`, `days:<n>`, `end_of_month:activation|following`,
    /// `end_of_year:activation|following` or `inactivity:<n>`.
    pub expiry: String,
    /// `forfeit` or `reinstate:<days>`.
    pub expired_restore: String,
    /// 0 for no reminders.
    pub reminder_days: i64,
    /// `free` or `paid`.
    pub wallet_kind: String,
    /// `debt` or `negative_balance`: what a return after the points were spent leaves.
    pub shortfall: String,
}

/// A stored programme version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgrammeView {
    pub version: i64,
    pub settings: ProgrammeSettings,
    /// `code:threshold[:multiplier_bp],…` (qualifying points in a calendar year; the earning
    /// multiplier in basis points, ×1 when absent).
    pub tiers: String,
    pub created_at: Timestamp,
}

fn programme_view(p: ProgrammeRow) -> ProgrammeView {
    ProgrammeView {
        version: p.version,
        settings: ProgrammeSettings {
            time_zone: p.time_zone,
            currency: p.currency,
            point_value_minor: p.point_value_minor,
            pending_days: p.pending_days,
            expiry: p.expiry,
            expired_restore: p.expired_restore,
            reminder_days: p.reminder_days,
            wallet_kind: p.wallet_kind,
            shortfall: p.shortfall,
        },
        tiers: p.tiers,
        created_at: p.created_at,
    }
}

/// Checks an update field by field; the engine refuses an expiry on a paid wallet.
fn validate_settings(s: &ProgrammeSettings, configured: Currency) -> AppResult<ProgrammeSettings> {
    use domain::loyalty::programme::{ProgrammeError, Wallet, WalletKind};
    use domain::loyalty::programme::{WalletPurpose, WalletSpec};
    let field = |e: ProgrammeError| {
        let text = e.to_string();
        let (name, reason) = text.split_once(": ").unwrap_or(("programme", &text));
        AppError::from(FieldError::new(name, reason))
    };
    let currency = Currency::parse(&s.currency)?;
    if currency != configured {
        return Err(FieldError::new(
            "currency",
            format!(
                "orders earn in the configured loyalty.currency ({}); change that setting instead",
                configured.code()
            ),
        )
        .into());
    }
    let programme =
        Programme::new(Some(&s.time_zone), currency, s.point_value_minor).map_err(field)?;
    let pending_days = i32::try_from(s.pending_days)
        .map_err(|_| FieldError::new("pending_days", "out of range"))?;
    let expiry = parse_expiry(&s.expiry)?;
    let expired_restore = parse_expired_restore(&s.expired_restore)?;
    let shortfall = parse_shortfall(&s.shortfall)?;
    if s.reminder_days != 0 {
        ReminderDays::new(
            i32::try_from(s.reminder_days)
                .map_err(|_| FieldError::new("reminder_days", "out of range"))?,
        )
        .map_err(|e| FieldError::new("reminder_days", e.reason))?;
    }
    let kind = match s.wallet_kind.as_str() {
        WALLET_FREE => WalletKind::FreeRewardPoints,
        WALLET_PAID => WalletKind::PaidStoredValue,
        other => {
            return Err(FieldError::new(
                "wallet_kind",
                format!("expected free or paid, got {other:?}"),
            )
            .into());
        }
    };
    Wallet::new(WalletSpec {
        purpose: WalletPurpose::Redeemable,
        kind,
        expiry,
        pending_days,
        shortfall,
        expired_restore,
    })
    .map_err(field)?;
    Ok(ProgrammeSettings {
        time_zone: programme.time_zone().to_owned(),
        currency: currency.code().to_owned(),
        expiry: expiry_text(expiry),
        expired_restore: expired_restore_text(expired_restore),
        shortfall: shortfall_text(shortfall).to_owned(),
        ..s.clone()
    })
}

impl App {
    /// The programme version in force; version 0 (the config's behaviour: no window, no
    /// expiry, no reminders) when none is stored.
    pub fn programme(&self) -> AppResult<ProgrammeView> {
        let now = self.now();
        self.store.read(|tx| {
            Ok(programme_view(rows::current_programme(tx)?.unwrap_or_else(
                || {
                    ProgrammeRow {
                        version: 0,
                        time_zone: PROGRAMME_TIME_ZONE_DEFAULT.to_owned(),
                        currency: self.settings.currency.code().to_owned(),
                        point_value_minor: 100,
                        pending_days: 0,
                        expiry: expiry_text(ExpiryPolicy::Never),
                        tiers: DEFAULT_TIERS.to_owned(),
                        expired_restore: expired_restore_text(ExpiredRestorePolicy::StayExpired),
                        reminder_days: 0,
                        wallet_kind: WALLET_FREE.to_owned(),
                        shortfall: if self.settings.allow_negative_balance {
                            SHORTFALL_NEGATIVE_BALANCE
                        } else {
                            SHORTFALL_DEBT
                        }
                        .to_owned(),
                        created_at: now,
                    }
                },
            )))
        })
    }

    /// Stores the settings as a new programme version (earlier versions stay); without a
    /// stored programme, also stores the base earning rule from the config. Lots already
    /// earned keep their instants; new ones follow the new version.
    pub fn update_programme(
        &self,
        who: &Principal,
        settings: &ProgrammeSettings,
    ) -> AppResult<ProgrammeView> {
        let s = validate_settings(settings, self.settings.currency)?;
        let now = self.now();
        self.store.write(|tx| {
            let current = rows::current_programme(tx)?;
            if current.is_none() {
                rows::insert_rule_version(
                    tx,
                    &RuleRow {
                        rule_id: BASE_RULE_ID,
                        version: 0,
                        points: self.settings.earn.points,
                        per_minor: self.settings.earn.per_minor,
                        minimum_spend_minor: 0,
                        excluded_categories: vec![],
                    },
                    now.as_microsecond(),
                )?;
            }
            let version = rows::insert_programme(
                tx,
                &ProgrammeRow {
                    version: 0,
                    time_zone: s.time_zone.clone(),
                    currency: s.currency.clone(),
                    point_value_minor: s.point_value_minor,
                    pending_days: s.pending_days,
                    expiry: s.expiry.clone(),
                    tiers: current.map_or_else(|| DEFAULT_TIERS.to_owned(), |c| c.tiers),
                    expired_restore: s.expired_restore.clone(),
                    reminder_days: s.reminder_days,
                    wallet_kind: s.wallet_kind.clone(),
                    shortfall: s.shortfall.clone(),
                    created_at: now,
                },
            )?;
            store::audit::insert(
                tx,
                now.as_microsecond(),
                &who.actor,
                "loyalty.programme.update",
                Some(&format!("programme:{version}")),
                Some(&format!(
                    "pending_days={} expiry={} expired_restore={} reminder_days={} wallet_kind={} shortfall={}",
                    s.pending_days,
                    s.expiry,
                    s.expired_restore,
                    s.reminder_days,
                    s.wallet_kind,
                    s.shortfall
                )),
            )?;
            Ok(programme_view(
                rows::current_programme(tx)?.context("programme just written")?,
            ))
        })
    }
}

/// The customer's tier rank now and the number of tiers (`None`: no account).
pub(crate) fn tier_rank_tx(
    tx: &mut Tx<'_>,
    settings: &crate::Settings,
    customer_id: i64,
    now: Timestamp,
) -> AppResult<Option<(usize, usize)>> {
    let loyalty = load(tx, settings)?;
    if ledger::customer_account(tx, customer_id)?.is_none() {
        return Ok(None);
    }
    Ok(Some((
        crate::tiers::effective_rank(tx, &loyalty, customer_id, now)?,
        loyalty.tiers.tiers().len(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_parse_with_optional_multipliers_and_refuse_bad_ones() {
        let t = parse_tiers(DEFAULT_TIERS).unwrap();
        let bp: Vec<i64> = (0..3)
            .map(|r| t.benefits(r).unwrap().earn_multiplier_bp)
            .collect();
        assert_eq!(bp, [10_000, 12_500, 15_000]);
        // The format stored before multipliers still parses, at ×1.
        let old = parse_tiers("member:0,silver:3000,gold:10000").unwrap();
        assert_eq!(old.benefits(2).unwrap().earn_multiplier_bp, 10_000);
        for bad in [
            "member:0,gold:10:x",
            "member:0,gold:10:9000",
            "member:0,gold:10:15000:1",
            "member",
        ] {
            let e = parse_tiers(bad).unwrap_err();
            assert_eq!(e.field, "tiers", "{bad}");
        }
    }
}

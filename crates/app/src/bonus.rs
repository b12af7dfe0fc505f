//! Non-purchase points and referrals over `domain::loyalty::rules` (non-purchase rules, the
//! 29 February fallback) and `domain::loyalty::referrals`.
//!
//! Every award is a `points_awarded` event, unique by `(patron, external id)`, whose one
//! transfer is a `bonus` lot: free points, with the programme's expiry, the rule set version
//! in its reason (`<kind>[:<code>] v<version>`) and no revenue columns (free points carry no
//! revenue). A second award with the same external id answers the first outcome; the
//! external ids are `sign_up-<customer>`, `birthday-<customer>-<year>`,
//! `anniversary-<customer>-<year>`, `referral-<referee>-referrer|referee`, and
//! `<kind>:<caller's id>` for the awards posted through the API (review, survey, custom).
//!
//! - **Sign-up** is awarded in the transaction that creates the customer by intake (orders,
//!   events, import) or `POST /customers` — not when the desk's channels create a contact.
//! - **Birthday and anniversary** awards come from the `loyalty.celebrate` job, one per
//!   programme-local date, due at that date's local midnight (deduplicated by date); it awards
//!   everyone whose birthday or joining anniversary is celebrated that day (29 February in a
//!   common year on the configured fallback day) and schedules the next date itself, so a late
//!   or repeated run catches up and awards nothing twice.
//! - **Referrals** are settled by the `loyalty.referral` job, which an accepted order of a
//!   referee with a pending referral enqueues: on the referee's first order in the programme
//!   currency at or above the minimum spend after its refunds (not cancelled), both get their
//!   points, or the referral is refused with a reason (self-referral, the referrer's cap for
//!   the period).
//! - **Referral clawback.** When that order is cancelled, refunded in full, or refunded in part
//!   below the minimum spend (of the rule version that rewarded it) within its return window,
//!   the refund enqueues the same job, which reverses both rewards (`award_reversed`
//!   events, external id `<award's>-reversed`, each a `reverse` transfer naming the award's lot)
//!   under the programme's shortfall policy, like any return: from the award's lot first, then
//!   the member's other active lots; what they cannot give is a debt or a negative balance. The
//!   referral ends `reversed`, with the refund's kind as its reason.

use crate::canonical::{body_and_hash, differences};
use crate::{App, AppError, AppResult, Principal};
use anyhow::{Context, anyhow};
use domain::ledger::TransferKind;
use domain::loyalty::expiry::{self, ExpiryPolicy, REMINDER_LOCAL_TIME_DEFAULT, ReminderDays};
use domain::loyalty::programme::{PROGRAMME_TIME_ZONE_DEFAULT, ShortfallPolicy};
use domain::loyalty::referrals::{
    REFERRALS_PER_PERIOD_MAX, ReferralCode, ReferralConfig, ReferralError, ReferralFacts,
    ReferralRefusal, referral_rewards,
};
use domain::loyalty::rules::{
    CapPeriod, LeapDayFallback, NonPurchaseKind, NonPurchaseRule, RuleRef, birthday_award_due,
    cap_period_start, celebration_date,
};
use domain::{EventKind, FieldError};
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde_json::{Value, json};
use store::bonus::{self as rows, BonusRuleRow, ReferralRow, RuleSetRow};
use store::events::{EventRow, NewEvent};
use store::ledger::{self, NewTransfer};
use store::sql::Tx;

/// Awards the birthdays and anniversaries of one programme-local date.
pub const CELEBRATE_JOB: &str = "loyalty.celebrate";
/// Settles a referee's pending referral.
pub const REFERRAL_JOB: &str = "loyalty.referral";
/// The event source of every award.
pub const AWARD_SOURCE: &str = "patron";
/// Customers one celebration transaction awards; the job loops until none is left.
pub const AWARDS_PER_JOB_TX_MAX: i64 = 500;
/// Rules in one rule set.
pub const BONUS_RULES_MAX: usize = 100;
/// A custom event's code: 1 to this many bytes of `a-z 0-9 _ - .`.
pub const CUSTOM_CODE_BYTES_MAX: usize = 64;
/// Referrals listed per member.
pub const REFERRALS_LISTED_MAX: i64 = 500;
/// Fresh codes tried when a generated referral code is already taken.
const REFERRAL_CODE_ATTEMPTS: usize = 8;
/// Rule ids of non-purchase rules in provenance: `BONUS_RULE_ID_BASE + kind`.
pub const BONUS_RULE_ID_BASE: u64 = 0x1_0000;

/// A referral that ended without points, and why (`referrals.reason`).
pub const REASON_SELF_REFERRAL: &str = "self_referral";
pub const REASON_CAP_REACHED: &str = "referrer_cap_reached";
pub const REASON_TOO_MANY_IDENTITIES: &str = "too_many_identities";
/// What reversed a rewarded referral: its order refunded (in full) or cancelled.
pub const REASON_ORDER_REFUNDED: &str = "order_refunded";
pub const REASON_ORDER_CANCELLED: &str = "order_cancelled";

/// The default rules' sign-up points (NT$1 a point under the default programme).
pub const DEFAULT_SIGN_UP_POINTS: i64 = 100;
/// The default rules' birthday points (29 February: on 28 February in a common year).
pub const DEFAULT_BIRTHDAY_POINTS: i64 = 200;
/// The default referral: the referrer's and the referee's points.
pub const DEFAULT_REFERRER_POINTS: i64 = 200;
pub const DEFAULT_REFEREE_POINTS: i64 = 100;
/// The default referral's minimum first order: NT$1,000.
pub const DEFAULT_REFERRAL_MINIMUM_ORDER_MINOR: i64 = 100_000;
/// The default referral cap: rewarded referrals per referrer per programme-local month.
pub const DEFAULT_REFERRER_CAP_PER_MONTH: i64 = 10;

/// The default non-purchase rules of a Taiwanese shop, which `patron demo` loads: sign-up and
/// birthday points (a 29 February birthday celebrated on 28 February in a common year) and a
/// referral (both members rewarded on the referee's first order of at least NT$1,000, at most
/// [`DEFAULT_REFERRER_CAP_PER_MONTH`] rewarded referrals per referrer and month).
pub fn default_bonus_rules() -> BonusRules {
    BonusRules {
        rules: vec![
            BonusRule {
                kind: NonPurchaseKind::SignUp.as_str().to_owned(),
                code: None,
                points: DEFAULT_SIGN_UP_POINTS,
            },
            BonusRule {
                kind: NonPurchaseKind::Birthday.as_str().to_owned(),
                code: None,
                points: DEFAULT_BIRTHDAY_POINTS,
            },
        ],
        leap_day_fallback: fallback_text(LeapDayFallback::February28).to_owned(),
        referral: ReferralSettings {
            referrer_points: DEFAULT_REFERRER_POINTS,
            referee_points: DEFAULT_REFEREE_POINTS,
            minimum_order_minor: DEFAULT_REFERRAL_MINIMUM_ORDER_MINOR,
            referrer_cap: DEFAULT_REFERRER_CAP_PER_MONTH,
            cap_period: cap_period_text(CapPeriod::Month).to_owned(),
        },
    }
}

/// One kind's points, as given and shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BonusRule {
    /// `sign_up`, `birthday`, `anniversary`, `review`, `survey_answered` or `custom`.
    pub kind: String,
    /// The custom event's code (custom only).
    pub code: Option<String>,
    pub points: i64,
}

/// Referral rewards and limits, as given and shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferralSettings {
    pub referrer_points: i64,
    pub referee_points: i64,
    /// The referee's order must reach this total (programme currency, minor units).
    pub minimum_order_minor: i64,
    pub referrer_cap: i64,
    /// `day`, `month` or `lifetime` (programme-local).
    pub cap_period: String,
}

/// The non-purchase rules as given and shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BonusRules {
    pub rules: Vec<BonusRule>,
    /// `feb28` or `mar1`: where a 29 February birthday or anniversary falls in a common year.
    pub leap_day_fallback: String,
    pub referral: ReferralSettings,
}

/// A stored rule set version (0: none stored, nothing is awarded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BonusRulesView {
    pub version: i64,
    pub rules: BonusRules,
    pub created_at: Option<Timestamp>,
}

/// The rule set in force, parsed.
#[derive(Debug, Clone)]
struct RuleSet {
    version: i64,
    fallback: LeapDayFallback,
    rules: Vec<(String, NonPurchaseRule)>,
    referral: ReferralConfig,
    cap_period: CapPeriod,
}

impl RuleSet {
    fn rule(&self, kind: NonPurchaseKind, code: &str) -> Option<&NonPurchaseRule> {
        self.rules
            .iter()
            .find(|(c, r)| r.grant().kind == kind && c == code)
            .map(|(_, r)| r)
    }

    fn celebrates(&self) -> bool {
        self.rule(NonPurchaseKind::Birthday, "").is_some()
            || self.rule(NonPurchaseKind::Anniversary, "").is_some()
    }
}

fn fallback_text(f: LeapDayFallback) -> &'static str {
    match f {
        LeapDayFallback::February28 => "feb28",
        LeapDayFallback::March1 => "mar1",
    }
}

fn parse_fallback(s: &str) -> Result<LeapDayFallback, FieldError> {
    match s {
        "feb28" => Ok(LeapDayFallback::February28),
        "mar1" => Ok(LeapDayFallback::March1),
        other => Err(FieldError::new(
            "leap_day_fallback",
            format!("expected feb28 or mar1, got {other:?}"),
        )),
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
        other => Err(FieldError::new(
            "referral.cap_period",
            format!("expected day, month or lifetime, got {other:?}"),
        )),
    }
}

fn rule_id(kind: NonPurchaseKind) -> u64 {
    let index = NonPurchaseKind::ALL
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(0);
    BONUS_RULE_ID_BASE + index as u64
}

fn check_code(code: &str, field: &str) -> Result<(), FieldError> {
    let ok = !code.is_empty()
        && code.len() <= CUSTOM_CODE_BYTES_MAX
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!("must be 1 to {CUSTOM_CODE_BYTES_MAX} bytes of a-z, 0-9, _, - and ."),
        ))
    }
}

/// Checks rules as given; returns the rows to store (version 0) and the parsed set.
fn validate(rules: &BonusRules) -> AppResult<(RuleSetRow, RuleSet)> {
    if rules.rules.len() > BONUS_RULES_MAX {
        return Err(FieldError::new("rules", format!("at most {BONUS_RULES_MAX} rules")).into());
    }
    let fallback = parse_fallback(&rules.leap_day_fallback)?;
    let cap_period = parse_cap_period(&rules.referral.cap_period)?;
    let cap = u32::try_from(rules.referral.referrer_cap).unwrap_or(0);
    let referral = ReferralConfig::new(
        rules.referral.referrer_points,
        rules.referral.referee_points,
        rules.referral.minimum_order_minor,
        cap,
    )
    .map_err(|e| match e {
        ReferralError::Points { field } => FieldError::new(
            format!("referral.{field}"),
            format!("must be 0 to {}", domain::limits::POSTING_POINTS_MAX),
        ),
        ReferralError::Cap => FieldError::new(
            "referral.referrer_cap",
            format!("must be 1 to {REFERRALS_PER_PERIOD_MAX}"),
        ),
        other => FieldError::new("referral", other.to_string()),
    })?;
    let mut parsed = Vec::with_capacity(rules.rules.len());
    let mut stored = Vec::with_capacity(rules.rules.len());
    for (i, r) in rules.rules.iter().enumerate() {
        let kind = NonPurchaseKind::parse(&r.kind).ok_or_else(|| {
            FieldError::new(
                format!("rules[{i}].kind"),
                format!(
                    "unknown kind {:?}: expected sign_up, birthday, anniversary, review, \
                     survey_answered or custom",
                    r.kind
                ),
            )
        })?;
        if kind == NonPurchaseKind::Referral {
            return Err(FieldError::new(
                format!("rules[{i}].kind"),
                "referral points are set in `referral`",
            )
            .into());
        }
        let code = match (kind, &r.code) {
            (NonPurchaseKind::Custom, Some(c)) => {
                check_code(c, &format!("rules[{i}].code"))?;
                c.clone()
            }
            (NonPurchaseKind::Custom, None) => {
                return Err(FieldError::new(
                    format!("rules[{i}].code"),
                    "a custom event rule needs a code",
                )
                .into());
            }
            (_, Some(_)) => {
                return Err(FieldError::new(
                    format!("rules[{i}].code"),
                    "only custom event rules have a code",
                )
                .into());
            }
            (_, None) => String::new(),
        };
        if parsed
            .iter()
            .any(|(c, p): &(String, NonPurchaseRule)| p.grant().kind == kind && *c == code)
        {
            return Err(FieldError::new(
                format!("rules[{i}]"),
                "the same kind (and code) appears twice",
            )
            .into());
        }
        let rule = NonPurchaseRule::new(
            RuleRef {
                id: rule_id(kind),
                version: 0,
            },
            kind,
            r.points,
        )
        .map_err(|e| FieldError::new(format!("rules[{i}].points"), e.to_string()))?;
        stored.push(BonusRuleRow {
            kind: kind.as_str().to_owned(),
            code: code.clone(),
            points: r.points,
        });
        parsed.push((code, rule));
    }
    let row = RuleSetRow {
        version: 0,
        leap_day_fallback: fallback_text(fallback).to_owned(),
        referrer_points: rules.referral.referrer_points,
        referee_points: rules.referral.referee_points,
        referral_minimum_order_minor: rules.referral.minimum_order_minor,
        referral_cap: rules.referral.referrer_cap,
        referral_cap_period: cap_period_text(cap_period).to_owned(),
        created_by: String::new(),
        created_at: 0,
        rules: stored,
    };
    Ok((
        row,
        RuleSet {
            version: 0,
            fallback,
            rules: parsed,
            referral,
            cap_period,
        },
    ))
}

fn view(row: &RuleSetRow) -> AppResult<BonusRulesView> {
    Ok(BonusRulesView {
        version: row.version,
        rules: BonusRules {
            rules: row
                .rules
                .iter()
                .map(|r| BonusRule {
                    kind: r.kind.clone(),
                    code: (!r.code.is_empty()).then(|| r.code.clone()),
                    points: r.points,
                })
                .collect(),
            leap_day_fallback: row.leap_day_fallback.clone(),
            referral: ReferralSettings {
                referrer_points: row.referrer_points,
                referee_points: row.referee_points,
                minimum_order_minor: row.referral_minimum_order_minor,
                referrer_cap: row.referral_cap,
                cap_period: row.referral_cap_period.clone(),
            },
        },
        created_at: Some(store::instant(row.created_at)?),
    })
}

/// The rule set in force, parsed; `None` when none is stored (nothing is awarded).
fn load_rules(tx: &mut Tx<'_>) -> AppResult<Option<RuleSet>> {
    let Some(row) = rows::current_rule_set(tx)? else {
        return Ok(None);
    };
    let given = view(&row)?.rules;
    let (_, mut set) =
        validate(&given).map_err(|e| AppError::Internal(anyhow!("stored bonus rules: {e}")))?;
    set.version = row.version;
    Ok(Some(set))
}

/// What an award's lot follows: the programme's zone, expiry and reminders.
struct AwardTerms {
    zone: TimeZone,
    expiry: ExpiryPolicy,
    reminder_days: Option<ReminderDays>,
}

fn award_terms(tx: &mut Tx<'_>) -> AppResult<AwardTerms> {
    let Some(p) = store::loyalty::current_programme(tx)? else {
        return Ok(AwardTerms {
            zone: TimeZone::get(PROGRAMME_TIME_ZONE_DEFAULT).context("default zone")?,
            expiry: ExpiryPolicy::Never,
            reminder_days: None,
        });
    };
    Ok(AwardTerms {
        zone: TimeZone::get(&p.time_zone).context("stored programme zone")?,
        expiry: crate::loyalty::parse_expiry(&p.expiry)?,
        reminder_days: match p.reminder_days {
            0 => None,
            d => Some(ReminderDays::new(
                i32::try_from(d).context("reminder days")?,
            )?),
        },
    })
}

/// One award to post.
struct Award<'a> {
    customer_id: i64,
    kind: NonPurchaseKind,
    code: &'a str,
    points: i64,
    rule_version: i64,
    external_id: &'a str,
    /// What the award is about (compared on a replay).
    request: Value,
}

fn provenance(kind: NonPurchaseKind, code: &str, version: i64) -> String {
    if code.is_empty() {
        format!("{} v{version}", kind.as_str())
    } else {
        format!("{}:{code} v{version}", kind.as_str())
    }
}

/// Posts an award: the event, its bonus lot and the balance, and schedules the lot's expiry
/// and reminder. `None` when the external id was stored before (nothing written).
fn post_award(
    tx: &mut Tx<'_>,
    terms: &AwardTerms,
    a: &Award<'_>,
    now: Timestamp,
    attempts: i64,
) -> AppResult<Option<i64>> {
    let now_micros = now.as_microsecond();
    let account = ledger::customer_account(tx, a.customer_id)?.ok_or(AppError::UnknownCustomer)?;
    let expires_at = expiry::lot_expires_at(terms.expiry, now, &terms.zone)
        .map_err(|e| AppError::Internal(anyhow!("{e}")))?;
    let (_, hash) = body_and_hash(&a.request);
    let body = json!({
        "request": a.request,
        "points": a.points,
        "rule_version": a.rule_version,
    })
    .to_string();
    let Some(event_id) = store::events::insert(
        tx,
        &NewEvent {
            source: AWARD_SOURCE,
            external_id: a.external_id,
            kind: EventKind::PointsAwarded,
            customer_id: Some(a.customer_id),
            order_event_id: None,
            occurred_at_micros: now_micros,
            recorded_at_micros: now_micros,
            currency: None,
            amount_minor: None,
            content_hash: &hash,
            body: &body,
        },
    )?
    else {
        return Ok(None);
    };
    let issuance = ledger::system_account(tx, ledger::ISSUANCE_ACCOUNT)?;
    let reason = provenance(a.kind, a.code, a.rule_version);
    ledger::insert_transfer(
        tx,
        &NewTransfer {
            event_id,
            seq: 0,
            debit_account_id: issuance,
            credit_account_id: account.id,
            amount: a.points,
            kind: TransferKind::Bonus,
            created_at_micros: now_micros,
            remaining: Some(a.points),
            pending_until_micros: None,
            expires_at_micros: expires_at.map(|t| t.as_microsecond()),
            lot: None,
            reason: Some(&reason),
            lot_state: None,
            lines: Vec::new(),
            revenue: None,
        },
    )?;
    ledger::add_to_balance(tx, account.id, a.points)?;
    // Free points settle what a return left owing first, like any points that become active.
    crate::points::settle_debts(tx, account.id, &[((event_id, 0), a.points)], now_micros)?;
    if let Some(e) = expires_at {
        let e = e.as_microsecond();
        crate::loyalty::schedule(
            tx,
            crate::loyalty::EXPIRE_JOB,
            crate::loyalty::expiry_due(e).max(now_micros),
            now_micros,
            attempts,
        )?;
        if let Some(days) = terms.reminder_days
            && let Some(remind) = store::instant(e).ok().and_then(|t| {
                expiry::reminder_at(t, days, REMINDER_LOCAL_TIME_DEFAULT, &terms.zone)
            })
        {
            crate::loyalty::schedule(
                tx,
                crate::loyalty::REMIND_JOB,
                remind.as_microsecond().max(now_micros),
                now_micros,
                attempts,
            )?;
        }
    }
    Ok(Some(event_id))
}

/// An award as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwardView {
    /// The award's event id.
    pub award_id: i64,
    pub customer_id: i64,
    pub kind: String,
    pub code: Option<String>,
    pub points: i64,
    /// The rule set version the points came from.
    pub rule_version: i64,
    pub external_id: String,
    pub expires_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

fn award_view(tx: &mut Tx<'_>, e: &EventRow) -> AppResult<AwardView> {
    let body: Value = serde_json::from_str(&e.body).context("stored award body")?;
    let request = &body["request"];
    let lot = ledger::of_event(tx, e.id)?
        .into_iter()
        .find(|t| t.kind == TransferKind::Bonus)
        .context("award without its lot")?;
    Ok(AwardView {
        award_id: e.id,
        customer_id: e.customer_id.context("award without customer")?,
        kind: request["kind"].as_str().unwrap_or_default().to_owned(),
        code: request["code"].as_str().map(str::to_owned),
        points: lot.amount,
        rule_version: body["rule_version"].as_i64().unwrap_or_default(),
        external_id: e.external_id.clone(),
        expires_at: lot.expires_at,
        created_at: e.recorded_at,
    })
}

/// Answers an award stored before: the same content is a replay (`false`), other content a
/// conflict naming the differing fields.
fn replay_award(tx: &mut Tx<'_>, e: &EventRow, request: &Value) -> AppResult<(AwardView, bool)> {
    let (_, hash) = body_and_hash(request);
    if e.kind == EventKind::PointsAwarded && e.content_hash == hash {
        return Ok((award_view(tx, e)?, false));
    }
    let stored: Value = serde_json::from_str(&e.body).context("stored award")?;
    Err(AppError::ConflictingDuplicate {
        differences: differences(&stored["request"], request),
    })
}

/// The sign-up award of each of `customer_ids` just created, in the creating transaction;
/// nothing when no sign-up rule is in force. Once per customer (`sign_up-<customer>`).
pub(crate) fn award_sign_ups(
    tx: &mut Tx<'_>,
    settings: &crate::Settings,
    customer_ids: &[i64],
    now: Timestamp,
) -> AppResult<()> {
    if customer_ids.is_empty() {
        return Ok(());
    }
    let Some(set) = load_rules(tx)? else {
        return Ok(());
    };
    let Some(rule) = set.rule(NonPurchaseKind::SignUp, "").copied() else {
        return Ok(());
    };
    let terms = award_terms(tx)?;
    for &customer_id in customer_ids {
        let external_id = format!("sign_up-{customer_id}");
        post_award(
            tx,
            &terms,
            &Award {
                customer_id,
                kind: NonPurchaseKind::SignUp,
                code: "",
                points: rule.points(),
                rule_version: set.version,
                external_id: &external_id,
                request: json!({"customer_id": customer_id, "kind": "sign_up"}),
            },
            now,
            settings.job_attempts_max,
        )?;
    }
    Ok(())
}

/// After orders were accepted (`(customer, order)` pairs): enqueues the referral check of each
/// customer whose referral is pending, once per order (one indexed query when none is).
pub(crate) fn after_orders(
    tx: &mut Tx<'_>,
    settings: &crate::Settings,
    orders: &[(i64, i64)],
    now_micros: i64,
) -> AppResult<()> {
    if orders.is_empty() {
        return Ok(());
    }
    let mut ids: Vec<i64> = orders.iter().map(|o| o.0).collect();
    ids.sort_unstable();
    ids.dedup();
    for referee in rows::pending_referees(tx, &ids)? {
        let order = orders
            .iter()
            .filter(|o| o.0 == referee)
            .map(|o| o.1)
            .max()
            .unwrap_or_default();
        let key = format!("{REFERRAL_JOB}@{referee}:{order}");
        let payload = json!({ "referee": referee }).to_string();
        store::jobs::enqueue(
            tx,
            &store::jobs::NewJob {
                kind: REFERRAL_JOB,
                payload: &payload,
                due_at_micros: now_micros,
                max_attempts: settings.job_attempts_max,
                dedupe_key: Some(&key),
                now_micros,
            },
        )?;
    }
    Ok(())
}

/// After refund `refund_id` of order `order_id` of `customer_id` was recorded: when that order
/// rewarded the customer's referral, enqueues the referral job, which reverses the rewards if
/// the order no longer qualifies (cancelled, refunded in full or below the minimum spend)
/// within its return window. One primary-key read.
pub(crate) fn after_refund(
    tx: &mut Tx<'_>,
    settings: &crate::Settings,
    customer_id: i64,
    order_id: i64,
    refund_id: i64,
    now_micros: i64,
) -> AppResult<()> {
    let Some(referral) = rows::referral_of(tx, customer_id)? else {
        return Ok(());
    };
    if referral.state != "rewarded" || referral.order_event_id != Some(order_id) {
        return Ok(());
    }
    let key = format!("{REFERRAL_JOB}@{customer_id}:refund:{refund_id}");
    let payload = json!({ "referee": customer_id }).to_string();
    store::jobs::enqueue(
        tx,
        &store::jobs::NewJob {
            kind: REFERRAL_JOB,
            payload: &payload,
            due_at_micros: now_micros,
            max_attempts: settings.job_attempts_max,
            dedupe_key: Some(&key),
            now_micros,
        },
    )?;
    Ok(())
}

/// The refund after which `order` no longer qualifies for its referral, if any: a
/// cancellation, the refund of every unit, or a partial refund that leaves less than
/// `minimum` (the referral's minimum spend) — `(its kind, its recording instant)`.
fn disqualifying_refund(
    tx: &mut Tx<'_>,
    order: &EventRow,
    minimum: i64,
) -> AppResult<Option<(EventKind, Timestamp)>> {
    let total = order.amount_minor.unwrap_or(0);
    let mut refunded = 0_i64;
    for r in store::events::of_order(tx, order.id)? {
        refunded += r.amount_minor.unwrap_or(0);
        if r.kind == EventKind::OrderCancelled || refunded >= total || total - refunded < minimum {
            return Ok(Some((r.kind, r.recorded_at)));
        }
    }
    Ok(None)
}

/// The end of `order`'s return window: its lot's `pending_until`, or (an order that earned no
/// pending lot) the programme's window from the order's instant; `None` without a window.
fn return_window_end(
    tx: &mut Tx<'_>,
    settings: &crate::Settings,
    order: &EventRow,
) -> AppResult<Option<Timestamp>> {
    let lot = ledger::of_event(tx, order.id)?
        .into_iter()
        .find(|t| t.kind == TransferKind::Earn);
    if let Some(until) = lot.and_then(|l| l.pending_until) {
        return Ok(Some(until));
    }
    let loyalty = crate::loyalty::load(tx, settings)?;
    Ok(domain::loyalty::lots::pending_until(
        order.occurred_at,
        loyalty.pending_days,
        loyalty.programme.zone(),
    ))
}

/// Reverses both rewards of a rewarded (and locked) referral when refunds within the order's
/// return window took it below the minimum spend of the rule version that rewarded it (or
/// refunded it in full), and marks it `reversed`. `None` (nothing written) otherwise: a refund
/// after the window, or one that leaves the order qualifying, leaves the rewards.
fn reverse_if_refunded(
    tx: &mut Tx<'_>,
    settings: &crate::Settings,
    referral: &ReferralRow,
    now: Timestamp,
) -> AppResult<Option<ReferralRow>> {
    let Some(order_id) = referral.order_event_id else {
        return Ok(None);
    };
    let order = store::events::get(tx, order_id)?.context("referral order vanished")?;
    let version = match referral.rule_version {
        Some(v) => Some(v),
        None => award_rule_version(tx, referral.referee_id)?,
    };
    let minimum = match version {
        Some(v) => rows::referral_minimum_of(tx, v)?,
        None => None,
    }
    .unwrap_or(0);
    let Some((kind, refunded_at)) = disqualifying_refund(tx, &order, minimum)? else {
        return Ok(None);
    };
    match return_window_end(tx, settings, &order)? {
        Some(end) if refunded_at <= end => {}
        _ => return Ok(None),
    }
    let reason = match kind {
        EventKind::OrderCancelled => REASON_ORDER_CANCELLED,
        _ => REASON_ORDER_REFUNDED,
    };
    let shortfall = crate::loyalty::load(tx, settings)?.shortfall;
    let now_micros = now.as_microsecond();
    // The referrer's account first, then the referee's: the order the settlement locks them in.
    for side in ["referrer", "referee"] {
        let award_id = format!("referral-{}-{side}", referral.referee_id);
        if let Some(award) = store::events::find(tx, AWARD_SOURCE, &award_id)? {
            reverse_award(tx, &award, reason, shortfall, now_micros)?;
        }
    }
    rows::reverse_referral(tx, referral.referee_id, reason, now_micros)?;
    store::audit::insert(
        tx,
        now_micros,
        "system",
        "referral.reverse",
        Some(&format!("customer:{}", referral.referee_id)),
        Some(&format!("reason={reason}")),
    )?;
    Ok(Some(ReferralRow {
        state: "reversed".to_owned(),
        reason: Some(reason.to_owned()),
        reversed_at: Some(now_micros),
        ..referral.clone()
    }))
}

/// The rule set version a referral's awards were given under, read from the awards
/// themselves: a referral rewarded before migration 19 did not record it on its row.
fn award_rule_version(tx: &mut Tx<'_>, referee_id: i64) -> AppResult<Option<i64>> {
    for side in ["referrer", "referee"] {
        let award_id = format!("referral-{referee_id}-{side}");
        if let Some(award) = store::events::find(tx, AWARD_SOURCE, &award_id)? {
            let body: Value = serde_json::from_str(&award.body).context("stored award body")?;
            if let Some(v) = body["rule_version"].as_i64() {
                return Ok(Some(v));
            }
        }
    }
    Ok(None)
}

/// Takes award `award` back: an `award_reversed` event (external id `<award's>-reversed`, so
/// once) whose `reverse` transfer names the award's lot. Like a return's clawback: from the
/// award's own lot first, then the other active lots (soonest expiry first); what they cannot
/// give follows `shortfall` — a debt (only the covered part is posted) or a negative balance
/// (all is posted, the depth is a `negative` debt) — settled from the next points that become
/// active. Returns the points reversed (0 when it was reversed before).
fn reverse_award(
    tx: &mut Tx<'_>,
    award: &EventRow,
    reason: &str,
    shortfall: ShortfallPolicy,
    now_micros: i64,
) -> AppResult<i64> {
    let customer_id = award.customer_id.context("award without customer")?;
    let account = ledger::customer_account(tx, customer_id)?.ok_or(AppError::UnknownCustomer)?;
    // The row lock first: the lots read after it cannot change before commit.
    ledger::add_to_balance(tx, account.id, 0)?;
    let lot = ledger::of_event(tx, award.id)?
        .into_iter()
        .find(|t| t.kind == TransferKind::Bonus)
        .context("award without its lot")?;
    let amount = lot.amount;
    let external_id = format!("{}-reversed", award.external_id);
    let body = json!({ "award_id": award.id, "points": amount, "reason": reason }).to_string();
    let Some(event_id) = store::events::insert(
        tx,
        &NewEvent {
            source: AWARD_SOURCE,
            external_id: &external_id,
            kind: EventKind::AwardReversed,
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
    else {
        return Ok(0);
    };
    let transfer_reason = format!("referral reversed: {reason}");
    let issuance = ledger::system_account(tx, ledger::ISSUANCE_ACCOUNT)?;
    crate::points::claw_back(
        tx,
        &crate::points::ClawBack {
            event_id,
            account: account.id,
            issuance,
            lot: (lot.event_id, lot.seq),
            lot_remaining: lot.remaining.unwrap_or(0),
            amount,
            reason: &transfer_reason,
            shortfall,
            now_micros,
        },
    )?;
    Ok(amount)
}

/// Enqueues the celebration of local date `date` at its local midnight (once per date);
/// `false` when that date's job exists already.
fn schedule_celebration(
    tx: &mut Tx<'_>,
    zone: &TimeZone,
    date: Date,
    now_micros: i64,
    attempts: i64,
) -> AppResult<bool> {
    let due = expiry::start_of_local_day(date, zone).context("local midnight")?;
    let key = format!("{CELEBRATE_JOB}@{date}");
    let payload = json!({ "date": date.to_string() }).to_string();
    Ok(store::jobs::enqueue(
        tx,
        &store::jobs::NewJob {
            kind: CELEBRATE_JOB,
            payload: &payload,
            due_at_micros: due.as_microsecond(),
            max_attempts: attempts,
            dedupe_key: Some(&key),
            now_micros,
        },
    )?
    .is_some())
}

/// A referral as shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferralView {
    pub referrer_id: i64,
    pub referee_id: i64,
    pub code: String,
    /// `pending`, `rewarded`, `refused` or `reversed`.
    pub state: String,
    /// Why a refused referral gave no points, or what reversed a rewarded one.
    pub reason: Option<String>,
    /// The referee's order that settled it.
    pub order_id: Option<i64>,
    pub rule_version: Option<i64>,
    pub created_at: Timestamp,
    pub settled_at: Option<Timestamp>,
    /// When the rewards were clawed back (state `reversed`).
    pub reversed_at: Option<Timestamp>,
}

fn referral_view(r: ReferralRow) -> AppResult<ReferralView> {
    Ok(ReferralView {
        referrer_id: r.referrer_id,
        referee_id: r.referee_id,
        code: r.code,
        state: r.state,
        reason: r.reason,
        order_id: r.order_event_id,
        rule_version: r.rule_version,
        created_at: store::instant(r.created_at)?,
        settled_at: r.settled_at.map(store::instant).transpose()?,
        reversed_at: r.reversed_at.map(store::instant).transpose()?,
    })
}

/// A member's referrals: who referred them, and whom they referred.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referrals {
    pub referred_by: Option<ReferralView>,
    pub referred: Vec<ReferralView>,
}

/// Parses a referral code as typed; a malformed one is a field error naming `field`.
pub fn parse_referral_code(text: &str, field: &str) -> Result<ReferralCode, FieldError> {
    ReferralCode::parse(text).map_err(|e| FieldError::new(field, e.to_string()))
}

fn refusal_reason(r: ReferralRefusal) -> Option<&'static str> {
    match r {
        ReferralRefusal::SelfReferral => Some(REASON_SELF_REFERRAL),
        ReferralRefusal::ReferrerCapReached => Some(REASON_CAP_REACHED),
        ReferralRefusal::TooManyIdentities => Some(REASON_TOO_MANY_IDENTITIES),
        // Not (yet) a qualifying order: the referral stays pending.
        ReferralRefusal::NotFirstOrder | ReferralRefusal::BelowMinimumSpend => None,
    }
}

fn identities(tx: &mut Tx<'_>, customer_id: i64) -> AppResult<Vec<domain::Identity>> {
    Ok(store::customers::get(tx, customer_id)?
        .ok_or(AppError::UnknownCustomer)?
        .identities)
}

/// Whether the two members share an identity, compared in normalised form (stored
/// identities are: `domain::Identity::parse`).
fn shares_identity(tx: &mut Tx<'_>, a: i64, b: i64) -> AppResult<bool> {
    let a = identities(tx, a)?;
    let b = identities(tx, b)?;
    Ok(a.iter().any(|i| b.contains(i)))
}

/// Registers `referee` as referred by the owner of `code`, in the caller's transaction.
/// Refused (a field error on `field`, nothing written) when no member has the code, the
/// referee was referred by another code, or already ordered; refused as
/// [`AppError::SelfReferral`] (nothing written) when the referee is the referrer: the same
/// member — which is also what a new customer described by the referrer's email, phone or
/// LINE user id in any spelling resolves to, identities being normalised (lower-case email,
/// E.164 phone, trimmed ids) and each owned by one customer — or a member sharing one of the
/// referrer's normalised identities.
pub(crate) fn register_referral_tx(
    tx: &mut Tx<'_>,
    who: &Principal,
    referee_id: i64,
    code: &ReferralCode,
    field: &str,
    now_micros: i64,
) -> AppResult<ReferralView> {
    let referrer_id = rows::referral_code_owner(tx, code.as_str())?
        .ok_or_else(|| FieldError::new(field, "no member has this referral code"))?;
    if let Some(existing) = rows::referral_of(tx, referee_id)? {
        if existing.code == code.as_str() {
            return referral_view(existing);
        }
        return Err(
            FieldError::new(field, "the customer was already referred with another code").into(),
        );
    }
    if rows::has_orders(tx, referee_id)? {
        return Err(FieldError::new(
            field,
            "a referral is registered before the customer's first order",
        )
        .into());
    }
    if referrer_id == referee_id || shares_identity(tx, referrer_id, referee_id)? {
        tracing::info!(referee_id, referrer_id, "self-referral refused");
        return Err(AppError::SelfReferral);
    }
    let row = ReferralRow {
        referee_id,
        referrer_id,
        code: code.as_str().to_owned(),
        state: "pending".to_owned(),
        reason: None,
        order_event_id: None,
        rule_version: None,
        created_at: now_micros,
        settled_at: None,
        reversed_at: None,
    };
    if !rows::insert_referral(tx, &row)? {
        return Err(FieldError::new(field, "the customer was already referred").into());
    }
    store::audit::insert(
        tx,
        now_micros,
        &who.actor,
        "referral.register",
        Some(&format!("customer:{referee_id}")),
        Some(&format!("referrer={referrer_id} state={}", row.state)),
    )?;
    referral_view(row)
}

impl App {
    /// The non-purchase rules in force (version 0 when none is stored: nothing is awarded).
    pub fn bonus_rules(&self) -> AppResult<BonusRulesView> {
        self.store.read(|tx| match rows::current_rule_set(tx)? {
            Some(row) => view(&row),
            None => Ok(BonusRulesView {
                version: 0,
                rules: BonusRules {
                    rules: vec![],
                    leap_day_fallback: fallback_text(LeapDayFallback::default()).to_owned(),
                    referral: ReferralSettings {
                        referrer_points: 0,
                        referee_points: 0,
                        minimum_order_minor: 0,
                        referrer_cap: 1,
                        cap_period: cap_period_text(CapPeriod::Month).to_owned(),
                    },
                },
                created_at: None,
            }),
        })
    }

    /// Stores `rules` as a new version (earlier versions are kept; awards name theirs). With a
    /// birthday or anniversary rule, the daily celebration job runs from today (local) on.
    pub fn set_bonus_rules(
        &self,
        who: &Principal,
        rules: &BonusRules,
    ) -> AppResult<BonusRulesView> {
        let (mut row, set) = validate(rules)?;
        let now = self.now();
        let attempts = self.settings.job_attempts_max;
        row.created_by = who.actor.clone();
        row.created_at = now.as_microsecond();
        self.store.write(|tx| {
            let version = rows::insert_rule_set(tx, &row)?;
            if set.celebrates() {
                let zone = award_terms(tx)?.zone;
                let today = expiry::local_date(now, &zone);
                if !schedule_celebration(tx, &zone, today, now.as_microsecond(), attempts)? {
                    let tomorrow = today.tomorrow().context("date range")?;
                    schedule_celebration(tx, &zone, tomorrow, now.as_microsecond(), attempts)?;
                }
            }
            store::audit::insert(
                tx,
                now.as_microsecond(),
                &who.actor,
                "loyalty.bonus_rules.update",
                Some(&format!("bonus_rules:{version}")),
                Some(&format!("rules={}", row.rules.len())),
            )?;
            view(&rows::current_rule_set(tx)?.context("rule set just written")?)
        })
    }

    /// Stores [`default_bonus_rules`] as a new rule set version (see [`App::set_bonus_rules`]).
    pub fn install_default_bonus_rules(&self, who: &Principal) -> AppResult<BonusRulesView> {
        self.set_bonus_rules(who, &default_bonus_rules())
    }

    /// Awards a review, survey answer or custom event to a member: the points come from the
    /// rule in force. Exactly once per `external_id` of that kind: a replay answers the first
    /// award (`false`), other content is a conflict.
    pub fn award_points(
        &self,
        who: &Principal,
        customer_id: i64,
        kind: &str,
        code: Option<&str>,
        external_id: &str,
    ) -> AppResult<(AwardView, bool)> {
        let kind = NonPurchaseKind::parse(kind).ok_or_else(|| {
            FieldError::new(
                "kind",
                format!("unknown kind {kind:?}: expected review, survey_answered or custom"),
            )
        })?;
        match kind {
            NonPurchaseKind::Review | NonPurchaseKind::SurveyAnswered | NonPurchaseKind::Custom => {
            }
            other => {
                return Err(FieldError::new(
                    "kind",
                    format!("{} points are awarded by Patron itself", other.as_str()),
                )
                .into());
            }
        }
        let code = match (kind, code) {
            (NonPurchaseKind::Custom, Some(c)) => {
                check_code(c, "code")?;
                c
            }
            (NonPurchaseKind::Custom, None) => {
                return Err(FieldError::new("code", "a custom event needs its code").into());
            }
            (_, Some(_)) => {
                return Err(FieldError::new("code", "only custom events have a code").into());
            }
            (_, None) => "",
        };
        if external_id.is_empty() || external_id.len() > domain::limits::EXTERNAL_ID_BYTES_MAX {
            return Err(FieldError::new(
                "external_id",
                format!(
                    "must be 1 to {} bytes",
                    domain::limits::EXTERNAL_ID_BYTES_MAX
                ),
            )
            .into());
        }
        let stored_id = format!("{}:{external_id}", kind.as_str());
        let mut request = json!({"customer_id": customer_id, "kind": kind.as_str()});
        if !code.is_empty() {
            request["code"] = json!(code);
        }
        let now = self.now();
        let attempts = self.settings.job_attempts_max;
        self.store.write(|tx| {
            if !store::customers::exists(tx, customer_id)? {
                return Err(AppError::NotFound);
            }
            if let Some(e) = store::events::find(tx, AWARD_SOURCE, &stored_id)? {
                return replay_award(tx, &e, &request);
            }
            let set = load_rules(tx)?;
            let Some((rule, version)) = set
                .as_ref()
                .and_then(|s| s.rule(kind, code).map(|r| (*r, s.version)))
            else {
                return Err(if code.is_empty() {
                    FieldError::new("kind", format!("no {} rule is in force", kind.as_str()))
                } else {
                    FieldError::new("code", format!("no custom event rule has code {code:?}"))
                }
                .into());
            };
            let terms = award_terms(tx)?;
            let Some(event_id) = post_award(
                tx,
                &terms,
                &Award {
                    customer_id,
                    kind,
                    code,
                    points: rule.points(),
                    rule_version: version,
                    external_id: &stored_id,
                    request: request.clone(),
                },
                now,
                attempts,
            )?
            else {
                // A concurrent request stored it between our look and our insert (PostgreSQL,
                // READ COMMITTED: the insert waited for it), so this is a replay after all.
                let e =
                    store::events::find(tx, AWARD_SOURCE, &stored_id)?.context("award vanished")?;
                return replay_award(tx, &e, &request);
            };
            store::audit::insert(
                tx,
                now.as_microsecond(),
                &who.actor,
                "points.award",
                Some(&format!("customer:{customer_id}")),
                Some(&format!("kind={} points={}", kind.as_str(), rule.points())),
            )?;
            let e = store::events::get(tx, event_id)?.context("award just written")?;
            Ok((award_view(tx, &e)?, true))
        })
    }

    /// The `loyalty.celebrate` job: see [`App::celebrate`].
    pub(crate) fn run_celebrate_job(&self, payload: &str) -> Result<(), String> {
        let date = serde_json::from_str::<Value>(payload)
            .ok()
            .and_then(|v| v["date"].as_str().and_then(|d| d.parse::<Date>().ok()))
            .ok_or_else(|| format!("permanent: bad celebration payload {payload:?}"))?;
        self.celebrate(date).map(|_| ()).map_err(|e| e.to_string())
    }

    /// Awards the birthdays and joining anniversaries celebrated on the programme-local date
    /// `date` (29 February in a common year on the configured fallback day), once per member
    /// and year, then schedules the next date while such a rule is in force. Returns the
    /// number of awards written; a second run writes none.
    pub fn celebrate(&self, date: Date) -> AppResult<i64> {
        let now = self.now();
        let attempts = self.settings.job_attempts_max;
        let Some(set) = self.store.read(load_rules)? else {
            return Ok(0);
        };
        let mut written = 0;
        // In a common year, the fallback day also celebrates those born (or joined) on 29 February.
        let leap_fallback_today = Date::new(date.year(), 2, 29).is_err()
            && celebration_date(Date::constant(2000, 2, 29), date.year(), set.fallback)
                == Some(date);
        if let Some(rule) = set.rule(NonPurchaseKind::Birthday, "").copied() {
            let today = format!("{:02}-{:02}", date.month(), date.day());
            let mut month_days = vec![today.as_str()];
            if leap_fallback_today {
                month_days.push("02-29");
            }
            let mut after = 0;
            loop {
                let (n, last, w) = self.store.write(|tx| -> AppResult<(i64, i64, i64)> {
                    let terms = award_terms(tx)?;
                    let found =
                        rows::customers_born_on(tx, &month_days, after, AWARDS_PER_JOB_TX_MAX)?;
                    let mut w = 0;
                    for (id, birthday) in &found {
                        let Ok(born) = birthday.parse::<Date>() else {
                            continue;
                        };
                        if born >= date || !birthday_award_due(born, set.fallback, date) {
                            continue;
                        }
                        let external_id = format!("birthday-{id}-{}", date.year());
                        let award = Award {
                            customer_id: *id,
                            kind: NonPurchaseKind::Birthday,
                            code: "",
                            points: rule.points(),
                            rule_version: set.version,
                            external_id: &external_id,
                            request: json!({"customer_id": id, "kind": "birthday", "year": date.year()}),
                        };
                        if post_award(tx, &terms, &award, now, attempts)?.is_some() {
                            w += 1;
                        }
                    }
                    Ok((found.len() as i64, found.last().map_or(after, |f| f.0), w))
                })?;
                written += w;
                after = last;
                if n < AWARDS_PER_JOB_TX_MAX {
                    break;
                }
            }
        }
        if let Some(rule) = set.rule(NonPurchaseKind::Anniversary, "").copied() {
            written += self.celebrate_anniversaries(&set, rule, date, leap_fallback_today)?;
        }
        if set.celebrates() {
            self.store.write(|tx| -> AppResult<()> {
                let zone = award_terms(tx)?.zone;
                let next = date.tomorrow().context("date range")?;
                schedule_celebration(tx, &zone, next, now.as_microsecond(), attempts)?;
                Ok(())
            })?;
        }
        tracing::info!(%date, written, "celebrations awarded");
        Ok(written)
    }

    fn celebrate_anniversaries(
        &self,
        set: &RuleSet,
        rule: NonPurchaseRule,
        date: Date,
        leap_fallback_today: bool,
    ) -> AppResult<i64> {
        let now = self.now();
        let attempts = self.settings.job_attempts_max;
        let (zone, first) = self.store.read(|tx| -> AppResult<_> {
            Ok((award_terms(tx)?.zone, rows::first_customer_created_at(tx)?))
        })?;
        let Some(first) = first else {
            return Ok(0);
        };
        let first_year = expiry::local_date(store::instant(first)?, &zone).year();
        let mut written = 0;
        for year in first_year..date.year() {
            let mut joined_on: Vec<Date> = Date::new(year, date.month(), date.day())
                .into_iter()
                .collect();
            if leap_fallback_today && let Ok(leap) = Date::new(year, 2, 29) {
                joined_on.push(leap);
            }
            for day in joined_on {
                if celebration_date(day, date.year(), set.fallback) != Some(date) {
                    continue;
                }
                let from = expiry::start_of_local_day(day, &zone).context("local day")?;
                let to = expiry::start_of_local_day(day.tomorrow().context("date range")?, &zone)
                    .context("local day")?;
                let mut after = 0;
                loop {
                    let (n, last, w) = self.store.write(|tx| -> AppResult<(i64, i64, i64)> {
                        let terms = award_terms(tx)?;
                        let found = rows::customers_created_between(
                            tx,
                            from.as_microsecond(),
                            to.as_microsecond(),
                            after,
                            AWARDS_PER_JOB_TX_MAX,
                        )?;
                        let mut w = 0;
                        for id in &found {
                            let external_id = format!("anniversary-{id}-{}", date.year());
                            let award = Award {
                                customer_id: *id,
                                kind: NonPurchaseKind::Anniversary,
                                code: "",
                                points: rule.points(),
                                rule_version: set.version,
                                external_id: &external_id,
                                request: json!({"customer_id": id, "kind": "anniversary", "year": date.year()}),
                            };
                            if post_award(tx, &terms, &award, now, attempts)?.is_some() {
                                w += 1;
                            }
                        }
                        Ok((found.len() as i64, found.last().copied().unwrap_or(after), w))
                    })?;
                    written += w;
                    after = last;
                    if n < AWARDS_PER_JOB_TX_MAX {
                        break;
                    }
                }
            }
        }
        Ok(written)
    }

    /// The member's referral code, if one was generated.
    pub fn referral_code(&self, customer_id: i64) -> AppResult<Option<String>> {
        self.store.read(|tx| {
            if !store::customers::exists(tx, customer_id)? {
                return Err(AppError::NotFound);
            }
            Ok(rows::referral_code_of(tx, customer_id)?)
        })
    }

    /// The member's referral code, generated from the app's entropy on first call (`true`
    /// when generated now). A code is never replaced.
    pub fn create_referral_code(
        &self,
        who: &Principal,
        customer_id: i64,
    ) -> AppResult<(String, bool)> {
        let now = self.now_micros();
        self.store.write(|tx| {
            if !store::customers::exists(tx, customer_id)? {
                return Err(AppError::NotFound);
            }
            for _ in 0..REFERRAL_CODE_ATTEMPTS {
                if let Some(code) = rows::referral_code_of(tx, customer_id)? {
                    return Ok((code, false));
                }
                let mut bytes = [0u8; 8];
                self.entropy.fill(&mut bytes);
                let code = ReferralCode::from_entropy(u64::from_le_bytes(bytes));
                if rows::insert_referral_code(tx, customer_id, code.as_str(), now)? {
                    store::audit::insert(
                        tx,
                        now,
                        &who.actor,
                        "referral.code",
                        Some(&format!("customer:{customer_id}")),
                        None,
                    )?;
                    return Ok((code.as_str().to_owned(), true));
                }
            }
            Err(AppError::Internal(anyhow!(
                "no free referral code after {REFERRAL_CODE_ATTEMPTS} attempts"
            )))
        })
    }

    /// Registers the customer as referred by the owner of `code` (see
    /// [`register_referral_tx`]); the code is checked before anything is read.
    pub fn register_referral(
        &self,
        who: &Principal,
        referee_id: i64,
        code: &str,
    ) -> AppResult<ReferralView> {
        let code = parse_referral_code(code, "referral_code")?;
        let now = self.now_micros();
        self.store.write(|tx| {
            if !store::customers::exists(tx, referee_id)? {
                return Err(AppError::NotFound);
            }
            register_referral_tx(tx, who, referee_id, &code, "referral_code", now)
        })
    }

    /// Who referred the member and whom they referred.
    pub fn referrals(&self, customer_id: i64) -> AppResult<Referrals> {
        self.store.read(|tx| {
            if !store::customers::exists(tx, customer_id)? {
                return Err(AppError::NotFound);
            }
            Ok(Referrals {
                referred_by: rows::referral_of(tx, customer_id)?
                    .map(referral_view)
                    .transpose()?,
                referred: rows::referrals_by(tx, customer_id, REFERRALS_LISTED_MAX)?
                    .into_iter()
                    .map(referral_view)
                    .collect::<AppResult<_>>()?,
            })
        })
    }

    /// The `loyalty.referral` job: see [`App::settle_referral`].
    pub(crate) fn run_referral_job(&self, payload: &str) -> Result<(), String> {
        let referee = serde_json::from_str::<Value>(payload)
            .ok()
            .and_then(|v| v["referee"].as_i64())
            .ok_or_else(|| format!("permanent: bad referral payload {payload:?}"))?;
        self.settle_referral(referee)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Settles the referee's pending referral on their first qualifying order (programme
    /// currency, not cancelled, at least the minimum spend after its refunds): both members get
    /// their points, or it is refused with a reason. Stays pending without such an order or
    /// without stored rules. A rewarded referral whose order stopped qualifying within its
    /// return window is reversed (see [`reverse_if_refunded`]). Idempotent: a referral is settled once
    /// and reversed once. Returns the referral as it stands.
    pub fn settle_referral(&self, referee_id: i64) -> AppResult<Option<ReferralView>> {
        let now = self.now();
        let now_micros = now.as_microsecond();
        let attempts = self.settings.job_attempts_max;
        let currency = self.settings.currency.code();
        self.store.write(|tx| {
            let Some(referral) = rows::referral_for_update(tx, referee_id)? else {
                return Ok(None);
            };
            let Some(set) = load_rules(tx)? else {
                return Ok(Some(referral_view(referral)?));
            };
            match referral.state.as_str() {
                "pending" => {}
                "rewarded" => {
                    let reversed = reverse_if_refunded(tx, &self.settings, &referral, now)?;
                    return Ok(Some(referral_view(reversed.unwrap_or(referral))?));
                }
                _ => return Ok(Some(referral_view(referral)?)),
            }
            let Some((order_id, total)) = rows::first_order_at_least(
                tx,
                referee_id,
                currency,
                set.referral.minimum_order_minor(),
            )?
            else {
                return Ok(Some(referral_view(referral)?));
            };
            // The referrer's account row lock serialises the cap count across referees.
            let referrer_account = ledger::customer_account(tx, referral.referrer_id)?
                .ok_or(AppError::UnknownCustomer)?;
            ledger::add_to_balance(tx, referrer_account.id, 0)?;
            let terms = award_terms(tx)?;
            let since = cap_period_start(set.cap_period, now, &terms.zone)
                .map_or(i64::MIN, |t| t.as_microsecond());
            let rewarded = rows::rewarded_since(tx, referral.referrer_id, since)?;
            let referrer_identities = identities(tx, referral.referrer_id)?;
            let referee_identities = identities(tx, referee_id)?;
            let facts = ReferralFacts {
                referrer_identities: &referrer_identities,
                referee_identities: &referee_identities,
                referee_prior_qualifying_orders: 0,
                order_total_minor: total,
                referrer_rewarded_in_period: u32::try_from(rewarded).unwrap_or(u32::MAX),
            };
            let mut settled = ReferralRow {
                state: "rewarded".to_owned(),
                order_event_id: Some(order_id),
                rule_version: Some(set.version),
                settled_at: Some(now_micros),
                ..referral.clone()
            };
            match referral_rewards(&set.referral, &facts) {
                Ok(award) => {
                    for (customer_id, side, points) in [
                        (referral.referrer_id, "referrer", award.referrer_points),
                        (referee_id, "referee", award.referee_points),
                    ] {
                        if points == 0 {
                            continue;
                        }
                        let external_id = format!("referral-{referee_id}-{side}");
                        post_award(
                            tx,
                            &terms,
                            &Award {
                                customer_id,
                                kind: NonPurchaseKind::Referral,
                                code: "",
                                points,
                                rule_version: set.version,
                                external_id: &external_id,
                                request: json!({
                                    "customer_id": customer_id,
                                    "kind": "referral",
                                    "referee_id": referee_id,
                                    "side": side,
                                }),
                            },
                            now,
                            attempts,
                        )?;
                    }
                }
                Err(refusal) => {
                    let Some(reason) = refusal_reason(refusal) else {
                        return Ok(Some(referral_view(referral)?));
                    };
                    settled.state = "refused".to_owned();
                    settled.reason = Some(reason.to_owned());
                }
            }
            rows::settle_referral(tx, &settled)?;
            store::audit::insert(
                tx,
                now_micros,
                "system",
                "referral.settle",
                Some(&format!("customer:{referee_id}")),
                Some(&format!(
                    "state={} reason={}",
                    settled.state,
                    settled.reason.as_deref().unwrap_or("-")
                )),
            )?;
            Ok(Some(referral_view(settled)?))
        })
    }
}

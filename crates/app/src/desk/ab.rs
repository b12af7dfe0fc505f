//! Template A/B tests: a test runs over two or more variants of one template key (`ack`, a
//! complaint reply), each variant naming the template it sends and a relative weight. When the
//! key is rendered on a ticket ([`template_for`], called by every templated reply including
//! the automatic acknowledgement) the ticket's variant is a deterministic function of test and
//! ticket ([`domain::desk::ops::ab_variant`]) and is **recorded** the first time, so later uses
//! on the same ticket send the same variant and results join on the record. Every rendered
//! template is also recorded in `template_uses` (CSAT per template in the KPIs).
//!
//! Results per variant: tickets, CSAT mean and count, tickets solved, reopen rate (tickets
//! reopened at least once ÷ tickets solved at least once). At most one test runs per key;
//! stopping a test keeps its assignments and results.

use crate::{App, AppError, AppResult, Principal};
use anyhow::Context as _;
use domain::FieldError;
use domain::desk::ops::{AB_VARIANTS_MAX, AB_VARIANTS_MIN, AB_WEIGHT_MAX, ab_variant, rate};
use domain::desk::reply::{TEMPLATE_LOCALES, default_template, valid_template_key};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use store::desk::{self as rows, TicketRow};
use store::desk_ops::{self, AbTestRow};
use store::sql::Tx;

/// Longest test or variant name, in characters.
pub const AB_NAME_CHARS_MAX: usize = 64;

/// One variant: its name, the template it sends, its weight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Variant {
    pub name: String,
    pub template: String,
    pub weight: u32,
}

/// A test as a request describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbTestInput {
    pub name: String,
    /// The template key whose uses the test takes over.
    pub template_key: String,
    pub variants: Vec<Variant>,
}

/// Results of one variant.
#[derive(Debug, Clone, PartialEq)]
pub struct VariantResult {
    pub variant: Variant,
    pub tickets: i64,
    pub csat_count: i64,
    pub csat_mean: Option<f64>,
    pub solved: i64,
    pub reopened: i64,
    pub reopen_rate: Option<f64>,
}

/// A test with its results.
#[derive(Debug, Clone, PartialEq)]
pub struct AbTestView {
    pub id: i64,
    pub name: String,
    pub template_key: String,
    pub started_at: Timestamp,
    pub stopped_at: Option<Timestamp>,
    pub results: Vec<VariantResult>,
}

fn name_ok(field: &str, name: &str) -> Result<String, FieldError> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > AB_NAME_CHARS_MAX || n.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            format!("1 to {AB_NAME_CHARS_MAX} characters on one line"),
        ));
    }
    Ok(n.to_owned())
}

/// Whether a template key can be rendered: stored in some locale, or a built-in default.
fn template_exists(tx: &mut Tx<'_>, key: &str) -> anyhow::Result<bool> {
    for locale in TEMPLATE_LOCALES {
        if rows::get_template(tx, key, locale)?.is_some() || default_template(key, locale).is_some()
        {
            return Ok(true);
        }
    }
    Ok(false)
}

fn variants_of(row: &AbTestRow) -> anyhow::Result<Vec<Variant>> {
    serde_json::from_str(&row.variants).with_context(|| format!("stored A/B test {}", row.id))
}

/// The template to render for `key` on `ticket`: the ticket's variant when a test of `key`
/// runs (recorded on first use), else `key`. Records the use either way.
pub(crate) fn template_for(
    tx: &mut Tx<'_>,
    ticket: &TicketRow,
    key: &str,
    now: Timestamp,
) -> anyhow::Result<String> {
    let chosen = match desk_ops::running_ab_test(tx, key)? {
        None => key.to_owned(),
        Some(test) => match desk_ops::assignment(tx, test.id, ticket.id)? {
            Some((_, template)) => template,
            None => {
                let variants = variants_of(&test)?;
                let weights: Vec<u32> = variants.iter().map(|v| v.weight).collect();
                let v = &variants[ab_variant(test.id, ticket.id, &weights)];
                desk_ops::insert_assignment(
                    tx,
                    test.id,
                    ticket.id,
                    &v.name,
                    &v.template,
                    now.as_microsecond(),
                )?;
                v.template.clone()
            }
        },
    };
    desk_ops::insert_template_use(tx, ticket.id, &chosen, now.as_microsecond())?;
    Ok(chosen)
}

fn test_view(tx: &mut Tx<'_>, row: AbTestRow) -> AppResult<AbTestView> {
    let variants = variants_of(&row)?;
    let stats = desk_ops::ab_results(tx, row.id)?;
    let results = variants
        .into_iter()
        .map(|v| {
            let s = stats.iter().find(|s| s.variant == v.name);
            let (tickets, ratings, sum, solved, reopened) = s.map_or((0, 0, 0, 0, 0), |s| {
                (s.tickets, s.ratings, s.rating_sum, s.solved, s.reopened)
            });
            VariantResult {
                variant: v,
                tickets,
                csat_count: ratings,
                csat_mean: (ratings > 0).then(|| sum as f64 / ratings as f64),
                solved,
                reopened,
                reopen_rate: rate(reopened as usize, solved as usize),
            }
        })
        .collect();
    Ok(AbTestView {
        id: row.id,
        name: row.name,
        template_key: row.template_key,
        started_at: row.started_at,
        stopped_at: row.stopped_at,
        results,
    })
}

impl App {
    /// Starts a test. Refused (naming the field) with fewer than two or more than eight
    /// variants, a duplicate variant name, a weight outside 1 to 1000, a template that does
    /// not exist, or while another test of the same key runs.
    pub fn create_ab_test(&self, who: &Principal, input: &AbTestInput) -> AppResult<AbTestView> {
        let name = name_ok("name", &input.name)?;
        if !valid_template_key(&input.template_key) {
            return Err(FieldError::new("template_key", "not a template key").into());
        }
        if !(AB_VARIANTS_MIN..=AB_VARIANTS_MAX).contains(&input.variants.len()) {
            return Err(FieldError::new(
                "variants",
                format!("{AB_VARIANTS_MIN} to {AB_VARIANTS_MAX} variants"),
            )
            .into());
        }
        let mut variants = Vec::with_capacity(input.variants.len());
        for (i, v) in input.variants.iter().enumerate() {
            let vname = name_ok(&format!("variants[{i}].name"), &v.name)?;
            if variants.iter().any(|x: &Variant| x.name == vname) {
                return Err(FieldError::new(
                    format!("variants[{i}].name"),
                    "used by another variant",
                )
                .into());
            }
            if !valid_template_key(&v.template) {
                return Err(FieldError::new(
                    format!("variants[{i}].template"),
                    "not a template key",
                )
                .into());
            }
            if !(1..=AB_WEIGHT_MAX).contains(&v.weight) {
                return Err(FieldError::new(
                    format!("variants[{i}].weight"),
                    format!("1 to {AB_WEIGHT_MAX}"),
                )
                .into());
            }
            variants.push(Variant {
                name: vname,
                template: v.template.clone(),
                weight: v.weight,
            });
        }
        let doc = serde_json::to_string(&variants).context("variants to JSON")?;
        let now = self.now_micros();
        self.store.write(|tx| {
            for (i, v) in variants.iter().enumerate() {
                if !template_exists(tx, &v.template)? {
                    return Err(AppError::Invalid(FieldError::new(
                        format!("variants[{i}].template"),
                        format!("no template {:?}", v.template),
                    )));
                }
            }
            let id = desk_ops::insert_ab_test(tx, &name, &input.template_key, &doc, now)?
                .ok_or_else(|| {
                    FieldError::new(
                        "template_key",
                        "a test of this template is running: stop it first",
                    )
                })?;
            store::audit::insert(
                tx,
                now,
                &who.actor,
                "ab_test.create",
                Some(&format!("ab_test:{id}")),
                Some(&format!("template={}", input.template_key)),
            )?;
            let row = desk_ops::get_ab_test(tx, id)?.ok_or(AppError::NotFound)?;
            test_view(tx, row)
        })
    }

    /// Stops a test (stopping a stopped test changes nothing).
    pub fn stop_ab_test(&self, who: &Principal, id: i64) -> AppResult<AbTestView> {
        let now = self.now_micros();
        self.store.write(|tx| {
            desk_ops::get_ab_test(tx, id)?.ok_or(AppError::NotFound)?;
            if desk_ops::stop_ab_test(tx, id, now)? {
                store::audit::insert(
                    tx,
                    now,
                    &who.actor,
                    "ab_test.stop",
                    Some(&format!("ab_test:{id}")),
                    None,
                )?;
            }
            let row = desk_ops::get_ab_test(tx, id)?.ok_or(AppError::NotFound)?;
            test_view(tx, row)
        })
    }

    /// A test with its results per variant.
    pub fn ab_test(&self, id: i64) -> AppResult<AbTestView> {
        self.store.read(|tx| {
            let row = desk_ops::get_ab_test(tx, id)?.ok_or(AppError::NotFound)?;
            test_view(tx, row)
        })
    }

    /// Every test, oldest first, with results.
    pub fn ab_tests(&self) -> AppResult<Vec<AbTestView>> {
        self.store.read(|tx| {
            desk_ops::list_ab_tests(tx)?
                .into_iter()
                .map(|row| test_view(tx, row))
                .collect()
        })
    }
}

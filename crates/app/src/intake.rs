//! Exactly-once intake of orders, refunds and other customer events.
//!
//! Each event carries `(source, external_id)`, unique in the database. The first arrival is
//! stored and acted on (points posted) in one transaction; a later arrival with the same
//! content gets the first outcome back, and one with other content is refused with the list
//! of fields that differ. Content is compared by a hash of its canonical JSON.

use crate::canonical::{body_and_hash, differences};
use crate::customers::{CustomerInput, ValidCustomer, resolve_or_create};
use crate::{App, AppError, AppResult, Principal};
use anyhow::Context;
use domain::ledger::TransferKind;
use domain::order::{RefundRequest, plan_refund};
use domain::{Currency, EventKind, ExternalRef, FieldError, Identity, Order, OrderLine};
use serde_json::{Value, json};
use std::collections::HashMap;
use store::events::{self, EventRow, NewEvent};
use store::ledger::{self, NewTransfer};
use store::sql::Tx;

/// How a request names the customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerRef {
    /// Patron's own customer id; must exist.
    Id(i64),
    /// Identities (and optionally a profile): found, or created when none is known.
    Described(CustomerInput),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineInput {
    pub sku: String,
    pub category: Option<String>,
    pub quantity: i64,
    pub unit_price_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderInput {
    pub source: String,
    pub external_id: String,
    pub customer: CustomerRef,
    /// When the order was placed; the arrival instant when absent.
    pub occurred_at: Option<jiff::Timestamp>,
    pub currency: String,
    pub lines: Vec<LineInput>,
}

/// What an accepted order did. A duplicate gets the same value back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderOutcome {
    pub order_id: i64,
    pub source: String,
    pub external_id: String,
    pub customer_id: i64,
    pub total_minor: i64,
    pub currency: String,
    pub points_earned: i64,
    pub occurred_at: jiff::Timestamp,
}

/// One item of a batch: accepted now, seen before with the same content, or refused.
#[derive(Debug)]
pub enum Intake<T> {
    Accepted(T),
    Duplicate(T),
    Rejected(AppError),
}

impl<T> Intake<T> {
    /// The outcome, or the error, for callers that handle one item at a time.
    pub fn into_result(self) -> AppResult<(T, bool)> {
        match self {
            Intake::Accepted(t) => Ok((t, false)),
            Intake::Duplicate(t) => Ok((t, true)),
            Intake::Rejected(e) => Err(e),
        }
    }
}

struct ValidOrder {
    reference: ExternalRef,
    customer: ValidRef,
    occurred_at: Option<jiff::Timestamp>,
    order: Order,
    content: Value,
    /// Orders in a currency other than the programme's are stored but earn nothing.
    earns: bool,
}

enum ValidRef {
    Id(i64),
    Described(ValidCustomer),
}

fn customer_content(r: &CustomerRef) -> Value {
    match r {
        CustomerRef::Id(id) => json!({ "id": id }),
        CustomerRef::Described(c) => {
            let identities: serde_json::Map<String, Value> = c
                .identities
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), Value::from(v.as_str())))
                .collect();
            json!({
                "identities": identities,
                "name": c.name,
                "birthday": c.birthday,
                "locale": c.locale,
                "time_zone": c.time_zone,
            })
        }
    }
}

fn validate_ref(r: &CustomerRef) -> Result<ValidRef, FieldError> {
    Ok(match r {
        CustomerRef::Id(id) if *id > 0 => ValidRef::Id(*id),
        CustomerRef::Id(_) => return Err(FieldError::new("customer.id", "must be positive")),
        CustomerRef::Described(c) => {
            ValidRef::Described(c.validate().map_err(|e| e.within("customer"))?)
        }
    })
}

impl OrderInput {
    fn validate(&self, programme: Currency) -> AppResult<ValidOrder> {
        let reference = ExternalRef::parse(&self.source, &self.external_id)?;
        let customer = validate_ref(&self.customer)?;
        let currency = Currency::parse(&self.currency)?;
        let earns = currency == programme;
        let lines = self
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                OrderLine::new(
                    &l.sku,
                    l.category.as_deref(),
                    l.quantity,
                    l.unit_price_minor,
                )
                .map_err(|e| e.within(&format!("lines[{i}]")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let order = Order::new(currency, lines)?;
        let content = json!({
            "customer": customer_content(&self.customer),
            "occurred_at": self.occurred_at.map(|t| t.to_string()),
            "currency": currency.code(),
            "lines": order.lines.iter().map(|l| json!({
                "sku": l.sku,
                "category": l.category,
                "quantity": l.quantity,
                "unit_price_minor": l.unit_price_minor,
            })).collect::<Vec<_>>(),
        });
        Ok(ValidOrder {
            reference,
            customer,
            occurred_at: self.occurred_at,
            order,
            content,
            earns,
        })
    }
}

/// A batch being decided: one slot per input, and the new orders to write.
#[derive(Default)]
struct BatchPlan {
    results: Vec<Slot>,
    new: Vec<NewOrder>,
}

enum Slot {
    Done(Intake<OrderOutcome>),
    /// A new order: index into `BatchPlan::new`.
    New(usize),
    /// The same order again within the batch.
    SameAs(usize),
}

struct NewOrder {
    input: usize,
    customer_id: i64,
    occurred_at: jiff::Timestamp,
    total: i64,
    earned: i64,
    earn: Option<crate::loyalty::EarnDecision>,
    body: String,
    hash: Vec<u8>,
}

/// Validation errors are plain data; the batch reports each rejected order's own copy.
fn clone_error(e: &AppError) -> AppError {
    match e {
        AppError::Invalid(f) => AppError::Invalid(f.clone()),
        other => AppError::Internal(anyhow::anyhow!("{other}")),
    }
}

/// Resolves a described customer using (and updating) the batch's identity map; creates the
/// customer when no identity is known. `Ok(Err(_))` rejects this order only.
fn resolve_cached(
    tx: &mut Tx<'_>,
    owners: &mut HashMap<Identity, i64>,
    c: &ValidCustomer,
    now_micros: i64,
) -> AppResult<Result<i64, AppError>> {
    if c.identities.is_empty() {
        return Ok(Err(FieldError::new(
            "customer",
            "needs an id or at least one identity",
        )
        .into()));
    }
    let mut found: Vec<i64> = c
        .identities
        .iter()
        .filter_map(|i| owners.get(i).copied())
        .collect();
    found.sort_unstable();
    found.dedup();
    let id = match found.as_slice() {
        [] => {
            let (id, _) = resolve_or_create(tx, c, now_micros)?;
            id
        }
        [id] => {
            for i in &c.identities {
                if !owners.contains_key(i) && !store::customers::add_identity(tx, *id, i)? {
                    return Ok(Err(AppError::IdentityConflict {
                        customer_ids: vec![*id],
                    }));
                }
            }
            *id
        }
        many => {
            return Ok(Err(AppError::IdentityConflict {
                customer_ids: many.to_vec(),
            }));
        }
    };
    for i in &c.identities {
        owners.insert(i.clone(), id);
    }
    Ok(Ok(id))
}

/// Per-transaction caches for a batch: the issuance account and customers' accounts.
struct Accounts {
    issuance: i64,
    by_customer: HashMap<i64, i64>,
}

impl Accounts {
    fn load(tx: &mut Tx<'_>) -> anyhow::Result<Accounts> {
        Ok(Accounts {
            issuance: ledger::system_account(tx, ledger::ISSUANCE_ACCOUNT)?,
            by_customer: HashMap::new(),
        })
    }

    fn customer(&mut self, tx: &mut Tx<'_>, customer_id: i64) -> AppResult<i64> {
        if let Some(id) = self.by_customer.get(&customer_id) {
            return Ok(*id);
        }
        let account =
            ledger::customer_account(tx, customer_id)?.ok_or(AppError::UnknownCustomer)?;
        self.by_customer.insert(customer_id, account.id);
        Ok(account.id)
    }
}

fn order_outcome(tx: &mut Tx<'_>, e: &EventRow) -> AppResult<OrderOutcome> {
    let earned = ledger::of_event(tx, e.id)?
        .iter()
        .filter(|t| t.kind == TransferKind::Earn)
        .map(|t| t.amount)
        .sum();
    Ok(OrderOutcome {
        order_id: e.id,
        source: e.source.clone(),
        external_id: e.external_id.clone(),
        customer_id: e.customer_id.context("order without customer")?,
        total_minor: e.amount_minor.context("order without amount")?,
        currency: e.currency.clone().context("order without currency")?,
        points_earned: earned,
        occurred_at: e.occurred_at,
    })
}

/// Compares a stored event with a new arrival of the same (source, external_id).
fn replay<T>(
    stored: &EventRow,
    kind: EventKind,
    hash: &[u8],
    content: &Value,
    outcome: impl FnOnce() -> AppResult<T>,
) -> AppResult<Intake<T>> {
    if stored.kind == kind && stored.content_hash == hash {
        return Ok(Intake::Duplicate(outcome()?));
    }
    let stored_body: Value = serde_json::from_str(&stored.body).context("stored event body")?;
    let stored_content = stored_body.get("request").unwrap_or(&stored_body);
    let mut differences = differences(stored_content, content);
    if stored.kind != kind {
        differences.insert(0, "kind".to_owned());
    }
    Ok(Intake::Rejected(AppError::ConflictingDuplicate {
        differences,
    }))
}

impl App {
    /// Places one order: see [`App::place_orders`].
    pub fn place_order(
        &self,
        who: &Principal,
        input: &OrderInput,
    ) -> AppResult<Intake<OrderOutcome>> {
        Ok(self
            .place_orders(who, std::slice::from_ref(input))?
            .pop()
            .expect("one result per input"))
    }

    /// Places a batch of orders in one transaction: each is accepted (stored, points earned),
    /// a duplicate (the first outcome returned) or rejected (nothing written for it).
    /// The API calls this with one order, the import with up to a thousand.
    ///
    /// The batch is decided in memory and written with a few multi-row statements: one look-up
    /// of the batch's ids, one of its identities, one insert of its events and one of its lots,
    /// and one balance update per customer. Replays and conflicts are found before anything is
    /// written; a concurrent writer that stores the same id first is caught by the unique
    /// constraint and answered as a replay.
    pub fn place_orders(
        &self,
        who: &Principal,
        inputs: &[OrderInput],
    ) -> AppResult<Vec<Intake<OrderOutcome>>> {
        let now = self.now();
        let now_micros = now.as_microsecond();
        let programme = self.settings.currency;
        let validated: Vec<AppResult<(ValidOrder, String, Vec<u8>)>> = inputs
            .iter()
            .map(|i| {
                let v = i.validate(programme)?;
                let (body, hash) = body_and_hash(&v.content);
                Ok((v, body, hash))
            })
            .collect();
        self.store.write(|tx| {
            let mut plan = BatchPlan::default();
            let endpoints = store::outbox::active_endpoints(tx)?;
            let issuance = ledger::system_account(tx, ledger::ISSUANCE_ACCOUNT)?;
            let loyalty = crate::loyalty::load(tx, &self.settings)?;

            // 1. What is already stored, and who the identities belong to.
            let mut by_source: HashMap<&str, Vec<&str>> = HashMap::new();
            for (v, _, _) in validated.iter().flatten() {
                by_source
                    .entry(&v.reference.source)
                    .or_default()
                    .push(&v.reference.external_id);
            }
            let mut stored: HashMap<(String, String), EventRow> = HashMap::new();
            for (source, ids) in &by_source {
                for e in events::find_many(tx, source, ids)? {
                    stored.insert((e.source.clone(), e.external_id.clone()), e);
                }
            }
            let identities: Vec<&Identity> = validated
                .iter()
                .flatten()
                .filter(|(v, _, _)| {
                    !stored.contains_key(&(
                        v.reference.source.clone(),
                        v.reference.external_id.clone(),
                    ))
                })
                .filter_map(|(v, _, _)| match &v.customer {
                    ValidRef::Described(c) => Some(c.identities.iter()),
                    ValidRef::Id(_) => None,
                })
                .flatten()
                .collect();
            let mut owners: HashMap<Identity, i64> = store::customers::find_many(tx, &identities)?
                .into_iter()
                .collect();

            // 2. Decide each order in input order.
            let mut in_batch: HashMap<(String, String), usize> = HashMap::new();
            for (i, v) in validated.iter().enumerate() {
                let (v, body, hash) = match v {
                    Err(e) => {
                        plan.results
                            .push(Slot::Done(Intake::Rejected(clone_error(e))));
                        continue;
                    }
                    Ok(x) => x,
                };
                let key = (v.reference.source.clone(), v.reference.external_id.clone());
                if let Some(e) = stored.get(&key) {
                    let r = replay(e, EventKind::OrderPlaced, hash, &v.content, || {
                        order_outcome(tx, e)
                    })?;
                    plan.results.push(Slot::Done(r));
                    continue;
                }
                if let Some(&j) = in_batch.get(&key) {
                    let first = &plan.new[j];
                    if first.hash == *hash {
                        plan.results.push(Slot::SameAs(j));
                    } else {
                        let old: Value = serde_json::from_str(&first.body).context("batch body")?;
                        let differences = differences(&old, &v.content);
                        plan.results.push(Slot::Done(Intake::Rejected(
                            AppError::ConflictingDuplicate { differences },
                        )));
                    }
                    continue;
                }
                let customer_id = match &v.customer {
                    ValidRef::Id(id) => {
                        if !store::customers::exists(tx, *id)? {
                            plan.results
                                .push(Slot::Done(Intake::Rejected(AppError::UnknownCustomer)));
                            continue;
                        }
                        *id
                    }
                    ValidRef::Described(c) => match resolve_cached(tx, &mut owners, c, now_micros)?
                    {
                        Ok(id) => id,
                        Err(e) => {
                            plan.results.push(Slot::Done(Intake::Rejected(e)));
                            continue;
                        }
                    },
                };
                let occurred_at = v.occurred_at.unwrap_or(now);
                let total = v.order.total_minor();
                let earn = if v.earns {
                    Some(loyalty.decide(&v.order, occurred_at, now)?)
                } else {
                    None
                };
                in_batch.insert(key, plan.new.len());
                plan.results.push(Slot::New(plan.new.len()));
                plan.new.push(NewOrder {
                    input: i,
                    customer_id,
                    occurred_at,
                    total,
                    earned: earn.as_ref().map_or(0, |e| e.points),
                    earn,
                    body: body.clone(),
                    hash: hash.clone(),
                });
            }

            // 3. Write the new events; any the unique constraint turned away were stored
            //    meanwhile by another transaction, and are answered as replays.
            let rows: Vec<NewEvent<'_>> = plan
                .new
                .iter()
                .map(|n| {
                    let (v, _, _) = validated[n.input]
                        .as_ref()
                        .expect("only valid orders are new");
                    NewEvent {
                        source: &v.reference.source,
                        external_id: &v.reference.external_id,
                        kind: EventKind::OrderPlaced,
                        customer_id: Some(n.customer_id),
                        order_event_id: None,
                        occurred_at_micros: n.occurred_at.as_microsecond(),
                        recorded_at_micros: now_micros,
                        currency: Some(v.order.currency.code()),
                        amount_minor: Some(n.total),
                        content_hash: &n.hash,
                        body: &n.body,
                    }
                })
                .collect();
            let inserted: HashMap<(String, String), i64> = events::insert_many(tx, &rows)?
                .into_iter()
                .map(|(id, source, external_id)| ((source, external_id), id))
                .collect();
            let ids: Vec<Option<i64>> = rows
                .iter()
                .map(|r| {
                    inserted
                        .get(&(r.source.to_owned(), r.external_id.to_owned()))
                        .copied()
                })
                .collect();
            drop(rows);

            // 4. Lots and balances for the orders that earned.
            let earning: Vec<i64> = plan
                .new
                .iter()
                .zip(&ids)
                .filter(|(n, id)| n.earned > 0 && id.is_some())
                .map(|(n, _)| n.customer_id)
                .collect();
            let accounts: HashMap<i64, i64> = ledger::customer_accounts(tx, &earning)?
                .into_iter()
                .collect();
            let mut transfers = Vec::new();
            let mut lot_lines = Vec::new();
            let mut deltas: HashMap<i64, i64> = HashMap::new();
            let mut pending: HashMap<i64, i64> = HashMap::new();
            let mut next_activation: Option<i64> = None;
            let mut next_expiry: Option<i64> = None;
            for (n, id) in plan.new.iter().zip(&ids) {
                let (Some(id), Some(earn)) = (id, n.earn.as_ref().filter(|e| e.points > 0)) else {
                    continue;
                };
                let account = *accounts
                    .get(&n.customer_id)
                    .ok_or(AppError::UnknownCustomer)?;
                let pending_until = earn.pending_until.map(|t| t.as_microsecond());
                let expires_at = earn.expires_at.map(|t| t.as_microsecond());
                transfers.push(NewTransfer {
                    event_id: *id,
                    seq: 0,
                    debit_account_id: issuance,
                    credit_account_id: account,
                    amount: earn.points,
                    kind: TransferKind::Earn,
                    created_at_micros: now_micros,
                    remaining: Some(earn.points),
                    pending_until_micros: pending_until,
                    expires_at_micros: expires_at,
                    lot: None,
                    reason: None,
                    lot_state: pending_until.map(|_| ledger::LOT_PENDING),
                });
                for (line, quantity, points, rules) in &earn.lines {
                    lot_lines.push(store::loyalty::LotLine {
                        lot: (*id, 0),
                        line: *line,
                        quantity: *quantity,
                        points: *points,
                        rules: rules.clone(),
                    });
                }
                match pending_until {
                    Some(p) => {
                        *pending.entry(account).or_default() += earn.points;
                        next_activation = Some(next_activation.map_or(p, |a| a.min(p)));
                    }
                    None => {
                        *deltas.entry(account).or_default() += earn.points;
                        if let Some(e) = expires_at {
                            next_expiry = Some(next_expiry.map_or(e, |x| x.min(e)));
                        }
                    }
                }
            }
            ledger::insert_transfers(tx, &transfers)?;
            store::loyalty::insert_lot_lines(tx, &lot_lines)?;
            store::loyalty::add_to_pendings(tx, &pending.into_iter().collect::<Vec<_>>())?;
            let attempts = self.settings.job_attempts_max;
            if let Some(due) = next_activation {
                crate::loyalty::schedule(
                    tx,
                    crate::loyalty::ACTIVATE_JOB,
                    due,
                    now_micros,
                    attempts,
                )?;
            }
            if let Some(e) = next_expiry {
                let due = (e + 1_000_000).max(now_micros);
                crate::loyalty::schedule(
                    tx,
                    crate::loyalty::EXPIRE_JOB,
                    due,
                    now_micros,
                    attempts,
                )?;
            }
            let deltas: Vec<(i64, i64)> = deltas.into_iter().collect();
            for (account, balance) in ledger::add_to_balances(tx, &deltas)? {
                let earned = deltas.iter().find(|d| d.0 == account).map_or(0, |d| d.1);
                assert!(balance >= earned, "balance below what this batch earned");
            }

            // 5. Outcomes, outbox and audit.
            let mut outcomes: Vec<Option<OrderOutcome>> = Vec::with_capacity(plan.new.len());
            for (n, id) in plan.new.iter().zip(&ids) {
                let (v, _, _) = validated[n.input].as_ref().expect("valid");
                outcomes.push(id.map(|order_id| OrderOutcome {
                    order_id,
                    source: v.reference.source.clone(),
                    external_id: v.reference.external_id.clone(),
                    customer_id: n.customer_id,
                    total_minor: n.total,
                    currency: v.order.currency.code().to_owned(),
                    points_earned: n.earned,
                    occurred_at: n.occurred_at,
                }));
            }
            let mut results = Vec::with_capacity(plan.results.len());
            let mut accepted = Vec::new();
            for slot in plan.results {
                results.push(match slot {
                    Slot::Done(r) => r,
                    Slot::SameAs(j) | Slot::New(j) if outcomes[j].is_none() => {
                        // Lost a race with another writer: answer from what it stored.
                        let (v, _, hash) = validated[plan.new[j].input].as_ref().expect("valid");
                        let e = events::find(tx, &v.reference.source, &v.reference.external_id)?
                            .context("event vanished")?;
                        replay(&e, EventKind::OrderPlaced, hash, &v.content, || {
                            order_outcome(tx, &e)
                        })?
                    }
                    Slot::SameAs(j) => Intake::Duplicate(outcomes[j].clone().expect("checked")),
                    Slot::New(j) => {
                        let o = outcomes[j].clone().expect("checked");
                        accepted.push(o.order_id);
                        if endpoints.iter().any(|e| e.wants("order.placed")) {
                            crate::webhooks::publish(
                                tx,
                                &endpoints,
                                "order.placed",
                                &order_payload(&o),
                                now_micros,
                                self.settings.job_attempts_max,
                            )?;
                        }
                        Intake::Accepted(o)
                    }
                });
            }
            if !accepted.is_empty() {
                let target = match accepted.as_slice() {
                    [one] => format!("order:{one}"),
                    many => format!("orders:{}..{}", many[0], many[many.len() - 1]),
                };
                let detail = format!("accepted={}", accepted.len());
                store::audit::insert(
                    tx,
                    now_micros,
                    &who.actor,
                    "order.place",
                    Some(&target),
                    Some(&detail),
                )?;
            }
            Ok(results)
        })
    }

    /// The order with this Patron id.
    pub fn order(&self, order_id: i64) -> AppResult<(OrderOutcome, Value)> {
        self.store.read(|tx| {
            let e = events::get(tx, order_id)?
                .filter(|e| e.kind == EventKind::OrderPlaced)
                .ok_or(AppError::NotFound)?;
            let body: Value = serde_json::from_str(&e.body).context("stored order body")?;
            Ok((order_outcome(tx, &e)?, body))
        })
    }
}

fn order_payload(o: &OrderOutcome) -> Value {
    json!({
        "order_id": o.order_id,
        "source": o.source,
        "external_id": o.external_id,
        "customer_id": o.customer_id,
        "total_minor": o.total_minor,
        "currency": o.currency,
        "points_earned": o.points_earned,
    })
}

/// A refund or cancellation of (part of) an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundInput {
    pub source: String,
    pub external_id: String,
    /// The order's source; the refund's own source when absent.
    pub order_source: Option<String>,
    pub order_external_id: String,
    /// `None` refunds everything not yet refunded; otherwise (line index, quantity) pairs.
    pub lines: Option<Vec<(usize, i64)>>,
    pub occurred_at: Option<jiff::Timestamp>,
    /// `OrderRefunded` or `OrderCancelled` (always whole).
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundOutcome {
    pub refund_id: i64,
    pub order_id: i64,
    pub customer_id: i64,
    pub amount_minor: i64,
    pub points_reversed: i64,
}

fn refund_outcome(tx: &mut Tx<'_>, e: &EventRow) -> AppResult<RefundOutcome> {
    let reversed = ledger::of_event(tx, e.id)?
        .iter()
        .filter(|t| t.kind == TransferKind::Reverse)
        .map(|t| t.amount)
        .sum();
    Ok(RefundOutcome {
        refund_id: e.id,
        order_id: e.order_event_id.context("refund without order")?,
        customer_id: e.customer_id.context("refund without customer")?,
        amount_minor: e.amount_minor.context("refund without amount")?,
        points_reversed: reversed,
    })
}

/// Units of each line already refunded, read from the stored refund bodies.
fn refunded_quantities(
    tx: &mut Tx<'_>,
    order: &EventRow,
    lines: usize,
) -> AppResult<(Vec<i64>, i64)> {
    let mut qty = vec![0_i64; lines];
    let mut amount = 0;
    for r in events::of_order(tx, order.id)? {
        let body: Value = serde_json::from_str(&r.body).context("stored refund body")?;
        let q = body["quantities"]
            .as_array()
            .context("refund body without quantities")?;
        for (slot, v) in qty.iter_mut().zip(q) {
            *slot += v.as_i64().context("refund quantity")?;
        }
        amount += r.amount_minor.unwrap_or(0);
    }
    Ok((qty, amount))
}

/// Points a return of `now_q` units per line reverses from `lot`, from the lot's own per-line
/// provenance (what each line earned under the rule version of the day); `None` for a lot
/// without provenance.
fn line_reversal(
    tx: &mut Tx<'_>,
    lot: &ledger::TransferRow,
    before: &[i64],
    now_q: &[i64],
) -> AppResult<Option<i64>> {
    use domain::loyalty::lots::{LinePoints, Lot, LotId, LotSource, LotState};
    let lines = store::loyalty::lot_lines(tx, (lot.event_id, lot.seq))?;
    if lines.is_empty() {
        return Ok(None);
    }
    let earned: Vec<usize> = lines.iter().map(|l| l.line as usize).collect();
    let domain_lot = Lot {
        id: LotId(0),
        amount: lot.amount,
        remaining: lot.remaining.unwrap_or(0),
        spent: 0,
        reversed: 0,
        clawed_back: 0,
        state: LotState::Active,
        earned_at: lot.created_at,
        pending_until: None,
        expires_at: None,
        source: LotSource::Purchase {
            order_ref: String::new(),
            lines: lines
                .iter()
                .map(|l| LinePoints {
                    line: l.line as usize,
                    quantity: l.quantity,
                    points: l.points,
                    rules: vec![],
                })
                .collect(),
        },
    };
    let returned_before: std::collections::BTreeMap<usize, i64> = before
        .iter()
        .enumerate()
        .filter(|(i, q)| **q > 0 && earned.contains(i))
        .map(|(i, q)| (i, *q))
        .collect();
    // Lines that earned nothing have nothing to reverse.
    let returned_now: Vec<(usize, i64)> = now_q
        .iter()
        .enumerate()
        .filter(|(i, q)| **q > 0 && earned.contains(i))
        .map(|(i, q)| (i, *q))
        .collect();
    if returned_now.is_empty() {
        return Ok(Some(0));
    }
    let points =
        domain::loyalty::lots::line_reversal_points(&domain_lot, &returned_before, &returned_now)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("reversal: {e}")))?;
    Ok(Some(points))
}

fn stored_order(body: &str) -> AppResult<Order> {
    let v: Value = serde_json::from_str(body).context("stored order body")?;
    let currency = Currency::parse(v["currency"].as_str().unwrap_or_default())
        .map_err(|e| anyhow::anyhow!("stored order: {e}"))?;
    let lines = v["lines"]
        .as_array()
        .context("stored order lines")?
        .iter()
        .map(|l| {
            OrderLine::new(
                l["sku"].as_str().unwrap_or_default(),
                l["category"].as_str(),
                l["quantity"].as_i64().unwrap_or_default(),
                l["unit_price_minor"].as_i64().unwrap_or_default(),
            )
            .map_err(|e| anyhow::anyhow!("stored order line: {e}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Order::new(currency, lines).map_err(|e| anyhow::anyhow!("stored order: {e}"))?)
}

impl App {
    /// Records a refund (or cancellation) exactly once and reverses the points the refunded
    /// part of the order earned, from the order's own lot first.
    pub fn refund_order(
        &self,
        who: &Principal,
        input: &RefundInput,
    ) -> AppResult<Intake<RefundOutcome>> {
        let reference = ExternalRef::parse(&input.source, &input.external_id)?;
        let order_source = input.order_source.as_deref().unwrap_or(&input.source);
        let order_ref = ExternalRef::parse(order_source, &input.order_external_id)
            .map_err(|e| FieldError::new(format!("order.{}", e.field), e.reason))?;
        if !matches!(
            input.kind,
            EventKind::OrderRefunded | EventKind::OrderCancelled
        ) {
            return Err(
                FieldError::new("kind", "must be order_refunded or order_cancelled").into(),
            );
        }
        let request = match (&input.lines, input.kind) {
            (_, EventKind::OrderCancelled) | (None, _) => RefundRequest::Full,
            (Some(lines), _) => RefundRequest::Lines(lines.clone()),
        };
        let content = json!({
            "order": { "source": order_ref.source, "external_id": order_ref.external_id },
            "lines": match &request {
                RefundRequest::Full => Value::from("all"),
                RefundRequest::Lines(l) => l.iter().map(|(i, q)| json!([i, q])).collect(),
            },
            "occurred_at": input.occurred_at.map(|t| t.to_string()),
        });
        let (_, hash) = body_and_hash(&content);
        let now = self.now();
        let now_micros = now.as_microsecond();
        let allow_negative = self.settings.allow_negative_balance;
        self.store.write(|tx| {
            if let Some(stored) = events::find(tx, &reference.source, &reference.external_id)? {
                return replay(&stored, input.kind, &hash, &content, || {
                    refund_outcome(tx, &stored)
                });
            }
            let order_event = events::find(tx, &order_ref.source, &order_ref.external_id)?
                .filter(|e| e.kind == EventKind::OrderPlaced)
                .ok_or(AppError::UnknownOrder)?;
            let order = stored_order(&order_event.body)?;
            let (before, refunded_minor) =
                refunded_quantities(tx, &order_event, order.lines.len())?;
            let plan =
                plan_refund(&order, &before, &request).map_err(AppError::RefundExceedsOrder)?;
            let customer_id = order_event.customer_id.context("order without customer")?;
            let body = json!({ "request": content, "quantities": plan.quantities }).to_string();
            let Some(refund_id) = events::insert(
                tx,
                &NewEvent {
                    source: &reference.source,
                    external_id: &reference.external_id,
                    kind: input.kind,
                    customer_id: Some(customer_id),
                    order_event_id: Some(order_event.id),
                    occurred_at_micros: input.occurred_at.unwrap_or(now).as_microsecond(),
                    recorded_at_micros: now_micros,
                    currency: Some(order.currency.code()),
                    amount_minor: Some(plan.amount_minor),
                    content_hash: &hash,
                    body: &body,
                },
            )?
            else {
                let stored = events::find(tx, &reference.source, &reference.external_id)?
                    .context("event vanished")?;
                return replay(&stored, input.kind, &hash, &content, || {
                    refund_outcome(tx, &stored)
                });
            };
            let paid_before = order.total_minor() - refunded_minor;
            let lot = ledger::of_event(tx, order_event.id)?
                .into_iter()
                .find(|t| t.kind == TransferKind::Earn);
            let reversal = match &lot {
                Some(lot) if order.currency == self.settings.currency => {
                    line_reversal(tx, lot, &before, &plan.quantities)?.unwrap_or_else(|| {
                        // A lot earned before per-line provenance existed: order-level.
                        self.settings.earn.reversal(paid_before, plan.amount_minor)
                    })
                }
                _ => 0,
            };
            if let (Some(lot), true) = (&lot, reversal > 0) {
                let mut accounts = Accounts::load(tx)?;
                let account = accounts.customer(tx, customer_id)?;
                let from_lot = lot.remaining.unwrap_or(0).min(reversal);
                let pending = lot.lot_state.as_deref() == Some(ledger::LOT_PENDING);
                if !pending {
                    let balance = ledger::customer_account(tx, customer_id)?
                        .context("customer account")?
                        .balance;
                    domain::ledger::debit_balance(balance, reversal, allow_negative)
                        .map_err(AppError::InsufficientPoints)?;
                }
                ledger::insert_transfer(
                    tx,
                    &NewTransfer {
                        event_id: refund_id,
                        seq: 0,
                        debit_account_id: account,
                        credit_account_id: accounts.issuance,
                        amount: reversal,
                        kind: TransferKind::Reverse,
                        created_at_micros: now_micros,
                        remaining: None,
                        pending_until_micros: None,
                        expires_at_micros: None,
                        lot: Some((order_event.id, 0)),
                        reason: Some(input.kind.as_str()),
                        lot_state: None,
                    },
                )?;
                if from_lot > 0 {
                    ledger::consume_lot(tx, (refund_id, 0), (lot.event_id, lot.seq), from_lot)?;
                }
                if pending {
                    // Nothing of a pending lot can have been spent: the window's points go,
                    // the spendable balance does not move.
                    assert_eq!(from_lot, reversal, "a pending lot gives back all it earned");
                    store::loyalty::add_to_pendings(tx, &[(account, -reversal)])?;
                } else {
                    // What was spent already is clawed back from the other active lots.
                    crate::points::consume_lots(tx, account, (refund_id, 0), reversal - from_lot)?;
                    ledger::add_to_balance(tx, account, -reversal)?;
                }
            }
            let endpoints = store::outbox::active_endpoints(tx)?;
            let outcome = RefundOutcome {
                refund_id,
                order_id: order_event.id,
                customer_id,
                amount_minor: plan.amount_minor,
                points_reversed: reversal,
            };
            let payload = json!({
                "refund_id": refund_id,
                "order_id": order_event.id,
                "customer_id": customer_id,
                "amount_minor": plan.amount_minor,
                "points_reversed": reversal,
            });
            crate::webhooks::publish(
                tx,
                &endpoints,
                "order.refunded",
                &payload,
                now_micros,
                self.settings.job_attempts_max,
            )?;
            store::audit::insert(
                tx,
                now_micros,
                &who.actor,
                "order.refund",
                Some(&format!("refund:{refund_id}")),
                None,
            )?;
            Ok(Intake::Accepted(outcome))
        })
    }
}

/// Any other customer event (profile changed, cart updated): stored exactly once.
#[derive(Debug, Clone, PartialEq)]
pub struct EventInput {
    pub source: String,
    pub external_id: String,
    pub kind: EventKind,
    pub customer: CustomerRef,
    pub occurred_at: Option<jiff::Timestamp>,
    /// Kind-specific data: for `profile_changed` the new profile fields
    /// (`name`, `birthday`, `locale`, `time_zone`); for `cart_updated` `value_minor` and `currency`.
    pub data: serde_json::Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventOutcome {
    pub event_id: i64,
    pub kind: EventKind,
    pub customer_id: i64,
}

impl App {
    pub fn record_event(
        &self,
        who: &Principal,
        input: &EventInput,
    ) -> AppResult<Intake<EventOutcome>> {
        let reference = ExternalRef::parse(&input.source, &input.external_id)?;
        let customer = validate_ref(&input.customer)?;
        let mut amount = None;
        let mut currency = None;
        let profile = match input.kind {
            EventKind::ProfileChanged => {
                let get = |k: &str| -> Result<Option<String>, FieldError> {
                    match input.data.get(k) {
                        None | Some(Value::Null) => Ok(None),
                        Some(Value::String(s)) => Ok(Some(s.clone())),
                        Some(_) => Err(FieldError::new(format!("data.{k}"), "must be a string")),
                    }
                };
                for k in input.data.keys() {
                    if !["name", "birthday", "locale", "time_zone"].contains(&k.as_str()) {
                        return Err(
                            FieldError::new(format!("data.{k}"), "unknown profile field").into(),
                        );
                    }
                }
                let c = CustomerInput {
                    identities: vec![],
                    name: get("name")?,
                    birthday: get("birthday")?,
                    locale: get("locale")?,
                    time_zone: get("time_zone")?,
                };
                c.validate()
                    .map_err(|e| FieldError::new(format!("data.{}", e.field), e.reason))?;
                Some(c)
            }
            EventKind::CartUpdated => {
                let value = input
                    .data
                    .get("value_minor")
                    .and_then(Value::as_i64)
                    .filter(|v| *v >= 0)
                    .ok_or_else(|| {
                        FieldError::new("data.value_minor", "must be a non-negative integer")
                    })?;
                let c = input
                    .data
                    .get("currency")
                    .and_then(Value::as_str)
                    .unwrap_or("TWD");
                currency = Some(Currency::parse(c).map_err(|e| e.within("data"))?);
                amount = Some(value);
                None
            }
            _ => {
                return Err(FieldError::new(
                    "kind",
                    "orders, refunds and cancellations have their own endpoints",
                )
                .into());
            }
        };
        let content = json!({
            "kind": input.kind.as_str(),
            "customer": customer_content(&input.customer),
            "occurred_at": input.occurred_at.map(|t| t.to_string()),
            "data": input.data,
        });
        let (body, hash) = body_and_hash(&content);
        let now = self.now();
        let now_micros = now.as_microsecond();
        self.store.write(|tx| {
            if let Some(stored) = events::find(tx, &reference.source, &reference.external_id)? {
                return replay(&stored, input.kind, &hash, &content, || {
                    Ok(EventOutcome {
                        event_id: stored.id,
                        kind: stored.kind,
                        customer_id: stored.customer_id.context("event without customer")?,
                    })
                });
            }
            let customer_id = match &customer {
                ValidRef::Id(id) => {
                    if !store::customers::exists(tx, *id)? {
                        return Err(AppError::UnknownCustomer);
                    }
                    *id
                }
                ValidRef::Described(c) => resolve_or_create(tx, c, now_micros)?.0,
            };
            let Some(event_id) = events::insert(
                tx,
                &NewEvent {
                    source: &reference.source,
                    external_id: &reference.external_id,
                    kind: input.kind,
                    customer_id: Some(customer_id),
                    order_event_id: None,
                    occurred_at_micros: input.occurred_at.unwrap_or(now).as_microsecond(),
                    recorded_at_micros: now_micros,
                    currency: currency.map(|c| c.code()),
                    amount_minor: amount,
                    content_hash: &hash,
                    body: &body,
                },
            )?
            else {
                let stored = events::find(tx, &reference.source, &reference.external_id)?
                    .context("event vanished")?;
                return replay(&stored, input.kind, &hash, &content, || {
                    Ok(EventOutcome {
                        event_id: stored.id,
                        kind: stored.kind,
                        customer_id,
                    })
                });
            };
            if let Some(p) = profile {
                let row = store::customers::get(tx, customer_id)?.context("customer")?;
                let v = p.validate()?;
                let name = v.profile.name.clone().or(row.name);
                let birthday = v.profile.birthday.map(|d| d.to_string()).or(row.birthday);
                let locale = p
                    .locale
                    .as_deref()
                    .map(|_| v.profile.locale.as_str())
                    .unwrap_or(&row.locale)
                    .to_owned();
                let tz = p
                    .time_zone
                    .as_ref()
                    .map(|_| v.profile.time_zone.clone())
                    .unwrap_or(row.time_zone);
                store::customers::update_profile(
                    tx,
                    customer_id,
                    &store::customers::NewCustomer {
                        name: name.as_deref(),
                        birthday: birthday.as_deref(),
                        locale: &locale,
                        time_zone: &tz,
                        now_micros,
                    },
                )?;
            }
            store::audit::insert(
                tx,
                now_micros,
                &who.actor,
                "event.record",
                Some(&format!("event:{event_id}")),
                Some(input.kind.as_str()),
            )?;
            Ok(Intake::Accepted(EventOutcome {
                event_id,
                kind: input.kind,
                customer_id,
            }))
        })
    }
}

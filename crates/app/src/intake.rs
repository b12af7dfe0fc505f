//! Exactly-once intake of orders, refunds and other customer events.
//!
//! Each event carries `(source, external_id)`, unique in the database. The first arrival is
//! stored and acted on (points posted) in one transaction; a later arrival with the same
//! content gets the first outcome back, and one with other content is refused with the list
//! of fields that differ. Content is compared by a hash of its canonical JSON.

use crate::canonical::{JsonWriter, body_and_hash, differences};
use crate::customers::{CustomerInput, ValidCustomer, create_many, resolve_or_create};
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

/// An order checked and put in its canonical form ([`OrderInput::validate`]), ready for
/// [`App::place_valid_orders`]. Validation reads no store, so a caller with work to spread
/// (the import's parser thread) can do it away from the writer.
pub struct ValidOrder {
    reference: ExternalRef,
    customer: ValidRef,
    occurred_at: Option<jiff::Timestamp>,
    order: Order,
    /// The canonical JSON of the request, as stored; compared by `hash`.
    body: String,
    hash: Vec<u8>,
    /// Orders in a currency other than the programme's are stored but earn nothing.
    earns: bool,
    /// The programme currency `earns` was decided against.
    programme: Currency,
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
    /// Checks the order against the programme's currency and writes its canonical body.
    pub fn validate(&self, programme: Currency) -> AppResult<ValidOrder> {
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
        let body = order_body(self, &order);
        let hash = crate::canonical::hash(&body);
        Ok(ValidOrder {
            reference,
            customer,
            occurred_at: self.occurred_at,
            order,
            body,
            hash,
            earns,
            programme,
        })
    }
}

/// The canonical JSON of an order request, written directly: the same bytes as serde_json
/// writes for `{"currency", "customer": customer_content(..), "lines": [{"category",
/// "quantity", "sku", "unit_price_minor"}], "occurred_at"}` (keys sorted; the tests compare).
fn order_body(input: &OrderInput, order: &Order) -> String {
    let mut w = JsonWriter::with_capacity(256);
    w.key(true, "currency");
    w.str(order.currency.code());
    w.key(false, "customer");
    match &input.customer {
        CustomerRef::Id(id) => {
            w.key(true, "id");
            w.int(*id);
        }
        CustomerRef::Described(c) => {
            w.key(true, "birthday");
            w.opt_str(c.birthday.as_deref());
            w.key(false, "identities");
            // Sorted by kind; of a repeated kind the last wins, as when collected into a map.
            let mut identities: Vec<(&str, &str)> = c
                .identities
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            identities.sort_by_key(|(k, _)| *k);
            let mut first = true;
            for (i, (k, v)) in identities.iter().enumerate() {
                if identities.get(i + 1).is_some_and(|next| next.0 == *k) {
                    continue;
                }
                w.key(first, k);
                w.str(v);
                first = false;
            }
            w.raw(if first { "{}" } else { "}" });
            w.key(false, "locale");
            w.opt_str(c.locale.as_deref());
            w.key(false, "name");
            w.opt_str(c.name.as_deref());
            w.key(false, "time_zone");
            w.opt_str(c.time_zone.as_deref());
        }
    }
    w.raw("}");
    w.key(false, "lines");
    w.raw("[");
    for (i, l) in order.lines.iter().enumerate() {
        if i > 0 {
            w.raw(",");
        }
        w.key(true, "category");
        w.opt_str(l.category.as_deref());
        w.key(false, "quantity");
        w.int(l.quantity);
        w.key(false, "sku");
        w.str(&l.sku);
        w.key(false, "unit_price_minor");
        w.int(l.unit_price_minor);
        w.raw("}");
    }
    w.raw("]");
    w.key(false, "occurred_at");
    match input.occurred_at {
        Some(t) => w.str(&t.to_string()),
        None => w.raw("null"),
    }
    w.raw("}");
    w.out
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
    /// A placeholder (negative, see [`NewCustomers`]) until the batch's customers are created.
    customer_id: i64,
    occurred_at: jiff::Timestamp,
    total: i64,
    earned: i64,
    earn: Option<crate::loyalty::EarnDecision>,
}

/// Validation errors are plain data; the batch reports each rejected order's own copy.
fn clone_error(e: &AppError) -> AppError {
    match e {
        AppError::Invalid(f) => AppError::Invalid(f.clone()),
        other => AppError::Internal(anyhow::anyhow!("{other}")),
    }
}

/// Customers first described in this batch, created together with a few multi-row statements
/// (on PostgreSQL each single-row statement is a network round trip). Until then an order names
/// such a customer by a placeholder id: −1 for the first, −2 for the second, … (real ids are
/// positive).
#[derive(Default)]
struct NewCustomers {
    /// Not yet created: (placeholder index, description with every identity seen for it).
    pending: Vec<(usize, ValidCustomer)>,
    /// By placeholder index, once created: the customer id, or the customers its identities
    /// turned out to be split across (a concurrent writer got there first).
    resolved: Vec<Option<Result<i64, Vec<i64>>>>,
}

fn placeholder_index(id: i64) -> Option<usize> {
    usize::try_from(-id - 1).ok()
}

impl NewCustomers {
    fn add(&mut self, c: &ValidCustomer) -> i64 {
        let k = self.resolved.len();
        self.resolved.push(None);
        self.pending.push((k, c.clone()));
        -i64::try_from(k).expect("batch size") - 1
    }

    /// The real id for a placeholder already created, else `id` unchanged.
    fn current(&self, id: i64) -> i64 {
        match placeholder_index(id).and_then(|k| self.resolved[k].as_ref()) {
            Some(Ok(real)) => *real,
            _ => id,
        }
    }

    /// Gives a not yet created customer one more identity.
    fn attach(&mut self, id: i64, identity: &Identity) {
        let k = placeholder_index(id);
        if let Some((_, c)) = self.pending.iter_mut().find(|(j, _)| Some(*j) == k) {
            c.identities.push(identity.clone());
        }
    }

    fn create(&mut self, tx: &mut Tx<'_>, now_micros: i64) -> AppResult<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        let described: Vec<&ValidCustomer> = pending.iter().map(|(_, c)| c).collect();
        for ((k, _), r) in pending.iter().zip(create_many(tx, &described, now_micros)?) {
            self.resolved[*k] = Some(r);
        }
        Ok(())
    }

    /// After [`NewCustomers::create`]: the customers it created (their sign-up award is due).
    fn created_ids(&self) -> Vec<i64> {
        self.resolved
            .iter()
            .filter_map(|r| r.as_ref().and_then(|r| r.as_ref().ok()).copied())
            .collect()
    }

    /// After [`NewCustomers::create`]: the customer a placeholder stands for.
    fn resolve(&self, id: i64) -> Result<i64, Vec<i64>> {
        match placeholder_index(id) {
            Some(k) => self.resolved[k].clone().expect("created before use"),
            None => Ok(id),
        }
    }
}

/// Resolves a described customer using (and updating) the batch's identity map; a customer
/// no identity names is created later with the batch's others (a placeholder id until then).
/// `Ok(Err(_))` rejects this order only.
fn resolve_cached(
    tx: &mut Tx<'_>,
    owners: &mut HashMap<Identity, i64>,
    created: &mut NewCustomers,
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
    let found = |owners: &HashMap<Identity, i64>, created: &NewCustomers| {
        let mut found: Vec<i64> = c
            .identities
            .iter()
            .filter_map(|i| owners.get(i))
            .map(|id| created.current(*id))
            .collect();
        found.sort_unstable();
        found.dedup();
        found
    };
    let mut ids = found(owners, created);
    if ids.len() > 1 && ids.iter().any(|id| *id < 0) {
        // The conflict names customers: give the batch's new ones their real ids first.
        created.create(tx, now_micros)?;
        ids = found(owners, created);
    }
    let id = match ids.as_slice() {
        [] => created.add(c),
        [id] if *id < 0 => {
            for i in &c.identities {
                if !owners.contains_key(i) {
                    created.attach(*id, i);
                }
            }
            *id
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
                customer_ids: many.iter().copied().filter(|id| *id > 0).collect(),
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

/// Compares a stored event with a new arrival of the same (source, external_id). `body` is
/// the arrival's canonical JSON; it is parsed only to explain a conflict.
pub(crate) fn replay<T>(
    stored: &EventRow,
    kind: EventKind,
    hash: &[u8],
    body: &str,
    outcome: impl FnOnce() -> AppResult<T>,
) -> AppResult<Intake<T>> {
    if stored.kind == kind && stored.content_hash == hash {
        return Ok(Intake::Duplicate(outcome()?));
    }
    let stored_body: Value = serde_json::from_str(&stored.body).context("stored event body")?;
    let stored_content = stored_body.get("request").unwrap_or(&stored_body);
    let content: Value = serde_json::from_str(body).context("arrival body")?;
    let mut differences = differences(stored_content, &content);
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
    /// The batch is decided in memory and written with a few multi-row statements whatever its
    /// size: look-ups of the batch's ids and identities, inserts of its new customers (with their
    /// accounts and identities), events, lots (each with its lines and revenue on its row), and
    /// one balance update for all customers. Replays and conflicts are found before anything is
    /// written; a concurrent writer that stores the same id first is caught by the unique
    /// constraint and answered as a replay, and one that creates the same customer first by the
    /// identities' primary key (then that customer is used).
    pub fn place_orders(
        &self,
        who: &Principal,
        inputs: &[OrderInput],
    ) -> AppResult<Vec<Intake<OrderOutcome>>> {
        let programme = self.settings.currency;
        let validated: Vec<AppResult<ValidOrder>> =
            inputs.iter().map(|i| i.validate(programme)).collect();
        self.place_valid_orders(who, &validated)
    }

    /// [`App::place_orders`] for orders validated already, one result per item: an item that
    /// failed validation is answered `Rejected` with its error.
    pub fn place_valid_orders(
        &self,
        who: &Principal,
        validated: &[AppResult<ValidOrder>],
    ) -> AppResult<Vec<Intake<OrderOutcome>>> {
        if validated
            .iter()
            .flatten()
            .any(|v| v.programme != self.settings.currency)
        {
            return Err(AppError::Internal(anyhow::anyhow!(
                "orders validated against another programme currency"
            )));
        }
        let now = self.now();
        let now_micros = now.as_microsecond();
        self.store.write(|tx| {
            let mut plan = BatchPlan::default();
            let endpoints = store::outbox::active_endpoints(tx)?;
            let issuance = ledger::system_account(tx, ledger::ISSUANCE_ACCOUNT)?;
            let loyalty = crate::loyalty::load_cached(tx, &self.settings, &self.loyalty)?;

            // 1. What is already stored, and who the identities belong to.
            let mut by_source: HashMap<&str, Vec<&str>> = HashMap::new();
            for v in validated.iter().flatten() {
                by_source
                    .entry(&v.reference.source)
                    .or_default()
                    .push(&v.reference.external_id);
            }
            let mut found = Vec::new();
            for (source, ids) in &by_source {
                found.extend(events::find_many(tx, source, ids)?);
            }
            let stored: HashMap<(&str, &str), &EventRow> = found
                .iter()
                .map(|e| ((e.source.as_str(), e.external_id.as_str()), e))
                .collect();
            let identities: Vec<&Identity> = validated
                .iter()
                .flatten()
                .filter(|v| {
                    !stored.contains_key(&(
                        v.reference.source.as_str(),
                        v.reference.external_id.as_str(),
                    ))
                })
                .filter_map(|v| match &v.customer {
                    ValidRef::Described(c) => Some(c.identities.iter()),
                    ValidRef::Id(_) => None,
                })
                .flatten()
                .collect();
            let mut owners: HashMap<Identity, i64> = store::customers::find_many(tx, &identities)?
                .into_iter()
                .collect();
            let mut created = NewCustomers::default();

            // 2. Decide each order in input order.
            let mut in_batch: HashMap<(&str, &str), usize> = HashMap::new();
            for (i, v) in validated.iter().enumerate() {
                let v = match v {
                    Err(e) => {
                        plan.results
                            .push(Slot::Done(Intake::Rejected(clone_error(e))));
                        continue;
                    }
                    Ok(v) => v,
                };
                let key = (
                    v.reference.source.as_str(),
                    v.reference.external_id.as_str(),
                );
                if let Some(e) = stored.get(&key) {
                    let r = replay(e, EventKind::OrderPlaced, &v.hash, &v.body, || {
                        order_outcome(tx, e)
                    })?;
                    plan.results.push(Slot::Done(r));
                    continue;
                }
                if let Some(&j) = in_batch.get(&key) {
                    let first = validated[plan.new[j].input]
                        .as_ref()
                        .expect("only valid orders are new");
                    if first.hash == v.hash {
                        plan.results.push(Slot::SameAs(j));
                    } else {
                        let old: Value = serde_json::from_str(&first.body).context("batch body")?;
                        let new: Value = serde_json::from_str(&v.body).context("batch body")?;
                        let differences = differences(&old, &new);
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
                    ValidRef::Described(c) => {
                        match resolve_cached(tx, &mut owners, &mut created, c, now_micros)? {
                            Ok(id) => id,
                            Err(e) => {
                                plan.results.push(Slot::Done(Intake::Rejected(e)));
                                continue;
                            }
                        }
                    }
                };
                let occurred_at = v.occurred_at.unwrap_or(now);
                let total = v.order.total_minor();
                in_batch.insert(key, plan.new.len());
                plan.results.push(Slot::New(plan.new.len()));
                plan.new.push(NewOrder {
                    input: i,
                    customer_id,
                    occurred_at,
                    total,
                    earned: 0,
                    earn: None,
                });
            }

            // 2b. What each new order earns, with its member's tier multiplier: the batch's
            //     known members' materialised tier state, one primary-key statement (customers
            //     new in the batch are at the first tier).
            let known: Vec<i64> = {
                let mut ids: Vec<i64> = plan
                    .new
                    .iter()
                    .filter(|n| n.customer_id > 0)
                    .map(|n| n.customer_id)
                    .collect();
                ids.sort_unstable();
                ids.dedup();
                ids
            };
            let mut tiers = crate::tiers::BatchTiers::load(tx, &loyalty, &known, now)?;
            let mut tier_earns = Vec::new();
            for (j, n) in plan.new.iter_mut().enumerate() {
                let v = validated[n.input]
                    .as_ref()
                    .expect("only valid orders are new");
                if !v.earns {
                    continue;
                }
                let rank = tiers.effective(n.customer_id, now);
                let tier = loyalty.tier_earn(rank)?;
                let earn = loyalty.decide(&v.order, n.occurred_at, now, tier.clone())?;
                n.earned = earn.points;
                n.earn = Some(earn);
                tier_earns.push((j, tier));
            }

            // 2c. Create the batch's new customers before promotions are locked: a customer
            //     another transaction created meanwhile resolves here to its id, so its grants
            //     count against its member caps below. Orders whose identities turned out to
            //     belong to several customers are rejected and take no usage.
            created.create(tx, now_micros)?;
            let created_ids = created.created_ids();
            let mut split: Vec<Option<Vec<i64>>> = vec![None; plan.new.len()];
            for (n, split) in plan.new.iter_mut().zip(&mut split) {
                match created.resolve(n.customer_id) {
                    Ok(id) => n.customer_id = id,
                    Err(ids) => *split = Some(ids),
                }
            }
            if split.iter().any(Option::is_some) {
                for slot in &mut plan.results {
                    if let Slot::New(j) | Slot::SameAs(j) = *slot
                        && let Some(ids) = &split[j]
                    {
                        *slot = Slot::Done(Intake::Rejected(AppError::IdentityConflict {
                            customer_ids: ids.clone(),
                        }));
                    }
                }
            }
            // Every customer of the batch as resolved now, created here or by another
            // transaction a moment ago.
            let mut customers: Vec<i64> = plan
                .new
                .iter()
                .zip(&split)
                .filter(|(_, split)| split.is_none())
                .map(|(n, _)| n.customer_id)
                .collect();
            customers.sort_unstable();
            customers.dedup();
            // On PostgreSQL a customer taken for new may have been created by another
            // transaction meanwhile: the tier rows of the batch's customers not read in 2b are
            // read and locked now, before any promotion lock (the order every batch keeps).
            // Those created here have none yet. SQLite's one writer leaves no such race.
            if tx.is_postgres() {
                let late: Vec<i64> = customers
                    .iter()
                    .copied()
                    .filter(|c| known.binary_search(c).is_err())
                    .collect();
                tiers.load_more(tx, &loyalty, &late, now)?;
            }

            // 2d. Promotions with a member cap or a budget that would give points here: lock
            //     them, read their usage, and decide again in order with the usage running.
            //     Nothing is read when no such promotion applies.
            let touched = crate::promotions::BatchUsage::touched(
                &loyalty.rules,
                plan.new
                    .iter()
                    .filter_map(|n| n.earn.as_ref().map(|e| e.promotions.as_slice())),
            );
            if !touched.is_empty() {
                let zone = loyalty.programme.zone();
                let placed: Vec<jiff::Timestamp> = plan.new.iter().map(|n| n.occurred_at).collect();
                let mut usage = crate::promotions::BatchUsage::read(
                    tx,
                    &loyalty.rules,
                    zone,
                    &touched,
                    &customers,
                    &placed,
                    store::promotions::Locking::ForUpdate,
                )?;
                for (j, tier) in tier_earns {
                    if split[j].is_some() {
                        continue;
                    }
                    let n = &mut plan.new[j];
                    let v = validated[n.input]
                        .as_ref()
                        .expect("only valid orders are new");
                    let used = usage.for_order(n.customer_id, n.occurred_at, zone)?;
                    let earn =
                        loyalty.decide_with_usage(&v.order, n.occurred_at, now, tier, used)?;
                    usage.add(n.customer_id, n.occurred_at, &earn.promotions);
                    n.earned = earn.points;
                    n.earn = Some(earn);
                }
            }

            // 3. Sign-up points for the customers created here (after the promotion locks:
            //    they post to shared accounts, which a batch holding a promotion lock also
            //    writes), then the new events; any the unique constraint turned away were stored
            //    meanwhile by another transaction, and are answered as replays.
            crate::bonus::award_sign_ups(tx, &self.settings, &created_ids, now)?;
            let rows: Vec<NewEvent<'_>> = plan
                .new
                .iter()
                .zip(&split)
                .filter(|(_, split)| split.is_none())
                .map(|(n, _)| {
                    let v = validated[n.input]
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
                        content_hash: &v.hash,
                        body: &v.body,
                    }
                })
                .collect();
            let mut ids: Vec<Option<i64>> = vec![None; plan.new.len()];
            for (id, source, external_id) in events::insert_many(tx, &rows)? {
                let j = in_batch
                    .get(&(source.as_str(), external_id.as_str()))
                    .context("inserted an event not in the batch")?;
                ids[*j] = Some(id);
            }
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
            let mut transfers = Vec::with_capacity(earning.len());
            // A purchase lot carries its lines and its revenue on its own row.
            let allocator = if earning.is_empty() {
                None
            } else {
                Some(crate::accounting::Allocator::load(tx, &loyalty, now)?)
            };
            let mut deltas: HashMap<i64, i64> = HashMap::new();
            let mut pending: HashMap<i64, i64> = HashMap::new();
            let mut next_activation: Option<i64> = None;
            let mut next_expiry: Option<i64> = None;
            let mut grants = Vec::new();
            for (n, id) in plan.new.iter().zip(&ids) {
                let (Some(id), Some(earn)) = (id, n.earn.as_ref().filter(|e| e.points > 0)) else {
                    continue;
                };
                let account = *accounts
                    .get(&n.customer_id)
                    .ok_or(AppError::UnknownCustomer)?;
                let pending_until = earn.pending_until.map(|t| t.as_microsecond());
                let expires_at = earn.expires_at.map(|t| t.as_microsecond());
                let revenue = allocator
                    .as_ref()
                    .map(|a| a.lot(earn.points, n.total))
                    .transpose()?;
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
                    lines: earn
                        .lines
                        .iter()
                        .map(|(line, quantity, points, rules)| store::loyalty::LotLine {
                            line: *line,
                            quantity: *quantity,
                            points: *points,
                            rules: rules.clone(),
                        })
                        .collect(),
                    revenue,
                });
                for g in earn.promotions.iter().filter(|g| g.granted > 0) {
                    grants.push(store::promotions::NewGrant {
                        lot: (*id, 0),
                        promotion_id: g.rule.id as i64,
                        version: i64::from(g.rule.version),
                        customer_id: n.customer_id,
                        placed_at: n.occurred_at.as_microsecond(),
                        points: g.granted,
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
            crate::promotions::record(tx, &loyalty.rules, &grants)?;
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
                if let Some(remind) = crate::loyalty::reminder_due(&loyalty, e) {
                    crate::loyalty::schedule(
                        tx,
                        crate::loyalty::REMIND_JOB,
                        remind.max(now_micros),
                        now_micros,
                        attempts,
                    )?;
                }
            }
            let deltas: Vec<(i64, i64)> = deltas.into_iter().collect();
            // Points active at once settle what their account owes first.
            let owing =
                ledger::accounts_owing(tx, &deltas.iter().map(|d| d.0).collect::<Vec<_>>())?;
            for (account, balance) in ledger::add_to_balances(tx, &deltas)? {
                let earned = deltas.iter().find(|d| d.0 == account).map_or(0, |d| d.1);
                assert!(
                    balance >= earned || owing.contains(&account),
                    "balance below what this batch earned"
                );
            }
            for account in owing {
                let lots: Vec<((i64, i64), i64)> = transfers
                    .iter()
                    .filter(|t| t.credit_account_id == account && t.lot_state.is_none())
                    .map(|t| ((t.event_id, t.seq), t.amount))
                    .collect();
                crate::points::settle_debts(tx, account, &lots, now_micros)?;
            }
            // 4b. The members' tier state: each accepted order counts toward its member's
            //     tier (upgrade at once), written back with one or two multi-row statements.
            //     Under a rolling window a member about to be lifted is made exact first.
            let counted: Vec<(i64, i64, i64)> = plan
                .new
                .iter()
                .zip(&ids)
                .filter_map(|(n, id)| {
                    let v = validated[n.input]
                        .as_ref()
                        .expect("only valid orders are new");
                    let value = crate::tiers::qualifying_value(&loyalty, n.earned, n.total);
                    v.earns.then_some((n.customer_id, (*id)?, value))
                })
                .collect();
            tiers.make_exact(tx, &loyalty, &counted, now)?;
            for &(customer_id, _, value) in &counted {
                tiers.count(&loyalty, customer_id, value, now)?;
            }
            tiers.write(tx, &loyalty, now, attempts)?;

            // 5. Outcomes, outbox and audit.
            let mut outcomes: Vec<Option<OrderOutcome>> = Vec::with_capacity(plan.new.len());
            for (n, id) in plan.new.iter().zip(&ids) {
                let v = validated[n.input].as_ref().expect("valid");
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
            let publish = endpoints.iter().any(|e| e.wants("order.placed"));
            let mut results = Vec::with_capacity(plan.results.len());
            let mut accepted = Vec::new();
            for slot in plan.results {
                results.push(match slot {
                    Slot::Done(r) => r,
                    Slot::SameAs(j) | Slot::New(j) if outcomes[j].is_none() => {
                        // Lost a race with another writer: answer from what it stored.
                        let v = validated[plan.new[j].input].as_ref().expect("valid");
                        let e = events::find(tx, &v.reference.source, &v.reference.external_id)?
                            .context("event vanished")?;
                        replay(&e, EventKind::OrderPlaced, &v.hash, &v.body, || {
                            order_outcome(tx, &e)
                        })?
                    }
                    Slot::SameAs(j) => Intake::Duplicate(outcomes[j].clone().expect("checked")),
                    Slot::New(j) => {
                        let o = outcomes[j].clone().expect("checked");
                        accepted.push(o.order_id);
                        if publish {
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
            let ordered: Vec<(i64, i64)> = outcomes
                .iter()
                .flatten()
                .map(|o| (o.customer_id, o.order_id))
                .collect();
            crate::bonus::after_orders(tx, &self.settings, &ordered, now_micros)?;
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
    let posted: i64 = ledger::of_event(tx, e.id)?
        .iter()
        .filter(|t| t.kind == TransferKind::Reverse)
        .map(|t| t.amount)
        .sum();
    // Under the debt policy the uncovered points were owed, not posted.
    let owed = match ledger::debt_of_event(tx, e.id)? {
        Some((false, amount)) => amount,
        _ => 0,
    };
    let reversed = posted + owed;
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

/// The `reverse` transfer of a refund: `amount` points from the customer, naming the order's lot.
#[allow(clippy::too_many_arguments)]
fn post_reversal(
    tx: &mut Tx<'_>,
    refund_id: i64,
    account: i64,
    issuance: i64,
    amount: i64,
    order_event: &EventRow,
    kind: EventKind,
    now_micros: i64,
) -> anyhow::Result<()> {
    ledger::insert_transfer(
        tx,
        &NewTransfer {
            event_id: refund_id,
            seq: 0,
            debit_account_id: account,
            credit_account_id: issuance,
            amount,
            kind: TransferKind::Reverse,
            created_at_micros: now_micros,
            remaining: None,
            pending_until_micros: None,
            expires_at_micros: None,
            lot: Some((order_event.id, 0)),
            reason: Some(kind.as_str()),
            lot_state: None,
            lines: Vec::new(),
            revenue: None,
        },
    )
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
        let (content_body, hash) = body_and_hash(&content);
        let now = self.now();
        let now_micros = now.as_microsecond();
        self.store.write(|tx| {
            if let Some(stored) = events::find(tx, &reference.source, &reference.external_id)? {
                return replay(&stored, input.kind, &hash, &content_body, || {
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
                return replay(&stored, input.kind, &hash, &content_body, || {
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
            // The return reduces the qualifying value of the period the purchase counted in.
            // The member's tier row is locked before the account (the order intake takes),
            // so a concurrent order and return of one member cannot deadlock.
            let loyalty = crate::loyalty::load(tx, &self.settings)?;
            let spend = if order.currency == self.settings.currency {
                plan.amount_minor
            } else {
                0
            };
            crate::tiers::count_return(
                tx,
                &loyalty,
                customer_id,
                order_event.recorded_at,
                crate::tiers::qualifying_value(&loyalty, reversal, spend),
                now,
                self.settings.job_attempts_max,
            )?;
            if let (Some(lot), true) = (&lot, reversal > 0) {
                let mut accounts = Accounts::load(tx)?;
                let account = accounts.customer(tx, customer_id)?;
                let from_lot = lot.remaining.unwrap_or(0).min(reversal);
                if lot.lot_state.as_deref() == Some(ledger::LOT_PENDING) {
                    // Nothing of a pending lot can have been spent: the window's points go,
                    // the spendable balance does not move.
                    assert_eq!(from_lot, reversal, "a pending lot gives back all it earned");
                    post_reversal(
                        tx,
                        refund_id,
                        account,
                        accounts.issuance,
                        reversal,
                        &order_event,
                        input.kind,
                        now_micros,
                    )?;
                    ledger::consume_lot(tx, (refund_id, 0), (lot.event_id, lot.seq), from_lot)?;
                    store::loyalty::add_to_pendings(tx, &[(account, -reversal)])?;
                } else {
                    // The order's lot first, then the other active lots, then the shortfall
                    // policy (the same booking as a reversed award).
                    let shortfall = crate::loyalty::load(tx, &self.settings)?.shortfall;
                    crate::points::claw_back(
                        tx,
                        &crate::points::ClawBack {
                            event_id: refund_id,
                            account,
                            issuance: accounts.issuance,
                            lot: (lot.event_id, lot.seq),
                            lot_remaining: lot.remaining.unwrap_or(0),
                            amount: reversal,
                            reason: input.kind.as_str(),
                            shortfall,
                            now_micros,
                        },
                    )?;
                }
            }
            // A referral this order rewarded is reversed if it is now refunded in full in time.
            crate::bonus::after_refund(
                tx,
                &self.settings,
                customer_id,
                order_event.id,
                refund_id,
                now_micros,
            )?;
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
                return replay(&stored, input.kind, &hash, &body, || {
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
                ValidRef::Described(c) => {
                    let (id, how) = resolve_or_create(tx, c, now_micros)?;
                    if how == crate::customers::Created::New {
                        crate::bonus::award_sign_ups(tx, &self.settings, &[id], now)?;
                    }
                    id
                }
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
                return replay(&stored, input.kind, &hash, &body, || {
                    Ok(EventOutcome {
                        event_id: stored.id,
                        kind: stored.kind,
                        customer_id,
                    })
                });
            };
            if let Some(p) = &profile {
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

#[cfg(test)]
mod tests {
    use super::*;
    use domain::IdentityKind;

    /// The body as it was built before [`order_body`]: a `Value` tree, serialised.
    fn reference_body(input: &OrderInput, order: &Order) -> String {
        json!({
            "customer": customer_content(&input.customer),
            "occurred_at": input.occurred_at.map(|t| t.to_string()),
            "currency": order.currency.code(),
            "lines": order.lines.iter().map(|l| json!({
                "sku": l.sku,
                "category": l.category,
                "quantity": l.quantity,
                "unit_price_minor": l.unit_price_minor,
            })).collect::<Vec<_>>(),
        })
        .to_string()
    }

    #[test]
    fn order_bodies_are_the_canonical_json_of_the_request() {
        let described = |identities: Vec<(IdentityKind, &str)>, name: Option<&str>| {
            CustomerRef::Described(CustomerInput {
                identities: identities
                    .into_iter()
                    .map(|(k, v)| (k, v.to_owned()))
                    .collect(),
                name: name.map(str::to_owned),
                birthday: Some("1990-02-03".to_owned()),
                locale: None,
                time_zone: Some("Asia/Taipei".to_owned()),
            })
        };
        let line = |sku: &str, category: Option<&str>| LineInput {
            sku: sku.to_owned(),
            category: category.map(str::to_owned),
            quantity: 3,
            unit_price_minor: 12_345,
        };
        let customers = [
            CustomerRef::Id(7),
            described(vec![], None),
            described(
                vec![(IdentityKind::ShopCustomerId, "C1")],
                Some("Lin \"Mei\"\n"),
            ),
            described(
                vec![
                    (IdentityKind::Phone, "+886912345678"),
                    (IdentityKind::Email, "a@example.com"),
                    (IdentityKind::Email, "b@example.com"),
                    (IdentityKind::LineUserId, "U\\1\u{1}"),
                ],
                Some("王小明"),
            ),
        ];
        let lines = [
            vec![line("TEA", None)],
            vec![
                line("TEA-烏龍", Some("tea")),
                line("CUP \"2\"", Some("ware\\x")),
            ],
        ];
        for customer in &customers {
            for lines in &lines {
                for occurred_at in [
                    None,
                    Some(jiff::Timestamp::from_second(1_770_000_000).unwrap()),
                ] {
                    let input = OrderInput {
                        source: "web".to_owned(),
                        external_id: "o-1".to_owned(),
                        customer: customer.clone(),
                        occurred_at,
                        currency: "TWD".to_owned(),
                        lines: lines.clone(),
                    };
                    let order_lines = lines
                        .iter()
                        .map(|l| {
                            OrderLine::new(
                                &l.sku,
                                l.category.as_deref(),
                                l.quantity,
                                l.unit_price_minor,
                            )
                            .unwrap()
                        })
                        .collect();
                    let order = Order::new(Currency::parse("TWD").unwrap(), order_lines).unwrap();
                    let body = order_body(&input, &order);
                    assert_eq!(body, reference_body(&input, &order));
                    let parsed: Value = serde_json::from_str(&body).unwrap();
                    assert_eq!(crate::canonical::hash(&body), body_and_hash(&parsed).1);
                }
            }
        }
    }
}

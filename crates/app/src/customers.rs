//! Customers: one profile per person, found by any of their identities.

use crate::{App, AppError, AppResult, Principal};
use domain::customer::Locale;
use domain::{CustomerProfile, FieldError, Identity, IdentityKind};
use store::customers::{self, NewCustomer};
use store::sql::Tx;

/// A customer as a request describes it, before validation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerInput {
    pub identities: Vec<(IdentityKind, String)>,
    pub name: Option<String>,
    pub birthday: Option<String>,
    pub locale: Option<String>,
    pub time_zone: Option<String>,
}

/// A validated customer description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidCustomer {
    pub identities: Vec<Identity>,
    pub profile: CustomerProfile,
}

impl CustomerInput {
    pub fn validate(&self) -> Result<ValidCustomer, FieldError> {
        if self.identities.len() > domain::limits::IDENTITIES_PER_REQUEST_MAX {
            return Err(FieldError::new("identities", "too many identities"));
        }
        let mut identities = self
            .identities
            .iter()
            .map(|(k, v)| Identity::parse(*k, v))
            .collect::<Result<Vec<_>, _>>()?;
        identities.sort();
        identities.dedup();
        let mut profile = CustomerProfile::default();
        if let Some(n) = &self.name {
            profile.name = Some(CustomerProfile::parse_name(n)?);
        }
        if let Some(b) = &self.birthday {
            profile.birthday = Some(CustomerProfile::parse_birthday(b)?);
        }
        if let Some(l) = &self.locale {
            profile.locale = Locale::parse(l)?;
        }
        if let Some(tz) = &self.time_zone {
            profile.time_zone = CustomerProfile::parse_time_zone(tz)?;
        }
        Ok(ValidCustomer {
            identities,
            profile,
        })
    }
}

/// What the API shows of a customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerView {
    pub id: i64,
    pub name: Option<String>,
    pub birthday: Option<String>,
    pub locale: String,
    pub time_zone: String,
    pub identities: Vec<Identity>,
    pub points_balance: i64,
    pub created_at: jiff::Timestamp,
}

/// Whether a create made a new customer or found the same one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    New,
    Existing,
}

fn new_customer<'a>(
    c: &'a ValidCustomer,
    birthday: &'a Option<String>,
    now: i64,
) -> NewCustomer<'a> {
    NewCustomer {
        name: c.profile.name.as_deref(),
        birthday: birthday.as_deref(),
        locale: c.profile.locale.as_str(),
        time_zone: &c.profile.time_zone,
        now_micros: now,
    }
}

/// The customers the identities already belong to, deduplicated.
fn owners(tx: &mut Tx<'_>, identities: &[Identity]) -> anyhow::Result<Vec<i64>> {
    let mut ids = Vec::new();
    for i in identities {
        if let Some(id) = customers::find_by_identity(tx, i)? {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// Finds the one customer the identities name, attaching identities not yet known;
/// creates the customer when none is known. Used by order intake and import.
pub(crate) fn resolve_or_create(
    tx: &mut Tx<'_>,
    c: &ValidCustomer,
    now: i64,
) -> AppResult<(i64, Created)> {
    if c.identities.is_empty() {
        return Err(FieldError::new("customer", "needs an id or at least one identity").into());
    }
    match owners(tx, &c.identities)?.as_slice() {
        [] => {
            // Another transaction may create the same person between our look and our insert
            // (PostgreSQL, READ COMMITTED): then our identity insert finds theirs, and we remove
            // the customer we just made and resolve again, now seeing the committed one. (No
            // savepoint: hundreds of subtransactions in one import batch slow PostgreSQL down.)
            let birthday = c.profile.birthday.map(|d| d.to_string());
            let id = customers::insert(tx, &new_customer(c, &birthday, now))?;
            match attach(tx, id, &c.identities) {
                Ok(()) => Ok((id, Created::New)),
                Err(AppError::IdentityConflict { .. }) => {
                    customers::delete_uncommitted(tx, id)?;
                    match owners(tx, &c.identities)?.as_slice() {
                        [id] => {
                            attach(tx, *id, &c.identities)?;
                            Ok((*id, Created::Existing))
                        }
                        many => Err(AppError::IdentityConflict {
                            customer_ids: many.to_vec(),
                        }),
                    }
                }
                Err(e) => Err(e),
            }
        }
        [id] => {
            attach(tx, *id, &c.identities)?;
            Ok((*id, Created::Existing))
        }
        many => Err(AppError::IdentityConflict {
            customer_ids: many.to_vec(),
        }),
    }
}

/// Creates customers no identity names yet, with a few multi-row statements for the lot: the
/// customers, their points accounts, their identities. For each: its id, or, when a
/// concurrent writer stored one of its identities first, what [`resolve_or_create`] makes of
/// it then (the customer we made is removed again): the existing customer, or the customers
/// the identities are split across.
pub(crate) fn create_many(
    tx: &mut Tx<'_>,
    described: &[&ValidCustomer],
    now: i64,
) -> AppResult<Vec<Result<i64, Vec<i64>>>> {
    let birthdays: Vec<Option<String>> = described
        .iter()
        .map(|c| c.profile.birthday.map(|d| d.to_string()))
        .collect();
    let rows: Vec<NewCustomer<'_>> = described
        .iter()
        .zip(&birthdays)
        .map(|(c, b)| new_customer(c, b, now))
        .collect();
    let ids = customers::insert_many(tx, &rows)?;
    let mut identities: Vec<(i64, &Identity)> = described
        .iter()
        .zip(&ids)
        .flat_map(|(c, id)| c.identities.iter().map(move |i| (*id, i)))
        .collect();
    // In key order, so that concurrent batches wait for each other's keys in one order
    // (PostgreSQL) instead of deadlocking.
    identities.sort_unstable_by(|a, b| a.1.cmp(b.1));
    let inserted = customers::add_identities(tx, &identities)?;
    let lost: std::collections::HashSet<i64> = identities
        .iter()
        .zip(&inserted)
        .filter(|(_, inserted)| !**inserted)
        .map(|((id, _), _)| *id)
        .collect();
    let mut out = Vec::with_capacity(ids.len());
    for (c, id) in described.iter().zip(&ids) {
        if !lost.contains(id) {
            out.push(Ok(*id));
            continue;
        }
        customers::delete_uncommitted(tx, *id)?;
        out.push(match resolve_or_create(tx, c, now) {
            Ok((id, _)) => Ok(id),
            Err(AppError::IdentityConflict { customer_ids }) => Err(customer_ids),
            Err(e) => return Err(e),
        });
    }
    Ok(out)
}

fn attach(tx: &mut Tx<'_>, id: i64, identities: &[Identity]) -> AppResult<()> {
    for i in identities {
        if !customers::add_identity(tx, id, i)? {
            let owner = customers::find_by_identity(tx, i)?;
            if owner != Some(id) {
                return Err(AppError::IdentityConflict {
                    customer_ids: owner.into_iter().chain([id]).collect(),
                });
            }
        }
    }
    Ok(())
}

/// Profile fields where the stored customer differs from `c`.
fn profile_differences(row: &customers::CustomerRow, c: &ValidCustomer) -> Vec<String> {
    let mut d = Vec::new();
    if row.name != c.profile.name {
        d.push("name".to_owned());
    }
    if row.birthday != c.profile.birthday.map(|b| b.to_string()) {
        d.push("birthday".to_owned());
    }
    if row.locale != c.profile.locale.as_str() {
        d.push("locale".to_owned());
    }
    if row.time_zone != c.profile.time_zone {
        d.push("time_zone".to_owned());
    }
    d
}

impl App {
    /// Creates a customer, or returns the existing one when the identities and profile match.
    /// A known identity with a different profile is a conflict naming the fields.
    pub fn create_customer(
        &self,
        who: &Principal,
        input: &CustomerInput,
    ) -> AppResult<(CustomerView, Created)> {
        self.create_customer_referred(who, input, None)
    }

    /// [`App::create_customer`], registering the customer as referred by the owner of
    /// `referral_code` in the same transaction (see `bonus::register_referral_tx`): a
    /// malformed or unknown code refuses the whole request. A new customer gets the sign-up
    /// award, when a rule for it is in force, in the same transaction too.
    pub fn create_customer_referred(
        &self,
        who: &Principal,
        input: &CustomerInput,
        referral_code: Option<&str>,
    ) -> AppResult<(CustomerView, Created)> {
        let c = input.validate()?;
        if c.identities.is_empty() {
            return Err(FieldError::new("identities", "at least one identity is required").into());
        }
        let code = referral_code
            .map(|code| crate::bonus::parse_referral_code(code, "referral_code"))
            .transpose()?;
        let now = self.now_micros();
        let (id, created) = self.store.write(|tx| {
            let existing = owners(tx, &c.identities)?;
            if let [id] = existing.as_slice() {
                let row = customers::get(tx, *id)?.ok_or(AppError::NotFound)?;
                let differences = profile_differences(&row, &c);
                if !differences.is_empty() {
                    return Err(AppError::CustomerConflict {
                        customer_id: *id,
                        differences,
                    });
                }
            }
            let (id, created) = resolve_or_create(tx, &c, now)?;
            if created == Created::New {
                store::audit::insert(
                    tx,
                    now,
                    &who.actor,
                    "customer.create",
                    Some(&format!("customer:{id}")),
                    None,
                )?;
                crate::bonus::award_sign_ups(tx, &self.settings, &[id], store::instant(now)?)?;
            }
            if let Some(code) = &code {
                crate::bonus::register_referral_tx(tx, who, id, code, "referral_code", now)?;
            }
            Ok::<_, AppError>((id, created))
        })?;
        Ok((self.customer(id)?, created))
    }

    pub fn customer(&self, id: i64) -> AppResult<CustomerView> {
        self.store.read(|tx| {
            let row = customers::get(tx, id)?.ok_or(AppError::NotFound)?;
            let account = store::ledger::customer_account(tx, id)?
                .ok_or_else(|| anyhow::anyhow!("customer {id} has no points account"))?;
            Ok(CustomerView {
                id: row.id,
                name: row.name,
                birthday: row.birthday,
                locale: row.locale,
                time_zone: row.time_zone,
                identities: row.identities,
                points_balance: account.balance,
                created_at: row.created_at,
            })
        })
    }

    /// Customer ids after `after`, for cursor pagination.
    pub fn customer_ids(&self, after: i64, limit: i64) -> AppResult<Vec<i64>> {
        Ok(self
            .store
            .read(|tx| customers::list_ids(tx, after, limit))?)
    }

    /// The customer an identity belongs to.
    pub fn find_customer(&self, identity: &Identity) -> AppResult<Option<i64>> {
        Ok(self
            .store
            .read(|tx| customers::find_by_identity(tx, identity))?)
    }
}

impl App {
    /// Creates or finds customers in one transaction, as [`App::create_customer`] does for one:
    /// new → `Accepted`, identical → `Duplicate`, other profile or identities split across
    /// customers → `Rejected`. Used by the import.
    pub fn import_customers(
        &self,
        who: &Principal,
        inputs: &[CustomerInput],
    ) -> AppResult<Vec<crate::intake::Intake<i64>>> {
        use crate::intake::Intake;
        let validated: Vec<Result<ValidCustomer, FieldError>> =
            inputs.iter().map(CustomerInput::validate).collect();
        let now = self.now_micros();
        self.store.write(|tx| {
            let mut out = Vec::with_capacity(validated.len());
            let mut created = 0;
            let mut new_ids = Vec::new();
            for v in &validated {
                let c = match v {
                    Ok(c) if !c.identities.is_empty() => c,
                    Ok(_) => {
                        out.push(Intake::Rejected(
                            FieldError::new("identities", "at least one identity is required")
                                .into(),
                        ));
                        continue;
                    }
                    Err(e) => {
                        out.push(Intake::Rejected(e.clone().into()));
                        continue;
                    }
                };
                let existing = owners(tx, &c.identities)?;
                match existing.as_slice() {
                    [] => {}
                    [id] => {
                        let row = customers::get(tx, *id)?.ok_or(AppError::NotFound)?;
                        let differences = profile_differences(&row, c);
                        if !differences.is_empty() {
                            out.push(Intake::Rejected(AppError::CustomerConflict {
                                customer_id: *id,
                                differences,
                            }));
                            continue;
                        }
                    }
                    many => {
                        out.push(Intake::Rejected(AppError::IdentityConflict {
                            customer_ids: many.to_vec(),
                        }));
                        continue;
                    }
                }
                let (id, how) = resolve_or_create(tx, c, now)?;
                out.push(match how {
                    Created::New => {
                        created += 1;
                        new_ids.push(id);
                        Intake::Accepted(id)
                    }
                    Created::Existing => Intake::Duplicate(id),
                });
            }
            crate::bonus::award_sign_ups(tx, &self.settings, &new_ids, store::instant(now)?)?;
            if created > 0 {
                store::audit::insert(
                    tx,
                    now,
                    &who.actor,
                    "customer.import",
                    None,
                    Some(&format!("created={created}")),
                )?;
            }
            Ok(out)
        })
    }
}

//! Customers, their identities and their points account (created with the customer).

use crate::sql::Tx;
use crate::{args, instant};
use anyhow::{Result, anyhow};
use domain::{Identity, IdentityKind};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerRow {
    pub id: i64,
    pub name: Option<String>,
    pub birthday: Option<String>,
    pub locale: String,
    pub time_zone: String,
    pub created_at: jiff::Timestamp,
    pub updated_at: jiff::Timestamp,
    pub identities: Vec<Identity>,
}

#[derive(Debug, Clone)]
pub struct NewCustomer<'a> {
    pub name: Option<&'a str>,
    pub birthday: Option<&'a str>,
    pub locale: &'a str,
    pub time_zone: &'a str,
    pub now_micros: i64,
}

/// Inserts a customer and its points account; returns the customer id.
pub fn insert(tx: &mut Tx<'_>, c: &NewCustomer<'_>) -> Result<i64> {
    let id = tx
        .query_one(
            "INSERT INTO customers (name, birthday, locale, time_zone, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
            args![c.name, c.birthday, c.locale, c.time_zone, c.now_micros],
        )?
        .int(0)?;
    tx.execute("INSERT INTO accounts (customer_id) VALUES ($1)", args![id])?;
    Ok(id)
}

/// Inserts customers and their points accounts with multi-row statements; returns the new
/// ids in input order. The ids are taken first (from the identity sequence on PostgreSQL,
/// after the largest on SQLite, whose single writer holds the database), so that no
/// statement has to rely on the order of `RETURNING` rows.
pub fn insert_many(tx: &mut Tx<'_>, customers: &[NewCustomer<'_>]) -> Result<Vec<i64>> {
    if customers.is_empty() {
        return Ok(Vec::new());
    }
    let n = i64::try_from(customers.len())?;
    let ids: Vec<i64> = if tx.is_postgres() {
        tx.query(
            "SELECT nextval(pg_get_serial_sequence('customers', 'id'))
             FROM generate_series(1, CAST($1 AS BIGINT))",
            args![n],
        )?
        .iter()
        .map(|r| r.int(0))
        .collect::<Result<_>>()?
    } else {
        let max = tx
            .query_one("SELECT COALESCE(MAX(id), 0) FROM customers", &[])?
            .int(0)?;
        (max + 1..=max + n).collect()
    };
    anyhow::ensure!(ids.len() == customers.len(), "customer ids reserved");
    let rows: Vec<(i64, &NewCustomer<'_>)> = ids.iter().copied().zip(customers).collect();
    for chunk in crate::events::statement_chunks(&rows, crate::events::BATCH_STATEMENT_ROWS) {
        let sql = format!(
            "INSERT INTO customers (id, name, birthday, locale, time_zone, created_at, updated_at)
             VALUES {}",
            crate::events::placeholders(chunk.len(), 7, 1)
        );
        let mut params = Vec::with_capacity(chunk.len() * 7);
        for (id, c) in chunk {
            params.extend_from_slice(args![
                *id,
                c.name,
                c.birthday,
                c.locale,
                c.time_zone,
                c.now_micros,
                c.now_micros
            ]);
        }
        tx.execute(&sql, &params)?;
    }
    for chunk in crate::events::statement_chunks(&ids, crate::events::BATCH_STATEMENT_ROWS * 2) {
        let sql = format!(
            "INSERT INTO accounts (customer_id) VALUES {}",
            crate::events::placeholders(chunk.len(), 1, 1)
        );
        let params: Vec<crate::sql::Arg<'_>> =
            chunk.iter().map(|id| crate::sql::Arg::Int(*id)).collect();
        tx.execute(&sql, &params)?;
    }
    Ok(ids)
}

/// Attaches identities with multi-row statements; for each, whether it was attached (false:
/// it already belongs to someone, perhaps stored meanwhile by a concurrent writer).
pub fn add_identities(tx: &mut Tx<'_>, identities: &[(i64, &Identity)]) -> Result<Vec<bool>> {
    let mut attached = std::collections::HashSet::new();
    for chunk in crate::events::statement_chunks(identities, crate::events::BATCH_STATEMENT_ROWS) {
        let sql = format!(
            "INSERT INTO customer_identities (kind, value, customer_id) VALUES {}
             ON CONFLICT DO NOTHING RETURNING kind, value",
            crate::events::placeholders(chunk.len(), 3, 1)
        );
        let mut params = Vec::with_capacity(chunk.len() * 3);
        for (customer_id, i) in chunk {
            params.extend_from_slice(args![i.kind.as_str(), &i.value, *customer_id]);
        }
        for r in tx.query(&sql, &params)? {
            attached.insert((r.text(0)?.to_owned(), r.text(1)?.to_owned()));
        }
    }
    Ok(identities
        .iter()
        .map(|(_, i)| attached.contains(&(i.kind.as_str().to_owned(), i.value.clone())))
        .collect())
}

/// Attaches an identity; false when it already belongs to someone (the caller decides).
pub fn add_identity(tx: &mut Tx<'_>, customer_id: i64, identity: &Identity) -> Result<bool> {
    let n = tx.execute(
        "INSERT INTO customer_identities (kind, value, customer_id) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
        args![identity.kind.as_str(), &identity.value, customer_id],
    )?;
    Ok(n == 1)
}

pub fn find_by_identity(tx: &mut Tx<'_>, identity: &Identity) -> Result<Option<i64>> {
    tx.query_opt(
        "SELECT customer_id FROM customer_identities WHERE kind = $1 AND value = $2",
        args![identity.kind.as_str(), &identity.value],
    )?
    .map(|r| r.int(0))
    .transpose()
}

pub fn exists(tx: &mut Tx<'_>, id: i64) -> Result<bool> {
    Ok(tx
        .query_opt("SELECT 1 FROM customers WHERE id = $1", args![id])?
        .is_some())
}

pub fn get(tx: &mut Tx<'_>, id: i64) -> Result<Option<CustomerRow>> {
    let Some(r) = tx.query_opt(
        "SELECT id, name, birthday, locale, time_zone, created_at, updated_at
         FROM customers WHERE id = $1",
        args![id],
    )?
    else {
        return Ok(None);
    };
    let identities = tx
        .query(
            "SELECT kind, value FROM customer_identities WHERE customer_id = $1 ORDER BY kind, value",
            args![id],
        )?
        .iter()
        .map(|r| {
            let kind = IdentityKind::parse(r.text(0)?)
                .ok_or_else(|| anyhow!("unknown identity kind {:?}", r.text(0)))?;
            Ok(Identity { kind, value: r.text(1)?.to_owned() })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(CustomerRow {
        id: r.int(0)?,
        name: r.opt_text(1)?.map(str::to_owned),
        birthday: r.opt_text(2)?.map(str::to_owned),
        locale: r.text(3)?.to_owned(),
        time_zone: r.text(4)?.to_owned(),
        created_at: instant(r.int(5)?)?,
        updated_at: instant(r.int(6)?)?,
        identities,
    }))
}

/// Overwrites the profile fields of a customer.
pub fn update_profile(tx: &mut Tx<'_>, id: i64, c: &NewCustomer<'_>) -> Result<()> {
    tx.execute(
        "UPDATE customers SET name = $2, birthday = $3, locale = $4, time_zone = $5, updated_at = $6
         WHERE id = $1",
        args![id, c.name, c.birthday, c.locale, c.time_zone, c.now_micros],
    )?;
    Ok(())
}

/// Customers in id order after `after_id`, for listing.
pub fn list_ids(tx: &mut Tx<'_>, after_id: i64, limit: i64) -> Result<Vec<i64>> {
    tx.query(
        "SELECT id FROM customers WHERE id > $1 ORDER BY id LIMIT $2",
        args![after_id, limit],
    )?
    .iter()
    .map(|r| r.int(0))
    .collect()
}

pub fn count(tx: &mut Tx<'_>) -> Result<i64> {
    tx.query_one("SELECT COUNT(*) FROM customers", &[])?.int(0)
}

/// Owners of the given identities: `(identity, customer_id)` for those known.
pub fn find_many(tx: &mut Tx<'_>, identities: &[&Identity]) -> Result<Vec<(Identity, i64)>> {
    let mut out = Vec::new();
    for kind in IdentityKind::ALL {
        let values: Vec<&str> = identities
            .iter()
            .filter(|i| i.kind == kind)
            .map(|i| i.value.as_str())
            .collect();
        for chunk in crate::events::statement_chunks(&values, 512) {
            let list = crate::events::param_list(chunk.len(), 2);
            let sql = format!(
                "SELECT value, customer_id FROM customer_identities WHERE kind = $1 AND value IN ({list})"
            );
            let mut params = Vec::with_capacity(chunk.len() + 1);
            params.push(crate::sql::Arg::Text(kind.as_str()));
            params.extend(chunk.iter().map(|v| crate::sql::Arg::Text(v)));
            for r in tx.query(&sql, &params)? {
                out.push((
                    Identity {
                        kind,
                        value: r.text(0)?.to_owned(),
                    },
                    r.int(1)?,
                ));
            }
        }
    }
    Ok(out)
}

/// Removes a customer created earlier in this same transaction, with its identities and
/// points account (nothing else can reference it yet). Used when a concurrent transaction
/// turned out to have created the same person first.
pub fn delete_uncommitted(tx: &mut Tx<'_>, id: i64) -> Result<()> {
    tx.execute(
        "DELETE FROM customer_identities WHERE customer_id = $1",
        args![id],
    )?;
    tx.execute("DELETE FROM accounts WHERE customer_id = $1", args![id])?;
    tx.execute("DELETE FROM customers WHERE id = $1", args![id])?;
    Ok(())
}

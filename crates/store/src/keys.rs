//! API keys: a public prefix to find the row and a SHA-256 of the secret part to check it.

use crate::sql::Tx;
use crate::{args, instant};
use anyhow::Result;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRow {
    pub id: i64,
    pub prefix: String,
    pub secret_hash: Vec<u8>,
    pub role: String,
    pub name: String,
    pub created_at: jiff::Timestamp,
    pub revoked_at: Option<jiff::Timestamp>,
}

pub fn insert(
    tx: &mut Tx<'_>,
    prefix: &str,
    secret_hash: &[u8],
    role: &str,
    name: &str,
    now_micros: i64,
) -> Result<i64> {
    tx.query_one(
        "INSERT INTO api_keys (prefix, secret_hash, role, name, created_at)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
        args![prefix, secret_hash, role, name, now_micros],
    )?
    .int(0)
}

fn row(r: &crate::sql::Row) -> Result<ApiKeyRow> {
    Ok(ApiKeyRow {
        id: r.int(0)?,
        prefix: r.text(1)?.to_owned(),
        secret_hash: r.blob(2)?.to_vec(),
        role: r.text(3)?.to_owned(),
        name: r.text(4)?.to_owned(),
        created_at: instant(r.int(5)?)?,
        revoked_at: r.opt_int(6)?.map(instant).transpose()?,
    })
}

pub fn find_by_prefix(tx: &mut Tx<'_>, prefix: &str) -> Result<Option<ApiKeyRow>> {
    tx.query_opt(
        "SELECT id, prefix, secret_hash, role, name, created_at, revoked_at
         FROM api_keys WHERE prefix = $1",
        args![prefix],
    )?
    .map(|r| row(&r))
    .transpose()
}

pub fn list(tx: &mut Tx<'_>) -> Result<Vec<ApiKeyRow>> {
    tx.query(
        "SELECT id, prefix, secret_hash, role, name, created_at, revoked_at FROM api_keys ORDER BY id",
        &[],
    )?
    .iter()
    .map(row)
    .collect()
}

/// Revokes a key; false when no such unrevoked key exists.
pub fn revoke(tx: &mut Tx<'_>, prefix: &str, now_micros: i64) -> Result<bool> {
    Ok(tx.execute(
        "UPDATE api_keys SET revoked_at = $2 WHERE prefix = $1 AND revoked_at IS NULL",
        args![prefix, now_micros],
    )? == 1)
}

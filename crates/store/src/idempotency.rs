//! Stored responses for `Idempotency-Key`, per API key.

use crate::args;
use crate::sql::Tx;
use anyhow::Result;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub request_hash: Vec<u8>,
    pub status: u16,
    pub response: String,
}

pub fn find(tx: &mut Tx<'_>, api_key_id: i64, key: &str) -> Result<Option<StoredResponse>> {
    tx.query_opt(
        "SELECT request_hash, status, response FROM idempotency_keys
         WHERE api_key_id = $1 AND key = $2",
        args![api_key_id, key],
    )?
    .map(|r| {
        Ok(StoredResponse {
            request_hash: r.blob(0)?.to_vec(),
            status: u16::try_from(r.int(1)?)?,
            response: r.text(2)?.to_owned(),
        })
    })
    .transpose()
}

/// Stores the response; false when another request stored one first (the caller re-reads).
pub fn insert(
    tx: &mut Tx<'_>,
    api_key_id: i64,
    key: &str,
    stored: &StoredResponse,
    now_micros: i64,
) -> Result<bool> {
    Ok(tx.execute(
        "INSERT INTO idempotency_keys (api_key_id, key, request_hash, status, response, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        args![
            api_key_id,
            key,
            &stored.request_hash[..],
            i64::from(stored.status),
            &stored.response,
            now_micros
        ],
    )? == 1)
}

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

/// `status` of a key whose request is still running: the row is that request's claim,
/// told apart from a later claim by its `created_at`.
const IN_FLIGHT: i64 = 0;

/// What [`begin`] found for a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// The key is this request's now, claimed at this instant (pass it to [`finish`]).
    Claimed { claimed_at_micros: i64 },
    /// A response is stored for the key.
    Stored(StoredResponse),
    /// Another request holds the key (in this or another process); its request hash.
    InFlight { request_hash: Vec<u8> },
}

/// Claims `key` for a request before it runs, so that two processes sharing the database
/// never run the same key at once: a new key gets an in-flight row; a stored response is
/// returned; a claim older than `abandoned_before_micros` with the same request hash (its
/// process died mid-request) is taken over.
pub fn begin(
    tx: &mut Tx<'_>,
    api_key_id: i64,
    key: &str,
    request_hash: &[u8],
    now_micros: i64,
    abandoned_before_micros: i64,
) -> Result<Begin> {
    let claimed = Begin::Claimed {
        claimed_at_micros: now_micros,
    };
    // A claim released between the insert and the read leaves no row: try again.
    for _ in 0..3 {
        let inserted = tx.execute(
            "INSERT INTO idempotency_keys (api_key_id, key, request_hash, status, response, created_at)
             VALUES ($1, $2, $3, $4, '', $5) ON CONFLICT DO NOTHING",
            args![api_key_id, key, request_hash, IN_FLIGHT, now_micros],
        )?;
        if inserted == 1 {
            return Ok(claimed);
        }
        let Some(row) = tx.query_opt(
            "SELECT request_hash, status, response, created_at FROM idempotency_keys
             WHERE api_key_id = $1 AND key = $2",
            args![api_key_id, key],
        )?
        else {
            continue;
        };
        let stored_hash = row.blob(0)?.to_vec();
        let status = row.int(1)?;
        if status != IN_FLIGHT {
            return Ok(Begin::Stored(StoredResponse {
                request_hash: stored_hash,
                status: u16::try_from(status)?,
                response: row.text(2)?.to_owned(),
            }));
        }
        let claimed_at = row.int(3)?;
        if claimed_at < abandoned_before_micros && stored_hash == request_hash {
            let taken = tx.execute(
                "UPDATE idempotency_keys SET created_at = $1
                 WHERE api_key_id = $2 AND key = $3 AND status = $4 AND created_at = $5",
                args![now_micros, api_key_id, key, IN_FLIGHT, claimed_at],
            )?;
            if taken == 1 {
                return Ok(claimed);
            }
        }
        return Ok(Begin::InFlight {
            request_hash: stored_hash,
        });
    }
    anyhow::bail!("idempotency key claimed and released repeatedly")
}

/// Ends the claim made at `claimed_at_micros`: stores the response, or with `None` releases
/// the key so that a retry runs again. False when the claim was taken over meanwhile.
pub fn finish(
    tx: &mut Tx<'_>,
    api_key_id: i64,
    key: &str,
    claimed_at_micros: i64,
    response: Option<&StoredResponse>,
) -> Result<bool> {
    let changed = match response {
        Some(r) => tx.execute(
            "UPDATE idempotency_keys SET status = $1, response = $2
             WHERE api_key_id = $3 AND key = $4 AND status = $5 AND created_at = $6",
            args![
                i64::from(r.status),
                &r.response,
                api_key_id,
                key,
                IN_FLIGHT,
                claimed_at_micros
            ],
        )?,
        None => tx.execute(
            "DELETE FROM idempotency_keys
             WHERE api_key_id = $1 AND key = $2 AND status = $3 AND created_at = $4",
            args![api_key_id, key, IN_FLIGHT, claimed_at_micros],
        )?,
    };
    Ok(changed == 1)
}

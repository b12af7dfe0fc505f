//! The transactional outbox and the webhook endpoints it delivers to.

use crate::sql::Tx;
use crate::{args, instant};
use anyhow::Result;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointRow {
    pub id: i64,
    pub url: String,
    pub secret: String,
    /// Topics subscribed to; `*` means all.
    pub topics: Vec<String>,
    pub created_at: jiff::Timestamp,
}

impl EndpointRow {
    pub fn wants(&self, topic: &str) -> bool {
        self.topics.iter().any(|t| t == "*" || t == topic)
    }
}

pub fn insert_endpoint(
    tx: &mut Tx<'_>,
    url: &str,
    secret: &str,
    topics: &[String],
    now_micros: i64,
) -> Result<i64> {
    tx.query_one(
        "INSERT INTO webhook_endpoints (url, secret, topics, created_at)
         VALUES ($1, $2, $3, $4) RETURNING id",
        args![url, secret, &topics.join(","), now_micros],
    )?
    .int(0)
}

pub fn active_endpoints(tx: &mut Tx<'_>) -> Result<Vec<EndpointRow>> {
    tx.query(
        "SELECT id, url, secret, topics, created_at FROM webhook_endpoints
         WHERE disabled_at IS NULL ORDER BY id",
        &[],
    )?
    .iter()
    .map(|r| {
        Ok(EndpointRow {
            id: r.int(0)?,
            url: r.text(1)?.to_owned(),
            secret: r.text(2)?.to_owned(),
            topics: r.text(3)?.split(',').map(str::to_owned).collect(),
            created_at: instant(r.int(4)?)?,
        })
    })
    .collect()
}

pub fn endpoint(tx: &mut Tx<'_>, id: i64) -> Result<Option<EndpointRow>> {
    Ok(active_endpoints(tx)?.into_iter().find(|e| e.id == id))
}

pub fn insert_message(tx: &mut Tx<'_>, topic: &str, payload: &str, now_micros: i64) -> Result<i64> {
    tx.query_one(
        "INSERT INTO outbox (topic, payload, created_at) VALUES ($1, $2, $3) RETURNING id",
        args![topic, payload, now_micros],
    )?
    .int(0)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRow {
    pub id: i64,
    pub topic: String,
    pub payload: String,
    pub created_at: jiff::Timestamp,
}

pub fn message(tx: &mut Tx<'_>, id: i64) -> Result<Option<MessageRow>> {
    tx.query_opt(
        "SELECT id, topic, payload, created_at FROM outbox WHERE id = $1",
        args![id],
    )?
    .map(|r| {
        Ok(MessageRow {
            id: r.int(0)?,
            topic: r.text(1)?.to_owned(),
            payload: r.text(2)?.to_owned(),
            created_at: instant(r.int(3)?)?,
        })
    })
    .transpose()
}

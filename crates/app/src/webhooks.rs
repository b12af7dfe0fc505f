//! Outbound webhooks per the Standard Webhooks scheme: `webhook-id`, `webhook-timestamp`
//! and `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, with a
//! `whsec_`-prefixed base64 secret. Messages go through the outbox and are delivered by jobs.

use crate::{App, AppError, AppResult, Principal};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use domain::FieldError;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use store::outbox::EndpointRow;
use store::sql::Tx;

/// The job kind that delivers one outbox message to one endpoint.
pub const DELIVER_JOB: &str = "webhook.deliver";
/// How long one delivery attempt may take.
pub const DELIVERY_TIMEOUT_SECONDS: u64 = 10;
/// Longest accepted endpoint URL, in bytes.
pub const ENDPOINT_URL_BYTES_MAX: usize = 2048;

/// Sends an HTTP POST; returns the status code, or an error text for a transport failure.
pub trait WebhookSender: Send + Sync {
    fn post(&self, url: &str, headers: &[(&str, String)], body: &str) -> Result<u16, String>;
}

/// The real sender, over HTTP(S).
#[derive(Debug)]
pub struct HttpSender {
    agent: ureq::Agent,
}

impl Default for HttpSender {
    fn default() -> Self {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(std::time::Duration::from_secs(
                DELIVERY_TIMEOUT_SECONDS,
            )))
            .http_status_as_error(false)
            .build();
        HttpSender {
            agent: config.into(),
        }
    }
}

impl WebhookSender for HttpSender {
    fn post(&self, url: &str, headers: &[(&str, String)], body: &str) -> Result<u16, String> {
        let mut req = self
            .agent
            .post(url)
            .header("content-type", "application/json");
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        req.send(body)
            .map(|r| r.status().as_u16())
            .map_err(|e| e.to_string())
    }
}

/// `v1,<signature>` for a message, per Standard Webhooks.
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &str) -> anyhow::Result<String> {
    let key = B64
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .map_err(|e| anyhow::anyhow!("webhook secret is not base64: {e}"))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|e| anyhow::anyhow!("{e}"))?;
    mac.update(format!("{msg_id}.{timestamp}.{body}").as_bytes());
    Ok(format!("v1,{}", B64.encode(mac.finalize().into_bytes())))
}

/// Writes a message to the outbox and a delivery job per interested endpoint, in the
/// caller's transaction.
pub(crate) fn publish(
    tx: &mut Tx<'_>,
    endpoints: &[EndpointRow],
    topic: &str,
    payload: &Value,
    now_micros: i64,
    attempts_max: i64,
) -> anyhow::Result<()> {
    if !endpoints.iter().any(|e| e.wants(topic)) {
        return Ok(());
    }
    record(tx, endpoints, topic, payload, now_micros, attempts_max)
}

/// Like [`publish`], but the message is written to the outbox even when no endpoint wants it
/// yet (messages another capability will act on, such as expiry reminders).
pub(crate) fn record(
    tx: &mut Tx<'_>,
    endpoints: &[EndpointRow],
    topic: &str,
    payload: &Value,
    now_micros: i64,
    attempts_max: i64,
) -> anyhow::Result<()> {
    let wanted: Vec<&EndpointRow> = endpoints.iter().filter(|e| e.wants(topic)).collect();
    let message_id = store::outbox::insert_message(tx, topic, &payload.to_string(), now_micros)?;
    for e in wanted {
        let job = json!({ "endpoint_id": e.id, "message_id": message_id }).to_string();
        store::jobs::enqueue(
            tx,
            &store::jobs::NewJob {
                kind: DELIVER_JOB,
                payload: &job,
                due_at_micros: now_micros,
                max_attempts: attempts_max,
                dedupe_key: None,
                now_micros,
            },
        )?;
    }
    Ok(())
}

/// An endpoint as created: the secret is shown this once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEndpoint {
    pub id: i64,
    pub url: String,
    pub topics: Vec<String>,
    pub secret: String,
}

/// Topics Patron publishes.
pub const TOPICS: &[&str] = &["order.placed", "order.refunded"];

impl App {
    pub fn create_webhook_endpoint(
        &self,
        who: &Principal,
        url: &str,
        topics: &[String],
    ) -> AppResult<NewEndpoint> {
        if url.len() > ENDPOINT_URL_BYTES_MAX
            || !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err(
                FieldError::new("url", "must be an http(s) URL of at most 2048 bytes").into(),
            );
        }
        if topics.is_empty() {
            return Err(FieldError::new("topics", "name at least one topic, or *").into());
        }
        for t in topics {
            if t != "*" && !TOPICS.contains(&t.as_str()) {
                return Err(FieldError::new("topics", format!("unknown topic {t:?}")).into());
            }
        }
        let mut key = [0u8; 24];
        self.entropy.fill(&mut key);
        let secret = format!("whsec_{}", B64.encode(key));
        let now = self.now_micros();
        let id = self.store.write(|tx| {
            let id = store::outbox::insert_endpoint(tx, url, &secret, topics, now)?;
            store::audit::insert(
                tx,
                now,
                &who.actor,
                "webhook.create",
                Some(&format!("webhook:{id}")),
                None,
            )?;
            Ok::<_, AppError>(id)
        })?;
        Ok(NewEndpoint {
            id,
            url: url.to_owned(),
            topics: topics.to_vec(),
            secret,
        })
    }

    /// Delivers one message to one endpoint. `Ok(())` on a 2xx answer.
    pub(crate) fn deliver(&self, payload: &str) -> Result<(), String> {
        let job: Value = serde_json::from_str(payload).map_err(|e| e.to_string())?;
        let endpoint_id = job["endpoint_id"]
            .as_i64()
            .ok_or("payload without endpoint_id")?;
        let message_id = job["message_id"]
            .as_i64()
            .ok_or("payload without message_id")?;
        let (endpoint, message) = self
            .store
            .read(|tx| {
                Ok::<_, anyhow::Error>((
                    store::outbox::endpoint(tx, endpoint_id)?,
                    store::outbox::message(tx, message_id)?,
                ))
            })
            .map_err(|e| e.to_string())?;
        let endpoint = endpoint.ok_or("endpoint removed")?;
        let message = message.ok_or("message missing")?;
        let data: Value = serde_json::from_str(&message.payload).map_err(|e| e.to_string())?;
        let body = json!({
            "type": message.topic,
            "timestamp": message.created_at.to_string(),
            "data": data,
        })
        .to_string();
        let msg_id = format!("msg_{}", message.id);
        let timestamp = self.now().as_second();
        let signature =
            sign(&endpoint.secret, &msg_id, timestamp, &body).map_err(|e| e.to_string())?;
        let headers = [
            ("webhook-id", msg_id),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", signature),
        ];
        match self.webhooks.post(&endpoint.url, &headers, &body)? {
            200..=299 => Ok(()),
            status => Err(format!("endpoint answered {status}")),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn signature_matches_the_standard_webhooks_example() {
        // The example published with the Standard Webhooks specification.
        let sig = super::sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            r#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }
}

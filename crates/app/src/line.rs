//! The LINE Messaging API channel. Inbound: the webhook body is authenticated by
//! `X-Line-Signature` (base64 HMAC-SHA256 of the raw body with the channel secret, compared
//! in constant time) before anything is parsed or stored; each message event becomes a
//! customer message on the customer's open LINE ticket (the customer found or created by
//! their LINE user id; a new ticket when none is open), redeliveries are skipped by
//! `webhookEventId`, and other event types (follow, unfollow, postback, …) are accepted and
//! ignored. Outbound: replies and pushes are written to the outbox as [`SEND_JOB`] jobs in
//! the transaction that decided them and delivered through the [`LineSender`] port to the
//! channel's configurable API base URL. Message texts and user ids are never logged.

use crate::customers::{CustomerInput, resolve_or_create};
use crate::desk::{self, TicketInput};
use crate::{App, AppError, AppResult, Principal};
use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use domain::access::Role;
use domain::desk::TicketChannel;
use domain::{FieldError, IdentityKind};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use store::desk as rows;
use store::sql::Tx;

/// Job kind delivering one reply or push to LINE.
pub const SEND_JOB: &str = "line.send";
/// LINE's own API, unless the channel names another base URL.
pub const DEFAULT_API_BASE_URL: &str = "https://api.line.me";
/// Longest text of one LINE text message, in characters (LINE's limit).
pub const LINE_TEXT_CHARS_MAX: usize = 5000;
/// Messages per reply or push request (LINE's limit).
pub const LINE_MESSAGES_PER_REQUEST_MAX: usize = 5;
/// Events one webhook delivery may carry (LINE sends far fewer).
pub const LINE_EVENTS_PER_DELIVERY_MAX: usize = 100;
/// How long one send may take.
pub const LINE_SEND_TIMEOUT_SECONDS: u64 = 10;
/// Longest channel secret or access token, in bytes.
pub const LINE_CREDENTIAL_BYTES_MAX: usize = 512;

/// Sends one request to the LINE Messaging API: a JSON POST with the channel access token
/// as bearer. Returns the HTTP status, or an error text for a transport failure.
pub trait LineSender: Send + Sync {
    fn post(&self, url: &str, access_token: &str, body: &str) -> Result<u16, String>;
}

/// The real sender, over HTTPS.
#[derive(Debug)]
pub struct HttpLineSender {
    agent: ureq::Agent,
}

impl Default for HttpLineSender {
    fn default() -> Self {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(std::time::Duration::from_secs(
                LINE_SEND_TIMEOUT_SECONDS,
            )))
            .http_status_as_error(false)
            .build();
        HttpLineSender {
            agent: config.into(),
        }
    }
}

impl LineSender for HttpLineSender {
    fn post(&self, url: &str, access_token: &str, body: &str) -> Result<u16, String> {
        self.agent
            .post(url)
            .header("content-type", "application/json")
            .header("authorization", &format!("Bearer {access_token}"))
            .send(body)
            .map(|r| r.status().as_u16())
            .map_err(|e| e.to_string())
    }
}

/// `base64(HMAC-SHA256(secret, body))`, the value of `X-Line-Signature`.
pub fn signature(channel_secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(channel_secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    B64.encode(mac.finalize().into_bytes())
}

/// Whether `header` is the signature of `body` (constant-time comparison).
pub fn verify(channel_secret: &str, body: &[u8], header: &str) -> bool {
    let Ok(given) = B64.decode(header.trim()) else {
        return false;
    };
    let mut mac =
        Hmac::<Sha256>::new_from_slice(channel_secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

/// The LINE channel's settings as an admin stores them.
#[derive(Clone, PartialEq, Eq)]
pub struct LineChannelInput {
    pub channel_secret: String,
    pub access_token: String,
    /// `https://api.line.me` when absent; tests point it at a local server.
    pub api_base_url: Option<String>,
}

impl std::fmt::Debug for LineChannelInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineChannelInput")
            .field("api_base_url", &self.api_base_url)
            .finish_non_exhaustive()
    }
}

/// What the API shows of the channel: never the secret or the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineChannelView {
    pub api_base_url: String,
    pub updated_at: jiff::Timestamp,
}

/// What one webhook delivery did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookOutcome {
    /// Message events stored as customer messages.
    pub messages: usize,
    /// Tickets opened for them.
    pub tickets_opened: usize,
    /// Redeliveries of events already handled.
    pub duplicates: usize,
    /// Events of other types, accepted and ignored.
    pub ignored: usize,
}

fn credential(field: &str, value: &str) -> Result<String, FieldError> {
    let v = value.trim();
    if v.is_empty() || v.len() > LINE_CREDENTIAL_BYTES_MAX || v.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            format!("1 to {LINE_CREDENTIAL_BYTES_MAX} bytes, one line"),
        ));
    }
    Ok(v.to_owned())
}

fn base_url(value: Option<&str>) -> Result<String, FieldError> {
    let v = value
        .unwrap_or(DEFAULT_API_BASE_URL)
        .trim()
        .trim_end_matches('/');
    if !(v.starts_with("https://") || v.starts_with("http://")) || v.len() > 2048 {
        return Err(FieldError::new(
            "api_base_url",
            "an http(s) URL of at most 2048 bytes",
        ));
    }
    Ok(v.to_owned())
}

/// The principal LINE's webhook acts as in the ticket log and audit.
fn line_principal() -> Principal {
    Principal {
        key_id: None,
        role: Role::Integration,
        actor: "line".to_owned(),
    }
}

/// One message event, as much of it as the desk uses.
struct MessageEvent {
    event_id: String,
    user_id: String,
    reply_token: Option<String>,
    text: String,
}

/// The body of a customer message for a LINE message: the text, or what kind of message it
/// was (a sticker, an image: stored as a note of its kind and id, never lost).
fn message_text(message: &Value) -> String {
    let kind = message["type"].as_str().unwrap_or("unknown");
    match (kind, message["text"].as_str()) {
        ("text", Some(t)) if !t.trim().is_empty() => t.to_owned(),
        _ => format!(
            "[LINE {kind} message {}]",
            message["id"].as_str().unwrap_or("?")
        ),
    }
}

/// Parses a verified webhook body into its message events; other events are counted.
fn parse_events(body: &[u8]) -> Result<(Vec<MessageEvent>, usize), FieldError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|_| FieldError::new("body", "not a LINE webhook JSON body"))?;
    let events = value["events"]
        .as_array()
        .ok_or_else(|| FieldError::new("events", "must be an array"))?;
    if events.len() > LINE_EVENTS_PER_DELIVERY_MAX {
        return Err(FieldError::new(
            "events",
            format!("at most {LINE_EVENTS_PER_DELIVERY_MAX}"),
        ));
    }
    let mut messages = Vec::new();
    let mut ignored = 0;
    for (i, e) in events.iter().enumerate() {
        let user_id = e["source"]["userId"].as_str();
        match (e["type"].as_str(), user_id) {
            (Some("message"), Some(user_id)) => {
                let id = e["webhookEventId"]
                    .as_str()
                    .or_else(|| e["message"]["id"].as_str())
                    .ok_or_else(|| {
                        FieldError::new(format!("events[{i}].webhookEventId"), "missing")
                    })?;
                messages.push(MessageEvent {
                    event_id: id.to_owned(),
                    user_id: user_id.to_owned(),
                    reply_token: e["replyToken"].as_str().map(str::to_owned),
                    text: message_text(&e["message"]),
                });
            }
            _ => ignored += 1,
        }
    }
    Ok((messages, ignored))
}

/// Writes a send job for a message on a LINE ticket, when the channel is configured and the
/// customer has a LINE user id; otherwise the message stays in the log only.
pub(crate) fn enqueue_for_ticket(
    tx: &mut Tx<'_>,
    ticket: &rows::TicketRow,
    text: &str,
    reply_token: Option<&str>,
    now: jiff::Timestamp,
    attempts_max: i64,
) -> anyhow::Result<()> {
    let Some(customer_id) = ticket.customer_id else {
        return Ok(());
    };
    if rows::line_channel(tx)?.is_none() {
        return Ok(());
    }
    let Some(to) = rows::line_user_of(tx, customer_id)? else {
        return Ok(());
    };
    let payload = json!({
        "ticket_id": ticket.id,
        "to": to,
        "reply_token": reply_token,
        "text": text,
    })
    .to_string();
    let now_micros = now.as_microsecond();
    store::jobs::enqueue(
        tx,
        &store::jobs::NewJob {
            kind: SEND_JOB,
            payload: &payload,
            due_at_micros: now_micros,
            max_attempts: attempts_max,
            dedupe_key: None,
            now_micros,
        },
    )?;
    Ok(())
}

/// LINE text messages for a text: chunks of [`LINE_TEXT_CHARS_MAX`] characters.
fn text_messages(text: &str) -> Vec<Value> {
    let chars: Vec<char> = text.chars().collect();
    chars
        .chunks(LINE_TEXT_CHARS_MAX)
        .map(|c| json!({ "type": "text", "text": c.iter().collect::<String>() }))
        .collect()
}

impl App {
    /// Uses `sender` for LINE instead of the HTTPS sender (tests record what is sent).
    pub fn with_line_sender(mut self, sender: std::sync::Arc<dyn LineSender>) -> App {
        self.line = sender;
        self
    }

    /// Stores the LINE channel's secret, access token and API base URL.
    pub fn put_line_channel(
        &self,
        who: &Principal,
        input: &LineChannelInput,
    ) -> AppResult<LineChannelView> {
        let secret = credential("channel_secret", &input.channel_secret)?;
        let token = credential("access_token", &input.access_token)?;
        let url = base_url(input.api_base_url.as_deref())?;
        let now = self.now();
        self.store.write(|tx| {
            rows::put_line_channel(tx, &secret, &token, &url, now.as_microsecond())?;
            store::audit::insert(
                tx,
                now.as_microsecond(),
                &who.actor,
                "line_channel.put",
                None,
                None,
            )
        })?;
        Ok(LineChannelView {
            api_base_url: url,
            updated_at: now,
        })
    }

    /// Handles one webhook delivery. Refused with `InvalidSignature` — before anything is
    /// parsed or stored — when the channel is not configured, the signature header is
    /// missing, or it does not match the raw body.
    pub fn line_webhook(&self, signature: Option<&str>, body: &[u8]) -> AppResult<WebhookOutcome> {
        let channel = self
            .store
            .read(rows::line_channel)?
            .ok_or(AppError::InvalidSignature)?;
        let header = signature.ok_or(AppError::InvalidSignature)?;
        if !verify(&channel.channel_secret, body, header) {
            return Err(AppError::InvalidSignature);
        }
        let (events, ignored) = parse_events(body)?;
        let mut outcome = WebhookOutcome {
            ignored,
            ..WebhookOutcome::default()
        };
        let who = line_principal();
        let attempts_max = self.settings.job_attempts_max;
        let (model_version, classifier) = self.classifier()?;
        let with = desk::TriageContext {
            model_version,
            classifier: &classifier,
            settings: &self.settings,
        };
        for e in events {
            let now = self.now();
            let handled = self.store.write(|tx| {
                if !rows::insert_line_event(tx, &e.event_id, now.as_microsecond())? {
                    return Ok::<_, AppError>(None);
                }
                let valid = CustomerInput {
                    identities: vec![(IdentityKind::LineUserId, e.user_id.clone())],
                    ..CustomerInput::default()
                }
                .validate()
                .map_err(|err| err.within("source"))?;
                let (customer_id, _) = resolve_or_create(tx, &valid, now.as_microsecond())?;
                let existing =
                    rows::latest_unclosed_ticket(tx, customer_id, TicketChannel::Line.as_str())?;
                let input = TicketInput {
                    channel: TicketChannel::Line.as_str().to_owned(),
                    body: e.text.clone(),
                    ..TicketInput::default()
                };
                let (ticket_id, opened) = desk::customer_message_tx(
                    tx,
                    &who,
                    existing,
                    &input,
                    Some(customer_id),
                    now,
                    attempts_max,
                    e.reply_token.as_deref(),
                    &with,
                )?;
                rows::set_line_event_ticket(tx, &e.event_id, ticket_id)?;
                Ok(Some(opened))
            })?;
            match handled {
                None => outcome.duplicates += 1,
                Some(opened) => {
                    outcome.messages += 1;
                    outcome.tickets_opened += usize::from(opened);
                }
            }
        }
        tracing::info!(
            messages = outcome.messages,
            tickets_opened = outcome.tickets_opened,
            duplicates = outcome.duplicates,
            ignored = outcome.ignored,
            "LINE webhook handled"
        );
        Ok(outcome)
    }

    /// The job body of [`SEND_JOB`]: a reply when a reply token is given (falling back to a
    /// push when LINE refuses it, e.g. because it expired), else a push.
    pub fn run_line_send_job(&self, payload: &str) -> Result<(), String> {
        let value: Value =
            serde_json::from_str(payload).map_err(|e| format!("bad payload: {e}"))?;
        let to = value["to"].as_str().ok_or("payload names no recipient")?;
        let text = value["text"].as_str().ok_or("payload has no text")?;
        let channel = self
            .store
            .read(rows::line_channel)
            .map_err(|e| format!("{e:#}"))?
            .ok_or("the LINE channel is not configured")?;
        let messages = text_messages(text);
        let groups: Vec<&[Value]> = messages.chunks(LINE_MESSAGES_PER_REQUEST_MAX).collect();
        let mut reply_token = value["reply_token"].as_str().filter(|_| groups.len() == 1);
        for group in groups {
            if let Some(token) = reply_token.take() {
                let body = json!({ "replyToken": token, "messages": group }).to_string();
                let url = format!("{}/v2/bot/message/reply", channel.api_base_url);
                let status = self.line.post(&url, &channel.access_token, &body)?;
                if (200..300).contains(&status) {
                    continue;
                }
                tracing::info!(status, "LINE refused the reply token; pushing instead");
            }
            let body = json!({ "to": to, "messages": group }).to_string();
            let url = format!("{}/v2/bot/message/push", channel.api_base_url);
            let status = self.line.post(&url, &channel.access_token, &body)?;
            if !(200..300).contains(&status) {
                return Err(format!("LINE answered {status} to a push"));
            }
        }
        Ok(())
    }

    /// Whether the LINE channel is configured (never shows the secret or token).
    pub fn line_channel(&self) -> AppResult<Option<LineChannelView>> {
        Ok(self
            .store
            .read(rows::line_channel)
            .context("reading the LINE channel")?
            .map(|c| LineChannelView {
                api_base_url: c.api_base_url,
                updated_at: c.updated_at,
            }))
    }
}

#[cfg(test)]
mod tests {
    use super::parse_events;
    use crate::workload::Rng;

    /// A valid delivery: a text message, a sticker, a follow event and an unknown type.
    const DELIVERY: &str = r#"{"destination":"U0","events":[
        {"type":"message","mode":"active","timestamp":1767225600000,"webhookEventId":"01H",
         "replyToken":"r1","source":{"type":"user","userId":"U1234"},
         "message":{"id":"m1","type":"text","text":"包裹還沒到 😡"}},
        {"type":"message","replyToken":"r2","source":{"type":"user","userId":"U9"},
         "message":{"id":"m2","type":"sticker","packageId":"1","stickerId":"2"}},
        {"type":"follow","replyToken":"r3","source":{"type":"user","userId":"U9"}},
        {"type":"beacon","source":{"type":"group","groupId":"G1"}}]}"#;

    #[test]
    fn the_parser_never_panics_on_mutated_or_arbitrary_bodies() {
        let (events, _) = parse_events(DELIVERY.as_bytes()).expect("the sample parses");
        assert!(!events.is_empty());
        let mut rng = Rng::seeded(7);
        const BYTES: &[u8] = b"{}[]\":,0123456789-.eE tfnulraU\\\xe5\x8c\x85\xff";
        for round in 0..4_000 {
            let mut body = DELIVERY.as_bytes().to_vec();
            if round % 4 == 0 {
                let len = rng.below(200) as usize;
                body = (0..len).map(|_| *rng.pick(BYTES)).collect();
            } else {
                for _ in 0..=rng.below(6) {
                    let at = rng.below(body.len() as u64) as usize;
                    match rng.below(3) {
                        0 => body[at] = *rng.pick(BYTES),
                        1 => {
                            body.remove(at);
                        }
                        _ => body.insert(at, *rng.pick(BYTES)),
                    }
                }
            }
            // Any answer is fine; a panic is not.
            let _ = parse_events(&body);
        }
    }
}

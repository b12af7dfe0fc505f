//! The desk's e-mail routes: the inbound webhook a mail provider posts raw RFC 5322
//! messages to (`message/rfc822`, up to [`INBOUND_EMAIL_BYTES_MAX`]), the quarantine of
//! messages that could not be read (listed, and each downloadable raw), and a ticket's
//! attachments.

use crate::ApiState;
use crate::error::{ApiError, ErrorCode, Problem};
use crate::extract::{ApiPath, ApiQuery, blocking};
use crate::page::{self, PageQuery};
use app::email::InboundOutcome;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// Largest inbound message body the webhook accepts, in bytes (a larger one answers 413).
pub(crate) const INBOUND_EMAIL_BYTES_MAX: usize = domain::email::EMAIL_MESSAGE_BYTES_MAX;
const QUARANTINE_CURSOR: &str = "email_quarantine";

/// What became of a posted message.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct InboundEmailResponse {
    /// `ticket`, `duplicate`, `ignored` or `quarantined`.
    pub(crate) outcome: &'static str,
    pub(crate) ticket_id: Option<i64>,
    pub(crate) reference: Option<String>,
    /// Whether the message opened the ticket (else it was threaded onto it).
    pub(crate) opened: Option<bool>,
    /// Why it was ignored: `auto_submitted`, `precedence`, `auto_reply_header`,
    /// `mailing_list`, `bounce` or `own_message`.
    pub(crate) reason: Option<&'static str>,
    pub(crate) quarantine_id: Option<i64>,
    /// Why it could not be read.
    pub(crate) error: Option<String>,
}

fn is_rfc822(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("message/rfc822"))
}

/// Receives one raw e-mail. It becomes a message on a ticket (threaded by In-Reply-To /
/// References, then the reference in the subject, else a new ticket), a duplicate of a
/// Message-ID seen before, an ignored automatic message (RFC 3834 loop protection), or —
/// when it cannot be read — a quarantined raw message kept with the error.
#[utoipa::path(post, path = "/api/v1/desk/inbound/email", tag = "desk",
    request_body(content = String, content_type = "message/rfc822", description = "The raw RFC 5322 message"),
    responses(
        (status = 200, description = "Handled", body = InboundEmailResponse),
        (status = 413, description = "payload_too_large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "unsupported_media_type: the body must be message/rfc822", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn create_inbound_email(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<InboundEmailResponse>, ApiError> {
    if !is_rfc822(&headers) {
        return Err(ApiError::with_detail(
            ErrorCode::UnsupportedMediaType,
            "the body must be a raw message with Content-Type: message/rfc822",
        ));
    }
    let app = state.app.clone();
    let outcome = blocking(move || app.receive_email("webhook", &body)).await?;
    let mut r = InboundEmailResponse {
        outcome: "",
        ticket_id: None,
        reference: None,
        opened: None,
        reason: None,
        quarantine_id: None,
        error: None,
    };
    match outcome {
        InboundOutcome::Ticket {
            ticket_id,
            reference,
            opened,
            ..
        } => {
            r.outcome = "ticket";
            r.ticket_id = Some(ticket_id);
            r.reference = Some(reference);
            r.opened = Some(opened);
        }
        InboundOutcome::Duplicate { ticket_id } => {
            r.outcome = "duplicate";
            r.ticket_id = ticket_id;
        }
        InboundOutcome::Ignored { reason } => {
            r.outcome = "ignored";
            r.reason = Some(reason.as_str());
        }
        InboundOutcome::Quarantined {
            quarantine_id,
            error,
        } => {
            r.outcome = "quarantined";
            r.quarantine_id = Some(quarantine_id);
            r.error = Some(error);
        }
    }
    Ok(Json(r))
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct QuarantinedEmailResponse {
    pub(crate) id: i64,
    /// `webhook` or `imap`.
    pub(crate) source: String,
    pub(crate) error: String,
    pub(crate) size_bytes: i64,
    pub(crate) received_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct QuarantinePage {
    pub(crate) items: Vec<QuarantinedEmailResponse>,
    pub(crate) next_cursor: Option<String>,
}

/// Inbound messages that could not be read, oldest first, for a person to look at.
#[utoipa::path(get, path = "/api/v1/desk/inbound/email/quarantine", tag = "desk",
    params(PageQuery),
    responses((status = 200, description = "A page", body = QuarantinePage)))]
pub(crate) async fn list_quarantined_emails(
    State(state): State<ApiState>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<QuarantinePage>, ApiError> {
    let limit = query.limit()?;
    let [after] = query.position(QUARANTINE_CURSOR, [0])?;
    let app = state.app.clone();
    let mut items = blocking(move || app.quarantined_emails(after, limit.min(99) + 1)).await?;
    let more = items.len() as i64 > limit;
    items.truncate(limit as usize);
    let next_cursor = more
        .then(|| {
            items
                .last()
                .map(|q| page::encode(QUARANTINE_CURSOR, [q.id]))
        })
        .flatten();
    Ok(Json(QuarantinePage {
        items: items
            .into_iter()
            .map(|q| QuarantinedEmailResponse {
                id: q.id,
                source: q.source,
                error: q.error,
                size_bytes: q.size_bytes,
                received_at: q.received_at.to_string(),
            })
            .collect(),
        next_cursor,
    }))
}

/// The raw bytes of a quarantined message, as received.
#[utoipa::path(get, path = "/api/v1/desk/inbound/email/quarantine/{id}", tag = "desk",
    params(("id" = i64, Path, description = "The quarantine id")),
    responses((status = 200, description = "The raw message", content_type = "message/rfc822", body = String)))]
pub(crate) async fn get_quarantined_email(
    State(state): State<ApiState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    let app = state.app.clone();
    let raw = blocking(move || app.quarantined_email_raw(id)).await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("message/rfc822"),
        )],
        raw,
    )
        .into_response())
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AttachmentResponse {
    pub(crate) id: i64,
    pub(crate) filename: Option<String>,
    pub(crate) content_type: String,
    pub(crate) size_bytes: i64,
    /// False when the file was refused (over a size limit); `refused_reason` says why.
    pub(crate) stored: bool,
    pub(crate) refused_reason: Option<String>,
    pub(crate) created_at: String,
}

async fn ticket_id(state: &ApiState, text: String) -> Result<i64, ApiError> {
    let app = state.app.clone();
    blocking(move || app.find_ticket_id(&text)).await
}

/// A ticket's attachments (from its e-mails), refused ones included with their reason.
#[utoipa::path(get, path = "/api/v1/tickets/{id}/attachments", tag = "desk",
    params(("id" = String, Path, description = "The ticket id or its reference")),
    responses((status = 200, description = "In arrival order", body = [AttachmentResponse])))]
pub(crate) async fn list_ticket_attachments(
    State(state): State<ApiState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Vec<AttachmentResponse>>, ApiError> {
    let id = ticket_id(&state, id).await?;
    let app = state.app.clone();
    let items = blocking(move || app.ticket_attachments(id)).await?;
    Ok(Json(
        items
            .into_iter()
            .map(|a| AttachmentResponse {
                id: a.id,
                filename: a.filename,
                content_type: a.content_type,
                size_bytes: a.size_bytes,
                stored: a.stored,
                refused_reason: a.refused_reason,
                created_at: a.created_at.to_string(),
            })
            .collect(),
    ))
}

/// Downloads one stored attachment (404 for a refused one: its bytes were not kept).
#[utoipa::path(get, path = "/api/v1/tickets/{id}/attachments/{attachment_id}", tag = "desk",
    params(
        ("id" = String, Path, description = "The ticket id or its reference"),
        ("attachment_id" = i64, Path, description = "The attachment id"),
    ),
    responses((status = 200, description = "The file", content_type = "application/octet-stream", body = String)))]
pub(crate) async fn get_ticket_attachment(
    State(state): State<ApiState>,
    ApiPath((id, attachment_id)): ApiPath<(String, i64)>,
) -> Result<Response, ApiError> {
    let id = ticket_id(&state, id).await?;
    let app = state.app.clone();
    let (view, data) = blocking(move || app.ticket_attachment(id, attachment_id)).await?;
    // The stored type is the sender's claim: served only as a download, never rendered.
    let filename: String = view
        .filename
        .as_deref()
        .unwrap_or("attachment")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        data,
    )
        .into_response())
}

//! The service desk over HTTP: open tickets, the queue (filtered, cursor-paginated), one
//! ticket with its log and live SLA clocks, messages, notes, status and assignment; business
//! calendars (read, replace — validated, errors naming the entry); the ordered SLA policies;
//! and the SLA preview (a calendar, a start, a target, pauses and a warning lead → the
//! deadline and the warning instant).

use crate::ApiState;
use crate::customers::CustomerRefBody;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Caller, blocking};
use crate::page::{self, PageQuery};
use app::desk::documents::{
    Basis, CalendarDoc, ConditionDoc, ExceptionDoc, FrameDoc, PolicyDoc, TargetDoc, WarningDoc,
    WeeklyDoc,
};
use app::desk::{
    ClockView, MessageInput, PreviewInput, TicketEventView, TicketInput, TicketQuery,
    TicketSummary, TicketView,
};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use domain::access::Role;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

fn rfc3339(t: Timestamp) -> String {
    t.to_string()
}

/// `POST /tickets`: a ticket with its first message.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TicketBody {
    /// `email`, `line`, `web`, `api`, `phone`, `in_store` or `social`.
    pub(crate) channel: String,
    pub(crate) subject: Option<String>,
    /// The first message (at most 64 KiB): the customer's words, or the agent's when
    /// `opened_by` is `agent`.
    pub(crate) body: String,
    /// The customer: `{"id": …}` or identities (found, or created).
    pub(crate) customer: Option<CustomerRefBody>,
    /// The order the ticket is about (the id `POST /orders` answered).
    pub(crate) order_id: Option<i64>,
    /// `low`, `normal` (default), `high` or `urgent`.
    pub(crate) priority: Option<String>,
    /// A category code, e.g. `logistics_delay`.
    pub(crate) category: Option<String>,
    /// `customer` (default; also for calls and counter complaints logged by staff) or `agent`.
    pub(crate) opened_by: Option<String>,
    pub(crate) assignee: Option<String>,
    /// The team the ticket starts with (default: the first team listing its category).
    pub(crate) team: Option<String>,
}

/// One entry of a ticket's log.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TicketEventResponse {
    pub(crate) id: i64,
    /// RFC 3339, UTC.
    pub(crate) at: String,
    /// `opened`, `message`, `note`, `follow_up`, `status`, `assigned`, `priority`,
    /// `category`, `sla`, `merged_into`, `merged_from`, `split_to`, `split_from`,
    /// `classified`, `tagged`, `untagged`, `handed_off`.
    pub(crate) kind: String,
    /// Who recorded it: `key:<prefix>`, `cli` or `system`.
    pub(crate) actor: String,
    /// For messages and notes: `customer`, `agent`, `ai` or `system`.
    pub(crate) from: Option<String>,
    pub(crate) ack_only: bool,
    pub(crate) body: Option<String>,
    /// The new status, assignee, priority, category, tag or team, or the channel at
    /// opening; for `classified`, what triage found (`category=… confidence=… sentiment=… urgency=…
    /// intent=… priority=… model=…`).
    pub(crate) value: Option<String>,
    /// The status before a change; the team before a hand-off; who opened the ticket at
    /// opening.
    pub(crate) previous: Option<String>,
    pub(crate) other_ticket_id: Option<i64>,
    /// For `sla` entries: the clock, its instance and `warn` or `breach`.
    pub(crate) clock: Option<String>,
    pub(crate) instance: Option<i64>,
    pub(crate) action: Option<String>,
    /// For messages: the files it carried, in order (empty for other entries).
    pub(crate) attachments: Vec<MessageAttachmentResponse>,
}

/// One file a message carried; its bytes are at `GET /tickets/{id}/attachments/{attachment_id}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MessageAttachmentResponse {
    pub(crate) attachment_id: i64,
    pub(crate) filename: Option<String>,
    pub(crate) content_type: String,
    pub(crate) size_bytes: i64,
    /// Why an inbound file was refused (its bytes were not kept); `null` when stored.
    pub(crate) refused_reason: Option<String>,
}

impl From<TicketEventView> for TicketEventResponse {
    fn from(e: TicketEventView) -> Self {
        TicketEventResponse {
            id: e.id,
            at: rfc3339(e.at),
            kind: e.kind,
            actor: e.actor,
            from: e.from,
            ack_only: e.ack_only,
            body: e.body,
            value: e.value,
            previous: e.previous,
            other_ticket_id: e.other_ticket_id,
            clock: e.clock,
            instance: e.instance,
            action: e.action,
            attachments: e
                .attachments
                .into_iter()
                .map(|a| MessageAttachmentResponse {
                    attachment_id: a.attachment_id,
                    filename: a.filename,
                    content_type: a.content_type,
                    size_bytes: a.size_bytes,
                    refused_reason: a.refused_reason,
                })
                .collect(),
        }
    }
}

/// One SLA clock instance, as of the request.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ClockResponse {
    /// `ack`, `first_response`, `next_response`, `periodic_update`, `resolution`,
    /// `same_day`, `follow_up`.
    pub(crate) clock: String,
    pub(crate) instance: u32,
    /// `running`, `paused`, `fulfilled`, `breached` or `cancelled`.
    pub(crate) state: String,
    pub(crate) target: String,
    pub(crate) started_at: String,
    /// `null` only while paused before the deadline is known.
    pub(crate) due_at: Option<String>,
    pub(crate) warn_at: Option<String>,
    pub(crate) breached_at: Option<String>,
    pub(crate) fulfilled_at: Option<String>,
    pub(crate) cancelled_at: Option<String>,
    pub(crate) paused_since: Option<String>,
    /// Counted time so far (business or calendar per target), pauses excluded.
    pub(crate) elapsed_seconds: i64,
    /// Target minus elapsed; negative when late.
    pub(crate) margin_seconds: Option<i64>,
}

impl From<ClockView> for ClockResponse {
    fn from(c: ClockView) -> Self {
        ClockResponse {
            clock: c.clock.as_str().to_owned(),
            instance: c.instance,
            state: c.state.to_owned(),
            target: c.target,
            started_at: rfc3339(c.started_at),
            due_at: c.due_at.map(rfc3339),
            warn_at: c.warn_at.map(rfc3339),
            breached_at: c.breached_at.map(rfc3339),
            fulfilled_at: c.fulfilled_at.map(rfc3339),
            cancelled_at: c.cancelled_at.map(rfc3339),
            paused_since: c.paused_since.map(rfc3339),
            elapsed_seconds: c.elapsed_seconds,
            margin_seconds: c.margin_seconds,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SlaResponse {
    /// The policy that applies (first match, or the channel's default).
    pub(crate) policy: String,
    pub(crate) calendar_id: i64,
    pub(crate) clocks: Vec<ClockResponse>,
}

/// A ticket in the queue.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TicketSummaryResponse {
    pub(crate) id: i64,
    /// `T-<year>-<id, six digits or more>`, e.g. `T-2026-000123`.
    pub(crate) reference: String,
    pub(crate) channel: String,
    pub(crate) status: String,
    pub(crate) priority: String,
    pub(crate) category: Option<String>,
    pub(crate) subject: Option<String>,
    pub(crate) customer_id: Option<i64>,
    pub(crate) order_id: Option<i64>,
    pub(crate) assignee: Option<String>,
    pub(crate) opened_by: String,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
    /// The earliest deadline of a running clock.
    pub(crate) sla_next_due_at: Option<String>,
    /// Whether any clock of the ticket has breached (persisted).
    pub(crate) sla_breached: bool,
    /// The team the ticket is with (`null`: the general queue).
    pub(crate) team: Option<String>,
    /// Its tags, sorted.
    pub(crate) tags: Vec<String>,
}

impl From<TicketSummary> for TicketSummaryResponse {
    fn from(t: TicketSummary) -> Self {
        TicketSummaryResponse {
            id: t.id,
            reference: t.reference,
            channel: t.channel,
            status: t.status,
            priority: t.priority,
            category: t.category,
            subject: t.subject,
            customer_id: t.customer_id,
            order_id: t.order_id,
            assignee: t.assignee,
            opened_by: t.opened_by,
            created_at: rfc3339(t.created_at),
            updated_at: rfc3339(t.updated_at),
            sla_next_due_at: t.sla_next_due_at.map(rfc3339),
            sla_breached: t.sla_breached,
            team: t.team,
            tags: t.tags,
        }
    }
}

/// A ticket with its log and clocks.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TicketResponse {
    pub(crate) ticket: TicketSummaryResponse,
    /// The log, oldest first.
    pub(crate) events: Vec<TicketEventResponse>,
    /// `null` when the clocks cannot be computed (see `sla_error`).
    pub(crate) sla: Option<SlaResponse>,
    pub(crate) sla_error: Option<String>,
}

impl From<TicketView> for TicketResponse {
    fn from(v: TicketView) -> Self {
        TicketResponse {
            ticket: v.ticket.into(),
            events: v.events.into_iter().map(Into::into).collect(),
            sla: v.sla.map(|s| SlaResponse {
                policy: s.policy,
                calendar_id: s.calendar_id,
                clocks: s.clocks.into_iter().map(Into::into).collect(),
            }),
            sla_error: v.sla_error,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TicketPage {
    pub(crate) items: Vec<TicketSummaryResponse>,
    pub(crate) next_cursor: Option<String>,
}

/// The queue's filters and page.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct TicketListQuery {
    /// Statuses, comma-separated (e.g. `new,open`).
    pub(crate) status: Option<String>,
    /// An assignee handle, or `none` for unassigned tickets.
    pub(crate) assignee: Option<String>,
    pub(crate) customer_id: Option<i64>,
    /// Only tickets carrying this tag.
    pub(crate) tag: Option<String>,
    /// A team's name, or `none` for tickets of no team.
    pub(crate) team: Option<String>,
    /// Items per page, 1 to 100 (default 50).
    pub(crate) limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub(crate) cursor: Option<String>,
}

/// `POST /tickets/{id}/messages`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MessageBody {
    /// `customer`, `agent`, `ai` or `system` (default: `customer` for integration keys,
    /// `agent` otherwise).
    pub(crate) from: Option<String>,
    pub(crate) body: String,
    /// An automatic acknowledgement: fulfils `ack`, never `first_response`.
    #[serde(default)]
    pub(crate) ack_only: bool,
    /// Stored attachments of this ticket (`GET /tickets/{id}/attachments`) to send with an
    /// agent's message on an e-mail ticket: at most 20 files and 10 MiB.
    #[serde(default)]
    pub(crate) attachment_ids: Vec<i64>,
}

/// `POST /tickets/{id}/notes`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NoteBody {
    pub(crate) body: String,
}

/// `POST /tickets/{id}/status`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatusBody {
    /// `open`, `waiting_on_customer`, `waiting_on_third_party`, `solved` or `closed`.
    pub(crate) status: String,
}

/// `POST /tickets/{id}/assignment`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AssignmentBody {
    /// An agent handle, or `null` to unassign.
    pub(crate) assignee: Option<String>,
}

const TICKET_CURSOR: &str = "tickets";

pub(crate) async fn ticket_id(state: &ApiState, text: String) -> Result<i64, ApiError> {
    let app = state.app.clone();
    blocking(move || app.find_ticket_id(&text)).await
}

/// Opens a ticket with its first message; its SLA clocks start now.
#[utoipa::path(post, path = "/api/v1/tickets", tag = "desk",
    request_body = TicketBody,
    responses(
        (status = 201, description = "Opened", body = TicketResponse),
        (status = 422, description = "invalid_field, unknown_customer or unknown_order", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn create_ticket(
    State(state): State<ApiState>,
    Caller(who): Caller,
    ApiJson(body): ApiJson<TicketBody>,
) -> Result<(StatusCode, Json<TicketResponse>), ApiError> {
    let input = TicketInput {
        channel: body.channel,
        subject: body.subject,
        body: body.body,
        customer: body
            .customer
            .as_ref()
            .map(|c| c.reference("customer"))
            .transpose()?,
        order_id: body.order_id,
        priority: body.priority,
        category: body.category,
        opened_by: body.opened_by,
        assignee: body.assignee,
        team: body.team,
    };
    let app = state.app.clone();
    let view = blocking(move || app.open_ticket(&who, &input)).await?;
    Ok((StatusCode::CREATED, Json(view.into())))
}

/// The queue: tickets in id order (oldest first), filtered by status, assignee, customer,
/// tag and team.
#[utoipa::path(get, path = "/api/v1/tickets", tag = "desk",
    params(TicketListQuery),
    responses((status = 200, description = "A page of tickets", body = TicketPage)))]
pub(crate) async fn list_tickets(
    State(state): State<ApiState>,
    ApiQuery(query): ApiQuery<TicketListQuery>,
) -> Result<Json<TicketPage>, ApiError> {
    let paging = PageQuery {
        limit: query.limit,
        cursor: query.cursor.clone(),
    };
    let limit = paging.limit()?;
    let [after] = paging.position(TICKET_CURSOR, [0])?;
    let filter = TicketQuery {
        statuses: query
            .status
            .as_deref()
            .map(|s| {
                s.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        assignee: query.assignee.clone(),
        customer_id: query.customer_id,
        tag: query.tag.clone(),
        team: query.team.clone(),
    };
    let app = state.app.clone();
    let mut items = blocking(move || app.tickets(&filter, after, limit + 1)).await?;
    let more = items.len() as i64 > limit;
    items.truncate(limit as usize);
    let next_cursor = more
        .then(|| items.last().map(|t| page::encode(TICKET_CURSOR, [t.id])))
        .flatten();
    Ok(Json(TicketPage {
        items: items.into_iter().map(Into::into).collect(),
        next_cursor,
    }))
}

/// One ticket with its log and SLA clocks (due_at, warn_at, breached_at per clock).
#[utoipa::path(get, path = "/api/v1/tickets/{id}", tag = "desk",
    params(("id" = String, Path, description = "The ticket id or its reference (T-2026-000123)")),
    responses((status = 200, description = "The ticket", body = TicketResponse)))]
pub(crate) async fn get_ticket(
    State(state): State<ApiState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<TicketResponse>, ApiError> {
    let id = ticket_id(&state, id).await?;
    let app = state.app.clone();
    Ok(Json(blocking(move || app.ticket(id)).await?.into()))
}

/// Adds a public message. A customer's message reopens a solved or closed ticket; an
/// agent's message on a closed ticket answers 409 `ticket_closed`.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/messages", tag = "desk",
    params(("id" = String, Path, description = "The ticket id or its reference")),
    request_body = MessageBody,
    responses(
        (status = 201, description = "Added", body = TicketResponse),
        (status = 409, description = "ticket_closed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid_field, e.g. an attachment that is not a stored one of this ticket", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn create_ticket_message(
    State(state): State<ApiState>,
    Caller(who): Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<MessageBody>,
) -> Result<(StatusCode, Json<TicketResponse>), ApiError> {
    let from = body.from.unwrap_or_else(|| {
        if who.role == Role::Integration {
            "customer"
        } else {
            "agent"
        }
        .to_owned()
    });
    let input = MessageInput {
        from,
        body: body.body,
        ack_only: body.ack_only,
    };
    let id = ticket_id(&state, id).await?;
    let app = state.app.clone();
    let view =
        blocking(move || app.add_message_with_attachments(&who, id, &input, &body.attachment_ids))
            .await?;
    Ok((StatusCode::CREATED, Json(view.into())))
}

/// Adds an internal note.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/notes", tag = "desk",
    params(("id" = String, Path, description = "The ticket id or its reference")),
    request_body = NoteBody,
    responses((status = 201, description = "Added", body = TicketResponse)))]
pub(crate) async fn create_ticket_note(
    State(state): State<ApiState>,
    Caller(who): Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<NoteBody>,
) -> Result<(StatusCode, Json<TicketResponse>), ApiError> {
    let id = ticket_id(&state, id).await?;
    let app = state.app.clone();
    let view = blocking(move || app.add_note(&who, id, &body.body)).await?;
    Ok((StatusCode::CREATED, Json(view.into())))
}

/// Changes the status (pausing or resuming clocks per the policy's pause flags).
#[utoipa::path(post, path = "/api/v1/tickets/{id}/status", tag = "desk",
    params(("id" = String, Path, description = "The ticket id or its reference")),
    request_body = StatusBody,
    responses(
        (status = 200, description = "Changed (or already in that status)", body = TicketResponse),
        (status = 422, description = "invalid_status_change", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn create_ticket_status_change(
    State(state): State<ApiState>,
    Caller(who): Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<StatusBody>,
) -> Result<Json<TicketResponse>, ApiError> {
    let id = ticket_id(&state, id).await?;
    let app = state.app.clone();
    let view = blocking(move || app.change_status(&who, id, &body.status)).await?;
    Ok(Json(view.into()))
}

/// Assigns the ticket to an agent, or unassigns it.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/assignment", tag = "desk",
    params(("id" = String, Path, description = "The ticket id or its reference")),
    request_body = AssignmentBody,
    responses((status = 200, description = "Assigned", body = TicketResponse)))]
pub(crate) async fn create_ticket_assignment(
    State(state): State<ApiState>,
    Caller(who): Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<AssignmentBody>,
) -> Result<Json<TicketResponse>, ApiError> {
    let id = ticket_id(&state, id).await?;
    let app = state.app.clone();
    let view = blocking(move || app.assign_ticket(&who, id, body.assignee.as_deref())).await?;
    Ok(Json(view.into()))
}

/// `{"start": "09:00", "end": "12:00"}`; `24:00` is a valid end.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FrameBody {
    pub(crate) start: String,
    pub(crate) end: String,
}

/// Open frames per weekday (several per day: a lunch break is a gap); a missing day is closed.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WeeklyBody {
    #[serde(default)]
    pub(crate) mon: Vec<FrameBody>,
    #[serde(default)]
    pub(crate) tue: Vec<FrameBody>,
    #[serde(default)]
    pub(crate) wed: Vec<FrameBody>,
    #[serde(default)]
    pub(crate) thu: Vec<FrameBody>,
    #[serde(default)]
    pub(crate) fri: Vec<FrameBody>,
    #[serde(default)]
    pub(crate) sat: Vec<FrameBody>,
    #[serde(default)]
    pub(crate) sun: Vec<FrameBody>,
}

/// A dated exception: `close` (a holiday; a typhoon closure `14:00–24:00`) or `open`
/// (a 補班 make-up workday). A `close` without frames closes the whole day.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExceptionBody {
    /// `YYYY-MM-DD`, local.
    pub(crate) date: String,
    /// `close` or `open`.
    pub(crate) change: String,
    #[serde(default)]
    pub(crate) frames: Vec<FrameBody>,
    #[serde(default)]
    pub(crate) label: String,
    /// Default true; inactive entries change nothing.
    #[serde(default = "yes")]
    pub(crate) active: bool,
}

fn yes() -> bool {
    true
}

/// A business calendar: the document `GET`/`PUT /calendars/{id}`, the SLA preview and
/// `patron sla preview --calendar FILE` take.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CalendarBody {
    #[serde(default)]
    pub(crate) name: String,
    /// IANA zone, e.g. `Asia/Taipei`, `Asia/Hong_Kong`.
    pub(crate) zone: String,
    pub(crate) weekly: WeeklyBody,
    #[serde(default)]
    pub(crate) exceptions: Vec<ExceptionBody>,
}

fn frames_in(v: Vec<FrameBody>) -> Vec<FrameDoc> {
    v.into_iter()
        .map(|FrameBody { start, end }| FrameDoc { start, end })
        .collect()
}

fn frames_out(v: Vec<FrameDoc>) -> Vec<FrameBody> {
    v.into_iter()
        .map(|FrameDoc { start, end }| FrameBody { start, end })
        .collect()
}

impl From<CalendarBody> for CalendarDoc {
    fn from(b: CalendarBody) -> Self {
        let CalendarBody {
            name,
            zone,
            weekly:
                WeeklyBody {
                    mon,
                    tue,
                    wed,
                    thu,
                    fri,
                    sat,
                    sun,
                },
            exceptions,
        } = b;
        CalendarDoc {
            name,
            zone,
            weekly: WeeklyDoc {
                mon: frames_in(mon),
                tue: frames_in(tue),
                wed: frames_in(wed),
                thu: frames_in(thu),
                fri: frames_in(fri),
                sat: frames_in(sat),
                sun: frames_in(sun),
            },
            exceptions: exceptions
                .into_iter()
                .map(
                    |ExceptionBody {
                         date,
                         change,
                         frames,
                         label,
                         active,
                     }| ExceptionDoc {
                        date,
                        change,
                        frames: frames_in(frames),
                        label,
                        active,
                    },
                )
                .collect(),
        }
    }
}

impl From<CalendarDoc> for CalendarBody {
    fn from(d: CalendarDoc) -> Self {
        let CalendarDoc {
            name,
            zone,
            weekly:
                WeeklyDoc {
                    mon,
                    tue,
                    wed,
                    thu,
                    fri,
                    sat,
                    sun,
                },
            exceptions,
        } = d;
        CalendarBody {
            name,
            zone,
            weekly: WeeklyBody {
                mon: frames_out(mon),
                tue: frames_out(tue),
                wed: frames_out(wed),
                thu: frames_out(thu),
                fri: frames_out(fri),
                sat: frames_out(sat),
                sun: frames_out(sun),
            },
            exceptions: exceptions
                .into_iter()
                .map(
                    |ExceptionDoc {
                         date,
                         change,
                         frames,
                         label,
                         active,
                     }| ExceptionBody {
                        date,
                        change,
                        frames: frames_out(frames),
                        label,
                        active,
                    },
                )
                .collect(),
        }
    }
}

/// A stored calendar (or the built-in default, version 0).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CalendarResponse {
    pub(crate) id: i64,
    /// 0 for calendar 1 before it is stored (the Taiwan preset).
    pub(crate) version: i64,
    pub(crate) updated_at: Option<String>,
    pub(crate) calendar: CalendarBody,
}

fn calendar_response(v: app::desk::CalendarView) -> CalendarResponse {
    CalendarResponse {
        id: v.id,
        version: v.version,
        updated_at: v.updated_at.map(rfc3339),
        calendar: v.doc.into(),
    }
}

/// A calendar. Calendar 1 is the desk's default: the Taiwan 2026 preset until replaced.
#[utoipa::path(get, path = "/api/v1/calendars/{id}", tag = "desk",
    params(("id" = i64, Path, description = "Calendar id")),
    responses((status = 200, description = "The calendar", body = CalendarResponse)))]
pub(crate) async fn get_calendar(
    State(state): State<ApiState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<CalendarResponse>, ApiError> {
    let app = state.app.clone();
    Ok(Json(calendar_response(
        blocking(move || app.calendar(id)).await?,
    )))
}

/// Creates or replaces a calendar. Overlapping frames, an end before its start, an unknown
/// zone or a bad date answer 422 naming the entry (`weekly.mon`, `exceptions[3].frames[0]`).
/// Open tickets are re-evaluated in the background.
#[utoipa::path(put, path = "/api/v1/calendars/{id}", tag = "desk",
    params(("id" = i64, Path, description = "Calendar id")),
    request_body = CalendarBody,
    responses(
        (status = 200, description = "Stored", body = CalendarResponse),
        (status = 422, description = "invalid_field naming the entry", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn replace_calendar(
    State(state): State<ApiState>,
    Caller(who): Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<CalendarBody>,
) -> Result<Json<CalendarResponse>, ApiError> {
    let doc = CalendarDoc::from(body);
    let app = state.app.clone();
    Ok(Json(calendar_response(
        blocking(move || app.put_calendar(&who, id, &doc)).await?,
    )))
}

/// A pause in a preview.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PauseBody {
    pub(crate) start: String,
    pub(crate) end: String,
}

/// `POST /sla/preview`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PreviewBody {
    /// The calendar to count on; default: the stored calendar `calendar_id`.
    pub(crate) calendar: Option<CalendarBody>,
    /// Default 1.
    pub(crate) calendar_id: Option<i64>,
    /// RFC 3339 with an offset.
    pub(crate) start: String,
    /// `4h`, `240m`, `1h30m`, `same_day` or `follow_up`.
    pub(crate) target: String,
    /// `business` (default) or `calendar`, for duration targets.
    pub(crate) basis: Option<String>,
    #[serde(default)]
    pub(crate) pauses: Vec<PauseBody>,
    /// e.g. `15m`; no warning when absent.
    pub(crate) warning_lead: Option<String>,
    #[serde(default)]
    pub(crate) warn_outside_open_hours: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PreviewResponse {
    /// RFC 3339, UTC.
    pub(crate) deadline: String,
    /// The deadline in the calendar's zone.
    pub(crate) deadline_local: String,
    pub(crate) warning_at: Option<String>,
    pub(crate) warning_at_local: Option<String>,
    pub(crate) zone: String,
}

/// The local form of an instant in `zone`, RFC 3339 with the zone's offset.
pub(crate) fn local(t: Timestamp, zone: &str) -> String {
    match jiff::tz::TimeZone::get(zone) {
        Ok(tz) => t.display_with_offset(tz.to_offset(t)).to_string(),
        Err(_) => t.to_string(),
    }
}

/// When a target started at `start` is due on a calendar, and when its warning fires.
#[utoipa::path(post, path = "/api/v1/sla/preview", tag = "desk",
    request_body = PreviewBody,
    responses(
        (status = 200, description = "The deadline and warning instant", body = PreviewResponse),
        (status = 422, description = "invalid_field", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn create_sla_preview(
    State(state): State<ApiState>,
    ApiJson(body): ApiJson<PreviewBody>,
) -> Result<Json<PreviewResponse>, ApiError> {
    let basis = match body.basis.as_deref() {
        None | Some("business") => Basis::Business,
        Some("calendar") => Basis::Calendar,
        Some(_) => return Err(ApiError::field("basis", "must be business or calendar")),
    };
    let app = state.app.clone();
    let answer = blocking(move || {
        let calendar = match body.calendar {
            Some(c) => c.into(),
            None => {
                app.calendar(body.calendar_id.unwrap_or(app::desk::DEFAULT_CALENDAR_ID))?
                    .doc
            }
        };
        let input = PreviewInput {
            calendar,
            start: body.start,
            target: body.target,
            basis,
            pauses: body.pauses.into_iter().map(|p| (p.start, p.end)).collect(),
            warning_lead: body.warning_lead,
            warn_outside_open_hours: body.warn_outside_open_hours,
        };
        Ok(app::desk::sla_preview(&input)?)
    })
    .await?;
    Ok(Json(PreviewResponse {
        deadline: rfc3339(answer.deadline),
        deadline_local: local(answer.deadline, &answer.zone),
        warning_at: answer.warning_at.map(rfc3339),
        warning_at_local: answer.warning_at.map(|w| local(w, &answer.zone)),
        zone: answer.zone,
    }))
}

/// One clock's target: `{"business": "4h"}`, `{"calendar": "24h"}` or
/// `{"end_of_business_day": 0}`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum TargetBody {
    Business(String),
    Calendar(String),
    EndOfBusinessDay(u16),
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConditionBody {
    /// `im`, `email`, `phone`, `in_store`, `other`.
    #[serde(default)]
    pub(crate) channels: Vec<String>,
    #[serde(default)]
    pub(crate) priorities: Vec<String>,
    #[serde(default)]
    pub(crate) tiers: Vec<String>,
    #[serde(default)]
    pub(crate) categories: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WarningBody {
    pub(crate) lead: String,
    #[serde(default)]
    pub(crate) outside_open_hours: bool,
}

/// An SLA policy; the list is ordered and the first match applies.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PolicyBody {
    pub(crate) name: String,
    #[serde(default = "one")]
    pub(crate) calendar_id: i64,
    #[serde(default)]
    pub(crate) when: ConditionBody,
    /// Targets by clock name.
    pub(crate) targets: BTreeMap<String, TargetBody>,
    /// Pausing statuses by clock name.
    #[serde(default)]
    pub(crate) pauses: BTreeMap<String, Vec<String>>,
    pub(crate) warning: Option<WarningBody>,
    #[serde(default)]
    pub(crate) ai_replies_count: bool,
    #[serde(default)]
    pub(crate) notes_count_as_update: bool,
    /// `first_solve` (default) or `total`.
    pub(crate) resolution_mode: Option<String>,
}

fn one() -> i64 {
    1
}

impl From<PolicyBody> for PolicyDoc {
    fn from(b: PolicyBody) -> Self {
        let PolicyBody {
            name,
            calendar_id,
            when,
            targets,
            pauses,
            warning,
            ai_replies_count,
            notes_count_as_update,
            resolution_mode,
        } = b;
        PolicyDoc {
            name,
            calendar_id,
            when: ConditionDoc {
                channels: when.channels,
                priorities: when.priorities,
                tiers: when.tiers,
                categories: when.categories,
            },
            targets: targets
                .into_iter()
                .map(|(k, t)| {
                    let t = match t {
                        TargetBody::Business(s) => TargetDoc::Business(s),
                        TargetBody::Calendar(s) => TargetDoc::Calendar(s),
                        TargetBody::EndOfBusinessDay(d) => TargetDoc::EndOfBusinessDay(d),
                    };
                    (k, t)
                })
                .collect(),
            pauses,
            warning: warning.map(|w| WarningDoc {
                lead: w.lead,
                outside_open_hours: w.outside_open_hours,
            }),
            ai_replies_count,
            notes_count_as_update,
            resolution_mode,
        }
    }
}

impl From<PolicyDoc> for PolicyBody {
    fn from(d: PolicyDoc) -> Self {
        let PolicyDoc {
            name,
            calendar_id,
            when,
            targets,
            pauses,
            warning,
            ai_replies_count,
            notes_count_as_update,
            resolution_mode,
        } = d;
        PolicyBody {
            name,
            calendar_id,
            when: ConditionBody {
                channels: when.channels,
                priorities: when.priorities,
                tiers: when.tiers,
                categories: when.categories,
            },
            targets: targets
                .into_iter()
                .map(|(k, t)| {
                    let t = match t {
                        TargetDoc::Business(s) => TargetBody::Business(s),
                        TargetDoc::Calendar(s) => TargetBody::Calendar(s),
                        TargetDoc::EndOfBusinessDay(d) => TargetBody::EndOfBusinessDay(d),
                    };
                    (k, t)
                })
                .collect(),
            pauses,
            warning: warning.map(|w| WarningBody {
                lead: w.lead,
                outside_open_hours: w.outside_open_hours,
            }),
            ai_replies_count,
            notes_count_as_update,
            resolution_mode,
        }
    }
}

/// The ordered SLA policy list.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PolicyList {
    /// First match wins; a ticket no policy matches gets its channel's default targets.
    pub(crate) policies: Vec<PolicyBody>,
}

/// The ordered SLA policies (empty: the built-in defaults per channel apply).
#[utoipa::path(get, path = "/api/v1/sla/policies", tag = "desk",
    responses((status = 200, description = "The policies in order", body = PolicyList)))]
pub(crate) async fn list_sla_policies(
    State(state): State<ApiState>,
) -> Result<Json<PolicyList>, ApiError> {
    let app = state.app.clone();
    let docs = blocking(move || app.sla_policies()).await?;
    Ok(Json(PolicyList {
        policies: docs.into_iter().map(Into::into).collect(),
    }))
}

/// Replaces the ordered SLA policies; open tickets are re-evaluated in the background.
#[utoipa::path(put, path = "/api/v1/sla/policies", tag = "desk",
    request_body = PolicyList,
    responses(
        (status = 200, description = "Stored", body = PolicyList),
        (status = 422, description = "invalid_field naming the policy and entry", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn replace_sla_policies(
    State(state): State<ApiState>,
    Caller(who): Caller,
    ApiJson(body): ApiJson<PolicyList>,
) -> Result<Json<PolicyList>, ApiError> {
    let docs: Vec<PolicyDoc> = body.policies.into_iter().map(Into::into).collect();
    let app = state.app.clone();
    let stored = blocking(move || {
        app.put_sla_policies(&who, &docs)?;
        app.sla_policies()
    })
    .await?;
    Ok(Json(PolicyList {
        policies: stored.into_iter().map(Into::into).collect(),
    }))
}

/// A reply template.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TemplateResponse {
    /// `ack`, `faq`, `order_status`, `product_defect`, `service_attitude`,
    /// `logistics_delay`, or a shop's own key.
    pub(crate) key: String,
    /// `zh-TW`, `zh-HK` or `en`.
    pub(crate) locale: String,
    pub(crate) body: String,
    /// 0 for a built-in default never stored.
    pub(crate) version: i64,
    /// The variables it uses.
    pub(crate) variables: Vec<String>,
}

impl From<app::desk::replies::TemplateView> for TemplateResponse {
    fn from(t: app::desk::replies::TemplateView) -> Self {
        TemplateResponse {
            key: t.key,
            locale: t.locale,
            body: t.body,
            version: t.version,
            variables: t.variables,
        }
    }
}

/// Every reply template (stored, and the built-in defaults not overridden).
#[utoipa::path(get, path = "/api/v1/templates", tag = "desk",
    responses((status = 200, description = "The templates", body = [TemplateResponse])))]
pub(crate) async fn list_templates(
    State(state): State<ApiState>,
) -> Result<Json<Vec<TemplateResponse>>, ApiError> {
    let app = state.app.clone();
    let list = blocking(move || app.templates()).await?;
    Ok(Json(list.into_iter().map(Into::into).collect()))
}

/// `PUT /templates/{key}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TemplateBody {
    /// `zh-TW`, `zh-HK` or `en`.
    pub(crate) locale: String,
    /// `{{ customer.honorific }}`, `{{ ticket.reference }}`, `{{ order.id }}`,
    /// `{{ order.placed_on }}`, `{{ compensation.points }}`, `{{ faq.answer }}`;
    /// `{% if customer.returning %}…{% else %}…{% endif %}` on `customer.returning`,
    /// `order.known`, `compensation.offered`. Any other variable is refused.
    pub(crate) body: String,
}

/// Stores a reply template; an unknown variable or a syntax error answers 422.
#[utoipa::path(put, path = "/api/v1/templates/{key}", tag = "desk",
    params(("key" = String, Path, description = "The template key")),
    request_body = TemplateBody,
    responses(
        (status = 200, description = "Stored", body = TemplateResponse),
        (status = 422, description = "invalid_field: unknown variable or syntax error", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn replace_template(
    State(state): State<ApiState>,
    Caller(who): Caller,
    ApiPath(key): ApiPath<String>,
    ApiJson(body): ApiJson<TemplateBody>,
) -> Result<Json<TemplateResponse>, ApiError> {
    let app = state.app.clone();
    let view = blocking(move || app.put_template(&who, &key, &body.locale, &body.body)).await?;
    Ok(Json(view.into()))
}

/// `POST /tickets/{id}/replies`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReplyBody {
    /// The template key, e.g. `logistics_delay`.
    pub(crate) template: String,
    /// `mr` (先生), `ms` (小姐) or `manager` (經理); a neutral form when absent.
    pub(crate) title: Option<String>,
}

/// Renders a template for the ticket and adds it as the agent's message (sent to LINE on a
/// LINE ticket). A variable the ticket cannot fill answers 422.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/replies", tag = "desk",
    params(("id" = String, Path, description = "The ticket id or its reference")),
    request_body = ReplyBody,
    responses(
        (status = 201, description = "Added", body = TicketResponse),
        (status = 409, description = "ticket_closed: reopen it first", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid_field: an unknown template, or one this ticket cannot fill", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn create_ticket_reply(
    State(state): State<ApiState>,
    Caller(who): Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ReplyBody>,
) -> Result<(StatusCode, Json<TicketResponse>), ApiError> {
    let id = ticket_id(&state, id).await?;
    let app = state.app.clone();
    let view =
        blocking(move || app.reply_with_template(&who, id, &body.template, body.title.as_deref()))
            .await?;
    Ok((StatusCode::CREATED, Json(view.into())))
}

/// `POST /tickets/{id}/compensation`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CompensationBody {
    /// Points to give, 1 to 100000; agents up to 500, more needs a manager (403 otherwise).
    pub(crate) points: i64,
    pub(crate) reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CompensationResponse {
    pub(crate) ticket_id: i64,
    pub(crate) points: i64,
    /// The ledger reason, naming the ticket's reference.
    pub(crate) reason: String,
    /// The ledger event the points were posted under.
    pub(crate) event_id: i64,
}

/// Gives the ticket's customer points through the loyalty ledger, with the ticket's
/// reference in the reason, and records it in the ticket's log.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/compensation", tag = "desk",
    params(("id" = String, Path, description = "The ticket id or its reference")),
    request_body = CompensationBody,
    responses(
        (status = 201, description = "Posted", body = CompensationResponse),
        (status = 403, description = "forbidden: above the role's limit", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn create_ticket_compensation(
    State(state): State<ApiState>,
    Caller(who): Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<CompensationBody>,
) -> Result<(StatusCode, Json<CompensationResponse>), ApiError> {
    let id = ticket_id(&state, id).await?;
    let app = state.app.clone();
    let v = blocking(move || app.compensate(&who, id, body.points, &body.reason)).await?;
    Ok((
        StatusCode::CREATED,
        Json(CompensationResponse {
            ticket_id: v.ticket_id,
            points: v.points,
            reason: v.reason,
            event_id: v.event_id,
        }),
    ))
}

/// `POST /kb/articles`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ArticleBody {
    /// `zh-TW`, `zh-HK` or `en`.
    pub(crate) locale: String,
    pub(crate) title: String,
    pub(crate) body: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ArticleResponse {
    pub(crate) id: i64,
    pub(crate) locale: String,
    pub(crate) title: String,
    pub(crate) body: String,
    pub(crate) created_at: String,
    /// For search hits: summed inverse document frequency of the matching terms.
    pub(crate) score: Option<f64>,
}

fn article_response(a: store::desk::ArticleRow, score: Option<f64>) -> ArticleResponse {
    ArticleResponse {
        id: a.id,
        locale: a.locale,
        title: a.title,
        body: a.body,
        created_at: rfc3339(a.created_at),
        score,
    }
}

/// Adds a knowledge-base article (indexed by character bigrams, so Chinese needs no spaces).
#[utoipa::path(post, path = "/api/v1/kb/articles", tag = "desk",
    request_body = ArticleBody,
    responses((status = 201, description = "Stored", body = ArticleResponse)))]
pub(crate) async fn create_kb_article(
    State(state): State<ApiState>,
    Caller(who): Caller,
    ApiJson(body): ApiJson<ArticleBody>,
) -> Result<(StatusCode, Json<ArticleResponse>), ApiError> {
    let input = app::desk::kb::ArticleInput {
        locale: body.locale,
        title: body.title,
        body: body.body,
    };
    let app = state.app.clone();
    let a = blocking(move || app.create_article(&who, &input)).await?;
    Ok((StatusCode::CREATED, Json(article_response(a, None))))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ArticleQuery {
    /// The question, in any wording (at most 500 characters are used).
    pub(crate) q: String,
    /// Results, 1 to 20 (default 3).
    pub(crate) limit: Option<usize>,
}

/// Searches the knowledge base: the articles that best answer `q`, best first.
#[utoipa::path(get, path = "/api/v1/kb/articles", tag = "desk",
    params(ArticleQuery),
    responses((status = 200, description = "Best first", body = [ArticleResponse])))]
pub(crate) async fn list_kb_articles(
    State(state): State<ApiState>,
    ApiQuery(query): ApiQuery<ArticleQuery>,
) -> Result<Json<Vec<ArticleResponse>>, ApiError> {
    let app = state.app.clone();
    let hits = blocking(move || app.search_articles(&query.q, query.limit.unwrap_or(3))).await?;
    Ok(Json(
        hits.into_iter()
            .map(|h| article_response(h.article, Some(h.score)))
            .collect(),
    ))
}

/// Who may classify a message: the desk's people (agents, managers, admins).
pub(crate) const CLASSIFY_ROLES: &[Role] = &[Role::Admin, Role::Manager, Role::Agent];

/// `POST /desk/classify`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClassifyBody {
    /// The message, as the customer wrote it.
    pub(crate) text: String,
    /// `email`, `line`, `web`, `api`, `phone`, `in_store` or `social`.
    pub(crate) channel: Option<String>,
    pub(crate) subject: Option<String>,
}

/// What the desk makes of a message.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ClassifyResponse {
    /// `product_defect`, `service_attitude`, `logistics_delay`, `order_status`,
    /// `return_refund`, `account_password`, `billing_payment`, `points_membership`, `praise`,
    /// `other`.
    pub(crate) category: String,
    /// The category's probability, 0 to 1.
    pub(crate) confidence: f32,
    /// `where_is_my_order`, `how_to_return`, `password_reset`, `points_balance`,
    /// `store_hours`; null unless certain enough to answer automatically.
    pub(crate) intent: Option<String>,
    /// −1 (furious) to 1 (delighted).
    pub(crate) sentiment: f32,
    /// `very_negative`, `negative`, `neutral`, `positive`.
    pub(crate) sentiment_label: String,
    /// Any of `safety`, `legal_threat`, `consumer_agency`, `media`.
    pub(crate) urgency: Vec<String>,
    /// The stored model version used (0: the model trained from the shipped set).
    pub(crate) model_version: i64,
}

/// Classifies a message: category, confidence, sentiment, urgency and FAQ intent. Nothing is
/// stored.
#[utoipa::path(post, path = "/api/v1/desk/classify", tag = "desk",
    request_body = ClassifyBody,
    responses(
        (status = 200, description = "The classification", body = ClassifyResponse),
        (status = 422, description = "invalid_field", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn create_classification(
    State(state): State<ApiState>,
    ApiJson(body): ApiJson<ClassifyBody>,
) -> Result<Json<ClassifyResponse>, ApiError> {
    let app = state.app.clone();
    let view = blocking(move || {
        app.classify_message(&app::desk::classifier::ClassifyInput {
            text: body.text,
            channel: body.channel,
            subject: body.subject,
        })
    })
    .await?;
    Ok(Json(ClassifyResponse {
        category: view.category.as_str().to_owned(),
        confidence: view.confidence,
        intent: view.intent.map(|i| i.as_str().to_owned()),
        sentiment: view.sentiment,
        sentiment_label: view.sentiment_label.as_str().to_owned(),
        urgency: view.urgency.iter().map(|u| (*u).to_owned()).collect(),
        model_version: view.model_version,
    }))
}

/// `PUT /desk/agents/{handle}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AgentBody {
    /// Category codes the agent handles; empty or absent: every category.
    #[serde(default)]
    pub(crate) skills: Vec<String>,
    /// Senior agents take VIP, very angry and urgent tickets first.
    #[serde(default)]
    pub(crate) senior: bool,
    /// Most open tickets at once.
    pub(crate) max_load: i64,
    /// Whether new tickets are routed to the agent (default true).
    pub(crate) active: Option<bool>,
    /// Names of existing teams the agent belongs to (replacing its memberships); absent:
    /// none.
    #[serde(default)]
    pub(crate) teams: Vec<String>,
}

/// An agent on the roster.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AgentResponse {
    pub(crate) handle: String,
    pub(crate) skills: Vec<String>,
    pub(crate) senior: bool,
    pub(crate) max_load: i64,
    pub(crate) active: bool,
    /// Tickets assigned and not solved or closed.
    pub(crate) load: i64,
    /// The teams the agent belongs to.
    pub(crate) teams: Vec<String>,
}

impl From<app::desk::agents::AgentView> for AgentResponse {
    fn from(a: app::desk::agents::AgentView) -> Self {
        AgentResponse {
            handle: a.handle,
            skills: a.skills,
            senior: a.senior,
            max_load: a.max_load,
            active: a.active,
            load: a.load,
            teams: a.teams,
        }
    }
}

/// The agent roster new tickets are routed to, with loads.
#[utoipa::path(get, path = "/api/v1/desk/agents", tag = "desk",
    responses((status = 200, description = "The roster", body = [AgentResponse])))]
pub(crate) async fn list_desk_agents(
    State(state): State<ApiState>,
) -> Result<Json<Vec<AgentResponse>>, ApiError> {
    let app = state.app.clone();
    let list = blocking(move || app.agents()).await?;
    Ok(Json(list.into_iter().map(Into::into).collect()))
}

/// Creates or replaces an agent on the roster.
#[utoipa::path(put, path = "/api/v1/desk/agents/{handle}", tag = "desk",
    params(("handle" = String, Path, description = "The agent's handle, as tickets are assigned to it")),
    request_body = AgentBody,
    responses(
        (status = 200, description = "Stored", body = AgentResponse),
        (status = 422, description = "invalid_field", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn replace_desk_agent(
    State(state): State<ApiState>,
    Caller(who): Caller,
    ApiPath(handle): ApiPath<String>,
    ApiJson(body): ApiJson<AgentBody>,
) -> Result<Json<AgentResponse>, ApiError> {
    let app = state.app.clone();
    let view = blocking(move || {
        app.put_agent(
            &who,
            &handle,
            &app::desk::agents::AgentInput {
                skills: body.skills,
                senior: body.senior,
                max_load: body.max_load,
                active: body.active.unwrap_or(true),
                teams: body.teams,
            },
        )
    })
    .await?;
    Ok(Json(view.into()))
}

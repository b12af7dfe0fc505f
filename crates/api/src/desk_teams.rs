//! Teams and tags over HTTP: the teams (read; managers replace one), a ticket's tags (added
//! and removed through its log) and the hand-off of a ticket to another team with a note.
//! Queues filter by `?tag=` and `?team=` (`GET /tickets`).

use crate::ApiState;
use crate::desk::{TicketResponse, ticket_id};
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiPath, Caller, blocking};
use app::desk::teams::{TeamInput, TeamView};
use axum::Json;
use axum::extract::State;
use domain::access::Role;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Who may tag a ticket or hand it off: an agent (its own or unassigned tickets), a manager
/// or an admin.
pub(crate) const TEAM_WORK_ROLES: &[Role] = &[Role::Admin, Role::Manager, Role::Agent];

/// `PUT /desk/teams/{name}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TeamBody {
    /// Category codes whose new tickets join the team (the first team by name listing a
    /// category takes it); empty or absent: tickets join only by hand-off. Members are set
    /// on the agents (`PUT /desk/agents/{handle}`, `teams`).
    #[serde(default)]
    pub(crate) categories: Vec<String>,
}

/// A team.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TeamResponse {
    pub(crate) name: String,
    pub(crate) categories: Vec<String>,
    /// Agent handles, sorted.
    pub(crate) members: Vec<String>,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
}

impl From<TeamView> for TeamResponse {
    fn from(t: TeamView) -> Self {
        TeamResponse {
            name: t.name,
            categories: t.categories,
            members: t.members,
            created_at: t.created_at.to_string(),
            updated_at: t.updated_at.to_string(),
        }
    }
}

/// `POST /tickets/{id}/tags`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TagsBody {
    /// Tags to put on (1 to 32 letters, digits or `- _ . : / & +`; ASCII letters are
    /// lower-cased). Tags already there change nothing.
    #[serde(default)]
    pub(crate) add: Vec<String>,
    /// Tags to take off. Tags not there change nothing.
    #[serde(default)]
    pub(crate) remove: Vec<String>,
}

/// `POST /tickets/{id}/handoff`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct HandoffBody {
    /// The team's name, e.g. `物流`.
    pub(crate) team: String,
    /// What the new team needs to know (at most 2,000 characters); kept in the log.
    pub(crate) note: Option<String>,
}

/// The teams, by name, with their members.
#[utoipa::path(get, path = "/api/v1/desk/teams", tag = "desk",
    responses((status = 200, description = "The teams", body = [TeamResponse])))]
pub(crate) async fn list_desk_teams(
    State(state): State<ApiState>,
) -> Result<Json<Vec<TeamResponse>>, ApiError> {
    let app = state.app.clone();
    let list = blocking(move || app.teams()).await?;
    Ok(Json(list.into_iter().map(Into::into).collect()))
}

/// Creates or replaces a team (its members are kept).
#[utoipa::path(put, path = "/api/v1/desk/teams/{name}", tag = "desk",
    params(("name" = String, Path, description = "The team's name, e.g. 物流 (percent-encoded)")),
    request_body = TeamBody,
    responses(
        (status = 200, description = "Stored", body = TeamResponse),
        (status = 422, description = "invalid_field", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn replace_desk_team(
    State(state): State<ApiState>,
    Caller(who): Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<TeamBody>,
) -> Result<Json<TeamResponse>, ApiError> {
    let app = state.app.clone();
    let input = TeamInput {
        categories: body.categories,
    };
    let view = blocking(move || app.put_team(&who, &name, &input)).await?;
    Ok(Json(view.into()))
}

/// Adds and removes tags; each change is a `tagged` or `untagged` entry of the log.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/tags", tag = "desk",
    params(("id" = String, Path, description = "The ticket id or its reference")),
    request_body = TagsBody,
    responses(
        (status = 200, description = "The ticket with its tags", body = TicketResponse),
        (status = 409, description = "ticket_closed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid_field", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn create_ticket_tag_change(
    State(state): State<ApiState>,
    Caller(who): Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<TagsBody>,
) -> Result<Json<TicketResponse>, ApiError> {
    let id = ticket_id(&state, id).await?;
    let app = state.app.clone();
    let view = blocking(move || app.tag_ticket(&who, id, &body.add, &body.remove)).await?;
    Ok(Json(view.into()))
}

/// Hands the ticket off to another team with a note (a `handed_off` entry). The assignee
/// stays only when in the new team; the status and the SLA clocks are untouched.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/handoff", tag = "desk",
    params(("id" = String, Path, description = "The ticket id or its reference")),
    request_body = HandoffBody,
    responses(
        (status = 200, description = "Handed off (or already with that team)", body = TicketResponse),
        (status = 409, description = "ticket_closed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid_field (e.g. no such team)", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn create_ticket_handoff(
    State(state): State<ApiState>,
    Caller(who): Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<HandoffBody>,
) -> Result<Json<TicketResponse>, ApiError> {
    let id = ticket_id(&state, id).await?;
    let app = state.app.clone();
    let view =
        blocking(move || app.hand_off_ticket(&who, id, &body.team, body.note.as_deref())).await?;
    Ok(Json(view.into()))
}

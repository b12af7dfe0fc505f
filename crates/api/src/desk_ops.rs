//! The desk's operations over HTTP: merge and split tickets, CSAT (by key, and by the
//! customer's survey link whose unguessable token replaces the key), template A/B tests with
//! their results, and the KPI and trend reports (managers, admins and analysts). Rates are
//! fractions in [0, 1]; durations are minutes; `null` means nothing was counted.

use crate::ApiState;
use crate::desk::TicketResponse;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Caller, blocking};
use app::desk::ab::{AbTestInput, AbTestView, Variant};
use app::desk::csat::CsatView;
use app::desk::kpis::{CsatGroup, DurationStats, KpiView, ReportQuery, TrendView};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use domain::access::Role;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Who may read the desk's reports and A/B results.
pub(crate) const REPORT_ROLES: &[Role] = &[Role::Admin, Role::Manager, Role::Analyst];
/// Who may merge and split tickets (an agent only in its own queue; checked per ticket).
pub(crate) const REORGANISE_ROLES: &[Role] = &[Role::Admin, Role::Manager, Role::Agent];

async fn ticket_id(state: &ApiState, text: String) -> Result<i64, ApiError> {
    let app = state.app.clone();
    blocking(move || app.find_ticket_id(&text)).await
}

/// `POST /tickets/{id}/merge`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MergeBody {
    /// The ticket merged into this one (its id or reference); it is closed.
    pub(crate) from: String,
}

/// Merges another ticket into this one: its transcript is appended to this ticket's log, it
/// is closed with its clocks stopped, and later messages to it land here.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/merge", tag = "desk",
    params(("id" = String, Path, description = "The surviving ticket's id or reference")),
    request_body = MergeBody,
    responses(
        (status = 200, description = "Merged: the surviving ticket", body = TicketResponse),
        (status = 409, description = "ticket_closed: reopen the surviving ticket first; merge_across_customers; ticket_merged: one of them was merged already", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "merge_into_itself", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn create_ticket_merge(
    State(state): State<ApiState>,
    Caller(who): Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<MergeBody>,
) -> Result<Json<TicketResponse>, ApiError> {
    let into = ticket_id(&state, id).await?;
    let from = ticket_id(&state, body.from).await?;
    let app = state.app.clone();
    let view = blocking(move || app.merge_tickets(&who, into, from)).await?;
    Ok(Json(view.into()))
}

/// `POST /tickets/{id}/split`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SplitBody {
    /// Ids of `message` entries of this ticket's log (1 to 100).
    pub(crate) message_ids: Vec<i64>,
    /// The new ticket's subject (default: this ticket's).
    pub(crate) subject: Option<String>,
}

/// Splits messages off into a new ticket (same channel, customer, order, priority, category).
#[utoipa::path(post, path = "/api/v1/tickets/{id}/split", tag = "desk",
    params(("id" = String, Path, description = "The ticket id or reference")),
    request_body = SplitBody,
    responses(
        (status = 201, description = "The new ticket", body = TicketResponse),
        (status = 409, description = "ticket_closed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "message_not_in_ticket, or invalid_field", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn create_ticket_split(
    State(state): State<ApiState>,
    Caller(who): Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<SplitBody>,
) -> Result<(StatusCode, Json<TicketResponse>), ApiError> {
    let id = ticket_id(&state, id).await?;
    let app = state.app.clone();
    let view =
        blocking(move || app.split_ticket(&who, id, &body.message_ids, body.subject.as_deref()))
            .await?;
    Ok((StatusCode::CREATED, Json(view.into())))
}

/// A ticket's satisfaction survey (no personal data).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CsatResponse {
    pub(crate) ticket_id: i64,
    pub(crate) reference: String,
    pub(crate) status: String,
    /// 1 to 5; `null` until rated.
    pub(crate) rating: Option<i64>,
    pub(crate) rated_at: Option<String>,
}

impl From<CsatView> for CsatResponse {
    fn from(v: CsatView) -> Self {
        CsatResponse {
            ticket_id: v.ticket_id,
            reference: v.reference,
            status: v.status,
            rating: v.rating,
            rated_at: v.rated_at.map(|t| t.to_string()),
        }
    }
}

/// A rating.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RatingBody {
    /// 1 (very dissatisfied) to 5 (very satisfied).
    pub(crate) rating: i64,
}

/// Rates a solved or closed ticket (an integration relaying a survey). A second rating
/// replaces the first; the audit log keeps both.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/csat", tag = "desk",
    params(("id" = String, Path, description = "The ticket id or reference")),
    request_body = RatingBody,
    responses(
        (status = 200, description = "Rated", body = CsatResponse),
        (status = 409, description = "ticket_not_solved", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "rating_out_of_range: outside 1-5", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn create_ticket_csat(
    State(state): State<ApiState>,
    Caller(who): Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<RatingBody>,
) -> Result<Json<CsatResponse>, ApiError> {
    let id = ticket_id(&state, id).await?;
    let app = state.app.clone();
    Ok(Json(
        blocking(move || app.rate_ticket(&who, id, body.rating))
            .await?
            .into(),
    ))
}

/// The survey link of a ticket.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CsatLinkResponse {
    /// The unguessable token (32 hex characters).
    pub(crate) token: String,
    /// The path to send the customer: `GET` shows the survey, `POST {"rating": n}` rates.
    pub(crate) path: String,
}

/// The ticket's survey link (created on first request, the same afterwards).
#[utoipa::path(post, path = "/api/v1/tickets/{id}/csat/link", tag = "desk",
    params(("id" = String, Path, description = "The ticket id or reference")),
    responses((status = 200, description = "The link", body = CsatLinkResponse)))]
pub(crate) async fn create_ticket_csat_link(
    State(state): State<ApiState>,
    Caller(who): Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<CsatLinkResponse>, ApiError> {
    let id = ticket_id(&state, id).await?;
    let app = state.app.clone();
    let token = blocking(move || app.csat_link(&who, id)).await?;
    Ok(Json(CsatLinkResponse {
        path: format!("/api/v1/desk/csat/{token}"),
        token,
    }))
}

/// The survey behind a link (no key: the token is the credential; unknown tokens answer 404).
#[utoipa::path(get, path = "/api/v1/desk/csat/{token}", tag = "desk",
    params(("token" = String, Path, description = "The survey token")),
    responses((status = 200, description = "The survey", body = CsatResponse)))]
pub(crate) async fn get_csat_survey(
    State(state): State<ApiState>,
    ApiPath(token): ApiPath<String>,
) -> Result<Json<CsatResponse>, ApiError> {
    let app = state.app.clone();
    Ok(Json(
        blocking(move || app.csat_survey(&token)).await?.into(),
    ))
}

/// Rates through the survey link (no key): one answer, within 28 days of the link's creation.
#[utoipa::path(post, path = "/api/v1/desk/csat/{token}", tag = "desk",
    params(("token" = String, Path, description = "The survey token")),
    request_body = RatingBody,
    responses(
        (status = 200, description = "Rated", body = CsatResponse),
        (status = 409, description = "survey_answered, or ticket_not_solved", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "survey_expired", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "rating_out_of_range: outside 1-5", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn create_csat_rating(
    State(state): State<ApiState>,
    ApiPath(token): ApiPath<String>,
    ApiJson(body): ApiJson<RatingBody>,
) -> Result<Json<CsatResponse>, ApiError> {
    let app = state.app.clone();
    Ok(Json(
        blocking(move || app.rate_by_token(&token, body.rating))
            .await?
            .into(),
    ))
}

/// One variant of a test.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct VariantBody {
    pub(crate) name: String,
    /// The template key this variant sends (stored or built in).
    pub(crate) template: String,
    /// Relative weight, 1 to 1000.
    pub(crate) weight: u32,
}

/// `POST /desk/ab-tests`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AbTestBody {
    pub(crate) name: String,
    /// The template key the test takes over, e.g. `ack`.
    pub(crate) template_key: String,
    /// 2 to 8 variants.
    pub(crate) variants: Vec<VariantBody>,
}

/// One variant's results.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct VariantResultResponse {
    pub(crate) variant: VariantBody,
    /// Tickets the variant was sent on.
    pub(crate) tickets: i64,
    pub(crate) csat_count: i64,
    pub(crate) csat_mean: Option<f64>,
    pub(crate) solved: i64,
    pub(crate) reopened: i64,
    /// Reopened ÷ solved.
    pub(crate) reopen_rate: Option<f64>,
}

/// A test with its results.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AbTestResponse {
    pub(crate) id: i64,
    pub(crate) name: String,
    pub(crate) template_key: String,
    pub(crate) started_at: String,
    /// `null` while running.
    pub(crate) stopped_at: Option<String>,
    pub(crate) results: Vec<VariantResultResponse>,
}

impl From<AbTestView> for AbTestResponse {
    fn from(v: AbTestView) -> Self {
        AbTestResponse {
            id: v.id,
            name: v.name,
            template_key: v.template_key,
            started_at: v.started_at.to_string(),
            stopped_at: v.stopped_at.map(|t| t.to_string()),
            results: v
                .results
                .into_iter()
                .map(|r| VariantResultResponse {
                    variant: VariantBody {
                        name: r.variant.name,
                        template: r.variant.template,
                        weight: r.variant.weight,
                    },
                    tickets: r.tickets,
                    csat_count: r.csat_count,
                    csat_mean: r.csat_mean,
                    solved: r.solved,
                    reopened: r.reopened,
                    reopen_rate: r.reopen_rate,
                })
                .collect(),
        }
    }
}

/// Starts a template A/B test; each ticket's variant is chosen deterministically and recorded
/// when the template is used on it.
#[utoipa::path(post, path = "/api/v1/desk/ab-tests", tag = "desk",
    request_body = AbTestBody,
    responses(
        (status = 201, description = "Started", body = AbTestResponse),
        (status = 422, description = "invalid_field naming the variant; or a test of the key is running", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn create_ab_test(
    State(state): State<ApiState>,
    Caller(who): Caller,
    ApiJson(body): ApiJson<AbTestBody>,
) -> Result<(StatusCode, Json<AbTestResponse>), ApiError> {
    let input = AbTestInput {
        name: body.name,
        template_key: body.template_key,
        variants: body
            .variants
            .into_iter()
            .map(|v| Variant {
                name: v.name,
                template: v.template,
                weight: v.weight,
            })
            .collect(),
    };
    let app = state.app.clone();
    let view = blocking(move || app.create_ab_test(&who, &input)).await?;
    Ok((StatusCode::CREATED, Json(view.into())))
}

/// Every A/B test with its results, oldest first.
#[utoipa::path(get, path = "/api/v1/desk/ab-tests", tag = "desk",
    responses((status = 200, description = "The tests", body = [AbTestResponse])))]
pub(crate) async fn list_ab_tests(
    State(state): State<ApiState>,
) -> Result<Json<Vec<AbTestResponse>>, ApiError> {
    let app = state.app.clone();
    let list = blocking(move || app.ab_tests()).await?;
    Ok(Json(list.into_iter().map(Into::into).collect()))
}

/// One A/B test with its results per variant: tickets, CSAT mean and count, reopen rate.
#[utoipa::path(get, path = "/api/v1/desk/ab-tests/{id}", tag = "desk",
    params(("id" = i64, Path, description = "The test id")),
    responses((status = 200, description = "The test", body = AbTestResponse)))]
pub(crate) async fn get_ab_test(
    State(state): State<ApiState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<AbTestResponse>, ApiError> {
    let app = state.app.clone();
    Ok(Json(blocking(move || app.ab_test(id)).await?.into()))
}

/// Stops a test (its assignments and results stay).
#[utoipa::path(post, path = "/api/v1/desk/ab-tests/{id}/stop", tag = "desk",
    params(("id" = i64, Path, description = "The test id")),
    responses((status = 200, description = "Stopped", body = AbTestResponse)))]
pub(crate) async fn create_ab_test_stop(
    State(state): State<ApiState>,
    Caller(who): Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<AbTestResponse>, ApiError> {
    let app = state.app.clone();
    Ok(Json(
        blocking(move || app.stop_ab_test(&who, id)).await?.into(),
    ))
}

/// The report window.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct DeskKpiQuery {
    /// `YYYY-MM-DD` (the desk's zone) or RFC 3339; default 30 days before `to`.
    pub(crate) from: Option<String>,
    /// `YYYY-MM-DD` (that day included) or RFC 3339 (exclusive); default now.
    pub(crate) to: Option<String>,
    /// `email`, `line`, `web`, `api`, `phone`, `in_store` or `social`.
    pub(crate) channel: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DurationResponse {
    pub(crate) count: usize,
    pub(crate) median_business_minutes: Option<f64>,
    pub(crate) p90_business_minutes: Option<f64>,
    pub(crate) median_calendar_minutes: Option<f64>,
    pub(crate) p90_calendar_minutes: Option<f64>,
}

impl From<DurationStats> for DurationResponse {
    fn from(d: DurationStats) -> Self {
        DurationResponse {
            count: d.count,
            median_business_minutes: d.median_business_minutes,
            p90_business_minutes: d.p90_business_minutes,
            median_calendar_minutes: d.median_calendar_minutes,
            p90_calendar_minutes: d.p90_calendar_minutes,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AttainmentResponse {
    pub(crate) clock: String,
    /// Instances fulfilled in time.
    pub(crate) met: usize,
    pub(crate) breached: usize,
    /// met ÷ (met + breached).
    pub(crate) attainment: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CsatGroupResponse {
    pub(crate) key: String,
    pub(crate) count: usize,
    pub(crate) mean: Option<f64>,
}

fn groups(v: Vec<CsatGroup>) -> Vec<CsatGroupResponse> {
    v.into_iter()
        .map(|g| CsatGroupResponse {
            key: g.key,
            count: g.count,
            mean: g.mean,
        })
        .collect()
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CountResponse {
    pub(crate) key: String,
    pub(crate) count: usize,
}

fn counts(v: Vec<(String, usize)>) -> Vec<CountResponse> {
    v.into_iter()
        .map(|(key, count)| CountResponse { key, count })
        .collect()
}

/// The desk's KPIs over a window (definitions in the README's "Desk KPIs and A/B tests").
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DeskKpiResponse {
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) channel: Option<String>,
    /// Tickets created in the window (merged-away tickets left out).
    pub(crate) tickets: usize,
    /// Creation → first message by a person on the desk (customer-opened tickets).
    pub(crate) first_response: DurationResponse,
    pub(crate) solved: usize,
    pub(crate) resolution_rate: Option<f64>,
    /// Creation → first solved.
    pub(crate) resolution: DurationResponse,
    pub(crate) sla: Vec<AttainmentResponse>,
    pub(crate) auto_resolved: usize,
    /// Solved with only automatic replies ÷ solved.
    pub(crate) auto_resolution_rate: Option<f64>,
    pub(crate) human_intervened: usize,
    /// Tickets a person wrote on ÷ tickets.
    pub(crate) human_intervention_rate: Option<f64>,
    pub(crate) reopened: usize,
    /// Reopened ÷ solved.
    pub(crate) reopen_rate: Option<f64>,
    pub(crate) csat_count: usize,
    pub(crate) csat_mean: Option<f64>,
    pub(crate) csat_by_agent: Vec<CsatGroupResponse>,
    pub(crate) csat_by_category: Vec<CsatGroupResponse>,
    pub(crate) csat_by_template: Vec<CsatGroupResponse>,
    /// Tickets not solved or closed now.
    pub(crate) backlog_total: usize,
    pub(crate) backlog_by_status: Vec<CountResponse>,
    /// `under_1d`, `1d_to_3d`, `3d_to_7d`, `over_7d`.
    pub(crate) backlog_by_age: Vec<CountResponse>,
}

impl From<KpiView> for DeskKpiResponse {
    fn from(k: KpiView) -> Self {
        DeskKpiResponse {
            from: k.from.to_string(),
            to: k.to.to_string(),
            channel: k.channel,
            tickets: k.tickets,
            first_response: k.first_response.into(),
            solved: k.solved,
            resolution_rate: k.resolution_rate,
            resolution: k.resolution.into(),
            sla: k
                .sla
                .into_iter()
                .map(|a| AttainmentResponse {
                    clock: a.clock,
                    met: a.met,
                    breached: a.breached,
                    attainment: a.attainment,
                })
                .collect(),
            auto_resolved: k.auto_resolved,
            auto_resolution_rate: k.auto_resolution_rate,
            human_intervened: k.human_intervened,
            human_intervention_rate: k.human_intervention_rate,
            reopened: k.reopened,
            reopen_rate: k.reopen_rate,
            csat_count: k.csat_count,
            csat_mean: k.csat_mean,
            csat_by_agent: groups(k.csat_by_agent),
            csat_by_category: groups(k.csat_by_category),
            csat_by_template: groups(k.csat_by_template),
            backlog_total: k.backlog_total,
            backlog_by_status: counts(k.backlog_by_status),
            backlog_by_age: counts(k.backlog_by_age),
        }
    }
}

/// First response, resolution, SLA attainment, automation, reopen, CSAT and backlog.
#[utoipa::path(get, path = "/api/v1/desk/kpis", tag = "desk",
    params(DeskKpiQuery),
    responses((status = 200, description = "The KPIs", body = DeskKpiResponse)))]
pub(crate) async fn get_desk_kpis(
    State(state): State<ApiState>,
    ApiQuery(q): ApiQuery<DeskKpiQuery>,
) -> Result<Json<DeskKpiResponse>, ApiError> {
    let query = ReportQuery {
        from: q.from,
        to: q.to,
        channel: q.channel,
    };
    let app = state.app.clone();
    Ok(Json(blocking(move || app.desk_kpis(&query)).await?.into()))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct TrendQuery {
    pub(crate) from: Option<String>,
    pub(crate) to: Option<String>,
    pub(crate) channel: Option<String>,
    /// `category` (default) or `product` (SKUs of the ticket's linked order).
    pub(crate) by: Option<String>,
    /// `day` (default) or `week` (weeks start on Monday).
    pub(crate) period: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TrendSeriesResponse {
    /// The category code or SKU.
    pub(crate) key: String,
    /// Complaints per period, aligned with `periods`.
    pub(crate) counts: Vec<i64>,
    /// Whether each period is a spike (see `rule`).
    pub(crate) spikes: Vec<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TrendResponse {
    pub(crate) by: String,
    pub(crate) period: String,
    /// First local date of each period.
    pub(crate) periods: Vec<String>,
    pub(crate) series: Vec<TrendSeriesResponse>,
    /// The spike rule applied.
    pub(crate) rule: String,
}

impl From<TrendView> for TrendResponse {
    fn from(t: TrendView) -> Self {
        TrendResponse {
            by: t.by,
            period: t.period,
            periods: t.periods.into_iter().map(|d| d.to_string()).collect(),
            series: t
                .series
                .into_iter()
                .map(|s| TrendSeriesResponse {
                    key: s.key,
                    counts: s.counts,
                    spikes: s.spikes,
                })
                .collect(),
            rule: "spike: count >= 5 and count > mean + 3 sd of the up to 8 previous periods \
                   (at least 4 needed)"
                .to_owned(),
        }
    }
}

/// Complaint counts (every ticket but `praise`) per period by category or product, with
/// spikes flagged.
#[utoipa::path(get, path = "/api/v1/desk/trends", tag = "desk",
    params(TrendQuery),
    responses((status = 200, description = "The trend", body = TrendResponse)))]
pub(crate) async fn get_desk_trends(
    State(state): State<ApiState>,
    ApiQuery(q): ApiQuery<TrendQuery>,
) -> Result<Json<TrendResponse>, ApiError> {
    let query = ReportQuery {
        from: q.from,
        to: q.to,
        channel: q.channel,
    };
    let by = q.by.unwrap_or_else(|| "category".to_owned());
    let period = q.period.unwrap_or_else(|| "day".to_owned());
    let app = state.app.clone();
    Ok(Json(
        blocking(move || app.desk_trends(&query, &by, &period))
            .await?
            .into(),
    ))
}

//! The one route table: every route's method, path, operation id and who may call it.
//! The router is built from it, the auth layer checks requests against it, the OpenAPI
//! document is checked against it, and the auth-matrix test walks it for every role.

use crate::error::{ApiError, ErrorCode};
use crate::extract::blocking;
use crate::{
    ApiOptions, ApiState, accounting, analytics, bonus, customers, desk, desk_ops, desk_teams,
    email, idempotency, line, loyalty, observe, orders, points, promotions, rewards, system, tiers,
};
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use domain::access::{Action, Role};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// No key needed: health checks and the API description.
    Public,
    /// No key: the handler authenticates the request by its signature (the LINE webhook's
    /// `X-Line-Signature`). No role grants it; a key does not replace the signature.
    Signed,
    /// No key: the path carries an unguessable token that is the credential (a customer's
    /// CSAT survey link). No role grants it; an unknown token answers 404.
    Token,
    /// A key whose role may perform the action.
    Action(Action),
    /// A key with one of these roles (operations data outside the domain's actions).
    Roles(&'static [Role]),
}

impl Access {
    pub(crate) fn allows(self, role: Role) -> bool {
        match self {
            Access::Public => true,
            Access::Signed | Access::Token => false,
            Access::Action(action) => role.may(action),
            Access::Roles(roles) => roles.contains(&role),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verb {
    Get,
    Post,
    Put,
}

impl Verb {
    pub(crate) fn method(self) -> Method {
        match self {
            Verb::Get => Method::GET,
            Verb::Post => Method::POST,
            Verb::Put => Method::PUT,
        }
    }

    fn filter(self) -> MethodFilter {
        match self {
            Verb::Get => MethodFilter::GET,
            Verb::Post => MethodFilter::POST,
            Verb::Put => MethodFilter::PUT,
        }
    }
}

/// One row of the table.
pub(crate) struct Route {
    pub(crate) verb: Verb,
    pub(crate) path: &'static str,
    pub(crate) operation_id: &'static str,
    pub(crate) access: Access,
    /// Served only with [`ApiOptions::bench_scratch`].
    pub(crate) bench_only: bool,
    handler: fn(MethodFilter) -> MethodRouter<ApiState>,
}

/// Who may post raw inbound e-mail: a mail provider's integration key, or an admin.
pub(crate) const INBOUND_EMAIL_ROLES: &[Role] = &[Role::Integration, Role::Admin];

/// Who may read `/metrics`: operators and those who read reports.
pub(crate) const METRICS_ROLES: &[Role] = &[Role::Admin, Role::Analyst];

const fn route(
    verb: Verb,
    path: &'static str,
    operation_id: &'static str,
    access: Access,
    handler: fn(MethodFilter) -> MethodRouter<ApiState>,
) -> Route {
    Route {
        verb,
        path,
        operation_id,
        access,
        bench_only: false,
        handler,
    }
}

use Access::Action as Needs;
use Verb::{Get, Post, Put};

pub(crate) const ROUTES: &[Route] = &[
    route(
        Post,
        "/api/v1/customers",
        "create_customer",
        Needs(Action::WriteCustomers),
        |f| on(f, customers::create_customer),
    ),
    route(
        Get,
        "/api/v1/customers",
        "list_customers",
        Needs(Action::ReadCustomers),
        |f| on(f, customers::list_customers),
    ),
    route(
        Get,
        "/api/v1/customers/{id}",
        "get_customer",
        Needs(Action::ReadCustomers),
        |f| on(f, customers::get_customer),
    ),
    route(
        Post,
        "/api/v1/orders",
        "create_order",
        Needs(Action::WriteOrders),
        |f| on(f, orders::create_order),
    ),
    route(
        Get,
        "/api/v1/orders/{id}",
        "get_order",
        Needs(Action::ReadOrders),
        |f| on(f, orders::get_order),
    ),
    route(
        Post,
        "/api/v1/refunds",
        "create_refund",
        Needs(Action::WriteOrders),
        |f| on(f, orders::create_refund),
    ),
    route(
        Post,
        "/api/v1/events",
        "create_event",
        Needs(Action::WriteEvents),
        |f| on(f, orders::create_event),
    ),
    route(
        Get,
        "/api/v1/customers/{id}/points",
        "get_points",
        Needs(Action::ReadPoints),
        |f| on(f, points::get_points),
    ),
    route(
        Get,
        "/api/v1/customers/{id}/points/statement",
        "get_points_statement",
        Needs(Action::ReadPoints),
        |f| on(f, points::get_points_statement),
    ),
    route(
        Post,
        "/api/v1/customers/{id}/points/corrections",
        "create_points_correction",
        Needs(Action::CorrectPoints),
        |f| on(f, points::create_points_correction),
    ),
    route(
        Post,
        "/api/v1/customers/{id}/points/holds",
        "create_points_hold",
        Needs(Action::WriteOrders),
        |f| on(f, loyalty::create_points_hold),
    ),
    route(
        Post,
        "/api/v1/customers/{id}/points/holds/{hold_id}/commit",
        "create_points_hold_commit",
        Needs(Action::WriteOrders),
        |f| on(f, loyalty::create_points_hold_commit),
    ),
    route(
        Post,
        "/api/v1/customers/{id}/points/holds/{hold_id}/release",
        "create_points_hold_release",
        Needs(Action::WriteOrders),
        |f| on(f, loyalty::create_points_hold_release),
    ),
    route(
        Get,
        "/api/v1/customers/{id}/loyalty",
        "get_loyalty",
        Needs(Action::ReadPoints),
        |f| on(f, loyalty::get_loyalty),
    ),
    route(
        Put,
        "/api/v1/customers/{id}/loyalty/tier",
        "replace_loyalty_tier",
        Needs(Action::ConfigureLoyalty),
        |f| on(f, loyalty::replace_loyalty_tier),
    ),
    route(
        Post,
        "/api/v1/customers/{id}/loyalty/membership",
        "create_loyalty_membership",
        Needs(Action::WriteOrders),
        |f| on(f, tiers::create_loyalty_membership),
    ),
    route(
        Post,
        "/api/v1/customers/{id}/loyalty/membership/renew",
        "create_loyalty_membership_renewal",
        Needs(Action::WriteOrders),
        |f| on(f, tiers::create_loyalty_membership_renewal),
    ),
    route(
        Post,
        "/api/v1/customers/{id}/loyalty/membership/cancel",
        "create_loyalty_membership_cancellation",
        Needs(Action::WriteOrders),
        |f| on(f, tiers::create_loyalty_membership_cancellation),
    ),
    route(
        Get,
        "/api/v1/customers/{id}/loyalty/lots",
        "list_loyalty_lots",
        Needs(Action::ReadPoints),
        |f| on(f, loyalty::list_loyalty_lots),
    ),
    route(
        Post,
        "/api/v1/customers/{id}/points/redemptions/{redemption_id}/cancel",
        "create_redemption_cancellation",
        Needs(Action::WriteOrders),
        |f| on(f, rewards::create_redemption_cancellation),
    ),
    route(
        Post,
        "/api/v1/customers/{id}/rewards/{reward_id}/redemptions",
        "create_reward_redemption",
        Needs(Action::WriteOrders),
        |f| on(f, rewards::create_reward_redemption),
    ),
    route(
        Get,
        "/api/v1/loyalty/programme",
        "get_loyalty_programme",
        Needs(Action::ReadPoints),
        |f| on(f, loyalty::get_loyalty_programme),
    ),
    route(
        Put,
        "/api/v1/loyalty/programme",
        "replace_loyalty_programme",
        Needs(Action::ConfigureLoyalty),
        |f| on(f, loyalty::replace_loyalty_programme),
    ),
    route(
        Get,
        "/api/v1/loyalty/bonus-rules",
        "get_bonus_rules",
        Needs(Action::ReadPoints),
        |f| on(f, bonus::get_bonus_rules),
    ),
    route(
        Put,
        "/api/v1/loyalty/bonus-rules",
        "replace_bonus_rules",
        Needs(Action::ConfigureLoyalty),
        |f| on(f, bonus::replace_bonus_rules),
    ),
    route(
        Post,
        "/api/v1/customers/{id}/loyalty/awards",
        "create_loyalty_award",
        Needs(Action::WriteEvents),
        |f| on(f, bonus::create_loyalty_award),
    ),
    route(
        Get,
        "/api/v1/customers/{id}/referral-code",
        "get_referral_code",
        Needs(Action::ReadCustomers),
        |f| on(f, bonus::get_referral_code),
    ),
    route(
        Post,
        "/api/v1/customers/{id}/referral-code",
        "create_referral_code",
        Needs(Action::WriteCustomers),
        |f| on(f, bonus::create_referral_code),
    ),
    route(
        Post,
        "/api/v1/customers/{id}/referred-by",
        "create_referred_by",
        Needs(Action::WriteCustomers),
        |f| on(f, bonus::create_referred_by),
    ),
    route(
        Get,
        "/api/v1/customers/{id}/referrals",
        "list_referrals",
        Needs(Action::ReadCustomers),
        |f| on(f, bonus::list_referrals),
    ),
    route(
        Get,
        "/api/v1/loyalty/tiers",
        "get_loyalty_tiers",
        Needs(Action::ReadPoints),
        |f| on(f, tiers::get_loyalty_tiers),
    ),
    route(
        Put,
        "/api/v1/loyalty/tiers",
        "replace_loyalty_tiers",
        Needs(Action::ConfigureLoyalty),
        |f| on(f, tiers::replace_loyalty_tiers),
    ),
    route(
        Post,
        "/api/v1/loyalty/simulate",
        "create_loyalty_simulation",
        Needs(Action::ReadPoints),
        |f| on(f, loyalty::create_loyalty_simulation),
    ),
    route(
        Get,
        "/api/v1/loyalty/rules",
        "list_loyalty_rules",
        Access::Roles(promotions::RULES_READERS),
        |f| on(f, promotions::list_loyalty_rules),
    ),
    route(
        Put,
        "/api/v1/loyalty/rules/base",
        "replace_loyalty_base_rule",
        Needs(Action::ConfigureLoyalty),
        |f| on(f, promotions::replace_loyalty_base_rule),
    ),
    route(
        Get,
        "/api/v1/loyalty/promotions",
        "list_promotions",
        Access::Roles(promotions::RULES_READERS),
        |f| on(f, promotions::list_promotions),
    ),
    route(
        Post,
        "/api/v1/loyalty/promotions",
        "create_promotion",
        Needs(Action::ConfigureLoyalty),
        |f| on(f, promotions::create_promotion),
    ),
    route(
        Get,
        "/api/v1/loyalty/promotions/{id}",
        "get_promotion",
        Access::Roles(promotions::RULES_READERS),
        |f| on(f, promotions::get_promotion),
    ),
    route(
        Put,
        "/api/v1/loyalty/promotions/{id}",
        "replace_promotion",
        Needs(Action::ConfigureLoyalty),
        |f| on(f, promotions::replace_promotion),
    ),
    route(
        Post,
        "/api/v1/loyalty/promotions/{id}/end",
        "create_promotion_end",
        Needs(Action::ConfigureLoyalty),
        |f| on(f, promotions::create_promotion_end),
    ),
    route(
        Get,
        "/api/v1/loyalty/promotions/{id}/versions",
        "list_promotion_versions",
        Access::Roles(promotions::RULES_READERS),
        |f| on(f, promotions::list_promotion_versions),
    ),
    route(
        Get,
        "/api/v1/loyalty/accounting/breakage",
        "list_breakage_estimates",
        Access::Roles(accounting::ACCOUNTING_ROLES),
        |f| on(f, accounting::list_breakage_estimates),
    ),
    route(
        Put,
        "/api/v1/loyalty/accounting/breakage",
        "replace_breakage_estimate",
        Needs(Action::ConfigureLoyalty),
        |f| on(f, accounting::replace_breakage_estimate),
    ),
    route(
        Get,
        "/api/v1/loyalty/accounting/rollforward",
        "get_liability_rollforward",
        Access::Roles(accounting::ACCOUNTING_ROLES),
        |f| on(f, accounting::get_liability_rollforward),
    ),
    route(
        Get,
        "/api/v1/loyalty/accounting/liability-by-expiry",
        "get_liability_by_expiry",
        Access::Roles(accounting::ACCOUNTING_ROLES),
        |f| on(f, accounting::get_liability_by_expiry),
    ),
    route(
        Get,
        "/api/v1/loyalty/accounting/journal.csv",
        "get_loyalty_journal",
        Access::Roles(accounting::ACCOUNTING_ROLES),
        |f| on(f, accounting::get_loyalty_journal),
    ),
    route(
        Post,
        "/api/v1/rewards",
        "create_reward",
        Needs(Action::ConfigureLoyalty),
        |f| on(f, rewards::create_reward),
    ),
    route(
        Get,
        "/api/v1/rewards",
        "list_rewards",
        Needs(Action::ReadPoints),
        |f| on(f, rewards::list_rewards),
    ),
    route(
        Get,
        "/api/v1/rewards/{id}",
        "get_reward",
        Needs(Action::ReadPoints),
        |f| on(f, rewards::get_reward),
    ),
    route(
        Post,
        "/api/v1/rewards/{id}/vouchers",
        "create_reward_vouchers",
        Needs(Action::ConfigureLoyalty),
        |f| on(f, rewards::create_reward_vouchers),
    ),
    route(
        Post,
        "/api/v1/webhooks",
        "create_webhook",
        Needs(Action::ManageWebhooks),
        |f| on(f, system::create_webhook),
    ),
    route(
        Get,
        "/api/v1/audit",
        "list_audit_entries",
        Needs(Action::ReadAudit),
        |f| on(f, system::list_audit_entries),
    ),
    Route {
        bench_only: true,
        ..route(
            Post,
            "/api/v1/bench/scratch",
            "create_bench_scratch",
            Needs(Action::WriteOrders),
            |f| on(f, system::create_bench_scratch),
        )
    },
    route(
        Get,
        "/api/v1/customers/{id}/predictions",
        "get_customer_predictions",
        Access::Roles(analytics::ANALYTICS_ROLES),
        |f| on(f, analytics::get_customer_predictions),
    ),
    route(
        Get,
        "/api/v1/analytics/kpis",
        "get_analytics_kpis",
        Access::Roles(analytics::ANALYTICS_ROLES),
        |f| on(f, analytics::get_kpis),
    ),
    route(
        Get,
        "/api/v1/analytics/rfm",
        "get_analytics_rfm",
        Access::Roles(analytics::ANALYTICS_ROLES),
        |f| on(f, analytics::get_rfm),
    ),
    route(
        Get,
        "/api/v1/analytics/cohorts",
        "get_analytics_cohorts",
        Access::Roles(analytics::ANALYTICS_ROLES),
        |f| on(f, analytics::get_cohorts),
    ),
    route(
        Post,
        "/api/v1/tickets",
        "create_ticket",
        Needs(Action::WorkTickets),
        |f| on(f, desk::create_ticket),
    ),
    route(
        Get,
        "/api/v1/tickets",
        "list_tickets",
        Needs(Action::ReadTickets),
        |f| on(f, desk::list_tickets),
    ),
    route(
        Get,
        "/api/v1/tickets/{id}",
        "get_ticket",
        Needs(Action::ReadTickets),
        |f| on(f, desk::get_ticket),
    ),
    route(
        Post,
        "/api/v1/tickets/{id}/messages",
        "create_ticket_message",
        Needs(Action::WorkTickets),
        |f| on(f, desk::create_ticket_message),
    ),
    route(
        Post,
        "/api/v1/tickets/{id}/notes",
        "create_ticket_note",
        Needs(Action::WorkTickets),
        |f| on(f, desk::create_ticket_note),
    ),
    route(
        Post,
        "/api/v1/tickets/{id}/status",
        "create_ticket_status_change",
        Needs(Action::WorkTickets),
        |f| on(f, desk::create_ticket_status_change),
    ),
    route(
        Post,
        "/api/v1/tickets/{id}/assignment",
        "create_ticket_assignment",
        Needs(Action::WorkTickets),
        |f| on(f, desk::create_ticket_assignment),
    ),
    route(
        Get,
        "/api/v1/calendars/{id}",
        "get_calendar",
        Needs(Action::ReadTickets),
        |f| on(f, desk::get_calendar),
    ),
    route(
        Put,
        "/api/v1/calendars/{id}",
        "replace_calendar",
        Needs(Action::ConfigureDesk),
        |f| on(f, desk::replace_calendar),
    ),
    route(
        Get,
        "/api/v1/sla/policies",
        "list_sla_policies",
        Needs(Action::ReadTickets),
        |f| on(f, desk::list_sla_policies),
    ),
    route(
        Put,
        "/api/v1/sla/policies",
        "replace_sla_policies",
        Needs(Action::ConfigureDesk),
        |f| on(f, desk::replace_sla_policies),
    ),
    route(
        Post,
        "/api/v1/sla/preview",
        "create_sla_preview",
        Needs(Action::ConfigureDesk),
        |f| on(f, desk::create_sla_preview),
    ),
    route(
        Post,
        "/api/v1/tickets/{id}/replies",
        "create_ticket_reply",
        Needs(Action::WorkTickets),
        |f| on(f, desk::create_ticket_reply),
    ),
    route(
        Post,
        "/api/v1/tickets/{id}/compensation",
        "create_ticket_compensation",
        Needs(Action::WorkTickets),
        |f| on(f, desk::create_ticket_compensation),
    ),
    route(
        Get,
        "/api/v1/templates",
        "list_templates",
        Needs(Action::ReadTickets),
        |f| on(f, desk::list_templates),
    ),
    route(
        Put,
        "/api/v1/templates/{key}",
        "replace_template",
        Needs(Action::ConfigureDesk),
        |f| on(f, desk::replace_template),
    ),
    route(
        Post,
        "/api/v1/kb/articles",
        "create_kb_article",
        Needs(Action::ConfigureDesk),
        |f| on(f, desk::create_kb_article),
    ),
    route(
        Post,
        "/api/v1/desk/classify",
        "create_classification",
        Access::Roles(desk::CLASSIFY_ROLES),
        |f| on(f, desk::create_classification),
    ),
    route(
        Get,
        "/api/v1/desk/agents",
        "list_desk_agents",
        Needs(Action::ReadTickets),
        |f| on(f, desk::list_desk_agents),
    ),
    route(
        Put,
        "/api/v1/desk/agents/{handle}",
        "replace_desk_agent",
        Needs(Action::ConfigureDesk),
        |f| on(f, desk::replace_desk_agent),
    ),
    route(
        Get,
        "/api/v1/desk/teams",
        "list_desk_teams",
        Needs(Action::ReadTickets),
        |f| on(f, desk_teams::list_desk_teams),
    ),
    route(
        Put,
        "/api/v1/desk/teams/{name}",
        "replace_desk_team",
        Needs(Action::ConfigureDesk),
        |f| on(f, desk_teams::replace_desk_team),
    ),
    route(
        Post,
        "/api/v1/tickets/{id}/tags",
        "create_ticket_tag_change",
        Access::Roles(desk_teams::TEAM_WORK_ROLES),
        |f| on(f, desk_teams::create_ticket_tag_change),
    ),
    route(
        Post,
        "/api/v1/tickets/{id}/handoff",
        "create_ticket_handoff",
        Access::Roles(desk_teams::TEAM_WORK_ROLES),
        |f| on(f, desk_teams::create_ticket_handoff),
    ),
    route(
        Get,
        "/api/v1/kb/articles",
        "list_kb_articles",
        Needs(Action::ReadTickets),
        |f| on(f, desk::list_kb_articles),
    ),
    route(
        Post,
        "/api/v1/tickets/{id}/merge",
        "create_ticket_merge",
        Access::Roles(desk_ops::REORGANISE_ROLES),
        |f| on(f, desk_ops::create_ticket_merge),
    ),
    route(
        Post,
        "/api/v1/tickets/{id}/split",
        "create_ticket_split",
        Access::Roles(desk_ops::REORGANISE_ROLES),
        |f| on(f, desk_ops::create_ticket_split),
    ),
    route(
        Post,
        "/api/v1/tickets/{id}/csat",
        "create_ticket_csat",
        Needs(Action::WorkTickets),
        |f| on(f, desk_ops::create_ticket_csat),
    ),
    route(
        Post,
        "/api/v1/tickets/{id}/csat/link",
        "create_ticket_csat_link",
        Needs(Action::WorkTickets),
        |f| on(f, desk_ops::create_ticket_csat_link),
    ),
    route(
        Get,
        "/api/v1/desk/csat/{token}",
        "get_csat_survey",
        Access::Token,
        |f| on(f, desk_ops::get_csat_survey),
    ),
    route(
        Post,
        "/api/v1/desk/csat/{token}",
        "create_csat_rating",
        Access::Token,
        |f| on(f, desk_ops::create_csat_rating),
    ),
    route(
        Post,
        "/api/v1/desk/ab-tests",
        "create_ab_test",
        Needs(Action::ConfigureDesk),
        |f| on(f, desk_ops::create_ab_test),
    ),
    route(
        Get,
        "/api/v1/desk/ab-tests",
        "list_ab_tests",
        Access::Roles(desk_ops::REPORT_ROLES),
        |f| on(f, desk_ops::list_ab_tests),
    ),
    route(
        Get,
        "/api/v1/desk/ab-tests/{id}",
        "get_ab_test",
        Access::Roles(desk_ops::REPORT_ROLES),
        |f| on(f, desk_ops::get_ab_test),
    ),
    route(
        Post,
        "/api/v1/desk/ab-tests/{id}/stop",
        "create_ab_test_stop",
        Needs(Action::ConfigureDesk),
        |f| on(f, desk_ops::create_ab_test_stop),
    ),
    route(
        Get,
        "/api/v1/desk/kpis",
        "get_desk_kpis",
        Access::Roles(desk_ops::REPORT_ROLES),
        |f| on(f, desk_ops::get_desk_kpis),
    ),
    route(
        Get,
        "/api/v1/desk/trends",
        "get_desk_trends",
        Access::Roles(desk_ops::REPORT_ROLES),
        |f| on(f, desk_ops::get_desk_trends),
    ),
    route(
        Put,
        "/api/v1/channels/line",
        "replace_line_channel",
        Needs(Action::ConfigureDesk),
        |f| on(f, line::replace_line_channel),
    ),
    route(
        Post,
        "/api/v1/channels/line/webhook",
        "create_line_webhook_delivery",
        Access::Signed,
        |f| on(f, line::create_line_webhook_delivery),
    ),
    route(
        Post,
        "/api/v1/desk/inbound/email",
        "create_inbound_email",
        Access::Roles(INBOUND_EMAIL_ROLES),
        |f| {
            on(f, email::create_inbound_email)
                .layer(DefaultBodyLimit::max(email::INBOUND_EMAIL_BYTES_MAX))
        },
    ),
    route(
        Get,
        "/api/v1/desk/inbound/email/quarantine",
        "list_quarantined_emails",
        Needs(Action::ConfigureDesk),
        |f| on(f, email::list_quarantined_emails),
    ),
    route(
        Get,
        "/api/v1/desk/inbound/email/quarantine/{id}",
        "get_quarantined_email",
        Needs(Action::ConfigureDesk),
        |f| on(f, email::get_quarantined_email),
    ),
    route(
        Get,
        "/api/v1/tickets/{id}/attachments",
        "list_ticket_attachments",
        Needs(Action::ReadTickets),
        |f| on(f, email::list_ticket_attachments),
    ),
    route(
        Get,
        "/api/v1/tickets/{id}/attachments/{attachment_id}",
        "get_ticket_attachment",
        Needs(Action::ReadTickets),
        |f| on(f, email::get_ticket_attachment),
    ),
    route(
        Get,
        "/api/v1/openapi.json",
        "get_openapi",
        Access::Public,
        |f| on(f, system::get_openapi),
    ),
    route(Get, "/healthz", "get_health", Access::Public, |f| {
        on(f, system::get_health)
    }),
    route(
        Get,
        "/metrics",
        "get_metrics",
        Access::Roles(METRICS_ROLES),
        |f| on(f, system::get_metrics),
    ),
];

/// The row for a request's method and matched path.
pub(crate) fn find(method: &Method, path: &str) -> Option<&'static Route> {
    ROUTES
        .iter()
        .find(|r| r.verb.method() == method && r.path == path)
}

/// The router: the table's routes, then (innermost first) idempotency, authorisation,
/// the body limit and the per-request span, metrics and log.
pub(crate) fn build(state: ApiState, options: ApiOptions) -> Router {
    let mut router = Router::new();
    for r in ROUTES
        .iter()
        .filter(|r| options.bench_scratch || !r.bench_only)
    {
        router = router.route(r.path, (r.handler)(r.verb.filter()));
    }
    router
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            idempotency::layer,
        ))
        .route_layer(middleware::from_fn_with_state(state.clone(), authorize))
        .fallback(|| async { ApiError::new(ErrorCode::RouteNotFound) })
        .method_not_allowed_fallback(|| async { ApiError::new(ErrorCode::MethodNotAllowed) })
        .layer(DefaultBodyLimit::max(crate::REQUEST_BODY_BYTES_MAX))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            observe::layer,
        ))
        .with_state(state)
}

/// The bearer token of a request, if it has one.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Authenticates the key and checks its role against the route's row. A route missing
/// from the table is refused, never served.
async fn authorize(State(state): State<ApiState>, mut req: Request, next: Next) -> Response {
    let Some(matched) = req.extensions().get::<MatchedPath>() else {
        return ApiError::new(ErrorCode::Forbidden).into_response();
    };
    let Some(route) = find(req.method(), matched.as_str()) else {
        return ApiError::new(ErrorCode::Forbidden).into_response();
    };
    if matches!(
        route.access,
        Access::Public | Access::Signed | Access::Token
    ) {
        return next.run(req).await;
    }
    let Some(token) = bearer(req.headers()).map(str::to_owned) else {
        return ApiError::new(ErrorCode::Unauthenticated).into_response();
    };
    let app = state.app.clone();
    let principal = match blocking(move || app.authenticate(&token)).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    if !route.access.allows(principal.role) {
        return ApiError::new(ErrorCode::Forbidden).into_response();
    }
    req.extensions_mut().insert(principal);
    next.run(req).await
}

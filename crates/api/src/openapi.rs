//! The OpenAPI 3.1 document, generated from the handlers' annotations and the request and
//! response types, then completed from the route table: bearer security and the 401/403
//! problems on every route that needs a key, and the problem envelope as every operation's
//! default response.

use crate::error::{FieldProblem, Problem};
use crate::idempotency::IDEMPOTENCY_KEY_BYTES_MAX;
use crate::routes::{Access, ROUTES, Verb};
use crate::{
    accounting, analytics, bonus, customers, desk, desk_ops, desk_teams, email, line, loyalty,
    orders, points, promotions, rewards, system, tiers,
};
use std::sync::OnceLock;
use utoipa::OpenApi;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, Required, ResponseBuilder};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Patron",
        description = "Loyalty and customer care. Errors are RFC 9457 problem details with a stable `code`; \
                       every POST takes an optional `Idempotency-Key` header; lists are cursor-paginated.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        customers::create_customer,
        customers::list_customers,
        customers::get_customer,
        orders::create_order,
        orders::get_order,
        orders::create_refund,
        orders::create_event,
        points::get_points,
        points::get_points_statement,
        points::create_points_correction,
        loyalty::create_points_hold,
        loyalty::create_points_hold_commit,
        loyalty::create_points_hold_release,
        loyalty::get_loyalty,
        loyalty::replace_loyalty_tier,
        loyalty::list_loyalty_lots,
        loyalty::create_loyalty_simulation,
        loyalty::get_loyalty_programme,
        loyalty::replace_loyalty_programme,
        promotions::list_loyalty_rules,
        promotions::replace_loyalty_base_rule,
        promotions::list_promotions,
        promotions::create_promotion,
        promotions::get_promotion,
        promotions::replace_promotion,
        promotions::create_promotion_end,
        promotions::list_promotion_versions,
        bonus::get_bonus_rules,
        bonus::replace_bonus_rules,
        bonus::create_loyalty_award,
        bonus::get_referral_code,
        bonus::create_referral_code,
        bonus::create_referred_by,
        bonus::list_referrals,
        tiers::get_loyalty_tiers,
        tiers::replace_loyalty_tiers,
        tiers::create_loyalty_membership,
        tiers::create_loyalty_membership_renewal,
        tiers::create_loyalty_membership_cancellation,
        accounting::list_breakage_estimates,
        accounting::replace_breakage_estimate,
        accounting::get_liability_rollforward,
        accounting::get_liability_by_expiry,
        accounting::get_loyalty_journal,
        rewards::create_redemption_cancellation,
        rewards::create_reward_redemption,
        rewards::create_reward,
        rewards::list_rewards,
        rewards::get_reward,
        rewards::create_reward_vouchers,
        system::create_webhook,
        system::list_audit_entries,
        system::create_bench_scratch,
        system::get_openapi,
        system::get_health,
        system::get_metrics,
        analytics::get_customer_predictions,
        analytics::get_kpis,
        analytics::get_rfm,
        analytics::get_cohorts,
        desk::create_ticket,
        desk::list_tickets,
        desk::get_ticket,
        desk::create_ticket_message,
        desk::create_ticket_note,
        desk::create_ticket_status_change,
        desk::create_ticket_assignment,
        desk::get_calendar,
        desk::replace_calendar,
        desk::list_sla_policies,
        desk::replace_sla_policies,
        desk::create_sla_preview,
        desk::create_ticket_reply,
        desk::create_ticket_compensation,
        desk::list_templates,
        desk::replace_template,
        desk::create_kb_article,
        desk::list_kb_articles,
        desk::create_classification,
        desk::list_desk_agents,
        desk::replace_desk_agent,
        desk_teams::list_desk_teams,
        desk_teams::replace_desk_team,
        desk_teams::create_ticket_tag_change,
        desk_teams::create_ticket_handoff,
        desk_ops::create_ticket_merge,
        desk_ops::create_ticket_split,
        desk_ops::create_ticket_csat,
        desk_ops::create_ticket_csat_link,
        desk_ops::get_csat_survey,
        desk_ops::create_csat_rating,
        desk_ops::create_ab_test,
        desk_ops::list_ab_tests,
        desk_ops::get_ab_test,
        desk_ops::create_ab_test_stop,
        desk_ops::get_desk_kpis,
        desk_ops::get_desk_trends,
        line::replace_line_channel,
        line::create_line_webhook_delivery,
        email::create_inbound_email,
        email::list_quarantined_emails,
        email::get_quarantined_email,
        email::list_ticket_attachments,
        email::get_ticket_attachment,
    ),
    components(schemas(Problem, FieldProblem)),
    modifiers(&FromRouteTable),
)]
struct ApiDoc;

/// Completes the generated document from [`ROUTES`].
struct FromRouteTable;

/// Name of the security scheme.
const BEARER: &str = "bearer";

fn problem(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            crate::error::PROBLEM_JSON,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
}

/// The optional `Idempotency-Key` header every POST takes.
fn idempotency_key() -> Parameter {
    ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "Replays the first response to a retry with the same request; \
             the same key with another request answers 422 idempotency_key_reused.",
        ))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(IDEMPOTENCY_KEY_BYTES_MAX)),
        ))
        .build()
}

impl utoipa::Modify for FromRouteTable {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API key: `ptr_<prefix>_<secret>`."))
                    .build(),
            ),
        );
        for route in ROUTES {
            let Some(item) = doc.paths.paths.get_mut(route.path) else {
                continue;
            };
            let operation = match route.verb {
                Verb::Get => item.get.as_mut(),
                Verb::Post => item.post.as_mut(),
                Verb::Put => item.put.as_mut(),
            };
            let Some(operation) = operation else { continue };
            operation.operation_id = Some(route.operation_id.to_owned());
            let responses = &mut operation.responses.responses;
            if !matches!(
                route.access,
                Access::Public | Access::Signed | Access::Token
            ) {
                operation.security =
                    Some(vec![SecurityRequirement::new(BEARER, Vec::<String>::new())]);
                responses.insert(
                    "401".to_owned(),
                    problem("unauthenticated: missing or invalid key").into(),
                );
                responses.insert(
                    "403".to_owned(),
                    problem("forbidden: the key's role may not do this").into(),
                );
            }
            responses.insert(
                "default".to_owned(),
                problem("Any other error, as problem details").into(),
            );
            if route.verb == Verb::Post && route.access != Access::Signed {
                operation
                    .parameters
                    .get_or_insert_with(Vec::new)
                    .push(idempotency_key());
            }
        }
    }
}

/// The document as served.
pub(crate) fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The document's JSON, built once per process.
pub(crate) fn document_json() -> String {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        document()
            .to_pretty_json()
            .expect("the document serializes")
    })
    .clone()
}

//! Customers: create (or find the same one again), read one, list with a cursor. Also the
//! JSON shapes of identities and of a customer reference, shared with the intake routes.

use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery, Caller, blocking};
use crate::page::{self, PageQuery};
use crate::{ApiState, error::Problem};
use app::customers::{Created, CustomerInput, CustomerView};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use domain::IdentityKind;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A customer's identities in a request: at most one of each kind.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct IdentitiesBody {
    /// The shop's own customer id (e-commerce platform or POS).
    pub(crate) shop_customer_id: Option<String>,
    pub(crate) email: Option<String>,
    /// E.164, or a Taiwanese number.
    pub(crate) phone: Option<String>,
    pub(crate) line_user_id: Option<String>,
}

impl IdentitiesBody {
    fn pairs(&self) -> Vec<(IdentityKind, String)> {
        [
            (IdentityKind::ShopCustomerId, &self.shop_customer_id),
            (IdentityKind::Email, &self.email),
            (IdentityKind::Phone, &self.phone),
            (IdentityKind::LineUserId, &self.line_user_id),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k, v)))
        .collect()
    }
}

/// `POST /customers`: identities (at least one) and an optional profile.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CustomerBody {
    pub(crate) identities: IdentitiesBody,
    pub(crate) name: Option<String>,
    /// `YYYY-MM-DD`, a local date in the customer's time zone.
    pub(crate) birthday: Option<String>,
    /// `zh-TW` (default) or `en`.
    pub(crate) locale: Option<String>,
    /// IANA zone, default `Asia/Taipei`.
    pub(crate) time_zone: Option<String>,
    /// A member's referral code: the customer is registered as referred by them (a malformed
    /// or unknown code, or the referrer themselves — `self_referral` — refuses the request;
    /// nothing is written).
    pub(crate) referral_code: Option<String>,
}

impl CustomerBody {
    pub(crate) fn input(&self) -> CustomerInput {
        CustomerInput {
            identities: self.identities.pairs(),
            name: self.name.clone(),
            birthday: self.birthday.clone(),
            locale: self.locale.clone(),
            time_zone: self.time_zone.clone(),
        }
    }
}

/// How an intake request names its customer: either `{"id": …}` (Patron's id, must exist)
/// or identities with an optional profile (found, or created when none is known).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CustomerRefBody {
    pub(crate) id: Option<i64>,
    pub(crate) identities: Option<IdentitiesBody>,
    pub(crate) name: Option<String>,
    pub(crate) birthday: Option<String>,
    pub(crate) locale: Option<String>,
    pub(crate) time_zone: Option<String>,
}

impl CustomerRefBody {
    /// The reference; `field` is where it sits in the body, for the error.
    pub(crate) fn reference(&self, field: &str) -> Result<app::intake::CustomerRef, ApiError> {
        let described = self.identities.is_some()
            || self.name.is_some()
            || self.birthday.is_some()
            || self.locale.is_some()
            || self.time_zone.is_some();
        match (self.id, described) {
            (Some(id), false) => Ok(app::intake::CustomerRef::Id(id)),
            (None, true) => Ok(app::intake::CustomerRef::Described(CustomerInput {
                identities: self
                    .identities
                    .as_ref()
                    .map(IdentitiesBody::pairs)
                    .unwrap_or_default(),
                name: self.name.clone(),
                birthday: self.birthday.clone(),
                locale: self.locale.clone(),
                time_zone: self.time_zone.clone(),
            })),
            (Some(_), true) => Err(ApiError::field(
                field,
                "give either id or identities, not both",
            )),
            (None, false) => Err(ApiError::field(field, "needs an id or identities")),
        }
    }
}

/// A customer's identities in a response: every value of each kind.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub(crate) struct IdentitiesView {
    pub(crate) shop_customer_id: Vec<String>,
    pub(crate) email: Vec<String>,
    pub(crate) phone: Vec<String>,
    pub(crate) line_user_id: Vec<String>,
}

/// A customer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct CustomerResponse {
    pub(crate) id: i64,
    pub(crate) name: Option<String>,
    pub(crate) birthday: Option<String>,
    pub(crate) locale: String,
    pub(crate) time_zone: String,
    pub(crate) identities: IdentitiesView,
    pub(crate) points_balance: i64,
    /// RFC 3339, UTC.
    pub(crate) created_at: String,
}

impl From<CustomerView> for CustomerResponse {
    fn from(c: CustomerView) -> Self {
        let mut identities = IdentitiesView::default();
        for i in c.identities {
            let list = match i.kind {
                IdentityKind::ShopCustomerId => &mut identities.shop_customer_id,
                IdentityKind::Email => &mut identities.email,
                IdentityKind::Phone => &mut identities.phone,
                IdentityKind::LineUserId => &mut identities.line_user_id,
            };
            list.push(i.value);
        }
        CustomerResponse {
            id: c.id,
            name: c.name,
            birthday: c.birthday,
            locale: c.locale,
            time_zone: c.time_zone,
            identities,
            points_balance: c.points_balance,
            created_at: c.created_at.to_string(),
        }
    }
}

/// A page of customers.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CustomerPage {
    pub(crate) items: Vec<CustomerResponse>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub(crate) next_cursor: Option<String>,
}

const CUSTOMER_CURSOR: &str = "customers";

/// Creates a customer; the same customer again answers 200 with it.
#[utoipa::path(post, path = "/api/v1/customers", tag = "customers",
    request_body = CustomerBody,
    responses(
        (status = 201, description = "Created", body = CustomerResponse),
        (status = 200, description = "The same customer existed", body = CustomerResponse),
        (status = 409, description = "identity_conflict or customer_conflict", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid_field, or self_referral: the referral code is the customer's own (the same member or one of their identities)", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn create_customer(
    State(state): State<ApiState>,
    Caller(who): Caller,
    ApiJson(body): ApiJson<CustomerBody>,
) -> Result<(StatusCode, Json<CustomerResponse>), ApiError> {
    let input = body.input();
    let app = state.app.clone();
    let (view, created) =
        blocking(move || app.create_customer_referred(&who, &input, body.referral_code.as_deref()))
            .await?;
    let status = match created {
        Created::New => StatusCode::CREATED,
        Created::Existing => StatusCode::OK,
    };
    Ok((status, Json(view.into())))
}

/// One customer.
#[utoipa::path(get, path = "/api/v1/customers/{id}", tag = "customers",
    params(("id" = i64, Path, description = "Patron's customer id")),
    responses((status = 200, description = "The customer", body = CustomerResponse)))]
pub(crate) async fn get_customer(
    State(state): State<ApiState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<CustomerResponse>, ApiError> {
    let app = state.app.clone();
    Ok(Json(blocking(move || app.customer(id)).await?.into()))
}

/// Customers in id order, a page at a time.
#[utoipa::path(get, path = "/api/v1/customers", tag = "customers",
    params(PageQuery),
    responses((status = 200, description = "A page of customers", body = CustomerPage)))]
pub(crate) async fn list_customers(
    State(state): State<ApiState>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<CustomerPage>, ApiError> {
    let limit = query.limit()?;
    let [after] = query.position(CUSTOMER_CURSOR, [0])?;
    let app = state.app.clone();
    let (items, more) = blocking(move || {
        let mut ids = app.customer_ids(after, limit + 1)?;
        let more = ids.len() as i64 > limit;
        ids.truncate(limit as usize);
        let items = ids
            .into_iter()
            .map(|id| app.customer(id))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((items, more))
    })
    .await?;
    let next_cursor = more
        .then(|| items.last().map(|c| page::encode(CUSTOMER_CURSOR, [c.id])))
        .flatten();
    Ok(Json(CustomerPage {
        items: items.into_iter().map(Into::into).collect(),
        next_cursor,
    }))
}

//! Staff accounts, managed by `hq_admin`: a username, a password (kept as its argon2id
//! hash), a role and what the role is bound to (stores, a partner).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use tongjia_domain::access::{Binding, Role, check_password};
use tongjia_domain::codes::{LocationCode, PartnerCode};
use tongjia_storage::{AccountPatch, AccountRecord};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{IdempotencyKey, PageView, Paging, to_json};
use crate::AppState;
use crate::auth::secrets;
use crate::extract::{Mutation, Params};
use crate::problem::{ApiError, ApiResult, Problem};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_account, list_accounts)).routes(routes!(get_account, update_account))
}

/// A staff account as shown (never its password).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AccountView {
    username: String,
    role: String,
    stores: Vec<String>,
    partner_code: Option<String>,
    disabled: bool,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl From<&AccountRecord> for AccountView {
    fn from(a: &AccountRecord) -> Self {
        AccountView {
            username: a.username.clone(),
            role: a.binding.role().as_str().to_owned(),
            stores: a.binding.stores().iter().map(|s| s.to_string()).collect(),
            partner_code: a.binding.partner().map(|p| p.to_string()),
            disabled: a.disabled,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AccountInput {
    username: String,
    /// 10–128 characters.
    password: String,
    /// `hq_admin`, `pricing`, `merchandiser`, `store_staff` or `partner` (customers sign
    /// in with a code sent to their mobile).
    role: String,
    /// The stores a `store_staff` account works at.
    #[serde(default)]
    stores: Vec<String>,
    /// The partner of a `partner` account.
    partner_code: Option<String>,
}

fn staff_role(raw: &str) -> ApiResult<Role> {
    let role = Role::parse(raw)?;
    if role == Role::Customer {
        return Err(ApiError::field("role", "invalid_role", "customers are members by mobile, not accounts"));
    }
    Ok(role)
}

fn binding(role: Role, stores: &[String], partner: Option<&str>) -> ApiResult<Binding> {
    let stores = stores.iter().map(|s| LocationCode::parse(s).map_err(|e| e.at("stores"))).collect::<Result<Vec<_>, _>>()?;
    let partner = partner.map(PartnerCode::parse).transpose()?;
    Ok(Binding::new(role, stores, partner)?)
}

fn render(a: &AccountRecord) -> String {
    to_json(&AccountView::from(a))
}

#[utoipa::path(post, path = "/api/v1/accounts", tag = "access", request_body = AccountInput, params(IdempotencyKey),
    responses((status = 201, body = AccountView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_account(State(app): State<AppState>, m: Mutation<AccountInput>) -> ApiResult<Response> {
    let b = &m.body;
    let binding = binding(staff_role(&b.role)?, &b.stores, b.partner_code.as_deref())?;
    check_password(&b.password)?;
    tongjia_domain::access::check_username(&b.username)?;
    let hash = secrets::hash_password(&b.password).await;
    Ok(app.mutate(&m, StatusCode::CREATED, &render, async |idem| app.db.create_account(&b.username, binding, hash, idem).await).await)
}

#[utoipa::path(get, path = "/api/v1/accounts", tag = "access", params(Paging), responses((status = 200, body = PageView<AccountView>)))]
async fn list_accounts(State(app): State<AppState>, Params(p): Params<Paging>) -> ApiResult<Json<PageView<AccountView>>> {
    let page = app.db.accounts(&p.request()).await?;
    Ok(Json(PageView::of(page, |a| AccountView::from(&a))))
}

#[utoipa::path(get, path = "/api/v1/accounts/{username}", tag = "access", responses((status = 200, body = AccountView), (status = 404, body = Problem)))]
async fn get_account(State(app): State<AppState>, Path(username): Path<String>) -> ApiResult<Json<AccountView>> {
    let a = app.db.account(&username).await?.ok_or_else(|| ApiError::not_found("account_not_found", format!("no account {username}")))?;
    Ok(Json(AccountView::from(&a)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AccountPatchInput {
    /// A new password (ends the account's sessions).
    password: Option<String>,
    /// A new role; give its stores or partner with it.
    role: Option<String>,
    stores: Option<Vec<String>>,
    partner_code: Option<String>,
    /// True disables the account at once: its sessions end and its tokens stop working.
    disabled: Option<bool>,
}

#[utoipa::path(patch, path = "/api/v1/accounts/{username}", tag = "access", request_body = AccountPatchInput, params(IdempotencyKey),
    responses((status = 200, body = AccountView), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn update_account(State(app): State<AppState>, Path(username): Path<String>, m: Mutation<AccountPatchInput>) -> ApiResult<Response> {
    let b = &m.body;
    let current =
        app.db.account(&username).await?.ok_or_else(|| ApiError::not_found("account_not_found", format!("no account {username}")))?;
    let rebinds = b.role.is_some() || b.stores.is_some() || b.partner_code.is_some();
    let new_binding = if rebinds {
        let role = match &b.role {
            Some(r) => staff_role(r)?,
            None => current.binding.role(),
        };
        let stores = b.stores.clone().unwrap_or_else(|| current.binding.stores().iter().map(|s| s.to_string()).collect());
        let partner = b.partner_code.clone().or_else(|| current.binding.partner().map(|p| p.to_string()));
        let partner = if role == Role::Partner { partner } else { b.partner_code.clone() };
        Some(binding(role, &stores, partner.as_deref())?)
    } else {
        None
    };
    let password_hash = match &b.password {
        Some(p) => {
            check_password(p)?;
            Some(secrets::hash_password(p).await)
        }
        None => None,
    };
    let patch = AccountPatch { binding: new_binding, password_hash, disabled: b.disabled };
    Ok(app.mutate(&m, StatusCode::OK, &render, async |idem| app.db.update_account(&username, patch, idem).await).await)
}

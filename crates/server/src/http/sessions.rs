//! Signing in and out, and API tokens. A staff member signs in with username and password
//! and gets an HTTP-only, SameSite=Strict session cookie plus a CSRF token that every change
//! made with the cookie must carry in `X-CSRF-Token`; a machine uses an API token
//! (`Authorization: Bearer …`), shown once when made and kept only as a digest.
//!
//! These are not replayable under an `Idempotency-Key`: an answer holding a secret is never
//! stored. Signing in again makes another session; a second token can be revoked.

use axum::Json;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use tongjia_domain::access::{self, Principal, Role, TokenScope};
use tongjia_storage::{AuditEntry, PageRequest, TokenRecord};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::PageView;
use crate::AppState;
use crate::auth::{Caller, SESSION_COOKIE, account_principal, issue_token, secrets, session_secret};
use crate::extract::{Mutation, Params};
use crate::problem::{ApiError, ApiResult, Problem};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sign_in))
        .routes(routes!(current, sign_out))
        .routes(routes!(create_token, list_tokens))
        .routes(routes!(revoke_token))
}

/// No body (or `{}`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Empty {}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignInInput {
    username: String,
    password: String,
}

/// Who is signed in, and how.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PrincipalView {
    /// `account:<username>` or `member:<mobile>`.
    id: String,
    name: String,
    /// `hq_admin`, `pricing`, `merchandiser`, `store_staff`, `partner` or `customer`.
    role: String,
    /// The stores a `store_staff` account works at.
    stores: Vec<String>,
    /// The partner a `partner` account belongs to.
    partner_code: Option<String>,
    /// True for a read-only token.
    read_only: bool,
    /// The session's CSRF token (send it in `X-CSRF-Token` with every change), for a
    /// session; null for a token.
    csrf_token: Option<String>,
    /// When the session ends (null for a token).
    expires_at: Option<Timestamp>,
}

impl PrincipalView {
    pub(crate) fn new(p: &Principal, csrf_token: Option<String>, expires_at: Option<Timestamp>) -> Self {
        PrincipalView {
            id: p.id.clone(),
            name: p.name.clone(),
            role: p.role().as_str().to_owned(),
            stores: p.binding.stores().iter().map(|s| s.to_string()).collect(),
            partner_code: p.binding.partner().map(|c| c.to_string()),
            read_only: p.read_only,
            csrf_token,
            expires_at,
        }
    }
}

/// The caller's address: as the connection saw it (`unknown` when served without one), or,
/// for a connection from a trusted proxy, the client its `X-Forwarded-For` names.
pub(crate) struct Peer(pub String);

impl axum::extract::FromRequestParts<AppState> for Peer {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut axum::http::request::Parts, app: &AppState) -> Result<Self, ApiError> {
        let Some(ConnectInfo(addr)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() else {
            return Ok(Peer("unknown".to_owned()));
        };
        let forwarded = parts.headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).collect::<Vec<_>>().join(",");
        Ok(Peer(client_address(addr.ip(), &forwarded, &app.trusted_proxies).to_string()))
    }
}

/// The client behind `peer`: `peer` itself unless it is a trusted proxy; then, walking
/// `X-Forwarded-For` from its end (each proxy appends the address it heard from), the first
/// address that is not a trusted proxy. An entry that does not parse stops the walk there
/// (anything left of it may be made up by the client).
pub(crate) fn client_address(peer: std::net::IpAddr, forwarded: &str, trusted: &[std::net::IpAddr]) -> std::net::IpAddr {
    let mut client = peer;
    if !trusted.contains(&peer) {
        return client;
    }
    for entry in forwarded.rsplit(',').map(str::trim).filter(|e| !e.is_empty()) {
        match entry.parse::<std::net::IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !trusted.contains(&ip) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    client
}

/// A `Set-Cookie` for the session secret (or, with None, one that removes it).
pub(crate) fn session_cookie(secret: Option<&str>, max_age: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text = match secret {
        Some(s) => format!("{SESSION_COOKIE}={s}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"),
        None => format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    };
    HeaderValue::from_str(&text).expect("a cookie of hex digits")
}

/// An answer no cache keeps (it carries a secret).
fn no_store(mut res: Response) -> Response {
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// A new session: its secret (the cookie's value), CSRF token and end.
pub(crate) struct NewSession {
    pub(crate) secret: String,
    pub(crate) csrf: String,
    pub(crate) expires_at: Timestamp,
}

/// Starts a session for `principal`; `asked` is the sign-in request, recorded in the audit
/// trail as the principal's.
pub(crate) async fn start_session(app: &AppState, principal: &Principal, asked: &AuditEntry) -> ApiResult<NewSession> {
    let audit = AuditEntry { principal: principal.id.clone(), role: principal.role().as_str().to_owned(), ..asked.clone() };
    let secret = secrets::random_secret("tjs_");
    let csrf = secrets::random_secret("");
    let expires_at = app.db.now().checked_add(SignedDuration::from_secs(access::SESSION_SECS)).unwrap_or(Timestamp::MAX);
    app.db.start_session(&secrets::digest(&secret), &principal.id, &csrf, expires_at, Some(&audit)).await?;
    Ok(NewSession { secret, csrf, expires_at })
}

/// Starts a session for `principal` and answers with its cookie and view.
pub(crate) async fn open_session(app: &AppState, principal: &Principal, asked: &AuditEntry) -> ApiResult<Response> {
    let s = start_session(app, principal, asked).await?;
    let mut res = (StatusCode::CREATED, Json(PrincipalView::new(principal, Some(s.csrf), Some(s.expires_at)))).into_response();
    res.headers_mut().insert(header::SET_COOKIE, session_cookie(Some(&s.secret), access::SESSION_SECS, app.secure_cookies));
    Ok(no_store(res))
}

/// Checks a username and password from `address`, within the limits on failed tries: the
/// account's principal, or (inner `Err`) the seconds to wait before trying again.
pub(crate) async fn authenticate(app: &AppState, username: &str, password: &str, address: &str) -> ApiResult<Result<Principal, i64>> {
    let since = app.db.now().checked_sub(SignedDuration::from_secs(access::LOGIN_WINDOW_SECS)).unwrap_or(Timestamp::MIN);
    // Counted as a failure before the password is checked, and taken back if it is right:
    // sign-ins tried at once cannot all slip past the limit while each is checked.
    let claim = match app.db.claim_sign_in(username, address, since, access::sign_in_allowed).await? {
        Ok(claim) => claim,
        Err(wait) => return Ok(Err(wait)),
    };
    let account = app.db.account(username).await?;
    let matches = secrets::verify_password(password, account.as_ref().map(|a| a.password_hash.as_str())).await;
    let known = account.is_some();
    let account = account.filter(|a| matches && !a.disabled);
    let Some(account) = account else {
        // An account's name only: text that names no account may be a password typed in
        // the wrong field.
        if known {
            tracing::warn!(%username, %address, "sign-in failed");
        } else {
            tracing::warn!(%address, "sign-in failed: no such username");
        }
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "invalid_credentials", "the username or password is wrong"));
    };
    app.db.sign_in_succeeded(claim).await?;
    tracing::info!(username = %account.username, %address, "signed in");
    Ok(Ok(account_principal(&account, false)))
}

/// The refusal of a sign-in tried too often.
pub(crate) fn too_many_sign_ins(wait: i64) -> Response {
    let mut res = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_sign_ins", "too many failed sign-ins: wait before trying again")
        .into_response();
    res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait));
    res
}

#[utoipa::path(post, path = "/api/v1/sessions", tag = "access", request_body = SignInInput,
    responses((status = 201, body = PrincipalView, headers(("Set-Cookie" = String, description = "the session cookie"))),
        (status = 401, body = Problem), (status = 429, body = Problem)))]
async fn sign_in(State(app): State<AppState>, Peer(address): Peer, m: Mutation<SignInInput>) -> ApiResult<Response> {
    match authenticate(&app, &m.body.username, &m.body.password, &address).await? {
        Ok(principal) => open_session(&app, &principal, &m.audit).await,
        Err(wait) => Ok(too_many_sign_ins(wait)),
    }
}

#[utoipa::path(get, path = "/api/v1/sessions/current", tag = "access", responses((status = 200, body = PrincipalView), (status = 401, body = Problem)))]
async fn current(State(app): State<AppState>, caller: Caller, headers: HeaderMap) -> ApiResult<Json<PrincipalView>> {
    let who = caller.signed()?;
    let session = match session_secret(&headers) {
        Some(secret) if !headers.contains_key(header::AUTHORIZATION) => app.db.session(&secrets::digest(&secret)).await?,
        _ => None,
    };
    Ok(Json(match session {
        Some(s) => PrincipalView::new(who, Some(s.csrf_token), Some(s.expires_at)),
        None => PrincipalView::new(who, None, None),
    }))
}

#[utoipa::path(delete, path = "/api/v1/sessions/current", tag = "access", responses((status = 204), (status = 401, body = Problem), (status = 409, body = Problem)))]
async fn sign_out(State(app): State<AppState>, headers: HeaderMap, m: Mutation<Empty>) -> ApiResult<Response> {
    let secret = session_secret(&headers).filter(|_| !headers.contains_key(header::AUTHORIZATION));
    let Some(secret) = secret else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "no_session",
            "this request signs in with a token, not a session: revoke the token (POST /api/v1/tokens/{token_id}/revocation)",
        ));
    };
    app.db.end_session(&secrets::digest(&secret), Some(&m.audit)).await?;
    let mut res = StatusCode::NO_CONTENT.into_response();
    res.headers_mut().insert(header::SET_COOKIE, session_cookie(None, 0, app.secure_cookies));
    Ok(res)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenInput {
    /// What the token is for (`till D-1`, `ERP import`).
    name: String,
    /// `full` (everything the account may do) or `read` (reads only). Default `full`.
    scope: Option<String>,
    /// Days until it expires, 1–366. Default 90.
    expires_in_days: Option<i64>,
    /// The account the token acts as: the caller's own, or (for `hq_admin`) any.
    username: Option<String>,
}

/// An API token; `token` (its secret) is given only in the answer that made it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TokenView {
    token_id: String,
    username: String,
    name: String,
    /// `full` or `read`.
    scope: String,
    created_by: String,
    created_at: Timestamp,
    expires_at: Timestamp,
    revoked_at: Option<Timestamp>,
    /// The secret: `Authorization: Bearer <token>`. Shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
}

impl TokenView {
    fn new(t: TokenRecord, secret: Option<String>) -> Self {
        TokenView {
            token_id: t.id,
            username: t.username,
            name: t.name,
            scope: t.scope.as_str().to_owned(),
            created_by: t.created_by,
            created_at: t.created_at,
            expires_at: t.expires_at,
            revoked_at: t.revoked_at,
            token: secret,
        }
    }
}

/// The account a token request is about: one's own, or any for `hq_admin`.
fn token_owner(who: &Principal, asked: Option<&str>) -> ApiResult<String> {
    let own = who.name.clone();
    match asked {
        None => Ok(own),
        Some(name) if name == own => Ok(own),
        Some(name) if who.role() == Role::HqAdmin => Ok(name.to_owned()),
        Some(_) => Err(crate::auth::denied(access::Denied::OutsideScope("only hq_admin makes or lists tokens of other accounts".into()))),
    }
}

/// Longest token name.
const TOKEN_NAME_CHARS_MAX: usize = 100;

#[utoipa::path(post, path = "/api/v1/tokens", tag = "access", request_body = TokenInput,
    responses((status = 201, body = TokenView), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn create_token(State(app): State<AppState>, caller: Caller, m: Mutation<TokenInput>) -> ApiResult<Response> {
    let who = caller.signed()?;
    let username = token_owner(who, m.body.username.as_deref())?;
    let name = m.body.name.trim();
    if name.is_empty() || name.chars().count() > TOKEN_NAME_CHARS_MAX {
        return Err(ApiError::field("name", "invalid_token_name", format!("a token's name is 1-{TOKEN_NAME_CHARS_MAX} characters")));
    }
    let scope = TokenScope::parse(m.body.scope.as_deref().unwrap_or("full"))?;
    let days = m.body.expires_in_days.unwrap_or(90);
    let (record, secret) = issue_token(&app.db, &username, name, scope, days, &who.id, Some(&m.audit)).await?;
    tracing::info!(token_id = %record.id, username = %record.username, created_by = %who.id, "token made");
    Ok(no_store((StatusCode::CREATED, Json(TokenView::new(record, Some(secret)))).into_response()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenQuery {
    /// Tokens of this account (`hq_admin` only, for another's).
    username: Option<String>,
    limit: Option<u32>,
    after: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/tokens", tag = "access", params(TokenQuery),
    responses((status = 200, body = PageView<TokenView>), (status = 403, body = Problem)))]
async fn list_tokens(State(app): State<AppState>, caller: Caller, Params(q): Params<TokenQuery>) -> ApiResult<Json<PageView<TokenView>>> {
    let who = caller.signed()?;
    let owner = match (&q.username, who.role()) {
        (None, Role::HqAdmin) => None,
        (asked, _) => Some(token_owner(who, asked.as_deref())?),
    };
    let page = app.db.tokens(owner.as_deref(), &PageRequest { limit: q.limit, after: q.after.clone() }).await?;
    Ok(Json(PageView::of(page, |t| TokenView::new(t, None))))
}

#[utoipa::path(post, path = "/api/v1/tokens/{token_id}/revocation", tag = "access",
    responses((status = 200, body = TokenView), (status = 404, body = Problem)))]
async fn revoke_token(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    m: Mutation<Empty>,
) -> ApiResult<Json<TokenView>> {
    let who = caller.signed()?;
    let not_found = || ApiError::not_found("token_not_found", format!("no token {id}"));
    let token = app.db.token(&id).await?.ok_or_else(not_found)?;
    if token.username != who.name && who.role() != Role::HqAdmin {
        return Err(not_found());
    }
    let revoked = app.db.revoke_token(&id, Some(&m.audit)).await?;
    tracing::info!(token_id = %id, by = %who.id, "token revoked");
    Ok(Json(TokenView::new(revoked, None)))
}

#[cfg(test)]
mod tests {
    use super::client_address;

    #[test]
    fn behind_a_trusted_proxy_the_client_is_the_last_address_it_did_not_add_itself() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        let proxies = [ip("10.0.0.1"), ip("10.0.0.2")];
        // Not from a proxy: the connection's address, whatever the header says.
        assert_eq!(client_address(ip("203.0.113.9"), "1.2.3.4", &proxies), ip("203.0.113.9"));
        // From a proxy: the address it heard from; a client's own made-up entries are left of it.
        assert_eq!(client_address(ip("10.0.0.1"), "6.6.6.6, 198.51.100.7", &proxies), ip("198.51.100.7"));
        // Through two proxies.
        assert_eq!(client_address(ip("10.0.0.1"), "198.51.100.7, 10.0.0.2", &proxies), ip("198.51.100.7"));
        // No header, or one that does not parse: the proxy itself.
        assert_eq!(client_address(ip("10.0.0.1"), "", &proxies), ip("10.0.0.1"));
        assert_eq!(client_address(ip("10.0.0.1"), "6.6.6.6, junk", &proxies), ip("10.0.0.1"));
    }
}

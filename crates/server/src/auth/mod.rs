//! Who is calling: a staff session cookie (with its CSRF token on every change), an API
//! token (`Authorization: Bearer …`), or no one. [`guard`] runs on every matched route: it
//! finds the caller, refuses what the route's [`rules::Rule`] does not let them do (401, 403),
//! and hands the handler a [`Caller`] for the checks about the resource in hand.

pub mod codes;
pub mod rules;
pub mod secrets;

use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jiff::{SignedDuration, Timestamp};
use tongjia_domain::access::{Binding, Denied, Principal, Role, TokenScope, admit};
use tongjia_domain::customer::Mobile;
use tongjia_storage::{AccountRecord, Db, StoreResult, TokenRecord};

use crate::AppState;
use crate::problem::ApiError;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "tongjia_session";
/// The header a cookie-signed-in client sends its CSRF token in with every change.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The caller of a request, as [`guard`] found it (`None`: anonymous).
#[derive(Debug, Clone, Default)]
pub struct Caller(pub Option<Principal>);

impl Caller {
    /// The principal, or 401.
    pub fn signed(&self) -> Result<&Principal, ApiError> {
        self.0.as_ref().ok_or_else(|| ApiError::from(Denied::Unauthenticated.into_error()))
    }
    /// What idempotency keys and the audit trail are scoped by.
    pub fn id(&self) -> &str {
        self.0.as_ref().map_or("anonymous", |p| p.id.as_str())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        Ok(parts.extensions.get::<Caller>().cloned().unwrap_or_default())
    }
}

/// The CSRF token of the caller's session, when it signed in with a cookie: a page renders it
/// for htmx to send with every change.
#[derive(Debug, Clone, Default)]
pub struct SessionCsrf(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for SessionCsrf {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        Ok(parts.extensions.get::<SessionCsrf>().cloned().unwrap_or_default())
    }
}

/// A refusal as an answer: 401 carries `WWW-Authenticate`.
pub fn denied(d: Denied) -> ApiError {
    ApiError::from(d.into_error())
}

/// How a caller proved who they are.
enum Proof {
    Token,
    /// A session cookie, with the session's CSRF token.
    Session {
        csrf: String,
    },
}

/// The principal of a staff account; `read_only` for a read-scoped token.
pub fn account_principal(account: &AccountRecord, read_only: bool) -> Principal {
    Principal {
        id: format!("account:{}", account.username),
        name: account.username.clone(),
        binding: account.binding.clone(),
        mobile: None,
        read_only,
    }
}

/// The principal of a signed-in member.
pub fn member_principal(mobile: Mobile) -> Principal {
    Principal {
        id: format!("member:{mobile}"),
        name: mobile.masked(),
        binding: Binding::new(Role::Customer, vec![], None).expect("a customer is bound to nothing"),
        mobile: Some(mobile),
        read_only: false,
    }
}

/// The session cookie's secret, if the request carries one.
pub fn session_secret(headers: &HeaderMap) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        (name == SESSION_COOKIE && !value.is_empty()).then(|| value.to_owned())
    })
}

/// Finds the caller: a bearer token must be live (else 401 whatever the route); a session
/// cookie that is not (expired, signed out) counts as no one.
async fn identify(db: &Db, headers: &HeaderMap) -> Result<Option<(Principal, Proof)>, ApiError> {
    if let Some(raw) = headers.get(header::AUTHORIZATION) {
        // The scheme is case-insensitive (RFC 9110).
        let secret = raw
            .to_str()
            .ok()
            .and_then(|v| v.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, s)| s.trim())
            .filter(|s| !s.is_empty());
        let Some(secret) = secret else {
            return Err(ApiError::new(StatusCode::UNAUTHORIZED, "invalid_authorization", "Authorization must be 'Bearer <token>'"));
        };
        let token = db.live_token(&secrets::digest(secret)).await?;
        let Some(token) = token else {
            return Err(ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token", "the token is unknown, expired or revoked"));
        };
        let account = db.account(&token.username).await?.filter(|a| !a.disabled);
        let Some(account) = account else {
            return Err(ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token", "the token's account is disabled"));
        };
        return Ok(Some((account_principal(&account, token.scope == TokenScope::Read), Proof::Token)));
    }
    let Some(secret) = session_secret(headers) else { return Ok(None) };
    let Some(session) = db.session(&secrets::digest(&secret)).await? else { return Ok(None) };
    let principal = match session.principal.split_once(':') {
        Some(("account", name)) => db.account(name).await?.filter(|a| !a.disabled).map(|a| account_principal(&a, false)),
        Some(("member", mobile)) => Mobile::parse(mobile).ok().map(member_principal),
        _ => None,
    };
    Ok(principal.map(|p| (p, Proof::Session { csrf: session.csrf_token })))
}

/// Whether the credentials in `headers` still stand for `principal`: the token or session
/// live, the account enabled, its role and stores unchanged. A long-lived answer (the event
/// stream) asks every few seconds and ends when they do not; None when the database could
/// not tell (ask again later).
pub(crate) async fn still_signed(db: &Db, headers: &HeaderMap, principal: &Principal) -> Option<bool> {
    match identify(db, headers).await {
        Ok(found) => Some(found.is_some_and(|(p, _)| p == *principal)),
        Err(e) if e.status == StatusCode::UNAUTHORIZED => Some(false),
        Err(_) => None,
    }
}

/// Whether a request with this method changes anything.
pub fn is_mutation(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// On every matched route: identify the caller, check the CSRF token of a cookie-signed
/// change, pass the route's gate, and hand the handler its [`Caller`].
pub async fn guard(State(app): State<AppState>, path: MatchedPath, mut req: Request, next: Next) -> Response {
    let method = if req.method() == Method::HEAD { Method::GET } else { req.method().clone() };
    let Some(rule) = rules::rule_for(&method, path.as_str()) else {
        // A route without a rule is refused to everyone (a test keeps every route ruled).
        return ApiError::new(StatusCode::FORBIDDEN, "forbidden", "this route has no access rule").into_response();
    };
    let found = match identify(&app.db, req.headers()).await {
        Ok(found) => found,
        Err(e) => return e.into_response(),
    };
    let mutation = is_mutation(&method);
    if mutation && crate::pages::is_page(rule.path) && crate::pages::cross_site(req.headers()) {
        // A page's form posted from another site: refused whether or not a session rides
        // along (a basket or a sign-in changed from elsewhere is a forgery too).
        return crate::pages::error_page(
            crate::pages::Lang::default(),
            ApiError::new(StatusCode::FORBIDDEN, "cross_site_refused", "a page's form is accepted only from this site's own pages"),
        );
    }
    if mutation
        && let Some((_, Proof::Session { csrf })) = &found
        && !rule.csrf_exempt
    {
        let sent = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
        if !secrets::same(sent, csrf) {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "csrf_token_invalid",
                "a change made with a session cookie carries the session's CSRF token in X-CSRF-Token",
            )
            .into_response();
        }
    }
    let csrf = match &found {
        Some((_, Proof::Session { csrf })) => Some(csrf.clone()),
        _ => None,
    };
    let principal = found.map(|(p, _)| p);
    if let Err(d) = admit(principal.as_ref(), rule.gate, mutation) {
        if crate::pages::is_page(rule.path) {
            return crate::pages::denied_page(&req, d);
        }
        return denied(d).into_response();
    }
    req.extensions_mut().insert(Caller(principal));
    req.extensions_mut().insert(SessionCsrf(csrf));
    next.run(req).await
}

/// Adds `WWW-Authenticate` to every 401 (RFC 9110).
pub async fn challenge(mut res: Response) -> Response {
    if res.status() == StatusCode::UNAUTHORIZED {
        res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"tongjia\""));
    }
    res
}

/// Makes an API token for `username`, valid `days`, and returns it with its secret (shown
/// this once; only its digest is kept).
pub async fn issue_token(
    db: &Db,
    username: &str,
    name: &str,
    scope: TokenScope,
    days: i64,
    created_by: &str,
    audit: Option<&tongjia_storage::AuditEntry>,
) -> StoreResult<(TokenRecord, String)> {
    tongjia_domain::access::check_token_days(days)?;
    let secret = secrets::random_secret("tjt_");
    let now = db.now();
    let record = TokenRecord {
        id: uuid::Uuid::now_v7().to_string(),
        username: username.to_owned(),
        name: name.to_owned(),
        scope,
        created_by: created_by.to_owned(),
        created_at: now,
        expires_at: now.checked_add(SignedDuration::from_hours(24 * days)).unwrap_or(Timestamp::MAX),
        revoked_at: None,
    };
    let made = db.create_token(&record, &secrets::digest(&secret), audit).await?;
    Ok((made, secret))
}

/// A token for `username`, making the account first (with `binding` and a random password
/// no one knows) if it does not exist: how the CLI, the benchmarks and the tests get a
/// credential without a person signing in.
pub async fn bootstrap_token(db: &Db, username: &str, binding: Binding, name: &str) -> StoreResult<String> {
    if db.account(username).await?.is_none() {
        let hash = secrets::hash_password(&secrets::random_secret("")).await;
        db.create_account(username, binding, hash, None).await?;
    }
    let (_, secret) = issue_token(db, username, name, TokenScope::Full, 1, "system:bootstrap", None).await?;
    Ok(secret)
}

//! Request extractors whose every rejection is a problem document: a JSON body with its
//! `Idempotency-Key` ([`Mutation`]) and query strings ([`Params`]).

use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::connection::{BodyTimeout, Limits};
use crate::problem::{ApiError, FieldError, clip};

/// The largest JSON body accepted, in bytes.
pub const BODY_BYTES_MAX: usize = 64 * 1024;
/// The longest Idempotency-Key accepted.
pub const IDEMPOTENCY_KEY_LEN_MAX: usize = 255;

/// A mutating request: its parsed JSON body, its idempotency key and request fingerprint.
pub struct Mutation<T> {
    pub body: T,
    /// The `Idempotency-Key` header, when given.
    pub key: Option<String>,
    /// `principal METHOD path`: the key's scope, so one caller can neither replay nor squat
    /// another's key.
    pub scope: String,
    /// SHA-256 of method, path and body: the same key with another request is refused.
    pub request_hash: String,
    /// Who asks and how, for the audit trail.
    pub audit: tongjia_storage::AuditEntry,
}

pub(crate) fn idempotency_key(parts: &Parts) -> Result<Option<String>, ApiError> {
    let Some(raw) = parts.headers.get("idempotency-key") else { return Ok(None) };
    let key = raw.to_str().ok().filter(|k| !k.is_empty() && k.len() <= IDEMPOTENCY_KEY_LEN_MAX && k.bytes().all(|b| b.is_ascii_graphic()));
    match key {
        Some(k) => Ok(Some(k.to_owned())),
        None => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_idempotency_key",
            format!("Idempotency-Key must be 1-{IDEMPOTENCY_KEY_LEN_MAX} visible ASCII characters"),
        )),
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Mutation<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        let key = idempotency_key(&parts)?;
        let bytes = read_body(&parts, body).await?;
        let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { &bytes };
        if bytes != b"{}" {
            let json = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|ct| {
                let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
                mime == "application/json" || mime.ends_with("+json")
            });
            if !json {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "send the body as application/json",
                ));
            }
        }
        let value = parse_value(bytes)?;
        if holds_nul(&value) {
            // No text anywhere holds a NUL (PostgreSQL cannot store one), whatever field it is in.
            return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_text", "text must not contain NUL characters"));
        }
        let body = from_value(value.clone())?;
        Ok(Mutation::new(&parts, body, &value, key, ""))
    }
}

impl<T> Mutation<T> {
    /// A mutation of `body`, parsed from `value` (the request as JSON: it is fingerprinted
    /// and audited); `step` tells apart the several changes one request makes (a till sale
    /// places an order, then pays it), each under its own key.
    pub(crate) fn new(parts: &Parts, body: T, value: &serde_json::Value, key: Option<String>, step: &str) -> Self {
        // The fingerprint is of the parsed body in a canonical form (keys sorted, no spacing),
        // so the same request written differently is still the same request.
        let canonical = serde_json::to_vec(value).unwrap_or_default();
        let audit = audit_entry(parts, value);
        let caller = parts.extensions.get::<crate::auth::Caller>().map_or("anonymous", |c| c.id());
        let scope = format!("{caller} {} {}{step}", parts.method, parts.uri.path());
        let mut hasher = Sha256::new();
        hasher.update(scope.as_bytes());
        hasher.update([0]);
        hasher.update(&canonical);
        Mutation { body, key, scope, request_hash: hex::encode(hasher.finalize()), audit }
    }
}

/// Fields whose values never reach the audit trail.
const SECRET_FIELDS: [&str; 3] = ["password", "code", "member_code"];

/// Who asks and how: the caller, its address and user agent, the action, and the body with
/// its secrets replaced.
fn audit_entry(parts: &Parts, body: &serde_json::Value) -> tongjia_storage::AuditEntry {
    let caller = parts.extensions.get::<crate::auth::Caller>().cloned().unwrap_or_default();
    let mut request = body.clone();
    if let Some(fields) = request.as_object_mut() {
        for name in SECRET_FIELDS {
            if let Some(v) = fields.get_mut(name) {
                *v = serde_json::Value::String("***".into());
            }
        }
    }
    let peer = parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>();
    let user_agent = parts.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("");
    tongjia_storage::AuditEntry {
        principal: caller.id().to_owned(),
        role: caller.0.as_ref().map_or("anonymous", |p| p.role().as_str()).to_owned(),
        address: peer.map_or_else(|| "unknown".to_owned(), |a| a.0.ip().to_string()),
        user_agent: clip(user_agent.to_owned()),
        action: format!("{} {}", parts.method, parts.uri.path()),
        request: serde_json::to_string(&request).unwrap_or_default(),
    }
}

/// Reads the whole body, at most [`BODY_BYTES_MAX`] bytes within the connection's body
/// timeout (`408 body_timeout` past it: a client trickling its body is dropped on time).
pub(crate) async fn read_body(parts: &Parts, body: axum::body::Body) -> Result<axum::body::Bytes, ApiError> {
    let timeout = parts.extensions.get::<BodyTimeout>().map_or(Limits::default().body_timeout, |t| t.0);
    match tokio::time::timeout(timeout, axum::body::to_bytes(body, BODY_BYTES_MAX)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(_)) => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the request body is larger than {BODY_BYTES_MAX} bytes"),
        )),
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            format!("the request body did not arrive within {} s", timeout.as_secs_f64()),
        )),
    }
}

/// Parses the body as a JSON object: anything that is not JSON is a 400; JSON that is not an
/// object (an array, a number) is a 422.
fn parse_value(bytes: &[u8]) -> Result<serde_json::Value, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", clip(format!("the body is not valid JSON: {e}"))))?;
    if !value.is_object() {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "body_not_object", "the body must be a JSON object"));
    }
    Ok(value)
}

/// Reads a request type from a parsed body, naming the bad field by its path.
fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let message = clip(e.into_inner().to_string());
        let (code, named) = if let Some(rest) = message.strip_prefix("unknown field `") {
            ("unknown_field", rest.split('`').next().map(str::to_owned))
        } else if let Some(rest) = message.strip_prefix("missing field `") {
            ("missing_field", rest.split('`').next().map(str::to_owned))
        } else {
            ("invalid_field", None)
        };
        let parent = if path == "." { String::new() } else { path };
        let field = match named {
            Some(name) if parent.is_empty() => name,
            Some(name) if code == "missing_field" => format!("{parent}.{name}"),
            _ => parent,
        };
        let mut err = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message.clone());
        err.errors.push(FieldError { field, code: code.to_owned(), message });
        err
    })
}

/// Query-string parameters; a bad one is a 422 problem naming it.
pub struct Params<T>(pub T);

/// Whether any string (or key) in a JSON value holds a NUL character.
fn holds_nul(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(holds_nul),
        serde_json::Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        // Query values are free text the database may be asked to compare: no control
        // characters (a NUL cannot even reach PostgreSQL).
        if let Ok(Query(pairs)) = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
            && pairs.iter().any(|(k, v)| k.chars().chain(v.chars()).any(char::is_control))
        {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_query",
                "query parameters must not contain control characters",
            ));
        }
        Query::<T>::try_from_uri(&parts.uri).map(|Query(v)| Params(v)).map_err(|e| {
            let text = e.body_text();
            let detail = text.strip_prefix("Failed to deserialize query string: ").unwrap_or(&text).to_owned();
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_query", clip(format!("bad query parameters: {detail}")))
        })
    }
}

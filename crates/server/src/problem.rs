//! Errors as RFC 9457 problem details (`application/problem+json`) with a stable `code`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tongjia_domain::{DomainError, ErrorKind};
use tongjia_storage::StoreError;
use utoipa::ToSchema;

/// One bad input field.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldError {
    /// The field's name or JSON path (`gtin`, `attributes.colour`).
    pub field: String,
    pub code: String,
    pub message: String,
}

/// A problem: what went wrong, with a stable machine `code`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// `/problems/{code}`.
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable, snake_case: `insufficient_stock`, `price_is_channel_blind`, `malformed_json`...
    pub code: String,
    pub errors: Vec<FieldError>,
}

/// An error answer of the API.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub detail: String,
    pub errors: Vec<FieldError>,
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Longest detail a problem answer carries: details echo input, and an answer stays small
/// whatever the input was.
const ECHO_CHARS_MAX: usize = 200;

/// `text`, cut to [`ECHO_CHARS_MAX`] characters.
pub(crate) fn clip(text: String) -> String {
    if text.chars().count() <= ECHO_CHARS_MAX { text } else { format!("{}…", text.chars().take(ECHO_CHARS_MAX).collect::<String>()) }
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        ApiError { status, code: code.to_owned(), detail: detail.into(), errors: vec![] }
    }
    /// A 404 for a missing thing.
    pub fn not_found(code: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, detail)
    }
    /// A 422 naming one bad field.
    pub fn field(field: &str, code: &str, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: code.to_owned(),
            errors: vec![FieldError { field: field.to_owned(), code: code.to_owned(), message: detail.clone() }],
            detail,
        }
    }
    /// The problem document of this error.
    pub fn problem(&self) -> Problem {
        Problem {
            type_: format!("/problems/{}", self.code),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            detail: clip(self.detail.clone()),
            code: self.code.clone(),
            errors: self.errors.iter().map(|e| FieldError { message: clip(e.message.clone()), ..e.clone() }).collect(),
        }
    }
    /// The problem document as JSON text.
    pub fn body(&self) -> String {
        serde_json::to_string(&self.problem()).unwrap_or_else(|_| String::from("{}"))
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        let status = match e.kind {
            ErrorKind::Validation | ErrorKind::Rule => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        };
        let errors = e.field.iter().map(|f| FieldError { field: f.clone(), code: e.code.to_owned(), message: e.message.clone() }).collect();
        ApiError { status, code: e.code.to_owned(), detail: e.message, errors }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Domain(d) => d.into(),
            StoreError::IdempotencyKeyReused => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "this Idempotency-Key was already used with a different request",
            ),
            StoreError::Replay(_) => {
                // Replays are answered before errors are mapped; reaching here is a bug.
                tracing::error!("an idempotent replay reached the error mapper");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
            }
            StoreError::Busy(e) => {
                tracing::warn!(error = %e, "database busy");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "database_busy", "the database is busy: retry with the same Idempotency-Key")
            }
            StoreError::Damaged(e) => {
                tracing::error!(error = %e, "the database is damaged");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "database_damaged",
                    "the database's files are damaged: the operator must restore it from a backup",
                )
            }
            StoreError::Unavailable(e) => {
                tracing::warn!(error = %e, "database unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "database_unavailable",
                    "the database cannot be reached or takes no writes (failing over): retry with the same Idempotency-Key",
                )
            }
            other => {
                tracing::error!(error = %other, "storage failure");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
            }
        }
    }
}

/// The `code` of a problem answer, kept on the response for the layers outside the handler.
#[derive(Debug, Clone)]
pub(crate) struct ProblemCode(pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = (self.status, self.body()).into_response();
        res.extensions_mut().insert(ProblemCode(self.code.clone()));
        res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if self.status == StatusCode::SERVICE_UNAVAILABLE || self.code == "idempotency_key_in_flight" {
            // Busy, failing over, or the first try still running: worth a retry (with the
            // same Idempotency-Key) shortly.
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        res
    }
}

/// A safety net for answers the framework builds itself (a path that does not decode, a
/// method not allowed...): any error answer that is not yet a problem document becomes one,
/// with a code named after its status and the original text as detail.
pub(crate) async fn ensure_problem(res: Response) -> Response {
    let status = res.status();
    // A page's refusal is a page (`pages::error_page`); everything else a problem document.
    let is_problem =
        res.headers().get(header::CONTENT_TYPE).is_some_and(|v| v == "application/problem+json" || v.as_bytes().starts_with(b"text/html"));
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return res;
    }
    let (parts, body) = res.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.map(|b| String::from_utf8_lossy(&b).trim().to_owned()).unwrap_or_default();
    let code = match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        s if s.is_server_error() => "internal",
        _ => "request_refused",
    };
    let detail = if text.is_empty() { status.canonical_reason().unwrap_or("error").to_owned() } else { text };
    let mut res = ApiError::new(status, code, detail).into_response();
    if let Some(allow) = parts.headers.get(header::ALLOW) {
        res.headers_mut().insert(header::ALLOW, allow.clone());
    }
    res
}

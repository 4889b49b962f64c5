//! The audit trail for `hq_admin`: who changed what, when and from where, as pages of JSON
//! or as CSV.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use tongjia_storage::{AuditFilter, AuditRecord, PageRequest};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::PageView;
use crate::AppState;
use crate::extract::Params;
use crate::problem::{ApiError, ApiResult, Problem};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit)).routes(routes!(export_audit))
}

/// Rows one CSV export holds at most; the `X-Next-Cursor` header continues it.
pub const CSV_ROWS_MAX: usize = 10_000;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditQuery {
    /// `account:<username>`, `member:<mobile>` or `system:cli`.
    principal: Option<String>,
    /// A request path or the start of one (`/api/v1/skus/NOTE13-BLK`).
    resource: Option<String>,
    /// From this time (RFC 3339), inclusive.
    from: Option<Timestamp>,
    /// Up to this time, inclusive.
    to: Option<Timestamp>,
    limit: Option<u32>,
    after: Option<String>,
}

impl AuditQuery {
    fn filter(&self) -> ApiResult<AuditFilter> {
        for (field, text) in [("principal", &self.principal), ("resource", &self.resource)] {
            if text.as_ref().is_some_and(|t| t.is_empty() || t.len() > 256) {
                return Err(ApiError::field(field, "invalid_query", format!("{field} is 1-256 characters")));
            }
        }
        Ok(AuditFilter { principal: self.principal.clone(), resource: self.resource.clone(), from: self.from, to: self.to })
    }
}

/// One recorded change.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuditView {
    audit_id: String,
    at: Timestamp,
    principal: String,
    role: String,
    address: String,
    user_agent: String,
    idempotency_key: Option<String>,
    /// `METHOD path`.
    action: String,
    status: u16,
    /// The request body, secrets replaced by `***`.
    request: String,
    /// What the change answered.
    response: String,
}

impl From<AuditRecord> for AuditView {
    fn from(r: AuditRecord) -> Self {
        AuditView {
            audit_id: r.id,
            at: r.at,
            principal: r.entry.principal,
            role: r.entry.role,
            address: r.entry.address,
            user_agent: r.entry.user_agent,
            idempotency_key: r.idempotency_key,
            action: r.entry.action,
            status: r.status,
            request: r.entry.request,
            response: r.response,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "access", params(AuditQuery),
    responses((status = 200, body = PageView<AuditView>), (status = 422, body = Problem)))]
async fn list_audit(State(app): State<AppState>, Params(q): Params<AuditQuery>) -> ApiResult<Json<PageView<AuditView>>> {
    let page = app.db.audit_trail(&q.filter()?, &PageRequest { limit: q.limit, after: q.after.clone() }).await?;
    Ok(Json(PageView::of(page, AuditView::from)))
}

/// One CSV field, quoted when it must be (RFC 4180); a leading `=`, `+`, `-` or `@` is
/// prefixed with `'` so that a spreadsheet does not run it as a formula.
fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) { format!("'{text}") } else { text.to_owned() };
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text }
}

#[utoipa::path(get, path = "/api/v1/audit.csv", tag = "access", params(AuditQuery),
    responses((status = 200, content_type = "text/csv", body = String, headers(("X-Next-Cursor" = String, description = "the `after` of the next export, when there is more"))),
        (status = 422, body = Problem)))]
async fn export_audit(State(app): State<AppState>, Params(q): Params<AuditQuery>) -> ApiResult<Response> {
    let filter = q.filter()?;
    let mut out = String::from("audit_id,at,principal,role,address,user_agent,idempotency_key,action,status,request,response\r\n");
    let mut after = q.after.clone();
    let mut rows = 0;
    let next = loop {
        let page = app.db.audit_trail(&filter, &PageRequest { limit: Some(500), after: after.clone() }).await?;
        for r in page.items {
            let fields = [
                r.id.clone(),
                r.at.to_string(),
                r.entry.principal,
                r.entry.role,
                r.entry.address,
                r.entry.user_agent,
                r.idempotency_key.unwrap_or_default(),
                r.entry.action,
                r.status.to_string(),
                r.entry.request,
                r.response,
            ];
            out.push_str(&fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(","));
            out.push_str("\r\n");
            rows += 1;
        }
        match page.next_cursor {
            Some(cursor) if rows < CSV_ROWS_MAX => after = Some(cursor),
            other => break other,
        }
    };
    let mut res = out.into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    res.headers_mut().insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"tongjia-audit.csv\""));
    if let Some(next) = next.and_then(|n| HeaderValue::from_str(&n).ok()) {
        res.headers_mut().insert("x-next-cursor", next);
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_and_never_formulas() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
    }
}

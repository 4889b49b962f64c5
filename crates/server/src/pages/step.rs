//! A page's write, as the order flow answered it: the order a step made (or, replayed under
//! the form's key, the one its stored answer names).

use axum::http::StatusCode;
use tongjia_storage::OrderRecord;
use uuid::Uuid;

use crate::AppState;
use crate::problem::{ApiError, ApiResult};

/// A step's stored answer: the order's id (the page renders the order itself).
pub(crate) fn render_id(o: &OrderRecord) -> String {
    serde_json::json!({ "order_id": o.id }).to_string()
}

/// The order a step made now, or (a replay) the one its stored answer names; a stored
/// refusal is given again.
pub(crate) async fn order_of(app: &AppState, (done, fresh): (crate::Done, Option<OrderRecord>)) -> ApiResult<OrderRecord> {
    if let Some(o) = fresh {
        return Ok(o);
    }
    let body: serde_json::Value = serde_json::from_str(&done.body).unwrap_or_default();
    if done.status.as_u16() >= 400 {
        let detail = body.get("detail").and_then(|d| d.as_str()).unwrap_or("refused");
        let code = body.get("code").and_then(|d| d.as_str()).unwrap_or("refused");
        return Err(ApiError::new(done.status, code, detail));
    }
    let id = body.get("order_id").and_then(|i| i.as_str()).and_then(|i| Uuid::parse_str(i).ok()).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "this form's key was already used with a different request: start again",
        )
    })?;
    app.db.order(id).await?.ok_or_else(|| ApiError::not_found("order_not_found", format!("no order {id}")))
}

/// The first eight hex digits of an order id: what a receipt and a clerk quote.
pub(crate) fn short(id: Uuid) -> String {
    id.simple().to_string()[..8].to_owned()
}

//! `POST /payment-notifications/{provider}`: an online payment arrives as its provider's
//! signed notification — never as a claim. The provider verifies the signature and the
//! notification's freshness; the order flow checks the amount against the order and that
//! the order may still be paid. The provider's transaction id is the idempotency key: a
//! notification delivered twice (providers retry until answered 2xx) has one effect and the
//! same answer; the same transaction id with another order or amount is refused.

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tongjia_domain::payments::NotificationRefusal;
use tongjia_storage::{AuditEntry, NewPayment, OrderRecord};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::sessions::Peer;
use super::to_json;
use crate::AppState;
use crate::extract::{Mutation, read_body};
use crate::problem::{ApiError, ApiResult, Problem};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(payment_notification))
}

/// What the provider is told: the order's state after its notification.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct NotificationAnswer {
    order_id: uuid::Uuid,
    status: String,
    paid_fen: i64,
}

fn render(o: &OrderRecord) -> String {
    to_json(&NotificationAnswer { order_id: o.id, status: o.status.as_str().to_owned(), paid_fen: o.paid.get() })
}

fn refused(why: NotificationRefusal) -> ApiError {
    match why {
        NotificationRefusal::BadSignature => {
            ApiError::new(StatusCode::UNAUTHORIZED, "invalid_signature", "the notification's signature does not verify")
        }
        NotificationRefusal::Stale => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "notification_stale",
            "the notification was signed too long ago (or ahead of this server's clock)",
        ),
        NotificationRefusal::Malformed(why) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_notification", why),
    }
}

/// A payment provider confirms a payment (`simulator` in the demo: see `docs/payments.md`
/// for its signature). Public: the signature is the credential.
#[utoipa::path(post, path = "/api/v1/payment-notifications/{provider}", tag = "orders",
    params(("provider" = String, Path, description = "the provider's name, e.g. `simulator`")),
    responses((status = 200, body = NotificationAnswer), (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)),
    security(()))]
async fn payment_notification(State(app): State<AppState>, Path(name): Path<String>, peer: Peer, req: Request) -> ApiResult<Response> {
    let (parts, body) = req.into_parts();
    let bytes = read_body(&parts, body).await?;
    accept(&app, &name, &parts.headers, &bytes, peer).await
}

/// Believes a notification of provider `name` only once the provider verified it, then
/// pays the order it names under its transaction id (also how a demo provider's own checkout
/// page confirms a payment: through exactly this).
pub(crate) async fn accept(app: &AppState, name: &str, headers: &axum::http::HeaderMap, bytes: &[u8], peer: Peer) -> ApiResult<Response> {
    let Some(provider) = app.providers.get(name).cloned() else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "unknown_provider", "no payment provider of that name is configured here"));
    };
    let name = name.to_owned();
    let n = provider.verify(headers, bytes, app.db.now()).map_err(|why| {
        tracing::warn!(provider = %name, address = %peer.0, refusal = ?why, "payment notification not believed");
        refused(why)
    })?;
    let principal = format!("provider:{name}");
    let scope = format!("{principal} POST /api/v1/payment-notifications/{name}");
    // The same transaction is the same request whatever nonce or time it was re-signed with.
    let request = serde_json::json!({ "transaction_id": n.transaction_id, "order_id": n.order_id, "amount_fen": n.amount.get() });
    let request_hash = hex::encode(Sha256::digest(format!("{scope}\0{request}").as_bytes()));
    let user_agent = headers.get(axum::http::header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let audit = AuditEntry {
        principal,
        role: "provider".into(),
        address: peer.0,
        user_agent: user_agent.chars().take(200).collect(),
        action: format!("POST /api/v1/payment-notifications/{name}"),
        request: request.to_string(),
    };
    let m = Mutation { body: (), key: Some(n.transaction_id.clone()), scope, request_hash, audit };
    let payment = NewPayment { amount: n.amount, external_reference: n.transaction_id, method: name };
    let policy = app.policy;
    let (order_id, provider) = (n.order_id, payment.method.clone());
    tracing::info!(%order_id, %provider, "payment notification verified");
    let res = app.mutate(&m, StatusCode::OK, &render, async |idem| app.db.pay_order(order_id, payment, &policy, idem).await).await;
    if !res.status().is_success() {
        // The provider took money the order flow would not accept (an order cancelled,
        // expired or already paid, or another amount): someone must pay it back.
        tracing::warn!(%order_id, %provider, status = res.status().as_u16(), "a verified payment was refused: refund it through the provider");
    }
    Ok(res)
}

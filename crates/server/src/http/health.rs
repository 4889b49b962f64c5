//! Health: `/health/live` (the process answers: restart it if not), `/health/ready` (it can
//! serve: the database answers a cheap read and has not been found damaged: take it out of
//! the load balancer if not) and `/health` (the same as ready, for older probes).
//!
//! A database found damaged by any request (`503 database_damaged`: SQLite's "database disk
//! image is malformed", say) keeps this server unready until it is restarted on a repaired
//! or restored database: answering writes with errors while saying "healthy" would keep
//! traffic coming.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use serde::Serialize;
use std::sync::atomic::Ordering;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::problem::{ApiError, ApiResult, Problem, ProblemCode};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health)).routes(routes!(live)).routes(routes!(ready))
}

/// The server's state.
#[derive(Serialize, ToSchema)]
pub(crate) struct Health {
    status: &'static str,
    version: &'static str,
}

const OK: Health = Health { status: "ok", version: env!("CARGO_PKG_VERSION") };

/// Whether this server can serve: the database answers a cheap read and was not found damaged.
async fn readiness(app: &AppState) -> ApiResult<Json<Health>> {
    if app.damaged.load(Ordering::Relaxed) {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_damaged",
            "a request found the database's files damaged: restore it from a backup, then restart",
        ));
    }
    app.db.check().await.map_err(|e| match ApiError::from(e) {
        damaged if damaged.code == "database_damaged" => damaged,
        _ => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "database_unavailable", "the database does not answer"),
    })?;
    Ok(Json(OK))
}

/// Ready to serve (the same as `/health/ready`).
#[utoipa::path(get, path = "/health", tag = "events", responses((status = 200, body = Health), (status = 503, body = Problem)))]
async fn health(State(app): State<AppState>) -> ApiResult<Json<Health>> {
    readiness(&app).await
}

/// Ready to serve: the database answers a cheap read and was not found damaged.
#[utoipa::path(get, path = "/health/ready", tag = "events", responses((status = 200, body = Health), (status = 503, body = Problem)))]
async fn ready(State(app): State<AppState>) -> ApiResult<Json<Health>> {
    readiness(&app).await
}

/// The process is alive (it does not ask the database).
#[utoipa::path(get, path = "/health/live", tag = "events", responses((status = 200, body = Health)))]
async fn live() -> Json<Health> {
    Json(OK)
}

/// Outer layer: remembers a damaged database seen by any answer.
pub(crate) async fn watch_damage(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    if res.extensions().get::<ProblemCode>().is_some_and(|c| c.0 == "database_damaged") {
        app.damaged.store(true, Ordering::Relaxed);
    }
    res
}

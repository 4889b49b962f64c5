//! `/events`: the outbox, oldest first, resumable with the `after` cursor.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use tongjia_storage::{Event, PageRequest};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::PageView;
use crate::AppState;
use crate::extract::Params;
use crate::problem::{ApiResult, Problem};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_events))
}

/// A published fact: `price.scheduled`, `stock.reserved`...
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EventView {
    seq: i64,
    event_id: String,
    event_type: String,
    subject: String,
    #[schema(value_type = Object)]
    payload: serde_json::Value,
    occurred_at: jiff::Timestamp,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct EventQuery {
    /// Only events of this type.
    event_type: Option<String>,
    limit: Option<u32>,
    after: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/events", tag = "events", params(EventQuery), responses((status = 200, body = PageView<EventView>), (status = 422, body = Problem)))]
async fn list_events(State(app): State<AppState>, Params(q): Params<EventQuery>) -> ApiResult<Json<PageView<EventView>>> {
    let page = app.db.events(q.event_type.as_deref(), &PageRequest { limit: q.limit, after: q.after }).await?;
    Ok(Json(PageView::of(page, |e: Event| EventView {
        seq: e.seq,
        event_id: e.id,
        event_type: e.event_type,
        subject: e.subject,
        payload: e.payload,
        occurred_at: e.occurred_at,
    })))
}

//! `/events`: the outbox, oldest first — as pages resumable with the `after` cursor, and as
//! a server-sent event stream resumable with `Last-Event-ID`.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;
use tongjia_storage::{Event, PageRequest};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::PageView;
use crate::AppState;
use crate::extract::Params;
use crate::problem::{ApiResult, Problem};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_events)).routes(routes!(stream_events))
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
    Ok(Json(PageView::of(page, EventView::from)))
}

impl From<Event> for EventView {
    fn from(e: Event) -> Self {
        EventView {
            seq: e.seq,
            event_id: e.id,
            event_type: e.event_type,
            subject: e.subject,
            payload: e.payload,
            occurred_at: e.occurred_at,
        }
    }
}

/// How long an idle stream waits before looking again even if the head did not move
/// (after a read error, say).
const STREAM_RECHECK_INTERVAL: Duration = Duration::from_secs(5);
/// Events read from the outbox at once.
const STREAM_BATCH_MAX: u32 = 200;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct StreamQuery {
    /// Only events of this type (`price.scheduled` for a store's price feed).
    event_type: Option<String>,
    /// Start after this `seq` (the `Last-Event-ID` header wins when both are given).
    after_seq: Option<i64>,
}

/// What a stream remembers between polls.
struct Cursor {
    app: AppState,
    event_type: Option<String>,
    after_seq: i64,
    ready: VecDeque<Event>,
    /// Reports how far this stream has read (`tongjia_outbox_lag_*` in `/metrics`).
    ticket: crate::metrics::StreamTicket,
    /// The outbox head, to sleep on while there is nothing new.
    head: tokio::sync::watch::Receiver<i64>,
    /// Whether the opening frame went out.
    opened: bool,
}

/// How soon a client should reconnect after the stream ends (told in the opening frame).
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// Server-sent events: every outbox event after `Last-Event-ID` (or `after_seq`), then new
/// ones as they commit. Each event's `id` is its `seq`, its `event` its type, its `data` the
/// event as JSON. The stream ends when the server shuts down; reconnect with Last-Event-ID.
#[utoipa::path(get, path = "/api/v1/events/stream", tag = "events", params(StreamQuery),
    responses((status = 200, content_type = "text/event-stream", description = "A stream of EventView objects"), (status = 422, body = Problem)))]
async fn stream_events(
    State(app): State<AppState>,
    headers: HeaderMap,
    Params(q): Params<StreamQuery>,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    let last_id = match headers.get("last-event-id").map(|v| v.to_str().ok().and_then(|s| s.trim().parse::<i64>().ok())) {
        Some(None) => {
            return Err(crate::ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "invalid_last_event_id",
                "Last-Event-ID must be an event seq",
            ));
        }
        Some(Some(id)) => Some(id),
        None => None,
    };
    let after_seq = last_id.or(q.after_seq).unwrap_or(0);
    let ticket = app.metrics.ticket(after_seq);
    let head = app.outbox_head.clone();
    let start = Cursor { app, event_type: q.event_type, after_seq, ready: VecDeque::new(), ticket, head, opened: false };
    let events = stream::unfold(start, |mut c| async move {
        // An opening frame at once, so that the response head goes out now even when there
        // is nothing to send yet (a caught-up client must not wait for the first keep-alive).
        if !c.opened {
            c.opened = true;
            return Some((Ok(SseEvent::default().retry(RECONNECT_AFTER).comment("open")), c));
        }
        loop {
            if let Some(e) = c.ready.pop_front() {
                let seq = e.seq;
                c.ticket.read_up_to(seq);
                let sse =
                    SseEvent::default().id(seq.to_string()).event(e.event_type.clone()).json_data(EventView::from(e)).unwrap_or_default();
                return Some((Ok(sse), c));
            }
            if *c.app.stopping.borrow() {
                return None;
            }
            // The head first: the outbox commits in seq order, so once the read below comes
            // back short, this stream has seen every event up to that head (a filtered
            // stream too, for the lag in /metrics).
            let head = *c.head.borrow_and_update();
            match c.app.db.events_after(c.after_seq, c.event_type.as_deref(), STREAM_BATCH_MAX).await {
                Ok(events) => {
                    let short = events.len() < STREAM_BATCH_MAX as usize;
                    c.after_seq = events.last().map_or(c.after_seq, |e| e.seq);
                    c.ready.extend(events);
                    if short && c.ready.is_empty() {
                        c.ticket.read_up_to(head.max(c.after_seq));
                    }
                }
                Err(e) => tracing::warn!(error = %e, "event stream could not read the outbox"),
            }
            if c.ready.is_empty() {
                let mut stopping = c.app.stopping.clone();
                tokio::select! {
                    _ = c.head.changed() => {}
                    _ = tokio::time::sleep(STREAM_RECHECK_INTERVAL) => {}
                    _ = stopping.changed() => return None,
                }
            }
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

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
use tokio::sync::broadcast;
use tongjia_domain::events::EventType;
use tongjia_storage::{Event, PageRequest};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::PageView;
use super::event_sight::Reader;
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

#[utoipa::path(get, path = "/api/v1/events", tag = "events", params(EventQuery), responses((status = 200, body = PageView<EventView>), (status = 410, body = Problem, description = "The cursor is before events trimmed past the outbox's retention"), (status = 422, body = Problem)))]
async fn list_events(
    State(app): State<AppState>,
    caller: crate::auth::Caller,
    Params(q): Params<EventQuery>,
) -> ApiResult<Json<PageView<EventView>>> {
    let reader = Reader::new(&app, caller.signed()?).await?;
    let request = PageRequest { limit: q.limit, after: q.after };
    if request.after.is_some() {
        resumable(&app, request.after_seq()?).await?;
    }
    known_type(q.event_type.as_deref())?;
    let page = app.db.events(q.event_type.as_deref(), &request).await?;
    // A page holds what the reader may see of it: fewer items than asked for, or none, with
    // the cursor past all of it.
    let items = page.items.into_iter().filter_map(|e| reader.shown(e)).map(EventView::from).collect();
    Ok(Json(PageView { items, next_cursor: page.next_cursor }))
}

/// The headers that carry a request's credentials, kept by a stream to check them again.
pub(crate) fn credentials_of(headers: &HeaderMap) -> HeaderMap {
    let mut kept = HeaderMap::new();
    for name in [axum::http::header::AUTHORIZATION, axum::http::header::COOKIE] {
        for v in headers.get_all(&name) {
            kept.append(name.clone(), v.clone());
        }
    }
    kept
}

/// Refuses a filter naming no event type: it could only ever match nothing.
fn known_type(event_type: Option<&str>) -> ApiResult<()> {
    event_type.map(EventType::parse).transpose()?;
    Ok(())
}

/// Refuses to resume after `after_seq` when events after it were trimmed (past the outbox's
/// retention): the reader would silently miss them.
async fn resumable(app: &AppState, after_seq: i64) -> ApiResult<()> {
    let trimmed = app.db.outbox_trimmed_through().await?;
    if after_seq < trimmed {
        return Err(crate::ApiError::new(
            axum::http::StatusCode::GONE,
            "events_trimmed",
            format!(
                "events up to seq {trimmed} are past the outbox's retention and were removed: reload the state you follow, then resume after seq {trimmed}"
            ),
        ));
    }
    Ok(())
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

/// Event streams open on this server, by principal, against a cap per principal: one token
/// cannot hold the server's connections and outbox reads for itself.
pub(crate) struct StreamCounts {
    cap: usize,
    open: std::sync::Mutex<std::collections::HashMap<String, usize>>,
}

impl StreamCounts {
    pub(crate) fn new(cap: usize) -> Self {
        StreamCounts { cap, open: Default::default() }
    }

    /// A place for one more stream of `principal`, or `429 too_many_streams`.
    pub(crate) fn take(self: &std::sync::Arc<Self>, principal: &str) -> ApiResult<StreamPlace> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(principal.to_owned()).or_default();
        if *n >= self.cap {
            return Err(crate::ApiError::new(
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                "too_many_streams",
                format!("{} event streams are open for this caller on this server already: close one first", self.cap),
            ));
        }
        *n += 1;
        Ok(StreamPlace { counts: self.clone(), principal: principal.to_owned() })
    }
}

/// One open stream's place; given back when the stream ends.
pub(crate) struct StreamPlace {
    counts: std::sync::Arc<StreamCounts>,
    principal: String,
}

impl Drop for StreamPlace {
    fn drop(&mut self) {
        let mut open = self.counts.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.principal) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.principal);
            }
        }
    }
}

/// Events read from the outbox at once by a stream catching up.
const STREAM_BATCH_MAX: u32 = 200;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct StreamQuery {
    /// Only events of this type (`price.scheduled` for a store's price feed).
    event_type: Option<String>,
    /// Start after this `seq` (the `Last-Event-ID` header wins when both are given).
    after_seq: Option<i64>,
}

/// What a stream remembers between events.
struct Cursor {
    app: AppState,
    /// Who follows the stream: only what it may see is sent.
    reader: Reader,
    /// The request's credentials, checked again every [`CREDENTIALS_RECHECK`]: a revoked
    /// token, an ended session or a disabled or rebound account ends the stream.
    credentials: HeaderMap,
    checked_at: std::time::Instant,
    /// Counts this stream against its principal's cap until it ends.
    _place: StreamPlace,
    event_type: Option<String>,
    /// Every event up to here has been looked at (sent, or not of the type asked for).
    after_seq: i64,
    ready: VecDeque<Event>,
    /// Reports how far this stream has read (`tongjia_outbox_lag_*` in `/metrics`).
    ticket: crate::metrics::StreamTicket,
    /// The server's feed of new events, once caught up (`outbox_watch`).
    live: Option<broadcast::Receiver<crate::outbox_watch::Batch>>,
    /// Whether the opening frame went out.
    opened: bool,
}

impl Cursor {
    /// Catches up from the outbox: subscribes to the feed first, so that nothing committed
    /// after the read is missed, then reads until a short read. Errors leave it behind, to
    /// try again shortly.
    async fn catch_up(&mut self) {
        let live = self.app.outbox_feed.batches.subscribe();
        let head = *self.app.outbox_feed.head.borrow();
        match self.app.outbox_reads.read(&self.app.db, "stream", self.after_seq, self.event_type.as_deref(), STREAM_BATCH_MAX).await {
            Ok(events) => {
                let short = events.len() < STREAM_BATCH_MAX as usize;
                self.after_seq = events.last().map_or(self.after_seq, |e| e.seq);
                self.ready.extend(events.into_iter().filter_map(|e| self.reader.shown(e)));
                if short {
                    // The outbox commits in seq order: past a short read, everything up to
                    // the head read before it has been looked at.
                    self.after_seq = self.after_seq.max(head);
                    self.live = Some(live);
                }
                self.ticket.read_up_to(self.after_seq);
            }
            Err(e) => {
                tracing::warn!(error = %e, "event stream could not read the outbox");
                tokio::time::sleep(STREAM_RETRY_AFTER).await;
            }
        }
    }

    /// Takes the next batch from the feed; a stream that fell behind it catches up again.
    async fn take_batch(&mut self) -> Option<()> {
        let mut stopping = self.app.stopping.clone();
        let live = self.live.as_mut()?;
        tokio::select! {
            batch = live.recv() => match batch {
                Ok(batch) => {
                    for e in batch.iter().filter(|e| e.seq > self.after_seq) {
                        if self.event_type.as_deref().is_none_or(|t| t == e.event_type)
                            && let Some(e) = self.reader.shown(e.clone())
                        {
                            self.ready.push_back(e);
                        }
                    }
                    self.after_seq = self.after_seq.max(batch.last().map_or(0, |e| e.seq));
                    if self.ready.is_empty() {
                        self.ticket.read_up_to(self.after_seq);
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => self.live = None,
                Err(broadcast::error::RecvError::Closed) => return None,
            },
            _ = stopping.changed() => return None,
        }
        Some(())
    }
}

/// How often a stream checks its credentials again before it sends more.
const CREDENTIALS_RECHECK: Duration = Duration::from_secs(5);

impl Cursor {
    /// Whether the stream may go on sending: its credentials still stand (checked at most
    /// every [`CREDENTIALS_RECHECK`]; a database that cannot tell lets it go on till the next).
    async fn still_signed(&mut self) -> bool {
        if self.checked_at.elapsed() < CREDENTIALS_RECHECK {
            return true;
        }
        self.checked_at = std::time::Instant::now();
        crate::auth::still_signed(&self.app.db, &self.credentials, self.reader.principal()).await != Some(false)
    }
}

/// How long a stream that could not read the outbox waits before trying again.
const STREAM_RETRY_AFTER: Duration = Duration::from_secs(1);
/// How soon a client should reconnect after the stream ends (told in the opening frame).
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// Server-sent events: every outbox event after `Last-Event-ID` (or `after_seq`), then new
/// ones as they commit. Each event's `id` is its `seq`, its `event` its type, its `data` the
/// event as JSON. The stream ends when the server shuts down; reconnect with Last-Event-ID.
#[utoipa::path(get, path = "/api/v1/events/stream", tag = "events", params(StreamQuery),
    responses((status = 200, content_type = "text/event-stream", description = "A stream of EventView objects"), (status = 400, body = Problem), (status = 429, body = Problem, description = "The caller holds as many streams open on this server as it may"), (status = 410, body = Problem, description = "Last-Event-ID or after_seq is before events trimmed past the outbox's retention"), (status = 422, body = Problem)))]
async fn stream_events(
    State(app): State<AppState>,
    caller: crate::auth::Caller,
    headers: HeaderMap,
    Params(q): Params<StreamQuery>,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    let reader = Reader::new(&app, caller.signed()?).await?;
    known_type(q.event_type.as_deref())?;
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
    let asked = last_id.or(q.after_seq);
    if asked.is_some_and(|seq| seq < 0) {
        return Err(crate::ApiError::field("after_seq", "invalid_after_seq", "an event seq is 0 or more"));
    }
    if let Some(after) = asked {
        resumable(&app, after).await?;
    }
    let after_seq = asked.unwrap_or(0);
    let ticket = app.metrics.ticket(after_seq);
    let credentials = credentials_of(&headers);
    let _place = app.streams.take(&reader.principal().id)?;
    let start = Cursor {
        app,
        reader,
        credentials,
        checked_at: std::time::Instant::now(),
        _place,
        event_type: q.event_type,
        after_seq,
        ready: VecDeque::new(),
        ticket,
        live: None,
        opened: false,
    };
    let events = stream::unfold(start, |mut c| async move {
        // An opening frame at once, so that the response head goes out now even when there
        // is nothing to send yet (a caught-up client must not wait for the first keep-alive).
        if !c.opened {
            c.opened = true;
            return Some((Ok(SseEvent::default().retry(RECONNECT_AFTER).comment("open")), c));
        }
        loop {
            if !c.ready.is_empty() && !c.still_signed().await {
                return None;
            }
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
            if c.live.is_none() {
                c.catch_up().await;
            } else {
                c.take_batch().await?;
            }
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_principal_holds_at_most_its_cap_of_streams_and_gets_each_back_when_it_ends() {
        let counts = std::sync::Arc::new(StreamCounts::new(2));
        let a = counts.take("account:a").unwrap();
        let _b = counts.take("account:a").unwrap();
        assert_eq!(counts.take("account:a").err().map(|e| e.code), Some("too_many_streams".to_owned()));
        assert!(counts.take("account:other").is_ok(), "the cap is per principal");
        drop(a);
        assert!(counts.take("account:a").is_ok());
    }
}

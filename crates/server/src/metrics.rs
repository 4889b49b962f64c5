//! `/metrics` in the Prometheus text format: requests and latencies by route, holds on
//! stock, the outbox and how far behind this server's event streams are, the pool.
//!
//! Request figures are this server's own; stock and outbox figures are read from the
//! database at scrape time, so every server reports the same.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::AppState;
use crate::problem::ApiError;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    /// The route template (`/api/v1/skus/{sku_code}`), `unmatched` for no route.
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

/// This server's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    reservations_active: Gauge,
    reserved_units: Gauge,
    outbox_head: Gauge,
    outbox_lag_events: Gauge,
    outbox_lag_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
    streams_open: Gauge,
    connections: Gauge,
    connections_idle: Gauge,
    write_groups: Counter,
    write_turns: Counter,
    writes: Counter,
    /// Held while a scrape brings the write counters up to date.
    scraping: Mutex<()>,
    /// Where each open event stream has read up to.
    streams: Mutex<HashMap<u64, i64>>,
    next_stream: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("tongjia");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests answered, by method, route and status", requests.clone());
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| Histogram::new(exponential_buckets(0.0005, 2.0, 16)));
        registry.register("http_request_duration_seconds", "Time to answer, by method and route", latency.clone());
        let gauge = |registry: &mut Registry, name: &str, help: &str| {
            let g = Gauge::default();
            registry.register(name, help, g.clone());
            g
        };
        let reservations_active = gauge(&mut registry, "reservations_active", "Reservations holding stock (all servers)");
        let reserved_units = gauge(&mut registry, "reserved_units", "Units held by active reservations (all servers)");
        let outbox_head = gauge(&mut registry, "outbox_head_seq", "The newest event's seq");
        let outbox_lag_events =
            gauge(&mut registry, "outbox_lag_events", "Events committed but not yet read by this server's slowest open stream");
        let outbox_lag_seconds = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register(
            "outbox_lag_seconds",
            "Age of the oldest event this server's slowest open stream has not read (0 when caught up)",
            outbox_lag_seconds.clone(),
        );
        let streams_open = gauge(&mut registry, "event_streams_open", "Open server-sent event streams on this server");
        let connections = gauge(&mut registry, "db_connections", "Database connections open on this server");
        let connections_idle = gauge(&mut registry, "db_connections_idle", "Of those, idle");
        let write_groups = Counter::default();
        registry.register(
            "db_write_groups",
            "Write transactions committed by this server (group commit: one or more writes each)",
            write_groups.clone(),
        );
        let write_turns = Counter::default();
        registry.register(
            "db_write_turns",
            "Turns committed by this server: a write's own or a batch of placements written together; db_writes / db_write_turns is the mean batch",
            write_turns.clone(),
        );
        let writes = Counter::default();
        registry.register("db_writes", "Writes committed by this server; divided by db_write_groups, the mean group size", writes.clone());
        Metrics {
            registry,
            write_groups,
            write_turns,
            writes,
            scraping: Mutex::new(()),
            requests,
            latency,
            reservations_active,
            reserved_units,
            outbox_head,
            outbox_lag_events,
            outbox_lag_seconds,
            streams_open,
            connections,
            connections_idle,
            streams: Mutex::new(HashMap::new()),
            next_stream: AtomicU64::new(0),
        }
    }
}

/// An open event stream's place in the outbox; forgotten when dropped.
pub(crate) struct StreamTicket {
    metrics: Arc<Metrics>,
    id: u64,
}

impl StreamTicket {
    /// Records how far the stream has read.
    pub(crate) fn read_up_to(&self, seq: i64) {
        self.metrics.streams.lock().unwrap_or_else(|p| p.into_inner()).insert(self.id, seq);
    }
}

impl Drop for StreamTicket {
    fn drop(&mut self) {
        self.metrics.streams.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.id);
    }
}

impl Metrics {
    /// The registry, to add a part's own series before the server starts.
    pub(crate) fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// A ticket for an event stream starting after `seq`.
    pub(crate) fn ticket(self: &Arc<Self>, seq: i64) -> StreamTicket {
        let id = self.next_stream.fetch_add(1, Ordering::Relaxed);
        let ticket = StreamTicket { metrics: self.clone(), id };
        ticket.read_up_to(seq);
        ticket
    }

    /// How many streams are open, and the `seq` the slowest has read up to.
    fn slowest_stream(&self) -> (usize, Option<i64>) {
        let streams = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        (streams.len(), streams.values().min().copied())
    }
}

/// Inner layer (on matched routes): remembers the route template for [`record`].
pub(crate) async fn tag_route(path: MatchedPath, req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    res.extensions_mut().insert(path);
    res
}

/// Outer layer: counts every answer and times it.
pub(crate) async fn record(State(app): State<AppState>, req: Request, next: Next) -> Response {
    // Known methods only: a client inventing methods must not invent series.
    let method = match *req.method() {
        Method::GET | Method::POST | Method::PUT | Method::PATCH | Method::DELETE | Method::HEAD | Method::OPTIONS => req.method().as_str(),
        _ => "other",
    }
    .to_owned();
    let start = Instant::now();
    let res = next.run(req).await;
    let route = res.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_owned();
    app.metrics.latency.get_or_create(&RouteLabels { method: method.clone(), route: route.clone() }).observe(start.elapsed().as_secs_f64());
    app.metrics.requests.get_or_create(&RequestLabels { method, route, status: res.status().as_u16() }).inc();
    res
}

/// `GET /metrics`.
pub(crate) async fn scrape(State(app): State<AppState>) -> Response {
    let m = &app.metrics;
    let vitals = match app.db.vitals().await {
        Ok(v) => v,
        Err(e) => return ApiError::from(e).into_response(),
    };
    m.reservations_active.set(vitals.active_reservations);
    m.reserved_units.set(vitals.reserved_units);
    m.outbox_head.set(vitals.outbox_head_seq);
    let (open, slowest) = m.slowest_stream();
    m.streams_open.set(open as i64);
    let behind = slowest.map_or(0, |s| (vitals.outbox_head_seq - s).max(0));
    m.outbox_lag_events.set(behind);
    let lag_seconds = match slowest {
        Some(s) if behind > 0 => match app.db.next_event_at(s).await {
            Ok(Some(at)) => (jiff::Timestamp::now().as_microsecond() - at.as_microsecond()).max(0) as f64 / 1e6,
            _ => 0.0,
        },
        _ => 0.0,
    };
    m.outbox_lag_seconds.set(lag_seconds);
    let (size, idle) = app.db.connections();
    m.connections.set(i64::from(size));
    m.connections_idle.set(idle as i64);
    {
        // Counters only go up: add what the writer committed since the last scrape.
        let _one_scrape_at_a_time = m.scraping.lock().unwrap_or_else(|e| e.into_inner());
        let done = app.db.group_commits();
        m.write_groups.inc_by(done.groups.saturating_sub(m.write_groups.get()));
        m.write_turns.inc_by(done.turns.saturating_sub(m.write_turns.get()));
        m.writes.inc_by(done.writes.saturating_sub(m.writes.get()));
    }
    let mut body = String::new();
    if encode(&mut body, &m.registry).is_err() {
        return ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "metrics could not be encoded").into_response();
    }
    let mut res = (StatusCode::OK, body).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"));
    res
}

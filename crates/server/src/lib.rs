//! Tongjia's HTTP server: the JSON API under `/api/v1` with its OpenAPI document,
//! problem+json errors, idempotency keys on every mutation, and the reservation sweeper.
//!
//! Handlers only parse and convert: they build domain values (which refuse bad input),
//! call one storage method, and render the answer. No business rule lives here.

pub mod auth;
mod connection;
mod extract;
mod heavy;
mod http;
mod in_flight;
mod locators;
mod metrics;
pub mod network_chart;
mod openapi;
mod outbox_watch;
mod pages;
pub mod payments;
mod price_clock;
mod problem;
mod retention;
mod sweeper;

pub use connection::{HEADER_BYTES_MAX, Limits};
pub use problem::{ApiError, Problem};
pub use sweeper::sweep_expired;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpListener;
use tongjia_domain::orders::OrderPolicy;
use tongjia_storage::{Db, Idem, StoreError, StoreResult};
use tower_http::trace::TraceLayer;

use crate::extract::Mutation;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    /// Turns true when the server starts shutting down, so that long-lived answers (the
    /// event stream) end and graceful shutdown can finish.
    pub stopping: tokio::sync::watch::Receiver<bool>,
    /// Points, holds and the return window: the same in every channel.
    pub policy: OrderPolicy,
    /// This server's `/metrics`.
    pub(crate) metrics: std::sync::Arc<metrics::Metrics>,
    /// The outbox's head and new events, followed by one reader per server (`outbox_watch`).
    pub(crate) outbox_feed: std::sync::Arc<outbox_watch::Feed>,
    /// Outbox reads counted for `/metrics`.
    pub(crate) outbox_reads: outbox_watch::OutboxReads,
    /// Keyed requests running on this server (`in_flight`).
    pub(crate) in_flight: std::sync::Arc<in_flight::InFlight>,
    /// How long a repeat of a keyed request still running waits for it.
    pub(crate) key_wait: Duration,
    /// Set once a request found the database damaged: unready from then on (`http::health`).
    pub(crate) damaged: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Permits for CPU-heavy answers (`heavy`).
    pub(crate) heavy: std::sync::Arc<heavy::Heavy>,
    /// Whether the session cookie is marked `Secure` (sent over HTTPS only).
    pub(crate) secure_cookies: bool,
    /// Proxies whose `X-Forwarded-For` names the client (`http::sessions::Peer`).
    pub(crate) trusted_proxies: std::sync::Arc<[std::net::IpAddr]>,
    /// How members' one-time codes reach their mobiles.
    pub(crate) code_sender: std::sync::Arc<dyn auth::codes::CodeSender>,
    /// The online payment providers whose notifications are accepted.
    pub(crate) providers: payments::Providers,
    /// Whether `/metrics` is served on an address of its own (and not on the API's).
    pub(crate) metrics_apart: bool,
    /// Event streams open on this server, by principal (`http::events`).
    pub(crate) streams: std::sync::Arc<http::StreamCounts>,
    /// Price versions as they take effect, for the open tills (`price_clock`).
    pub(crate) price_clock: std::sync::Arc<price_clock::PriceClock>,
    /// The locator of the stores open today, rebuilt only when the network changes.
    pub(crate) locators: std::sync::Arc<locators::Locators>,
}

/// Server settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How often the sweeper looks for expired orders and reservations.
    pub sweep_interval: Duration,
    pub policy: OrderPolicy,
    /// How long a repeat of a keyed request that is still running on this server waits for
    /// it (and then replays its answer) before `409 idempotency_key_in_flight`.
    pub key_wait: Duration,
    /// CPU-heavy answers (coverage, chart, gaps, planner) computed at once.
    pub heavy_concurrency: usize,
    /// How long a heavy request waits for its turn before `503 server_busy`.
    pub heavy_queue_wait: Duration,
    /// Connections: how many, how long a head or a body may take, the shutdown grace.
    pub limits: Limits,
    /// How long idempotency keys and outbox events are kept.
    pub retention: tongjia_storage::Retention,
    /// How often the retention job runs.
    pub retention_interval: Duration,
    /// Mark the session cookie `Secure` (default): browsers then send it only over HTTPS
    /// (and to `localhost`). Turn off only behind nothing but plain HTTP on a private network.
    pub secure_cookies: bool,
    /// How members' one-time codes reach their mobiles (default: appended to
    /// `tongjia-sms.log`, for the demo).
    pub code_sender: std::sync::Arc<dyn auth::codes::CodeSender>,
    /// The online payment providers whose signed notifications confirm payments and which
    /// take refunds back (default: none; `serve --demo` adds the simulator).
    pub payment_providers: payments::Providers,
    /// How often pending online refunds are handed to their providers.
    pub refund_interval: Duration,
    /// Serve `/metrics` on this address only (an operations network), not on the API's.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Event streams one principal may hold open on one server; one more is `429
    /// too_many_streams`.
    pub streams_per_principal: usize,
    /// Load balancers or proxies in front of the server: a request from one of them is the
    /// client's that `X-Forwarded-For` names (the last address not itself a trusted proxy).
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            sweep_interval: Duration::from_secs(5),
            policy: OrderPolicy::default(),
            key_wait: Duration::from_secs(10),
            heavy_concurrency: heavy::HEAVY_CONCURRENCY_DEFAULT,
            heavy_queue_wait: heavy::HEAVY_QUEUE_WAIT_DEFAULT,
            limits: Limits::default(),
            retention: tongjia_storage::Retention::default(),
            retention_interval: Duration::from_secs(60),
            secure_cookies: true,
            code_sender: std::sync::Arc::new(auth::codes::LogFileSender::new("tongjia-sms.log")),
            payment_providers: payments::Providers::default(),
            refund_interval: Duration::from_secs(1),
            metrics_listen: None,
            streams_per_principal: 64,
            trusted_proxies: vec![],
        }
    }
}

impl AppState {
    /// Runs a mutation under its idempotency key: a success is rendered and stored with
    /// the change; a replay returns the stored answer; a refusal had no effect and leaves
    /// the key free, so a retry is decided afresh and the key cannot be squatted by a request
    /// that failed. A repeat of a keyed request still running here waits for it first (see
    /// `in_flight`).
    pub(crate) async fn mutate<T, B>(
        &self,
        m: &Mutation<B>,
        status: StatusCode,
        render: &(dyn Fn(&T) -> String + Send + Sync),
        work: impl AsyncFnOnce(Option<&Idem<'_, T>>) -> StoreResult<T>,
    ) -> Response {
        match self.run_mutation(m, status, render, work).await {
            Ok((done, _)) => done.into_response(),
            Err(e) => e.into_response(),
        }
    }

    /// [`AppState::mutate`] for a caller that wants the answer's body rather than a
    /// response (a page renders the stored JSON its own way): the same key handling, the same
    /// refusal rules. A change made now comes back as well (a replay has only its answer).
    pub(crate) async fn run_mutation<T, B>(
        &self,
        m: &Mutation<B>,
        status: StatusCode,
        render: &(dyn Fn(&T) -> String + Send + Sync),
        work: impl AsyncFnOnce(Option<&Idem<'_, T>>) -> StoreResult<T>,
    ) -> Result<(Done, Option<T>), ApiError> {
        // Every change is audited, with its key when it has one.
        let idem = Some(Idem {
            scope: m.scope.clone(),
            key: m.key.clone(),
            audit: Some(m.audit.clone()),
            request_hash: m.request_hash.clone(),
            status: status.as_u16(),
            render,
            rendered: std::sync::OnceLock::new(),
        });
        let keyed = idem.as_ref().and_then(|i| i.key.as_ref().map(|k| format!("{}\n{k}", i.scope)));
        let _running = match keyed {
            Some(keyed) => match self.in_flight.start(keyed, self.key_wait).await {
                Ok(running) => Some(running),
                Err(in_flight::StillRunning) => {
                    let detail = "a request with this Idempotency-Key is still running: retry it later to get its answer";
                    return Err(ApiError::new(StatusCode::CONFLICT, "idempotency_key_in_flight", detail));
                }
            },
            None => None,
        };
        let mark = self.db.write_mark();
        match work(idem.as_ref()).await {
            // A keyed success was rendered once, at commit.
            Ok(v) => {
                let body = idem.as_ref().and_then(|i| i.rendered.get().cloned()).unwrap_or_else(|| render(&v));
                Ok((Done { status, body, replayed: false }, Some(v)))
            }
            Err(StoreError::Replay(stored)) => {
                let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
                Ok((Done { status, body: stored.body, replayed: true }, None))
            }
            Err(e) => {
                // A refusal is given only once the writes it was decided beside are known to
                // be kept.
                if matches!(e, StoreError::Domain(_))
                    && let Err(e) = self.db.refusal_stands(mark).await
                {
                    return Err(ApiError::from(e));
                }
                Err(ApiError::from(e))
            }
        }
    }
}

/// A mutation's answer: its status and JSON body, and whether it is a stored answer given
/// again (a replayed refusal keeps its problem status).
pub(crate) struct Done {
    pub(crate) status: StatusCode,
    pub(crate) body: String,
    pub(crate) replayed: bool,
}

impl IntoResponse for Done {
    fn into_response(self) -> Response {
        let mut res = json_response(self.status, self.body);
        if self.replayed {
            res.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
            if self.status.as_u16() >= 400 {
                res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
            }
        }
        res
    }
}

/// A JSON response with `status`.
pub(crate) fn json_response(status: StatusCode, body: String) -> Response {
    let mut res = (status, body).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

/// Builds the whole application: API, OpenAPI document, docs page, health.
pub fn app(state: AppState) -> Router {
    let (api, openapi) = http::router().split_for_parts();
    let mut router = Router::new()
        .merge(utoipa_swagger_ui::SwaggerUi::new("/api/v1/docs").external_url_unchecked("/api/v1/openapi.json", openapi::finish(&openapi)))
        .merge(api)
        .merge(pages::router());
    if !state.metrics_apart {
        router = router.route("/metrics", axum::routing::get(metrics::scrape));
    }
    router
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth::guard))
        .route_layer(axum::middleware::from_fn(metrics::tag_route))
        .fallback(|| async { ApiError::not_found("route_not_found", "no such route") })
        .method_not_allowed_fallback(|| async { ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this route does not take that method") })
        .with_state(state.clone())
        .layer(axum::middleware::map_response(problem::ensure_problem))
        .layer(axum::middleware::from_fn(pages::as_page))
        .layer(axum::middleware::map_response(auth::challenge))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error").into_response()
        }))
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::record))
        .layer(axum::middleware::from_fn_with_state(state.clone(), http::watch_damage))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
            tracing::info_span!("request", id = %uuid::Uuid::now_v7(), method = %req.method(), path = %log_path(req.uri().path()))
        }))
}

/// Serves `/metrics` alone on `listener` until `stop` turns true.
fn serve_metrics(listener: TcpListener, state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!("metrics on http://{addr}/metrics");
    }
    let router = Router::new()
        .route("/metrics", axum::routing::get(metrics::scrape))
        .fallback(|| async { ApiError::not_found("route_not_found", "only /metrics is served here") })
        .with_state(state);
    tokio::spawn(async move {
        let stopped = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        if let Err(e) = axum::serve(listener, router).with_graceful_shutdown(stopped).await {
            tracing::warn!(error = %e, "metrics server stopped");
        }
    })
}

/// A request path fit for a log line: any mainland mobile in it masked (`138****8000`).
fn log_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        match tongjia_domain::customer::Mobile::parse(segment) {
            Ok(m) if segment.len() >= 11 && segment.bytes().all(|b| b.is_ascii_digit() || b == b'+') => out.push_str(&m.masked()),
            _ => out.push_str(segment),
        }
    }
    out
}

/// Serves the app on `listener` until `shutdown` resolves, then finishes the requests in
/// flight (within `settings.limits.shutdown_grace`, dropping the rest) and stops the sweeper.
pub async fn serve(
    listener: TcpListener,
    db: Db,
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut metrics = metrics::Metrics::default();
    let heavy = heavy::Heavy::new(settings.heavy_concurrency, settings.heavy_queue_wait, metrics.registry_mut());
    let connections = connection::ConnectionMetrics::new(metrics.registry_mut());
    let outbox_reads = outbox_watch::OutboxReads::new(metrics.registry_mut());
    let retention_metrics = retention::RetentionMetrics::new(metrics.registry_mut());
    let outbox_feed = std::sync::Arc::new(outbox_watch::Feed::new());
    let state = AppState {
        db: db.clone(),
        stopping: stop_rx.clone(),
        policy: settings.policy,
        metrics: std::sync::Arc::new(metrics),
        heavy: std::sync::Arc::new(heavy),
        damaged: Default::default(),
        outbox_feed: outbox_feed.clone(),
        outbox_reads: outbox_reads.clone(),
        in_flight: Default::default(),
        key_wait: settings.key_wait,
        secure_cookies: settings.secure_cookies,
        trusted_proxies: settings.trusted_proxies.clone().into(),
        code_sender: settings.code_sender.clone(),
        providers: settings.payment_providers.clone(),
        metrics_apart: settings.metrics_listen.is_some(),
        streams: std::sync::Arc::new(http::StreamCounts::new(settings.streams_per_principal)),
        price_clock: std::sync::Arc::new(price_clock::PriceClock::new()),
        locators: Default::default(),
    };
    let metrics_server = match settings.metrics_listen {
        Some(addr) => Some(serve_metrics(TcpListener::bind(addr).await?, state.clone(), stop_rx.clone())),
        None => None,
    };
    let clock = tokio::spawn(price_clock::run(db.clone(), outbox_feed.clone(), state.price_clock.clone(), stop_rx.clone()));
    let watcher = tokio::spawn(outbox_watch::run(db.clone(), outbox_feed, outbox_reads, stop_rx.clone()));
    let purger =
        tokio::spawn(retention::run(db.clone(), settings.retention, settings.retention_interval, retention_metrics, stop_rx.clone()));
    let refunder =
        tokio::spawn(payments::refunds::run(db.clone(), settings.payment_providers.clone(), settings.refund_interval, stop_rx.clone()));
    let sweeper = tokio::spawn(sweeper::run(db.clone(), settings.policy, settings.sweep_interval, stop_rx));
    let stop = stop_tx.clone();
    connection::serve(listener, app(state), settings.limits, connections, shutdown, move || {
        let _ = stop.send(true);
    })
    .await;
    let _ = stop_tx.send(true);
    let _ = sweeper.await;
    let _ = watcher.await;
    let _ = clock.await;
    let _ = purger.await;
    let _ = refunder.await;
    if let Some(m) = metrics_server {
        let _ = m.await;
    }
    Ok(())
}

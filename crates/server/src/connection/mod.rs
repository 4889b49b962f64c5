//! Connections: the accept loop in front of the app, with the limits a server on a public
//! port needs — at most [`Limits::max_connections`] open at once (one more is answered `503
//! too_many_connections` and closed, so accepting never stalls), a request head that must
//! arrive within [`Limits::header_timeout`] of the connection opening or going idle (which
//! also closes idle keep-alive connections), a body within [`Limits::body_timeout`], and a
//! graceful shutdown that gives the requests in flight [`Limits::shutdown_grace`] and then
//! drops what is left. HTTP/1.1 only: TLS and HTTP/2 belong to the proxy in front.

mod raw_answers;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::problem::ApiError;

/// What a connection may take.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections open at once.
    pub max_connections: usize,
    /// How long a request head may take to arrive, from the connection opening or its
    /// previous answer going out (so also how long an idle keep-alive connection lives).
    pub header_timeout: Duration,
    /// How long a request body may take to arrive in full.
    pub body_timeout: Duration,
    /// How long a graceful shutdown waits for the requests in flight before dropping them.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 10_000,
            header_timeout: Duration::from_secs(20),
            body_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// The longest request head (request line and headers) read, in bytes: more is `431`.
pub const HEADER_BYTES_MAX: usize = 32 * 1024;

/// How long a request body may take, as the body extractor reads it (set per request).
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyTimeout(pub Duration);

/// This server's connection figures in `/metrics`.
#[derive(Clone)]
pub(crate) struct ConnectionMetrics {
    open: Gauge,
    refused: Counter,
}

impl ConnectionMetrics {
    pub(crate) fn new(registry: &mut Registry) -> Self {
        let open = Gauge::default();
        registry.register("http_connections_open", "Client connections open on this server", open.clone());
        let refused = Counter::default();
        registry.register("http_connections_refused", "Connections answered 503 too_many_connections and closed", refused.clone());
        ConnectionMetrics { open, refused }
    }
}

/// Accepts connections for `app` until `shutdown` resolves, then stops accepting, lets the
/// requests in flight finish within the grace and drops the rest. `on_shutdown` runs as soon
/// as the shutdown starts (to end the long-lived answers).
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    metrics: ConnectionMetrics,
    shutdown: impl Future<Output = ()>,
    on_shutdown: impl FnOnce(),
) {
    let mut builder = Builder::new(TokioExecutor::new()).http1_only();
    builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_timeout).max_buf_size(HEADER_BYTES_MAX.max(8192));
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut tasks = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let Ok(permit) = permits.clone().try_acquire_owned() else {
                        metrics.refused.inc();
                        tasks.spawn(refuse(stream));
                        continue;
                    };
                    let service = app.clone().map_request(move |req: hyper::Request<hyper::body::Incoming>| {
                        let mut req = req.map(axum::body::Body::new);
                        req.extensions_mut().insert(BodyTimeout(limits.body_timeout));
                        req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
                        req
                    });
                    let io = TokioIo::new(raw_answers::ProblemAnswers::new(stream));
                    let conn = builder.serve_connection_with_upgrades(io, TowerToHyperService::new(service)).into_owned();
                    let conn = graceful.watch(conn);
                    let open = metrics.open.clone();
                    open.inc();
                    tasks.spawn(async move {
                        let _permit = permit;
                        if let Err(e) = conn.await {
                            tracing::debug!(error = %e, %peer, "connection ended with an error");
                        }
                        open.dec();
                    });
                }
                // Out of file descriptors, say: wait a moment rather than spin.
                Err(e) => {
                    tracing::warn!(error = %e, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    drop(listener);
    on_shutdown();
    let in_flight = tasks.len();
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown()).await.is_err() {
        tracing::warn!(grace = ?limits.shutdown_grace, "requests still running at the end of the shutdown grace were dropped");
    } else if in_flight > 0 {
        tracing::info!(connections = in_flight, "connections closed gracefully");
    }
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
}

/// A connection over the limit: a short `503` problem, then closed.
async fn refuse(mut stream: TcpStream) {
    let problem = ApiError::new(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        "too_many_connections",
        "the server has as many connections open as it takes: retry shortly",
    )
    .body();
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/problem+json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{problem}",
        problem.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await
    })
    .await;
}

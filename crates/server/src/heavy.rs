//! CPU-heavy answers (coverage, the trend chart, gaps, the planner) run here: on tokio's
//! blocking threads, never on the async workers that answer everything else, a few at a
//! time, and stopped when their client goes away.
//!
//! A request waits at most [`Heavy::queue_wait`] for one of the permits; past that it is
//! answered `503 server_busy` with `Retry-After`. The work gets a [`Stop`] to look at between
//! steps: it turns true when the request's future is dropped (the client hung up, or the
//! server is shutting down and gave up on it), and the work then ends early.

use axum::http::StatusCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::Semaphore;

use crate::problem::{ApiError, ApiResult};

/// Heavy work running at once on one server, by default.
pub const HEAVY_CONCURRENCY_DEFAULT: usize = 2;
/// How long a heavy request waits for its turn, by default.
pub const HEAVY_QUEUE_WAIT_DEFAULT: Duration = Duration::from_secs(5);

/// The permits for heavy work on this server.
pub(crate) struct Heavy {
    permits: Arc<Semaphore>,
    queue_wait: Duration,
    running: prometheus_client::metrics::gauge::Gauge,
    refused: prometheus_client::metrics::counter::Counter,
    stopped: prometheus_client::metrics::counter::Counter,
}

/// Tells heavy work its answer is no longer wanted.
#[derive(Clone, Default)]
pub(crate) struct Stop(Arc<AtomicBool>);

impl Stop {
    /// Whether to stop now.
    pub(crate) fn requested(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Sets its [`Stop`] when dropped: held by the request's future.
struct StopOnDrop(Stop);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        (self.0).0.store(true, Ordering::Relaxed);
    }
}

/// Counts one piece of work in `heavy_running` while it lives (a panic included).
struct Running(prometheus_client::metrics::gauge::Gauge);

impl Running {
    fn start(gauge: prometheus_client::metrics::gauge::Gauge) -> Running {
        gauge.inc();
        Running(gauge)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl Heavy {
    pub(crate) fn new(concurrency: usize, queue_wait: Duration, registry: &mut prometheus_client::registry::Registry) -> Heavy {
        let running = prometheus_client::metrics::gauge::Gauge::default();
        registry.register("heavy_running", "CPU-heavy answers (coverage, chart, gaps, planner) computing now", running.clone());
        let refused = prometheus_client::metrics::counter::Counter::default();
        registry.register("heavy_refused", "CPU-heavy requests answered 503 server_busy after waiting for a turn", refused.clone());
        let stopped = prometheus_client::metrics::counter::Counter::default();
        registry.register("heavy_stopped", "CPU-heavy work stopped early because its client went away", stopped.clone());
        Heavy { permits: Arc::new(Semaphore::new(concurrency.max(1))), queue_wait, running, refused, stopped }
    }

    /// Runs `work` on a blocking thread once a permit is free. `work` returns `None` when it
    /// saw its [`Stop`] and gave up.
    pub(crate) async fn run<T, F>(&self, work: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Stop) -> Option<T> + Send + 'static,
    {
        let permit = match tokio::time::timeout(self.queue_wait, self.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => permit,
            _ => {
                self.refused.inc();
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "server_busy",
                    "the server is computing as many heavy answers as it takes at once: retry shortly",
                ));
            }
        };
        let stop = Stop::default();
        let _stop_on_drop = StopOnDrop(stop.clone());
        let (running, stopped) = (self.running.clone(), self.stopped.clone());
        let job = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let _running = Running::start(running);
            let out = work(&stop);
            if out.is_none() {
                stopped.inc();
            }
            out
        });
        match job.await {
            Ok(Some(v)) => Ok(v),
            // Only a stop makes work give up, and a stopped request is no longer awaited.
            Ok(None) => Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "server_busy", "the work was stopped")),
            Err(e) => {
                tracing::error!(error = %e, "heavy work failed");
                Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error"))
            }
        }
    }
}

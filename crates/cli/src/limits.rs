//! `serve`'s limits: connections, timeouts, the shutdown grace and heavy work, and the
//! open-file limit they need.

use std::time::Duration;
use tongjia_server::Limits;

/// File descriptors kept back from client connections: the database pool, the listener,
/// logs, SQLite's own files.
const FDS_KEPT_BACK: u64 = 128;

#[derive(clap::Args)]
pub struct LimitArgs {
    /// Client connections open at once (one more is answered 503 too_many_connections);
    /// lowered to fit the open-file limit.
    #[arg(long, env = "TONGJIA_MAX_CONNECTIONS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    max_connections: u64,
    /// Seconds a request head may take to arrive from the connection opening or going idle
    /// (idle keep-alive connections are closed after it too).
    #[arg(long, env = "TONGJIA_HEADER_TIMEOUT_SECONDS", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=3600))]
    header_timeout_seconds: u64,
    /// Seconds a request body may take to arrive in full (408 body_timeout past it).
    #[arg(long, env = "TONGJIA_BODY_TIMEOUT_SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    body_timeout_seconds: u64,
    /// Seconds a graceful shutdown (SIGTERM, Ctrl-C) waits for the requests in flight before
    /// dropping them.
    #[arg(long, env = "TONGJIA_SHUTDOWN_GRACE_SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=3600))]
    shutdown_grace_seconds: u64,
    /// CPU-heavy answers (coverage, chart, gaps, planner) computed at once; more wait up to
    /// 5 s for a turn, then get 503 server_busy.
    #[arg(long, env = "TONGJIA_HEAVY_CONCURRENCY", default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=256))]
    heavy_concurrency: u64,
    /// The address of a load balancer or proxy in front of this server (repeat, or separate
    /// by commas): a request from it is counted against the client address it names last in
    /// `X-Forwarded-For` (per-address limits: sign-ins, guest orders, member codes). Without
    /// it every client behind the proxy would share the proxy's one address.
    #[arg(long = "trusted-proxy", env = "TONGJIA_TRUSTED_PROXIES", value_delimiter = ',')]
    trusted_proxies: Vec<std::net::IpAddr>,
}

/// How long `serve` keeps idempotency keys and outbox events.
#[derive(clap::Args)]
pub struct RetentionArgs {
    /// Hours an Idempotency-Key is kept: a retry within them replays its answer; after them
    /// the key is removed (a retry is then a new request).
    #[arg(long, env = "TONGJIA_IDEMPOTENCY_RETENTION_HOURS", default_value_t = 24, value_parser = clap::value_parser!(u64).range(1..=8760))]
    idempotency_retention_hours: u64,
    /// Days outbox events are kept: an event stream or `/events` reader can resume from
    /// events this old at most (older cursors get 410 events_trimmed).
    #[arg(long, env = "TONGJIA_OUTBOX_RETENTION_DAYS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3650))]
    outbox_retention_days: u64,
}

impl RetentionArgs {
    pub fn apply(&self, settings: &mut tongjia_server::Settings) {
        settings.retention = tongjia_storage::Retention {
            idempotency_keys: jiff::SignedDuration::from_hours(self.idempotency_retention_hours as i64),
            events: jiff::SignedDuration::from_hours(self.outbox_retention_days as i64 * 24),
        };
    }
}

impl LimitArgs {
    /// The server settings these arguments ask for, with the connections lowered to what
    /// the open-file limit allows (raised to its hard maximum first).
    pub fn apply(&self, settings: &mut tongjia_server::Settings) {
        settings.trusted_proxies = self.trusted_proxies.clone();
        let mut max_connections = self.max_connections;
        if let Some(fds) = raise_open_file_limit() {
            let fit = fds.saturating_sub(FDS_KEPT_BACK).max(1);
            if fit < max_connections {
                tracing::warn!(
                    asked = max_connections,
                    allowed = fit,
                    open_file_limit = fds,
                    "fewer connections than asked: the open-file limit is low"
                );
                max_connections = fit;
            }
        }
        settings.limits = Limits {
            max_connections: max_connections as usize,
            header_timeout: Duration::from_secs(self.header_timeout_seconds),
            body_timeout: Duration::from_secs(self.body_timeout_seconds),
            shutdown_grace: Duration::from_secs(self.shutdown_grace_seconds),
        };
        settings.heavy_concurrency = self.heavy_concurrency as usize;
    }
}

/// Raises the soft open-file limit to the hard one and returns it (None where unknown).
#[cfg(unix)]
pub(crate) fn raise_open_file_limit() -> Option<u64> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return None;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
    }
    Some(lim.rlim_cur)
}

#[cfg(not(unix))]
pub(crate) fn raise_open_file_limit() -> Option<u64> {
    None
}

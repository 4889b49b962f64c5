//! `tongjia`: serve the engine, seed demo data, import CSV files, migrate, back up and restore.

mod admin;
mod bench;
mod bench_checkout;
mod bench_feeds;
mod bench_reads;
mod bench_reserve;
mod bench_till;
mod demo;
mod gateways;
mod import;
mod limits;
mod progress;
mod report;

use clap::{Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use tongjia_domain::customer::PointsRule;
use tongjia_domain::orders::OrderPolicy;
use tongjia_storage::Db;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(name = "tongjia", version, about = "Tongjia (同价): one price, one inventory, one order flow for every channel and store")]
struct Cli {
    /// The database: a SQLite file path (created if missing) or `sqlite:PATH`, or a
    /// PostgreSQL URL `postgres://USER@HOST:PORT/DB` (add `?options=-c%20search_path%3DSCHEMA`
    /// to keep Tongjia's tables in a schema of their own).
    #[arg(long, global = true, env = "TONGJIA_DB", default_value = "./tongjia.db")]
    db: String,
    /// PostgreSQL read connections this process keeps open, besides 4 for writes (mind the
    /// server's max_connections across every Tongjia server).
    #[arg(long, global = true, env = "TONGJIA_DB_MAX_CONNECTIONS", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    db_max_connections: u32,
    /// PostgreSQL: milliseconds a write waits for its turn before it is answered
    /// 503 database_busy (retry with the same Idempotency-Key).
    #[arg(long, global = true, env = "TONGJIA_DB_WRITE_WAIT_MS", default_value_t = 10_000)]
    db_write_wait_ms: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API (stops gracefully on Ctrl-C or SIGTERM).
    Serve {
        /// Seed demo data first if the database is empty.
        #[arg(long)]
        demo: bool,
        /// Address to listen on.
        #[arg(long, env = "TONGJIA_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Serve `/metrics` on this address only (e.g. an operations network) instead of on
        /// `--listen`.
        #[arg(long, env = "TONGJIA_METRICS_LISTEN")]
        metrics_listen: Option<SocketAddr>,
        #[command(flatten)]
        policy: PolicyArgs,
        #[command(flatten)]
        limits: limits::LimitArgs,
        #[command(flatten)]
        retention: limits::RetentionArgs,
        #[command(flatten)]
        gateways: gateways::GatewayArgs,
    },
    /// Play the payment simulator: sign a notification that an order was paid and send it.
    Simulator {
        #[command(subcommand)]
        what: SimulatorKind,
    },
    /// Seed the database with the demo brand, its network, prices and stock.
    Demo {
        /// `small` (42 SKUs, ~4,700 locations), `large` (10,000 stocked stores × 2,000 SKUs:
        /// 20 million stock positions, loaded in bulk), or `STORESxSKUS`.
        #[arg(long, default_value = "small")]
        scale: demo::Scale,
    },
    /// Benchmarks against a baseline measured in the same run (see BENCHMARKS.md).
    Bench {
        #[command(subcommand)]
        which: BenchKind,
    },
    /// Coverage of China's county-level divisions by open stores, by province and kind.
    Coverage {
        /// The date (YYYY-MM-DD); default today.
        #[arg(long)]
        at: Option<jiff::civil::Date>,
        /// Township stores aimed for.
        #[arg(long, default_value_t = tongjia_domain::network::TOWNSHIP_TARGET_DEFAULT)]
        township_target: i64,
    },
    /// Propose new store sites: most new counties, then the lowest worst and mean distance.
    Plan {
        /// New sites wanted.
        #[arg(long)]
        stores: usize,
        /// CSV `county_code,weight` weighting each county's distance (default weight 1).
        #[arg(long)]
        weights: Option<PathBuf>,
        /// Plan against the stores open on this date; default today.
        #[arg(long)]
        at: Option<jiff::civil::Date>,
    },
    /// Import a CSV file (UTF-8, a header line naming the columns): all rows or none, and
    /// every problem reported by line.
    Import {
        what: ImportKind,
        file: PathBuf,
        /// Stores: allow the file to change (or close) stores that already exist; without it
        /// such rows are refused, each with what it would change.
        #[arg(long)]
        update: bool,
        /// Check every row against the file and the database, and write nothing.
        #[arg(long)]
        check: bool,
    },
    /// Staff accounts and API tokens, made on the database's machine (the first
    /// administrator, a till's token).
    Admin {
        #[command(subcommand)]
        what: AdminKind,
    },
    /// Bring the database's schema up to this version, then exit (servers also do this at start).
    Migrate,
    /// Write a consistent copy of the database while servers keep serving: a SQLite file
    /// (`VACUUM INTO`), or a `pg_dump` custom-format archive of the schema in use.
    Backup {
        /// The file to write; it must not exist yet.
        #[arg(long)]
        to: PathBuf,
    },
    /// Restore a backup into the empty database `--db` names (a new SQLite file; a
    /// PostgreSQL database without Tongjia's tables), then migrate it to this version.
    Restore {
        /// The backup file `tongjia backup` wrote.
        #[arg(long)]
        from: PathBuf,
    },
}

/// The order policy: the same in every channel.
#[derive(clap::Args)]
struct PolicyArgs {
    /// Fen paid per point earned on completed orders (100 = one point per yuan).
    #[arg(long, env = "TONGJIA_POINTS_EARN_FEN_PER_POINT", default_value_t = 100)]
    points_earn_fen_per_point: i64,
    /// Fen one redeemed point takes off a bill (1 = 100 points per yuan).
    #[arg(long, env = "TONGJIA_POINTS_REDEEM_FEN_PER_POINT", default_value_t = 1)]
    points_redeem_fen_per_point: i64,
    /// Seconds an unpaid order holds its stock.
    #[arg(long, env = "TONGJIA_ORDER_HOLD_SECONDS", default_value_t = 900)]
    order_hold_seconds: i64,
    /// Days after fulfilment within which any store takes a return.
    #[arg(long, env = "TONGJIA_RETURN_WINDOW_DAYS", default_value_t = 7)]
    return_window_days: i64,
}

impl PolicyArgs {
    fn policy(&self) -> Result<OrderPolicy, String> {
        let points = PointsRule::new(self.points_earn_fen_per_point, self.points_redeem_fen_per_point).map_err(|e| e.to_string())?;
        if !(60..=7 * 24 * 3600).contains(&self.order_hold_seconds) {
            return Err("--order-hold-seconds must be between 60 and 604800".into());
        }
        if !(0..=365).contains(&self.return_window_days) {
            return Err("--return-window-days must be between 0 and 365".into());
        }
        Ok(OrderPolicy {
            points,
            hold_seconds: self.order_hold_seconds,
            return_window_days: self.return_window_days,
            ..OrderPolicy::default()
        })
    }
}

#[derive(Subcommand)]
enum BenchKind {
    /// BUYERS buyers race for UNITS units of one phone over HTTP (fresh temporary database).
    FlashSale {
        #[arg(long, default_value_t = 1000)]
        buyers: usize,
        #[arg(long, default_value_t = 500)]
        units: i64,
        /// Requests in flight at once.
        #[arg(long, default_value_t = 200)]
        concurrency: usize,
        /// Run on PostgreSQL: a fresh schema in the database this URL names (dropped
        /// afterwards) instead of a temporary SQLite file.
        #[arg(long, env = "TONGJIA_BENCH_PG")]
        pg: Option<String>,
        /// Servers sharing the database, each with its own connection pool; buyers are
        /// spread over them in turn. More than one needs `--pg`.
        #[arg(long, default_value_t = 1)]
        servers: usize,
    },
    /// A carry-out sale of three scanned items at the store till, by the till's pages and by
    /// the API, with each number of tills at once (fresh temporary database per run).
    Till {
        /// Tills selling at once, comma-separated: one run each.
        #[arg(long, value_delimiter = ',', default_value = "1,16")]
        tills: Vec<usize>,
        /// Sales each till makes by each path.
        #[arg(long, default_value_t = 200)]
        sales: usize,
        /// Run on PostgreSQL: a fresh schema in the database this URL names.
        #[arg(long, env = "TONGJIA_BENCH_PG")]
        pg: Option<String>,
    },
    /// Reservations (one hot SKU; spread over SKUS; 90 % quotes and 10 % reservations) by
    /// Tongjia and by the naive one-UPDATE-per-request path, on a fresh database per shape.
    Reserve {
        /// Shapes to run, comma-separated (default: all three).
        #[arg(long, value_delimiter = ',')]
        shape: Vec<bench_reserve::Shape>,
        #[arg(long, default_value_t = 20_000)]
        requests: usize,
        #[arg(long, default_value_t = 64)]
        clients: usize,
        /// SKUs of the spread and mixed shapes (one unit each in stock).
        #[arg(long, default_value_t = 10_000)]
        skus: usize,
        #[command(flatten)]
        target: bench::Target,
    },
    /// SHOPPERS shoppers at once each read the quote of one hot phone, place a delivery order
    /// for it and pay it (UNITS in stock), by Tongjia and by the naive path (fresh database).
    Checkout {
        #[arg(long, default_value_t = 2000)]
        shoppers: usize,
        #[arg(long, default_value_t = 500)]
        units: i64,
        /// Shoppers checking out at once (default: all of them).
        #[arg(long)]
        clients: Option<usize>,
        #[command(flatten)]
        target: bench::Target,
    },
    /// The network's reads (locator, quote, availability) at C clients against the same
    /// server's `GET /health`, on the demo network (fresh temporary database).
    Reads {
        #[arg(long, default_value_t = 64)]
        clients: usize,
        /// Seconds each read is asked for by all the clients (half that by one alone).
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Run on PostgreSQL: a fresh schema in the database this URL names.
        #[arg(long, env = "TONGJIA_BENCH_PG")]
        pg: Option<String>,
        /// Measure a server already serving the demo (`serve --demo`) at this address instead.
        #[arg(long)]
        url: Option<String>,
    },
    /// FEEDS store price feeds open while prices and receipts are written: how ordinary GETs
    /// fare against the same GETs with nothing open (fresh temporary database).
    Feeds {
        #[arg(long, default_value_t = 2000)]
        feeds: usize,
        /// Seconds each phase (baseline, loaded) lasts.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Run on PostgreSQL: a fresh schema in the database this URL names.
        #[arg(long, env = "TONGJIA_BENCH_PG")]
        pg: Option<String>,
    },
}

#[derive(Subcommand)]
enum SimulatorKind {
    /// Tell a server that the simulator took an order's payment (signed with its secret).
    Notify(gateways::NotifyArgs),
}

#[derive(Subcommand)]
enum AdminKind {
    /// Make an account; its password is read from TONGJIA_ADMIN_PASSWORD or standard input.
    Create {
        #[arg(long)]
        username: String,
        /// hq_admin, pricing, merchandiser, store_staff or partner.
        #[arg(long, default_value = "hq_admin")]
        role: String,
        /// A store a store_staff account works at (repeat for several).
        #[arg(long = "store")]
        stores: Vec<String>,
        /// The partner of a partner account.
        #[arg(long)]
        partner: Option<String>,
    },
    /// Make an API token for an account and print it (shown this once).
    Token {
        #[arg(long)]
        username: String,
        /// What the token is for.
        #[arg(long, default_value = "cli")]
        name: String,
        /// full or read.
        #[arg(long, default_value = "full")]
        scope: String,
        /// Days until it expires (1-366).
        #[arg(long, default_value_t = 90)]
        days: i64,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ImportKind {
    /// product_code,product_name,category,sku_code,sku_name,attributes,gtin,active,list_price_fen
    Catalog,
    /// store_code,name,kind,county_code,township_code,longitude,latitude,status,opened_on,closed_on,pickup,ship_from_store,delivery_radius_km,partner_code,partner_name
    Stores,
    /// location_code,sku_code,owner,quantity,reference
    Stock,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // A benchmark's servers log each request: only warnings, so the table and bars stay readable.
    let quiet = matches!(cli.command, Command::Bench { .. });
    let default = if quiet { "warn" } else { "info,sqlx=warn" };
    tracing_subscriber::fmt().with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default))).init();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Bench { which: BenchKind::FlashSale { buyers, units, concurrency, pg, servers } } => {
            return bench::flash_sale(bench::Setup { buyers, units, concurrency, pg, servers }).await;
        }
        Command::Bench { which: BenchKind::Till { tills, sales, pg } } => {
            return bench_till::till(bench_till::Setup { tills, sales, pg }).await;
        }
        Command::Bench { which: BenchKind::Reserve { shape, requests, clients, skus, target } } => {
            let setup = bench_reserve::Setup { shapes: shape, requests, clients, skus, target };
            return bench_reserve::reserve(setup).await;
        }
        Command::Bench { which: BenchKind::Checkout { shoppers, units, clients, target } } => {
            let setup = bench_checkout::Setup { shoppers, units, clients, target };
            return bench_checkout::checkout(setup).await;
        }
        Command::Bench { which: BenchKind::Reads { clients, seconds, pg, url } } => {
            return bench_reads::reads(bench_reads::Setup { clients, seconds, pg, url }).await;
        }
        Command::Bench { which: BenchKind::Feeds { feeds, seconds, pg } } => {
            return bench_feeds::feeds(bench_feeds::Setup { feeds, seconds, pg }).await;
        }
        Command::Simulator { what: SimulatorKind::Notify(args) } => return gateways::notify(&args).await,
        Command::Restore { from } => {
            let db = Db::restore(&cli.db, &from).await.map_err(|e| format!("cannot restore {}: {e}", from.display()))?;
            println!("restored {} into {} ({})", from.display(), redacted(&cli.db), db.backend().name());
            db.close().await;
            return Ok(());
        }
        _ => {}
    }
    if let (Command::Backup { .. }, Some(file)) = (&cli.command, Db::sqlite_file(&cli.db))
        && !file.is_file()
    {
        return Err(format!("no database at {}: nothing to back up (check --db)", file.display()));
    }
    let options = tongjia_storage::Options {
        max_connections: cli.db_max_connections,
        write_wait: std::time::Duration::from_millis(cli.db_write_wait_ms),
    };
    let db = Db::connect_with(&cli.db, &options).await.map_err(|e| format!("cannot open {}: {e}", redacted(&cli.db)))?;
    let result = match cli.command {
        Command::Serve { demo, listen, metrics_listen, policy, limits, retention, gateways } => match policy.policy() {
            Ok(policy) => serve(&db, demo, (listen, metrics_listen), policy, (&limits, &retention), &gateways).await,
            Err(e) => Err(e),
        },
        Command::Demo { scale } => demo::seed_at(&db, scale).await.map(|summary| println!("{summary}")),
        Command::Import { what, file, update, check } => import::run(&db, what, &file, import::Options { update, check }).await,
        Command::Coverage { at, township_target } => report::coverage(&db, at, township_target).await,
        Command::Plan { stores, weights, at } => report::plan(&db, stores, weights.as_deref(), at).await,
        Command::Admin { what: AdminKind::Create { username, role, stores, partner } } => {
            match admin::binding(&role, &stores, partner.as_deref()) {
                Ok(binding) => admin::create(&db, &username, binding).await,
                Err(e) => Err(e),
            }
        }
        Command::Admin { what: AdminKind::Token { username, name, scope, days } } => {
            admin::token(&db, &username, &name, &scope, days).await
        }
        Command::Migrate => db.schema_version().await.map(|v| println!("schema at migration {v}")).map_err(|e| e.to_string()),
        Command::Backup { to } => db.backup(&to).await.map(|()| println!("backed up to {}", to.display())).map_err(|e| e.to_string()),
        Command::Bench { .. } | Command::Restore { .. } | Command::Simulator { .. } => Ok(()),
    };
    db.close().await;
    result
}

async fn serve(
    db: &Db,
    demo: bool,
    (listen, metrics_listen): (SocketAddr, Option<SocketAddr>),
    policy: OrderPolicy,
    (limits, retention): (&limits::LimitArgs, &limits::RetentionArgs),
    gateways: &gateways::GatewayArgs,
) -> Result<(), String> {
    if demo {
        // Servers started together on one empty database seed it once: the first seeds,
        // the others find it not empty.
        let seeded = db.one_at_a_time("demo-seed", async || demo::seed(db).await).await.map_err(|e| e.to_string())?;
        match seeded {
            Ok(summary) => tracing::info!("{summary}"),
            Err(e) if e.starts_with(demo::NOT_EMPTY) => tracing::info!("database already holds data: demo seed skipped"),
            Err(e) => return Err(e),
        }
        let logins = db.one_at_a_time("demo-logins", async || admin::demo_logins(db).await).await.map_err(|e| e.to_string())?;
        println!("{}\n{}", logins?, gateways.demo_note());
    }
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!("Tongjia listening on http://{addr} (API docs at http://{addr}/api/v1/docs/)");
    let mut settings = tongjia_server::Settings { policy, metrics_listen, ..Default::default() };
    gateways.apply(demo, &mut settings);
    limits.apply(&mut settings);
    retention.apply(&mut settings);
    tongjia_server::serve(listener, db.clone(), settings, shutdown_signal()).await.map_err(|e| e.to_string())
}

/// A database URL fit for a log line: any password replaced by `***`.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!("{}{}:***{}", &url[..scheme + 3], &userinfo[..colon], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

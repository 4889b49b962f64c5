//! `tongjia`: serve the engine, seed demo data, import CSV files.

mod bench;
mod demo;
mod import;
mod progress;

use clap::{Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use tongjia_storage::Db;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(name = "tongjia", version, about = "Tongjia (同价): one price, one inventory, one order flow for every channel and store")]
struct Cli {
    /// The SQLite database file (created if missing).
    #[arg(long, global = true, env = "TONGJIA_DB", default_value = "./tongjia.db")]
    db: PathBuf,
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
    },
    /// Seed the database with the demo brand, its network, prices and stock.
    Demo,
    /// Benchmarks against a baseline measured in the same run (see BENCHMARKS.md).
    Bench {
        #[command(subcommand)]
        which: BenchKind,
    },
    /// Import a CSV file: all rows or none.
    Import { what: ImportKind, file: PathBuf },
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
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn")))
        .init();
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    if let Command::Bench { which: BenchKind::FlashSale { buyers, units, concurrency } } = cli.command {
        return bench::flash_sale(buyers, units, concurrency).await;
    }
    let db = Db::open(&cli.db).await.map_err(|e| format!("cannot open {}: {e}", cli.db.display()))?;
    let result = match cli.command {
        Command::Serve { demo, listen } => serve(&db, demo, listen).await,
        Command::Demo => demo::seed(&db).await.map(|summary| println!("{summary}")),
        Command::Import { what, file } => import::run(&db, what, &file).await,
        Command::Bench { .. } => Ok(()),
    };
    db.close().await;
    result
}

async fn serve(db: &Db, demo: bool, listen: SocketAddr) -> Result<(), String> {
    if demo {
        match demo::seed(db).await {
            Ok(summary) => tracing::info!("{summary}"),
            Err(e) if e.starts_with(demo::NOT_EMPTY) => tracing::info!("database already holds data: demo seed skipped"),
            Err(e) => return Err(e),
        }
    }
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!("Tongjia listening on http://{addr} (API docs at http://{addr}/api/v1/docs/)");
    tongjia_server::serve(listener, db.clone(), tongjia_server::Settings::default(), shutdown_signal()).await.map_err(|e| e.to_string())
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

//! Limits that keep one client from taking the server: heavy answers bounded and off the
//! async workers (a few at a time, stopped when their client goes away), slow heads and
//! bodies dropped on time, idle connections closed, a connection cap that still answers,
//! problem documents for the answers hyper writes itself, and a shutdown that ends in time.

mod common;

use common::{TestApp, spawn_app_with};
use reqwest::StatusCode;
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tongjia_server::{Limits, Settings};
use tongjia_storage::Backend;

fn settings(limits: Limits) -> Settings {
    Settings { sweep_interval: Duration::from_secs(3600), limits, ..Default::default() }
}

/// Reads a raw answer until the server closes the connection (or `within` passes).
async fn read_to_close(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut out = vec![];
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline.into(), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(String::from_utf8_lossy(&out).into_owned()),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => return None,
        }
    }
}

fn problem_of(answer: &str) -> (u16, Value, bool) {
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((answer, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let is_problem = head.to_ascii_lowercase().contains("content-type: application/problem+json");
    (status, serde_json::from_str(body).unwrap_or(Value::Null), is_problem)
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.base.trim_start_matches("http://")).await.expect("connect")
}

#[tokio::test]
async fn a_trend_chart_is_bounded() {
    let app = spawn_app_with(Backend::Sqlite, settings(Limits::default())).await;
    let (s, p) = app.get("/api/v1/network/coverage.svg?from=0001-01-01&at=9999-12-01").await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("range_too_long")), "{p}");
    let res = app.client.get(app.url("/api/v1/network/coverage.svg?from=2016-12-01&at=2026-11-01")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "120 months are drawn");
}

#[tokio::test]
async fn heavy_answers_wait_their_turn_and_stop_when_their_client_goes() {
    let settings = Settings { heavy_concurrency: 1, heavy_queue_wait: Duration::from_millis(50), ..settings(Limits::default()) };
    let app = spawn_app_with(Backend::Sqlite, settings).await;
    let chart = app.url("/api/v1/network/coverage.svg?from=2016-12-01&at=2026-11-01");
    // A client that gives up after 100 ms, while its chart is still being drawn.
    let gone = app.client.get(&chart).timeout(Duration::from_millis(100)).send().await;
    assert!(gone.is_err(), "the chart takes longer than 100 ms");
    // Its permit is still taken for a moment: the next heavy request cannot wait 50 ms for it.
    let (s, p) = app.get("/api/v1/network/coverage").await;
    let busy = s == StatusCode::SERVICE_UNAVAILABLE && p["code"] == "server_busy";
    // The async workers are free meanwhile: health answers.
    let health = tokio::time::timeout(Duration::from_secs(5), app.get("/health")).await.expect("health answers during heavy work");
    assert_eq!(health.0, StatusCode::OK);
    // The abandoned chart stops early, and the permit comes back.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
        if metrics.contains("tongjia_heavy_stopped_total 1") {
            assert!(!busy || metrics.contains("tongjia_heavy_refused_total 1"), "{metrics}");
            break;
        }
        assert!(Instant::now() < deadline, "the abandoned chart never stopped:\n{metrics}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (s, _) = app.get("/api/v1/network/coverage").await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn slow_heads_slow_bodies_and_idle_connections_are_dropped_on_time() {
    let limits = Limits { header_timeout: Duration::from_millis(800), body_timeout: Duration::from_millis(800), ..Limits::default() };
    let app = spawn_app_with(Backend::Sqlite, settings(limits)).await;
    // A head sent a byte at a time, too slowly.
    let mut slow = connect(&app).await;
    let started = Instant::now();
    for b in b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ".iter().cycle() {
        if slow.write_all(&[*b]).await.is_err() || started.elapsed() > Duration::from_secs(5) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(started.elapsed() < Duration::from_secs(3), "a slow head was held {:?}", started.elapsed());
    // A body that never finishes: 408, as a problem.
    let mut trickle = connect(&app).await;
    trickle
        .write_all(
            format!(
                "POST /api/v1/products HTTP/1.1\r\nHost: x\r\nauthorization: Bearer {}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"product",
                app.token
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let answer = read_to_close(&mut trickle, Duration::from_secs(5)).await.expect("the trickling body is answered and closed");
    let (status, body, is_problem) = problem_of(&answer);
    assert_eq!((status, body["code"].as_str(), is_problem), (408, Some("body_timeout"), true), "{answer}");
    // An idle keep-alive connection is closed after the head timeout.
    let mut idle = connect(&app).await;
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let answer = read_to_close(&mut idle, Duration::from_secs(5)).await.expect("an idle connection is closed");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn a_connection_over_the_cap_is_answered_not_left_waiting() {
    let app = spawn_app_with(Backend::Sqlite, settings(Limits { max_connections: 3, ..Limits::default() })).await;
    let mut held = vec![];
    for _ in 0..3 {
        let mut c = connect(&app).await;
        c.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut buf = [0u8; 512];
        let n = c.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        held.push(c);
    }
    let mut extra = connect(&app).await;
    let answer = read_to_close(&mut extra, Duration::from_secs(5)).await.expect("answered at once");
    let (status, body, is_problem) = problem_of(&answer);
    assert_eq!((status, body["code"].as_str(), is_problem), (503, Some("too_many_connections"), true), "{answer}");
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(5);
    while app.client.get(app.url("/health")).send().await.map(|r| r.status()).ok() != Some(StatusCode::OK) {
        assert!(Instant::now() < deadline, "connections freed are taken again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn answers_hyper_writes_itself_are_problems() {
    let app = spawn_app_with(Backend::Sqlite, settings(Limits::default())).await;
    let huge = format!("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(tongjia_server::HEADER_BYTES_MAX + 1024));
    for (request, status, code) in [
        ("HELLO THERE\r\n\r\n".to_owned(), 400, "bad_request"),
        ("GET /health HTTP/1.1\r\nHo st: x\r\n\r\n".to_owned(), 400, "bad_request"),
        (huge, 431, "headers_too_large"),
    ] {
        let mut c = connect(&app).await;
        let _ = c.write_all(request.as_bytes()).await;
        let answer = read_to_close(&mut c, Duration::from_secs(5)).await.expect("answered and closed");
        let (s, body, is_problem) = problem_of(&answer);
        assert_eq!((s, body["code"].as_str(), is_problem), (status, Some(code), true), "{answer}");
    }
}

#[tokio::test]
async fn shutdown_ends_within_its_grace_whatever_is_running() {
    let store = tongjia_storage::testing::TestDb::fresh(Backend::Sqlite).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let limits = Limits { shutdown_grace: Duration::from_millis(500), ..Limits::default() };
    let server = tokio::spawn(tongjia_server::serve(listener, store.db.clone(), settings(limits), async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    // An event stream, a heavy chart and an idle connection are all open when it stops.
    let stream = client.get(format!("{base}/api/v1/events/stream")).send().await.unwrap();
    let chart = tokio::spawn(client.get(format!("{base}/api/v1/network/coverage.svg?from=2016-12-01&at=2026-11-01")).send());
    let mut idle = TcpStream::connect(base.trim_start_matches("http://")).await.unwrap();
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let asked = Instant::now();
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server).await.expect("the server stops within its grace").unwrap().unwrap();
    assert!(asked.elapsed() < Duration::from_secs(3), "stopped after {:?}", asked.elapsed());
    drop((stream, chart));
}

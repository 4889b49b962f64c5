//! Retention over HTTP, with the real job running on short windows: keys and events go, the
//! job shows in `/metrics`, a retry after the key's window is a new request, and a reader
//! resuming from before the trimmed events is told so (`410 events_trimmed`) instead of
//! silently missing them.

mod common;

use common::{ok, spawn_app_with};
use jiff::SignedDuration;
use reqwest::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};
use tongjia_storage::{Backend, Retention};

async fn kept_for_a_window_then_removed(backend: Backend) {
    let settings = tongjia_server::Settings {
        sweep_interval: Duration::from_secs(3600),
        retention: Retention { idempotency_keys: SignedDuration::from_secs(1), events: SignedDuration::from_secs(1) },
        retention_interval: Duration::from_millis(200),
        ..Default::default()
    };
    let app = spawn_app_with(backend, settings).await;
    app.seed_basics().await;
    let receipt = json!({"location_code": "D-1", "sku_code": "NOTE13-BLK", "quantity": 1});
    assert_eq!(app.post_with_key("/api/v1/stock/receipts", "r-1", receipt.clone()).await.status(), StatusCode::CREATED);
    let replay = app.post_with_key("/api/v1/stock/receipts", "r-1", receipt.clone()).await;
    assert_eq!(replay.headers().get("idempotent-replayed").map(|v| v.to_str().unwrap().to_owned()), Some("true".into()));
    let head = app.db.outbox_head().await.unwrap();
    let first_page = ok(app.get("/api/v1/events?limit=1").await);
    let cursor = first_page["next_cursor"].as_str().expect("more than one event").to_owned();

    let deadline = Instant::now() + Duration::from_secs(15);
    while app.db.outbox_trimmed_through().await.unwrap() < head {
        assert!(Instant::now() < deadline, "the outbox was never trimmed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains(r#"tongjia_retention_removed_total{table="outbox"}"#), "{metrics}");
    assert!(!metrics.contains(r#"tongjia_retention_removed_total{table="idempotency_keys"} 0"#), "{metrics}");

    // The key's window has passed: the same request is a new one.
    let again = app.post_with_key("/api/v1/stock/receipts", "r-1", receipt).await;
    assert_eq!((again.status(), again.headers().get("idempotent-replayed").is_none()), (StatusCode::CREATED, true));
    // Resuming from before the trim is refused with its reason; starting fresh is fine.
    let (s, p) = app.get(&format!("/api/v1/events?after={cursor}")).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::GONE, Some("events_trimmed")), "{p}");
    let res = app.client.get(app.url("/api/v1/events/stream")).header("Last-Event-ID", "1").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::GONE);
    let fresh = app.client.get(app.url("/api/v1/events/stream")).send().await.unwrap();
    assert_eq!(fresh.status(), StatusCode::OK);
    let resumed = app.client.get(app.url(&format!("/api/v1/events/stream?after_seq={head}"))).send().await.unwrap();
    assert_eq!(resumed.status(), StatusCode::OK, "a reader that saw every trimmed event resumes");
    ok(app.get("/api/v1/events").await);
}

tongjia_storage::backend_tests!(kept_for_a_window_then_removed);

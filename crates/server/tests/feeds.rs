//! Store price feeds (`/events/stream?event_type=price.scheduled`) cost work in proportion
//! to the events they deliver: many feeds open while other writes go on read the outbox
//! once each to catch up, and then not at all — the server's one reader hands them the new
//! events. Counted in `/metrics` (`tongjia_outbox_reads_total`, `tongjia_outbox_rows_read_total`).

mod common;

use common::{TestApp, ok, spawn_app};
use serde_json::json;
use tongjia_storage::Backend;

const FEEDS: usize = 40;
const OTHER_WRITES: usize = 30;

async fn metric(app: &TestApp, series: &str) -> u64 {
    let text = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    text.lines().find_map(|l| l.strip_prefix(series).and_then(|r| r.strip_prefix(' '))).map_or(0, |v| v.parse().unwrap())
}

/// Reads `res` until it holds `n` events of type `kind`.
async fn events_of(res: &mut reqwest::Response, kind: &str, n: usize) -> String {
    let frame = format!("event: {kind}\n");
    common::read_stream_while(res, &format!("{n} {kind}"), |text| text.matches(&frame).count() >= n).await
}

async fn filtered_feeds_read_only_what_they_deliver(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_basics().await;
    let mut feeds = vec![];
    for _ in 0..FEEDS {
        let mut res = app.client.get(app.url("/api/v1/events/stream?event_type=price.scheduled")).send().await.unwrap();
        events_of(&mut res, "price.scheduled", 1).await;
        feeds.push(res);
    }
    let reads = r#"tongjia_outbox_reads_total{reader="stream"}"#;
    let rows = r#"tongjia_outbox_rows_read_total{reader="stream"}"#;
    let (reads_open, rows_open) = (metric(&app, reads).await, metric(&app, rows).await);
    assert!(reads_open <= 2 * FEEDS as u64, "{reads_open} reads to open {FEEDS} feeds");
    for i in 0..OTHER_WRITES {
        ok(app.post("/api/v1/stock/receipts", json!({"location_code": "D-1", "sku_code": "NOTE13-BLK", "quantity": 1 + i})).await);
    }
    ok(app.post("/api/v1/skus/NOTE13-BLK/prices", json!({"list_price_fen": 129900})).await);
    for feed in &mut feeds {
        let text = events_of(feed, "price.scheduled", 1).await;
        assert!(text.contains("\"price_version\":2") && !text.contains("stock.received"), "{text}");
    }
    // The feeds took every new event from the server's reader: no read of their own.
    assert_eq!((metric(&app, reads).await, metric(&app, rows).await), (reads_open, rows_open));
    let feed_rows = metric(&app, r#"tongjia_outbox_rows_read_total{reader="feed"}"#).await;
    assert!(feed_rows > OTHER_WRITES as u64, "the reader read each new event: {feed_rows}");
    assert!(feed_rows <= 3 * (OTHER_WRITES as u64 + 1), "and each about once, whatever the feeds: {feed_rows}");
    // A feed resuming from the start reads only the events it delivers.
    let mut resumed = app.client.get(app.url("/api/v1/events/stream?event_type=price.scheduled&after_seq=0")).send().await.unwrap();
    events_of(&mut resumed, "price.scheduled", 2).await;
    assert_eq!(metric(&app, rows).await, rows_open + 2);
}

tongjia_storage::backend_tests!(filtered_feeds_read_only_what_they_deliver);

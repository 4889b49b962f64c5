//! `/till/{store_code}/prices`: the open till's price feed (server-sent events). At the
//! moment a price version takes effect the server's price clock publishes it and every open
//! till gets an `price` event (`{"sku_code", "price_version", "list_price", "effective_at"}`)
//! and reprices its cart — no reload. The stream opens with a `ready` event, checks its
//! credentials again every few seconds (a signed-out clerk's till stops hearing), and ends
//! when the server stops. Each delivery is counted for the console ("tills told").

use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::broadcast;
use tongjia_domain::access::Principal;
use tongjia_domain::codes::LocationCode;
use tongjia_domain::pricing::PriceVersion;

use crate::AppState;
use crate::http::credentials_of;

/// How often the stream checks its credentials again.
const CREDENTIALS_RECHECK: Duration = Duration::from_secs(5);

/// One till's stream between events.
struct Till {
    app: AppState,
    store: LocationCode,
    principal: Principal,
    credentials: HeaderMap,
    checked_at: Instant,
    prices: broadcast::Receiver<Arc<PriceVersion>>,
    _place: crate::http::StreamPlace,
    opened: bool,
}

impl Till {
    /// The next price to send, or None when the stream should end.
    async fn next_price(&mut self) -> Option<Arc<PriceVersion>> {
        let mut stopping = self.app.stopping.clone();
        loop {
            let recheck = tokio::time::sleep(CREDENTIALS_RECHECK.saturating_sub(self.checked_at.elapsed()));
            tokio::select! {
                got = self.prices.recv() => match got {
                    Ok(v) => return Some(v),
                    // Too slow to take them all: the till reprices its cart on the next anyway.
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                _ = recheck => {
                    self.checked_at = Instant::now();
                    if crate::auth::still_signed(&self.app.db, &self.credentials, &self.principal).await == Some(false) {
                        return None;
                    }
                }
                _ = stopping.changed() => return None,
            }
        }
    }
}

/// The stream for the till at `store` (its caller already admitted to it).
pub(crate) fn stream(
    app: AppState,
    store: LocationCode,
    principal: Principal,
    headers: HeaderMap,
) -> crate::problem::ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    let _place = app.streams.take(&principal.id)?;
    let prices = app.price_clock.effective.subscribe();
    let start =
        Till { app, store, principal, credentials: credentials_of(&headers), checked_at: Instant::now(), prices, _place, opened: false };
    let events = stream::unfold(start, |mut till| async move {
        if !till.opened {
            till.opened = true;
            return Some((Ok(SseEvent::default().retry(Duration::from_secs(1)).event("ready").data(till.store.to_string())), till));
        }
        let v = till.next_price().await?;
        till.app.price_clock.delivered(&v, till.store.as_str());
        let data = serde_json::json!({
            "sku_code": v.sku_code,
            "price_version": v.version,
            "list_price": v.list_price.to_string(),
            "effective_at": v.effective_at,
        });
        Some((Ok(SseEvent::default().event("price").data(data.to_string())), till))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

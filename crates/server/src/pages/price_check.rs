//! `/p/{sku_code}`: the shopper's price check, public — the one price, its version and since
//! when it holds, the member price, the next change if one is announced, and stock at the
//! stores nearest to a place the shopper picks (province → city → county, China's real
//! divisions). The shelf label's QR code points here.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use jiff::Timestamp;
use maud::{Markup, html};
use serde::Deserialize;
use tongjia_domain::codes::SkuCode;
use tongjia_domain::pricing::{PriceVersion, Quote};
use tongjia_storage::reference::divisions;

use super::places::{place_picker, trail};
use super::{Lang, Shell, error_page, layout};
use crate::AppState;
use crate::http::{NearbyStore, nearest_with_stock};
use crate::problem::{ApiError, ApiResult};

/// Stores listed under "in stock near you".
const NEAREST_SHOWN: usize = 5;

#[derive(Debug, Deserialize)]
pub(crate) struct CheckQuery {
    /// Where the shopper is: a province, prefecture or county code.
    division_code: Option<String>,
    lang: Option<String>,
}

/// Everything the page shows.
struct Check {
    sku_code: String,
    name: String,
    /// The barcode printed on the box and the shelf label.
    gtin: String,
    quote: Option<Quote>,
    next: Option<PriceVersion>,
    place: Vec<(String, String)>,
    nearest: Option<Vec<(NearbyStore, String)>>,
}

async fn load(app: &AppState, raw: &str, q: &CheckQuery) -> ApiResult<Check> {
    let code = SkuCode::parse(raw)?;
    let Some(sku) = app.db.sku(code.as_str()).await? else {
        return Err(ApiError::not_found("sku_not_found", format!("no SKU {code}")));
    };
    let now = Timestamp::now();
    // The price book's quote and history: the same calls as the API's.
    let quote = app.db.quote(&code, now, false).await.ok();
    // The next change is the version that will be in force at the next effective time (of
    // two scheduled for the same moment, the later wins), as the price book will quote it.
    let versions = app.db.price_versions(&code).await?;
    let next_at = versions.iter().map(|v| v.effective_at).filter(|t| *t > now).min();
    let next = next_at.and_then(|t| tongjia_domain::pricing::version_at(&versions, t)).cloned();
    let chosen = q.division_code.as_deref().map(str::trim).filter(|c| !c.is_empty());
    let place = match chosen {
        Some(c) => trail(c).ok_or_else(|| ApiError::not_found("division_not_found", format!("no division {c}")))?,
        None => vec![],
    };
    let nearest = match chosen.and_then(|c| divisions().point_of(c)) {
        Some(point) => {
            let mut shown = vec![];
            for store in nearest_with_stock(app, &point, Some(&code), NEAREST_SHOWN).await? {
                let name = app.db.location(&store.store_code).await?.map(|l| l.location.name).unwrap_or_default();
                shown.push((store, name));
            }
            Some(shown)
        }
        None => None,
    };
    Ok(Check { sku_code: code.to_string(), name: sku.sku.name, gtin: sku.sku.gtin.to_string(), quote, next, place, nearest })
}

pub(crate) async fn check(State(app): State<AppState>, Path(raw): Path<String>, Query(q): Query<CheckQuery>) -> Response {
    let lang = Lang::from_query(q.lang.as_deref());
    match load(&app, &raw, &q).await {
        Ok(check) => super::page(render(lang, &check)),
        Err(e) => error_page(lang, e),
    }
}

/// A time as shoppers in China read it.
fn local(t: Timestamp) -> String {
    t.to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(8))).strftime("%Y-%m-%d %H:%M").to_string()
}

fn render(lang: Lang, c: &Check) -> Markup {
    let here = format!("/p/{}", c.sku_code);
    let body = html! {
        div.card {
            h1 { (c.name) }
            div.muted { (c.sku_code) " · " (lang.t("barcode")) " " span.gtin { (c.gtin) } }
            @match &c.quote {
                Some(q) => {
                    div.price data-price-fen=(q.list_price.get()) { (q.list_price) }
                    @if let Some(m) = q.member_price { div { (lang.t("member_price")) ": " strong { (m) } } }
                    div.muted { (lang.t("price_version")) " v" (q.price_version) " · " (lang.t("since")) " " (local(q.effective_at)) }
                    p { (lang.t("same_everywhere")) }
                    div.inline { a.buy href=(lang.link(&format!("/buy/{}", c.sku_code))) { (lang.t("buy")) } " " (super::basket::add_button(lang, &c.sku_code)) }
                }
                None => { div.price { (lang.t("no_price")) } }
            }
            @match &c.next {
                Some(v) => div { (lang.t("next_change")) ": " strong { (v.list_price) } " · " (local(v.effective_at)) (v.note.as_deref().map(|n| format!(" · {n}")).unwrap_or_default()) },
                None => div.muted { (lang.t("none_announced")) },
            }
        }
        div.card {
            h2 { (lang.t("stock_near")) }
            (place_picker(lang, &here, &c.place, &[]))
            @if let Some(nearest) = &c.nearest {
                @if nearest.is_empty() { p { (lang.t("none_near")) } }
                @else {
                    table {
                        tr { th { (lang.t("store")) } th { (lang.t("distance")) } th { (lang.t("available")) } }
                        @for (s, name) in nearest {
                            tr { td { (name) " " span.muted { (s.store_code) } } td { (format!("{:.1} km", s.distance_m as f64 / 1000.0)) } td { (s.available.unwrap_or(0)) } }
                        }
                    }
                }
            }
        }
    };
    layout(&Shell::public(lang, lang.t("price_check"), &here), body)
}

//! `/console`: today's sales by channel and by store kind, orders by state, the value of the
//! stock on hand at the prices in force, and the last 30 days' sales as a chart.

use axum::extract::{RawQuery, State};
use axum::response::Response;
use jiff::{SignedDuration, Timestamp};
use maud::{Markup, PreEscaped, html};
use std::fmt::Write;
use tongjia_domain::Fen;
use tongjia_domain::codes::SkuCode;
use tongjia_domain::pricing::stock_value;
use tongjia_storage::SalesRow;

use super::frame;
use crate::AppState;
use crate::auth::{Caller, SessionCsrf};
use crate::pages::{Lang, error_page, page};
use crate::problem::ApiResult;

/// China's days start at 16:00 UTC.
const CHINA_OFFSET_SECS: i64 = 8 * 3600;
/// Days the chart shows.
const CHART_DAYS: i64 = 30;

struct Figures {
    by_channel: Vec<SalesRow>,
    by_kind: Vec<SalesRow>,
    by_status: Vec<(String, i64)>,
    stock_value: Fen,
    units: i64,
    days: Vec<(i64, i64, Fen)>,
    today: i64,
}

/// The start of today in China.
fn start_of_day(now: Timestamp) -> (Timestamp, i64) {
    let day = (now.as_second() + CHINA_OFFSET_SECS).div_euclid(86_400);
    (Timestamp::from_second(day * 86_400 - CHINA_OFFSET_SECS).unwrap_or(now), day)
}

async fn figures(app: &AppState) -> ApiResult<Figures> {
    let now = app.db.now();
    let (midnight, today) = start_of_day(now);
    let chart_from = midnight.checked_sub(SignedDuration::from_hours(24 * (CHART_DAYS - 1))).unwrap_or(midnight);
    let units: Vec<(SkuCode, i64)> =
        app.db.units_by_sku().await?.into_iter().filter_map(|(s, n)| SkuCode::parse(&s).ok().map(|s| (s, n))).collect();
    let versions = app.db.every_price_version().await?;
    Ok(Figures {
        by_channel: app.db.sales_by_channel(midnight).await?,
        by_kind: app.db.sales_by_store_kind(midnight).await?,
        by_status: app.db.orders_by_status().await?,
        stock_value: stock_value(&units, &versions, now),
        units: units.iter().map(|(_, n)| n).sum(),
        days: app.db.sales_by_day(chart_from, CHINA_OFFSET_SECS).await?,
        today,
    })
}

pub(super) async fn show(State(app): State<AppState>, caller: Caller, csrf: SessionCsrf, RawQuery(q): RawQuery) -> Response {
    let lang = Lang::of_query(q.as_deref());
    match figures(&app).await {
        Ok(f) => page(frame(lang, &caller, &csrf, lang.t("dashboard"), "/console", render(lang, &f))),
        Err(e) => error_page(lang, e),
    }
}

fn sales_table(lang: Lang, id: &str, rows: &[SalesRow]) -> Markup {
    html! {
        table id=(id) {
            tr { th {} th.num { (lang.t("orders")) } th.num { (lang.t("sales")) } th.num { (lang.t("refunded")) } }
            @for r in rows {
                tr data-key=(r.key) { td { (lang.t(kind_word(&r.key))) } td.num { (r.orders) } td.num { (r.paid) } td.num { (r.refunded) } }
            }
            @if rows.is_empty() { tr { td colspan="4" { span.muted { (lang.t("no_sales_yet")) } } } }
        }
    }
}

/// The word for a channel or store kind.
fn kind_word(key: &str) -> &'static str {
    match key {
        "online" => "channel_online",
        "store" => "channel_store",
        "direct" => "kind_direct",
        "authorized" => "kind_authorized",
        "township_authorized" => "kind_township",
        _ => "other",
    }
}

fn render(lang: Lang, f: &Figures) -> Markup {
    html! {
        div.grid {
            div.card { h2 { (lang.t("today_by_channel")) } (sales_table(lang, "by-channel", &f.by_channel)) }
            div.card { h2 { (lang.t("today_by_store_kind")) } (sales_table(lang, "by-kind", &f.by_kind)) }
            div.card {
                h2 { (lang.t("orders_by_state")) }
                table #by-status { @for (s, n) in &f.by_status { tr { td { (lang.t(status_word(s))) } td.num { (n) } } } }
            }
            div.card {
                h2 { (lang.t("stock_value")) }
                div.price #stock-value { (f.stock_value) }
                div.muted { (f.units) " " (lang.t("units_at_list_price")) }
            }
        }
        div.card {
            h2 { (lang.t("sales_30_days")) }
            (chart(&f.days, f.today))
        }
    }
}

fn status_word(s: &str) -> &'static str {
    ["placed", "reserved", "paid", "fulfilling", "shipped", "ready_for_pickup", "completed", "cancelled"]
        .into_iter()
        .find(|w| *w == s)
        .unwrap_or("other")
}

/// Daily sales, net of refunds, as bars (drawn here: no chart library, no script).
fn chart(days: &[(i64, i64, Fen)], today: i64) -> Markup {
    let (w, h, left, bottom) = (900_i64, 220_i64, 70_i64, 30_i64);
    let most = days.iter().map(|(_, _, f)| f.get()).max().unwrap_or(0).max(1);
    let slot = (w - left) / CHART_DAYS;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg id="sales-chart" viewBox="0 0 {w} {h}" width="100%" role="img" xmlns="http://www.w3.org/2000/svg" font-size="11">"##
    );
    let _ = write!(svg, r##"<line x1="{left}" y1="{}" x2="{w}" y2="{}" stroke="#999"/>"##, h - bottom, h - bottom);
    let _ = write!(svg, r##"<text x="0" y="14">{}</text>"##, Fen::new(most));
    for i in 0..CHART_DAYS {
        let day = today - (CHART_DAYS - 1) + i;
        let x = left + i * slot;
        if let Some((_, n, f)) = days.iter().find(|(d, ..)| *d == day) {
            let bar = (f.get().max(0) * (h - bottom - 20)) / most;
            let _ = write!(
                svg,
                r##"<rect x="{}" y="{}" width="{}" height="{bar}" fill="#b3121f"><title>{}: {} · {n}</title></rect>"##,
                x + 2,
                h - bottom - bar,
                slot - 4,
                date_of(day),
                f
            );
        }
        if i % 5 == 4 || i == CHART_DAYS - 1 {
            let _ = write!(svg, r##"<text x="{}" y="{}" text-anchor="middle">{}</text>"##, x + slot / 2, h - 10, &date_of(day)[5..]);
        }
    }
    svg.push_str("</svg>");
    html! { (PreEscaped(svg)) }
}

/// Day `day` (since the epoch, China's days) as a date.
fn date_of(day: i64) -> String {
    Timestamp::from_second(day * 86_400).map(|t| t.strftime("%Y-%m-%d").to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn china_s_day_starts_at_sixteen_hundred_utc() {
        let (midnight, day) = start_of_day("2026-12-04T15:59:59Z".parse().unwrap());
        assert_eq!(midnight.to_string(), "2026-12-03T16:00:00Z");
        let (next, next_day) = start_of_day("2026-12-04T16:00:00Z".parse().unwrap());
        assert_eq!((next.to_string().as_str(), next_day), ("2026-12-04T16:00:00Z", day + 1));
        assert_eq!(date_of(next_day), "2026-12-05");
    }
}

//! `/console/stores`: the stores, by province, kind and status; `/console/stores/{code}`: one
//! store with its stock, its sales and its staff; `/console/stock`: one SKU across the
//! network (`?sku_code=`), or one location's stock with its receipts and transfers
//! (`?location_code=`).

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use maud::{Markup, html};
use tongjia_domain::codes::SkuCode;
use tongjia_domain::location::{LocationKind, LocationStatus};
use tongjia_domain::network::DivisionLevel;
use tongjia_storage::reference::divisions;
use tongjia_storage::{LocationFilter, OrderFilter, PageRequest, StockFilter};

use super::{fields, first, frame, local};
use crate::AppState;
use crate::auth::{Caller, SessionCsrf};
use crate::pages::step::short;
use crate::pages::{Lang, error_page, page};
use crate::problem::{ApiError, ApiResult};

/// Rows on one page of a list.
const ROWS: u32 = 50;

fn kind_word(k: LocationKind) -> &'static str {
    match k {
        LocationKind::Direct => "kind_direct",
        LocationKind::Authorized => "kind_authorized",
        LocationKind::TownshipAuthorized => "kind_township",
        _ => "warehouse",
    }
}

pub(super) async fn stores(State(app): State<AppState>, caller: Caller, csrf: SessionCsrf, RawQuery(q): RawQuery) -> Response {
    let f = fields(q.as_deref());
    let lang = Lang::from_query(first(&f, "lang"));
    let (province, kind, status) = (first(&f, "province"), first(&f, "kind"), first(&f, "status"));
    let loaded = async {
        let filter = LocationFilter {
            stores: Some(true),
            kind: kind.map(LocationKind::parse).transpose()?,
            status: status.map(LocationStatus::parse).transpose()?,
            division: province.map(str::to_owned),
            partner_code: None,
        };
        ApiResult::Ok(app.db.locations(&filter, &PageRequest { limit: Some(ROWS), after: first(&f, "after").map(str::to_owned) }).await?)
    };
    let list = match loaded.await {
        Ok(l) => l,
        Err(e) => return error_page(lang, e),
    };
    let provinces: Vec<_> = divisions().at_level(DivisionLevel::Province).collect();
    let body = html! {
        div.card {
            h1 { (lang.t("stores")) }
            form.inline method="get" action="/console/stores" {
                select name="province" aria-label=(lang.t("province")) {
                    option value="" { (lang.t("all_provinces")) }
                    @for p in &provinces { option value=(p.code) selected[province == Some(p.code.as_str())] { (p.name) } }
                }
                select name="kind" aria-label=(lang.t("kind")) {
                    option value="" { (lang.t("any_kind")) }
                    @for k in [LocationKind::Direct, LocationKind::Authorized, LocationKind::TownshipAuthorized] {
                        option value=(k.as_str()) selected[kind == Some(k.as_str())] { (lang.t(kind_word(k))) }
                    }
                }
                select name="status" aria-label=(lang.t("status")) {
                    option value="" { (lang.t("any_status")) }
                    @for s in ["open", "planned", "closed"] { option value=(s) selected[status == Some(s)] { (lang.t(s)) } }
                }
                @if lang == Lang::En { input type="hidden" name="lang" value="en"; }
                button type="submit" { (lang.t("show")) }
            }
            table #stores {
                tr { th { (lang.t("store")) } th { (lang.t("kind")) } th { (lang.t("county")) } th { (lang.t("status")) } }
                @for r in &list.items {
                    @let l = &r.location;
                    tr { td { a href=(lang.link(&format!("/console/stores/{}", l.code))) { (l.name) } " " span.muted { (l.code) } }
                        td { (lang.t(kind_word(l.kind))) } td { (divisions().get(l.county_code.as_str()).map(|d| d.name.clone()).unwrap_or_default()) }
                        td { (lang.t(l.status.as_str())) } }
                }
            }
            @if let Some(after) = &list.next_cursor {
                @let kept: Vec<(&str, &str)> = [("province", province), ("kind", kind), ("status", status), ("after", Some(after.as_str()))].into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect();
                p { a.more href=(lang.link(&format!("/console/stores?{}", serde_urlencoded::to_string(&kept).unwrap_or_default()))) { (lang.t("more")) " →" } }
            }
        }
    };
    page(frame(lang, &caller, &csrf, lang.t("stores"), "/console/stores", body))
}

pub(super) async fn store(
    State(app): State<AppState>,
    caller: Caller,
    csrf: SessionCsrf,
    Path(raw): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let lang = Lang::of_query(q.as_deref());
    let loaded = async {
        let r = app.db.location(&raw).await?.ok_or_else(|| ApiError::not_found("store_not_found", format!("no store {raw}")))?;
        let code = r.location.code.to_string();
        let stock = app
            .db
            .positions(
                &StockFilter { location_code: Some(code.clone()), ..Default::default() },
                &PageRequest { limit: Some(ROWS), after: None },
            )
            .await?;
        let sales = app
            .db
            .orders(&OrderFilter { store_code: Some(code.clone()), ..Default::default() }, &PageRequest { limit: Some(20), after: None })
            .await?;
        let staff = app.db.staff_of(&code).await?;
        ApiResult::Ok((r.location, stock.items, sales.items, staff))
    };
    let (l, stock, sales, staff) = match loaded.await {
        Ok(x) => x,
        Err(e) => return error_page(lang, e),
    };
    let here = format!("/console/stores/{}", l.code);
    let body = html! {
        div.card #store data-store=(l.code) {
            h1 { (l.name) " " span.muted { (l.code) } }
            p { (lang.t(kind_word(l.kind))) " · " (lang.t(l.status.as_str())) " · "
                (divisions().get(l.county_code.as_str()).map(|d| d.name.clone()).unwrap_or_default()) " · "
                a href=(lang.link(&format!("/console/stock?location_code={}", l.code))) { (lang.t("stock")) } }
            @if let Some(p) = &l.partner_code { p.muted { (lang.t("partner")) " " (p) } }
        }
        div.grid {
            div.card { h2 { (lang.t("stock")) } (positions(lang, &stock)) }
            div.card {
                h2 { (lang.t("sales")) }
                table #store-sales { @for o in &sales { tr { td { a href=(lang.link(&format!("/console/orders/{}", o.id))) { (short(o.id)) } } td { (lang.t(o.status.as_str())) } td.num { (o.total) } td { (local(o.placed_at)) } } } }
            }
            div.card { h2 { (lang.t("staff")) } ul #staff { @for s in &staff { li { (s) } } } }
        }
    };
    page(frame(lang, &caller, &csrf, lang.t("stores"), &here, body))
}

fn positions(lang: Lang, stock: &[tongjia_storage::PositionRecord]) -> Markup {
    html! {
        table.positions {
            tr { th { "SKU" } th { (lang.t("owner")) } th.num { (lang.t("on_hand")) } th.num { (lang.t("reserved_units")) } th.num { (lang.t("damaged")) } }
            @for p in stock {
                tr { td { (p.key.sku_code) } td { (p.key.owner) } td.num { (p.position.on_hand) } td.num { (p.position.reserved) } td.num { (p.position.damaged) } }
            }
        }
    }
}

pub(super) async fn stock(State(app): State<AppState>, caller: Caller, csrf: SessionCsrf, RawQuery(q): RawQuery) -> Response {
    let f = fields(q.as_deref());
    let lang = Lang::from_query(first(&f, "lang"));
    let body = match (first(&f, "sku_code"), first(&f, "location_code")) {
        (Some(sku), _) => sku_across(&app, lang, sku).await,
        (None, Some(location)) => at_location(&app, lang, location).await,
        (None, None) => Ok(html! {}),
    };
    let body = match body {
        Ok(b) => b,
        Err(e) => return error_page(lang, e),
    };
    let form = html! {
        div.card {
            h1 { (lang.t("stock")) }
            form.inline method="get" action="/console/stock" {
                input name="sku_code" value=[first(&f, "sku_code")] placeholder=(lang.t("sku_code"));
                @if lang == Lang::En { input type="hidden" name="lang" value="en"; }
                button type="submit" { (lang.t("across_network")) }
            }
            form.inline method="get" action="/console/stock" {
                input name="location_code" value=[first(&f, "location_code")] placeholder=(lang.t("store_code"));
                @if lang == Lang::En { input type="hidden" name="lang" value="en"; }
                button type="submit" { (lang.t("at_location")) }
            }
        }
        (body)
    };
    page(frame(lang, &caller, &csrf, lang.t("stock"), "/console/stock", form))
}

/// One SKU at every location that holds it.
async fn sku_across(app: &AppState, lang: Lang, raw: &str) -> ApiResult<Markup> {
    let sku = SkuCode::parse(raw)?;
    let mut rows = app.db.availability(&sku, None).await?;
    rows.sort_by_key(|(_, _, a)| std::cmp::Reverse(a.available));
    let total: i64 = rows.iter().map(|(_, _, a)| a.available).sum();
    Ok(html! {
        div.card {
            h2 { (sku) " · " (lang.t("available")) " " (total) }
            table #across {
                tr { th { (lang.t("store")) } th { (lang.t("status")) } th.num { (lang.t("on_hand")) } th.num { (lang.t("reserved_units")) } th.num { (lang.t("available")) } }
                @for (l, status, a) in rows.iter().take(200) {
                    tr { td { a href=(lang.link(&format!("/console/stores/{l}"))) { (l) } } td { (lang.t(status.as_str())) } td.num { (a.on_hand) } td.num { (a.reserved) } td.num { (a.available) } }
                }
            }
        }
    })
}

/// One location's stock, and its receipts and transfers.
async fn at_location(app: &AppState, lang: Lang, raw: &str) -> ApiResult<Markup> {
    let code = tongjia_domain::codes::LocationCode::parse(raw)?;
    let stock = app
        .db
        .positions(
            &StockFilter { location_code: Some(code.to_string()), ..Default::default() },
            &PageRequest { limit: Some(ROWS), after: None },
        )
        .await?;
    let receipts = app.db.latest_receipts(code.as_str(), 20).await?;
    let transfers = app.db.transfers(None, Some(code.as_str()), None, &PageRequest { limit: Some(20), after: None }).await?;
    Ok(html! {
        div.grid {
            div.card { h2 { (code) } (positions(lang, &stock.items)) }
            div.card {
                h2 { (lang.t("receipts")) }
                table #receipts { @for e in &receipts { tr { td { (e.entry.key.sku_code) } td.num { (e.entry.on_hand_delta) } td { (e.entry.reference.clone().unwrap_or_default()) } td { (local(e.recorded_at)) } } } }
            }
            div.card {
                h2 { (lang.t("transfers")) }
                table #transfers { @for t in &transfers.items { tr { td { (t.from.location_code) " → " (t.to_location_code) } td { (t.from.sku_code) } td.num { (t.quantity.get()) } td { (t.status.as_str()) } } } }
            }
        }
    })
}

//! `/console/orders`: orders by state and store; `/console/orders/{id}`: one order with its
//! lines, where its stock was sourced and why, its payments and returns, and its ledger
//! entries; `/console/audit`: every change, who made it, when and from where (`hq_admin`).

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use maud::{Markup, html};
use tongjia_domain::orders::OrderStatus;
use tongjia_storage::{AuditFilter, OrderFilter, OrderRecord, PageRequest};
use uuid::Uuid;

use super::{fields, first, frame, local};
use crate::AppState;
use crate::auth::{Caller, SessionCsrf};
use crate::pages::step::short;
use crate::pages::{Lang, error_page, page};
use crate::problem::{ApiError, ApiResult};

/// Rows on one page of a list.
const ROWS: u32 = 50;

/// The next page's link, when there is one.
fn more(lang: Lang, path: &str, kept: &[(&str, Option<&str>)], cursor: Option<&str>) -> Markup {
    let Some(cursor) = cursor else { return html! {} };
    let mut q: Vec<(&str, &str)> = kept.iter().filter_map(|(k, v)| v.map(|v| (*k, v))).collect();
    q.push(("after", cursor));
    html! { p { a.more href=(lang.link(&format!("{path}?{}", serde_urlencoded::to_string(&q).unwrap_or_default()))) { (lang.t("more")) " →" } } }
}

pub(super) async fn list(State(app): State<AppState>, caller: Caller, csrf: SessionCsrf, RawQuery(q): RawQuery) -> Response {
    let f = fields(q.as_deref());
    let lang = Lang::from_query(first(&f, "lang"));
    let (status, store) = (first(&f, "status"), first(&f, "store_code"));
    let loaded = async {
        let filter =
            OrderFilter { status: status.map(OrderStatus::parse).transpose()?, store_code: store.map(str::to_owned), ..Default::default() };
        ApiResult::Ok(app.db.orders(&filter, &PageRequest { limit: Some(ROWS), after: first(&f, "after").map(str::to_owned) }).await?)
    };
    let orders = match loaded.await {
        Ok(o) => o,
        Err(e) => return error_page(lang, e),
    };
    let statuses = ["reserved", "paid", "fulfilling", "shipped", "ready_for_pickup", "completed", "cancelled"];
    let body = html! {
        div.card {
            h1 { (lang.t("orders")) }
            form.inline method="get" action="/console/orders" {
                select name="status" aria-label=(lang.t("status")) {
                    option value="" { (lang.t("any_status")) }
                    @for s in statuses { option value=(s) selected[status == Some(s)] { (lang.t(s)) } }
                }
                input name="store_code" value=[store] placeholder=(lang.t("store_code"));
                @if lang == Lang::En { input type="hidden" name="lang" value="en"; }
                button type="submit" { (lang.t("show")) }
            }
            table #orders {
                tr { th { (lang.t("order")) } th { (lang.t("status")) } th { (lang.t("channel")) } th { (lang.t("store")) } th.num { (lang.t("total")) } th { (lang.t("placed_at")) } }
                @for o in &orders.items {
                    tr { td { a href=(lang.link(&format!("/console/orders/{}", o.id))) { (short(o.id)) } } td { (lang.t(o.status.as_str())) }
                        td { (o.channel) " · " (o.fulfilment.as_str()) } td { (o.store_code.clone().or(o.pickup_store_code.clone()).unwrap_or_default()) }
                        td.num { (o.total) } td { (local(o.placed_at)) } }
                }
            }
            (more(lang, "/console/orders", &[("status", status), ("store_code", store)], orders.next_cursor.as_deref()))
        }
    };
    page(frame(lang, &caller, &csrf, lang.t("orders"), "/console/orders", body))
}

pub(super) async fn one(
    State(app): State<AppState>,
    caller: Caller,
    csrf: SessionCsrf,
    Path(raw): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let lang = Lang::of_query(q.as_deref());
    let loaded = async {
        let id = Uuid::parse_str(&raw).map_err(|_| ApiError::not_found("order_not_found", format!("no order {raw}")))?;
        let order = app.db.order(id).await?.ok_or_else(|| ApiError::not_found("order_not_found", format!("no order {id}")))?;
        let entries = app.db.order_entries(id).await?;
        ApiResult::Ok((order, entries))
    };
    match loaded.await {
        Ok((o, entries)) => {
            let here = format!("/console/orders/{}", o.id);
            page(frame(lang, &caller, &csrf, lang.t("order"), &here, order_view(lang, &o, &entries)))
        }
        Err(e) => error_page(lang, e),
    }
}

fn order_view(lang: Lang, o: &OrderRecord, entries: &[tongjia_storage::EntryRecord]) -> Markup {
    let sourcing = o.sourcing.as_ref().map(|s| serde_json::to_string_pretty(s).unwrap_or_default());
    html! {
        div.card #order data-order=(o.id) {
            h1 { (lang.t("order")) " " (short(o.id)) " " span.muted { (lang.t(o.status.as_str())) } }
            div.muted { (o.id) " · " (o.channel) " · " (o.fulfilment.as_str()) " · " (local(o.placed_at)) }
            table {
                @for l in &o.lines {
                    tr { td { (l.line_no) } td { (l.sku_code) } td.num { (l.quantity.get()) " × " (l.unit_price) } td { "v" (l.price_version) } td.num { (l.paid) } td.num { (lang.t("returned")) " " (l.returned_quantity) } }
                }
            }
            p.total { (lang.t("total")) " " (o.total) " · " (lang.t("paid")) " " (o.paid) " · " (lang.t("refunded")) " " (o.refunded) }
        }
        div.grid {
            div.card {
                h2 { (lang.t("allocations")) }
                table #allocations { @for a in &o.allocations { tr { td { (a.line_no) } td { (a.location_code) } td { (a.owner) } td.num { (a.quantity) } td { @if a.transfer_id.is_some() { (lang.t("moved")) } } } } }
            }
            div.card {
                h2 { (lang.t("payments")) }
                table { @for p in &o.payments { tr { td { (p.kind) } td { (p.method) } td.num { (p.amount) } td { (p.state) } td { (local(p.recorded_at)) } } } }
            }
        }
        @if let Some(s) = sourcing {
            div.card { h2 { (lang.t("sourcing")) } pre #sourcing style="white-space:pre-wrap;font-size:.8rem" { (s) } }
        }
        div.card {
            h2 { (lang.t("ledger_entries")) }
            table #entries {
                tr { th { "#" } th { (lang.t("kind")) } th { (lang.t("store")) } th { "SKU" } th.num { (lang.t("on_hand")) } th.num { (lang.t("reserved_units")) } th { (lang.t("placed_at")) } }
                @for e in entries {
                    tr { td { (e.seq) } td { (e.entry.kind.as_str()) } td { (e.entry.key.location_code) } td { (e.entry.key.sku_code) }
                        td.num { (e.entry.on_hand_delta) } td.num { (e.entry.reserved_delta) } td { (local(e.recorded_at)) } }
                }
            }
        }
    }
}

pub(super) async fn audit(State(app): State<AppState>, caller: Caller, csrf: SessionCsrf, RawQuery(q): RawQuery) -> Response {
    let f = fields(q.as_deref());
    let lang = Lang::from_query(first(&f, "lang"));
    let (who, resource) = (first(&f, "principal"), first(&f, "resource"));
    let filter = AuditFilter { principal: who.map(str::to_owned), resource: resource.map(str::to_owned), from: None, to: None };
    let trail = match app.db.audit_trail(&filter, &PageRequest { limit: Some(ROWS), after: first(&f, "after").map(str::to_owned) }).await {
        Ok(t) => t,
        Err(e) => return error_page(lang, e.into()),
    };
    let body = html! {
        div.card {
            h1 { (lang.t("audit")) }
            form.inline method="get" action="/console/audit" {
                input name="principal" value=[who] placeholder="account:clerk";
                input name="resource" value=[resource] placeholder="/api/v1/skus/NOTE13-BLK";
                @if lang == Lang::En { input type="hidden" name="lang" value="en"; }
                button type="submit" { (lang.t("show")) }
            }
            table #audit {
                tr { th { (lang.t("placed_at")) } th { (lang.t("who")) } th { (lang.t("action")) } th.num { (lang.t("status")) } th { (lang.t("from_where")) } }
                @for r in &trail.items {
                    tr { td { (local(r.at)) } td { (r.entry.principal) br; span.muted { (r.entry.role) } } td { code { (r.entry.action) } br; span.muted { (r.entry.request.chars().take(160).collect::<String>()) } }
                        td.num { (r.status) } td { (r.entry.address) } }
                }
            }
            (more(lang, "/console/audit", &[("principal", who), ("resource", resource)], trail.next_cursor.as_deref()))
        }
    };
    page(frame(lang, &caller, &csrf, lang.t("audit"), "/console/audit", body))
}

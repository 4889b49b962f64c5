//! What the till shows: the page, the cart fragment each scan returns, and the receipt.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, PreEscaped, html};
use tongjia_domain::codes::LocationCode;
use tongjia_domain::orders::Fulfilment;
use tongjia_storage::OrderRecord;

use super::cart::Cart;
use crate::AppState;
use crate::pages::step::short;
use crate::pages::{Lang, Shell, layout};
use crate::problem::{ApiError, ApiResult};

/// `/till` for someone who works at no single store: a store code to open.
pub(super) fn chooser(lang: Lang, signed: Option<(&str, &str)>, stores: &[LocationCode]) -> Markup {
    let body = html! {
        div.card {
            h1 { (lang.t("till")) }
            @for s in stores { p { a href=(lang.link(&format!("/till/{s}"))) { (s) } } }
            form.inline method="get" action="/till" {
                label { (lang.t("store_code")) " " input name="store_code" required; }
                @if lang == Lang::En { input type="hidden" name="lang" value="en"; }
                button type="submit" { (lang.t("open_till")) }
            }
        }
    };
    layout(&Shell { signed, ..Shell::public(lang, lang.t("till"), "/till") }, body)
}

/// The whole till page, with an empty cart.
pub(super) fn till(lang: Lang, code: &LocationCode, name: &str, clerk: &str, csrf: &str) -> Markup {
    let here = format!("/till/{code}");
    let cart_url = lang.link(&format!("/till/{code}/cart"));
    let body = html! {
        div #till.till data-store=(code) data-lang=(lang.code()) data-live="false" {
            section {
                div.card {
                    h1 { (name) " " span.muted { (code) } }
                    form #scan hx-get=(cart_url) hx-target="#cart" hx-swap="outerHTML" hx-include="#sale"
                        data-reset {
                        input #scan-input name="add" autocomplete="off" autofocus
                            placeholder=(lang.t("scan_hint")) aria-label=(lang.t("scan"));
                    }
                }
                (cart(lang, code, &Cart::default(), None))
            }
            aside {
                div.card { div #elsewhere { p.muted { (lang.t("elsewhere_hint")) } } }
                div.card {
                    h2 { (lang.t("pickups")) }
                    button type="button" hx-get=(lang.link(&format!("/till/{code}/pickups"))) hx-target="#pickups" hx-swap="outerHTML" { (lang.t("show_pickups")) }
                    div #pickups {}
                }
                div.card {
                    h2 { (lang.t("returns")) }
                    form.inline hx-get=(lang.link(&format!("/till/{code}/returns"))) hx-target="#returns" hx-swap="outerHTML" {
                        input name="order_id" placeholder=(lang.t("order_id_hint")) autocomplete="off" required;
                        button type="submit" { (lang.t("find_order")) }
                    }
                    div #returns {}
                }
                div.card {
                    h2 { (lang.t("price_news")) }
                    p.muted { (lang.t("price_news_hint")) }
                    ul #price-news {}
                }
            }
        }
    };
    let shell =
        Shell { lang, title: lang.t("till"), here: &here, signed: Some((clerk, csrf)), scripts: &["htmx.min.js", "pages.js", "till.js"] };
    layout(&shell, body)
}

/// The cart: its lines at the price book's prices, the member, and the sale buttons. Lines
/// are kept as hidden `line` fields; there is no field for a price.
pub(super) fn cart(lang: Lang, code: &LocationCode, cart: &Cart, county: Option<&str>) -> Markup {
    let cart_url = lang.link(&format!("/till/{code}/cart"));
    let sale_url = lang.link(&format!("/till/{code}/sale"));
    let key = uuid::Uuid::now_v7().to_string();
    html! {
        div #cart.card {
            @if let Some(n) = &cart.notice { p.notice role="alert" { (n) } }
            @if !cart.choices.is_empty() {
                div.choices {
                    p { (lang.t("choose_item")) }
                    @for (sku, name) in &cart.choices {
                        button type="button" hx-get=(format!("{cart_url}{}add={sku}", sep(&cart_url))) hx-include="#sale"
                            hx-target="#cart" hx-swap="outerHTML" { (name) " " span.muted { (sku) } }
                    }
                }
            }
            form #sale hx-post=(sale_url) hx-target="#cart" hx-swap="outerHTML" {
                input type="hidden" name="idempotency_key" value=(key);
                @if cart.lines.is_empty() { p.muted { (lang.t("cart_empty")) } }
                @else {
                    table.cart {
                        tr.head { th { (lang.t("item")) } th.num { (lang.t("quantity")) } th.num { (lang.t("price")) } th.num { (lang.t("line_total")) } th.num { (lang.t("here")) } th {} }
                        @for l in &cart.lines {
                            tr data-sku=(l.priced.sku_code) {
                                td.name { (l.name) br; span.muted { (l.priced.sku_code) " · " (lang.t("price_version")) " v" (l.priced.price_version) } }
                                td.num data-label=(lang.t("quantity")) { (l.priced.quantity.get()) input type="hidden" name="line" value=(format!("{}*{}", l.priced.sku_code, l.priced.quantity.get())); }
                                td.num.unit-price data-label=(lang.t("price")) { (l.priced.unit_price) }
                                td.num data-label=(lang.t("line_total")) { (l.priced.paid) }
                                td.num data-label=(lang.t("here")) { (l.here) " "
                                    button type="button" hx-get=(format!("{}{}sku_code={}", lang.link(&format!("/till/{code}/elsewhere")), sep(&lang.link(&format!("/till/{code}/elsewhere"))), l.priced.sku_code))
                                        hx-target="#elsewhere" hx-swap="outerHTML" title=(lang.t("elsewhere")) { "⌖" } }
                                td { button type="button" hx-get=(format!("{cart_url}{}remove={}", sep(&cart_url), l.priced.sku_code)) hx-include="#sale"
                                    hx-target="#cart" hx-swap="outerHTML" aria-label=(lang.t("remove")) { "✕" } }
                            }
                        }
                    }
                    p.total { (lang.t("total")) " " span #cart-total { (cart.total()) } }
                }
                div.member {
                    label { (lang.t("member_mobile")) " "
                        input name="mobile" inputmode="numeric" value=[cart.member.as_ref().map(|m| m.mobile.to_string())]; }
                    " "
                    button type="button" hx-get=(cart_url) hx-include="#sale" hx-target="#cart" hx-swap="outerHTML" { (lang.t("find_member")) }
                    @if let Some(m) = &cart.member { span.muted { " " (m.mobile.masked()) " · " (lang.t("points")) " " (m.points) } }
                }
                @if !cart.lines.is_empty() {
                    p.inline {
                        button.primary type="submit" name="method" value="cash" { (lang.t("pay_cash")) }
                        " "
                        button.primary type="submit" name="method" value="card" { (lang.t("pay_card")) }
                    }
                    details {
                        summary { (lang.t("endless_aisle")) }
                        p.muted { (lang.t("endless_aisle_hint")) }
                        label { (lang.t("county_code")) " " input name="county_code" value=[county] inputmode="numeric"; }
                        " "
                        button type="submit" name="fulfilment" value="endless_aisle" { (lang.t("order_for_delivery")) }
                    }
                }
            }
        }
    }
}

/// Starts the next sale: an empty cart (or, without the store at hand, the page again).
fn new_sale(lang: Lang, code: Option<&LocationCode>) -> Markup {
    match code {
        Some(code) => html! {
            button.primary type="button" hx-get=(lang.link(&format!("/till/{code}/cart"))) hx-target="#cart" hx-swap="outerHTML" { (lang.t("new_sale")) }
        },
        None => html! { button type="button" data-action="reload" { (lang.t("new_sale")) } },
    }
}

fn sep(url: &str) -> &'static str {
    if url.contains('?') { "&" } else { "?" }
}

/// A refusal inside the till: the area `target` (`cart`, `pickups`, `returns`) shows the
/// problem's detail, with its status.
pub(super) fn fragment_error(lang: Lang, target: &'static str, e: ApiError) -> Response {
    let status = if e.status.is_server_error() { StatusCode::SERVICE_UNAVAILABLE } else { e.status };
    let body = html! {
        div.card.error id=(target) role="alert" {
            h2 { (lang.t("refused")) }
            (super::super::refusal_words(lang, &e))
            p.muted data-code=(e.code) { (e.code) }
            @if target == "cart" { (new_sale(lang, None)) }
        }
    };
    in_place(status, body, target)
}

/// An answer the till shows in place of the area `target`, whatever the form asked to swap.
pub(super) fn in_place(status: StatusCode, body: Markup, target: &'static str) -> Response {
    let mut res = (status, axum::response::Html(body.into_string())).into_response();
    res.headers_mut().insert(
        "hx-retarget",
        axum::http::HeaderValue::from_static(match target {
            "pickups" => "#pickups",
            "returns" => "#returns",
            _ => "#cart",
        }),
    );
    res.headers_mut().insert("hx-reswap", axum::http::HeaderValue::from_static("outerHTML"));
    res
}

/// The receipt of a paid sale, 80 mm wide when printed: every line with its price version and
/// a QR code to the price check of its SKU.
pub(super) async fn receipt(
    app: &AppState,
    lang: Lang,
    origin: &str,
    (code, store_name): (&LocationCode, &str),
    o: &OrderRecord,
) -> ApiResult<Markup> {
    let mut names = Vec::with_capacity(o.lines.len());
    for l in &o.lines {
        names.push(app.db.sku(l.sku_code.as_str()).await?.map(|r| r.sku.name).unwrap_or_default());
    }
    let paid = o
        .payments
        .iter()
        .map(|p| match p.method.as_str() {
            "cash" => lang.t("cash"),
            "card" => lang.t("card"),
            other => other,
        })
        .collect::<Vec<_>>()
        .join(", ");
    let local = |t: jiff::Timestamp| t.to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(8))).strftime("%Y-%m-%d %H:%M:%S").to_string();
    Ok(html! {
        div #cart.card {
            div.receipt #receipt data-order=(o.id) {
                h2 style="text-align:center;margin:0" { (lang.t("brand")) }
                div style="text-align:center" { (store_name) " · " (code) }
                div { (lang.t("order")) " " (short(o.id)) " · " (local(o.paid_at.unwrap_or(o.placed_at))) }
                div.muted.order-id { (o.id) }
                div { (lang.t(match o.fulfilment { Fulfilment::EndlessAisle => "endless_aisle_kind", _ => "carry_out" })) }
                table {
                    @for (l, name) in o.lines.iter().zip(&names) {
                        tr {
                            td {
                                div { (name) }
                                div { (l.quantity.get()) " × " (l.unit_price) " = " strong { (l.paid) } }
                                div.muted { (l.sku_code) " · " (lang.t("price_version")) " v" (l.price_version) }
                            }
                            td.qr { (PreEscaped(crate::pages::qr::svg(&format!("{origin}/p/{}", l.sku_code), 72))) }
                        }
                    }
                }
                p.total { (lang.t("total")) " " span #receipt-total { (o.total) } }
                div { (lang.t("paid_by")) " " (paid) }
                @if o.points_earned > 0 { div { (lang.t("points_earned")) " " (o.points_earned) } }
                p.muted { (lang.t("same_everywhere")) }
                p.muted { (lang.t("scan_to_check")) }
            }
            p.no-print.inline {
                button type="button" data-action="print" { (lang.t("print")) }
                " "
                (new_sale(lang, Some(code)))
            }
        }
    })
}

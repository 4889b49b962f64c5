//! The storefront's basket: several SKUs bought in one online order. The basket is the
//! shopper's own, kept in a cookie of SKU codes and quantities only (never a price: every
//! time it is shown each line is priced afresh by the price book, as `GET /skus/{sku}/quote`
//! would, and the order is priced again by `Db::place_order`). Checking out posts the lines
//! the page showed, so the order is what the shopper saw, whatever another tab did since.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use jiff::Timestamp;
use maud::{Markup, html};
use tongjia_domain::codes::SkuCode;
use tongjia_domain::ledger::Quantity;
use tongjia_domain::orders::{OrderLine, price_lines, total_paid};
use uuid::Uuid;

use super::checkout::{CHECKOUT_FIELDS, QUANTITY_MAX, fulfilment_fields, order_url, pickup_choices, place_online, quantity, signed};
use super::form::PageForm;
use super::places::{place_picker, trail};
use super::till::cart::{LINES_MAX, parse_line};
use super::{Lang, Shell, error_page, fields, first, go_to, layout, page};
use crate::AppState;
use crate::auth::{Caller, SessionCsrf};
use crate::http::sessions::Peer;
use crate::problem::{ApiError, ApiResult};

/// The cookie holding the basket: `SKU*quantity` lines joined by `~`.
const COOKIE: &str = "tongjia_basket";
/// How long an untouched basket is kept, in seconds (30 days).
const KEPT_S: u32 = 30 * 24 * 3600;

/// The basket's lines from the request's cookie; a cookie this server did not write (a
/// line that does not parse, too many lines, a quantity out of range) reads as empty.
pub(crate) fn read(headers: &HeaderMap) -> Vec<(SkuCode, i64)> {
    let raw = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(COOKIE).and_then(|rest| rest.strip_prefix('=')))
        .unwrap_or("");
    let mut lines: Vec<(SkuCode, i64)> = vec![];
    for part in raw.split('~').filter(|p| !p.is_empty()) {
        match parse_line(part) {
            Ok((sku, q)) if q <= QUANTITY_MAX && !lines.iter().any(|(s, _)| *s == sku) => lines.push((sku, q)),
            _ => return vec![],
        }
    }
    if lines.len() > LINES_MAX { vec![] } else { lines }
}

/// The `Set-Cookie` keeping `lines` (an empty basket removes the cookie).
fn keep(lines: &[(SkuCode, i64)]) -> HeaderValue {
    let value = lines.iter().map(|(s, q)| format!("{s}*{q}")).collect::<Vec<_>>().join("~");
    let age = if lines.is_empty() { 0 } else { KEPT_S };
    // Codes and digits only: always a valid header value.
    HeaderValue::from_str(&format!("{COOKIE}={value}; Path=/; Max-Age={age}; HttpOnly; SameSite=Lax"))
        .unwrap_or_else(|_| HeaderValue::from_static("tongjia_basket=; Path=/; Max-Age=0"))
}

/// `lines` after the change a basket form asks for: `add` a SKU (`quantity` more of it) or
/// `set` one to `quantity` (0 takes it out).
fn changed(mut lines: Vec<(SkuCode, i64)>, form: &PageForm) -> ApiResult<Vec<(SkuCode, i64)>> {
    form.only(&["add", "set", "quantity", "division_code"])?;
    let parse_sku =
        |field: &str, code: &str| SkuCode::parse(code).map_err(|e| ApiError::from(tongjia_storage::StoreError::Domain(e.at(field))));
    match (form.one("add"), form.one("set")) {
        (Some(code), None) => {
            let sku = parse_sku("add", code)?;
            let more = quantity(form.one("quantity"), "quantity")?;
            let full = lines.len() >= LINES_MAX;
            match lines.iter_mut().find(|(s, _)| *s == sku) {
                Some(line) => line.1 = quantity(Some(&(line.1 + more).to_string()), "quantity")?,
                None if full => {
                    return Err(ApiError::field("add", "too_many_lines", format!("a basket holds at most {LINES_MAX} items")));
                }
                None => lines.push((sku, more)),
            }
        }
        (None, Some(code)) => {
            let sku = parse_sku("set", code)?;
            let Some(raw) = form.one("quantity") else {
                return Err(ApiError::field("quantity", "invalid_quantity", format!("give a quantity of 0 to {QUANTITY_MAX}")));
            };
            let Some(i) = lines.iter().position(|(s, _)| *s == sku) else {
                return Err(ApiError::field("set", "not_in_basket", format!("{sku} is not in the basket")));
            };
            match raw.parse::<i64>() {
                Ok(0) => {
                    lines.remove(i);
                }
                _ => lines[i].1 = quantity(Some(raw), "quantity")?,
            }
        }
        _ => return Err(ApiError::field("add", "invalid_basket_change", "add one SKU or set one line's quantity")),
    }
    Ok(lines)
}

/// `POST /basket`: adds to or changes the basket, then shows it.
pub(crate) async fn change(State(app): State<AppState>, headers: HeaderMap, RawQuery(q): RawQuery, form: PageForm) -> Response {
    let lang = Lang::of_query(q.as_deref());
    let result = async {
        let lines = changed(read(&headers), &form)?;
        // Only what is on sale goes in: an unknown or withdrawn SKU is refused here, not later.
        if let Some(code) = form.one("add") {
            app.db
                .sku(code)
                .await?
                .filter(|r| r.sku.active)
                .ok_or_else(|| ApiError::not_found("sku_not_found", format!("no SKU {code} on sale")))?;
        }
        ApiResult::Ok(lines)
    };
    match result.await {
        Ok(lines) => {
            // Back to the basket where the shopper was: the place chosen stays chosen.
            let place = form.one("division_code").filter(|c| trail(c).is_some());
            let target = match place {
                Some(c) => format!("/basket?{}", serde_urlencoded::to_string([("division_code", c)]).unwrap_or_default()),
                None => "/basket".to_owned(),
            };
            with_basket(go_to(&headers, &lang.link(&target)), &lines)
        }
        Err(e) => error_page(lang, e),
    }
}

/// The button putting one of `sku` in the basket.
pub(crate) fn add_button(lang: Lang, sku: &str) -> Markup {
    let action = lang.link("/basket");
    html! {
        form.inline.add method="post" action=(action) hx-post=(action) hx-target="body" {
            input type="hidden" name="add" value=(sku);
            button type="submit" { (lang.t("add_to_basket")) }
        }
    }
}

fn with_basket(mut res: Response, lines: &[(SkuCode, i64)]) -> Response {
    res.headers_mut().append(header::SET_COOKIE, keep(lines));
    res
}

/// One basket line, priced now.
struct Shown {
    name: String,
    priced: OrderLine,
}

/// The basket's lines priced now by the price book as the order will be: at the member
/// price, since an online order gives a mobile and a mobile is a member (a SKU withdrawn
/// since is dropped).
async fn priced(app: &AppState, lines: &[(SkuCode, i64)]) -> ApiResult<Vec<Shown>> {
    let now = Timestamp::now();
    let (mut kept, mut quotes, mut names) = (vec![], vec![], vec![]);
    for (sku, q) in lines {
        let Some(record) = app.db.sku(sku.as_str()).await?.filter(|r| r.sku.active) else { continue };
        let Ok(quote) = app.db.quote(sku, now, true).await else { continue };
        names.push(record.sku.name);
        quotes.push(quote);
        kept.push((sku.clone(), Quantity::new(*q)?));
    }
    if kept.is_empty() {
        return Ok(vec![]);
    }
    let lines = price_lines(&kept, &quotes, 0, &app.policy.points)?;
    Ok(lines.into_iter().zip(names).map(|(priced, name)| Shown { name, priced }).collect())
}

/// `GET /basket`: the basket, then where it goes and the checkout.
pub(crate) async fn show(
    State(app): State<AppState>,
    caller: Caller,
    csrf: SessionCsrf,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let q = fields(q.as_deref());
    let lang = Lang::from_query(first(&q, "lang"));
    let who = signed(&caller, &csrf);
    match basket_page(&app, lang, &read(&headers), &q).await {
        Ok(body) => page(layout(&Shell { signed: who, ..Shell::public(lang, lang.t("basket"), "/basket") }, body)),
        Err(e) => error_page(lang, e),
    }
}

async fn basket_page(app: &AppState, lang: Lang, lines: &[(SkuCode, i64)], q: &[(String, String)]) -> ApiResult<Markup> {
    let shown = priced(app, lines).await?;
    if shown.is_empty() {
        return Ok(
            html! { div.card #basket { h1 { (lang.t("basket")) } p { (lang.t("basket_empty")) } p { a href=(lang.link("/")) { (lang.t("catalogue")) } } } },
        );
    }
    let place = match first(q, "division_code") {
        Some(c) => trail(c).ok_or_else(|| ApiError::not_found("division_not_found", format!("no division {c}")))?,
        None => vec![],
    };
    let (county, stores) = pickup_choices(app, &place).await?;
    let total = total_paid(&shown.iter().map(|s| s.priced.clone()).collect::<Vec<_>>());
    let action = lang.link("/basket");
    Ok(html! {
        div.card #basket {
            h1 { (lang.t("basket")) }
            table.cart.basket {
                tr.head { th { (lang.t("item")) } th.num { (lang.t("member_price")) } th.num { (lang.t("quantity")) } th.num { (lang.t("line_total")) } th {} }
                @for s in &shown {
                    tr data-sku=(s.priced.sku_code) {
                        td.name { a href=(lang.link(&format!("/p/{}", s.priced.sku_code))) { (s.name) } br;
                            span.muted { (s.priced.sku_code) " · " (lang.t("price_version")) " v" (s.priced.price_version)
                                @if s.priced.list_price != s.priced.unit_price { " · " (lang.t("price")) " " (s.priced.list_price) } } }
                        td.num data-label=(lang.t("member_price")) { (s.priced.unit_price) }
                        td.num.qty data-label=(lang.t("quantity")) {
                            form.inline method="post" action=(action) hx-post=(action) hx-target="body" {
                                input type="hidden" name="set" value=(s.priced.sku_code);
                                @if let Some((c, _)) = place.last() { input type="hidden" name="division_code" value=(c); }
                                input type="number" name="quantity" min="0" max=(QUANTITY_MAX) value=(s.priced.quantity.get()) style="width:4.5em" aria-label=(lang.t("quantity"));
                                button type="submit" { (lang.t("update")) }
                            }
                        }
                        td.num data-label=(lang.t("line_total")) { (s.priced.paid) }
                        td.num { form method="post" action=(action) hx-post=(action) hx-target="body" {
                            input type="hidden" name="set" value=(s.priced.sku_code); input type="hidden" name="quantity" value="0";
                            @if let Some((c, _)) = place.last() { input type="hidden" name="division_code" value=(c); }
                            button type="submit" aria-label=(lang.t("remove")) { "✕" } } }
                    }
                }
            }
            p.total #basket-total { (lang.t("total")) " " (total) }
            p.muted { (lang.t("member_by_mobile")) " · " (lang.t("basket_priced_now")) }
        }
        div.card {
            h2 { (lang.t("deliver_or_collect")) }
            (place_picker(lang, "/basket", &place, &[]))
        }
        @if !place.is_empty() {
            form.card #checkout method="post" action=(lang.link("/basket/order")) hx-post=(lang.link("/basket/order")) hx-target="body" {
                input type="hidden" name="idempotency_key" value=(Uuid::now_v7().to_string());
                @for s in &shown { input type="hidden" name="line" value=(format!("{}*{}", s.priced.sku_code, s.priced.quantity.get())); }
                (fulfilment_fields(lang, &place, county.as_deref(), &stores))
                button.primary type="submit" { (lang.t("place_order")) " " (total) }
            }
        }
    })
}

/// `POST /basket/order`: places one online order of the lines the page showed, empties the
/// basket and goes to the order's page.
pub(crate) async fn order(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Peer(address): Peer,
    RawQuery(q): RawQuery,
    form: PageForm,
) -> Response {
    let lang = Lang::of_query(q.as_deref());
    let placed = async {
        form.only_repeating(&CHECKOUT_FIELDS, &["line"])?;
        let mut lines: Vec<(SkuCode, i64)> = vec![];
        for raw in form.all("line") {
            let (code, q) = raw.split_once('*').unwrap_or((raw, "1"));
            let sku = SkuCode::parse(code.trim()).map_err(|e| ApiError::from(tongjia_storage::StoreError::Domain(e.at("line"))))?;
            if lines.iter().any(|(s, _)| *s == sku) {
                return Err(ApiError::field("line", "field_repeated", format!("{sku} is on two lines")));
            }
            lines.push((sku, quantity(Some(q), "line")?));
        }
        if lines.len() > LINES_MAX {
            return Err(ApiError::field("line", "too_many_lines", format!("an order has at most {LINES_MAX} lines")));
        }
        place_online(&app, &caller, &address, &form, lines).await
    };
    match placed.await {
        Ok((order, mobile)) => with_basket(go_to(&headers, &order_url(lang, order.id, mobile.as_ref())), &[]),
        Err(e) => error_page(lang, e),
    }
}

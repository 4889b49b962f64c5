//! The storefront's checkout and order page: buy a SKU for delivery to a county or for
//! pickup at a store near a place the shopper picks, as a guest or a member, by mobile; then
//! follow the order by its id and that mobile, pay it online, and see the pickup code once it
//! is paid. The order is placed by the same `Db::place_order` as `POST /orders`, priced by
//! the price book; a payment is believed only as the provider's verified notification.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use jiff::Timestamp;
use maud::{Markup, html};
use tongjia_domain::codes::{LocationCode, SkuCode};
use tongjia_domain::customer::Mobile;
use tongjia_domain::ledger::Quantity;
use tongjia_domain::location::CountyCode;
use tongjia_domain::network::DivisionLevel;
use tongjia_domain::orders::{Fulfilment, OrderStatus};
use tongjia_domain::pricing::Channel;
use tongjia_storage::reference::divisions;
use tongjia_storage::{Destination, NewOrder, OrderRecord};
use uuid::Uuid;

use super::form::PageForm;
use super::places::{place_picker, trail};
use super::{Lang, Shell, error_page, fields, first, go_to, layout, page};
use crate::AppState;
use crate::auth::codes::{claim, over_limit};
use crate::auth::{Caller, SessionCsrf, denied};
use crate::http::sessions::Peer;
use crate::http::{NearbyStore, nearest_with_stock};
use crate::problem::{ApiError, ApiResult};
use tongjia_domain::access;

/// Stores offered for pickup near the chosen place.
const PICKUP_STORES_SHOWN: usize = 5;
/// The most units of a SKU one checkout buys.
pub(super) const QUANTITY_MAX: i64 = 20;

/// The signed-in name and CSRF token, for the page's frame.
pub(super) fn signed<'a>(caller: &'a Caller, csrf: &'a SessionCsrf) -> Option<(&'a str, &'a str)> {
    caller.0.as_ref().map(|p| (p.name.as_str(), csrf.0.as_deref().unwrap_or("")))
}

/// `/buy/{sku_code}`: the checkout form.
pub(crate) async fn form(
    State(app): State<AppState>,
    caller: Caller,
    csrf: SessionCsrf,
    Path(raw): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let q = fields(q.as_deref());
    let lang = Lang::from_query(first(&q, "lang"));
    match checkout_page(&app, lang, &raw, &q, signed(&caller, &csrf)).await {
        Ok(markup) => page(markup),
        Err(e) => error_page(lang, e),
    }
}

async fn checkout_page(app: &AppState, lang: Lang, raw: &str, q: &[(String, String)], who: Option<(&str, &str)>) -> ApiResult<Markup> {
    let code = SkuCode::parse(raw)?;
    let sku = app
        .db
        .sku(code.as_str())
        .await?
        .filter(|r| r.sku.active)
        .ok_or_else(|| ApiError::not_found("sku_not_found", format!("no SKU {code} on sale")))?;
    let quote = app.db.quote(&code, Timestamp::now(), false).await?;
    let place = match first(q, "division_code") {
        Some(c) => trail(c).ok_or_else(|| ApiError::not_found("division_not_found", format!("no division {c}")))?,
        None => vec![],
    };
    let (county, stores) = pickup_choices(app, &place).await?;
    let here = format!("/buy/{code}");
    let quantity = first(q, "quantity").unwrap_or("1").to_owned();
    let body = html! {
        div.card {
            h1 { (sku.sku.name) }
            div.price { (quote.list_price) }
            @if let Some(m) = quote.member_price { div { (lang.t("member_price")) ": " strong { (m) } " " span.muted { (lang.t("member_by_mobile")) } } }
            div.muted { (lang.t("price_version")) " v" (quote.price_version) " · " a href=(lang.link(&format!("/p/{code}"))) { (lang.t("price_check")) } }
        }
        div.card {
            h2 { (lang.t("deliver_or_collect")) }
            (place_picker(lang, &here, &place, &[("quantity", quantity.as_str())]))
        }
        @if !place.is_empty() {
            form.card #checkout method="post" action=(lang.link(&here)) hx-post=(lang.link(&here)) hx-target="body" {
                input type="hidden" name="idempotency_key" value=(Uuid::now_v7().to_string());
                p { label { (lang.t("quantity")) " " input type="number" name="quantity" min="1" max=(QUANTITY_MAX) value=(quantity) required; } }
                (fulfilment_fields(lang, &place, county.as_deref(), &stores))
                button.primary type="submit" { (lang.t("place_order")) }
            }
        }
    };
    Ok(layout(&Shell { signed: who, ..Shell::public(lang, lang.t("checkout"), &here) }, body))
}

/// The county to deliver to (when the place is one) and the stores to collect from near it.
pub(super) async fn pickup_choices(app: &AppState, place: &[(String, String)]) -> ApiResult<(Option<String>, Vec<(NearbyStore, String)>)> {
    let Some((chosen, _)) = place.last() else { return Ok((None, vec![])) };
    let county = divisions().get(chosen).filter(|d| d.level == DivisionLevel::County).map(|d| d.code.clone());
    let mut stores = vec![];
    if let Some(point) = divisions().point_of(chosen) {
        for s in nearest_with_stock(app, &point, None, PICKUP_STORES_SHOWN).await? {
            let name = app.db.location(&s.store_code).await?.map(|l| l.location.name).unwrap_or_default();
            stores.push((s, name));
        }
    }
    Ok((county, stores))
}

/// The checkout form's choice of delivery or a store to collect from, and the mobile.
pub(super) fn fulfilment_fields(lang: Lang, place: &[(String, String)], county: Option<&str>, stores: &[(NearbyStore, String)]) -> Markup {
    html! {
        @if let Some(county) = county {
            p { label { input type="radio" name="fulfilment" value="delivery" checked; " " (lang.t("delivery_to")) " " (place.iter().map(|(_, n)| n.as_str()).collect::<Vec<_>>().join(" ")) }
                input type="hidden" name="county_code" value=(county); }
        } @else {
            p.muted { (lang.t("choose_county_for_delivery")) }
        }
        @for (i, (s, name)) in stores.iter().enumerate() {
            p { label { input type="radio" name="fulfilment" value=(format!("pickup:{}", s.store_code)) checked[county.is_none() && i == 0];
                " " (lang.t("pickup_at")) " " (name) " " span.muted { (s.store_code) " · " (format!("{:.1} km", s.distance_m as f64 / 1000.0)) } } }
        }
        p { label { (lang.t("your_mobile")) " " input name="mobile" inputmode="numeric" autocomplete="tel" required; } }
        p.muted { (lang.t("mobile_note")) }
    }
}

/// The quantity of one line the checkout form or the basket asks for.
pub(super) fn quantity(raw: Option<&str>, field: &str) -> ApiResult<i64> {
    raw.unwrap_or("1")
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|q| (1..=QUANTITY_MAX).contains(q))
        .ok_or_else(|| ApiError::field(field, "invalid_quantity", format!("buy 1 to {QUANTITY_MAX} of an item at once")))
}

/// The online order of `lines` the checkout form's other fields ask for.
fn new_order(lines: Vec<(SkuCode, i64)>, form: &PageForm) -> ApiResult<NewOrder> {
    let mobile = form.one("mobile").map(Mobile::parse).transpose()?;
    let (fulfilment, destination, pickup_store) = match form.one("fulfilment").unwrap_or("") {
        "delivery" => {
            let county =
                form.one("county_code").ok_or_else(|| ApiError::field("county_code", "destination_required", "choose a county"))?;
            (Fulfilment::Delivery, Some(Destination::County(CountyCode::parse(county).map_err(|e| e.at("county_code"))?.to_string())), None)
        }
        other => match other.strip_prefix("pickup:") {
            Some(store) => (Fulfilment::Pickup, None, Some(LocationCode::parse(store).map_err(|e| e.at("fulfilment"))?)),
            None => return Err(ApiError::field("fulfilment", "invalid_fulfilment", "choose delivery or a store to collect from")),
        },
    };
    let lines = lines.into_iter().map(|(sku, q)| Ok((sku, Quantity::new(q)?))).collect::<ApiResult<Vec<_>>>()?;
    Ok(NewOrder { channel: Channel::Online, fulfilment, customer: mobile, lines, destination, pickup_store, redeem_points: 0 })
}

/// What a guest's order counts as against its address's limit.
const GUEST_ORDER: &str = "guest_order";

/// The checkout's fields besides its lines.
pub(super) const CHECKOUT_FIELDS: [&str; 3] = ["fulfilment", "county_code", "mobile"];

/// Places the online order of `lines` the form asks for, as `POST /orders` would: the guest
/// or member rule of the domain, then `Db::place_order` under the form's key.
pub(super) async fn place_online(
    app: &AppState,
    caller: &Caller,
    address: &str,
    form: &PageForm,
    lines: Vec<(SkuCode, i64)>,
) -> ApiResult<(OrderRecord, Option<Mobile>)> {
    let mut new = new_order(lines, form)?;
    let claim = match &caller.0 {
        Some(who) => {
            // A signed-in member orders for their own mobile, given or not.
            if new.customer.is_none() {
                new.customer = who.mobile.clone();
            }
            who.may_place(None, new.customer.as_ref(), 0, false).map_err(denied)?;
            None
        }
        None => {
            access::guest_may_place(None, new.customer.is_some(), 0).map_err(denied)?;
            let claimed = claim(app, GUEST_ORDER, address, access::GUEST_ORDERS_PER_ADDRESS).await?;
            Some(claimed.ok_or_else(too_many_orders)?)
        }
    };
    let mobile = new.customer.clone();
    let policy = app.policy;
    let placed = app
        .run_mutation(&form.step("order", ()), StatusCode::CREATED, &super::step::render_id, async |idem| {
            app.db.place_order(new, &policy, idem).await
        })
        .await;
    let placed = match placed {
        Ok(done) => {
            let fresh = !done.0.replayed;
            super::step::order_of(app, done).await.map(|o| (o, fresh)).map_err(|e| (e, false))
        }
        Err(e) => Err((e, false)),
    };
    // Only a new order counts against the guest's address: not a refusal, not a replay.
    let counted = matches!(&placed, Ok((_, true)));
    if let Some(claim) = claim.filter(|_| !counted) {
        app.db.release_throttle(claim).await?;
    }
    placed.map(|(o, _)| (o, mobile)).map_err(|(e, _)| e)
}

/// The refusal of a guest's order past the limit of its address.
fn too_many_orders() -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_orders",
        "too many orders from this address in the last 15 minutes: wait before ordering again",
    )
}

/// Places the order and goes to its page (htmx is told with `HX-Redirect`).
pub(crate) async fn place(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Peer(address): Peer,
    Path(raw): Path<String>,
    RawQuery(q): RawQuery,
    form: PageForm,
) -> Response {
    let lang = Lang::of_query(q.as_deref());
    let placed = async {
        let mut known = CHECKOUT_FIELDS.to_vec();
        known.push("quantity");
        form.only(&known)?;
        let lines = vec![(SkuCode::parse(&raw)?, quantity(form.one("quantity"), "quantity")?)];
        place_online(&app, &caller, &address, &form, lines).await
    };
    match placed.await {
        Ok((order, mobile)) => go_to(&headers, &order_url(lang, order.id, mobile.as_ref())),
        Err(e) => error_page(lang, e),
    }
}

/// The order page's address (the mobile is how a guest proves the order is theirs).
pub(super) fn order_url(lang: Lang, id: Uuid, mobile: Option<&Mobile>) -> String {
    let q = serde_urlencoded::to_string([("order_id", id.to_string()), ("mobile", mobile.map(|m| m.to_string()).unwrap_or_default())])
        .unwrap_or_default();
    lang.link(&format!("/order?{q}"))
}

/// What a lookup of an order with a wrong mobile counts as, against the order.
const ORDER_LOOKUP: &str = "order_lookup_miss";

/// The order `id`, if `mobile` is its shopper's (anything else is "no such order"). A wrong
/// mobile for an order that exists is counted against it (claimed in one write turn, so
/// guesses at once each count); past [`access::ORDER_LOOKUP_MISSES_MAX`] of them the order
/// is shown to no one for the window (429), right mobile or not.
async fn shoppers_order(app: &AppState, id: Option<&str>, mobile: Option<&str>) -> ApiResult<OrderRecord> {
    let raw = id.unwrap_or("");
    let not_found = || ApiError::not_found("order_not_found", format!("no order {raw} for that mobile"));
    let id = Uuid::parse_str(raw).map_err(|_| not_found())?;
    let mobile = mobile.map(Mobile::parse).transpose().map_err(|_| not_found())?.ok_or_else(not_found)?;
    let order = app.db.order(id).await?.ok_or_else(not_found)?;
    let locked = || {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_lookups",
            "this order was looked up with wrong mobiles too often: try again later",
        )
    };
    let key = order.id.to_string();
    if order.customer_mobile.as_deref() == Some(mobile.as_str()) {
        // The right mobile: shown unless the order is locked by wrong ones.
        if over_limit(app, ORDER_LOOKUP, &key, access::ORDER_LOOKUP_MISSES_MAX).await? {
            return Err(locked());
        }
        return Ok(order);
    }
    // A wrong one is counted before it is answered: wrong guesses at once each take a count,
    // and past the limit even the right mobile waits for the window.
    claim(app, ORDER_LOOKUP, &key, access::ORDER_LOOKUP_MISSES_MAX).await?.ok_or_else(locked)?;
    Err(not_found())
}

/// `/order?order_id=…&mobile=…`: the order's status; without them, the form to find it.
pub(crate) async fn status(State(app): State<AppState>, caller: Caller, csrf: SessionCsrf, RawQuery(q): RawQuery) -> Response {
    let q = fields(q.as_deref());
    let lang = Lang::from_query(first(&q, "lang"));
    let who = signed(&caller, &csrf);
    if first(&q, "order_id").is_none() {
        return page(layout(&Shell { signed: who, ..Shell::public(lang, lang.t("my_order"), "/order") }, find_form(lang)));
    }
    match shoppers_order(&app, first(&q, "order_id"), first(&q, "mobile")).await {
        Ok(order) => match order_view(&app, lang, &order).await {
            Ok(body) => {
                let here = order_url(lang, order.id, order.customer_mobile.as_deref().and_then(|m| Mobile::parse(m).ok()).as_ref());
                page(layout(&Shell { signed: who, ..Shell::public(lang, lang.t("my_order"), &here) }, body))
            }
            Err(e) => error_page(lang, e),
        },
        Err(e) => error_page(lang, e),
    }
}

fn find_form(lang: Lang) -> Markup {
    html! {
        form.card method="get" action="/order" {
            h1 { (lang.t("my_order")) }
            p { label { (lang.t("order_id")) " " input name="order_id" required; } }
            p { label { (lang.t("your_mobile")) " " input name="mobile" inputmode="numeric" required; } }
            @if lang == Lang::En { input type="hidden" name="lang" value="en"; }
            button.primary type="submit" { (lang.t("find_order")) }
        }
    }
}

async fn order_view(app: &AppState, lang: Lang, o: &OrderRecord) -> ApiResult<Markup> {
    let mut names = vec![];
    for l in &o.lines {
        names.push(app.db.sku(l.sku_code.as_str()).await?.map(|r| r.sku.name).unwrap_or_default());
    }
    let pickup_store = match &o.pickup_store_code {
        Some(c) => app.db.location(c).await?.map(|l| l.location.name),
        None => None,
    };
    let paid = matches!(o.status, OrderStatus::Paid | OrderStatus::Fulfilling | OrderStatus::ReadyForPickup);
    let payable = o.status == OrderStatus::Reserved && app.providers.get("simulator").is_some();
    let mobile = o.customer_mobile.clone().unwrap_or_default();
    Ok(html! {
        div.card #order data-order=(o.id) data-status=(o.status.as_str()) {
            h1 { (lang.t("order")) " " (super::step::short(o.id)) }
            div.muted { (o.id) }
            p.total #order-status { (lang.t(o.status.as_str())) }
            table {
                @for (l, name) in o.lines.iter().zip(&names) {
                    tr { td { (name) br; span.muted { (l.sku_code) " · " (lang.t("price_version")) " v" (l.price_version) } } td.num { (l.quantity.get()) " × " (l.unit_price) } td.num { (l.paid) } }
                }
            }
            p.total { (lang.t("total")) " " (o.total) }
            @match &pickup_store {
                Some(name) => p { (lang.t("pickup_at")) " " (name) " " span.muted { (o.pickup_store_code.clone().unwrap_or_default()) } },
                None => p { (lang.t("delivery_to")) " " (o.destination_county_code.as_deref().and_then(trail).map(|t| t.into_iter().map(|(_, n)| n).collect::<Vec<_>>().join(" ")).unwrap_or_default()) },
            }
            @if paid && o.fulfilment == Fulfilment::Pickup {
                @if let Some(code) = &o.pickup_code {
                    div.card #pickup-code { (lang.t("pickup_code")) ": " strong.price { (code) } p.muted { (lang.t("pickup_code_note")) } }
                }
            }
            @if payable {
                form method="post" action=(lang.link(&format!("/order/{}/payment", o.id))) hx-post=(lang.link(&format!("/order/{}/payment", o.id))) hx-target="body" {
                    input type="hidden" name="mobile" value=(mobile);
                    button.primary #pay type="submit" { (lang.t("pay_simulator")) " " (o.total) }
                    p.muted { (lang.t("pay_simulator_note")) }
                }
            }
        }
    })
}

/// Pays the order at the demo provider's checkout: the provider signs a notification and
/// the server believes it only as it would from outside (`http::payments::accept`).
pub(crate) async fn pay(
    State(app): State<AppState>,
    headers: HeaderMap,
    peer: Peer,
    Path(raw): Path<String>,
    RawQuery(q): RawQuery,
    form: PageForm,
) -> Response {
    let lang = Lang::of_query(q.as_deref());
    let paid = async {
        form.only(&["mobile"])?;
        let order = shoppers_order(&app, Some(&raw), form.one("mobile")).await?;
        if order.status != OrderStatus::Reserved {
            // Paid already (a second click), or no longer payable: the order page says which.
            return Ok(order);
        }
        let provider = app.providers.get("simulator").cloned().ok_or_else(|| {
            ApiError::new(StatusCode::NOT_FOUND, "unknown_provider", "no payment provider with a checkout is configured here")
        })?;
        let (notice, body) = provider
            .shopper_checkout(order.id, order.total)
            .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "unknown_provider", "this provider's checkout is its own app"))?;
        let answer = crate::http::payments::accept(&app, "simulator", &notice, &body, peer).await;
        // Paid meanwhile by a second click at once: the order page says so.
        let paid_meanwhile = async || app.db.order(order.id).await.ok().flatten().filter(|o| o.status != OrderStatus::Reserved);
        let answer = match answer {
            Ok(answer) => answer,
            Err(e) => return paid_meanwhile().await.ok_or(e),
        };
        if !answer.status().is_success() {
            if let Some(o) = paid_meanwhile().await {
                return Ok(o);
            }
            let bytes = axum::body::to_bytes(answer.into_body(), 64 * 1024).await.unwrap_or_default();
            let problem: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
            let detail = problem["detail"].as_str().unwrap_or("the payment was refused").to_owned();
            return Err(ApiError::new(StatusCode::CONFLICT, problem["code"].as_str().unwrap_or("payment_refused"), detail));
        }
        ApiResult::Ok(order)
    };
    match paid.await {
        Ok(order) => {
            go_to(&headers, &order_url(lang, order.id, order.customer_mobile.as_deref().and_then(|m| Mobile::parse(m).ok()).as_ref()))
        }
        Err(e) => error_page(lang, e),
    }
}

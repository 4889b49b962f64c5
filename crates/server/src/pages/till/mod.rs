//! `/till/{store_code}`: the store till, for the store's staff. A clerk scans (a barcode
//! typed or sent by a keyboard-wedge scanner ending in Enter) or searches by name; each scan
//! is one request that returns the whole cart priced by the price book; a sale is one more
//! request that places and pays the order and returns its receipt. Three scanned items to a
//! receipt: four requests. Prices that take effect while the till is open arrive by
//! server-sent events (`live`) and reprice the cart without a reload.

pub(crate) mod cart;
mod counter;
mod live;
mod sale;
mod view;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use tongjia_domain::codes::LocationCode;
use tongjia_domain::customer::Mobile;

use super::form::PageForm;
use super::{Lang, error_page, fields, first, page};
use crate::AppState;
use crate::auth::{Caller, SessionCsrf};
use crate::http::scope;
use crate::problem::{ApiError, ApiResult};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/till", get(choose))
        .route("/till/{store_code}", get(till))
        .route("/till/{store_code}/cart", get(cart))
        .route("/till/{store_code}/sale", post(sell))
        .route("/till/{store_code}/prices", get(prices))
        .route("/till/{store_code}/elsewhere", get(elsewhere))
        .route("/till/{store_code}/pickups", get(pickups))
        .route("/till/{store_code}/pickups/{order_id}", post(pickup_step))
        .route("/till/{store_code}/returns", get(returnable))
        .route("/till/{store_code}/returns/{order_id}", post(take_back))
}

fn lang_of(fields: &[(String, String)]) -> Lang {
    Lang::from_query(first(fields, "lang"))
}

/// The store of a till, if the caller may sell there: its code and name.
async fn store_for(app: &AppState, caller: &Caller, raw: &str) -> ApiResult<(LocationCode, String)> {
    let code = LocationCode::parse(raw).map_err(|e| e.at("store_code"))?;
    scope::act_at(caller, &code)?;
    let store = app.db.location(code.as_str()).await?.ok_or_else(|| ApiError::not_found("store_not_found", format!("no store {code}")))?;
    if !store.location.kind.is_store() {
        return Err(ApiError::not_found("store_not_found", format!("{code} is not a store")));
    }
    Ok((code, store.location.name))
}

/// `/till`: straight to the till of the clerk's own store; others pick a store.
async fn choose(caller: Caller, csrf: SessionCsrf, RawQuery(raw): RawQuery) -> Response {
    let f = fields(raw.as_deref());
    let lang = lang_of(&f);
    let stores = caller.0.as_ref().map(|p| p.binding.stores().to_vec()).unwrap_or_default();
    match (first(&f, "store_code"), stores.as_slice()) {
        (Some(code), _) => Redirect::to(&lang.link(&format!("/till/{}", urlencode(code)))).into_response(),
        (None, [only]) => Redirect::to(&lang.link(&format!("/till/{only}"))).into_response(),
        _ => page(view::chooser(lang, caller.0.as_ref().map(|p| (p.name.as_str(), csrf.0.as_deref().unwrap_or(""))), &stores)),
    }
}

fn urlencode(text: &str) -> String {
    serde_urlencoded::to_string([("", text)]).unwrap_or_default().trim_start_matches('=').to_owned()
}

async fn till(State(app): State<AppState>, caller: Caller, csrf: SessionCsrf, Path(raw): Path<String>, RawQuery(q): RawQuery) -> Response {
    let f = fields(q.as_deref());
    let lang = lang_of(&f);
    let (code, name) = match store_for(&app, &caller, &raw).await {
        Ok(s) => s,
        Err(e) => return error_page(lang, e),
    };
    let clerk = caller.0.as_ref().map_or("", |p| p.name.as_str());
    page(view::till(lang, &code, &name, clerk, csrf.0.as_deref().unwrap_or("")))
}

/// The cart after one scan or change: the fragment the till swaps in.
async fn cart(State(app): State<AppState>, caller: Caller, Path(raw): Path<String>, RawQuery(q): RawQuery) -> Response {
    let f = fields(q.as_deref());
    let lang = lang_of(&f);
    let built = async {
        let (code, _) = store_for(&app, &caller, &raw).await?;
        let lines = cart::parse_lines(f.iter().filter(|(k, _)| k == "line").map(|(_, v)| v.as_str()))?;
        let member = first(&f, "mobile").map(Mobile::parse).transpose()?;
        if let Some(m) = &member {
            scope::member(&caller, m)?;
        }
        let cart = cart::build(&app, &code, lines, first(&f, "add"), first(&f, "remove"), member).await?;
        ApiResult::Ok((code, cart))
    };
    match built.await {
        Ok((code, cart)) => page(view::cart(lang, &code, &cart, first(&f, "county_code"))),
        Err(e) => view::fragment_error(lang, "cart", e),
    }
}

async fn sell(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(raw): Path<String>,
    RawQuery(q): RawQuery,
    form: PageForm,
) -> Response {
    let lang = lang_of(&fields(q.as_deref()));
    let (code, name) = match store_for(&app, &caller, &raw).await {
        Ok(store) => store,
        Err(e) => return view::fragment_error(lang, "cart", e),
    };
    match sale::sell(&app, &caller, &code, &form).await {
        Ok(order) => match view::receipt(&app, lang, &super::origin(&app, &headers), (&code, &name), &order).await {
            Ok(markup) => page(markup),
            Err(e) => view::fragment_error(lang, "cart", e),
        },
        Err(e) => refused_sale(&app, lang, &code, &form, e).await,
    }
}

/// A sale refused (a line out of stock, a member's mobile mistyped): the cart comes back as
/// it was, priced again, with the refusal above it — the clerk fixes it rather than scanning
/// everything again.
async fn refused_sale(app: &AppState, lang: crate::pages::Lang, code: &LocationCode, form: &PageForm, e: ApiError) -> Response {
    let kept = async {
        let lines = cart::parse_lines(form.all("line"))?;
        let member = form.one("mobile").and_then(|m| Mobile::parse(m).ok());
        cart::build(app, code, lines, None, None, member).await
    };
    let Ok(mut cart) = kept.await else { return view::fragment_error(lang, "cart", e) };
    let said = lang.said(&e.code, &e.detail);
    cart.notice = Some(format!("{said} · {}", e.code));
    let status = if e.status.is_server_error() { StatusCode::SERVICE_UNAVAILABLE } else { e.status };
    view::in_place(status, view::cart(lang, code, &cart, form.one("county_code")), "cart")
}

async fn prices(State(app): State<AppState>, caller: Caller, headers: HeaderMap, Path(raw): Path<String>) -> Response {
    let opened = match store_for(&app, &caller, &raw).await {
        Ok((code, _)) => caller.signed().and_then(|who| live::stream(app.clone(), code, who.clone(), headers)),
        Err(e) => Err(e),
    };
    match opened {
        Ok(sse) => sse.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn pickups(State(app): State<AppState>, caller: Caller, Path(raw): Path<String>, RawQuery(q): RawQuery) -> Response {
    let lang = lang_of(&fields(q.as_deref()));
    let listed = async {
        let (code, _) = store_for(&app, &caller, &raw).await?;
        let orders = counter::pickups(&app, &caller, &code).await?;
        ApiResult::Ok(counter::pickups_view(lang, &code, &orders, None))
    };
    match listed.await {
        Ok(markup) => page(markup),
        Err(e) => view::fragment_error(lang, "pickups", e),
    }
}

/// Marks a pickup ready, or (with `code`) hands it over; answers the list again.
async fn pickup_step(
    State(app): State<AppState>,
    caller: Caller,
    Path((raw, order)): Path<(String, String)>,
    RawQuery(q): RawQuery,
    form: PageForm,
) -> Response {
    let lang = lang_of(&fields(q.as_deref()));
    let stepped = async {
        let (code, _) = store_for(&app, &caller, &raw).await?;
        let done = counter::pickup_step(&app, &caller, &code, &order, &form).await?;
        let orders = counter::pickups(&app, &caller, &code).await?;
        ApiResult::Ok((code, done, orders))
    };
    match stepped.await {
        Ok((code, done, orders)) => {
            let notice = maud::html! {
                p.notice #handed data-order=(done.id) data-status=(done.status.as_str()) { (lang.t("order")) " " (crate::pages::step::short(done.id)) " · " (lang.t(done.status.as_str())) }
            };
            page(counter::pickups_view(lang, &code, &orders, Some(notice)))
        }
        Err(e) => view::fragment_error(lang, "pickups", e),
    }
}

async fn returnable(State(app): State<AppState>, caller: Caller, Path(raw): Path<String>, RawQuery(q): RawQuery) -> Response {
    let f = fields(q.as_deref());
    let lang = lang_of(&f);
    let found = async {
        let (code, _) = store_for(&app, &caller, &raw).await?;
        let order = counter::returnable(&app, &caller, &code, first(&f, "order_id").unwrap_or("")).await?;
        ApiResult::Ok(counter::return_view(lang, &code, &order, false))
    };
    match found.await {
        Ok(markup) => page(markup),
        Err(e) => view::fragment_error(lang, "returns", e),
    }
}

async fn take_back(
    State(app): State<AppState>,
    caller: Caller,
    Path((raw, order)): Path<(String, String)>,
    RawQuery(q): RawQuery,
    form: PageForm,
) -> Response {
    let lang = lang_of(&fields(q.as_deref()));
    let taken = async {
        let (code, _) = store_for(&app, &caller, &raw).await?;
        let order = counter::take_back(&app, &caller, &code, &order, &form).await?;
        ApiResult::Ok(counter::return_view(lang, &code, &order, true))
    };
    match taken.await {
        Ok(markup) => page(markup),
        Err(e) => view::fragment_error(lang, "returns", e),
    }
}

/// Stores nearest this one that have the SKU: where else a shopper can get it today.
const ELSEWHERE_SHOWN: usize = 5;

async fn elsewhere(State(app): State<AppState>, caller: Caller, Path(raw): Path<String>, RawQuery(q): RawQuery) -> Response {
    let f = fields(q.as_deref());
    let lang = lang_of(&f);
    let found = async {
        let (code, _) = store_for(&app, &caller, &raw).await?;
        let sku = tongjia_domain::codes::SkuCode::parse(first(&f, "sku_code").unwrap_or(""))?;
        let here =
            app.db.location(code.as_str()).await?.ok_or_else(|| ApiError::not_found("store_not_found", format!("no store {code}")))?;
        let mut near = vec![];
        for s in crate::http::nearest_with_stock(&app, &here.location.point, Some(&sku), ELSEWHERE_SHOWN + 1).await? {
            if s.store_code != code.as_str() {
                let name = app.db.location(&s.store_code).await?.map(|l| l.location.name).unwrap_or_default();
                near.push((s, name));
            }
        }
        near.truncate(ELSEWHERE_SHOWN);
        ApiResult::Ok((sku, near))
    };
    match found.await {
        Ok((sku, near)) => page(maud::html! {
            div #elsewhere {
                h2 { (sku) " · " (lang.t("elsewhere")) }
                @if near.is_empty() { p.muted { (lang.t("none_near")) } }
                table { @for (s, name) in &near { tr { td { (name) " " span.muted { (s.store_code) } } td.num { (format!("{:.1} km", s.distance_m as f64 / 1000.0)) } td.num { (s.available.unwrap_or(0)) } } } }
            }
        }),
        Err(e) => view::fragment_error(lang, "elsewhere", e),
    }
}

//! A sale at the till in one request: the cart's lines placed as an order at this store (a
//! carry-out sale, or an endless-aisle order the engine sources from elsewhere and delivers),
//! then paid at the counter, by the same storage and domain calls as `POST /orders` and
//! `POST /orders/{id}/payments`, each under its own step of the form's idempotency key — a
//! double click or a resend of the same form changes nothing twice and shows the same receipt.

use axum::http::StatusCode;
use tongjia_domain::access::OrderPlaces;
use tongjia_domain::codes::LocationCode;
use tongjia_domain::customer::Mobile;
use tongjia_domain::ledger::Quantity;
use tongjia_domain::location::CountyCode;
use tongjia_domain::orders::Fulfilment;
use tongjia_domain::pricing::Channel;
use tongjia_storage::{Destination, NewOrder, NewPayment, OrderRecord};

use super::cart::parse_lines;
use crate::AppState;
use crate::auth::{Caller, denied};
use crate::http::scope;
use crate::pages::form::PageForm;
use crate::pages::step::{order_of, render_id, short};
use crate::problem::{ApiError, ApiResult};

/// The fields of the sale form.
const FIELDS: &[&str] = &["method", "mobile", "fulfilment", "county_code"];

/// The order the form asks for.
fn new_order(store: &LocationCode, form: &PageForm) -> ApiResult<NewOrder> {
    form.only_repeating(FIELDS, &["line"])?;
    let lines = parse_lines(form.all("line"))?;
    if lines.is_empty() {
        return Err(ApiError::field("line", "no_lines", "scan at least one item"));
    }
    let fulfilment = Fulfilment::parse(form.one("fulfilment").unwrap_or("carry_out"))?;
    let destination = match fulfilment {
        Fulfilment::EndlessAisle => {
            let Some(county) = form.one("county_code") else {
                return Err(ApiError::field("county_code", "destination_required", "an endless-aisle order needs the county it goes to"));
            };
            Some(Destination::County(CountyCode::parse(county).map_err(|e| e.at("county_code"))?.to_string()))
        }
        Fulfilment::CarryOut => None,
        _ => return Err(ApiError::field("fulfilment", "invalid_fulfilment", "a till sells to carry out or from the endless aisle")),
    };
    Ok(NewOrder {
        channel: Channel::Store(store.clone()),
        fulfilment,
        customer: form.one("mobile").map(Mobile::parse).transpose()?,
        lines: lines.into_iter().map(|(s, q)| Ok((s, Quantity::new(q)?))).collect::<ApiResult<Vec<_>>>()?,
        destination,
        pickup_store: None,
        redeem_points: 0,
    })
}

/// Places and pays the sale; the paid order.
pub(crate) async fn sell(app: &AppState, caller: &Caller, store: &LocationCode, form: &PageForm) -> ApiResult<OrderRecord> {
    let new = new_order(store, form)?;
    let method = form.one("method").unwrap_or("cash").to_owned();
    let who = caller.signed()?;
    who.may_place(Some(store), new.customer.as_ref(), 0, false).map_err(denied)?;
    // The payment this till may take is checked before anything is placed: a method refused
    // after the placement would leave an unpaid order holding the shelf.
    let here = OrderPlaces { customer: new.customer.clone(), locations: vec![(store.clone(), None)], counters: vec![store.clone()] };
    who.may_record_payment(&here, &method).map_err(denied)?;
    let policy = app.policy;
    let placed = app
        .run_mutation(&form.step("order", ()), StatusCode::CREATED, &render_id, async |idem| app.db.place_order(new, &policy, idem).await)
        .await?;
    let order = order_of(app, placed).await?;
    if order.paid_at.is_some() {
        return Ok(order);
    }
    let places = scope::places(app, who, &order).await?;
    who.may_record_payment(&places, &method).map_err(denied)?;
    let id = order.id;
    let payment = NewPayment { amount: order.total, external_reference: format!("till {store} {}", short(id)), method };
    let paid = app
        .run_mutation(&form.step("payment", ()), StatusCode::CREATED, &render_id, async |idem| {
            app.db.pay_order(id, payment, &policy, idem).await
        })
        .await?;
    order_of(app, paid).await
}

//! The till's other counter work: handing over pickups by the shopper's code, and taking
//! back any order from any channel (a return at any store). The same calls as
//! `POST /orders/{id}/ready`, `…/handover` and `…/returns`, under the form's key.

use axum::http::StatusCode;
use maud::{Markup, html};
use tongjia_domain::access::OrderAccess;
use tongjia_domain::codes::LocationCode;
use tongjia_domain::ledger::Quantity;
use tongjia_domain::orders::{OrderAction, OrderStatus, PICKUP_ATTEMPTS_MAX};
use tongjia_storage::{OrderFilter, OrderRecord, PageRequest};
use uuid::Uuid;

use crate::AppState;
use crate::auth::Caller;
use crate::http::scope;
use crate::pages::Lang;
use crate::pages::form::{PageForm, unknown_field};
use crate::pages::step::{order_of, render_id, short};
use crate::problem::{ApiError, ApiResult};

/// Pickups listed at once.
const PICKUPS_SHOWN: u32 = 50;

/// An order id as a clerk types or scans it.
pub(super) fn order_id(raw: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(raw.trim()).map_err(|_| ApiError::not_found("order_not_found", format!("no order {}", raw.trim())))
}

/// Orders to be collected at `store`: paid (their goods on the way or here) and ready.
pub(super) async fn pickups(app: &AppState, caller: &Caller, store: &LocationCode) -> ApiResult<Vec<OrderRecord>> {
    scope::read_at(app, caller, Some(store)).await?;
    let mut out = vec![];
    for status in [OrderStatus::ReadyForPickup, OrderStatus::Paid] {
        let filter = OrderFilter { pickup_store_code: Some(store.to_string()), status: Some(status), ..Default::default() };
        out.extend(app.db.orders(&filter, &PageRequest { limit: Some(PICKUPS_SHOWN), after: None }).await?.items);
    }
    Ok(out)
}

/// Marks a pickup ready (its goods are here) or hands it over against the shopper's code.
pub(super) async fn pickup_step(
    app: &AppState,
    caller: &Caller,
    store: &LocationCode,
    raw_id: &str,
    form: &PageForm,
) -> ApiResult<OrderRecord> {
    let id = order_id(raw_id)?;
    let (order, places) = scope::order_with_places(app, caller, id, OrderAccess::Work).await?;
    if order.pickup_store_code.as_deref() != Some(store.as_str()) {
        return Err(ApiError::not_found("order_not_found", format!("no pickup {id} at {store}")));
    }
    let policy = app.policy;
    let done = match form.one("code") {
        // A handover locked by wrong codes: the clerk cancels it (the payment is refunded, the
        // goods go back on sale) and the shopper orders again, as `POST /orders/{id}/cancellation`.
        None if form.one("cancel").is_some() => {
            form.only(&["cancel"])?;
            caller.signed()?.may_cancel(&places).map_err(crate::auth::denied)?;
            app.run_mutation(&form.step("cancel", ()), StatusCode::OK, &render_id, async |idem| {
                app.db.cancel_order(id, &policy, idem).await
            })
            .await?
        }
        None => {
            form.only(&[])?;
            app.run_mutation(&form.step("ready", ()), StatusCode::OK, &render_id, async |idem| {
                app.db.advance_order(id, OrderAction::MarkReady, &policy, idem).await
            })
            .await?
        }
        Some(code) => {
            form.only(&["code"])?;
            let code = code.to_owned();
            app.run_mutation(&form.step("handover", ()), StatusCode::OK, &render_id, async |idem| {
                app.db.hand_over_order(id, &code, &policy, idem).await
            })
            .await?
        }
    };
    order_of(app, done).await
}

/// The order a clerk is taking back, as a clerk of `store` may see it.
pub(super) async fn returnable(app: &AppState, caller: &Caller, store: &LocationCode, raw_id: &str) -> ApiResult<OrderRecord> {
    scope::act_at(caller, store)?;
    let id = order_id(raw_id)?;
    app.db.order(id).await?.ok_or_else(|| ApiError::not_found("order_not_found", format!("no order {id}")))
}

/// Takes back the quantities the form names (`return_<line>`; `damaged_<line>` when the
/// goods cannot be sold again).
pub(super) async fn take_back(
    app: &AppState,
    caller: &Caller,
    store: &LocationCode,
    raw_id: &str,
    form: &PageForm,
) -> ApiResult<OrderRecord> {
    let order = returnable(app, caller, store, raw_id).await?;
    form.no_repeats(&[])?;
    let mut lines = vec![];
    for (name, value) in &form.fields {
        if name == crate::pages::form::KEY_FIELD {
            continue;
        }
        if let Some(n) = name.strip_prefix("damaged_").and_then(|n| n.parse::<i64>().ok())
            && order.lines.iter().any(|l| l.line_no == n)
        {
            continue;
        }
        let Some(n) = name.strip_prefix("return_").and_then(|n| n.parse::<i64>().ok()) else {
            return Err(unknown_field(name));
        };
        let quantity: i64 = value.trim().parse().map_err(|_| ApiError::field(name, "invalid_quantity", "a quantity is a whole number"))?;
        if quantity > 0 {
            let damaged = form.one(&format!("damaged_{n}")).is_some();
            lines.push((n, Quantity::new(quantity)?, damaged));
        }
    }
    if lines.is_empty() {
        return Err(ApiError::field("return", "no_lines", "give a quantity to take back"));
    }
    let (id, policy) = (order.id, app.policy);
    let store = store.clone();
    let done = app
        .run_mutation(&form.step("return", ()), StatusCode::CREATED, &render_id, async |idem| {
            app.db.return_order_lines(id, &store, &lines, &policy, idem).await
        })
        .await?;
    order_of(app, done).await
}

/// The pickups waiting at the store, each with its step.
pub(super) fn pickups_view(lang: Lang, code: &LocationCode, orders: &[OrderRecord], notice: Option<Markup>) -> Markup {
    html! {
        div #pickups {
            @if let Some(n) = notice { (n) }
            @if orders.is_empty() { p.muted { (lang.t("no_pickups")) } }
            @for o in orders {
                div.card.pickup data-order=(o.id) {
                    div { strong { (lang.t("order")) " " (short(o.id)) } " · " (lang.t(o.status.as_str())) " · " (o.total) }
                    div.muted { (o.lines.iter().map(|l| format!("{} × {}", l.sku_code, l.quantity.get())).collect::<Vec<_>>().join(", ")) }
                    @let url = lang.link(&format!("/till/{code}/pickups/{}", o.id));
                    @if o.status == OrderStatus::Paid {
                        form hx-post=(url) hx-target="#pickups" hx-swap="outerHTML" {
                            input type="hidden" name="idempotency_key" value=(uuid::Uuid::now_v7().to_string());
                            button type="submit" { (lang.t("mark_ready")) }
                        }
                    } @else if o.pickup_attempts >= PICKUP_ATTEMPTS_MAX {
                        p.notice { (lang.t("pickup_code_locked")) }
                        form hx-post=(url) hx-target="#pickups" hx-swap="outerHTML" hx-confirm=(lang.t("cancel_locked_confirm")) {
                            input type="hidden" name="idempotency_key" value=(uuid::Uuid::now_v7().to_string());
                            input type="hidden" name="cancel" value="refund";
                            button type="submit" { (lang.t("cancel_locked")) }
                        }
                    } @else {
                        form.inline hx-post=(url) hx-target="#pickups" hx-swap="outerHTML" {
                            input type="hidden" name="idempotency_key" value=(uuid::Uuid::now_v7().to_string());
                            label { (lang.t("pickup_code")) " " input name="code" inputmode="numeric" autocomplete="off" required; }
                            button.primary type="submit" { (lang.t("hand_over")) }
                        }
                    }
                }
            }
        }
    }
}

/// An order's lines with what may still come back, as a form.
pub(super) fn return_view(lang: Lang, code: &LocationCode, o: &OrderRecord, done: bool) -> Markup {
    let refund = o.returns.last().map(|r| r.refund);
    html! {
        div #returns data-order=(o.id) {
            div { strong { (lang.t("order")) " " (short(o.id)) } " · " (o.channel) " · " (lang.t(o.status.as_str())) }
            @if done {
                @if let Some(r) = refund {
                    p.notice #refund { (lang.t("refunded")) " " (r) " · " (o.payments.iter().rev().find(|p| p.kind == "refund").map(|p| p.method.clone()).unwrap_or_default()) }
                }
            }
            form hx-post=(lang.link(&format!("/till/{code}/returns/{}", o.id))) hx-target="#returns" hx-swap="outerHTML" {
                input type="hidden" name="idempotency_key" value=(uuid::Uuid::now_v7().to_string());
                table {
                    @for l in &o.lines {
                        @let left = l.quantity.get() - l.returned_quantity;
                        tr {
                            td { (l.sku_code) br; span.muted { (l.quantity.get()) " × " (l.unit_price) " · v" (l.price_version) } }
                            td { @if left > 0 {
                                label { (lang.t("take_back")) " " input type="number" name=(format!("return_{}", l.line_no)) min="0" max=(left) value="0" style="width:4.5rem"; }
                                " " label { input type="checkbox" name=(format!("damaged_{}", l.line_no)); " " (lang.t("damaged")) }
                            } @else { span.muted { (lang.t("all_returned")) } } }
                        }
                    }
                }
                button.primary type="submit" { (lang.t("take_back_button")) }
            }
        }
    }
}

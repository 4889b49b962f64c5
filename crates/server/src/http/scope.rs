//! The resource in hand, checked against the caller: the route's gate let the role in, and
//! these ask the domain (`access::Principal`) whether it may act here — at this location,
//! on this order, about this member. Loading is here; deciding is the domain's.

use tongjia_domain::access::{Denied, OrderAccess, OrderPlaces, Principal};
use tongjia_domain::codes::{LocationCode, PartnerCode};
use tongjia_domain::customer::Mobile;
use tongjia_storage::OrderRecord;
use uuid::Uuid;

use crate::AppState;
use crate::auth::{Caller, denied};
use crate::problem::{ApiError, ApiResult};

/// Refuses unless the caller may work stock and sales at `location`.
pub(crate) fn act_at(caller: &Caller, location: &LocationCode) -> ApiResult<()> {
    caller.signed()?.act_at(location).map_err(denied)
}

/// The partner that runs `location`, if any (none for an unknown location).
pub(crate) async fn partner_of(app: &AppState, location: &LocationCode) -> ApiResult<Option<PartnerCode>> {
    Ok(app.db.location(location.as_str()).await?.and_then(|r| r.location.partner_code))
}

/// Refuses a list read unless the caller sees the whole network, or names a location it may
/// read (`location_code`): store staff their stores, a partner its own.
pub(crate) async fn read_at(app: &AppState, caller: &Caller, location: Option<&LocationCode>) -> ApiResult<()> {
    let who = caller.signed()?;
    if who.role().is_hq() {
        return Ok(());
    }
    let Some(location) = location else {
        return Err(denied(Denied::OutsideScope(format!("{} reads only its own locations: give location_code", who.role()))));
    };
    if who.may_read_at(location, partner_of(app, location).await?.as_ref()) {
        Ok(())
    } else {
        Err(denied(Denied::OutsideScope(format!("{} may not read {location}", who.name))))
    }
}

/// Refuses unless the caller may read `mobile`'s orders and points. Anyone without the
/// right gets the same answer whether the number is a member or not.
pub(crate) fn member(caller: &Caller, mobile: &Mobile) -> ApiResult<()> {
    let who = caller.signed()?;
    if who.may_see_member(mobile) {
        Ok(())
    } else {
        Err(denied(Denied::OutsideScope(format!("{} may not read another member's account", who.name))))
    }
}

/// The places an order touches, with their partners when the caller is a partner (the only
/// role that needs them).
pub(crate) async fn places(app: &AppState, who: &Principal, o: &OrderRecord) -> ApiResult<OrderPlaces> {
    let mut codes: Vec<&str> = o.store_code.iter().chain(o.pickup_store_code.iter()).map(String::as_str).collect();
    codes.extend(o.allocations.iter().map(|a| a.location_code.as_str()));
    codes.sort_unstable();
    codes.dedup();
    let mut locations = Vec::with_capacity(codes.len());
    for code in codes {
        let Ok(code) = LocationCode::parse(code) else { continue };
        let partner = if who.binding.partner().is_some() { partner_of(app, &code).await? } else { None };
        locations.push((code, partner));
    }
    let counters = o.store_code.iter().chain(o.pickup_store_code.iter()).filter_map(|c| LocationCode::parse(c).ok()).collect();
    Ok(OrderPlaces { customer: o.customer_mobile.as_deref().and_then(|m| Mobile::parse(m).ok()), locations, counters })
}

/// What the caller may do with `o`.
pub(crate) async fn order_access(app: &AppState, caller: &Caller, o: &OrderRecord) -> ApiResult<OrderAccess> {
    let who = caller.signed()?;
    Ok(who.order_access(&places(app, who, o).await?))
}

/// The order `id` with the places it touches, if the caller may do `need` with it: 404 for
/// one it may not know of, 403 for one it may only read.
pub(crate) async fn order_with_places(
    app: &AppState,
    caller: &Caller,
    id: Uuid,
    need: OrderAccess,
) -> ApiResult<(OrderRecord, OrderPlaces)> {
    let not_found = || ApiError::not_found("order_not_found", format!("no order {id}"));
    let o = app.db.order(id).await?.ok_or_else(not_found)?;
    let who = caller.signed()?;
    let places = places(app, who, &o).await?;
    match who.order_access(&places) {
        OrderAccess::Hidden => Err(not_found()),
        have if have < need => Err(denied(Denied::OutsideScope(format!("{} may read order {id} but not change it", caller.id())))),
        _ => Ok((o, places)),
    }
}

/// Whether the caller may know of the order `id` (a return at any store is taken for any
/// order, but its answer shows what the clerk may see).
pub(crate) async fn order_hidden(app: &AppState, caller: &Caller, id: Uuid) -> ApiResult<bool> {
    let Some(o) = app.db.order(id).await? else { return Ok(false) };
    Ok(order_access(app, caller, &o).await? == OrderAccess::Hidden)
}

/// The order `id`, if the caller may do `need` with it: 404 for one it may not know of,
/// 403 for one it may only read.
pub(crate) async fn order_for(app: &AppState, caller: &Caller, id: Uuid, need: OrderAccess) -> ApiResult<OrderRecord> {
    Ok(order_with_places(app, caller, id, need).await?.0)
}

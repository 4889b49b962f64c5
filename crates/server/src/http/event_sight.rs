//! Who sees which events: each subscriber gets the events its principal may see, and
//! without the right to personal data, each with it taken out. The rule is the domain's
//! ([`Principal::event_sight`]: headquarters everything; catalogue, prices and the network
//! for everyone; stock and orders for the staff and the partner of the locations they touch);
//! this module reads what an event touches from its payload and masks what must not show.

use std::collections::HashSet;

use serde_json::Value;
use tongjia_domain::access::{Principal, Sight};
use tongjia_domain::customer::Mobile;
use tongjia_domain::events::EventType;
use tongjia_storage::{Event, LocationFilter, PageRequest};

use crate::AppState;
use crate::problem::ApiResult;

/// Payload keys naming a location an event touches.
const LOCATION_KEYS: [&str; 5] = ["location_code", "store_code", "pickup_store_code", "from_location_code", "to_location_code"];
/// Payload keys holding a member's mobile.
const MOBILE_KEYS: [&str; 2] = ["customer_mobile", "mobile"];
/// Payload keys left out without the right to personal data: delivery coordinates (and the
/// sourcing explanation measured from them), payment references.
const PERSONAL_KEYS: [&str; 3] = ["destination", "sourcing", "external_reference"];

/// One subscriber: its principal and the locations that are its own.
pub(crate) struct Reader {
    principal: Principal,
    own: HashSet<String>,
}

impl Reader {
    /// The reader for `principal`: a till's own stores are its binding's; a partner's are
    /// the locations it runs, read now (a store it opens later is seen from its next
    /// subscription on).
    pub(crate) async fn new(app: &AppState, principal: &Principal) -> ApiResult<Self> {
        let mut own: HashSet<String> = principal.binding.stores().iter().map(|l| l.as_str().to_owned()).collect();
        if let Some(partner) = principal.binding.partner() {
            let filter = LocationFilter { partner_code: Some(partner.as_str().to_owned()), ..Default::default() };
            let mut page = PageRequest { limit: Some(tongjia_storage::LIMIT_MAX), after: None };
            loop {
                let got = app.db.locations(&filter, &page).await?;
                own.extend(got.items.iter().map(|l| l.location.code.as_str().to_owned()));
                match got.next_cursor {
                    Some(next) => page.after = Some(next),
                    None => break,
                }
            }
        }
        Ok(Reader { principal: principal.clone(), own })
    }

    pub(crate) fn principal(&self) -> &Principal {
        &self.principal
    }

    /// What the subscriber sees of `e`.
    pub(crate) fn sight(&self, e: &Event) -> Sight {
        let Ok(kind) = EventType::parse(&e.event_type) else { return Sight::Hidden };
        let own = !self.own.is_empty() && touches(&e.payload, &self.own);
        self.principal.event_sight(kind.audience(), own)
    }

    /// `e` as the subscriber may see it, or None.
    pub(crate) fn shown(&self, mut e: Event) -> Option<Event> {
        match self.sight(&e) {
            Sight::Hidden => None,
            Sight::Full => Some(e),
            Sight::Masked => {
                mask(&mut e.payload);
                if let Ok(m) = Mobile::parse(&e.subject) {
                    e.subject = m.masked();
                }
                Some(e)
            }
        }
    }
}

/// Whether the event names one of `own`'s locations: its `locations` when it lists them (an
/// order's and points' events), else any location key of the payload at any depth — but
/// never the sourcing explanation, whose candidates were only looked at, not used.
fn touches(v: &Value, own: &HashSet<String>) -> bool {
    if let Some(Value::Array(codes)) = v.get("locations") {
        return codes.iter().any(|c| c.as_str().is_some_and(|c| own.contains(c)));
    }
    match v {
        Value::Object(fields) => fields.iter().filter(|(k, _)| k.as_str() != "sourcing").any(|(k, v)| {
            let named = match (k.as_str(), v) {
                ("locations", Value::Array(codes)) => codes.iter().any(|c| c.as_str().is_some_and(|c| own.contains(c))),
                (k, Value::String(code)) if LOCATION_KEYS.contains(&k) => own.contains(code),
                _ => false,
            };
            named || touches(v, own)
        }),
        Value::Array(items) => items.iter().any(|i| touches(i, own)),
        _ => false,
    }
}

/// Takes personal data out of a payload: mobiles masked, coordinates and payment
/// references removed.
fn mask(v: &mut Value) {
    match v {
        Value::Object(fields) => {
            for (k, v) in fields.iter_mut() {
                if MOBILE_KEYS.contains(&k.as_str()) {
                    if let Value::String(m) = v {
                        *m = Mobile::parse(m).map_or_else(|_| "***".to_owned(), |m| m.masked());
                    }
                } else if PERSONAL_KEYS.contains(&k.as_str()) {
                    *v = Value::Null;
                } else {
                    mask(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_event_touches_the_locations_its_payload_names_at_any_depth() {
        let own: HashSet<String> = ["T-1".to_owned()].into();
        assert!(touches(&json!({"entries": [{"location_code": "T-1"}]}), &own));
        assert!(touches(&json!({"order_id": "x", "locations": ["D-1", "T-1"]}), &own));
        assert!(touches(&json!({"transfer": {"from_location_code": "WH", "to_location_code": "T-1"}}), &own));
        assert!(!touches(&json!({"entries": [{"location_code": "T-10"}], "note": "T-1"}), &own));
        // A store the sourcer only considered is not the order's.
        let placed = json!({"store_code": null, "allocations": [{"location_code": "A-9"}],
            "sourcing": {"considered": [{"location_code": "T-1", "ships_whole_order": false}]}});
        assert!(!touches(&placed, &own));
        assert!(!touches(&json!({"locations": ["D-1"], "store_code": "T-1"}), &own), "an event's own list is the whole answer");
    }

    #[test]
    fn masking_leaves_no_mobile_coordinate_or_payment_reference() {
        let mut v = json!({"customer_mobile": "13800138000", "destination": {"longitude": 120.1, "latitude": 30.2},
            "sourcing": {"distance_km": 3.2}, "payments": [{"external_reference": "4200-1", "amount_fen": 100}],
            "points": [{"mobile": "13900139000"}]});
        mask(&mut v);
        let text = v.to_string();
        assert!(
            !text.contains("13800138000") && !text.contains("13900139000") && !text.contains("4200-1") && !text.contains("120.1"),
            "{text}"
        );
        assert_eq!(v["customer_mobile"], "138****8000");
        assert_eq!(v["payments"][0]["amount_fen"], 100);
    }
}

//! Rules of placing an order that are not pricing: who may redeem points, which locations
//! may supply it, and whose units a location hands out first.

use crate::codes::{LocationCode, Owner};
use crate::error::{DomainError, DomainResult};
use crate::location::{LocationKind, LocationStatus};

use super::Fulfilment;

/// Only members redeem points.
pub fn check_member(has_customer: bool, redeem_points: i64) -> DomainResult<()> {
    if redeem_points > 0 && !has_customer {
        return Err(DomainError::invalid("redeem_points", "member_required", "only members redeem points: give customer_mobile"));
    }
    Ok(())
}

/// The locations an order may be sourced from: open ones; for goods that travel to the
/// shopper only warehouses and stores that ship from store; never the excepted one (the
/// ordering store of an endless-aisle order, the pickup store a transfer goes to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcingPool {
    pub ship_only: bool,
    pub except: Option<LocationCode>,
}

impl SourcingPool {
    /// The pool of an order of `fulfilment` placed at `store` (if any) for pickup at `pickup`
    /// (if any). A pickup's pool is everywhere else: the pickup store itself is checked first.
    pub fn for_order(fulfilment: Fulfilment, store: Option<&LocationCode>, pickup: Option<&LocationCode>) -> SourcingPool {
        match fulfilment {
            Fulfilment::Delivery => SourcingPool { ship_only: true, except: None },
            Fulfilment::EndlessAisle => SourcingPool { ship_only: true, except: store.cloned() },
            Fulfilment::Pickup => SourcingPool { ship_only: false, except: pickup.cloned() },
            Fulfilment::CarryOut => SourcingPool { ship_only: false, except: None },
        }
    }
    /// Any open location (the pickup store's own check).
    pub fn anywhere() -> SourcingPool {
        SourcingPool { ship_only: false, except: None }
    }
    pub fn admits(&self, code: &LocationCode, kind: LocationKind, status: LocationStatus, ship_from_store: bool) -> bool {
        self.admits_code(code.as_str(), kind, status, ship_from_store)
    }

    /// [`SourcingPool::admits`] for a location known by its code's text.
    pub fn admits_code(&self, code: &str, kind: LocationKind, status: LocationStatus, ship_from_store: bool) -> bool {
        status == LocationStatus::Open
            && self.except.as_ref().is_none_or(|e| e.as_str() != code)
            && (!self.ship_only || kind == LocationKind::Warehouse || ship_from_store)
    }
}

/// How `quantity` is taken from one location's free units by owner: the brand's own goods
/// first, then each partner's consigned goods by partner code. Refused when they fall short.
pub fn split_by_owner(free: &[(Owner, i64)], quantity: i64) -> DomainResult<Vec<(Owner, i64)>> {
    let mut owners: Vec<&(Owner, i64)> = free.iter().filter(|(_, n)| *n > 0).collect();
    owners.sort_by_key(|(o, _)| (*o != Owner::Brand, o.to_string()));
    let mut left = quantity;
    let mut out = vec![];
    for (owner, n) in owners {
        if left == 0 {
            break;
        }
        let take = left.min(*n);
        out.push((owner.clone(), take));
        left -= take;
    }
    if left > 0 {
        return Err(DomainError::rule("insufficient_stock", format!("{left} of {quantity} short")));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::PartnerCode;

    fn partner(code: &str) -> Owner {
        Owner::Partner(PartnerCode::parse(code).unwrap())
    }

    #[test]
    fn the_brands_goods_go_first_then_partners_by_code() {
        let free = [(partner("P2"), 5), (Owner::Brand, 2), (partner("P1"), 1)];
        assert_eq!(split_by_owner(&free, 4).unwrap(), vec![(Owner::Brand, 2), (partner("P1"), 1), (partner("P2"), 1)]);
        assert_eq!(split_by_owner(&free, 2).unwrap(), vec![(Owner::Brand, 2)]);
        assert_eq!(split_by_owner(&free, 9).unwrap_err().code, "insufficient_stock");
    }

    #[test]
    fn only_warehouses_and_shipping_stores_ship() {
        let s1 = LocationCode::parse("S1").unwrap();
        let ship = SourcingPool::for_order(Fulfilment::Delivery, None, None);
        assert!(ship.admits(&s1, LocationKind::Warehouse, LocationStatus::Open, false));
        assert!(ship.admits(&s1, LocationKind::Direct, LocationStatus::Open, true));
        assert!(!ship.admits(&s1, LocationKind::Direct, LocationStatus::Open, false));
        assert!(!ship.admits(&s1, LocationKind::Warehouse, LocationStatus::Closed, false));
        let aisle = SourcingPool::for_order(Fulfilment::EndlessAisle, Some(&s1), None);
        assert!(!aisle.admits(&s1, LocationKind::Direct, LocationStatus::Open, true), "not the ordering store");
        let pickup = SourcingPool::for_order(Fulfilment::Pickup, None, Some(&s1));
        assert!(!pickup.admits(&s1, LocationKind::Direct, LocationStatus::Open, false));
        assert!(pickup.admits(&LocationCode::parse("T1").unwrap(), LocationKind::TownshipAuthorized, LocationStatus::Open, false));
        assert_eq!(check_member(false, 1).unwrap_err().code, "member_required");
        check_member(true, 1).unwrap();
    }
}

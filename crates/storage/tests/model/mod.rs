//! An independent in-memory model of the ledger and the order flow, written from the rules
//! as the docs state them (not from the domain code): what each stock command, order action
//! and sweep should do to balances, holds, transfers, orders and points. `model_props.rs`
//! runs random steps against the real storage and compares the two after every step.

#![allow(dead_code)]

use jiff::{SignedDuration, Timestamp};
use std::collections::BTreeMap;
use uuid::Uuid;

/// (location, SKU, owner) as the API writes them.
pub type Key = (String, String, String);

pub const PAID_HOLD_S: i64 = 30 * 24 * 3600;
pub const UNPAID_HOLD_S: i64 = 15 * 60;
pub const RESERVE_MAX_S: i64 = 7 * 24 * 3600;
pub const EXTEND_MAX_S: i64 = 90 * 24 * 3600;
pub const RETURN_WINDOW_S: i64 = 7 * 24 * 3600;
pub const QUANTITY_MAX: i64 = 1_000_000;
pub const PICKUP_TRIES: i64 = 5;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pos {
    pub on_hand: i64,
    pub reserved: i64,
    pub damaged: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldStatus {
    Active,
    Released,
    Expired,
    Committed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub key: Key,
    pub qty: i64,
    pub expires_at: Timestamp,
    pub status: HoldStatus,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    pub from: Key,
    pub to: String,
    pub qty: i64,
    pub received: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    Delivery,
    Pickup,
    CarryOut,
    EndlessAisle,
}

impl Way {
    pub fn ships(self) -> bool {
        matches!(self, Way::Delivery | Way::EndlessAisle)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Reserved,
    Paid,
    Fulfilling,
    Shipped,
    Ready,
    Completed,
    Cancelled,
}

impl Status {
    pub fn as_api(self) -> &'static str {
        match self {
            Status::Reserved => "reserved",
            Status::Paid => "paid",
            Status::Fulfilling => "fulfilling",
            Status::Shipped => "shipped",
            Status::Ready => "ready_for_pickup",
            Status::Completed => "completed",
            Status::Cancelled => "cancelled",
        }
    }
    fn awaits_goods(self) -> bool {
        matches!(self, Status::Paid | Status::Fulfilling | Status::Ready)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alloc {
    pub location: String,
    pub owner: String,
    pub qty: i64,
    pub hold: Option<Uuid>,
    pub transfer: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub way: Way,
    pub status: Status,
    pub sku: String,
    pub qty: i64,
    pub pickup: Option<String>,
    pub member: bool,
    pub redeemed: i64,
    pub total: i64,
    pub expires_at: Timestamp,
    pub paid: i64,
    pub refunded: i64,
    pub earned: i64,
    pub reversed: i64,
    pub returned: i64,
    pub fulfilled_at: Option<Timestamp>,
    pub tries: i64,
    pub allocs: Vec<Alloc>,
}

/// Why the model refuses: the step must be refused by storage too.
pub type Refused = &'static str;
pub type Outcome = Result<(), Refused>;

fn refuse(why: Refused) -> Outcome {
    Err(why)
}

/// The whole state the model predicts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Model {
    pub now: Option<Timestamp>,
    pub positions: BTreeMap<Key, Pos>,
    pub safety: BTreeMap<(String, String), i64>,
    pub holds: BTreeMap<Uuid, Hold>,
    pub moves: BTreeMap<Uuid, Move>,
    pub orders: BTreeMap<Uuid, Order>,
    /// The member's points balance (`None` until the member first orders).
    pub points: Option<i64>,
}

pub fn at(t: Timestamp, secs: i64) -> Timestamp {
    t.checked_add(SignedDuration::from_secs(secs)).unwrap()
}

impl Model {
    pub fn now(&self) -> Timestamp {
        self.now.expect("the model's clock is set")
    }
    pub fn pos(&self, k: &Key) -> Pos {
        self.positions.get(k).copied().unwrap_or_default()
    }
    fn pos_mut(&mut self, k: &Key) -> &mut Pos {
        self.positions.entry(k.clone()).or_default()
    }
    pub fn free(&self, k: &Key) -> i64 {
        let p = self.pos(k);
        p.on_hand - p.reserved
    }
    /// What a location can promise of a SKU: every owner's free units less safety stock.
    pub fn promisable(&self, location: &str, sku: &str) -> i64 {
        let free: i64 = self.positions.iter().filter(|(k, _)| k.0 == location && k.1 == sku).map(|(_, p)| p.on_hand - p.reserved).sum();
        (free - self.safety.get(&(location.to_owned(), sku.to_owned())).copied().unwrap_or(0)).max(0)
    }
    /// The order, if any, that holds reservation `id` now.
    pub fn holder(&self, id: Uuid) -> Option<&Order> {
        self.orders.values().find(|o| o.allocs.iter().any(|a| a.hold == Some(id)))
    }

    // ---- the ledger -------------------------------------------------------------------

    /// Goods in. A partner's own stock only at a store that partner runs (`runs`: the
    /// location's partner).
    pub fn receive(&mut self, k: &Key, q: i64, runs: Option<&str>) -> Outcome {
        if let Some(partner) = k.2.strip_prefix("partner:")
            && runs != Some(partner)
        {
            return refuse("owner_not_at_location");
        }
        self.pos_mut(k).on_hand += q;
        Ok(())
    }
    pub fn adjust(&mut self, k: &Key, delta: i64) -> Outcome {
        let p = self.pos(k);
        if delta == 0 || delta.abs() > QUANTITY_MAX || p.on_hand + delta < p.reserved {
            return refuse("adjustment");
        }
        self.pos_mut(k).on_hand += delta;
        Ok(())
    }
    pub fn count(&mut self, k: &Key, counted: i64) -> Outcome {
        if !(0..=QUANTITY_MAX).contains(&counted) || counted < self.pos(k).reserved {
            return refuse("count");
        }
        self.pos_mut(k).on_hand = counted;
        Ok(())
    }
    pub fn sell(&mut self, k: &Key, q: i64) -> Outcome {
        if q > self.free(k) {
            return refuse("sale beyond free stock");
        }
        self.pos_mut(k).on_hand -= q;
        Ok(())
    }
    pub fn give_back(&mut self, k: &Key, q: i64, damaged: bool) -> Outcome {
        let p = self.pos_mut(k);
        if damaged {
            p.damaged += q
        } else {
            p.on_hand += q
        }
        Ok(())
    }
    pub fn dispose(&mut self, k: &Key, q: i64) -> Outcome {
        if q > self.pos(k).damaged {
            return refuse("disposal beyond damaged");
        }
        self.pos_mut(k).damaged -= q;
        Ok(())
    }
    pub fn reserve(&mut self, id: Uuid, k: &Key, q: i64, expires_at: Timestamp) -> Outcome {
        let now = self.now();
        let ttl = expires_at.as_second() - now.as_second();
        if expires_at <= now || ttl > RESERVE_MAX_S {
            return refuse("hold length");
        }
        if q > self.free(k) || q > self.promisable(&k.0, &k.1) {
            return refuse("hold beyond promisable");
        }
        self.pos_mut(k).reserved += q;
        self.holds.insert(id, Hold { key: k.clone(), qty: q, expires_at, status: HoldStatus::Active });
        Ok(())
    }
    fn active_hold(&self, id: Uuid) -> Result<Hold, Refused> {
        match self.holds.get(&id) {
            Some(h) if h.status == HoldStatus::Active => Ok(h.clone()),
            Some(_) => Err("hold not active"),
            None => Err("no such hold"),
        }
    }
    /// Ends an active hold: released or expired units are free again; committed ones are sold.
    fn end_hold(&mut self, id: Uuid, to: HoldStatus) -> Outcome {
        let h = self.active_hold(id)?;
        let p = self.pos_mut(&h.key);
        p.reserved -= h.qty;
        if to == HoldStatus::Committed {
            p.on_hand -= h.qty;
        }
        self.holds.get_mut(&id).unwrap().status = to;
        Ok(())
    }
    pub fn extend_hold(&mut self, id: Uuid, until: Timestamp) -> Outcome {
        let h = self.active_hold(id)?;
        if until <= h.expires_at || until.as_second() - self.now().as_second() > EXTEND_MAX_S {
            return refuse("extension");
        }
        self.holds.get_mut(&id).unwrap().expires_at = until;
        Ok(())
    }
    pub fn transfer_out(&mut self, id: Uuid, from: &Key, to: &str, q: i64) -> Outcome {
        if from.0 == to || q > self.free(from) {
            return refuse("transfer");
        }
        self.pos_mut(from).on_hand -= q;
        self.moves.insert(id, Move { from: from.clone(), to: to.to_owned(), qty: q, received: false });
        Ok(())
    }
    pub fn transfer_in(&mut self, id: Uuid) -> Outcome {
        let m = match self.moves.get(&id) {
            Some(m) if !m.received => m.clone(),
            _ => return refuse("no transfer in transit"),
        };
        self.pos_mut(&(m.to.clone(), m.from.1.clone(), m.from.2.clone())).on_hand += m.qty;
        self.moves.get_mut(&id).unwrap().received = true;
        Ok(())
    }
    /// A receipt through the stock API: goods in transit for a paid order are received only
    /// by marking the order ready.
    pub fn outside_transfer_in(&mut self, id: Uuid) -> Outcome {
        if self.orders.values().any(|o| o.status.awaits_goods() && o.allocs.iter().any(|a| a.transfer == Some(id))) {
            return refuse("transfer belongs to a paid order");
        }
        self.transfer_in(id)
    }
    pub fn set_safety(&mut self, location: &str, sku: &str, q: i64) -> Outcome {
        if !(0..=QUANTITY_MAX).contains(&q) {
            return refuse("safety stock");
        }
        self.safety.insert((location.to_owned(), sku.to_owned()), q);
        Ok(())
    }

    // ---- holds as the stock API sees them (an order's hold moves only with its order) ----

    pub fn outside_release(&mut self, id: Uuid) -> Outcome {
        if self.holder(id).is_some() {
            return refuse("hold belongs to an order");
        }
        self.end_hold(id, HoldStatus::Released)
    }
    pub fn outside_commit(&mut self, id: Uuid) -> Outcome {
        if self.holder(id).is_some() {
            return refuse("hold belongs to an order");
        }
        let h = self.active_hold(id)?;
        if self.now() >= h.expires_at {
            return refuse("hold lapsed");
        }
        self.end_hold(id, HoldStatus::Committed)
    }
    pub fn outside_extend(&mut self, id: Uuid, until: Timestamp) -> Outcome {
        if self.holder(id).is_some() {
            return refuse("hold belongs to an order");
        }
        self.extend_hold(id, until)
    }
    pub fn outside_expire(&mut self, id: Uuid) -> Outcome {
        if self.holder(id).is_some_and(|o| o.status.awaits_goods()) {
            return refuse("hold of a paid order");
        }
        let h = self.active_hold(id)?;
        if self.now() < h.expires_at {
            return refuse("hold not due");
        }
        self.end_hold(id, HoldStatus::Expired)
    }

    // ---- the sweep ---------------------------------------------------------------------

    /// Unpaid orders past their hold are cancelled; then every hold whose time is up expires,
    /// except a paid order's, which is held for another paid hold.
    pub fn sweep(&mut self) {
        let now = self.now();
        let due: Vec<Uuid> =
            self.orders.iter().filter(|(_, o)| o.status == Status::Reserved && o.expires_at <= now).map(|(id, _)| *id).collect();
        for id in due {
            self.cancel(id).expect("a due order can be cancelled");
        }
        let due: Vec<Uuid> =
            self.holds.iter().filter(|(_, h)| h.status == HoldStatus::Active && h.expires_at <= now).map(|(id, _)| *id).collect();
        for id in due {
            if self.holder(id).is_some_and(|o| o.status.awaits_goods()) {
                self.holds.get_mut(&id).unwrap().expires_at = at(now, PAID_HOLD_S);
            } else {
                self.end_hold(id, HoldStatus::Expired).unwrap();
            }
        }
    }

    // ---- orders ------------------------------------------------------------------------

    fn order(&self, id: Uuid) -> Result<Order, Refused> {
        self.orders.get(&id).cloned().ok_or("no such order")
    }
    fn set_status(&mut self, id: Uuid, s: Status) {
        self.orders.get_mut(&id).unwrap().status = s;
    }
    fn order_holds(&self, o: &Order) -> Result<Vec<Uuid>, Refused> {
        let ids: Vec<Uuid> = o.allocs.iter().filter_map(|a| a.hold).collect();
        if ids.iter().any(|id| self.holds[id].status != HoldStatus::Active) {
            return refuse("an order hold is lost").map(|_| vec![]);
        }
        Ok(ids)
    }
    fn earn(&mut self, id: Uuid) {
        let o = self.orders.get_mut(&id).unwrap();
        if o.member {
            o.earned = o.paid / 100;
            let earned = o.earned;
            *self.points.as_mut().unwrap() += earned;
        }
    }
    /// The goods leave: every hold (renewed first if its time passed unswept) becomes a sale.
    fn fulfil(&mut self, id: Uuid) -> Outcome {
        let o = self.order(id)?;
        let now = self.now();
        for h in self.order_holds(&o)? {
            if now >= self.holds[&h].expires_at {
                self.holds.get_mut(&h).unwrap().expires_at = at(now, PAID_HOLD_S);
            }
            self.end_hold(h, HoldStatus::Committed)?;
        }
        self.orders.get_mut(&id).unwrap().fulfilled_at = Some(now);
        Ok(())
    }

    pub fn pay(&mut self, id: Uuid, amount: i64) -> Outcome {
        let o = self.order(id)?;
        let now = self.now();
        if o.status != Status::Reserved || now >= o.expires_at || amount != o.total {
            return refuse("payment");
        }
        let holds = self.order_holds(&o)?;
        let order = self.orders.get_mut(&id).unwrap();
        order.paid = amount;
        order.status = Status::Paid;
        if o.way == Way::CarryOut {
            self.fulfil(id)?;
            self.set_status(id, Status::Completed);
            self.earn(id);
            return Ok(());
        }
        let until = at(now, PAID_HOLD_S);
        for h in holds {
            if self.holds[&h].expires_at < until {
                self.extend_hold(h, until)?;
            }
        }
        Ok(())
    }
    /// After payment, a pickup's units held elsewhere leave for the pickup store: the hold is
    /// released and a transfer (whose id storage chose) ships them.
    pub fn ship_to_pickup(&mut self, id: Uuid, transfers: &[(usize, Uuid)]) -> Outcome {
        let o = self.order(id)?;
        for (i, transfer) in transfers {
            let pickup = o.pickup.clone().ok_or("only a pickup travels to a store")?;
            let a = o.allocs[*i].clone();
            let hold = a.hold.ok_or("a transferred allocation had no hold")?;
            self.end_hold(hold, HoldStatus::Released)?;
            self.transfer_out(*transfer, &(a.location.clone(), o.sku.clone(), a.owner.clone()), &pickup, a.qty)?;
            let alloc = &mut self.orders.get_mut(&id).unwrap().allocs[*i];
            alloc.hold = None;
            alloc.transfer = Some(*transfer);
        }
        Ok(())
    }
    /// Allocations of a paid pickup that must travel to the pickup store.
    pub fn to_transfer(&self, id: Uuid) -> Vec<usize> {
        let o = &self.orders[&id];
        if o.way != Way::Pickup || o.status != Status::Paid {
            return vec![];
        }
        o.allocs.iter().enumerate().filter(|(_, a)| Some(&a.location) != o.pickup.as_ref()).map(|(i, _)| i).collect()
    }

    pub fn fulfil_order(&mut self, id: Uuid) -> Outcome {
        let o = self.order(id)?;
        if o.status != Status::Paid || o.way == Way::CarryOut {
            return refuse("fulfil");
        }
        self.set_status(id, Status::Fulfilling);
        Ok(())
    }
    pub fn ship(&mut self, id: Uuid) -> Outcome {
        let o = self.order(id)?;
        if !o.way.ships() || !matches!(o.status, Status::Paid | Status::Fulfilling) {
            return refuse("ship");
        }
        self.fulfil(id)?;
        self.set_status(id, Status::Shipped);
        Ok(())
    }
    pub fn deliver(&mut self, id: Uuid) -> Outcome {
        let o = self.order(id)?;
        if !o.way.ships() || o.status != Status::Shipped {
            return refuse("deliver");
        }
        self.set_status(id, Status::Completed);
        self.earn(id);
        Ok(())
    }
    /// Staff mark a pickup ready: transfers in transit arrive and each is held at the pickup
    /// store for the paid hold (under the ids storage chose, one per transferred allocation).
    pub fn ready(&mut self, id: Uuid, new_holds: &[(usize, Uuid)]) -> Outcome {
        let o = self.order(id)?;
        if o.way != Way::Pickup || !matches!(o.status, Status::Paid | Status::Fulfilling) {
            return refuse("ready");
        }
        let pickup = o.pickup.clone().unwrap();
        let now = self.now();
        let moved: Vec<usize> = o.allocs.iter().enumerate().filter(|(_, a)| a.transfer.is_some()).map(|(i, _)| i).collect();
        if moved.len() != new_holds.len() {
            return refuse("a transferred allocation got no hold");
        }
        for (i, hold) in new_holds {
            let a = o.allocs[*i].clone();
            let transfer = a.transfer.unwrap();
            if !self.moves[&transfer].received {
                self.transfer_in(transfer)?;
            }
            let key = (pickup.clone(), o.sku.clone(), a.owner.clone());
            self.reserve(*hold, &key, a.qty, at(now, RESERVE_MAX_S))?;
            self.extend_hold(*hold, at(now, PAID_HOLD_S))?;
            let alloc = &mut self.orders.get_mut(&id).unwrap().allocs[*i];
            alloc.location = pickup.clone();
            alloc.hold = Some(*hold);
        }
        self.set_status(id, Status::Ready);
        Ok(())
    }
    /// A handover: the right code completes it; a wrong one counts (and sticks) until locked.
    pub fn hand_over(&mut self, id: Uuid, right_code: bool) -> Outcome {
        let o = self.order(id)?;
        if o.status != Status::Ready || o.tries >= PICKUP_TRIES {
            return refuse("handover");
        }
        if !right_code {
            self.orders.get_mut(&id).unwrap().tries += 1;
            return Err("wrong pickup code");
        }
        self.fulfil(id)?;
        self.set_status(id, Status::Completed);
        self.earn(id);
        Ok(())
    }
    pub fn cancel(&mut self, id: Uuid) -> Outcome {
        let o = self.order(id)?;
        if !matches!(o.status, Status::Reserved | Status::Paid | Status::Fulfilling | Status::Ready) {
            return refuse("cancel");
        }
        for h in o.allocs.iter().filter_map(|a| a.hold) {
            if self.holds[&h].status == HoldStatus::Active {
                self.end_hold(h, HoldStatus::Released)?;
            }
        }
        if o.member {
            *self.points.as_mut().unwrap() += o.redeemed;
        }
        let order = self.orders.get_mut(&id).unwrap();
        order.refunded += order.paid;
        order.status = Status::Cancelled;
        Ok(())
    }
    /// Units of the order's line come back at `store`: refunded at the price paid, restocked
    /// there under the owner of the line's first allocation, points restored and reversed.
    pub fn take_back(&mut self, id: Uuid, store: &str, q: i64, damaged: bool) -> Outcome {
        let o = self.order(id)?;
        let Some(fulfilled) = o.fulfilled_at else { return refuse("not fulfilled") };
        if !matches!(o.status, Status::Shipped | Status::Completed) || self.now() > at(fulfilled, RETURN_WINDOW_S) || q > o.qty - o.returned
        {
            return refuse("return");
        }
        let share = |amount: i64, upto: i64| (i128::from(amount) * i128::from(upto) / i128::from(o.qty)) as i64;
        let refund = share(o.total, o.returned + q) - share(o.total, o.returned);
        let restored = share(o.redeemed, o.returned + q) - share(o.redeemed, o.returned);
        let owner = o.allocs.first().map_or_else(|| "brand".to_owned(), |a| a.owner.clone());
        self.give_back(&(store.to_owned(), o.sku.clone(), owner), q, damaged)?;
        let earned_share = |refunded: i64| {
            if o.paid <= 0 { 0 } else { (i128::from(o.earned) * i128::from(refunded.min(o.paid)) / i128::from(o.paid)) as i64 }
        };
        let reverse = earned_share(o.refunded + refund) - earned_share(o.refunded);
        let mut taken = 0;
        if o.member {
            let balance = self.points.as_mut().unwrap();
            *balance += restored;
            taken = reverse.min(*balance);
            *balance -= taken;
        }
        let order = self.orders.get_mut(&id).unwrap();
        order.returned += q;
        order.refunded += refund;
        order.reversed += taken;
        Ok(())
    }
}

/// A new order as the runner generated it.
#[derive(Debug, Clone)]
pub struct Placement {
    pub way: Way,
    /// The ordering store (till sales, endless aisle).
    pub store: Option<String>,
    pub pickup: Option<String>,
    pub sku: String,
    pub qty: i64,
    pub member: bool,
    pub redeem: i64,
    /// The price the model expects: the member price for members.
    pub unit: i64,
}

/// Where an order's units may come from.
pub enum Source {
    /// Exactly here, owner by owner (a till sale; a pickup the store holds whole).
    Here(String),
    /// Anywhere in this pool, as sourcing chooses.
    Pool(Vec<String>),
}

impl Model {
    /// How `qty` of `sku` is held at `location`: the brand's free units first, then each
    /// partner's by code.
    pub fn split_by_owner(&self, location: &str, sku: &str, qty: i64) -> Vec<(String, i64)> {
        let mut owners: Vec<(String, i64)> = self
            .positions
            .iter()
            .filter(|(k, p)| k.0 == location && k.1 == sku && p.on_hand > p.reserved)
            .map(|(k, p)| (k.2.clone(), p.on_hand - p.reserved))
            .collect();
        owners.sort_by_key(|(o, _)| (o != "brand", o.clone()));
        let mut left = qty;
        let mut out = vec![];
        for (owner, free) in owners {
            if left == 0 {
                break;
            }
            let take = left.min(free);
            out.push((owner, take));
            left -= take;
        }
        out
    }

    /// Where an order may be sourced from, given the network's locations (warehouses and
    /// stores that ship from store ship; a pickup store that holds it all keeps it).
    pub fn source(&self, p: &Placement, shipping: &[&str], all: &[&str]) -> Source {
        match p.way {
            Way::CarryOut => Source::Here(p.store.clone().unwrap()),
            Way::Pickup => {
                let pickup = p.pickup.clone().unwrap();
                if self.promisable(&pickup, &p.sku) >= p.qty {
                    Source::Here(pickup)
                } else {
                    Source::Pool(all.iter().filter(|l| **l != pickup).map(|l| l.to_string()).collect())
                }
            }
            Way::Delivery => Source::Pool(shipping.iter().map(|l| l.to_string()).collect()),
            Way::EndlessAisle => Source::Pool(shipping.iter().filter(|l| Some(l.to_string()) != p.store).map(|l| l.to_string()).collect()),
        }
    }

    /// Whether the order should be accepted, before looking at what storage allocated.
    pub fn can_place(&self, p: &Placement, source: &Source) -> Outcome {
        if p.redeem > p.unit * p.qty {
            return refuse("redemption beyond the total");
        }
        if p.member && self.points.unwrap_or(0) < p.redeem {
            return refuse("points");
        }
        let units = match source {
            Source::Here(l) => self.split_by_owner(l, &p.sku, p.qty).iter().map(|(_, q)| q).sum::<i64>().min(self.promisable(l, &p.sku)),
            Source::Pool(pool) => pool.iter().map(|l| self.promisable(l, &p.sku)).sum(),
        };
        if units < p.qty { refuse("stock") } else { Ok(()) }
    }

    /// Accepts the order with the allocations storage made, checking each: from the pool,
    /// owner by owner as [`Model::split_by_owner`] says, within what each location promises.
    pub fn place(&mut self, id: Uuid, p: &Placement, source: &Source, allocs: &[Alloc]) -> Result<(), String> {
        let mut by_location: Vec<(String, i64)> = vec![];
        for a in allocs {
            match by_location.iter_mut().find(|(l, _)| *l == a.location) {
                Some((_, q)) => *q += a.qty,
                None => by_location.push((a.location.clone(), a.qty)),
            }
        }
        if by_location.iter().map(|(_, q)| q).sum::<i64>() != p.qty {
            return Err(format!("allocations {allocs:?} do not add up to {}", p.qty));
        }
        let now = self.now();
        let mut rest = allocs.iter();
        for (location, q) in &by_location {
            let allowed = match source {
                Source::Here(l) => l == location,
                Source::Pool(pool) => pool.contains(location),
            };
            if !allowed || *q > self.promisable(location, &p.sku) {
                return Err(format!("{q} allocated at {location}, which may not supply it: {allocs:?}"));
            }
            for (owner, take) in self.split_by_owner(location, &p.sku, *q) {
                let a = rest.next().ok_or("fewer allocations than owners")?;
                if (a.location.as_str(), a.owner.as_str(), a.qty) != (location.as_str(), owner.as_str(), take) {
                    return Err(format!("expected {take} of {owner} at {location}, storage allocated {a:?}"));
                }
                let key = (location.clone(), p.sku.clone(), owner);
                self.reserve(a.hold.ok_or("an allocation without a hold")?, &key, take, at(now, UNPAID_HOLD_S)).map_err(str::to_owned)?;
            }
        }
        if p.member {
            self.points = Some(self.points.unwrap_or(0) - p.redeem);
        }
        let total = p.unit * p.qty - p.redeem;
        self.orders.insert(
            id,
            Order {
                way: p.way,
                status: Status::Reserved,
                sku: p.sku.clone(),
                qty: p.qty,
                pickup: p.pickup.clone(),
                member: p.member,
                redeemed: p.redeem,
                total,
                expires_at: at(now, UNPAID_HOLD_S),
                paid: 0,
                refunded: 0,
                earned: 0,
                reversed: 0,
                returned: 0,
                fulfilled_at: None,
                tries: 0,
                allocs: allocs.to_vec(),
            },
        );
        Ok(())
    }
}

//! One stock ledger. Every unit in every location is a balance derived from append-only
//! entries, keyed by (location, SKU, owner): the location is the custodian, the owner is
//! the brand or a partner (consignment). Every stock-changing command goes through
//! [`decide`], a pure function from a command and the state it touches to a [`Decision`]
//! (entries, new balances, records) or a refusal.
//!
//! Invariants, enforced here and re-checked by the database's CHECK constraints:
//! - `0 ≤ reserved ≤ on_hand` for every key (so no owner's balance is ever negative);
//! - a reservation never takes a location below its safety stock:
//!   `available = Σ owners (on_hand − reserved) − safety_stock ≥ 0` after a reservation;
//! - stock is conserved: receipts − sales + returns + adjustments − disposals
//!   = on hand + damaged + in transit.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

use crate::codes::{LocationCode, Owner, SkuCode};
use crate::error::{DomainError, DomainResult};
use crate::events::EventType;

/// The most units one command may move.
pub const QUANTITY_MAX: i64 = 1_000_000;
/// The longest a reservation may be held when placed.
pub const RESERVATION_TTL_SECONDS_MAX: i64 = 7 * 24 * 3600;
/// The furthest ahead an extension may move a reservation's expiry (a paid order awaiting
/// fulfilment).
pub const RESERVATION_EXTENSION_SECONDS_MAX: i64 = 90 * 24 * 3600;

/// A strictly positive number of units, at most [`QUANTITY_MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct Quantity(i64);

impl Quantity {
    pub fn new(n: i64) -> DomainResult<Self> {
        if n <= 0 {
            return Err(DomainError::invalid("quantity", "quantity_not_positive", format!("quantity must be at least 1, got {n}")));
        }
        if n > QUANTITY_MAX {
            return Err(DomainError::invalid("quantity", "quantity_too_large", format!("quantity must be at most {QUANTITY_MAX}")));
        }
        Ok(Quantity(n))
    }
    pub fn get(self) -> i64 {
        self.0
    }
}
impl TryFrom<i64> for Quantity {
    type Error = DomainError;
    fn try_from(n: i64) -> DomainResult<Self> {
        Quantity::new(n)
    }
}
impl From<Quantity> for i64 {
    fn from(q: Quantity) -> i64 {
        q.0
    }
}

/// The key of a stock balance: where the goods are, what they are, whose they are.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct StockKey {
    pub location_code: LocationCode,
    pub sku_code: SkuCode,
    pub owner: Owner,
}

impl StockKey {
    pub fn pair(&self) -> (LocationCode, SkuCode) {
        (self.location_code.clone(), self.sku_code.clone())
    }
}

/// A balance: sellable units on hand, how many of them are reserved, and damaged units
/// held apart (returned damaged, awaiting disposal; never sellable, never promised).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Position {
    pub on_hand: i64,
    pub reserved: i64,
    #[serde(default)]
    pub damaged: i64,
}

impl Position {
    /// Units on hand not promised to anyone.
    pub fn unreserved(&self) -> i64 {
        self.on_hand - self.reserved
    }
    /// `0 ≤ reserved ≤ on_hand` and `damaged ≥ 0`.
    pub fn is_valid(&self) -> bool {
        0 <= self.reserved && self.reserved <= self.on_hand && self.damaged >= 0
    }
}

/// What an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    Receipt,
    TransferOut,
    TransferIn,
    Adjustment,
    Count,
    Reservation,
    Release,
    Expiry,
    /// A reservation turned into a sale: on hand and reserved both fall.
    Commit,
    Sale,
    Return,
    /// Damaged units leave the ledger (sent back to the maker, scrapped).
    Disposal,
    /// A reservation's hold extended (no quantity changes).
    Extension,
}

impl EntryKind {
    pub const ALL: [EntryKind; 13] = [
        Self::Receipt,
        Self::TransferOut,
        Self::TransferIn,
        Self::Adjustment,
        Self::Count,
        Self::Reservation,
        Self::Release,
        Self::Expiry,
        Self::Commit,
        Self::Sale,
        Self::Return,
        Self::Disposal,
        Self::Extension,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Receipt => "receipt",
            Self::TransferOut => "transfer_out",
            Self::TransferIn => "transfer_in",
            Self::Adjustment => "adjustment",
            Self::Count => "count",
            Self::Reservation => "reservation",
            Self::Release => "release",
            Self::Expiry => "expiry",
            Self::Commit => "commit",
            Self::Sale => "sale",
            Self::Return => "return",
            Self::Disposal => "disposal",
            Self::Extension => "extension",
        }
    }
    pub fn parse(raw: &str) -> DomainResult<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == raw)
            .ok_or_else(|| DomainError::invalid("kind", "invalid_entry_kind", format!("'{raw}' is not an entry kind")))
    }
}

/// One append-only ledger line: the change it makes to one balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub kind: EntryKind,
    pub key: StockKey,
    pub on_hand_delta: i64,
    pub reserved_delta: i64,
    #[serde(default)]
    pub damaged_delta: i64,
    pub reservation_id: Option<Uuid>,
    pub transfer_id: Option<Uuid>,
    /// Free text from the caller: a delivery note, an order number, a reason.
    pub reference: Option<String>,
}

/// State of a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReservationStatus {
    Active,
    Released,
    Expired,
    Committed,
}

impl ReservationStatus {
    pub const ALL: [ReservationStatus; 4] = [Self::Active, Self::Released, Self::Expired, Self::Committed];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Released => "released",
            Self::Expired => "expired",
            Self::Committed => "committed",
        }
    }
    pub fn parse(raw: &str) -> DomainResult<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| DomainError::invalid("status", "invalid_status", format!("'{raw}' is not a reservation status")))
    }
}

/// Units held for a buyer until they are committed into a sale, released, or expire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub id: Uuid,
    pub key: StockKey,
    pub quantity: Quantity,
    pub expires_at: Timestamp,
    pub status: ReservationStatus,
    pub reference: Option<String>,
}

/// State of a transfer between locations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferStatus {
    InTransit,
    Received,
}

impl TransferStatus {
    pub const ALL: [TransferStatus; 2] = [Self::InTransit, Self::Received];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InTransit => "in_transit",
            Self::Received => "received",
        }
    }
    pub fn parse(raw: &str) -> DomainResult<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| DomainError::invalid("status", "invalid_status", format!("'{raw}' is not a transfer status")))
    }
}

/// Goods on their way from one location to another; the owner does not change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    pub id: Uuid,
    pub from: StockKey,
    pub to_location_code: LocationCode,
    pub quantity: Quantity,
    pub status: TransferStatus,
}

impl Transfer {
    /// The key the goods arrive under: the destination, same SKU, same owner.
    pub fn to_key(&self) -> StockKey {
        StockKey { location_code: self.to_location_code.clone(), ..self.from.clone() }
    }
}

/// Every stock-changing command. Ids of new reservations and transfers are chosen by the
/// caller (time-ordered UUIDv7), so that a decision is a pure function of its inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StockCommand {
    Receive {
        key: StockKey,
        quantity: Quantity,
        reference: Option<String>,
    },
    /// A signed correction (damage, loss, found goods) with its reason.
    Adjust {
        key: StockKey,
        delta: i64,
        reason: String,
    },
    /// A stock count: the counted quantity replaces on hand; the difference is the entry.
    Count {
        key: StockKey,
        counted: i64,
        reference: Option<String>,
    },
    /// A sale of unreserved units (a till sale from the shelf).
    Sell {
        key: StockKey,
        quantity: Quantity,
        reference: Option<String>,
    },
    /// Goods coming back: sellable ones join on hand, damaged ones the damaged balance.
    Return {
        key: StockKey,
        quantity: Quantity,
        reference: Option<String>,
        damaged: bool,
    },
    /// Damaged units leave the ledger.
    DisposeDamaged {
        key: StockKey,
        quantity: Quantity,
        reason: String,
    },
    /// Extends an active reservation's hold (an order paid and awaiting fulfilment), also one
    /// whose time has passed but that no expiry has ended yet.
    Extend {
        reservation_id: Uuid,
        expires_at: Timestamp,
    },
    Reserve {
        reservation_id: Uuid,
        key: StockKey,
        quantity: Quantity,
        expires_at: Timestamp,
        reference: Option<String>,
    },
    Release {
        reservation_id: Uuid,
    },
    /// Releases a reservation whose time is up (the sweeper's command).
    Expire {
        reservation_id: Uuid,
    },
    /// Turns a reservation into a sale.
    Commit {
        reservation_id: Uuid,
        reference: Option<String>,
    },
    TransferOut {
        transfer_id: Uuid,
        from: StockKey,
        to_location_code: LocationCode,
        quantity: Quantity,
    },
    TransferIn {
        transfer_id: Uuid,
    },
    SetSafetyStock {
        location_code: LocationCode,
        sku_code: SkuCode,
        quantity: i64,
    },
}

impl StockCommand {
    /// The reservation this command acts on, which the caller must load into the view.
    pub fn reservation_ref(&self) -> Option<Uuid> {
        match self {
            Self::Release { reservation_id }
            | Self::Expire { reservation_id }
            | Self::Commit { reservation_id, .. }
            | Self::Extend { reservation_id, .. } => Some(*reservation_id),
            _ => None,
        }
    }
    /// The transfer this command acts on, which the caller must load into the view.
    pub fn transfer_ref(&self) -> Option<Uuid> {
        match self {
            Self::TransferIn { transfer_id } => Some(*transfer_id),
            _ => None,
        }
    }
    /// The (location, SKU) pairs whose balances (all owners) and safety stock the decision
    /// reads, given the reservation or transfer the command refers to.
    pub fn pairs(&self, reservation: Option<&Reservation>, transfer: Option<&Transfer>) -> Vec<(LocationCode, SkuCode)> {
        let mut pairs = match self {
            Self::Receive { key, .. }
            | Self::Adjust { key, .. }
            | Self::Count { key, .. }
            | Self::Sell { key, .. }
            | Self::Return { key, .. }
            | Self::DisposeDamaged { key, .. }
            | Self::Reserve { key, .. } => {
                vec![key.pair()]
            }
            Self::TransferOut { from, .. } => vec![from.pair()],
            Self::SetSafetyStock { location_code, sku_code, .. } => vec![(location_code.clone(), sku_code.clone())],
            Self::Release { .. } | Self::Expire { .. } | Self::Commit { .. } | Self::Extend { .. } | Self::TransferIn { .. } => vec![],
        };
        pairs.extend(reservation.map(|r| r.key.pair()));
        pairs.extend(transfer.map(|t| t.to_key().pair()));
        pairs
    }
}

/// Whether a location in `status` may take part in `cmd` as `location`: holds and till
/// sales only at open locations; receipts, returns and incoming transfers not at closed
/// ones (a planned store may stock up before it opens). Counts, adjustments, releases and
/// outgoing transfers are allowed anywhere, so a closed store can be emptied. A partner's own
/// stock is received only at a store that partner runs (`partner`: the location's); it
/// reaches other locations only as a return taken there or a transfer.
pub fn check_status(
    cmd: &StockCommand,
    location: &LocationCode,
    status: crate::location::LocationStatus,
    partner: Option<&crate::codes::PartnerCode>,
) -> DomainResult<()> {
    use crate::location::LocationStatus as S;
    if let StockCommand::Receive { key, .. } = cmd
        && let crate::codes::Owner::Partner(owner) = &key.owner
        && partner != Some(owner)
    {
        return Err(DomainError::rule(
            "owner_not_at_location",
            format!("{location} is not run by partner {owner}: its stock is received only at its own stores"),
        )
        .at("owner"));
    }
    let needs_open = matches!(cmd, StockCommand::Reserve { .. } | StockCommand::Sell { .. });
    let incoming = match cmd {
        StockCommand::Receive { .. } | StockCommand::Return { .. } => true,
        StockCommand::TransferOut { to_location_code, .. } => to_location_code == location,
        _ => false,
    };
    match status {
        S::Open => Ok(()),
        _ if needs_open => {
            Err(DomainError::rule("location_not_open", format!("{location} is {}: it neither holds nor sells stock", status.as_str())))
        }
        S::Closed if incoming => Err(DomainError::rule("location_closed", format!("{location} is closed: it takes no stock in"))),
        _ => Ok(()),
    }
}

/// The part of the ledger a command touches, loaded by storage before [`decide`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LedgerView {
    /// Balances by key; a missing key is an empty balance.
    pub positions: BTreeMap<StockKey, Position>,
    /// Safety stock by (location, SKU); missing is zero.
    pub safety_stock: BTreeMap<(LocationCode, SkuCode), i64>,
    pub reservations: BTreeMap<Uuid, Reservation>,
    pub transfers: BTreeMap<Uuid, Transfer>,
}

/// Available to promise at one location for one SKU, summed over owners.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Availability {
    pub on_hand: i64,
    pub reserved: i64,
    pub safety_stock: i64,
    /// `max(0, on_hand − reserved − safety_stock)`.
    pub available: i64,
}

impl Availability {
    pub fn new(on_hand: i64, reserved: i64, safety_stock: i64) -> Self {
        Availability { on_hand, reserved, safety_stock, available: (on_hand - reserved - safety_stock).max(0) }
    }
}

impl Availability {
    /// The network's availability: the sum over open locations only (planned and closed
    /// ones hold stock they cannot promise).
    pub fn network<'a>(locations: impl IntoIterator<Item = (crate::location::LocationStatus, &'a Availability)>) -> Availability {
        locations.into_iter().filter(|(s, _)| *s == crate::location::LocationStatus::Open).fold(Availability::default(), |t, (_, a)| {
            Availability {
                on_hand: t.on_hand + a.on_hand,
                reserved: t.reserved + a.reserved,
                safety_stock: t.safety_stock + a.safety_stock,
                available: t.available + a.available,
            }
        })
    }
}

impl LedgerView {
    pub fn position(&self, key: &StockKey) -> Position {
        self.positions.get(key).copied().unwrap_or_default()
    }
    pub fn safety(&self, location: &LocationCode, sku: &SkuCode) -> i64 {
        self.safety_stock.get(&(location.clone(), sku.clone())).copied().unwrap_or(0)
    }
    /// Availability at a location for a SKU, over every owner.
    pub fn availability(&self, location: &LocationCode, sku: &SkuCode) -> Availability {
        let (on_hand, reserved) = self
            .positions
            .iter()
            .filter(|(k, _)| &k.location_code == location && &k.sku_code == sku)
            .fold((0, 0), |(o, r), (_, p)| (o + p.on_hand, r + p.reserved));
        Availability::new(on_hand, reserved, self.safety(location, sku))
    }

    /// Applies a decision (what storage does in SQL, for in-memory models and tests).
    pub fn apply(&mut self, decision: &Decision) {
        for (key, position) in &decision.positions {
            self.positions.insert(key.clone(), *position);
        }
        if let Some(r) = &decision.reservation {
            self.reservations.insert(r.id, r.clone());
        }
        if let Some(t) = &decision.transfer {
            self.transfers.insert(t.id, t.clone());
        }
        if let Some(s) = &decision.safety_stock {
            self.safety_stock.insert((s.location_code.clone(), s.sku_code.clone()), s.quantity);
        }
    }
}

/// A new safety-stock level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SafetyStock {
    pub location_code: LocationCode,
    pub sku_code: SkuCode,
    pub quantity: i64,
}

/// What a command decided: entries to append, balances after them, records to write, and
/// the event type to publish. Storage writes all of it in one transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// The one event this decision publishes (`stock.received`, `stock.reserved`...).
    pub event_type: EventType,
    pub entries: Vec<Entry>,
    /// New balances of every key an entry touched (serialized as flat balance objects).
    #[serde(rename = "balances", serialize_with = "balances")]
    pub positions: Vec<(StockKey, Position)>,
    pub reservation: Option<Reservation>,
    pub transfer: Option<Transfer>,
    pub safety_stock: Option<SafetyStock>,
}

/// A balance as an event consumer reads it: key and position fields side by side.
#[derive(Serialize)]
struct BalanceOut<'a> {
    #[serde(flatten)]
    key: &'a StockKey,
    #[serde(flatten)]
    position: &'a Position,
}

fn balances<S: serde::Serializer>(positions: &[(StockKey, Position)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(positions.iter().map(|(key, position)| BalanceOut { key, position }))
}

/// Decides a command against the state it touches, at `now`.
pub fn decide(cmd: &StockCommand, view: &LedgerView, now: Timestamp) -> DomainResult<Decision> {
    let mut d = Draft::new(view);
    match cmd {
        StockCommand::Receive { key, quantity, reference } => {
            d.entry(EntryKind::Receipt, key, quantity.get(), 0, reference.clone())?;
            d.finish(EventType::StockReceived)
        }
        StockCommand::Adjust { key, delta, reason } => {
            if *delta == 0 || delta.unsigned_abs() > QUANTITY_MAX as u64 {
                return Err(DomainError::invalid(
                    "delta",
                    "invalid_delta",
                    format!("delta must be non-zero and at most {QUANTITY_MAX} either way"),
                ));
            }
            let reason = crate::catalog::check_text("reason", reason, 200)?;
            d.entry(EntryKind::Adjustment, key, *delta, 0, Some(reason))?;
            d.finish(EventType::StockAdjusted)
        }
        StockCommand::Count { key, counted, reference } => {
            if !(0..=QUANTITY_MAX).contains(counted) {
                return Err(DomainError::invalid("counted", "invalid_count", format!("a count is between 0 and {QUANTITY_MAX}")));
            }
            let before = view.position(key);
            if *counted < before.reserved {
                return Err(DomainError::rule(
                    "count_below_reserved",
                    format!("counted {counted} but {} units are reserved: release reservations first", before.reserved),
                ));
            }
            d.entry(EntryKind::Count, key, counted - before.on_hand, 0, reference.clone())?;
            d.finish(EventType::StockCounted)
        }
        StockCommand::Sell { key, quantity, reference } => {
            d.take_unreserved(key, *quantity)?;
            d.entry(EntryKind::Sale, key, -quantity.get(), 0, reference.clone())?;
            d.finish(EventType::StockSold)
        }
        StockCommand::Return { key, quantity, reference, damaged: false } => {
            d.entry(EntryKind::Return, key, quantity.get(), 0, reference.clone())?;
            d.finish(EventType::StockReturned)
        }
        StockCommand::Return { key, quantity, reference, damaged: true } => {
            d.damaged(EntryKind::Return, key, quantity.get(), reference.clone())?;
            d.finish(EventType::StockReturnedDamaged)
        }
        StockCommand::DisposeDamaged { key, quantity, reason } => {
            let reason = crate::catalog::check_text("reason", reason, 200)?;
            let held = d.current(key).damaged;
            if quantity.get() > held {
                return Err(DomainError::rule(
                    "insufficient_damaged_stock",
                    format!("{} damaged units held at {}, {} to dispose", held, key.location_code, quantity.get()),
                ));
            }
            d.damaged(EntryKind::Disposal, key, -quantity.get(), Some(reason))?;
            d.finish(EventType::StockDamagedDisposed)
        }
        StockCommand::Extend { reservation_id, expires_at } => {
            let r = view
                .reservations
                .get(reservation_id)
                .ok_or_else(|| DomainError::not_found("reservation_not_found", format!("no reservation {reservation_id}")))?;
            // An active hold whose time has passed but which no expiry has ended still holds its
            // units (they count as reserved), so it may be kept: that is how a paid order's hold
            // is renewed. An expired, released or committed one cannot come back.
            if r.status != ReservationStatus::Active {
                return Err(DomainError::conflict("reservation_not_active", format!("reservation {reservation_id} is no longer held")));
            }
            if *expires_at <= r.expires_at || expires_at.as_second() - now.as_second() > RESERVATION_EXTENSION_SECONDS_MAX {
                return Err(DomainError::invalid(
                    "expires_at",
                    "invalid_expiry",
                    "an extension moves the expiry later, at most 90 days ahead",
                ));
            }
            d.entry_for(EntryKind::Extension, &r.key, 0, 0, Some(*reservation_id), None, Some(format!("held until {expires_at}")))?;
            d.reservation = Some(Reservation { expires_at: *expires_at, ..r.clone() });
            d.finish(EventType::StockReservationExtended)
        }
        StockCommand::Reserve { reservation_id, key, quantity, expires_at, reference } => {
            if *expires_at <= now || expires_at.as_second() - now.as_second() > RESERVATION_TTL_SECONDS_MAX {
                return Err(DomainError::invalid(
                    "ttl_seconds",
                    "invalid_expiry",
                    format!("a reservation expires in 1 s to {RESERVATION_TTL_SECONDS_MAX} s"),
                ));
            }
            if view.reservations.contains_key(reservation_id) {
                return Err(DomainError::conflict("duplicate_id", "reservation id already used"));
            }
            d.take_unreserved(key, *quantity)?;
            let atp = view.availability(&key.location_code, &key.sku_code).available;
            if quantity.get() > atp {
                return Err(insufficient(key, *quantity, atp));
            }
            d.entry_for(EntryKind::Reservation, key, 0, quantity.get(), Some(*reservation_id), None, reference.clone())?;
            d.reservation = Some(Reservation {
                id: *reservation_id,
                key: key.clone(),
                quantity: *quantity,
                expires_at: *expires_at,
                status: ReservationStatus::Active,
                reference: reference.clone(),
            });
            d.finish(EventType::StockReserved)
        }
        StockCommand::Release { reservation_id } => close_reservation(d, view, *reservation_id, ReservationStatus::Released, now, None),
        StockCommand::Expire { reservation_id } => close_reservation(d, view, *reservation_id, ReservationStatus::Expired, now, None),
        StockCommand::Commit { reservation_id, reference } => {
            close_reservation(d, view, *reservation_id, ReservationStatus::Committed, now, reference.clone())
        }
        StockCommand::TransferOut { transfer_id, from, to_location_code, quantity } => {
            if &from.location_code == to_location_code {
                return Err(DomainError::invalid("to_location_code", "transfer_to_same_location", "a transfer goes to another location"));
            }
            if view.transfers.contains_key(transfer_id) {
                return Err(DomainError::conflict("duplicate_id", "transfer id already used"));
            }
            d.take_unreserved(from, *quantity)?;
            d.entry_for(
                EntryKind::TransferOut,
                from,
                -quantity.get(),
                0,
                None,
                Some(*transfer_id),
                Some(format!("to {to_location_code}")),
            )?;
            d.transfer = Some(Transfer {
                id: *transfer_id,
                from: from.clone(),
                to_location_code: to_location_code.clone(),
                quantity: *quantity,
                status: TransferStatus::InTransit,
            });
            d.finish(EventType::StockTransferShipped)
        }
        StockCommand::TransferIn { transfer_id } => {
            let t = view
                .transfers
                .get(transfer_id)
                .ok_or_else(|| DomainError::not_found("transfer_not_found", format!("no transfer {transfer_id}")))?;
            if t.status != TransferStatus::InTransit {
                return Err(DomainError::conflict("transfer_already_received", format!("transfer {transfer_id} was already received")));
            }
            let to = t.to_key();
            d.entry_for(
                EntryKind::TransferIn,
                &to,
                t.quantity.get(),
                0,
                None,
                Some(*transfer_id),
                Some(format!("from {}", t.from.location_code)),
            )?;
            d.transfer = Some(Transfer { status: TransferStatus::Received, ..t.clone() });
            d.finish(EventType::StockTransferReceived)
        }
        StockCommand::SetSafetyStock { location_code, sku_code, quantity } => {
            if !(0..=QUANTITY_MAX).contains(quantity) {
                return Err(DomainError::invalid(
                    "quantity",
                    "invalid_safety_stock",
                    format!("safety stock is between 0 and {QUANTITY_MAX}"),
                ));
            }
            d.safety_stock = Some(SafetyStock { location_code: location_code.clone(), sku_code: sku_code.clone(), quantity: *quantity });
            d.finish(EventType::StockSafetyStockSet)
        }
    }
}

fn close_reservation(
    mut d: Draft<'_>,
    view: &LedgerView,
    id: Uuid,
    to: ReservationStatus,
    now: Timestamp,
    reference: Option<String>,
) -> DomainResult<Decision> {
    let r = view.reservations.get(&id).ok_or_else(|| DomainError::not_found("reservation_not_found", format!("no reservation {id}")))?;
    if r.status != ReservationStatus::Active {
        return Err(DomainError::conflict("reservation_not_active", format!("reservation {id} is already {}", r.status.as_str())));
    }
    let q = r.quantity.get();
    let (kind, on_hand_delta, event) = match to {
        ReservationStatus::Released => (EntryKind::Release, 0, EventType::StockReleased),
        ReservationStatus::Expired => {
            if now < r.expires_at {
                return Err(DomainError::conflict("reservation_not_expired", format!("reservation {id} runs until {}", r.expires_at)));
            }
            (EntryKind::Expiry, 0, EventType::StockReservationExpired)
        }
        ReservationStatus::Committed => {
            if now >= r.expires_at {
                return Err(DomainError::conflict("reservation_expired", format!("reservation {id} expired at {}", r.expires_at)));
            }
            (EntryKind::Commit, -q, EventType::StockCommitted)
        }
        ReservationStatus::Active => unreachable!("a reservation is never closed into active"),
    };
    d.entry_for(kind, &r.key, on_hand_delta, -q, Some(id), None, reference.or_else(|| r.reference.clone()))?;
    d.reservation = Some(Reservation { status: to, ..r.clone() });
    d.finish(event)
}

/// A reference: at most 200 characters, no control characters.
fn check_reference(r: &str) -> DomainResult<()> {
    if r.chars().count() > 200 {
        return Err(DomainError::invalid("reference", "too_long", "reference must be at most 200 characters"));
    }
    if r.chars().any(char::is_control) {
        return Err(DomainError::invalid("reference", "invalid_text", "reference must not contain control characters"));
    }
    Ok(())
}

fn insufficient(key: &StockKey, wanted: Quantity, available: i64) -> DomainError {
    DomainError::rule(
        "insufficient_stock",
        format!(
            "{} of {} wanted at {} (owner {}), {} available",
            wanted.get(),
            key.sku_code,
            key.location_code,
            key.owner,
            available.max(0)
        ),
    )
}

/// Builds a decision, keeping the running balance of every key it touches.
struct Draft<'v> {
    view: &'v LedgerView,
    entries: Vec<Entry>,
    positions: BTreeMap<StockKey, Position>,
    reservation: Option<Reservation>,
    transfer: Option<Transfer>,
    safety_stock: Option<SafetyStock>,
}

impl<'v> Draft<'v> {
    fn new(view: &'v LedgerView) -> Self {
        Draft { view, entries: vec![], positions: BTreeMap::new(), reservation: None, transfer: None, safety_stock: None }
    }
    fn current(&self, key: &StockKey) -> Position {
        self.positions.get(key).copied().unwrap_or_else(|| self.view.position(key))
    }
    /// Refuses when fewer than `quantity` unreserved units of this owner are on hand.
    fn take_unreserved(&self, key: &StockKey, quantity: Quantity) -> DomainResult<()> {
        let free = self.current(key).unreserved();
        if quantity.get() > free { Err(insufficient(key, quantity, free)) } else { Ok(()) }
    }
    fn entry(
        &mut self,
        kind: EntryKind,
        key: &StockKey,
        on_hand_delta: i64,
        reserved_delta: i64,
        reference: Option<String>,
    ) -> DomainResult<()> {
        self.entry_for(kind, key, on_hand_delta, reserved_delta, None, None, reference)
    }
    #[allow(clippy::too_many_arguments)]
    fn entry_for(
        &mut self,
        kind: EntryKind,
        key: &StockKey,
        on_hand_delta: i64,
        reserved_delta: i64,
        reservation_id: Option<Uuid>,
        transfer_id: Option<Uuid>,
        reference: Option<String>,
    ) -> DomainResult<()> {
        let before = self.current(key);
        let after =
            Position { on_hand: before.on_hand + on_hand_delta, reserved: before.reserved + reserved_delta, damaged: before.damaged };
        if !after.is_valid() {
            return Err(DomainError::rule(
                if after.on_hand < 0 { "negative_stock" } else { "reserved_exceeds_on_hand" },
                format!(
                    "{} at {} (owner {}) would go to on hand {}, reserved {}",
                    key.sku_code, key.location_code, key.owner, after.on_hand, after.reserved
                ),
            ));
        }
        let entry =
            Entry { kind, key: key.clone(), on_hand_delta, reserved_delta, damaged_delta: 0, reservation_id, transfer_id, reference };
        self.record(entry, after)
    }
    /// An entry that changes only the damaged balance.
    fn damaged(&mut self, kind: EntryKind, key: &StockKey, damaged_delta: i64, reference: Option<String>) -> DomainResult<()> {
        let before = self.current(key);
        let after = Position { damaged: before.damaged + damaged_delta, ..before };
        if !after.is_valid() {
            return Err(DomainError::rule(
                "negative_stock",
                format!("{} damaged at {} would go to {}", key.sku_code, key.location_code, after.damaged),
            ));
        }
        let entry = Entry {
            kind,
            key: key.clone(),
            on_hand_delta: 0,
            reserved_delta: 0,
            damaged_delta,
            reservation_id: None,
            transfer_id: None,
            reference,
        };
        self.record(entry, after)
    }
    /// Appends an entry whose balance after is `after`.
    fn record(&mut self, entry: Entry, after: Position) -> DomainResult<()> {
        if let Some(r) = &entry.reference {
            check_reference(r)?;
        }
        self.positions.insert(entry.key.clone(), after);
        self.entries.push(entry);
        Ok(())
    }
    fn finish(self, event_type: EventType) -> DomainResult<Decision> {
        debug_assert!(self.positions.values().all(Position::is_valid));
        Ok(Decision {
            event_type,
            entries: self.entries,
            positions: self.positions.into_iter().collect(),
            reservation: self.reservation,
            transfer: self.transfer,
            safety_stock: self.safety_stock,
        })
    }
}

#[cfg(test)]
mod tests;

//! Who may do what. A [`Principal`] is the person or machine behind a request, with one
//! [`Role`] and the stores or partner that role is bound to; every route names a [`Gate`]
//! (who may call it at all), and handlers ask the principal about the one resource in hand
//! ([`Principal::may_act_at`], [`Principal::may_read_at`], [`Principal::may_see_member`]).
//! The rules of passwords, logins and tokens live here too, so tests see them.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::codes::{LocationCode, PartnerCode};
use crate::customer::Mobile;
use crate::error::{DomainError, DomainResult};
use crate::payments::{COUNTER_METHODS, is_counter};

/// What a principal is. Each role has exactly its own rights; `hq_admin` has all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Headquarters administrator: everything, accounts included.
    HqAdmin,
    /// Headquarters pricing: the only role besides `hq_admin` that schedules prices.
    Pricing,
    /// Headquarters merchandising: catalogue, stock receipts and transfers network-wide.
    Merchandiser,
    /// A store's staff, bound to one or more stores: sells, takes returns, hands over
    /// pickups, receives and counts stock only there.
    StoreStaff,
    /// A partner that runs stores: reads its stores' stock, sales and orders, changes nothing.
    Partner,
    /// A member, by mobile: own orders, own points.
    Customer,
}

impl Role {
    /// Every role, in the order the docs list them.
    pub const ALL: [Role; 6] = [Role::HqAdmin, Role::Pricing, Role::Merchandiser, Role::StoreStaff, Role::Partner, Role::Customer];
    /// Roles held by staff accounts (a customer signs in with a code, not a password).
    pub const STAFF: [Role; 5] = [Role::HqAdmin, Role::Pricing, Role::Merchandiser, Role::StoreStaff, Role::Partner];
    /// The roles of headquarters, which see the whole network.
    pub const HQ: [Role; 3] = [Role::HqAdmin, Role::Pricing, Role::Merchandiser];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::HqAdmin => "hq_admin",
            Role::Pricing => "pricing",
            Role::Merchandiser => "merchandiser",
            Role::StoreStaff => "store_staff",
            Role::Partner => "partner",
            Role::Customer => "customer",
        }
    }
    pub fn parse(raw: &str) -> DomainResult<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == raw).ok_or_else(|| {
            let names: Vec<_> = Role::ALL.iter().map(|r| r.as_str()).collect();
            DomainError::invalid("role", "invalid_role", format!("'{raw}' is not a role: one of {}", names.join(", ")))
        })
    }
    pub fn is_hq(self) -> bool {
        Role::HQ.contains(&self)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a staff account's role is bound to: `store_staff` to stores, `partner` to a partner,
/// headquarters roles to nothing. Built only consistent with its role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    role: Role,
    stores: Vec<LocationCode>,
    partner: Option<PartnerCode>,
}

/// Most stores one account may be bound to.
pub const STORES_PER_ACCOUNT_MAX: usize = 200;

impl Binding {
    /// Checks that `role` has what it needs and nothing it must not have: store staff one to
    /// [`STORES_PER_ACCOUNT_MAX`] stores, a partner its partner, others neither.
    pub fn new(role: Role, mut stores: Vec<LocationCode>, partner: Option<PartnerCode>) -> DomainResult<Binding> {
        stores.sort();
        stores.dedup();
        match role {
            Role::StoreStaff if stores.is_empty() => {
                return Err(DomainError::invalid("stores", "stores_required", "store_staff is bound to at least one store"));
            }
            Role::StoreStaff if stores.len() > STORES_PER_ACCOUNT_MAX => {
                return Err(DomainError::invalid(
                    "stores",
                    "too_many_stores",
                    format!("an account is bound to at most {STORES_PER_ACCOUNT_MAX} stores"),
                ));
            }
            Role::StoreStaff => {}
            _ if !stores.is_empty() => {
                return Err(DomainError::invalid("stores", "stores_not_allowed", format!("{role} is not bound to stores")));
            }
            _ => {}
        }
        match (role, &partner) {
            (Role::Partner, None) => Err(DomainError::invalid("partner_code", "partner_required", "a partner account names its partner")),
            (Role::Partner, Some(_)) | (_, None) => Ok(Binding { role, stores, partner }),
            (_, Some(_)) => Err(DomainError::invalid("partner_code", "partner_not_allowed", format!("{role} is not bound to a partner"))),
        }
    }
    pub fn role(&self) -> Role {
        self.role
    }
    pub fn stores(&self) -> &[LocationCode] {
        &self.stores
    }
    pub fn partner(&self) -> Option<&PartnerCode> {
        self.partner.as_ref()
    }
}

/// What a token may do: everything its account may (`full`), or only read (`read`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenScope {
    Full,
    Read,
}

impl TokenScope {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Full => "full",
            TokenScope::Read => "read",
        }
    }
    pub fn parse(raw: &str) -> DomainResult<TokenScope> {
        match raw {
            "full" => Ok(TokenScope::Full),
            "read" => Ok(TokenScope::Read),
            _ => Err(DomainError::invalid("scope", "invalid_token_scope", format!("'{raw}' is not a token scope: full or read"))),
        }
    }
}

/// The person or machine behind a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// `account:<username>` or `member:<mobile>`: stable, unique, what the audit trail and
    /// idempotency keys are scoped by.
    pub id: String,
    /// The username, or the member's masked mobile.
    pub name: String,
    pub binding: Binding,
    /// The member's mobile, for a customer.
    pub mobile: Option<Mobile>,
    /// A read-only token: every mutation is refused.
    pub read_only: bool,
}

/// Why a request is refused before it does anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// No credentials, or credentials that are not (or no longer) valid: 401.
    Unauthenticated,
    /// A known principal whose role may not call the route at all: 403 `forbidden`.
    Forbidden(String),
    /// A role that may call the route, but not about this resource (another store's stock,
    /// another member's orders): 403 `outside_scope`.
    OutsideScope(String),
}

impl Denied {
    pub fn into_error(self) -> DomainError {
        match self {
            Denied::Unauthenticated => DomainError {
                kind: crate::ErrorKind::Unauthenticated,
                code: "unauthenticated",
                message: "sign in (a session cookie) or send an API token (Authorization: Bearer …)".into(),
                field: None,
            },
            Denied::Forbidden(why) => DomainError { kind: crate::ErrorKind::Forbidden, code: "forbidden", message: why, field: None },
            Denied::OutsideScope(why) => {
                DomainError { kind: crate::ErrorKind::Forbidden, code: "outside_scope", message: why, field: None }
            }
        }
    }
}

/// Who may call a route at all (the resource in hand is checked after, by the handler).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Anyone, signed in or not.
    Public,
    /// A principal holding one of these roles.
    Roles(&'static [Role]),
}

/// Decides whether `who` may pass `gate`; `mutation` says whether the request changes
/// anything (a read-only token is refused every mutation).
pub fn admit(who: Option<&Principal>, gate: Gate, mutation: bool) -> Result<(), Denied> {
    let Gate::Roles(roles) = gate else { return Ok(()) };
    let who = who.ok_or(Denied::Unauthenticated)?;
    if !roles.contains(&who.binding.role) {
        let names: Vec<_> = roles.iter().map(|r| r.as_str()).collect();
        return Err(Denied::Forbidden(format!("{} may not do this: it needs {}", who.binding.role, names.join(" or "))));
    }
    if mutation && who.read_only {
        return Err(Denied::Forbidden("this token is read-only".into()));
    }
    Ok(())
}

impl Principal {
    pub fn role(&self) -> Role {
        self.binding.role
    }
    /// May work stock and sales at `location` (sell, receive, count, hand over, take a
    /// return there): headquarters administration and merchandising everywhere, store staff
    /// at their own stores.
    pub fn may_act_at(&self, location: &LocationCode) -> bool {
        match self.binding.role {
            Role::HqAdmin | Role::Merchandiser => true,
            Role::StoreStaff => self.binding.stores.contains(location),
            Role::Pricing | Role::Partner | Role::Customer => false,
        }
    }
    /// Refuses unless [`Principal::may_act_at`].
    pub fn act_at(&self, location: &LocationCode) -> Result<(), Denied> {
        if self.may_act_at(location) {
            Ok(())
        } else {
            Err(Denied::OutsideScope(format!("{} may not act at {location}: {}", self.name, self.where_it_acts())))
        }
    }
    fn where_it_acts(&self) -> String {
        match self.binding.role {
            Role::StoreStaff => {
                let stores: Vec<_> = self.binding.stores.iter().map(|s| s.as_str()).collect();
                format!("it works at {}", stores.join(", "))
            }
            role => format!("{role} does not work stock at a location"),
        }
    }
    /// May read stock, sales and orders of `location`, which belongs to `partner` (if any):
    /// headquarters everywhere, store staff at their stores, a partner at its own stores.
    pub fn may_read_at(&self, location: &LocationCode, partner: Option<&PartnerCode>) -> bool {
        match self.binding.role {
            Role::HqAdmin | Role::Pricing | Role::Merchandiser => true,
            Role::StoreStaff => self.binding.stores.contains(location),
            Role::Partner => partner.is_some() && partner == self.binding.partner.as_ref(),
            Role::Customer => false,
        }
    }
    /// May read a member's orders and points: the member, headquarters administration, and
    /// store staff (serving the member at the till).
    pub fn may_see_member(&self, mobile: &Mobile) -> bool {
        match self.binding.role {
            Role::HqAdmin | Role::StoreStaff => true,
            Role::Customer => self.mobile.as_ref() == Some(mobile),
            Role::Pricing | Role::Merchandiser | Role::Partner => false,
        }
    }
    /// May see full mobiles, delivery coordinates and payment references of orders it may
    /// read: `hq_admin`, store staff and the member; not pricing or merchandising (their work
    /// needs no shopper's number), nor partners (they see their stores' sales, masked).
    pub fn sees_personal_data(&self) -> bool {
        matches!(self.binding.role, Role::HqAdmin | Role::StoreStaff | Role::Customer)
    }
}

/// What a principal's order list is narrowed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderListScope {
    /// Every order the filter matches (headquarters).
    Any,
    /// Only this member's orders.
    Member(Mobile),
    /// Only orders at the stores the filter names — each one the caller must be allowed to
    /// read — or, when it names none, at this default store (a till of one store).
    Named(Option<LocationCode>),
}

impl Principal {
    /// How this principal's list of orders is narrowed, given the member and stores the
    /// filter names: a member lists only their own; store staff and partners list a store
    /// of theirs they name (store staff of one store may leave it out); headquarters any.
    pub fn order_list(&self, member: Option<&Mobile>, names_a_store: bool) -> Result<OrderListScope, Denied> {
        if member.is_some() && !self.sees_personal_data() {
            // A yes-or-no answer per number would unmask the masked mobiles it is shown.
            return Err(Denied::OutsideScope("orders are not searched by mobile without the right to see mobiles".into()));
        }
        match self.binding.role {
            Role::Customer => match (&self.mobile, member) {
                (Some(me), None) => Ok(OrderListScope::Member(me.clone())),
                (Some(me), Some(asked)) if me == asked => Ok(OrderListScope::Member(me.clone())),
                _ => Err(Denied::OutsideScope("a member lists only their own orders".into())),
            },
            Role::StoreStaff | Role::Partner if names_a_store => Ok(OrderListScope::Named(None)),
            Role::StoreStaff | Role::Partner => match self.binding.stores() {
                [only] => Ok(OrderListScope::Named(Some(only.clone()))),
                _ => Err(Denied::OutsideScope("name one of your stores: store_code or pickup_store_code".into())),
            },
            _ => Ok(OrderListScope::Any),
        }
    }
}

/// Refuses a change that would leave no enabled `hq_admin` (who else would make accounts?):
/// `was` and `stays` say whether the account is an enabled `hq_admin` before and after,
/// `others` how many other enabled `hq_admin` accounts there are.
pub fn check_admins_remain(was: bool, stays: bool, others: i64) -> DomainResult<()> {
    if was && !stays && others == 0 {
        return Err(DomainError::conflict(
            "last_admin",
            "this is the last enabled hq_admin account: make or enable another before demoting or disabling it",
        ));
    }
    Ok(())
}

/// How much of an event a subscriber sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sight {
    Hidden,
    /// Without personal data: mobiles masked, coordinates and payment references left out.
    Masked,
    Full,
}

impl Principal {
    /// What this principal sees of an event for `audience`; `own` says whether the event
    /// names one of the principal's locations (its stores; a partner's stores). Headquarters
    /// sees every event; catalogue, price and network events are for everyone; stock and
    /// orders for the staff (in full) and the partner (masked) of the locations they touch.
    pub fn event_sight(&self, audience: crate::events::Audience, own: bool) -> Sight {
        let full_or_masked = if self.sees_personal_data() { Sight::Full } else { Sight::Masked };
        match (self.binding.role, audience) {
            (r, _) if r.is_hq() => full_or_masked,
            (Role::Customer, _) => Sight::Hidden,
            (_, crate::events::Audience::Everyone) => Sight::Full,
            (Role::StoreStaff | Role::Partner, crate::events::Audience::Locations) if own => full_or_masked,
            _ => Sight::Hidden,
        }
    }
}

/// The places and the member an order touches: the store it was placed at, its pickup store
/// and the locations its stock is held at, each with its partner (if partner-run).
#[derive(Debug, Clone, Default)]
pub struct OrderPlaces {
    pub customer: Option<Mobile>,
    pub locations: Vec<(LocationCode, Option<PartnerCode>)>,
    /// Where the order is served face to face: the store it was placed at, its pickup store.
    pub counters: Vec<LocationCode>,
}

/// What a principal may do with one order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum OrderAccess {
    /// Not even know it exists (404).
    Hidden,
    /// See it (a partner its stores' orders, pricing every order).
    Read,
    /// See it and move it on, as far as the route's gate lets the role.
    Work,
}

impl Principal {
    /// What this principal may do with an order touching `places`: headquarters
    /// administration and merchandising work every order, pricing reads every order, store
    /// staff work orders touching their stores, a partner reads orders touching its stores,
    /// a member works their own.
    pub fn order_access(&self, places: &OrderPlaces) -> OrderAccess {
        let touches = |ok: &dyn Fn(&LocationCode, Option<&PartnerCode>) -> bool| places.locations.iter().any(|(l, p)| ok(l, p.as_ref()));
        let granted = match self.binding.role {
            Role::HqAdmin | Role::Merchandiser => return OrderAccess::Work,
            Role::Pricing => return OrderAccess::Read,
            Role::StoreStaff => touches(&|l, _| self.binding.stores.contains(l)),
            Role::Partner => touches(&|_, p| p.is_some() && p == self.binding.partner.as_ref()),
            Role::Customer => places.customer.is_some() && places.customer == self.mobile,
        };
        match (granted, self.binding.role) {
            (false, _) => OrderAccess::Hidden,
            (true, Role::Partner) => OrderAccess::Read,
            (true, _) => OrderAccess::Work,
        }
    }

    /// Whether store staff serve this order at one of their counters (its store or pickup
    /// store), not merely ship it from their stock.
    fn at_counter(&self, places: &OrderPlaces) -> bool {
        self.binding.role == Role::StoreStaff && places.counters.iter().any(|c| self.binding.stores.contains(c))
    }

    /// Whether this principal may record a payment of `method` for the order: only a till,
    /// only cash or card, only at the order's own counter. Nobody records an online payment:
    /// it arrives as its provider's signed notification ([`crate::payments`]).
    pub fn may_record_payment(&self, places: &OrderPlaces, method: &str) -> Result<(), Denied> {
        match self.binding.role {
            Role::StoreStaff if !self.at_counter(places) => {
                Err(Denied::OutsideScope("payments are taken at the order's store or pickup store".into()))
            }
            _ if !is_counter(method) => Err(Denied::OutsideScope(format!(
                "a till records {} payments; {method} arrives from its provider as a signed notification",
                COUNTER_METHODS.join(" or ")
            ))),
            Role::StoreStaff => Ok(()),
            _ => Err(Denied::Forbidden("payments are taken at a till or confirmed by their provider".into())),
        }
    }

    /// Whether this principal may cancel the order: its member, headquarters administration,
    /// or staff at its counter.
    pub fn may_cancel(&self, places: &OrderPlaces) -> Result<(), Denied> {
        let own = self.binding.role == Role::Customer && places.customer.is_some() && places.customer == self.mobile;
        if self.binding.role == Role::HqAdmin || own || self.at_counter(places) {
            Ok(())
        } else {
            Err(Denied::OutsideScope("an order is cancelled by its member or at its store".into()))
        }
    }

    /// Whether this principal may place an order at `store` (None: online) for `customer`,
    /// redeeming `redeem_points`; `code_given` says the member's one-time code came with the
    /// order (and was checked). Store staff sell at their own stores; a member orders online
    /// for themself; a member's points are spent only from the member's own session or with
    /// the code sent to their mobile (at a till).
    pub fn may_place(
        &self,
        store: Option<&LocationCode>,
        customer: Option<&Mobile>,
        redeem_points: i64,
        code_given: bool,
    ) -> Result<(), Denied> {
        let refuse = |why: &str| Err(Denied::OutsideScope(why.to_owned()));
        match self.binding.role {
            Role::StoreStaff => match store {
                Some(s) if self.binding.stores.contains(s) => {}
                Some(s) => return refuse(&format!("{} does not work at {s}", self.name)),
                None => return refuse("store staff place orders at their own store: give store_code"),
            },
            Role::Customer if store.is_some() => return refuse("a member orders online; in a store, the clerk places the order"),
            Role::Customer if customer.is_some() && customer != self.mobile.as_ref() => {
                return refuse("a member orders for their own mobile only");
            }
            _ => {}
        }
        let members_own = self.binding.role == Role::Customer && self.mobile.is_some();
        if redeem_points > 0 && !members_own && !code_given {
            return refuse(
                "only the member may spend their points: from their own session (at a till, with the code sent to their mobile)",
            );
        }
        Ok(())
    }
}

/// Whether someone not signed in may place an order: a guest shops online only (delivered,
/// or collected at a store), gives a mobile to follow the order by, and spends no points —
/// only a member's own session, or a code texted to them, spends points.
pub fn guest_may_place(store: Option<&LocationCode>, has_mobile: bool, redeem_points: i64) -> Result<(), Denied> {
    if store.is_some() {
        return Err(Denied::Unauthenticated);
    }
    if !has_mobile {
        return Err(Denied::OutsideScope("a guest order needs a mobile number to follow it by".into()));
    }
    if redeem_points > 0 {
        return Err(Denied::OutsideScope("only the member may spend their points: sign in first".into()));
    }
    Ok(())
}

/// Usernames: 3–64 lower-case letters, digits, `.`, `-`, `_`, starting with a letter.
pub fn check_username(raw: &str) -> DomainResult<()> {
    let ok = (3..=64).contains(&raw.len())
        && raw.starts_with(|c: char| c.is_ascii_lowercase())
        && raw.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_'));
    if ok {
        Ok(())
    } else {
        Err(DomainError::invalid(
            "username",
            "invalid_username",
            "a username is 3-64 lower-case letters, digits, '.', '-' or '_', starting with a letter",
        ))
    }
}

/// Shortest and longest password accepted, in characters.
pub const PASSWORD_CHARS: std::ops::RangeInclusive<usize> = 10..=128;

/// A password must be 10–128 characters and not all one character.
pub fn check_password(raw: &str) -> DomainResult<()> {
    let n = raw.chars().count();
    if !PASSWORD_CHARS.contains(&n) {
        return Err(DomainError::invalid(
            "password",
            "weak_password",
            format!("a password is {}-{} characters", PASSWORD_CHARS.start(), PASSWORD_CHARS.end()),
        ));
    }
    let first = raw.chars().next();
    if raw.chars().all(|c| Some(c) == first) {
        return Err(DomainError::invalid("password", "weak_password", "a password is not one character repeated"));
    }
    Ok(())
}

/// How many failed sign-ins within [`LOGIN_WINDOW_SECS`] lock an account, and an address.
pub const LOGIN_FAILURES_PER_ACCOUNT: i64 = 5;
pub const LOGIN_FAILURES_PER_ADDRESS: i64 = 20;
/// The window failed sign-ins are counted over, in seconds.
pub const LOGIN_WINDOW_SECS: i64 = 15 * 60;

/// Whether a sign-in may be tried, given the failures of its account and of its address in
/// the window: `Err(seconds)` to wait when either has reached its limit.
pub fn sign_in_allowed(account_failures: i64, address_failures: i64) -> Result<(), i64> {
    if account_failures >= LOGIN_FAILURES_PER_ACCOUNT || address_failures >= LOGIN_FAILURES_PER_ADDRESS {
        Err(LOGIN_WINDOW_SECS)
    } else {
        Ok(())
    }
}

/// How long a session lasts, in seconds: a working day (a shift and its overtime).
pub const SESSION_SECS: i64 = 12 * 3600;
/// Longest life of an API token, in days.
pub const TOKEN_DAYS_MAX: i64 = 366;

/// Checks a token's requested life in days: 1 to [`TOKEN_DAYS_MAX`].
pub fn check_token_days(days: i64) -> DomainResult<()> {
    if (1..=TOKEN_DAYS_MAX).contains(&days) {
        Ok(())
    } else {
        Err(DomainError::invalid("expires_in_days", "invalid_token_life", format!("a token lives 1-{TOKEN_DAYS_MAX} days")))
    }
}

/// A member's one-time code: six digits, sent to their mobile, good for
/// [`MEMBER_CODE_SECS`] and [`MEMBER_CODE_TRIES`] tries, one at a time.
pub const MEMBER_CODE_SECS: i64 = 5 * 60;
pub const MEMBER_CODE_TRIES: i64 = 5;
/// A new code for the same mobile is sent at most once per this many seconds.
pub const MEMBER_CODE_RESEND_SECS: i64 = 60;

/// Codes sent to any mobiles from one address, and wrong codes given from it, within
/// [`LOGIN_WINDOW_SECS`]: past either, that address waits (no one sprays texts or guesses).
pub const MEMBER_CODES_PER_ADDRESS: i64 = 10;
pub const MEMBER_CODE_FAILURES_PER_ADDRESS: i64 = 20;

/// Orders placed by guests (no session) from one address within [`LOGIN_WINDOW_SECS`]:
/// each holds stock until it is paid or its hold runs out, so past this many the address
/// waits (no one empties a store's shelf with unpaid guest orders).
pub const GUEST_ORDERS_PER_ADDRESS: i64 = 20;

/// Lookups of one order by its id with a mobile that is not its shopper's, within
/// [`LOGIN_WINDOW_SECS`]: past these the order is not shown to anyone for the window, so a
/// masked mobile (`138****8000`) cannot be completed by trying its four hidden digits.
pub const ORDER_LOOKUP_MISSES_MAX: i64 = 5;

/// Whether one more request may be made after `count` within a limit of `limit`.
pub fn within_limit(count: i64, limit: i64) -> bool {
    count < limit
}

/// A code sent and not yet used, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentCode {
    pub sent_at_us: i64,
    pub expires_at_us: i64,
    pub tries: i64,
}

/// Whether a new code may be sent now (`Err(seconds)` to wait): not within
/// [`MEMBER_CODE_RESEND_SECS`] of the last one.
pub fn may_send_code(last: Option<&SentCode>, now_us: i64) -> Result<(), i64> {
    match last {
        Some(c) if now_us - c.sent_at_us < MEMBER_CODE_RESEND_SECS * 1_000_000 => {
            Err(MEMBER_CODE_RESEND_SECS - (now_us - c.sent_at_us) / 1_000_000)
        }
        _ => Ok(()),
    }
}

/// Why a code given is not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeRefusal {
    /// No code was sent, it expired, or it was used up: ask for a new one.
    NoLiveCode,
    /// Not the code sent.
    Wrong,
}

/// Checks a code given against the one sent: `matches` says whether it is the same code.
pub fn check_code(sent: Option<&SentCode>, matches: bool, now_us: i64) -> Result<(), CodeRefusal> {
    if !sent.is_some_and(|c| c.expires_at_us > now_us && c.tries < MEMBER_CODE_TRIES) {
        return Err(CodeRefusal::NoLiveCode);
    }
    if matches { Ok(()) } else { Err(CodeRefusal::Wrong) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guest_orders_online_with_a_mobile_and_spends_no_points() {
        assert!(guest_may_place(None, true, 0).is_ok());
        assert_eq!(guest_may_place(Some(&LocationCode::parse("D-1").unwrap()), true, 0), Err(Denied::Unauthenticated));
        assert!(matches!(guest_may_place(None, false, 0), Err(Denied::OutsideScope(_))));
        assert!(matches!(guest_may_place(None, true, 10), Err(Denied::OutsideScope(_))));
    }

    fn principal(role: Role, stores: &[&str], partner: Option<&str>) -> Principal {
        let stores = stores.iter().map(|s| LocationCode::parse(s).unwrap()).collect();
        let partner = partner.map(|p| PartnerCode::parse(p).unwrap());
        Principal {
            id: "account:x".into(),
            name: "x".into(),
            binding: Binding::new(role, stores, partner).unwrap(),
            mobile: None,
            read_only: false,
        }
    }

    #[test]
    fn bindings_follow_their_role() {
        let d1 = || vec![LocationCode::parse("D-1").unwrap()];
        let p = || Some(PartnerCode::parse("P-ZJ").unwrap());
        assert!(Binding::new(Role::StoreStaff, vec![], None).is_err());
        assert!(Binding::new(Role::StoreStaff, d1(), None).is_ok());
        assert!(Binding::new(Role::StoreStaff, d1(), p()).is_err());
        assert!(Binding::new(Role::Partner, vec![], None).is_err());
        assert!(Binding::new(Role::Partner, vec![], p()).is_ok());
        assert!(Binding::new(Role::Pricing, d1(), None).is_err());
        assert!(Binding::new(Role::HqAdmin, vec![], None).is_ok());
    }

    #[test]
    fn gates_refuse_strangers_with_401_and_the_wrong_role_with_403() {
        let roles: &'static [Role] = &[Role::Pricing];
        assert_eq!(admit(None, Gate::Public, true), Ok(()));
        assert_eq!(admit(None, Gate::Roles(roles), false), Err(Denied::Unauthenticated));
        assert!(matches!(admit(Some(&principal(Role::Merchandiser, &[], None)), Gate::Roles(roles), true), Err(Denied::Forbidden(_))));
        let mut reader = principal(Role::Pricing, &[], None);
        assert_eq!(admit(Some(&reader), Gate::Roles(roles), true), Ok(()));
        reader.read_only = true;
        assert_eq!(admit(Some(&reader), Gate::Roles(roles), false), Ok(()));
        assert!(matches!(admit(Some(&reader), Gate::Roles(roles), true), Err(Denied::Forbidden(_))));
    }

    #[test]
    fn staff_act_only_at_their_stores_and_partners_read_only_their_own() {
        let d1 = LocationCode::parse("D-1").unwrap();
        let t1 = LocationCode::parse("T-1").unwrap();
        let zj = PartnerCode::parse("P-ZJ").unwrap();
        let other = PartnerCode::parse("P-GD").unwrap();
        let clerk = principal(Role::StoreStaff, &["D-1"], None);
        assert!(clerk.may_act_at(&d1) && !clerk.may_act_at(&t1));
        assert!(clerk.may_read_at(&d1, None) && !clerk.may_read_at(&t1, Some(&zj)));
        let partner = principal(Role::Partner, &[], Some("P-ZJ"));
        assert!(!partner.may_act_at(&t1));
        assert!(partner.may_read_at(&t1, Some(&zj)) && !partner.may_read_at(&t1, Some(&other)) && !partner.may_read_at(&d1, None));
        assert!(principal(Role::Merchandiser, &[], None).may_act_at(&t1));
        assert!(!principal(Role::Pricing, &[], None).may_act_at(&t1));
    }

    #[test]
    fn a_member_sees_only_their_own_orders() {
        let me = Mobile::parse("13800138000").unwrap();
        let other = Mobile::parse("13900139000").unwrap();
        let mut member = principal(Role::Customer, &[], None);
        member.mobile = Some(me.clone());
        assert!(member.may_see_member(&me) && !member.may_see_member(&other));
        assert!(!principal(Role::Partner, &[], Some("P-ZJ")).may_see_member(&me));
        assert!(principal(Role::StoreStaff, &["D-1"], None).may_see_member(&me));
    }

    #[test]
    fn sign_ins_lock_after_repeated_failures() {
        assert_eq!(sign_in_allowed(LOGIN_FAILURES_PER_ACCOUNT - 1, 0), Ok(()));
        assert!(sign_in_allowed(LOGIN_FAILURES_PER_ACCOUNT, 0).is_err());
        assert!(sign_in_allowed(0, LOGIN_FAILURES_PER_ADDRESS).is_err());
    }

    #[test]
    fn usernames_and_passwords_have_rules() {
        assert!(check_username("clerk.d-1").is_ok());
        assert!(check_username("Clerk").is_err() && check_username("ab").is_err() && check_username("1abc").is_err());
        assert!(check_password("correct horse").is_ok());
        assert!(check_password("short").is_err() && check_password("aaaaaaaaaaaa").is_err());
    }

    #[test]
    fn orders_are_seen_and_worked_by_the_people_of_their_places() {
        let d1 = LocationCode::parse("D-1").unwrap();
        let t1 = LocationCode::parse("T-1").unwrap();
        let zj = PartnerCode::parse("P-ZJ").unwrap();
        let me = Mobile::parse("13800138000").unwrap();
        let places = OrderPlaces { customer: Some(me.clone()), locations: vec![(t1.clone(), Some(zj.clone()))], counters: vec![] };
        let shipper = principal(Role::StoreStaff, &["T-1"], None);
        assert!(
            shipper.may_record_payment(&places, "cash").is_err() && shipper.may_cancel(&places).is_err(),
            "shipping it is not serving it"
        );
        let counter = OrderPlaces { counters: vec![t1.clone()], ..places.clone() };
        assert!(shipper.may_record_payment(&counter, "cash").is_ok() && shipper.may_cancel(&counter).is_ok());
        assert!(shipper.may_record_payment(&counter, "wechat_pay").is_err(), "online payments come from their provider");
        assert_eq!(principal(Role::StoreStaff, &["T-1"], None).order_access(&places), OrderAccess::Work);
        assert_eq!(principal(Role::StoreStaff, &["D-1"], None).order_access(&places), OrderAccess::Hidden);
        assert_eq!(principal(Role::Partner, &[], Some("P-ZJ")).order_access(&places), OrderAccess::Read);
        assert_eq!(principal(Role::Partner, &[], Some("P-GD")).order_access(&places), OrderAccess::Hidden);
        assert_eq!(principal(Role::Pricing, &[], None).order_access(&places), OrderAccess::Read);
        let mut member = principal(Role::Customer, &[], None);
        member.mobile = Some(me.clone());
        assert_eq!(member.order_access(&places), OrderAccess::Work);
        member.mobile = Some(Mobile::parse("13900139000").unwrap());
        assert_eq!(member.order_access(&places), OrderAccess::Hidden);
        assert_eq!(check_admins_remain(true, false, 0).unwrap_err().code, "last_admin");
        assert!(check_admins_remain(true, false, 1).is_ok() && check_admins_remain(true, true, 0).is_ok());
        assert!(check_admins_remain(false, false, 0).is_ok());
        let clerk = principal(Role::StoreStaff, &["D-1"], None);
        assert_eq!(clerk.order_list(None, false), Ok(OrderListScope::Named(Some(LocationCode::parse("D-1").unwrap()))));
        assert_eq!(clerk.order_list(None, true), Ok(OrderListScope::Named(None)));
        assert!(principal(Role::StoreStaff, &["D-1", "T-1"], None).order_list(None, false).is_err(), "which store?");
        assert!(principal(Role::Partner, &[], Some("P-ZJ")).order_list(None, false).is_err());
        assert!(principal(Role::Partner, &[], Some("P-ZJ")).order_list(Some(&me), true).is_err(), "no mobile oracle for a partner");
        assert_eq!(principal(Role::Pricing, &[], None).order_list(None, false), Ok(OrderListScope::Any));
        assert!(principal(Role::Pricing, &[], None).order_list(Some(&me), false).is_err(), "pricing sees no mobiles, so searches by none");
        assert!(!principal(Role::Merchandiser, &[], None).sees_personal_data() && principal(Role::HqAdmin, &[], None).sees_personal_data());
        let mut member = principal(Role::Customer, &[], None);
        member.mobile = Some(me.clone());
        assert_eq!(member.order_list(None, false), Ok(OrderListScope::Member(me.clone())));
        assert!(member.order_list(Some(&Mobile::parse("13900139000").unwrap()), false).is_err());
        assert!(clerk.may_place(Some(&d1), None, 0, false).is_ok());
        assert!(clerk.may_place(Some(&t1), None, 0, false).is_err() && clerk.may_place(None, None, 0, false).is_err());
        assert!(clerk.may_place(Some(&d1), Some(&me), 100, false).is_err(), "a clerk does not spend a member's points");
        assert!(clerk.may_place(Some(&d1), Some(&me), 100, true).is_ok(), "unless the member gave their code");
        member.mobile = Some(me.clone());
        assert!(member.may_place(None, Some(&me), 100, false).is_ok() && member.may_place(None, None, 0, false).is_ok());
        assert!(member.may_place(Some(&d1), None, 0, false).is_err());
        assert!(member.may_place(None, Some(&Mobile::parse("13900139000").unwrap()), 0, false).is_err());
        assert!(principal(Role::HqAdmin, &[], None).may_place(None, Some(&me), 100, false).is_err());
    }

    #[test]
    fn member_codes_expire_run_out_of_tries_and_are_not_resent_at_once() {
        let sent = SentCode { sent_at_us: 0, expires_at_us: MEMBER_CODE_SECS * 1_000_000, tries: 0 };
        assert_eq!(check_code(Some(&sent), true, 1), Ok(()));
        assert_eq!(check_code(Some(&sent), false, 1), Err(CodeRefusal::Wrong));
        assert_eq!(check_code(Some(&sent), true, MEMBER_CODE_SECS * 1_000_000), Err(CodeRefusal::NoLiveCode));
        let spent = SentCode { tries: MEMBER_CODE_TRIES, ..sent.clone() };
        assert_eq!(check_code(Some(&spent), true, 1), Err(CodeRefusal::NoLiveCode), "five wrong tries end a code");
        assert_eq!(check_code(None, true, 1), Err(CodeRefusal::NoLiveCode));
        assert_eq!(may_send_code(Some(&sent), 10 * 1_000_000), Err(MEMBER_CODE_RESEND_SECS - 10));
        assert_eq!(may_send_code(Some(&sent), MEMBER_CODE_RESEND_SECS * 1_000_000), Ok(()));
        assert_eq!(may_send_code(None, 0), Ok(()));
    }
}

//! The access table: for every route, who may call it at all (its [`Gate`]) and what the
//! handler checks about the resource in hand. `docs/access.md` is generated from this table
//! (a test keeps it so), and `tests/access.rs` walks every row with every role.

use axum::http::Method;
use tongjia_domain::access::{Gate, Role};

use Role::{Customer, HqAdmin, Merchandiser, Partner, Pricing, StoreStaff};

/// One route's access rule.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub method: &'static str,
    pub path: &'static str,
    pub gate: Gate,
    /// What is checked beyond the gate, and what a caller without the right is answered.
    pub scope: &'static str,
    /// A change allowed without a CSRF token (signing in and out, provider notifications).
    pub csrf_exempt: bool,
}

const HQ_ADMIN: Gate = Gate::Roles(&[HqAdmin]);
const PRICING: Gate = Gate::Roles(&[HqAdmin, Pricing]);
const CATALOGUE: Gate = Gate::Roles(&[HqAdmin, Merchandiser]);
const HQ: Gate = Gate::Roles(&[HqAdmin, Pricing, Merchandiser]);
const STAFF: Gate = Gate::Roles(&[HqAdmin, Pricing, Merchandiser, StoreStaff, Partner]);
const SIGNED: Gate = Gate::Roles(&[HqAdmin, Pricing, Merchandiser, StoreStaff, Partner, Customer]);
const STOCK_WORK: Gate = Gate::Roles(&[HqAdmin, Merchandiser, StoreStaff]);
const TILL: Gate = Gate::Roles(&[HqAdmin, StoreStaff]);
const COUNTER: Gate = Gate::Roles(&[StoreStaff]);
const BUYERS: Gate = Gate::Roles(&[HqAdmin, StoreStaff, Customer]);
const ORDER_READERS: Gate = Gate::Roles(&[HqAdmin, Pricing, Merchandiser, StoreStaff, Partner, Customer]);
const MEMBER_ORDERS: Gate = Gate::Roles(&[HqAdmin, Customer]);
const MEMBER_READERS: Gate = Gate::Roles(&[HqAdmin, StoreStaff, Customer]);
const PUBLIC: Gate = Gate::Public;

const fn rule(method: &'static str, path: &'static str, gate: Gate, scope: &'static str) -> Rule {
    Rule { method, path, gate, scope, csrf_exempt: false }
}

const AT_LOCATION: &str = "store staff only at their own stores (`location_code`); 403 elsewhere";
const READ_AT: &str = "store staff and partners must name a location of theirs (`location_code`), 403 otherwise";
const ORDER_AT: &str = "the order's store or fulfilling location must be the caller's; an order the caller may not see is 404";
const OWN_MEMBER: &str = "a customer only their own mobile; 403 for any other, member or not";
const FEED: &str = "outside headquarters: catalogue, price and network events, and the stock and order events of the caller's own locations (a partner's without personal data); the rest is left out";
const OWN_TOKENS: &str = "own tokens; `hq_admin` any account's (another's token is 404 to others)";

/// Every route of the server with its rule.
pub const RULES: &[Rule] = &[
    rule("GET", "/health", PUBLIC, ""),
    rule("GET", "/health/live", PUBLIC, ""),
    rule("GET", "/health/ready", PUBLIC, ""),
    rule("GET", "/metrics", PUBLIC, "route templates and counts only, no personal data"),
    rule("GET", "/", PUBLIC, "the storefront (a page)"),
    rule("GET", "/p/{sku_code}", PUBLIC, "the shopper's price check (a page)"),
    rule("GET", "/assets/{name}", PUBLIC, "the pages' embedded scripts"),
    rule("GET", "/buy/{sku_code}", PUBLIC, "the storefront's checkout (a page)"),
    rule("POST", "/buy/{sku_code}", PUBLIC, "online only: a guest with a mobile, a member for their own; as `POST /orders`"),
    rule("GET", "/basket", PUBLIC, "the shopper's basket (a cookie of SKUs and quantities), priced now"),
    Rule { csrf_exempt: true, ..rule("POST", "/basket", PUBLIC, "changes only the basket cookie; the session is not used") },
    rule("POST", "/basket/order", PUBLIC, "online only: as `POST /buy/{sku_code}`, for the basket's lines"),
    rule("GET", "/order", PUBLIC, "an order by its id and its shopper's mobile (anything else: not found)"),
    rule("POST", "/order/{order_id}/payment", PUBLIC, "the demo provider's checkout: its signed notification, verified as any other"),
    rule("GET", "/login", PUBLIC, "the sign-in page"),
    Rule { csrf_exempt: true, ..rule("POST", "/login", PUBLIC, "as `POST /api/v1/sessions`, from a page") },
    Rule { csrf_exempt: true, ..rule("POST", "/logout", PUBLIC, "ends the caller's own session, if any") },
    rule("GET", "/console", HQ, "a page: the dashboard"),
    rule("GET", "/console/prices", HQ, "a page: the price form (scheduling needs pricing)"),
    rule("POST", "/console/prices", PRICING, "as `POST /skus/{sku_code}/prices`"),
    rule("GET", "/console/prices/{sku_code}", HQ, "a page: a SKU's price history and the tills told of each version"),
    rule("POST", "/console/prices/batch", PRICING, "several changes from CSV lines, all or none"),
    rule("GET", "/console/stores", HQ, "a page: stores by province, kind and status"),
    rule("GET", "/console/stores/{store_code}", HQ, "a page: a store's stock, sales and staff"),
    rule("GET", "/console/stock", HQ, "a page: a SKU across the network, or a location's stock, receipts and transfers"),
    rule("GET", "/console/map", HQ, "a page: the coverage map"),
    rule("GET", "/console/orders", HQ, "a page"),
    rule("GET", "/console/orders/{order_id}", HQ, "a page: an order with its sourcing and ledger entries"),
    rule("GET", "/console/audit", HQ_ADMIN, "a page: the audit trail"),
    rule("GET", "/console/labels", HQ, "a page: an A4 sheet of shelf labels"),
    rule("GET", "/till", TILL, "a page: to the till of the clerk's store; not signed in, to the sign-in page"),
    rule("GET", "/till/{store_code}", TILL, "a page: store staff at their own stores only (403 page elsewhere)"),
    rule("GET", "/till/{store_code}/cart", TILL, "store staff at their own stores only; prices from the price book"),
    rule(
        "POST",
        "/till/{store_code}/sale",
        TILL,
        "store staff at their own stores only; as `POST /orders` then `POST /orders/{id}/payments`",
    ),
    rule("GET", "/till/{store_code}/prices", TILL, "store staff at their own stores only; counts against the caller's streams"),
    rule("GET", "/till/{store_code}/elsewhere", TILL, "store staff at their own stores only: the nearest stores with a SKU"),
    rule("GET", "/till/{store_code}/pickups", TILL, "store staff at their own stores only: the pickups waiting there"),
    rule("POST", "/till/{store_code}/pickups/{order_id}", TILL, "as `POST /orders/{id}/ready` or `…/handover`, for a pickup at this store"),
    rule("GET", "/till/{store_code}/returns", TILL, "store staff at their own stores only: any order, without its personal data"),
    rule("POST", "/till/{store_code}/returns/{order_id}", TILL, "as `POST /orders/{id}/returns` at this store"),
    rule("GET", "/api/v1/openapi.json", PUBLIC, ""),
    rule("GET", "/api/v1/docs", PUBLIC, "and everything under it (Swagger UI)"),
    // Signing in and out, tokens, accounts.
    Rule { csrf_exempt: true, ..rule("POST", "/api/v1/sessions", PUBLIC, "rate-limited per account and per address (429)") },
    Rule {
        csrf_exempt: true,
        ..rule("POST", "/api/v1/member-codes", PUBLIC, "one code a minute per mobile (429); the same answer for a member and a non-member")
    },
    Rule { csrf_exempt: true, ..rule("POST", "/api/v1/member-sessions", PUBLIC, "the code sent to the mobile; five wrong tries end it") },
    rule("GET", "/api/v1/sessions/current", SIGNED, "the caller itself"),
    rule("DELETE", "/api/v1/sessions/current", SIGNED, "the caller's own session (a token is revoked instead: 409)"),
    rule("POST", "/api/v1/tokens", STAFF, "for oneself; `hq_admin` for any account"),
    rule("GET", "/api/v1/tokens", STAFF, OWN_TOKENS),
    rule("POST", "/api/v1/tokens/{token_id}/revocation", STAFF, OWN_TOKENS),
    rule("GET", "/api/v1/audit", HQ_ADMIN, ""),
    rule("GET", "/api/v1/audit.csv", HQ_ADMIN, "at most 10,000 rows; `X-Next-Cursor` continues"),
    rule("GET", "/api/v1/accounts", HQ_ADMIN, ""),
    rule("POST", "/api/v1/accounts", HQ_ADMIN, ""),
    rule("GET", "/api/v1/accounts/{username}", HQ_ADMIN, ""),
    rule("PATCH", "/api/v1/accounts/{username}", HQ_ADMIN, ""),
    // Catalogue and prices.
    rule("GET", "/api/v1/products", PUBLIC, ""),
    rule("POST", "/api/v1/products", CATALOGUE, ""),
    rule("GET", "/api/v1/products/{product_code}", PUBLIC, ""),
    rule("GET", "/api/v1/skus", PUBLIC, ""),
    rule("POST", "/api/v1/skus", CATALOGUE, ""),
    rule("GET", "/api/v1/skus/{sku_code}", PUBLIC, ""),
    rule("PATCH", "/api/v1/skus/{sku_code}", CATALOGUE, ""),
    rule("GET", "/api/v1/skus/{sku_code}/availability", PUBLIC, ""),
    rule("GET", "/api/v1/skus/{sku_code}/prices", PUBLIC, "the public price check: every version, for anyone"),
    rule("POST", "/api/v1/skus/{sku_code}/prices", PRICING, ""),
    rule("GET", "/api/v1/skus/{sku_code}/quote", PUBLIC, ""),
    rule("POST", "/api/v1/stores/{store_code}/prices", PRICING, "always refused: there are no store prices"),
    // Locations and the network.
    rule("GET", "/api/v1/stores", PUBLIC, ""),
    rule("POST", "/api/v1/stores", HQ_ADMIN, ""),
    rule("GET", "/api/v1/stores/counts", PUBLIC, ""),
    rule("GET", "/api/v1/stores/nearest", PUBLIC, ""),
    rule("GET", "/api/v1/stores/{store_code}", PUBLIC, ""),
    rule("PATCH", "/api/v1/stores/{store_code}", HQ_ADMIN, ""),
    rule("GET", "/api/v1/warehouses", STAFF, ""),
    rule("POST", "/api/v1/warehouses", HQ_ADMIN, ""),
    rule("GET", "/api/v1/warehouses/{warehouse_code}", STAFF, ""),
    rule("GET", "/api/v1/partners", HQ, ""),
    rule("POST", "/api/v1/partners", HQ_ADMIN, ""),
    rule("GET", "/api/v1/network/coverage", PUBLIC, ""),
    rule("GET", "/api/v1/network/coverage.svg", PUBLIC, ""),
    rule("GET", "/api/v1/network/divisions/{code}", PUBLIC, ""),
    rule("GET", "/api/v1/network/gaps", HQ, ""),
    rule("GET", "/api/v1/network/plan", HQ, ""),
    // Stock.
    rule("GET", "/api/v1/stock", STAFF, READ_AT),
    rule("GET", "/api/v1/stock/entries", STAFF, READ_AT),
    rule("POST", "/api/v1/stock/receipts", STOCK_WORK, AT_LOCATION),
    rule("POST", "/api/v1/stock/counts", STOCK_WORK, AT_LOCATION),
    rule("POST", "/api/v1/stock/damaged-disposals", STOCK_WORK, AT_LOCATION),
    rule("POST", "/api/v1/stock/returns", TILL, AT_LOCATION),
    rule("POST", "/api/v1/stock/sales", TILL, AT_LOCATION),
    rule("POST", "/api/v1/stock/adjustments", CATALOGUE, ""),
    rule("PUT", "/api/v1/stock/safety-stock", CATALOGUE, ""),
    rule("GET", "/api/v1/stock/transfers", STAFF, "store staff and partners see transfers from or to their locations"),
    rule("POST", "/api/v1/stock/transfers", CATALOGUE, ""),
    rule("GET", "/api/v1/stock/transfers/{transfer_id}", STAFF, "a transfer from or to a location the caller may not read is 404"),
    rule("POST", "/api/v1/stock/transfers/{transfer_id}/receipt", STOCK_WORK, "store staff only at the destination; 403 elsewhere"),
    rule("GET", "/api/v1/reservations", STOCK_WORK, READ_AT),
    rule("POST", "/api/v1/reservations", STOCK_WORK, AT_LOCATION),
    rule("GET", "/api/v1/reservations/{reservation_id}", STOCK_WORK, "a hold at a location the caller may not act at is 404"),
    rule("POST", "/api/v1/reservations/{reservation_id}/commit", STOCK_WORK, "a hold at a location the caller may not act at is 404"),
    rule("POST", "/api/v1/reservations/{reservation_id}/release", STOCK_WORK, "a hold at a location the caller may not act at is 404"),
    // Orders and members.
    rule("GET", "/api/v1/orders", ORDER_READERS, "each sees its own: a customer theirs, store staff their stores', a partner its stores'"),
    rule("POST", "/api/v1/orders", BUYERS, "a customer for their own mobile; store staff at their own stores"),
    rule("GET", "/api/v1/orders/{order_id}", ORDER_READERS, ORDER_AT),
    rule(
        "POST",
        "/api/v1/orders/{order_id}/payments",
        COUNTER,
        "store staff: cash or card, at the order's store or pickup store (403 otherwise); no one records an online payment",
    ),
    Rule {
        csrf_exempt: true,
        ..rule(
            "POST",
            "/api/v1/payment-notifications/{provider}",
            PUBLIC,
            "the provider's signature is the credential (401 `invalid_signature` / `notification_stale`); one effect per transaction id",
        )
    },
    rule("POST", "/api/v1/orders/{order_id}/fulfilment", STOCK_WORK, ORDER_AT),
    rule("POST", "/api/v1/orders/{order_id}/shipment", STOCK_WORK, ORDER_AT),
    rule("POST", "/api/v1/orders/{order_id}/delivery", STOCK_WORK, ORDER_AT),
    rule("POST", "/api/v1/orders/{order_id}/ready", TILL, ORDER_AT),
    rule("POST", "/api/v1/orders/{order_id}/handover", TILL, ORDER_AT),
    rule("POST", "/api/v1/orders/{order_id}/cancellation", BUYERS, "the order's member, or staff of its store or pickup store"),
    rule("POST", "/api/v1/orders/{order_id}/returns", TILL, AT_LOCATION),
    rule("GET", "/api/v1/customers/{customer_mobile}", MEMBER_READERS, OWN_MEMBER),
    rule("GET", "/api/v1/customers/{customer_mobile}/orders", MEMBER_ORDERS, OWN_MEMBER),
    rule("GET", "/api/v1/customers/{customer_mobile}/points", MEMBER_READERS, OWN_MEMBER),
    // Events.
    rule("GET", "/api/v1/events", STAFF, FEED),
    rule("GET", "/api/v1/events/stream", STAFF, FEED),
];

/// The rule of a matched route (`path` as the router matched it, e.g. `/api/v1/skus/{sku_code}`).
pub fn rule_for(method: &Method, path: &str) -> Option<&'static Rule> {
    let path = if path.starts_with("/api/v1/docs") { "/api/v1/docs" } else { path };
    RULES.iter().find(|r| r.method == method.as_str() && r.path == path)
}

/// Who may call a route, for the docs: `anyone` or the roles, comma-separated.
pub fn who(gate: Gate) -> String {
    match gate {
        Gate::Public => "anyone".to_owned(),
        Gate::Roles(roles) => roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", "),
    }
}

/// The access table as Markdown (`docs/access.md` holds it).
pub fn markdown_table() -> String {
    let mut out = String::from("| method | path | who | also checked |\n|---|---|---|---|\n");
    for r in RULES {
        out.push_str(&format!("| {} | `{}` | {} | {} |\n", r.method, r.path, who(r.gate), r.scope));
    }
    out
}

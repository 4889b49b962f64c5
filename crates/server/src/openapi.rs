//! The served OpenAPI document, made as strict as the server.
//!
//! utoipa describes each handler's own answers. This adds, in one place, what the handlers
//! share and what the domain enforces, so a client generated from the document (or a fuzzer
//! such as schemathesis) sees the server's real contract:
//!
//! - every answer of 400 or more is `application/problem+json` with the [`Problem`] schema;
//! - the statuses produced around a handler: 503 (database busy or unavailable, heavy work
//!   saturated) everywhere, 422 wherever a query or path is parsed, 404 wherever a path names a
//!   resource, and for mutations 400 (malformed JSON, a bad `Idempotency-Key`), 408 (body too
//!   slow), 409 (the same key still running), 413, 415 and 422 (body fields, a reused key);
//! - patterns, enums and ranges for every parameter and every request-body field, by name,
//!   built from the domain's own constants ([`rule`]). Response bodies are left as utoipa
//!   describes them.
//!
//! [`Problem`]: crate::problem::Problem

use serde_json::{Map, Value, json};
use tongjia_domain::Fen;
use tongjia_domain::access::{Gate, PASSWORD_CHARS, Role, STORES_PER_ACCOUNT_MAX, TOKEN_DAYS_MAX, TokenScope};
use tongjia_domain::catalog::{ATTRIBUTE_VALUE_LEN_MAX, ATTRIBUTES_MAX, CATEGORY_LEN_MAX, NAME_LEN_MAX};
use tongjia_domain::codes::CODE_LEN_MAX;
use tongjia_domain::events::EventType;
use tongjia_domain::ledger::{QUANTITY_MAX, RESERVATION_TTL_SECONDS_MAX, ReservationStatus, TransferStatus};
use tongjia_domain::location::{DELIVERY_RADIUS_KM_MAX, LocationKind, LocationStatus};
use tongjia_domain::network::TOWNSHIP_TARGET_MAX;
use tongjia_domain::network::locator::NEAREST_MAX;
use tongjia_domain::orders::{Fulfilment, ORDER_LINES_MAX, OrderStatus};
use tongjia_storage::LIMIT_MAX;

use crate::extract::IDEMPOTENCY_KEY_LEN_MAX;

/// Where a name is constrained: a parameter of the operation at `path`, or a property of
/// the request-body schema `schema`.
#[derive(Clone, Copy)]
pub(crate) enum Place<'a> {
    Param { path: &'a str },
    Field { schema: &'a str },
}

impl Place<'_> {
    fn is(&self, what: &[&str]) -> bool {
        match self {
            Place::Param { path } => what.iter().any(|w| path.starts_with(w)),
            Place::Field { schema } => what.contains(schema),
        }
    }
}

/// A human code (`check_code`): upper-case letters, digits, `-`, `_`, `.`, starting with a
/// letter or digit.
pub(crate) fn code_pattern() -> String {
    format!("[A-Z0-9][A-Z0-9._-]{{0,{}}}", CODE_LEN_MAX - 1)
}

/// A category or attribute name (`check_category`).
fn category_pattern() -> String {
    format!("^[a-z0-9_]{{1,{CATEGORY_LEN_MAX}}}$")
}

/// Text a person writes (`check_text`): something besides spaces, no control characters.
const TEXT_PATTERN: &str = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$";
/// Free text stored as given: no NUL (PostgreSQL cannot store one), no control characters.
const FREE_TEXT_PATTERN: &str = r"^[^\x00-\x1f\x7f-\x9f]*$";
/// A county-level code: six digits, no leading zero, not a province's (`xx0000`).
const COUNTY_PATTERN: &str = "^[1-9][0-9]([1-9][0-9]{3}|0[1-9][0-9]{2}|00[1-9][0-9]|000[1-9])$";

fn enum_of<'a>(values: impl IntoIterator<Item = &'a str>) -> Value {
    json!({ "enum": values.into_iter().collect::<Vec<_>>() })
}

fn range(min: i64, max: i64) -> Value {
    json!({ "minimum": min, "maximum": max })
}

/// The constraint the server enforces on the input `name` at `place`, if it is one it
/// knows. Keys: `pattern`, `enum`, `format`, `minimum`, `maximum`, `minLength`, `maxLength`
/// (merged into the schema utoipa wrote, whose `type` stays).
pub(crate) fn rule(place: Place<'_>, name: &str) -> Option<Value> {
    let code = code_pattern();
    let stores = LocationKind::ALL.iter().filter(|k| k.is_store()).map(|k| k.as_str());
    Some(match name {
        "sku_code" | "product_code" | "location_code" | "store_code" | "pickup_store_code" | "warehouse_code" | "partner_code"
        | "from_location_code" | "to_location_code" => json!({ "pattern": format!("^{code}$") }),
        "owner" => json!({ "pattern": format!("^(brand|partner:{code})$") }),
        "customer_mobile" => json!({ "pattern": r"^(\+?86)?1[3-9][0-9]{9}$" }),
        "county_code" => json!({ "pattern": COUNTY_PATTERN }),
        "township_code" => json!({ "pattern": "^[1-9][0-9]{8}$" }),
        "division" => json!({ "pattern": "^[1-9][0-9]([0-9]{2}([0-9]{2})?)?$" }),
        "division_code" => json!({ "pattern": "^[1-9][0-9]{5}([0-9]{3})?$" }),
        "code" if place.is(&["/api/v1/network/divisions"]) => json!({ "pattern": "^[1-9][0-9]([0-9]{2}([0-9]{2}([0-9]{3})?)?)?$" }),
        "order_id" | "reservation_id" | "transfer_id" | "token_id" => json!({ "format": "uuid" }),
        "gtin" => json!({ "pattern": "^[0-9]{13}$" }),
        "provider" => json!({ "pattern": "^[a-z0-9_]{1,32}$" }),
        "member_code" => json!({ "pattern": "^[0-9]{6}$" }),
        "code" if place.is(&["MemberSignIn"]) => json!({ "pattern": "^[0-9]{6}$" }),
        "category" => json!({ "pattern": category_pattern() }),
        "attributes" => json!({
            "maxProperties": ATTRIBUTES_MAX,
            "propertyNames": { "pattern": category_pattern() },
            "additionalProperties": { "type": "string", "pattern": TEXT_PATTERN, "maxLength": ATTRIBUTE_VALUE_LEN_MAX },
        }),
        "name" => json!({ "pattern": TEXT_PATTERN, "maxLength": NAME_LEN_MAX }),
        "reason" | "method" | "external_reference" => json!({ "pattern": TEXT_PATTERN }),
        "reference" | "note" | "q" | "after" | "pickup_code" => json!({ "pattern": FREE_TEXT_PATTERN }),
        "principal" | "resource" => json!({ "pattern": FREE_TEXT_PATTERN, "minLength": 1, "maxLength": 256 }),
        "Idempotency-Key" => json!({ "pattern": format!("^[!-~]{{1,{IDEMPOTENCY_KEY_LEN_MAX}}}$") }),
        "event_type" => enum_of(EventType::ALL.iter().map(|t| t.as_str())),
        "fulfilment" => enum_of(Fulfilment::ALL.iter().map(|f| f.as_str())),
        "channel" => enum_of(["online", "store"]),
        "kind" if place.is(&["/api/v1/warehouses"]) => enum_of([LocationKind::Warehouse.as_str()]),
        "kind" if place.is(&["/api/v1/stores", "StoreInput", "StorePatch"]) => enum_of(stores),
        "status" if place.is(&["/api/v1/orders"]) => enum_of(OrderStatus::ALL.iter().map(|s| s.as_str())),
        "status" if place.is(&["/api/v1/reservations"]) => enum_of(ReservationStatus::ALL.iter().map(|s| s.as_str())),
        "status" if place.is(&["/api/v1/stock/transfers"]) => enum_of(TransferStatus::ALL.iter().map(|s| s.as_str())),
        "status" if place.is(&["/api/v1/stores", "/api/v1/warehouses", "StoreInput", "StorePatch", "WarehouseInput"]) => {
            enum_of(LocationStatus::ALL.iter().map(|s| s.as_str()))
        }
        "limit" if place.is(&["/api/v1/stores/nearest"]) => range(1, NEAREST_MAX as i64),
        "stores" if place.is(&["AccountInput", "AccountPatchInput"]) => {
            json!({ "maxItems": STORES_PER_ACCOUNT_MAX, "items": { "type": "string", "pattern": format!("^{code}$") } })
        }
        "limit" | "stores" => range(1, i64::from(LIMIT_MAX)),
        "username" => json!({ "pattern": "^[a-z][a-z0-9._-]{2,63}$" }),
        "password" if place.is(&["SignInInput"]) => json!({ "pattern": format!("^[^\\x00]{{1,{}}}$", PASSWORD_CHARS.end()) }),
        "password" => json!({ "pattern": format!("^[^\\x00]{{{},{}}}$", PASSWORD_CHARS.start(), PASSWORD_CHARS.end()) }),
        "role" => enum_of(Role::STAFF.iter().map(|r| r.as_str())),
        "scope" => enum_of([TokenScope::Full.as_str(), TokenScope::Read.as_str()]),
        "expires_in_days" => range(1, TOKEN_DAYS_MAX),
        "quantity" if place.is(&["SafetyStockInput"]) => range(0, QUANTITY_MAX),
        "quantity" => range(1, QUANTITY_MAX),
        "counted" => range(0, QUANTITY_MAX),
        "delta" => json!({ "minimum": -QUANTITY_MAX, "maximum": QUANTITY_MAX, "not": { "const": 0 } }),
        "ttl_seconds" => range(1, RESERVATION_TTL_SECONDS_MAX),
        "line_no" => range(1, ORDER_LINES_MAX as i64),
        "list_price_fen" | "member_price_fen" => range(1, Fen::PRICE_MAX.get()),
        "amount_fen" => range(0, Fen::PRICE_MAX.get() * ORDER_LINES_MAX as i64 * QUANTITY_MAX),
        "redeem_points" => range(0, i64::MAX),
        "township_target" => range(1, TOWNSHIP_TARGET_MAX),
        "after_seq" => range(0, i64::MAX),
        "delivery_radius_km" => range(0, i64::from(DELIVERY_RADIUS_KM_MAX)),
        "radius_km" => json!({ "minimum": 0.0, "maximum": crate::http::RADIUS_KM_MAX }),
        "longitude" => json!({ "minimum": 73.0, "maximum": 136.0 }),
        "latitude" => json!({ "minimum": 3.0, "maximum": 54.0 }),
        _ => return None,
    })
}

/// The document utoipa built, made as strict as the server (see the module docs), as the
/// JSON served at `/api/v1/openapi.json`. (utoipa's own types cannot hold every keyword
/// added here, such as `not`, so the result stays JSON.)
pub(crate) fn finish(doc: &utoipa::openapi::OpenApi) -> Value {
    let mut v =
        serde_json::to_value(doc).unwrap_or_else(|e| json!({ "openapi": "3.1.0", "info": { "title": format!("unavailable: {e}") } }));
    let inputs = request_schemas(&v);
    if let Some(paths) = v.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            for (method, op) in item.as_object_mut().into_iter().flatten() {
                operation(path, method, op);
            }
        }
    }
    if let Some(components) = v.get_mut("components").and_then(Value::as_object_mut) {
        components.insert(
            "securitySchemes".into(),
            json!({
                "bearer": { "type": "http", "scheme": "bearer", "description": "An API token (`POST /api/v1/tokens`, or `tongjia admin token`)" },
                "session": { "type": "apiKey", "in": "cookie", "name": crate::auth::SESSION_COOKIE,
                    "description": "A staff session (`POST /api/v1/sessions`); every change made with it sends the session's CSRF token in `X-CSRF-Token`" },
            }),
        );
    }
    if let Some(schemas) = v.pointer_mut("/components/schemas").and_then(Value::as_object_mut) {
        for name in &inputs {
            if let Some(props) = schemas.get_mut(name).and_then(|s| s.get_mut("properties")).and_then(Value::as_object_mut) {
                for (prop, schema) in props.iter_mut() {
                    constrain(schema, rule(Place::Field { schema: name }, prop));
                }
            }
        }
    }
    v
}

/// One operation: its parameters constrained, its error answers completed.
fn operation(path: &str, method: &str, op: &mut Value) {
    let mut has_query = false;
    let mut has_path = false;
    for p in op.get_mut("parameters").and_then(Value::as_array_mut).into_iter().flatten() {
        let name = p.get("name").and_then(Value::as_str).unwrap_or_default().to_owned();
        match p.get("in").and_then(Value::as_str) {
            Some("query") => has_query = true,
            Some("path") => has_path = true,
            _ => {}
        }
        if let Some(schema) = p.get_mut("schema") {
            constrain(schema, rule(Place::Param { path }, &name));
        }
    }
    let mutation = matches!(method, "post" | "put" | "patch" | "delete");
    let mut shared: Vec<(u16, &str)> = vec![
        (503, "The database is busy or unavailable, or heavy work is saturated: retry after `Retry-After`"),
        (401, "No credentials, or an API token that is unknown, expired or revoked"),
    ];
    let gate = axum::http::Method::from_bytes(method.to_ascii_uppercase().as_bytes())
        .ok()
        .and_then(|m| crate::auth::rules::rule_for(&m, path))
        .map(|r| r.gate);
    if let Some(Gate::Roles(_)) = gate {
        shared.push((403, "The caller's role may not do this here (or a session's change lacks its CSRF token)"));
        op["security"] = json!([{ "bearer": [] }, { "session": [] }]);
    } else {
        op["security"] = json!([{}, { "bearer": [] }, { "session": [] }]);
    }
    if has_query {
        shared.push((422, "A query parameter is invalid"));
    }
    if has_path {
        shared.push((404, "No such resource"));
        shared.push((422, "A path parameter is not a valid code or number"));
    }
    if mutation {
        shared.extend([
            (400, "The body is not JSON, or the `Idempotency-Key` is not 1–255 visible ASCII characters"),
            (408, "The body did not arrive in time"),
            (409, "A request with the same `Idempotency-Key` is still running: retry after `Retry-After`"),
            (413, "The body is too large"),
            (415, "The body is not `application/json`"),
            (422, "A body field is invalid, or the `Idempotency-Key` was used for another request"),
        ]);
    }
    let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else { return };
    for (status, description) in shared {
        responses.entry(status.to_string()).or_insert_with(|| json!({ "description": description }));
    }
    for (status, answer) in responses.iter_mut() {
        if status.parse::<u16>().is_ok_and(|s| s >= 400) {
            problem_answer(status, answer);
        }
    }
}

/// An error answer: `application/problem+json` with the `Problem` schema, and the
/// `Retry-After` header where the server sends one.
fn problem_answer(status: &str, answer: &mut Value) {
    let Some(a) = answer.as_object_mut() else { return };
    a.entry("description").or_insert_with(|| json!("A problem"));
    a.insert("content".into(), json!({ "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } }));
    if matches!(status, "409" | "503") {
        a.insert(
            "headers".into(),
            json!({ "Retry-After": { "description": "Seconds to wait before retrying (on 503, and on 409 for a key still running)", "schema": { "type": "integer", "minimum": 0 } } }),
        );
    }
}

/// Merges a rule into a schema, keeping its `type`; an enum of a nullable value keeps `null`.
fn constrain(schema: &mut Value, rule: Option<Value>) {
    let (Some(target), Some(Value::Object(rule))) = (schema.as_object_mut(), rule) else { return };
    let nullable = target.get("type").and_then(Value::as_array).is_some_and(|t| t.iter().any(|x| x == "null"));
    for (k, v) in rule {
        let v = match v {
            Value::Array(mut values) if k == "enum" && nullable => {
                values.push(Value::Null);
                Value::Array(values)
            }
            other => other,
        };
        target.insert(k, v);
    }
}

/// The component schemas a request body can hold: those named by a `requestBody`, and those
/// they refer to.
fn request_schemas(doc: &Value) -> Vec<String> {
    let mut todo: Vec<String> = vec![];
    for item in doc.get("paths").and_then(Value::as_object).into_iter().flat_map(Map::values) {
        for op in item.as_object().into_iter().flat_map(Map::values) {
            refs(op.get("requestBody").unwrap_or(&Value::Null), &mut todo);
        }
    }
    let mut seen: Vec<String> = vec![];
    while let Some(name) = todo.pop() {
        if seen.contains(&name) {
            continue;
        }
        refs(doc.pointer(&format!("/components/schemas/{name}")).unwrap_or(&Value::Null), &mut todo);
        seen.push(name);
    }
    seen.sort();
    seen
}

/// Every `$ref` to a component schema under `v`, by name.
fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, x) in map {
                match (k.as_str(), x.as_str().and_then(|r| r.strip_prefix("#/components/schemas/"))) {
                    ("$ref", Some(name)) => out.push(name.to_owned()),
                    _ => refs(x, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tongjia_domain::catalog::{Gtin13, check_category, check_text};
    use tongjia_domain::codes::{Owner, SkuCode};
    use tongjia_domain::customer::Mobile;
    use tongjia_domain::location::{CountyCode, TownshipCode};

    fn pattern(name: &str) -> regex::Regex {
        let rule = rule(Place::Field { schema: "Any" }, name).unwrap();
        regex::Regex::new(rule["pattern"].as_str().unwrap()).unwrap()
    }

    /// A declared pattern accepts exactly what the domain's parser accepts, on samples at and
    /// around every edge.
    fn agrees(name: &str, accepts: impl Fn(&str) -> bool, samples: &[&str]) {
        let re = pattern(name);
        for s in samples {
            assert_eq!(re.is_match(s), accepts(s), "{name}: pattern and parser disagree on {s:?}");
        }
    }

    #[test]
    fn declared_patterns_are_the_domains_rules() {
        let long = "A".repeat(CODE_LEN_MAX);
        let longer = "A".repeat(CODE_LEN_MAX + 1);
        agrees(
            "sku_code",
            |s| SkuCode::parse(s).is_ok(),
            &["NOTE13-BLK-256", "S-330106-01", "A", "9.X_Y", &long, &longer, "", "-A", "note13", "A B", "Ä"],
        );
        agrees("owner", |s| Owner::parse(s).is_ok(), &["brand", "partner:P-01", "partner:", "partner:p", "Brand", "brand "]);
        agrees(
            "customer_mobile",
            |s| Mobile::parse(s).is_ok(),
            &["13800138000", "+8613800138000", "8613800138000", "12800138000", "1380013800", "138001380000", "+86 1380", "a3800138000"],
        );
        agrees(
            "county_code",
            |s| CountyCode::parse(s).is_ok(),
            &["330106", "441900", "330000", "110101", "000001", "33010", "3301061", "33010a"],
        );
        agrees("township_code", |s| TownshipCode::parse(s).is_ok(), &["330106001", "033010600", "33010600", "3301060011", "33010600a"]);
        agrees("gtin", |s| s.len() == 13 && s.bytes().all(|b| b.is_ascii_digit()), &["6901234567892", "690123456789", "690123456789a"]);
        assert!(Gtin13::parse("6901234567892").is_ok());
        agrees("category", |s| check_category(s).is_ok(), &["phone", "smart_home", "tv2", "", "Phone", "a-b", &"a".repeat(33)]);
        let name = |s: &str| check_text("name", s, usize::MAX).is_ok() && s.trim() == s;
        agrees("name", name, &["小米 13", "Note 13", "", "   ", "a\u{7}b", "a\u{85}b", "a\nb"]);
        agrees(
            "Idempotency-Key",
            |s| !s.is_empty() && s.len() <= IDEMPOTENCY_KEY_LEN_MAX && s.bytes().all(|b| b.is_ascii_graphic()),
            &["web-1001", "~!", "", "a b", "键", &"k".repeat(255), &"k".repeat(256)],
        );
    }

    #[test]
    fn enums_and_ranges_come_from_the_domain() {
        let at = |path| Place::Param { path };
        assert_eq!(rule(at("/api/v1/orders"), "status").unwrap()["enum"].as_array().unwrap().len(), OrderStatus::ALL.len());
        assert_eq!(rule(at("/api/v1/stock/transfers"), "status").unwrap()["enum"], json!(["in_transit", "received"]));
        assert_eq!(rule(at("/api/v1/stores"), "kind").unwrap()["enum"], json!(["direct", "authorized", "township_authorized"]));
        assert_eq!(rule(at("/api/v1/stores/nearest"), "limit").unwrap()["maximum"], json!(NEAREST_MAX));
        assert_eq!(rule(at("/api/v1/stock"), "limit").unwrap()["maximum"], json!(LIMIT_MAX));
        assert!(rule(at("/api/v1/anything"), "status").is_none(), "a status nobody named is not guessed");
        let mut nullable = json!({ "type": ["string", "null"] });
        constrain(&mut nullable, rule(Place::Field { schema: "StorePatch" }, "status"));
        assert_eq!(nullable["enum"], json!(["planned", "open", "closed", null]));
    }
}

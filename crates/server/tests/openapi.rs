//! The served OpenAPI document is as strict as the server: every problem answer documented as
//! `application/problem+json`, the statuses the server can give declared on every operation,
//! and a pattern, enum, format or range on every input a client writes. (schemathesis checks
//! the server against this document in CI: `.ci/run`, `scripts/schemathesis`.)

mod common;

use common::{ok, spawn_app};
use serde_json::Value;
use tongjia_storage::Backend;

/// Inputs that take any text (within the body limit): none today; a new one must be named.
const FREE_TEXT: &[&str] = &[];

/// What a schema declares about the values it takes.
fn constrained(s: &Value) -> bool {
    let types: Vec<&str> = match &s["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let has = |k: &str| s.get(k).is_some();
    if types.contains(&"string") {
        has("pattern") || has("enum") || has("format")
    } else if types.contains(&"integer") || types.contains(&"number") {
        has("minimum") && has("maximum")
    } else if types.contains(&"object") {
        has("maxProperties") || has("properties")
    } else {
        true
    }
}

fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut out = vec![];
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            out.push((method.to_uppercase(), path.clone(), op));
        }
    }
    out
}

#[tokio::test]
async fn the_document_declares_every_problem_status_and_every_input_rule() {
    let app = spawn_app(Backend::Sqlite).await;
    let doc = ok(app.get("/api/v1/openapi.json").await);
    let mut loose = vec![];
    for (method, path, op) in operations(&doc) {
        let responses = op["responses"].as_object().unwrap();
        for (status, answer) in responses {
            let content: Vec<&String> = answer["content"].as_object().map(|c| c.keys().collect()).unwrap_or_default();
            if status.parse::<u16>().unwrap() >= 400 {
                assert_eq!(content, ["application/problem+json"], "{method} {path} {status}");
                assert_eq!(answer["content"]["application/problem+json"]["schema"]["$ref"], "#/components/schemas/Problem");
            }
        }
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        let mut want = vec!["503"];
        if params.iter().any(|p| p["in"] == "path") {
            want.extend(["404", "422"]);
        }
        if params.iter().any(|p| p["in"] == "query") {
            want.push("422");
        }
        if method != "GET" {
            want.extend(["400", "408", "409", "413", "415", "422"]);
        }
        for status in want {
            assert!(responses.contains_key(status), "{method} {path} does not declare {status}");
        }
        for p in &params {
            let name = p["name"].as_str().unwrap();
            if !constrained(&p["schema"]) && !FREE_TEXT.contains(&name) {
                loose.push(format!("{method} {path} {name}"));
            }
        }
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in request_body_schemas(&doc) {
        for (prop, s) in schemas[&name]["properties"].as_object().into_iter().flatten() {
            let refused_field = s.get("type").is_none() && s.get("$ref").is_none() && s.get("oneOf").is_none();
            if !refused_field && !constrained(s) && !FREE_TEXT.contains(&prop.as_str()) {
                loose.push(format!("{name}.{prop}"));
            }
        }
    }
    assert!(loose.is_empty(), "inputs with no declared rule: {loose:#?}");
}

/// The schemas a request body names (one level is enough: nested ones are checked where
/// their parent names them too).
fn request_body_schemas(doc: &Value) -> Vec<String> {
    let text = operations(doc).iter().map(|(_, _, op)| op["requestBody"].to_string()).collect::<String>();
    let mut names: Vec<String> = text.split("#/components/schemas/").skip(1).map(|s| s.split('"').next().unwrap().to_owned()).collect();
    for nested in ["LineInput", "DestinationInput", "OrderReturnLineInput"] {
        names.push(nested.to_owned());
    }
    names.sort();
    names.dedup();
    names
}

#[tokio::test]
async fn the_server_refuses_what_the_document_refuses() {
    let app = spawn_app(Backend::Sqlite).await;
    app.seed_basics().await;
    // Each of these breaks a rule the document declares; the server must refuse it as declared.
    for (path, status) in [
        ("/api/v1/stock?limit=0", 422),
        ("/api/v1/stock?limit=501", 422),
        ("/api/v1/stores/nearest?division_code=330106&limit=51", 422),
        ("/api/v1/orders?status=lost", 422),
        ("/api/v1/orders?customer_mobile=12345", 422),
        ("/api/v1/stores?division=3", 422),
        ("/api/v1/stock?owner=someone", 422),
        ("/api/v1/stock?location_code=wh-1", 422),
        ("/api/v1/reservations?sku_code=note13", 422),
        ("/api/v1/stores?partner_code=p%201", 422),
        ("/api/v1/skus?product_code=a%20b", 422),
        ("/api/v1/products?category=Phone", 422),
        ("/api/v1/orders?store_code=d-1", 422),
        ("/api/v1/events?event_type=no.such", 422),
        ("/api/v1/events/stream?event_type=price.schedule", 422),
        // Found by review: a negative seq was answered 410 events_trimmed.
        ("/api/v1/events/stream?after_seq=-1", 422),
        ("/api/v1/network/coverage?township_target=0", 422),
        ("/api/v1/orders/not-a-uuid", 404),
        // Found by schemathesis: a path code that is not a code is refused, as documented.
        ("/api/v1/customers/%EF%9A%9E%F1%BC%8A%B7%11", 422),
        ("/api/v1/skus/%EC%A3%8Djk%C3%9C/prices", 422),
    ] {
        let (got, body) = app.get(path).await;
        assert_eq!(got.as_u16(), status, "{path}: {body}");
        assert!(body["code"].is_string(), "{path}: {body}");
    }
}

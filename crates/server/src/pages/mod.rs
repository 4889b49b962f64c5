//! Pages for people, rendered on the server (maud): the storefront at `/`, the public price
//! check at `/p/{sku_code}`, signing in at `/login` and the store till at
//! `/till/{store_code}`. A page reads and writes through the same storage and domain calls as
//! the API — the price is the price book's quote, stock the ledger's availability, the nearest
//! stores the locator's, a sale the order flow's — and decides nothing of its own. Chinese by
//! default, English with `?lang=en`; a refusal is shown as its problem's `detail`, never as
//! JSON. The little script there is (htmx, installed from npm by `scripts/vendor-assets`, and
//! the till's own) is embedded in the binary and served from `/assets/`.

mod assets;
mod basket;
mod checkout;
mod console;
pub(crate) mod form;
mod login;
mod places;
mod price_check;
mod qr;
mod step;
mod storefront;
mod text;
mod till;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use maud::{DOCTYPE, Markup, html};

pub(crate) use text::Lang;

use crate::AppState;
use crate::problem::ApiError;

/// The page routes (each also has its row in `auth/rules.rs`).
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(storefront::home))
        .route("/p/{sku_code}", get(price_check::check))
        .route("/assets/{name}", get(assets::asset))
        .route("/login", get(login::form).post(login::sign_in))
        .route("/logout", axum::routing::post(login::sign_out))
        .route("/buy/{sku_code}", get(checkout::form).post(checkout::place))
        .route("/basket", get(basket::show).post(basket::change))
        .route("/basket/order", axum::routing::post(basket::order))
        .route("/order", get(checkout::status))
        .route("/order/{order_id}/payment", axum::routing::post(checkout::pay))
        .merge(till::router())
        .merge(console::router())
}

/// Whether `path` (a route template) is a page's, answered as HTML: not the API, health or
/// metrics.
pub(crate) fn is_page(path: &str) -> bool {
    !(path.starts_with("/api/") || path.starts_with("/health") || path == "/metrics")
}

/// The stylesheet every page shares: readable at 1366 px and at 375 px.
const STYLE: &str = "
*{box-sizing:border-box}body{margin:0;font-family:'Noto Sans CJK SC','PingFang SC','Microsoft YaHei',system-ui,sans-serif;color:#1b1f24;background:#f6f7f9}
header{background:#b3121f;color:#fff;padding:.6rem 1rem;display:flex;flex-wrap:wrap;gap:.8rem;align-items:center}
header a{color:#fff;text-decoration:none}header .brand{font-weight:700;font-size:1.15rem;margin-right:auto}
main{max-width:1100px;margin:0 auto;padding:1rem}
.card{background:#fff;border-radius:8px;padding:1rem;margin:0 0 1rem;box-shadow:0 1px 2px rgba(0,0,0,.08);overflow-x:auto}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(230px,1fr));gap:.8rem}
.price{font-size:1.8rem;font-weight:700;color:#b3121f}.muted{color:#5b6570;font-size:.9rem}
table{width:100%;border-collapse:collapse}td,th{text-align:left;padding:.35rem .4rem;border-bottom:1px solid #e3e6ea}
form.inline,div.inline{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center}form.add{display:inline-flex}input,select,button{font:inherit;padding:.4rem .5rem}
.error{border-left:4px solid #b3121f}.notice{color:#8a4b00}
header form.signout{margin:0}header form.signout button{background:none;border:1px solid #fff;color:#fff;border-radius:4px;cursor:pointer}
button.primary{background:#b3121f;color:#fff;border:0;border-radius:6px;padding:.6rem 1rem;font-size:1.05rem;cursor:pointer}
.till{display:grid;grid-template-columns:minmax(0,2fr) minmax(0,1fr);gap:1rem}.till input[name=add]{font-size:1.2rem;width:100%}
.total{font-size:1.6rem;font-weight:700}.num{text-align:right;white-space:nowrap}
@media (max-width:900px){.till{grid-template-columns:1fr}}
@media (max-width:600px){table.cart tr.head{display:none}table.cart tr{display:grid;grid-template-columns:1fr 1fr 1fr;gap:0 .4rem;border-bottom:1px solid #e3e6ea;padding:.3rem 0}
table.cart td{border:0;padding:.1rem}table.cart td.name{grid-column:1/-1}table.basket td.qty{order:5;grid-column:1/-1;display:flex;align-items:center;justify-content:space-between}
table.basket td.qty form{flex-wrap:nowrap;justify-content:flex-end}table.cart td[data-label]::before{content:attr(data-label) ' ';color:#5b6570;font-size:.8rem}}
.receipt{width:80mm;max-width:100%;margin:0 auto;background:#fff;padding:4mm;font-size:12px;font-family:'Noto Sans Mono CJK SC',monospace}
.receipt td{padding:1mm 0;border:0;vertical-align:top}.receipt .muted{font-size:11px}.receipt .qr svg{width:18mm;height:18mm}
@media print{header,.no-print{display:none!important}main{padding:0}body{background:#fff}.receipt{box-shadow:none;margin:0}@page{size:80mm auto;margin:0}}
nav.sections{display:flex;flex-wrap:wrap;gap:.4rem 1rem}nav.sections a[aria-current]{font-weight:700}
.labels svg,.map svg{max-width:100%;height:auto;display:block}.map{background:#eef3f7}
@media (max-width:600px){main{padding:.6rem}.price{font-size:1.5rem}}
";

/// What frames a page: its language, title and address, and who is signed in.
pub(crate) struct Shell<'a> {
    pub(crate) lang: Lang,
    pub(crate) title: &'a str,
    /// The page's own address, for the language switch.
    pub(crate) here: &'a str,
    /// The signed-in staff member's name and session CSRF token (sent by htmx with every
    /// change the page makes).
    pub(crate) signed: Option<(&'a str, &'a str)>,
    /// Scripts under `/assets/` the page runs.
    pub(crate) scripts: &'a [&'a str],
}

impl<'a> Shell<'a> {
    pub(crate) fn public(lang: Lang, title: &'a str, here: &'a str) -> Self {
        Shell { lang, title, here, signed: None, scripts: &["htmx.min.js", "pages.js"] }
    }
}

/// A whole page: the landing bar, the language switch, then `body`.
pub(crate) fn layout(shell: &Shell<'_>, body: Markup) -> Markup {
    let (lang, here) = (shell.lang, shell.here);
    let other = lang.other();
    let headers = shell.signed.map(|(_, csrf)| serde_json::json!({ "X-CSRF-Token": csrf }).to_string());
    html! {
        (DOCTYPE)
        html lang=(lang.html_code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                // A refusal's page is shown where the request would have put its answer.
                meta name="htmx-config" content=r#"{"allowEval":false,"responseHandling":[{"code":"204","swap":false},{"code":"[2345]..","swap":true}]}"#;
                title { (shell.title) " · " (lang.t("brand")) }
                // No icon to fetch: every page would otherwise ask for /favicon.ico.
                link rel="icon" href="data:,";
                style { (maud::PreEscaped(STYLE)) }
                @for script in shell.scripts { script src=(format!("/assets/{script}")) defer {} }
            }
            body hx-headers=[headers] {
                header {
                    a.brand href=(lang.link("/")) { (lang.t("brand")) }
                    a href=(lang.link("/")) { (lang.t("storefront")) }
                    a href=(lang.link("/basket")) { (lang.t("basket")) }
                    a href=(lang.link("/order")) { (lang.t("my_order")) }
                    a href=(lang.link("/till")) { (lang.t("till")) }
                    a href=(lang.link("/console")) { (lang.t("console")) }
                    a href=(format!("{here}{}lang={}", if here.contains('?') { "&" } else { "?" }, other.code())) { (other.t("language_name")) }
                    @match shell.signed {
                        Some((name, _)) => form.inline.signout method="post" action="/logout" {
                            span { (name) } button type="submit" { (lang.t("sign_out")) }
                        },
                        None => a href=(lang.link("/login")) { (lang.t("sign_in")) },
                    }
                }
                main { (body) }
            }
        }
    }
}

/// What a refusal says: in the page's own words where it has them, and the problem's
/// `detail`.
pub(crate) fn refusal_words(lang: Lang, e: &ApiError) -> Markup {
    html! {
        @let detail = shown_detail(&e.detail);
        @match lang.refusal(&e.code) {
            Some(said) => { p.said { (said) } p.muted.detail { (detail) } }
            None => p.detail { (detail) },
        }
    }
}

/// A refusal's detail as a page shows it: a long value the caller sent is not echoed whole.
fn shown_detail(detail: &str) -> String {
    const SHOWN_MAX: usize = 300;
    match detail.char_indices().nth(SHOWN_MAX) {
        Some((cut, _)) => format!("{}…", &detail[..cut]),
        None => detail.to_owned(),
    }
}

/// A refusal as a page: its status and its problem's `detail`.
pub(crate) fn error_page(lang: Lang, e: ApiError) -> Response {
    let body = html! {
        div.card.error {
            h1 { (lang.t(if e.status == StatusCode::NOT_FOUND { "not_found" } else { "refused" })) }
            (refusal_words(lang, &e))
            p.muted data-code=(e.code) { (e.status.as_u16()) " · " (e.code) }
            p { a href=(lang.link("/")) { (lang.t("back_to_store")) } }
        }
    };
    let mut res = (e.status, Html(layout(&Shell::public(lang, lang.t("refused"), "/"), body).into_string())).into_response();
    if e.status == StatusCode::TOO_MANY_REQUESTS {
        // The limits behind a page's 429 are counted over the sign-in window.
        res.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(tongjia_domain::access::LOGIN_WINDOW_SECS));
    }
    res
}

/// On a page's address, any refusal the framework or a shared layer answered as a problem
/// document (no such page, a method or body the route does not take, a body too slow or too
/// large) is shown as a page instead, with the same status, code and detail.
pub(crate) async fn as_page(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let page_path = is_page(req.uri().path());
    let lang = Lang::from_query(req.uri().query().and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("lang="))));
    let mut res = next.run(req).await;
    if !page_path {
        return res;
    }
    guard_page(res.headers_mut());
    let problem = res.headers().get(axum::http::header::CONTENT_TYPE).is_some_and(|v| v == "application/problem+json");
    if !problem {
        return res;
    }
    let (parts, body) = res.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024).await.unwrap_or_default();
    let p: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let e = ApiError::new(parts.status, p["code"].as_str().unwrap_or("refused"), p["detail"].as_str().unwrap_or("refused"));
    let mut page = error_page(lang, e);
    guard_page(page.headers_mut());
    for name in [axum::http::header::ALLOW, axum::http::header::RETRY_AFTER, axum::http::header::WWW_AUTHENTICATE] {
        if let Some(v) = parts.headers.get(&name) {
            page.headers_mut().insert(name, v.clone());
        }
    }
    page
}

/// What every page answer carries: not framed by other sites, not sniffed, no address
/// (which may hold an order id and a mobile) sent on to other sites, and not kept by caches
/// unless it says so itself (the embedded scripts do).
/// What a page may load and run: scripts from this server only (none inline, no `eval`),
/// its own styles, images, requests and forms; never framed.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
     connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

fn guard_page(headers: &mut axum::http::HeaderMap) {
    use axum::http::{HeaderValue, header};
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

/// Whether a request comes from another site's page: the browser says so (`Sec-Fetch-Site`
/// other than `same-origin` or `none`), or its `Origin` is not this host. A client that is
/// not a browser sends neither and is not refused (it has no cookies to ride on).
pub(crate) fn cross_site(headers: &axum::http::HeaderMap) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = header("sec-fetch-site") {
        return !matches!(site, "same-origin" | "none");
    }
    match (header("origin"), header("host")) {
        (None, _) => false,
        (Some(origin), Some(host)) => origin.split_once("://").map(|(_, h)| h) != Some(host),
        (Some(_), None) => true,
    }
}

/// A page the caller may not open: someone not signed in goes to the sign-in page (an htmx
/// request is told to go there with `HX-Redirect`), anyone else sees the refusal.
pub(crate) fn denied_page(req: &axum::extract::Request, d: tongjia_domain::access::Denied) -> Response {
    let lang = Lang::from_query(req.uri().query().and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("lang="))));
    // Only a page to look at is worth coming back to after signing in; a change sent
    // without credentials is refused where it was sent.
    if matches!(d, tongjia_domain::access::Denied::Unauthenticated) && req.method() == axum::http::Method::GET {
        let here = req.uri().path_and_query().map_or("/", |p| p.as_str());
        let target = format!("/login?{}", serde_urlencoded::to_string([("next", here)]).unwrap_or_default());
        let target = if lang == Lang::En { format!("{target}&lang=en") } else { target };
        if req.headers().contains_key("hx-request") {
            let mut res = StatusCode::UNAUTHORIZED.into_response();
            if let Ok(v) = axum::http::HeaderValue::from_str(&target) {
                res.headers_mut().insert("hx-redirect", v);
            }
            return res;
        }
        return axum::response::Redirect::to(&target).into_response();
    }
    error_page(lang, crate::auth::denied(d))
}

/// This server as the browser reached it (`http://host:port`), for links that leave the
/// screen: a QR code on a receipt or a shelf label.
pub(crate) fn origin(app: &AppState, headers: &axum::http::HeaderMap) -> String {
    let host = headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok()).filter(|h| {
        !h.is_empty() && h.len() <= 255 && h.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
    });
    format!("{}://{}", if app.secure_cookies { "https" } else { "http" }, host.unwrap_or("localhost"))
}

/// A query string's fields, in order, repeats kept (`line=A*1&line=B*2`); an unreadable
/// one reads as none.
pub(crate) fn fields(raw: Option<&str>) -> Vec<(String, String)> {
    serde_urlencoded::from_str(raw.unwrap_or("")).unwrap_or_default()
}

/// The first value of `name` among `fields`, trimmed; None when absent or blank.
pub(crate) fn first<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty())
}

/// Goes to `target` after a change, whether the form was posted by htmx (`HX-Redirect`) or
/// by the browser itself (303).
pub(crate) fn go_to(headers: &axum::http::HeaderMap, target: &str) -> Response {
    let Ok(value) = axum::http::HeaderValue::from_str(target) else { return StatusCode::BAD_REQUEST.into_response() };
    if headers.contains_key("hx-request") {
        let mut res = StatusCode::OK.into_response();
        res.headers_mut().insert("hx-redirect", value);
        return res;
    }
    (StatusCode::SEE_OTHER, [(axum::http::header::LOCATION, value)]).into_response()
}

/// A page answer.
pub(crate) fn page(markup: Markup) -> Response {
    Html(markup.into_string()).into_response()
}

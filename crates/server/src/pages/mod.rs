//! Pages for people, rendered on the server (maud): the storefront at `/` and the public
//! price check at `/p/{sku_code}`. A page reads through the same storage and domain calls
//! as the API — the price is the price book's quote, stock the ledger's availability, the
//! nearest stores the locator's — and decides nothing of its own. Chinese by default, English
//! with `?lang=en`; a refusal is shown as its problem's `detail`, never as JSON.

mod price_check;
mod storefront;
mod text;

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
    Router::new().route("/", get(storefront::home)).route("/p/{sku_code}", get(price_check::check))
}

/// The stylesheet every page shares: readable at 1366 px and at 375 px.
const STYLE: &str = "
*{box-sizing:border-box}body{margin:0;font-family:'Noto Sans CJK SC','PingFang SC','Microsoft YaHei',system-ui,sans-serif;color:#1b1f24;background:#f6f7f9}
header{background:#b3121f;color:#fff;padding:.6rem 1rem;display:flex;flex-wrap:wrap;gap:.8rem;align-items:center}
header a{color:#fff;text-decoration:none}header .brand{font-weight:700;font-size:1.15rem;margin-right:auto}
main{max-width:1100px;margin:0 auto;padding:1rem}
.card{background:#fff;border-radius:8px;padding:1rem;margin:0 0 1rem;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(230px,1fr));gap:.8rem}
.price{font-size:1.8rem;font-weight:700;color:#b3121f}.muted{color:#5b6570;font-size:.9rem}
table{width:100%;border-collapse:collapse}td,th{text-align:left;padding:.35rem .4rem;border-bottom:1px solid #e3e6ea}
form.inline{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center}input,select,button{font:inherit;padding:.4rem .5rem}
.error{border-left:4px solid #b3121f}
@media (max-width:600px){main{padding:.6rem}.price{font-size:1.5rem}}
";

/// A whole page: the landing bar, the language switch, then `body`.
pub(crate) fn layout(lang: Lang, title: &str, here: &str, body: Markup) -> Markup {
    let other = lang.other();
    html! {
        (DOCTYPE)
        html lang=(lang.html_code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (lang.t("brand")) }
                style { (maud::PreEscaped(STYLE)) }
            }
            body {
                header {
                    a.brand href=(lang.link("/")) { (lang.t("brand")) }
                    a href=(lang.link("/")) { (lang.t("storefront")) }
                    a href=(format!("{here}{}lang={}", if here.contains('?') { "&" } else { "?" }, other.code())) { (other.t("language_name")) }
                }
                main { (body) }
            }
        }
    }
}

/// A refusal as a page: its status and its problem's `detail`.
pub(crate) fn error_page(lang: Lang, e: ApiError) -> Response {
    let body = html! {
        div.card.error {
            h1 { (lang.t(if e.status == StatusCode::NOT_FOUND { "not_found" } else { "refused" })) }
            p { (e.detail) }
            p { a href=(lang.link("/")) { (lang.t("back_to_store")) } }
        }
    };
    (e.status, Html(layout(lang, lang.t("refused"), "/", body).into_string())).into_response()
}

/// A page answer.
pub(crate) fn page(markup: Markup) -> Response {
    Html(markup.into_string()).into_response()
}

//! `/`: the storefront — the catalogue by category, with search, each SKU at the price
//! book's price of the moment.

use axum::extract::{Query, State};
use axum::response::Response;
use jiff::Timestamp;
use maud::html;
use serde::Deserialize;
use tongjia_domain::catalog::{check_category, check_text};
use tongjia_storage::{PageRequest, SkuFilter};

use super::{Lang, Shell, error_page, layout, page};
use crate::AppState;
use crate::problem::ApiResult;

/// SKUs shown on one page of the catalogue.
const SHOWN_MAX: u32 = 100;
/// The longest search text.
const SEARCH_LEN_MAX: usize = 100;

#[derive(Debug, Deserialize)]
pub(crate) struct HomeQuery {
    q: Option<String>,
    category: Option<String>,
    lang: Option<String>,
}

/// One SKU as the catalogue lists it.
struct Item {
    code: String,
    name: String,
    category: String,
    price: Option<String>,
}

pub(crate) async fn home(State(app): State<AppState>, Query(q): Query<HomeQuery>) -> Response {
    let lang = Lang::from_query(q.lang.as_deref());
    match items(&app, &q).await {
        Ok(items) => page(render(lang, &q, &items)),
        Err(e) => error_page(lang, e),
    }
}

async fn items(app: &AppState, q: &HomeQuery) -> ApiResult<Vec<Item>> {
    let search = q.q.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(|s| check_text("q", s, SEARCH_LEN_MAX)).transpose()?;
    let category = q.category.as_deref().map(check_category).transpose()?;
    let filter = SkuFilter { q: search, category, active: Some(true), ..Default::default() };
    let skus = app.db.skus(&filter, &PageRequest { limit: Some(SHOWN_MAX), after: None }).await?;
    let now = Timestamp::now();
    let mut out = Vec::with_capacity(skus.items.len());
    for r in skus.items {
        // The price book's quote: the same call as `GET /skus/{sku}/quote`.
        let price = app.db.quote(&r.sku.code, now, false).await.ok().map(|quote| quote.unit_price.to_string());
        out.push(Item { code: r.sku.code.to_string(), name: r.sku.name, category: r.category, price });
    }
    out.sort_by(|a, b| (&a.category, &a.name).cmp(&(&b.category, &b.name)));
    Ok(out)
}

fn render(lang: Lang, q: &HomeQuery, items: &[Item]) -> maud::Markup {
    let mut categories: Vec<&str> = items.iter().map(|i| i.category.as_str()).collect();
    categories.dedup();
    let body = html! {
        div.card {
            form.inline method="get" action="/" {
                input type="search" name="q" value=(q.q.clone().unwrap_or_default()) placeholder=(lang.t("search_hint")) aria-label=(lang.t("search"));
                @if lang == Lang::En { input type="hidden" name="lang" value="en"; }
                button type="submit" { (lang.t("search")) }
                a href=(lang.link("/")) { (lang.t("catalogue")) }
            }
        }
        @if items.is_empty() {
            div.card { p { (lang.t("no_results")) } }
        }
        @for category in &categories {
            section.card {
                h2 { a href=(lang.link(&format!("/?category={category}"))) { (category) } }
                div.grid {
                    @for item in items.iter().filter(|i| i.category == *category) {
                        div.card {
                            div { a href=(lang.link(&format!("/p/{}", item.code))) { (item.name) } }
                            div.muted { (item.code) }
                            div.price { (item.price.clone().unwrap_or_else(|| lang.t("no_price").to_owned())) }
                            @if item.price.is_some() {
                                div.inline { a.buy href=(lang.link(&format!("/buy/{}", item.code))) { (lang.t("buy")) } " " (super::basket::add_button(lang, &item.code)) }
                            }
                        }
                    }
                }
            }
        }
    };
    layout(&Shell::public(lang, lang.t("storefront"), "/"), body)
}

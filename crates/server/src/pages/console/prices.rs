//! `/console/prices`: schedule a price change for a SKU (the same `Db::schedule_price` as
//! `POST /skus/{sku}/prices`: one price for every channel and store, from a moment on), and
//! `/console/prices/{sku}`: the SKU's history, version by version, with how many stores'
//! open tills this server has told of each version that took effect.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use jiff::Timestamp;
use maud::{Markup, html};
use tongjia_domain::Fen;
use tongjia_domain::codes::SkuCode;
use tongjia_domain::pricing::{PriceChange, PriceVersion};

use super::{fields, first, frame, local};
use crate::AppState;
use crate::auth::{Caller, SessionCsrf};
use crate::pages::form::PageForm;
use crate::pages::{Lang, error_page, go_to, page};
use crate::problem::{ApiError, ApiResult};

/// The form, with the SKU to schedule for (from `?sku_code=`).
pub(super) async fn show(caller: Caller, csrf: SessionCsrf, RawQuery(q): RawQuery) -> Response {
    let f = fields(q.as_deref());
    let lang = Lang::from_query(first(&f, "lang"));
    let body = html! { (schedule_form(lang, first(&f, "sku_code").unwrap_or(""))) (batch_form(lang)) };
    page(frame(lang, &caller, &csrf, lang.t("prices"), "/console/prices", body))
}

fn batch_form(lang: Lang) -> Markup {
    html! {
        form.card #batch method="post" hx-post=(lang.link("/console/prices/batch")) hx-target="body" {
            h2 { (lang.t("csv_prices")) }
            p.muted { (lang.t("csv_prices_note")) }
            input type="hidden" name="idempotency_key" value=(uuid::Uuid::now_v7().to_string());
            textarea name="csv" rows="6" style="width:100%;font-family:monospace" placeholder="NOTE13-BLK-8-256,1299,,2026-12-12T00:00,双十二" required {}
            button.primary type="submit" { (lang.t("schedule")) }
        }
    }
}

/// The most lines one batch schedules.
const BATCH_MAX: usize = 500;

/// CSV lines as price changes; a refusal names its line.
fn batch_of(csv: &str) -> ApiResult<Vec<PriceChange>> {
    let mut out = vec![];
    for (i, line) in csv.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        if out.len() == BATCH_MAX {
            return Err(ApiError::field("csv", "too_many_lines", format!("at most {BATCH_MAX} lines at once")));
        }
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        let cell = |n: usize| cells.get(n).copied().filter(|c| !c.is_empty());
        let row = || -> ApiResult<PriceChange> {
            let sku_code = SkuCode::parse(cell(0).unwrap_or(""))?;
            Ok(PriceChange {
                sku_code,
                list_price: Fen::price(Fen::parse_yuan(cell(1).unwrap_or(""), "list_price")?.get(), "list_price")?,
                member_price: cell(2)
                    .map(|m| Fen::parse_yuan(m, "member_price").and_then(|m| Fen::price(m.get(), "member_price")))
                    .transpose()?,
                effective_at: cell(3).map(china_time).transpose()?,
                note: cell(4).map(|n| tongjia_domain::catalog::check_text("note", n, 200)).transpose()?,
            })
        };
        out.push(row().map_err(|e| ApiError::field("csv", &e.code, format!("line {}: {}", i + 1, e.detail)))?);
    }
    if out.is_empty() {
        return Err(ApiError::field("csv", "no_lines", "give at least one line"));
    }
    Ok(out)
}

/// A batch's stored answer: how many versions it scheduled.
fn render_versions(vs: &[PriceVersion]) -> String {
    serde_json::json!({ "scheduled": vs.len() }).to_string()
}

/// Schedules every line's change in one transaction, then lists what it scheduled.
pub(super) async fn schedule_batch(
    State(app): State<AppState>,
    caller: Caller,
    csrf: SessionCsrf,
    RawQuery(q): RawQuery,
    form: PageForm,
) -> Response {
    let lang = Lang::of_query(q.as_deref());
    let done = async {
        form.only(&["csv"])?;
        let changes = batch_of(form.one("csv").unwrap_or(""))?;
        let (_, fresh) = app
            .run_mutation(&form.step("prices", ()), StatusCode::CREATED, &|vs: &Vec<PriceVersion>| render_versions(vs), async |idem| {
                app.db.schedule_prices(changes, idem).await
            })
            .await?;
        ApiResult::Ok(fresh.unwrap_or_default())
    };
    match done.await {
        Ok(versions) => {
            let body = html! {
                div.card #scheduled {
                    h1 { (lang.t("scheduled_count")) " " (versions.len()) }
                    table { @for v in &versions { tr { td { a href=(lang.link(&format!("/console/prices/{}", v.sku_code))) { (v.sku_code) } } td { "v" (v.version) } td.num { (v.list_price) } td { (local(v.effective_at)) } } } }
                }
            };
            page(frame(lang, &caller, &csrf, lang.t("prices"), "/console/prices", body))
        }
        Err(e) => error_page(lang, e),
    }
}

fn schedule_form(lang: Lang, sku: &str) -> Markup {
    html! {
        form.card #schedule method="post" hx-post=(lang.link("/console/prices")) hx-target="body" {
            h1 { (lang.t("schedule_price")) }
            p.muted { (lang.t("one_price_note")) }
            input type="hidden" name="idempotency_key" value=(uuid::Uuid::now_v7().to_string());
            p { label { (lang.t("sku_code")) " " input name="sku_code" value=(sku) required; } }
            p { label { (lang.t("list_price_yuan")) " " input name="list_price" inputmode="decimal" required; } }
            p { label { (lang.t("member_price_yuan")) " " input name="member_price" inputmode="decimal"; } }
            p { label { (lang.t("effective_at_local")) " " input type="datetime-local" name="effective_at" step="1"; } " " span.muted { (lang.t("blank_is_now")) } }
            p { label { (lang.t("note")) " " input name="note" maxlength="200"; } }
            button.primary type="submit" { (lang.t("schedule")) }
        }
    }
}

/// `2026-12-12T00:00` in China's time, as the form's `datetime-local` sends it.
fn china_time(raw: &str) -> ApiResult<Timestamp> {
    let bad = || ApiError::field("effective_at", "invalid_time", "a date and time like 2026-12-12T00:00");
    let civil: jiff::civil::DateTime = raw.trim().parse().map_err(|_| bad())?;
    civil.to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(8))).map(|z| z.timestamp()).map_err(|_| bad())
}

fn change_of(form: &PageForm) -> ApiResult<PriceChange> {
    form.only(&["sku_code", "list_price", "member_price", "effective_at", "note"])?;
    let sku_code = SkuCode::parse(form.one("sku_code").unwrap_or("")).map_err(|e| e.at("sku_code"))?;
    let list = Fen::parse_yuan(form.one("list_price").unwrap_or(""), "list_price")?;
    let member = form.one("member_price").map(|m| Fen::parse_yuan(m, "member_price")).transpose()?;
    Ok(PriceChange {
        sku_code,
        list_price: Fen::price(list.get(), "list_price")?,
        member_price: member.map(|m| Fen::price(m.get(), "member_price")).transpose()?,
        effective_at: form.one("effective_at").map(china_time).transpose()?,
        note: form.one("note").map(|n| tongjia_domain::catalog::check_text("note", n, 200)).transpose()?,
    })
}

fn render_version(v: &PriceVersion) -> String {
    serde_json::json!({ "sku_code": v.sku_code, "price_version": v.version }).to_string()
}

/// Schedules the change, then shows the SKU's history.
pub(super) async fn schedule(State(app): State<AppState>, headers: HeaderMap, RawQuery(q): RawQuery, form: PageForm) -> Response {
    let lang = Lang::of_query(q.as_deref());
    let done = async {
        let change = change_of(&form)?;
        let sku = change.sku_code.clone();
        app.run_mutation(&form.step("price", ()), StatusCode::CREATED, &render_version, async |idem| {
            app.db.schedule_price(change, idem).await
        })
        .await?;
        ApiResult::Ok(sku)
    };
    match done.await {
        Ok(sku) => go_to(&headers, &lang.link(&format!("/console/prices/{sku}"))),
        Err(e) => error_page(lang, e),
    }
}

/// A SKU's price history, newest version first.
pub(super) async fn history(
    State(app): State<AppState>,
    caller: Caller,
    csrf: SessionCsrf,
    Path(raw): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let lang = Lang::of_query(q.as_deref());
    let loaded = async {
        let code = SkuCode::parse(&raw)?;
        let sku = app.db.sku(code.as_str()).await?.ok_or_else(|| ApiError::not_found("sku_not_found", format!("no SKU {code}")))?;
        let versions = app.db.price_versions(&code).await?;
        let quote = app.db.quote(&code, Timestamp::now(), false).await.ok();
        ApiResult::Ok((sku.sku.name, code, versions, quote.map(|q| q.price_version)))
    };
    let (name, code, mut versions, in_force) = match loaded.await {
        Ok(l) => l,
        Err(e) => return error_page(lang, e),
    };
    versions.sort_by_key(|v| std::cmp::Reverse(v.version));
    let now = Timestamp::now();
    let here = format!("/console/prices/{code}");
    let body = html! {
        div.card {
            h1 { (name) " " span.muted { (code) } }
            p { a href=(lang.link(&format!("/console/prices?sku_code={code}"))) { (lang.t("schedule_price")) } " · "
                a href=(lang.link(&format!("/p/{code}"))) { (lang.t("price_check")) } " · "
                a href=(lang.link(&format!("/console/labels?sku_code={code}"))) { (lang.t("shelf_labels")) } }
            // Asked for again every two seconds: the count of tills told grows as they hear.
            table #history hx-get=(lang.link(&here)) hx-select="#history" hx-target="this" hx-swap="outerHTML" hx-trigger="every 2s" {
                tr { th { (lang.t("price_version")) } th.num { (lang.t("price")) } th.num { (lang.t("member_price")) } th { (lang.t("since")) } th { (lang.t("note")) } th.num { (lang.t("tills_told")) } }
                @for v in &versions {
                    tr data-version=(v.version) {
                        td { "v" (v.version) @if Some(v.version) == in_force { " " strong { (lang.t("in_force")) } } @else if v.effective_at > now { " " span.muted { (lang.t("scheduled")) } } }
                        td.num { (v.list_price) }
                        td.num { (v.member_price.map(|m| m.to_string()).unwrap_or_default()) }
                        td { (local(v.effective_at)) }
                        td { (v.note.clone().unwrap_or_default()) }
                        td.num.reach { @if v.effective_at <= now { (app.price_clock.reach(code.as_str(), v.version)) } }
                    }
                }
            }
            p.muted { (lang.t("tills_told_note")) }
        }
    };
    page(frame(lang, &caller, &csrf, lang.t("prices"), &here, body))
}

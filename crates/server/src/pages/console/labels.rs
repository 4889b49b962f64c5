//! `/console/labels`: shelf labels to print — an A4 sheet of 24 labels (3 × 8, 70 × 37 mm),
//! each with the SKU's name, the one price and the member price from the price book, the
//! version and since when, and a QR code to its price check (`/p/{sku}`), drawn as SVG on
//! the server. `?sku_code=` (repeatable) picks the SKUs; without, the catalogue's first.

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use jiff::Timestamp;
use maud::{PreEscaped, html};
use std::fmt::Write;
use tongjia_domain::codes::SkuCode;
use tongjia_storage::{PageRequest, SkuFilter};

use super::{fields, first, frame, local};
use crate::AppState;
use crate::auth::{Caller, SessionCsrf};
use crate::pages::{Lang, error_page, origin, page};
use crate::problem::{ApiError, ApiResult};

/// Labels on one sheet: three across, eight down.
const ACROSS: usize = 3;
const DOWN: usize = 8;
const LABEL_W: f64 = 70.0;
const LABEL_H: f64 = 37.125;

/// One label's text.
struct Label {
    code: String,
    name: String,
    price: String,
    member: Option<String>,
    version: String,
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

async fn labels(app: &AppState, lang: Lang, asked: Vec<&str>) -> ApiResult<Vec<Label>> {
    let codes: Vec<SkuCode> = if asked.is_empty() {
        let page = app
            .db
            .skus(
                &SkuFilter { active: Some(true), ..Default::default() },
                &PageRequest { limit: Some((ACROSS * DOWN) as u32), after: None },
            )
            .await?;
        page.items.into_iter().map(|r| r.sku.code).collect()
    } else {
        asked.into_iter().take(ACROSS * DOWN).map(SkuCode::parse).collect::<Result<_, _>>()?
    };
    let now = Timestamp::now();
    let mut out = vec![];
    for code in codes {
        let sku = app.db.sku(code.as_str()).await?.ok_or_else(|| ApiError::not_found("sku_not_found", format!("no SKU {code}")))?;
        let Ok(q) = app.db.quote(&code, now, false).await else { continue };
        out.push(Label {
            code: code.to_string(),
            name: sku.sku.name,
            price: q.list_price.to_string(),
            member: q.member_price.map(|m| format!("{} {m}", lang.t("member_price"))),
            version: format!("v{} · {} {}", q.price_version, lang.t("since"), local(q.effective_at)),
        });
    }
    Ok(out)
}

/// The A4 sheet (millimetres throughout).
fn sheet(labels: &[Label], origin: &str) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg id="label-sheet" xmlns="http://www.w3.org/2000/svg" width="210mm" height="297mm" viewBox="0 0 210 297" font-family="'Noto Sans CJK SC',sans-serif">"##
    );
    s.push_str(r##"<rect width="210" height="297" fill="#fff"/>"##);
    for (i, l) in labels.iter().enumerate() {
        let (x, y) = ((i % ACROSS) as f64 * LABEL_W, (i / ACROSS) as f64 * LABEL_H);
        let name: String = l.name.chars().take(22).collect();
        let _ = write!(
            s,
            r##"<g class="label" data-sku="{code}"><rect x="{x:.2}" y="{y:.2}" width="{LABEL_W}" height="{LABEL_H}" fill="none" stroke="#bbb" stroke-width="0.2" stroke-dasharray="1 1"/><text x="{tx:.2}" y="{ny:.2}" font-size="3.4">{name}</text><text x="{tx:.2}" y="{py:.2}" font-size="8" font-weight="700" fill="#b3121f">{price}</text><text x="{tx:.2}" y="{my:.2}" font-size="2.8">{member}</text><text x="{tx:.2}" y="{vy:.2}" font-size="2.3" fill="#555">{version}</text><text x="{tx:.2}" y="{cy:.2}" font-size="2.3" fill="#555">{code}</text>{qr}</g>"##,
            code = escape(&l.code),
            tx = x + 3.0,
            ny = y + 7.0,
            py = y + 17.5,
            my = y + 23.0,
            vy = y + 28.0,
            cy = y + 32.0,
            name = escape(&name),
            price = escape(&l.price),
            member = escape(l.member.as_deref().unwrap_or("")),
            version = escape(&l.version),
            qr = crate::pages::qr::path(&format!("{origin}/p/{}", l.code), x + LABEL_W - 24.0, y + 7.0, 22.0),
        );
    }
    s.push_str("</svg>");
    s
}

pub(super) async fn sheet_page(
    State(app): State<AppState>,
    caller: Caller,
    csrf: SessionCsrf,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let f = fields(q.as_deref());
    let lang = Lang::from_query(first(&f, "lang"));
    let asked: Vec<&str> = f.iter().filter(|(k, v)| k == "sku_code" && !v.trim().is_empty()).map(|(_, v)| v.trim()).collect();
    let found = match labels(&app, lang, asked).await {
        Ok(l) => l,
        Err(e) => return error_page(lang, e),
    };
    let body = html! {
        div.card.no-print {
            h1 { (lang.t("shelf_labels")) }
            p.muted { (lang.t("labels_note")) }
            button type="button" data-action="print" { (lang.t("print")) }
        }
        div.labels { (PreEscaped(sheet(&found, &origin(&app, &headers)))) }
    };
    page(frame(lang, &caller, &csrf, lang.t("shelf_labels"), "/console/labels", body))
}

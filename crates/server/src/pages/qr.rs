//! QR codes drawn as SVG on the server (the `qrcode` crate encodes; the modules are drawn
//! here as one path), for receipts and shelf labels: a phone's camera opens the price check.

use std::fmt::Write;

/// The dark modules of `text`'s QR code as an SVG path in a `size`-wide square at (`x`, `y`)
/// (any unit: pixels on a receipt, millimetres on a label sheet), with a quiet zone of two
/// modules; empty if the text is too long for a QR code.
pub(crate) fn path(text: &str, x: f64, y: f64, size: f64) -> String {
    let Ok(code) = qrcode::QrCode::new(text.as_bytes()) else { return String::new() };
    let n = code.width();
    let module = size / (n + 4) as f64;
    let mut d = String::new();
    for (i, color) in code.to_colors().iter().enumerate() {
        if *color == qrcode::Color::Dark {
            let (col, row) = ((i % n + 2) as f64, (i / n + 2) as f64);
            let _ = write!(d, "M{:.3} {:.3}h{module:.3}v{module:.3}h-{module:.3}z", x + col * module, y + row * module);
        }
    }
    format!(r##"<path fill="#000" d="{d}"/>"##)
}

/// `text`'s QR code as an inline SVG `px` pixels wide.
pub(crate) fn svg(text: &str, px: u32) -> String {
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100" width="{px}" height="{px}"><rect width="100" height="100" fill="#fff"/>{}</svg>"##,
        path(text, 0.0, 0.0, 100.0)
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_url_becomes_a_path_of_modules_and_too_much_text_becomes_nothing() {
        let p = super::path("http://127.0.0.1:8080/p/NOTE13-BLK", 0.0, 0.0, 20.0);
        assert!(p.starts_with("<path") && p.matches('M').count() > 100, "{}", &p[..80]);
        assert!(super::path(&"x".repeat(10_000), 0.0, 0.0, 20.0).is_empty());
    }
}

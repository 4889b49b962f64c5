//! `/assets/{name}`: the pages' scripts, embedded in the binary — htmx as installed from npm
//! by `scripts/vendor-assets` (pinned in `assets/package.json`), and the till's own script.
//! Nothing is fetched from elsewhere at run time.

use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::problem::ApiError;

/// (name, content type, bytes).
const ASSETS: &[(&str, &str, &str)] = &[
    ("htmx.min.js", "text/javascript; charset=utf-8", include_str!("../../assets/vendor/htmx.min.js")),
    ("pages.js", "text/javascript; charset=utf-8", include_str!("../../assets/pages.js")),
    ("till.js", "text/javascript; charset=utf-8", include_str!("../../assets/till.js")),
];

pub(crate) async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, ..)| *n == name) {
        Some((_, kind, body)) => {
            let mut res = (*body).into_response();
            res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
            res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
            res
        }
        None => ApiError::not_found("asset_not_found", format!("no asset {name}")).into_response(),
    }
}

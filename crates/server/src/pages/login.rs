//! `/login` and `/logout`: staff sign in with username and password in a page and get the
//! same session as `POST /api/v1/sessions` (an HTTP-only, SameSite=Strict cookie, its CSRF
//! token rendered into the pages they open), with the same limits on failed tries.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;
use tongjia_domain::access::SESSION_SECS;

use super::form::PageForm;
use super::{Lang, Shell, layout, page};
use crate::AppState;
use crate::auth::{secrets, session_secret};
use crate::http::sessions::{Peer, authenticate, session_cookie, start_session};
use crate::problem::ApiError;

#[derive(Debug, Deserialize)]
pub(crate) struct LoginQuery {
    next: Option<String>,
    lang: Option<String>,
}

/// Where to go after signing in: a path of this server only, never another site — one `/`,
/// then only the characters of a path and query (no spaces, tabs or line breaks, which
/// browsers drop or reject, no backslash, which some read as `/`).
pub(crate) fn safe_next(next: Option<&str>) -> String {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"-._~/?=&%:+,@!$'()*;".contains(&b);
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && n.len() <= 512 && n.bytes().all(allowed) => n.to_owned(),
        _ => "/till".to_owned(),
    }
}

fn render(lang: Lang, next: &str, problem: Option<&str>) -> maud::Markup {
    let body = html! {
        div.card style="max-width:420px;margin:2rem auto" {
            h1 { (lang.t("sign_in")) }
            @if let Some(p) = problem { p.error.card role="alert" { (p) } }
            form method="post" action=(lang.link("/login")) {
                input type="hidden" name="next" value=(next);
                p { label { (lang.t("username")) br; input name="username" autocomplete="username" required autofocus; } }
                p { label { (lang.t("password")) br; input type="password" name="password" autocomplete="current-password" required; } }
                button.primary type="submit" { (lang.t("sign_in")) }
            }
        }
    };
    layout(&Shell::public(lang, lang.t("sign_in"), "/login"), body)
}

pub(crate) async fn form(Query(q): Query<LoginQuery>) -> Response {
    let lang = Lang::from_query(q.lang.as_deref());
    page(render(lang, &safe_next(q.next.as_deref()), None))
}

/// Signs in and goes on to `next`; a refusal shows the form again with its detail.
pub(crate) async fn sign_in(State(app): State<AppState>, Query(q): Query<LoginQuery>, Peer(address): Peer, form: PageForm) -> Response {
    let lang = Lang::from_query(q.lang.as_deref());
    let next = safe_next(form.one("next"));
    let refused = |e: ApiError| {
        let said = lang.said(&e.code, &e.detail);
        (e.status, page(render(lang, &next, Some(&said)))).into_response()
    };
    if let Err(e) = form.only(&["next", "username", "password"]) {
        return refused(e);
    }
    let (username, password) = (form.one("username").unwrap_or(""), form.all("password").next().unwrap_or(""));
    let principal = match authenticate(&app, username, password, &address).await {
        Ok(Ok(p)) => p,
        Ok(Err(_wait)) => {
            return refused(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_sign_ins",
                "too many failed sign-ins: wait before trying again",
            ));
        }
        Err(e) => return refused(e),
    };
    match start_session(&app, &principal, &form.mutation.audit).await {
        Ok(s) => {
            let mut res = (StatusCode::SEE_OTHER, [(header::LOCATION, next)]).into_response();
            res.headers_mut().insert(header::SET_COOKIE, session_cookie(Some(&s.secret), SESSION_SECS, app.secure_cookies));
            res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }
        Err(e) => refused(e),
    }
}

/// Ends the session (if any) and goes back to the sign-in page.
pub(crate) async fn sign_out(State(app): State<AppState>, headers: HeaderMap, form: PageForm) -> Response {
    if let Some(secret) = session_secret(&headers)
        && let Err(e) = app.db.end_session(&secrets::digest(&secret), Some(&form.mutation.audit)).await
    {
        return ApiError::from(e).into_response();
    }
    let mut res = (StatusCode::SEE_OTHER, [(header::LOCATION, "/login")]).into_response();
    res.headers_mut().insert(header::SET_COOKIE, session_cookie(None, 0, app.secure_cookies));
    res
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_a_path_of_this_server_is_a_place_to_go_next() {
        for ok in ["/till/D-1", "/console/prices?sku_code=A-1", "/p/X?division_code=330106&lang=en"] {
            assert_eq!(super::safe_next(Some(ok)), ok);
        }
        for bad in ["//evil.com", "/\t/evil.com", "/\n/evil.com", "/ /x", "/\\evil.com", "https://evil.com", "evil", "/\u{3000}x"] {
            assert_eq!(super::safe_next(Some(bad)), "/till", "{bad:?}");
        }
    }
}

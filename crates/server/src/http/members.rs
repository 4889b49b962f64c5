//! Members sign in with a code sent to their mobile: `POST /member-codes` sends one (the
//! same answer for a member and a non-member), `POST /member-sessions` trades it for a
//! session. At a till, the member gives the code instead and the clerk sends it with the
//! order as `member_code` to spend points.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tongjia_domain::access::MEMBER_CODE_SECS;
use tongjia_domain::customer::Mobile;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::sessions::{Peer, PrincipalView, open_session};
use crate::AppState;
use crate::auth::{codes, member_principal};
use crate::extract::Mutation;
use crate::problem::{ApiError, ApiResult, Problem};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(request_code)).routes(routes!(member_sign_in))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CodeRequest {
    customer_mobile: String,
}

/// A code is on its way (whether or not the number is a member).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CodeSent {
    /// The mobile, masked.
    sent_to: String,
    expires_in_seconds: i64,
}

#[utoipa::path(post, path = "/api/v1/member-codes", tag = "access", request_body = CodeRequest,
    responses((status = 202, body = CodeSent), (status = 429, body = Problem, headers(("Retry-After" = u64, description = "seconds until a new code may be sent")))))]
async fn request_code(State(app): State<AppState>, Peer(address): Peer, m: Mutation<CodeRequest>) -> ApiResult<Response> {
    let mobile = Mobile::parse(&m.body.customer_mobile)?;
    if let Err(wait) = codes::send_code(&app, &mobile, &address).await? {
        let mut res = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "code_sent_recently",
            "a code was sent to this mobile a moment ago: wait, then ask again",
        )
        .into_response();
        res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait));
        return Ok(res);
    }
    Ok((StatusCode::ACCEPTED, axum::Json(CodeSent { sent_to: mobile.masked(), expires_in_seconds: MEMBER_CODE_SECS })).into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MemberSignIn {
    customer_mobile: String,
    /// The six digits sent to the mobile.
    code: String,
}

#[utoipa::path(post, path = "/api/v1/member-sessions", tag = "access", request_body = MemberSignIn,
    responses((status = 201, body = PrincipalView, headers(("Set-Cookie" = String, description = "the session cookie"))), (status = 422, body = Problem), (status = 429, body = Problem)))]
async fn member_sign_in(State(app): State<AppState>, Peer(address): Peer, m: Mutation<MemberSignIn>) -> ApiResult<Response> {
    let mobile = Mobile::parse(&m.body.customer_mobile)?;
    codes::use_code(&app, &mobile, &m.body.code, &address).await?;
    tracing::info!(mobile = %mobile.masked(), "member signed in");
    open_session(&app, &member_principal(mobile), &m.audit).await
}

//! Members prove who they are with a one-time code sent to their mobile: to sign in, or to
//! let a till spend their points. Codes go out through a [`CodeSender`] — the demo and the
//! tests use [`LogFileSender`], which appends each message to a file; a real deployment
//! implements the trait over its SMS gateway (Aliyun SMS, Tencent Cloud SMS…).

use jiff::{SignedDuration, Timestamp};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use tongjia_domain::access::{self, CodeRefusal, MEMBER_CODE_SECS};
use tongjia_domain::customer::Mobile;

use crate::AppState;
use crate::auth::secrets;
use crate::problem::{ApiError, ApiResult};
use axum::http::StatusCode;

/// Sends a text message to a mobile. `send` must not block for long (queue it if the
/// gateway is slow); an error is answered `503 code_not_sent` and the code is not kept.
pub trait CodeSender: Send + Sync + std::fmt::Debug {
    fn send(&self, mobile: &Mobile, text: &str) -> Result<(), String>;
}

/// Appends every message as one line (`time<TAB>mobile<TAB>text`) to a file: the demo's and
/// the tests' SMS gateway.
#[derive(Debug)]
pub struct LogFileSender {
    path: PathBuf,
    lock: Mutex<()>,
}

impl LogFileSender {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        LogFileSender { path: path.into(), lock: Mutex::new(()) }
    }
}

impl CodeSender for LogFileSender {
    fn send(&self, mobile: &Mobile, text: &str) -> Result<(), String> {
        let _one_at_a_time = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&self.path).map_err(|e| e.to_string())?;
        writeln!(file, "{}\t{mobile}\t{text}", Timestamp::now()).map_err(|e| e.to_string())
    }
}

/// What the per-address limits count.
const SENT: &str = "member_code_sent";
const WRONG: &str = "member_code_wrong";

/// Claims one request of `kind` from `key` against its limit in the sign-in window
/// (`access::within_limit`): `None` when the limit is reached. Requests at once are each
/// counted before the next is decided.
pub(crate) async fn claim(app: &AppState, kind: &str, key: &str, limit: i64) -> ApiResult<Option<uuid::Uuid>> {
    let since = app.db.now().checked_sub(SignedDuration::from_secs(access::LOGIN_WINDOW_SECS)).unwrap_or(Timestamp::MIN);
    Ok(app.db.claim_throttle(kind, key, since, |count| access::within_limit(count, limit)).await?)
}

/// Whether `key` has reached `limit` requests of `kind` within the window (a read: for a
/// request that is not itself counted).
pub(crate) async fn over_limit(app: &AppState, kind: &str, key: &str, limit: i64) -> ApiResult<bool> {
    let since = app.db.now().checked_sub(SignedDuration::from_secs(access::LOGIN_WINDOW_SECS)).unwrap_or(Timestamp::MIN);
    Ok(!access::within_limit(app.db.throttle_count(kind, key, since).await?, limit))
}

/// Six random digits, each digit equally likely.
fn new_code() -> String {
    let mut out = String::with_capacity(6);
    while out.len() < 6 {
        let mut b = [0u8; 1];
        getrandom::fill(&mut b).expect("the operating system's random source");
        // 250 = 25 × 10: take only bytes below it so that every digit is as likely.
        if b[0] < 250 {
            out.push(char::from(b'0' + b[0] % 10));
        }
    }
    out
}

fn code_hash(mobile: &Mobile, code: &str) -> String {
    secrets::digest(&format!("{mobile}:{code}"))
}

/// Sends `mobile` a new code (replacing any earlier one). The answer is the same whether
/// the number is a member or not; within a minute of the last code nothing is sent and
/// `Ok(Err(seconds))` says how long to wait.
pub(crate) async fn send_code(app: &AppState, mobile: &Mobile, address: &str) -> ApiResult<Result<(), i64>> {
    let now = app.db.now();
    let Some(claim) = claim(app, SENT, address, access::MEMBER_CODES_PER_ADDRESS).await? else {
        return Ok(Err(access::LOGIN_WINDOW_SECS));
    };
    let last = app.db.member_code(mobile.as_str()).await?;
    if let Err(wait) = access::may_send_code(last.as_ref().map(|(c, _)| c), now.as_microsecond()) {
        app.db.release_throttle(claim).await?;
        return Ok(Err(wait.max(1)));
    }
    let code = new_code();
    let expires_at = now.checked_add(SignedDuration::from_secs(MEMBER_CODE_SECS)).unwrap_or(Timestamp::MAX);
    app.db.store_member_code(mobile.as_str(), &code_hash(mobile, &code), expires_at).await?;
    let text = format!("【同价】您的验证码是 {code}，{} 分钟内有效。请勿告诉他人。", MEMBER_CODE_SECS / 60);
    if let Err(e) = app.code_sender.send(mobile, &text) {
        tracing::error!(mobile = %mobile.masked(), error = %e, "the code could not be sent");
        return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "code_not_sent", "the code could not be sent: try again later"));
    }
    tracing::info!(mobile = %mobile.masked(), "member code sent");
    Ok(Ok(()))
}

/// Checks and uses up the code `mobile` was sent: 422 `invalid_code` for a wrong one (five
/// wrong tries end it), 422 `code_expired` when there is none to check.
pub(crate) async fn use_code(app: &AppState, mobile: &Mobile, code: &str, address: &str) -> ApiResult<()> {
    let Some(claim) = claim(app, WRONG, address, access::MEMBER_CODE_FAILURES_PER_ADDRESS).await? else {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_code_tries",
            "too many wrong codes from this address: wait before trying again",
        ));
    };
    let given = code_hash(mobile, code.trim());
    let now = app.db.now().as_microsecond();
    let checked = app
        .db
        .try_member_code(mobile.as_str(), |hash| secrets::same(hash, &given), |sent, matches| access::check_code(sent, matches, now))
        .await?;
    // Only a wrong code counts against the address.
    if !matches!(checked, Err(CodeRefusal::Wrong)) {
        app.db.release_throttle(claim).await?;
    }
    match checked {
        Ok(()) => Ok(()),
        Err(CodeRefusal::NoLiveCode) => Err(ApiError::field("code", "code_expired", "no live code for this mobile: ask for a new one")),
        Err(CodeRefusal::Wrong) => {
            tracing::warn!(mobile = %mobile.masked(), "wrong member code");
            Err(ApiError::field("code", "invalid_code", "that is not the code sent"))
        }
    }
}

//! The simulator provider: notifications signed with HMAC-SHA256 under a shared secret,
//! laid out as WeChat Pay's v3 notifications are (timestamp, nonce and body, each followed by
//! a newline, signed; the signature in a header) — so the path a real provider's
//! notification takes is the one the demo and the tests drive. Refunds are appended to a
//! log file, one JSON line each.
//!
//! Headers: `Tongjia-Timestamp` (Unix seconds), `Tongjia-Nonce` (1–64 visible characters),
//! `Tongjia-Signature` (hex). Body: `{"transaction_id": "...", "order_id": "<uuid>",
//! "amount_fen": 19900}`.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use jiff::Timestamp;
use serde::Deserialize;
use sha2::Sha256;
use tongjia_domain::Fen;
use tongjia_domain::payments::{Notification, NotificationRefusal, check_fresh};
use tongjia_storage::PendingRefund;

use super::PaymentProvider;
use crate::auth::secrets;

/// The headers a simulator notification carries.
pub const TIMESTAMP_HEADER: &str = "tongjia-timestamp";
pub const NONCE_HEADER: &str = "tongjia-nonce";
pub const SIGNATURE_HEADER: &str = "tongjia-signature";

/// The longest transaction id a notification may carry.
const TRANSACTION_ID_MAX: usize = 64;

/// The simulator, with its secret and the file its refunds go to.
pub struct Simulator {
    secret: Vec<u8>,
    refunds: PathBuf,
    lock: Mutex<()>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator").field("refunds", &self.refunds).finish_non_exhaustive()
    }
}

impl Simulator {
    pub fn new(secret: &str, refunds: impl Into<PathBuf>) -> Self {
        Simulator { secret: secret.as_bytes().to_vec(), refunds: refunds.into(), lock: Mutex::new(()) }
    }
}

/// The signature of a notification: hex HMAC-SHA256 under `secret` of
/// `timestamp\nnonce\nbody\n`.
pub fn sign(secret: &str, timestamp: i64, nonce: &str, body: &[u8]) -> String {
    hex::encode(mac(secret.as_bytes(), timestamp, nonce, body).finalize().into_bytes())
}

fn mac(secret: &[u8], timestamp: i64, nonce: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(format!("{timestamp}\n{nonce}\n").as_bytes());
    mac.update(body);
    mac.update(b"\n");
    mac
}

/// The headers of a signed notification of `body`, as the simulator sends it now.
pub fn signed_headers(secret: &str, body: &[u8]) -> [(&'static str, String); 3] {
    signed_with(secret.as_bytes(), body)
}

fn signed_with(secret: &[u8], body: &[u8]) -> [(&'static str, String); 3] {
    let timestamp = Timestamp::now().as_second();
    let nonce = secrets::random_secret("")[..32].to_owned();
    let signature = hex::encode(mac(secret, timestamp, &nonce, body).finalize().into_bytes());
    [(TIMESTAMP_HEADER, timestamp.to_string()), (NONCE_HEADER, nonce), (SIGNATURE_HEADER, signature)]
}

/// What a simulator notification says.
#[derive(Deserialize)]
struct Body {
    transaction_id: String,
    order_id: String,
    amount_fen: i64,
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Result<&'h str, NotificationRefusal> {
    headers.get(name).and_then(|v| v.to_str().ok()).ok_or(NotificationRefusal::BadSignature)
}

impl PaymentProvider for Simulator {
    fn verify(&self, headers: &HeaderMap, body: &[u8], now: Timestamp) -> Result<Notification, NotificationRefusal> {
        let timestamp: i64 = header(headers, TIMESTAMP_HEADER)?.parse().map_err(|_| NotificationRefusal::BadSignature)?;
        let nonce = header(headers, NONCE_HEADER)?;
        let signature = hex::decode(header(headers, SIGNATURE_HEADER)?).map_err(|_| NotificationRefusal::BadSignature)?;
        if nonce.is_empty() || nonce.len() > 64 || !nonce.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(NotificationRefusal::BadSignature);
        }
        // `verify_slice` compares in constant time.
        mac(&self.secret, timestamp, nonce, body).verify_slice(&signature).map_err(|_| NotificationRefusal::BadSignature)?;
        check_fresh(Timestamp::from_second(timestamp).map_err(|_| NotificationRefusal::Stale)?, now)?;
        let b: Body = serde_json::from_slice(body).map_err(|e| NotificationRefusal::Malformed(e.to_string()))?;
        let tx = b.transaction_id.trim();
        if tx.is_empty() || tx.len() > TRANSACTION_ID_MAX || !tx.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_') {
            return Err(NotificationRefusal::Malformed(format!(
                "transaction_id must be 1-{TRANSACTION_ID_MAX} letters, digits, '-' or '_'"
            )));
        }
        let order_id = uuid::Uuid::parse_str(&b.order_id).map_err(|_| NotificationRefusal::Malformed("order_id is not a UUID".into()))?;
        if b.amount_fen < 0 {
            return Err(NotificationRefusal::Malformed("amount_fen cannot be negative".into()));
        }
        Ok(Notification { transaction_id: tx.to_owned(), order_id, amount: Fen::new(b.amount_fen) })
    }

    fn shopper_checkout(&self, order_id: uuid::Uuid, amount: Fen) -> Option<(HeaderMap, Vec<u8>)> {
        let transaction = format!("sim-{}", uuid::Uuid::now_v7().simple());
        let body =
            serde_json::json!({ "transaction_id": transaction, "order_id": order_id, "amount_fen": amount.get() }).to_string().into_bytes();
        let mut headers = HeaderMap::new();
        for (name, value) in signed_with(&self.secret, &body) {
            headers.insert(name, value.parse().ok()?);
        }
        Some((headers, body))
    }

    fn refund(&self, refund: &PendingRefund) -> Result<(), String> {
        let _one_at_a_time = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let line = serde_json::json!({
            "refund_id": refund.id,
            "order_id": refund.order_id,
            "transaction_id": refund.payment_reference,
            "amount_fen": refund.amount.get(),
            "at": Timestamp::now(),
        });
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&self.refunds).map_err(|e| e.to_string())?;
        writeln!(file, "{line}").map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notification(secret: &str, body: &str, at: i64) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(TIMESTAMP_HEADER, at.to_string().parse().unwrap());
        h.insert(NONCE_HEADER, "abc".parse().unwrap());
        h.insert(SIGNATURE_HEADER, sign(secret, at, "abc", body.as_bytes()).parse().unwrap());
        h
    }

    #[test]
    fn only_a_fresh_notification_signed_with_the_secret_is_believed() {
        let sim = Simulator::new("s3cret", "/dev/null");
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let body = r#"{"transaction_id":"4200-1","order_id":"0190c0de-0000-7000-8000-000000000001","amount_fen":19900}"#;
        let n = sim.verify(&notification("s3cret", body, now.as_second()), body.as_bytes(), now).unwrap();
        assert_eq!((n.transaction_id.as_str(), n.amount), ("4200-1", Fen::new(19_900)));
        let forged = notification("guess", body, now.as_second());
        assert_eq!(sim.verify(&forged, body.as_bytes(), now), Err(NotificationRefusal::BadSignature));
        let changed = body.replace("19900", "1");
        let signed = notification("s3cret", body, now.as_second());
        assert_eq!(sim.verify(&signed, changed.as_bytes(), now), Err(NotificationRefusal::BadSignature), "the amount is signed");
        let old = notification("s3cret", body, now.as_second() - 301);
        assert_eq!(sim.verify(&old, body.as_bytes(), now), Err(NotificationRefusal::Stale), "a captured notification expires");
        assert_eq!(sim.verify(&HeaderMap::new(), body.as_bytes(), now), Err(NotificationRefusal::BadSignature));
    }
}

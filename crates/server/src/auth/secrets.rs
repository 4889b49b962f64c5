//! Secrets: random session and token secrets (stored only as their SHA-256), argon2id
//! password hashes (computed off the async workers), and comparisons in constant time.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use sha2::{Digest, Sha256};

/// Bytes of randomness in every session, CSRF and token secret.
const SECRET_BYTES: usize = 32;

/// A new random secret: `prefix` then 64 hex digits.
pub fn random_secret(prefix: &str) -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    getrandom::fill(&mut bytes).expect("the operating system's random source");
    format!("{prefix}{}", hex::encode(bytes))
}

/// The SHA-256 of a secret, hex: what the database keeps instead of it. A secret of 256
/// random bits needs no salt or slow hash.
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Whether two texts are equal, in time that does not depend on where they differ.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The argon2id hash of a password (PHC string), computed on a blocking thread.
pub async fn hash_password(password: &str) -> String {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).expect("the operating system's random source");
        let salt = SaltString::encode_b64(&salt).expect("16 bytes make a salt");
        argon2::Argon2::default().hash_password(password.as_bytes(), &salt).expect("argon2id hashes any password").to_string()
    })
    .await
    .expect("hashing does not panic")
}

/// A hash no password matches, verified when the account does not exist so that a wrong
/// username takes as long as a wrong password.
const NO_ACCOUNT_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$9sTbSlTio3Biev89thdrlKKiCaYsjjYVJxGAL3swxpQ";

/// Whether `password` matches `hash` (or, with no hash, takes as long to say no).
pub async fn verify_password(password: &str, hash: Option<&str>) -> bool {
    let password = password.to_owned();
    let (hash, real) = match hash {
        Some(h) => (h.to_owned(), true),
        None => (NO_ACCOUNT_HASH.to_owned(), false),
    };
    tokio::task::spawn_blocking(move || {
        let Ok(parsed) = PasswordHash::new(&hash) else { return false };
        argon2::Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok() && real
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passwords_verify_against_their_hash_only() {
        let hash = hash_password("correct horse battery").await;
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", Some(&hash)).await);
        assert!(!verify_password("wrong horse battery", Some(&hash)).await);
        assert!(!verify_password("correct horse battery", None).await);
        assert!(PasswordHash::new(NO_ACCOUNT_HASH).is_ok());
    }

    #[test]
    fn secrets_are_random_and_kept_as_digests() {
        let (a, b) = (random_secret("tjt_"), random_secret("tjt_"));
        assert_ne!(a, b);
        assert_eq!(a.len(), 4 + 64);
        assert_eq!(digest(&a).len(), 64);
        assert!(same(&a, &a.clone()) && !same(&a, &b) && !same("a", "ab"));
    }
}

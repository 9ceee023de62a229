//! Signed webhooks per the Standard Webhooks convention: `webhook-id` (the idempotency key, the
//! same on every retry), `webhook-timestamp` (unix seconds) and
//! `webhook-signature: v1,<base64(HMAC-SHA256(secret, "<id>.<timestamp>.<body>"))>`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SigningKeyError {
    #[error("webhook secret is not base64 (expected whsec_<base64>)")]
    NotBase64,
    #[error("webhook secret is empty")]
    Empty,
}

/// A signing secret. `Debug` never shows the key.
#[derive(Clone)]
pub struct WebhookSecret(Vec<u8>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

impl WebhookSecret {
    /// Parses `whsec_<base64>` (or bare base64).
    pub fn parse(s: &str) -> Result<Self, SigningKeyError> {
        let b64 = s.trim().strip_prefix("whsec_").unwrap_or(s.trim());
        let key = STANDARD
            .decode(b64)
            .map_err(|_| SigningKeyError::NotBase64)?;
        if key.is_empty() {
            return Err(SigningKeyError::Empty);
        }
        Ok(Self(key))
    }
}

/// The three headers of a signed delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    pub id: String,
    pub timestamp: i64,
    pub signature: String,
}

pub fn sign(secret: &WebhookSecret, id: &str, timestamp: i64, body: &[u8]) -> SignedHeaders {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
    let mut mac = match Hmac::<Sha256>::new_from_slice(&secret.0) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    SignedHeaders {
        id: id.to_owned(),
        timestamp,
        signature: format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    #[test]
    fn signatures_verify_with_the_reference_standard_webhooks_library() {
        let s = WebhookSecret::parse(SECRET).unwrap();
        let body = br#"{"incident_id":"inc-1","version":3}"#;
        let now = chrono::Utc::now().timestamp();
        let h = sign(&s, "inc-1:3", now, body);
        let wh = standardwebhooks::Webhook::new(SECRET).unwrap();
        let mut headers = http::HeaderMap::new();
        headers.insert("webhook-id", h.id.parse().unwrap());
        headers.insert(
            "webhook-timestamp",
            h.timestamp.to_string().parse().unwrap(),
        );
        headers.insert("webhook-signature", h.signature.parse().unwrap());
        wh.verify(body, &headers).unwrap();
        // A tampered body or a stale timestamp is rejected by the receiver.
        assert!(wh
            .verify(br#"{"incident_id":"inc-1","version":4}"#, &headers)
            .is_err());
        let old = sign(&s, "inc-1:3", now - 3600, body);
        headers.insert(
            "webhook-timestamp",
            old.timestamp.to_string().parse().unwrap(),
        );
        headers.insert("webhook-signature", old.signature.parse().unwrap());
        assert!(wh.verify(body, &headers).is_err());
    }

    #[test]
    fn secrets_are_validated_and_never_shown() {
        assert_eq!(
            WebhookSecret::parse("whsec_***").unwrap_err(),
            SigningKeyError::NotBase64
        );
        assert_eq!(
            WebhookSecret::parse("whsec_").unwrap_err(),
            SigningKeyError::Empty
        );
        let s = WebhookSecret::parse(SECRET).unwrap();
        assert_eq!(format!("{s:?}"), "WebhookSecret(<redacted>)");
    }
}

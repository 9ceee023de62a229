//! Protocol-level fakes of AWS services that have no local implementation, driven by the real
//! SDK clients through an endpoint override.

#[allow(clippy::result_large_err)]
pub mod guardduty;
// The fakes' handlers return an axum `Response` as their error: large, and fine in a test server.
#[allow(clippy::result_large_err)]
pub mod securityhub;

/// The Region a request was signed for (its SigV4 credential scope); `us-east-1` when unsigned.
pub fn region_of(headers: &axum::http::HeaderMap) -> String {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').nth(2))
        .unwrap_or("us-east-1")
        .to_owned()
}

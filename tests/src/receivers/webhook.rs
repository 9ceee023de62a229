//! A webhook receiver that verifies Standard Webhooks signatures with the published
//! `standardwebhooks` crate (which also rejects timestamps more than 5 minutes off), and
//! records what it accepted.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::Value;

use super::Fault;

#[derive(Debug, Default)]
pub struct WebhookState {
    pub secret: String,
    pub faults: VecDeque<Fault>,
    /// Accepted deliveries: (webhook-id, body).
    pub accepted: Vec<(String, Value)>,
    /// Deliveries whose signature or timestamp did not verify.
    pub rejected: u64,
    pub requests: u64,
}

#[derive(Debug, Clone)]
pub struct WebhookReceiver {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<WebhookState>>,
}

impl WebhookReceiver {
    pub async fn start(secret: &str) -> WebhookReceiver {
        let state = Arc::new(Mutex::new(WebhookState {
            secret: secret.to_owned(),
            ..Default::default()
        }));
        let app = Router::new()
            .route("/hook", post(hook))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        WebhookReceiver { addr, state }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut WebhookState) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }

    pub fn fault(&self, f: Fault) {
        self.with(|s| s.faults.push_back(f));
    }

    pub fn keys(&self) -> Vec<String> {
        self.with(|s| s.accepted.iter().map(|(k, _)| k.clone()).collect())
    }
}

async fn hook(
    State(st): State<Arc<Mutex<WebhookState>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (fault, secret) = {
        let mut s = st.lock().unwrap();
        s.requests += 1;
        (s.faults.pop_front(), s.secret.clone())
    };
    match fault {
        Some(Fault::Status(code)) => {
            return (StatusCode::from_u16(code).unwrap(), "injected").into_response()
        }
        Some(Fault::Busy) => return (StatusCode::SERVICE_UNAVAILABLE, "busy").into_response(),
        Some(Fault::TooMany { retry_after_secs }) => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", retry_after_secs.to_string())],
                "slow down",
            )
                .into_response()
        }
        Some(Fault::Stall(d)) => tokio::time::sleep(d).await,
        None => {}
    }
    let wh = standardwebhooks::Webhook::new(&secret).unwrap();
    let mut h = http::HeaderMap::new();
    for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        if let Some(v) = headers.get(name).and_then(|v| v.to_str().ok()) {
            h.insert(name, v.parse().unwrap());
        }
    }
    if wh.verify(&body, &h).is_err() {
        st.lock().unwrap().rejected += 1;
        return (StatusCode::UNAUTHORIZED, "bad signature").into_response();
    }
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    st.lock().unwrap().accepted.push((id, v));
    StatusCode::NO_CONTENT.into_response()
}

//! A Splunk HTTP Event Collector that enforces the protocol the way Splunk documents it:
//! `Authorization: Splunk <token>` (codes 2/3/4), stacked JSON envelopes (not an array), a
//! non-blank `event` (12/13), flat string `fields` (15), allowed indexes (7), a body limit
//! (413), and optional indexer acknowledgement (channel header, consumed-once acks). Faults are
//! injected per request; an event whose text contains `POISON` is rejected with code 6 and its
//! `invalid-event-number`, and nothing of that request is indexed.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

use super::Fault;

#[derive(Debug, Default)]
pub struct HecState {
    pub token: String,
    pub revoked: bool,
    pub allowed_indexes: Option<Vec<String>>,
    pub max_body_bytes: usize,
    pub use_ack: bool,
    pub faults: VecDeque<Fault>,
    /// Indexed events, in order.
    pub events: Vec<Value>,
    /// Requests seen (including rejected ones).
    pub requests: u64,
    /// Every `Authorization` header value seen (to check the token is sent correctly).
    pub next_ack: u64,
    pub pending_acks: BTreeMap<u64, bool>,
}

#[derive(Debug, Clone)]
pub struct Hec {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<HecState>>,
}

fn reply(status: u16, code: i64, text: &str) -> Response {
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [("content-type", "application/json")],
        json!({"text": text, "code": code}).to_string(),
    )
        .into_response()
}

impl Hec {
    pub async fn start(token: &str) -> Hec {
        let state = Arc::new(Mutex::new(HecState {
            token: token.to_owned(),
            max_body_bytes: 1024 * 1024,
            ..Default::default()
        }));
        let app = Router::new()
            .route("/services/collector/event", post(event))
            .route("/services/collector/ack", post(ack))
            .layer(DefaultBodyLimit::max(64 * 1024 * 1024))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Hec { addr, state }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut HecState) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }

    pub fn fault(&self, f: Fault) {
        self.with(|s| s.faults.push_back(f));
    }

    /// Indexed incident events' idempotency keys, in arrival order.
    pub fn incident_keys(&self) -> Vec<String> {
        self.with(|s| {
            s.events
                .iter()
                .filter(|e| e["sourcetype"] == "vigil:incident")
                .filter_map(|e| e["fields"]["incident_key"].as_str().map(str::to_owned))
                .collect()
        })
    }
}

async fn event(
    State(st): State<Arc<Mutex<HecState>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fault = {
        let mut s = st.lock().unwrap();
        s.requests += 1;
        s.faults.pop_front()
    };
    match fault {
        Some(Fault::Status(500)) => return reply(500, 8, "Internal server error"),
        Some(Fault::Status(code)) => return reply(code, -1, "injected"),
        Some(Fault::Busy) => return reply(503, 9, "Server is busy"),
        Some(Fault::TooMany { retry_after_secs }) => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", retry_after_secs.to_string())],
                "rate limited",
            )
                .into_response()
        }
        Some(Fault::Stall(d)) => tokio::time::sleep(d).await,
        None => {}
    }
    let mut s = st.lock().unwrap();
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if auth.is_empty() {
        return reply(401, 2, "Token is required");
    }
    let Some(tok) = auth.strip_prefix("Splunk ") else {
        return reply(401, 3, "Invalid authorization");
    };
    if tok != s.token {
        return reply(403, 4, "Invalid token");
    }
    if s.revoked {
        return reply(403, 1, "Token disabled");
    }
    if body.len() > s.max_body_bytes {
        return reply(
            413,
            -1,
            "Content-Length of request exceeds max_content_length",
        );
    }
    let channel = headers
        .get("x-splunk-request-channel")
        .and_then(|v| v.to_str().ok());
    if s.use_ack && channel.is_none() {
        return reply(400, 10, "Data channel is missing");
    }
    let text = match std::str::from_utf8(&body) {
        Ok(t) => t,
        Err(_) => return reply(400, 6, "Invalid data format"),
    };
    if text.trim().is_empty() {
        return reply(400, 5, "No data");
    }
    // Stacked envelopes: a sequence of JSON objects, not an array.
    let mut batch = Vec::new();
    for (i, v) in serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .enumerate()
    {
        let invalid = |code: i64, t: &str| {
            (
                StatusCode::BAD_REQUEST,
                json!({"text": t, "code": code, "invalid-event-number": i}).to_string(),
            )
                .into_response()
        };
        let Ok(v) = v else {
            return invalid(6, "Invalid data format");
        };
        if !v.is_object() {
            return invalid(6, "Invalid data format");
        }
        match v.get("event") {
            None => return invalid(12, "Event field is required"),
            Some(Value::String(e)) if e.trim().is_empty() => {
                return invalid(13, "Event field cannot be blank")
            }
            Some(Value::Null) => return invalid(13, "Event field cannot be blank"),
            Some(_) => {}
        }
        if let Some(f) = v.get("fields") {
            let flat = f.as_object().is_some_and(|m| {
                m.values().all(|x| {
                    x.is_string() || x.as_array().is_some_and(|a| a.iter().all(Value::is_string))
                })
            });
            if !flat {
                return invalid(15, "Error in handling indexed fields");
            }
        }
        if let (Some(allowed), Some(idx)) = (&s.allowed_indexes, v.get("index")) {
            if !allowed.iter().any(|a| Some(a.as_str()) == idx.as_str()) {
                return reply(400, 7, "Incorrect index");
            }
        }
        if v.to_string().contains("POISON") {
            return invalid(6, "Invalid data format");
        }
        batch.push(v);
    }
    s.events.extend(batch);
    if s.use_ack {
        let id = s.next_ack;
        s.next_ack += 1;
        s.pending_acks.insert(id, true);
        return (
            StatusCode::OK,
            json!({"text": "Success", "code": 0, "ackId": id}).to_string(),
        )
            .into_response();
    }
    reply(200, 0, "Success")
}

async fn ack(
    State(st): State<Arc<Mutex<HecState>>>,
    Query(q): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut s = st.lock().unwrap();
    let auth_ok = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a == format!("Splunk {}", s.token));
    if !auth_ok {
        return reply(403, 4, "Invalid token");
    }
    if !s.use_ack {
        return reply(400, 14, "ACK is disabled");
    }
    if !q.contains_key("channel") && headers.get("x-splunk-request-channel").is_none() {
        return reply(400, 10, "Data channel is missing");
    }
    let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut acks = serde_json::Map::new();
    for id in req["acks"].as_array().cloned().unwrap_or_default() {
        let Some(id) = id.as_u64() else { continue };
        // A true status is consumed on first read.
        let status = s.pending_acks.remove(&id).unwrap_or(false);
        acks.insert(id.to_string(), Value::Bool(status));
    }
    (StatusCode::OK, json!({ "acks": acks }).to_string()).into_response()
}

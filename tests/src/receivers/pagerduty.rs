//! A PagerDuty Events API v2 receiver that enforces the protocol as documented (routing key of
//! 32 characters, `event_action` trigger/acknowledge/resolve, `dedup_key` at most 255
//! characters, a trigger's `payload` with `summary` at most 1024 characters, `source` and a
//! known `severity`, bodies at most 512 KB), answers as PagerDuty does (202 with
//! `{"status":"success",...}`, 400 `invalid event` with the errors), injects faults, and keeps
//! the state of each alert by `dedup_key` as PagerDuty would.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

use super::Fault;

#[derive(Debug, Default)]
pub struct PagerDutyState {
    pub routing_key: String,
    pub faults: VecDeque<Fault>,
    /// Accepted events, in order.
    pub events: Vec<Value>,
    /// Alert state by dedup key: `triggered`, `acknowledged`, `resolved`.
    pub alerts: BTreeMap<String, String>,
    /// Requests refused as invalid, with the reason.
    pub invalid: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct PagerDutyReceiver {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<PagerDutyState>>,
}

impl PagerDutyReceiver {
    pub async fn start(routing_key: &str) -> Self {
        let state = Arc::new(Mutex::new(PagerDutyState {
            routing_key: routing_key.to_owned(),
            ..Default::default()
        }));
        let app = Router::new()
            .route("/v2/enqueue", post(enqueue))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, state }
    }

    pub fn url(&self) -> String {
        format!("http://{}/v2/enqueue", self.addr)
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut PagerDutyState) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }

    pub fn fault(&self, f: Fault) {
        self.with(|s| s.faults.push_back(f));
    }

    /// (event_action, dedup_key) of every accepted event.
    pub fn actions(&self) -> Vec<(String, String)> {
        self.with(|s| {
            s.events
                .iter()
                .map(|e| {
                    (
                        e["event_action"].as_str().unwrap_or_default().to_owned(),
                        e["dedup_key"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
    }
}

fn check(e: &Value, key: &str) -> Result<(), String> {
    let rk = e["routing_key"].as_str().ok_or("routing_key missing")?;
    if rk.len() != 32 {
        return Err(format!(
            "routing_key must be 32 characters, not {}",
            rk.len()
        ));
    }
    if rk != key {
        return Err("unknown routing_key".into());
    }
    let action = e["event_action"].as_str().ok_or("event_action missing")?;
    if !["trigger", "acknowledge", "resolve"].contains(&action) {
        return Err(format!("event_action {action:?} is not valid"));
    }
    let dk = e["dedup_key"].as_str().unwrap_or_default();
    if dk.chars().count() > 255 {
        return Err("dedup_key longer than 255 characters".into());
    }
    if action != "trigger" && dk.is_empty() {
        return Err("acknowledge and resolve need a dedup_key".into());
    }
    if action == "trigger" {
        let p = &e["payload"];
        let summary = p["summary"].as_str().ok_or("payload.summary missing")?;
        if summary.is_empty() || summary.chars().count() > 1024 {
            return Err("payload.summary must be 1-1024 characters".into());
        }
        if p["source"].as_str().is_none_or(str::is_empty) {
            return Err("payload.source missing".into());
        }
        let sev = p["severity"].as_str().unwrap_or_default();
        if !["critical", "error", "warning", "info"].contains(&sev) {
            return Err(format!("payload.severity {sev:?} is not valid"));
        }
        if let Some(t) = p["timestamp"].as_str() {
            chrono::DateTime::parse_from_rfc3339(t).map_err(|e| format!("timestamp: {e}"))?;
        }
        if !p["custom_details"].is_null() && !p["custom_details"].is_object() {
            return Err("custom_details must be an object".into());
        }
    }
    if let Some(links) = e.get("links") {
        for l in links.as_array().ok_or("links must be a list")? {
            if l["href"].as_str().is_none() {
                return Err("a link needs href".into());
            }
        }
    }
    Ok(())
}

async fn enqueue(State(st): State<Arc<Mutex<PagerDutyState>>>, body: Bytes) -> Response {
    let (fault, key) = {
        let mut s = st.lock().unwrap();
        (s.faults.pop_front(), s.routing_key.clone())
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
                "rate limited",
            )
                .into_response()
        }
        Some(Fault::Stall(d)) => tokio::time::sleep(d).await,
        None => {}
    }
    let invalid = |st: &Arc<Mutex<PagerDutyState>>, why: String| {
        st.lock().unwrap().invalid.push(why.clone());
        (
            StatusCode::BAD_REQUEST,
            [("content-type", "application/json")],
            json!({"status": "invalid event", "message": "Event object is invalid", "errors": [why]})
                .to_string(),
        )
            .into_response()
    };
    if body.len() > 512 * 1024 {
        return invalid(&st, "body over 512 KB".into());
    }
    let e: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(err) => return invalid(&st, format!("not JSON: {err}")),
    };
    if let Err(why) = check(&e, &key) {
        return invalid(&st, why);
    }
    let dk = e["dedup_key"].as_str().unwrap_or_default().to_owned();
    let action = e["event_action"].as_str().unwrap_or_default();
    let mut s = st.lock().unwrap();
    let next = match (action, s.alerts.get(&dk).map(String::as_str)) {
        ("trigger", _) => Some("triggered"),
        // PagerDuty ignores acknowledge/resolve for an alert that is not open.
        ("acknowledge", Some("triggered" | "acknowledged")) => Some("acknowledged"),
        ("resolve", Some("triggered" | "acknowledged")) => Some("resolved"),
        _ => None,
    };
    if let Some(n) = next {
        s.alerts.insert(dk.clone(), n.to_owned());
    }
    s.events.push(e);
    (
        StatusCode::ACCEPTED,
        [("content-type", "application/json")],
        json!({"status": "success", "message": "Event processed", "dedup_key": dk}).to_string(),
    )
        .into_response()
}

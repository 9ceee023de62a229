//! Chat receivers that enforce the incoming-webhook protocols as documented and answer as the
//! services do: a Slack incoming webhook (JSON `text`/`blocks`, Block Kit limits: 50 blocks,
//! header 150 characters of plain text, section text 3000, ten fields of 2000, buttons with a
//! 75-character text and an https URL of at most 3000; `200 ok`, plain-text errors such as
//! `400 invalid_blocks`, `404 no_service`, `410 channel_is_archived`, `429` with
//! `Retry-After`), and a Microsoft Teams workflow webhook (a `message` with one Adaptive Card
//! attachment of known element types, at most 28 KB; `202 Accepted`). Both inject faults and
//! keep every accepted message.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::Value;

use super::Fault;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Slack,
    Teams,
}

#[derive(Debug, Default)]
pub struct ChatState {
    pub faults: VecDeque<Fault>,
    /// Accepted messages, in order.
    pub messages: Vec<Value>,
    /// Refused messages, with the reason.
    pub invalid: Vec<String>,
    /// Requests received (accepted, refused or faulted).
    pub requests: usize,
}

#[derive(Debug, Clone)]
pub struct ChatReceiver {
    pub addr: SocketAddr,
    pub service: Service,
    pub state: Arc<Mutex<ChatState>>,
}

/// The path of the webhook (its secret part, as in the real URL).
const SLACK_PATH: &str = "/services/T0000/B0000/XXXXXXXXXXXXXXXXXXXXXXXX";
const TEAMS_PATH: &str = "/workflows/0a1b2c3d/triggers/manual/paths/invoke";

impl ChatReceiver {
    pub async fn start(service: Service) -> Self {
        let state = Arc::new(Mutex::new(ChatState::default()));
        let app = match service {
            Service::Slack => Router::new().route(SLACK_PATH, post(slack)),
            Service::Teams => Router::new().route(TEAMS_PATH, post(teams)),
        }
        .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            addr,
            service,
            state,
        }
    }

    pub fn url(&self) -> String {
        let path = match self.service {
            Service::Slack => SLACK_PATH,
            Service::Teams => TEAMS_PATH,
        };
        format!("http://{}{path}", self.addr)
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut ChatState) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }

    pub fn fault(&self, f: Fault) {
        self.with(|s| s.faults.push_back(f));
    }

    pub fn messages(&self) -> Vec<Value> {
        self.with(|s| s.messages.clone())
    }
}

fn chars(v: &Value) -> usize {
    v.as_str().map_or(0, |s| s.chars().count())
}

fn check_text(t: &Value, max: usize, what: &str) -> Result<(), String> {
    let kind = t["type"].as_str().unwrap_or_default();
    if kind != "plain_text" && kind != "mrkdwn" {
        return Err(format!("{what}: text type {kind:?}"));
    }
    let n = chars(&t["text"]);
    if n == 0 || n > max {
        return Err(format!("{what}: must be 1-{max} characters, not {n}"));
    }
    Ok(())
}

/// Block Kit as Slack checks it (the blocks Vigil uses and their limits).
pub fn check_slack(m: &Value) -> Result<(), String> {
    let blocks = m["blocks"].as_array();
    if m["text"].as_str().is_none_or(str::is_empty) && blocks.is_none() {
        return Err("invalid_payload: no text".into());
    }
    let blocks = blocks.map(Vec::as_slice).unwrap_or_default();
    if blocks.len() > 50 {
        return Err("invalid_blocks: more than 50 blocks".into());
    }
    for b in blocks {
        match b["type"].as_str().unwrap_or_default() {
            "header" => {
                if b["text"]["type"] != "plain_text" {
                    return Err("invalid_blocks: a header is plain_text".into());
                }
                check_text(&b["text"], 150, "header")?;
            }
            "section" => {
                if !b["text"].is_null() {
                    check_text(&b["text"], 3000, "section text")?;
                }
                if let Some(fields) = b["fields"].as_array() {
                    if fields.is_empty() || fields.len() > 10 {
                        return Err("invalid_blocks: 1-10 fields".into());
                    }
                    for f in fields {
                        check_text(f, 2000, "field")?;
                    }
                } else if b["text"].is_null() {
                    return Err("invalid_blocks: a section needs text or fields".into());
                }
            }
            "actions" => {
                let els = b["elements"]
                    .as_array()
                    .ok_or("invalid_blocks: no elements")?;
                if els.is_empty() || els.len() > 25 {
                    return Err("invalid_blocks: 1-25 elements".into());
                }
                for e in els {
                    if e["type"] != "button" {
                        return Err("invalid_blocks: unknown element".into());
                    }
                    if e["text"]["type"] != "plain_text" {
                        return Err("invalid_blocks: a button's text is plain_text".into());
                    }
                    check_text(&e["text"], 75, "button")?;
                    let url = e["url"].as_str().unwrap_or_default();
                    if url.len() > 3000 || !(url.starts_with("https://")) {
                        return Err(format!("invalid_blocks: button url {url:?}"));
                    }
                }
            }
            "context" => {
                let els = b["elements"]
                    .as_array()
                    .ok_or("invalid_blocks: no elements")?;
                if els.is_empty() || els.len() > 10 {
                    return Err("invalid_blocks: 1-10 context elements".into());
                }
                for e in els {
                    check_text(e, 3000, "context")?;
                }
            }
            "divider" => {}
            other => return Err(format!("invalid_blocks: unknown block type {other:?}")),
        }
    }
    Ok(())
}

/// An Adaptive Card message as a Teams workflow accepts it.
pub fn check_teams(m: &Value) -> Result<(), String> {
    if m["type"] != "message" {
        return Err("type must be message".into());
    }
    let atts = m["attachments"].as_array().ok_or("attachments missing")?;
    if atts.len() != 1 {
        return Err("one attachment expected".into());
    }
    if atts[0]["contentType"] != "application/vnd.microsoft.card.adaptive" {
        return Err("not an Adaptive Card".into());
    }
    let card = &atts[0]["content"];
    if card["type"] != "AdaptiveCard" || card["version"].as_str().is_none() {
        return Err("content is not an AdaptiveCard with a version".into());
    }
    for e in card["body"].as_array().ok_or("body missing")? {
        match e["type"].as_str().unwrap_or_default() {
            "TextBlock" => {
                if e["text"].as_str().is_none_or(str::is_empty) {
                    return Err("a TextBlock needs text".into());
                }
            }
            "FactSet" => {
                for f in e["facts"].as_array().ok_or("facts missing")? {
                    if f["title"].as_str().is_none() || f["value"].as_str().is_none() {
                        return Err("a fact needs title and value".into());
                    }
                }
            }
            other => return Err(format!("unknown element {other:?}")),
        }
    }
    for a in card["actions"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        if a["type"] != "Action.OpenUrl" || a["url"].as_str().is_none() {
            return Err("actions: Action.OpenUrl with url".into());
        }
    }
    Ok(())
}

async fn faulted(st: &Arc<Mutex<ChatState>>, service: Service) -> Option<Response> {
    let fault = {
        let mut s = st.lock().unwrap();
        s.requests += 1;
        s.faults.pop_front()
    };
    match fault {
        Some(Fault::Status(code)) => {
            let text = match (service, code) {
                (Service::Slack, 404) => "no_service",
                (Service::Slack, 410) => "channel_is_archived",
                (Service::Slack, 403) => "action_prohibited",
                (Service::Slack, 500) => "rollup_error",
                _ => "injected",
            };
            Some((StatusCode::from_u16(code).unwrap(), text).into_response())
        }
        Some(Fault::Busy) => Some((StatusCode::SERVICE_UNAVAILABLE, "busy").into_response()),
        Some(Fault::TooMany { retry_after_secs }) => Some(
            (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", retry_after_secs.to_string())],
                "rate_limited",
            )
                .into_response(),
        ),
        Some(Fault::Stall(d)) => {
            tokio::time::sleep(d).await;
            None
        }
        None => None,
    }
}

async fn slack(State(st): State<Arc<Mutex<ChatState>>>, body: Bytes) -> Response {
    if let Some(r) = faulted(&st, Service::Slack).await {
        return r;
    }
    let refuse = |why: String| {
        let code = why
            .split(':')
            .next()
            .unwrap_or("invalid_payload")
            .to_owned();
        st.lock().unwrap().invalid.push(why);
        (StatusCode::BAD_REQUEST, code).into_response()
    };
    let m: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return refuse(format!("invalid_payload: {e}")),
    };
    if let Err(why) = check_slack(&m) {
        return refuse(why);
    }
    st.lock().unwrap().messages.push(m);
    (StatusCode::OK, "ok").into_response()
}

async fn teams(State(st): State<Arc<Mutex<ChatState>>>, body: Bytes) -> Response {
    if let Some(r) = faulted(&st, Service::Teams).await {
        return r;
    }
    let refuse = |why: String| {
        st.lock().unwrap().invalid.push(why.clone());
        (
            StatusCode::BAD_REQUEST,
            [("content-type", "application/json")],
            serde_json::json!({"error": {"code": "InvalidRequestContent", "message": why}})
                .to_string(),
        )
            .into_response()
    };
    if body.len() > 28 * 1024 {
        return refuse("the message is over 28 KB".into());
    }
    let m: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return refuse(format!("not JSON: {e}")),
    };
    if let Err(why) = check_teams(&m) {
        return refuse(why);
    }
    st.lock().unwrap().messages.push(m);
    StatusCode::ACCEPTED.into_response()
}

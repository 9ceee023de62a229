//! A Security Hub fake for `BatchUpdateFindings` (`PATCH /findings/batchupdate`, REST-JSON as
//! in the service model: PascalCase members, errors as `x-amzn-ErrorType` with a JSON
//! `Message`). It enforces the documented limits: 1 to 100 `FindingIdentifiers`, each with `Id`
//! and `ProductArn`; `Note` with both `Text` (1 to 512 characters) and `UpdatedBy`;
//! `Workflow.Status` in NEW, NOTIFIED, RESOLVED, SUPPRESSED; at most 50 `UserDefinedFields`, keys
//! up to 128 and values up to 1024 characters; 10 requests a second with a burst of 30
//! (`LimitExceededException`, 429). Unknown findings come back in `UnprocessedFindings` as
//! `FindingNotFound`, repeated identifiers as `DuplicatedFindingIdentifier`.
//!
//! It holds findings (seeded by the test), applies updates as Security Hub does (workflow, note
//! with its `UpdatedAt`, fields merged, `ProcessedAt` advanced, `UpdatedAt` unchanged), and
//! for every updated finding emits the `Security Hub Findings - Imported` event Security Hub
//! would, for the test to feed back through ingest. Faults on demand: throttling, server
//! errors, transient unprocessed findings.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::patch;
use axum::Router;
use serde_json::{json, Value};

/// A fault for the next request(s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShFault {
    /// 429 `LimitExceededException`.
    Throttle,
    /// 500 `InternalException`.
    Internal,
    /// 401 `InvalidAccessException` (the hub is not enabled, or access is missing).
    Access,
    /// The request succeeds but these findings (by `Id`) come back unprocessed with `code`.
    Unprocessed { ids: Vec<String>, code: String },
}

#[derive(Debug)]
pub struct ShState {
    /// Findings by (`Id`, `ProductArn`).
    pub findings: BTreeMap<(String, String), Value>,
    pub faults: VecDeque<ShFault>,
    /// Every request's body, accepted or not.
    pub requests: Vec<Value>,
    /// Requests refused as invalid, with the reason.
    pub invalid: Vec<String>,
    /// Imported events for updated findings, not yet taken.
    pub events: Vec<Value>,
    /// Token bucket: 10 a second, burst 30.
    tokens: f64,
    refilled: Instant,
    seq: u64,
}

#[derive(Debug, Clone)]
pub struct SecurityHubFake {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<ShState>>,
}

const RATE: f64 = 10.0;
const BURST: f64 = 30.0;

impl SecurityHubFake {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(ShState {
            findings: BTreeMap::new(),
            faults: VecDeque::new(),
            requests: Vec::new(),
            invalid: Vec::new(),
            events: Vec::new(),
            tokens: BURST,
            refilled: Instant::now(),
            seq: 0,
        }));
        let app = Router::new()
            .route("/findings/batchupdate", patch(batch_update))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, state }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut ShState) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }

    /// Holds a finding (its ASFF JSON) as Security Hub would.
    pub fn put(&self, finding: &Value) {
        let key = (
            finding["Id"].as_str().unwrap_or_default().to_owned(),
            finding["ProductArn"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
        self.with(|s| s.findings.insert(key, finding.clone()));
    }

    pub fn finding(&self, id: &str) -> Option<Value> {
        self.with(|s| {
            s.findings
                .iter()
                .find(|(k, _)| k.0 == id)
                .map(|(_, v)| v.clone())
        })
    }

    pub fn fault(&self, f: ShFault) {
        self.with(|s| s.faults.push_back(f));
    }

    /// The Imported events emitted since the last call.
    pub fn take_events(&self) -> Vec<Value> {
        self.with(|s| std::mem::take(&mut s.events))
    }

    /// The SDK client for this fake (dummy credentials, fast retries).
    pub fn client(&self) -> aws_sdk_securityhub::Client {
        let conf = aws_sdk_securityhub::Config::builder()
            .behavior_version(aws_sdk_securityhub::config::BehaviorVersion::latest())
            .endpoint_url(self.endpoint())
            .region(aws_sdk_securityhub::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_securityhub::config::Credentials::new(
                "local",
                "local",
                None,
                None,
                "vigil-tests",
            ))
            .retry_config(
                aws_sdk_securityhub::config::retry::RetryConfig::standard()
                    .with_max_attempts(4)
                    .with_initial_backoff(std::time::Duration::from_millis(5)),
            )
            .build();
        aws_sdk_securityhub::Client::from_conf(conf)
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        [
            ("x-amzn-errortype", code.to_owned()),
            ("content-type", "application/json".to_owned()),
        ],
        json!({"Code": code, "Message": message}).to_string(),
    )
        .into_response()
}

fn check(req: &Value) -> Result<(), String> {
    let ids = req["FindingIdentifiers"]
        .as_array()
        .ok_or("FindingIdentifiers is required")?;
    if ids.is_empty() || ids.len() > 100 {
        return Err(format!(
            "FindingIdentifiers must hold 1-100 items, not {}",
            ids.len()
        ));
    }
    for i in ids {
        if i["Id"].as_str().is_none_or(str::is_empty)
            || i["ProductArn"].as_str().is_none_or(str::is_empty)
        {
            return Err("each FindingIdentifier needs Id and ProductArn".into());
        }
    }
    if let Some(n) = req.get("Note") {
        let text = n["Text"].as_str().unwrap_or_default();
        if text.is_empty() || text.chars().count() > 512 {
            return Err("Note.Text must be 1-512 characters".into());
        }
        if n["UpdatedBy"].as_str().is_none_or(str::is_empty) {
            return Err("Note.UpdatedBy is required".into());
        }
    }
    if let Some(w) = req.get("Workflow") {
        let st = w["Status"].as_str().unwrap_or_default();
        if !["NEW", "NOTIFIED", "RESOLVED", "SUPPRESSED"].contains(&st) {
            return Err(format!("Workflow.Status {st:?} is not valid"));
        }
    }
    if let Some(u) = req.get("UserDefinedFields") {
        let m = u.as_object().ok_or("UserDefinedFields must be a map")?;
        if m.len() > 50 {
            return Err("at most 50 UserDefinedFields".into());
        }
        for (k, v) in m {
            let v = v.as_str().ok_or("UserDefinedFields values are strings")?;
            if k.is_empty() || k.chars().count() > 128 || v.chars().count() > 1024 {
                return Err("UserDefinedFields key 1-128, value up to 1024 characters".into());
            }
        }
    }
    if req.get("Workflow").is_none()
        && req.get("Note").is_none()
        && req.get("UserDefinedFields").is_none()
        && req.get("Severity").is_none()
        && req.get("VerificationState").is_none()
    {
        return Err("nothing to update".into());
    }
    Ok(())
}

async fn batch_update(State(st): State<Arc<Mutex<ShState>>>, body: Bytes) -> Response {
    let req: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "InvalidInputException",
                &e.to_string(),
            )
        }
    };
    let mut s = st.lock().unwrap();
    s.requests.push(req.clone());
    // The request rate, per account and Region.
    let now = Instant::now();
    s.tokens = (s.tokens + now.duration_since(s.refilled).as_secs_f64() * RATE).min(BURST);
    s.refilled = now;
    if s.tokens < 1.0 {
        return error(
            StatusCode::TOO_MANY_REQUESTS,
            "LimitExceededException",
            "Rate exceeded",
        );
    }
    s.tokens -= 1.0;
    let mut unprocessed_fault: Option<(Vec<String>, String)> = None;
    match s.faults.pop_front() {
        Some(ShFault::Throttle) => {
            return error(
                StatusCode::TOO_MANY_REQUESTS,
                "LimitExceededException",
                "Rate exceeded",
            )
        }
        Some(ShFault::Internal) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalException",
                "internal",
            )
        }
        Some(ShFault::Access) => {
            return error(
                StatusCode::UNAUTHORIZED,
                "InvalidAccessException",
                "Account is not subscribed to AWS Security Hub",
            )
        }
        Some(ShFault::Unprocessed { ids, code }) => unprocessed_fault = Some((ids, code)),
        None => {}
    }
    if let Err(why) = check(&req) {
        s.invalid.push(why.clone());
        return error(StatusCode::BAD_REQUEST, "InvalidInputException", &why);
    }
    let mut processed = Vec::new();
    let mut unprocessed = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let at = chrono::Utc::now();
    for ident in req["FindingIdentifiers"].as_array().into_iter().flatten() {
        let key = (
            ident["Id"].as_str().unwrap_or_default().to_owned(),
            ident["ProductArn"].as_str().unwrap_or_default().to_owned(),
        );
        let fail = |code: &str, msg: &str| json!({"FindingIdentifier": ident, "ErrorCode": code, "ErrorMessage": msg});
        if !seen.insert(key.clone()) {
            unprocessed.push(fail("DuplicatedFindingIdentifier", "duplicated"));
            continue;
        }
        if let Some((ids, code)) = &unprocessed_fault {
            if ids.contains(&key.0) {
                unprocessed.push(fail(code, "injected"));
                continue;
            }
        }
        s.seq += 1;
        let seq = s.seq;
        let Some(f) = s.findings.get_mut(&key) else {
            unprocessed.push(fail("FindingNotFound", "finding not found"));
            continue;
        };
        if let Some(w) = req.get("Workflow") {
            f["Workflow"] = json!({"Status": w["Status"]});
            f["WorkflowState"] = json!(match w["Status"].as_str() {
                Some("RESOLVED") => "RESOLVED",
                Some("SUPPRESSED") => "DEFERRED",
                Some("NOTIFIED") => "ASSIGNED",
                _ => "NEW",
            });
        }
        if let Some(n) = req.get("Note") {
            f["Note"] = json!({"Text": n["Text"], "UpdatedBy": n["UpdatedBy"], "UpdatedAt": at.to_rfc3339()});
        }
        if let Some(u) = req["UserDefinedFields"].as_object() {
            let mut m = f["UserDefinedFields"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            for (k, v) in u {
                m.insert(k.clone(), v.clone());
            }
            f["UserDefinedFields"] = Value::Object(m);
        }
        // ProcessedAt advances; UpdatedAt (the provider's) does not.
        f["ProcessedAt"] = json!((at + chrono::Duration::milliseconds(seq as i64))
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
        let event = json!({
            "version": "0", "id": format!("sh-echo-{seq}"),
            "detail-type": "Security Hub Findings - Imported", "source": "aws.securityhub",
            "account": f["AwsAccountId"], "time": at.to_rfc3339(), "region": "us-east-1",
            "resources": [f["Id"]], "detail": {"findings": [f.clone()]},
        });
        s.events.push(event);
        processed.push(ident.clone());
    }
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        json!({"ProcessedFindings": processed, "UnprocessedFindings": unprocessed}).to_string(),
    )
        .into_response()
}

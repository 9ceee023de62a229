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
    /// The management API's state (managed Security Hub).
    pub admin: Arc<Mutex<ShAdmin>>,
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
        let admin = Arc::new(Mutex::new(ShAdmin {
            admin: "111111111111".into(),
            ..ShAdmin::default()
        }));
        let app = Router::new()
            .route("/findings/batchupdate", patch(batch_update))
            .with_state(state.clone())
            .merge(admin_router(admin.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, state, admin }
    }

    /// The management API's state.
    pub fn admin<R>(&self, f: impl FnOnce(&mut ShAdmin) -> R) -> R {
        f(&mut self.admin.lock().unwrap())
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

// ---- The management API (managed Security Hub), per Region -------------------------------

/// Security Hub's settings in the administrator account of one Region.
#[derive(Debug, Default, Clone)]
pub struct ShRegion {
    pub enabled: bool,
    pub auto_enable: bool,
    pub auto_enable_standards: String,
    /// LOCAL or CENTRAL.
    pub configuration_type: String,
    /// ARN -> {InsightArn, Name, Filters, GroupByAttribute}.
    pub insights: BTreeMap<String, Value>,
    /// ARN -> {ActionTargetArn, Name, Description}.
    pub action_targets: BTreeMap<String, Value>,
    /// Account -> member JSON.
    pub members: BTreeMap<String, Value>,
}

#[derive(Debug, Default)]
pub struct ShAdmin {
    pub regions: BTreeMap<String, ShRegion>,
    pub admin: String,
    /// The organisation's accounts that CreateMembers accepts.
    pub org_accounts: std::collections::BTreeSet<String>,
    /// (Region, method, path) of every management request.
    pub requests: Vec<(String, String, String)>,
    pub faults: VecDeque<ShFault>,
    seq: u64,
}

/// Filter attributes and kinds as the service model has them (the domain's table).
fn filters_ok(f: &Value) -> Result<(), String> {
    let m = f.as_object().ok_or("Filters must be an object")?;
    if m.len() > 10 {
        return Err("an insight takes at most 10 filter attributes".into());
    }
    for (k, v) in m {
        if vigil_domain::manage::attrs::sh_filter_kind(k).is_none() {
            return Err(format!("unknown filter attribute {k}"));
        }
        let n = v.as_array().map_or(0, Vec::len);
        if n == 0 || n > 20 {
            return Err(format!("{k}: 1 to 20 filters"));
        }
    }
    Ok(())
}

type AdminState = State<Arc<Mutex<ShAdmin>>>;

fn sh_ok(v: Value) -> Response {
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        v.to_string(),
    )
        .into_response()
}

fn not_enabled() -> Response {
    error(
        StatusCode::UNAUTHORIZED,
        "InvalidAccessException",
        "Account is not subscribed to AWS Security Hub",
    )
}

fn invalid(m: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "InvalidInputException", m)
}

async fn admin_gate(
    State(st): AdminState,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let region = super::region_of(req.headers());
    let fault = {
        let mut s = st.lock().unwrap();
        s.requests.push((
            region,
            req.method().to_string(),
            req.uri().path().to_owned(),
        ));
        s.faults.pop_front()
    };
    match fault {
        Some(ShFault::Throttle) => error(
            StatusCode::TOO_MANY_REQUESTS,
            "LimitExceededException",
            "Rate exceeded",
        ),
        Some(ShFault::Internal) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalException",
            "internal",
        ),
        Some(ShFault::Access) => not_enabled(),
        _ => next.run(req).await,
    }
}

/// Runs `f` on the caller's Region, refusing when Security Hub is not enabled there.
fn region_do(
    st: &Arc<Mutex<ShAdmin>>,
    headers: &axum::http::HeaderMap,
    f: impl FnOnce(&mut ShRegion, &mut u64, &str, &str, &std::collections::BTreeSet<String>) -> Response,
) -> Response {
    let region = super::region_of(headers);
    let mut s = st.lock().unwrap();
    let ShAdmin {
        regions,
        seq,
        admin,
        org_accounts,
        ..
    } = &mut *s;
    let r = regions.entry(region.clone()).or_default();
    if !r.enabled {
        return not_enabled();
    }
    f(r, seq, &region, admin, org_accounts)
}

fn parse(body: &Bytes) -> Result<Value, Response> {
    if body.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(body).map_err(|e| invalid(&e.to_string()))
}

async fn describe_hub(State(st): AdminState, headers: axum::http::HeaderMap) -> Response {
    region_do(&st, &headers, |_, _, region, admin, _| {
        sh_ok(
            json!({"HubArn": format!("arn:aws:securityhub:{region}:{admin}:hub/default"),
                     "SubscribedAt": "2026-01-01T00:00:00.000Z", "AutoEnableControls": true,
                     "ControlFindingGenerator": "SECURITY_CONTROL"}),
        )
    })
}

async fn enable_hub(State(st): AdminState, headers: axum::http::HeaderMap) -> Response {
    let region = super::region_of(&headers);
    let mut s = st.lock().unwrap();
    let r = s.regions.entry(region).or_default();
    if r.enabled {
        return error(
            StatusCode::CONFLICT,
            "ResourceConflictException",
            "Account is already subscribed to Security Hub",
        );
    }
    r.enabled = true;
    r.auto_enable_standards = "DEFAULT".into();
    r.configuration_type = "LOCAL".into();
    sh_ok(json!({}))
}

async fn describe_org(State(st): AdminState, headers: axum::http::HeaderMap) -> Response {
    region_do(&st, &headers, |r, _, _, _, _| {
        sh_ok(
            json!({"AutoEnable": r.auto_enable, "MemberAccountLimitReached": false,
                     "AutoEnableStandards": r.auto_enable_standards,
                     "OrganizationConfiguration": {"ConfigurationType": r.configuration_type, "Status": "ENABLED"}}),
        )
    })
}

async fn update_org(
    State(st): AdminState,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    let req = match parse(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    region_do(&st, &headers, |r, _, _, _, _| {
        let Some(auto) = req["AutoEnable"].as_bool() else {
            return invalid("AutoEnable is required");
        };
        if r.configuration_type == "CENTRAL" && (auto || req["AutoEnableStandards"] == "DEFAULT") {
            return error(
                StatusCode::BAD_REQUEST,
                "ValidationException",
                "central configuration requires AutoEnable false and AutoEnableStandards NONE",
            );
        }
        r.auto_enable = auto;
        if let Some(s) = req["AutoEnableStandards"].as_str() {
            if !["DEFAULT", "NONE"].contains(&s) {
                return invalid("AutoEnableStandards must be DEFAULT or NONE");
            }
            r.auto_enable_standards = s.to_owned();
        }
        sh_ok(json!({}))
    })
}

fn sh_page(
    items: Vec<Value>,
    req: &Value,
    max_default: usize,
) -> Result<(Vec<Value>, Option<String>), Response> {
    let max = req["MaxResults"]
        .as_u64()
        .map_or(max_default, |m| m as usize);
    if !(1..=100).contains(&max) {
        return Err(invalid("MaxResults must be 1 to 100"));
    }
    let start: usize = req["NextToken"].as_str().map_or(Ok(0), |t| {
        t.parse().map_err(|_| invalid("invalid NextToken"))
    })?;
    let end = (start + max).min(items.len());
    let next = (end < items.len()).then(|| end.to_string());
    Ok((
        items
            .get(start..end)
            .map(<[Value]>::to_vec)
            .unwrap_or_default(),
        next,
    ))
}

async fn get_insights(
    State(st): AdminState,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    let req = match parse(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    region_do(&st, &headers, |r, _, _, _, _| {
        let wanted: Vec<&str> = req["InsightArns"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let all: Vec<Value> = r
            .insights
            .iter()
            .filter(|(arn, _)| wanted.is_empty() || wanted.contains(&arn.as_str()))
            .map(|(_, v)| v.clone())
            .collect();
        match sh_page(all, &req, 100) {
            Ok((p, next)) => sh_ok(json!({"Insights": p, "NextToken": next})),
            Err(e) => e,
        }
    })
}

fn insight_ok(req: &Value, creating: bool) -> Result<(), String> {
    if creating || req.get("Name").is_some() {
        let n = req["Name"].as_str().unwrap_or_default();
        if n.is_empty() || n.chars().count() > 128 {
            return Err("Name must be 1 to 128 characters".into());
        }
    }
    if creating || req.get("GroupByAttribute").is_some() {
        let g = req["GroupByAttribute"].as_str().unwrap_or_default();
        if vigil_domain::manage::attrs::sh_filter_kind(g).is_none() {
            return Err(format!("invalid GroupByAttribute {g:?}"));
        }
    }
    if creating || req.get("Filters").is_some() {
        filters_ok(&req["Filters"])?;
    }
    Ok(())
}

async fn create_insight(
    State(st): AdminState,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    let req = match parse(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Err(e) = insight_ok(&req, true) {
        return invalid(&e);
    }
    region_do(&st, &headers, |r, seq, region, admin, _| {
        if r.insights.len() >= 100 {
            return error(
                StatusCode::TOO_MANY_REQUESTS,
                "LimitExceededException",
                "at most 100 custom insights",
            );
        }
        *seq += 1;
        let arn = format!("arn:aws:securityhub:{region}:{admin}:insight/{admin}/custom/{:08x}-0000-4000-8000-{:012x}", *seq, *seq);
        r.insights.insert(arn.clone(), json!({"InsightArn": arn, "Name": req["Name"], "Filters": req["Filters"], "GroupByAttribute": req["GroupByAttribute"]}));
        sh_ok(json!({"InsightArn": arn}))
    })
}

async fn update_insight(
    State(st): AdminState,
    headers: axum::http::HeaderMap,
    axum::extract::Path(arn): axum::extract::Path<String>,
    body: Bytes,
) -> Response {
    let req = match parse(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Err(e) = insight_ok(&req, false) {
        return invalid(&e);
    }
    region_do(&st, &headers, |r, _, _, _, _| {
        let Some(i) = r.insights.get_mut(&arn) else {
            return error(
                StatusCode::NOT_FOUND,
                "ResourceNotFoundException",
                "insight not found",
            );
        };
        for k in ["Name", "Filters", "GroupByAttribute"] {
            if let Some(v) = req.get(k) {
                i[k] = v.clone();
            }
        }
        sh_ok(json!({}))
    })
}

async fn delete_insight(
    State(st): AdminState,
    headers: axum::http::HeaderMap,
    axum::extract::Path(arn): axum::extract::Path<String>,
) -> Response {
    region_do(&st, &headers, |r, _, _, _, _| {
        match r.insights.remove(&arn) {
            Some(_) => sh_ok(json!({"InsightArn": arn})),
            None => error(
                StatusCode::NOT_FOUND,
                "ResourceNotFoundException",
                "insight not found",
            ),
        }
    })
}

async fn describe_targets(
    State(st): AdminState,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    let req = match parse(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    region_do(&st, &headers, |r, _, _, _, _| {
        let all: Vec<Value> = r.action_targets.values().cloned().collect();
        match sh_page(all, &req, 100) {
            Ok((p, next)) => sh_ok(json!({"ActionTargets": p, "NextToken": next})),
            Err(e) => e,
        }
    })
}

async fn create_target(
    State(st): AdminState,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    let req = match parse(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let id = req["Id"].as_str().unwrap_or_default().to_owned();
    let name = req["Name"].as_str().unwrap_or_default();
    let description = req["Description"].as_str().unwrap_or_default();
    if id.is_empty() || id.len() > 20 || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return invalid("Id must be 1 to 20 alphanumeric characters");
    }
    if name.is_empty() || name.chars().count() > 20 {
        return invalid("Name must be 1 to 20 characters");
    }
    if description.is_empty() || description.chars().count() > 1024 {
        return invalid("Description must be 1 to 1024 characters");
    }
    region_do(&st, &headers, |r, _, region, admin, _| {
        let arn = format!("arn:aws:securityhub:{region}:{admin}:action/custom/{id}");
        if r.action_targets.contains_key(&arn) {
            return error(
                StatusCode::CONFLICT,
                "ResourceConflictException",
                "action target exists",
            );
        }
        if r.action_targets.len() >= 50 {
            return error(
                StatusCode::TOO_MANY_REQUESTS,
                "LimitExceededException",
                "at most 50 custom actions",
            );
        }
        r.action_targets.insert(
            arn.clone(),
            json!({"ActionTargetArn": arn, "Name": name, "Description": description}),
        );
        sh_ok(json!({"ActionTargetArn": arn}))
    })
}

async fn update_target(
    State(st): AdminState,
    headers: axum::http::HeaderMap,
    axum::extract::Path(arn): axum::extract::Path<String>,
    body: Bytes,
) -> Response {
    let req = match parse(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    region_do(&st, &headers, |r, _, _, _, _| {
        let Some(a) = r.action_targets.get_mut(&arn) else {
            return error(
                StatusCode::NOT_FOUND,
                "ResourceNotFoundException",
                "action target not found",
            );
        };
        for k in ["Name", "Description"] {
            if let Some(v) = req.get(k) {
                a[k] = v.clone();
            }
        }
        sh_ok(json!({}))
    })
}

async fn delete_target(
    State(st): AdminState,
    headers: axum::http::HeaderMap,
    axum::extract::Path(arn): axum::extract::Path<String>,
) -> Response {
    region_do(&st, &headers, |r, _, _, _, _| {
        match r.action_targets.remove(&arn) {
            Some(_) => sh_ok(json!({"ActionTargetArn": arn})),
            None => error(
                StatusCode::NOT_FOUND,
                "ResourceNotFoundException",
                "action target not found",
            ),
        }
    })
}

async fn list_members(
    State(st): AdminState,
    headers: axum::http::HeaderMap,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Response {
    region_do(&st, &headers, |r, _, _, _, _| {
        let only = q.get("OnlyAssociated").is_none_or(|v| v != "false");
        let all: Vec<Value> = r
            .members
            .values()
            .filter(|m| !only || m["MemberStatus"] == "Enabled")
            .cloned()
            .collect();
        let mut req = json!({});
        if let Some(m) = q.get("MaxResults") {
            req["MaxResults"] = json!(m.parse::<u64>().unwrap_or(0));
        }
        if let Some(t) = q.get("NextToken") {
            req["NextToken"] = json!(t);
        }
        match sh_page(all, &req, 50) {
            Ok((p, next)) => sh_ok(json!({"Members": p, "NextToken": next})),
            Err(e) => e,
        }
    })
}

async fn create_members(
    State(st): AdminState,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    let req = match parse(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(details) = req["AccountDetails"].as_array().cloned() else {
        return invalid("AccountDetails is required");
    };
    if details.is_empty() || details.len() > 50 {
        return invalid("AccountDetails must hold 1 to 50 accounts");
    }
    region_do(&st, &headers, |r, _, _, admin, org| {
        let mut unprocessed = Vec::new();
        for a in &details {
            let acct = a["AccountId"].as_str().unwrap_or_default();
            if acct == admin {
                unprocessed.push(json!({"AccountId": acct, "ProcessingResult": "The administrator account cannot be a member."}));
            } else if !org.contains(acct) {
                unprocessed.push(json!({"AccountId": acct, "ProcessingResult": "The account is not part of the organization."}));
            } else {
                r.members.insert(acct.to_owned(), json!({"AccountId": acct, "Email": a["Email"], "AdministratorId": admin, "MasterId": admin,
                    "MemberStatus": "Enabled", "InvitedAt": "2026-01-01T00:00:00.000Z", "UpdatedAt": "2026-01-01T00:00:00.000Z"}));
            }
        }
        sh_ok(json!({"UnprocessedAccounts": unprocessed}))
    })
}

/// The management routes.
pub fn admin_router(state: Arc<Mutex<ShAdmin>>) -> Router {
    use axum::routing::{get, post};
    Router::new()
        .route("/accounts", get(describe_hub).post(enable_hub))
        .route(
            "/organization/configuration",
            get(describe_org).post(update_org),
        )
        .route("/insights", post(create_insight))
        .route("/insights/get", post(get_insights))
        .route(
            "/insights/{*arn}",
            patch(update_insight).delete(delete_insight),
        )
        .route("/actionTargets", post(create_target))
        .route("/actionTargets/get", post(describe_targets))
        .route(
            "/actionTargets/{*arn}",
            patch(update_target).delete(delete_target),
        )
        .route("/members", get(list_members).post(create_members))
        .with_state(state.clone())
        .layer(axum::middleware::from_fn_with_state(state, admin_gate))
}

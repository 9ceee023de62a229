//! A GuardDuty fake for managed GuardDuty, REST-JSON as in the service model (camelCase
//! members; errors as `x-amzn-ErrorType` with a JSON `message` and `__type`), per Region (read
//! from the request's SigV4 credential scope), for the delegated administrator account:
//!
//! - `GET/POST /detector`, `GET/POST /detector/{id}`: one detector per account and Region;
//!   a new detector has every feature on but `RUNTIME_MONITORING`, and publishes every 6 hours.
//! - `GET/POST /detector/{id}/admin`: the organisation configuration (`autoEnable` and
//!   `autoEnableOrganizationMembers` together are refused, as the service does).
//! - `/detector/{id}/filter[/{name}]`: names of 3-64 `[A-Za-z0-9._-]`, description <= 512, rank
//!   1-100, at most 100 filters, `equals`/`notEquals` <= 50 values, `matches` <= 5, pages of at
//!   most 50 (`maxResults` above 50 is refused).
//! - `/detector/{id}/ipset[/{id}]` and `/threatintelset[/{id}]`: one trusted list and six
//!   threat sets, locations `s3://` or `https://` of at most 300 characters, the six formats.
//! - `/detector/{id}/member`: `CreateMembers` with 1-50 accounts, each with its e-mail;
//!   accounts outside the organisation and the administrator itself come back unprocessed.
//!
//! Faults on demand (throttling, server errors), every request recorded, and direct access to
//! the state for out-of-band changes (drift).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use super::region_of;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GdFault {
    /// 429 `TooManyRequestsException`.
    Throttle,
    /// 500 `InternalServerErrorException`.
    Internal,
}

#[derive(Debug, Default, Clone)]
pub struct GdDetector {
    pub id: String,
    pub frequency: String,
    pub features: BTreeMap<String, String>,
    pub org_members: String,
    pub org_features: BTreeMap<String, String>,
    /// Filter name -> {name, description, action, rank, findingCriteria}.
    pub filters: BTreeMap<String, Value>,
    /// Set id -> {name, format, location, status}.
    pub ip_sets: BTreeMap<String, Value>,
    pub threat_sets: BTreeMap<String, Value>,
    /// Account -> member JSON.
    pub members: BTreeMap<String, Value>,
}

#[derive(Debug, Default)]
pub struct GdWorld {
    /// Region -> the administrator's detector.
    pub detectors: BTreeMap<String, GdDetector>,
    /// The organisation's accounts (id -> e-mail) that CreateMembers accepts.
    pub org_accounts: BTreeMap<String, String>,
    pub admin: String,
    pub faults: VecDeque<GdFault>,
    /// (Region, method, path) of every request.
    pub requests: Vec<(String, String, String)>,
    seq: u64,
}

#[derive(Debug, Clone)]
pub struct GuardDutyFake {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<GdWorld>>,
}

type St = State<Arc<Mutex<GdWorld>>>;
type Q = Query<HashMap<String, String>>;

const FEATURES: [&str; 9] = [
    "S3_DATA_EVENTS",
    "EKS_AUDIT_LOGS",
    "EBS_MALWARE_PROTECTION",
    "RDS_LOGIN_EVENTS",
    "LAMBDA_NETWORK_LOGS",
    "EKS_RUNTIME_MONITORING",
    "RUNTIME_MONITORING",
    "AI_PROTECTION",
    "AI_ANALYST",
];
const FORMATS: [&str; 6] = [
    "TXT",
    "STIX",
    "OTX_CSV",
    "ALIEN_VAULT",
    "PROOF_POINT",
    "FIRE_EYE",
];

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        [
            ("x-amzn-errortype", code.to_owned()),
            ("content-type", "application/json".to_owned()),
        ],
        json!({"message": message, "__type": code}).to_string(),
    )
        .into_response()
}

fn bad(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "BadRequestException", message)
}

fn ok(v: Value) -> Response {
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        v.to_string(),
    )
        .into_response()
}

fn body_json(body: &Bytes) -> Result<Value, Response> {
    if body.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(body).map_err(|e| bad(&format!("malformed JSON: {e}")))
}

impl GuardDutyFake {
    pub async fn start(admin: &str) -> Self {
        let state = Arc::new(Mutex::new(GdWorld {
            admin: admin.to_owned(),
            ..GdWorld::default()
        }));
        let app = Router::new()
            .route("/detector", get(list_detectors).post(create_detector))
            .route("/detector/{id}", get(get_detector).post(update_detector))
            .route("/detector/{id}/admin", get(get_org).post(update_org))
            .route(
                "/detector/{id}/filter",
                get(list_filters).post(create_filter),
            )
            .route(
                "/detector/{id}/filter/{name}",
                get(get_filter).post(update_filter).delete(delete_filter),
            )
            .route("/detector/{id}/{kind}", get(list_sets).post(create_set))
            .route(
                "/detector/{id}/{kind}/{set}",
                get(get_set).post(update_set).delete(delete_set),
            )
            .with_state(state.clone())
            .layer(axum::middleware::from_fn_with_state(state.clone(), gate));
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

    pub fn with<R>(&self, f: impl FnOnce(&mut GdWorld) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }

    pub fn fault(&self, f: GdFault) {
        self.with(|s| s.faults.push_back(f));
    }

    /// The administrator's detector in a Region (panics when there is none).
    pub fn detector(&self, region: &str) -> GdDetector {
        self.with(|s| s.detectors[region].clone())
    }

    /// The SDK client for this fake in a Region (dummy credentials, fast retries).
    pub fn client(&self, region: &str) -> aws_sdk_guardduty::Client {
        let conf = aws_sdk_guardduty::Config::builder()
            .behavior_version(aws_sdk_guardduty::config::BehaviorVersion::latest())
            .endpoint_url(self.endpoint())
            .region(aws_sdk_guardduty::config::Region::new(region.to_owned()))
            .credentials_provider(aws_sdk_guardduty::config::Credentials::new(
                "local",
                "local",
                None,
                None,
                "vigil-tests",
            ))
            .retry_config(
                aws_sdk_guardduty::config::retry::RetryConfig::standard()
                    .with_max_attempts(4)
                    .with_initial_backoff(std::time::Duration::from_millis(5)),
            )
            .build();
        aws_sdk_guardduty::Client::from_conf(conf)
    }
}

/// Records the request and serves a queued fault.
async fn gate(
    State(st): St,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let region = region_of(req.headers());
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
        Some(GdFault::Throttle) => error(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequestsException",
            "Rate exceeded",
        ),
        Some(GdFault::Internal) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerErrorException",
            "internal",
        ),
        None => next.run(req).await,
    }
}

fn with_detector<R>(
    st: &Arc<Mutex<GdWorld>>,
    headers: &HeaderMap,
    id: &str,
    f: impl FnOnce(&mut GdDetector, &mut u64, &BTreeMap<String, String>, &str) -> R,
) -> Result<R, Response> {
    let region = region_of(headers);
    let mut s = st.lock().unwrap();
    let GdWorld {
        detectors,
        seq,
        org_accounts,
        admin,
        ..
    } = &mut *s;
    match detectors.get_mut(&region) {
        Some(d) if d.id == id => Ok(f(d, seq, org_accounts, admin)),
        _ => Err(bad(&format!(
            "The request is rejected because the input detectorId is not owned by the current account: {id}"
        ))),
    }
}

async fn list_detectors(State(st): St, headers: HeaderMap) -> Response {
    let region = region_of(&headers);
    let s = st.lock().unwrap();
    let ids: Vec<&String> = s
        .detectors
        .get(&region)
        .map(|d| &d.id)
        .into_iter()
        .collect();
    ok(json!({"detectorIds": ids}))
}

fn features_of(req: &Value, into: &mut BTreeMap<String, String>) -> Result<(), String> {
    let names: Vec<&str> = req["features"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["name"].as_str())
        .collect();
    if names.contains(&"EKS_RUNTIME_MONITORING") && names.contains(&"RUNTIME_MONITORING") {
        return Err("The request is rejected because EKS_RUNTIME_MONITORING and RUNTIME_MONITORING cannot both be in one request.".into());
    }
    for f in req["features"].as_array().into_iter().flatten() {
        let name = f["name"].as_str().unwrap_or_default();
        let status = f["status"].as_str().unwrap_or_default();
        if !FEATURES.contains(&name) || !["ENABLED", "DISABLED"].contains(&status) {
            return Err(format!("invalid feature {name} {status}"));
        }
        into.insert(name.to_owned(), status.to_owned());
    }
    Ok(())
}

fn frequency_ok(f: &str) -> bool {
    ["FIFTEEN_MINUTES", "ONE_HOUR", "SIX_HOURS"].contains(&f)
}

async fn create_detector(State(st): St, headers: HeaderMap, body: Bytes) -> Response {
    let req = match body_json(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if req["enable"].as_bool().is_none() {
        return bad("enable is required");
    }
    let region = region_of(&headers);
    let mut s = st.lock().unwrap();
    if s.detectors.contains_key(&region) {
        return bad(
            "The request is rejected because a detector already exists for the current account.",
        );
    }
    let mut features: BTreeMap<String, String> = FEATURES
        .iter()
        .map(|f| {
            let on = *f != "RUNTIME_MONITORING";
            (
                f.to_string(),
                if on { "ENABLED" } else { "DISABLED" }.to_owned(),
            )
        })
        .collect();
    if let Err(e) = features_of(&req, &mut features) {
        return bad(&e);
    }
    let frequency = req["findingPublishingFrequency"]
        .as_str()
        .unwrap_or("SIX_HOURS");
    if !frequency_ok(frequency) {
        return bad("invalid findingPublishingFrequency");
    }
    s.seq += 1;
    let id = format!("{:032x}", 0x6764_0000_u64 + s.seq);
    s.detectors.insert(
        region,
        GdDetector {
            id: id.clone(),
            frequency: frequency.to_owned(),
            features,
            org_members: "NONE".into(),
            ..GdDetector::default()
        },
    );
    ok(json!({"detectorId": id}))
}

async fn get_detector(State(st): St, headers: HeaderMap, Path(id): Path<String>) -> Response {
    match with_detector(&st, &headers, &id, |d, _, _, _| {
        json!({
            "createdAt": "2026-01-01T00:00:00.000Z",
            "findingPublishingFrequency": d.frequency,
            "serviceRole": "arn:aws:iam::111111111111:role/aws-service-role/guardduty.amazonaws.com/AWSServiceRoleForAmazonGuardDuty",
            "status": "ENABLED",
            "updatedAt": "2026-01-01T00:00:00.000Z",
            "features": d.features.iter().map(|(n, s)| json!({"name": n, "status": s, "updatedAt": 1767225600})).collect::<Vec<_>>(),
        })
    }) {
        Ok(v) => ok(v),
        Err(r) => r,
    }
}

async fn update_detector(
    State(st): St,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let req = match body_json(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    match with_detector(&st, &headers, &id, |d, _, _, _| {
        let mut features = d.features.clone();
        features_of(&req, &mut features)?;
        if let Some(f) = req["findingPublishingFrequency"].as_str() {
            if !frequency_ok(f) {
                return Err("invalid findingPublishingFrequency".to_owned());
            }
            d.frequency = f.to_owned();
        }
        d.features = features;
        Ok(())
    }) {
        Ok(Ok(())) => ok(json!({})),
        Ok(Err(e)) => bad(&e),
        Err(r) => r,
    }
}

async fn get_org(State(st): St, headers: HeaderMap, Path(id): Path<String>) -> Response {
    match with_detector(&st, &headers, &id, |d, _, _, _| {
        json!({
            "autoEnableOrganizationMembers": d.org_members,
            "autoEnable": d.org_members != "NONE",
            "memberAccountLimitReached": false,
            "features": d.org_features.iter().map(|(n, a)| json!({"name": n, "autoEnable": a})).collect::<Vec<_>>(),
        })
    }) {
        Ok(v) => ok(v),
        Err(r) => r,
    }
}

async fn update_org(
    State(st): St,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let req = match body_json(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if req.get("autoEnable").is_some() && req.get("autoEnableOrganizationMembers").is_some() {
        return bad("send only one of autoEnable and autoEnableOrganizationMembers");
    }
    match with_detector(&st, &headers, &id, |d, _, _, _| {
        if let Some(m) = req["autoEnableOrganizationMembers"].as_str() {
            if !["NEW", "ALL", "NONE"].contains(&m) {
                return Err(format!("invalid autoEnableOrganizationMembers {m}"));
            }
            d.org_members = m.to_owned();
        }
        for f in req["features"].as_array().into_iter().flatten() {
            let name = f["name"].as_str().unwrap_or_default();
            let a = f["autoEnable"].as_str().unwrap_or_default();
            if !FEATURES.contains(&name)
                || name == "AI_ANALYST"
                || !["NEW", "ALL", "NONE"].contains(&a)
            {
                return Err(format!("invalid organisation feature {name} {a}"));
            }
            d.org_features.insert(name.to_owned(), a.to_owned());
        }
        Ok(())
    }) {
        Ok(Ok(())) => ok(json!({})),
        Ok(Err(e)) => bad(&e),
        Err(r) => r,
    }
}

fn page<T: Clone>(
    items: &[T],
    q: &HashMap<String, String>,
) -> Result<(Vec<T>, Option<String>), Response> {
    let max: usize = q
        .get("maxResults")
        .map(|m| m.parse().unwrap_or(0))
        .unwrap_or(50);
    if !(1..=50).contains(&max) {
        return Err(bad("maxResults must be 1 to 50"));
    }
    let start: usize = q
        .get("nextToken")
        .map(|t| t.parse().unwrap_or(usize::MAX))
        .unwrap_or(0);
    if start > items.len() {
        return Err(bad("invalid nextToken"));
    }
    let end = (start + max).min(items.len());
    let next = (end < items.len()).then(|| end.to_string());
    Ok((items[start..end].to_vec(), next))
}

async fn list_filters(
    State(st): St,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Q,
) -> Response {
    let names = match with_detector(&st, &headers, &id, |d, _, _, _| {
        d.filters.keys().cloned().collect::<Vec<_>>()
    }) {
        Ok(n) => n,
        Err(r) => return r,
    };
    match page(&names, &q) {
        Ok((p, next)) => ok(json!({"filterNames": p, "nextToken": next})),
        Err(r) => r,
    }
}

fn check_filter(req: &Value, creating: bool) -> Result<(), String> {
    if creating {
        let name = req["name"].as_str().ok_or("name is required")?;
        if !(3..=64).contains(&name.len())
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return Err(format!("invalid filter name {name:?}"));
        }
    }
    if req["description"]
        .as_str()
        .is_some_and(|d| d.chars().count() > 512)
    {
        return Err("description longer than 512".into());
    }
    if let Some(r) = req.get("rank") {
        if !r.as_i64().is_some_and(|r| (1..=100).contains(&r)) {
            return Err("rank must be 1 to 100".into());
        }
    }
    if let Some(a) = req.get("action") {
        if !["NOOP", "ARCHIVE"].contains(&a.as_str().unwrap_or_default()) {
            return Err("action must be NOOP or ARCHIVE".into());
        }
    }
    let crit = &req["findingCriteria"]["criterion"];
    match crit.as_object() {
        None if creating => return Err("findingCriteria is required".into()),
        None => {}
        Some(m) => {
            if m.is_empty() {
                return Err("findingCriteria.criterion is empty".into());
            }
            for (k, c) in m {
                for (op, max) in [
                    ("equals", 50),
                    ("notEquals", 50),
                    ("eq", 50),
                    ("neq", 50),
                    ("matches", 5),
                    ("notMatches", 5),
                ] {
                    if c[op].as_array().is_some_and(|v| v.len() > max) {
                        return Err(format!("{k}: {op} takes at most {max} values"));
                    }
                }
                let known = [
                    "equals",
                    "notEquals",
                    "eq",
                    "neq",
                    "gt",
                    "gte",
                    "lt",
                    "lte",
                    "greaterThan",
                    "greaterThanOrEqual",
                    "lessThan",
                    "lessThanOrEqual",
                    "matches",
                    "notMatches",
                ];
                if c.as_object().is_none_or(|o| {
                    o.is_empty() || o.keys().any(|op| !known.contains(&op.as_str()))
                }) {
                    return Err(format!("{k}: invalid condition"));
                }
            }
        }
    }
    Ok(())
}

async fn create_filter(
    State(st): St,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let req = match body_json(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Err(e) = check_filter(&req, true) {
        return bad(&e);
    }
    match with_detector(&st, &headers, &id, |d, _, _, _| {
        let name = req["name"].as_str().unwrap_or_default().to_owned();
        if d.filters.contains_key(&name) {
            return Err(
                "The request is rejected because a filter with the same name already exists."
                    .to_owned(),
            );
        }
        if req["rank"]
            .as_i64()
            .is_some_and(|r| r > d.filters.len() as i64 + 1)
        {
            return Err("The request is rejected because the rank is out-of-bounds.".to_owned());
        }
        if d.filters.len() >= 100 {
            return Err(
                "The request is rejected because the number of filters exceeds the limit of 100."
                    .to_owned(),
            );
        }
        // Ranks have no gaps: an insertion moves the filters at and after it.
        let rank = req["rank"].as_i64().unwrap_or(d.filters.len() as i64 + 1);
        for f in d.filters.values_mut() {
            if f["rank"].as_i64().is_some_and(|r| r >= rank) {
                f["rank"] = json!(f["rank"].as_i64().unwrap_or_default() + 1);
            }
        }
        d.filters.insert(
            name.clone(),
            json!({
                "name": name, "description": req["description"].as_str().unwrap_or_default(),
                "action": req["action"].as_str().unwrap_or("NOOP"),
                "rank": rank,
                "findingCriteria": req["findingCriteria"],
            }),
        );
        Ok(name)
    }) {
        Ok(Ok(name)) => ok(json!({"name": name})),
        Ok(Err(e)) => bad(&e),
        Err(r) => r,
    }
}

async fn get_filter(
    State(st): St,
    headers: HeaderMap,
    Path((id, name)): Path<(String, String)>,
) -> Response {
    match with_detector(&st, &headers, &id, |d, _, _, _| {
        d.filters.get(&name).cloned()
    }) {
        Ok(Some(f)) => ok(f),
        Ok(None) => bad("The request is rejected since no such resource found."),
        Err(r) => r,
    }
}

async fn update_filter(
    State(st): St,
    headers: HeaderMap,
    Path((id, name)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let req = match body_json(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Err(e) = check_filter(&req, false) {
        return bad(&e);
    }
    match with_detector(&st, &headers, &id, |d, _, _, _| {
        let Some(f) = d.filters.get_mut(&name) else {
            return false;
        };
        for k in ["description", "action", "rank", "findingCriteria"] {
            if let Some(v) = req.get(k) {
                f[k] = v.clone();
            }
        }
        true
    }) {
        Ok(true) => ok(json!({"name": name})),
        Ok(false) => bad("The request is rejected since no such resource found."),
        Err(r) => r,
    }
}

async fn delete_filter(
    State(st): St,
    headers: HeaderMap,
    Path((id, name)): Path<(String, String)>,
) -> Response {
    match with_detector(&st, &headers, &id, |d, _, _, _| {
        d.filters.remove(&name).is_some()
    }) {
        Ok(true) => ok(json!({})),
        Ok(false) => bad("The request is rejected since no such resource found."),
        Err(r) => r,
    }
}

/// `ipset` or `threatintelset`: the sets, their quota, the list key and id key.
fn kind_of(kind: &str) -> Option<(usize, &'static str, &'static str)> {
    match kind {
        "ipset" => Some((1, "ipSetIds", "ipSetId")),
        "threatintelset" => Some((6, "threatIntelSetIds", "threatIntelSetId")),
        _ => None,
    }
}

fn sets_of<'a>(d: &'a mut GdDetector, kind: &str) -> &'a mut BTreeMap<String, Value> {
    if kind == "ipset" {
        &mut d.ip_sets
    } else {
        &mut d.threat_sets
    }
}

fn location_ok(l: &str) -> bool {
    (l.starts_with("s3://") || l.starts_with("https://")) && l.len() <= 300
}

async fn list_sets(
    State(st): St,
    headers: HeaderMap,
    method: Method,
    Path((id, kind)): Path<(String, String)>,
    Query(q): Q,
) -> Response {
    if kind == "member" {
        return list_members(st, headers, id, q);
    }
    let _ = method;
    let Some((_, list_key, _)) = kind_of(&kind) else {
        return error(StatusCode::NOT_FOUND, "NotFound", "no such route");
    };
    let ids = match with_detector(&st, &headers, &id, |d, _, _, _| {
        sets_of(d, &kind).keys().cloned().collect::<Vec<_>>()
    }) {
        Ok(n) => n,
        Err(r) => return r,
    };
    match page(&ids, &q) {
        Ok((p, next)) => ok(json!({list_key: p, "nextToken": next})),
        Err(r) => r,
    }
}

async fn create_set(
    State(st): St,
    headers: HeaderMap,
    Path((id, kind)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let req = match body_json(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if kind == "member" {
        return create_members(st, headers, id, req);
    }
    let Some((max, _, id_key)) = kind_of(&kind) else {
        return error(StatusCode::NOT_FOUND, "NotFound", "no such route");
    };
    let name = req["name"].as_str().unwrap_or_default().to_owned();
    let format = req["format"].as_str().unwrap_or_default().to_owned();
    let location = req["location"].as_str().unwrap_or_default().to_owned();
    if name.is_empty() || name.len() > 300 {
        return bad("name must be 1 to 300 characters");
    }
    if !FORMATS.contains(&format.as_str()) {
        return bad(&format!("invalid format {format:?}"));
    }
    if !location_ok(&location) {
        return bad("invalid location");
    }
    let Some(activate) = req["activate"].as_bool() else {
        return bad("activate is required");
    };
    match with_detector(&st, &headers, &id, |d, seq, _, _| {
        let sets = sets_of(d, &kind);
        if sets.len() >= max {
            return Err(format!(
                "The request is rejected because the number of {kind}s exceeds the limit of {max}."
            ));
        }
        *seq += 1;
        let set_id = format!("{:032x}", 0x5e70_0000_u64 + *seq);
        sets.insert(
            set_id.clone(),
            json!({"name": name, "format": format, "location": location,
                   "status": if activate { "ACTIVE" } else { "INACTIVE" }}),
        );
        Ok(set_id)
    }) {
        Ok(Ok(set_id)) => ok(json!({id_key: set_id})),
        Ok(Err(e)) => bad(&e),
        Err(r) => r,
    }
}

async fn get_set(
    State(st): St,
    headers: HeaderMap,
    Path((id, kind, set)): Path<(String, String, String)>,
) -> Response {
    if kind_of(&kind).is_none() {
        return error(StatusCode::NOT_FOUND, "NotFound", "no such route");
    }
    match with_detector(&st, &headers, &id, |d, _, _, _| {
        sets_of(d, &kind).get(&set).cloned()
    }) {
        Ok(Some(v)) => ok(v),
        Ok(None) => bad("The request is rejected since no such resource found."),
        Err(r) => r,
    }
}

async fn update_set(
    State(st): St,
    headers: HeaderMap,
    Path((id, kind, set)): Path<(String, String, String)>,
    body: Bytes,
) -> Response {
    let req = match body_json(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if kind == "member" && set == "get" {
        return get_members(st, headers, id, req);
    }
    if kind_of(&kind).is_none() {
        return error(StatusCode::NOT_FOUND, "NotFound", "no such route");
    }
    if req["location"].as_str().is_some_and(|l| !location_ok(l)) {
        return bad("invalid location");
    }
    match with_detector(&st, &headers, &id, |d, _, _, _| {
        let Some(s) = sets_of(d, &kind).get_mut(&set) else {
            return false;
        };
        for k in ["name", "location"] {
            if let Some(v) = req.get(k) {
                s[k] = v.clone();
            }
        }
        if let Some(a) = req["activate"].as_bool() {
            s["status"] = json!(if a { "ACTIVE" } else { "INACTIVE" });
        }
        true
    }) {
        Ok(true) => ok(json!({})),
        Ok(false) => bad("The request is rejected since no such resource found."),
        Err(r) => r,
    }
}

async fn delete_set(
    State(st): St,
    headers: HeaderMap,
    Path((id, kind, set)): Path<(String, String, String)>,
) -> Response {
    if kind_of(&kind).is_none() {
        return error(StatusCode::NOT_FOUND, "NotFound", "no such route");
    }
    match with_detector(&st, &headers, &id, |d, _, _, _| {
        sets_of(d, &kind).remove(&set).is_some()
    }) {
        Ok(true) => ok(json!({})),
        Ok(false) => bad("The request is rejected since no such resource found."),
        Err(r) => r,
    }
}

fn list_members(
    st: Arc<Mutex<GdWorld>>,
    headers: HeaderMap,
    id: String,
    q: HashMap<String, String>,
) -> Response {
    let only_associated = q.get("onlyAssociated").is_none_or(|v| v != "false");
    let members = match with_detector(&st, &headers, &id, |d, _, _, _| {
        d.members
            .values()
            .filter(|m| !only_associated || m["relationshipStatus"] == "Enabled")
            .cloned()
            .collect::<Vec<_>>()
    }) {
        Ok(m) => m,
        Err(r) => return r,
    };
    match page(&members, &q) {
        Ok((p, next)) => ok(json!({"members": p, "nextToken": next})),
        Err(r) => r,
    }
}

fn get_members(st: Arc<Mutex<GdWorld>>, headers: HeaderMap, id: String, req: Value) -> Response {
    let ids: Vec<String> = req["accountIds"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    if ids.is_empty() || ids.len() > 50 {
        return bad("accountIds must hold 1 to 50 accounts");
    }
    match with_detector(&st, &headers, &id, |d, _, _, _| {
        let found: Vec<Value> = ids
            .iter()
            .filter_map(|a| d.members.get(a).cloned())
            .collect();
        let missing: Vec<Value> = ids
            .iter()
            .filter(|a| !d.members.contains_key(*a))
            .map(|a| json!({"accountId": a, "result": "The request is rejected because the account is not a member."}))
            .collect();
        json!({"members": found, "unprocessedAccounts": missing})
    }) {
        Ok(v) => ok(v),
        Err(r) => r,
    }
}

fn create_members(st: Arc<Mutex<GdWorld>>, headers: HeaderMap, id: String, req: Value) -> Response {
    let Some(details) = req["accountDetails"].as_array() else {
        return bad("accountDetails is required");
    };
    if details.is_empty() || details.len() > 50 {
        return bad("accountDetails must hold 1 to 50 accounts");
    }
    for a in details {
        if a["accountId"].as_str().is_none_or(|s| s.len() != 12)
            || a["email"].as_str().is_none_or(str::is_empty)
        {
            return bad("each account needs accountId (12 digits) and email");
        }
    }
    match with_detector(&st, &headers, &id, |d, _, org, admin| {
        let mut unprocessed = Vec::new();
        for a in details {
            let acct = a["accountId"].as_str().unwrap_or_default();
            if acct == admin {
                unprocessed.push(json!({"accountId": acct, "result": "The request is rejected because the current account cannot be a member of itself."}));
                continue;
            }
            if !org.contains_key(acct) {
                unprocessed.push(json!({"accountId": acct, "result": "The request is rejected because the account is not a part of the organization."}));
                continue;
            }
            d.members.insert(
                acct.to_owned(),
                json!({"accountId": acct, "detectorId": format!("{:032x}", acct.len()), "administratorId": admin,
                       "masterId": admin, "email": a["email"], "relationshipStatus": "Enabled",
                       "invitedAt": "2026-01-01T00:00:00.000Z", "updatedAt": "2026-01-01T00:00:00.000Z"}),
            );
        }
        json!({"unprocessedAccounts": unprocessed})
    }) {
        Ok(v) => ok(v),
        Err(r) => r,
    }
}

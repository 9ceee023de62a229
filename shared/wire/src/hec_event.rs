//! Splunk HTTP Event Collector: event envelopes and request bodies.
//!
//! Envelopes are stacked back to back in one body (`{..}{..}`, not a JSON array), each body at
//! most `max_body_bytes` (1 MB by default). The incident goes under Vigil's own sourcetype with
//! CIM Alerts field names in `event`; optionally each raw finding under `aws:securityhub:finding`.

use chrono::{DateTime, Utc};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use thiserror::Error;

use crate::payload::IncidentPayload;
use crate::retry::Failure;

pub const INCIDENT_SOURCETYPE: &str = "vigil:incident";
pub const FINDING_SOURCETYPE: &str = "aws:securityhub:finding";
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone)]
pub struct HecSettings {
    pub index: Option<String>,
    pub host: String,
    pub source: String,
    pub max_body_bytes: usize,
}

impl Default for HecSettings {
    fn default() -> Self {
        Self {
            index: None,
            host: "vigil".into(),
            source: "vigil".into(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum HecError {
    /// One envelope alone exceeds the body limit. Payloads are bounded, so this means the limit
    /// is configured below a single incident's size.
    #[error("event {key} is {size} bytes, above the {max}-byte HEC body limit")]
    EventTooLarge {
        key: String,
        size: usize,
        max: usize,
    },
}

/// CIM Alerts severity_id (1 informational .. 5 critical).
fn severity_id(p: &IncidentPayload) -> u8 {
    crate::payload::cef_severity(p.severity)
        .div_ceil(2)
        .clamp(1, 5)
}

/// The `/services/collector/event` envelope for an incident version.
pub fn incident_envelope(s: &HecSettings, p: &IncidentPayload, at: DateTime<Utc>) -> Value {
    let severity = p.severity.as_str().to_ascii_lowercase();
    let mut event = serde_json::to_value(p).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut event {
        // CIM Alerts data model names, so searches work without an add-on.
        m.insert("app".into(), json!("vigil"));
        m.insert("type".into(), json!("alert"));
        m.insert("id".into(), json!(p.idempotency_key));
        m.insert("signature".into(), json!(p.title));
        m.insert("signature_id".into(), json!(p.lead_finding_type));
        m.insert("dest".into(), json!(p.entity));
        m.insert("vendor_account".into(), json!(p.account_id));
        m.insert("description".into(), json!(p.correlation_reason));
        m.insert("severity".into(), json!(severity));
        m.insert("severity_id".into(), json!(severity_id(p)));
    }
    envelope(s, at, INCIDENT_SOURCETYPE, event, p)
}

/// The envelope for one raw ASFF finding of an incident (Splunk Add-on for AWS sourcetype).
pub fn finding_envelope(
    s: &HecSettings,
    p: &IncidentPayload,
    finding: Value,
    at: DateTime<Utc>,
) -> Value {
    envelope(s, at, FINDING_SOURCETYPE, finding, p)
}

fn envelope(
    s: &HecSettings,
    at: DateTime<Utc>,
    sourcetype: &str,
    event: Value,
    p: &IncidentPayload,
) -> Value {
    let mut e = json!({
        "time": at.timestamp_millis() as f64 / 1000.0,
        "host": s.host,
        "source": s.source,
        "sourcetype": sourcetype,
        "event": event,
        // Indexed fields: flat strings, not repeated inside `event` names.
        "fields": {"incident_key": p.idempotency_key, "incident_version": p.version.to_string()},
    });
    if let Some(i) = &s.index {
        e["index"] = json!(i);
    }
    e
}

/// A request body and the idempotency keys of the incidents it carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Body {
    pub bytes: String,
    pub keys: Vec<String>,
    pub events: usize,
}

/// Packs envelopes (with the idempotency key each belongs to) into bodies of at most
/// `max_body_bytes`, keeping order. Envelopes of one key may span bodies only if they must.
pub fn pack(envelopes: &[(String, Value)], max_body_bytes: usize) -> Result<Vec<Body>, HecError> {
    let mut out: Vec<Body> = Vec::new();
    let mut cur = Body {
        bytes: String::new(),
        keys: Vec::new(),
        events: 0,
    };
    for (key, env) in envelopes {
        let text = env.to_string();
        if text.len() > max_body_bytes {
            return Err(HecError::EventTooLarge {
                key: key.clone(),
                size: text.len(),
                max: max_body_bytes,
            });
        }
        let sep = usize::from(!cur.bytes.is_empty());
        if cur.bytes.len() + sep + text.len() > max_body_bytes {
            out.push(std::mem::replace(
                &mut cur,
                Body {
                    bytes: String::new(),
                    keys: Vec::new(),
                    events: 0,
                },
            ));
        }
        if !cur.bytes.is_empty() {
            cur.bytes.push('\n');
        }
        cur.bytes.push_str(&text);
        cur.events += 1;
        if cur.keys.last() != Some(key) {
            cur.keys.push(key.clone());
        }
    }
    if cur.events > 0 {
        out.push(cur);
    }
    Ok(out)
}

/// What a HEC response means for the events of the request.
#[derive(Debug, Clone, PartialEq)]
pub enum HecReply {
    /// Accepted (code 0); with indexer acknowledgement on, the id to poll.
    Accepted { ack_id: Option<u64> },
    /// Failed; for a data error in a stacked body, the index of the first bad event.
    Failed {
        failure: Failure,
        invalid_event: Option<usize>,
    },
}

#[derive(Debug, Deserialize)]
struct ReplyBody {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    code: Option<i64>,
    #[serde(default, rename = "ackId")]
    ack_id: Option<u64>,
    #[serde(default, rename = "invalid-event-number")]
    invalid_event: Option<usize>,
}

/// Classifies a HEC response by its reply code (gjanders/SplunkAdmins code table), falling back
/// to the HTTP status when the body is not HEC's JSON (a proxy, a load balancer).
pub fn classify_reply(status: u16, body: &str, retry_after: Option<Duration>) -> HecReply {
    let parsed: Option<ReplyBody> = serde_json::from_str(body).ok();
    let text = parsed
        .as_ref()
        .and_then(|b| b.text.clone())
        .unwrap_or_else(|| body.chars().take(200).collect());
    let code = parsed.as_ref().and_then(|b| b.code);
    let invalid_event = parsed.as_ref().and_then(|b| b.invalid_event);
    let msg = |what: &str| match code {
        Some(c) => format!("HEC {status} code {c} ({text}): {what}"),
        None => format!("HEC {status} ({text}): {what}"),
    };
    let failure = match code {
        Some(0) if (200..300).contains(&status) => {
            return HecReply::Accepted {
                ack_id: parsed.and_then(|b| b.ack_id),
            }
        }
        // HEC answers every accepted request with `{"text":"Success","code":0}`. A 2xx without
        // that (a proxy's page, an empty body) did not come from HEC: nothing is known to be
        // indexed, and the URL is probably not HEC's.
        None if (200..300).contains(&status) => Failure::config(msg(
            "a 2xx without a HEC reply: not counted as delivered (is the URL HEC's /services/collector?)",
        )),
        Some(1..=4) => Failure::config(msg("token missing, invalid or disabled")),
        Some(7) => Failure::config(msg("index not allowed for this token")),
        Some(10 | 11) => Failure::config(msg("token requires indexer acknowledgement: set ack")),
        Some(14) => Failure::config(msg("acknowledgement is disabled on this token: unset ack")),
        Some(16) => Failure::config(msg("query-string authorisation refused")),
        Some(5 | 6 | 12 | 13 | 15) => Failure::data(msg("event rejected")),
        Some(8 | 9 | 18..=20) => Failure::retryable(msg("server busy or failing")),
        _ => match crate::retry::http_status_class(status) {
            Some(crate::retry::FailureClass::Retryable) | None => {
                Failure::retryable(msg("retryable"))
            }
            Some(crate::retry::FailureClass::Config) => Failure::config(msg("configuration")),
            Some(crate::retry::FailureClass::Data) if status == 413 => {
                Failure::config(msg("body above the server's limit: lower max_body_bytes"))
            }
            Some(crate::retry::FailureClass::Data) => Failure::data(msg("rejected")),
        },
    };
    HecReply::Failed {
        failure: failure.with_retry_after(retry_after),
        invalid_event,
    }
}

/// Parses an `/services/collector/ack` response: `{"acks":{"0":true,"1":false}}`.
pub fn parse_acks(body: &str) -> Option<std::collections::BTreeMap<u64, bool>> {
    #[derive(Deserialize)]
    struct Acks {
        acks: std::collections::BTreeMap<String, bool>,
    }
    let a: Acks = serde_json::from_str(body).ok()?;
    a.acks
        .into_iter()
        .map(|(k, v)| k.parse().ok().map(|k| (k, v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::{classify, tests::incident};
    use proptest::prelude::*;

    fn payload(title: &str) -> IncidentPayload {
        let inc = incident(title);
        IncidentPayload::new(&inc, classify(None, &inc).unwrap())
    }

    #[test]
    fn an_incident_envelope_has_the_hec_fields_and_cim_alert_names() {
        let s = HecSettings {
            index: Some("security".into()),
            ..Default::default()
        };
        let p = payload("t");
        let e = incident_envelope(&s, &p, Utc::now());
        assert_eq!(e["sourcetype"], INCIDENT_SOURCETYPE);
        assert_eq!(e["index"], "security");
        assert!(e["time"].is_f64());
        assert_eq!(e["event"]["severity"], "high");
        assert_eq!(e["event"]["severity_id"], 4);
        assert_eq!(e["event"]["type"], "alert");
        assert_eq!(e["event"]["id"], p.idempotency_key);
        assert_eq!(e["fields"]["incident_version"], "1");
        assert!(e["fields"]
            .as_object()
            .unwrap()
            .values()
            .all(Value::is_string));
    }

    proptest! {
        #[test]
        fn bodies_respect_the_limit_and_concatenate_back_to_the_events(
            sizes in prop::collection::vec(1usize..400, 1..40),
            max in 450usize..2000,
        ) {
            let envs: Vec<(String, Value)> = sizes.iter().enumerate()
                .map(|(i, n)| (format!("k{}", i / 3), json!({"event": "x".repeat(*n), "i": i})))
                .collect();
            let bodies = pack(&envs, max).unwrap();
            let mut back = Vec::new();
            for b in &bodies {
                prop_assert!(b.bytes.len() <= max);
                let stream = serde_json::Deserializer::from_str(&b.bytes).into_iter::<Value>();
                for v in stream {
                    back.push(v.unwrap());
                }
            }
            let want: Vec<Value> = envs.into_iter().map(|(_, v)| v).collect();
            prop_assert_eq!(back, want);
        }
    }

    #[test]
    fn an_event_above_the_limit_is_an_error_naming_it() {
        let envs = vec![("inc-1:3".to_string(), json!({"event": "x".repeat(100)}))];
        assert!(
            matches!(pack(&envs, 50), Err(HecError::EventTooLarge { key, .. }) if key == "inc-1:3")
        );
    }

    #[test]
    fn hec_replies_are_classified_by_code_then_status() {
        let ok = classify_reply(200, r#"{"text":"Success","code":0,"ackId":7}"#, None);
        assert_eq!(ok, HecReply::Accepted { ack_id: Some(7) });
        let class = |st, body: &str| match classify_reply(st, body, None) {
            HecReply::Failed { failure, .. } => Some(failure.class),
            HecReply::Accepted { .. } => None,
        };
        use crate::retry::FailureClass::*;
        assert_eq!(
            class(403, r#"{"text":"Invalid token","code":4}"#),
            Some(Config)
        );
        assert_eq!(
            class(400, r#"{"text":"Incorrect index","code":7}"#),
            Some(Config)
        );
        assert_eq!(
            class(503, r#"{"text":"Server is busy","code":9}"#),
            Some(Retryable)
        );
        assert_eq!(
            class(500, r#"{"text":"Internal server error","code":8}"#),
            Some(Retryable)
        );
        assert_eq!(class(502, "<html>bad gateway</html>"), Some(Retryable));
        assert_eq!(class(429, ""), Some(Retryable));
        assert_eq!(class(413, "too large"), Some(Config));
        let bad = classify_reply(
            400,
            r#"{"text":"Invalid data format","code":6,"invalid-event-number":2}"#,
            None,
        );
        assert!(
            matches!(bad, HecReply::Failed { invalid_event: Some(2), ref failure } if failure.class == Data)
        );
    }

    /// Defect: a 2xx without a HEC reply (a proxy's or load balancer's page, an empty body)
    /// counted as delivered.
    #[test]
    fn a_2xx_without_a_hec_reply_is_not_a_delivery() {
        for body in [
            "",
            "<html><body>OK</body></html>",
            "{}",
            r#"{"text":"Success"}"#,
            "null",
        ] {
            match classify_reply(200, body, None) {
                HecReply::Failed { failure: f, .. } => {
                    assert_eq!(f.class, crate::retry::FailureClass::Config, "{body:?}: {f}")
                }
                other => panic!("{body:?} counted as {other:?}"),
            }
        }
        assert!(matches!(
            classify_reply(200, r#"{"text":"Success","code":0}"#, None),
            HecReply::Accepted { .. }
        ));
    }

    #[test]
    fn ack_responses_parse() {
        let a = parse_acks(r#"{"acks":{"0":true,"1":false}}"#).unwrap();
        assert_eq!(a.get(&0), Some(&true));
        assert_eq!(a.get(&1), Some(&false));
        assert_eq!(parse_acks("nope"), None);
    }
}

//! The AWS Security Finding Format (ASFF), modelled with serde.
//!
//! The SDK's `AwsSecurityFinding` has no serde support, so Vigil models the fields it uses and
//! keeps every other field in [`Finding::other`], so that a finding serialises back to the JSON it
//! came from (with the same keys) and can be forwarded intact.
//!
//! Parsing is two-step on purpose: [`parse_finding`] takes one `serde_json::Value` and either
//! returns a [`Finding`] or a [`FindingError`] that names the finding id and the offending field.
//! One malformed finding therefore never fails the event it arrived in.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::{RecordState, SeverityLabel, WorkflowStatus};
use crate::error::FindingError;

/// An ASFF timestamp: the original text (kept for forwarding) and its parsed instant.
///
/// Accepts RFC 3339 with 0–9 fractional digits, and the space-separated, offset-less form some
/// third-party products send (`2024-05-24 00:26:57.000000000`, read as UTC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timestamp {
    raw: String,
    at: DateTime<Utc>,
}

impl Timestamp {
    pub fn parse(raw: &str) -> Option<Self> {
        let at = super::parse_time(raw)?;
        Some(Self {
            raw: raw.to_owned(),
            at,
        })
    }

    pub fn from_datetime(at: DateTime<Utc>) -> Self {
        Self {
            raw: at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            at,
        }
    }

    pub fn at(&self) -> DateTime<Utc> {
        self.at
    }

    /// Moves the instant back to `limit` if it is later; the original text is kept. Returns
    /// whether it was clamped.
    pub fn clamp_to(&mut self, limit: DateTime<Utc>) -> bool {
        let clamped = self.at > limit;
        if clamped {
            self.at = limit;
        }
        clamped
    }

    pub fn raw(&self) -> &str {
        &self.raw
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.raw)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Timestamp::parse(&raw)
            .ok_or_else(|| serde::de::Error::custom(format!("invalid timestamp {raw:?}")))
    }
}

/// `Severity` as sent: any of `Label`, `Normalized`, `Product`, `Original`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Severity {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Kept as JSON: real findings send it as an integer and, in some samples, as a string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalized: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl Severity {
    /// The label, or one derived from `Normalized` when the label is absent.
    pub fn resolve(&self) -> Option<SeverityLabel> {
        if let Some(l) = self.label.as_deref().and_then(SeverityLabel::parse) {
            return Some(l);
        }
        let n = match self.normalized.as_ref()? {
            Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f.round() as i64)),
            Value::String(s) => s.trim().parse::<f64>().ok().map(|f| f.round() as i64),
            _ => None,
        }?;
        Some(SeverityLabel::from_normalized(n))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Resource {
    #[serde(rename = "Type")]
    pub resource_type: String,
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
    /// Type-specific details, kept as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Workflow {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Recommendation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Remediation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recommendation: Option<Recommendation>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FindingProviderFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub types: Option<Vec<String>>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// One ASFF finding. Known fields are typed; everything else is kept verbatim in `other`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Finding {
    pub schema_version: String,
    pub id: String,
    pub product_arn: String,
    pub generator_id: String,
    pub aws_account_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub types: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_observed_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_observed_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    pub title: String,
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_fields: Option<BTreeMap<String, String>>,
    pub resources: Vec<Resource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation: Option<Remediation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<Workflow>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finding_provider_fields: Option<FindingProviderFields>,
    /// Every field Vigil does not model, preserved so the finding can be forwarded intact.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl Finding {
    /// The finding's severity label: `Severity` (label, else derived from `Normalized`), else
    /// `FindingProviderFields.Severity`. Always `Some` for a finding returned by [`parse_finding`].
    pub fn severity_label(&self) -> Option<SeverityLabel> {
        self.severity
            .as_ref()
            .and_then(Severity::resolve)
            .or_else(|| {
                self.finding_provider_fields
                    .as_ref()
                    .and_then(|f| f.severity.as_ref())
                    .and_then(Severity::resolve)
            })
    }

    /// `Types`, else `FindingProviderFields.Types`, else empty.
    pub fn types(&self) -> &[String] {
        self.types
            .as_deref()
            .filter(|t| !t.is_empty())
            .or_else(|| {
                self.finding_provider_fields
                    .as_ref()
                    .and_then(|f| f.types.as_deref())
            })
            .unwrap_or(&[])
    }

    pub fn workflow_status(&self) -> WorkflowStatus {
        self.workflow
            .as_ref()
            .and_then(|w| w.status.as_deref())
            .and_then(WorkflowStatus::parse)
            .or_else(|| {
                self.workflow_state
                    .as_deref()
                    .and_then(WorkflowStatus::parse)
            })
            .unwrap_or(WorkflowStatus::New)
    }

    pub fn record_state(&self) -> RecordState {
        match self.record_state.as_deref() {
            Some(s) if s.eq_ignore_ascii_case("ARCHIVED") => RecordState::Archived,
            _ => RecordState::Active,
        }
    }

    /// When the activity began: `FirstObservedAt`, else `CreatedAt`. This is the finding's
    /// event time for correlation windows, so that a replay groups exactly as live processing.
    pub fn event_time(&self) -> DateTime<Utc> {
        self.first_observed_at
            .as_ref()
            .map(Timestamp::at)
            .unwrap_or_else(|| self.created_at.at())
    }

    /// When the activity was last seen: `LastObservedAt`, else `UpdatedAt` (never before
    /// [`Finding::event_time`]).
    pub fn last_event_time(&self) -> DateTime<Utc> {
        let last = self
            .last_observed_at
            .as_ref()
            .map(Timestamp::at)
            .unwrap_or_else(|| self.updated_at.at());
        last.max(self.event_time())
    }

    pub fn product_field(&self, key: &str) -> Option<&str> {
        self.product_fields
            .as_ref()
            .and_then(|m| m.get(key))
            .map(String::as_str)
    }

    /// The product that produced the finding, from `ProductName` or the `ProductArn` suffix.
    pub fn product(&self) -> &str {
        if let Some(p) = self.product_name.as_deref().filter(|p| !p.is_empty()) {
            return p;
        }
        self.product_arn
            .rsplit('/')
            .next()
            .filter(|s| !s.is_empty())
            .unwrap_or(&self.product_arn)
    }

    pub fn is_guardduty(&self) -> bool {
        self.product_arn.ends_with("/aws/guardduty")
    }

    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// Best-effort id for error messages: the `Id` string, if there is one.
pub fn finding_id_of(value: &Value) -> Option<String> {
    value
        .get("Id")
        .and_then(Value::as_str)
        .map(|id| crate::bounds::clip(id, crate::bounds::MAX_ID_BYTES))
}

/// Parses and validates one finding.
///
/// Required (the Security Hub API model, plus a resolvable severity): `SchemaVersion`, `Id`,
/// `ProductArn`, `GeneratorId`, `AwsAccountId`, `CreatedAt`, `UpdatedAt`, `Title`,
/// `Description`, `Resources` (each with `Type` and `Id`), and `Severity` (label or
/// normalized score, or `FindingProviderFields.Severity`).
pub fn parse_finding(value: &Value) -> Result<Finding, FindingError> {
    let id = finding_id_of(value);
    let obj = value.as_object().ok_or_else(|| FindingError::Invalid {
        finding_id: id.clone(),
        field: "<finding>".into(),
        reason: format!("expected a JSON object, got {}", json_kind(value)),
    })?;
    for field in [
        "SchemaVersion",
        "Id",
        "ProductArn",
        "GeneratorId",
        "AwsAccountId",
        "CreatedAt",
        "UpdatedAt",
        "Title",
        "Description",
        "Resources",
    ] {
        match obj.get(field) {
            None | Some(Value::Null) => {
                return Err(FindingError::Invalid {
                    finding_id: id,
                    field: field.into(),
                    reason: "missing required field".into(),
                })
            }
            Some(Value::String(s)) if s.trim().is_empty() && field != "Description" => {
                return Err(FindingError::Invalid {
                    finding_id: id,
                    field: field.into(),
                    reason: "empty".into(),
                })
            }
            _ => {}
        }
    }
    let finding: Finding =
        serde_json::from_value(value.clone()).map_err(|e| FindingError::Invalid {
            finding_id: id.clone(),
            field: field_of_serde_error(&e),
            reason: e.to_string(),
        })?;
    for (field, value) in [("Id", &finding.id), ("ProductArn", &finding.product_arn)] {
        if value.len() > crate::bounds::MAX_ID_BYTES {
            return Err(FindingError::Invalid {
                finding_id: Some(crate::bounds::clip(value, 200)),
                field: field.into(),
                reason: format!(
                    "{} bytes exceeds {} (ASFF allows 512 characters)",
                    value.len(),
                    crate::bounds::MAX_ID_BYTES
                ),
            });
        }
    }
    if finding.resources.is_empty() {
        return Err(FindingError::Invalid {
            finding_id: id,
            field: "Resources".into(),
            reason: "must hold at least one resource".into(),
        });
    }
    if finding.severity_label().is_none() {
        return Err(FindingError::Invalid {
            finding_id: id,
            field: "Severity".into(),
            reason: "no Label or Normalized in Severity or FindingProviderFields.Severity".into(),
        });
    }
    if !finding.aws_account_id.chars().all(|c| c.is_ascii_digit())
        || finding.aws_account_id.len() != 12
    {
        return Err(FindingError::Invalid {
            finding_id: id,
            field: "AwsAccountId".into(),
            reason: format!(
                "{:?} is not a 12-digit AWS account id",
                finding.aws_account_id
            ),
        });
    }
    Ok(finding)
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// serde_json's messages name the expected type but not the field for flattened structs; pull
/// the field name out of "missing field `X`" / "unknown variant" style messages when present.
fn field_of_serde_error(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    if let Some(start) = msg.find('`') {
        if let Some(len) = msg[start + 1..].find('`') {
            return msg[start + 1..start + 1 + len].to_owned();
        }
    }
    "<finding>".into()
}

/// Whether the fast parser ([`super::parse_finding`]) and this reference model make the same
/// decisions about `value`: both accept or both reject it, and when they accept it, every value
/// Vigil reads is the same. `Err` says where they differ.
pub fn agreement(value: &Value) -> Result<(), String> {
    let text = value.to_string();
    let fast = super::parse_finding(&text);
    let reference = parse_finding(value);
    let (f, r) = match (fast, reference) {
        (Err(_), Err(_)) => return Ok(()),
        (Ok(_), Err(e)) => return Err(format!("only the reference rejects it: {e}")),
        (Err(e), Ok(_)) => return Err(format!("only the fast parser rejects it: {e}")),
        (Ok(f), Ok(r)) => (f, r),
    };
    let mut diffs: Vec<String> = Vec::new();
    let mut same = |what: &str, a: String, b: String| {
        if a != b {
            diffs.push(format!("{what}: fast {a} != reference {b}"));
        }
    };
    let o = |x: Option<&str>| format!("{x:?}");
    same(
        "SchemaVersion",
        f.schema_version.to_string(),
        r.schema_version.clone(),
    );
    same("Id", f.id.to_string(), r.id.clone());
    same(
        "ProductArn",
        f.product_arn.to_string(),
        r.product_arn.clone(),
    );
    same(
        "GeneratorId",
        f.generator_id.to_string(),
        r.generator_id.clone(),
    );
    same(
        "AwsAccountId",
        f.aws_account_id.to_string(),
        r.aws_account_id.clone(),
    );
    same(
        "AwsAccountName",
        o(f.aws_account_name.as_deref()),
        o(r.other.get("AwsAccountName").and_then(Value::as_str)),
    );
    same(
        "types",
        format!(
            "{:?}",
            f.types().iter().map(|t| t.as_ref()).collect::<Vec<_>>()
        ),
        format!("{:?}", r.types()),
    );
    same(
        "CreatedAt",
        f.created_at.to_string(),
        r.created_at.at().to_string(),
    );
    same(
        "UpdatedAt",
        f.updated_at.to_string(),
        r.updated_at.at().to_string(),
    );
    same(
        "FirstObservedAt",
        format!("{:?}", f.first_observed_at),
        format!("{:?}", r.first_observed_at.as_ref().map(Timestamp::at)),
    );
    same(
        "LastObservedAt",
        format!("{:?}", f.last_observed_at),
        format!("{:?}", r.last_observed_at.as_ref().map(Timestamp::at)),
    );
    same(
        "ProcessedAt",
        format!("{:?}", f.processed_at),
        format!(
            "{:?}",
            r.other
                .get("ProcessedAt")
                .and_then(Value::as_str)
                .and_then(super::parse_time)
        ),
    );
    same(
        "event_time",
        f.event_time().to_string(),
        r.event_time().to_string(),
    );
    same(
        "last_event_time",
        f.last_event_time().to_string(),
        r.last_event_time().to_string(),
    );
    same(
        "severity",
        format!("{:?}", f.severity_label()),
        format!("{:?}", r.severity_label()),
    );
    same("Title", f.title.to_string(), r.title.clone());
    same(
        "Description",
        f.description.to_string(),
        r.description.clone(),
    );
    same("product", f.product().to_owned(), r.product().to_owned());
    same("Region", o(f.region.as_deref()), o(r.region.as_deref()));
    same(
        "workflow",
        format!("{:?}", f.workflow_status()),
        format!("{:?}", r.workflow_status()),
    );
    same(
        "record_state",
        format!("{:?}", f.record_state()),
        format!("{:?}", r.record_state()),
    );
    let pf: BTreeMap<&str, &str> = f
        .product_fields
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_ref()))
        .collect();
    let rpf: BTreeMap<&str, &str> = r
        .product_fields
        .iter()
        .flatten()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    same("ProductFields", format!("{pf:?}"), format!("{rpf:?}"));
    let rec = r
        .remediation
        .as_ref()
        .and_then(|x| x.recommendation.as_ref());
    same(
        "Remediation.Text",
        o(f.remediation_text.as_deref()),
        o(rec.and_then(|x| x.text.as_deref())),
    );
    same(
        "Remediation.Url",
        o(f.remediation_url.as_deref()),
        o(rec.and_then(|x| x.url.as_deref())),
    );
    same(
        "SecurityControlId",
        o(f.compliance
            .as_ref()
            .and_then(|c| c.security_control_id.0.as_deref())),
        o(r.other
            .get("Compliance")
            .and_then(|c| c.get("SecurityControlId"))
            .and_then(Value::as_str)),
    );
    same(
        "Vulnerabilities",
        format!(
            "{} {:?}",
            f.has_vulnerabilities,
            f.vulnerability_id.as_deref()
        ),
        format!(
            "{} {:?}",
            r.other.contains_key("Vulnerabilities"),
            r.other
                .get("Vulnerabilities")
                .and_then(|v| v.get(0))
                .and_then(|v| v.get("Id"))
                .and_then(Value::as_str)
        ),
    );
    same(
        "resources",
        format!("{}", f.resources.len()),
        format!("{}", r.resources.len()),
    );
    for (a, b) in f.resources.iter().zip(&r.resources) {
        same(
            "Resource.Type",
            a.resource_type.to_string(),
            b.resource_type.clone(),
        );
        same("Resource.Id", a.id.to_string(), b.id.clone());
        same(
            "Resource.Partition",
            o(a.partition.as_deref()),
            o(b.partition.as_deref()),
        );
        same(
            "Resource.Region",
            o(a.region.as_deref()),
            o(b.region.as_deref()),
        );
        let at: BTreeMap<&str, &str> = a
            .tags
            .iter()
            .map(|(k, v)| (k.as_ref(), v.as_ref()))
            .collect();
        let bt: BTreeMap<&str, &str> = b
            .tags
            .iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        same("Resource.Tags", format!("{at:?}"), format!("{bt:?}"));
        let ad: Option<Value> = a.details.and_then(|d| serde_json::from_str(d).ok());
        same(
            "Resource.Details",
            format!("{ad:?}"),
            format!("{:?}", b.details.as_ref().filter(|d| !d.is_null())),
        );
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(diffs.join("; "))
    }
}

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
use std::fmt;

use chrono::{DateTime, Datelike, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::error::FindingError;

/// Severity labels, ordered from least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SeverityLabel {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl SeverityLabel {
    /// Derives a label from `Severity.Normalized` (0–100) by the ranges documented for ASFF:
    /// 0 informational, 1–39 low, 40–69 medium, 70–89 high, 90–100 critical.
    pub fn from_normalized(n: i64) -> Self {
        match n {
            i64::MIN..=0 => Self::Informational,
            1..=39 => Self::Low,
            40..=69 => Self::Medium,
            70..=89 => Self::High,
            _ => Self::Critical,
        }
    }

    /// Parses a label case-insensitively (`HIGH`, `high`, `High`).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_uppercase().as_str() {
            "INFORMATIONAL" | "INFO" => Some(Self::Informational),
            "LOW" => Some(Self::Low),
            "MEDIUM" => Some(Self::Medium),
            "HIGH" => Some(Self::High),
            "CRITICAL" => Some(Self::Critical),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Informational => "INFORMATIONAL",
            Self::Low => "LOW",
            Self::Medium => "MEDIUM",
            Self::High => "HIGH",
            Self::Critical => "CRITICAL",
        }
    }
}

impl fmt::Display for SeverityLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

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
        let s = raw.trim();
        let at = DateTime::parse_from_rfc3339(s)
            .map(|d| d.with_timezone(&Utc))
            .ok()
            .or_else(|| {
                // RFC 3339 allows a space instead of `T`; some producers also drop the offset.
                let t = s.replacen(' ', "T", 1);
                DateTime::parse_from_rfc3339(&t)
                    .map(|d| d.with_timezone(&Utc))
                    .ok()
                    .or_else(|| {
                        NaiveDateTime::parse_from_str(&t, "%Y-%m-%dT%H:%M:%S%.f")
                            .ok()
                            .map(|n| n.and_utc())
                    })
            })?;
        // Years outside 1..=9999 are not ISO 8601 timestamps any product sends, and date
        // arithmetic near chrono's limits would overflow.
        if !(1..=9999).contains(&at.year()) {
            return None;
        }
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

/// Workflow status of a finding (`Workflow.Status`, or the legacy `WorkflowState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WorkflowStatus {
    New,
    Notified,
    Suppressed,
    Resolved,
}

impl WorkflowStatus {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_uppercase().as_str() {
            "NEW" => Some(Self::New),
            "NOTIFIED" | "ASSIGNED" | "IN_PROGRESS" => Some(Self::Notified),
            "SUPPRESSED" | "DEFERRED" => Some(Self::Suppressed),
            "RESOLVED" => Some(Self::Resolved),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "NEW",
            Self::Notified => "NOTIFIED",
            Self::Suppressed => "SUPPRESSED",
            Self::Resolved => "RESOLVED",
        }
    }
}

/// `RecordState` of a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RecordState {
    Active,
    Archived,
}

impl RecordState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Archived => "ARCHIVED",
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Asff;
    use serde_json::json;

    pub(crate) fn minimal() -> Value {
        Asff::guardduty("f1")
            .created("2026-11-20T10:00:00.123Z")
            .updated("2026-11-20T10:00:00.123Z")
            .set("Severity", json!({"Label": "MEDIUM", "Normalized": 40}))
            .set("SomethingNew", json!({"kept": [1, 2, 3]}))
            .json()
    }

    #[test]
    fn a_minimal_finding_parses_and_round_trips_with_unknown_fields_intact() {
        let v = minimal();
        let f = parse_finding(&v).unwrap();
        assert_eq!(f.severity_label(), Some(SeverityLabel::Medium));
        assert_eq!(f.to_json(), v);
    }

    #[test]
    fn severity_label_is_derived_from_normalized_by_documented_ranges() {
        for (n, l) in [
            (0, SeverityLabel::Informational),
            (1, SeverityLabel::Low),
            (39, SeverityLabel::Low),
            (40, SeverityLabel::Medium),
            (69, SeverityLabel::Medium),
            (70, SeverityLabel::High),
            (89, SeverityLabel::High),
            (90, SeverityLabel::Critical),
            (100, SeverityLabel::Critical),
        ] {
            let mut v = minimal();
            v["Severity"] = json!({ "Normalized": n });
            assert_eq!(parse_finding(&v).unwrap().severity_label(), Some(l), "{n}");
        }
    }

    #[test]
    fn label_wins_over_normalized_and_string_normalized_is_accepted() {
        let mut v = minimal();
        v["Severity"] = json!({"Label": "LOW", "Normalized": 40});
        assert_eq!(
            parse_finding(&v).unwrap().severity_label(),
            Some(SeverityLabel::Low)
        );
        v["Severity"] = json!({"Normalized": "75"});
        assert_eq!(
            parse_finding(&v).unwrap().severity_label(),
            Some(SeverityLabel::High)
        );
    }

    #[test]
    fn severity_falls_back_to_finding_provider_fields() {
        let mut v = minimal();
        v.as_object_mut().unwrap().remove("Severity");
        v["FindingProviderFields"] = json!({"Severity": {"Label": "CRITICAL"}, "Types": ["x/y"]});
        v.as_object_mut().unwrap().remove("Types");
        let f = parse_finding(&v).unwrap();
        assert_eq!(f.severity_label(), Some(SeverityLabel::Critical));
        assert_eq!(f.types(), ["x/y".to_string()]);
    }

    #[test]
    fn missing_severity_everywhere_is_an_error_naming_the_field_and_finding() {
        let mut v = minimal();
        v.as_object_mut().unwrap().remove("Severity");
        let e = parse_finding(&v).unwrap_err().to_string();
        assert!(e.contains("Severity") && e.contains("finding/f1"), "{e}");
    }

    #[test]
    fn timestamps_accept_zero_to_nine_fractional_digits_and_space_form() {
        for raw in [
            "2026-11-20T10:00:00Z",
            "2026-11-20T10:00:00.1Z",
            "2026-11-20T10:00:00.123Z",
            "2026-11-20T10:00:00.123456Z",
            "2026-11-20T10:00:00.123456789Z",
            "2026-11-20T12:00:00.5+02:00",
            "2026-11-20 10:00:00.000000000",
        ] {
            let t = Timestamp::parse(raw).unwrap_or_else(|| panic!("{raw}"));
            assert_eq!(t.at().date_naive().to_string(), "2026-11-20", "{raw}");
            assert_eq!(t.raw(), raw);
        }
        assert!(Timestamp::parse("yesterday").is_none());
        assert!(Timestamp::parse("+262143-12-31 23:59:59").is_none());
        assert!(Timestamp::parse("-262144-01-01 00:00:00").is_none());
        assert!(Timestamp::parse("0000-01-01T00:00:00Z").is_none());
        assert!(Timestamp::parse("9999-12-31T23:59:59Z").is_some());
    }

    #[test]
    fn each_required_field_is_named_when_missing() {
        for field in [
            "Id",
            "ProductArn",
            "GeneratorId",
            "AwsAccountId",
            "CreatedAt",
            "UpdatedAt",
            "Title",
            "Resources",
        ] {
            let mut v = minimal();
            v.as_object_mut().unwrap().remove(field);
            let e = parse_finding(&v).unwrap_err();
            assert!(e.to_string().contains(field), "{field}: {e}");
        }
    }

    #[test]
    fn wrong_types_are_errors_not_panics() {
        let mut v = minimal();
        v["Resources"] = json!("not a list");
        assert!(parse_finding(&v).is_err());
        let mut v = minimal();
        v["ProductFields"] = json!({"a": {"nested": true}});
        let e = parse_finding(&v).unwrap_err().to_string();
        assert!(e.contains("finding/f1"), "{e}");
        let mut v = minimal();
        v["AwsAccountId"] = json!(111111111111u64);
        assert!(parse_finding(&v).is_err());
        let mut v = minimal();
        v["UpdatedAt"] = json!("not a time");
        assert!(parse_finding(&v).is_err());
        assert!(parse_finding(&json!([1, 2])).is_err());
        assert!(parse_finding(&json!(null)).is_err());
    }

    #[test]
    fn account_id_must_be_twelve_digits() {
        let mut v = minimal();
        v["AwsAccountId"] = json!("1234");
        let e = parse_finding(&v).unwrap_err().to_string();
        assert!(e.contains("AwsAccountId"), "{e}");
    }

    #[test]
    fn workflow_and_record_state_default_to_new_and_active() {
        let f = parse_finding(&minimal()).unwrap();
        assert_eq!(f.workflow_status(), WorkflowStatus::New);
        assert_eq!(f.record_state(), RecordState::Active);
        let mut v = minimal();
        v["Workflow"] = json!({"Status": "RESOLVED"});
        v["RecordState"] = json!("ARCHIVED");
        let f = parse_finding(&v).unwrap();
        assert_eq!(f.workflow_status(), WorkflowStatus::Resolved);
        assert_eq!(f.record_state(), RecordState::Archived);
    }

    #[test]
    fn unicode_survives_parsing() {
        let mut v = minimal();
        v["Title"] = json!("Ünïcödé 🚨 – 攻撃");
        let f = parse_finding(&v).unwrap();
        assert_eq!(f.title, "Ünïcödé 🚨 – 攻撃");
    }
}

/// The parser never panics: not on arbitrary JSON, and not on a real finding with any of its
/// fields replaced by arbitrary JSON. It either parses or names the finding and field.
#[cfg(test)]
mod never_panics {
    use super::*;
    use proptest::prelude::*;

    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            ".{0,40}".prop_map(Value::String),
            // Strings that look like the values the parser interprets.
            prop_oneof![
                Just("2026-11-20T10:00:00Z"),
                Just("9999-12-31T23:59:59Z"),
                Just("0000-01-01T00:00:00Z"),
                Just("+262143-12-31 23:59:59"),
                Just("HIGH"),
                Just("111111111111"),
                Just("ARCHIVED"),
            ]
            .prop_map(|s| Value::String(s.to_owned())),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop_oneof![
                        Just("Label".to_owned()),
                        Just("Normalized".to_owned()),
                        Just("Type".to_owned()),
                        Just("Id".to_owned()),
                        Just("Tags".to_owned()),
                        Just("Details".to_owned()),
                        Just("Status".to_owned()),
                        "[A-Za-z]{1,12}",
                    ],
                    inner,
                    0..6
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    const FIELDS: [&str; 22] = [
        "SchemaVersion",
        "Id",
        "ProductArn",
        "GeneratorId",
        "AwsAccountId",
        "Types",
        "FirstObservedAt",
        "LastObservedAt",
        "CreatedAt",
        "UpdatedAt",
        "Severity",
        "Title",
        "Description",
        "Resources",
        "ProductFields",
        "ProductName",
        "Workflow",
        "WorkflowState",
        "RecordState",
        "FindingProviderFields",
        "Remediation",
        "ProcessedAt",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn arbitrary_json_is_an_error_not_a_panic(v in json()) {
            let _ = parse_finding(&v);
        }

        #[test]
        fn a_real_finding_with_any_field_replaced_parses_or_names_the_finding(
            replacements in prop::collection::vec((0usize..FIELDS.len(), json()), 1..4),
            nested in json(),
        ) {
            let mut v = crate::testing::Asff::guardduty("f1").json();
            v["Resources"][0]["Details"] = nested;
            for (i, value) in replacements {
                v[FIELDS[i]] = value;
            }
            match parse_finding(&v) {
                Ok(f) => {
                    let nf = crate::finding::NormalizedFinding::new(f, &crate::runbook::Runbook::default());
                    prop_assert!(!nf.correlation_key.is_empty());
                }
                Err(e) => prop_assert!(!e.field().is_empty()),
            }
        }
    }
}

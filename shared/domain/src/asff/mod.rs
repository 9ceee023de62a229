//! The AWS Security Finding Format (ASFF): one parse from the finding's bytes into a typed view
//! that borrows its strings from them, and the original bytes kept for storage and forwarding.
//!
//! The SDK's `AwsSecurityFinding` has no serde support, so Vigil models the fields it reads
//! and skips the rest without building them ([`Finding`]); the finding's own bytes
//! ([`Finding::raw`]) are what is stored and forwarded, never a re-serialisation.
//!
//! One malformed finding never fails the event it arrived in: [`parse_finding`] returns a
//! [`FindingError`] naming the finding id and the offending field.
//!
//! Strictness: the fields Vigil reads for decisions must have their ASFF type (a `Title` that
//! is a number makes the finding invalid); fields read only as hints (`Compliance`,
//! `Vulnerabilities`, `AwsAccountName`, `ProcessedAt`, `Action`, `Network`) are read when
//! they have the expected shape and ignored otherwise, like any field Vigil does not model.
//! [`reference`] keeps the original owned model; a property test holds the two to the same
//! decisions on every finding of the public corpus and on generated ones.

#[cfg(any(test, feature = "test-util"))]
pub mod reference;
mod wire;

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, Datelike, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::FindingError;

pub use wire::{Action, Compliance, Lenient, NetworkInfo, RemoteIp};

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
        let s = s.trim();
        let eq = |l: &str| s.eq_ignore_ascii_case(l);
        if eq("INFORMATIONAL") || eq("INFO") {
            Some(Self::Informational)
        } else if eq("LOW") {
            Some(Self::Low)
        } else if eq("MEDIUM") {
            Some(Self::Medium)
        } else if eq("HIGH") {
            Some(Self::High)
        } else if eq("CRITICAL") {
            Some(Self::Critical)
        } else {
            None
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

    pub const ALL: [SeverityLabel; 5] = [
        Self::Informational,
        Self::Low,
        Self::Medium,
        Self::High,
        Self::Critical,
    ];
}

impl fmt::Display for SeverityLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
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
        let s = s.trim();
        let eq = |l: &str| s.eq_ignore_ascii_case(l);
        if eq("NEW") {
            Some(Self::New)
        } else if eq("NOTIFIED") || eq("ASSIGNED") || eq("IN_PROGRESS") {
            Some(Self::Notified)
        } else if eq("SUPPRESSED") || eq("DEFERRED") {
            Some(Self::Suppressed)
        } else if eq("RESOLVED") {
            Some(Self::Resolved)
        } else {
            None
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

/// Parses an ASFF timestamp: RFC 3339 with 0–9 fractional digits, or the space-separated,
/// offset-less form some third-party products send (`2024-05-24 00:26:57.000000000`, read as
/// UTC). Years outside 1..=9999 are refused (no product sends them, and date arithmetic near
/// chrono's limits would overflow).
pub fn parse_time(raw: &str) -> Option<DateTime<Utc>> {
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
    (1..=9999).contains(&at.year()).then_some(at)
}

/// `Severity` (or `FindingProviderFields.Severity`) as sent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Severity<'a> {
    pub label: Option<Cow<'a, str>>,
    /// `Normalized`: an integer, a float or (in some samples) a numeric string.
    pub normalized: Option<Normalized>,
}

/// A `Severity.Normalized` value in any of the forms products send.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Normalized {
    Int(i64),
    Float(f64),
    /// A string that is a number; `None` when it is not.
    Text(Option<f64>),
    /// Any other JSON (a list, an object, a boolean): no usable value.
    Other,
}

impl Severity<'_> {
    /// The label, or one derived from `Normalized` when the label is absent or unknown.
    pub fn resolve(&self) -> Option<SeverityLabel> {
        if let Some(l) = self.label.as_deref().and_then(SeverityLabel::parse) {
            return Some(l);
        }
        let n = match self.normalized? {
            Normalized::Int(n) => n,
            Normalized::Float(f) => f.round() as i64,
            Normalized::Text(Some(f)) => f.round() as i64,
            Normalized::Text(None) | Normalized::Other => return None,
        };
        Some(SeverityLabel::from_normalized(n))
    }
}

/// `Note`: the last note set on the finding, and by whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note<'a> {
    pub text: Option<Cow<'a, str>>,
    pub updated_by: Option<Cow<'a, str>>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// One entry of `Resources`.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource<'a> {
    pub resource_type: Cow<'a, str>,
    pub id: Cow<'a, str>,
    pub partition: Option<Cow<'a, str>>,
    pub region: Option<Cow<'a, str>>,
    pub tags: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    /// `Details`, unparsed: read by path only for the resource types that need it.
    pub details: Option<&'a str>,
}

impl Resource<'_> {
    /// A string at `path` inside `Details` (e.g. `["AwsIamAccessKey", "PrincipalName"]`).
    pub fn detail_str(&self, path: &[&str]) -> Option<String> {
        let mut v: serde_json::Value = serde_json::from_str(self.details?).ok()?;
        for p in path {
            v = v.get_mut(p)?.take();
        }
        v.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
    }

    /// The tag `key` (case-insensitive), if the resource has it.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_ref())
    }
}

/// One parsed ASFF finding: the fields Vigil reads, borrowed from the finding's bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding<'a> {
    pub schema_version: Cow<'a, str>,
    pub id: Cow<'a, str>,
    pub product_arn: Cow<'a, str>,
    pub generator_id: Cow<'a, str>,
    pub aws_account_id: Cow<'a, str>,
    pub aws_account_name: Option<Cow<'a, str>>,
    pub types: Vec<Cow<'a, str>>,
    pub first_observed_at: Option<DateTime<Utc>>,
    pub last_observed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub processed_at: Option<DateTime<Utc>>,
    pub severity: Option<Severity<'a>>,
    pub title: Cow<'a, str>,
    pub description: Cow<'a, str>,
    pub product_name: Option<Cow<'a, str>>,
    pub company_name: Option<Cow<'a, str>>,
    pub region: Option<Cow<'a, str>>,
    pub product_fields: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    pub resources: Vec<Resource<'a>>,
    pub remediation_text: Option<Cow<'a, str>>,
    pub remediation_url: Option<Cow<'a, str>>,
    pub workflow_status: Option<Cow<'a, str>>,
    pub workflow_state: Option<Cow<'a, str>>,
    pub record_state: Option<Cow<'a, str>>,
    /// `Note` (set with BatchUpdateFindings; see `crate::writeback` for Vigil's own).
    pub note: Option<Note<'a>>,
    pub provider_severity: Option<Severity<'a>>,
    pub provider_types: Option<Vec<Cow<'a, str>>>,
    pub compliance: Option<Compliance<'a>>,
    /// `Vulnerabilities[0].Id`.
    pub vulnerability_id: Option<Cow<'a, str>>,
    /// Whether the finding has `Vulnerabilities` at all.
    pub has_vulnerabilities: bool,
    /// GuardDuty's `Action` (remote IPs, API calls, DNS requests), when it has that shape.
    pub action: Option<Action<'a>>,
    /// ASFF `Network` (source and destination addresses), when it has that shape.
    pub network: Option<NetworkInfo<'a>>,
    /// The finding's own JSON: stored and forwarded as it arrived.
    pub raw: &'a str,
}

impl<'a> Finding<'a> {
    /// The finding's severity label: `Severity` (label, else derived from `Normalized`), else
    /// `FindingProviderFields.Severity`. Always `Some` for a finding returned by
    /// [`parse_finding`].
    pub fn severity_label(&self) -> Option<SeverityLabel> {
        self.severity
            .as_ref()
            .and_then(Severity::resolve)
            .or_else(|| self.provider_severity.as_ref().and_then(Severity::resolve))
    }

    /// `Types`, else `FindingProviderFields.Types`, else empty.
    pub fn types(&self) -> &[Cow<'a, str>] {
        if !self.types.is_empty() {
            return &self.types;
        }
        self.provider_types.as_deref().unwrap_or(&[])
    }

    pub fn workflow_status(&self) -> WorkflowStatus {
        self.workflow_status
            .as_deref()
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
        self.first_observed_at.unwrap_or(self.created_at)
    }

    /// When the activity was last seen: `LastObservedAt`, else `UpdatedAt` (never before
    /// [`Finding::event_time`]).
    pub fn last_event_time(&self) -> DateTime<Utc> {
        self.last_observed_at
            .unwrap_or(self.updated_at)
            .max(self.event_time())
    }

    pub fn product_field(&self, key: &str) -> Option<&str> {
        self.product_fields
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_ref())
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
}

/// Best-effort id for error messages: the `Id` string, if there is one.
pub fn finding_id_of(raw: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct IdOnly<'a> {
        #[serde(rename = "Id", borrow, default)]
        id: wire::Lenient<Cow<'a, str>>,
    }
    serde_json::from_str::<IdOnly>(raw)
        .ok()
        .and_then(|i| i.id.0)
        .map(|id| crate::bounds::clip(&id, crate::bounds::MAX_ID_BYTES))
}

/// Parses and validates one finding from its JSON text.
///
/// Required (the Security Hub API model, plus a resolvable severity): `SchemaVersion`, `Id`,
/// `ProductArn`, `GeneratorId`, `AwsAccountId`, `CreatedAt`, `UpdatedAt`, `Title`,
/// `Description`, `Resources` (each with `Type` and `Id`), and `Severity` (label or
/// normalized score, or `FindingProviderFields.Severity`).
pub fn parse_finding(raw: &str) -> Result<Finding<'_>, FindingError> {
    wire::parse(raw)
}

#[cfg(test)]
mod tests;

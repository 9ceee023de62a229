//! The finding's JSON as serde reads it: one pass over the bytes, strings borrowed where they
//! have no escapes, every field Vigil does not read skipped without being built.

use std::borrow::Cow;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{parse_time, Finding, Normalized, Note, Resource, Severity};
use crate::error::FindingError;

/// A field read only as a hint: its value when it has the expected shape, else nothing (like a
/// field Vigil does not model). Never fails the finding.
#[derive(Debug, Clone, PartialEq)]
pub struct Lenient<T>(pub Option<T>);

impl<T> Default for Lenient<T> {
    fn default() -> Self {
        Self(None)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw: &'de RawValue = Deserialize::deserialize(d)?;
        Ok(Lenient(serde_json::from_str(raw.get()).ok()))
    }
}

/// A field read only as a hint whose value is an object: its value when it has the expected
/// shape, else nothing. Never fails the finding.
#[derive(Debug, Clone, PartialEq)]
pub struct Hint<T>(pub Option<T>);

impl<T> Default for Hint<T> {
    fn default() -> Self {
        Self(None)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Hint<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw: &'de RawValue = Deserialize::deserialize(d)?;
        Ok(Hint(
            serde_json::from_str::<Obj<T>>(raw.get()).ok().map(|o| o.0),
        ))
    }
}

/// A struct read from a JSON object only. serde's derived structs also accept an array of
/// their fields in order, which a finding never means.
#[derive(Debug)]
struct Obj<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<M: MapAccess<'de>>(self, m: M) -> Result<T, M::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(m))
            }
        }
        d.deserialize_map(V(PhantomData)).map(Obj)
    }
}

/// Any value, `null` included, captured unparsed: tells a present field from an absent one.
#[derive(Debug, Default)]
struct Present<'a>(Option<&'a RawValue>);

impl<'de: 'a, 'a> Deserialize<'de> for Present<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <&'de RawValue>::deserialize(d).map(|r| Present(Some(r)))
    }
}

/// A JSON object of strings to strings, kept in order (`Tags`, `ProductFields`).
#[derive(Debug, Default)]
struct StrMap<'a>(Vec<(Cow<'a, str>, Cow<'a, str>)>);

impl<'de: 'a, 'a> Deserialize<'de> for StrMap<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = StrMap<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map of strings to strings")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<Self::Value, M::Error> {
                let mut out = Vec::with_capacity(m.size_hint().unwrap_or(8));
                while let Some((k, v)) = m.next_entry::<Str<'a>, Str<'a>>()? {
                    out.push((k.0, v.0));
                }
                Ok(StrMap(out))
            }
        }
        d.deserialize_map(V(PhantomData))
    }
}

/// A string, borrowed when it has no escapes.
#[derive(Debug)]
struct Str<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Str<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V(PhantomData))
    }
}

fn cow<'a>(s: Option<Str<'a>>) -> Option<Cow<'a, str>> {
    s.map(|s| s.0)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WireSeverity<'a> {
    #[serde(borrow, default)]
    label: Option<Str<'a>>,
    #[serde(borrow, default)]
    normalized: Option<&'a RawValue>,
    #[serde(borrow, default)]
    original: Option<Str<'a>>,
}

impl<'a> WireSeverity<'a> {
    fn into_severity(self) -> Severity<'a> {
        let _ = self.original;
        Severity {
            label: cow(self.label),
            normalized: self.normalized.map(normalized),
        }
    }
}

fn normalized(raw: &RawValue) -> Normalized {
    let text = raw.get();
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Number(n)) => match n.as_i64() {
            Some(i) => Normalized::Int(i),
            None => Normalized::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Ok(serde_json::Value::String(s)) => Normalized::Text(s.trim().parse::<f64>().ok()),
        _ => Normalized::Other,
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WireResource<'a> {
    #[serde(rename = "Type", borrow)]
    resource_type: Str<'a>,
    #[serde(borrow)]
    id: Str<'a>,
    #[serde(borrow, default)]
    partition: Option<Str<'a>>,
    #[serde(borrow, default)]
    region: Option<Str<'a>>,
    #[serde(borrow, default)]
    tags: Option<StrMap<'a>>,
    #[serde(borrow, default)]
    details: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WireRecommendation<'a> {
    #[serde(borrow, default)]
    text: Option<Str<'a>>,
    #[serde(borrow, default)]
    url: Option<Str<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WireRemediation<'a> {
    #[serde(borrow, default)]
    recommendation: Option<Obj<WireRecommendation<'a>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WireWorkflow<'a> {
    #[serde(borrow, default)]
    status: Option<Str<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WireNote<'a> {
    #[serde(borrow, default)]
    text: Option<Str<'a>>,
    #[serde(borrow, default)]
    updated_by: Option<Str<'a>>,
    #[serde(borrow, default)]
    updated_at: Option<Str<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WireProviderFields<'a> {
    #[serde(borrow, default)]
    severity: Option<Obj<WireSeverity<'a>>>,
    #[serde(borrow, default)]
    types: Option<Vec<Str<'a>>>,
}

/// `Compliance`, read as a hint.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Compliance<'a> {
    #[serde(borrow, default)]
    pub status: Lenient<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub security_control_id: Lenient<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WireVulnerability<'a> {
    #[serde(borrow, default)]
    id: Lenient<Cow<'a, str>>,
}

/// A remote address GuardDuty reports (`RemoteIpDetails`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RemoteIp<'a> {
    #[serde(borrow, default)]
    pub ip_address_v4: Lenient<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub ip_address_v6: Lenient<Cow<'a, str>>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WithRemoteIp<'a> {
    #[serde(borrow, default)]
    remote_ip_details: Hint<RemoteIp<'a>>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ApiCall<'a> {
    #[serde(borrow, default)]
    remote_ip_details: Hint<RemoteIp<'a>>,
    #[serde(borrow, default)]
    domain_details: Hint<DomainDetails<'a>>,
    #[serde(borrow, default)]
    api: Lenient<Cow<'a, str>>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DomainDetails<'a> {
    #[serde(borrow, default)]
    domain: Lenient<Cow<'a, str>>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PortProbe<'a> {
    #[serde(borrow, default)]
    port_probe_details: Lenient<Vec<Hint<WithRemoteIp<'a>>>>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DnsRequest<'a> {
    #[serde(borrow, default)]
    domain: Lenient<Cow<'a, str>>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WireAction<'a> {
    #[serde(borrow, default)]
    action_type: Lenient<Cow<'a, str>>,
    #[serde(borrow, default)]
    network_connection_action: Hint<WithRemoteIp<'a>>,
    #[serde(borrow, default)]
    aws_api_call_action: Hint<ApiCall<'a>>,
    #[serde(borrow, default)]
    port_probe_action: Hint<PortProbe<'a>>,
    #[serde(borrow, default)]
    dns_request_action: Hint<DnsRequest<'a>>,
}

/// What GuardDuty's `Action` says about the activity, flattened for matching.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Action<'a> {
    pub action_type: Option<Cow<'a, str>>,
    /// Every remote address of the activity (network connection, API call, port probes).
    pub remote_ips: Vec<Cow<'a, str>>,
    /// The domain of a DNS request or of an API call's origin.
    pub domain: Option<Cow<'a, str>>,
    /// The API called (`AwsApiCallAction.Api`).
    pub api: Option<Cow<'a, str>>,
}

impl<'a> From<WireAction<'a>> for Action<'a> {
    fn from(w: WireAction<'a>) -> Self {
        let mut remote_ips = Vec::new();
        let mut push = |r: Option<RemoteIp<'a>>| {
            if let Some(r) = r {
                remote_ips.extend(r.ip_address_v4.0);
                remote_ips.extend(r.ip_address_v6.0);
            }
        };
        if let Some(n) = w.network_connection_action.0 {
            push(n.remote_ip_details.0);
        }
        let mut domain = w.dns_request_action.0.and_then(|d| d.domain.0);
        let mut api = None;
        if let Some(c) = w.aws_api_call_action.0 {
            push(c.remote_ip_details.0);
            if domain.is_none() {
                domain = c.domain_details.0.and_then(|d| d.domain.0);
            }
            api = c.api.0;
        }
        if let Some(p) = w.port_probe_action.0 {
            for d in p.port_probe_details.0.unwrap_or_default() {
                push(d.0.and_then(|d| d.remote_ip_details.0));
            }
        }
        Action {
            action_type: w.action_type.0,
            remote_ips,
            domain,
            api,
        }
    }
}

/// ASFF `Network`, read as a hint.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkInfo<'a> {
    #[serde(borrow, default)]
    pub direction: Lenient<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub source_ip_v4: Lenient<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub destination_ip_v4: Lenient<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub source_domain: Lenient<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub destination_domain: Lenient<Cow<'a, str>>,
}

/// The finding as serde reads it: every field optional here, required ones checked after, so
/// that a missing field is named as such.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WireFinding<'a> {
    #[serde(borrow, default)]
    schema_version: Option<Str<'a>>,
    #[serde(borrow, default)]
    id: Option<Str<'a>>,
    #[serde(borrow, default)]
    product_arn: Option<Str<'a>>,
    #[serde(borrow, default)]
    generator_id: Option<Str<'a>>,
    #[serde(borrow, default)]
    aws_account_id: Option<Str<'a>>,
    #[serde(borrow, default)]
    aws_account_name: Lenient<Cow<'a, str>>,
    #[serde(borrow, default)]
    types: Option<Vec<Str<'a>>>,
    #[serde(borrow, default)]
    first_observed_at: Option<Str<'a>>,
    #[serde(borrow, default)]
    last_observed_at: Option<Str<'a>>,
    #[serde(borrow, default)]
    created_at: Option<Str<'a>>,
    #[serde(borrow, default)]
    updated_at: Option<Str<'a>>,
    #[serde(borrow, default)]
    processed_at: Lenient<Cow<'a, str>>,
    #[serde(borrow, default)]
    severity: Option<Obj<WireSeverity<'a>>>,
    #[serde(borrow, default)]
    title: Option<Str<'a>>,
    #[serde(borrow, default)]
    description: Option<Str<'a>>,
    #[serde(borrow, default)]
    product_name: Option<Str<'a>>,
    #[serde(borrow, default)]
    company_name: Lenient<Cow<'a, str>>,
    #[serde(borrow, default)]
    region: Option<Str<'a>>,
    #[serde(borrow, default)]
    product_fields: Option<StrMap<'a>>,
    #[serde(borrow, default)]
    resources: Option<Vec<Obj<WireResource<'a>>>>,
    #[serde(borrow, default)]
    remediation: Option<Obj<WireRemediation<'a>>>,
    #[serde(borrow, default)]
    workflow: Option<Obj<WireWorkflow<'a>>>,
    #[serde(borrow, default)]
    workflow_state: Option<Str<'a>>,
    #[serde(borrow, default)]
    record_state: Option<Str<'a>>,
    #[serde(borrow, default)]
    note: Option<Obj<WireNote<'a>>>,
    #[serde(borrow, default)]
    finding_provider_fields: Option<Obj<WireProviderFields<'a>>>,
    #[serde(borrow, default)]
    compliance: Hint<Compliance<'a>>,
    #[serde(borrow, default)]
    vulnerabilities: Present<'a>,
    #[serde(borrow, default)]
    action: Hint<WireAction<'a>>,
    #[serde(borrow, default)]
    network: Hint<NetworkInfo<'a>>,
}

fn invalid(id: &Option<String>, field: &str, reason: impl Into<String>) -> FindingError {
    FindingError::Invalid {
        finding_id: id.clone(),
        field: field.to_owned(),
        reason: reason.into(),
    }
}

/// The JSON kind of the text's first value, for "expected an object" errors.
fn kind_of(raw: &str) -> &'static str {
    match raw.trim_start().as_bytes().first() {
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        Some(b'-' | b'0'..=b'9') => "a number",
        Some(b'{') => "an object",
        _ => "not JSON",
    }
}

/// serde_json's message names the field for most errors ("missing field `X`", "unknown
/// variant"); for type errors it gives the position, so the field is found from the path.
fn field_of(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    if let Some(start) = msg.find('`') {
        if let Some(len) = msg[start + 1..].find('`') {
            return msg[start + 1..start + 1 + len].to_owned();
        }
    }
    "<finding>".into()
}

/// A finding that does not deserialize: named by its `Id` and the path of the bad field.
fn type_error(raw: &str, e: serde_json::Error) -> FindingError {
    let id = super::finding_id_of(raw);
    let mut de = serde_json::Deserializer::from_str(raw);
    let field = match serde_path_to_error::deserialize::<_, WireFinding>(&mut de) {
        Err(pe) => match pe.path().to_string().as_str() {
            "." | "" => field_of(pe.inner()),
            p => p.trim_start_matches('.').to_owned(),
        },
        Ok(_) => field_of(&e),
    };
    invalid(&id, &field, e.to_string())
}

pub(super) fn parse<'a>(raw: &'a str) -> Result<Finding<'a>, FindingError> {
    if !raw.trim_start().starts_with('{') {
        let id = None;
        return Err(invalid(
            &id,
            "<finding>",
            format!("expected a JSON object, got {}", kind_of(raw)),
        ));
    }
    let w: WireFinding<'a> = match serde_json::from_str(raw) {
        Ok(w) => w,
        // The rare path: parse again, tracking the path, to name the field.
        Err(e) => return Err(type_error(raw, e)),
    };
    let id_for_errors =
        w.id.as_ref()
            .map(|s| crate::bounds::clip(&s.0, crate::bounds::MAX_ID_BYTES));
    let required = |v: Option<Str<'a>>,
                    field: &str,
                    may_be_empty: bool|
     -> Result<Cow<'a, str>, FindingError> {
        match v {
            None => Err(invalid(&id_for_errors, field, "missing required field")),
            Some(s) if !may_be_empty && s.0.trim().is_empty() => {
                Err(invalid(&id_for_errors, field, "empty"))
            }
            Some(s) => Ok(s.0),
        }
    };
    let schema_version = required(w.schema_version, "SchemaVersion", false)?;
    let id = required(w.id, "Id", false)?;
    let product_arn = required(w.product_arn, "ProductArn", false)?;
    let generator_id = required(w.generator_id, "GeneratorId", false)?;
    let aws_account_id = required(w.aws_account_id, "AwsAccountId", false)?;
    let created_raw = required(w.created_at, "CreatedAt", false)?;
    let updated_raw = required(w.updated_at, "UpdatedAt", false)?;
    let title = required(w.title, "Title", false)?;
    let description = required(w.description, "Description", true)?;
    let Some(wire_resources) = w.resources else {
        return Err(invalid(
            &id_for_errors,
            "Resources",
            "missing required field",
        ));
    };
    let time = |raw: &str, field: &str| {
        parse_time(raw)
            .ok_or_else(|| invalid(&id_for_errors, field, format!("invalid timestamp {raw:?}")))
    };
    let opt_time = |raw: Option<Str<'_>>, field: &str| raw.map(|r| time(&r.0, field)).transpose();
    let created_at = time(&created_raw, "CreatedAt")?;
    let updated_at = time(&updated_raw, "UpdatedAt")?;
    let first_observed_at = opt_time(w.first_observed_at, "FirstObservedAt")?;
    let last_observed_at = opt_time(w.last_observed_at, "LastObservedAt")?;
    for (field, value) in [("Id", &id), ("ProductArn", &product_arn)] {
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
    if wire_resources.is_empty() {
        return Err(invalid(
            &id_for_errors,
            "Resources",
            "must hold at least one resource",
        ));
    }
    let resources = wire_resources
        .into_iter()
        .map(|Obj(r)| Resource {
            resource_type: r.resource_type.0,
            id: r.id.0,
            partition: cow(r.partition),
            region: cow(r.region),
            tags: r.tags.map(|t| t.0).unwrap_or_default(),
            details: r.details.map(RawValue::get),
        })
        .collect();
    let (remediation_text, remediation_url) =
        match w.remediation.and_then(|Obj(r)| r.recommendation) {
            Some(Obj(rec)) => (cow(rec.text), cow(rec.url)),
            None => (None, None),
        };
    let (provider_severity, provider_types) = match w.finding_provider_fields {
        Some(Obj(p)) => (
            p.severity.map(|Obj(s)| s.into_severity()),
            p.types.map(|t| t.into_iter().map(|s| s.0).collect()),
        ),
        None => (None, None),
    };
    let (vulnerability_id, has_vulnerabilities) = match w.vulnerabilities.0 {
        None => (None, false),
        Some(v) => (
            serde_json::from_str::<Vec<Hint<WireVulnerability>>>(v.get())
                .ok()
                .and_then(|list| list.into_iter().next())
                .and_then(|first| first.0)
                .and_then(|first| first.id.0)
                .map(|c| Cow::Owned(c.into_owned())),
            true,
        ),
    };
    let finding = Finding {
        schema_version,
        id,
        product_arn,
        generator_id,
        aws_account_id,
        aws_account_name: w.aws_account_name.0,
        types: w
            .types
            .map(|t| t.into_iter().map(|s| s.0).collect())
            .unwrap_or_default(),
        first_observed_at,
        last_observed_at,
        created_at,
        updated_at,
        processed_at: w.processed_at.0.as_deref().and_then(parse_time),
        severity: w.severity.map(|Obj(s)| s.into_severity()),
        title,
        description,
        product_name: cow(w.product_name),
        company_name: w.company_name.0,
        region: cow(w.region),
        product_fields: w.product_fields.map(|m| m.0).unwrap_or_default(),
        resources,
        remediation_text,
        remediation_url,
        workflow_status: w.workflow.and_then(|Obj(w)| cow(w.status)),
        workflow_state: cow(w.workflow_state),
        record_state: cow(w.record_state),
        note: w.note.map(|Obj(n)| Note {
            text: cow(n.text),
            updated_by: cow(n.updated_by),
            updated_at: n.updated_at.as_ref().and_then(|t| parse_time(&t.0)),
        }),
        provider_severity,
        provider_types,
        compliance: w.compliance.0,
        vulnerability_id,
        has_vulnerabilities,
        action: w.action.0.map(Action::from),
        network: w.network.0,
        raw,
    };
    if finding.severity_label().is_none() {
        return Err(invalid(
            &id_for_errors,
            "Severity",
            "no Label or Normalized in Severity or FindingProviderFields.Severity",
        ));
    }
    if !finding.aws_account_id.chars().all(|c| c.is_ascii_digit())
        || finding.aws_account_id.len() != 12
    {
        return Err(invalid(
            &id_for_errors,
            "AwsAccountId",
            format!(
                "{:?} is not a 12-digit AWS account id",
                finding.aws_account_id
            ),
        ));
    }
    Ok(finding)
}

//! The runbook's JSON Schema, generated from the Rust types (`schemars`), for editors and CI:
//! `vigil runbook schema` prints it; `docs/runbook.schema.json` is the committed copy, checked
//! to be current by the CLI's tests. The criterion types, which accept several YAML forms, have
//! their schemas written here next to their deserializers' rules.

use std::borrow::Cow;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};

use super::spec::{
    DateCriterion, Day, EnvironmentCriterion, IpCriterion, NumberCriterion, SeverityCriterion,
    SeverityLabelSpec, StringCriterion,
};
use crate::runbook::{Environment, HumanDuration, Runbook};

/// The runbook's schema as JSON.
pub fn runbook_schema() -> serde_json::Value {
    let s = schemars::schema_for!(Runbook);
    s.to_value()
}

const ENVIRONMENTS: [&str; 15] = [
    "production",
    "prod",
    "prd",
    "live",
    "test",
    "testing",
    "staging",
    "stage",
    "stg",
    "qa",
    "uat",
    "preprod",
    "dev",
    "development",
    "sandbox",
];
const SEVERITIES: [&str; 5] = ["INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"];

macro_rules! schema {
    ($t:ty, $name:literal, $body:expr) => {
        impl JsonSchema for $t {
            fn schema_name() -> Cow<'static, str> {
                $name.into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                $body
            }
        }
    };
}

fn one_or_many() -> serde_json::Value {
    serde_json::json!({"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}]})
}

schema!(
    Environment,
    "Environment",
    json_schema!({"type": "string", "description": "production, test or dev (or an alias: prod, staging, qa, sandbox, ...; case-insensitive)", "examples": ENVIRONMENTS})
);
schema!(
    HumanDuration,
    "Duration",
    json_schema!({"type": "string", "pattern": "^(none|([0-9]+[smhd])+)$", "description": "30m, 1h, 4h, 2d, 1h30m; none (no deadline) where allowed"})
);
schema!(
    Day,
    "Day",
    json_schema!({"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$", "description": "a date, 2026-12-31"})
);
schema!(
    SeverityLabelSpec,
    "Severity",
    json_schema!({"type": "string", "enum": SEVERITIES})
);
schema!(StringCriterion, "StringCriterion", {
    let v = one_or_many();
    json_schema!({
        "description": "a value (EQUALS), a list (EQUALS any), or comparisons; `*` matches any characters in EQUALS and NOT_EQUALS",
        "oneOf": [
            {"type": "string"},
            {"type": "array", "items": {"type": "string"}, "minItems": 1},
            {"type": "object", "additionalProperties": false, "minProperties": 1, "properties": {
                "EQUALS": v, "PREFIX": v, "CONTAINS": v,
                "NOT_EQUALS": v, "NOT_PREFIX": v, "NOT_CONTAINS": v
            }}
        ]
    })
});
schema!(SeverityCriterion, "SeverityCriterion", {
    let one = serde_json::json!({"type": "string", "enum": SEVERITIES});
    let many = serde_json::json!({"oneOf": [one, {"type": "array", "items": one, "minItems": 1}]});
    json_schema!({
        "oneOf": [
            one,
            {"type": "array", "items": one, "minItems": 1},
            {"type": "object", "additionalProperties": false, "minProperties": 1, "properties": {
                "gte": one, "gt": one, "lte": one, "lt": one, "EQUALS": many, "NOT_EQUALS": many
            }}
        ]
    })
});
schema!(
    NumberCriterion,
    "NumberCriterion",
    json_schema!({"type": "object", "additionalProperties": false, "minProperties": 1, "properties": {
        "gte": {"type": "number"}, "gt": {"type": "number"}, "lte": {"type": "number"},
        "lt": {"type": "number"}, "eq": {"type": "number"}
    }})
);
schema!(
    DateCriterion,
    "TimeRange",
    json_schema!({"type": "object", "additionalProperties": false, "minProperties": 1, "properties": {
        "after": {"type": "string", "description": "RFC 3339"},
        "before": {"type": "string", "description": "RFC 3339"},
        "within": {"type": "string", "pattern": "^([0-9]+[smhd])+$"}
    }})
);
schema!(IpCriterion, "RemoteIpCriterion", {
    let v = one_or_many();
    json_schema!({
        "description": "names under ip_lists or addresses/CIDRs: every remote address in them (in), at least one (any_in), none (not_in)",
        "oneOf": [
            {"type": "string"},
            {"type": "array", "items": {"type": "string"}, "minItems": 1},
            {"type": "object", "additionalProperties": false, "minProperties": 1, "properties": {
                "in": v, "any_in": v, "not_in": v
            }}
        ]
    })
});
schema!(EnvironmentCriterion, "EnvironmentCriterion", {
    let v = one_or_many();
    json_schema!({
        "oneOf": [
            {"type": "string"},
            {"type": "array", "items": {"type": "string"}, "minItems": 1},
            {"type": "object", "additionalProperties": false, "minProperties": 1, "properties": {
                "EQUALS": v, "NOT_EQUALS": v
            }}
        ]
    })
});

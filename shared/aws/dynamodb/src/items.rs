//! The item codec: how domain records are laid out as DynamoDB items (see `docs/architecture.md`).
//!
//! | item | pk | sk | GSIs |
//! |---|---|---|---|
//! | finding record | `F#<finding key>` | `F` | gsi1: `INC#<incident id>` / `<event time>#<finding key>` |
//! | correlation head | `C#<correlation key>` | `C` | - |
//! | incident | `I#<incident id>` | `I` | gsi2: `STATUS#<status>` / `<last seen>#<incident id>` |
//! | delivery state, outbox, dead letters, leases | see [`crate::ledger`] | | gsi3 |
//!
//! Every item carries `entity_type` (`finding`, `head`, `incident`, `delivery`), and the
//! versioned kinds carry `version` and `ttl` (epoch seconds). The stream's consumers decode
//! images with the same codec ([`incident_from_image`]).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::de::DeserializeOwned;
use serde::Serialize;
use vigil_domain::incident::Incident;
use vigil_domain::{CorrelationHead, FindingRecord, StoreError};

pub type Item = HashMap<String, AttributeValue>;

pub const GSI_BY_INCIDENT: &str = "gsi1";
pub const GSI_BY_STATUS: &str = "gsi2";
/// Sparse, keys only: due outbox entries (`OUTBOX`) and dead letters (`DEAD`).
pub const GSI_OUTBOX: &str = "gsi3";

/// `entity_type` of each item kind.
pub const KIND_FINDING: &str = "finding";
pub const KIND_HEAD: &str = "head";
pub const KIND_INCIDENT: &str = "incident";
pub const KIND_DELIVERY: &str = "delivery";
pub const KIND_OUTBOX: &str = "outbox";
pub const KIND_DEAD_LETTER: &str = "dead_letter";
pub const KIND_LEASE: &str = "lease";

pub fn finding_pk(key: &str) -> String {
    format!("F#{key}")
}
pub fn head_pk(key: &str) -> String {
    format!("C#{key}")
}
pub fn incident_pk(id: &str) -> String {
    format!("I#{id}")
}
pub fn delivery_pk(incident_id: &str) -> String {
    format!("D#{incident_id}")
}
/// gsi1 partition of an incident's findings.
pub fn incident_findings_pk(incident_id: &str) -> String {
    format!("INC#{incident_id}")
}

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn encode<T: Serialize>(value: &T) -> Result<Item, StoreError> {
    serde_dynamo::to_item(value).map_err(|e| StoreError::Rejected {
        message: format!("cannot encode item: {e}"),
        source: Some(Box::new(e)),
    })
}

/// Decodes an item into a record; a failure names the item's key.
pub fn decode<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    let key = match item.get("pk") {
        Some(AttributeValue::S(s)) => s.clone(),
        _ => "<no pk>".into(),
    };
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt {
        key,
        message: e.to_string(),
    })
}

/// The encoded item with the attributes every kind carries: keys, `entity_type` and `ttl`.
fn base_item<T: Serialize>(
    value: &T,
    pk: String,
    sk: &str,
    entity_type: &str,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<Item, StoreError> {
    let mut item = encode(value)?;
    item.insert("pk".into(), s(pk));
    item.insert("sk".into(), s(sk));
    item.insert("entity_type".into(), s(entity_type));
    if let Some(at) = expires_at {
        item.insert("ttl".into(), AttributeValue::N(at.timestamp().to_string()));
    }
    Ok(item)
}

pub fn finding_item(r: &FindingRecord) -> Result<Item, StoreError> {
    let mut item = base_item(r, finding_pk(&r.key), "F", KIND_FINDING, r.expires_at)?;
    if let Some(id) = &r.incident_id {
        item.insert("gsi1pk".into(), s(incident_findings_pk(id)));
        item.insert(
            "gsi1sk".into(),
            s(format!("{}#{}", r.event_time.to_rfc3339(), r.key)),
        );
    }
    Ok(item)
}

pub fn incident_item(i: &Incident) -> Result<Item, StoreError> {
    let mut item = base_item(
        i,
        incident_pk(&i.id),
        "I",
        KIND_INCIDENT,
        Some(i.expires_at),
    )?;
    item.insert("gsi2pk".into(), s(format!("STATUS#{}", i.status.as_str())));
    item.insert(
        "gsi2sk".into(),
        s(format!("{}#{}", i.last_seen.to_rfc3339(), i.id)),
    );
    Ok(item)
}

pub fn head_item(h: &CorrelationHead) -> Result<Item, StoreError> {
    base_item(h, head_pk(&h.key), "C", KIND_HEAD, Some(h.expires_at))
}

/// Whether a stream image is an item of `kind`.
pub fn image_is(image: &serde_dynamo::Item, kind: &str) -> bool {
    matches!(image.get("entity_type"), Some(serde_dynamo::AttributeValue::S(s)) if s == kind)
}

/// The incident id of an incident item's keys (`pk = I#<id>`), as a stream record carries them.
pub fn incident_id_of_keys(keys: &serde_dynamo::Item) -> Option<String> {
    match keys.get("pk") {
        Some(serde_dynamo::AttributeValue::S(pk)) => pk.strip_prefix("I#").map(str::to_owned),
        _ => None,
    }
}

/// Decodes an incident from a stream image (as Lambda delivers it).
pub fn incident_from_image(image: &serde_dynamo::Item) -> Result<Incident, StoreError> {
    let key = match image.get("pk") {
        Some(serde_dynamo::AttributeValue::S(s)) => s.clone(),
        _ => "<no pk>".into(),
    };
    serde_dynamo::from_item(image.clone()).map_err(|e| StoreError::Corrupt {
        key,
        message: e.to_string(),
    })
}

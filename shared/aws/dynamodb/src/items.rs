//! The item codec: how domain records are laid out as DynamoDB items (see `docs/architecture.md`).
//!
//! | item | pk | sk | top-level attributes | GSIs (keys only) |
//! |---|---|---|---|---|
//! | finding record | `F#<finding key>` | `F` | `v`, `b`, `ttl` (not in an incident), `m` (its incident, when the incident does not list it) | by-incident: `m` / `pk` |
//! | correlation head | `C#<correlation key>` | `C` | `v`, `b`, `ttl` | - |
//! | incident | `I#<incident id>` | `I` | `v`, `b`, `ttl`, `st` (status), `entity_type` | by-status: `st` / `pk` |
//! | delivery state, outbox, dead letters, leases | see [`crate::ledger`] | | | gsi3 |
//! | runbook rule hit counts | `R#<rule id>` | `R` | see [`crate::rule_stats`] | - |
//! | campaign, digest | `Q#<item id>` | `Q` | `v`, `b`, `entity_type`, `ttl` (once closed) | gsi3: `QUEUE` / `<item id>` while live |
//!
//! `v` is the version every conditional write checks, `ttl` the expiry (epoch seconds), and `b`
//! the record itself, compressed ([`crate::codec`]). Attribute names are short because DynamoDB
//! bills them too. The indexes project keys only, on attributes that do not change with every
//! write, so that a write to an item is not also a write to an index. Incidents carry
//! `entity_type` for the stream's event filter. Items written before this layout (no `b`) are
//! still read. The stream's consumers decode images with the same codec
//! ([`incident_from_image`]).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use vigil_domain::incident::Incident;
use vigil_domain::queue_store::QueueRecord;
use vigil_domain::{CorrelationHead, FindingRecord, StoreError};

use crate::codec::{pack, unpack};

pub type Item = HashMap<String, AttributeValue>;

/// Keys only: the finding records of an incident (`m` = incident id, then `pk`).
pub const GSI_BY_INCIDENT: &str = "by-incident";
/// Keys only: incidents by status (`st` = `OPEN` | `RESOLVED`, then `pk`).
pub const GSI_BY_STATUS: &str = "by-status";
/// Sparse, keys only: due outbox entries (`OUTBOX`), dead letters (`DEAD`) and incidents
/// whose escalation may have a step due (`ESCALATE`, sort key `<next check>#<incident id>`).
pub const GSI_OUTBOX: &str = "gsi3";
/// The escalation index's partition in [`GSI_OUTBOX`].
pub const ESCALATE_PARTITION: &str = "ESCALATE";
/// The live campaigns' and digests' partition in [`GSI_OUTBOX`].
pub const QUEUE_PARTITION: &str = "QUEUE";

/// Attribute names of the store's items.
pub const ATTR_VERSION: &str = "v";
pub const ATTR_BODY: &str = "b";
pub const ATTR_TTL: &str = "ttl";
pub const ATTR_INCIDENT: &str = "m";
pub const ATTR_STATUS: &str = "st";

/// `entity_type` of each item kind (finding records and heads carry none).
pub const KIND_FINDING: &str = "finding";
pub const KIND_HEAD: &str = "head";
pub const KIND_INCIDENT: &str = "incident";
pub const KIND_DELIVERY: &str = "delivery";
pub const KIND_OUTBOX: &str = "outbox";
pub const KIND_DEAD_LETTER: &str = "dead_letter";
pub const KIND_LEASE: &str = "lease";
pub const KIND_QUEUE: &str = "queue";

pub fn finding_pk(key: &str) -> String {
    format!("F#{key}")
}
pub fn head_pk(key: &str) -> String {
    format!("C#{key}")
}
pub fn incident_pk(id: &str) -> String {
    format!("I#{id}")
}
pub fn queue_pk(id: &str) -> String {
    format!("Q#{id}")
}
pub fn delivery_pk(incident_id: &str) -> String {
    format!("D#{incident_id}")
}

/// The key prefix of an item kind's partition keys.
pub fn prefix_of(kind: &str) -> Option<&'static str> {
    match kind {
        KIND_FINDING => Some("F#"),
        KIND_HEAD => Some("C#"),
        KIND_INCIDENT => Some("I#"),
        _ => None,
    }
}

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn encode_error(e: impl std::fmt::Display) -> StoreError {
    StoreError::Rejected {
        message: format!("cannot encode item: {e}"),
        source: None,
    }
}

/// Decodes an item in the layout before compressed bodies (and the ledger's items); a failure
/// names the item's key.
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

/// `value` as JSON without the fields stored as attributes (`omit`).
fn meta<T: Serialize>(value: &T, omit: &[&str]) -> Result<Vec<u8>, StoreError> {
    let mut v = serde_json::to_value(value).map_err(encode_error)?;
    if let Value::Object(m) = &mut v {
        for k in omit {
            m.shift_remove(*k);
        }
    }
    serde_json::to_vec(&v).map_err(encode_error)
}

fn keyed(pk: String, sk: &str, version: u64, body: Vec<u8>) -> Item {
    HashMap::from([
        ("pk".to_owned(), s(pk)),
        ("sk".to_owned(), s(sk)),
        (ATTR_VERSION.to_owned(), n(version)),
        (ATTR_BODY.to_owned(), AttributeValue::B(body.into())),
    ])
}

pub fn finding_item(r: &FindingRecord) -> Result<Item, StoreError> {
    let json = meta(r, &["key", "version", "raw"])?;
    let body = pack(&json, Some(r.raw.as_bytes()))?;
    let mut item = keyed(finding_pk(&r.key), "F", r.version, body);
    if let Some(at) = r.expires_at {
        item.insert(ATTR_TTL.into(), n(at.timestamp()));
    }
    // A finding a runbook rule suppressed, not yet suppressed in Security Hub: the stream
    // filter hands it to the forwarder's Security Hub write-back.
    if vigil_domain::writeback::wants_suppression(r) {
        item.insert(ATTR_WRITEBACK.into(), s("SUPPRESSED"));
    }
    // Only members their incident does not list are indexed (one index write when they join).
    if let (Some(id), true) = (&r.incident_id, r.indexed) {
        item.insert(ATTR_INCIDENT.into(), s(id.clone()));
    }
    Ok(item)
}

pub fn incident_item(i: &Incident) -> Result<Item, StoreError> {
    let json = meta(i, &["id", "version"])?;
    let mut item = keyed(incident_pk(&i.id), "I", i.version, pack(&json, None)?);
    item.insert(ATTR_TTL.into(), n(i.expires_at.timestamp()));
    item.insert(ATTR_STATUS.into(), s(i.status.as_str()));
    item.insert("entity_type".into(), s(KIND_INCIDENT));
    // Sparse escalation index (gsi3, shared with the outbox under its own partition): only
    // incidents waiting for an analyst with a step to look at.
    if let (true, Some(at)) = (i.awaits_acknowledgement(), i.escalation.next_check) {
        item.insert("gsi3pk".into(), s(ESCALATE_PARTITION));
        item.insert(
            "gsi3sk".into(),
            s(format!("{}#{}", at.format("%Y-%m-%dT%H:%M:%SZ"), i.id)),
        );
    }
    Ok(item)
}

pub fn queue_item(r: &QueueRecord) -> Result<Item, StoreError> {
    let json = serde_json::to_vec(r).map_err(encode_error)?;
    let mut item = keyed(queue_pk(&r.item.id), "Q", r.version, pack(&json, None)?);
    item.insert("entity_type".into(), s(KIND_QUEUE));
    match r.expires_at() {
        Some(at) => {
            item.insert(ATTR_TTL.into(), n(at.timestamp()));
        }
        None => {
            item.insert("gsi3pk".into(), s(QUEUE_PARTITION));
            item.insert("gsi3sk".into(), s(r.item.id.clone()));
        }
    }
    Ok(item)
}

/// Decodes a campaign or digest from its stream image.
pub fn queue_from_image(image: &serde_dynamo::Item) -> Result<QueueRecord, StoreError> {
    queue_from_parts(image_parts(image))
}

/// The parts of a stream image a record is decoded from.
fn image_parts(image: &serde_dynamo::Item) -> Parts<'_> {
    Parts {
        pk: match image.get("pk") {
            Some(serde_dynamo::AttributeValue::S(s)) => s.as_str(),
            _ => "<no pk>",
        },
        version: match image.get(ATTR_VERSION) {
            Some(serde_dynamo::AttributeValue::N(v)) => Some(v.as_str()),
            _ => None,
        },
        body: match image.get(ATTR_BODY) {
            Some(serde_dynamo::AttributeValue::B(b)) => Some(b.as_slice()),
            _ => None,
        },
    }
}

fn queue_from_parts(parts: Parts<'_>) -> Result<QueueRecord, StoreError> {
    let corrupt = |message: String| StoreError::Corrupt {
        key: parts.pk.to_owned(),
        message,
    };
    let body = parts.body.ok_or_else(|| corrupt("no body".into()))?;
    let version: u64 = parts
        .version
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| corrupt("no version".into()))?;
    let (json, _) = unpack(parts.pk, body)?;
    let mut v: Value = serde_json::from_slice(&json).map_err(|e| corrupt(e.to_string()))?;
    let Value::Object(m) = &mut v else {
        return Err(corrupt("body is not an object".into()));
    };
    m.insert("version".into(), Value::from(version));
    serde_json::from_value(v).map_err(|e| corrupt(e.to_string()))
}

impl Stored for QueueRecord {
    fn from_item(item: Item) -> Result<Self, StoreError> {
        queue_from_parts(parts(&item))
    }
}

pub fn head_item(h: &CorrelationHead) -> Result<Item, StoreError> {
    let json = meta(h, &["key", "version"])?;
    let mut item = keyed(head_pk(&h.key), "C", h.version, pack(&json, None)?);
    item.insert(ATTR_TTL.into(), n(h.expires_at.timestamp()));
    Ok(item)
}

/// The parts of a stored item a record is decoded from, whichever attribute type carries them.
struct Parts<'a> {
    pk: &'a str,
    version: Option<&'a str>,
    body: Option<&'a [u8]>,
}

/// Rebuilds a record from its body and its key attributes (`id_field` from `pk` after its
/// two-character prefix, `version` from `v`).
fn rebuild<T: DeserializeOwned>(
    parts: Parts<'_>,
    id_field: &str,
    with_raw: bool,
) -> Result<T, StoreError> {
    let corrupt = |message: String| StoreError::Corrupt {
        key: parts.pk.to_owned(),
        message,
    };
    let Some(body) = parts.body else {
        return Err(corrupt("no body".into()));
    };
    let (json, raw) = unpack(parts.pk, body)?;
    let mut v: Value = serde_json::from_slice(&json).map_err(|e| corrupt(e.to_string()))?;
    let Value::Object(m) = &mut v else {
        return Err(corrupt("body is not an object".into()));
    };
    let id = parts.pk.get(2..).unwrap_or_default();
    m.insert(id_field.into(), Value::String(id.to_owned()));
    let version: u64 = parts
        .version
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| corrupt("no version".into()))?;
    m.insert("version".into(), Value::from(version));
    if with_raw {
        let raw = raw.ok_or_else(|| corrupt("no finding bytes in the body".into()))?;
        let raw = String::from_utf8(raw).map_err(|e| corrupt(e.to_string()))?;
        m.insert("raw".into(), Value::String(raw));
    }
    serde_json::from_value(v).map_err(|e| corrupt(e.to_string()))
}

fn parts(item: &Item) -> Parts<'_> {
    Parts {
        pk: match item.get("pk") {
            Some(AttributeValue::S(s)) => s,
            _ => "<no pk>",
        },
        version: match item.get(ATTR_VERSION) {
            Some(AttributeValue::N(v)) => Some(v),
            _ => None,
        },
        body: match item.get(ATTR_BODY) {
            Some(AttributeValue::B(b)) => Some(b.as_ref()),
            _ => None,
        },
    }
}

/// A record the store keeps as an item of its own kind.
pub trait Stored: Sized {
    fn from_item(item: Item) -> Result<Self, StoreError>;
}

impl Stored for FindingRecord {
    fn from_item(item: Item) -> Result<Self, StoreError> {
        if !item.contains_key(ATTR_BODY) {
            return decode(item);
        }
        rebuild(parts(&item), "key", true)
    }
}

impl Stored for Incident {
    fn from_item(item: Item) -> Result<Self, StoreError> {
        if !item.contains_key(ATTR_BODY) {
            return decode(item);
        }
        rebuild(parts(&item), "id", false)
    }
}

impl Stored for CorrelationHead {
    fn from_item(item: Item) -> Result<Self, StoreError> {
        if !item.contains_key(ATTR_BODY) {
            return decode(item);
        }
        rebuild(parts(&item), "key", false)
    }
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

/// The attribute a finding item carries when it asks for a Security Hub write-back.
pub const ATTR_WRITEBACK: &str = "wb";

/// Decodes a finding record from a stream image (as Lambda delivers it).
pub fn finding_from_image(image: &serde_dynamo::Item) -> Result<FindingRecord, StoreError> {
    rebuild(image_parts(image), "key", true)
}

/// Whether a stream image is a finding asking for a Security Hub write-back.
pub fn wants_writeback(image: &serde_dynamo::Item) -> bool {
    matches!(image.get(ATTR_WRITEBACK), Some(serde_dynamo::AttributeValue::S(s)) if s == "SUPPRESSED")
}

/// Decodes an incident from a stream image (as Lambda delivers it).
pub fn incident_from_image(image: &serde_dynamo::Item) -> Result<Incident, StoreError> {
    let parts = image_parts(image);
    if parts.body.is_some() {
        return rebuild(parts, "id", false);
    }
    serde_dynamo::from_item(image.clone()).map_err(|e| StoreError::Corrupt {
        key: parts.pk.to_owned(),
        message: e.to_string(),
    })
}

/// The item size DynamoDB bills: attribute names plus values (numbers approximated by their
/// text), in bytes.
pub fn billed_size(item: &Item) -> usize {
    fn value(v: &AttributeValue) -> usize {
        match v {
            AttributeValue::S(s) | AttributeValue::N(s) => s.len(),
            AttributeValue::B(b) => b.as_ref().len(),
            AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
            AttributeValue::M(m) => {
                3 + m.iter().map(|(k, v)| k.len() + value(v) + 1).sum::<usize>()
            }
            AttributeValue::L(l) => 3 + l.iter().map(|v| value(v) + 1).sum::<usize>(),
            AttributeValue::Ss(l) | AttributeValue::Ns(l) => l.iter().map(String::len).sum(),
            AttributeValue::Bs(l) => l.iter().map(|b| b.as_ref().len()).sum(),
            _ => 0,
        }
    }
    item.iter().map(|(k, v)| k.len() + value(v)).sum()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use vigil_domain::testing::{normalized, Asff};

    fn record() -> FindingRecord {
        let f = normalized(&Asff::guardduty("a").json());
        FindingRecord::of(
            &f,
            None,
            Some("inc-1".into()),
            chrono::Utc::now(),
            chrono::Duration::days(1),
        )
    }

    #[test]
    fn records_round_trip_through_their_items() {
        let mut r = record();
        let item = finding_item(&r).unwrap();
        assert!(!item.contains_key(ATTR_INCIDENT) && !item.contains_key(ATTR_TTL));
        assert_eq!(FindingRecord::from_item(item).unwrap(), r);
        r.indexed = true;
        let item = finding_item(&r).unwrap();
        assert_eq!(item.get(ATTR_INCIDENT), Some(&s("inc-1")));
        assert_eq!(FindingRecord::from_item(item).unwrap(), r);
        let inc = vigil_domain::testing::incident("a", "t", 3);
        let item = incident_item(&inc).unwrap();
        assert_eq!(item.get(ATTR_STATUS), Some(&s("OPEN")));
        assert_eq!(Incident::from_item(item).unwrap(), inc);
        let mut h = CorrelationHead::new("111111111111|ec2-instance:i-1");
        h.upsert(inc.window());
        h.version = 2;
        assert_eq!(
            CorrelationHead::from_item(head_item(&h).unwrap()).unwrap(),
            h
        );
    }

    #[test]
    fn a_finding_record_fits_one_write_unit() {
        let r = record();
        let item = finding_item(&r).unwrap();
        assert!(
            billed_size(&item) <= 1024,
            "{} bytes (finding {} bytes)",
            billed_size(&item),
            r.raw.len()
        );
    }

    #[test]
    fn items_in_the_layout_before_compressed_bodies_are_still_read() {
        let r = record();
        let mut legacy: Item = serde_dynamo::to_item(&r).unwrap();
        legacy.insert("pk".into(), s(finding_pk(&r.key)));
        assert_eq!(FindingRecord::from_item(legacy).unwrap(), r);
    }

    #[test]
    fn stream_images_decode_like_items() {
        let inc = vigil_domain::testing::incident("a", "t", 3);
        let item = incident_item(&inc).unwrap();
        let image: serde_dynamo::Item = item.into();
        assert!(image_is(&image, KIND_INCIDENT));
        assert_eq!(incident_from_image(&image).unwrap(), inc);
    }
}

//! Indicators: the observables a finding carries that can tie incidents on different entities
//! into one campaign (see [`crate::queue`]): remote IP addresses, access key ids, IAM
//! principals, domains, targeted buckets and malware hashes, each written `kind:value`.
//!
//! GuardDuty Extended Threat Detection attack sequences (`AttackSequence:*`) also name the
//! findings they are built from (`Detection.Sequence.Signals`): those are kept as finding keys
//! ([`crate::finding::finding_key`]) so that the incidents holding them can be linked in.

use std::collections::BTreeSet;

use crate::asff::Finding;
use crate::bounds::{clip, MAX_LABEL_CHARS};

/// Most indicators one finding contributes (the first ones, in a fixed order of kinds).
pub const MAX_PER_FINDING: usize = 16;
/// Most indicators an incident keeps: the smallest ones, so that the set does not depend on
/// the order its findings arrived in.
pub const MAX_PER_INCIDENT: usize = 32;
/// Most signals an attack sequence names (the service's own limit is 100).
pub const MAX_SIGNALS: usize = 100;

/// The kinds, in the order they are taken from a finding.
pub const KINDS: [&str; 6] = ["ip", "access-key", "principal", "domain", "bucket", "hash"];

/// Whether a finding is a GuardDuty attack sequence.
pub fn is_attack_sequence(finding_type: &str) -> bool {
    finding_type.contains("AttackSequence:")
}

fn push(out: &mut Vec<String>, kind: &str, value: &str) {
    let v = value.trim();
    if v.is_empty() || out.len() >= MAX_PER_FINDING {
        return;
    }
    let v = if kind == "domain" {
        v.trim_end_matches('.').to_ascii_lowercase()
    } else {
        v.to_owned()
    };
    let s = format!("{kind}:{}", clip(&v, MAX_LABEL_CHARS));
    if !out.contains(&s) {
        out.push(s);
    }
}

/// The indicators of one finding, `kind:value`, at most [`MAX_PER_FINDING`], and for an
/// attack sequence the finding keys of its signals (its JSON read once).
pub fn of(f: &Finding<'_>) -> (Vec<String>, Vec<String>) {
    let mut out = Vec::new();
    if let Some(a) = &f.action {
        for ip in &a.remote_ips {
            push(&mut out, "ip", ip);
        }
    }
    for r in &f.resources {
        match r.resource_type.as_ref() {
            "AwsIamAccessKey" => {
                if let Some(k) = r.detail_str(&["AwsIamAccessKey", "AccessKeyId"]) {
                    push(&mut out, "access-key", &k);
                }
                let principal = r
                    .detail_str(&["AwsIamAccessKey", "PrincipalName"])
                    .or_else(|| r.detail_str(&["AwsIamAccessKey", "UserName"]));
                if let Some(p) = principal {
                    push(&mut out, "principal", &p);
                }
            }
            "AwsIamUser" | "AwsIamRole" => {
                let name = r.id.rsplit('/').next().unwrap_or(&r.id);
                push(&mut out, "principal", name);
            }
            "AwsS3Bucket" => push(&mut out, "bucket", r.id.trim_start_matches("arn:aws:s3:::")),
            _ => {}
        }
    }
    if let Some(d) = f.action.as_ref().and_then(|a| a.domain.as_deref()) {
        push(&mut out, "domain", d);
    }
    for (k, v) in &f.product_fields {
        let k = k.to_ascii_lowercase();
        if k.ends_with("/hash") || k.ends_with("sha256") || k.ends_with("/sha1") {
            push(&mut out, "hash", &v.to_ascii_lowercase());
        }
    }
    let mut signals = Vec::new();
    if f.types().iter().any(|t| is_attack_sequence(t)) {
        let (sigs, inds) = sequence(f);
        signals = sigs;
        for i in inds {
            if out.len() < MAX_PER_FINDING && !out.contains(&i) {
                out.push(i);
            }
        }
    }
    (out, signals)
}

/// An attack sequence's signals (as finding keys) and its own indicators, read from
/// `Detection.Sequence`; empty for anything else or a malformed sequence.
fn sequence(f: &Finding<'_>) -> (Vec<String>, Vec<String>) {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(f.raw) else {
        return (Vec::new(), Vec::new());
    };
    let Some(seq) = v.pointer("/Detection/Sequence") else {
        return (Vec::new(), Vec::new());
    };
    let str_at =
        |v: &serde_json::Value, k: &str| v.get(k).and_then(|s| s.as_str()).map(str::to_owned);
    let mut signals = Vec::new();
    for s in seq
        .get("Signals")
        .and_then(|s| s.as_array())
        .into_iter()
        .flatten()
        .take(MAX_SIGNALS)
    {
        if let Some(id) = str_at(s, "Id") {
            let product = str_at(s, "ProductArn").unwrap_or_else(|| f.product_arn.to_string());
            signals.push(crate::finding::finding_key(&product, &id));
        }
    }
    let mut inds = Vec::new();
    for e in seq
        .get("Endpoints")
        .and_then(|s| s.as_array())
        .into_iter()
        .flatten()
    {
        if let Some(ip) = str_at(e, "Ip") {
            push(&mut inds, "ip", &ip);
        }
        if let Some(d) = str_at(e, "Domain") {
            push(&mut inds, "domain", &d);
        }
    }
    for i in seq
        .get("SequenceIndicators")
        .and_then(|s| s.as_array())
        .into_iter()
        .flatten()
    {
        let key = str_at(i, "Key").unwrap_or_default().to_ascii_uppercase();
        let kind = match key.as_str() {
            k if k.contains("IP") => "ip",
            k if k.contains("ACCESS_KEY") => "access-key",
            k if k.contains("DOMAIN") => "domain",
            k if k.contains("BUCKET") => "bucket",
            k if k.contains("PRINCIPAL") || k.contains("USER") => "principal",
            _ => continue,
        };
        for val in i
            .get("Values")
            .and_then(|s| s.as_array())
            .into_iter()
            .flatten()
        {
            if let Some(val) = val.as_str() {
                push(&mut inds, kind, val);
            }
        }
    }
    (signals, inds)
}

/// Adds `values` to `set`, keeping only the `cap` smallest: the result is the same whatever
/// order values are added in. Returns whether the set changed.
pub fn merge_capped(set: &mut BTreeSet<String>, values: &[String], cap: usize) -> bool {
    let mut changed = false;
    for v in values {
        if set.len() >= cap && set.last().is_some_and(|l| v >= l) {
            continue;
        }
        if set.insert(v.clone()) {
            changed = true;
            while set.len() > cap {
                set.pop_last();
            }
        }
    }
    changed
}

/// `kind` and value of `kind:value`.
pub fn split(indicator: &str) -> (&str, &str) {
    indicator.split_once(':').unwrap_or(("", indicator))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_keeps_the_smallest_whatever_the_order() {
        let vals: Vec<String> = (0..10).map(|i| format!("ip:10.0.0.{i}")).collect();
        let mut a = BTreeSet::new();
        merge_capped(&mut a, &vals, 4);
        let mut rev = vals.clone();
        rev.reverse();
        let mut b = BTreeSet::new();
        for v in &rev {
            merge_capped(&mut b, std::slice::from_ref(v), 4);
        }
        assert_eq!(a, b);
        assert_eq!(a.len(), 4);
        assert!(!merge_capped(&mut a, &vals, 4));
    }

    #[test]
    fn splits_kind_and_value() {
        assert_eq!(split("ip:2001:db8::1"), ("ip", "2001:db8::1"));
    }
}

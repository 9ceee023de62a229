use chrono::Utc;
use serde_json::{json, Value};

use super::*;
use crate::engine::{ingest_values, Settings};
use crate::ports::MemoryStore;
use crate::testing::{at_minutes, ts, Asff};

pub(crate) fn key_finding(id: &str, principal: &str, ip: &str, sev: &str, minutes: i64) -> Value {
    Asff::guardduty(id)
        .types(&["TTPs/UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS"])
        .severity(sev)
        .times(at_minutes(minutes), at_minutes(minutes))
        .resources(json!([{"Type": "AwsIamAccessKey", "Id": format!("AWS::IAM::AccessKey:ASIA{principal}"),
            "Details": {"AwsIamAccessKey": {"PrincipalName": principal, "AccessKeyId": format!("ASIA{principal}")}}}]))
        .set("Action", json!({"ActionType": "AWS_API_CALL",
            "AwsApiCallAction": {"Api": "GetObject", "RemoteIpDetails": {"IpAddressV4": ip}}}))
        .json()
}

pub(crate) fn probe(id: &str, instance: &str, ip: &str, sev: &str, minutes: i64) -> Value {
    Asff::guardduty(id)
        .types(&["TTPs/Discovery/Recon:EC2-PortProbeUnprotectedPort"])
        .severity(sev)
        .instance(instance)
        .times(at_minutes(minutes), at_minutes(minutes))
        .set(
            "Action",
            json!({"ActionType": "PORT_PROBE", "PortProbeAction": {"PortProbeDetails": [
            {"RemoteIpDetails": {"IpAddressV4": ip}}]}}),
        )
        .json()
}

pub(crate) fn instance_hit(id: &str, instance: &str, ip: &str, sev: &str, minutes: i64) -> Value {
    Asff::guardduty(id)
        .severity(sev)
        .instance(instance)
        .times(at_minutes(minutes), at_minutes(minutes))
        .set(
            "Action",
            json!({"ActionType": "NETWORK_CONNECTION", "NetworkConnectionAction": {
            "ConnectionDirection": "INBOUND", "RemoteIpDetails": {"IpAddressV4": ip}}}),
        )
        .json()
}

async fn queue_of(findings: &[Value], rb: &Runbook) -> Vec<QueueItem> {
    let store = MemoryStore::new();
    ingest_values(&store, rb, &Settings::default(), findings, at_minutes(600))
        .await
        .unwrap();
    build(&store.incidents(), rb)
}

pub(crate) fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn incidents_sharing_an_address_form_one_campaign_with_its_links_explained() {
    let rb = Runbook::default();
    let q = rt().block_on(queue_of(
        &[
            instance_hit("a", "i-web", "198.51.100.7", "HIGH", 0),
            key_finding("b", "app-role", "198.51.100.7", "HIGH", 30),
            instance_hit("c", "i-other", "203.0.113.9", "MEDIUM", 40),
        ],
        &rb,
    ));
    let kinds: Vec<Kind> = q.iter().map(|i| i.kind).collect();
    assert_eq!(kinds, vec![Kind::Campaign, Kind::Incident], "{q:#?}");
    let c = &q[0];
    assert_eq!(c.incident_ids.len(), 2);
    assert_eq!(c.severity, SeverityLabel::High);
    assert_eq!(c.links.len(), 1);
    assert_eq!(c.links[0].via, "ip:198.51.100.7");
    assert!(c.reason.contains("ip:198.51.100.7"), "{}", c.reason);
    assert_eq!(c.finding_count, 2);
    assert!(c.id.starts_with("CMP-"));
}

#[test]
fn accounts_are_not_linked_unless_the_runbook_allows_it() {
    let other = |v: Value| -> Value {
        let mut v = v;
        v["AwsAccountId"] = json!("222222222222");
        v
    };
    let fs = [
        instance_hit("a", "i-web", "198.51.100.7", "HIGH", 0),
        other(instance_hit("b", "i-web2", "198.51.100.7", "HIGH", 5)),
    ];
    let q = rt().block_on(queue_of(&fs, &Runbook::default()));
    assert!(q.iter().all(|i| i.kind == Kind::Incident), "{q:#?}");
    let rb = Runbook::from_yaml("queue: {cross_account: true}", "t").unwrap();
    let q = rt().block_on(queue_of(&fs, &rb));
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].accounts, vec!["111111111111", "222222222222"]);
}

#[test]
fn low_noise_is_digested_per_type_and_account_and_a_scanner_links_nothing() {
    let rb = Runbook::default();
    let fs: Vec<Value> = (0..12)
        .map(|i| probe(&format!("p{i}"), &format!("i-{i}"), "192.0.2.1", "LOW", i))
        .collect();
    let q = rt().block_on(queue_of(&fs, &rb));
    assert_eq!(q.len(), 1, "{q:#?}");
    let d = &q[0];
    assert_eq!(d.kind, Kind::Digest);
    assert_eq!(d.incident_ids.len(), 12);
    assert_eq!(d.finding_count, 12);
    assert_eq!(d.entity_count, 12);
    assert_eq!(
        d.top_sources[0],
        Count {
            value: "192.0.2.1".into(),
            count: 12
        }
    );
    assert!(d.response_deadline.is_none());
}

#[test]
fn a_low_probe_from_an_attacker_joins_the_attack_and_a_raise_to_high_leaves_the_digest() {
    let rb = Runbook::default();
    let mut fs = vec![
        probe("p1", "i-1", "198.51.100.7", "LOW", 0),
        probe("p2", "i-2", "192.0.2.2", "LOW", 1),
        probe("p3", "i-3", "192.0.2.1", "LOW", 2),
        instance_hit("x", "i-9", "198.51.100.7", "HIGH", 10),
    ];
    let q = rt().block_on(queue_of(&fs, &rb));
    let c = q
        .iter()
        .find(|i| i.kind == Kind::Campaign)
        .expect("a campaign");
    assert_eq!(c.incident_ids.len(), 2);
    let d = q.iter().find(|i| i.kind == Kind::Digest).expect("a digest");
    assert_eq!(d.incident_ids.len(), 2);
    // p3 is updated to HIGH: it leaves the digest and is an incident of its own.
    let mut up = probe("p3", "i-3", "192.0.2.1", "HIGH", 2);
    up["UpdatedAt"] = json!(ts(at_minutes(50)));
    fs.push(up);
    let q = rt().block_on(queue_of(&fs, &rb));
    let d = q.iter().find(|i| i.kind == Kind::Digest).expect("a digest");
    assert_eq!(d.incident_ids.len(), 1);
    assert!(q
        .iter()
        .any(|i| i.kind == Kind::Incident && i.severity == SeverityLabel::High));
}

#[test]
fn medium_is_rolled_up_only_by_a_rule_for_its_type_and_high_never() {
    let fs: Vec<Value> = (0..3)
        .map(|i| {
            probe(
                &format!("p{i}"),
                &format!("i-{i}"),
                &format!("192.0.2.{i}"),
                "MEDIUM",
                i,
            )
        })
        .collect();
    let q = rt().block_on(queue_of(&fs, &Runbook::default()));
    assert_eq!(q.len(), 3);
    let rb = Runbook::from_yaml(
        "queue: {digest: {rules: [{types: ['Recon:EC2/Port*'], max_severity: MEDIUM, window: 6h}]}}",
        "t",
    )
    .unwrap();
    let q = rt().block_on(queue_of(&fs, &rb));
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].kind, Kind::Digest);
    let e =
        Runbook::from_yaml("queue: {digest: {rules: [{max_severity: HIGH}]}}", "t").unwrap_err();
    assert!(e.to_string().contains("never rolled up"), "{e}");
    let rb = Runbook::from_yaml("queue: {digest: {rules: [{roll_up: false}]}}", "t").unwrap();
    let low: Vec<Value> = (0..3)
        .map(|i| {
            probe(
                &format!("p{i}"),
                &format!("i-{i}"),
                &format!("192.0.2.{i}"),
                "LOW",
                i,
            )
        })
        .collect();
    assert_eq!(rt().block_on(queue_of(&low, &rb)).len(), 3);
}

#[test]
fn an_indicator_shared_too_widely_or_ignored_links_nothing() {
    let fs: Vec<Value> = (0..4)
        .map(|i| {
            instance_hit(
                &format!("h{i}"),
                &format!("i-{i}"),
                "192.0.2.200",
                "HIGH",
                i,
            )
        })
        .collect();
    let rb = Runbook::from_yaml("queue: {max_incidents_per_indicator: 3}", "t").unwrap();
    assert!(rt()
        .block_on(queue_of(&fs, &rb))
        .iter()
        .all(|i| i.kind == Kind::Incident));
    let rb = Runbook::from_yaml("queue: {ignore_indicators: ['ip:192.0.2.*']}", "t").unwrap();
    assert!(rt()
        .block_on(queue_of(&fs, &rb))
        .iter()
        .all(|i| i.kind == Kind::Incident));
    assert_eq!(rt().block_on(queue_of(&fs, &Runbook::default())).len(), 1);
}

#[test]
fn an_attack_sequence_leads_its_campaign_and_links_the_signals_it_names() {
    let signal = instance_hit("s1", "i-5", "203.0.113.50", "MEDIUM", 0);
    let sig_id = signal["Id"].as_str().unwrap().to_owned();
    let seq = Asff::guardduty("seq")
        .types(&["TTPs/AttackSequence:IAM/CompromisedCredentials"])
        .severity("CRITICAL")
        .times(at_minutes(20), at_minutes(20))
        .resources(json!([{"Type": "AwsIamUser", "Id": "arn:aws:iam::111111111111:user/alice"}]))
        .set(
            "Detection",
            json!({"Sequence": {"Uid": "u", "Signals": [
            {"Id": sig_id, "ProductArn": crate::testing::GUARDDUTY_PRODUCT, "Type": "FINDING"}]}}),
        )
        .json();
    let q = rt().block_on(queue_of(&[signal, seq], &Runbook::default()));
    assert_eq!(q.len(), 1, "{q:#?}");
    let c = &q[0];
    assert_eq!(c.kind, Kind::Campaign);
    assert_eq!(c.severity, SeverityLabel::Critical);
    assert!(
        c.reason.starts_with("GuardDuty attack sequence"),
        "{}",
        c.reason
    );
    assert_eq!(c.links[0].via, "signal");
    assert_eq!(c.lead.as_deref(), Some(c.links[0].with.as_str()));
}

#[test]
fn the_queue_does_not_depend_on_the_order_incidents_are_listed_in() {
    let rb = Runbook::default();
    let store = MemoryStore::new();
    let fs = [
        instance_hit("a", "i-web", "198.51.100.7", "HIGH", 0),
        key_finding("b", "app-role", "198.51.100.7", "HIGH", 30),
        probe("p", "i-x", "198.51.100.7", "LOW", 3),
        probe("q", "i-y", "192.0.2.1", "LOW", 3),
    ];
    rt().block_on(ingest_values(
        &store,
        &rb,
        &Settings::default(),
        &fs,
        Utc::now(),
    ))
    .unwrap();
    let mut incs = store.incidents();
    let q1 = build(&incs, &rb);
    incs.reverse();
    assert_eq!(q1, build(&incs, &rb));
}

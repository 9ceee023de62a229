//! A simulated organisation's day of GuardDuty findings, with its ground truth (docs/queue.md).
//!
//! - 40 accounts; background noise: LOW port probes from a pool of scanner addresses on each
//!   account's instances, LOW SSH brute force in a third of the accounts, and a few unrelated
//!   MEDIUM findings; each finding updated 0-3 times, and a fifth of the deliveries repeated.
//! - A port probe raised to HIGH by its update (it must leave its digest).
//! - Four multi-entity attacks (the ground truth's campaigns): an instance compromised, then the
//!   instance role's credentials used from outside, then a bucket read with them; an attack
//!   sequence naming signals on a principal, a bucket and an instance; one address brute-forcing
//!   two instances and probing a third; one malware hash on two instances.
//! - Traps: the first attack's address also probes another account (not linked across
//!   accounts), and an egress address shared by 26 MEDIUM findings (too common to link).
//!
//! Deterministic for a seed; every finding id says what it is part of.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

pub const GD: &str = "arn:aws:securityhub:us-east-1::product/aws/guardduty";
/// The simulated day starts here; every event is within it.
pub const DAY: &str = "2026-11-20T00:00:00Z";

/// One simulated day: the deliveries in arrival order, and the truth about each finding id.
#[derive(Debug, Clone)]
pub struct Day {
    pub deliveries: Vec<Value>,
    /// Finding id -> the attack it is part of (`None`: noise or unrelated).
    pub truth: std::collections::BTreeMap<String, Option<String>>,
    /// Attack name -> its finding ids.
    pub attacks: std::collections::BTreeMap<String, Vec<String>>,
}

pub fn account(n: usize) -> String {
    format!("{:012}", 100_000_000_000u64 + n as u64)
}

fn at(minutes: i64) -> String {
    let t = chrono::DateTime::parse_from_rfc3339(DAY)
        .map(|d| d.with_timezone(&chrono::Utc))
        .unwrap_or_default()
        + chrono::Duration::minutes(minutes);
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The end of the simulated day (the time to ingest at).
pub fn end_of_day() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(DAY)
        .map(|d| d.with_timezone(&chrono::Utc))
        .unwrap_or_default()
        + chrono::Duration::hours(24)
}

pub fn finding_arn(acct: &str, id: &str) -> String {
    format!("arn:aws:guardduty:us-east-1:{acct}:detector/d/finding/{id}")
}

struct F {
    id: String,
    acct: String,
    ty: &'static str,
    sev: &'static str,
    minutes: i64,
    resources: Value,
    action: Option<Value>,
    extra: Vec<(&'static str, Value)>,
}

impl F {
    fn json(&self, updated: i64, sev: &str, count: u32) -> Value {
        let mut v = json!({
            "SchemaVersion": "2018-10-08",
            "Id": finding_arn(&self.acct, &self.id),
            "ProductArn": GD,
            "GeneratorId": format!("arn:aws:guardduty:us-east-1:{}:detector/d", self.acct),
            "AwsAccountId": self.acct,
            "Types": [format!("TTPs/{}", self.ty)],
            "FirstObservedAt": at(self.minutes),
            "LastObservedAt": at(updated),
            "CreatedAt": at(self.minutes),
            "UpdatedAt": at(updated),
            "Severity": {"Label": sev},
            "Title": format!("{} ({})", self.ty, self.id),
            "Description": "simulated",
            "ProductFields": {"aws/guardduty/service/count": count.to_string()},
            "Resources": self.resources,
        });
        if let Some(a) = &self.action {
            v["Action"] = a.clone();
        }
        for (k, x) in &self.extra {
            v[*k] = x.clone();
        }
        v
    }
}

fn instance(acct: &str, i: &str) -> Value {
    json!([{"Type": "AwsEc2Instance", "Id": format!("arn:aws:ec2:us-east-1:{acct}:instance/{i}")}])
}

fn inbound(ip: &str) -> Value {
    json!({"ActionType": "NETWORK_CONNECTION", "NetworkConnectionAction": {
        "ConnectionDirection": "INBOUND", "RemoteIpDetails": {"IpAddressV4": ip}}})
}

fn probe(ips: &[String]) -> Value {
    let d: Vec<Value> = ips
        .iter()
        .map(|ip| json!({"RemoteIpDetails": {"IpAddressV4": ip}}))
        .collect();
    json!({"ActionType": "PORT_PROBE", "PortProbeAction": {"PortProbeDetails": d}})
}

fn api(ip: &str) -> Value {
    json!({"ActionType": "AWS_API_CALL", "AwsApiCallAction": {"Api": "GetObject",
        "RemoteIpDetails": {"IpAddressV4": ip}}})
}

fn key(acct: &str, principal: &str, key: &str) -> Value {
    json!({"Type": "AwsIamAccessKey", "Id": format!("AWS::IAM::AccessKey:{key}"),
        "Details": {"AwsIamAccessKey": {"PrincipalName": principal, "AccessKeyId": key,
            "PrincipalType": "AssumedRole", "PrincipalId": format!("{acct}:{principal}")}}})
}

/// The simulated day for `seed` (deliveries in a seed-dependent arrival order).
pub fn day(seed: u64) -> Day {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut fs: Vec<(F, Option<String>)> = Vec::new();
    let scanners: Vec<String> = (0..200)
        .map(|i| format!("45.{}.{}.{}", 10 + i % 50, i / 50, 1 + i % 7))
        .collect();
    for a in 0..40 {
        let acct = account(a);
        for i in 0..rng.gen_range(5..9) {
            let ips: Vec<String> = (0..rng.gen_range(1..4))
                .map(|_| scanners[rng.gen_range(0..scanners.len())].clone())
                .collect();
            fs.push((
                F {
                    id: format!("noise-probe-{a}-{i}"),
                    acct: acct.clone(),
                    ty: "Recon:EC2/PortProbeUnprotectedPort",
                    sev: "LOW",
                    minutes: rng.gen_range(0..1200),
                    resources: instance(&acct, &format!("i-{a:02}{i:02}")),
                    action: Some(probe(&ips)),
                    extra: vec![],
                },
                None,
            ));
        }
        if a % 3 == 0 {
            for i in 0..rng.gen_range(2..5) {
                let ip = scanners[rng.gen_range(0..scanners.len())].clone();
                fs.push((
                    F {
                        id: format!("noise-ssh-{a}-{i}"),
                        acct: acct.clone(),
                        ty: "UnauthorizedAccess:EC2/SSHBruteForce",
                        sev: "LOW",
                        minutes: rng.gen_range(0..1200),
                        resources: instance(&acct, &format!("i-{a:02}{:02}", 50 + i)),
                        action: Some(inbound(&ip)),
                        extra: vec![],
                    },
                    None,
                ));
            }
        }
    }
    // A port probe that its last update raises to HIGH: it leaves its digest.
    fs.push((
        F {
            id: "noise-probe-raised".into(),
            acct: account(5),
            ty: "Recon:EC2/PortProbeUnprotectedPort",
            sev: "LOW",
            minutes: 200,
            resources: instance(&account(5), "i-raised"),
            action: Some(probe(&["198.18.99.1".to_owned()])),
            extra: vec![],
        },
        None,
    ));
    // Unrelated MEDIUM findings, each on its own bucket, from distinct addresses.
    for m in 0..8 {
        let acct = account(m * 5);
        fs.push((
            F {
                id: format!("solo-medium-{m}"),
                acct: acct.clone(),
                ty: "Discovery:S3/MaliciousIPCaller",
                sev: "MEDIUM",
                minutes: 100 + m as i64 * 90,
                resources: json!([{"Type": "AwsS3Bucket", "Id": format!("arn:aws:s3:::solo-{m}")}]),
                action: Some(api(&format!("198.18.0.{}", 10 + m))),
                extra: vec![],
            },
            None,
        ));
    }
    // An egress address shared by 26 MEDIUM findings of one account: too common to link.
    let egress_acct = account(39);
    for m in 0..26 {
        fs.push((
            F {
                id: format!("egress-{m}"),
                acct: egress_acct.clone(),
                ty: "Recon:IAMUser/MaliciousIPCaller.Custom",
                sev: "MEDIUM",
                minutes: 60 + m as i64 * 20,
                resources: vec![key(
                    &egress_acct,
                    &format!("ci-runner-{m}"),
                    &format!("ASIAEGRESS{m:04}"),
                )]
                .into(),
                action: Some(api("192.0.2.200")),
                extra: vec![],
            },
            None,
        ));
    }

    // Attack 1 (account 3): instance, then its role's key used outside AWS, then a bucket.
    let a1 = account(3);
    let attacker = "203.0.113.77";
    let c1 = Some("instance-to-bucket".to_owned());
    fs.push((
        F {
            id: "atk1-tor".into(),
            acct: a1.clone(),
            ty: "UnauthorizedAccess:EC2/TorClient",
            sev: "HIGH",
            minutes: 300,
            resources: instance(&a1, "i-web01"),
            action: Some(inbound(attacker)),
            extra: vec![],
        },
        c1.clone(),
    ));
    fs.push((
        F {
            id: "atk1-exfil-creds".into(),
            acct: a1.clone(),
            ty: "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
            sev: "HIGH",
            minutes: 340,
            resources: vec![key(&a1, "web-app-role", "ASIAWEBAPP0001")].into(),
            action: Some(api(attacker)),
            extra: vec![],
        },
        c1.clone(),
    ));
    fs.push((
        F {
            id: "atk1-s3".into(),
            acct: a1.clone(),
            ty: "Exfiltration:S3/AnomalousBehavior",
            sev: "HIGH",
            minutes: 380,
            resources: json!([{"Type": "AwsS3Bucket", "Id": "arn:aws:s3:::customer-exports"},
                key(&a1, "web-app-role", "ASIAWEBAPP0001")]),
            action: Some(api("203.0.113.99")),
            extra: vec![],
        },
        c1.clone(),
    ));
    // The same address probes another account: not linked (accounts are not crossed).
    fs.push((
        F {
            id: "noise-attacker-probe-elsewhere".into(),
            acct: account(17),
            ty: "Recon:EC2/PortProbeUnprotectedPort",
            sev: "LOW",
            minutes: 310,
            resources: instance(&account(17), "i-elsewhere"),
            action: Some(probe(&[attacker.to_owned()])),
            extra: vec![],
        },
        None,
    ));

    // Attack 2 (account 8): an attack sequence naming three signals on three entities.
    let a2 = account(8);
    let c2 = Some("attack-sequence".to_owned());
    let sigs = [
        F {
            id: "atk2-sig-principal".into(),
            acct: a2.clone(),
            ty: "Discovery:IAMUser/AnomalousBehavior",
            sev: "MEDIUM",
            minutes: 500,
            resources: vec![key(&a2, "alice", "AKIAALICE0000001")].into(),
            action: Some(api("203.0.113.50")),
            extra: vec![],
        },
        F {
            id: "atk2-sig-bucket".into(),
            acct: a2.clone(),
            ty: "Discovery:S3/AnomalousBehavior",
            sev: "LOW",
            minutes: 520,
            resources: json!([{"Type": "AwsS3Bucket", "Id": "arn:aws:s3:::finance-archive"}]),
            action: None,
            extra: vec![],
        },
        F {
            id: "atk2-sig-instance".into(),
            acct: a2.clone(),
            ty: "Backdoor:EC2/C&CActivity.B",
            sev: "HIGH",
            minutes: 530,
            resources: instance(&a2, "i-build07"),
            action: None,
            extra: vec![],
        },
    ];
    let signals: Vec<Value> = sigs
        .iter()
        .map(|s| {
            json!({"Id": finding_arn(&s.acct, &s.id), "ProductArn": GD, "Type": "FINDING",
            "Title": s.ty})
        })
        .collect();
    for s in sigs {
        fs.push((s, c2.clone()));
    }
    fs.push((
        F {
            id: "atk2-sequence".into(),
            acct: a2.clone(),
            ty: "AttackSequence:IAM/CompromisedCredentials",
            sev: "CRITICAL",
            minutes: 560,
            resources: json!([{"Type": "AwsIamUser", "Id": format!("arn:aws:iam::{a2}:user/alice")}]),
            action: None,
            extra: vec![(
                "Detection",
                json!({"Sequence": {"Uid": "seq-1", "Signals": signals,
                    "Endpoints": [{"Id": "e1", "Ip": "203.0.113.50"}]}}),
            )],
        },
        c2.clone(),
    ));

    // Attack 3 (account 12): one address brute-forces two instances and probes a third.
    let a3 = account(12);
    let brute = "192.0.2.66";
    let c3 = Some("brute-force".to_owned());
    for (n, (ty, sev, i)) in [
        ("UnauthorizedAccess:EC2/SSHBruteForce", "HIGH", "i-bastion1"),
        ("UnauthorizedAccess:EC2/RDPBruteForce", "HIGH", "i-win02"),
    ]
    .into_iter()
    .enumerate()
    {
        fs.push((
            F {
                id: format!("atk3-brute-{n}"),
                acct: a3.clone(),
                ty,
                sev,
                minutes: 700 + n as i64 * 15,
                resources: instance(&a3, i),
                action: Some(inbound(brute)),
                extra: vec![],
            },
            c3.clone(),
        ));
    }
    fs.push((
        F {
            id: "atk3-probe".into(),
            acct: a3.clone(),
            ty: "Recon:EC2/PortProbeUnprotectedPort",
            sev: "LOW",
            minutes: 690,
            resources: instance(&a3, "i-db03"),
            action: Some(probe(&[brute.to_owned()])),
            extra: vec![],
        },
        c3.clone(),
    ));

    // Attack 4 (account 21): one malware hash on two instances.
    let a4 = account(21);
    let c4 = Some("malware".to_owned());
    for (n, i) in ["i-batch1", "i-batch2"].into_iter().enumerate() {
        fs.push((
            F {
                id: format!("atk4-malware-{n}"),
                acct: a4.clone(),
                ty: "Execution:EC2/MaliciousFile",
                sev: "HIGH",
                minutes: 900 + n as i64 * 40,
                resources: instance(&a4, i),
                action: None,
                extra: vec![(
                    "ProductFields",
                    json!({"aws/guardduty/service/count": "1",
                        "aws/guardduty/service/ebsVolumeScanDetails/scanDetections/threatDetectedByName/threatNames/0/filePaths/0/hash":
                        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}),
                )],
            },
            c4.clone(),
        ));
    }

    let mut deliveries = Vec::new();
    let mut truth = std::collections::BTreeMap::new();
    let mut attacks: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (f, t) in &fs {
        let id = finding_arn(&f.acct, &f.id);
        truth.insert(id.clone(), t.clone());
        if let Some(t) = t {
            attacks.entry(t.clone()).or_default().push(id.clone());
        }
        let updates = rng.gen_range(0..4);
        let raised = f.id == "noise-probe-raised";
        for u in 0..=updates {
            let sev = if raised && u == updates && u > 0 {
                "HIGH"
            } else {
                f.sev
            };
            let v = f.json(f.minutes + u as i64 * 30, sev, 1 + u);
            if rng.gen_range(0..5) == 0 {
                deliveries.push(v.clone());
            }
            deliveries.push(v);
        }
        if raised && updates == 0 {
            deliveries.push(f.json(f.minutes + 30, "HIGH", 2));
        }
    }
    // Arrival order: roughly by time, with redeliveries and reordering within a few minutes.
    deliveries.shuffle(&mut rng);
    deliveries.sort_by_key(|v| {
        v["UpdatedAt"]
            .as_str()
            .unwrap_or_default()
            .get(..15)
            .unwrap_or_default()
            .to_owned()
    });
    Day {
        deliveries,
        truth,
        attacks,
    }
}

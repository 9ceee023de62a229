//! Every Security Hub finding and event in the public reference corpus (`../shared/corpus`)
//! parses; the malformed ones give errors naming the finding and the field. Skips with a
//! message when the corpus is absent.

use std::path::{Path, PathBuf};

use ingest::event::is_findings_detail_type;
use serde_json::Value;
use vigil_domain::asff::parse_finding;
use vigil_domain::engine::normalize_one;
use vigil_domain::enrich::GuardDutyType;
use vigil_domain::{FindingError, Runbook};
use vigil_e2e::corpus_dir;

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "json") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The ASFF findings a corpus file holds, or `None` when it is not a Security Hub finding file
/// (GuardDuty native findings, insight results).
fn findings_in(v: &Value) -> Option<Vec<Value>> {
    if let Some(dt) = v.get("detail-type").and_then(Value::as_str) {
        return is_findings_detail_type(dt).then(|| {
            v["detail"]["findings"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        });
    }
    if let Some(f) = v.get("Findings").and_then(Value::as_array) {
        return Some(f.clone());
    }
    if let Some(a) = v.as_array() {
        return Some(a.clone());
    }
    v.get("SchemaVersion").map(|_| vec![v.clone()])
}

/// Corpus findings that are malformed on purpose, and the field the error must name.
const KNOWN_BAD: [(&str, &str); 1] = [(
    "securityhub-cis-missing-generatorid-imported.eventbridge.json",
    "GeneratorId",
)];

#[test]
fn every_security_hub_finding_in_the_corpus_parses_and_malformed_ones_are_named() {
    let Some(dir) = corpus_dir() else { return };
    let rb = Runbook::default();
    let (mut files, mut parsed, mut agreed, mut failed) = (0, 0, 0, Vec::new());
    for path in json_files(&dir.join("asff")) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let Some(findings) = findings_in(&v) else {
            continue;
        };
        files += 1;
        for f in findings {
            // The fast parser decides as the complete reference model does.
            if let Err(e) = vigil_domain::asff::reference::agreement(&f) {
                panic!("{name}: the parsers disagree: {e}");
            }
            agreed += 1;
            let text = f.to_string();
            match normalize_one(&text, &rb) {
                Ok(nf) => {
                    parsed += 1;
                    // Round trip: forwarding the stored finding gives back the original JSON.
                    let back: Value = serde_json::from_str(nf.raw).unwrap();
                    assert_eq!(back, f, "{name}: finding does not round-trip intact");
                    assert!(!nf.correlation_key.is_empty());
                    assert!(!nf.remediation.text.is_empty());
                    if nf.finding.is_guardduty() {
                        assert!(
                            nf.guardduty_type.is_some(),
                            "{name}: no GuardDuty type from {:?}",
                            nf.finding.types()
                        );
                        assert!(nf.tactic.is_some(), "{name}: no tactic");
                    }
                }
                Err(e) => failed.push((name.clone(), e)),
            }
        }
    }
    eprintln!(
        "corpus: {files} files, {parsed} findings parsed, {} rejected, {agreed} decided alike by both parsers",
        failed.len()
    );
    assert!(
        files >= 40 && parsed >= 50,
        "{files} files, {parsed} findings"
    );
    for (name, e) in &failed {
        let FindingError::Invalid {
            finding_id, field, ..
        } = e;
        let expected = KNOWN_BAD.iter().find(|(n, _)| n == name);
        assert!(expected.is_some(), "{name}: unexpected error: {e}");
        assert_eq!(
            Some(field.as_str()),
            expected.map(|(_, f)| *f),
            "{name}: {e}"
        );
        assert!(
            finding_id.is_some(),
            "{name}: error does not name the finding: {e}"
        );
        assert!(e.to_string().contains(finding_id.as_deref().unwrap_or("?")));
    }
    assert_eq!(failed.len(), KNOWN_BAD.len(), "{failed:?}");
}

#[test]
fn corruptions_of_corpus_findings_are_errors_naming_the_finding_and_field() {
    let Some(dir) = corpus_dir() else { return };
    let path = dir.join("asff/findings/guardduty/awsdocs-guardduty-ssh-bruteforce.asff.json");
    let original: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let id = original["Id"].as_str().unwrap().to_owned();
    for (field, bad) in [
        ("Severity", Value::Null),
        ("AwsAccountId", Value::from(193043430472u64)),
        ("Resources", Value::from("i-0c10c2c7863d1a356")),
        ("UpdatedAt", Value::from("last tuesday")),
        ("Title", Value::Null),
    ] {
        let mut v = original.clone();
        v[field] = bad;
        let text = v.to_string();
        let e = parse_finding(&text).expect_err(field);
        assert_eq!(e.finding_id(), Some(id.as_str()), "{field}");
        assert!(e.to_string().contains(&id), "{field}: {e}");
        if field != "UpdatedAt" && field != "Resources" && field != "AwsAccountId" {
            assert_eq!(e.field(), field, "{e}");
        }
    }
}

/// ASFF types from which the native type cannot be recovered: AWS's mapping moves the threat
/// purpose and drops separators (`EC2:Unusual-DNS-Resolver`), or the documented value is cut.
const LOSSY: [&str; 4] = [
    "TTPs/DefenseEvasion/EC2:Unusual-DNS-Resolver",
    "TTPs/DefenseEvasion/EC2:Unusual-DoH-Activity",
    "TTPs/DefenseEvasion/EC2:Unusual-DoT-Activity",
    "TTPs/Impact/Impact:Runtime-SuspiciousDomainRequest.Reputatio",
];

#[test]
fn every_documented_guardduty_asff_type_maps_back_to_its_finding_type() {
    let Some(dir) = corpus_dir() else { return };
    let table = std::fs::read_to_string(dir.join("guardduty-asff-type-mapping.tsv")).unwrap();
    let mut checked = 0;
    let mut mismatches = Vec::new();
    for line in table.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (native, asff) = (cols[0], cols[1]);
        let v = vigil_domain::testing::Asff::guardduty("x")
            .types(&asff.split(" | ").collect::<Vec<_>>())
            .resources(serde_json::json!([{"Type": "Other", "Id": "r"}]))
            .json();
        let text = v.to_string();
        let f = parse_finding(&text).unwrap();
        let got = GuardDutyType::from_finding(&f).map(|t| t.to_string());
        let got = got.unwrap_or_else(|| panic!("{asff}: no GuardDuty type"));
        if got != native && !LOSSY.contains(&asff) {
            mismatches.push(format!("{asff}: parsed {got}, documented {native}"));
        }
        checked += 1;
    }
    assert!(checked > 100, "{checked}");
    assert!(
        mismatches.is_empty(),
        "{} of {checked}:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

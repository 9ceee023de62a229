use super::*;
use crate::runbook::Runbook;
use crate::testing::{text, Asff};
use proptest::prelude::*;
use serde_json::{json, Value};

const RULES: &str = r#"
defaults: { environment: dev }
accounts:
  "111111111111": { name: payments-prod, environment: production }
  "222222222222": { name: sandbox, environment: dev }
ip_lists:
  vulnerability-scanners: ["198.51.100.0/24", "203.0.113.7"]
routes:
  pager-prod: { description: production on-call }
rules:
  - id: scanner-probes
    description: Port probes from our vulnerability scanner
    owner: secops@example.com
    created: 2026-11-01
    expires: 2027-06-30
    match:
      finding_type: "Recon:EC2/Port*"
      remote_ip: vulnerability-scanners
    actions: { suppress: true }
    reason: authorised weekly scan (change CHG-1234)
  - id: root-in-prod
    description: Root credential use in production is always HIGH
    owner: secops@example.com
    created: 2026-11-01
    match:
      finding_type: { PREFIX: "Policy:IAMUser/RootCredentialUsage" }
      environment: production
    actions: { set_severity: HIGH, route: pager-prod, note: "Call the account owner before anything else" }
    reason: root use in production is never routine
  - id: sandbox-brute-force
    description: SSH brute force against sandbox instances is noise
    owner: secops@example.com
    created: 2026-11-01
    match:
      account_id: "222222222222"
      finding_type: { EQUALS: "UnauthorizedAccess:EC2/SSHBruteForce" }
    actions: { suppress: true }
    reason: sandbox instances are internet-facing by design
  - id: disabled-rule
    description: never applies
    owner: x
    created: 2026-11-01
    enabled: false
    match: { product_name: GuardDuty }
    actions: { note: disabled }
  - id: expired-rule
    description: expired
    owner: x
    created: 2026-01-01
    expires: 2026-02-01
    match: { product_name: GuardDuty }
    actions: { note: expired }
"#;

fn rb() -> Runbook {
    Runbook::from_yaml(RULES, "rules.yaml").unwrap()
}

fn now() -> DateTime<Utc> {
    crate::testing::at_minutes(60)
}

fn probe(ips: &[&str]) -> Value {
    let details: Vec<Value> = ips
        .iter()
        .map(|ip| json!({"LocalPortDetails": {"Port": 22}, "RemoteIpDetails": {"IpAddressV4": ip}}))
        .collect();
    Asff::guardduty("probe")
        .types(&["TTPs/Discovery/Recon:EC2-PortProbeUnprotectedPort"])
        .set(
            "ProductFields",
            json!({"aws/guardduty/service/additionalInfo/type": "Recon:EC2/PortProbeUnprotectedPort"}),
        )
        .severity("LOW")
        .set(
            "Action",
            json!({"ActionType": "PORT_PROBE", "PortProbeAction": {"PortProbeDetails": details}}),
        )
        .json()
}

fn decide(rb: &Runbook, v: &Value) -> (Decisions, NormalizedFinding<'static>) {
    let mut f = NormalizedFinding::new(crate::asff::parse_finding(text(v)).unwrap(), rb);
    rb.rules().apply(&mut f, now());
    (f.decisions.clone(), f)
}

#[test]
fn scanner_probes_are_suppressed_only_when_every_source_is_a_scanner() {
    let rb = rb();
    let (d, f) = decide(&rb, &probe(&["198.51.100.20", "203.0.113.7"]));
    assert_eq!(f.finding_type, "Recon:EC2/PortProbeUnprotectedPort");
    let s = d.suppressed.expect("suppressed");
    assert_eq!(s.rule, "scanner-probes");
    assert!(s.reason.contains("CHG-1234"));
    // One source that is not a scanner: an attacker hiding among the scans is not hidden.
    let (d, _) = decide(&rb, &probe(&["198.51.100.20", "192.0.2.66"]));
    assert!(d.suppressed.is_none(), "{d:?}");
    // No remote address at all: `in` cannot hold.
    let (d, _) = decide(&rb, &probe(&[]));
    assert!(d.suppressed.is_none());
}

#[test]
fn root_use_in_production_is_raised_to_high_with_route_and_note() {
    let rb = rb();
    let root = |account: &str| {
        Asff::guardduty("root")
            .account(account)
            .types(&["TTPs/Policy:IAMUser-RootCredentialUsage"])
            .set(
                "ProductFields",
                json!({"aws/guardduty/service/additionalInfo/type": "Policy:IAMUser/RootCredentialUsage"}),
            )
            .severity("LOW")
            .json()
    };
    let (d, f) = decide(&rb, &root("111111111111"));
    assert_eq!(f.severity, SeverityLabel::High);
    let s = d.severity.unwrap();
    assert_eq!(
        (s.from, s.to, s.rule.as_str()),
        (SeverityLabel::Low, SeverityLabel::High, "root-in-prod")
    );
    assert_eq!(d.route.unwrap().value, "pager-prod");
    assert_eq!(d.notes.len(), 1);
    // Not production: the rule does not match.
    let (d, f) = decide(&rb, &root("222222222222"));
    assert_eq!(f.severity, SeverityLabel::Low);
    assert!(d.rules.is_empty(), "{d:?}");
}

#[test]
fn suppression_never_hides_critical_or_high_in_production_without_allow_high_severity() {
    let yaml = |allow: bool| {
        format!(
            r#"
accounts:
  "111111111111": {{ environment: production }}
  "222222222222": {{ environment: dev }}
rules:
  - id: all-ssh
    description: d
    owner: o
    created: 2026-11-01
    match: {{ finding_type: "UnauthorizedAccess:EC2/*" }}
    actions: {{ suppress: true }}
    reason: r
    allow_high_severity: {allow}
"#
        )
    };
    let strict = Runbook::from_yaml(&yaml(false), "t").unwrap();
    let f = |account: &str, sev: &str| {
        Asff::guardduty("ssh")
            .account(account)
            .set(
                "ProductFields",
                json!({"aws/guardduty/service/additionalInfo/type": "UnauthorizedAccess:EC2/SSHBruteForce"}),
            )
            .severity(sev)
            .json()
    };
    for (account, sev, hidden) in [
        ("111111111111", "CRITICAL", false),
        ("111111111111", "HIGH", false),
        ("111111111111", "MEDIUM", true),
        ("222222222222", "CRITICAL", false),
        ("222222222222", "HIGH", true),
    ] {
        let (d, _) = decide(&strict, &f(account, sev));
        assert_eq!(d.suppressed.is_some(), hidden, "{account} {sev}: {d:?}");
        if !hidden {
            assert!(
                d.rules[0].refused[0].contains("allow_high_severity"),
                "{d:?}"
            );
        }
    }
    let lax = Runbook::from_yaml(&yaml(true), "t").unwrap();
    let (d, _) = decide(&lax, &f("111111111111", "CRITICAL"));
    assert!(d.suppressed.is_some());
}

#[test]
fn lowering_a_serious_finding_needs_allow_high_severity() {
    let rb = Runbook::from_yaml(
        r#"
defaults: { environment: production }
rules:
  - { id: lower, description: d, owner: o, created: 2026-11-01, match: { generator_id: { PREFIX: "arn:aws:guardduty" } },
      actions: { set_severity: LOW }, reason: r }
"#,
        "t",
    )
    .unwrap();
    let (d, f) = decide(&rb, &Asff::guardduty("a").severity("HIGH").json());
    assert_eq!(f.severity, SeverityLabel::High);
    assert!(d.severity.is_none());
    assert!(
        d.rules[0].refused[0].contains("set_severity LOW refused"),
        "{d:?}"
    );
    let (d, f) = decide(&rb, &Asff::guardduty("a").severity("MEDIUM").json());
    assert_eq!(
        (f.severity, d.severity.map(|s| s.rule)),
        (SeverityLabel::Low, Some("lower".into()))
    );
}

#[test]
fn the_first_rule_setting_a_value_wins_and_later_rules_see_it() {
    let rb = Runbook::from_yaml(
        r#"
rules:
  - { id: a, description: d, owner: o, created: 2026-11-01, match: { generator_id: { PREFIX: "arn:aws:guardduty" } },
      actions: { set_environment: production, set_owner: first@x } }
  - { id: b, description: d, owner: o, created: 2026-11-01, match: { environment: production },
      actions: { set_owner: second@x, note: "seen as production" } }
"#,
        "t",
    )
    .unwrap();
    let (d, f) = decide(&rb, &Asff::guardduty("a").json());
    assert_eq!(f.account.environment, Environment::Production);
    assert_eq!(f.account.owner.as_deref(), Some("first@x"));
    assert_eq!(d.rules.len(), 2);
    assert_eq!(d.rules[1].actions, vec!["note".to_string()]);
}

#[test]
fn disabled_and_expired_rules_never_match() {
    let rb = rb();
    let (d, _) = decide(&rb, &Asff::guardduty("x").json());
    assert!(
        d.rules
            .iter()
            .all(|m| m.id != "disabled-rule" && m.id != "expired-rule"),
        "{d:?}"
    );
    let rule = rb.rules().get("scanner-probes").unwrap();
    assert!(rule.in_force(now()));
    let after = DateTime::parse_from_rfc3339("2027-07-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    assert!(!rule.in_force(after));
}

#[test]
fn criteria_cover_tags_product_fields_dates_numbers_and_text() {
    let rb = Runbook::from_yaml(
        r#"
rules:
  - id: t
    description: d
    owner: o
    created: 2026-11-01
    match:
      resource_tags: { Team: { PREFIX: pay } }
      product_fields: { "aws/guardduty/service/count": "3" }
      severity: { gte: MEDIUM, lt: CRITICAL }
      severity_normalized: { gte: 40 }
      created_at: { after: "2026-01-01T00:00:00Z", within: 30d }
      title: { CONTAINS: brute, NOT_CONTAINS: test }
      region: us-east-1
      resource_type: AwsEc2Instance
    actions: { note: n }
"#,
        "t",
    )
    .unwrap();
    let base = || {
        Asff::guardduty("a")
            .title("SSH brute force")
            .set("Region", json!("us-east-1"))
            .set("Severity", json!({"Label": "HIGH", "Normalized": 70}))
            .set("ProductFields", json!({"aws/guardduty/service/count": "3"}))
            .resources(
                json!([{"Type": "AwsEc2Instance", "Id": "i-1", "Tags": {"Team": "payments"}}]),
            )
    };
    assert_eq!(decide(&rb, &base().json()).0.rules.len(), 1);
    assert!(decide(&rb, &base().title("SSH brute test").json())
        .0
        .rules
        .is_empty());
    assert!(decide(&rb, &base().severity("CRITICAL").json())
        .0
        .rules
        .is_empty());
    assert!(decide(&rb, &base().set("ProductFields", json!({})).json())
        .0
        .rules
        .is_empty());
    assert!(decide(
        &rb,
        &base()
            .resources(json!([{"Type": "AwsEc2Instance", "Id": "i-1", "Tags": {"Team": "data"}}]))
            .json()
    )
    .0
    .rules
    .is_empty());
    assert!(decide(&rb, &base().created("2025-06-01T00:00:00Z").json())
        .0
        .rules
        .is_empty());
}

fn load_err(yaml: &str) -> String {
    Runbook::from_yaml(yaml, "rb.yaml").unwrap_err().to_string()
}

const RULE_HEAD: &str =
    "rules:\n  - id: r\n    description: d\n    owner: o\n    created: 2026-11-01\n";

#[test]
fn bad_rules_are_errors_at_load_with_their_location() {
    let e = load_err(&format!(
        "{RULE_HEAD}    match: {{ remote_ip: \"10.0.0.0/33\" }}\n    actions: {{ note: x }}\n"
    ));
    assert!(e.contains("10.0.0.0/33") && e.contains("rule r"), "{e}");
    let e = load_err(&format!(
        "{RULE_HEAD}    match: {{ finding_typ: x }}\n    actions: {{ note: x }}\n"
    ));
    assert!(e.contains("finding_typ") && e.contains("line 6"), "{e}");
    let e = load_err(&format!("{RULE_HEAD}    match: {{ severity: {{ gte: HIGH, lt: MEDIUM }} }}\n    actions: {{ note: x }}\n"));
    assert!(e.contains("never match") && e.contains("line 6"), "{e}");
    let e = load_err(&format!("{RULE_HEAD}    match: {{ product_name: {{ EQUALS: a, NOT_EQUALS: a }} }}\n    actions: {{ note: x }}\n"));
    assert!(e.contains("never both"), "{e}");
    let e = load_err(&format!(
        "{RULE_HEAD}    match: {{ product_name: x }}\n    actions: {{ suppress: true }}\n"
    ));
    assert!(e.contains("reason"), "{e}");
    let e = load_err(&format!(
        "{RULE_HEAD}    match: {{ product_name: x }}\n    actions: {{ route: nowhere }}\n"
    ));
    assert!(e.contains("nowhere") && e.contains("routes"), "{e}");
    let e = load_err(&format!(
        "{RULE_HEAD}    match: {{ product_name: x }}\n    actions: {{}}\n"
    ));
    assert!(e.contains("at least one action"), "{e}");
    let e = load_err(&format!(
        "{RULE_HEAD}    match: {{ environment: moon }}\n    actions: {{ note: x }}\n"
    ));
    assert!(e.contains("moon"), "{e}");
    let e = load_err(&format!(
        "{RULE_HEAD}    match: {{ remote_ip: office }}\n    actions: {{ note: x }}\n"
    ));
    assert!(e.contains("office") && e.contains("ip_lists"), "{e}");
    let e = load_err("ip_lists: { office: [\"not-an-ip\"] }\n");
    assert!(e.contains("not-an-ip"), "{e}");
    let e = load_err(&format!(
        "{RULE_HEAD}    match: {{ product_name: x }}\n    actions: {{ note: x }}\n  - id: r\n    description: d\n    owner: o\n    created: 2026-11-01\n    match: {{ product_name: x }}\n    actions: {{ note: x }}\n"
    ));
    assert!(e.contains("duplicate"), "{e}");
    let e = load_err(&format!("{RULE_HEAD}    expires: 2026-10-01\n    match: {{ product_name: x }}\n    actions: {{ note: x }}\n"));
    assert!(e.contains("before created"), "{e}");
}

#[test]
fn globs_match_like_shell_wildcards() {
    let g = |p: &str, s: &str| glob(&p.split('*').map(str::to_owned).collect::<Vec<_>>(), s);
    assert!(g("Recon:EC2/*", "Recon:EC2/PortProbeUnprotectedPort"));
    assert!(g("*Brute*", "UnauthorizedAccess:EC2/SSHBruteForce"));
    assert!(g("a*b*c", "abc"));
    assert!(!g("a*b*c", "acb"));
    assert!(!g("ab*ba", "aba"));
    assert!(g("*", ""));
    assert!(!g("x*", "y"));
}

// The index only narrows which rules are tested: it never changes a decision.
fn unindexed(rules: &CompiledRules) -> CompiledRules {
    let mut r = rules.clone();
    r.index.clear();
    r.always = (0..r.rules.len() as u32).collect();
    r
}

const TYPES: [&str; 5] = [
    "Recon:EC2/PortProbeUnprotectedPort",
    "UnauthorizedAccess:EC2/SSHBruteForce",
    "UnauthorizedAccess:IAMUser/ConsoleLogin",
    "Policy:IAMUser/RootCredentialUsage",
    "S3.8",
];
const ACCOUNTS: [&str; 3] = ["111111111111", "222222222222", "333333333333"];

fn arb_rule(i: usize) -> impl Strategy<Value = String> {
    let ty = prop_oneof![
        Just(String::new()),
        (0..TYPES.len()).prop_map(|t| format!("finding_type: \"{}\", ", TYPES[t])),
        Just("finding_type: \"UnauthorizedAccess:*\", ".to_string()),
        Just("finding_type: { PREFIX: \"Recon:\" }, ".to_string()),
        Just("finding_type: { CONTAINS: IAMUser }, ".to_string()),
        Just("finding_type: { NOT_EQUALS: S3.8 }, ".to_string()),
    ];
    let acct = prop_oneof![
        Just(String::new()),
        (0..ACCOUNTS.len()).prop_map(|a| format!("account_id: \"{}\", ", ACCOUNTS[a])),
    ];
    let sev = prop_oneof![
        Just(String::new()),
        Just("severity: { gte: HIGH }, ".to_string()),
        Just("severity: LOW, ".to_string()),
    ];
    let env = prop_oneof![
        Just(String::new()),
        Just("environment: production, ".to_string()),
    ];
    let action = prop_oneof![
        Just("{ suppress: true }".to_string()),
        Just("{ set_severity: HIGH }".to_string()),
        Just("{ set_severity: LOW }".to_string()),
        Just("{ set_environment: production }".to_string()),
        Just("{ note: n }".to_string()),
        Just("{ set_owner: o }".to_string()),
    ];
    (ty, acct, sev, env, action, any::<bool>()).prop_map(move |(t, a, s, e, act, allow)| {
        format!(
            "  - {{ id: r{i}, description: d, owner: o, created: 2026-11-01, match: {{ {t}{a}{s}{e}product_name: {{ NOT_EQUALS: none }} }}, actions: {act}, reason: r, allow_high_severity: {allow} }}\n"
        )
    })
}

fn arb_finding() -> impl Strategy<Value = Value> {
    (0..TYPES.len(), 0..ACCOUNTS.len(), 0..5usize).prop_map(|(t, a, s)| {
        let ty = TYPES[t];
        let mut f = if ty == "S3.8" {
            Asff::control("c", "S3.8")
        } else {
            Asff::guardduty("g").set(
                "ProductFields",
                json!({"aws/guardduty/service/additionalInfo/type": ty}),
            )
        };
        f = f.account(ACCOUNTS[a]);
        f.severity(["INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"][s])
            .json()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn the_index_never_changes_a_decision(
        rules in (1usize..12).prop_flat_map(|n| (0..n).map(arb_rule).collect::<Vec<_>>()),
        findings in proptest::collection::vec(arb_finding(), 1..8),
    ) {
        let yaml = format!(
            "accounts:\n  \"111111111111\": {{ environment: production }}\nrules:\n{}",
            rules.concat()
        );
        let rb = Runbook::from_yaml(&yaml, "gen").unwrap();
        let brute = unindexed(rb.rules());
        for v in &findings {
            let f = NormalizedFinding::new(crate::asff::parse_finding(text(v)).unwrap(), &rb);
            prop_assert_eq!(rb.rules().evaluate(&f, now()), brute.evaluate(&f, now()));
        }
    }
}

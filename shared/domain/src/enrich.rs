//! Enrichment: pure functions that add what an analyst needs to act on a finding.
//!
//! - account -> name, environment, owner ([`account_context`]): runbook, else resource tags,
//!   else the runbook default;
//! - GuardDuty finding type ([`GuardDutyType`]) from `Types[]` or `ProductFields`;
//! - MITRE ATT&CK tactic ([`mitre_tactic`]) from the ASFF `Types` namespace;
//! - a remediation recommendation ([`remediation`]): the finding's own, else a built-in one.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::asff::Finding;
use crate::runbook::{Environment, Runbook};

/// Where an account's environment came from, so an analyst can tell a guess from a fact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvironmentSource {
    Runbook,
    ResourceTag,
    Default,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountContext {
    pub account_id: String,
    pub name: Option<String>,
    pub environment: Environment,
    pub environment_source: EnvironmentSource,
    pub owner: Option<String>,
}

/// Tag keys read for the environment, compared case-insensitively, in this order.
const ENVIRONMENT_TAGS: [&str; 3] = ["environment", "env", "stage"];

pub fn account_context(runbook: &Runbook, finding: &Finding) -> AccountContext {
    let entry = runbook.accounts.get(&finding.aws_account_id);
    let name = entry.and_then(|e| e.name.clone()).or_else(|| {
        finding
            .other
            .get("AwsAccountName")
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    });
    let owner = entry
        .and_then(|e| e.owner.clone())
        .or_else(|| runbook.defaults.owner.clone());
    let (environment, environment_source) = match entry.and_then(|e| e.environment) {
        Some(env) => (env, EnvironmentSource::Runbook),
        None => match environment_from_tags(finding) {
            Some(env) => (env, EnvironmentSource::ResourceTag),
            None => (runbook.defaults.environment, EnvironmentSource::Default),
        },
    };
    AccountContext {
        account_id: finding.aws_account_id.clone(),
        name,
        environment,
        environment_source,
        owner,
    }
}

fn environment_from_tags(finding: &Finding) -> Option<Environment> {
    for wanted in ENVIRONMENT_TAGS {
        for r in &finding.resources {
            let Some(tags) = &r.tags else { continue };
            for (k, v) in tags {
                if k.eq_ignore_ascii_case(wanted) {
                    if let Some(env) = Environment::parse(v) {
                        return Some(env);
                    }
                }
            }
        }
    }
    None
}

/// A GuardDuty finding type: `ThreatPurpose:ResourceType/ThreatFamily.Mechanism!Artifact`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardDutyType {
    pub threat_purpose: String,
    pub resource_type: String,
    pub threat_family: String,
    pub mechanism: Option<String>,
    pub artifact: Option<String>,
}

impl GuardDutyType {
    /// Parses the native form (`Backdoor:EC2/C&CActivity.B!DNS`) or the last part of an ASFF
    /// type, where the first `/` became `-` (`UnauthorizedAccess:EC2-SSHBruteForce`).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let (purpose, rest) = s.split_once(':')?;
        if purpose.is_empty() || purpose.contains(' ') || purpose.contains('/') {
            return None;
        }
        let (resource, family_part) = match rest.split_once('/') {
            Some(x) => x,
            None => rest.split_once('-')?,
        };
        if resource.is_empty() || family_part.is_empty() || resource.contains(' ') {
            return None;
        }
        let (family_mech, artifact) = match family_part.split_once('!') {
            Some((a, b)) => (a, Some(b.to_owned())),
            None => (family_part, None),
        };
        let (family, mechanism) = match family_mech.split_once('.') {
            Some((a, b)) => (a, Some(b.to_owned())),
            None => (family_mech, None),
        };
        Some(Self {
            threat_purpose: purpose.to_owned(),
            resource_type: resource.to_owned(),
            threat_family: family.to_owned(),
            mechanism,
            artifact,
        })
    }

    /// Reads the type from a GuardDuty finding: `Types[]` (or `FindingProviderFields.Types`),
    /// else a `ProductFields` entry whose key ends in `type` and whose value has the GuardDuty form.
    pub fn from_finding(f: &Finding) -> Option<Self> {
        if !f.is_guardduty() {
            return None;
        }
        for t in f.types() {
            let parts: Vec<&str> = t.split('/').collect();
            if let Some(i) = parts.iter().position(|p| p.contains(':')) {
                let mut text = parts[i..].join("/");
                // `TTPs/AnomalousBehavior/Execution:Kubernetes-ExecInPod` is
                // `Execution:Kubernetes/AnomalousBehavior.ExecInPod`: a family in the namespace.
                if i == 2 && parts[0] == "TTPs" && parts[1] == "AnomalousBehavior" {
                    if let Some((head, tail)) =
                        text.split_once('-').filter(|(h, _)| !h.contains('/'))
                    {
                        text = format!("{head}/AnomalousBehavior.{tail}");
                    }
                }
                if let Some(gd) = Self::parse(&text) {
                    return Some(gd);
                }
            }
            // Some ASFF types drop the threat purpose when it equals the tactic:
            // `TTPs/Discovery/IAMUser-AnomalousBehavior` is `Discovery:IAMUser/AnomalousBehavior`.
            if let [ns, tactic, rest] = parts.as_slice() {
                if ns.eq_ignore_ascii_case("TTPs") && rest.contains('-') {
                    let purpose = tactic.replace(' ', "");
                    if let Some(gd) = Self::parse(&format!("{purpose}:{rest}")) {
                        return Some(gd);
                    }
                }
            }
        }
        f.product_fields.as_ref().and_then(|pf| {
            pf.iter()
                .filter(|(k, _)| k.to_ascii_lowercase().ends_with("type"))
                .find_map(|(_, v)| Self::parse(v).filter(|_| v.contains('/')))
        })
    }
}

impl fmt::Display for GuardDutyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}/{}",
            self.threat_purpose, self.resource_type, self.threat_family
        )?;
        if let Some(m) = &self.mechanism {
            write!(f, ".{m}")?;
        }
        if let Some(a) = &self.artifact {
            write!(f, "!{a}")?;
        }
        Ok(())
    }
}

/// The MITRE ATT&CK enterprise tactics, as Security Hub spells them in `TTPs/<tactic>/...`.
const TACTICS: [&str; 14] = [
    "Reconnaissance",
    "Resource Development",
    "Initial Access",
    "Execution",
    "Persistence",
    "Privilege Escalation",
    "Defense Evasion",
    "Credential Access",
    "Discovery",
    "Lateral Movement",
    "Collection",
    "Command and Control",
    "Exfiltration",
    "Impact",
];

/// The tactic named `s`, compared case-insensitively and ignoring spaces
/// (`Defense Evasion`, `DefenseEvasion`).
fn tactic_named(s: &str) -> Option<&'static str> {
    let squash = |x: &str| x.replace(' ', "").to_ascii_lowercase();
    let want = squash(s);
    TACTICS.iter().copied().find(|t| squash(t) == want)
}

/// The MITRE ATT&CK tactic of a finding: from `TTPs/<Tactic>/...` in `Types`, else from
/// `Effects/...`, else from the GuardDuty threat purpose.
pub fn mitre_tactic(f: &Finding, gd: Option<&GuardDutyType>) -> Option<&'static str> {
    for t in f.types() {
        let mut parts = t.split('/');
        let ns = parts.next().unwrap_or_default();
        let second = parts.next().unwrap_or_default().trim();
        if ns.eq_ignore_ascii_case("TTPs") {
            if let Some(tac) = tactic_named(second) {
                return Some(tac);
            }
        }
        if ns.eq_ignore_ascii_case("Effects") {
            match second.to_ascii_lowercase().as_str() {
                "data exfiltration" => return Some("Exfiltration"),
                "data destruction" | "resource consumption" | "denial of service" => {
                    return Some("Impact")
                }
                _ => {}
            }
        }
    }
    let purpose = gd?.threat_purpose.as_str();
    Some(match purpose {
        "Backdoor" | "Trojan" => "Command and Control",
        "CryptoCurrency" | "Impact" => "Impact",
        "UnauthorizedAccess" | "InitialAccess" => "Initial Access",
        "Recon" | "PenTest" => "Reconnaissance",
        "Discovery" => "Discovery",
        "Exfiltration" => "Exfiltration",
        "Stealth" | "DefenseEvasion" | "Policy" => "Defense Evasion",
        "CredentialAccess" => "Credential Access",
        "Persistence" => "Persistence",
        "PrivilegeEscalation" => "Privilege Escalation",
        "Execution" => "Execution",
        _ => return None,
    })
}

/// Where a remediation text came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemediationSource {
    /// The finding's own `Remediation.Recommendation`.
    Finding,
    /// Vigil's built-in playbook for this kind of threat.
    Builtin,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemediationAdvice {
    pub text: String,
    pub url: Option<String>,
    pub source: RemediationSource,
    /// Name of the built-in playbook, when `source` is `builtin`.
    pub playbook: Option<String>,
}

struct Playbook {
    name: &'static str,
    text: &'static str,
    url: &'static str,
}

const GD_GUIDE: &str = "https://docs.aws.amazon.com/guardduty/latest/ug/guardduty_remediate.html";

const ROOT_USAGE: Playbook = Playbook {
    name: "root-credential-use",
    text: "Confirm with the account owner that the root user was used on purpose. If not: reset the root password, rotate or remove root access keys, enable (or re-register) MFA on root, and review CloudTrail for every action taken by root since the first event. Use IAM roles for daily work.",
    url: "https://docs.aws.amazon.com/IAM/latest/UserGuide/root-user-best-practice.html",
};
const CRYPTO_MINING: Playbook = Playbook {
    name: "crypto-mining",
    text: "Treat the instance as compromised and used for crypto-mining: isolate it with a security group that allows no traffic, snapshot its EBS volumes for forensics, then terminate it and redeploy from a known-good image. Rotate the credentials of its instance role, look for how the miner got in (exposed services, leaked keys), and check the bill for other unexpected compute.",
    url: GD_GUIDE,
};
const IAM_CREDENTIALS: Playbook = Playbook {
    name: "compromised-iam-credentials",
    text: "Treat the credentials as compromised: deactivate the access key (or revoke active sessions of the role with an explicit deny on aws:TokenIssueTime), rotate secrets the principal could read, and review CloudTrail for everything the principal did from the first suspicious call. If the key came from an instance role, investigate the instance too.",
    url: GD_GUIDE,
};
const S3: Playbook = Playbook {
    name: "s3-data-exposure",
    text: "Check who accessed the bucket and what they read (CloudTrail data events, S3 server access logs). Block public access, tighten the bucket policy and ACLs, and rotate the credentials of the principal that made the calls if they are not expected. Notify data owners if sensitive data may have left.",
    url: GD_GUIDE,
};
const EKS: Playbook = Playbook {
    name: "eks-cluster-compromise",
    text: "Identify the pod, service account and node involved. Isolate the pod with a deny-all network policy, cordon the node, revoke the Kubernetes credentials and IAM role sessions it used, and review the EKS audit log. Redeploy workloads from trusted images.",
    url: GD_GUIDE,
};
const CONTAINER: Playbook = Playbook {
    name: "container-runtime-compromise",
    text: "Identify the task or container and its image. Stop the task (keep it for forensics where possible), revoke the task role's sessions, scan and rebuild the image from a trusted base, and look for the same image running elsewhere.",
    url: GD_GUIDE,
};
const RDS: Playbook = Playbook {
    name: "rds-database-access",
    text: "Review the database login activity. If it is not expected: change the affected database user's password, restrict the database security group and public accessibility, and audit the queries the user ran.",
    url: GD_GUIDE,
};
const LAMBDA: Playbook = Playbook {
    name: "lambda-function-compromise",
    text: "Review the function's recent code and configuration changes and its network activity. Roll back to a known-good version, rotate the secrets and role sessions it uses, and restrict who can update it.",
    url: GD_GUIDE,
};
const BRUTE_FORCE: Playbook = Playbook {
    name: "brute-force",
    text: "Check whether the attempts succeeded (instance auth logs). Restrict SSH/RDP in the security group to known addresses or replace it with Session Manager, disable password authentication, and if any login succeeded treat the instance as compromised.",
    url: GD_GUIDE,
};
const EC2: Playbook = Playbook {
    name: "compromised-ec2-instance",
    text: "Treat the instance as possibly compromised: isolate it with a security group that allows no traffic (keep it running for forensics), snapshot its volumes, revoke its instance role sessions, and find the way in (exposed ports, vulnerable software). Rebuild from a known-good image rather than cleaning in place.",
    url: GD_GUIDE,
};
const SECURITY_GROUP: Playbook = Playbook {
    name: "security-group-exposure",
    text: "Remove inbound rules that open administrative or database ports to 0.0.0.0/0 or ::/0; allow only the sources that need access, or use Session Manager and load balancers instead of direct exposure.",
    url: "https://docs.aws.amazon.com/vpc/latest/userguide/vpc-security-groups.html",
};
const VULNERABILITY: Playbook = Playbook {
    name: "software-vulnerability",
    text: "Patch or upgrade the affected package to the fixed version, rebuild and redeploy the image or instance, and check whether the vulnerable service is reachable from the internet (which raises urgency).",
    url: "https://docs.aws.amazon.com/inspector/latest/user/findings-understanding.html",
};
const GENERIC: Playbook = Playbook {
    name: "investigate",
    text: "Open the finding in its product console, confirm whether the activity is expected, and contain the affected resource if it is not.",
    url: "https://docs.aws.amazon.com/securityhub/latest/userguide/securityhub-findings.html",
};

fn builtin_playbook(f: &Finding, gd: Option<&GuardDutyType>) -> &'static Playbook {
    if let Some(gd) = gd {
        let family = gd.threat_family.as_str();
        let res = gd.resource_type.as_str();
        if family.contains("RootCredentialUsage") {
            return &ROOT_USAGE;
        }
        if gd.threat_purpose == "CryptoCurrency" || family.contains("Bitcoin") {
            return &CRYPTO_MINING;
        }
        if family.contains("BruteForce") {
            return &BRUTE_FORCE;
        }
        if family.contains("InstanceCredentialExfiltration") {
            return &IAM_CREDENTIALS;
        }
        return match res {
            "IAMUser" | "IAM" => &IAM_CREDENTIALS,
            "S3" => &S3,
            "Kubernetes" | "EKS" => &EKS,
            "Runtime" | "ECS" | "Container" => &CONTAINER,
            "RDS" => &RDS,
            "Lambda" => &LAMBDA,
            "EC2" => {
                if gd.threat_purpose == "Recon" && family.contains("Port") {
                    &SECURITY_GROUP
                } else {
                    &EC2
                }
            }
            _ => &GENERIC,
        };
    }
    if f.other.contains_key("Vulnerabilities") || f.product_arn.contains("/aws/inspector") {
        return &VULNERABILITY;
    }
    match f.resources.first().map(|r| r.resource_type.as_str()) {
        Some("AwsEc2SecurityGroup") => &SECURITY_GROUP,
        Some("AwsS3Bucket") => &S3,
        _ => &GENERIC,
    }
}

/// The finding's own recommendation when it has one, else Vigil's built-in playbook.
pub fn remediation(f: &Finding, gd: Option<&GuardDutyType>) -> RemediationAdvice {
    if let Some(rec) = f
        .remediation
        .as_ref()
        .and_then(|r| r.recommendation.as_ref())
    {
        if let Some(text) = rec.text.as_deref().filter(|t| !t.trim().is_empty()) {
            return RemediationAdvice {
                text: text.to_owned(),
                url: rec.url.clone(),
                source: RemediationSource::Finding,
                playbook: None,
            };
        }
    }
    let p = builtin_playbook(f, gd);
    RemediationAdvice {
        text: p.text.to_owned(),
        url: Some(p.url.to_owned()),
        source: RemediationSource::Builtin,
        playbook: Some(p.name.to_owned()),
    }
}

/// A short, stable type for the finding: the GuardDuty type, else the Security Hub control id,
/// else the first `Types` entry, else the generator id.
pub fn finding_type(f: &Finding, gd: Option<&GuardDutyType>) -> String {
    if let Some(gd) = gd {
        return gd.to_string();
    }
    if let Some(c) = f
        .other
        .get("Compliance")
        .and_then(|c| c.get("SecurityControlId"))
        .and_then(|v| v.as_str())
    {
        return format!("control/{c}");
    }
    if let Some(c) = f.product_field("ControlId") {
        return format!("control/{c}");
    }
    if let Some(v) = f
        .other
        .get("Vulnerabilities")
        .and_then(|v| v.get(0))
        .and_then(|v| v.get("Id"))
        .and_then(|v| v.as_str())
    {
        return format!("vulnerability/{v}");
    }
    if let Some(t) = f.types().first() {
        return t.clone();
    }
    f.generator_id.clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asff::parse_finding;
    use serde_json::{json, Value};

    fn gd(types: &[&str]) -> Value {
        json!({
            "SchemaVersion": "2018-10-08",
            "Id": "arn:aws:guardduty:us-east-1:111111111111:detector/d/finding/f",
            "ProductArn": "arn:aws:securityhub:us-east-1::product/aws/guardduty",
            "GeneratorId": "arn:aws:guardduty:us-east-1:111111111111:detector/d",
            "AwsAccountId": "111111111111",
            "Types": types,
            "CreatedAt": "2026-11-20T10:00:00Z", "UpdatedAt": "2026-11-20T10:00:00Z",
            "Severity": {"Label": "HIGH"}, "Title": "t", "Description": "d",
            "Resources": [{"Type": "AwsEc2Instance", "Id": "arn:aws:ec2:us-east-1:111111111111:instance/i-1"}]
        })
    }

    #[test]
    fn guardduty_types_parse_in_native_and_asff_forms() {
        let t = GuardDutyType::parse("Backdoor:EC2/C&CActivity.B!DNS").unwrap();
        assert_eq!(t.threat_purpose, "Backdoor");
        assert_eq!(t.resource_type, "EC2");
        assert_eq!(t.threat_family, "C&CActivity");
        assert_eq!(t.mechanism.as_deref(), Some("B"));
        assert_eq!(t.artifact.as_deref(), Some("DNS"));
        assert_eq!(t.to_string(), "Backdoor:EC2/C&CActivity.B!DNS");

        let f = parse_finding(&gd(&[
            "TTPs/Initial Access/UnauthorizedAccess:EC2-SSHBruteForce",
        ]))
        .unwrap();
        let t = GuardDutyType::from_finding(&f).unwrap();
        assert_eq!(t.to_string(), "UnauthorizedAccess:EC2/SSHBruteForce");

        let f = parse_finding(&gd(&["TTPs/AttackSequence:IAM/CompromisedCredentials"])).unwrap();
        let t = GuardDutyType::from_finding(&f).unwrap();
        assert_eq!(t.to_string(), "AttackSequence:IAM/CompromisedCredentials");
        assert!(GuardDutyType::parse("Software and Configuration Checks").is_none());
    }

    #[test]
    fn guardduty_type_falls_back_to_product_fields() {
        let mut v = gd(&["Unusual Behaviors"]);
        v["ProductFields"] =
            json!({"aws/guardduty/service/findingType": "Trojan:EC2/DGADomainRequest.B"});
        let f = parse_finding(&v).unwrap();
        assert_eq!(
            GuardDutyType::from_finding(&f).unwrap().to_string(),
            "Trojan:EC2/DGADomainRequest.B"
        );
    }

    #[test]
    fn tactic_comes_from_the_ttps_namespace_then_effects_then_threat_purpose() {
        let f = parse_finding(&gd(&[
            "TTPs/Command and Control/Backdoor:EC2-C&CActivity.B",
        ]))
        .unwrap();
        assert_eq!(mitre_tactic(&f, None), Some("Command and Control"));
        let f = parse_finding(&gd(&[
            "Effects/Data Exfiltration/Exfiltration:S3-AnomalousBehavior",
        ]))
        .unwrap();
        assert_eq!(mitre_tactic(&f, None), Some("Exfiltration"));
        let f = parse_finding(&gd(&["Unusual Behaviors/User"])).unwrap();
        let t = GuardDutyType::parse("CryptoCurrency:EC2/BitcoinTool.B!DNS").unwrap();
        assert_eq!(mitre_tactic(&f, Some(&t)), Some("Impact"));
        assert_eq!(mitre_tactic(&f, None), None);
    }

    #[test]
    fn builtin_remediation_matches_the_threat() {
        let cases = [
            ("Policy:IAMUser/RootCredentialUsage", "root-credential-use"),
            ("CryptoCurrency:EC2/BitcoinTool.B!DNS", "crypto-mining"),
            (
                "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
                "compromised-iam-credentials",
            ),
            ("Discovery:S3/AnomalousBehavior", "s3-data-exposure"),
            (
                "PrivilegeEscalation:Kubernetes/PrivilegedContainer",
                "eks-cluster-compromise",
            ),
            (
                "Execution:Runtime/NewBinaryExecuted",
                "container-runtime-compromise",
            ),
            (
                "CredentialAccess:RDS/AnomalousBehavior.SuccessfulLogin",
                "rds-database-access",
            ),
            ("UnauthorizedAccess:EC2/SSHBruteForce", "brute-force"),
            ("Backdoor:EC2/C&CActivity.B!DNS", "compromised-ec2-instance"),
            (
                "Recon:EC2/PortProbeUnprotectedPort",
                "security-group-exposure",
            ),
            (
                "Backdoor:Lambda/C&CActivity.B",
                "lambda-function-compromise",
            ),
        ];
        let f = parse_finding(&gd(&[])).unwrap();
        for (t, playbook) in cases {
            let gd = GuardDutyType::parse(t).unwrap();
            let r = remediation(&f, Some(&gd));
            assert_eq!(r.source, RemediationSource::Builtin);
            assert_eq!(r.playbook.as_deref(), Some(playbook), "{t}");
        }
    }

    #[test]
    fn the_findings_own_remediation_wins() {
        let mut v = gd(&[]);
        v["Remediation"] = json!({"Recommendation": {"Text": "Do X", "Url": "https://x"}});
        let f = parse_finding(&v).unwrap();
        let r = remediation(&f, GuardDutyType::parse("Backdoor:EC2/X").as_ref());
        assert_eq!(r.source, RemediationSource::Finding);
        assert_eq!(r.text, "Do X");
    }

    #[test]
    fn environment_comes_from_runbook_then_tags_then_default() {
        let rb = crate::runbook::Runbook::from_yaml(
            "defaults: {environment: dev, owner: soc@x}\naccounts: {\"111111111111\": {name: pay, environment: production}}",
            "t",
        )
        .unwrap();
        let f = parse_finding(&gd(&[])).unwrap();
        let c = account_context(&rb, &f);
        assert_eq!(
            (c.environment, c.environment_source),
            (Environment::Production, EnvironmentSource::Runbook)
        );
        assert_eq!(c.name.as_deref(), Some("pay"));
        assert_eq!(c.owner.as_deref(), Some("soc@x"));

        let mut v = gd(&[]);
        v["AwsAccountId"] = json!("222222222222");
        v["Resources"][0]["Tags"] = json!({"ENV": "Staging"});
        let c = account_context(&rb, &parse_finding(&v).unwrap());
        assert_eq!(
            (c.environment, c.environment_source),
            (Environment::Test, EnvironmentSource::ResourceTag)
        );

        v["Resources"][0]["Tags"] = json!({"Name": "web"});
        let c = account_context(&rb, &parse_finding(&v).unwrap());
        assert_eq!(
            (c.environment, c.environment_source),
            (Environment::Dev, EnvironmentSource::Default)
        );
    }

    #[test]
    fn finding_type_prefers_guardduty_then_control_then_types() {
        let f = parse_finding(&gd(&[
            "TTPs/Initial Access/UnauthorizedAccess:EC2-SSHBruteForce",
        ]))
        .unwrap();
        let g = GuardDutyType::from_finding(&f);
        assert_eq!(
            finding_type(&f, g.as_ref()),
            "UnauthorizedAccess:EC2/SSHBruteForce"
        );
        let mut v = gd(&["Software and Configuration Checks/Industry and Regulatory Standards"]);
        v["ProductArn"] = json!("arn:aws:securityhub:us-east-1::product/aws/securityhub");
        v["Compliance"] = json!({"Status": "FAILED", "SecurityControlId": "S3.8"});
        let f = parse_finding(&v).unwrap();
        assert_eq!(finding_type(&f, None), "control/S3.8");
        let mut v = gd(&["Software and Configuration Checks/Vulnerabilities/CVE"]);
        v["ProductArn"] = json!("arn:aws:securityhub:us-east-1::product/aws/inspector");
        v["Vulnerabilities"] = json!([{"Id": "CVE-2023-38545"}]);
        let f = parse_finding(&v).unwrap();
        assert_eq!(finding_type(&f, None), "vulnerability/CVE-2023-38545");
    }
}

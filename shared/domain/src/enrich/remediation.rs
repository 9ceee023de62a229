//! What to do about a finding: its own `Remediation.Recommendation`, else one of Vigil's
//! built-in remediation guides, chosen by GuardDuty type or resource kind.

use serde::{Deserialize, Serialize};

use crate::asff::Finding;
use crate::enrich::guardduty::GuardDutyType;

/// Where a remediation text came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemediationSource {
    /// The finding's own `Remediation.Recommendation`.
    Finding,
    /// Vigil's built-in remediation guide for this kind of threat.
    Builtin,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemediationAdvice {
    pub text: String,
    pub url: Option<String>,
    pub source: RemediationSource,
    /// Name of the built-in guide, when `source` is `builtin`.
    #[serde(alias = "playbook")]
    pub guide: Option<String>,
}

struct Guide {
    name: &'static str,
    text: &'static str,
    url: &'static str,
}

const GD_GUIDE: &str = "https://docs.aws.amazon.com/guardduty/latest/ug/guardduty_remediate.html";

const ROOT_USAGE: Guide = Guide {
    name: "root-credential-use",
    text: "Confirm with the account owner that the root user was used on purpose. If not: reset the root password, rotate or remove root access keys, enable (or re-register) MFA on root, and review CloudTrail for every action taken by root since the first event. Use IAM roles for daily work.",
    url: "https://docs.aws.amazon.com/IAM/latest/UserGuide/root-user-best-practice.html",
};
const CRYPTO_MINING: Guide = Guide {
    name: "crypto-mining",
    text: "Treat the instance as compromised and used for crypto-mining: isolate it with a security group that allows no traffic, snapshot its EBS volumes for forensics, then terminate it and redeploy from a known-good image. Rotate the credentials of its instance role, look for how the miner got in (exposed services, leaked keys), and check the bill for other unexpected compute.",
    url: GD_GUIDE,
};
const IAM_CREDENTIALS: Guide = Guide {
    name: "compromised-iam-credentials",
    text: "Treat the credentials as compromised: deactivate the access key (or revoke active sessions of the role with an explicit deny on aws:TokenIssueTime), rotate secrets the principal could read, and review CloudTrail for everything the principal did from the first suspicious call. If the key came from an instance role, investigate the instance too.",
    url: GD_GUIDE,
};
const S3: Guide = Guide {
    name: "s3-data-exposure",
    text: "Check who accessed the bucket and what they read (CloudTrail data events, S3 server access logs). Block public access, tighten the bucket policy and ACLs, and rotate the credentials of the principal that made the calls if they are not expected. Notify data owners if sensitive data may have left.",
    url: GD_GUIDE,
};
const EKS: Guide = Guide {
    name: "eks-cluster-compromise",
    text: "Identify the pod, service account and node involved. Isolate the pod with a deny-all network policy, cordon the node, revoke the Kubernetes credentials and IAM role sessions it used, and review the EKS audit log. Redeploy workloads from trusted images.",
    url: GD_GUIDE,
};
const CONTAINER: Guide = Guide {
    name: "container-runtime-compromise",
    text: "Identify the task or container and its image. Stop the task (keep it for forensics where possible), revoke the task role's sessions, scan and rebuild the image from a trusted base, and look for the same image running elsewhere.",
    url: GD_GUIDE,
};
const RDS: Guide = Guide {
    name: "rds-database-access",
    text: "Review the database login activity. If it is not expected: change the affected database user's password, restrict the database security group and public accessibility, and audit the queries the user ran.",
    url: GD_GUIDE,
};
const LAMBDA: Guide = Guide {
    name: "lambda-function-compromise",
    text: "Review the function's recent code and configuration changes and its network activity. Roll back to a known-good version, rotate the secrets and role sessions it uses, and restrict who can update it.",
    url: GD_GUIDE,
};
const BRUTE_FORCE: Guide = Guide {
    name: "brute-force",
    text: "Check whether the attempts succeeded (instance auth logs). Restrict SSH/RDP in the security group to known addresses or replace it with Session Manager, disable password authentication, and if any login succeeded treat the instance as compromised.",
    url: GD_GUIDE,
};
const EC2: Guide = Guide {
    name: "compromised-ec2-instance",
    text: "Treat the instance as possibly compromised: isolate it with a security group that allows no traffic (keep it running for forensics), snapshot its volumes, revoke its instance role sessions, and find the way in (exposed ports, vulnerable software). Rebuild from a known-good image rather than cleaning in place.",
    url: GD_GUIDE,
};
const SECURITY_GROUP: Guide = Guide {
    name: "security-group-exposure",
    text: "Remove inbound rules that open administrative or database ports to 0.0.0.0/0 or ::/0; allow only the sources that need access, or use Session Manager and load balancers instead of direct exposure.",
    url: "https://docs.aws.amazon.com/vpc/latest/userguide/vpc-security-groups.html",
};
const VULNERABILITY: Guide = Guide {
    name: "software-vulnerability",
    text: "Patch or upgrade the affected package to the fixed version, rebuild and redeploy the image or instance, and check whether the vulnerable service is reachable from the internet (which raises urgency).",
    url: "https://docs.aws.amazon.com/inspector/latest/user/findings-understanding.html",
};
const GENERIC: Guide = Guide {
    name: "investigate",
    text: "Open the finding in its product console, confirm whether the activity is expected, and contain the affected resource if it is not.",
    url: "https://docs.aws.amazon.com/securityhub/latest/userguide/securityhub-findings.html",
};

fn builtin_guide(f: &Finding<'_>, gd: Option<&GuardDutyType>) -> &'static Guide {
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
    if f.has_vulnerabilities || f.product_arn.contains("/aws/inspector") {
        return &VULNERABILITY;
    }
    match f.resources.first().map(|r| r.resource_type.as_ref()) {
        Some("AwsEc2SecurityGroup") => &SECURITY_GROUP,
        Some("AwsS3Bucket") => &S3,
        _ => &GENERIC,
    }
}

/// The finding's own recommendation when it has one, else Vigil's built-in guide.
pub fn remediation(f: &Finding<'_>, gd: Option<&GuardDutyType>) -> RemediationAdvice {
    if let Some(text) = f
        .remediation_text
        .as_deref()
        .filter(|t| !t.trim().is_empty())
    {
        return RemediationAdvice {
            text: text.to_owned(),
            url: f.remediation_url.as_deref().map(str::to_owned),
            source: RemediationSource::Finding,
            guide: None,
        };
    }
    let p = builtin_guide(f, gd);
    RemediationAdvice {
        text: p.text.to_owned(),
        url: Some(p.url.to_owned()),
        source: RemediationSource::Builtin,
        guide: Some(p.name.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asff::parse_finding;
    use crate::testing::Asff;
    use serde_json::{json, Value};

    fn gd(types: &[&str]) -> Value {
        Asff::guardduty("f").types(types).json()
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
        let text = gd(&[]).to_string();
        let f = parse_finding(&text).unwrap();
        for (t, guide) in cases {
            let gd = GuardDutyType::parse(t).unwrap();
            let r = remediation(&f, Some(&gd));
            assert_eq!(r.source, RemediationSource::Builtin);
            assert_eq!(r.guide.as_deref(), Some(guide), "{t}");
        }
    }

    #[test]
    fn the_findings_own_remediation_wins() {
        let mut v = gd(&[]);
        v["Remediation"] = json!({"Recommendation": {"Text": "Do X", "Url": "https://x"}});
        let text = v.to_string();
        let f = parse_finding(&text).unwrap();
        let r = remediation(&f, GuardDutyType::parse("Backdoor:EC2/X").as_ref());
        assert_eq!(r.source, RemediationSource::Finding);
        assert_eq!(r.text, "Do X");
    }
}

//! GuardDuty finding types (`ThreatPurpose:ResourceType/ThreatFamily.Mechanism!Artifact`) from
//! the ASFF `Types` spellings, and the short finding type every finding record carries.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::asff::Finding;

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
    pub fn from_finding(f: &Finding<'_>) -> Option<Self> {
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
        f.product_fields
            .iter()
            .filter(|(k, _)| k.to_ascii_lowercase().ends_with("type"))
            .find_map(|(_, v)| Self::parse(v).filter(|_| v.contains('/')))
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

/// A short, stable type for the finding: the GuardDuty type, else the Security Hub control id,
/// else the first `Types` entry, else the generator id.
pub fn finding_type(f: &Finding<'_>, gd: Option<&GuardDutyType>) -> String {
    if let Some(gd) = gd {
        return gd.to_string();
    }
    if let Some(c) = f
        .compliance
        .as_ref()
        .and_then(|c| c.security_control_id.0.as_deref())
    {
        return format!("control/{c}");
    }
    if let Some(c) = f.product_field("ControlId") {
        return format!("control/{c}");
    }
    if let Some(v) = f.vulnerability_id.as_deref() {
        return format!("vulnerability/{v}");
    }
    if let Some(t) = f.types().first() {
        return t.to_string();
    }
    f.generator_id.to_string()
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
    fn guardduty_types_parse_in_native_and_asff_forms() {
        let t = GuardDutyType::parse("Backdoor:EC2/C&CActivity.B!DNS").unwrap();
        assert_eq!(t.threat_purpose, "Backdoor");
        assert_eq!(t.resource_type, "EC2");
        assert_eq!(t.threat_family, "C&CActivity");
        assert_eq!(t.mechanism.as_deref(), Some("B"));
        assert_eq!(t.artifact.as_deref(), Some("DNS"));
        assert_eq!(t.to_string(), "Backdoor:EC2/C&CActivity.B!DNS");

        let text = gd(&["TTPs/Initial Access/UnauthorizedAccess:EC2-SSHBruteForce"]).to_string();
        let f = parse_finding(&text).unwrap();
        let t = GuardDutyType::from_finding(&f).unwrap();
        assert_eq!(t.to_string(), "UnauthorizedAccess:EC2/SSHBruteForce");

        let text = gd(&["TTPs/AttackSequence:IAM/CompromisedCredentials"]).to_string();
        let f = parse_finding(&text).unwrap();
        let t = GuardDutyType::from_finding(&f).unwrap();
        assert_eq!(t.to_string(), "AttackSequence:IAM/CompromisedCredentials");
        assert!(GuardDutyType::parse("Software and Configuration Checks").is_none());
    }

    #[test]
    fn guardduty_type_falls_back_to_product_fields() {
        let mut v = gd(&["Unusual Behaviors"]);
        v["ProductFields"] =
            json!({"aws/guardduty/service/findingType": "Trojan:EC2/DGADomainRequest.B"});
        let text = v.to_string();
        let f = parse_finding(&text).unwrap();
        assert_eq!(
            GuardDutyType::from_finding(&f).unwrap().to_string(),
            "Trojan:EC2/DGADomainRequest.B"
        );
    }

    #[test]
    fn finding_type_prefers_guardduty_then_control_then_types() {
        let text = gd(&["TTPs/Initial Access/UnauthorizedAccess:EC2-SSHBruteForce"]).to_string();
        let f = parse_finding(&text).unwrap();
        let g = GuardDutyType::from_finding(&f);
        assert_eq!(
            finding_type(&f, g.as_ref()),
            "UnauthorizedAccess:EC2/SSHBruteForce"
        );
        let mut v = gd(&["Software and Configuration Checks/Industry and Regulatory Standards"]);
        v["ProductArn"] = json!("arn:aws:securityhub:us-east-1::product/aws/securityhub");
        v["Compliance"] = json!({"Status": "FAILED", "SecurityControlId": "S3.8"});
        let text = v.to_string();
        let f = parse_finding(&text).unwrap();
        assert_eq!(finding_type(&f, None), "control/S3.8");
        let mut v = gd(&["Software and Configuration Checks/Vulnerabilities/CVE"]);
        v["ProductArn"] = json!("arn:aws:securityhub:us-east-1::product/aws/inspector");
        v["Vulnerabilities"] = json!([{"Id": "CVE-2023-38545"}]);
        let text = v.to_string();
        let f = parse_finding(&text).unwrap();
        assert_eq!(finding_type(&f, None), "vulnerability/CVE-2023-38545");
    }
}

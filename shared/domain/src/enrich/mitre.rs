//! The MITRE ATT&CK tactic of a finding: the ASFF `TTPs/<tactic>` namespace, `Effects`, else
//! the GuardDuty threat purpose.

use crate::asff::Finding;
use crate::enrich::guardduty::GuardDutyType;

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
pub fn mitre_tactic(f: &Finding<'_>, gd: Option<&GuardDutyType>) -> Option<&'static str> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asff::parse_finding;
    use crate::testing::Asff;
    use serde_json::Value;

    fn gd(types: &[&str]) -> Value {
        Asff::guardduty("f").types(types).json()
    }

    #[test]
    fn tactic_comes_from_the_ttps_namespace_then_effects_then_threat_purpose() {
        let text = gd(&["TTPs/Command and Control/Backdoor:EC2-C&CActivity.B"]).to_string();
        let f = parse_finding(&text).unwrap();
        assert_eq!(mitre_tactic(&f, None), Some("Command and Control"));
        let text = gd(&["Effects/Data Exfiltration/Exfiltration:S3-AnomalousBehavior"]).to_string();
        let f = parse_finding(&text).unwrap();
        assert_eq!(mitre_tactic(&f, None), Some("Exfiltration"));
        let text = gd(&["Unusual Behaviors/User"]).to_string();
        let f = parse_finding(&text).unwrap();
        let t = GuardDutyType::parse("CryptoCurrency:EC2/BitcoinTool.B!DNS").unwrap();
        assert_eq!(mitre_tactic(&f, Some(&t)), Some("Impact"));
        assert_eq!(mitre_tactic(&f, None), None);
    }
}

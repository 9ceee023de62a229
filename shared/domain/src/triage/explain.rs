//! Explanations: every decision Vigil made about a finding, in words an analyst reads, kept on
//! the finding's record (and the incident's on the incident), shown by `vigil explain`.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::Decisions;

/// Why a finding was handled as it was.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Explanation {
    /// Where its severity came from (the finding, or a rule).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub severity: String,
    /// Where its account's environment came from.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub environment: String,
    /// Where its owner came from.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub owner: String,
    /// Its response target and where it is set.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub deadline: String,
    /// Why it joined, opened or stayed out of an incident.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub grouping: String,
    /// The rules that matched and what they did.
    #[serde(default, skip_serializing_if = "Decisions::is_empty")]
    pub decisions: Decisions,
    /// The runbook version (content hash) that decided.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub runbook: String,
}

impl Explanation {
    /// The explanation as indented text lines.
    pub fn render(&self, indent: &str) -> String {
        let mut s = String::new();
        let mut line = |k: &str, v: &str| {
            if !v.is_empty() {
                let _ = writeln!(s, "{indent}{k:<12} {v}");
            }
        };
        line("severity", &self.severity);
        line("environment", &self.environment);
        line("owner", &self.owner);
        line("deadline", &self.deadline);
        line("grouping", &self.grouping);
        for m in &self.decisions.rules {
            let what = if m.actions.is_empty() {
                "matched (its actions were already decided by earlier rules)".to_string()
            } else {
                format!("matched: {}", m.actions.join(", "))
            };
            line("rule", &format!("{} {what}", m.id));
            for r in &m.refused {
                line("", &format!("  {r}"));
            }
        }
        if let Some(sup) = &self.decisions.suppressed {
            line(
                "suppressed",
                &format!("by rule {}: {}", sup.rule, sup.reason),
            );
        }
        if let Some(r) = &self.decisions.route {
            line("route", &format!("{} (rule {})", r.value, r.rule));
        }
        for n in &self.decisions.notes {
            line("note", &format!("{} (rule {})", n.text, n.rule));
        }
        line("runbook", &self.runbook);
        s
    }
}

//! Runbooks are code: warnings about rules (`vigil runbook check`), the runbook's own tests
//! (`vigil runbook test`), and what the rules decide about a finding (`vigil runbook explain`).

use std::path::Path;

use chrono::{DateTime, Duration, Utc};

use super::spec::RuleTest;
use super::Decisions;
use crate::asff::{parse_time, SeverityLabel};
use crate::finding::NormalizedFinding;
use crate::runbook::Runbook;

/// The 1-based line of the rule `id` in the runbook's text (`id: <id>`), for messages.
pub fn rule_line(text: &str, id: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            let l = l
                .trim_start()
                .trim_start_matches("- ")
                .trim_start_matches('{')
                .trim();
            l.strip_prefix("id:").is_some_and(|rest| {
                let v = rest.split(',').next().unwrap_or(rest).trim();
                v.trim_matches(|c| c == '"' || c == '\'') == id
            })
        })
        .map(|i| i + 1)
}

/// Warnings about the rules at `now`: rules that can never match again (expired, disabled),
/// rules expiring within 14 days, suppress rules without an expiry date.
pub fn warnings(rb: &Runbook, text: &str, now: DateTime<Utc>) -> Vec<String> {
    let mut out = Vec::new();
    let today = now.date_naive();
    for spec in &rb.rules {
        let at = rule_line(text, &spec.id)
            .map(|l| format!(" (line {l})"))
            .unwrap_or_default();
        let id = &spec.id;
        if !spec.enabled {
            out.push(format!("rule {id}{at}: disabled, it never matches"));
        }
        match spec.expires {
            Some(e) if e.0 < today => out.push(format!(
                "rule {id}{at}: expired on {}, it never matches; remove or renew it",
                e.0
            )),
            Some(e) if e.0 <= today + Duration::days(14) => out.push(format!(
                "rule {id}{at}: expires on {} (within 14 days)",
                e.0
            )),
            None if spec.actions.suppress => out.push(format!(
                "rule {id}{at}: suppresses without an expires date; accepted risks should be reviewed"
            )),
            _ => {}
        }
    }
    out
}

/// The result of one runbook test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestOutcome {
    pub name: String,
    /// Empty when the test passed.
    pub failures: Vec<String>,
}

/// Loads a test's finding: inline, or from `finding_file` (relative to `base`), which may hold
/// a finding, a list of findings or an EventBridge event (its first finding).
fn test_finding(t: &RuleTest, base: &Path) -> Result<String, String> {
    let value = match (&t.finding, &t.finding_file) {
        (Some(v), None) => v.clone(),
        (None, Some(file)) => {
            let path = base.join(file);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            serde_json::from_str(&text)
                .map_err(|e| format!("{} is not JSON: {e}", path.display()))?
        }
        _ => return Err("give exactly one of finding and finding_file".into()),
    };
    let first = first_finding(value).ok_or("no finding in it")?;
    Ok(first.to_string())
}

/// The findings of a file: a finding, a list, or an EventBridge event (`detail.findings`).
pub fn findings_in(value: serde_json::Value) -> Vec<serde_json::Value> {
    match value {
        serde_json::Value::Array(a) => a,
        mut v => match v
            .pointer_mut("/detail/findings")
            .map(serde_json::Value::take)
        {
            Some(serde_json::Value::Array(a)) => a,
            _ => vec![v],
        },
    }
}

fn first_finding(value: serde_json::Value) -> Option<serde_json::Value> {
    findings_in(value).into_iter().next()
}

/// What the runbook makes of one finding: its severity, environment, owner and route after the
/// rules, and the decisions.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub finding_id: String,
    pub severity: SeverityLabel,
    pub environment: crate::runbook::Environment,
    pub owner: Option<String>,
    pub decisions: Decisions,
    pub explanation: super::Explanation,
}

/// Applies `rb` to one finding's JSON text at `now`.
pub fn verdict(rb: &Runbook, raw: &str, now: DateTime<Utc>) -> Result<Verdict, String> {
    let f = crate::engine::normalize_one(raw, rb).map_err(|e| e.to_string())?;
    let mut f: NormalizedFinding = f;
    f.triage(rb, now);
    Ok(Verdict {
        finding_id: f.finding.id.to_string(),
        severity: f.severity,
        environment: f.account.environment,
        owner: f.account.owner.clone(),
        decisions: f.decisions.clone(),
        explanation: f.explanation.clone(),
    })
}

/// Runs the runbook's `tests:`; `base` is the directory of the runbook file.
pub fn run_tests(rb: &Runbook, base: &Path, now: DateTime<Utc>) -> Vec<TestOutcome> {
    rb.tests
        .iter()
        .map(|t| {
            let mut failures = Vec::new();
            let at = match t.at.as_deref().map(|s| parse_time(s).ok_or(s)) {
                None => Ok(now),
                Some(Ok(at)) => Ok(at),
                Some(Err(s)) => Err(format!("at: {s:?} is not an RFC 3339 time")),
            };
            match at.and_then(|at| test_finding(t, base).map(|raw| (at, raw))) {
                Err(e) => failures.push(e),
                Ok((at, raw)) => match verdict(rb, &raw, at) {
                    Err(e) => failures.push(format!("the finding does not parse: {e}")),
                    Ok(v) => failures = compare(t, &v),
                },
            }
            TestOutcome {
                name: t.name.clone(),
                failures,
            }
        })
        .collect()
}

fn compare(t: &RuleTest, v: &Verdict) -> Vec<String> {
    let e = &t.expect;
    let mut out = Vec::new();
    let suppressed_by = v.decisions.suppressed.as_ref().map(|s| s.rule.as_str());
    if let Some(want) = e.suppressed {
        if want != suppressed_by.is_some() {
            out.push(format!(
                "expected {}suppressed, got {}",
                if want { "" } else { "not " },
                match suppressed_by {
                    Some(r) => format!("suppressed by {r}"),
                    None => "not suppressed".into(),
                }
            ));
        }
    }
    if let Some(want) = &e.suppressed_by {
        if suppressed_by != Some(want.as_str()) {
            out.push(format!(
                "expected suppressed by {want}, got {}",
                suppressed_by.map_or("not suppressed".to_string(), |r| format!(
                    "suppressed by {r}"
                ))
            ));
        }
    }
    if let Some(want) = e.severity {
        if want.0 != v.severity {
            out.push(format!("expected severity {}, got {}", want.0, v.severity));
        }
    }
    if let Some(want) = e.environment {
        if want != v.environment {
            out.push(format!(
                "expected environment {want}, got {}",
                v.environment
            ));
        }
    }
    if let Some(want) = &e.owner {
        if Some(want) != v.owner.as_ref() {
            out.push(format!(
                "expected owner {want}, got {}",
                v.owner.as_deref().unwrap_or("none")
            ));
        }
    }
    if let Some(want) = &e.route {
        let got = v.decisions.route.as_ref().map(|r| r.value.as_str());
        if got != Some(want.as_str()) {
            out.push(format!(
                "expected route {want}, got {}",
                got.unwrap_or("none")
            ));
        }
    }
    for id in &e.rules {
        if !v.decisions.rules.iter().any(|m| &m.id == id) {
            out.push(format!(
                "expected rule {id} to match; matched: {}",
                names(&v.decisions)
            ));
        }
    }
    out
}

fn names(d: &Decisions) -> String {
    if d.rules.is_empty() {
        return "none".into();
    }
    d.rules
        .iter()
        .map(|m| m.id.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

//! `vigil runbook check|test|explain|schema`: runbooks are code. None of these needs AWS.

use std::io::Write;
use std::path::Path;

use chrono::{DateTime, Utc};
use vigil_domain::triage::check::{findings_in, run_tests, verdict, warnings};
use vigil_domain::Runbook;

/// The runbook's JSON Schema, pretty-printed, as committed in `docs/runbook.schema.json`.
pub fn schema_text() -> String {
    let v = vigil_domain::triage::schema::runbook_schema();
    serde_json::to_string_pretty(&v).unwrap_or_default()
}

/// What a runbook command found; the exit code follows from it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Checked {
    pub errors: usize,
    pub warnings: usize,
}

/// An error that ends the command: printed, counted.
fn failed(out: &mut dyn Write, message: &str) -> std::io::Result<Checked> {
    writeln!(out, "error: {message}")?;
    Ok(Checked {
        errors: 1,
        warnings: 0,
    })
}

fn load(path: &Path) -> Result<(Runbook, String), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let rb = Runbook::from_yaml(&text, &path.display().to_string()).map_err(|e| e.to_string())?;
    Ok((rb, text))
}

/// `vigil runbook check FILE`: errors (with line and column) and warnings.
pub fn check(path: &Path, now: DateTime<Utc>, out: &mut dyn Write) -> std::io::Result<Checked> {
    match load(path) {
        Err(e) => {
            for part in e.split("; ") {
                writeln!(out, "error: {part}")?;
            }
            Ok(Checked {
                errors: 1,
                warnings: 0,
            })
        }
        Ok((rb, text)) => {
            let w = warnings(&rb, &text, now);
            for line in &w {
                writeln!(out, "warning: {line}")?;
            }
            writeln!(
                out,
                "{}: ok ({} rules, {} IP lists, {} routes, {} tests, {} accounts; version {})",
                path.display(),
                rb.rules.len(),
                rb.ip_lists.len(),
                rb.routes.len(),
                rb.tests.len(),
                rb.accounts.len(),
                rb.version
            )?;
            Ok(Checked {
                errors: 0,
                warnings: w.len(),
            })
        }
    }
}

/// `vigil runbook test FILE`: the runbook's own tests; one line per test.
pub fn test(path: &Path, now: DateTime<Utc>, out: &mut dyn Write) -> std::io::Result<Checked> {
    let (rb, _) = match load(path) {
        Ok(x) => x,
        Err(e) => return failed(out, &e),
    };
    let base = path.parent().unwrap_or(Path::new("."));
    let results = run_tests(&rb, base, now);
    let mut failed = 0;
    for r in &results {
        if r.failures.is_empty() {
            writeln!(out, "PASS {}", r.name)?;
        } else {
            failed += 1;
            writeln!(out, "FAIL {}", r.name)?;
            for f in &r.failures {
                writeln!(out, "     {f}")?;
            }
        }
    }
    if results.is_empty() {
        writeln!(out, "{}: no tests (add a tests: section)", path.display())?;
    } else {
        writeln!(
            out,
            "{} of {} tests passed",
            results.len() - failed,
            results.len()
        )?;
    }
    Ok(Checked {
        errors: failed,
        warnings: 0,
    })
}

/// `vigil runbook explain FILE FINDING.json`: what the rules do with each finding of the file
/// (a finding, a list of findings or an EventBridge event).
pub fn explain(
    path: &Path,
    finding_file: &Path,
    now: DateTime<Utc>,
    out: &mut dyn Write,
) -> std::io::Result<Checked> {
    let (rb, _) = match load(path) {
        Ok(x) => x,
        Err(e) => return failed(out, &e),
    };
    let text = match std::fs::read_to_string(finding_file) {
        Ok(t) => t,
        Err(e) => return failed(out, &format!("cannot read {}: {e}", finding_file.display())),
    };
    let value: serde_json::Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => return failed(out, &format!("{} is not JSON: {e}", finding_file.display())),
    };
    let mut errors = 0;
    for f in findings_in(value) {
        match verdict(&rb, &f.to_string(), now) {
            Ok(v) => {
                let fate = match &v.decisions.suppressed {
                    Some(s) => format!("SUPPRESSED by {}", s.rule),
                    None => "kept".to_owned(),
                };
                writeln!(out, "{}\n  {fate}", v.finding_id)?;
                write!(out, "{}", v.explanation.render("  "))?;
                if v.decisions.rules.is_empty() {
                    writeln!(out, "  no rule matches")?;
                }
            }
            Err(e) => {
                errors += 1;
                writeln!(out, "error: {e}")?;
            }
        }
    }
    Ok(Checked {
        errors,
        warnings: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    /// CI's check that the committed schema is the one the types give.
    #[test]
    fn the_committed_json_schema_is_current() {
        let committed =
            std::fs::read_to_string(root().join("docs/runbook.schema.json")).unwrap_or_default();
        assert!(
            committed.trim() == schema_text().trim(),
            "docs/runbook.schema.json is out of date: run `cargo run -p vigil -- runbook schema > docs/runbook.schema.json`"
        );
    }

    /// The example runbook is valid against the schema's top-level keys (every key it uses is
    /// declared there).
    #[test]
    fn the_schema_declares_every_top_level_key_of_the_example() {
        let v = vigil_domain::triage::schema::runbook_schema();
        let props = v["properties"].as_object().cloned().unwrap_or_default();
        let text =
            std::fs::read_to_string(root().join("examples/runbook.yaml")).unwrap_or_default();
        for line in text.lines() {
            if let Some((key, _)) = line.split_once(':') {
                if !key.starts_with(' ') && !key.starts_with('#') && !key.is_empty() {
                    assert!(props.contains_key(key), "{key} is not in the schema");
                }
            }
        }
        for key in [
            "rules",
            "ip_lists",
            "routes",
            "tests",
            "accounts",
            "account_facts",
        ] {
            assert!(props.contains_key(key), "{key}");
        }
    }
}

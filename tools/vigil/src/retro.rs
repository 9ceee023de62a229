//! `vigil runbook apply FILE --retroactive [--dry-run]`: the report of a re-evaluation of the
//! open incidents under a runbook version (the work is
//! [`vigil_domain::engine::retro::reevaluate_open`]).

use std::io::Write;

use vigil_domain::engine::retro::RetroReport;

/// Prints one line per changed or skipped incident, then the totals.
pub fn print(
    r: &RetroReport,
    version: &str,
    dry_run: bool,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let verb = if dry_run { "would change" } else { "changed" };
    for (id, changes) in &r.changed {
        writeln!(out, "{id}  {verb}: {}", changes.join("; "))?;
    }
    for (id, why) in &r.skipped {
        writeln!(out, "{id}  not re-evaluated: {why}")?;
    }
    let n = |count: usize, one: &str, many: &str| {
        format!("{count} {}", if count == 1 { one } else { many })
    };
    writeln!(
        out,
        "runbook version {version}: {} examined, {} {verb}, {} unchanged, {} not re-evaluated; \
         {} {}suppressed out of their incidents, {} {}",
        n(r.examined, "open incident", "open incidents"),
        r.changed.len(),
        r.unchanged,
        r.skipped.len(),
        n(r.findings_removed, "finding", "findings"),
        if dry_run { "would be " } else { "" },
        n(r.records_written, "finding record", "finding records"),
        if dry_run { "to rewrite" } else { "rewritten" },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_names_each_incident_and_what_changed() {
        let r = RetroReport {
            examined: 3,
            unchanged: 1,
            changed: vec![("inc-1".into(), vec!["severity MEDIUM -> HIGH".into()])],
            skipped: vec![("inc-2".into(), "now RESOLVED".into())],
            records_written: 2,
            findings_removed: 1,
            conflicts: 0,
        };
        let mut text = Vec::new();
        print(&r, "abc", false, &mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(
            text.contains("inc-1  changed: severity MEDIUM -> HIGH"),
            "{text}"
        );
        assert!(
            text.contains("inc-2  not re-evaluated: now RESOLVED"),
            "{text}"
        );
        assert!(
            text.contains("3 open incidents examined, 1 changed, 1 unchanged"),
            "{text}"
        );
        let mut dry = Vec::new();
        print(&r, "abc", true, &mut dry).unwrap();
        assert!(String::from_utf8(dry).unwrap().contains("would change"));
    }
}

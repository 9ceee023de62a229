//! `vigil replay`: EventBridge event files through the ingest function's own code. A file that
//! is unreadable, not UTF-8 or not JSON is reported by name and skipped; the others go on.

use std::io::Write;
use std::path::{Path, PathBuf};

use ingest::{process, Deps, IngestError};

/// Totals of one replay.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayTotals {
    pub events: usize,
    pub findings: usize,
    pub stored: usize,
    pub duplicates: usize,
    pub invalid: usize,
    /// Files that could not be read as a JSON event (named on `err`).
    pub unreadable_files: usize,
}

/// Replays `files` in order, one line per event on `out`, problems on `err`. A store failure
/// stops the replay (it would fail every later event the same way).
pub async fn replay_files<S: ingest::Store>(
    deps: &Deps<S>,
    files: &[PathBuf],
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<ReplayTotals, ReplayError> {
    let mut t = ReplayTotals::default();
    for f in files {
        let payload = match read_event(f) {
            Ok(v) => v,
            Err(why) => {
                let _ = writeln!(err, "{}: {why}; skipped", f.display());
                t.unreadable_files += 1;
                t.invalid += 1;
                continue;
            }
        };
        let s = process(deps, &payload)
            .await
            .map_err(|source| ReplayError::Event {
                file: f.clone(),
                source,
            })?;
        t.events += 1;
        t.findings += s.received;
        t.stored += s.new + s.updated + s.suppressed;
        t.duplicates += s.duplicates + s.stale;
        t.invalid += s.invalid + s.rejected;
        let _ = writeln!(
            out,
            "{:<60} findings={} new={} updated={} suppressed={} duplicate={} stale={} invalid={} opened={}",
            f.file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default(),
            s.received,
            s.new,
            s.updated,
            s.suppressed,
            s.duplicates,
            s.stale,
            s.invalid + s.rejected,
            s.incidents_opened
        );
    }
    Ok(t)
}

fn read_event(f: &Path) -> Result<String, String> {
    let bytes = std::fs::read(f).map_err(|e| format!("cannot read: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        format!(
            "not UTF-8 (first bad byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })?;
    serde_json::from_str::<&serde_json::value::RawValue>(&text)
        .map_err(|e| format!("not JSON: {e}"))?;
    Ok(text)
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("replaying {}", file.display())]
    Event {
        file: PathBuf,
        #[source]
        source: IngestError,
    },
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use vigil_domain::testing::{imported_event, Asff};
    use vigil_domain::{MemoryStore, Runbook, Settings};

    /// Defect: a non-UTF-8 file in a replayed directory stopped the replay.
    #[test]
    fn unreadable_files_are_named_and_skipped_and_the_rest_is_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let good = |name: &str, id: &str| {
            let p = dir.path().join(name);
            let ev = imported_event(id, vec![Asff::guardduty(id).json()]);
            std::fs::write(&p, serde_json::to_vec(&ev).unwrap()).unwrap();
            p
        };
        let a = good("a.json", "a");
        let latin1 = dir.path().join("b.json");
        std::fs::write(&latin1, b"{\"Title\": \"caf\xe9\"}").unwrap();
        let text = dir.path().join("c.json");
        std::fs::write(&text, "not json at all").unwrap();
        let d = good("d.json", "d");
        let deps = Deps {
            store: MemoryStore::new(),
            runbook: Runbook::default(),
            settings: Settings::default(),
            emit_metrics: false,
            live: None,
            facts: None,
        };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let t = rt
            .block_on(replay_files(
                &deps,
                &[a, latin1, text, d],
                &mut out,
                &mut err,
            ))
            .unwrap();
        assert_eq!((t.events, t.stored, t.unreadable_files), (2, 2, 2));
        let err = String::from_utf8(err).unwrap();
        assert!(err.contains("b.json: not UTF-8"), "{err}");
        assert!(err.contains("c.json: not JSON"), "{err}");
    }
}

//! Re-evaluating open incidents under a new runbook version, on request
//! (`vigil runbook apply FILE --retroactive`). Without it a new version applies to new
//! deliveries only.
//!
//! For each open or acknowledged incident, every member finding's stored state is triaged again under the new
//! version. When nothing the runbook decides about any member changes, the incident is left
//! alone. Otherwise:
//! - members the new version suppresses leave the incident (their records keep the rule and
//!   reason and say which incident they left, as any suppressed finding is kept);
//! - the incident is rebuilt from its remaining members' current states, folded in event-time
//!   order with the same rules as live ingest: counts, severity, deadline, environment, owner,
//!   lead, route and notes; an incident left with no active member is resolved;
//! - a severity the new version raises starts its deadline clock when it is applied (the
//!   finding was not known to be that severe before), a lowered or unchanged one keeps its
//!   clock;
//! - every changed record and the incident record the runbook version and what changed.
//!
//! Writes are conditional on the versions read, records first, then the incident. An ingest
//! changing either in between makes the incident write fail; the incident is then read and
//! rebuilt again from its members as their records now say, so a rerun (or a run interrupted
//! between the two writes and run again) converges and a second run changes nothing.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};

use crate::engine::{normalize_one, Settings};
use crate::error::StoreError;
use crate::finding::{FindingRecord, NormalizedFinding};
use crate::incident::{Incident, IncidentStatus, Journal, Members, Reevaluation};
use crate::ports::{ChangeSet, Expect, IncidentReader, IncidentStore, Put};
use crate::runbook::Runbook;

/// How long after its last change an incident's member index is taken to have caught up: a
/// by-incident index (eventually consistent) that still lists fewer members than the incident
/// counts after this is believed, and the rebuild corrects the count.
pub const INDEX_SETTLED: Duration = Duration::seconds(60);

/// What re-evaluating one incident would do.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// No member's triage changes.
    Unchanged,
    Changed(Box<Rebuilt>),
    /// Not re-evaluated now, and why (retried, then reported).
    Skipped(String),
}

/// An incident rebuilt under a new version, and the member records that change with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Rebuilt {
    /// The incident's next version (it records the re-evaluation even when nothing else an
    /// analyst sees changes).
    pub incident: Incident,
    pub records: Vec<Put<FindingRecord>>,
    /// Keys of the members that leave the incident.
    pub removed: BTreeSet<String>,
    /// Members this run took out before (see `left` of [`reevaluate`]).
    pub already_left: usize,
    /// What changed, for the operator and the incident's `reevaluated`.
    pub changes: Vec<String>,
}

/// Re-evaluates `incident` from its member records under `rb` at `now` (`members` may hold
/// other records too: those of its journal entries, which may have left it). `left` are keys of
/// members this run already moved out of it (written before an incident write that lost a
/// race), so their absence is expected.
pub fn reevaluate(
    incident: &Incident,
    members: &[FindingRecord],
    left: &BTreeSet<String>,
    rb: &Runbook,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Verdict {
    let records = members;
    let members: Vec<&FindingRecord> = records
        .iter()
        .filter(|r| r.incident_id.as_deref() == Some(incident.id.as_str()))
        .collect();
    // Journal entries ahead of their records: an ingest is writing this incident (or was
    // interrupted and will be retried); its states are not in the records yet.
    for j in &incident.journal.0 {
        let held = records
            .iter()
            .find(|r| r.key == j.key)
            .is_some_and(|r| r.state_rank() >= j.state_rank());
        if !held {
            return Verdict::Skipped(format!(
                "a state of member {} is not in its record yet (an ingest is writing it)",
                j.key
            ));
        }
    }
    // A re-evaluation that rewrote member records but not the incident (interrupted, or its
    // incident write lost a race): the incident must be rebuilt even if no record changes now.
    let done = incident.triage.reevaluated.as_ref().map(|r| r.at);
    let unfinished = !left.is_empty()
        || members.iter().any(|r| {
            r.reevaluated_at
                .is_some_and(|at| done.is_none_or(|d| at > d))
        });
    let expected = incident.finding_count as usize;
    let already_left = left
        .iter()
        .filter(|k| !members.iter().any(|r| &r.key == *k))
        .count();
    let found = members.len() + already_left;
    if found < expected && incident.updated_at > now - INDEX_SETTLED {
        return Verdict::Skipped(format!(
            "{found} of its {expected} member records readable (the member index is catching up)"
        ));
    }

    let mut order: Vec<&FindingRecord> = members;
    order.sort_by(|a, b| (a.event_time, &a.key).cmp(&(b.event_time, &b.key)));
    let mut staying: Vec<(NormalizedFinding, FindingRecord)> = Vec::new();
    let mut records: Vec<Put<FindingRecord>> = Vec::new();
    let mut removed: BTreeSet<String> = BTreeSet::new();
    let mut suppressed_by: BTreeMap<String, usize> = BTreeMap::new();
    for r in order {
        let mut f = match normalize_one(&r.raw, rb) {
            Ok(f) => f,
            Err(e) => {
                return Verdict::Skipped(format!("member {} no longer parses: {e}", r.finding_id))
            }
        };
        f.clamp_times(r.ingested_at + settings.clock_skew);
        f.triage(rb, now);
        let mut next = r.clone();
        next.severity = f.severity;
        if f.severity > r.severity {
            next.severity_since = now.max(r.severity_since);
        }
        next.explanation = f.explanation.clone();
        next.explanation.grouping = r.explanation.grouping.clone();
        if let Some(s) = f.suppressed_by() {
            *suppressed_by.entry(s.rule.clone()).or_default() += 1;
            next.incident_id = None;
            next.indexed = false;
            next.expires_at = Some(now + settings.finding_ttl);
            next.explanation.grouping = crate::bounds::clip(
                &format!(
                    "left incident {}: suppressed by rule {} ({}) when runbook version {} was \
                     applied to open incidents at {}",
                    incident.id,
                    s.rule,
                    s.reason,
                    rb.version,
                    now.format("%Y-%m-%dT%H:%M:%SZ")
                ),
                crate::bounds::MAX_TEXT_CHARS,
            );
            removed.insert(r.key.clone());
        }
        // The version alone does not make a change: records are rewritten only when a
        // decision about them does.
        let mut same = next.clone();
        same.explanation.runbook = r.explanation.runbook.clone();
        if same != *r {
            next.version = r.version + 1;
            next.reevaluated_at = Some(now);
            records.push(Put {
                item: next.clone(),
                expect: Expect::Version(r.version),
            });
        }
        if !removed.contains(&r.key) {
            staying.push((f, next));
        }
    }
    if records.is_empty() && found == expected && !unfinished {
        return Verdict::Unchanged;
    }

    let mut rebuilt = rebuild(incident, &staying, rb, settings, now);
    let mut changes = describe(incident, &rebuilt);
    for (rule, n) in &suppressed_by {
        changes.push(format!(
            "{n} finding{} suppressed by rule {rule}",
            if *n == 1 { "" } else { "s" }
        ));
    }
    if changes.is_empty() {
        changes.push("the decisions recorded on its findings only".into());
    }
    rebuilt.triage.reevaluated = Some(Reevaluation {
        runbook: rb.version.clone(),
        at: now,
        changes: crate::bounds::clip(&changes.join("; "), crate::bounds::MAX_TEXT_CHARS),
    });
    Verdict::Changed(Box::new(Rebuilt {
        incident: rebuilt,
        records,
        removed,
        already_left,
        changes,
    }))
}

/// The incident folded again from its staying members (in event-time order), keeping its
/// identity and bookkeeping.
fn rebuild(
    old: &Incident,
    staying: &[(NormalizedFinding, FindingRecord)],
    rb: &Runbook,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Incident {
    let mut inc = match staying.first() {
        Some((first, _)) => {
            let mut inc = Incident::open(first, rb, old.created_at, settings.incident_retention);
            for (f, rec) in staying {
                // Folded as a newcomer (so it is counted) with its own severity clock.
                let mut prev = rec.clone();
                prev.incident_id = None;
                inc.apply(Some(&prev), f, rb);
            }
            inc
        }
        None => {
            let mut inc = old.clone();
            inc.finding_count = 0;
            inc.active_finding_count = 0;
            inc.recent.clear();
            inc.triage.rules.clear();
            inc.triage.notes.clear();
            inc.triage.route = None;
            inc
        }
    };
    let keys: BTreeSet<&str> = staying.iter().map(|(f, _)| f.key.as_str()).collect();
    inc.id = old.id.clone();
    inc.correlation_key = old.correlation_key.clone();
    inc.correlation_reason = old.correlation_reason.clone();
    inc.created_at = old.created_at;
    inc.version = old.version + 1;
    inc.updated_at = now;
    inc.expires_at = old.expires_at.max(now + settings.incident_retention);
    // Staying members keep where the store finds them (listed or indexed).
    inc.members = Members(
        old.members
            .0
            .iter()
            .filter(|k| keys.contains(k.as_str()))
            .cloned()
            .collect(),
    );
    // Every journal entry is held by its record (checked before), so none is needed.
    inc.journal = Journal::default();
    inc.triage.reevaluated = old.triage.reevaluated.clone();
    // The lifecycle is the analysts': kept, except that an incident left with no active
    // finding is resolved (when the runbook resolves incidents on its own).
    inc.history = old.history.clone();
    inc.history_dropped = old.history_dropped;
    inc.acknowledged_at = old.acknowledged_at;
    inc.acknowledged_by = old.acknowledged_by.clone();
    inc.status = old.status;
    inc.escalation = old.escalation.clone();
    inc.escalation.notify.clear();
    if inc.active_finding_count == 0 && rb.lifecycle.auto_resolve && old.is_live() {
        inc.record(crate::lifecycle::Transition {
            at: now,
            from: old.status,
            to: IncidentStatus::Resolved,
            by: crate::lifecycle::BY_VIGIL.to_owned(),
            source: "runbook-apply".to_owned(),
            why: format!(
                "no active finding left under runbook version {}",
                rb.version
            ),
            reference: None,
        });
        inc.status = IncidentStatus::Resolved;
    }
    inc.escalation.next_check = crate::escalation::next_check(rb, &inc);
    inc
}

/// What an analyst sees change.
fn describe(old: &Incident, new: &Incident) -> Vec<String> {
    let mut out = Vec::new();
    let deadline = |d: Option<DateTime<Utc>>| {
        d.map_or("none".to_string(), |d| {
            d.format("%Y-%m-%dT%H:%M:%SZ").to_string()
        })
    };
    if old.finding_count != new.finding_count {
        out.push(format!(
            "findings {} -> {}",
            old.finding_count, new.finding_count
        ));
    }
    if old.severity != new.severity {
        out.push(format!("severity {} -> {}", old.severity, new.severity));
    }
    if old.response_deadline != new.response_deadline {
        out.push(format!(
            "deadline {} -> {}",
            deadline(old.response_deadline),
            deadline(new.response_deadline)
        ));
    }
    if old.environment != new.environment {
        out.push(format!(
            "environment {} -> {}",
            old.environment.as_str(),
            new.environment.as_str()
        ));
    }
    if old.owner != new.owner {
        out.push(format!(
            "owner {} -> {}",
            old.owner.as_deref().unwrap_or("none"),
            new.owner.as_deref().unwrap_or("none")
        ));
    }
    if old.triage.route != new.triage.route {
        out.push(format!(
            "route {} -> {}",
            old.triage.route.as_deref().unwrap_or("none"),
            new.triage.route.as_deref().unwrap_or("none")
        ));
    }
    if old.status != new.status {
        out.push(format!(
            "status {} -> {}",
            old.status.as_str(),
            new.status.as_str()
        ));
    }
    let added: Vec<&str> = new
        .triage
        .notes
        .iter()
        .filter(|n| !old.triage.notes.iter().any(|o| o.text == n.text))
        .map(|n| n.rule.as_str())
        .collect();
    if !added.is_empty() {
        out.push(format!("notes added by {}", added.join(", ")));
    }
    out
}

/// What a re-evaluation run did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct RetroReport {
    pub examined: usize,
    pub unchanged: usize,
    /// Incident id and what changed (or would, in a dry run).
    pub changed: Vec<(String, Vec<String>)>,
    /// Incident id and why it was not re-evaluated.
    pub skipped: Vec<(String, String)>,
    /// Finding records rewritten (in a dry run: that would be).
    pub records_written: usize,
    pub findings_removed: usize,
    pub conflicts: u64,
}

/// How often an incident that cannot be re-evaluated yet (see [`Verdict::Skipped`]) is read
/// again before it is reported.
const SKIP_ATTEMPTS: u32 = 4;

/// Re-evaluates every open incident in `store` under `rb` at `now`; with `dry_run`, only
/// reports what would change.
pub async fn reevaluate_open<S: IncidentStore + IncidentReader>(
    store: &S,
    rb: &Runbook,
    settings: &Settings,
    now: DateTime<Utc>,
    dry_run: bool,
) -> Result<RetroReport, StoreError> {
    let mut report = RetroReport::default();
    let open = store.list_incidents(true).await?;
    for listed in open {
        report.examined += 1;
        one(store, &listed.id, rb, settings, now, dry_run, &mut report).await?;
    }
    Ok(report)
}

async fn one<S: IncidentStore + IncidentReader>(
    store: &S,
    id: &str,
    rb: &Runbook,
    settings: &Settings,
    now: DateTime<Utc>,
    dry_run: bool,
    report: &mut RetroReport,
) -> Result<(), StoreError> {
    let mut left: BTreeSet<String> = BTreeSet::new();
    let mut skips = 0u32;
    for attempt in 0..settings.max_attempts {
        let Some(incident) = store.get_incidents(&[id.to_owned()]).await?.remove(id) else {
            report
                .skipped
                .push((id.to_owned(), "no longer stored".into()));
            return Ok(());
        };
        if !incident.is_live() {
            report
                .skipped
                .push((id.to_owned(), format!("now {}", incident.status.as_str())));
            return Ok(());
        }
        let mut members = store.findings_of(id).await?;
        // The records of its journal entries, members or not (one may have left it).
        let unread: Vec<String> = incident
            .journal
            .keys()
            .filter(|k| !members.iter().any(|r| r.key == *k))
            .map(str::to_owned)
            .collect();
        if !unread.is_empty() {
            members.extend(store.get_findings(&unread).await?.into_values());
        }
        match reevaluate(&incident, &members, &left, rb, settings, now) {
            Verdict::Unchanged => {
                report.unchanged += 1;
                return Ok(());
            }
            Verdict::Skipped(why) => {
                skips += 1;
                if skips >= SKIP_ATTEMPTS {
                    tracing::warn!(incident_id = %id, reason = %why, "not re-evaluated");
                    report.skipped.push((id.to_owned(), why));
                    return Ok(());
                }
                store.backoff(attempt + 3).await;
            }
            Verdict::Changed(r) if dry_run => {
                report.findings_removed += r.removed.len();
                report.records_written += r.records.len();
                report.changed.push((id.to_owned(), r.changes));
                return Ok(());
            }
            Verdict::Changed(r) => {
                // Records first, a slice at a time (as ingest bounds its writes).
                let mut lost = false;
                for chunk in r.records.chunks(settings.max_findings_per_write.max(1)) {
                    let c = ChangeSet {
                        findings: chunk.to_vec(),
                        ..Default::default()
                    };
                    // Some of a slice's puts may land even when one fails: a key in `left`
                    // that is still a member is harmless (only absent ones are counted).
                    left.extend(
                        chunk
                            .iter()
                            .filter(|p| r.removed.contains(&p.item.key))
                            .map(|p| p.item.key.clone()),
                    );
                    match store.commit(&c).await {
                        Ok(()) => report.records_written += chunk.len(),
                        Err(StoreError::Conflict { what }) => {
                            report.conflicts += 1;
                            tracing::debug!(incident_id = %id, %what, "a member changed meanwhile; re-reading");
                            lost = true;
                            break;
                        }
                        Err(StoreError::Rejected { message, .. }) => {
                            tracing::error!(incident_id = %id, error = %message, "the store rejected a re-evaluated finding record");
                            report.skipped.push((id.to_owned(), message));
                            return Ok(());
                        }
                        Err(e) => return Err(e),
                    }
                }
                if lost {
                    store.backoff(attempt).await;
                    continue;
                }
                let c = ChangeSet {
                    incidents: vec![Put {
                        item: r.incident.clone(),
                        expect: Expect::Version(incident.version),
                    }],
                    ..Default::default()
                };
                match store.commit(&c).await {
                    Ok(()) => {}
                    Err(StoreError::Conflict { what }) => {
                        report.conflicts += 1;
                        tracing::debug!(incident_id = %id, %what, "the incident changed meanwhile; rebuilding it again");
                        store.backoff(attempt).await;
                        continue;
                    }
                    Err(StoreError::Rejected { message, .. }) => {
                        tracing::error!(incident_id = %id, error = %message, "the store rejected the re-evaluated incident");
                        report.skipped.push((id.to_owned(), message));
                        return Ok(());
                    }
                    Err(e) => return Err(e),
                }
                tracing::info!(incident_id = %id, runbook = %rb.version,
                    changes = %r.changes.join("; "), "re-evaluated under the new runbook version");
                report.findings_removed += r.removed.len() + r.already_left;
                report.changed.push((id.to_owned(), r.changes));
                return Ok(());
            }
        }
    }
    report.skipped.push((
        id.to_owned(),
        format!(
            "gave up after {} conflicting concurrent writes",
            settings.max_attempts
        ),
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asff::SeverityLabel;
    use crate::ports::MemoryStore;
    use crate::runbook::Environment;
    use crate::testing::{at_minutes, Asff};
    use crate::{ingest_values, Outcome};
    use proptest::prelude::*;
    use serde_json::{json, Value};
    use std::sync::Arc;

    const ACCOUNTS: &str = r#"
accounts:
  "111111111111": { environment: production }
"#;

    const NEW: &str = r#"
accounts:
  "111111111111": { environment: production }
ip_lists:
  scanners: ["198.51.100.0/24"]
routes:
  pager: { description: the on-call pager }
rules:
  - id: scanner
    description: scanner probes
    owner: o
    created: 2026-11-01
    match: { finding_type: "Recon:EC2/PortProbe*", remote_ip: scanners }
    actions: { suppress: true }
    reason: authorised scan
  - id: ssh-high
    description: SSH brute force in production is HIGH
    owner: o
    created: 2026-11-01
    match: { finding_type: "UnauthorizedAccess:EC2/SSHBruteForce", environment: production }
    actions: { set_severity: HIGH, route: pager, note: "Check the instance's security group" }
    reason: production exposure
"#;

    fn old() -> Runbook {
        Runbook::from_yaml(ACCOUNTS, "old").unwrap()
    }
    fn new() -> Runbook {
        Runbook::from_yaml(NEW, "new").unwrap()
    }
    /// Deliveries at minute 30; the re-evaluation at minute 40.
    fn delivered() -> DateTime<Utc> {
        at_minutes(30)
    }
    fn applied() -> DateTime<Utc> {
        at_minutes(40)
    }

    fn probe(id: &str, ip: &str, at: i64) -> Value {
        Asff::guardduty(id)
            .instance("i-9")
            .severity("LOW")
            .set(
                "ProductFields",
                json!({
                    "aws/guardduty/service/additionalInfo/type": "Recon:EC2/PortProbeUnprotectedPort",
                    "aws/guardduty/service/action/portProbeAction/portProbeDetails.0_/remoteIpDetails/ipAddressV4": ip
                }),
            )
            .types(&["TTPs/Discovery/Recon:EC2-PortProbeUnprotectedPort"])
            .times(at_minutes(at), at_minutes(at))
            .json()
    }

    fn ssh(id: &str, at: i64) -> Value {
        Asff::guardduty(id)
            .instance("i-9")
            .severity("MEDIUM")
            .times(at_minutes(at), at_minutes(at))
            .json()
    }

    fn block<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    async fn deliver(s: &MemoryStore, rb: &Runbook, values: &[Value]) -> crate::BatchReport {
        ingest_values(s, rb, &Settings::default(), values, delivered())
            .await
            .unwrap()
    }

    async fn apply(s: &MemoryStore, dry_run: bool) -> RetroReport {
        reevaluate_open(s, &new(), &Settings::default(), applied(), dry_run)
            .await
            .unwrap()
    }

    fn mixed() -> Vec<Value> {
        vec![
            probe("p1", "198.51.100.9", 0),
            probe("p2", "203.0.113.5", 1),
            ssh("s1", 2),
        ]
    }

    fn record<'a>(s: &'a [FindingRecord], id: &str) -> &'a FindingRecord {
        s.iter().find(|r| r.finding_id.ends_with(id)).unwrap()
    }

    /// Each incident counts exactly the records that name it.
    fn consistent(s: &MemoryStore) {
        let records = s.finding_records();
        for i in s.incidents() {
            let members: Vec<&FindingRecord> = records
                .iter()
                .filter(|r| r.incident_id.as_deref() == Some(i.id.as_str()))
                .collect();
            assert_eq!(i.finding_count as usize, members.len(), "{i:#?}");
            let active = members.iter().filter(|r| r.is_active()).count();
            assert_eq!(i.active_finding_count as usize, active, "{}", i.id);
            assert!(
                members.iter().all(|r| r.suppressed_by().is_none()),
                "a suppressed finding in {}",
                i.id
            );
        }
    }

    #[test]
    fn a_new_suppress_rule_takes_its_findings_out_of_open_incidents_and_a_rerun_changes_nothing() {
        block(async {
            let s = MemoryStore::new();
            deliver(&s, &old(), &mixed()).await;
            assert_eq!(s.incidents()[0].finding_count, 3);
            let commits = s.commits();

            let dry = apply(&s, true).await;
            assert_eq!((dry.examined, dry.changed.len()), (1, 1));
            assert_eq!(dry.findings_removed, 1);
            assert_eq!(s.commits(), commits, "a dry run writes nothing");

            let r = apply(&s, false).await;
            assert_eq!((r.changed.len(), r.findings_removed), (1, 1), "{r:?}");
            let inc = &s.incidents()[0];
            assert_eq!((inc.finding_count, inc.active_finding_count), (2, 2));
            assert_eq!(inc.severity, SeverityLabel::High);
            assert_eq!(inc.triage.route.as_deref(), Some("pager"));
            assert!(inc.triage.rules.contains("ssh-high"));
            assert!(!inc.triage.rules.contains("scanner"));
            assert_eq!(inc.triage.notes.len(), 1);
            let re = inc.triage.reevaluated.as_ref().unwrap();
            assert_eq!(
                (re.runbook.as_str(), re.at),
                (new().version.as_str(), applied())
            );
            assert!(
                re.changes.contains("severity MEDIUM -> HIGH"),
                "{}",
                re.changes
            );
            assert!(re.changes.contains("1 finding suppressed by rule scanner"));
            assert!(re.changes.contains("findings 3 -> 2"));

            let records = s.finding_records();
            let p1 = record(&records, "p1");
            assert_eq!(p1.incident_id, None);
            assert_eq!(p1.suppressed_by(), Some("scanner"));
            assert!(p1
                .explanation
                .grouping
                .starts_with(&format!("left incident {}", inc.id)));
            assert_eq!(p1.explanation.runbook, new().version);
            assert!(
                p1.expires_at.is_some(),
                "out of its incident, it expires again"
            );
            let s1 = record(&records, "s1");
            assert_eq!(s1.severity, SeverityLabel::High);
            assert_eq!(s1.reevaluated_at, Some(applied()));
            // p2 is not a scanner's: no decision about it changed, so it is not rewritten.
            assert_eq!(record(&records, "p2").version, 1);
            consistent(&s);

            // Again: nothing to do, nothing written.
            let commits = s.commits();
            let again = apply(&s, false).await;
            assert_eq!((again.unchanged, again.changed.len()), (1, 0), "{again:?}");
            assert_eq!(s.commits(), commits);

            // The suppressed finding's next state, delivered under the new version, stays out.
            let mut next = probe("p1", "198.51.100.9", 0);
            next["UpdatedAt"] = json!(crate::testing::ts(at_minutes(20)));
            let r = ingest_values(&s, &new(), &Settings::default(), &[next], applied())
                .await
                .unwrap();
            assert!(
                matches!(r.outcomes[0].outcome, Outcome::Suppressed { .. }),
                "{r:?}"
            );
            assert_eq!(s.incidents()[0].finding_count, 2);
            consistent(&s);
        });
    }

    #[test]
    fn an_unchanged_runbook_changes_nothing() {
        block(async {
            let s = MemoryStore::new();
            deliver(&s, &new(), &mixed()).await;
            let before = s.incidents();
            let commits = s.commits();
            let r = apply(&s, false).await;
            assert_eq!((r.examined, r.unchanged), (1, 1), "{r:?}");
            assert_eq!(s.commits(), commits);
            assert_eq!(s.incidents(), before);
        });
    }

    #[test]
    fn an_incident_whose_every_finding_is_suppressed_is_resolved() {
        block(async {
            let s = MemoryStore::new();
            deliver(&s, &old(), &[probe("p1", "198.51.100.9", 0)]).await;
            let r = apply(&s, false).await;
            assert_eq!(r.changed.len(), 1);
            let inc = &s.incidents()[0];
            assert_eq!(inc.status, IncidentStatus::Resolved);
            assert_eq!((inc.finding_count, inc.active_finding_count), (0, 0));
            assert!(inc
                .triage
                .reevaluated
                .as_ref()
                .unwrap()
                .changes
                .contains("status OPEN -> RESOLVED"));
            consistent(&s);
            // Resolved: not open any more, so not examined again.
            assert_eq!(apply(&s, false).await.examined, 0);
        });
    }

    #[test]
    fn a_raised_severity_starts_its_clock_when_applied() {
        block(async {
            let s = MemoryStore::new();
            deliver(&s, &old(), &[ssh("s1", 0)]).await;
            let before = s.incidents()[0].response_deadline.unwrap();
            apply(&s, false).await;
            let inc = &s.incidents()[0];
            let target = new()
                .deadline_for(Environment::Production, SeverityLabel::High)
                .unwrap();
            assert_eq!(inc.response_deadline, Some(applied() + target));
            assert!(
                inc.response_deadline.unwrap() < before,
                "HIGH is due before MEDIUM was"
            );
            assert!(inc
                .triage
                .reevaluated
                .as_ref()
                .unwrap()
                .changes
                .contains("deadline"));
        });
    }

    #[test]
    fn a_member_index_still_catching_up_is_waited_for_then_reported() {
        let rb = new();
        let s = Settings::default();
        let v = mixed();
        let texts: Vec<String> = v.iter().map(Value::to_string).collect();
        let store = MemoryStore::new();
        block(async {
            let raws: Vec<&str> = texts.iter().map(String::as_str).collect();
            crate::ingest_raw(&store, &old(), &s, &raws, delivered())
                .await
                .unwrap();
        });
        let mut inc = store.incidents().remove(0);
        // Long settled: the next write of the incident pruned its journal.
        inc.journal = Journal::default();
        let mut members = store.finding_records();
        members.pop();
        // Just written: the missing member is taken for index lag.
        let v = reevaluate(&inc, &members, &BTreeSet::new(), &rb, &s, delivered());
        assert!(
            matches!(&v, Verdict::Skipped(why) if why.contains("2 of its 3")),
            "{v:?}"
        );
        // Long after: believed, and the count corrected by the rebuild.
        let v = reevaluate(&inc, &members, &BTreeSet::new(), &rb, &s, applied());
        let Verdict::Changed(r) = v else {
            panic!("{v:?}")
        };
        assert!(r.incident.finding_count < 3);
    }

    #[test]
    fn concurrent_deliveries_during_a_reevaluation_keep_every_count_exact() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .build()
            .unwrap();
        rt.block_on(async {
            for round in 0..20 {
                let s = Arc::new(MemoryStore::new());
                deliver(&s, &old(), &mixed()).await;
                let mut tasks = Vec::new();
                for n in 0..4 {
                    let s = s.clone();
                    tasks.push(tokio::spawn(async move {
                        let ip = if n % 2 == 0 {
                            "198.51.100.7"
                        } else {
                            "192.0.2.1"
                        };
                        let f = probe(&format!("q{round}-{n}"), ip, 3 + n);
                        ingest_values(&*s, &new(), &Settings::default(), &[f], applied())
                            .await
                            .unwrap();
                    }));
                }
                let s2 = s.clone();
                tasks.push(tokio::spawn(async move {
                    reevaluate_open(&*s2, &new(), &Settings::default(), applied(), false)
                        .await
                        .unwrap();
                }));
                for t in tasks {
                    t.await.unwrap();
                }
                // Whatever the interleaving, a last run leaves every count exact.
                let r = reevaluate_open(&*s, &new(), &Settings::default(), applied(), false)
                    .await
                    .unwrap();
                assert!(r.skipped.is_empty(), "{r:?}");
                consistent(&s);
                let inc = &s.incidents()[0];
                // p2, s1 and the two non-scanner probes.
                assert_eq!(inc.finding_count, 4, "round {round}: {inc:#?}");
            }
        });
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// A run interrupted after any number of writes, then run again, ends where an
        /// uninterrupted run does.
        #[test]
        fn an_interrupted_run_is_finished_by_the_next(puts in 0u64..6, extra in 0usize..4) {
            block(async {
                let mut values = mixed();
                for n in 0..extra {
                    values.push(probe(&format!("x{n}"), "198.51.100.20", 5 + n as i64));
                }
                let reference = MemoryStore::new();
                deliver(&reference, &old(), &values).await;
                apply(&reference, false).await;

                let s = MemoryStore::new();
                deliver(&s, &old(), &values).await;
                s.interrupt_after(puts);
                let _ = reevaluate_open(&s, &new(), &Settings::default(), applied(), false).await;
                apply(&s, false).await;
                consistent(&s);
                let (a, b) = (&reference.incidents()[0], &s.incidents()[0]);
                assert_eq!(
                    (a.finding_count, a.severity, a.response_deadline, a.status, &a.triage.route),
                    (b.finding_count, b.severity, b.response_deadline, b.status, &b.triage.route)
                );
                let again = apply(&s, false).await;
                assert_eq!(again.changed.len(), 0, "{again:?}");
            });
        }
    }
}

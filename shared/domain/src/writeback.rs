//! Security Hub write-back, without I/O: what Vigil writes on the findings of an incident
//! (`BatchUpdateFindings`: workflow status, a note, a user-defined field naming the incident),
//! and how ingest recognises the `Security Hub Findings - Imported` events that Vigil's own
//! writes cause, so that they change nothing (loop-free).
//!
//! Every `BatchUpdateFindings` request makes Security Hub emit an Imported event for each
//! finding, and nothing in the event's envelope tells a customer's update from a provider's.
//! Vigil's writes are marked: `Note.UpdatedBy` is [`UPDATED_BY`] and `Note.Text` starts with
//! `[Vigil <STATUS>]`, naming the workflow status Vigil set. An event whose finding carries that
//! mark with that status, and the stored provider state (`UpdatedAt`, `RecordState`, severity;
//! `BatchUpdateFindings` changes none of them), is Vigil's echo: a duplicate. An analyst's own
//! change still counts: a new workflow status without a new note no longer matches the note's
//! status, and a new note is not Vigil's.

use chrono::{DateTime, Utc};

use crate::asff::{RecordState, SeverityLabel, WorkflowStatus};
use crate::finding::{FindingRecord, NormalizedFinding};
use crate::incident::IncidentStatus;

/// `Note.UpdatedBy` of Vigil's writes.
pub const UPDATED_BY: &str = "vigil";
/// The `UserDefinedFields` key naming the incident (its value is the incident id).
pub const INCIDENT_FIELD: &str = "vigil_incident";
/// `Note.Text` is at most 512 characters.
pub const MAX_NOTE: usize = 512;
/// Findings per `BatchUpdateFindings` request.
pub const MAX_BATCH: usize = 100;

/// How Vigil's note for a workflow status begins.
pub fn note_prefix(w: WorkflowStatus) -> String {
    format!("[Vigil {}]", w.as_str())
}

/// Vigil's note: the status it sets, then `detail` (clipped to the API's limit).
pub fn note(w: WorkflowStatus, detail: &str) -> String {
    crate::bounds::clip(&format!("{} {detail}", note_prefix(w)), MAX_NOTE)
}

/// Whether the finding carries Vigil's note for the workflow status it has.
pub fn has_vigil_note(f: &NormalizedFinding) -> bool {
    f.finding.note.as_ref().is_some_and(|n| {
        n.updated_by.as_deref() == Some(UPDATED_BY)
            && n.text
                .as_deref()
                .is_some_and(|t| t.starts_with(&note_prefix(f.finding.workflow_status())))
    })
}

/// How long after Vigil's note Security Hub may still be processing the write (applying a
/// batch "can take several minutes"): an event later than this is someone else's change.
pub const ECHO_WINDOW: chrono::Duration = chrono::Duration::minutes(15);

/// The statuses Vigil writes `to` from: it sets `NOTIFIED` on `NEW` findings, `RESOLVED` and
/// `SUPPRESSED` on `NEW` or `NOTIFIED` ones.
fn written_from(to: WorkflowStatus, from: WorkflowStatus) -> bool {
    match to {
        WorkflowStatus::Notified => from == WorkflowStatus::New,
        WorkflowStatus::Resolved | WorkflowStatus::Suppressed => {
            matches!(from, WorkflowStatus::New | WorkflowStatus::Notified)
        }
        WorkflowStatus::New => false,
    }
}

/// Whether `f` is the echo of Vigil's own write on the finding stored as `r` (see the module):
/// Vigil's note for the status it has, a status Vigil writes from the stored one, the stored
/// provider state, and the event within [`ECHO_WINDOW`] of the note. An analyst who sets the
/// status back (the stored status is then one Vigil does not write from), or sets it later
/// without a note (the event comes long after the note), is not an echo.
pub fn is_echo(f: &NormalizedFinding, r: &FindingRecord) -> bool {
    let fresh = match (
        f.finding.note.as_ref().and_then(|n| n.updated_at),
        f.finding.processed_at,
    ) {
        (Some(noted), Some(processed)) => processed - noted <= ECHO_WINDOW,
        _ => true,
    };
    has_vigil_note(f)
        && fresh
        && written_from(f.finding.workflow_status(), r.workflow_status)
        && f.finding.updated_at == r.updated_at
        && f.finding.record_state() == r.record_state
        && f.severity == r.severity
}

/// What a write-back sets on some findings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    pub workflow: WorkflowStatus,
    pub note: String,
    /// (`Id`, `ProductArn`) of each finding, at most [`MAX_BATCH`] per request.
    pub findings: Vec<(String, String)>,
    /// `UserDefinedFields` entries.
    pub fields: Vec<(String, String)>,
}

/// An incident version as the write-back sees it.
#[derive(Debug, Clone, Copy)]
pub struct Version<'a> {
    pub incident_id: &'a str,
    pub status: IncidentStatus,
    pub severity: SeverityLabel,
    pub deadline: Option<DateTime<Utc>>,
    /// When this version was written (its findings written with it carry the same time).
    pub updated_at: DateTime<Utc>,
    /// It opened, or its status changed (every member is written again).
    pub all_members: bool,
    /// Why it was closed, for the note.
    pub why: Option<&'a str>,
}

/// How long after a version its findings' records may be written (an ingest that retried).
pub const WRITTEN_WITH: chrono::Duration = chrono::Duration::seconds(90);

/// The updates of version `v` over the incident's member records: live incidents' active
/// findings still `NEW` become `NOTIFIED` (those written with this version, or all on opening
/// and on a change of status), a resolved incident's findings `NEW` or `NOTIFIED` become
/// `RESOLVED`, a suppressed incident's `SUPPRESSED`. Findings an analyst set otherwise are left
/// alone. Batched by [`MAX_BATCH`].
pub fn updates(v: &Version, members: &[FindingRecord]) -> Vec<Update> {
    let (workflow, detail) = match v.status {
        IncidentStatus::Open | IncidentStatus::Acknowledged => (
            WorkflowStatus::Notified,
            match v.deadline {
                Some(d) => format!(
                    "in incident {} ({}, respond by {})",
                    v.incident_id,
                    v.severity,
                    d.format("%Y-%m-%dT%H:%M:%SZ")
                ),
                None => format!("in incident {} ({})", v.incident_id, v.severity),
            },
        ),
        IncidentStatus::Resolved => (
            WorkflowStatus::Resolved,
            format!(
                "incident {} resolved{}",
                v.incident_id,
                v.why.map(|w| format!(": {w}")).unwrap_or_default()
            ),
        ),
        IncidentStatus::Suppressed => (
            WorkflowStatus::Suppressed,
            format!(
                "incident {} suppressed{}",
                v.incident_id,
                v.why.map(|w| format!(": {w}")).unwrap_or_default()
            ),
        ),
    };
    let wanted = |r: &&FindingRecord| match workflow {
        WorkflowStatus::Notified => {
            r.workflow_status == WorkflowStatus::New
                && r.record_state == RecordState::Active
                && (v.all_members
                    || (r.ingested_at >= v.updated_at
                        && r.ingested_at <= v.updated_at + WRITTEN_WITH))
        }
        _ => {
            matches!(
                r.workflow_status,
                WorkflowStatus::New | WorkflowStatus::Notified
            ) && v.all_members
        }
    };
    let mut ids: Vec<(String, String)> = members
        .iter()
        .filter(|r| r.incident_id.as_deref() == Some(v.incident_id))
        .filter(wanted)
        .map(|r| (r.finding_id.clone(), r.product_arn.clone()))
        .collect();
    ids.sort();
    ids.dedup();
    ids.chunks(MAX_BATCH)
        .map(|c| Update {
            workflow,
            note: note(workflow, &detail),
            findings: c.to_vec(),
            fields: vec![(INCIDENT_FIELD.to_owned(), v.incident_id.to_owned())],
        })
        .collect()
}

/// Whether the finding's record asks for a `SUPPRESSED` write-back: a runbook rule suppressed
/// it (so it is in no incident), it is active, and its status is still `NEW` (an analyst's
/// status is left alone; once Security Hub has it suppressed, the provider's next update
/// carries `SUPPRESSED` and this is false).
pub fn wants_suppression(r: &FindingRecord) -> bool {
    r.incident_id.is_none()
        && r.record_state == RecordState::Active
        && r.workflow_status == WorkflowStatus::New
        && r.explanation.decisions.suppressed.is_some()
}

/// The update of a finding a runbook rule suppressed (in no incident).
pub fn suppressed_by_rule(r: &FindingRecord, rule: &str, reason: &str) -> Update {
    Update {
        workflow: WorkflowStatus::Suppressed,
        note: note(
            WorkflowStatus::Suppressed,
            &format!("runbook rule {rule}: {reason}"),
        ),
        findings: vec![(r.finding_id.clone(), r.product_arn.clone())],
        fields: vec![("vigil_rule".to_owned(), crate::bounds::clip(rule, 1024))],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{normalized, Asff};
    use serde_json::json;

    fn record(v: &serde_json::Value, incident: &str, at: DateTime<Utc>) -> FindingRecord {
        let f = normalized(v);
        FindingRecord::of(
            &f,
            None,
            Some(incident.to_owned()),
            at,
            chrono::Duration::days(1),
        )
    }

    #[test]
    fn vigil_s_echo_is_recognised_and_an_analyst_s_change_is_not() {
        let base = Asff::guardduty("f").json();
        let r = record(&base, "inc-1", Utc::now());
        let mut echo = base.clone();
        echo["Workflow"] = json!({"Status": "NOTIFIED"});
        echo["Note"] = json!({"Text": note(WorkflowStatus::Notified, "in incident inc-1"), "UpdatedBy": UPDATED_BY});
        echo["ProcessedAt"] = json!("2030-01-01T00:00:00Z");
        assert!(is_echo(&normalized(&echo), &r));
        // The analyst resolves it in the console; Vigil's note is still there.
        let mut analyst = echo.clone();
        analyst["Workflow"] = json!({"Status": "RESOLVED"});
        assert!(!is_echo(&normalized(&analyst), &r));
        // An analyst who resolved it (stored RESOLVED) sets it back to NOTIFIED: Vigil's old
        // note matches the status, but Vigil never writes NOTIFIED over RESOLVED.
        let mut resolved = r.clone();
        resolved.workflow_status = WorkflowStatus::Resolved;
        assert!(!is_echo(&normalized(&echo), &resolved));
        // A status set long after Vigil's note is someone else's.
        let mut late = echo.clone();
        late["Note"]["UpdatedAt"] = json!("2029-12-01T00:00:00Z");
        assert!(!is_echo(&normalized(&late), &r));
        let mut prompt = echo.clone();
        prompt["Note"]["UpdatedAt"] = json!("2029-12-31T23:58:00Z");
        assert!(is_echo(&normalized(&prompt), &r));
        // The analyst writes a note.
        let mut noted = echo.clone();
        noted["Note"] = json!({"Text": "[Vigil NOTIFIED] looks fine", "UpdatedBy": "arn:aws:iam::1:user/alice"});
        assert!(!is_echo(&normalized(&noted), &r));
        // The provider updates the finding (a new UpdatedAt): it counts.
        let mut provider = echo.clone();
        provider["UpdatedAt"] = json!("2030-01-01T00:00:00Z");
        assert!(!is_echo(&normalized(&provider), &r));
    }

    #[test]
    fn updates_pick_the_findings_each_status_writes_in_batches_of_100() {
        let at = Utc::now();
        let members: Vec<FindingRecord> = (0..250)
            .map(|i| record(&Asff::guardduty(&format!("f{i}")).json(), "inc-1", at))
            .collect();
        let v = Version {
            incident_id: "inc-1",
            status: IncidentStatus::Open,
            severity: SeverityLabel::High,
            deadline: Some(at),
            updated_at: at,
            all_members: true,
            why: None,
        };
        let u = updates(&v, &members);
        assert_eq!(
            u.iter().map(|u| u.findings.len()).collect::<Vec<_>>(),
            [100, 100, 50]
        );
        assert!(u[0]
            .note
            .starts_with("[Vigil NOTIFIED] in incident inc-1 (HIGH, respond by "));
        assert_eq!(
            u[0].fields,
            [(INCIDENT_FIELD.to_owned(), "inc-1".to_owned())]
        );
        // A later version writes only the findings written with it.
        let later = Version {
            updated_at: at + chrono::Duration::hours(1),
            all_members: false,
            ..v
        };
        assert!(updates(&later, &members).is_empty());
        let mut joined = members.clone();
        joined.push(record(
            &Asff::guardduty("new").json(),
            "inc-1",
            later.updated_at,
        ));
        let u = updates(&later, &joined);
        assert_eq!(u.len(), 1);
        assert_eq!(u[0].findings.len(), 1);
        // Resolved: NEW and NOTIFIED findings; an analyst's SUPPRESSED stays.
        let mut closed = members.clone();
        closed[0].workflow_status = WorkflowStatus::Suppressed;
        closed[1].workflow_status = WorkflowStatus::Notified;
        let r = Version {
            status: IncidentStatus::Resolved,
            why: Some("all findings archived"),
            ..v
        };
        let u = updates(&r, &closed);
        assert_eq!(u.iter().map(|u| u.findings.len()).sum::<usize>(), 249);
        assert_eq!(u[0].workflow, WorkflowStatus::Resolved);
        assert!(u[0].note.chars().count() <= MAX_NOTE);
        assert!(u[0].note.ends_with("resolved: all findings archived"));
    }
}

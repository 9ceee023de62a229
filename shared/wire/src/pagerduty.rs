//! PagerDuty Events API v2: which incident versions page, and the event each sends. The
//! incident id is the `dedup_key`, so PagerDuty's alert follows Vigil's incident: `trigger`
//! when it opens (or reopens, or its severity changes while open), `acknowledge` when an
//! analyst acknowledges it, `resolve` when it is resolved or suppressed; an escalation step to
//! one of the sink's routes triggers again (PagerDuty adds it to the open alert, or opens one
//! for an incident below `min_severity`). Other versions (a
//! finding joining, a moved deadline) send nothing: PagerDuty pages people, not logs.

use serde::Serialize;
use vigil_domain::asff::SeverityLabel;
use vigil_domain::IncidentStatus;

use crate::payload::{ChangeKind, IncidentPayload};
use crate::sinks::PagerDutySink;

/// PagerDuty's limits: `summary` 1024 characters, `dedup_key` 255.
const MAX_SUMMARY: usize = 1024;
const MAX_DEDUP_KEY: usize = 255;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PdEvent {
    pub routing_key: String,
    pub event_action: &'static str,
    pub dedup_key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<PdPayload>,
    pub client: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<PdLink>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PdPayload {
    pub summary: String,
    pub source: String,
    pub severity: &'static str,
    pub timestamp: String,
    pub component: String,
    pub group: String,
    pub class: String,
    pub custom_details: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PdLink {
    pub href: String,
    pub text: String,
}

/// PagerDuty's severity for a Vigil severity.
pub fn severity(s: SeverityLabel) -> &'static str {
    match s {
        SeverityLabel::Critical => "critical",
        SeverityLabel::High => "error",
        SeverityLabel::Medium => "warning",
        SeverityLabel::Low | SeverityLabel::Informational => "info",
    }
}

/// Whether an escalation step of this version notifies one of the sink's routes (any route
/// when the sink names none).
pub fn notified(sink: &PagerDutySink, p: &IncidentPayload) -> bool {
    sink.selection().notified(p)
}

/// Whether the sink's filters select the incident (severity, routes, environments). An
/// escalation step to one of its routes selects it whatever its severity.
pub fn selects(sink: &PagerDutySink, p: &IncidentPayload) -> bool {
    sink.selection().selects(p)
}

/// The Security Hub console's link to a finding, when its id is an ARN naming the Region.
pub fn console_link(finding_id: &str) -> Option<String> {
    let region = finding_id.strip_prefix("arn:")?.split(':').nth(2)?;
    if region.is_empty()
        || !region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return None;
    }
    let enc: String = finding_id
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%25{b:02X}"),
        })
        .collect();
    Some(format!(
        "https://{region}.console.aws.amazon.com/securityhub/home?region={region}#/findings?search=Id%3D%255Coperator%255C%253AEQUALS%255C%253A{enc}"
    ))
}

/// The event for version `p`, or `None` when this version pages nobody.
pub fn event(sink: &PagerDutySink, routing_key: &str, p: &IncidentPayload) -> Option<PdEvent> {
    // Digests and what they roll up are never paged; a campaign member's raise is paged
    // through its campaign (its own alert is still reopened, acknowledged and resolved, and an
    // escalation step the campaign runs through it pages).
    if p.never_paged() {
        return None;
    }
    let in_campaign = p.in_campaign();
    let status_changed = p.change.changed.iter().any(|c| c == "status");
    let severity_changed = p.change.changed.iter().any(|c| c == "severity");
    let opened = p.change.kind == ChangeKind::Opened;
    let resync = p.change.kind == ChangeKind::Resync;
    let action = match p.status {
        IncidentStatus::Open
            if selects(sink, p)
                && (opened
                    || resync
                    || status_changed
                    || (severity_changed && !in_campaign)
                    || notified(sink, p)) =>
        {
            "trigger"
        }
        IncidentStatus::Acknowledged if selects(sink, p) && (status_changed || resync) => {
            "acknowledge"
        }
        // Resolving an alert that was never triggered is harmless; never leave one open.
        IncidentStatus::Resolved | IncidentStatus::Suppressed if status_changed || resync => {
            "resolve"
        }
        _ => return None,
    };
    let dedup_key = vigil_domain::bounds::clip(&p.incident_id, MAX_DEDUP_KEY);
    let mut links = Vec::new();
    if let Some(href) = console_link(&p.lead_finding_id) {
        links.push(PdLink {
            href,
            text: "Lead finding in Security Hub".into(),
        });
    }
    if let Some(u) = &p.remediation_url {
        links.push(PdLink {
            href: u.clone(),
            text: "Remediation".into(),
        });
    }
    let payload = (action == "trigger").then(|| PdPayload {
        summary: vigil_domain::bounds::clip(
            &format!(
                "[{}] {} ({} in {}, {} finding{})",
                p.severity,
                p.title,
                p.account_name.as_deref().unwrap_or(&p.account_id),
                p.environment,
                p.finding_count,
                if p.finding_count == 1 { "" } else { "s" }
            ),
            MAX_SUMMARY,
        ),
        source: p.entity.clone(),
        severity: severity(p.severity),
        timestamp: p.last_seen.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        component: p.account_id.clone(),
        group: p.environment.clone(),
        class: p.lead_finding_type.clone(),
        custom_details: serde_json::json!({
            "incident_id": p.incident_id,
            "kind": p.kind,
            "campaign_id": p.campaign_id,
            "incident_ids": p.incident_ids,
            "version": p.version,
            "severity": p.severity,
            "environment": p.environment,
            "account": p.account_name.as_ref().map_or_else(|| p.account_id.clone(), |n| format!("{} ({n})", p.account_id)),
            "owner": p.owner,
            "entity": p.entity,
            "response_deadline": p.response_deadline,
            "finding_count": p.finding_count,
            "finding_types": p.finding_types,
            "tactics": p.tactics,
            "top_findings": p.top_findings.iter().take(5).map(|f| format!("{} {}", f.severity, f.title)).collect::<Vec<_>>(),
            "remediation": p.remediation,
            "route": p.explanation.route,
            "notes": p.explanation.notes.iter().map(|n| n.text.clone()).collect::<Vec<_>>(),
        }),
    });
    Some(PdEvent {
        routing_key: routing_key.to_owned(),
        event_action: action,
        dedup_key,
        payload,
        client: "Vigil",
        links: if action == "trigger" {
            links
        } else {
            Vec::new()
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::{Change, IncidentPayload};
    use vigil_domain::testing::incident;

    fn sink(yaml: &str) -> PagerDutySink {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    fn version(status: IncidentStatus, kind: ChangeKind, changed: &[&str]) -> IncidentPayload {
        let mut i = incident(
            "arn:aws:guardduty:eu-west-1:111111111111:detector/d/finding/f",
            "Root credential use",
            2,
        );
        i.status = status;
        i.severity = SeverityLabel::High;
        IncidentPayload::new(
            &i,
            Change {
                kind,
                changed: changed.iter().map(|s| (*s).to_owned()).collect(),
            },
        )
    }

    #[test]
    fn the_alert_follows_the_incident_and_other_versions_page_nobody() {
        let s = sink("{name: pd, routing_key: {env: PD_KEY}}");
        let key = "0123456789abcdef0123456789abcdef";
        let opened = version(IncidentStatus::Open, ChangeKind::Opened, &[]);
        let e = event(&s, key, &opened).unwrap();
        assert_eq!(
            (e.event_action, e.dedup_key.as_str()),
            ("trigger", opened.incident_id.as_str())
        );
        let p = e.payload.as_ref().unwrap();
        assert_eq!(p.severity, "error");
        assert!(
            p.summary.starts_with("[HIGH] Root credential use"),
            "{}",
            p.summary
        );
        assert!(e.links[0]
            .href
            .starts_with("https://eu-west-1.console.aws.amazon.com/securityhub/"));
        let ack = version(
            IncidentStatus::Acknowledged,
            ChangeKind::StatusChanged,
            &["status"],
        );
        let e = event(&s, key, &ack).unwrap();
        assert_eq!(e.event_action, "acknowledge");
        assert!(e.payload.is_none());
        let grew = version(
            IncidentStatus::Acknowledged,
            ChangeKind::Updated,
            &["finding_count"],
        );
        assert_eq!(event(&s, key, &grew), None);
        let resolved = version(
            IncidentStatus::Suppressed,
            ChangeKind::StatusChanged,
            &["status"],
        );
        assert_eq!(event(&s, key, &resolved).unwrap().event_action, "resolve");
        let raised = version(IncidentStatus::Open, ChangeKind::Updated, &["severity"]);
        assert_eq!(event(&s, key, &raised).unwrap().event_action, "trigger");
    }

    #[test]
    fn digests_never_page_and_a_campaign_member_pages_through_its_campaign() {
        let s = sink("{name: pd, routing_key: {env: PD_KEY}, min_severity: INFORMATIONAL}");
        let key = "0123456789abcdef0123456789abcdef";
        let mut low = version(IncidentStatus::Open, ChangeKind::Opened, &[]);
        low.digest_id = Some("DIG-1".into());
        assert_eq!(event(&s, key, &low), None);
        let mut digest = version(IncidentStatus::Open, ChangeKind::Opened, &[]);
        digest.kind = crate::payload::Kind::Digest;
        assert_eq!(event(&s, key, &digest), None);
        let mut member = version(IncidentStatus::Open, ChangeKind::Updated, &["severity"]);
        member.campaign_id = Some("CMP-1".into());
        assert_eq!(
            event(&s, key, &member),
            None,
            "the campaign is raised instead"
        );
        member.notify = vec!["pager".into()];
        assert_eq!(event(&s, key, &member).unwrap().event_action, "trigger");
        let mut resolved = version(
            IncidentStatus::Resolved,
            ChangeKind::StatusChanged,
            &["status"],
        );
        resolved.campaign_id = Some("CMP-1".into());
        assert_eq!(event(&s, key, &resolved).unwrap().event_action, "resolve");
        let mut campaign = version(IncidentStatus::Open, ChangeKind::Opened, &[]);
        campaign.kind = crate::payload::Kind::Campaign;
        campaign.incident_id = "CMP-1".into();
        let e = event(&s, key, &campaign).unwrap();
        assert_eq!((e.event_action, e.dedup_key.as_str()), ("trigger", "CMP-1"));
    }

    #[test]
    fn filters_select_by_severity_route_and_environment() {
        let opened = version(IncidentStatus::Open, ChangeKind::Opened, &[]);
        let strict = sink("{name: pd, routing_key: {env: K}, min_severity: CRITICAL}");
        assert_eq!(event(&strict, "k", &opened), None);
        let routed = sink("{name: pd, routing_key: {env: K}, routes: [secops-pager]}");
        assert_eq!(event(&routed, "k", &opened), None);
        let mut on_route = opened.clone();
        on_route.explanation.route = Some("secops-pager".into());
        assert!(event(&routed, "k", &on_route).is_some());
        let prod = sink("{name: pd, routing_key: {env: K}, environments: [production]}");
        assert_eq!(
            event(&prod, "k", &opened).is_some(),
            opened.environment == "production"
        );
    }
}

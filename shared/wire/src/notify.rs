//! Notifications to people (Slack, Microsoft Teams, Amazon SNS): which incident versions notify,
//! what a notice says, and each channel's message. PagerDuty has its own rules
//! ([`crate::pagerduty`]): it keeps one alert per incident; these channels post a message per
//! notice.
//!
//! A version notifies when the sink's filters select the incident and it is news to a person:
//! opened, reopened, more severe, an escalation step to one of the sink's routes, acknowledged,
//! resolved or suppressed. A finding joining, a moved `last_seen`, an operator's resync notify
//! nobody: a chat channel is not a log. A digest, and an incident rolled up in one, notify
//! nobody; a campaign notifies as one (its members' openings and raises come through it).
//!
//! Everything a product or an account owner wrote (titles, entity names, remediation text) is
//! untrusted: it is escaped for each channel's markup, so it cannot mention a channel, forge a
//! link or break the layout, and clipped to the channel's limits.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use vigil_domain::asff::SeverityLabel;
use vigil_domain::bounds::clip;
use vigil_domain::IncidentStatus;

use crate::pagerduty::console_link;
use crate::payload::{ChangeKind, IncidentPayload};

/// A sink's filters: which incidents notify it.
#[derive(Debug, Clone, Copy)]
pub struct Selection<'a> {
    /// Only incidents at least this severe (an escalation step to one of `routes` notifies
    /// whatever the severity).
    pub min_severity: SeverityLabel,
    /// Only incidents on one of these runbook routes (empty: any).
    pub routes: &'a [String],
    /// Only incidents in one of these environments (empty: any).
    pub environments: &'a [String],
}

impl Selection<'_> {
    /// Whether an escalation step of this version notifies one of the sink's routes (any
    /// route when the sink names none).
    pub fn notified(&self, p: &IncidentPayload) -> bool {
        p.notify
            .iter()
            .any(|r| self.routes.is_empty() || self.routes.contains(r))
    }

    /// Whether the filters select the incident (severity, route, environment). An escalation
    /// step to one of the sink's routes selects it whatever its severity.
    pub fn selects(&self, p: &IncidentPayload) -> bool {
        if self.notified(p) {
            return true;
        }
        p.severity >= self.min_severity
            && (self.routes.is_empty()
                || p.explanation
                    .route
                    .as_ref()
                    .is_some_and(|r| self.routes.contains(r)))
            && (self.environments.is_empty()
                || self.environments.iter().any(|e| {
                    vigil_domain::runbook::Environment::parse(e).map(|e| e.as_str())
                        == Some(p.environment.as_str())
                }))
    }
}

/// What a notice is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    Opened,
    Reopened,
    /// Its severity changed while open (raised by a finding or a runbook version, or lowered
    /// by a re-evaluation).
    Raised,
    /// An escalation step notifies the sink's route(s).
    Escalated,
    Acknowledged,
    Resolved,
    Suppressed,
}

impl NoticeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::Opened => "opened",
            NoticeKind::Reopened => "reopened",
            NoticeKind::Raised => "severity changed",
            NoticeKind::Escalated => "escalated",
            NoticeKind::Acknowledged => "acknowledged",
            NoticeKind::Resolved => "resolved",
            NoticeKind::Suppressed => "suppressed",
        }
    }

    /// An attribute value for SNS filter policies.
    pub fn code(self) -> &'static str {
        match self {
            NoticeKind::Opened => "opened",
            NoticeKind::Reopened => "reopened",
            NoticeKind::Raised => "severity",
            NoticeKind::Escalated => "escalated",
            NoticeKind::Acknowledged => "acknowledged",
            NoticeKind::Resolved => "resolved",
            NoticeKind::Suppressed => "suppressed",
        }
    }

    /// Whether the incident waits for someone (the clock runs).
    pub fn calls_for_action(self) -> bool {
        matches!(
            self,
            NoticeKind::Opened | NoticeKind::Reopened | NoticeKind::Raised | NoticeKind::Escalated
        )
    }
}

/// Whether version `p` notifies a sink with these filters, and about what.
pub fn kind(sel: &Selection, p: &IncidentPayload) -> Option<NoticeKind> {
    if p.change.kind == ChangeKind::Resync || p.never_paged() || !sel.selects(p) {
        return None;
    }
    let k = notice_kind(sel, p)?;
    // A campaign member's openings and raises come from the campaign (it opens or raises as
    // one); its escalation steps notify only when the campaign escalates through it, and its
    // reopening, acknowledgement and closing still say so.
    if p.in_campaign() && matches!(k, NoticeKind::Opened | NoticeKind::Raised) {
        return None;
    }
    Some(k)
}

fn notice_kind(sel: &Selection, p: &IncidentPayload) -> Option<NoticeKind> {
    let changed = |f: &str| p.change.changed.iter().any(|c| c == f);
    let status_changed = changed("status");
    match p.status {
        IncidentStatus::Open if p.change.kind == ChangeKind::Opened => Some(NoticeKind::Opened),
        IncidentStatus::Open if sel.notified(p) => Some(NoticeKind::Escalated),
        IncidentStatus::Open if status_changed => Some(NoticeKind::Reopened),
        IncidentStatus::Open if changed("severity") => Some(NoticeKind::Raised),
        IncidentStatus::Acknowledged if status_changed => Some(NoticeKind::Acknowledged),
        IncidentStatus::Resolved if status_changed => Some(NoticeKind::Resolved),
        IncidentStatus::Suppressed if status_changed => Some(NoticeKind::Suppressed),
        _ => None,
    }
}

/// "in 25 min", "2 h 5 min ago"...: the time from `now` to `deadline`, for people.
pub fn time_left(deadline: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (deadline - now).num_seconds();
    let span = |s: i64| {
        let m = (s + 59) / 60;
        match m {
            0..=59 => format!("{m} min"),
            _ if m < 48 * 60 => match m % 60 {
                0 => format!("{} h", m / 60),
                r => format!("{} h {r} min", m / 60),
            },
            _ => format!("{} d", m / (24 * 60)),
        }
    };
    if secs >= 0 {
        format!("{} left", span(secs))
    } else {
        format!("breached {} ago", span(-secs))
    }
}

/// A notice, channel-neutral: every channel renders the same facts.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub kind: NoticeKind,
    /// One line: `[HIGH] Root credential use: opened`.
    pub headline: String,
    pub severity: SeverityLabel,
    /// (label, value) pairs: severity, environment, account, entity, findings, deadline...
    pub facts: Vec<(&'static str, String)>,
    /// The most severe recent findings, one line each.
    pub top_findings: Vec<String>,
    pub remediation: String,
    /// The runbook's notes for the analyst.
    pub notes: Vec<String>,
    /// (text, url).
    pub links: Vec<(String, String)>,
    pub incident_id: String,
}

/// Findings a notice lists.
pub const NOTICE_TOP_FINDINGS: usize = 5;

/// The notice for version `p` at `now`, or `None` when it notifies nobody (see [`kind`]).
pub fn notice(sel: &Selection, p: &IncidentPayload, now: DateTime<Utc>) -> Option<Notice> {
    let kind = kind(sel, p)?;
    let account = p.account_name.as_ref().map_or_else(
        || p.account_id.clone(),
        |n| format!("{n} ({})", p.account_id),
    );
    let mut facts: Vec<(&'static str, String)> = vec![
        ("Severity", p.severity.as_str().to_owned()),
        ("Status", p.status.as_str().to_owned()),
        ("Environment", p.environment.clone()),
        ("Account", account),
        ("Entity", p.entity.clone()),
        (
            "Findings",
            format!("{} ({} active)", p.finding_count, p.active_finding_count),
        ),
    ];
    if let Some(d) = p.response_deadline {
        let when = d.format("%Y-%m-%d %H:%M UTC").to_string();
        let v = match (kind.calls_for_action(), p.acknowledged_at) {
            (true, _) => format!("{when} ({})", time_left(d, now)),
            (false, Some(a)) if a <= d => format!("{when} (met)"),
            (false, Some(_)) => format!("{when} (missed)"),
            (false, None) => when,
        };
        facts.push(("Respond by", v));
    }
    if kind == NoticeKind::Escalated {
        facts.push(("Escalated to", p.notify.join(", ")));
    }
    if let Some(c) = &p.campaign_id {
        facts.push(("Campaign", c.clone()));
    }
    if p.kind == crate::payload::Kind::Campaign {
        facts.push((
            "Incidents",
            format!(
                "{} in {} account(s): {}",
                p.incident_count,
                p.accounts.len(),
                p.incident_ids
                    .iter()
                    .take(10)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
        facts.push(("Why", p.correlation_reason.clone()));
    }
    if let Some(w) = &p.closed_why {
        facts.push(("Closed", w.clone()));
    }
    if let Some(t) = &p.last_transition {
        if !kind.calls_for_action() || kind == NoticeKind::Reopened {
            let mut v = t.by.clone();
            if !t.why.is_empty() {
                v.push_str(": ");
                v.push_str(&t.why);
            }
            facts.push(("By", v));
        }
    }
    if let Some(o) = &p.owner {
        facts.push(("Owner", o.clone()));
    }
    if let Some(r) = &p.explanation.route {
        facts.push(("Route", r.clone()));
    }
    let mut links = Vec::new();
    if let Some(href) = console_link(&p.lead_finding_id) {
        links.push(("Lead finding in Security Hub".to_owned(), href));
    }
    if let Some(u) = p.remediation_url.as_ref().filter(|u| is_plain_url(u)) {
        links.push(("Remediation".to_owned(), u.clone()));
    }
    Some(Notice {
        kind,
        headline: format!("[{}] {}: {}", p.severity, p.title, kind.as_str()),
        severity: p.severity,
        facts,
        top_findings: p
            .top_findings
            .iter()
            .take(NOTICE_TOP_FINDINGS)
            .map(|f| format!("{} {} ({})", f.severity, f.title, f.finding_type))
            .collect(),
        remediation: p.remediation.clone(),
        notes: p.explanation.notes.iter().map(|n| n.text.clone()).collect(),
        links,
        incident_id: p.incident_id.clone(),
    })
}

/// An `https://` URL of printable ASCII without spaces, quotes or angle brackets, at most 2000
/// characters: what a button may link to (a product's remediation URL is untrusted; a
/// malformed one would make Slack or Teams refuse the whole message).
pub fn is_plain_url(u: &str) -> bool {
    u.starts_with("https://")
        && u.len() <= 2000
        && u.len() > "https://".len()
        && u.bytes().all(|b| {
            b.is_ascii_graphic() && !matches!(b, b'"' | b'\'' | b'<' | b'>' | b'\\' | b'`')
        })
}

/// The notice as plain text (SNS e-mail and SMS; fallback text elsewhere).
pub fn text(n: &Notice) -> String {
    let mut s = format!("{}\n\n", one_line(&n.headline));
    for (k, v) in &n.facts {
        s.push_str(&format!("{k}: {}\n", one_line(v)));
    }
    if !n.top_findings.is_empty() {
        s.push_str("\nTop findings:\n");
        for f in &n.top_findings {
            s.push_str(&format!("- {}\n", one_line(f)));
        }
    }
    if !n.notes.is_empty() {
        s.push_str("\nRunbook notes:\n");
        for f in &n.notes {
            s.push_str(&format!("- {}\n", one_line(f)));
        }
    }
    if !n.remediation.is_empty() {
        s.push_str(&format!("\nRemediation: {}\n", one_line(&n.remediation)));
    }
    for (t, u) in &n.links {
        s.push_str(&format!("{t}: {u}\n"));
    }
    s.push_str(&format!("\nVigil incident {}\n", n.incident_id));
    s
}

/// Control characters (line breaks included) as spaces: one line of untrusted text.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// SNS e-mail subjects: under 100 characters, no line breaks or control characters.
pub const SNS_MAX_SUBJECT: usize = 99;

/// The SNS subject of a notice.
pub fn sns_subject(n: &Notice) -> String {
    let s: String = one_line(&format!("Vigil {}", n.headline));
    clip(s.trim(), SNS_MAX_SUBJECT)
}

// Slack Block Kit limits: header text 150 characters, section text 3000, a field 2000, ten
// fields per section, a button's text 75, a url 3000; the fallback `text` is cut near 40,000.
const SLACK_HEADER: usize = 150;
const SLACK_SECTION: usize = 3000;
const SLACK_FIELD: usize = 2000;
const SLACK_FIELDS: usize = 10;
const SLACK_BUTTON: usize = 75;
const SLACK_URL: usize = 3000;
const SLACK_TEXT: usize = 3000;

/// Slack's escaping of `&`, `<` and `>`: the only markup that can mention, link or format
/// outside `*`/`_`, which stay literal text in a field.
pub fn slack_escape(s: &str) -> String {
    one_line(s)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A Slack incoming-webhook message (Block Kit) for the notice.
pub fn slack(n: &Notice) -> Value {
    let emoji = match n.severity {
        SeverityLabel::Critical => ":red_circle:",
        SeverityLabel::High => ":large_orange_circle:",
        SeverityLabel::Medium => ":large_yellow_circle:",
        _ => ":white_circle:",
    };
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": clip(&one_line(&n.headline), SLACK_HEADER), "emoji": false}
    })];
    let fields: Vec<Value> = n
        .facts
        .iter()
        .take(SLACK_FIELDS)
        .map(|(k, v)| {
            json!({"type": "mrkdwn", "text": clip(&format!("*{k}*\n{}", slack_escape(v)), SLACK_FIELD)})
        })
        .collect();
    blocks.push(json!({"type": "section", "fields": fields}));
    let mut body = String::new();
    if !n.top_findings.is_empty() {
        body.push_str("*Top findings*\n");
        for f in &n.top_findings {
            body.push_str(&format!("• {}\n", slack_escape(f)));
        }
    }
    for note in &n.notes {
        body.push_str(&format!("*Runbook:* {}\n", slack_escape(note)));
    }
    if !n.remediation.is_empty() {
        body.push_str(&format!(
            "*Remediation:* {}\n",
            slack_escape(&n.remediation)
        ));
    }
    if !body.is_empty() {
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": clip(&body, SLACK_SECTION)}
        }));
    }
    let buttons: Vec<Value> = n
        .links
        .iter()
        .filter(|(_, u)| u.len() <= SLACK_URL)
        .map(|(t, u)| {
            json!({"type": "button", "text": {"type": "plain_text", "text": clip(t, SLACK_BUTTON)}, "url": u})
        })
        .collect();
    if !buttons.is_empty() {
        blocks.push(json!({"type": "actions", "elements": buttons}));
    }
    blocks.push(json!({
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": format!("{emoji} Vigil incident `{}`", slack_escape(&n.incident_id))}]
    }));
    json!({
        "text": clip(&slack_escape(&n.headline), SLACK_TEXT),
        "blocks": blocks,
    })
}

/// Teams workflow webhooks take about 28 KB per message.
pub const TEAMS_MAX_BYTES: usize = 28 * 1024;

/// Adaptive Card text is Markdown: its markup characters are escaped with a backslash.
pub fn teams_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in one_line(s).chars() {
        if matches!(
            c,
            '\\' | '*' | '_' | '[' | ']' | '(' | ')' | '#' | '`' | '>' | '<' | '~' | '|' | '!'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A Microsoft Teams workflow webhook message: one Adaptive Card (schema 1.4) for the notice.
pub fn teams(n: &Notice) -> Value {
    let color = match n.severity {
        SeverityLabel::Critical | SeverityLabel::High => "Attention",
        SeverityLabel::Medium => "Warning",
        _ => "Default",
    };
    let mut body = vec![
        json!({"type": "TextBlock", "text": clip(&teams_escape(&n.headline), 300), "size": "Large",
               "weight": "Bolder", "color": color, "wrap": true}),
        json!({"type": "FactSet", "facts": n.facts.iter().map(|(k, v)| json!({"title": k, "value": clip(&teams_escape(v), 1000)})).collect::<Vec<_>>()}),
    ];
    if !n.top_findings.is_empty() {
        let list: Vec<String> = n
            .top_findings
            .iter()
            .map(|f| format!("- {}", clip(&teams_escape(f), 300)))
            .collect();
        body.push(
            json!({"type": "TextBlock", "text": "Top findings", "weight": "Bolder", "wrap": true}),
        );
        body.push(json!({"type": "TextBlock", "text": list.join("\r"), "wrap": true}));
    }
    for note in &n.notes {
        body.push(json!({"type": "TextBlock", "text": format!("Runbook: {}", clip(&teams_escape(note), 1000)), "wrap": true}));
    }
    if !n.remediation.is_empty() {
        body.push(json!({"type": "TextBlock", "text": format!("Remediation: {}", clip(&teams_escape(&n.remediation), 2000)), "wrap": true}));
    }
    body.push(json!({"type": "TextBlock", "text": format!("Vigil incident {}", teams_escape(&n.incident_id)),
                     "isSubtle": true, "size": "Small", "wrap": true}));
    let actions: Vec<Value> = n
        .links
        .iter()
        .map(|(t, u)| json!({"type": "Action.OpenUrl", "title": t, "url": u}))
        .collect();
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "msteams": {"width": "Full"},
                "body": body,
                "actions": actions,
            }
        }]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::{Change, FindingSummary};
    use chrono::Duration;
    use vigil_domain::testing::incident;

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

    const ANY: Selection<'static> = Selection {
        min_severity: SeverityLabel::High,
        routes: &[],
        environments: &[],
    };

    #[test]
    fn people_hear_of_news_only() {
        let k = |s, c, ch: &[&str]| kind(&ANY, &version(s, c, ch));
        use IncidentStatus::*;
        assert_eq!(k(Open, ChangeKind::Opened, &[]), Some(NoticeKind::Opened));
        assert_eq!(
            k(Open, ChangeKind::StatusChanged, &["status"]),
            Some(NoticeKind::Reopened)
        );
        assert_eq!(
            k(Open, ChangeKind::Updated, &["severity"]),
            Some(NoticeKind::Raised)
        );
        assert_eq!(
            k(Acknowledged, ChangeKind::StatusChanged, &["status"]),
            Some(NoticeKind::Acknowledged)
        );
        assert_eq!(
            k(Suppressed, ChangeKind::StatusChanged, &["status"]),
            Some(NoticeKind::Suppressed)
        );
        assert_eq!(k(Open, ChangeKind::Updated, &["finding_count"]), None);
        assert_eq!(k(Open, ChangeKind::Resync, &[]), None);
        let mut step = version(Open, ChangeKind::Updated, &["escalation"]);
        step.notify = vec!["secops-pager".into()];
        assert_eq!(kind(&ANY, &step), Some(NoticeKind::Escalated));
        // A step to another route notifies a routed sink of nothing.
        let routes = ["soc-chat".to_owned()];
        let routed = Selection {
            routes: &routes,
            ..ANY
        };
        assert_eq!(kind(&routed, &step), None);
        // A LOW incident escalated to the sink's route is notified whatever the minimum.
        step.severity = SeverityLabel::Low;
        step.notify = vec!["soc-chat".into()];
        assert_eq!(kind(&routed, &step), Some(NoticeKind::Escalated));
    }

    #[test]
    fn only_plain_https_urls_become_buttons() {
        assert!(is_plain_url(
            "https://docs.aws.amazon.com/guardduty/latest/ug/x.html#a"
        ));
        for bad in [
            "http://x.example",
            "https://",
            "https://x.example/a b",
            "https://x.example/\"onclick",
            "https://x.example/<script>",
            "javascript:alert(1)",
        ] {
            assert!(!is_plain_url(bad), "{bad}");
        }
    }

    #[test]
    fn the_time_left_reads_naturally() {
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        assert_eq!(time_left(now + Duration::minutes(25), now), "25 min left");
        assert_eq!(
            time_left(now + Duration::minutes(125), now),
            "2 h 5 min left"
        );
        assert_eq!(
            time_left(now - Duration::minutes(5), now),
            "breached 5 min ago"
        );
        assert_eq!(time_left(now + Duration::days(3), now), "3 d left");
    }

    fn hostile() -> IncidentPayload {
        let mut p = version(IncidentStatus::Open, ChangeKind::Opened, &[]);
        p.title =
            "<!channel> *urgent* [click](https://evil.example) & <https://evil.example|here>\nline"
                .into();
        p.entity = "x".repeat(5000);
        p.response_deadline = Some(DateTime::from_timestamp(1_700_000_000 + 1500, 0).unwrap());
        p.top_findings = (0..8)
            .map(|i| FindingSummary {
                id: format!("f{i}"),
                finding_type: "Recon:EC2/PortProbeUnprotectedPort".into(),
                severity: SeverityLabel::High,
                title: format!("<@U123> probe {i}"),
                product: "GuardDuty".into(),
                record_state: vigil_domain::asff::RecordState::Active,
                last_seen: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            })
            .collect();
        p
    }

    #[test]
    fn slack_messages_keep_to_block_kit_limits_and_neutralise_markup() {
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let n = notice(&ANY, &hostile(), now).unwrap();
        assert!(n
            .facts
            .iter()
            .any(|(k, v)| *k == "Respond by" && v.contains("25 min left")));
        let m = slack(&n);
        let blocks = m["blocks"].as_array().unwrap();
        // Every mrkdwn text (and the fallback) is escaped; plain_text is shown as it is.
        let mut mrkdwn = vec![m["text"].as_str().unwrap().to_owned()];
        for b in blocks {
            for t in b["fields"]
                .as_array()
                .into_iter()
                .flatten()
                .chain(b["elements"].as_array().into_iter().flatten())
                .chain(std::iter::once(&b["text"]))
                .filter(|t| t["type"] == "mrkdwn")
            {
                mrkdwn.push(t["text"].as_str().unwrap().to_owned());
            }
        }
        let all = mrkdwn.join("\n");
        assert!(!all.contains('<') && !all.contains('>'), "{all}");
        assert!(all.contains("&lt;!channel&gt;") && all.contains("&lt;@U123&gt;"));
        let header = blocks[0]["text"]["text"].as_str().unwrap();
        assert!(header.chars().count() <= 150 && !header.contains('\n'));
        for b in blocks {
            if let Some(fields) = b["fields"].as_array() {
                assert!(fields.len() <= 10);
                for f in fields {
                    assert!(f["text"].as_str().unwrap().chars().count() <= 2000);
                }
            }
            if let Some(t) = b["text"]["text"].as_str() {
                assert!(t.chars().count() <= 3000);
            }
        }
        assert_eq!(
            n.top_findings.len(),
            NOTICE_TOP_FINDINGS,
            "the most severe few, not all"
        );
        let button = blocks.iter().find(|b| b["type"] == "actions").unwrap();
        assert!(button["elements"][0]["url"]
            .as_str()
            .unwrap()
            .starts_with("https://eu-west-1.console.aws.amazon.com/securityhub/"));
    }

    #[test]
    fn teams_cards_escape_markdown_and_stay_small() {
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let n = notice(&ANY, &hostile(), now).unwrap();
        let m = teams(&n);
        let card = &m["attachments"][0]["content"];
        assert_eq!(card["type"], "AdaptiveCard");
        let s = m.to_string();
        assert!(s.len() <= TEAMS_MAX_BYTES, "{}", s.len());
        assert!(s.contains(r"\\[click\\]\\(https://evil.example\\)"), "{s}");
        assert!(!card["body"][0]["text"].as_str().unwrap().contains('\n'));
    }

    #[test]
    fn sns_subjects_are_one_short_line() {
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let n = notice(&ANY, &hostile(), now).unwrap();
        let s = sns_subject(&n);
        assert!(s.chars().count() <= SNS_MAX_SUBJECT && !s.chars().any(char::is_control));
        assert!(s.starts_with("Vigil [HIGH]"));
        let t = text(&n);
        assert!(t.contains("Vigil incident ") && t.contains("Respond by: "));
    }

    #[test]
    fn digests_and_what_they_roll_up_notify_nobody_and_campaign_members_speak_through_it() {
        use IncidentStatus::*;
        let mut low = version(Open, ChangeKind::Opened, &[]);
        low.digest_id = Some("DIG-1".into());
        let all = Selection {
            min_severity: SeverityLabel::Informational,
            ..ANY
        };
        assert_eq!(
            kind(&all, &low),
            None,
            "a rolled-up incident is never announced"
        );
        low.notify = vec!["pager".into()];
        assert_eq!(kind(&all, &low), None, "nor escalated");
        let mut member = version(Open, ChangeKind::Opened, &[]);
        member.campaign_id = Some("CMP-1".into());
        assert_eq!(kind(&ANY, &member), None);
        let raised = IncidentPayload {
            change: Change {
                kind: ChangeKind::Updated,
                changed: vec!["severity".into()],
            },
            ..member.clone()
        };
        assert_eq!(kind(&ANY, &raised), None);
        let mut step = member.clone();
        step.change = Change {
            kind: ChangeKind::Updated,
            changed: vec!["escalation".into()],
        };
        step.notify = vec!["pager".into()];
        assert_eq!(
            kind(&ANY, &step),
            Some(NoticeKind::Escalated),
            "the campaign escalates through this member"
        );
        let mut reopened = version(Open, ChangeKind::StatusChanged, &["status"]);
        reopened.campaign_id = Some("CMP-1".into());
        assert_eq!(
            kind(&ANY, &reopened),
            Some(NoticeKind::Reopened),
            "a reopened member is never silent"
        );
        let mut closed = version(Resolved, ChangeKind::StatusChanged, &["status"]);
        closed.campaign_id = Some("CMP-1".into());
        assert_eq!(kind(&ANY, &closed), Some(NoticeKind::Resolved));
        let n = notice(&ANY, &step, Utc::now()).unwrap();
        assert!(n
            .facts
            .iter()
            .any(|(k, v)| *k == "Campaign" && v == "CMP-1"));
    }
}

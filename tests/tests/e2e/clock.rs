//! The response clock end to end at simulated times, against DynamoDB Local: fixture findings
//! are ingested, the escalation runs of the schedule notify and remind, one incident is
//! acknowledged in time through a Security Hub custom action and resolved the same way, another
//! breaches its deadline and is acknowledged late by an analyst, and every stored change goes
//! through the forwarder to a protocol-checking Slack receiver. Then the SLA report, from the
//! domain and from `vigil report --at`.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use vigil_aws_dynamodb::DynamoStore;
use vigil_delivery::{Dispatcher, Secrets};
use vigil_domain::incident::{Incident, IncidentStatus};
use vigil_domain::ports::MemoryLedger;
use vigil_domain::sla::ClockEvent;
use vigil_domain::{IncidentReader, Runbook, Settings};
use vigil_e2e::receivers::chat::{ChatReceiver, Service};
use vigil_e2e::{ddb_endpoint, fresh_store, gd_finding, StreamTap};
use vigil_wire::sinks::SinksConfig;

const RB: &str = r#"
accounts:
  "111111111111": { environment: production }
  "222222222222": { environment: dev }
routes:
  pager: {}
  lead: {}
escalation:
  - name: production
    environments: [production]
    steps:
      - { id: page, at: open, route: pager }
      - { id: remind, at: 50%, route: pager }
      - { id: breach, at: deadline, route: lead }
      - { id: overdue, at: deadline+30m, repeat: 30m, max: 2, route: lead }
"#;

/// The simulated clock: minutes after the fixtures' first event.
fn t(m: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-18T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
        + Duration::minutes(m)
}

struct World {
    store: DynamoStore,
    rb: Runbook,
    settings: Settings,
    dispatcher: Dispatcher,
    slack: ChatReceiver,
    tap: StreamTap,
    clock: Vec<(String, ClockEvent)>,
}

impl World {
    /// Every stored change since the last call, through the forwarder (as the table's stream
    /// would deliver it, old and new image).
    async fn forward(&mut self) {
        let records = self.tap.records(&self.store).await;
        let (report, clock) =
            forward::forward_records(&self.dispatcher, None, &records, None).await;
        assert_eq!(report.first_failed, None, "{report:?}");
        self.clock
            .extend(clock.into_iter().map(|c| (c.incident_id, c.event)));
    }

    async fn ingest(&mut self, findings: &[Value], at: DateTime<Utc>) {
        vigil_domain::ingest_values(&self.store, &self.rb, &self.settings, findings, at)
            .await
            .unwrap();
        self.forward().await;
    }

    async fn tick(&mut self, at: DateTime<Utc>) -> vigil_domain::escalation::RunReport {
        // Two overlapping runs, as a late schedule may start them.
        let ((qa, a), (qb, b)) = tokio::join!(
            vigil_domain::queue_store::minute(&self.store, &self.rb, at, 10),
            vigil_domain::queue_store::minute(&self.store, &self.rb, at, 10)
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        let (_, _) = (qa.unwrap(), qb.unwrap());
        self.forward().await;
        vigil_domain::escalation::RunReport {
            examined: a.examined.max(b.examined),
            steps: a.steps + b.steps,
            breaches: a.breaches + b.breaches,
            refreshed: a.refreshed + b.refreshed,
            covered: a.covered + b.covered,
            conflicts: a.conflicts + b.conflicts,
        }
    }

    /// A Security Hub custom action on `finding`, delivered twice (at-least-once).
    async fn console(&mut self, action: &str, finding: &Value, event: &str, at: DateTime<Utc>) {
        let target = format!("arn:aws:securityhub:us-east-1:111111111111:action/custom/{action}");
        let raw = finding.to_string();
        for _ in 0..2 {
            ingest::actions::apply(
                &self.store,
                &self.settings,
                event,
                &target,
                Some(action),
                &[raw.as_str()],
                at,
            )
            .await
            .unwrap();
        }
        self.forward().await;
    }

    async fn incident_of(&self, finding: &str) -> Incident {
        self.store
            .list_incidents(false)
            .await
            .unwrap()
            .into_iter()
            .find(|i| i.title.contains(finding))
            .unwrap()
    }

    fn headlines(&self) -> Vec<String> {
        self.slack
            .messages()
            .iter()
            .map(|m| m["blocks"][0]["text"]["text"].as_str().unwrap().to_owned())
            .collect()
    }
}

#[tokio::test]
async fn the_response_clock_from_findings_to_the_sla_report() {
    let Some(ep) = ddb_endpoint() else { return };
    let slack = ChatReceiver::start(Service::Slack).await;
    let sinks = SinksConfig::parse(&format!(
        "sinks:\n  - {{type: slack, name: soc, allow_http: true, webhook_url: {{value: '{}'}}}}\nretry: {{attempts: 3, base_delay_ms: 1, max_delay_ms: 2}}\n",
        slack.url()
    ))
    .unwrap();
    let mut w = World {
        store: fresh_store(&ep, "clock").await,
        rb: Runbook::from_yaml(RB, "t").unwrap(),
        settings: Settings::default(),
        dispatcher: Dispatcher::new(
            &sinks,
            &Secrets::local(),
            Arc::new(MemoryLedger::default()),
            None,
        )
        .unwrap(),
        slack,
        tap: StreamTap::default(),
        clock: Vec::new(),
    };
    let a = gd_finding("clock-a", "111111111111", 1, 0, "CRITICAL");
    let b = gd_finding("clock-b", "111111111111", 2, 0, "CRITICAL");
    let c = gd_finding("clock-c", "222222222222", 3, 74, "HIGH");

    w.ingest(&[a.clone(), b.clone()], t(1)).await;
    let inc_a = w.incident_of("clock-a").await;
    let deadline = inc_a.response_deadline.unwrap();
    assert_eq!(deadline, t(30), "30 minutes from the finding's first event");

    assert_eq!(w.tick(t(2)).await.steps, 2, "page, once each");
    assert_eq!(
        w.tick(t(17)).await.steps,
        2,
        "the reminder at half the time"
    );
    w.console("VigilAcknowledge", &a, "ev-ack-a", t(20)).await;
    let r = w.tick(t(32)).await;
    assert_eq!(
        (r.steps, r.breaches),
        (1, 1),
        "only B: its deadline step and its breach"
    );
    w.console("VigilResolve", &a, "ev-resolve-a", t(50)).await;
    assert_eq!(w.tick(t(62)).await.steps, 1, "B's first overdue reminder");
    let inc_b = w.incident_of("clock-b").await;
    vigil_domain::lifecycle::transition(
        &w.store,
        &inc_b.id,
        vigil_domain::lifecycle::Action::Acknowledge,
        &vigil_domain::lifecycle::Actor {
            by: "alice".into(),
            source: "cli".into(),
            reference: None,
        },
        None,
        t(70),
        10,
    )
    .await
    .unwrap();
    w.forward().await;
    assert_eq!(
        w.tick(t(95)).await.steps,
        0,
        "nothing after the acknowledgement"
    );
    w.ingest(std::slice::from_ref(&c), t(75)).await;

    // What the channel saw, in order, once each.
    let a_title = "[CRITICAL] CRITICAL finding clock-a";
    let b_title = "[CRITICAL] CRITICAL finding clock-b";
    let expected: Vec<String> = [
        (a_title, "opened"),
        (b_title, "opened"),
        (a_title, "escalated"),
        (b_title, "escalated"),
        (a_title, "escalated"),
        (b_title, "escalated"),
        (a_title, "acknowledged"),
        (b_title, "escalated"),
        (a_title, "resolved"),
        (b_title, "escalated"),
        (b_title, "acknowledged"),
        ("[HIGH] HIGH finding clock-c", "opened"),
    ]
    .iter()
    .map(|(t, k)| format!("{t}: {k}"))
    .collect();
    let mut got = w.headlines();
    // Two incidents changed in the same write are forwarded in table order: compare per
    // incident, then the total.
    for title in [a_title, b_title] {
        let mine = |v: &[String]| -> Vec<String> {
            v.iter().filter(|h| h.starts_with(title)).cloned().collect()
        };
        assert_eq!(mine(&got), mine(&expected), "{got:#?}");
    }
    assert_eq!(got.len(), expected.len(), "{got:#?}");
    got.clear();
    let escalated = w.slack.messages()[3].to_string();
    assert!(escalated.contains("pager"), "{escalated}");

    // The clock's metrics: two acknowledgements, one breach (B, marked by the run).
    let inc_a = w.incident_of("clock-a").await;
    let inc_b = w.incident_of("clock-b").await;
    let mut clock = w.clock.clone();
    clock.sort_by(|x, y| x.0.cmp(&y.0));
    let mut want = vec![
        (
            inc_a.id.clone(),
            ClockEvent::Acknowledged {
                seconds: (t(20) - inc_a.first_seen).num_seconds(),
            },
        ),
        (inc_b.id.clone(), ClockEvent::Breached),
        (
            inc_b.id.clone(),
            ClockEvent::Acknowledged {
                seconds: (t(70) - inc_b.first_seen).num_seconds(),
            },
        ),
    ];
    want.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(clock, want);
    assert_eq!(inc_a.status, IncidentStatus::Resolved);
    assert_eq!(inc_b.escalation.breached_at, Some(t(32)));

    // The report at minute 80.
    let incidents = w.store.list_incidents(false).await.unwrap();
    let r = vigil_domain::sla::report(&incidents, t(80) - Duration::days(1), t(80));
    let crit = &r.by_severity_environment[0];
    assert_eq!(
        (crit.severity, crit.environment.as_deref()),
        (
            Some(vigil_domain::asff::SeverityLabel::Critical),
            Some("production")
        )
    );
    let f = &crit.figures;
    assert_eq!(
        (f.incidents, f.with_target, f.met, f.breached),
        (2, 2, 1, 1)
    );
    assert_eq!(f.met_pct, Some(50.0));
    assert_eq!(f.tta_median_secs, Some(20 * 60));
    assert_eq!(f.tta_p90_secs, Some(70 * 60));
    assert_eq!(r.breaches.len(), 1);
    assert_eq!(r.breaches[0].incident_id, inc_b.id);
    assert_eq!(r.breaches[0].seconds, 40 * 60, "acknowledged 40 min late");
    assert_eq!(r.open.len(), 1, "C waits");
    let inc_c = w.incident_of("clock-c").await;
    assert_eq!(
        r.open[0].seconds,
        (inc_c.response_deadline.unwrap() - t(80)).num_seconds()
    );

    // The CLI prints the same report.
    let Some(mut cli) = vigil_e2e::vigil_cli(w.store.table(), &ep) else {
        return;
    };
    let at = t(80).to_rfc3339();
    let out = cli
        .args(["report", "--since", "1d", "--at", &at, "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["total"]["met"], 1);
    assert_eq!(json["total"]["breached"], 1);
    assert_eq!(json["breaches"][0]["incident_id"], inc_b.id.as_str());
    let out = vigil_e2e::vigil_cli(w.store.table(), &ep)
        .unwrap()
        .args(["report", "--since", "1d", "--at", &at])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("CRITICAL / production"), "{text}");
    assert!(
        text.contains("50.0%") && text.contains("40 min late"),
        "{text}"
    );
    let out = vigil_e2e::vigil_cli(w.store.table(), &ep)
        .unwrap()
        .args(["report", "--since", "1d", "--at", &at, "--csv"])
        .output()
        .unwrap();
    let csv = String::from_utf8_lossy(&out.stdout);
    assert!(
        csv.lines()
            .any(|l| l.starts_with("severity_environment,CRITICAL,production,,2,2,1,1,50.0,")),
        "{csv}"
    );
}

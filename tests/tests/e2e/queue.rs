//! The analyst's queue on a simulated organisation's day (`vigil_e2e::simorg`): the reduction,
//! nothing serious hidden, no wrong link on the ground truth, and the same queue whatever the
//! delivery order, redeliveries or concurrency (in memory and against DynamoDB Local).

use std::collections::{BTreeMap, BTreeSet};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use vigil_domain::asff::SeverityLabel;
use vigil_domain::queue::{build, Kind, QueueItem};
use vigil_domain::{IncidentReader, IncidentStore, MemoryStore, Runbook, Settings};
use vigil_e2e::simorg::{self, Day};

/// A queue item as findings: the same in every replay (incident ids name the finding that
/// opened them, which depends on arrival order; campaign and digest ids do not).
type Canon = (
    Kind,
    String,
    SeverityLabel,
    Vec<String>,
    u64,
    BTreeSet<BTreeSet<String>>,
);

struct Outcome {
    queue: Vec<QueueItem>,
    /// Incident id -> its findings' ids.
    members: BTreeMap<String, BTreeSet<String>>,
}

async fn outcome<S: IncidentReader>(store: &S, rb: &Runbook) -> Outcome {
    let incidents = store.list_incidents(true).await.unwrap();
    let mut members = BTreeMap::new();
    for i in &incidents {
        let ids: BTreeSet<String> = store
            .findings_of(&i.id)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.finding_id)
            .collect();
        members.insert(i.id.clone(), ids);
    }
    Outcome {
        queue: build(&incidents, rb),
        members,
    }
}

fn canon(o: &Outcome) -> BTreeSet<Canon> {
    o.queue
        .iter()
        .map(|q| {
            let sets: BTreeSet<BTreeSet<String>> = q
                .incident_ids
                .iter()
                .map(|i| o.members.get(i).cloned().unwrap_or_default())
                .collect();
            let id = if q.kind == Kind::Incident {
                String::new()
            } else {
                q.id.clone()
            };
            (
                q.kind,
                id,
                q.severity,
                q.accounts.clone(),
                q.finding_count,
                sets,
            )
        })
        .collect()
}

async fn ingest_all<S: IncidentStore>(store: &S, rb: &Runbook, deliveries: &[Value]) {
    for batch in deliveries.chunks(10) {
        vigil_domain::ingest_values(store, rb, &Settings::default(), batch, simorg::end_of_day())
            .await
            .unwrap();
    }
}

/// The final severity of each finding: that of its latest update.
fn final_severity(day: &Day) -> BTreeMap<String, String> {
    let mut latest: BTreeMap<String, (String, String)> = BTreeMap::new();
    for d in &day.deliveries {
        let id = d["Id"].as_str().unwrap().to_owned();
        let up = d["UpdatedAt"].as_str().unwrap().to_owned();
        let sev = d["Severity"]["Label"].as_str().unwrap().to_owned();
        let e = latest.entry(id).or_insert((up.clone(), sev.clone()));
        if up >= e.0 {
            *e = (up, sev);
        }
    }
    latest.into_iter().map(|(k, (_, s))| (k, s)).collect()
}

/// Figures and the ground-truth checks of one outcome.
#[derive(Debug)]
struct Figures {
    deliveries: usize,
    findings: usize,
    incidents: usize,
    items: usize,
    campaigns: usize,
    digests: usize,
    single: usize,
    hidden_serious: Vec<String>,
    wrong_links: Vec<String>,
    split_attacks: Vec<String>,
}

fn figures(day: &Day, o: &Outcome) -> Figures {
    let sev = final_severity(day);
    let count = |k: Kind| o.queue.iter().filter(|q| q.kind == k).count();
    let mut hidden = Vec::new();
    let mut wrong = Vec::new();
    let mut attack_items: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for q in &o.queue {
        let findings: Vec<&String> = q
            .incident_ids
            .iter()
            .flat_map(|i| o.members.get(i).into_iter().flatten())
            .collect();
        for f in &findings {
            if q.kind == Kind::Digest && matches!(sev[*f].as_str(), "HIGH" | "CRITICAL") {
                hidden.push(format!("{f} in digest {}", q.id));
            }
            if let Some(Some(a)) = day.truth.get(*f) {
                attack_items
                    .entry(a.clone())
                    .or_default()
                    .insert(q.id.clone());
            }
        }
        if q.kind == Kind::Campaign {
            let truths: BTreeSet<Option<String>> =
                findings.iter().map(|f| day.truth[*f].clone()).collect();
            if truths.len() != 1 || truths.contains(&None) {
                wrong.push(format!("campaign {} mixes {truths:?}", q.id));
            }
        }
    }
    let split: Vec<String> = day
        .attacks
        .keys()
        .filter(|a| {
            attack_items.get(*a).is_none_or(|items| {
                items.len() != 1
                    || !o
                        .queue
                        .iter()
                        .any(|q| q.kind == Kind::Campaign && items.contains(&q.id))
            })
        })
        .cloned()
        .collect();
    Figures {
        deliveries: day.deliveries.len(),
        findings: day.truth.len(),
        incidents: o.members.len(),
        items: o.queue.len(),
        campaigns: count(Kind::Campaign),
        digests: count(Kind::Digest),
        single: count(Kind::Incident),
        hidden_serious: hidden,
        wrong_links: wrong,
        split_attacks: split,
    }
}

#[tokio::test]
async fn a_simulated_day_is_ten_times_fewer_items_with_nothing_serious_hidden_and_no_wrong_link() {
    let rb = Runbook::default();
    let day = simorg::day(7);
    let store = MemoryStore::new();
    ingest_all(&store, &rb, &day.deliveries).await;
    let o = outcome(&store, &rb).await;
    let f = figures(&day, &o);
    let factor = f.deliveries as f64 / f.items as f64;
    println!(
        "simulated day: {} deliveries, {} findings, {} incidents, {} analyst-facing items ({} campaigns, {} digests, {} incidents): {factor:.1}x fewer items than deliveries, {:.1}x fewer than incidents; HIGH/CRITICAL in a digest: {}; wrong links: {}; attacks split or not a campaign: {}",
        f.deliveries, f.findings, f.incidents, f.items, f.campaigns, f.digests, f.single,
        f.incidents as f64 / f.items as f64,
        f.hidden_serious.len(), f.wrong_links.len(), f.split_attacks.len()
    );
    assert!(f.hidden_serious.is_empty(), "{:?}", f.hidden_serious);
    assert!(f.wrong_links.is_empty(), "{:?}", f.wrong_links);
    assert!(f.split_attacks.is_empty(), "{:?}", f.split_attacks);
    assert_eq!(
        f.campaigns,
        4,
        "{:#?}",
        o.queue
            .iter()
            .filter(|q| q.kind == Kind::Campaign)
            .collect::<Vec<_>>()
    );
    assert!(factor >= 10.0, "{f:?}");
    // The port probe raised to HIGH is an incident of its own.
    let raised = simorg::finding_arn(&simorg::account(5), "noise-probe-raised");
    let item = o
        .queue
        .iter()
        .find(|q| {
            q.incident_ids
                .iter()
                .any(|i| o.members[i].contains(&raised))
        })
        .unwrap();
    assert_eq!(
        (item.kind, item.severity),
        (Kind::Incident, SeverityLabel::High)
    );
    // The attack sequence leads its campaign, with its signals linked in.
    let seq = o
        .queue
        .iter()
        .find(|q| q.reason.starts_with("GuardDuty attack sequence"))
        .unwrap();
    assert_eq!(seq.severity, SeverityLabel::Critical);
    assert!(
        seq.links.iter().filter(|l| l.via == "signal").count() >= 2,
        "{seq:#?}"
    );
}

/// Shuffled, redelivered: the queue is the same as in arrival order.
fn replay(day: &Day, seed: u64, redeliver_pct: u32) -> Vec<Value> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut d = day.deliveries.clone();
    let again: Vec<Value> = d
        .iter()
        .filter(|_| rng.gen_range(0..100) < redeliver_pct)
        .cloned()
        .collect();
    d.extend(again);
    d.shuffle(&mut rng);
    d
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(12))]
    #[test]
    fn any_delivery_order_with_redeliveries_gives_the_same_queue(seed in 0u64..10_000, pct in 0u32..40) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let rb = Runbook::default();
        let day = simorg::day(7);
        let expected = rt.block_on(async {
            let s = MemoryStore::new();
            ingest_all(&s, &rb, &day.deliveries).await;
            canon(&outcome(&s, &rb).await)
        });
        let got = rt.block_on(async {
            let s = MemoryStore::new();
            ingest_all(&s, &rb, &replay(&day, seed, pct)).await;
            canon(&outcome(&s, &rb).await)
        });
        proptest::prop_assert_eq!(expected, got);
    }
}

/// Every incident is paged when it opens (one step); campaigns and digests decide the rest.
const PAGING_RB: &str = r#"
routes:
  pager: {}
escalation:
  - name: all
    steps:
      - { id: page, at: open, route: pager }
"#;

/// Against DynamoDB Local: the day shuffled with 25 % redeliveries, split over 4 concurrent
/// ingests, then a batch retried, gives the same queue as the ordered in-memory replay; then
/// the stored queue (overlapping schedule runs) reaches the sinks once, with its kinds, and
/// digests page nobody.
#[tokio::test]
async fn concurrent_replays_give_the_same_queue_and_the_stored_queue_reaches_the_sinks_once() {
    use forward::stream::{decode, RecordOutcome};
    use vigil_domain::ports::QueueStore;
    use vigil_wire::payload::IncidentPayload;
    let Some(ep) = vigil_e2e::ddb_endpoint() else {
        return;
    };
    let rb = Runbook::from_yaml(PAGING_RB, "t").unwrap();
    let day = simorg::day(7);
    let mem = MemoryStore::new();
    ingest_all(&mem, &rb, &day.deliveries).await;
    let expected = canon(&outcome(&mem, &rb).await);

    let store = vigil_e2e::fresh_store(&ep, "queue").await;
    let d = replay(&day, 99, 25);
    let parts: Vec<Vec<Value>> = (0..4)
        .map(|k| d.iter().skip(k).step_by(4).cloned().collect())
        .collect();
    futures::future::join_all(parts.iter().map(|p| ingest_all(&store, &rb, p))).await;
    // A retried batch after everything changes nothing.
    ingest_all(&store, &rb, &day.deliveries[..50]).await;
    let got = outcome(&store, &rb).await;
    assert_eq!(expected, canon(&got));
    let f = figures(&day, &got);
    assert!(
        f.wrong_links.is_empty() && f.hidden_serious.is_empty(),
        "{f:?}"
    );

    let arn = vigil_aws_streams::stream_arn(store.client(), store.table())
        .await
        .unwrap();
    let mut poller = vigil_aws_streams::StreamPoller::new(vigil_e2e::streams_client(&ep), arn);
    let ingested = vigil_e2e::drain_stream(&mut poller).await;
    let incidents = store.list_incidents(true).await.unwrap();
    let queue = build(&incidents, &rb);
    let count = |k: Kind| queue.iter().filter(|q| q.kind == k).count();
    let (campaigns, digests, singles) = (
        count(Kind::Campaign),
        count(Kind::Digest),
        count(Kind::Incident),
    );
    let members = |k: Kind| -> usize {
        queue
            .iter()
            .filter(|q| q.kind == k)
            .map(|q| q.incident_ids.len())
            .sum()
    };
    let (in_campaigns, in_digests) = (members(Kind::Campaign), members(Kind::Digest));

    // Three overlapping schedule runs (a late scheduler): each item written once, each member
    // marked once, each campaign paged once.
    let at = simorg::end_of_day() + chrono::Duration::minutes(1);
    let runs = futures::future::join_all(
        (0..3).map(|_| vigil_domain::queue_store::minute(&store, &rb, at, 10)),
    )
    .await;
    let (mut opened, mut marked, mut steps, mut covered) = (0, 0, 0, 0);
    for (q, e) in runs {
        let (q, e) = (q.unwrap(), e.unwrap());
        opened += q.opened;
        marked += q.marked;
        steps += e.steps;
        covered += e.covered;
    }
    eprintln!(
        "schedule runs x3: {opened} items stored ({campaigns} campaigns, {digests} digests), \
         {marked} members marked, {steps} steps notified, {covered} covered"
    );
    assert_eq!(opened, campaigns + digests, "each item stored once");
    assert_eq!(marked, in_campaigns, "each campaign member marked once");
    assert_eq!(
        steps,
        campaigns + singles,
        "one page per campaign and per lone incident"
    );
    assert_eq!(
        covered,
        in_campaigns - campaigns + in_digests,
        "the other members' and every rolled-up incident's step recorded, not sent"
    );
    let live = store.live_queue().await.unwrap();
    assert_eq!(live.len(), campaigns + digests);
    // A later run finds nothing to do.
    let (q, e) =
        vigil_domain::queue_store::minute(&store, &rb, at + chrono::Duration::minutes(1), 10).await;
    let (q, e) = (q.unwrap(), e.unwrap());
    assert_eq!(
        (q.opened, q.changed, q.closed, q.marked, e.steps),
        (0, 0, 0, 0, 0),
        "{q:?} {e:?}"
    );

    // What the stream hands the forwarder: every campaign and digest once, with its kind.
    let scheduled = vigil_e2e::drain_stream(&mut poller).await;
    let payloads =
        |records: &[aws_lambda_events::event::dynamodb::EventRecord]| -> Vec<IncidentPayload> {
            records
                .iter()
                .filter_map(|r| match decode(r).outcome {
                    RecordOutcome::Forward(p) => Some(*p),
                    _ => None,
                })
                .collect()
        };
    let sent = payloads(&scheduled);
    let of = |k: Kind| sent.iter().filter(|p| p.kind == k).count();
    assert_eq!((of(Kind::Campaign), of(Kind::Digest)), (campaigns, digests));
    // Pages (PagerDuty, every severity): no digest and no rolled-up incident ever; each
    // campaign opens one alert and escalates through one member.
    let pd: vigil_wire::sinks::PagerDutySink = serde_yaml_ng::from_str(
        "{name: pd, routing_key: {env: PD_KEY}, min_severity: INFORMATIONAL}",
    )
    .unwrap();
    let key = "0123456789abcdef0123456789abcdef";
    let all: Vec<IncidentPayload> = payloads(&ingested)
        .into_iter()
        .chain(sent.clone())
        .collect();
    let pages: Vec<&IncidentPayload> = all
        .iter()
        .filter(|p| {
            vigil_wire::pagerduty::event(&pd, key, p).is_some_and(|e| e.event_action == "trigger")
        })
        .collect();
    assert!(
        pages
            .iter()
            .all(|p| p.kind != Kind::Digest && p.digest_id.is_none()),
        "a digest or rolled-up incident paged"
    );
    assert!(pages.iter().all(|p| p.severity > SeverityLabel::Low));
    assert_eq!(
        pages.iter().filter(|p| p.kind == Kind::Campaign).count(),
        campaigns
    );
    let escalations = sent
        .iter()
        .filter(|p| p.change.changed.iter().any(|c| c == "escalation"))
        .filter(|p| vigil_wire::pagerduty::event(&pd, key, p).is_some())
        .count();
    assert_eq!(escalations, campaigns + singles);

    // Through the real forwarder to a file sink (a SIEM): the kinds are in the payloads.
    let file = tempfile::NamedTempFile::new().unwrap();
    let cfg = vigil_wire::sinks::SinksConfig::parse(&format!(
        "sinks: [{{type: file, name: f, path: '{}'}}]",
        file.path().display()
    ))
    .unwrap();
    let deps = forward::Deps {
        dispatcher: vigil_delivery::Dispatcher::new(
            &cfg,
            &vigil_delivery::Secrets::local(),
            std::sync::Arc::new(vigil_aws_dynamodb::DynamoLedger::new(
                store.client().clone(),
                store.table(),
                chrono::Duration::days(1),
            )),
            None,
        )
        .unwrap(),
        cleanup: None,
        emit_metrics: false,
    };
    let mut event = aws_lambda_events::event::dynamodb::Event::default();
    event.records = scheduled.clone();
    let r = forward::process(&deps, &event, None).await;
    assert_eq!(r.first_failed, None, "{r:?}");
    // A retried batch sends nothing twice.
    forward::process(&deps, &event, None).await;
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(file.path())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kind_of = |k: &str| lines.iter().filter(|l| l["kind"] == k).count();
    assert_eq!(
        (kind_of("campaign"), kind_of("digest")),
        (campaigns, digests)
    );
    let keys: BTreeSet<&str> = lines
        .iter()
        .filter_map(|l| l["idempotency_key"].as_str())
        .collect();
    assert_eq!(keys.len(), lines.len(), "each version once");
    assert!(lines
        .iter()
        .filter(|l| l["kind"] == "campaign")
        .all(|l| l["incident_ids"].as_array().is_some_and(|m| m.len() >= 2)));

    // A new sink caught up (`vigil catch-up --open`) gets the live campaigns and digests too.
    let late = tempfile::NamedTempFile::new().unwrap();
    let cfg = vigil_wire::sinks::SinksConfig::parse(&format!(
        "sinks: [{{type: file, name: late, path: '{}'}}]",
        late.path().display()
    ))
    .unwrap();
    let ledger = vigil_aws_dynamodb::DynamoLedger::new(
        store.client().clone(),
        store.table(),
        chrono::Duration::days(1),
    );
    let deps = forward::Deps {
        dispatcher: vigil_delivery::Dispatcher::new(
            &cfg,
            &vigil_delivery::Secrets::local(),
            std::sync::Arc::new(ledger.clone()),
            None,
        )
        .unwrap(),
        cleanup: None,
        emit_metrics: false,
    };
    let r = vigil::redrive::catch_up(&deps, &store, &ledger, true)
        .await
        .unwrap();
    assert_eq!(r.first_failed, None, "{r:?}");
    let caught: Vec<serde_json::Value> = std::fs::read_to_string(late.path())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kind_of = |k: &str| caught.iter().filter(|l| l["kind"] == k).count();
    assert_eq!(
        (kind_of("campaign"), kind_of("digest"), kind_of("incident")),
        (campaigns, digests, incidents.len())
    );
}

//! At-least-once, concurrent delivery against DynamoDB Local: 8 handler invocations at once over
//! a shuffled stream in which each event arrives 1-3 times end in exactly the incidents of one
//! ordered pass.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};

use ingest::Deps;
use rand::{seq::SliceRandom, Rng, SeedableRng};
use serde_json::Value;
use vigil_aws_dynamodb::DynamoStore;
use vigil_domain::incident::Incident;
use vigil_domain::FindingRecord;
use vigil_domain::{Runbook, Settings};
use vigil_e2e::process;
use vigil_e2e::{ddb_endpoint, envelope, example_runbook, fixture_events, fresh_store, gd_finding};

/// Everything an analyst sees of an incident, keyed by its findings rather than its id (the id
/// names whichever finding happened to open it).
fn snapshot(
    incs: &[Incident],
    recs: &[FindingRecord],
    with_versions: bool,
) -> BTreeMap<String, String> {
    let mut members: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for r in recs {
        if let Some(i) = &r.incident_id {
            members
                .entry(i.as_str())
                .or_default()
                .insert(r.finding_id.as_str());
        }
    }
    incs.iter()
        .map(|i| {
            let ids = members.get(i.id.as_str()).cloned().unwrap_or_default();
            let key = format!("{} {:?}", i.correlation_key, ids);
            let value = format!(
                "count={} active={} severity={} deadline={:?} first={} last={} title={} status={} types={:?} tactics={:?} env={} owner={:?}{}",
                i.finding_count, i.active_finding_count, i.severity, i.response_deadline, i.first_seen,
                i.last_seen, i.title, i.status.as_str(), i.finding_types, i.tactics, i.environment, i.owner,
                if with_versions { format!(" version={}", i.version) } else { String::new() }
            );
            (key, value)
        })
        .collect()
}

async fn state(store: &DynamoStore, with_versions: bool) -> (BTreeMap<String, String>, usize) {
    let incs: Vec<Incident> = store.scan_kind("incident").await.unwrap();
    let recs: Vec<FindingRecord> = store.scan_kind("finding").await.unwrap();
    // Every finding record points at an incident that exists (or at none, if inactive).
    let ids: BTreeSet<&str> = incs.iter().map(|i| i.id.as_str()).collect();
    for r in &recs {
        if let Some(i) = &r.incident_id {
            assert!(
                ids.contains(i.as_str()),
                "finding {} points at missing incident {i}",
                r.finding_id
            );
        }
    }
    (snapshot(&incs, &recs, with_versions), recs.len())
}

/// Runs `deliveries` through 8 concurrent invocations of the real handler.
async fn run_concurrently(d: Arc<Deps<DynamoStore>>, deliveries: Vec<Value>) -> u64 {
    let queue = Arc::new(Mutex::new(VecDeque::from(deliveries)));
    let mut workers = Vec::new();
    for _ in 0..8 {
        let (d, q) = (d.clone(), queue.clone());
        workers.push(tokio::spawn(async move {
            let mut conflicts = 0;
            loop {
                let next = q.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
                let Some(ev) = next else { break };
                let s = process(&d, ev).await.expect("ingest failed");
                conflicts += s.conflicts;
            }
            conflicts
        }));
    }
    let mut conflicts = 0;
    for w in workers {
        conflicts += w.await.expect("worker panicked");
    }
    conflicts
}

fn redeliver_shuffled(events: &[Value], seed: u64) -> Vec<Value> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut out = Vec::new();
    for e in events {
        for _ in 0..rng.gen_range(1..=3) {
            out.push(e.clone());
        }
    }
    out.shuffle(&mut rng);
    out
}

/// 90 findings on 6 instances in 2 accounts, in clusters (within the window) separated by more
/// than the window; each finding in exactly one event of 1-3 findings.
fn generated_events() -> Vec<Value> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut findings = Vec::new();
    for n in 0..90u32 {
        let account = if n % 2 == 0 {
            "111111111111"
        } else {
            "222222222222"
        };
        let instance = n % 3;
        let cluster = i64::from(rng.gen_range(0..3u32));
        let minutes = cluster * 60 * 60 + rng.gen_range(0..600);
        let sev = ["LOW", "MEDIUM", "HIGH", "CRITICAL"][rng.gen_range(0..4)];
        findings.push(gd_finding(
            &format!("g{n:03}"),
            account,
            instance,
            minutes,
            sev,
        ));
    }
    let mut events = Vec::new();
    let mut i = 0;
    while i < findings.len() {
        let k = rng.gen_range(1..=3).min(findings.len() - i);
        events.push(envelope(&format!("ev{i}"), findings[i..i + k].to_vec()));
        i += k;
    }
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn eight_concurrent_invocations_match_one_ordered_pass_exactly_including_versions() {
    let Some(ep) = ddb_endpoint() else { return };
    let events = generated_events();
    let deps = |store| {
        Arc::new(Deps {
            store,
            runbook: Runbook::default(),
            settings: Settings::default(),
            emit_metrics: false,
            live: None,
            facts: None,
        })
    };

    let ordered = deps(fresh_store(&ep, "ordered").await);
    for e in &events {
        process(&ordered, e.clone()).await.unwrap();
    }
    let (expected, n) = state(&ordered.store, true).await;
    assert_eq!(n, 90);

    for seed in [1u64, 2, 3] {
        let shared = deps(fresh_store(&ep, "concurrent").await);
        let deliveries = redeliver_shuffled(&events, seed);
        let count = deliveries.len();
        let conflicts = run_concurrently(shared.clone(), deliveries).await;
        let (got, n) = state(&shared.store, true).await;
        assert_eq!(n, 90, "seed {seed}");
        assert_eq!(
            got, expected,
            "seed {seed}: {count} deliveries, {conflicts} conflicts retried"
        );
        eprintln!("seed {seed}: {count} deliveries of {} events, {conflicts} write conflicts retried, same incidents and versions", events.len());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn the_fixture_stream_with_updates_and_resends_converges_under_concurrency() {
    let Some(ep) = ddb_endpoint() else { return };
    let events: Vec<Value> = fixture_events().into_iter().map(|(_, v)| v).collect();
    let deps = |store| {
        Arc::new(Deps {
            store,
            runbook: example_runbook(),
            settings: Settings::default(),
            emit_metrics: false,
            live: None,
            facts: None,
        })
    };
    let ordered = deps(fresh_store(&ep, "fx-ordered").await);
    for e in &events {
        process(&ordered, e.clone()).await.unwrap();
    }
    // Versions depend on which states an out-of-order stream skips; everything else must match.
    let (expected, n) = state(&ordered.store, false).await;
    assert_eq!(expected.len(), 10, "{expected:#?}");
    assert_eq!(n, 15, "14 findings in incidents and 1 archived without one");
    for seed in [11u64, 12] {
        let shared = deps(fresh_store(&ep, "fx-concurrent").await);
        run_concurrently(shared.clone(), redeliver_shuffled(&events, seed)).await;
        let (got, _) = state(&shared.store, false).await;
        assert_eq!(got, expected, "seed {seed}");
    }
}

/// Write requests per delivered finding on a stream where half the deliveries are duplicates
/// or updates. Printed for `make bench`; the bound is a count, not a timing.
#[tokio::test]
async fn write_requests_per_finding_stay_at_or_below_one_on_a_half_duplicate_stream() {
    let Some(ep) = ddb_endpoint() else { return };
    let d = Deps {
        store: fresh_store(&ep, "amplification").await,
        runbook: Runbook::default(),
        settings: Settings::default(),
        emit_metrics: false,
        live: None,
        facts: None,
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(99);
    let mut deliveries = Vec::new();
    let mut seen: Vec<Value> = Vec::new();
    for n in 0..200u32 {
        let fresh = gd_finding(
            &format!("w{n}"),
            "111111111111",
            n % 20,
            i64::from(n) * 3,
            "MEDIUM",
        );
        deliveries.push(fresh.clone());
        seen.push(fresh);
        // Half of the deliveries: a duplicate or an update of an earlier finding.
        let mut again = seen[rng.gen_range(0..seen.len())].clone();
        if rng.gen_bool(0.5) {
            let bump = chrono::Duration::minutes(rng.gen_range(1..600));
            let t = chrono::DateTime::parse_from_rfc3339(again["UpdatedAt"].as_str().unwrap())
                .unwrap()
                + bump;
            again["UpdatedAt"] =
                Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
        }
        deliveries.push(again);
    }
    for (i, f) in deliveries.iter().enumerate() {
        process(&d, envelope(&format!("d{i}"), vec![f.clone()]))
            .await
            .unwrap();
    }
    let per_finding = d.store.write_requests() as f64 / deliveries.len() as f64;
    eprintln!(
        "BENCH write_requests_per_finding={per_finding:.3} writes={} reads={} deliveries={} wcu={} wcu_per_delivery={:.3}",
        d.store.write_requests(),
        d.store.read_requests(),
        deliveries.len(),
        d.store.consumed_wcu(),
        d.store.consumed_wcu() / deliveries.len() as f64
    );
    eprintln!("BENCH wcu_by_kind={:?}", d.store.consumed_wcu_by());
    assert!(per_finding <= 1.3, "{per_finding}");
}

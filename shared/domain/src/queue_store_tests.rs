use std::sync::Arc;

use serde_json::Value;

use super::*;
use crate::asff::SeverityLabel;
use crate::engine::{ingest_values, Settings};
use crate::ports::MemoryStore;
use crate::queue::tests::{instance_hit, key_finding, probe, rt};
use crate::testing::at_minutes;

const RB: &str = r#"
routes:
  pager: {}
escalation:
  - name: all
    steps:
      - { id: page, at: open, route: pager }
"#;

async fn ingest(store: &MemoryStore, rb: &Runbook, fs: &[Value], at: i64) {
    ingest_values(store, rb, &Settings::default(), fs, at_minutes(at))
        .await
        .unwrap();
}

fn attack() -> Vec<Value> {
    vec![
        instance_hit("a", "i-web", "198.51.100.7", "HIGH", 0),
        key_finding("b", "app-role", "198.51.100.7", "HIGH", 30),
    ]
}

fn records(store: &MemoryStore, kind: Kind) -> Vec<QueueRecord> {
    store
        .queue_records()
        .into_iter()
        .filter(|r| r.item.kind == kind)
        .collect()
}

#[test]
fn a_campaign_is_stored_once_its_members_marked_and_a_second_run_writes_nothing() {
    rt().block_on(async {
        let rb = Runbook::default();
        let store = MemoryStore::new();
        ingest(&store, &rb, &attack(), 40).await;
        let r = run(&store, &rb, at_minutes(41), 5).await.unwrap();
        assert_eq!((r.campaigns, r.opened, r.marked), (1, 1, 2), "{r:?}");
        let c = &records(&store, Kind::Campaign)[0];
        let v1 = c.version;
        assert!(c.changed.is_empty());
        assert_eq!(c.detail.environment, "production");
        assert!(c.detail.escalates_via.is_some());
        assert!(!c.detail.lead_finding_id.is_empty());
        for i in store.incidents() {
            assert_eq!(i.campaign.as_deref(), Some(c.item.id.as_str()), "{}", i.id);
        }
        let commits = store.commits();
        let again = run(&store, &rb, at_minutes(42), 5).await.unwrap();
        assert_eq!(
            (again.opened, again.changed, again.closed, again.marked),
            (0, 0, 0, 0)
        );
        assert_eq!(store.commits(), commits, "a repeated run writes nothing");
        // A third member: the campaign changes once (members, count).
        ingest(
            &store,
            &rb,
            &[instance_hit("c", "i-db", "198.51.100.7", "CRITICAL", 45)],
            46,
        )
        .await;
        let r = run(&store, &rb, at_minutes(47), 5).await.unwrap();
        assert_eq!((r.changed, r.marked), (1, 1));
        let c = &records(&store, Kind::Campaign)[0];
        assert!(c.version > v1);
        assert!(
            c.changed.contains(&"incident_ids".to_owned()),
            "{:?}",
            c.changed
        );
        assert!(c.changed.contains(&"severity".to_owned()));
        assert_eq!(c.item.severity, SeverityLabel::Critical);
    });
}

#[test]
fn a_digest_is_sent_once_then_only_on_material_growth_and_closes_once() {
    rt().block_on(async {
        let rb = Runbook::default();
        let store = MemoryStore::new();
        let probes = |from: usize, to: usize| -> Vec<Value> {
            (from..to)
                .map(|i| {
                    probe(
                        &format!("p{i}"),
                        &format!("i-{i}"),
                        "192.0.2.1",
                        "LOW",
                        i as i64,
                    )
                })
                .collect()
        };
        ingest(&store, &rb, &probes(0, 4), 10).await;
        for i in store.incidents() {
            assert!(i.digest.is_some(), "a LOW probe knows its digest: {}", i.id);
        }
        run(&store, &rb, at_minutes(11), 5).await.unwrap();
        let d = &records(&store, Kind::Digest)[0];
        let v1 = d.version;
        assert_eq!(d.item.finding_count, 4);
        assert_eq!(Some(d.item.id.clone()), store.incidents()[0].digest);
        // Three more (7 < 2 x 4): not news.
        ingest(&store, &rb, &probes(4, 7), 12).await;
        let r = run(&store, &rb, at_minutes(13), 5).await.unwrap();
        assert_eq!((r.opened, r.changed), (0, 0));
        // Doubled: sent again, and the new count is the base.
        ingest(&store, &rb, &probes(7, 8), 14).await;
        run(&store, &rb, at_minutes(15), 5).await.unwrap();
        let d = &records(&store, Kind::Digest)[0];
        assert!(d.version > v1);
        assert_eq!(d.item.finding_count, 8);
        assert_eq!(d.changed, vec!["growth".to_owned()]);
        // Every member resolved: closed once.
        for i in store.incidents() {
            crate::lifecycle::transition(
                &store,
                &i.id,
                crate::lifecycle::Action::Resolve,
                &crate::lifecycle::Actor {
                    by: "ana".into(),
                    source: "test".into(),
                    reference: None,
                },
                None,
                at_minutes(20),
                5,
            )
            .await
            .unwrap();
        }
        let r = run(&store, &rb, at_minutes(21), 5).await.unwrap();
        assert_eq!(r.closed, 1);
        let d = &records(&store, Kind::Digest)[0];
        assert_eq!(d.item.status, IncidentStatus::Resolved);
        assert!(d.closed_at.is_some() && d.closed_why.is_some());
        let r = run(&store, &rb, at_minutes(22), 5).await.unwrap();
        assert_eq!((r.closed, r.changed, r.opened), (0, 0, 0));
    });
}

#[test]
fn overlapping_runs_write_each_version_once() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let rb = Arc::new(Runbook::default());
        let store = Arc::new(MemoryStore::new());
        let mut fs = attack();
        fs.extend(
            (0..6).map(|i| probe(&format!("p{i}"), &format!("i-{i}"), "192.0.2.1", "LOW", i)),
        );
        ingest(&store, &rb, &fs, 40).await;
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let (s, rb) = (store.clone(), rb.clone());
                tokio::spawn(async move { run(&*s, &rb, at_minutes(41), 5).await.unwrap() })
            })
            .collect();
        let mut opened = 0;
        let mut marked = 0;
        for t in tasks {
            let r = t.await.unwrap();
            opened += r.opened;
            marked += r.marked;
        }
        assert_eq!(opened, 2, "one campaign and one digest, each written once");
        assert_eq!(marked, 2, "each member marked once");
        let first = at_minutes(41).timestamp_millis() as u64;
        assert!(store.queue_records().iter().all(|r| r.version == first));
    });
}

#[test]
fn a_campaign_escalates_through_one_member_and_a_digest_is_never_paged() {
    rt().block_on(async {
        let rb = Runbook::from_yaml(RB, "t").unwrap();
        let store = MemoryStore::new();
        let mut fs = attack();
        fs.push(probe("p0", "i-0", "192.0.2.1", "LOW", 1));
        ingest(&store, &rb, &fs, 40).await;
        let (q, e) = minute(&store, &rb, at_minutes(41), 5).await;
        let (q, e) = (q.unwrap(), e.unwrap());
        assert_eq!((q.campaigns, q.digests), (1, 1));
        assert_eq!(e.steps, 1, "the campaign pages once: {e:?}");
        assert_eq!(
            e.covered, 2,
            "its other member and the digest's probe: {e:?}"
        );
        let via = records(&store, Kind::Campaign)[0]
            .detail
            .escalates_via
            .clone()
            .unwrap();
        for i in store.incidents() {
            let notified = i.escalation.done.iter().any(|d| !d.skipped);
            assert_eq!(notified, i.id == via, "{}: {:?}", i.id, i.escalation);
            assert_eq!(
                i.escalation.next_check, i.response_deadline,
                "only the breach check is left: {}",
                i.id
            );
        }
        // Again at the same minute: nothing.
        let (_, e) = minute(&store, &rb, at_minutes(42), 5).await;
        assert_eq!(e.unwrap().steps, 0);
    });
}

#[test]
fn a_member_under_another_policy_than_the_escalating_one_escalates_on_its_own() {
    rt().block_on(async {
        let rb = Runbook::from_yaml(
            r#"
routes:
  pager: {}
  chat: {}
escalation:
  - name: high
    severities: [CRITICAL, HIGH]
    steps:
      - { id: page, at: open, route: pager }
  - name: medium
    severities: [MEDIUM]
    steps:
      - { id: post, at: open, route: chat }
"#,
            "t",
        )
        .unwrap();
        let store = MemoryStore::new();
        let mut fs = attack();
        fs.push(instance_hit("c", "i-db", "198.51.100.7", "MEDIUM", 35));
        ingest(&store, &rb, &fs, 40).await;
        let (q, e) = minute(&store, &rb, at_minutes(41), 5).await;
        let (q, e) = (q.unwrap(), e.unwrap());
        assert_eq!(q.campaigns, 1);
        assert_eq!(
            (e.steps, e.covered),
            (2, 1),
            "the campaign pages once; the MEDIUM member's own policy is not the campaign's, so it posts: {e:?}"
        );
    });
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    fn findings() -> Vec<Value> {
        let mut fs = attack();
        fs.push(instance_hit("c", "i-db", "198.51.100.7", "MEDIUM", 50));
        fs.push(instance_hit("d", "i-x", "203.0.113.5", "HIGH", 55));
        fs.push(key_finding("e", "other-role", "203.0.113.5", "HIGH", 56));
        fs.extend(
            (0..8).map(|i| probe(&format!("p{i}"), &format!("i-{i}"), "192.0.2.1", "LOW", i)),
        );
        // An update raising a probe to HIGH: it leaves the digest.
        fs.push(probe("p3", "i-3", "192.0.2.1", "HIGH", 60));
        fs
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Whatever the delivery order, redeliveries, how the schedule interleaves with
        /// ingestion (runs overlapping or not, at any time), the stored queue ends equal to the
        /// queue of the final incidents, every member marked with its campaign, and each
        /// item's versions strictly increasing.
        #[test]
        fn the_stored_queue_converges_whatever_the_interleaving(
            order in Just(findings()).prop_shuffle(),
            redeliver in proptest::collection::vec(any::<bool>(), 16),
            cuts in proptest::collection::vec((1usize..5, any::<bool>(), 0i64..30), 1..8),
        ) {
            // Updates after their originals, as Security Hub's UpdatedAt orders them.
            let mut order = order;
            order.sort_by_key(|f| f["Severity"]["Label"] == "HIGH" && f["Id"].as_str().is_some_and(|i| i.ends_with("p3")));
            let mut deliveries = Vec::new();
            for (i, f) in order.iter().enumerate() {
                deliveries.push(f.clone());
                if redeliver[i % redeliver.len()] {
                    deliveries.push(f.clone());
                }
            }
            let rb = Runbook::default();
            rt().block_on(async {
                let store = MemoryStore::new();
                let mut seen: BTreeMap<String, u64> = BTreeMap::new();
                let mut at = 100;
                let mut rest = deliveries.as_slice();
                let mut cut = cuts.iter().cycle();
                while !rest.is_empty() {
                    let (n, overlap, gap) = *cut.next().unwrap();
                    let (now, later) = rest.split_at(n.min(rest.len()));
                    rest = later;
                    ingest(&store, &rb, now, at).await;
                    at += gap;
                    let t = at_minutes(at);
                    if overlap {
                        let (a, b) = tokio::join!(run(&store, &rb, t, 5), run(&store, &rb, t, 5));
                        a.unwrap();
                        b.unwrap();
                    } else {
                        run(&store, &rb, t, 5).await.unwrap();
                    }
                    for r in store.queue_records() {
                        let prev = seen.insert(r.item.id.clone(), r.version).unwrap_or(0);
                        prop_assert!(r.version >= prev, "{} went back", r.item.id);
                    }
                    at += 1;
                }
                run(&store, &rb, at_minutes(at + 1), 5).await.unwrap();
                let queue = crate::queue::build(&store.incidents(), &rb);
                let want: BTreeMap<String, Vec<String>> = queue
                    .iter()
                    .filter(|q| q.kind != Kind::Incident)
                    .map(|q| (q.id.clone(), q.incident_ids.clone()))
                    .collect();
                let live: BTreeMap<String, Vec<String>> = store
                    .queue_records()
                    .into_iter()
                    .filter(|r| r.is_live())
                    .map(|r| (r.item.id.clone(), r.item.incident_ids.clone()))
                    .collect();
                prop_assert_eq!(
                    want.keys().collect::<Vec<_>>(),
                    live.keys().collect::<Vec<_>>()
                );
                for q in queue.iter().filter(|q| q.kind == Kind::Campaign) {
                    prop_assert_eq!(&live[&q.id], &q.incident_ids);
                }
                for i in store.incidents().iter().filter(|i| i.is_live()) {
                    let want = queue
                        .iter()
                        .find(|q| q.kind == Kind::Campaign && q.incident_ids.contains(&i.id))
                        .map(|q| q.id.clone());
                    prop_assert_eq!(&i.campaign, &want, "{}", i.id);
                }
                Ok(())
            })?;
        }
    }
}

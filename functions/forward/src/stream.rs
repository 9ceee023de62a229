//! Decoding the incident table's DynamoDB stream (as Lambda delivers it) into what to forward,
//! and the partial-batch response that makes Lambda retry from the right record.

use aws_lambda_events::event::dynamodb::EventRecord;
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use vigil_aws_dynamodb::items::{
    finding_from_image, image_is, incident_from_image, incident_id_of_keys, queue_from_image,
    wants_writeback, KIND_INCIDENT, KIND_QUEUE,
};
use vigil_domain::StoreError;
use vigil_wire::payload::{classify, classify_queue, IncidentPayload};

/// What to do with one stream record.
#[derive(Debug)]
pub enum RecordOutcome {
    /// Send this incident version to every sink that does not have it yet.
    Forward(Box<IncidentPayload>),
    /// Nothing for a SIEM (another item kind, a non-material change).
    Skip(&'static str),
    /// An incident left the table (its TTL expired): the finding records it held go too
    /// (`listed`: the members its last image lists; the others are found through the index).
    IncidentRemoved { id: String, listed: Vec<String> },
    /// A finding a runbook rule suppressed: Security Hub sinks set it `SUPPRESSED`.
    Suppressed(Box<vigil_domain::FindingRecord>),
    /// The image does not decode: logged and counted; retrying cannot fix it.
    Malformed(StoreError),
}

#[derive(Debug)]
pub struct StreamItem {
    pub sequence_number: Option<String>,
    pub outcome: RecordOutcome,
    /// What the change means for the response clock (an acknowledgement, a breach), with the
    /// incident's id and severity.
    pub clock: Vec<ClockSample>,
}

/// A response-clock event of one incident change (`TimeToAcknowledge`, `DeadlineBreached`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClockSample {
    pub incident_id: String,
    pub severity: vigil_domain::asff::SeverityLabel,
    pub event: vigil_domain::sla::ClockEvent,
}

fn is_incident(item: &serde_dynamo::Item) -> bool {
    image_is(item, KIND_INCIDENT)
}

pub fn decode(record: &EventRecord) -> StreamItem {
    let change = &record.change;
    let mut clock = Vec::new();
    let outcome = if record.event_name == "REMOVE" {
        match incident_id_of_keys(&change.keys) {
            Some(id) if is_incident(&change.old_image) || change.old_image.is_empty() => {
                let listed = incident_from_image(&change.old_image)
                    .map(|i| i.members.0)
                    .unwrap_or_default();
                RecordOutcome::IncidentRemoved { id, listed }
            }
            _ => RecordOutcome::Skip("item removed"),
        }
    } else if wants_writeback(&change.new_image) {
        match finding_from_image(&change.new_image) {
            Ok(r) => RecordOutcome::Suppressed(Box::new(r)),
            Err(e) => RecordOutcome::Malformed(e),
        }
    } else if image_is(&change.new_image, KIND_QUEUE) {
        // A campaign or digest the queue run wrote.
        match queue_from_image(&change.new_image) {
            Err(e) => RecordOutcome::Malformed(e),
            Ok(new) => {
                let old = image_is(&change.old_image, KIND_QUEUE)
                    .then(|| queue_from_image(&change.old_image).ok())
                    .flatten();
                match classify_queue(old.as_ref(), &new) {
                    Some(c) => {
                        RecordOutcome::Forward(Box::new(IncidentPayload::from_queue(&new, c)))
                    }
                    None => RecordOutcome::Skip("campaign or digest version already seen"),
                }
            }
        }
    } else if !is_incident(&change.new_image) {
        RecordOutcome::Skip("not an incident item")
    } else {
        match incident_from_image(&change.new_image) {
            Err(e) => RecordOutcome::Malformed(e),
            Ok(new) => {
                let old = if is_incident(&change.old_image) {
                    incident_from_image(&change.old_image).ok()
                } else {
                    None
                };
                clock = vigil_domain::sla::clock_events(old.as_ref(), &new)
                    .into_iter()
                    .map(|event| ClockSample {
                        incident_id: new.id.clone(),
                        severity: new.severity,
                        event,
                    })
                    .collect();
                match classify(old.as_ref(), &new) {
                    Some(c) => RecordOutcome::Forward(Box::new(IncidentPayload::new(&new, c))),
                    None => RecordOutcome::Skip("no change a SIEM needs"),
                }
            }
        }
    };
    StreamItem {
        sequence_number: change.sequence_number.clone(),
        outcome,
        clock,
    }
}

/// The response for a batch whose records before `first_failed` were all delivered: Lambda
/// checkpoints before the reported record and retries from it.
pub fn batch_response(first_failed: Option<&str>) -> DynamoDbEventResponse {
    let mut r = DynamoDbEventResponse::default();
    if let Some(seq) = first_failed {
        let mut f = DynamoDbBatchItemFailure::default();
        f.item_identifier = Some(seq.to_owned());
        r.batch_item_failures.push(f);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};
    use vigil_domain::incident::Incident;
    use vigil_wire::payload::ChangeKind;

    fn image(inc: &Incident, kind: &str) -> Value {
        let mut item: serde_dynamo::Item = serde_dynamo::to_item(inc).unwrap();
        item.insert(
            "entity_type".into(),
            serde_dynamo::AttributeValue::S(kind.into()),
        );
        serde_json::to_value(&item).unwrap()
    }

    fn record(name: &str, new: Option<Value>, old: Option<Value>, seq: &str) -> EventRecord {
        let mut d = json!({"Keys": {"pk": {"S": "I#x"}, "sk": {"S": "I"}}, "SequenceNumber": seq,
            "SizeBytes": 100, "StreamViewType": "NEW_AND_OLD_IMAGES", "ApproximateCreationDateTime": 1795000000.0});
        if let Some(n) = new {
            d["NewImage"] = n;
        }
        if let Some(o) = old {
            d["OldImage"] = o;
        }
        serde_json::from_value(
            json!({"awsRegion": "us-east-1", "eventID": "e", "eventName": name,
            "eventSource": "aws:dynamodb", "eventVersion": "1.1", "dynamodb": d}),
        )
        .unwrap()
    }

    #[test]
    fn an_inserted_incident_is_forwarded_with_its_sequence_number() {
        let inc = vigil_domain::testing::incident("f-1", "t", 1);
        let it = decode(&record(
            "INSERT",
            Some(image(&inc, "incident")),
            None,
            "100",
        ));
        assert_eq!(it.sequence_number.as_deref(), Some("100"));
        let RecordOutcome::Forward(p) = it.outcome else {
            panic!("{it:?}")
        };
        assert_eq!(p.change.kind, ChangeKind::Opened);
        assert_eq!(p.incident_id, inc.id);
    }

    #[test]
    fn other_items_removals_and_non_material_changes_are_skipped() {
        let inc = vigil_domain::testing::incident("f-1", "t", 1);
        let it = decode(&record("INSERT", Some(image(&inc, "finding")), None, "1"));
        assert!(matches!(
            it.outcome,
            RecordOutcome::Skip("not an incident item")
        ));
        let it = decode(&record("REMOVE", None, Some(image(&inc, "finding")), "2"));
        assert!(matches!(it.outcome, RecordOutcome::Skip("item removed")));
        let mut newer = inc.clone();
        newer.version = 2;
        newer.last_seen += chrono::Duration::minutes(1);
        let it = decode(&record(
            "MODIFY",
            Some(image(&newer, "incident")),
            Some(image(&inc, "incident")),
            "3",
        ));
        assert!(matches!(
            it.outcome,
            RecordOutcome::Skip("no change a SIEM needs")
        ));
    }

    #[test]
    fn a_removed_incident_is_reported_by_id_for_its_findings_to_go_too() {
        let inc = vigil_domain::testing::incident("f-1", "t", 1);
        let mut r = record("REMOVE", None, Some(image(&inc, "incident")), "2");
        r.change.keys.insert(
            "pk".into(),
            serde_dynamo::AttributeValue::S(format!("I#{}", inc.id)),
        );
        match decode(&r).outcome {
            RecordOutcome::IncidentRemoved { id, .. } => assert_eq!(id, inc.id),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_campaign_the_queue_run_wrote_is_forwarded_with_its_kind_and_a_replay_is_skipped() {
        let rb = vigil_domain::Runbook::default();
        let store = vigil_domain::MemoryStore::new();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let ip = "198.51.100.7";
        let hit = |id: &str, inst: &str| {
            vigil_domain::testing::Asff::guardduty(id)
                .instance(inst)
                .severity("HIGH")
                .set(
                    "Action",
                    json!({"ActionType": "NETWORK_CONNECTION", "NetworkConnectionAction": {
                        "ConnectionDirection": "INBOUND", "RemoteIpDetails": {"IpAddressV4": ip}}}),
                )
                .json()
        };
        rt.block_on(async {
            vigil_domain::ingest_values(
                &store,
                &rb,
                &vigil_domain::Settings::default(),
                &[hit("a", "i-1"), hit("b", "i-2")],
                chrono::Utc::now(),
            )
            .await
            .unwrap();
            vigil_domain::queue_store::run(&store, &rb, chrono::Utc::now(), 3)
                .await
                .unwrap();
        });
        let rec = store.queue_records().remove(0);
        let item = vigil_aws_dynamodb::items::queue_item(&rec).unwrap();
        let image: serde_dynamo::Item = item.into();
        let v = serde_json::to_value(&image).unwrap();
        let it = decode(&record("INSERT", Some(v.clone()), None, "7"));
        let RecordOutcome::Forward(p) = it.outcome else {
            panic!("{it:?}")
        };
        assert_eq!(p.kind, vigil_domain::queue::Kind::Campaign);
        assert_eq!(p.change.kind, ChangeKind::Opened);
        assert_eq!(p.incident_count, 2);
        assert_eq!(p.incident_id, rec.item.id);
        let it = decode(&record("MODIFY", Some(v.clone()), Some(v), "8"));
        assert!(matches!(it.outcome, RecordOutcome::Skip(_)), "{it:?}");
    }

    #[test]
    fn a_broken_image_is_malformed_not_a_panic() {
        let bad = json!({"entity_type": {"S": "incident"}, "id": {"N": "7"}});
        let it = decode(&record("INSERT", Some(bad), None, "9"));
        assert!(matches!(it.outcome, RecordOutcome::Malformed(_)), "{it:?}");
    }

    #[test]
    fn the_batch_response_reports_the_first_failed_record() {
        assert!(batch_response(None).batch_item_failures.is_empty());
        let r = batch_response(Some("42"));
        assert_eq!(
            r.batch_item_failures[0].item_identifier.as_deref(),
            Some("42")
        );
    }
}

//! The table `infra/template.yaml` deploys is the table the code creates and expects.

use std::collections::BTreeSet;

use serde_yaml_ng::Value as Yaml;
use vigil_e2e::{ddb_endpoint, fresh_store, root};

/// (index name, key schema as (attribute, key type), projection type)
type Gsi = (String, Vec<(String, String)>, String);

fn template() -> Yaml {
    let text = std::fs::read_to_string(root().join("infra/template.yaml")).unwrap();
    serde_yaml_ng::from_str(&text).unwrap()
}

fn s(v: &Yaml) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn the_deployed_table_definition_matches_the_one_the_code_creates() {
    let t = template();
    let table = &t["Resources"]["IncidentsTable"]["Properties"];
    let keys = |ks: &Yaml| -> Vec<(String, String)> {
        ks.as_sequence()
            .unwrap()
            .iter()
            .map(|k| (s(&k["AttributeName"]), s(&k["KeyType"])))
            .collect()
    };
    let tpl_keys = keys(&table["KeySchema"]);
    let tpl_gsis: BTreeSet<Gsi> = table["GlobalSecondaryIndexes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|g| {
            (
                s(&g["IndexName"]),
                keys(&g["KeySchema"]),
                s(&g["Projection"]["ProjectionType"]),
            )
        })
        .collect();
    assert_eq!(s(&table["TimeToLiveSpecification"]["AttributeName"]), "ttl");
    assert_eq!(
        s(&table["StreamSpecification"]["StreamViewType"]),
        "NEW_AND_OLD_IMAGES"
    );
    assert_eq!(s(&table["BillingMode"]), "PAY_PER_REQUEST");
    // The function gets the variables the code reads.
    let vars = &t["Resources"]["IngestFunction"]["Properties"]["Environment"]["Variables"];
    for v in [
        "TABLE_NAME",
        "VIGIL_RUNBOOK_YAML",
        "VIGIL_FINDING_TTL_DAYS",
        "VIGIL_INCIDENT_RETENTION_DAYS",
    ] {
        assert!(!vars[v].is_null(), "template does not set {v}");
    }

    let Some(ep) = ddb_endpoint() else { return };
    let store = fresh_store(&ep, "infra").await;
    let d = store
        .client()
        .describe_table()
        .table_name(store.table())
        .send()
        .await
        .unwrap();
    let desc = d.table.unwrap();
    let code_keys: Vec<(String, String)> = desc
        .key_schema()
        .iter()
        .map(|k| {
            (
                k.attribute_name().to_owned(),
                k.key_type().as_str().to_owned(),
            )
        })
        .collect();
    assert_eq!(code_keys, tpl_keys);
    let code_gsis: BTreeSet<Gsi> = desc
        .global_secondary_indexes()
        .iter()
        .map(|g| {
            (
                g.index_name().unwrap_or_default().to_owned(),
                g.key_schema()
                    .iter()
                    .map(|k| {
                        (
                            k.attribute_name().to_owned(),
                            k.key_type().as_str().to_owned(),
                        )
                    })
                    .collect(),
                g.projection()
                    .and_then(|p| p.projection_type())
                    .map(|p| p.as_str().to_owned())
                    .unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(code_gsis, tpl_gsis);
    let stream = desc.stream_specification().unwrap();
    assert_eq!(
        stream.stream_view_type().map(|v| v.as_str()),
        Some("NEW_AND_OLD_IMAGES")
    );
    let ttl = store
        .client()
        .describe_time_to_live()
        .table_name(store.table())
        .send()
        .await
        .unwrap();
    assert_eq!(
        ttl.time_to_live_description()
            .and_then(|t| t.attribute_name()),
        Some("ttl")
    );
}

#[test]
fn the_forward_event_source_mapping_keeps_only_incident_changes_and_reports_item_failures() {
    let t = template();
    let f = &t["Resources"]["ForwardFunction"]["Properties"];
    let ev = &f["Events"]["IncidentStream"]["Properties"];
    assert_eq!(
        s(&ev["FunctionResponseTypes"][0]),
        "ReportBatchItemFailures"
    );
    assert_eq!(ev["BisectBatchOnFunctionError"].as_bool(), Some(true));
    assert_eq!(s(&ev["DestinationConfig"]["OnFailure"]["Type"]), "SQS");
    let pattern: serde_json::Value =
        serde_json::from_str(&s(&ev["FilterCriteria"]["Filters"][0]["Pattern"])).unwrap();
    // The same attribute and value the store writes and the forwarder decodes.
    assert_eq!(
        pattern["dynamodb"]["NewImage"]["entity_type"]["S"],
        serde_json::json!([
            vigil_aws_dynamodb::items::KIND_INCIDENT,
            vigil_aws_dynamodb::items::KIND_QUEUE
        ])
    );
    assert_eq!(
        pattern["eventName"],
        serde_json::json!(["INSERT", "MODIFY"])
    );
    // An incident's removal (TTL) too, by its key prefix: its finding records go with it.
    let removal: serde_json::Value =
        serde_json::from_str(&s(&ev["FilterCriteria"]["Filters"][1]["Pattern"])).unwrap();
    assert_eq!(removal["eventName"], serde_json::json!(["REMOVE"]));
    let prefix = removal["dynamodb"]["Keys"]["pk"]["S"][0]["prefix"]
        .as_str()
        .unwrap();
    assert_eq!(
        prefix,
        &vigil_aws_dynamodb::items::incident_pk("")[..],
        "the key prefix the store writes"
    );
    // The outbox drain: every minute, with the input the handler recognises.
    let drain = &f["Events"]["OutboxDrain"]["Properties"];
    assert_eq!(s(&drain["ScheduleExpression"]), "rate(1 minute)");
    let input: serde_json::Value = serde_json::from_str(&s(&drain["Input"])).unwrap();
    assert!(matches!(
        forward::trigger(input),
        Ok(forward::Trigger::Drain)
    ));
    // Stream failures only when the table fails: retried for the stream's whole retention.
    assert_eq!(
        t["Parameters"]["ForwardMaximumRetryAttempts"]["Default"].as_i64(),
        Some(-1)
    );
    // The environment the code reads.
    let env = &f["Environment"]["Variables"];
    for k in ["TABLE_NAME", "VIGIL_SINKS", "VIGIL_INCIDENT_RETENTION_DAYS"] {
        assert!(!env[k].is_null(), "{k}");
    }
    // The default sinks parameter is a valid (empty) configuration.
    let default = s(&t["Parameters"]["SinksConfig"]["Default"]);
    vigil_wire::sinks::SinksConfig::parse(&default).unwrap();
}

#[test]
fn ingest_is_least_privilege_and_its_rules_filter_only_imported_findings() {
    let t = template();
    let f = &t["Resources"]["IngestFunction"]["Properties"];
    let stmts = role_statements(&t, "IngestRole");
    let table = stmts
        .iter()
        .find(|st| s(&st["Sid"]) == "IncidentsTableAccess")
        .unwrap();
    let actions: BTreeSet<String> = table["Action"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(s)
        .collect();
    // What DynamoStore calls: BatchGetItem and conditional PutItem (no transactions).
    let want: BTreeSet<String> = ["dynamodb:BatchGetItem", "dynamodb:PutItem"]
        .iter()
        .map(|x| x.to_string())
        .collect();
    assert_eq!(actions, want);
    // Its own item kinds only: finding records, heads, incidents (the store's prefixes).
    let keys: BTreeSet<String> = table["Condition"]["ForAllValues:StringLike"]
        ["dynamodb:LeadingKeys"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(s)
        .collect();
    let want: BTreeSet<String> = [
        vigil_aws_dynamodb::items::finding_pk("*"),
        vigil_aws_dynamodb::items::head_pk("*"),
        vigil_aws_dynamodb::items::incident_pk("*"),
        vigil_aws_dynamodb::items::queue_pk("*"),
    ]
    .into_iter()
    .collect();
    assert_eq!(keys, want);
    // Rule hit counts: UpdateItem on the rule-statistics items only.
    let stats = stmts
        .iter()
        .find(|st| s(&st["Sid"]) == "RuleStatsUpdate")
        .unwrap();
    assert_eq!(s(&stats["Action"]), "dynamodb:UpdateItem");
    assert_eq!(
        s(&stats["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"][0]),
        vigil_aws_dynamodb::rule_stats::rule_pk("*")
    );
    // The runbook object: read only.
    let runbook = stmts
        .iter()
        .find(|st| s(&st["Sid"]) == "RunbookRead")
        .unwrap();
    assert_eq!(s(&runbook["Action"]), "s3:GetObject");
    assert!(!f["Environment"]["Variables"]["VIGIL_RUNBOOK_S3_URI"].is_null());
    let events = &f["Events"];
    let imported = &events["SecurityHubFindings"]["Properties"]["Pattern"];
    assert_eq!(
        s(&imported["detail-type"][0]),
        "Security Hub Findings - Imported"
    );
    assert!(!imported["detail"]["findings"]["RecordState"].is_null());
    let custom = &events["SecurityHubCustomAction"]["Properties"]["Pattern"];
    assert_eq!(
        s(&custom["detail-type"][0]),
        "Security Hub Findings - Custom Action"
    );
    assert!(
        custom["detail"].is_null(),
        "custom actions are never filtered"
    );
    // Escalation: every minute, the escalation partition of the index only.
    let esc = &events["EscalationSchedule"]["Properties"];
    assert_eq!(s(&esc["ScheduleExpression"]), "rate(1 minute)");
    let input: serde_json::Value = serde_json::from_str(&s(&esc["Input"])).unwrap();
    assert_eq!(input["detail-type"], "Vigil Escalation");
    let q = role_statements(&t, "IngestRole")
        .into_iter()
        .find(|st| s(&st["Sid"]) == "EscalationIndexQuery")
        .unwrap();
    assert_eq!(s(&q["Action"]), "dynamodb:Query");
    let parts: Vec<String> = q["Condition"]["ForAllValues:StringEquals"]["dynamodb:LeadingKeys"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(s)
        .collect();
    assert_eq!(
        parts,
        [
            vigil_aws_dynamodb::items::ESCALATE_PARTITION,
            vigil_aws_dynamodb::items::QUEUE_PARTITION
        ]
    );
    // The queue run lists the live incidents from the by-status index, those statuses only.
    let live = role_statements(&t, "IngestRole")
        .into_iter()
        .find(|st| s(&st["Sid"]) == "LiveIncidentsQuery")
        .unwrap();
    assert!(format!("{:?}", live["Resource"]).contains(&format!(
        "/index/{}",
        vigil_aws_dynamodb::items::GSI_BY_STATUS
    )));
    let statuses: Vec<String> = live["Condition"]["ForAllValues:StringEquals"]
        ["dynamodb:LeadingKeys"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(s)
        .collect();
    assert_eq!(statuses, ["OPEN", "ACKNOWLEDGED"]);
    // The default record states keep ARCHIVED (how incidents learn a finding went away).
    let states = s(&t["Parameters"]["ImportedRecordStates"]["Default"]);
    assert!(states.contains("ARCHIVED"), "{states}");
}

fn role_statements(t: &Yaml, role: &str) -> Vec<Yaml> {
    t["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        .as_sequence()
        .unwrap()
        .clone()
}

/// No function role carries a managed policy, and nothing but X-Ray, ListStreams and
/// Organizations' ListRoots (which have no resource-level permissions) is granted on `*`; the
/// stream is read by ARN.
#[test]
fn function_roles_are_scoped_and_carry_no_managed_policies() {
    let t = template();
    for (function, role) in [
        ("IngestFunction", "IngestRole"),
        ("ForwardFunction", "ForwardRole"),
        ("ManageFunction", "ManageRole"),
    ] {
        let f = &t["Resources"][function]["Properties"];
        assert!(
            f["Policies"].is_null(),
            "{function}: SAM would add managed policies"
        );
        assert!(!f["Role"].is_null(), "{function} has its own role");
        let r = &t["Resources"][role]["Properties"];
        assert!(r["ManagedPolicyArns"].is_null(), "{role}");
        for st in role_statements(&t, role) {
            if st["Resource"].as_str() == Some("*") {
                let actions: Vec<String> = match &st["Action"] {
                    Yaml::Sequence(a) => a.iter().map(s).collect(),
                    one => vec![s(one)],
                };
                for a in actions {
                    assert!(
                        a.starts_with("xray:")
                            || a == "dynamodb:ListStreams"
                            || a == "organizations:ListRoots"
                            || (a.starts_with("guardduty:")
                                && !st["Condition"]["StringEquals"]["aws:ResourceAccount"]
                                    .is_null()),
                        "{role}: {a} on *"
                    );
                }
            }
        }
    }
    let stream = role_statements(&t, "ForwardRole")
        .into_iter()
        .find(|st| s(&st["Sid"]) == "IncidentStream")
        .unwrap();
    assert!(format!("{:?}", stream["Resource"]).contains("StreamArn"));
}

/// The dashboard body is JSON once CloudFormation substitutes it, and it graphs only metrics
/// the functions emit.
#[test]
fn the_dashboard_is_valid_json_and_graphs_emitted_metrics() {
    let text = std::fs::read_to_string(root().join("infra/template.yaml")).unwrap();
    // serde_yaml_ng keeps the !Sub tag's sequence: [template, variables].
    let t: Yaml = serde_yaml_ng::from_str(&text).unwrap();
    let body = &t["Resources"]["Dashboard"]["Properties"]["DashboardBody"];
    let tagged = match body {
        Yaml::Tagged(tv) => tv.value.clone(),
        other => panic!("DashboardBody is not a !Sub: {other:?}"),
    };
    let template = s(&tagged[0]);
    // Substitute like Fn::Sub: ${!Literal} -> ${Literal}, ${Name} -> a value.
    let mut out = String::new();
    let mut rest = template.as_str();
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let end = rest[at..].find('}').unwrap() + at;
        let name = &rest[at + 2..end];
        match name.strip_prefix('!') {
            Some(lit) => out.push_str(&format!("${{{lit}}}")),
            None => out.push('x'),
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    let dash: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}\n{out}"));
    let widgets = dash["widgets"].as_array().unwrap();
    assert_eq!(widgets.len(), 11);
    // Every Vigil metric named in a widget is one the code emits.
    let emitted = [
        "FindingsReceived",
        "FindingsNew",
        "FindingsUpdated",
        "FindingsDuplicate",
        "FindingsInvalid",
        "InvocationsFailed",
        "IncidentsOpened",
        "Deliveries",
        "DeliveryFailures",
        "OutboxPending",
        "OutboxOldestAgeSeconds",
        "Queued",
        "DeadLettered",
        "TimeToAcknowledge",
        "DeadlineBreached",
        "QueueCampaigns",
        "QueueDigests",
        "QueueItemsWritten",
        "EscalationSteps",
        "EscalationCovered",
    ];
    let lines = [
        ingest::metrics::emf_line(&ingest::Summary::default(), false, 0),
        forward::metrics::batch_lines(
            &{
                let mut r = vigil_delivery::BatchReport::default();
                r.per_sink
                    .insert("s".into(), vigil_delivery::SinkStats::default());
                r
            },
            0,
        )
        .join("\n"),
        forward::metrics::drain_lines(&vigil_delivery::dispatch::DrainReport::default(), 0)
            .join("\n"),
        forward::metrics::clock_lines(
            &[
                forward::stream::ClockSample {
                    incident_id: "i".into(),
                    severity: vigil_domain::asff::SeverityLabel::Critical,
                    event: vigil_domain::sla::ClockEvent::Acknowledged { seconds: 1 },
                },
                forward::stream::ClockSample {
                    incident_id: "i".into(),
                    severity: vigil_domain::asff::SeverityLabel::Critical,
                    event: vigil_domain::sla::ClockEvent::Breached,
                },
            ],
            0,
        )
        .join("\n"),
    ]
    .join("\n");
    for m in emitted {
        assert!(lines.contains(&format!("\"{m}\"")), "{m} is not emitted");
        assert!(out.contains(m), "{m} not on the dashboard");
    }
}

#[test]
fn make_deploy_creates_the_custom_action_targets_ingest_understands() {
    // CloudFormation has no resource for Security Hub action targets: deploy.sh creates them.
    let script = std::fs::read_to_string(root().join("scripts/deploy.sh")).unwrap();
    let start = script.find("ACTION_TARGET_LIST='").unwrap() + "ACTION_TARGET_LIST='".len();
    let list = &script[start..start + script[start..].find('\'').unwrap()];
    let mut ids: Vec<String> = Vec::new();
    // The manage function creates the same action targets (runbook manage.securityhub).
    let managed: Vec<String> = vigil_domain::manage::plan::VIGIL_ACTION_TARGETS
        .iter()
        .map(|(i, n, d)| format!("{i}|{n}|{d}"))
        .collect();
    assert_eq!(list.lines().collect::<Vec<_>>(), managed);
    for line in list.lines() {
        let parts: Vec<&str> = line.split('|').collect();
        assert_eq!(parts.len(), 3, "{line}");
        let (id, name, description) = (parts[0], parts[1], parts[2]);
        assert!(
            id.len() <= 20 && id.chars().all(|c| c.is_ascii_alphanumeric()),
            "{id}"
        );
        assert!(
            name.chars().count() <= 20,
            "Security Hub allows 20 characters: {name}"
        );
        assert!(!description.is_empty() && description.len() <= 256);
        ids.push(id.to_owned());
    }
    ids.sort();
    let mut known: Vec<String> = vigil_domain::lifecycle::ACTION_TARGETS
        .iter()
        .map(|(id, _)| (*id).to_owned())
        .collect();
    known.sort();
    assert_eq!(ids, known);
    assert!(!std::fs::read_to_string(root().join("infra/template.yaml"))
        .unwrap()
        .contains("AWS::SecurityHub::ActionTarget"));
}

/// The manage function: one run at a time, hourly by default, on the account-creation events
/// the function understands, and its failures kept and alarmed.
#[test]
fn the_manage_function_runs_alone_on_its_schedule_and_on_new_accounts() {
    let t = template();
    let f = &t["Resources"]["ManageFunction"]["Properties"];
    assert_eq!(f["ReservedConcurrentExecutions"].as_u64(), Some(1));
    assert_eq!(
        t["Parameters"]["ManageSchedule"]["Default"].as_str(),
        Some("rate(1 hour)")
    );
    let pattern = &f["Events"]["AccountCreated"]["Properties"]["Pattern"];
    let names: Vec<String> = pattern["detail"]["eventName"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(s)
        .collect();
    for (source, name, status) in [
        (
            "aws.organizations",
            "CreateAccountResult",
            "createAccountStatus",
        ),
        (
            "aws.controltower",
            "CreateManagedAccount",
            "createManagedAccountStatus",
        ),
        (
            "aws.controltower",
            "UpdateManagedAccount",
            "updateManagedAccountStatus",
        ),
    ] {
        assert!(names.contains(&name.to_owned()), "{name}");
        let id = "123456789012";
        let st = if source == "aws.organizations" {
            serde_json::json!({"state": "SUCCEEDED", "accountId": id})
        } else {
            serde_json::json!({"state": "SUCCEEDED", "account": {"accountId": id}})
        };
        let ev = serde_json::json!({"source": source, "detail": {"eventName": name, "serviceEventDetails": {status: st}}});
        assert!(matches!(
            manage::event::classify(&ev),
            manage::event::Trigger::AccountCreated { .. }
        ));
    }
    assert!(!f["EventInvokeConfig"]["DestinationConfig"]["OnFailure"].is_null());
    for alarm in [
        "ManageErrorsAlarm",
        "ManageProblemsAlarm",
        "ManageFailureQueueAlarm",
    ] {
        assert!(!t["Resources"][alarm].is_null(), "{alarm}");
    }
    // The management account's routing sends the same events.
    let org: Yaml = serde_yaml_ng::from_str(
        &std::fs::read_to_string(root().join("infra/org-events.yaml")).unwrap(),
    )
    .unwrap();
    let routed = &org["Resources"]["AccountCreatedRule"]["Properties"]["EventPattern"];
    assert_eq!(
        routed["detail"]["eventName"],
        pattern["detail"]["eventName"]
    );
}

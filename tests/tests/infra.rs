//! The table `infra/template.yaml` deploys is the table the code creates and expects.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

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

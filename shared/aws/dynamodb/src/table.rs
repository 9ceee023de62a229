//! The table definition, as `infra/template.yaml` declares it (a test compares the two), for
//! local use and tests.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
    TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;
use vigil_domain::StoreError;

use crate::errors::{classify, rejected};
use crate::items::{ATTR_INCIDENT, ATTR_STATUS, GSI_BY_INCIDENT, GSI_BY_STATUS, GSI_OUTBOX};

/// Creates the table as `infra/template.yaml` defines it (for local use and tests), and enables
/// TTL. Succeeds if it already exists.
pub async fn ensure_table(client: &Client, table: &str) -> Result<(), StoreError> {
    let s_attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|e| rejected("AttributeDefinition", e))
    };
    let key = |name: &str, kt: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kt)
            .build()
            .map_err(|e| rejected("KeySchemaElement", e))
    };
    let gsi = |name: &str, pk: &str, sk: &str| -> Result<GlobalSecondaryIndex, StoreError> {
        GlobalSecondaryIndex::builder()
            .index_name(name)
            .key_schema(key(pk, KeyType::Hash)?)
            .key_schema(key(sk, KeyType::Range)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()
            .map_err(|e| rejected("GlobalSecondaryIndex", e))
    };
    let result = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(s_attr("pk")?)
        .attribute_definitions(s_attr("sk")?)
        .attribute_definitions(s_attr(ATTR_INCIDENT)?)
        .attribute_definitions(s_attr(ATTR_STATUS)?)
        .attribute_definitions(s_attr("gsi3pk")?)
        .attribute_definitions(s_attr("gsi3sk")?)
        .key_schema(key("pk", KeyType::Hash)?)
        .key_schema(key("sk", KeyType::Range)?)
        .global_secondary_indexes(keys_only(gsi(GSI_BY_INCIDENT, ATTR_INCIDENT, "pk")?))
        .global_secondary_indexes(keys_only(gsi(GSI_BY_STATUS, ATTR_STATUS, "pk")?))
        .global_secondary_indexes(keys_only(gsi(GSI_OUTBOX, "gsi3pk", "gsi3sk")?))
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .map_err(|e| rejected("StreamSpecification", e))?,
        )
        .send()
        .await;
    match result {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_resource_in_use_exception()) =>
        {
            return Ok(());
        }
        Err(e) => return Err(classify("CreateTable", e)),
    }
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("ttl")
                .enabled(true)
                .build()
                .map_err(|e| rejected("TimeToLiveSpecification", e))?,
        )
        .send()
        .await
        .map_err(|e| classify("UpdateTimeToLive", e))?;
    Ok(())
}

/// Deletes a table (tests use a fresh table each).
pub async fn delete_table(client: &Client, table: &str) -> Result<(), StoreError> {
    client
        .delete_table()
        .table_name(table)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| classify("DeleteTable", e))
}

/// The same index, projecting keys only.
fn keys_only(mut g: GlobalSecondaryIndex) -> GlobalSecondaryIndex {
    g.projection = Some(
        Projection::builder()
            .projection_type(ProjectionType::KeysOnly)
            .build(),
    );
    g
}

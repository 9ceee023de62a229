//! The forwarder's ports on DynamoDB: per-destination delivery state in the incident table
//! ([`DynamoLedger`]), and an incident's recent findings from gsi1 ([`DynamoFindings`]).
//!
//! Delivery state item: pk `D#<incident id>`, sk `D`, `entity_type = delivery`, one number
//! attribute per sink, `s_<sink name>` = highest version that sink has. Updated with
//! `SET #s = :v` conditioned on `attribute_not_exists(#s) OR #s < :v`, so concurrent or
//! replayed batches never lower it. The stream sees these writes; the forwarder skips them and
//! the event source mapping's filter drops them before the function is invoked.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use futures::future::BoxFuture;
use vigil_domain::ports::{Delivered, DeliveryLedger, FindingSource};
use vigil_domain::{FindingRecord, StoreError};

use crate::errors::classify;
use crate::items::{decode, delivery_pk, incident_findings_pk, GSI_BY_INCIDENT, KIND_DELIVERY};
use crate::store::batch_get_items;

/// Attribute holding a sink's delivered version.
pub fn sink_attr(sink: &str) -> String {
    format!("s_{sink}")
}

#[derive(Debug, Clone)]
pub struct DynamoLedger {
    client: Client,
    table: String,
    /// How long delivery state is kept (TTL), like incidents.
    retention: chrono::Duration,
}

impl DynamoLedger {
    pub fn new(client: Client, table: impl Into<String>, retention: chrono::Duration) -> Self {
        Self {
            client,
            table: table.into(),
            retention,
        }
    }
}

fn versions(item: &HashMap<String, AttributeValue>) -> HashMap<String, u64> {
    item.iter()
        .filter_map(|(k, v)| {
            let sink = k.strip_prefix("s_")?;
            let AttributeValue::N(n) = v else { return None };
            Some((sink.to_owned(), n.parse().ok()?))
        })
        .collect()
}

impl DeliveryLedger for DynamoLedger {
    fn delivered<'a>(
        &'a self,
        incident_ids: &'a [String],
    ) -> BoxFuture<'a, Result<Delivered, StoreError>> {
        Box::pin(async move {
            let pks = incident_ids.iter().map(|id| delivery_pk(id)).collect();
            let (items, _) = batch_get_items(&self.client, &self.table, pks, "D").await?;
            let mut out = Delivered::new();
            for item in items {
                if let Some(AttributeValue::S(pk)) = item.get("pk") {
                    if let Some(id) = pk.strip_prefix("D#") {
                        out.insert(id.to_owned(), versions(&item));
                    }
                }
            }
            Ok(out)
        })
    }

    fn record<'a>(
        &'a self,
        incident_id: &'a str,
        sink: &'a str,
        version: u64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let ttl = (chrono::Utc::now() + self.retention).timestamp();
            let r = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", AttributeValue::S(delivery_pk(incident_id)))
                .key("sk", AttributeValue::S("D".into()))
                .update_expression("SET #s = :v, entity_type = :t, #ttl = :ttl")
                .condition_expression("attribute_not_exists(#s) OR #s < :v")
                .expression_attribute_names("#s", sink_attr(sink))
                .expression_attribute_names("#ttl", "ttl")
                .expression_attribute_values(":v", AttributeValue::N(version.to_string()))
                .expression_attribute_values(":t", AttributeValue::S(KIND_DELIVERY.into()))
                .expression_attribute_values(":ttl", AttributeValue::N(ttl.to_string()))
                .send()
                .await;
            match r {
                Ok(_) => Ok(()),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
                {
                    // The sink already has this version or a newer one.
                    Ok(())
                }
                Err(e) => Err(classify("UpdateItem", e)),
            }
        })
    }
}

/// The incident's most recent findings (gsi1, newest first).
#[derive(Debug, Clone)]
pub struct DynamoFindings {
    client: Client,
    table: String,
}

impl DynamoFindings {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

impl FindingSource for DynamoFindings {
    fn recent<'a>(
        &'a self,
        incident_id: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<FindingRecord>, StoreError>> {
        Box::pin(async move {
            let resp = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI_BY_INCIDENT)
                .key_condition_expression("gsi1pk = :p")
                .expression_attribute_values(
                    ":p",
                    AttributeValue::S(incident_findings_pk(incident_id)),
                )
                .scan_index_forward(false)
                .limit(i32::try_from(limit.clamp(1, 100)).unwrap_or(100))
                .send()
                .await
                .map_err(|e| classify("Query", e))?;
            resp.items
                .unwrap_or_default()
                .into_iter()
                .map(decode)
                .collect()
        })
    }
}

//! Runbook rule hit counts: one item per rule (`R#<rule id>`, sk `R`), updated with one
//! `UpdateItem` per rule per invocation (`ADD` counters, `SET` the last match).
//!
//! | attribute | meaning |
//! |---|---|
//! | `rid` | the rule id |
//! | `n` | finding states it matched |
//! | `x_<action>` | states each action was applied to (`x_suppress`, `x_set_severity`, ...) |
//! | `rf` | actions refused for safety |
//! | `lm` | last match (RFC 3339, the ingest's delivery time) |
//! | `entity_type` | `rule_stat` (the forwarder's stream filter passes only incidents) |

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use vigil_domain::triage::{RuleHits, RuleStat};
use vigil_domain::StoreError;

use crate::errors::classify;
use crate::store::DynamoStore;

/// The actions a rule can take (the attribute `x_<action>` of each).
const ACTIONS: [&str; 6] = [
    "suppress",
    "set_severity",
    "set_environment",
    "set_owner",
    "route",
    "note",
];

pub const KIND_RULE_STAT: &str = "rule_stat";

pub fn rule_pk(id: &str) -> String {
    format!("R#{id}")
}

impl DynamoStore {
    /// Adds one invocation's hits: one `UpdateItem` per rule, concurrently.
    pub async fn add_rule_hits(
        &self,
        hits: &RuleHits,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let updates = hits.iter().map(|(id, h)| {
            let mut expr = vec!["n :n".to_owned(), "rf :rf".to_owned()];
            let mut req = self
                .client()
                .update_item()
                .table_name(self.table())
                .key("pk", AttributeValue::S(rule_pk(id)))
                .key("sk", AttributeValue::S("R".into()))
                .expression_attribute_values(":n", AttributeValue::N(h.matches.to_string()))
                .expression_attribute_values(":rf", AttributeValue::N(h.refused.to_string()))
                .expression_attribute_values(":lm", AttributeValue::S(at.to_rfc3339()))
                .expression_attribute_values(":rid", AttributeValue::S(id.clone()))
                .expression_attribute_values(":et", AttributeValue::S(KIND_RULE_STAT.into()));
            for (i, a) in ACTIONS.iter().enumerate() {
                if let Some(n) = h.actions.get(*a) {
                    expr.push(format!("#x{i} :x{i}"));
                    req = req
                        .expression_attribute_names(format!("#x{i}"), format!("x_{a}"))
                        .expression_attribute_values(
                            format!(":x{i}"),
                            AttributeValue::N(n.to_string()),
                        );
                }
            }
            let update = format!(
                "ADD {} SET lm = :lm, rid = :rid, entity_type = :et",
                expr.join(", ")
            );
            self.count_write();
            req.update_expression(update).send()
        });
        for r in futures::future::join_all(updates).await {
            r.map_err(|e| classify("UpdateItem", e))?;
        }
        Ok(())
    }

    /// Every rule's counts, by rule id.
    pub async fn rule_stats(&self) -> Result<Vec<RuleStat>, StoreError> {
        let mut out = Vec::new();
        let mut pages = self
            .client()
            .scan()
            .table_name(self.table())
            .filter_expression("begins_with(pk, :p)")
            .expression_attribute_values(":p", AttributeValue::S("R#".into()))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("Scan", e))?;
            for item in page.items.unwrap_or_default() {
                let num = |k: &str| match item.get(k) {
                    Some(AttributeValue::N(n)) => n.parse::<u64>().unwrap_or(0),
                    _ => 0,
                };
                let Some(AttributeValue::S(rule)) = item.get("rid") else {
                    continue;
                };
                let mut actions = BTreeMap::new();
                for a in ACTIONS {
                    let n = num(&format!("x_{a}"));
                    if n > 0 {
                        actions.insert(a.to_owned(), n);
                    }
                }
                let last_match = match item.get("lm") {
                    Some(AttributeValue::S(s)) => DateTime::parse_from_rfc3339(s)
                        .ok()
                        .map(|d| d.with_timezone(&Utc)),
                    _ => None,
                };
                out.push(RuleStat {
                    rule: rule.clone(),
                    matches: num("n"),
                    actions,
                    refused: num("rf"),
                    last_match,
                });
            }
        }
        out.sort_by(|a, b| a.rule.cmp(&b.rule));
        Ok(out)
    }
}

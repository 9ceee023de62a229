//! Vigil's DynamoDB adapter: the domain's store and delivery-state ports on one table.
//!
//! # Layout
//! - [`items`]: the item layout (keys, item kinds, GSIs, TTL) shared by writers and the
//!   stream's consumers; [`codec`]: compressed item bodies.
//! - [`store`]: [`DynamoStore`], the incident store (strongly consistent reads, ordered
//!   conditional writes) and its read side for the CLI.
//! - [`ledger`]: [`DynamoLedger`] (per-destination delivery state) and [`DynamoFindings`] (an
//!   incident's recent findings).
//! - [`errors`]: SDK errors as the domain's `StoreError`, including transaction cancellations.
//! - [`table`]: the table definition, as `infra/template.yaml` declares it.

pub mod codec;
pub mod errors;
pub mod items;
pub mod ledger;
pub mod rule_stats;
pub mod store;
pub mod table;

pub use ledger::{DynamoFindings, DynamoLedger};
pub use store::DynamoStore;
pub use table::{delete_table, ensure_table};

/// A DynamoDB client configured from the environment (region, credentials, endpoint).
pub async fn client() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&vigil_aws::sdk_config().await)
}

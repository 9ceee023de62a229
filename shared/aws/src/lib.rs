//! Vigil's AWS adapters: the DynamoDB implementation of the domain's store ports, SDK client
//! construction and configuration from the environment.
//!
//! # Layout
//! - [`dynamo`]: [`dynamo::DynamoStore`] (conditional, transactional writes) and the table
//!   definition used locally ([`dynamo::ensure_table`]); `infra/template.yaml` mirrors it.
//! - [`delivery`]: the forwarder's ports: per-sink delivery state, recent findings, Secrets
//!   Manager.
//! - [`streams`]: reading the table's stream like Lambda's event source mapping.
//! - [`config`]: [`config::IngestConfig`], read once per cold start.
//! - [`dynamodb_client`]: an SDK client from the standard AWS environment (so
//!   `AWS_ENDPOINT_URL_DYNAMODB` points it at DynamoDB Local).

pub mod config;
pub mod delivery;
pub mod dynamo;
pub mod streams;

pub use config::{ConfigError, ForwardConfig, IngestConfig};
pub use delivery::{DynamoFindings, DynamoLedger, SecretsManager};
pub use dynamo::DynamoStore;

/// A DynamoDB client configured from the environment (region, credentials, endpoint).
pub async fn dynamodb_client() -> aws_sdk_dynamodb::Client {
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    aws_sdk_dynamodb::Client::new(&conf)
}

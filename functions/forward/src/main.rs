//! Composition root of the `forward` Lambda: tracing, configuration, ports, sinks, run.
#![recursion_limit = "256"]

use std::sync::Arc;

use forward::{config::ForwardConfig, handle, Deps};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use vigil_aws_dynamodb::{DynamoFindings, DynamoLedger, DynamoStore};
use vigil_aws_secrets::SecretsManager;
use vigil_delivery::{Dispatcher, Secrets};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = ForwardConfig::from_env()?;
    let ddb = vigil_aws_dynamodb::client().await;
    let secrets = Secrets::new(Arc::new(SecretsManager::from_env().await));
    let dispatcher = Dispatcher::new(
        &config.sinks,
        &secrets,
        Arc::new(DynamoLedger::new(
            ddb.clone(),
            &config.table_name,
            config.retention,
        )),
        Some(Arc::new(DynamoFindings::new(
            ddb.clone(),
            &config.table_name,
        ))),
    )?;
    let dispatcher = if dispatcher.has_sns() {
        dispatcher.with_publisher(Arc::new(vigil_aws_sns::Sns::from_env().await))
    } else {
        dispatcher
    };
    let dispatcher = if dispatcher.has_securityhub() {
        dispatcher.with_finding_writer(Arc::new(
            vigil_aws_securityhub::SecurityHub::from_env().await,
        ))
    } else {
        dispatcher
    };
    tracing::info!(sinks = ?dispatcher.sink_names(), "forwarder ready");
    let deps = &Deps {
        dispatcher,
        cleanup: Some(Arc::new(DynamoStore::new(ddb, &config.table_name))),
        emit_metrics: true,
    };
    run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move { handle(deps, event).await },
    ))
    .await
}

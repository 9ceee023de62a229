//! Composition root of the `forward` Lambda: tracing, configuration, ports, sinks, run.
#![recursion_limit = "256"]

use std::sync::Arc;

use forward::{handle, Deps};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use vigil_aws::{dynamodb_client, DynamoFindings, DynamoLedger, ForwardConfig, SecretsManager};
use vigil_forward::{Forwarder, Secrets};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = ForwardConfig::from_env()?;
    let ddb = dynamodb_client().await;
    let secrets = Secrets::new(Arc::new(SecretsManager::from_env().await));
    let forwarder = Forwarder::new(
        &config.sinks,
        &secrets,
        Arc::new(DynamoLedger::new(
            ddb.clone(),
            &config.table_name,
            config.retention,
        )),
        Some(Arc::new(DynamoFindings::new(ddb, &config.table_name))),
    )?;
    tracing::info!(sinks = ?forwarder.sink_names(), "forwarder ready");
    let deps = &Deps {
        forwarder,
        emit_metrics: true,
    };
    run(service_fn(
        move |event: LambdaEvent<aws_lambda_events::event::dynamodb::Event>| async move {
            handle(deps, event).await
        },
    ))
    .await
}

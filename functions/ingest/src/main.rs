//! Composition root of the `ingest` Lambda: tracing, configuration, clients, run.
#![recursion_limit = "256"]

use ingest::{config::IngestConfig, handle, Deps};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use vigil_aws_dynamodb::DynamoStore;

/// mimalloc: the hot path allocates many small strings; glibc's allocator costs about a
/// quarter of its time (see docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    // JSON when Lambda's log format is JSON; level from AWS_LAMBDA_LOG_LEVEL or RUST_LOG.
    lambda_runtime::tracing::init_default_subscriber();
    let config = IngestConfig::from_env()?;
    // The deployed runbook from S3, when configured: read once now, then polled for new
    // versions in the background (the environment's runbook is the fallback until then).
    let live = match &config.runbook_s3 {
        Some((bucket, key)) => {
            let source =
                vigil_aws_s3::S3RunbookSource::new(vigil_aws_s3::client().await, bucket, key);
            Some(
                ingest::live::LiveRunbook::load(
                    std::sync::Arc::new(source),
                    config.runbook.clone(),
                    ingest::live::POLL_INTERVAL,
                )
                .await,
            )
        }
        None => None,
    };
    // Account facts from Organizations, when the runbook in force at cold start asks for them.
    let facts_config = match &live {
        Some(l) => l.current().account_facts.clone(),
        None => config.runbook.account_facts.clone(),
    };
    let facts = if facts_config.organizations {
        let source = vigil_aws_organizations::OrganizationsDirectory::new(
            vigil_aws_organizations::client().await,
        );
        let ttl = facts_config
            .refresh
            .0
            .to_std()
            .unwrap_or(std::time::Duration::from_secs(3600));
        Some(ingest::facts::AccountFactsCache::load(std::sync::Arc::new(source), ttl).await)
    } else {
        None
    };
    let deps = Deps {
        store: DynamoStore::new(vigil_aws_dynamodb::client().await, config.table_name),
        runbook: config.runbook,
        settings: config.settings,
        emit_metrics: true,
        live,
        facts,
    };
    let deps = &deps;
    run(service_fn(
        move |event: LambdaEvent<Box<serde_json::value::RawValue>>| async move {
            handle(deps, event).await
        },
    ))
    .await
}

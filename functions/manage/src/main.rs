//! Composition root of the `manage` Lambda: tracing, configuration, per-Region clients, run.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use manage::config::{account_of_arn, load_spec, ManageConfig};
use manage::{aws_deps, handle};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = ManageConfig::from_env()?;
    let config = &config;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        // The runbook is read at every run: a new version applies at the next one.
        let spec = match load_spec(&config.runbook).await {
            Ok(s) => s,
            // Deployed without a manage: section: nothing is managed.
            Err(e @ manage::config::ConfigError::NoManage(_)) => {
                tracing::info!(reason = %e, "manage: nothing to do");
                return Ok(serde_json::json!({"skipped": e.to_string()}));
            }
            Err(e) => return Err(e.into()),
        };
        let admin = account_of_arn(&event.context.invoked_function_arn);
        let mut deps = aws_deps(config, spec, config.admin_account.clone().or(admin)).await;
        deps.emit_metrics = true;
        let out = handle(&deps, &event.payload).await?;
        Ok::<Value, Error>(out)
    }))
    .await
}

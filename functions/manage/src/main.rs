//! Composition root of the `manage` Lambda: tracing, configuration, per-Region clients, run.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use manage::config::{account_of_arn, load_spec, ManageConfig};
use manage::{handle, Deps};
use serde_json::Value;
use vigil_domain::manage::Context;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = ManageConfig::from_env()?;
    let sdk = vigil_aws::sdk_config().await;
    let sns = vigil_aws_sns::Sns::from_env().await;
    let orgs = vigil_aws_organizations::OrganizationsDirectory::new(
        vigil_aws_organizations::client().await,
    );
    let s3 = vigil_aws_s3::S3ListStore::new(vigil_aws_s3::client().await);
    let config = &config;
    let sdk = &sdk;
    let sns = &sns;
    let orgs = &orgs;
    let s3 = &s3;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        // The runbook is read at every run: a new version applies at the next one.
        let spec = load_spec(&config.runbook).await?;
        let admin = config
            .admin_account
            .clone()
            .or_else(|| account_of_arn(&event.context.invoked_function_arn));
        let deps = Deps {
            guardduty: Box::new(vigil_aws_guardduty::GuardDuty::new(sdk, &spec.regions)),
            securityhub: Box::new(vigil_aws_securityhub::ManagedSecurityHub::new(
                sdk,
                &spec.regions,
            )),
            lists: Box::new(s3.clone()),
            accounts: Box::new(orgs.clone()),
            topic: config
                .topic_arn
                .clone()
                .map(|arn| (Box::new(sns.clone()) as Box<_>, arn)),
            ctx: Context {
                bucket: config.bucket.clone(),
            },
            admin_account: admin,
            emit_metrics: true,
            spec,
        };
        let out = handle(&deps, &event.payload).await?;
        Ok::<Value, Error>(out)
    }))
    .await
}

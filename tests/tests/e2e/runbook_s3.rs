//! The deployed runbook in S3 (moto's server, the real `aws-sdk-s3` client): read at cold
//! start, a new version picked up by the next poll, an invalid version refused with the last
//! good one kept, and `vigil_aws_s3::upload` writing new versions.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use ingest::live::{LiveRunbook, Refresh};
use vigil_aws_s3::S3RunbookSource;
use vigil_domain::Runbook;

async fn bucket(c: &aws_sdk_s3::Client, name: &str) {
    c.create_bucket().bucket(name).send().await.unwrap();
    c.put_bucket_versioning()
        .bucket(name)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn the_runbook_follows_its_s3_object_and_refuses_invalid_versions() {
    let Some(ep) = vigil_e2e::moto_endpoint() else {
        return;
    };
    let c = vigil_e2e::s3_client(&ep);
    let name = format!("vigil-runbook-{:08x}", rand::random::<u32>());
    bucket(&c, &name).await;
    let example = std::fs::read_to_string(vigil_e2e::root().join("examples/runbook.yaml")).unwrap();
    let etag = vigil_aws_s3::upload(&c, &name, "runbook.yaml", &example, None)
        .await
        .unwrap();
    assert!(!etag.is_empty());

    let source = Arc::new(S3RunbookSource::new(c.clone(), &name, "runbook.yaml"));
    let live = LiveRunbook::load(source, Runbook::default(), Duration::ZERO).await;
    let rb = live.current();
    assert_eq!(
        rb.rules.len(),
        3,
        "the example runbook is in force after the cold-start read"
    );
    assert_eq!(live.refresh().await, Refresh::Unchanged);

    // An invalid version: refused, the last good one stays, counted.
    vigil_aws_s3::upload(&c, &name, "runbook.yaml", "rules: [{id: x}]\n", None)
        .await
        .unwrap();
    match live.refresh().await {
        Refresh::Rejected { message } => assert!(message.contains("s3://"), "{message}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(live.current().rules.len(), 3);
    assert_eq!(live.take_counters(), (1, 0));

    // A good new version is in force at the next poll.
    vigil_aws_s3::upload(
        &c,
        &name,
        "runbook.yaml",
        "defaults: {environment: test}\n",
        None,
    )
    .await
    .unwrap();
    assert!(matches!(live.refresh().await, Refresh::Replaced { .. }));
    assert_eq!(live.current().rules.len(), 0);
    assert_eq!(live.current().defaults.environment.as_str(), "test");

    // The bucket kept every version (versioned), so a bad upload can be rolled back.
    let versions = c
        .list_object_versions()
        .bucket(&name)
        .prefix("runbook.yaml")
        .send()
        .await
        .unwrap();
    assert_eq!(versions.versions().len(), 3);
}

#[tokio::test]
async fn a_missing_object_keeps_the_fallback_and_a_lost_bucket_counts_as_failed() {
    let Some(ep) = vigil_e2e::moto_endpoint() else {
        return;
    };
    let c = vigil_e2e::s3_client(&ep);
    let name = format!("vigil-runbook-{:08x}", rand::random::<u32>());
    bucket(&c, &name).await;
    let source = Arc::new(S3RunbookSource::new(c.clone(), &name, "missing.yaml"));
    let fallback = Runbook::from_yaml("defaults: {environment: dev}", "env").unwrap();
    let live = LiveRunbook::load(source, fallback, Duration::ZERO).await;
    // No object uploaded yet: the environment's runbook is in force, and that is no failure.
    assert_eq!(live.current().defaults.environment.as_str(), "dev");
    assert_eq!(live.take_counters(), (0, 0));
    assert_eq!(live.refresh().await, Refresh::Absent);
    // A bucket that does not exist (a deployment error): a failed read, counted and alarmed.
    let lost = Arc::new(S3RunbookSource::new(
        c,
        format!("{name}-gone"),
        "runbook.yaml",
    ));
    let live = LiveRunbook::load(lost, Runbook::default(), Duration::ZERO).await;
    assert_eq!(live.take_counters(), (0, 1));
}

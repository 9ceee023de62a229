//! Vigil's end-to-end tests, in one test binary (one link of the SDK instead of seven).
//!
//! - [`store`]: the DynamoDB store and the ingest handler against DynamoDB Local.
//! - [`concurrency`]: concurrent invocations against DynamoDB Local match one ordered pass.
//! - [`corpus`]: the public ASFF corpus (`../shared/corpus`) parses; corruptions are named.
//! - [`forward_sinks`]: the sinks against protocol-checking receivers and a real rsyslog.
//! - [`forward_stream`]: ingest -> DynamoDB Local's real stream -> forward -> every sink.
//! - [`lambda_runtime`]: both binaries under the Lambda runtime API (`cargo lambda watch`).
//! - [`infra`]: `infra/template.yaml` agrees with the code.
//! - [`account_facts`]: account facts from AWS Organizations (moto).
//! - [`runbook_s3`]: the deployed runbook in S3 (moto), polled, invalid versions refused.
//! - [`triage`]: runbook rules, explanations and rule hit counts; the runbook CLI.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod account_facts;
mod clock;
mod concurrency;
mod corpus;
mod escalation;
mod forward_sinks;
mod forward_stream;
mod infra;
mod lambda_runtime;
mod lifecycle;
mod managed;
mod queue;
mod retro;
mod runbook_s3;
mod store;
mod triage;
mod writeback;

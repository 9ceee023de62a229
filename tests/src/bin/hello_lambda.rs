//! The reference for the cold-start bench (`tests/benches/coldstart.rs`): the smallest
//! `lambda_runtime` function, which echoes its event. Built with cargo-lambda like the real
//! bootstraps, so the two are compared like for like.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(|e: LambdaEvent<serde_json::Value>| async move {
        Ok::<_, Error>(e.payload)
    }))
    .await
}

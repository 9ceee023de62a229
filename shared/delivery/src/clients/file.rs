//! JSON lines to a file or stdout: local runs (`make demo`) and debugging.

use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use vigil_wire::retry::Failure;
use vigil_wire::sinks::FileSink;

use crate::message::{Delivery, SendResults};

#[derive(Debug)]
pub struct FileClient {
    config: FileSink,
    lock: tokio::sync::Mutex<()>,
}

impl FileClient {
    pub fn new(config: FileSink) -> Self {
        Self {
            config,
            lock: tokio::sync::Mutex::new(()),
        }
    }

    pub fn config(&self) -> &FileSink {
        &self.config
    }

    pub async fn send(&self, batch: &[Arc<Delivery>]) -> SendResults {
        let mut text = Vec::new();
        for d in batch {
            match serde_json::to_vec(&d.payload) {
                Ok(mut line) => {
                    text.append(&mut line);
                    text.push(b'\n');
                }
                Err(e) => return vec![Err(Failure::data(e.to_string())); batch.len()],
            }
        }
        let _guard = self.lock.lock().await;
        let r = if self.config.path == "-" {
            let mut out = tokio::io::stdout();
            match out.write_all(&text).await {
                Ok(()) => out.flush().await,
                Err(e) => Err(e),
            }
        } else {
            append(&self.config.path, &text).await
        };
        match r {
            Ok(()) => vec![Ok(()); batch.len()],
            Err(e) => {
                vec![Err(Failure::retryable(format!("{}: {e}", self.config.path))); batch.len()]
            }
        }
    }
}

async fn append(path: &str, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .await?;
    f.write_all(bytes).await?;
    f.flush().await?;
    f.sync_data().await
}

//! Syslog over TLS (RFC 5425): RFC 5424 messages carrying CEF or LEEF, octet-counting framing.
//!
//! Syslog has no application-level acknowledgement, so a batch counts as delivered once it
//! was written, flushed and the TLS session closed cleanly (close_notify). A connection that
//! breaks mid-batch fails the whole batch, which is re-sent: duplicates carry the same key
//! (structured data `key=` and CEF `externalId`).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use vigil_wire::retry::Failure;
use vigil_wire::sinks::{SyslogPayload, SyslogSink};
use vigil_wire::syslog_message::{cef, leef, octet_frame, rfc5424, SyslogFormat};

use crate::message::{Delivery, SendResults};
use crate::secrets::Secrets;
use crate::tls::{client_config, client_identity, TlsError};

/// How long to watch for a receiver refusing the client certificate (mutual TLS only).
const MTLS_PROBE: Duration = Duration::from_millis(300);

#[derive(Debug)]
pub struct SyslogClient {
    config: SyslogSink,
    format: SyslogFormat,
    secrets: Secrets,
    tls: tokio::sync::Mutex<Option<Arc<rustls::ClientConfig>>>,
}

impl SyslogClient {
    pub fn new(config: SyslogSink, secrets: Secrets) -> Result<Self, TlsError> {
        Ok(Self {
            format: SyslogFormat {
                facility: config.facility,
                hostname: config.hostname.clone(),
                app_name: config.app_name.clone(),
                pen: config.pen,
            },
            config,
            secrets,
            tls: tokio::sync::Mutex::new(None),
        })
    }

    pub fn config(&self) -> &SyslogSink {
        &self.config
    }

    pub fn refresh_credentials(&self) {
        if let Some(r) = &self.config.tls.client_identity {
            self.secrets.invalidate(r);
        }
        if let Ok(mut t) = self.tls.try_lock() {
            *t = None;
        }
    }

    async fn tls_config(&self) -> Result<Arc<rustls::ClientConfig>, Failure> {
        let mut guard = self.tls.lock().await;
        if let Some(c) = guard.as_ref() {
            return Ok(c.clone());
        }
        let id = client_identity(&self.config.tls, &self.secrets)
            .await
            .map_err(|e| crate::message::tls_failure(&e))?;
        let c = client_config(&self.config.tls, id.as_deref())
            .map_err(|e| Failure::config(e.to_string()))?;
        *guard = Some(c.clone());
        Ok(c)
    }

    /// The framed messages of a batch.
    pub fn frames(&self, batch: &[Arc<Delivery>]) -> Vec<u8> {
        let now = Utc::now();
        let mut out = Vec::new();
        for d in batch {
            let msg = match self.config.format {
                SyslogPayload::Cef => cef(&d.payload, now),
                SyslogPayload::Leef => leef(&d.payload),
            };
            out.extend(octet_frame(&rfc5424(&self.format, &d.payload, now, &msg)));
        }
        out
    }

    pub async fn send(&self, batch: &[Arc<Delivery>]) -> SendResults {
        let r = self.send_all(batch).await;
        vec![r; batch.len()]
    }

    async fn send_all(&self, batch: &[Arc<Delivery>]) -> Result<(), Failure> {
        if batch.is_empty() {
            return Ok(());
        }
        let tls = self.tls_config().await?;
        let name = self
            .config
            .tls
            .server_name
            .clone()
            .unwrap_or_else(|| self.config.host.clone());
        let server = ServerName::try_from(name.clone())
            .map_err(|_| Failure::config(format!("{name:?} is not a valid TLS server name")))?;
        let timeout = Duration::from_secs(self.config.timeout_secs);
        let addr = (self.config.host.as_str(), self.config.port);
        let io = async {
            let tcp = TcpStream::connect(addr)
                .await
                .map_err(|e| Failure::retryable(format!("connect: {e}")))?;
            tcp.set_nodelay(true).ok();
            let mut tls = TlsConnector::from(tls)
                .connect(server, tcp)
                .await
                .map_err(|e| {
                    let m = format!("TLS handshake: {e}");
                    if e.kind() == std::io::ErrorKind::InvalidData {
                        // Certificate or protocol rejected: retrying will not help.
                        Failure::config(m)
                    } else {
                        Failure::retryable(m)
                    }
                })?;
            if self.config.tls.client_identity.is_some() {
                // Under TLS 1.3 a receiver that refuses the client certificate does so after
                // the client's handshake completed, by closing the session. Give it a moment
                // to do so before sending, so a refusal is a visible configuration error.
                let mut probe = [0u8; 1];
                match tokio::time::timeout(MTLS_PROBE, tls.read(&mut probe)).await {
                    Err(_) => {}
                    Ok(Ok(n)) if n > 0 => {}
                    Ok(r) => {
                        return Err(Failure::config(format!(
                            "the receiver closed the session right after the TLS handshake \
                             (client certificate refused?): {}",
                            r.err()
                                .map(|e| e.to_string())
                                .unwrap_or_else(|| "EOF".into())
                        )))
                    }
                }
            }
            let frames = self.frames(batch);
            tls.write_all(&frames)
                .await
                .map_err(|e| Failure::retryable(format!("write: {e}")))?;
            tls.flush()
                .await
                .map_err(|e| Failure::retryable(format!("flush: {e}")))?;
            // close_notify, then read until the receiver closes its side: it has read
            // everything we wrote (a reset instead means it had not, so the batch is re-sent).
            // Receivers such as rsyslog close without a close_notify of their own.
            tls.shutdown()
                .await
                .map_err(|e| Failure::retryable(format!("close: {e}")))?;
            let mut buf = [0u8; 512];
            loop {
                match tls.read(&mut buf).await {
                    Ok(0) => break,
                    Ok(_) => continue,
                    Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                    Err(e) => {
                        return Err(Failure::retryable(format!(
                            "the receiver ended the session before reading everything: {e}"
                        )))
                    }
                }
            }
            Ok::<(), Failure>(())
        };
        tokio::time::timeout(timeout, io)
            .await
            .map_err(|_| Failure::retryable(format!("timed out after {}s", timeout.as_secs())))?
    }
}

//! TLS client settings for the sinks: system roots plus an optional private CA, optional
//! client certificate (mutual TLS). One rustls, with the aws-lc-rs provider the AWS SDK uses.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};
use thiserror::Error;
use vigil_wire::sinks::TlsConfig;

use vigil_domain::ports::SecretError;

use crate::secrets::Secrets;

#[derive(Debug, Error)]
pub enum TlsError {
    #[error("CA certificates: {0}")]
    Ca(String),
    #[error("client identity: {0}")]
    Identity(String),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("TLS settings: {0}")]
    Rustls(String),
}

/// The CA certificates configured for a sink (inline PEM and/or a file), as PEM text.
pub fn ca_pem(t: &TlsConfig) -> Result<Option<String>, TlsError> {
    let mut pem = String::new();
    if let Some(p) = &t.ca_pem {
        pem.push_str(p);
        pem.push('\n');
    }
    if let Some(f) = &t.ca_file {
        let text = std::fs::read_to_string(f).map_err(|e| TlsError::Ca(format!("{f}: {e}")))?;
        pem.push_str(&text);
    }
    Ok((!pem.trim().is_empty()).then_some(pem))
}

fn certs(pem: &str, what: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Ca(format!("{what}: {e}")))?;
    if certs.is_empty() {
        return Err(TlsError::Ca(format!("{what}: no certificate in PEM")));
    }
    Ok(certs)
}

/// The client certificate chain and key (PEM, in one secret), when mutual TLS is configured.
pub async fn client_identity(t: &TlsConfig, secrets: &Secrets) -> Result<Option<String>, TlsError> {
    match &t.client_identity {
        None => Ok(None),
        Some(r) => Ok(Some(secrets.get(r).await?.expose().to_owned())),
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A rustls client configuration for the syslog sink.
pub fn client_config(
    t: &TlsConfig,
    identity_pem: Option<&str>,
) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    if !t.ca_only {
        let native = rustls_native_certs::load_native_certs();
        for c in native.certs {
            // Unparseable system certificates are skipped, as browsers do.
            let _ = roots.add(c);
        }
    }
    if let Some(pem) = ca_pem(t)? {
        for c in certs(&pem, "ca")? {
            roots.add(c).map_err(|e| TlsError::Ca(format!("ca: {e}")))?;
        }
    }
    if roots.is_empty() {
        return Err(TlsError::Ca(
            "no trusted CA: no system roots found and none configured".into(),
        ));
    }
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Rustls(e.to_string()))?
        .with_root_certificates(roots);
    let config = match identity_pem {
        None => builder.with_no_client_auth(),
        Some(pem) => {
            let chain =
                certs(pem, "client certificate").map_err(|e| TlsError::Identity(e.to_string()))?;
            let key = PrivateKeyDer::from_pem_slice(pem.as_bytes())
                .map_err(|e| TlsError::Identity(format!("private key: {e}")))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| TlsError::Identity(e.to_string()))?
        }
    };
    Ok(Arc::new(config))
}

/// An HTTP client for an HTTPS sink: the given timeout, extra CA, optional client identity,
/// no redirects (a redirect would re-send the credentials elsewhere).
pub fn http_client(
    t: &TlsConfig,
    identity_pem: Option<&str>,
    timeout: std::time::Duration,
) -> Result<reqwest::Client, TlsError> {
    let mut b = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(std::time::Duration::from_secs(5)))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("vigil-forward/", env!("CARGO_PKG_VERSION")));
    if let Some(pem) = ca_pem(t)? {
        let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
            .map_err(|e| TlsError::Ca(e.to_string()))?;
        if certs.is_empty() {
            return Err(TlsError::Ca("no certificate in PEM".into()));
        }
        b = b.tls_certs_merge(certs);
    }
    if t.ca_only {
        let certs = match ca_pem(t)? {
            Some(pem) => reqwest::Certificate::from_pem_bundle(pem.as_bytes())
                .map_err(|e| TlsError::Ca(e.to_string()))?,
            None => Vec::new(),
        };
        b = b.tls_certs_only(certs);
    }
    if let Some(pem) = identity_pem {
        let id = reqwest::Identity::from_pem(pem.as_bytes())
            .map_err(|e| TlsError::Identity(e.to_string()))?;
        b = b.identity(id);
    }
    b.build().map_err(|e| TlsError::Rustls(e.to_string()))
}

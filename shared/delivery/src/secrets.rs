//! Sink credentials: resolved from [`SecretRef`]s, cached per container, refreshed after an
//! authentication failure. A [`Secret`] never prints its value.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use vigil_domain::ports::{SecretBackend, SecretError};
use vigil_wire::sinks::SecretRef;

/// A secret value. `Debug` is redacted and there is no `Display`: the value is reached only
/// through [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The value, for the one place that puts it on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// A backend for runs without AWS: every `secret_arn` reference is a configuration error.
#[derive(Debug, Default)]
pub struct NoSecretStore;

impl SecretBackend for NoSecretStore {
    fn fetch<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<String, SecretError>> {
        Box::pin(async move {
            Err(SecretError::invalid(
                format!("secret {id}"),
                "no secret store is configured in this run",
            ))
        })
    }
}

/// Resolves and caches secrets. Cheap to clone.
#[derive(Clone)]
pub struct Secrets {
    backend: Arc<dyn SecretBackend>,
    cache: Arc<Mutex<HashMap<String, String>>>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(<cache>)")
    }
}

/// Identifies a reference in the cache (in memory only: it contains inline values).
fn cache_key(r: &SecretRef) -> String {
    let f = |o: &Option<String>| o.clone().unwrap_or_default();
    format!(
        "{}\u{0}{}\u{0}{}\u{0}{}",
        f(&r.secret_arn),
        f(&r.env),
        f(&r.file),
        f(&r.value)
    )
}

impl Secrets {
    pub fn new(backend: Arc<dyn SecretBackend>) -> Self {
        Self {
            backend,
            cache: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Secrets from env/file/value references only.
    pub fn local() -> Self {
        Self::new(Arc::new(NoSecretStore))
    }

    fn cached(&self, key: &str) -> Option<String> {
        self.cache.lock().ok().and_then(|c| c.get(key).cloned())
    }

    /// The secret's value, from the cache when present.
    pub async fn get(&self, r: &SecretRef) -> Result<Secret, SecretError> {
        let key = cache_key(r);
        let raw = match self.cached(&key) {
            Some(v) => v,
            None => {
                let v = self.load(r).await?;
                if let Ok(mut c) = self.cache.lock() {
                    c.insert(key, v.clone());
                }
                v
            }
        };
        select_key(r, &raw)
    }

    /// Forgets a cached value (after an authentication failure), so the next `get` re-reads it.
    pub fn invalidate(&self, r: &SecretRef) {
        if let Ok(mut c) = self.cache.lock() {
            c.remove(&cache_key(r));
        }
    }

    async fn load(&self, r: &SecretRef) -> Result<String, SecretError> {
        let what = r.describe();
        if let Some(arn) = &r.secret_arn {
            return self.backend.fetch(arn).await;
        }
        if let Some(name) = &r.env {
            return std::env::var(name)
                .map_err(|_| SecretError::invalid(what, "environment variable not set"));
        }
        if let Some(path) = &r.file {
            return tokio::fs::read_to_string(path)
                .await
                .map(|s| s.trim_end_matches(['\n', '\r']).to_owned())
                .map_err(|e| SecretError::Invalid {
                    what,
                    message: e.kind().to_string(),
                    source: Some(Box::new(e)),
                });
        }
        r.value
            .clone()
            .ok_or_else(|| SecretError::invalid(what, "no source"))
    }
}

/// The value, or the `key` field of a JSON-object secret.
fn select_key(r: &SecretRef, raw: &str) -> Result<Secret, SecretError> {
    let Some(k) = &r.key else {
        return non_empty(r, raw.to_owned());
    };
    let invalid = |message: &str| SecretError::invalid(r.describe(), message);
    let v: serde_json::Value =
        serde_json::from_str(raw).map_err(|_| invalid("is not a JSON object but `key` is set"))?;
    match v.get(k) {
        Some(serde_json::Value::String(s)) => non_empty(r, s.clone()),
        Some(_) => Err(invalid("field is not a string")),
        None => Err(invalid("field is missing")),
    }
}

fn non_empty(r: &SecretRef, v: String) -> Result<Secret, SecretError> {
    if v.trim().is_empty() {
        return Err(SecretError::invalid(r.describe(), "is empty"));
    }
    Ok(Secret(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counting(AtomicUsize, &'static str);
    impl SecretBackend for Counting {
        fn fetch<'a>(&'a self, _id: &'a str) -> BoxFuture<'a, Result<String, SecretError>> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move { Ok(self.1.to_owned()) })
        }
    }

    fn arn(key: Option<&str>) -> SecretRef {
        SecretRef {
            secret_arn: Some("arn:aws:secretsmanager:us-east-1:1:secret:hec".into()),
            env: None,
            file: None,
            value: None,
            key: key.map(str::to_owned),
        }
    }

    #[tokio::test]
    async fn secrets_are_cached_until_invalidated_and_json_keys_are_selected() {
        let backend = Arc::new(Counting(AtomicUsize::new(0), r#"{"token":"t0k3n"}"#));
        let s = Secrets::new(backend.clone());
        let r = arn(Some("token"));
        assert_eq!(s.get(&r).await.unwrap().expose(), "t0k3n");
        assert_eq!(s.get(&r).await.unwrap().expose(), "t0k3n");
        assert_eq!(backend.0.load(Ordering::SeqCst), 1);
        s.invalidate(&r);
        s.get(&r).await.unwrap();
        assert_eq!(backend.0.load(Ordering::SeqCst), 2);
        let e = s.get(&arn(Some("missing"))).await.unwrap_err();
        assert!(!e.to_string().contains("t0k3n"), "{e}");
        assert!(!e.is_retryable());
    }

    #[tokio::test]
    async fn different_references_never_share_a_cached_value() {
        let s = Secrets::local();
        let r = |v: &str| SecretRef {
            secret_arn: None,
            env: None,
            file: None,
            value: Some(v.into()),
            key: None,
        };
        assert_eq!(s.get(&r("one")).await.unwrap().expose(), "one");
        assert_eq!(s.get(&r("two")).await.unwrap().expose(), "two");
    }

    #[test]
    fn a_secret_never_prints_its_value() {
        let s = Secret::new("t0k3n");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
    }
}

//! The forward function's configuration, from the environment, read once at cold start.

use chrono::Duration;
use thiserror::Error;
use vigil_aws::env::{days, table_name, EnvError};
use vigil_domain::Settings;
use vigil_wire::sinks::{SinkConfigError, SinksConfig};

/// A configuration error: fix the deployment, retrying will not help.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error(transparent)]
    Env(#[from] EnvError),
    #[error("VIGIL_SINKS_FILE {path}")]
    SinksFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Sinks(#[from] SinkConfigError),
}

/// What the forward function (and `vigil forward`) needs.
#[derive(Debug, Clone)]
pub struct ForwardConfig {
    /// `TABLE_NAME` (required).
    pub table_name: String,
    /// `VIGIL_SINKS` (YAML or JSON text) or `VIGIL_SINKS_FILE` (a path); required.
    pub sinks: SinksConfig,
    /// `VIGIL_INCIDENT_RETENTION_DAYS` (default 400): how long delivery state is kept.
    pub retention: Duration,
}

impl ForwardConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let table_name = table_name(&get)?;
        let text = match (get("VIGIL_SINKS"), get("VIGIL_SINKS_FILE")) {
            (Some(t), _) if !t.trim().is_empty() => t,
            (_, Some(p)) if !p.trim().is_empty() => {
                std::fs::read_to_string(&p).map_err(|source| ConfigError::SinksFile {
                    path: p.clone(),
                    source,
                })?
            }
            _ => return Err(EnvError::Missing("VIGIL_SINKS").into()),
        };
        let sinks = SinksConfig::parse(&text)?;
        let retention = days(&get, "VIGIL_INCIDENT_RETENTION_DAYS")?
            .unwrap_or(Settings::default().incident_retention);
        Ok(Self {
            table_name,
            sinks,
            retention,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn forward_config_needs_a_table_and_valid_sinks() {
        let m = |pairs: &[(&str, &str)]| {
            let m: HashMap<String, String> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            ForwardConfig::from_lookup(move |k| m.get(k).cloned())
        };
        assert!(matches!(
            m(&[("TABLE_NAME", "t")]),
            Err(ConfigError::Env(EnvError::Missing("VIGIL_SINKS")))
        ));
        let c = m(&[
            ("TABLE_NAME", "t"),
            (
                "VIGIL_SINKS",
                r#"{"sinks":[{"type":"file","name":"f","path":"-"}]}"#,
            ),
        ])
        .unwrap();
        assert_eq!(c.sinks.sinks.len(), 1);
        assert_eq!(c.retention, Duration::days(400));
        assert!(m(&[
            ("TABLE_NAME", "t"),
            ("VIGIL_SINKS", "sinks: [{type: nope}]")
        ])
        .is_err());
    }
}

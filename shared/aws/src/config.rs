//! Configuration from the environment, read once at cold start.

use std::path::PathBuf;

use chrono::Duration;
use thiserror::Error;
use vigil_domain::{Runbook, RunbookError, Settings};

/// A configuration error: fix the deployment, retrying will not help.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {name}: {message}")]
    Invalid { name: &'static str, message: String },
    #[error(transparent)]
    Runbook(#[from] RunbookError),
    #[error(transparent)]
    Sinks(#[from] vigil_siem::config::SinkConfigError),
}

/// What the forward function (and `vigil forward`) needs.
#[derive(Debug, Clone)]
pub struct ForwardConfig {
    /// `TABLE_NAME` (required).
    pub table_name: String,
    /// `VIGIL_SINKS` (YAML or JSON text) or `VIGIL_SINKS_FILE` (a path); required.
    pub sinks: vigil_siem::config::SinksConfig,
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
                std::fs::read_to_string(&p).map_err(|e| ConfigError::Invalid {
                    name: "VIGIL_SINKS_FILE",
                    message: format!("{p}: {e}"),
                })?
            }
            _ => return Err(ConfigError::Missing("VIGIL_SINKS")),
        };
        let sinks = vigil_siem::config::SinksConfig::parse(&text)?;
        let retention = days(&get, "VIGIL_INCIDENT_RETENTION_DAYS")?
            .unwrap_or(Settings::default().incident_retention);
        Ok(Self {
            table_name,
            sinks,
            retention,
        })
    }
}

/// What the ingest function (and `vigil replay`) needs.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// `TABLE_NAME`.
    pub table_name: String,
    /// `VIGIL_RUNBOOK` (a file path) or `VIGIL_RUNBOOK_YAML` (the YAML itself); else defaults.
    pub runbook: Runbook,
    /// `VIGIL_FINDING_TTL_DAYS` (default 90), `VIGIL_INCIDENT_RETENTION_DAYS` (default 400).
    pub settings: Settings,
}

impl IngestConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Same as [`IngestConfig::from_env`] with an injectable lookup, for tests.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let table_name = table_name(&get)?;
        let runbook = match (get("VIGIL_RUNBOOK"), get("VIGIL_RUNBOOK_YAML")) {
            (Some(path), _) if !path.trim().is_empty() => Runbook::from_path(&PathBuf::from(path))?,
            (_, Some(yaml)) if !yaml.trim().is_empty() => {
                Runbook::from_yaml(&yaml, "VIGIL_RUNBOOK_YAML")?
            }
            _ => Runbook::default(),
        };
        let mut settings = Settings::default();
        if let Some(d) = days(&get, "VIGIL_FINDING_TTL_DAYS")? {
            settings.finding_ttl = d;
        }
        if let Some(d) = days(&get, "VIGIL_INCIDENT_RETENTION_DAYS")? {
            settings.incident_retention = d;
        }
        Ok(Self {
            table_name,
            runbook,
            settings,
        })
    }
}

/// `TABLE_NAME`, required by every function.
fn table_name(get: &impl Fn(&str) -> Option<String>) -> Result<String, ConfigError> {
    get("TABLE_NAME")
        .filter(|s| !s.trim().is_empty())
        .ok_or(ConfigError::Missing("TABLE_NAME"))
}

fn days(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<Option<Duration>, ConfigError> {
    let Some(v) = get(name) else { return Ok(None) };
    let n: i64 = v.trim().parse().map_err(|_| ConfigError::Invalid {
        name,
        message: format!("{v:?} is not a whole number of days"),
    })?;
    if !(1..=3650).contains(&n) {
        return Err(ConfigError::Invalid {
            name,
            message: format!("{n} is outside 1..=3650 days"),
        });
    }
    Ok(Some(Duration::days(n)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<IngestConfig, ConfigError> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        IngestConfig::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn table_name_is_required_and_the_rest_has_defaults() {
        assert!(matches!(cfg(&[]), Err(ConfigError::Missing("TABLE_NAME"))));
        let c = cfg(&[("TABLE_NAME", "t")]).unwrap();
        assert_eq!(c.settings.finding_ttl, Duration::days(90));
        assert_eq!(c.runbook, Runbook::default());
    }

    #[test]
    fn inline_runbook_and_ttl_are_read_and_bad_values_rejected() {
        let c = cfg(&[
            ("TABLE_NAME", "t"),
            ("VIGIL_RUNBOOK_YAML", "correlation: {window: 6h}"),
            ("VIGIL_FINDING_TTL_DAYS", "30"),
        ])
        .unwrap();
        assert_eq!(c.runbook.window(), Duration::hours(6));
        assert_eq!(c.settings.finding_ttl, Duration::days(30));
        assert!(cfg(&[("TABLE_NAME", "t"), ("VIGIL_FINDING_TTL_DAYS", "soon")]).is_err());
        assert!(cfg(&[("TABLE_NAME", "t"), ("VIGIL_RUNBOOK_YAML", "bogus: 1")]).is_err());
        assert!(cfg(&[("TABLE_NAME", "t"), ("VIGIL_RUNBOOK", "/nonexistent.yaml")]).is_err());
    }

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
            Err(ConfigError::Missing("VIGIL_SINKS"))
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

//! The ingest function's configuration, from the environment, read once at cold start.

use std::path::PathBuf;

use thiserror::Error;
use vigil_aws::env::{days, table_name, EnvError};
use vigil_domain::{Runbook, RunbookError, Settings};

/// A configuration error: fix the deployment, retrying will not help.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error(transparent)]
    Env(#[from] EnvError),
    #[error(transparent)]
    Runbook(#[from] RunbookError),
    #[error("VIGIL_RUNBOOK_S3_URI {0:?} is not s3://bucket/key")]
    RunbookUri(String),
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
    /// `VIGIL_RUNBOOK_S3_URI` (`s3://bucket/key`): the deployed runbook, polled for new
    /// versions; `runbook` is then only the fallback until it has been read.
    pub runbook_s3: Option<(String, String)>,
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
        let runbook_s3 = match get("VIGIL_RUNBOOK_S3_URI") {
            Some(uri) if !uri.trim().is_empty() => Some(
                vigil_aws_s3::parse_uri(&uri)
                    .ok_or_else(|| ConfigError::RunbookUri(uri.clone()))?,
            ),
            _ => None,
        };
        Ok(Self {
            table_name,
            runbook,
            settings,
            runbook_s3,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
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
        assert!(matches!(
            cfg(&[]),
            Err(ConfigError::Env(EnvError::Missing("TABLE_NAME")))
        ));
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
}

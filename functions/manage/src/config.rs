//! The function's configuration, from its environment.
//!
//! - The runbook: `VIGIL_RUNBOOK_S3_URI` (`s3://bucket/key`, read at every invocation, so a new
//!   version applies at the next run), else `VIGIL_RUNBOOK_YAML` or `VIGIL_RUNBOOK` (a path).
//!   It must have a `manage:` section.
//! - `VIGIL_MANAGE_BUCKET`: where inline GuardDuty lists are uploaded.
//! - `VIGIL_OPERATIONS_TOPIC_ARN`: drift and failure reports.
//! - `VIGIL_ADMIN_ACCOUNT`: the administrator account (else taken from the function's ARN).

use vigil_domain::manage::ManageSpec;
use vigil_domain::Runbook;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("the runbook is invalid: {0}")]
    Runbook(#[from] vigil_domain::RunbookError),
    #[error("the runbook ({0}) has no manage: section")]
    NoManage(String),
    #[error("no runbook: set VIGIL_RUNBOOK_S3_URI, VIGIL_RUNBOOK_YAML or VIGIL_RUNBOOK")]
    NoRunbook,
    #[error("VIGIL_RUNBOOK_S3_URI {0:?} is not s3://bucket/key")]
    BadUri(String),
    #[error("reading the runbook from S3 failed: {0}")]
    Source(#[from] vigil_domain::ports::RunbookSourceError),
}

impl ConfigError {
    pub fn retryable(&self) -> bool {
        matches!(self, Self::Source(e) if e.retryable)
    }
}

/// Where the runbook comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunbookAt {
    S3 { bucket: String, key: String },
    Yaml(String),
    Path(String),
}

#[derive(Debug, Clone)]
pub struct ManageConfig {
    pub runbook: RunbookAt,
    pub bucket: Option<String>,
    pub topic_arn: Option<String>,
    pub admin_account: Option<String>,
}

impl ManageConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let runbook = match (
            get("VIGIL_RUNBOOK_S3_URI"),
            get("VIGIL_RUNBOOK_YAML"),
            get("VIGIL_RUNBOOK"),
        ) {
            (Some(uri), _, _) => {
                let (bucket, key) =
                    vigil_aws_s3::parse_uri(&uri).ok_or(ConfigError::BadUri(uri))?;
                RunbookAt::S3 { bucket, key }
            }
            (None, Some(y), _) => RunbookAt::Yaml(y),
            (None, None, Some(p)) => RunbookAt::Path(p),
            (None, None, None) => return Err(ConfigError::NoRunbook),
        };
        Ok(Self {
            runbook,
            bucket: get("VIGIL_MANAGE_BUCKET"),
            topic_arn: get("VIGIL_OPERATIONS_TOPIC_ARN"),
            admin_account: get("VIGIL_ADMIN_ACCOUNT"),
        })
    }
}

/// The `manage:` section of a runbook.
pub fn spec_of(rb: Runbook, origin: &str) -> Result<ManageSpec, ConfigError> {
    rb.manage
        .ok_or_else(|| ConfigError::NoManage(origin.to_owned()))
}

/// Reads the runbook where the configuration says.
pub async fn load_spec(at: &RunbookAt) -> Result<ManageSpec, ConfigError> {
    use vigil_domain::ports::RunbookSource as _;
    match at {
        RunbookAt::Yaml(y) => spec_of(
            Runbook::from_yaml(y, "VIGIL_RUNBOOK_YAML")?,
            "VIGIL_RUNBOOK_YAML",
        ),
        RunbookAt::Path(p) => spec_of(Runbook::from_path(std::path::Path::new(p))?, p),
        RunbookAt::S3 { bucket, key } => {
            let source =
                vigil_aws_s3::S3RunbookSource::new(vigil_aws_s3::client().await, bucket, key);
            let obj = source.get().await?;
            let origin = source.location();
            spec_of(Runbook::from_yaml(&obj.text, &origin)?, &origin)
        }
    }
}

/// The account id in a Lambda function ARN (`arn:aws:lambda:R:ACCOUNT:function:NAME`).
pub fn account_of_arn(arn: &str) -> Option<String> {
    let id = arn.split(':').nth(4)?;
    (id.len() == 12 && id.chars().all(|c| c.is_ascii_digit())).then(|| id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runbook_source_is_required_and_s3_wins() {
        let get = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert!(matches!(
            ManageConfig::from_lookup(get(&[])),
            Err(ConfigError::NoRunbook)
        ));
        let c = ManageConfig::from_lookup(get(&[
            ("VIGIL_RUNBOOK_S3_URI", "s3://b/k.yaml"),
            ("VIGIL_RUNBOOK_YAML", "x"),
            ("VIGIL_MANAGE_BUCKET", "lists"),
        ]))
        .unwrap();
        assert_eq!(
            c.runbook,
            RunbookAt::S3 {
                bucket: "b".into(),
                key: "k.yaml".into()
            }
        );
        assert_eq!(c.bucket.as_deref(), Some("lists"));
        assert!(matches!(
            ManageConfig::from_lookup(get(&[("VIGIL_RUNBOOK_S3_URI", "https://x")])),
            Err(ConfigError::BadUri(_))
        ));
        assert_eq!(
            account_of_arn("arn:aws:lambda:us-east-1:123456789012:function:vigil-manage"),
            Some("123456789012".into())
        );
        assert_eq!(account_of_arn("nonsense"), None);
    }

    #[test]
    fn a_runbook_without_manage_is_refused() {
        let rb = Runbook::from_yaml("correlation: {window: 6h}", "t").unwrap();
        assert!(matches!(spec_of(rb, "t"), Err(ConfigError::NoManage(_))));
    }
}

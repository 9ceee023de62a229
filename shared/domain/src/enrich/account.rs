//! Account context: name, environment and owner of the account a finding is about.
//!
//! Sources, in order: the runbook's `accounts` entry, else the finding's resource tags (for the
//! environment) or `AwsAccountName` (for the name), else the runbook's defaults. The source of
//! the environment is kept, so an analyst can tell a fact from a guess.

use serde::{Deserialize, Serialize};

use crate::asff::Finding;
use crate::runbook::{Environment, Runbook};

/// Where an account's environment came from, so an analyst can tell a guess from a fact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvironmentSource {
    Runbook,
    ResourceTag,
    Default,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountContext {
    pub account_id: String,
    pub name: Option<String>,
    pub environment: Environment,
    pub environment_source: EnvironmentSource,
    pub owner: Option<String>,
}

/// Tag keys read for the environment, compared case-insensitively, in this order.
const ENVIRONMENT_TAGS: [&str; 3] = ["environment", "env", "stage"];

pub fn account_context(runbook: &Runbook, finding: &Finding<'_>) -> AccountContext {
    let entry = runbook.accounts.get(finding.aws_account_id.as_ref());
    let name = entry
        .and_then(|e| e.name.clone())
        .or_else(|| finding.aws_account_name.as_deref().map(str::to_owned));
    let owner = entry
        .and_then(|e| e.owner.clone())
        .or_else(|| runbook.defaults.owner.clone());
    let (environment, environment_source) = match entry.and_then(|e| e.environment) {
        Some(env) => (env, EnvironmentSource::Runbook),
        None => match environment_from_tags(finding) {
            Some(env) => (env, EnvironmentSource::ResourceTag),
            None => (runbook.defaults.environment, EnvironmentSource::Default),
        },
    };
    AccountContext {
        account_id: finding.aws_account_id.to_string(),
        name,
        environment,
        environment_source,
        owner,
    }
}

fn environment_from_tags(finding: &Finding<'_>) -> Option<Environment> {
    for wanted in ENVIRONMENT_TAGS {
        for r in &finding.resources {
            for (k, v) in &r.tags {
                if k.eq_ignore_ascii_case(wanted) {
                    if let Some(env) = Environment::parse(v) {
                        return Some(env);
                    }
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asff::parse_finding;
    use crate::testing::Asff;
    use serde_json::{json, Value};

    fn gd(types: &[&str]) -> Value {
        Asff::guardduty("f").types(types).json()
    }

    #[test]
    fn environment_comes_from_runbook_then_tags_then_default() {
        let rb = crate::runbook::Runbook::from_yaml(
            "defaults: {environment: dev, owner: soc@x}\naccounts: {\"111111111111\": {name: pay, environment: production}}",
            "t",
        )
        .unwrap();
        let text = gd(&[]).to_string();
        let f = parse_finding(&text).unwrap();
        let c = account_context(&rb, &f);
        assert_eq!(
            (c.environment, c.environment_source),
            (Environment::Production, EnvironmentSource::Runbook)
        );
        assert_eq!(c.name.as_deref(), Some("pay"));
        assert_eq!(c.owner.as_deref(), Some("soc@x"));

        let mut v = gd(&[]);
        v["AwsAccountId"] = json!("222222222222");
        v["Resources"][0]["Tags"] = json!({"ENV": "Staging"});
        let text = v.to_string();
        let c = account_context(&rb, &parse_finding(&text).unwrap());
        assert_eq!(
            (c.environment, c.environment_source),
            (Environment::Test, EnvironmentSource::ResourceTag)
        );

        v["Resources"][0]["Tags"] = json!({"Name": "web"});
        let text = v.to_string();
        let c = account_context(&rb, &parse_finding(&text).unwrap());
        assert_eq!(
            (c.environment, c.environment_source),
            (Environment::Dev, EnvironmentSource::Default)
        );
    }
}

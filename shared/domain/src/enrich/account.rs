//! Account context: name, environment and owner of the account a finding is about.
//!
//! The account's own environment comes from the runbook's `accounts` entry, else its
//! organizational unit (`organizational_units`, or an OU named like an environment: `Prod`),
//! else the runbook's default. Resource tags (`Environment`, `env`, `Stage`) may raise it but
//! never lower it: a member account, or an attacker who can tag a compromised instance
//! `Environment=dev`, must not make a production finding look like a dev one. The runbook can
//! allow lowering per account, per OU or for the default (`allow_tag_lowering`). Every value
//! keeps where it came from, so an analyst can tell a fact from a guess.

use serde::{Deserialize, Serialize};

use crate::asff::Finding;
use crate::runbook::{Environment, OuEntry, Runbook};

/// Where an account's environment came from, so an analyst can tell a guess from a fact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvironmentSource {
    Runbook,
    /// A tag of the account in AWS Organizations.
    AccountTag,
    OrganizationalUnit,
    ResourceTag,
    Default,
    /// A runbook rule's `set_environment`.
    Rule,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountContext {
    pub account_id: String,
    pub name: Option<String>,
    pub environment: Environment,
    pub environment_source: EnvironmentSource,
    /// The environment and where it came from, in words.
    pub environment_why: String,
    pub owner: Option<String>,
    /// The owner and where it came from, in words.
    pub owner_why: String,
    /// Organizational-unit path (`Root/Workloads/Prod`), when known.
    pub ou: Option<String>,
}

/// Tag keys read for the environment, compared case-insensitively, in this order.
const ENVIRONMENT_TAGS: [&str; 3] = ["environment", "env", "stage"];

/// The deepest OU of `path` the runbook has an entry for (by name or by path), or whose name
/// is an environment name; with its label.
fn ou_entry<'r>(
    runbook: &'r Runbook,
    path: &str,
) -> Option<(String, Option<&'r OuEntry>, Option<Environment>)> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    for i in (0..parts.len()).rev() {
        let name = parts[i];
        let prefix = parts[..=i].join("/");
        let entry = runbook
            .organizational_units
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name) || k.trim_matches('/') == prefix)
            .map(|(_, v)| v);
        if let Some(e) = entry {
            return Some((name.to_owned(), Some(e), e.environment));
        }
        if let Some(env) = Environment::parse(name) {
            return Some((name.to_owned(), None, Some(env)));
        }
    }
    None
}

pub fn account_context(runbook: &Runbook, finding: &Finding<'_>) -> AccountContext {
    let id = finding.aws_account_id.as_ref();
    let entry = runbook.accounts.get(id);
    let org = runbook.directory.get(id);
    let org_tag = |keys: &[String]| -> Option<(String, String)> {
        let org = org?;
        keys.iter().find_map(|k| {
            org.tags
                .iter()
                .find(|(tk, v)| tk.eq_ignore_ascii_case(k) && !v.trim().is_empty())
                .map(|(tk, v)| (tk.clone(), v.clone()))
        })
    };
    let name = entry
        .and_then(|e| e.name.clone())
        .or_else(|| org.and_then(|o| o.name.clone()))
        .or_else(|| finding.aws_account_name.as_deref().map(str::to_owned));
    let ou = entry
        .and_then(|e| e.ou.clone())
        .or_else(|| org.and_then(|o| o.ou_path.clone()));
    let org_env = org_tag(&runbook.account_facts.environment_tags)
        .and_then(|(k, v)| Environment::parse(&v).map(|e| (k, v, e)));
    let org_owner = org_tag(&runbook.account_facts.owner_tags);
    let ou_hit = ou.as_deref().and_then(|p| ou_entry(runbook, p));
    let (owner, owner_why) = if let Some(o) = entry.and_then(|e| e.owner.clone()) {
        let why = format!("{o}: the runbook's accounts entry for {id}");
        (Some(o), why)
    } else if let Some((k, o)) = org_owner {
        let why = format!("{o}: Organizations account tag {k}");
        (Some(o), why)
    } else if let Some((ou_name, Some(o))) = ou_hit
        .as_ref()
        .map(|(n, e, _)| (n, e.and_then(|e| e.owner.clone())))
    {
        let why = format!("{o}: organizational unit {ou_name}");
        (Some(o), why)
    } else if let Some(o) = runbook.defaults.owner.clone() {
        let why = format!("{o}: the runbook's default owner");
        (Some(o), why)
    } else {
        (
            None,
            "none: the runbook names no owner for this account".to_owned(),
        )
    };

    let (mut environment, mut source, mut why, allow_lowering) =
        match (entry.and_then(|e| e.environment), &ou_hit) {
            (Some(env), _) => (
                env,
                EnvironmentSource::Runbook,
                format!("{env}: the runbook's accounts entry for {id}"),
                entry.is_some_and(|e| e.allow_tag_lowering),
            ),
            (None, _) if org_env.is_some() => {
                let (k, v, env) =
                    org_env
                        .clone()
                        .unwrap_or((String::new(), String::new(), Environment::Unknown));
                (
                    env,
                    EnvironmentSource::AccountTag,
                    format!("{env}: Organizations account tag {k}={v}"),
                    entry.is_some_and(|e| e.allow_tag_lowering)
                        || ou_hit
                            .as_ref()
                            .is_some_and(|(_, e, _)| e.is_some_and(|e| e.allow_tag_lowering)),
                )
            }
            (None, Some((ou_name, ou_e, Some(env)))) => (
                *env,
                EnvironmentSource::OrganizationalUnit,
                format!("{env}: organizational unit {ou_name}"),
                entry.is_some_and(|e| e.allow_tag_lowering)
                    || ou_e.is_some_and(|e| e.allow_tag_lowering),
            ),
            _ => (
                runbook.defaults.environment,
                EnvironmentSource::Default,
                format!(
                    "{}: the runbook's default (no account entry or OU says)",
                    runbook.defaults.environment
                ),
                entry.is_some_and(|e| e.allow_tag_lowering)
                    || ou_hit
                        .as_ref()
                        .is_some_and(|(_, e, _)| e.is_some_and(|e| e.allow_tag_lowering))
                    || runbook.defaults.allow_tag_lowering,
            ),
        };
    if let Some((key, value, tagged)) = environment_from_tags(finding) {
        if tagged > environment {
            why = format!("{tagged}: resource tag {key}={value}, above the account's own ({why})");
            environment = tagged;
            source = EnvironmentSource::ResourceTag;
        } else if tagged < environment && allow_lowering {
            why = format!(
                "{tagged}: resource tag {key}={value}, below the account's own ({why}); the runbook allows tags to lower it"
            );
            environment = tagged;
            source = EnvironmentSource::ResourceTag;
        } else if tagged < environment {
            why = format!(
                "{why}; resource tag {key}={value} ignored: tags may raise an account's environment, never lower it"
            );
        }
    }
    AccountContext {
        account_id: id.to_string(),
        name,
        environment,
        environment_source: source,
        environment_why: crate::bounds::clip(&why, crate::bounds::MAX_TEXT_CHARS),
        owner,
        owner_why: crate::bounds::clip(&owner_why, crate::bounds::MAX_TEXT_CHARS),
        ou,
    }
}

/// The first recognised environment tag on the finding's resources: key, value, environment.
fn environment_from_tags(finding: &Finding<'_>) -> Option<(String, String, Environment)> {
    for wanted in ENVIRONMENT_TAGS {
        for r in &finding.resources {
            for (k, v) in &r.tags {
                if k.eq_ignore_ascii_case(wanted) {
                    if let Some(env) = Environment::parse(v) {
                        return Some((crate::bounds::clip(k, 64), crate::bounds::clip(v, 64), env));
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

    #[test]
    fn tags_raise_an_environment_but_never_lower_it_unless_allowed() {
        let rb = crate::runbook::Runbook::from_yaml(
            r#"
defaults: { environment: dev }
accounts:
  "111111111111": { environment: production }
  "222222222222": { environment: production, allow_tag_lowering: true }
  "333333333333": { ou: Root/Workloads/Prod }
  "444444444444": { ou: Root/Sandbox/team-a }
organizational_units:
  Sandbox: { environment: dev, owner: sandbox@x, allow_tag_lowering: true }
"#,
            "t",
        )
        .unwrap();
        let ctx = |account: &str, tag: &str| {
            let mut v = gd(&[]);
            v["AwsAccountId"] = json!(account);
            v["Resources"][0]["Tags"] = json!({"Environment": tag});
            let text = v.to_string();
            let c = account_context(&rb, &parse_finding(&text).unwrap());
            (
                c.environment,
                c.environment_source,
                c.environment_why,
                c.owner,
            )
        };
        // The attacker's tag on a production instance: ignored, and the explanation says so.
        let (env, src, why, _) = ctx("111111111111", "dev");
        assert_eq!(
            (env, src),
            (Environment::Production, EnvironmentSource::Runbook)
        );
        assert!(why.contains("ignored"), "{why}");
        // Allowed for that account.
        let (env, src, _, _) = ctx("222222222222", "dev");
        assert_eq!(
            (env, src),
            (Environment::Dev, EnvironmentSource::ResourceTag)
        );
        // An OU named Prod is production, and a dev tag does not lower it.
        let (env, src, why, _) = ctx("333333333333", "dev");
        assert_eq!(
            (env, src),
            (
                Environment::Production,
                EnvironmentSource::OrganizationalUnit
            )
        );
        assert!(why.contains("Prod"), "{why}");
        // A sandbox OU: dev, its owner, and a production tag raises it.
        let (env, src, _, owner) = ctx("444444444444", "production");
        assert_eq!(
            (env, src),
            (Environment::Production, EnvironmentSource::ResourceTag)
        );
        assert_eq!(owner.as_deref(), Some("sandbox@x"));
        // No entry: the default (dev) is raised by a staging tag.
        let (env, src, _, _) = ctx("555555555555", "staging");
        assert_eq!(
            (env, src),
            (Environment::Test, EnvironmentSource::ResourceTag)
        );
    }
}

//! The customer's runbook: accounts, environments, owners, response targets, correlation window.
//!
//! A YAML file, documented in `docs/runbook.md`; `examples/runbook.yaml` is a complete example.
//! Unknown keys are rejected so that a typo (`response_deadline:`) is an error at start-up, not
//! a silently ignored setting.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use chrono::Duration;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::asff::SeverityLabel;
use crate::error::RunbookError;
use crate::triage::spec::{RouteSpec, RuleSpec, RuleTest};
use crate::triage::CompiledRules;

/// Deployment environment of an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Environment {
    Unknown,
    Dev,
    Test,
    Production,
}

impl Environment {
    /// Maps common names (`prod`, `Production`, `staging`, `qa`, `development`, `sandbox`).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "production" | "prod" | "prd" | "live" => Some(Self::Production),
            "test" | "testing" | "staging" | "stage" | "stg" | "qa" | "uat" | "preprod" => {
                Some(Self::Test)
            }
            "dev" | "development" | "sandbox" | "sbx" => Some(Self::Dev),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Dev => "dev",
            Self::Test => "test",
            Self::Production => "production",
        }
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Environment {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Environment {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Environment::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown environment {s:?} (use production, test or dev)"
            ))
        })
    }
}

/// A duration written as `30m`, `1h`, `4h`, `90s`, `2d` or `1h30m`; in response deadlines also
/// `none` (no deadline), held as zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        if s.is_empty() {
            return None;
        }
        if s.eq_ignore_ascii_case("none") {
            return Some(Self(Duration::zero()));
        }
        let mut total = Duration::zero();
        let mut num = String::new();
        for c in s.chars() {
            if c.is_ascii_digit() {
                num.push(c);
                continue;
            }
            let n: i64 = num.parse().ok()?;
            num.clear();
            let part = match c {
                's' => Duration::try_seconds(n)?,
                'm' => Duration::try_minutes(n)?,
                'h' => Duration::try_hours(n)?,
                'd' => Duration::try_days(n)?,
                _ => return None,
            };
            total = total.checked_add(&part)?;
        }
        if !num.is_empty() {
            return None; // a bare number is ambiguous: require a unit
        }
        // Ten years is far beyond any response target or correlation window; larger values
        // would only risk date overflow.
        (total > Duration::zero() && total <= Duration::days(3650)).then_some(Self(total))
    }
}

/// The inverse of [`HumanDuration::parse`] for whole minutes: `24h`, `30m`, `1h30m`.
impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mins = self.0.num_minutes();
        match (mins / 60, mins % 60) {
            (0, m) => write!(f, "{m}m"),
            (h, 0) => write!(f, "{h}h"),
            (h, m) => write!(f, "{h}h{m}m"),
        }
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        HumanDuration::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "invalid duration {s:?} (write e.g. 30m, 1h, 4h, 2d, or none)"
            ))
        })
    }
}

/// Response targets per severity. A severity left out keeps the value from the level below
/// (product defaults, then top-level `response_deadlines`); `none` means no deadline.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deadlines {
    pub critical: Option<HumanDuration>,
    pub high: Option<HumanDuration>,
    pub medium: Option<HumanDuration>,
    pub low: Option<HumanDuration>,
    pub informational: Option<HumanDuration>,
}

impl Deadlines {
    pub fn get(&self, s: SeverityLabel) -> Option<Duration> {
        match s {
            SeverityLabel::Critical => self.critical,
            SeverityLabel::High => self.high,
            SeverityLabel::Medium => self.medium,
            SeverityLabel::Low => self.low,
            SeverityLabel::Informational => self.informational,
        }
        .map(|d| d.0)
        .filter(|d| *d > Duration::zero())
    }

    /// The value written for `s` at this level, if any (`none` included).
    fn raw(&self, s: SeverityLabel) -> Option<HumanDuration> {
        match s {
            SeverityLabel::Critical => self.critical,
            SeverityLabel::High => self.high,
            SeverityLabel::Medium => self.medium,
            SeverityLabel::Low => self.low,
            SeverityLabel::Informational => self.informational,
        }
    }

    /// The product defaults: Critical 30 min, High 60 min, Medium 4 h, Low and Informational none.
    pub fn product_default() -> Self {
        Self {
            critical: Some(HumanDuration(Duration::minutes(30))),
            high: Some(HumanDuration(Duration::minutes(60))),
            medium: Some(HumanDuration(Duration::hours(4))),
            low: None,
            informational: None,
        }
    }

    /// `self` with the severities that `over` sets replaced.
    fn overlay(&self, over: &Deadlines) -> Deadlines {
        Deadlines {
            critical: over.critical.or(self.critical),
            high: over.high.or(self.high),
            medium: over.medium.or(self.medium),
            low: over.low.or(self.low),
            informational: over.informational.or(self.informational),
        }
    }
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    #[serde(default = "default_environment")]
    pub environment: Environment,
    #[serde(default)]
    pub owner: Option<String>,
    /// Lets resource tags lower the default environment (normally they may only raise it).
    #[serde(default)]
    pub allow_tag_lowering: bool,
}

fn default_environment() -> Environment {
    Environment::Production
}

impl Default for Defaults {
    fn default() -> Self {
        Self {
            environment: default_environment(),
            owner: None,
            allow_tag_lowering: false,
        }
    }
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Correlation {
    /// A finding joins an incident whose findings were seen within this time of it.
    #[serde(default = "default_window")]
    pub window: HumanDuration,
}

fn default_window() -> HumanDuration {
    HumanDuration(Duration::hours(24))
}

impl Default for Correlation {
    fn default() -> Self {
        Self {
            window: default_window(),
        }
    }
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentSettings {
    #[serde(default)]
    pub response_deadlines: Deadlines,
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountEntry {
    pub name: Option<String>,
    pub environment: Option<Environment>,
    pub owner: Option<String>,
    /// The account's organizational-unit path (`Root/Workloads/Prod`), when it is not read
    /// from Organizations.
    pub ou: Option<String>,
    /// Lets resource tags lower this account's environment (an attacker can tag a compromised
    /// instance `Environment=dev`, so by default tags may only raise it).
    #[serde(default)]
    pub allow_tag_lowering: bool,
}

/// Settings for the accounts of an organizational unit (keyed by OU name, or by path).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OuEntry {
    pub environment: Option<Environment>,
    pub owner: Option<String>,
    #[serde(default)]
    pub allow_tag_lowering: bool,
}

/// An account as AWS Organizations describes it (read by `vigil-aws-organizations`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrgAccount {
    pub name: Option<String>,
    /// `Root/Workloads/Prod`.
    pub ou_path: Option<String>,
    pub tags: Vec<(String, String)>,
}

/// Account id -> its facts from Organizations.
pub type AccountDirectory = BTreeMap<String, OrgAccount>;

fn default_environment_tags() -> Vec<String> {
    ["Environment", "Env", "Stage"].map(String::from).to_vec()
}
fn default_owner_tags() -> Vec<String> {
    ["Owner", "Team"].map(String::from).to_vec()
}
fn default_facts_refresh() -> HumanDuration {
    HumanDuration(Duration::hours(1))
}

/// Account facts from AWS Organizations: account names, tags (which keys say the environment
/// and the owner) and OU paths, refreshed in the background.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountFacts {
    /// Read the organisation's accounts (the function's role needs `organizations:List*`).
    #[serde(default)]
    pub organizations: bool,
    /// How long the facts are kept before they are read again.
    #[serde(default = "default_facts_refresh")]
    pub refresh: HumanDuration,
    /// Account tag keys that give the environment, in order (compared case-insensitively).
    #[serde(default = "default_environment_tags")]
    pub environment_tags: Vec<String>,
    /// Account tag keys that give the owner, in order.
    #[serde(default = "default_owner_tags")]
    pub owner_tags: Vec<String>,
}

impl Default for AccountFacts {
    fn default() -> Self {
        Self {
            organizations: false,
            refresh: default_facts_refresh(),
            environment_tags: default_environment_tags(),
            owner_tags: default_owner_tags(),
        }
    }
}

/// How incidents close and reopen on their own (see [`crate::lifecycle`]).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lifecycle {
    /// Resolve an open or acknowledged incident when every finding in it is archived,
    /// resolved or suppressed in Security Hub (a control's PASSED check resolves it there).
    #[serde(default = "yes")]
    pub auto_resolve: bool,
    /// Reopen a resolved incident when an active finding joins it (within the correlation
    /// window) or one of its findings becomes active again.
    #[serde(default = "yes")]
    pub auto_reopen: bool,
}

fn yes() -> bool {
    true
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self {
            auto_resolve: true,
            auto_reopen: true,
        }
    }
}

/// The whole runbook.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Runbook {
    #[serde(default)]
    pub defaults: Defaults,
    #[serde(default)]
    pub correlation: Correlation,
    /// Overrides of the product defaults ([`Deadlines::product_default`]).
    #[serde(default)]
    pub response_deadlines: Deadlines,
    #[serde(default)]
    pub environments: BTreeMap<String, EnvironmentSettings>,
    #[serde(default)]
    pub accounts: BTreeMap<String, AccountEntry>,
    /// Per organizational unit (name or path): environment, owner, tag lowering.
    #[serde(default)]
    pub organizational_units: BTreeMap<String, OuEntry>,
    /// Account facts from AWS Organizations.
    #[serde(default)]
    pub account_facts: AccountFacts,
    /// Automatic resolution and reopening of incidents.
    #[serde(default)]
    pub lifecycle: Lifecycle,
    /// Escalation policies, the first that matches an incident applies (see
    /// [`crate::escalation`]).
    #[serde(default)]
    pub escalation: Vec<crate::escalation::PolicySpec>,
    #[serde(skip)]
    escalation_compiled: Vec<crate::escalation::Policy>,
    /// The facts read from Organizations (filled by the function, not written in YAML).
    #[serde(skip)]
    pub directory: std::sync::Arc<AccountDirectory>,
    /// Named lists of addresses and CIDRs, for `remote_ip` criteria.
    #[serde(default)]
    pub ip_lists: BTreeMap<String, Vec<String>>,
    /// Named routes that rules choose and notifications use.
    #[serde(default)]
    pub routes: BTreeMap<String, RouteSpec>,
    /// Triage rules, in order (see [`crate::triage`]).
    #[serde(default)]
    pub rules: Vec<RuleSpec>,
    /// The runbook's own tests (`vigil runbook test`).
    #[serde(default)]
    pub tests: Vec<RuleTest>,
    /// Managed GuardDuty and Security Hub (see [`crate::manage`] and docs/manage.md).
    #[serde(default)]
    pub manage: Option<crate::manage::ManageSpec>,
    /// The analyst's queue: campaigns and digests (see [`crate::queue`] and docs/queue.md).
    #[serde(default)]
    pub queue: crate::queue::QueueSpec,
    /// The rules, compiled when the runbook loads.
    #[serde(skip)]
    compiled: CompiledRules,
    /// Content hash of the runbook text (`rb-` and 12 hex digits); empty for the default.
    #[serde(skip)]
    pub version: String,
}

impl Runbook {
    pub fn from_yaml(text: &str, origin: &str) -> Result<Self, RunbookError> {
        let mut rb: Runbook = serde_yaml_ng::from_str(text).map_err(|e| RunbookError::Invalid {
            origin: origin.to_owned(),
            message: e.to_string(),
        })?;
        rb.validate(origin)?;
        rb.compile(text, origin)?;
        rb.escalation_compiled =
            crate::escalation::compile(&rb.escalation, &rb.routes).map_err(|message| {
                RunbookError::Invalid {
                    origin: origin.to_owned(),
                    message,
                }
            })?;
        rb.version = format!("rb-{}", crate::finding::short_hash(&[text], 12));
        Ok(rb)
    }

    /// Compiles the rules (the runbook's `text` gives line numbers in errors).
    fn compile(&mut self, text: &str, origin: &str) -> Result<(), RunbookError> {
        match crate::triage::compile(&self.rules, &self.ip_lists, &self.routes) {
            Ok(c) => {
                self.compiled = c;
                Ok(())
            }
            Err(problems) => {
                let lines: Vec<String> = problems
                    .iter()
                    .map(|p| {
                        let at = crate::triage::check::rule_line(text, &p.rule)
                            .map(|l| format!(" (line {l})"))
                            .unwrap_or_default();
                        if p.rule.starts_with("ip_lists.") {
                            format!("{}: {}", p.rule, p.message)
                        } else {
                            format!("rule {}{at}: {}", p.rule, p.message)
                        }
                    })
                    .collect();
                Err(RunbookError::Invalid {
                    origin: origin.to_owned(),
                    message: lines.join("; "),
                })
            }
        }
    }

    /// The compiled triage rules.
    pub fn rules(&self) -> &CompiledRules {
        &self.compiled
    }

    /// The compiled escalation policies, in order.
    pub fn escalation_policies(&self) -> &[crate::escalation::Policy] {
        &self.escalation_compiled
    }

    pub fn from_path(path: &Path) -> Result<Self, RunbookError> {
        let text = std::fs::read_to_string(path).map_err(|source| RunbookError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_yaml(&text, &path.display().to_string())
    }

    fn validate(&self, origin: &str) -> Result<(), RunbookError> {
        if let Some(p) = self.queue.problems().into_iter().next() {
            return Err(RunbookError::Invalid {
                origin: origin.to_owned(),
                message: p,
            });
        }
        if self.correlation.window.0 <= Duration::zero() {
            return Err(RunbookError::Invalid {
                origin: origin.to_owned(),
                message: "correlation.window must be a positive duration, not none".into(),
            });
        }
        for id in self.accounts.keys() {
            if id.len() != 12 || !id.chars().all(|c| c.is_ascii_digit()) {
                return Err(RunbookError::Invalid {
                    origin: origin.to_owned(),
                    message: format!(
                        "accounts: {id:?} is not a 12-digit account id (quote it in YAML)"
                    ),
                });
            }
        }
        for (id, a) in &self.accounts {
            if a.ou.as_deref().is_some_and(|o| o.trim().is_empty()) {
                return Err(RunbookError::Invalid {
                    origin: origin.to_owned(),
                    message: format!("accounts: {id}: ou must not be empty"),
                });
            }
        }
        if let Some(m) = &self.manage {
            let problems = m.problems();
            if !problems.is_empty() {
                return Err(RunbookError::Invalid {
                    origin: origin.to_owned(),
                    message: problems.join("; "),
                });
            }
        }
        for name in self.environments.keys() {
            if Environment::parse(name).is_none() {
                return Err(RunbookError::Invalid {
                    origin: origin.to_owned(),
                    message: format!("environments: unknown environment {name:?}"),
                });
            }
        }
        Ok(())
    }

    pub fn window(&self) -> Duration {
        self.correlation.window.0
    }

    /// The response target for a severity in an environment, in words, with where it is set.
    pub fn deadline_explained(&self, env: Environment, severity: SeverityLabel) -> String {
        let key = severity.as_str().to_ascii_lowercase();
        let env_set = self
            .environments
            .iter()
            .find(|(name, _)| Environment::parse(name) == Some(env))
            .filter(|(_, s)| s.response_deadlines.raw(severity).is_some())
            .map(|(name, _)| format!("environments.{name}.response_deadlines.{key}"));
        let source = env_set
            .or_else(|| {
                self.response_deadlines
                    .raw(severity)
                    .map(|_| format!("response_deadlines.{key}"))
            })
            .unwrap_or_else(|| "the product default".to_owned());
        match self.deadline_for(env, severity) {
            Some(d) => format!(
                "{severity} in {env}: respond within {} ({source})",
                HumanDuration(d)
            ),
            None => format!("{severity} in {env}: no response target ({source})"),
        }
    }

    /// Response target for a severity in an environment (environment overrides win).
    pub fn deadline_for(&self, env: Environment, severity: SeverityLabel) -> Option<Duration> {
        let over = self
            .environments
            .iter()
            .find(|(name, _)| Environment::parse(name) == Some(env))
            .map(|(_, s)| &s.response_deadlines);
        let base = Deadlines::product_default().overlay(&self.response_deadlines);
        match over {
            Some(o) => base.overlay(o).get(severity),
            None => base.get(severity),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
defaults:
  environment: dev
  owner: secops@example.com
correlation:
  window: 12h
response_deadlines:
  critical: 30m
  high: 60m
  medium: 4h
environments:
  production:
    response_deadlines: { critical: 15m }
accounts:
  "111111111111": { name: payments-prod, environment: production, owner: pay@example.com }
"#;

    #[test]
    fn the_example_runbook_loads() {
        let rb = Runbook::from_yaml(EXAMPLE, "test").unwrap();
        assert_eq!(rb.window(), Duration::hours(12));
        assert_eq!(rb.defaults.environment, Environment::Dev);
        assert_eq!(
            rb.accounts["111111111111"].name.as_deref(),
            Some("payments-prod")
        );
    }

    #[test]
    fn environment_overrides_replace_only_the_severities_they_set() {
        let rb = Runbook::from_yaml(EXAMPLE, "test").unwrap();
        let p = Environment::Production;
        assert_eq!(
            rb.deadline_for(p, SeverityLabel::Critical),
            Some(Duration::minutes(15))
        );
        assert_eq!(
            rb.deadline_for(p, SeverityLabel::High),
            Some(Duration::minutes(60))
        );
        assert_eq!(
            rb.deadline_for(Environment::Dev, SeverityLabel::Critical),
            Some(Duration::minutes(30))
        );
        assert_eq!(rb.deadline_for(p, SeverityLabel::Low), None);
    }

    #[test]
    fn a_partial_deadline_list_keeps_the_other_defaults_and_none_disables_one() {
        let rb = Runbook::from_yaml(
            "response_deadlines: {critical: 15m, medium: none, low: 1d}",
            "t",
        )
        .unwrap();
        let e = Environment::Test;
        assert_eq!(
            rb.deadline_for(e, SeverityLabel::Critical),
            Some(Duration::minutes(15))
        );
        assert_eq!(
            rb.deadline_for(e, SeverityLabel::High),
            Some(Duration::minutes(60))
        );
        assert_eq!(rb.deadline_for(e, SeverityLabel::Medium), None);
        assert_eq!(
            rb.deadline_for(e, SeverityLabel::Low),
            Some(Duration::days(1))
        );
    }

    #[test]
    fn an_empty_runbook_gives_product_defaults() {
        let mut rb = Runbook::from_yaml("{}", "empty").unwrap();
        assert!(rb.version.starts_with("rb-"));
        rb.version.clear();
        assert_eq!(rb, Runbook::default());
        let e = Environment::Production;
        assert_eq!(
            rb.deadline_for(e, SeverityLabel::Critical),
            Some(Duration::minutes(30))
        );
        assert_eq!(
            rb.deadline_for(e, SeverityLabel::High),
            Some(Duration::minutes(60))
        );
        assert_eq!(
            rb.deadline_for(e, SeverityLabel::Medium),
            Some(Duration::hours(4))
        );
        assert_eq!(rb.deadline_for(e, SeverityLabel::Informational), None);
        assert_eq!(rb.window(), Duration::hours(24));
    }

    #[test]
    fn typos_and_bad_values_are_errors_naming_the_problem() {
        let e = Runbook::from_yaml("response_deadline: {}", "rb.yaml").unwrap_err();
        assert!(e.to_string().contains("response_deadline"), "{e}");
        let e = Runbook::from_yaml("response_deadlines: {high: 60}", "rb").unwrap_err();
        assert!(e.to_string().contains("duration"), "{e}");
        let e = Runbook::from_yaml("accounts: {12: {name: x}}", "rb").unwrap_err();
        assert!(e.to_string().contains("12-digit"), "{e}");
        let e = Runbook::from_yaml("correlation: {window: none}", "rb").unwrap_err();
        assert!(e.to_string().contains("window"), "{e}");
        let e = Runbook::from_yaml("defaults: {environment: moon}", "rb").unwrap_err();
        assert!(e.to_string().contains("moon"), "{e}");
    }

    #[test]
    fn durations_parse_common_forms() {
        let p = |s| HumanDuration::parse(s).map(|d| d.0);
        assert_eq!(p("30m"), Some(Duration::minutes(30)));
        assert_eq!(p("1h30m"), Some(Duration::minutes(90)));
        assert_eq!(p("2d"), Some(Duration::days(2)));
        assert_eq!(p("45s"), Some(Duration::seconds(45)));
        assert_eq!(p("60"), None);
        assert_eq!(p("0m"), None);
        assert_eq!(p("1w"), None);
        assert_eq!(p("3650d"), Some(Duration::days(3650)));
        assert_eq!(p("3651d"), None);
        assert_eq!(p("99999999999999d"), None);
        assert_eq!(p(""), None);
    }

    #[test]
    fn environment_names_map_to_three_environments() {
        assert_eq!(Environment::parse("Prod"), Some(Environment::Production));
        assert_eq!(Environment::parse("STAGING"), Some(Environment::Test));
        assert_eq!(Environment::parse("sandbox"), Some(Environment::Dev));
        assert_eq!(Environment::parse("mars"), None);
    }
}

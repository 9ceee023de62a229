//! The runbook's `manage:` section: the declared state of GuardDuty and Security Hub in the
//! delegated administrator account, and the accounts and Regions it covers. Validated when the
//! runbook loads (names, quotas, GuardDuty criterion attributes and operators, Security Hub
//! filter attributes and their kinds), so a plan never starts from a declaration AWS refuses.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use super::attrs::{gd_attribute_known, sh_filter_kind, ShFilterKind};

fn yes() -> bool {
    true
}

fn default_prefix() -> String {
    "vigil-".to_owned()
}

/// The `manage:` section.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManageSpec {
    /// The Regions managed (each gets the GuardDuty and Security Hub sections below, except
    /// items that name their own `regions`). At least one.
    pub regions: Vec<String>,
    /// Which accounts are enrolled as members (default: the whole organisation).
    #[serde(default)]
    pub scope: Scope,
    /// Delete filters, lists and insights that Vigil did not create (their names lack
    /// `owner_prefix`) when they are not declared here. Default false: only Vigil's own
    /// undeclared resources are deleted.
    #[serde(default)]
    pub prune: bool,
    /// Apply configuration drift found by the scheduled run (default false: report it).
    /// Enrolment of in-scope accounts is always applied.
    #[serde(default)]
    pub auto_correct: bool,
    /// The name prefix that marks filters, lists and insights as Vigil's.
    #[serde(default = "default_prefix")]
    pub owner_prefix: String,
    #[serde(default)]
    pub guardduty: Option<GuardDutySpec>,
    #[serde(default)]
    pub securityhub: Option<SecurityHubSpec>,
}

/// Accounts in scope. Empty lists mean the whole organisation.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    /// OU paths (`Root/Workloads`, and everything below) or OU names.
    #[serde(default)]
    pub organizational_units: Vec<String>,
    /// Account ids in scope in addition to the OUs'.
    #[serde(default)]
    pub accounts: Vec<String>,
    /// Account ids never enrolled.
    #[serde(default)]
    pub exclude_accounts: Vec<String>,
}

/// GuardDuty finding publishing frequency: paces *updates* of existing findings to
/// EventBridge and Security Hub (new findings arrive within about 5 minutes either way).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PublishingFrequency {
    FifteenMinutes,
    OneHour,
    SixHours,
}

impl PublishingFrequency {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FifteenMinutes => "FIFTEEN_MINUTES",
            Self::OneHour => "ONE_HOUR",
            Self::SixHours => "SIX_HOURS",
        }
    }
}

/// Organisation auto-enable: new accounts only, all accounts, or none.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AutoEnableMode {
    New,
    All,
    None,
}

impl AutoEnableMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "NEW",
            Self::All => "ALL",
            Self::None => "NONE",
        }
    }
}

/// A detector feature's state.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FeatureState {
    Enabled,
    Disabled,
}

impl FeatureState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => "ENABLED",
            Self::Disabled => "DISABLED",
        }
    }
}

/// GuardDuty detector features (`DataSources` is deprecated and not used).
pub const GD_FEATURES: [&str; 9] = [
    "S3_DATA_EVENTS",
    "EKS_AUDIT_LOGS",
    "EBS_MALWARE_PROTECTION",
    "RDS_LOGIN_EVENTS",
    "LAMBDA_NETWORK_LOGS",
    "EKS_RUNTIME_MONITORING",
    "RUNTIME_MONITORING",
    "AI_PROTECTION",
    "AI_ANALYST",
];

/// GuardDuty in the administrator account, per Region.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardDutySpec {
    /// Create the administrator's detector where there is none.
    #[serde(default = "yes")]
    pub enable: bool,
    pub finding_publishing_frequency: Option<PublishingFrequency>,
    /// Protection plans on the administrator's detector, by feature name.
    #[serde(default)]
    pub features: BTreeMap<String, FeatureState>,
    /// Organisation auto-enable for members and for each feature.
    #[serde(default)]
    pub auto_enable: Option<GdAutoEnable>,
    /// Saved filters and suppression (auto-archive) rules.
    #[serde(default)]
    pub filters: Vec<FilterSpec>,
    /// The trusted IP list (GuardDuty allows one per Region).
    #[serde(default)]
    pub trusted_ip_list: Option<ListSpec>,
    /// Threat intel sets (at most 6 per Region).
    #[serde(default)]
    pub threat_intel_sets: Vec<ListSpec>,
    /// Make every in-scope account a GuardDuty member (`CreateMembers`).
    #[serde(default = "yes")]
    pub enrol_members: bool,
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GdAutoEnable {
    pub members: Option<AutoEnableMode>,
    #[serde(default)]
    pub features: BTreeMap<String, AutoEnableMode>,
}

/// What a GuardDuty filter does with matches.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FilterAction {
    /// A saved filter.
    #[default]
    Noop,
    /// A suppression rule: new matching findings are archived and never reach Security Hub.
    Archive,
}

impl FilterAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Noop => "NOOP",
            Self::Archive => "ARCHIVE",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "NOOP" => Some(Self::Noop),
            "ARCHIVE" => Some(Self::Archive),
            _ => None,
        }
    }
}

/// A GuardDuty filter.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterSpec {
    /// 3 to 64 characters of `A-Za-z0-9._-`.
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub action: FilterAction,
    /// 1 to 100: the filter's position and the order filters apply in. When absent, the
    /// filter's position in this list is used on creation and the rank is not compared.
    #[serde(default)]
    pub rank: Option<u32>,
    /// GuardDuty finding criteria: attribute -> condition.
    pub criteria: BTreeMap<String, Condition>,
    /// Only in these Regions (default: every managed Region).
    #[serde(default)]
    pub regions: Vec<String>,
}

fn scalar_strings<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        S(String),
        I(i64),
        F(f64),
        B(bool),
    }
    let v: Vec<Scalar> = Vec::deserialize(d)?;
    Ok(v.into_iter()
        .map(|s| match s {
            Scalar::S(s) => s,
            Scalar::I(i) => i.to_string(),
            Scalar::F(f) => f.to_string(),
            Scalar::B(b) => b.to_string(),
        })
        .collect())
}

/// A GuardDuty criterion condition, in the API's names. The deprecated `eq`, `neq`, `gt`,
/// `gte`, `lt`, `lte` are refused.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Condition {
    #[serde(default, deserialize_with = "scalar_strings")]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "schema", schemars(with = "Vec<serde_json::Value>"))]
    pub equals: Vec<String>,
    #[serde(default, deserialize_with = "scalar_strings")]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "schema", schemars(with = "Vec<serde_json::Value>"))]
    pub not_equals: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub greater_than: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub greater_than_or_equal: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub less_than: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub less_than_or_equal: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_matches: Vec<String>,
}

impl Condition {
    fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The canonical form compared by the planner: value lists sorted and deduplicated
    /// (GuardDuty treats them as sets).
    pub fn canonical(&self) -> Self {
        let mut c = self.clone();
        for v in [
            &mut c.equals,
            &mut c.not_equals,
            &mut c.matches,
            &mut c.not_matches,
        ] {
            v.sort();
            v.dedup();
        }
        c
    }
}

/// A GuardDuty list's format.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ListFormat {
    #[default]
    Txt,
    Stix,
    OtxCsv,
    AlienVault,
    ProofPoint,
    FireEye,
}

impl ListFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Txt => "TXT",
            Self::Stix => "STIX",
            Self::OtxCsv => "OTX_CSV",
            Self::AlienVault => "ALIEN_VAULT",
            Self::ProofPoint => "PROOF_POINT",
            Self::FireEye => "FIRE_EYE",
        }
    }
}

/// A trusted IP list or threat intel set: inline entries (Vigil uploads them to its bucket) or
/// an S3 object the customer maintains.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListSpec {
    pub name: String,
    #[serde(default)]
    pub format: ListFormat,
    /// Addresses and CIDRs (format TXT only).
    #[serde(default)]
    pub entries: Vec<String>,
    /// `s3://bucket/key` or `https://...` of an object the customer keeps.
    #[serde(default)]
    pub location: Option<String>,
    /// Activate the list (default true).
    #[serde(default = "yes")]
    pub active: bool,
    #[serde(default)]
    pub regions: Vec<String>,
}

/// Security Hub organisation setup, insights and action targets, per Region.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityHubSpec {
    /// Enable Security Hub in the administrator account where it is not.
    #[serde(default = "yes")]
    pub enable: bool,
    /// Organisation auto-enable of new accounts (local configuration).
    #[serde(default)]
    pub auto_enable: Option<bool>,
    /// Default standards for auto-enabled accounts.
    #[serde(default)]
    pub auto_enable_standards: Option<StandardsMode>,
    #[serde(default)]
    pub insights: Vec<InsightSpec>,
    /// The response clock's custom actions (Vigil: acknowledge, resolve, false positive,
    /// reopen).
    #[serde(default = "yes")]
    pub action_targets: bool,
    /// Make every in-scope account a Security Hub member (`CreateMembers`).
    #[serde(default = "yes")]
    pub enrol_members: bool,
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StandardsMode {
    Default,
    None,
}

impl StandardsMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Default => "DEFAULT",
            Self::None => "NONE",
        }
    }
}

/// A custom insight.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InsightSpec {
    pub name: String,
    /// The attribute results are grouped by (a filter attribute such as `ResourceId`).
    pub group_by: String,
    /// `AwsSecurityFindingFilters` as in the API: attribute -> list of filters.
    pub filters: BTreeMap<String, Vec<ShFilter>>,
    #[serde(default)]
    pub regions: Vec<String>,
}

/// One Security Hub filter value: a string filter (`Value`, `Comparison`), a number filter
/// (`Gte`, `Lte`, `Eq`, `Gt`, `Lt`), a date filter (`Start`, `End` or `DateRange`), a map
/// filter (`Key`, `Value`, `Comparison`), an IP filter (`Cidr`), a keyword filter (`Value`)
/// or a boolean filter (`Value`), as the attribute's kind requires.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ShFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparison: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gte: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lte: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eq: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gt: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lt: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_range: Option<DateRange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr: Option<String>,
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DateRange {
    pub value: i32,
    /// `DAYS` is the only unit the API has.
    pub unit: String,
}

const STRING_COMPARISONS: [&str; 6] = [
    "EQUALS",
    "PREFIX",
    "NOT_EQUALS",
    "PREFIX_NOT_EQUALS",
    "CONTAINS",
    "NOT_CONTAINS",
];
const MAP_COMPARISONS: [&str; 4] = ["EQUALS", "NOT_EQUALS", "CONTAINS", "NOT_CONTAINS"];

/// GuardDuty limits.
pub const MAX_FILTERS: usize = 100;
pub const MAX_THREAT_SETS: usize = 6;
pub const MAX_TRUSTED_ENTRIES: usize = 2_000;
pub const MAX_THREAT_ENTRIES: usize = 250_000;
/// Security Hub limits.
pub const MAX_INSIGHTS: usize = 100;
pub const MAX_INSIGHT_ATTRIBUTES: usize = 10;
pub const MAX_INSIGHT_VALUES: usize = 20;

fn valid_gd_name(n: &str) -> bool {
    (3..=64).contains(&n.len())
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn valid_region(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()))
}

fn valid_account(a: &str) -> bool {
    a.len() == 12 && a.chars().all(|c| c.is_ascii_digit())
}

impl ManageSpec {
    /// Every problem with the declaration, each naming the item.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.regions.is_empty() {
            p.push("manage.regions: name at least one Region".to_owned());
        }
        for r in &self.regions {
            if !valid_region(r) {
                p.push(format!("manage.regions: {r:?} is not a Region name"));
            }
        }
        if self.owner_prefix.len() < 2 || !valid_gd_name(&format!("{}x", self.owner_prefix)) {
            p.push(format!(
                "manage.owner_prefix: {:?} must be 2 or more characters of A-Za-z0-9._-",
                self.owner_prefix
            ));
        }
        for a in self
            .scope
            .accounts
            .iter()
            .chain(&self.scope.exclude_accounts)
        {
            if !valid_account(a) {
                p.push(format!(
                    "manage.scope: {a:?} is not a 12-digit account id (quote it in YAML)"
                ));
            }
        }
        let check_regions = |what: &str, regions: &[String], p: &mut Vec<String>| {
            for r in regions {
                if !self.regions.contains(r) {
                    p.push(format!("{what}: Region {r:?} is not in manage.regions"));
                }
            }
        };
        if let Some(gd) = &self.guardduty {
            for f in gd.features.keys() {
                if !GD_FEATURES.contains(&f.as_str()) {
                    p.push(format!(
                        "manage.guardduty.features: unknown feature {f:?} (known: {})",
                        GD_FEATURES.join(", ")
                    ));
                }
            }
            // GuardDuty refuses a request that names both (whatever their states).
            if gd.features.contains_key("EKS_RUNTIME_MONITORING")
                && gd.features.contains_key("RUNTIME_MONITORING")
            {
                p.push("manage.guardduty.features: declare RUNTIME_MONITORING or EKS_RUNTIME_MONITORING, not both (RUNTIME_MONITORING covers EKS)".into());
            }
            if let Some(ae) = &gd.auto_enable {
                if ae.features.contains_key("EKS_RUNTIME_MONITORING")
                    && ae.features.contains_key("RUNTIME_MONITORING")
                {
                    p.push("manage.guardduty.auto_enable.features: declare RUNTIME_MONITORING or EKS_RUNTIME_MONITORING, not both".into());
                }
                for f in ae.features.keys() {
                    if !GD_FEATURES.contains(&f.as_str()) || f == "AI_ANALYST" {
                        p.push(format!(
                            "manage.guardduty.auto_enable.features: {f:?} is not an organisation feature"
                        ));
                    }
                }
            }
            if gd.filters.len() > MAX_FILTERS {
                p.push(format!(
                    "manage.guardduty.filters: {} filters, GuardDuty allows {MAX_FILTERS} per Region",
                    gd.filters.len()
                ));
            }
            let mut seen = std::collections::BTreeSet::new();
            for f in &gd.filters {
                let at = format!("manage.guardduty.filters[{}]", f.name);
                if !seen.insert(&f.name) {
                    p.push(format!("{at}: declared twice"));
                }
                self.prefix_problem(&at, &f.name, &mut p);
                if !valid_gd_name(&f.name) {
                    p.push(format!(
                        "{at}: the name must be 3 to 64 characters of A-Za-z0-9._-"
                    ));
                }
                if f.description.chars().count() > 512 {
                    p.push(format!("{at}: description longer than 512 characters"));
                }
                if f.rank.is_some_and(|r| !(1..=100).contains(&r)) {
                    p.push(format!("{at}: rank must be 1 to 100"));
                }
                if f.criteria.is_empty() {
                    p.push(format!("{at}: criteria must name at least one attribute"));
                }
                for (attr, c) in &f.criteria {
                    condition_problems(&at, attr, c, &mut p);
                }
                check_regions(&at, &f.regions, &mut p);
            }
            let mut lists: Vec<(&str, &ListSpec, usize)> = Vec::new();
            if let Some(t) = &gd.trusted_ip_list {
                lists.push(("trusted_ip_list", t, MAX_TRUSTED_ENTRIES));
            }
            for t in &gd.threat_intel_sets {
                lists.push(("threat_intel_sets", t, MAX_THREAT_ENTRIES));
            }
            if gd.threat_intel_sets.len() > MAX_THREAT_SETS {
                p.push(format!(
                    "manage.guardduty.threat_intel_sets: {} sets, GuardDuty allows {MAX_THREAT_SETS} per Region",
                    gd.threat_intel_sets.len()
                ));
            }
            let mut names = std::collections::BTreeSet::new();
            for (what, l, max) in lists {
                let at = format!("manage.guardduty.{what}[{}]", l.name);
                if !names.insert(&l.name) {
                    p.push(format!("{at}: a list of that name is declared twice"));
                }
                self.prefix_problem(&at, &l.name, &mut p);
                if l.name.is_empty()
                    || l.name.len() > 300
                    || !l
                        .name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
                {
                    p.push(format!(
                        "{at}: the name must be 1 to 300 characters of A-Za-z0-9_- (it names the list's S3 object too)"
                    ));
                }
                match (&l.location, l.entries.is_empty()) {
                    (Some(_), false) => {
                        p.push(format!("{at}: give entries or a location, not both"))
                    }
                    (None, true) => p.push(format!("{at}: give entries or a location")),
                    (Some(loc), true) => {
                        if !(loc.starts_with("s3://") || loc.starts_with("https://"))
                            || loc.len() > 300
                        {
                            p.push(format!("{at}: location must be an s3:// or https:// URI of at most 300 characters"));
                        }
                    }
                    (None, false) => {
                        if l.format != ListFormat::Txt {
                            p.push(format!("{at}: inline entries are uploaded as TXT; set format TXT or give a location"));
                        }
                        if l.entries.len() > max {
                            p.push(format!(
                                "{at}: {} entries, GuardDuty takes at most {max}",
                                l.entries.len()
                            ));
                        }
                        for e in &l.entries {
                            if e.parse::<std::net::IpAddr>().is_err()
                                && e.parse::<ipnet::IpNet>().is_err()
                            {
                                p.push(format!("{at}: {e:?} is not an IP address or CIDR"));
                            }
                        }
                    }
                }
                check_regions(&at, &l.regions, &mut p);
            }
        }
        if let Some(sh) = &self.securityhub {
            if sh.insights.len() > MAX_INSIGHTS {
                p.push(format!(
                    "manage.securityhub.insights: {} insights, Security Hub allows {MAX_INSIGHTS} per Region",
                    sh.insights.len()
                ));
            }
            let mut seen = std::collections::BTreeSet::new();
            for i in &sh.insights {
                let at = format!("manage.securityhub.insights[{}]", i.name);
                if !seen.insert(&i.name) {
                    p.push(format!("{at}: declared twice"));
                }
                self.prefix_problem(&at, &i.name, &mut p);
                if i.name.trim().is_empty() || i.name.chars().count() > 128 {
                    p.push(format!("{at}: the name must be 1 to 128 characters"));
                }
                if sh_filter_kind(&i.group_by).is_none() {
                    p.push(format!(
                        "{at}: group_by {:?} is not a finding filter attribute",
                        i.group_by
                    ));
                }
                if i.filters.is_empty() {
                    p.push(format!("{at}: filters must name at least one attribute"));
                }
                if i.filters.len() > MAX_INSIGHT_ATTRIBUTES {
                    p.push(format!(
                        "{at}: {} filter attributes, an insight takes at most {MAX_INSIGHT_ATTRIBUTES}",
                        i.filters.len()
                    ));
                }
                for (attr, values) in &i.filters {
                    sh_filter_problems(&at, attr, values, &mut p);
                }
                check_regions(&at, &i.regions, &mut p);
            }
        }
        p
    }

    /// The Regions an item applies in.
    pub fn item_regions<'a>(&'a self, own: &'a [String]) -> &'a [String] {
        if own.is_empty() {
            &self.regions
        } else {
            own
        }
    }

    fn prefix_problem(&self, at: &str, name: &str, p: &mut Vec<String>) {
        if !self.owns(name) {
            p.push(format!(
                "{at}: the name must start with {:?} (manage.owner_prefix), which marks what Vigil owns",
                self.owner_prefix
            ));
        }
    }

    /// Why an undeclared filter, list or insight of this name is deleted, if it is: Vigil's own
    /// always, anyone else's only with `prune: true` (the one ownership rule of the planner).
    pub fn undeclared_delete_reason(&self, name: &str) -> Option<&'static str> {
        if self.owns(name) {
            Some("Vigil's, no longer declared")
        } else if self.prune {
            Some("not declared (prune: true)")
        } else {
            None
        }
    }

    /// Whether Vigil owns a resource of this name.
    pub fn owns(&self, name: &str) -> bool {
        name.starts_with(&self.owner_prefix)
    }
}

fn condition_problems(at: &str, attr: &str, c: &Condition, p: &mut Vec<String>) {
    if !gd_attribute_known(attr) {
        p.push(format!(
            "{at}: {attr:?} is not a GuardDuty finding criterion attribute"
        ));
    }
    if c.is_empty() {
        p.push(format!("{at}: {attr}: give at least one operator (equals, notEquals, greaterThan, greaterThanOrEqual, lessThan, lessThanOrEqual, matches, notMatches)"));
    }
    if c.equals.len() > 50 || c.not_equals.len() > 50 {
        p.push(format!(
            "{at}: {attr}: equals and notEquals take at most 50 values"
        ));
    }
    if c.matches.len() > 5 || c.not_matches.len() > 5 {
        p.push(format!(
            "{at}: {attr}: matches and notMatches take at most 5 patterns"
        ));
    }
    if c.equals
        .iter()
        .chain(&c.not_equals)
        .chain(&c.matches)
        .chain(&c.not_matches)
        .any(|v| v.is_empty())
    {
        p.push(format!("{at}: {attr}: empty value"));
    }
}

fn sh_filter_problems(at: &str, attr: &str, values: &[ShFilter], p: &mut Vec<String>) {
    let Some(kind) = sh_filter_kind(attr) else {
        p.push(format!(
            "{at}: {attr:?} is not a Security Hub finding filter attribute"
        ));
        return;
    };
    if values.is_empty() || values.len() > MAX_INSIGHT_VALUES {
        p.push(format!(
            "{at}: {attr}: 1 to {MAX_INSIGHT_VALUES} filters per attribute"
        ));
    }
    for f in values {
        let numbers = [f.gte, f.lte, f.eq, f.gt, f.lt].iter().any(Option::is_some);
        let dates = f.start.is_some() || f.end.is_some() || f.date_range.is_some();
        let ok = match kind {
            ShFilterKind::String => {
                f.value.as_ref().is_some_and(|v| v.is_string())
                    && f.comparison
                        .as_deref()
                        .is_some_and(|c| STRING_COMPARISONS.contains(&c))
                    && f.key.is_none()
                    && !numbers
                    && !dates
                    && f.cidr.is_none()
            }
            ShFilterKind::Map => {
                f.key.is_some()
                    && f.value.as_ref().is_some_and(|v| v.is_string())
                    && f.comparison
                        .as_deref()
                        .is_some_and(|c| MAP_COMPARISONS.contains(&c))
                    && !numbers
                    && !dates
            }
            ShFilterKind::Number => {
                numbers && f.value.is_none() && f.comparison.is_none() && !dates
            }
            ShFilterKind::Date => {
                dates
                    && f.value.is_none()
                    && !numbers
                    && f.date_range.as_ref().is_none_or(|d| d.unit == "DAYS")
            }
            ShFilterKind::Ip => f.cidr.is_some() && f.value.is_none() && !numbers && !dates,
            ShFilterKind::Keyword => {
                f.value.as_ref().is_some_and(|v| v.is_string()) && f.comparison.is_none()
            }
            ShFilterKind::Boolean => {
                f.value.as_ref().is_some_and(|v| v.is_boolean()) && f.comparison.is_none()
            }
        };
        if !ok {
            p.push(format!(
                "{at}: {attr}: {} (this attribute is a {} filter)",
                kind.shape(),
                kind.name()
            ));
        }
    }
}

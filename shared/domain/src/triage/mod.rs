//! Runbook triage: the customer's rules, compiled once when the runbook loads and applied to
//! every finding before it is deduplicated and grouped.
//!
//! A rule matches a finding when every criterion it gives holds ([`spec::MatchSpec`]); its
//! actions then suppress the finding (a false positive or accepted risk: stored with the rule
//! and reason, never in an incident), change its severity, environment or owner, choose a route
//! or add a note for the analyst. Rules apply in the order written; for each single-valued
//! action (suppress, severity, environment, owner, route) the first matching rule that sets it
//! wins, and later rules see the values earlier ones set. Notes accumulate.
//!
//! Safety, whatever the rules say: a suppress never hides a CRITICAL finding or a HIGH one in
//! production, and a `set_severity` never lowers one, unless that rule says
//! `allow_high_severity: true`; a refused action is recorded as such. Expired and disabled
//! rules never match.
//!
//! Speed: rules are indexed by a field they require (finding type, control id, account id,
//! generator id, product name), so a finding is tested only against the rules that can match
//! it plus the rules with no such field (see `docs/performance.md` for 200 rules).
//!
//! # Layout
//! - [`spec`]: the YAML forms of rules, criteria, routes and tests, with load-time validation.
//! - this module: compilation ([`compile`]), the index, evaluation ([`CompiledRules::evaluate`])
//!   and its result ([`Decisions`]).

pub mod check;
pub mod explain;
#[cfg(feature = "schema")]
pub mod schema;
pub mod spec;

pub use explain::Explanation;

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use chrono::{DateTime, NaiveDate, Utc};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::asff::SeverityLabel;
use crate::finding::NormalizedFinding;
use crate::runbook::Environment;
use spec::{
    ActionsSpec, Comparison, DateCriterion, IpCriterion, NumberCriterion, RouteSpec, RuleSpec,
    SeverityCriterion, StringCriterion,
};

/// A problem found when compiling the rules: the rule it is about and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleProblem {
    /// The rule's id, or `ip_lists.<name>` for a list.
    pub rule: String,
    pub message: String,
}

/// String fields a criterion can test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Field {
    ProductName,
    CompanyName,
    FindingType,
    Types,
    GeneratorId,
    ControlId,
    ComplianceStatus,
    AccountId,
    AccountName,
    Ou,
    Region,
    ResourceType,
    ResourceId,
    Title,
    Description,
    Principal,
    Domain,
    Api,
    WorkflowStatus,
    RecordState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DateField {
    Created,
    Updated,
    FirstObserved,
    LastObserved,
}

/// One compiled string comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Exact(String),
    /// `*`-separated parts: the first is a prefix, the last a suffix, the others in order.
    Glob(Vec<String>),
    Prefix(String),
    Contains(String),
}

impl Pattern {
    fn of(cmp: Comparison, value: &str) -> Self {
        match cmp {
            Comparison::Equals | Comparison::NotEquals if value.contains('*') => {
                Self::Glob(value.split('*').map(str::to_owned).collect())
            }
            Comparison::Equals | Comparison::NotEquals => Self::Exact(value.to_owned()),
            Comparison::Prefix | Comparison::NotPrefix => Self::Prefix(value.to_owned()),
            Comparison::Contains | Comparison::NotContains => Self::Contains(value.to_owned()),
        }
    }

    fn matches(&self, s: &str) -> bool {
        match self {
            Self::Exact(v) => s == v,
            Self::Prefix(v) => s.starts_with(v.as_str()),
            Self::Contains(v) => s.contains(v.as_str()),
            Self::Glob(parts) => glob(parts, s),
        }
    }
}

/// Whether `s` matches `pattern`, `*` matching any run of characters (none: equality).
pub(crate) fn wildcard(pattern: &str, s: &str) -> bool {
    if !pattern.contains('*') {
        return pattern == s;
    }
    glob(
        &pattern.split('*').map(str::to_owned).collect::<Vec<_>>(),
        s,
    )
}

fn glob(parts: &[String], s: &str) -> bool {
    let (Some(first), Some(last)) = (parts.first(), parts.last()) else {
        return false;
    };
    if parts.len() == 1 {
        return s == first;
    }
    let Some(mut rest) = s.strip_prefix(first.as_str()) else {
        return false;
    };
    let middle = &parts[1..parts.len() - 1];
    for m in middle {
        match rest.find(m.as_str()) {
            Some(i) => rest = &rest[i + m.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last.as_str())
}

/// A compiled string criterion: any positive pattern (if there is one) and no negative one.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Matcher {
    positive: Vec<Pattern>,
    negative: Vec<Pattern>,
}

impl Matcher {
    fn of(c: &StringCriterion) -> Self {
        let mut m = Matcher {
            positive: Vec::new(),
            negative: Vec::new(),
        };
        for (cmp, v) in &c.comparisons {
            let p = Pattern::of(*cmp, v);
            if cmp.is_negative() {
                m.negative.push(p);
            } else {
                m.positive.push(p);
            }
        }
        m
    }

    /// Over the values of a field (none when the finding does not have it).
    fn test<'v>(&self, values: impl Iterator<Item = &'v str> + Clone) -> bool {
        let pos = self.positive.is_empty()
            || values
                .clone()
                .any(|v| self.positive.iter().any(|p| p.matches(v)));
        pos && !values
            .into_iter()
            .any(|v| self.negative.iter().any(|p| p.matches(v)))
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Test {
    Str(Field, Matcher),
    Tags(Vec<(String, Matcher)>),
    ProductFields(Vec<(String, Matcher)>),
    Severity(SeverityCriterion),
    Normalized(NumberCriterion),
    Environment(Vec<Environment>),
    Ip {
        all_in: Vec<IpNet>,
        any_in: Vec<IpNet>,
        not_in: Vec<IpNet>,
    },
    Date(DateField, DateCriterion),
}

/// One compiled rule.
#[derive(Debug, Clone, PartialEq)]
pub struct CompiledRule {
    pub id: String,
    pub enabled: bool,
    pub expires: Option<NaiveDate>,
    pub actions: ActionsSpec,
    pub reason: Option<String>,
    pub allow_high_severity: bool,
    tests: Vec<Test>,
}

impl CompiledRule {
    /// Whether the rule is in force at `now` (enabled and not past its `expires` day).
    pub fn in_force(&self, now: DateTime<Utc>) -> bool {
        self.enabled && self.expires.is_none_or(|e| now.date_naive() <= e)
    }

    /// The action names this rule has (`suppress`, `set_severity`, ...).
    pub fn action_names(&self) -> Vec<&'static str> {
        action_names(&self.actions)
    }
}

fn action_names(a: &ActionsSpec) -> Vec<&'static str> {
    let mut v = Vec::new();
    if a.suppress {
        v.push("suppress");
    }
    if a.set_severity.is_some() {
        v.push("set_severity");
    }
    if a.set_environment.is_some() {
        v.push("set_environment");
    }
    if a.set_owner.is_some() {
        v.push("set_owner");
    }
    if a.route.is_some() {
        v.push("route");
    }
    if a.note.is_some() {
        v.push("note");
    }
    v
}

/// Fields rules are indexed by, most selective first.
const INDEXED: [Field; 5] = [
    Field::FindingType,
    Field::ControlId,
    Field::AccountId,
    Field::GeneratorId,
    Field::ProductName,
];

/// The key of a finding type in the index: its part before the first `:` (GuardDuty's threat
/// purpose, `Recon`), so that `Recon:EC2/*` and `Recon:EC2/PortProbeUnprotectedPort` share it.
fn type_segment(s: &str) -> &str {
    s.split(':').next().unwrap_or(s)
}

/// The runbook's rules, compiled, with the index.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CompiledRules {
    pub rules: Vec<CompiledRule>,
    /// Field -> key -> rules (indices, ascending) that require that key.
    index: Vec<(Field, HashMap<String, Vec<u32>>)>,
    /// Rules with no indexed field: tested against every finding.
    always: Vec<u32>,
}

/// Compiles the rules, resolving IP list names and routes; every problem is returned.
pub fn compile(
    rules: &[RuleSpec],
    ip_lists: &BTreeMap<String, Vec<String>>,
    routes: &BTreeMap<String, RouteSpec>,
) -> Result<CompiledRules, Vec<RuleProblem>> {
    let mut problems = Vec::new();
    let mut lists: BTreeMap<&str, Vec<IpNet>> = BTreeMap::new();
    for (name, entries) in ip_lists {
        let mut nets = Vec::new();
        for e in entries {
            match parse_net(e) {
                Some(n) => nets.push(n),
                None => problems.push(RuleProblem {
                    rule: format!("ip_lists.{name}"),
                    message: format!("{e:?} is not an IP address or CIDR"),
                }),
            }
        }
        if entries.is_empty() {
            problems.push(RuleProblem {
                rule: format!("ip_lists.{name}"),
                message: "an empty list matches nothing".into(),
            });
        }
        lists.insert(name, nets);
    }
    let mut out = CompiledRules::default();
    let mut seen: BTreeMap<&str, ()> = BTreeMap::new();
    for r in rules {
        let mut problem = |message: String| {
            problems.push(RuleProblem {
                rule: r.id.clone(),
                message,
            })
        };
        if r.id.trim().is_empty() || r.id.len() > 64 {
            problem("a rule id must be 1 to 64 characters".into());
        }
        if seen.insert(&r.id, ()).is_some() {
            problem("duplicate rule id".into());
        }
        let a = &r.actions;
        if action_names(a).is_empty() {
            problem("a rule needs at least one action".into());
        }
        let needs_reason = a.suppress || a.set_severity.is_some();
        if needs_reason && r.reason.as_deref().is_none_or(|s| s.trim().is_empty()) {
            problem("a rule that suppresses or changes severity must give a reason".into());
        }
        if let Some(route) = &a.route {
            if !routes.contains_key(route) {
                problem(format!(
                    "route {route:?} is not declared under routes: (declared: {})",
                    names(routes.keys())
                ));
            }
        }
        if let (Some(e), c) = (r.expires, r.created) {
            if e < c {
                problem(format!("expires {} is before created {}", e.0, c.0));
            }
        }
        if a.suppress && a.set_severity.is_some() {
            problem("suppress and set_severity together: a suppressed finding has no severity to set; use two rules".into());
        }
        let tests = compile_match(&r.criteria, &lists, &mut problem);
        out.rules.push(CompiledRule {
            id: r.id.clone(),
            enabled: r.enabled,
            expires: r.expires.map(|d| d.0),
            actions: r.actions.clone(),
            reason: r.reason.clone(),
            allow_high_severity: r.allow_high_severity,
            tests,
        });
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    out.build_index();
    Ok(out)
}

fn names<'a>(keys: impl Iterator<Item = &'a String>) -> String {
    let v: Vec<&str> = keys.map(String::as_str).collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

fn parse_net(s: &str) -> Option<IpNet> {
    let s = s.trim();
    s.parse::<IpNet>()
        .ok()
        .map(|n| n.trunc())
        .or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
}

fn compile_match(
    m: &spec::MatchSpec,
    lists: &BTreeMap<&str, Vec<IpNet>>,
    problem: &mut dyn FnMut(String),
) -> Vec<Test> {
    let mut tests = Vec::new();
    let mut s = |field: Field, c: &Option<StringCriterion>| {
        if let Some(c) = c {
            tests.push(Test::Str(field, Matcher::of(c)));
        }
    };
    s(Field::FindingType, &m.finding_type);
    s(Field::ControlId, &m.control_id);
    s(Field::AccountId, &m.account_id);
    s(Field::GeneratorId, &m.generator_id);
    s(Field::ProductName, &m.product_name);
    s(Field::CompanyName, &m.company_name);
    s(Field::Types, &m.types);
    s(Field::ComplianceStatus, &m.compliance_status);
    s(Field::AccountName, &m.account_name);
    s(Field::Ou, &m.ou);
    s(Field::Region, &m.region);
    s(Field::ResourceType, &m.resource_type);
    s(Field::ResourceId, &m.resource_id);
    s(Field::Principal, &m.principal);
    s(Field::Domain, &m.domain);
    s(Field::Api, &m.api);
    s(Field::WorkflowStatus, &m.workflow_status);
    s(Field::RecordState, &m.record_state);
    s(Field::Title, &m.title);
    s(Field::Description, &m.description);
    if let Some(c) = &m.severity {
        tests.push(Test::Severity(*c));
    }
    if let Some(c) = &m.severity_normalized {
        tests.push(Test::Normalized(*c));
    }
    if let Some(c) = &m.environment {
        tests.push(Test::Environment(c.allowed.clone()));
    }
    let map = |m: &BTreeMap<String, StringCriterion>| {
        m.iter()
            .map(|(k, c)| (k.clone(), Matcher::of(c)))
            .collect::<Vec<_>>()
    };
    if let Some(t) = &m.resource_tags {
        if t.is_empty() {
            problem("resource_tags: an empty map matches nothing".into());
        }
        tests.push(Test::Tags(map(t)));
    }
    if let Some(t) = &m.product_fields {
        if t.is_empty() {
            problem("product_fields: an empty map matches nothing".into());
        }
        tests.push(Test::ProductFields(map(t)));
    }
    if let Some(IpCriterion {
        all_in,
        any_in,
        not_in,
    }) = &m.remote_ip
    {
        let mut resolve = |entries: &[String]| -> Vec<IpNet> {
            let mut nets = Vec::new();
            for e in entries {
                if let Some(l) = lists.get(e.as_str()) {
                    nets.extend(l.iter().copied());
                } else if let Some(n) = parse_net(e) {
                    nets.push(n);
                } else {
                    problem(format!(
                        "remote_ip: {e:?} is neither a list under ip_lists: nor an IP address or CIDR (lists: {})",
                        names(lists.keys().map(|k| k.to_string()).collect::<Vec<_>>().iter())
                    ));
                }
            }
            nets
        };
        let (all_in, any_in, not_in) = (resolve(all_in), resolve(any_in), resolve(not_in));
        tests.push(Test::Ip {
            all_in,
            any_in,
            not_in,
        });
    }
    for (field, c) in [
        (DateField::Created, &m.created_at),
        (DateField::Updated, &m.updated_at),
        (DateField::FirstObserved, &m.first_observed_at),
        (DateField::LastObserved, &m.last_observed_at),
    ] {
        if let Some(c) = c {
            tests.push(Test::Date(field, *c));
        }
    }
    tests
}

impl CompiledRules {
    fn build_index(&mut self) {
        let mut index: Vec<(Field, HashMap<String, Vec<u32>>)> =
            INDEXED.iter().map(|f| (*f, HashMap::new())).collect();
        for (i, r) in self.rules.iter().enumerate() {
            let i = i as u32;
            let keyed = INDEXED.iter().enumerate().find_map(|(slot, field)| {
                r.tests.iter().find_map(|t| match t {
                    Test::Str(f, m) if f == field => index_keys(*f, m).map(|k| (slot, k)),
                    _ => None,
                })
            });
            match keyed {
                Some((slot, keys)) => {
                    for k in keys {
                        let list = index[slot].1.entry(k).or_default();
                        if list.last() != Some(&i) {
                            list.push(i);
                        }
                    }
                }
                None => self.always.push(i),
            }
        }
        index.retain(|(_, m)| !m.is_empty());
        self.index = index;
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn get(&self, id: &str) -> Option<&CompiledRule> {
        self.rules.iter().find(|r| r.id == id)
    }

    /// Applies the rules to `f` at `now` (the delivery time): the decisions, and `f`'s
    /// severity, environment and owner changed as they say.
    pub fn apply(&self, f: &mut NormalizedFinding, now: DateTime<Utc>) {
        if self.rules.is_empty() {
            return;
        }
        let d = self.evaluate(f, now);
        if let Some(s) = &d.severity {
            f.severity = s.to;
        }
        if let Some(e) = &d.environment {
            f.account.environment = e.value;
            f.account.environment_source = crate::enrich::EnvironmentSource::Rule;
        }
        if let Some(o) = &d.owner {
            f.account.owner = Some(o.value.clone());
        }
        f.decisions = d;
    }

    /// What the rules decide about `f` at `now`, without changing it.
    pub fn evaluate(&self, f: &NormalizedFinding, now: DateTime<Utc>) -> Decisions {
        let mut d = Decisions::default();
        if self.rules.is_empty() {
            return d;
        }
        let mut candidates: Vec<u32> = self.always.clone();
        let subject = Subject::new(f, f.account.environment, f.severity, now);
        let mut vals: Vec<&str> = Vec::new();
        for (field, map) in &self.index {
            vals.clear();
            collect(&subject, *field, &mut vals);
            for v in &vals {
                let key = if *field == Field::FindingType {
                    type_segment(v)
                } else {
                    v
                };
                if let Some(list) = map.get(key) {
                    candidates.extend_from_slice(list);
                }
            }
        }
        candidates.sort_unstable();
        candidates.dedup();
        let original = f.severity;
        let mut severity = f.severity;
        let mut env = f.account.environment;
        for i in candidates {
            let Some(rule) = self.rules.get(i as usize) else {
                continue;
            };
            if !rule.in_force(now) {
                continue;
            }
            let subject = Subject::new(f, env, severity, now);
            if !rule.tests.iter().all(|t| subject.test(t)) {
                continue;
            }
            let mut m = RuleMatch {
                id: rule.id.clone(),
                actions: Vec::new(),
                refused: Vec::new(),
            };
            let a = &rule.actions;
            let reason = rule.reason.clone().unwrap_or_default();
            let serious = |sev: SeverityLabel| {
                sev == SeverityLabel::Critical
                    || (sev == SeverityLabel::High && env == Environment::Production)
            };
            if a.suppress && d.suppressed.is_none() {
                if (serious(severity) || serious(original)) && !rule.allow_high_severity {
                    m.refused.push(format!(
                        "suppress refused: the finding is {severity}{} (the rule does not set allow_high_severity)",
                        if env == Environment::Production { " in production" } else { "" }
                    ));
                } else {
                    d.suppressed = Some(Suppression {
                        rule: rule.id.clone(),
                        reason: reason.clone(),
                    });
                    m.actions.push("suppress".into());
                }
            }
            if let Some(to) = a.set_severity.map(|s| s.0) {
                if d.severity.is_none() && to != severity {
                    if to < severity && serious(severity) && !rule.allow_high_severity {
                        m.refused.push(format!(
                            "set_severity {to} refused: lowering a {severity} finding{} needs allow_high_severity",
                            if env == Environment::Production { " in production" } else { "" }
                        ));
                    } else {
                        d.severity = Some(SeverityChange {
                            from: severity,
                            to,
                            rule: rule.id.clone(),
                            reason: reason.clone(),
                        });
                        severity = to;
                        m.actions.push("set_severity".into());
                    }
                }
            }
            if let Some(e) = a.set_environment {
                if d.environment.is_none() {
                    d.environment = Some(Set {
                        value: e,
                        rule: rule.id.clone(),
                    });
                    env = e;
                    m.actions.push("set_environment".into());
                }
            }
            if let Some(o) = &a.set_owner {
                if d.owner.is_none() {
                    d.owner = Some(Set {
                        value: crate::bounds::clip(o, crate::bounds::MAX_LABEL_CHARS),
                        rule: rule.id.clone(),
                    });
                    m.actions.push("set_owner".into());
                }
            }
            if let Some(r) = &a.route {
                if d.route.is_none() {
                    d.route = Some(Set {
                        value: r.clone(),
                        rule: rule.id.clone(),
                    });
                    m.actions.push("route".into());
                }
            }
            if let Some(n) = &a.note {
                if d.notes.len() < MAX_NOTES {
                    d.notes.push(Note {
                        rule: rule.id.clone(),
                        text: crate::bounds::clip(n, crate::bounds::MAX_TEXT_CHARS),
                    });
                    m.actions.push("note".into());
                }
            }
            d.rules.push(m);
        }
        d
    }
}

/// Most notes kept per finding.
pub const MAX_NOTES: usize = 8;

fn index_keys(field: Field, m: &Matcher) -> Option<Vec<String>> {
    if m.positive.is_empty() {
        return None;
    }
    let mut keys = Vec::new();
    for p in &m.positive {
        let key = match (field, p) {
            (Field::FindingType, Pattern::Exact(v)) => type_segment(v).to_owned(),
            // A wildcard or prefix type is indexed by its threat purpose when it names one.
            (Field::FindingType, Pattern::Glob(parts)) => {
                let lit = parts.first().filter(|l| l.contains(':'))?;
                type_segment(lit).to_owned()
            }
            (Field::FindingType, Pattern::Prefix(v)) if v.contains(':') => {
                type_segment(v).to_owned()
            }
            (Field::FindingType, _) => return None,
            (_, Pattern::Exact(v)) => v.clone(),
            _ => return None,
        };
        keys.push(key);
    }
    Some(keys)
}

/// The finding as rules see it: its fields, and the environment and severity earlier rules set.
struct Subject<'s, 'a> {
    f: &'s NormalizedFinding<'a>,
    env: Environment,
    severity: SeverityLabel,
    now: DateTime<Utc>,
}

impl<'s, 'a> Subject<'s, 'a> {
    fn new(
        f: &'s NormalizedFinding<'a>,
        env: Environment,
        severity: SeverityLabel,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            f,
            env,
            severity,
            now,
        }
    }

    fn remote_ips(&self) -> Vec<IpAddr> {
        let f = &self.f.finding;
        let mut out: Vec<IpAddr> = Vec::new();
        if let Some(a) = &f.action {
            out.extend(
                a.remote_ips
                    .iter()
                    .filter_map(|s| s.trim().parse::<IpAddr>().ok()),
            );
        }
        // Security Hub's GuardDuty findings also carry the addresses as product fields
        // (`.../portProbeDetails.0_/remoteIpDetails/ipAddressV4`), often without `Action`.
        for (k, v) in &f.product_fields {
            if k.ends_with("remoteIpDetails/ipAddressV4")
                || k.ends_with("remoteIpDetails/ipAddressV6")
            {
                if let Ok(ip) = v.trim().parse::<IpAddr>() {
                    if !out.contains(&ip) {
                        out.push(ip);
                    }
                }
            }
        }
        if out.is_empty() {
            if let Some(n) = &f.network {
                let remote = match n.direction.0.as_deref() {
                    Some(d) if d.eq_ignore_ascii_case("OUT") => n.destination_ip_v4.0.as_deref(),
                    _ => n.source_ip_v4.0.as_deref(),
                };
                out.extend(remote.and_then(|s| s.trim().parse::<IpAddr>().ok()));
            }
        }
        out
    }

    fn test(&self, t: &Test) -> bool {
        let f = &self.f.finding;
        match t {
            Test::Str(field, m) => match single(self, *field) {
                // Most fields have one value: no collection.
                Some(v) => m.test(v.into_iter()),
                None => {
                    let mut vals: Vec<&str> = Vec::new();
                    collect(self, *field, &mut vals);
                    m.test(vals.iter().copied())
                }
            },
            Test::Tags(pairs) => pairs.iter().all(|(k, m)| {
                m.test(
                    f.resources
                        .iter()
                        .flat_map(|r| r.tags.iter())
                        .filter(move |(tk, _)| tk == k)
                        .map(|(_, v)| v.as_ref()),
                )
            }),
            Test::ProductFields(pairs) => pairs.iter().all(|(k, m)| {
                m.test(
                    f.product_fields
                        .iter()
                        .filter(move |(pk, _)| pk == k)
                        .map(|(_, v)| v.as_ref()),
                )
            }),
            Test::Severity(c) => c.admits(self.severity),
            Test::Normalized(c) => normalized(self.f).is_some_and(|n| c.admits(n)),
            Test::Environment(allowed) => allowed.contains(&self.env),
            Test::Ip {
                all_in,
                any_in,
                not_in,
            } => {
                let ips = self.remote_ips();
                let inside = |ip: &IpAddr, nets: &[IpNet]| nets.iter().any(|n| n.contains(ip));
                (all_in.is_empty() || (!ips.is_empty() && ips.iter().all(|ip| inside(ip, all_in))))
                    && (any_in.is_empty() || ips.iter().any(|ip| inside(ip, any_in)))
                    && !ips.iter().any(|ip| inside(ip, not_in))
            }
            Test::Date(field, c) => {
                let t = match field {
                    DateField::Created => Some(f.created_at),
                    DateField::Updated => Some(f.updated_at),
                    DateField::FirstObserved => f.first_observed_at,
                    DateField::LastObserved => f.last_observed_at,
                };
                t.is_some_and(|t| c.admits(t, self.now))
            }
        }
    }
}

/// The value of a single-valued field (`Some(None)`: the finding has none); `None` for fields
/// with several values.
fn single<'s>(s: &'s Subject<'s, '_>, field: Field) -> Option<Option<&'s str>> {
    let f = &s.f.finding;
    Some(match field {
        Field::ProductName => Some(f.product()),
        Field::CompanyName => f.company_name.as_deref(),
        Field::FindingType => Some(&s.f.finding_type),
        Field::GeneratorId => Some(&f.generator_id),
        Field::ControlId => f
            .compliance
            .as_ref()
            .and_then(|c| c.security_control_id.0.as_deref()),
        Field::ComplianceStatus => f.compliance.as_ref().and_then(|c| c.status.0.as_deref()),
        Field::AccountId => Some(&s.f.account.account_id),
        Field::AccountName => s.f.account.name.as_deref(),
        Field::Ou => s.f.account.ou.as_deref(),
        Field::Title => Some(&f.title),
        Field::Description => Some(&f.description),
        Field::Principal => (s.f.entity.kind == "iam-principal").then_some(s.f.entity.id.as_str()),
        Field::WorkflowStatus => Some(f.workflow_status().as_str()),
        Field::RecordState => Some(f.record_state().as_str()),
        Field::Types
        | Field::Region
        | Field::ResourceType
        | Field::ResourceId
        | Field::Domain
        | Field::Api => return None,
    })
}

/// The borrowed values of `field` (every one lives in the finding or its context).
fn collect<'s>(s: &'s Subject<'s, '_>, field: Field, out: &mut Vec<&'s str>) {
    let f = &s.f.finding;
    let mut push = |v: Option<&'s str>| {
        if let Some(v) = v {
            out.push(v)
        }
    };
    match field {
        Field::ProductName => push(Some(f.product())),
        Field::CompanyName => push(f.company_name.as_deref()),
        Field::FindingType => push(Some(&s.f.finding_type)),
        Field::Types => f.types().iter().for_each(|t| push(Some(t))),
        Field::GeneratorId => push(Some(&f.generator_id)),
        Field::ControlId => push(
            f.compliance
                .as_ref()
                .and_then(|c| c.security_control_id.0.as_deref()),
        ),
        Field::ComplianceStatus => push(f.compliance.as_ref().and_then(|c| c.status.0.as_deref())),
        Field::AccountId => push(Some(&s.f.account.account_id)),
        Field::AccountName => push(s.f.account.name.as_deref()),
        Field::Ou => push(s.f.account.ou.as_deref()),
        Field::Region => {
            push(f.region.as_deref());
            for r in &f.resources {
                push(r.region.as_deref());
            }
        }
        Field::ResourceType => f
            .resources
            .iter()
            .for_each(|r| push(Some(&r.resource_type))),
        Field::ResourceId => f.resources.iter().for_each(|r| push(Some(&r.id))),
        Field::Title => push(Some(&f.title)),
        Field::Description => push(Some(&f.description)),
        Field::Principal => {
            if s.f.entity.kind == "iam-principal" {
                push(Some(&s.f.entity.id))
            }
        }
        Field::Domain => {
            if let Some(a) = &f.action {
                push(a.domain.as_deref());
            }
            if let Some(n) = &f.network {
                push(n.source_domain.0.as_deref());
                push(n.destination_domain.0.as_deref());
            }
            for (k, v) in &f.product_fields {
                if k.ends_with("dnsRequestAction/domain") || k.ends_with("domainDetails/domain") {
                    push(Some(v));
                }
            }
        }
        Field::Api => {
            if let Some(a) = &f.action {
                push(a.api.as_deref());
            }
        }
        Field::WorkflowStatus => push(Some(f.workflow_status().as_str())),
        Field::RecordState => push(Some(f.record_state().as_str())),
    }
}

fn normalized(f: &NormalizedFinding) -> Option<f64> {
    use crate::asff::Normalized;
    let n = f
        .finding
        .severity
        .as_ref()
        .and_then(|s| s.normalized)
        .or_else(|| {
            f.finding
                .provider_severity
                .as_ref()
                .and_then(|s| s.normalized)
        })?;
    match n {
        Normalized::Int(i) => Some(i as f64),
        Normalized::Float(x) => Some(x),
        Normalized::Text(x) => x,
        Normalized::Other => None,
    }
}

/// A rule that matched a finding: the actions it applied, and those refused for safety.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleMatch {
    pub id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppression {
    pub rule: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeverityChange {
    pub from: SeverityLabel,
    pub to: SeverityLabel,
    pub rule: String,
    pub reason: String,
}

/// A value a rule set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Set<T> {
    pub value: T,
    pub rule: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    pub rule: String,
    pub text: String,
}

/// What the runbook's rules decided about one finding (kept on its record).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decisions {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<RuleMatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<Suppression>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<SeverityChange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Set<Environment>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Set<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<Set<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<Note>,
}

impl Decisions {
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

/// Per rule: what it did in one batch (counted once per stored finding state).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleHit {
    pub matches: u64,
    /// Action name -> findings it was applied to.
    pub actions: BTreeMap<String, u64>,
    /// Actions refused for safety.
    pub refused: u64,
}

/// Rule id -> its hits.
pub type RuleHits = BTreeMap<String, RuleHit>;

/// A rule's counts as stored (`vigil runbook stats`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleStat {
    pub rule: String,
    pub matches: u64,
    pub actions: BTreeMap<String, u64>,
    pub refused: u64,
    pub last_match: Option<DateTime<Utc>>,
}

impl RuleStat {
    /// Adds one invocation's hits of this rule at `at`.
    pub fn add(&mut self, h: &RuleHit, at: DateTime<Utc>) {
        self.matches += h.matches;
        self.refused += h.refused;
        for (a, n) in &h.actions {
            *self.actions.entry(a.clone()).or_default() += n;
        }
        self.last_match = Some(at);
    }
}

/// Adds the decisions of one stored finding state to `hits`.
pub fn count_hits(hits: &mut RuleHits, d: &Decisions) {
    for m in &d.rules {
        let h = hits.entry(m.id.clone()).or_default();
        h.matches += 1;
        for a in &m.actions {
            *h.actions.entry(a.clone()).or_default() += 1;
        }
        h.refused += m.refused.len() as u64;
    }
}

#[cfg(test)]
mod tests;

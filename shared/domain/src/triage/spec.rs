//! The runbook's `rules:`, `ip_lists:`, `routes:` and `tests:` as written in YAML.
//!
//! Every criterion type has its own deserializer, so that a bad value is an error at the line
//! and column of that value (serde_yaml_ng adds the location to errors raised while the value
//! is read). Cross-references (an IP list or route a rule names) are checked when the rules are
//! compiled ([`super::compile`]).

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::asff::{parse_time, SeverityLabel};
use crate::runbook::{Environment, HumanDuration};

/// A string comparison, as in Security Hub automation-rule criteria.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Equals,
    Prefix,
    Contains,
    NotEquals,
    NotPrefix,
    NotContains,
}

impl Comparison {
    fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_uppercase().as_str() {
            "EQUALS" => Self::Equals,
            "PREFIX" => Self::Prefix,
            "CONTAINS" => Self::Contains,
            "NOT_EQUALS" => Self::NotEquals,
            "PREFIX_NOT_EQUALS" | "NOT_PREFIX" => Self::NotPrefix,
            "NOT_CONTAINS" => Self::NotContains,
            _ => return None,
        })
    }
    pub fn is_negative(self) -> bool {
        matches!(self, Self::NotEquals | Self::NotPrefix | Self::NotContains)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Equals => "EQUALS",
            Self::Prefix => "PREFIX",
            Self::Contains => "CONTAINS",
            Self::NotEquals => "NOT_EQUALS",
            Self::NotPrefix => "NOT_PREFIX",
            Self::NotContains => "NOT_CONTAINS",
        }
    }
}

/// A criterion over a string field: `value` (EQUALS), `[a, b]` (EQUALS any), or
/// `{EQUALS: .., PREFIX: .., CONTAINS: .., NOT_EQUALS: .., NOT_PREFIX: .., NOT_CONTAINS: ..}`,
/// each a string or a list. In EQUALS and NOT_EQUALS values `*` matches any characters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StringCriterion {
    pub comparisons: Vec<(Comparison, String)>,
}

struct OneOrMany(Vec<String>);

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OneOrMany;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<OneOrMany, E> {
                Ok(OneOrMany(vec![v.to_owned()]))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<OneOrMany, E> {
                Ok(OneOrMany(vec![v.to_string()]))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<OneOrMany, E> {
                Ok(OneOrMany(vec![v.to_string()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OneOrMany, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<Scalar>()? {
                    out.push(s.0);
                }
                if out.is_empty() {
                    return Err(de::Error::custom("an empty list matches nothing"));
                }
                Ok(OneOrMany(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// A string, or a number written without quotes (account ids, ports), as text.
struct Scalar(String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for StringCriterion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StringCriterion;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, a list of strings, or a map of comparisons (EQUALS, PREFIX, CONTAINS, NOT_EQUALS, NOT_PREFIX, NOT_CONTAINS)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StringCriterion, E> {
                Ok(StringCriterion {
                    comparisons: vec![(Comparison::Equals, v.to_owned())],
                })
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<StringCriterion, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<StringCriterion, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<StringCriterion, A::Error> {
                let many = OneOrMany::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                Ok(StringCriterion {
                    comparisons: many
                        .0
                        .into_iter()
                        .map(|v| (Comparison::Equals, v))
                        .collect(),
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StringCriterion, A::Error> {
                let mut comparisons = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    let cmp = Comparison::parse(&key).ok_or_else(|| {
                        de::Error::custom(format!(
                            "unknown comparison {key:?} (use EQUALS, PREFIX, CONTAINS, NOT_EQUALS, NOT_PREFIX or NOT_CONTAINS)"
                        ))
                    })?;
                    let values: OneOrMany = map.next_value()?;
                    for v in values.0 {
                        if v.is_empty() && cmp != Comparison::Equals {
                            return Err(de::Error::custom(format!(
                                "{key} with an empty string is always or never true"
                            )));
                        }
                        comparisons.push((cmp, v));
                    }
                }
                if comparisons.is_empty() {
                    return Err(de::Error::custom("an empty comparison map matches nothing"));
                }
                // Impossible: EQUALS x together with NOT_EQUALS x.
                for (c, v) in &comparisons {
                    if *c == Comparison::Equals
                        && comparisons
                            .iter()
                            .any(|(c2, v2)| *c2 == Comparison::NotEquals && v2 == v)
                    {
                        return Err(de::Error::custom(format!(
                            "EQUALS {v:?} and NOT_EQUALS {v:?} can never both hold"
                        )));
                    }
                }
                let positives: Vec<&String> = comparisons
                    .iter()
                    .filter(|(c, _)| !c.is_negative())
                    .map(|(_, v)| v)
                    .collect();
                if !positives.is_empty()
                    && positives.iter().all(|p| !p.contains('*'))
                    && positives.iter().all(|p| {
                        comparisons.iter().any(|(c, n)| {
                            (*c == Comparison::NotContains && p.contains(n.as_str()))
                                || (*c == Comparison::NotPrefix && p.starts_with(n.as_str()))
                        })
                    })
                    && comparisons
                        .iter()
                        .filter(|(c, _)| !c.is_negative())
                        .all(|(c, _)| *c != Comparison::Contains)
                {
                    return Err(de::Error::custom(
                        "every value this criterion accepts is excluded by its NOT_ comparisons: it can never match",
                    ));
                }
                Ok(StringCriterion { comparisons })
            }
        }
        d.deserialize_any(V)
    }
}

/// A criterion over severity labels: `HIGH`, `[HIGH, CRITICAL]`, or
/// `{gte: MEDIUM, lte: HIGH, gt: .., lt: .., EQUALS: .., NOT_EQUALS: ..}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeverityCriterion {
    /// Allowed labels, indexed by [`SeverityLabel`] order.
    pub allowed: [bool; 5],
}

fn sev_index(s: SeverityLabel) -> usize {
    match s {
        SeverityLabel::Informational => 0,
        SeverityLabel::Low => 1,
        SeverityLabel::Medium => 2,
        SeverityLabel::High => 3,
        SeverityLabel::Critical => 4,
    }
}

impl SeverityCriterion {
    pub fn admits(&self, s: SeverityLabel) -> bool {
        self.allowed[sev_index(s)]
    }
}

fn parse_sev<E: de::Error>(s: &str) -> Result<SeverityLabel, E> {
    SeverityLabel::parse(s).ok_or_else(|| {
        E::custom(format!(
            "unknown severity {s:?} (use INFORMATIONAL, LOW, MEDIUM, HIGH or CRITICAL)"
        ))
    })
}

impl<'de> Deserialize<'de> for SeverityCriterion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SeverityCriterion;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a severity label, a list of labels, or a map with gte/gt/lte/lt/EQUALS/NOT_EQUALS")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SeverityCriterion, E> {
                let mut allowed = [false; 5];
                allowed[sev_index(parse_sev(v)?)] = true;
                Ok(SeverityCriterion { allowed })
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<SeverityCriterion, A::Error> {
                let many = OneOrMany::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                let mut allowed = [false; 5];
                for v in many.0 {
                    allowed[sev_index(parse_sev(&v)?)] = true;
                }
                Ok(SeverityCriterion { allowed })
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<SeverityCriterion, A::Error> {
                let mut allowed = [true; 5];
                let mut listed: Option<[bool; 5]> = None;
                while let Some(key) = map.next_key::<String>()? {
                    let values: OneOrMany = map.next_value()?;
                    let labels: Vec<SeverityLabel> = values
                        .0
                        .iter()
                        .map(|v| parse_sev(v))
                        .collect::<Result<_, _>>()?;
                    let single = || -> Result<usize, A::Error> {
                        match labels.as_slice() {
                            [one] => Ok(sev_index(*one)),
                            _ => Err(de::Error::custom(format!("{key} takes one severity"))),
                        }
                    };
                    match key.to_ascii_lowercase().as_str() {
                        "gte" => {
                            let i = single()?;
                            allowed.iter_mut().take(i).for_each(|a| *a = false);
                        }
                        "gt" => {
                            let i = single()?;
                            allowed.iter_mut().take(i + 1).for_each(|a| *a = false);
                        }
                        "lte" => {
                            let i = single()?;
                            allowed.iter_mut().skip(i + 1).for_each(|a| *a = false);
                        }
                        "lt" => {
                            let i = single()?;
                            allowed.iter_mut().skip(i).for_each(|a| *a = false);
                        }
                        "equals" => {
                            let l = listed.get_or_insert([false; 5]);
                            for s in &labels {
                                l[sev_index(*s)] = true;
                            }
                        }
                        "not_equals" => {
                            for s in &labels {
                                allowed[sev_index(*s)] = false;
                            }
                        }
                        _ => {
                            return Err(de::Error::custom(format!(
                                "unknown severity comparison {key:?} (use gte, gt, lte, lt, EQUALS, NOT_EQUALS)"
                            )))
                        }
                    }
                }
                if let Some(l) = listed {
                    for (a, l) in allowed.iter_mut().zip(l) {
                        *a &= l;
                    }
                }
                if !allowed.iter().any(|a| *a) {
                    return Err(de::Error::custom(
                        "no severity satisfies this criterion: it can never match",
                    ));
                }
                Ok(SeverityCriterion { allowed })
            }
        }
        d.deserialize_any(V)
    }
}

/// A numeric range: `{gte: 70, lt: 90}` (also `eq`).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(try_from = "RawNumber")]
pub struct NumberCriterion {
    pub min: Option<(f64, bool)>,
    pub max: Option<(f64, bool)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNumber {
    gte: Option<f64>,
    gt: Option<f64>,
    lte: Option<f64>,
    lt: Option<f64>,
    eq: Option<f64>,
}

impl TryFrom<RawNumber> for NumberCriterion {
    type Error = String;
    fn try_from(r: RawNumber) -> Result<Self, String> {
        let mut min = r.gte.map(|v| (v, true)).or(r.gt.map(|v| (v, false)));
        let mut max = r.lte.map(|v| (v, true)).or(r.lt.map(|v| (v, false)));
        if let Some(e) = r.eq {
            min = Some((e, true));
            max = Some((e, true));
        }
        if min.is_none() && max.is_none() {
            return Err("a number range needs gte, gt, lte, lt or eq".into());
        }
        if let (Some((lo, lo_inc)), Some((hi, hi_inc))) = (min, max) {
            if lo > hi || (lo == hi && !(lo_inc && hi_inc)) {
                return Err(format!("the range {lo}..{hi} is empty: it can never match"));
            }
        }
        Ok(NumberCriterion { min, max })
    }
}

impl NumberCriterion {
    pub fn admits(&self, v: f64) -> bool {
        self.min
            .is_none_or(|(lo, inc)| if inc { v >= lo } else { v > lo })
            && self
                .max
                .is_none_or(|(hi, inc)| if inc { v <= hi } else { v < hi })
    }
}

/// A time range: `{after: 2026-01-01T00:00:00Z, before: ..}` or `{within: 7d}` (of the time
/// the finding is evaluated).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawDate")]
pub struct DateCriterion {
    pub after: Option<DateTime<Utc>>,
    pub before: Option<DateTime<Utc>>,
    pub within: Option<chrono::Duration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDate {
    after: Option<String>,
    before: Option<String>,
    within: Option<HumanDuration>,
}

impl TryFrom<RawDate> for DateCriterion {
    type Error = String;
    fn try_from(r: RawDate) -> Result<Self, String> {
        let time = |s: Option<String>| -> Result<Option<DateTime<Utc>>, String> {
            s.map(|s| parse_time(&s).ok_or_else(|| format!("{s:?} is not an RFC 3339 time")))
                .transpose()
        };
        let after = time(r.after)?;
        let before = time(r.before)?;
        let within = r.within.map(|d| d.0);
        if after.is_none() && before.is_none() && within.is_none() {
            return Err("a time range needs after, before or within".into());
        }
        if let (Some(a), Some(b)) = (after, before) {
            if a >= b {
                return Err(format!("after {a} is not before {b}: it can never match"));
            }
        }
        Ok(DateCriterion {
            after,
            before,
            within,
        })
    }
}

impl DateCriterion {
    pub fn admits(&self, t: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        self.after.is_none_or(|a| t > a)
            && self.before.is_none_or(|b| t < b)
            && self.within.is_none_or(|w| t >= now - w)
    }
}

/// Remote addresses against CIDR lists: `vulnerability-scanners` or `[list, 198.51.100.7/32]`
/// (every remote address of the finding in one of them), or `{in: [..], not_in: [..]}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IpCriterion {
    /// Every remote address of the finding is in one of these (list names or CIDRs).
    pub all_in: Vec<String>,
    /// At least one remote address is in one of these.
    pub any_in: Vec<String>,
    /// No remote address is in any of these.
    pub not_in: Vec<String>,
}

impl<'de> Deserialize<'de> for IpCriterion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = IpCriterion;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "an IP list name or CIDR, a list of them, or a map with in / any_in / not_in",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<IpCriterion, E> {
                Ok(IpCriterion {
                    all_in: vec![v.to_owned()],
                    ..Default::default()
                })
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<IpCriterion, A::Error> {
                let many = OneOrMany::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                Ok(IpCriterion {
                    all_in: many.0,
                    ..Default::default()
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<IpCriterion, A::Error> {
                let mut c = IpCriterion::default();
                while let Some(key) = map.next_key::<String>()? {
                    let values: OneOrMany = map.next_value()?;
                    match key.as_str() {
                        "in" => c.all_in.extend(values.0),
                        "any_in" => c.any_in.extend(values.0),
                        "not_in" => c.not_in.extend(values.0),
                        _ => {
                            return Err(de::Error::custom(format!(
                                "unknown key {key:?} (use in, any_in or not_in)"
                            )))
                        }
                    }
                }
                if c.all_in.is_empty() && c.any_in.is_empty() && c.not_in.is_empty() {
                    return Err(de::Error::custom("an empty map matches nothing"));
                }
                Ok(c)
            }
        }
        d.deserialize_any(V)
    }
}

/// An environment criterion: `production`, `[test, dev]`, or `{EQUALS: .., NOT_EQUALS: ..}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentCriterion {
    pub allowed: Vec<Environment>,
}

impl<'de> Deserialize<'de> for EnvironmentCriterion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = StringCriterion::deserialize(d)?;
        let all = [
            Environment::Unknown,
            Environment::Dev,
            Environment::Test,
            Environment::Production,
        ];
        let mut listed: Option<Vec<Environment>> = None;
        let mut excluded: Vec<Environment> = Vec::new();
        for (c, v) in &s.comparisons {
            let env = if v.eq_ignore_ascii_case("unknown") {
                Environment::Unknown
            } else {
                Environment::parse(v).ok_or_else(|| {
                    de::Error::custom(format!(
                        "unknown environment {v:?} (use production, test, dev or unknown)"
                    ))
                })?
            };
            match c {
                Comparison::Equals => listed.get_or_insert_with(Vec::new).push(env),
                Comparison::NotEquals => excluded.push(env),
                other => {
                    return Err(de::Error::custom(format!(
                        "environments compare with EQUALS or NOT_EQUALS, not {}",
                        other.as_str()
                    )))
                }
            }
        }
        let allowed: Vec<Environment> = listed
            .unwrap_or_else(|| all.to_vec())
            .into_iter()
            .filter(|e| !excluded.contains(e))
            .collect();
        if allowed.is_empty() {
            return Err(de::Error::custom(
                "no environment satisfies this criterion: it can never match",
            ));
        }
        Ok(EnvironmentCriterion { allowed })
    }
}

/// What a rule matches: every criterion given must hold (AND). Within one criterion, EQUALS,
/// PREFIX and CONTAINS values are alternatives (OR) and NOT_ comparisons must all hold, as in
/// Security Hub automation rules. A field with several values (finding types, resources, remote
/// addresses) matches a positive comparison when any value does, and a NOT_ comparison when no
/// value violates it.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchSpec {
    pub product_name: Option<StringCriterion>,
    pub company_name: Option<StringCriterion>,
    /// Vigil's finding type: the GuardDuty type (`Recon:EC2/PortProbeUnprotectedPort`), else
    /// the security control id, else the first ASFF type.
    pub finding_type: Option<StringCriterion>,
    /// The ASFF `Types` (`TTPs/Discovery/...`).
    pub types: Option<StringCriterion>,
    pub generator_id: Option<StringCriterion>,
    pub control_id: Option<StringCriterion>,
    pub compliance_status: Option<StringCriterion>,
    pub account_id: Option<StringCriterion>,
    pub account_name: Option<StringCriterion>,
    pub environment: Option<EnvironmentCriterion>,
    /// The account's organizational-unit path, `Root/Workloads/Prod` (from Organizations).
    pub ou: Option<StringCriterion>,
    pub region: Option<StringCriterion>,
    pub resource_type: Option<StringCriterion>,
    pub resource_id: Option<StringCriterion>,
    /// Tag key (exact) -> criterion over its value, on any of the finding's resources.
    pub resource_tags: Option<BTreeMap<String, StringCriterion>>,
    /// `ProductFields` key (exact) -> criterion over its value.
    pub product_fields: Option<BTreeMap<String, StringCriterion>>,
    pub severity: Option<SeverityCriterion>,
    pub severity_normalized: Option<NumberCriterion>,
    pub title: Option<StringCriterion>,
    pub description: Option<StringCriterion>,
    pub remote_ip: Option<IpCriterion>,
    /// The IAM principal the finding is about (user, role or access key owner).
    pub principal: Option<StringCriterion>,
    /// The domain of a DNS request, an API call's origin or the network connection.
    pub domain: Option<StringCriterion>,
    /// The API called (`AwsApiCallAction.Api`).
    pub api: Option<StringCriterion>,
    pub workflow_status: Option<StringCriterion>,
    pub record_state: Option<StringCriterion>,
    pub created_at: Option<DateCriterion>,
    pub updated_at: Option<DateCriterion>,
    pub first_observed_at: Option<DateCriterion>,
    pub last_observed_at: Option<DateCriterion>,
}

/// What a rule does when it matches. Several may be given.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionsSpec {
    /// A false positive or accepted risk: stored with the rule and reason, counted, never in an
    /// incident.
    #[serde(default)]
    pub suppress: bool,
    pub set_severity: Option<SeverityLabelSpec>,
    pub set_environment: Option<Environment>,
    pub set_owner: Option<String>,
    /// A route declared under `routes:`.
    pub route: Option<String>,
    /// Guidance for the analyst, shown on the incident and forwarded.
    pub note: Option<String>,
}

/// A severity label in a runbook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeverityLabelSpec(pub SeverityLabel);

impl<'de> Deserialize<'de> for SeverityLabelSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_sev(&s).map(SeverityLabelSpec)
    }
}

/// A date (`2026-12-31`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Day(pub NaiveDate);

impl<'de> Deserialize<'de> for Day {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Scalar::deserialize(d)?.0;
        NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
            .map(Day)
            .map_err(|_| de::Error::custom(format!("{s:?} is not a date (write 2026-12-31)")))
    }
}

fn yes() -> bool {
    true
}

/// One rule of the runbook.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub id: String,
    pub description: String,
    pub owner: String,
    pub created: Day,
    /// The rule stops matching after this day (UTC).
    pub expires: Option<Day>,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(rename = "match")]
    pub criteria: MatchSpec,
    pub actions: ActionsSpec,
    /// Why: required for `suppress` and `set_severity`.
    pub reason: Option<String>,
    /// Lets a `suppress` (or a lowering `set_severity`) apply to CRITICAL findings and to HIGH
    /// ones in production.
    #[serde(default)]
    pub allow_high_severity: bool,
}

/// A named route (notifications use it).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    pub description: Option<String>,
}

/// What a runbook test expects.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    /// `true`/`false`, or absent (not checked).
    pub suppressed: Option<bool>,
    /// The rule that suppresses it.
    pub suppressed_by: Option<String>,
    pub severity: Option<SeverityLabelSpec>,
    pub environment: Option<Environment>,
    pub owner: Option<String>,
    pub route: Option<String>,
    /// Rule ids that must all match.
    #[serde(default)]
    pub rules: Vec<String>,
}

/// One test of the runbook: a finding (inline, or a JSON file relative to the runbook) and
/// what the runbook must decide about it.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleTest {
    pub name: String,
    /// An ASFF finding, inline (YAML or JSON).
    pub finding: Option<serde_json::Value>,
    /// A JSON file with one finding, or an EventBridge event (its first finding).
    pub finding_file: Option<String>,
    /// Evaluation time (default: now).
    pub at: Option<String>,
    pub expect: Expectation,
}

//! The analyst's queue: campaigns, digests, and the incidents in neither (see docs/queue.md).
//!
//! - A **campaign** links incidents on different entities that share an indicator
//!   ([`crate::indicators`]) within the runbook's window, in one account unless
//!   `queue.cross_account` allows more. A GuardDuty attack sequence is its campaign's lead, and
//!   the incidents holding the signals it names are linked to it. Members keep their own
//!   findings and counts; every link names the indicator (or signal) that made it.
//! - A **digest** rolls up the LOW and INFORMATIONAL incidents of one finding type in one account
//!   within a window (per type and environment in the runbook). MEDIUM can be rolled up only by a
//!   `queue.digest.rules` entry for its type; HIGH and CRITICAL never are, and an incident whose
//!   severity an update raises leaves its digest at once.
//!
//! The queue is a pure function of the live incidents (open or acknowledged): the same incidents
//! give the same queue whatever order their findings arrived in, so replays, redeliveries and
//! concurrent ingests that leave the same incidents leave the same queue. Low-severity incidents
//! link to a campaign only through an indicator shared with a member that is not rolled up
//! (never through each other, so one scanner probing a fleet is a digest, not a campaign), and
//! an indicator shared by more than `queue.max_incidents_per_indicator` incidents (a NAT
//! address, a shared automation principal) links nothing.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::asff::SeverityLabel;
use crate::incident::{Incident, IncidentStatus};
use crate::indicators;
use crate::runbook::{HumanDuration, Runbook};

/// The runbook's `queue:` section.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueSpec {
    /// Incidents sharing an indicator are linked when their findings were seen within this
    /// time of each other.
    #[serde(default = "day")]
    pub window: HumanDuration,
    /// Link incidents of different accounts (off by default).
    #[serde(default)]
    pub cross_account: bool,
    /// An indicator shared by more incidents than this links none of them.
    #[serde(default = "default_max_per_indicator")]
    pub max_incidents_per_indicator: usize,
    /// Indicators that never link (`kind:value`, `*` wildcards): scanners you run, egress
    /// addresses, automation principals.
    #[serde(default)]
    pub ignore_indicators: Vec<String>,
    #[serde(default)]
    pub digest: DigestSpec,
}

/// The runbook's `queue.digest:` section.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigestSpec {
    /// Roll low-severity incidents up at all.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The default window: digests are per account, finding type and window.
    #[serde(default = "day")]
    pub window: HumanDuration,
    /// Per type and environment, the first that matches: another window, a higher severity
    /// (at most MEDIUM), or no roll-up.
    #[serde(default)]
    pub rules: Vec<DigestRule>,
    /// A digest already sent is sent again when its finding count has grown by this much
    /// (percent; 100: doubled) since.
    #[serde(default = "default_growth")]
    pub resend_growth_percent: u32,
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigestRule {
    /// Finding types (`*` wildcards), e.g. `Recon:EC2/Port*`; empty: every type.
    #[serde(default)]
    pub types: Vec<String>,
    /// Environments (`production`, `test`, `dev`, `unknown`); empty: every environment.
    #[serde(default)]
    pub environments: Vec<String>,
    #[serde(default)]
    pub window: Option<HumanDuration>,
    /// The highest severity rolled up for these types: LOW (the default) or MEDIUM.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(with = "Option<String>"))]
    pub max_severity: Option<SeverityLabel>,
    /// `false`: these types are never rolled up.
    #[serde(default = "yes")]
    pub roll_up: bool,
}

fn day() -> HumanDuration {
    HumanDuration(Duration::hours(24))
}
fn yes() -> bool {
    true
}
fn default_max_per_indicator() -> usize {
    25
}
fn default_growth() -> u32 {
    100
}

impl Default for QueueSpec {
    fn default() -> Self {
        Self {
            window: day(),
            cross_account: false,
            max_incidents_per_indicator: default_max_per_indicator(),
            ignore_indicators: Vec::new(),
            digest: DigestSpec::default(),
        }
    }
}

impl Default for DigestSpec {
    fn default() -> Self {
        Self {
            enabled: true,
            window: day(),
            rules: Vec::new(),
            resend_growth_percent: default_growth(),
        }
    }
}

impl QueueSpec {
    /// Problems with the section, each naming the entry.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.window.0 <= Duration::zero() {
            out.push("queue.window must be positive".to_owned());
        }
        if self.digest.window.0 <= Duration::zero() {
            out.push("queue.digest.window must be positive".to_owned());
        }
        if self.digest.resend_growth_percent > 10_000 {
            out.push("queue.digest.resend_growth_percent must be at most 10000".to_owned());
        }
        if self.max_incidents_per_indicator < 2 {
            out.push("queue.max_incidents_per_indicator must be at least 2".to_owned());
        }
        for (i, r) in self.digest.rules.iter().enumerate() {
            if r.max_severity.is_some_and(|s| s > SeverityLabel::Medium) {
                out.push(format!(
                    "queue.digest.rules[{i}]: max_severity must be LOW, INFORMATIONAL or MEDIUM: HIGH and CRITICAL are never rolled up"
                ));
            }
            if r.window.is_some_and(|w| w.0 <= Duration::zero()) {
                out.push(format!("queue.digest.rules[{i}]: window must be positive"));
            }
            for e in &r.environments {
                if crate::runbook::Environment::parse(e).is_none() && e != "unknown" {
                    out.push(format!(
                        "queue.digest.rules[{i}]: unknown environment {e:?}"
                    ));
                }
            }
        }
        out
    }

    fn ignored(&self, indicator: &str) -> bool {
        self.ignore_indicators
            .iter()
            .any(|p| crate::triage::wildcard(p, indicator))
    }

    /// The digest an incident rolls up into (its id, from account, lead type and window), or
    /// `None` when it stays on its own. Set on the incident as its findings fold in, so that
    /// the forwarder never pages a rolled-up incident and the escalation run never escalates
    /// one.
    pub fn digest_id(&self, inc: &Incident) -> Option<String> {
        let w = self.digest_window(inc)?;
        Some(digest_id(
            &inc.account_id,
            &inc.lead.finding_type,
            digest_bucket(inc, w),
        ))
    }

    /// The digest window an incident rolls up into, or `None` when it stays on its own.
    pub fn digest_window(&self, inc: &Incident) -> Option<Duration> {
        if !self.digest.enabled || !is_live(inc) || is_sequence(inc) {
            return None;
        }
        let ty = inc.lead.finding_type.as_str();
        let rule = self.digest.rules.iter().find(|r| {
            let type_ok =
                r.types.is_empty() || r.types.iter().any(|t| crate::triage::wildcard(t, ty));
            let env_ok = r.environments.is_empty()
                || r.environments.iter().any(|e| {
                    crate::runbook::Environment::parse(e)
                        .map_or(e == "unknown", |env| env == inc.environment)
                });
            type_ok && env_ok
        });
        if rule.is_some_and(|r| !r.roll_up) {
            return None;
        }
        let max = rule
            .and_then(|r| r.max_severity)
            .unwrap_or(SeverityLabel::Low)
            .min(SeverityLabel::Medium);
        if inc.severity > max {
            return None;
        }
        Some(rule.and_then(|r| r.window).unwrap_or(self.digest.window).0)
    }
}

/// What an item of the queue is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Campaign,
    Digest,
    Incident,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Campaign => "campaign",
            Self::Digest => "digest",
            Self::Incident => "incident",
        }
    }
}

/// Why a member is in its campaign: it shares `via` with `with` (or is named by an attack
/// sequence's signals).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Link {
    pub incident_id: String,
    pub with: String,
    /// `ip:203.0.113.7`, `access-key:AKIA...`, or `signal` (of the attack sequence `with`).
    pub via: String,
}

/// A count of something in a digest (an entity, a source address).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Count {
    pub value: String,
    pub count: u64,
}

/// One item of the analyst's queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueItem {
    pub kind: Kind,
    pub id: String,
    pub severity: SeverityLabel,
    pub status: IncidentStatus,
    /// The (lowest) account; `accounts` lists every account of a campaign.
    pub account_id: String,
    pub accounts: Vec<String>,
    pub finding_count: u64,
    /// The member incidents (the incident itself for `incident`).
    pub incident_ids: Vec<String>,
    pub reason: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_deadline: Option<DateTime<Utc>>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// The campaign's lead incident (an attack sequence when there is one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link>,
    /// A digest's entities (the 10 most frequent) and how many there are.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entities: Vec<Count>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub entity_count: u64,
    /// A digest's most frequent remote addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub top_sources: Vec<Count>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_live(inc: &Incident) -> bool {
    matches!(
        inc.status,
        IncidentStatus::Open | IncidentStatus::Acknowledged
    )
}

fn is_sequence(inc: &Incident) -> bool {
    !inc.signals.is_empty()
        || inc
            .finding_types
            .iter()
            .any(|t| indicators::is_attack_sequence(t))
}

fn near(a: &Incident, b: &Incident, w: Duration) -> bool {
    a.first_seen <= b.last_seen + w && b.first_seen <= a.last_seen + w
}

/// Union-find over incident indexes; the root of a set is its smallest index.
struct Sets(Vec<usize>);

impl Sets {
    fn find(&mut self, mut i: usize) -> usize {
        while self.0[i] != i {
            self.0[i] = self.0[self.0[i]];
            i = self.0[i];
        }
        i
    }
    fn union(&mut self, a: usize, b: usize) -> bool {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return false;
        }
        let (lo, hi) = (ra.min(rb), ra.max(rb));
        self.0[hi] = lo;
        true
    }
}

/// The analyst's queue from the incidents (only the live ones count), most urgent first:
/// severity, then the earliest deadline, then the id.
pub fn build(incidents: &[Incident], rb: &Runbook) -> Vec<QueueItem> {
    let spec = &rb.queue;
    let mut live: Vec<&Incident> = incidents.iter().filter(|i| is_live(i)).collect();
    live.sort_by(|a, b| a.id.cmp(&b.id));
    live.dedup_by(|a, b| a.id == b.id);
    let rolled: Vec<Option<Duration>> = live.iter().map(|i| spec.digest_window(i)).collect();

    // Which incidents carry each indicator that may link.
    let mut by_indicator: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, inc) in live.iter().enumerate() {
        for ind in &inc.indicators {
            if !spec.ignored(ind) {
                by_indicator.entry(ind.as_str()).or_default().push(i);
            }
        }
    }
    by_indicator.retain(|_, v| v.len() >= 2 && v.len() <= spec.max_incidents_per_indicator);

    let linkable = |a: &Incident, b: &Incident| {
        (spec.cross_account || a.account_id == b.account_id) && near(a, b, spec.window.0)
    };
    let mut sets = Sets((0..live.len()).collect());
    let mut links: Vec<(usize, usize, String)> = Vec::new();
    // Attack sequences first: GuardDuty made these links.
    let by_member: BTreeMap<&str, usize> = live
        .iter()
        .enumerate()
        .flat_map(|(i, inc)| {
            inc.members
                .0
                .iter()
                .map(move |k| (k.as_str(), i))
                .chain(std::iter::once((inc.lead.key.as_str(), i)))
        })
        .collect();
    for (s, inc) in live
        .iter()
        .enumerate()
        .filter(|(_, i)| !i.signals.is_empty())
    {
        for sig in &inc.signals {
            if let Some(&m) = by_member.get(sig.as_str()) {
                if m != s && sets.union(s, m) {
                    links.push((m, s, "signal".to_owned()));
                }
            }
        }
    }
    // Then shared indicators between incidents that are not rolled up.
    for (ind, members) in &by_indicator {
        for (x, &a) in members.iter().enumerate() {
            for &b in &members[x + 1..] {
                if rolled[a].is_none()
                    && rolled[b].is_none()
                    && linkable(live[a], live[b])
                    && sets.union(a, b)
                {
                    links.push((b, a, (*ind).to_owned()));
                }
            }
        }
    }
    // Low-severity incidents join one campaign at most, through an indicator they share with
    // a member that is not rolled up: the most severe such set, then the smallest root.
    let anchored: Vec<bool> = (0..live.len()).map(|i| rolled[i].is_none()).collect();
    let roots: Vec<usize> = (0..live.len()).map(|i| sets.find(i)).collect();
    let mut size: BTreeMap<usize, usize> = BTreeMap::new();
    for r in &roots {
        *size.entry(*r).or_default() += 1;
    }
    let mut attach: Vec<(usize, usize, String)> = Vec::new();
    for i in (0..live.len()).filter(|i| rolled[*i].is_some()) {
        if size.get(&roots[i]).copied().unwrap_or(1) > 1 {
            continue; // already linked by an attack sequence
        }
        let mut best: Option<(SeverityLabel, std::cmp::Reverse<usize>, usize, String)> = None;
        for ind in live[i]
            .indicators
            .iter()
            .filter(|d| by_indicator.contains_key(d.as_str()))
        {
            for &j in &by_indicator[ind.as_str()] {
                if j == i || !anchored[j] || !linkable(live[i], live[j]) {
                    continue;
                }
                let root = roots[j];
                let cand = (live[j].severity, std::cmp::Reverse(root), j, ind.clone());
                if best.as_ref().is_none_or(|b| (cand.0, cand.1) > (b.0, b.1)) {
                    best = Some(cand);
                }
            }
        }
        if let Some((_, _, j, ind)) = best {
            attach.push((i, j, ind));
        }
    }
    for (i, j, ind) in attach {
        sets.union(i, j);
        links.push((i, j, ind));
    }

    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..live.len() {
        let r = sets.find(i);
        groups.entry(r).or_default().push(i);
    }
    let mut items = Vec::new();
    let mut digests: BTreeMap<(String, String, i64), Vec<usize>> = BTreeMap::new();
    for members in groups.values() {
        if members.len() >= 2 {
            let set: BTreeSet<usize> = members.iter().copied().collect();
            let own: Vec<&(usize, usize, String)> =
                links.iter().filter(|(a, _, _)| set.contains(a)).collect();
            items.push(campaign(&live, members, &own));
            continue;
        }
        let i = members[0];
        match rolled[i] {
            Some(w) => {
                let bucket = digest_bucket(live[i], w);
                digests
                    .entry((
                        live[i].account_id.clone(),
                        live[i].lead.finding_type.clone(),
                        bucket,
                    ))
                    .or_default()
                    .push(i);
            }
            None => items.push(single(live[i])),
        }
    }
    for ((account, ty, bucket), members) in digests {
        items.push(digest(&live, &members, &account, &ty, bucket));
    }
    items.sort_by(|a, b| {
        (
            std::cmp::Reverse(a.severity),
            deadline_order(a.response_deadline),
            &a.id,
        )
            .cmp(&(
                std::cmp::Reverse(b.severity),
                deadline_order(b.response_deadline),
                &b.id,
            ))
    });
    items
}

/// Deadlines in urgency order: the earliest first, none last.
pub(crate) fn deadline_order(d: Option<DateTime<Utc>>) -> (bool, Option<DateTime<Utc>>) {
    (d.is_none(), d)
}

fn status_of<'a>(incs: impl Iterator<Item = &'a Incident>) -> IncidentStatus {
    let mut st = IncidentStatus::Acknowledged;
    for i in incs {
        if i.status == IncidentStatus::Open {
            st = IncidentStatus::Open;
        }
    }
    st
}

fn single(inc: &Incident) -> QueueItem {
    QueueItem {
        kind: Kind::Incident,
        id: inc.id.clone(),
        severity: inc.severity,
        status: inc.status,
        account_id: inc.account_id.clone(),
        accounts: vec![inc.account_id.clone()],
        finding_count: inc.finding_count,
        incident_ids: vec![inc.id.clone()],
        reason: inc.correlation_reason.clone(),
        title: inc.title.clone(),
        response_deadline: inc.response_deadline,
        first_seen: inc.first_seen,
        last_seen: inc.last_seen,
        lead: None,
        links: Vec::new(),
        entities: Vec::new(),
        entity_count: 0,
        top_sources: Vec::new(),
    }
}

fn campaign(live: &[&Incident], members: &[usize], links: &[&(usize, usize, String)]) -> QueueItem {
    let incs: Vec<&Incident> = members.iter().map(|&i| live[i]).collect();
    let lead = incs
        .iter()
        .copied()
        .max_by(|a, b| {
            (
                is_sequence(a),
                a.severity,
                std::cmp::Reverse(a.first_seen),
                std::cmp::Reverse(&a.id),
            )
                .cmp(&(
                    is_sequence(b),
                    b.severity,
                    std::cmp::Reverse(b.first_seen),
                    std::cmp::Reverse(&b.id),
                ))
        })
        .unwrap_or(incs[0]);
    // Named after its earliest member's entity and time, not an incident id (those name the
    // finding that opened them, which depends on delivery order).
    let first = incs
        .iter()
        .map(|i| (i.first_seen, i.correlation_key.as_str()))
        .min()
        .unwrap_or_default();
    let accounts: BTreeSet<&str> = incs.iter().map(|i| i.account_id.as_str()).collect();
    let accounts: Vec<String> = accounts.into_iter().map(str::to_owned).collect();
    let mut links: Vec<Link> = links
        .iter()
        .map(|(a, b, via)| Link {
            incident_id: live[*a].id.clone(),
            with: live[*b].id.clone(),
            via: via.clone(),
        })
        .collect();
    links.sort();
    let mut vias: Vec<&str> = links.iter().map(|l| l.via.as_str()).collect();
    vias.sort();
    vias.dedup();
    let mut incident_ids: Vec<String> = incs.iter().map(|i| i.id.clone()).collect();
    incident_ids.sort();
    let entities: BTreeSet<&str> = incs.iter().map(|i| i.entity.as_str()).collect();
    let reason = if is_sequence(lead) {
        format!(
            "GuardDuty attack sequence {} and {} incident(s) it or a shared indicator names ({})",
            lead.id,
            incs.len() - 1,
            vias.join(", ")
        )
    } else {
        format!(
            "{} incidents on {} entities in {} account(s) share {}",
            incs.len(),
            entities.len(),
            accounts.len(),
            vias.join(", ")
        )
    };
    QueueItem {
        kind: Kind::Campaign,
        id: format!(
            "CMP-{}",
            crate::finding::short_hash(&[first.1, &first.0.timestamp().to_string()], 16)
        ),
        severity: incs
            .iter()
            .map(|i| i.severity)
            .max()
            .unwrap_or(lead.severity),
        status: status_of(incs.iter().copied()),
        account_id: accounts.first().cloned().unwrap_or_default(),
        accounts,
        finding_count: incs.iter().map(|i| i.finding_count).sum(),
        incident_ids,
        reason,
        title: format!("Campaign: {}", lead.title),
        response_deadline: incs.iter().filter_map(|i| i.response_deadline).min(),
        first_seen: first.0,
        last_seen: incs.iter().map(|i| i.last_seen).max().unwrap_or(first.0),
        lead: Some(lead.id.clone()),
        links,
        entities: Vec::new(),
        entity_count: entities.len() as u64,
        top_sources: Vec::new(),
    }
}

fn top(counts: BTreeMap<String, u64>, n: usize) -> Vec<Count> {
    let mut v: Vec<Count> = counts
        .into_iter()
        .map(|(value, count)| Count { value, count })
        .collect();
    v.sort_by(|a, b| b.count.cmp(&a.count).then(a.value.cmp(&b.value)));
    v.truncate(n);
    v
}

/// The start (Unix seconds) of the window `w` an incident's first sighting falls in.
fn digest_bucket(inc: &Incident, w: Duration) -> i64 {
    let secs = w.num_seconds().max(1);
    inc.first_seen.timestamp().div_euclid(secs) * secs
}

fn digest_id(account: &str, ty: &str, bucket: i64) -> String {
    format!(
        "DIG-{}",
        crate::finding::short_hash(&[account, ty, &bucket.to_string()], 16)
    )
}

fn digest(
    live: &[&Incident],
    members: &[usize],
    account: &str,
    ty: &str,
    bucket: i64,
) -> QueueItem {
    let incs: Vec<&Incident> = members.iter().map(|&i| live[i]).collect();
    let mut entities: BTreeMap<String, u64> = BTreeMap::new();
    let mut sources: BTreeMap<String, u64> = BTreeMap::new();
    for i in &incs {
        *entities.entry(i.entity.clone()).or_default() += i.finding_count;
        for ind in &i.indicators {
            if let ("ip", v) = indicators::split(ind) {
                *sources.entry(v.to_owned()).or_default() += 1;
            }
        }
    }
    let entity_count = entities.len() as u64;
    let finding_count: u64 = incs.iter().map(|i| i.finding_count).sum();
    let first_seen = incs.iter().map(|i| i.first_seen).min().unwrap_or_default();
    let start = DateTime::from_timestamp(bucket, 0).unwrap_or(first_seen);
    let severity = incs
        .iter()
        .map(|i| i.severity)
        .max()
        .unwrap_or(SeverityLabel::Low);
    let mut incident_ids: Vec<String> = incs.iter().map(|i| i.id.clone()).collect();
    incident_ids.sort();
    QueueItem {
        kind: Kind::Digest,
        id: digest_id(account, ty, bucket),
        severity,
        status: status_of(incs.iter().copied()),
        account_id: account.to_owned(),
        accounts: vec![account.to_owned()],
        finding_count,
        incident_ids,
        reason: format!(
            "{} {} finding(s) of type {ty} on {entity_count} entit{} in account {account} since {}, rolled up ({severity} and below)",
            finding_count,
            severity,
            if entity_count == 1 { "y" } else { "ies" },
            start.format("%Y-%m-%dT%H:%M:%SZ"),
        ),
        title: format!("Digest: {ty} in {account}"),
        response_deadline: None,
        first_seen,
        last_seen: incs.iter().map(|i| i.last_seen).max().unwrap_or(first_seen),
        lead: None,
        links: Vec::new(),
        entities: top(entities, 10),
        entity_count,
        top_sources: top(sources, 5),
    }
}

/// The queue item an incident is shown in, with why (for `vigil explain`).
pub fn placement<'q>(queue: &'q [QueueItem], incident_id: &str) -> Option<&'q QueueItem> {
    queue
        .iter()
        .find(|q| q.incident_ids.iter().any(|i| i == incident_id))
}

#[cfg(test)]
#[path = "queue_tests.rs"]
pub(crate) mod tests;

//! The queue, kept: campaigns and digests as stored items, so that the table's stream carries
//! them to every sink with their `kind`, and the escalation run acts on a campaign once.
//!
//! [`run`] (the ingest function's minute schedule, before escalation) builds the queue from the
//! live incidents ([`crate::queue::build`]), compares it with the stored items ([`plan`], pure)
//! and writes only what changed materially:
//! - a **campaign** when it forms, and when its members, severity, status, deadline, accounts or
//!   finding count change;
//! - a **digest** once per window (it is keyed by its window) and again on material growth: its
//!   finding count reached `queue.digest.resend_growth_percent` more than when it was last
//!   written;
//! - an item that left the queue (its members closed, or it merged into another campaign) once
//!   more, closed (`RESOLVED`), and then no longer.
//!
//! Each write is conditional on the version read (or on the item being absent), so runs that
//! overlap or are retried write each version once: the loser of a race finds the item already
//! as it wanted it on the next run. Members are marked with their campaign (a conditional
//! incident write, only when it changes), so that the forwarder sends the calls to action of a
//! campaign's members through the campaign.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::incident::{Incident, IncidentStatus};
use crate::ports::{ChangeSet, Expect, IncidentReader, IncidentStore, Put, QueueStore};
use crate::queue::{build, Kind, QueueItem};
use crate::runbook::Runbook;

/// How long a closed item stays in the table (for the stream and `vigil explain`).
pub const CLOSED_TTL_DAYS: i64 = 30;

/// What the sinks need of a campaign or digest beyond the queue item: taken from its lead (the
/// campaign's lead incident, or a digest's most severe, earliest member).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemDetail {
    /// The members' most important environment (as an incident's is its findings').
    pub environment: String,
    /// The lead's runbook route (sinks filtered by route select the campaign by it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The members' finding types (at most 50) and their number.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finding_types: Vec<String>,
    #[serde(default)]
    pub finding_types_total: usize,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tactics: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub products: Vec<String>,
    pub lead_finding_id: String,
    pub lead_finding_type: String,
    #[serde(default)]
    pub remediation: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation_url: Option<String>,
    /// The member a campaign's escalation goes through: the most severe member waiting for an
    /// acknowledgement, then the most important environment, then the earliest deadline (none
    /// when every member is acknowledged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalates_via: Option<String>,
}

/// A stored campaign or digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueRecord {
    pub item: QueueItem,
    pub detail: ItemDetail,
    /// The write's time in milliseconds, increasing with each write (see [`plan`]).
    pub version: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When it left the queue (its `item.status` is then `RESOLVED`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<DateTime<Utc>>,
    /// What this version changed: empty when it opened, else field names (`incident_ids`,
    /// `severity`, `status`, `response_deadline`, `accounts`, `finding_count`, `growth`,
    /// `closed`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed: Vec<String>,
    /// Why it closed (`its members are closed`, `merged into CMP-...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_why: Option<String>,
}

impl QueueRecord {
    pub fn is_live(&self) -> bool {
        self.closed_at.is_none()
    }
    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.closed_at.map(|c| c + Duration::days(CLOSED_TTL_DAYS))
    }
}

/// The detail of `item` from its member incidents.
pub fn detail(item: &QueueItem, incidents: &HashMap<&str, &Incident>) -> ItemDetail {
    let members: Vec<&Incident> = item
        .incident_ids
        .iter()
        .filter_map(|id| incidents.get(id.as_str()).copied())
        .collect();
    let lead = item
        .lead
        .as_deref()
        .and_then(|l| incidents.get(l).copied())
        .or_else(|| {
            members.iter().copied().min_by(|a, b| {
                b.severity
                    .cmp(&a.severity)
                    .then(a.first_seen.cmp(&b.first_seen))
                    .then(a.id.cmp(&b.id))
            })
        });
    let mut types = std::collections::BTreeSet::new();
    let mut tactics = std::collections::BTreeSet::new();
    let mut products = std::collections::BTreeSet::new();
    for m in &members {
        types.extend(m.finding_types.iter().map(String::as_str));
        tactics.extend(m.tactics.iter().map(String::as_str));
        products.extend(m.products.iter().map(String::as_str));
    }
    let escalates_via = members
        .iter()
        .filter(|i| i.awaits_acknowledgement())
        .min_by_key(|i| {
            (
                std::cmp::Reverse(i.severity),
                std::cmp::Reverse(i.environment),
                crate::queue::deadline_order(i.response_deadline),
                &i.id,
            )
        })
        .map(|i| i.id.clone());
    let take = |s: std::collections::BTreeSet<&str>, n: usize| -> Vec<String> {
        s.into_iter().take(n).map(str::to_owned).collect()
    };
    let single_account = item.accounts.len() == 1;
    ItemDetail {
        environment: members
            .iter()
            .map(|i| i.environment)
            .max()
            .map_or("unknown", |e| e.as_str())
            .to_owned(),
        route: lead.and_then(|l| l.triage.route.clone()),
        account_name: lead
            .filter(|_| single_account)
            .and_then(|l| l.account_name.clone()),
        owner: lead
            .filter(|_| single_account)
            .and_then(|l| l.owner.clone()),
        finding_types_total: types.len(),
        finding_types: take(types, 50),
        tactics: take(tactics, 20),
        products: take(products, 20),
        lead_finding_id: lead.map(|l| l.lead.finding_id.clone()).unwrap_or_default(),
        lead_finding_type: lead
            .map(|l| l.lead.finding_type.clone())
            .unwrap_or_default(),
        remediation: lead
            .map(|l| l.lead.remediation.text.clone())
            .unwrap_or_default(),
        remediation_url: lead.and_then(|l| l.lead.remediation.url.clone()),
        escalates_via: (item.kind == Kind::Campaign)
            .then_some(escalates_via)
            .flatten(),
    }
}

/// The version a write after `prev` gives: the write's time in milliseconds (or one more than
/// `prev` should clocks disagree), so that an item that closed, expired and formed again never
/// reuses a version the sinks already have.
fn version_after(prev: u64, now: DateTime<Utc>) -> u64 {
    u64::try_from(now.timestamp_millis())
        .unwrap_or(0)
        .max(prev + 1)
}

/// Whether a digest grew enough since `sent` findings to be sent again.
fn grown(sent: u64, now: u64, percent: u32) -> bool {
    now > sent && u128::from(now) * 100 >= u128::from(sent) * (100 + u128::from(percent))
}

/// What changed materially from the stored item `old` to the queue's `new`.
fn changes(old: &QueueRecord, new: &QueueItem, growth_percent: u32) -> Vec<String> {
    let o = &old.item;
    let mut c = Vec::new();
    if o.severity != new.severity {
        c.push("severity".to_owned());
    }
    if o.status != new.status {
        c.push("status".to_owned());
    }
    match new.kind {
        Kind::Digest => {
            if grown(o.finding_count, new.finding_count, growth_percent) {
                c.push("growth".to_owned());
            }
        }
        _ => {
            if o.incident_ids != new.incident_ids {
                c.push("incident_ids".to_owned());
            }
            if o.accounts != new.accounts {
                c.push("accounts".to_owned());
            }
            if o.response_deadline != new.response_deadline {
                c.push("response_deadline".to_owned());
            }
            if o.finding_count != new.finding_count {
                c.push("finding_count".to_owned());
            }
        }
    }
    if old.closed_at.is_some() {
        c.push("reopened".to_owned());
    }
    c
}

/// The writes that bring the stored items `stored` (the live ones, and any others of the same
/// ids) to the queue `queue` at `now`: each conditional on what was read.
pub fn plan(
    stored: &[QueueRecord],
    queue: &[QueueItem],
    details: &HashMap<String, ItemDetail>,
    rb: &Runbook,
    now: DateTime<Utc>,
) -> Vec<Put<QueueRecord>> {
    let growth = rb.queue.digest.resend_growth_percent;
    let by_id: BTreeMap<&str, &QueueRecord> =
        stored.iter().map(|r| (r.item.id.as_str(), r)).collect();
    let mut out = Vec::new();
    let mut in_queue: BTreeMap<&str, &QueueItem> = BTreeMap::new();
    for item in queue.iter().filter(|q| q.kind != Kind::Incident) {
        in_queue.insert(item.id.as_str(), item);
        let detail = details.get(&item.id).cloned().unwrap_or_default();
        match by_id.get(item.id.as_str()) {
            None => out.push(Put {
                item: QueueRecord {
                    item: item.clone(),
                    detail,
                    version: version_after(0, now),
                    created_at: now,
                    updated_at: now,
                    closed_at: None,
                    changed: Vec::new(),
                    closed_why: None,
                },
                expect: Expect::Absent,
            }),
            Some(old) => {
                let changed = changes(old, item, growth);
                // The member a campaign escalates through moving is kept quietly (the
                // escalation run reads it from the queue it builds, not from here).
                if changed.is_empty() {
                    continue;
                }
                let mut item = item.clone();
                if item.kind == Kind::Digest && !changed.iter().any(|c| c == "growth") {
                    // Growth below the threshold is not news: the count sent stays the base.
                    item.finding_count = old.item.finding_count;
                }
                out.push(Put {
                    item: QueueRecord {
                        item,
                        detail,
                        version: version_after(old.version, now),
                        created_at: old.created_at,
                        updated_at: now,
                        closed_at: None,
                        changed,
                        closed_why: None,
                    },
                    expect: Expect::Version(old.version),
                });
            }
        }
    }
    // Items that left the queue close once.
    let member_of: BTreeMap<&str, &str> = queue
        .iter()
        .filter(|q| q.kind != Kind::Incident)
        .flat_map(|q| q.incident_ids.iter().map(|i| (i.as_str(), q.id.as_str())))
        .collect();
    for old in stored.iter().filter(|r| r.is_live()) {
        if in_queue.contains_key(old.item.id.as_str()) {
            continue;
        }
        let merged = old
            .item
            .incident_ids
            .iter()
            .find_map(|i| member_of.get(i.as_str()).copied());
        let mut item = old.item.clone();
        item.status = IncidentStatus::Resolved;
        out.push(Put {
            item: QueueRecord {
                item,
                detail: old.detail.clone(),
                version: version_after(old.version, now),
                created_at: old.created_at,
                updated_at: now,
                closed_at: Some(now),
                changed: vec!["closed".to_owned(), "status".to_owned()],
                closed_why: Some(match merged {
                    Some(other) => format!("merged into {other}"),
                    None => "its members are closed or no longer linked".to_owned(),
                }),
            },
            expect: Expect::Version(old.version),
        });
    }
    out
}

/// Which campaign each live incident is in, and through which member a campaign escalates
/// (for [`crate::escalation::run`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Groups {
    /// Incident id -> its campaign.
    pub campaign_of: HashMap<String, Membership>,
}

/// An incident's campaign, as the queue run saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub campaign: String,
    /// The member the campaign escalates through, and the escalation policy that applies to
    /// it (another member's steps are covered only under the same policy).
    pub via: Option<String>,
    pub via_policy: Option<String>,
}

impl Groups {
    /// The campaign `incident_id` is in, when it is not the member the campaign escalates
    /// through.
    pub fn covered_by(&self, incident_id: &str) -> Option<&Membership> {
        self.campaign_of
            .get(incident_id)
            .filter(|m| m.via.as_deref() != Some(incident_id))
    }

    pub fn campaign(&self, incident_id: &str) -> Option<&str> {
        self.campaign_of
            .get(incident_id)
            .map(|m| m.campaign.as_str())
    }
}

/// What one queue run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunReport {
    pub campaigns: usize,
    pub digests: usize,
    pub incidents: usize,
    /// Stored items written (opened, changed, closed).
    pub opened: usize,
    pub changed: usize,
    pub closed: usize,
    /// Member incidents whose campaign mark was written.
    pub marked: usize,
    /// Writes another run made first (that run's item stands; the next run reconciles).
    pub conflicts: u64,
    pub groups: Groups,
}

/// One queue run at `now` (see the module documentation).
pub async fn run<S>(
    store: &S,
    rb: &Runbook,
    now: DateTime<Utc>,
    max_attempts: u32,
) -> Result<RunReport, StoreError>
where
    S: IncidentStore + IncidentReader + QueueStore,
{
    let incidents = store.list_incidents(true).await?;
    let queue = build(&incidents, rb);
    let by_id: HashMap<&str, &Incident> = incidents.iter().map(|i| (i.id.as_str(), i)).collect();
    let mut report = RunReport::default();
    let mut details = HashMap::new();
    for q in &queue {
        match q.kind {
            Kind::Campaign => report.campaigns += 1,
            Kind::Digest => report.digests += 1,
            Kind::Incident => report.incidents += 1,
        }
        if q.kind == Kind::Incident {
            continue;
        }
        let d = detail(q, &by_id);
        if q.kind == Kind::Campaign {
            let via_policy = d
                .escalates_via
                .as_deref()
                .and_then(|v| by_id.get(v))
                .and_then(|i| crate::escalation::policy_for(rb, i))
                .map(|p| p.name.clone());
            for m in &q.incident_ids {
                report.groups.campaign_of.insert(
                    m.clone(),
                    Membership {
                        campaign: q.id.clone(),
                        via: d.escalates_via.clone(),
                        via_policy: via_policy.clone(),
                    },
                );
            }
        }
        details.insert(q.id.clone(), d);
    }
    let ids: Vec<String> = queue
        .iter()
        .filter(|q| q.kind != Kind::Incident)
        .map(|q| q.id.clone())
        .collect();
    let mut stored = store.live_queue().await?;
    let live: std::collections::HashSet<&str> = stored.iter().map(|r| r.item.id.as_str()).collect();
    let missing: Vec<String> = ids
        .iter()
        .filter(|id| !live.contains(id.as_str()))
        .cloned()
        .collect();
    // Items of these ids closed earlier (a campaign that forms again).
    stored.extend(store.get_queue(&missing).await?);
    for put in plan(&stored, &queue, &details, rb, now) {
        let what = if put.item.closed_at.is_some() {
            "closed"
        } else if put.expect == Expect::Absent {
            "opened"
        } else {
            "changed"
        };
        match store.put_queue(&put).await {
            Ok(()) => {
                match what {
                    "closed" => report.closed += 1,
                    "opened" => report.opened += 1,
                    _ => report.changed += 1,
                }
                tracing::info!(item_id = %put.item.item.id, kind = put.item.item.kind.as_str(),
                    version = put.item.version, severity = %put.item.item.severity,
                    members = put.item.item.incident_ids.len(), changed = ?put.item.changed,
                    "queue item {what}");
            }
            Err(StoreError::Conflict { .. }) => report.conflicts += 1,
            Err(e) => return Err(e),
        }
    }
    // Campaign marks on the members (and cleared on live incidents that left a campaign).
    for inc in &incidents {
        let want = report.groups.campaign(&inc.id).map(str::to_owned);
        if want == inc.campaign {
            continue;
        }
        match mark(store, inc, want.as_deref(), now, max_attempts).await? {
            (true, c) => {
                report.marked += 1;
                report.conflicts += c;
            }
            (false, c) => report.conflicts += c,
        }
    }
    Ok(report)
}

/// The minute schedule's work: the queue run, then the escalation run with the campaigns it
/// found. A failed queue run does not hold escalation back (it runs with no campaigns: each
/// member escalates on its own); its error is returned after, for the schedule to alarm on.
pub async fn minute<S>(
    store: &S,
    rb: &Runbook,
    now: DateTime<Utc>,
    max_attempts: u32,
) -> (
    Result<RunReport, StoreError>,
    Result<crate::escalation::RunReport, StoreError>,
)
where
    S: IncidentStore + IncidentReader + QueueStore + crate::ports::EscalationIndex,
{
    let queue = run(store, rb, now, max_attempts).await;
    let groups = queue.as_ref().map(|r| r.groups.clone()).unwrap_or_default();
    let escalation = crate::escalation::run(store, rb, now, max_attempts, &groups).await;
    (queue, escalation)
}

/// Writes `campaign` on the incident, conditionally on the version listed (on a conflict,
/// again on the version read then).
async fn mark<S: IncidentStore>(
    store: &S,
    listed: &Incident,
    campaign: Option<&str>,
    now: DateTime<Utc>,
    max_attempts: u32,
) -> Result<(bool, u64), StoreError> {
    let mut conflicts = 0;
    let mut current = Some(listed.clone());
    for attempt in 0..max_attempts.max(1) {
        let inc = match current.take() {
            Some(i) => i,
            None => match store
                .get_incidents(std::slice::from_ref(&listed.id))
                .await?
                .remove(&listed.id)
            {
                Some(i) => i,
                None => return Ok((false, conflicts)),
            },
        };
        if !inc.is_live() || inc.campaign.as_deref() == campaign {
            return Ok((false, conflicts));
        }
        let mut next = inc.clone();
        next.campaign = campaign.map(str::to_owned);
        next.version = inc.version + 1;
        next.updated_at = now;
        next.escalation.notify.clear();
        let c = ChangeSet {
            incidents: vec![Put {
                item: next,
                expect: Expect::Version(inc.version),
            }],
            ..Default::default()
        };
        match store.commit(&c).await {
            Ok(()) => return Ok((true, conflicts)),
            Err(StoreError::Conflict { .. }) => {
                conflicts += 1;
                store.backoff(attempt).await;
            }
            Err(e) => return Err(e),
        }
    }
    Ok((false, conflicts))
}

#[cfg(test)]
#[path = "queue_store_tests.rs"]
mod tests;

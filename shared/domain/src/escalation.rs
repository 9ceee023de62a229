//! Escalation before and after response deadlines: the runbook's `escalation:` policies and
//! the step machine that says, at a given time, which steps of an unacknowledged incident are
//! due.
//!
//! A policy applies to incidents of some severities and environments (the first that matches);
//! its steps are relative to the incident's opening and its response deadline: `open`, `50%`
//! (of the time from opening to the deadline), `deadline`, `deadline+30m`, `deadline-10m`,
//! each optionally repeated (`repeat: 30m`, `max: 4`), each naming the route to notify.
//!
//! [`escalate`] is pure. Each occurrence of a step happens at most once per incident: what was
//! done is kept on the incident ([`Escalation::done`]) and the caller writes the result
//! conditionally on the version read, so overlapping, retried or late runs agree. Nothing
//! happens once the incident is acknowledged (or closed). A run that comes late fires each due
//! step once; of a repeating step only the latest occurrence, the missed ones marked skipped.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::asff::SeverityLabel;
use crate::incident::Incident;
use crate::runbook::{Environment, HumanDuration, Runbook};

/// Most steps a policy may have, and most occurrences of a repeating one.
pub const MAX_STEPS: usize = 20;
pub const MAX_REPEATS: u32 = 100;

/// A policy as written in the runbook.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySpec {
    pub name: String,
    /// Severities it applies to (empty: any).
    #[serde(default)]
    pub severities: Vec<String>,
    /// Environments it applies to (empty: any).
    #[serde(default)]
    pub environments: Vec<String>,
    pub steps: Vec<StepSpec>,
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    /// Unique within the policy; recorded on the incident.
    pub id: String,
    /// `open`, `<n>%` (of the time from opening to the deadline), `deadline`,
    /// `deadline+<duration>` or `deadline-<duration>`.
    pub at: String,
    /// The route to notify (declared under `routes:`).
    pub route: String,
    /// Repeat this often after the first occurrence...
    #[serde(default)]
    pub repeat: Option<HumanDuration>,
    /// ...at most this many times in all (default 1 without `repeat`, required with it).
    #[serde(default)]
    pub max: Option<u32>,
}

/// When a step first happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    Open,
    /// Percent of the time from opening to the deadline.
    Percent(u32),
    /// Relative to the deadline (negative: before it).
    Deadline(Duration),
}

impl At {
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        if s == "open" {
            return Some(Self::Open);
        }
        if let Some(p) = s.strip_suffix('%') {
            let n: u32 = p.trim().parse().ok()?;
            return (n <= 100).then_some(Self::Percent(n));
        }
        let rest = s.strip_prefix("deadline")?.trim();
        if rest.is_empty() {
            return Some(Self::Deadline(Duration::zero()));
        }
        let (sign, d) = match rest.split_at(1) {
            ("+", d) => (1, d),
            ("-", d) => (-1, d),
            _ => return None,
        };
        let d = HumanDuration::parse(d.trim())?.0;
        Some(Self::Deadline(if sign < 0 { -d } else { d }))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub id: String,
    pub at: At,
    pub route: String,
    pub repeat: Option<Duration>,
    pub max: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub name: String,
    pub severities: Vec<SeverityLabel>,
    pub environments: Vec<Environment>,
    pub steps: Vec<Step>,
}

/// Compiles and checks the policies (`routes`: the runbook's route names).
pub fn compile(
    specs: &[PolicySpec],
    routes: &std::collections::BTreeMap<String, crate::triage::spec::RouteSpec>,
) -> Result<Vec<Policy>, String> {
    let mut out = Vec::new();
    let mut names = std::collections::BTreeSet::new();
    for p in specs {
        let what = format!("escalation policy {:?}", p.name);
        if p.name.trim().is_empty() || !names.insert(p.name.clone()) {
            return Err(format!("{what}: names must be non-empty and unique"));
        }
        if p.steps.is_empty() || p.steps.len() > MAX_STEPS {
            return Err(format!("{what}: 1 to {MAX_STEPS} steps"));
        }
        let severities = p
            .severities
            .iter()
            .map(|s| {
                SeverityLabel::parse(&s.to_ascii_uppercase())
                    .ok_or_else(|| format!("{what}: unknown severity {s:?}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let environments = p
            .environments
            .iter()
            .map(|e| {
                Environment::parse(e).ok_or_else(|| format!("{what}: unknown environment {e:?}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut ids = std::collections::BTreeSet::new();
        let mut steps = Vec::new();
        for s in &p.steps {
            let sw = format!("{what} step {:?}", s.id);
            if s.id.trim().is_empty() || s.id.contains('#') || !ids.insert(s.id.clone()) {
                return Err(format!(
                    "{sw}: ids must be non-empty, unique and without '#'"
                ));
            }
            let at = At::parse(&s.at).ok_or_else(|| {
                format!(
                    "{sw}: at {:?} is not open, <n>%, deadline or deadline+/-<duration>",
                    s.at
                )
            })?;
            if !routes.contains_key(&s.route) {
                return Err(format!(
                    "{sw}: route {:?} is not declared under routes:",
                    s.route
                ));
            }
            let max = match (s.repeat, s.max) {
                (None, None) => 1,
                (None, Some(_)) => return Err(format!("{sw}: max needs repeat")),
                (Some(_), None) => {
                    return Err(format!("{sw}: repeat needs max (at most {MAX_REPEATS})"))
                }
                (Some(_), Some(m)) if m == 0 || m > MAX_REPEATS => {
                    return Err(format!("{sw}: max must be 1 to {MAX_REPEATS}"))
                }
                (Some(_), Some(m)) => m,
            };
            steps.push(Step {
                id: s.id.clone(),
                at,
                route: s.route.clone(),
                repeat: s.repeat.map(|r| r.0),
                max,
            });
        }
        out.push(Policy {
            name: p.name.clone(),
            severities,
            environments,
            steps,
        });
    }
    Ok(out)
}

/// One occurrence of a step that happened (or was skipped: a late run fired a later
/// occurrence of the same repeating step instead).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepDone {
    pub step: String,
    /// Occurrence, from 1.
    pub n: u32,
    pub route: String,
    /// When it was due, and when it happened.
    pub due: DateTime<Utc>,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skipped: bool,
}

/// An incident's escalation: the policy that applies, what happened, and when to look again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Escalation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub done: Vec<StepDone>,
    /// The earliest time a step may be due (the escalation index is keyed on it); `None`
    /// when nothing is left to do or the incident does not wait for an analyst.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_check: Option<DateTime<Utc>>,
    /// Steps of the versions written since the forwarder last saw one: the routes this
    /// version notifies (only the steps done in the write that made it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notify: Vec<String>,
    /// When an escalation run saw the response deadline pass without an acknowledgement
    /// (marked once, whether or not a policy applies; it counts as a breach in
    /// `DeadlineBreached` and `vigil report`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breached_at: Option<DateTime<Utc>>,
}

impl Escalation {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
    fn has(&self, step: &str, n: u32) -> bool {
        self.done.iter().any(|d| d.step == step && d.n == n)
    }
}

/// The policy for `inc`: the first whose severities and environments admit it.
pub fn policy_for<'r>(rb: &'r Runbook, inc: &Incident) -> Option<&'r Policy> {
    rb.escalation_policies().iter().find(|p| {
        (p.severities.is_empty() || p.severities.contains(&inc.severity))
            && (p.environments.is_empty() || p.environments.contains(&inc.environment))
    })
}

/// When occurrence `n` (from 1) of `step` is due for `inc`, if ever (a deadline-relative step
/// of an incident without a deadline never is).
pub fn due_at(step: &Step, n: u32, inc: &Incident) -> Option<DateTime<Utc>> {
    if n == 0 || n > step.max {
        return None;
    }
    let opened = inc.created_at;
    let first = match step.at {
        At::Open => opened,
        At::Percent(p) => {
            let d = inc.response_deadline?;
            let span = (d - opened).max(Duration::zero());
            opened + Duration::milliseconds(span.num_milliseconds() * i64::from(p) / 100)
        }
        At::Deadline(off) => inc.response_deadline?.checked_add_signed(off)?,
    };
    match (n, step.repeat) {
        (1, _) => Some(first),
        (_, Some(r)) => first.checked_add_signed(r.checked_mul(i32::try_from(n - 1).ok()?)?),
        (_, None) => None,
    }
}

/// The earliest occurrence not done yet, for the escalation index.
pub fn next_check(rb: &Runbook, inc: &Incident) -> Option<DateTime<Utc>> {
    if !inc.awaits_acknowledgement() {
        return None;
    }
    // The deadline itself, until a run has marked its breach (never for an incident already
    // answered: acknowledged, or closed, then reopened).
    let breach = inc
        .response_deadline
        .filter(|_| inc.escalation.breached_at.is_none() && crate::sla::answered_at(inc).is_none());
    let steps = policy_for(rb, inc).and_then(|p| {
        p.steps
            .iter()
            .filter_map(|s| {
                (1..=s.max)
                    .find(|n| !inc.escalation.has(&s.id, *n))
                    .and_then(|n| due_at(s, n, inc))
            })
            .min()
    });
    match (breach, steps) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Whether the response deadline has passed at `now` with the incident still waiting for an
/// analyst, never answered (an incident acknowledged or closed in time and reopened later met
/// its deadline), and no run has marked it yet.
pub fn breaching(inc: &Incident, now: DateTime<Utc>) -> bool {
    inc.awaits_acknowledgement()
        && inc.escalation.breached_at.is_none()
        && crate::sla::answered_at(inc).is_none()
        && inc.response_deadline.is_some_and(|d| d <= now)
}

/// The incident after the steps due at `now`, or `None` when nothing is due (its
/// `escalation.next_check` may still need refreshing: see [`next_check`]).
pub fn escalate(rb: &Runbook, inc: &Incident, now: DateTime<Utc>) -> Option<Incident> {
    escalate_covered(rb, inc, now, None)
}

/// Why an incident's steps notify nobody themselves: a campaign escalates for it through
/// another member under the same policy, or it is rolled up in a digest (never paged). A
/// member whose policy differs from that member's (another severity or environment), or whose
/// campaign had no member waiting when the queue run saw it, escalates on its own.
pub fn covered(
    inc: &Incident,
    rb: &Runbook,
    groups: &crate::queue_store::Groups,
) -> Option<String> {
    if let Some(m) = groups.covered_by(&inc.id) {
        let own = policy_for(rb, inc).map(|p| p.name.as_str());
        if let Some(v) = m.via.as_deref().filter(|_| own == m.via_policy.as_deref()) {
            return Some(format!("campaign {} escalates through {v}", m.campaign));
        }
    }
    rb.queue
        .digest_id(inc)
        .map(|d| format!("rolled up in digest {d}, which is never paged"))
}

/// [`escalate`], where `covered` (see [`covered`]) says why the steps due are recorded as
/// done without notifying anyone.
pub fn escalate_covered(
    rb: &Runbook,
    inc: &Incident,
    now: DateTime<Utc>,
    covered: Option<&str>,
) -> Option<Incident> {
    if !inc.awaits_acknowledgement() {
        return None;
    }
    let policy = policy_for(rb, inc);
    let mut next = inc.clone();
    let breached = breaching(inc, now);
    if breached {
        next.escalation.breached_at = Some(now);
        let late = inc
            .response_deadline
            .map_or(0, |d| (now - d).num_minutes().max(0));
        next.record(note(
            inc,
            now,
            format!("response deadline breached: not acknowledged {late} min after it"),
            "esc#breach".to_owned(),
        ));
    }
    let mut fired: Vec<StepDone> = Vec::new();
    let steps = policy.map_or(&[][..], |p| p.steps.as_slice());
    for s in steps {
        // The latest due occurrence not done yet fires; earlier missed ones are skipped.
        let due: Vec<(u32, DateTime<Utc>)> = (1..=s.max)
            .filter(|n| !inc.escalation.has(&s.id, *n))
            .map_while(|n| due_at(s, n, inc).filter(|t| *t <= now).map(|t| (n, t)))
            .collect();
        let Some(&(last, _)) = due.last() else {
            continue;
        };
        for (n, t) in due {
            let d = StepDone {
                step: s.id.clone(),
                n,
                route: s.route.clone(),
                due: t,
                at: now,
                skipped: n != last || covered.is_some(),
            };
            if !d.skipped {
                fired.push(d.clone());
            }
            next.escalation.done.push(d);
        }
    }
    if !breached && fired.is_empty() && next.escalation.done.len() == inc.escalation.done.len() {
        return None;
    }
    if let Some(why) = covered {
        let n = next.escalation.done.len() - inc.escalation.done.len();
        if n > 0 {
            next.record(note(
                inc,
                now,
                crate::bounds::clip(
                    &format!("{n} escalation step(s) due, not notified on their own: {why}"),
                    crate::bounds::MAX_TEXT_CHARS,
                ),
                "esc#covered".to_owned(),
            ));
        }
    }
    let policy_name = policy.map_or_else(String::new, |p| p.name.clone());
    if policy.is_some() {
        next.escalation.policy = Some(policy_name.clone());
    }
    next.escalation.notify = fired.iter().map(|d| d.route.clone()).collect();
    next.escalation.notify.sort();
    next.escalation.notify.dedup();
    for d in &fired {
        let when = match inc.response_deadline {
            Some(dl) if d.due > dl => {
                format!("{} min after the deadline", (d.due - dl).num_minutes())
            }
            Some(dl) => format!("{} min before the deadline", (dl - d.due).num_minutes()),
            None => "at opening".into(),
        };
        next.record(note(
            inc,
            now,
            format!(
                "step {} #{} of policy {}: notify route {} ({when})",
                d.step, d.n, policy_name, d.route
            ),
            format!("esc#{}#{}", d.step, d.n),
        ));
    }
    next.escalation.next_check = next_check(rb, &next);
    Some(next)
}

/// An entry in the incident's history by the escalation run, its status unchanged.
fn note(
    inc: &Incident,
    now: DateTime<Utc>,
    why: String,
    reference: String,
) -> crate::lifecycle::Transition {
    crate::lifecycle::Transition {
        at: now,
        from: inc.status,
        to: inc.status,
        by: crate::lifecycle::BY_VIGIL.to_owned(),
        source: "escalation".to_owned(),
        why,
        reference: Some(reference),
    }
}

/// What one escalation run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunReport {
    /// Incidents the index returned.
    pub examined: usize,
    /// Step occurrences that happened (each notifies its route).
    pub steps: usize,
    /// Incidents whose response deadline this run marked as breached.
    pub breaches: usize,
    /// Incidents whose next check only moved (nothing was due yet).
    pub refreshed: usize,
    /// Step occurrences due on incidents a campaign escalates for through another member, or
    /// rolled up in a digest: recorded, notifying nobody.
    pub covered: usize,
    pub conflicts: u64,
}

/// Most incidents one run looks at (the next run, a minute later, continues).
pub const RUN_LIMIT: usize = 500;

/// One escalation run at `now`: every incident the index says may be due, each read, advanced
/// by [`escalate`] and written conditionally on the version read (again on a conflict), so that
/// runs that overlap, are retried or come late do each step once.
pub async fn run<S: crate::ports::IncidentStore + crate::ports::EscalationIndex>(
    store: &S,
    rb: &Runbook,
    now: DateTime<Utc>,
    max_attempts: u32,
    groups: &crate::queue_store::Groups,
) -> Result<RunReport, crate::error::StoreError> {
    use crate::error::StoreError;
    use crate::ports::{ChangeSet, Expect, Put};
    let mut report = RunReport::default();
    for id in store.due_escalations(now, RUN_LIMIT).await? {
        report.examined += 1;
        for attempt in 0..max_attempts.max(1) {
            let Some(inc) = store
                .get_incidents(std::slice::from_ref(&id))
                .await?
                .remove(&id)
            else {
                break;
            };
            let why = covered(&inc, rb, groups);
            let mut covered_steps = 0;
            let (mut next, steps) = match escalate_covered(rb, &inc, now, why.as_deref()) {
                Some(n) => {
                    let new = &n.escalation.done[inc.escalation.done.len()..];
                    if why.is_some() {
                        covered_steps = new.len();
                    }
                    let steps = new.iter().filter(|d| !d.skipped).count();
                    (n, steps)
                }
                None => {
                    // Nothing due yet (or no longer waiting): only where to look again moves.
                    let nc = next_check(rb, &inc);
                    if nc == inc.escalation.next_check {
                        break;
                    }
                    let mut n = inc.clone();
                    n.escalation.next_check = nc;
                    n.escalation.notify.clear();
                    (n, 0)
                }
            };
            next.version = inc.version + 1;
            next.updated_at = now;
            let c = ChangeSet {
                incidents: vec![Put {
                    item: next.clone(),
                    expect: Expect::Version(inc.version),
                }],
                ..Default::default()
            };
            let breach =
                next.escalation.breached_at.is_some() && inc.escalation.breached_at.is_none();
            match store.commit(&c).await {
                Ok(()) => {
                    if breach {
                        report.breaches += 1;
                        tracing::warn!(incident_id = %id, severity = %inc.severity,
                            account = %inc.account_id, deadline = ?inc.response_deadline,
                            "response deadline breached");
                    }
                    if steps > 0 {
                        report.steps += steps;
                        tracing::info!(incident_id = %id, routes = ?next.escalation.notify,
                            policy = ?next.escalation.policy, campaign = ?groups.campaign(&id),
                            "escalation step");
                    } else if covered_steps > 0 {
                        report.covered += covered_steps;
                        tracing::info!(incident_id = %id, steps = covered_steps,
                            why = why.as_deref().unwrap_or_default(),
                            "escalation steps due, covered by the campaign or digest");
                    } else if !breach {
                        report.refreshed += 1;
                    }
                    break;
                }
                Err(StoreError::Conflict { .. }) => {
                    report.conflicts += 1;
                    store.backoff(attempt).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::IncidentStatus;
    use crate::testing::{at_minutes, incident};
    use proptest::prelude::*;

    const RB: &str = r#"
routes:
  pager: {}
  lead: {}
escalation:
  - name: high
    severities: [CRITICAL, HIGH]
    steps:
      - { id: page, at: open, route: pager }
      - { id: remind, at: 50%, route: pager }
      - { id: breach, at: deadline, route: lead }
      - { id: overdue, at: deadline+30m, repeat: 30m, max: 3, route: lead }
"#;

    fn rb() -> Runbook {
        Runbook::from_yaml(RB, "t").unwrap()
    }

    /// HIGH, opened at minute 0, due at minute 60.
    fn high() -> Incident {
        let mut i = incident("f", "t", 1);
        i.severity = SeverityLabel::High;
        i.created_at = at_minutes(0);
        i.response_deadline = Some(at_minutes(60));
        i.status = IncidentStatus::Open;
        i
    }

    fn fired(i: &Incident) -> Vec<(String, u32)> {
        i.escalation
            .done
            .iter()
            .filter(|d| !d.skipped)
            .map(|d| (d.step.clone(), d.n))
            .collect()
    }

    #[test]
    fn steps_fire_at_their_times_once_each() {
        let rb = rb();
        let i = high();
        assert_eq!(next_check(&rb, &i), Some(at_minutes(0)));
        let i = escalate(&rb, &i, at_minutes(1)).unwrap();
        assert_eq!(fired(&i), [("page".to_owned(), 1)]);
        assert_eq!(i.escalation.notify, ["pager"]);
        assert_eq!(i.escalation.next_check, Some(at_minutes(30)));
        assert_eq!(escalate(&rb, &i, at_minutes(2)), None, "nothing new");
        let i = escalate(&rb, &i, at_minutes(30)).unwrap();
        let i = escalate(&rb, &i, at_minutes(61)).unwrap();
        assert_eq!(i.escalation.notify, ["lead"]);
        assert_eq!(i.escalation.next_check, Some(at_minutes(90)));
        assert!(i
            .history
            .last()
            .unwrap()
            .why
            .contains("step breach #1 of policy high"));
        // Late by two hours: the overdue reminder fires once, the missed ones are skipped.
        let i = escalate(&rb, &i, at_minutes(185)).unwrap();
        let overdue: Vec<(u32, bool)> = i
            .escalation
            .done
            .iter()
            .filter(|d| d.step == "overdue")
            .map(|d| (d.n, d.skipped))
            .collect();
        assert_eq!(overdue, [(1, true), (2, true), (3, false)]);
        assert_eq!(i.escalation.next_check, None, "all done");
    }

    #[test]
    fn nothing_happens_once_acknowledged_or_without_a_policy() {
        let rb = rb();
        let mut i = high();
        i.status = IncidentStatus::Acknowledged;
        assert_eq!(escalate(&rb, &i, at_minutes(100)), None);
        assert_eq!(next_check(&rb, &i), None);
        let mut low = high();
        low.severity = SeverityLabel::Low;
        // Without a policy nothing notifies; a passed deadline is still marked, once.
        assert_eq!(next_check(&rb, &low), low.response_deadline);
        assert_eq!(escalate(&rb, &low, at_minutes(59)), None);
        let marked = escalate(&rb, &low, at_minutes(100)).unwrap();
        assert_eq!(marked.escalation.breached_at, Some(at_minutes(100)));
        assert!(marked.escalation.notify.is_empty() && fired(&marked).is_empty());
        assert_eq!(marked.escalation.next_check, None);
        assert_eq!(escalate(&rb, &marked, at_minutes(200)), None);
        // Acknowledged in time, reopened after the deadline: it met its deadline.
        let mut reopened = low.clone();
        reopened.acknowledged_at = Some(at_minutes(10));
        assert_eq!(next_check(&rb, &reopened), None);
        assert_eq!(escalate(&rb, &reopened, at_minutes(100)), None);
        // No deadline: only `open` steps.
        let mut none = high();
        none.response_deadline = None;
        let e = escalate(&rb, &none, at_minutes(500)).unwrap();
        assert_eq!(fired(&e), [("page".to_owned(), 1)]);
        assert_eq!(e.escalation.next_check, None);
    }

    #[test]
    fn bad_policies_are_refused_at_load() {
        for (yaml, needle) in [
            ("routes: {p: {}}\nescalation: [{name: a, steps: [{id: s, at: soon, route: p}]}]", "is not open"),
            ("routes: {p: {}}\nescalation: [{name: a, steps: [{id: s, at: open, route: q}]}]", "not declared"),
            ("routes: {p: {}}\nescalation: [{name: a, steps: [{id: s, at: deadline, route: p, repeat: 30m}]}]", "repeat needs max"),
            ("routes: {p: {}}\nescalation: [{name: a, severities: [URGENT], steps: [{id: s, at: open, route: p}]}]", "unknown severity"),
            ("routes: {p: {}}\nescalation: [{name: a, steps: [{id: s, at: 150%, route: p}]}]", "is not open"),
        ] {
            let e = Runbook::from_yaml(yaml, "t").unwrap_err().to_string();
            assert!(e.contains(needle), "{yaml}: {e}");
        }
        assert_eq!(
            At::parse("deadline-10m"),
            Some(At::Deadline(-Duration::minutes(10)))
        );
    }

    #[test]
    fn overlapping_runs_against_a_store_do_each_step_once() {
        use crate::ports::{ChangeSet, Expect, IncidentStore, MemoryStore, Put};
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .build()
            .unwrap();
        rt.block_on(async {
            let rb = std::sync::Arc::new(rb());
            let s = std::sync::Arc::new(MemoryStore::new());
            for n in 0..5 {
                let mut i = high();
                i.id = format!("inc-{n}");
                i.escalation.next_check = next_check(&rb, &i);
                s.commit(&ChangeSet {
                    incidents: vec![Put {
                        item: i,
                        expect: Expect::Absent,
                    }],
                    ..Default::default()
                })
                .await
                .unwrap();
            }
            // Four runs at once at minute 61, then four more at minute 61 again (retries).
            for _ in 0..2 {
                let mut tasks = Vec::new();
                for _ in 0..4 {
                    let (s, rb) = (s.clone(), rb.clone());
                    tasks.push(tokio::spawn(async move {
                        run(&*s, &rb, at_minutes(61), 30, &Default::default())
                            .await
                            .unwrap()
                    }));
                }
                for t in tasks {
                    t.await.unwrap();
                }
            }
            for i in s.incidents() {
                assert_eq!(
                    fired(&i),
                    [
                        ("page".to_owned(), 1),
                        ("remind".to_owned(), 1),
                        ("breach".to_owned(), 1)
                    ],
                    "{}",
                    i.id
                );
                assert_eq!(i.escalation.next_check, Some(at_minutes(90)));
                assert_eq!(i.escalation.breached_at, Some(at_minutes(61)));
                assert_eq!(
                    i.history.len(),
                    4,
                    "each step and the breach once in the history"
                );
            }
        });
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Whatever the run schedule (late, overlapping: two runs from the same read, one of
        /// which loses the conditional write), each occurrence fires at most once, never
        /// before it is due, never after the acknowledgement, and every occurrence due before
        /// the acknowledgement and before some run has happened (or was skipped in favour of a
        /// later one of the same step).
        #[test]
        fn every_step_fires_once_in_time_whatever_the_schedule(
            runs in proptest::collection::vec((0i64..400, any::<bool>()), 1..40),
            ack in proptest::option::of(0i64..400),
        ) {
            let rb = rb();
            let mut runs = runs;
            runs.sort();
            let mut stored = high();
            let mut version = 0u64;
            for (t, overlapping) in &runs {
                let now = at_minutes(*t);
                if let Some(a) = ack {
                    if a <= *t && stored.status == IncidentStatus::Open {
                        stored.status = IncidentStatus::Acknowledged;
                        stored.acknowledged_at = Some(at_minutes(a));
                        version += 1;
                    }
                }
                let read = (stored.clone(), version);
                // An overlapping run read the same version: only one write lands.
                let attempts = if *overlapping { 2 } else { 1 };
                for _ in 0..attempts {
                    if let Some(next) = escalate(&rb, &read.0, now) {
                        if version == read.1 {
                            stored = next;
                            version += 1;
                        }
                    }
                }
            }
            let mut seen = std::collections::BTreeSet::new();
            for d in &stored.escalation.done {
                prop_assert!(seen.insert((d.step.clone(), d.n)), "{:?} twice", d);
                prop_assert!(d.due <= d.at, "{:?} before it was due", d);
                if let Some(a) = ack {
                    prop_assert!(d.at < at_minutes(a), "{:?} after the ack", d);
                }
            }
            let last_run = at_minutes(runs.last().map(|r| r.0).unwrap_or(0));
            let policy = policy_for(&rb, &high()).unwrap().clone();
            for s in &policy.steps {
                for n in 1..=s.max {
                    let Some(due) = due_at(s, n, &high()) else { continue };
                    // Some run after it was due and before any acknowledgement.
                    let ran = runs
                        .iter()
                        .any(|r| at_minutes(r.0) >= due && ack.is_none_or(|a| r.0 < a));
                    if due <= last_run && ran {
                        prop_assert!(seen.contains(&(s.id.clone(), n)), "{}#{} due {} never happened: {:?}", s.id, n, due, stored.escalation.done);
                    }
                }
            }
        }
    }
}

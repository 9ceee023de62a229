//! The response clock's figures, without I/O.
//!
//! - [`report`]: per severity x environment and per account, over the incidents opened in a
//!   period: how many had a response target, how many were answered within it, the median and
//!   p90 time to acknowledge, the breaches, and what is open now with its time left
//!   (`vigil report`).
//! - [`clock_events`]: what one stored change of an incident means for the clock (an
//!   acknowledgement and how long it took, a breach), for the forwarder's `TimeToAcknowledge`
//!   and `DeadlineBreached` metrics.
//!
//! Definitions. An incident's clock starts at its first finding (`first_seen`, when the
//! finding happened, which is where its response deadline counts from); its deadline is the
//! one it has now (a raised severity brings it forward). It belongs to the period in which
//! Vigil opened it (`created_at`). It is *answered* at its first
//! acknowledgement, or, when it was closed without one (resolved or suppressed, by an analyst
//! or because its findings went away), at that closing. It is *met* when answered by the
//! deadline, *breached* when answered after it or not answered while the deadline has passed.
//! Time to acknowledge counts acknowledgements only.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::asff::SeverityLabel;
use crate::incident::{Incident, IncidentStatus};

/// When the incident was answered (see the module's definitions).
pub fn answered_at(inc: &Incident) -> Option<DateTime<Utc>> {
    inc.acknowledged_at.or_else(|| {
        inc.history
            .iter()
            .find(|t| {
                t.from == IncidentStatus::Open
                    && matches!(t.to, IncidentStatus::Resolved | IncidentStatus::Suppressed)
            })
            .map(|t| t.at)
            // History older than the kept entries: a closed incident without a recorded
            // closing was closed at its last change, at the latest.
            .or_else(|| (!inc.is_live()).then_some(inc.updated_at))
    })
}

/// Whether the incident's deadline is breached at `now`.
pub fn breached(inc: &Incident, now: DateTime<Utc>) -> bool {
    let Some(d) = inc.response_deadline else {
        return false;
    };
    match answered_at(inc) {
        Some(a) => a > d,
        None => now > d,
    }
}

/// One incident's line in a report's breach or open list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IncidentLine {
    pub incident_id: String,
    pub title: String,
    pub severity: SeverityLabel,
    pub environment: String,
    pub account_id: String,
    pub status: IncidentStatus,
    pub created_at: DateTime<Utc>,
    pub response_deadline: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answered_at: Option<DateTime<Utc>>,
    /// Seconds to the deadline (negative: past it) for open incidents; seconds late for
    /// breaches.
    pub seconds: i64,
}

/// The figures of one group of incidents.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Figures {
    pub incidents: usize,
    /// Incidents with a response deadline.
    pub with_target: usize,
    /// Answered by their deadline.
    pub met: usize,
    pub breached: usize,
    /// `met` over the incidents whose outcome is known (answered, or past the deadline).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub met_pct: Option<f64>,
    pub acknowledged: usize,
    /// Time to acknowledge, seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tta_median_secs: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tta_p90_secs: Option<i64>,
    /// Still waiting for an acknowledgement (`OPEN`) now.
    pub open_now: usize,
}

#[derive(Debug, Clone, Default)]
struct Acc {
    figures: Figures,
    tta: Vec<i64>,
}

impl Acc {
    fn add(&mut self, inc: &Incident, now: DateTime<Utc>) {
        let f = &mut self.figures;
        f.incidents += 1;
        if inc.awaits_acknowledgement() {
            f.open_now += 1;
        }
        if let Some(a) = inc.acknowledged_at {
            f.acknowledged += 1;
            self.tta.push((a - inc.first_seen).num_seconds().max(0));
        }
        if let Some(d) = inc.response_deadline {
            f.with_target += 1;
            match answered_at(inc) {
                Some(a) if a <= d => f.met += 1,
                Some(_) => f.breached += 1,
                None if now > d => f.breached += 1,
                None => {}
            }
        }
    }

    fn finish(mut self) -> Figures {
        let decided = self.figures.met + self.figures.breached;
        self.figures.met_pct = (decided > 0)
            .then(|| (self.figures.met as f64 * 1000.0 / decided as f64).round() / 10.0);
        self.tta.sort_unstable();
        self.figures.tta_median_secs = percentile(&self.tta, 50);
        self.figures.tta_p90_secs = percentile(&self.tta, 90);
        self.figures
    }
}

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[i64], p: usize) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

/// A group of a report: severity x environment, or an account.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<SeverityLabel>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(flatten)]
    pub figures: Figures,
}

/// The SLA report of a period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub total: Figures,
    /// Most severe first, then production, test, dev, unknown.
    pub by_severity_environment: Vec<Group>,
    pub by_account: Vec<Group>,
    /// Breached incidents of the period, latest deadline first.
    pub breaches: Vec<IncidentLine>,
    /// Every incident waiting for an analyst now (whenever opened), least time left first.
    pub open: Vec<IncidentLine>,
}

fn line(inc: &Incident, seconds: i64) -> IncidentLine {
    IncidentLine {
        incident_id: inc.id.clone(),
        title: inc.title.clone(),
        severity: inc.severity,
        environment: inc.environment.as_str().to_owned(),
        account_id: inc.account_id.clone(),
        status: inc.status,
        created_at: inc.created_at,
        response_deadline: inc.response_deadline,
        answered_at: answered_at(inc),
        seconds,
    }
}

/// The report over `incidents` opened from `since` to `now`; `open` lists every incident that
/// waits for an analyst now, whenever it opened.
pub fn report(incidents: &[Incident], since: DateTime<Utc>, now: DateTime<Utc>) -> Report {
    let mut total = Acc::default();
    type Key = (
        std::cmp::Reverse<SeverityLabel>,
        std::cmp::Reverse<crate::runbook::Environment>,
    );
    let mut by_se: BTreeMap<Key, Acc> = BTreeMap::new();
    let mut by_account: BTreeMap<String, Acc> = BTreeMap::new();
    let mut breaches = Vec::new();
    let mut open = Vec::new();
    for inc in incidents {
        if inc.awaits_acknowledgement() {
            let left = inc
                .response_deadline
                .map_or(i64::MAX, |d| (d - now).num_seconds());
            open.push(line(inc, left));
        }
        if inc.created_at < since || inc.created_at > now {
            continue;
        }
        total.add(inc, now);
        by_se
            .entry((
                std::cmp::Reverse(inc.severity),
                std::cmp::Reverse(inc.environment),
            ))
            .or_default()
            .add(inc, now);
        by_account
            .entry(inc.account_id.clone())
            .or_default()
            .add(inc, now);
        if breached(inc, now) {
            let d = inc.response_deadline.unwrap_or(now);
            let late = answered_at(inc).unwrap_or(now) - d;
            breaches.push(line(inc, late.num_seconds()));
        }
    }
    breaches.sort_by(|a, b| {
        b.response_deadline
            .cmp(&a.response_deadline)
            .then(a.incident_id.cmp(&b.incident_id))
    });
    open.sort_by(|a, b| {
        a.seconds
            .cmp(&b.seconds)
            .then(b.severity.cmp(&a.severity))
            .then(a.incident_id.cmp(&b.incident_id))
    });
    Report {
        since,
        until: now,
        total: total.finish(),
        by_severity_environment: by_se
            .into_iter()
            .map(|((sev, env), acc)| Group {
                severity: Some(sev.0),
                environment: Some(env.0.as_str().to_owned()),
                account_id: None,
                figures: acc.finish(),
            })
            .collect(),
        by_account: by_account
            .into_iter()
            .map(|(account, acc)| Group {
                severity: None,
                environment: None,
                account_id: Some(account),
                figures: acc.finish(),
            })
            .collect(),
        breaches,
        open,
    }
}

/// "1 h 5 min", "45 s": a duration for people.
pub fn human(secs: i64) -> String {
    let s = secs.abs();
    let out = if s < 60 {
        format!("{s} s")
    } else if s < 3600 {
        format!("{} min", s / 60)
    } else if s < 48 * 3600 {
        match (s % 3600) / 60 {
            0 => format!("{} h", s / 3600),
            m => format!("{} h {m} min", s / 3600),
        }
    } else {
        format!("{} d", s / 86_400)
    };
    if secs < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// What one stored change of an incident means for the response clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockEvent {
    /// First acknowledged, this long after its first finding.
    Acknowledged { seconds: i64 },
    /// Its deadline was breached: marked by the escalation run, or acknowledged late before
    /// a run marked it.
    Breached,
}

/// The clock events of the change from `old` to `new` (none for a replayed version).
pub fn clock_events(old: Option<&Incident>, new: &Incident) -> Vec<ClockEvent> {
    if old.is_some_and(|o| new.version <= o.version) {
        return Vec::new();
    }
    let mut out = Vec::new();
    let old_ack = old.and_then(|o| o.acknowledged_at);
    let old_breach = old.and_then(|o| o.escalation.breached_at);
    if let (None, Some(a)) = (old_ack, new.acknowledged_at) {
        out.push(ClockEvent::Acknowledged {
            seconds: (a - new.first_seen).num_seconds().max(0),
        });
        let late = new.response_deadline.is_some_and(|d| a > d);
        if late && old_breach.is_none() && new.escalation.breached_at.is_none() {
            out.push(ClockEvent::Breached);
        }
    }
    if old_breach.is_none() && new.escalation.breached_at.is_some() {
        out.push(ClockEvent::Breached);
    }
    out
}

/// A report period from `7d`, `24h`, `90m`.
pub fn parse_period(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: i64 = n.parse().ok()?;
    match unit {
        "d" => Duration::try_days(n),
        "h" => Duration::try_hours(n),
        "m" => Duration::try_minutes(n),
        "w" => Duration::try_weeks(n),
        _ => None,
    }
    .filter(|d| *d > Duration::zero())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::Transition;
    use crate::testing::{at_minutes, incident};

    /// First seen and opened at minute `open`, HIGH with a 60-minute target, acknowledged after `ack`
    /// minutes (if any).
    fn inc(n: u32, open: i64, ack: Option<i64>, env: crate::runbook::Environment) -> Incident {
        let mut i = incident(&format!("f{n}"), &format!("t{n}"), 2);
        i.id = format!("inc-{n:02}");
        i.severity = SeverityLabel::High;
        i.environment = env;
        i.created_at = at_minutes(open);
        i.first_seen = at_minutes(open);
        i.response_deadline = Some(at_minutes(open + 60));
        if let Some(a) = ack {
            i.status = IncidentStatus::Acknowledged;
            i.acknowledged_at = Some(at_minutes(open + a));
        }
        i
    }

    #[test]
    fn figures_per_group_with_median_p90_breaches_and_time_left() {
        use crate::runbook::Environment::*;
        let now = at_minutes(1000);
        let mut v = vec![
            inc(1, 0, Some(10), Production),
            inc(2, 0, Some(20), Production),
            inc(3, 0, Some(30), Production),
            inc(4, 0, Some(90), Production), // late
            inc(5, 960, None, Production),   // open, 20 min left
            inc(6, 900, None, Production),   // open, breached 40 min ago
            inc(7, 0, Some(5), Dev),
        ];
        // Resolved without an acknowledgement, before its deadline: met, no TTA.
        let mut closed = inc(8, 0, None, Dev);
        closed.status = IncidentStatus::Resolved;
        closed.history.push(Transition {
            at: at_minutes(50),
            from: IncidentStatus::Open,
            to: IncidentStatus::Resolved,
            by: "vigil".into(),
            source: "auto".into(),
            why: "all findings archived".into(),
            reference: None,
        });
        v.push(closed);
        // Opened before the period: only in the open list if it waits.
        v.push(inc(9, -10_000, None, Production));
        let r = report(&v, at_minutes(-100), now);
        assert_eq!(r.total.incidents, 8);
        assert_eq!((r.total.met, r.total.breached), (5, 2));
        assert_eq!(r.total.met_pct, Some(71.4));
        let prod = &r.by_severity_environment[0];
        assert_eq!(prod.environment.as_deref(), Some("production"));
        let p = &prod.figures;
        assert_eq!(
            (p.incidents, p.acknowledged, p.met, p.breached),
            (6, 4, 3, 2)
        );
        assert_eq!(p.tta_median_secs, Some(20 * 60));
        assert_eq!(p.tta_p90_secs, Some(90 * 60));
        assert_eq!(p.open_now, 2);
        let ids: Vec<&str> = r.breaches.iter().map(|b| b.incident_id.as_str()).collect();
        assert_eq!(ids, ["inc-06", "inc-04"]);
        assert_eq!(r.breaches[1].seconds, 30 * 60, "30 min late");
        let open: Vec<(&str, i64)> = r
            .open
            .iter()
            .map(|o| (o.incident_id.as_str(), o.seconds))
            .collect();
        assert_eq!(
            open,
            [
                ("inc-09", (-10_000 + 60 - 1000) * 60),
                ("inc-06", -40 * 60),
                ("inc-05", 20 * 60)
            ]
        );
        assert_eq!(r.by_account.len(), 1);
    }

    #[test]
    fn the_clock_events_of_a_change_are_counted_once() {
        let open = inc(1, 0, None, crate::runbook::Environment::Production);
        let mut acked = open.clone();
        acked.version += 1;
        acked.acknowledged_at = Some(at_minutes(25));
        assert_eq!(
            clock_events(Some(&open), &acked),
            [ClockEvent::Acknowledged { seconds: 1500 }]
        );
        assert!(clock_events(Some(&acked), &acked).is_empty(), "replayed");
        // Breached by the run, then acknowledged late: one breach.
        let mut marked = open.clone();
        marked.version += 1;
        marked.escalation.breached_at = Some(at_minutes(61));
        assert_eq!(clock_events(Some(&open), &marked), [ClockEvent::Breached]);
        let mut late = marked.clone();
        late.version += 1;
        late.acknowledged_at = Some(at_minutes(70));
        assert_eq!(
            clock_events(Some(&marked), &late),
            [ClockEvent::Acknowledged { seconds: 4200 }]
        );
        // Acknowledged late before any run marked it: the acknowledgement is the breach.
        let mut unmarked = open.clone();
        unmarked.version += 1;
        unmarked.acknowledged_at = Some(at_minutes(61));
        assert_eq!(
            clock_events(Some(&open), &unmarked),
            [
                ClockEvent::Acknowledged { seconds: 3660 },
                ClockEvent::Breached
            ]
        );
    }

    #[test]
    fn periods_and_durations_read_naturally() {
        assert_eq!(parse_period("7d"), Some(Duration::days(7)));
        assert_eq!(parse_period("36h"), Some(Duration::hours(36)));
        assert_eq!(parse_period("0d"), None);
        assert_eq!(parse_period("7"), None);
        assert_eq!(parse_period("d"), None);
        assert_eq!(human(45), "45 s");
        assert_eq!(human(3900), "1 h 5 min");
        assert_eq!(human(-1200), "-20 min");
    }
}

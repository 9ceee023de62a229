//! Managed GuardDuty and Security Hub: declared state in the runbook's `manage:` section,
//! read through ports, planned by a pure planner, applied change by change.
//!
//! # Layout
//! - [`spec`]: the declaration and its validation; [`attrs`]: the attributes the services
//!   accept.
//! - [`state`]: what the services hold ("actual").
//! - [`plan`]: desired vs actual -> changes with reasons (pure).
//! - this module: the ports ([`GuardDutyAdmin`], [`SecurityHubAdmin`], [`ListStore`],
//!   [`AccountSource`]), [`read_actual`], [`apply`] (each change reported on its own; a failed
//!   change never stops the others) and [`run`] (what the scheduled function and the CLI do).
//! - [`memory`]: in-memory services with the real services' semantics (tests).

pub mod attrs;
#[cfg(any(test, feature = "test-util"))]
pub mod memory;
pub mod plan;
pub mod spec;
pub mod state;
#[cfg(test)]
mod tests;

use futures::future::BoxFuture;
use serde::Serialize;

pub use plan::{plan, Change, Context, Op, Plan, PlannedChange};
pub use spec::ManageSpec;
pub use state::{Account, Actual, GdState, RegionState, ShState};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A failed read or change.
#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    /// Throttled, unavailable, a network error: the next run retries.
    #[error("{what} failed (retryable): {message}")]
    Unavailable {
        what: String,
        message: String,
        #[source]
        source: Option<BoxError>,
    },
    /// Access denied, not the delegated administrator, a service not enabled: fix the setup.
    #[error("{what} is not possible: {message}")]
    Config {
        what: String,
        message: String,
        #[source]
        source: Option<BoxError>,
    },
    /// The service refused the request itself (a quota, a name taken, invalid input).
    #[error("{what} was refused: {message}")]
    Refused {
        what: String,
        message: String,
        #[source]
        source: Option<BoxError>,
    },
}

/// Error codes that mean the setup is wrong (access, not enabled, not the administrator).
pub const CONFIG_CODES: &[&str] = &[
    "AccessDeniedException",
    "AccessDenied",
    "InvalidAccessException",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
];

impl ManageError {
    /// An adapter's error: retryable ones are `Unavailable`; codes in [`CONFIG_CODES`] are
    /// `Config`; the rest `Refused`.
    pub fn classified(
        what: &str,
        code: Option<&str>,
        message: String,
        retryable: bool,
        source: BoxError,
    ) -> Self {
        let what = what.to_owned();
        let source = Some(source);
        if retryable {
            Self::Unavailable {
                what,
                message,
                source,
            }
        } else if code.is_some_and(|c| CONFIG_CODES.contains(&c)) {
            Self::Config {
                what,
                message,
                source,
            }
        } else {
            Self::Refused {
                what,
                message,
                source,
            }
        }
    }

    pub fn retryable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }
}

/// GuardDuty in the administrator account, per Region.
pub trait GuardDutyAdmin: Send + Sync {
    /// The Region's detector, filters, lists and members.
    fn read<'a>(&'a self, region: &'a str) -> BoxFuture<'a, Result<GdState, ManageError>>;
    /// Applies a GuardDuty change; returns per-item problems of a partial success (accounts
    /// `CreateMembers` did not process, with the service's reason).
    fn apply<'a>(
        &'a self,
        region: &'a str,
        change: &'a Change,
    ) -> BoxFuture<'a, Result<Vec<String>, ManageError>>;
}

/// Security Hub in the administrator account, per Region.
pub trait SecurityHubAdmin: Send + Sync {
    fn read<'a>(&'a self, region: &'a str) -> BoxFuture<'a, Result<ShState, ManageError>>;
    fn apply<'a>(
        &'a self,
        region: &'a str,
        change: &'a Change,
    ) -> BoxFuture<'a, Result<Vec<String>, ManageError>>;
}

/// Where inline list entries are uploaded (Vigil's bucket).
pub trait ListStore: Send + Sync {
    fn put<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
        body: &'a str,
    ) -> BoxFuture<'a, Result<(), ManageError>>;
}

/// The organisation's accounts with e-mail and status.
pub trait AccountSource: Send + Sync {
    fn accounts(&self) -> BoxFuture<'_, Result<Vec<Account>, ManageError>>;
}

/// The services a run uses.
#[derive(Clone, Copy)]
pub struct Services<'a> {
    pub guardduty: &'a dyn GuardDutyAdmin,
    pub securityhub: &'a dyn SecurityHubAdmin,
    pub lists: &'a dyn ListStore,
    pub accounts: &'a dyn AccountSource,
}

impl std::fmt::Debug for Services<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Services")
    }
}

/// Reads what the declaration covers. A Region whose read fails is reported and left out of
/// the plan (nothing is planned from a state that could not be read).
pub async fn read_actual(
    spec: &ManageSpec,
    admin_account: Option<String>,
    svc: Services<'_>,
) -> Result<(Actual, Vec<String>), ManageError> {
    let mut problems = Vec::new();
    let accounts = svc.accounts.accounts().await?;
    let mut actual = Actual {
        admin_account,
        accounts,
        regions: Default::default(),
    };
    for region in &spec.regions {
        let mut rs = RegionState::default();
        let mut ok = true;
        if spec.guardduty.is_some() {
            match svc.guardduty.read(region).await {
                Ok(s) => rs.guardduty = Some(s),
                Err(e) => {
                    problems.push(format!("guardduty {region}: {e}"));
                    ok = false;
                }
            }
        }
        if spec.securityhub.is_some() {
            match svc.securityhub.read(region).await {
                Ok(s) => rs.securityhub = Some(s),
                Err(e) => {
                    problems.push(format!("securityhub {region}: {e}"));
                    ok = false;
                }
            }
        }
        if ok {
            actual.regions.insert(region.clone(), rs);
        }
    }
    // Without a configured administrator account, the hub's own account is the caller's.
    if actual.admin_account.is_none() {
        actual.admin_account = actual
            .regions
            .values()
            .find_map(|r| r.securityhub.as_ref().and_then(|s| s.account.clone()));
    }
    Ok((actual, problems))
}

/// What happened to one change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangeResult {
    pub change: PlannedChange,
    /// `applied`, `partial` or `failed`.
    pub outcome: &'static str,
    /// The error, or the items a partial success left out.
    pub detail: Vec<String>,
    pub retryable: bool,
}

/// Applies every change in order; each is reported, a failure never stops the others.
pub async fn apply(plan: &Plan, svc: Services<'_>) -> Vec<ChangeResult> {
    let mut out = Vec::with_capacity(plan.changes.len());
    for c in &plan.changes {
        let r = apply_one(c, svc).await;
        let result = match r {
            Ok(problems) if problems.is_empty() => ChangeResult {
                change: c.clone(),
                outcome: "applied",
                detail: Vec::new(),
                retryable: false,
            },
            Ok(problems) => ChangeResult {
                change: c.clone(),
                outcome: "partial",
                detail: problems,
                retryable: false,
            },
            Err(e) => ChangeResult {
                change: c.clone(),
                outcome: "failed",
                retryable: e.retryable(),
                detail: vec![e.to_string()],
            },
        };
        match result.outcome {
            "applied" => {
                tracing::info!(region = %c.region, service = c.service, resource = %c.resource, op = ?c.op, "manage: change applied")
            }
            _ => {
                tracing::warn!(region = %c.region, service = c.service, resource = %c.resource, op = ?c.op, outcome = result.outcome, detail = ?result.detail, "manage: change not applied")
            }
        }
        out.push(result);
    }
    out
}

async fn apply_one(c: &PlannedChange, svc: Services<'_>) -> Result<Vec<String>, ManageError> {
    if let Some(u) = c.change.upload() {
        svc.lists.put(&u.bucket, &u.key, &u.body).await?;
    }
    if c.change.is_guardduty() {
        svc.guardduty.apply(&c.region, &c.change).await
    } else {
        svc.securityhub.apply(&c.region, &c.change).await
    }
}

/// What to do with the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Read and plan only.
    Plan,
    /// Apply every change.
    Apply,
    /// The scheduled run: apply enrolment always, and the rest only with `auto_correct`.
    Scheduled,
}

/// A run's report.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunReport {
    pub plan: Plan,
    /// Regions or services that could not be read.
    pub read_problems: Vec<String>,
    pub results: Vec<ChangeResult>,
    /// Drift changes found (every change but enrolment).
    pub drift: usize,
    /// Drift reported but not applied (report-only scheduled run).
    pub drift_unapplied: usize,
    /// Every account Organizations listed, and those in scope.
    pub known_accounts: Vec<String>,
    pub in_scope: Vec<String>,
}

impl RunReport {
    pub fn failed(&self) -> usize {
        self.results
            .iter()
            .filter(|r| r.outcome != "applied")
            .count()
    }
    pub fn applied(&self) -> usize {
        self.results
            .iter()
            .filter(|r| r.outcome == "applied")
            .count()
    }
    /// The results as text, one line per change.
    pub fn render_results(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        for r in &self.results {
            let c = &r.change;
            let _ = writeln!(
                s,
                "{} {} {} {}: {}{}",
                c.op.symbol(),
                c.service,
                c.region,
                c.resource,
                r.outcome,
                if r.detail.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", r.detail.join("; "))
                }
            );
        }
        let _ = writeln!(
            s,
            "Apply: {} applied, {} not applied.",
            self.applied(),
            self.failed()
        );
        s
    }
}

/// Read, plan, and apply as the mode says.
pub async fn run(
    spec: &ManageSpec,
    ctx: &Context,
    admin_account: Option<String>,
    mode: Mode,
    svc: Services<'_>,
) -> Result<RunReport, ManageError> {
    let (actual, read_problems) = read_actual(spec, admin_account, svc).await?;
    let mut p = plan(spec, ctx, &actual);
    let known_accounts = actual.accounts.iter().map(|a| a.id.clone()).collect();
    let in_scope = plan::in_scope(spec, &actual)
        .0
        .into_iter()
        .map(|a| a.id)
        .collect();
    let drift = p.drift().count();
    let (to_apply, drift_unapplied) = match mode {
        Mode::Plan => (None, drift),
        Mode::Apply => (Some(p.clone()), 0),
        Mode::Scheduled if spec.auto_correct => (Some(p.clone()), 0),
        Mode::Scheduled => (Some(p.enrolment_only()), drift),
    };
    // The notes of what the report-only run left out belong in its report.
    if let Some(a) = &to_apply {
        let extra: Vec<String> = a.notes.iter().skip(p.notes.len()).cloned().collect();
        p.notes.extend(extra);
    }
    let results = match to_apply {
        Some(a) => apply(&a, svc).await,
        None => Vec::new(),
    };
    Ok(RunReport {
        plan: p,
        read_problems,
        results,
        drift,
        drift_unapplied,
        known_accounts,
        in_scope,
    })
}

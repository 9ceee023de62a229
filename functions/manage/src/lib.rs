//! The `manage` Lambda: managed GuardDuty and Security Hub from the delegated administrator.
//!
//! Every invocation reads the runbook's `manage:` declaration and the services, plans, and
//! applies enrolment of in-scope accounts; drift (every other change) is applied only with
//! `manage.auto_correct`, else reported: a log line per change, EMF metrics (`ManageDrift`,
//! `ManageChangesApplied`, `ManageChangesFailed`, `ManageEnrolmentProblems`) and a message to
//! the operations topic. Invoked hourly by EventBridge Scheduler and by Organizations and
//! Control Tower account-creation events (see docs/manage.md). An account event whose account
//! is not yet a member everywhere after the run fails the invocation, so Lambda retries it.
//!
//! The function has a reserved concurrency of 1 (infra/template.yaml): runs never overlap;
//! should they (a manual run from the CLI), the planner removes duplicates a race creates.

pub mod config;
pub mod event;

use chrono::Utc;
use serde_json::{json, Value};
use vigil_domain::manage::{
    run, AccountSource, Context, GuardDutyAdmin, ListStore, ManageError, ManageSpec, Mode, Op,
    RunReport, SecurityHubAdmin, Services,
};
use vigil_domain::ports::{TopicMessage, TopicPublisher};

use event::Trigger;

/// What a run needs.
pub struct Deps {
    pub spec: ManageSpec,
    pub ctx: Context,
    pub admin_account: Option<String>,
    pub guardduty: Box<dyn GuardDutyAdmin>,
    pub securityhub: Box<dyn SecurityHubAdmin>,
    pub lists: Box<dyn ListStore>,
    pub accounts: Box<dyn AccountSource>,
    /// The operations topic for drift and failures.
    pub topic: Option<(Box<dyn TopicPublisher>, String)>,
    pub emit_metrics: bool,
}

impl std::fmt::Debug for Deps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deps")
            .field("regions", &self.spec.regions)
            .field("admin_account", &self.admin_account)
            .finish_non_exhaustive()
    }
}

impl Deps {
    pub fn services(&self) -> Services<'_> {
        Services {
            guardduty: self.guardduty.as_ref(),
            securityhub: self.securityhub.as_ref(),
            lists: self.lists.as_ref(),
            accounts: self.accounts.as_ref(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    #[error(transparent)]
    Manage(#[from] ManageError),
    /// The new account is not a member everywhere yet: Lambda retries the event.
    #[error("account {account} is not yet enrolled everywhere: {why}")]
    NotEnrolled { account: String, why: String },
}

impl HandleError {
    pub fn retryable(&self) -> bool {
        match self {
            Self::Manage(e) => e.retryable(),
            Self::NotEnrolled { .. } => true,
        }
    }
}

/// The AWS adapters for a declaration: GuardDuty and Security Hub clients for each of its
/// Regions, Organizations, S3 for lists and SNS for the operations topic, from the standard
/// AWS configuration (`AWS_ENDPOINT_URL_<SERVICE>` overrides each, as in tests and the demo).
pub async fn aws_deps(
    config: &config::ManageConfig,
    spec: ManageSpec,
    admin_account: Option<String>,
) -> Deps {
    let sdk = vigil_aws::sdk_config().await;
    Deps {
        guardduty: Box::new(vigil_aws_guardduty::GuardDuty::new(&sdk, &spec.regions)),
        securityhub: Box::new(vigil_aws_securityhub::ManagedSecurityHub::new(
            &sdk,
            &spec.regions,
        )),
        lists: Box::new(vigil_aws_s3::S3ListStore::new(vigil_aws_s3::client().await)),
        accounts: Box::new(vigil_aws_organizations::OrganizationsDirectory::new(
            vigil_aws_organizations::client().await,
        )),
        topic: match &config.topic_arn {
            Some(arn) => Some((
                Box::new(vigil_aws_sns::Sns::from_env().await) as Box<dyn TopicPublisher>,
                arn.clone(),
            )),
            None => None,
        },
        ctx: Context {
            bucket: config.bucket.clone(),
        },
        admin_account: admin_account.or_else(|| config.admin_account.clone()),
        emit_metrics: false,
        spec,
    }
}

/// The EMF line of a run.
pub fn emf_line(r: &RunReport, trigger: &str, timestamp_ms: i64) -> String {
    let enrolment_problems = r
        .plan
        .notes
        .iter()
        .filter(|n| n.contains("cannot be enrolled"))
        .count()
        + r.results
            .iter()
            .filter(|x| x.change.op == Op::Enrol && x.outcome != "applied")
            .map(|x| x.detail.len().max(1))
            .sum::<usize>();
    json!({
        "_aws": {"Timestamp": timestamp_ms, "CloudWatchMetrics": [{
            "Namespace": "Vigil", "Dimensions": [["Function"]],
            "Metrics": [
                {"Name": "ManageDrift", "Unit": "Count"},
                {"Name": "ManageChangesApplied", "Unit": "Count"},
                {"Name": "ManageChangesFailed", "Unit": "Count"},
                {"Name": "ManageEnrolmentProblems", "Unit": "Count"},
                {"Name": "ManageReadFailures", "Unit": "Count"}
            ]}]},
        "Function": "manage",
        "Trigger": trigger,
        "ManageDrift": r.drift,
        "ManageChangesApplied": r.applied(),
        "ManageChangesFailed": r.failed(),
        "ManageEnrolmentProblems": enrolment_problems,
        "ManageReadFailures": r.read_problems.len(),
    })
    .to_string()
}

/// The operations message for a run that found something to tell (drift left, failures,
/// unreadable Regions, accounts that cannot be enrolled); `None` when all is well.
pub fn operations_message(r: &RunReport, topic_arn: &str) -> Option<TopicMessage> {
    let problems = r.failed() + r.read_problems.len() + r.plan.notes.len();
    if r.drift_unapplied == 0 && problems == 0 {
        return None;
    }
    let mut text = String::new();
    if r.drift_unapplied > 0 {
        text.push_str(&format!(
            "{} change(s) of drift, reported only (manage.auto_correct is off; `vigil manage apply` corrects them):\n\n",
            r.drift_unapplied
        ));
        let drift = vigil_domain::manage::Plan {
            changes: r.plan.drift().cloned().collect(),
            notes: Vec::new(),
        };
        text.push_str(&drift.render());
        text.push('\n');
    }
    if !r.results.is_empty() {
        text.push_str("Applied:\n");
        text.push_str(&r.render_results());
        text.push('\n');
    }
    for p in &r.read_problems {
        text.push_str(&format!("Not read: {p}\n"));
    }
    for n in &r.plan.notes {
        text.push_str(&format!("Note: {n}\n"));
    }
    let subject = if r.drift_unapplied > 0 {
        format!("Vigil manage: {} drift change(s) found", r.drift_unapplied)
    } else {
        format!("Vigil manage: {problems} problem(s)")
    };
    Some(TopicMessage {
        topic_arn: topic_arn.to_owned(),
        subject,
        message: text,
        attributes: vec![
            ("notice".into(), "manage".into()),
            ("drift".into(), r.drift_unapplied.to_string()),
        ],
        group_id: None,
        deduplication_id: None,
    })
}

/// Handles one invocation.
pub async fn handle(deps: &Deps, event: &Value) -> Result<Value, HandleError> {
    let trigger = event::classify(event);
    let label = match &trigger {
        Trigger::Scheduled => "scheduled".to_owned(),
        Trigger::AccountCreated { account_id, source } => {
            tracing::info!(account_id, source, "manage: new account, enrolling");
            "account".to_owned()
        }
        Trigger::Ignored { why } => {
            tracing::info!(why, "manage: account event ignored");
            return Ok(json!({"ignored": why}));
        }
    };
    let r = run(
        &deps.spec,
        &deps.ctx,
        deps.admin_account.clone(),
        Mode::Scheduled,
        deps.services(),
    )
    .await?;
    for c in r.plan.drift() {
        tracing::warn!(region = %c.region, service = c.service, resource = %c.resource, reason = %c.reason,
            applied = deps.spec.auto_correct, "manage: drift");
    }
    for n in &r.plan.notes {
        tracing::warn!(note = %n, "manage: note");
    }
    for p in &r.read_problems {
        tracing::error!(problem = %p, "manage: not read");
    }
    if deps.emit_metrics {
        println!("{}", emf_line(&r, &label, Utc::now().timestamp_millis()));
    }
    if let Some((publisher, arn)) = &deps.topic {
        if let Some(m) = operations_message(&r, arn) {
            if let Err(e) = publisher.publish(&m).await {
                tracing::error!(error = %e, "manage: the operations message was not published");
            }
        }
    }
    if let Trigger::AccountCreated { account_id, .. } = &trigger {
        check_enrolled(&r, account_id)?;
    }
    Ok(json!({
        "trigger": label,
        "drift": r.drift,
        "drift_unapplied": r.drift_unapplied,
        "applied": r.applied(),
        "failed": r.failed(),
        "notes": r.plan.notes,
        "read_problems": r.read_problems,
    }))
}

/// After a run for a new account: it must be listed by Organizations (else retry: the event
/// can come before the account is listed), and every enrolment change naming it applied.
fn check_enrolled(r: &RunReport, account: &str) -> Result<(), HandleError> {
    let named = |resource: &str| resource.contains(account);
    if !r.known_accounts.iter().any(|a| a == account) && r.read_problems.is_empty() {
        return Err(HandleError::NotEnrolled {
            account: account.to_owned(),
            why: "Organizations does not list it yet".into(),
        });
    }
    if let Some(n) = r.plan.notes.iter().find(|n| n.contains(account)) {
        // Known and not enrollable (suspended, no e-mail): retrying will not help.
        tracing::error!(account, note = %n, "manage: the new account cannot be enrolled");
        return Ok(());
    }
    let failed: Vec<String> = r
        .results
        .iter()
        .filter(|x| x.change.op == Op::Enrol && named(&x.change.resource))
        .filter(|x| x.outcome != "applied")
        .flat_map(|x| x.detail.clone())
        .collect();
    if !failed.is_empty() {
        return Err(HandleError::NotEnrolled {
            account: account.to_owned(),
            why: failed.join("; "),
        });
    }
    if !r.read_problems.is_empty() {
        return Err(HandleError::NotEnrolled {
            account: account.to_owned(),
            why: r.read_problems.join("; "),
        });
    }
    if !r.in_scope.iter().any(|a| a == account) {
        tracing::info!(account, "manage: the new account is not in manage.scope");
    }
    Ok(())
}

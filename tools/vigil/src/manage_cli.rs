//! `vigil manage plan|apply|run`: managed GuardDuty and Security Hub from the command line,
//! with the manage function's own code and adapters.

use std::io::Write;

use anyhow::Result;
use vigil_domain::manage::{run, Mode, RunReport};

/// Prints a run's report; returns the exit code: `plan` 2 when there are changes, `apply` 1
/// when a change failed, `run` (the scheduled run) 2 when drift is left and 1 on failures.
pub fn print(r: &RunReport, mode: Mode, json: bool, out: &mut impl Write) -> Result<i32> {
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(r)?)?;
    } else {
        for p in &r.read_problems {
            writeln!(out, "! not read: {p}")?;
        }
        match mode {
            Mode::Plan => {
                if r.plan.is_empty() {
                    writeln!(
                        out,
                        "No changes: GuardDuty and Security Hub match the runbook."
                    )?;
                    for n in &r.plan.notes {
                        writeln!(out, "  ! {n}")?;
                    }
                } else {
                    write!(out, "{}", r.plan.render())?;
                }
            }
            Mode::Apply | Mode::Scheduled => {
                if r.plan.is_empty() {
                    writeln!(
                        out,
                        "No changes: GuardDuty and Security Hub match the runbook."
                    )?;
                } else if mode == Mode::Apply {
                    for n in &r.plan.notes {
                        writeln!(out, "  ! {n}")?;
                    }
                    write!(out, "{}", r.render_results())?;
                } else {
                    write!(out, "{}", r.plan.render())?;
                    write!(out, "{}", r.render_results())?;
                }
                if mode == Mode::Scheduled && r.drift_unapplied > 0 {
                    writeln!(
                        out,
                        "Drift: {} change(s) reported, not applied (manage.auto_correct is off).",
                        r.drift_unapplied
                    )?;
                }
            }
        }
    }
    let failed = r.failed() > 0 || !r.read_problems.is_empty();
    Ok(match mode {
        Mode::Plan if failed => 1,
        Mode::Plan => i32::from(!r.plan.is_empty()) * 2,
        Mode::Apply => i32::from(failed),
        Mode::Scheduled if failed => 1,
        Mode::Scheduled => i32::from(r.drift_unapplied > 0) * 2,
    })
}

/// Reads, plans and applies as `mode` says, against the configured AWS endpoints.
pub async fn manage(
    file: Option<&std::path::Path>,
    mode: Mode,
    json: bool,
    admin_account: Option<String>,
) -> Result<i32> {
    let mut config = manage::config::ManageConfig::from_lookup(|k| {
        std::env::var(k).ok().filter(|v| !v.is_empty())
    })
    .or_else(|e| match (file, e) {
        (Some(_), manage::config::ConfigError::NoRunbook) => Ok(manage::config::ManageConfig {
            runbook: manage::config::RunbookAt::Path(String::new()),
            bucket: std::env::var("VIGIL_MANAGE_BUCKET").ok(),
            topic_arn: None,
            admin_account: std::env::var("VIGIL_ADMIN_ACCOUNT").ok(),
        }),
        (_, e) => Err(e),
    })?;
    if let Some(f) = file {
        config.runbook = manage::config::RunbookAt::Path(f.display().to_string());
    }
    if mode != Mode::Scheduled {
        // Only the scheduled run reports to the operations topic.
        config.topic_arn = None;
    }
    let spec = manage::config::load_spec(&config.runbook).await?;
    let deps = manage::aws_deps(&config, spec, admin_account).await;
    let r = run(
        &deps.spec,
        &deps.ctx,
        deps.admin_account.clone(),
        mode,
        deps.services(),
    )
    .await?;
    if mode == Mode::Scheduled {
        if let Some((p, arn)) = &deps.topic {
            if let Some(m) = manage::operations_message(&r, arn) {
                p.publish(&m).await?;
            }
        }
    }
    print(&r, mode, json, &mut std::io::stdout())
}

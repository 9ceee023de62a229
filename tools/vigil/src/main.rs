//! `vigil`: Vigil's command-line tool for local use.
//!
//! - `vigil init-table`: create the incidents table (as `infra/template.yaml` defines it) in the
//!   configured DynamoDB (normally DynamoDB Local).
//! - `vigil replay <file|dir>...`: feed EventBridge events through the same code the `ingest`
//!   Lambda runs, against the configured table.
//! - `vigil incidents [--open] [--json] [--findings]`: list incidents (and their findings).
//! - `vigil forward [--follow]`: read the table's stream like Lambda's event source mapping
//!   and run the `forward` Lambda's code on it (sinks from `VIGIL_SINKS` / `VIGIL_SINKS_FILE`).
//! - `vigil redrive --queue-url <url> | --message <file>`: re-forward the stream records that
//!   on-failure messages point at; a message is deleted only when every sink got its records.
//! - `vigil catch-up [--open]`: send each incident's current version to sinks that lack it.
//! - `vigil drain`: deliver due outbox entries now (the schedule does this every minute).
//! - `vigil outbox [--dead]`: list versions waiting in the outbox, or dead letters.
//!
//! Configuration is the Lambda's: `TABLE_NAME`, `VIGIL_RUNBOOK` / `VIGIL_RUNBOOK_YAML`, and the
//! standard AWS variables (`AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:8000` for local use).
#![recursion_limit = "256"]

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use ingest::config::IngestConfig;
use ingest::Deps;
use vigil_aws_dynamodb::{ensure_table, DynamoStore};
use vigil_domain::incident::Incident;
use vigil_domain::IncidentReader;

use vigil::{redrive, report};

#[derive(Debug, Parser)]
#[command(
    name = "vigil",
    version,
    about = "Vigil: Security Hub findings -> incidents"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the incidents table if it does not exist (TABLE_NAME).
    InitTable,
    /// Replay EventBridge event files (or directories of *.json, in name order) through ingest.
    Replay {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Forward the table's stream to the configured sinks (VIGIL_SINKS / VIGIL_SINKS_FILE).
    Forward {
        /// Keep polling for new records (Ctrl-C to stop).
        #[arg(long)]
        follow: bool,
        /// Records per invocation, as the event source mapping's BatchSize.
        #[arg(long, default_value_t = 100)]
        batch_size: usize,
    },
    /// Re-forward stream records from on-failure messages (SQS queue or files).
    Redrive {
        /// The on-failure SQS queue; messages are deleted once fully delivered.
        #[arg(long, conflicts_with = "message")]
        queue_url: Option<String>,
        /// On-failure message files (JSON).
        #[arg(long)]
        message: Vec<PathBuf>,
    },
    /// Deliver due outbox entries now (the forward function's schedule does this every minute).
    Drain,
    /// List versions waiting in the outbox (due first), or with --dead the dead letters.
    Outbox {
        /// The dead letters instead: versions a sink rejected as bad data, or that waited too long.
        #[arg(long)]
        dead: bool,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Send each incident's current version to every sink that does not have it.
    CatchUp {
        /// Only open incidents.
        #[arg(long)]
        open: bool,
    },
    /// Managed GuardDuty and Security Hub (the runbook's `manage:` section): `plan` prints
    /// the changes like a Terraform plan (exit 2 when there are some), `apply` makes them,
    /// `run` does what the scheduled manage function does (enrolment applied, drift reported
    /// to the operations topic unless `auto_correct`; exit 2 when drift is left).
    Manage {
        #[command(subcommand)]
        command: ManageCommand,
    },
    /// Runbooks are code: check, test and explain a runbook file; rule hit counts.
    Runbook {
        #[command(subcommand)]
        command: RunbookCommand,
    },
    /// Why a stored incident or finding is as it is: grouping, severity, environment,
    /// deadline, the runbook rules that matched.
    Explain {
        /// An incident id (`inc-...`), a finding `Id` (ARN) or a finding key.
        id: String,
        /// The finding's `ProductArn`, when its id is not a GuardDuty or Security Hub ARN.
        #[arg(long)]
        product_arn: Option<String>,
    },
    /// Act on an incident: acknowledge it (meets its response deadline), resolve it,
    /// suppress it as a false positive (with a reason), or reopen it. Recorded in its history
    /// and forwarded like any change.
    Incident {
        #[arg(value_enum)]
        action: IncidentAction,
        /// The incident id (`inc-...`), or a campaign or digest (`CMP-...`, `DIG-...`: the
        /// action applies to each of its member incidents).
        id: String,
        /// Who acts (recorded in the history); defaults to $USER.
        #[arg(long, env = "VIGIL_ANALYST")]
        by: Option<String>,
        /// Why (required to suppress).
        #[arg(long)]
        note: Option<String>,
    },
    /// Run the minute schedule once, as the ingest function does every minute: the queue's
    /// campaigns and digests stored, then the escalation steps due now (runbook `escalation:`).
    Escalate,
    /// The SLA report: per severity x environment and per account, the incidents opened in the
    /// period, answered within target (%), median and p90 time to acknowledge, the breaches,
    /// and every incident waiting for an acknowledgement now with its time left.
    Report {
        /// The period, back from now: `7d`, `24h`, `90m`, `2w`.
        #[arg(long, default_value = "7d")]
        since: String,
        /// Report as of this time (RFC 3339) instead of now.
        #[arg(long)]
        at: Option<String>,
        /// One JSON document.
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        /// CSV, one row per group.
        #[arg(long)]
        csv: bool,
    },
    /// The analyst's queue: campaigns, digests and the incidents in neither, most urgent
    /// first (runbook `queue:`; docs/queue.md).
    Queue {
        /// One JSON object per line: kind, id, severity, status, account_id, finding_count,
        /// incident_ids, reason, ...
        #[arg(long)]
        json: bool,
    },
    /// List incidents, most recent first.
    Incidents {
        /// Only open incidents.
        #[arg(long)]
        open: bool,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
        /// Also list each incident's findings.
        #[arg(long)]
        findings: bool,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum IncidentAction {
    Ack,
    Resolve,
    Suppress,
    Reopen,
}

impl From<IncidentAction> for vigil_domain::lifecycle::Action {
    fn from(a: IncidentAction) -> Self {
        use vigil_domain::lifecycle::Action;
        match a {
            IncidentAction::Ack => Action::Acknowledge,
            IncidentAction::Resolve => Action::Resolve,
            IncidentAction::Suppress => Action::Suppress,
            IncidentAction::Reopen => Action::Reopen,
        }
    }
}

#[derive(Debug, Subcommand)]
enum ManageCommand {
    Plan(ManageArgs),
    Apply(ManageArgs),
    Run(ManageArgs),
}

#[derive(Debug, clap::Args)]
struct ManageArgs {
    /// The runbook (else VIGIL_RUNBOOK_S3_URI, VIGIL_RUNBOOK_YAML or VIGIL_RUNBOOK).
    file: Option<PathBuf>,
    /// The report as one JSON document.
    #[arg(long)]
    json: bool,
    /// The delegated administrator account (never enrolled as a member).
    #[arg(long, env = "VIGIL_ADMIN_ACCOUNT")]
    admin_account: Option<String>,
}

#[derive(Debug, Subcommand)]
enum RunbookCommand {
    /// Validate a runbook: every error with its line, and warnings (expired, disabled,
    /// expiring rules). Exit 1 on errors.
    Check { file: PathBuf },
    /// Run the runbook's own `tests:`. Exit 1 when one fails.
    Test { file: PathBuf },
    /// What the rules do with each finding of a file (a finding, a list or an event).
    Explain { file: PathBuf, finding: PathBuf },
    /// Per rule: matches, by action, last match (from the table).
    Stats,
    /// Print the runbook's JSON Schema (docs/runbook.schema.json is this output).
    Schema,
    /// What a runbook version would change on the findings in the table, per rule, before it
    /// is deployed (read-only).
    Impact {
        file: PathBuf,
        /// Only findings stored within this long (30d, 12h, ...).
        #[arg(long, default_value = "30d")]
        since: String,
    },
    /// Re-evaluate the open incidents under a runbook version (normally the one just
    /// deployed): findings it suppresses leave their incidents, which are rebuilt from their
    /// remaining findings (severity, deadline, environment, owner, route, notes), recording
    /// the version. Without it a new version applies to new deliveries only.
    Apply {
        file: PathBuf,
        /// Required: re-evaluating what was already decided is asked for explicitly.
        #[arg(long)]
        retroactive: bool,
        /// Only print what would change.
        #[arg(long)]
        dry_run: bool,
    },
    /// Validate a runbook and upload it as the new version of the deployed object (the ingest
    /// function picks it up within a minute). Refuses an invalid runbook.
    Upload {
        file: PathBuf,
        /// `s3://bucket/key` (the stack's `RunbookUri` output).
        #[arg(long, env = "VIGIL_RUNBOOK_S3_URI")]
        uri: String,
        /// KMS key to encrypt it with (the stack's key; the bucket's default applies without it).
        #[arg(long)]
        kms_key: Option<String>,
    },
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_init();
    let cli = Cli::parse();
    // The runbook file commands need no configuration, table or AWS.
    if let Command::Manage { command } = &cli.command {
        use vigil_domain::manage::Mode;
        let (args, mode) = match command {
            ManageCommand::Plan(a) => (a, Mode::Plan),
            ManageCommand::Apply(a) => (a, Mode::Apply),
            ManageCommand::Run(a) => (a, Mode::Scheduled),
        };
        let code = vigil::manage_cli::manage(
            args.file.as_deref(),
            mode,
            args.json,
            args.admin_account.clone(),
        )
        .await?;
        std::process::exit(code);
    }
    if let Command::Runbook { command } = &cli.command {
        let mut out = std::io::stdout();
        let now = Utc::now();
        let checked = match command {
            RunbookCommand::Check { file } => Some(vigil::runbook_cli::check(file, now, &mut out)?),
            RunbookCommand::Test { file } => Some(vigil::runbook_cli::test(file, now, &mut out)?),
            RunbookCommand::Explain { file, finding } => {
                Some(vigil::runbook_cli::explain(file, finding, now, &mut out)?)
            }
            RunbookCommand::Stats | RunbookCommand::Impact { .. } => None,
            RunbookCommand::Apply {
                retroactive: false, ..
            } => {
                bail!(
                    "a runbook version applies to new deliveries once deployed (make deploy, or \
                     vigil runbook upload); pass --retroactive to re-evaluate the open incidents \
                     under it (--dry-run to see what would change)"
                );
            }
            RunbookCommand::Apply { file, .. } => {
                let c = vigil::runbook_cli::check(file, now, &mut out)?;
                if c.errors > 0 {
                    bail!("not applied: {} does not validate", file.display());
                }
                None
            }
            RunbookCommand::Schema => {
                println!("{}", vigil::runbook_cli::schema_text());
                return Ok(());
            }
            RunbookCommand::Upload { file, uri, kms_key } => {
                let c = vigil::runbook_cli::check(file, now, &mut out)?;
                if c.errors > 0 {
                    bail!("not uploaded: {} does not validate", file.display());
                }
                let Some((bucket, key)) = vigil_aws_s3::parse_uri(uri) else {
                    bail!("--uri {uri:?} is not s3://bucket/key");
                };
                let text = std::fs::read_to_string(file)
                    .with_context(|| format!("reading {}", file.display()))?;
                let client = vigil_aws_s3::client().await;
                let etag =
                    vigil_aws_s3::upload(&client, &bucket, &key, &text, kms_key.as_deref()).await?;
                println!(
                    "uploaded {} to {uri} (ETag {etag}); ingest uses it within a minute",
                    file.display()
                );
                return Ok(());
            }
        };
        if let Some(c) = checked {
            if c.errors > 0 {
                std::process::exit(1);
            }
            return Ok(());
        }
    }
    let config = IngestConfig::from_env().context("reading configuration")?;
    let client = vigil_aws_dynamodb::client().await;
    match cli.command {
        Command::Forward { follow, batch_size } => {
            let (deps, _) = forward_deps(&client).await?;
            let arn = vigil_aws_streams::stream_arn(&client, &config.table_name).await?;
            let mut poller = vigil_aws_streams::StreamPoller::new(
                vigil_aws_streams::streams_client().await,
                arn,
            );
            forward_stream(&deps, &mut poller, follow, batch_size.clamp(1, 10_000)).await?;
        }
        Command::Redrive { queue_url, message } => {
            let (deps, _) = forward_deps(&client).await?;
            let streams = vigil_aws_streams::streams_client().await;
            match queue_url {
                Some(url) => redrive_queue(&deps, &streams, &url).await?,
                None if message.is_empty() => bail!("give --queue-url or --message"),
                None => {
                    let mut failed = 0;
                    for f in &message {
                        let text = std::fs::read_to_string(f)
                            .with_context(|| format!("reading {}", f.display()))?;
                        let r = redrive::redrive_message(&deps, &streams, &text).await?;
                        print_report(&f.display().to_string(), &r);
                        failed += usize::from(r.first_failed.is_some());
                    }
                    if failed > 0 {
                        bail!("{failed} message(s) not fully delivered");
                    }
                }
            }
        }
        Command::Drain => {
            let (deps, _) = forward_deps(&client).await?;
            let r = forward::drain(&deps, Utc::now(), None, "vigil-cli").await;
            print_drain(&r);
            if r.incomplete {
                bail!("some due versions are still waiting (see the log); the next drain retries them");
            }
        }
        Command::Outbox { dead, limit } => {
            use vigil_domain::ports::DeliveryLedger;
            let config = forward::config::ForwardConfig::from_env()
                .context("reading the forwarder's configuration")?;
            let ledger = vigil_aws_dynamodb::DynamoLedger::new(
                client.clone(),
                &config.table_name,
                config.retention,
            );
            if dead {
                let letters = ledger.dead_letters(limit).await?;
                for d in &letters {
                    println!(
                        "{} {:<28} v{:<4} {:<16} attempts={} {}",
                        d.at.format("%Y-%m-%d %H:%M"),
                        d.incident_id,
                        d.version,
                        d.destination,
                        d.attempts,
                        clip(&d.reason, 90)
                    );
                }
                println!("{} dead letter(s)", letters.len());
            } else {
                let far = Utc::now() + chrono::Duration::days(3650);
                let due = ledger.due(far, limit).await?;
                for e in &due {
                    println!(
                        "{:<28} v{:<4} {:<16} queued {} next attempt {}",
                        e.incident_id,
                        e.version,
                        e.destination,
                        e.queued_at.format("%m-%d %H:%M:%S"),
                        e.next_attempt_at.format("%m-%d %H:%M:%S")
                    );
                }
                println!("{} version(s) waiting in the outbox", due.len());
            }
        }
        Command::CatchUp { open } => {
            let (deps, ledger) = forward_deps(&client).await?;
            let store = DynamoStore::new(client, config.table_name);
            let r = redrive::catch_up(&deps, &store, &ledger, open).await?;
            print_report("catch-up", &r);
            if r.first_failed.is_some() {
                bail!("some incidents were not delivered to every sink");
            }
        }
        Command::Runbook {
            command: RunbookCommand::Impact { file, since },
        } => {
            let Some(since) = vigil_domain::runbook::HumanDuration::parse(&since) else {
                bail!("--since {since:?} is not a duration (30d, 12h)");
            };
            let rb = vigil_domain::Runbook::from_path(&file)?;
            let store = DynamoStore::new(client, config.table_name);
            let records: Vec<vigil_domain::FindingRecord> = store.scan_kind("finding").await?;
            let incidents = store
                .list_incidents(true)
                .await?
                .into_iter()
                .map(|i| (i.id.clone(), i))
                .collect();
            let report = vigil::impact::impact(&rb, &records, &incidents, since.0, Utc::now());
            vigil::impact::print(&report, &mut std::io::stdout())?;
        }
        Command::Runbook {
            command: RunbookCommand::Apply { file, dry_run, .. },
        } => {
            let mut rb = vigil_domain::Runbook::from_path(&file)?;
            if rb.account_facts.organizations {
                // The same facts the ingest function combines with the runbook.
                use vigil_domain::ports::DirectorySource;
                let source = vigil_aws_organizations::OrganizationsDirectory::new(
                    vigil_aws_organizations::client().await,
                );
                let directory = source
                    .read()
                    .await
                    .context("reading account facts from Organizations (account_facts)")?;
                rb.directory = std::sync::Arc::new(directory);
            }
            let store = DynamoStore::new(client, config.table_name);
            let report = vigil_domain::engine::retro::reevaluate_open(
                &store,
                &rb,
                &config.settings,
                Utc::now(),
                dry_run,
            )
            .await?;
            vigil::retro::print(&report, &rb.version, dry_run, &mut std::io::stdout())?;
            if !report.skipped.is_empty() {
                bail!(
                    "{} open incidents were not re-evaluated (see above); run it again",
                    report.skipped.len()
                );
            }
        }
        Command::Manage { .. } => bail!("manage commands are handled before the table is opened"),
        Command::Runbook { .. } => {
            let store = DynamoStore::new(client, config.table_name);
            let stats = store.rule_stats().await?;
            println!(
                "{:<32} {:>8} {:>9} {:>8} {:>8}  {:<20} by action",
                "rule", "matches", "suppress", "severity", "refused", "last match"
            );
            for s in &stats {
                let by: Vec<String> = s.actions.iter().map(|(a, n)| format!("{a}={n}")).collect();
                println!(
                    "{:<32} {:>8} {:>9} {:>8} {:>8}  {:<20} {}",
                    clip(&s.rule, 32),
                    s.matches,
                    s.actions.get("suppress").copied().unwrap_or(0),
                    s.actions.get("set_severity").copied().unwrap_or(0),
                    s.refused,
                    s.last_match
                        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                        .unwrap_or_default(),
                    by.join(" ")
                );
            }
            let known: Vec<&str> = config.runbook.rules.iter().map(|r| r.id.as_str()).collect();
            for id in &known {
                if !stats.iter().any(|s| s.rule == *id) {
                    println!("{:<32} {:>8}  (never matched)", clip(id, 32), 0);
                }
            }
        }
        Command::Explain { id, product_arn } => {
            let store = DynamoStore::new(client, config.table_name);
            let out = &mut std::io::stdout();
            if id.starts_with("CMP-") || id.starts_with("DIG-") {
                if !vigil::queue_cli::explain(&store, &config.runbook, &id, out).await? {
                    bail!("no campaign or digest {id} in the queue now");
                }
            } else if !vigil::explain::explain(&store, &id, product_arn.as_deref(), out).await? {
                bail!("no incident or finding {id} in the table");
            } else if id.starts_with("inc-") {
                vigil::queue_cli::explain(&store, &config.runbook, &id, out).await?;
            }
        }
        Command::Queue { json } => {
            let store = DynamoStore::new(client, config.table_name);
            let items = vigil::queue_cli::queue(&store, &config.runbook).await?;
            let out = &mut std::io::stdout();
            if json {
                vigil::queue_cli::print_json(out, &items)?;
            } else {
                vigil::queue_cli::print_table(out, &items)?;
            }
        }
        Command::InitTable => {
            ensure_table(&client, &config.table_name).await?;
            println!("table {} ready", config.table_name);
        }
        Command::Replay { paths } => {
            let deps = Deps {
                store: DynamoStore::new(client, config.table_name),
                runbook: config.runbook,
                settings: config.settings,
                emit_metrics: false,
                live: None,
                facts: None,
            };
            let files = collect(&paths)?;
            let t = vigil::replay::replay_files(
                &deps,
                &files,
                &mut std::io::stdout(),
                &mut std::io::stderr(),
            )
            .await?;
            println!(
                "replayed {} events, {} findings: {} stored, {} duplicate or stale, {} invalid ({} unreadable files); {} write requests",
                t.events, t.findings, t.stored, t.duplicates, t.invalid, t.unreadable_files,
                deps.store.write_requests()
            );
        }
        Command::Incident {
            action,
            id,
            by,
            note,
        } => {
            use vigil_domain::lifecycle::{transition, Actor, Outcome};
            let Some(by) = by
                .or_else(|| std::env::var("USER").ok())
                .filter(|b| !b.trim().is_empty())
            else {
                bail!("say who acts: --by NAME (or VIGIL_ANALYST, or USER)");
            };
            let store = DynamoStore::new(client, config.table_name);
            let actor = Actor {
                by,
                source: "cli".into(),
                reference: None,
            };
            let action: vigil_domain::lifecycle::Action = action.into();
            if id.starts_with("CMP-") || id.starts_with("DIG-") {
                // A campaign or digest: the action applies to each member, recorded on each
                // with the item's id.
                let items = vigil::queue_cli::queue(&store, &config.runbook).await?;
                let Some(item) = items.iter().find(|q| q.id == id) else {
                    bail!("no campaign or digest {id} in the queue now (see vigil queue)");
                };
                let actor = Actor {
                    reference: Some(id.clone()),
                    ..actor
                };
                if action == vigil_domain::lifecycle::Action::Suppress
                    && note.as_deref().is_none_or(|n| n.trim().is_empty())
                {
                    bail!("suppressing {id} needs a reason (--note)");
                }
                let note = note
                    .map(|n| format!("{n} (through {id})"))
                    .unwrap_or_else(|| format!("through {id}"));
                let (mut changed, mut unchanged) = (0, 0);
                for member in &item.incident_ids {
                    match transition(
                        &store,
                        member,
                        action,
                        &actor,
                        Some(&note),
                        Utc::now(),
                        config.settings.max_attempts,
                    )
                    .await?
                    {
                        Outcome::Changed(i) => {
                            changed += 1;
                            println!("{member}: -> {} by {}", i.status, actor.by);
                        }
                        Outcome::Unchanged(i) => {
                            unchanged += 1;
                            println!("{member}: already {}", i.status);
                        }
                        Outcome::NotFound => println!("{member}: gone"),
                    }
                }
                println!(
                    "{id}: {changed} of {} member incidents changed, {unchanged} already so",
                    item.incident_ids.len()
                );
                return Ok(());
            }
            match transition(
                &store,
                &id,
                action,
                &actor,
                note.as_deref(),
                Utc::now(),
                config.settings.max_attempts,
            )
            .await?
            {
                Outcome::Changed(i) => {
                    let t = i.history.last();
                    println!(
                        "{id}: {} -> {} by {}{}",
                        t.map(|t| t.from.as_str()).unwrap_or(""),
                        i.status,
                        actor.by,
                        match (action, i.response_deadline, i.acknowledged_at) {
                            (vigil_domain::lifecycle::Action::Acknowledge, Some(d), Some(a)) =>
                                if a <= d {
                                    format!(" (deadline {} met)", d.format("%Y-%m-%d %H:%M:%S UTC"))
                                } else {
                                    format!(
                                        " (deadline {} missed by {} min)",
                                        d.format("%Y-%m-%d %H:%M:%S UTC"),
                                        (a - d).num_minutes()
                                    )
                                },
                            _ => String::new(),
                        }
                    );
                }
                Outcome::Unchanged(i) => println!("{id}: already {}", i.status),
                Outcome::NotFound => bail!("no incident {id}"),
            }
        }
        Command::Escalate => {
            let store = DynamoStore::new(client, config.table_name);
            let (queue, escalation) = vigil_domain::queue_store::minute(
                &store,
                &config.runbook,
                Utc::now(),
                config.settings.max_attempts,
            )
            .await;
            let q = queue?;
            println!(
                "queue: {} campaigns, {} digests, {} incidents; stored items {} opened, {} changed, {} closed; {} members marked",
                q.campaigns, q.digests, q.incidents, q.opened, q.changed, q.closed, q.marked
            );
            let r = escalation?;
            println!(
                "escalation: {} incidents looked at, {} steps done, {} covered by a campaign or digest, {} deadlines breached, {} rescheduled",
                r.examined, r.steps, r.covered, r.breaches, r.refreshed
            );
        }
        Command::Report {
            since,
            at,
            json,
            csv,
        } => {
            let now = match at {
                Some(t) => chrono::DateTime::parse_from_rfc3339(&t)
                    .with_context(|| format!("--at {t:?} is not an RFC 3339 time"))?
                    .with_timezone(&Utc),
                None => Utc::now(),
            };
            let period = vigil_domain::sla::parse_period(&since)
                .with_context(|| format!("--since {since:?}: use a number and d, h, m or w"))?;
            let store = DynamoStore::new(client, config.table_name);
            let incidents = store.list_incidents(false).await?;
            let r = vigil_domain::sla::report(&incidents, now - period, now);
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else if csv {
                print!("{}", report::csv(&r));
            } else {
                print!("{}", report::text(&r));
            }
        }
        Command::Incidents {
            open,
            json,
            findings,
        } => {
            let store = DynamoStore::new(client, config.table_name);
            let mut incidents = store.list_incidents(open).await?;
            incidents.sort_by(|a, b| b.last_seen.cmp(&a.last_seen).then(a.id.cmp(&b.id)));
            if json {
                for i in &incidents {
                    println!("{}", serde_json::to_string(i)?);
                }
            } else {
                print_table(&incidents);
            }
            if findings && json {
                for i in &incidents {
                    for r in store.findings_of(&i.id).await? {
                        println!("{}", serde_json::to_string(&r)?);
                    }
                }
            } else if findings {
                for i in &incidents {
                    println!("\n{} {}", i.id, i.title);
                    for r in store.findings_of(&i.id).await? {
                        println!(
                            "  {:<13} {:<8} {:<50} {}",
                            r.severity.as_str(),
                            r.record_state.as_str(),
                            r.finding_type,
                            r.finding_id
                        );
                    }
                }
            }
        }
    }
    Ok(())
}

async fn forward_deps(
    client: &aws_sdk_dynamodb::Client,
) -> Result<(forward::Deps, vigil_aws_dynamodb::DynamoLedger)> {
    let config = forward::config::ForwardConfig::from_env()
        .context("reading the forwarder's configuration")?;
    let ledger =
        vigil_aws_dynamodb::DynamoLedger::new(client.clone(), &config.table_name, config.retention);
    let secrets = vigil_delivery::Secrets::new(std::sync::Arc::new(
        vigil_aws_secrets::SecretsManager::from_env().await,
    ));
    let dispatcher = vigil_delivery::Dispatcher::new(
        &config.sinks,
        &secrets,
        std::sync::Arc::new(ledger.clone()),
        Some(std::sync::Arc::new(
            vigil_aws_dynamodb::DynamoFindings::new(client.clone(), &config.table_name),
        )),
    )?;
    let dispatcher = if dispatcher.has_sns() {
        dispatcher.with_publisher(std::sync::Arc::new(vigil_aws_sns::Sns::from_env().await))
    } else {
        dispatcher
    };
    let dispatcher = if dispatcher.has_securityhub() {
        dispatcher.with_finding_writer(std::sync::Arc::new(
            vigil_aws_securityhub::SecurityHub::from_env().await,
        ))
    } else {
        dispatcher
    };
    Ok((
        forward::Deps {
            dispatcher,
            cleanup: Some(std::sync::Arc::new(DynamoStore::new(
                client.clone(),
                &config.table_name,
            ))),
            emit_metrics: false,
        },
        ledger,
    ))
}

fn print_drain(r: &vigil_delivery::dispatch::DrainReport) {
    let sinks: Vec<String> = r
        .per_sink
        .iter()
        .map(|(n, s)| {
            format!(
                "{n}: delivered={} rescheduled={} dead-lettered={}",
                s.delivered, s.rescheduled, s.dead_lettered
            )
        })
        .collect();
    println!(
        "drain: due={} oldest={}s | {}{}",
        r.due,
        r.oldest_age_secs,
        sinks.join(" | "),
        if r.leased_elsewhere.is_empty() {
            String::new()
        } else {
            format!(" | leased elsewhere: {}", r.leased_elsewhere.join(", "))
        }
    );
}

fn print_report(what: &str, r: &vigil_delivery::BatchReport) {
    let sinks: Vec<String> = r
        .per_sink
        .iter()
        .map(|(n, s)| {
            format!(
                "{n}: delivered={} already={} queued={} dead-lettered={}",
                s.delivered, s.already_delivered, s.queued, s.dead_lettered
            )
        })
        .collect();
    println!(
        "{what}: records={} forwardable={} skipped={} | {}{}",
        r.records,
        r.forwardable,
        r.skipped,
        sinks.join(" | "),
        match &r.first_failed {
            Some(s) => format!(" | first failed record {s}"),
            None => String::new(),
        }
    );
}

/// Runs the forwarder over the stream like the event source mapping: a failed record is
/// retried (after a pause) before anything behind it.
async fn forward_stream(
    deps: &forward::Deps,
    poller: &mut vigil_aws_streams::StreamPoller,
    follow: bool,
    batch_size: usize,
) -> Result<()> {
    let mut pending: std::collections::VecDeque<aws_lambda_events::event::dynamodb::EventRecord> =
        Default::default();
    let mut idle = 0;
    loop {
        let got = poller.poll(1000).await?;
        if got.is_empty() && pending.is_empty() {
            idle += 1;
            // Like the function: the outbox drains when the stream is quiet.
            let r = forward::drain(deps, Utc::now(), None, "vigil-cli").await;
            if r.due > 0 {
                print_drain(&r);
            }
            if !follow && idle >= 2 {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(if follow {
                1000
            } else {
                200
            }))
            .await;
            continue;
        }
        idle = 0;
        pending.extend(got);
        while !pending.is_empty() {
            let n = batch_size.min(pending.len());
            let mut event = aws_lambda_events::event::dynamodb::Event::default();
            event.records = pending.iter().take(n).cloned().collect();
            let r = forward::process(deps, &event, None).await;
            if r.forwardable > 0 || r.first_failed.is_some() {
                print_report("batch", &r);
            }
            match &r.first_failed {
                None => {
                    pending.drain(..n);
                }
                Some(seq) => {
                    let at = event
                        .records
                        .iter()
                        .position(|x| x.change.sequence_number.as_deref() == Some(seq.as_str()))
                        .unwrap_or(0);
                    pending.drain(..at);
                    if !follow {
                        bail!("record {seq} could not be recorded as delivered or queued (a store error); see the log");
                    }
                    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                }
            }
        }
    }
}

async fn redrive_queue(
    deps: &forward::Deps,
    streams: &aws_sdk_dynamodbstreams::Client,
    url: &str,
) -> Result<()> {
    let sqs = aws_sdk_sqs::Client::new(&vigil_aws::sdk_config().await);
    let (mut done, mut kept) = (0, 0);
    loop {
        let resp = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(2)
            .send()
            .await
            .context("ReceiveMessage")?;
        let messages = resp.messages.unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        for m in messages {
            let body = m.body.unwrap_or_default();
            let ok = match redrive::redrive_message(deps, streams, &body).await {
                Ok(r) => {
                    print_report(m.message_id.as_deref().unwrap_or("message"), &r);
                    r.first_failed.is_none()
                }
                Err(e) => {
                    eprintln!("{}: {e}", m.message_id.as_deref().unwrap_or("message"));
                    false
                }
            };
            if ok {
                if let Some(h) = m.receipt_handle {
                    // A redrive longer than the visibility timeout makes the message visible
                    // again and this handle stale: it is then redriven once more (harmless:
                    // everything it points at is delivered), not an error for the whole run.
                    if let Err(e) = sqs
                        .delete_message()
                        .queue_url(url)
                        .receipt_handle(h)
                        .send()
                        .await
                    {
                        eprintln!(
                            "{}: delivered, but deleting the message failed: {}",
                            m.message_id.as_deref().unwrap_or("message"),
                            aws_sdk_sqs::error::DisplayErrorContext(e)
                        );
                    }
                }
                done += 1;
            } else {
                kept += 1;
            }
        }
    }
    println!("redrive: {done} message(s) delivered and deleted, {kept} kept in the queue");
    if kept > 0 {
        bail!("{kept} message(s) not fully delivered (they become visible again in the queue)");
    }
    Ok(())
}

/// Logs to stderr, warnings and errors only unless `RUST_LOG` says otherwise.
fn tracing_init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn collect(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("reading {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|e| e == "json"))
                .collect();
            files.sort();
            out.extend(files);
        } else if p.is_file() {
            out.push(p.clone());
        } else {
            bail!("{}: no such file or directory", p.display());
        }
    }
    Ok(out)
}

fn short(t: &DateTime<Utc>) -> String {
    t.format("%m-%d %H:%M").to_string()
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut c: String = s.chars().take(n.saturating_sub(1)).collect();
        c.push('…');
        c
    }
}

fn print_table(incidents: &[Incident]) {
    println!(
        "{:<26} {:<8} {:<13} {:>3} {:<11} {:<15} {:<11} {:<11} {:<11} TITLE",
        "INCIDENT", "STATUS", "SEVERITY", "N", "ENV", "ACCOUNT", "FIRST", "LAST", "DEADLINE",
    );
    for i in incidents {
        let account = i
            .account_name
            .clone()
            .unwrap_or_else(|| i.account_id.clone());
        println!(
            "{:<26} {:<8} {:<13} {:>3} {:<11} {:<15} {:<11} {:<11} {:<11} {}",
            i.id,
            i.status.as_str(),
            i.severity.as_str(),
            i.finding_count,
            i.environment.as_str(),
            clip(&account, 15),
            short(&i.first_seen),
            short(&i.last_seen),
            i.response_deadline
                .as_ref()
                .map(short)
                .unwrap_or_else(|| "-".into()),
            clip(&i.title, 70)
        );
    }
    println!("{} incident(s)", incidents.len());
}

//! `vigil`: Vigil's command-line tool for local use.
//!
//! - `vigil init-table`: create the incidents table (as `infra/template.yaml` defines it) in the
//!   configured DynamoDB (normally DynamoDB Local).
//! - `vigil replay <file|dir>...`: feed EventBridge events through the same code the `ingest`
//!   Lambda runs, against the configured table.
//! - `vigil incidents [--open] [--json] [--findings]`: list incidents (and their findings).
//!
//! Configuration is the Lambda's: `TABLE_NAME`, `VIGIL_RUNBOOK` / `VIGIL_RUNBOOK_YAML`, and the
//! standard AWS variables (`AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:8000` for local use).
#![recursion_limit = "256"]

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use ingest::{process_event, Deps};
use vigil_aws::dynamo::ensure_table;
use vigil_aws::{dynamodb_client, DynamoStore, IngestConfig};
use vigil_domain::incident::Incident;
use vigil_domain::IncidentReader;

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

#[tokio::main]
async fn main() -> Result<()> {
    tracing_init();
    let cli = Cli::parse();
    let config = IngestConfig::from_env().context("reading configuration")?;
    let client = dynamodb_client().await;
    match cli.command {
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
            };
            let files = collect(&paths)?;
            let (mut events, mut findings, mut new, mut dups, mut invalid) = (0, 0, 0, 0, 0);
            for f in &files {
                let text = std::fs::read_to_string(f)
                    .with_context(|| format!("reading {}", f.display()))?;
                let payload: serde_json::Value = match serde_json::from_str(&text) {
                    Ok(v) => v,
                    Err(e) => {
                        eprintln!("{}: not JSON: {e}", f.display());
                        invalid += 1;
                        continue;
                    }
                };
                let s = process_event(&deps, payload)
                    .await
                    .with_context(|| format!("replaying {}", f.display()))?;
                events += 1;
                findings += s.received;
                new += s.new + s.updated;
                dups += s.duplicates + s.stale;
                invalid += s.invalid;
                println!(
                    "{:<60} findings={} new={} updated={} duplicate={} stale={} invalid={} opened={}",
                    f.file_name().map(|n| n.to_string_lossy()).unwrap_or_default(),
                    s.received, s.new, s.updated, s.duplicates, s.stale, s.invalid, s.incidents_opened
                );
            }
            println!(
                "replayed {events} events, {findings} findings: {new} stored, {dups} duplicate or stale, {invalid} invalid; {} write requests",
                deps.store.write_requests()
            );
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

//! `vigil queue` and the queue part of `vigil explain`: campaigns, digests and the incidents in
//! neither, from the live incidents in the table (see docs/queue.md).

use std::io::Write;

use anyhow::Result;
use vigil_domain::queue::{build, placement, Kind, QueueItem};
use vigil_domain::{IncidentReader, Runbook};

/// The queue's items, most urgent first.
pub async fn queue<S: IncidentReader>(store: &S, rb: &Runbook) -> Result<Vec<QueueItem>> {
    Ok(build(&store.list_incidents(true).await?, rb))
}

/// One line per item: `kind`, `id`, `severity`, `status`, `account_id`, `finding_count`,
/// `incident_ids`, `reason` and the rest of the item.
pub fn print_json(out: &mut dyn Write, items: &[QueueItem]) -> Result<()> {
    for i in items {
        writeln!(out, "{}", serde_json::to_string(i)?)?;
    }
    Ok(())
}

pub fn print_table(out: &mut dyn Write, items: &[QueueItem]) -> Result<()> {
    writeln!(
        out,
        "{:<9} {:<26} {:<9} {:<12} {:<13} {:>8} {:>9}  reason",
        "KIND", "ID", "SEVERITY", "STATUS", "ACCOUNT", "FINDINGS", "INCIDENTS"
    )?;
    for i in items {
        let account = if i.accounts.len() > 1 {
            format!("{} accounts", i.accounts.len())
        } else {
            i.account_id.clone()
        };
        writeln!(
            out,
            "{:<9} {:<26} {:<9} {:<12} {:<13} {:>8} {:>9}  {}",
            i.kind.as_str(),
            i.id,
            i.severity.as_str(),
            i.status.as_str(),
            account,
            i.finding_count,
            i.incident_ids.len(),
            i.reason
        )?;
    }
    let n = |k: Kind| items.iter().filter(|i| i.kind == k).count();
    writeln!(
        out,
        "{} items: {} campaigns, {} digests, {} incidents",
        items.len(),
        n(Kind::Campaign),
        n(Kind::Digest),
        n(Kind::Incident)
    )?;
    Ok(())
}

/// Prints a campaign or digest with its members and links.
pub fn print_item(out: &mut dyn Write, i: &QueueItem) -> Result<()> {
    writeln!(out, "{} {}: {}", i.kind.as_str(), i.id, i.title)?;
    writeln!(
        out,
        "  severity {}, status {}, accounts {}",
        i.severity.as_str(),
        i.status.as_str(),
        i.accounts.join(", ")
    )?;
    writeln!(out, "  why: {}", i.reason)?;
    if let Some(d) = i.response_deadline {
        writeln!(
            out,
            "  response deadline: {}",
            d.format("%Y-%m-%dT%H:%M:%SZ")
        )?;
    }
    writeln!(
        out,
        "  seen {} .. {}, {} finding(s) in {} incident(s)",
        i.first_seen.format("%Y-%m-%dT%H:%M:%SZ"),
        i.last_seen.format("%Y-%m-%dT%H:%M:%SZ"),
        i.finding_count,
        i.incident_ids.len()
    )?;
    if let Some(l) = &i.lead {
        writeln!(out, "  lead: {l}")?;
    }
    for l in &i.links {
        if l.via == "signal" {
            writeln!(
                out,
                "  link: {} is a signal of attack sequence {}",
                l.incident_id, l.with
            )?;
        } else {
            writeln!(
                out,
                "  link: {} shares {} with {}",
                l.incident_id, l.via, l.with
            )?;
        }
    }
    for e in &i.entities {
        writeln!(out, "  entity: {} ({} finding(s))", e.value, e.count)?;
    }
    if i.entity_count > i.entities.len() as u64 && i.kind == Kind::Digest {
        writeln!(out, "  ... {} entities in all", i.entity_count)?;
    }
    for s in &i.top_sources {
        writeln!(out, "  source: {} ({} incident(s))", s.value, s.count)?;
    }
    for m in &i.incident_ids {
        writeln!(out, "  member: {m}")?;
    }
    Ok(())
}

/// `vigil explain` for a campaign (`CMP-...`) or digest (`DIG-...`) id, or the queue item an
/// incident is shown in; `false` when there is no such item.
pub async fn explain<S: IncidentReader>(
    store: &S,
    rb: &Runbook,
    id: &str,
    out: &mut dyn Write,
) -> Result<bool> {
    let items = queue(store, rb).await?;
    if id.starts_with("CMP-") || id.starts_with("DIG-") {
        let Some(i) = items.iter().find(|i| i.id == id) else {
            return Ok(false);
        };
        print_item(out, i)?;
        return Ok(true);
    }
    match placement(&items, id) {
        Some(i) if i.kind != Kind::Incident => {
            writeln!(out)?;
            writeln!(
                out,
                "In the analyst's queue as {} {}:",
                i.kind.as_str(),
                i.id
            )?;
            print_item(out, i)?;
        }
        Some(_) => writeln!(
            out,
            "\nIn the analyst's queue on its own (no campaign, no digest)."
        )?,
        None => {}
    }
    Ok(true)
}

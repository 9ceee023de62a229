//! `vigil explain <incident id | finding id | finding key>`: why a stored incident or finding is
//! as it is, from what the table records (nothing is re-evaluated).

use std::io::Write;

use anyhow::Result;
use vigil_domain::finding::finding_key;
use vigil_domain::incident::Incident;
use vigil_domain::ports::{IncidentReader, IncidentStore};
use vigil_domain::FindingRecord;

/// The `ProductArn` of a GuardDuty or Security Hub finding id, read from the id's ARN.
pub fn product_arn_of(finding_id: &str) -> Option<String> {
    let parts: Vec<&str> = finding_id.split(':').collect();
    let (service, region) = (parts.get(2)?, parts.get(3)?);
    let product = match *service {
        "guardduty" => "aws/guardduty",
        "securityhub" => "aws/securityhub",
        "inspector2" | "inspector" => "aws/inspector",
        "macie2" | "macie" => "aws/macie",
        "access-analyzer" => "aws/access-analyzer",
        _ => return None,
    };
    Some(format!("arn:aws:securityhub:{region}::product/{product}"))
}

fn print_incident(out: &mut dyn Write, i: &Incident) -> std::io::Result<()> {
    writeln!(out, "incident {}  {}", i.id, i.title)?;
    writeln!(
        out,
        "  {:<12} {} {:?}, {} findings ({} active), account {}{}",
        "state",
        i.severity,
        i.status,
        i.finding_count,
        i.active_finding_count,
        i.account_id,
        i.account_name
            .as_deref()
            .map(|n| format!(" ({n})"))
            .unwrap_or_default()
    )?;
    writeln!(out, "  {:<12} {}", "grouping", i.correlation_reason)?;
    let t = &i.triage;
    for (k, v) in [
        ("severity", &t.severity),
        ("environment", &t.environment),
        ("deadline", &t.deadline),
    ] {
        if !v.is_empty() {
            writeln!(out, "  {k:<12} {v}")?;
        }
    }
    if let Some(d) = i.response_deadline {
        writeln!(
            out,
            "  {:<12} {}",
            "respond by",
            d.format("%Y-%m-%d %H:%M:%S UTC")
        )?;
    }
    if !t.rules.is_empty() {
        let rules: Vec<&str> = t.rules.iter().map(String::as_str).collect();
        writeln!(out, "  {:<12} {}", "rules", rules.join(", "))?;
    }
    if let Some(r) = &t.route {
        writeln!(out, "  {:<12} {r}", "route")?;
    }
    for n in &t.notes {
        writeln!(out, "  {:<12} {} (rule {})", "note", n.text, n.rule)?;
    }
    if let (Some(at), Some(by)) = (i.acknowledged_at, &i.acknowledged_by) {
        let met = match i.response_deadline {
            Some(d) if at <= d => " (deadline met)",
            Some(_) => " (after the deadline)",
            None => "",
        };
        writeln!(
            out,
            "  {:<12} {} by {by}{met}",
            "acknowledged",
            at.format("%Y-%m-%d %H:%M:%S UTC")
        )?;
    }
    if i.history_dropped > 0 {
        writeln!(
            out,
            "  {:<12} ({} older transitions not kept)",
            "history", i.history_dropped
        )?;
    }
    for h in &i.history {
        writeln!(
            out,
            "  {:<12} {} {} -> {} by {} via {}{}",
            "history",
            h.at.format("%Y-%m-%d %H:%M:%S UTC"),
            h.from,
            h.to,
            h.by,
            h.source,
            if h.why.is_empty() {
                String::new()
            } else {
                format!(": {}", h.why)
            }
        )?;
    }
    for d in &i.escalation.done {
        writeln!(
            out,
            "  {:<12} step {} #{} -> route {} at {}{}",
            "escalation",
            d.step,
            d.n,
            d.route,
            d.at.format("%Y-%m-%d %H:%M:%S UTC"),
            if d.skipped {
                " (skipped: a later one was due)"
            } else {
                ""
            }
        )?;
    }
    if let Some(r) = &t.reevaluated {
        writeln!(
            out,
            "  {:<12} under runbook version {} at {}: {}",
            "reevaluated",
            r.runbook,
            r.at.format("%Y-%m-%d %H:%M:%S UTC"),
            r.changes
        )?;
    }
    Ok(())
}

fn print_finding(out: &mut dyn Write, r: &FindingRecord, indent: &str) -> std::io::Result<()> {
    writeln!(
        out,
        "{indent}finding {}  {} {} {}/{}",
        r.finding_id,
        r.severity,
        r.finding_type,
        r.record_state.as_str(),
        r.workflow_status.as_str()
    )?;
    let text = r.explanation.render(&format!("{indent}  "));
    if text.is_empty() {
        writeln!(
            out,
            "{indent}  (stored before explanations were recorded: {})",
            r.incident_id
                .as_deref()
                .map(|i| format!("in incident {i}"))
                .unwrap_or_else(|| "in no incident".into())
        )?;
    } else {
        write!(out, "{text}")?;
    }
    Ok(())
}

/// Prints the explanation of `id`; `false` when the table has no such incident or finding.
pub async fn explain<S: IncidentStore + IncidentReader>(
    store: &S,
    id: &str,
    product_arn: Option<&str>,
    out: &mut dyn Write,
) -> Result<bool> {
    if id.starts_with("inc-") {
        let incidents = store.get_incidents(&[id.to_owned()]).await?;
        let Some(i) = incidents.get(id) else {
            return Ok(false);
        };
        print_incident(out, i)?;
        let mut findings = store.findings_of(id).await?;
        findings.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(a.event_time.cmp(&b.event_time))
        });
        for r in &findings {
            print_finding(out, r, "  ")?;
        }
        return Ok(true);
    }
    let is_key = id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit());
    let key = if is_key {
        id.to_owned()
    } else {
        let Some(product) = product_arn
            .map(str::to_owned)
            .or_else(|| product_arn_of(id))
        else {
            anyhow::bail!("cannot tell the product of {id}: give --product-arn");
        };
        finding_key(&product, id)
    };
    let records = store.get_findings(std::slice::from_ref(&key)).await?;
    let Some(r) = records.get(&key) else {
        return Ok(false);
    };
    print_finding(out, r, "")?;
    if let Some(inc) = &r.incident_id {
        if let Some(i) = store
            .get_incidents(std::slice::from_ref(inc))
            .await?
            .get(inc)
        {
            writeln!(out)?;
            print_incident(out, i)?;
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_arns_come_from_the_finding_arn() {
        assert_eq!(
            product_arn_of("arn:aws:guardduty:eu-west-1:111111111111:detector/d/finding/f")
                .as_deref(),
            Some("arn:aws:securityhub:eu-west-1::product/aws/guardduty")
        );
        assert_eq!(
            product_arn_of(
                "arn:aws:securityhub:us-east-1:111111111111:security-control/S3.8/finding/x"
            )
            .as_deref(),
            Some("arn:aws:securityhub:us-east-1::product/aws/securityhub")
        );
        assert_eq!(product_arn_of("some-custom-id"), None);
    }
}

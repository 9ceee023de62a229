//! `vigil report`: the SLA report as a table, JSON or CSV.

use vigil_domain::sla::{human, Figures, Group, IncidentLine, Report};

fn pct(f: &Figures) -> String {
    f.met_pct
        .map_or_else(|| "-".to_owned(), |p| format!("{p:.1}%"))
}

fn secs(s: Option<i64>) -> String {
    s.map_or_else(|| "-".to_owned(), human)
}

fn row(label: &str, f: &Figures) -> String {
    format!(
        "{label:<28} {:>9} {:>7} {:>6} {:>8} {:>8} {:>12} {:>12} {:>8}",
        f.incidents,
        f.with_target,
        f.met,
        f.breached,
        pct(f),
        secs(f.tta_median_secs),
        secs(f.tta_p90_secs),
        f.open_now
    )
}

fn label(g: &Group) -> String {
    match (&g.severity, &g.environment, &g.account_id) {
        (Some(s), Some(e), _) => format!("{s} / {e}"),
        (_, _, Some(a)) => a.clone(),
        _ => "?".into(),
    }
}

fn header(first: &str) -> String {
    format!(
        "{first:<28} {:>9} {:>7} {:>6} {:>8} {:>8} {:>12} {:>12} {:>8}",
        "incidents", "target", "met", "breach", "met %", "TTA p50", "TTA p90", "open"
    )
}

fn incident_line(l: &IncidentLine, what: &str) -> String {
    format!(
        "  {:<28} {:<13} {:<11} {:<12} {what:<22} {}",
        l.incident_id,
        l.severity.as_str(),
        l.environment,
        l.account_id,
        vigil_domain::bounds::clip(&l.title, 60)
    )
}

/// The report as text.
pub fn text(r: &Report) -> String {
    let mut out = format!(
        "SLA report {} .. {}\n\n{}\n",
        r.since.format("%Y-%m-%d %H:%M UTC"),
        r.until.format("%Y-%m-%d %H:%M UTC"),
        header("severity / environment")
    );
    for g in &r.by_severity_environment {
        out.push_str(&row(&label(g), &g.figures));
        out.push('\n');
    }
    out.push_str(&row("all", &r.total));
    out.push_str(&format!("\n\n{}\n", header("account")));
    for g in &r.by_account {
        out.push_str(&row(&label(g), &g.figures));
        out.push('\n');
    }
    out.push_str(&format!("\nbreaches ({}):\n", r.breaches.len()));
    for b in &r.breaches {
        let what = match b.answered_at {
            Some(_) => format!("{} late", human(b.seconds)),
            None => format!("unanswered, {} late", human(b.seconds)),
        };
        out.push_str(&incident_line(b, &what));
        out.push('\n');
    }
    out.push_str(&format!(
        "\nwaiting for an acknowledgement now ({}):\n",
        r.open.len()
    ));
    for o in &r.open {
        let what = match o.response_deadline {
            None => "no deadline".to_owned(),
            Some(_) if o.seconds >= 0 => format!("{} left", human(o.seconds)),
            Some(_) => format!("breached {} ago", human(-o.seconds)),
        };
        out.push_str(&incident_line(o, &what));
        out.push('\n');
    }
    out
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// One CSV row per group (severity x environment, then account, then the total).
pub fn csv(r: &Report) -> String {
    let mut out = String::from(
        "group,severity,environment,account_id,incidents,with_target,met,breached,met_pct,tta_median_secs,tta_p90_secs,open_now\n",
    );
    let opt = |v: Option<i64>| v.map_or_else(String::new, |v| v.to_string());
    let mut push = |group: &str, g: Option<&Group>, f: &Figures| {
        out.push_str(&format!(
            "{group},{},{},{},{},{},{},{},{},{},{},{}\n",
            g.and_then(|g| g.severity).map_or("", |s| s.as_str()),
            csv_field(g.and_then(|g| g.environment.as_deref()).unwrap_or("")),
            csv_field(g.and_then(|g| g.account_id.as_deref()).unwrap_or("")),
            f.incidents,
            f.with_target,
            f.met,
            f.breached,
            f.met_pct.map_or_else(String::new, |p| format!("{p:.1}")),
            opt(f.tta_median_secs),
            opt(f.tta_p90_secs),
            f.open_now
        ));
    };
    for g in &r.by_severity_environment {
        push("severity_environment", Some(g), &g.figures);
    }
    for g in &r.by_account {
        push("account", Some(g), &g.figures);
    }
    push("total", None, &r.total);
    out
}

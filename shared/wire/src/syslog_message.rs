//! Syslog messages: RFC 5424 with octet-counting framing (RFC 6587 §3.4.1, the framing RFC 5425
//! requires over TLS), carrying CEF or LEEF 2.0.
//!
//! Escaping follows the CEF specification exactly: in the header `\` becomes `\\` and `|`
//! becomes `\|`; in extension values `\` becomes `\\`, `=` becomes `\=`, and CR/LF become `\r`
//! and `\n`. LEEF has no escape mechanism, so its delimiter, `|`, tabs and line breaks are
//! replaced by spaces.

use chrono::{DateTime, SecondsFormat, Utc};

use crate::payload::{cef_severity, syslog_severity, IncidentPayload};

pub const VENDOR: &str = "Vigil";
pub const PRODUCT: &str = "Vigil";
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Private enterprise number for the structured-data id. 32473 is reserved for examples
/// (RFC 5612); operators with their own PEN can configure it.
pub const DEFAULT_PEN: u32 = 32473;

/// Escapes a CEF header field.
pub fn cef_header(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '|' => out.push_str("\\|"),
            '\r' | '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Escapes a CEF extension value.
pub fn cef_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '=' => out.push_str("\\="),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

fn ms(t: DateTime<Utc>) -> String {
    t.timestamp_millis().to_string()
}

/// The CEF record for an incident version. One space follows the last header pipe, which all
/// tested parsers accept (liblognorm in Debian mis-reads the first key without it).
pub fn cef(p: &IncidentPayload, received: DateTime<Utc>) -> String {
    let class = format!("vigil:incident:{}", serde_plain(&p.change.kind));
    let header = [
        "CEF:0".to_owned(),
        cef_header(VENDOR),
        cef_header(PRODUCT),
        cef_header(VERSION),
        cef_header(&class),
        cef_header(&p.title),
        cef_severity(p.severity).to_string(),
    ]
    .join("|");
    let mut ext: Vec<(&str, String)> = vec![
        ("rt", ms(received)),
        ("start", ms(p.first_seen)),
        ("end", ms(p.last_seen)),
        ("externalId", p.idempotency_key.clone()),
        ("cat", p.lead_finding_type.clone()),
        ("act", serde_plain(&p.change.kind)),
        ("outcome", p.status.as_str().to_owned()),
        ("msg", p.correlation_reason.clone()),
        ("cs1Label", "incidentId".into()),
        ("cs1", p.incident_id.clone()),
        ("cs2Label", "account".into()),
        (
            "cs2",
            match &p.account_name {
                Some(n) => format!("{} ({n})", p.account_id),
                None => p.account_id.clone(),
            },
        ),
        ("cs3Label", "environment".into()),
        ("cs3", p.environment.clone()),
        ("cs4Label", "entity".into()),
        ("cs4", p.entity.clone()),
        ("cs5Label", "tactics".into()),
        ("cs5", p.tactics.join(",")),
        ("cs6Label", "remediation".into()),
        ("cs6", p.remediation.clone()),
        ("cn1Label", "findingCount".into()),
        ("cn1", p.finding_count.to_string()),
        ("cn2Label", "incidentVersion".into()),
        ("cn2", p.version.to_string()),
    ];
    // The header's Name is often clipped by SIEMs; the full title also travels here.
    ext.push(("flexString1Label", "title".into()));
    ext.push(("flexString1", p.title.clone()));
    // What the item is (incident, campaign, digest), and the campaign or digest it is in or
    // the members it has.
    ext.push(("flexString2Label", "kind".into()));
    ext.push(("flexString2", p.kind.as_str().to_owned()));
    if let Some(g) = p.campaign_id.as_ref().or(p.digest_id.as_ref()) {
        // No dictionary key fits: an additional-data key, as ArcSight reads them.
        ext.push(("ad.groupId", g.clone()));
    }
    if p.is_group() {
        ext.push(("cn3Label", "memberIncidents".into()));
        ext.push(("cn3", p.incident_count.to_string()));
    }
    if let Some(d) = p.response_deadline {
        ext.push(("deviceCustomDate1Label", "responseDeadline".into()));
        ext.push(("deviceCustomDate1", ms(d)));
    }
    if let Some(o) = &p.owner {
        ext.push(("duser", o.clone()));
    }
    let ext: Vec<String> = ext
        .into_iter()
        .map(|(k, v)| format!("{k}={}", cef_value(&v)))
        .collect();
    format!("{header}| {}", ext.join(" "))
}

/// LEEF 2.0 with `^` as the attribute delimiter.
pub fn leef(p: &IncidentPayload) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| match c {
                '^' | '|' | '\t' | '\r' | '\n' => ' ',
                c => c,
            })
            .collect()
    };
    let attrs = [
        ("cat", p.lead_finding_type.clone()),
        ("sev", cef_severity(p.severity).max(1).to_string()),
        (
            "devTime",
            p.last_seen.to_rfc3339_opts(SecondsFormat::Millis, true),
        ),
        ("devTimeFormat", "yyyy-MM-dd'T'HH:mm:ss.SSSX".into()),
        ("externalId", p.idempotency_key.clone()),
        ("incidentId", p.incident_id.clone()),
        ("title", p.title.clone()),
        ("status", p.status.as_str().into()),
        ("account", p.account_id.clone()),
        ("environment", p.environment.clone()),
        ("resource", p.entity.clone()),
        ("findingCount", p.finding_count.to_string()),
        ("kind", p.kind.as_str().to_owned()),
    ];
    let mut attrs = attrs.to_vec();
    if let Some(g) = p.campaign_id.as_ref().or(p.digest_id.as_ref()) {
        attrs.push(("groupId", g.clone()));
    }
    if p.is_group() {
        attrs.push(("memberIncidents", p.incident_count.to_string()));
    }
    let body: Vec<String> = attrs
        .iter()
        .map(|(k, v)| format!("{k}={}", clean(v)))
        .collect();
    format!(
        "LEEF:2.0|{VENDOR}|{PRODUCT}|{VERSION}|{}|^|{}",
        clean(&format!("incident_{}", serde_plain(&p.change.kind))),
        body.join("^")
    )
}

fn serde_plain<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Escapes an RFC 5424 structured-data parameter value.
fn sd_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// RFC 5424 header fields are printable US-ASCII without spaces.
fn header_token(s: &str, max: usize) -> String {
    let t: String = s
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if t.is_empty() {
        "-".into()
    } else {
        t
    }
}

/// Settings of the syslog sink's messages.
#[derive(Debug, Clone)]
pub struct SyslogFormat {
    /// Facility number (RFC 5424): 16 = local0.
    pub facility: u8,
    pub hostname: String,
    pub app_name: String,
    pub pen: u32,
}

impl Default for SyslogFormat {
    fn default() -> Self {
        Self {
            facility: 16,
            hostname: "vigil".into(),
            app_name: "vigil".into(),
            pen: DEFAULT_PEN,
        }
    }
}

/// One RFC 5424 message: header, structured data with the idempotency key, and `msg`.
pub fn rfc5424(f: &SyslogFormat, p: &IncidentPayload, at: DateTime<Utc>, msg: &str) -> String {
    let pri = u16::from(f.facility.min(23)) * 8 + u16::from(syslog_severity(p.severity));
    format!(
        "<{pri}>1 {} {} {} - {} [incident@{} id=\"{}\" ver=\"{}\" key=\"{}\"] {msg}",
        at.to_rfc3339_opts(SecondsFormat::Millis, true),
        header_token(&f.hostname, 255),
        header_token(&f.app_name, 48),
        header_token(&format!("incident_{}", serde_plain(&p.change.kind)), 32),
        f.pen,
        sd_value(&p.incident_id),
        p.version,
        sd_value(&p.idempotency_key),
    )
}

/// Octet-counting frame: `MSG-LEN SP SYSLOG-MSG`, the length in bytes.
pub fn octet_frame(msg: &str) -> Vec<u8> {
    let mut out = format!("{} ", msg.len()).into_bytes();
    out.extend_from_slice(msg.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::{classify, tests::incident};
    use proptest::prelude::*;

    fn payload(title: &str) -> IncidentPayload {
        let inc = incident(title);
        IncidentPayload::new(&inc, classify(None, &inc).unwrap())
    }

    /// A test-only CEF extension parser that follows the spec's unescaping.
    fn unescape_value(s: &str) -> String {
        let mut out = String::new();
        let mut it = s.chars();
        while let Some(c) = it.next() {
            if c == '\\' {
                match it.next() {
                    Some('n') => out.push('\n'),
                    Some('r') => out.push('\r'),
                    Some(o) => out.push(o),
                    None => out.push('\\'),
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    #[test]
    fn cef_header_and_extension_escaping_follow_the_spec() {
        assert_eq!(cef_header(r"a|b\c=d"), r"a\|b\\c=d");
        assert_eq!(cef_value("a=b\\c|d\ne\rf"), r"a\=b\\c|d\ne\rf");
        let p = payload("Pipe | equals = backslash \\ newline\nand ünïcödé 🚨");
        let line = cef(&p, Utc::now());
        assert!(line.starts_with("CEF:0|Vigil|Vigil|"));
        assert!(
            line.contains(r"|Pipe \| equals = backslash \\ newline and ünïcödé 🚨|8| rt="),
            "{line}"
        );
        assert!(!line.contains('\n'));
        assert!(line.contains(&format!("externalId={}", p.idempotency_key)));
    }

    proptest! {
        #[test]
        fn cef_values_round_trip_through_unescaping(s in "\\PC*") {
            prop_assert_eq!(unescape_value(&cef_value(&s)), s.clone());
            let escaped = cef_value(&s);
            // No unescaped '=' survives: every '=' is preceded by an odd run of backslashes.
            let b = escaped.as_bytes();
            for (i, &c) in b.iter().enumerate() {
                if c == b'=' {
                    let run = b[..i].iter().rev().take_while(|&&x| x == b'\\').count();
                    prop_assert!(run % 2 == 1, "{}", escaped);
                }
            }
        }
    }

    #[test]
    fn leef_strips_what_it_cannot_escape() {
        let p = payload("caret ^ pipe | tab \t end");
        let l = leef(&p);
        assert!(l.starts_with("LEEF:2.0|Vigil|Vigil|"));
        assert!(l.contains("title=caret   pipe   tab   end"), "{l}");
        assert_eq!(l.matches('^').count(), 12 + 1, "{l}");
        assert!(l.contains("^kind=incident"), "{l}");
    }

    #[test]
    fn rfc5424_messages_are_octet_counted_in_bytes_and_carry_the_key() {
        let p = payload("ünïcödé 🚨");
        let m = rfc5424(
            &SyslogFormat::default(),
            &p,
            Utc::now(),
            &cef(&p, Utc::now()),
        );
        assert!(m.starts_with("<131>1 "), "{m}"); // local0 (16*8) + err (3) for HIGH
        assert!(m.contains(&format!(
            "[incident@32473 id=\"{}\" ver=\"1\"",
            p.incident_id
        )));
        let framed = octet_frame(&m);
        let (len, rest) = std::str::from_utf8(&framed)
            .unwrap()
            .split_once(' ')
            .unwrap();
        assert_eq!(len.parse::<usize>().unwrap(), rest.len());
        assert!(
            rest.len() > rest.chars().count(),
            "length counts bytes, not characters"
        );
        assert_eq!(sd_value(r#"a"b\c]d"#), r#"a\"b\\c\]d"#);
    }
}

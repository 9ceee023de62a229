//! The forwarder against local receivers: a protocol-enforcing Splunk HEC with fault
//! injection, a Standard Webhooks verifier, and a real rsyslog over TLS. Stream records are
//! synthetic here; `forward_stream.rs` reads the real stream of DynamoDB Local.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use forward::Deps;

use vigil_delivery::{Dispatcher, Secrets};
use vigil_domain::ports::MemoryLedger;
use vigil_e2e::receivers::hec::Hec;
use vigil_e2e::receivers::rsyslog::{self, Rsyslog};
use vigil_e2e::receivers::webhook::WebhookReceiver;
use vigil_e2e::receivers::{pki, Fault};
use vigil_e2e::{incident_record, synthetic_incident};
use vigil_wire::sinks::SinksConfig;

const TOKEN: &str = "11111111-2222-3333-4444-555555555555";
const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

const FAST_RETRY: &str = "retry: {attempts: 3, base_delay_ms: 1, max_delay_ms: 5, park_secs: 600}";

fn deps(sinks_yaml: &str, ledger: Arc<MemoryLedger>) -> Deps {
    let cfg = SinksConfig::parse(&format!("{sinks_yaml}\n{FAST_RETRY}\n")).unwrap();
    Deps {
        dispatcher: Dispatcher::new(&cfg, &Secrets::local(), ledger, None).unwrap(),
        cleanup: None,
        emit_metrics: false,
    }
}

fn hec_yaml(url: &str, extra: &str) -> String {
    format!(
        "sinks:\n  - {{type: hec, name: splunk, url: '{url}', allow_http: true, timeout_secs: 1, token: {{value: '{TOKEN}'}}{extra}}}"
    )
}

fn records(n: u32) -> Vec<aws_lambda_events::event::dynamodb::EventRecord> {
    records_from(0, n)
}

/// `n` new incidents numbered from `first` (numbers name the incidents).
fn records_from(first: u32, n: u32) -> Vec<aws_lambda_events::event::dynamodb::EventRecord> {
    (first..first + n)
        .map(|i| {
            incident_record(
                &synthetic_incident(&format!("incident {i}"), i, 1),
                None,
                100 + u64::from(i),
            )
        })
        .collect()
}

fn event(
    recs: &[aws_lambda_events::event::dynamodb::EventRecord],
) -> aws_lambda_events::event::dynamodb::Event {
    let mut e = aws_lambda_events::event::dynamodb::Event::default();
    e.records = recs.to_vec();
    e
}

fn keys_of(recs: &[aws_lambda_events::event::dynamodb::EventRecord]) -> Vec<String> {
    recs.iter()
        .map(|r| match forward::stream::decode(r).outcome {
            forward::stream::RecordOutcome::Forward(p) => p.idempotency_key,
            o => panic!("{o:?}"),
        })
        .collect()
}

#[tokio::test]
async fn hec_receives_stacked_envelopes_with_cim_fields_and_the_idempotency_key() {
    let hec = Hec::start(TOKEN).await;
    let d = deps(&hec_yaml(&hec.url(), ", index: security"), Arc::default());
    hec.with(|s| s.allowed_indexes = Some(vec!["security".into()]));
    let recs = records(5);
    let r = forward::process(&d, &event(&recs), None).await;
    assert_eq!(r.first_failed, None, "{r:?}");
    assert_eq!(hec.incident_keys(), keys_of(&recs));
    let (requests, first) = hec.with(|s| (s.requests, s.events[0].clone()));
    assert_eq!(requests, 1, "five incidents are stacked into one request");
    assert_eq!(first["index"], "security");
    assert_eq!(first["event"]["severity"], "high");
    assert_eq!(first["event"]["type"], "alert");
    assert_eq!(first["fields"]["incident_version"], "1");
    // A replayed batch sends nothing: the ledger has every version.
    let r = forward::process(&d, &event(&recs), None).await;
    assert_eq!(r.per_sink["splunk"].already_delivered, 5);
    assert_eq!(hec.with(|s| s.requests), 1);
}

#[tokio::test]
async fn hec_bodies_respect_the_size_limit() {
    let hec = Hec::start(TOKEN).await;
    hec.with(|s| s.max_body_bytes = 16 * 1024);
    let d = deps(
        &hec_yaml(&hec.url(), ", max_body_bytes: 16384"),
        Arc::default(),
    );
    let recs = records(40);
    let r = forward::process(&d, &event(&recs), None).await;
    assert_eq!(r.first_failed, None, "{r:?}");
    assert_eq!(hec.incident_keys(), keys_of(&recs));
    assert!(hec.with(|s| s.requests) > 1);
}

#[tokio::test]
async fn hec_5xx_busy_and_timeouts_are_retried_and_delivered_once() {
    let hec = Hec::start(TOKEN).await;
    let d = deps(&hec_yaml(&hec.url(), ""), Arc::default());
    hec.fault(Fault::Status(500));
    hec.fault(Fault::Busy);
    let recs = records(3);
    let r = forward::process(&d, &event(&recs), None).await;
    assert_eq!(r.first_failed, None, "{r:?}");
    assert_eq!(
        r.per_sink["splunk"].retries, 6,
        "two retried requests of three incidents"
    );
    assert_eq!(hec.incident_keys(), keys_of(&recs));

    // A stalled server: the client times out (1 s) and retries.
    let hec = Hec::start(TOKEN).await;
    let d = deps(&hec_yaml(&hec.url(), ""), Arc::default());
    hec.fault(Fault::Stall(Duration::from_secs(3)));
    let recs = records(2);
    let r = forward::process(&d, &event(&recs), None).await;
    assert_eq!(r.first_failed, None, "{r:?}");
    assert_eq!(r.per_sink["splunk"].retries, 2);
    // The stalled request was answered after the client gave up; its events may be indexed
    // too (a duplicate with the same key, which the receiver can drop).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut keys = hec.incident_keys();
    keys.dedup();
    let mut want = keys_of(&recs);
    want.sort();
    keys.sort();
    keys.dedup();
    assert_eq!(keys, want);
}

#[tokio::test]
async fn hec_retry_after_is_honoured_or_the_version_waits_in_the_outbox_that_long() {
    let hec = Hec::start(TOKEN).await;
    let ledger = Arc::new(MemoryLedger::default());
    let d = deps(&hec_yaml(&hec.url(), ""), ledger.clone());
    hec.fault(Fault::TooMany {
        retry_after_secs: 1,
    });
    let recs = records(1);
    let t = std::time::Instant::now();
    let r = forward::process(&d, &event(&recs), None).await;
    assert_eq!(r.first_failed, None);
    assert!(t.elapsed() >= Duration::from_secs(1), "waited as asked");
    assert_eq!(hec.incident_keys().len(), 1);

    // Longer than the invocation may wait (30 s): no waiting; both versions go to the outbox,
    // due when the receiver asked (within the outbox's 15-minute ceiling).
    hec.fault(Fault::TooMany {
        retry_after_secs: 3600,
    });
    let recs = records_from(10, 2);
    let now = chrono::Utc::now();
    let r = forward::process(&d, &event(&recs), None).await;
    assert_eq!(r.first_failed, None, "queued durably: the stream moves on");
    let s = &r.per_sink["splunk"];
    assert_eq!((s.failed_retryable, s.queued), (2, 2));
    let waiting = ledger.outbox();
    assert_eq!(waiting.len(), 2);
    assert!(waiting
        .iter()
        .all(|e| e.next_attempt_at >= now + chrono::Duration::seconds(899)));
    // Not due yet: a drain now sends nothing; when due, both go.
    let before = hec.with(|s| s.requests);
    assert_eq!(
        forward::drain(&d, chrono::Utc::now(), None, "t").await.due,
        0
    );
    assert_eq!(hec.with(|s| s.requests), before);
    let r = forward::drain(&d, now + chrono::Duration::minutes(16), None, "t").await;
    assert_eq!(r.per_sink["splunk"].delivered, 2, "{r:?}");
    assert_eq!(hec.incident_keys().len(), 3);
    assert!(ledger.outbox().is_empty());
}

#[tokio::test]
async fn a_bad_event_is_dead_lettered_alone_and_the_others_are_indexed() {
    let hec = Hec::start(TOKEN).await;
    let ledger = Arc::new(MemoryLedger::default());
    let d = deps(&hec_yaml(&hec.url(), ""), ledger.clone());
    let mut recs = records(5);
    let poison = synthetic_incident("POISON pill", 2, 1);
    recs[2] = incident_record(&poison, None, 102);
    let r = forward::process(&d, &event(&recs), None).await;
    let s = &r.per_sink["splunk"];
    assert_eq!(
        (s.delivered, s.failed_data, s.dead_lettered),
        (4, 1, 1),
        "{r:?}"
    );
    assert_eq!(r.first_failed, None, "nothing for the stream to retry");
    let keys = keys_of(&recs);
    assert_eq!(
        hec.incident_keys(),
        vec![
            keys[0].clone(),
            keys[1].clone(),
            keys[3].clone(),
            keys[4].clone()
        ]
    );
    // Set aside with its reason, and settled, so a later version of it goes on.
    use vigil_domain::ports::DeliveryLedger;
    let dead = ledger.dead_letters(10).await.unwrap();
    assert_eq!((dead.len(), dead[0].version), (1, 1));
    assert!(dead[0].reason.contains("rejected"), "{}", dead[0].reason);
    assert_eq!(ledger.get(&poison.id, "splunk"), Some(1));
    let mut v2 = poison.clone();
    v2.version = 2;
    v2.title = "fixed".into();
    v2.finding_count = 2;
    let r = forward::process(
        &d,
        &event(&[incident_record(&v2, Some(&poison), 103)]),
        None,
    )
    .await;
    assert_eq!(r.per_sink["splunk"].delivered, 1, "{r:?}");
}

#[tokio::test]
async fn a_rotated_token_is_re_read_and_a_revoked_one_parks_the_sink_without_hammering() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, TOKEN).unwrap();
    let hec = Hec::start(TOKEN).await;
    let yaml = format!(
        "sinks:\n  - {{type: hec, name: splunk, url: '{}', allow_http: true, token: {{file: '{}'}}}}",
        hec.url(),
        token_file.display()
    );
    // Capture every log line the forwarder writes, at TRACE.
    let logs = Arc::new(Mutex::new(Vec::<u8>::new()));
    let writer = {
        let logs = logs.clone();
        move || LogWriter(logs.clone())
    };
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(writer)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let d = deps(&yaml, Arc::default());
    let r = forward::process(&d, &event(&records(1)), None).await;
    assert_eq!(r.first_failed, None);

    // Rotation: the receiver and the secret change; the cached token fails once, is re-read.
    let rotated = "99999999-8888-7777-6666-555555555555";
    hec.with(|s| s.token = rotated.into());
    std::fs::write(&token_file, rotated).unwrap();
    let recs = vec![incident_record(
        &synthetic_incident("after rotation", 7, 1),
        None,
        7,
    )];
    let r = forward::process(&d, &event(&recs), None).await;
    assert_eq!(r.first_failed, None, "{r:?}");
    assert_eq!(hec.incident_keys().len(), 2);

    // Revocation: a config error, one refresh, then the sink is parked: the next batch queues
    // without a request.
    hec.with(|s| s.revoked = true);
    let recs = vec![incident_record(
        &synthetic_incident("after revocation", 8, 1),
        None,
        8,
    )];
    let before = hec.with(|s| s.requests);
    let r = forward::process(&d, &event(&recs), None).await;
    assert_eq!(r.per_sink["splunk"].failed_config, 1);
    assert_eq!(
        hec.with(|s| s.requests) - before,
        2,
        "the original try and one after refresh"
    );
    assert_eq!(r.first_failed, None);
    assert_eq!(r.per_sink["splunk"].queued, 1);
    let more = vec![incident_record(
        &synthetic_incident("while revoked", 9, 1),
        None,
        9,
    )];
    let r = forward::process(&d, &event(&more), None).await;
    assert_eq!(
        (r.per_sink["splunk"].queued, r.per_sink["splunk"].failed),
        (1, 0),
        "parked: queued without a request"
    );
    assert_eq!(
        hec.with(|s| s.requests) - before,
        2,
        "parked: not called again"
    );
    assert_eq!(r.first_failed, None);

    drop(_guard);
    let text = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("configuration"),
        "the config error is logged as such"
    );
    assert!(!text.contains(TOKEN), "a token appeared in the logs");
    assert!(!text.contains(rotated), "a token appeared in the logs");
    assert!(
        !text.contains("11111111-2222"),
        "part of a token appeared in the logs"
    );
}

#[derive(Clone)]
struct LogWriter(Arc<Mutex<Vec<u8>>>);
impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn hec_indexer_acknowledgement_is_polled_until_confirmed() {
    let hec = Hec::start(TOKEN).await;
    hec.with(|s| s.use_ack = true);
    let d = deps(
        &hec_yaml(&hec.url(), ", ack: {poll_interval_ms: 10, timeout_secs: 5}"),
        Arc::default(),
    );
    let r = forward::process(&d, &event(&records(3)), None).await;
    assert_eq!(r.first_failed, None, "{r:?}");
    assert_eq!(
        hec.with(|s| (s.next_ack, s.pending_acks.len())),
        (1, 0),
        "ack consumed"
    );
    // Without `ack` configured, a token that requires it is a configuration error.
    let d = deps(&hec_yaml(&hec.url(), ""), Arc::default());
    let r = forward::process(&d, &event(&records(1)), None).await;
    assert_eq!(
        (
            r.per_sink["splunk"].failed_config,
            r.per_sink["splunk"].queued
        ),
        (1, 1)
    );
}

#[tokio::test]
async fn webhooks_are_signed_verified_and_one_failing_sink_does_not_block_the_other() {
    let hook = WebhookReceiver::start(WHSEC).await;
    let hec = Hec::start(TOKEN).await;
    let yaml = format!(
        "{}\n  - {{type: webhook, name: soar, url: '{}', allow_http: true, secret: {{value: '{WHSEC}'}}}}",
        hec_yaml(&hec.url(), ""),
        hook.url()
    );
    let ledger = Arc::new(MemoryLedger::default());
    let d = deps(&yaml, ledger.clone());
    // HEC is down for longer than one invocation's attempts: its versions wait in the outbox.
    for _ in 0..3 {
        hec.fault(Fault::Status(503));
    }
    let recs = records(4);
    let r = forward::process(&d, &event(&recs), None).await;
    assert_eq!(r.per_sink["soar"].delivered, 4);
    assert_eq!(
        (r.per_sink["splunk"].failed, r.per_sink["splunk"].queued),
        (4, 4)
    );
    assert_eq!(r.first_failed, None);
    // A retried batch sends nothing again; the drain delivers to HEC alone.
    let r = forward::process(&d, &event(&recs), None).await;
    assert_eq!(r.per_sink["soar"].already_delivered, 4);
    assert_eq!(r.per_sink["splunk"].queued, 4, "queued behind: idempotent");
    let r = forward::drain(
        &d,
        chrono::Utc::now() + chrono::Duration::hours(1),
        None,
        "t",
    )
    .await;
    assert_eq!(r.per_sink["splunk"].delivered, 4, "{r:?}");
    assert_eq!(hook.keys(), keys_of(&recs), "each exactly once");
    // (the drain goes by due time: across incidents the order is not the stream's)
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(sorted(hec.incident_keys()), sorted(keys_of(&recs)));
    assert_eq!(hook.with(|s| s.rejected), 0);
    let body = hook.with(|s| s.accepted[0].1.clone());
    assert_eq!(body["idempotency_key"], keys_of(&recs)[0]);
    assert_eq!(body["version"], 1);

    // 409 means the receiver already has it: success.
    hook.fault(Fault::Status(409));
    let recs = vec![incident_record(&synthetic_incident("dup", 50, 1), None, 50)];
    let r = forward::process(&d, &event(&recs), None).await;
    assert_eq!(r.per_sink["soar"].delivered, 1);
}

#[tokio::test]
async fn the_webhook_receiver_rejects_wrong_secrets_and_stale_timestamps() {
    let hook = WebhookReceiver::start(WHSEC).await;
    // A forwarder with the wrong secret: 401 is a configuration error.
    let wrong = "whsec_QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=";
    let d = deps(
        &format!(
            "sinks:\n  - {{type: webhook, name: soar, url: '{}', allow_http: true, secret: {{value: '{wrong}'}}}}",
            hook.url()
        ),
        Arc::default(),
    );
    let r = forward::process(&d, &event(&records(1)), None).await;
    assert_eq!(r.per_sink["soar"].failed_config, 1);
    assert!(hook.with(|s| s.rejected) >= 1);
    // A correctly signed but stale delivery (an hour old) is rejected.
    let secret = vigil_wire::webhook_signature::WebhookSecret::parse(WHSEC).unwrap();
    let body = br#"{"incident_id":"inc-1","version":1}"#;
    let h = vigil_wire::webhook_signature::sign(
        &secret,
        "inc-1:1",
        chrono::Utc::now().timestamp() - 3600,
        body,
    );
    let status = reqwest_post(&hook.url(), &h, body).await;
    assert_eq!(status, 401);
    let h = vigil_wire::webhook_signature::sign(
        &secret,
        "inc-1:1",
        chrono::Utc::now().timestamp(),
        body,
    );
    assert_eq!(reqwest_post(&hook.url(), &h, body).await, 204);
}

async fn reqwest_post(
    url: &str,
    h: &vigil_wire::webhook_signature::SignedHeaders,
    body: &[u8],
) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // A raw HTTP/1.1 request, so this check does not share the forwarder's client code.
    let addr = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let req = format!(
        "POST /hook HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nwebhook-id: {}\r\nwebhook-timestamp: {}\r\nwebhook-signature: {}\r\nconnection: close\r\n\r\n",
        body.len(), h.id, h.timestamp, h.signature
    );
    s.write_all(req.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).await.unwrap();
    resp.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Un-escapes a CEF extension value per the spec.
fn cef_unescape(s: &str) -> String {
    let mut out = String::new();
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some(o) => out.push(o),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Splits a CEF record into its 7 header fields (unescaped) and extension map.
fn parse_cef(msg: &str) -> (Vec<String>, std::collections::BTreeMap<String, String>) {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = msg.char_indices();
    let mut rest_at = msg.len();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                if let Some((_, n)) = chars.next() {
                    cur.push(n);
                }
            }
            '|' => {
                fields.push(std::mem::take(&mut cur));
                if fields.len() == 7 {
                    rest_at = i + 1;
                    break;
                }
            }
            c => cur.push(c),
        }
    }
    let ext = &msg[rest_at..];
    // Keys are `\s[A-Za-z0-9]+=` not preceded by a backslash.
    let mut map = std::collections::BTreeMap::new();
    let bytes: Vec<char> = ext.chars().collect();
    let mut starts = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if (i == 0 || bytes[i - 1] == ' ') && bytes[i].is_ascii_alphanumeric() {
            let mut j = i;
            while j < bytes.len() && bytes[j].is_ascii_alphanumeric() {
                j += 1;
            }
            if j < bytes.len()
                && bytes[j] == '='
                && (i == 0 || bytes.get(i.wrapping_sub(2)) != Some(&'\\'))
            {
                starts.push((i, j));
            }
        }
        i += 1;
    }
    for (n, (ks, ke)) in starts.iter().enumerate() {
        let key: String = bytes[*ks..*ke].iter().collect();
        let vend = starts.get(n + 1).map(|(s, _)| s - 1).unwrap_or(bytes.len());
        let val: String = bytes[ke + 1..vend].iter().collect();
        map.insert(key, cef_unescape(val.trim_end()));
    }
    (fields, map)
}

#[tokio::test]
async fn syslog_cef_over_tls_reaches_a_real_rsyslog_with_exact_escaping() {
    let Some(bin) = rsyslog::binary() else { return };
    let pki = pki::generate();
    let rs = Rsyslog::start(&bin, &pki, false).await;
    let ca = pki.ca_pem.replace('\n', "\\n");
    let yaml = format!(
        "sinks:\n  - {{type: syslog, name: siem, host: 127.0.0.1, port: {}, tls: {{ca_pem: \"{ca}\", ca_only: true}}}}",
        rs.port
    );
    let d = deps(&yaml, Arc::default());
    let title = "Zugriff über ünicode | pipe = equals \\ backslash\nsecond line 🚨";
    let recs = vec![
        incident_record(&synthetic_incident(title, 1, 1), None, 1),
        incident_record(&synthetic_incident("plain", 2, 1), None, 2),
    ];
    let r = forward::process(&d, &event(&recs), None).await;
    assert_eq!(r.first_failed, None, "{r:?}");
    let got = rs.wait_for(2).await;
    let keys = keys_of(&recs);
    let m = &got[0];
    assert_eq!(m["app"], "vigil");
    assert_eq!(m["msgid"], "incident_opened");
    assert_eq!(m["pri"], (16 * 8 + 3).to_string(), "local0.err for HIGH");
    assert!(
        m["sd"]
            .as_str()
            .unwrap()
            .contains(&format!("key=\"{}\"", keys[0])),
        "{m}"
    );
    let msg = m["msg"].as_str().unwrap().trim_start();
    let (header, ext) = parse_cef(msg);
    assert_eq!(header[0], "CEF:0");
    assert_eq!(header[1], "Vigil");
    // In the header a newline cannot be escaped: it becomes a space. `|` and `\` are escaped.
    assert_eq!(header[5], title.replace('\n', " "));
    assert!(
        msg.contains("pipe \\| pipe") || msg.contains("ünicode \\| pipe"),
        "{msg}"
    );
    assert_eq!(header[6], "8");
    // In the extension, `=`, `\` and newlines are escaped and come back exactly.
    assert_eq!(ext["flexString1"], title);
    assert!(msg.contains("equals \\\\ backslash\\nsecond"), "{msg}");
    assert!(msg.contains("pipe \\= equals"), "{msg}");
    assert_eq!(ext["externalId"], keys[0]);
    assert_eq!(ext["cn2"], "1");
    assert!(got[1]["sd"].as_str().unwrap().contains(&keys[1]));
}

#[tokio::test]
async fn syslog_leef_and_mutual_tls() {
    let Some(bin) = rsyslog::binary() else { return };
    let pki = pki::generate();
    let rs = Rsyslog::start(&bin, &pki, true).await;
    let ca = pki.ca_pem.replace('\n', "\\n");
    let id = pki.client_identity_pem.replace('\n', "\\n");
    // Without a client certificate the server refuses the session.
    let no_cert = format!(
        "sinks:\n  - {{type: syslog, name: siem, host: 127.0.0.1, port: {}, format: leef, tls: {{ca_pem: \"{ca}\", ca_only: true}}}}",
        rs.port
    );
    let d = deps(&no_cert, Arc::default());
    let recs = vec![incident_record(
        &synthetic_incident("mtls ^ title", 1, 1),
        None,
        1,
    )];
    let r = forward::process(&d, &event(&recs), None).await;
    assert_eq!(
        (r.per_sink["siem"].delivered, r.per_sink["siem"].queued),
        (0, 1),
        "delivered without a client certificate: {r:?}"
    );
    let with_cert = format!(
        "sinks:\n  - {{type: syslog, name: siem, host: 127.0.0.1, port: {}, format: leef, tls: {{ca_pem: \"{ca}\", ca_only: true, client_identity: {{value: \"{id}\"}}}}}}",
        rs.port
    );
    let d = deps(&with_cert, Arc::default());
    let r = forward::process(&d, &event(&recs), None).await;
    assert_eq!(r.first_failed, None, "{r:?}");
    let got = rs.wait_for(1).await;
    let msg = got.last().unwrap()["msg"]
        .as_str()
        .unwrap()
        .trim_start()
        .to_owned();
    assert!(msg.starts_with("LEEF:2.0|Vigil|Vigil|"), "{msg}");
    let attrs: std::collections::BTreeMap<&str, &str> = msg
        .splitn(7, '|')
        .nth(6)
        .unwrap()
        .split('^')
        .filter_map(|kv| kv.split_once('='))
        .collect();
    assert_eq!(attrs["title"], "mtls   title");
    assert_eq!(attrs["externalId"], keys_of(&recs)[0]);
}

#[tokio::test]
async fn a_server_certificate_from_an_unknown_ca_is_refused() {
    let Some(bin) = rsyslog::binary() else { return };
    let pki = pki::generate();
    let other = pki::generate();
    let rs = Rsyslog::start(&bin, &pki, false).await;
    let ca = other.ca_pem.replace('\n', "\\n");
    let yaml = format!(
        "sinks:\n  - {{type: syslog, name: siem, host: 127.0.0.1, port: {}, tls: {{ca_pem: \"{ca}\", ca_only: true}}}}",
        rs.port
    );
    let d = deps(&yaml, Arc::default());
    let r = forward::process(&d, &event(&records(1)), None).await;
    assert_eq!(r.per_sink["siem"].failed_config, 1, "{r:?}");
    assert!(rs.records().is_empty());
}

#[tokio::test]
async fn versions_of_one_incident_reach_a_sink_in_order_even_across_failures() {
    let hec = Hec::start(TOKEN).await;
    let hook = WebhookReceiver::start(WHSEC).await;
    let yaml = format!(
        "{}\n  - {{type: webhook, name: soar, url: '{}', allow_http: true, secret: {{value: '{WHSEC}'}}}}",
        hec_yaml(&hec.url(), ""),
        hook.url()
    );
    let d = deps(&yaml, Arc::default());
    let v1 = synthetic_incident("evolving", 70, 1);
    let mut v2 = v1.clone();
    v2.version = 2;
    v2.severity = vigil_domain::asff::SeverityLabel::Critical;
    let mut v3 = v2.clone();
    v3.version = 3;
    v3.finding_count = 2;
    let recs = vec![
        incident_record(&v1, None, 1),
        incident_record(&v2, Some(&v1), 2),
        incident_record(&v3, Some(&v2), 3),
    ];
    // Version 1 fails on HEC for the whole invocation: 2 and 3 queue behind it, for HEC only.
    for _ in 0..3 {
        hec.fault(Fault::Status(500));
    }
    let r = forward::process(&d, &event(&recs), None).await;
    assert_eq!(r.first_failed, None);
    let s = &r.per_sink["splunk"];
    assert_eq!(
        (s.failed, s.queued),
        (1, 3),
        "one failure; 2 and 3 queued behind it"
    );
    assert_eq!(hec.with(|s| s.requests), 3, "only version 1 was tried");
    assert_eq!(r.per_sink["soar"].delivered, 3);
    // A later batch with version 4 queues behind them too.
    let mut v4 = v3.clone();
    v4.version = 4;
    v4.finding_count = 3;
    let r4 = vec![incident_record(&v4, Some(&v3), 4)];
    let r = forward::process(&d, &event(&r4), None).await;
    assert_eq!(r.per_sink["splunk"].queued, 1);
    assert_eq!(hec.with(|s| s.requests), 3);
    let r = forward::drain(
        &d,
        chrono::Utc::now() + chrono::Duration::hours(1),
        None,
        "t",
    )
    .await;
    assert_eq!(r.per_sink["splunk"].delivered, 4, "{r:?}");
    let mut all = recs.clone();
    all.extend(r4);
    assert_eq!(hec.incident_keys(), keys_of(&all), "in version order");
    assert_eq!(hook.keys(), keys_of(&all), "exactly once");
}

/// Redriving old stream records never sends a version after a later one: a version a sink
/// has settled past is skipped.
#[tokio::test]
async fn an_older_version_is_never_sent_after_a_newer_one() {
    let hook = WebhookReceiver::start(WHSEC).await;
    let yaml = format!(
        "sinks:\n  - {{type: webhook, name: soar, url: '{}', allow_http: true, secret: {{value: '{WHSEC}'}}}}",
        hook.url()
    );
    let ledger = Arc::new(MemoryLedger::default());
    let v1 = synthetic_incident("superseded", 90, 1);
    let mut v2 = v1.clone();
    v2.version = 2;
    v2.finding_count = 2;
    let d = deps(&yaml, ledger.clone());
    let r = forward::process(&d, &event(&[incident_record(&v2, Some(&v1), 2)]), None).await;
    assert_eq!(r.per_sink["soar"].delivered, 1);
    let r = forward::process(&d, &event(&[incident_record(&v1, None, 1)]), None).await;
    assert_eq!(r.per_sink["soar"].already_delivered, 1, "skipped");
    assert_eq!(hook.keys(), vec![format!("{}:2", v1.id)]);
    assert_eq!(ledger.get(&v1.id, "soar"), Some(2), "never lowered");
}

/// One step of a simulated day for the outbox property below.
#[derive(Debug, Clone)]
enum Step {
    /// The next `n` stream records reach the forwarder; HEC is `down` during the batch.
    Batch { n: usize, down: bool },
    /// A scheduled drain, `minutes` later; HEC is `down` during it.
    Drain { minutes: i64, down: bool },
    /// Two drains at the same time (overlapping scheduler runs).
    TwoDrains { minutes: i64 },
}

fn step() -> impl proptest::strategy::Strategy<Value = Step> {
    use proptest::prelude::*;
    prop_oneof![
        (1usize..4, any::<bool>()).prop_map(|(n, down)| Step::Batch { n, down }),
        (1i64..120, any::<bool>()).prop_map(|(minutes, down)| Step::Drain { minutes, down }),
        (1i64..120).prop_map(|minutes| Step::TwoDrains { minutes }),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
    /// Whatever HEC does and whenever drains run (overlapping too), every version of every
    /// incident reaches it exactly once and in version order, except the ones it rejects as
    /// bad data, which are dead-lettered alone; the stream never has to retry.
    #[test]
    fn every_version_arrives_once_in_order_whatever_fails_and_whenever_drains_run(
        incidents in 1u32..4,
        versions in 1u64..5,
        poison in proptest::collection::vec(proptest::prelude::any::<bool>(), 16),
        steps in proptest::collection::vec(step(), 1..14),
        seed in proptest::prelude::any::<u64>(),
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            use rand::{seq::SliceRandom, SeedableRng};
            let hec = Hec::start(TOKEN).await;
            let ledger = Arc::new(MemoryLedger::default());
            let d = deps(&hec_yaml(&hec.url(), ""), ledger.clone());
            // Each incident's versions, interleaved in a random stream order that keeps each
            // incident's own order (as a shard does).
            let mut lanes: Vec<Vec<aws_lambda_events::event::dynamodb::EventRecord>> = Vec::new();
            let mut expected: std::collections::BTreeMap<String, Vec<u64>> = Default::default();
            let mut seq = 1000u64;
            for i in 0..incidents {
                let base = synthetic_incident(&format!("lane {i}"), 200 + i, 1);
                let mut prev: Option<vigil_domain::Incident> = None;
                let mut lane = Vec::new();
                for v in 1..=versions {
                    let mut inc = base.clone();
                    inc.version = v;
                    inc.finding_count = v;
                    let bad = poison[((i as u64) * versions + v) as usize % poison.len()];
                    if bad {
                        inc.title = format!("POISON {i} {v}");
                    } else {
                        expected.entry(inc.id.clone()).or_default().push(v);
                    }
                    seq += 1;
                    lane.push(incident_record(&inc, prev.as_ref(), seq));
                    prev = Some(inc);
                }
                lanes.push(lane);
            }
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let mut order: Vec<usize> = lanes
                .iter()
                .enumerate()
                .flat_map(|(i, l)| std::iter::repeat_n(i, l.len()))
                .collect();
            order.shuffle(&mut rng);
            let mut cursors = vec![0usize; lanes.len()];
            let stream: Vec<_> = order
                .into_iter()
                .map(|i| {
                    cursors[i] += 1;
                    lanes[i][cursors[i] - 1].clone()
                })
                .collect();

            let down = |on: bool| {
                hec.with(|s| s.faults.clear());
                if on {
                    for _ in 0..1000 {
                        hec.fault(Fault::Status(503));
                    }
                }
            };
            let mut at = 0usize;
            let mut clock = chrono::Utc::now();
            for s in steps {
                match s {
                    Step::Batch { n, down: off } => {
                        down(off);
                        let end = (at + n).min(stream.len());
                        let r = forward::process(&d, &event(&stream[at..end]), None).await;
                        assert_eq!(r.first_failed, None, "{r:?}");
                        at = end;
                    }
                    Step::Drain { minutes, down: off } => {
                        down(off);
                        clock += chrono::Duration::minutes(minutes);
                        forward::drain(&d, clock, None, "a").await;
                    }
                    Step::TwoDrains { minutes } => {
                        down(false);
                        clock += chrono::Duration::minutes(minutes);
                        let (a, b) = tokio::join!(
                            forward::drain(&d, clock, None, "a"),
                            forward::drain(&d, clock, None, "b")
                        );
                        // Each sink was drained by one of them at most.
                        for sink in &a.drained_sinks {
                            assert!(!b.drained_sinks.contains(sink), "{sink} drained twice");
                        }
                    }
                }
            }
            // The rest of the stream, HEC healthy again, then the schedule runs for a while.
            down(false);
            let r = forward::process(&d, &event(&stream[at..]), None).await;
            assert_eq!(r.first_failed, None);
            for h in 1..30 {
                let r = forward::drain(&d, clock + chrono::Duration::hours(h), None, "a").await;
                if r.pending == 0 {
                    break;
                }
            }
            let mut got: std::collections::BTreeMap<String, Vec<u64>> = Default::default();
            for k in hec.incident_keys() {
                let (id, v) = k.rsplit_once(':').unwrap();
                got.entry(id.to_owned()).or_default().push(v.parse().unwrap());
            }
            assert_eq!(got, expected, "per incident, in order, once");
            assert!(ledger.outbox().is_empty(), "{:?}", ledger.outbox());
            let dead = vigil_domain::ports::DeliveryLedger::dead_letters(ledger.as_ref(), 100)
                .await
                .unwrap()
                .len();
            let poisoned = (incidents as usize) * (versions as usize)
                - expected.values().map(Vec::len).sum::<usize>();
            assert_eq!(dead, poisoned, "each rejected version dead-lettered, alone");
        });
    }
}

#[tokio::test]
async fn pagerduty_alerts_follow_the_incident_lifecycle_once_each() {
    use vigil_domain::IncidentStatus;
    use vigil_e2e::receivers::pagerduty::PagerDutyReceiver;
    const KEY: &str = "0123456789abcdef0123456789abcdef";
    let pd = PagerDutyReceiver::start(KEY).await;
    let yaml = format!(
        "sinks:\n  - {{type: pagerduty, name: pager, url: '{}', allow_http: true, routing_key: {{value: '{KEY}'}}}}",
        pd.url()
    );
    let ledger = Arc::new(MemoryLedger::default());
    let d = deps(&yaml, ledger.clone());
    // One incident's life: opened, a finding joins, acknowledged, resolved.
    let v1 = synthetic_incident("root credential use", 7, 1);
    let mut v2 = v1.clone();
    v2.version = 2;
    v2.finding_count = 2;
    v2.active_finding_count = 2;
    let mut v3 = v2.clone();
    v3.version = 3;
    v3.status = IncidentStatus::Acknowledged;
    let mut v4 = v3.clone();
    v4.version = 4;
    v4.status = IncidentStatus::Resolved;
    // A LOW incident pages nobody (min_severity HIGH by default).
    let mut low = synthetic_incident("low", 8, 1);
    low.severity = vigil_domain::asff::SeverityLabel::Low;
    let recs = vec![
        incident_record(&v1, None, 1),
        incident_record(&v2, Some(&v1), 2),
        incident_record(&v3, Some(&v2), 3),
        incident_record(&v4, Some(&v3), 4),
        incident_record(&low, None, 5),
    ];
    // PagerDuty throttles the first attempt: retried, in order.
    pd.fault(Fault::TooMany {
        retry_after_secs: 0,
    });
    let r = forward::process(&d, &event(&recs), None).await;
    assert_eq!(r.first_failed, None, "{r:?}");
    let r = forward::drain(
        &d,
        chrono::Utc::now() + chrono::Duration::hours(1),
        None,
        "t",
    )
    .await;
    let _ = r;
    let actions: Vec<String> = pd.actions().into_iter().map(|(a, _)| a).collect();
    assert_eq!(
        actions,
        ["trigger", "acknowledge", "resolve"],
        "{:?}",
        pd.with(|s| s.invalid.clone())
    );
    assert!(pd.actions().iter().all(|(_, k)| *k == v1.id));
    assert_eq!(
        pd.with(|s| s.alerts.get(&v1.id).cloned()).as_deref(),
        Some("resolved")
    );
    assert!(pd.with(|s| s.invalid.is_empty()));
    let trigger = pd.with(|s| s.events[0].clone());
    assert_eq!(trigger["payload"]["severity"], "error");
    assert_eq!(
        trigger["payload"]["custom_details"]["incident_id"],
        v1.id.as_str()
    );
    // The stream redelivers the batch: nothing is sent twice.
    let r = forward::process(&d, &event(&recs), None).await;
    assert_eq!(r.first_failed, None);
    assert_eq!(pd.actions().len(), 3);

    // A 400 (bad event) is dead-lettered alone; a wrong key is the same class at PagerDuty.
    let mut v5 = v4.clone();
    v5.version = 5;
    v5.status = IncidentStatus::Open;
    pd.fault(Fault::Status(400));
    let r = forward::process(&d, &event(&[incident_record(&v5, Some(&v4), 6)]), None).await;
    assert_eq!(r.per_sink["pager"].dead_lettered, 1, "{r:?}");
}

/// One incident's life as chat channels see it: opened, a finding joins (nothing), an
/// escalation step, acknowledged, resolved; a LOW incident notifies nobody.
fn chat_lifecycle() -> (
    Vec<aws_lambda_events::event::dynamodb::EventRecord>,
    vigil_domain::incident::Incident,
) {
    use vigil_domain::IncidentStatus;
    let v1 = synthetic_incident("root credential use", 17, 1);
    let mut v2 = v1.clone();
    v2.version = 2;
    v2.finding_count = 2;
    v2.active_finding_count = 2;
    let mut v3 = v2.clone();
    v3.version = 3;
    v3.escalation.notify = vec!["secops-pager".into()];
    v3.escalation.done.push(vigil_domain::escalation::StepDone {
        step: "deadline".into(),
        n: 1,
        route: "secops-pager".into(),
        due: v1.first_seen,
        at: v1.first_seen,
        skipped: false,
    });
    let mut v4 = v3.clone();
    v4.version = 4;
    v4.escalation.notify.clear();
    v4.status = IncidentStatus::Acknowledged;
    v4.acknowledged_at = Some(v1.first_seen);
    let mut v5 = v4.clone();
    v5.version = 5;
    v5.status = IncidentStatus::Resolved;
    let mut low = synthetic_incident("low", 18, 1);
    low.severity = vigil_domain::asff::SeverityLabel::Low;
    (
        vec![
            incident_record(&v1, None, 1),
            incident_record(&v2, Some(&v1), 2),
            incident_record(&v3, Some(&v2), 3),
            incident_record(&v4, Some(&v3), 4),
            incident_record(&v5, Some(&v4), 5),
            incident_record(&low, None, 6),
        ],
        v5,
    )
}

#[tokio::test]
async fn slack_and_teams_hear_of_each_change_a_person_acts_on_once() {
    use vigil_e2e::receivers::chat::{ChatReceiver, Service};
    let slack = ChatReceiver::start(Service::Slack).await;
    let teams = ChatReceiver::start(Service::Teams).await;
    let yaml = format!(
        "sinks:\n  - {{type: slack, name: chat, allow_http: true, webhook_url: {{value: '{}'}}}}\n  - {{type: teams, name: teams, allow_http: true, webhook_url: {{value: '{}'}}}}",
        slack.url(),
        teams.url()
    );
    let ledger = Arc::new(MemoryLedger::default());
    let d = deps(&yaml, ledger.clone());
    let (recs, last) = chat_lifecycle();
    // Slack throttles the first post, Teams fails once: both retried, in order.
    slack.fault(Fault::TooMany {
        retry_after_secs: 0,
    });
    teams.fault(Fault::Busy);
    let r = forward::process(&d, &event(&recs), None).await;
    assert_eq!(r.first_failed, None, "{r:?}");
    let headers: Vec<String> = slack
        .messages()
        .iter()
        .map(|m| m["blocks"][0]["text"]["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        headers,
        [
            "[HIGH] root credential use: opened",
            "[HIGH] root credential use: escalated",
            "[HIGH] root credential use: acknowledged",
            "[HIGH] root credential use: resolved",
        ],
        "{:?}",
        slack.with(|s| s.invalid.clone())
    );
    let titles: Vec<String> = teams
        .messages()
        .iter()
        .map(|m| {
            m["attachments"][0]["content"]["body"][0]["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(titles.len(), 4, "{:?}", teams.with(|s| s.invalid.clone()));
    assert!(titles[1].ends_with("escalated"), "{titles:?}");
    // What a person needs is in the message: deadline, account, the incident id, a link.
    let opened = slack.messages()[0].to_string();
    for want in [
        "Respond by",
        "Account",
        "Findings",
        last.id.as_str(),
        "securityhub",
    ] {
        assert!(opened.contains(want), "{want} missing: {opened}");
    }
    let escalated = teams.messages()[1].to_string();
    assert!(escalated.contains("secops-pager"), "{escalated}");

    // The stream redelivers the batch: nothing is posted twice.
    let r = forward::process(&d, &event(&recs), None).await;
    assert_eq!(r.first_failed, None);
    assert_eq!((slack.messages().len(), teams.messages().len()), (4, 4));

    // A message Slack refuses (400) is dead-lettered alone; a removed webhook (404) parks the
    // sink as misconfigured and the version waits in the outbox.
    let mut v6 = last.clone();
    v6.version = 6;
    v6.status = vigil_domain::IncidentStatus::Open;
    slack.fault(Fault::Status(400));
    let r = forward::process(&d, &event(&[incident_record(&v6, Some(&last), 7)]), None).await;
    assert_eq!(r.per_sink["chat"].dead_lettered, 1, "{r:?}");
    assert_eq!(teams.messages().len(), 5, "the other sink is not held back");
    let mut v7 = v6.clone();
    v7.version = 7;
    v7.status = vigil_domain::IncidentStatus::Acknowledged;
    for _ in 0..3 {
        slack.fault(Fault::Status(404));
    }
    let r = forward::process(&d, &event(&[incident_record(&v7, Some(&v6), 8)]), None).await;
    assert_eq!(slack.messages().len(), 4);
    assert_eq!(r.first_failed, None, "parked, not failed: {r:?}");
    assert_eq!(
        ledger
            .outbox()
            .iter()
            .filter(|e| e.destination == "chat")
            .count(),
        1,
        "{:?}",
        ledger.outbox()
    );
}

#[tokio::test]
async fn sns_notices_reach_an_sqs_subscriber_with_filterable_attributes() {
    let Some(endpoint) = vigil_e2e::moto_endpoint() else {
        return;
    };
    let sns = vigil_e2e::sns_client(&endpoint);
    let sqs = vigil_e2e::sqs_client(&endpoint);
    let topic = sns
        .create_topic()
        .name(format!("vigil-notify-{}", std::process::id()))
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let queue = sqs
        .create_queue()
        .queue_name(format!("vigil-notify-sub-{}", std::process::id()))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    // A subscriber that wants only escalations and openings, by filter policy.
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(&queue_arn)
        .attributes("RawMessageDelivery", "false")
        .attributes(
            "FilterPolicy",
            r#"{"notice": ["opened", "escalated"], "severity": ["HIGH", "CRITICAL"]}"#,
        )
        .send()
        .await
        .unwrap();
    let yaml = format!("sinks:\n  - {{type: sns, name: topic, topic_arn: '{topic}'}}");
    let ledger = Arc::new(MemoryLedger::default());
    let mut d = deps(&yaml, ledger.clone());
    d.dispatcher = d
        .dispatcher
        .with_publisher(Arc::new(vigil_aws_sns::Sns::new(sns.clone())));
    let (recs, last) = chat_lifecycle();
    let r = forward::process(&d, &event(&recs), None).await;
    assert_eq!(r.first_failed, None, "{r:?}");
    let r = forward::process(&d, &event(&recs), None).await;
    assert_eq!(r.first_failed, None);

    let mut got: Vec<serde_json::Value> = Vec::new();
    for _ in 0..5 {
        let out = sqs
            .receive_message()
            .queue_url(&queue)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        for m in out.messages.unwrap_or_default() {
            got.push(serde_json::from_str(m.body().unwrap()).unwrap());
        }
    }
    // The SNS envelope: subject, text and the attributes the filter matched.
    let notices: Vec<&str> = got
        .iter()
        .map(|e| e["MessageAttributes"]["notice"]["Value"].as_str().unwrap())
        .collect();
    assert_eq!(notices, ["opened", "escalated"], "{got:#?}");
    let first = &got[0];
    assert!(first["Subject"]
        .as_str()
        .unwrap()
        .starts_with("Vigil [HIGH] root credential use: opened"));
    let text = first["Message"].as_str().unwrap();
    assert!(
        text.contains("Respond by: ") && text.contains(&last.id),
        "{text}"
    );
    assert_eq!(
        first["MessageAttributes"]["incident_id"]["Value"],
        last.id.as_str()
    );
    assert_eq!(first["MessageAttributes"]["severity"]["Value"], "HIGH");
}

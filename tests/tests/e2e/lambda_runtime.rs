//! End to end under the real Lambda runtime API: the `ingest` binary runs against the runtime
//! API emulator of `cargo lambda watch`, is invoked with fixture events, and the results are read
//! from DynamoDB Local.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use vigil_domain::incident::Incident;
use vigil_domain::FindingRecord;
use vigil_e2e::{ddb_endpoint, fixture_events, fresh_store, root, service};

/// Kills the child process when dropped.
struct Guard(Child);
impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

fn wait_for_port(port: u16) {
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "runtime API on :{port} did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A function binary built by `cargo build` (or the path in `var`).
fn binary(var: &str, name: &str) -> PathBuf {
    let bin = std::env::var(var)
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join("target/debug").join(name));
    assert!(
        bin.exists(),
        "{} not built (cargo build -p {name})",
        bin.display()
    );
    bin
}

/// `cargo lambda watch --only-lambda-apis` on a free port: the Lambda runtime API emulator.
fn start_runtime_api(cargo_lambda: &str) -> (Guard, u16) {
    let port = free_port();
    let watch = Guard(
        Command::new(cargo_lambda)
            .args([
                "lambda",
                "watch",
                "--only-lambda-apis",
                "-A",
                "127.0.0.1",
                "-P",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cargo lambda watch"),
    );
    wait_for_port(port);
    (watch, port)
}

/// The function process as Lambda starts it: runtime API, JSON logs at `level`, and
/// DynamoDB Local with dummy credentials.
fn function_command(bin: &PathBuf, port: u16, ddb: &str, level: &str) -> Command {
    let mut c = Command::new(bin);
    c.env(
        "AWS_LAMBDA_RUNTIME_API",
        format!("http://127.0.0.1:{port}/.rt"),
    )
    .env("AWS_LAMBDA_FUNCTION_NAME", "_")
    .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
    .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
    .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
    .env("AWS_LAMBDA_LOG_LEVEL", level)
    .env("AWS_ENDPOINT_URL_DYNAMODB", ddb)
    .env("AWS_REGION", "us-east-1")
    .env("AWS_ACCESS_KEY_ID", "local")
    .env("AWS_SECRET_ACCESS_KEY", "local");
    c
}

fn invoke(cargo_lambda: &str, port: u16, args: &[&str]) -> Output {
    Command::new(cargo_lambda)
        .args([
            "lambda",
            "invoke",
            "-A",
            "127.0.0.1",
            "-P",
            &port.to_string(),
        ])
        .args(args)
        .output()
        .expect("cargo lambda invoke")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_ingest_binary_under_the_lambda_runtime_api_turns_fixture_events_into_incidents() {
    let Some(ep) = ddb_endpoint() else { return };
    let Some(cargo_lambda) = service("VIGIL_CARGO_LAMBDA", "cargo-lambda") else {
        return;
    };
    let bin = binary("VIGIL_INGEST_BIN", "ingest");
    let store = fresh_store(&ep, "lambda").await;
    let (_watch, port) = start_runtime_api(&cargo_lambda);
    let log = std::env::temp_dir().join(format!("vigil-ingest-{port}.log"));
    let _function = Guard(
        function_command(&bin, port, &ep, "DEBUG")
            .env("TABLE_NAME", store.table())
            .env("VIGIL_RUNBOOK", root().join("examples/runbook.yaml"))
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("ingest binary"),
    );

    let mut new = 0;
    for (name, _) in fixture_events() {
        let path = root().join("tests/fixtures/events").join(&name);
        let out = invoke(
            &cargo_lambda,
            port,
            &["--data-file", path.to_str().unwrap()],
        );
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let summary: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{name}: {e}: {}", String::from_utf8_lossy(&out.stdout)));
        new += summary["new"].as_u64().unwrap();
    }
    assert_eq!(new, 15, "15 distinct findings in the fixtures");

    // Bad input does not kill the function: an error comes back, and the next event still works.
    let out = invoke(&cargo_lambda, port, &["--data-ascii", "this is not json"]);
    assert!(!out.status.success());
    let out = invoke(
        &cargo_lambda,
        port,
        &["--data-ascii", r#"{"detail-type": 42}"#],
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("NonRetryable")
            || String::from_utf8_lossy(&out.stdout).contains("NonRetryable"),
        "{} {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let again = root().join("tests/fixtures/events/040-gd-ssh-bruteforce-web1-update.json");
    let out = invoke(
        &cargo_lambda,
        port,
        &["--data-file", again.to_str().unwrap()],
    );
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (summary["duplicates"].as_u64(), summary["writes"].as_u64()),
        (Some(1), Some(0))
    );

    let incidents: Vec<Incident> = store.scan_kind("incident").await.unwrap();
    let findings: Vec<FindingRecord> = store.scan_kind("finding").await.unwrap();
    assert_eq!((incidents.len(), findings.len()), (10, 15));
    let web1 = incidents
        .iter()
        .find(|i| {
            i.correlation_key == "111111111111|ec2-instance:i-0a1b2c3d4e5f60001"
                && i.finding_count == 2
        })
        .expect("web-1 incident");
    assert_eq!(web1.severity.as_str(), "HIGH");
    assert_eq!(web1.account_name.as_deref(), Some("payments-prod"));
    assert!(web1.response_deadline.is_some());

    // JSON logs carry the structured fields; EMF lines carry the metrics.
    let logs = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(lines.iter().any(|l| l["fields"]["message"] == "new finding"
        && l["fields"]["incident_id"].is_string()
        && l["fields"]["finding_id"].is_string()
        && l["fields"]["account"].is_string()));
    assert!(lines
        .iter()
        .any(|l| l["_aws"]["CloudWatchMetrics"].is_array() && l["FindingsReceived"].is_number()));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_forward_binary_under_the_lambda_runtime_api_delivers_stream_batches_and_reports_failures(
) {
    use vigil_e2e::receivers::{hec::Hec, Fault};
    let Some(ep) = ddb_endpoint() else { return };
    let Some(cargo_lambda) = service("VIGIL_CARGO_LAMBDA", "cargo-lambda") else {
        return;
    };
    let bin = binary("VIGIL_FORWARD_BIN", "forward");

    // Incidents from the fixtures, and the table's real stream records.
    let store = fresh_store(&ep, "lambda-fwd").await;
    let ingest_deps = ingest::Deps {
        store,
        runbook: vigil_e2e::example_runbook(),
        settings: vigil_domain::Settings::default(),
        emit_metrics: false,
        live: None,
        facts: None,
    };
    for (_, ev) in fixture_events() {
        ingest::process(&ingest_deps, &ev.to_string())
            .await
            .unwrap();
    }
    let store = ingest_deps.store;
    let arn = vigil_aws_streams::stream_arn(store.client(), store.table())
        .await
        .unwrap();
    let mut poller = vigil_aws_streams::StreamPoller::new(vigil_e2e::streams_client(&ep), arn);
    let mut records = Vec::new();
    for _ in 0..3 {
        records.extend(poller.poll(1000).await.unwrap());
    }
    let forwardable: Vec<_> = records
        .iter()
        .filter(|r| {
            matches!(
                forward::stream::decode(r).outcome,
                forward::stream::RecordOutcome::Forward(_)
            )
        })
        .cloned()
        .collect();
    assert!(forwardable.len() >= 10);
    let (first, second) = forwardable.split_at(forwardable.len() / 2);

    let token = "0f0f0f0f-1e1e-2d2d-3c3c-4b4b4b4b4b4b";
    let hec = Hec::start(token).await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("hec-token");
    std::fs::write(&token_file, token).unwrap();
    let sinks = format!(
        "sinks:\n  - {{type: hec, name: splunk, url: '{}', allow_http: true, token: {{file: '{}'}}}}\nretry: {{attempts: 2, base_delay_ms: 1, max_delay_ms: 2}}\noutbox: {{base_delay_secs: 1, max_delay_secs: 1}}\n",
        hec.url(),
        token_file.display()
    );

    let (_watch, port) = start_runtime_api(&cargo_lambda);
    let log = dir.path().join("forward.log");
    let _function = Guard(
        function_command(&bin, port, &ep, "TRACE")
            .env("TABLE_NAME", store.table())
            .env("VIGIL_SINKS", &sinks)
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(dir.path().join("forward.err")).unwrap())
            .spawn()
            .expect("forward binary"),
    );

    let invoke_batch = |recs: &[aws_lambda_events::event::dynamodb::EventRecord]| {
        let mut event = aws_lambda_events::event::dynamodb::Event::default();
        event.records = recs.to_vec();
        let path = dir.path().join(format!("batch-{}.json", recs.len()));
        std::fs::write(&path, serde_json::to_vec(&event).unwrap()).unwrap();
        let out = invoke(
            &cargo_lambda,
            port,
            &["--data-file", path.to_str().unwrap()],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let resp = invoke_batch(first);
    assert_eq!(resp["batchItemFailures"], serde_json::json!([]), "{resp}");
    assert_eq!(hec.incident_keys().len(), first.len());

    // HEC busy for longer than the invocation retries: the versions wait in the outbox and the
    // batch succeeds; the next scheduled drain (`{"vigil": "drain"}`) delivers them.
    for _ in 0..10 {
        hec.fault(Fault::Busy);
    }
    let resp = invoke_batch(second);
    assert_eq!(resp["batchItemFailures"], serde_json::json!([]), "{resp}");
    assert_eq!(hec.incident_keys().len(), first.len());
    hec.with(|s| s.faults.clear());
    std::thread::sleep(Duration::from_millis(1500));
    let drain = dir.path().join("drain.json");
    std::fs::write(&drain, r#"{"vigil": "drain"}"#).unwrap();
    let out = invoke(
        &cargo_lambda,
        port,
        &["--data-file", drain.to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let resp: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(resp["due"].as_u64(), Some(second.len() as u64), "{resp}");
    assert_eq!(hec.incident_keys().len(), forwardable.len());

    // When the table itself fails the forwarder (here: it does not exist), nothing is durable:
    // the response names the first record, for Lambda to retry from it.
    let (_watch2, port2) = start_runtime_api(&cargo_lambda);
    let _broken = Guard(
        function_command(&bin, port2, &ep, "INFO")
            .env("TABLE_NAME", "vigil-no-such-table")
            .env("VIGIL_SINKS", &sinks)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("forward binary"),
    );
    let mut event = aws_lambda_events::event::dynamodb::Event::default();
    event.records = second.to_vec();
    let path = dir.path().join("broken.json");
    std::fs::write(&path, serde_json::to_vec(&event).unwrap()).unwrap();
    let out = invoke(
        &cargo_lambda,
        port2,
        &["--data-file", path.to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let resp: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        resp["batchItemFailures"][0]["itemIdentifier"].as_str(),
        second[0].change.sequence_number.as_deref(),
        "{resp}"
    );

    // JSON logs with structured fields and EMF metrics per sink; the token is never logged,
    // even at TRACE.
    let logs = std::fs::read_to_string(&log).unwrap()
        + &std::fs::read_to_string(dir.path().join("forward.err")).unwrap();
    assert!(!logs.contains(token), "the HEC token appeared in the logs");
    assert!(
        !logs.contains("0f0f0f0f"),
        "part of the HEC token appeared in the logs"
    );
    let lines: Vec<Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(lines
        .iter()
        .any(|l| l["fields"]["message"] == "incident delivered"
            && l["fields"]["incident_id"].is_string()
            && l["fields"]["sink"] == "splunk"));
    assert!(lines
        .iter()
        .any(|l| l["Sink"] == "splunk" && l["DeliveryFailures"].as_u64() > Some(0)));
    assert!(lines
        .iter()
        .any(|l| l["Sink"] == "splunk" && l["Queued"].as_u64() > Some(0)));
    assert!(lines
        .iter()
        .any(|l| l["Sink"] == "splunk" && l["OutboxDeliveries"].as_u64() > Some(0)));
    assert!(lines
        .iter()
        .any(|l| l["Sink"] == "splunk" && l["Deliveries"].as_u64() > Some(0)));
}

/// The `manage` binary under the runtime API: a scheduled invocation with a runbook whose
/// `manage:` scope is an OU of two accounts (moto's Organizations), against the GuardDuty and
/// Security Hub fakes, uploads its list to moto's S3, applies enrolment and reports the rest
/// as drift (report only), with its EMF line; a second invocation applies nothing; an
/// account event for an account Organizations does not list fails (so Lambda retries it).
#[tokio::test(flavor = "multi_thread")]
async fn the_manage_binary_under_the_lambda_runtime_api_enrols_and_reports_drift() {
    let Some(moto) = vigil_e2e::moto_endpoint() else {
        return;
    };
    let Some(cargo_lambda) = service("VIGIL_CARGO_LAMBDA", "cargo-lambda") else {
        return;
    };
    let bin = binary("VIGIL_MANAGE_BIN", "manage");
    let tag = format!("{:06x}", rand::random::<u32>() & 0xffffff);
    let org = vigil_e2e::organizations_client(&moto);
    let _ = org.create_organization().send().await;
    let root_id = org.list_roots().send().await.unwrap().roots()[0]
        .id()
        .unwrap()
        .to_owned();
    let ou_name = format!("Lambda-{tag}");
    let ou = org
        .create_organizational_unit()
        .parent_id(&root_id)
        .name(&ou_name)
        .send()
        .await
        .unwrap()
        .organizational_unit()
        .unwrap()
        .id()
        .unwrap()
        .to_owned();
    let mut accounts = Vec::new();
    for i in 0..2 {
        accounts
            .push(crate::managed::new_account(&org, &format!("lr{i}-{tag}"), &root_id, &ou).await);
    }
    let bucket = format!("vigil-lists-{tag}");
    vigil_e2e::s3_client(&moto)
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let gd = vigil_e2e::fakes::guardduty::GuardDutyFake::start("999999999999").await;
    let sh = vigil_e2e::fakes::securityhub::SecurityHubFake::start().await;
    gd.with(|w| {
        for a in &accounts {
            w.org_accounts.insert(a.clone(), format!("{a}@example.com"));
        }
    });
    sh.admin(|s| {
        s.admin = "999999999999".into();
        s.org_accounts.extend(accounts.iter().cloned());
    });
    let runbook = format!(
        "manage:\n  regions: [us-east-1]\n  scope: {{ organizational_units: [\"{ou_name}\"] }}\n  guardduty:\n    finding_publishing_frequency: ONE_HOUR\n    trusted_ip_list: {{ name: vigil-trusted, entries: [192.0.2.1] }}\n  securityhub:\n    insights:\n      - name: vigil-critical\n        group_by: AwsAccountId\n        filters: {{ SeverityLabel: [{{ Value: CRITICAL, Comparison: EQUALS }}] }}\n"
    );
    let (_watch, port) = start_runtime_api(&cargo_lambda);
    let log = std::env::temp_dir().join(format!("vigil-manage-{port}.log"));
    let _function = Guard(
        function_command(&bin, port, "http://127.0.0.1:1", "INFO")
            .env("VIGIL_RUNBOOK_YAML", &runbook)
            .env("VIGIL_MANAGE_BUCKET", &bucket)
            .env("VIGIL_ADMIN_ACCOUNT", "999999999999")
            .env("AWS_ENDPOINT_URL_GUARDDUTY", gd.endpoint())
            .env("AWS_ENDPOINT_URL_SECURITYHUB", sh.endpoint())
            .env("AWS_ENDPOINT_URL_ORGANIZATIONS", &moto)
            .env("AWS_ENDPOINT_URL_S3", &moto)
            .env("VIGIL_S3_FORCE_PATH_STYLE", "1")
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("manage binary"),
    );
    let scheduled = r#"{"source": "vigil.scheduler", "detail-type": "Vigil Manage", "detail": {}}"#;
    // The administrator has a detector and a hub in the Region (enrolment needs both).
    gd.client("us-east-1")
        .create_detector()
        .enable(true)
        .send()
        .await
        .unwrap();
    sh.admin(|s| s.regions.entry("us-east-1".into()).or_default().enabled = true);
    let out = tokio::task::spawn_blocking({
        let cl = cargo_lambda.clone();
        move || invoke(&cl, port, &["--data-ascii", scheduled])
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    // Enrolment in both services applied; frequency, list, insight and 4 action targets are
    // drift, reported and left.
    assert_eq!(summary["applied"], 2, "{summary}");
    assert_eq!(summary["drift_unapplied"], 7, "{summary}");
    for a in &accounts {
        assert_eq!(
            gd.detector("us-east-1").members[a]["relationshipStatus"],
            "Enabled"
        );
    }
    let again = tokio::task::spawn_blocking({
        let cl = cargo_lambda.clone();
        move || invoke(&cl, port, &["--data-ascii", scheduled])
    })
    .await
    .unwrap();
    let summary: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(summary["applied"], 0, "{summary}");
    let unknown = r#"{"source": "aws.organizations", "detail": {"eventName": "CreateAccountResult", "serviceEventDetails": {"createAccountStatus": {"state": "SUCCEEDED", "accountId": "999999999990"}}}}"#;
    let failed = tokio::task::spawn_blocking({
        let cl = cargo_lambda.clone();
        move || invoke(&cl, port, &["--data-ascii", unknown])
    })
    .await
    .unwrap();
    assert!(!failed.status.success());
    let logs = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(lines
        .iter()
        .any(|l| l["_aws"]["CloudWatchMetrics"].is_array()
            && l["ManageDrift"] == 7
            && l["Function"] == "manage"));
    assert!(lines
        .iter()
        .any(|l| l["fields"]["message"] == "manage: drift" && l["fields"]["resource"].is_string()));
}

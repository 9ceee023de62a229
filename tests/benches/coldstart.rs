//! Cold start of the release `ingest` bootstrap against a hello-world `lambda_runtime`
//! bootstrap built the same way (`tests/src/bin/hello_lambda.rs`), for `make bench`.
//!
//! A local Lambda runtime API (this file) serves the events. For each of 11 trials per
//! binary: spawn it; **init** is the time from spawn to its first `GET .../invocation/next`;
//! then one 100-finding event (new findings, against DynamoDB Local) is the **first**
//! invocation, and five more 100-finding events of new findings are **warm** ones (median),
//! each timed from serving the event to receiving the response. Peak RSS (`VmHWM`) is read
//! after the six invocations. Medians over the trials; prints one `BENCH_JSON {...}` line.
//!
//! Needs `VIGIL_INGEST_BOOTSTRAP`, `VIGIL_HELLO_BOOTSTRAP` (paths) and DynamoDB Local.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::Notify;

#[derive(Default)]
struct Api {
    queue: VecDeque<(String, String)>,
    first_next: Option<Instant>,
    served: Vec<(String, Instant)>,
    answered: Vec<(String, Instant, bool)>,
}

type Shared = (Arc<Mutex<Api>>, Arc<Notify>, Arc<Notify>);

async fn next(State((api, ready, _)): State<Shared>) -> Response {
    {
        let mut a = api.lock().unwrap();
        a.first_next.get_or_insert_with(Instant::now);
    }
    loop {
        let item = api.lock().unwrap().queue.pop_front();
        if let Some((id, body)) = item {
            api.lock()
                .unwrap()
                .served
                .push((id.clone(), Instant::now()));
            let mut h = HeaderMap::new();
            let deadline = chrono::Utc::now().timestamp_millis() + 60_000;
            h.insert(
                "lambda-runtime-aws-request-id",
                HeaderValue::from_str(&id).unwrap(),
            );
            h.insert(
                "lambda-runtime-deadline-ms",
                HeaderValue::from_str(&deadline.to_string()).unwrap(),
            );
            h.insert(
                "lambda-runtime-invoked-function-arn",
                HeaderValue::from_static("arn:aws:lambda:us-east-1:000000000000:function:bench"),
            );
            h.insert("content-type", HeaderValue::from_static("application/json"));
            return (StatusCode::OK, h, body).into_response();
        }
        ready.notified().await;
    }
}

async fn respond(
    State((api, _, done)): State<Shared>,
    Path(id): Path<String>,
    _body: Bytes,
) -> StatusCode {
    api.lock()
        .unwrap()
        .answered
        .push((id, Instant::now(), true));
    done.notify_one();
    StatusCode::ACCEPTED
}

async fn error(
    State((api, _, done)): State<Shared>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    eprintln!("invocation {id} failed: {}", String::from_utf8_lossy(&body));
    api.lock()
        .unwrap()
        .answered
        .push((id, Instant::now(), false));
    done.notify_one();
    StatusCode::ACCEPTED
}

async fn init_error(body: Bytes) -> StatusCode {
    eprintln!("init error: {}", String::from_utf8_lossy(&body));
    StatusCode::ACCEPTED
}

struct Trial {
    init: Duration,
    first: Duration,
    warm: Duration,
    peak_rss_kb: u64,
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A 100-finding event of fresh findings (`tag` makes the ids unique).
fn event(base: &[Value], tag: &str) -> String {
    let findings: Vec<Value> = (0..100)
        .map(|i| {
            let mut f = base[i % base.len()].clone();
            f["Id"] = Value::String(format!(
                "{}-cold-{tag}-{i}",
                f["Id"].as_str().unwrap_or("f")
            ));
            f
        })
        .collect();
    vigil_e2e::envelope(&format!("cold-{tag}"), findings).to_string()
}

async fn trial(
    shared: &Shared,
    port: u16,
    binary: &str,
    env: &[(String, String)],
    events: Vec<String>,
) -> Trial {
    let (api, ready, done) = shared;
    *api.lock().unwrap() = Api::default();
    let spawned = Instant::now();
    let mut child: Child = Command::new(binary)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_LAMBDA_LOG_LEVEL", "WARN")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("{binary}: {e}"));
    let init = loop {
        if let Some(t) = api.lock().unwrap().first_next {
            break t - spawned;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{binary} exited during init: {status}");
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    };
    let mut times = Vec::new();
    for (i, body) in events.into_iter().enumerate() {
        let id = format!("req-{i}");
        api.lock().unwrap().queue.push_back((id.clone(), body));
        ready.notify_one();
        loop {
            let got = {
                let a = api.lock().unwrap();
                let served = a.served.iter().find(|(x, _)| *x == id).map(|(_, t)| *t);
                let answered = a
                    .answered
                    .iter()
                    .find(|(x, _, _)| *x == id)
                    .map(|(_, t, ok)| (*t, *ok));
                served.zip(answered)
            };
            if let Some((s, (a, ok))) = got {
                assert!(ok, "{binary}: invocation {i} failed");
                times.push(a - s);
                break;
            }
            let _ = tokio::time::timeout(Duration::from_millis(50), done.notified()).await;
        }
    }
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
    let peak_rss_kb = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let _ = child.kill();
    let _ = child.wait();
    Trial {
        init,
        first: times[0],
        warm: median(times[1..].to_vec()),
        peak_rss_kb,
    }
}

fn main() {
    let (Ok(ingest), Ok(hello)) = (
        std::env::var("VIGIL_INGEST_BOOTSTRAP"),
        std::env::var("VIGIL_HELLO_BOOTSTRAP"),
    ) else {
        eprintln!(
            "SKIP: set VIGIL_INGEST_BOOTSTRAP and VIGIL_HELLO_BOOTSTRAP (see scripts/bench.sh)"
        );
        return;
    };
    let Some(ep) = vigil_e2e::ddb_endpoint() else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let table = vigil_e2e::fresh_store(&ep, "bench-cold")
            .await
            .table()
            .to_owned();
        let shared: Shared = (
            Arc::default(),
            Arc::new(Notify::new()),
            Arc::new(Notify::new()),
        );
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(respond),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let base = vigil_e2e::base_findings(false);
        let env: Vec<(String, String)> = [
            ("TABLE_NAME", table.as_str()),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "local"),
            ("AWS_SECRET_ACCESS_KEY", "local"),
            ("AWS_ENDPOINT_URL_DYNAMODB", ep.as_str()),
            (
                "VIGIL_RUNBOOK",
                &vigil_e2e::root()
                    .join("examples/runbook.yaml")
                    .display()
                    .to_string(),
            ),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        // Warm the page cache for both binaries first.
        let _ = std::fs::read(&ingest);
        let _ = std::fs::read(&hello);
        let (mut ing, mut hel) = (Vec::new(), Vec::new());
        for t in 0..11 {
            let events: Vec<String> = (0..6).map(|i| event(&base, &format!("{t}-{i}"))).collect();
            ing.push(trial(&shared, port, &ingest, &env, events).await);
            let small: Vec<String> = (0..6).map(|i| json!({"n": i}).to_string()).collect();
            hel.push(trial(&shared, port, &hello, &env, small).await);
        }
        let m = |v: &[Trial], f: fn(&Trial) -> Duration| median(v.iter().map(f).collect());
        let (i_init, h_init) = (m(&ing, |t| t.init), m(&hel, |t| t.init));
        let (first, warm) = (m(&ing, |t| t.first), m(&ing, |t| t.warm));
        let mut rss: Vec<u64> = ing.iter().map(|t| t.peak_rss_kb).collect();
        rss.sort();
        let out = json!({
            "init_ms": ms(i_init),
            "hello_init_ms": ms(h_init),
            "init_vs_hello_ratio": ms(i_init) / ms(h_init),
            "first_invoke_ms": ms(first),
            "warm_invoke_ms": ms(warm),
            "first_vs_warm_invoke_ratio": ms(first) / ms(warm),
            "hello_first_invoke_ms": ms(m(&hel, |t| t.first)),
            "peak_rss_kb_100_finding_events": rss[rss.len() / 2],
            "cold_trials": ing.len(),
        });
        println!("BENCH_JSON {out}");
    });
}

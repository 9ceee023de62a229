#!/usr/bin/env bash
# make bench: reproducible performance figures (see docs/performance.md).
#  1. Criterion: parse+enrich+correlate and in-memory ingest throughput, pinned to one core.
#  2. DynamoDB write requests per delivered finding on a stream that is half duplicates/updates
#     (DynamoDB Local; counts requests, not time).
#  3. Release x86_64 bootstrap (cargo-lambda): size, and peak RSS while handling a 100-finding
#     event under the Lambda runtime API emulator against DynamoDB Local.
#  4. Forwarder: Criterion incidents/s for a 100-record stream batch to a local HEC receiver and
#     a webhook receiver, bytes per incident, and the release forward binary's peak RSS on that
#     batch (HEC sink, delivery state in DynamoDB Local).
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
out="$LOCAL/bench"
mkdir -p "$out"
started=0
cleanup() {
  [ "$started" = 1 ] && ddb_stop
  [ -n "${watch_pid:-}" ] && kill "$watch_pid" 2>/dev/null || true
  [ -n "${fn_pid:-}" ] && kill "$fn_pid" 2>/dev/null || true
  [ -n "${fwd_pid:-}" ] && kill "$fwd_pid" 2>/dev/null || true
  [ -n "${hec_pid:-}" ] && kill "$hec_pid" 2>/dev/null || true
}
trap cleanup EXIT
pin=()
command -v taskset >/dev/null && pin=(taskset -c 0)

log "1/4 Criterion (one core)"
"${pin[@]}" cargo bench -p vigil-domain --bench pipeline -- --noplot 2>&1 | tee "$out/criterion.txt" \
  | grep -E "^(parse|ingest)|thrpt|time:" || true

pidfile="$LOCAL/ddb.pid"
if ! { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }; then started=1; fi
ddb_start
ensure_cargo_lambda

log "2/4 write requests per finding (DynamoDB Local)"
VIGIL_REQUIRE_SERVICES=1 cargo test -q -p vigil-e2e --test concurrency write_requests_per_finding -- --nocapture 2>&1 \
  | tee "$out/writes.txt" | grep BENCH

log "3/4 release bootstrap: size and peak RSS on a 100-finding event"
cargo lambda build --release --x86-64 --bin ingest --bin forward --lambda-dir target/lambda-x86_64 2>&1 | tail -1
boot="target/lambda-x86_64/ingest/bootstrap"
size=$(stat -c %s "$boot")
python3 - "$out/event-100.json" <<'PY'
import json, glob, sys
findings = []
for f in sorted(glob.glob("tests/fixtures/events/*.json")):
    findings += json.load(open(f))["detail"]["findings"]
event = json.load(open(sorted(glob.glob("tests/fixtures/events/*.json"))[0]))
event["detail"]["findings"] = []
for i in range(100):
    f = json.loads(json.dumps(findings[i % len(findings)]))
    f["Id"] = f["Id"] + "-rss-%d" % i
    event["detail"]["findings"].append(f)
json.dump(event, open(sys.argv[1], "w"))
PY
port=9411
cargo lambda watch --only-lambda-apis -A 127.0.0.1 -P "$port" >"$out/watch.log" 2>&1 &
watch_pid=$!
for _ in $(seq 1 100); do port_open "$port" && break; sleep 0.1; done
export TABLE_NAME="vigil-bench-$(date +%s)"
cargo run -q -p vigil -- init-table >/dev/null
AWS_LAMBDA_RUNTIME_API="http://127.0.0.1:$port/.rt" AWS_LAMBDA_FUNCTION_NAME=_ AWS_LAMBDA_FUNCTION_VERSION=1 \
AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256 VIGIL_RUNBOOK="$ROOT/examples/runbook.yaml" "$boot" >"$out/function.log" 2>&1 &
fn_pid=$!
sleep 0.5
idle_rss=$(awk '/VmRSS/{print $2}' "/proc/$fn_pid/status")
cargo lambda invoke -A 127.0.0.1 -P "$port" --data-file "$out/event-100.json" >"$out/invoke-100.json"
cargo lambda invoke -A 127.0.0.1 -P "$port" --data-file "$out/event-100.json" >"$out/invoke-100-dup.json"
peak_kb=$(awk '/VmHWM/{print $2}' "/proc/$fn_pid/status")
kill "$fn_pid" 2>/dev/null || true

log "4/4 forwarder: Criterion to local HEC/webhook receivers, then the release binary's RSS"
"${pin[@]}" cargo bench -p vigil-e2e --bench forward -- --noplot 2>&1 | tee "$out/forward-criterion.txt" \
  | grep -E "^forward|thrpt|time:|BENCH" || true
# A minimal HEC that accepts everything (the protocol-checking one lives in the test crate).
hec_port=9412
python3 - "$hec_port" >"$out/hec.log" 2>&1 <<'PY' &
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        body = b'{"text":"Success","code":0}'
        self.send_response(200); self.send_header("content-length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
hec_pid=$!
for _ in $(seq 1 50); do port_open "$hec_port" && break; sleep 0.1; done
fboot="target/lambda-x86_64/forward/bootstrap"
fsize=$(stat -c %s "$fboot")
export TABLE_NAME="vigil-bench-fwd-$(date +%s)"
cargo run -q -p vigil -- init-table >/dev/null
AWS_LAMBDA_RUNTIME_API="http://127.0.0.1:$port/.rt" AWS_LAMBDA_FUNCTION_NAME=_ AWS_LAMBDA_FUNCTION_VERSION=1 \
AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256 \
VIGIL_SINKS="sinks: [{type: hec, name: splunk, url: 'http://127.0.0.1:$hec_port', allow_http: true, token: {value: bench}}]" \
  "$fboot" >"$out/forward.log" 2>&1 &
fwd_pid=$!
sleep 0.5
fwd_idle=$(awk '/VmRSS/{print $2}' "/proc/$fwd_pid/status")
start_ns=$(date +%s%N)
cargo lambda invoke -A 127.0.0.1 -P "$port" --data-file target/bench/stream-100.json >"$out/forward-invoke-1.json"
end_ns=$(date +%s%N)
cargo lambda invoke -A 127.0.0.1 -P "$port" --data-file target/bench/stream-100.json >"$out/forward-invoke-2.json"
fwd_peak=$(awk '/VmHWM/{print $2}' "/proc/$fwd_pid/status")
delivered=$(grep -o '"Deliveries":[0-9]*' "$out/forward.log" | head -1)

echo
echo "== results =="
grep -E "^(parse|ingest)" -A3 "$out/criterion.txt" | grep -E "^(parse|ingest)|thrpt" || true
grep -o "BENCH.*" "$out/writes.txt"
echo "bootstrap_bytes=$size ($(awk -v s="$size" 'BEGIN{printf "%.1f MB", s/1048576}'))"
echo "rss_idle_kb=$idle_rss peak_rss_kb_after_100_finding_event=$peak_kb ($(awk -v s="$peak_kb" 'BEGIN{printf "%.1f MB", s/1024}'))"
echo "first invoke:  $(cat "$out/invoke-100.json")"
echo "second invoke: $(cat "$out/invoke-100-dup.json")"
echo "-- forwarder --"
grep -E "^forward/" -A3 "$out/forward-criterion.txt" | grep -E "^forward/|thrpt" || true
grep -o "BENCH.*" "$out/forward-criterion.txt" || true
echo "forward_bootstrap_bytes=$fsize ($(awk -v s="$fsize" 'BEGIN{printf "%.1f MB", s/1048576}'))"
echo "forward_rss_idle_kb=$fwd_idle forward_peak_rss_kb_after_100_record_batch=$fwd_peak ($(awk -v s="$fwd_peak" 'BEGIN{printf "%.1f MB", s/1024}'))"
echo "forward release binary, 100-record batch with DynamoDB Local ledger: $(( (end_ns - start_ns) / 1000000 )) ms wall incl. cargo lambda invoke ($delivered)"
echo "second invoke (all already delivered): $(cat "$out/forward-invoke-2.json")"

#!/usr/bin/env bash
# make bench: reproducible performance figures, each beside a reference measured in the same
# run (see docs/performance.md). Writes .local/bench/summary.json and the figures table of
# docs/performance.md.
#  1. Hot path (Criterion, one core): raw event bytes -> planned and applied writes, and the
#     finding parser against the Value model it replaced. Writes the events it used.
#  2. The Python reference (bench/reference.py) on the same event bytes, one core.
#  3. DynamoDB Local: write units per new finding and per delivery (organisation stream),
#     10,000 deliveries with 8 workers, the forwarder's top-findings reads batched vs per incident.
#  4. Release x86_64 bootstraps (cargo-lambda): cold init against a hello-world lambda_runtime
#     bootstrap, first vs warm invocation, peak RSS.
#  5. Release arm64 bootstraps (as deployed): size.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
out="$LOCAL/bench"
mkdir -p "$out"
started=0
cleanup() { [ "$started" = 1 ] && ddb_stop; return 0; }
trap cleanup EXIT
pin=()
command -v taskset >/dev/null && pin=(taskset -c 0)

# The Python reference's one dependency, pinned, in its own venv.
venv="$LOCAL/venv-bench"
if ! "$venv/bin/python" -c 'import yaml' 2>/dev/null; then
  log "creating $venv (PyYAML)"
  rm -rf "$venv"
  python3 -m venv "$venv" 2>/dev/null || { apt_install python3-venv; rm -rf "$venv"; python3 -m venv "$venv"; }
  "$venv/bin/pip" install --quiet --disable-pip-version-check "PyYAML==6.0.2"
fi

log "1/5 hot path (Criterion, one core)"
VIGIL_BENCH_EVENTS_WRITE="$out/events.json" "${pin[@]}" cargo bench -p ingest --bench hot_path -- --noplot \
  >"$out/hot_path.out" 2>"$out/hot_path.txt"
grep -E "^(hot_path|parse)/|thrpt" "$out/hot_path.out" || true

log "2/5 Python reference on the same events (one core)"
"${pin[@]}" "$venv/bin/python" bench/reference.py "$out/events.json" examples/runbook.yaml --seconds 10 \
  | tee "$out/python.json"

pidfile="$LOCAL/ddb.pid"
if ! { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }; then started=1; fi
ddb_start
ensure_cargo_lambda
export VIGIL_REQUIRE_SERVICES=1

log "3/5 DynamoDB Local: write units, 10,000 deliveries with 8 workers, forwarder reads"
cargo bench -p vigil-e2e --bench store 2>"$out/store.log" | grep -o 'BENCH_JSON .*' | cut -d' ' -f2- >"$out/store.json"
cat "$out/store.json"

log "4/5 release x86_64 bootstraps: cold start against hello-world, RSS"
cargo lambda build --release --x86-64 --bin ingest --bin forward --bin hello_lambda \
  --lambda-dir target/lambda-x86_64 2>&1 | tail -1
VIGIL_INGEST_BOOTSTRAP="$ROOT/target/lambda-x86_64/ingest/bootstrap" \
VIGIL_HELLO_BOOTSTRAP="$ROOT/target/lambda-x86_64/hello_lambda/bootstrap" \
  cargo bench -p vigil-e2e --bench coldstart 2>"$out/cold.log" | grep -o 'BENCH_JSON .*' | cut -d' ' -f2- >"$out/cold.json"
cat "$out/cold.json"

log "5/5 release arm64 bootstraps (as deployed): size"
cargo lambda build --release --arm64 --bin ingest --bin forward 2>&1 | tail -1
python3 - "$out/sizes.json" <<'PY'
import json, os, sys
sizes = {}
for arch, d in (("arm64", "target/lambda"), ("x86_64", "target/lambda-x86_64")):
    for fn in ("ingest", "forward", "hello_lambda"):
        p = os.path.join(d, fn, "bootstrap")
        if os.path.exists(p):
            sizes[f"{arch}_{fn}_bootstrap_bytes"] = os.path.getsize(p)
json.dump(sizes, open(sys.argv[1], "w"))
print(json.dumps(sizes))
PY

log "summary"
python3 bench/summary.py "$out"
log "wrote $out/summary.json and the table in docs/performance.md"

#!/usr/bin/env bash
# make test: every check CI runs. Installs and starts what it needs; stops what it started.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
export VIGIL_REQUIRE_SERVICES=1
started=0
cleanup() { [ "$started" = 1 ] && ddb_stop; return 0; }
trap cleanup EXIT

log "format check"
cargo fmt --all -- --check

log "clippy (warnings are errors)"
cargo clippy --workspace --all-targets -- -D warnings

log "infrastructure template lint"
bash scripts/lint-infra.sh

pidfile="$LOCAL/ddb.pid"
if ! { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }; then started=1; fi
ddb_start
ensure_cargo_lambda
ensure_rsyslog  # exports VIGIL_RSYSLOGD: the TLS syslog receiver of the forwarder's tests

log "building binaries for the end-to-end tests"
cargo build --workspace --bins
export VIGIL_INGEST_BIN="$ROOT/target/debug/ingest"
export VIGIL_FORWARD_BIN="$ROOT/target/debug/forward"

log "running every test"
if command -v cargo-nextest >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast --failure-output final
else
  cargo test --workspace --no-fail-fast
fi

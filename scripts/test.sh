#!/usr/bin/env bash
# make test: every check CI runs. Installs and starts what it needs; stops what it started.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
export VIGIL_REQUIRE_SERVICES=1
# A one-off build gains nothing from incremental artifacts, which cost disk (set 1 to keep them).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
started=0
moto_started=0
cleanup() { [ "$started" = 1 ] && ddb_stop; [ "$moto_started" = 1 ] && moto_stop; return 0; }
trap cleanup EXIT

log "format check"
cargo fmt --all -- --check

log "clippy (warnings are errors)"
cargo clippy --workspace --all-targets -- -D warnings

log "unused dependencies (cargo-machete)"
ensure_cargo_machete
"$CARGO_MACHETE"

log "infrastructure template lint"
bash scripts/lint-infra.sh

pidfile="$LOCAL/ddb.pid"
if ! { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }; then started=1; fi
ddb_start
if ! { [ -f "$LOCAL/moto.pid" ] && kill -0 "$(cat "$LOCAL/moto.pid")" 2>/dev/null; }; then moto_started=1; fi
moto_start  # exports VIGIL_MOTO_ENDPOINT: S3 (the deployed runbook) and Organizations (account facts)
ensure_cargo_lambda
ensure_rsyslog  # exports VIGIL_RSYSLOGD: the TLS syslog receiver of the forwarder's tests

# One build of every target: the tests' dev-dependency features (the SDK's test-util) unify
# with the binaries', so nextest below rebuilds nothing.
log "building the workspace (binaries for the end-to-end tests, and every test)"
cargo build --workspace --all-targets
log "build done: target/ holds $(du -sh target 2>/dev/null | cut -f1), $(df -h . | awk 'NR==2 {print $4}') left on the disk"
export VIGIL_INGEST_BIN="$ROOT/target/debug/ingest"
export VIGIL_FORWARD_BIN="$ROOT/target/debug/forward"
export VIGIL_MANAGE_BIN="$ROOT/target/debug/manage"

log "running every test"
if command -v cargo-nextest >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast --failure-output final
else
  cargo test --workspace --no-fail-fast
fi

#!/usr/bin/env bash
# make demo: sample findings -> the real ingest pipeline -> DynamoDB Local -> a table of incidents.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
started=0
cleanup() { [ "$started" = 1 ] && ddb_stop; return 0; }
trap cleanup EXIT
pidfile="$LOCAL/ddb.pid"
if ! { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }; then started=1; fi
ddb_start
log "building the vigil CLI (debug)"
cargo build --quiet -p vigil
export TABLE_NAME="vigil-demo-$(date +%s)"
export VIGIL_RUNBOOK="$ROOT/examples/runbook.yaml"
VIGIL="$ROOT/target/debug/vigil"
"$VIGIL" init-table
log "replaying tests/fixtures/events (EventBridge events, in file order) through the ingest handler"
"$VIGIL" replay tests/fixtures/events
echo
log "incidents in $TABLE_NAME:"
"$VIGIL" incidents
echo
log "the same incidents with their findings: $VIGIL incidents --findings   (JSON: --json)"
"$VIGIL" incidents --open --findings | sed -n '/^$/,$p' | head -40

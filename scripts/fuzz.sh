#!/usr/bin/env bash
# make fuzz: the cargo-fuzz target over the ingest event parser (tests/fuzz), seeded with the
# fixture events, for FUZZ_SECONDS (default 600). Needs a nightly toolchain (rustup); not part
# of CI. Crashes land in tests/fuzz/artifacts/event/.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
CARGO_FUZZ_VERSION=0.13.1
if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
  log "installing cargo-fuzz $CARGO_FUZZ_VERSION"
  cargo install --locked --quiet cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi
corpus=tests/fuzz/corpus/event
mkdir -p "$corpus"
for f in tests/fixtures/events/*.json; do cp -n "$f" "$corpus/"; done
log "fuzzing for ${FUZZ_SECONDS:-600} s"
cargo +nightly fuzz run --fuzz-dir tests/fuzz event "$corpus" -- \
  -max_total_time="${FUZZ_SECONDS:-600}" -max_len=65536 -rss_limit_mb=4096 2>&1 | tee "$LOCAL/fuzz.log" | tail -25

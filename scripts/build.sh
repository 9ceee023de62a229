#!/usr/bin/env bash
# Release Lambda bootstrap with cargo-lambda (zig from PyPI): target/lambda-<arch>/ingest/bootstrap.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
arch="${1:-arm64}"
ensure_cargo_lambda
case "$arch" in
  arm64)
    rustup target list --installed 2>/dev/null | grep -q aarch64-unknown-linux-gnu \
      || rustup target add aarch64-unknown-linux-gnu
    cargo lambda build --release --arm64 --bin ingest --lambda-dir target/lambda-arm64 ;;
  x86_64)
    cargo lambda build --release --x86-64 --bin ingest --lambda-dir target/lambda-x86_64 ;;
  *) log "usage: build.sh arm64|x86_64"; exit 2 ;;
esac
ls -l "target/lambda-$arch/ingest/bootstrap"

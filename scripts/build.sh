#!/usr/bin/env bash
# Release Lambda bootstraps with cargo-lambda (zig from PyPI): target/lambda-<arch>/<function>/bootstrap
# for every function in functions/ (ingest, forward, manage).
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
arch="${1:-arm64}"
ensure_cargo_lambda
case "$arch" in
  arm64)
    rustup target list --installed 2>/dev/null | grep -q aarch64-unknown-linux-gnu \
      || rustup target add aarch64-unknown-linux-gnu
    cargo lambda build --release --arm64 --bin ingest --bin forward --bin manage --lambda-dir target/lambda-arm64 ;;
  x86_64)
    cargo lambda build --release --x86-64 --bin ingest --bin forward --bin manage --lambda-dir target/lambda-x86_64 ;;
  *) log "usage: build.sh arm64|x86_64"; exit 2 ;;
esac
for f in ingest forward manage; do
  b="target/lambda-$arch/$f/bootstrap"
  printf '%-8s %s  %s\n' "$f" "$(awk -v s="$(stat -c %s "$b")" 'BEGIN{printf "%.1f MB", s/1048576}')" "$b"
done

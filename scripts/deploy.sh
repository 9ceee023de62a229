#!/usr/bin/env bash
# make deploy: build the functions with cargo-lambda through `sam build`, then `sam deploy` with
# infra/samconfig.toml (copy infra/samconfig.example.toml). Uses your AWS credentials; nothing in
# `make test` calls it.
#   ENV=<samconfig section> (default: default)
#   RUNBOOK=<runbook.yaml>  checked with `vigil runbook check` and `vigil runbook test` first, then
#                           uploaded to the stack's RunbookBucket after the deploy (any size; the
#                           ingest function picks it up within a minute)
#   SINKS=<sinks.yaml>      passed as SinksConfig
#   ARGS="..."              extra `sam deploy` arguments (e.g. --no-confirm-changeset)
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
config="infra/samconfig.toml"
[ -f "$config" ] || { log "no $config: cp infra/samconfig.example.toml $config and edit it (docs/deploy.md)"; exit 2; }
command -v sam >/dev/null 2>&1 || { log "the AWS SAM CLI is required: https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/install-sam-cli.html (or: python3 -m venv .local/venv-sam && .local/venv-sam/bin/pip install aws-sam-cli; PATH=\$PWD/.local/venv-sam/bin:\$PATH)"; exit 2; }
ensure_cargo_lambda
export PATH="$LOCAL/venv-cargo-lambda/bin:$PATH"
# arm64 is the default Architecture; an x86_64 deployment does not need the target.
rustup target list --installed 2>/dev/null | grep -q aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu || true
env_name="${ENV:-default}"
aws sts get-caller-identity --query Arn --output text >/dev/null 2>&1 \
  || { log "no usable AWS credentials (aws sts get-caller-identity failed)"; exit 2; }

overrides=()
strip_yaml() { python3 -c 'import sys,yaml,json; print(json.dumps(yaml.safe_load(open(sys.argv[1])), separators=(",",":")))' "$1" 2>/dev/null \
  || grep -v '^\s*#' "$1"; }
# SAM splits --parameter-overrides at spaces unless a value is single-quoted inside the
# argument (with its own single quotes escaped).
quoted() { printf "%s='%s'" "$1" "$(strip_yaml "$2" | sed "s/'/\\\\'/g")"; }
if [ -n "${RUNBOOK:-}" ]; then
  log "checking $RUNBOOK before deploying it"
  cargo build --quiet -p vigil
  "$ROOT/target/debug/vigil" runbook check "$RUNBOOK"
  "$ROOT/target/debug/vigil" runbook test "$RUNBOOK"
fi
if [ -n "${SINKS:-}" ]; then overrides+=("$(quoted SinksConfig "$SINKS")"); fi

log "sam build (cargo lambda, arm64 unless Architecture says otherwise)"
sam build --config-file "$ROOT/$config" --config-env "$env_name"
log "sam deploy ($env_name)"
if [ ${#overrides[@]} -gt 0 ]; then
  # Parameters from samconfig plus the files given; later values win.
  existing="$(python3 - "$config" "$env_name" <<'PY'
import shlex, sys, tomllib
c = tomllib.load(open(sys.argv[1], "rb"))
p = c.get(sys.argv[2], {}).get("deploy", {}).get("parameters", {}).get("parameter_overrides", [])
print("\n".join(p if isinstance(p, list) else shlex.split(p)))
PY
)"
  mapfile -t base <<<"$existing"
  sam deploy --config-file "$ROOT/$config" --config-env "$env_name" \
    --parameter-overrides "${base[@]}" "${overrides[@]}" ${ARGS:-}
else
  sam deploy --config-file "$ROOT/$config" --config-env "$env_name" ${ARGS:-}
fi
stack="$(python3 - "$config" "$env_name" <<'PY'
import sys, tomllib
c = tomllib.load(open(sys.argv[1], "rb"))
print(c.get(sys.argv[2], {}).get("global", {}).get("parameters", {}).get("stack_name", "vigil"))
PY
)"
if [ -n "${RUNBOOK:-}" ]; then
  uri="$(aws cloudformation describe-stacks --stack-name "$stack" --query "Stacks[0].Outputs[?OutputKey=='RunbookUri'].OutputValue" --output text)"
  key="$(aws cloudformation describe-stacks --stack-name "$stack" --query "Stacks[0].Outputs[?OutputKey=='KeyArn'].OutputValue" --output text)"
  log "uploading $RUNBOOK to $uri"
  "$ROOT/target/debug/vigil" runbook upload "$RUNBOOK" --uri "$uri" --kms-key "$key"
fi
log "outputs of $stack:"
# Security Hub custom actions that ingest applies to incidents (docs/lifecycle.md). CloudFormation
# has no resource for them: created here, idempotently, in the deploy Region (which must be the
# aggregation Region when cross-Region aggregation is on). ACTION_TARGETS=0 skips this.
# Id (<= 20 alphanumerics) | Name (<= 20 characters) | Description
ACTION_TARGET_LIST='VigilAcknowledge|Vigil: acknowledge|Acknowledge the Vigil incidents of the selected findings (meets their response deadline).
VigilResolve|Vigil: resolve|Resolve the Vigil incidents of the selected findings.
VigilFalsePositive|Vigil: false alarm|Suppress the Vigil incidents of the selected findings as a false positive.
VigilReopen|Vigil: reopen|Reopen the resolved or suppressed Vigil incidents of the selected findings.'
if [ "${ACTION_TARGETS:-1}" != 0 ]; then
  log "Security Hub custom actions"
  while IFS='|' read -r id name description; do
    if out="$(aws securityhub create-action-target --id "$id" --name "$name" --description "$description" 2>&1)"; then
      log "  created $id"
    elif printf '%s' "$out" | grep -q ResourceConflictException; then
      log "  $id exists"
    else
      log "  could not create $id: $out"; exit 1
    fi
  done <<< "$ACTION_TARGET_LIST"
fi
aws cloudformation describe-stacks --stack-name "$stack" --query 'Stacks[0].Outputs[].[OutputKey,OutputValue]' --output table

#!/usr/bin/env bash
# Offline lint of the SAM template with three linters, each pinned and in its own virtualenv
# (they conflict when installed together). Never talks to AWS.
#   1. infra/template.yaml must pass all three:
#        cfn-lint (no errors, no warnings);
#        sam validate --lint (SAM transform + cfn-lint);
#        checkov --framework cloudformation --skip-download (no failed check; the few accepted
#        ones are skipped inline in the template, each with its reason).
#   2. A broken copy, generated from the template at run time (so it never drifts), must FAIL
#      every linter for its planted reasons: proves the gate can fail.
# Pins: CFN_LINT_VERSION, SAM_CLI_VERSION, CHECKOV_VERSION. Venvs in .local/venv-{cfnlint,sam,checkov}.
set -euo pipefail

CFN_LINT_VERSION="${CFN_LINT_VERSION:-1.51.0}"
SAM_CLI_VERSION="${SAM_CLI_VERSION:-1.170.0}"
CHECKOV_VERSION="${CHECKOV_VERSION:-3.3.30}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL="$ROOT/.local"
TEMPLATE="infra/template.yaml"

# Keep the linters away from any AWS account, profile, telemetry or update check.
export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1 SAM_CLI_TELEMETRY=0
export BC_SKIP_MAPPING=TRUE CHECKOV_RUN_SCA_PACKAGE_SCAN_V2=false
unset AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN || true

# venv_tool <venv name> <pip requirement> <binary> <expected version> -> prints the binary path
venv_tool() {
  local venv="$LOCAL/venv-$1" req="$2" bin="$3" want="$4" got=""
  if [[ -x "$venv/bin/$bin" ]]; then got="$("$venv/bin/$bin" --version 2>/dev/null | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -1 || true)"; fi
  if [[ "$got" != "$want" ]]; then
    echo "installing $req into ${venv#"$ROOT"/}" >&2
    if ! "$venv/bin/python3" -c "" 2>/dev/null; then python3 -m venv --clear "$venv"; fi
    "$venv/bin/python3" -m pip install --quiet --disable-pip-version-check "$req" >&2
    got="$("$venv/bin/$bin" --version 2>/dev/null | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -1 || true)"
    [[ "$got" == "$want" ]] || { echo "FAIL: $bin reports version '$got', expected $want" >&2; exit 1; }
  fi
  echo "$venv/bin/$bin"
}

CFN_LINT="$(venv_tool cfnlint "cfn-lint==$CFN_LINT_VERSION" cfn-lint "$CFN_LINT_VERSION")"
SAM="$(venv_tool sam "aws-sam-cli==$SAM_CLI_VERSION" sam "$SAM_CLI_VERSION")"
CHECKOV="$(venv_tool checkov "checkov==$CHECKOV_VERSION" checkov "$CHECKOV_VERSION")"

cd "$ROOT"
run_cfnlint() { "$CFN_LINT" "$1"; }
run_sam() { "$SAM" validate --lint -t "$1" --region us-east-1; }
run_checkov() { "$CHECKOV" -f "$1" --framework cloudformation --skip-download --compact --quiet; }

# 1. The real template passes all three.
for tool in cfnlint sam checkov; do
  if out="$("run_$tool" "$TEMPLATE" 2>&1)"; then rc=0; else rc=$?; fi
  if [[ $rc -ne 0 ]]; then
    printf '%s\n' "$out" >&2
    echo "FAIL: $TEMPLATE: $tool rc=$rc (expected 0)"
    exit 1
  fi
  echo "PASS: $TEMPLATE: $tool"
done
# The management account's event routing (plain CloudFormation: no SAM transform).
ORG_TEMPLATE="infra/org-events.yaml"
for tool in cfnlint checkov; do
  if out="$("run_$tool" "$ORG_TEMPLATE" 2>&1)"; then rc=0; else rc=$?; fi
  if [[ $rc -ne 0 ]]; then
    printf '%s\n' "$out" >&2
    echo "FAIL: $ORG_TEMPLATE: $tool rc=$rc (expected 0)"
    exit 1
  fi
  echo "PASS: $ORG_TEMPLATE: $tool"
done

# 2. Negative test: a copy with planted errors must be rejected by each linter.
#    - a plain Lambda function with runtime provided.al2099   (cfn-lint E3030, sam validate --lint)
#    - an SQS queue with a 15-day retention                   (cfn-lint E3034)
#    - an unencrypted S3 bucket without public access blocks  (checkov)
broken="$LOCAL/lint/broken-template.yaml"
mkdir -p "$(dirname "$broken")"
python3 - "$TEMPLATE" "$broken" <<'PY'
import sys
src, dst = sys.argv[1], sys.argv[2]
text = open(src).read()
planted = """Resources:
  BrokenPlainFunction:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: provided.al2099
      Handler: bootstrap
      Role: arn:aws:iam::123456789012:role/broken
      Code: { ZipFile: "x" }
  BrokenQueue:
    Type: AWS::SQS::Queue
    Properties:
      MessageRetentionPeriod: 1296000
  BrokenBucket:
    Type: AWS::S3::Bucket
"""
assert text.count("\nResources:\n") == 1
open(dst, "w").write(text.replace("\nResources:\n", "\n" + planted, 1))
PY
declare -A markers=([cfnlint]="provided.al2099" [sam]="provided.al2099" [checkov]="BrokenBucket")
for tool in cfnlint sam checkov; do
  if out="$("run_$tool" "$broken" 2>&1)"; then rc=0; else rc=$?; fi
  if [[ $rc -eq 0 ]]; then
    printf '%s\n' "$out" >&2
    echo "FAIL: $tool accepted a deliberately broken template (rc=0)"
    exit 1
  fi
  if ! grep -qF -- "${markers[$tool]}" <<<"$out"; then
    printf '%s\n' "$out" >&2
    echo "FAIL: $tool rejected the broken template (rc=$rc) but not for the planted '${markers[$tool]}'"
    exit 1
  fi
  echo "PASS: broken template rejected by $tool (rc=$rc)"
done

#!/usr/bin/env bash
# Offline lint of the SAM template (never talks to AWS).
#   1. infra/template.yaml       must pass cfn-lint (rc=0: no errors, no warnings).
#   2. infra/tests/broken.yaml   must FAIL cfn-lint with the planted errors (negative test,
#                                proves the linter actually validates properties).
# cfn-lint is pinned. If the cfn-lint on PATH is not the pinned version (or is missing), the
# pinned version is installed once into .local/venv-cfnlint and reused on later runs.
# Override the pin with CFN_LINT_VERSION=x.y.z.
set -euo pipefail

CFN_LINT_VERSION="${CFN_LINT_VERSION:-1.51.0}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.local/venv-cfnlint"
TEMPLATE="$ROOT/infra/template.yaml"
BROKEN="$ROOT/infra/tests/broken.yaml"
# Strings that must appear in the broken.yaml findings (planted errors, see that file's header).
BROKEN_MARKERS=("provided.al2099" "1209601")

# Keep cfn-lint / the SAM translator away from any AWS account or profile.
export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
unset AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN || true

version_of() { # prints the version reported by the given cfn-lint binary, or nothing
  "$1" --version 2>/dev/null | awk '{print $NF}' || true
}

CFN_LINT=""
if command -v cfn-lint >/dev/null 2>&1 && [[ "$(version_of cfn-lint)" == "$CFN_LINT_VERSION" ]]; then
  CFN_LINT="$(command -v cfn-lint)"
elif [[ -x "$VENV/bin/cfn-lint" && "$(version_of "$VENV/bin/cfn-lint")" == "$CFN_LINT_VERSION" ]]; then
  CFN_LINT="$VENV/bin/cfn-lint"
else
  echo "cfn-lint $CFN_LINT_VERSION not found; installing into ${VENV#"$ROOT"/}" >&2
  if ! "$VENV/bin/python3" -c "" 2>/dev/null; then
    python3 -m venv --clear "$VENV" # missing or broken venv: (re)create it
  fi
  "$VENV/bin/python3" -m pip install --quiet --disable-pip-version-check "cfn-lint==$CFN_LINT_VERSION"
  CFN_LINT="$VENV/bin/cfn-lint"
  got="$(version_of "$CFN_LINT")"
  if [[ "$got" != "$CFN_LINT_VERSION" ]]; then
    echo "FAIL: installed cfn-lint reports version '$got', expected $CFN_LINT_VERSION" >&2
    exit 1
  fi
fi

cd "$ROOT"

# 1. Positive: the real template must be clean.
if out="$("$CFN_LINT" infra/template.yaml 2>&1)"; then rc=0; else rc=$?; fi
if [[ $rc -ne 0 ]]; then
  printf '%s\n' "$out" >&2
  echo "FAIL: infra/template.yaml: cfn-lint $CFN_LINT_VERSION rc=$rc (expected 0)"
  exit 1
fi
echo "PASS: infra/template.yaml: cfn-lint $CFN_LINT_VERSION rc=0 (no errors, no warnings)"

# 2. Negative: the broken copy must be rejected, for the planted reasons.
if out="$("$CFN_LINT" infra/tests/broken.yaml 2>&1)"; then rc=0; else rc=$?; fi
if [[ $rc -eq 0 ]]; then
  echo "FAIL: infra/tests/broken.yaml: cfn-lint $CFN_LINT_VERSION accepted a deliberately broken template (rc=0)"
  exit 1
fi
for marker in "${BROKEN_MARKERS[@]}"; do
  if ! grep -qF -- "$marker" <<<"$out"; then
    printf '%s\n' "$out" >&2
    echo "FAIL: infra/tests/broken.yaml: rc=$rc but planted error '$marker' was not reported"
    exit 1
  fi
done
codes="$(grep -oE '^[EW][0-9]{4}' <<<"$out" | sort -u | paste -sd, -)"
echo "PASS: infra/tests/broken.yaml: rejected as expected (rc=$rc: $codes)"

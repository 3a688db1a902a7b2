#!/usr/bin/env bash
# Load test of connect-app, and of atlassian-connect-express (ACE) on the same machine for
# comparison. Not run in CI: it takes minutes and its numbers depend on the machine.
#
#   bash benches/load/run.sh            # everything (DURATION=60 seconds per run)
#   DURATION=10 SKIP_ACE=1 bash benches/load/run.sh
#
# 1. builds connect-app (release), installs `oha` if missing (cargo install oha --locked);
# 2. starts connect-app (SQLite store in $OUT) and the product of benches/load/product.js
#    (key server + fake Jira on 127.0.0.1), which installs one tenant through a real signed
#    install and writes the tokens;
# 3. runs oha for DURATION seconds against GET /api/whoami (valid context tokens), then
#    against GET /panel with a mix of valid and hostile tokens (context token on the iframe,
#    token for another path, wrong secret, expired, unknown tenant), sampling the app's RSS
#    every 5 seconds;
# 4. installs ACE in a scratch directory ($OUT/ace, `npm install atlassian-connect-express`),
#    starts benches/load/ace-app.js with the same tenant, and runs the whoami load against it;
# 5. prints requests per second, p99 latency, status codes and RSS, and the ratio.
#
# Everything it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
DURATION=${DURATION:-60}
CONNECTIONS=${CONNECTIONS:-32}
OUT=${OUT:-/tmp/connect-app-load}
rm -rf "$OUT/tokens" "$OUT"/*.json "$OUT"/rss-*.txt
mkdir -p "$OUT/tokens"

pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
}
trap cleanup EXIT

log() { echo "load: $*" >&2; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_for() { # url
  for _ in $(seq 1 200); do
    if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  log "$1 did not come up"
  exit 1
}

log "building connect-app (release)"
cargo build --release -p connect-app >&2
# oha by default (installed if missing); LOADGEN=wrk uses Debian's wrk with wrk.lua.
LOADGEN=${LOADGEN:-oha}
if [[ $LOADGEN == oha ]] && ! command -v oha >/dev/null 2>&1; then
  log "installing oha"
  cargo install oha --locked >&2
fi
if [[ $LOADGEN == wrk ]] && ! command -v wrk >/dev/null 2>&1; then
  apt-get install -y -qq wrk >&2
fi
log "load generator: $($LOADGEN --version 2>&1 | head -n 1)"
log "load average before: $(cat /proc/loadavg)"

APP_PORT=$(free_port)
PRODUCT_PORT=$(free_port)
APP=http://127.0.0.1:$APP_PORT
rm -f "$OUT/connect-app.db"*
CONNECT_APP_LISTEN=127.0.0.1:$APP_PORT \
  CONNECT_APP_BASE_URL=$APP \
  CONNECT_APP_DATABASE_URL=sqlite://$OUT/connect-app.db \
  CONNECT_APP_INSTALL_KEYS_URL=http://127.0.0.1:$PRODUCT_PORT/keys \
  RUST_LOG=warn \
  target/release/connect-app >"$OUT/connect-app.log" 2>&1 &
APP_PID=$!
pids+=("$APP_PID")
wait_for "$APP/healthz"

# Tokens live for the whole run (and some).
LIFETIME=$((3 * DURATION + 600))
NODE_PATH=$ROOT/tests/reference/node_modules \
  node benches/load/product.js "$PRODUCT_PORT" "$APP" "$OUT/tokens" "$LIFETIME" &
pids+=("$!")
for _ in $(seq 1 100); do
  [[ -f $OUT/tokens/ready ]] && break
  sleep 0.1
done
[[ -f $OUT/tokens/ready ]] || { log "the product did not install the tenant"; exit 1; }
token() { tr -d '\n' <"$OUT/tokens/$1.token"; }

# Samples VmRSS (kB) of $1 every 5 seconds into $2 until killed.
sample_rss() {
  while kill -0 "$1" 2>/dev/null; do
    awk '/^VmRSS/ { print $2 }' "/proc/$1/status" >>"$2"
    sleep 5
  done
}

# The load generator with JSON output: $1 = name, then either `header VALUE URL` or
# `mix URL_REGEX TARGETS_FILE` (the targets file for wrk: one path per line).
run_load() {
  local name=$1 kind=$2
  log "$name: ${DURATION}s, $CONNECTIONS connections, $LOADGEN"
  if [[ $LOADGEN == oha ]]; then
    if [[ $kind == header ]]; then
      oha --no-tui --output-format json -z "${DURATION}s" -c "$CONNECTIONS" -H "$3" "$4" >"$OUT/$name.json"
    else
      oha --no-tui --output-format json -z "${DURATION}s" -c "$CONNECTIONS" --rand-regex-url "$3" >"$OUT/$name.json"
    fi
  else
    local threads=2
    if [[ $kind == header ]]; then
      wrk -t "$threads" -c "$CONNECTIONS" -d "${DURATION}s" -s benches/load/wrk.lua -H "$3" "$4" |
        grep '^{' >"$OUT/$name.json"
    else
      TARGETS=$4 wrk -t "$threads" -c "$CONNECTIONS" -d "${DURATION}s" -s benches/load/wrk.lua "$APP/" |
        grep '^{' >"$OUT/$name.json"
    fi
  fi
}

# Checks the expected answers are sent before loading.
check() { # expected status, curl arguments...
  local expected=$1
  shift
  local got
  got=$(curl -s -o /dev/null -w '%{http_code}' "$@")
  [[ $got == "$expected" ]] || { log "expected $expected, got $got for $*"; exit 1; }
}
check 200 -H "Authorization: JWT $(token context)" "$APP/api/whoami"
check 200 "$APP/panel?jwt=$(token panel)"
for hostile in context other-path wrong-secret expired unknown-tenant; do
  check 401 "$APP/panel?jwt=$(token "hostile-$hostile")"
done

sample_rss "$APP_PID" "$OUT/rss-whoami.txt" &
SAMPLER=$!
run_load whoami header "Authorization: JWT $(token context)" "$APP/api/whoami"
kill "$SAMPLER" 2>/dev/null || true

# The panel: one valid token for every five hostile ones, drawn at random per request.
escape() { sed 's/[.]/\\./g'; }
alternatives="$(token panel | escape)"
echo "/panel?jwt=$(token panel)" >"$OUT/panel-targets.txt"
for hostile in context other-path wrong-secret expired unknown-tenant; do
  alternatives="$alternatives|$(token "hostile-$hostile" | escape)"
  echo "/panel?jwt=$(token "hostile-$hostile")" >>"$OUT/panel-targets.txt"
done
sample_rss "$APP_PID" "$OUT/rss-panel.txt" &
SAMPLER=$!
run_load panel mix "http://127\\.0\\.0\\.1:$APP_PORT/panel\\?jwt=($alternatives)" "$OUT/panel-targets.txt"
kill "$SAMPLER" 2>/dev/null || true
APP_LOAD="$(cat /proc/loadavg)"

if [[ -z ${SKIP_ACE:-} ]]; then
  ACE_DIR=$OUT/ace
  mkdir -p "$ACE_DIR"
  if [[ ! -d $ACE_DIR/node_modules/atlassian-connect-express ]]; then
    log "installing atlassian-connect-express in $ACE_DIR"
    (cd "$ACE_DIR" && npm init -y >/dev/null &&
      npm install --no-audit --no-fund atlassian-connect-express express >&2)
  fi
  # ACE's default store needs the native sqlite3 module, which builds from source here (no
  # prebuilt binary can be fetched): minutes. ACE_SQLITE=1 builds it; otherwise ace-app.js
  # uses a Map store (see there).
  if [[ -n ${ACE_SQLITE:-} && ! -d $ACE_DIR/node_modules/sqlite3/build ]]; then
    (cd "$ACE_DIR" && npm install --no-audit --no-fund sqlite3 >&2)
  fi
  ACE_PORT=$(free_port)
  (cd "$ACE_DIR" && NODE_PATH=$ACE_DIR/node_modules NODE_ENV=production exec node "$ROOT/benches/load/ace-app.js" "$ACE_PORT" \
    "$OUT/tokens/tenant.json" >"$OUT/ace.log" 2>&1) &
  pids+=("$!")
  for _ in $(seq 1 200); do
    grep -q ready "$OUT/ace.log" 2>/dev/null && break
    sleep 0.1
  done
  grep -q ready "$OUT/ace.log" || { log "ACE did not start: $(cat "$OUT/ace.log")"; exit 1; }
  check 200 -H "Authorization: JWT $(token context)" "http://127.0.0.1:$ACE_PORT/api/whoami"
  ACE_PID=$(pgrep -P "$!" node || echo "$!")
  sample_rss "$ACE_PID" "$OUT/rss-ace.txt" &
  SAMPLER=$!
  run_load ace-whoami header "Authorization: JWT $(token context)" "http://127.0.0.1:$ACE_PORT/api/whoami"
  kill "$SAMPLER" 2>/dev/null || true
fi

log "load average after: $APP_LOAD (connect-app runs), $(cat /proc/loadavg) (end)"
python3 "$ROOT/benches/load/report.py" "$OUT"

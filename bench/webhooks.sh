#!/usr/bin/env bash
# Webhook delivery throughput (issue 18): BENCH_EVENTS events fanned out to
# BENCH_SUBSCRIPTIONS subscriptions of one institution, delivered to a local
# sink (an HTTP server on 127.0.0.1 that answers 200 at once and counts),
# reported as deliveries/s and as a ratio to GET /healthz measured against
# the same server in the same run.
#
# For each backend (SQLite; PostgreSQL when KUJENGA_BENCH_POSTGRES_URL's
# server answers): a fresh database, an admin (the CLI), an institution with
# BENCH_SUBSCRIPTIONS webhooks (event type `institution.updated`) to the
# sink; then, with the server's webhook worker off, BENCH_EVENTS changes of
# the institution (each queues one message per subscription in its
# transaction); then the server is restarted with the worker on, and the
# time from its start to the last delivery counted by the sink gives
# deliveries/s. wrk measures /healthz while nothing else runs.
#
#   bash bench/webhooks.sh
#   BENCH_EVENTS=500 BENCH_BUILD=debug bash bench/webhooks.sh   # a small run
#
# Environment: BENCH_EVENTS (10000), BENCH_SUBSCRIPTIONS (10),
# BENCH_CONCURRENCY (webhooks.concurrency, 16), BENCH_BATCH (webhooks.batch_size, 32),
# BENCH_WRK_DURATION (5s), BENCH_BUILD (release | debug),
# KUJENGA_BENCH_POSTGRES_URL (postgres://postgres@127.0.0.1:5432/kujenga_bench_webhooks:
# created for the run and dropped after it), CARGO_TARGET_DIR (target).
# See bench/README.md for the figures.
set -euo pipefail
set -f

cd "$(dirname "$0")/.."
EVENTS=${BENCH_EVENTS:-10000}
SUBS=${BENCH_SUBSCRIPTIONS:-10}
CONCURRENCY=${BENCH_CONCURRENCY:-16}
BATCH=${BENCH_BATCH:-32}
DURATION=${BENCH_WRK_DURATION:-5s}
BUILD=${BENCH_BUILD:-release}
PG_URL=${KUJENGA_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/kujenga_bench_webhooks}
TARGET=${CARGO_TARGET_DIR:-target}
BIN="$TARGET/$BUILD/kujenga"
PASSWORD="benchmarks measure the webhook path"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kujenga-webhooks.XXXXXX")
# shellcheck source=bench/lib.sh
source bench/lib.sh
sink_pid=""
sink_port=""
base=""
stop_sink() {
    if [ -n "$sink_pid" ] && kill -0 "$sink_pid" 2>/dev/null; then
        kill "$sink_pid" 2>/dev/null || true
        wait "$sink_pid" 2>/dev/null || true
    fi
    sink_pid=""
}
trap 'stop_sink; cleanup' EXIT

ensure_wrk

if [ "$BUILD" = release ]; then
    say "building (release) ..."
    cargo build --release --bin kujenga >&2
else
    cargo build --bin kujenga >&2
fi

json_field() { python3 -c "import json, sys; print(json.load(sys.stdin)[\"$1\"])"; }

# The sink: answers 200 "ok" to every POST, keeps the count and the time of
# the last one in $tmp/sink.count ("count last_epoch_seconds").
start_sink() {
    cat >"$tmp/sink.py" <<'PY'
import http.server, sys, threading, time
count = 0
last = 0.0
lock = threading.Lock()
out = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        global count, last
        self.rfile.read(int(self.headers.get("content-length", "0")))
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
        with lock:
            count += 1
            last = time.time()
    def log_message(self, *a):
        pass
def report():
    while True:
        with lock:
            line = f"{count} {last}\n"
        with open(out + ".tmp", "w") as f:
            f.write(line)
        import os
        os.replace(out + ".tmp", out)
        time.sleep(0.1)
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(server.server_address[1], flush=True)
threading.Thread(target=report, daemon=True).start()
server.serve_forever()
PY
    python3 "$tmp/sink.py" "$tmp/sink.count" >"$tmp/sink.port" &
    sink_pid=$!
    for _ in $(seq 1 50); do [ -s "$tmp/sink.port" ] && break; sleep 0.1; done
    sink_port=$(cat "$tmp/sink.port")
}

# serve NAME DATA_DIR WORKER [DATABASE_URL]: starts kujenga serve; sets
# server_pid and base (not in a command substitution: the server would hold
# its pipe open, and the pid would be lost with the subshell).
serve() {
    local name=$1 data=$2 worker=$3 url=${4:-}
    local env_db=(env -u DATABASE_URL)
    [ -n "$url" ] && env_db=(env DATABASE_URL="$url")
    "${env_db[@]}" KUJENGA_LOG__LEVEL="warn,kujenga::startup=info" \
        KUJENGA_MAIL__WORKER=false KUJENGA_MAIL__TRANSPORT=log NO_COLOR=1 \
        KUJENGA_WEBHOOKS__ALLOWED_INSECURE_HOSTS='["127.0.0.1"]' \
        KUJENGA_WEBHOOKS__WORKER="$worker" KUJENGA_WEBHOOKS__POLL_INTERVAL_MS=50 \
        KUJENGA_WEBHOOKS__CONCURRENCY="$CONCURRENCY" KUJENGA_WEBHOOKS__BATCH_SIZE="$BATCH" \
        "$BIN" --data-dir "$data" serve --bind 127.0.0.1:0 >/dev/null 2>"$tmp/$name-server-$worker.log" &
    server_pid=$!
    local port
    port=$(wait_for_port "$tmp/$name-server-$worker.log") || exit 1
    base="http://127.0.0.1:$port"
}

measure_backend() {
    local name=$1 data=$2 url=${3:-}
    local env_db=(env -u DATABASE_URL)
    [ -n "$url" ] && env_db=(env DATABASE_URL="$url")
    mkdir -p "$data"
    printf '%s\n' "$PASSWORD" | "${env_db[@]}" KUJENGA_LOG__LEVEL=warn \
        "$BIN" --data-dir "$data" admin create --email "owner@example.org" >/dev/null
    start_sink
    say "[$name] sink on 127.0.0.1:$sink_port; queueing $EVENTS events × $SUBS subscriptions ..."
    serve "$name" "$data" false "$url"
    local access
    access=$(curl -fsS -X POST "$base/api/v1/auth/login" -H 'content-type: application/json' \
        -d "{\"email\": \"owner@example.org\", \"password\": \"$PASSWORD\"}" | json_field access_token)
    curl -fsS -X POST "$base/api/v1/institutions" -H 'content-type: application/json' \
        -H "authorization: Bearer $access" \
        -d '{"slug": "bench-lab", "name": "Bench Lab", "country": "KE", "kind": "research_lab"}' >/dev/null
    local i
    for i in $(seq 1 "$SUBS"); do
        curl -fsS -X POST "$base/api/v1/institutions/bench-lab/webhooks" -H 'content-type: application/json' \
            -H "authorization: Bearer $access" \
            -d "{\"url\": \"http://127.0.0.1:$sink_port/hook/$i\", \"event_types\": [\"institution.updated\"]}" >/dev/null
    done
    # The events: PATCHes over one keep-alive connection.
    python3 - "$base" "$access" "$EVENTS" <<'PY'
import http.client, json, sys, urllib.parse
base, token, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
u = urllib.parse.urlparse(base)
c = http.client.HTTPConnection(u.hostname, u.port)
for i in range(n):
    body = json.dumps({"description": f"change {i}"})
    c.request("PATCH", "/api/v1/institutions/bench-lab", body,
              {"content-type": "application/json", "authorization": "Bearer " + token})
    r = c.getresponse(); r.read()
    if r.status != 200:
        sys.exit(f"PATCH answered {r.status}")
PY
    say "[$name] GET /healthz with wrk ($DURATION) ..."
    local healthz
    healthz=$(wrk -t2 -c32 -d"$DURATION" "$base/healthz" | awk '/Requests\/sec/ {print $2}')
    stop_server
    local expected=$((EVENTS * SUBS))
    say "[$name] delivering $expected messages ..."
    local start
    start=$(python3 -c 'import time; print(time.time())')
    serve "$name" "$data" true "$url"
    local got=0 last=0
    for _ in $(seq 1 36000); do
        read -r got last <"$tmp/sink.count" || true
        [ "${got:-0}" -ge "$expected" ] && break
        sleep 0.1
    done
    stop_server
    stop_sink
    [ "${got:-0}" -ge "$expected" ] || { say "[$name] only $got of $expected delivered"; exit 1; }
    python3 - "$name" "$expected" "$start" "$last" "$healthz" >>"$tmp/results" <<'PY'
import sys
name, n, start, last, healthz = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
secs = last - start
rate = n / secs
print(f"{name} {n} {secs:.1f} {rate:.0f} {healthz:.0f} {rate / healthz:.4f}")
PY
}

: >"$tmp/results"
measure_backend sqlite "$tmp/sqlite"
with_postgres "$PG_URL" measure_backend postgres "$tmp/postgres"

printf '%-9s %11s %8s %13s %10s %8s\n' backend deliveries seconds deliveries/s healthz/s ratio
while read -r name n secs rate healthz ratio; do
    printf '%-9s %11s %8s %13s %10s %8s\n' "$name" "$n" "$secs" "$rate" "$healthz" "$ratio"
done <"$tmp/results"

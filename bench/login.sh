#!/usr/bin/env bash
# Login throughput, and whether password hashing stalls other requests:
#   1. GET /healthz alone (idle p99),
#   2. POST /api/v1/auth/login with 20 concurrent connections (throughput),
#   3. GET /healthz again *while* those 20 logins run (loaded p99).
# Everything runs on this machine over loopback; the figures that matter are
# the ratios (loaded p99 / idle p99; logins/s / healthz req/s), because
# absolute numbers move with the machine.
#
#   bash bench/login.sh            # release build, SQLite, 15 s per phase
#   BENCH_SECONDS=30 bash bench/login.sh
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_PHASE="${BENCH_SECONDS:-15}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
# The same build as bench/outbox.sh, so the two share their artifacts.
cargo build --release --bin kujenga --example outbox_bench
BIN="$PWD/target/release/kujenga"

DATA="$(mktemp -d)"
LOG="$DATA/server.log"
SERVER_PID=""
cleanup() {
    [[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    rm -rf "$DATA"
}
trap cleanup EXIT

export BENCH_EMAIL="amina.load@example.org"
export BENCH_PASSWORD="a long benchmark passphrase nobody guesses"
printf '%s\n' "$BENCH_PASSWORD" | env -u DATABASE_URL "$BIN" --data-dir "$DATA" admin create --email "$BENCH_EMAIL" >/dev/null

# Rate limits would turn the load into 429s: lift them. Only start-up is
# logged (an access log line per request would be part of the measurement).
env -u DATABASE_URL \
    KUJENGA_RATE_LIMIT__LOGIN_PER_MINUTE=100000000 \
    KUJENGA_LOG__LEVEL=warn,kujenga::startup=info NO_COLOR=1 \
    "$BIN" --data-dir "$DATA" serve --bind 127.0.0.1:0 >/dev/null 2>"$LOG" &
SERVER_PID=$!
PORT=""
for _ in $(seq 1 100); do
    PORT="$(grep -oE 'listening on http://127\.0\.0\.1:[0-9]+' "$LOG" | grep -oE '[0-9]+$' || true)"
    [[ -n "$PORT" ]] && break
    sleep 0.1
done
[[ -n "$PORT" ]] || { cat "$LOG"; echo "server did not start"; exit 1; }
BASE="http://127.0.0.1:$PORT"
curl -fsS "$BASE/healthz" >/dev/null

p99() { grep -E '^\s+99%' | awk '{print $2}'; }
rps() { grep -E '^Requests/sec' | awk '{print $2}'; }
to_ms() { # wrk prints 1.23ms / 456.00us / 1.20s
    awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); print v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v); print v} else if (v ~ /s$/) {sub(/s$/,"",v); print v*1000} else print v}'
}

echo "== 1. /healthz alone (4 connections, ${SECONDS_PER_PHASE}s)"
IDLE="$(wrk -t1 -c4 -d"${SECONDS_PER_PHASE}s" --latency "$BASE/healthz")"
echo "$IDLE" | grep -E 'Requests/sec|99%'
IDLE_P99="$(echo "$IDLE" | p99 | to_ms)"
HEALTH_RPS="$(echo "$IDLE" | rps)"

echo "== 2+3. 20 concurrent logins, and /healthz (4 connections) meanwhile"
LOGIN_OUT="$DATA/login.txt"
wrk -t2 -c20 -d"${SECONDS_PER_PHASE}s" --latency -s bench/login.lua "$BASE/api/v1/auth/login" >"$LOGIN_OUT" &
WRK_PID=$!
sleep 1
LOADED="$(wrk -t1 -c4 -d"$((SECONDS_PER_PHASE - 2))s" --latency "$BASE/healthz")"
wait "$WRK_PID"
grep -E 'Requests/sec|99%|Non-2xx' "$LOGIN_OUT"
echo "$LOADED" | grep -E 'Requests/sec|99%'
LOGIN_RPS="$(rps <"$LOGIN_OUT")"
LOGIN_P99="$(p99 <"$LOGIN_OUT" | to_ms)"
LOADED_P99="$(echo "$LOADED" | p99 | to_ms)"
# wrk counts answers outside 2xx/3xx; any means the figures are not logins.
if grep -q 'Non-2xx' "$LOGIN_OUT"; then
    echo "some logins did not answer 200: the benchmark is void"
    exit 1
fi

echo
printf '%-44s %12s\n' "measure" "value"
printf '%-44s %12s\n' "healthz req/s (idle)" "$HEALTH_RPS"
printf '%-44s %12s\n' "logins/s (20 concurrent)" "$LOGIN_RPS"
printf '%-44s %12s\n' "login p99 ms" "$LOGIN_P99"
printf '%-44s %12s\n' "healthz p99 ms, idle" "$IDLE_P99"
printf '%-44s %12s\n' "healthz p99 ms, during logins" "$LOADED_P99"
awk -v a="$LOGIN_RPS" -v b="$HEALTH_RPS" 'BEGIN {printf "%-44s %12.5f\n", "logins/s ÷ healthz req/s", a/b}'
awk -v a="$LOADED_P99" -v b="$IDLE_P99" 'BEGIN {printf "%-44s %12.2f\n", "healthz p99 during logins ÷ idle p99", a/b}'

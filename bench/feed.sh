#!/usr/bin/env bash
# The change feed: a page of 100 changes out of BENCH_RESOURCES (100,000)
# logged changes, as p99 and as a ratio to GET /healthz measured against the
# same server in the same run (issue #18: p99 <= 25 ms for a page of 100):
#
#   GET /healthz                                     (the reference)
#   GET /api/v1/changes?since=<start>&limit=100      (the oldest page: 100 of N changes)
#   GET /api/v1/changes?since=<middle>&limit=100     (a page half-way)
#   GET /api/v1/changes?since=<now>                  (an up-to-date client: no changes)
#
# For each backend: a fresh database; `kujenga serve` once so the feed's
# projection starts on the empty log; `kujenga seed-demo --resources N`
# (one `resource.imported` event each); `kujenga serve` again, one feed
# request to project the N events (timed), then wrk on each URL, anonymous,
# uncompressed, keep-alive.
#
#   bash bench/feed.sh
#   BENCH_RESOURCES=5000 BENCH_WRK_DURATION=5s bash bench/feed.sh
#
# Environment: BENCH_RESOURCES (100000), BENCH_WRK_DURATION (10s),
# BENCH_WRK_THREADS (2), BENCH_WRK_CONNECTIONS (16; a list such as "1 4 16" measures at each), KUJENGA_BENCH_POSTGRES_URL
# (postgres://postgres@127.0.0.1:5432/kujenga_bench_feed: created for the run
# and dropped after it), BENCH_KUJENGA_BIN (a built binary; else a release
# build), CARGO_TARGET_DIR (target). See bench/README.md.
set -euo pipefail
set -f

cd "$(dirname "$0")/.."
RESOURCES=${BENCH_RESOURCES:-100000}
DURATION=${BENCH_WRK_DURATION:-10s}
THREADS=${BENCH_WRK_THREADS:-2}
CONNECTIONS=${BENCH_WRK_CONNECTIONS:-16}
base=""
PG_URL=${KUJENGA_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/kujenga_bench_feed}
TARGET=${CARGO_TARGET_DIR:-target}
BIN=${BENCH_KUJENGA_BIN:-"$TARGET/release/kujenga"}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kujenga-feed.XXXXXX")
# shellcheck source=bench/lib.sh
source bench/lib.sh
trap cleanup EXIT

ensure_wrk
command -v python3 >/dev/null || { say "python3 is needed to read the feed's answers"; exit 1; }
if [ -z "${BENCH_KUJENGA_BIN:-}" ]; then
    say "building (release) ..."
    cargo build --release --bin kujenga >&2
fi

serve() { # serve NAME DATA_DIR ENV...: starts the server; sets server_pid and base
    local name=$1 data=$2
    shift 2
    "$@" KUJENGA_LOG__LEVEL="warn,kujenga::startup=info" KUJENGA_MAIL__WORKER=false NO_COLOR=1 \
        KUJENGA_HTTP__PUBLIC_CACHE_MIB=0 \
        "$BIN" --data-dir "$data" serve --bind 127.0.0.1:0 >/dev/null 2>>"$tmp/$name-server.log" &
    server_pid=$!
    base="http://127.0.0.1:$(wait_for_port "$tmp/$name-server.log")"
}

cursor_of() { python3 -c 'import json,sys; print(json.load(sys.stdin)["cursor"])'; }

measure_backend() {
    local name=$1 data=$2 url=${3:-}
    local env_db=(env -u DATABASE_URL)
    [ -n "$url" ] && env_db=(env DATABASE_URL="$url")
    local start middle now
    serve "$name" "$data" "${env_db[@]}"
    start=$(curl -fsS "$base/api/v1/changes" | cursor_of)
    stop_server
    : >"$tmp/$name-server.log"

    say "[$name] seeding $RESOURCES resources ..."
    "${env_db[@]}" KUJENGA_LOG__LEVEL=warn \
        "$BIN" --data-dir "$data" seed-demo --resources "$RESOURCES" >"$tmp/$name-seed.txt"
    serve "$name" "$data" "${env_db[@]}"
    local t0 t1
    t0=$(date +%s.%N)
    # The first request waits for the projection of every imported event;
    # on a slow machine it can pass the request deadline (408): ask again.
    local tries=0
    until curl -fsS -o /dev/null "$base/api/v1/changes?since=$start&limit=1"; do
        tries=$((tries + 1))
        [ "$tries" -lt 30 ] || { say "[$name] the feed never answered"; exit 1; }
        sleep 2
    done
    t1=$(date +%s.%N)
    echo "$name projection of $RESOURCES events: $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') s" >>"$tmp/notes"
    # Half-way: follow pages of 500 until about half the changes are behind.
    middle=$start
    local seen=0 page
    while [ "$seen" -lt $((RESOURCES / 2)) ]; do
        page=$(curl -fsS "$base/api/v1/changes?since=$middle&limit=500")
        middle=$(cursor_of <<<"$page")
        seen=$((seen + $(python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))' <<<"$page")))
        [ "$(python3 -c 'import json,sys; print(json.load(sys.stdin)["has_more"])' <<<"$page")" = True ] || break
    done
    now=$(curl -fsS "$base/api/v1/changes" | cursor_of)
    local endpoint path out rps p50 p99 bytes
    local c threads
    for c in $CONNECTIONS; do
    threads=$((c < THREADS ? c : THREADS))
    for endpoint in healthz oldest middle uptodate; do
        case $endpoint in
            healthz) path="/healthz" ;;
            oldest) path="/api/v1/changes?since=$start&limit=100" ;;
            middle) path="/api/v1/changes?since=$middle&limit=100" ;;
            uptodate) path="/api/v1/changes?since=$now" ;;
        esac
        bytes=$(curl -fsS -o /dev/null -w '%{size_download}' "$base$path")
        say "[$name] GET $path ($bytes bytes): wrk -t$threads -c$c -d$DURATION ..."
        out="$tmp/$name-c$c-$endpoint.txt"
        wrk -t"$threads" -c"$c" -d"$DURATION" --latency "$base$path" >"$out"
        rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
        p50=$(awk '$1 == "50%" {print $2}' "$out")
        p99=$(awk '$1 == "99%" {print $2}' "$out")
        echo "$name/c$c $endpoint $rps $p50 $p99 $bytes" >>"$tmp/results"
    done
    done
    stop_server
}

measure_backend sqlite "$tmp/sqlite"
with_postgres "$PG_URL" measure_backend postgres "$tmp/postgres"

echo
echo "Change feed benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $RESOURCES changes," \
    "wrk -t$THREADS (at most one per connection) -c(${CONNECTIONS// /, }) -d$DURATION, anonymous, uncompressed"
printf '%-12s %-10s %10s %10s %9s %9s %8s\n' backend endpoint "req/s" "/healthz" p50 p99 bytes
while read -r backend endpoint rps p50 p99 bytes; do
    healthz=$(awk -v b="$backend" '$1 == b && $2 == "healthz" {print $3}' "$tmp/results")
    ratio=$(awk -v a="$rps" -v b="$healthz" 'BEGIN { printf "%.4f", a / b }')
    printf '%-12s %-10s %10s %10s %9s %9s %8s\n' "$backend" "$endpoint" "$rps" "$ratio" "$p50" "$p99" "$bytes"
done <"$tmp/results"
cat "$tmp/notes"
[ -n "$pg_note" ] && echo "postgres: $pg_note"
exit 0

#!/usr/bin/env bash
# Catalogue reads, as ratios to GET /healthz measured against the same server
# in the same run:
#
#   GET /healthz                         (the reference: the HTTP stack, no I/O)
#   GET /api/v1/resources?limit=20       (the first page of the catalogue)
#   GET /api/v1/datasets/{id}            (one public dataset, with files and links)
#
# on SQLite and, when KUJENGA_BENCH_POSTGRES_URL's server answers, PostgreSQL.
# For each backend: a fresh database, `kujenga seed-demo --resources N`,
# `kujenga serve` (request log and email worker off), then wrk on the three
# URLs one after the other, anonymous, uncompressed (wrk sends no
# Accept-Encoding), keep-alive.
#
#   bash bench/catalogue.sh
#   BENCH_RESOURCES=2000 BENCH_WRK_DURATION=5s bash bench/catalogue.sh
#   KUJENGA_BENCH_POSTGRES_URL=postgres://user:pw@db:5432/kujenga_bench bash bench/catalogue.sh
#
# Environment: BENCH_RESOURCES (10000), BENCH_INSTITUTIONS (20),
# BENCH_WRK_DURATION (10s), BENCH_EXTRA_PATHS (none), BENCH_WRK_THREADS (2), BENCH_WRK_CONNECTIONS (32),
# KUJENGA_BENCH_POSTGRES_URL (postgres://postgres@127.0.0.1:5432/kujenga_bench:
# that database is created for the run and dropped after it; the run refuses
# one that exists already), CARGO_TARGET_DIR (target); other KUJENGA_*
# settings reach the server (e.g. KUJENGA_DATABASE__POOL_SIZE).
# See bench/README.md for how to read the numbers.
set -euo pipefail
set -f # paths hold `?`: never glob

cd "$(dirname "$0")/.."
RESOURCES=${BENCH_RESOURCES:-10000}
INSTITUTIONS=${BENCH_INSTITUTIONS:-20}
DURATION=${BENCH_WRK_DURATION:-10s}
# More paths to measure the same way after the three, space-separated
# (e.g. "/api/v1/resources?limit=20&q=speech /api/v1/resources?limit=100").
EXTRA_PATHS=${BENCH_EXTRA_PATHS:-}
THREADS=${BENCH_WRK_THREADS:-2}
CONNECTIONS=${BENCH_WRK_CONNECTIONS:-32}
PG_URL=${KUJENGA_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/kujenga_bench}
TARGET=${CARGO_TARGET_DIR:-target}
BIN="$TARGET/release/kujenga"

say() { printf '%s\n' "$*" >&2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kujenga-catalogue.XXXXXX")
server_pid=""
pg_created=""
pg_admin_url=""
pg_db=""
stop_server() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    server_pid=""
}
cleanup() {
    stop_server
    if [ -n "$pg_created" ]; then
        psql -q -X "$pg_admin_url" -c "DROP DATABASE IF EXISTS \"$pg_db\" WITH (FORCE)" >/dev/null 2>&1 ||
            say "could not drop $pg_db: drop it by hand"
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

# --- tools -----------------------------------------------------------------
sudo_cmd=""
[ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
if ! command -v wrk >/dev/null; then
    say "wrk is missing: installing it from the distribution's packages"
    $sudo_cmd apt-get install -y wrk >&2 || {
        $sudo_cmd apt-get update >&2 && $sudo_cmd apt-get install -y wrk >&2
    }
fi

# --- build -----------------------------------------------------------------
say "building (release) ..."
cargo build --release --bin kujenga >&2

# --- one backend -------------------------------------------------------------
# measure_backend NAME DATA_DIR [DATABASE_URL]: seeds, serves, measures;
# appends one line per endpoint to $tmp/results:
#   backend endpoint req/s p50 p99 bytes seed_seconds
measure_backend() {
    local name=$1 data=$2 url=${3:-}
    local env_db=(env -u DATABASE_URL)
    [ -n "$url" ] && env_db=(env DATABASE_URL="$url")

    say "[$name] seeding $RESOURCES resources ..."
    "${env_db[@]}" KUJENGA_LOG__LEVEL=warn \
        "$BIN" --data-dir "$data" seed-demo --resources "$RESOURCES" --institutions "$INSTITUTIONS" \
        >"$tmp/$name-seed.txt"
    cat "$tmp/$name-seed.txt" >&2
    local dataset seconds
    dataset=$(sed -n 's/^ *example dataset: //p' "$tmp/$name-seed.txt")
    seconds=$(sed -nE 's/.* in ([0-9.]+) s .*/\1/p' "$tmp/$name-seed.txt" | head -n1)
    [ -n "$dataset" ] || { say "seed-demo named no example dataset"; exit 1; }

    say "[$name] starting kujenga serve ..."
    "${env_db[@]}" \
        KUJENGA_LOG__LEVEL="warn,kujenga::startup=info" \
        KUJENGA_MAIL__WORKER=false NO_COLOR=1 \
        "$BIN" --data-dir "$data" serve --bind 127.0.0.1:0 2>"$tmp/$name-server.log" &
    server_pid=$!
    local port=""
    for _ in $(seq 1 300); do
        port=$(grep -aoE 'listening on http://127\.0\.0\.1:[0-9]+' "$tmp/$name-server.log" | head -n1 | sed 's/.*://' || true)
        [ -n "$port" ] && break
        if ! kill -0 "$server_pid" 2>/dev/null; then
            cat "$tmp/$name-server.log" >&2
            say "kujenga serve exited before listening"
            exit 1
        fi
        sleep 0.1
    done
    if [ -z "$port" ]; then
        cat "$tmp/$name-server.log" >&2
        say "kujenga serve did not report its port within 30 s"
        exit 1
    fi
    local base="http://127.0.0.1:$port"
    local endpoint path out rps p50 p99 bytes i=0
    for endpoint in healthz list dataset $EXTRA_PATHS; do
        case $endpoint in
            healthz) path="/healthz" ;;
            list) path="/api/v1/resources?limit=20" ;;
            dataset) path="/api/v1/datasets/$dataset" ;;
            *) path=$endpoint; i=$((i + 1)); endpoint="extra$i" ;;
        esac
        # The answer must be a 200 before it is worth timing.
        bytes=$(curl -fsS -o /dev/null -w '%{size_download}' "$base$path")
        say "[$name] GET $path ($bytes bytes): wrk -t$THREADS -c$CONNECTIONS -d$DURATION ..."
        out="$tmp/$name-$endpoint.txt"
        wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$base$path" >"$out"
        cat "$out" >&2
        if grep -q 'Non-2xx' "$out"; then
            say "GET $path answered errors on $name: the run is void"
            exit 1
        fi
        if grep -q 'Socket errors' "$out"; then
            say "[$name] GET $path: wrk saw socket errors (timeouts?), see above"
        fi
        rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
        p50=$(awk '$1 == "50%" {print $2}' "$out")
        p99=$(awk '$1 == "99%" {print $2}' "$out")
        echo "$name $endpoint $rps $p50 $p99 $bytes ${seconds:-?} $path" >>"$tmp/results"
    done
    stop_server
}

# --- SQLite ------------------------------------------------------------------
measure_backend sqlite "$tmp/sqlite"

# --- PostgreSQL ----------------------------------------------------------------
pg_note=""
pg_base=${PG_URL%%\?*}
pg_query=""
[ "$pg_base" != "$PG_URL" ] && pg_query="?${PG_URL#*\?}"
pg_db=${pg_base##*/}
pg_admin_url="${pg_base%/*}/postgres$pg_query"
pg_host=$(sed -E 's#^[a-z]+://([^@/]*@)?([^:/?]+).*#\2#' <<<"$PG_URL")
pg_port=$(sed -nE 's#^[a-z]+://([^@/]*@)?[^:/?]+:([0-9]+).*#\2#p' <<<"$PG_URL")
pg_port=${pg_port:-5432}
if ! [[ "$pg_db" =~ ^[a-z_][a-z0-9_]*$ ]]; then
    pg_note="skipped: the database name in KUJENGA_BENCH_POSTGRES_URL must be [a-z0-9_]"
elif ! command -v psql >/dev/null; then
    pg_note="skipped: psql (postgresql-client) is needed to create and drop $pg_db"
elif ! timeout 3 bash -c "exec 3<>/dev/tcp/$pg_host/$pg_port" 2>/dev/null; then
    pg_note="skipped: no PostgreSQL at $pg_host:$pg_port (set KUJENGA_BENCH_POSTGRES_URL)"
elif ! psql -q -X "$pg_admin_url" -c "CREATE DATABASE \"$pg_db\"" >/dev/null 2>"$tmp/pg-create.txt"; then
    pg_note="skipped: could not create database $pg_db ($(head -n1 "$tmp/pg-create.txt")); drop a leftover one with: psql -c 'DROP DATABASE $pg_db'"
else
    pg_created=1
    measure_backend postgres "$tmp/postgres" "$PG_URL"
fi
[ -n "$pg_note" ] && say "$pg_note"

# --- table -------------------------------------------------------------------
echo
echo "Catalogue benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $RESOURCES resources," \
    "wrk -t$THREADS -c$CONNECTIONS -d$DURATION, anonymous, uncompressed"
printf '%-9s %-32s %10s %10s %9s %9s %8s\n' backend endpoint "req/s" "/healthz" p50 p99 bytes
while read -r backend endpoint rps p50 p99 bytes _ path; do
    healthz=$(awk -v b="$backend" '$1 == b && $2 == "healthz" {print $3}' "$tmp/results")
    case $endpoint in
        dataset) label="GET /api/v1/datasets/{id}" ;;
        *) label="GET $path" ;;
    esac
    ratio=$(awk -v a="$rps" -v b="$healthz" 'BEGIN { printf "%.4f", a / b }')
    printf '%-9s %-32s %10s %10s %9s %9s %8s\n' "$backend" "$label" "$rps" "$ratio" "$p50" "$p99" "$bytes"
done <"$tmp/results"
awk '$2 == "healthz" {printf "seed-demo on %s: %s s\n", $1, $7}' "$tmp/results"
[ -n "$pg_note" ] && echo "postgres: $pg_note"
exit 0

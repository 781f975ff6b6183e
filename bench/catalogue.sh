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
# BENCH_WRK_DURATION (10s), BENCH_EXTRA_PATHS (none; `next:PATH` measures the
# page that PATH's `hydra:next` names), BENCH_WRK_THREADS (2),
# BENCH_WRK_CONNECTIONS (32; a list such as "1 4 32" measures every path at
# each, one wrk thread per connection at most),
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
# "cached": the server as configured (anonymous answers kept in memory, so a
# repeated URL is mostly answered from there); "uncached": the same server
# with http.public_cache_mib=0, so every request does the database work.
MODES=${BENCH_MODES:-"cached uncached"}
PG_URL=${KUJENGA_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/kujenga_bench}
TARGET=${CARGO_TARGET_DIR:-target}
# BENCH_KUJENGA_BIN: a kujenga binary built already (nothing is built then).
BIN=${BENCH_KUJENGA_BIN:-"$TARGET/release/kujenga"}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kujenga-catalogue.XXXXXX")
# shellcheck source=bench/lib.sh
source bench/lib.sh
trap cleanup EXIT

# --- tools -----------------------------------------------------------------
ensure_wrk

# --- build -----------------------------------------------------------------
if [ -z "${BENCH_KUJENGA_BIN:-}" ]; then
    say "building (release) ..."
    cargo build --release --bin kujenga >&2
fi

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

    local mode cache_mib
    for mode in $MODES; do
    case $mode in
        cached) cache_mib=${KUJENGA_HTTP__PUBLIC_CACHE_MIB:-16} ;;
        *) cache_mib=0 ;;
    esac
    say "[$name] starting kujenga serve ($mode: public cache $cache_mib MiB) ..."
    "${env_db[@]}" \
        KUJENGA_LOG__LEVEL="warn,kujenga::startup=info" \
        KUJENGA_MAIL__WORKER=false NO_COLOR=1 KUJENGA_HTTP__PUBLIC_CACHE_MIB="$cache_mib" \
        "$BIN" --data-dir "$data" serve --bind 127.0.0.1:0 2>"$tmp/$name-$mode-server.log" &
    server_pid=$!
    local port
    port=$(wait_for_port "$tmp/$name-$mode-server.log") || exit 1
    local base="http://127.0.0.1:$port"
    local endpoint path out rps p50 p99 bytes i=0 c threads
    for c in $CONNECTIONS; do
    threads=$((c < THREADS ? c : THREADS))
    i=0
    for endpoint in healthz list dataset $EXTRA_PATHS; do
        case $endpoint in
            healthz) path="/healthz" ;;
            list) path="/api/v1/resources?limit=20" ;;
            dataset) path="/api/v1/datasets/$dataset" ;;
            next:*)
                # The page a harvester reaches by following `hydra:next` from
                # the page named (in the same format: `catalog.ttl`).
                path=$(curl -fsS "$base${endpoint#next:}" |
                    grep -o 'hydra:next <[^>]*>' | head -1 |
                    sed -E 's|^hydra:next <https?://[^/]*||; s|>$||')
                path=${path/\/api\/v1\/catalog\?//api/v1/catalog.ttl?}
                i=$((i + 1)); endpoint="extra$i" ;;
            *) path=$endpoint; i=$((i + 1)); endpoint="extra$i" ;;
        esac
        # The answer must be a 200 before it is worth timing.
        bytes=$(curl -fsS -o /dev/null -w '%{size_download}' "$base$path")
        say "[$name] GET $path ($bytes bytes): wrk -t$threads -c$c -d$DURATION ..."
        out="$tmp/$name-$mode-c$c-$endpoint.txt"
        wrk -t"$threads" -c"$c" -d"$DURATION" --latency "$base$path" >"$out"
        cat "$out" >&2
        local errors
        errors=$(awk '/Non-2xx/ {print $5}' "$out")
        if [ -n "$errors" ]; then
            # Kept in the table (the "errors" column): an overloaded server
            # answering 503 is part of what is measured, not a broken run.
            say "[$name/$mode] GET $path answered $errors errors (non-2xx)"
        fi
        if grep -q 'Socket errors' "$out"; then
            say "[$name] GET $path: wrk saw socket errors (timeouts?), see above"
        fi
        rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
        p50=$(awk '$1 == "50%" {print $2}' "$out")
        p99=$(awk '$1 == "99%" {print $2}' "$out")
        echo "$name/$mode/c$c $endpoint $rps $p50 $p99 $bytes ${seconds:-?} ${errors:-0} $path" >>"$tmp/results"
    done
    done
    # The server's memory after the whole run: resident now and at its peak.
    awk -v b="$name/$mode" '/^VmRSS/ {rss=$2} /^VmHWM/ {hwm=$2}
        END {printf "%s: server RSS %.0f MiB after the run (peak %.0f MiB)\n", b, rss/1024, hwm/1024}' \
        "/proc/$server_pid/status" >>"$tmp/memory"
    stop_server
    done
}

# --- SQLite ------------------------------------------------------------------
measure_backend sqlite "$tmp/sqlite"

# --- PostgreSQL ----------------------------------------------------------------
with_postgres "$PG_URL" measure_backend postgres "$tmp/postgres"

# --- table -------------------------------------------------------------------
echo
echo "Catalogue benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $RESOURCES resources," \
    "wrk -t$THREADS (at most one per connection) -c(${CONNECTIONS// /, }) -d$DURATION, anonymous, uncompressed"
printf '%-18s %-70s %10s %10s %9s %9s %8s %7s\n' backend endpoint "req/s" "/healthz" p50 p99 bytes errors
while read -r backend endpoint rps p50 p99 bytes _ errors path; do
    healthz=$(awk -v b="$backend" '$1 == b && $2 == "healthz" {print $3}' "$tmp/results")
    case $endpoint in
        dataset) label="GET /api/v1/datasets/{id}" ;;
        *) label="GET $path" ;;
    esac
    ratio=$(awk -v a="$rps" -v b="$healthz" 'BEGIN { printf "%.4f", a / b }')
    printf '%-18s %-70s %10s %10s %9s %9s %8s %7s\n' "$backend" "$label" "$rps" "$ratio" "$p50" "$p99" "$bytes" "$errors"
done <"$tmp/results"
awk '$2 == "healthz" {split($1, b, "/"); if (!seen[b[1]]++) printf "seed-demo on %s: %s s\n", b[1], $7}' "$tmp/results"
cat "$tmp/memory"
[ -n "$pg_note" ] && echo "postgres: $pg_note"
exit 0

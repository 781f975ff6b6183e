#!/usr/bin/env bash
# Dataset access: what issuing a file link costs, as ratios to GET /healthz
# measured against the same server in the same run:
#
#   GET /healthz                                   (the reference: no I/O)
#   GET /api/v1/datasets/{id}/files/{file_id}/link (a write transaction per
#        link: the dataset, the caller's memberships and grant, the transfer
#        policy, then a file_links row and an audit event)
#   GET /api/v1/transparency/access-report         (the 12 months that have
#        ended: on this fresh database, the cost of its 36 queries alone)
#
# on SQLite and, when KUJENGA_BENCH_POSTGRES_URL's server answers, PostgreSQL.
# For each backend: a fresh database, an admin (the CLI), a verified
# institution with one open, unrestricted dataset and one file, BENCH_LINKS
# links issued beforehand (so the report has rows to count), then wrk on the
# three URLs one after the other with the admin's API token, keep-alive.
#
#   bash bench/access.sh
#   BENCH_WRK_DURATION=5s bash bench/access.sh
#
# Environment: BENCH_WRK_DURATION (10s), BENCH_WRK_THREADS (2),
# BENCH_WRK_CONNECTIONS (32), BENCH_LINKS (2000),
# KUJENGA_BENCH_POSTGRES_URL (postgres://postgres@127.0.0.1:5432/kujenga_bench_access:
# created for the run and dropped after it; the run refuses one that exists),
# CARGO_TARGET_DIR (target). See bench/README.md for the figures.
set -euo pipefail
set -f

cd "$(dirname "$0")/.."
DURATION=${BENCH_WRK_DURATION:-10s}
THREADS=${BENCH_WRK_THREADS:-2}
CONNECTIONS=${BENCH_WRK_CONNECTIONS:-32}
LINKS=${BENCH_LINKS:-2000}
PG_URL=${KUJENGA_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/kujenga_bench_access}
TARGET=${CARGO_TARGET_DIR:-target}
BIN="$TARGET/release/kujenga"
PASSWORD="benchmarks measure the link path"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kujenga-access.XXXXXX")
# shellcheck source=bench/lib.sh
source bench/lib.sh
trap cleanup EXIT

ensure_wrk

say "building (release) ..."
cargo build --release --bin kujenga >&2

json_field() { python3 -c "import json, sys; print(json.load(sys.stdin)[\"$1\"])"; }

# measure_backend NAME DATA_DIR [DATABASE_URL]: appends one line per endpoint
# to $tmp/results: backend endpoint req/s p50 p99 bytes
measure_backend() {
    local name=$1 data=$2 url=${3:-}
    local env_db=(env -u DATABASE_URL)
    [ -n "$url" ] && env_db=(env DATABASE_URL="$url")
    mkdir -p "$data"
    local who
    for who in owner downloader; do
        printf '%s\n' "$PASSWORD" | "${env_db[@]}" KUJENGA_LOG__LEVEL=warn \
            "$BIN" --data-dir "$data" admin create --email "$who@example.org" >/dev/null
    done

    say "[$name] starting kujenga serve ..."
    "${env_db[@]}" KUJENGA_LOG__LEVEL="warn,kujenga::startup=info" \
        KUJENGA_MAIL__WORKER=false KUJENGA_MAIL__TRANSPORT=log NO_COLOR=1 \
        "$BIN" --data-dir "$data" serve --bind 127.0.0.1:0 2>"$tmp/$name-server.log" &
    server_pid=$!
    local port
    port=$(wait_for_port "$tmp/$name-server.log") || exit 1
    local base="http://127.0.0.1:$port"
    local owner token dataset file
    token_of() {
        local access
        access=$(curl -fsS -X POST "$base/api/v1/auth/login" -H 'content-type: application/json' \
            -d "{\"email\": \"$1@example.org\", \"password\": \"$PASSWORD\"}" | json_field access_token)
        curl -fsS -X POST "$base/api/v1/me/tokens" -H 'content-type: application/json' \
            -H "authorization: Bearer $access" -d '{"name": "bench", "scopes": ["read", "write"]}' |
            json_field token
    }
    owner=$(token_of owner)
    token=$(token_of downloader)
    api() {
        curl -fsS -X "$1" "$base/api/v1$2" -H 'content-type: application/json' \
            -H "authorization: Bearer $owner" ${3:+-d "$3"}
    }
    api POST /institutions '{"slug": "bench-lab", "name": "Bench Lab", "country": "TZ", "kind": "research_lab"}' >/dev/null
    api POST /institutions/bench-lab/verify >/dev/null
    dataset=$(api POST /datasets '{"institution": "bench-lab", "title": "Bench dataset",
        "summary": "A dataset to download.", "license": "CC-BY-4.0", "languages": ["sw"],
        "visibility": "public", "access_level": "open", "transfer_policy": "allowed_countries",
        "allowed_countries": ["KE", "UG"], "datasheet": {"motivation": "Benchmarks.",
        "composition": "Rows.", "collection_process": "Generated.", "uses": "Measuring."}}' | json_field id)
    file=$(api POST "/datasets/$dataset/files" "{\"name\": \"data.csv\", \"url\": \"https://example.org/data.csv\",
        \"media_type\": \"text/csv\", \"size_bytes\": 1024, \"sha256\": \"$(printf '%064d' 0)\"}" | json_field id)
    api POST "/datasets/$dataset/publish" >/dev/null
    # The downloader is not of the owning institution and lives in KE: the
    # path every outside download takes (the policy, then the transfer policy).
    curl -fsS -o /dev/null -X PATCH "$base/api/v1/me" -H 'content-type: application/json' \
        -H "authorization: Bearer $token" -d '{"country": "KE"}'
    say "[$name] issuing $LINKS links for the report to count ..."
    for _ in $(seq 1 "$LINKS"); do
        curl -fsS -o /dev/null "$base/api/v1/datasets/$dataset/files/$file/link" -H "authorization: Bearer $token"
    done

    local endpoint path out rps p50 p99 bytes
    for endpoint in healthz link report; do
        case $endpoint in
            healthz) path="/healthz" ;;
            link) path="/api/v1/datasets/$dataset/files/$file/link" ;;
            report) path="/api/v1/transparency/access-report" ;;
        esac
        bytes=$(curl -fsS -o /dev/null -w '%{size_download}' -H "authorization: Bearer $token" "$base$path")
        say "[$name] GET $path ($bytes bytes): wrk -t$THREADS -c$CONNECTIONS -d$DURATION ..."
        out="$tmp/$name-$endpoint.txt"
        wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency \
            -H "Authorization: Bearer $token" "$base$path" >"$out"
        cat "$out" >&2
        if grep -q 'Non-2xx' "$out"; then
            say "GET $path answered errors on $name: the run is void"
            exit 1
        fi
        rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
        p50=$(awk '$1 == "50%" {print $2}' "$out")
        p99=$(awk '$1 == "99%" {print $2}' "$out")
        echo "$name $endpoint $rps $p50 $p99 $bytes" >>"$tmp/results"
    done
    stop_server
}

measure_backend sqlite "$tmp/sqlite"

with_postgres "$PG_URL" measure_backend postgres "$tmp/postgres"

echo
echo "Dataset access benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores," \
    "wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $LINKS links issued beforehand"
printf '%-9s %-48s %10s %10s %9s %9s %7s\n' backend endpoint "req/s" "/healthz" p50 p99 bytes
while read -r backend endpoint rps p50 p99 bytes; do
    healthz=$(awk -v b="$backend" '$1 == b && $2 == "healthz" {print $3}' "$tmp/results")
    case $endpoint in
        healthz) label="GET /healthz" ;;
        link) label="GET /api/v1/datasets/{id}/files/{file_id}/link" ;;
        report) label="GET /api/v1/transparency/access-report" ;;
    esac
    ratio=$(awk -v a="$rps" -v b="$healthz" 'BEGIN { printf "%.4f", a / b }')
    printf '%-9s %-48s %10s %10s %9s %9s %7s\n' "$backend" "$label" "$rps" "$ratio" "$p50" "$p99" "$bytes"
done <"$tmp/results"
[ -n "$pg_note" ] && echo "postgres: $pg_note"
exit 0

#!/usr/bin/env bash
# Dataset access: what issuing a file link costs, as ratios to GET /healthz
# measured against the same server in the same run:
#
#   GET /healthz                                   (the reference: no I/O)
#   GET /api/v1/datasets/{id}/files/{file_id}/link (a write transaction per
#        link: the dataset, the caller's memberships and grant, the transfer
#        policy, then a file_links row and an audit event)
#   GET /api/v1/transparency/access-report         (12 months of aggregates)
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

say() { printf '%s\n' "$*" >&2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kujenga-access.XXXXXX")
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

sudo_cmd=""
[ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
if ! command -v wrk >/dev/null; then
    say "wrk is missing: installing it from the distribution's packages"
    $sudo_cmd apt-get install -y wrk >&2 || {
        $sudo_cmd apt-get update >&2 && $sudo_cmd apt-get install -y wrk >&2
    }
fi

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
    local port=""
    for _ in $(seq 1 300); do
        port=$(grep -aoE 'listening on http://127\.0\.0\.1:[0-9]+' "$tmp/$name-server.log" | head -n1 | sed 's/.*://' || true)
        [ -n "$port" ] && break
        kill -0 "$server_pid" 2>/dev/null || { cat "$tmp/$name-server.log" >&2; exit 1; }
        sleep 0.1
    done
    [ -n "$port" ] || { say "kujenga serve did not report its port"; exit 1; }
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

pg_note=""
pg_base=${PG_URL%%\?*}
pg_db=${pg_base##*/}
pg_admin_url="${pg_base%/*}/postgres"
pg_host=$(sed -E 's#^[a-z]+://([^@/]*@)?([^:/?]+).*#\2#' <<<"$PG_URL")
pg_port=$(sed -nE 's#^[a-z]+://([^@/]*@)?[^:/?]+:([0-9]+).*#\2#p' <<<"$PG_URL")
pg_port=${pg_port:-5432}
if ! [[ "$pg_db" =~ ^[a-z_][a-z0-9_]*$ ]]; then
    pg_note="skipped: the database name in KUJENGA_BENCH_POSTGRES_URL must be [a-z0-9_]"
elif ! command -v psql >/dev/null; then
    pg_note="skipped: psql is needed to create and drop $pg_db"
elif ! timeout 3 bash -c "exec 3<>/dev/tcp/$pg_host/$pg_port" 2>/dev/null; then
    pg_note="skipped: no PostgreSQL at $pg_host:$pg_port"
elif ! psql -q -X "$pg_admin_url" -c "CREATE DATABASE \"$pg_db\"" >/dev/null 2>"$tmp/pg-create.txt"; then
    pg_note="skipped: could not create $pg_db ($(head -n1 "$tmp/pg-create.txt"))"
else
    pg_created=1
    measure_backend postgres "$tmp/postgres" "$PG_URL"
fi
[ -n "$pg_note" ] && say "$pg_note"

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

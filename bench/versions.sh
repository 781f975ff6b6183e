#!/usr/bin/env bash
# Published versions (issue #19): what reading an old version costs against
# the latest, as ratios to GET /healthz in the same run, and what each
# version takes in storage. For each backend: a fresh database, a verified
# institution, one public dataset with every field filled (the core fields,
# the data terms, the 8 datasheet sections, 30 tags: 54 values in 22
# fields), published, then BENCH_VERSIONS more versions (each a draft edit
# of its summary and tags, then publish). Then
# wrk, anonymous, on the server started without the anonymous answer cache
# (every request reads the database):
#
#   GET /healthz                              (the reference: no I/O)
#   GET /api/v1/datasets/{id}                 (the latest version: the row)
#   GET /api/v1/datasets/{id}/versions/1.0    (the first: its snapshot)
#   GET /api/v1/datasets/{id}/versions/1.50   (one in the middle)
#
# and the size of `resource_versions` (its rows, their snapshots' bytes).
#
#   bash bench/versions.sh
#   BENCH_WRK_DURATION=5s BENCH_VERSIONS=20 bash bench/versions.sh
#
# Environment: BENCH_WRK_DURATION (10s), BENCH_WRK_THREADS (2),
# BENCH_WRK_CONNECTIONS (32), BENCH_VERSIONS (100),
# KUJENGA_BENCH_POSTGRES_URL (postgres://postgres@127.0.0.1:5432/kujenga_bench_versions:
# created for the run and dropped after it), CARGO_TARGET_DIR (target),
# BENCH_KUJENGA_BIN (a binary built already).
set -euo pipefail
set -f

cd "$(dirname "$0")/.."
DURATION=${BENCH_WRK_DURATION:-10s}
THREADS=${BENCH_WRK_THREADS:-2}
CONNECTIONS=${BENCH_WRK_CONNECTIONS:-32}
VERSIONS=${BENCH_VERSIONS:-100}
PG_URL=${KUJENGA_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/kujenga_bench_versions}
TARGET=${CARGO_TARGET_DIR:-target}
# BENCH_KUJENGA_BIN: a kujenga binary built already (nothing is built then).
BIN=${BENCH_KUJENGA_BIN:-"$TARGET/release/kujenga"}
PASSWORD="benchmarks measure the versions"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kujenga-versions.XXXXXX")
# shellcheck source=bench/lib.sh
source bench/lib.sh
trap cleanup EXIT

ensure_wrk

if [ -z "${BENCH_KUJENGA_BIN:-}" ]; then
    say "building (release) ..."
    cargo build --release --bin kujenga >&2
fi

json_field() { python3 -c "import json, sys; print(json.load(sys.stdin)[\"$1\"])"; }

tags() {
    local n=$1 out="" i
    for i in $(seq 1 30); do out+="\"tag-$i-v$n\","; done
    printf '[%s]' "${out%,}"
}

# storage NAME DATA_DIR [DATABASE_URL]: rows, snapshot bytes and table size
storage() {
    local name=$1 data=$2 url=${3:-}
    if [ -n "$url" ]; then
        psql -X -qAt "$url" -c "SELECT count(*), coalesce(sum(octet_length(snapshot)), 0),
            pg_total_relation_size('resource_versions') FROM resource_versions"
    else
        python3 - "$data/kujenga.db" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
rows, snap = db.execute(
    "SELECT count(*), coalesce(sum(length(CAST(snapshot AS BLOB))), 0) FROM resource_versions").fetchone()
try:
    size = db.execute("SELECT sum(pgsize) FROM dbstat WHERE name LIKE '%resource_versions%'").fetchone()[0]
except sqlite3.OperationalError:
    size = "?"
print(f"{rows}|{snap}|{size}")
EOF
    fi
}

measure_backend() {
    local name=$1 data=$2 url=${3:-}
    local env_db=(env -u DATABASE_URL)
    [ -n "$url" ] && env_db=(env DATABASE_URL="$url")
    mkdir -p "$data"
    printf '%s\n' "$PASSWORD" | "${env_db[@]}" KUJENGA_LOG__LEVEL=warn \
        "$BIN" --data-dir "$data" admin create --email "owner@example.org" >/dev/null

    say "[$name] starting kujenga serve (no anonymous answer cache) ..."
    "${env_db[@]}" KUJENGA_LOG__LEVEL="warn,kujenga::startup=info" \
        KUJENGA_MAIL__WORKER=false KUJENGA_MAIL__TRANSPORT=log NO_COLOR=1 \
        KUJENGA_HTTP__PUBLIC_CACHE_MIB=0 \
        "$BIN" --data-dir "$data" serve --bind 127.0.0.1:0 2>"$tmp/$name-server.log" &
    server_pid=$!
    local port
    port=$(wait_for_port "$tmp/$name-server.log") || exit 1
    local base="http://127.0.0.1:$port"
    local access owner dataset
    access=$(curl -fsS -X POST "$base/api/v1/auth/login" -H 'content-type: application/json' \
        -d "{\"email\": \"owner@example.org\", \"password\": \"$PASSWORD\"}" | json_field access_token)
    owner=$(curl -fsS -X POST "$base/api/v1/me/tokens" -H 'content-type: application/json' \
        -H "authorization: Bearer $access" -d '{"name": "bench", "scopes": ["read", "write"]}' |
        json_field token)
    api() {
        curl -fsS -X "$1" "$base/api/v1$2" -H 'content-type: application/json' \
            -H "authorization: Bearer $owner" ${3:+-d "$3"}
    }
    api POST /institutions '{"slug": "bench-lab", "name": "Bench Lab", "country": "TZ", "kind": "research_lab"}' >/dev/null
    api POST /institutions/bench-lab/verify >/dev/null
    local sheet='{"motivation": "Benchmarks of versions.", "composition": "Rows of speech transcripts.",
        "collection_process": "Recorded on community radio.", "preprocessing": "Normalised.",
        "uses": "Measuring.", "out_of_scope_uses": "Anything else.",
        "biases_and_limitations": "Three dialects only.", "maintenance": "Yearly."}'
    dataset=$(api POST /datasets "{\"institution\": \"bench-lab\", \"title\": \"Versioned dataset\",
        \"summary\": \"Version 0.\", \"description\": \"$(printf 'A long description. %.0s' $(seq 1 60))\",
        \"license\": \"CC-BY-4.0\", \"languages\": [\"sw\", \"en\", \"yo\"], \"countries\": [\"TZ\", \"KE\"],
        \"tags\": $(tags 0), \"visibility\": \"public\", \"access_level\": \"registered\",
        \"transfer_policy\": \"allowed_countries\", \"allowed_countries\": [\"KE\", \"UG\"],
        \"contains_personal_data\": false, \"record_count\": 120000, \"size_bytes\": 52428800,
        \"formats\": [\"CSV\", \"Parquet\"], \"datasheet\": $sheet}" | json_field id)
    api POST "/datasets/$dataset/publish" >/dev/null
    say "[$name] publishing $VERSIONS more versions ..."
    local n
    for n in $(seq 1 "$VERSIONS"); do
        api PATCH "/datasets/$dataset/draft" "{\"summary\": \"Version $n.\", \"tags\": $(tags "$n")}" >/dev/null
        api POST "/datasets/$dataset/publish" >/dev/null
    done
    local latest middle=$(((VERSIONS + 1) / 2))
    latest=$(curl -fsS "$base/api/v1/datasets/$dataset" | json_field version_label)
    say "[$name] latest version: $latest"
    local endpoint path out rps p50 p99 bytes
    for endpoint in healthz latest first middle; do
        case $endpoint in
            healthz) path="/healthz" ;;
            latest) path="/api/v1/datasets/$dataset" ;;
            first) path="/api/v1/datasets/$dataset/versions/1.0" ;;
            middle) path="/api/v1/datasets/$dataset/versions/1.$middle" ;;
        esac
        bytes=$(curl -fsS -o /dev/null -w '%{size_download}' "$base$path")
        say "[$name] GET $path ($bytes bytes): wrk -t$THREADS -c$CONNECTIONS -d$DURATION ..."
        out="$tmp/$name-$endpoint.txt"
        wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$base$path" >"$out"
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
    echo "$name $(storage "$name" "$data" "$url")" >>"$tmp/storage"
}

measure_backend sqlite "$tmp/sqlite"

with_postgres "$PG_URL" measure_backend postgres "$tmp/postgres"

echo
echo "Versions benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores," \
    "wrk -t$THREADS -c$CONNECTIONS -d$DURATION, 1 + $VERSIONS versions, no answer cache"
printf '%-9s %-44s %10s %10s %9s %9s %7s\n' backend endpoint "req/s" "/healthz" p50 p99 bytes
while read -r backend endpoint rps p50 p99 bytes; do
    healthz=$(awk -v b="$backend" '$1 == b && $2 == "healthz" {print $3}' "$tmp/results")
    case $endpoint in
        healthz) label="GET /healthz" ;;
        latest) label="GET /api/v1/datasets/{id} (latest)" ;;
        first) label="GET …/versions/1.0" ;;
        middle) label="GET …/versions/1.$(((VERSIONS + 1) / 2))" ;;
    esac
    ratio=$(awk -v a="$rps" -v b="$healthz" 'BEGIN { printf "%.4f", a / b }')
    printf '%-9s %-44s %10s %10s %9s %9s %7s\n' "$backend" "$label" "$rps" "$ratio" "$p50" "$p99" "$bytes"
done <"$tmp/results"
echo
echo "Storage of resource_versions (rows | snapshot bytes | table size in bytes, with indexes and TOAST):"
while read -r backend figures; do
    IFS='|' read -r rows snap size <<<"$figures"
    per=$(awk -v s="$snap" -v r="$rows" 'BEGIN { if (r > 0) printf "%.0f", s / r; else print "?" }')
    echo "  $backend: $rows versions, $snap snapshot bytes ($per per version), table $size bytes"
done <"$tmp/storage"
[ -n "$pg_note" ] && echo "postgres: $pg_note"
exit 0

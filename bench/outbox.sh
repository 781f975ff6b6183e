#!/usr/bin/env bash
# Outbox throughput, as a ratio to GET /healthz measured in the same run.
#
#   bash bench/outbox.sh [extra outbox_bench flags, e.g. --workers 4]
#
# 1. builds the release binary and the outbox_bench example;
# 2. starts `kujenga serve` on 127.0.0.1 (port 0) and measures GET /healthz
#    with wrk (the no-I/O reference), then stops it;
# 3. runs the outbox bench on SQLite (a temp file) and on PostgreSQL (a fresh
#    database on BENCH_POSTGRES_URL, skipped if the server does not answer);
# 4. prints emails/s per backend and the ratio emails/s / healthz req/s.
#
# Environment: BENCH_EMAILS (10000), BENCH_WORKERS (2),
# BENCH_POSTGRES_URL (postgres://postgres@127.0.0.1:5432/postgres),
# BENCH_WRK_DURATION (10s), CARGO_TARGET_DIR (target).
# See bench/README.md for how to read the numbers.
set -euo pipefail

cd "$(dirname "$0")/.."
EMAILS=${BENCH_EMAILS:-10000}
WORKERS=${BENCH_WORKERS:-2}
PG_URL=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
WRK_DURATION=${BENCH_WRK_DURATION:-10s}
TARGET=${CARGO_TARGET_DIR:-target}
BIN="$TARGET/release/kujenga"
BENCH="$TARGET/release/examples/outbox_bench"

say() { printf '%s\n' "$*" >&2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kujenga-bench.XXXXXX")
server_pid=""
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

# --- tools -----------------------------------------------------------------
if ! command -v wrk >/dev/null; then
    say "wrk is missing: installing it from the distribution's packages"
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get install -y wrk >&2 || {
        $sudo_cmd apt-get update >&2 && $sudo_cmd apt-get install -y wrk >&2
    }
fi

# --- build -----------------------------------------------------------------
say "building (release) ..."
cargo build --release --example outbox_bench --bin kujenga >&2

# --- reference: GET /healthz --------------------------------------------------
# Request logs off (they would measure the log writer) and no email worker:
# the reference is the HTTP stack alone.
say "starting kujenga serve ..."
env -u DATABASE_URL \
    KUJENGA_LOG__LEVEL="warn,kujenga::startup=info" \
    KUJENGA_MAIL__WORKER=false \
    "$BIN" serve --bind 127.0.0.1:0 --data-dir "$tmp/server" 2>"$tmp/server.log" &
server_pid=$!
port=""
for _ in $(seq 1 300); do
    port=$(grep -aoE 'listening on http://127\.0\.0\.1:[0-9]+' "$tmp/server.log" | head -n1 | sed 's/.*://' || true)
    [ -n "$port" ] && break
    if ! kill -0 "$server_pid" 2>/dev/null; then
        cat "$tmp/server.log" >&2
        say "kujenga serve exited before listening"
        exit 1
    fi
    sleep 0.1
done
if [ -z "$port" ]; then
    cat "$tmp/server.log" >&2
    say "kujenga serve did not report its port within 30 s"
    exit 1
fi
url="http://127.0.0.1:$port/healthz"
curl -fsS "$url" >/dev/null
say "measuring GET $url (wrk -t2 -c32 -d$WRK_DURATION) ..."
wrk -t2 -c32 -d"$WRK_DURATION" "$url" >"$tmp/wrk.txt"
cat "$tmp/wrk.txt" >&2
if grep -q 'Non-2xx' "$tmp/wrk.txt"; then
    say "GET /healthz answered errors: the reference is not valid"
    exit 1
fi
healthz=$(awk '/^Requests\/sec:/ {print $2}' "$tmp/wrk.txt")
kill "$server_pid"
wait "$server_pid" 2>/dev/null || true
server_pid=""

# --- outbox ----------------------------------------------------------------
field() { # field NAME JSON-LINE
    sed -E "s/.*\"$1\":([0-9.eE+-]+).*/\\1/" <<<"$2"
}

run_bench() { # run_bench BACKEND URL
    say "outbox bench on $1 ($EMAILS emails, $WORKERS workers) ..."
    timeout 200 "$BENCH" --database-url "$2" --emails "$EMAILS" --workers "$WORKERS" "${@:3}" \
        | tail -n1
}

sqlite_line=$(run_bench sqlite "sqlite://$tmp/bench.db" "$@")
say "$sqlite_line"

pg_line=""
pg_note=""
pg_host=$(sed -E 's#^[a-z]+://([^@/]*@)?([^:/?]+).*#\2#' <<<"$PG_URL")
pg_port=$(sed -nE 's#^[a-z]+://([^@/]*@)?[^:/?]+:([0-9]+).*#\2#p' <<<"$PG_URL")
pg_port=${pg_port:-5432}
if timeout 3 bash -c "exec 3<>/dev/tcp/$pg_host/$pg_port" 2>/dev/null; then
    if pg_line=$(run_bench postgres "$PG_URL" "$@"); then
        say "$pg_line"
    else
        pg_note="failed (see the messages above)"
        pg_line=""
    fi
else
    pg_note="skipped: no PostgreSQL at $pg_host:$pg_port (set BENCH_POSTGRES_URL)"
    say "$pg_note"
fi

# --- table -----------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.5f", a / b }'; }
row() { # row BACKEND JSON-LINE
    local enq del dup
    enq=$(field enqueue_per_sec "$2")
    del=$(field deliver_per_sec "$2")
    dup=$(field duplicates "$2")
    printf '%-9s %11s %11s %15s %15s %10s\n' "$1" "$enq" "$del" \
        "$(ratio "$enq" "$healthz")" "$(ratio "$del" "$healthz")" "$dup"
}

echo
echo "Outbox benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $EMAILS emails, $WORKERS workers"
echo "GET /healthz (wrk -t2 -c32 -d$WRK_DURATION): $healthz req/s"
printf '%-9s %11s %11s %15s %15s %10s\n' backend enqueue/s deliver/s "enqueue/healthz" "deliver/healthz" duplicates
row sqlite "$sqlite_line"
if [ -n "$pg_line" ]; then
    row postgres "$pg_line"
else
    printf '%-9s %s\n' postgres "$pg_note"
fi
echo
echo "raw:"
echo "$sqlite_line"
[ -n "$pg_line" ] && echo "$pg_line"
exit 0

# Shared by the HTTP benchmarks (bench/catalogue.sh, bench/access.sh):
# sourced, not run. Expects `tmp` (a scratch folder) to be set; defines
# say, stop_server, cleanup (the EXIT trap), ensure_wrk, wait_for_port and
# with_postgres, and the state they share (server_pid, pg_*).

say() { printf '%s\n' "$*" >&2; }

server_pid=""
pg_created=""
pg_admin_url=""
pg_db=""
pg_note=""

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

# Installs wrk from the distribution's packages when it is missing.
ensure_wrk() {
    command -v wrk >/dev/null && return 0
    local sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    say "wrk is missing: installing it from the distribution's packages"
    $sudo_cmd apt-get install -y wrk >&2 || {
        $sudo_cmd apt-get update >&2 && $sudo_cmd apt-get install -y wrk >&2
    }
}

# wait_for_port LOG: prints the port `kujenga serve` (pid $server_pid)
# reports in LOG; exits the script if it dies or stays silent for 30 s.
wait_for_port() {
    local log=$1 port=""
    for _ in $(seq 1 300); do
        port=$(grep -aoE 'listening on http://127\.0\.0\.1:[0-9]+' "$log" | head -n1 | sed 's/.*://' || true)
        [ -n "$port" ] && { echo "$port"; return 0; }
        if ! kill -0 "$server_pid" 2>/dev/null; then
            cat "$log" >&2
            say "kujenga serve exited before listening"
            exit 1
        fi
        sleep 0.1
    done
    cat "$log" >&2
    say "kujenga serve did not report its port within 30 s"
    exit 1
}

# with_postgres URL COMMAND...: creates URL's database with psql, runs
# COMMAND... (which gets URL as its last argument) and leaves dropping it to
# cleanup; when that cannot be done, sets pg_note to why and runs nothing.
with_postgres() {
    local url=$1
    shift
    local base=${url%%\?*} query="" host port
    [ "$base" != "$url" ] && query="?${url#*\?}"
    pg_db=${base##*/}
    pg_admin_url="${base%/*}/postgres$query"
    host=$(sed -E 's#^[a-z]+://([^@/]*@)?([^:/?]+).*#\2#' <<<"$url")
    port=$(sed -nE 's#^[a-z]+://([^@/]*@)?[^:/?]+:([0-9]+).*#\2#p' <<<"$url")
    port=${port:-5432}
    if ! [[ "$pg_db" =~ ^[a-z_][a-z0-9_]*$ ]]; then
        pg_note="skipped: the database name in KUJENGA_BENCH_POSTGRES_URL must be [a-z0-9_]"
    elif ! command -v psql >/dev/null; then
        pg_note="skipped: psql (postgresql-client) is needed to create and drop $pg_db"
    elif ! timeout 3 bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null; then
        pg_note="skipped: no PostgreSQL at $host:$port (set KUJENGA_BENCH_POSTGRES_URL)"
    elif ! psql -q -X "$pg_admin_url" -c "CREATE DATABASE \"$pg_db\"" >/dev/null 2>"$tmp/pg-create.txt"; then
        pg_note="skipped: could not create database $pg_db ($(head -n1 "$tmp/pg-create.txt")); drop a leftover one with: psql -c 'DROP DATABASE $pg_db'"
    else
        pg_created=1
        "$@" "$url"
    fi
    [ -n "$pg_note" ] && say "$pg_note"
    return 0
}

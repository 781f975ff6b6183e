#!/usr/bin/env bash
# Kujenga beside CKAN 2.12 on this machine, in one sitting (issue #15, point 7):
#
#   CKAN  GET /api/3/action/status_show           (CKAN's own no-I/O reference)
#   CKAN  GET /api/3/action/package_show?id=NAME  (one dataset)
#   CKAN  GET /api/3/action/package_list?limit=100 (100 dataset names)
#   Kujenga GET /healthz                          (Kujenga's no-I/O reference)
#   Kujenga GET /api/v1/datasets/{id}             (one dataset)
#   Kujenga GET /api/v1/datasets?limit=100&fields=id (100 dataset ids)
#
# CKAN: installed from PyPI with the release's pinned requirements
# (`ckan[requirements]==2.12.x`, whose extra is the release's
# requirements.txt) into target/bench-ckan-venv (reused when present), on a
# fresh PostgreSQL database, without Solr, loaded with N datasets through
# CKAN's own package_create (bench/ckan_seed.py), served by gunicorn with 2
# sync workers (one per core) and logging at WARNING.
# Kujenga: `kujenga seed-demo --resources N` on SQLite and on a fresh
# PostgreSQL database, served with the request log and the email worker off,
# once with the anonymous public cache as configured ("cached") and once with
# KUJENGA_HTTP__PUBLIC_CACHE_MIB=0 ("uncached").
# CKAN is measured first and again last (its two passes show the machine's
# drift; the Kujenga ÷ CKAN ratios use their mean). Every URL must answer
# 200 once before wrk times it; non-2xx answers are counted. Databases the run creates are dropped at the end; only the
# processes it started are stopped.
#
#   bash bench/ckan.sh
#   KUJENGA_BIN=/path/to/release/kujenga BENCH_WRK_DURATION=5s bash bench/ckan.sh
#
# Environment: BENCH_RESOURCES (10000: CKAN datasets and Kujenga resources),
# BENCH_INSTITUTIONS (20: CKAN organisations and Kujenga institutions),
# BENCH_WRK_DURATION (10s), BENCH_WRK_THREADS (2), BENCH_WRK_CONNECTIONS (32),
# BENCH_MODES ("cached uncached"), BENCH_BACKENDS ("sqlite postgres"; empty:
# CKAN alone),
# BENCH_CKAN_VERSION (2.12.0), BENCH_CKAN_VENV (target/bench-ckan-venv),
# BENCH_CKAN_WORKERS (gunicorn workers: number of cores), BENCH_CKAN_LOADERS
# (loading processes: number of cores), BENCH_GUNICORN_VERSION (27.0.1),
# BENCH_PYTHON (python3, >= 3.10), BENCH_POSTGRES_URL (an admin URL,
# postgres://postgres@127.0.0.1:5432/postgres), BENCH_CKAN_REDIS_URL
# (redis://127.0.0.1:6379/0), KUJENGA_BIN (else `cargo build --release`,
# honouring CARGO_TARGET_DIR). See bench/README.md.
set -euo pipefail
set -f # URLs hold `?`: never glob

cd "$(dirname "$0")/.."
RESOURCES=${BENCH_RESOURCES:-10000}
INSTITUTIONS=${BENCH_INSTITUTIONS:-20}
DURATION=${BENCH_WRK_DURATION:-10s}
THREADS=${BENCH_WRK_THREADS:-2}
CONNECTIONS=${BENCH_WRK_CONNECTIONS:-32}
MODES=${BENCH_MODES:-"cached uncached"}
BACKENDS=${BENCH_BACKENDS-"sqlite postgres"} # empty: CKAN alone
CKAN_VERSION=${BENCH_CKAN_VERSION:-2.12.0}
VENV=${BENCH_CKAN_VENV:-target/bench-ckan-venv}
CKAN_WORKERS=${BENCH_CKAN_WORKERS:-$(nproc)}
CKAN_LOADERS=${BENCH_CKAN_LOADERS:-$(nproc)}
GUNICORN_VERSION=${BENCH_GUNICORN_VERSION:-27.0.1}
PYTHON=${BENCH_PYTHON:-python3}
PG_ADMIN_URL=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
REDIS_URL=${BENCH_CKAN_REDIS_URL:-redis://127.0.0.1:6379/0}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kujenga-ckan.XXXXXX")
# say, stop_server (Kujenga, $server_pid), ensure_wrk, wait_for_port.
# shellcheck source=bench/lib.sh
source bench/lib.sh

ckan_pid=""
loader_pids=()
created_dbs=()

stop_ckan() {
    if [ -n "$ckan_pid" ] && kill -0 "$ckan_pid" 2>/dev/null; then
        # TERM to gunicorn's master: it stops its workers and exits.
        kill "$ckan_pid" 2>/dev/null || true
        wait "$ckan_pid" 2>/dev/null || true
    fi
    ckan_pid=""
}

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup_all() {
    stop_server
    stop_ckan
    local pid
    for pid in "${loader_pids[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    local db
    for db in "${created_dbs[@]}"; do
        psql -q -X "$PG_ADMIN_URL" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 ||
            say "could not drop database $db: drop it by hand"
    done
    rm -rf "$tmp"
}
trap cleanup_all EXIT
trap 'exit 130' INT TERM

# url_with_db ADMIN_URL NAME: the same server and options, another database.
url_with_db() {
    local base=${1%%\?*} query=""
    [ "$base" != "$1" ] && query="?${1#*\?}"
    echo "${base%/*}/$2$query"
}

# create_db NAME: a fresh database on the admin URL's server (refuses one
# that exists already), dropped at exit.
create_db() {
    psql -q -X -v ON_ERROR_STOP=1 "$PG_ADMIN_URL" -c "CREATE DATABASE \"$1\"" >/dev/null
    created_dbs+=("$1")
}

# port_is_open HOST PORT
port_is_open() { timeout 3 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

# --- tools and checks ----------------------------------------------------------
ensure_wrk
command -v psql >/dev/null || { say "psql (postgresql-client) is needed"; exit 1; }
psql -q -X "$PG_ADMIN_URL" -c 'SELECT 1' >/dev/null ||
    { say "no PostgreSQL answers at $PG_ADMIN_URL (set BENCH_POSTGRES_URL)"; exit 1; }

# --- CKAN: install ---------------------------------------------------------------
# A marker names what the venv holds; another version (or a half-done
# install) is installed over.
marker="$VENV/.bench-ckan-$CKAN_VERSION-gunicorn-$GUNICORN_VERSION"
if [ ! -e "$marker" ]; then
    say "installing CKAN $CKAN_VERSION with its pinned requirements into $VENV ..."
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' ||
        { say "CKAN 2.12 needs Python >= 3.10 (set BENCH_PYTHON)"; exit 1; }
    [ -x "$VENV/bin/pip" ] || "$PYTHON" -m venv "$VENV"
    # The sdist's `requirements` extra is the release's requirements.txt
    # (pip-compiled pins, 56 of them for 2.12.0); gunicorn is not among them.
    "$VENV/bin/pip" install -q "ckan[requirements]==$CKAN_VERSION" "gunicorn==$GUNICORN_VERSION" >&2
    "$VENV/bin/pip" check >&2
    touch "$marker"
fi
ckan_version=$("$VENV/bin/python" -c 'import ckan; print(ckan.__version__)')
say "CKAN $ckan_version in $VENV"

# --- Kujenga: binary ---------------------------------------------------------------
kujenga_version="(none)" BIN="(none)"
if [ -z "$BACKENDS" ]; then
    say "BENCH_BACKENDS is empty: CKAN alone"
elif [ -n "${KUJENGA_BIN:-}" ]; then
    BIN=$KUJENGA_BIN
    [ -x "$BIN" ] || { say "KUJENGA_BIN=$BIN is not an executable"; exit 1; }
    # Kujenga reads every KUJENGA_* variable as a setting and refuses
    # unknown ones: this one is for the script only.
    unset KUJENGA_BIN
else
    say "building Kujenga (release) ..."
    cargo build --release --bin kujenga >&2
    BIN="${CARGO_TARGET_DIR:-target}/release/kujenga"
fi
[ -n "$BACKENDS" ] && kujenga_version=$("$BIN" --version)

# --- CKAN: database, configuration, data ---------------------------------------------
suffix="$(date +%s)_$$"
ckan_db="ckan_bench_$suffix"
create_db "$ckan_db"
ckan_sqlalchemy=$(url_with_db "$PG_ADMIN_URL" "$ckan_db" | sed -E 's#^postgres(ql)?://#postgresql://#')

# No Solr: solr_url points at a loopback port where nothing listens, so
# each package_show's look-up in the index is refused at once and the
# dataset is read from PostgreSQL (CKAN's path when the index has no copy).
solr_port=1
if port_is_open 127.0.0.1 "$solr_port"; then
    say "something listens on 127.0.0.1:$solr_port: the no-Solr setup needs that port closed"
    exit 1
fi
redis_hostport=$(sed -E 's#^redis://([^/]*@)?([^/]+).*#\2#' <<<"$REDIS_URL")
if ! port_is_open "${redis_hostport%:*}" "${redis_hostport##*:}"; then
    say "no Redis at $redis_hostport: CKAN will log that it cannot connect (these calls do not use it)"
fi

mkdir -p "$tmp/ckan-storage"
cat >"$tmp/ckan.ini" <<EOF
[app:main]
use = egg:ckan
SECRET_KEY = $(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
sqlalchemy.url = $ckan_sqlalchemy
ckan.site_url = http://127.0.0.1
ckan.site_id = default
solr_url = http://127.0.0.1:$solr_port/solr/ckan
ckan.redis.url = $REDIS_URL
ckan.plugins =
ckan.storage_path = $tmp/ckan-storage

[loggers]
keys = root
[handlers]
keys = console
[formatters]
keys = generic
[logger_root]
level = WARNING
handlers = console
[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic
[formatter_generic]
format = %(asctime)s %(levelname)-5.5s [%(name)s] %(message)s
EOF

say "[ckan] ckan db init ..."
"$VENV/bin/ckan" -c "$tmp/ckan.ini" db init >"$tmp/ckan-init.txt" 2>&1 ||
    { cat "$tmp/ckan-init.txt" >&2; exit 1; }
say "[ckan] loading $RESOURCES datasets through package_create ($CKAN_LOADERS processes) ..."
seed_started=$(date +%s.%N)
"$VENV/bin/python" bench/ckan_seed.py "$tmp/ckan.ini" organizations "$INSTITUTIONS" >&2
for part in $(seq 0 $((CKAN_LOADERS - 1))); do
    "$VENV/bin/python" bench/ckan_seed.py "$tmp/ckan.ini" datasets "$RESOURCES" "$part" "$CKAN_LOADERS" >&2 &
    loader_pids+=($!)
done
for pid in "${loader_pids[@]}"; do
    wait "$pid" || { say "a CKAN loader failed"; exit 1; }
done
loader_pids=()
ckan_seed_seconds=$(awk -v a="$seed_started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
# A public dataset with tags and resources in the middle of the load
# (bench/ckan_seed.py names dataset i <topic>-<i:06d>).
ckan_dataset=$("$VENV/bin/python" -c '
import sys; sys.path.insert(0, "bench")
from ckan_seed import TOPICS
i = int(sys.argv[1]) // 2
print(f"{TOPICS[i % len(TOPICS)][0]}-{i:06d}")' "$RESOURCES")
loaded=$(psql -X -tA "$(url_with_db "$PG_ADMIN_URL" "$ckan_db")" \
    -c "SELECT count(*) FROM package WHERE state = 'active' AND NOT private")
[ "$loaded" = "$RESOURCES" ] || { say "CKAN holds $loaded public datasets, not $RESOURCES"; exit 1; }
say "[ckan] loaded $loaded datasets in $ckan_seed_seconds s; example dataset: $ckan_dataset"

# --- Kujenga: data ---------------------------------------------------------------------
# One data folder per backend ($tmp/sqlite, $tmp/postgres with its database).
declare -A kujenga_dataset kujenga_seed_seconds kujenga_url
for backend in $BACKENDS; do
    url=""
    case $backend in
        sqlite) ;;
        postgres)
            create_db "kujenga_ckanbench_$suffix"
            url=$(url_with_db "$PG_ADMIN_URL" "kujenga_ckanbench_$suffix")
            ;;
        *) say "unknown backend $backend (sqlite, postgres)"; exit 1 ;;
    esac
    kujenga_url[$backend]=$url
    env_db=(env -u DATABASE_URL)
    [ -n "$url" ] && env_db=(env DATABASE_URL="$url")
    say "[$backend] kujenga seed-demo --resources $RESOURCES ..."
    "${env_db[@]}" KUJENGA_LOG__LEVEL=warn \
        "$BIN" --data-dir "$tmp/$backend" seed-demo --resources "$RESOURCES" --institutions "$INSTITUTIONS" \
        >"$tmp/$backend-seed.txt"
    cat "$tmp/$backend-seed.txt" >&2
    kujenga_dataset[$backend]=$(sed -n 's/^ *example dataset: //p' "$tmp/$backend-seed.txt")
    kujenga_seed_seconds[$backend]=$(sed -nE 's/.* in ([0-9.]+) s .*/\1/p' "$tmp/$backend-seed.txt" | head -n1)
    [ -n "${kujenga_dataset[$backend]}" ] || { say "seed-demo named no example dataset"; exit 1; }
done

# --- measuring ---------------------------------------------------------------------------
# measure SERVER ENDPOINT URL: one 200 first, then wrk; appends to $tmp/results
#   server endpoint req/s p50 p99 bytes non2xx socket_errors url
measure() {
    local server=$1 endpoint=$2 url=$3 answer code bytes out
    answer=$(curl -sS -o /dev/null -w '%{http_code} %{size_download}' "$url")
    code=${answer% *}
    bytes=${answer#* }
    if [ "$code" != 200 ]; then
        say "[$server] GET $url answered $code, not 200: not timed"
        exit 1
    fi
    say "[$server] GET $url ($bytes bytes): wrk -t$THREADS -c$CONNECTIONS -d$DURATION ..."
    out="$tmp/${server//\//-}-$endpoint.txt"
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$url" >"$out"
    cat "$out" >&2
    local rps p50 p99 non2xx socket
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
    p50=$(awk '$1 == "50%" {print $2}' "$out")
    p99=$(awk '$1 == "99%" {print $2}' "$out")
    non2xx=$(awk '/Non-2xx/ {print $5}' "$out")
    # "Socket errors: connect 0, read 0, write 0, timeout 0" → the sum.
    socket=$(awk '/Socket errors/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$out")
    [ -n "$non2xx" ] && say "[$server] $endpoint: $non2xx non-2xx answers"
    [ -n "$socket" ] && say "[$server] $endpoint: $socket socket errors (see above)"
    echo "$server $endpoint $rps $p50 $p99 $bytes ${non2xx:-0} ${socket:-0} $url" >>"$tmp/results"
}

# rss_of PID...: resident memory of these processes, MiB.
rss_of() {
    local pid total=0
    for pid in "$@"; do
        total=$((total + $(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)))
    done
    echo $((total / 1024))
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started_at=$(date -u +%Y-%m-%dT%H:%MZ)

# CKAN under gunicorn: sync workers (CKAN's code is synchronous), one per
# core, no access log, gunicorn's own log at info only for the start-up
# lines that name the port, no control socket (it would go to ~/.gunicorn).
say "[ckan] starting gunicorn ($CKAN_WORKERS sync workers) ..."
env CKAN_INI="$tmp/ckan.ini" "$VENV/bin/gunicorn" --chdir bench \
    --workers "$CKAN_WORKERS" --worker-class sync --bind 127.0.0.1:0 \
    --no-control-socket --log-level info ckan_wsgi:application 2>"$tmp/ckan-server.log" &
ckan_pid=$!
ckan_port=""
for _ in $(seq 1 600); do
    ckan_port=$(grep -aoE 'Listening at: http://127\.0\.0\.1:[0-9]+' "$tmp/ckan-server.log" | head -n1 | sed 's/.*://' || true)
    [ -n "$ckan_port" ] && break
    kill -0 "$ckan_pid" 2>/dev/null || { cat "$tmp/ckan-server.log" >&2; say "gunicorn exited"; exit 1; }
    sleep 0.1
done
[ -n "$ckan_port" ] || { cat "$tmp/ckan-server.log" >&2; say "gunicorn named no port within 60 s"; exit 1; }
ckan_base="http://127.0.0.1:$ckan_port"
# Workers load the app as they boot: a few requests wait for them and warm
# both up before anything is timed.
for _ in $(seq 1 "$((CKAN_WORKERS * 4))"); do
    curl -sS -o /dev/null --retry 20 --retry-connrefused --retry-delay 1 "$ckan_base/api/3/action/status_show"
done
# CKAN is measured before Kujenga and again after it (the server stays up,
# idle, in between): the two passes show how much the machine drifted, and
# the Kujenga ÷ CKAN ratios use their mean.
measure_ckan() {
    measure "$1" status "$ckan_base/api/3/action/status_show"
    measure "$1" show "$ckan_base/api/3/action/package_show?id=$ckan_dataset"
    measure "$1" list100 "$ckan_base/api/3/action/package_list?limit=100"
}
measure_ckan ckan

for backend in $BACKENDS; do
    env_db=(env -u DATABASE_URL)
    [ -n "${kujenga_url[$backend]}" ] && env_db=(env DATABASE_URL="${kujenga_url[$backend]}")
    for mode in $MODES; do
        case $mode in
            cached) cache_mib=${KUJENGA_HTTP__PUBLIC_CACHE_MIB:-16} ;;
            uncached) cache_mib=0 ;;
            *) say "unknown mode $mode (cached, uncached)"; exit 1 ;;
        esac
        say "[$backend/$mode] starting kujenga serve (public cache $cache_mib MiB) ..."
        "${env_db[@]}" KUJENGA_LOG__LEVEL="warn,kujenga::startup=info" \
            KUJENGA_MAIL__WORKER=false NO_COLOR=1 KUJENGA_HTTP__PUBLIC_CACHE_MIB="$cache_mib" \
            "$BIN" --data-dir "$tmp/$backend" serve --bind 127.0.0.1:0 2>"$tmp/$backend-$mode-server.log" &
        server_pid=$!
        port=$(wait_for_port "$tmp/$backend-$mode-server.log") || exit 1
        base="http://127.0.0.1:$port"
        measure "$backend/$mode" healthz "$base/healthz"
        measure "$backend/$mode" show "$base/api/v1/datasets/${kujenga_dataset[$backend]}"
        measure "$backend/$mode" list100 "$base/api/v1/datasets?limit=100&fields=id"
        echo "$backend/$mode: kujenga RSS $(rss_of "$server_pid") MiB after the run" >>"$tmp/memory"
        stop_server
    done
done
[ -n "$BACKENDS" ] && measure_ckan ckan/again
mapfile -t ckan_workers < <(pgrep -P "$ckan_pid" || true)
ckan_rss=$(rss_of "$ckan_pid" "${ckan_workers[@]}")
echo "ckan (gunicorn, $CKAN_WORKERS workers): RSS $ckan_rss MiB after the run, master and workers together" >>"$tmp/memory"
stop_ckan
if grep -aE ' (ERROR|CRITICAL) | \[ERROR\] ' "$tmp/ckan-server.log" >&2; then
    say "[ckan] the server logged errors (above)"
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# --- table ---------------------------------------------------------------------------------
# rps_of SERVER ENDPOINT
rps_of() { awk -v s="$1" -v e="$2" '$1 == s && $2 == e {print $3}' "$tmp/results"; }
# ckan_mean ENDPOINT: the mean req/s of CKAN's passes.
ckan_mean() { awk -v e="$1" '$1 ~ /^ckan/ && $2 == e {t += $3; n++} END {if (n) print t / n}' "$tmp/results"; }
first_healthz=$(awk '$2 == "healthz" {print $3; exit}' "$tmp/results")
first_healthz_server=$(awk '$2 == "healthz" {print $1; exit}' "$tmp/results")

echo
echo "Kujenga beside CKAN $ckan_version, $started_at, $(nproc) cores, load average $load_before before / $load_after after,"
echo "worktree commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $kujenga_version ($BIN),"
echo "$RESOURCES CKAN datasets / Kujenga resources, wrk -t$THREADS -c$CONNECTIONS -d$DURATION, anonymous, uncompressed"
printf '%-17s %-48s %9s %9s %9s %9s %7s %7s %6s\n' server request "req/s" "÷healthz" p50 p99 bytes non-2xx sockerr
while read -r server endpoint rps p50 p99 bytes non2xx socket url; do
    case $server in
        ckan*) healthz=$first_healthz ;;
        *) healthz=$(rps_of "$server" healthz) ;;
    esac
    case $endpoint in
        status) label="status_show" ;;
        show) [[ $server == ckan* ]] && label="package_show?id={name}" || label="GET /api/v1/datasets/{id}" ;;
        list100) [[ $server == ckan* ]] && label="package_list?limit=100" || label="GET /api/v1/datasets?limit=100&fields=id" ;;
        healthz) label="GET /healthz" ;;
    esac
    ratio=$(awk -v a="$rps" -v b="$healthz" 'BEGIN { if (b > 0) printf "%.4f", a / b; else printf "-" }')
    printf '%-17s %-48s %9s %9s %9s %9s %7s %7s %6s\n' "$server" "$label" "$rps" "$ratio" "$p50" "$p99" "$bytes" "$non2xx" "$socket"
done <"$tmp/results"
echo "(CKAN's ÷healthz is against Kujenga's first /healthz of the run, $first_healthz_server, measured right after CKAN's first pass.)"
echo
echo "Kujenga ÷ CKAN, same run (CKAN: the mean of its passes):"
printf '%-17s %26s %30s\n' server "dataset ÷ package_show" "100 ids ÷ package_list"
ckan_show=$(ckan_mean show)
ckan_list=$(ckan_mean list100)
for backend in $BACKENDS; do
    for mode in $MODES; do
        s="$backend/$mode"
        printf '%-17s %25sx %29sx\n' "$s" \
            "$(awk -v a="$(rps_of "$s" show)" -v b="$ckan_show" 'BEGIN { if (b > 0) printf "%.1f", a / b; else printf "-" }')" \
            "$(awk -v a="$(rps_of "$s" list100)" -v b="$ckan_list" 'BEGIN { if (b > 0) printf "%.1f", a / b; else printf "-" }')"
    done
done
echo
echo "loading: CKAN package_create × $RESOURCES ($CKAN_LOADERS processes): ${ckan_seed_seconds:-?} s"
for b in $BACKENDS; do
    echo "loading: kujenga seed-demo --resources $RESOURCES on $b: ${kujenga_seed_seconds[$b]:-?} s"
done
cat "$tmp/memory"
exit 0

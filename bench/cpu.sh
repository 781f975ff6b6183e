#!/usr/bin/env bash
# CPU time the server spends per request, path by path: the server's own
# user+system time (from /proc/<pid>/stat) over N sequential requests. On a
# shared, noisy machine this moves far less than latency or req/s do (a
# request waiting for a core costs wall time, not CPU time), so it compares
# two builds or two schemas fairly. One warm-up request per path first.
#
#   bash bench/cpu.sh PID BASE_URL N PATH...
#   bash bench/cpu.sh "$(pgrep -f 'kujenga.*serve')" http://127.0.0.1:8080 20 \
#       '/api/v1/catalog.ttl?page=150' '/api/v1/resources?limit=20&q=quechua'
#
# Start the server with http.public_cache_mib=0 to measure the database work
# (otherwise the warm-up fills the anonymous cache and every request after it
# is an answer from memory).
set -euo pipefail
pid=$1 base=$2 n=$3
shift 3
tck=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
for path in "$@"; do
    curl -s -o /dev/null "$base$path"
    a=$(cpu)
    for _ in $(seq "$n"); do curl -s -o /dev/null "$base$path"; done
    b=$(cpu)
    echo "$(((b - a) * 1000 / tck / n)) ms/req  $path"
done

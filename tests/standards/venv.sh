#!/usr/bin/env bash
# Creates (or reuses) a Python virtual environment under target/ holding one
# validator from PyPI, and prints the path of its bin/ folder.
#
#   tests/standards/venv.sh mlcroissant 'mlcroissant==1.0.22'
#
# Reused when present and complete (a marker file names the requirement it
# was built for). Exit 3: PyPI cannot be reached (callers skip loudly then);
# any other failure is an error.
set -euo pipefail

name="$1"
requirement="$2"
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="$root/target/venv-$name"
marker="$venv/.kujenga-ready"

if [[ -f "$marker" && "$(cat "$marker")" == "$requirement" ]]; then
    echo "$venv/bin"
    exit 0
fi

export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
python="${PYTHON:-python3}"
if ! "$python" - <<'PY' >/dev/null 2>&1
import urllib.request
urllib.request.urlopen("https://pypi.org/simple/pip/", timeout=10)
PY
then
    echo "PyPI cannot be reached: cannot install $requirement" >&2
    exit 3
fi

mkdir -p "$root/target"
# Two test processes may race here: one lock per venv.
exec 9>"$root/target/venv-$name.lock"
flock 9
if [[ -f "$marker" && "$(cat "$marker")" == "$requirement" ]]; then
    echo "$venv/bin"
    exit 0
fi
rm -rf "$venv"
"$python" -m venv "$venv" >&2
"$venv/bin/pip" install --quiet "$requirement" >&2
echo "$requirement" >"$marker"
echo "$venv/bin"

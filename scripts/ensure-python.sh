#!/usr/bin/env bash
# Create the project's virtual environment, installing Python's venv support from
# Debian's packages if this machine lacks it. Needs Python 3.11 or newer.
set -euo pipefail
python=${1:-python3}
venv=${2:-.venv}

if ! command -v "$python" >/dev/null 2>&1; then
  echo "[python] installing python3 from Debian's packages"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null
fi
"$python" - <<'PY'
import sys
if sys.version_info < (3, 11):
    sys.exit(f"fitboard needs Python 3.11 or newer; {sys.executable} is {sys.version.split()[0]}")
PY
if [ ! -x "$venv/bin/python" ]; then
  if ! "$python" -m venv "$venv" 2>/dev/null; then
    echo "[python] installing python3-venv from Debian's packages"
    rm -rf "$venv"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    "$python" -m venv "$venv"
  fi
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
fi

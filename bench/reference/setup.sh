#!/usr/bin/env bash
# Creates bench/reference/.venv and installs requirements.txt into it.
# Idempotent: does nothing when the venv already holds exactly these
# requirements (a stamp records the hash of requirements.txt) and torch imports.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
req="$here/requirements.txt"
stamp="$venv/.requirements.sha256"
python="${PYTHON:-python3}"

want="$(sha256sum "$req" | cut -d' ' -f1)"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]] \
    && "$venv/bin/python" -c 'import torch' 2>/dev/null; then
    echo "bench/reference/.venv is up to date ($("$venv/bin/python" -c 'import torch; print("torch", torch.__version__)'))" >&2
    exit 0
fi

if [[ ! -x "$venv/bin/python" ]]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --upgrade --quiet pip
"$venv/bin/python" -m pip install --requirement "$req"
"$venv/bin/python" -c 'import torch; print("installed torch", torch.__version__)' >&2
echo "$want" > "$stamp"

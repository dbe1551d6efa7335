#!/usr/bin/env bash
# The Gatehouse end-to-end suite: official MCP SDK servers and clients through the built gateway.
#
#   tests/e2e/run.sh [pytest arguments...]
#
# Makes (when missing or stale) two venvs at the repository root from the pinned files beside this
# script: .venv-e2e (mcp 2.x, pytest, ...) and .venv-e2e-v1 ("mcp<2"); then runs pytest on tests/e2e
# with the 2.x venv and exits with pytest's status.
#
# Environment: PYTHON (interpreter for the venvs, default python3, needs 3.10+ and its venv module;
# on Debian: apt-get install python3-venv), GATEHOUSE_BIN (default .build/debug/gatehouse),
# E2E_DIRECT=1 (clients talk to the upstream servers directly; gateway tests are skipped).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PYTHON=${PYTHON:-python3}

if ! command -v "$PYTHON" >/dev/null 2>&1; then
    echo "tests/e2e/run.sh: $PYTHON not found (set PYTHON to a Python 3.10+ interpreter)" >&2
    exit 1
fi

# make_venv DIR REQUIREMENTS: (re)create DIR unless its stamp matches the requirements and interpreter.
make_venv() {
    local dir=$1 req=$2 stamp want
    stamp="$dir/.e2e-stamp"
    want=$({ cat "$req"; "$PYTHON" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && "$dir/bin/python" -c 'pass' 2>/dev/null; then
        return 0
    fi
    echo "tests/e2e/run.sh: creating $dir from $(basename "$req")" >&2
    rm -rf "$dir"
    if ! "$PYTHON" -m venv "$dir"; then
        echo "tests/e2e/run.sh: '$PYTHON -m venv' failed; on Debian/Ubuntu install python3-venv" >&2
        rm -rf "$dir"
        exit 1
    fi
    "$dir/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$req"
    echo "$want" > "$stamp"
}

make_venv "$ROOT/.venv-e2e" "$HERE/requirements-v2.txt"
make_venv "$ROOT/.venv-e2e-v1" "$HERE/requirements-v1.txt"

export E2E_V1_PYTHON="$ROOT/.venv-e2e-v1/bin/python"
export PYTHONDONTWRITEBYTECODE=1
cd "$HERE"
set +e
"$ROOT/.venv-e2e/bin/python" -m pytest -p no:cacheprovider "$@"
status=$?
exit $status

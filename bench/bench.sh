#!/usr/bin/env bash
# make bench: installs what the benchmark lacks, builds the release binary when it is missing or older
# than a source file, and runs bench/bench.py with the venv that has matplotlib (for the chart).
#   BENCH_QUICK=1 (default) short runs; BENCH_SECONDS=N longer ones; GATEHOUSE_BIN=path another binary.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# Debian's wrk, HAProxy 2.6 and nginx 1.22 (bookworm). A policy-rc.d keeps the packages' services
# from starting during the install when the machine has none.
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v haproxy >/dev/null || missing+=(haproxy)
command -v nginx >/dev/null || missing+=(nginx)
command -v openssl >/dev/null || missing+=(openssl)
if ((${#missing[@]})); then
    echo "bench: installing ${missing[*]} (apt-get)"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    placed_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
        $SUDO chmod +x /usr/sbin/policy-rc.d
        placed_policy=1
    fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    if [ "$placed_policy" = 1 ]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi
fi

# The chart's matplotlib, in bench/.venv (git-ignored). Without it the run still prints the table.
VENV="$ROOT/bench/.venv"
PY="$VENV/bin/python"
if [ ! -x "$PY" ]; then
    python3 -m venv "$VENV"
fi
if ! "$PY" -c 'import matplotlib' 2>/dev/null; then
    "$PY" -m pip install -q --disable-pip-version-check 'matplotlib>=3.7,<4' \
        || echo "bench: matplotlib could not be installed; no chart this time" >&2
fi

# The gateway: .build/release/gatehouse, rebuilt when missing or older than a source file.
if [ -z "${GATEHOUSE_BIN:-}" ]; then
    GATEHOUSE_BIN="$ROOT/.build/release/gatehouse"
    if [ ! -x "$GATEHOUSE_BIN" ] || [ -n "$(find Sources Package.swift -newer "$GATEHOUSE_BIN" -type f -print -quit)" ]; then
        echo "bench: building the release binary (swift build -c release)"
        ${SWIFT:-swift} build -c release --product gatehouse
    fi
fi

# 10,000 idle connections need descriptors: as many as the hard limit allows.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

exec "$PY" "$ROOT/bench/bench.py" --gatehouse "$GATEHOUSE_BIN"

#!/usr/bin/env bash
# make container-check: proves the parts of the docker/ image without a Docker engine.
#
#   1. builds exactly what the Dockerfile's build stage runs (docker/build-static.sh: a release build
#      with --static-swift-stdlib, stripped) from a copy of exactly what that stage copies
#      (.build-static/context) into .build-static/image/gatehouse; skipped when that binary is newer
#      than every one of those paths;
#   2. checks it: under 30 MB stripped, no Foundation, and its shared libraries are only glibc,
#      libstdc++/libgcc (all in debian:bookworm-slim) and OpenSSL 3 (libssl3);
#   3. parses docker/Dockerfile, compose.yaml and kubernetes/*.yaml (check_files.py), and proves each
#      of those checks can fail (check_mutations.py);
#   4. runs the binary in an empty root holding only it and its libraries (check_empty_root.py).
#
# Needs root (chroot, mount /proc in a private mount namespace) or unprivileged user namespaces,
# python3 with venv, openssl, ldd. Environment: PYTHON (default python3); CONTAINER_CHECK_BINARY=path
# tests that binary instead of building; CONTAINER_CHECK_VERBOSE=1 prints every static check.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT"
PYTHON=${PYTHON:-python3}
SCRATCH=.build-static
OUT=$SCRATCH/image
CONTEXT=$SCRATCH/context
VENV=.venv-container
MAX_BYTES=30000000
started=$(date +%s)

say() { echo "container-check: $*"; }
die() { echo "container-check: FAIL $*" >&2; exit 1; }

# The venv, (re)made when the pinned requirements or the interpreter change.
want=$({ cat "$HERE/requirements.txt"; "$PYTHON" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)
if [ "$(cat "$VENV/.stamp" 2>/dev/null)" != "$want" ] || ! "$VENV/bin/python" -c 'import yaml, dockerfile_parse' 2>/dev/null; then
    say "creating $VENV"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV" || die "'$PYTHON -m venv' failed (on Debian: apt-get install python3-venv)"
    "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$HERE/requirements.txt"
    echo "$want" > "$VENV/.stamp"
fi
PY="$VENV/bin/python"

# 1. The static build, once: later runs reuse it until a source is newer than the binary.
if [ -n "${CONTAINER_CHECK_BINARY:-}" ]; then
    BINARY=$CONTAINER_CHECK_BINARY
    say "testing $BINARY (CONTAINER_CHECK_BINARY; no build)"
else
    BINARY=$OUT/gatehouse
    # What the Dockerfile's build stage copies from the context (Package.swift, Sources, Tests, the script).
    mapfile -t inputs < <("$PY" "$HERE/check_files.py" --build-inputs "$ROOT")
    [ ${#inputs[@]} -gt 0 ] || die "the Dockerfile's build stage copies nothing"
    if [ -x "$BINARY" ] && [ -z "$(find "${inputs[@]}" -newer "$BINARY" -print -quit)" ]; then
        say "static build: reused $BINARY (no input is newer; it took $(cat "$OUT/build-seconds" 2>/dev/null || echo '?')s)"
    else
        # A copy of only those paths, mtimes kept so the scratch folder's incremental build still works:
        # a source the Dockerfile forgets to copy fails here as it would in docker build.
        rm -rf "$CONTEXT"
        mkdir -p "$CONTEXT"
        for input in "${inputs[@]}"; do
            mkdir -p "$CONTEXT/$(dirname "$input")"
            cp -a "$input" "$CONTEXT/$input"
        done
        say "static build: (cd $CONTEXT && GATEHOUSE_SCRATCH_PATH=$ROOT/$SCRATCH/scratch docker/build-static.sh $ROOT/$OUT)"
        build_start=$(date +%s)
        (cd "$CONTEXT" && GATEHOUSE_SCRATCH_PATH="$ROOT/$SCRATCH/scratch" docker/build-static.sh "$ROOT/$OUT")
        echo $(($(date +%s) - build_start)) > "$OUT/build-seconds"
        say "static build: $(cat "$OUT/build-seconds")s"
    fi
fi

# 2. What the binary is and what it links.
size=$(stat -c %s "$BINARY")
say "binary: $size bytes stripped ($(awk "BEGIN { printf \"%.1f\", $size / 1000000 }") MB; limit 30 MB)"
[ "$size" -lt "$MAX_BYTES" ] || die "the stripped binary is $size bytes, over $MAX_BYTES"
if readelf -S "$BINARY" | grep -q '\.symtab'; then
    die "$BINARY is not stripped"
fi
unstripped=$SCRATCH/scratch/release/gatehouse
if [ -z "${CONTAINER_CHECK_BINARY:-}" ] && [ -f "$unstripped" ]; then
    # Swift mangles a module name with its length: $s10Foundation..., $s20FoundationEssentials...
    foundation=$(nm "$unstripped" | grep -c -E '\$s(10Foundation|20FoundationEssentials|26FoundationInternationalization)' || true)
    [ "$foundation" -eq 0 ] || die "the binary links Foundation ($foundation symbols)"
    say "no Foundation symbols in the unstripped build"
else
    say "Foundation symbol check skipped: no unstripped build at $unstripped"
fi
libraries=$(ldd "$BINARY" | awk '{ print $1 }' | xargs -n1 basename | sort)
for lib in $libraries; do
    case "$lib" in
        linux-vdso.so.*|ld-linux-*.so.*|libc.so.6|libm.so.6|libstdc++.so.6|libgcc_s.so.1|libssl.so.3|libcrypto.so.3) ;;
        *) die "unexpected shared library $lib (the runtime image has only bookworm-slim and libssl3)" ;;
    esac
done
say "shared libraries: $(echo $libraries | tr '\n' ' ')"
if command -v dpkg >/dev/null 2>&1; then
    packages=$(ldd "$BINARY" | awk '$3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | while read -r path; do
        dpkg -S "$(readlink -f "$path")" 2>/dev/null || dpkg -S "$path" 2>/dev/null || echo "?: $path"
    done | cut -d: -f1 | sort -u | tr '\n' ' ')
    say "they come from the Debian packages: $packages"
    for package in $packages; do
        case "$package" in
            libc6|libgcc-s1|libstdc++6|libssl3) ;;
            *) die "library package $package is neither in bookworm-slim nor libssl3" ;;
        esac
    done
fi

# 3. The files, and that their checks can fail.
secrets=$(mktemp -d)
trap 'rm -rf "$secrets"' EXIT
docker/example-secrets.sh "$secrets" >/dev/null
"$PY" "$HERE/check_files.py" "$ROOT" "$secrets"
"$PY" "$HERE/check_mutations.py" "$ROOT" "$secrets" | tail -1

# 4. The empty root, in a private mount namespace so the /proc mount never reaches the host.
report=$SCRATCH/container-report.json
if [ "$(id -u)" = 0 ]; then
    unshare --mount --propagation private "$PY" "$HERE/check_empty_root.py" "$ROOT" "$BINARY" "$secrets" "$report"
elif unshare --user --map-root-user --mount true 2>/dev/null; then
    CONTAINER_CHECK_USERNS=1 unshare --user --map-root-user --mount --propagation private \
        "$PY" "$HERE/check_empty_root.py" "$ROOT" "$BINARY" "$secrets" "$report"
else
    die "the empty-root run needs root or unprivileged user namespaces (unshare --user)"
fi

"$PY" - "$report" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
print("container-check: runtime image = debian:bookworm-slim + libssl3 + ca-certificates + /usr/local/bin/gatehouse"
      " (+ /usr/share/doc/gatehouse/gateway.conf.example), user 10001")
print(f"container-check: gateway RSS {r['rss_start_kib'] // 1024} MiB idle, {r['rss_after_kib'] // 1024} MiB after "
      f"{r['requests']} TLS requests (peak {r['rss_peak_kib'] // 1024} MiB, {r['threads']} threads)")
EOF
say "passed in $(($(date +%s) - started))s"

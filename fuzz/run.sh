#!/usr/bin/env bash
# Builds the libFuzzer targets (Sources/Fuzz*) with -sanitize=fuzzer,address and runs each one.
#
#   fuzz/run.sh [SECONDS] [TARGET...]      default: $FUZZ_SECONDS or 300 s each, every target
#
# Scratch path .build-fuzz (kept between runs, so the build is incremental). Seeds are read from
# fuzz/corpus/<Target> (committed) and new finds are kept in .build-fuzz/corpus/<Target> (not committed;
# copy a useful one into fuzz/corpus by hand). A crash or a broken property leaves its input in
# .build-fuzz/artifacts/<Target>/ and makes the script fail; replay it with the plain build:
#   swift build --product FuzzJSON && .build/debug/FuzzJSON .build-fuzz/artifacts/FuzzJSON/crash-…
# FUZZ_JOBS (default 2) targets run side by side; FUZZ_CONFIG is release (default) or debug. The summary gives executions per target.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_EACH=${1:-${FUZZ_SECONDS:-300}}
shift || true
ALL=(FuzzHTTPRequest FuzzHTTPResponse FuzzJSON FuzzTOML FuzzJWT FuzzBase64URL)
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=("${ALL[@]}")
JOBS=${FUZZ_JOBS:-2}
SWIFT=${SWIFT:-swift}
# release fuzzes about three times faster; make fuzz-smoke builds debug, which compiles faster.
CONFIG=${FUZZ_CONFIG:-release}
SCRATCH=.build-fuzz

declare -A DICT=(
    [FuzzHTTPRequest]=http.dict [FuzzHTTPResponse]=http.dict [FuzzJSON]=json.dict
    [FuzzTOML]=toml.dict [FuzzJWT]=jwt.dict [FuzzBase64URL]=jwt.dict
)
declare -A MAXLEN=(
    [FuzzHTTPRequest]=4096 [FuzzHTTPResponse]=4096 [FuzzJSON]=4096
    [FuzzTOML]=4096 [FuzzJWT]=2048 [FuzzBase64URL]=512
)

for target in "${TARGETS[@]}"; do
    "$SWIFT" build -c "$CONFIG" --scratch-path "$SCRATCH" --product "$target" \
        -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -DGATEHOUSE_FUZZ -Xswiftc -use-ld=lld \
        >&2
    [ -x "$SCRATCH/$CONFIG/$target" ] || { echo "fuzz/run.sh: build of $target failed" >&2; exit 1; }
done

run_one() {
    local target=$1 log="$SCRATCH/logs/$1.log"
    mkdir -p "$SCRATCH/corpus/$target" "$SCRATCH/artifacts/$target" "$SCRATCH/logs"
    set +e
    SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0 "$SCRATCH/$CONFIG/$target" \
        -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -max_len="${MAXLEN[$target]}" \
        -dict="fuzz/dict/${DICT[$target]}" -print_final_stats=1 \
        -artifact_prefix="$SCRATCH/artifacts/$target/" \
        "$SCRATCH/corpus/$target" "fuzz/corpus/$target" >"$log" 2>&1
    echo $? >"$SCRATCH/logs/$target.status"
}

rm -f "$SCRATCH"/logs/*.status 2>/dev/null || true
running=0
for target in "${TARGETS[@]}"; do
    run_one "$target" &
    running=$((running + 1))
    if [ "$running" -ge "$JOBS" ]; then
        wait -n || true
        running=$((running - 1))
    fi
done
wait || true

failed=0
printf '%-18s %12s %8s %8s  %s\n' target executions exec/s corpus result
for target in "${TARGETS[@]}"; do
    log="$SCRATCH/logs/$target.log"
    status=$(cat "$SCRATCH/logs/$target.status" 2>/dev/null || echo 99)
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    corpus=$(ls "$SCRATCH/corpus/$target" | wc -l)
    result=ok
    if [ "$status" != 0 ]; then
        result="FAILED (status $status, log $log)"
        failed=1
    fi
    printf '%-18s %12s %8s %8s  %s\n' "$target" "${runs:-?}" "${speed:-?}" "$corpus" "$result"
done
if [ "$failed" != 0 ]; then
    for target in "${TARGETS[@]}"; do
        if [ "$(cat "$SCRATCH/logs/$target.status" 2>/dev/null)" != 0 ]; then
            echo "---- $target" >&2
            grep -E "property violated|ERROR: AddressSanitizer|SUMMARY|Test unit written|deadly|Fatal error" \
                "$SCRATCH/logs/$target.log" | head -20 >&2
        fi
    done
    exit 1
fi

#!/bin/sh
# The image's build step, shared by docker/Dockerfile and `make container-check` so both build the
# same way: a release build with the Swift runtime linked in (--static-swift-stdlib), then stripped.
# The result needs only glibc, libstdc++/libgcc and OpenSSL 3 (libssl3) at run time.
#
#   docker/build-static.sh OUTPUT_DIR     (from the package root)
#   GATEHOUSE_SCRATCH_PATH=.build-static  another build folder (the check keeps its own)
set -eu
out=${1:?usage: build-static.sh OUTPUT_DIR}
scratch=${GATEHOUSE_SCRATCH_PATH:-.build}
swift build -c release --static-swift-stdlib --product gatehouse --scratch-path "$scratch"
mkdir -p "$out"
cp "$scratch/release/gatehouse" "$out/gatehouse.tmp"
strip "$out/gatehouse.tmp"
mv "$out/gatehouse.tmp" "$out/gatehouse"

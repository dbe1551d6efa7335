# Gatehouse — build and test.
#   make build      debug build of the gatehouse binary
#   make release    optimized build (.build/release/gatehouse)
#   make unit       swift test (unit and component tests)
#   make e2e        end-to-end suite: real MCP SDK servers and clients through the built binary
#   make test       all of the above (what CI runs)
#   make fuzz       every libFuzzer target for FUZZ_SECONDS (default 300) each; fuzz-smoke: 20 s each
#   make soak       1,000,000 requests through the full chain; make test-sanitize: unit tests under ASan, TSan
#   make demo       run the built-in demo (a sample MCP server behind the gateway)

SWIFT ?= swift
BIN := .build/debug/gatehouse

.PHONY: all build release unit e2e test demo clean fuzz fuzz-smoke soak test-sanitize

all: build

build:
	$(SWIFT) build

release:
	$(SWIFT) build -c release

unit:
	$(SWIFT) test --parallel

e2e: build
	GATEHOUSE_BIN=$(CURDIR)/$(BIN) tests/e2e/run.sh

# e2e last: its pytest summary ("N passed") is the closing line of the run.
test: build unit fuzz-smoke container-check e2e

# libFuzzer targets (fuzz/run.sh; scratch path .build-fuzz): FUZZ_SECONDS each, and the short run of make test.
FUZZ_SECONDS ?= 300
fuzz:
	fuzz/run.sh $(FUZZ_SECONDS)

fuzz-smoke:
	FUZZ_CONFIG=debug fuzz/run.sh 20

# Not in make test: 1,000,000 requests through the full policy chain (wrk), RSS and descriptors checked.
soak: release
	tests/soak/soak.py --gatehouse $(CURDIR)/.build/release/gatehouse

# Not in make test: the unit tests under AddressSanitizer and ThreadSanitizer, each in its own scratch path.
# Leak reports at exit are off: they list event loops the tests never shut down and toolchain caches
# (Foundation, Regex); process-level leaks are what make soak measures. TSan cannot see
# Synchronization.Mutex on Linux: tests/sanitize/tsan.supp names the Mutex-guarded types.
test-sanitize:
	ASAN_OPTIONS=detect_leaks=0 $(SWIFT) test --sanitize=address --scratch-path .build-asan
	TSAN_OPTIONS="halt_on_error=1 suppressions=$(CURDIR)/tests/sanitize/tsan.supp" \
		$(SWIFT) test --sanitize=thread --scratch-path .build-tsan

# The container image's parts without a Docker engine (tests/container/run.sh): the Dockerfile's static
# build (scratch path .build-static, reused while no source is newer), its size and libraries, the
# docker/ files parsed and checked, and the binary run in an empty root (chroot; needs root or userns).
.PHONY: container-check
container-check:
	tests/container/run.sh

demo: release
	.build/release/gatehouse demo

clean:
	rm -rf .build .build-* .venv-e2e .venv-e2e-v1 .venv-e2e-sslyze

# Not in make test: Gatehouse vs HAProxy 2.6 vs nginx 1.22 on the same MCP job, on loopback (bench/README.md).
# Installs wrk/haproxy/nginx and matplotlib (bench/.venv) when missing, rebuilds .build/release/gatehouse when
# stale; a few minutes by default (BENCH_QUICK=1), BENCH_SECONDS=N per run to lengthen. Results: bench/results/.
.PHONY: bench
bench:
	bench/bench.sh

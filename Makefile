# Gatehouse — build and test.
#   make build      debug build of the gatehouse binary
#   make release    optimized build (.build/release/gatehouse)
#   make unit       swift test (unit and component tests)
#   make e2e        end-to-end suite: real MCP SDK servers and clients through the built binary
#   make test       all of the above (what CI runs)
#   make demo       run the built-in demo (a sample MCP server behind the gateway)

SWIFT ?= swift
BIN := .build/debug/gatehouse

.PHONY: all build release unit e2e test demo clean

all: build

build:
	$(SWIFT) build

release:
	$(SWIFT) build -c release

unit:
	$(SWIFT) test --parallel

e2e: build
	GATEHOUSE_BIN=$(CURDIR)/$(BIN) tests/e2e/run.sh

test: build unit e2e

demo: release
	.build/release/gatehouse demo

clean:
	rm -rf .build .build-* .venv-e2e .venv-e2e-v1 .venv-e2e-sslyze

# The two commands a new user needs: `make run` and `make test`.
# Everything else here serves them; see README.md.
BUILD_TYPE ?= Release
RELEASE_DIR := build/release
ASAN_DIR := build/asan
FUZZ_DIR := build/fuzz
FUZZ_SECONDS ?= 300
PORT ?= 7071
APP ?= examples/moderation
JOBS ?= $(shell nproc)
CMAKE_COMMON := -G Ninja -DCMAKE_CXX_COMPILER_LAUNCHER=ccache
# ccache keys on paths relative to the checkout, so a fresh clone elsewhere (CI) reuses what
# an earlier build compiled instead of rebuilding every Beast translation unit.
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := true
QUEUE_PORT ?= 10001
DOCS_PORT ?= 8081

.PHONY: deps build run demo-chaos test unit-asan fuzz-build fuzz bench clean

deps:
	@bash scripts/install-deps.sh

build: deps
	@cmake -S . -B $(RELEASE_DIR) $(CMAKE_COMMON) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) >/dev/null
	@cmake --build $(RELEASE_DIR) -j $(JOBS)

run: build
	$(RELEASE_DIR)/nimbus start $(APP) --port $(PORT) --queue-port $(QUEUE_PORT) --docs-port $(DOCS_PORT) --data .nimbus-data

# The reference app's fail-open and recovery, live, against the Gemini test double.
demo-chaos: build
	PORT=$(PORT) NIMBUS_BIN=$(RELEASE_DIR)/nimbus node examples/moderation/demo-chaos.mjs

# Release build: unit + integration tests against the real binaries.
# ASan/UBSan build: unit tests only (user code and workers run in release).
# Fuzz build (clang): every libFuzzer target for ~15 s on its seed corpus (fuzz/README.md).
test: build unit-asan fuzz-build
	@bash scripts/npm-deps.sh
	cd $(RELEASE_DIR) && ctest --output-on-failure -j 2
	cd $(ASAN_DIR) && ctest --output-on-failure -L unit
	cd $(FUZZ_DIR) && ctest --output-on-failure -L fuzz -j 2

unit-asan: deps
	@cmake -S . -B $(ASAN_DIR) $(CMAKE_COMMON) -DCMAKE_BUILD_TYPE=Debug -DNIMBUS_SANITIZE=ON -DNIMBUS_UNIT_ONLY=ON >/dev/null
	@cmake --build $(ASAN_DIR) -j $(JOBS)

# libFuzzer targets, built with clang and ASan/UBSan into their own build dir.
fuzz-build: deps
	@cmake -S . -B $(FUZZ_DIR) $(CMAKE_COMMON) -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNIMBUS_FUZZ=ON -DNIMBUS_UNIT_ONLY=ON >/dev/null
	@cmake --build $(FUZZ_DIR) -j $(JOBS) --target nimbus_fuzz_targets

# Every fuzz target for FUZZ_SECONDS each; the grown corpora stay in build/fuzz/grown.
fuzz: fuzz-build
	@status=0; for f in fuzz/*_fuzz.cc; do n=$$(basename $$f .cc); \
	  echo "== $$n: $(FUZZ_SECONDS) s"; \
	  NIMBUS_FUZZ_KEEP=$(CURDIR)/$(FUZZ_DIR)/grown bash fuzz/run.sh $(FUZZ_DIR)/fuzz/$$n $(FUZZ_SECONDS) || status=1; \
	done; exit $$status

bench: build
	@bash scripts/npm-deps.sh
	bash bench/run.sh

clean:
	rm -rf build

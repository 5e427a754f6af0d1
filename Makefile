# The two commands a new user needs: `make run` and `make test`.
# Everything else here serves them; see README.md.
BUILD_TYPE ?= Release
RELEASE_DIR := build/release
ASAN_DIR := build/asan
PORT ?= 7071
APP ?= examples/hello
JOBS ?= $(shell nproc)
CMAKE_COMMON := -G Ninja -DCMAKE_CXX_COMPILER_LAUNCHER=ccache

.PHONY: deps build run test unit-asan bench clean

deps:
	@bash scripts/install-deps.sh

build: deps
	@cmake -S . -B $(RELEASE_DIR) $(CMAKE_COMMON) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) >/dev/null
	@cmake --build $(RELEASE_DIR) -j $(JOBS)

run: build
	$(RELEASE_DIR)/nimbus start $(APP) --port $(PORT) --data .nimbus-data

# Release build: unit + integration tests against the real binaries.
# ASan/UBSan build: unit tests only (user code and workers run in release).
test: build unit-asan
	@bash scripts/npm-deps.sh
	cd $(RELEASE_DIR) && ctest --output-on-failure -j 2
	cd $(ASAN_DIR) && ctest --output-on-failure -L unit

unit-asan: deps
	@cmake -S . -B $(ASAN_DIR) $(CMAKE_COMMON) -DCMAKE_BUILD_TYPE=Debug -DNIMBUS_SANITIZE=ON -DNIMBUS_UNIT_ONLY=ON >/dev/null
	@cmake --build $(ASAN_DIR) -j $(JOBS)

bench: build
	@bash scripts/npm-deps.sh
	bash bench/run.sh

clean:
	rm -rf build

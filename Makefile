# The two user commands: `make demo` and `make test`. Everything else is a helper.
BUILD ?= build
JOBS ?= 2
CMAKE_FLAGS ?=
PY := /usr/bin/python3

.PHONY: all deps configure build demo test bench sanitize tsan soak fuzz format clean

all: build

deps:
	@./tools/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null

build: configure
	@cmake --build $(BUILD) -j$(JOBS)

## make demo: dependencies, build, then the main job on the bundled sample feed and default model
demo: build
	./$(BUILD)/tickrt demo

## make test: dependencies, build, then every test (C++ via CTest, Python oracle checks included)
test: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS) --timeout 900

## make bench: the benchmark suite (prints one table)
bench: build
	./tools/bench.sh $(BUILD)

## make soak: the engine for SOAK_SECONDS (default 600) at a steady rate with hostile messages mixed in;
## checks flat resident memory and one signal per valid tick (tools/soak.py)
SOAK_SECONDS ?= 600
soak: build
	$(PY) tools/soak.py --tickrt $(BUILD)/tickrt --seconds $(SOAK_SECONDS)

## make sanitize: ASan + UBSan build running the whole suite
sanitize: deps
	@cmake -S . -B build-sanitize -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTICKRT_CUDA=OFF \
	  -DTICKRT_SANITIZE=address,undefined $(CMAKE_FLAGS) >/dev/null
	@cmake --build build-sanitize -j$(JOBS)
	cd build-sanitize && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  TICKRT_SANITIZED=1 ctest --output-on-failure -j$(JOBS) --timeout 1800

## make tsan: ThreadSanitizer build running the tests in which threads meet (engine loop, ZeroMQ I/O threads,
## the refresh worker, processes talking over sockets). tools/tsan.supp says what is suppressed and why.
TSAN_TESTS ?= ^(engine|feeds: (100k|hostile|a batch|busy-poll|sources are|tickrt gen publishes)|backend deferred|scaleout|profile: (inproc|tcp)|record: (kill|SIGTERM)|metrics: served|backpressure|crash|security)
tsan: deps
	@cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTICKRT_CUDA=OFF \
	  -DTICKRT_SANITIZE=thread $(CMAKE_FLAGS) >/dev/null
	@cmake --build build-tsan -j$(JOBS)
	cd build-tsan && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/tools/tsan.supp" \
	  TICKRT_SANITIZED=1 ctest --output-on-failure -j$(JOBS) --timeout 1800 -R '$(TSAN_TESTS)'

## make fuzz: clang + libFuzzer + ASan/UBSan build of fuzz/, then every target for FUZZ_SECONDS each (one table)
FUZZ_SECONDS ?= 60
fuzz: deps
	@CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTICKRT_CUDA=OFF \
	  -DTICKRT_FUZZ=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build build-fuzz -j$(JOBS)
	./fuzz/run.sh build-fuzz $(FUZZ_SECONDS)

## make format: clang-format every C++ source in place
format:
	@find engine feeds kernels tools tests -name '*.h' -o -name '*.cpp' -o -name '*.cu' -o -name '*.cuh' | xargs clang-format -i

clean:
	rm -rf $(BUILD) build-sanitize build-tsan build-fuzz

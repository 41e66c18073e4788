# agentos build. Plain make, shared flags, warnings are errors.
#   make            the product (tools and links) into build/
#   make deps       install missing Debian packages (apt-get; sudo when not root)
#   make demo       deps + build + a real parallel batch against agentos-mockllm
#   make test       deps + build + format check + every unit and integration test;
#                   ends "N passed, M failed"
#   make test-real  the tests against real servers (llama.cpp's llama-server, haproxy,
#                   Slurm); llama-server is built once and cached outside the tree
#   make asan       the same tests under ASan+UBSan (build-asan/)
#   make tsan       the concurrency unit tests under TSan (build-tsan/)
#   make stress     hundreds of runs killed at random moments; prints what was lost
#   make fuzz       the libFuzzer targets, each for a bounded time
#   make install PREFIX=/usr/local [DESTDIR=...]   and   make uninstall
#   make format     clang-format the tree;  make format-check  fails on a difference
#   make clean
# CPPFLAGS, CFLAGS and LDFLAGS from the command line or environment are added to ours.

PREFIX  ?= /usr/local
BUILD   ?= build
CC      ?= cc
OPT     ?= -O2
SANITIZE ?=
CFLAGS  ?=
CPPFLAGS ?=
LDFLAGS ?=
WARN     = -Wall -Wextra -Wformat=2 -Wshadow -Werror
ALL_CPPFLAGS = -D_GNU_SOURCE -I. $(CPPFLAGS)
ALL_CFLAGS = -std=c11 -g $(OPT) $(WARN) $(SANITIZE) -pthread $(CFLAGS)
ALL_LDFLAGS = $(SANITIZE) -pthread $(LDFLAGS)
LDLIBS   = -lsqlite3 -lcurl -lcjson -luring -lhiredis -lcrypto -lrt -pthread
MHD_LIBS = -lmicrohttpd

# The builds that test, test-real, asan, tsan, demo and stress start use every core,
# unless make was given its own -j (then its jobserver is left alone).
BUILD_JOBS ?= $(shell nproc 2>/dev/null || echo 1)
SUBMAKE = $(MAKE) --no-print-directory $(if $(findstring j,$(filter-out --%,$(MAKEFLAGS))),,-j$(BUILD_JOBS))

DEB_PKGS = build-essential pkg-config libsqlite3-dev libcurl4-openssl-dev libcjson-dev \
           liburing-dev libcmocka-dev libmicrohttpd-dev libssl-dev parallel sqlite3 tmux jq curl bc \
           prometheus clang-format libhiredis-dev redis-server haproxy slurm-wlm munge \
           python3-numpy cmake
# npm fetches llama.cpp's sources (tests/real/llama.sh); a machine that has its own Node.js
# keeps it (Debian's npm would conflict with it): installed only when npm is missing.
NPM_PKGS = nodejs npm

# The library: layers from the bottom up (shm <- llm <- runtime <- workflows).
LIB_SRCS  = $(sort $(wildcard shm/*.c llm/*.c runtime/*.c workflows/*.c workflows/*/*.c))
LIB_OBJS  = $(LIB_SRCS:%.c=$(BUILD)/%.o)
LIB       = $(BUILD)/libagentos.a
TOOLS     = agentos-run agentos-mockllm agentos-shmstat
TOOL_BINS = $(addprefix $(BUILD)/bin/,$(TOOLS))
LINKS     = $(BUILD)/bin/lld-workflow $(BUILD)/bin/issue-workflow
UNIT_SRCS = $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS = $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
FORMAT_SRCS = $(sort $(wildcard shm/*.[ch] llm/*.[ch] runtime/*.[ch] workflows/*.[ch] \
              workflows/*/*.[ch] tools/*.c tools/*/*.[ch] tests/unit/*.[ch] tests/fuzz/*.c perf/*.c))

.PHONY: all tests deps demo test test-real unit integration asan tsan stress fuzz install \
        uninstall clean format format-check

all: $(TOOL_BINS) $(LINKS)

tests: $(UNIT_BINS)

deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	command -v npm >/dev/null 2>&1 || missing="$$missing $(NPM_PKGS)"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing </dev/null; \
	fi

# Header dependencies come from the compiler (-MMD -MP): touching one header
# rebuilds only what includes it.
$(BUILD)/%.o: %.c | $(BUILD)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

-include $(LIB_OBJS:.o=.d) $(wildcard $(BUILD)/tools/*.d $(BUILD)/tools/*/*.d $(BUILD)/tests/*.d)

$(LIB): $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

# A tool is its main plus the files of the folder named after it, if any
# (tools/mockllm/ for agentos-mockllm, tools/shmstat/ for agentos-shmstat).
MOCK_OBJS    = $(patsubst %.c,$(BUILD)/%.o,$(sort $(wildcard tools/mockllm/*.c)))
SHMSTAT_OBJS = $(patsubst %.c,$(BUILD)/%.o,$(sort $(wildcard tools/shmstat/*.c)))

$(BUILD)/bin/agentos-mockllm: $(BUILD)/tools/agentos-mockllm.o $(MOCK_OBJS) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(MHD_LIBS) $(LDLIBS)

$(BUILD)/bin/agentos-shmstat: $(BUILD)/tools/agentos-shmstat.o $(SHMSTAT_OBJS) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(MHD_LIBS) $(LDLIBS)

$(BUILD)/bin/agentos-run: $(BUILD)/tools/agentos-run.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/lld-workflow $(BUILD)/bin/issue-workflow: $(BUILD)/bin/agentos-run
	ln -sf agentos-run $@

# A test may ask for extra link flags (e.g. -Wl,--wrap=fn) on a line
# "/* LDFLAGS: ... */" near its top. Tests may use the inspector's formatting.
$(BUILD)/tests/%: tests/unit/%.c $(LIB) $(SHMSTAT_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -MMD -MP -MF $@.d \
	  $$(sed -n 's|^/\* LDFLAGS: \(.*\) \*/$$|\1|p' $<) -o $@ $< $(SHMSTAT_OBJS) $(LIB) \
	  $(ALL_LDFLAGS) -lcmocka $(MHD_LIBS) $(LDLIBS)
-include $(wildcard $(BUILD)/tests/*.d)

$(BUILD):
	@mkdir -p $@

# For scripts that link against the library (perf/, tests/fuzz/): `make -s print-LDLIBS`.
print-%:
	@echo $($*)

unit: all tests
	@BUILD=$(BUILD) tests/run.sh unit

integration: all
	@BUILD=$(BUILD) tests/run.sh integration

test: deps
	@$(SUBMAKE) all tests
	@BUILD=$(BUILD) FORMAT_CHECK=1 tests/run.sh all

test-real: deps
	@$(SUBMAKE) all
	@BUILD=$(BUILD) tests/run.sh real

demo: deps
	@$(SUBMAKE) all
	@BUILD=$(BUILD) tools/demo.sh

asan: deps
	@$(SUBMAKE) BUILD=build-asan OPT=-O1 \
	  SANITIZE="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" all tests
	@rm -rf build-asan/reports && mkdir -p build-asan/reports
	@BUILD=build-asan ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:log_path=$(CURDIR)/build-asan/reports/asan \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$(CURDIR)/build-asan/reports/ubsan \
	  tests/run.sh all; rc=$$?; \
	if ls build-asan/reports/* >/dev/null 2>&1; then \
	  echo "sanitizer reports from some process (a worker, the stand-in, a tool):"; \
	  head -40 build-asan/reports/*; exit 1; fi; exit $$rc

tsan: deps
	@$(SUBMAKE) BUILD=build-tsan OPT=-O1 SANITIZE="-fsanitize=thread" all tests
	@BUILD=build-tsan TSAN_OPTIONS=halt_on_error=1 tests/run.sh unit

# Hundreds of runs killed (-9) at random moments, each resumed; prints what was
# lost (must be 0). STRESS_RUNS=N to change the count, STRESS_SEED=S to replay.
stress: deps
	@$(SUBMAKE) all
	@BUILD=$(BUILD) tests/stress.sh

# libFuzzer targets (clang), each for FUZZ_SECONDS (default 20).
fuzz:
	@$(MAKE) --no-print-directory deps DEB_PKGS="clang libclang-rt-14-dev"
	@BUILD=$(BUILD) tests/fuzz/run.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/agentos/prompts
	install -m 0755 $(TOOL_BINS) $(DESTDIR)$(PREFIX)/bin/
	ln -sf agentos-run $(DESTDIR)$(PREFIX)/bin/lld-workflow
	ln -sf agentos-run $(DESTDIR)$(PREFIX)/bin/issue-workflow
	install -m 0644 workflows/prompts/*.md $(DESTDIR)$(PREFIX)/share/agentos/prompts/

uninstall:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/bin/,$(TOOLS) lld-workflow issue-workflow)
	rm -rf $(DESTDIR)$(PREFIX)/share/agentos

format:
	clang-format -i $(FORMAT_SRCS)

format-check:
	@clang-format --dry-run --Werror $(FORMAT_SRCS)

clean:
	rm -rf build build-asan build-tsan

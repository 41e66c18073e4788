# agentos build. Plain make, shared flags, warnings are errors.
#   make            build everything into build/
#   make deps       install missing Debian packages (apt-get; sudo when not root)
#   make demo       deps + build + a real parallel batch against agentos-mockllm
#   make test       deps + build + every unit and integration test; ends "N passed, M failed"
#   make asan       the same tests under ASan+UBSan (build-asan/)
#   make tsan       the concurrency unit tests under TSan (build-tsan/)
#   make stress     hundreds of runs killed at random moments; prints what was lost
#   make fuzz       the libFuzzer targets, each for a bounded time
#   make install PREFIX=/usr/local
#   make clean

PREFIX  ?= /usr/local
BUILD   ?= build
CC      ?= cc
OPT     ?= -O2
SANITIZE ?=
CFLAGS  ?=
WARN     = -Wall -Wextra -Wformat=2 -Wshadow -Werror -Wno-format-truncation
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -g $(OPT) $(WARN) $(SANITIZE) -pthread -I. $(CFLAGS)
LDLIBS   = -lsqlite3 -lcurl -lcjson -luring -lcrypto -lhiredis -lrt -pthread
MHD_LIBS = -lmicrohttpd

DEB_PKGS = build-essential pkg-config libsqlite3-dev libcurl4-openssl-dev libcjson-dev \
           liburing-dev libcmocka-dev libmicrohttpd-dev libssl-dev libhiredis-dev redis-server parallel sqlite3 tmux jq curl bc prometheus

LIB_SRCS  = $(sort $(wildcard shm/*.c runtime/*.c workflows/*.c llm/*.c))
LIB_OBJS  = $(LIB_SRCS:%.c=$(BUILD)/%.o)
LIB       = $(BUILD)/libagentos.a
TOOLS     = agentos-run agentos-mockllm agentos-shmstat
TOOL_BINS = $(addprefix $(BUILD)/bin/,$(filter $(TOOLS),$(basename $(notdir $(wildcard tools/*.c)))))
LINKS     = $(BUILD)/bin/lld-workflow $(BUILD)/bin/issue-workflow
UNIT_SRCS = $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS = $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all deps demo test unit integration asan tsan stress fuzz install clean format

all: $(TOOL_BINS) $(LINKS) $(UNIT_BINS)

deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing </dev/null; \
	fi

$(BUILD)/%.o: %.c $(wildcard shm/*.h runtime/*.h workflows/*.h llm/*.h) | $(BUILD)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

# The stand-in is its main plus the files of tools/mockllm/ (they share mockllm.h).
MOCK_SRCS = $(sort $(wildcard tools/mockllm/*.c))
MOCK_OBJS = $(MOCK_SRCS:%.c=$(BUILD)/%.o)
$(BUILD)/tools/agentos-mockllm.o $(MOCK_OBJS): $(wildcard tools/mockllm/*.h)

$(BUILD)/bin/agentos-mockllm: $(BUILD)/tools/agentos-mockllm.o $(MOCK_OBJS) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(MHD_LIBS) $(LDLIBS)

$(BUILD)/bin/agentos-shmstat: $(BUILD)/tools/agentos-shmstat.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(MHD_LIBS) $(LDLIBS)

$(BUILD)/bin/%: $(BUILD)/tools/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/lld-workflow $(BUILD)/bin/issue-workflow: $(BUILD)/bin/agentos-run
	ln -sf agentos-run $@

# A test may ask for extra link flags (e.g. -Wl,--wrap=fn) on a line
# "/* LDFLAGS: ... */" near its top.
$(BUILD)/tests/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $$(sed -n 's|^/\* LDFLAGS: \(.*\) \*/$$|\1|p' $<) -o $@ $< $(LIB) -lcmocka $(MHD_LIBS) $(LDLIBS)

$(BUILD):
	@mkdir -p $@

unit: all
	@BUILD=$(BUILD) tests/run.sh unit

integration: all
	@BUILD=$(BUILD) tests/run.sh integration

test: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) tests/run.sh all

demo: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) tools/demo.sh

asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan OPT=-O1 \
	  SANITIZE="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" all
	@rm -rf build-asan/reports && mkdir -p build-asan/reports
	@BUILD=build-asan ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:log_path=$(CURDIR)/build-asan/reports/asan \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$(CURDIR)/build-asan/reports/ubsan \
	  tests/run.sh all; rc=$$?; \
	if ls build-asan/reports/* >/dev/null 2>&1; then \
	  echo "sanitizer reports from some process (a worker, the stand-in, a tool):"; \
	  head -40 build-asan/reports/*; exit 1; fi; exit $$rc

tsan: deps
	@$(MAKE) --no-print-directory BUILD=build-tsan OPT=-O1 SANITIZE="-fsanitize=thread" all
	@BUILD=build-tsan TSAN_OPTIONS=halt_on_error=1 tests/run.sh unit

# Hundreds of runs killed (-9) at random moments, each resumed; prints what was
# lost (must be 0). STRESS_RUNS=N to change the count.
stress: deps
	@$(MAKE) --no-print-directory all
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

format:
	clang-format -i $(wildcard shm/*.[ch] runtime/*.[ch] llm/*.[ch] workflows/*.[ch] tools/*.c tools/mockllm/*.[ch] tests/unit/*.c tests/fuzz/*.c perf/*.c)

clean:
	rm -rf build build-asan build-tsan

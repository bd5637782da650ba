# jobqd — build, test, install.
#
#   make                 build ./jobqd
#   make run             build and start jobqd in the foreground (built-in defaults)
#   make check           build and run every unit and integration suite
#   make check SANITIZE=1  the same under ASan + UBSan
#   make bench           benchmarks (tests/bench/)
#   make fuzz FUZZ_SECONDS=N   libFuzzer run of the HTTP parser (clang)
#   make install [PREFIX=/usr/local] [DESTDIR=]
#   make clean

PREFIX   ?= /usr/local
DESTDIR  ?=
SYSTEMDDIR ?= $(PREFIX)/lib/systemd/system
CC       ?= cc
SANITIZE ?= 0
FUZZ_SECONDS ?= 60

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wpointer-arith -Wformat=2 -Wundef -Wvla -Wcast-align -Wwrite-strings
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE $(WARN) -I. -MMD -MP
LDLIBS  += -lrt

ifeq ($(SANITIZE),1)
B        := build/san
CFLAGS   += -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS  += -fsanitize=address,undefined
else
B        := build/rel
endif

MAIN_SRC := server/main.c
LIB_SRCS := $(filter-out $(MAIN_SRC),$(wildcard common/*.c server/*.c worker/*.c))
LIB_OBJS := $(LIB_SRCS:%.c=$(B)/%.o)
LIB      := $(B)/libjobqd.a
BIN      := $(B)/jobqd

TESTLIB_SRCS := $(wildcard tests/lib/*.c)
TESTLIB_OBJS := $(TESTLIB_SRCS:%.c=$(B)/%.o)
UNIT_SRCS    := $(wildcard tests/unit/test_*.c)
INTEG_SRCS   := $(wildcard tests/integration/test_*.c)
TEST_BINS    := $(UNIT_SRCS:%.c=$(B)/%) $(INTEG_SRCS:%.c=$(B)/%)
FUZZ_REPLAY  := $(B)/tests/fuzz/replay_http_parser
BENCH_SRCS   := $(wildcard tests/bench/bench_*.c)
BENCH_BINS   := $(BENCH_SRCS:%.c=$(B)/%)

.PHONY: all run check check-deps install clean bench fuzz
# Keep intermediate objects (tests/lib/*.o) between runs.
.SECONDARY:
all: jobqd

# ./jobqd is the plain build; the sanitized one stays in build/san/.
jobqd: $(BIN)
ifeq ($(SANITIZE),1)
	@:
else
	cp $(BIN) $@
endif

$(BIN): $(B)/$(MAIN_SRC:.c=.o) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(LIB): $(LIB_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

run: jobqd
	./jobqd

# --- tests -----------------------------------------------------------------
# Check is found with pkg-config; when missing it is installed with apt-get
# if we are root, otherwise we stop with one line that says what to install.
check-deps:
	@if ! command -v pkg-config >/dev/null 2>&1 || ! pkg-config --exists check; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "make check: installing check and pkg-config with apt-get"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq check pkg-config >/dev/null || exit 1; \
	  else \
	    echo "make check: the Check unit-test library is missing: install 'check' and 'pkg-config' (Debian: apt-get install check pkg-config)"; exit 1; \
	  fi; \
	fi
	@if ! command -v python3 >/dev/null 2>&1 || ! command -v curl >/dev/null 2>&1 || ! command -v mandoc >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "make check: installing python3, curl and mandoc with apt-get"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 curl mandoc >/dev/null || exit 1; \
	  else \
	    echo "make check: the integration tests need python3, curl and mandoc: install them (Debian: apt-get install python3 curl mandoc)"; exit 1; \
	  fi; \
	fi
	@command -v haproxy >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && echo "make check: installing haproxy with apt-get (test_cluster skips without it)" && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null; } || true

CHECK_CFLAGS = $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS   = $(shell pkg-config --libs check 2>/dev/null)

define test_rule
$(B)/tests/$(1)/%: tests/$(1)/%.c $(TESTLIB_OBJS) $(LIB) | check-deps
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CFLAGS) $$(CHECK_CFLAGS) $$(LDFLAGS) -o $$@ $$< $$(TESTLIB_OBJS) $$(LIB) $$(CHECK_LIBS) $$(LDLIBS)
endef
$(eval $(call test_rule,unit))
$(eval $(call test_rule,integration))

$(FUZZ_REPLAY): tests/fuzz/fuzz_http_parser.c tests/fuzz/replay_main.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ tests/fuzz/fuzz_http_parser.c tests/fuzz/replay_main.c $(LIB) $(LDLIBS)

# Slower machines and sanitizers stretch Check's per-test timeouts.
ifeq ($(SANITIZE),1)
CHECK_ENV := CK_TIMEOUT_MULTIPLIER=4
else
CHECK_ENV := CK_TIMEOUT_MULTIPLIER=2
endif

check: check-deps jobqd $(BIN) $(TEST_BINS) $(FUZZ_REPLAY)
	@fail=0; \
	for t in $(TEST_BINS); do \
	  echo "== $$t"; \
	  env $(CHECK_ENV) JOBQD_BIN=$(CURDIR)/$(BIN) JOBQD_SRC=$(CURDIR) $$t || fail=1; \
	done; \
	echo "== fuzz corpus replay"; \
	$(FUZZ_REPLAY) tests/fuzz/corpus || fail=1; \
	echo "== man pages"; \
	for m in man/*.[0-9]; do \
	  out=$$(mandoc -Tlint -W warning $$m 2>&1); \
	  if [ -n "$$out" ]; then echo "$$out"; fail=1; fi; \
	done; \
	if [ $$fail -ne 0 ]; then echo "make check: FAILED"; exit 1; fi; \
	echo "make check: all suites passed"

# --- benchmarks and fuzzing --------------------------------------------------
$(B)/tests/bench/%: tests/bench/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

bench: jobqd $(BENCH_BINS)
	@for b in $(BENCH_BINS); do echo "== $$b"; $$b || exit 1; done
	@echo "== tests/bench/http_bench.sh"; JOBQD_BIN=$(CURDIR)/jobqd bash tests/bench/http_bench.sh

FUZZ_BIN := build/fuzz/fuzz_http_parser
fuzz:
	@mkdir -p build/fuzz
	clang -std=c11 -D_GNU_SOURCE -g -O1 -I. -fsanitize=fuzzer,address,undefined \
	  -o $(FUZZ_BIN) tests/fuzz/fuzz_http_parser.c server/http_parser.c
	mkdir -p build/fuzz/corpus && cp -n tests/fuzz/corpus/* build/fuzz/corpus/ 2>/dev/null || true
	$(FUZZ_BIN) -max_total_time=$(FUZZ_SECONDS) -max_len=20000 build/fuzz/corpus tests/fuzz/corpus

# --- install ----------------------------------------------------------------
install: jobqd
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/share/man/man8 \
	  $(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/jobqd \
	  $(DESTDIR)$(SYSTEMDDIR)
	install -m 0755 jobqd $(DESTDIR)$(PREFIX)/sbin/jobqd
	install -m 0644 man/jobqd.8 $(DESTDIR)$(PREFIX)/share/man/man8/jobqd.8
	install -m 0644 man/jobqd.conf.5 $(DESTDIR)$(PREFIX)/share/man/man5/jobqd.conf.5
	sed 's|/usr/local/sbin/|$(PREFIX)/sbin/|g' server/jobqd.service > $(DESTDIR)$(SYSTEMDDIR)/jobqd.service
	chmod 0644 $(DESTDIR)$(SYSTEMDDIR)/jobqd.service
	install -m 0644 server/jobqd.conf $(DESTDIR)$(PREFIX)/share/jobqd/jobqd.conf.sample

clean:
	rm -rf build jobqd

-include $(shell find build -name '*.d' 2>/dev/null)

# jobqd — build, test, install.
#
#   make                 build ./jobqd
#   make run             build and start jobqd in the foreground (built-in defaults)
#   make check           build and run every unit and integration suite
#   make check SANITIZE=1  the same under ASan + UBSan
#   make bench           benchmarks (tests/bench/)
#   make fuzz FUZZ_SECONDS=N   libFuzzer run of the HTTP parser (clang)
#   make install [PREFIX=/usr/local] [SYSCONFDIR=/etc] [DESTDIR=] [ADDUSER=no]
#   make uninstall       the same variables; keeps SYSCONFDIR/jobqd.conf
#   make clean

PREFIX   ?= /usr/local
DESTDIR  ?=
SYSCONFDIR ?= /etc
SBINDIR  ?= $(PREFIX)/sbin
MANDIR   ?= $(PREFIX)/share/man
DOCDIR   ?= $(PREFIX)/share/doc/jobqd
SYSTEMDDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
# Create the jobqd user at install time: yes when installing for this
# machine (no DESTDIR); a package does it in its postinst instead.
ADDUSER  ?= $(if $(DESTDIR),no,yes)
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

.PHONY: all run check check-deps install uninstall clean bench fuzz
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
	@command -v promtool >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && echo "make check: installing prometheus (for promtool) with apt-get (test_health skips its metrics check without it)" && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; } || true

# test_install rates the unit with systemd-analyze; without it (and not
# root to install it) that test is skipped with a message.
	@if ! command -v systemd-analyze >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "make check: installing systemd (for systemd-analyze) with apt-get"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null || exit 1; \
	fi

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

check: check-deps jobqd $(BIN) $(TEST_BINS) $(FUZZ_REPLAY) $(BENCH_BINS)
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
	@echo "== tests/bench/journal_bench.sh"; JOBQD_BIN=$(CURDIR)/jobqd bash tests/bench/journal_bench.sh

FUZZ_BIN := build/fuzz/fuzz_http_parser
fuzz:
	@mkdir -p build/fuzz
	clang -std=c11 -D_GNU_SOURCE -g -O1 -I. -fsanitize=fuzzer,address,undefined \
	  -o $(FUZZ_BIN) tests/fuzz/fuzz_http_parser.c server/http_parser.c
	mkdir -p build/fuzz/corpus && cp -n tests/fuzz/corpus/* build/fuzz/corpus/ 2>/dev/null || true
	$(FUZZ_BIN) -max_total_time=$(FUZZ_SECONDS) -max_len=20000 build/fuzz/corpus tests/fuzz/corpus

# --- install ----------------------------------------------------------------
# The files that name paths get the install's paths (the sources say
# /usr/local and /etc).
INSTALL_SED = sed -e 's|/usr/local/sbin/|$(SBINDIR)/|g' \
	-e 's|/usr/local/lib/systemd/system|$(SYSTEMDDIR)|g' \
	-e 's|/usr/local/lib/sysusers.d|$(SYSUSERSDIR)|g' \
	-e 's|/usr/local/share/doc/jobqd|$(DOCDIR)|g' \
	-e 's|/etc/|$(SYSCONFDIR)/|g'
MAN_PAGES := $(wildcard man/*.[0-9])
# Installed file -> source, for everything but the configuration.
INSTALL_FILES := \
	$(SYSTEMDDIR)/jobqd.service:server/jobqd.service \
	$(SYSUSERSDIR)/jobqd.conf:server/jobqd.sysusers \
	$(SYSCONFDIR)/logrotate.d/jobqd:server/jobqd.logrotate \
	$(DOCDIR)/README.md:README.md \
	$(DOCDIR)/LICENSE:LICENSE \
	$(DOCDIR)/jobqd.conf.sample:server/jobqd.conf \
	$(foreach m,$(MAN_PAGES),$(MANDIR)/man$(subst .,,$(suffix $(m)))/$(notdir $(m)):$(m))

install: $(BIN)
	install -d -m 0755 $(DESTDIR)$(SBINDIR) $(DESTDIR)$(SYSCONFDIR)/init.d
	install -m 0755 $(BIN) $(DESTDIR)$(SBINDIR)/jobqd
	$(INSTALL_SED) server/jobqd.init > $(DESTDIR)$(SYSCONFDIR)/init.d/jobqd.tmp
	chmod 0755 $(DESTDIR)$(SYSCONFDIR)/init.d/jobqd.tmp
	mv $(DESTDIR)$(SYSCONFDIR)/init.d/jobqd.tmp $(DESTDIR)$(SYSCONFDIR)/init.d/jobqd
	@set -e; for f in $(INSTALL_FILES); do \
	  dst=$(DESTDIR)$${f%%:*}; src=$${f#*:}; \
	  install -d -m 0755 "$$(dirname "$$dst")"; \
	  $(INSTALL_SED) "$$src" > "$$dst.tmp"; chmod 0644 "$$dst.tmp"; mv "$$dst.tmp" "$$dst"; \
	  echo "installed $$dst"; \
	done
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/jobqd.conf ]; then \
	  echo "kept $(DESTDIR)$(SYSCONFDIR)/jobqd.conf"; \
	else \
	  $(INSTALL_SED) server/jobqd.conf.installed > $(DESTDIR)$(SYSCONFDIR)/jobqd.conf && \
	  chmod 0644 $(DESTDIR)$(SYSCONFDIR)/jobqd.conf && \
	  echo "installed $(DESTDIR)$(SYSCONFDIR)/jobqd.conf"; \
	fi
	@if [ "$(ADDUSER)" = yes ] && [ "$$(id -u)" = 0 ] && ! getent passwd jobqd >/dev/null; then \
	  if command -v systemd-sysusers >/dev/null 2>&1; then \
	    systemd-sysusers $(SYSUSERSDIR)/jobqd.conf; \
	  else \
	    adduser --system --group --home /var/lib/jobqd --no-create-home jobqd; \
	  fi; \
	fi

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/jobqd $(DESTDIR)$(SYSCONFDIR)/init.d/jobqd \
	  $(foreach f,$(INSTALL_FILES),$(DESTDIR)$(firstword $(subst :, ,$(f))))
	-rmdir $(DESTDIR)$(DOCDIR) 2>/dev/null
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/jobqd.conf ]; then \
	  echo "kept $(DESTDIR)$(SYSCONFDIR)/jobqd.conf, the jobqd user and /var/lib/jobqd"; fi

clean:
	rm -rf build jobqd

-include $(shell find build -name '*.d' 2>/dev/null)

# Makefile for feat. Works on its own; ./configure (from configure.ac) may
# write config.mak.autogen, and config.mak holds local overrides.
#
#   make                  build the commands
#   make check            build and run every test
#   make demo             run the example pipeline end to end
#   make install PREFIX=/usr/local
#   make SANITIZE=1 check build with AddressSanitizer and UBSan
#   make V=1              show the commands

PREFIX = /usr/local
BINDIR = $(PREFIX)/bin
MANDIR = $(PREFIX)/share/man
CC = cc
CFLAGS = -O2 -g
WARN = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wno-unused-parameter
PKG_CONFIG = pkg-config
AR = ar
INSTALL = install

-include config.mak.autogen
-include config.mak

# pkg-config knows jansson, zstd and check; libcsv ships no .pc file.
JANSSON_CFLAGS ?= $(shell $(PKG_CONFIG) --cflags jansson 2>/dev/null)
JANSSON_LIBS ?= $(shell $(PKG_CONFIG) --libs jansson 2>/dev/null || echo -ljansson)
ZSTD_CFLAGS ?= $(shell $(PKG_CONFIG) --cflags libzstd 2>/dev/null)
ZSTD_LIBS ?= $(shell $(PKG_CONFIG) --libs libzstd 2>/dev/null || echo -lzstd)
CHECK_CFLAGS ?= $(shell $(PKG_CONFIG) --cflags check 2>/dev/null)
CHECK_LIBS ?= $(shell $(PKG_CONFIG) --libs check 2>/dev/null || echo -lcheck)
CSV_LIBS ?= -lcsv

ifdef SANITIZE
CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
endif
ifdef WERROR
WARN += -Werror
endif

ALL_CFLAGS = $(CFLAGS) $(WARN) -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
	-iquote lib $(JANSSON_CFLAGS) $(ZSTD_CFLAGS)
LIBS = $(CSV_LIBS) $(JANSSON_LIBS) $(ZSTD_LIBS) -lm -pthread

ifndef V
QUIET_CC = @echo '   ' CC $@;
QUIET_AR = @echo '   ' AR $@;
QUIET_LINK = @echo '   ' LINK $@;
endif

LIB_OBJS =
LIB_OBJS += lib/accum.o
LIB_OBJS += lib/aggop.o
LIB_OBJS += lib/aggregate.o
LIB_OBJS += lib/backfill.o
LIB_OBJS += lib/buf.o
LIB_OBJS += lib/check.o
LIB_OBJS += lib/csvin.o
LIB_OBJS += lib/error.o
LIB_OBJS += lib/explain.o
LIB_OBJS += lib/expr.o
LIB_OBJS += lib/format.o
LIB_OBJS += lib/hash.o
LIB_OBJS += lib/io.o
LIB_OBJS += lib/join.o
LIB_OBJS += lib/jsonlin.o
LIB_OBJS += lib/jsonpos.o
LIB_OBJS += lib/jsontext.o
LIB_OBJS += lib/plan.o
LIB_OBJS += lib/progress.o
LIB_OBJS += lib/rowin.o
LIB_OBJS += lib/serve.o
LIB_OBJS += lib/state.o
LIB_OBJS += lib/suggest.o
LIB_OBJS += lib/tile.o
LIB_OBJS += lib/tilein.o
LIB_OBJS += lib/time.o
LIB_OBJS += lib/value.o
LIB_OBJS += $(EXTRA_LIB_OBJS)

PROGRAMS =
PROGRAMS += feat-aggregate
PROGRAMS += feat-asof-join
PROGRAMS += feat-backfill
PROGRAMS += feat-compile
PROGRAMS += feat-serve-dump

TOOLS =
TOOLS += examples/gen
TOOLS += tests/tools/chunkcat

UNIT_TESTS =
UNIT_TESTS += tests/unit/test_accum
UNIT_TESTS += tests/unit/test_aggop
UNIT_TESTS += tests/unit/test_csvin
UNIT_TESTS += tests/unit/test_expr
UNIT_TESTS += tests/unit/test_format
UNIT_TESTS += tests/unit/test_hash
UNIT_TESTS += tests/unit/test_plan
UNIT_TESTS += tests/unit/test_state
UNIT_TESTS += tests/unit/test_tile
UNIT_TESTS += tests/unit/test_time
UNIT_TESTS += tests/unit/test_value

LIBFEAT = lib/libfeat.a

all: $(PROGRAMS) $(TOOLS)

# Objects depend on the flags they were built with (git's GIT-CFLAGS), so
# that switching SANITIZE=1 on or off rebuilds everything.
TRACK_FLAGS = $(CC) $(ALL_CFLAGS) $(LDFLAGS) $(LIBS)
FEAT-BUILD-FLAGS: FORCE
	@echo '$(subst ','\'',$(TRACK_FLAGS))' > $@.new; \
	if cmp -s $@ $@.new; then rm -f $@.new; else mv $@.new $@; fi

lib/%.o: lib/%.c lib/*.h FEAT-BUILD-FLAGS
	$(QUIET_CC)$(CC) $(ALL_CFLAGS) -c -o $@ $<

cmd/%.o: cmd/%.c lib/*.h FEAT-BUILD-FLAGS
	$(QUIET_CC)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIBFEAT): $(LIB_OBJS)
	$(QUIET_AR)rm -f $@ && $(AR) rcs $@ $(LIB_OBJS)

feat-%: cmd/feat-%.o cmd/common.o $(LIBFEAT)
	$(QUIET_LINK)$(CC) $(LDFLAGS) -o $@ $< cmd/common.o $(LIBFEAT) $(LIBS)

cmd/common.o: cmd/common.c cmd/common.h lib/*.h FEAT-BUILD-FLAGS
	$(QUIET_CC)$(CC) $(ALL_CFLAGS) -c -o $@ $<

# Tools for the examples and tests: plain C, libc only.
examples/gen: examples/gen.c
	$(QUIET_LINK)$(CC) $(CFLAGS) $(WARN) -std=c11 -D_POSIX_C_SOURCE=200809L $(LDFLAGS) -o $@ $<

tests/tools/chunkcat: tests/tools/chunkcat.c
	$(QUIET_LINK)$(CC) $(CFLAGS) $(WARN) -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE $(LDFLAGS) -o $@ $<

tests/unit/%.o: tests/unit/%.c lib/*.h FEAT-BUILD-FLAGS
	$(QUIET_CC)$(CC) $(ALL_CFLAGS) $(CHECK_CFLAGS) -c -o $@ $<

tests/unit/test_%: tests/unit/test_%.o $(LIBFEAT)
	$(QUIET_LINK)$(CC) $(LDFLAGS) -o $@ $< $(LIBFEAT) $(LIBS) $(CHECK_LIBS)

check: all $(UNIT_TESTS)
	@sh tests/run-unit $(UNIT_TESTS)
	@sh tests/check-exports $(LIBFEAT)
	@sh tests/cli/run
	@$(MAKE) -s parity

demo: all
	@sh examples/demo

clean:
	rm -rf out
	rm -f FEAT-BUILD-FLAGS lib/*.o lib/*.a cmd/*.o tests/unit/*.o $(UNIT_TESTS) $(PROGRAMS) $(TOOLS)

.PHONY: all check clean demo FORCE
.SECONDARY:

# Dependencies. Before the first compile, scripts/install-deps --check looks
# for the compiler, pkg-config and the libraries (about 50 ms); when some are
# missing, install-deps says what it installs and installs it with apt-get,
# or prints the dnf and brew commands and stops. NO_DEPS=1 skips the look.
DEPS_ENV = CC='$(CC)' CFLAGS='$(CFLAGS)' LDFLAGS='$(LDFLAGS)'

deps-ok:
ifndef NO_DEPS
	@$(DEPS_ENV) sh scripts/install-deps --check >/dev/null 2>&1 || \
	$(DEPS_ENV) sh scripts/install-deps || \
	{ echo 'make: dependencies missing (NO_DEPS=1 builds without this check)' >&2; exit 1; }
endif

# Order-only: the look runs first, but never makes an object out of date.
all: | deps-ok
$(LIB_OBJS) $(PROGRAMS:%=cmd/%.o) $(UNIT_TESTS:%=%.o): | deps-ok

deps:
	sh scripts/install-deps

# Maintainers only: the Makefile needs neither configure nor autoconf.
configure: configure.ac
	autoreconf -fi

MAN1 = $(wildcard man/*.1)
MAN5 = $(wildcard man/*.5)
MAN7 = $(wildcard man/*.7)

install: all
	$(INSTALL) -d -m 755 '$(DESTDIR)$(BINDIR)'
	$(if $(PROGRAMS),$(INSTALL) -m 755 $(PROGRAMS) '$(DESTDIR)$(BINDIR)')
	$(if $(MAN1),$(INSTALL) -d -m 755 '$(DESTDIR)$(MANDIR)/man1')
	$(if $(MAN1),$(INSTALL) -m 644 $(MAN1) '$(DESTDIR)$(MANDIR)/man1')
	$(if $(MAN5),$(INSTALL) -d -m 755 '$(DESTDIR)$(MANDIR)/man5')
	$(if $(MAN5),$(INSTALL) -m 644 $(MAN5) '$(DESTDIR)$(MANDIR)/man5')
	$(if $(MAN7),$(INSTALL) -d -m 755 '$(DESTDIR)$(MANDIR)/man7')
	$(if $(MAN7),$(INSTALL) -m 644 $(MAN7) '$(DESTDIR)$(MANDIR)/man7')

uninstall:
	rm -f $(addprefix '$(DESTDIR)$(BINDIR)'/,$(PROGRAMS))
	rm -f $(addprefix '$(DESTDIR)$(MANDIR)/man1'/,$(notdir $(MAN1)))
	rm -f $(addprefix '$(DESTDIR)$(MANDIR)/man5'/,$(notdir $(MAN5)))
	rm -f $(addprefix '$(DESTDIR)$(MANDIR)/man7'/,$(notdir $(MAN7)))

clean: clean-tests
clean-tests:
	rm -rf tests/tmp

distclean: clean
	rm -rf configure configure~ config.status config.log autom4te.cache \
		aclocal.m4 config.mak.autogen

.PHONY: deps deps-ok install uninstall clean-tests distclean

# The benchmark (bench/README.md): bench/run times feat's job against its
# peers, which bench/install-peers installs first (npm packages into
# bench/.peers/; Debian packages only when missing and we are root). The
# tests never need any of it. make bench BENCH_SIZE=large BENCH_RUNS=1;
# BENCH_PEERS=none times feat alone.
BENCH_SIZE = medium
BENCH_RUNS = 3
BENCH_TOOLS = bench/gen bench/runstat bench/csvsum

bench/gen: bench/gen.c
	$(QUIET_LINK)$(CC) $(CFLAGS) $(WARN) -std=c11 -D_POSIX_C_SOURCE=200809L $(LDFLAGS) -o $@ $< -lm

bench/runstat: bench/runstat.c
	$(QUIET_LINK)$(CC) $(CFLAGS) $(WARN) -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE $(LDFLAGS) -o $@ $<

bench/csvsum: bench/csvsum.c
	$(QUIET_LINK)$(CC) $(CFLAGS) $(WARN) -std=c11 -D_POSIX_C_SOURCE=200809L $(LDFLAGS) -o $@ $< $(CSV_LIBS)

bench: all $(BENCH_TOOLS)
	@sh bench/install-peers
	@sh bench/run $(BENCH_SIZE) $(BENCH_RUNS)

bench-small: all $(BENCH_TOOLS)
	@sh bench/install-peers
	@sh bench/run small $(BENCH_RUNS)

clean: clean-bench
clean-bench:
	rm -f $(BENCH_TOOLS) tests/unit/bench_expr

# Nanoseconds per evaluation of typical expressions (tests/unit/bench_expr.c).
bench-expr: tests/unit/bench_expr
	@tests/unit/bench_expr

tests/unit/bench_expr: tests/unit/bench_expr.o $(LIBFEAT)
	$(QUIET_LINK)$(CC) $(LDFLAGS) -o $@ $< $(LIBFEAT) $(LIBS)

.PHONY: bench bench-small bench-expr clean-bench

# The parity harness (tests/parity/README): DESIGN.md's five parity
# equalities and the reference evaluator (tests/reference/), on the
# examples and on random definitions and data, one seed per case; needs
# python3. make check runs 40 cases, make parity-long 300;
# PARITY_FLAGS='--seed 5000 -j 4' picks others.
PARITY_FLAGS =

parity: all
	@sh tests/parity/run --cases 40 $(PARITY_FLAGS)

parity-long: all
	@sh tests/parity/run --long $(PARITY_FLAGS)

.PHONY: parity parity-long

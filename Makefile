# remus — top-level Makefile.
#
# Each module owns a fragment `module.mk` next to its sources and appends to
# the variables below; this file only holds the generic rules.  A module adds:
#   LIB_SRCS        sources that go into libremus
#   PROGRAMS        program names; NAME_SRCS, optional NAME_LDLIBS
#   UNIT_TESTS      cmocka test names; NAME_SRCS, optional NAME_LDLIBS/NAME_WRAP
#                   (built twice: plain and ASan+UBSan, both run by `make check`)
#   INTEG_TESTS     integration/fault test scripts (paths), run by `make check`
#   FUZZ_TARGETS    libFuzzer targets; NAME_SRCS, NAME_SMOKE (seconds in check),
#                   NAME_CORPUS (checked-in seed folder)
#   BENCHES         benchmark names; NAME_SRCS, optional NAME_ARGS
#   DEPS_PKGS       Debian packages the module needs (installed by `make deps`)
#   CHECK_PREREQS   extra targets `make check` needs built first

# The one version of remus: --version of every program, the man pages, remus.pc.
REMUS_VERSION := 0.1.0
PREFIX   ?= /usr/local
DESTDIR  ?=
# Where `make install` puts what is not under bin/, lib/ and include/
# (the Debian layout; /usr/local/lib/systemd/system is in systemd's path).
SYSTEMD_UNIT_DIR ?= $(PREFIX)/lib/systemd/system
BASH_COMPLETION_DIR ?= $(PREFIX)/share/bash-completion/completions
MAN_DIR  ?= $(PREFIX)/share/man
DOC_DIR  ?= $(PREFIX)/share/doc/remus
# The OCF agent ocf:remus:remus; Pacemaker looks in /usr/lib/ocf/resource.d
# (PREFIX=/usr, or set OCF_RA_DIR=/usr/lib/ocf/resource.d/remus).
OCF_RA_DIR ?= $(PREFIX)/lib/ocf/resource.d/remus
# The fence agent fence_remusns (namespace hosts); pacemaker-fenced runs
# fence_* agents from /usr/sbin (PREFIX=/usr, or set FENCE_AGENT_DIR).
FENCE_AGENT_DIR ?= $(PREFIX)/sbin
BUILD    ?= build
CC       ?= gcc
FUZZ_CC  ?= clang
FUZZ_TIME ?= 300
FUZZ_RUNS ?= 10000000

SHELL := /bin/bash
.DEFAULT_GOAL := all
.DELETE_ON_ERROR:

PKG_MODULES := zlib libzstd libnl-3.0 libnl-route-3.0 libnetfilter_queue libmnl libcrypto libssl inih json-c libxxhash libsystemd
WARN     := -Wall -Wextra -Werror
CPPFLAGS := -I. -Ilib -D_GNU_SOURCE
CFLAGS   ?= -O2 -g
BASE_CFLAGS := -std=c11 $(WARN) -fPIC -fvisibility=hidden $(shell pkg-config --cflags $(PKG_MODULES) 2>/dev/null)
ASAN_CFLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDLIBS_ALL := -Wl,--as-needed $(shell pkg-config --libs $(PKG_MODULES) 2>/dev/null) -lpthread

LIB_SRCS :=
PROGRAMS :=
UNIT_TESTS :=
INTEG_TESTS :=
FUZZ_TARGETS :=
BENCHES :=
CHECK_PREREQS :=
DEPS_PKGS := build-essential pkg-config clang python3 iproute2 iptables \
	libcmocka-dev zlib1g-dev libssl-dev libinih-dev libjson-c-dev libxxhash-dev \
	libnl-3-dev libnl-route-3-dev libnl-nf-3-dev libnetfilter-queue-dev libmnl-dev \
	libxen-dev libsystemd-dev

MODULE_MKS := $(sort $(wildcard lib/*/module.mk lib/hv/*/module.mk \
	netbuf/module.mk diskrep/module.mk remusd/module.mk guest/module.mk \
	tools/*/module.mk tests/*/module.mk docs/man/module.mk bench/module.mk))
include $(MODULE_MKS)

# ---- objects ------------------------------------------------------------
obj      = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
asan_obj = $(patsubst %.c,$(BUILD)/asan/obj/%.o,$(1))
fuzz_obj = $(patsubst %.c,$(BUILD)/fuzz/obj/%.o,$(1))

# Objects depend on a stamp of the compile flags, so a flag a module adds
# (e.g. -DHV_HAVE_XEN) rebuilds what was compiled without it.
FLAGS_STAMP := $(BUILD)/.cflags
FLAGS_NOW := $(CC) $(CPPFLAGS) $(BASE_CFLAGS) $(CFLAGS) $(ASAN_CFLAGS)
$(shell mkdir -p $(BUILD); [ "$$(cat $(FLAGS_STAMP) 2>/dev/null)" = '$(FLAGS_NOW)' ] || echo '$(FLAGS_NOW)' > $(FLAGS_STAMP))

$(BUILD)/obj/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(BASE_CFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@
$(BUILD)/asan/obj/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(BASE_CFLAGS) $(ASAN_CFLAGS) -MMD -MP -c $< -o $@
$(BUILD)/fuzz/obj/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) $(BASE_CFLAGS) -O1 -g -fsanitize=fuzzer-no-link,address,undefined -MMD -MP -c $< -o $@

# libremus's documented API: the only headers `make install` installs and
# the only declarations libremus.so exports (REMUS_API_BEGIN/END, see
# lib/util/api.h; everything is built with -fvisibility=hidden).  Each must
# compile alone (tests/integration/lib_api.sh).
PUBLIC_HEADERS := lib/util/api.h lib/util/err.h lib/util/bytes.h lib/stream/stream.h \
	lib/stream/assembler.h lib/stream/xenstore.h \
	lib/hv/hv.h lib/net/net.h lib/ckpt/ckpt.h

LIB_A      := $(BUILD)/lib/libremus.a
LIB_SO     := $(BUILD)/lib/libremus.so
ASAN_LIB_A := $(BUILD)/asan/lib/libremus.a
FUZZ_LIB_A := $(BUILD)/fuzz/lib/libremus.a

$(LIB_A): $(call obj,$(LIB_SRCS))
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^
$(LIB_SO): $(call obj,$(LIB_SRCS))
	@mkdir -p $(@D)
	$(CC) -shared -Wl,-soname,libremus.so.0 -o $@ $^ $(LDLIBS_ALL)
$(ASAN_LIB_A): $(call asan_obj,$(LIB_SRCS))
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^
$(FUZZ_LIB_A): $(call fuzz_obj,$(LIB_SRCS))
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

# ---- programs, tests, fuzzers, benches (one template each) ---------------
define PROGRAM_template
$(BUILD)/bin/$(1): $(call obj,$($(1)_SRCS)) $(LIB_A)
	@mkdir -p $$(@D)
	$$(CC) $$(CFLAGS) -o $$@ $(call obj,$($(1)_SRCS)) $(LIB_A) $($(1)_LDLIBS) $$(LDLIBS_ALL)
endef
define UNIT_template
$(BUILD)/tests/$(1): $(call obj,$($(1)_SRCS)) $(LIB_A)
	@mkdir -p $$(@D)
	$$(CC) $$(CFLAGS) -o $$@ $(call obj,$($(1)_SRCS)) $(addprefix -Wl$(comma)--wrap=,$($(1)_WRAP)) $(LIB_A) $($(1)_LDLIBS) -lcmocka $$(LDLIBS_ALL)
$(BUILD)/asan/tests/$(1): $(call asan_obj,$($(1)_SRCS)) $(ASAN_LIB_A)
	@mkdir -p $$(@D)
	$$(CC) $(ASAN_CFLAGS) -o $$@ $(call asan_obj,$($(1)_SRCS)) $(addprefix -Wl$(comma)--wrap=,$($(1)_WRAP)) $(ASAN_LIB_A) $($(1)_LDLIBS) -lcmocka $$(LDLIBS_ALL)
endef
define FUZZ_template
$(BUILD)/fuzz/$(1): $(call fuzz_obj,$($(1)_SRCS)) $(FUZZ_LIB_A)
	@mkdir -p $$(@D)
	$$(FUZZ_CC) -fsanitize=fuzzer,address,undefined -o $$@ $(call fuzz_obj,$($(1)_SRCS)) $(FUZZ_LIB_A) $$(LDLIBS_ALL)
endef
define BENCH_template
$(BUILD)/bench/$(1): $(call obj,$($(1)_SRCS)) $(LIB_A)
	@mkdir -p $$(@D)
	$$(CC) $$(CFLAGS) -o $$@ $(call obj,$($(1)_SRCS)) $(LIB_A) $($(1)_LDLIBS) $$(LDLIBS_ALL)
endef
comma := ,
$(foreach p,$(PROGRAMS),$(eval $(call PROGRAM_template,$(p))))
$(foreach t,$(UNIT_TESTS),$(eval $(call UNIT_template,$(t))))
$(foreach f,$(FUZZ_TARGETS),$(eval $(call FUZZ_template,$(f))))
$(foreach b,$(BENCHES),$(eval $(call BENCH_template,$(b))))

BIN_PROGRAMS := $(addprefix $(BUILD)/bin/,$(PROGRAMS))
UNIT_BINS    := $(addprefix $(BUILD)/tests/,$(UNIT_TESTS)) $(addprefix $(BUILD)/asan/tests/,$(UNIT_TESTS))
FUZZ_BINS    := $(addprefix $(BUILD)/fuzz/,$(FUZZ_TARGETS))
BENCH_BINS   := $(addprefix $(BUILD)/bench/,$(BENCHES))

# ---- user-facing targets -------------------------------------------------
.PHONY: all deps check unit integration fuzz fuzz-smoke fuzz-campaign bench demo soak install clean
all: $(LIB_A) $(LIB_SO) $(BIN_PROGRAMS) $(ALL_EXTRA)

deps:
	@scripts/deps.sh $(sort $(DEPS_PKGS))

# `make check`: unit tests (plain + ASan/UBSan), integration and fault tests,
# and a short smoke of every fuzz target.  The runner prints the totals last.
# The benchmarks are built too (not run), so they cannot rot unseen between
# two `make bench` runs.
check: deps
	@$(MAKE) --no-print-directory all $(UNIT_BINS) $(FUZZ_BINS) $(BENCH_BINS) $(CHECK_PREREQS)
	@BUILD=$(BUILD) scripts/run-tests.sh \
		--unit "$(UNIT_TESTS)" --integ "$(INTEG_TESTS)" \
		--fuzz "$(foreach f,$(FUZZ_TARGETS),$(f):$(or $($(f)_SMOKE),20):$($(f)_CORPUS))"

fuzz: deps
	@$(MAKE) --no-print-directory $(FUZZ_BINS)
	@BUILD=$(BUILD) scripts/run-tests.sh --fuzz \
		"$(foreach f,$(FUZZ_TARGETS),$(f):$(FUZZ_TIME):$($(f)_CORPUS))"

# `make fuzz-campaign`: FUZZ_RUNS executions of each target (or of those in
# FUZZ_CAMPAIGN), what adds coverage merged into the corpora in the tree.
fuzz-campaign: deps
	@$(MAKE) --no-print-directory $(FUZZ_BINS)
	@BUILD=$(BUILD) scripts/fuzz-campaign.sh $(FUZZ_RUNS) \
		"$(foreach f,$(or $(FUZZ_CAMPAIGN),$(FUZZ_TARGETS)),$(f):$($(f)_CORPUS))"

bench: deps
	@$(MAKE) --no-print-directory all $(BENCH_BINS)
	@BUILD=$(BUILD) bench/run.sh $(BENCHES)

demo: deps
	@$(MAKE) --no-print-directory all
	@if [ -x tests/integration/demo.sh ]; then tests/integration/demo.sh; \
	else echo "make demo: not yet available (the replication engine is not built yet)"; fi

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include/remus
	$(if $(BIN_PROGRAMS),install -m 0755 $(BIN_PROGRAMS) $(DESTDIR)$(PREFIX)/bin/)
	install -m 0644 $(LIB_A) $(DESTDIR)$(PREFIX)/lib/
	install -m 0755 $(LIB_SO) $(DESTDIR)$(PREFIX)/lib/libremus.so.0
	ln -sf libremus.so.0 $(DESTDIR)$(PREFIX)/lib/libremus.so
	# Generated here, not at build time, so a different PREFIX is never stale.
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(REMUS_VERSION)|g' -e 's|@REQUIRES@|$(PKG_MODULES)|g' etc/remus.pc.in \
		> $(DESTDIR)$(PREFIX)/lib/pkgconfig/remus.pc
	cd lib && for h in $(PUBLIC_HEADERS:lib/%=%); do \
		install -D -m 0644 $$h $(DESTDIR)$(PREFIX)/include/remus/$$h || exit 1; done
	set -e; for m in $(MAN_PAGES); do \
		install -D -m 0644 $$m $(DESTDIR)$(MAN_DIR)/man$${m##*.}/$${m##*/}; done
	install -d $(DESTDIR)$(SYSTEMD_UNIT_DIR)
	sed -e 's|@BINDIR@|$(PREFIX)/bin|g' etc/remusd.service.in > $(DESTDIR)$(SYSTEMD_UNIT_DIR)/remusd.service
	chmod 0644 $(DESTDIR)$(SYSTEMD_UNIT_DIR)/remusd.service
	install -D -m 0644 etc/remusctl.bash-completion $(DESTDIR)$(BASH_COMPLETION_DIR)/remusctl
	install -D -m 0644 etc/remus.conf.example $(DESTDIR)$(DOC_DIR)/remus.conf.example
	install -D -m 0755 etc/ocf/remus $(DESTDIR)$(OCF_RA_DIR)/remus
	install -D -m 0755 etc/fence/fence_remusns $(DESTDIR)$(FENCE_AGENT_DIR)/fence_remusns

clean:
	rm -rf $(BUILD)

# `make print-VAR`: a variable's value, for tests that walk what the build
# declares (e.g. every program and its sources).
print-%:
	@echo '$($*)'

# (not for print-VAR: it needs no dependencies, and a .d file half written
# by a build running beside it must not break it)
ifeq ($(filter print-%,$(MAKECMDGOALS)),)
-include $(shell find $(BUILD)/obj $(BUILD)/asan/obj $(BUILD)/fuzz/obj -type f -name '*.d' 2>/dev/null)
endif

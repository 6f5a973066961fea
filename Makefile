# Makefile for joy - one non-recursive makefile.  Run ./configure first.
#
#   make              build ./joy, ./joy-anon, libjoy.a and libjoy.so
#   make check        build and run every test (last line: N passed, N failed)
#   make asan         sanitizer builds (AddressSanitizer + UBSan) in build-asan/
#   make tsan         the threaded API test and joy under ThreadSanitizer (build-tsan/)
#   make api-check    only the library test (staged install, doc examples, test/api)
#   make fuzz         libFuzzer targets (clang) run for FUZZ_SECONDS each
#   make install      install under $(DESTDIR)$(PREFIX)
#   make uninstall    remove what install put there
#   make help         this list
#   make clean
#
# Source layout (doc/internals/architecture.md): src/<layer>/, one job per
# folder; include/joy/joy.h is the only public header.

-include config.mk
ifeq ($(wildcard config.mk),)
$(error config.mk is missing: run ./configure first)
endif

# --- versions ------------------------------------------------------------
# The library's version is in include/joy/joy.h; the soname changes only
# when the ABI breaks (SONAME_MAJOR).
JOY_VERSION := $(shell sed -n 's/^\#define JOY_VERSION_STRING "\(.*\)"/\1/p' include/joy/joy.h)
SONAME_MAJOR = 1
LIBJOY_SO = libjoy.so.$(SONAME_MAJOR)
LIBJOY_REAL = libjoy.so.$(JOY_VERSION)

# --- install locations (configure's --sysconfdir/--mandir override) -----
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
# systemd unit and sysusers.d entry: under the prefix too (PREFIX=/usr for
# the system's own /usr/lib/systemd/system)
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d

# --- flags ---------------------------------------------------------------
SRC_DIRS = engine modules proto util capture output ipfix
WARN = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wcast-qual -Wno-unused-parameter
INCS = -Iinclude $(addprefix -Isrc/,$(SRC_DIRS)) -I$(BUILD)/gen
BASE_CFLAGS = -std=c11 -D_DEFAULT_SOURCE -D_GNU_SOURCE $(INCS) $(PKG_CFLAGS)
# Objects are position-independent with hidden visibility: the same
# objects make ./joy, libjoy.a and libjoy.so (JOY_API marks the exports).
LIB_FLAGS = -fPIC -fvisibility=hidden -DJOY_BUILDING_LIB
OPT = -O2 -g
CFLAGS_ALL = $(BASE_CFLAGS) $(OPT) $(WARN) $(USER_CFLAGS)
LIBS = $(PKG_LIBS) -lm -lpthread
DEPFLAGS = -MMD -MP

# libjoy proper: the engine and what it uses.  capture/ and output/ serve
# the programs (joy, joy-anon) and are linked into them, not exported.
# (src/util/*.bpf.c are BPF programs, built by clang -target bpf below)
LIB_SRC = $(filter-out %.bpf.c,$(foreach d,engine modules proto util,$(wildcard src/$(d)/*.c)))
RUN_SRC = $(foreach d,capture output ipfix,$(wildcard src/$(d)/*.c))
ALL_SRC = $(LIB_SRC) $(RUN_SRC)

BUILD ?= build
JOY_BIN ?= joy
JOY_ANON_BIN ?= $(dir $(JOY_BIN))joy-anon
OBJ = $(BUILD)/obj
LIB_OBJ = $(LIB_SRC:src/%.c=$(OBJ)/%.o)
RUN_OBJ = $(RUN_SRC:src/%.c=$(OBJ)/%.o)
CLI_OBJ = $(patsubst src/%.c,$(OBJ)/%.o,$(wildcard src/cli/*.c))

ASAN_DIR ?= build-asan
ASAN_FLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
ASAN_OBJ = $(ALL_SRC:src/%.c=$(ASAN_DIR)/obj/%.o)

TSAN_DIR ?= build-tsan
TSAN_FLAGS = -fsanitize=thread -fno-omit-frame-pointer
TSAN_OBJ = $(LIB_SRC:src/%.c=$(TSAN_DIR)/obj/%.o)
# joy itself under TSan (the threads=N paths: test/test_threads.py)
TSAN_JOY_OBJ = $(TSAN_OBJ) $(RUN_SRC:src/%.c=$(TSAN_DIR)/obj/%.o) \
	$(patsubst src/%.c,$(TSAN_DIR)/obj/%.o,$(filter-out src/cli/joy_anon.c,$(wildcard src/cli/*.c)))

UNIT_SRC = $(wildcard test/unit/*.c)
API_SRC = $(wildcard test/api/*.c)

.PHONY: all lib check asan tsan install uninstall clean fuzz fuzz-build help api-check

all: $(JOY_BIN) $(JOY_ANON_BIN) lib

help:
	@sed -n '3,15p' Makefile | sed 's/^# \{0,1\}//'

# --- exe=1's eBPF source (configure set BPF_CLANG when it can be built) ----
# vmlinux.h: the kernel types of the build machine (CO-RE: libbpf relocates
# the field offsets for the running kernel); the object becomes a skeleton
# header that src/util/sockproc.c includes (the object is embedded in joy).
ifneq ($(BPF_CLANG),)
BPF_SKEL = $(BUILD)/gen/sockproc.skel.h
$(BUILD)/gen/vmlinux.h:
	@mkdir -p $(dir $@)
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@
$(BUILD)/gen/sockproc.bpf.o: src/util/sockproc.bpf.c src/util/sockproc_ev.h $(BUILD)/gen/vmlinux.h config.mk
	$(BPF_CLANG) -O2 -g -target bpf -D__TARGET_ARCH_$(BPF_ARCH) -Wall -I$(BUILD)/gen -Isrc/util \
	    $(filter -I%,$(PKG_CFLAGS)) -c $< -o $@.dbg
	$(BPFTOOL) gen object $@ $@.dbg   # linked: BTF kept, DWARF dropped
$(BPF_SKEL): $(BUILD)/gen/sockproc.bpf.o
	$(BPFTOOL) gen skeleton $< name sockproc_bpf > $@.tmp && mv $@.tmp $@
$(OBJ)/util/sockproc.o $(ASAN_DIR)/obj/util/sockproc.o $(TSAN_DIR)/obj/util/sockproc.o: $(BPF_SKEL)
endif
# sockproc.c as built without libbpf: compiled by make check (that variant
# must not rot either)
$(BUILD)/no-bpf/%.o: src/util/%.c config.mk
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -DJOY_HAVE_BPF,$(CFLAGS_ALL)) -Werror -c $< -o $@

$(OBJ)/%.o: src/%.c config.mk
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(LIB_FLAGS) $(DEPFLAGS) -c $< -o $@

# The whole engine as one archive for the programs and the unit tests
# (every internal symbol visible to them).
$(BUILD)/libjoy-internal.a: $(LIB_OBJ) $(RUN_OBJ)
	rm -f $@
	ar rcs $@ $^

# --- the public library --------------------------------------------------
# libjoy.a: the objects linked into one relocatable object whose hidden
# symbols are made local, so a program linking it statically sees the
# joy_* API and nothing else (no clash with its own jw_init or pt_new).
$(BUILD)/libjoy.a: $(LIB_OBJ)
	rm -f $@ $(BUILD)/libjoy-r.o
	$(LD) -r -o $(BUILD)/libjoy-r.o $^
	objcopy --localize-hidden $(BUILD)/libjoy-r.o
	ar rcs $@ $(BUILD)/libjoy-r.o
	rm -f $(BUILD)/libjoy-r.o

$(BUILD)/$(LIBJOY_REAL): $(LIB_OBJ) src/engine/libjoy.map
	$(CC) -shared -Wl,-soname,$(LIBJOY_SO) -Wl,--version-script=src/engine/libjoy.map \
	    -Wl,-z,defs -Wl,--as-needed $(USER_LDFLAGS) -o $@ $(LIB_OBJ) $(PKG_LIBS) -lm -lpthread
	ln -sf $(LIBJOY_REAL) $(BUILD)/$(LIBJOY_SO)
	ln -sf $(LIBJOY_SO) $(BUILD)/libjoy.so

# joy.pc names the install directories: build/joy.pc has the configured
# ones, and install writes its own from the same template so that
# `make install PREFIX=/usr` never installs a stale prefix.
PC_SED = sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(JOY_VERSION)|' -e 's|@LIBS_PRIVATE@|$(filter-out -lpcap -lz -lisal -lrdkafka,$(PKG_LIBS)) -lm -lpthread|' \
	    share/joy.pc.in

$(BUILD)/joy.pc: share/joy.pc.in include/joy/joy.h config.mk
	$(PC_SED) > $@

lib: $(BUILD)/libjoy.a $(BUILD)/$(LIBJOY_REAL) $(BUILD)/joy.pc

# --- programs --------------------------------------------------------------
# the joy command: every src/cli/*.c but joy-anon's
JOY_CLI_SRC = $(filter-out src/cli/joy_anon.c,$(wildcard src/cli/*.c))
$(JOY_BIN): $(JOY_CLI_SRC:src/%.c=$(OBJ)/%.o) $(BUILD)/libjoy-internal.a
	$(CC) $(CFLAGS_ALL) $(USER_LDFLAGS) -o $@ $^ $(LIBS)

# joy-anon maps Crypto-PAn pseudonyms back and forth
$(BUILD)/joy-anon: $(OBJ)/cli/joy_anon.o $(BUILD)/libjoy-internal.a
	$(CC) $(CFLAGS_ALL) $(USER_LDFLAGS) -o $@ $^ $(LIBS)

ifneq ($(abspath $(JOY_ANON_BIN)),$(abspath $(BUILD)/joy-anon))
$(JOY_ANON_BIN): $(BUILD)/joy-anon
	cp $< $@
endif

# output sinks as built on a machine without ISA-L (zlib for every gzip
# level) and without librdkafka: compiled by make check so that variant
# never rots.
$(BUILD)/zlib-only/%.o: src/output/%.c config.mk
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -DJOY_HAVE_ISAL -DJOY_HAVE_KAFKA,$(CFLAGS_ALL)) -Werror -c $< -o $@
ZLIB_ONLY_OBJ = $(patsubst src/output/%.c,$(BUILD)/zlib-only/%.o,$(wildcard src/output/*.c))

# --- fuzz targets (clang + libFuzzer): one per fuzz/fuzz_*.c --------------
FUZZ_DIR ?= build-fuzz
FUZZ_SRC = $(wildcard fuzz/fuzz_*.c)
FUZZ_FLAGS = -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer
FUZZ_BIN = $(FUZZ_SRC:fuzz/%.c=$(FUZZ_DIR)/%)
FUZZ_SECONDS ?= 300
FUZZ_OBJ = $(ALL_SRC:src/%.c=$(FUZZ_DIR)/obj/%.o)
ifneq ($(BPF_CLANG),)
$(FUZZ_DIR)/obj/util/sockproc.o: $(BPF_SKEL)
endif

$(FUZZ_DIR)/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	clang $(BASE_CFLAGS) -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer $(DEPFLAGS) -c $< -o $@

$(FUZZ_DIR)/%: fuzz/%.c $(wildcard fuzz/*.h) $(FUZZ_OBJ)
	clang $(BASE_CFLAGS) -Ifuzz -O1 -g $(FUZZ_FLAGS) -o $@ $< $(FUZZ_OBJ) $(LIBS)

fuzz-build: $(FUZZ_BIN)

fuzz: fuzz-build
	sh fuzz/run.sh $(FUZZ_DIR) $(FUZZ_SECONDS)

# --- sanitizer build ---------------------------------------------------
$(ASAN_DIR)/obj/%.o: src/%.c config.mk
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -O1 -g $(WARN) $(ASAN_FLAGS) $(DEPFLAGS) -c $< -o $@

$(ASAN_DIR)/joy: $(JOY_CLI_SRC:src/%.c=$(ASAN_DIR)/obj/%.o) $(ASAN_OBJ)
	$(CC) $(ASAN_FLAGS) -o $@ $^ $(LIBS)

$(ASAN_DIR)/joy-anon: $(ASAN_DIR)/obj/cli/joy_anon.o $(ASAN_OBJ)
	$(CC) $(ASAN_FLAGS) -o $@ $^ $(LIBS)

$(ASAN_DIR)/unit_tests: $(UNIT_SRC) $(ASAN_OBJ) $(wildcard test/unit/*.h)
	$(CC) $(BASE_CFLAGS) -O1 -g $(WARN) $(ASAN_FLAGS) -o $@ $(UNIT_SRC) $(ASAN_OBJ) $(LIBS)

# every fuzz target also gets a replay binary (gcc + ASan, no libFuzzer)
REPLAY_BIN = $(FUZZ_SRC:fuzz/fuzz_%.c=$(ASAN_DIR)/replay_%)

$(ASAN_DIR)/replay_%: fuzz/fuzz_%.c fuzz/replay.c $(wildcard fuzz/*.h) $(ASAN_OBJ)
	$(CC) $(BASE_CFLAGS) -Ifuzz -O1 -g $(WARN) $(ASAN_FLAGS) -o $@ $< fuzz/replay.c $(ASAN_OBJ) $(LIBS)

asan: $(ASAN_DIR)/joy $(ASAN_DIR)/joy-anon $(ASAN_DIR)/unit_tests $(REPLAY_BIN)

# --- ThreadSanitizer: the two-thread API example --------------------------
$(TSAN_DIR)/obj/%.o: src/%.c config.mk
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -O1 -g $(WARN) $(TSAN_FLAGS) $(DEPFLAGS) -c $< -o $@

$(TSAN_DIR)/api_threads: test/api/api_threads.c $(TSAN_OBJ) include/joy/joy.h
	$(CC) -std=c11 -D_GNU_SOURCE -Iinclude -O1 -g $(WARN) $(TSAN_FLAGS) -o $@ $< $(TSAN_OBJ) $(LIBS)

$(TSAN_DIR)/joy: $(TSAN_JOY_OBJ)
	$(CC) $(TSAN_FLAGS) -o $@ $^ $(LIBS)

# Only where the compiler can link a ThreadSanitizer program (gcc needs
# libtsan, Debian: libtsan2); elsewhere a message, no failure, and the API
# test skips its TSan part (it looks for $(TSAN_DIR)/api_threads).
tsan:
	@mkdir -p $(TSAN_DIR)
	@if printf 'int main(void) { return 0; }\n' | \
	    $(CC) $(TSAN_FLAGS) -x c - -o $(TSAN_DIR)/probe >/dev/null 2>&1; then \
	  rm -f $(TSAN_DIR)/probe; $(MAKE) --no-print-directory $(TSAN_DIR)/api_threads $(TSAN_DIR)/joy; \
	else \
	  rm -f $(TSAN_DIR)/probe $(TSAN_DIR)/api_threads $(TSAN_DIR)/joy; \
	  echo "tsan: $(CC) cannot link -fsanitize=thread programs here (Debian: apt-get install libtsan2); skipped"; \
	fi

# --- tests ---------------------------------------------------------------
$(BUILD)/unit_tests: $(UNIT_SRC) $(BUILD)/libjoy-internal.a $(wildcard test/unit/*.h)
	$(CC) $(CFLAGS_ALL) -o $@ $(UNIT_SRC) $(BUILD)/libjoy-internal.a $(LIBS)

PYTHON ?= python3

check: all $(BUILD)/unit_tests asan tsan $(ZLIB_ONLY_OBJ) $(BUILD)/no-bpf/sockproc.o
	JOY=$(abspath $(JOY_BIN)) JOY_ASAN=$(abspath $(ASAN_DIR))/joy UNIT_TESTS=$(abspath $(BUILD))/unit_tests \
	  JOY_TSAN_API=$(abspath $(TSAN_DIR))/api_threads JOY_TSAN=$(abspath $(TSAN_DIR))/joy \
	  JOY_BUILD=$(abspath $(BUILD)) $(PYTHON) test/run_all.py

api-check: all tsan
	JOY=$(abspath $(JOY_BIN)) JOY_TSAN_API=$(abspath $(TSAN_DIR))/api_threads JOY_BUILD=$(abspath $(BUILD)) \
	  $(PYTHON) test/test_api.py

# --- install -------------------------------------------------------------
MAN1 = doc/joy.1 doc/joy-anon.1 $(wildcard doc/sleuth.1) $(wildcard doc/saltui.1) \
    $(wildcard doc/joy-train.1)
MAN3 = $(wildcard doc/libjoy.3)

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR) \
	    $(DESTDIR)$(INCLUDEDIR)/joy $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3 \
	    $(DESTDIR)$(SYSCONFDIR)/joy $(DESTDIR)$(DATADIR)/joy \
	    $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(SYSUSERSDIR)
	install -m 755 $(JOY_BIN) $(DESTDIR)$(BINDIR)/joy
	install -m 755 $(JOY_ANON_BIN) $(DESTDIR)$(BINDIR)/joy-anon
	install -m 644 include/joy/joy.h $(DESTDIR)$(INCLUDEDIR)/joy/joy.h
	install -m 644 $(BUILD)/libjoy.a $(DESTDIR)$(LIBDIR)/libjoy.a
	install -m 755 $(BUILD)/$(LIBJOY_REAL) $(DESTDIR)$(LIBDIR)/$(LIBJOY_REAL)
	ln -sf $(LIBJOY_REAL) $(DESTDIR)$(LIBDIR)/$(LIBJOY_SO)
	ln -sf $(LIBJOY_SO) $(DESTDIR)$(LIBDIR)/libjoy.so
	$(PC_SED) > $(DESTDIR)$(PKGCONFIGDIR)/joy.pc
	chmod 644 $(DESTDIR)$(PKGCONFIGDIR)/joy.pc
	install -m 644 $(MAN1) $(DESTDIR)$(MANDIR)/man1/
	$(if $(MAN3),install -m 644 $(MAN3) $(DESTDIR)$(MANDIR)/man3/)
	install -m 644 options.cfg $(DESTDIR)$(SYSCONFDIR)/joy/options.cfg
	install -m 644 share/joy.cfg $(DESTDIR)$(SYSCONFDIR)/joy/joy.cfg
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	    share/systemd/joy@.service.in > $(DESTDIR)$(SYSTEMDUNITDIR)/joy@.service
	chmod 644 $(DESTDIR)$(SYSTEMDUNITDIR)/joy@.service
	install -m 644 share/sysusers.d/joy.conf $(DESTDIR)$(SYSUSERSDIR)/joy.conf
	install -m 644 share/compact_bd.txt share/internal.net $(DESTDIR)$(DATADIR)/joy/
	if [ -f sleuth/sleuth ]; then \
	  install -d $(DESTDIR)$(DATADIR)/joy/sleuth && \
	  cp -R sleuth/. $(DESTDIR)$(DATADIR)/joy/sleuth/ && \
	  rm -rf $(DESTDIR)$(DATADIR)/joy/sleuth/tests && \
	  ln -sf ../share/joy/sleuth/sleuth $(DESTDIR)$(BINDIR)/sleuth; fi
	if [ -d saltUI ]; then \
	  install -d $(DESTDIR)$(DATADIR)/joy/saltUI && \
	  cp -R saltUI/. $(DESTDIR)$(DATADIR)/joy/saltUI/ && \
	  find $(DESTDIR)$(DATADIR)/joy/saltUI -name __pycache__ -prune -exec rm -rf {} + && \
	  chmod 755 $(DESTDIR)$(DATADIR)/joy/saltUI/joy-train $(DESTDIR)$(DATADIR)/joy/saltUI/saltui && \
	  ln -sf ../share/joy/saltUI/saltui $(DESTDIR)$(BINDIR)/saltui && \
	  ln -sf ../share/joy/saltUI/joy-train $(DESTDIR)$(BINDIR)/joy-train; fi

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/joy $(DESTDIR)$(BINDIR)/sleuth $(DESTDIR)$(BINDIR)/joy-anon \
	    $(DESTDIR)$(BINDIR)/saltui $(DESTDIR)$(BINDIR)/joy-train
	rm -f $(DESTDIR)$(LIBDIR)/libjoy.a $(DESTDIR)$(LIBDIR)/libjoy.so $(DESTDIR)$(LIBDIR)/$(LIBJOY_SO) \
	    $(DESTDIR)$(LIBDIR)/$(LIBJOY_REAL) $(DESTDIR)$(PKGCONFIGDIR)/joy.pc
	rm -f $(DESTDIR)$(INCLUDEDIR)/joy/joy.h
	-rmdir $(DESTDIR)$(INCLUDEDIR)/joy 2>/dev/null
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man1/,$(notdir $(MAN1))) $(DESTDIR)$(MANDIR)/man1/sleuth.1 \
	    $(DESTDIR)$(MANDIR)/man1/saltui.1 $(DESTDIR)$(MANDIR)/man1/joy-train.1
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man3/,$(notdir $(MAN3)))
	rm -f $(DESTDIR)$(SYSCONFDIR)/joy/options.cfg $(DESTDIR)$(SYSCONFDIR)/joy/joy.cfg
	rm -f $(DESTDIR)$(SYSTEMDUNITDIR)/joy@.service $(DESTDIR)$(SYSUSERSDIR)/joy.conf
	-rmdir $(DESTDIR)$(SYSCONFDIR)/joy 2>/dev/null
	rm -rf $(DESTDIR)$(DATADIR)/joy

clean:
	rm -rf $(BUILD) $(ASAN_DIR) $(TSAN_DIR) $(FUZZ_DIR) $(JOY_BIN) $(JOY_ANON_BIN)

-include $(shell find $(BUILD) $(ASAN_DIR) $(TSAN_DIR) $(FUZZ_DIR) -name '*.d' 2>/dev/null)

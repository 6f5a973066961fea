# Makefile for joy - one non-recursive makefile.  Run ./configure first.
#
#   make            build ./joy (and libjoy.a)
#   make check      build and run every test (last line: N passed, N failed)
#   make asan       build build-asan/joy with AddressSanitizer + UBSan
#   make install    install under $(DESTDIR)$(PREFIX)
#   make uninstall  remove what install put there
#   make clean

-include config.mk
ifeq ($(wildcard config.mk),)
$(error config.mk is missing: run ./configure first)
endif

WARN = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wno-unused-parameter
BASE_CFLAGS = -std=c11 -D_DEFAULT_SOURCE -D_GNU_SOURCE -Iinclude $(PKG_CFLAGS)
OPT = -O2 -g
CFLAGS_ALL = $(BASE_CFLAGS) $(OPT) $(WARN) $(USER_CFLAGS)
LIBS = $(PKG_LIBS) -lm

LIB_SRC = $(filter-out src/main.c,$(wildcard src/*.c))
HDRS = $(wildcard include/*.h)

BUILD ?= build
JOY_BIN ?= joy
JOY_ANON_BIN ?= $(dir $(JOY_BIN))joy-anon
LIB_OBJ = $(LIB_SRC:src/%.c=$(BUILD)/%.o)

ASAN_DIR ?= build-asan
ASAN_FLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
ASAN_OBJ = $(LIB_SRC:src/%.c=$(ASAN_DIR)/%.o)

UNIT_SRC = $(wildcard test/unit/*.c)

.PHONY: all check asan install uninstall clean fuzz fuzz-build

all: $(JOY_BIN) $(JOY_ANON_BIN)

$(BUILD)/%.o: src/%.c $(HDRS) config.mk | $(BUILD)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(BUILD):
	mkdir -p $(BUILD)

# output.c as built on a machine without ISA-L (zlib for every gzip level):
# compiled by make check so that variant never rots.
$(BUILD)/output-zlib-only.o: src/output.c $(HDRS) config.mk | $(BUILD)
	$(CC) $(filter-out -DJOY_HAVE_ISAL,$(CFLAGS_ALL)) -Werror -c $< -o $@

# --- fuzz targets (clang + libFuzzer): one per fuzz/fuzz_*.c --------------
FUZZ_DIR ?= build-fuzz
FUZZ_SRC = $(wildcard fuzz/fuzz_*.c)
FUZZ_FLAGS = -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer
FUZZ_BIN = $(FUZZ_SRC:fuzz/%.c=$(FUZZ_DIR)/%)
FUZZ_SECONDS ?= 300

FUZZ_OBJ = $(LIB_SRC:src/%.c=$(FUZZ_DIR)/obj/%.o)

$(FUZZ_DIR)/obj/%.o: src/%.c $(HDRS)
	@mkdir -p $(FUZZ_DIR)/obj
	clang $(BASE_CFLAGS) -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -c $< -o $@

$(FUZZ_DIR)/%: fuzz/%.c $(wildcard fuzz/*.h) $(FUZZ_OBJ)
	clang $(BASE_CFLAGS) -Ifuzz -O1 -g $(FUZZ_FLAGS) -o $@ $< $(FUZZ_OBJ) $(LIBS)

fuzz-build: $(FUZZ_BIN)

fuzz: fuzz-build
	sh fuzz/run.sh $(FUZZ_DIR) $(FUZZ_SECONDS)

$(BUILD)/libjoy.a: $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

$(JOY_BIN): $(BUILD)/main.o $(BUILD)/libjoy.a
	$(CC) $(CFLAGS_ALL) $(USER_LDFLAGS) -o $@ $^ $(LIBS)

# joy-anon (src/tools/, outside libjoy): maps Crypto-PAn pseudonyms back and forth
$(BUILD)/joy-anon: src/tools/joy_anon.c $(BUILD)/libjoy.a $(HDRS) config.mk
	$(CC) $(CFLAGS_ALL) $(USER_LDFLAGS) -o $@ src/tools/joy_anon.c $(BUILD)/libjoy.a $(LIBS)

ifneq ($(abspath $(JOY_ANON_BIN)),$(abspath $(BUILD)/joy-anon))
$(JOY_ANON_BIN): $(BUILD)/joy-anon
	cp $< $@
endif

# --- sanitizer build ---------------------------------------------------
$(ASAN_DIR)/%.o: src/%.c $(HDRS) config.mk | $(ASAN_DIR)
	$(CC) $(BASE_CFLAGS) -O1 -g $(WARN) $(ASAN_FLAGS) -c $< -o $@

$(ASAN_DIR):
	mkdir -p $(ASAN_DIR)

$(ASAN_DIR)/joy: $(ASAN_DIR)/main.o $(ASAN_OBJ)
	$(CC) $(ASAN_FLAGS) -o $@ $^ $(LIBS)

$(ASAN_DIR)/joy-anon: src/tools/joy_anon.c $(ASAN_OBJ) $(HDRS)
	$(CC) $(BASE_CFLAGS) -O1 -g $(WARN) $(ASAN_FLAGS) -o $@ src/tools/joy_anon.c $(ASAN_OBJ) $(LIBS)

$(ASAN_DIR)/unit_tests: $(UNIT_SRC) $(ASAN_OBJ) $(HDRS)
	$(CC) $(BASE_CFLAGS) -O1 -g $(WARN) $(ASAN_FLAGS) -o $@ $(UNIT_SRC) $(ASAN_OBJ) $(LIBS)

# every fuzz target also gets a replay binary (gcc + ASan, no libFuzzer)
REPLAY_BIN = $(FUZZ_SRC:fuzz/fuzz_%.c=$(ASAN_DIR)/replay_%)

$(ASAN_DIR)/replay_%: fuzz/fuzz_%.c fuzz/replay.c $(wildcard fuzz/*.h) $(ASAN_OBJ) $(HDRS)
	$(CC) $(BASE_CFLAGS) -Ifuzz -O1 -g $(WARN) $(ASAN_FLAGS) -o $@ $< fuzz/replay.c $(ASAN_OBJ) $(LIBS)

asan: $(ASAN_DIR)/joy $(ASAN_DIR)/joy-anon $(ASAN_DIR)/unit_tests $(REPLAY_BIN)

# --- tests ---------------------------------------------------------------
$(BUILD)/unit_tests: $(UNIT_SRC) $(BUILD)/libjoy.a $(HDRS)
	$(CC) $(CFLAGS_ALL) -o $@ $(UNIT_SRC) $(BUILD)/libjoy.a $(LIBS)

PYTHON ?= python3

check: $(JOY_BIN) $(JOY_ANON_BIN) $(BUILD)/unit_tests asan $(BUILD)/output-zlib-only.o
	JOY=$(abspath $(JOY_BIN)) JOY_ASAN=$(abspath $(ASAN_DIR))/joy UNIT_TESTS=$(abspath $(BUILD))/unit_tests $(PYTHON) test/run_all.py

# --- install -------------------------------------------------------------
install: $(JOY_BIN) $(JOY_ANON_BIN)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(SYSCONFDIR)/joy
	install -m 755 joy $(DESTDIR)$(PREFIX)/bin/joy
	install -m 755 $(JOY_ANON_BIN) $(DESTDIR)$(PREFIX)/bin/joy-anon
	install -m 644 doc/joy.1 $(DESTDIR)$(MANDIR)/man1/joy.1
	install -m 644 doc/joy-anon.1 $(DESTDIR)$(MANDIR)/man1/joy-anon.1
	install -m 644 options.cfg $(DESTDIR)$(SYSCONFDIR)/joy/options.cfg
	if [ -f sleuth/sleuth ]; then \
	  install -d $(DESTDIR)$(PREFIX)/share/joy/sleuth && \
	  cp -R sleuth/. $(DESTDIR)$(PREFIX)/share/joy/sleuth/ && \
	  rm -rf $(DESTDIR)$(PREFIX)/share/joy/sleuth/tests && \
	  ln -sf ../share/joy/sleuth/sleuth $(DESTDIR)$(PREFIX)/bin/sleuth; fi
	if [ -f doc/sleuth.1 ]; then install -m 644 doc/sleuth.1 $(DESTDIR)$(MANDIR)/man1/sleuth.1; fi

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/joy $(DESTDIR)$(PREFIX)/bin/sleuth $(DESTDIR)$(PREFIX)/bin/joy-anon
	rm -f $(DESTDIR)$(MANDIR)/man1/joy.1 $(DESTDIR)$(MANDIR)/man1/sleuth.1 $(DESTDIR)$(MANDIR)/man1/joy-anon.1
	rm -f $(DESTDIR)$(SYSCONFDIR)/joy/options.cfg
	-rmdir $(DESTDIR)$(SYSCONFDIR)/joy 2>/dev/null
	rm -rf $(DESTDIR)$(PREFIX)/share/joy

clean:
	rm -rf $(BUILD) $(ASAN_DIR) $(FUZZ_DIR) $(JOY_BIN) $(JOY_ANON_BIN)

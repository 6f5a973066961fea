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
LIB_OBJ = $(LIB_SRC:src/%.c=$(BUILD)/%.o)

ASAN_DIR ?= build-asan
ASAN_FLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
ASAN_OBJ = $(LIB_SRC:src/%.c=$(ASAN_DIR)/%.o)

UNIT_SRC = $(wildcard test/unit/*.c)

.PHONY: all check asan install uninstall clean fuzz fuzz-build

all: $(JOY_BIN)

$(BUILD)/%.o: src/%.c $(HDRS) config.mk | $(BUILD)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(BUILD):
	mkdir -p $(BUILD)

# --- fuzz targets (clang + libFuzzer): one per fuzz/fuzz_*.c --------------
FUZZ_DIR ?= build-fuzz
FUZZ_SRC = $(wildcard fuzz/fuzz_*.c)
FUZZ_FLAGS = -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer
FUZZ_BIN = $(FUZZ_SRC:fuzz/%.c=$(FUZZ_DIR)/%)
FUZZ_SECONDS ?= 300

$(FUZZ_DIR)/%: fuzz/%.c $(LIB_SRC) $(HDRS)
	mkdir -p $(FUZZ_DIR)
	clang $(BASE_CFLAGS) -O1 -g $(FUZZ_FLAGS) -o $@ $< $(LIB_SRC) $(LIBS)

fuzz-build: $(FUZZ_BIN)

fuzz: fuzz-build
	sh fuzz/run.sh $(FUZZ_DIR) $(FUZZ_SECONDS)

$(BUILD)/libjoy.a: $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

$(JOY_BIN): $(BUILD)/main.o $(BUILD)/libjoy.a
	$(CC) $(CFLAGS_ALL) $(USER_LDFLAGS) -o $@ $^ $(LIBS)

# --- sanitizer build ---------------------------------------------------
$(ASAN_DIR)/%.o: src/%.c $(HDRS) config.mk | $(ASAN_DIR)
	$(CC) $(BASE_CFLAGS) -O1 -g $(WARN) $(ASAN_FLAGS) -c $< -o $@

$(ASAN_DIR):
	mkdir -p $(ASAN_DIR)

$(ASAN_DIR)/joy: $(ASAN_DIR)/main.o $(ASAN_OBJ)
	$(CC) $(ASAN_FLAGS) -o $@ $^ $(LIBS)

$(ASAN_DIR)/unit_tests: $(UNIT_SRC) $(ASAN_OBJ) $(HDRS)
	$(CC) $(BASE_CFLAGS) -O1 -g $(WARN) $(ASAN_FLAGS) -o $@ $(UNIT_SRC) $(ASAN_OBJ) $(LIBS)

asan: $(ASAN_DIR)/joy $(ASAN_DIR)/unit_tests

# --- tests ---------------------------------------------------------------
$(BUILD)/unit_tests: $(UNIT_SRC) $(BUILD)/libjoy.a $(HDRS)
	$(CC) $(CFLAGS_ALL) -o $@ $(UNIT_SRC) $(BUILD)/libjoy.a $(LIBS)

PYTHON ?= python3

check: $(JOY_BIN) $(BUILD)/unit_tests asan
	JOY=$(abspath $(JOY_BIN)) JOY_ASAN=$(abspath $(ASAN_DIR))/joy UNIT_TESTS=$(abspath $(BUILD))/unit_tests $(PYTHON) test/run_all.py

# --- install -------------------------------------------------------------
install: $(JOY_BIN)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(SYSCONFDIR)/joy
	install -m 755 joy $(DESTDIR)$(PREFIX)/bin/joy
	install -m 644 doc/joy.1 $(DESTDIR)$(MANDIR)/man1/joy.1
	install -m 644 options.cfg $(DESTDIR)$(SYSCONFDIR)/joy/options.cfg
	if [ -f sleuth/sleuth ]; then \
	  install -d $(DESTDIR)$(PREFIX)/share/joy/sleuth && \
	  cp -R sleuth/. $(DESTDIR)$(PREFIX)/share/joy/sleuth/ && \
	  rm -rf $(DESTDIR)$(PREFIX)/share/joy/sleuth/tests && \
	  ln -sf ../share/joy/sleuth/sleuth $(DESTDIR)$(PREFIX)/bin/sleuth; fi
	if [ -f doc/sleuth.1 ]; then install -m 644 doc/sleuth.1 $(DESTDIR)$(MANDIR)/man1/sleuth.1; fi

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/joy $(DESTDIR)$(PREFIX)/bin/sleuth
	rm -f $(DESTDIR)$(MANDIR)/man1/joy.1 $(DESTDIR)$(MANDIR)/man1/sleuth.1
	rm -f $(DESTDIR)$(SYSCONFDIR)/joy/options.cfg
	-rmdir $(DESTDIR)$(SYSCONFDIR)/joy 2>/dev/null
	rm -rf $(DESTDIR)$(PREFIX)/share/joy

clean:
	rm -rf $(BUILD) $(ASAN_DIR) $(FUZZ_DIR) $(JOY_BIN)

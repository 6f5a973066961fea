/* test_sink.c - every output sink: records read back (gunzipped through
 * zlib), NAME.part renamed only on commit and removed otherwise, flush
 * making what was written readable before close, the sticky error. */
#include "rotate.h"
#include "sink.h"
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static char dir[64];

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* The whole content of path, decompressed if it is gzip (gzread passes
 * plain files through).  Reads what decompresses even when the gzip member
 * is not finished.  Caller frees; NULL if it cannot be opened. */
static char *read_back(const char *path, size_t *len)
{
    gzFile gz = gzopen(path, "rb");
    if (!gz)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap + 1);
    int r;
    while (b && (r = gzread(gz, b + n, (unsigned)(cap - n))) > 0) {
        n += (size_t)r;
        if (n == cap) {
            char *nb = realloc(b, 2 * cap + 1);
            if (!nb) {
                free(b);
                b = NULL;
                break;
            }
            b = nb;
            cap *= 2;
        }
    }
    gzclose_r(gz);
    if (b)
        b[n] = 0;
    *len = n;
    return b;
}

/* true if path is a complete gzip file (gzip -t). */
static bool gzip_complete(const char *path)
{
    gzFile gz = gzopen(path, "rb");
    if (!gz)
        return false;
    char buf[4096];
    while (gzread(gz, buf, sizeof buf) > 0)
        ;
    int zerr;
    gzerror(gz, &zerr);
    bool direct = gzdirect(gz);
    gzclose_r(gz);
    return zerr == Z_OK && !direct;
}

static int make_record(char *buf, size_t cap, int i)
{
    return snprintf(buf, cap, "{\"n\":%d,\"pad\":\"%0*d\"}\n", i, 20 + i % 50, i);
}

struct variant {
    const struct joy_sink_ops *ops;
    int level;
    const char *suffix;
    bool gzip;
};

static const struct variant variants[] = {
    {&sink_plain_ops, 1, ".json", false},
    {&sink_zlib_ops, 1, ".json.gz", true},
    {&sink_zlib_ops, 6, ".json.gz", true},
#ifdef JOY_HAVE_ISAL
    {&sink_isal_ops, 1, ".json.gz", true},
    {&sink_isal_ops, 3, ".json.gz", true},
#endif
};

/* Write records, flush, read the .part back, write more (one record
 * bigger than every sink's buffer), commit, read the final file back. */
static void round_trip(const struct variant *v)
{
    char path[128], part[140], err[300], rec[128];
    snprintf(path, sizeof path, "%s/rt-%s-%d%s", dir, v->ops->name, v->level, v->suffix);
    snprintf(part, sizeof part, "%s.part", path);
    struct joy_sink *s = sink_open_ops(v->ops, path, v->level, err, sizeof err);
    CHECK(s != NULL);
    if (!s)
        return;
    CHECK(exists(part) && !exists(path));

    /* what is written, to compare with */
    size_t exp_cap = 4 << 20, exp_len = 0;
    char *exp = malloc(exp_cap);
    for (int i = 0; i < 5000; i++) {
        int n = make_record(rec, sizeof rec, i);
        CHECK(sink_write(s, rec, (size_t)n, NULL) == 0);
        memcpy(exp + exp_len, rec, (size_t)n);
        exp_len += (size_t)n;
    }
    CHECK(sink_flush(s) == 0);
    CHECK(sink_flush(s) == 0); /* nothing new: nothing to do */
    size_t got_len;
    char *got = read_back(part, &got_len);
    CHECK(got && got_len == exp_len && memcmp(got, exp, exp_len) == 0);
    free(got);

    /* a record larger than the 1 MiB / 256 KiB buffers, then small ones */
    size_t big = (1 << 20) + 12345;
    memset(exp + exp_len, 'x', big - 1);
    exp[exp_len + big - 1] = '\n';
    CHECK(sink_write(s, exp + exp_len, big, NULL) == 0);
    exp_len += big;
    for (int i = 0; i < 1000; i++) {
        int n = make_record(rec, sizeof rec, i);
        CHECK(sink_write(s, rec, (size_t)n, NULL) == 0);
        memcpy(exp + exp_len, rec, (size_t)n);
        exp_len += (size_t)n;
    }
    CHECK(s->records == 6001 && s->bytes == exp_len);
    CHECK(!sink_failed(s));
    CHECK(sink_close(s, true, err, sizeof err) == 0);
    CHECK(exists(path) && !exists(part));
    got = read_back(path, &got_len);
    CHECK(got && got_len == exp_len && memcmp(got, exp, exp_len) == 0);
    free(got);
    if (v->gzip)
        CHECK(gzip_complete(path));
    free(exp);
    unlink(path);
}

/* close(commit=false) and a flush with nothing written */
static void discard(const struct variant *v)
{
    char path[128], part[140], err[300] = "", rec[128];
    snprintf(path, sizeof path, "%s/discard-%s-%d%s", dir, v->ops->name, v->level, v->suffix);
    snprintf(part, sizeof part, "%s.part", path);
    struct joy_sink *s = sink_open_ops(v->ops, path, v->level, err, sizeof err);
    CHECK(s != NULL);
    if (!s)
        return;
    CHECK(sink_flush(s) == 0);
    int n = make_record(rec, sizeof rec, 1);
    CHECK(sink_write(s, rec, (size_t)n, NULL) == 0);
    CHECK(exists(part));
    CHECK(sink_close(s, false, err, sizeof err) == 0);
    CHECK(!exists(part) && !exists(path));

    /* commit with nothing written: an empty (but valid) file */
    s = sink_open_ops(v->ops, path, v->level, err, sizeof err);
    CHECK(s != NULL);
    if (!s)
        return;
    CHECK(sink_close(s, true, err, sizeof err) == 0);
    CHECK(exists(path) && !exists(part));
    size_t len;
    char *got = read_back(path, &len);
    CHECK(got && len == 0);
    free(got);
    if (v->gzip)
        CHECK(gzip_complete(path));
    unlink(path);
}

/* /dev/full: not a regular file, so written directly (no .part); the first
 * failure is kept, later writes are refused, close reports it. */
static void sticky_error(const struct variant *v)
{
    char err[300] = "", rec[128];
    struct joy_sink *s = sink_open_ops(v->ops, "/dev/full", v->level, err, sizeof err);
    CHECK(s != NULL);
    if (!s)
        return;
    CHECK(s->final_name == NULL);
    int n = make_record(rec, sizeof rec, 7);
    CHECK(sink_write(s, rec, (size_t)n, NULL) == 0); /* buffered */
    CHECK(sink_flush(s) == -1);
    CHECK(sink_failed(s));
    CHECK(strstr(s->errmsg, "/dev/full: ") == s->errmsg);
    CHECK(strstr(s->errmsg, strerror(ENOSPC)) != NULL);
    char first[256];
    snprintf(first, sizeof first, "%s", s->errmsg);
    CHECK(sink_write(s, rec, (size_t)n, NULL) == -1);
    CHECK(sink_flush(s) == -1);
    CHECK(s->records == 1);
    CHECK(sink_close(s, true, err, sizeof err) == -1);
    CHECK_STREQ(err, first);
}

/* A failure while writing a regular file: the complete records written
 * before it are kept under the final name, the .part goes, and the
 * message says so.  (ENOSPC itself is tested with a tmpfs in
 * test_robustness.py and test_sensor.py.) */
static void failed_file_keeps_complete_records(void)
{
    char path[128], part[140], err[600] = "", rec[128];
    snprintf(path, sizeof path, "%s/failed.json", dir);
    snprintf(part, sizeof part, "%s.part", path);
    struct joy_sink *s = sink_open_ops(&sink_plain_ops, path, 1, err, sizeof err);
    CHECK(s != NULL);
    if (!s)
        return;
    int n = make_record(rec, sizeof rec, 1);
    CHECK(sink_write(s, rec, (size_t)n, NULL) == 0);
    errno = ENOSPC;
    sink_fail(s, "write failed");
    CHECK(sink_write(s, rec, (size_t)n, NULL) == -1);
    CHECK(sink_close(s, true, err, sizeof err) == -1);
    char want[300];
    snprintf(want, sizeof want, "%s: write failed: %s; the 1 complete lines", part,
             strerror(ENOSPC));
    CHECK(strncmp(err, want, strlen(want)) == 0);
    CHECK(!exists(part) && exists(path));
    size_t got_len;
    char *got = read_back(path, &got_len);
    CHECK(got && got_len == (size_t)n && memcmp(got, rec, (size_t)n) == 0);
    free(got);
    unlink(path);

    /* nothing complete: the file goes */
    s = sink_open_ops(&sink_plain_ops, path, 1, err, sizeof err);
    CHECK(s != NULL);
    if (!s)
        return;
    errno = ENOSPC;
    sink_fail(s, "write failed");
    CHECK(sink_close(s, true, err, sizeof err) == -1);
    CHECK(!exists(part) && !exists(path));
}

/* rotate_salvage: a gzip member cut anywhere after a sync flush is closed
 * at the flush; a plain file is cut after its last newline. */
static void salvage_cut_files(void)
{
    for (int kind = 0; kind < 3; kind++) {
        char path[128], part[140], err[300] = "", rec[128];
        const char *ext = kind == 0 ? "json" : "json.gz";
        snprintf(path, sizeof path, "%s/salvage%d.%s", dir, kind, ext);
        snprintf(part, sizeof part, "%s.part", path);
        const struct joy_sink_ops *ops = kind == 0 ? &sink_plain_ops : kind == 1 ? &sink_zlib_ops
                                                                                 : sink_gzip_ops(1);
        struct joy_sink *s = sink_open_ops(ops, path, kind == 1 ? 6 : 1, err, sizeof err);
        CHECK(s != NULL);
        if (!s)
            return;
        for (int i = 0; i < 50; i++) {
            int n = make_record(rec, sizeof rec, (unsigned)i);
            CHECK(sink_write(s, rec, (size_t)n, NULL) == 0);
        }
        CHECK(sink_flush(s) == 0);
        for (int i = 50; i < 60; i++) {
            int n = make_record(rec, sizeof rec, (unsigned)i);
            CHECK(sink_write(s, rec, (size_t)n, NULL) == 0);
        }
        CHECK(sink_flush(s) == 0);
        /* a killed writer: the file as it is now, plus half a record */
        int fd = open(part, O_RDWR);
        CHECK(fd >= 0);
        if (kind == 0) {
            CHECK(write(fd, "{\"half", 6) == 6);
        } else {
            off_t end = lseek(fd, 0, SEEK_END);
            CHECK(ftruncate(fd, end + 3) == 0); /* garbage after the flush */
        }
        uint64_t lines = 0;
        CHECK(rotate_salvage(fd, &lines, err, sizeof err) == 0);
        CHECK(lines == 60);
        close(fd);
        size_t len;
        char *got = read_back(part, &len);
        int nl = 0;
        for (size_t i = 0; got && i < len; i++)
            nl += got[i] == '\n';
        CHECK(got && nl == 60 && len && got[len - 1] == '\n');
        free(got);
        sink_close(s, false, NULL, 0);
        unlink(part);
    }
}

static void open_errors(void)
{
    char err[300] = "", want[300];
    struct joy_sink *s = sink_open("/nonexistent-dir/x.json.gz", 1, err, sizeof err);
    CHECK(s == NULL);
    snprintf(want, sizeof want, "/nonexistent-dir/x.json.gz.part: cannot create output file: %s",
             strerror(ENOENT));
    CHECK_STREQ(err, want);
}

/* A NAME.part already there with data (not taken by the start-up
 * recovery, which output.c runs) is emptied before the first record, and
 * the committed file holds only the new records.  (A new NAME.part is not
 * truncated at all: ext4 would write it out at close; not observable here.) */
static void stale_part_is_emptied(void)
{
    char path[128], part[140], err[300] = "";
    snprintf(path, sizeof path, "%s/stale.json", dir);
    snprintf(part, sizeof part, "%s.part", path);
    int fd = open(part, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    CHECK(write(fd, "{\"stale\":1}\n{\"sta", 18) == 18);
    close(fd);
    struct joy_sink *s = sink_open(path, 0, err, sizeof err);
    CHECK(s != NULL);
    if (!s)
        return;
    struct stat st;
    CHECK(stat(part, &st) == 0 && st.st_size == 0);
    CHECK(sink_write(s, "{\"new\":2}\n", 10, NULL) == 0);
    CHECK(sink_close(s, true, err, sizeof err) == 0);
    size_t n = 0;
    char *got = read_back(path, &n);
    CHECK(got && n == 10 && memcmp(got, "{\"new\":2}\n", 10) == 0);
    free(got);
    unlink(path);
}

static void choose(void)
{
    CHECK(sink_choose(NULL, 1) == &sink_plain_ops);
    CHECK(sink_choose("-", 6) == &sink_plain_ops);
    CHECK(sink_choose("x.json", 1) == &sink_plain_ops);
    CHECK(sink_choose("x.jsonl", 9) == &sink_plain_ops);
    CHECK(sink_choose("x.json.gz", 6) == &sink_zlib_ops);
    CHECK(sink_choose("x.json.gz", 9) == &sink_zlib_ops);
    CHECK(sink_choose("/dev/null", 4) == &sink_zlib_ops);
#ifdef JOY_HAVE_ISAL
    CHECK(sink_choose("x.json.gz", 1) == &sink_isal_ops);
    CHECK(sink_choose("x", 3) == &sink_isal_ops);
    CHECK_STREQ(sink_gzip_ops(2)->name, "isa-l");
#else
    CHECK(sink_choose("x.json.gz", 1) == &sink_zlib_ops);
    CHECK_STREQ(sink_gzip_ops(2)->name, "zlib");
#endif
    CHECK_STREQ(sink_gzip_ops(4)->name, "zlib");
}

static void each_variant(void)
{
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        int before = unit_failures_in_test;
        round_trip(&variants[i]);
        discard(&variants[i]);
        sticky_error(&variants[i]);
        if (unit_failures_in_test != before)
            fprintf(stderr, "  (sink %s level %d)\n", variants[i].ops->name, variants[i].level);
    }
}

void run_sink_tests(void)
{
    strcpy(dir, "/tmp/joy-unit-sink-XXXXXX");
    if (!mkdtemp(dir)) {
        unit_failed++;
        fprintf(stderr, "FAIL run_sink_tests: mkdtemp: %s\n", strerror(errno));
        return;
    }
    TEST_RUN(choose);
    TEST_RUN(each_variant);
    TEST_RUN(failed_file_keeps_complete_records);
    TEST_RUN(salvage_cut_files);
    TEST_RUN(open_errors);
    TEST_RUN(stale_part_is_emptied);
    rmdir(dir);
}

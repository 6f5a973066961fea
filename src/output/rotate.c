/*
 * rotate.c - output files over time: names, targets, salvage, leftovers
 * (rotate.h; the rules are in doc/internals/output.md, "Rotation").
 */
#include "rotate.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

/* ---------------------------------------------------------------------
 * Targets
 */
static char *join_dir(const char *link, const char *target)
{
    if (target[0] == '/')
        return strdup(target);
    const char *slash = strrchr(link, '/');
    size_t dl = slash ? (size_t)(slash - link) + 1 : 0;
    char *p = malloc(dl + strlen(target) + 1);
    if (p) {
        memcpy(p, link, dl);
        strcpy(p + dl, target);
    }
    return p;
}

static int set_file(struct out_target *t, const char *real, char *err, size_t errlen)
{
    size_t n = strlen(real);
    t->final_path = strdup(real);
    t->write_path = malloc(n + 6);
    if (!t->final_path || !t->write_path) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(t->write_path, real, n);
    memcpy(t->write_path + n, ".part", 6);
    return 0;
}

static int set_direct(struct out_target *t, const char *name, bool append, char *err,
                      size_t errlen)
{
    t->direct = true;
    t->append = append;
    if (!(t->write_path = strdup(name))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

int rotate_resolve(const char *name, struct out_target *t, char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    struct stat lst, st;
    if (lstat(name, &lst) != 0)
        return set_file(t, name, err, errlen);
    if (!S_ISLNK(lst.st_mode))
        return S_ISREG(lst.st_mode) ? set_file(t, name, err, errlen)
                                    : set_direct(t, name, false, err, errlen);
    /* A link to a device or a FIFO: write through it, in place. */
    if (stat(name, &st) == 0 && !S_ISREG(st.st_mode))
        return set_direct(t, name, false, err, errlen);
    /* A link to a regular file, or a dangling one: follow it hop by hop so
     * that the .part is made next to the file the link names. */
    char *cur = strdup(name);
    for (int hop = 0; cur && hop < 40; hop++) {
        char buf[PATH_MAX];
        ssize_t n = readlink(cur, buf, sizeof buf - 1);
        if (n < 0) {
            int rc = set_file(t, cur, err, errlen); /* not a link (any more) */
            free(cur);
            return rc;
        }
        buf[n] = '\0';
        char *next = join_dir(cur, buf);
        free(cur);
        cur = next;
        if (cur && strncmp(cur, "/proc/", 6) == 0) {
            /* /dev/stdout -> /proc/self/fd/1 -> a file the shell opened */
            free(cur);
            return set_direct(t, name, true, err, errlen);
        }
    }
    if (!cur) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    free(cur);
    snprintf(err, errlen, "%s: too many levels of symbolic links", name);
    return -1;
}

void rotate_target_free(struct out_target *t)
{
    free(t->write_path);
    free(t->final_path);
    memset(t, 0, sizeof *t);
}

/* ---------------------------------------------------------------------
 * Salvage
 */
static int salvage_plain(int fd, uint64_t *lines, char *err, size_t errlen)
{
    off_t end = lseek(fd, 0, SEEK_END), keep = 0;
    char buf[65536];
    /* the last newline, from the end */
    for (off_t pos = end; pos > 0 && keep == 0;) {
        size_t n = pos > (off_t)sizeof buf ? sizeof buf : (size_t)pos;
        pos -= (off_t)n;
        if (pread(fd, buf, n, pos) != (ssize_t)n)
            goto fail;
        for (size_t i = n; i > 0; i--) {
            if (buf[i - 1] == '\n') {
                keep = pos + (off_t)i;
                break;
            }
        }
    }
    if (keep != end && ftruncate(fd, keep) != 0)
        goto fail;
    *lines = 0;
    for (off_t pos = 0; pos < keep;) {
        ssize_t n = pread(fd, buf, sizeof buf, pos);
        if (n <= 0)
            goto fail;
        for (ssize_t i = 0; i < n; i++)
            *lines += buf[i] == '\n';
        pos += n;
    }
    return 0;
fail:
    snprintf(err, errlen, "%s", strerror(errno ? errno : EIO));
    return -1;
}

static void put_le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static int salvage_gzip(int fd, uint64_t *lines, char *err, size_t errlen)
{
    enum { IN = 1 << 16, OUT = 1 << 16 };
    unsigned char *in = malloc(IN), *out = malloc(OUT);
    z_stream z;
    memset(&z, 0, sizeof z);
    int rc = -1;
    if (!in || !out || inflateInit2(&z, 15 + 16) != Z_OK) {
        snprintf(err, errlen, "out of memory");
        free(in);
        free(out);
        return -1;
    }
    off_t member = 0;           /* where the current member starts */
    off_t in_off = 0;           /* file offset of in[0] */
    size_t in_len = 0;
    bool eof = false, complete = false;
    uint64_t lines_done = 0;    /* in complete members */
    /* the current member */
    uint32_t crc = 0;
    uint64_t size = 0, mlines = 0;
    unsigned char last = '\n';
    /* its last cut point */
    off_t cut = -1;
    uint32_t cut_crc = 0;
    uint64_t cut_size = 0, cut_lines = 0;
    bool cut_final = false;
    for (;;) {
        if (z.avail_in == 0 && !eof) {
            in_off += (off_t)in_len;
            ssize_t n = pread(fd, in, IN, in_off);
            if (n < 0) {
                snprintf(err, errlen, "%s", strerror(errno));
                goto out;
            }
            in_len = (size_t)n;
            eof = n == 0;
            z.next_in = in;
            z.avail_in = (uInt)in_len;
        }
        if (z.avail_in == 0 && eof)
            break; /* the member is incomplete (or the file ended between members) */
        z.next_out = out;
        z.avail_out = OUT;
        int zr = inflate(&z, Z_BLOCK);
        size_t got = OUT - z.avail_out;
        if (got) {
            crc = (uint32_t)crc32(crc, out, (uInt)got);
            size += got;
            last = out[got - 1];
            for (size_t i = 0; i < got; i++)
                mlines += out[i] == '\n';
        }
        if (zr == Z_STREAM_END) {
            lines_done += mlines;
            member = in_off + (off_t)(in_len - z.avail_in);
            crc = 0;
            size = mlines = 0;
            last = '\n';
            cut = -1;
            inflateReset(&z);
            /* only padding or another member may follow */
            complete = true;
            continue;
        }
        if (zr != Z_OK && zr != Z_BUF_ERROR)
            break; /* damaged: cut at the last good point */
        if (zr == Z_OK)
            complete = false;
        if ((z.data_type & 128) && (z.data_type & 63) == 0 && (size == 0 || last == '\n')) {
            cut = in_off + (off_t)(in_len - z.avail_in);
            cut_crc = crc;
            cut_size = size;
            cut_lines = mlines;
            cut_final = (z.data_type & 64) != 0;
        }
    }
    off_t end = lseek(fd, 0, SEEK_END);
    if (complete && member == end) {
        *lines = lines_done;
        rc = 0;
        goto out;
    }
    if (cut < 0 || cut_size == 0) {
        /* nothing whole in the last member: drop it */
        if (ftruncate(fd, member) != 0) {
            snprintf(err, errlen, "%s", strerror(errno));
            goto out;
        }
        *lines = lines_done;
        rc = 0;
        goto out;
    }
    unsigned char tail[10];
    size_t tl = 0;
    if (!cut_final) {
        tail[tl++] = 0x03; /* an empty final block (fixed Huffman, end of block) */
        tail[tl++] = 0x00;
    }
    put_le32(tail + tl, cut_crc);
    put_le32(tail + tl + 4, (uint32_t)cut_size);
    tl += 8;
    /* On a full disk, writing past the end may find no free block: when
     * the tail fits inside the file it overwrites bytes already there and
     * the file is then cut after it; otherwise, if it cannot be written,
     * the incomplete member is dropped (its records are lost, the file
     * before it stays valid). */
    bool ok;
    if (cut + (off_t)tl <= end)
        ok = pwrite(fd, tail, tl, cut) == (ssize_t)tl && ftruncate(fd, cut + (off_t)tl) == 0;
    else
        ok = ftruncate(fd, cut) == 0 && pwrite(fd, tail, tl, cut) == (ssize_t)tl;
    if (!ok) {
        if (ftruncate(fd, member) != 0) {
            snprintf(err, errlen, "%s", strerror(errno ? errno : ENOSPC));
            goto out;
        }
        *lines = lines_done;
        rc = 0;
        goto out;
    }
    *lines = lines_done + cut_lines;
    rc = 0;
out:
    inflateEnd(&z);
    free(in);
    free(out);
    return rc;
}

int rotate_salvage(int fd, uint64_t *lines, char *err, size_t errlen)
{
    unsigned char magic[2] = {0, 0};
    *lines = 0;
    errno = 0;
    ssize_t n = pread(fd, magic, 2, 0);
    if (n < 0) {
        snprintf(err, errlen, "%s", strerror(errno));
        return -1;
    }
    if (n == 2 && magic[0] == 0x1f && magic[1] == 0x8b)
        return salvage_gzip(fd, lines, err, errlen);
    return salvage_plain(fd, lines, err, errlen);
}

/* ---------------------------------------------------------------------
 * Names
 */
bool rotate_has_time(const char *p)
{
    for (; *p; p++) {
        if (*p != '%')
            continue;
        p++;
        if (!*p)
            break;
        if (*p != '%' && *p != 'N')
            return true;
    }
    return false;
}

bool rotate_has_counter(const char *p)
{
    for (; *p; p++) {
        if (*p != '%')
            continue;
        p++;
        if (!*p)
            break;
        if (*p == 'N')
            return true;
    }
    return false;
}

int rotate_expand(const char *pattern, uint64_t t_sec, uint64_t seq, char *buf, size_t len)
{
    /* %N first (a strftime format with the number written in), then strftime */
    char fmt[4096];
    size_t o = 0;
    for (const char *p = pattern; *p; p++) {
        if (o + 24 >= sizeof fmt)
            return -1;
        if (p[0] == '%' && p[1] == 'N') {
            o += (size_t)snprintf(fmt + o, sizeof fmt - o, "%llu", (unsigned long long)seq);
            p++;
        } else if (p[0] == '%' && p[1] == '%') {
            fmt[o++] = '%';
            fmt[o++] = '%';
            p++;
        } else {
            fmt[o++] = *p;
        }
    }
    fmt[o] = '\0';
    if (!rotate_has_time(pattern)) {
        /* no conversion left but %%: collapse them without strftime */
        size_t j = 0;
        for (size_t i = 0; fmt[i]; i++) {
            if (j + 1 >= len)
                return -1;
            buf[j++] = fmt[i];
            if (fmt[i] == '%' && fmt[i + 1] == '%')
                i++;
        }
        buf[j] = '\0';
        return 0;
    }
    time_t t = (time_t)t_sec;
    struct tm tm;
    if (!localtime_r(&t, &tm))
        return -1;
    /* the format is the user's -w name: strftime takes it as data */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    size_t n = strftime(buf, len, fmt, &tm);
#pragma GCC diagnostic pop
    return n == 0 ? -1 : 0;
}

static const char *extension_of(const char *name)
{
    static const char *const exts[] = {".json.gz", ".jsonl.gz", ".json", ".jsonl", ".gz"};
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    size_t n = strlen(base);
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        size_t m = strlen(exts[i]);
        if (n > m && strcmp(base + n - m, exts[i]) == 0)
            return base + n - m;
    }
    return name + strlen(name);
}

int rotate_number(const char *name, uint64_t n, char *buf, size_t len)
{
    const char *ext = extension_of(name);
    int w = snprintf(buf, len, "%.*s%llu%s", (int)(ext - name), name, (unsigned long long)n, ext);
    return w < 0 || (size_t)w >= len ? -1 : 0;
}

/* ---------------------------------------------------------------------
 * Leftovers
 */

/* The pattern as an fnmatch() pattern: conversions become '*'. */
static void glob_of(const char *pattern, char *g, size_t len, bool numbered)
{
    const char *ext = numbered ? extension_of(pattern) : NULL;
    size_t o = 0;
    for (const char *p = pattern; *p && o + 8 < len; p++) {
        if (p == ext) {
            memcpy(g + o, "[0-9]*", 6); /* the number of a later file */
            o += 6;
        }
        if (p[0] == '%' && p[1]) {
            p++;
            if (*p == '%') {
                g[o++] = '%';
            } else if (o == 0 || g[o - 1] != '*') {
                g[o++] = '*';
            }
        } else {
            if (strchr("*?[\\", *p))
                g[o++] = '\\';
            g[o++] = *p;
        }
    }
    if (ext && !*ext && o + 7 < len) {
        memcpy(g + o, "[0-9]*", 6);
        o += 6;
    }
    g[o] = '\0';
}

static void say(rotate_log_fn log, void *user, int sev, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void say(rotate_log_fn log, void *user, int sev, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (log)
        log(user, sev, msg);
}

static void recover_one(const char *part, rotate_log_fn log, void *user)
{
    int fd = open(part, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        say(log, user, 2, "%s: being written by another process; left alone", part);
        close(fd);
        return;
    }
    uint64_t lines = 0;
    char err[256];
    if (rotate_salvage(fd, &lines, err, sizeof err) != 0) {
        say(log, user, 3, "%s: left by an earlier run; cannot finish it: %s", part, err);
        close(fd);
        return;
    }
    close(fd);
    if (lines == 0) {
        unlink(part);
        say(log, user, 3, "%s: left by an earlier run with no complete record; removed", part);
        return;
    }
    size_t n = strlen(part) - 5;
    char dest[PATH_MAX + 32];
    struct stat st;
    snprintf(dest, sizeof dest, "%.*s.recovered", (int)n, part);
    for (int i = 2; lstat(dest, &st) == 0 && i < 1000; i++)
        snprintf(dest, sizeof dest, "%.*s.recovered.%d", (int)n, part, i);
    if (rename(part, dest) != 0) {
        say(log, user, 3, "%s: cannot rename to %s: %s", part, dest, strerror(errno));
        return;
    }
    say(log, user, 3, "%s: left by an earlier run that did not finish; its %llu complete "
        "lines were kept as %s", part, (unsigned long long)lines, dest);
}

void rotate_recover(const char *pattern, rotate_log_fn log, void *user)
{
    if (!rotate_has_time(pattern) && !rotate_has_counter(pattern)) {
        /* one name: its .part, next to the file a link names */
        struct out_target t;
        char err[256];
        if (rotate_resolve(pattern, &t, err, sizeof err) == 0 && !t.direct &&
            access(t.write_path, F_OK) == 0)
            recover_one(t.write_path, log, user);
        rotate_target_free(&t);
        /* and the numbered ones of -C / count= / SIGHUP */
    }
    const char *slash = strrchr(pattern, '/');
    char dir[PATH_MAX];
    const char *base = pattern;
    if (slash) {
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - pattern) ? (int)(slash - pattern) : 1,
                 pattern);
        base = slash + 1;
    } else {
        strcpy(dir, ".");
    }
    char g1[PATH_MAX], g2[PATH_MAX];
    glob_of(base, g1, sizeof g1, false);
    glob_of(base, g2, sizeof g2, true);
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n <= 5 || strcmp(e->d_name + n - 5, ".part") != 0)
            continue;
        char name[PATH_MAX];
        snprintf(name, sizeof name, "%.*s", (int)(n - 5), e->d_name);
        bool plain_name = strcmp(name, base) == 0;
        if (plain_name && !rotate_has_time(pattern) && !rotate_has_counter(pattern))
            continue; /* done above */
        if (!plain_name && fnmatch(g1, name, 0) != 0 && fnmatch(g2, name, 0) != 0)
            continue;
        char full[PATH_MAX * 2];
        snprintf(full, sizeof full, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(full, &st) == 0 && S_ISREG(st.st_mode))
            recover_one(full, log, user);
    }
    closedir(d);
}

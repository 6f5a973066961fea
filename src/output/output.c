/*
 * output.c - record output to stdout, a plain file or a gzip file.
 *
 * Three sinks sit behind struct joy_output:
 *
 *   plain  stdio with a 1 MiB buffer (stdout, *.json, *.jsonl);
 *   isal   Intel ISA-L's igzip (levels 1-3, when built with it): the
 *          default, because compression dominates the cost of a record.
 *          On the benchmark's 90 MB of records igzip level 1 takes about a
 *          fifth of zlib level 1's CPU time and writes a smaller file;
 *   zlib   gzFile (levels 4-9, or every level when built without ISA-L).
 *
 * All three produce one standard gzip member (RFC 1952) that gzip, zcat
 * and Python's gzip module read.  The isal sink collects records in an
 * input buffer of OUT_IN_CAP bytes and compresses a full buffer at a time,
 * so the per-record cost is a memcpy; compressed bytes go to the file
 * descriptor with write(2) in chunks of at most OUT_OUT_CAP bytes.
 */
#include "output.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#ifdef JOY_HAVE_ISAL
#include <isa-l/igzip_lib.h>
#endif

enum { OUT_IN_CAP = 1 << 18, OUT_OUT_CAP = 1 << 18 };

struct isal_sink;

struct joy_output {
    FILE *fp;               /* plain output (stdout or file) */
    gzFile gz;              /* zlib gzip output */
    struct isal_sink *isal; /* ISA-L gzip output */
    char *final_name;       /* NULL for stdout or a non-regular target */
    char *part_name;        /* what is being written */
    bool is_stdout;
    int err;                /* first errno-style failure, 0 if none */
    char errmsg[256];
};

static void set_error(struct joy_output *o, const char *what)
{
    if (o->err)
        return;
    o->err = errno ? errno : EIO;
    snprintf(o->errmsg, sizeof o->errmsg, "%s: %s: %s",
             o->is_stdout ? "standard output" : o->part_name, what, strerror(o->err));
}

/* --- the ISA-L sink ------------------------------------------------------ */

#ifdef JOY_HAVE_ISAL

struct isal_sink {
    int fd;
    struct isal_zstream zs;
    uint8_t *level_buf;
    uint8_t *in;  /* OUT_IN_CAP bytes of records not yet compressed */
    size_t in_len;
    uint8_t *out; /* OUT_OUT_CAP bytes of compressed output */
};

static const uint32_t isal_level_buf_size[4] = {
    0, ISAL_DEF_LVL1_DEFAULT, ISAL_DEF_LVL2_DEFAULT, ISAL_DEF_LVL3_DEFAULT,
};

static bool isal_level(int level) { return level >= 1 && level <= 3; }

static void isal_sink_free(struct isal_sink *s)
{
    if (!s)
        return;
    free(s->level_buf);
    free(s->in);
    free(s->out);
    free(s);
}

/* Takes over fd (closes it on failure). */
static struct isal_sink *isal_sink_new(int fd, int level)
{
    struct isal_sink *s = calloc(1, sizeof *s);
    if (!s) {
        close(fd);
        return NULL;
    }
    s->fd = fd;
    s->level_buf = malloc(isal_level_buf_size[level]);
    s->in = malloc(OUT_IN_CAP);
    s->out = malloc(OUT_OUT_CAP);
    if (!s->level_buf || !s->in || !s->out) {
        close(fd);
        isal_sink_free(s);
        return NULL;
    }
    isal_deflate_init(&s->zs);
    s->zs.level = (uint32_t)level;
    s->zs.level_buf = s->level_buf;
    s->zs.level_buf_size = isal_level_buf_size[level];
    s->zs.gzip_flag = IGZIP_GZIP;
    s->zs.flush = NO_FLUSH;
    return s;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Compress len bytes (end: and finish the gzip member), writing out every
 * output chunk as it fills.  0, or -1 with errno set. */
static int isal_compress(struct isal_sink *s, const uint8_t *p, size_t len, bool end)
{
    struct isal_zstream *zs = &s->zs;
    zs->next_in = (uint8_t *)p;
    zs->avail_in = (uint32_t)len;
    zs->end_of_stream = end;
    for (;;) {
        zs->next_out = s->out;
        zs->avail_out = OUT_OUT_CAP;
        if (isal_deflate(zs) != COMP_OK) {
            errno = EIO;
            return -1;
        }
        size_t produced = OUT_OUT_CAP - zs->avail_out;
        if (produced && write_all(s->fd, s->out, produced) != 0)
            return -1;
        bool done = end ? zs->internal_state.state == ZSTATE_END : zs->avail_in == 0;
        if (done)
            return 0;
    }
}

static int isal_sink_write(struct isal_sink *s, const char *buf, size_t len)
{
    if (s->in_len + len > OUT_IN_CAP) {
        if (s->in_len && isal_compress(s, s->in, s->in_len, false) != 0)
            return -1;
        s->in_len = 0;
        if (len > OUT_IN_CAP)
            return isal_compress(s, (const uint8_t *)buf, len, false);
    }
    memcpy(s->in + s->in_len, buf, len);
    s->in_len += len;
    return 0;
}

/* Finish the member (abandon: after a failed write, compress nothing
 * more) and close the descriptor; frees s. */
static int isal_sink_close(struct isal_sink *s, bool abandon)
{
    int rc = abandon ? -1 : isal_compress(s, s->in, s->in_len, true);
    int saved = errno;
    if (close(s->fd) != 0 && rc == 0) {
        rc = -1;
        saved = errno;
    }
    isal_sink_free(s);
    errno = saved;
    return rc;
}

#else /* !JOY_HAVE_ISAL: every level goes to zlib */

static bool isal_level(int level)
{
    (void)level;
    return false;
}
static struct isal_sink *isal_sink_new(int fd, int level)
{
    (void)fd;
    (void)level;
    return NULL;
}
static int isal_sink_write(struct isal_sink *s, const char *buf, size_t len)
{
    (void)s;
    (void)buf;
    (void)len;
    return -1;
}
static int isal_sink_close(struct isal_sink *s, bool abandon)
{
    (void)s;
    (void)abandon;
    return -1;
}

#endif

const char *output_gzip_engine(int gzip_level)
{
    return isal_level(gzip_level) ? "isa-l" : "zlib";
}

/* --- opening and writing ------------------------------------------------- */

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Attach the sink that path's name asks for to fd (which it takes over). */
static bool open_sink(struct joy_output *o, const char *path, int fd, int gzip_level)
{
    if (ends_with(path, ".json") || ends_with(path, ".jsonl")) {
        o->fp = fdopen(fd, "w");
        if (!o->fp) {
            close(fd);
            return false;
        }
        setvbuf(o->fp, NULL, _IOFBF, 1 << 20);
        return true;
    }
    if (isal_level(gzip_level))
        return (o->isal = isal_sink_new(fd, gzip_level)) != NULL;
    char mode[8];
    snprintf(mode, sizeof mode, "wb%d", gzip_level);
    o->gz = gzdopen(fd, mode);
    if (!o->gz) {
        close(fd);
        return false;
    }
    gzbuffer(o->gz, 1 << 18);
    return true;
}

struct joy_output *output_open(const char *path, int gzip_level, char *err, size_t errlen)
{
    struct joy_output *o = calloc(1, sizeof *o);
    if (!o) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (!path || strcmp(path, "-") == 0) {
        o->fp = stdout;
        o->is_stdout = true;
        setvbuf(stdout, NULL, _IOFBF, 1 << 20);
        return o;
    }
    /* Devices, pipes and the like are written directly; only regular
     * files (or new ones) go through NAME.part. */
    struct stat st;
    bool regular = stat(path, &st) != 0 || S_ISREG(st.st_mode);
    if (regular) {
        size_t n = strlen(path);
        o->final_name = strdup(path);
        o->part_name = malloc(n + 6);
        if (!o->final_name || !o->part_name) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        memcpy(o->part_name, path, n);
        memcpy(o->part_name + n, ".part", 6);
    } else if (!(o->part_name = strdup(path))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    int fd = open(o->part_name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot create output file: %s", o->part_name, strerror(errno));
        goto fail;
    }
    if (!open_sink(o, path, fd, gzip_level)) {
        snprintf(err, errlen, "%s: cannot open output stream", o->part_name);
        if (o->final_name)
            unlink(o->part_name);
        goto fail;
    }
    return o;
fail:
    free(o->final_name);
    free(o->part_name);
    free(o);
    return NULL;
}

int output_write(struct joy_output *o, const char *buf, size_t len)
{
    if (o->err)
        return -1;
    errno = 0;
    if (o->isal) {
        if (isal_sink_write(o->isal, buf, len) != 0) {
            set_error(o, "write failed");
            return -1;
        }
    } else if (o->gz) {
        if (len && gzwrite(o->gz, buf, (unsigned)len) != (int)len) {
            int zerr;
            const char *m = gzerror(o->gz, &zerr);
            if (zerr != Z_ERRNO)
                errno = EIO;
            set_error(o, zerr == Z_ERRNO ? "write failed" : m);
            return -1;
        }
    } else if (fwrite(buf, 1, len, o->fp) != len) {
        set_error(o, "write failed");
        return -1;
    }
    return 0;
}

bool output_failed(const struct joy_output *o) { return o->err != 0; }

/* --- closing ------------------------------------------------------------- */

static void close_sink(struct joy_output *o)
{
    errno = 0;
    if (o->isal) {
        if (isal_sink_close(o->isal, o->err != 0) != 0)
            set_error(o, "write failed");
        o->isal = NULL;
    } else if (o->gz) {
        if (gzclose_w(o->gz) != Z_OK)
            set_error(o, "closing the gzip stream failed");
    } else if (o->fp) {
        if (fflush(o->fp) != 0)
            set_error(o, "write failed");
        if (!o->is_stdout && fclose(o->fp) != 0)
            set_error(o, "close failed");
    }
}

int output_close(struct joy_output *o, bool commit, char *err, size_t errlen)
{
    int rc = 0;
    close_sink(o);
    if (o->err) {
        snprintf(err, errlen, "%s", o->errmsg);
        if (o->final_name)
            unlink(o->part_name);
        rc = -1;
    } else if (o->final_name && commit) {
        if (rename(o->part_name, o->final_name) != 0) {
            snprintf(err, errlen, "%s: cannot rename to %s: %s", o->part_name, o->final_name,
                     strerror(errno));
            rc = -1;
        }
    }
    free(o->final_name);
    free(o->part_name);
    free(o);
    return rc;
}

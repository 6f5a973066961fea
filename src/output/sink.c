/*
 * sink.c - what every sink shares: choosing one, NAME.part and the rename
 * on commit, the sticky error, the counters.  The kinds of sink are in
 * sink_plain.c, sink_zlib.c and sink_isal.c; the contract is in sink.h.
 */
#include "sink.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

const struct joy_sink_ops *sink_gzip_ops(int gzip_level)
{
#ifdef JOY_HAVE_ISAL
    if (gzip_level >= 1 && gzip_level <= 3)
        return &sink_isal_ops;
#else
    (void)gzip_level;
#endif
    return &sink_zlib_ops;
}

const struct joy_sink_ops *sink_choose(const char *target, int gzip_level)
{
    if (!target || strcmp(target, "-") == 0 || ends_with(target, ".json") ||
        ends_with(target, ".jsonl"))
        return &sink_plain_ops;
    return sink_gzip_ops(gzip_level);
}

struct joy_sink *sink_open(const char *target, int gzip_level, char *err, size_t errlen)
{
    return sink_open_ops(sink_choose(target, gzip_level), target, gzip_level, err, errlen);
}

static void free_sink(struct joy_sink *s)
{
    free(s->name);
    free(s->final_name);
    free(s);
}

struct joy_sink *sink_open_ops(const struct joy_sink_ops *ops, const char *target, int gzip_level,
                               char *err, size_t errlen)
{
    struct joy_sink *s = calloc(1, ops->size);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->ops = ops;
    int fd = -1;
    if (!target || strcmp(target, "-") == 0) {
        s->is_stdout = true;
        fd = STDOUT_FILENO;
    } else {
        /* Devices, pipes and the like are written directly; only regular
         * files (or new ones) go through NAME.part. */
        struct stat st;
        bool regular = (ops->flags & SINK_FILE) && (stat(target, &st) != 0 || S_ISREG(st.st_mode));
        if (regular) {
            size_t n = strlen(target);
            s->final_name = strdup(target);
            s->name = malloc(n + 6);
            if (!s->final_name || !s->name) {
                snprintf(err, errlen, "out of memory");
                goto fail;
            }
            memcpy(s->name, target, n);
            memcpy(s->name + n, ".part", 6);
        } else if (!(s->name = strdup(target))) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        if (ops->flags & SINK_FILE) {
            fd = open(s->name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
            if (fd < 0) {
                snprintf(err, errlen, "%s: cannot create output file: %s", s->name, strerror(errno));
                goto fail;
            }
        }
    }
    if (ops->open(s, fd, gzip_level) != 0) {
        if (s->err)
            snprintf(err, errlen, "%s", s->errmsg);
        else
            snprintf(err, errlen, "%s: cannot open output stream",
                     s->is_stdout ? "standard output" : s->name);
        if (fd >= 0 && !s->is_stdout)
            close(fd);
        if (s->final_name)
            unlink(s->name);
        goto fail;
    }
    return s;
fail:
    free_sink(s);
    return NULL;
}

int sink_fail(struct joy_sink *s, const char *what)
{
    if (s->err)
        return -1;
    s->err = errno ? errno : EIO;
    snprintf(s->errmsg, sizeof s->errmsg, "%s: %s: %s", s->is_stdout ? "standard output" : s->name,
             what, strerror(s->err));
    return -1;
}

int sink_write(struct joy_sink *s, const char *rec, size_t len, const void *view)
{
    if (s->err)
        return -1;
    errno = 0;
    if (s->ops->write(s, rec, len, view) != 0)
        return sink_fail(s, "write failed");
    s->records++;
    s->bytes += len;
    s->dirty = true;
    return 0;
}

int sink_append(struct joy_sink *s, const void *block, size_t len, uint64_t n_records)
{
    if (s->err)
        return -1;
    if (!s->ops->append) {
        errno = ENOTSUP;
        return sink_fail(s, "cannot append blocks");
    }
    errno = 0;
    if (len && s->ops->append(s, block, len) != 0)
        return sink_fail(s, "write failed");
    s->records += n_records;
    s->bytes += len;
    return 0;
}

bool sink_is_gzip(const struct joy_sink *s)
{
    return s->ops != &sink_plain_ops;
}

int sink_flush(struct joy_sink *s)
{
    if (s->err)
        return -1;
    if (!s->dirty)
        return 0;
    errno = 0;
    if (s->ops->flush(s) != 0)
        return sink_fail(s, "write failed");
    s->dirty = false;
    return 0;
}

int sink_close(struct joy_sink *s, bool commit, char *err, size_t errlen)
{
    int rc = 0;
    errno = 0;
    if (s->ops->close(s, s->err != 0 || (!commit && s->final_name)) != 0)
        sink_fail(s, "write failed");
    if (s->err) {
        if (err)
            snprintf(err, errlen, "%s", s->errmsg);
        if (s->final_name)
            unlink(s->name);
        rc = -1;
    } else if (s->final_name && commit) {
        if (rename(s->name, s->final_name) != 0) {
            if (err)
                snprintf(err, errlen, "%s: cannot rename to %s: %s", s->name, s->final_name,
                         strerror(errno));
            rc = -1;
        }
    } else if (s->final_name) {
        unlink(s->name);
    }
    free_sink(s);
    return rc;
}

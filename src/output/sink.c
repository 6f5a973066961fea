/*
 * sink.c - what every sink shares: choosing one, NAME.part and the rename
 * on commit, the sticky error, the counters.  The kinds of sink are in
 * sink_plain.c, sink_zlib.c and sink_isal.c; the contract is in sink.h.
 */
#include "sink.h"

#include "rotate.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
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
    free(s->query);
    free(s->name);
    free(s->final_name);
    free(s);
}

/* Create NAME.part: never through a link planted under that name, locked
 * so that a second joy (or the leftover recovery of one) leaves it alone,
 * and emptied only once the lock is held. */
static int open_part(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot create output file: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        snprintf(err, errlen, "%s: cannot create output file: another process is writing it",
                 path);
        close(fd);
        return -1;
    }
    /* Only a leftover is emptied: ext4 treats a truncation to zero as a
     * file being replaced and writes the whole new file out when it is
     * closed (auto_da_alloc), 10-15 ms at the end of every run. */
    struct stat st;
    if ((fstat(fd, &st) != 0 || st.st_size != 0) && ftruncate(fd, 0) != 0) {
        snprintf(err, errlen, "%s: cannot create output file: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}
static struct joy_sink *open_common(const struct joy_sink_ops *ops, const char *target,
                                   int gzip_level, const struct sink_opts *opt, const char *query,
                                   char *err, size_t errlen);

struct joy_sink *sink_open_ops(const struct joy_sink_ops *ops, const char *target, int gzip_level,
                               char *err, size_t errlen)
{
    struct sink_opts opt = {.gzip_level = gzip_level, .queue = 100000, .flush_timeout = 30};
    return open_common(ops, target, gzip_level, &opt, NULL, err, errlen);
}

int sink_on_full_parse(const char *v)
{
    if (!v || !*v || strcmp(v, "block") == 0)
        return SINK_BLOCK;
    if (strcmp(v, "spill") == 0)
        return SINK_SPILL;
    if (strcmp(v, "drop") == 0)
        return SINK_DROP;
    return -1;
}

const char *sink_network_kinds(void)
{
#ifdef JOY_HAVE_KAFKA
    return "tcp unix ipfix ipfix+tcp ipfix+file kafka";
#else
    return "tcp unix ipfix ipfix+tcp ipfix+file";
#endif
}

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Apply "k=v&k=v" (in place: opt's strings point into q) to opt. */
static int apply_query(char *q, struct sink_opts *opt, char *err, size_t errlen)
{
    char *save = NULL;
    for (char *kv = strtok_r(q, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(kv, '=');
        const char *v = eq ? eq + 1 : "";
        if (eq)
            *eq = '\0';
        if (strcmp(kv, "on_full") == 0) {
            int p = sink_on_full_parse(v);
            if (p < 0) {
                snprintf(err, errlen, "on_full=%s: give block, spill or drop", v);
                return -1;
            }
            opt->on_full = (enum sink_on_full)p;
        } else if (strcmp(kv, "queue") == 0) {
            char *end;
            unsigned long long n = strtoull(v, &end, 10);
            if (!*v || *end || n == 0 || n > 100000000ull) {
                snprintf(err, errlen, "queue=%s: give a number of records, 1-100000000", v);
                return -1;
            }
            opt->queue = (size_t)n;
        } else if (strcmp(kv, "spill") == 0 && *v) {
            opt->spill_path = v;
        } else if (strcmp(kv, "profile") == 0 && *v) {
            opt->ipfix_profile = v;
        } else if (strcmp(kv, "mtu") == 0) {
            char *end;
            unsigned long n = strtoul(v, &end, 10);
            if (!*v || *end) {
                snprintf(err, errlen, "mtu=%s: give a number of bytes", v);
                return -1;
            }
            /* its range is checked by sink_ipfix.c, for ipfix_mtu= too */
            opt->ipfix_mtu = n > UINT_MAX ? UINT_MAX : (unsigned)n;
        } else {
            snprintf(err, errlen, "unknown URL parameter '%s' (on_full, queue, spill, profile, mtu)",
                     kv);
            return -1;
        }
    }
    return 0;
}

struct joy_sink *sink_open_url(const char *target, const struct sink_opts *opt, char *err,
                               size_t errlen)
{
    static const struct {
        const char *scheme;
        const struct joy_sink_ops *ops;
    } schemes[] = {
        {"ipfix+tcp://", &sink_ipfix_tcp_ops},
        {"ipfix+file:", &sink_ipfix_file_ops},
        {"ipfix://", &sink_ipfix_udp_ops},
        {"tcp://", &sink_stream_ops},
        {"unix:", &sink_stream_ops},
#ifdef JOY_HAVE_KAFKA
        {"kafka://", &sink_kafka_ops},
#endif
    };
    if (!target || !strstr(target, ":") || (!starts_with(target, "kafka://") &&
                                            !starts_with(target, "ipfix") &&
                                            !starts_with(target, "tcp://") &&
                                            !starts_with(target, "unix:")))
        return open_common(sink_choose(target, opt->gzip_level), target, opt->gzip_level, opt,
                           NULL, err, errlen);
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
        if (!starts_with(target, schemes[i].scheme))
            continue;
        char *url = strdup(target);
        if (!url) {
            snprintf(err, errlen, "out of memory");
            return NULL;
        }
        char *q = strchr(url, '?');
        if (q)
            *q++ = '\0';
        const char *t = (schemes[i].ops->flags & SINK_FILE) ? url + strlen(schemes[i].scheme) : url;
        struct joy_sink *s = open_common(schemes[i].ops, t, opt->gzip_level, opt, q, err, errlen);
        free(url);
        return s;
    }
    if (starts_with(target, "kafka://"))
        snprintf(err, errlen, "%s: this joy was built without Kafka (librdkafka); install "
                 "librdkafka-dev and run ./configure again (joy -V lists the outputs built)",
                 target);
    else
        snprintf(err, errlen, "%s: unknown kind of output (files, '-', %s)", target,
                 sink_network_kinds());
    return NULL;
}

int sink_write_meta(struct joy_sink *s, const char *line, size_t len)
{
    if (s->err)
        return -1;
    errno = 0;
    int rc = s->ops->write_meta ? s->ops->write_meta(s, line, len)
                                : s->ops->write(s, line, len, NULL);
    if (rc != 0)
        return sink_fail(s, "write failed");
    s->dirty = true;
    return 0;
}

static struct joy_sink *open_common(const struct joy_sink_ops *ops, const char *target,
                                   int gzip_level, const struct sink_opts *opt, const char *query,
                                   char *err, size_t errlen)
{
    struct joy_sink *s = calloc(1, ops->size);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->ops = ops;
    s->fd = -1;
    s->opt = *opt;
    if (query && *query) {
        if (!(s->query = strdup(query))) {
            snprintf(err, errlen, "out of memory");
            free(s);
            return NULL;
        }
        char msg[200];
        if (apply_query(s->query, &s->opt, msg, sizeof msg) != 0) {
            snprintf(err, errlen, "%s: %s", target, msg);
            free(s->query);
            free(s);
            return NULL;
        }
    }
    int fd = -1;
    if (!target || strcmp(target, "-") == 0) {
        s->is_stdout = true;
        fd = STDOUT_FILENO;
    } else if (!(ops->flags & SINK_FILE)) {
        if (!(s->name = strdup(target))) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
    } else {
        /* Regular files (or new ones) go through NAME.part next to the
         * file a link names; devices, FIFOs and /dev/stdout are written in
         * place. */
        struct out_target t;
        if (rotate_resolve(target, &t, err, errlen) != 0) {
            rotate_target_free(&t);
            goto fail;
        }
        s->name = t.write_path;
        s->final_name = t.final_path;
        if (t.direct) {
            fd = open(s->name, O_WRONLY | O_CLOEXEC | (t.append ? O_APPEND : 0));
            if (fd < 0)
                snprintf(err, errlen, "%s: cannot open output: %s", s->name, strerror(errno));
        } else {
            fd = open_part(s->name, err, errlen);
        }
        if (fd < 0)
            goto fail;
    }
    s->fd = fd;
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

uint64_t sink_size(const struct joy_sink *s)
{
    if (s->ops == &sink_plain_ops)
        return s->bytes;
    if (s->is_stdout || s->fd < 0)
        return 0;
    off_t off = lseek(s->fd, 0, SEEK_CUR);
    return off > 0 ? (uint64_t)off : 0;
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
    /* gzip sinks write blocks to the descriptor; a plain file's stdio
     * buffer still holds them until a flush */
    if (s->ops == &sink_plain_ops)
        s->dirty = true;
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

/* After an error: cut NAME.part at its last complete record and keep it
 * as NAME (rotate_salvage); the message says what was kept.  A file with
 * no complete line goes. */
static int keep_what_was_written(struct joy_sink *s, char *err, size_t errlen)
{
    char why[256] = "";
    uint64_t lines = 0;
    int fd = open(s->name, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    int rc = fd < 0 ? -1 : rotate_salvage(fd, &lines, why, sizeof why);
    if (fd < 0)
        snprintf(why, sizeof why, "%s", strerror(errno));
    if (fd >= 0)
        close(fd);
    if (rc != 0) {
        if (err)
            snprintf(err, errlen, "%s; %s could not be closed at its last complete record (%s) "
                     "and was left as it is", s->errmsg, s->name, why);
        return -1;
    }
    if (lines == 0) {
        unlink(s->name);
        if (err)
            snprintf(err, errlen, "%s; nothing complete had been written: %s removed", s->errmsg,
                     s->name);
        return -1;
    }
    if (rename(s->name, s->final_name) != 0) {
        if (err)
            snprintf(err, errlen, "%s; the %llu complete lines written before it were kept in "
                     "%s (cannot rename it to %s: %s)", s->errmsg, (unsigned long long)lines,
                     s->name, s->final_name, strerror(errno));
        return -1;
    }
    if (err)
        snprintf(err, errlen, "%s; the %llu complete lines written before it were kept: %s "
                 "ends at its last complete record", s->errmsg, (unsigned long long)lines,
                 s->final_name);
    return -1;
}

int sink_close(struct joy_sink *s, bool commit, char *err, size_t errlen)
{
    int rc = 0;
    errno = 0;
    if (s->ops->close(s, s->err != 0 || (!commit && s->final_name)) != 0)
        sink_fail(s, "write failed");
    if (s->err) {
        rc = -1;
        if (s->final_name)
            keep_what_was_written(s, err, errlen);
        else if (err)
            snprintf(err, errlen, "%s", s->errmsg);
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

int sink_write_fd(int fd, const void *p, size_t n)
{
    const unsigned char *b = p;
    while (n > 0) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO;
            return -1;
        }
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

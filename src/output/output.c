/*
 * output.c - the program's output: a facade over the sinks (sink.h),
 * which hold the back-ends (sink_plain.c, sink_zlib.c, sink_isal.c), and
 * the rotation of files (rotate.h for names, targets and salvage).
 */
#include "output.h"

#include "rotate.h"
#include "sink.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NS 1000000000ull
/* A sync flush after this many bytes of records, so that a full disk or a
 * crash loses at most this much of a file (rotate_salvage cuts there). */
#define CHECKPOINT_BYTES (256u << 10)
/* lseek() a gzip file for its size at most once per this many bytes. */
#define SIZE_CHECK_BYTES (16u << 10)

struct joy_output {
    struct joy_sink *sink;      /* the file being written; NULL before the first */
    char *pattern;              /* NULL: stdout */
    int level;
    uint64_t secs, bytes, records_limit, keep;
    bool files;                 /* a file name: rotation possible */
    bool none;                  /* no primary output (every -w is a network sink) */
    struct joy_sink **extra;    /* further destinations (-w given again, URLs) */
    size_t n_extra;
    bool waiting;               /* the first file waits for a time (its name has one) */
    char *header;
    size_t header_len;
    uint64_t now_sec;           /* the latest time given (0: none yet) */
    uint64_t interval_end;      /* ns; 0: not set */
    uint64_t seq;               /* files opened */
    char last_base[PATH_MAX];   /* name of the previous file before numbering */
    uint64_t same_base;
    char **done;                /* closed files of this run, oldest first (for keep) */
    size_t n_done, cap_done;
    uint64_t file_records, total_records, files_closed;
    uint64_t size_checked, last_size, unflushed;
    bool failed;
    char err[1024];
    output_log_fn log;
    void *log_user;
};

const char *output_gzip_engine(int gzip_level) { return sink_gzip_ops(gzip_level)->name; }

static void tell(struct joy_output *o, int sev, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void tell(struct joy_output *o, int sev, const char *fmt, ...)
{
    if (!o->log)
        return;
    char msg[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    o->log(o->log_user, sev, msg);
}

static void fail_with(struct joy_output *o, const char *msg)
{
    if (!o->failed)
        snprintf(o->err, sizeof o->err, "%s", msg);
    o->failed = true;
}

static void free_output(struct joy_output *o)
{
    for (size_t i = 0; i < o->n_extra; i++)
        if (o->extra[i])
            sink_close(o->extra[i], false, NULL, 0);
    free(o->extra);
    for (size_t i = 0; i < o->n_done; i++)
        free(o->done[i]);
    free(o->done);
    free(o->pattern);
    free(o->header);
    free(o);
}

/* -W: at most keep files, the one being written included. */
static void prune(struct joy_output *o)
{
    while (o->keep && o->n_done && o->n_done + 1 > o->keep) {
        if (unlink(o->done[0]) == 0)
            tell(o, 2, "%s removed (keep=%llu)", o->done[0], (unsigned long long)o->keep);
        else if (errno != ENOENT)
            tell(o, 3, "%s: cannot remove it (keep=%llu): %s", o->done[0],
                 (unsigned long long)o->keep, strerror(errno));
        free(o->done[0]);
        memmove(o->done, o->done + 1, (o->n_done - 1) * sizeof *o->done);
        o->n_done--;
    }
}

static uint64_t now_sec(const struct joy_output *o)
{
    return o->now_sec ? o->now_sec : (uint64_t)time(NULL);
}

static int open_next(struct joy_output *o)
{
    char err[1024];
    const char *name = NULL;
    char base[PATH_MAX], numbered[PATH_MAX + 24];
    if (o->pattern) {
        uint64_t t = now_sec(o);
        uint64_t start = o->secs ? t - t % o->secs : t;
        if (rotate_expand(o->pattern, start, o->seq, base, sizeof base) != 0) {
            fail_with(o, "the output name is too long once expanded");
            return -1;
        }
        name = base;
        if (!rotate_has_counter(o->pattern)) {
            if (o->seq > 0 && strcmp(base, o->last_base) == 0) {
                o->same_base++;
                if (rotate_number(base, o->same_base, numbered, sizeof numbered) != 0) {
                    fail_with(o, "the output name is too long once numbered");
                    return -1;
                }
                name = numbered;
            } else {
                snprintf(o->last_base, sizeof o->last_base, "%s", base);
                o->same_base = 0;
            }
        }
        o->interval_end = o->secs && o->now_sec ? (start + o->secs) * NS : 0;
    }
    if (!(o->sink = sink_open(name, o->level, err, sizeof err))) {
        fail_with(o, err);
        return -1;
    }
    o->seq++;
    o->waiting = false;
    o->file_records = 0;
    o->size_checked = o->last_size = o->unflushed = 0;
    /* the header, flushed: a file cut short keeps at least its metadata line */
    if (o->header && (sink_write(o->sink, o->header, o->header_len, NULL) != 0 ||
                      sink_flush(o->sink) != 0))
        return -1;
    prune(o);
    return 0;
}

/* Close the current file; commit: complete, renamed. */
static int close_current(struct joy_output *o, bool commit)
{
    if (!o->sink)
        return 0;
    char err[1024];
    char *final = o->sink->final_name ? strdup(o->sink->final_name) : NULL;
    int rc = sink_close(o->sink, commit, err, sizeof err);
    o->sink = NULL;
    if (rc != 0) {
        fail_with(o, err);
        free(final);
        return -1;
    }
    o->files_closed++;
    if (final && commit && o->keep) {
        if (o->n_done == o->cap_done) {
            size_t nc = o->cap_done ? o->cap_done * 2 : 16;
            char **nd = realloc(o->done, nc * sizeof *nd);
            if (!nd) {
                free(final);
                return 0;
            }
            o->done = nd;
            o->cap_done = nc;
        }
        o->done[o->n_done++] = final;
    } else {
        free(final);
    }
    return 0;
}

static char *join(const char *dir, const char *path)
{
    if (!dir || !*dir || path[0] == '/')
        return strdup(path);
    size_t n = strlen(dir);
    char *p = malloc(n + strlen(path) + 2);
    if (p)
        sprintf(p, "%s%s%s", dir, dir[n - 1] == '/' ? "" : "/", path);
    return p;
}

/* Early check of a name that waits for its time: its directory exists
 * and is writable. */
static int check_dir(const char *pattern, char *err, size_t errlen)
{
    const char *slash = strrchr(pattern, '/');
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - pattern) + 1 : 1,
             slash ? pattern : ".");
    if (rotate_has_time(dir))
        return 0;
    if (access(dir, W_OK) != 0) {
        snprintf(err, errlen, "%s: cannot create output files in %s: %s", pattern, dir,
                 strerror(errno));
        return -1;
    }
    return 0;
}

struct joy_output *output_open_opts(const struct output_opts *opt, char *err, size_t errlen)
{
    struct joy_output *o = calloc(1, sizeof *o);
    if (!o) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    o->level = opt->gzip_level;
    o->secs = opt->rotate_seconds;
    o->bytes = opt->rotate_bytes;
    o->records_limit = opt->rotate_records;
    o->keep = opt->keep;
    o->log = opt->log;
    o->log_user = opt->log_user;
    if (opt->none) {
        o->none = true;
        return o;
    }
    bool rotation = o->secs || o->bytes || o->records_limit || o->keep;
    if (opt->path && strcmp(opt->path, "-") != 0) {
        if (!(o->pattern = join(opt->outdir, opt->path))) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        char first[PATH_MAX];
        struct out_target t;
        if (rotate_expand(o->pattern, (uint64_t)time(NULL), 0, first, sizeof first) != 0) {
            snprintf(err, errlen, "%s: the output name is too long once expanded", o->pattern);
            goto fail;
        }
        if (rotate_resolve(first, &t, err, errlen) != 0) {
            rotate_target_free(&t);
            goto fail;
        }
        o->files = !t.direct;
        rotate_target_free(&t);
    }
    if (rotation && !o->files) {
        snprintf(err, errlen, "rotation (-G, -C, -W, count=) needs an output file name (-w NAME), "
                 "not %s", o->pattern ? o->pattern : "standard output");
        goto fail;
    }
    if (o->files && opt->recover)
        rotate_recover(o->pattern, opt->log, opt->log_user);
    if (o->files && rotate_has_time(o->pattern)) {
        o->waiting = true;
        if (check_dir(o->pattern, err, errlen) != 0)
            goto fail;
        return o;
    }
    if (open_next(o) != 0) {
        snprintf(err, errlen, "%s", o->err);
        goto fail;
    }
    return o;
fail:
    free_output(o);
    return NULL;
}

struct joy_output *output_open(const char *path, int gzip_level, char *err, size_t errlen)
{
    struct output_opts opt = {.path = path, .gzip_level = gzip_level};
    return output_open_opts(&opt, err, errlen);
}

int output_set_header(struct joy_output *o, const char *text, size_t len)
{
    if (o->none)
        return 0;
    free(o->header);
    if (!(o->header = malloc(len ? len : 1))) {
        o->header_len = 0;
        fail_with(o, "out of memory");
        return -1;
    }
    memcpy(o->header, text, len);
    o->header_len = len;
    if (o->sink && o->sink->records == 0)
        return sink_write(o->sink, text, len, NULL) == 0 && sink_flush(o->sink) == 0 ? 0 : -1;
    return o->failed ? -1 : 0;
}

void output_set_limits(struct joy_output *o, uint64_t rotate_seconds, uint64_t rotate_bytes,
                       uint64_t rotate_records, uint64_t keep)
{
    if (!o->files)
        return;
    if (rotate_seconds != o->secs)
        o->interval_end = 0;
    o->secs = rotate_seconds;
    o->bytes = rotate_bytes;
    o->records_limit = rotate_records;
    o->keep = keep;
}

int output_rotate(struct joy_output *o)
{
    if (o->none)
        return 0;
    if (o->failed)
        return -1;
    if (!o->files || !o->sink)
        return output_flush(o);
    if (close_current(o, true) != 0)
        return -1;
    return open_next(o);
}

int output_tick(struct joy_output *o, uint64_t t_ns)
{
    if (o->none)
        return 0;
    if (o->failed)
        return -1;
    uint64_t t = t_ns / NS;
    if (t > o->now_sec)
        o->now_sec = t;
    if (!o->sink)
        return o->waiting ? open_next(o) : 0;
    if (o->secs) {
        if (!o->interval_end)
            o->interval_end = (t - t % o->secs + o->secs) * NS;
        else if (t_ns >= o->interval_end)
            return output_rotate(o);
    }
    return sink_failed(o->sink) ? -1 : 0;
}

static bool file_full(struct joy_output *o)
{
    if (o->records_limit && o->file_records >= o->records_limit)
        return true;
    if (!o->bytes)
        return false;
    struct joy_sink *s = o->sink;
    if (s->bytes - o->size_checked >= SIZE_CHECK_BYTES || s->bytes < o->size_checked ||
        o->last_size == 0) {
        o->size_checked = s->bytes;
        o->last_size = sink_size(s);
    }
    return o->last_size >= o->bytes;
}

/* One record to the primary output (the rotating file, or stdout). */
static int primary_write(struct joy_output *o, const char *buf, size_t len)
{
    if (o->failed)
        return -1;
    if (!o->sink && open_next(o) != 0)
        return -1;
    if (o->files && o->file_records && file_full(o) && output_rotate(o) != 0)
        return -1;
    if (sink_write(o->sink, buf, len, NULL) != 0)
        return -1;
    o->file_records++;
    o->total_records++;
    o->unflushed += len;
    if (o->unflushed >= CHECKPOINT_BYTES) {
        o->unflushed = 0;
        return sink_flush(o->sink);
    }
    return 0;
}

int output_write_record(struct joy_output *o, const char *buf, size_t len, const void *view)
{
    int rc = o->none ? 0 : primary_write(o, buf, len);
    for (size_t i = 0; i < o->n_extra; i++)
        if (sink_write(o->extra[i], buf, len, view) != 0)
            rc = -1;
    return rc;
}

int output_write_extra(struct joy_output *o, const char *buf, size_t len, const void *view)
{
    int rc = 0;
    for (size_t i = 0; i < o->n_extra; i++)
        if (sink_write(o->extra[i], buf, len, view) != 0)
            rc = -1;
    return rc;
}

bool output_has_primary(const struct joy_output *o) { return !o->none; }

int output_write(struct joy_output *o, const char *buf, size_t len)
{
    return output_write_record(o, buf, len, NULL);
}

/* The metadata line: the header of every file of the primary output, and
 * each further destination's own way (Kafka: TOPIC.meta; IPFIX: none). */
int output_write_metadata(struct joy_output *o, const char *buf, size_t len)
{
    int rc = o->none ? 0 : output_set_header(o, buf, len);
    for (size_t i = 0; i < o->n_extra; i++)
        if (sink_write_meta(o->extra[i], buf, len) != 0)
            rc = -1;
    return rc;
}

static bool is_url(const char *t)
{
    return strstr(t, "://") || strncmp(t, "unix:", 5) == 0 || strncmp(t, "ipfix+file:", 11) == 0;
}

int output_add_targets(struct joy_output *o, const char *const *targets, size_t n,
                       const struct sink_opts *opt, char *err, size_t errlen)
{
    struct joy_sink **e = realloc(o->extra, (o->n_extra + n + 1) * sizeof *e);
    if (!e) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    o->extra = e;
    for (size_t i = 0; i < n; i++) {
        if (!(o->extra[o->n_extra] = sink_open_url(targets[i], opt, err, errlen)))
            return -1;
        o->n_extra++;
    }
    return 0;
}

struct joy_output *output_open_all(const struct output_opts *primary, const char *const *targets,
                                   size_t n, const struct sink_opts *opt, char *err,
                                   size_t errlen)
{
    struct output_opts po = *primary;
    const char *first = n ? targets[0] : NULL;
    size_t skip = 0;
    if (first && !is_url(first)) {
        po.path = first;
        skip = 1;
    } else if (first) {
        po.none = true;
    }
    struct joy_output *o = output_open_opts(&po, err, errlen);
    if (o && output_add_targets(o, targets + skip, n - skip, opt, err, errlen) != 0) {
        char e2[16];
        output_close(o, false, e2, sizeof e2);
        return NULL;
    }
    return o;
}

struct joy_output *output_open_targets(const char *const *targets, size_t n,
                                       const struct sink_opts *opt, char *err, size_t errlen)
{
    struct output_opts po = {.gzip_level = opt->gzip_level};
    return output_open_all(&po, targets, n, opt, err, errlen);
}

void output_report(struct joy_output *o, void (*say)(void *user, const char *line),
                   void *user)
{
    for (size_t i = 0; i < o->n_extra; i++) {
        struct joy_sink *s = o->extra[i];
        if (s->ops->drain && !sink_failed(s))
            s->ops->drain(s);
        char buf[768], line[1024];
        if (!s->ops->report)
            continue;
        buf[0] = '\0';
        s->ops->report(s, buf, sizeof buf);
        if (buf[0]) {
            snprintf(line, sizeof line, "%s: %s", s->name ? s->name : "standard output", buf);
            say(user, line);
        }
    }
}

const char *output_network_kinds(void) { return sink_network_kinds(); }

bool output_has_extra(const struct joy_output *o) { return o->n_extra != 0; }

/*
 * A block of whole records made by a worker thread (threads=N): gzip
 * members for a gzip output, plain text otherwise.  Rotation is checked
 * before the block, so files always split between members; a count=
 * limit is therefore reached at the first block boundary after it.
 */
int output_write_member(struct joy_output *o, const void *gz, size_t len, uint64_t n_records)
{
    if (o->failed || o->none)
        return -1;
    if (!o->sink && open_next(o) != 0)
        return -1;
    if (o->files && o->file_records && file_full(o) && output_rotate(o) != 0)
        return -1;
    if (sink_append(o->sink, gz, len, n_records) != 0)
        return -1;
    o->file_records += n_records;
    o->total_records += n_records;
    o->unflushed += len;
    if (o->unflushed >= CHECKPOINT_BYTES) {
        o->unflushed = 0;
        return sink_flush(o->sink);
    }
    return 0;
}

int output_gzip_level(const struct joy_output *o)
{
    return sink_choose(o->pattern, o->level) == sink_gzip_ops(o->level) ? o->level : 0;
}

int output_flush(struct joy_output *o)
{
    int rc = 0;
    for (size_t i = 0; i < o->n_extra; i++)
        if (sink_flush(o->extra[i]) != 0)
            rc = -1;
    if (o->failed)
        return -1;
    if (!o->sink)
        return rc;
    o->unflushed = 0;
    return sink_flush(o->sink) != 0 ? -1 : rc;
}

bool output_failed(const struct joy_output *o)
{
    for (size_t i = 0; i < o->n_extra; i++)
        if (sink_failed(o->extra[i]))
            return true;
    return o->failed || (o->sink && sink_failed(o->sink));
}

int output_chown(struct joy_output *o, uid_t uid, gid_t gid)
{
    if (!o->sink || !o->sink->final_name || o->sink->fd < 0)
        return 0;
    return fchown(o->sink->fd, uid, gid);
}

const char *output_name(const struct joy_output *o)
{
    if (o->sink)
        return o->sink->is_stdout ? "standard output" : o->sink->name;
    return o->pattern ? o->pattern : "standard output";
}

uint64_t output_files(const struct joy_output *o) { return o->files_closed; }
uint64_t output_records(const struct joy_output *o) { return o->total_records; }

int output_close(struct joy_output *o, bool commit, char *err, size_t errlen)
{
    /* a run that ended before its first file (a name waiting for a time)
     * still leaves one file with the header */
    if (commit && !o->sink && o->waiting && !o->failed)
        open_next(o);
    int rc = 0;
    if (o->sink) {
        char e[1024];
        bool had_error = o->failed;
        struct joy_sink *s = o->sink;
        o->sink = NULL;
        if (sink_close(s, commit, e, sizeof e) != 0) {
            rc = -1;
            if (!had_error)
                snprintf(o->err, sizeof o->err, "%s", e);
            o->failed = true;
        } else {
            o->files_closed++;
        }
    }
    if (o->failed) {
        rc = -1;
        snprintf(err, errlen, "%s", o->err);
    }
    size_t used = rc ? strlen(err) : 0;
    for (size_t i = 0; i < o->n_extra; i++) {
        char one[1024];
        struct joy_sink *s = o->extra[i];
        o->extra[i] = NULL;
        if (sink_close(s, commit, one, sizeof one) != 0) {
            rc = -1;
            if (used < errlen) {
                int k = snprintf(err + used, errlen - used, "%s%s", used ? "; " : "", one);
                used += k > 0 ? (size_t)k : 0;
            }
        }
    }
    free_output(o);
    return rc;
}

/*
 * output.c - the program's output: a thin facade over the sinks (sink.h),
 * which hold the back-ends (sink_plain.c, sink_zlib.c, sink_isal.c, and the
 * network sinks sink_kafka.c, sink_ipfix.c, sink_stream.c).  An output is
 * a list of sinks; every record goes to each of them.
 */
#include "output.h"

#include "sink.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct joy_output {
    struct joy_sink **sinks;
    size_t n;
};

const char *output_gzip_engine(int gzip_level) { return sink_gzip_ops(gzip_level)->name; }

const char *output_network_kinds(void) { return sink_network_kinds(); }

struct joy_output *output_open(const char *path, int gzip_level, char *err, size_t errlen)
{
    struct sink_opts opt = {.gzip_level = gzip_level, .queue = 100000, .flush_timeout = 30};
    const char *one[1] = {path};
    return output_open_targets(one, 1, &opt, err, errlen);
}

/* ---- several targets (files and URLs) ---- */
struct joy_output *output_open_targets(const char *const *targets, size_t n,
                                       const struct sink_opts *opt, char *err, size_t errlen)
{
    struct joy_output *o = calloc(1, sizeof *o);
    if (!o || !(o->sinks = calloc(n ? n : 1, sizeof *o->sinks))) {
        free(o);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (!(o->sinks[i] = sink_open_url(targets[i], opt, err, errlen))) {
            for (size_t j = 0; j < i; j++)
                sink_close(o->sinks[j], false, NULL, 0);
            free(o->sinks);
            free(o);
            return NULL;
        }
        o->n++;
    }
    return o;
}

int output_write_record(struct joy_output *o, const char *buf, size_t len, const void *view)
{
    int rc = 0;
    for (size_t i = 0; i < o->n; i++)
        if (sink_write(o->sinks[i], buf, len, view) != 0)
            rc = -1;
    return rc;
}

int output_write_metadata(struct joy_output *o, const char *buf, size_t len)
{
    int rc = 0;
    for (size_t i = 0; i < o->n; i++)
        if (sink_write_meta(o->sinks[i], buf, len) != 0)
            rc = -1;
    return rc;
}

void output_report(const struct joy_output *o, void (*say)(void *user, const char *line),
                   void *user)
{
    for (size_t i = 0; i < o->n; i++) {
        const struct joy_sink *s = o->sinks[i];
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
/* ---- */

int output_write(struct joy_output *o, const char *buf, size_t len)
{
    return output_write_record(o, buf, len, NULL);
}

int output_flush(struct joy_output *o)
{
    int rc = 0;
    for (size_t i = 0; i < o->n; i++)
        if (sink_flush(o->sinks[i]) != 0)
            rc = -1;
    return rc;
}

bool output_failed(const struct joy_output *o)
{
    for (size_t i = 0; i < o->n; i++)
        if (sink_failed(o->sinks[i]))
            return true;
    return false;
}

int output_close(struct joy_output *o, bool commit, char *err, size_t errlen)
{
    int rc = 0;
    size_t used = 0;
    if (err && errlen)
        err[0] = '\0';
    for (size_t i = 0; i < o->n; i++) {
        char one[1024];
        if (sink_close(o->sinks[i], commit, one, sizeof one) != 0) {
            rc = -1;
            if (err && used < errlen) {
                int k = snprintf(err + used, errlen - used, "%s%s", used ? "; " : "", one);
                used += k > 0 ? (size_t)k : 0;
            }
        }
    }
    free(o->sinks);
    free(o);
    return rc;
}

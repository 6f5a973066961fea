/*
 * output.c - the program's output: a thin facade over the sinks (sink.h),
 * which hold the back-ends (sink_plain.c, sink_zlib.c, sink_isal.c).
 */
#include "output.h"

#include "sink.h"

#include <stdio.h>
#include <stdlib.h>

struct joy_output {
    struct joy_sink *sink;
    int gzip_level;
};

const char *output_gzip_engine(int gzip_level) { return sink_gzip_ops(gzip_level)->name; }

struct joy_output *output_open(const char *path, int gzip_level, char *err, size_t errlen)
{
    struct joy_output *o = malloc(sizeof *o);
    if (!o) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (!(o->sink = sink_open(path, gzip_level, err, errlen))) {
        free(o);
        return NULL;
    }
    o->gzip_level = sink_is_gzip(o->sink) ? gzip_level : 0;
    return o;
}

int output_write(struct joy_output *o, const char *buf, size_t len)
{
    return sink_write(o->sink, buf, len, NULL);
}

int output_write_member(struct joy_output *o, const void *gz, size_t len, uint64_t n_records)
{
    return sink_append(o->sink, gz, len, n_records);
}

int output_gzip_level(const struct joy_output *o) { return o->gzip_level; }

int output_flush(struct joy_output *o) { return sink_flush(o->sink); }

bool output_failed(const struct joy_output *o) { return sink_failed(o->sink); }

int output_close(struct joy_output *o, bool commit, char *err, size_t errlen)
{
    int rc = sink_close(o->sink, commit, err, errlen);
    free(o);
    return rc;
}

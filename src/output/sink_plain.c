/*
 * sink_plain.c - records as they are: stdout, *.json, *.jsonl, devices.
 *
 * stdio with a 1 MiB buffer, so a record costs one fwrite (a memcpy) and
 * the descriptor sees few, large writes.
 */
#include "sink.h"

#include <stdio.h>
#include <unistd.h>

enum { PLAIN_BUF = 1 << 20 };

struct plain_sink {
    struct joy_sink base;
    FILE *fp;
};

static int plain_open(struct joy_sink *s, int fd, int level)
{
    struct plain_sink *p = (struct plain_sink *)s;
    (void)level;
    if (s->is_stdout) {
        p->fp = stdout;
    } else if (!(p->fp = fdopen(fd, "w"))) {
        return -1;
    }
    setvbuf(p->fp, NULL, _IOFBF, PLAIN_BUF);
    return 0;
}

static int plain_write(struct joy_sink *s, const char *rec, size_t len, const void *view)
{
    (void)view;
    return fwrite(rec, 1, len, ((struct plain_sink *)s)->fp) == len ? 0 : -1;
}

static int plain_flush(struct joy_sink *s)
{
    return fflush(((struct plain_sink *)s)->fp) == 0 ? 0 : -1;
}

static int plain_append(struct joy_sink *s, const void *block, size_t len)
{
    return fwrite(block, 1, len, ((struct plain_sink *)s)->fp) == len ? 0 : -1;
}

static int plain_close(struct joy_sink *s, bool abandon)
{
    struct plain_sink *p = (struct plain_sink *)s;
    (void)abandon;
    if (fflush(p->fp) != 0)
        sink_fail(s, "write failed");
    if (!s->is_stdout && fclose(p->fp) != 0)
        sink_fail(s, "close failed");
    p->fp = NULL;
    return 0;
}

const struct joy_sink_ops sink_plain_ops = {
    .name = "plain",
    .size = sizeof(struct plain_sink),
    .flags = SINK_FILE,
    .open = plain_open,
    .write = plain_write,
    .flush = plain_flush,
    .close = plain_close,
    .append = plain_append,
};

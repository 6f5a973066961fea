/*
 * sink_stream.c - JSON Lines over a stream socket: tcp://HOST:PORT and
 * unix:PATH, reconnecting with back-off, a bounded queue and the on-full
 * policy (netstream.h).  One record = one line = one unit.
 */
#include "sink.h"

#include "netstream.h"

#include <errno.h>
#include <stdio.h>

struct stream_sink {
    struct joy_sink base;
    struct netstream *ns;
    char msg[256];
};

static int stream_open(struct joy_sink *s, int fd, int level)
{
    struct stream_sink *t = (struct stream_sink *)s;
    (void)fd;
    (void)level;
    if (!(t->ns = netstream_open(s->name, &s->opt, NULL, NULL, t->msg, sizeof t->msg))) {
        s->err = EINVAL;
        snprintf(s->errmsg, sizeof s->errmsg, "%s", t->msg);
        return -1;
    }
    return 0;
}

static int stream_write(struct joy_sink *s, const char *rec, size_t len, const void *view)
{
    struct stream_sink *t = (struct stream_sink *)s;
    (void)view;
    if (netstream_write(t->ns, rec, len, t->msg, sizeof t->msg) != 0) {
        errno = EIO;
        return sink_fail(s, t->msg);
    }
    return 0;
}

static int stream_flush(struct joy_sink *s)
{
    netstream_pump(((struct stream_sink *)s)->ns, 0);
    return 0;
}

static void stream_report(const struct joy_sink *s, char *buf, size_t len)
{
    struct netstream_stats st;
    netstream_stats(((const struct stream_sink *)s)->ns, &st);
    snprintf(buf, len, "%llu records sent, %llu queued, %llu dropped, %llu spilled (%llu replayed), "
             "%llu connections",
             (unsigned long long)st.sent, (unsigned long long)st.queued,
             (unsigned long long)st.dropped, (unsigned long long)st.spilled,
             (unsigned long long)st.replayed, (unsigned long long)st.reconnects);
}

static int stream_close(struct joy_sink *s, bool abandon)
{
    struct stream_sink *t = (struct stream_sink *)s;
    char kept[300];
    uint64_t left = netstream_close(t->ns, abandon ? 0 : s->opt.flush_timeout, kept, sizeof kept);
    t->ns = NULL;
    if (left) {
        char what[400];
        snprintf(what, sizeof what, "%llu records not delivered%s%s", (unsigned long long)left,
                 kept[0] ? ", kept in the spill file " : "", kept);
        errno = EIO;
        return sink_fail(s, what);
    }
    return 0;
}

const struct joy_sink_ops sink_stream_ops = {
    .name = "stream",
    .size = sizeof(struct stream_sink),
    .flags = 0,
    .open = stream_open,
    .write = stream_write,
    .flush = stream_flush,
    .close = stream_close,
    .report = stream_report,
};

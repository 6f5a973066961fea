/*
 * sink_zlib.c - gzip through zlib's gzFile: levels 4-9, and every level
 * when joy was built without ISA-L.  One gzip member (RFC 1952); gzFile's
 * 256 KiB input buffer makes a record one memcpy until it fills.
 */
#include "sink.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <unistd.h>
#include <zlib.h>

struct zlib_sink {
    struct joy_sink base;
    gzFile gz;
    int fd;
    bool member_open; /* records written since the last finished member */
};

static int zlib_open(struct joy_sink *s, int fd, int level)
{
    struct zlib_sink *z = (struct zlib_sink *)s;
    char mode[8];
    snprintf(mode, sizeof mode, "wb%d", level);
    z->fd = fd;
    if (!(z->gz = gzdopen(fd, mode)))
        return -1;
    gzbuffer(z->gz, 1 << 18);
    return 0;
}

/* zlib's own message unless the failure was the file's (errno). */
static int zlib_fail(struct joy_sink *s)
{
    int zerr;
    const char *m = gzerror(((struct zlib_sink *)s)->gz, &zerr);
    if (zerr != Z_ERRNO)
        errno = EIO;
    return sink_fail(s, zerr == Z_ERRNO ? "write failed" : m);
}

static int zlib_write(struct joy_sink *s, const char *rec, size_t len, const void *view)
{
    (void)view;
    if (len && gzwrite(((struct zlib_sink *)s)->gz, rec, (unsigned)len) != (int)len)
        return zlib_fail(s);
    ((struct zlib_sink *)s)->member_open = true;
    return 0;
}

static int zlib_flush(struct joy_sink *s)
{
    if (gzflush(((struct zlib_sink *)s)->gz, Z_SYNC_FLUSH) != Z_OK)
        return zlib_fail(s);
    return 0;
}

/* Finish the open member (gzFile then starts a new one with its next
 * write) and append the block to the descriptor after it. */
static int zlib_append(struct joy_sink *s, const void *block, size_t len)
{
    struct zlib_sink *z = (struct zlib_sink *)s;
    if (z->member_open) {
        if (gzflush(z->gz, Z_FINISH) != Z_OK)
            return zlib_fail(s);
        z->member_open = false;
    }
    return sink_write_fd(z->fd, block, len);
}

/* Closes the descriptor too. */
static int zlib_close(struct joy_sink *s, bool abandon)
{
    struct zlib_sink *z = (struct zlib_sink *)s;
    (void)abandon;
    if (gzclose_w(z->gz) != Z_OK)
        sink_fail(s, "closing the gzip stream failed");
    z->gz = NULL;
    return 0;
}

const struct joy_sink_ops sink_zlib_ops = {
    .name = "zlib",
    .size = sizeof(struct zlib_sink),
    .flags = SINK_FILE,
    .open = zlib_open,
    .write = zlib_write,
    .flush = zlib_flush,
    .close = zlib_close,
    .append = zlib_append,
};

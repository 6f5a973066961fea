/*
 * sink_isal.c - gzip through Intel ISA-L's igzip: levels 1-3 when joy is
 * built with it (JOY_HAVE_ISAL), the default because compression dominates
 * the cost of a record.  On the benchmark's 90 MB of records igzip level 1
 * takes about a fifth of zlib level 1's CPU time and writes a smaller file.
 *
 * One standard gzip member (RFC 1952) that gzip, zcat and Python's gzip
 * module read.  Records are collected in an input buffer of ISAL_IN_CAP
 * bytes and a full buffer is compressed at a time, so the per-record cost
 * is a memcpy; compressed bytes go to the descriptor with write(2) in
 * chunks of at most ISAL_OUT_CAP bytes.
 *
 * The input buffer is twice output.c's checkpoint (a sync flush every
 * 256 KB of records), so that in a file's usual life the checkpoint, not
 * a full buffer, starts each compression: one isal_deflate() call per
 * 256 KB instead of a full-buffer call followed by a short flushing one,
 * each of which has igzip copy its first 32 KB into its own window buffer
 * (-0.45% instructions for the full feature set, same records).
 */
#include "sink.h"
#include "vecstate.h"

#ifdef JOY_HAVE_ISAL

#include <errno.h>
#include <isa-l/igzip_lib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { ISAL_IN_CAP = 1 << 19, ISAL_OUT_CAP = 1 << 18 };

struct isal_sink {
    struct joy_sink base;
    int fd;
    struct isal_zstream zs;
    uint8_t *level_buf;
    uint8_t *in; /* ISAL_IN_CAP bytes of records not yet compressed */
    size_t in_len;
    uint8_t *out; /* ISAL_OUT_CAP bytes of compressed output */
    int level;
    bool member_open; /* records written into the current member */
    bool appended;    /* blocks were appended (sink_append) */
};

static const uint32_t isal_level_buf_size[4] = {
    0, ISAL_DEF_LVL1_DEFAULT, ISAL_DEF_LVL2_DEFAULT, ISAL_DEF_LVL3_DEFAULT,
};

static void isal_free(struct isal_sink *z)
{
    free(z->level_buf);
    free(z->in);
    free(z->out);
    z->level_buf = z->in = z->out = NULL;
}

static int isal_open(struct joy_sink *s, int fd, int level)
{
    struct isal_sink *z = (struct isal_sink *)s;
    if (level < 1 || level > 3)
        return -1;
    z->fd = fd;
    z->level_buf = malloc(isal_level_buf_size[level]);
    z->in = malloc(ISAL_IN_CAP);
    z->out = malloc(ISAL_OUT_CAP);
    if (!z->level_buf || !z->in || !z->out) {
        isal_free(z);
        return -1;
    }
    z->level = level;
    isal_deflate_init(&z->zs);
    z->zs.level = (uint32_t)level;
    z->zs.level_buf = z->level_buf;
    z->zs.level_buf_size = isal_level_buf_size[level];
    z->zs.gzip_flag = IGZIP_GZIP;
    z->zs.flush = NO_FLUSH;
    return 0;
}

enum isal_mode { ISAL_MORE, ISAL_SYNC, ISAL_END };

/* Compress len bytes, writing out every output chunk as it fills; SYNC:
 * and end on a byte boundary with everything written (a sync flush); END:
 * and finish the gzip member.  0, or -1 with errno set. */
static int isal_compress(struct isal_sink *z, const uint8_t *p, size_t len, enum isal_mode mode)
{
    struct isal_zstream *zs = &z->zs;
    /* ISA-L declares next_in without const but only reads through it. */
    memcpy(&zs->next_in, &p, sizeof p);
    zs->avail_in = (uint32_t)len;
    zs->end_of_stream = mode == ISAL_END;
    zs->flush = mode == ISAL_SYNC ? SYNC_FLUSH : NO_FLUSH;
    for (;;) {
        zs->next_out = z->out;
        zs->avail_out = ISAL_OUT_CAP;
        int rc = isal_deflate(zs);
        vec_clear_upper(); /* vecstate.h */
        if (rc != COMP_OK) {
            zs->flush = NO_FLUSH;
            errno = EIO;
            return -1;
        }
        size_t produced = ISAL_OUT_CAP - zs->avail_out;
        if (produced && sink_write_fd(z->fd, z->out, produced) != 0) {
            zs->flush = NO_FLUSH;
            return -1;
        }
        bool done;
        if (mode == ISAL_END)
            done = zs->internal_state.state == ZSTATE_END;
        else if (mode == ISAL_SYNC) /* igzip_lib.h: output left over or NEW_HDR means flushed */
            done = zs->avail_in == 0 &&
                   (zs->avail_out != 0 || zs->internal_state.state == ZSTATE_NEW_HDR);
        else
            done = zs->avail_in == 0;
        if (done) {
            zs->flush = NO_FLUSH;
            return 0;
        }
    }
}

static int isal_write(struct joy_sink *s, const char *rec, size_t len, const void *view)
{
    struct isal_sink *z = (struct isal_sink *)s;
    (void)view;
    z->member_open = true;
    if (z->in_len + len > ISAL_IN_CAP) {
        if (z->in_len && isal_compress(z, z->in, z->in_len, ISAL_MORE) != 0)
            return -1;
        z->in_len = 0;
        if (len > ISAL_IN_CAP)
            return isal_compress(z, (const uint8_t *)rec, len, ISAL_MORE);
    }
    memcpy(z->in + z->in_len, rec, len);
    z->in_len += len;
    return 0;
}

static int isal_flush(struct joy_sink *s)
{
    struct isal_sink *z = (struct isal_sink *)s;
    if (isal_compress(z, z->in, z->in_len, ISAL_SYNC) != 0)
        return -1;
    z->in_len = 0;
    return 0;
}

/* Finish the open member, start a fresh stream for later records, and
 * append the block (complete gzip members) after it. */
static int isal_append(struct joy_sink *s, const void *block, size_t len)
{
    struct isal_sink *z = (struct isal_sink *)s;
    if (z->member_open) {
        if (isal_compress(z, z->in, z->in_len, ISAL_END) != 0)
            return -1;
        z->in_len = 0;
        z->member_open = false;
        isal_deflate_init(&z->zs);
        z->zs.level = (uint32_t)z->level;
        z->zs.level_buf = z->level_buf;
        z->zs.level_buf_size = isal_level_buf_size[z->level];
        z->zs.gzip_flag = IGZIP_GZIP;
        z->zs.flush = NO_FLUSH;
    }
    z->appended = true;
    return sink_write_fd(z->fd, block, len);
}

/* Finish the member (abandon: compress nothing more) and close the
 * descriptor.  After appended blocks, a member is finished only if
 * records were written into it (no empty trailing member). */
static int isal_close(struct joy_sink *s, bool abandon)
{
    struct isal_sink *z = (struct isal_sink *)s;
    bool finish = !abandon && (z->member_open || !z->appended);
    int rc = finish ? isal_compress(z, z->in, z->in_len, ISAL_END) : 0;
    int saved = errno;
    if (!s->is_stdout && close(z->fd) != 0 && rc == 0) {
        rc = -1;
        saved = errno;
    }
    isal_free(z);
    errno = saved;
    return rc;
}

const struct joy_sink_ops sink_isal_ops = {
    .name = "isa-l",
    .size = sizeof(struct isal_sink),
    .flags = SINK_FILE,
    .open = isal_open,
    .write = isal_write,
    .flush = isal_flush,
    .close = isal_close,
    .append = isal_append,
};

#else

/* Built without ISA-L: zlib takes every gzip level (sink.c). */
typedef int sink_isal_not_built;

#endif


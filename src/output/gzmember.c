/*
 * gzmember.c - one block of records -> one complete gzip member, with
 * ISA-L's igzip (levels 1-3, when built with it) or zlib (gzmember.h).
 */
#include "gzmember.h"
#include "vecstate.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#ifdef JOY_HAVE_ISAL
#include <isa-l/igzip_lib.h>
#endif

struct gz_member {
    int level;
    int use_isal;
    z_stream zs;
    int zs_ready;
#ifdef JOY_HAVE_ISAL
    struct isal_zstream is;
    uint8_t *level_buf;
    uint32_t level_buf_size;
#endif
};

struct gz_member *gz_member_new(int level)
{
    if (level < 1 || level > 9)
        return NULL;
    struct gz_member *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->level = level;
#ifdef JOY_HAVE_ISAL
    if (level <= 3) {
        static const uint32_t sizes[4] = {0, ISAL_DEF_LVL1_DEFAULT, ISAL_DEF_LVL2_DEFAULT,
                                          ISAL_DEF_LVL3_DEFAULT};
        g->use_isal = 1;
        g->level_buf_size = sizes[level];
        if (!(g->level_buf = malloc(g->level_buf_size))) {
            free(g);
            return NULL;
        }
        return g;
    }
#endif
    /* windowBits 15 + 16: a gzip wrapper */
    if (deflateInit2(&g->zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        free(g);
        return NULL;
    }
    g->zs_ready = 1;
    return g;
}

void gz_member_free(struct gz_member *g)
{
    if (!g)
        return;
    if (g->zs_ready)
        deflateEnd(&g->zs);
#ifdef JOY_HAVE_ISAL
    free(g->level_buf);
#endif
    free(g);
}

size_t gz_member_bound(size_t len)
{
    /* stored blocks at worst: 5 bytes per 16 KiB (ISA-L) or 64 KiB (zlib),
     * plus the gzip header and trailer and the block headers' slack */
    return len + len / 2048 + 1024;
}

int gz_member_compress(struct gz_member *g, const void *in, size_t len, void *out, size_t out_cap,
                       size_t *out_len)
{
    *out_len = 0;
    if (len > UINT32_MAX || out_cap > UINT32_MAX)
        return -1;
#ifdef JOY_HAVE_ISAL
    if (g->use_isal) {
        struct isal_zstream *zs = &g->is;
        isal_deflate_init(zs);
        zs->level = (uint32_t)g->level;
        zs->level_buf = g->level_buf;
        zs->level_buf_size = g->level_buf_size;
        zs->gzip_flag = IGZIP_GZIP;
        zs->flush = NO_FLUSH;
        zs->end_of_stream = 1;
        /* ISA-L declares next_in without const but only reads through it. */
        memcpy(&zs->next_in, &in, sizeof in);
        zs->avail_in = (uint32_t)len;
        zs->next_out = out;
        zs->avail_out = (uint32_t)out_cap;
        int rc = isal_deflate(zs);
        vec_clear_upper(); /* before the worker's next record: vecstate.h */
        if (rc != COMP_OK || zs->internal_state.state != ZSTATE_END)
            return -1;
        *out_len = out_cap - zs->avail_out;
        return 0;
    }
#endif
    z_stream *zs = &g->zs;
    if (deflateReset(zs) != Z_OK)
        return -1;
    /* zlib declares next_in without const but only reads through it. */
    memcpy(&zs->next_in, &in, sizeof in);
    zs->avail_in = (uInt)len;
    zs->next_out = out;
    zs->avail_out = (uInt)out_cap;
    if (deflate(zs, Z_FINISH) != Z_STREAM_END)
        return -1;
    *out_len = out_cap - zs->avail_out;
    return 0;
}

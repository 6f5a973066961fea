/*
 * \summary: wht module - Walsh-Hadamard coefficients of the payload bytes
 *
 * Option wht=1.  Each packet's captured payload (the packets the core
 * counts: TCP retransmissions only with retrans=1) is cut into 4-byte
 * blocks d0 d1 d2 d3 from its first byte, the last block padded with
 * zeros; each block gives the 4-point Walsh-Hadamard transform
 *   X0 = d0+d1+d2+d3   X1 = d0-d1+d2-d3   X2 = d0+d1-d2-d3   X3 = d0-d1-d2+d3
 * and the output is
 *   "wht": [sum X0 / n, sum X1 / n, sum X2 / n, sum X3 / n]
 * over every block of both directions, n = the number of payload bytes
 * transformed (so the first value is the mean byte value).
 *
 * The transform is linear, so the packet path only adds each byte into one
 * of four 64-bit sums (by its offset mod 4 in the packet's payload; 16
 * bytes per step in 16-bit vector lanes on little-endian hosts); the X
 * values are formed when the record is written.  The sums cannot overflow
 * below 2^64 / 255 (about 7e16) payload bytes.  State: 40 bytes per flow
 * that carried payload.
 */
#include "flow.h"
#include "jsonw.h"
#include "module.h"
#include "packet.h"

#include <stdlib.h>
#include <string.h>

struct wht_cfg {
    bool on;
};

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
typedef uint16_t lanes16 __attribute__((vector_size(16)));
#endif

struct wht_state {
    uint64_t pos[4]; /* sum of the bytes at payload offset = i (mod 4) */
    uint64_t n;      /* payload bytes transformed */
};

static const struct joy_option wht_options[] = {
    {"wht", OPT_BOOL, offsetof(struct wht_cfg, on), 0, 1, "0", "0|1",
     "four Walsh-Hadamard coefficients of the payload bytes, 4-byte blocks (wht)"},
    {NULL, 0, 0, 0, 0, NULL, NULL, NULL},
};

static void wht_packet(const struct module_env *env, void **state, const struct flow *f,
                       const struct packet *p, int dir)
{
    (void)f;
    (void)dir;
    if (!p->payload_cap || !p->payload)
        return;
    struct wht_state *s = *state;
    if (!s) {
        s = module_calloc(env, sizeof *s);
        if (!s)
            return;
        *state = s;
    }
    const uint8_t *d = p->payload;
    size_t len = p->payload_cap, i = 0;
    uint64_t a = 0, b = 0, c = 0, e = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* 16 bytes per step in eight 16-bit lanes (a GCC/Clang vector: SSE2 on
     * x86-64): lane j of `ev` holds the bytes at offset 2j, lane j of `od`
     * those at 2j + 1, so even lanes take offsets 0 and 1 (mod 4), odd
     * lanes 2 and 3.  A lane takes at most 256 steps of 255 before it is
     * emptied. */
    while (i + 16 <= len) {
        lanes16 ev = {0}, od = {0}, ev2 = {0}, od2 = {0};
        size_t stop = len - i >= 256 * 16 ? i + 256 * 16 : i + ((len - i) & ~(size_t)15);
        /* 32 bytes per step into two pairs of sums (half the loop
         * overhead, two independent chains), then the odd 16 */
        for (; i + 32 <= stop; i += 32) {
            lanes16 x, y;
            memcpy(&x, d + i, 16);
            memcpy(&y, d + i + 16, 16);
            ev += x & 0xff;
            od += x >> 8;
            ev2 += y & 0xff;
            od2 += y >> 8;
        }
        for (; i < stop; i += 16) {
            lanes16 x;
            memcpy(&x, d + i, 16);
            ev += x & 0xff;
            od += x >> 8;
        }
        ev += ev2; /* each lane still below 256 x 255 */
        od += od2;
        for (int j = 0; j < 8; j += 2) {
            a += ev[j];
            b += od[j];
            c += ev[j + 1];
            e += od[j + 1];
        }
    }
#endif
    for (; i + 4 <= len; i += 4) {
        a += d[i];
        b += d[i + 1];
        c += d[i + 2];
        e += d[i + 3];
    }
    if (i < len)
        a += d[i];
    if (i + 1 < len)
        b += d[i + 1];
    if (i + 2 < len)
        c += d[i + 2];
    s->pos[0] += a;
    s->pos[1] += b;
    s->pos[2] += c;
    s->pos[3] += e;
    s->n += len;
}

static void wht_json(const struct module_env *env, const void *state, const struct flow *f,
                     struct jsonw *w)
{
    (void)env;
    (void)f;
    const struct wht_state *s = state;
    if (!s->n)
        return;
    int64_t s0 = (int64_t)s->pos[0], s1 = (int64_t)s->pos[1];
    int64_t s2 = (int64_t)s->pos[2], s3 = (int64_t)s->pos[3];
    int64_t x[4] = {
        s0 + s1 + s2 + s3,
        s0 - s1 + s2 - s3,
        s0 + s1 - s2 - s3,
        s0 - s1 - s2 + s3,
    };
    double n = (double)s->n;
    jw_key(w, "wht");
    jw_arr_open(w);
    for (int k = 0; k < 4; k++)
        jw_fixed(w, (double)x[k] / n, 6);
    jw_close(w);
}

const struct joy_module wht_module = {
    .name = "wht",
    .summary = "Walsh-Hadamard transform of the payload bytes",
    .options = wht_options,
    .config_size = sizeof(struct wht_cfg),
    .packet = wht_packet,
    .write_json = wht_json,
    .free_state = module_free,
};

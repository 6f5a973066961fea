/*
 * \summary: salt module - TCP sequence and acknowledgement numbers per direction
 *
 * Option salt=1.  For each TCP packet handed to the modules (retransmissions
 * only with retrans=1) whose fixed 20-byte TCP header was captured, the
 * sequence number and the acknowledgement field are kept, for the first
 * num_pkts packets of each direction, in capture order.  Output (Joy's form):
 *   "oseq": [s0, s1 - s0, s2 - s1, ...], "oack": [a0, a1 - a0, ...],
 *   "iseq": [...], "iack": [...]
 * The first value is the absolute number, every later one the difference to
 * the previous packet of the same direction, modulo 2^32 (so it is always in
 * 0 .. 4294967295; a segment that went backwards shows as a large value).
 * The ack values are the raw header field, also when the ACK flag is clear.
 * "oseq"/"oack" describe packets from sa, "iseq"/"iack" packets from da; the
 * "i" arrays are written only in bidirectional records (bidir=1), and are
 * empty when da sent nothing.  Nothing is written for non-TCP flows.
 *
 * Memory: 16 + 16 x min(num_pkts, SALT_FIRST_SLOTS) bytes per TCP flow (4
 * numbers of 4 bytes per packet slot: seq and ack, two directions),
 * allocated at the flow's first TCP packet, and enlarged once, to
 * 16 + 16 x num_pkts bytes, when a direction needs more slots.  Most flows
 * are short and every page of the heap's peak size costs a page fault, so
 * short flows only take the small block (as in ppi).  Nothing is formatted
 * per packet.
 */
#include "flow.h"
#include "jsonw.h"
#include "module.h"
#include "packet.h"

#include <stdlib.h>
#include <string.h>

#define SALT_FIRST_SLOTS 8 /* slots per direction in a flow's first block */

struct salt_cfg {
    bool on;
};

struct salt_state {
    uint32_t cap;      /* packets kept per direction */
    uint32_t room;     /* slots allocated per direction: n[d] <= room <= cap */
    uint32_t n[2];     /* packets kept so far per direction */
    uint32_t v[];      /* 2 x room pairs: v[(dir * room + i) * 2 + 0 seq / 1 ack] */
};

static const struct joy_option salt_options[] = {
    {"salt", OPT_BOOL, offsetof(struct salt_cfg, on), 0, 1, "0", "0|1",
     "TCP seq/ack numbers of the first num_pkts packets per direction (oseq, oack, iseq, iack)"},
    {NULL, 0, 0, 0, 0, NULL, NULL, NULL},
};

/* The first block is full in one direction: take the whole num_pkts slots
 * per direction, once; the "in" half moves up to its new place.  Returns
 * the new block, or NULL (the old one kept) when out of memory. */
static struct salt_state *salt_grow(const struct module_env *env, struct salt_state *s)
{
    struct salt_state *big = module_realloc(env, s, sizeof *s + (size_t)s->cap * 4 * sizeof s->v[0]);
    if (!big)
        return NULL;
    memmove(&big->v[(size_t)big->cap * 2], &big->v[(size_t)big->room * 2],
            (size_t)big->n[1] * 2 * sizeof big->v[0]);
    big->room = big->cap;
    return big;
}

static void salt_packet(const struct module_env *env, void **state, const struct flow *f,
                        const struct packet *p, int dir)
{
    (void)f;
    if (p->proto != 6 || !p->has_ports || p->l4_cap < 20)
        return;
    struct salt_state *s = *state;
    if (!s) {
        uint32_t cap = (uint32_t)env->core->num_pkts;
        if (!cap)
            return;
        uint32_t room = cap < SALT_FIRST_SLOTS ? cap : SALT_FIRST_SLOTS;
        /* values are written before they are read: only the header is cleared */
        s = module_malloc(env, sizeof *s + (size_t)room * 4 * sizeof s->v[0]);
        if (!s)
            return;
        memset(s, 0, sizeof *s);
        s->cap = cap;
        s->room = room;
        *state = s;
    }
    uint32_t i = s->n[dir];
    if (i >= s->cap)
        return;
    if (i == s->room) {
        s = salt_grow(env, s);
        if (!s)
            return;
        *state = s;
    }
    uint32_t *e = &s->v[((size_t)dir * s->room + i) * 2];
    e[0] = p->tcp_seq;
    e[1] = p->tcp_ack;
    s->n[dir] = i + 1;
}

/* key: [first absolute value, then deltas mod 2^32] of field `which`,
 * formatted in one go (the same text as jw_arr_open, jw_uint per value
 * and jw_close): each value has at most 10 digits and a comma */
static void salt_array(struct jsonw *w, const char *key, const struct salt_state *s, int dir,
                       int which)
{
    const uint32_t *v = &s->v[(size_t)dir * s->room * 2 + (uint32_t)which];
    uint32_t n = s->n[dir];
    jw_key(w, key);
    char *o = jw_raw_begin(w, (size_t)n * 11 + 2);
    if (!o)
        return;
    *o++ = '[';
    uint32_t prev = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t x = v[(size_t)i * 2];
        o = jw_fmt_uint(o, (uint32_t)(x - prev)); /* prev is 0 for the first */
        *o++ = ',';
        prev = x;
    }
    if (n)
        o--; /* the last comma */
    *o++ = ']';
    jw_raw_end(w, o);
}

static void salt_json(const struct module_env *env, const void *state, const struct flow *f,
                      struct jsonw *w)
{
    (void)f;
    const struct salt_state *s = state;
    salt_array(w, "oseq", s, 0, 0);
    salt_array(w, "oack", s, 0, 1);
    if (env->core->bidir) {
        salt_array(w, "iseq", s, 1, 0);
        salt_array(w, "iack", s, 1, 1);
    }
}

const struct joy_module salt_module = {
    .name = "salt",
    .summary = "TCP sequence and acknowledgement numbers per direction",
    .options = salt_options,
    .config_size = sizeof(struct salt_cfg),
    .interest = MI_TCP,
    .packet = salt_packet,
    .write_json = salt_json,
    .free_state = module_free,
};

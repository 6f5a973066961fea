/*
 * \summary: payload module - the first N application bytes of each direction
 *
 * Option payload=N: N = 0 is off, N = 1 means 32 (Joy's boolean form),
 * otherwise the first N payload bytes (at most 4096) of each direction are
 * kept, in the order the packets arrived (retransmissions are not passed
 * to modules unless retrans=1).  Output:
 *   "payload": {"out": "<hex>", "in": "<hex>"}
 * A direction that sent no payload is left out.  Flows that touch an
 * anonymised subnet (anon=, anon.h) get no payload: the bytes may quote
 * the real addresses.
 */
#include "anon.h"
#include "flow.h"
#include "jsonw.h"
#include "module.h"
#include "packet.h"

#include <stdlib.h>
#include <string.h>

struct payload_cfg {
    uint64_t n;
};

struct payload_state {
    uint32_t len[2];
    uint32_t cap;
    uint8_t data[]; /* 2 * cap bytes: out, then in */
};

static const struct joy_option payload_options[] = {
    {"payload", OPT_UINT, offsetof(struct payload_cfg, n), 0, 4096, "0", "N",
     "first N payload bytes of each direction as hex (1 means 32, 0 off)"},
    {NULL, 0, 0, 0, 0, NULL, NULL, NULL},
};

static uint32_t payload_bytes(const struct payload_cfg *c)
{
    return c->n == 1 ? 32 : (uint32_t)c->n;
}

static void payload_packet(const struct module_env *env, void **state, const struct flow *f,
                           const struct packet *p, int dir)
{
    if (!p->payload_cap || anon_active(f))
        return;
    uint32_t cap = payload_bytes(env->cfg);
    struct payload_state *s = *state;
    if (!s) {
        s = module_calloc(env, sizeof *s + 2 * (size_t)cap);
        if (!s)
            return;
        s->cap = cap;
        *state = s;
    }
    uint32_t room = s->cap - s->len[dir];
    if (!room)
        return;
    uint32_t n = p->payload_cap < room ? p->payload_cap : room;
    memcpy(s->data + (size_t)dir * s->cap + s->len[dir], p->payload, n);
    s->len[dir] += n;
}

static void payload_json(const struct module_env *env, const void *state, const struct flow *f,
                         struct jsonw *w)
{
    (void)env;
    (void)f;
    const struct payload_state *s = state;
    jw_key(w, "payload");
    jw_obj_open(w);
    if (s->len[0])
        jw_kv_hex(w, "out", s->data, s->len[0]);
    if (s->len[1])
        jw_kv_hex(w, "in", s->data + s->cap, s->len[1]);
    jw_close(w);
}

const struct joy_module payload_module = {
    .name = "payload",
    .summary = "first payload bytes of each direction",
    .options = payload_options,
    .config_size = sizeof(struct payload_cfg),
    .packet = payload_packet,
    .write_json = payload_json,
    .free_state = module_free,
};

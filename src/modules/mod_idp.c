/*
 * \summary: idp module - the initial data packet of each direction
 *
 * Option idp=N (1..65535; 0 off).  For each direction, the initial data
 * packet is:
 *   - TCP, when that direction's SYN (client) or SYN/ACK (server) was seen
 *     before: the segment whose sequence number is that SYN's ISN + 1 and
 *     that carries payload (or the SYN itself when it carries data, as with
 *     TCP Fast Open); a segment that arrives earlier out of order is never
 *     taken instead.  If that segment never reaches the module (lost, or
 *     classified as a retransmission by the core with retrans=0 because a
 *     later segment came first), the direction has no idp;
 *   - otherwise: the first packet of that direction with payload that
 *     starts with its transport header (not a later IP fragment).
 * Output, per direction present (out = from the client, in = from the
 * server):
 *   "idp_out": hex of its first min(N, captured IP bytes) bytes, from the
 *              first byte of the IP header (link-layer padding excluded),
 *   "idp_len_out": its IP total length from the IP header (the real
 *              length, not the captured one),
 * and the same with _in.  State: at most 2 x min(N, 65535) bytes per flow,
 * allocated when a direction's packet is found.
 *
 * Address anonymisation (anon.h): the bytes hold the real IP addresses, so
 * for a flow with anon_active(f) nothing is stored and no idp is written.
 */
#include "anon.h"
#include "flow.h"
#include "jsonw.h"
#include "module.h"
#include "packet.h"

#include <stdlib.h>
#include <string.h>

struct idp_cfg {
    uint64_t n;
};

struct idp_state {
    bool found[2];
    uint32_t ip_len[2];
    uint32_t len[2];
    uint8_t *data[2];
};

static const struct joy_option idp_options[] = {
    {"idp", OPT_UINT, offsetof(struct idp_cfg, n), 0, 65535, "0", "N",
     "first N bytes, from the IP header, of each direction's initial data packet (idp_out, idp_in)"},
    {NULL, 0, 0, 0, 0, NULL, NULL, NULL},
};

static bool is_initial(const struct flow *f, const struct packet *p, int dir)
{
    if (p->payload_len == 0 || p->frag == FRAG_LATER || !p->ip)
        return false;
    if (p->proto == 6 && f->side[dir].syn_seen) {
        if (!p->l4)
            return false;
        uint32_t isn = f->side[dir].syn_seq;
        if ((p->tcp_flags & TCP_SYN) && p->tcp_seq == isn)
            return true; /* data on the SYN itself */
        return p->tcp_seq == isn + 1;
    }
    return true;
}

static void idp_packet(const struct module_env *env, void **state, const struct flow *f,
                       const struct packet *p, int dir)
{
    struct idp_state *s = *state;
    if ((s && s->found[dir]) || anon_active(f))
        return;
    if (!is_initial(f, p, dir))
        return;
    const struct idp_cfg *c = env->cfg;
    if (!s) {
        s = module_calloc(env, sizeof *s);
        if (!s)
            return;
        *state = s;
    }
    uint32_t n = p->ip_cap < c->n ? p->ip_cap : (uint32_t)c->n;
    if (n) {
        s->data[dir] = module_malloc(env, n);
        if (!s->data[dir])
            return;
        memcpy(s->data[dir], p->ip, n);
    }
    s->len[dir] = n;
    s->ip_len[dir] = p->ip_len;
    s->found[dir] = true;
}

static void idp_json(const struct module_env *env, const void *state, const struct flow *f,
                     struct jsonw *w)
{
    (void)env;
    (void)f;
    const struct idp_state *s = state;
    if (s->found[0]) {
        jw_kv_hex(w, "idp_out", s->data[0], s->len[0]);
        jw_kv_uint(w, "idp_len_out", s->ip_len[0]);
    }
    if (s->found[1]) {
        jw_kv_hex(w, "idp_in", s->data[1], s->len[1]);
        jw_kv_uint(w, "idp_len_in", s->ip_len[1]);
    }
}

static void idp_free(void *state)
{
    struct idp_state *s = state;
    if (!s)
        return;
    module_free(s->data[0]);
    module_free(s->data[1]);
    module_free(s);
}

const struct joy_module idp_module = {
    .name = "idp",
    .summary = "initial data packet of each direction",
    .options = idp_options,
    .config_size = sizeof(struct idp_cfg),
    .packet = idp_packet,
    .write_json = idp_json,
    .free_state = idp_free,
};

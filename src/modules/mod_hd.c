/*
 * \summary: hd module - header description of the client's first TCP payloads
 *
 * Option hd=N (1..32; 0 off).  The "headers" are the first N payload bytes
 * of the first HD_MAX_HEADERS (10) TCP packets sent by the client (dir 0,
 * "out") that carry at least N captured payload bytes, in arrival order
 * (TCP retransmissions are not seen unless retrans=1; shorter packets are
 * skipped).  With h_1 .. h_n those headers (n >= 2):
 *   "n":  n, the number of headers used (2..10);
 *   "cm": constant mask, per byte k: the bits equal in every header,
 *         NOT OR_j (h_j[k] XOR h_1[k]);
 *   "cv": constant value, h_1[k] AND cm[k];
 *   "sm": sequence mask, per byte k: ff when, for every j >= 2,
 *         (h_j[k] - h_{j-1}[k]) mod 256 is 0 or 1 and it is 1 at least
 *         once (a byte that counts up by one, or the higher byte of such a
 *         big-endian counter), else 00;
 *   "i":  h_1, the first header;
 * each as N bytes of lowercase hex.  Nothing is written for fewer than 2
 * headers.  State: about 170 bytes per TCP flow whose client sent a header.
 * Address anonymisation (anon.h): "i" and "cv" are payload bytes verbatim
 * (they may quote an address), so flows with anon_active(f) get no hd.
 */
#include "anon.h"
#include "flow.h"
#include "jsonw.h"
#include "module.h"
#include "packet.h"

#include <stdlib.h>
#include <string.h>

#define HD_MAX 32
#define HD_MAX_HEADERS 10

struct hd_cfg {
    uint64_t n;
};

struct hd_state {
    uint32_t n;                 /* headers seen */
    uint8_t first[HD_MAX];
    uint8_t prev[HD_MAX];
    uint8_t cm[HD_MAX];
    uint8_t step_ok[HD_MAX];    /* every difference so far was 0 or 1 */
    uint8_t step_one[HD_MAX];   /* some difference was 1 */
};

static const struct joy_option hd_options[] = {
    {"hd", OPT_UINT, offsetof(struct hd_cfg, n), 0, HD_MAX, "0", "N",
     "header description of the first N (1-32) bytes of the client's first TCP payloads (hd)"},
    {NULL, 0, 0, 0, 0, NULL, NULL, NULL},
};

static void hd_packet(const struct module_env *env, void **state, const struct flow *f,
                      const struct packet *p, int dir)
{
    const struct hd_cfg *c = env->cfg;
    uint32_t len = (uint32_t)c->n;
    if (dir != 0 || p->proto != 6 || !p->l4 || !p->payload || p->payload_cap < len ||
        anon_active(f))
        return;
    struct hd_state *s = *state;
    if (s && s->n >= HD_MAX_HEADERS)
        return;
    if (!s) {
        s = module_calloc(env, sizeof *s);
        if (!s)
            return;
        *state = s;
        memcpy(s->first, p->payload, len);
        memcpy(s->prev, p->payload, len);
        memset(s->cm, 0xff, len);
        memset(s->step_ok, 1, len);
        s->n = 1;
        return;
    }
    const uint8_t *h = p->payload;
    for (uint32_t k = 0; k < len; k++) {
        s->cm[k] &= (uint8_t)~(h[k] ^ s->first[k]);
        uint8_t diff = (uint8_t)(h[k] - s->prev[k]);
        if (diff > 1)
            s->step_ok[k] = 0;
        else if (diff == 1)
            s->step_one[k] = 1;
        s->prev[k] = h[k];
    }
    s->n++;
}

static void hd_json(const struct module_env *env, const void *state, const struct flow *f,
                    struct jsonw *w)
{
    (void)f;
    const struct hd_cfg *c = env->cfg;
    const struct hd_state *s = state;
    if (s->n < 2)
        return;
    uint32_t len = (uint32_t)c->n;
    uint8_t cv[HD_MAX], sm[HD_MAX];
    for (uint32_t k = 0; k < len; k++) {
        cv[k] = s->first[k] & s->cm[k];
        sm[k] = (s->step_ok[k] && s->step_one[k]) ? 0xff : 0x00;
    }
    jw_key(w, "hd");
    jw_obj_open(w);
    jw_kv_uint(w, "n", s->n);
    jw_kv_hex(w, "cm", s->cm, len);
    jw_kv_hex(w, "cv", cv, len);
    jw_kv_hex(w, "sm", sm, len);
    jw_kv_hex(w, "i", s->first, len);
    jw_close(w);
}

const struct joy_module hd_module = {
    .name = "hd",
    .summary = "header description of the client's first TCP payloads",
    .options = hd_options,
    .config_size = sizeof(struct hd_cfg),
    .interest = MI_TCP,
    .packet = hd_packet,
    .write_json = hd_json,
    .free_state = module_free,
};

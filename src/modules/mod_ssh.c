/*
 * \summary: ssh module - SSH banners, KEXINIT algorithm lists, negotiated
 * key exchange, host key, key exchange values, HASSH/HASSHServer
 *
 * Option ssh=1.  A TCP flow is SSH when the first bytes of a direction's
 * stream start with "SSH-" (any port; a server may send other lines
 * before its banner, up to MAX_PRE lines).  Each direction has a
 * reassembler (reasm.h): the banner line is read, then SSH binary packets
 * (RFC 4253 section 6) until the direction's NEWKEYS (after which every
 * packet is encrypted and reassembly of the direction stops).  Kept: the
 * banner, the first KEXINIT payload and the first payload of each key
 * exchange message type 30..34 (each at most MSG_CAP bytes), the number of
 * packets seen before NEWKEYS.  Everything is interpreted in write_json.
 * A direction ends early on a packet length that is not plausible
 * (less than 5 or more than MAX_PKT), on an SSH-1 banner (its binary
 * protocol is not parsed), on a reassembly gap, or after MAX_UNENC packets
 * without NEWKEYS.
 *
 * Per-flow memory: the state (~200 bytes) on detection, the kept messages
 * (a KEXINIT is typically 1-2 KB; at most 6 x MSG_CAP per direction), the
 * reassembly buffers (at most REASM_CAP per direction, one packet at most,
 * while the handshake lasts).
 */
#include "cursor.h"
#include "flow.h"
#include "jsonw.h"
#include "module.h"
#include "packet.h"
#include "reasm.h"

#include <openssl/evp.h>
#include <openssl/err.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BANNER_MAX 255   /* banner bytes kept (RFC 4253 4.2: at most 255 with CR LF) */
#define LINE_MAX_SSH 1024/* a line before the banner longer than this ends the direction */
#define MAX_PRE 16       /* lines a server may send before its banner */
#define MAX_PKT 65000    /* the largest packet_length accepted */
#define MSG_CAP 16384    /* bytes kept per message */
#define MAX_UNENC 64     /* packets read before NEWKEYS at most */
#define REASM_CAP 65536

#define MSG_KEXINIT 20
#define MSG_NEWKEYS 21

struct ssh_cfg {
    bool on;
};

static const struct joy_option ssh_options[] = {
    {"ssh", OPT_BOOL, offsetof(struct ssh_cfg, on), 0, 1, "0", "0|1",
     "SSH banners, KEXINIT lists, key exchange, host key, HASSH (any TCP port)"},
    {NULL, 0, 0, 0, 0, NULL, NULL, NULL},
};

enum phase { PH_BANNER, PH_PKT, PH_END };

struct ssh_side {
    struct reasm rs;
    uint8_t phase;
    uint8_t npre;       /* lines before the banner */
    bool newkeys;
    bool skip_line;
    uint8_t banner_len;
    uint32_t unenc;     /* binary packets seen before NEWKEYS */
    char banner[BANNER_MAX];
    uint8_t *kexinit;
    uint32_t kexinit_len;
    uint8_t *kex[5];    /* message types 30..34 */
    uint32_t kex_len[5];
};

struct ssh_flow {
    struct ssh_side s[2];
};

static uint8_t *copy_of(const uint8_t *p, size_t n)
{
    uint8_t *c = malloc(n ? n : 1);
    if (c && n)
        memcpy(c, p, n);
    return c;
}

/* Does p[0..n) begin with (a prefix of) "SSH-"?  1 yes, 0 no, -1 too short. */
static int ssh_prefix(const uint8_t *p, size_t n)
{
    static const char m[] = "SSH-";
    for (size_t i = 0; i < 4; i++) {
        if (i == n)
            return -1;
        if (p[i] != (uint8_t)m[i])
            return 0;
    }
    return 1;
}

static void packet_payload(struct ssh_side *s, const uint8_t *p, size_t n)
{
    if (n == 0)
        return;
    uint8_t t = p[0];
    size_t keep = n < MSG_CAP ? n : MSG_CAP;
    if (t == MSG_KEXINIT && !s->kexinit) {
        s->kexinit = copy_of(p, keep);
        s->kexinit_len = s->kexinit ? (uint32_t)keep : 0;
    } else if (t >= 30 && t <= 34 && !s->kex[t - 30]) {
        s->kex[t - 30] = copy_of(p, keep);
        s->kex_len[t - 30] = s->kex[t - 30] ? (uint32_t)keep : 0;
    } else if (t == MSG_NEWKEYS) {
        s->newkeys = true;
    }
}

static size_t consume(void *ctx, const uint8_t *data, size_t len, uint64_t ts)
{
    (void)ts;
    struct ssh_side *s = ctx;
    size_t i = 0;
    while (s->phase != PH_END) {
        const uint8_t *p = data + i;
        size_t n = len - i;
        if (s->skip_line) {
            /* the rest of an over-long line (before or in the banner) */
            const uint8_t *lf = n ? memchr(p, '\n', n) : NULL;
            if (!lf)
                return len;
            s->skip_line = false;
            i += (size_t)(lf - p) + 1;
            continue;
        }
        if (s->phase == PH_BANNER) {
            if (n == 0)
                return i;
            const uint8_t *lf = memchr(p, '\n', n);
            size_t ll = lf ? (size_t)(lf - p) : n;
            if (!lf && ll < LINE_MAX_SSH)
                return i;
            size_t keep = ll;
            if (lf && keep > 0 && p[keep - 1] == '\r')
                keep--;
            if (ssh_prefix(p, keep) == 1) {
                s->banner_len = (uint8_t)(keep < BANNER_MAX ? keep : BANNER_MAX);
                memcpy(s->banner, p, s->banner_len);
                if (keep >= 8 && memcmp(p, "SSH-1.", 6) == 0 && memcmp(p, "SSH-1.99", 8) != 0) {
                    s->phase = PH_END; /* SSH-1 only */
                    break;
                }
                s->phase = PH_PKT;
            } else if (++s->npre > MAX_PRE) {
                s->phase = PH_END;
                break;
            }
            if (!lf) {
                s->skip_line = true;
                return len;
            }
            i += ll + 1;
            continue;
        }
        /* PH_PKT */
        if (n < 5)
            return i;
        uint32_t plen = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
        uint8_t pad = p[4];
        if (plen < 5 || plen > MAX_PKT || pad >= plen) {
            s->phase = PH_END;
            break;
        }
        if (n < 4 + (size_t)plen)
            return i;
        s->unenc++;
        packet_payload(s, p + 5, plen - 1 - pad);
        i += 4 + (size_t)plen;
        if (s->newkeys || s->unenc >= MAX_UNENC)
            s->phase = PH_END;
    }
    return REASM_STOP;
}

static struct ssh_flow *ssh_new(const struct flow *f, int dir, uint32_t start)
{
    struct ssh_flow *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    for (int d = 0; d < 2; d++) {
        struct ssh_side *s = &h->s[d];
        reasm_init(&s->rs, REASM_CAP);
        s->phase = PH_BANNER;
        reasm_start_side(&s->rs, &f->side[d], d == dir, start);
    }
    return h;
}

static void ssh_packet(const struct module_env *env, void **state, const struct flow *f,
                       const struct packet *p, int dir)
{
    (void)env;
    if (p->proto != 6 || !p->l4)
        return;
    struct ssh_flow *h = *state;
    if (!h) {
        if (!p->payload_cap)
            return;
        uint32_t seq;
        if (!reasm_first_data(&f->side[dir], p, &seq))
            return; /* only the stream's first bytes can start SSH */
        if (ssh_prefix(p->payload, p->payload_cap) != 1)
            return;
        h = ssh_new(f, dir, seq);
        if (!h)
            return;
        *state = h;
    }
    struct ssh_side *s = &h->s[dir];
    if (s->phase == PH_END || !reasm_running(&s->rs))
        return;
    reasm_feed(&s->rs, p->tcp_seq, (p->tcp_flags & TCP_SYN) != 0, p->payload, p->payload_cap,
               p->payload_len, p->ts, consume, s);
    if (!reasm_running(&s->rs) || s->phase == PH_END) {
        reasm_stop(&s->rs);
        reasm_free(&s->rs);
    }
}

/* ---- output ------------------------------------------------------------------ */

#define NLISTS 10
static const char *const list_key[NLISTS] = {
    "kex_algos",       "s_host_key_algos", "c_encryption_algos", "s_encryption_algos",
    "c_mac_algos",     "s_mac_algos",      "c_comp_algos",       "s_comp_algos",
    "c_languages",     "s_languages",
};

struct kexinit {
    const uint8_t *cookie;
    const uint8_t *list[NLISTS];
    uint32_t list_len[NLISTS];
    bool first_follows;
};

static bool parse_kexinit(const uint8_t *p, size_t n, struct kexinit *k)
{
    struct cursor c;
    cur_init(&c, p, n);
    memset(k, 0, sizeof *k);
    cur_u8(&c);
    if (!cur_need(&c, 16))
        return false;
    k->cookie = c.p;
    c.p += 16;
    for (int i = 0; i < NLISTS; i++) {
        uint32_t l = cur_u32(&c);
        if (!cur_need(&c, l))
            return false;
        k->list[i] = c.p;
        k->list_len[i] = l;
        c.p += l;
    }
    k->first_follows = cur_u8(&c) != 0;
    return true; /* the reserved field may be missing: not needed */
}

/* The next SSH string (u32 length + bytes); false if it does not fit. */
static bool get_string(struct cursor *c, const uint8_t **s, uint32_t *n)
{
    uint32_t l = cur_u32(c);
    if (!cur_need(c, l))
        return false;
    *s = c->p;
    *n = l;
    c->p += l;
    return true;
}

/* Is the name nm (n bytes) in the comma-separated list? */
static bool in_list(const uint8_t *l, size_t ln, const uint8_t *nm, size_t n)
{
    size_t i = 0;
    while (i <= ln) {
        size_t j = i;
        while (j < ln && l[j] != ',')
            j++;
        if (j - i == n && memcmp(l + i, nm, n) == 0)
            return true;
        i = j + 1;
    }
    return false;
}

/* RFC 4253 7.1: the first client algorithm that the server also offers. */
static bool negotiate(const uint8_t *c, size_t cn, const uint8_t *s, size_t sn,
                      const uint8_t **out, size_t *on)
{
    size_t i = 0;
    while (i < cn) {
        size_t j = i;
        while (j < cn && c[j] != ',')
            j++;
        if (j > i && in_list(s, sn, c + i, j - i)) {
            *out = c + i;
            *on = j - i;
            return true;
        }
        i = j + 1;
    }
    return false;
}

static void hassh(struct jsonw *w, const struct kexinit *k, bool server)
{
    int idx[4] = {0, server ? 3 : 2, server ? 5 : 4, server ? 7 : 6};
    size_t n = 3;
    for (int i = 0; i < 4; i++)
        n += k->list_len[idx[i]];
    uint8_t *b = malloc(n);
    if (!b)
        return;
    size_t o = 0;
    for (int i = 0; i < 4; i++) {
        if (i)
            b[o++] = ';';
        memcpy(b + o, k->list[idx[i]], k->list_len[idx[i]]);
        o += k->list_len[idx[i]];
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int ml = 0;
    if (EVP_Digest(b, o, md, &ml, EVP_md5(), NULL) && ml == 16) {
        jw_kv_hex(w, server ? "hassh_server" : "hassh", md, 16);
        jw_kv_str(w, server ? "hassh_server_algorithms" : "hassh_algorithms", b, o);
    } else {
        ERR_clear_error();
    }
    free(b);
}

/* A blob that starts with a string naming its type (host key, signature). */
static void typed_blob(struct jsonw *w, const char *tkey, const char *bkey, const uint8_t *p,
                       uint32_t n)
{
    struct cursor c;
    cur_init(&c, p, n);
    const uint8_t *t;
    uint32_t tn;
    if (get_string(&c, &t, &tn))
        jw_kv_str(w, tkey, t, tn);
    jw_kv_hex(w, bkey, p, n);
}

static void write_side(const struct ssh_flow *h, int d, const struct kexinit *k, bool have_k,
                       const uint8_t *kex, size_t kexn, bool gex, struct jsonw *w)
{
    const struct ssh_side *s = &h->s[d];
    jw_key(w, d == 0 ? "cli" : "srv");
    jw_obj_open(w);
    if (s->banner_len)
        jw_kv_str(w, "protocol", s->banner, s->banner_len);
    if (have_k) {
        jw_kv_hex(w, "cookie", k->cookie, 16);
        for (int i = 0; i < NLISTS; i++)
            jw_kv_str(w, list_key[i], k->list[i], k->list_len[i]);
        jw_kv_bool(w, "first_kex_follows", k->first_follows);
    }
    if (kex)
        jw_kv_str(w, "kex_algo", kex, kexn);
    struct cursor c;
    const uint8_t *a, *b;
    uint32_t an, bn;
    if (d == 0) {
        /* e or Q_C: 30 (KEXDH_INIT / KEX_ECDH_INIT) or 32 (GEX_INIT) */
        int t = gex ? 32 - 30 : 0;
        if (s->kex[t]) {
            cur_init(&c, s->kex[t] + 1, s->kex_len[t] - 1);
            if (get_string(&c, &a, &an))
                jw_kv_hex(w, "c_kex", a, an);
        }
    } else {
        if (gex && s->kex[1]) { /* GEX_GROUP: p, g */
            cur_init(&c, s->kex[1] + 1, s->kex_len[1] - 1);
            if (get_string(&c, &a, &an) && get_string(&c, &b, &bn)) {
                jw_kv_hex(w, "s_gex_p", a, an);
                jw_kv_hex(w, "s_gex_g", b, bn);
            }
        }
        int t = gex ? 33 - 30 : 1; /* GEX_REPLY or KEXDH_REPLY / KEX_ECDH_REPLY */
        if (s->kex[t]) {
            cur_init(&c, s->kex[t] + 1, s->kex_len[t] - 1);
            if (get_string(&c, &a, &an)) {
                typed_blob(w, "s_hostkey_type", "s_hostkey", a, an);
                if (get_string(&c, &b, &bn)) {
                    jw_kv_hex(w, "s_kex", b, bn);
                    const uint8_t *g;
                    uint32_t gn;
                    if (get_string(&c, &g, &gn))
                        typed_blob(w, "s_signature_type", "s_signature", g, gn);
                }
            }
        }
    }
    jw_kv_bool(w, "newkeys", s->newkeys);
    jw_kv_uint(w, "unencrypted", s->unenc);
    if (have_k)
        hassh(w, k, d == 1);
    jw_close(w);
}

static void ssh_write_json(const struct module_env *env, const void *state, const struct flow *f,
                           struct jsonw *w)
{
    (void)env;
    (void)f;
    const struct ssh_flow *h = state;
    if (!h->s[0].banner_len && !h->s[1].banner_len)
        return;
    struct kexinit k[2];
    bool have[2];
    for (int d = 0; d < 2; d++)
        have[d] = h->s[d].kexinit && parse_kexinit(h->s[d].kexinit, h->s[d].kexinit_len, &k[d]);
    const uint8_t *kex = NULL;
    size_t kexn = 0;
    if (have[0] && have[1])
        negotiate(k[0].list[0], k[0].list_len[0], k[1].list[0], k[1].list_len[0], &kex, &kexn);
    static const char gex_name[] = "diffie-hellman-group-exchange-";
    bool gex;
    if (kex)
        gex = kexn >= sizeof gex_name - 1 && memcmp(kex, gex_name, sizeof gex_name - 1) == 0;
    else
        gex = h->s[1].kex[3] != NULL || h->s[0].kex[2] != NULL;
    jw_key(w, "ssh");
    jw_obj_open(w);
    for (int d = 0; d < 2; d++)
        write_side(h, d, &k[d], have[d], d == 1 ? kex : NULL, kexn, gex, w);
    jw_close(w);
}

static void ssh_free(void *state)
{
    struct ssh_flow *h = state;
    if (!h)
        return;
    for (int d = 0; d < 2; d++) {
        reasm_free(&h->s[d].rs);
        free(h->s[d].kexinit);
        for (int i = 0; i < 5; i++)
            free(h->s[d].kex[i]);
    }
    free(h);
}

const struct joy_module ssh_module = {
    .name = "ssh",
    .summary = "SSH handshake: banners, KEXINIT lists, key exchange, host key, HASSH",
    .options = ssh_options,
    .config_size = sizeof(struct ssh_cfg),
    .interest = MI_TCP,
    .packet = ssh_packet,
    .write_json = ssh_write_json,
    .free_state = ssh_free,
    .sees_retrans = true,
};

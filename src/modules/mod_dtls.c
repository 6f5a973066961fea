/*
 * \summary: dtls module - DTLS 1.0/1.2/1.3 ClientHello and ServerHello over
 * UDP (RFC 6347 4.1-4.2, RFC 9147 4 and 5)
 *
 * On with tls=1 (the default dtls=2 follows the tls switch); dtls=1 turns
 * it on without tls, dtls=0 off.  A UDP flow is DTLS when a datagram of
 * either side starts with a DTLSPlaintext record (13-byte header: content
 * type 22, version 0xfeff / 0xfefd / 0xfefc, epoch 0, 48-bit sequence
 * number, length that fits) holding a handshake fragment of a ClientHello
 * (1), ServerHello (2) or HelloVerifyRequest (3).  Any port.
 *
 * Every epoch-0 handshake record of the first DTLS_MAX_PKTS datagrams of a
 * direction is read; its fragments (12-byte header: msg_type, length,
 * message_seq, fragment_offset, fragment_length) are placed by offset into
 * one message buffer per direction (at most DTLS_MSG_CAP bytes; out of
 * order, overlapping and repeated fragments allowed).  The first whole
 * ClientHello (client side) and ServerHello (server side) are kept; a
 * HelloVerifyRequest is noted.  A unified-header (DTLS 1.3 ciphertext)
 * record or a record of another epoch ends the datagram.  Parsing and
 * formatting happen in write_json, with tls_parse.h, into the "tls" object
 * (a UDP flow is never a TCP TLS flow, so the key is shared with the tls
 * module) with the same fields; fingerprints use JA4 transport 'd'.
 *
 * Per-flow memory: the state (~100 bytes) on detection, then one message
 * buffer per direction of the message's length (at most 16 KiB).
 */
#include "cursor.h"
#include "flow.h"
#include "jsonw.h"
#include "module.h"
#include "packet.h"
#include "tls_parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DTLS_MSG_CAP 16384 /* largest hello reassembled */
#define DTLS_MAX_PKTS 32   /* datagrams per direction looked at */
#define DTLS_RANGES 16     /* disjoint fragment ranges tracked */

enum dtls_mode { DTLS_OFF, DTLS_ON, DTLS_AS_TLS };

struct dtls_cfg {
    uint64_t mode; /* enum dtls_mode */
};

static const struct joy_option dtls_options[] = {
    {"dtls", OPT_UINT, offsetof(struct dtls_cfg, mode), DTLS_OFF, DTLS_AS_TLS, "2", "0|1|2",
     "DTLS 1.0/1.2/1.3 ClientHello/ServerHello over UDP (fields as tls), any port: "
     "0 off, 1 on, 2 as tls="},
    {NULL, 0, 0, 0, 0, NULL, NULL, NULL},
};

struct drange {
    uint32_t lo, hi;
};

struct dtls_side {
    uint8_t *buf;       /* the message body being reassembled, then the kept hello */
    uint32_t len;       /* its length (from the handshake header) */
    uint16_t seq;       /* its message_seq */
    uint8_t type;       /* its msg_type (0: none yet) */
    uint8_t n_ranges;
    struct drange r[DTLS_RANGES];
    bool done;          /* the hello is whole */
    bool lost;          /* a fragment did not fit (cap, ranges) */
    uint32_t pkts;
    uint16_t rec_version; /* of the first handshake record */
};

struct dtls_flow {
    uint8_t cli_dir;    /* the side that sent the ClientHello */
    bool role_known;
    bool hvr;           /* HelloVerifyRequest seen */
    struct dtls_side s[2]; /* indexed by role: 0 client, 1 server */
};

extern const struct joy_module tls_module;

/* dtls=2 (the default) follows the tls module's own switch. */
static bool dtls_enabled(const void *cfg, const struct joy_config *core)
{
    uint64_t mode = ((const struct dtls_cfg *)cfg)->mode;
    if (mode == DTLS_AS_TLS)
        return module_is_enabled(&tls_module, module_config(core, &tls_module), core);
    return mode == DTLS_ON;
}

/* Per meter: the digests of the fingerprints (tls_parse.h). */
static int dtls_worker_init(const struct module_env *env, void **scratch, char *err,
                     size_t errlen)
{
    (void)env;
    *scratch = tls_ctx_new();
    if (!*scratch) {
        snprintf(err, errlen, "dtls: cannot set up OpenSSL (out of memory?)");
        return -1;
    }
    return 0;
}

static void dtls_worker_free(void *scratch) { tls_ctx_free(scratch); }

static bool dtls_version(uint16_t v) { return v == 0xfeff || v == 0xfefd || v == 0xfefc; }

/* msg_type of the first fragment if the datagram starts like DTLS, else 0 */
static uint8_t looks_dtls(const uint8_t *p, size_t n)
{
    struct cursor c;
    cur_init(&c, p, n);
    uint8_t type = cur_u8(&c);
    uint16_t version = cur_u16(&c), epoch = cur_u16(&c);
    cur_skip(&c, 6); /* sequence number */
    uint16_t len = cur_u16(&c);
    uint8_t t = cur_u8(&c); /* msg_type of the first fragment */
    if (n < 13 + 12 || !cur_ok(&c) || type != TLS_CT_HANDSHAKE || !dtls_version(version) ||
        epoch != 0 || len < 12 || len > n - 13)
        return 0;
    return t >= 1 && t <= 3 ? t : 0;
}

static bool add_range(struct dtls_side *s, uint32_t lo, uint32_t hi)
{
    struct drange nr = {lo, hi}, out[DTLS_RANGES + 1];
    uint8_t n = 0;
    bool placed = false;
    for (uint8_t i = 0; i < s->n_ranges; i++) {
        struct drange c = s->r[i];
        if (c.hi < nr.lo) {
            out[n++] = c;
        } else if (nr.hi < c.lo) {
            if (!placed) {
                out[n++] = nr;
                placed = true;
            }
            out[n++] = c;
        } else {
            if (c.lo < nr.lo)
                nr.lo = c.lo;
            if (c.hi > nr.hi)
                nr.hi = c.hi;
        }
    }
    if (!placed)
        out[n++] = nr;
    if (n > DTLS_RANGES)
        return false;
    memcpy(s->r, out, n * sizeof out[0]);
    s->n_ranges = n;
    return true;
}

static void fragment(struct dtls_side *s, uint8_t type, uint32_t len, uint16_t seq, uint32_t off,
                     const uint8_t *d, uint32_t flen)
{
    if (s->done)
        return;
    if (len > DTLS_MSG_CAP) {
        s->lost = true;
        return;
    }
    if (s->type != type || s->seq != seq || s->len != len || !s->buf) {
        if (s->type && s->buf && s->seq == seq && s->type == type)
            return; /* same message, a length that lies: keep the first */
        uint8_t *nb = realloc(s->buf, len ? len : 1);
        if (!nb)
            return;
        s->buf = nb;
        s->type = type;
        s->seq = seq;
        s->len = len;
        s->n_ranges = 0;
    }
    if (off > len || flen > len - off) {
        s->lost = true;
        return;
    }
    memcpy(s->buf + off, d, flen);
    if (!add_range(s, off, off + flen)) {
        s->lost = true;
        return;
    }
    if (len == 0 || (s->n_ranges == 1 && s->r[0].lo == 0 && s->r[0].hi == len))
        s->done = true;
}

static void dtls_datagram(struct dtls_flow *t, int dir, const uint8_t *p, size_t n)
{
    struct cursor c;
    cur_init(&c, p, n);
    while (cur_left(&c) >= 13) {
        uint8_t ct = cur_u8(&c);
        uint16_t ver = cur_u16(&c);
        uint16_t epoch = cur_u16(&c);
        cur_skip(&c, 6);
        uint16_t len = cur_u16(&c);
        struct cursor rec = cur_sub(&c, len);
        if (!cur_ok(&c) || (ct & 0xe0) == 0x20 || !dtls_version(ver))
            return; /* cut short, a DTLS 1.3 unified header, or not DTLS */
        if (ct != TLS_CT_HANDSHAKE || epoch != 0)
            continue;
        while (cur_left(&rec) >= 12) {
            uint8_t type = cur_u8(&rec);
            uint32_t mlen = cur_u24(&rec);
            uint16_t seq = cur_u16(&rec);
            uint32_t off = cur_u24(&rec);
            uint32_t flen = cur_u24(&rec);
            const uint8_t *d = cur_bytes(&rec, flen);
            if (!d)
                break;
            if (type == 3) { /* HelloVerifyRequest: from the server */
                t->hvr = true;
                if (!t->role_known) {
                    t->role_known = true;
                    t->cli_dir = (uint8_t)!dir;
                }
                continue;
            }
            if (type != TLS_HS_CLIENT_HELLO && type != TLS_HS_SERVER_HELLO)
                continue;
            if (!t->role_known) {
                t->role_known = true;
                t->cli_dir = (uint8_t)(type == TLS_HS_CLIENT_HELLO ? dir : !dir);
            }
            int role = dir == t->cli_dir ? 0 : 1;
            if ((role == 0) != (type == TLS_HS_CLIENT_HELLO))
                continue; /* a hello from the wrong side */
            struct dtls_side *s = &t->s[role];
            if (!s->rec_version)
                s->rec_version = ver;
            fragment(s, type, mlen, seq, off, d, flen);
        }
    }
}

static void dtls_packet(const struct module_env *env, void **state, const struct flow *f,
                        const struct packet *p, int dir)
{
    (void)env;
    (void)f;
    if (p->proto != 17 || !p->payload_cap)
        return;
    struct dtls_flow *t = *state;
    if (!t) {
        if (!looks_dtls(p->payload, p->payload_cap))
            return;
        t = calloc(1, sizeof *t);
        if (!t)
            return;
        *state = t;
    }
    /* count per direction of the wire */
    struct dtls_side *cnt = &t->s[t->role_known ? (dir == t->cli_dir ? 0 : 1) : dir];
    if (t->s[0].done && t->s[1].done)
        return;
    if (++cnt->pkts > DTLS_MAX_PKTS)
        return;
    dtls_datagram(t, dir, p->payload, p->payload_cap);
}

static const struct tls_hello *parse_side(const struct dtls_side *s, uint8_t type,
                                          struct tls_hello *h)
{
    if (!s->buf || s->type != type)
        return NULL;
    uint32_t have = s->done ? s->len : (s->n_ranges && s->r[0].lo == 0 ? s->r[0].hi : 0);
    if (!have || tls_parse_hello(h, type, s->buf, have, true) != 0)
        return NULL;
    return h;
}

static void dtls_json(const struct module_env *env, const void *state, const struct flow *f,
                      struct jsonw *w)
{
    (void)env;
    (void)f;
    const struct dtls_flow *t = state;
    struct tls_hello chb, shb;
    const struct tls_hello *ch = parse_side(&t->s[0], TLS_HS_CLIENT_HELLO, &chb);
    const struct tls_hello *sh = parse_side(&t->s[1], TLS_HS_SERVER_HELLO, &shb);
    jw_key(w, "tls");
    jw_obj_open(w);
    tls_json_versions(w, ch, sh);
    tls_json_hellos(w, ch, sh);
    tls_json_extras(w, ch, sh);
    jw_kv_cstr(w, "transport", "dtls");
    if (t->hvr)
        jw_kv_bool(w, "hello_verify", true);
    const char *why[2] = {NULL, NULL};
    for (int r = 0; r < 2; r++) {
        const struct dtls_side *s = &t->s[r];
        if (s->lost)
            why[r] = "cap";
        else if (s->buf && !s->done)
            why[r] = "truncated";
    }
    if (why[0] || why[1]) {
        jw_key(w, "incomplete");
        jw_obj_open(w);
        if (why[0])
            jw_kv_cstr(w, "out", why[0]);
        if (why[1])
            jw_kv_cstr(w, "in", why[1]);
        jw_close(w);
    }
    jw_close(w);
}

static void dtls_fingerprints(const struct module_env *env, const void *state, const struct flow *f,
                              struct jsonw *w, int dir)
{
    (void)f;
    const struct dtls_flow *t = state;
    struct tls_hello hb;
    if (!t->role_known || !t->s[dir == t->cli_dir ? 0 : 1].done)
        return; /* fingerprints only from whole hellos */
    if (dir == t->cli_dir) {
        const struct tls_hello *ch = parse_side(&t->s[0], TLS_HS_CLIENT_HELLO, &hb);
        if (ch) {
            tls_json_client_fingerprints(w, ch, 'd', env->scratch);
            tls_json_partial(w, ch, NULL);
        }
    } else {
        const struct tls_hello *sh = parse_side(&t->s[1], TLS_HS_SERVER_HELLO, &hb);
        if (sh) {
            tls_json_server_fingerprints(w, sh, env->scratch);
            tls_json_partial(w, NULL, sh);
        }
    }
}

static void dtls_free(void *state)
{
    struct dtls_flow *t = state;
    if (!t)
        return;
    free(t->s[0].buf);
    free(t->s[1].buf);
    free(t);
}

const struct joy_module dtls_module = {
    .name = "dtls",
    .summary = "DTLS ClientHello/ServerHello over UDP into \"tls\", JA4 (d)",
    .options = dtls_options,
    .config_size = sizeof(struct dtls_cfg),
    .interest = MI_UDP,
    .enabled = dtls_enabled,
    .worker_init = dtls_worker_init,
    .worker_free = dtls_worker_free,
    .packet = dtls_packet,
    .write_json = dtls_json,
    .free_state = dtls_free,
    .write_fingerprints = dtls_fingerprints,
};

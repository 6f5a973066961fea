/*
 * \summary: quic module - QUIC Initial packets decrypted: version,
 * connection IDs, the ClientHello and ServerHello (RFC 9000, 9001, 9369)
 *
 * Option quic=1.  A UDP flow is QUIC when a datagram starts with a long
 * header Initial packet of a version whose Initial keys are public (v1
 * 0x00000001, v2 0x6b3343cf, draft-29 0xff00001d) with a Destination
 * Connection ID of 8..20 bytes; its sender is the QUIC client.  Any port.
 *
 * Per datagram, every coalesced long-header packet is walked; Initial
 * packets are unprotected (quic_crypto.h) with the keys derived from the
 * client's first DCID (or, after a Retry, the Retry's SCID), using the
 * packet's own version (a server may answer v1 in v2, RFC 9368).  Their
 * frames are read: PADDING, PING, ACK, CRYPTO and CONNECTION_CLOSE; any
 * other frame ends the packet.  CRYPTO data is placed by offset into a
 * per-direction buffer (out of order and overlapping allowed), at most
 * QUIC_CRYPTO_CAP bytes; once the first handshake message of a direction
 * (ClientHello / ServerHello) is whole, that direction is done.  When both
 * are done (or after QUIC_MAX_PKTS datagrams per direction) nothing more
 * is decrypted for the flow.  Parsing and formatting happen in write_json.
 *
 * Per-flow memory: the state (~300 bytes), allocated on detection; one
 * CRYPTO buffer per direction, grown as needed up to QUIC_CRYPTO_CAP
 * (64 KiB), typically 1-3 KiB; plus a stack buffer of QUIC_PKT_MAX bytes
 * while a packet is decrypted.
 */
#include "cursor.h"
#include "flow.h"
#include "jsonw.h"
#include "module.h"
#include "packet.h"
#include "quic_crypto.h"
#include "tls_parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUIC_CRYPTO_CAP 65536u /* CRYPTO stream bytes kept per direction */
#define QUIC_RANGES 16         /* disjoint received ranges tracked per direction */
#define QUIC_MAX_PKTS 32       /* datagrams per direction looked at */
#define QUIC_PKT_MAX 16384     /* largest Initial packet decrypted */
#define QUIC_REASON_MAX 64     /* CONNECTION_CLOSE reason bytes kept */

struct quic_cfg {
    bool on;
};

static const struct joy_option quic_options[] = {
    {"quic", OPT_BOOL, offsetof(struct quic_cfg, on), 0, 1, "0", "0|1",
     "QUIC: decrypt Initial packets (v1, v2, draft-29); version, CIDs, ClientHello/ServerHello"},
    {NULL, 0, 0, 0, 0, NULL, NULL, NULL},
};

enum qwhy { QW_NONE, QW_DECRYPT, QW_CAP, QW_TRUNCATED, QW_FRAME };
static const char *const qwhy_name[] = {NULL, "decrypt", "cap", "truncated", "frame"};

/* ServerHello.random of a HelloRetryRequest: SHA-256("HelloRetryRequest") */
static const uint8_t hrr_random[32] = {
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c};

struct qrange {
    uint32_t lo, hi;
};

struct quic_side {
    uint8_t *buf;        /* CRYPTO stream bytes [0, cap) */
    uint32_t cap;
    uint32_t msg_off;    /* where the hello starts (after a HelloRetryRequest) */
    uint32_t msg_len;    /* the hello, header included (0: unknown) */
    bool hrr;            /* the server's first ServerHello was a HelloRetryRequest */
    uint8_t n_ranges;
    struct qrange r[QUIC_RANGES];
    bool done;
    uint8_t why;         /* enum qwhy: why data was lost */
    uint32_t pkts;       /* datagrams seen */
    uint32_t initials;   /* Initial packets decrypted */
    int64_t largest_pn;
    uint32_t version;    /* of the first Initial from this side */
    uint8_t scid_len;
    uint8_t scid[QUIC_MAX_CID];
};

struct quic_flow {
    uint8_t cli_dir;
    bool done;
    bool keyed;
    bool retry;
    bool vn;             /* a Version Negotiation packet was seen */
    bool closed;
    uint64_t close_code;
    uint8_t close_reason_len;
    uint8_t close_reason[QUIC_REASON_MAX];
    uint8_t dcid_len;    /* the client's first DCID */
    uint8_t dcid[QUIC_MAX_CID];
    uint8_t kcid_len;    /* the ID the keys come from (dcid, or the Retry's SCID) */
    uint8_t kcid[QUIC_MAX_CID];
    uint32_t key_version;
    struct quic_keys keys[2]; /* client's, server's */
    struct quic_side s[2];
};

/* Per meter: the decryption state and the fingerprints' digests. */
struct quic_run {
    struct quic_crypto *qc;
    struct tls_ctx *tls;
};

static void quic_worker_free(void *scratch)
{
    struct quic_run *run = scratch;
    if (!run)
        return;
    quic_crypto_free(run->qc);
    tls_ctx_free(run->tls);
    free(run);
}

static int quic_worker_init(const struct module_env *env, void **scratch, char *err,
                            size_t errlen)
{
    (void)env;
    struct quic_run *run = calloc(1, sizeof *run);
    if (run) {
        run->qc = quic_crypto_new();
        run->tls = tls_ctx_new();
    }
    if (!run || !run->qc || !run->tls) {
        quic_worker_free(run);
        snprintf(err, errlen, "quic: cannot set up OpenSSL (out of memory?)");
        return -1;
    }
    *scratch = run;
    return 0;
}

/* If the datagram starts with a client Initial we can decrypt, its DCID
 * (and *len its length), else NULL. */
static const uint8_t *initial_dcid(const uint8_t *p, size_t n, uint8_t *len)
{
    struct cursor c;
    cur_init(&c, p, n);
    uint8_t b0 = cur_u8(&c);
    uint32_t v = cur_u32(&c);
    uint8_t dl = cur_u8(&c);
    const uint8_t *dcid = cur_bytes(&c, dl);
    cur_skip(&c, 1); /* the SCID length must be there too */
    if (!cur_ok(&c) || (b0 & 0xc0) != 0xc0 || !quic_version_known(v) ||
        quic_long_type(v, b0) != QPT_INITIAL || dl < 8 || dl > QUIC_MAX_CID)
        return NULL;
    *len = dl;
    return dcid;
}

/* Record that [lo, hi) of the CRYPTO stream arrived. */
static bool add_range(struct quic_side *s, uint32_t lo, uint32_t hi)
{
    struct qrange nr = {lo, hi};
    struct qrange out[QUIC_RANGES + 1];
    uint8_t n = 0;
    bool placed = false;
    for (uint8_t i = 0; i < s->n_ranges; i++) {
        struct qrange c = s->r[i];
        if (c.hi < nr.lo) {
            out[n++] = c;
        } else if (nr.hi < c.lo) {
            if (!placed) {
                out[n++] = nr;
                placed = true;
            }
            out[n++] = c;
        } else { /* overlap or touch: merge into nr */
            if (c.lo < nr.lo)
                nr.lo = c.lo;
            if (c.hi > nr.hi)
                nr.hi = c.hi;
        }
    }
    if (!placed)
        out[n++] = nr;
    if (n > QUIC_RANGES)
        return false;
    memcpy(s->r, out, n * sizeof out[0]);
    s->n_ranges = n;
    return true;
}

static void crypto_data(struct quic_side *s, uint64_t off, const uint8_t *d, uint64_t len)
{
    if (s->done || !len)
        return;
    if (off >= QUIC_CRYPTO_CAP || len > QUIC_CRYPTO_CAP - off) {
        s->why = QW_CAP;
        if (off >= QUIC_CRYPTO_CAP)
            return;
        len = QUIC_CRYPTO_CAP - off;
    }
    uint32_t end = (uint32_t)(off + len);
    if (end > s->cap) {
        uint32_t nc = s->cap ? s->cap : 2048;
        while (nc < end)
            nc *= 2;
        if (nc > QUIC_CRYPTO_CAP)
            nc = QUIC_CRYPTO_CAP;
        uint8_t *nb = realloc(s->buf, nc);
        if (!nb) {
            s->why = QW_CAP;
            return;
        }
        s->buf = nb;
        s->cap = nc;
    }
    memcpy(s->buf + off, d, (size_t)len);
    if (!add_range(s, (uint32_t)off, end)) {
        s->why = QW_CAP;
        return;
    }
    /* the hello is whole once [msg_off, msg_off + 4 + length) arrived */
    while (s->r[0].lo == 0 && s->r[0].hi >= s->msg_off + 4 && !s->done) {
        const uint8_t *m = s->buf + s->msg_off;
        if (!s->msg_len) {
            uint32_t l = ((uint32_t)m[1] << 16) | ((uint32_t)m[2] << 8) | m[3];
            if (l > QUIC_CRYPTO_CAP - 4 - s->msg_off) {
                s->why = QW_CAP;
                s->done = true;
                return;
            }
            s->msg_len = l + 4;
        }
        if (s->r[0].hi - s->msg_off < s->msg_len)
            return;
        /* a HelloRetryRequest (RFC 8446 4.1.3): the real ServerHello follows */
        if (!s->hrr && m[0] == TLS_HS_SERVER_HELLO && s->msg_len >= 4 + 2 + 32 &&
            !memcmp(m + 6, hrr_random, 32)) {
            s->hrr = true;
            s->msg_off += s->msg_len;
            s->msg_len = 0;
            continue;
        }
        s->done = true;
    }
}

/* ACK and ACK_ECN frames (RFC 9000 section 19.3): read and ignored. */
static void skip_ack(struct cursor *c, bool ecn)
{
    cur_varint(c); /* largest acknowledged */
    cur_varint(c); /* delay */
    uint64_t ranges = cur_varint(c);
    cur_varint(c); /* first range */
    for (uint64_t i = 0; i < ranges && cur_ok(c); i++) {
        cur_varint(c); /* gap */
        cur_varint(c); /* range length */
    }
    if (ecn)
        for (int i = 0; i < 3; i++)
            cur_varint(c); /* ECT0, ECT1, ECN-CE counts */
}

/* CONNECTION_CLOSE (RFC 9000 section 19.19): the first one is kept. */
static void read_close(struct quic_flow *q, struct cursor *c, bool transport)
{
    uint64_t code = cur_varint(c);
    if (transport)
        cur_varint(c); /* frame type */
    uint64_t len = cur_varint(c);
    const uint8_t *reason = cur_bytes(c, (size_t)len);
    if (!reason || q->closed)
        return;
    q->closed = true;
    q->close_code = code;
    q->close_reason_len = (uint8_t)(len < QUIC_REASON_MAX ? len : QUIC_REASON_MAX);
    memcpy(q->close_reason, reason, q->close_reason_len);
}

/* The frames of one decrypted Initial payload. */
static void read_frames(struct quic_flow *q, struct quic_side *s, const uint8_t *b, size_t n)
{
    struct cursor c;
    cur_init(&c, b, n);
    while (cur_left(&c)) {
        uint64_t type = cur_varint(&c);
        if (!cur_ok(&c))
            return;
        switch (type) {
        case 0x00: /* PADDING */
        case 0x01: /* PING */
            continue;
        case 0x02: /* ACK */
        case 0x03: /* ACK_ECN */
            skip_ack(&c, type == 0x03);
            break;
        case 0x06: { /* CRYPTO */
            uint64_t off = cur_varint(&c), len = cur_varint(&c);
            const uint8_t *d = cur_bytes(&c, (size_t)len);
            if (d)
                crypto_data(s, off, d, len);
            break;
        }
        case 0x1c: /* CONNECTION_CLOSE (transport) */
        case 0x1d: /* CONNECTION_CLOSE (application) */
            read_close(q, &c, type == 0x1c);
            break;
        default:
            cur_fail(&c);
            break;
        }
        if (!cur_ok(&c) && !s->why)
            s->why = QW_FRAME;
    }
}

static bool set_keys(struct quic_flow *q, struct quic_crypto *qc, uint32_t version)
{
    if (q->keyed && q->key_version == version)
        return true;
    if (quic_initial_keys(qc, version, q->kcid, q->kcid_len, &q->keys[0], &q->keys[1]))
        return false;
    q->keyed = true;
    q->key_version = version;
    return true;
}

static void quic_datagram(struct quic_flow *q, struct quic_crypto *qc, int role, const uint8_t *p,
                          size_t n)
{
    struct quic_side *s = &q->s[role];
    struct cursor d; /* the datagram: packets one after another */
    cur_init(&d, p, n);
    while (cur_left(&d) && !s->done) {
        struct cursor c = d; /* the header of the packet at d */
        const uint8_t *start = d.p;
        uint8_t b0 = cur_u8(&c);
        if (!(b0 & 0x80))
            return; /* short header: 1-RTT, the rest of the datagram too */
        uint32_t version = cur_u32(&c);
        uint8_t dl = cur_u8(&c);
        const uint8_t *dcid = dl <= QUIC_MAX_CID ? cur_bytes(&c, dl) : NULL;
        uint8_t sl = cur_u8(&c);
        const uint8_t *scid = sl <= QUIC_MAX_CID ? cur_bytes(&c, sl) : NULL;
        if (!cur_ok(&c) || (dl && !dcid) || (sl && !scid) || dl > QUIC_MAX_CID ||
            sl > QUIC_MAX_CID)
            return;
        if (version == 0) {
            if (role == 1)
                q->vn = true;
            return;
        }
        if (!quic_version_known(version))
            return;
        enum quic_ptype t = quic_long_type(version, b0);
        if (t == QPT_RETRY) {
            /* the client's next Initial goes to the Retry's SCID, with keys from it */
            if (role == 1 && !q->retry && sl) {
                q->retry = true;
                memcpy(q->kcid, scid, sl);
                q->kcid_len = sl;
                q->keyed = false;
            }
            return;
        }
        if (t == QPT_INITIAL && !s->version) {
            s->version = version;
            s->scid_len = sl;
            memcpy(s->scid, scid, sl);
        }
        if (t == QPT_INITIAL)
            cur_skip(&c, (size_t)cur_varint(&c)); /* token */
        uint64_t v = cur_varint(&c); /* length: packet number and payload */
        if (!cur_ok(&c))
            return;
        if (v > cur_left(&c)) {
            if (t == QPT_INITIAL && !s->why)
                s->why = QW_TRUNCATED;
            return;
        }
        size_t hdr = cur_offset(&c, start), plen = hdr + (size_t)v;
        const uint8_t *pk = cur_bytes(&d, plen);
        if (t != QPT_INITIAL)
            continue;
        if (plen > QUIC_PKT_MAX || !set_keys(q, qc, version)) {
            if (!s->why)
                s->why = QW_DECRYPT;
            continue;
        }
        uint8_t work[QUIC_PKT_MAX], plain[QUIC_PKT_MAX];
        memcpy(work, pk, plen);
        uint64_t pn;
        size_t ol;
        if (quic_unprotect(qc, &q->keys[role], work, plen, hdr, s->largest_pn, &pn, plain, &ol)) {
            if (!s->why)
                s->why = QW_DECRYPT;
            continue;
        }
        if ((int64_t)pn > s->largest_pn)
            s->largest_pn = (int64_t)pn;
        s->initials++;
        read_frames(q, s, plain, ol);
    }
}

static void quic_packet(const struct module_env *env, void **state, const struct flow *f,
                        const struct packet *p, int dir)
{
    (void)f;
    if (p->proto != 17 || !p->payload_cap)
        return;
    struct quic_flow *q = *state;
    if (!q) {
        uint8_t dl;
        const uint8_t *dcid = initial_dcid(p->payload, p->payload_cap, &dl);
        if (!dcid)
            return;
        q = calloc(1, sizeof *q);
        if (!q)
            return;
        q->cli_dir = (uint8_t)dir;
        q->dcid_len = dl;
        memcpy(q->dcid, dcid, dl);
        memcpy(q->kcid, q->dcid, q->dcid_len);
        q->kcid_len = q->dcid_len;
        q->s[0].largest_pn = q->s[1].largest_pn = -1;
        *state = q;
    }
    if (q->done)
        return;
    int role = dir == q->cli_dir ? 0 : 1;
    struct quic_side *s = &q->s[role];
    if (s->done || ++s->pkts > QUIC_MAX_PKTS)
        return;
    struct quic_run *run = env->scratch;
    quic_datagram(q, run->qc, role, p->payload, p->payload_cap);
    if (q->s[0].done && q->s[1].done)
        q->done = true;
}

static const struct tls_hello *parse_side(const struct quic_side *s, uint8_t type,
                                          struct tls_hello *h)
{
    if (!s->buf || s->n_ranges == 0 || s->r[0].lo != 0 || s->r[0].hi < s->msg_off + 4 ||
        s->buf[s->msg_off] != type)
        return NULL;
    uint32_t have = s->r[0].hi - s->msg_off;
    if (s->msg_len && have > s->msg_len)
        have = s->msg_len;
    if (tls_parse_hello(h, type, s->buf + s->msg_off + 4, have - 4, false) != 0)
        return NULL;
    return h;
}

static void quic_json(const struct module_env *env, const void *state, const struct flow *f,
                      struct jsonw *w)
{
    (void)env;
    (void)f;
    const struct quic_flow *q = state;
    struct tls_hello chb, shb;
    const struct tls_hello *ch = parse_side(&q->s[0], TLS_HS_CLIENT_HELLO, &chb);
    const struct tls_hello *sh = parse_side(&q->s[1], TLS_HS_SERVER_HELLO, &shb);
    char hx[9];
    static const char digits[] = "0123456789abcdef";
    jw_key(w, "quic");
    jw_obj_open(w);
    for (int r = 0; r < 2; r++) {
        uint32_t v = q->s[r].version;
        if (!v || (r == 1 && v == q->s[0].version))
            continue;
        for (int i = 0; i < 8; i++)
            hx[i] = digits[(v >> (28 - 4 * i)) & 15];
        jw_kv_str(w, r ? "s_version" : "version", hx, 8);
    }
    jw_kv_hex(w, "dcid", q->dcid, q->dcid_len);
    jw_kv_hex(w, "scid", q->s[0].scid, q->s[0].scid_len);
    if (q->s[1].version)
        jw_kv_hex(w, "s_scid", q->s[1].scid, q->s[1].scid_len);
    if (q->retry)
        jw_kv_hex(w, "retry_scid", q->kcid, q->kcid_len);
    if (q->vn)
        jw_kv_bool(w, "version_negotiation", true);
    jw_kv_uint(w, "c_initials", q->s[0].initials);
    jw_kv_uint(w, "s_initials", q->s[1].initials);
    if (q->s[1].hrr)
        jw_kv_bool(w, "hello_retry", true);
    if (q->closed) {
        jw_key(w, "close");
        jw_obj_open(w);
        jw_kv_uint(w, "code", q->close_code);
        jw_kv_str(w, "reason", q->close_reason, q->close_reason_len);
        jw_close(w);
    }
    if (ch || sh) {
        jw_key(w, "tls");
        jw_obj_open(w);
        tls_json_versions(w, ch, sh);
        tls_json_hellos(w, ch, sh);
        tls_json_extras(w, ch, sh);
        jw_close(w);
    }
    uint8_t why[2];
    for (int r = 0; r < 2; r++) {
        why[r] = q->s[r].why;
        if (!why[r] && q->s[r].buf && !q->s[r].done)
            why[r] = QW_TRUNCATED;
    }
    if (why[0] || why[1]) {
        jw_key(w, "incomplete");
        jw_obj_open(w);
        if (why[0])
            jw_kv_cstr(w, "out", qwhy_name[why[0]]);
        if (why[1])
            jw_kv_cstr(w, "in", qwhy_name[why[1]]);
        jw_close(w);
    }
    jw_close(w);
}

static void write_fingerprints(const struct quic_flow *q, struct jsonw *w, int dir,
                               struct tls_ctx *tls)
{
    struct tls_hello hb;
    if (!q->s[dir == q->cli_dir ? 0 : 1].done)
        return; /* fingerprints only from whole hellos */
    if (dir == q->cli_dir) {
        const struct tls_hello *ch = parse_side(&q->s[0], TLS_HS_CLIENT_HELLO, &hb);
        if (ch) {
            tls_json_client_fingerprints(w, ch, 'q', tls);
            tls_json_partial(w, ch, NULL);
        }
    } else {
        const struct tls_hello *sh = parse_side(&q->s[1], TLS_HS_SERVER_HELLO, &hb);
        if (sh) {
            tls_json_server_fingerprints(w, sh, tls);
            tls_json_partial(w, NULL, sh);
        }
    }
}

static void quic_fingerprints(const struct module_env *env, const void *state, const struct flow *f,
                              struct jsonw *w, int dir)
{
    (void)f;
    struct quic_run *run = env->scratch;
    write_fingerprints(state, w, dir, run->tls);
}

static void quic_free(void *state)
{
    struct quic_flow *q = state;
    if (!q)
        return;
    free(q->s[0].buf);
    free(q->s[1].buf);
    free(q);
}

void quic_fuzz_plain(const uint8_t *data, size_t size, struct jsonw *w, struct tls_ctx *tls)
{
    struct quic_flow *q = calloc(1, sizeof *q);
    if (!q)
        return;
    q->s[0].largest_pn = q->s[1].largest_pn = -1;
    q->dcid_len = 8;
    while (size >= 3) {
        int role = data[0] & 1;
        size_t n = ((size_t)data[1] << 8) | data[2];
        data += 3;
        size -= 3;
        if (n > size)
            n = size;
        struct quic_side *s = &q->s[role];
        if (!s->version)
            s->version = QUIC_V1;
        s->initials++;
        read_frames(q, s, data, n);
        data += n;
        size -= n;
    }
    quic_json(NULL, q, NULL, w);
    for (int d = 0; d < 2; d++) {
        jw_key(w, d ? "fingerprints_in" : "fingerprints");
        jw_obj_open(w);
        write_fingerprints(q, w, d, tls);
        jw_close(w);
    }
    quic_free(q);
}

const struct joy_module quic_module = {
    .name = "quic",
    .summary = "QUIC Initial packets decrypted: version, connection IDs, TLS hellos, JA4 (q)",
    .options = quic_options,
    .config_size = sizeof(struct quic_cfg),
    .interest = MI_UDP,
    .worker_init = quic_worker_init,
    .worker_free = quic_worker_free,
    .packet = quic_packet,
    .write_json = quic_json,
    .free_state = quic_free,
    .write_fingerprints = quic_fingerprints,
};

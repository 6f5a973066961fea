/*
 * \summary: tls module - TLS handshakes over reassembled TCP, certificates,
 * record lengths and times (srlt), JA3/JA3S/JA4 and Joy fingerprints
 *
 * Option tls=1.  A TCP flow is TLS when the first bytes of a direction
 * look like a TLS record (content type 22, version 3.x, a sane length,
 * then a ClientHello or ServerHello) or an SSLv2-format ClientHello; a
 * flow picked up mid-stream (no SYN seen) may also start with a CCS,
 * alert or application data record; after a STARTTLS exchange a later
 * packet (among a direction's first 32) that starts with a
 * ClientHello/ServerHello record also counts, and so does a packet there
 * that leaves a gap (a later segment captured first): the direction is
 * then followed from the gap's start and is TLS if a hello record starts
 * there (otherwise the guess is forgotten).  Any port.
 *
 * Each direction of a TLS flow has a reassembler (reasm.h) and a phase:
 *   PROBE  the first bytes are checked (not TLS: the direction ends);
 *   HS     records are read whole; handshake messages are reassembled
 *          across records, ClientHello, ServerHello, Certificate and
 *          ClientKeyExchange are kept (other messages are skipped without
 *          copying); it ends at the direction's ChangeCipherSpec or first
 *          application_data record, or for TLS 1.3 after the ServerHello;
 *   SKIP   only record headers are read (bodies are skipped by length, so
 *          bulk data is never copied) to list the records in srlt;
 *   END    nothing more: once srlt holds num_pkts records, or on a gap,
 *          the cap, or bytes that are not TLS records.
 * Parsing (of kept messages and certificates) and formatting happen in
 * write_json; the packet path only walks headers and copies the few
 * messages kept.
 *
 * Per-flow memory: the state (~400 bytes) allocated on detection; srlt
 * (40 bytes per record, up to num_pkts); the kept messages, each at most
 * reasm_bytes (typically a few KB in all); the reassembly buffers, at most
 * reasm_bytes per direction while the handshake lasts and a few bytes
 * after.
 */
#include "cursor.h"
#include "flow.h"
#include "jsonw.h"
#include "module.h"
#include "packet.h"
#include "reasm.h"
#include "tls_parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DETECT_PKTS 32   /* packets of a direction looked at for a TLS start */
#define MAX_CERTS 10     /* certificates written per chain */
#define CKE_KEEP 1024    /* ClientKeyExchange bytes kept (c_key_exchange) */
#define SRLT_HS 5        /* handshake types listed per record (as Joy) */

struct tls_cfg {
    bool on;
    uint64_t reasm_bytes;
};

static const struct joy_option tls_options[] = {
    {"tls", OPT_BOOL, offsetof(struct tls_cfg, on), 0, 1, "0", "0|1",
     "TLS handshake fields, certificates and record lengths/times (srlt), any TCP port; "
     "with it DTLS over UDP (see dtls=)"},
    {"reasm_bytes", OPT_UINT, offsetof(struct tls_cfg, reasm_bytes), 1024, 16777216, "65536",
     "BYTES", "TCP reassembly cap per direction: bytes held and handshake bytes parsed"},
    {NULL, 0, 0, 0, 0, NULL, NULL, NULL},
};

enum phase { PH_PROBE, PH_HS, PH_SKIP, PH_END };

/* why a direction ended before its data was followed to the end */
enum end_why { END_NONE, END_GAP, END_CAP, END_MALFORMED, END_TRUNCATED };
static const char *const end_name[] = {NULL, "gap", "cap", "malformed", "truncated"};

struct srlt_ent {
    uint64_t ts;
    uint32_t len;
    uint8_t dir, tp, n_hs;
    uint8_t hs_type[SRLT_HS];
    uint32_t hs_len[SRLT_HS];
};

struct tls_flow;

struct tls_side {
    struct reasm rs;
    struct tls_flow *fl;
    uint8_t dir;
    uint8_t phase;
    uint8_t why;        /* enum end_why */
    bool ccs;
    bool rec_ts_set;
    bool strict;        /* PROBE: only a hello record starts TLS */
    uint8_t mh_n;       /* bytes of the current handshake header */
    bool m_keep;
    uint8_t mh[4];
    uint64_t rec_ts;    /* time of the first byte of the current record */
    uint32_t hs_bytes;  /* handshake bytes walked */
    uint32_t m_len, m_got;
    uint8_t *m_buf;
};

struct tls_flow {
    struct tls_side s[2];
    uint32_t cap;
    uint32_t max_srlt;
    int8_t ch_dir, sh_dir;
    bool ch_sslv2, seen, done, hrr, nst, tls13, srv_full, srv_ccs;
    bool guess;         /* made for a gap after a plaintext prefix (tls_packet) */
    uint8_t *ch, *sh, *cert[2], *cke;
    uint32_t ch_len, sh_len, cert_len[2], cke_len, cke_kept;
    uint32_t n_srlt, srlt_size;
    struct srlt_ent *srlt;
};

/* Per context: the certificate cache every meter also looks in
 * (tls_x509_shared, tls_parse.h), the one piece of a module's data that is
 * written during the run, only under its own lock. */
static int tls_setup(const void *cfg, const struct joy_config *core, void **data, char *err,
                     size_t errlen)
{
    (void)cfg;
    (void)core;
    if (!(*data = tls_x509_shared_new())) {
        snprintf(err, errlen, "tls: out of memory");
        return -1;
    }
    return 0;
}

static void tls_teardown(void *data) { tls_x509_shared_free(data); }

/* Per meter: the certificate decoder and cache, the digests (tls_parse.h). */
static int tls_worker_init(const struct module_env *env, void **scratch, char *err,
                    size_t errlen)
{
    *scratch = tls_ctx_new();
    if (!*scratch) {
        snprintf(err, errlen, "tls: cannot set up OpenSSL (out of memory?)");
        return -1;
    }
    tls_ctx_share(*scratch, (struct tls_x509_shared *)(uintptr_t)env->data);
    return 0;
}

static void tls_worker_free(void *scratch) { tls_ctx_free(scratch); }

/* ---- detection ------------------------------------------------------------ */

enum { LOOK_NO, LOOK_YES, LOOK_MAYBE };

/* Could these be the first bytes of a TLS direction?  MAYBE: too few
 * bytes to tell, none contradicting. */
static int looks_like_start(const uint8_t *p, size_t n, bool midstream)
{
    if (n == 0)
        return LOOK_MAYBE;
    if (p[0] & 0x80) {
        if (n < 5)
            return LOOK_MAYBE;
        return tls_sslv2_hello_start(p, n) ? LOOK_YES : LOOK_NO;
    }
    bool other = midstream && p[0] >= TLS_CT_CCS && p[0] <= TLS_CT_APPDATA;
    if (p[0] != TLS_CT_HANDSHAKE && !other)
        return LOOK_NO;
    if (n >= 2 && p[1] != 3)
        return LOOK_NO;
    if (n >= 3 && p[2] > 4)
        return LOOK_NO;
    struct cursor c;
    cur_init(&c, p, n);
    cur_skip(&c, 3);
    uint16_t rlen = cur_u16(&c);
    if (!cur_ok(&c))
        return LOOK_MAYBE;
    if (rlen == 0 || rlen > TLS_MAX_RECORD)
        return LOOK_NO;
    if (p[0] != TLS_CT_HANDSHAKE || midstream)
        return LOOK_YES;
    if (n < 6)
        return LOOK_MAYBE;
    return p[5] == TLS_HS_CLIENT_HELLO || p[5] == TLS_HS_SERVER_HELLO ? LOOK_YES : LOOK_NO;
}

/* ---- srlt and state ------------------------------------------------------- */

static void side_end(struct tls_side *s, enum end_why why);

/* srlt is full: a direction that only walks record headers is done (the
 * one running the consumer stops itself at its next record). */
static void srlt_full(struct tls_side *s)
{
    struct tls_side *o = &s->fl->s[!s->dir];
    if (o->phase == PH_SKIP) {
        side_end(o, END_NONE);
        reasm_stop(&o->rs);
    }
}

static int srlt_add(struct tls_side *s, uint8_t tp, uint32_t len)
{
    struct tls_flow *t = s->fl;
    if (t->n_srlt >= t->max_srlt)
        return -1;
    if (t->n_srlt == t->srlt_size) {
        uint32_t want = t->srlt_size ? t->srlt_size * 2 : 8;
        if (want > t->max_srlt)
            want = t->max_srlt;
        struct srlt_ent *e = realloc(t->srlt, (size_t)want * sizeof *e);
        if (!e)
            return -1;
        t->srlt = e;
        t->srlt_size = want;
    }
    struct srlt_ent *e = &t->srlt[t->n_srlt];
    memset(e, 0, sizeof *e);
    e->ts = s->rec_ts;
    e->len = len;
    e->dir = s->dir;
    e->tp = tp;
    if (++t->n_srlt == t->max_srlt)
        srlt_full(s);
    return (int)t->n_srlt - 1;
}

static void srlt_note_hs(struct tls_flow *t, int ent, uint8_t type, uint32_t len)
{
    if (ent < 0)
        return;
    struct srlt_ent *e = &t->srlt[ent];
    if (e->n_hs < SRLT_HS) {
        e->hs_type[e->n_hs] = type;
        e->hs_len[e->n_hs] = len;
        e->n_hs++;
    }
}

static void drop_message(struct tls_side *s)
{
    free(s->m_buf);
    s->m_buf = NULL;
    s->mh_n = 0;
    s->m_keep = false;
}

/* The handshake of this direction is over (or cannot be followed). */
static void to_skip(struct tls_side *s)
{
    if (s->phase == PH_HS || s->phase == PH_PROBE)
        s->phase = PH_SKIP;
    drop_message(s);
}

static void side_end(struct tls_side *s, enum end_why why)
{
    if (s->phase != PH_END && why != END_NONE)
        s->why = (uint8_t)why;
    s->phase = PH_END;
    drop_message(s);
    struct tls_flow *t = s->fl;
    if (t->s[0].phase == PH_END && t->s[1].phase == PH_END)
        t->done = true;
}

/* Is side s the server?  By the hellos when seen, else dir 1. */
static bool is_server(const struct tls_flow *t, int dir)
{
    if (t->sh_dir >= 0)
        return dir == t->sh_dir;
    if (t->ch_dir >= 0)
        return dir != t->ch_dir;
    return dir == 1;
}

static uint8_t *copy_of(const uint8_t *p, uint32_t n)
{
    uint8_t *c = malloc(n ? n : 1);
    if (c && n)
        memcpy(c, p, n);
    return c;
}

/* Which handshake messages are kept (their bodies buffered)? */
static bool want_message(const struct tls_side *s, uint8_t type)
{
    const struct tls_flow *t = s->fl;
    switch (type) {
    case TLS_HS_CLIENT_HELLO: return !t->ch;
    case TLS_HS_SERVER_HELLO: return !t->sh;
    case TLS_HS_CERTIFICATE: return !t->cert[s->dir] && !t->tls13;
    case TLS_HS_CLIENT_KEY_EXCHANGE: return !t->cke;
    }
    return false;
}

/* A complete handshake message.  `owned` is NULL, or body itself as a
 * malloc'd buffer that this function takes over. */
static void message(struct tls_side *s, uint8_t type, const uint8_t *body, uint32_t len,
                    uint8_t *owned)
{
    struct tls_flow *t = s->fl;
    uint8_t **keep = NULL;
    uint32_t *keep_len = NULL;
    switch (type) {
    case TLS_HS_CLIENT_HELLO:
        if (!t->ch) {
            keep = &t->ch;
            keep_len = &t->ch_len;
            t->ch_dir = (int8_t)s->dir;
        }
        break;
    case TLS_HS_SERVER_HELLO: {
        struct tls_hello h;
        if (t->sh || tls_parse_hello(&h, TLS_HS_SERVER_HELLO, body, len, false) != 0)
            break;
        if (h.hrr) {
            t->hrr = true; /* a second ClientHello follows in the clear */
            break;
        }
        keep = &t->sh;
        keep_len = &t->sh_len;
        t->sh_dir = (int8_t)s->dir;
        if (tls_version_code(tls_hello_version(&h)) == 6) {
            /* TLS 1.3: everything after the ServerHello is encrypted */
            t->tls13 = true;
            to_skip(&t->s[0]);
            to_skip(&t->s[1]);
        }
        break;
    }
    case TLS_HS_CERTIFICATE:
        if (!t->cert[s->dir] && !t->tls13) {
            keep = &t->cert[s->dir];
            keep_len = &t->cert_len[s->dir];
        }
        if (is_server(t, s->dir))
            t->srv_full = true;
        break;
    case TLS_HS_SERVER_KEY_EXCHANGE:
    case TLS_HS_SERVER_HELLO_DONE:
        if (is_server(t, s->dir))
            t->srv_full = true;
        break;
    case TLS_HS_CLIENT_KEY_EXCHANGE:
        if (!t->cke) {
            t->cke_len = len;
            t->cke_kept = len < CKE_KEEP ? len : CKE_KEEP;
            t->cke = copy_of(body, t->cke_kept);
        }
        break;
    case TLS_HS_NEW_SESSION_TICKET:
        t->nst = true;
        break;
    }
    if (keep) {
        *keep = owned ? owned : copy_of(body, len);
        *keep_len = *keep ? len : 0;
        owned = NULL;
    }
    free(owned);
}

/* The body of a plaintext handshake record: walk (and keep) messages. */
static void handshake_bytes(struct tls_side *s, const uint8_t *p, uint32_t n, int ent)
{
    struct tls_flow *t = s->fl;
    if (s->hs_bytes + (uint64_t)n > t->cap) {
        /* reasm_bytes of handshake walked: stop parsing this direction */
        s->why = END_CAP;
        to_skip(s);
        return;
    }
    s->hs_bytes += n;
    while (n > 0 && s->phase == PH_HS) {
        if (s->mh_n == 0 && n >= 4) {
            uint32_t ml = ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
            if (n - 4 >= ml) {
                /* the whole message is here: no copy */
                srlt_note_hs(t, ent, p[0], ml);
                message(s, p[0], p + 4, ml, NULL);
                p += 4 + ml;
                n -= 4 + ml;
                continue;
            }
        }
        if (s->mh_n < 4) {
            s->mh[s->mh_n++] = *p++;
            n--;
            if (s->mh_n < 4)
                continue;
            uint8_t type = s->mh[0];
            uint32_t ml = ((uint32_t)s->mh[1] << 16) | ((uint32_t)s->mh[2] << 8) | s->mh[3];
            srlt_note_hs(t, ent, type, ml);
            s->m_len = ml;
            s->m_got = 0;
            s->m_keep = want_message(s, type);
            if (s->m_keep) {
                if (ml > t->cap) {
                    s->why = END_CAP; /* a message larger than the cap */
                    to_skip(s);
                    return;
                }
                s->m_buf = malloc(ml ? ml : 1);
                if (!s->m_buf) {
                    to_skip(s);
                    return;
                }
            }
            if (ml == 0) {
                uint8_t *b = s->m_buf;
                s->m_buf = NULL;
                s->mh_n = 0;
                message(s, type, b ? b : (const uint8_t *)"", 0, b);
            }
            continue;
        }
        uint32_t take = s->m_len - s->m_got;
        if (take > n)
            take = n;
        if (s->m_keep)
            memcpy(s->m_buf + s->m_got, p, take);
        s->m_got += take;
        p += take;
        n -= take;
        if (s->m_got == s->m_len) {
            uint8_t *b = s->m_buf;
            s->m_buf = NULL;
            s->mh_n = 0;
            s->m_keep = false;
            if (b)
                message(s, s->mh[0], b, s->m_len, b);
            else
                message(s, s->mh[0], (const uint8_t *)"", 0, NULL);
        }
    }
}

/* An SSLv2-format ClientHello record of n bytes (header included). */
static void sslv2_hello(struct tls_side *s, const uint8_t *rec, uint32_t n)
{
    struct tls_flow *t = s->fl;
    int ent = srlt_add(s, TLS_CT_HANDSHAKE, n - 2);
    srlt_note_hs(t, ent, TLS_HS_CLIENT_HELLO, n - 3);
    if (!t->ch) {
        t->ch = copy_of(rec, n);
        t->ch_len = t->ch ? n : 0;
        t->ch_sslv2 = true;
        t->ch_dir = (int8_t)s->dir;
    }
}

/* The reassembler's consumer: records in, in order. */
static size_t consume(void *ctx, const uint8_t *data, size_t len, uint64_t ts)
{
    struct tls_side *s = ctx;
    struct tls_flow *t = s->fl;
    size_t used = 0;
    if (!s->rec_ts_set) {
        s->rec_ts = ts;
        s->rec_ts_set = true;
    }
    while (used < len) {
        const uint8_t *p = data + used;
        size_t left = len - used;
        if (s->phase == PH_PROBE) {
            int look = looks_like_start(p, left, !s->strict);
            if (look == LOOK_MAYBE)
                break;
            if (look == LOOK_NO) {
                side_end(s, t->seen ? END_MALFORMED : END_NONE);
                return REASM_STOP;
            }
            t->seen = true;
            s->phase = PH_HS;
            if (p[0] & 0x80) {
                size_t n = 2 + (((size_t)(p[0] & 0x7f) << 8) | p[1]);
                if (left < n)
                    break;
                sslv2_hello(s, p, (uint32_t)n);
                used += n;
                s->rec_ts = ts;
                continue;
            }
        }
        if (s->phase == PH_SKIP && t->n_srlt >= t->max_srlt) {
            side_end(s, END_NONE);
            return REASM_STOP;
        }
        struct cursor r; /* the record header: type, version, length */
        cur_init(&r, p, left);
        uint8_t type = cur_u8(&r), major = cur_u8(&r);
        cur_skip(&r, 1);
        uint32_t rlen = cur_u16(&r);
        if (!cur_ok(&r))
            break;
        if (type < TLS_CT_CCS || type > TLS_CT_HEARTBEAT || major != 3 || rlen > TLS_MAX_RECORD) {
            side_end(s, END_MALFORMED);
            return REASM_STOP;
        }
        if (s->phase == PH_HS && (type == TLS_CT_HANDSHAKE || type == TLS_CT_CCS)) {
            if (left < 5 + (size_t)rlen)
                break; /* wait for the whole record */
            int ent = srlt_add(s, type, rlen);
            if (type == TLS_CT_CCS) {
                s->ccs = true;
                if (is_server(t, s->dir))
                    t->srv_ccs = true;
                to_skip(s);
            } else {
                handshake_bytes(s, p + 5, rlen, ent);
            }
        } else {
            if (type == TLS_CT_APPDATA)
                to_skip(s);
            srlt_add(s, type, rlen);
        }
        used += 5 + (size_t)rlen;
        s->rec_ts = ts;
        if (s->phase == PH_END)
            return REASM_STOP;
    }
    if (used >= len)
        s->rec_ts_set = false;
    return used;
}

/* ---- the module ----------------------------------------------------------- */

static struct tls_flow *tls_new(const struct module_env *env, const struct flow *f, int dir,
                                uint32_t start)
{
    const struct tls_cfg *cfg = env->cfg;
    struct tls_flow *t = module_calloc(env, sizeof *t);
    if (!t)
        return NULL;
    t->cap = (uint32_t)cfg->reasm_bytes;
    t->max_srlt = (uint32_t)env->core->num_pkts;
    t->ch_dir = t->sh_dir = -1;
    for (int d = 0; d < 2; d++) {
        struct tls_side *s = &t->s[d];
        reasm_init(&s->rs, t->cap);
        s->fl = t;
        s->dir = (uint8_t)d;
        s->phase = PH_PROBE;
        const struct flow_side *fs = &f->side[d];
        if (d == dir)
            reasm_start(&s->rs, start);
        else if (fs->seq_valid)
            reasm_start(&s->rs, fs->seq_hi);
        else if (fs->syn_seen)
            reasm_start(&s->rs, fs->syn_seq + 1);
    }
    return t;
}

static void tls_free(void *state);

/* Follow a side (still probing) from seq instead (from its next segment
 * without valid), dropping what it holds. */
static void side_restart(struct tls_side *s, bool valid, uint32_t seq)
{
    uint32_t cap = s->rs.cap;
    reasm_free(&s->rs);
    reasm_init(&s->rs, cap);
    if (valid)
        reasm_start(&s->rs, seq);
    s->strict = false;
    s->rec_ts_set = false;
}

static void tls_packet(const struct module_env *env, void **state, const struct flow *f,
                       const struct packet *p, int dir)
{
    if (p->proto != 6 || !p->l4)
        return;
    struct tls_flow *t = *state;
    uint32_t data_seq = p->tcp_seq + ((p->tcp_flags & TCP_SYN) ? 1 : 0);
    if (t && t->s[dir].strict && t->s[dir].phase == PH_PROBE && p->payload_cap &&
        data_seq != t->s[dir].rs.next &&
        looks_like_start(p->payload, p->payload_cap, !f->side[dir].syn_seen) == LOOK_YES) {
        /* a hello record elsewhere than at the guessed start (whose bytes
         * may never come: a segment the capture missed): start there */
        side_restart(&t->s[dir], true, data_seq);
    }
    if (!t) {
        if (!p->payload_cap)
            return;
        const struct flow_side *fs = &f->side[dir];
        if (fs->pkts > DETECT_PKTS)
            return;
        uint32_t seq = data_seq;
        uint32_t start = seq;
        bool at_start = true;
        if (fs->syn_seen) {
            start = fs->syn_seq + 1;
            at_start = seq == start;
        }
        int look = looks_like_start(p->payload, p->payload_cap, !fs->syn_seen);
        bool guess = false;
        if (look == LOOK_NO || (!at_start && look == LOOK_MAYBE)) {
            int32_t ahead = (int32_t)(seq - start);
            if (fs->syn_seen && ahead > 0 && ahead <= 65535 && fs->bytes == p->payload_len) {
                /* The direction's first segment may be late (reordered):
                 * look at the stream start once it is there. */
            } else if (fs->bytes != p->payload_len && fs->hole_lo != fs->hole_hi &&
                       fs->hole_hi == seq && seq - fs->hole_lo <= 65535) {
                /* After a plaintext prefix (STARTTLS, SOCKS, HTTP CONNECT)
                 * this segment left a gap: the hello that starts TLS may
                 * be in it (reordered).  Follow the stream from the gap's
                 * start; if the bytes there are not a hello, forget it. */
                start = fs->hole_lo;
                guess = true;
            } else {
                return;
            }
        } else if (!at_start) {
            start = seq; /* STARTTLS: TLS begins here */
        }
        t = tls_new(env, f, dir, start);
        if (!t)
            return;
        t->guess = guess;
        t->s[dir].strict = guess;
        *state = t;
    }
    if (t->done)
        return;
    struct tls_side *s = &t->s[dir];
    if (s->phase == PH_END)
        return;
    enum reasm_state st = reasm_feed(&s->rs, p->tcp_seq, (p->tcp_flags & TCP_SYN) != 0, p->payload,
                                     p->payload_cap, p->payload_len, p->ts, consume, s);
    if (st == REASM_GAP)
        side_end(s, END_GAP);
    else if (st == REASM_CAP)
        side_end(s, END_CAP);
    else if (st == REASM_DONE)
        side_end(s, END_NONE);
    if (t->guess) {
        struct tls_side *o = &t->s[!dir];
        if (s->phase == PH_END && !t->seen) {
            /* the guessed start was not TLS: as if nothing had been seen,
             * so that a later hello (STARTTLS) is still found */
            tls_free(t);
            *state = NULL;
            return;
        }
        if (t->seen) {
            /* TLS is settled.  If the other direction found it, a guess
             * left on this one is dropped: it starts at its next byte
             * (as it would have without the guess) */
            if (o->strict && o->phase == PH_PROBE)
                side_restart(o, f->side[!dir].seq_valid, f->side[!dir].seq_hi);
            t->guess = false;
        }
    }
    if (s->phase == PH_END)
        reasm_free(&s->rs);
}

static void parse_kept(const struct tls_flow *t, struct tls_hello *ch, struct tls_hello *sh,
                       const struct tls_hello **chp, const struct tls_hello **shp)
{
    *chp = *shp = NULL;
    if (t->ch) {
        int r = t->ch_sslv2 ? tls_parse_sslv2_hello(ch, t->ch, t->ch_len)
                            : tls_parse_hello(ch, TLS_HS_CLIENT_HELLO, t->ch, t->ch_len, false);
        if (r == 0)
            *chp = ch;
    }
    if (t->sh && tls_parse_hello(sh, TLS_HS_SERVER_HELLO, t->sh, t->sh_len, false) == 0)
        *shp = sh;
}

static const char *const dir_str[2] = {">", "<"};

static void write_srlt(struct jsonw *w, const struct tls_flow *t, const struct flow *f)
{
    if (!t->n_srlt)
        return;
    uint32_t *ord = malloc((size_t)t->n_srlt * sizeof *ord);
    if (!ord)
        return;
    /* Each direction's records are in stream order; merge the two by
     * time (a record's time is that of its first byte, which reordering
     * can make earlier than an earlier record's). */
    uint32_t next[2] = {0, 0}, n = 0;
    for (;;) {
        while (next[0] < t->n_srlt && t->srlt[next[0]].dir != 0)
            next[0]++;
        while (next[1] < t->n_srlt && t->srlt[next[1]].dir != 1)
            next[1]++;
        int pick;
        if (next[0] < t->n_srlt && next[1] < t->n_srlt)
            pick = t->srlt[next[1]].ts < t->srlt[next[0]].ts;
        else if (next[0] < t->n_srlt)
            pick = 0;
        else if (next[1] < t->n_srlt)
            pick = 1;
        else
            break;
        ord[n++] = next[pick]++;
    }
    jw_key(w, "srlt");
    jw_arr_open(w);
    uint64_t prev = f->t_start;
    for (uint32_t i = 0; i < t->n_srlt; i++) {
        const struct srlt_ent *e = &t->srlt[ord[i]];
        uint64_t ipt = e->ts > prev ? (e->ts - prev) / 1000000u : 0;
        if (e->ts > prev)
            prev = e->ts;
        jw_obj_open(w);
        jw_kv_uint(w, "b", e->len);
        jw_kv_cstr(w, "dir", dir_str[e->dir & 1]);
        jw_kv_uint(w, "ipt", ipt);
        jw_kv_uint(w, "tp", e->tp);
        if (e->n_hs) {
            jw_key(w, "hs_types");
            jw_arr_open(w);
            for (int k = 0; k < e->n_hs; k++)
                jw_uint(w, e->hs_type[k]);
            jw_close(w);
            jw_key(w, "hs_lens");
            jw_arr_open(w);
            for (int k = 0; k < e->n_hs; k++)
                jw_uint(w, e->hs_len[k]);
            jw_close(w);
        }
        jw_close(w);
    }
    jw_close(w);
    free(ord);
}

static void tls_json(const struct module_env *env, const void *state, const struct flow *f,
                     struct jsonw *w)
{
    const struct tls_flow *t = state;
    if (!t->seen)
        return;
    struct tls_hello chb, shb;
    const struct tls_hello *ch, *sh;
    parse_kept(t, &chb, &shb, &ch, &sh);

    struct jw_mark mark = jw_mark(w);
    jw_key(w, "tls");
    jw_obj_open(w);
    size_t body = w->len;
    tls_json_versions(w, ch, sh);
    if (t->cke) {
        jw_kv_uint(w, "c_key_length", (uint64_t)t->cke_len * 8);
        jw_kv_hex(w, "c_key_exchange", t->cke, t->cke_kept);
    }
    tls_json_hellos(w, ch, sh);
    for (int role = 0; role < 2; role++) { /* c_cert, then s_cert */
        for (int d = 0; d < 2; d++) {
            if (t->cert[d] && is_server(t, d) == (role == 1)) {
                jw_key(w, role ? "s_cert" : "c_cert");
                tls_json_cert_list(w, t->cert[d], t->cert_len[d], MAX_CERTS, env->scratch);
                break;
            }
        }
    }
    tls_json_extras(w, ch, sh);
    if (sh) {
        const uint8_t *d;
        uint16_t n;
        if (t->tls13)
            jw_kv_bool(w, "resumed", tls_ext_find(sh, 41, &d, &n));
        else if (t->srv_ccs)
            jw_kv_bool(w, "resumed", !t->srv_full);
    }
    if (t->hrr)
        jw_kv_bool(w, "hello_retry", true);
    if (t->nst)
        jw_kv_bool(w, "new_session_ticket", true);
    uint8_t why[2];
    for (int d = 0; d < 2; d++) {
        const struct tls_side *s = &t->s[d];
        why[d] = s->why;
        /* the data ended inside a record or message the handshake needed */
        if (!why[d] && s->phase == PH_HS && (s->rs.kept || s->mh_n))
            why[d] = END_TRUNCATED;
    }
    if (why[0] || why[1]) {
        jw_key(w, "incomplete");
        jw_obj_open(w);
        if (why[0])
            jw_kv_cstr(w, "out", end_name[why[0]]);
        if (why[1])
            jw_kv_cstr(w, "in", end_name[why[1]]);
        jw_close(w);
    }
    write_srlt(w, t, f);
    if (w->len == body)
        jw_rollback(w, mark); /* nothing to say (e.g. num_pkts=0 mid-stream) */
    else
        jw_close(w);
}

static void tls_fingerprints(const struct module_env *env, const void *state, const struct flow *f,
                             struct jsonw *w, int dir)
{
    (void)f;
    const struct tls_flow *t = state;
    if (!t->seen || (t->ch_dir != dir && t->sh_dir != dir))
        return;
    struct tls_hello chb, shb;
    const struct tls_hello *ch, *sh;
    parse_kept(t, &chb, &shb, &ch, &sh);
    if (ch && t->ch_dir == dir)
        tls_json_client_fingerprints(w, ch, 't', env->scratch);
    if (sh && t->sh_dir == dir)
        tls_json_server_fingerprints(w, sh, env->scratch);
    tls_json_partial(w, t->ch_dir == dir && !t->ch_sslv2 ? ch : NULL, t->sh_dir == dir ? sh : NULL);
}

static void tls_free(void *state)
{
    struct tls_flow *t = state;
    if (!t)
        return;
    for (int d = 0; d < 2; d++) {
        reasm_free(&t->s[d].rs);
        free(t->s[d].m_buf);
        free(t->cert[d]);
    }
    free(t->ch);
    free(t->sh);
    free(t->cke);
    free(t->srlt);
    module_free(t);
}

const struct joy_module tls_module = {
    .name = "tls",
    .summary = "TLS handshakes, certificates, srlt and fingerprints (reassembled TCP)",
    .options = tls_options,
    .config_size = sizeof(struct tls_cfg),
    .interest = MI_TCP,
    .setup = tls_setup,
    .teardown = tls_teardown,
    .worker_init = tls_worker_init,
    .worker_free = tls_worker_free,
    .packet = tls_packet,
    .write_json = tls_json,
    .free_state = tls_free,
    .write_fingerprints = tls_fingerprints,
    .sees_retrans = true,
};

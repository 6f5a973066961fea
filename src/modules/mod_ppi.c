/*
 * \summary: ppi module - per-packet TCP information
 *
 * Option ppi=1.  The first num_pkts TCP packets of a flow (both directions
 * together, in capture order; retransmissions only with retrans=1; packets
 * whose fixed 20-byte TCP header was not captured are skipped) are listed
 * in time order (stable: equal times keep capture order) as
 *   "ppi": [{"seq":N,"ack":N,"rseq":N,"rack":N|null,"b":N,"olen":N,
 *            "dir":">"|"<","t":N,"flags":"...","opts":[...]}, ...]
 * with
 *   seq, ack  the raw header fields (ack also when the ACK flag is clear);
 *   rseq      (seq - base[dir]) mod 2^32, where base[d] is the sequence
 *             number of the first SYN sent by side d (as recorded by the
 *             core: "tcp"."out"/"in"."first_seq") or, when side d sent no
 *             SYN, the sequence number of the first packet from d that
 *             reached this module; the SYN itself has rseq 0 and the first
 *             data byte after it rseq 1 (as Wireshark's relative numbers);
 *   rack      0 when the ACK flag is clear; otherwise (ack - base[other
 *             side]) mod 2^32, or null when the other side has no base
 *             (it sent nothing that reached this module, e.g. always in a
 *             unidirectional bidir=0 record);
 *   b         TCP payload bytes according to the IP and TCP headers;
 *   olen      option bytes according to the data offset (header - 20);
 *   dir       ">" sent by sa, "<" sent by da;
 *   t         whole milliseconds since the flow's first packet (truncated);
 *   flags     flag letters FSRPAUEC (see proto_util.h);
 *   opts      the captured option bytes (at most 40) decoded as in "tcp";
 *             when the flow touches an anonymised subnet (anon=, anon.h),
 *             MPTCP options (kind 30, whose ADD_ADDR form carries an IP
 *             address) are shown without their data: {"kind":30,"data":""}.
 * The array is written for every TCP flow that had such a packet, also
 * when one side sent nothing (the original then printed no "ppi" at all);
 * with num_pkts=0 nothing is kept or written.
 *
 * Memory: 24 + 64 x min(num_pkts, PPI_FIRST_ENTRIES) bytes per TCP flow,
 * allocated at the flow's first TCP packet, and enlarged once, to
 * 24 + 64 x num_pkts bytes, when a flow needs more entries.  Most flows
 * are short (in the benchmark mix 71% of the TCP flows have fewer than 8
 * such packets), and every page of the heap's peak size costs a page
 * fault, so short flows only take the small block.  Per packet: one
 * fixed-size copy (and, only for a packet older than the last one kept,
 * an insertion shift).
 */
#include "anon.h"
#include "cursor.h"
#include "flow.h"
#include "jsonw.h"
#include "module.h"
#include "packet.h"
#include "proto_util.h"

#include <stdlib.h>
#include <string.h>

#define PPI_FIRST_ENTRIES 8 /* entries in a flow's first block */

struct ppi_cfg {
    bool on;
};

struct ppi_entry {
    uint64_t ts;            /* ns */
    uint32_t seq, ack;
    uint32_t b;             /* payload bytes (headers' view) */
    uint8_t olen;           /* option bytes by the data offset */
    uint8_t flags;
    uint8_t dir;
    uint8_t optcap;         /* option bytes captured, <= TCP_OPT_MAX */
    uint8_t opts[TCP_OPT_MAX];
};

struct ppi_state {
    uint32_t cap, n;
    uint32_t room;          /* entries allocated: n <= room <= cap */
    uint32_t first_seq[2];  /* seq of the first packet seen from each side */
    bool have_first[2];
    struct ppi_entry e[];
};

static const struct joy_option ppi_options[] = {
    {"ppi", OPT_BOOL, offsetof(struct ppi_cfg, on), 0, 1, "0", "0|1",
     "per-packet TCP info (seq, ack, flags, options ...) of the first num_pkts TCP packets"},
    {NULL, 0, 0, 0, 0, NULL, NULL, NULL},
};

static void ppi_packet(const struct module_env *env, void **state, const struct flow *f,
                       const struct packet *p, int dir)
{
    (void)f;
    if (p->proto != 6 || !p->has_ports || p->l4_cap < 20)
        return;
    struct ppi_state *s = *state;
    if (!s) {
        uint32_t cap = (uint32_t)env->core->num_pkts;
        if (!cap)
            return;
        uint32_t room = cap < PPI_FIRST_ENTRIES ? cap : PPI_FIRST_ENTRIES;
        /* entries are written before they are read: only the header is cleared */
        s = module_malloc(env, sizeof *s + (size_t)room * sizeof s->e[0]);
        if (!s)
            return;
        memset(s, 0, sizeof *s);
        s->cap = cap;
        s->room = room;
        *state = s;
    }
    if (!s->have_first[dir]) {
        s->have_first[dir] = true;
        s->first_seq[dir] = p->tcp_seq;
    }
    if (s->n >= s->cap)
        return;
    if (s->n == s->room) {
        /* the first block is full: take the whole num_pkts, once */
        struct ppi_state *big = module_realloc(env, s, sizeof *s + (size_t)s->cap * sizeof s->e[0]);
        if (!big)
            return;
        big->room = big->cap;
        *state = s = big;
    }
    /* keep the list in time order: find the slot (usually the end) */
    uint32_t i = s->n;
    while (i > 0 && s->e[i - 1].ts > p->ts)
        i--;
    if (i < s->n)
        memmove(&s->e[i + 1], &s->e[i], (size_t)(s->n - i) * sizeof s->e[0]);
    s->n++;
    struct ppi_entry *e = &s->e[i];
    e->ts = p->ts;
    e->seq = p->tcp_seq;
    e->ack = p->tcp_ack;
    e->b = p->payload_len;
    e->olen = (uint8_t)(p->tcp_hdr_len - 20);
    e->flags = p->tcp_flags;
    e->dir = (uint8_t)dir;
    uint8_t n = p->tcp_opts ? p->tcp_opts_cap : 0;
    if (n > TCP_OPT_MAX)
        n = TCP_OPT_MAX;
    e->optcap = n;
    if (n)
        memcpy(e->opts, p->tcp_opts, n);
}

/*
 * Copy option bytes with the data of every MPTCP option (kind 30) dropped
 * (kind 30, length 2 kept), for flows whose addresses are anonymised.
 * Returns the length written to out (at most len).
 */
static size_t strip_mptcp(const uint8_t *in, size_t len, uint8_t *out)
{
    struct cursor c;
    size_t n = 0;
    cur_init(&c, in, len);
    while (cur_left(&c) > 0) {
        const uint8_t *start = c.p;
        uint8_t kind = cur_u8(&c);
        if (kind == 0 || kind == 1) {
            out[n++] = kind;
            if (kind == 0)
                break;
            continue;
        }
        uint8_t olen = cur_u8(&c);
        if (!cur_ok(&c) || olen < 2 || (size_t)(olen - 2) > cur_left(&c)) {
            /* malformed: decoded as {"malformed":{kind,len}}, no data shown */
            size_t rest = (size_t)(in + len - start);
            memcpy(out + n, start, rest);
            n += rest;
            break;
        }
        cur_skip(&c, olen - 2u);
        if (kind == 30) {
            out[n++] = 30;
            out[n++] = 2;
        } else {
            memcpy(out + n, start, olen);
            n += olen;
        }
    }
    return n;
}

/* The literal text s (a string constant) at o; returns the end. */
#define PUT_LIT(o, s) (memcpy((o), (s), sizeof(s) - 1), (o) + sizeof(s) - 1)

/* Room for the members of an entry before "opts": the keys and
 * punctuation (about 70 bytes), six numbers and eight flag letters. */
#define PPI_HEAD_MAX 256

/*
 * The members of one entry up to "flags" are formatted in one go at o
 * (jw_raw_begin's room), the same text as key-by-key writing but without
 * its per-key bookkeeping: ppi writes up to num_pkts entries per record.
 */
static char *ppi_head(char *o, const struct ppi_entry *e, const struct flow *f,
                      const uint32_t base[2], const bool known[2])
{
    int d = e->dir & 1;
    o = PUT_LIT(o, "\"seq\":");
    o = jw_fmt_uint(o, e->seq);
    o = PUT_LIT(o, ",\"ack\":");
    o = jw_fmt_uint(o, e->ack);
    o = PUT_LIT(o, ",\"rseq\":");
    o = jw_fmt_uint(o, (uint32_t)(e->seq - base[d]));
    o = PUT_LIT(o, ",\"rack\":");
    if (!(e->flags & TCP_ACK))
        *o++ = '0';
    else if (known[!d])
        o = jw_fmt_uint(o, (uint32_t)(e->ack - base[!d]));
    else
        o = PUT_LIT(o, "null");
    o = PUT_LIT(o, ",\"b\":");
    o = jw_fmt_uint(o, e->b);
    o = PUT_LIT(o, ",\"olen\":");
    o = jw_fmt_uint(o, e->olen);
    o = d ? PUT_LIT(o, ",\"dir\":\"<\",\"t\":") : PUT_LIT(o, ",\"dir\":\">\",\"t\":");
    o = jw_fmt_uint(o, e->ts > f->t_start ? (e->ts - f->t_start) / 1000000u : 0);
    o = PUT_LIT(o, ",\"flags\":\"");
    o += strlen(tcp_flags_str(e->flags, o)); /* the letters, and a NUL overwritten here */
    *o++ = '"';
    return o;
}

static void ppi_json(const struct module_env *env, const void *state, const struct flow *f,
                     struct jsonw *w)
{
    (void)env;
    const struct ppi_state *s = state;
    uint32_t base[2];
    bool known[2];
    for (int d = 0; d < 2; d++) {
        known[d] = f->side[d].syn_seen || s->have_first[d];
        base[d] = f->side[d].syn_seen ? f->side[d].syn_seq : s->first_seq[d];
    }
    jw_key(w, "ppi");
    jw_arr_open(w);
    for (uint32_t i = 0; i < s->n; i++) {
        const struct ppi_entry *e = &s->e[i];
        jw_obj_open(w);
        /* the head takes one value's place in the object: jsonw puts the
         * comma before "opts" */
        char *o = jw_raw_begin(w, PPI_HEAD_MAX);
        if (o)
            jw_raw_end(w, ppi_head(o, e, f, base, known));
        jw_key(w, "opts");
        if (anon_active(f)) {
            uint8_t opts[TCP_OPT_MAX];
            tcp_opts_to_json(w, opts, strip_mptcp(e->opts, e->optcap, opts));
        } else {
            tcp_opts_to_json(w, e->opts, e->optcap);
        }
        jw_close(w);
    }
    jw_close(w);
}

const struct joy_module ppi_module = {
    .name = "ppi",
    .summary = "per-packet TCP information (seq, ack, flags, options)",
    .options = ppi_options,
    .config_size = sizeof(struct ppi_cfg),
    .interest = MI_TCP,
    .packet = ppi_packet,
    .write_json = ppi_json,
    .free_state = module_free,
};

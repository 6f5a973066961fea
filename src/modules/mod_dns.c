/*
 * \summary: DNS module - every DNS message of both directions (dns=1)
 *
 * DNS over UDP and over TCP (RFC 1035 section 4.2: each message preceded
 * by a two-byte length, several messages per connection), mDNS (RFC 6762,
 * port 5353) and LLMNR (RFC 4795, port 5355).  A flow is DNS when either
 * port is 53, 5353 or 5355, or (UDP only) when its first datagram with a
 * payload passes a strict content check (dns_looks_like()).
 *
 * At packet time the module only finds message boundaries and copies the
 * message bytes into a bounded store (appmsg.h): at most DNS_MAX_MSGS
 * messages and DNS_MAX_BYTES bytes per flow.  The messages are parsed when
 * the record is written.  Direction comes from the core only (dir 0 = sent
 * by the flow's client), never from the QR bit.
 *
 * TCP: each direction is reassembled by reasm.h (in sequence order,
 * out-of-order segments queued, overlaps trimmed) and cut into messages by
 * their length prefix; message bytes are copied straight into the store
 * (nothing is kept in the reassembler), and the bytes of a message that
 * is not stored are skipped unread.  A gap that reassembly cannot fill, or
 * the end of the flow, leaves the message being read cut short: it is
 * written with "truncated": "stream".
 *
 * Output: "dns": [message, ...] in arrival order (doc/modules/dns.md), and
 * "dns_omitted": N when messages beyond the caps were left out.
 *
 * NetBIOS name service (UDP 137 on either side, RFC 1002) shares the DNS
 * header layout and passes the content check, but is not DNS: its
 * messages are stored the same way and written as "nbns" (and
 * "nbns_omitted") by nbns_message_json().
 */
#include "anon.h"
#include "appmsg.h"
#include "cursor.h"
#include "dns_parse.h"
#include "flow.h"
#include "jsonw.h"
#include "module.h"
#include "packet.h"
#include "reasm.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define DNS_MAX_MSGS 64
#define DNS_MAX_BYTES (64u * 1024)

struct dns_cfg {
    bool on;
};

static const struct joy_option dns_options[] = {
    {"dns", OPT_BOOL, offsetof(struct dns_cfg, on), 0, 1, "0", "0|1",
     "DNS messages of both directions (UDP/TCP 53, mDNS 5353, LLMNR 5355, or DNS by content)"},
    {NULL, 0, 0, 0, 0, NULL, NULL, NULL},
};

/* One direction of a TCP connection: the reassembler and where the
 * length-prefixed message being read stands. */
struct dns_tcp_dir {
    struct reasm r;
    struct appmsg_store *store;
    uint8_t dir;
    uint8_t hdr[2];      /* the length prefix being read */
    uint8_t hdr_have;
    uint32_t left;       /* bytes of the current message still to come */
    int32_t cur;         /* index of the message being filled, -1 if none */
};

struct dns_state {
    struct appmsg_store *store;
    bool tcp;
    bool nbns; /* NetBIOS name service (UDP 137), written as "nbns" */
    struct dns_tcp_dir t[2]; /* TCP only */
};

/* Marks a flow that was looked at and is not DNS (never dereferenced). */

static bool dns_port(uint16_t port)
{
    return port == 53 || port == 5353 || port == 5355;
}

static void dns_free(void *state)
{
    struct dns_state *s = state;
    if (!s)
        return;
    if (s->tcp) {
        reasm_free(&s->t[0].r);
        reasm_free(&s->t[1].r);
    }
    appmsg_free(s->store);
    module_free(s);
}

static void dns_udp(struct dns_state *s, const struct packet *p, int dir)
{
    uint32_t wire = p->payload_len;
    uint8_t cut = APPMSG_CUT_CAPTURE;
    if (p->frag == FRAG_FIRST) {
        /* the rest of the datagram is in later fragments that are not
         * reassembled: the UDP length says how long the message is */
        cut = APPMSG_CUT_FRAGMENT;
        if (p->udp_len >= 8 && p->udp_len - 8u > wire)
            wire = p->udp_len - 8u;
    }
    appmsg_add(s->store, dir, p->payload, p->payload_cap, wire, cut);
}

/* The reassembled stream of one direction: 2-byte length, message, ... */
static size_t dns_tcp_consume(void *ctx, const uint8_t *data, size_t len, uint64_t ts)
{
    (void)ts;
    struct dns_tcp_dir *t = ctx;
    size_t i = 0;
    while (i < len) {
        if (t->left == 0) {
            t->hdr[t->hdr_have++] = data[i++];
            if (t->hdr_have == 2) {
                t->hdr_have = 0;
                t->left = load_be16(t->hdr);
                t->cur = -1;
                if (t->left) {
                    struct appmsg *m = appmsg_begin(t->store, t->dir, t->left);
                    if (m)
                        t->cur = (int32_t)(m - t->store->msg);
                }
            }
            continue;
        }
        if (t->cur < 0 || t->store->msg[t->cur].len == t->store->msg[t->cur].room) {
            /* not stored (or its room is full): skip the rest unread */
            size_t skip = i + t->left;
            t->left = 0;
            t->cur = -1;
            if (skip >= len)
                return skip;
            i = skip;
            continue;
        }
        size_t take = len - i < t->left ? len - i : t->left;
        appmsg_fill(t->store, &t->store->msg[t->cur], data + i, (uint32_t)take);
        i += take;
        t->left -= (uint32_t)take;
        if (t->left == 0)
            t->cur = -1;
    }
    return len;
}

static void dns_tcp(struct dns_state *s, const struct packet *p, int dir)
{
    struct dns_tcp_dir *t = &s->t[dir];
    if (!reasm_running(&t->r))
        return;
    enum reasm_state st = reasm_feed(&t->r, p->tcp_seq, (p->tcp_flags & TCP_SYN) != 0, p->payload,
                                     p->payload_cap, p->payload_len, p->ts, dns_tcp_consume, t);
    if (st != REASM_RUN && t->cur >= 0) {
        /* a gap (or the snap length) ends this direction mid-message */
        struct appmsg *m = &s->store->msg[t->cur];
        if (m->cut == APPMSG_CUT_NONE)
            m->cut = p->payload_cap < p->payload_len ? APPMSG_CUT_CAPTURE : APPMSG_CUT_STREAM;
        t->cur = -1;
    }
}

static void dns_packet(const struct module_env *env, void **state, const struct flow *f,
                       const struct packet *p, int dir)
{
    (void)env;
    (void)f;
    struct dns_state *s = *state;
    if (p->frag == FRAG_LATER || !p->has_ports)
        return;
    if (!s) {
        bool syn = p->proto == 6 && (p->tcp_flags & TCP_SYN);
        if (!p->payload_cap && !syn)
            return; /* decide on the first packet that carries data (or a SYN) */
        bool hinted = dns_port(p->sport) || dns_port(p->dport);
        /* NetBIOS name service looks like DNS to the content check but is
         * not DNS: it gets a member of its own */
        bool nbns = !hinted && p->proto == 17 && (p->sport == 137 || p->dport == 137);
        bool ok = p->proto == 17 ? hinted || nbns || dns_looks_like(p->payload, p->payload_cap)
                                 : p->proto == 6 && hinted;
        if (!ok) {
            module_decline(state);
            return;
        }
        s = module_calloc(env, sizeof *s);
        if (!s)
            return;
        s->store = appmsg_new(DNS_MAX_MSGS, DNS_MAX_BYTES);
        if (!s->store) {
            module_free(s);
            return;
        }
        s->nbns = nbns;
        if (p->proto == 6) {
            s->tcp = true;
            for (int d = 0; d < 2; d++) {
                reasm_init(&s->t[d].r, REASM_DEFAULT_CAP);
                s->t[d].store = s->store;
                s->t[d].dir = (uint8_t)d;
                s->t[d].cur = -1;
            }
        }
        *state = s;
    }
    if (p->proto == 17) {
        if (p->payload_cap)
            dns_udp(s, p, dir);
    } else if (s->tcp && p->l4 && (p->payload_len || (p->tcp_flags & TCP_SYN))) {
        dns_tcp(s, p, dir);
    }
}

static void dns_json(const struct module_env *env, const void *state, const struct flow *f,
                     struct jsonw *w)
{
    const struct dns_state *s = state;
    if (!s->store)
        return;
    const struct appmsg_store *st = s->store;
    struct dns_anon an = {anon_active(f)};
    if (st->n) {
        jw_key(w, s->nbns ? "nbns" : "dns");
        jw_arr_open(w);
        for (uint32_t i = 0; i < st->n; i++) {
            const struct appmsg *m = &st->msg[i];
            const char *cut = appmsg_cut_name(m->cut);
            if (!cut && m->len < m->wire_len)
                cut = "stream"; /* TCP: the flow ended mid-message */
            if (s->nbns)
                nbns_message_json(w, appmsg_bytes(st, m), m->len, m->wire_len, cut, m->dir);
            else
                dns_message_json(w, appmsg_bytes(st, m), m->len, m->wire_len, cut, m->dir, &an);
        }
        jw_close(w);
    }
    if (st->omitted)
        jw_kv_uint(w, s->nbns ? "nbns_omitted" : "dns_omitted", st->omitted);
}

const struct joy_module dns_module = {
    .name = "dns",
    .summary = "DNS, mDNS and LLMNR messages of both directions",
    .options = dns_options,
    .config_size = sizeof(struct dns_cfg),
    .interest = MI_TCP | MI_UDP,
    .packet = dns_packet,
    .write_json = dns_json,
    .free_state = dns_free,
    .sees_retrans = true, /* late (reordered) TCP segments; reasm trims duplicates */
};

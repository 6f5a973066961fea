/*
 * meter.c - per-packet work: decode, fragment matching, flow update.
 *
 * This is the hot path.  For each frame it decodes the headers (no copy),
 * advances the clock and expires what is due (O(expired)), finds or
 * creates the flow, and updates fixed-size counters and arrays in the
 * record.  It allocates nothing except a record for a new flow (and those
 * come from a free list once the cache is warm), and formats nothing:
 * JSON is written only when a record leaves the cache.
 */
#include "meter.h"

#include "anon.h"
#include "context.h"
#include "cursor.h"
#include "jsonw.h"
#include "module.h"
#include "packet.h"
#include "record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/*
 * Fragment table: remembers, for datagrams whose first fragment was seen,
 * the transport ports, so that later fragments join the first fragment's
 * flow.  A later fragment that arrives before its first fragment is
 * "parked": its packet and byte counts wait in the entry and are added to
 * the flow when the first fragment arrives.  The table is direct-mapped and
 * fixed in size (FRAG_SLOTS): a new datagram replaces whatever occupied its
 * slot, so memory is bounded and every operation is O(1).  Entries older
 * than FRAG_MAX_AGE are ignored.  Parked fragments whose first fragment
 * never comes are counted in stats.frag_unmatched.
 */
#define FRAG_SLOTS 4096
#define FRAG_MAX_AGE (60ull * 1000000000ull)

struct frag_entry {
    struct ipaddr src, dst;
    uint32_t id;
    uint8_t proto, ipver, used;
    bool have_first;            /* the first fragment was seen */
    bool first_has_ports;       /* ... and it carried a port-bearing header */
    uint16_t sport, dport;
    uint64_t ts;                /* when the entry was claimed */
    uint64_t parked_pkts, parked_bytes, parked_ip_bytes;
    uint64_t parked_first_ts, parked_last_ts;
};

enum frag_action { FRAG_PROCESS, FRAG_PARKED };
/*
 * Packet classes for module dispatch: each enabled module is listed, in
 * slot order, under every class its `interest` names, so the packet path
 * calls only the modules that asked for that transport.
 */
enum { CLS_TCP, CLS_UDP, CLS_ICMP, CLS_OTHER, N_CLS };

#define TICK_NS 1000000000ull   /* module tick hooks: once per second of meter time */

struct joy_meter {
    const struct joy_context *ctx;
    const struct joy_config *cfg;   /* &ctx->cfg */
    struct flow_table *table;
    joy_record_fn on_record;
    void *user;
    struct jsonw w;
    uint64_t now;                   /* ns: newest packet time (of this clock epoch) */
    uint64_t next_tick;             /* meter time of the next tick call */
    struct joy_stats stats;
    /* enabled modules, in slot order (ctx->mod_index) */
    size_t n_mod;
    struct module_env env[JOY_MAX_MODULES];
    uint8_t want[N_CLS][JOY_MAX_MODULES];   /* slots per packet class */
    uint8_t n_want[N_CLS];
    uint8_t ticks[JOY_MAX_MODULES];         /* slots with a tick hook */
    uint8_t n_ticks;
    struct anon_worker *anon;       /* anon=: this meter's cipher and buffer */
    struct modpool *pool;           /* the modules' per-flow state (modpool.c) */
    struct record_env rec_env;
    struct frag_entry *frags;       /* FRAG_SLOTS entries, allocated at the first fragment */
    uint64_t frag_parked_hint[FRAG_SLOTS / 64]; /* bit set: that slot may hold parked fragments */
    uint64_t tun_seed;              /* keys the tunnel identity hash */
    struct tunnel_layer tun_layers[TUNNEL_MAX_DEPTH]; /* the current packet's, outermost first */
};

/* The tunnel layers around the packet being processed (NULL: none). */
struct tun_ctx {
    const struct tunnel_layer *layers;
    unsigned n;
    uint64_t id;  /* flow_key.tun */
};

char module_declined_marker, module_noted_marker;

static inline const struct joy_module *slot_module(const struct joy_meter *m, size_t slot)
{
    return joy_modules[m->ctx->mod_index[slot]];
}

static uint32_t frag_slot(const struct packet *p)
{
    uint32_t h = p->ipid * 2654435761u;
    for (int i = 0; i < 16; i += 4)
        h ^= load_be32(p->src.b + i) * 2246822519u ^ load_be32(p->dst.b + i) * 3266489917u;
    h ^= p->proto;
    h ^= h >> 15;
    return h & (FRAG_SLOTS - 1);
}

static bool frag_match(const struct frag_entry *e, const struct packet *p)
{
    return e->used && e->id == p->ipid && e->proto == p->proto && e->ipver == p->ipver &&
           memcmp(e->src.b, p->src.b, 16) == 0 && memcmp(e->dst.b, p->dst.b, 16) == 0;
}

static void account_orphans(struct joy_meter *m, const struct frag_entry *e);

static void frag_claim(struct joy_meter *m, struct frag_entry *e, const struct packet *p)
{
    if (e->used && e->parked_pkts)
        account_orphans(m, e); /* their first fragment never came */
    memset(e, 0, sizeof *e);
    e->src = p->src;
    e->dst = p->dst;
    e->id = p->ipid;
    e->proto = p->proto;
    e->ipver = p->ipver;
    e->ts = p->ts;
    e->used = 1;
}

/*
 * First fragments leave their ports; later ones pick them up or are parked.
 * For a first fragment, *parked receives the entry whose parked counts the
 * caller adds to the flow.
 */
static enum frag_action frag_track(struct joy_meter *m, struct packet *p, struct frag_entry **parked)
{
    *parked = NULL;
    if (!m->frags && !(m->frags = calloc(FRAG_SLOTS, sizeof *m->frags)))
        return FRAG_PROCESS; /* out of memory: the fragment goes on without ports */
    uint32_t slot = frag_slot(p);
    struct frag_entry *e = &m->frags[slot];
    bool fresh = frag_match(e, p) && (p->ts >= e->ts ? p->ts - e->ts : e->ts - p->ts) < FRAG_MAX_AGE;
    if (p->frag == FRAG_FIRST) {
        if (fresh && e->parked_pkts)
            *parked = e;
        else if (!fresh || e->have_first)
            frag_claim(m, e, p);
        e->have_first = true;
        e->first_has_ports = p->has_ports;
        e->sport = p->has_ports ? p->sport : 0;
        e->dport = p->has_ports ? p->dport : 0;
        return FRAG_PROCESS;
    }
    if (fresh && e->have_first) {
        p->has_ports = e->first_has_ports;
        p->sport = e->sport;
        p->dport = e->dport;
        return FRAG_PROCESS;
    }
    if (!fresh)
        frag_claim(m, e, p);
    if (!e->parked_pkts)
        e->parked_first_ts = p->ts;
    m->frag_parked_hint[slot / 64] |= 1ull << (slot % 64);
    e->parked_pkts++;
    e->parked_bytes += p->payload_len;
    e->parked_ip_bytes += p->ip_len;
    if (p->ts > e->parked_last_ts)
        e->parked_last_ts = p->ts;
    return FRAG_PARKED;
}

/* The structured view of a record (joy.h struct joy_record). */
static void fill_view(struct joy_record *r, const struct flow *f, const struct flow *shown,
                      int64_t time_base)
{
    _Static_assert(sizeof(struct joy_pkt) == sizeof(struct splt_entry) &&
                   offsetof(struct joy_pkt, len) == offsetof(struct splt_entry, len) &&
                   offsetof(struct joy_pkt, dir) == offsetof(struct splt_entry, dir),
                   "struct joy_pkt mirrors struct splt_entry");
    r->ip_version = f->key.ipver;
    r->protocol = f->key.proto;
    r->has_ports = flow_has_ports(f);
    r->expire = f->expire;
    r->sp = r->has_ports ? flow_sp(f) : 0;
    r->dp = r->has_ports ? flow_dp(f) : 0;
    memcpy(r->sa, flow_sa(shown)->b, 16);
    memcpy(r->da, flow_da(shown)->b, 16);
    r->time_start_ns = f->t_start;
    r->time_end_ns = f->t_end;
    r->time_base_sec = time_base;
    struct joy_side *side[2] = {&r->out, &r->in};
    for (int d = 0; d < 2; d++) {
        const struct flow_side *s = &f->side[d];
        *side[d] = (struct joy_side){.packets = s->pkts, .bytes = s->bytes,
                                     .ip_bytes = s->ip_bytes, .retrans = s->retrans,
                                     .tcp_flags = s->flags_or, .min_ttl = s->min_ttl,
                                     .ttl_seen = s->ttl_seen};
    }
    static const struct splt_entry none[1];
    r->n_pkts = f->n_splt;
    r->pkts = (const struct joy_pkt *)(const void *)(f->splt ? f->splt : none);
}

static void emit_record(void *ctx, struct flow *f)
{
    struct joy_meter *m = ctx;
    struct flow copy;
    const struct flow *shown = record_shown_flow(&m->rec_env, f, &copy);
    char cid[RECORD_CID_MAX];
    jw_reset(&m->w);
    record_write(&m->w, f, shown, &m->rec_env, true, cid);
    if (m->w.overflow) {
        /* Too large even for the cap: write the core fields only (the
         * module states are left out, the addresses still anonymised). */
        m->stats.oversized++;
        jw_reset(&m->w);
        record_write(&m->w, f, shown, &m->rec_env, false, cid);
    }
    m->stats.records++;
    struct joy_record r;
    memset(&r, 0, sizeof r);
    r.json = m->w.buf;
    r.len = m->w.len;
    fill_view(&r, f, shown, m->rec_env.time_base);
    r.community_id = cid[0] ? cid : NULL;
    m->on_record(m->user, &r);
}

/* A new flow: is one of its addresses anonymised (anon.h)? */
static void flag_anon(struct joy_meter *m, struct flow *f)
{
    const struct anon_policy *p = m->ctx->anon;
    if (p && (anon_hidden(p, &f->key.addr[0], f->key.ipver) ||
              anon_hidden(p, &f->key.addr[1], f->key.ipver)))
        f->anon = true;
}

static void release_modules(struct joy_meter *m, struct flow *f)
{
    for (size_t i = 0; i < m->n_mod; i++) {
        if (module_state_is_data(f->mod[i])) {
            const struct joy_module *mod = slot_module(m, i);
            if (mod->free_state)
                mod->free_state(f->mod[i]);
            else
                free(f->mod[i]);
        }
        f->mod[i] = NULL;
    }
}

static void release_record(void *ctx, struct flow *f)
{
    release_modules(ctx, f);
    free(f->tun);
    f->tun = NULL;
}

/*
 * Later fragments whose first fragment never came: their transport header
 * (and ports) is unknown, so they are counted in a flow of their addresses
 * and protocol with ports 0 rather than lost.
 */
static void account_orphans(struct joy_meter *m, const struct frag_entry *e)
{
    struct packet p;
    memset(&p, 0, sizeof p);
    p.ipver = e->ipver;
    p.proto = e->proto;
    p.src = e->src;
    p.dst = e->dst;
    struct flow_key key;
    bool src_first, created;
    int dir;
    flow_key_from_packet(&key, &p, m->cfg->bidir, &src_first);
    struct flow *f = flow_lookup(m->table, &key, e->parked_first_ts, src_first, &dir, &created);
    m->stats.frag_unmatched += e->parked_pkts;
    if (!f)
        return;
    if (created)
        flag_anon(m, f);
    struct flow_side *s = &f->side[dir];
    s->pkts += e->parked_pkts;
    s->bytes += e->parked_bytes;
    s->ip_bytes += e->parked_ip_bytes;
    f->frag_pkts += e->parked_pkts;
    if (e->parked_last_ts > f->t_end)
        f->t_end = e->parked_last_ts;
    if (e->parked_first_ts < f->t_start)
        f->t_start = e->parked_first_ts;
    flow_touch(m->table, f);
}

static unsigned interest_classes(const struct joy_module *mod)
{
    return mod->interest ? mod->interest : MI_ALL;
}

struct joy_meter *joy_meter_new(const struct joy_context *ctx, joy_record_fn on_record,
                                void *user, char *err, size_t errlen)
{
    char dummy[1];
    if (!err || !errlen) {
        err = dummy;
        errlen = sizeof dummy;
    }
    if (!ctx || !on_record) {
        snprintf(err, errlen, "joy_meter_new: %s is NULL", ctx ? "on_record" : "the context");
        return NULL;
    }
    struct joy_meter *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    const struct joy_config *cfg = &ctx->cfg;
    m->ctx = ctx;
    m->cfg = cfg;
    m->on_record = on_record;
    m->user = user;
    jw_init(&m->w);
    if (ctx->anon && !(m->anon = anon_worker_new(ctx->anon, err, errlen))) {
        joy_meter_free(m);
        return NULL;
    }
    if (!(m->pool = modpool_new())) {
        snprintf(err, errlen, "out of memory");
        joy_meter_free(m);
        return NULL;
    }
    static const unsigned cls_bit[N_CLS] = {MI_TCP, MI_UDP, MI_ICMP, MI_OTHER};
    for (size_t i = 0; i < ctx->n_mod; i++) {
        const struct joy_module *mod = joy_modules[ctx->mod_index[i]];
        struct module_env *env = &m->env[i];
        env->cfg = cfg->modcfg[ctx->mod_index[i]];
        env->data = ctx->mod_data[i];
        env->core = cfg;
        env->ctx = ctx;
        env->anon = m->anon;
        env->pool = m->pool;
        m->n_mod = i + 1;
        if (mod->worker_init && mod->worker_init(env, &env->scratch, err, errlen) != 0) {
            joy_meter_free(m);
            return NULL;
        }
        for (int c = 0; c < N_CLS; c++)
            if (mod->packet && (interest_classes(mod) & cls_bit[c]))
                m->want[c][m->n_want[c]++] = (uint8_t)i;
        if (mod->tick)
            m->ticks[m->n_ticks++] = (uint8_t)i;
    }
    m->rec_env = (struct record_env){.cfg = cfg, .envs = m->env, .mod_index = ctx->mod_index,
                                     .n_mod = m->n_mod, .anon = m->anon};
    struct flow_table_params prm = {
        .bidir = cfg->bidir,
        .num_pkts = (uint32_t)cfg->num_pkts,
        .n_modules = (uint32_t)m->n_mod,
        .max_flows = cfg->max_flows,
        .inactive_ns = cfg->inactive_timeout * 1000000000ull,
        .active_ns = cfg->active_timeout * 1000000000ull,
        .emit = emit_record,
        .emit_ctx = m,
        .release = release_record,
    };
    if (getrandom(&m->tun_seed, sizeof m->tun_seed, 0) != (ssize_t)sizeof m->tun_seed)
        m->tun_seed = (uint64_t)(uintptr_t)m * 0x9e3779b97f4a7c15ull;
    m->table = flow_table_new(&prm);
    if (!m->table) {
        snprintf(err, errlen, "out of memory");
        joy_meter_free(m);
        return NULL;
    }
    return m;
}

void joy_meter_free(struct joy_meter *m)
{
    if (!m)
        return;
    flow_table_free(m->table);
    for (size_t i = 0; i < m->n_mod; i++) {
        const struct joy_module *mod = slot_module(m, i);
        if (mod->worker_free && m->env[i].scratch)
            mod->worker_free(m->env[i].scratch);
    }
    anon_worker_free(m->anon);
    modpool_free(m->pool); /* after the flows, whose states it holds */
    jw_free(&m->w);
    free(m->frags);
    free(m);
}

int joy_meter_reload(struct joy_meter *m, const struct joy_reload *r)
{
    if (!m || !r)
        return JOY_ERR_INVALID;
    for (size_t i = 0; i < m->n_mod; i++) {
        const void *d;
        if (context_reload_data(r, m->ctx, i, &d))
            m->env[i].data = d;
    }
    return JOY_OK;
}

/* The meter's clock moves on: expire what is due, and tick the modules
 * that asked for it (at most once per second of meter time). */
static void clock_advance(struct joy_meter *m, uint64_t now)
{
    m->now = now;
    flow_table_expire(m->table, now);
    if (m->n_ticks && now >= m->next_tick) {
        m->next_tick = now + TICK_NS;
        for (size_t k = 0; k < m->n_ticks; k++) {
            size_t i = m->ticks[k];
            slot_module(m, i)->tick(&m->env[i], now);
        }
    }
}

/* Sequence number comparisons modulo 2^32 (RFC 9293 3.4). */
static inline bool seq_lt(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }
static inline bool seq_le(uint32_t a, uint32_t b) { return (int32_t)(a - b) <= 0; }

/*
 * Is the TCP segment a retransmission?  The definition is doc/schema.md
 * "TCP retransmissions" (test/test_fielderr.py checks this code against
 * it): its data must lie wholly at or below the highest sequence number
 * already seen in its direction, and not overlap the latest gap: a segment
 * that fills a hole left by reordering is new data, not a retransmission.
 * One gap is remembered (the latest), which covers ordinary reordering in
 * O(1).  The SYN and FIN flags occupy a sequence number each but are not
 * data; segments without data are never retransmissions.
 */
static bool tcp_retransmission(struct flow_side *s, const struct packet *p)
{
    uint32_t seq = p->tcp_seq;
    uint32_t data_end = seq + p->payload_len;
    uint32_t end = data_end + ((p->tcp_flags & TCP_FIN) ? 1 : 0);
    if (p->tcp_flags & TCP_SYN) {
        s->seq_hi = seq + 1 + p->payload_len;
        s->hole_lo = s->hole_hi = s->seq_hi;
        s->seq_valid = true;
        return false;
    }
    if (!s->seq_valid) {
        s->seq_hi = end;
        s->hole_lo = s->hole_hi = end;
        s->seq_valid = true;
        return false;
    }
    if (p->payload_len == 0) {
        if (seq_lt(s->seq_hi, end) && seq_le(seq, s->seq_hi))
            s->seq_hi = end;
        return false;
    }
    if (seq_lt(s->seq_hi, data_end)) {           /* new data beyond the highest */
        if (seq_lt(s->seq_hi, seq)) {            /* ... leaving a gap */
            s->hole_lo = s->seq_hi;
            s->hole_hi = seq;
        }
        s->seq_hi = end;
        return false;
    }
    /* wholly at or below the highest: new only if it falls in the gap */
    if (s->hole_lo != s->hole_hi && seq_lt(seq, s->hole_hi) && seq_lt(s->hole_lo, data_end)) {
        if (seq_le(seq, s->hole_lo))
            s->hole_lo = seq_lt(data_end, s->hole_hi) ? data_end : s->hole_hi;
        else
            s->hole_hi = seq; /* keep the lower part of a split gap */
        return false;
    }
    return true;
}

/*
 * TCP port reuse: does this SYN begin a new connection on the addresses and
 * ports of a flow whose connection has ended for its sender?  Ended: the
 * sender sent a FIN or a RST, or the other side sent a RST (with bidir=0
 * the other side is the record of the reverse direction, when there is
 * one).  A SYN from that side cannot belong to the old connection any
 * more.  New: the sender's SYN recorded in the flow had another sequence
 * number, or it sent none (a retransmitted SYN or SYN-ACK has the same).
 * Such a SYN ends the record (expire_type "c") and opens the next one; an
 * open connection is never cut, whatever SYNs arrive on it.  Only SYNs on
 * an existing flow get here: the cost is nil for other packets.
 */
static bool tcp_new_connection(struct joy_meter *m, const struct flow *f, int dir,
                               const struct packet *p)
{
    const struct flow_side *s = &f->side[dir];
    if (s->syn_seen && s->syn_seq == p->tcp_seq)
        return false;
    if (s->flags_or & (TCP_FIN | TCP_RST))
        return true;
    if (m->cfg->bidir)
        return (f->side[!dir].flags_or & TCP_RST) != 0;
    struct flow_key rk = f->key;
    rk.addr[0] = f->key.addr[1];
    rk.addr[1] = f->key.addr[0];
    rk.port[0] = f->key.port[1];
    rk.port[1] = f->key.port[0];
    const struct flow *r = flow_table_find(m->table, &rk);
    return r && (r->side[0].flags_or & TCP_RST);
}

static void record_syn(struct flow_side *s, const struct packet *p)
{
    s->syn_seen = true;
    s->syn_flags = p->tcp_flags;
    s->syn_seq = p->tcp_seq;
    s->syn_win = p->tcp_win;
    s->syn_hdr_optlen = p->tcp_hdr_len > 20 ? (uint8_t)(p->tcp_hdr_len - 20) : 0;
    uint8_t n = p->tcp_opts_cap > TCP_OPT_MAX ? TCP_OPT_MAX : p->tcp_opts_cap;
    s->syn_optlen = n;
    if (n)
        memcpy(s->syn_opts, p->tcp_opts, n);
}

static int packet_class(const struct packet *p)
{
    switch (p->proto) {
    case 6: return CLS_TCP;
    case 17: return CLS_UDP;
    case 1:
    case 58: return CLS_ICMP;
    default: return CLS_OTHER;
    }
}

/* Does this tunnel type's identifier differ per direction? */
static bool tunnel_id_per_direction(unsigned type)
{
    return type == TUN_PPTP || type == TUN_GTPU || type == TUN_MPLS_UDP;
}

static inline uint64_t mix64(uint64_t h)
{
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ull;
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ull;
    h ^= h >> 32;
    return h;
}

/*
 * The identity of a stack of tunnel layers (flow_key.tun): per layer its
 * type, the outer IP version, the outer address pair in canonical order
 * (both directions agree) and the identifier when it is the same in both
 * directions (GRE key, VXLAN / GENEVE VNI, ERSPAN session).  Outer UDP
 * ports are left out (VXLAN and GENEVE choose the source port per inner
 * flow), so are identifiers chosen by each end (GTP-U TEID, PPTP call id,
 * MPLS label).  A keyed 64-bit hash: never 0.
 */
static uint64_t tunnel_identity(uint64_t h, const struct tunnel_layer *t)
{
    const struct ipaddr *a = &t->src, *b = &t->dst;
    if (memcmp(a->b, b->b, 16) > 0) {
        a = &t->dst;
        b = &t->src;
    }
    uint64_t id = tunnel_id_per_direction(t->type) || !t->has_id ? 0 : (uint64_t)t->id + 1;
    h = mix64(h ^ ((uint64_t)t->type << 40 | (uint64_t)t->ipver << 32 | id));
    for (int k = 0; k < 16; k += 8) {
        uint64_t x, y;
        memcpy(&x, a->b + k, 8);
        memcpy(&y, b->b + k, 8);
        h = mix64(h ^ x);
        h = mix64(h ^ y);
    }
    return h ? h : 1;
}

static void tunnel_note(struct flow *f, const struct tun_ctx *tc, int dir, bool created)
{
    if (created) {
        f->tun = malloc(sizeof *f->tun);
        if (!f->tun)
            return;
        f->tun->n = (uint8_t)tc->n;
        f->tun->dir = (uint8_t)dir;
        f->tun->other_seen = 0;
        memcpy(f->tun->layer, tc->layers, tc->n * sizeof *tc->layers);
        return;
    }
    struct flow_tunnel *t = f->tun;
    if (!t || t->dir == dir)
        return;
    for (unsigned i = 0; i < t->n && i < tc->n; i++) {
        if (!(t->other_seen & (1u << i)) && tc->layers[i].has_id) {
            t->other_id[i] = tc->layers[i].id;
            t->other_seen |= (uint8_t)(1u << i);
        }
    }
}

/* One decoded packet (outer, or inner when tc != NULL) to its flow. */
static void flow_packet(struct joy_meter *m, struct packet *p, const struct tun_ctx *tc)
{
    struct packet *const pk = p;
    const uint64_t ts = p->ts;
    struct frag_entry *parked = NULL;
    if (pk->frag != FRAG_NONE && frag_track(m, pk, &parked) == FRAG_PARKED)
        return;

    struct flow_key key;
    bool src_first, created;
    int dir;
    flow_key_from_packet(&key, pk, m->cfg->bidir, &src_first);
    if (tc)
        key.tun = tc->id;
    struct flow *f = flow_lookup(m->table, &key, ts, src_first, &dir, &created);
    if (f && !created && pk->proto == 6 && pk->l4 && (pk->tcp_flags & TCP_SYN) &&
        tcp_new_connection(m, f, dir, pk)) {
        m->stats.tcp_reused++;
        flow_table_end(m->table, f, EXPIRE_CLOSED);
        f = flow_lookup(m->table, &key, ts, src_first, &dir, &created);
    }
    if (!f) {
        m->stats.no_memory++;
        return;
    }
    if (created)
        flag_anon(m, f);
    if (tc)
        tunnel_note(f, tc, dir, created);
    if (created && (pk->proto == 1 || pk->proto == 58)) {
        f->first_icmp_type = pk->icmp_type;
        f->first_icmp_code = pk->icmp_code;
        f->first_icmp_from_client = true;
    }
    if (ts > f->t_end)
        f->t_end = ts;
    if (ts < f->t_start)
        f->t_start = ts; /* capture files are not always in time order */
    flow_touch(m->table, f);

    if (dir == 1 && pk->proto == 6 && pk->l4 && (pk->tcp_flags & (TCP_SYN | TCP_ACK)) == TCP_SYN &&
        !f->side[0].syn_seen && !f->side[1].syn_seen && m->cfg->bidir) {
        flow_swap_client(f);
        if (f->tun)
            f->tun->dir ^= 1;
        release_modules(m, f); /* module state from before the SYN is dropped */
        dir = 0;
    }
    struct flow_side *s = &f->side[dir];
    bool counted = true;
    if (pk->proto == 6 && pk->l4) {
        if (pk->frag == FRAG_NONE && tcp_retransmission(s, pk)) {
            s->retrans++;
            counted = m->cfg->retrans;
        }
        s->flags_or |= pk->tcp_flags;
        if ((pk->tcp_flags & TCP_SYN) && !s->syn_seen)
            record_syn(s, pk);
    }
    if (pk->frag == FRAG_LATER)
        f->frag_pkts++;
    if (parked) {
        /* later fragments that came before this first one */
        s->pkts += parked->parked_pkts;
        s->bytes += parked->parked_bytes;
        s->ip_bytes += parked->parked_ip_bytes;
        f->frag_pkts += parked->parked_pkts;
        parked->parked_pkts = parked->parked_bytes = parked->parked_ip_bytes = 0;
    }
    if (!counted) {
        /* A reordered segment that fills an older gap than the latest
         * looks like a retransmission; stream reassemblers (TLS) still
         * need it. */
        const int cls = packet_class(pk);
        for (size_t k = 0; k < m->n_want[cls]; k++) {
            size_t i = m->want[cls][k];
            const struct joy_module *mod = slot_module(m, i);
            if (mod->sees_retrans && f->mod[i] != MODULE_DECLINED)
                mod->packet(&m->env[i], &f->mod[i], f, pk, dir);
        }
        return;
    }

    s->pkts++;
    s->bytes += pk->payload_len;
    s->ip_bytes += pk->ip_len;
    if (!s->ttl_seen || pk->ttl < s->min_ttl) {
        s->min_ttl = pk->ttl;
        s->ttl_seen = true;
    }
    /* the arrays grow by doubling, from the table's pool (flow.h) */
    if (pk->ipver == 4 && s->n_ids < m->cfg->num_pkts &&
        (s->n_ids < s->ids_cap || flow_ids_grow(m->table, s)))
        s->ids[s->n_ids++] = (uint16_t)pk->ipid;
    if ((pk->payload_len || m->cfg->zeros) && f->n_splt < m->cfg->num_pkts &&
        (f->n_splt < f->splt_cap || flow_splt_grow(m->table, f))) {
        struct splt_entry *e = &f->splt[f->n_splt++];
        e->ts = ts;
        e->len = pk->payload_len;
        e->dir = (uint32_t)dir;
    }
    const int cls = packet_class(pk);
    for (size_t k = 0; k < m->n_want[cls]; k++) {
        size_t i = m->want[cls][k];
        if (f->mod[i] != MODULE_DECLINED)
            slot_module(m, i)->packet(&m->env[i], &f->mod[i], f, pk, dir);
    }
}


/* Take off up to `tunnels` layers; each inner packet goes to its own flow. */
static void decapsulate(struct joy_meter *m, const struct packet *outer)
{
    struct packet pk[2];
    struct tun_ctx tc = {.layers = m->tun_layers, .n = 0, .id = m->tun_seed};
    const struct packet *cur = outer;
    for (unsigned d = 0; d < m->cfg->tunnels && d < TUNNEL_MAX_DEPTH && maybe_tunnel(cur); d++) {
        struct packet *in = &pk[d & 1];
        if (decode_tunnel(in, &m->tun_layers[d], cur) != DECODE_OK)
            return;
        tc.n = d + 1;
        tc.id = tunnel_identity(tc.id, &m->tun_layers[d]);
        m->stats.decapsulated++;
        flow_packet(m, in, &tc);
        cur = in;
    }
}

/*
 * Packet time went back by more than inactive_timeout (files given out of
 * time order, mergecap -a): a new clock epoch (doc/schema.md "Clock").
 * The old clock would have expired every open flow before it could see a
 * packet this old again, so they leave now, each with the reason and in the
 * order that clock would have given; then the clock restarts at ts.
 */
static void clock_new_epoch(struct joy_meter *m, uint64_t ts)
{
    m->stats.clock_epochs++;
    flow_table_run_out(m->table);
    m->now = ts;
    m->next_tick = ts;
}

void joy_meter_packet(struct joy_meter *m, int dlt, const uint8_t *data, uint32_t caplen,
                      uint32_t wirelen, uint64_t ts)
{
    struct packet pkt;
    if (!m || (!data && caplen))
        return;
    m->stats.packets++;
    m->stats.bytes += caplen;
    switch (decode_packet(&pkt, dlt, data, caplen, wirelen, ts)) {
    case DECODE_OK: break;
    case DECODE_NOT_IP: m->stats.not_ip++; return;
    case DECODE_TRUNCATED: m->stats.truncated++; return;
    case DECODE_MALFORMED: m->stats.malformed++; return;
    case DECODE_UNSUPPORTED: m->stats.unsupported++; return;
    case DECODE_ENCRYPTED: m->stats.encrypted++; return;
    }
    if (ts > m->now)
        clock_advance(m, ts);
    else if (m->now - ts > m->cfg->inactive_timeout * 1000000000ull)
        clock_new_epoch(m, ts);
    flow_packet(m, &pkt, NULL);
    if (m->cfg->tunnels && maybe_tunnel(&pkt))
        decapsulate(m, &pkt);
}

void joy_meter_set_time_base(struct joy_meter *m, int64_t base_sec)
{
    const int64_t lim = INT64_C(1) << 62; /* base + 2^35 s of ns never overflows */
    if (m)
        m->rec_env.time_base = base_sec > lim ? lim : base_sec < -lim ? -lim : base_sec;
}

void joy_meter_advance(struct joy_meter *m, uint64_t now)
{
    if (m && now > m->now)
        clock_advance(m, now);
    else if (m && m->now - now > m->cfg->inactive_timeout * 1000000000ull)
        clock_new_epoch(m, now);
}

void joy_meter_flush(struct joy_meter *m)
{
    if (m)
        meter_flush_why(m, EXPIRE_END);
}

void meter_flush_why(struct joy_meter *m, enum expire_type why)
{
    for (size_t w = 0; w < FRAG_SLOTS / 64; w++) {
        for (uint64_t bits = m->frag_parked_hint[w]; bits; bits &= bits - 1) {
            struct frag_entry *e = &m->frags[w * 64 + (size_t)__builtin_ctzll(bits)];
            if (e->used && e->parked_pkts) {
                account_orphans(m, e);
                e->parked_pkts = 0;
            }
        }
        m->frag_parked_hint[w] = 0;
    }
    flow_table_flush(m->table, why);
}

void joy_meter_get_stats(const struct joy_meter *m, struct joy_stats *out)
{
    if (!out)
        return;
    if (!m) {
        memset(out, 0, sizeof *out);
        return;
    }
    *out = m->stats;
    out->flows_open = flow_table_count(m->table);
}

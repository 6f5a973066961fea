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

#include "jsonw.h"
#include "module.h"
#include "cursor.h"
#include "packet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
struct joy_meter {
    const struct joy_config *cfg;
    struct flow_table *table;
    record_sink_fn sink;
    void *sink_ctx;
    struct jsonw w;
    uint64_t now;                 /* ns: newest packet time */
    struct meter_stats stats;
    /* enabled modules */
    size_t n_mod;
    size_t mod_index[JOY_MAX_MODULES];        /* index into joy_modules[] */
    struct module_env env[JOY_MAX_MODULES];
    struct frag_entry *frags;     /* FRAG_SLOTS entries, allocated at the first fragment */
    uint64_t frag_parked_hint[FRAG_SLOTS / 64]; /* bit set: that slot may hold parked fragments */
};

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

static void emit_record(void *ctx, struct flow *f)
{
    struct joy_meter *m = ctx;
    jw_reset(&m->w);
    record_write(&m->w, f, m->cfg, m->env, m->mod_index, m->n_mod);
    if (m->w.overflow) {
        /* Too large even for the cap: write the core fields only (the
         * module states are hidden, the address hooks still apply). */
        void *saved[JOY_MAX_MODULES] = {0};
        m->stats.oversized++;
        jw_reset(&m->w);
        for (size_t i = 0; i < m->n_mod; i++) {
            saved[i] = f->mod[i];
            f->mod[i] = NULL;
        }
        record_write(&m->w, f, m->cfg, m->env, m->mod_index, m->n_mod);
        for (size_t i = 0; i < m->n_mod; i++)
            f->mod[i] = saved[i];
    }
    m->stats.records++;
    m->sink(m->sink_ctx, m->w.buf, m->w.len);
}

/* A new flow: does a module hide one of its addresses (anon.h)? */
static void flag_anon(struct joy_meter *m, struct flow *f)
{
    for (size_t i = 0; i < m->n_mod; i++) {
        const struct joy_module *mod = joy_modules[m->mod_index[i]];
        if (mod->hide_addr &&
            (mod->hide_addr(&m->env[i], &f->key.addr[0], f->key.ipver, NULL) ||
             mod->hide_addr(&m->env[i], &f->key.addr[1], f->key.ipver, NULL)))
            f->anon = true;
    }
}

static void release_record(void *ctx, struct flow *f)
{
    struct joy_meter *m = ctx;
    for (size_t i = 0; i < m->n_mod; i++) {
        if (f->mod[i]) {
            const struct joy_module *mod = joy_modules[m->mod_index[i]];
            if (mod->free_state)
                mod->free_state(f->mod[i]);
            else
                free(f->mod[i]);
            f->mod[i] = NULL;
        }
    }
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

struct joy_meter *meter_new(const struct joy_config *cfg, record_sink_fn sink, void *sink_ctx,
                            char *err, size_t errlen)
{
    struct joy_meter *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    m->cfg = cfg;
    m->sink = sink;
    m->sink_ctx = sink_ctx;
    jw_init(&m->w);
    for (size_t i = 0; i < joy_module_count; i++) {
        const struct joy_module *mod = joy_modules[i];
        if (!mod->enabled || !mod->enabled(cfg->modcfg[i], cfg))
            continue;
        struct module_env *env = &m->env[m->n_mod];
        env->cfg = cfg->modcfg[i];
        env->core = cfg;
        env->shared = NULL;
        if (mod->setup && mod->setup(cfg->modcfg[i], cfg, &env->shared, err, errlen) != 0) {
            meter_free(m);
            return NULL;
        }
        m->mod_index[m->n_mod++] = i;
    }
    /* every module may map the addresses it prints through the anonymiser */
    for (size_t i = 0; i < m->n_mod; i++) {
        const struct joy_module *mod = joy_modules[m->mod_index[i]];
        if (!mod->hide_addr)
            continue;
        for (size_t j = 0; j < m->n_mod; j++) {
            m->env[j].anon_mod = mod;
            m->env[j].anon_env = &m->env[i];
        }
        break;
    }
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
    m->table = flow_table_new(&prm);
    if (!m->table) {
        snprintf(err, errlen, "out of memory");
        meter_free(m);
        return NULL;
    }
    return m;
}

void meter_free(struct joy_meter *m)
{
    if (!m)
        return;
    flow_table_free(m->table);
    for (size_t i = 0; i < m->n_mod; i++) {
        const struct joy_module *mod = joy_modules[m->mod_index[i]];
        if (mod->teardown)
            mod->teardown(m->env[i].shared);
    }
    jw_free(&m->w);
    free(m->frags);
    free(m);
}

/* Sequence number comparisons modulo 2^32 (RFC 9293 3.4). */
static inline bool seq_lt(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }
static inline bool seq_le(uint32_t a, uint32_t b) { return (int32_t)(a - b) <= 0; }

/*
 * Is the TCP segment a retransmission?  Its data must lie wholly at or
 * below the highest sequence number already seen in its direction, and not
 * inside the latest gap: a segment that fills a hole left by reordering is
 * new data, not a retransmission.  One gap is remembered (the latest), which
 * covers ordinary reordering in O(1).  The SYN and FIN flags occupy a
 * sequence number each but are not data.
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

void meter_packet(struct joy_meter *m, int dlt, const uint8_t *data, uint32_t caplen,
                  uint32_t wirelen, uint64_t ts)
{
    struct packet pkt;
    m->stats.packets++;
    m->stats.bytes += caplen;
    switch (decode_packet(&pkt, dlt, data, caplen, wirelen, ts)) {
    case DECODE_OK: break;
    case DECODE_NOT_IP: m->stats.not_ip++; return;
    case DECODE_TRUNCATED: m->stats.truncated++; return;
    case DECODE_MALFORMED: m->stats.malformed++; return;
    case DECODE_UNSUPPORTED: m->stats.unsupported++; return;
    }
    if (ts > m->now) {
        m->now = ts;
        flow_table_expire(m->table, ts);
    }
    struct frag_entry *parked = NULL;
    if (pkt.frag != FRAG_NONE && frag_track(m, &pkt, &parked) == FRAG_PARKED)
        return;

    struct flow_key key;
    bool src_first, created;
    int dir;
    flow_key_from_packet(&key, &pkt, m->cfg->bidir, &src_first);
    struct flow *f = flow_lookup(m->table, &key, ts, src_first, &dir, &created);
    if (!f) {
        m->stats.no_memory++;
        return;
    }
    if (created)
        flag_anon(m, f);
    if (created && (pkt.proto == 1 || pkt.proto == 58)) {
        f->first_icmp_type = pkt.icmp_type;
        f->first_icmp_code = pkt.icmp_code;
        f->first_icmp_from_client = true;
    }
    if (ts > f->t_end)
        f->t_end = ts;
    if (ts < f->t_start)
        f->t_start = ts; /* capture files are not always in time order */
    flow_touch(m->table, f);

    if (dir == 1 && pkt.proto == 6 && pkt.l4 && (pkt.tcp_flags & (TCP_SYN | TCP_ACK)) == TCP_SYN &&
        !f->side[0].syn_seen && !f->side[1].syn_seen && m->cfg->bidir) {
        flow_swap_client(f);
        release_record(m, f); /* module state from before the SYN is dropped */
        dir = 0;
    }
    struct flow_side *s = &f->side[dir];
    bool counted = true;
    if (pkt.proto == 6 && pkt.l4) {
        if (pkt.frag == FRAG_NONE && tcp_retransmission(s, &pkt)) {
            s->retrans++;
            counted = m->cfg->retrans;
        }
        s->flags_or |= pkt.tcp_flags;
        if ((pkt.tcp_flags & TCP_SYN) && !s->syn_seen)
            record_syn(s, &pkt);
    }
    if (pkt.frag == FRAG_LATER)
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
        /* A reordered segment that arrives late looks like a
         * retransmission; stream reassemblers (TLS) still need it. */
        for (size_t i = 0; i < m->n_mod; i++) {
            const struct joy_module *mod = joy_modules[m->mod_index[i]];
            if (mod->sees_retrans && mod->packet)
                mod->packet(&m->env[i], &f->mod[i], f, &pkt, dir);
        }
        return;
    }

    s->pkts++;
    s->bytes += pkt.payload_len;
    s->ip_bytes += pkt.ip_len;
    if (!s->ttl_seen || pkt.ttl < s->min_ttl) {
        s->min_ttl = pkt.ttl;
        s->ttl_seen = true;
    }
    if (pkt.ipver == 4 && s->n_ids < m->cfg->num_pkts)
        s->ids[s->n_ids++] = (uint16_t)pkt.ipid;
    if ((pkt.payload_len || m->cfg->zeros) && f->n_splt < m->cfg->num_pkts) {
        struct splt_entry *e = &f->splt[f->n_splt++];
        e->ts = ts;
        e->len = pkt.payload_len;
        e->dir = (uint32_t)dir;
    }
    for (size_t i = 0; i < m->n_mod; i++) {
        const struct joy_module *mod = joy_modules[m->mod_index[i]];
        if (mod->packet)
            mod->packet(&m->env[i], &f->mod[i], f, &pkt, dir);
    }
}

void meter_advance_time(struct joy_meter *m, uint64_t now)
{
    if (now > m->now) {
        m->now = now;
        flow_table_expire(m->table, now);
    }
}

void meter_flush(struct joy_meter *m, enum expire_type why)
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

const struct meter_stats *meter_get_stats(const struct joy_meter *m) { return &m->stats; }
uint64_t meter_active_flows(const struct joy_meter *m) { return flow_table_count(m->table); }

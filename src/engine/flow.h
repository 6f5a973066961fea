/*
 * flow.h - the flow record and the flow cache.
 *
 * A flow is identified by its key: the two endpoints (address, port), the
 * IP version and the transport protocol.  With bidir=1 the key is stored
 * in a canonical order (smaller endpoint first) so that both directions of
 * a conversation find the same record; `client` says which endpoint is the
 * client (`sa`).  With bidir=0 the key keeps the sender first and each
 * direction has a record of its own (client is always 0).
 *
 * Per-direction data is kept in side[0] (sent by the client, "out") and
 * side[1] (sent by the server, "in").
 *
 * The cache (struct flow_table) is an open-addressing hash index over the
 * records plus two intrusive doubly linked lists:
 *   - the LRU list, ordered by last activity: its head is the flow idle the
 *     longest, so inactive expiry and eviction pop from the head in O(1);
 *   - the age list, ordered by creation: its head is the oldest flow, so
 *     active-timeout expiry is also O(1) per expired flow.
 * Nothing ever scans all flows, except the final flush.
 *
 * Memory: every record is a fixed size for the run (the struct and one
 * pointer per enabled module), carved from slabs that the table owns.  The
 * SPLT and IP-id arrays start empty and grow as packets arrive, doubling
 * from a few entries up to num_pkts, in blocks from the table's pool
 * (power-of-two size classes, carved from the same slabs): a one-packet
 * flow, most of a flood, costs about 400 bytes instead of the 1.4 KB that
 * whole num_pkts arrays took.  Freed records and blocks go to free lists
 * and are reused, so in steady state the packet path does not allocate;
 * memory is bounded by the peak number of open flows times the largest
 * record.
 */
#ifndef JOY_FLOW_H
#define JOY_FLOW_H

#include <stdbool.h>
#include <stdint.h>

#include "packet.h"

struct flow_key {
    struct ipaddr addr[2];
    uint16_t port[2];
    uint8_t proto;
    uint8_t ipver;
    uint8_t pad[2];
    uint64_t tun;   /* 0, or the identity of the tunnel layers around the flow (meter.c) */
};

#define TUNNEL_MAX_DEPTH 8

/*
 * The tunnel layers around an inner flow (tunnels=N), outermost first, as
 * taken from the packet that created the record; `dir` is the side (0
 * client, 1 server) that sent it.  Identifiers that differ per direction
 * (GTP-U TEID, PPTP call id, MPLS label) are also kept for the other side.
 */
struct flow_tunnel {
    uint8_t n;
    uint8_t dir;
    uint8_t other_seen;                  /* bit i: other_id[i] is set */
    uint32_t other_id[TUNNEL_MAX_DEPTH];
    struct tunnel_layer layer[TUNNEL_MAX_DEPTH];
};

/* One entry of the packet length and time sequence (SPLT). */
struct splt_entry {
    uint64_t ts;      /* ns */
    uint32_t len;     /* payload bytes */
    uint32_t dir;     /* 0 from client, 1 from server */
};

#define TCP_OPT_MAX 40

struct flow_side {
    uint64_t bytes;        /* L4 payload bytes */
    uint64_t pkts;         /* packets (retransmissions excluded unless retrans=1) */
    uint64_t retrans;      /* TCP retransmissions seen */
    uint64_t ip_bytes;     /* IP total length bytes (all packets counted) */
    uint32_t seq_hi;       /* TCP: highest sequence number + length seen */
    uint32_t hole_lo, hole_hi; /* TCP: the latest gap below seq_hi (empty if equal) */
    bool seq_valid;
    bool ttl_seen;
    uint8_t min_ttl;
    uint8_t flags_or;      /* union of TCP flags */
    uint16_t n_ids;        /* IPv4 ids recorded in ids[] (at most num_pkts) */
    uint16_t ids_cap;      /* entries ids[] has room for (flow_ids_grow) */
    /* first SYN (client) or SYN/ACK (server) of this side */
    bool syn_seen;
    uint8_t syn_flags;
    uint8_t syn_optlen;    /* option bytes captured */
    uint8_t syn_hdr_optlen;/* option bytes according to the data offset */
    uint16_t *ids;         /* ids_cap entries from the table's pool, or NULL */
    uint16_t syn_win;
    uint32_t syn_seq;
    uint8_t syn_opts[TCP_OPT_MAX];
};

enum expire_type {
    EXPIRE_NONE = 0,
    EXPIRE_INACTIVE = 'i',
    EXPIRE_ACTIVE = 'a',
    EXPIRE_END = 'e',
    EXPIRE_ROOM = 'r',
    EXPIRE_CLOSED = 'c',   /* TCP: a new SYN after the connection ended (meter.c) */
};

struct flow {
    /* cache links: private to flowtable.c */
    struct flow *lru_prev, *lru_next;
    struct flow *age_prev, *age_next;
    uint64_t hash;

    struct flow_key key;
    uint8_t client;        /* index into key.addr/key.port of the client */
    uint8_t expire;        /* enum expire_type, set when the record leaves */
    uint8_t first_icmp_type, first_icmp_code; /* for the Community ID */
    bool first_icmp_from_client;
    bool anon;             /* an address is in an anonymised subnet (anon.h) */
    uint16_t n_splt;          /* SPLT entries (at most num_pkts) */
    uint16_t splt_cap;        /* entries splt[] has room for (flow_splt_grow) */

    uint64_t t_start, t_end;  /* ns: first and last packet */
    struct flow_side side[2];
    struct splt_entry *splt;  /* splt_cap entries from the table's pool, or NULL */
    uint64_t frag_pkts;       /* later fragments counted here */
    struct flow_tunnel *tun;  /* tunnel layers of an inner flow, else NULL */

    void **mod;               /* per enabled module: its state or NULL */
};

/* Client and server endpoints of a flow. */
static inline const struct ipaddr *flow_sa(const struct flow *f) { return &f->key.addr[f->client]; }
static inline const struct ipaddr *flow_da(const struct flow *f) { return &f->key.addr[!f->client]; }
static inline uint16_t flow_sp(const struct flow *f) { return f->key.port[f->client]; }
static inline uint16_t flow_dp(const struct flow *f) { return f->key.port[!f->client]; }
static inline bool flow_has_ports(const struct flow *f)
{
    return f->key.proto == 6 || f->key.proto == 17 || f->key.proto == 132 || f->key.proto == 136;
}

struct flow_table;

/* Called for each record that leaves the cache. */
typedef void (*flow_emit_fn)(void *ctx, struct flow *f);

struct flow_table_params {
    bool bidir;
    uint32_t num_pkts;       /* SPLT / IP id entries per record */
    uint32_t n_modules;      /* module state pointers per record */
    uint64_t max_flows;      /* 0: unbounded */
    uint64_t inactive_ns, active_ns;
    flow_emit_fn emit;       /* must not touch the cache */
    void *emit_ctx;
    void (*release)(void *ctx, struct flow *f); /* frees module states */
};

struct flow_table *flow_table_new(const struct flow_table_params *prm);
void flow_table_free(struct flow_table *t);

/*
 * Find the record for a packet's key, creating it if needed.  `*dir` is set
 * to 0 if the packet comes from the record's client, 1 otherwise.
 * `*created` tells whether the record is new.  Returns NULL only when out
 * of memory.
 */
struct flow *flow_lookup(struct flow_table *t, const struct flow_key *k, uint64_t now,
                         bool src_first, int *dir, bool *created);

/* Make the other endpoint the client: a SYN without ACK came from it
 * after the record was opened by another packet (see meter.c). */
void flow_swap_client(struct flow *f);

/* Make room for one more SPLT entry (f->n_splt == f->splt_cap) or IP id
 * of side s, up to num_pkts: the array moves to a block twice the size.
 * false when out of memory (the entry is then not recorded). */
bool flow_splt_grow(struct flow_table *t, struct flow *f);
bool flow_ids_grow(struct flow_table *t, struct flow_side *s);

/* Note activity on f (moves it to the tail of the LRU list). */
void flow_touch(struct flow_table *t, struct flow *f);

/* Expire records idle longer than the inactive timeout or older than the
 * active timeout at time `now` (ns).  O(number expired). */
void flow_table_expire(struct flow_table *t, uint64_t now);
/* Let the clock run on until the table is empty: every flow leaves in the
 * order, and with the reason (inactive or active), that a clock moving
 * forward without new packets would give it.  O(flows). */
void flow_table_run_out(struct flow_table *t);

/* The record of key k, or NULL (nothing is created). */
struct flow *flow_table_find(struct flow_table *t, const struct flow_key *k);

/* Remove f (found by flow_lookup) and emit it now with the given expire
 * type; f is invalid afterwards. */
void flow_table_end(struct flow_table *t, struct flow *f, enum expire_type why);

/* Emit every record left, oldest first, with the given expire type. */
void flow_table_flush(struct flow_table *t, enum expire_type why);

uint64_t flow_table_count(const struct flow_table *t);
uint64_t flow_table_peak(const struct flow_table *t);

/* Build a lookup key from a packet (canonical order when bidir). */
void flow_key_from_packet(struct flow_key *k, const struct packet *p, bool bidir, bool *src_first);

#endif

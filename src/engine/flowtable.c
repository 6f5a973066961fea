/*
 * flowtable.c - the flow cache: hash index, LRU and age lists, expiry.
 *
 * See flow.h for the data structure and its invariants.  In short:
 *   - the index is an open-addressing table of slots (hash, record) with
 *     linear probing from the slot that the hash's top bits name: a lookup
 *     reads one or two adjacent slots and touches a record only when the
 *     whole 64-bit hash matches, which matters when a million flows are
 *     open and every record is a cache miss; removal shifts the following
 *     slots back (no tombstones), reading slots only;
 *   - the table doubles when half full, so a lookup costs O(1) on
 *     average; since the home slot is the hash's top bits, the slots of
 *     the old table land in the same order in the new one, and growing
 *     streams through memory instead of touching every record;
 *   - every live record is on both the LRU list (tail = most recently
 *     active) and the age list (tail = newest);
 *   - the hash is keyed with a per-process random seed, so an attacker
 *     cannot choose addresses that collide (the original's additive hash
 *     put both directions and many unrelated flows into one bucket).
 * Output order depends only on the packets, never on the hash or seed.
 *
 * Memory (flow.h): records and the blocks of the growing SPLT and IP-id
 * arrays are carved, in address order, from slabs of SLAB_BYTES that the
 * table frees only when it is freed; what a record or block gives back
 * goes to a free list of its size and is reused first.
 */
#include "flow.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>

#define SLAB_BYTES (256u << 10)
#define SLAB_BIG (2u << 20)    /* slabs once the table holds POPULATE_AFTER bytes */
#define POPULATE_AFTER (8u << 20)
#define BLOCK_MIN 16u          /* the smallest array block, bytes */
#define BLOCK_CLASSES 18       /* 16 B ... 2 MiB: 65535 SPLT entries fit */
#define SPLT_FIRST 4           /* SPLT entries of a flow's first block (64 bytes) */
#define IDS_FIRST 8            /* IP ids of a side's first block (16 bytes) */

/* A slab's header; what follows is carved into records and blocks. */
struct slab {
    struct slab *next;
    size_t mapped;             /* bytes mapped with mmap(), or 0: from malloc() */
};

/* One slot of the index: a record and its hash (f NULL: empty). */
struct slot {
    uint64_t hash;
    struct flow *f;
};

#define INDEX_FIRST_BITS 12    /* 4096 slots to begin with */

struct flow_table {
    struct flow_table_params prm;
    struct slot *slots;
    uint64_t mask;          /* slots - 1 */
    unsigned shift;         /* 64 - log2(slots): hash >> shift is the home slot */
    uint64_t count, peak;
    uint64_t seed[2];
    struct flow *lru_head, *lru_tail;
    struct flow *age_head, *age_tail;
    struct flow *free_list;
    size_t rec_size;        /* bytes of one record */
    struct slab *slabs;     /* every slab, newest first */
    size_t slab_total;      /* bytes of all slabs */
    uint8_t *bump, *bump_end; /* the unused part of the newest slab */
    void *block_free[BLOCK_CLASSES]; /* free blocks of 16 << class bytes */
};

/* ---------------------------------------------------------------------
 * Slabs and blocks
 */

/*
 * n bytes (a multiple of 16) from the newest slab, or from a new one.
 * Past POPULATE_AFTER bytes (tens of thousands of open flows), slabs are
 * SLAB_BIG bytes mapped with MAP_POPULATE: the kernel provides their pages
 * in one call instead of one page fault per 4 KiB as records are first
 * written, which with a million flows open cost more than the lookups.
 * (Huge pages were tried too: fewer TLB misses, but the kernel's
 * compaction for them cost more system time than they saved.)
 */
static void *carve(struct flow_table *t, size_t n)
{
    if ((size_t)(t->bump_end - t->bump) < n) {
        bool big = n > SLAB_BYTES / 4;
        size_t sz = big ? n + sizeof(struct slab)
                        : t->slab_total >= POPULATE_AFTER ? SLAB_BIG : SLAB_BYTES;
        struct slab *sl = NULL;
        if (sz == SLAB_BIG) {
            void *p = mmap(NULL, sz, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
            if (p != MAP_FAILED) {
                sl = p;
                sl->mapped = sz;
            }
        }
        if (!sl) {
            if (!(sl = malloc(sz)))
                return NULL;
            sl->mapped = 0;
        }
        sl->next = t->slabs;
        t->slabs = sl;
        t->slab_total += sz;
        if (big) /* a large block: the current slab goes on being carved */
            return sl + 1;
        t->bump = (uint8_t *)(sl + 1);
        t->bump_end = (uint8_t *)sl + sz;
    }
    void *p = t->bump;
    t->bump += n;
    return p;
}

/* The size class of a block of at least n bytes. */
static unsigned block_class(size_t n)
{
    unsigned c = 0;
    while ((size_t)BLOCK_MIN << c < n)
        c++;
    return c;
}

static void *block_get(struct flow_table *t, unsigned c)
{
    void *b = t->block_free[c];
    if (b) {
        memcpy(&t->block_free[c], b, sizeof b);
        return b;
    }
    return carve(t, (size_t)BLOCK_MIN << c);
}

static void block_put(struct flow_table *t, void *b, size_t bytes)
{
    if (!b)
        return;
    unsigned c = block_class(bytes);
    memcpy(b, &t->block_free[c], sizeof b);
    t->block_free[c] = b;
}

/* A block for `want` entries of `size` bytes (at most max), holding the
 * n entries of *arr; *cap receives how many entries it has room for. */
static bool array_grow(struct flow_table *t, void **arr, uint16_t *cap, size_t n, size_t size,
                       size_t first, size_t max)
{
    size_t want = *cap ? 2 * (size_t)*cap : first;
    if (want > max)
        want = max;
    if (want <= n)
        return false;
    unsigned c = block_class(want * size);
    if (c >= BLOCK_CLASSES)
        return false;
    void *b = block_get(t, c);
    if (!b)
        return false;
    if (n)
        memcpy(b, *arr, n * size);
    block_put(t, *arr, (size_t)*cap * size);
    *arr = b;
    *cap = (uint16_t)want;
    return true;
}

bool flow_splt_grow(struct flow_table *t, struct flow *f)
{
    void *a = f->splt;
    bool ok = array_grow(t, &a, &f->splt_cap, f->n_splt, sizeof *f->splt, SPLT_FIRST,
                         t->prm.num_pkts);
    f->splt = a;
    return ok;
}

bool flow_ids_grow(struct flow_table *t, struct flow_side *s)
{
    void *a = s->ids;
    bool ok = array_grow(t, &a, &s->ids_cap, s->n_ids, sizeof *s->ids, IDS_FIRST,
                         t->prm.num_pkts);
    s->ids = a;
    return ok;
}

/* ---------------------------------------------------------------------
 * Hashing: a keyed multiply-xorshift mix over the 40-byte key.
 */
static inline uint64_t mix(uint64_t h)
{
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ull;
    h ^= h >> 32;
    return h;
}

static inline uint64_t load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static uint64_t hash_key(const struct flow_table *t, const struct flow_key *k)
{
    const uint8_t *p = (const uint8_t *)k;
    uint64_t h = t->seed[0];
    for (size_t i = 0; i + 8 <= sizeof *k; i += 8)
        h = mix(h ^ load64(p + i)) + t->seed[1];
    return mix(h);
}

static inline bool key_eq(const struct flow_key *a, const struct flow_key *b)
{
    _Static_assert(sizeof *a % 8 == 0, "whole words");
    const uint8_t *x = (const uint8_t *)a, *y = (const uint8_t *)b;
    uint64_t d = 0;
    for (size_t i = 0; i < sizeof *a; i += 8)
        d |= load64(x + i) ^ load64(y + i);
    return d == 0;
}

void flow_key_from_packet(struct flow_key *k, const struct packet *p, bool bidir, bool *src_first)
{
    memset(k, 0, sizeof *k);
    k->proto = p->proto;
    k->ipver = p->ipver;
    uint16_t sp = p->has_ports ? p->sport : 0;
    uint16_t dp = p->has_ports ? p->dport : 0;
    int c = memcmp(p->src.b, p->dst.b, 16);
    bool keep = !bidir || c < 0 || (c == 0 && sp <= dp);
    *src_first = keep;
    if (keep) {
        k->addr[0] = p->src;
        k->addr[1] = p->dst;
        k->port[0] = sp;
        k->port[1] = dp;
    } else {
        k->addr[0] = p->dst;
        k->addr[1] = p->src;
        k->port[0] = dp;
        k->port[1] = sp;
    }
}

/* ---------------------------------------------------------------------
 * Intrusive lists
 */
static void lru_unlink(struct flow_table *t, struct flow *f)
{
    if (f->lru_prev) f->lru_prev->lru_next = f->lru_next; else t->lru_head = f->lru_next;
    if (f->lru_next) f->lru_next->lru_prev = f->lru_prev; else t->lru_tail = f->lru_prev;
    f->lru_prev = f->lru_next = NULL;
}

static void lru_append(struct flow_table *t, struct flow *f)
{
    f->lru_next = NULL;
    f->lru_prev = t->lru_tail;
    if (t->lru_tail) t->lru_tail->lru_next = f; else t->lru_head = f;
    t->lru_tail = f;
}

static void age_unlink(struct flow_table *t, struct flow *f)
{
    if (f->age_prev) f->age_prev->age_next = f->age_next; else t->age_head = f->age_next;
    if (f->age_next) f->age_next->age_prev = f->age_prev; else t->age_tail = f->age_prev;
    f->age_prev = f->age_next = NULL;
}

static void age_append(struct flow_table *t, struct flow *f)
{
    f->age_next = NULL;
    f->age_prev = t->age_tail;
    if (t->age_tail) t->age_tail->age_next = f; else t->age_head = f;
    t->age_tail = f;
}

void flow_swap_client(struct flow *f)
{
    struct flow_side tmp = f->side[0];
    f->side[0] = f->side[1];
    f->side[1] = tmp;
    f->client ^= 1;
    for (uint32_t i = 0; i < f->n_splt; i++)
        f->splt[i].dir ^= 1;
    f->first_icmp_from_client = !f->first_icmp_from_client;
}

void flow_touch(struct flow_table *t, struct flow *f)
{
    if (t->lru_tail != f) {
        lru_unlink(t, f);
        lru_append(t, f);
    }
}

/* ---------------------------------------------------------------------
 * Table life cycle
 */
struct flow_table *flow_table_new(const struct flow_table_params *prm)
{
    struct flow_table *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->prm = *prm;
    t->mask = (1ull << INDEX_FIRST_BITS) - 1;
    t->shift = 64 - INDEX_FIRST_BITS;
    t->slots = calloc(t->mask + 1, sizeof *t->slots);
    if (!t->slots) {
        free(t);
        return NULL;
    }
    if (getrandom(t->seed, sizeof t->seed, 0) != (ssize_t)sizeof t->seed) {
        t->seed[0] = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ull;
        t->seed[1] = (uint64_t)(uintptr_t)t;
    }
    if (prm->num_pkts > UINT16_MAX)
        t->prm.num_pkts = UINT16_MAX; /* the configuration's own limit */
    t->rec_size = sizeof(struct flow) + prm->n_modules * sizeof(void *);
    t->rec_size = (t->rec_size + 15) & ~(size_t)15;
    return t;
}

static void release_record(struct flow_table *t, struct flow *f)
{
    if (t->prm.release)
        t->prm.release(t->prm.emit_ctx, f);
    block_put(t, f->splt, (size_t)f->splt_cap * sizeof *f->splt);
    for (int d = 0; d < 2; d++)
        block_put(t, f->side[d].ids, (size_t)f->side[d].ids_cap * sizeof *f->side[d].ids);
    f->lru_next = t->free_list; /* the free list is linked through lru_next */
    t->free_list = f;
}

void flow_table_free(struct flow_table *t)
{
    if (!t)
        return;
    /* live records: release module state without emitting */
    for (struct flow *f = t->age_head; f; f = f->age_next)
        if (t->prm.release)
            t->prm.release(t->prm.emit_ctx, f);
    for (struct slab *sl = t->slabs, *n; sl; sl = n) {
        n = sl->next;
        if (sl->mapped)
            munmap(sl, sl->mapped);
        else
            free(sl);
    }
    free(t->slots);
    free(t);
}

/* The first empty slot at or after the home slot of hash h. */
static inline uint64_t free_slot(const struct slot *slots, uint64_t mask, unsigned shift,
                                 uint64_t h)
{
    uint64_t i = h >> shift;
    while (slots[i].f)
        i = (i + 1) & mask;
    return i;
}

/* Double the index.  A slot's home in the new index is 2i or 2i + 1 for
 * home i in the old one, so the old slots, read in order, are written
 * almost in order. */
static void grow(struct flow_table *t)
{
    uint64_t nmask = t->mask * 2 + 1;
    unsigned nshift = t->shift - 1;
    struct slot *ns = calloc(nmask + 1, sizeof *ns);
    if (!ns)
        return; /* go on with a fuller index: longer probes */
    for (uint64_t i = 0; i <= t->mask; i++)
        if (t->slots[i].f)
            ns[free_slot(ns, nmask, nshift, t->slots[i].hash)] = t->slots[i];
    free(t->slots);
    t->slots = ns;
    t->mask = nmask;
    t->shift = nshift;
}

/* Take f out of the index: the slots after it that may move back move
 * back (backward-shift deletion), so probes never meet a tombstone. */
static void index_remove(struct flow_table *t, const struct flow *f)
{
    struct slot *sl = t->slots;
    uint64_t mask = t->mask;
    uint64_t hole = f->hash >> t->shift;
    while (sl[hole].f != f) {
        if (!sl[hole].f)
            return; /* not indexed (cannot happen) */
        hole = (hole + 1) & mask;
    }
    for (uint64_t j = (hole + 1) & mask; sl[j].f; j = (j + 1) & mask) {
        uint64_t home = sl[j].hash >> t->shift;
        /* the entry at j may fill the hole if its home is not in (hole, j] */
        if (((j - home) & mask) >= ((j - hole) & mask)) {
            sl[hole] = sl[j];
            hole = j;
        }
    }
    sl[hole].f = NULL;
    sl[hole].hash = 0;
}

/* Take f off both lists, hand it to emit, recycle it. */
static void unlink_and_emit(struct flow_table *t, struct flow *f, enum expire_type why)
{
    lru_unlink(t, f);
    age_unlink(t, f);
    t->count--;
    f->expire = (uint8_t)why;
    t->prm.emit(t->prm.emit_ctx, f);
    release_record(t, f);
}

/* Remove f from the index and both lists, hand it to emit, recycle it. */
static void remove_and_emit(struct flow_table *t, struct flow *f, enum expire_type why)
{
    index_remove(t, f);
    unlink_and_emit(t, f, why);
}

static struct flow *new_record(struct flow_table *t)
{
    struct flow *f = t->free_list;
    if (f)
        t->free_list = f->lru_next;
    else if (!(f = carve(t, t->rec_size)))
        return NULL;
    memset(f, 0, sizeof *f);
    f->mod = (void **)(f + 1);
    for (uint32_t i = 0; i < t->prm.n_modules; i++)
        f->mod[i] = NULL;
    return f;
}

/* Key k (hash h) in the index: its record, else NULL; *at is its slot,
 * or the empty slot that ends its probe sequence. */
static inline struct flow *probe(const struct flow_table *t, const struct flow_key *k,
                                 uint64_t h, uint64_t *at)
{
    uint64_t i = h >> t->shift;
    struct flow *f;
    while ((f = t->slots[i].f) != NULL && !(t->slots[i].hash == h && key_eq(&f->key, k)))
        i = (i + 1) & t->mask;
    *at = i;
    return f;
}

struct flow *flow_table_find(struct flow_table *t, const struct flow_key *k)
{
    uint64_t i;
    return probe(t, k, hash_key(t, k), &i);
}

struct flow *flow_lookup(struct flow_table *t, const struct flow_key *k, uint64_t now,
                         bool src_first, int *dir, bool *created)
{
    uint64_t h = hash_key(t, k), i;
    struct flow *f = probe(t, k, h, &i);
    if (f) {
        /* key.addr[0] is the packet's source iff src_first
         * (the caller passes whether the source sorted first) */
        *dir = (src_first ? 0 : 1) != f->client;
        *created = false;
        return f;
    }
    if (t->prm.max_flows && t->count >= t->prm.max_flows && t->lru_head) {
        remove_and_emit(t, t->lru_head, EXPIRE_ROOM);
        i = free_slot(t->slots, t->mask, t->shift, h); /* the removal may have moved slots */
    }
    if (!(f = new_record(t)))
        return NULL;
    f->key = *k;
    f->hash = h;
    f->client = src_first ? 0 : 1;
    f->t_start = f->t_end = now;
    t->slots[i] = (struct slot){h, f};
    lru_append(t, f);
    age_append(t, f);
    if (++t->count > t->peak)
        t->peak = t->count;
    if (t->count > (t->mask + 1) / 2)
        grow(t);
    *dir = 0;
    *created = true;
    return f;
}

void flow_table_expire(struct flow_table *t, uint64_t now)
{
    while (t->lru_head && now > t->lru_head->t_end &&
           now - t->lru_head->t_end > t->prm.inactive_ns)
        remove_and_emit(t, t->lru_head, EXPIRE_INACTIVE);
    while (t->age_head && now > t->age_head->t_start &&
           now - t->age_head->t_start > t->prm.active_ns)
        remove_and_emit(t, t->age_head, EXPIRE_ACTIVE);
}

static uint64_t sat_add(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

void flow_table_run_out(struct flow_table *t)
{
    while (t->lru_head) {
        /* the next moment the clock would expire something */
        uint64_t ti = sat_add(sat_add(t->lru_head->t_end, t->prm.inactive_ns), 1);
        uint64_t ta = sat_add(sat_add(t->age_head->t_start, t->prm.active_ns), 1);
        uint64_t before = t->count;
        flow_table_expire(t, ti < ta ? ti : ta);
        if (t->count == before) /* only at the end of the 64-bit clock */
            remove_and_emit(t, ti <= ta ? t->lru_head : t->age_head,
                            ti <= ta ? EXPIRE_INACTIVE : EXPIRE_ACTIVE);
    }
}

void flow_table_end(struct flow_table *t, struct flow *f, enum expire_type why)
{
    remove_and_emit(t, f, why);
}

void flow_table_flush(struct flow_table *t, enum expire_type why)
{
    /* Everything leaves: when the index is more than sparsely used, the
     * records are emitted without taking each out of it (a cache miss per
     * record when many are open), and the index is cleared at the end. */
    if (t->count < (t->mask + 1) / 16) {
        while (t->age_head)
            remove_and_emit(t, t->age_head, why);
        return;
    }
    while (t->age_head)
        unlink_and_emit(t, t->age_head, why);
    memset(t->slots, 0, (t->mask + 1) * sizeof *t->slots);
}

uint64_t flow_table_count(const struct flow_table *t) { return t->count; }
uint64_t flow_table_peak(const struct flow_table *t) { return t->peak; }

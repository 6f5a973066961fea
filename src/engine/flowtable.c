/*
 * flowtable.c - the flow cache: hash index, LRU and age lists, expiry.
 *
 * See flow.h for the data structure and its invariants.  In short:
 *   - buckets[hash & mask] heads a singly linked chain through f->hnext;
 *   - every live record is on both the LRU list (tail = most recently
 *     active) and the age list (tail = newest);
 *   - the table doubles its bucket array when the load passes 1, so a
 *     lookup costs O(1) on average;
 *   - the hash is keyed with a per-process random seed, so an attacker
 *     cannot choose addresses that collide (the original's additive hash
 *     put both directions and many unrelated flows into one bucket).
 * Output order depends only on the packets, never on the hash or seed.
 */
#include "flow.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

struct flow_table {
    struct flow_table_params prm;
    struct flow **buckets;
    uint64_t mask;          /* buckets - 1 */
    uint64_t count, peak;
    uint64_t seed[2];
    struct flow *lru_head, *lru_tail;
    struct flow *age_head, *age_tail;
    struct flow *free_list;
    size_t rec_size;        /* bytes of one record allocation */
};

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
    return memcmp(a, b, sizeof *a) == 0;
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
    t->mask = 4095;
    t->buckets = calloc(t->mask + 1, sizeof *t->buckets);
    if (!t->buckets) {
        free(t);
        return NULL;
    }
    if (getrandom(t->seed, sizeof t->seed, 0) != (ssize_t)sizeof t->seed) {
        t->seed[0] = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ull;
        t->seed[1] = (uint64_t)(uintptr_t)t;
    }
    size_t n = prm->num_pkts;
    t->rec_size = sizeof(struct flow) + n * sizeof(struct splt_entry) +
                  2 * n * sizeof(uint16_t) + prm->n_modules * sizeof(void *);
    t->rec_size = (t->rec_size + 15) & ~(size_t)15;
    return t;
}

static void release_record(struct flow_table *t, struct flow *f)
{
    if (t->prm.release)
        t->prm.release(t->prm.emit_ctx, f);
    f->hnext = t->free_list;
    t->free_list = f;
}

void flow_table_free(struct flow_table *t)
{
    if (!t)
        return;
    /* live records: release module state without emitting */
    for (struct flow *f = t->age_head, *n; f; f = n) {
        n = f->age_next;
        if (t->prm.release)
            t->prm.release(t->prm.emit_ctx, f);
        free(f);
    }
    for (struct flow *f = t->free_list, *n; f; f = n) {
        n = f->hnext;
        free(f);
    }
    free(t->buckets);
    free(t);
}

static void grow(struct flow_table *t)
{
    uint64_t nmask = t->mask * 2 + 1;
    struct flow **nb = calloc(nmask + 1, sizeof *nb);
    if (!nb)
        return; /* keep working with longer chains */
    for (uint64_t i = 0; i <= t->mask; i++) {
        for (struct flow *f = t->buckets[i], *n; f; f = n) {
            n = f->hnext;
            f->hnext = nb[f->hash & nmask];
            nb[f->hash & nmask] = f;
        }
    }
    free(t->buckets);
    t->buckets = nb;
    t->mask = nmask;
}

/* Remove f from the index and both lists, hand it to emit, recycle it. */
static void remove_and_emit(struct flow_table *t, struct flow *f, enum expire_type why)
{
    struct flow **pp = &t->buckets[f->hash & t->mask];
    while (*pp && *pp != f)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = f->hnext;
    lru_unlink(t, f);
    age_unlink(t, f);
    t->count--;
    f->expire = (uint8_t)why;
    t->prm.emit(t->prm.emit_ctx, f);
    release_record(t, f);
}

static struct flow *new_record(struct flow_table *t)
{
    struct flow *f = t->free_list;
    if (f)
        t->free_list = f->hnext;
    else if (!(f = malloc(t->rec_size)))
        return NULL;
    memset(f, 0, sizeof *f);
    size_t n = t->prm.num_pkts;
    uint8_t *extra = (uint8_t *)(f + 1);
    f->splt = (struct splt_entry *)extra;
    extra += n * sizeof(struct splt_entry);
    f->side[0].ids = (uint16_t *)extra;
    extra += n * sizeof(uint16_t);
    f->side[1].ids = (uint16_t *)extra;
    extra += n * sizeof(uint16_t);
    f->mod = (void **)(((uintptr_t)extra + 7) & ~(uintptr_t)7);
    for (uint32_t i = 0; i < t->prm.n_modules; i++)
        f->mod[i] = NULL;
    return f;
}

struct flow *flow_lookup(struct flow_table *t, const struct flow_key *k, uint64_t now,
                         bool src_first, int *dir, bool *created)
{
    uint64_t h = hash_key(t, k);
    for (struct flow *f = t->buckets[h & t->mask]; f; f = f->hnext) {
        if (f->hash == h && key_eq(&f->key, k)) {
            /* key.addr[0] is the packet's source iff src_first
             * (the caller passes whether the source sorted first) */
            *dir = (src_first ? 0 : 1) != f->client;
            *created = false;
            return f;
        }
    }
    if (t->prm.max_flows && t->count >= t->prm.max_flows && t->lru_head)
        remove_and_emit(t, t->lru_head, EXPIRE_ROOM);
    struct flow *f = new_record(t);
    if (!f)
        return NULL;
    f->key = *k;
    f->hash = h;
    f->client = src_first ? 0 : 1;
    f->t_start = f->t_end = now;
    f->hnext = t->buckets[h & t->mask];
    t->buckets[h & t->mask] = f;
    lru_append(t, f);
    age_append(t, f);
    if (++t->count > t->peak)
        t->peak = t->count;
    if (t->count > t->mask + 1)
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

void flow_table_flush(struct flow_table *t, enum expire_type why)
{
    while (t->age_head)
        remove_and_emit(t, t->age_head, why);
}

uint64_t flow_table_count(const struct flow_table *t) { return t->count; }
uint64_t flow_table_peak(const struct flow_table *t) { return t->peak; }

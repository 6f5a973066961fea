/*
 * modpool.c - the meter's pool for per-flow module state (module.h).
 *
 * With every intraflow module on, each record allocates and frees half a
 * dozen small states (byte counts, sums, the first bytes of each
 * direction, packet lists); through malloc() that cost about as much as
 * the work those modules do per record (glibc's tcache keeps seven chunks
 * of a size, so a meter that frees thousands of records at a time goes
 * through its bins, consolidation and chunk splitting).  The pool serves
 * them from free lists instead.
 *
 * Structure.  A chunk is a 16-byte header followed by what the module
 * asked for.  The header names the pool that owns the chunk (NULL for a
 * chunk that came from malloc(): a request larger than the largest class,
 * or one made with no pool, as the fuzz targets do) and its size class,
 * so that module_free() and module_realloc() need nothing but the
 * pointer.  Classes go in steps of 32 bytes up to 512 and of 64 bytes up
 * to MODPOOL_MAX (72 classes: a state wastes at most 63 bytes of its chunk); class k's chunks are carved from 64 KiB
 * slabs and, once freed, kept on class k's free list (linked through their
 * first bytes) for the next request of that class.  Nothing is returned to
 * the system before the meter is freed: the memory held is the largest
 * number of chunks of each class that were in use at one time (bounded by
 * the flows the table may hold), never more, and in steady state no
 * request reaches malloc().
 *
 * Invariants: a chunk on a free list belongs to that list's class and to
 * no flow; a pool is touched only by its meter's thread (flows are
 * released by the meter that holds them), so there are no locks.
 *
 * Under AddressSanitizer (make asan, the fuzz targets) the pool is
 * bypassed: every request goes to malloc() and every free to free(), so
 * that a use after free, a double free or an overflow of a state is
 * reported where it happens rather than hidden inside a recycled chunk.
 */
#include "module.h"

#include <stdlib.h>
#include <string.h>

#define MODPOOL_HDR 16                /* header bytes; keeps 16-byte alignment */
#define MODPOOL_MAX 4096              /* largest class, header included */
#define MODPOOL_CLASSES 73            /* 1..16 (32-byte steps), 17..72 (64-byte steps) */
#define MODPOOL_SLAB (64 * 1024)

struct chunk_hdr {
    struct modpool *pool; /* NULL: from malloc() */
    uint32_t cls;         /* size class (0 with malloc) */
    uint32_t size;        /* the caller's size, for realloc's copy */
};
_Static_assert(sizeof(struct chunk_hdr) == MODPOOL_HDR, "chunk header is 16 bytes");

struct free_chunk {
    struct free_chunk *next;
};

struct slab {
    struct slab *next;
};

struct modpool {
    struct free_chunk *free[MODPOOL_CLASSES];
    struct slab *slabs;     /* every slab, for modpool_free() */
    char *carve, *carve_end;/* the unused rest of the newest slab */
};

#ifndef MODPOOL_BYPASS
/* The class of a chunk of t bytes (header included, t <= MODPOOL_MAX). */
static inline unsigned class_of(size_t t)
{
    return t <= 512 ? (unsigned)((t + 31) >> 5) : 16 + (unsigned)((t - 512 + 63) >> 6);
}

static inline size_t class_bytes(unsigned k)
{
    return k <= 16 ? (size_t)k << 5 : 512 + ((size_t)(k - 16) << 6);
}
#endif

struct modpool *modpool_new(void)
{
    return calloc(1, sizeof(struct modpool));
}

void modpool_free(struct modpool *p)
{
    if (!p)
        return;
    for (struct slab *s = p->slabs, *n; s; s = n) {
        n = s->next;
        free(s);
    }
    free(p);
}

#ifndef MODPOOL_BYPASS
/* A chunk of class k from the newest slab, or a new slab (NULL: out of memory). */
static void *carve(struct modpool *p, unsigned k)
{
    size_t b = class_bytes(k);
    if ((size_t)(p->carve_end - p->carve) < b) {
        /* the rest of the old slab (less than b) goes to the smaller
         * classes' lists rather than being lost */
        while (p->carve && (size_t)(p->carve_end - p->carve) >= 32) {
            unsigned j = class_of((size_t)(p->carve_end - p->carve));
            if (class_bytes(j) > (size_t)(p->carve_end - p->carve))
                j--;
            struct free_chunk *c = (struct free_chunk *)(void *)(p->carve + MODPOOL_HDR);
            ((struct chunk_hdr *)(void *)p->carve)->cls = j;
            c->next = p->free[j];
            p->free[j] = c;
            p->carve += class_bytes(j);
        }
        struct slab *s = malloc(MODPOOL_SLAB);
        if (!s)
            return NULL;
        s->next = p->slabs;
        p->slabs = s;
        p->carve = (char *)s + MODPOOL_HDR; /* the slab link sits in the first 16 bytes */
        p->carve_end = (char *)s + MODPOOL_SLAB;
    }
    char *c = p->carve;
    p->carve += b;
    return c;
}
#endif

static void *pool_get(struct modpool *p, size_t size, bool zero)
{
#ifndef MODPOOL_BYPASS
    if (p && size <= MODPOOL_MAX - MODPOOL_HDR) {
        unsigned k = class_of(size + MODPOOL_HDR);
        struct chunk_hdr *h;
        struct free_chunk *c = p->free[k];
        if (c) {
            /* the list's new head was freed a while ago, most likely out
             * of the cache: start loading it now, for the next request */
            p->free[k] = c->next;
            if (c->next)
                __builtin_prefetch((char *)c->next - MODPOOL_HDR, 1);
            h = (struct chunk_hdr *)(void *)((char *)c - MODPOOL_HDR);
        } else if (!(h = carve(p, k))) {
            return NULL;
        }
        h->pool = p;
        h->cls = k;
        h->size = (uint32_t)size;
        void *u = (char *)h + MODPOOL_HDR;
        if (zero)
            memset(u, 0, size);
        return u;
    }
    struct chunk_hdr *h = zero ? calloc(1, MODPOOL_HDR + size) : malloc(MODPOOL_HDR + size);
    if (!h)
        return NULL;
    h->pool = NULL;
    h->cls = 0;
    h->size = size > UINT32_MAX ? UINT32_MAX : (uint32_t)size;
    return (char *)h + MODPOOL_HDR;
#else
    (void)p;
    return zero ? calloc(1, size ? size : 1) : malloc(size ? size : 1);
#endif
}

void *module_calloc(const struct module_env *env, size_t size)
{
    return pool_get(env ? env->pool : NULL, size, true);
}

void *module_malloc(const struct module_env *env, size_t size)
{
    return pool_get(env ? env->pool : NULL, size, false);
}

void module_free(void *ptr)
{
#ifndef MODPOOL_BYPASS
    if (!ptr)
        return;
    struct chunk_hdr *h = (struct chunk_hdr *)(void *)((char *)ptr - MODPOOL_HDR);
    struct modpool *p = h->pool;
    if (!p) {
        free(h);
        return;
    }
    struct free_chunk *c = ptr;
    c->next = p->free[h->cls];
    p->free[h->cls] = c;
#else
    free(ptr);
#endif
}

void *module_realloc(const struct module_env *env, void *ptr, size_t size)
{
#ifndef MODPOOL_BYPASS
    if (!ptr)
        return module_malloc(env, size);
    struct chunk_hdr *h = (struct chunk_hdr *)(void *)((char *)ptr - MODPOOL_HDR);
    if (h->pool && size <= class_bytes(h->cls) - MODPOOL_HDR) {
        h->size = (uint32_t)size; /* still fits its chunk */
        return ptr;
    }
    void *n = module_malloc(env, size);
    if (!n)
        return NULL;
    memcpy(n, ptr, h->size < size ? h->size : size);
    module_free(ptr);
    return n;
#else
    (void)env;
    return realloc(ptr, size ? size : 1);
#endif
}

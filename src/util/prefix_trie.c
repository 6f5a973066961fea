/*
 * prefix_trie.c - path-compressed binary tries over IPv4/IPv6 prefixes.
 *
 * See prefix_trie.h for the interface, the file format and the memory
 * bounds.  Prefixes are first collected in a flat array, then sorted by
 * (family, address, length), merged when equal, and inserted in that order
 * into a node array allocated once at its largest possible size (1 + 2N
 * nodes: an insertion adds at most a leaf and one branching node).  Node 0
 * is the root (the /0 prefix); child index 0 means "no child".
 */
#include "prefix_trie.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct pt_pending {
    uint8_t addr[16];
    uint64_t mask;
    uint8_t len;
    uint8_t fam;  /* 0 IPv4, 1 IPv6 */
};

struct pt_node {
    uint64_t mask;       /* tags of this exact prefix, 0 if it only branches */
    uint32_t child[2];   /* by the address bit at position `len` */
    uint8_t len;         /* prefix length in bits */
};

struct pt_family {
    struct pt_node *node;
    uint8_t *key;        /* kb bytes per node: the prefix, bits past len zero */
    uint32_t count, cap;
    unsigned kb, bits;
};

struct prefix_trie {
    struct pt_pending *pend;
    size_t n_pend, cap_pend;
    struct pt_family fam[2];
    size_t n_prefixes;
    bool built;
};

static int pt_fail(char *err, size_t errlen, const char *msg)
{
    if (errlen)
        snprintf(err, errlen, "%s", msg);
    return -1;
}

struct prefix_trie *pt_new(void)
{
    struct prefix_trie *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->fam[0].kb = 4;
    t->fam[0].bits = 32;
    t->fam[1].kb = 16;
    t->fam[1].bits = 128;
    return t;
}

void pt_free(struct prefix_trie *t)
{
    if (!t)
        return;
    free(t->pend);
    for (int i = 0; i < 2; i++) {
        free(t->fam[i].node);
        free(t->fam[i].key);
    }
    free(t);
}

static inline unsigned get_bit(const uint8_t *a, unsigned i)
{
    return (a[i >> 3] >> (7 - (i & 7))) & 1u;
}

/* Number of equal leading bits of a and b, at most lim. */
static unsigned common_bits(const uint8_t *a, const uint8_t *b, unsigned lim)
{
    unsigned i = 0;
    while (i + 8 <= lim && a[i >> 3] == b[i >> 3])
        i += 8;
    if (i >= lim)
        return lim;
    unsigned x = (unsigned)(a[i >> 3] ^ b[i >> 3]);
    unsigned z = 0;
    while (z < 8 && !(x & (0x80u >> z)))
        z++;
    i += z;
    return i < lim ? i : lim;
}

/* Clear the bits of a (nbytes long) from bit `len` on. */
static void clear_host_bits(uint8_t *a, unsigned nbytes, unsigned len)
{
    for (unsigned i = 0; i < nbytes; i++) {
        unsigned lo = i * 8;
        if (lo >= len)
            a[i] = 0;
        else if (len - lo < 8)
            a[i] &= (uint8_t)(0xFFu << (8 - (len - lo)));
    }
}

int pt_add(struct prefix_trie *t, int ipver, const uint8_t *addr, unsigned len, uint64_t mask,
           char *err, size_t errlen)
{
    if (t->built)
        return pt_fail(err, errlen, "prefix added after the trie was built");
    if ((ipver != 4 && ipver != 6) || len > (ipver == 4 ? 32u : 128u) || !mask)
        return pt_fail(err, errlen, "invalid prefix");
    if (t->n_pend >= PT_MAX_PREFIXES) {
        if (errlen)
            snprintf(err, errlen, "more than %u prefixes", PT_MAX_PREFIXES);
        return -1;
    }
    if (t->n_pend == t->cap_pend) {
        size_t cap = t->cap_pend ? t->cap_pend * 2 : 64;
        struct pt_pending *p = realloc(t->pend, cap * sizeof *p);
        if (!p)
            return pt_fail(err, errlen, "out of memory");
        t->pend = p;
        t->cap_pend = cap;
    }
    struct pt_pending *e = &t->pend[t->n_pend++];
    memset(e, 0, sizeof *e);
    unsigned nb = ipver == 4 ? 4 : 16;
    memcpy(e->addr, addr, nb);
    clear_host_bits(e->addr, nb, len);
    e->mask = mask;
    e->len = (uint8_t)len;
    e->fam = ipver == 4 ? 0 : 1;
    return 0;
}

/* ------------------------------------------------------------------ */
/* parsing                                                              */

int pt_parse_prefix(const char *s, size_t n, int *ipver, uint8_t addr[16], unsigned *len,
                    const char **why)
{
    const char *slash = memchr(s, '/', n);
    size_t alen = slash ? (size_t)(slash - s) : n;
    char buf[48];
    if (memchr(s, '\0', n)) {
        *why = "NUL byte";
        return -1;
    }
    if (alen == 0 || alen >= sizeof buf) {
        *why = "not an IPv4 or IPv6 address";
        return -1;
    }
    memcpy(buf, s, alen);
    buf[alen] = '\0';
    memset(addr, 0, 16);
    int v = memchr(buf, ':', alen) ? 6 : 4;
    if (inet_pton(v == 6 ? AF_INET6 : AF_INET, buf, addr) != 1) {
        *why = "not an IPv4 or IPv6 address";
        return -1;
    }
    unsigned bits = v == 4 ? 32 : 128, l = bits;
    if (slash) {
        const char *p = slash + 1, *end = s + n;
        if (p == end || end - p > 3) {
            *why = "bad prefix length";
            return -1;
        }
        l = 0;
        for (; p < end; p++) {
            if (*p < '0' || *p > '9') {
                *why = "bad prefix length";
                return -1;
            }
            l = l * 10 + (unsigned)(*p - '0');
        }
        if (l > bits) {
            *why = v == 4 ? "prefix length above 32" : "prefix length above 128";
            return -1;
        }
    }
    clear_host_bits(addr, v == 4 ? 4 : 16, l);
    *ipver = v;
    *len = l;
    return 0;
}

static bool is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* The line for an error message: at most 60 bytes, non-printables as '?'. */
static void quote_line(char *out, size_t outlen, const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 4 < outlen; i++) {
        if (i == 60) {
            memcpy(out + k, "...", 3);
            k += 3;
            break;
        }
        unsigned char c = (unsigned char)s[i];
        out[k++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    out[k] = '\0';
}

int pt_load_stream(struct prefix_trie *t, FILE *f, const char *name, uint64_t mask, char *err,
                   size_t errlen)
{
    char line[PT_MAX_LINE + 1];
    unsigned long lineno = 0;
    bool eof = false;
    while (!eof) {
        size_t n = 0;
        int c;
        bool too_long = false;
        while ((c = getc_unlocked(f)) != EOF && c != '\n') {
            if (n < PT_MAX_LINE)
                line[n++] = (char)c;
            else
                too_long = true;
        }
        if (c == EOF) {
            eof = true;
            if (ferror(f)) {
                snprintf(err, errlen, "%s: read error: %s", name, strerror(errno));
                return -1;
            }
            if (n == 0 && !too_long)
                break;
        }
        lineno++;
        if (too_long) {
            snprintf(err, errlen, "%s:%lu: line longer than %u bytes", name, lineno, (unsigned)PT_MAX_LINE);
            return -1;
        }
        size_t start = 0;
        if (lineno == 1 && n >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0)
            start = 3; /* UTF-8 byte order mark */
        char *hash = memchr(line + start, '#', n - start);
        if (hash)
            n = (size_t)(hash - line);
        while (start < n && is_space((unsigned char)line[start]))
            start++;
        while (n > start && is_space((unsigned char)line[n - 1]))
            n--;
        if (n == start)
            continue;
        const char *s = line + start;
        size_t len = n - start;
        int ipver;
        uint8_t addr[16];
        unsigned plen;
        const char *why = NULL;
        for (size_t i = 0; i < len; i++) {
            if (is_space((unsigned char)s[i])) {
                why = "one prefix per line expected";
                break;
            }
        }
        if (!why && pt_parse_prefix(s, len, &ipver, addr, &plen, &why) == 0) {
            char aerr[128];
            if (pt_add(t, ipver, addr, plen, mask, aerr, sizeof aerr) != 0) {
                snprintf(err, errlen, "%s:%lu: %s", name, lineno, aerr);
                return -1;
            }
            continue;
        }
        char q[80];
        quote_line(q, sizeof q, s, len);
        snprintf(err, errlen, "%s:%lu: '%s' is not a prefix such as 10.0.0.0/8 or 2001:db8::/32 (%s)",
                 name, lineno, q, why ? why : "malformed");
        return -1;
    }
    return 0;
}

int pt_load_file(struct prefix_trie *t, const char *path, uint64_t mask, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open subnet file: %s", path, strerror(errno));
        return -1;
    }
    int rc = pt_load_stream(t, f, path, mask, err, errlen);
    fclose(f);
    return rc;
}

/* ------------------------------------------------------------------ */
/* building and lookup                                                  */

static int cmp_pending(const void *a, const void *b)
{
    const struct pt_pending *x = a, *y = b;
    if (x->fam != y->fam)
        return x->fam < y->fam ? -1 : 1;
    int c = memcmp(x->addr, y->addr, 16);
    if (c)
        return c;
    return (x->len > y->len) - (x->len < y->len);
}

static uint32_t new_node(struct pt_family *f, const uint8_t *key, unsigned len, uint64_t mask)
{
    uint32_t i = f->count++;
    struct pt_node *n = &f->node[i];
    n->mask = mask;
    n->child[0] = n->child[1] = 0;
    n->len = (uint8_t)len;
    uint8_t *k = f->key + (size_t)i * f->kb;
    memcpy(k, key, f->kb);
    clear_host_bits(k, f->kb, len);
    return i;
}

static void fam_insert(struct pt_family *f, const uint8_t *key, unsigned len, uint64_t mask)
{
    uint32_t cur = 0;
    for (;;) {
        if (f->node[cur].len == len) {
            f->node[cur].mask |= mask;
            return;
        }
        unsigned b = get_bit(key, f->node[cur].len);
        uint32_t c = f->node[cur].child[b];
        if (!c) {
            uint32_t leaf = new_node(f, key, len, mask);
            f->node[cur].child[b] = leaf;
            return;
        }
        const uint8_t *ckey = f->key + (size_t)c * f->kb;
        unsigned clen = f->node[c].len;
        unsigned cpl = common_bits(key, ckey, len < clen ? len : clen);
        if (cpl == clen) {
            cur = c; /* c is a prefix of key: go down */
            continue;
        }
        uint32_t m;
        if (cpl == len) {
            /* key is a prefix of c: it goes between cur and c */
            m = new_node(f, key, len, mask);
            f->node[m].child[get_bit(ckey, len)] = c;
        } else {
            /* key and c part at bit cpl: a branching node there */
            m = new_node(f, key, cpl, 0);
            uint32_t leaf = new_node(f, key, len, mask);
            f->node[m].child[get_bit(ckey, cpl)] = c;
            f->node[m].child[get_bit(key, cpl)] = leaf;
        }
        f->node[cur].child[b] = m;
        return;
    }
}

int pt_build(struct prefix_trie *t, char *err, size_t errlen)
{
    if (t->built)
        return 0;
    if (t->n_pend)
        qsort(t->pend, t->n_pend, sizeof *t->pend, cmp_pending);
    /* merge equal prefixes */
    size_t n = 0, per_fam[2] = {0, 0};
    for (size_t i = 0; i < t->n_pend; i++) {
        struct pt_pending *e = &t->pend[i];
        if (n && t->pend[n - 1].fam == e->fam && t->pend[n - 1].len == e->len &&
            memcmp(t->pend[n - 1].addr, e->addr, 16) == 0) {
            t->pend[n - 1].mask |= e->mask;
            continue;
        }
        t->pend[n++] = *e;
        per_fam[e->fam]++;
    }
    for (int i = 0; i < 2; i++) {
        struct pt_family *f = &t->fam[i];
        if (!per_fam[i])
            continue;
        size_t cap = 1 + 2 * per_fam[i];
        f->node = malloc(cap * sizeof *f->node);
        f->key = malloc(cap * f->kb);
        if (!f->node || !f->key)
            return pt_fail(err, errlen, "out of memory for the subnet trie");
        f->cap = (uint32_t)cap;
        static const uint8_t zero[16];
        new_node(f, zero, 0, 0);
    }
    for (size_t i = 0; i < n; i++) {
        const struct pt_pending *e = &t->pend[i];
        fam_insert(&t->fam[e->fam], e->addr, e->len, e->mask);
    }
    for (int i = 0; i < 2; i++) {
        struct pt_family *f = &t->fam[i];
        if (f->count && f->count < f->cap) {
            /* give back what the worst case reserved */
            struct pt_node *nn = realloc(f->node, (size_t)f->count * sizeof *nn);
            if (nn)
                f->node = nn;
            uint8_t *nk = realloc(f->key, (size_t)f->count * f->kb);
            if (nk)
                f->key = nk;
            f->cap = f->count;
        }
    }
    free(t->pend);
    t->pend = NULL;
    t->n_pend = t->cap_pend = 0;
    t->n_prefixes = n;
    t->built = true;
    return 0;
}

uint64_t pt_lookup(const struct prefix_trie *t, int ipver, const uint8_t *addr)
{
    const struct pt_family *f = &t->fam[ipver == 4 ? 0 : 1];
    if (!f->count)
        return 0;
    uint8_t lens[130];
    uint64_t masks[130];
    unsigned k = 0;
    uint32_t cur = 0;
    for (;;) {
        const struct pt_node *n = &f->node[cur];
        if (n->mask) {
            lens[k] = n->len;
            masks[k++] = n->mask;
        }
        if (n->len >= f->bits)
            break;
        uint32_t c = n->child[get_bit(addr, n->len)];
        if (!c)
            break;
        cur = c;
    }
    if (!k)
        return 0;
    /* the path's prefixes are nested: addr matches those no longer than
     * its common prefix with the deepest one */
    unsigned cpl = common_bits(addr, f->key + (size_t)cur * f->kb, f->node[cur].len);
    uint64_t r = 0;
    for (unsigned i = 0; i < k; i++)
        if (lens[i] <= cpl)
            r |= masks[i];
    return r;
}

size_t pt_prefix_count(const struct prefix_trie *t) { return t->n_prefixes; }
size_t pt_node_count(const struct prefix_trie *t) { return t->fam[0].count + t->fam[1].count; }

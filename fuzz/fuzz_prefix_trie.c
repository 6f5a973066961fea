/*
 * fuzz_prefix_trie.c - the subnet file parser, the prefix trie and
 * Crypto-PAn (label=, anon=, joy-anon).
 *
 * The first byte chooses a mode:
 *   0: the rest is a subnet file (pt_load_stream through fmemopen); every
 *      16-byte window of the input is then looked up as an IPv4 and an
 *      IPv6 address and the result (or the error message) is written as
 *      JSON, which must validate.
 *   1: the rest is binary prefixes (ipver bit, length, address, tag):
 *      pt_add + pt_build, then lookups checked against a linear scan over
 *      the same prefixes (a differential test of the trie).
 *   2: the rest is addresses: Crypto-PAn under a fixed key must invert
 *      (deanon(anon(a)) == a) and preserve the common prefix length of
 *      consecutive addresses exactly.
 */
#include "cryptopan.h"
#include "jsonw.h"
#include "prefix_trie.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REF 256

struct ref_prefix {
    int ipver;
    uint8_t addr[16];
    unsigned len;
    uint64_t mask;
};

static unsigned common_prefix(const uint8_t *a, const uint8_t *b, unsigned nbits)
{
    unsigned i = 0;
    while (i < nbits && ((a[i / 8] ^ b[i / 8]) & (0x80u >> (i % 8))) == 0)
        i++;
    return i;
}

static void check_json(struct jsonw *w)
{
    jw_finish(w);
    if (!json_validate(w->buf, w->len)) {
        fprintf(stderr, "invalid JSON: %.*s\n", (int)w->len, w->buf);
        abort();
    }
}

static void mode_file(const uint8_t *data, size_t size)
{
    struct prefix_trie *t = pt_new();
    if (!t)
        return;
    struct jsonw w;
    jw_init(&w);
    jw_obj_open(&w);
    char err[512];
    FILE *f = size ? fmemopen((void *)(uintptr_t)data, size, "r") /* read-only: mode "r" */ : NULL;
    int rc = f ? pt_load_stream(t, f, "fuzz.net", 1, err, sizeof err) : 0;
    if (f)
        fclose(f);
    if (rc == 0)
        rc = pt_build(t, err, sizeof err);
    if (rc != 0) {
        jw_kv_cstr(&w, "error", err);
    } else {
        jw_kv_uint(&w, "prefixes", pt_prefix_count(t));
        jw_key(&w, "hits");
        jw_arr_open(&w);
        for (size_t i = 0; i + 16 <= size && i < 64 * 16; i += 16) {
            jw_uint(&w, pt_lookup(t, 4, data + i));
            jw_uint(&w, pt_lookup(t, 6, data + i));
        }
        jw_close(&w);
    }
    check_json(&w);
    jw_free(&w);
    pt_free(t);
}

static void mode_binary(const uint8_t *data, size_t size)
{
    static struct ref_prefix ref[MAX_REF];
    size_t n = 0;
    struct prefix_trie *t = pt_new();
    if (!t)
        return;
    char err[256];
    size_t i = 0;
    /* records: [flags][len][tag][addr: 4 or 16] */
    while (i + 3 <= size && n < MAX_REF) {
        int ipver = (data[i] & 1) ? 6 : 4;
        unsigned nb = ipver == 6 ? 16 : 4;
        unsigned len = data[i + 1] % (nb * 8 + 1);
        uint64_t mask = 1ull << (data[i + 2] % 64);
        if (i + 3 + nb > size)
            break;
        struct ref_prefix *r = &ref[n++];
        r->ipver = ipver;
        memset(r->addr, 0, 16);
        memcpy(r->addr, data + i + 3, nb);
        r->len = len;
        r->mask = mask;
        if (pt_add(t, ipver, r->addr, len, mask, err, sizeof err) != 0)
            abort();
        i += 3 + nb;
    }
    if (pt_build(t, err, sizeof err) != 0)
        abort();
    /* look up every prefix's own address, a neighbour, and input windows */
    for (size_t k = 0; k < n + 32; k++) {
        uint8_t a[16] = {0};
        int ipver;
        if (k < n) {
            ipver = ref[k].ipver;
            memcpy(a, ref[k].addr, 16);
            if (k & 1)
                a[(k / 2) % (ipver == 6 ? 16 : 4)] ^= (uint8_t)(1u << (k % 8));
        } else {
            ipver = (k & 1) ? 6 : 4;
            size_t off = ((k - n) * 7) % (size ? size : 1);
            for (size_t j = 0; j < 16 && off + j < size; j++)
                a[j] = data[off + j];
        }
        uint64_t want = 0;
        for (size_t j = 0; j < n; j++)
            if (ref[j].ipver == ipver &&
                common_prefix(a, ref[j].addr, ref[j].len) >= ref[j].len)
                want |= ref[j].mask;
        uint64_t got = pt_lookup(t, ipver, a);
        if (got != want) {
            fprintf(stderr, "lookup mismatch: got %llx want %llx\n", (unsigned long long)got,
                    (unsigned long long)want);
            abort();
        }
    }
    pt_free(t);
}

static void mode_cryptopan(const uint8_t *data, size_t size)
{
    static const uint8_t key[32] = {21,  34,  23,  141, 51,  164, 207, 128, 19, 10, 91,
                                    22,  73,  144, 125, 16,  216, 152, 143, 131, 121, 121,
                                    101, 39,  98,  87,  76,  45,  42,  132, 34,  2};
    char err[128];
    struct cryptopan *c = cryptopan_new(key, err, sizeof err);
    if (!c)
        abort();
    uint8_t prev_in[16] = {0}, prev_out[16] = {0};
    size_t prev_nb = 0;
    for (size_t i = 0; i + 16 <= size && i < 32 * 16; i += 16) {
        size_t nb = (data[i] & 1) ? 16 : 4;
        uint8_t in[16] = {0}, out[16], back[16];
        memcpy(in, data + i, nb);
        if (cryptopan_anon(c, in, nb, out) != 0 || cryptopan_deanon(c, out, nb, back) != 0)
            abort();
        if (memcmp(in, back, nb) != 0)
            abort();
        if (prev_nb == nb) {
            unsigned k = common_prefix(in, prev_in, (unsigned)nb * 8);
            if (common_prefix(out, prev_out, (unsigned)nb * 8) != k)
                abort();
        }
        memcpy(prev_in, in, nb);
        memcpy(prev_out, out, nb);
        prev_nb = nb;
    }
    cryptopan_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    switch (data[0] % 3) {
    case 0: mode_file(data + 1, size - 1); break;
    case 1: mode_binary(data + 1, size - 1); break;
    default: mode_cryptopan(data + 1, size - 1); break;
    }
    return 0;
}

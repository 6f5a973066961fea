/*
 * proto_util.c - TCP options as JSON, TCP flag letters, Community ID v1.
 *
 * TCP option layout (RFC 9293 3.2): kind 0 (end of list) and 1 (no-op)
 * are one byte; every other option is kind, length (including these two
 * bytes), data.
 *
 * Community ID v1: SHA-1 over
 *   seed (2 bytes) | addr lo (4/16) | addr hi (4/16) | proto (1) | 0 (1)
 *   | port lo (2) | port hi (2)        (ports only for TCP, UDP, SCTP, ICMP)
 * with the endpoints ordered so that both directions hash alike, and for
 * ICMP the type and its counterpart type (or the code, for types without
 * a counterpart) standing in for the ports; then "1:" + base64.  The
 * SHA-1 is computed here (FIPS 180-4) for the one block that such an input
 * fills: OpenSSL 3's EVP_Digest() looks the algorithm up again on every
 * call, which cost more than the hash itself once per record.  With the
 * CPU's SHA instructions (sha1_block_shani) the hash costs about as much
 * as formatting one number.
 */
#include "proto_util.h"

#include "cursor.h"
#include "flow.h"
#include "jsonw.h"

#include <string.h>

void tcp_opts_to_json(struct jsonw *w, const uint8_t *opts, size_t len)
{
    struct cursor c;
    cur_init(&c, opts, len);
    jw_arr_open(w);
    while (cur_left(&c) > 0) {
        uint8_t kind = cur_u8(&c);
        /* the common options as whole values, one call each (ppi=1 writes
         * them for every packet, every SYN has mss and ws); the same text
         * as key-by-key writing */
        if (kind == 0) {
            jw_raw_value(w, "{\"eol\":null}", sizeof "{\"eol\":null}" - 1);
            break;
        }
        if (kind == 1) {
            jw_raw_value(w, "{\"noop\":null}", sizeof "{\"noop\":null}" - 1);
            continue;
        }
        uint8_t olen = cur_u8(&c);
        if (!cur_ok(&c) || olen < 2 || (size_t)(olen - 2) > cur_left(&c)) {
            jw_obj_open(w);
            jw_key(w, "malformed");
            jw_obj_open(w);
            jw_kv_uint(w, "kind", kind);
            jw_kv_uint(w, "len", cur_ok(&c) ? olen : 0);
            jw_close(w);
            jw_close(w);
            break;
        }
        struct cursor d = cur_sub(&c, olen - 2u);
        size_t dlen = olen - 2u;
        char *o;
        if (kind == 8 && dlen == 8 && (o = jw_raw_begin(w, 40 + 2 * JW_UINT_MAX))) {
            static const char val[] = "{\"ts\":{\"val\":", ecr[] = ",\"ecr\":";
            memcpy(o, val, sizeof val - 1);
            o = jw_fmt_uint(o + sizeof val - 1, cur_u32(&d));
            memcpy(o, ecr, sizeof ecr - 1);
            o = jw_fmt_uint(o + sizeof ecr - 1, cur_u32(&d));
            memcpy(o, "}}", 2);
            jw_raw_end(w, o + 2);
            continue;
        }
        if (kind == 2 && dlen == 2 && (o = jw_raw_begin(w, 16 + JW_UINT_MAX))) {
            memcpy(o, "{\"mss\":", 7);
            o = jw_fmt_uint(o + 7, cur_u16(&d));
            *o++ = '}';
            jw_raw_end(w, o);
            continue;
        }
        if (kind == 3 && dlen == 1 && (o = jw_raw_begin(w, 16 + JW_UINT_MAX))) {
            memcpy(o, "{\"ws\":", 6);
            o = jw_fmt_uint(o + 6, cur_u8(&d));
            *o++ = '}';
            jw_raw_end(w, o);
            continue;
        }
        if (kind == 4 && dlen == 0) {
            jw_raw_value(w, "{\"sackp\":null}", sizeof "{\"sackp\":null}" - 1);
            continue;
        }
        jw_obj_open(w);
        if (kind == 2 && dlen == 2) {
            jw_kv_uint(w, "mss", cur_u16(&d));
        } else if (kind == 3 && dlen == 1) {
            jw_kv_uint(w, "ws", cur_u8(&d));
        } else if (kind == 5) {
            jw_kv_hex(w, "sack", d.p, dlen);
        } else if (kind == 8 && dlen == 8) {
            jw_key(w, "ts");
            jw_obj_open(w);
            jw_kv_uint(w, "val", cur_u32(&d));
            jw_kv_uint(w, "ecr", cur_u32(&d));
            jw_close(w);
        } else if (kind == 34) {
            jw_kv_hex(w, "tfo", d.p, dlen);
        } else {
            jw_kv_uint(w, "kind", kind);
            jw_kv_hex(w, "data", d.p, dlen);
        }
        jw_close(w);
    }
    jw_close(w);
}

const char *tcp_flags_str(uint8_t flags, char *buf)
{
    static const char letters[] = "FSRPAUEC";
    size_t n = 0;
    for (int i = 0; i < 8; i++)
        if (flags & (1u << i))
            buf[n++] = letters[i];
    buf[n] = '\0';
    return buf;
}

/* ICMP type -> counterpart type; -1 when the type has none (one-way). */
static int icmp_counterpart(uint8_t type, bool v6)
{
    static const uint8_t v4[][2] = {{8, 0}, {0, 8}, {13, 14}, {14, 13}, {15, 16},
                                    {16, 15}, {10, 9}, {17, 18}, {18, 17}};
    static const uint8_t v6map[][2] = {{128, 129}, {129, 128}, {133, 134}, {134, 133},
                                       {135, 136}, {136, 135}, {130, 131}, {131, 130},
                                       {139, 140}, {140, 139}, {144, 145}, {145, 144}};
    if (v6) {
        for (size_t i = 0; i < sizeof v6map / sizeof v6map[0]; i++)
            if (v6map[i][0] == type)
                return v6map[i][1];
    } else {
        for (size_t i = 0; i < sizeof v4 / sizeof v4[0]; i++)
            if (v4[i][0] == type)
                return v4[i][1];
    }
    return -1;
}

static uint32_t rotl32(uint32_t x, int n)
{
    return (x << n) | (x >> (32 - n));
}

#define SHA1_ONE_BLOCK_MAX 55 /* message bytes that fit one block with its padding */

/* One SHA-1 step on the working variables v = a..e, with the round
 * function's value f, the round constant k and the schedule word wt. */
static inline void sha1_step(uint32_t v[5], uint32_t f, uint32_t k, uint32_t wt)
{
    uint32_t tmp = rotl32(v[0], 5) + f + v[4] + k + wt;
    v[4] = v[3];
    v[3] = v[2];
    v[2] = rotl32(v[1], 30);
    v[1] = v[0];
    v[0] = tmp;
}

/* The message schedule word W[t], kept in a ring of the last 16: from
 * t = 16 on, W[t] = ROTL1(W[t-3] ^ W[t-8] ^ W[t-14] ^ W[t-16]) replaces
 * W[t-16] in its slot. */
static inline uint32_t sha1_word(uint32_t wv[16], int t)
{
    if (t >= 16)
        wv[t & 15] = rotl32(wv[(t - 3) & 15] ^ wv[(t - 8) & 15] ^ wv[(t - 14) & 15] ^
                            wv[t & 15], 1);
    return wv[t & 15];
}

static const uint32_t sha1_h0[5] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476,
                                   0xc3d2e1f0};

/* The compression function on one 64-byte block, in plain C. */
static void sha1_block_c(uint32_t h[5], const uint8_t block[64])
{
    uint32_t wv[16];
    for (int t = 0; t < 16; t++)
        wv[t] = (uint32_t)block[4 * t] << 24 | (uint32_t)block[4 * t + 1] << 16 |
                (uint32_t)block[4 * t + 2] << 8 | block[4 * t + 3];
    uint32_t v[5];
    memcpy(v, h, sizeof v);
    /* the four stages of 20 steps: Ch, Parity, Maj, Parity */
    for (int t = 0; t < 20; t++)
        sha1_step(v, (v[1] & v[2]) | (~v[1] & v[3]), 0x5a827999, sha1_word(wv, t));
    for (int t = 20; t < 40; t++)
        sha1_step(v, v[1] ^ v[2] ^ v[3], 0x6ed9eba1, sha1_word(wv, t));
    for (int t = 40; t < 60; t++)
        sha1_step(v, (v[1] & v[2]) | (v[1] & v[3]) | (v[2] & v[3]), 0x8f1bbcdc,
                  sha1_word(wv, t));
    for (int t = 60; t < 80; t++)
        sha1_step(v, v[1] ^ v[2] ^ v[3], 0xca62c1d6, sha1_word(wv, t));
    for (int i = 0; i < 5; i++)
        h[i] += v[i];
}

/*
 * The same with the SHA extensions (SHA-NI: Intel since Goldmont and Ice
 * Lake, AMD since Zen), four rounds per instruction: about a tenth of the
 * time of the C version.  Chosen at run time (CPUID leaf 7, EBX bit 29,
 * with SSSE3 and SSE4.1); valgrind, which does not implement these
 * instructions, does not report them either, so it runs the C version.
 */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SHA1_HAVE_SHANI 1
#include <cpuid.h>
#include <immintrin.h>
#include <stdatomic.h>

/* Four rounds (group g of 20, round function g / 5) on abcd with the
 * schedule words of group g in w[g % 4]: e for them comes from the abcd
 * before the previous group (prev), or from e0 for the first group.
 * From group 4 on, w[g % 4] (the words of group g - 4) becomes the words of
 * group g: W[t] = ROTL1(W[t-3] ^ W[t-8] ^ W[t-14] ^ W[t-16]). */
#define SHA1_ROUNDS4(g)                                                                      \
    do {                                                                                     \
        if ((g) >= 4)                                                                        \
            w[(g) & 3] = _mm_sha1msg2_epu32(                                                 \
                _mm_xor_si128(_mm_sha1msg1_epu32(w[(g) & 3], w[((g) + 1) & 3]),               \
                              w[((g) + 2) & 3]),                                             \
                w[((g) + 3) & 3]);                                                           \
        e = (g) == 0 ? _mm_add_epi32(e0, w[0]) : _mm_sha1nexte_epu32(prev, w[(g) & 3]);      \
        prev = abcd;                                                                         \
        abcd = _mm_sha1rnds4_epu32(abcd, e, (g) / 5);                                        \
    } while (0)

__attribute__((target("sha,ssse3,sse4.1"))) static void sha1_block_shani(uint32_t h[5],
                                                                        const uint8_t block[64])
{
    /* big-endian words, W[0] in the highest lane, as the instructions want */
    const __m128i bswap = _mm_set_epi64x(0x0001020304050607ll, 0x08090a0b0c0d0e0fll);
    __m128i abcd0 = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)(const void *)h), 0x1b);
    __m128i e0 = _mm_set_epi32((int)h[4], 0, 0, 0);
    __m128i w[4], abcd = abcd0, prev = abcd0, e;
    for (int i = 0; i < 4; i++)
        w[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(block + 16 * i)),
                                bswap);
    SHA1_ROUNDS4(0); SHA1_ROUNDS4(1); SHA1_ROUNDS4(2); SHA1_ROUNDS4(3); SHA1_ROUNDS4(4);
    SHA1_ROUNDS4(5); SHA1_ROUNDS4(6); SHA1_ROUNDS4(7); SHA1_ROUNDS4(8); SHA1_ROUNDS4(9);
    SHA1_ROUNDS4(10); SHA1_ROUNDS4(11); SHA1_ROUNDS4(12); SHA1_ROUNDS4(13); SHA1_ROUNDS4(14);
    SHA1_ROUNDS4(15); SHA1_ROUNDS4(16); SHA1_ROUNDS4(17); SHA1_ROUNDS4(18); SHA1_ROUNDS4(19);
    e = _mm_sha1nexte_epu32(prev, e0);
    abcd = _mm_shuffle_epi32(_mm_add_epi32(abcd, abcd0), 0x1b);
    _mm_storeu_si128((__m128i *)(void *)h, abcd);
    h[4] = (uint32_t)_mm_extract_epi32(e, 3);
}

static bool cpu_has_shani(void)
{
    /* -1 unknown; CPUID can trap to the hypervisor, so it is asked once */
    static atomic_int known = -1;
    int v = atomic_load_explicit(&known, memory_order_relaxed);
    if (v < 0) {
        unsigned a, b, c, d;
        bool sse = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSSE3) && (c & bit_SSE4_1);
        bool sha = __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 29));
        v = sse && sha;
        atomic_store_explicit(&known, v, memory_order_relaxed);
    }
    return v;
}
#endif

/* The compression function: SHA-NI when the CPU has it (sha1_c forces
 * the C version, for the unit test). */
static void sha1_block(uint32_t h[5], const uint8_t block[64], bool sha1_c)
{
#ifdef SHA1_HAVE_SHANI
    if (!sha1_c && cpu_has_shani()) {
        sha1_block_shani(h, block);
        return;
    }
#endif
    (void)sha1_c;
    sha1_block_c(h, block);
}

/* SHA-1 (FIPS 180-4, section 6.1) of a message of at most
 * SHA1_ONE_BLOCK_MAX bytes: one padded 64-byte block. */
void sha1_one_block(const uint8_t *msg, size_t len, uint8_t out[20], bool sha1_c)
{
    uint8_t block[64] = {0};
    memcpy(block, msg, len);
    block[len] = 0x80;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++)
        block[63 - i] = (uint8_t)(bits >> (8 * i));
    uint32_t h[5];
    memcpy(h, sha1_h0, sizeof h);
    sha1_block(h, block, sha1_c);
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 4; j++)
            out[4 * i + j] = (uint8_t)(h[i] >> (24 - 8 * j));
}



static bool endpoint_lt(const uint8_t *a1, const uint8_t *a2, size_t alen, uint16_t p1, uint16_t p2)
{
    int c = memcmp(a1, a2, alen);
    return c < 0 || (c == 0 && p1 < p2);
}

const char *community_id_v1(const struct flow *f, uint16_t seed, char *buf, size_t len)
{
    size_t alen = f->key.ipver == 6 ? 16 : 4;
    const uint8_t *sa = flow_sa(f)->b, *da = flow_da(f)->b;
    uint16_t sp = flow_sp(f), dp = flow_dp(f);
    uint8_t proto = f->key.proto;
    bool ports = flow_has_ports(f) && proto != 136;
    bool one_way = false;
    if (proto == 1 || proto == 58) {
        /* hash as the first packet was sent */
        if (!f->first_icmp_from_client) {
            const uint8_t *t = sa;
            sa = da;
            da = t;
        }
        int cp = icmp_counterpart(f->first_icmp_type, proto == 58);
        sp = f->first_icmp_type;
        if (cp < 0) {
            dp = f->first_icmp_code;
            one_way = true;
        } else {
            dp = (uint16_t)cp;
        }
        ports = true;
    }
    if (!one_way && !endpoint_lt(sa, da, alen, ports ? sp : 0, ports ? dp : 0)) {
        const uint8_t *t = sa;
        sa = da;
        da = t;
        uint16_t tp = sp;
        sp = dp;
        dp = tp;
    }
    uint8_t in[2 + 16 + 16 + 2 + 4];
    size_t n = 0;
    in[n++] = (uint8_t)(seed >> 8);
    in[n++] = (uint8_t)seed;
    memcpy(in + n, sa, alen);
    n += alen;
    memcpy(in + n, da, alen);
    n += alen;
    in[n++] = proto;
    in[n++] = 0;
    if (ports) {
        in[n++] = (uint8_t)(sp >> 8);
        in[n++] = (uint8_t)sp;
        in[n++] = (uint8_t)(dp >> 8);
        in[n++] = (uint8_t)dp;
    }
    _Static_assert(sizeof in <= SHA1_ONE_BLOCK_MAX, "the hash input fits one SHA-1 block");
    if (len < 32)
        return NULL;
    uint8_t md[20];
    sha1_one_block(in, n, md, false);
    /* "1:" and the base64 of the 20 bytes (RFC 4648): 28 characters, the
     * last one padding */
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *o = buf;
    *o++ = '1';
    *o++ = ':';
    for (int i = 0; i < 18; i += 3) {
        uint32_t v = (uint32_t)md[i] << 16 | (uint32_t)md[i + 1] << 8 | md[i + 2];
        o[0] = b64[v >> 18];
        o[1] = b64[(v >> 12) & 63];
        o[2] = b64[(v >> 6) & 63];
        o[3] = b64[v & 63];
        o += 4;
    }
    uint32_t v = (uint32_t)md[18] << 16 | (uint32_t)md[19] << 8;
    o[0] = b64[v >> 18];
    o[1] = b64[(v >> 12) & 63];
    o[2] = b64[(v >> 6) & 63];
    o[3] = '=';
    o[4] = '\0';
    return buf;
}

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
 * call, which cost more than the hash itself once per record.
 */
#include "proto_util.h"

#include "cursor.h"
#include "flow.h"
#include "jsonw.h"

#include <openssl/evp.h>
#include <string.h>

void tcp_opts_to_json(struct jsonw *w, const uint8_t *opts, size_t len)
{
    struct cursor c;
    cur_init(&c, opts, len);
    jw_arr_open(w);
    while (cur_left(&c) > 0) {
        uint8_t kind = cur_u8(&c);
        if (kind == 0) {
            jw_obj_open(w);
            jw_key(w, "eol");
            jw_null(w);
            jw_close(w);
            break;
        }
        if (kind == 1) {
            jw_obj_open(w);
            jw_key(w, "noop");
            jw_null(w);
            jw_close(w);
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
        jw_obj_open(w);
        if (kind == 2 && dlen == 2) {
            jw_kv_uint(w, "mss", cur_u16(&d));
        } else if (kind == 3 && dlen == 1) {
            jw_kv_uint(w, "ws", cur_u8(&d));
        } else if (kind == 4 && dlen == 0) {
            jw_key(w, "sackp");
            jw_null(w);
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

/* SHA-1 (FIPS 180-4, section 6.1) of a message of at most
 * SHA1_ONE_BLOCK_MAX bytes: one padded 64-byte block. */
static void sha1_one_block(const uint8_t *msg, size_t len, uint8_t out[20])
{
    uint8_t block[64] = {0};
    memcpy(block, msg, len);
    block[len] = 0x80;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++)
        block[63 - i] = (uint8_t)(bits >> (8 * i));
    uint32_t wv[16];
    for (int t = 0; t < 16; t++)
        wv[t] = (uint32_t)block[4 * t] << 24 | (uint32_t)block[4 * t + 1] << 16 |
                (uint32_t)block[4 * t + 2] << 8 | block[4 * t + 3];
    static const uint32_t h0[5] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0};
    uint32_t v[5];
    memcpy(v, h0, sizeof v);
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
    for (int i = 0; i < 5; i++) {
        uint32_t h = h0[i] + v[i];
        for (int j = 0; j < 4; j++)
            out[4 * i + j] = (uint8_t)(h >> (24 - 8 * j));
    }
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
    unsigned char md[20];
    sha1_one_block(in, n, md);
    memcpy(buf, "1:", 2);
    EVP_EncodeBlock((unsigned char *)buf + 2, md, (int)sizeof md); /* 28 chars + NUL */
    return buf;
}

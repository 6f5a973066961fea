/*
 * quic_unit.c - QUIC Initial key derivation and header protection against
 * the test vectors of RFC 9001 Appendix A and RFC 9369 Appendix A.
 * Built and run by test/test_quic_dtls.py; prints "ok NAME" / "FAIL NAME".
 * With "gen FILE" it instead writes a classic pcap of QUIC Initial packets
 * that it protects itself (split and reordered CRYPTO frames, coalesced
 * packets, v2, hostile offsets and lengths, a forged tag, CONNECTION_CLOSE).
 */
#include "quic_crypto.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int gen(const char *path);

static int fails;
static struct quic_crypto *qc; /* the OpenSSL state of quic_crypto.h */

static void hex(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
    out[2 * n] = 0;
}

static void check(const char *name, const uint8_t *p, size_t n, const char *want)
{
    char got[128];
    hex(p, n, got);
    if (strcmp(got, want)) {
        printf("FAIL %s got %s want %s\n", name, got, want);
        fails++;
    } else {
        printf("ok %s\n", name);
    }
}

int main(int argc, char **argv)
{
    qc = quic_crypto_new();
    if (!qc) {
        printf("FAIL quic_crypto_new\n");
        return 1;
    }
    if (argc == 3 && !strcmp(argv[1], "gen"))
        return gen(argv[2]);
    static const uint8_t dcid[8] = {0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08};
    struct quic_keys c, s;
    if (quic_initial_keys(qc, QUIC_V1, dcid, 8, &c, &s)) {
        printf("FAIL v1 derive\n");
        return 1;
    }
    check("v1 client key", c.key, 16, "1f369613dd76d5467730efcbe3b1a22d");
    check("v1 client iv", c.iv, 12, "fa044b2f42a3fd3b46fb255c");
    check("v1 client hp", c.hp, 16, "9f50449e04a0e810283a1e9933adedd2");
    check("v1 server key", s.key, 16, "cf3a5331653c364c88f0f379b6067e37");
    check("v1 server iv", s.iv, 12, "0ac1493ca1905853b0bba03e");
    check("v1 server hp", s.hp, 16, "c206b8d9b9f0f37644430b490eeaa314");
    uint8_t mask[5];
    static const uint8_t csample[16] = {0xd1, 0xb1, 0xc9, 0x8d, 0xd7, 0x68, 0x9f, 0xb8,
                                        0xec, 0x11, 0xd2, 0x42, 0xb1, 0x23, 0xdc, 0x9b};
    quic_hp_mask(qc, c.hp, csample, mask);
    check("v1 client hp mask", mask, 5, "437b9aec36");
    static const uint8_t ssample[16] = {0x2c, 0xd0, 0x99, 0x1c, 0xd2, 0x5b, 0x0a, 0xac,
                                        0x40, 0x6a, 0x58, 0x16, 0xb6, 0x39, 0x41, 0x00};
    quic_hp_mask(qc, s.hp, ssample, mask);
    check("v1 server hp mask", mask, 5, "2ec0d8356a");

    if (quic_initial_keys(qc, QUIC_V2, dcid, 8, &c, &s)) {
        printf("FAIL v2 derive\n");
        return 1;
    }
    check("v2 client key", c.key, 16, "8b1a0bc121284290a29e0971b5cd045d");
    check("v2 client iv", c.iv, 12, "91f73e2351d8fa91660e909f");
    check("v2 client hp", c.hp, 16, "45b95e15235d6f45a6b19cbcb0294ba9");
    check("v2 server key", s.key, 16, "82db637861d55e1d011f19ea71d5d2a7");
    check("v2 server iv", s.iv, 12, "dd13c276499c0249d3310652");
    check("v2 server hp", s.hp, 16, "edf6d05c83121201b436e16877593c3a");

    /* RFC 9001 A.5 style packet-number decoding and the types of v2 */
    if (quic_long_type(QUIC_V2, 0xd0) != QPT_INITIAL || quic_long_type(QUIC_V1, 0xc0) != QPT_INITIAL ||
        quic_long_type(QUIC_V2, 0xc0) != QPT_RETRY || quic_long_type(QUIC_V1, 0xf0) != QPT_RETRY) {
        printf("FAIL long types\n");
        fails++;
    } else {
        printf("ok long types\n");
    }
    uint8_t short_pkt[8] = {0};
    uint64_t pn;
    size_t ol;
    if (quic_unprotect(qc, &c, short_pkt, sizeof short_pkt, 2, -1, &pn, short_pkt, &ol) != -1) {
        printf("FAIL short packet accepted\n");
        fails++;
    } else {
        printf("ok short packet refused\n");
    }
    return fails ? 1 : 0;
}

/* ---- the capture generator ---- */

struct buf {
    uint8_t b[70000];
    size_t n;
};

static void put(struct buf *b, const void *p, size_t n)
{
    if (b->n + n > sizeof b->b)
        abort();
    memcpy(b->b + b->n, p, n);
    b->n += n;
}
static void put8(struct buf *b, unsigned v) { uint8_t x = (uint8_t)v; put(b, &x, 1); }
static void put16(struct buf *b, unsigned v) { put8(b, v >> 8); put8(b, v); }
static void put24(struct buf *b, unsigned v) { put8(b, v >> 16); put16(b, v & 0xffff); }
static void put32(struct buf *b, uint32_t v) { put16(b, v >> 16); put16(b, v & 0xffff); }
static void putvar(struct buf *b, uint64_t v)
{
    if (v < 64) {
        put8(b, (unsigned)v);
    } else if (v < 16384) {
        put16(b, 0x4000 | (unsigned)v);
    } else if (v < (1u << 30)) {
        put32(b, 0x80000000u | (uint32_t)v);
    } else {
        put32(b, 0xc0000000u | (uint32_t)(v >> 32));
        put32(b, (uint32_t)v);
    }
}

static void ext(struct buf *b, unsigned type, const void *d, size_t n)
{
    put16(b, type);
    put16(b, (unsigned)n);
    put(b, d, n);
}

/* a ClientHello with SNI `name`, padded to about `size` bytes */
static void client_hello(struct buf *m, const char *name, size_t size)
{
    struct buf *b = calloc(1, sizeof *b), *e = calloc(1, sizeof *e);
    put16(b, 0x0303);
    for (int i = 0; i < 32; i++)
        put8(b, 0x11);
    put8(b, 0);
    put16(b, 4);
    put16(b, 0x1301);
    put16(b, 0x1302);
    put8(b, 1);
    put8(b, 0);
    uint8_t sn[64];
    size_t nl = strlen(name);
    sn[0] = 0;
    sn[1] = (uint8_t)(nl + 3);
    sn[2] = 0;
    sn[3] = 0;
    sn[4] = (uint8_t)nl;
    memcpy(sn + 5, name, nl);
    ext(e, 0, sn, nl + 5);
    static const uint8_t sv[] = {2, 3, 4}, alpn[] = {0, 3, 2, 'h', '3'}, grp[] = {0, 2, 0, 0x1d},
                         sig[] = {0, 2, 4, 3};
    ext(e, 43, sv, sizeof sv);
    ext(e, 16, alpn, sizeof alpn);
    ext(e, 10, grp, sizeof grp);
    ext(e, 13, sig, sizeof sig);
    uint8_t ks[38] = {0, 36, 0, 0x1d, 0, 32};
    ext(e, 51, ks, sizeof ks);
    size_t now = b->n + 2 + e->n + 4;
    if (size > now) {
        uint8_t *z = calloc(1, size - now);
        ext(e, 21, z, size - now);
        free(z);
    }
    put16(b, (unsigned)e->n);
    put(b, e->b, e->n);
    put8(m, 1);
    put24(m, (unsigned)b->n);
    put(m, b->b, b->n);
    free(b);
    free(e);
}

static void server_hello(struct buf *m)
{
    struct buf *b = calloc(1, sizeof *b);
    put16(b, 0x0303);
    for (int i = 0; i < 32; i++)
        put8(b, 0x22);
    put8(b, 0);
    put16(b, 0x1301);
    put8(b, 0);
    put16(b, 6 + 40);
    static const uint8_t sv[] = {3, 4};
    ext(b, 43, sv, 2);
    uint8_t ks[36] = {0, 0x1d, 0, 32};
    ext(b, 51, ks, sizeof ks);
    put8(m, 2);
    put24(m, (unsigned)b->n);
    put(m, b->b, b->n);
    free(b);
}

/* Protect one long-header packet and append it to the datagram d. */
static void protect(struct buf *d, const struct quic_keys *k, uint32_t version, unsigned type_bits,
                    const uint8_t *dcid, size_t dl, const uint8_t *scid, size_t sl, uint32_t pn,
                    const uint8_t *payload, size_t n, long lie_len, int bad_tag)
{
    uint8_t pl[4096];
    if (n < 8) { /* room for the sample */
        memcpy(pl, payload, n);
        memset(pl + n, 0, 8 - n);
        payload = pl;
        n = 8;
    }
    size_t start = d->n;
    put8(d, 0xc0 | (type_bits << 4) | 1); /* 2-byte packet number */
    put32(d, version);
    put8(d, (unsigned)dl);
    put(d, dcid, dl);
    put8(d, (unsigned)sl);
    put(d, scid, sl);
    put8(d, 0); /* token */
    put16(d, 0x4000 | (unsigned)(lie_len >= 0 ? (size_t)lie_len : 2 + n + 16));
    size_t pn_off = d->n;
    put16(d, pn & 0xffff);
    uint8_t nonce[12];
    memcpy(nonce, k->iv, 12);
    for (int i = 0; i < 4; i++)
        nonce[11 - i] ^= (uint8_t)(pn >> (8 * i));
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int o = 0;
    uint8_t ct[4096 + 16];
    EVP_EncryptInit_ex(c, EVP_aes_128_gcm(), NULL, NULL, NULL);
    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, 12, NULL);
    EVP_EncryptInit_ex(c, NULL, NULL, k->key, nonce);
    EVP_EncryptUpdate(c, NULL, &o, d->b + start, (int)(d->n - start));
    EVP_EncryptUpdate(c, ct, &o, payload, (int)n);
    EVP_EncryptFinal_ex(c, ct + o, &o);
    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, ct + n);
    EVP_CIPHER_CTX_free(c);
    if (bad_tag)
        ct[n + 3] ^= 1;
    put(d, ct, n + 16);
    uint8_t mask[5];
    quic_hp_mask(qc, k->hp, d->b + pn_off + 4, mask);
    d->b[start] ^= mask[0] & 0x0f;
    d->b[pn_off] ^= mask[1];
    d->b[pn_off + 1] ^= mask[2];
}

static void crypto_frame(struct buf *p, uint64_t off, const uint8_t *d, size_t n)
{
    put8(p, 6);
    putvar(p, off);
    putvar(p, n);
    put(p, d, n);
}

static FILE *out;
static double ts = 1700000000.0;

/* one Ethernet/IPv4/UDP frame; dir 0 = client 10.0.0.1:port -> 10.0.0.2:443 */
static void frame(unsigned port, int dir, const struct buf *d)
{
    uint8_t h[42] = {0};
    size_t ulen = 8 + d->n, ilen = 20 + ulen;
    h[12] = 0x08;
    h[14] = 0x45;
    h[16] = (uint8_t)(ilen >> 8);
    h[17] = (uint8_t)ilen;
    h[22] = 64;
    h[23] = 17;
    uint8_t a[4] = {10, 0, 0, 1}, b[4] = {10, 0, 0, 2};
    memcpy(h + 26, dir ? b : a, 4);
    memcpy(h + 30, dir ? a : b, 4);
    unsigned sp = dir ? 443 : port, dp = dir ? port : 443;
    h[34] = (uint8_t)(sp >> 8);
    h[35] = (uint8_t)sp;
    h[36] = (uint8_t)(dp >> 8);
    h[37] = (uint8_t)dp;
    h[38] = (uint8_t)(ulen >> 8);
    h[39] = (uint8_t)ulen;
    ts += 0.001;
    uint32_t rec[4] = {(uint32_t)ts, (uint32_t)((ts - (uint32_t)ts) * 1e6), (uint32_t)(42 + d->n),
                       (uint32_t)(42 + d->n)};
    fwrite(rec, 4, 4, out);
    fwrite(h, 1, 42, out);
    fwrite(d->b, 1, d->n, out);
}

static int gen(const char *path)
{
    out = fopen(path, "wb");
    if (!out)
        return 1;
    uint32_t gh[6] = {0xa1b2c3d4, 0x00040002, 0, 0, 65535, 1};
    fwrite(gh, 4, 6, out);
    static const uint8_t scid[4] = {0xc1, 0xc2, 0xc3, 0xc4},
                         sscid[5] = {0x5e, 0x5e, 0x5e, 0x5e, 0x01};
    uint8_t dcid[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    struct quic_keys ck, sk;
    struct buf *ch = calloc(1, sizeof *ch), *sh = calloc(1, sizeof *sh);
    struct buf *d = calloc(1, sizeof *d), *p = calloc(1, sizeof *p);
    client_hello(ch, "split.example", 2600);
    server_hello(sh);

    /* A (port 40001, v1): the ClientHello in three Initials, out of order; two
     * coalesced in the first datagram; the server's Initial coalesced with a
     * Handshake packet we cannot read. */
    quic_initial_keys(qc, QUIC_V1, dcid, 8, &ck, &sk);
    d->n = 0;
    p->n = 0;
    crypto_frame(p, 2000, ch->b + 2000, ch->n - 2000);
    protect(d, &ck, QUIC_V1, 0, dcid, 8, scid, 4, 0, p->b, p->n, -1, 0);
    p->n = 0;
    put8(p, 1); /* PING */
    crypto_frame(p, 0, ch->b, 900);
    protect(d, &ck, QUIC_V1, 0, dcid, 8, scid, 4, 1, p->b, p->n, -1, 0);
    frame(40001, 0, d);
    d->n = 0;
    p->n = 0;
    crypto_frame(p, 900, ch->b + 900, 1100);
    crypto_frame(p, 850, ch->b + 850, 200); /* overlap */
    for (int i = 0; i < 40; i++)
        put8(p, 0); /* PADDING */
    protect(d, &ck, QUIC_V1, 0, dcid, 8, scid, 4, 2, p->b, p->n, -1, 0);
    frame(40001, 0, d);
    d->n = 0;
    p->n = 0;
    put8(p, 2); /* ACK largest 2, delay 0, 1 range */
    put8(p, 2);
    put8(p, 0);
    put8(p, 0);
    put8(p, 2);
    crypto_frame(p, 0, sh->b, sh->n);
    protect(d, &sk, QUIC_V1, 0, scid, 4, sscid, 5, 0, p->b, p->n, -1, 0);
    put8(d, 0xe0); /* a Handshake packet: header only, 20 bytes of noise */
    put32(d, QUIC_V1);
    put8(d, 4);
    put(d, scid, 4);
    put8(d, 5);
    put(d, sscid, 5);
    put8(d, 20);
    for (int i = 0; i < 20; i++)
        put8(d, 0x99);
    frame(40001, 1, d);

    /* B (port 40002, v2): one Initial each way */
    dcid[7] = 2;
    quic_initial_keys(qc, QUIC_V2, dcid, 8, &ck, &sk);
    struct buf *ch2 = calloc(1, sizeof *ch2);
    client_hello(ch2, "v2.example", 1100);
    d->n = 0;
    p->n = 0;
    crypto_frame(p, 0, ch2->b, ch2->n);
    protect(d, &ck, QUIC_V2, 1, dcid, 8, scid, 4, 0, p->b, p->n, -1, 0);
    frame(40002, 0, d);
    d->n = 0;
    p->n = 0;
    crypto_frame(p, 0, sh->b, sh->n);
    protect(d, &sk, QUIC_V2, 1, scid, 4, sscid, 5, 0, p->b, p->n, -1, 0);
    frame(40002, 1, d);

    /* C (port 40003): CRYPTO frames with absurd offsets */
    dcid[7] = 3;
    quic_initial_keys(qc, QUIC_V1, dcid, 8, &ck, &sk);
    d->n = 0;
    p->n = 0;
    crypto_frame(p, ((uint64_t)1 << 62) - 1, ch2->b, 10);
    crypto_frame(p, 65530, ch2->b, 100);
    crypto_frame(p, 0, ch2->b, 50);
    protect(d, &ck, QUIC_V1, 0, dcid, 8, scid, 4, 0, p->b, p->n, -1, 0);
    frame(40003, 0, d);

    /* D (port 40004): a forged tag */
    dcid[7] = 4;
    quic_initial_keys(qc, QUIC_V1, dcid, 8, &ck, &sk);
    d->n = 0;
    p->n = 0;
    crypto_frame(p, 0, ch2->b, ch2->n);
    protect(d, &ck, QUIC_V1, 0, dcid, 8, scid, 4, 0, p->b, p->n, -1, 1);
    frame(40004, 0, d);

    /* E (port 40005): a Length field larger than the datagram */
    dcid[7] = 5;
    quic_initial_keys(qc, QUIC_V1, dcid, 8, &ck, &sk);
    d->n = 0;
    protect(d, &ck, QUIC_V1, 0, dcid, 8, scid, 4, 0, p->b, p->n, 9000, 0);
    frame(40005, 0, d);

    /* F (port 40006): a datagram cut inside the header */
    dcid[7] = 6;
    quic_initial_keys(qc, QUIC_V1, dcid, 8, &ck, &sk);
    d->n = 0;
    protect(d, &ck, QUIC_V1, 0, dcid, 8, scid, 4, 0, p->b, p->n, -1, 0);
    d->n = 19;
    frame(40006, 0, d);

    /* G (port 40007): the server closes the connection in its Initial */
    dcid[7] = 7;
    quic_initial_keys(qc, QUIC_V1, dcid, 8, &ck, &sk);
    d->n = 0;
    protect(d, &ck, QUIC_V1, 0, dcid, 8, scid, 4, 0, p->b, p->n, -1, 0);
    frame(40007, 0, d);
    d->n = 0;
    p->n = 0;
    put8(p, 0x1c);
    put8(p, 0x0a); /* PROTOCOL_VIOLATION */
    put8(p, 0x06);
    put8(p, 3);
    put(p, "b\"d", 3);
    protect(d, &sk, QUIC_V1, 0, scid, 4, sscid, 5, 0, p->b, p->n, -1, 0);
    frame(40007, 1, d);

    /* H (port 40008): a whole ClientHello whose last extension (key_share,
     * 38 bytes) claims 20 bytes more than the extensions block holds */
    dcid[7] = 8;
    quic_initial_keys(qc, QUIC_V1, dcid, 8, &ck, &sk);
    struct buf *ch3 = calloc(1, sizeof *ch3);
    client_hello(ch3, "partial.example", 0);
    ch3->b[ch3->n - 38 - 2] = 0;
    ch3->b[ch3->n - 38 - 1] = 38 + 20;
    d->n = 0;
    p->n = 0;
    crypto_frame(p, 0, ch3->b, ch3->n);
    for (int i = 0; i < 1000; i++)
        put8(p, 0); /* PADDING */
    protect(d, &ck, QUIC_V1, 0, dcid, 8, scid, 4, 0, p->b, p->n, -1, 0);
    frame(40008, 0, d);
    free(ch3);

    fclose(out);
    free(ch);
    free(ch2);
    free(sh);
    free(d);
    free(p);
    return 0;
}

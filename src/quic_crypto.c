/*
 * quic_crypto.c - QUIC Initial keys, header protection and payload
 * decryption (RFC 9001 5.2-5.4, RFC 9369 3.3; draft-ietf-quic-tls-29 5.2
 * for the draft-29 salt).  See quic_crypto.h.
 */
#include "quic_crypto.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <string.h>

static const uint8_t salt_v1[20] = {0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17,
                                    0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a};
static const uint8_t salt_v2[20] = {0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93,
                                    0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9};
static const uint8_t salt_d29[20] = {0xaf, 0xbf, 0xec, 0x28, 0x99, 0x93, 0xd2, 0x4c, 0x9e, 0x97,
                                     0x86, 0xf1, 0x9c, 0x61, 0x11, 0xe0, 0x43, 0x90, 0xa8, 0x99};

bool quic_version_known(uint32_t version)
{
    return version == QUIC_V1 || version == QUIC_V2 || version == QUIC_DRAFT29;
}

enum quic_ptype quic_long_type(uint32_t version, uint8_t b0)
{
    unsigned t = (b0 >> 4) & 3;
    if (version == QUIC_V2) /* RFC 9369 3.2: Initial 01, 0-RTT 10, Handshake 11, Retry 00 */
        return (enum quic_ptype)((t + 3) & 3);
    return (enum quic_ptype)t;
}

/* HKDF (SHA-256) through EVP_KDF: mode extract-only or expand-only. */
static int hkdf(int mode, const uint8_t *key, size_t key_len, const uint8_t *salt, size_t salt_len,
                const uint8_t *info, size_t info_len, uint8_t *out, size_t out_len)
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    if (!kdf)
        return -1;
    EVP_KDF_CTX *ctx = EVP_KDF_CTX_new(kdf);
    EVP_KDF_free(kdf);
    if (!ctx)
        return -1;
    OSSL_PARAM prm[6], *p = prm;
    *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
    *p++ = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)key, key_len);
    if (salt)
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_len);
    if (info)
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, info_len);
    *p = OSSL_PARAM_construct_end();
    int r = EVP_KDF_derive(ctx, out, out_len, prm) == 1 ? 0 : -1;
    EVP_KDF_CTX_free(ctx);
    return r;
}

/* HKDF-Expand-Label (RFC 8446 7.1) with an empty context. */
static int expand_label(const uint8_t secret[32], const char *label, uint8_t *out, size_t out_len)
{
    uint8_t info[2 + 1 + 6 + 32 + 1];
    size_t ll = strlen(label), n = 0;
    if (ll > 32)
        return -1;
    info[n++] = (uint8_t)(out_len >> 8);
    info[n++] = (uint8_t)out_len;
    info[n++] = (uint8_t)(6 + ll);
    memcpy(info + n, "tls13 ", 6);
    n += 6;
    memcpy(info + n, label, ll);
    n += ll;
    info[n++] = 0;
    return hkdf(EVP_KDF_HKDF_MODE_EXPAND_ONLY, secret, 32, NULL, 0, info, n, out, out_len);
}

static int side_keys(const uint8_t init[32], const char *side, bool v2, struct quic_keys *k)
{
    uint8_t sec[32];
    if (expand_label(init, side, sec, 32) ||
        expand_label(sec, v2 ? "quicv2 key" : "quic key", k->key, 16) ||
        expand_label(sec, v2 ? "quicv2 iv" : "quic iv", k->iv, 12) ||
        expand_label(sec, v2 ? "quicv2 hp" : "quic hp", k->hp, 16))
        return -1;
    return 0;
}

int quic_initial_keys(uint32_t version, const uint8_t *dcid, size_t dcid_len,
                      struct quic_keys *client, struct quic_keys *server)
{
    const uint8_t *salt = version == QUIC_V1   ? salt_v1
                          : version == QUIC_V2 ? salt_v2
                          : version == QUIC_DRAFT29 ? salt_d29
                                                    : NULL;
    if (!salt || dcid_len > QUIC_MAX_CID)
        return -1;
    uint8_t init[32];
    /* a zero-length DCID is legal for a server-chosen ID; OpenSSL wants a key */
    uint8_t zero = 0;
    if (hkdf(EVP_KDF_HKDF_MODE_EXTRACT_ONLY, dcid_len ? dcid : &zero, dcid_len, salt, 20, NULL, 0,
             init, 32))
        return -1;
    bool v2 = version == QUIC_V2;
    if (side_keys(init, "client in", v2, client) || side_keys(init, "server in", v2, server))
        return -1;
    return 0;
}

int quic_hp_mask(const uint8_t hp[16], const uint8_t sample[16], uint8_t mask[5])
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    if (!c)
        return -1;
    uint8_t out[32];
    int n = 0, r = -1;
    if (EVP_EncryptInit_ex(c, EVP_aes_128_ecb(), NULL, hp, NULL) == 1 &&
        EVP_CIPHER_CTX_set_padding(c, 0) == 1 && EVP_EncryptUpdate(c, out, &n, sample, 16) == 1 &&
        n == 16) {
        memcpy(mask, out, 5);
        r = 0;
    }
    EVP_CIPHER_CTX_free(c);
    return r;
}

/* RFC 9000 A.3 */
static uint64_t decode_pn(int64_t largest, uint64_t truncated, unsigned bits)
{
    uint64_t expected = (uint64_t)(largest + 1);
    uint64_t win = (uint64_t)1 << bits, hwin = win / 2, mask = win - 1;
    uint64_t cand = (expected & ~mask) | truncated;
    if (cand + hwin <= expected && cand < ((uint64_t)1 << 62) - win)
        return cand + win;
    if (cand > expected + hwin && cand >= win)
        return cand - win;
    return cand;
}

int quic_unprotect(const struct quic_keys *k, uint8_t *pkt, size_t pkt_len, size_t pn_off,
                   int64_t largest, uint64_t *pn, uint8_t *out, size_t *out_len)
{
    /* the sample starts 4 bytes after the packet number's first byte */
    if (pn_off + 4 + 16 > pkt_len)
        return -1;
    uint8_t mask[5];
    if (quic_hp_mask(k->hp, pkt + pn_off + 4, mask))
        return -1;
    uint8_t b0 = pkt[0] ^ (uint8_t)(mask[0] & ((pkt[0] & 0x80) ? 0x0f : 0x1f));
    size_t pn_len = (size_t)(b0 & 3) + 1;
    size_t hdr = pn_off + pn_len;
    if (hdr + 16 > pkt_len)
        return -1;
    pkt[0] = b0;
    uint64_t t = 0;
    for (size_t i = 0; i < pn_len; i++) {
        pkt[pn_off + i] ^= mask[1 + i];
        t = (t << 8) | pkt[pn_off + i];
    }
    *pn = decode_pn(largest, t, (unsigned)(8 * pn_len));
    uint8_t nonce[12];
    memcpy(nonce, k->iv, 12);
    for (int i = 0; i < 8; i++)
        nonce[11 - i] ^= (uint8_t)(*pn >> (8 * i));
    size_t ct_len = pkt_len - hdr - 16;
    if (ct_len > (size_t)0x7fffffff || hdr > (size_t)0x7fffffff)
        return -1;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    if (!c)
        return -1;
    int n = 0, m = 0, r = -1;
    if (EVP_DecryptInit_ex(c, EVP_aes_128_gcm(), NULL, NULL, NULL) == 1 &&
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) == 1 &&
        EVP_DecryptInit_ex(c, NULL, NULL, k->key, nonce) == 1 &&
        EVP_DecryptUpdate(c, NULL, &n, pkt, (int)hdr) == 1 &&
        EVP_DecryptUpdate(c, out, &n, pkt + hdr, (int)ct_len) == 1 &&
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, pkt + hdr + ct_len) == 1 &&
        EVP_DecryptFinal_ex(c, out + n, &m) == 1) {
        *out_len = (size_t)n + (size_t)m;
        r = 0;
    }
    EVP_CIPHER_CTX_free(c);
    return r;
}

bool quic_varint(const uint8_t *buf, size_t len, size_t *pos, uint64_t *v)
{
    if (*pos >= len)
        return false;
    size_t n = (size_t)1 << (buf[*pos] >> 6);
    if (len - *pos < n)
        return false;
    uint64_t x = buf[*pos] & 0x3f;
    for (size_t i = 1; i < n; i++)
        x = (x << 8) | buf[*pos + i];
    *pos += n;
    *v = x;
    return true;
}

/*
 * quic_crypto.c - QUIC Initial keys, header protection and payload
 * decryption (RFC 9001 5.2-5.4, RFC 9369 3.3; draft-ietf-quic-tls-29 5.2
 * for the draft-29 salt).  See quic_crypto.h.
 */
#include "quic_crypto.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdlib.h>
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

struct quic_crypto {
    EVP_MAC_CTX *hmac;       /* HMAC-SHA256; each use sets its key */
    EVP_CIPHER_CTX *hp;      /* AES-128-ECB, no padding; each use sets its key */
    EVP_CIPHER_CTX *aead;    /* AES-128-GCM; each use sets key and nonce */
};

struct quic_crypto *quic_crypto_new(void)
{
    struct quic_crypto *qc = calloc(1, sizeof *qc);
    if (!qc)
        return NULL;
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_CIPHER *ecb = EVP_CIPHER_fetch(NULL, "AES-128-ECB", NULL);
    EVP_CIPHER *gcm = EVP_CIPHER_fetch(NULL, "AES-128-GCM", NULL);
    qc->hmac = mac ? EVP_MAC_CTX_new(mac) : NULL;
    qc->hp = EVP_CIPHER_CTX_new();
    qc->aead = EVP_CIPHER_CTX_new();
    OSSL_PARAM prm[2];
    prm[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
    prm[1] = OSSL_PARAM_construct_end();
    bool ok = qc->hmac && qc->hp && qc->aead && ecb && gcm &&
              EVP_MAC_CTX_set_params(qc->hmac, prm) == 1 &&
              EVP_EncryptInit_ex(qc->hp, ecb, NULL, NULL, NULL) == 1 &&
              EVP_DecryptInit_ex(qc->aead, gcm, NULL, NULL, NULL) == 1;
    /* the contexts hold their own references to the algorithms */
    EVP_MAC_free(mac);
    EVP_CIPHER_free(ecb);
    EVP_CIPHER_free(gcm);
    if (!ok) {
        quic_crypto_free(qc);
        return NULL;
    }
    return qc;
}

void quic_crypto_free(struct quic_crypto *qc)
{
    if (!qc)
        return;
    EVP_MAC_CTX_free(qc->hmac);
    EVP_CIPHER_CTX_free(qc->hp);
    EVP_CIPHER_CTX_free(qc->aead);
    free(qc);
}

/* HMAC-SHA256(key, a || b) (RFC 2104). */
static int hmac(struct quic_crypto *qc, const uint8_t *key, size_t key_len, const uint8_t *a,
                size_t a_len, const uint8_t *b, size_t b_len, uint8_t out[32])
{
    size_t n = 0;
    if (EVP_MAC_init(qc->hmac, key, key_len, NULL) != 1 ||
        EVP_MAC_update(qc->hmac, a, a_len) != 1 || EVP_MAC_update(qc->hmac, b, b_len) != 1 ||
        EVP_MAC_final(qc->hmac, out, &n, 32) != 1 || n != 32)
        return -1;
    return 0;
}

/* HKDF-Expand (RFC 5869 2.3) of at most one block: T(1) = HMAC(prk, info || 1). */
static int hkdf_expand(struct quic_crypto *qc, const uint8_t prk[32], const uint8_t *info,
                       size_t info_len, uint8_t *out, size_t out_len)
{
    static const uint8_t one = 1;
    uint8_t t[32];
    if (out_len > sizeof t || hmac(qc, prk, 32, info, info_len, &one, 1, t))
        return -1;
    memcpy(out, t, out_len);
    return 0;
}

/* HKDF-Expand-Label (RFC 8446 7.1) with an empty context. */
static int expand_label(struct quic_crypto *qc, const uint8_t secret[32], const char *label,
                        uint8_t *out, size_t out_len)
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
    return hkdf_expand(qc, secret, info, n, out, out_len);
}

static int side_keys(struct quic_crypto *qc, const uint8_t init[32], const char *side, bool v2,
                     struct quic_keys *k)
{
    uint8_t sec[32];
    if (expand_label(qc, init, side, sec, 32) ||
        expand_label(qc, sec, v2 ? "quicv2 key" : "quic key", k->key, 16) ||
        expand_label(qc, sec, v2 ? "quicv2 iv" : "quic iv", k->iv, 12) ||
        expand_label(qc, sec, v2 ? "quicv2 hp" : "quic hp", k->hp, 16))
        return -1;
    return 0;
}

int quic_initial_keys(struct quic_crypto *qc, uint32_t version, const uint8_t *dcid,
                      size_t dcid_len, struct quic_keys *client, struct quic_keys *server)
{
    const uint8_t *salt = version == QUIC_V1   ? salt_v1
                          : version == QUIC_V2 ? salt_v2
                          : version == QUIC_DRAFT29 ? salt_d29
                                                    : NULL;
    if (!salt || dcid_len > QUIC_MAX_CID)
        return -1;
    /* HKDF-Extract (RFC 5869 2.2): initial_secret = HMAC(salt, dcid) */
    uint8_t init[32];
    if (hmac(qc, salt, 20, dcid, dcid_len, NULL, 0, init))
        return -1;
    bool v2 = version == QUIC_V2;
    if (side_keys(qc, init, "client in", v2, client) ||
        side_keys(qc, init, "server in", v2, server))
        return -1;
    return 0;
}

int quic_hp_mask(struct quic_crypto *qc, const uint8_t hp[16], const uint8_t sample[16],
                 uint8_t mask[5])
{
    uint8_t out[32];
    int n = 0;
    if (EVP_EncryptInit_ex(qc->hp, NULL, NULL, hp, NULL) != 1 ||
        EVP_CIPHER_CTX_set_padding(qc->hp, 0) != 1 ||
        EVP_EncryptUpdate(qc->hp, out, &n, sample, 16) != 1 || n != 16)
        return -1;
    memcpy(mask, out, 5);
    return 0;
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

int quic_unprotect(struct quic_crypto *qc, const struct quic_keys *k, uint8_t *pkt, size_t pkt_len,
                   size_t pn_off, int64_t largest, uint64_t *pn, uint8_t *out, size_t *out_len)
{
    /* the sample starts 4 bytes after the packet number's first byte */
    if (pn_off + 4 + 16 > pkt_len)
        return -1;
    uint8_t mask[5];
    if (quic_hp_mask(qc, k->hp, pkt + pn_off + 4, mask))
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
    EVP_CIPHER_CTX *c = qc->aead;
    int n = 0, m = 0;
    if (EVP_DecryptInit_ex(c, NULL, NULL, k->key, nonce) != 1 ||
        EVP_DecryptUpdate(c, NULL, &n, pkt, (int)hdr) != 1 ||
        EVP_DecryptUpdate(c, out, &n, pkt + hdr, (int)ct_len) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, pkt + hdr + ct_len) != 1 ||
        EVP_DecryptFinal_ex(c, out + n, &m) != 1)
        return -1;
    *out_len = (size_t)n + (size_t)m;
    return 0;
}

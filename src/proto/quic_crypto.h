/*
 * quic_crypto.h - QUIC Initial packet protection (RFC 9001 section 5,
 * RFC 9369 section 3.3 for QUIC version 2).
 *
 * Initial packets are encrypted with keys that anyone can derive from the
 * client's first Destination Connection ID and a per-version salt:
 *   initial_secret = HKDF-Extract(salt, dcid)            (SHA-256)
 *   client/server  = HKDF-Expand-Label(initial_secret, "client in" / "server in", "", 32)
 *   key, iv, hp    = HKDF-Expand-Label(secret, "quic key" / "quic iv" / "quic hp", "", 16/12/16)
 * (v2: "quicv2 key", "quicv2 iv", "quicv2 hp").  Header protection is
 * AES-128-ECB of a 16-byte sample of the ciphertext; the payload is
 * AES-128-GCM with nonce = iv XOR the packet number.  All of it goes
 * through OpenSSL's EVP interface.
 */
#ifndef JOY_QUIC_CRYPTO_H
#define JOY_QUIC_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QUIC_V1 0x00000001u
#define QUIC_V2 0x6b3343cfu
#define QUIC_DRAFT29 0xff00001du
#define QUIC_MAX_CID 20

/* long header packet types, independent of the version's encoding */
enum quic_ptype { QPT_INITIAL, QPT_0RTT, QPT_HANDSHAKE, QPT_RETRY };

struct quic_keys {
    uint8_t key[16], iv[12], hp[16];
};

/* Is this a version whose Initial keys we know (v1, v2, draft-29)? */
bool quic_version_known(uint32_t version);

/* The packet type from the first byte of a long header (v2 permutes them). */
enum quic_ptype quic_long_type(uint32_t version, uint8_t b0);

/* The OpenSSL state of the functions below, made once per run: the
 * algorithms are fetched once (OpenSSL 3 looks one up by name on each
 * implicit use) and the contexts are reused.  Not thread-safe. */
struct quic_crypto;
struct quic_crypto *quic_crypto_new(void);
void quic_crypto_free(struct quic_crypto *qc);

/* Derive the client's and server's Initial keys.  Returns 0, or -1 for an
 * unknown version, a dcid longer than 20 bytes or an OpenSSL failure. */
int quic_initial_keys(struct quic_crypto *qc, uint32_t version, const uint8_t *dcid,
                      size_t dcid_len, struct quic_keys *client, struct quic_keys *server);

/* The 5-byte header protection mask for a 16-byte sample. */
int quic_hp_mask(struct quic_crypto *qc, const uint8_t hp[16], const uint8_t sample[16],
                 uint8_t mask[5]);

/*
 * Remove the protection of one long-header packet in place.  pkt holds the
 * packet from its first byte, pkt_len bytes (header + protected packet
 * number + payload + 16-byte tag, i.e. up to pn_off + the Length field);
 * pn_off is the offset of the packet number.  `largest` is the largest
 * packet number decrypted so far in this number space (or -1).  On success
 * the header in pkt is unprotected, *pn is the full packet number and the
 * plaintext (pkt_len - header - 16 bytes) is written to out (which must
 * hold pkt_len bytes), its length to *out_len.  Returns 0 or -1.
 */
int quic_unprotect(struct quic_crypto *qc, const struct quic_keys *k, uint8_t *pkt, size_t pkt_len,
                   size_t pn_off, int64_t largest, uint64_t *pn, uint8_t *out, size_t *out_len);

/* For fuzzing (fuzz/fuzz_quic.c): run mod_quic.c's frame parser, CRYPTO
 * reassembly and JSON/fingerprint writers on plaintext Initial payloads
 * given as chunks <ctl><len u16 big-endian><bytes> (ctl bit 0: from the
 * server), writing members into the open object of w; tls is the
 * fingerprints' digests (tls_ctx_new(), tls_parse.h). */
struct jsonw;
struct tls_ctx;
void quic_fuzz_plain(const uint8_t *data, size_t size, struct jsonw *w, struct tls_ctx *tls);

#endif

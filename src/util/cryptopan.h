/*
 * cryptopan.h - Crypto-PAn prefix-preserving address pseudonyms.
 *
 * Crypto-PAn (J. Xu, J. Fan, M. Ammar, S. Moon, "Prefix-Preserving IP
 * Address Anonymization: Measurement-based Security Evaluation and a New
 * Cryptography-based Scheme", ICNP 2002).  The 32-byte key is an AES-128
 * key K (bytes 0-15) and a pad seed (bytes 16-31); the pad P is
 * AES_K(seed).  For an address a of n bits (32 for IPv4, 128 for IPv6),
 * bit i of the pseudonym is
 *     a[i] XOR msb(AES_K(a[0..i) || P[i..128)))
 * i.e. the first i bits of the address followed by the pad's bits from i
 * on, as one 128-bit block.  IPv4 addresses use the first 32 bits of the
 * block, exactly as the authors' reference implementation; IPv6 uses the
 * same construction over all 128 bits.  Two addresses that share exactly
 * k leading bits map to pseudonyms that share exactly k leading bits, and
 * the map is a bijection that can be inverted bit by bit with the key.
 *
 * AES comes from OpenSSL's EVP interface (AES-128-ECB, single blocks).
 */
#ifndef JOY_CRYPTOPAN_H
#define JOY_CRYPTOPAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CRYPTOPAN_KEY_LEN 32

struct cryptopan;

/* A context for `key` (32 bytes); NULL with a message on failure. */
struct cryptopan *cryptopan_new(const uint8_t key[CRYPTOPAN_KEY_LEN], char *err, size_t errlen);
void cryptopan_free(struct cryptopan *c);

/* Map the address `in` of `nbytes` bytes (4 or 16) to its pseudonym in
 * `out` (may equal `in`).  0, or -1 if the cipher failed (out is then
 * all zero, never the input). */
int cryptopan_anon(struct cryptopan *c, const uint8_t *in, size_t nbytes, uint8_t *out);
/* The inverse: the address whose pseudonym is `in`. */
int cryptopan_deanon(struct cryptopan *c, const uint8_t *in, size_t nbytes, uint8_t *out);

/*
 * Read a key file: exactly 32 raw bytes, or 64 hexadecimal digits
 * (optionally followed by white space).  When the file does not exist and
 * `create` is set, 32 bytes from getrandom() are written to a new file of
 * mode 0600 (created atomically: a temporary file linked into place, so
 * two processes never see a half-written key) and used.  `*created` (may
 * be NULL) tells whether that happened; `*loose` (may be NULL) is set when
 * the file can be read by group or others.  0, or -1 with a message.
 */
int cryptopan_key_load(const char *path, bool create, uint8_t key[CRYPTOPAN_KEY_LEN],
                       bool *created, bool *loose, char *err, size_t errlen);

/* Overwrite secret bytes so the compiler cannot elide it. */
void cryptopan_wipe(void *p, size_t n);

#endif

/*
 * cryptopan.c - Crypto-PAn prefix-preserving pseudonyms (see cryptopan.h).
 *
 * Forward mapping: the n input blocks (one per bit position) depend only on
 * the address, never on earlier outputs, so all of them are encrypted with
 * one EVP_EncryptUpdate call (32 blocks for IPv4, 128 for IPv6).  The
 * inverse needs the address bits recovered so far to form the next block,
 * so it encrypts one block at a time.
 */
#include "cryptopan.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

struct cryptopan {
    EVP_CIPHER_CTX *ctx;  /* AES-128-ECB under K, no padding */
    uint8_t pad[16];      /* AES_K(key[16..32)) */
};

void cryptopan_wipe(void *p, size_t n)
{
    OPENSSL_cleanse(p, n);
}

static int aes_blocks(struct cryptopan *c, const uint8_t *in, uint8_t *out, size_t nblocks)
{
    int outl = 0;
    int inl = (int)(nblocks * 16);
    if (EVP_EncryptUpdate(c->ctx, out, &outl, in, inl) != 1 || outl != inl)
        return -1;
    return 0;
}

struct cryptopan *cryptopan_new(const uint8_t key[CRYPTOPAN_KEY_LEN], char *err, size_t errlen)
{
    struct cryptopan *c = OPENSSL_zalloc(sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->ctx = EVP_CIPHER_CTX_new();
    if (!c->ctx || EVP_EncryptInit_ex(c->ctx, EVP_aes_128_ecb(), NULL, key, NULL) != 1 ||
        EVP_CIPHER_CTX_set_padding(c->ctx, 0) != 1 || aes_blocks(c, key + 16, c->pad, 1) != 0) {
        snprintf(err, errlen, "cannot set up AES-128 (OpenSSL EVP)");
        cryptopan_free(c);
        return NULL;
    }
    return c;
}

void cryptopan_free(struct cryptopan *c)
{
    if (!c)
        return;
    EVP_CIPHER_CTX_free(c->ctx);
    OPENSSL_clear_free(c, sizeof *c);
}

/* The block for bit position i: the first i bits of a, then the pad. */
static void make_block(uint8_t blk[16], const uint8_t pad[16], const uint8_t *a, unsigned i)
{
    unsigned full = i / 8, rem = i % 8;
    memcpy(blk, a, full);
    memcpy(blk + full, pad + full, 16 - full);
    if (rem) {
        uint8_t m = (uint8_t)(0xFFu << (8 - rem));
        blk[full] = (uint8_t)((a[full] & m) | (pad[full] & (uint8_t)~m));
    }
}

int cryptopan_anon(struct cryptopan *c, const uint8_t *in, size_t nbytes, uint8_t *out)
{
    uint8_t blocks[128 * 16] = {0}, enc[128 * 16];
    uint8_t flip[16] = {0};
    unsigned nbits = (unsigned)nbytes * 8;
    int rc = 0;
    if (nbytes != 4 && nbytes != 16) {
        memset(out, 0, nbytes > 16 ? 16 : nbytes);
        return -1;
    }
    for (unsigned i = 0; i < nbits; i++)
        make_block(blocks + 16 * i, c->pad, in, i);
    if (aes_blocks(c, blocks, enc, nbits) != 0) {
        rc = -1;
    } else {
        for (unsigned i = 0; i < nbits; i++)
            if (enc[16 * i] & 0x80)
                flip[i / 8] |= (uint8_t)(0x80u >> (i % 8));
    }
    for (size_t j = 0; j < nbytes; j++)
        out[j] = rc == 0 ? (uint8_t)(in[j] ^ flip[j]) : 0;
    cryptopan_wipe(blocks, sizeof blocks);
    cryptopan_wipe(enc, sizeof enc);
    return rc;
}

int cryptopan_deanon(struct cryptopan *c, const uint8_t *in, size_t nbytes, uint8_t *out)
{
    uint8_t a[16] = {0}, blk[16], enc[16];
    unsigned nbits = (unsigned)nbytes * 8;
    int rc = 0;
    if (nbytes != 4 && nbytes != 16) {
        memset(out, 0, nbytes > 16 ? 16 : nbytes);
        return -1;
    }
    for (unsigned i = 0; i < nbits; i++) {
        make_block(blk, c->pad, a, i);
        if (aes_blocks(c, blk, enc, 1) != 0) {
            rc = -1;
            break;
        }
        unsigned bit = ((in[i / 8] >> (7 - i % 8)) & 1u) ^ (enc[0] >> 7);
        if (bit)
            a[i / 8] |= (uint8_t)(0x80u >> (i % 8));
    }
    for (size_t j = 0; j < nbytes; j++)
        out[j] = rc == 0 ? a[j] : 0;
    cryptopan_wipe(blk, sizeof blk);
    cryptopan_wipe(enc, sizeof enc);
    cryptopan_wipe(a, sizeof a);
    return rc;
}

/* ------------------------------------------------------------------ */
/* key files                                                            */

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int random_bytes(uint8_t *p, size_t n)
{
    while (n) {
        ssize_t r = getrandom(p, n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/*
 * Create a new key file: write a temporary file of mode 0600 beside it and
 * link it into place, so that no reader ever sees it half written and an
 * existing key is never replaced.  Returns 0 (created), 1 (someone else
 * created it first: read theirs) or -1.
 */
static int create_key(const char *path, uint8_t key[CRYPTOPAN_KEY_LEN], char *err, size_t errlen)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.XXXXXX", path) >= (int)sizeof tmp) {
        snprintf(err, errlen, "%s: key file name too long", path);
        return -1;
    }
    int fd = mkstemp(tmp);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot create key file: %s", path, strerror(errno));
        return -1;
    }
    int rc = 0;
    if (fchmod(fd, 0600) != 0 || random_bytes(key, CRYPTOPAN_KEY_LEN) != 0 ||
        write_all(fd, key, CRYPTOPAN_KEY_LEN) != 0 || fsync(fd) != 0) {
        snprintf(err, errlen, "%s: cannot write key file: %s", path, strerror(errno));
        rc = -1;
    }
    if (close(fd) != 0 && rc == 0) {
        snprintf(err, errlen, "%s: cannot write key file: %s", path, strerror(errno));
        rc = -1;
    }
    if (rc == 0 && link(tmp, path) != 0) {
        if (errno == EEXIST) {
            rc = 1;
        } else {
            /* no hard links here: create the file exclusively instead */
            int fd2 = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
            if (fd2 < 0 && errno == EEXIST) {
                rc = 1;
            } else if (fd2 < 0 || write_all(fd2, key, CRYPTOPAN_KEY_LEN) != 0 || fsync(fd2) != 0) {
                snprintf(err, errlen, "%s: cannot create key file: %s", path, strerror(errno));
                rc = -1;
            }
            if (fd2 >= 0 && close(fd2) != 0 && rc == 0) {
                snprintf(err, errlen, "%s: cannot write key file: %s", path, strerror(errno));
                rc = -1;
            }
        }
    }
    unlink(tmp);
    if (rc != 0)
        cryptopan_wipe(key, CRYPTOPAN_KEY_LEN);
    return rc;
}

int cryptopan_key_load(const char *path, bool create, uint8_t key[CRYPTOPAN_KEY_LEN],
                       bool *created, bool *loose, char *err, size_t errlen)
{
    if (created)
        *created = false;
    if (loose)
        *loose = false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create) {
        int rc = create_key(path, key, err, errlen);
        if (rc < 0)
            return -1;
        if (rc == 0) {
            if (created)
                *created = true;
            return 0;
        }
        fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open key file: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: key file is not a regular file", path);
        close(fd);
        return -1;
    }
    if (loose)
        *loose = (st.st_mode & 0044) != 0;
    uint8_t buf[256];
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, sizeof buf - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errlen, "%s: cannot read key file: %s", path, strerror(errno));
            close(fd);
            cryptopan_wipe(buf, sizeof buf);
            return -1;
        }
        if (r == 0 || (n += (size_t)r) == sizeof buf)
            break;
    }
    close(fd);
    int rc = 0;
    if (n == CRYPTOPAN_KEY_LEN) {
        memcpy(key, buf, CRYPTOPAN_KEY_LEN);
    } else {
        size_t end = n;
        while (end > 0 && (buf[end - 1] == '\n' || buf[end - 1] == '\r' || buf[end - 1] == ' ' ||
                           buf[end - 1] == '\t'))
            end--;
        if (end != 2 * CRYPTOPAN_KEY_LEN) {
            rc = -1;
        } else {
            for (size_t i = 0; i < CRYPTOPAN_KEY_LEN; i++) {
                int hi = hexval(buf[2 * i]), lo = hexval(buf[2 * i + 1]);
                if (hi < 0 || lo < 0) {
                    rc = -1;
                    break;
                }
                key[i] = (uint8_t)(hi << 4 | lo);
            }
        }
        if (rc != 0) {
            snprintf(err, errlen, "%s: a key file holds 32 bytes, or 64 hexadecimal digits "
                     "(this one has %s%zu bytes)", path, n == sizeof buf ? "at least " : "", n);
            cryptopan_wipe(key, CRYPTOPAN_KEY_LEN);
        }
    }
    cryptopan_wipe(buf, sizeof buf);
    return rc;
}

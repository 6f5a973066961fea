/*
 * tls_parse.h - transport-independent parsing of TLS handshake messages,
 * their JSON fields and the client/server fingerprints.
 *
 * Nothing here knows about TCP, records or flows: the input is one
 * complete handshake message (or its body) in a byte buffer, as
 * reassembled from TLS records over TCP (mod_tls.c), from DTLS handshake
 * fragments or from QUIC CRYPTO frames.  Every read goes through a
 * cursor; the structures below point into the caller's buffer and are
 * valid as long as it is.
 *
 * References: RFC 8446 (TLS 1.3) 4.1.2-4.1.3 and 4.2, RFC 5246 (TLS 1.2)
 * 7.4, RFC 6347 4.2.2 (DTLS), RFC 6101 E / RFC 5246 E.2 (SSLv2-format
 * ClientHello), RFC 8701 (GREASE), IANA "TLS ExtensionType Values".
 */
#ifndef JOY_TLS_PARSE_H
#define JOY_TLS_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct jsonw;

enum {
    TLS_CT_CCS = 20,
    TLS_CT_ALERT = 21,
    TLS_CT_HANDSHAKE = 22,
    TLS_CT_APPDATA = 23,
    TLS_CT_HEARTBEAT = 24,
};

enum {
    TLS_HS_HELLO_REQUEST = 0,
    TLS_HS_CLIENT_HELLO = 1,
    TLS_HS_SERVER_HELLO = 2,
    TLS_HS_NEW_SESSION_TICKET = 4,
    TLS_HS_ENCRYPTED_EXTENSIONS = 8,
    TLS_HS_CERTIFICATE = 11,
    TLS_HS_SERVER_KEY_EXCHANGE = 12,
    TLS_HS_CERTIFICATE_REQUEST = 13,
    TLS_HS_SERVER_HELLO_DONE = 14,
    TLS_HS_CERTIFICATE_VERIFY = 15,
    TLS_HS_CLIENT_KEY_EXCHANGE = 16,
    TLS_HS_FINISHED = 20,
};

/* Largest TLSCiphertext fragment (RFC 8446 5.2): 2^14 + 256; TLS 1.2
 * allowed 2^14 + 2048. */
#define TLS_MAX_RECORD (16384 + 2048)

/* RFC 8701: 0x0a0a, 0x1a1a, ... 0xfafa */
static inline bool tls_is_grease(uint16_t v)
{
    return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff);
}

/* A parsed ClientHello or ServerHello (or SSLv2-format ClientHello). */
struct tls_hello {
    uint8_t type;           /* TLS_HS_CLIENT_HELLO or TLS_HS_SERVER_HELLO */
    bool sslv2;             /* SSLv2-format ClientHello */
    bool dtls;              /* DTLS layout (cookie in the ClientHello) */
    bool complete;          /* every field, extensions included, parsed */
    bool has_ext;           /* an extensions block was present */
    bool hrr;               /* ServerHello that is a HelloRetryRequest */
    uint16_t version;       /* legacy_version (client_version) */
    const uint8_t *random;  /* 32 bytes; the challenge for SSLv2 */
    uint8_t random_len;
    const uint8_t *sid;
    uint8_t sid_len;
    const uint8_t *cookie;  /* DTLS ClientHello */
    uint8_t cookie_len;
    uint8_t suite_size;     /* 2, or 3 for SSLv2 cipher specs */
    const uint8_t *suites;  /* ClientHello: the offered vector; ServerHello: 2 bytes */
    uint32_t suites_len;
    const uint8_t *comp;
    uint32_t comp_len;
    const uint8_t *ext;     /* the extensions block, whole extensions only */
    uint32_t ext_len;
};

/*
 * Parse a ClientHello or ServerHello body (the bytes after the handshake
 * header) of `len` bytes.  A body cut short still yields the fields before
 * the cut (complete = false).  Returns 0 if at least the version and
 * random were there, -1 otherwise (or for another `type`).
 *
 * A ServerHello whose version field is a TLS 1.3 draft before 22
 * (0x7f00 + N, N < 22) is read in that draft's layout: version, random,
 * cipher_suite, extensions - no session id and no compression method
 * (draft-ietf-tls-tls13-21 4.1.3; draft 22 put them back).  Such a hello
 * has sid_len = 0 and comp = NULL.
 */
int tls_parse_hello(struct tls_hello *h, uint8_t type, const uint8_t *body, size_t len, bool dtls);

/* Is `version` (a ServerHello's version field) a TLS 1.3 draft before 22,
 * whose ServerHello has no session id and no compression method? */
bool tls_draft_layout(uint16_t version);

/*
 * Parse a complete handshake message (header and body) from a buffer:
 * TLS header (type, 24-bit length), or with dtls the 12-byte DTLS header
 * (the message must be unfragmented).  Returns 0 for a ClientHello or
 * ServerHello, -1 otherwise.
 */
int tls_parse_handshake(struct tls_hello *h, const uint8_t *msg, size_t len, bool dtls);

/* Parse an SSLv2-format ClientHello record (2-byte header with the high
 * bit set, then msg_type 1).  Returns 0 or -1. */
int tls_parse_sslv2_hello(struct tls_hello *h, const uint8_t *rec, size_t len);

/* Does `p` start like an SSLv2-format ClientHello? (n >= 5 needed) */
bool tls_sslv2_hello_start(const uint8_t *p, size_t n);

/* Iterate the extensions: *it starts at 0; returns false at the end. */
bool tls_ext_next(const struct tls_hello *h, uint32_t *it, uint16_t *type, const uint8_t **data,
                  uint16_t *len);

/* Find an extension's data by type (first occurrence). */
bool tls_ext_find(const struct tls_hello *h, uint16_t type, const uint8_t **data, uint16_t *len);

/* The version the hello stands for: the ServerHello's selected
 * supported_versions value, or the ClientHello's highest non-GREASE
 * offered one, or else legacy_version. */
uint16_t tls_hello_version(const struct tls_hello *h);

/* Joy's version codes: 0 unknown, 1 SSLv2, 2 SSLv3, 3 TLS 1.0, 4 TLS 1.1,
 * 5 TLS 1.2, 6 TLS 1.3 (and its drafts), 7 DTLS 1.0, 8 DTLS 1.2,
 * 9 DTLS 1.3. */
int tls_version_code(uint16_t v);

/* IANA name of an extension type, or NULL. */
const char *tls_ext_name(uint16_t type);

/*
 * The hello fields of the "tls" object, in Joy's order where Joy had them.
 * Either hello may be NULL.  Writes: c_version, s_version, (the caller's
 * c_key_* go between, see tls_json_hello_tail), c_random, s_random, c_sid,
 * s_sid, sni, scs, cs, c_extensions, s_extensions.
 */
void tls_json_versions(struct jsonw *w, const struct tls_hello *ch, const struct tls_hello *sh);
void tls_json_hellos(struct jsonw *w, const struct tls_hello *ch, const struct tls_hello *sh);
/* Fields beyond Joy: alpn, s_alpn, supported_versions, supported_groups,
 * signature_algorithms, key_share, s_key_share, session_ticket,
 * psk_identities, psk_ke_modes, early_data, sslv2. */
void tls_json_extras(struct jsonw *w, const struct tls_hello *ch, const struct tls_hello *sh);

/*
 * Per-meter state of the certificate decoder and the fingerprints (made in
 * the module's worker_init(); not thread-safe).  OpenSSL 3 looks an
 * algorithm up by name on each use of EVP_sha256() and the like, and
 * d2i_X509() builds a public-key decoder for every certificate; a tls_ctx
 * holds the digests fetched once, one reusable public-key decoder, and a
 * cache of decoded certificates (their JSON, keyed by the whole DER: 1024
 * entries of at most 4 KiB DER + 8 KiB JSON, 12 MiB at most, a few MiB in
 * practice).
 */
struct tls_ctx;
struct tls_ctx *tls_ctx_new(void);
void tls_ctx_free(struct tls_ctx *c);

/*
 * A certificate cache shared by the tls_ctx of every meter of a context
 * (mod_tls makes one in setup()): with threads=N a server's certificates
 * reach every meter, and each would decode them once more (on the
 * benchmark mix, threads=2 decoded 453 certificates where threads=1
 * decoded 268).  A meter looks in its own cache first, without a lock;
 * on a miss it looks here under the table's mutex, and a certificate it
 * decodes itself (outside the lock) is put in both.  The same bounds as a
 * tls_ctx's cache.  tls_ctx_share() attaches a table to a tls_ctx before
 * its first use; the table must outlive it.
 */
struct tls_x509_shared;
struct tls_x509_shared *tls_x509_shared_new(void);
void tls_x509_shared_free(struct tls_x509_shared *t);
void tls_ctx_share(struct tls_ctx *c, struct tls_x509_shared *t);
/* How many certificates meters took from the table and put in it (tests). */
void tls_x509_shared_counts(struct tls_x509_shared *t, uint64_t *hits, uint64_t *puts);

/*
 * The text OpenSSL's X509V3_EXT_print() gives for a CT precertificate SCT
 * list extension (RFC 6962 3.3; ext/len: the extension's value, a DER
 * OCTET STRING around the TLS-encoded list), written without OpenSSL
 * (which formats each hex byte with a BIO_printf call: a few hundred
 * thousand instructions per certificate).  Only lists that are exactly
 * well formed are handled: every SCT version 1 with a SHA-256 RSA or ECDSA
 * signature of at least one byte, no trailing bytes at any level, a
 * timestamp before the year 10000.  For those it writes the text
 * (NUL-terminated) to out and returns its length; for anything else, or
 * when cap is too small, it returns 0 and the caller asks OpenSSL.
 */
size_t tls_sct_list_text(const uint8_t *ext, size_t len, char *out, size_t cap);

/* A certificate_list (TLS <= 1.2 Certificate body, RFC 5246 7.4.2) as a
 * JSON array of certificates (OpenSSL d2i), at most max_certs of them. */
void tls_json_cert_list(struct jsonw *w, const uint8_t *body, size_t len, unsigned max_certs,
                        struct tls_ctx *ctx);

/*
 * Fingerprints as members of the current object.  Client: "tls" (Joy /
 * NPF "tls" string), "ja3", "ja3_md5", "ja4" with transport 't' (TCP),
 * 'q' (QUIC) or 'd' (DTLS).  Server: "ja3s", "ja3s_md5".
 */
void tls_json_client_fingerprints(struct jsonw *w, const struct tls_hello *ch, char transport,
                                  struct tls_ctx *ctx);
void tls_json_server_fingerprints(struct jsonw *w, const struct tls_hello *sh,
                                  struct tls_ctx *ctx);

/* "partial": true (once) when the ClientHello `ch` or the ServerHello `sh`
 * whose fingerprints were just written did not parse whole - a length
 * that lies or a cut inside the cipher suites or the extensions block -
 * so that the fingerprints above were made from the fields before the
 * fault.  Either may be NULL. */
void tls_json_partial(struct jsonw *w, const struct tls_hello *ch, const struct tls_hello *sh);

/* The fingerprint strings themselves (for tests and fuzzing): write at
 * most cap-1 characters and a NUL into out; return the full length
 * (a return >= cap means the output was cut). */
size_t tls_fp_npf(const struct tls_hello *ch, char *out, size_t cap);
size_t tls_fp_ja3(const struct tls_hello *ch, char *out, size_t cap);
size_t tls_fp_ja3s(const struct tls_hello *sh, char *out, size_t cap);
/* out must hold 37 bytes ("t13d1516h2_8daaf6152771_e5627efa2ab1"). */
bool tls_fp_ja4(const struct tls_hello *ch, char transport, char out[37], struct tls_ctx *ctx);

#endif

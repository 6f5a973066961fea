/*
 * \summary: TLS handshake parsing, JSON fields and fingerprints (see tls_parse.h)
 *
 * ClientHello (RFC 8446 4.1.2; RFC 6347 4.2.1 for the DTLS cookie):
 *   legacy_version(2) random(32) session_id<0..32> [cookie<0..255>]
 *   cipher_suites<2..2^16-2> compression_methods<1..255>
 *   extensions<0..2^16-1>  (each: type(2) length(2) data)
 * ServerHello (RFC 8446 4.1.3):
 *   legacy_version(2) random(32) session_id<0..32> cipher_suite(2)
 *   compression_method(1) extensions<...>
 * SSLv2-format ClientHello (RFC 5246 E.2): 2-byte record header with the
 *   high bit set, msg_type(1)=1, version(2), cipher_spec_length(2),
 *   session_id_length(2), challenge_length(2), cipher_specs (3 bytes
 *   each), session_id, challenge.
 */
#include "tls_parse.h"

#include "cursor.h"
#include "jsonw.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/provider.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* RFC 8446 4.1.3: the random of a HelloRetryRequest, SHA-256("HelloRetryRequest") */
static const uint8_t hrr_random[32] = {
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
};

static const char hexd[] = "0123456789abcdef";

/* Walk an extensions block; return the length of its whole extensions. */
static uint32_t whole_extensions(const uint8_t *p, size_t len)
{
    struct cursor c;
    cur_init(&c, p, len);
    uint32_t good = 0;
    while (cur_left(&c) >= 4) {
        cur_skip(&c, 2);
        uint16_t n = cur_u16(&c);
        if (!cur_has(&c, n))
            break;
        cur_skip(&c, n);
        good = (uint32_t)(len - cur_left(&c));
    }
    return good;
}

/* The optional extensions block that ends a hello (returns 0). */
static int parse_extensions(struct tls_hello *h, struct cursor *c)
{
    if (cur_left(c) == 0) {
        h->complete = true;
        return 0;
    }
    uint16_t el = cur_u16(c);
    if (!cur_ok(c))
        return 0;
    h->has_ext = true;
    size_t have = cur_left(c) < el ? cur_left(c) : el;
    h->ext = c->p;
    h->ext_len = whole_extensions(c->p, have);
    h->complete = have == el && h->ext_len == el;
    return 0;
}

bool tls_draft_layout(uint16_t version)
{
    return (version >> 8) == 0x7f && (version & 0xff) < 22;
}

int tls_parse_hello(struct tls_hello *h, uint8_t type, const uint8_t *body, size_t len, bool dtls)
{
    memset(h, 0, sizeof *h);
    if (type != TLS_HS_CLIENT_HELLO && type != TLS_HS_SERVER_HELLO)
        return -1;
    h->type = type;
    h->dtls = dtls;
    h->suite_size = 2;
    struct cursor c;
    cur_init(&c, body, len);
    h->version = cur_u16(&c);
    h->random = cur_bytes(&c, 32);
    if (!h->random)
        return -1;
    h->random_len = 32;
    if (type == TLS_HS_SERVER_HELLO && memcmp(h->random, hrr_random, 32) == 0)
        h->hrr = true;

    if (type == TLS_HS_SERVER_HELLO && tls_draft_layout(h->version)) {
        /* TLS 1.3 drafts before 22: version random cipher_suite extensions */
        h->suites = cur_bytes(&c, 2);
        if (!h->suites)
            return 0;
        h->suites_len = 2;
        return parse_extensions(h, &c);
    }
    uint8_t n = cur_u8(&c);
    if (!cur_ok(&c) || n > 32 || !cur_has(&c, n))
        return 0;
    h->sid = cur_bytes(&c, n);
    h->sid_len = n;
    if (type == TLS_HS_CLIENT_HELLO) {
        if (dtls) {
            n = cur_u8(&c);
            if (!cur_ok(&c) || !cur_has(&c, n))
                return 0;
            h->cookie = cur_bytes(&c, n);
            h->cookie_len = n;
        }
        uint16_t sl = cur_u16(&c);
        if (!cur_ok(&c))
            return 0;
        size_t have = cur_left(&c) < sl ? cur_left(&c) : sl;
        h->suites = c.p;
        h->suites_len = (uint32_t)(have & ~(size_t)1);
        if (have < sl || (sl & 1))
            return 0;
        cur_skip(&c, sl);
        n = cur_u8(&c);
        if (!cur_ok(&c) || !cur_has(&c, n))
            return 0;
        h->comp = cur_bytes(&c, n);
        h->comp_len = n;
    } else {
        h->suites = cur_bytes(&c, 2);
        if (!h->suites)
            return 0;
        h->suites_len = 2;
        h->comp = cur_bytes(&c, 1);
        if (!h->comp)
            return 0;
        h->comp_len = 1;
    }
    return parse_extensions(h, &c);
}

int tls_parse_handshake(struct tls_hello *h, const uint8_t *msg, size_t len, bool dtls)
{
    struct cursor c;
    cur_init(&c, msg, len);
    uint8_t type = cur_u8(&c);
    uint32_t mlen = cur_u24(&c);
    if (dtls) {
        cur_skip(&c, 2); /* message_seq */
        uint32_t off = cur_u24(&c);
        uint32_t flen = cur_u24(&c);
        if (off != 0 || flen != mlen)
            return -1;
    }
    if (!cur_ok(&c) || !cur_has(&c, mlen))
        return -1;
    return tls_parse_hello(h, type, c.p, mlen, dtls);
}

bool tls_sslv2_hello_start(const uint8_t *p, size_t n)
{
    if (n < 5 || !(p[0] & 0x80))
        return false;
    uint16_t rlen = (uint16_t)(((p[0] & 0x7f) << 8) | p[1]);
    uint16_t ver = (uint16_t)((p[3] << 8) | p[4]);
    return rlen >= 9 && p[2] == TLS_HS_CLIENT_HELLO &&
           (ver == 0x0002 || (ver >= 0x0300 && ver <= 0x0303));
}

int tls_parse_sslv2_hello(struct tls_hello *h, const uint8_t *rec, size_t len)
{
    memset(h, 0, sizeof *h);
    if (!tls_sslv2_hello_start(rec, len))
        return -1;
    size_t rlen = (size_t)((rec[0] & 0x7f) << 8 | rec[1]);
    struct cursor c;
    cur_init(&c, rec + 2, rlen < len - 2 ? rlen : len - 2);
    h->type = TLS_HS_CLIENT_HELLO;
    h->sslv2 = true;
    h->suite_size = 3;
    cur_skip(&c, 1);
    h->version = cur_u16(&c);
    uint16_t cs_len = cur_u16(&c);
    uint16_t sid_len = cur_u16(&c);
    uint16_t ch_len = cur_u16(&c);
    if (!cur_ok(&c))
        return -1;
    size_t have = cur_left(&c) < cs_len ? cur_left(&c) : cs_len;
    h->suites = c.p;
    h->suites_len = (uint32_t)(have - have % 3);
    if (have < cs_len || cs_len % 3)
        return 0;
    cur_skip(&c, cs_len);
    if (sid_len > 32 || ch_len < 16 || ch_len > 32 || !cur_has(&c, (size_t)sid_len + ch_len))
        return 0;
    h->sid = cur_bytes(&c, sid_len);
    h->sid_len = (uint8_t)sid_len;
    h->random = cur_bytes(&c, ch_len);
    h->random_len = (uint8_t)ch_len;
    h->complete = true;
    return 0;
}

bool tls_ext_next(const struct tls_hello *h, uint32_t *it, uint16_t *type, const uint8_t **data,
                  uint16_t *len)
{
    if (!h->ext || *it + 4 > h->ext_len)
        return false;
    const uint8_t *p = h->ext + *it;
    *type = load_be16(p);
    *len = load_be16(p + 2);
    *data = p + 4;
    *it += 4u + *len; /* whole_extensions() checked every length */
    return true;
}

bool tls_ext_find(const struct tls_hello *h, uint16_t type, const uint8_t **data, uint16_t *len)
{
    uint32_t it = 0;
    uint16_t t;
    while (tls_ext_next(h, &it, &t, data, len))
        if (t == type)
            return true;
    return false;
}

uint16_t tls_hello_version(const struct tls_hello *h)
{
    const uint8_t *d;
    uint16_t n;
    if (!tls_ext_find(h, 43, &d, &n))
        return h->version;
    struct cursor c;
    cur_init(&c, d, n);
    if (h->type == TLS_HS_SERVER_HELLO) {
        uint16_t v = cur_u16(&c);
        return cur_ok(&c) ? v : h->version;
    }
    struct cursor l = cur_sub(&c, cur_u8(&c));
    uint16_t best = 0;
    bool any = false;
    while (cur_left(&l) >= 2) {
        uint16_t v = cur_u16(&l);
        if (tls_is_grease(v))
            continue;
        /* DTLS versions count down: 0xfefc (1.3) is newer than 0xfeff */
        bool newer = !any || ((v >= 0xfe00 && best >= 0xfe00) ? v < best : v > best);
        if (newer) {
            best = v;
            any = true;
        }
    }
    return any ? best : h->version;
}

int tls_version_code(uint16_t v)
{
    switch (v) {
    case 0x0002: return 1;
    case 0x0300: return 2;
    case 0x0301: return 3;
    case 0x0302: return 4;
    case 0x0303: return 5;
    case 0x0304: return 6;
    case 0xfeff: return 7;
    case 0xfefd: return 8;
    case 0xfefc: return 9;
    }
    if ((v >> 8) == 0x7f)
        return 6; /* TLS 1.3 drafts */
    return 0;
}

/* IANA TLS ExtensionType Values (names as registered). */
static const char *const ext_names[] = {
    "server_name", "max_fragment_length", "client_certificate_url", "trusted_ca_keys",
    "truncated_hmac", "status_request", "user_mapping", "client_authz", "server_authz",
    "cert_type", "supported_groups", "ec_point_formats", "srp", "signature_algorithms",
    "use_srtp", "heartbeat", "application_layer_protocol_negotiation", "status_request_v2",
    "signed_certificate_timestamp", "client_certificate_type", "server_certificate_type",
    "padding", "encrypt_then_mac", "extended_master_secret", "token_binding", "cached_info",
    "tls_lts", "compress_certificate", "record_size_limit", "pwd_protect", "pwd_clear",
    "password_salt", "ticket_pinning", "tls_cert_with_extern_psk", "delegated_credential",
    "session_ticket", "TLMSP", "TLMSP_proxying", "TLMSP_delegate", "supported_ekt_ciphers",
    NULL, "pre_shared_key", "early_data", "supported_versions", "cookie",
    "psk_key_exchange_modes", NULL, "certificate_authorities", "oid_filters",
    "post_handshake_auth", "signature_algorithms_cert", "key_share", "transparency_info",
    "connection_id_deprecated", "connection_id", "external_id_hash", "external_session_id",
    "quic_transport_parameters", "ticket_request", "dnssec_chain",
    "sequence_number_encryption_algorithms", "rrc",
};

const char *tls_ext_name(uint16_t type)
{
    if (type < sizeof ext_names / sizeof ext_names[0])
        return ext_names[type];
    switch (type) {
    case 0xfd00: return "ech_outer_extensions";
    case 0xfe0d: return "encrypted_client_hello";
    case 0xff01: return "renegotiation_info";
    }
    return NULL;
}

/* ---- small text helpers --------------------------------------------- */

static void hex16(char out[5], uint16_t v)
{
    out[0] = hexd[v >> 12];
    out[1] = hexd[(v >> 8) & 15];
    out[2] = hexd[(v >> 4) & 15];
    out[3] = hexd[v & 15];
    out[4] = 0;
}

/* A text buffer that counts what it could not hold (like snprintf). */
struct sb {
    char *p;
    size_t cap, n;
};

static void sb_putc(struct sb *s, char ch)
{
    if (s->n + 1 < s->cap)
        s->p[s->n] = ch;
    s->n++;
}

static void sb_puts(struct sb *s, const char *t)
{
    while (*t)
        sb_putc(s, *t++);
}

static void sb_hex(struct sb *s, const uint8_t *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        sb_putc(s, hexd[d[i] >> 4]);
        sb_putc(s, hexd[d[i] & 15]);
    }
}

static void sb_hex16(struct sb *s, uint16_t v)
{
    char t[5];
    hex16(t, v);
    sb_puts(s, t);
}

static void sb_dec(struct sb *s, unsigned v)
{
    char t[12];
    int i = 11;
    t[i] = 0;
    do {
        t[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v && i > 0);
    sb_puts(s, t + i);
}

static size_t sb_end(struct sb *s)
{
    if (s->cap)
        s->p[s->n < s->cap ? s->n : s->cap - 1] = 0;
    return s->n;
}

/* Run a string builder twice if needed: into a stack buffer, else the heap. */
typedef size_t (*fp_fn)(const struct tls_hello *h, char *out, size_t cap);

static void kv_built(struct jsonw *w, const char *key, fp_fn fn, const struct tls_hello *h)
{
    char small[1024];
    size_t n = fn(h, small, sizeof small);
    if (n < sizeof small) {
        jw_kv_str(w, key, small, n);
        return;
    }
    char *big = malloc(n + 1);
    if (!big)
        return;
    fn(h, big, n + 1);
    jw_kv_str(w, key, big, n);
    free(big);
}

/* ---- JSON: the hello fields --------------------------------------------- */

void tls_json_versions(struct jsonw *w, const struct tls_hello *ch, const struct tls_hello *sh)
{
    if (ch)
        jw_kv_int(w, "c_version", tls_version_code(tls_hello_version(ch)));
    if (sh)
        jw_kv_int(w, "s_version", tls_version_code(tls_hello_version(sh)));
}

static void json_suite(struct jsonw *w, const uint8_t *p, uint8_t size)
{
    char t[7];
    if (size == 3 && p[0] != 0) {
        for (int i = 0; i < 3; i++) {
            t[2 * i] = hexd[p[i] >> 4];
            t[2 * i + 1] = hexd[p[i] & 15];
        }
        jw_str(w, t, 6);
        return;
    }
    if (size == 3)
        p++;
    hex16(t, load_be16(p));
    jw_str(w, t, 4);
}

static void json_extensions(struct jsonw *w, const char *key, const struct tls_hello *h)
{
    jw_key(w, key);
    jw_arr_open(w);
    uint32_t it = 0;
    uint16_t type, len;
    const uint8_t *d;
    while (tls_ext_next(h, &it, &type, &d, &len)) {
        jw_obj_open(w);
        const char *name = tls_ext_name(type);
        if (name) {
            jw_kv_hex(w, name, d, len);
        } else {
            jw_kv_uint(w, "kind", type);
            jw_kv_hex(w, "data", d, len);
        }
        jw_close(w);
    }
    jw_close(w);
}

/* The first host_name of a server_name extension (RFC 6066 3). */
static bool sni_name(const struct tls_hello *h, const uint8_t **name, uint16_t *len)
{
    const uint8_t *d;
    uint16_t n;
    if (!tls_ext_find(h, 0, &d, &n))
        return false;
    struct cursor c;
    cur_init(&c, d, n);
    struct cursor l = cur_sub(&c, cur_u16(&c));
    while (cur_left(&l) >= 3) {
        uint8_t t = cur_u8(&l);
        uint16_t nl = cur_u16(&l);
        const uint8_t *nm = cur_bytes(&l, nl);
        if (!nm)
            break;
        if (t == 0) {
            *name = nm;
            *len = nl;
            return true;
        }
    }
    return false;
}

void tls_json_hellos(struct jsonw *w, const struct tls_hello *ch, const struct tls_hello *sh)
{
    if (ch && ch->random)
        jw_kv_hex(w, "c_random", ch->random, ch->random_len);
    if (sh && sh->random)
        jw_kv_hex(w, "s_random", sh->random, sh->random_len);
    if (ch && ch->sid_len)
        jw_kv_hex(w, "c_sid", ch->sid, ch->sid_len);
    if (sh && sh->sid_len)
        jw_kv_hex(w, "s_sid", sh->sid, sh->sid_len);
    const uint8_t *name;
    uint16_t nlen;
    if (ch && sni_name(ch, &name, &nlen)) {
        jw_key(w, "sni");
        jw_arr_open(w);
        jw_str(w, name, nlen);
        jw_close(w);
    }
    if (sh && sh->suites_len == 2) {
        jw_key(w, "scs");
        json_suite(w, sh->suites, 2);
    }
    if (ch && ch->suites) {
        jw_key(w, "cs");
        jw_arr_open(w);
        for (uint32_t i = 0; i + ch->suite_size <= ch->suites_len; i += ch->suite_size)
            json_suite(w, ch->suites + i, ch->suite_size);
        jw_close(w);
    }
    if (ch && ch->has_ext)
        json_extensions(w, "c_extensions", ch);
    if (sh && sh->has_ext)
        json_extensions(w, "s_extensions", sh);
}

/* A list of 16-bit values after a length prefix of lsize (1 or 2) bytes. */
static void json_u16_list(struct jsonw *w, const char *key, const struct tls_hello *h, uint16_t type,
                          int lsize)
{
    const uint8_t *d;
    uint16_t n;
    if (!h || !tls_ext_find(h, type, &d, &n))
        return;
    struct cursor c;
    cur_init(&c, d, n);
    struct cursor l = cur_sub(&c, lsize == 1 ? cur_u8(&c) : cur_u16(&c));
    jw_key(w, key);
    jw_arr_open(w);
    char t[5];
    while (cur_left(&l) >= 2) {
        hex16(t, cur_u16(&l));
        jw_str(w, t, 4);
    }
    jw_close(w);
}

void tls_json_extras(struct jsonw *w, const struct tls_hello *ch, const struct tls_hello *sh)
{
    const uint8_t *d;
    uint16_t n;
    char t[5];
    if (ch && tls_ext_find(ch, 16, &d, &n)) {
        struct cursor c;
        cur_init(&c, d, n);
        struct cursor l = cur_sub(&c, cur_u16(&c));
        jw_key(w, "alpn");
        jw_arr_open(w);
        while (cur_left(&l) >= 1) {
            uint8_t pl = cur_u8(&l);
            const uint8_t *p = cur_bytes(&l, pl);
            if (!p)
                break;
            jw_str(w, p, pl);
        }
        jw_close(w);
    }
    if (sh && tls_ext_find(sh, 16, &d, &n)) {
        struct cursor c;
        cur_init(&c, d, n);
        struct cursor l = cur_sub(&c, cur_u16(&c));
        uint8_t pl = cur_u8(&l);
        const uint8_t *p = cur_bytes(&l, pl);
        if (p)
            jw_kv_str(w, "s_alpn", p, pl);
    }
    json_u16_list(w, "supported_versions", ch, 43, 1);
    json_u16_list(w, "supported_groups", ch, 10, 2);
    json_u16_list(w, "signature_algorithms", ch, 13, 2);
    /* key_share is 51; TLS 1.3 drafts up to -22 used 40 */
    if (ch && (tls_ext_find(ch, 51, &d, &n) || tls_ext_find(ch, 40, &d, &n))) {
        struct cursor c;
        cur_init(&c, d, n);
        struct cursor l = cur_sub(&c, cur_u16(&c));
        jw_key(w, "key_share");
        jw_arr_open(w);
        while (cur_left(&l) >= 4) {
            uint16_t g = cur_u16(&l);
            uint16_t kl = cur_u16(&l);
            if (!cur_has(&l, kl))
                break;
            cur_skip(&l, kl);
            hex16(t, g);
            jw_str(w, t, 4);
        }
        jw_close(w);
    }
    if (sh && (tls_ext_find(sh, 51, &d, &n) || tls_ext_find(sh, 40, &d, &n)) && n >= 2) {
        hex16(t, load_be16(d));
        jw_kv_str(w, "s_key_share", t, 4);
    }
    if (ch && tls_ext_find(ch, 35, &d, &n))
        jw_kv_uint(w, "session_ticket", n);
    if (ch && tls_ext_find(ch, 41, &d, &n)) {
        struct cursor c;
        cur_init(&c, d, n);
        struct cursor l = cur_sub(&c, cur_u16(&c));
        unsigned ids = 0;
        while (cur_left(&l) >= 2) {
            uint16_t il = cur_u16(&l);
            if (!cur_has(&l, (size_t)il + 4))
                break;
            cur_skip(&l, (size_t)il + 4);
            ids++;
        }
        jw_kv_uint(w, "psk_identities", ids);
    }
    if (ch && tls_ext_find(ch, 45, &d, &n)) {
        struct cursor c;
        cur_init(&c, d, n);
        struct cursor l = cur_sub(&c, cur_u8(&c));
        jw_key(w, "psk_ke_modes");
        jw_arr_open(w);
        while (cur_left(&l) >= 1)
            jw_uint(w, cur_u8(&l));
        jw_close(w);
    }
    if (ch && tls_ext_find(ch, 42, &d, &n))
        jw_kv_bool(w, "early_data", true);
    if (ch && ch->sslv2)
        jw_kv_bool(w, "sslv2", true);
}

/* ---- per-run state ------------------------------------------------------ */

/*
 * The certificates of a capture repeat (the same servers, the same
 * chains), so the JSON of a decoded certificate is kept per run: a table
 * keyed by the whole DER (hash, then compare), so a hit is exact.  Each
 * certificate may sit in either of two slots chosen by its hash, and a
 * new one replaces the less recently used of them: with one slot, two
 * certificates of the same slot that take turns (a chain's leaf and
 * intermediate, two servers) missed every time (a third of the decodes
 * on the benchmark mix).  Bounded: X509_CACHE_SLOTS entries of at most
 * X509_CACHE_DER + X509_CACHE_JSON bytes.
 */
#define X509_CACHE_SLOTS 1024
#define X509_CACHE_DER 4096
#define X509_CACHE_JSON 8192

struct x509_slot {
    uint64_t hash;
    uint64_t used; /* the table's clock at the last hit or fill */
    uint8_t *der;
    char *json;
    uint32_t der_len, json_len;
};

/* A table of slots: a tls_ctx's own, or the one its meters share (then
 * every access holds mu). */
struct x509_table {
    struct x509_slot slot[X509_CACHE_SLOTS];
    uint64_t clock;           /* lookups so far, for the slots' `used` */
};

struct tls_x509_shared {
    pthread_mutex_t mu;
    struct x509_table t;
    uint64_t hits, puts;      /* certificates taken from it, put in it */
};

/*
 * Fingerprint digests (ja3_md5, ja3s_md5 and JA4's two truncated SHA-256)
 * are taken of texts that repeat from flow to flow (the same clients and
 * servers), and each costs an OpenSSL digest (init, update, final: about
 * a microsecond).  The hex of the last ones is kept per meter: a table of
 * DIGEST_SLOTS entries, each a (digest, whole input, hex) triple, one
 * slot per input hash, replaced on a miss; a hit is exact (the whole
 * input is compared).  Inputs longer than DIGEST_MAX are not kept.
 * Bounded: DIGEST_SLOTS x (DIGEST_MAX + 140) bytes.
 */
#define DIGEST_SLOTS 256
#define DIGEST_MAX 1024

struct digest_slot {
    const EVP_MD *md;      /* NULL: empty */
    uint64_t hash;
    uint8_t *in;
    uint32_t len;
    uint32_t hexlen;
    char hex[2 * EVP_MAX_MD_SIZE];
};

#define SPKI_TYPES 4 /* key types with a decoder of their own */

/* A public-key decoder for one key algorithm (nid), NULL if none could be made. */
struct spki_decoder {
    int nid;
    OSSL_DECODER_CTX *dc;
};

struct tls_ctx {
    EVP_MD *md5, *sha256;     /* NULL if the library lacks one (no such fingerprint) */
    EVP_MD_CTX *md;           /* reused by every digest */
    /* Certificates are decoded in a library context that offers no
     * algorithms (only the "null" provider), where d2i finds no key
     * decoders to build; the public key is then decoded (into `key`) by
     * a SubjectPublicKeyInfo decoder for its algorithm, made on first use
     * (spki_decoder()), or by the one for any algorithm. */
    OSSL_LIB_CTX *bare;
    OSSL_PROVIDER *null_prov;
    struct spki_decoder spki[SPKI_TYPES];
    OSSL_DECODER_CTX *spki_any;
    EVP_PKEY *key;
    BIO *bio;                 /* text of printed certificate fields, reset after each */
    struct jsonw scratch;     /* a certificate's JSON before it is cached */
    struct x509_table x509;   /* this meter's own */
    struct tls_x509_shared *shared; /* the context's, or NULL */
    struct digest_slot dig[DIGEST_SLOTS];
};

static void x509_table_clear(struct x509_table *t)
{
    for (unsigned i = 0; i < X509_CACHE_SLOTS; i++) {
        free(t->slot[i].der);
        free(t->slot[i].json);
    }
}

struct tls_x509_shared *tls_x509_shared_new(void)
{
    struct tls_x509_shared *t = calloc(1, sizeof *t);
    if (t && pthread_mutex_init(&t->mu, NULL) != 0) {
        free(t);
        return NULL;
    }
    return t;
}

void tls_x509_shared_free(struct tls_x509_shared *t)
{
    if (!t)
        return;
    x509_table_clear(&t->t);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

void tls_x509_shared_counts(struct tls_x509_shared *t, uint64_t *hits, uint64_t *puts)
{
    pthread_mutex_lock(&t->mu);
    *hits = t->hits;
    *puts = t->puts;
    pthread_mutex_unlock(&t->mu);
}

void tls_ctx_share(struct tls_ctx *c, struct tls_x509_shared *t)
{
    if (c)
        c->shared = t;
}

struct tls_ctx *tls_ctx_new(void)
{
    struct tls_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    jw_init(&c->scratch);
    c->md5 = EVP_MD_fetch(NULL, "MD5", NULL);
    c->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    c->md = EVP_MD_CTX_new();
    c->bare = OSSL_LIB_CTX_new();
    c->null_prov = c->bare ? OSSL_PROVIDER_load(c->bare, "null") : NULL;
    c->bio = BIO_new(BIO_s_mem());
    ERR_clear_error();
    if (!c->md || !c->null_prov || !c->bio) {
        tls_ctx_free(c);
        return NULL;
    }
    return c;
}

void tls_ctx_free(struct tls_ctx *c)
{
    if (!c)
        return;
    x509_table_clear(&c->x509);
    for (unsigned i = 0; i < DIGEST_SLOTS; i++)
        free(c->dig[i].in);
    jw_free(&c->scratch);
    BIO_free(c->bio);
    EVP_PKEY_free(c->key);
    for (unsigned i = 0; i < SPKI_TYPES; i++)
        OSSL_DECODER_CTX_free(c->spki[i].dc);
    OSSL_DECODER_CTX_free(c->spki_any);
    OSSL_PROVIDER_unload(c->null_prov);
    OSSL_LIB_CTX_free(c->bare);
    EVP_MD_CTX_free(c->md);
    EVP_MD_free(c->sha256);
    EVP_MD_free(c->md5);
    free(c);
}

/* ---- certificates ------------------------------------------------------- */

#define X509_MAX_RDN 32
#define X509_MAX_EXT 32
#define X509_MAX_SAN 256
#define X509_MAX_TEXT 4096
#define X509_MAX_HEX 1024

/* The long name of an object (its nid if known), else its dotted OID. */
static const char *obj_name(int nid, const ASN1_OBJECT *o, char *buf, int len)
{
    if (nid != NID_undef) {
        const char *ln = OBJ_nid2ln(nid);
        if (ln)
            return ln;
    }
    if (OBJ_obj2txt(buf, len, o, 1) <= 0)
        return "unknown";
    return buf;
}

/* Text of an extension or field, trimmed of white space at both ends
 * and cut at X509_MAX_TEXT bytes, as a string. */
static void kv_text(struct jsonw *w, const char *key, const char *p, size_t len)
{
    while (len && (p[len - 1] == '\n' || p[len - 1] == ' ' || p[len - 1] == '\r'))
        len--;
    while (len && (*p == '\n' || *p == ' ')) {
        p++;
        len--;
    }
    if (len > X509_MAX_TEXT)
        len = X509_MAX_TEXT;
    if (key)
        jw_key(w, key);
    jw_str(w, p, len);
}

/* The text a BIO collected, as kv_text(), then reset. */
static void kv_bio(struct jsonw *w, const char *key, BIO *bio)
{
    char *p = NULL;
    long n = BIO_get_mem_data(bio, &p);
    kv_text(w, key, p ? p : "", n > 0 && p ? (size_t)n : 0);
    (void)BIO_reset(bio);
}

static void json_name(struct jsonw *w, const char *key, const X509_NAME *nm)
{
    jw_key(w, key);
    jw_arr_open(w);
    int n = nm ? X509_NAME_entry_count(nm) : 0;
    for (int i = 0; i < n && i < X509_MAX_RDN; i++) {
        const X509_NAME_ENTRY *e = X509_NAME_get_entry(nm, i);
        const ASN1_STRING *v = X509_NAME_ENTRY_get_data(e);
        const ASN1_OBJECT *o = X509_NAME_ENTRY_get_object(e);
        char buf[96];
        jw_obj_open(w);
        jw_key(w, obj_name(OBJ_obj2nid(o), o, buf, sizeof buf));
        unsigned char *u = NULL;
        int ul = ASN1_STRING_to_UTF8(&u, v);
        if (ul >= 0 && u) {
            jw_str(w, u, (size_t)ul);
        } else {
            int vl = ASN1_STRING_length(v);
            jw_str(w, ASN1_STRING_get0_data(v), vl > 0 ? (size_t)vl : 0);
        }
        OPENSSL_free(u);
        jw_close(w);
    }
    jw_close(w);
}

/* subjectAltName as a list of names; false if it does not decode */
static bool json_san(struct jsonw *w, X509_EXTENSION *ex, BIO *bio)
{
    GENERAL_NAMES *gens = X509V3_EXT_d2i(ex);
    if (!gens)
        return false;
    jw_arr_open(w);
    int g = sk_GENERAL_NAME_num(gens);
    for (int k = 0; k < g && k < X509_MAX_SAN; k++) {
        GENERAL_NAME_print(bio, sk_GENERAL_NAME_value(gens, k));
        kv_bio(w, NULL, bio);
    }
    jw_close(w);
    GENERAL_NAMES_free(gens);
    return true;
}

/* ---- CT SCT lists (tls_sct_list_text) ---------------------------------- */

/*
 * What OpenSSL 3 prints (crypto/ct/ct_prn.c SCT_print, indent 0), for one
 * SCT, its lines joined by "\n" and the SCTs of a list by "\n":
 *   Signed Certificate Timestamp:
 *       Version   : v1 (0x0)
 *       Log ID    : HEX (32 bytes)
 *       Timestamp : Mon DD HH:MM:SS.mmm YYYY GMT
 *       Extensions: none | HEX
 *       Signature : ecdsa-with-SHA256 | sha256WithRSAEncryption
 *                   HEX
 * where HEX is BIO_hex_string(indent 16, width 16): bytes as "%02X"
 * joined by ':', a ':' and a line break after every 16th byte and 16
 * spaces before each continuation line; the day is "%2d" (space padded)
 * and the milliseconds always three digits (timestamp_print()).
 */
static void sct_hex(struct sb *s, const uint8_t *d, size_t n)
{
    static const char up[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        if (i && i % 16 == 0)
            sb_puts(s, "\n                ");
        sb_putc(s, up[d[i] >> 4]);
        sb_putc(s, up[d[i] & 15]);
        if (i + 1 < n)
            sb_putc(s, ':');
    }
}

static void sb_dec2(struct sb *s, unsigned v, char pad)
{
    sb_putc(s, v >= 10 ? (char)('0' + v / 10 % 10) : pad);
    sb_putc(s, (char)('0' + v % 10));
}

/* ms since 1970 (below the year 10000) as timestamp_print() shows it. */
static void sct_time(struct sb *s, uint64_t ms)
{
    static const char mon[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    uint64_t days = ms / 86400000u, sec = ms % 86400000u / 1000u;
    /* civil date of a day number (days since 1970-01-01; proleptic
     * Gregorian, eras of 400 years from 0000-03-01) */
    uint64_t z = days + 719468u;
    uint64_t era = z / 146097u, doe = z % 146097u;
    uint64_t yoe = (doe - doe / 1460u + doe / 36524u - doe / 146096u) / 365u;
    uint64_t doy = doe - (365u * yoe + yoe / 4u - yoe / 100u);
    uint64_t mp = (5u * doy + 2u) / 153u;
    unsigned d = (unsigned)(doy - (153u * mp + 2u) / 5u + 1u);
    unsigned m = (unsigned)(mp < 10u ? mp + 3u : mp - 9u);
    uint64_t y = yoe + era * 400u + (m <= 2u);
    sb_puts(s, mon[m - 1]);
    sb_putc(s, ' ');
    sb_dec2(s, d, ' ');
    sb_putc(s, ' ');
    sb_dec2(s, (unsigned)(sec / 3600u), '0');
    sb_putc(s, ':');
    sb_dec2(s, (unsigned)(sec / 60u % 60u), '0');
    sb_putc(s, ':');
    sb_dec2(s, (unsigned)(sec % 60u), '0');
    sb_putc(s, '.');
    sb_putc(s, (char)('0' + ms % 1000u / 100u));
    sb_dec2(s, (unsigned)(ms % 100u), '0');
    sb_putc(s, ' ');
    sb_dec(s, (unsigned)y);
    sb_puts(s, " GMT");
}

#define SCT_MAX_MS 253402300800000ull /* 10000-01-01 */

static bool der_element(struct cursor *c, uint8_t tag, struct cursor *body);

size_t tls_sct_list_text(const uint8_t *ext, size_t len, char *out, size_t cap)
{
    if (!out || cap < 2)
        return 0;
    struct cursor c, oct;
    cur_init(&c, ext, len);
    if (!der_element(&c, 0x04, &oct) || cur_left(&c) != 0)
        return 0;
    uint16_t list_len = cur_u16(&oct);
    if (!cur_ok(&oct) || list_len == 0 || list_len != cur_left(&oct))
        return 0;
    struct sb s = {out, cap, 0};
    while (cur_left(&oct)) {
        uint16_t sl = cur_u16(&oct);
        struct cursor t = cur_sub(&oct, sl);
        if (!cur_ok(&oct) || sl < 43 || cur_u8(&t) != 0)
            return 0; /* short, or not version 1 */
        const uint8_t *log_id = cur_bytes(&t, 32);
        uint64_t ts = cur_u64(&t);
        uint16_t el = cur_u16(&t);
        const uint8_t *e = cur_bytes(&t, el);
        uint8_t hash = cur_u8(&t), alg = cur_u8(&t);
        uint16_t gl = cur_u16(&t);
        const uint8_t *g = cur_bytes(&t, gl);
        if (!cur_ok(&t) || cur_left(&t) || !log_id || (el && !e) || !g || gl == 0 ||
            hash != 4 || (alg != 1 && alg != 3) || ts >= SCT_MAX_MS)
            return 0;
        const char *alg_name = OBJ_nid2ln(alg == 3 ? NID_ecdsa_with_SHA256
                                                   : NID_sha256WithRSAEncryption);
        if (!alg_name)
            return 0;
        if (s.n)
            sb_putc(&s, '\n');
        sb_puts(&s, "Signed Certificate Timestamp:\n    Version   : v1 (0x0)\n    Log ID    : ");
        sct_hex(&s, log_id, 32);
        sb_puts(&s, "\n    Timestamp : ");
        sct_time(&s, ts);
        sb_puts(&s, "\n    Extensions: ");
        if (el)
            sct_hex(&s, e, el);
        else
            sb_puts(&s, "none");
        sb_puts(&s, "\n    Signature : ");
        sb_puts(&s, alg_name);
        sb_puts(&s, "\n                ");
        sct_hex(&s, g, gl);
    }
    if (s.n >= cap)
        return 0; /* did not fit */
    return sb_end(&s);
}

/* One extension's value: as OpenSSL prints it, else its bytes in hex. */
static void json_extension_value(struct jsonw *w, X509_EXTENSION *ex, int nid, BIO *bio)
{
    if (nid == NID_ct_precert_scts) {
        /* the common SCT list without OpenSSL's printer (same text) */
        const ASN1_OCTET_STRING *d = X509_EXTENSION_get_data(ex);
        int dl = d ? ASN1_STRING_length(d) : 0;
        char text[16384];
        size_t n = dl > 0 ? tls_sct_list_text(ASN1_STRING_get0_data(d), (size_t)dl, text,
                                              sizeof text)
                          : 0;
        if (n) {
            kv_text(w, NULL, text, n);
            return;
        }
    }
    if (nid == NID_subject_alt_name) {
        if (json_san(w, ex, bio))
            return;
    } else if (X509V3_EXT_print(bio, ex, 0, 0) > 0) {
        kv_bio(w, NULL, bio);
        return;
    }
    (void)BIO_reset(bio);
    const ASN1_OCTET_STRING *d = X509_EXTENSION_get_data(ex);
    int dl = d ? ASN1_STRING_length(d) : 0;
    jw_hex(w, d ? ASN1_STRING_get0_data(d) : (const unsigned char *)"",
           dl > X509_MAX_HEX ? X509_MAX_HEX : (dl > 0 ? (size_t)dl : 0));
}

static void json_x509_extensions(struct jsonw *w, X509 *x, BIO *bio)
{
    int n = X509_get_ext_count(x);
    if (n <= 0)
        return;
    jw_key(w, "extensions");
    jw_arr_open(w);
    for (int i = 0; i < n && i < X509_MAX_EXT; i++) {
        X509_EXTENSION *ex = X509_get_ext(x, i);
        const ASN1_OBJECT *o = X509_EXTENSION_get_object(ex);
        int nid = OBJ_obj2nid(o);
        char buf[96];
        jw_obj_open(w);
        jw_key(w, obj_name(nid, o, buf, sizeof buf));
        json_extension_value(w, ex, nid, bio);
        jw_close(w);
    }
    jw_close(w);
}

/* The certificate, decoded in the bare library context (see tls_ctx). */
static X509 *cert_decode(const struct tls_ctx *c, const uint8_t *der, size_t len)
{
    const unsigned char *p = der;
    if (len == 0 || len > INT_MAX)
        return NULL;
    return (X509 *)ASN1_item_d2i_ex(NULL, &p, (long)len, ASN1_ITEM_rptr(X509), c->bare, NULL);
}

/* A SubjectPublicKeyInfo decoder for keys of type `keytype` (NULL: any). */
static OSSL_DECODER_CTX *spki_decoder_new(struct tls_ctx *c, const char *keytype)
{
    return OSSL_DECODER_CTX_new_for_pkey(&c->key, "DER", "SubjectPublicKeyInfo", keytype,
                                         EVP_PKEY_PUBLIC_KEY, NULL, NULL);
}

/* The decoder for keys of algorithm `alg` (named by its OID); NULL for an
 * unknown algorithm, when all SPKI_TYPES are taken or none could be made. */
static OSSL_DECODER_CTX *spki_decoder(struct tls_ctx *c, const ASN1_OBJECT *alg)
{
    int nid = OBJ_obj2nid(alg);
    if (nid == NID_undef)
        return NULL;
    for (unsigned i = 0; i < SPKI_TYPES; i++) {
        struct spki_decoder *d = &c->spki[i];
        if (d->nid == nid)
            return d->dc;
        if (d->nid == NID_undef) {
            char oid[80];
            d->nid = nid;
            if (OBJ_obj2txt(oid, sizeof oid, alg, 1) > 0)
                d->dc = spki_decoder_new(c, oid);
            return d->dc;
        }
    }
    return NULL;
}

/* Decode the DER SubjectPublicKeyInfo into c->key with dc. */
static bool spki_decode(struct tls_ctx *c, OSSL_DECODER_CTX *dc, const unsigned char *der, int n)
{
    const unsigned char *p = der;
    size_t left = (size_t)n;
    if (!dc || !OSSL_DECODER_from_data(dc, &p, &left) || !c->key) {
        EVP_PKEY_free(c->key);
        c->key = NULL;
        return false;
    }
    return true;
}

/* The contents of a DER element of tag `tag` (definite, minimal length). */
static bool der_element(struct cursor *c, uint8_t tag, struct cursor *body)
{
    if (cur_u8(c) != tag)
        return false;
    size_t len = cur_u8(c);
    if (len & 0x80) {
        unsigned n = len & 0x7f;
        if (n == 0 || n > 3)
            return false;
        len = 0;
        for (unsigned i = 0; i < n; i++)
            len = len << 8 | cur_u8(c);
        if (len < 0x80 || len >> (8 * (n - 1)) == 0)
            return false; /* not minimal */
    }
    *body = cur_sub(c, len);
    return cur_ok(c);
}

/* The number of significant bits of a positive DER INTEGER, else 0. */
static int der_uint_bits(struct cursor *c)
{
    struct cursor v;
    if (!der_element(c, 0x02, &v) || !cur_left(&v) || (v.p[0] & 0x80) ||
        (v.p[0] == 0 && (cur_left(&v) < 2 || !(v.p[1] & 0x80))))
        return 0; /* not an INTEGER, negative or not minimal */
    if (v.p[0] == 0)
        cur_skip(&v, 1);
    int bits = 8 * (int)(cur_left(&v) - 1);
    for (uint8_t b = v.p[0]; b; b >>= 1)
        bits++;
    return bits;
}

/* The size of an RSA key, read directly (the decoder costs more than the
 * rest of a certificate): its modulus, when the subjectPublicKey is a
 * plain DER RSAPublicKey (RFC 8017 A.1.1: SEQUENCE of two positive
 * INTEGERs, modulus and exponent), which OpenSSL would decode to a key of
 * that many bits; 0 for anything else (the decoder then decides). */
static int rsa_bits(const X509_PUBKEY *pub, const ASN1_OBJECT *alg)
{
    const unsigned char *pk = NULL;
    int pklen = 0;
    if (OBJ_obj2nid(alg) != NID_rsaEncryption ||
        !X509_PUBKEY_get0_param(NULL, &pk, &pklen, NULL, pub) || !pk || pklen <= 0 ||
        pklen > 65536)
        return 0;
    struct cursor c, seq;
    cur_init(&c, pk, (size_t)pklen);
    if (!der_element(&c, 0x30, &seq))
        return 0;
    int modulus = der_uint_bits(&seq);
    int exponent = der_uint_bits(&seq);
    return modulus > 0 && exponent > 0 && cur_left(&seq) == 0 ? modulus : 0;
}

/* EVP_PKEY_bits() of the public key (algorithm alg), or 0. */
static int pubkey_bits(struct tls_ctx *c, const X509_PUBKEY *pub, const ASN1_OBJECT *alg)
{
    int rsa = rsa_bits(pub, alg);
    if (rsa > 0)
        return rsa;
    unsigned char *der = NULL;
    int n = i2d_X509_PUBKEY(pub, &der);
    int bits = 0;
    if (n > 0) {
        bool ok = spki_decode(c, spki_decoder(c, alg), der, n);
        if (!ok && !c->spki_any)
            c->spki_any = spki_decoder_new(c, NULL);
        if (ok || spki_decode(c, c->spki_any, der, n))
            bits = EVP_PKEY_bits(c->key);
    }
    EVP_PKEY_free(c->key);
    c->key = NULL;
    OPENSSL_free(der);
    return bits;
}

static void json_x509_signature(struct jsonw *w, const X509 *x)
{
    const ASN1_BIT_STRING *sig = NULL;
    const X509_ALGOR *alg = NULL;
    X509_get0_signature(&sig, &alg, x);
    if (!sig)
        return;
    /* Joy also wrote the signature itself as hex: 256-512 random bytes
     * per certificate that identify nothing the other fields do not; it
     * is left out (its size is signature_key_size) */
    int sl = ASN1_STRING_length(sig);
    if (alg) {
        const ASN1_OBJECT *o = NULL;
        X509_ALGOR_get0(&o, NULL, NULL, alg);
        char buf[96];
        if (o)
            jw_kv_cstr(w, "signature_algo", obj_name(OBJ_obj2nid(o), o, buf, sizeof buf));
    }
    jw_kv_uint(w, "signature_key_size", (uint64_t)(sl > 0 ? sl : 0) * 8);
}

static void json_x509_time(struct jsonw *w, const char *key, const ASN1_TIME *t, BIO *bio)
{
    if (ASN1_TIME_print(bio, t) > 0)
        kv_bio(w, key, bio);
    (void)BIO_reset(bio);
}

static void json_x509_pubkey(struct jsonw *w, struct tls_ctx *c, const X509 *x)
{
    X509_PUBKEY *pub = X509_get_X509_PUBKEY(x);
    ASN1_OBJECT *palg = NULL;
    char buf[96];
    if (pub && X509_PUBKEY_get0_param(&palg, NULL, NULL, NULL, pub) && palg)
        jw_kv_cstr(w, "subject_public_key_algo", obj_name(OBJ_obj2nid(palg), palg, buf, sizeof buf));
    int bits = pub ? pubkey_bits(c, pub, palg) : 0;
    if (bits > 0)
        jw_kv_uint(w, "subject_public_key_size", (uint64_t)bits);
}

/* One DER certificate as a JSON object. */
static void json_x509(struct jsonw *w, const uint8_t *der, size_t len, struct tls_ctx *c)
{
    jw_obj_open(w);
    jw_kv_uint(w, "length", len);
    X509 *x = cert_decode(c, der, len);
    if (!x) {
        jw_kv_cstr(w, "error", "certificate not parsed");
        ERR_clear_error();
        jw_close(w);
        return;
    }
    const ASN1_INTEGER *serial = X509_get0_serialNumber(x);
    if (serial) {
        int sl = ASN1_STRING_length(serial);
        jw_kv_hex(w, "serial_number", ASN1_STRING_get0_data(serial), sl > 0 ? (size_t)sl : 0);
    }
    json_x509_signature(w, x);
    json_name(w, "issuer", X509_get_issuer_name(x));
    json_name(w, "subject", X509_get_subject_name(x));
    json_x509_extensions(w, x, c->bio);
    json_x509_time(w, "validity_not_before", X509_get0_notBefore(x), c->bio);
    json_x509_time(w, "validity_not_after", X509_get0_notAfter(x), c->bio);
    json_x509_pubkey(w, c, x);
    X509_free(x);
    ERR_clear_error();
    jw_close(w);
}

/* The slot hash of a certificate: its length and last 64 bytes (most of
 * them signature, which differs between any two certificates). */
static uint64_t cert_hash(const uint8_t *p, size_t n)
{
    size_t from = n > 64 ? n - 64 : 0;
    uint64_t h = 0xcbf29ce484222325ull ^ n;
    for (size_t i = from; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull; /* FNV-1a */
    }
    return h;
}

/* The two slots a certificate of hash h may sit in. */
static void x509_slots(struct x509_table *t, uint64_t h, struct x509_slot *two[2])
{
    two[0] = &t->slot[h % X509_CACHE_SLOTS];
    two[1] = &t->slot[(h >> 32) % X509_CACHE_SLOTS];
}

/* The slot of t holding exactly this certificate, or NULL. */
static struct x509_slot *x509_find(struct x509_table *t, uint64_t h, const uint8_t *der,
                                   size_t len)
{
    struct x509_slot *two[2];
    x509_slots(t, h, two);
    t->clock++;
    for (int i = 0; i < 2; i++) {
        struct x509_slot *s = two[i];
        if (s->der && s->hash == h && s->der_len == len && memcmp(s->der, der, len) == 0) {
            s->used = t->clock;
            return s;
        }
    }
    return NULL;
}

/* Keep a copy of a certificate and its JSON in t: in an empty slot of its
 * two, else in the one used less recently (nothing kept without memory). */
static bool x509_put(struct x509_table *t, uint64_t h, const uint8_t *der, size_t len,
                     const char *json, size_t json_len)
{
    struct x509_slot *two[2];
    x509_slots(t, h, two);
    struct x509_slot *s = !two[0]->der                ? two[0]
                          : !two[1]->der              ? two[1]
                          : two[1]->used < two[0]->used ? two[1]
                                                        : two[0];
    uint8_t *d = malloc(len);
    char *j = malloc(json_len);
    if (!d || !j) {
        free(d);
        free(j);
        return false;
    }
    free(s->der);
    free(s->json);
    memcpy(d, der, len);
    memcpy(j, json, json_len);
    s->der = d;
    s->json = j;
    s->hash = h;
    s->used = t->clock;
    s->der_len = (uint32_t)len;
    s->json_len = (uint32_t)json_len;
    return true;
}

/* Another meter's JSON of this certificate, appended to w; false if the
 * shared table has none. */
static bool x509_shared_get(struct tls_x509_shared *t, uint64_t h, const uint8_t *der, size_t len,
                            struct jsonw *w)
{
    pthread_mutex_lock(&t->mu);
    struct x509_slot *s = x509_find(&t->t, h, der, len);
    if (s) {
        jw_raw_value(w, s->json, s->json_len);
        t->hits++;
    }
    pthread_mutex_unlock(&t->mu);
    return s != NULL;
}

/* Offer a certificate this meter decoded to the others (unless one of them
 * put it there meanwhile). */
static void x509_shared_put(struct tls_x509_shared *t, uint64_t h, const uint8_t *der, size_t len,
                            const char *json, size_t json_len)
{
    pthread_mutex_lock(&t->mu);
    if (!x509_find(&t->t, h, der, len) && x509_put(&t->t, h, der, len, json, json_len))
        t->puts++;
    pthread_mutex_unlock(&t->mu);
}

static void json_x509_cached(struct jsonw *w, const uint8_t *der, size_t len, struct tls_ctx *c)
{
    if (len > X509_CACHE_DER) {
        json_x509(w, der, len, c);
        return;
    }
    uint64_t h = cert_hash(der, len);
    struct x509_slot *s = x509_find(&c->x509, h, der, len);
    if (s) {
        jw_raw_value(w, s->json, s->json_len);
        return;
    }
    jw_reset(&c->scratch);
    bool shared = c->shared && x509_shared_get(c->shared, h, der, len, &c->scratch);
    if (!shared)
        json_x509(&c->scratch, der, len, c);
    if (c->scratch.overflow) {
        json_x509(w, der, len, c); /* w says what does not fit */
        return;
    }
    if (c->scratch.len <= X509_CACHE_JSON) {
        x509_put(&c->x509, h, der, len, c->scratch.buf, c->scratch.len);
        if (c->shared && !shared)
            x509_shared_put(c->shared, h, der, len, c->scratch.buf, c->scratch.len);
    }
    jw_raw_value(w, c->scratch.buf, c->scratch.len);
}

void tls_json_cert_list(struct jsonw *w, const uint8_t *body, size_t len, unsigned max_certs,
                        struct tls_ctx *ctx)
{
    struct cursor c;
    cur_init(&c, body, len);
    uint32_t total = cur_u24(&c);
    size_t have = cur_left(&c) < total ? cur_left(&c) : total;
    struct cursor l = cur_sub(&c, have);
    jw_arr_open(w);
    for (unsigned i = 0; i < max_certs && cur_left(&l) >= 3; i++) {
        uint32_t n = cur_u24(&l);
        size_t avail = cur_left(&l);
        if (n > avail) {
            /* cut short: what is there, which will not parse */
            json_x509(w, l.p, avail, ctx);
            break;
        }
        json_x509_cached(w, cur_bytes(&l, n), n, ctx);
    }
    jw_close(w);
}

/* ---- fingerprints ------------------------------------------------------- */

static uint16_t degrease(uint16_t v) { return tls_is_grease(v) ? 0x0a0a : v; }

/* Extensions whose length and data are part of the "tls" fingerprint
 * (NPF TLS_EXT_FIXED, mercury's static extension list). */
static bool npf_fixed(uint16_t t)
{
    switch (t) {
    case 0x0001: case 0x0005: case 0x0007: case 0x0008: case 0x0009: case 0x000a:
    case 0x000b: case 0x000d: case 0x000f: case 0x0010: case 0x0011: case 0x0018:
    case 0x001b: case 0x001c: case 0x002b: case 0x002d: case 0x0032: case 0x5500:
        return true;
    }
    return false;
}

size_t tls_fp_npf(const struct tls_hello *ch, char *out, size_t cap)
{
    struct sb s = {out, cap, 0};
    sb_putc(&s, '(');
    sb_hex16(&s, ch->version);
    sb_puts(&s, ")(");
    for (uint32_t i = 0; i + 2 <= ch->suites_len && ch->suite_size == 2; i += 2)
        sb_hex16(&s, degrease(load_be16(ch->suites + i)));
    sb_puts(&s, ")(");
    uint32_t it = 0;
    uint16_t type, len;
    const uint8_t *d;
    while (tls_ext_next(ch, &it, &type, &d, &len)) {
        uint16_t t = degrease(type);
        sb_putc(&s, '(');
        sb_hex16(&s, t);
        if (npf_fixed(t)) {
            sb_hex16(&s, len);
            /* GREASE values inside supported_groups (after a 2-byte list
             * length) and supported_versions (after a 1-byte one) */
            size_t skip = t == 0x000a ? 2 : t == 0x002b ? 1 : len;
            if (skip > len)
                skip = len;
            sb_hex(&s, d, skip);
            size_t i = skip;
            for (; i + 2 <= len; i += 2)
                sb_hex16(&s, degrease(load_be16(d + i)));
            sb_hex(&s, d + i, len - i);
        }
        sb_putc(&s, ')');
    }
    sb_putc(&s, ')');
    return sb_end(&s);
}

/* values of a u16 list extension, GREASE left out, '-' separated */
static void sb_u16_list_dec(struct sb *s, const struct tls_hello *h, uint16_t type, int lsize)
{
    const uint8_t *d;
    uint16_t n;
    if (!tls_ext_find(h, type, &d, &n))
        return;
    struct cursor c;
    cur_init(&c, d, n);
    struct cursor l = cur_sub(&c, lsize == 1 ? cur_u8(&c) : cur_u16(&c));
    bool first = true;
    while (cur_left(&l) >= (size_t)(lsize == 1 ? 1 : 2)) {
        uint16_t v = lsize == 1 ? cur_u8(&l) : cur_u16(&l);
        if (lsize == 2 && tls_is_grease(v))
            continue;
        if (!first)
            sb_putc(s, '-');
        sb_dec(s, v);
        first = false;
    }
}

static void sb_ext_types_dec(struct sb *s, const struct tls_hello *h)
{
    uint32_t it = 0;
    uint16_t type, len;
    const uint8_t *d;
    bool first = true;
    while (tls_ext_next(h, &it, &type, &d, &len)) {
        if (tls_is_grease(type))
            continue;
        if (!first)
            sb_putc(s, '-');
        sb_dec(s, type);
        first = false;
    }
}

size_t tls_fp_ja3(const struct tls_hello *ch, char *out, size_t cap)
{
    struct sb s = {out, cap, 0};
    sb_dec(&s, ch->version);
    sb_putc(&s, ',');
    bool first = true;
    for (uint32_t i = 0; i + 2 <= ch->suites_len && ch->suite_size == 2; i += 2) {
        uint16_t v = load_be16(ch->suites + i);
        if (tls_is_grease(v))
            continue;
        if (!first)
            sb_putc(&s, '-');
        sb_dec(&s, v);
        first = false;
    }
    sb_putc(&s, ',');
    sb_ext_types_dec(&s, ch);
    sb_putc(&s, ',');
    sb_u16_list_dec(&s, ch, 10, 2);
    sb_putc(&s, ',');
    sb_u16_list_dec(&s, ch, 11, 1);
    return sb_end(&s);
}

size_t tls_fp_ja3s(const struct tls_hello *sh, char *out, size_t cap)
{
    struct sb s = {out, cap, 0};
    sb_dec(&s, sh->version);
    sb_putc(&s, ',');
    if (sh->suites_len == 2)
        sb_dec(&s, load_be16(sh->suites));
    sb_putc(&s, ',');
    sb_ext_types_dec(&s, sh);
    return sb_end(&s);
}

/* A hash of n bytes for the digest table: 8 bytes per step. */
static uint64_t digest_key(const uint8_t *p, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ n;
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t x;
        memcpy(&x, p, 8);
        h = (h ^ x) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    uint64_t x = 0;
    memcpy(&x, p, n);
    h = (h ^ x) * 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 29);
}

/* The first nhex hex digits of the digest md of data (out has room for
 * nhex + 1), from the table when the same digest of the same bytes was
 * taken before. */
static bool digest_hex(struct tls_ctx *c, const EVP_MD *md, const void *data, size_t len, char *out,
                       size_t nhex)
{
    if (!md)
        return false;
    struct digest_slot *e = NULL;
    if (len <= DIGEST_MAX) {
        uint64_t h = digest_key(data, len);
        e = &c->dig[h % DIGEST_SLOTS];
        if (e->md == md && e->hash == h && e->len == len && memcmp(e->in, data, len) == 0) {
            size_t k = nhex < e->hexlen ? nhex : e->hexlen;
            memcpy(out, e->hex, k);
            out[nhex] = 0;
            return true;
        }
        e->hash = h;
    }
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dl = 0;
    if (EVP_DigestInit_ex(c->md, md, NULL) != 1 || EVP_DigestUpdate(c->md, data, len) != 1 ||
        EVP_DigestFinal_ex(c->md, d, &dl) != 1) {
        ERR_clear_error();
        if (e)
            e->md = NULL;
        return false;
    }
    char hex[2 * EVP_MAX_MD_SIZE];
    for (unsigned i = 0; i < dl && i < EVP_MAX_MD_SIZE; i++) {
        hex[2 * i] = hexd[d[i] >> 4];
        hex[2 * i + 1] = hexd[d[i] & 15];
    }
    size_t hexlen = 2 * (size_t)(dl < EVP_MAX_MD_SIZE ? dl : EVP_MAX_MD_SIZE);
    memcpy(out, hex, nhex < hexlen ? nhex : hexlen);
    out[nhex] = 0;
    if (e) {
        /* keep it: the slot's old input buffer is reused when it is large enough */
        e->md = NULL;
        if (!e->in || e->len < len) {
            free(e->in);
            e->in = malloc(len ? len : 1);
        }
        if (e->in) {
            memcpy(e->in, data, len);
            e->len = (uint32_t)len;
            memcpy(e->hex, hex, hexlen);
            e->hexlen = (uint32_t)hexlen;
            e->md = md;
        }
    }
    return true;
}

static int cmp_u16(const void *a, const void *b)
{
    uint16_t x = *(const uint16_t *)a, y = *(const uint16_t *)b;
    return (x > y) - (x < y);
}

static const char *ja4_version(uint16_t v)
{
    switch (v) {
    case 0x0304: return "13";
    case 0x0303: return "12";
    case 0x0302: return "11";
    case 0x0301: return "10";
    case 0x0300: return "s3";
    case 0x0002: return "s2";
    case 0xfeff: return "d1";
    case 0xfefd: return "d2";
    case 0xfefc: return "d3";
    }
    return "00";
}

static bool is_alnum(uint8_t ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z');
}

/* sha256 of a sorted list (and the signature algorithms), 12 hex digits */
static void ja4_hash(struct tls_ctx *c, const uint16_t *v, size_t n, const uint16_t *sig,
                     size_t nsig, char out[13])
{
    if (n == 0) {
        memcpy(out, "000000000000", 13);
        return;
    }
    size_t cap = (n + nsig) * 5 + 2;
    char *t = malloc(cap);
    if (!t) {
        memcpy(out, "000000000000", 13);
        return;
    }
    struct sb s = {t, cap, 0};
    for (size_t i = 0; i < n; i++) {
        if (i)
            sb_putc(&s, ',');
        sb_hex16(&s, v[i]);
    }
    for (size_t i = 0; i < nsig; i++) {
        sb_putc(&s, i ? ',' : '_');
        sb_hex16(&s, sig[i]);
    }
    size_t len = sb_end(&s);
    if (!digest_hex(c, c->sha256, t, len, out, 12))
        memcpy(out, "000000000000", 13);
    free(t);
}

bool tls_fp_ja4(const struct tls_hello *ch, char transport, char out[37], struct tls_ctx *ctx)
{
    if (ch->type != TLS_HS_CLIENT_HELLO || ch->sslv2 || ch->suite_size != 2)
        return false;
    size_t ns = ch->suites_len / 2;
    size_t ne = ch->ext_len / 4 + 1; /* upper bound of extensions */
    uint16_t *suites = malloc((ns + 1) * sizeof *suites);
    uint16_t *exts = malloc(ne * sizeof *exts);
    uint16_t *sigs = NULL;
    size_t nsig = 0;
    if (!suites || !exts) {
        free(suites);
        free(exts);
        return false;
    }
    size_t cs = 0;
    for (size_t i = 0; i < ns; i++) {
        uint16_t v = load_be16(ch->suites + 2 * i);
        if (!tls_is_grease(v))
            suites[cs++] = v;
    }
    size_t ext_count = 0, nh = 0;
    bool sni = false;
    const uint8_t *alpn = NULL;
    size_t alpn_len = 0;
    uint32_t it = 0;
    uint16_t type, len;
    const uint8_t *d;
    while (tls_ext_next(ch, &it, &type, &d, &len)) {
        if (tls_is_grease(type))
            continue;
        ext_count++;
        if (type == 0x0000) {
            sni = true;
            continue;
        }
        if (type == 0x0010) {
            if (!alpn) {
                struct cursor c;
                cur_init(&c, d, len);
                struct cursor l = cur_sub(&c, cur_u16(&c));
                uint8_t pl = cur_u8(&l);
                const uint8_t *p = cur_bytes(&l, pl);
                if (p) {
                    alpn = p;
                    alpn_len = pl;
                }
            }
            continue;
        }
        if (type == 0x000d && !sigs) {
            struct cursor c;
            cur_init(&c, d, len);
            struct cursor l = cur_sub(&c, cur_u16(&c));
            sigs = malloc((cur_left(&l) / 2 + 1) * sizeof *sigs);
            while (sigs && cur_left(&l) >= 2) {
                uint16_t v = cur_u16(&l);
                if (!tls_is_grease(v))
                    sigs[nsig++] = v;
            }
        }
        exts[nh++] = type;
    }
    qsort(suites, cs, sizeof *suites, cmp_u16);
    qsort(exts, nh, sizeof *exts, cmp_u16);

    char a[3] = {'0', '0', 0};
    if (alpn && alpn_len > 0) {
        uint8_t f = alpn[0], l = alpn[alpn_len - 1];
        if (is_alnum(f) && is_alnum(l)) {
            a[0] = (char)f;
            a[1] = (char)l;
        } else {
            a[0] = hexd[f >> 4];
            a[1] = hexd[l & 15];
        }
    }
    char hb[13], hc[13];
    ja4_hash(ctx, suites, cs, NULL, 0, hb);
    ja4_hash(ctx, exts, nh, sigs, nsig, hc);
    unsigned c_n = cs > 99 ? 99 : (unsigned)cs;
    unsigned e_n = ext_count > 99 ? 99 : (unsigned)ext_count;
    const char *ver = ja4_version(tls_hello_version(ch));
    out[0] = transport;
    out[1] = ver[0];
    out[2] = ver[1];
    out[3] = sni ? 'd' : 'i';
    out[4] = (char)('0' + c_n / 10);
    out[5] = (char)('0' + c_n % 10);
    out[6] = (char)('0' + e_n / 10);
    out[7] = (char)('0' + e_n % 10);
    out[8] = a[0];
    out[9] = a[1];
    out[10] = '_';
    memcpy(out + 11, hb, 12);
    out[23] = '_';
    memcpy(out + 24, hc, 12);
    out[36] = 0;
    free(suites);
    free(exts);
    free(sigs);
    return true;
}

void tls_json_client_fingerprints(struct jsonw *w, const struct tls_hello *ch, char transport,
                                  struct tls_ctx *ctx)
{
    if (!ch || ch->sslv2 || ch->type != TLS_HS_CLIENT_HELLO)
        return;
    kv_built(w, "tls", tls_fp_npf, ch);
    char small[1024];
    size_t n = tls_fp_ja3(ch, small, sizeof small);
    char *s = small;
    if (n >= sizeof small) {
        s = malloc(n + 1);
        if (s)
            tls_fp_ja3(ch, s, n + 1);
    }
    if (s) {
        jw_kv_str(w, "ja3", s, n);
        char md[33];
        if (digest_hex(ctx, ctx->md5, s, n, md, 32))
            jw_kv_str(w, "ja3_md5", md, 32);
        if (s != small)
            free(s);
    }
    char j4[37];
    if (tls_fp_ja4(ch, transport, j4, ctx))
        jw_kv_str(w, "ja4", j4, 36);
}

void tls_json_partial(struct jsonw *w, const struct tls_hello *ch, const struct tls_hello *sh)
{
    bool c = ch && !ch->sslv2 && ch->type == TLS_HS_CLIENT_HELLO && !ch->complete;
    bool s = sh && sh->type == TLS_HS_SERVER_HELLO && !sh->complete;
    if (c || s)
        jw_kv_bool(w, "partial", true);
}

void tls_json_server_fingerprints(struct jsonw *w, const struct tls_hello *sh,
                                  struct tls_ctx *ctx)
{
    if (!sh || sh->type != TLS_HS_SERVER_HELLO)
        return;
    char small[1024];
    size_t n = tls_fp_ja3s(sh, small, sizeof small);
    char *s = small;
    if (n >= sizeof small) {
        s = malloc(n + 1);
        if (!s)
            return;
        tls_fp_ja3s(sh, s, n + 1);
    }
    jw_kv_str(w, "ja3s", s, n);
    char md[33];
    if (digest_hex(ctx, ctx->md5, s, n, md, 32))
        jw_kv_str(w, "ja3s_md5", md, 32);
    if (s != small)
        free(s);
}

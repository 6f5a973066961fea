/*
 * \summary: DNS message parser and JSON writer (RFC 1035, 2782, 3596, 6891, 9460)
 *
 *    0  1  2  3  4  5  6  7  8  9 10 11 12 13 14 15
 *   +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
 *   |                      ID                       |
 *   |QR|   Opcode  |AA|TC|RD|RA| Z|AD|CD|   RCODE   |
 *   |                    QDCOUNT                    |
 *   |                    ANCOUNT                    |
 *   |                    NSCOUNT                    |
 *   |                    ARCOUNT                    |
 *   +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
 *   question: QNAME QTYPE QCLASS, then the answer, authority and
 *   additional records: NAME TYPE CLASS TTL RDLENGTH RDATA.
 *
 * Messages are parsed only when a record is written.  Every byte is read
 * through a bounds check; names go through dns_name_decode(), which
 * follows compression pointers only strictly backwards.
 */
#include "dns_parse.h"

#include "anon.h"
#include "cursor.h"
#include "jsonw.h"
#include "packet.h"

#include <string.h>

#define DNS_HDR_LEN 12

/* ---------------------------------------------------------------------
 * names
 */
static size_t put_label_byte(char *out, size_t o, uint8_t b)
{
    if (b == '.' || b == '\\') {
        out[o++] = '\\';
        out[o++] = (char)b;
    } else if (b < 0x21 || b > 0x7e) {
        out[o++] = '\\';
        out[o++] = (char)('0' + b / 100);
        out[o++] = (char)('0' + (b / 10) % 10);
        out[o++] = (char)('0' + b % 10);
    } else {
        out[o++] = (char)b;
    }
    return o;
}

/* A name that cannot be read leaves its cursor in error. */
static enum dns_name_status name_fail(struct cursor *c, enum dns_name_status st)
{
    cur_fail(c);
    return st;
}

enum dns_name_status dns_name_read(struct cursor *c, const uint8_t *msg, size_t ptr_min,
                                   char *out, size_t *out_len)
{
    struct cursor r = *c; /* the labels being read: the name, then where pointers lead */
    size_t seg_start = cur_offset(c, msg), wire = 0, o = 0;
    int hops = 0;
    bool jumped = false;

    *out_len = 0;
    for (;;) {
        uint8_t b = cur_u8(&r);
        if (!cur_ok(&r))
            return name_fail(c, DNS_NAME_TRUNCATED);
        if (b == 0)
            break;
        if ((b & 0xc0) == 0xc0) {
            if (ptr_min == DNS_NO_POINTERS)
                return name_fail(c, DNS_NAME_BAD_POINTER);
            size_t target = ((size_t)(b & 0x3f) << 8) | cur_u8(&r);
            if (!cur_ok(&r))
                return name_fail(c, DNS_NAME_TRUNCATED);
            if (target >= seg_start || target < ptr_min)
                return name_fail(c, DNS_NAME_BAD_POINTER);
            if (++hops > DNS_NAME_MAX_HOPS)
                return name_fail(c, DNS_NAME_TOO_DEEP);
            if (!jumped) { /* the name ends after its first pointer */
                c->p = r.p;
                jumped = true;
            }
            /* target < seg_start: inside [msg, c->end), behind everything read */
            cur_init(&r, msg + target, (size_t)(c->end - msg) - target);
            seg_start = target;
            continue;
        }
        if (b & 0xc0)
            return name_fail(c, DNS_NAME_LABEL_TYPE);
        wire += 1u + b;
        if (wire + 1 > 255) /* the labels and the final zero */
            return name_fail(c, DNS_NAME_TOO_LONG);
        const uint8_t *label = cur_bytes(&r, b);
        if (!label)
            return name_fail(c, DNS_NAME_TRUNCATED);
        if (o)
            out[o++] = '.';
        for (size_t i = 0; i < b; i++)
            o = put_label_byte(out, o, label[i]);
    }
    if (!jumped)
        c->p = r.p;
    if (o == 0)
        out[o++] = '.';
    *out_len = o;
    return DNS_NAME_OK;
}

enum dns_name_status dns_name_decode(const uint8_t *msg, size_t msg_len, size_t off,
                                     size_t ptr_min, char *out, size_t *out_len, size_t *end)
{
    struct cursor c;
    cur_init(&c, msg, msg_len);
    cur_skip(&c, off);
    enum dns_name_status st = dns_name_read(&c, msg, ptr_min, out, out_len);
    *end = cur_offset(&c, msg);
    return st;
}

const char *dns_name_status_str(enum dns_name_status st)
{
    switch (st) {
    case DNS_NAME_OK: return "ok";
    case DNS_NAME_TRUNCATED: return "truncated";
    case DNS_NAME_BAD_POINTER: return "name_pointer";
    case DNS_NAME_LABEL_TYPE: return "name_label_type";
    case DNS_NAME_TOO_LONG: return "name_too_long";
    case DNS_NAME_TOO_DEEP: return "name_too_many_pointers";
    }
    return "name";
}

/* ---------------------------------------------------------------------
 * content check
 */
bool dns_looks_like(const uint8_t *p, size_t len)
{
    if (len < DNS_HDR_LEN + 5)
        return false;
    struct cursor c;
    cur_init(&c, p, len);
    cur_skip(&c, 2); /* ID */
    uint16_t flags = cur_u16(&c);
    unsigned qr = flags >> 15, opcode = (flags >> 11) & 0xf, z = (flags >> 6) & 1;
    unsigned rcode = flags & 0xf;
    uint16_t qd = cur_u16(&c), an = cur_u16(&c), ns = cur_u16(&c), ar = cur_u16(&c);
    if (z || qd != 1 || rcode > 10)
        return false;
    if (opcode != 0 && opcode != 2 && opcode != 4 && opcode != 5)
        return false;
    char name[DNS_NAME_TEXT_MAX];
    size_t nl;
    if (dns_name_read(&c, p, DNS_NO_POINTERS, name, &nl) != DNS_NAME_OK)
        return false;
    uint16_t qtype = cur_u16(&c), qclass = cur_u16(&c) & 0x7fff;
    if (!cur_ok(&c) || qtype == 0 ||
        !(qclass == 1 || qclass == 3 || qclass == 4 || qclass == 254 || qclass == 255))
        return false;
    size_t rest = cur_left(&c);
    if (!qr && opcode == 0) {
        if (an || ns || ar > 1)
            return false;
        if (ar == 0)
            return rest == 0;
        /* an OPT record: root name, type 41 */
        return rest >= 11 && cur_u8(&c) == 0 && cur_u16(&c) == 41;
    }
    return rest >= 11u * ((size_t)an + ns + ar);
}

/* ---------------------------------------------------------------------
 * JSON
 *
 * The RDATA of a record gets a cursor of its own (cur_sub), so nothing
 * read for one record reaches into the next; names in it may still point
 * back into the message.  RDATA is written as it is read: when it turns
 * out not to match its type, what was written is rolled back (jw_mark) and
 * the record is written in the generic form.
 */
struct rr_head {
    uint16_t type, cls;
    uint32_t ttl;
};

/* A name inside RDATA; its uncompressed part must stay inside RDATA. */
static enum dns_name_status rd_name(struct cursor *rd, const uint8_t *msg, char *buf, size_t *bl)
{
    return dns_name_read(rd, msg, DNS_HDR_LEN, buf, bl);
}

static void write_addr(struct jsonw *w, const uint8_t *p, int ver, const struct dns_anon *anon)
{
    struct ipaddr a;
    char buf[48];
    memset(&a, 0, sizeof a);
    memcpy(a.b, p, ver == 4 ? 4 : 16);
    jw_cstr(w, ipaddr_str(&a, ver, buf, sizeof buf));
}

/* An address read from c; false (and nothing written) if c is short. */
static bool write_addr_cur(struct jsonw *w, struct cursor *c, int ver,
                           const struct dns_anon *anon)
{
    const uint8_t *p = cur_bytes(c, ver == 4 ? 4 : 16);
    if (p)
        write_addr(w, p, ver, anon);
    return p != NULL;
}

static const char *svc_key_name(uint16_t k)
{
    static const char *const names[] = {"mandatory", "alpn", "no-default-alpn", "port",
                                        "ipv4hint", "ech", "ipv6hint", "dohpath", "ohttp"};
    return k < sizeof names / sizeof names[0] ? names[k] : NULL;
}

static void write_svc_key(struct jsonw *w, uint16_t k)
{
    const char *n = svc_key_name(k);
    if (n) {
        jw_cstr(w, n);
    } else {
        char buf[16];
        size_t i = sizeof buf;
        buf[--i] = 0;
        unsigned v = k;
        do {
            buf[--i] = (char)('0' + v % 10);
            v /= 10;
        } while (v);
        memcpy(buf + i - 3, "key", 3);
        jw_cstr(w, buf + i - 3);
    }
}

/* A list of SvcParamKeys (mandatory); false if it is empty or odd. */
static bool write_svc_keys(struct jsonw *w, struct cursor *v)
{
    if (!cur_left(v))
        return false;
    jw_arr_open(w);
    while (cur_left(v)) {
        uint16_t k = cur_u16(v);
        if (!cur_ok(v))
            return false;
        write_svc_key(w, k);
    }
    jw_close(w);
    return true;
}

/* ALPN protocol ids (RFC 9460 section 7.1.1): non-empty, 1-byte lengths. */
static bool write_alpn(struct jsonw *w, struct cursor *v)
{
    if (!cur_left(v))
        return false;
    jw_arr_open(w);
    while (cur_left(v)) {
        uint8_t l = cur_u8(v);
        const uint8_t *id = cur_bytes(v, l);
        if (!l || !id)
            return false;
        jw_str(w, id, l);
    }
    jw_close(w);
    return true;
}

/* Address hints: one or more IPv4 (ver 4) or IPv6 (ver 6) addresses. */
static bool write_hints(struct jsonw *w, struct cursor *v, int ver, const struct dns_anon *anon)
{
    if (!cur_left(v))
        return false;
    jw_arr_open(w);
    while (cur_left(v))
        if (!write_addr_cur(w, v, ver, anon))
            return false;
    jw_close(w);
    return true;
}

/* One SvcParam of a named key, key and decoded value; false if the value
 * does not have the key's format. */
static bool write_svc_param(struct jsonw *w, uint16_t key, struct cursor *v,
                            const struct dns_anon *anon)
{
    size_t n;
    const uint8_t *b;
    jw_key(w, svc_key_name(key));
    switch (key) {
    case 0: return write_svc_keys(w, v);
    case 1: return write_alpn(w, v);
    case 2: case 8: jw_null(w); return cur_done(v);
    case 3: jw_uint(w, cur_u16(v)); return cur_done(v);
    case 4: case 6: return write_hints(w, v, key == 4 ? 4 : 6, anon);
    case 5: b = cur_rest(v, &n); jw_hex(w, b, n); return true;
    case 7: b = cur_rest(v, &n); jw_str(w, b, n); return true;
    }
    return false;
}

/*
 * The SvcParams (RFC 9460 section 2.2), key, length and value each, up to
 * the end of the RDATA; false if one does not fit.  A value that does not
 * have its key's format (or of an unnamed key) is written as hex.
 */
static bool write_svc_params(struct jsonw *w, struct cursor *c, const struct dns_anon *anon)
{
    jw_key(w, "params");
    jw_arr_open(w);
    while (cur_left(c)) {
        uint16_t key = cur_u16(c);
        struct cursor v = cur_sub(c, cur_u16(c));
        if (!cur_ok(c))
            return false;
        struct cursor raw = v;
        jw_obj_open(w);
        struct jw_mark m = jw_mark(w);
        if (!svc_key_name(key) || !write_svc_param(w, key, &v, anon)) {
            size_t n;
            const uint8_t *b = cur_rest(&raw, &n);
            jw_rollback(w, m);
            jw_kv_uint(w, "key", key);
            jw_kv_hex(w, "value", b, n);
        }
        jw_close(w);
    }
    jw_close(w);
    return true;
}

/* TXT: <character-string>s, one written as a string, none or more as an
 * array; false if one runs past the RDATA. */
static bool write_txt(struct jsonw *w, struct cursor *rd)
{
    bool one = cur_left(rd) && cur_peek(rd, 0) + 1u == cur_left(rd);
    jw_key(w, "txt");
    if (!one)
        jw_arr_open(w);
    while (cur_left(rd)) {
        uint8_t l = cur_u8(rd);
        const uint8_t *t = cur_bytes(rd, l);
        if (!t)
            return false;
        jw_str(w, t, l);
    }
    if (!one)
        jw_close(w);
    return true;
}

/* OPT pseudo-record (RFC 6891 section 6.1): the class holds the UDP
 * payload size, the TTL the extended RCODE, version and flags, the RDATA
 * options (code, length, data); false if an option runs past the RDATA. */
static bool write_opt(struct jsonw *w, const struct rr_head *h, struct cursor *rd,
                      const struct dns_anon *anon)
{
    size_t n = cur_left(rd);
    jw_key(w, "opt");
    jw_obj_open(w);
    jw_kv_uint(w, "udp", h->cls);
    jw_kv_uint(w, "ext_rc", h->ttl >> 24);
    jw_kv_uint(w, "ver", (h->ttl >> 16) & 0xff);
    jw_kv_uint(w, "flags", h->ttl & 0xffff);
    if (n) {
        jw_key(w, "options");
        jw_arr_open(w);
        while (cur_left(rd)) {
            uint16_t code = cur_u16(rd), ol = cur_u16(rd);
            const uint8_t *data = cur_bytes(rd, ol);
            if (!data)
                return false;
            jw_obj_open(w);
            jw_kv_uint(w, "code", code);
            jw_key(w, "data");
            if (anon && anon->hide_raw && code == 8) /* client subnet (RFC 7871) */
                jw_null(w);
            else
                jw_hex(w, data, ol);
            jw_close(w);
        }
        jw_close(w);
    }
    jw_close(w);
    jw_kv_uint(w, "rdlength", n);
    return true;
}

/*
 * Write the type-specific member(s) of one record, reading its RDATA from
 * rd (msg is the message, for names).  Returns NULL, or the reason why the
 * RDATA does not match its type: the caller then rolls back what was
 * written and writes the record in the generic form.
 */
static const char *write_rdata(struct jsonw *w, const struct rr_head *h, struct cursor *rd,
                               const uint8_t *msg, const struct dns_anon *anon, bool *skip_ttl)
{
    size_t n = cur_left(rd);
    char a[DNS_NAME_TEXT_MAX], b[DNS_NAME_TEXT_MAX];
    size_t al, bl;
    enum dns_name_status st;

    switch (h->type) {
    case 1: /* A */
        if (n != 4)
            return "rdata_length";
        jw_key(w, "a");
        write_addr_cur(w, rd, 4, anon);
        return NULL;
    case 28: /* AAAA */
        if (n != 16)
            return "rdata_length";
        jw_key(w, "aaaa");
        write_addr_cur(w, rd, 6, anon);
        return NULL;
    case 2: case 5: case 12: /* NS, CNAME, PTR */
        if ((st = rd_name(rd, msg, a, &al)) != DNS_NAME_OK)
            return dns_name_status_str(st);
        if (cur_left(rd))
            return "rdata_length";
        jw_kv_str(w, h->type == 2 ? "ns" : h->type == 5 ? "cname" : "ptr", a, al);
        return NULL;
    case 15: { /* MX */
        if (n < 3)
            return "rdata_length";
        uint16_t pref = cur_u16(rd);
        if ((st = rd_name(rd, msg, a, &al)) != DNS_NAME_OK)
            return dns_name_status_str(st);
        if (cur_left(rd))
            return "rdata_length";
        jw_kv_str(w, "mx", a, al);
        jw_kv_uint(w, "pref", pref);
        return NULL;
    }
    case 6: /* SOA */
        if ((st = rd_name(rd, msg, a, &al)) != DNS_NAME_OK ||
            (st = rd_name(rd, msg, b, &bl)) != DNS_NAME_OK)
            return dns_name_status_str(st);
        if (cur_left(rd) != 20)
            return "rdata_length";
        jw_kv_str(w, "soa", a, al);
        jw_kv_str(w, "rname", b, bl);
        jw_kv_uint(w, "serial", cur_u32(rd));
        jw_kv_uint(w, "refresh", cur_u32(rd));
        jw_kv_uint(w, "retry", cur_u32(rd));
        jw_kv_uint(w, "expire", cur_u32(rd));
        jw_kv_uint(w, "minimum", cur_u32(rd));
        return NULL;
    case 16: /* TXT */
        return write_txt(w, rd) ? NULL : "rdata_length";
    case 33: { /* SRV */
        if (n < 7)
            return "rdata_length";
        uint16_t prio = cur_u16(rd), weight = cur_u16(rd), port = cur_u16(rd);
        if ((st = rd_name(rd, msg, a, &al)) != DNS_NAME_OK)
            return dns_name_status_str(st);
        if (cur_left(rd))
            return "rdata_length";
        jw_kv_str(w, "srv", a, al);
        jw_kv_uint(w, "priority", prio);
        jw_kv_uint(w, "weight", weight);
        jw_kv_uint(w, "port", port);
        return NULL;
    }
    case 64: case 65: { /* SVCB, HTTPS */
        if (n < 3)
            return "rdata_length";
        uint16_t prio = cur_u16(rd);
        if ((st = rd_name(rd, msg, a, &al)) != DNS_NAME_OK)
            return dns_name_status_str(st);
        jw_kv_str(w, h->type == 64 ? "svcb" : "https", a, al);
        jw_kv_uint(w, "priority", prio);
        if (cur_left(rd) && !write_svc_params(w, rd, anon))
            return "rdata_length";
        return NULL;
    }
    case 41: /* OPT pseudo-record (EDNS) */
        if (!write_opt(w, h, rd, anon))
            return "rdata_length";
        *skip_ttl = true;
        return NULL;
    default:
        jw_kv_uint(w, "type", h->type);
        jw_kv_uint(w, "rdlength", n);
        return NULL;
    }
}

static const char *const sec_name[3] = {"an", "ns", "ar"};

/*
 * One resource record at c (which reads the message msg).  Returns NULL
 * when it was written, else the reason parsing must stop (nothing written).
 */
static const char *write_rr(struct jsonw *w, struct cursor *c, const uint8_t *msg, int sec,
                            const struct dns_anon *anon)
{
    char owner[DNS_NAME_TEXT_MAX];
    size_t ol;
    enum dns_name_status st = dns_name_read(c, msg, DNS_HDR_LEN, owner, &ol);
    if (st != DNS_NAME_OK)
        return dns_name_status_str(st);
    struct rr_head h;
    h.type = cur_u16(c);
    h.cls = cur_u16(c);
    h.ttl = cur_u32(c);
    uint16_t rdlen = cur_u16(c);
    struct cursor rd = cur_sub(c, rdlen);
    if (!cur_ok(c))
        return "truncated";

    jw_obj_open(w);
    struct jw_mark m = jw_mark(w);
    bool skip_ttl = false;
    const char *bad = write_rdata(w, &h, &rd, msg, anon, &skip_ttl);
    if (bad) {
        jw_rollback(w, m);
        jw_kv_uint(w, "type", h.type);
        jw_kv_uint(w, "rdlength", rdlen);
        /* empty RDATA is legal for any type: RFC 2136 (UPDATE) uses it in
         * prerequisites ("RRset exists", class ANY) and to delete RRsets,
         * and it is how class ANY/NONE records look elsewhere too */
        if (rdlen == 0)
            bad = NULL;
    }
    if (!skip_ttl) {
        jw_kv_uint(w, "ttl", h.ttl);
        if (h.cls != 1)
            jw_kv_uint(w, "class", h.cls);
    }
    jw_kv_cstr(w, "sec", sec_name[sec]);
    jw_kv_str(w, "n", owner, ol);
    if (bad)
        jw_kv_cstr(w, "malformed", bad);
    jw_close(w);
    return NULL;
}

/* One question at c: name, type and class. */
static const char *read_question(struct cursor *c, const uint8_t *msg, char *name, size_t *nl,
                                 uint16_t *qt, uint16_t *qc)
{
    enum dns_name_status st = dns_name_read(c, msg, DNS_HDR_LEN, name, nl);
    if (st != DNS_NAME_OK)
        return dns_name_status_str(st);
    *qt = cur_u16(c);
    *qc = cur_u16(c);
    return cur_ok(c) ? NULL : "truncated";
}

void dns_message_json(struct jsonw *w, const uint8_t *msg, size_t len, size_t wire_len,
                      const char *cut, int dir, const struct dns_anon *anon)
{
    const char *err = NULL;
    char name[DNS_NAME_TEXT_MAX];
    size_t nl;
    uint16_t qt = 0, qc = 0;
    struct cursor c;
    cur_init(&c, msg, len);
    uint16_t id = cur_u16(&c), flags = cur_u16(&c);
    uint32_t qd = cur_u16(&c), an = cur_u16(&c), ns = cur_u16(&c), ar = cur_u16(&c);

    jw_obj_open(w);
    jw_kv_cstr(w, "dir", dir ? "<" : ">");
    if (!cur_ok(&c)) {
        /* what the captured bytes of the header still tell (the fields
         * read before the cursor ran out) */
        if (len >= 4) {
            jw_key(w, (flags & 0x8000) ? "rn" : "qn");
            jw_null(w);
            jw_kv_uint(w, "rc", flags & 0xf);
        }
        if (len >= 2)
            jw_kv_uint(w, "id", id);
        err = "truncated";
        goto done;
    }
    const char *name_key = (flags & 0x8000) ? "rn" : "qn";

    /* the name key says query or response even when there is no question
     * (null) or it cannot be read (null, and "malformed" says why) */
    jw_key(w, name_key);
    if (qd == 0 || (err = read_question(&c, msg, name, &nl, &qt, &qc)) != NULL) {
        jw_null(w);
    } else {
        jw_str(w, name, nl);
        jw_kv_uint(w, "qt", qt);
        if (qc != 1)
            jw_kv_uint(w, "qc", qc);
    }
    jw_kv_uint(w, "rc", flags & 0xf);
    jw_kv_uint(w, "id", id);
    if (err)
        goto done;

    if (qd > 1) {
        jw_key(w, "qs");
        jw_arr_open(w);
        for (uint32_t i = 1; i < qd && !err; i++) {
            if (!(err = read_question(&c, msg, name, &nl, &qt, &qc))) {
                jw_obj_open(w);
                jw_kv_str(w, "n", name, nl);
                jw_kv_uint(w, "qt", qt);
                if (qc != 1)
                    jw_kv_uint(w, "qc", qc);
                jw_close(w);
            }
        }
        jw_close(w);
        if (err)
            goto done;
    }

    jw_key(w, "rr");
    jw_arr_open(w);
    uint32_t total = an + ns + ar, i;
    for (i = 0; i < total && i < DNS_MAX_RR; i++) {
        int sec = i < an ? 0 : i < an + ns ? 1 : 2;
        if ((err = write_rr(w, &c, msg, sec, anon)) != NULL)
            break;
    }
    jw_close(w);
    if (!err && i < total)
        jw_kv_uint(w, "rr_omitted", total - i);

done:
    if (cut && len < wire_len) {
        jw_kv_cstr(w, "truncated", cut);
        jw_kv_uint(w, "len", wire_len);
        if (err && strcmp(err, "truncated") == 0)
            err = NULL; /* the bytes ran out because the message was cut */
    }
    if (err)
        jw_kv_cstr(w, "malformed", err);
    jw_close(w);
}

/* ---------------------------------------------------------------------
 * NetBIOS name service (RFC 1002 section 4.2): the DNS header layout with
 * other flag meanings, and names in the "first-level encoding": a first
 * label of 32 letters 'A'..'P', two per byte (high nibble first), giving
 * 15 name bytes (padded with spaces) and a suffix byte; labels after it
 * are the NetBIOS scope.
 */
static bool nbns_decode_name(const char *t, size_t tl, uint8_t out[16])
{
    if (tl < 32 || (tl > 32 && t[32] != '.'))
        return false;
    for (int i = 0; i < 16; i++) {
        char hi = t[2 * i], lo = t[2 * i + 1];
        if (hi < 'A' || hi > 'P' || lo < 'A' || lo > 'P')
            return false;
        out[i] = (uint8_t)(((hi - 'A') << 4) | (lo - 'A'));
    }
    return true;
}

void nbns_message_json(struct jsonw *w, const uint8_t *msg, size_t len, size_t wire_len,
                       const char *cut, int dir)
{
    const char *err = NULL;
    struct cursor c;
    cur_init(&c, msg, len);
    uint16_t id = cur_u16(&c), flags = cur_u16(&c);
    uint16_t qd = cur_u16(&c), an = cur_u16(&c);
    cur_skip(&c, 4); /* NSCOUNT, ARCOUNT */

    jw_obj_open(w);
    jw_kv_cstr(w, "dir", dir ? "<" : ">");
    if (len >= 2)
        jw_kv_uint(w, "id", id);
    if (len >= 4) {
        jw_kv_uint(w, "flags", flags);
        jw_kv_bool(w, "resp", (flags & 0x8000) != 0);
        jw_kv_uint(w, "op", (flags >> 11) & 0xf);
        jw_kv_uint(w, "rc", flags & 0xf);
    }
    if (!cur_ok(&c)) {
        err = "truncated";
        goto done;
    }
    if (qd == 0 && an == 0)
        goto done; /* no name in the message */
    /* the name: of the question, else of the first answer record */
    char t[DNS_NAME_TEXT_MAX];
    size_t tl;
    enum dns_name_status st = dns_name_read(&c, msg, DNS_HDR_LEN, t, &tl);
    uint16_t type = cur_u16(&c);
    if (st != DNS_NAME_OK) {
        err = dns_name_status_str(st);
        goto done;
    }
    if (!cur_ok(&c)) {
        err = "truncated";
        goto done;
    }
    uint8_t nb[16];
    if (nbns_decode_name(t, tl, nb)) {
        size_t n = 15;
        while (n > 0 && nb[n - 1] == ' ')
            n--;
        jw_kv_str(w, "name", nb, n);
        jw_kv_uint(w, "suffix", nb[15]);
        if (tl > 33)
            jw_kv_str(w, "scope", t + 33, tl - 33);
    } else {
        jw_kv_str(w, "name", t, tl);
        err = "name_encoding";
    }
    jw_kv_uint(w, "type", type);

done:
    if (cut && len < wire_len) {
        jw_kv_cstr(w, "truncated", cut);
        jw_kv_uint(w, "len", wire_len);
        if (err && strcmp(err, "truncated") == 0)
            err = NULL;
    }
    if (err)
        jw_kv_cstr(w, "malformed", err);
    jw_close(w);
}

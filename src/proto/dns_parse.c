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

enum dns_name_status dns_name_decode(const uint8_t *msg, size_t msg_len, size_t off,
                                     size_t ptr_min, char *out, size_t *out_len, size_t *end)
{
    size_t pos = off, seg_start = off, wire = 0, o = 0;
    int hops = 0;
    bool jumped = false;

    *out_len = 0;
    *end = off;
    for (;;) {
        if (pos >= msg_len)
            return DNS_NAME_TRUNCATED;
        uint8_t b = msg[pos];
        if (b == 0) {
            if (!jumped)
                *end = pos + 1;
            break;
        }
        if ((b & 0xc0) == 0xc0) {
            if (ptr_min == DNS_NO_POINTERS)
                return DNS_NAME_BAD_POINTER;
            if (pos + 1 >= msg_len)
                return DNS_NAME_TRUNCATED;
            size_t target = ((size_t)(b & 0x3f) << 8) | msg[pos + 1];
            if (target >= seg_start || target < ptr_min)
                return DNS_NAME_BAD_POINTER;
            if (++hops > DNS_NAME_MAX_HOPS)
                return DNS_NAME_TOO_DEEP;
            if (!jumped) {
                *end = pos + 2;
                jumped = true;
            }
            pos = seg_start = target;
            continue;
        }
        if (b & 0xc0)
            return DNS_NAME_LABEL_TYPE;
        wire += 1u + b;
        if (wire + 1 > 255) /* the labels and the final zero */
            return DNS_NAME_TOO_LONG;
        if (b > msg_len - pos - 1)
            return DNS_NAME_TRUNCATED;
        if (o)
            out[o++] = '.';
        for (size_t i = 0; i < b; i++)
            o = put_label_byte(out, o, msg[pos + 1 + i]);
        pos += 1u + b;
    }
    if (o == 0)
        out[o++] = '.';
    *out_len = o;
    return DNS_NAME_OK;
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
    uint16_t flags = load_be16(p + 2);
    unsigned qr = flags >> 15, opcode = (flags >> 11) & 0xf, z = (flags >> 6) & 1;
    unsigned rcode = flags & 0xf;
    uint16_t qd = load_be16(p + 4), an = load_be16(p + 6), ns = load_be16(p + 8),
             ar = load_be16(p + 10);
    if (z || qd != 1 || rcode > 10)
        return false;
    if (opcode != 0 && opcode != 2 && opcode != 4 && opcode != 5)
        return false;
    char name[DNS_NAME_TEXT_MAX];
    size_t nl, end;
    if (dns_name_decode(p, len, DNS_HDR_LEN, DNS_NO_POINTERS, name, &nl, &end) != DNS_NAME_OK)
        return false;
    if (len - end < 4)
        return false;
    uint16_t qtype = load_be16(p + end), qclass = load_be16(p + end + 2) & 0x7fff;
    if (qtype == 0 ||
        !(qclass == 1 || qclass == 3 || qclass == 4 || qclass == 254 || qclass == 255))
        return false;
    size_t rest = len - end - 4;
    if (!qr && opcode == 0) {
        if (an || ns || ar > 1)
            return false;
        if (ar == 0)
            return rest == 0;
        /* an OPT record: root name, type 41 */
        return rest >= 11 && p[end + 4] == 0 && load_be16(p + end + 5) == 41;
    }
    return rest >= 11u * ((size_t)an + ns + ar);
}

/* ---------------------------------------------------------------------
 * JSON
 */
struct dns_rd {
    const uint8_t *msg;
    size_t len;     /* bytes of msg available */
    size_t pos;     /* start of RDATA */
    size_t end;     /* end of RDATA */
};

/* A name inside RDATA; its uncompressed part must stay inside RDATA. */
static enum dns_name_status rd_name(struct dns_rd *rd, char *buf, size_t *bl)
{
    size_t end;
    enum dns_name_status st =
        dns_name_decode(rd->msg, rd->end, rd->pos, DNS_HDR_LEN, buf, bl, &end);
    if (st != DNS_NAME_OK)
        return st;
    rd->pos = end;
    return DNS_NAME_OK;
}

static void write_addr(struct jsonw *w, const uint8_t *p, int ver, const struct dns_anon *anon)
{
    struct ipaddr a;
    char buf[48];
    memset(&a, 0, sizeof a);
    memcpy(a.b, p, ver == 4 ? 4 : 16);
    jw_cstr(w, ipaddr_str(&a, ver, buf, sizeof buf));
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

/* One SvcParam value in its decoded form; false if its format is wrong. */
static bool svc_param_ok(uint16_t key, const uint8_t *v, size_t n)
{
    switch (key) {
    case 0: return n % 2 == 0 && n > 0;
    case 1: {
        size_t i = 0;
        while (i < n) {
            if (v[i] == 0 || v[i] > n - i - 1)
                return false;
            i += 1u + v[i];
        }
        return n > 0;
    }
    case 2: case 8: return n == 0;
    case 3: return n == 2;
    case 4: return n > 0 && n % 4 == 0;
    case 6: return n > 0 && n % 16 == 0;
    default: return true;
    }
}

static void write_svc_params(struct jsonw *w, const uint8_t *p, size_t n,
                             const struct dns_anon *anon)
{
    jw_key(w, "params");
    jw_arr_open(w);
    size_t i = 0;
    while (i + 4 <= n) {
        uint16_t key = load_be16(p + i), vl = load_be16(p + i + 2);
        const uint8_t *v = p + i + 4;
        i += 4u + vl;
        jw_obj_open(w);
        if (!svc_param_ok(key, v, vl) || !svc_key_name(key)) {
            jw_kv_uint(w, "key", key);
            jw_kv_hex(w, "value", v, vl);
            jw_close(w);
            continue;
        }
        jw_key(w, svc_key_name(key));
        switch (key) {
        case 0:
            jw_arr_open(w);
            for (size_t k = 0; k < vl; k += 2)
                write_svc_key(w, load_be16(v + k));
            jw_close(w);
            break;
        case 1:
            jw_arr_open(w);
            for (size_t k = 0; k < vl; k += 1u + v[k])
                jw_str(w, v + k + 1, v[k]);
            jw_close(w);
            break;
        case 2: case 8: jw_null(w); break;
        case 3: jw_uint(w, load_be16(v)); break;
        case 4: case 6:
            jw_arr_open(w);
            for (size_t k = 0; k < vl; k += key == 4 ? 4 : 16)
                write_addr(w, v + k, key == 4 ? 4 : 6, anon);
            jw_close(w);
            break;
        case 5: jw_hex(w, v, vl); break;
        case 7: jw_str(w, v, vl); break;
        }
        jw_close(w);
    }
    jw_close(w);
}

/* Check the SvcParams list: every parameter fits exactly. */
static bool svc_params_fit(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (n - i < 4)
            return false;
        uint16_t vl = load_be16(p + i + 2);
        if (vl > n - i - 4)
            return false;
        i += 4u + vl;
    }
    return true;
}

/* Check EDNS options in OPT RDATA (RFC 6891 section 6.1.2). */
static bool edns_opts_fit(const uint8_t *p, size_t n)
{
    return svc_params_fit(p, n); /* the same code/length/value layout */
}

/*
 * Write the type-specific member(s) of one record.  Returns NULL, or the
 * reason why the RDATA does not match its type (the record is then written
 * in the generic form).
 */
static const char *write_rdata(struct jsonw *w, uint16_t type, uint16_t cls, uint32_t ttl,
                               struct dns_rd *rd, const struct dns_anon *anon,
                               bool *skip_ttl)
{
    const uint8_t *p = rd->msg + rd->pos;
    size_t n = rd->end - rd->pos;
    char a[DNS_NAME_TEXT_MAX], b[DNS_NAME_TEXT_MAX];
    size_t al, bl;
    enum dns_name_status st;

    switch (type) {
    case 1: /* A */
        if (n != 4)
            return "rdata_length";
        jw_key(w, "a");
        write_addr(w, p, 4, anon);
        return NULL;
    case 28: /* AAAA */
        if (n != 16)
            return "rdata_length";
        jw_key(w, "aaaa");
        write_addr(w, p, 6, anon);
        return NULL;
    case 2: case 5: case 12: /* NS, CNAME, PTR */
        if ((st = rd_name(rd, a, &al)) != DNS_NAME_OK)
            return dns_name_status_str(st);
        if (rd->pos != rd->end)
            return "rdata_length";
        jw_kv_str(w, type == 2 ? "ns" : type == 5 ? "cname" : "ptr", a, al);
        return NULL;
    case 15: { /* MX */
        if (n < 3)
            return "rdata_length";
        uint16_t pref = load_be16(p);
        rd->pos += 2;
        if ((st = rd_name(rd, a, &al)) != DNS_NAME_OK)
            return dns_name_status_str(st);
        if (rd->pos != rd->end)
            return "rdata_length";
        jw_kv_str(w, "mx", a, al);
        jw_kv_uint(w, "pref", pref);
        return NULL;
    }
    case 6: { /* SOA */
        if ((st = rd_name(rd, a, &al)) != DNS_NAME_OK || (st = rd_name(rd, b, &bl)) != DNS_NAME_OK)
            return dns_name_status_str(st);
        if (rd->end - rd->pos != 20)
            return "rdata_length";
        const uint8_t *q = rd->msg + rd->pos;
        jw_kv_str(w, "soa", a, al);
        jw_kv_str(w, "rname", b, bl);
        jw_kv_uint(w, "serial", load_be32(q));
        jw_kv_uint(w, "refresh", load_be32(q + 4));
        jw_kv_uint(w, "retry", load_be32(q + 8));
        jw_kv_uint(w, "expire", load_be32(q + 12));
        jw_kv_uint(w, "minimum", load_be32(q + 16));
        return NULL;
    }
    case 16: { /* TXT: one or more <character-string>s */
        size_t count = 0, i = 0;
        while (i < n) {
            if (p[i] > n - i - 1)
                return "rdata_length";
            i += 1u + p[i];
            count++;
        }
        jw_key(w, "txt");
        if (count == 1) {
            jw_str(w, p + 1, p[0]);
            return NULL;
        }
        jw_arr_open(w);
        for (i = 0; i < n; i += 1u + p[i])
            jw_str(w, p + i + 1, p[i]);
        jw_close(w);
        return NULL;
    }
    case 33: { /* SRV */
        if (n < 7)
            return "rdata_length";
        rd->pos += 6;
        if ((st = rd_name(rd, a, &al)) != DNS_NAME_OK)
            return dns_name_status_str(st);
        if (rd->pos != rd->end)
            return "rdata_length";
        jw_kv_str(w, "srv", a, al);
        jw_kv_uint(w, "priority", load_be16(p));
        jw_kv_uint(w, "weight", load_be16(p + 2));
        jw_kv_uint(w, "port", load_be16(p + 4));
        return NULL;
    }
    case 64: case 65: { /* SVCB, HTTPS */
        if (n < 3)
            return "rdata_length";
        uint16_t prio = load_be16(p);
        rd->pos += 2;
        if ((st = rd_name(rd, a, &al)) != DNS_NAME_OK)
            return dns_name_status_str(st);
        const uint8_t *params = rd->msg + rd->pos;
        size_t pn = rd->end - rd->pos;
        if (!svc_params_fit(params, pn))
            return "rdata_length";
        jw_kv_str(w, type == 64 ? "svcb" : "https", a, al);
        jw_kv_uint(w, "priority", prio);
        if (pn)
            write_svc_params(w, params, pn, anon);
        return NULL;
    }
    case 41: { /* OPT pseudo-record (EDNS) */
        if (!edns_opts_fit(p, n))
            return "rdata_length";
        jw_key(w, "opt");
        jw_obj_open(w);
        jw_kv_uint(w, "udp", cls);
        jw_kv_uint(w, "ext_rc", ttl >> 24);
        jw_kv_uint(w, "ver", (ttl >> 16) & 0xff);
        jw_kv_uint(w, "flags", ttl & 0xffff);
        if (n) {
            jw_key(w, "options");
            jw_arr_open(w);
            for (size_t i = 0; i < n;) {
                uint16_t code = load_be16(p + i), ol = load_be16(p + i + 2);
                jw_obj_open(w);
                jw_kv_uint(w, "code", code);
                jw_key(w, "data");
                if (anon && anon->hide_raw && code == 8) /* client subnet (RFC 7871) */
                    jw_null(w);
                else
                    jw_hex(w, p + i + 4, ol);
                jw_close(w);
                i += 4u + ol;
            }
            jw_close(w);
        }
        jw_close(w);
        jw_kv_uint(w, "rdlength", n);
        *skip_ttl = true;
        return NULL;
    }
    default:
        jw_kv_uint(w, "type", type);
        jw_kv_uint(w, "rdlength", n);
        return NULL;
    }
}

static const char *const sec_name[3] = {"an", "ns", "ar"};

/*
 * One resource record at *off.  Returns NULL when it was written, else the
 * reason parsing must stop (nothing written).
 */
static const char *write_rr(struct jsonw *w, const uint8_t *msg, size_t len, size_t *off, int sec,
                            const struct dns_anon *anon)
{
    char owner[DNS_NAME_TEXT_MAX];
    size_t ol, end;
    enum dns_name_status st = dns_name_decode(msg, len, *off, DNS_HDR_LEN, owner, &ol, &end);
    if (st != DNS_NAME_OK)
        return dns_name_status_str(st);
    struct cursor c;
    cur_init(&c, msg + end, len - end);
    uint16_t type = cur_u16(&c), cls = cur_u16(&c);
    uint32_t ttl = cur_u32(&c);
    uint16_t rdlen = cur_u16(&c);
    if (!cur_ok(&c) || !cur_has(&c, rdlen))
        return "truncated";
    size_t rd_start = end + 10;
    *off = rd_start + rdlen;

    struct dns_rd rd = {msg, len, rd_start, rd_start + rdlen};
    jw_obj_open(w);
    struct jw_mark m = jw_mark(w);
    bool skip_ttl = false;
    const char *bad = write_rdata(w, type, cls, ttl, &rd, anon, &skip_ttl);
    if (bad) {
        jw_rollback(w, m);
        jw_kv_uint(w, "type", type);
        jw_kv_uint(w, "rdlength", rdlen);
    }
    if (!skip_ttl) {
        jw_kv_uint(w, "ttl", ttl);
        if (cls != 1)
            jw_kv_uint(w, "class", cls);
    }
    jw_kv_cstr(w, "sec", sec_name[sec]);
    jw_kv_str(w, "n", owner, ol);
    if (bad)
        jw_kv_cstr(w, "malformed", bad);
    jw_close(w);
    return NULL;
}

/* One question at *off: name, type and class. */
static const char *read_question(const uint8_t *msg, size_t len, size_t *off, char *name,
                                 size_t *nl, uint16_t *qt, uint16_t *qc)
{
    size_t end;
    enum dns_name_status st = dns_name_decode(msg, len, *off, DNS_HDR_LEN, name, nl, &end);
    if (st != DNS_NAME_OK)
        return dns_name_status_str(st);
    if (len - end < 4)
        return "truncated";
    *qt = load_be16(msg + end);
    *qc = load_be16(msg + end + 2);
    *off = end + 4;
    return NULL;
}

void dns_message_json(struct jsonw *w, const uint8_t *msg, size_t len, size_t wire_len,
                      const char *cut, int dir, const struct dns_anon *anon)
{
    const char *err = NULL;
    char name[DNS_NAME_TEXT_MAX];
    size_t nl;
    uint16_t qt = 0, qc = 0;

    jw_obj_open(w);
    jw_kv_cstr(w, "dir", dir ? "<" : ">");
    if (len < DNS_HDR_LEN) {
        /* what the captured bytes of the header still tell */
        if (len >= 4) {
            jw_key(w, (msg[2] & 0x80) ? "rn" : "qn");
            jw_null(w);
            jw_kv_uint(w, "rc", msg[3] & 0xf);
        }
        if (len >= 2)
            jw_kv_uint(w, "id", load_be16(msg));
        err = "truncated";
        goto done;
    }
    uint16_t id = load_be16(msg), flags = load_be16(msg + 2);
    uint32_t qd = load_be16(msg + 4), an = load_be16(msg + 6), ns = load_be16(msg + 8),
             ar = load_be16(msg + 10);
    const char *name_key = (flags & 0x8000) ? "rn" : "qn";
    size_t off = DNS_HDR_LEN;

    /* the name key says query or response even when there is no question
     * (null) or it cannot be read (null, and "malformed" says why) */
    jw_key(w, name_key);
    if (qd == 0 || (err = read_question(msg, len, &off, name, &nl, &qt, &qc)) != NULL) {
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
            if (!(err = read_question(msg, len, &off, name, &nl, &qt, &qc))) {
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
        if ((err = write_rr(w, msg, len, &off, sec, anon)) != NULL)
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

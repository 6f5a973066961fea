/*
 * api.c - the small public functions of libjoy (joy.h): versions, status
 * texts, the configuration handle, link types, the flow hash for spreading
 * packets over meters, and member look-up in a record.
 *
 * The context is in context.c and the meter in meter.c; everything here
 * is a thin, argument-checking layer over the engine.
 */
#include "joy/joy.h"

#include "config.h"
#include "packet.h"

#include <stdlib.h>
#include <string.h>

const char *joy_version(void) { return JOY_VERSION_STRING; }
int joy_version_number(void) { return JOY_VERSION_NUMBER; }

const char *joy_strerror(int status)
{
    switch (status) {
    case JOY_OK: return "success";
    case JOY_ERR_INVALID: return "invalid argument";
    case JOY_ERR_UNKNOWN_KEY: return "unknown option key";
    case JOY_ERR_VALUE: return "invalid option value";
    case JOY_ERR_FILE: return "file cannot be read or is malformed";
    case JOY_ERR_NOMEM: return "out of memory";
    case JOY_ERR_SETUP: return "a module could not be set up";
    case JOY_ERR_SPACE: return "buffer too small";
    case JOY_ERR_NOT_IP: return "not an IP packet";
    case JOY_ERR_NOT_FOUND: return "not found";
    default: return "unknown status";
    }
}

/* err may be NULL or errlen 0: messages then go nowhere. */
static char *errbuf(char *err, size_t *errlen, char dummy[1])
{
    if (!err || !*errlen) {
        *errlen = 1;
        return dummy;
    }
    return err;
}

/* --- configuration ----------------------------------------------------- */

struct joy_config *joy_config_new(char *err, size_t errlen)
{
    char dummy[1];
    err = errbuf(err, &errlen, dummy);
    struct joy_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (config_init(cfg, err, errlen) != 0) {
        config_free(cfg);
        free(cfg);
        return NULL;
    }
    return cfg;
}

void joy_config_free(struct joy_config *cfg)
{
    if (!cfg)
        return;
    config_free(cfg);
    free(cfg);
}

int joy_config_set(struct joy_config *cfg, const char *key, const char *value,
                   const char *origin, char *err, size_t errlen)
{
    char dummy[1];
    err = errbuf(err, &errlen, dummy);
    if (!cfg || !key || !value) {
        snprintf(err, errlen, "joy_config_set: NULL argument");
        return JOY_ERR_INVALID;
    }
    bool known = config_has_key(key);
    if (config_set(cfg, key, value, origin ? origin : "joy_config_set", err, errlen) != 0)
        return known ? JOY_ERR_VALUE : JOY_ERR_UNKNOWN_KEY;
    return JOY_OK;
}

int joy_config_load_file(struct joy_config *cfg, const char *path, char *err, size_t errlen)
{
    char dummy[1];
    err = errbuf(err, &errlen, dummy);
    if (!cfg || !path) {
        snprintf(err, errlen, "joy_config_load_file: NULL argument");
        return JOY_ERR_INVALID;
    }
    enum config_fail why;
    if (config_load_file_why(cfg, path, err, errlen, &why) == 0)
        return JOY_OK;
    return why == CONFIG_FAIL_KEY ? JOY_ERR_UNKNOWN_KEY
           : why == CONFIG_FAIL_VALUE ? JOY_ERR_VALUE : JOY_ERR_FILE;
}

int joy_config_get(const struct joy_config *cfg, const char *key, char *buf, size_t buflen)
{
    if (!cfg || !key || (buflen && !buf))
        return JOY_ERR_INVALID;
    bool fits;
    if (config_get(cfg, key, buf, buflen, &fits) != 0)
        return JOY_ERR_UNKNOWN_KEY;
    return fits ? JOY_OK : JOY_ERR_SPACE;
}

int joy_config_has_key(const char *key) { return key && config_has_key(key); }

void joy_config_print_help(FILE *out) { config_print_help(out); }
void joy_config_print_defaults(FILE *out) { config_write_cfg(out); }

/* --- link types ----------------------------------------------------------- */

int joy_linktype_supported(int linktype) { return linktype_supported(linktype); }
const char *joy_linktype_name(int linktype) { return linktype_name(linktype); }

/* --- the flow hash -------------------------------------------------------- */

/* One 64-bit mixing step (the finaliser of MurmurHash3's 64-bit variant). */
static uint64_t mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

/* Big-endian; written out so that compilers make it one load and a byte swap. */
static inline uint64_t load64(const uint8_t *b)
{
    return (uint64_t)b[0] << 56 | (uint64_t)b[1] << 48 | (uint64_t)b[2] << 40 |
           (uint64_t)b[3] << 32 | (uint64_t)b[4] << 24 | (uint64_t)b[5] << 16 |
           (uint64_t)b[6] << 8 | (uint64_t)b[7];
}

/*
 * Symmetric: the two endpoints are put in a fixed order (the smaller
 * address first; with ports, the smaller (address, port) pair first)
 * before hashing, so both directions give the same value.  The constants
 * and the byte order are fixed, so the value is stable across processes,
 * machines and library versions of the same major number.  An address is
 * its 16 bytes in struct ipaddr (IPv4: the four bytes, then zeros) read as
 * two big-endian 64-bit numbers: a0 a1 and b0 b1.
 */
static uint32_t hash_endpoints(uint64_t a0, uint64_t a1, uint16_t pa, uint64_t b0, uint64_t b1,
                               uint16_t pb, uint8_t proto)
{
    /* memcmp's order of the addresses, without the call */
    int c = a0 != b0 ? (a0 > b0 ? 1 : -1) : a1 != b1 ? (a1 > b1 ? 1 : -1) : 0;
    if (c > 0 || (c == 0 && pa > pb)) {
        uint64_t t0 = a0, t1 = a1;
        a0 = b0;
        a1 = b1;
        b0 = t0;
        b1 = t1;
        uint16_t tp = pa;
        pa = pb;
        pb = tp;
    }
    uint64_t h = 0x6a6f79666c6f77ull ^ ((uint64_t)proto << 32) ^ ((uint64_t)pa << 16) ^ pb;
    h = mix64(h ^ a0);
    h = mix64(h ^ a1);
    h = mix64(h ^ b0);
    h = mix64(h ^ b1);
    return (uint32_t)(h ^ (h >> 32));
}

/* hash_endpoints() of an IPv4 pair (a1 = b1 = 0) without ports (*addrs)
 * and with them (*five), both at once: the two chains of multiplications
 * are independent, so they run side by side (one dispatcher call per
 * packet; written out separately they took 50 cycles each).  Without
 * ports the order of equal addresses does not matter, so one order serves
 * both. */
static void hash_ipv4_both(uint64_t a, uint64_t b, uint16_t pa, uint16_t pb, uint8_t proto,
                           uint32_t *addrs, uint32_t *five)
{
    bool swap = a > b || (a == b && pa > pb);   /* hash_endpoints()'s order */
    uint64_t lo = swap ? b : a, hi = swap ? a : b;
    uint16_t p1 = swap ? pb : pa, p2 = swap ? pa : pb;
    uint64_t base = 0x6a6f79666c6f77ull ^ ((uint64_t)proto << 32);
    uint64_t h = base, g = base ^ ((uint64_t)p1 << 16) ^ p2;
    h = mix64(h ^ lo);
    g = mix64(g ^ lo);
    h = mix64(h);
    g = mix64(g);
    h = mix64(h ^ hi);
    g = mix64(g ^ hi);
    h = mix64(h);
    g = mix64(g);
    *addrs = (uint32_t)(h ^ (h >> 32));
    *five = (uint32_t)(g ^ (g >> 32));
}

uint32_t packet_flow_hash(const struct packet *p, int mode)
{
    bool ports = mode == JOY_HASH_5TUPLE && p->has_ports;
    return hash_endpoints(load64(p->src.b), load64(p->src.b + 8), ports ? p->sport : 0,
                          load64(p->dst.b), load64(p->dst.b + 8), ports ? p->dport : 0, p->proto);
}

int joy_flow_hash(int linktype, const uint8_t *data, uint32_t caplen, uint32_t wirelen,
                  int mode, uint32_t *hash)
{
    if (!hash || (!data && caplen) || (mode != JOY_HASH_ADDRS && mode != JOY_HASH_5TUPLE))
        return JOY_ERR_INVALID;
    *hash = 0;
    /* A dispatcher calls this for every packet.  Plain Ethernet IPv4 is
     * read straight from the bytes (eth_plain_ipv4: the frames
     * decode_packet_ip() also reads straight), without filling a struct
     * packet; fuzz_decode checks the two against each other. */
    const uint8_t *ip;
    if (mode == JOY_HASH_ADDRS && (ip = eth_plain_ipv4(linktype, data, caplen))) {
        uint64_t pair = load64(ip + 12);     /* source, destination */
        *hash = hash_endpoints(pair & 0xffffffff00000000ull, 0, 0, pair << 32, 0, 0, ip[9]);
        return JOY_OK;
    }
    struct packet p;
    /* the address pair needs no transport header: the cheaper walk, the
     * same status */
    enum decode_status st = mode == JOY_HASH_ADDRS
                                ? decode_packet_ip(&p, linktype, data, caplen, wirelen)
                                : decode_packet(&p, linktype, data, caplen, wirelen, 0);
    if (st != DECODE_OK)
        return JOY_ERR_NOT_IP;
    *hash = packet_flow_hash(&p, mode);
    return JOY_OK;
}

/* A fragment's datagram: addresses, protocol, version and identification
 * (direction kept: every fragment of a datagram travels the same way). */
static uint64_t datagram_key(uint64_t a0, uint64_t a1, uint64_t b0, uint64_t b1, uint8_t proto,
                             uint8_t ipver, uint32_t id)
{
    uint64_t h = 0x6672616767656420ull ^ ((uint64_t)id << 16) ^ ((uint64_t)ipver << 8) ^ proto;
    h = mix64(h ^ a0);
    h = mix64(h ^ a1);
    h = mix64(h ^ b0);
    h = mix64(h ^ b1);
    return h ? h : 1;
}

int joy_flow_keys(int linktype, const uint8_t *data, uint32_t caplen, uint32_t wirelen,
                  struct joy_flow_keys *keys)
{
    if (!keys || (!data && caplen))
        return JOY_ERR_INVALID;
    memset(keys, 0, sizeof *keys);
    /* plain Ethernet IPv4 read straight, as joy_flow_hash() does; the ports
     * where decode_transport() finds them (fuzz_decode checks the two) */
    const uint8_t *ip = eth_plain_ipv4(linktype, data, caplen);
    if (ip) {
        uint32_t ihl = (uint32_t)(ip[0] & 15) * 4, total = (uint32_t)(ip[2] << 8 | ip[3]);
        uint32_t cap = caplen - 14;
        if (total == 0)
            total = cap;
        if (cap > total)
            cap = total;
        uint16_t fo = (uint16_t)(ip[6] << 8 | ip[7]);
        uint8_t proto = ip[9];
        uint64_t pair = load64(ip + 12);
        uint64_t a = pair & 0xffffffff00000000ull, b = pair << 32;
        keys->proto = proto;
        keys->fragment = (fo & 0x1fff) ? JOY_FRAG_LATER : (fo & 0x2000) ? JOY_FRAG_FIRST
                                                                        : JOY_FRAG_NONE;
        if (keys->fragment != JOY_FRAG_LATER && cap >= ihl && cap - ihl >= 4 &&
            (proto == 6 || proto == 17 || proto == 132 || proto == 136)) {
            const uint8_t *l4 = ip + ihl;
            hash_ipv4_both(a, b, (uint16_t)(l4[0] << 8 | l4[1]), (uint16_t)(l4[2] << 8 | l4[3]),
                           proto, &keys->addrs, &keys->five);
        } else {
            keys->addrs = hash_endpoints(a, 0, 0, b, 0, 0, proto);
            keys->five = keys->addrs;
        }
        if (keys->fragment != JOY_FRAG_NONE)
            keys->datagram = datagram_key(a, 0, b, 0, proto, 4, (uint32_t)(ip[4] << 8 | ip[5]));
        return JOY_OK;
    }
    struct packet p;
    if (decode_packet(&p, linktype, data, caplen, wirelen, 0) != DECODE_OK)
        return JOY_ERR_NOT_IP;
    keys->addrs = packet_flow_hash(&p, JOY_HASH_ADDRS);
    keys->five = packet_flow_hash(&p, JOY_HASH_5TUPLE);
    keys->proto = p.proto;
    keys->fragment = p.frag == FRAG_LATER ? JOY_FRAG_LATER
                     : p.frag == FRAG_FIRST ? JOY_FRAG_FIRST : JOY_FRAG_NONE;
    if (keys->fragment != JOY_FRAG_NONE)
        keys->datagram = datagram_key(load64(p.src.b), load64(p.src.b + 8), load64(p.dst.b),
                                      load64(p.dst.b + 8), p.proto, p.ipver, p.ipid);
    return JOY_OK;
}

/* --- record members ------------------------------------------------------- */

/* Skip a JSON string starting at s[i] == '"'; the index after it, or n. */
static size_t skip_string(const char *s, size_t i, size_t n)
{
    for (i++; i < n; i++) {
        if (s[i] == '\\')
            i++;
        else if (s[i] == '"')
            return i + 1;
    }
    return n;
}

/* Skip one JSON value starting at s[i]; the index after it, or n. */
static size_t skip_value(const char *s, size_t i, size_t n)
{
    size_t depth = 0;
    while (i < n) {
        char ch = s[i];
        if (ch == '"') {
            i = skip_string(s, i, n);
            if (!depth)
                return i;
            continue;
        }
        if (ch == '{' || ch == '[') {
            depth++;
        } else if (ch == '}' || ch == ']') {
            if (!depth)
                return i;
            if (--depth == 0)
                return i + 1;
        } else if (!depth && (ch == ',' || ch == '\n')) {
            return i;
        }
        i++;
    }
    return n;
}

int joy_record_member(const struct joy_record *rec, const char *key, const char **value,
                      size_t *len)
{
    if (!rec || !key || !value || !len || !rec->json)
        return JOY_ERR_INVALID;
    const char *s = rec->json;
    size_t n = rec->len, klen = strlen(key);
    if (!n || s[0] != '{')
        return JOY_ERR_NOT_FOUND;
    size_t i = 1;
    while (i < n && s[i] == '"') {
        size_t kend = skip_string(s, i, n);
        bool match = kend - i == klen + 2 && memcmp(s + i + 1, key, klen) == 0;
        if (kend >= n || s[kend] != ':')
            break;
        size_t v = kend + 1, vend = skip_value(s, v, n);
        if (match) {
            *value = s + v;
            *len = vend - v;
            return JOY_OK;
        }
        if (vend >= n || s[vend] != ',')
            break;
        i = vend + 1;
    }
    return JOY_ERR_NOT_FOUND;
}

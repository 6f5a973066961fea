/*
 * ipfix_enc.c - joy records as IPFIX messages (RFC 7011, RFC 5103 biflows,
 * RFC 6313 basicLists).  Templates and their elements: doc/ipfix.md.
 */
#include "ipfix.h"

#include <stdlib.h>
#include <string.h>

#define NTP_OFFSET 2208988800ull
#define VARLEN 65535u

struct field {
    uint16_t id;  /* without the enterprise bit */
    uint16_t len;
    uint32_t pen; /* 0: IANA */
};

/* The IANA part, IPv4 and IPv6 differ only in the two addresses. */
static const struct field core_fields[] = {
    {7, 2, 0},                   /* sourceTransportPort */
    {11, 2, 0},                  /* destinationTransportPort */
    {4, 1, 0},                   /* protocolIdentifier */
    {152, 8, 0},                 /* flowStartMilliseconds */
    {153, 8, 0},                 /* flowEndMilliseconds */
    {154, 8, 0},                 /* flowStartMicroseconds */
    {155, 8, 0},                 /* flowEndMicroseconds */
    {2, 8, 0},                   /* packetDeltaCount */
    {1, 8, 0},                   /* octetDeltaCount (IP bytes) */
    {2, 8, IPFIX_PEN_REVERSE},   /* reversePacketDeltaCount */
    {1, 8, IPFIX_PEN_REVERSE},   /* reverseOctetDeltaCount */
    {6, 2, 0},                   /* tcpControlBits */
    {6, 2, IPFIX_PEN_REVERSE},   /* reverseTcpControlBits */
    {136, 1, 0},                 /* flowEndReason */
    {239, 1, 0},                 /* biflowDirection: 1 initiator (sa is the client) */
    {502, 8, IPFIX_PEN_CERT},    /* dataByteCount: L4 payload (joy's bytes_out) */
    {502 | IPFIX_ENTERPRISE_REVERSE_BIT, 8, IPFIX_PEN_CERT}, /* reverse dataByteCount */
};
#define N_CORE (sizeof core_fields / sizeof core_fields[0])

int ipfix_profile_parse(const char *name)
{
    if (!name || !*name || strcmp(name, "simple") == 0)
        return 0;
    if (strcmp(name, "eta") == 0 || strcmp(name, "all") == 0)
        return IPFIX_PROFILE_IDP | IPFIX_PROFILE_SPLT | IPFIX_PROFILE_BD;
    int p = 0;
    const char *s = name;
    while (*s) {
        size_t n = strcspn(s, "+,");
        if (n == 3 && strncmp(s, "idp", 3) == 0)
            p |= IPFIX_PROFILE_IDP;
        else if (n == 4 && strncmp(s, "splt", 4) == 0)
            p |= IPFIX_PROFILE_SPLT;
        else if (n == 2 && strncmp(s, "bd", 2) == 0)
            p |= IPFIX_PROFILE_BD;
        else if (!(n == 6 && strncmp(s, "simple", 6) == 0))
            return -1;
        s += n;
        if (*s)
            s++;
    }
    return p;
}

int ipfix_writer_init(struct ipfix_writer *w, size_t budget, unsigned profile, uint32_t domain)
{
    memset(w, 0, sizeof *w);
    if (!(w->buf = malloc(IPFIX_MAX_MESSAGE)))
        return -1;
    w->budget = budget < 512 ? 512 : budget > IPFIX_MAX_MESSAGE ? IPFIX_MAX_MESSAGE : budget;
    w->profile = profile;
    w->domain = domain;
    return 0;
}

void ipfix_writer_free(struct ipfix_writer *w)
{
    free(w->buf);
    w->buf = NULL;
}

/* ---- byte writers (callers checked the room) ---- */
static void put8(uint8_t *p, unsigned v) { p[0] = (uint8_t)v; }
static void put16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static void put32(uint8_t *p, uint32_t v)
{
    put16(p, v >> 16);
    put16(p + 2, v & 0xffff);
}
static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)(v >> 32));
    put32(p + 4, (uint32_t)v);
}

static void start_message(struct ipfix_writer *w)
{
    if (w->len == 0) {
        memset(w->buf, 0, 16);
        w->len = 16;
        w->in_msg = 0;
        w->set_at = 0;
    }
}

static void close_set(struct ipfix_writer *w)
{
    if (w->set_at) {
        put16(w->buf + w->set_at + 2, (unsigned)(w->len - w->set_at));
        w->set_at = 0;
    }
}

static size_t put_field_spec(uint8_t *p, const struct field *f)
{
    put16(p, f->id | (f->pen ? 0x8000u : 0));
    put16(p + 2, f->len);
    if (!f->pen)
        return 4;
    put32(p + 4, f->pen);
    return 8;
}

/* The template's fields after the IANA part, for a profile. */
static size_t profile_fields(unsigned profile, struct field *out)
{
    size_t n = 0;
    if (profile & IPFIX_PROFILE_IDP) {
        out[n++] = (struct field){ETA_IDP, VARLEN, IPFIX_PEN_CISCO};
        out[n++] = (struct field){ETA_IDP | IPFIX_ENTERPRISE_REVERSE_BIT, VARLEN, IPFIX_PEN_CISCO};
    }
    if (profile & IPFIX_PROFILE_SPLT) {
        for (int i = 0; i < 3; i++)
            out[n++] = (struct field){291, VARLEN, 0}; /* basicList: lengths, times, directions */
    }
    if (profile & IPFIX_PROFILE_BD)
        out[n++] = (struct field){291, VARLEN, 0};     /* basicList: byte distribution */
    return n;
}

void ipfix_write_templates(struct ipfix_writer *w)
{
    struct field extra[8];
    size_t n_extra = profile_fields(w->profile, extra);
    start_message(w);
    close_set(w);
    size_t at = w->len;
    uint8_t *p = w->buf + at + 4;
    for (int v6 = 0; v6 < 2; v6++) {
        put16(p, 256u + (unsigned)v6);
        put16(p + 2, (unsigned)(2 + N_CORE + n_extra));
        p += 4;
        struct field a = {v6 ? 27 : 8, v6 ? 16 : 4, 0}, b = {v6 ? 28 : 12, v6 ? 16 : 4, 0};
        p += put_field_spec(p, &a);
        p += put_field_spec(p, &b);
        for (size_t i = 0; i < N_CORE; i++)
            p += put_field_spec(p, &core_fields[i]);
        for (size_t i = 0; i < n_extra; i++)
            p += put_field_spec(p, &extra[i]);
    }
    put16(w->buf + at, 2);
    put16(w->buf + at + 2, (unsigned)(p - (w->buf + at)));
    w->len = (size_t)(p - w->buf);
}

/* ---- what the profile takes from the record's JSON ---- */
static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* A quoted hex member ("idp_out") as its bytes into out (at most cap);
 * the number of bytes, 0 when absent. */
static size_t member_hex(const struct joy_record *rec, const char *key, uint8_t *out, size_t cap)
{
    const char *v;
    size_t n;
    if (joy_record_member(rec, key, &v, &n) != JOY_OK || n < 2 || v[0] != '"')
        return 0;
    size_t k = 0;
    for (size_t i = 1; i + 1 < n && k < cap; i += 2) {
        int hi = hexval(v[i]), lo = hexval(v[i + 1]);
        if (hi < 0 || lo < 0)
            break;
        out[k++] = (uint8_t)(hi << 4 | lo);
    }
    return k;
}

/* "byte_dist": [256 counts]; 1 when present. */
static int member_counts(const struct joy_record *rec, const char *key, uint32_t *out, size_t want)
{
    const char *v;
    size_t n, k = 0;
    if (joy_record_member(rec, key, &v, &n) != JOY_OK || n < 2 || v[0] != '[')
        return 0;
    uint64_t x = 0;
    bool digit = false;
    for (size_t i = 1; i < n && k < want; i++) {
        if (v[i] >= '0' && v[i] <= '9') {
            x = x * 10 + (uint64_t)(v[i] - '0');
            digit = true;
        } else {
            if (digit)
                out[k++] = x > 0xffffffffu ? 0xffffffffu : (uint32_t)x;
            x = 0;
            digit = false;
        }
    }
    return k == want;
}

static size_t varlen_size(size_t n) { return n < 255 ? 1 + n : 3 + n; }

static uint8_t *put_varlen_hdr(uint8_t *p, size_t n)
{
    if (n < 255) {
        put8(p, (unsigned)n);
        return p + 1;
    }
    put8(p, 255);
    put16(p + 1, (unsigned)n);
    return p + 3;
}

/* basicList header: semantic ordered (4), element spec; returns its size */
static size_t bl_hdr(uint8_t *p, uint16_t id, uint16_t elen, uint32_t pen)
{
    put8(p, 4);
    put16(p + 1, id | (pen ? 0x8000u : 0));
    put16(p + 3, elen);
    if (!pen)
        return 5;
    put32(p + 5, pen);
    return 9;
}

/* NTP time (RFC 5905: its 32-bit seconds wrap every 136 years, by design)
 * of base_sec + ns. */
static void put_ntp_us(uint8_t *p, int64_t base_sec, uint64_t ns)
{
    uint64_t us = ns / 1000u;
    uint64_t sec = us / 1000000u, frac_us = us % 1000000u;
    put32(p, (uint32_t)((uint64_t)base_sec + sec + NTP_OFFSET));
    put32(p + 4, (uint32_t)((frac_us << 32) / 1000000u));
}

/* Milliseconds since the epoch of base_sec + ns (flowStart/EndMilliseconds
 * are unsigned: a time before 1970 is 0). */
static uint64_t epoch_ms(int64_t base_sec, uint64_t ns)
{
    __int128 ms = (__int128)base_sec * 1000 + (__int128)(ns / 1000000u);
    return ms < 0 ? 0 : ms > (__int128)UINT64_MAX ? UINT64_MAX : (uint64_t)ms;
}

static unsigned end_reason(uint8_t expire)
{
    switch (expire) {
    case JOY_EXPIRE_INACTIVE: return 1;
    case JOY_EXPIRE_ACTIVE: return 2;
    case JOY_EXPIRE_CLOSED: return 3; /* end of flow detected: the TCP connection ended */
    case JOY_EXPIRE_END: return 4;   /* forced end: end of input or shutdown */
    case JOY_EXPIRE_ROOM: return 5;  /* lack of resources */
    default: return 0;
    }
}

/* Scratch for one record's profile data, on the stack of the caller. */
struct extras {
    uint8_t idp[2][1600];
    size_t idp_len[2];
    uint32_t bd[256];
    bool has_bd;
    uint32_t n_splt;
};

static size_t record_size(const struct ipfix_writer *w, const struct joy_record *rec,
                          const struct extras *x)
{
    size_t n = 2 * (rec->ip_version == 6 ? 16 : 4);
    for (size_t i = 0; i < N_CORE; i++)
        n += core_fields[i].len;
    if (w->profile & IPFIX_PROFILE_IDP)
        n += varlen_size(x->idp_len[0]) + varlen_size(x->idp_len[1]);
    if (w->profile & IPFIX_PROFILE_SPLT)
        n += varlen_size(9 + 2u * x->n_splt) + varlen_size(9 + 2u * x->n_splt) +
             varlen_size(5 + x->n_splt);
    if (w->profile & IPFIX_PROFILE_BD)
        n += varlen_size(x->has_bd ? 9 + 4 * 256 : 9);
    return n;
}

int ipfix_write_record(struct ipfix_writer *w, const struct joy_record *rec)
{
    struct extras x;
    x.idp_len[0] = x.idp_len[1] = 0;
    x.has_bd = false;
    x.n_splt = 0;
    if (w->profile & IPFIX_PROFILE_IDP) {
        x.idp_len[0] = member_hex(rec, "idp_out", x.idp[0], sizeof x.idp[0]);
        x.idp_len[1] = member_hex(rec, "idp_in", x.idp[1], sizeof x.idp[1]);
    }
    if (w->profile & IPFIX_PROFILE_BD)
        x.has_bd = member_counts(rec, "byte_dist", x.bd, 256);
    if (w->profile & IPFIX_PROFILE_SPLT)
        x.n_splt = rec->n_pkts > IPFIX_MAX_SPLT ? IPFIX_MAX_SPLT : rec->n_pkts;

    uint16_t tid = rec->ip_version == 6 ? 257 : 256;
    size_t need = record_size(w, rec, &x);
    size_t set_hdr = (w->set_at && w->set_id == tid) ? 0 : 4;
    size_t base = w->len ? w->len : 16;
    if (16 + 4 + need > IPFIX_MAX_MESSAGE) {
        w->too_big++;
        return -1;
    }
    if (w->len && w->in_msg > 0 && base + set_hdr + need > w->budget)
        return 1;
    if (base + set_hdr + need > IPFIX_MAX_MESSAGE)
        return 1;
    start_message(w);
    if (set_hdr) {
        close_set(w);
        w->set_at = w->len;
        w->set_id = tid;
        put16(w->buf + w->len, tid);
        put16(w->buf + w->len + 2, 0);
        w->len += 4;
    }
    uint8_t *p = w->buf + w->len;
    size_t alen = rec->ip_version == 6 ? 16 : 4;
    memcpy(p, rec->sa, alen);
    memcpy(p + alen, rec->da, alen);
    p += 2 * alen;
    put16(p, rec->sp);
    put16(p + 2, rec->dp);
    put8(p + 4, rec->protocol);
    p += 5;
    put64(p, epoch_ms(rec->time_base_sec, rec->time_start_ns));
    put64(p + 8, epoch_ms(rec->time_base_sec, rec->time_end_ns));
    put_ntp_us(p + 16, rec->time_base_sec, rec->time_start_ns);
    put_ntp_us(p + 24, rec->time_base_sec, rec->time_end_ns);
    p += 32;
    put64(p, rec->out.packets);
    put64(p + 8, rec->out.ip_bytes);
    put64(p + 16, rec->in.packets);
    put64(p + 24, rec->in.ip_bytes);
    p += 32;
    put16(p, rec->out.tcp_flags);
    put16(p + 2, rec->in.tcp_flags);
    put8(p + 4, end_reason(rec->expire));
    put8(p + 5, 1);
    p += 6;
    put64(p, rec->out.bytes);
    put64(p + 8, rec->in.bytes);
    p += 16;
    if (w->profile & IPFIX_PROFILE_IDP) {
        for (int d = 0; d < 2; d++) {
            p = put_varlen_hdr(p, x.idp_len[d]);
            memcpy(p, x.idp[d], x.idp_len[d]);
            p += x.idp_len[d];
        }
    }
    if (w->profile & IPFIX_PROFILE_SPLT) {
        /* lengths (PEN 9 sequencePacketLengths), ms since the previous
         * packet (PEN 9 sequencePacketTimes, as the record's "ipt"), and
         * flowDirection (0: from sa, 1: from da) */
        p = put_varlen_hdr(p, 9 + 2u * x.n_splt);
        p += bl_hdr(p, ETA_SPLT_LENGTHS, 2, IPFIX_PEN_CISCO);
        for (uint32_t i = 0; i < x.n_splt; i++, p += 2)
            put16(p, rec->pkts[i].len > 0xffff ? 0xffff : rec->pkts[i].len);
        p = put_varlen_hdr(p, 9 + 2u * x.n_splt);
        p += bl_hdr(p, ETA_SPLT_TIMES, 2, IPFIX_PEN_CISCO);
        uint64_t prev = rec->time_start_ns;
        for (uint32_t i = 0; i < x.n_splt; i++, p += 2) {
            uint64_t ts = rec->pkts[i].ts_ns, ipt = ts > prev ? (ts - prev) / 1000000u : 0;
            if (ts > prev)
                prev = ts;
            put16(p, ipt > 0xffff ? 0xffff : (unsigned)ipt);
        }
        p = put_varlen_hdr(p, 5 + x.n_splt);
        p += bl_hdr(p, 61, 1, 0);
        for (uint32_t i = 0; i < x.n_splt; i++)
            put8(p++, rec->pkts[i].dir & 1);
    }
    if (w->profile & IPFIX_PROFILE_BD) {
        p = put_varlen_hdr(p, x.has_bd ? 9 + 4 * 256 : 9);
        p += bl_hdr(p, ETA_BD, 4, IPFIX_PEN_CISCO);
        if (x.has_bd)
            for (int i = 0; i < 256; i++, p += 4)
                put32(p, x.bd[i]);
    }
    w->len = (size_t)(p - w->buf);
    w->in_msg++;
    w->records++;
    return 0;
}

const uint8_t *ipfix_message(struct ipfix_writer *w, uint32_t export_time, size_t *len)
{
    if (w->len == 0)
        return NULL;
    close_set(w);
    put16(w->buf, IPFIX_VERSION);
    put16(w->buf + 2, (unsigned)w->len);
    put32(w->buf + 4, export_time);
    put32(w->buf + 8, w->seq);
    put32(w->buf + 12, w->domain);
    *len = w->len;
    return w->buf;
}

void ipfix_message_done(struct ipfix_writer *w)
{
    if (w->len) {
        w->seq += w->in_msg;
        w->messages++;
    }
    w->len = 0;
    w->in_msg = 0;
    w->set_at = 0;
}

/*
 * \summary: classic pcap and pcapng capture file reader
 *
 * Formats: the pcap file format (draft-ietf-opsawg-pcap) and pcapng
 * (draft-ietf-opsawg-pcapng).
 *
 * Classic pcap: a 24-byte file header, then records:
 *   +------------------+------------------+------------------+-------------+
 *   | ts seconds (4)   | ts us or ns (4)  | captured len (4) | orig len (4)| data...
 *   +------------------+------------------+------------------+-------------+
 * The magic number 0xa1b2c3d4 (microseconds) or 0xa1b23c4d (nanoseconds),
 * read in either byte order, gives the byte order of the whole file.
 *
 * pcapng: a sequence of blocks, each
 *   | block type (4) | total length (4) | body ... | total length (4) |
 * A Section Header Block (0x0a0d0d0a) starts each section and carries the
 * byte-order magic 0x1a2b3c4d; Interface Description Blocks (1) declare
 * interfaces (link type, snap length, options if_tsresol and if_tsoffset);
 * Enhanced Packet Blocks (6), Simple Packet Blocks (3) and obsolete Packet
 * Blocks (2) carry packets.  Other blocks are skipped.
 *
 * The reader keeps a window of the file in a buffer and never trusts a
 * length before checking it against the bytes really present and a fixed
 * cap (MAX_BLOCK).  Headers, blocks and options are read through the
 * cursor (cursor.h), in the byte order the file declares.
 */
#include "capfile.h"

#include "cursor.h"

#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_BLOCK (16u << 20)   /* largest record or block accepted */
#define MAX_INTERFACES 4096
#define BUF_INITIAL (1u << 20)

struct ng_interface {
    int linktype;
    uint32_t snaplen;
    uint64_t units;      /* timestamp units per second */
    int64_t offset_s;    /* if_tsoffset */
};

struct capfile {
    int fd;
    bool own_fd;
    uint8_t *buf;
    size_t cap;          /* buffer size */
    struct cap_bufs bufs;/* the caller's buffers (get NULL: none) */
    bool lent;           /* buf is the provider's, not ours */
    size_t start, end;   /* unread bytes are buf[start, end) */
    uint64_t offset;     /* file offset of buf[start] */
    bool eof;
    bool pcapng;
    bool big_endian;     /* values are big-endian */
    /* classic pcap */
    bool nsec;
    int linktype;
    /* pcapng */
    struct ng_interface *ifs;
    size_t n_if;
    uint64_t last_ts;    /* ns of the last packet, for blocks without a time */
    int64_t last_sec;    /* ... and its exact time */
    uint32_t last_nsec;
    const atomic_int *stop;            /* set by a signal handler: stop reading */
    bool interrupted;
    char err[256];
    uint64_t err_off;
};

/* Numbers in the file's byte order. */
static uint32_t rd32(const struct capfile *cf, struct cursor *c)
{
    return cur_u32_order(c, cf->big_endian);
}

static uint16_t rd16(const struct capfile *cf, struct cursor *c)
{
    return cur_u16_order(c, cf->big_endian);
}

static enum cap_status damaged(struct capfile *cf, uint64_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum cap_status damaged(struct capfile *cf, uint64_t off, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cf->err, sizeof cf->err, fmt, ap);
    va_end(ap);
    cf->err_off = off;
    return CAP_DAMAGED;
}

/* Move the unread bytes into a new buffer: the provider's when it gives
 * one of n bytes, else one of ours; the old one goes back (put) or is
 * freed.  False when there is no memory. */
static bool switch_buffer(struct capfile *cf, size_t n)
{
    size_t left = cf->end - cf->start, ncap = 0;
    bool lent = false;
    uint8_t *nb = cf->bufs.get ? cf->bufs.get(cf->bufs.user, n, &ncap) : NULL;
    if (nb) {
        lent = true;
    } else {
        ncap = BUF_INITIAL;
        while (ncap < n)
            ncap *= 2;
        if (!(nb = malloc(ncap)))
            return false;
    }
    memcpy(nb, cf->buf + cf->start, left);
    if (cf->lent)
        cf->bufs.put(cf->bufs.user, cf->buf);
    else
        free(cf->buf);
    cf->buf = nb;
    cf->cap = ncap;
    cf->lent = lent;
    cf->start = 0;
    cf->end = left;
    return true;
}

/* Make n bytes available at buf + start if the file has them.
 * Returns how many are available (less than n only at end of file). */
static __attribute__((noinline)) size_t ensure_read(struct capfile *cf, size_t n)
{
    while (cf->end - cf->start < n && !cf->eof) {
        if ((cf->lent || cf->bufs.get) && (cf->cap - cf->start < n || cf->end == cf->cap)) {
            /* bytes before start may still be in use: never move them */
            if (!switch_buffer(cf, n))
                return cf->end - cf->start;
        } else if (cf->start > 0 && (cf->cap - cf->start < n || cf->end == cf->cap)) {
            memmove(cf->buf, cf->buf + cf->start, cf->end - cf->start);
            cf->end -= cf->start;
            cf->start = 0;
        }
        if (cf->cap < n) {
            size_t ncap = cf->cap;
            while (ncap < n)
                ncap *= 2;
            uint8_t *nb = realloc(cf->buf, ncap);
            if (!nb)
                return cf->end - cf->start;
            cf->buf = nb;
            cf->cap = ncap;
        }
        ssize_t r = read(cf->fd, cf->buf + cf->end, cf->cap - cf->end);
        if (r < 0) {
            if (errno == EINTR) {
                if (cf->stop && *cf->stop) {
                    cf->interrupted = true; /* reported as the end of input */
                    return cf->end - cf->start;
                }
                continue;
            }
            cf->eof = true;
            snprintf(cf->err, sizeof cf->err, "read error: %s", strerror(errno));
        } else if (r == 0) {
            cf->eof = true;
        } else {
            cf->end += (size_t)r;
        }
    }
    return cf->end - cf->start;
}

/* The common case inline: the bytes are already in the window. */
static inline size_t ensure(struct capfile *cf, size_t n)
{
    size_t left = cf->end - cf->start;
    return left >= n ? left : ensure_read(cf, n);
}

static void consume(struct capfile *cf, size_t n)
{
    cf->start += n;
    cf->offset += n;
}

static uint64_t pow_u64(uint64_t b, unsigned e)
{
    uint64_t r = 1;
    while (e--)
        r *= b;
    return r;
}

/* Times are kept as nanoseconds since 1970 in 64 bits, which ends in the
 * year 2554; a later time stamp saturates there instead of wrapping. */
#define TS_MAX_SEC (UINT64_MAX / 1000000000u - 1)

static uint64_t to_ns(uint64_t ts, uint64_t units)
{
    uint64_t sec = ts / units;
    if (sec > TS_MAX_SEC)
        return TS_MAX_SEC * 1000000000u;
    unsigned __int128 frac = (unsigned __int128)(ts % units) * 1000000000u / units;
    return sec * 1000000000u + (uint64_t)frac;
}

/* ---------------------------------------------------------------------
 * Classic pcap
 */
static enum cap_status pcap_next_rec(struct capfile *cf, struct cap_packet *pkt)
{
    size_t avail = ensure(cf, 16);
    if (avail == 0)
        return cf->err[0] ? damaged(cf, cf->offset, "%s", cf->err) : CAP_EOF;
    if (avail < 16)
        return damaged(cf, cf->offset, "file ends inside a packet record header");
    struct cursor h;
    cur_init(&h, cf->buf + cf->start, avail);
    uint32_t sec = rd32(cf, &h), frac = rd32(cf, &h);
    uint32_t incl = rd32(cf, &h), orig = rd32(cf, &h);
    if (incl > MAX_BLOCK)
        return damaged(cf, cf->offset, "packet record claims %u captured bytes (limit %u)", incl,
                       MAX_BLOCK);
    if (ensure(cf, 16 + (size_t)incl) < 16 + (size_t)incl)
        return damaged(cf, cf->offset, "file ends inside a packet (record of %u bytes)", incl);
    pkt->data = cf->buf + cf->start + 16;
    pkt->buf = cf->lent ? cf->buf : NULL;
    pkt->caplen = incl;
    pkt->wirelen = orig < incl ? incl : orig;
    uint64_t frac_ns = cf->nsec ? frac : (uint64_t)frac * 1000u;
    pkt->ts = (uint64_t)sec * 1000000000u + frac_ns; /* < 2^63 */
    pkt->sec = (int64_t)sec + (int64_t)(frac_ns / 1000000000u); /* a fraction >= 1 s carries */
    pkt->nsec = (uint32_t)(frac_ns % 1000000000u);
    cf->last_ts = pkt->ts;
    cf->last_sec = pkt->sec;
    cf->last_nsec = pkt->nsec;
    pkt->linktype = cf->linktype;
    pkt->interface = 0;
    consume(cf, 16 + (size_t)incl);
    return CAP_PACKET;
}

/* ---------------------------------------------------------------------
 * pcapng
 */
/* The byte-order magic of a section header block; c is just past the
 * block type (the block length, in the order still unknown, comes first). */
static uint32_t ng_bom(struct cursor c)
{
    cur_skip(&c, 4);
    return cur_u32le(&c);
}

static enum cap_status ng_section(struct capfile *cf, struct cursor b)
{
    uint32_t bom = ng_bom(b);
    if (bom == 0x1a2b3c4d)
        cf->big_endian = false;
    else if (bom == 0x4d3c2b1a)
        cf->big_endian = true;
    else
        return damaged(cf, cf->offset, "section header with a bad byte-order magic");
    cf->n_if = 0; /* interfaces are per section */
    return CAP_EOF;
}

/* if_tsresol (option 9): a power of 10, or of 2 when the top bit is set. */
static enum cap_status ng_tsresol(struct capfile *cf, struct ng_interface *ifc, uint8_t r)
{
    if (r & 0x80) {
        if ((r & 0x7f) > 63)
            return damaged(cf, cf->offset, "if_tsresol 2^-%u out of range", r & 0x7f);
        ifc->units = 1ull << (r & 0x7f);
    } else {
        if (r > 19)
            return damaged(cf, cf->offset, "if_tsresol 10^-%u out of range", r);
        ifc->units = pow_u64(10, r);
    }
    if (ifc->units == 0)
        ifc->units = 1;
    return CAP_EOF;
}

static enum cap_status ng_interface(struct capfile *cf, struct cursor *body)
{
    if (cur_left(body) < 8)
        return damaged(cf, cf->offset, "interface description block too short");
    if (cf->n_if >= MAX_INTERFACES)
        return damaged(cf, cf->offset, "more than %d interfaces", MAX_INTERFACES);
    if (!cf->ifs) {
        cf->ifs = calloc(MAX_INTERFACES, sizeof *cf->ifs);
        if (!cf->ifs)
            return damaged(cf, cf->offset, "out of memory");
    }
    struct ng_interface *ifc = &cf->ifs[cf->n_if];
    ifc->linktype = rd16(cf, body);
    cur_skip(body, 2); /* reserved */
    ifc->snaplen = rd32(cf, body);
    ifc->units = 1000000u;
    ifc->offset_s = 0;
    /* options: code, length, value padded to 4 bytes; a padding that runs
     * past the block ends the list */
    while (cur_left(body) >= 4) {
        uint16_t code = rd16(cf, body), olen = rd16(cf, body);
        if (code == 0)
            break;
        struct cursor v = cur_sub(body, olen);
        if (!cur_ok(body))
            return damaged(cf, cf->offset, "interface option longer than its block");
        cur_skip(body, (4 - olen % 4) % 4);
        if (code == 9 && olen >= 1) {
            if (ng_tsresol(cf, ifc, cur_u8(&v)) == CAP_DAMAGED)
                return CAP_DAMAGED;
        } else if (code == 14 && olen >= 8) {
            uint64_t hi = rd32(cf, &v), lo = rd32(cf, &v);
            uint64_t off = cf->big_endian ? (hi << 32) | lo : (lo << 32) | hi;
            ifc->offset_s = (int64_t)off;
        }
    }
    if (cf->n_if == 0 && cf->linktype < 0)
        cf->linktype = ifc->linktype;
    cf->n_if++;
    return CAP_EOF;
}

static enum cap_status ng_packet(struct capfile *cf, uint32_t type, struct cursor *body,
                                 struct cap_packet *pkt)
{
    size_t blen = cur_left(body);
    uint32_t ifid, caplen, origlen;
    uint64_t ts = 0;
    const uint8_t *data;
    if (type == 6 || type == 2) { /* enhanced / obsolete packet block */
        if (blen < 20)
            return damaged(cf, cf->offset, "packet block too short");
        if (type == 6) {
            ifid = rd32(cf, body);
        } else {
            ifid = rd16(cf, body);
            cur_skip(body, 2); /* drops count */
        }
        uint64_t hi = rd32(cf, body), lo = rd32(cf, body);
        ts = (hi << 32) | lo; /* high word first in either byte order */
        caplen = rd32(cf, body);
        origlen = rd32(cf, body);
        data = cur_bytes(body, caplen);
        if (!data)
            return damaged(cf, cf->offset, "packet of %u bytes in a block of %zu", caplen, blen);
    } else { /* simple packet block: interface 0, no time stamp */
        if (blen < 4)
            return damaged(cf, cf->offset, "simple packet block too short");
        ifid = 0;
        origlen = rd32(cf, body);
        caplen = (uint32_t)cur_left(body);
        if (origlen < caplen)
            caplen = origlen;
        if (cf->n_if > 0 && cf->ifs[0].snaplen && caplen > cf->ifs[0].snaplen)
            caplen = cf->ifs[0].snaplen;
        data = cur_bytes(body, caplen);
    }
    if (ifid >= cf->n_if)
        return damaged(cf, cf->offset, "packet for interface %u, which was not described", ifid);
    const struct ng_interface *ifc = &cf->ifs[ifid];
    pkt->data = data;
    pkt->buf = cf->lent ? cf->buf : NULL;
    pkt->caplen = caplen;
    pkt->wirelen = origlen < caplen ? caplen : origlen;
    if (type == 3) { /* a simple packet block has no time stamp: keep the clock */
        pkt->ts = cf->last_ts;
        pkt->sec = cf->last_sec;
        pkt->nsec = cf->last_nsec;
    } else {
        pkt->ts = to_ns(ts, ifc->units) +
                  (uint64_t)((ifc->offset_s > -(int64_t)TS_MAX_SEC && ifc->offset_s < (int64_t)TS_MAX_SEC)
                                 ? (uint64_t)ifc->offset_s * 1000000000u /* mod 2^64: ts wraps */
                                 : 0);
        /* the exact time: whole units, the fraction, the offset (if_tsoffset) */
        __int128 s = (__int128)(ts / ifc->units) + ifc->offset_s;
        if (s > CAP_SEC_MAX)
            s = CAP_SEC_MAX;
        if (s < -CAP_SEC_MAX)
            s = -CAP_SEC_MAX;
        pkt->sec = (int64_t)s;
        pkt->nsec = (uint32_t)((unsigned __int128)(ts % ifc->units) * 1000000000u / ifc->units);
    }
    cf->last_ts = pkt->ts;
    cf->last_sec = pkt->sec;
    cf->last_nsec = pkt->nsec;
    pkt->linktype = ifc->linktype;
    pkt->interface = ifid;
    return CAP_PACKET;
}

static enum cap_status pcapng_next_block(struct capfile *cf, struct cap_packet *pkt)
{
    for (;;) {
        size_t avail = ensure(cf, 12);
        if (avail == 0)
            return cf->err[0] ? damaged(cf, cf->offset, "%s", cf->err) : CAP_EOF;
        if (avail < 12)
            return damaged(cf, cf->offset, "file ends inside a block header");
        struct cursor h;
        cur_init(&h, cf->buf + cf->start, avail);
        uint32_t type = rd32(cf, &h);
        if (type == 0x0a0d0d0a) { /* the same in both byte orders */
            enum cap_status st = ng_section(cf, h);
            if (st == CAP_DAMAGED)
                return st;
        }
        uint32_t len = rd32(cf, &h); /* in the section's byte order */
        if (len < 12 || len % 4 != 0 || len > MAX_BLOCK)
            return damaged(cf, cf->offset, "block of type 0x%08x has an impossible length %u", type,
                           len);
        if (ensure(cf, len) < len)
            return damaged(cf, cf->offset, "file ends inside a block of %u bytes", len);
        struct cursor b;
        cur_init(&b, cf->buf + cf->start, len);
        cur_skip(&b, 8);
        struct cursor body = cur_sub(&b, len - 12);
        if (rd32(cf, &b) != len)
            return damaged(cf, cf->offset, "block lengths at start and end differ");
        enum cap_status st = CAP_EOF;
        switch (type) {
        case 1:
            st = ng_interface(cf, &body);
            break;
        case 2: case 3: case 6:
            st = ng_packet(cf, type, &body, pkt);
            break;
        default:
            break; /* section header, statistics, name resolution, ... */
        }
        if (st == CAP_DAMAGED)
            return st;
        consume(cf, len);
        if (st == CAP_PACKET)
            return st;
    }
}

/* ---------------------------------------------------------------------
 * Opening
 */
static struct capfile *open_common(struct capfile *cf, const char *path, char *err, size_t errlen);

struct capfile *capfile_open_mem(const uint8_t *data, size_t len, char *err, size_t errlen)
{
    struct capfile *cf = calloc(1, sizeof *cf);
    if (!cf) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    cf->linktype = -1;
    cf->fd = -1;
    cf->cap = len ? len : 1;
    cf->buf = malloc(cf->cap);
    if (!cf->buf) {
        snprintf(err, errlen, "out of memory");
        free(cf);
        return NULL;
    }
    memcpy(cf->buf, data, len);
    cf->end = len;
    cf->eof = true; /* everything is already in the buffer */
    return open_common(cf, "(memory)", err, errlen);
}

struct capfile *capfile_open(const char *path, char *err, size_t errlen)
{
    struct capfile *cf = calloc(1, sizeof *cf);
    if (!cf) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    cf->linktype = -1;
    if (strcmp(path, "-") == 0) {
        cf->fd = 0;
    } else {
        cf->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (cf->fd < 0) {
            snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
            free(cf);
            return NULL;
        }
        cf->own_fd = true;
    }
    cf->cap = BUF_INITIAL;
    cf->buf = malloc(cf->cap);
    if (!cf->buf) {
        snprintf(err, errlen, "out of memory");
        capfile_close(cf);
        return NULL;
    }
    return open_common(cf, path, err, errlen);
}

/* Recognise the file format from the first bytes. */
static struct capfile *open_common(struct capfile *cf, const char *path, char *err, size_t errlen)
{
    size_t avail = ensure(cf, 24);
    if (cf->err[0]) {
        snprintf(err, errlen, "%s: %s", path, cf->err);
        goto fail;
    }
    if (avail == 0) {
        snprintf(err, errlen, "%s: empty file (no capture file header)", path);
        goto fail;
    }
    struct cursor h;
    cur_init(&h, cf->buf, avail);
    uint32_t magic_le = cur_u32le(&h); /* 0 if the file is shorter */
    switch (magic_le) {
    case 0xa1b2c3d4: cf->big_endian = false; cf->nsec = false; break;
    case 0xd4c3b2a1: cf->big_endian = true; cf->nsec = false; break;
    case 0xa1b23c4d: cf->big_endian = false; cf->nsec = true; break;
    case 0x4d3cb2a1: cf->big_endian = true; cf->nsec = true; break;
    case 0x0a0d0d0a: cf->pcapng = true; break;
    default:
        snprintf(err, errlen, "%s: not a pcap or pcapng capture file", path);
        goto fail;
    }
    if (cf->pcapng) {
        if (avail < 12) {
            snprintf(err, errlen, "%s: truncated pcapng section header", path);
            goto fail;
        }
        uint32_t bom = ng_bom(h);
        if (bom != 0x1a2b3c4d && bom != 0x4d3c2b1a) {
            snprintf(err, errlen, "%s: pcapng section header with a bad byte-order magic", path);
            goto fail;
        }
        return cf;
    }
    if (avail < 24) {
        snprintf(err, errlen, "%s: truncated pcap file header (%zu of 24 bytes)", path, avail);
        goto fail;
    }
    cur_skip(&h, 16); /* version, reserved, snap length */
    cf->linktype = (int)(rd32(cf, &h) & 0xffff);
    consume(cf, 24);
    return cf;
fail:
    capfile_close(cf);
    return NULL;
}

enum cap_status capfile_next(struct capfile *cf, struct cap_packet *pkt)
{
    enum cap_status st = cf->pcapng ? pcapng_next_block(cf, pkt) : pcap_next_rec(cf, pkt);
    if (cf->interrupted)
        return CAP_EOF;
    return st;
}

void capfile_set_bufs(struct capfile *cf, const struct cap_bufs *bufs)
{
    if (bufs && bufs->get) {
        cf->bufs = *bufs;
        return;
    }
    cf->bufs.get = NULL;
    if (cf->lent && !switch_buffer(cf, cf->end - cf->start)) {
        /* no memory for the unread bytes: the input ends here */
        cf->bufs.put(cf->bufs.user, cf->buf);
        cf->buf = NULL;
        cf->cap = cf->start = cf->end = 0;
        cf->lent = false;
        cf->eof = true;
    }
}

void capfile_set_stop_flag(struct capfile *cf, const atomic_int *flag)
{
    cf->stop = flag;
}

const char *capfile_error(const struct capfile *cf) { return cf->err; }
uint64_t capfile_error_offset(const struct capfile *cf) { return cf->err_off; }
int capfile_linktype(const struct capfile *cf) { return cf->linktype; }
bool capfile_is_pcapng(const struct capfile *cf) { return cf->pcapng; }
uint64_t capfile_offset(const struct capfile *cf) { return cf->offset; }

void capfile_close(struct capfile *cf)
{
    if (!cf)
        return;
    if (cf->own_fd)
        close(cf->fd);
    if (cf->lent)
        cf->bufs.put(cf->bufs.user, cf->buf);
    else
        free(cf->buf);
    free(cf->ifs);
    free(cf);
}

/* test_capfile.c - pcap (both byte orders, us/ns) and pcapng (two
 * interfaces with different link types and time resolutions), damage. */
#include "capfile.h"
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct buf {
    uint8_t b[4096];
    size_t n;
};

static void w32(struct buf *x, uint32_t v, bool be)
{
    for (int i = 0; i < 4; i++)
        x->b[x->n++] = (uint8_t)(be ? v >> (24 - 8 * i) : v >> (8 * i));
}
static void w16(struct buf *x, uint16_t v, bool be)
{
    x->b[x->n++] = (uint8_t)(be ? v >> 8 : v);
    x->b[x->n++] = (uint8_t)(be ? v : v >> 8);
}
static void wbytes(struct buf *x, const void *p, size_t n)
{
    memcpy(x->b + x->n, p, n);
    x->n += n;
}

static char *tmpfile_with(const struct buf *x, size_t n)
{
    static char path[64];
    strcpy(path, "/tmp/joy-unit-cap-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0)
        return NULL;
    if (write(fd, x->b, n) != (ssize_t)n) {
        close(fd);
        return NULL;
    }
    close(fd);
    return path;
}

static void pcap_file(struct buf *x, bool be, bool ns)
{
    x->n = 0;
    w32(x, ns ? 0xa1b23c4d : 0xa1b2c3d4, be);
    w16(x, 2, be);
    w16(x, 4, be);
    w32(x, 0, be);
    w32(x, 0, be);
    w32(x, 65535, be);
    w32(x, 101, be);
    for (uint32_t i = 0; i < 2; i++) {
        w32(x, 1500000000 + i, be);
        w32(x, ns ? 123456789 : 123456, be);
        w32(x, 4, be);
        w32(x, 60, be);
        wbytes(x, "\x45\x00\x00\x3c", 4);
    }
}

static void test_pcap_variants(void)
{
    for (int v = 0; v < 4; v++) {
        bool be = v & 1, ns = v & 2;
        struct buf x;
        pcap_file(&x, be, ns);
        char *path = tmpfile_with(&x, x.n);
        char err[256];
        struct capfile *cf = capfile_open(path, err, sizeof err);
        CHECK(cf != NULL);
        if (!cf)
            continue;
        CHECK(capfile_linktype(cf) == 101);
        struct cap_packet p;
        CHECK(capfile_next(cf, &p) == CAP_PACKET);
        CHECK(p.caplen == 4 && p.wirelen == 60 && p.linktype == 101 && p.data[0] == 0x45);
        CHECK(p.ts == 1500000000ull * 1000000000ull + (ns ? 123456789u : 123456000u));
        CHECK(capfile_next(cf, &p) == CAP_PACKET);
        CHECK(capfile_next(cf, &p) == CAP_EOF);
        capfile_close(cf);
        /* the same file cut in the middle of the second packet */
        path = tmpfile_with(&x, x.n - 2);
        cf = capfile_open(path, err, sizeof err);
        CHECK(capfile_next(cf, &p) == CAP_PACKET);
        CHECK(capfile_next(cf, &p) == CAP_DAMAGED);
        CHECK(capfile_error_offset(cf) == 24 + 20);
        capfile_close(cf);
        unlink(path);
    }
}

static void test_bad_files(void)
{
    struct buf x = {.n = 0};
    char err[256];
    char *path = tmpfile_with(&x, 0);
    CHECK(capfile_open(path, err, sizeof err) == NULL && strstr(err, "empty"));
    wbytes(&x, "GARBAGE GARBAGE GARBAGE GARBAGE", 31);
    path = tmpfile_with(&x, x.n);
    CHECK(capfile_open(path, err, sizeof err) == NULL && strstr(err, "not a pcap"));
    pcap_file(&x, false, false);
    path = tmpfile_with(&x, 10);
    CHECK(capfile_open(path, err, sizeof err) == NULL && strstr(err, "truncated"));
    /* a record claiming 2 GB */
    pcap_file(&x, false, false);
    x.b[24 + 8] = 0;
    x.b[24 + 9] = 0;
    x.b[24 + 10] = 0;
    x.b[24 + 11] = 0x80;
    path = tmpfile_with(&x, x.n);
    struct capfile *cf = capfile_open(path, err, sizeof err);
    struct cap_packet p;
    CHECK(cf && capfile_next(cf, &p) == CAP_DAMAGED && capfile_error_offset(cf) == 24);
    capfile_close(cf);
    CHECK(capfile_open("/nonexistent/x.pcap", err, sizeof err) == NULL && strstr(err, "cannot open"));
    unlink(path);
}

static void block(struct buf *x, uint32_t type, const struct buf *body, bool be)
{
    uint32_t len = (uint32_t)(12 + ((body->n + 3) & ~(size_t)3));
    w32(x, type, be);
    w32(x, len, be);
    wbytes(x, body->b, body->n);
    while ((x->n & 3) != 0)
        x->b[x->n++] = 0;
    w32(x, len, be);
}

static void test_pcapng(void)
{
    for (int be = 0; be < 2; be++) {
        struct buf x = {.n = 0}, b = {.n = 0};
        w32(&b, 0x1a2b3c4d, be); w16(&b, 1, be); w16(&b, 0, be);
        w32(&b, 0xffffffff, be); w32(&b, 0xffffffff, be);
        block(&x, 0x0a0d0d0a, &b, be);
        b.n = 0; w16(&b, 1, be); w16(&b, 0, be); w32(&b, 0, be);          /* if 0: Ethernet, us */
        block(&x, 1, &b, be);
        b.n = 0; w16(&b, 101, be); w16(&b, 0, be); w32(&b, 0, be);        /* if 1: raw IP, ns */
        w16(&b, 9, be); w16(&b, 1, be); b.b[b.n++] = 9; b.n += 3;
        w16(&b, 0, be); w16(&b, 0, be);
        block(&x, 1, &b, be);
        uint64_t t = 1500000000ull * 1000000000ull + 5;
        b.n = 0; w32(&b, 1, be); w32(&b, (uint32_t)(t >> 32), be); w32(&b, (uint32_t)t, be);
        w32(&b, 3, be); w32(&b, 40, be); wbytes(&b, "\x45\x00\x00", 3);
        block(&x, 6, &b, be);
        uint64_t u = 1500000001ull * 1000000ull + 7;
        b.n = 0; w32(&b, 0, be); w32(&b, (uint32_t)(u >> 32), be); w32(&b, (uint32_t)u, be);
        w32(&b, 14, be); w32(&b, 60, be); wbytes(&b, "ABCDEFGHIJKLMN", 14);
        block(&x, 6, &b, be);
        b.n = 0; w32(&b, 99, be); /* a custom block: skipped */
        block(&x, 0x40000bad, &b, be);
        char *path = tmpfile_with(&x, x.n);
        char err[256];
        struct capfile *cf = capfile_open(path, err, sizeof err);
        CHECK(cf && capfile_is_pcapng(cf));
        if (!cf)
            continue;
        struct cap_packet p;
        CHECK(capfile_next(cf, &p) == CAP_PACKET);
        CHECK(p.linktype == 101 && p.interface == 1 && p.caplen == 3 && p.wirelen == 40 && p.ts == t);
        CHECK(capfile_next(cf, &p) == CAP_PACKET);
        CHECK(p.linktype == 1 && p.interface == 0 && p.caplen == 14 && p.ts == u * 1000);
        CHECK(capfile_next(cf, &p) == CAP_EOF);
        capfile_close(cf);
        /* damage: the trailing length of the last packet block is wrong */
        x.b[x.n - 16 - 2] ^= 0x40;
        path = tmpfile_with(&x, x.n);
        cf = capfile_open(path, err, sizeof err);
        CHECK(capfile_next(cf, &p) == CAP_PACKET);
        CHECK(capfile_next(cf, &p) == CAP_DAMAGED);
        capfile_close(cf);
        unlink(path);
    }
}

/* Buffers lent by the caller (capfile_set_bufs, the zero-copy reader of
 * threads=N): a pool of small buffers; put() poisons a buffer, so a packet
 * read from a buffer already given back would not match its pattern. */
enum { LB_SIZE = 65536, LB_N = 6 };
struct lender {
    uint8_t mem[LB_N][LB_SIZE];
    bool out[LB_N];
    int n_out, gets, puts;
};

static void *lb_get(void *user, size_t need, size_t *cap)
{
    struct lender *l = user;
    if (need > LB_SIZE)
        return NULL;
    for (int i = 0; i < LB_N; i++) {
        if (!l->out[i]) {
            l->out[i] = true;
            l->n_out++;
            l->gets++;
            *cap = LB_SIZE;
            return l->mem[i];
        }
    }
    return NULL;
}

static void lb_put(void *user, void *buf)
{
    struct lender *l = user;
    int i = (int)(((uint8_t *)buf - l->mem[0]) / LB_SIZE);
    CHECK(i >= 0 && i < LB_N && l->out[i] && (uint8_t *)buf == l->mem[i]);
    memset(buf, 0xee, LB_SIZE);
    l->out[i] = false;
    l->n_out--;
    l->puts++;
}

static uint32_t lb_len(uint32_t i)
{
    return i == 1200 ? 200000 : 1 + (i * 7919u) % 3000;   /* one record larger than a buffer */
}

static bool lb_match(const struct cap_packet *p, uint32_t i)
{
    if (p->caplen != lb_len(i))
        return false;
    for (uint32_t k = 0; k < p->caplen; k++)
        if (p->data[k] != (uint8_t)(i + k))
            return false;
    return true;
}

static void test_lent_buffers(void)
{
    enum { N = 2000 };
    char path[] = "/tmp/joy-unit-lent-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    FILE *f = fdopen(fd, "wb");
    const uint32_t hdr[6] = {0xa1b2c3d4, 0x00040002, 0, 0, 262144, 1};
    fwrite(hdr, 4, 6, f);
    for (uint32_t i = 0; i < N; i++) {
        uint32_t n = lb_len(i), rec[4] = {1500000000 + i, 0, n, n};
        fwrite(rec, 4, 4, f);
        for (uint32_t k = 0; k < n; k++)
            fputc((uint8_t)(i + k), f);
    }
    fclose(f);
    static struct lender l;
    memset(&l, 0, sizeof l);
    char err[256];
    struct capfile *cf = capfile_open(path, err, sizeof err);
    CHECK(cf != NULL);
    if (!cf)
        return;
    struct cap_bufs b = {lb_get, lb_put, &l};
    capfile_set_bufs(cf, &b);
    struct cap_packet p, prev = {0};
    uint32_t i = 0, in_lent = 0, own = 0;
    bool ok = true;
    while (capfile_next(cf, &p) == CAP_PACKET) {
        ok = ok && lb_match(&p, i);
        if (p.buf) {
            in_lent++;
            ok = ok && p.data >= (const uint8_t *)p.buf &&
                 p.data + p.caplen <= (const uint8_t *)p.buf + LB_SIZE;
        } else {
            own++;
        }
        /* the packet before stays where it was while its buffer is lent */
        if (prev.buf && l.out[((uint8_t *)prev.buf - l.mem[0]) / LB_SIZE])
            ok = ok && lb_match(&prev, i - 1);
        prev = p;
        if (++i == 1500) {
            capfile_set_bufs(cf, NULL);   /* every lent buffer back at once */
            CHECK(l.n_out == 0);
            prev.buf = NULL;
        }
    }
    CHECK(ok);
    CHECK(i == N);
    /* own buffers: the first window (read before the lender came), the
     * long record and the window after it, everything after the detach */
    CHECK(in_lent > 400 && own > 500);
    CHECK(l.gets > 10 && l.gets == l.puts && l.n_out == 0);
    capfile_close(cf);
    unlink(path);
}

void run_capfile_tests(void)
{
    TEST_RUN(test_lent_buffers);
    TEST_RUN(test_pcap_variants);
    TEST_RUN(test_bad_files);
    TEST_RUN(test_pcapng);
}

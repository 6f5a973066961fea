/*
 * reasm_unit.c - unit tests of the TCP reassembler (src/proto/reasm.c).
 *
 * Built and run by test/test_tls.py:
 *   cc -std=c11 -Isrc/proto -Isrc/engine -Isrc/util test/reasm_unit.c src/proto/reasm.c -o reasm_unit && ./reasm_unit
 * Prints one line per failed check and a last line "N passed, N failed".
 */
#include "reasm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed, failed;

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        if (cond) {                                                        \
            passed++;                                                      \
        } else {                                                           \
            failed++;                                                      \
            printf("FAIL %s:%d: ", __func__, __LINE__);                    \
            printf(__VA_ARGS__);                                           \
            printf("\n");                                                  \
        }                                                                  \
    } while (0)

/* A consumer that collects the stream.  mode 0: takes everything;
 * mode 1: takes whole "records" of rec bytes only; mode 2: random sized
 * bites; mode 3: never takes anything (to hit the cap); mode 4: TLS-like
 * header walker: takes a 5-byte header "LLLL?" and skips the body. */
struct sink {
    uint8_t out[1 << 20];
    size_t n;
    int mode;
    size_t rec;
    unsigned rnd;
    uint64_t last_ts;
    size_t calls;
    /* mode 4 */
    uint32_t bodies[4096];
    size_t nbodies;
};

static unsigned rnd(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (*s >> 16) & 0x7fff;
}

static size_t consume(void *ctx, const uint8_t *data, size_t len, uint64_t ts)
{
    struct sink *k = ctx;
    size_t take = 0;
    k->calls++;
    k->last_ts = ts;
    switch (k->mode) {
    case 0: take = len; break;
    case 1: take = len - len % k->rec; break;
    case 2: {
        take = rnd(&k->rnd) % (len + 1);
        if (rnd(&k->rnd) % 4 == 0)
            take = len;
        break;
    }
    case 3: return 0;
    case 4: {
        size_t used = 0;
        while (len - used >= 5) {
            uint32_t body = ((uint32_t)data[used] << 8) | data[used + 1];
            if (k->nbodies < 4096)
                k->bodies[k->nbodies++] = body;
            used += 5 + body;
            if (used > len)
                return used; /* skip the rest of the body */
        }
        return used;
    }
    }
    if (take > len)
        take = len;
    if (k->n + take <= sizeof k->out) {
        memcpy(k->out + k->n, data, take);
        k->n += take;
    }
    return take;
}

static struct sink *sink_new(int mode)
{
    struct sink *k = calloc(1, sizeof *k);
    k->mode = mode;
    k->rec = 7;
    k->rnd = 1;
    return k;
}

static void fill(uint8_t *b, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(seed * 31 + i * 7 + (i >> 8));
}

static void feed(struct reasm *r, struct sink *k, uint32_t isn, const uint8_t *stream,
                 uint32_t off, uint32_t len)
{
    reasm_feed(r, isn + off, false, stream + off, len, len, off, consume, k);
}

static void test_in_order(void)
{
    uint8_t s[3000];
    fill(s, sizeof s, 1);
    struct sink *k = sink_new(0);
    struct reasm r;
    reasm_init(&r, 65536);
    for (uint32_t off = 0; off < 3000; off += 100)
        feed(&r, k, 1000, s, off, 100);
    CHECK(k->n == 3000 && memcmp(k->out, s, 3000) == 0, "in-order stream differs (%zu bytes)", k->n);
    CHECK(r.buf == NULL && r.kept == 0, "nothing should be kept");
    CHECK(reasm_running(&r), "state %d", r.state);
    reasm_free(&r);
    free(k);
}

static void test_out_of_order(void)
{
    uint8_t s[1000];
    fill(s, sizeof s, 2);
    struct sink *k = sink_new(0);
    struct reasm r;
    reasm_init(&r, 65536);
    reasm_start(&r, 5000);
    uint32_t order[] = {300, 100, 700, 0, 500, 200, 900, 400, 800, 600};
    for (size_t i = 0; i < 10; i++) {
        feed(&r, k, 5000, s, order[i], 100);
        if (order[i] == 300)
            CHECK(k->n == 0 && r.nseg == 1, "nothing deliverable yet (n=%zu nseg=%u)", k->n, r.nseg);
    }
    CHECK(k->n == 1000 && memcmp(k->out, s, 1000) == 0, "reordered stream differs (%zu)", k->n);
    CHECK(r.nseg == 0 && r.queued == 0, "queue not empty");
    reasm_free(&r);
    free(k);
}

static void test_retransmit_and_overlap(void)
{
    uint8_t s[1000], junk[1000];
    fill(s, sizeof s, 3);
    memset(junk, 0xee, sizeof junk);
    struct sink *k = sink_new(0);
    struct reasm r;
    reasm_init(&r, 65536);
    reasm_start(&r, 0);
    feed(&r, k, 0, s, 0, 200);
    feed(&r, k, 0, s, 0, 200);           /* exact retransmission */
    feed(&r, k, 0, s, 100, 50);          /* old data inside */
    feed(&r, k, 0, s, 150, 100);         /* overlaps the delivered end */
    CHECK(k->n == 250 && memcmp(k->out, s, 250) == 0, "after overlap n=%zu", k->n);
    /* queued segments: 400-500 first, then a different copy of 350-550:
     * the queued copy wins where they overlap */
    feed(&r, k, 0, s, 400, 100);
    reasm_feed(&r, 350, false, junk, 200, 200, 0, consume, k); /* 350-550, junk content */
    CHECK(r.nseg == 1 && r.queued == 200, "350-550 queued as one coalesced segment (%u, %u)", r.nseg,
          r.queued);
    /* fills 250-400 in order: its own bytes are delivered, the queued
     * 350-400 piece is then old and trimmed */
    feed(&r, k, 0, s, 250, 150);
    CHECK(k->n == 550, "n=%zu", k->n);
    CHECK(memcmp(k->out, s, 500) == 0, "prefix differs");
    CHECK(k->out[520] == 0xee, "first queued copy must win");
    /* a segment that covers everything again plus new bytes */
    feed(&r, k, 0, s, 0, 600);
    CHECK(k->n == 600 && memcmp(k->out + 550, s + 550, 50) == 0, "tail after full overlap");
    reasm_free(&r);
    free(k);
}

static void test_gap(void)
{
    uint8_t s[200000];
    fill(s, sizeof s, 4);
    struct sink *k = sink_new(0);
    struct reasm r;
    reasm_init(&r, 4096);
    reasm_start(&r, 0);
    feed(&r, k, 0, s, 0, 100);
    feed(&r, k, 0, s, 5000, 100); /* more than cap ahead */
    CHECK(r.state == REASM_GAP, "far-ahead segment: state %d", r.state);
    CHECK(k->n == 100, "bytes before the gap are kept by the consumer");
    feed(&r, k, 0, s, 100, 100);
    CHECK(k->n == 100, "nothing after the end");
    reasm_free(&r);

    /* queue overflow: too many small segments waiting */
    k->n = 0;
    reasm_init(&r, 65536);
    reasm_start(&r, 0);
    for (uint32_t i = 0; i < REASM_MAX_SEGS + 1; i++)
        feed(&r, k, 0, s, 10 + i * 20, 10);
    CHECK(r.state == REASM_GAP, "queue overflow: state %d", r.state);
    CHECK(r.buf == NULL && r.queue == NULL && r.queued == 0, "buffers freed");
    reasm_free(&r);

    /* many touching pieces ahead count as one hole, not as many segments */
    reasm_init(&r, 65536);
    reasm_start(&r, 0);
    k->n = 0;
    for (uint32_t i = 1; i < 1000; i++)
        feed(&r, k, 0, s, i * 3, 3);
    CHECK(r.state == REASM_RUN && r.nseg == 1, "touching pieces: state %d nseg %u", r.state, r.nseg);
    feed(&r, k, 0, s, 0, 3);
    CHECK(k->n == 3000 && memcmp(k->out, s, 3000) == 0, "touching pieces delivered (%zu)", k->n);
    reasm_free(&r);

    /* queue bytes over the cap */
    reasm_init(&r, 1000);
    reasm_start(&r, 0);
    feed(&r, k, 0, s, 10, 600);
    CHECK(r.state == REASM_RUN, "600 queued fits");
    feed(&r, k, 0, s, 610, 300);
    CHECK(r.state == REASM_RUN, "900 queued fits");
    feed(&r, k, 0, s, 910, 150);
    CHECK(r.state == REASM_GAP, "1050 held: state %d", r.state);
    reasm_free(&r);
    free(k);
}

static void test_cap(void)
{
    uint8_t s[10000];
    fill(s, sizeof s, 5);
    struct sink *k = sink_new(3);
    struct reasm r;
    reasm_init(&r, 4096);
    reasm_start(&r, 0);
    uint32_t off = 0;
    for (; off < 4000; off += 1000)
        feed(&r, k, 0, s, off, 1000);
    CHECK(r.state == REASM_RUN && r.kept == 4000, "4000 kept (%u)", r.kept);
    feed(&r, k, 0, s, off, 1000);
    CHECK(r.state == REASM_CAP, "cap reached: state %d", r.state);
    CHECK(r.buf == NULL && r.kept == 0, "cap frees the buffer");
    reasm_free(&r);

    /* a consumer waiting for records of 7 bytes never holds more than 6 */
    k->mode = 1;
    k->n = 0;
    reasm_init(&r, 64);
    reasm_start(&r, 0);
    for (off = 0; off < 9990; off += 9)
        feed(&r, k, 0, s, off, 9);
    CHECK(r.state == REASM_RUN && r.kept < 7, "records: state %d kept %u", r.state, r.kept);
    CHECK(k->n == 9990 - 9990 % 7 && memcmp(k->out, s, k->n) == 0, "records n=%zu", k->n);
    reasm_free(&r);
    free(k);
}

static void test_wrap(void)
{
    uint8_t s[3000];
    fill(s, sizeof s, 6);
    struct sink *k = sink_new(2);
    struct reasm r;
    uint32_t isn = 0xfffffa00u; /* the stream crosses 2^32 after 1536 bytes */
    reasm_init(&r, 65536);
    reasm_start(&r, isn);
    uint32_t order[] = {1400, 0, 2000, 200, 1600, 600, 1000, 2400, 400, 800, 1200, 1800, 2200, 2600, 2800};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        feed(&r, k, isn, s, order[i], 200);
    /* random bites may leave a remainder kept */
    CHECK(reasm_running(&r), "wrap state %d", r.state);
    size_t n = k->n;
    CHECK(n + r.kept == 3000, "wrap: delivered %zu + kept %u", n, r.kept);
    CHECK(memcmp(k->out, s, n) == 0 && (!r.kept || memcmp(r.buf, s + n, r.kept) == 0),
          "wrap stream differs");
    CHECK(r.next == isn + 3000u, "next after wrap %u", r.next);
    reasm_free(&r);
    free(k);
}

static void test_skip(void)
{
    /* stream of "records": 2-byte body length, 3 filler bytes, body */
    uint8_t s[60000];
    size_t n = 0;
    uint32_t lens[] = {100, 3000, 5, 16000, 0, 700, 20000, 40};
    size_t nrec = sizeof lens / sizeof lens[0];
    for (size_t i = 0; i < nrec; i++) {
        s[n] = (uint8_t)(lens[i] >> 8);
        s[n + 1] = (uint8_t)lens[i];
        s[n + 2] = s[n + 3] = s[n + 4] = 0x17;
        memset(s + n + 5, 0xab, lens[i]);
        n += 5 + lens[i];
    }
    struct sink *k = sink_new(4);
    struct reasm r;
    reasm_init(&r, 1024); /* far smaller than the bodies */
    reasm_start(&r, 77);
    /* 1000-byte segments, pairs swapped, some repeated */
    for (size_t off = 0; off < n; off += 2000) {
        size_t a = off + 1000, b = off;
        if (a < n)
            feed(&r, k, 77, s, (uint32_t)a, (uint32_t)(n - a < 1000 ? n - a : 1000));
        feed(&r, k, 77, s, (uint32_t)b, (uint32_t)(n - b < 1000 ? n - b : 1000));
        feed(&r, k, 77, s, (uint32_t)b, (uint32_t)(n - b < 1000 ? n - b : 1000));
    }
    CHECK(reasm_running(&r), "skip state %d", r.state);
    CHECK(k->nbodies == nrec, "records seen %zu of %zu", k->nbodies, nrec);
    int same = k->nbodies == nrec;
    for (size_t i = 0; same && i < nrec; i++)
        same = k->bodies[i] == lens[i];
    CHECK(same, "record lengths differ");
    CHECK(reasm_held(&r) <= 1024, "held %u", reasm_held(&r));
    reasm_free(&r);

    /* truncated captures (snap length): fine when the bytes are skipped */
    k->nbodies = 0;
    reasm_init(&r, 1024);
    reasm_start(&r, 0);
    for (size_t off = 0; off < n; off += 1000) {
        uint32_t len = (uint32_t)(n - off < 1000 ? n - off : 1000);
        uint32_t cap = len < 60 ? len : 60;
        reasm_feed(&r, (uint32_t)off, false, s + off, cap, len, 0, consume, k);
    }
    /* the second record's header (bytes 105..110) lies in the part of
     * the first segment that the snap length cut off: a gap */
    CHECK(r.state == REASM_GAP, "snaplen cut inside a needed header: state %d", r.state);
    reasm_free(&r);
    free(k);
}

static void test_syn_and_stop(void)
{
    uint8_t s[100];
    fill(s, sizeof s, 7);
    struct sink *k = sink_new(0);
    struct reasm r;
    reasm_init(&r, 65536);
    /* TCP fast open: the SYN carries the first 40 bytes */
    reasm_feed(&r, 999, true, s, 40, 40, 1, consume, k);
    reasm_feed(&r, 1040, false, s + 40, 60, 60, 2, consume, k);
    CHECK(k->n == 100 && memcmp(k->out, s, 100) == 0, "SYN data n=%zu", k->n);
    CHECK(k->last_ts == 2, "ts passed through");
    reasm_free(&r);

    /* a pure SYN starts the stream at ISN + 1 */
    k->n = 0;
    reasm_init(&r, 65536);
    reasm_feed(&r, 5, true, NULL, 0, 0, 0, consume, k);
    reasm_feed(&r, 26, false, s + 20, 10, 10, 0, consume, k); /* ahead */
    reasm_feed(&r, 6, false, s, 20, 20, 0, consume, k);
    CHECK(k->n == 30 && memcmp(k->out, s, 30) == 0, "SYN start n=%zu", k->n);
    reasm_stop(&r);
    CHECK(r.state == REASM_DONE && r.buf == NULL, "stopped");
    size_t calls = k->calls;
    reasm_feed(&r, 36, false, s + 30, 10, 10, 0, consume, k);
    CHECK(k->calls == calls, "no delivery after stop");
    reasm_free(&r);
    free(k);
}

/* Random permutations with duplicates and overlaps, random consumers. */
static void test_random(void)
{
    static uint8_t s[20000];
    fill(s, sizeof s, 8);
    unsigned seed = 12345;
    int bad = 0;
    for (int round = 0; round < 300 && !bad; round++) {
        struct sink *k = sink_new(round % 3 == 0 ? 0 : 2);
        k->rnd = (unsigned)round + 1;
        uint32_t total = 2000 + rnd(&seed) % 18000;
        uint32_t isn = (uint32_t)rnd(&seed) << 17 | rnd(&seed);
        if (round % 5 == 0)
            isn = 0u - (total / 2); /* cross the wrap */
        /* segments: cover [0,total) with random sizes, then add random
         * overlapping copies */
        struct {
            uint32_t off, len;
        } seg[400];
        size_t nseg = 0;
        for (uint32_t off = 0; off < total && nseg < 200;) {
            uint32_t len = 1 + rnd(&seed) % 1500;
            if (off + len > total)
                len = total - off;
            seg[nseg].off = off;
            seg[nseg].len = len;
            nseg++;
            off += len;
        }
        if (seg[nseg - 1].off + seg[nseg - 1].len < total)
            seg[nseg - 1].len = total - seg[nseg - 1].off;
        size_t base = nseg;
        for (size_t i = 0; i < base / 3 && nseg < 400; i++) {
            uint32_t off = rnd(&seed) % total;
            uint32_t len = 1 + rnd(&seed) % 2000;
            if (off + len > total)
                len = total - off;
            seg[nseg].off = off;
            seg[nseg].len = len;
            nseg++;
        }
        /* local shuffle: reorder within windows of 6 so the queue holds */
        for (size_t i = 0; i + 1 < nseg; i++) {
            size_t j = i + rnd(&seed) % 6;
            if (j < nseg) {
                uint32_t o = seg[i].off, l = seg[i].len;
                seg[i] = seg[j];
                seg[j].off = o;
                seg[j].len = l;
            }
        }
        struct reasm r;
        reasm_init(&r, 1 << 20);
        reasm_start(&r, isn);
        for (size_t i = 0; i < nseg; i++)
            feed(&r, k, isn, s, seg[i].off, seg[i].len);
        /* the base segments cover everything once all are in; the
         * random consumer may have left a remainder kept */
        size_t got = k->n + r.kept;
        if (r.state != REASM_RUN || got != total || memcmp(k->out, s, k->n) != 0 ||
            (r.kept && memcmp(r.buf, s + k->n, r.kept) != 0) || r.next != isn + total) {
            bad = 1;
            CHECK(0, "random round %d: state %d got %zu of %u kept %u", round, r.state, got, total,
                  r.kept);
        }
        reasm_free(&r);
        free(k);
    }
    if (!bad)
        CHECK(1, "random");
}

int main(void)
{
    test_in_order();
    test_out_of_order();
    test_retransmit_and_overlap();
    test_gap();
    test_cap();
    test_wrap();
    test_skip();
    test_syn_and_stop();
    test_random();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

/* test_flow.c - the flow cache (twins, timeouts, eviction, order) and the
 * Community ID against the test vectors of the Community ID specification
 * (corelight/community-id-spec, baseline/baseline_deflt.json). */
#include "flow.h"
#include "proto_util.h"
#include "unit.h"

#include <arpa/inet.h>
#include <openssl/evp.h>
#include <stdlib.h>

#define SEC 1000000000ull

struct emitted {
    int n;
    char order[64];
    uint8_t why[64];
};

static void on_emit(void *ctx, struct flow *f)
{
    struct emitted *e = ctx;
    if (e->n < 64) {
        e->order[e->n] = (char)('A' + f->key.port[0] % 26);
        e->why[e->n] = f->expire;
    }
    e->n++;
}

static struct packet mkpkt(const char *src, const char *dst, uint16_t sp, uint16_t dp, uint8_t proto)
{
    struct packet p;
    memset(&p, 0, sizeof p);
    p.ipver = 4;
    p.proto = proto;
    inet_pton(AF_INET, src, p.src.b);
    inet_pton(AF_INET, dst, p.dst.b);
    p.has_ports = true;
    p.sport = sp;
    p.dport = dp;
    return p;
}

static struct flow_table *mktable(struct emitted *e, bool bidir, uint64_t max_flows)
{
    struct flow_table_params prm = {
        .bidir = bidir, .num_pkts = 4, .n_modules = 0, .max_flows = max_flows,
        .inactive_ns = 10 * SEC, .active_ns = 30 * SEC, .emit = on_emit, .emit_ctx = e,
    };
    return flow_table_new(&prm);
}

static struct flow *lookup(struct flow_table *t, const struct packet *p, bool bidir, uint64_t now,
                           int *dir, bool *created)
{
    struct flow_key k;
    bool src_first;
    flow_key_from_packet(&k, p, bidir, &src_first);
    struct flow *f = flow_lookup(t, &k, now, src_first, dir, created);
    if (f) {
        if (now > f->t_end)
            f->t_end = now;
        flow_touch(t, f);
    }
    return f;
}

static void test_twins(void)
{
    struct emitted e = {0};
    struct flow_table *t = mktable(&e, true, 0);
    struct packet a = mkpkt("192.168.1.9", "10.0.0.1", 40000, 80, 6);
    struct packet b = mkpkt("10.0.0.1", "192.168.1.9", 80, 40000, 6);
    int d1, d2;
    bool c1, c2;
    struct flow *f1 = lookup(t, &a, true, 1 * SEC, &d1, &c1);
    struct flow *f2 = lookup(t, &b, true, 2 * SEC, &d2, &c2);
    CHECK(f1 && f1 == f2 && c1 && !c2 && d1 == 0 && d2 == 1);
    CHECK(flow_sp(f1) == 40000 && flow_dp(f1) == 80);
    char buf[64];
    inet_ntop(AF_INET, flow_sa(f1)->b, buf, sizeof buf);
    CHECK_STREQ(buf, "192.168.1.9");
    CHECK(flow_table_count(t) == 1);
    flow_table_free(t);

    /* unidirectional: two records */
    t = mktable(&e, false, 0);
    f1 = lookup(t, &a, false, 1 * SEC, &d1, &c1);
    f2 = lookup(t, &b, false, 2 * SEC, &d2, &c2);
    CHECK(f1 != f2 && c1 && c2 && d1 == 0 && d2 == 0 && flow_table_count(t) == 2);
    flow_table_free(t);
}

static void test_timeouts(void)
{
    struct emitted e = {0};
    struct flow_table *t = mktable(&e, true, 0);
    int d;
    bool c;
    struct packet p1 = mkpkt("1.1.1.1", "2.2.2.2", 1000, 1, 17); /* 'A' + 1000 % 26 = M */
    struct packet p2 = mkpkt("1.1.1.1", "2.2.2.2", 1001, 1, 17);
    lookup(t, &p1, true, 0, &d, &c);
    lookup(t, &p2, true, 5 * SEC, &d, &c);
    flow_table_expire(t, 10 * SEC);            /* p1 idle exactly 10 s: not yet */
    CHECK(e.n == 0);
    flow_table_expire(t, 10 * SEC + 1);        /* p1 idle > 10 s */
    CHECK(e.n == 1 && e.why[0] == EXPIRE_INACTIVE);
    /* keep p2 busy: it must leave by the active timeout at > 35 s */
    for (uint64_t s = 6; s <= 35; s += 3) {
        flow_table_expire(t, s * SEC);
        lookup(t, &p2, true, s * SEC, &d, &c);
    }
    CHECK(e.n == 1);
    flow_table_expire(t, 36 * SEC);
    CHECK(e.n == 2 && e.why[1] == EXPIRE_ACTIVE);
    flow_table_free(t);
}

static void test_eviction_and_flush_order(void)
{
    struct emitted e = {0};
    struct flow_table *t = mktable(&e, true, 3);
    int d;
    bool c;
    for (uint16_t i = 0; i < 3; i++) {
        struct packet p = mkpkt("1.1.1.1", "2.2.2.2", (uint16_t)(26 + i), 9, 17); /* A, B, C */
        lookup(t, &p, true, i * SEC, &d, &c);
    }
    struct packet pa = mkpkt("1.1.1.1", "2.2.2.2", 26, 9, 17);
    lookup(t, &pa, true, 3 * SEC, &d, &c);              /* A is now the most recent */
    struct packet pd = mkpkt("1.1.1.1", "2.2.2.2", 29, 9, 17); /* D: evicts B */
    lookup(t, &pd, true, 4 * SEC, &d, &c);
    CHECK(e.n == 1 && e.order[0] == 'B' && e.why[0] == EXPIRE_ROOM);
    CHECK(flow_table_count(t) == 3 && flow_table_peak(t) == 3);
    flow_table_flush(t, EXPIRE_END);                   /* oldest first: A, C, D */
    CHECK(e.n == 4 && memcmp(e.order + 1, "ACD", 3) == 0 && e.why[3] == EXPIRE_END);
    flow_table_free(t);
}

static void test_many_flows_grow(void)
{
    struct emitted e = {0};
    struct flow_table *t = mktable(&e, true, 0);
    int d;
    bool c;
    int created = 0;
    for (uint32_t i = 0; i < 20000; i++) {
        struct packet p = mkpkt("10.0.0.1", "10.0.0.2", (uint16_t)i, (uint16_t)(i >> 16), 17);
        p.src.b[2] = (uint8_t)(i >> 8);
        if (lookup(t, &p, true, SEC, &d, &c) && c)
            created++;
    }
    CHECK(created == 20000 && flow_table_count(t) == 20000);
    for (uint32_t i = 0; i < 20000; i += 7) {
        struct packet p = mkpkt("10.0.0.2", "10.0.0.1", (uint16_t)(i >> 16), (uint16_t)i, 17);
        p.dst.b[2] = (uint8_t)(i >> 8);
        CHECK(lookup(t, &p, true, SEC, &d, &c) && !c && d == 1);
    }
    flow_table_free(t);
}

/* Community ID: a flow as the first packet was sent, then the reverse. */
static const char *cid(int v6, const char *sa, const char *da, uint16_t sp, uint16_t dp,
                       uint8_t proto, bool reverse_only_ports_known)
{
    static char buf[64];
    struct flow f;
    memset(&f, 0, sizeof f);
    f.key.ipver = v6 ? 6 : 4;
    f.key.proto = proto;
    inet_pton(v6 ? AF_INET6 : AF_INET, sa, f.key.addr[0].b);
    inet_pton(v6 ? AF_INET6 : AF_INET, da, f.key.addr[1].b);
    f.client = 0;
    if (proto == 1 || proto == 58) {
        f.first_icmp_type = (uint8_t)sp;
        f.first_icmp_code = (uint8_t)dp;
        f.first_icmp_from_client = true;
    } else {
        f.key.port[0] = sp;
        f.key.port[1] = dp;
    }
    (void)reverse_only_ports_known;
    return community_id_v1(&f, 0, buf, sizeof buf);
}

static void test_community_id_vectors(void)
{
    CHECK_STREQ(cid(0, "128.232.110.120", "66.35.250.204", 34855, 80, 6, 0), "1:LQU9qZlK+B5F3KDmev6m5PMibrg=");
    CHECK_STREQ(cid(0, "66.35.250.204", "128.232.110.120", 80, 34855, 6, 0), "1:LQU9qZlK+B5F3KDmev6m5PMibrg=");
    CHECK_STREQ(cid(0, "192.168.1.52", "8.8.8.8", 54585, 53, 17, 0), "1:d/FP5EW3wiY1vCndhwleRRKHowQ=");
    CHECK_STREQ(cid(0, "8.8.8.8", "192.168.1.52", 53, 54585, 17, 0), "1:d/FP5EW3wiY1vCndhwleRRKHowQ=");
    CHECK_STREQ(cid(1, "2001:470:e5bf:dead:4957:2174:e82c:4887", "2607:f8b0:400c:c03::1a", 63943, 25, 6, 0),
                "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=");
    CHECK_STREQ(cid(0, "192.168.170.8", "192.168.170.56", 7, 7, 132, 0), "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs=");
    /* ICMP echo request / reply, and a one-way type (time exceeded) */
    CHECK_STREQ(cid(0, "192.168.0.89", "192.168.0.1", 8, 0, 1, 0), "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=");
    CHECK_STREQ(cid(0, "192.168.0.1", "192.168.0.89", 0, 0, 1, 0), "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=");
    CHECK_STREQ(cid(0, "10.0.0.1", "10.0.0.2", 11, 0, 1, 0), "1:YHxtAirCG//0OzkcVAukqKQN9xM=");
    /* ICMPv6 neighbor solicitation, echo request, router advertisement */
    CHECK_STREQ(cid(1, "fe80::200:86ff:fe05:80da", "fe80::260:97ff:fe07:69ea", 135, 0, 58, 0),
                "1:dGHyGvjMfljg6Bppwm3bg0LO8TY=");
    CHECK_STREQ(cid(1, "3ffe:507:0:1:200:86ff:fe05:80da", "3ffe:501:0:1001::2", 128, 0, 58, 0),
                "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg=");
    CHECK_STREQ(cid(1, "fe80::260:97ff:fe07:69ea", "ff02::1", 134, 0, 58, 0), "1:pkvHqCL88/tg1k4cPigmZXUtL00=");
    /* a protocol without ports (RSVP) */
    CHECK_STREQ(cid(0, "10.1.12.1", "10.1.12.2", 0, 0, 46, 0), "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw=");
    CHECK_STREQ(cid(0, "10.1.12.2", "10.1.12.1", 0, 0, 46, 0), "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw=");
}

/* the one-block SHA-1, C and SHA-NI, against OpenSSL's */
static void test_sha1_one_block(void)
{
    uint8_t msg[55], a[20], b[20], ref[20];
    uint32_t x = 12345;
    int bad = 0;
    for (int round = 0; round < 2000; round++) {
        size_t len = (size_t)round % 56;
        for (size_t i = 0; i < len; i++) {
            x = x * 1103515245u + 12345u;
            msg[i] = (uint8_t)(x >> 16);
        }
        unsigned rl = 0;
        EVP_Digest(msg, len, ref, &rl, EVP_sha1(), NULL);
        sha1_one_block(msg, len, a, true);
        sha1_one_block(msg, len, b, false);
        bad += memcmp(a, ref, 20) != 0 || memcmp(b, ref, 20) != 0;
    }
    CHECK(bad == 0);
}

static void test_tcp_flag_letters(void)
{
    char b[9];
    CHECK_STREQ(tcp_flags_str(0x12, b), "SA");
    CHECK_STREQ(tcp_flags_str(0x02, b), "S");
    CHECK_STREQ(tcp_flags_str(0xff, b), "FSRPAUEC");
    CHECK_STREQ(tcp_flags_str(0, b), "");
}

void run_flow_tests(void)
{
    TEST_RUN(test_twins);
    TEST_RUN(test_timeouts);
    TEST_RUN(test_eviction_and_flush_order);
    TEST_RUN(test_many_flows_grow);
    TEST_RUN(test_community_id_vectors);
    TEST_RUN(test_tcp_flag_letters);
    TEST_RUN(test_sha1_one_block);
}

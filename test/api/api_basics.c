/*
 * api_basics.c - the surface of libjoy (include/joy/joy.h), through the
 * public header only: versions, status texts, the configuration handle
 * and its messages, the context and the meter with NULL arguments, one
 * hand-built TCP flow and its record (view, members, expiry), the flow
 * hash, the statistics and the metadata length contract.
 *
 *   api_basics [TMPDIR]      (TMPDIR for scratch files, default /tmp)
 *
 * Prints one line per failed check and ends with "N passed, N failed";
 * the exit status is 1 when a check failed.  Built by test/test_api.py
 * against the installed library.
 */
#define _POSIX_C_SOURCE 200809L
#include <joy/joy.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int passed, failed;

#define CHECK(cond)                                                         \
    do {                                                                    \
        if (cond) {                                                         \
            passed++;                                                       \
        } else {                                                            \
            failed++;                                                       \
            printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);          \
        }                                                                   \
    } while (0)

static const char *tmpdir = "/tmp";

/* ------------------------------------------------------------------------
 * Hand-built frames
 */
static const uint8_t CLI[4] = {10, 0, 0, 1}, SRV[4] = {10, 0, 0, 2};
enum { CPORT = 40000, SPORT = 443 };
#define T0 1500000000000000000ull /* 2017-07-14, in ns */
#define MS 1000000ull

static void put16(uint8_t *b, unsigned v) { b[0] = (uint8_t)(v >> 8); b[1] = (uint8_t)v; }
static void put32(uint8_t *b, uint32_t v) { put16(b, v >> 16); put16(b + 2, v & 0xffff); }

/* An IPv4 header (20 bytes, checksum filled) and l4len bytes of l4 after it. */
static uint32_t ip4(uint8_t *b, const uint8_t src[4], const uint8_t dst[4], uint8_t proto,
                    uint8_t ttl, uint16_t id, uint16_t frag, const uint8_t *l4, uint32_t l4len)
{
    memset(b, 0, 20);
    b[0] = 0x45;
    put16(b + 2, 20 + l4len);
    put16(b + 4, id);
    put16(b + 6, frag);
    b[8] = ttl;
    b[9] = proto;
    memcpy(b + 12, src, 4);
    memcpy(b + 16, dst, 4);
    uint32_t sum = 0;
    for (int i = 0; i < 20; i += 2)
        sum += (uint32_t)b[i] << 8 | b[i + 1];
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    put16(b + 10, ~sum & 0xffff);
    memcpy(b + 20, l4, l4len);
    return 20 + l4len;
}

enum { FIN = 0x01, SYN = 0x02, PSH = 0x08, ACK = 0x10 };

/* A raw IP (link type 101) TCP segment with `len` payload bytes. */
static uint32_t tcp4(uint8_t *b, int from_client, uint8_t flags, uint32_t seq, uint32_t ack,
                     uint32_t len, uint16_t id)
{
    uint8_t t[20 + 1500];
    memset(t, 0, sizeof t);
    put16(t, from_client ? CPORT : SPORT);
    put16(t + 2, from_client ? SPORT : CPORT);
    put32(t + 4, seq);
    put32(t + 8, ack);
    t[12] = 5 << 4;
    t[13] = flags;
    put16(t + 14, 64240);
    for (uint32_t i = 0; i < len; i++)
        t[20 + i] = (uint8_t)('a' + i % 26);
    return ip4(b, from_client ? CLI : SRV, from_client ? SRV : CLI, 6, from_client ? 64 : 56, id,
               0, t, 20 + len);
}

/* An Ethernet ARP request (link type 1). */
static uint32_t arp_frame(uint8_t *b)
{
    memset(b, 0, 42);
    memset(b, 0xff, 6);
    b[6] = 2;
    put16(b + 12, 0x0806);
    put16(b + 14, 1);
    put16(b + 16, 0x0800);
    b[18] = 6;
    b[19] = 4;
    put16(b + 20, 1);
    memcpy(b + 28, CLI, 4);
    memcpy(b + 38, SRV, 4);
    return 42;
}

/* ------------------------------------------------------------------------
 * Records
 */
struct got {
    int n;
    struct joy_record view;        /* the last record's view (pointers cleared) */
    struct joy_pkt pkts[8];
    char json[4096];
    char num_out[32], num_in[32], sa[64], expire[8], bytes_out[32];
    int member_rc_missing, packets_is_array, cid_matches;
};

static void member(const struct joy_record *rec, const char *key, char *out, size_t outlen)
{
    const char *v;
    size_t len;
    out[0] = '\0';
    if (joy_record_member(rec, key, &v, &len) == JOY_OK && len < outlen) {
        memcpy(out, v, len);
        out[len] = '\0';
    }
}

static void on_record(void *user, const struct joy_record *rec)
{
    struct got *g = user;
    g->n++;
    g->view = *rec;
    g->view.json = NULL;
    g->view.pkts = NULL;
    for (uint32_t i = 0; i < rec->n_pkts && i < 8; i++)
        g->pkts[i] = rec->pkts[i];
    size_t n = rec->len < sizeof g->json - 1 ? rec->len : sizeof g->json - 1;
    memcpy(g->json, rec->json, n);
    g->json[n] = '\0';
    member(rec, "num_pkts_out", g->num_out, sizeof g->num_out);
    member(rec, "num_pkts_in", g->num_in, sizeof g->num_in);
    member(rec, "bytes_out", g->bytes_out, sizeof g->bytes_out);
    member(rec, "sa", g->sa, sizeof g->sa);
    member(rec, "expire_type", g->expire, sizeof g->expire);
    const char *v;
    size_t len;
    g->member_rc_missing = joy_record_member(rec, "no_such_member", &v, &len);
    g->packets_is_array = joy_record_member(rec, "packets", &v, &len) == JOY_OK && len >= 2 &&
                          v[0] == '[' && v[len - 1] == ']';
    /* the view's community_id is the record's member, without its quotes */
    g->cid_matches = rec->community_id &&
                     joy_record_member(rec, "community_id", &v, &len) == JOY_OK &&
                     len == strlen(rec->community_id) + 2 &&
                     memcmp(v + 1, rec->community_id, len - 2) == 0;
    g->view.community_id = NULL;
}

static void on_record_count(void *user, const struct joy_record *rec)
{
    (void)rec;
    ++*(int *)user;
}

/* ------------------------------------------------------------------------
 * Checks
 */
static void test_versions(void)
{
    CHECK(strcmp(joy_version(), JOY_VERSION_STRING) == 0);
    CHECK(joy_version_number() == JOY_VERSION_NUMBER);
    CHECK(JOY_VERSION_NUMBER ==
          JOY_VERSION_MAJOR * 10000 + JOY_VERSION_MINOR * 100 + JOY_VERSION_PATCH);
    char v[32];
    snprintf(v, sizeof v, "%d.%d.%d", JOY_VERSION_MAJOR, JOY_VERSION_MINOR, JOY_VERSION_PATCH);
    CHECK(strcmp(v, JOY_VERSION_STRING) == 0);
}

static void test_strerror(void)
{
    static const int codes[] = {JOY_OK, JOY_ERR_INVALID, JOY_ERR_UNKNOWN_KEY, JOY_ERR_VALUE,
                                JOY_ERR_FILE, JOY_ERR_NOMEM, JOY_ERR_SETUP, JOY_ERR_SPACE,
                                JOY_ERR_NOT_IP, JOY_ERR_NOT_FOUND};
    const size_t n = sizeof codes / sizeof codes[0];
    const char *unknown = joy_strerror(12345);
    CHECK(unknown && *unknown);
    CHECK(joy_strerror(-100) && strcmp(joy_strerror(-100), unknown) == 0);
    for (size_t i = 0; i < n; i++) {
        const char *s = joy_strerror(codes[i]);
        CHECK(s && *s && strcmp(s, unknown) != 0);
        for (size_t j = 0; j < i; j++)
            CHECK(strcmp(s, joy_strerror(codes[j])) != 0);
    }
    CHECK(strcmp(joy_strerror(JOY_OK), "success") == 0);
}

static void test_config(void)
{
    char err[512], buf[256];
    struct joy_config *cfg = joy_config_new(err, sizeof err);
    CHECK(cfg != NULL);
    if (!cfg)
        return;

    /* unknown key: the joy command's message for the same origin */
    err[0] = '\0';
    CHECK(joy_config_set(cfg, "nosuchkey", "1", "command line", err, sizeof err) ==
          JOY_ERR_UNKNOWN_KEY);
    CHECK(strcmp(err, "command line: unknown option 'nosuchkey' (see joy -h)") == 0);
    CHECK(joy_config_set(cfg, "nosuchkey", "1", NULL, err, sizeof err) == JOY_ERR_UNKNOWN_KEY);
    CHECK(strcmp(err, "joy_config_set: unknown option 'nosuchkey' (see joy -h)") == 0);
    CHECK(joy_config_set(cfg, "nosuchkey", "1", NULL, NULL, 0) == JOY_ERR_UNKNOWN_KEY);
    /* bad values */
    CHECK(joy_config_set(cfg, "num_pkts", "lots", "command line", err, sizeof err) ==
          JOY_ERR_VALUE);
    CHECK(strstr(err, "command line: option 'num_pkts'") == err && strstr(err, "'lots'"));
    CHECK(joy_config_set(cfg, "bidir", "2", NULL, err, sizeof err) == JOY_ERR_VALUE);
    CHECK(joy_config_set(cfg, "bidir", "maybe", NULL, NULL, 0) == JOY_ERR_VALUE);
    /* a short message buffer is cut, not overrun */
    char small[8];
    memset(small, 'x', sizeof small);
    CHECK(joy_config_set(cfg, "nosuchkey", "1", "command line", small, sizeof small) ==
          JOY_ERR_UNKNOWN_KEY);
    CHECK(memchr(small, '\0', sizeof small) != NULL);
    /* NULL arguments */
    CHECK(joy_config_set(NULL, "bidir", "1", NULL, err, sizeof err) == JOY_ERR_INVALID);
    CHECK(joy_config_set(cfg, NULL, "1", NULL, err, sizeof err) == JOY_ERR_INVALID);
    CHECK(joy_config_set(cfg, "bidir", NULL, NULL, err, sizeof err) == JOY_ERR_INVALID);

    /* get: a switch, a number, an unset string, a list */
    CHECK(joy_config_get(cfg, "bidir", buf, sizeof buf) == JOY_OK && strcmp(buf, "1") == 0);
    CHECK(joy_config_set(cfg, "bidir", "0", NULL, err, sizeof err) == JOY_OK);
    CHECK(joy_config_get(cfg, "bidir", buf, sizeof buf) == JOY_OK && strcmp(buf, "0") == 0);
    CHECK(joy_config_get(cfg, "num_pkts", buf, sizeof buf) == JOY_OK && strcmp(buf, "50") == 0);
    CHECK(joy_config_set(cfg, "num_pkts", "200", NULL, err, sizeof err) == JOY_OK);
    CHECK(joy_config_get(cfg, "num_pkts", buf, sizeof buf) == JOY_OK && strcmp(buf, "200") == 0);
    strcpy(buf, "junk");
    CHECK(joy_config_get(cfg, "bpf", buf, sizeof buf) == JOY_OK && strcmp(buf, "") == 0);
    CHECK(joy_config_get(cfg, "label", buf, sizeof buf) == JOY_OK && strcmp(buf, "") == 0);
    CHECK(joy_config_set(cfg, "label", "inside:a.net", NULL, err, sizeof err) == JOY_OK);
    CHECK(joy_config_set(cfg, "label", "outside:b.net", NULL, err, sizeof err) == JOY_OK);
    CHECK(joy_config_get(cfg, "label", buf, sizeof buf) == JOY_OK &&
          strcmp(buf, "inside:a.net\noutside:b.net") == 0);
    /* a short buffer: JOY_ERR_SPACE and a cut, terminated text */
    char four[4];
    CHECK(joy_config_get(cfg, "label", four, sizeof four) == JOY_ERR_SPACE &&
          strcmp(four, "ins") == 0);
    CHECK(joy_config_get(cfg, "num_pkts", four, 3) == JOY_ERR_SPACE && strcmp(four, "20") == 0);
    CHECK(joy_config_get(cfg, "num_pkts", NULL, 0) == JOY_ERR_SPACE);
    CHECK(joy_config_get(cfg, "nosuchkey", buf, sizeof buf) == JOY_ERR_UNKNOWN_KEY);
    CHECK(joy_config_get(NULL, "bidir", buf, sizeof buf) == JOY_ERR_INVALID);
    CHECK(joy_config_get(cfg, NULL, buf, sizeof buf) == JOY_ERR_INVALID);
    /* "none" clears a list */
    CHECK(joy_config_set(cfg, "label", "none", NULL, err, sizeof err) == JOY_OK);
    CHECK(joy_config_get(cfg, "label", buf, sizeof buf) == JOY_OK && buf[0] == '\0');
    CHECK(joy_config_has_key("tls") == 1 && joy_config_has_key("label") == 1);
    CHECK(joy_config_has_key("nosuchkey") == 0 && joy_config_has_key(NULL) == 0);
    joy_config_free(cfg);
    joy_config_free(NULL);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void test_config_file(void)
{
    char err[1024], buf[64], path[512], want[600];
    struct joy_config *cfg = joy_config_new(err, sizeof err);
    if (!cfg) {
        CHECK(cfg != NULL);
        return;
    }
    snprintf(path, sizeof path, "%s/api_basics_%ld.cfg", tmpdir, (long)getpid());
    write_file(path, "# comment\nnum_pkts = 20   # trailing\nzeros\ntls 1\n");
    CHECK(joy_config_load_file(cfg, path, err, sizeof err) == JOY_OK);
    CHECK(joy_config_get(cfg, "num_pkts", buf, sizeof buf) == JOY_OK && strcmp(buf, "20") == 0);
    CHECK(joy_config_get(cfg, "zeros", buf, sizeof buf) == JOY_OK && strcmp(buf, "1") == 0);
    CHECK(joy_config_get(cfg, "tls", buf, sizeof buf) == JOY_OK && strcmp(buf, "1") == 0);

    write_file(path, "bidir = 1\nnosuchkey = 3\n");
    CHECK(joy_config_load_file(cfg, path, err, sizeof err) == JOY_ERR_UNKNOWN_KEY);
    snprintf(want, sizeof want, "%s:2: unknown option 'nosuchkey' (see joy -h)", path);
    CHECK(strcmp(err, want) == 0);

    write_file(path, "num_pkts = lots\n");
    CHECK(joy_config_load_file(cfg, path, err, sizeof err) == JOY_ERR_VALUE);
    snprintf(want, sizeof want, "%s:1: option 'num_pkts'", path);
    CHECK(strstr(err, want) == err);

    write_file(path, "bad/name = 1\n");
    CHECK(joy_config_load_file(cfg, path, err, sizeof err) == JOY_ERR_FILE);
    unlink(path);

    CHECK(joy_config_load_file(cfg, path, err, sizeof err) == JOY_ERR_FILE);
    CHECK(strstr(err, path) == err);
    CHECK(joy_config_load_file(cfg, path, NULL, 0) == JOY_ERR_FILE);
    CHECK(joy_config_load_file(NULL, path, err, sizeof err) == JOY_ERR_INVALID);
    CHECK(joy_config_load_file(cfg, NULL, err, sizeof err) == JOY_ERR_INVALID);
    joy_config_free(cfg);
}

static void test_help_and_linktypes(void)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f) {
        joy_config_print_help(f);
        fclose(f);
        CHECK(len > 100 && strstr(text, "num_pkts") != NULL);
        free(text);
    }
    text = NULL;
    len = 0;
    if ((f = open_memstream(&text, &len))) {
        joy_config_print_defaults(f);
        fclose(f);
        CHECK(len > 100 && strstr(text, "num_pkts") != NULL);
        free(text);
    }
    CHECK(joy_linktype_supported(1) && joy_linktype_supported(101) &&
          joy_linktype_supported(113) && joy_linktype_supported(12));
    CHECK(!joy_linktype_supported(147) && !joy_linktype_supported(-1));
    CHECK(strncmp(joy_linktype_name(1), "EN10MB", 6) == 0);
    CHECK(joy_linktype_name(99999) != NULL);
}

static void test_null_handling(void)
{
    char err[256];
    err[0] = '\0';
    CHECK(joy_context_new(NULL, err, sizeof err) == NULL && err[0]);
    CHECK(joy_context_new(NULL, NULL, 0) == NULL);
    CHECK(joy_context_config(NULL) == NULL);
    char buf[16];
    CHECK(joy_context_metadata(NULL, NULL, 0, buf, sizeof buf) < 0);
    joy_context_free(NULL);

    struct joy_config *cfg = joy_config_new(NULL, 0);
    struct joy_context *ctx = cfg ? joy_context_new(cfg, err, sizeof err) : NULL;
    CHECK(ctx != NULL);
    int n = 0;
    err[0] = '\0';
    CHECK(joy_meter_new(NULL, on_record_count, &n, err, sizeof err) == NULL && err[0]);
    err[0] = '\0';
    CHECK(ctx && joy_meter_new(ctx, NULL, &n, err, sizeof err) == NULL && err[0]);
    CHECK(joy_meter_new(NULL, NULL, NULL, NULL, 0) == NULL);
    /* the meter calls ignore a NULL meter */
    uint8_t frame[64];
    uint32_t len = tcp4(frame, 1, SYN, 1, 0, 0, 1);
    joy_meter_packet(NULL, 101, frame, len, len, T0);
    joy_meter_advance(NULL, T0);
    joy_meter_flush(NULL);
    struct joy_stats st;
    memset(&st, 0xff, sizeof st);
    joy_meter_get_stats(NULL, &st);
    CHECK(st.packets == 0 && st.records == 0);
    joy_meter_free(NULL);
    if (ctx) {
        CHECK(joy_context_metadata(ctx, NULL, 1, buf, sizeof buf) < 0); /* inputs NULL, n 1 */
        CHECK(joy_context_metadata(ctx, NULL, 0, NULL, 5) < 0);        /* buf NULL, len 5 */
        struct joy_meter *m = joy_meter_new(ctx, on_record_count, &n, NULL, 0);
        CHECK(m != NULL);
        joy_meter_get_stats(m, NULL);
        joy_meter_packet(m, 101, NULL, 0, 0, T0); /* an empty frame: counted, ignored */
        joy_meter_flush(m);
        joy_meter_free(m);
        CHECK(n == 0);
    }
    /* a context whose module cannot load its file */
    if (cfg) {
        CHECK(joy_config_set(cfg, "anon", "/nonexistent/joy-subnets.net", NULL, err, sizeof err) ==
              JOY_OK);
        err[0] = '\0';
        CHECK(joy_context_new(cfg, err, sizeof err) == NULL && strstr(err, "/nonexistent") != NULL);
    }
    joy_context_free(ctx);
    joy_config_free(cfg);
}

/* A meter of the default configuration whose records go to *g; NULL (and
 * a failed check) when it cannot be made.  Free m, then *ctx. */
static struct joy_meter *default_meter(struct got *g, struct joy_context **ctx)
{
    char err[256];
    struct joy_config *cfg = joy_config_new(err, sizeof err);
    *ctx = cfg ? joy_context_new(cfg, err, sizeof err) : NULL;
    joy_config_free(cfg);
    memset(g, 0, sizeof *g);
    struct joy_meter *m = *ctx ? joy_meter_new(*ctx, on_record, g, err, sizeof err) : NULL;
    CHECK(m != NULL);
    if (!m)
        joy_context_free(*ctx);
    return m;
}

/* TCP port reuse (1.4): a connection closed by a FIN each way, then a SYN
 * with a new sequence number on the same ports: the first record is
 * delivered inside that packet's call with expire 'c', counted in
 * tcp_reused; a retransmitted SYN of the new connection changes nothing. */
static void test_port_reuse(void)
{
    struct got g;
    struct joy_context *ctx;
    struct joy_meter *m = default_meter(&g, &ctx);
    if (!m)
        return;
    uint8_t f[2000];
    uint32_t n;
    const uint32_t cs = 0x10000000, ss = 0x20000000, cs2 = 0x50000000;
#define FEED(expr, t)                           \
    do {                                        \
        n = (expr);                             \
        joy_meter_packet(m, 101, f, n, n, (t)); \
    } while (0)
    FEED(tcp4(f, 1, SYN, cs, 0, 0, 100), T0);
    FEED(tcp4(f, 0, SYN | ACK, ss, cs + 1, 0, 200), T0 + 1 * MS);
    FEED(tcp4(f, 1, PSH | ACK, cs + 1, ss + 1, 10, 101), T0 + 2 * MS);
    FEED(tcp4(f, 1, FIN | ACK, cs + 11, ss + 1, 0, 102), T0 + 3 * MS);
    FEED(tcp4(f, 0, FIN | ACK, ss + 1, cs + 12, 0, 201), T0 + 4 * MS);
    CHECK(g.n == 0);
    FEED(tcp4(f, 1, SYN, cs2, 0, 0, 103), T0 + 500 * MS);
    struct joy_stats st;
    joy_meter_get_stats(m, &st);
    CHECK(g.n == 1 && g.view.expire == JOY_EXPIRE_CLOSED && strcmp(g.expire, "\"c\"") == 0);
    CHECK(strcmp(g.num_out, "3") == 0 && strcmp(g.num_in, "2") == 0 && strcmp(g.bytes_out, "10") == 0);
    CHECK(st.tcp_reused == 1 && st.flows_open == 1 && st.records == 1);
    FEED(tcp4(f, 1, SYN, cs2, 0, 0, 104), T0 + 1500 * MS); /* retransmitted: same flow */
    FEED(tcp4(f, 0, SYN | ACK, ss + 7, cs2 + 1, 0, 202), T0 + 1501 * MS);
    joy_meter_flush(m);
    joy_meter_get_stats(m, &st);
    CHECK(g.n == 2 && g.view.expire == JOY_EXPIRE_END && strcmp(g.num_out, "2") == 0 &&
          strcmp(g.num_in, "1") == 0 && st.tcp_reused == 1);
#undef FEED
    joy_meter_free(m);
    joy_context_free(ctx);
}

/* One TCP flow, both directions, fed by hand; the record on flush. */
static void test_one_flow(void)
{
    char err[256], buf[64];
    struct joy_config *cfg = joy_config_new(err, sizeof err);
    struct joy_context *ctx = cfg ? joy_context_new(cfg, err, sizeof err) : NULL;
    /* the context has a copy: changing the configuration afterwards changes nothing */
    CHECK(cfg && joy_config_set(cfg, "num_pkts", "7", NULL, err, sizeof err) == JOY_OK);
    CHECK(ctx && joy_config_get(joy_context_config(ctx), "num_pkts", buf, sizeof buf) == JOY_OK &&
          strcmp(buf, "50") == 0);
    joy_config_free(cfg);
    struct got g;
    memset(&g, 0, sizeof g);
    struct joy_meter *m = ctx ? joy_meter_new(ctx, on_record, &g, err, sizeof err) : NULL;
    CHECK(m != NULL);
    if (!m) {
        joy_context_free(ctx);
        return;
    }
    uint8_t f[2000];
    uint32_t n, caplen_sum = 0;
    const uint32_t cs = 0x10000000, ss = 0x20000000;
#define FEED(expr, t)                                     \
    do {                                                  \
        n = (expr);                                       \
        caplen_sum += n;                                  \
        joy_meter_packet(m, 101, f, n, n, (t));           \
    } while (0)
    FEED(tcp4(f, 1, SYN, cs, 0, 0, 100), T0);
    FEED(tcp4(f, 0, SYN | ACK, ss, cs + 1, 0, 200), T0 + 10 * MS);
    FEED(tcp4(f, 1, ACK, cs + 1, ss + 1, 0, 101), T0 + 20 * MS);
    FEED(tcp4(f, 1, PSH | ACK, cs + 1, ss + 1, 100, 102), T0 + 30 * MS);
    FEED(tcp4(f, 0, PSH | ACK, ss + 1, cs + 101, 200, 201), T0 + 45 * MS);
    /* not IP, truncated, malformed, unsupported link type: counted, no flow */
    n = arp_frame(f);
    joy_meter_packet(m, 1, f, n, n, T0 + 46 * MS);      /* Ethernet ARP */
    caplen_sum += n;
    tcp4(f, 1, ACK, cs + 101, ss + 201, 0, 103);
    joy_meter_packet(m, 101, f, 10, 40, T0 + 47 * MS); /* an IPv4 header cut at 10 bytes */
    caplen_sum += 10;
    f[0] = 0x43;                                        /* IHL 12 bytes */
    joy_meter_packet(m, 101, f, 42, 42, T0 + 48 * MS);
    caplen_sum += 42;
    joy_meter_packet(m, 147, f, 42, 42, T0 + 49 * MS); /* USER0: not decoded */
    caplen_sum += 42;
#undef FEED
    struct joy_stats st;
    joy_meter_get_stats(m, &st);
    CHECK(st.packets == 9 && st.bytes == caplen_sum);
    CHECK(st.not_ip == 1 && st.truncated == 1 && st.malformed == 1 && st.unsupported == 1);
    CHECK(st.flows_open == 1 && st.records == 0 && g.n == 0);
    /* the clock does not go back, and 5 s of quiet is below inactive_timeout (10 s) */
    joy_meter_advance(m, T0);
    joy_meter_advance(m, T0 + 5000 * MS);
    CHECK(g.n == 0);
    joy_meter_flush(m);
    joy_meter_get_stats(m, &st);
    CHECK(g.n == 1 && st.records == 1 && st.flows_open == 0 && st.oversized == 0);
    const struct joy_record *r = &g.view;
    CHECK(r->ip_version == 4 && r->protocol == 6 && r->has_ports == 1);
    CHECK(r->sp == CPORT && r->dp == SPORT);
    CHECK(memcmp(r->sa, CLI, 4) == 0 && memcmp(r->da, SRV, 4) == 0);
    CHECK(r->expire == JOY_EXPIRE_END && r->expire == 'e');
    CHECK(r->time_start_ns == T0 && r->time_end_ns == T0 + 45 * MS);
    CHECK(r->out.packets == 3 && r->in.packets == 2);
    CHECK(r->out.bytes == 100 && r->in.bytes == 200);
    CHECK(r->out.ip_bytes == 40 + 40 + 140 && r->in.ip_bytes == 40 + 240);
    CHECK(r->out.tcp_flags == (SYN | ACK | PSH) && r->in.tcp_flags == (SYN | ACK | PSH));
    CHECK(r->out.ttl_seen && r->out.min_ttl == 64 && r->in.ttl_seen && r->in.min_ttl == 56);
    CHECK(r->out.retrans == 0 && r->in.retrans == 0);
    CHECK(r->n_pkts == 2);
    CHECK(g.pkts[0].ts_ns == T0 + 30 * MS && g.pkts[0].len == 100 && g.pkts[0].dir == 0);
    CHECK(g.pkts[1].ts_ns == T0 + 45 * MS && g.pkts[1].len == 200 && g.pkts[1].dir == 1);
    CHECK(r->len > 2 && g.json[0] == '{' && g.json[r->len - 1] == '\n' &&
          strlen(g.json) == r->len);
    CHECK(strcmp(g.num_out, "3") == 0 && strcmp(g.num_in, "2") == 0);
    CHECK(strcmp(g.bytes_out, "100") == 0);
    CHECK(strcmp(g.sa, "\"10.0.0.1\"") == 0);
    CHECK(strcmp(g.expire, "\"e\"") == 0);
    CHECK(g.member_rc_missing == JOY_ERR_NOT_FOUND);
    CHECK(g.packets_is_array);
    CHECK(g.cid_matches);
    /* a second flush has nothing left */
    joy_meter_flush(m);
    CHECK(g.n == 1);

    /* joy_meter_advance past inactive_timeout expires an idle flow ('i') */
    uint8_t f2[100];
    n = tcp4(f2, 1, SYN, cs, 0, 0, 300);
    joy_meter_packet(m, 101, f2, n, n, T0 + 60000 * MS);
    joy_meter_advance(m, T0 + 65000 * MS);
    CHECK(g.n == 1);
    joy_meter_advance(m, T0 + 71000 * MS);
    CHECK(g.n == 2 && g.view.expire == JOY_EXPIRE_INACTIVE && g.view.out.packets == 1);
    joy_meter_get_stats(m, &st);
    CHECK(st.records == 2 && st.flows_open == 0);

    /* record members with bad arguments */
    const char *v;
    size_t len;
    CHECK(joy_record_member(NULL, "sa", &v, &len) == JOY_ERR_INVALID);
    struct joy_record empty;
    memset(&empty, 0, sizeof empty);
    CHECK(joy_record_member(&empty, "sa", &v, &len) == JOY_ERR_INVALID);
    empty.json = "{\"a\":[1,{\"b\":\"x,}\"}],\"sa\":\"1.2.3.4\"}\n";
    empty.len = strlen(empty.json);
    CHECK(joy_record_member(&empty, "sa", &v, &len) == JOY_OK && len == 9 &&
          memcmp(v, "\"1.2.3.4\"", 9) == 0);
    CHECK(joy_record_member(&empty, "a", &v, &len) == JOY_OK && len == 15);
    CHECK(joy_record_member(&empty, "b", &v, &len) == JOY_ERR_NOT_FOUND);
    CHECK(joy_record_member(&empty, "sa", NULL, &len) == JOY_ERR_INVALID);
    joy_meter_free(m);
    joy_context_free(ctx);
}

static void test_flow_hash(void)
{
    uint8_t a[200], b[200];
    uint32_t ha = 1, hb = 2;
    uint32_t na = tcp4(a, 1, PSH | ACK, 1, 2, 10, 1), nb = tcp4(b, 0, PSH | ACK, 2, 11, 20, 2);
    for (int mode = JOY_HASH_ADDRS; mode <= JOY_HASH_5TUPLE; mode++) {
        CHECK(joy_flow_hash(101, a, na, na, mode, &ha) == JOY_OK);
        CHECK(joy_flow_hash(101, b, nb, nb, mode, &hb) == JOY_OK);
        CHECK(ha == hb); /* both directions */
    }
    /* the ports count in 5-tuple mode only */
    uint8_t c[200];
    uint32_t nc = tcp4(c, 1, PSH | ACK, 1, 2, 10, 1), hc, h5a, h5c;
    put16(c + 20, CPORT + 1); /* another client port */
    CHECK(joy_flow_hash(101, a, na, na, JOY_HASH_ADDRS, &ha) == JOY_OK &&
          joy_flow_hash(101, c, nc, nc, JOY_HASH_ADDRS, &hc) == JOY_OK && ha == hc);
    CHECK(joy_flow_hash(101, a, na, na, JOY_HASH_5TUPLE, &h5a) == JOY_OK &&
          joy_flow_hash(101, c, nc, nc, JOY_HASH_5TUPLE, &h5c) == JOY_OK && h5a != h5c);
    /* stable: the same value in every process and every 1.x library */
    CHECK(joy_flow_hash(101, a, na, na, JOY_HASH_ADDRS, &ha) == JOY_OK && ha == 0x8ae3a792u);
    CHECK(h5a == 0xdf16476au);
    /* raw IP as DLT_RAW (12) is the same frame */
    CHECK(joy_flow_hash(12, a, na, na, JOY_HASH_ADDRS, &hc) == JOY_OK && hc == ha);

    /* not IP: JOY_ERR_NOT_IP and 0 */
    uint8_t e[64];
    uint32_t ne = arp_frame(e), h = 7;
    CHECK(joy_flow_hash(1, e, ne, ne, JOY_HASH_ADDRS, &h) == JOY_ERR_NOT_IP && h == 0);
    h = 7;
    CHECK(joy_flow_hash(101, a, 10, na, JOY_HASH_ADDRS, &h) == JOY_ERR_NOT_IP && h == 0);
    CHECK(joy_flow_hash(127, a, na, na, JOY_HASH_ADDRS, &h) == JOY_ERR_NOT_IP);
    /* bad arguments */
    CHECK(joy_flow_hash(101, a, na, na, 2, &h) == JOY_ERR_INVALID);
    CHECK(joy_flow_hash(101, a, na, na, JOY_HASH_ADDRS, NULL) == JOY_ERR_INVALID);
    CHECK(joy_flow_hash(101, NULL, na, na, JOY_HASH_ADDRS, &h) == JOY_ERR_INVALID);

    /* the fragments of one UDP datagram: same hash in JOY_HASH_ADDRS mode */
    uint8_t udp[8 + 64], f1[100], f2[100];
    memset(udp, 'u', sizeof udp);
    put16(udp, 5353);
    put16(udp + 2, 53);
    put16(udp + 4, sizeof udp);
    put16(udp + 6, 0);
    uint32_t n1 = ip4(f1, CLI, SRV, 17, 64, 777, 0x2000 | 0, udp, 32);        /* MF, offset 0 */
    uint32_t n2 = ip4(f2, CLI, SRV, 17, 64, 777, 32 / 8, udp + 32, sizeof udp - 32); /* last */
    uint32_t h1, h2;
    CHECK(joy_flow_hash(101, f1, n1, n1, JOY_HASH_ADDRS, &h1) == JOY_OK);
    CHECK(joy_flow_hash(101, f2, n2, n2, JOY_HASH_ADDRS, &h2) == JOY_OK);
    CHECK(h1 == h2);
    /* ... and the datagram's reply */
    uint8_t rep[100];
    uint8_t rudp[8] = {0, 53, 0x14, 0xe9, 0, 8, 0, 0};
    uint32_t nr = ip4(rep, SRV, CLI, 17, 60, 9, 0, rudp, 8), hr;
    CHECK(joy_flow_hash(101, rep, nr, nr, JOY_HASH_ADDRS, &hr) == JOY_OK && hr == h1);

    /* IPv6: both directions */
    uint8_t v6a[60], v6b[60];
    memset(v6a, 0, sizeof v6a);
    v6a[0] = 0x60;
    put16(v6a + 4, 8);
    v6a[6] = 17;
    v6a[7] = 64;
    v6a[8] = 0x20;
    v6a[9] = 0x01;
    v6a[23] = 1;
    v6a[24] = 0x20;
    v6a[25] = 0x01;
    v6a[39] = 2;
    put16(v6a + 40, 1234);
    put16(v6a + 42, 53);
    put16(v6a + 44, 8);
    memcpy(v6b, v6a, sizeof v6b);
    memcpy(v6b + 8, v6a + 24, 16);
    memcpy(v6b + 24, v6a + 8, 16);
    put16(v6b + 40, 53);
    put16(v6b + 42, 1234);
    uint32_t h6a, h6b;
    CHECK(joy_flow_hash(101, v6a, 48, 48, JOY_HASH_5TUPLE, &h6a) == JOY_OK &&
          joy_flow_hash(101, v6b, 48, 48, JOY_HASH_5TUPLE, &h6b) == JOY_OK && h6a == h6b);
}

static void test_metadata(void)
{
    char err[256];
    struct joy_config *cfg = joy_config_new(err, sizeof err);
    struct joy_context *ctx = cfg ? joy_context_new(cfg, err, sizeof err) : NULL;
    joy_config_free(cfg);
    CHECK(ctx != NULL);
    if (!ctx)
        return;
    const char *in[2] = {"a.pcap", "dir/b \"q\".pcap"};
    long n = joy_context_metadata(ctx, in, 2, NULL, 0);
    CHECK(n > 20);
    char *full = malloc((size_t)n + 1);
    CHECK(full && joy_context_metadata(ctx, in, 2, full, (size_t)n + 1) == n);
    if (full) {
        CHECK((long)strlen(full) == n && full[n - 1] == '\n');
        CHECK(strncmp(full, "{\"version\":\"" JOY_VERSION_STRING "\"", 13 + strlen(JOY_VERSION_STRING)) == 0);
        CHECK(strstr(full, "\"inputs\":[\"a.pcap\",\"dir/b \\\"q\\\".pcap\"]}\n") != NULL);
        /* too small: the needed length, and a cut, terminated prefix */
        char small[10];
        CHECK(joy_context_metadata(ctx, in, 2, small, sizeof small) == n);
        CHECK(strlen(small) == sizeof small - 1 && memcmp(small, full, sizeof small - 1) == 0);
        /* exactly n bytes: one short of the NUL, so still "did not fit" */
        char *tight = malloc((size_t)n);
        CHECK(tight && joy_context_metadata(ctx, in, 2, tight, (size_t)n) == n &&
              strlen(tight) == (size_t)n - 1);
        free(tight);
    }
    free(full);
    long n0 = joy_context_metadata(ctx, NULL, 0, NULL, 0);
    CHECK(n0 > 0 && n0 < n);
    joy_context_free(ctx);
}

/* Two meters on one context, split by the flow hash: each gets its own flows. */
static void test_two_meters(void)
{
    char err[256];
    struct joy_config *cfg = joy_config_new(err, sizeof err);
    struct joy_context *ctx = cfg ? joy_context_new(cfg, err, sizeof err) : NULL;
    joy_config_free(cfg);
    int n1 = 0, n2 = 0;
    struct joy_meter *m1 = ctx ? joy_meter_new(ctx, on_record_count, &n1, err, sizeof err) : NULL;
    struct joy_meter *m2 = ctx ? joy_meter_new(ctx, on_record_count, &n2, err, sizeof err) : NULL;
    CHECK(m1 && m2);
    if (m1 && m2) {
        uint8_t f[100];
        uint32_t n = tcp4(f, 1, SYN, 1, 0, 0, 1);
        joy_meter_packet(m1, 101, f, n, n, T0);
        joy_meter_advance(m2, T0);
        joy_meter_flush(m1);
        joy_meter_flush(m2);
        CHECK(n1 == 1 && n2 == 0);
    }
    joy_meter_free(m1);
    joy_meter_free(m2);
    joy_context_free(ctx);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        tmpdir = argv[1];
    test_versions();
    test_strerror();
    test_config();
    test_config_file();
    test_help_and_linktypes();
    test_null_handling();
    test_one_flow();
    test_port_reuse();
    test_flow_hash();
    test_metadata();
    test_two_meters();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

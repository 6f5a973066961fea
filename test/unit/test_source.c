/* test_source.c - the capture-file packet source (source_file.c) over
 * files generated in a temporary directory: directories in name order
 * without dot-files, damage midway, unsupported link types, the BPF filter
 * per link type, standard input, breakloop. */
#include "source.h"
#include "unit.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[64];

/* ---------------------------------------------------------------------
 * Capture files
 */
struct cbuf {
    uint8_t b[8192];
    size_t n;
};

static void put32(struct cbuf *x, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        x->b[x->n++] = (uint8_t)(v >> (8 * i));
}
static void put16(struct cbuf *x, uint16_t v)
{
    x->b[x->n++] = (uint8_t)v;
    x->b[x->n++] = (uint8_t)(v >> 8);
}
static void putbytes(struct cbuf *x, const void *p, size_t n)
{
    memcpy(x->b + x->n, p, n);
    x->n += n;
}

/* A frame: an IPv4/UDP datagram from port sport to port dport, behind an
 * Ethernet header when linktype is 1.  Returns its length. */
static size_t frame(uint8_t *f, int linktype, uint16_t sport, uint16_t dport)
{
    size_t n = 0;
    if (linktype == 1) {
        static const uint8_t eth[14] = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00};
        memcpy(f, eth, sizeof eth);
        n = sizeof eth;
    }
    static const uint8_t ip[20] = {0x45, 0, 0, 32, 0, 1, 0, 0, 64, 17, 0, 0,
                                   10, 0, 0, 1, 10, 0, 0, 2};
    memcpy(f + n, ip, sizeof ip);
    n += sizeof ip;
    uint8_t udp[12] = {(uint8_t)(sport >> 8), (uint8_t)sport, (uint8_t)(dport >> 8),
                       (uint8_t)dport, 0, 12, 0, 0, 'j', 'o', 'y', '!'};
    memcpy(f + n, udp, sizeof udp);
    return n + sizeof udp;
}

/* A classic pcap file (little-endian, microseconds) whose packet i has
 * the time ts[i] seconds and the destination port port[i]. */
static void pcap_bytes(struct cbuf *x, int linktype, const uint32_t *ts, const uint16_t *port,
                       size_t n)
{
    x->n = 0;
    put32(x, 0xa1b2c3d4);
    put16(x, 2);
    put16(x, 4);
    put32(x, 0);
    put32(x, 0);
    put32(x, 65535);
    put32(x, (uint32_t)linktype);
    for (size_t i = 0; i < n; i++) {
        uint8_t f[64];
        size_t len = frame(f, linktype == 147 ? 101 : linktype, 1000, port[i]);
        put32(x, ts[i]);
        put32(x, 0);
        put32(x, (uint32_t)len);
        put32(x, (uint32_t)len);
        putbytes(x, f, len);
    }
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f)
        return;
    CHECK(fwrite(data, 1, n, f) == n);
    fclose(f);
}

/* tmpdir/name, in a static buffer (one of four in turn). */
static const char *tpath(const char *name)
{
    static char bufs[4][256];
    static int k;
    char *b = bufs[k++ & 3];
    snprintf(b, sizeof bufs[0], "%s/%s", tmpdir, name);
    return b;
}

static void make_pcap(const char *name, int linktype, const uint32_t *ts, const uint16_t *port,
                      size_t n)
{
    struct cbuf x;
    pcap_bytes(&x, linktype, ts, port, n);
    write_file(tpath(name), x.b, x.n);
}

/* ---------------------------------------------------------------------
 * Reading a source to its end
 */
struct seen {
    uint32_t ts[64];
    uint16_t port[64];
    int linktype[64];
    size_t n;
    char log[4096];
};

static void on_log(void *user, enum source_severity sev, const char *msg)
{
    struct seen *s = user;
    size_t len = strlen(s->log);
    snprintf(s->log + len, sizeof s->log - len, "%d %s\n", (int)sev, msg);
}

static struct joy_source *open_files(const char *const *inputs, size_t n, const char *bpf,
                                     struct seen *seen)
{
    memset(seen, 0, sizeof *seen);
    struct source_file_opts o = {inputs, n, bpf, on_log, seen};
    enum source_error e;
    char err[256];
    struct joy_source *s = source_file_new(&o, &e, err, sizeof err);
    CHECK(s != NULL && e == SOURCE_OK);
    if (s)
        CHECK(source_open(s) == SOURCE_OK);
    return s;
}

/* Every packet of the source into seen; its stats in *st. */
static void drain(struct joy_source *s, struct seen *seen, struct source_stats *st)
{
    struct source_packet p;
    enum source_result r;
    while ((r = source_next(s, &p)) == SOURCE_PACKET) {
        if (seen->n < 64) {
            seen->ts[seen->n] = (uint32_t)(p.ts_ns / 1000000000u);
            size_t ip = p.linktype == 1 ? 14 : 0;
            seen->port[seen->n] = p.caplen >= ip + 24
                                      ? (uint16_t)((p.data[ip + 22] << 8) | p.data[ip + 23])
                                      : 0;
            seen->linktype[seen->n] = p.linktype;
            seen->n++;
        }
    }
    CHECK(r == SOURCE_END);
    CHECK(source_next(s, &p) == SOURCE_END); /* and stays there */
    CHECK(source_stats(s, st) == 0);
    CHECK(!st->kernel);
}

static bool ts_are(const struct seen *s, const uint32_t *want, size_t n)
{
    if (s->n != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s->ts[i] != want[i])
            return false;
    return true;
}

/* ---------------------------------------------------------------------
 * Tests
 */
static const uint16_t ports[8] = {53, 53, 53, 53, 53, 53, 53, 53};

/* A directory: regular files in name order, no dot-files, no
 * subdirectories; then the next input continues the sequence. */
static void test_directory_order(void)
{
    char dir[256];
    snprintf(dir, sizeof dir, "%s/dir", tmpdir);
    CHECK(mkdir(dir, 0700) == 0);
    CHECK(mkdir(tpath("dir/sub"), 0700) == 0);
    make_pcap("dir/b.pcap", 1, (const uint32_t[]){3, 4}, ports, 2);
    make_pcap("dir/a.pcap", 101, (const uint32_t[]){1, 2}, ports, 2);
    make_pcap("dir/.hidden.pcap", 1, (const uint32_t[]){99}, ports, 1);
    make_pcap("dir/sub/c.pcap", 1, (const uint32_t[]){98}, ports, 1);
    make_pcap("dir/c.pcap", 1, (const uint32_t[]){5}, ports, 1);
    make_pcap("after.pcap", 1, (const uint32_t[]){6}, ports, 1);
    const char *in[] = {dir, tpath("after.pcap")};
    struct seen seen;
    struct source_stats st;
    struct joy_source *s = open_files(in, 2, NULL, &seen);
    if (!s)
        return;
    drain(s, &seen, &st);
    CHECK(ts_are(&seen, (const uint32_t[]){1, 2, 3, 4, 5, 6}, 6));
    CHECK(seen.linktype[0] == 101 && seen.linktype[2] == 1);
    CHECK(source_error(s) == SOURCE_OK && source_errmsg(s)[0] == '\0');
    CHECK(st.delivered == 6 && st.received == 6 && st.filtered == 0 && st.unsupported == 0);
    char want[2048];
    snprintf(want, sizeof want, "%d reading %s/a.pcap\n%d reading %s/b.pcap\n"
             "%d reading %s/c.pcap\n%d reading %s/after.pcap\n", SOURCE_INFO, dir,
             SOURCE_INFO, dir, SOURCE_INFO, dir, SOURCE_INFO, tmpdir);
    CHECK_STREQ(seen.log, want);
    source_close(s);
}

/* Damage midway: the packets before it, SOURCE_DAMAGED with the offset,
 * and the next input is still read. */
static void test_truncated(void)
{
    struct cbuf x;
    pcap_bytes(&x, 1, (const uint32_t[]){1, 2, 3}, ports, 3);
    write_file(tpath("trunc.pcap"), x.b, x.n - 10);
    make_pcap("good.pcap", 1, (const uint32_t[]){7}, ports, 1);
    const char *in[] = {tpath("trunc.pcap"), tpath("good.pcap")};
    struct seen seen;
    struct source_stats st;
    struct joy_source *s = open_files(in, 2, NULL, &seen);
    if (!s)
        return;
    drain(s, &seen, &st);
    CHECK(ts_are(&seen, (const uint32_t[]){1, 2, 7}, 3));
    CHECK(source_error(s) == SOURCE_DAMAGED);
    CHECK(strstr(source_errmsg(s), "trunc.pcap: damaged at byte offset ") != NULL);
    CHECK(strstr(source_errmsg(s), "the flows read so far are kept") != NULL);
    CHECK(strstr(seen.log, "4 ") != NULL && strstr(seen.log, "damaged") != NULL);
    source_close(s);

    /* not a capture file, and a file that is not there: skipped */
    write_file(tpath("garbage.pcap"), "this is not a capture file", 26);
    const char *in2[] = {tpath("garbage.pcap"), tpath("missing.pcap"), tpath("good.pcap")};
    s = open_files(in2, 3, NULL, &seen);
    if (!s)
        return;
    drain(s, &seen, &st);
    CHECK(ts_are(&seen, (const uint32_t[]){7}, 1));
    CHECK(source_error(s) == SOURCE_DAMAGED);
    CHECK(strstr(source_errmsg(s), "garbage.pcap: not a pcap or pcapng capture file; skipped"));
    CHECK(strstr(seen.log, "missing.pcap: cannot open") != NULL);
    source_close(s);
}

/* pcapng: a section header, two interfaces (Ethernet and 802.11), and one
 * Enhanced Packet Block per (interface, time). */
static void block(struct cbuf *x, uint32_t type, const struct cbuf *body)
{
    put32(x, type);
    put32(x, (uint32_t)(12 + body->n));
    putbytes(x, body->b, body->n);
    put32(x, (uint32_t)(12 + body->n));
}

static void pcapng_two_links(struct cbuf *x)
{
    struct cbuf b;
    x->n = 0;
    b.n = 0;
    put32(&b, 0x1a2b3c4d);
    put16(&b, 1);
    put16(&b, 0);
    put32(&b, 0xffffffff);
    put32(&b, 0xffffffff);
    block(x, 0x0a0d0d0a, &b);
    for (int lt = 0; lt < 2; lt++) {
        b.n = 0;
        put16(&b, lt ? 147 : 1);
        put16(&b, 0);
        put32(&b, 65535);
        block(x, 1, &b);
    }
    const uint32_t iface[4] = {0, 1, 0, 1};
    for (uint32_t i = 0; i < 4; i++) {
        uint8_t f[64];
        size_t len = frame(f, iface[i] ? 101 : 1, 1000, 53);
        b.n = 0;
        uint64_t us = (uint64_t)(i + 1) * 1000000u;
        put32(&b, iface[i]);
        put32(&b, (uint32_t)(us >> 32));
        put32(&b, (uint32_t)us);
        put32(&b, (uint32_t)len);
        put32(&b, (uint32_t)len);
        putbytes(&b, f, len);
        while (b.n % 4)
            b.b[b.n++] = 0;
        block(x, 6, &b);
    }
}

/* Unsupported link types: a pcap file of one is skipped whole; a pcapng
 * interface of one has its packets skipped and counted, named once. */
static void test_unsupported(void)
{
    make_pcap("wifi.pcap", 147, (const uint32_t[]){1}, ports, 1);
    struct cbuf x;
    pcapng_two_links(&x);
    write_file(tpath("mixed.pcapng"), x.b, x.n);
    const char *in[] = {tpath("wifi.pcap"), tpath("mixed.pcapng")};
    struct seen seen;
    struct source_stats st;
    struct joy_source *s = open_files(in, 2, NULL, &seen);
    if (!s)
        return;
    drain(s, &seen, &st);
    CHECK(ts_are(&seen, (const uint32_t[]){1, 3}, 2));
    CHECK(st.unsupported == 2 && st.delivered == 2 && st.received == 4);
    CHECK(source_error(s) == SOURCE_DAMAGED);
    CHECK(strstr(source_errmsg(s), "wifi.pcap: link type 147 (") != NULL);
    CHECK(strstr(source_errmsg(s), "is not supported; file skipped") != NULL);
    const char *m = strstr(seen.log, "mixed.pcapng: interface 1 has link type 147 (");
    CHECK(m != NULL);
    CHECK(m && strstr(m + 20, "interface 1 has link type") == NULL); /* once per file */
    CHECK(m && strstr(m, "which is not supported; its packets are skipped") != NULL);
    source_close(s);
}

/* The filter is compiled per link type, and counts what it rejects; one
 * that cannot compile for a link type rejects that type's packets. */
static void test_filter(void)
{
    const uint16_t mixed[4] = {53, 80, 53, 443};
    make_pcap("eth.pcap", 1, (const uint32_t[]){1, 2, 3, 4}, mixed, 4);
    make_pcap("raw.pcap", 101, (const uint32_t[]){5, 6, 7, 8}, mixed, 4);
    const char *in[] = {tpath("eth.pcap"), tpath("raw.pcap")};
    struct seen seen;
    struct source_stats st;
    struct joy_source *s = open_files(in, 2, "udp port 53", &seen);
    if (!s)
        return;
    drain(s, &seen, &st);
    CHECK(ts_are(&seen, (const uint32_t[]){1, 3, 5, 7}, 4));
    CHECK(seen.port[0] == 53 && seen.port[3] == 53 && seen.linktype[3] == 101);
    CHECK(st.filtered == 4 && st.delivered == 4 && st.received == 8);
    CHECK(source_error(s) == SOURCE_OK);
    source_close(s);

    /* an Ethernet-only filter: raw IP packets all filtered, with a message */
    s = open_files(in, 2, "ether src 02:00:00:00:00:01", &seen);
    if (!s)
        return;
    drain(s, &seen, &st);
    CHECK(ts_are(&seen, (const uint32_t[]){1, 2, 3, 4}, 4));
    CHECK(st.filtered == 4);
    CHECK(strstr(seen.log, "does not compile for link type 101") != NULL);
    CHECK(source_error(s) == SOURCE_OK); /* a message, not an input error */
    source_close(s);

    /* a filter that compiles nowhere: a configuration error at once */
    struct source_file_opts o = {in, 2, "udp port", NULL, NULL};
    enum source_error e;
    char err[256];
    CHECK(source_file_new(&o, &e, err, sizeof err) == NULL);
    CHECK(e == SOURCE_CONFIG && strncmp(err, "filter 'udp port': ", 19) == 0);
}

/* '-' reads standard input. */
static void test_stdin(void)
{
    make_pcap("stdin.pcap", 1, (const uint32_t[]){1, 2, 3}, ports, 3);
    int saved = dup(0);
    int fd = open(tpath("stdin.pcap"), O_RDONLY);
    CHECK(saved >= 0 && fd >= 0);
    if (saved < 0 || fd < 0)
        return;
    CHECK(dup2(fd, 0) == 0);
    close(fd);
    const char *in[] = {"-"};
    struct seen seen;
    struct source_stats st;
    struct joy_source *s = open_files(in, 1, NULL, &seen);
    if (s) {
        drain(s, &seen, &st);
        CHECK(ts_are(&seen, (const uint32_t[]){1, 2, 3}, 3));
        CHECK(source_error(s) == SOURCE_OK);
        source_close(s);
    }
    dup2(saved, 0);
    close(saved);
}

/* breakloop: the next call ends the input, and that is not an error. */
static void test_breakloop(void)
{
    make_pcap("long.pcap", 1, (const uint32_t[]){1, 2, 3, 4}, ports, 4);
    const char *in[] = {tpath("long.pcap"), tpath("long.pcap")};
    struct seen seen;
    struct joy_source *s = open_files(in, 2, NULL, &seen);
    if (!s)
        return;
    struct source_packet p;
    CHECK(source_next(s, &p) == SOURCE_PACKET);
    source_breakloop(s);
    CHECK(source_next(s, &p) == SOURCE_END);
    CHECK(source_error(s) == SOURCE_OK);
    CHECK(strcmp(s->ops->name, "file") == 0);
    source_close(s);
}

static void remove_tree(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "test_source: could not remove %s\n", tmpdir);
}

void run_source_tests(void)
{
    strcpy(tmpdir, "/tmp/joy-unit-src-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        unit_failed++;
        fprintf(stderr, "FAIL run_source_tests: no temporary directory\n");
        return;
    }
    TEST_RUN(test_directory_order);
    TEST_RUN(test_truncated);
    TEST_RUN(test_unsupported);
    TEST_RUN(test_filter);
    TEST_RUN(test_stdin);
    TEST_RUN(test_breakloop);
    remove_tree();
}

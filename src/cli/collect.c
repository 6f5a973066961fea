/*
 * collect.c - the IPFIX / NetFlow v9 / v5 collector mode of the joy
 * command (Joy's ipfix_collect_port, ipfix_collect_online, nfv9_port).
 *
 * Messages come from UDP payloads to the collector port in capture files
 * (-r), or with ipfix_collect_online=1 from a UDP socket and a TCP listener
 * (IPFIX over TCP: messages framed by their length) on that port.  Each
 * flow record decoded (src/ipfix/) becomes one joy JSON record with its
 * structured view, written to every output like the meter's records.
 */
#include "export.h"

#include "cursor.h"
#include "ipfix.h"
#include "jsonw.h"
#include "source.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct collect {
    struct joy_output *out;
    struct ipfix_collector *col;
    struct jsonw w;
    uint64_t records;
    bool failed;
    unsigned verbosity;
    uint16_t port;
};

static void on_flow(void *user, const struct ipfix_flow *f)
{
    struct collect *c = user;
    jw_reset(&c->w);
    ipfix_flow_json(f, &c->w);
    if (c->w.overflow)
        return;
    struct joy_record rec = f->view;
    rec.json = c->w.buf;
    rec.len = c->w.len;
    c->records++;
    if (output_write_record(c->out, c->w.buf, c->w.len, &rec) != 0)
        c->failed = true;
}

static uint64_t now_s(void) { return (uint64_t)time(NULL); }

/* ---- capture files: UDP payloads to the port ---- */
static void from_frame(struct collect *c, const struct source_packet *pkt)
{
    struct cursor cur;
    cur_init(&cur, pkt->data, pkt->caplen);
    unsigned ethertype = 0;
    switch (pkt->linktype) {
    case 1: /* Ethernet, 802.1Q/ad tags */
        cur_skip(&cur, 12);
        ethertype = cur_u16(&cur);
        while (ethertype == 0x8100 || ethertype == 0x88a8) {
            cur_skip(&cur, 2);
            ethertype = cur_u16(&cur);
        }
        break;
    case 113: /* Linux cooked */
        cur_skip(&cur, 14);
        ethertype = cur_u16(&cur);
        break;
    case 276: /* Linux cooked v2 */
        ethertype = cur_u16(&cur);
        cur_skip(&cur, 18);
        break;
    case 0: case 108: { /* BSD loopback: address family */
        uint32_t af = cur_u32le(&cur);
        ethertype = af == 2 ? 0x0800 : 0x86dd;
        break;
    }
    case 101: case 12: case 14: case 228: case 229: {
        size_t n;
        const uint8_t *p = cur_rest(&cur, &n);
        cur_init(&cur, p, n);
        ethertype = n && (p[0] >> 4) == 6 ? 0x86dd : 0x0800;
        break;
    }
    default:
        return;
    }
    char exporter[80], addr[INET6_ADDRSTRLEN];
    if (ethertype == 0x0800) {
        const uint8_t *ip = cur.p;
        uint8_t vihl = cur_u8(&cur);
        if (!cur_ok(&cur) || (vihl >> 4) != 4 || (vihl & 15) < 5)
            return;
        size_t ihl = (size_t)(vihl & 15) * 4;
        cur_skip(&cur, 1);
        unsigned total = cur_u16(&cur);
        cur_skip(&cur, 2);
        unsigned frag = cur_u16(&cur);
        cur_skip(&cur, 1);
        unsigned proto = cur_u8(&cur);
        cur_skip(&cur, 2);
        const uint8_t *src = cur_bytes(&cur, 4);
        cur_skip(&cur, 4 + ihl - 20);
        if (!cur_ok(&cur) || proto != 17 || (frag & 0x3fff) || total < ihl)
            return;
        size_t avail = cur_left(&cur);
        size_t want = total - ihl;
        (void)ip;
        cur_init(&cur, cur.p, want < avail ? want : avail);
        inet_ntop(AF_INET, src, addr, sizeof addr);
        snprintf(exporter, sizeof exporter, "%s", addr);
    } else if (ethertype == 0x86dd) {
        uint8_t v = cur_u8(&cur);
        if ((v >> 4) != 6)
            return;
        cur_skip(&cur, 3);
        unsigned plen = cur_u16(&cur);
        unsigned nh = cur_u8(&cur);
        cur_skip(&cur, 1);
        const uint8_t *src = cur_bytes(&cur, 16);
        cur_skip(&cur, 16);
        if (!cur_ok(&cur) || nh != 17)
            return;
        size_t avail = cur_left(&cur);
        cur_init(&cur, cur.p, plen < avail ? plen : avail);
        inet_ntop(AF_INET6, src, addr, sizeof addr);
        snprintf(exporter, sizeof exporter, "[%s]", addr);
    } else {
        return;
    }
    unsigned sport = cur_u16(&cur), dport = cur_u16(&cur), ulen = cur_u16(&cur);
    cur_skip(&cur, 2);
    if (!cur_ok(&cur) || dport != c->port || ulen < 8)
        return;
    size_t n = cur_left(&cur) < ulen - 8u ? cur_left(&cur) : ulen - 8u;
    size_t el = strlen(exporter);
    snprintf(exporter + el, sizeof exporter - el, ":%u", sport);
    ipfix_collect(c->col, exporter, cur.p, n, pkt->ts_ns / 1000000000u, on_flow, c);
}

static void on_source_message(void *user, enum source_severity sev, const char *msg)
{
    struct collect *c = user;
    if (c->verbosity && (unsigned)sev >= c->verbosity)
        fprintf(stderr, "joy: %s\n", msg);
}

static int from_files(struct collect *c, char **inputs, size_t n, volatile int *stop)
{
    char err[1024];
    enum source_error e;
    struct source_file_opts o = {(const char *const *)inputs, n, NULL, on_source_message, c};
    struct joy_source *s = source_file_new(&o, &e, err, sizeof err);
    if (!s) {
        fprintf(stderr, "joy: %s\n", err);
        return e == SOURCE_CONFIG ? 2 : 1;
    }
    if (source_open(s) == SOURCE_OK) {
        struct source_packet pkt;
        enum source_result r;
        while (!*stop && !c->failed && (r = source_next(s, &pkt)) != SOURCE_END)
            if (r == SOURCE_PACKET)
                from_frame(c, &pkt);
    }
    int status = source_error(s) == SOURCE_CONFIG ? 2 : source_error(s) != SOURCE_OK ? 1 : 0;
    source_close(s);
    return status;
}

/* ---- sockets ---- */
#define MAX_TCP 64

struct tcp_conn {
    int fd;
    char peer[80];
    uint8_t *buf;
    size_t len;
};

static void peer_name(const struct sockaddr_storage *ss, char *out, size_t len)
{
    char a[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
            inet_ntop(AF_INET, s6->sin6_addr.s6_addr + 12, a, sizeof a);
            snprintf(out, len, "%s:%u", a, ntohs(s6->sin6_port));
            return;
        }
        inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof a);
        port = ntohs(s6->sin6_port);
        snprintf(out, len, "[%s]:%u", a, port);
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &s4->sin_addr, a, sizeof a);
        snprintf(out, len, "%s:%u", a, ntohs(s4->sin_port));
    }
}

static int listen_on(int type, uint16_t port)
{
    int fd = socket(AF_INET6, type | SOCK_CLOEXEC, 0);
    int v6only = 0, one = 1;
    if (fd < 0)
        return -1;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        (type == SOCK_STREAM && listen(fd, 16) != 0)) {
        close(fd);
        return -1;
    }
    if (type == SOCK_DGRAM) {
        int rcv = 8 << 20;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
    }
    return fd;
}

static void tcp_data(struct collect *c, struct tcp_conn *t)
{
    /* IPFIX over TCP: messages back to back, each with its length */
    size_t off = 0;
    while (t->len - off >= 4) {
        unsigned version = (unsigned)t->buf[off] << 8 | t->buf[off + 1];
        unsigned mlen = (unsigned)t->buf[off + 2] << 8 | t->buf[off + 3];
        if (version != 10 || mlen < 16) {
            t->len = 0; /* not IPFIX: drop the connection's data */
            close(t->fd);
            t->fd = -1;
            return;
        }
        if (t->len - off < mlen)
            break;
        ipfix_collect(c->col, t->peer, t->buf + off, mlen, now_s(), on_flow, c);
        off += mlen;
    }
    memmove(t->buf, t->buf + off, t->len - off);
    t->len -= off;
}

static int online(struct collect *c, volatile int *stop)
{
    int u = listen_on(SOCK_DGRAM, c->port), l = listen_on(SOCK_STREAM, c->port);
    if (u < 0 || l < 0) {
        fprintf(stderr, "joy: cannot listen on port %u (UDP and TCP): %s\n", c->port,
                strerror(errno));
        if (u >= 0)
            close(u);
        if (l >= 0)
            close(l);
        return 1;
    }
    if (c->verbosity && c->verbosity <= 2)
        fprintf(stderr, "joy: collecting IPFIX / NetFlow v9 / v5 on UDP and TCP port %u\n",
                c->port);
    static struct tcp_conn conns[MAX_TCP];
    for (int i = 0; i < MAX_TCP; i++)
        conns[i].fd = -1;
    uint8_t *dgram = malloc(65536);
    if (!dgram) {
        close(u);
        close(l);
        return 1;
    }
    while (!*stop && !c->failed) {
        struct pollfd pfd[2 + MAX_TCP];
        int map[2 + MAX_TCP];
        nfds_t n = 0;
        pfd[n] = (struct pollfd){u, POLLIN, 0};
        map[n++] = -1;
        pfd[n] = (struct pollfd){l, POLLIN, 0};
        map[n++] = -2;
        for (int i = 0; i < MAX_TCP; i++) {
            if (conns[i].fd >= 0) {
                pfd[n] = (struct pollfd){conns[i].fd, POLLIN, 0};
                map[n++] = i;
            }
        }
        int r = poll(pfd, n, 200);
        if (r <= 0) {
            output_flush(c->out);
            continue;
        }
        for (nfds_t k = 0; k < n; k++) {
            if (!pfd[k].revents)
                continue;
            if (map[k] == -1) {
                struct sockaddr_storage ss;
                socklen_t sl = sizeof ss;
                ssize_t got = recvfrom(u, dgram, 65536, MSG_DONTWAIT, (struct sockaddr *)&ss, &sl);
                if (got > 0) {
                    char peer[80];
                    peer_name(&ss, peer, sizeof peer);
                    ipfix_collect(c->col, peer, dgram, (size_t)got, now_s(), on_flow, c);
                }
            } else if (map[k] == -2) {
                struct sockaddr_storage ss;
                socklen_t sl = sizeof ss;
                int fd = accept(l, (struct sockaddr *)&ss, &sl);
                if (fd < 0)
                    continue;
                int slot = -1;
                for (int i = 0; i < MAX_TCP && slot < 0; i++)
                    if (conns[i].fd < 0)
                        slot = i;
                if (slot < 0 || (!conns[slot].buf && !(conns[slot].buf = malloc(65536 * 2)))) {
                    close(fd);
                    continue;
                }
                conns[slot].fd = fd;
                conns[slot].len = 0;
                peer_name(&ss, conns[slot].peer, sizeof conns[slot].peer);
            } else {
                struct tcp_conn *t = &conns[map[k]];
                ssize_t got = recv(t->fd, t->buf + t->len, 65536 * 2 - t->len, 0);
                if (got <= 0) {
                    close(t->fd);
                    t->fd = -1;
                    t->len = 0;
                    continue;
                }
                t->len += (size_t)got;
                tcp_data(c, t);
            }
        }
    }
    for (int i = 0; i < MAX_TCP; i++) {
        if (conns[i].fd >= 0)
            close(conns[i].fd);
        free(conns[i].buf);
        conns[i].buf = NULL;
    }
    free(dgram);
    close(u);
    close(l);
    return 0;
}

static unsigned long long num(const struct joy_config *cfg, const char *key)
{
    char v[32];
    return joy_config_get(cfg, key, v, sizeof v) == JOY_OK ? strtoull(v, NULL, 10) : 0;
}

static void say_line(void *user, const char *line)
{
    const struct collect *c = user;
    if (c->verbosity && c->verbosity <= 2)
        fprintf(stderr, "joy: %s\n", line);
}

int collect_main(const struct joy_config *cfg, char **inputs, size_t n_inputs,
                 volatile int *stop)
{
    unsigned long long port = num(cfg, "ipfix_collect_port");
    if (!port)
        port = num(cfg, "nfv9_port");
    if (!port)
        return -1;
    bool live = num(cfg, "ipfix_collect_online") != 0;
    struct collect c;
    memset(&c, 0, sizeof c);
    c.port = (uint16_t)port;
    c.verbosity = (unsigned)num(cfg, "verbosity");
    char err[1024];
    struct export_setup e;
    if (export_setup_read(cfg, &e, err, sizeof err) != 0) {
        fprintf(stderr, "joy: %s\n", err);
        return 2;
    }
    export_keep_freed_memory(&e);
    if (!(c.out = output_open_targets((const char *const *)e.targets, e.n_targets, &e.opt, err,
                                      sizeof err))) {
        fprintf(stderr, "joy: %s\n", err);
        export_setup_free(&e);
        return 1;
    }
    int status = 0;
    struct joy_context *ctx = joy_context_new(cfg, err, sizeof err);
    if (!ctx || !(c.col = ipfix_collector_new(NULL))) {
        fprintf(stderr, "joy: %s\n", ctx ? "out of memory" : err);
        joy_context_free(ctx);
        output_close(c.out, false, err, sizeof err);
        export_setup_free(&e);
        return ctx ? 1 : 2;
    }
    jw_init(&c.w);
    if (e.metadata) {
        char on[64], *live_in[1] = {on};
        snprintf(on, sizeof on, "udp+tcp port %llu", port);
        char **in = live ? live_in : inputs;
        size_t nin = live ? 1 : n_inputs;
        long n = joy_context_metadata(ctx, (const char *const *)in, nin, NULL, 0);
        char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
        if (buf && joy_context_metadata(ctx, (const char *const *)in, nin, buf, (size_t)n + 1) == n)
            output_write_metadata(c.out, buf, (size_t)n);
        free(buf);
    }
    status = live ? online(&c, stop) : from_files(&c, inputs, n_inputs, stop);
    struct ipfix_collector_stats st;
    ipfix_collector_get_stats(c.col, &st);
    if (c.verbosity && c.verbosity <= 2)
        fprintf(stderr, "joy: collector: %llu messages, %llu flow records, %llu templates "
                "(%llu evicted, %llu refused, %llu expired); %llu malformed messages, %llu bad "
                "sets, %llu data sets without a template\n",
                (unsigned long long)st.messages, (unsigned long long)st.records,
                (unsigned long long)st.templates, (unsigned long long)st.templates_evicted,
                (unsigned long long)st.templates_refused, (unsigned long long)st.templates_expired,
                (unsigned long long)st.bad_messages, (unsigned long long)st.bad_sets,
                (unsigned long long)st.no_template);
    else if ((st.bad_messages || st.no_template) && c.verbosity && c.verbosity <= 3)
        fprintf(stderr, "joy: collector: %llu malformed messages, %llu data sets without a "
                "template\n", (unsigned long long)st.bad_messages,
                (unsigned long long)st.no_template);
    output_report(c.out, say_line, &c);
    if (output_close(c.out, true, err, sizeof err) != 0) {
        fprintf(stderr, "joy: %s\n", err);
        status = status ? status : 1;
    }
    jw_free(&c.w);
    ipfix_collector_free(c.col);
    joy_context_free(ctx);
    export_setup_free(&e);
    return status;
}

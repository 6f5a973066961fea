/*
 * sink_ipfix.c - records as IPFIX (src/ipfix/): ipfix://HOST:PORT (UDP),
 * ipfix+tcp://HOST:PORT (a reconnecting stream, netstream.h) and
 * ipfix+file:PATH (an IPFIX file, RFC 5655 style: messages back to back).
 *
 * Records are packed into messages that fill one IP packet of the path MTU
 * for UDP (udp_message_max(); a larger record goes alone) and up to 64 KiB
 * otherwise; a message is sent when
 * the next record does not fit, on flush, when it is a second old, and at
 * close.  Templates: UDP at the start, every ipfix_template_refresh seconds
 * and every 1000 messages; TCP at every (re)connection; a file once.
 * The metadata line is not a flow and is not exported.
 */
#include "sink.h"

#include "ipfix.h"
#include "netstream.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum ipfix_mode { MODE_UDP, MODE_TCP, MODE_FILE };

struct ipfix_sink {
    struct joy_sink base;
    enum ipfix_mode mode;
    struct ipfix_writer w;
    int fd;                      /* UDP socket or the file */
    struct netstream *ns;        /* TCP */
    uint64_t last_tmpl_ms, msg_start_ms;
    uint32_t msgs_since_tmpl;
    bool tmpl_due;
    uint8_t *pre;                /* TCP: the template message */
    size_t pre_len;
    uint64_t send_errors, refused;
    char msg[256];
};

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint32_t wall_s(void) { return (uint32_t)time(NULL); }

static const uint8_t *tcp_preamble(void *user, size_t *len)
{
    struct ipfix_sink *t = user;
    *len = t->pre_len;
    return t->pre;
}

static int build_preamble(struct ipfix_sink *t)
{
    struct ipfix_writer tw;
    if (ipfix_writer_init(&tw, IPFIX_MAX_MESSAGE, t->w.profile, t->w.domain) != 0)
        return -1;
    ipfix_write_templates(&tw);
    size_t n;
    const uint8_t *m = ipfix_message(&tw, wall_s(), &n);
    t->pre = malloc(n);
    if (t->pre) {
        memcpy(t->pre, m, n);
        t->pre_len = n;
    }
    ipfix_writer_free(&tw);
    return t->pre ? 0 : -1;
}

static int open_udp(struct ipfix_sink *t, const char *hostport)
{
    const char *colon = strrchr(hostport, ':');
    if (!colon || colon == hostport || !colon[1]) {
        snprintf(t->msg, sizeof t->msg, "give ipfix://HOST:PORT");
        return -1;
    }
    char host[256];
    size_t hl = (size_t)(colon - hostport);
    if (hostport[0] == '[' && hl >= 2 && hostport[hl - 1] == ']') {
        hostport++;
        hl -= 2;
    }
    if (hl >= sizeof host) {
        snprintf(t->msg, sizeof t->msg, "host name too long");
        return -1;
    }
    memcpy(host, hostport, hl);
    host[hl] = '\0';
    struct addrinfo hints = {.ai_socktype = SOCK_DGRAM}, *ai = NULL;
    int e = getaddrinfo(host, colon + 1, &hints, &ai);
    if (e != 0) {
        snprintf(t->msg, sizeof t->msg, "%s", gai_strerror(e));
        return -1;
    }
    t->fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (t->fd >= 0 && t->base.opt.ipfix_local_port) {
        struct sockaddr_storage ss;
        memset(&ss, 0, sizeof ss);
        memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
        uint16_t p = htons((uint16_t)t->base.opt.ipfix_local_port);
        if (ai->ai_family == AF_INET6) {
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
            memset(&s6->sin6_addr, 0, sizeof s6->sin6_addr);
            s6->sin6_port = p;
        } else {
            struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
            s4->sin_addr.s_addr = 0;
            s4->sin_port = p;
        }
        if (bind(t->fd, (struct sockaddr *)&ss, ai->ai_addrlen) != 0) {
            snprintf(t->msg, sizeof t->msg, "cannot bind local port %u: %s",
                     t->base.opt.ipfix_local_port, strerror(errno));
            close(t->fd);
            t->fd = -1;
            freeaddrinfo(ai);
            return -1;
        }
    }
    if (t->fd < 0 || connect(t->fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        snprintf(t->msg, sizeof t->msg, "%s", strerror(errno));
        if (t->fd >= 0)
            close(t->fd);
        t->fd = -1;
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    return 0;
}

/*
 * The largest message for the connected UDP socket fd: what fills one IP
 * packet of the given MTU, or (mtu 0) of the path MTU the kernel keeps for
 * the collector's route (IP_MTU / IPV6_MTU: 1500 over Ethernet, 65536 on
 * loopback), so that no message is fragmented (RFC 7011, 10.3.3) and no
 * smaller than the path allows: on loopback one 64 KiB message replaces
 * some 45 of 1400 bytes, and the kernel's cost is per datagram.  If the
 * kernel knows no path MTU: 1428 (a 1400-byte message, what joy always
 * sent before).  At most 65507, UDP's limit over IPv4.  mtu is 576 at
 * least (ipfix_open_mode), so the message is too.
 */
static size_t udp_message_max(int fd, unsigned mtu)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    bool v6 = getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 && ss.ss_family == AF_INET6;
    if (!mtu) {
        int m = 0;
        socklen_t ml = sizeof m;
        int r = v6 ? getsockopt(fd, IPPROTO_IPV6, IPV6_MTU, &m, &ml)
                   : getsockopt(fd, IPPROTO_IP, IP_MTU, &m, &ml);
        mtu = r == 0 && m >= 576 ? (unsigned)m : 1428;
    }
    size_t n = mtu - (v6 ? 40u : 20u) - 8u;
    return n < 65507 ? n : 65507;
}

static int ipfix_open_mode(struct joy_sink *s, int fd, enum ipfix_mode mode)
{
    struct ipfix_sink *t = (struct ipfix_sink *)s;
    t->mode = mode;
    t->fd = -1;
    int profile = ipfix_profile_parse(s->opt.ipfix_profile);
    if (profile < 0) {
        errno = EINVAL;
        return sink_fail(s, "unknown IPFIX profile (simple, idp, splt, bd, eta, or a+b)");
    }
    size_t budget = IPFIX_MAX_MESSAGE;
    if (mode == MODE_UDP) {
        /* ipfix_mtu= and ?mtu= (sink.c) are checked here, in one place */
        unsigned mtu = s->opt.ipfix_mtu;
        if ((mtu && mtu < 576) || mtu > 65535) {
            snprintf(t->msg, sizeof t->msg, "mtu=%u: give 576-65535 bytes, or 0 for the path MTU",
                     mtu);
            errno = EINVAL;
            return sink_fail(s, t->msg);
        }
        if (open_udp(t, s->name + strlen("ipfix://")) != 0) {
            errno = EINVAL;
            return sink_fail(s, t->msg);
        }
        budget = udp_message_max(t->fd, mtu);
    }
    if (ipfix_writer_init(&t->w, budget, (unsigned)profile, (uint32_t)getpid() & 0xffff) != 0) {
        if (t->fd >= 0)
            close(t->fd);
        t->fd = -1;
        return -1;
    }
    t->tmpl_due = true;
    if (mode == MODE_FILE)
        t->fd = fd;
    if (mode != MODE_TCP)
        return 0;
    if (build_preamble(t) != 0 ||
        !(t->ns = netstream_open(s->name, &s->opt, tcp_preamble, t, t->msg, sizeof t->msg))) {
        errno = EINVAL;
        sink_fail(s, t->ns ? "out of memory" : t->msg);
        ipfix_writer_free(&t->w);
        free(t->pre);
        return -1;
    }
    return 0;
}

static int open_udp_sink(struct joy_sink *s, int fd, int level)
{
    (void)level;
    return ipfix_open_mode(s, fd, MODE_UDP);
}

static int open_tcp_sink(struct joy_sink *s, int fd, int level)
{
    (void)level;
    return ipfix_open_mode(s, fd, MODE_TCP);
}

static int open_file_sink(struct joy_sink *s, int fd, int level)
{
    (void)level;
    return ipfix_open_mode(s, fd, MODE_FILE);
}

/* Send (or queue, or write) the current message. */
static int send_message(struct ipfix_sink *t)
{
    size_t n;
    const uint8_t *m = ipfix_message(&t->w, wall_s(), &n);
    if (!m)
        return 0;
    int rc = 0;
    switch (t->mode) {
    case MODE_FILE:
        rc = sink_write_fd(t->fd, m, n);
        break;
    case MODE_TCP:
        if (netstream_write(t->ns, m, n, t->msg, sizeof t->msg) != 0) {
            errno = EIO;
            rc = sink_fail(&t->base, t->msg);
        }
        break;
    case MODE_UDP:
        for (int tries = 0; tries < 50; tries++) {
            if (send(t->fd, m, n, 0) == (ssize_t)n)
                break;
            if (errno == ECONNREFUSED) {
                t->refused++; /* an earlier datagram found no collector */
                continue;
            }
            if (errno == EAGAIN || errno == ENOBUFS || errno == EINTR) {
                usleep(1000);
                continue;
            }
            t->send_errors++;
            break;
        }
        break;
    }
    t->msgs_since_tmpl++;
    ipfix_message_done(&t->w);
    return rc;
}

static int ipfix_write(struct joy_sink *s, const char *rec, size_t len, const void *view)
{
    struct ipfix_sink *t = (struct ipfix_sink *)s;
    (void)rec;
    (void)len;
    if (!view)
        return 0;
    uint64_t now = mono_ms();
    if (t->w.len && now - t->msg_start_ms >= 1000 && send_message(t) != 0)
        return -1;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (t->w.len == 0) {
            t->msg_start_ms = now;
            if (t->mode == MODE_UDP &&
                (now - t->last_tmpl_ms >= (uint64_t)s->opt.ipfix_refresh * 1000u ||
                 t->msgs_since_tmpl >= 1000))
                t->tmpl_due = true;
            if (t->tmpl_due && t->mode != MODE_TCP) {
                ipfix_write_templates(&t->w);
                t->last_tmpl_ms = now;
                t->msgs_since_tmpl = 0;
                t->tmpl_due = false;
            }
        }
        int r = ipfix_write_record(&t->w, view);
        if (r <= 0)
            return 0; /* written, or too big for any message (counted) */
        if (send_message(t) != 0)
            return -1;
    }
    return 0;
}

static int ipfix_write_meta(struct joy_sink *s, const char *line, size_t len)
{
    (void)s;
    (void)line;
    (void)len;
    return 0;
}

static int ipfix_flush(struct joy_sink *s)
{
    struct ipfix_sink *t = (struct ipfix_sink *)s;
    if (send_message(t) != 0)
        return -1;
    if (t->ns)
        netstream_pump(t->ns, 0);
    return 0;
}

static void ipfix_report(const struct joy_sink *s, char *buf, size_t len)
{
    const struct ipfix_sink *t = (const struct ipfix_sink *)s;
    int k = snprintf(buf, len, "%llu records in %llu IPFIX messages",
                     (unsigned long long)t->w.records, (unsigned long long)t->w.messages);
    if (t->w.too_big && k > 0 && (size_t)k < len)
        k += snprintf(buf + k, len - (size_t)k, ", %llu too large for a message (not exported)",
                      (unsigned long long)t->w.too_big);
    if ((t->send_errors || t->refused) && k > 0 && (size_t)k < len)
        k += snprintf(buf + k, len - (size_t)k, ", %llu send errors, %llu refused by the collector",
                      (unsigned long long)t->send_errors, (unsigned long long)t->refused);
    if (t->ns && k > 0 && (size_t)k < len) {
        struct netstream_stats st;
        netstream_stats(t->ns, &st);
        snprintf(buf + k, len - (size_t)k, "; %llu messages sent, %llu queued, %llu dropped, "
                 "%llu spilled", (unsigned long long)st.sent, (unsigned long long)st.queued,
                 (unsigned long long)st.dropped, (unsigned long long)st.spilled);
    }
}

static int ipfix_close(struct joy_sink *s, bool abandon)
{
    struct ipfix_sink *t = (struct ipfix_sink *)s;
    int rc = 0;
    if (!abandon && send_message(t) != 0)
        rc = -1;
    switch (t->mode) {
    case MODE_FILE:
        if (close(t->fd) != 0 && !abandon)
            rc = sink_fail(s, "close failed");
        break;
    case MODE_UDP:
        close(t->fd);
        break;
    case MODE_TCP: {
        char kept[300];
        uint64_t left = netstream_close(t->ns, abandon ? 0 : s->opt.flush_timeout, kept,
                                        sizeof kept);
        t->ns = NULL;
        if (left) {
            char what[400];
            snprintf(what, sizeof what, "%llu IPFIX messages not delivered%s%s",
                     (unsigned long long)left, kept[0] ? ", kept in the spill file " : "", kept);
            errno = EIO;
            rc = sink_fail(s, what);
        }
        break;
    }
    }
    free(t->pre);
    ipfix_writer_free(&t->w);
    return rc;
}

#define IPFIX_OPS(var, nm, fl, op)                                                               \
    const struct joy_sink_ops var = {                                                            \
        .name = nm, .size = sizeof(struct ipfix_sink), .flags = fl, .open = op,                  \
        .write = ipfix_write, .flush = ipfix_flush, .close = ipfix_close,                        \
        .write_meta = ipfix_write_meta, .report = ipfix_report,                                  \
    }

IPFIX_OPS(sink_ipfix_udp_ops, "ipfix", 0, open_udp_sink);
IPFIX_OPS(sink_ipfix_tcp_ops, "ipfix+tcp", 0, open_tcp_sink);
IPFIX_OPS(sink_ipfix_file_ops, "ipfix+file", SINK_FILE, open_file_sink);

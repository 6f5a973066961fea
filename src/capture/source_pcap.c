/*
 * source_pcap.c - the packet source of live capture through libpcap.
 *
 * open() creates and activates the handle (snaplen, promiscuous mode,
 * 100 ms timeout, 32 MiB buffer, nanosecond timestamps when the system
 * gives them), checks that joy decodes the link type and installs the
 * filter in the kernel.  next() is pcap_next_ex() on the non-blocking
 * handle: the packet stays in libpcap's ring (no copy) until the next
 * call; 100 ms without a packet is SOURCE_IDLE.  breakloop() sets the stop
 * flag and calls pcap_breakloop(), both safe in a signal handler.  stats()
 * is pcap_stats().
 */
#include "source.h"

#include "joy/joy.h"

#include <errno.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIVE_TIMEOUT_MS 100
#define LIVE_BUFFER (32 << 20)

struct pcap_source {
    struct joy_source base;
    char *interface, *bpf;      /* bpf NULL: no filter */
    int snaplen;
    bool promisc;
    pcap_t *p;                  /* after a successful open() */
    pcap_t *volatile live;      /* what breakloop() may poke: p while capturing */
    int fd;                     /* to poll() */
    int dlt;
    bool nano;
    bool ended;
    uint64_t delivered;
};

static enum source_error pcap_src_open(struct joy_source *s)
{
    struct pcap_source *ps = (struct pcap_source *)s;
    const char *ifc = ps->interface;
    char errbuf[PCAP_ERRBUF_SIZE] = "";
    pcap_t *p = pcap_create(ifc, errbuf);
    if (!p) {
        source_fail(s, SOURCE_FATAL, "%s: %s", ifc, errbuf);
        return s->error;
    }
    pcap_set_snaplen(p, ps->snaplen);
    pcap_set_promisc(p, ps->promisc);
    pcap_set_timeout(p, LIVE_TIMEOUT_MS);
    pcap_set_buffer_size(p, LIVE_BUFFER);
    pcap_set_tstamp_precision(p, PCAP_TSTAMP_PRECISION_NANO);
    int rc = pcap_activate(p);
    if (rc < 0) {
        source_fail(s, SOURCE_FATAL, "%s: cannot capture: %s", ifc,
                    rc == PCAP_ERROR ? pcap_geterr(p) : pcap_statustostr(rc));
        pcap_close(p);
        return s->error;
    }
    if (rc > 0)
        source_log(s, SOURCE_WARN, "%s: %s", ifc, pcap_statustostr(rc));
    ps->dlt = pcap_datalink(p);
    ps->nano = pcap_get_tstamp_precision(p) == PCAP_TSTAMP_PRECISION_NANO;
    if (!joy_linktype_supported(ps->dlt)) {
        source_fail(s, SOURCE_FATAL, "%s: link type %d (%s) is not supported", ifc, ps->dlt,
                    joy_linktype_name(ps->dlt));
        pcap_close(p);
        return s->error;
    }
    if (ps->bpf) {
        struct bpf_program prog;
        if (pcap_compile(p, &prog, ps->bpf, 1, PCAP_NETMASK_UNKNOWN) != 0 ||
            pcap_setfilter(p, &prog) != 0) {
            source_fail(s, SOURCE_CONFIG, "filter '%s': %s", ps->bpf, pcap_geterr(p));
            pcap_close(p);
            return s->error;
        }
        pcap_freecode(&prog);
    }
    if ((ps->fd = pcap_get_selectable_fd(p)) < 0 || pcap_setnonblock(p, 1, errbuf) != 0) {
        source_fail(s, SOURCE_FATAL, "%s: cannot capture: %s", ifc,
                    ps->fd < 0 ? "no selectable descriptor" : errbuf);
        pcap_close(p);
        return s->error;
    }
    source_log(s, SOURCE_INFO, "capturing on %s (link type %s)", ifc,
               joy_linktype_name(ps->dlt));
    ps->p = p;
    ps->live = p;
    return SOURCE_OK;
}

/*
 * The handle is non-blocking and next() waits in its own poll(): with
 * TPACKET_V3 libpcap would block until the kernel retires a block, and
 * the kernel never retires an empty one, so a silent link would never
 * give the caller a chance to move its clock.  poll() returns early with
 * EINTR when a signal arrives (handlers without SA_RESTART); a breakloop()
 * from another thread is seen within one timeout.
 */
static enum source_result pcap_src_next(struct joy_source *s, struct source_packet *pkt)
{
    struct pcap_source *ps = (struct pcap_source *)s;
    while (ps->p && !ps->ended && !s->stop) {
        struct pcap_pkthdr *h;
        const u_char *data;
        int rc = pcap_next_ex(ps->p, &h, &data);
        if (rc == 1) {
            pkt->data = data;
            pkt->buf = NULL;
            pkt->caplen = h->caplen;
            pkt->wirelen = h->len;
            pkt->ts_ns = (uint64_t)h->ts.tv_sec * 1000000000u +
                         (uint64_t)h->ts.tv_usec * (ps->nano ? 1u : 1000u);
            pkt->time_base = 0;
            pkt->linktype = ps->dlt;
            ps->delivered++;
            return SOURCE_PACKET;
        }
        if (rc == 0) {
            struct pollfd pfd = {.fd = ps->fd, .events = POLLIN};
            int n = poll(&pfd, 1, LIVE_TIMEOUT_MS);
            if (n == 0)
                return SOURCE_IDLE;
            if (n < 0 && errno != EINTR) {
                source_fail(s, SOURCE_FATAL, "%s: %s", ps->interface, strerror(errno));
                ps->ended = true;
            }
            continue;
        }
        if (rc != PCAP_ERROR_BREAK)
            source_fail(s, SOURCE_FATAL, "%s: %s", ps->interface, pcap_geterr(ps->p));
        ps->ended = true;
    }
    return SOURCE_END;
}

static int pcap_src_stats(struct joy_source *s, struct source_stats *st)
{
    struct pcap_source *ps = (struct pcap_source *)s;
    struct pcap_stat k;
    memset(st, 0, sizeof *st);
    st->delivered = ps->delivered;
    if (!ps->p || pcap_stats(ps->p, &k) != 0)
        return -1;
    st->received = k.ps_recv;
    st->dropped = k.ps_drop;
    st->if_dropped = k.ps_ifdrop;
    st->kernel = true;
    return 0;
}

static void pcap_src_breakloop(struct joy_source *s)
{
    struct pcap_source *ps = (struct pcap_source *)s;
    s->stop = 1;
    pcap_t *p = ps->live;
    if (p)
        pcap_breakloop(p);
}

static void pcap_src_close(struct joy_source *s)
{
    struct pcap_source *ps = (struct pcap_source *)s;
    ps->live = NULL;
    if (ps->p)
        pcap_close(ps->p);
    free(ps->interface);
    free(ps->bpf);
    free(ps);
}

static const struct joy_source_ops pcap_ops = {
    .name = "pcap",
    .open = pcap_src_open,
    .next = pcap_src_next,
    .stats = pcap_src_stats,
    .breakloop = pcap_src_breakloop,
    .close = pcap_src_close,
};

struct joy_source *source_pcap_new(const struct source_pcap_opts *o, enum source_error *error,
                                   char *err, size_t errlen)
{
    *error = SOURCE_FATAL;
    struct pcap_source *ps = calloc(1, sizeof *ps);
    if (!ps || !(ps->interface = strdup(o->interface ? o->interface : "")) ||
        (o->bpf && o->bpf[0] && !(ps->bpf = strdup(o->bpf)))) {
        if (ps) {
            free(ps->interface);
            free(ps);
        }
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    source_init(&ps->base, &pcap_ops, o->log, o->log_user);
    ps->snaplen = o->snaplen;
    ps->promisc = o->promisc;
    *error = SOURCE_OK;
    return &ps->base;
}

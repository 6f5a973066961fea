/*
 * source_afpacket.c - live capture through an AF_PACKET socket with a
 * TPACKET_V3 ring (Linux), one socket per worker thread in one fanout
 * group (packet(7), PACKET_FANOUT).
 *
 * open(): a SOCK_RAW socket of protocol 0 (it receives nothing yet),
 * TPACKET_V3, a filter that rejects every packet, the ring (32 blocks of
 * 1 MiB, blocks retired after 10 ms), mmap, bind to the interface with
 * ETH_P_ALL, promiscuous membership if asked, and the fanout group: the
 * first socket makes it (PACKET_FANOUT_FLAG_UNIQUEID: the kernel picks a
 * free id, so two joy processes never share a group) and the others join
 * by that id.  source_afpacket_start() then swaps the reject-all filter for
 * the real one (the -f expression compiled by libpcap for Ethernet on a
 * dead handle, or just "accept snaplen bytes"), so no socket sees a packet
 * before the whole group exists and every packet is counted once.
 *
 * next(): walk the frames of the current block in place (no copy); a
 * block is handed back to the kernel when the caller asks for the packet
 * after its last one.  poll() with 100 ms: SOURCE_IDLE.
 *
 * stats(): PACKET_STATISTICS, which the kernel resets on every read, so
 * the figures are accumulated here in 64-bit counters.  tp_packets counts
 * every packet that passed the filter, dropped ones included: received =
 * delivered + dropped once the ring is drained.
 *
 * Fanout modes and what they keep together (doc/internals/threads.md):
 *   addr  PACKET_FANOUT_CBPF with the program below: a symmetric hash of
 *         the IPv4/IPv6 address pair, so both directions of every flow and
 *         every fragment of a datagram reach the same socket;
 *   hash  PACKET_FANOUT_HASH: the kernel's symmetric flow hash (5-tuple);
 *         fragments carry no ports and hash by address pair, so a flow
 *         whose datagrams are sometimes fragmented may be split;
 *   cpu, lb  split flows (by receiving CPU, round robin): only when asked.
 */
#include "source.h"

#include "joy/joy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int source_afpacket_fanout_mode(const char *name)
{
    static const char *const names[] = {"", "addr", "hash", "cpu", "lb"};
    for (int i = 1; i < (int)(sizeof names / sizeof names[0]); i++)
        if (name && strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

#ifdef __linux__

#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define AFP_TIMEOUT_MS 100
#define AFP_BLOCK_SIZE (1u << 20)
#define AFP_BLOCKS 32u
#define AFP_FRAME_SIZE 2048u
#define AFP_RETIRE_MS 10u

struct afp_source {
    struct joy_source base;
    char *interface, *bpf;
    int snaplen;
    bool promisc;
    enum afp_fanout fanout;
    int *group;
    int fd;
    int ifindex;
    int linktype;
    unsigned mtu;
    uint8_t *ring;
    size_t ring_len;
    unsigned block;                  /* the block being read */
    struct tpacket_block_desc *cur;  /* that block while it is ours, else NULL */
    uint8_t *next_pkt;               /* next frame in cur */
    uint32_t left;                   /* frames left in cur */
    bool gso_warned;
    bool draining;                   /* stopped: the ring is being emptied */
    bool drain_waited;               /* ... and the last partial block had its chance */
    uint64_t delivered, received, dropped, freezes, gso_frames;
};

bool source_afpacket_available(void) { return true; }

/* ---------------------------------------------------------------------
 * The addr fanout program (classic BPF, run by the kernel on every packet
 * to pick the socket: its result modulo the number of sockets).  Loads are
 * relative to the network header (SKF_NET_OFF), which the kernel has set
 * for received and for sent packets alike (absolute offsets would be
 * wrong: on receive skb->data is at L3, on transmit at L2), and the
 * protocol comes from skb->protocol (SKF_AD_PROTOCOL), so VLAN tags taken
 * off by the NIC do not matter.  The hash is the 32-bit sum of the
 * address words - the same for both directions - mixed so the low bits
 * depend on every bit: h ^= h >> 16; h *= 0x45d9f3b; h ^= h >> 16.
 * Anything not IPv4/IPv6 (ARP, ...) goes to the first socket.
 */
#define NET(off) ((uint32_t)(SKF_NET_OFF + (off)))
#define LD_W_NET(off) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, NET(off))
#define TAX BPF_STMT(BPF_MISC | BPF_TAX, 0)
#define ADD_X BPF_STMT(BPF_ALU | BPF_ADD | BPF_X, 0)
#define ADD_WORD(off) TAX, LD_W_NET(off), ADD_X      /* A = X(=A) + word */

static const struct sock_filter addr_prog[] = {
    /* 0 */ BPF_STMT(BPF_LD | BPF_H | BPF_ABS, (uint32_t)(SKF_AD_OFF + SKF_AD_PROTOCOL)),
    /* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IP, 1, 0),     /* IPv4: to 3 */
    /* 2 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IPV6, 5, 35),  /* IPv6: to 8, else 38 */
    /* IPv4: saddr at 12, daddr at 16 */
    /* 3 */ LD_W_NET(12),
    /* 4 */ TAX,
    /* 5 */ LD_W_NET(16),
    /* 6 */ ADD_X,
    /* 7 */ BPF_JUMP(BPF_JMP | BPF_JA, 22, 0, 0),                   /* to 30 */
    /* IPv6: saddr at 8..23, daddr at 24..39: the sum of the 8 words */
    /* 8 */ LD_W_NET(8),
    /* 9-29 */ ADD_WORD(12), ADD_WORD(16), ADD_WORD(20), ADD_WORD(24), ADD_WORD(28),
    ADD_WORD(32), ADD_WORD(36),
    /* 30: mix */
    /* 30 */ TAX,
    /* 31 */ BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 16),
    /* 32 */ BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),
    /* 33 */ BPF_STMT(BPF_ALU | BPF_MUL | BPF_K, 0x45d9f3b),
    /* 34 */ TAX,
    /* 35 */ BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 16),
    /* 36 */ BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),
    /* 37 */ BPF_STMT(BPF_RET | BPF_A, 0),
    /* 38: not IP */
    /* 38 */ BPF_STMT(BPF_RET | BPF_K, 0),
};

static int attach(int fd, int level, int opt, const struct sock_filter *ins, size_t n)
{
    struct sock_fprog prog;
    prog.len = (unsigned short)n;
    /* the kernel only reads the program */
    memcpy(&prog.filter, &ins, sizeof ins);
    return setsockopt(fd, level, opt, &prog, sizeof prog);
}

static void afp_unmap(struct afp_source *a)
{
    if (a->ring)
        munmap(a->ring, a->ring_len);
    a->ring = NULL;
    if (a->fd >= 0)
        close(a->fd);
    a->fd = -1;
}

static enum source_error afp_fail(struct afp_source *a, enum source_error grade, const char *what)
{
    int e = errno;
    afp_unmap(a);
    source_fail(&a->base, grade, "%s: %s: %s", a->interface, what, strerror(e));
    return a->base.error;
}

static enum source_error afp_open(struct joy_source *s)
{
    struct afp_source *a = (struct afp_source *)s;
    if ((a->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0)) < 0)
        return afp_fail(a, SOURCE_FATAL, "cannot open an AF_PACKET socket");
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", a->interface);
    if (ioctl(a->fd, SIOCGIFINDEX, &ifr) != 0)
        return afp_fail(a, SOURCE_FATAL, "no such interface");
    a->ifindex = ifr.ifr_ifindex;
    if (ioctl(a->fd, SIOCGIFHWADDR, &ifr) != 0)
        return afp_fail(a, SOURCE_FATAL, "cannot read the link type");
    switch (ifr.ifr_hwaddr.sa_family) {
    case ARPHRD_ETHER:
    case ARPHRD_LOOPBACK: a->linktype = 1; break;    /* LINKTYPE_ETHERNET */
    case ARPHRD_NONE: a->linktype = 101; break;      /* LINKTYPE_RAW: tun, wireguard */
    default:
        errno = EPROTONOSUPPORT;
        return afp_fail(a, SOURCE_FATAL, "link type not handled by capture=afpacket (try capture=pcap)");
    }
    a->mtu = ioctl(a->fd, SIOCGIFMTU, &ifr) == 0 ? (unsigned)ifr.ifr_mtu : 1500;

    int v = TPACKET_V3;
    if (setsockopt(a->fd, SOL_PACKET, PACKET_VERSION, &v, sizeof v) != 0)
        return afp_fail(a, SOURCE_FATAL, "TPACKET_V3");
    static const struct sock_filter reject_all[] = {BPF_STMT(BPF_RET | BPF_K, 0)};
    if (attach(a->fd, SOL_SOCKET, SO_ATTACH_FILTER, reject_all, 1) != 0)
        return afp_fail(a, SOURCE_FATAL, "SO_ATTACH_FILTER");
    struct tpacket_req3 req;
    memset(&req, 0, sizeof req);
    req.tp_block_size = AFP_BLOCK_SIZE;
    req.tp_block_nr = AFP_BLOCKS;
    req.tp_frame_size = AFP_FRAME_SIZE;
    req.tp_frame_nr = AFP_BLOCK_SIZE / AFP_FRAME_SIZE * AFP_BLOCKS;
    req.tp_retire_blk_tov = AFP_RETIRE_MS;
    if (setsockopt(a->fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) != 0)
        return afp_fail(a, SOURCE_FATAL, "PACKET_RX_RING");
    a->ring_len = (size_t)AFP_BLOCK_SIZE * AFP_BLOCKS;
    void *ring = mmap(NULL, a->ring_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_LOCKED, a->fd, 0);
    if (ring == MAP_FAILED)
        ring = mmap(NULL, a->ring_len, PROT_READ | PROT_WRITE, MAP_SHARED, a->fd, 0);
    if (ring == MAP_FAILED)
        return afp_fail(a, SOURCE_FATAL, "cannot map the ring");
    a->ring = ring;

    struct sockaddr_ll ll;
    memset(&ll, 0, sizeof ll);
    ll.sll_family = AF_PACKET;
    ll.sll_protocol = htons(ETH_P_ALL);
    ll.sll_ifindex = a->ifindex;
    if (bind(a->fd, (struct sockaddr *)&ll, sizeof ll) != 0)
        return afp_fail(a, SOURCE_FATAL, "cannot bind");
    if (a->promisc) {
        struct packet_mreq mr;
        memset(&mr, 0, sizeof mr);
        mr.mr_ifindex = a->ifindex;
        mr.mr_type = PACKET_MR_PROMISC;
        if (setsockopt(a->fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) != 0)
            return afp_fail(a, SOURCE_FATAL, "promiscuous mode");
    }
    if (a->fanout != AFP_FANOUT_NONE) {
        static const int kinds[] = {0, PACKET_FANOUT_CBPF, PACKET_FANOUT_HASH, PACKET_FANOUT_CPU,
                                    PACKET_FANOUT_LB};
        bool first = *a->group < 0;
        int arg = (first ? 0 : *a->group) |
                  ((kinds[a->fanout] | (first ? PACKET_FANOUT_FLAG_UNIQUEID : 0)) << 16);
        if (setsockopt(a->fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof arg) != 0)
            return afp_fail(a, SOURCE_FATAL, "cannot join the fanout group (PACKET_FANOUT)");
        if (first) {
            int got = 0;
            socklen_t len = sizeof got;
            if (getsockopt(a->fd, SOL_PACKET, PACKET_FANOUT, &got, &len) != 0)
                return afp_fail(a, SOURCE_FATAL, "cannot read the fanout group id");
            *a->group = got & 0xffff;
            if (a->fanout == AFP_FANOUT_ADDR &&
                attach(a->fd, SOL_PACKET, PACKET_FANOUT_DATA, addr_prog,
                       sizeof addr_prog / sizeof addr_prog[0]) != 0)
                return afp_fail(a, SOURCE_FATAL, "cannot set the fanout program");
        }
    }
    source_log(s, SOURCE_DEBUG, "%s: AF_PACKET TPACKET_V3 ring of %u x %u KiB, fanout group %d",
               a->interface, AFP_BLOCKS, AFP_BLOCK_SIZE >> 10, a->fanout ? *a->group : -1);
    return SOURCE_OK;
}

enum source_error source_afpacket_start(struct joy_source *s)
{
    struct afp_source *a = (struct afp_source *)s;
    if (s->error)
        return s->error;
    pcap_t *dead = pcap_open_dead(a->linktype == 101 ? DLT_RAW : DLT_EN10MB, a->snaplen);
    struct bpf_program prog;
    if (!dead) {
        errno = ENOMEM;
        return afp_fail(a, SOURCE_FATAL, "pcap_open_dead");
    }
    /* no filter: "accept snaplen bytes" (the kernel cuts the frame) */
    if (pcap_compile(dead, &prog, a->bpf ? a->bpf : "", 1, PCAP_NETMASK_UNKNOWN) != 0) {
        source_fail(s, SOURCE_CONFIG, "filter '%s': %s", a->bpf ? a->bpf : "", pcap_geterr(dead));
        pcap_close(dead);
        afp_unmap(a);
        return s->error;
    }
    int rc = attach(a->fd, SOL_SOCKET, SO_ATTACH_FILTER, (const struct sock_filter *)prog.bf_insns,
                    prog.bf_len);
    pcap_freecode(&prog);
    pcap_close(dead);
    if (rc != 0)
        return afp_fail(a, SOURCE_FATAL, "SO_ATTACH_FILTER");
    return SOURCE_OK;
}

static struct tpacket_block_desc *block_at(struct afp_source *a, unsigned i)
{
    return (struct tpacket_block_desc *)(void *)(a->ring + (size_t)i * AFP_BLOCK_SIZE);
}

static void release_block(struct afp_source *a)
{
    __atomic_store_n(&a->cur->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
    a->cur = NULL;
    a->block = (a->block + 1) % AFP_BLOCKS;
}

static enum source_result afp_next(struct joy_source *s, struct source_packet *pkt)
{
    struct afp_source *a = (struct afp_source *)s;
    if (!a->ring)
        return SOURCE_END;
    for (;;) {
        /* Stopped: no new packet enters the ring (a reject-all filter),
         * and every packet the kernel already counted is still read, so
         * that the kernel's count stays = delivered + dropped. */
        if (s->stop && !a->draining) {
            static const struct sock_filter reject_all[] = {BPF_STMT(BPF_RET | BPF_K, 0)};
            attach(a->fd, SOL_SOCKET, SO_ATTACH_FILTER, reject_all, 1);
            a->draining = true;
        }
        if (a->cur && a->left == 0)
            release_block(a);
        if (!a->cur) {
            struct tpacket_block_desc *b = block_at(a, a->block);
            if (!(__atomic_load_n(&b->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER)) {
                if (a->draining && a->drain_waited)
                    return SOURCE_END;
                struct pollfd pfd = {.fd = a->fd, .events = POLLIN | POLLERR};
                /* draining: long enough for the kernel to retire a partly
                 * filled block (tp_retire_blk_tov) */
                int n = poll(&pfd, 1, a->draining ? (int)AFP_RETIRE_MS * 3 : AFP_TIMEOUT_MS);
                if (a->draining) {
                    a->drain_waited = true;
                    continue;
                }
                if (n < 0 && errno != EINTR) {
                    source_fail(s, SOURCE_FATAL, "%s: poll: %s", a->interface, strerror(errno));
                    return SOURCE_END;
                }
                if (n == 0)
                    return SOURCE_IDLE;
                continue;
            }
            a->cur = b;
            a->left = b->hdr.bh1.num_pkts;
            a->next_pkt = (uint8_t *)b + b->hdr.bh1.offset_to_first_pkt;
            continue;
        }
        const struct tpacket3_hdr *h = (const struct tpacket3_hdr *)(void *)a->next_pkt;
        a->next_pkt += h->tp_next_offset;
        a->left--;
        pkt->data = (const uint8_t *)h + h->tp_mac;
        pkt->buf = NULL;
        pkt->caplen = h->tp_snaplen < (uint32_t)a->snaplen ? h->tp_snaplen : (uint32_t)a->snaplen;
        pkt->wirelen = h->tp_len;
        pkt->ts_ns = (uint64_t)h->tp_sec * 1000000000u + h->tp_nsec;
        pkt->time_base = 0;
        pkt->linktype = a->linktype;
        if (h->tp_len > a->mtu + 18u) {      /* Ethernet header and one VLAN tag */
            a->gso_frames++;
            if (!a->gso_warned) {
                a->gso_warned = true;
                source_log(s, SOURCE_WARN,
                           "%s: a %u-byte frame is longer than the MTU (%u): the interface hands "
                           "over offloaded super-packets (GRO/GSO/TSO), so packet counts and "
                           "lengths will not be those on the wire; consider "
                           "'ethtool -K %s gro off gso off tso off'",
                           a->interface, h->tp_len, a->mtu, a->interface);
            }
        }
        a->delivered++;
        return SOURCE_PACKET;
    }
}

static int afp_stats(struct joy_source *s, struct source_stats *st)
{
    struct afp_source *a = (struct afp_source *)s;
    memset(st, 0, sizeof *st);
    if (a->fd >= 0) {
        struct tpacket_stats_v3 ks;
        socklen_t len = sizeof ks;
        if (getsockopt(a->fd, SOL_PACKET, PACKET_STATISTICS, &ks, &len) == 0) {
            a->received += ks.tp_packets; /* reset by the kernel on every read */
            a->dropped += ks.tp_drops;
            a->freezes += ks.tp_freeze_q_cnt;
        }
    }
    st->delivered = a->delivered;
    st->received = a->received;
    st->dropped = a->dropped;
    st->gso_frames = a->gso_frames;
    st->kernel = true;
    return 0;
}

static void afp_close(struct joy_source *s)
{
    struct afp_source *a = (struct afp_source *)s;
    afp_unmap(a);
    free(a->interface);
    free(a->bpf);
    free(a);
}

static const struct joy_source_ops afp_ops = {
    .name = "afpacket",
    .open = afp_open,
    .next = afp_next,
    .stats = afp_stats,
    .breakloop = source_breakloop_flag,
    .close = afp_close,
};

struct joy_source *source_afpacket_new(const struct source_afpacket_opts *o,
                                       enum source_error *error, char *err, size_t errlen)
{
    struct afp_source *a = calloc(1, sizeof *a);
    if (!a || !(a->interface = strdup(o->interface)) ||
        (o->bpf && o->bpf[0] && !(a->bpf = strdup(o->bpf)))) {
        if (a)
            free(a->interface);
        free(a);
        *error = SOURCE_FATAL;
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    source_init(&a->base, &afp_ops, o->log, o->log_user);
    a->snaplen = o->snaplen;
    a->promisc = o->promisc;
    a->fanout = o->fanout;
    a->group = o->group;
    a->fd = -1;
    return &a->base;
}

#else /* not Linux */

bool source_afpacket_available(void) { return false; }

struct joy_source *source_afpacket_new(const struct source_afpacket_opts *o,
                                       enum source_error *error, char *err, size_t errlen)
{
    (void)o;
    *error = SOURCE_CONFIG;
    snprintf(err, errlen, "capture=afpacket needs Linux; use capture=pcap");
    return NULL;
}

enum source_error source_afpacket_start(struct joy_source *s)
{
    (void)s;
    return SOURCE_CONFIG;
}

#endif

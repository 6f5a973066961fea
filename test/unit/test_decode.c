/* test_decode.c - every link type, IPv4 options, IPv6 extension headers,
 * transport headers and truncation. Frames are built byte by byte here. */
#include "joy/joy.h"
#include "packet.h"
#include "unit.h"

#include <stdint.h>

struct bld {
    uint8_t b[4096];
    size_t n;
};

static void p8(struct bld *x, unsigned v) { x->b[x->n++] = (uint8_t)v; }
static void p16(struct bld *x, unsigned v) { p8(x, v >> 8); p8(x, v); }
static void p32(struct bld *x, uint32_t v) { p16(x, v >> 16); p16(x, v & 0xffff); }
static void pz(struct bld *x, size_t n) { while (n--) p8(x, 0); }

static const uint8_t A4[4] = {10, 0, 0, 1}, B4[4] = {192, 168, 1, 2};

/* IPv4 + UDP with `opt` bytes of IPv4 options and `pay` payload bytes */
static void ipv4_udp(struct bld *x, size_t opt, size_t pay)
{
    size_t ihl = 20 + opt;
    p8(x, 0x40 | (unsigned)(ihl / 4));
    p8(x, 0);
    p16(x, (unsigned)(ihl + 8 + pay));
    p16(x, 0x1234); /* id */
    p16(x, 0);
    p8(x, 63); /* ttl */
    p8(x, 17);
    p16(x, 0);
    for (int i = 0; i < 4; i++) p8(x, A4[i]);
    for (int i = 0; i < 4; i++) p8(x, B4[i]);
    for (size_t i = 0; i < opt; i++) p8(x, i == 0 ? 0x94 : (i == 1 ? 4 : 0)); /* router alert */
    p16(x, 5000);
    p16(x, 53);
    p16(x, (unsigned)(8 + pay));
    p16(x, 0);
    for (size_t i = 0; i < pay; i++) p8(x, 'a');
}

static void ipv6_hdr(struct bld *x, unsigned next, size_t plen)
{
    p32(x, 0x60000000);
    p16(x, (unsigned)plen);
    p8(x, next);
    p8(x, 64);
    p16(x, 0x2001); p16(x, 0xdb8); pz(x, 11); p8(x, 1);
    p16(x, 0x2001); p16(x, 0xdb8); pz(x, 11); p8(x, 2);
}

static void tcp_hdr(struct bld *x, uint16_t sp, uint16_t dp, uint8_t flags, size_t optlen)
{
    p16(x, sp); p16(x, dp);
    p32(x, 1000); p32(x, 0);
    p8(x, (unsigned)((20 + optlen) / 4) << 4);
    p8(x, flags);
    p16(x, 65535); p16(x, 0); p16(x, 0);
    for (size_t i = 0; i < optlen; i++) p8(x, i < 4 ? "\x02\x04\x05\xb4"[i] : 1);
}

static void eth(struct bld *x, unsigned type) { pz(x, 12); p16(x, type); }

static void check_v4_udp(const struct packet *p, size_t pay)
{
    CHECK(p->ipver == 4 && p->proto == 17);
    CHECK(p->has_ports && p->sport == 5000 && p->dport == 53);
    CHECK(p->payload_len == pay && p->payload_cap == pay);
    CHECK(memcmp(p->src.b, A4, 4) == 0 && memcmp(p->dst.b, B4, 4) == 0);
    CHECK(p->ttl == 63 && p->ipid == 0x1234);
}

/* Every frame decoded here is also given to decode_packet_ip() (the
 * dispatcher's walk for joy_flow_hash): the same status, and on
 * DECODE_OK the same version, protocol and addresses; and to
 * joy_flow_keys(): the same status, both hashes of the decoded packet, its
 * protocol and fragment state. */
static enum decode_status dec(struct packet *p, int dlt, struct bld *x)
{
    enum decode_status st = decode_packet(p, dlt, x->b, (uint32_t)x->n, (uint32_t)x->n, 1);
    struct packet q;
    enum decode_status sq = decode_packet_ip(&q, dlt, x->b, (uint32_t)x->n, (uint32_t)x->n);
    CHECK(sq == st);
    if (st == DECODE_OK && sq == DECODE_OK)
        CHECK(q.ipver == p->ipver && q.proto == p->proto && memcmp(&q.src, &p->src, 16) == 0 &&
              memcmp(&q.dst, &p->dst, 16) == 0);
    struct joy_flow_keys k;
    int kr = joy_flow_keys(dlt, x->b, (uint32_t)x->n, (uint32_t)x->n, &k);
    CHECK((kr == JOY_OK) == (st == DECODE_OK));
    if (st == DECODE_OK && kr == JOY_OK)
        CHECK(k.addrs == packet_flow_hash(p, JOY_HASH_ADDRS) &&
              k.five == packet_flow_hash(p, JOY_HASH_5TUPLE) && k.proto == p->proto &&
              k.fragment == (uint8_t)p->frag && (k.datagram != 0) == (p->frag != FRAG_NONE));
    return st;
}

static void test_ethernet_variants(void)
{
    struct packet p;
    struct bld x = {.n = 0};
    eth(&x, 0x0800); ipv4_udp(&x, 0, 10);
    CHECK(dec(&p, 1, &x) == DECODE_OK); check_v4_udp(&p, 10);

    x.n = 0; pz(&x, 12); p16(&x, 0x8100); p16(&x, 5); p16(&x, 0x0800); ipv4_udp(&x, 0, 11);
    CHECK(dec(&p, 1, &x) == DECODE_OK); check_v4_udp(&p, 11);

    x.n = 0; pz(&x, 12); p16(&x, 0x88a8); p16(&x, 5); p16(&x, 0x8100); p16(&x, 6); p16(&x, 0x0800);
    ipv4_udp(&x, 0, 12);
    CHECK(dec(&p, 1, &x) == DECODE_OK); check_v4_udp(&p, 12);

    /* MPLS: two labels, the second with bottom-of-stack */
    x.n = 0; eth(&x, 0x8847); p32(&x, 0x00001040); p32(&x, 0x00002140); ipv4_udp(&x, 0, 13);
    CHECK(dec(&p, 1, &x) == DECODE_OK); check_v4_udp(&p, 13);

    /* PPPoE session carrying IPv4 */
    x.n = 0; eth(&x, 0x8864); p8(&x, 0x11); p8(&x, 0); p16(&x, 1); p16(&x, 40); p16(&x, 0x0021);
    ipv4_udp(&x, 0, 14);
    CHECK(dec(&p, 1, &x) == DECODE_OK); check_v4_udp(&p, 14);

    /* ARP is not IP; a frame shorter than the header is truncated */
    x.n = 0; eth(&x, 0x0806); pz(&x, 28);
    CHECK(dec(&p, 1, &x) == DECODE_NOT_IP);
    x.n = 0; pz(&x, 10);
    CHECK(dec(&p, 1, &x) == DECODE_TRUNCATED);
    /* Ethernet padding after a short IP packet is not payload */
    x.n = 0; eth(&x, 0x0800); ipv4_udp(&x, 0, 2); pz(&x, 16);
    CHECK(dec(&p, 1, &x) == DECODE_OK); check_v4_udp(&p, 2);
}

static void test_other_link_types(void)
{
    struct packet p;
    struct bld x;
    static const int raw[] = {12, 14, 101, 228};
    for (size_t i = 0; i < 4; i++) {
        x.n = 0; ipv4_udp(&x, 0, 7);
        CHECK(dec(&p, raw[i], &x) == DECODE_OK); check_v4_udp(&p, 7);
    }
    x.n = 0; ipv6_hdr(&x, 17, 8); p16(&x, 1); p16(&x, 2); p16(&x, 8); p16(&x, 0);
    CHECK(dec(&p, 229, &x) == DECODE_OK);
    CHECK(p.ipver == 6 && p.proto == 17 && p.sport == 1 && p.dport == 2 && p.payload_len == 0);

    /* Linux SLL (16 bytes, protocol last) and SLL2 (20 bytes, protocol first) */
    x.n = 0; pz(&x, 14); p16(&x, 0x0800); ipv4_udp(&x, 0, 5);
    CHECK(dec(&p, 113, &x) == DECODE_OK); check_v4_udp(&p, 5);
    x.n = 0; p16(&x, 0x0800); pz(&x, 18); ipv4_udp(&x, 0, 6);
    CHECK(dec(&p, 276, &x) == DECODE_OK); check_v4_udp(&p, 6);

    /* BSD NULL in both byte orders, OpenBSD LOOP in network order */
    x.n = 0; p8(&x, 2); pz(&x, 3); ipv4_udp(&x, 0, 3);
    CHECK(dec(&p, 0, &x) == DECODE_OK); check_v4_udp(&p, 3);
    x.n = 0; pz(&x, 3); p8(&x, 2); ipv4_udp(&x, 0, 3);
    CHECK(dec(&p, 0, &x) == DECODE_OK); check_v4_udp(&p, 3);
    x.n = 0; p8(&x, 30); pz(&x, 3); ipv6_hdr(&x, 59, 0);
    CHECK(dec(&p, 0, &x) == DECODE_OK && p.ipver == 6 && p.proto == 59);
    x.n = 0; p32(&x, 24); ipv6_hdr(&x, 59, 0);
    CHECK(dec(&p, 108, &x) == DECODE_OK && p.ipver == 6);

    /* PPP with and without address/control, Cisco HDLC */
    x.n = 0; p8(&x, 0xff); p8(&x, 0x03); p16(&x, 0x0021); ipv4_udp(&x, 0, 4);
    CHECK(dec(&p, 9, &x) == DECODE_OK); check_v4_udp(&p, 4);
    x.n = 0; p8(&x, 0x21); ipv4_udp(&x, 0, 4);
    CHECK(dec(&p, 50, &x) == DECODE_OK); check_v4_udp(&p, 4);
    x.n = 0; p8(&x, 0x0f); p8(&x, 0); p16(&x, 0x0800); ipv4_udp(&x, 0, 4);
    CHECK(dec(&p, 104, &x) == DECODE_OK); check_v4_udp(&p, 4);

    x.n = 0; pz(&x, 40);
    CHECK(dec(&p, 147, &x) == DECODE_UNSUPPORTED);
    CHECK(!linktype_supported(147) && linktype_supported(276) && linktype_supported(127));
    CHECK(strstr(linktype_name(127), "radiotap") != NULL);

    /* 802.11 data (ToDS) + LLC/SNAP; the same frame protected: counted, not parsed;
     * a management frame is not IP */
    x.n = 0; p8(&x, 0x08); p8(&x, 0x01); pz(&x, 22);
    p8(&x, 0xaa); p8(&x, 0xaa); p8(&x, 0x03); pz(&x, 3); p16(&x, 0x0800); ipv4_udp(&x, 0, 9);
    CHECK(dec(&p, 105, &x) == DECODE_OK); check_v4_udp(&p, 9);
    x.b[1] |= 0x40;
    CHECK(dec(&p, 105, &x) == DECODE_ENCRYPTED);
    x.b[0] = 0x80; x.b[1] = 0;
    CHECK(dec(&p, 105, &x) == DECODE_NOT_IP);
    /* radiotap with a bogus length; PFLOG (61 -> 64 bytes, AF 2); IPNET (24 bytes, AF 2) */
    x.n = 0; p8(&x, 0); p8(&x, 0); p8(&x, 200); p8(&x, 0); pz(&x, 4);
    CHECK(dec(&p, 127, &x) == DECODE_TRUNCATED);
    x.n = 0; p8(&x, 61); p8(&x, 2); pz(&x, 62); ipv4_udp(&x, 0, 8);
    CHECK(dec(&p, 117, &x) == DECODE_OK); check_v4_udp(&p, 8);
    x.n = 0; p8(&x, 2); p8(&x, 2); pz(&x, 22); ipv4_udp(&x, 0, 8);
    CHECK(dec(&p, 226, &x) == DECODE_OK); check_v4_udp(&p, 8);
}

static void test_ipv4_options_and_fragments(void)
{
    struct packet p;
    struct bld x = {.n = 0};
    ipv4_udp(&x, 8, 9);
    CHECK(decode_packet(&p, 228, x.b, (uint32_t)x.n, (uint32_t)x.n, 0) == DECODE_OK);
    check_v4_udp(&p, 9);
    CHECK(p.ip_hdr_len == 28);

    /* first fragment: MF set, offset 0 -> ports decoded, payload from IP */
    x.n = 0; ipv4_udp(&x, 0, 100);
    x.b[6] = 0x20;
    CHECK(decode_packet(&p, 228, x.b, (uint32_t)x.n, (uint32_t)x.n, 0) == DECODE_OK);
    CHECK(p.frag == FRAG_FIRST && p.has_ports && p.payload_len == 100);
    /* later fragment: offset 16 (128 bytes) -> no ports, the whole IP payload counts */
    x.b[6] = 0x00; x.b[7] = 16;
    CHECK(decode_packet(&p, 228, x.b, (uint32_t)x.n, (uint32_t)x.n, 0) == DECODE_OK);
    CHECK(p.frag == FRAG_LATER && !p.has_ports && p.payload_len == 108 && p.l4 == NULL);

    /* IHL < 5 is malformed; total length below the header is malformed */
    x.n = 0; ipv4_udp(&x, 0, 1); x.b[0] = 0x44;
    CHECK(decode_packet(&p, 228, x.b, (uint32_t)x.n, (uint32_t)x.n, 0) == DECODE_MALFORMED);
    x.n = 0; ipv4_udp(&x, 0, 1); x.b[2] = 0; x.b[3] = 10;
    CHECK(decode_packet(&p, 228, x.b, (uint32_t)x.n, (uint32_t)x.n, 0) == DECODE_MALFORMED);
}

static void test_ipv6_extension_headers(void)
{
    struct packet p;
    struct bld x = {.n = 0};
    /* hop-by-hop (16 bytes) -> routing (24) -> dest opts (8) -> AH (16) -> fragment -> UDP */
    size_t plen = 16 + 24 + 8 + 16 + 8 + 8 + 4;
    ipv6_hdr(&x, 0, plen);
    p8(&x, 43); p8(&x, 1); pz(&x, 14);
    p8(&x, 60); p8(&x, 2); p8(&x, 0); p8(&x, 0); pz(&x, 20);
    p8(&x, 51); p8(&x, 0); pz(&x, 6);
    p8(&x, 44); p8(&x, 2); pz(&x, 14); /* AH: (2 + 2) * 4 = 16 bytes */
    p8(&x, 17); p8(&x, 0); p16(&x, 0x0001); p32(&x, 0xabcdef01); /* first fragment, M=1 */
    p16(&x, 7); p16(&x, 9); p16(&x, 12); p16(&x, 0); p32(&x, 0x41424344);
    CHECK(decode_packet(&p, 229, x.b, (uint32_t)x.n, (uint32_t)x.n, 0) == DECODE_OK);
    CHECK(p.proto == 17 && p.has_ports && p.sport == 7 && p.dport == 9);
    CHECK(p.ip_hdr_len == 40 + 16 + 24 + 8 + 16 + 8);
    CHECK(p.frag == FRAG_FIRST && p.ipid == 0xabcdef01);
    CHECK(p.payload_len == 4 && memcmp(p.payload, "ABCD", 4) == 0);

    /* a later IPv6 fragment: no transport header */
    x.n = 0; ipv6_hdr(&x, 44, 8 + 100);
    p8(&x, 17); p8(&x, 0); p16(&x, 0x0100); p32(&x, 7); pz(&x, 100);
    CHECK(decode_packet(&p, 229, x.b, (uint32_t)x.n, (uint32_t)x.n, 0) == DECODE_OK);
    CHECK(p.frag == FRAG_LATER && !p.has_ports && p.payload_len == 100 && p.ipid == 7);

    /* an extension header claiming more bytes than the packet has */
    x.n = 0; ipv6_hdr(&x, 0, 8); p8(&x, 17); p8(&x, 200); pz(&x, 6);
    CHECK(decode_packet(&p, 229, x.b, (uint32_t)x.n, (uint32_t)x.n, 0) == DECODE_MALFORMED);
}

static void test_tcp_and_truncation(void)
{
    struct packet p;
    struct bld x = {.n = 0};
    ipv6_hdr(&x, 6, 24 + 5);
    tcp_hdr(&x, 443, 50000, 0x12, 4);
    for (int i = 0; i < 5; i++) p8(&x, 'z');
    CHECK(decode_packet(&p, 229, x.b, (uint32_t)x.n, (uint32_t)x.n, 0) == DECODE_OK);
    CHECK(p.proto == 6 && p.sport == 443 && p.dport == 50000 && p.tcp_flags == 0x12);
    CHECK(p.tcp_hdr_len == 24 && p.tcp_opts_cap == 4 && p.tcp_opts[0] == 2);
    CHECK(p.payload_len == 5 && p.tcp_seq == 1000 && p.tcp_win == 65535);

    /* snap length cut inside the TCP header: lengths still from the headers */
    x.n = 0; ipv4_udp(&x, 0, 0);
    x.n = 0;
    p8(&x, 0x45); p8(&x, 0); p16(&x, 1500); p16(&x, 1); p16(&x, 0x4000); p8(&x, 64); p8(&x, 6);
    p16(&x, 0); for (int i = 0; i < 4; i++) p8(&x, A4[i]); for (int i = 0; i < 4; i++) p8(&x, B4[i]);
    tcp_hdr(&x, 1, 2, 0x18, 12);
    CHECK(decode_packet(&p, 228, x.b, 20 + 14, 1514, 0) == DECODE_OK);
    CHECK(p.has_ports && p.sport == 1 && p.dport == 2 && p.tcp_flags == 0x18);
    CHECK(p.tcp_hdr_len == 32 && p.payload_len == 1500 - 20 - 32 && p.payload_cap == 0);
    /* only 3 bytes of TCP: no ports, the IP payload is counted */
    CHECK(decode_packet(&p, 228, x.b, 23, 1514, 0) == DECODE_OK);
    CHECK(!p.has_ports && p.payload_len == 1480);
    /* a lying data offset (< 5 words) is taken as 20 bytes */
    x.b[20 + 12] = 0x10;
    CHECK(decode_packet(&p, 228, x.b, (uint32_t)x.n, 1514, 0) == DECODE_OK && p.tcp_hdr_len == 20);
}

/* joy_flow_keys(): the straight read of Ethernet IPv4 gives what the full
 * decode gives behind a VLAN tag; both directions share both hashes; the
 * fragments of one datagram share a key that other datagrams do not. */
static void flow_keys_of(struct bld *ipv4, bool vlan, bool swap, struct joy_flow_keys *k)
{
    struct bld x = {.n = 0};
    if (vlan) {
        pz(&x, 12); p16(&x, 0x8100); p16(&x, 5); p16(&x, 0x0800);
    } else {
        eth(&x, 0x0800);
    }
    size_t at = x.n;
    for (size_t i = 0; i < ipv4->n; i++)
        p8(&x, ipv4->b[i]);
    if (swap) {                       /* the other direction: addresses and ports */
        for (int i = 0; i < 4; i++) {
            uint8_t t = x.b[at + 12 + i];
            x.b[at + 12 + i] = x.b[at + 16 + i];
            x.b[at + 16 + i] = t;
        }
        for (int i = 0; i < 2; i++) {
            uint8_t t = x.b[at + 20 + i];
            x.b[at + 20 + i] = x.b[at + 22 + i];
            x.b[at + 22 + i] = t;
        }
    }
    CHECK(joy_flow_keys(1, x.b, (uint32_t)x.n, (uint32_t)x.n, k) == JOY_OK);
}

static void test_flow_keys(void)
{
    struct bld ip = {.n = 0};
    struct joy_flow_keys a, b, c, d;
    ipv4_udp(&ip, 0, 100);
    ip.b[9] = 6;                      /* the ports read as TCP's */
    flow_keys_of(&ip, false, false, &a);
    flow_keys_of(&ip, true, false, &b);
    flow_keys_of(&ip, false, true, &c);
    CHECK(a.addrs == b.addrs && a.five == b.five && a.proto == 6 && b.proto == 6);
    CHECK(a.addrs == c.addrs && a.five == c.five);
    CHECK(a.five != a.addrs && a.fragment == JOY_FRAG_NONE && a.datagram == 0);
    uint32_t h = 0;
    CHECK(joy_flow_hash(1, (const uint8_t *)"", 0, 0, JOY_HASH_5TUPLE, &h) == JOY_ERR_NOT_IP);
    CHECK(joy_flow_keys(1, NULL, 5, 5, &d) == JOY_ERR_INVALID);
    /* a first fragment (ports), a later one (none: five is the address
     * pair's), the same datagram; another identification, another key */
    ip.b[6] = 0x20;
    flow_keys_of(&ip, false, false, &a);
    flow_keys_of(&ip, true, false, &b);
    CHECK(a.fragment == JOY_FRAG_FIRST && a.five != a.addrs && a.datagram != 0);
    CHECK(b.fragment == JOY_FRAG_FIRST && b.five == a.five && b.datagram == a.datagram);
    ip.b[6] = 0x00; ip.b[7] = 16;
    flow_keys_of(&ip, false, false, &c);
    CHECK(c.fragment == JOY_FRAG_LATER && c.five == c.addrs && c.addrs == a.addrs);
    CHECK(c.datagram == a.datagram);
    ip.b[5] ^= 1;
    flow_keys_of(&ip, false, false, &d);
    CHECK(d.datagram != 0 && d.datagram != a.datagram);
}

static void test_icmp_and_other(void)
{
    struct packet p;
    struct bld x = {.n = 0};
    p8(&x, 0x45); p8(&x, 0); p16(&x, 20 + 8 + 56); p16(&x, 1); p16(&x, 0); p8(&x, 64); p8(&x, 1);
    p16(&x, 0); for (int i = 0; i < 4; i++) p8(&x, A4[i]); for (int i = 0; i < 4; i++) p8(&x, B4[i]);
    p8(&x, 8); p8(&x, 0); pz(&x, 6); pz(&x, 56);
    CHECK(decode_packet(&p, 228, x.b, (uint32_t)x.n, (uint32_t)x.n, 0) == DECODE_OK);
    CHECK(p.proto == 1 && !p.has_ports && p.icmp_type == 8 && p.payload_len == 56);
    x.b[9] = 47; /* GRE: the whole IP payload */
    CHECK(decode_packet(&p, 228, x.b, (uint32_t)x.n, (uint32_t)x.n, 0) == DECODE_OK);
    CHECK(p.proto == 47 && p.payload_len == 64);
}

void run_decode_tests(void)
{
    TEST_RUN(test_ethernet_variants);
    TEST_RUN(test_other_link_types);
    TEST_RUN(test_ipv4_options_and_fragments);
    TEST_RUN(test_ipv6_extension_headers);
    TEST_RUN(test_tcp_and_truncation);
    TEST_RUN(test_icmp_and_other);
    TEST_RUN(test_flow_keys);
}

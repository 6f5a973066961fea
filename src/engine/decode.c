/*
 * \summary: link layer, IPv4, IPv6 and transport header decoding
 *
 * decode_packet() walks one captured frame from its link-layer header down
 * to the application payload and records what it found in a struct packet
 * (packet.h).  All reads go through the bounds-checked cursor; the frame is
 * never written to.
 *
 * Link layers (LINKTYPE values of the tcpdump.org registry):
 *   0 NULL, 108 LOOP      4-byte address family (NULL: writer's byte order)
 *   1 Ethernet            + 802.1Q / 802.1ad / QinQ tags, MPLS label stacks,
 *                           PPPoE sessions
 *   9 PPP, 50 PPP serial, 104 Cisco HDLC
 *   12, 14, 101 raw IP;   228 raw IPv4;   229 raw IPv6
 *   113 Linux SLL, 276 Linux SLL2
 *
 * Ethernet II with an 802.1Q tag:
 *   +-------------+-------------+------+------+------+-----------
 *   | dst MAC (6) | src MAC (6) |8100  | TCI  | type | payload
 *   +-------------+-------------+------+------+------+-----------
 *
 * IPv4 (RFC 791) header, options walked by IHL:
 *    0                   1                   2                   3
 *   |Version|  IHL  |Type of Service|          Total Length         |
 *   |         Identification        |Flags|      Fragment Offset    |
 *   |  Time to Live |    Protocol   |         Header Checksum       |
 *   |                       Source Address                          |
 *   |                    Destination Address                        |
 *
 * IPv6 (RFC 8200): 40-byte fixed header, then extension headers, each
 * walked by its own length field: hop-by-hop (0), routing (43) and
 * destination options (60), mobility (135), HIP (139), shim6 (140):
 * (len + 1) * 8 bytes; fragment (44): 8 bytes; AH (51, RFC 4302):
 * (len + 2) * 4 bytes.
 *
 * Transport: TCP (RFC 9293), UDP (RFC 768), SCTP (RFC 9260, common header
 * only), ICMP (RFC 792) and ICMPv6 (RFC 4443) type and code.
 */
#include "packet.h"
#include "cursor.h"

#include <arpa/inet.h>
#include <string.h>

enum {
    ETH_IPV4 = 0x0800, ETH_IPV6 = 0x86dd, ETH_VLAN = 0x8100, ETH_QINQ = 0x88a8,
    ETH_QINQ_OLD = 0x9100, ETH_QINQ_OLD2 = 0x9200, ETH_MPLS = 0x8847,
    ETH_MPLS_MC = 0x8848, ETH_PPPOE = 0x8864,
};

enum { MAX_L2_TAGS = 16, MAX_IPV6_EXT = 1024 }; /* each header is >= 8 bytes: the length bounds the walk */

static const struct {
    int dlt;
    const char *name;
} linktypes[] = {
    {0, "NULL (BSD loopback)"}, {1, "EN10MB (Ethernet)"}, {9, "PPP"}, {10, "FDDI"},
    {12, "RAW (raw IP)"}, {14, "RAW (raw IP, OpenBSD)"}, {50, "PPP_SERIAL"},
    {101, "RAW (raw IP)"}, {104, "C_HDLC (Cisco HDLC)"},
    {105, "IEEE802_11 (802.11 wireless)"}, {108, "LOOP (OpenBSD loopback)"},
    {113, "LINUX_SLL (Linux cooked)"}, {117, "PFLOG (OpenBSD pf log)"},
    {119, "PRISM_HEADER (802.11 + Prism)"}, {127, "IEEE802_11_RADIO (802.11 + radiotap)"},
    {163, "IEEE802_11_RADIO_AVS (802.11 + AVS)"}, {192, "PPI (802.11 + per-packet information)"},
    {226, "IPNET (Solaris IP observability)"}, {228, "IPV4 (raw IPv4)"},
    {229, "IPV6 (raw IPv6)"}, {239, "NFLOG (Linux netfilter log)"},
    {276, "LINUX_SLL2 (Linux cooked v2)"},
};

static const struct {
    int dlt;
    const char *name;
} other_linktypes[] = {
    {6, "IEEE802_5 (Token Ring)"}, {147, "USER0"}, {189, "USB_LINUX"},
    {195, "IEEE802_15_4"}, {220, "USB_LINUX_MMAPPED"},
    {249, "USBPCAP"}, {253, "NETLINK"}, {201, "BLUETOOTH_HCI_H4_WITH_PHDR"},
};

bool linktype_supported(int dlt)
{
    for (size_t i = 0; i < sizeof linktypes / sizeof linktypes[0]; i++)
        if (linktypes[i].dlt == dlt)
            return true;
    return false;
}

const char *linktype_name(int dlt)
{
    for (size_t i = 0; i < sizeof linktypes / sizeof linktypes[0]; i++)
        if (linktypes[i].dlt == dlt)
            return linktypes[i].name;
    for (size_t i = 0; i < sizeof other_linktypes / sizeof other_linktypes[0]; i++)
        if (other_linktypes[i].dlt == dlt)
            return other_linktypes[i].name;
    return "unknown";
}

/* ---------------------------------------------------------------------
 * Transport layer
 */
static void decode_transport(struct packet *pkt, struct cursor *c, uint32_t l4_len)
{
    const uint8_t *l4 = c->p;
    uint32_t cap = (uint32_t)cur_left(c);
    if (cap > l4_len)
        cap = l4_len;
    pkt->l4 = l4;
    pkt->l4_cap = cap;
    uint32_t hdr = 0;   /* transport header length */
    struct cursor t;
    cur_init(&t, l4, cap);

    switch (pkt->proto) {
    case 6: /* TCP */
        if (cap < 4)
            break;
        pkt->has_ports = true;
        pkt->sport = cur_u16(&t);
        pkt->dport = cur_u16(&t);
        pkt->tcp_seq = cur_u32(&t);
        pkt->tcp_ack = cur_u32(&t);
        /* Fields cut by the snap length stay 0 (the cursor's reads past
         * its end); without a data offset the header is taken to be the
         * minimal 20 bytes. */
        hdr = (uint32_t)(cur_u8(&t) >> 4) * 4;
        if (hdr < 20)
            hdr = 20; /* a lying data offset: take the minimum */
        pkt->tcp_flags = cur_u8(&t);
        pkt->tcp_win = cur_u16(&t);
        pkt->tcp_hdr_len = (uint8_t)hdr;
        if (cap > 20) {
            uint32_t ocap = (cap < hdr ? cap : hdr) - 20;
            pkt->tcp_opts = l4 + 20;
            pkt->tcp_opts_cap = (uint8_t)ocap;
        }
        break;
    case 17:  /* UDP */
    case 136: /* UDP-Lite */
        if (cap < 4)
            break;
        pkt->has_ports = true;
        pkt->sport = cur_u16(&t);
        pkt->dport = cur_u16(&t);
        hdr = 8;
        if (pkt->proto == 17)
            pkt->udp_len = cur_u16(&t); /* 0 if not captured */
        /* trust the UDP length only when it fits the IP payload; the first
         * fragment's says how long the datagram is (modules use it) */
        if (pkt->frag == FRAG_NONE && pkt->udp_len >= 8 && pkt->udp_len <= l4_len)
            l4_len = pkt->udp_len;
        break;
    case 132: /* SCTP */
        if (cap < 4)
            break;
        pkt->has_ports = true;
        pkt->sport = cur_u16(&t);
        pkt->dport = cur_u16(&t);
        hdr = 12;
        break;
    case 1:  /* ICMP */
    case 58: /* ICMPv6 */
        if (cap >= 2) {
            pkt->icmp_type = cur_u8(&t);
            pkt->icmp_code = cur_u8(&t);
        }
        hdr = 8;
        break;
    default:
        hdr = 0;
        break;
    }
    if ((pkt->proto == 6 || pkt->proto == 17 || pkt->proto == 132 || pkt->proto == 136) &&
        !pkt->has_ports)
        hdr = 0; /* nothing decoded: count the whole IP payload */

    pkt->payload_len = l4_len > hdr ? l4_len - hdr : 0;
    pkt->payload_cap = cap > hdr ? cap - hdr : 0;
    if (pkt->payload_cap > pkt->payload_len)
        pkt->payload_cap = pkt->payload_len;
    pkt->payload = l4 + (cap > hdr ? hdr : cap);
}

/* ---------------------------------------------------------------------
 * IPv4 and IPv6
 */
static enum decode_status decode_ipv4(struct packet *pkt, const uint8_t *ip, uint32_t cap)
{
    struct cursor c;
    cur_init(&c, ip, cap);
    uint8_t vihl = cur_u8(&c);
    uint32_t ihl = (uint32_t)(vihl & 15) * 4;
    cur_skip(&c, 1);
    uint32_t total = cur_u16(&c);
    pkt->ipid = cur_u16(&c);
    uint16_t fo = cur_u16(&c);
    pkt->ttl = cur_u8(&c);
    pkt->proto = cur_u8(&c);
    cur_skip(&c, 2);
    cur_copy(&c, pkt->src.b, 4);
    cur_copy(&c, pkt->dst.b, 4);
    if (!cur_ok(&c))
        return DECODE_TRUNCATED;
    if (ihl < 20)
        return DECODE_MALFORMED;
    if (total == 0) /* segmentation offload: length left to the NIC */
        total = cap;
    if (total < ihl)
        return DECODE_MALFORMED;
    pkt->ipver = 4;
    pkt->ip = ip;
    pkt->ip_len = total;
    pkt->ip_cap = cap < total ? cap : total; /* drop link-layer padding */
    pkt->ip_hdr_len = (uint16_t)ihl;
    pkt->frag_off = fo & 0x1fff;
    if (pkt->frag_off)
        pkt->frag = FRAG_LATER;
    else if (fo & 0x2000)
        pkt->frag = FRAG_FIRST;

    struct cursor l4;
    cur_init(&l4, ip, pkt->ip_cap);
    cur_skip(&l4, ihl); /* options are skipped by IHL */
    if (!cur_ok(&l4)) {
        /* options cut by the snap length: count, do not decode */
        pkt->payload_len = total - ihl;
        return DECODE_OK;
    }
    if (pkt->frag == FRAG_LATER) {
        pkt->payload = l4.p;
        pkt->payload_cap = (uint32_t)cur_left(&l4);
        pkt->payload_len = total - ihl;
        return DECODE_OK;
    }
    if (!pkt->ip_only)
        decode_transport(pkt, &l4, total - ihl);
    return DECODE_OK;
}

static enum decode_status decode_ipv6(struct packet *pkt, const uint8_t *ip, uint32_t cap)
{
    struct cursor c;
    cur_init(&c, ip, cap);
    cur_skip(&c, 4);
    uint32_t plen = cur_u16(&c);
    uint8_t next = cur_u8(&c);
    pkt->ttl = cur_u8(&c);
    cur_copy(&c, pkt->src.b, 16);
    cur_copy(&c, pkt->dst.b, 16);
    if (!cur_ok(&c))
        return DECODE_TRUNCATED;
    if (plen == 0 && cap > 40) /* jumbogram or offload: use what is there */
        plen = cap - 40;
    uint32_t total = 40 + plen;
    pkt->ipver = 6;
    pkt->ip = ip;
    pkt->ip_len = total;
    pkt->ip_cap = cap < total ? cap : total;
    cur_init(&c, ip, pkt->ip_cap);
    cur_skip(&c, 40);

    uint32_t hdr = 40;
    for (int i = 0; i < MAX_IPV6_EXT; i++) {
        uint32_t len;
        switch (next) {
        case 0: case 43: case 60: case 135: case 139: case 140:
            if (!cur_has(&c, 2))
                goto cut;
            len = ((uint32_t)cur_peek(&c, 1) + 1) * 8;
            break;
        case 51: /* AH */
            if (!cur_has(&c, 2))
                goto cut;
            len = ((uint32_t)cur_peek(&c, 1) + 2) * 4;
            break;
        case 44: { /* fragment */
            if (!cur_has(&c, 8))
                goto cut;
            uint16_t fo = (uint16_t)((cur_peek(&c, 2) << 8) | cur_peek(&c, 3));
            pkt->frag_off = fo >> 3;
            pkt->ipid = ((uint32_t)cur_peek(&c, 4) << 24) | ((uint32_t)cur_peek(&c, 5) << 16) |
                        ((uint32_t)cur_peek(&c, 6) << 8) | cur_peek(&c, 7);
            if (pkt->frag_off)
                pkt->frag = FRAG_LATER;
            else if (fo & 1)
                pkt->frag = FRAG_FIRST;
            len = 8;
            break;
        }
        default:
            goto done;
        }
        if (hdr + len > total)
            return DECODE_MALFORMED; /* an extension longer than the packet */
        next = cur_peek(&c, 0);
        cur_skip(&c, len);
        hdr += len;
        if (!cur_ok(&c))
            goto cut;
        if (pkt->frag == FRAG_LATER)
            goto done; /* the rest is a fragment of the payload */
    }
    return DECODE_MALFORMED; /* more extension headers than can fit a packet */
done:
    pkt->proto = next;
    pkt->ip_hdr_len = (uint16_t)hdr;
    if (pkt->frag == FRAG_LATER) {
        pkt->payload = c.p;
        pkt->payload_cap = (uint32_t)cur_left(&c);
        pkt->payload_len = total - hdr;
        return DECODE_OK;
    }
    if (!pkt->ip_only)
        decode_transport(pkt, &c, total - hdr);
    return DECODE_OK;
cut:
    /* extension headers cut by the snap length: count the packet */
    pkt->proto = next;
    pkt->ip_hdr_len = (uint16_t)hdr;
    pkt->payload_len = total > hdr ? total - hdr : 0;
    return DECODE_OK;
}

enum decode_status decode_ip(struct packet *pkt, const uint8_t *ip, uint32_t cap)
{
    if (cap < 1)
        return DECODE_TRUNCATED;
    switch (ip[0] >> 4) {
    case 4: return decode_ipv4(pkt, ip, cap);
    case 6: return decode_ipv6(pkt, ip, cap);
    default: return DECODE_MALFORMED;
    }
}

/* ---------------------------------------------------------------------
 * Link layers
 */

/* Follow an EtherType (and any tags, labels, PPPoE) to the IP header. */
static enum decode_status from_ethertype(struct packet *pkt, struct cursor *c, uint16_t type)
{
    for (int tags = 0; tags < MAX_L2_TAGS; tags++) {
        switch (type) {
        case ETH_IPV4:
        case ETH_IPV6:
            return decode_ip(pkt, c->p, (uint32_t)cur_left(c));
        case ETH_VLAN: case ETH_QINQ: case ETH_QINQ_OLD: case ETH_QINQ_OLD2:
            cur_skip(c, 2);
            type = cur_u16(c);
            break;
        case ETH_MPLS: case ETH_MPLS_MC: {
            int labels = 0;
            for (;;) {
                uint32_t l = cur_u32(c);
                if (!cur_ok(c))
                    return DECODE_TRUNCATED;
                if (l & 0x100)
                    break; /* bottom of stack */
                if (++labels > MAX_L2_TAGS)
                    return DECODE_MALFORMED;
            }
            uint8_t v = cur_peek(c, 0) >> 4;
            if (v == 4 || v == 6)
                return decode_ip(pkt, c->p, (uint32_t)cur_left(c));
            return DECODE_NOT_IP; /* pseudowire or unknown payload */
        }
        case ETH_PPPOE: {
            cur_skip(c, 6);
            uint16_t ppp = cur_u16(c);
            if (!cur_ok(c))
                return DECODE_TRUNCATED;
            if (ppp == 0x0021 || ppp == 0x0057)
                return decode_ip(pkt, c->p, (uint32_t)cur_left(c));
            return DECODE_NOT_IP;
        }
        default:
            return DECODE_NOT_IP;
        }
        if (!cur_ok(c))
            return DECODE_TRUNCATED;
    }
    return DECODE_MALFORMED;
}

static enum decode_status from_ppp(struct packet *pkt, struct cursor *c)
{
    if (cur_peek(c, 0) == 0xff && cur_peek(c, 1) == 0x03)
        cur_skip(c, 2);
    uint16_t proto = cur_u8(c);
    if (!(proto & 1)) /* protocol field not compressed: two bytes */
        proto = (uint16_t)((proto << 8) | cur_u8(c));
    if (!cur_ok(c))
        return DECODE_TRUNCATED;
    if (proto == 0x21 || proto == 0x57)
        return decode_ip(pkt, c->p, (uint32_t)cur_left(c));
    return DECODE_NOT_IP;
}

static enum decode_status from_af(struct packet *pkt, struct cursor *c, uint32_t af)
{
    switch (af) {
    case 2: /* AF_INET everywhere */
    case 10: case 24: case 26: case 28: case 30: /* AF_INET6: Linux, BSDs, Solaris, macOS/FreeBSD */
        return decode_ip(pkt, c->p, (uint32_t)cur_left(c));
    default:
        return DECODE_NOT_IP;
    }
}

/* An 802.2 LLC header: SNAP (AA AA 03, OUI, EtherType) leads to IP. */
static enum decode_status from_llc(struct packet *pkt, struct cursor *c)
{
    uint8_t dsap = cur_u8(c), ssap = cur_u8(c), ctl = cur_u8(c);
    if (!cur_ok(c))
        return DECODE_TRUNCATED;
    if (dsap != 0xaa || ssap != 0xaa || ctl != 0x03)
        return DECODE_NOT_IP; /* STP, NetBIOS, ...: not IP */
    cur_skip(c, 3); /* OUI: 00-00-00 (RFC 1042) or 00-00-F8 (802.1H) */
    uint16_t type = cur_u16(c);
    if (!cur_ok(c))
        return DECODE_TRUNCATED;
    return from_ethertype(pkt, c, type);
}

/* Ethernet II / 802.3 from the destination MAC on. */
static enum decode_status from_eth(struct packet *pkt, struct cursor *c)
{
    cur_skip(c, 12);
    uint16_t type = cur_u16(c);
    if (!cur_ok(c))
        return DECODE_TRUNCATED;
    if (type < 0x0600)
        return DECODE_NOT_IP; /* 802.3 length + LLC */
    return from_ethertype(pkt, c, type);
}

/*
 * IEEE 802.11 (LINKTYPE 105), from the frame control field on:
 *   FC (2, little-endian bit order) | duration (2) | addr1..3 (18) | seq (2)
 *   | addr4 (6, when ToDS and FromDS) | QoS control (2, QoS data subtypes)
 *   | HT control (4, QoS frames with the +HTC/Order flag) | LLC/SNAP | IP
 * Only data frames carry IP.  Null-function frames carry nothing; A-MSDU
 * aggregates are not taken apart (not IP); a protected (encrypted) frame
 * is counted (joy_stats.encrypted) and not parsed.
 */
static enum decode_status from_80211(struct packet *pkt, struct cursor *c)
{
    uint8_t fc0 = cur_u8(c), fc1 = cur_u8(c);
    if (!cur_ok(c))
        return DECODE_TRUNCATED;
    if (((fc0 >> 2) & 3) != 2 || (fc0 & 3) != 0)
        return DECODE_NOT_IP; /* management, control, or an unknown version */
    uint8_t subtype = fc0 >> 4;
    bool qos = (subtype & 8) != 0;
    if (subtype & 4)
        return DECODE_NOT_IP; /* (QoS) null function, CF-Ack/Poll without data */
    size_t hdr = 22;          /* after FC: duration, three addresses, sequence control */
    if ((fc1 & 3) == 3)
        hdr += 6;             /* ToDS and FromDS: a fourth address */
    cur_skip(c, hdr);
    if (qos) {
        uint8_t qc = cur_u8(c);
        cur_skip(c, 1);
        if (fc1 & 0x80)
            cur_skip(c, 4);   /* HT control */
        if (qc & 0x80) {
            if (!cur_ok(c))
                return DECODE_TRUNCATED;
            return DECODE_NOT_IP; /* A-MSDU: not taken apart */
        }
    }
    if (!cur_ok(c))
        return DECODE_TRUNCATED;
    if (fc1 & 0x40)
        return DECODE_ENCRYPTED;
    return from_llc(pkt, c);
}

/* radiotap (127): version 0, pad, little-endian total length. */
static enum decode_status from_radiotap(struct packet *pkt, struct cursor *c)
{
    if (cur_u8(c) != 0 && cur_ok(c))
        return DECODE_MALFORMED;
    cur_skip(c, 1);
    uint16_t len = cur_u16le(c);
    if (!cur_ok(c))
        return DECODE_TRUNCATED;
    if (len < 8)
        return DECODE_MALFORMED;
    cur_skip(c, (size_t)len - 4);
    if (!cur_ok(c))
        return DECODE_TRUNCATED;
    return from_80211(pkt, c);
}

static enum decode_status from_dlt(struct packet *pkt, struct cursor *c, int dlt, int depth);

/* PPI (192): version, flags, little-endian length and inner DLT. */
static enum decode_status from_ppi(struct packet *pkt, struct cursor *c, int depth)
{
    cur_skip(c, 2);
    uint16_t len = cur_u16le(c);
    uint32_t dlt = cur_u32le(c);
    if (!cur_ok(c))
        return DECODE_TRUNCATED;
    if (len < 8)
        return DECODE_MALFORMED;
    cur_skip(c, (size_t)len - 8);
    if (!cur_ok(c))
        return DECODE_TRUNCATED;
    if (dlt == 192 || depth > 0 || dlt > 0xffff)
        return DECODE_MALFORMED;
    return from_dlt(pkt, c, (int)dlt, depth + 1);
}

/*
 * NFLOG (239): family, version, resource id, then TLVs (length incl. the
 * 4-byte header, type; both in the capturing host's byte order; padded to
 * 4 bytes).  NFULA_PAYLOAD (9) holds the IP packet.
 */
static enum decode_status from_nflog(struct packet *pkt, struct cursor *c)
{
    uint8_t family = cur_u8(c);
    cur_skip(c, 3);
    if (!cur_ok(c))
        return DECODE_TRUNCATED;
    /* The byte order: the one in which the first TLV's length fits. */
    bool le = true;
    if (cur_has(c, 4)) {
        uint16_t l_le = (uint16_t)(cur_peek(c, 0) | (cur_peek(c, 1) << 8));
        if (l_le < 4 || l_le > cur_left(c))
            le = false;
    }
    for (int i = 0; i < 4096 && cur_left(c) > 0; i++) {
        uint16_t len = cur_u16_order(c, !le);
        uint16_t type = cur_u16_order(c, !le);
        if (!cur_ok(c))
            return DECODE_TRUNCATED;
        if (len < 4)
            return DECODE_MALFORMED;
        size_t body = (size_t)len - 4;
        if ((type & 0x7fff) == 9) {
            size_t n = cur_left(c); /* cut by the snap length: what there is */
            if (family != 2 && family != 10 && family != 0)
                return DECODE_NOT_IP;
            return decode_ip(pkt, c->p, (uint32_t)(n < body ? n : body));
        }
        cur_skip(c, (body + 3) & ~(size_t)3);
    }
    return cur_ok(c) ? DECODE_NOT_IP : DECODE_TRUNCATED;
}

static enum decode_status from_dlt(struct packet *pkt, struct cursor *c, int dlt, int depth)
{
    switch (dlt) {
    case 1: /* Ethernet */
        return from_eth(pkt, c);
    case 12: case 14: case 101: case 228: case 229:
        return decode_ip(pkt, c->p, (uint32_t)cur_left(c));
    case 113: { /* Linux SLL: 16-byte header, protocol last */
        cur_skip(c, 14);
        uint16_t type = cur_u16(c);
        if (!cur_ok(c))
            return DECODE_TRUNCATED;
        return from_ethertype(pkt, c, type);
    }
    case 276: { /* Linux SLL2: protocol first, 20-byte header */
        uint16_t type = cur_u16(c);
        cur_skip(c, 18);
        if (!cur_ok(c))
            return DECODE_TRUNCATED;
        return from_ethertype(pkt, c, type);
    }
    case 0: { /* BSD NULL: AF in the writer's byte order */
        struct cursor af = *c;
        uint32_t le = cur_u32le(c), be = cur_u32(&af);
        if (!cur_ok(c))
            return DECODE_TRUNCATED;
        return from_af(pkt, c, le <= 0xffff ? le : be);
    }
    case 108: { /* OpenBSD LOOP: AF in network order */
        uint32_t af = cur_u32(c);
        if (!cur_ok(c))
            return DECODE_TRUNCATED;
        return from_af(pkt, c, af);
    }
    case 9: case 50:
        return from_ppp(pkt, c);
    case 104: { /* Cisco HDLC: address, control, EtherType */
        cur_skip(c, 2);
        uint16_t type = cur_u16(c);
        if (!cur_ok(c))
            return DECODE_TRUNCATED;
        return from_ethertype(pkt, c, type);
    }
    case 10: /* FDDI: frame control, destination, source, then 802.2 LLC */
        cur_skip(c, 13);
        if (!cur_ok(c))
            return DECODE_TRUNCATED;
        return from_llc(pkt, c);
    case 105:
        return from_80211(pkt, c);
    case 127:
        return from_radiotap(pkt, c);
    case 119: { /* Prism: message code, little-endian message length */
        cur_skip(c, 4);
        uint32_t len = cur_u32le(c);
        if (!cur_ok(c))
            return DECODE_TRUNCATED;
        if (len < 8)
            return DECODE_MALFORMED;
        cur_skip(c, (size_t)len - 8);
        if (!cur_ok(c))
            return DECODE_TRUNCATED;
        return from_80211(pkt, c);
    }
    case 163: { /* AVS: version, big-endian header length */
        cur_skip(c, 4);
        uint32_t len = cur_u32(c);
        if (!cur_ok(c))
            return DECODE_TRUNCATED;
        if (len < 8)
            return DECODE_MALFORMED;
        cur_skip(c, (size_t)len - 8);
        if (!cur_ok(c))
            return DECODE_TRUNCATED;
        return from_80211(pkt, c);
    }
    case 192:
        return from_ppi(pkt, c, depth);
    case 117: { /* PFLOG: header length (padded to 4), address family */
        uint8_t len = cur_u8(c);
        uint8_t af = cur_u8(c);
        if (!cur_ok(c))
            return DECODE_TRUNCATED;
        if (len < 2)
            return DECODE_MALFORMED;
        cur_skip(c, (((size_t)len + 3) & ~(size_t)3) - 2);
        if (!cur_ok(c))
            return DECODE_TRUNCATED;
        return from_af(pkt, c, af);
    }
    case 226: { /* IPNET: version, family, htype, length, if indexes, zones */
        cur_skip(c, 1);
        uint8_t af = cur_u8(c);
        cur_skip(c, 22);
        if (!cur_ok(c))
            return DECODE_TRUNCATED;
        return from_af(pkt, c, af);
    }
    case 239:
        return from_nflog(pkt, c);
    default:
        return DECODE_UNSUPPORTED;
    }
}

static inline void packet_init(struct packet *pkt, int dlt, uint32_t caplen, uint32_t wirelen,
                               uint64_t ts)
{
    memset(pkt, 0, sizeof *pkt);
    pkt->ts = ts;
    pkt->caplen = caplen;
    pkt->wirelen = wirelen;
    pkt->linktype = (uint32_t)dlt;
}

enum decode_status decode_packet(struct packet *pkt, int dlt, const uint8_t *data,
                                 uint32_t caplen, uint32_t wirelen, uint64_t ts)
{
    packet_init(pkt, dlt, caplen, wirelen, ts);
    struct cursor c;
    cur_init(&c, data, caplen);
    if (dlt == 1)
        return from_eth(pkt, &c); /* the common case first */
    return from_dlt(pkt, &c, dlt, 0);
}

/* An IPv6 next-header value that decode_ipv6() walks as an extension. */
static bool ipv6_ext(uint8_t next)
{
    switch (next) {
    case 0: case 43: case 44: case 51: case 60: case 135: case 139: case 140:
        return true;
    default:
        return false;
    }
}

enum decode_status decode_packet_ip(struct packet *pkt, int dlt, const uint8_t *data,
                                    uint32_t caplen, uint32_t wirelen)
{
    packet_init(pkt, dlt, caplen, wirelen, 0);
    pkt->ip_only = true;
    /* The common frames straight: Ethernet II without tags, then an IPv4
     * header whose lengths are consistent (eth_plain_ipv4, packet.h) or an
     * IPv6 header with no extension; the status is then DECODE_OK in
     * decode_ipv4/6 too.  Any other frame takes the full walk below. */
    const uint8_t *ip = eth_plain_ipv4(dlt, data, caplen);
    if (ip) {
        pkt->ipver = 4;
        pkt->proto = ip[9];
        memcpy(pkt->src.b, ip + 12, 4);
        memcpy(pkt->dst.b, ip + 16, 4);
        return DECODE_OK;
    }
    if (dlt == 1 && caplen >= 14 + 40 && (uint16_t)(data[12] << 8 | data[13]) == ETH_IPV6 &&
        data[14] >> 4 == 6 && !ipv6_ext(data[14 + 6])) {
        ip = data + 14;
        pkt->ipver = 6;
        pkt->proto = ip[6];
        memcpy(pkt->src.b, ip + 8, 16);
        memcpy(pkt->dst.b, ip + 24, 16);
        return DECODE_OK;
    }
    struct cursor c;
    cur_init(&c, data, caplen);
    if (dlt == 1)
        return from_eth(pkt, &c);
    return from_dlt(pkt, &c, dlt, 0);
}

/* ---------------------------------------------------------------------
 * Tunnels (decode_tunnel, packet.h)
 *
 * GRE (RFC 2784 / 2890; protocol 47):
 *   |C|R|K|S| reserved0 | ver |   protocol type   | [checksum, reserved1]
 *   | [key] | [sequence number] | payload
 * version 1 is PPTP's enhanced GRE (RFC 2637): K set, the key holds the
 * payload length and the call id, then sequence (S) and acknowledgement
 * (A, 0x0080) numbers, then PPP.  Payload by protocol type: IPv4/IPv6,
 * 0x6558 Ethernet (transparent bridging), 0x8847 MPLS, 0x88BE ERSPAN
 * type II (8-byte header; type I when S is clear: Ethernet at once),
 * 0x22EB ERSPAN type III (12-byte header, + 8 when its O bit is set).
 * IP in IP (protocols 4 and 41, over IPv4 or IPv6): the inner IP header.
 * UDP: VXLAN 4789 (8-byte header, I flag, 24-bit VNI, Ethernet), GENEVE
 * 6081 (version 0, options length in 4-byte words, protocol type, VNI),
 * GTP-U 2152 (version 1, PT 1, message 255 = G-PDU, TEID; optional
 * sequence / N-PDU / next extension, extension headers in 4-byte units),
 * Teredo 3544 (optional authentication and origin indicators, IPv6),
 * MPLS over UDP 6635 (a label stack, then IP).
 */
const char *tunnel_type_name(unsigned type)
{
    static const char *const names[TUN_N_TYPES] = {
        [TUN_NONE] = "none", [TUN_GRE] = "gre", [TUN_GRETAP] = "gretap",
        [TUN_GRE_MPLS] = "gre-mpls", [TUN_PPTP] = "pptp", [TUN_ERSPAN1] = "erspan1",
        [TUN_ERSPAN2] = "erspan2", [TUN_ERSPAN3] = "erspan3", [TUN_IPIP] = "ipip",
        [TUN_VXLAN] = "vxlan", [TUN_GENEVE] = "geneve", [TUN_GTPU] = "gtp-u",
        [TUN_TEREDO] = "teredo", [TUN_MPLS_UDP] = "mpls-udp",
    };
    return type < TUN_N_TYPES ? names[type] : "unknown";
}

static enum decode_status tunnel_gre(struct packet *in, struct tunnel_layer *t, struct cursor *c)
{
    uint16_t flags = cur_u16(c);
    uint16_t proto = cur_u16(c);
    if (!cur_ok(c))
        return DECODE_TRUNCATED;
    if ((flags & 7) == 1) { /* enhanced GRE (PPTP) */
        if (proto != 0x880b || !(flags & 0x2000) || (flags & 0xc000))
            return DECODE_NOT_IP;
        uint16_t plen = cur_u16(c);
        t->type = TUN_PPTP;
        t->id = cur_u16(c);
        t->has_id = true;
        if (flags & 0x1000)
            cur_skip(c, 4);
        if (flags & 0x0080)
            cur_skip(c, 4);
        if (!cur_ok(c))
            return DECODE_TRUNCATED;
        if (plen == 0)
            return DECODE_NOT_IP; /* acknowledgement only */
        return from_ppp(in, c);
    }
    if ((flags & 7) != 0 || (flags & 0x4000))
        return DECODE_NOT_IP; /* unknown version, or RFC 1701 source routing */
    if (flags & 0x8000)
        cur_skip(c, 4);
    if (flags & 0x2000) {
        t->id = cur_u32(c);
        t->has_id = true;
    }
    bool seq = (flags & 0x1000) != 0;
    if (seq)
        cur_skip(c, 4);
    if (!cur_ok(c))
        return DECODE_TRUNCATED;
    switch (proto) {
    case ETH_IPV4:
    case ETH_IPV6: {
        uint8_t v = cur_peek(c, 0) >> 4;
        if (v != (proto == ETH_IPV4 ? 4 : 6))
            return DECODE_MALFORMED;
        t->type = TUN_GRE;
        return decode_ip(in, c->p, (uint32_t)cur_left(c));
    }
    case 0x6558:
        t->type = TUN_GRETAP;
        return from_eth(in, c);
    case ETH_MPLS: case ETH_MPLS_MC:
        t->type = TUN_GRE_MPLS;
        return from_ethertype(in, c, proto);
    case 0x88be:
        if (!seq) { /* type I: no ERSPAN header */
            t->type = TUN_ERSPAN1;
            return from_eth(in, c);
        }
        t->type = TUN_ERSPAN2;
        if ((cur_peek(c, 0) >> 4) != 1)
            return DECODE_MALFORMED;
        cur_skip(c, 2);
        t->id = cur_u16(c) & 0x3ff;
        t->has_id = true;
        cur_skip(c, 4);
        if (!cur_ok(c))
            return DECODE_TRUNCATED;
        return from_eth(in, c);
    case 0x22eb: {
        t->type = TUN_ERSPAN3;
        if ((cur_peek(c, 0) >> 4) != 2)
            return DECODE_MALFORMED;
        cur_skip(c, 2);
        t->id = cur_u16(c) & 0x3ff;
        t->has_id = true;
        cur_skip(c, 7);
        uint8_t o = cur_u8(c) & 1;
        if (o)
            cur_skip(c, 8); /* platform specific subheader */
        if (!cur_ok(c))
            return DECODE_TRUNCATED;
        return from_eth(in, c);
    }
    default:
        return DECODE_NOT_IP;
    }
}

static enum decode_status tunnel_udp(struct packet *in, struct tunnel_layer *t, struct cursor *c,
                                     const struct packet *out)
{
    if (out->dport == 4789) { /* VXLAN */
        uint8_t flags = cur_u8(c);
        cur_skip(c, 3);
        t->id = cur_u24(c);
        cur_skip(c, 1);
        if (!cur_ok(c))
            return DECODE_TRUNCATED;
        if (!(flags & 0x08))
            return DECODE_NOT_IP;
        t->type = TUN_VXLAN;
        t->has_id = true;
        return from_eth(in, c);
    }
    if (out->dport == 6081) { /* GENEVE */
        uint8_t b0 = cur_u8(c);
        cur_skip(c, 1);
        uint16_t proto = cur_u16(c);
        t->id = cur_u24(c);
        cur_skip(c, 1);
        cur_skip(c, (size_t)(b0 & 0x3f) * 4);
        if (!cur_ok(c))
            return DECODE_TRUNCATED;
        if (b0 >> 6)
            return DECODE_NOT_IP; /* version 0 only */
        t->type = TUN_GENEVE;
        t->has_id = true;
        if (proto == 0x6558)
            return from_eth(in, c);
        if (proto == ETH_IPV4 || proto == ETH_IPV6)
            return decode_ip(in, c->p, (uint32_t)cur_left(c));
        return DECODE_NOT_IP;
    }
    if (out->dport == 2152 || out->sport == 2152) { /* GTP-U */
        uint8_t flags = cur_u8(c);
        uint8_t msg = cur_u8(c);
        cur_skip(c, 2);
        t->id = cur_u32(c);
        if (!cur_ok(c))
            return DECODE_TRUNCATED;
        if ((flags >> 5) != 1 || !(flags & 0x10) || msg != 0xff)
            return DECODE_NOT_IP; /* GTP' or a signalling message: no user packet */
        if (flags & 7) {
            cur_skip(c, 3);
            uint8_t next = cur_u8(c);
            for (int i = 0; next && i < 64; i++) {
                uint8_t n = cur_u8(c);
                if (!cur_ok(c))
                    return DECODE_TRUNCATED;
                if (n == 0)
                    return DECODE_MALFORMED;
                cur_skip(c, (size_t)n * 4 - 2);
                next = cur_u8(c);
            }
            if (next)
                return DECODE_MALFORMED;
        }
        if (!cur_ok(c))
            return DECODE_TRUNCATED;
        t->type = TUN_GTPU;
        t->has_id = true;
        uint8_t v = cur_peek(c, 0) >> 4;
        if (v != 4 && v != 6)
            return DECODE_NOT_IP;
        return decode_ip(in, c->p, (uint32_t)cur_left(c));
    }
    if (out->dport == 3544 || out->sport == 3544) { /* Teredo */
        if (cur_peek(c, 0) == 0 && cur_peek(c, 1) == 1) { /* authentication */
            cur_skip(c, 2);
            uint8_t idl = cur_u8(c), aul = cur_u8(c);
            cur_skip(c, (size_t)idl + aul + 9);
        }
        if (cur_peek(c, 0) == 0 && cur_peek(c, 1) == 0)
            cur_skip(c, 8); /* origin indication */
        if (!cur_has(c, 40) || (cur_peek(c, 0) >> 4) != 6)
            return DECODE_NOT_IP;
        /* the IPv6 payload length must fit the UDP payload */
        size_t used = cur_offset(c, out->payload);
        uint32_t plen = (uint32_t)((cur_peek(c, 4) << 8) | cur_peek(c, 5));
        if (used + 40 + plen > out->payload_len)
            return DECODE_NOT_IP;
        t->type = TUN_TEREDO;
        return decode_ip(in, c->p, (uint32_t)cur_left(c));
    }
    if (out->dport == 6635) { /* MPLS over UDP */
        t->type = TUN_MPLS_UDP;
        if (cur_has(c, 4)) {
            t->id = load_be32(c->p) >> 12; /* the top label */
            t->has_id = true;
        }
        return from_ethertype(in, c, ETH_MPLS);
    }
    return DECODE_NOT_IP;
}

enum decode_status decode_tunnel(struct packet *in, struct tunnel_layer *t,
                                 const struct packet *out)
{
    memset(t, 0, sizeof *t);
    if (!maybe_tunnel(out))
        return DECODE_NOT_IP;
    packet_init(in, (int)out->linktype, out->caplen, out->wirelen, out->ts);
    t->ipver = out->ipver;
    t->src = out->src;
    t->dst = out->dst;
    struct cursor c;
    cur_init(&c, out->payload, out->payload_cap);
    enum decode_status st;
    switch (out->proto) {
    case 47:
        st = tunnel_gre(in, t, &c);
        break;
    case 4:
    case 41:
        if ((cur_peek(&c, 0) >> 4) != (out->proto == 4 ? 4 : 6))
            return DECODE_NOT_IP;
        t->type = TUN_IPIP;
        st = decode_ip(in, c.p, (uint32_t)cur_left(&c));
        break;
    default:
        t->sport = out->sport;
        t->dport = out->dport;
        st = tunnel_udp(in, t, &c, out);
        break;
    }
    t->inner_ipver = in->ipver;
    return st;
}

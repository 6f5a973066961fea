/*
 * packet.h - one decoded packet, as the flow cache and the modules see it.
 *
 * decode_packet() fills a `struct packet` from the bytes of one captured
 * frame without copying them: every pointer below points into the frame
 * and is valid only during the callback for that frame.  Each `*_cap`
 * length is what was captured (never more than is really there); the
 * matching real length comes from the protocol headers and may be larger
 * when the capture was truncated by a snap length.  Modules must use the
 * captured lengths for reading and the real lengths for counting.
 */
#ifndef JOY_PACKET_H
#define JOY_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

enum {
    FRAG_NONE = 0,  /* not a fragment */
    FRAG_FIRST = 1, /* offset 0, more fragments follow */
    FRAG_LATER = 2, /* offset > 0: no transport header here */
};

/* TCP flag bits as on the wire (byte 13 of the header). */
enum {
    TCP_FIN = 0x01, TCP_SYN = 0x02, TCP_RST = 0x04, TCP_PSH = 0x08,
    TCP_ACK = 0x10, TCP_URG = 0x20, TCP_ECE = 0x40, TCP_CWR = 0x80,
};

struct packet {
    uint64_t ts;           /* nanoseconds since the epoch */
    uint32_t caplen;       /* bytes captured of the frame */
    uint32_t wirelen;      /* bytes the frame had on the wire */
    uint32_t linktype;     /* DLT of the frame */

    uint8_t ipver;         /* 4 or 6 */
    uint8_t proto;         /* transport protocol (after IPv6 extensions) */
    uint8_t ttl;           /* TTL or hop limit */
    uint8_t frag;          /* FRAG_* */
    uint32_t ipid;         /* IPv4 identification / IPv6 fragment id */
    uint16_t frag_off;     /* fragment offset in bytes / 8 */
    struct ipaddr src, dst;

    const uint8_t *ip;     /* start of the IP header */
    uint32_t ip_cap;       /* captured bytes from ip on */
    uint32_t ip_len;       /* IP total length (header + payload) from the header */
    uint16_t ip_hdr_len;   /* IPv4 header or IPv6 header + extensions */

    bool has_ports;        /* TCP, UDP or SCTP header decoded */
    uint16_t sport, dport;
    uint16_t udp_len;      /* UDP only: the length field as sent (0 if not captured) */
    uint8_t icmp_type, icmp_code; /* ICMP / ICMPv6 only */

    /* TCP only (valid when proto == 6 and l4 != NULL) */
    uint32_t tcp_seq, tcp_ack;
    uint16_t tcp_win;
    uint8_t tcp_flags;
    uint8_t tcp_hdr_len;   /* data offset in bytes */
    const uint8_t *tcp_opts; /* option bytes (captured part) */
    uint8_t tcp_opts_cap;

    const uint8_t *l4;     /* transport header, NULL for later fragments */
    uint32_t l4_cap;

    const uint8_t *payload; /* application bytes */
    uint32_t payload_cap;   /* captured application bytes */
    uint32_t payload_len;   /* application bytes according to the headers */

    bool ip_only;           /* decode_packet_ip(): the transport header was not decoded */
};

/* Why decode_packet() refused a frame (counted, never fatal). */
enum decode_status {
    DECODE_OK = 0,
    DECODE_NOT_IP,        /* ARP, LLDP, ... : not an error */
    DECODE_TRUNCATED,     /* too short to hold the IP header */
    DECODE_MALFORMED,     /* header fields that contradict each other */
    DECODE_UNSUPPORTED,   /* link type we do not decode */
    DECODE_ENCRYPTED,     /* 802.11 protected frame: counted, not parsed */
};

/*
 * One tunnel layer that decode_tunnel() took off: the outer header's
 * addresses (and UDP ports), the tunnel type and its identifier.
 */
enum tunnel_type {
    TUN_NONE = 0,
    TUN_GRE,        /* GRE (RFC 2784/2890) carrying IP */
    TUN_GRETAP,     /* GRE transparent Ethernet bridging (0x6558) */
    TUN_GRE_MPLS,   /* MPLS over GRE (RFC 4023) */
    TUN_PPTP,       /* enhanced GRE (version 1, RFC 2637) carrying PPP */
    TUN_ERSPAN1,    /* ERSPAN type I (0x88BE without sequence number) */
    TUN_ERSPAN2,    /* ERSPAN type II (0x88BE) */
    TUN_ERSPAN3,    /* ERSPAN type III (0x22EB) */
    TUN_IPIP,       /* IP in IP: 4in4, 6in4, 4in6, 6in6 (protocols 4 and 41) */
    TUN_VXLAN,      /* UDP 4789 (RFC 7348) */
    TUN_GENEVE,     /* UDP 6081 (RFC 8926) */
    TUN_GTPU,       /* UDP 2152 (3GPP TS 29.281) G-PDU */
    TUN_TEREDO,     /* UDP 3544 (RFC 4380) */
    TUN_MPLS_UDP,   /* UDP 6635 (RFC 7510) */
    TUN_N_TYPES
};

struct tunnel_layer {
    uint8_t type;          /* enum tunnel_type */
    uint8_t ipver;         /* outer IP version */
    uint8_t inner_ipver;   /* the inner packet's IP version */
    bool has_id;           /* id holds a GRE key, VNI, TEID, call id, label or session */
    uint16_t sport, dport; /* outer UDP ports (0 for GRE and IP in IP) */
    uint32_t id;
    struct ipaddr src, dst;/* outer addresses */
};

/* The protocol name of a tunnel type ("gre", "vxlan", ...). */
const char *tunnel_type_name(unsigned type);

/*
 * Take one tunnel layer off: if `outer` (decoded, not a fragment) carries
 * a tunnel this decoder knows, fill `layer` and decode the encapsulated
 * packet into `inner` (DECODE_OK).  DECODE_NOT_IP when `outer` is no
 * tunnel; another status when it is one but its inner packet cannot be
 * decoded.  `inner` points into the same frame as `outer`.
 */
enum decode_status decode_tunnel(struct packet *inner, struct tunnel_layer *layer,
                                 const struct packet *outer);

/* Cheap test on the packet path: could decode_tunnel() find a tunnel? */
static inline bool maybe_tunnel(const struct packet *p)
{
    if (p->frag != FRAG_NONE || !p->payload_cap)
        return false;
    switch (p->proto) {
    case 4: case 41: case 47:
        return true;
    case 17:
        return p->dport == 4789 || p->dport == 6081 || p->dport == 2152 || p->sport == 2152 ||
               p->dport == 3544 || p->sport == 3544 || p->dport == 6635;
    default:
        return false;
    }
}

/* Is this DLT one that decode_packet() understands? */
bool linktype_supported(int dlt);
const char *linktype_name(int dlt);

/*
 * Decode one frame.  `data` holds `caplen` captured bytes of a frame that
 * was `wirelen` long.  On DECODE_OK, `*pkt` is filled in.
 */
enum decode_status decode_packet(struct packet *pkt, int dlt, const uint8_t *data,
                                 uint32_t caplen, uint32_t wirelen, uint64_t ts);

/*
 * The status decode_packet() gives, and on DECODE_OK only ipver, proto
 * (after IPv6 extension headers), src and dst: plain Ethernet frames with
 * IPv4 or IPv6 (no extension) are read straight, every other frame takes
 * decode_packet()'s walk, which stops before the transport header
 * (pkt->ip_only).  For joy_flow_hash(JOY_HASH_ADDRS), which a dispatcher
 * calls on every packet before a meter decodes it again.
 */
enum decode_status decode_packet_ip(struct packet *pkt, int dlt, const uint8_t *data,
                                    uint32_t caplen, uint32_t wirelen);

/*
 * The IPv4 header of a plain Ethernet II frame (no tag, at least 40 bytes
 * after the Ethernet header) whose IPv4 lengths are consistent, else
 * NULL: the frames that decode_packet_ip() reads straight from the bytes,
 * always DECODE_OK (the full walk gives the same), and that
 * joy_flow_hash() hashes without filling a struct packet.
 */
static inline const uint8_t *eth_plain_ipv4(int dlt, const uint8_t *data, uint32_t caplen)
{
    if (dlt != 1 || caplen < 14 + 40 || data[12] != 0x08 || data[13] != 0x00 || data[14] >> 4 != 4)
        return NULL;
    const uint8_t *ip = data + 14;
    uint32_t ihl = (uint32_t)(ip[0] & 15) * 4, total = (uint32_t)(ip[2] << 8 | ip[3]);
    if (total == 0)
        total = caplen - 14;
    return ihl >= 20 && total >= ihl ? ip : NULL;
}

/* joy_flow_hash()'s value for a decoded packet (mode: JOY_HASH_ADDRS or
 * JOY_HASH_5TUPLE; api.c).  joy_flow_hash() reads plain Ethernet IPv4
 * without decoding; fuzz_decode checks it against this. */
uint32_t packet_flow_hash(const struct packet *p, int mode);

/* Decode from the IP header on (used by decode_packet and fuzz targets). */
enum decode_status decode_ip(struct packet *pkt, const uint8_t *ip, uint32_t cap);

#endif

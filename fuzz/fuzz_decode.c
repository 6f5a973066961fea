/*
 * fuzz_decode.c - link, IP and transport decoding of one frame, and the
 * tunnel decapsulation path (decode_tunnel, up to TUNNEL_MAX_DEPTH layers,
 * as the meter does with tunnels=8), and decode_packet_ip() and
 * joy_flow_hash()'s straight read of Ethernet IPv4 against it.  The first byte picks the link type;
 * every pointer decode_packet() or decode_tunnel() returns must lie inside
 * the frame, and every captured length must fit in it.
 */
#include "packet.h"

#include <joy/joy.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const int dlts[] = {0, 1, 9, 12, 14, 50, 101, 104, 108, 113, 228, 229, 276, 127,
                           10, 105, 117, 119, 163, 192, 226, 239};

static void inside(const uint8_t *frame, size_t size, const uint8_t *p, uint32_t n)
{
    if (p && (p < frame || p + n > frame + size))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int dlt = dlts[data[0] % (sizeof dlts / sizeof dlts[0])];
    const uint8_t *frame = data + 1;
    size--;
    struct packet p, a;
    enum decode_status st = decode_packet(&p, dlt, frame, (uint32_t)size,
                                          (uint32_t)size + (data[0] & 0x80u), 1);
    /* the dispatcher's walk (joy_flow_hash): the same status and, on
     * DECODE_OK, the same version, protocol and addresses */
    if (decode_packet_ip(&a, dlt, frame, (uint32_t)size, (uint32_t)size + (data[0] & 0x80u)) != st)
        abort();
    if (st == DECODE_OK && (a.ipver != p.ipver || a.proto != p.proto ||
                            memcmp(&a.src, &p.src, sizeof a.src) != 0 ||
                            memcmp(&a.dst, &p.dst, sizeof a.dst) != 0))
        abort();
    /* joy_flow_hash's straight read of Ethernet IPv4: the same status and
     * value as hashing the decoded packet */
    uint32_t fh = 0;
    int hr = joy_flow_hash(dlt, frame, (uint32_t)size, (uint32_t)size, JOY_HASH_ADDRS, &fh);
    if ((hr == JOY_OK) != (st == DECODE_OK) ||
        (st == DECODE_OK && fh != packet_flow_hash(&a, JOY_HASH_ADDRS)))
        abort();
    /* joy_flow_keys: the values of joy_flow_hash in both modes, and the
     * decoded protocol and fragment state */
    struct joy_flow_keys k;
    uint32_t f5 = 0;
    int kr = joy_flow_keys(dlt, frame, (uint32_t)size, (uint32_t)size, &k);
    int hr5 = joy_flow_hash(dlt, frame, (uint32_t)size, (uint32_t)size, JOY_HASH_5TUPLE, &f5);
    if (kr != hr || hr5 != hr)
        abort();
    if (kr == JOY_OK && (k.addrs != fh || k.five != f5 || k.proto != p.proto ||
                         k.fragment != (uint8_t)p.frag || (k.datagram != 0) != (p.frag != FRAG_NONE)))
        abort();
    if (st == DECODE_OK) {
        inside(frame, size, p.ip, p.ip_cap);
        inside(frame, size, p.l4, p.l4_cap);
        inside(frame, size, p.payload, p.payload_cap);
        inside(frame, size, p.tcp_opts, p.tcp_opts_cap);
        if (p.payload_cap > p.payload_len)
            abort();
        struct packet in[2];
        struct tunnel_layer layer;
        const struct packet *cur = &p;
        for (int d = 0; d < 8 && maybe_tunnel(cur); d++) {
            struct packet *q = &in[d & 1];
            if (decode_tunnel(q, &layer, cur) != DECODE_OK)
                break;
            inside(frame, size, q->ip, q->ip_cap);
            inside(frame, size, q->l4, q->l4_cap);
            inside(frame, size, q->payload, q->payload_cap);
            inside(frame, size, q->tcp_opts, q->tcp_opts_cap);
            if (q->payload_cap > q->payload_len || layer.type == TUN_NONE ||
                layer.type >= TUN_N_TYPES)
                abort();
            cur = q;
        }
    }
    return 0;
}

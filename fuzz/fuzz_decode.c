/*
 * fuzz_decode.c - link, IP and transport decoding of one frame.  The first
 * byte picks the link type; every pointer decode_packet() returns must lie
 * inside the frame, and every captured length must fit in it.
 */
#include "packet.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const int dlts[] = {0, 1, 9, 12, 14, 50, 101, 104, 108, 113, 228, 229, 276, 127};

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
    struct packet p;
    if (decode_packet(&p, dlt, frame, (uint32_t)size, (uint32_t)size + (data[0] & 0x80u), 1) == DECODE_OK) {
        inside(frame, size, p.ip, p.ip_cap);
        inside(frame, size, p.l4, p.l4_cap);
        inside(frame, size, p.payload, p.payload_cap);
        inside(frame, size, p.tcp_opts, p.tcp_opts_cap);
        if (p.payload_cap > p.payload_len)
            abort();
    }
    return 0;
}

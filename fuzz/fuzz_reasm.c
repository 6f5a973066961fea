/*
 * fuzz_reasm.c - the TCP reassembler (reasm.c) against a reference stream.
 *
 * The stream is known: byte i is ref(i).  The input is a cap selector
 * byte, then segments <off u16> <len u8> <flags u8>: bytes [off, off+len)
 * of the stream (flags bit 0: SYN, bit 1: snap length cut the segment to
 * half, bits 2-7: how the consumer answers next: take all, take some,
 * take none, skip ahead, stop).  The consumer checks that every byte it
 * is shown is the stream byte at that position, never shown twice past
 * what it consumed; the reassembler never holds more than its cap.  A
 * summary is written with the JSON writer and validated.
 */
#include "jsonw.h"
#include "reasm.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t ref(uint32_t i) { return (uint8_t)(i * 131u + (i >> 8) * 7u + 3u); }

struct sink {
    uint32_t pos;   /* stream offset of the first byte the consumer will be shown */
    uint8_t how;
    uint64_t seen;
};

static size_t consume(void *ctx, const uint8_t *d, size_t len, uint64_t ts)
{
    struct sink *k = ctx;
    (void)ts;
    if (len == 0)
        abort(); /* never called without bytes */
    for (size_t i = 0; i < len; i++)
        if (d[i] != ref(k->pos + (uint32_t)i)) {
            fprintf(stderr, "byte %zu of delivery at %u differs\n", i, k->pos);
            abort();
        }
    k->seen += len;
    size_t c;
    switch (k->how % 5) {
    case 0: c = len; break;
    case 1: c = len / 2; break;
    case 2: c = 0; break;
    case 3: c = len + (k->how >> 3) * 97u; break;
    default: return REASM_STOP;
    }
    k->pos += (uint32_t)c;
    return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const uint32_t caps[4] = {64, 1000, 4096, 65536};
    struct reasm r;
    reasm_init(&r, caps[data[0] & 3]);
    uint32_t isn = data[0] & 4 ? 0xffffff00u : 1000u;
    reasm_start(&r, isn);
    struct sink k = {0, 0, 0};
    static uint8_t seg[256 * 2];
    for (size_t off = 1; off + 4 <= size; off += 4) {
        uint32_t o = (uint32_t)data[off] << 8 | data[off + 1];
        uint32_t len = data[off + 2];
        uint8_t fl = data[off + 3];
        for (uint32_t i = 0; i < len; i++)
            seg[i] = ref(o + i);
        uint32_t cap = fl & 2 ? len / 2 : len;
        k.how = (uint8_t)(fl >> 2);
        /* a SYN segment's data starts one after its sequence number */
        uint32_t seq = isn + o - ((fl & 1) ? 1 : 0);
        reasm_feed(&r, seq, fl & 1, seg, cap, len, off, consume, &k);
        if (reasm_held(&r) > r.cap)
            abort();
        if (r.state != REASM_RUN && (r.buf || r.queue))
            abort();
    }
    struct jsonw w;
    jw_init(&w);
    jw_obj_open(&w);
    jw_kv_cstr(&w, "state", reasm_state_name((enum reasm_state)r.state));
    jw_kv_uint(&w, "seen", k.seen);
    jw_kv_uint(&w, "held", reasm_held(&r));
    jw_finish(&w);
    if (!json_validate(w.buf, w.len))
        abort();
    jw_free(&w);
    reasm_free(&r);
    return 0;
}

/*
 * fuzz_intraflow_b.c - the salt, ppi, tcpfp (fingerprints.tcp) and os
 * modules through the meter, on raw IP packets (DLT 101) cut from the
 * input, with options taken from its first 2 bytes:
 *   [0] num_pkts = b % 64
 *   [1] bit 0 retrans, bit 1 bidir=0, bit 2 os=0, bit 3 fpx=0
 * then packets as <u16 big-endian length><i8 time step in ms><bytes>; a
 * negative step makes the capture go back in time (ppi keeps time order).
 * Every record must be valid JSON.
 */
#include "fuzz_common.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void set(struct joy_config *cfg, const char *k, unsigned long v)
{
    char err[256], s[32];
    snprintf(s, sizeof s, "%lu", v);
    if (config_set(cfg, k, s, "fuzz", err, sizeof err) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    char err[512];
    struct joy_config cfg;
    if (config_init(&cfg, err, sizeof err) != 0)
        abort();
    set(&cfg, "salt", 1);
    set(&cfg, "ppi", 1);
    set(&cfg, "num_pkts", data[0] % 64u);
    set(&cfg, "retrans", data[1] & 1);
    set(&cfg, "bidir", !(data[1] & 2));
    set(&cfg, "os", !(data[1] & 4));
    set(&cfg, "fpx", !(data[1] & 8));
    struct joy_context *ctx;
    struct joy_meter *m = fuzz_meter_new(&cfg, &ctx);
    size_t off = 2;
    uint64_t ts = 1000000000000000000ull;
    while (size - off >= 3) {
        size_t len = (size_t)data[off] << 8 | data[off + 1];
        int8_t step = (int8_t)data[off + 2];
        off += 3;
        if (len > size - off)
            len = size - off;
        ts = (uint64_t)((int64_t)ts + (int64_t)step * 1000000);
        joy_meter_packet(m, 101, data + off, (uint32_t)len, (uint32_t)len, ts);
        off += len;
    }
    joy_meter_flush(m);
    fuzz_meter_free(m, ctx);
    config_free(&cfg);
    return 0;
}

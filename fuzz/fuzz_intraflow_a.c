/*
 * fuzz_intraflow_a.c - the byte distribution / entropy, wht, hd and idp
 * modules through the meter, on raw IP packets (DLT 101) cut from the
 * input, with options taken from its first 4 bytes:
 *   [0] hd = 1 + b % 32   [1] idp = 8 * b (0 = off)   [2] dist_bytes = b
 *   [3] bit 0 retrans, bit 1 bidir=0, bit 2 zeros
 * then packets as <u16 big-endian length><bytes>.  Every record must be
 * valid JSON.
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
    if (size < 4)
        return 0;
    char err[512];
    struct joy_config cfg;
    if (config_init(&cfg, err, sizeof err) != 0)
        abort();
    set(&cfg, "dist", 1);
    set(&cfg, "entropy", 1);
    set(&cfg, "wht", 1);
    set(&cfg, "num_pkts", 8);
    set(&cfg, "max_flows", 64);
    set(&cfg, "hd", 1u + data[0] % 32u);
    set(&cfg, "idp", 8u * data[1]);
    set(&cfg, "dist_bytes", data[2]);
    set(&cfg, "retrans", data[3] & 1);
    set(&cfg, "bidir", !(data[3] & 2));
    set(&cfg, "zeros", (data[3] >> 2) & 1);
    if (config_set(&cfg, "cdist", "default", "fuzz", err, sizeof err) != 0)
        abort();
    struct joy_context *ctx;
    struct joy_meter *m = fuzz_meter_new(&cfg, &ctx);
    size_t off = 4;
    uint64_t ts = 1000000000ull;
    while (size - off >= 2) {
        size_t len = (size_t)data[off] << 8 | data[off + 1];
        off += 2;
        if (len > size - off)
            len = size - off;
        joy_meter_packet(m, 101, data + off, (uint32_t)len, (uint32_t)len, ts);
        ts += 1000;
        off += len;
    }
    joy_meter_flush(m);
    fuzz_meter_free(m, ctx);
    config_free(&cfg);
    return 0;
}

/*
 * fuzz_pipeline.c - the whole path from capture-file bytes to JSON records:
 * pcap/pcapng reader, link/IP/transport decoding, flow cache, every module
 * (all switched on), record writer.  Each record must be valid JSON.
 */
#include "capfile.h"
#include "fuzz_common.h"

#include <stdbool.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    /* The configuration is the same for every input: the context is built
     * once (meters only read it), which saves a tenth of each run. */
    static struct joy_context *ctx;
    if (!ctx) {
        struct joy_config cfg;
        fuzz_config_all_modules(&cfg);
        if (!(ctx = joy_context_new(&cfg, err, sizeof err)))
            abort();
        config_free(&cfg);
    }
    struct capfile *cf = capfile_open_mem(data, size, err, sizeof err);
    if (cf) {
        struct joy_meter *m = joy_meter_new(ctx, fuzz_on_record, NULL, err, sizeof err);
        if (m) {
            struct cap_packet p;
            while (capfile_next(cf, &p) == CAP_PACKET)
                joy_meter_packet(m, p.linktype, p.data, p.caplen, p.wirelen, p.ts);
            joy_meter_flush(m);
            joy_meter_free(m);
        }
        capfile_close(cf);
    }
    return 0;
}

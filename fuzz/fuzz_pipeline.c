/*
 * fuzz_pipeline.c - the whole path from capture-file bytes to JSON records:
 * pcap/pcapng reader, link/IP/transport decoding, flow cache, every module
 * (all switched on), record writer.  Each record must be valid JSON.
 */
#include "capfile.h"
#include "fuzz_common.h"
#include "meter.h"

#include <stdbool.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    /* The configuration is the same for every input: built once (the
     * meter only reads it), which saves a tenth of each run. */
    static struct joy_config cfg;
    static bool ready;
    if (!ready) {
        fuzz_config_all_modules(&cfg);
        ready = true;
    }
    struct capfile *cf = capfile_open_mem(data, size, err, sizeof err);
    if (cf) {
        struct joy_meter *m = meter_new(&cfg, fuzz_check_json, NULL, err, sizeof err);
        if (m) {
            struct cap_packet p;
            while (capfile_next(cf, &p) == CAP_PACKET)
                meter_packet(m, p.linktype, p.data, p.caplen, p.wirelen, p.ts);
            meter_flush(m, EXPIRE_END);
            meter_free(m);
        }
        capfile_close(cf);
    }
    return 0;
}

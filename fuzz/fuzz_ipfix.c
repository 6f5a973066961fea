/*
 * fuzz_ipfix.c - the IPFIX / NetFlow v9 / v5 collector (src/ipfix/).
 *
 * The input is a sequence of messages, each preceded by a 2-byte length
 * and a 1-byte exporter number (so templates from one message serve the
 * data of later ones, and several exporters share the cache).  The
 * collector runs with small caps (8 templates per exporter, 32 in all) so
 * that eviction is exercised; every decoded flow is written as JSON, which
 * must validate, and re-encoded as IPFIX with every profile.
 */
#include "ipfix.h"
#include "jsonw.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct jsonw w;
static struct ipfix_writer enc;

static void on_flow(void *user, const struct ipfix_flow *f)
{
    (void)user;
    jw_reset(&w);
    ipfix_flow_json(f, &w);
    if (!w.overflow && !json_validate(w.buf, w.len))
        abort();
    struct joy_record rec = f->view;
    rec.json = w.buf;
    rec.len = w.len;
    if (ipfix_write_record(&enc, &rec) == 1) {
        size_t n;
        ipfix_message(&enc, 0, &n);
        ipfix_message_done(&enc);
        ipfix_write_record(&enc, &rec);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) {
        jw_init(&w);
        init = 1;
    }
    struct ipfix_limits lim = {8, 32, 60};
    struct ipfix_collector *c = ipfix_collector_new(&lim);
    if (!c || ipfix_writer_init(&enc, 1400, IPFIX_PROFILE_IDP | IPFIX_PROFILE_SPLT |
                                IPFIX_PROFILE_BD, 1) != 0)
        abort();
    size_t off = 0;
    uint64_t now = 1000;
    while (off + 3 <= size) {
        size_t n = (size_t)data[off] << 8 | data[off + 1];
        char exporter[16];
        snprintf(exporter, sizeof exporter, "e%u", data[off + 2] & 7);
        off += 3;
        if (n > size - off)
            n = size - off;
        /* a private copy, so reads past the message are caught by ASan */
        uint8_t *m = malloc(n ? n : 1);
        memcpy(m, data + off, n);
        ipfix_collect(c, exporter, m, n, now++, on_flow, NULL);
        free(m);
        off += n;
    }
    if (ipfix_collector_templates(c) > 32)
        abort();
    ipfix_collector_free(c);
    ipfix_writer_free(&enc);
    return 0;
}

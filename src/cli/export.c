/*
 * export.c - where records go, from the options: output= (-w), outputs=
 * (each further -w), and Joy's ipfix_export_* keys, with the settings of
 * the network sinks (export_*, kafka_*, ipfix_*).  doc/joy.1 "OUTPUTS".
 */
#include "export.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *get_alloc(const struct joy_config *c, const char *key)
{
    size_t n = 256;
    for (;;) {
        char *buf = malloc(n);
        if (!buf)
            return NULL;
        int rc = joy_config_get(c, key, buf, n);
        if (rc == JOY_OK)
            return buf;
        free(buf);
        if (rc != JOY_ERR_SPACE || n > (1u << 24))
            return NULL;
        n *= 4;
    }
}

static unsigned long long get_num(const struct joy_config *c, const char *key)
{
    char v[32];
    if (joy_config_get(c, key, v, sizeof v) != JOY_OK)
        return 0;
    return strtoull(v, NULL, 10);
}

/* Split a '\n'-separated list in place. */
static size_t split(char *s, char **out, size_t max)
{
    size_t n = 0;
    while (s && *s && n < max) {
        out[n++] = s;
        char *nl = strchr(s, '\n');
        if (!nl)
            break;
        *nl = '\0';
        s = nl + 1;
    }
    return n;
}

int export_setup_read(const struct joy_config *cfg, struct export_setup *e, char *err,
                      size_t errlen)
{
    memset(e, 0, sizeof *e);
    char *output = get_alloc(cfg, "output"), *outputs = get_alloc(cfg, "outputs");
    char *on_full = get_alloc(cfg, "export_on_full"), *spill = get_alloc(cfg, "export_spill_dir");
    char *acks = get_alloc(cfg, "kafka_acks"), *comp = get_alloc(cfg, "kafka_compression");
    char *props = get_alloc(cfg, "kafka_property"), *tmpl = get_alloc(cfg, "ipfix_export_template");
    char *host = get_alloc(cfg, "ipfix_export_remote_host");
    if (!output || !outputs || !on_full || !spill || !acks || !comp || !props || !tmpl || !host) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    /* one block owns every string */
    size_t total = strlen(output) + strlen(outputs) + strlen(on_full) + strlen(spill) +
                   strlen(acks) + strlen(comp) + strlen(props) + strlen(tmpl) + strlen(host) + 600;
    char *blk = e->strings = malloc(total);
    size_t nlines = 8;
    for (const char *p = outputs; *p; p++)
        nlines += *p == '\n';
    for (const char *p = props; *p; p++)
        nlines += *p == '\n';
    e->targets = calloc(nlines, sizeof *e->targets);
    e->props = calloc(nlines, sizeof *e->props);
    if (!blk || !e->targets || !e->props) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
#define KEEP(dst, src) do { size_t l_ = strlen(src) + 1; memcpy(blk, src, l_); dst = blk; blk += l_; } while (0)
    char *o_out, *o_outs, *o_prop;
    const char *o_full, *o_spill, *o_acks, *o_comp, *o_tmpl;
    KEEP(o_out, output);
    KEEP(o_outs, outputs);
    KEEP(o_full, on_full);
    KEEP(o_spill, spill);
    KEEP(o_acks, acks);
    KEEP(o_comp, comp);
    KEEP(o_prop, props);
    KEEP(o_tmpl, tmpl);
#undef KEEP
    unsigned long long ipfix_port = get_num(cfg, "ipfix_export_port");
    char *extra = NULL;
    if (ipfix_port) {
        extra = blk;
        if (!host[0]) {
            free(host);
            host = strdup("127.0.0.1");
            if (!host) {
                snprintf(err, errlen, "out of memory");
                goto fail;
            }
        }
        bool v6 = strchr(host, ':') != NULL;
        int k = snprintf(blk, 600 - 0, "ipfix://%s%s%s:%llu", v6 ? "[" : "", host, v6 ? "]" : "",
                         get_num(cfg, "ipfix_export_remote_port"));
        blk += k + 1;
    }
    char *list[4096];
    size_t nl = split(o_outs, list, sizeof list / sizeof list[0]);
    if (o_out[0] || (nl == 0 && !extra))
        e->targets[e->n_targets++] = o_out[0] ? o_out : (char *)"-";
    for (size_t i = 0; i < nl; i++)
        e->targets[e->n_targets++] = list[i];
    if (extra)
        e->targets[e->n_targets++] = extra;

    int full = sink_on_full_parse(o_full);
    if (full < 0) {
        snprintf(err, errlen, "export_on_full=%s: give block, spill or drop", o_full);
        goto fail;
    }
    struct sink_opts *o = &e->opt;
    o->gzip_level = (int)get_num(cfg, "gzip_level");
    o->queue = (size_t)get_num(cfg, "export_queue");
    o->on_full = (enum sink_on_full)full;
    o->spill_dir = o_spill[0] ? o_spill : ".";
    o->flush_timeout = (unsigned)get_num(cfg, "kafka_flush_timeout");
    o->kafka_acks = o_acks[0] ? o_acks : "all";
    /* the option's default is zstd; "none" reads back as "" */
    o->kafka_compression = o_comp[0] ? o_comp : "none";
    o->kafka_idempotence = get_num(cfg, "kafka_idempotence") != 0;
    o->n_kafka_props = split(o_prop, e->props, nlines);
    o->kafka_props = (const char *const *)e->props;
    o->ipfix_profile = o_tmpl;
    o->ipfix_refresh = (unsigned)get_num(cfg, "ipfix_template_refresh");
    o->ipfix_local_port = (unsigned)ipfix_port;
    o->ipfix_mtu = (unsigned)get_num(cfg, "ipfix_mtu");
    e->metadata = get_num(cfg, "metadata") != 0;
    free(output), free(outputs), free(on_full), free(spill), free(acks), free(comp), free(props);
    free(tmpl), free(host);
    return 0;
fail:
    free(output), free(outputs), free(on_full), free(spill), free(acks), free(comp), free(props);
    free(tmpl), free(host);
    export_setup_free(e);
    return -1;
}

void export_setup_free(struct export_setup *e)
{
    free(e->targets);
    free(e->props);
    free(e->strings);
    memset(e, 0, sizeof *e);
}

/*
 * With a Kafka output, glibc's malloc keeps what is freed instead of
 * handing it back to the kernel at once.  librdkafka's broker thread
 * allocates and frees megabytes per produce request (the request buffer,
 * zstd's context and output buffer); by default glibc serves blocks above
 * its mmap threshold with mmap and shrinks a thread's heap when its free
 * top passes the trim threshold, so every request faulted those pages in
 * again: about 9,600 minor faults on bench/mix.pcap with zstd, 4,100
 * with these settings (bench/NOTES.md).  The price is that up to 8 MB per
 * malloc arena stay mapped after a burst.  Process-wide, so the program
 * decides, not the library; before the output starts its threads.
 */
void export_keep_freed_memory(const struct export_setup *e)
{
#ifdef __GLIBC__
    for (size_t i = 0; i < e->n_targets; i++)
        if (strncmp(e->targets[i], "kafka://", 8) == 0) {
            mallopt(M_MMAP_THRESHOLD, 4 << 20);
            mallopt(M_TRIM_THRESHOLD, 8 << 20);
            return;
        }
#else
    (void)e;
#endif
}

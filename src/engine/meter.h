/*
 * meter.h - the metering engine: packets in, JSON flow records out.
 *
 * A `struct joy_meter` owns one flow table, the enabled modules' run state
 * and a JSON writer.  It holds no global state, so several meters (one per
 * capture thread, later) can run side by side.  Records leave through the
 * caller's sink function, one complete JSON line per call.
 *
 * Time is packet time: the meter's clock is the newest packet timestamp it
 * has seen; meter_advance_time() moves it on without a packet (live capture
 * with idle links).
 */
#ifndef JOY_METER_H
#define JOY_METER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "flow.h"

/* Receives one record: `len` bytes of JSON ending in '\n'. */
typedef void (*record_sink_fn)(void *ctx, const char *json, size_t len);

struct meter_stats {
    uint64_t packets;       /* frames handed to meter_packet */
    uint64_t bytes;         /* their captured bytes */
    uint64_t not_ip;        /* frames without IPv4/IPv6 */
    uint64_t truncated;     /* frames too short for their IP header */
    uint64_t malformed;     /* IP headers that contradict themselves */
    uint64_t unsupported;   /* frames of a link type we do not decode */
    uint64_t frag_unmatched;/* later fragments whose first fragment was not seen */
    uint64_t records;       /* records written */
    uint64_t oversized;     /* records cut because they exceeded the size cap */
    uint64_t no_memory;     /* packets dropped: no memory for a new flow */
};

struct joy_meter;

struct joy_meter *meter_new(const struct joy_config *cfg, record_sink_fn sink, void *sink_ctx,
                            char *err, size_t errlen);
void meter_free(struct joy_meter *m);

void meter_packet(struct joy_meter *m, int dlt, const uint8_t *data, uint32_t caplen,
                  uint32_t wirelen, uint64_t ts_ns);
void meter_advance_time(struct joy_meter *m, uint64_t now_ns);
void meter_flush(struct joy_meter *m, enum expire_type why);

const struct meter_stats *meter_get_stats(const struct joy_meter *m);
uint64_t meter_active_flows(const struct joy_meter *m);

/* Write the record for f into w (used by the meter and by tests). */
struct module_env;
void record_write(struct jsonw *w, const struct flow *f, const struct joy_config *cfg,
                  const struct module_env *envs, const size_t *mod_index, size_t n_mod);

#endif

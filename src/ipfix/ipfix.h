/*
 * ipfix.h - IPFIX (RFC 7011/7012, biflows RFC 5103, lists RFC 6313) and
 * NetFlow v9/v5: an encoder of joy records and a decoder of flow records.
 *
 * Depends only on util/ and joy/joy.h.  Used by the IPFIX output sink
 * (src/output/sink_ipfix.c) and by the collector (src/cli/collect.c);
 * doc/ipfix.md describes the templates, the profiles and the mapping.
 *
 * Encoder: one message at a time in the writer's own buffer (no allocation
 * per record).  Templates 256 (IPv4) and 257 (IPv6) carry the standard IANA
 * elements, both directions (reverse PEN 29305), and what the profile adds
 * (Cisco ETA PEN 9 elements: IDP, SPLT lengths/times as RFC 6313 basicLists,
 * byte distribution).
 *
 * Decoder: every byte is read through util/cursor.h.  Templates are kept per
 * (exporter, observation domain / source id, template id), capped per
 * exporter (least recently used goes) and in total, and expire.
 */
#ifndef JOY_IPFIX_H
#define JOY_IPFIX_H

#include "joy/joy.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IPFIX_VERSION 10
#define IPFIX_PEN_CISCO 9u
#define IPFIX_PEN_REVERSE 29305u
#define IPFIX_PEN_CERT 6871u

/* Cisco ETA (PEN 9) element numbers, as Joy's collector knew them. */
enum {
    ETA_IDP = 12172,
    ETA_BD_FORMAT = 12175,
    ETA_BD = 12176,
    ETA_SPLT_LENGTHS = 12184,
    ETA_SPLT_TIMES = 12185,
};
#define IPFIX_ENTERPRISE_REVERSE_BIT 0x4000u /* RFC 5103 section 6.1 */

/* Feature profiles: what the templates carry beyond the IANA elements. */
enum ipfix_profile {
    IPFIX_PROFILE_IDP = 1u,  /* PEN 9 IDP (initial data packet) of each direction */
    IPFIX_PROFILE_SPLT = 2u, /* packet lengths, times and directions (basicLists) */
    IPFIX_PROFILE_BD = 4u,   /* byte distribution (basicList of 256 counts) */
};

/* "simple", "idp", "splt", "eta" (all of them), or a '+' list such as
 * "splt+bd".  -1 if unknown. */
int ipfix_profile_parse(const char *name);

/* ------------------------------------------------------------------ */
/* Encoder */

#define IPFIX_MAX_MESSAGE 65535u

struct ipfix_writer {
    uint8_t *buf;          /* IPFIX_MAX_MESSAGE bytes */
    size_t len;            /* bytes of the current message (0: none started) */
    size_t budget;         /* preferred message size (UDP: ~1400) */
    unsigned profile;
    uint32_t domain;       /* observation domain id */
    uint32_t seq;          /* data records sent before the current message */
    uint32_t in_msg;       /* data records in the current message */
    size_t set_at;         /* offset of the open data set's header, 0: none */
    uint16_t set_id;
    uint64_t records, messages, too_big;
};

int ipfix_writer_init(struct ipfix_writer *w, size_t budget, unsigned profile, uint32_t domain);
void ipfix_writer_free(struct ipfix_writer *w);

/* Append the template set (both templates) to the current message. */
void ipfix_write_templates(struct ipfix_writer *w);

/* Append one record.  0 appended; 1 the current message is full (take it
 * with ipfix_message() and call again); -1 the record cannot be encoded
 * even in a message of its own (counted in too_big). */
int ipfix_write_record(struct ipfix_writer *w, const struct joy_record *rec);

/* Finish the current message (header: length, export time, sequence) and
 * return it; NULL when no message is started.  ipfix_message_done() then
 * starts the next one. */
const uint8_t *ipfix_message(struct ipfix_writer *w, uint32_t export_time, size_t *len);
void ipfix_message_done(struct ipfix_writer *w);

/* ------------------------------------------------------------------ */
/* Decoder */

#define IPFIX_MAX_SPLT 1024

/* One decoded flow record: the structured view plus what else it carried. */
struct ipfix_flow {
    struct joy_record view;    /* json NULL; addresses, ports, counters, times */
    unsigned version;          /* 5, 9 or 10 */
    uint32_t domain;           /* observation domain (v9: source id; v5: engine) */
    uint16_t template_id;
    const char *exporter;      /* "ADDR:PORT" of the exporter */
    bool has_ports, has_times, has_reverse, has_payload_bytes, has_end_reason;
    bool has_bd, has_splt;
    uint64_t payload_out, payload_in; /* L4 payload bytes (CERT dataByteCount) */
    uint8_t end_reason;        /* flowEndReason */
    uint8_t bidir_dir;         /* biflowDirection, 0 if absent */
    uint64_t bd[256];
    uint32_t n_splt;
    struct joy_pkt splt[IPFIX_MAX_SPLT];
    uint16_t splt_ipt[IPFIX_MAX_SPLT];
    const uint8_t *idp_out, *idp_in; /* inside the message */
    size_t idp_out_len, idp_in_len;
};

struct ipfix_limits {
    size_t templates_per_exporter; /* default 256 */
    size_t templates_total;        /* default 4096 */
    uint64_t template_timeout_s;   /* default 1800 (0: never) */
};

struct ipfix_collector_stats {
    uint64_t messages, records, bad_messages, bad_sets, no_template, templates,
        templates_evicted, templates_refused, templates_expired, seq_gaps;
};

struct ipfix_collector;

struct ipfix_collector *ipfix_collector_new(const struct ipfix_limits *lim);
void ipfix_collector_free(struct ipfix_collector *c);

typedef void (*ipfix_flow_fn)(void *user, const struct ipfix_flow *f);

/*
 * One NetFlow v5, v9 or IPFIX message from `exporter` (any text naming it,
 * e.g. "192.0.2.1:2055"), received at now_s (seconds).  Calls on_flow for
 * every data record it can decode.  Returns the number of flows, or -1 if
 * the message is malformed (counted; what decoded before still counted).
 */
int ipfix_collect(struct ipfix_collector *c, const char *exporter, const uint8_t *msg,
                  size_t len, uint64_t now_s, ipfix_flow_fn on_flow, void *user);

void ipfix_collector_get_stats(const struct ipfix_collector *c, struct ipfix_collector_stats *st);
size_t ipfix_collector_templates(const struct ipfix_collector *c);

struct jsonw;
/* The joy JSON record of a decoded flow (doc/ipfix.md: what maps where). */
void ipfix_flow_json(const struct ipfix_flow *f, struct jsonw *w);

#endif

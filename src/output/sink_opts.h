/*
 * sink_opts.h - settings of the network sinks (Kafka, IPFIX, TCP/Unix
 * streams), filled by the caller from joy's options (doc/joy.1) and
 * overridden per target by a URL query (?on_full=drop&queue=N&spill=PATH,
 * ?profile=eta&mtu=1500 for IPFIX).  The file sinks use gzip_level only.
 */
#ifndef JOY_SINK_OPTS_H
#define JOY_SINK_OPTS_H

#include <stdbool.h>
#include <stddef.h>

enum sink_on_full { SINK_BLOCK, SINK_SPILL, SINK_DROP };

struct sink_opts {
    int gzip_level;
    size_t queue;                    /* records held while the peer is slow or down */
    enum sink_on_full on_full;
    const char *spill_dir;           /* spill files go here (NULL: ".") */
    const char *spill_path;          /* or exactly here (URL ?spill=PATH) */
    unsigned flush_timeout;          /* seconds to wait at close for delivery */
    /* Kafka */
    const char *kafka_acks, *kafka_compression;
    bool kafka_idempotence;
    const char *const *kafka_props;  /* "key=value" */
    size_t n_kafka_props;
    /* IPFIX */
    const char *ipfix_profile;       /* simple|idp|splt|eta|a+b */
    unsigned ipfix_refresh;          /* seconds between template refreshes (UDP) */
    unsigned ipfix_local_port;       /* bind the UDP socket to this port (0: any) */
    unsigned ipfix_mtu;              /* UDP: largest IP packet of a message (0: path MTU) */
};

/* "block", "spill", "drop"; -1 if none of them. */
int sink_on_full_parse(const char *s);

#endif

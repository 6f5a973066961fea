/*
 * netstream.h - a reconnecting byte stream (TCP or Unix socket) with a
 * bounded queue of whole units (records or IPFIX messages) and the
 * on-full policies block / spill / drop (sink_opts.h).  Used by
 * sink_stream.c (JSON Lines) and sink_ipfix.c (IPFIX over TCP).
 *
 *   - A unit is sent whole or, when the connection breaks in its middle,
 *     again from its start on the next connection (the peer may see the
 *     broken part once: a partial line or a message cut short).
 *   - Reconnects back off from 100 ms to 30 s, doubling.
 *   - Queue full: block waits for the peer; drop counts the unit and goes
 *     on; spill appends the unit (and every later one, to keep the order) to
 *     a local spill file ([4-byte big-endian length][unit] frames), which is
 *     replayed when the peer is back, before anything newer.
 *   - Close waits up to flush_timeout seconds; what is still undelivered is
 *     counted (and with spill stays in the spill file, whose name is given).
 */
#ifndef JOY_NETSTREAM_H
#define JOY_NETSTREAM_H

#include "sink_opts.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

struct netstream;

/* Called after each (re)connect, before queued units are sent: return the
 * bytes to send first (IPFIX templates), or NULL. */
typedef const uint8_t *(*netstream_preamble_fn)(void *user, size_t *len);

/* target: "tcp://HOST:PORT", "ipfix+tcp://HOST:PORT" or "unix:PATH". */
struct netstream *netstream_open(const char *target, const struct sink_opts *opt,
                                 netstream_preamble_fn preamble, void *user, char *err,
                                 size_t errlen);
/* 0 queued (or dropped/spilled by the policy); -1 a local failure (spill
 * file, memory), message in err. */
int netstream_write(struct netstream *ns, const void *unit, size_t len, char *err, size_t errlen);
/* Send what can be sent, waiting up to wait_ms for the peer. */
void netstream_pump(struct netstream *ns, int wait_ms);
/* Close after trying up to timeout_s to deliver; returns the number of
 * units not delivered (still in the spill file when spilling: its name
 * goes into kept, else kept is ""). */
uint64_t netstream_close(struct netstream *ns, unsigned timeout_s, char *kept, size_t keptlen);

struct netstream_stats {
    uint64_t sent, dropped, spilled, replayed, reconnects, queued;
    bool connected;
    const char *spill_path;
};
void netstream_stats(const struct netstream *ns, struct netstream_stats *st);

#endif

/*
 * workers.h - the joy command's worker threads (threads=N, capture=afpacket).
 *
 * N workers, each with its own meter made from one shared context; one
 * writer thread appends their record blocks to the one output.  Packets
 * reach the workers in one of two ways:
 *
 *   dispatch   one source (capture files, or libpcap live) read by the
 *              calling thread, which hands each packet to a worker by
 *              joy_flow_hash(JOY_HASH_ADDRS) through per-worker
 *              single-producer/single-consumer rings of batches, and moves
 *              every worker's clock with the packet time, so the records
 *              are, as a multiset, those of threads=1;
 *   afpacket   each worker owns an AF_PACKET socket with its own ring, all
 *              in one fanout group (source_afpacket.c): the kernel spreads
 *              the packets, there is no reader thread.
 *
 * doc/internals/threads.md describes the model: threads, queues, clocks,
 * what is shared.
 */
#ifndef JOY_WORKERS_H
#define JOY_WORKERS_H

#include "joy/joy.h"

#include "output.h"
#include "source.h"

#include <stdbool.h>
#include <stdint.h>

#define WORKERS_MAX 64

struct workers;

/* Called by workers_run()'s thread about every 100 ms (and, reading
 * files, every 4096 packets): signals, flushes, time rotation.  It may
 * call workers_tick, workers_flush, workers_hangup and workers_stats. */
typedef void (*workers_periodic_fn)(void *user);

struct workers_opts {
    unsigned threads;                  /* 1..WORKERS_MAX */
    const struct joy_context *ctx;     /* shared, read-only */
    struct joy_output *out;            /* the metadata line is already written */
    /* dispatch mode: an open source, read by workers_run()'s caller */
    struct joy_source *source;
    bool live;                         /* the source is a live capture */
    /* afpacket mode (source NULL) */
    const char *interface, *bpf;
    int snaplen;
    bool promisc;
    enum afp_fanout fanout;
    source_log_fn log;                 /* messages of the sources and the workers */
    void *log_user;
    uint64_t inactive_ns;              /* inactive_timeout: a step back beyond it is a new
                                        * clock epoch for every meter (doc/schema.md) */
    uint64_t rotate_seconds;           /* -G (files: the reader's packet clock) */
    workers_periodic_fn periodic;      /* or NULL */
    void *periodic_user;
    uint64_t max_packets;              /* -c: stop after this many packets (0: no limit) */
};

/* Makes the meters, the buffers and (afpacket) opens every socket of the
 * fanout group.  NULL with a message in err and the grade in *error
 * (SOURCE_CONFIG: bad settings; SOURCE_FATAL: cannot capture, no memory). */
struct workers *workers_new(const struct workers_opts *o, enum source_error *error, char *err,
                            size_t errlen);

/* Start the threads and run until the input ends, workers_stop() is
 * called or the output fails; every open flow is then written, and every
 * record has reached the output when this returns.  The result is the
 * worst source error (enum source_error). */
enum source_error workers_run(struct workers *w);

/* Async-signal-safe: make workers_run() end soon (live capture). */
void workers_stop(struct workers *w);

/*
 * Control operations, from the periodic callback only.  Each is a barrier
 * in every worker's record stream: the records a worker made before it are
 * written before the operation runs (in the writer thread), the records
 * made after it, after.  Dispatch mode places it at the same point of
 * every worker's packet stream (so offline -G splits the records exactly
 * as threads=1 does); afpacket workers pass it at their next packet or
 * idle poll (within 100 ms).
 */
/* Hand over every record made so far, then flush the output(s). */
void workers_flush(struct workers *w);
/* The output's clock (live: the wall clock): output_tick() when a -G
 * interval ended (and the first time). */
void workers_tick(struct workers *w, uint64_t t_ns);
/* SIGHUP: rotate (the current file closed complete), new limits, a
 * reloaded model for every meter (retire: the one it replaces, freed once
 * no meter uses it); then a flush. */
struct workers_hangup {
    bool rotate, limits;
    uint64_t secs, bytes, records, keep;
    const struct joy_reload *reload;
    struct joy_reload *retire;
};
void workers_hangup(struct workers *w, const struct workers_hangup *h);
/* Records written so far, files closed, the name being written. */
uint64_t workers_written(struct workers *w, uint64_t *files, char *name, size_t namelen);

/* Counters per worker and in total (64-bit; kernel figures accumulated
 * since the start, as PACKET_STATISTICS resets on every read).  May be
 * called from any thread while the workers run (figures lag by up to a
 * batch or a second). */
struct workers_stat {
    uint64_t packets;          /* frames given to the worker's meter */
    uint64_t bytes;            /* their captured bytes */
    uint64_t records;          /* records it wrote */
    uint64_t flows_open;       /* flows in its table */
    uint64_t kernel_packets;   /* afpacket: packets the kernel counted (read + dropped) */
    uint64_t kernel_drops;     /* afpacket: dropped for want of ring space */
    uint64_t gso_frames;       /* afpacket: frames longer than MTU + link header */
};
struct workers_stats {
    unsigned n;
    bool kernel;                          /* kernel_* are meaningful (afpacket) */
    struct workers_stat total;
    struct workers_stat w[WORKERS_MAX];
};
void workers_stats(const struct workers *w, struct workers_stats *st);

/* The sum of the meters' statistics (after workers_run). */
void workers_meter_stats(const struct workers *w, struct joy_stats *sum);

/* Did writing the output fail? */
bool workers_output_failed(const struct workers *w);

void workers_free(struct workers *w);

#endif

/*
 * reasm.h - TCP stream reassembly for one direction of one flow.
 *
 * A protocol module that needs a byte stream (TLS, HTTP, SSH) embeds a
 * `struct reasm` per direction in its own per-flow state and feeds it the
 * TCP segments of that direction from its packet callback.  The
 * reassembler hands the module the stream's bytes in sequence order
 * through a consumer function:
 *
 *   size_t consume(void *ctx, const uint8_t *data, size_t len, uint64_t ts);
 *
 * `data` holds the next `len` bytes of the stream that the consumer has
 * not consumed yet; `ts` is the time of the segment that made them
 * available.  The consumer returns how many of them it is done with:
 *   - less than len: the rest is kept and presented again, with the bytes
 *     that follow appended, when more data arrives (so a consumer can wait
 *     for a whole record or message);
 *   - more than len: the bytes after `data + len` up to the returned count
 *     are skipped - they are dropped when they arrive and never copied, so
 *     a module that only needs record headers (TLS record lengths) walks a
 *     bulk transfer at no cost;
 *   - REASM_STOP: the module is done with this direction; the reassembler
 *     frees its buffers and ignores every later segment.
 * The consumer must consume everything it can from one call (it is not
 * called again until new bytes arrive).  It must not call reasm functions
 * on the same reassembler.
 *
 * Segments are handled in any order: bytes already delivered (or skipped)
 * are trimmed, so retransmissions and partial overlaps deliver nothing
 * twice; a segment that starts after the next expected byte waits in a
 * bounded out-of-order queue (first copy wins where queued segments
 * overlap).  Sequence numbers are compared modulo 2^32 (RFC 1982), so a
 * stream may cross the wrap.
 *
 * Bounds (per direction): the bytes held at once - kept bytes plus the
 * out-of-order queue - never exceed `cap` (the reasm_bytes option), and at
 * most REASM_MAX_SEGS segments wait in the queue.  When a consumer waits
 * for more kept bytes than `cap` the state becomes REASM_CAP; when the
 * queue overflows, when a segment lies more than `cap` bytes ahead, or
 * when bytes the consumer needs were cut off by the capture's snap length,
 * the state becomes REASM_GAP.  Either ends reassembly of the direction
 * (buffers freed); what the module parsed so far is kept by the module.
 *
 * Memory: nothing is allocated until bytes must be kept; reasm_free()
 * releases everything.  The struct itself is 40 bytes (on LP64).
 */
#ifndef JOY_REASM_H
#define JOY_REASM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow.h"
#include "packet.h"

#define REASM_STOP ((size_t)-1)
#define REASM_MAX_SEGS 64
#define REASM_DEFAULT_CAP 65536u

enum reasm_state {
    REASM_RUN = 0,  /* reassembling */
    REASM_DONE,     /* the consumer returned REASM_STOP */
    REASM_GAP,      /* bytes missing (queue full, too far ahead, snap length) */
    REASM_CAP,      /* the consumer needed more than cap bytes at once */
};

typedef size_t (*reasm_consume_fn)(void *ctx, const uint8_t *data, size_t len, uint64_t ts);

struct reasm_seg;

struct reasm {
    uint32_t next;          /* sequence number of the next stream byte */
    uint32_t cap;           /* most bytes held at once (kept + queued) */
    uint32_t kept;          /* bytes in buf, the stream just before next */
    uint32_t size;          /* allocated bytes of buf */
    uint32_t queued;        /* bytes in the out-of-order queue */
    uint16_t nseg;          /* segments in the queue */
    uint8_t state;          /* enum reasm_state */
    bool started;           /* next is valid */
    uint8_t *buf;
    struct reasm_seg *queue;/* sorted by sequence number, no overlaps */
};

/* Prepare r (no allocation).  cap is clamped to at least 64 bytes. */
void reasm_init(struct reasm *r, uint32_t cap);

/* The stream's first byte has sequence number seq (e.g. the SYN's + 1).
 * Without this call the stream starts at the first segment fed. */
void reasm_start(struct reasm *r, uint32_t seq);

/*
 * Feed one TCP segment: sequence number `seq`, `syn` if the SYN flag is
 * set (its data then starts at seq + 1), `caplen` captured payload bytes
 * at `data` out of `len` bytes the segment really carried.  Calls `fn`
 * zero or more times.  Returns the state afterwards.
 */
enum reasm_state reasm_feed(struct reasm *r, uint32_t seq, bool syn, const uint8_t *data,
                            uint32_t caplen, uint32_t len, uint64_t ts,
                            reasm_consume_fn fn, void *ctx);

/* End reassembly of this direction (state DONE unless already ended)
 * and free the buffers. */
void reasm_stop(struct reasm *r);

/* Free the buffers (the state is left as it is). */
void reasm_free(struct reasm *r);

static inline bool reasm_running(const struct reasm *r) { return r->state == REASM_RUN; }

/* Bytes currently held (kept + queued), for tests. */
static inline uint32_t reasm_held(const struct reasm *r) { return r->kept + r->queued; }

const char *reasm_state_name(enum reasm_state s);

/*
 * For a module that starts following a TCP flow's streams at one packet
 * (HTTP, SSH): is p the first data of its side - the byte right after the
 * side's SYN or, without a SYN seen, the side's first payload?  *seq gets
 * the sequence number of p's first payload byte.
 */
static inline bool reasm_first_data(const struct flow_side *fs, const struct packet *p,
                                    uint32_t *seq)
{
    *seq = p->tcp_seq + ((p->tcp_flags & TCP_SYN) ? 1 : 0);
    if (fs->syn_seen)
        return *seq == fs->syn_seq + 1;
    return fs->bytes <= p->payload_len;
}

/* Start the reassembler of one side: at `start` for the side whose packet
 * started the module, else right after that side's SYN, else at the
 * highest sequence number it has sent (with neither, at the first segment
 * fed). */
static inline void reasm_start_side(struct reasm *r, const struct flow_side *fs, bool starter,
                                    uint32_t start)
{
    if (starter)
        reasm_start(r, start);
    else if (fs->syn_seen)
        reasm_start(r, fs->syn_seq + 1);
    else if (fs->seq_valid)
        reasm_start(r, fs->seq_hi);
}

#endif

/*
 * \summary: reasm - TCP stream reassembly for one direction (see reasm.h)
 *
 * Positions: `next` is the sequence number of the first stream byte not
 * yet handed to the consumer.  The `kept` bytes in buf are the stream
 * just before `next` that the consumer has not consumed.  Queued
 * segments all start after `next` (segments that `next` reaches are
 * drained at once), are sorted and never overlap.  Offsets from `next`
 * are computed as 32-bit differences, so the wrap at 2^32 needs no
 * special case as long as everything held lies within 2^31 bytes, which
 * the cap (at most 2^30) guarantees.
 */
#include "reasm.h"

#include <stdlib.h>
#include <string.h>

#define REASM_MAX_CAP (1u << 30)
#define REASM_MAX_SKIP 0x7fff0000u

struct reasm_seg {
    struct reasm_seg *next;
    uint64_t ts;
    uint32_t seq;
    uint32_t len;
    uint8_t data[];
};

void reasm_init(struct reasm *r, uint32_t cap)
{
    memset(r, 0, sizeof *r);
    if (cap < 64)
        cap = 64;
    if (cap > REASM_MAX_CAP)
        cap = REASM_MAX_CAP;
    r->cap = cap;
    r->state = REASM_RUN;
}

void reasm_start(struct reasm *r, uint32_t seq)
{
    if (!r->started) {
        r->next = seq;
        r->started = true;
    }
}

void reasm_free(struct reasm *r)
{
    struct reasm_seg *s = r->queue;
    while (s) {
        struct reasm_seg *n = s->next;
        free(s);
        s = n;
    }
    r->queue = NULL;
    r->nseg = 0;
    r->queued = 0;
    free(r->buf);
    r->buf = NULL;
    r->kept = r->size = 0;
}

static void end(struct reasm *r, enum reasm_state why)
{
    if (r->state == REASM_RUN)
        r->state = (uint8_t)why;
    reasm_free(r);
}

void reasm_stop(struct reasm *r)
{
    end(r, REASM_DONE);
}

const char *reasm_state_name(enum reasm_state s)
{
    switch (s) {
    case REASM_RUN: return "running";
    case REASM_DONE: return "done";
    case REASM_GAP: return "gap";
    case REASM_CAP: return "cap";
    }
    return "?";
}

/* Signed distance from a to b (b - a) in sequence space. */
static inline int32_t seq_diff(uint32_t b, uint32_t a) { return (int32_t)(b - a); }

/* Append n bytes to the kept bytes (caller checked kept + n <= cap). */
static bool keep(struct reasm *r, const uint8_t *data, uint32_t n)
{
    if (r->kept + n > r->size) {
        uint32_t want = r->size ? r->size * 2 : 512;
        if (want < r->kept + n)
            want = r->kept + n;
        if (want > r->cap)
            want = r->cap;
        uint8_t *b = realloc(r->buf, want);
        if (!b)
            return false;
        r->buf = b;
        r->size = want;
    }
    memcpy(r->buf + r->kept, data, n);
    r->kept += n;
    return true;
}

/*
 * The consumer said it is done with c of the avail bytes it was shown
 * (kept bytes when from_buf); `next` already points after them.  Returns
 * false if reassembly ended.
 */
static bool consumed(struct reasm *r, size_t c, size_t avail, bool from_buf)
{
    if (c == REASM_STOP) {
        end(r, REASM_DONE);
        return false;
    }
    if (c >= avail) {
        size_t skip = c - avail;
        if (skip > REASM_MAX_SKIP) {
            end(r, REASM_DONE);
            return false;
        }
        r->next += (uint32_t)skip;
        if (from_buf)
            r->kept = 0;
    } else if (from_buf && c > 0) {
        memmove(r->buf, r->buf + c, r->kept - c);
        r->kept -= (uint32_t)c;
    }
    return true;
}

static void enqueue(struct reasm *r, uint32_t seq, const uint8_t *data, uint32_t len, uint64_t ts);

/* Deliver a segment whose data may start before, at or after `next`. */
static void deliver(struct reasm *r, uint32_t seq, const uint8_t *data, uint32_t len, uint64_t ts,
                    reasm_consume_fn fn, void *ctx)
{
    while (len > 0 && r->state == REASM_RUN) {
        int32_t d = seq_diff(r->next, seq); /* bytes of this segment already behind us */
        if (d < 0) {
            enqueue(r, seq, data, len, ts);
            return;
        }
        if ((uint32_t)d >= len)
            return; /* wholly old: retransmitted or skipped */
        seq += (uint32_t)d;
        data += d;
        len -= (uint32_t)d;

        if (r->kept == 0) {
            /* fast path: the consumer reads the segment in place */
            size_t c = fn(ctx, data, len, ts);
            r->next += len;
            if (c != REASM_STOP && c < len) {
                if (r->kept + (len - c) + r->queued > r->cap) {
                    end(r, REASM_CAP);
                    return;
                }
                if (!keep(r, data + c, (uint32_t)(len - c))) {
                    end(r, REASM_CAP);
                    return;
                }
                return;
            }
            consumed(r, c, len, false);
            return;
        }

        uint32_t room = r->cap > r->kept + r->queued ? r->cap - r->kept - r->queued : 0;
        uint32_t n = len < room ? len : room;
        if (n == 0 || !keep(r, data, n)) {
            end(r, REASM_CAP);
            return;
        }
        r->next += n;
        seq += n;
        data += n;
        len -= n;
        size_t avail = r->kept;
        size_t c = fn(ctx, r->buf, avail, ts);
        if (!consumed(r, c, avail, true))
            return;
        /* loop: the rest of the segment (if any) is trimmed against the
         * new `next`, which may have moved past it (a skip) */
    }
}

/* Merge queued segments that touch, so the segment limit counts holes,
 * not pieces (a stream cut into tiny segments stays within it).  The
 * merged segment keeps the time of its first part. */
static void coalesce(struct reasm *r)
{
    struct reasm_seg **link = &r->queue;
    while (*link && (*link)->next) {
        struct reasm_seg *s = *link, *n = s->next;
        if (s->seq + s->len != n->seq) {
            link = &s->next;
            continue;
        }
        struct reasm_seg *m = realloc(s, sizeof *m + s->len + n->len);
        if (!m)
            return;
        *link = m;
        memcpy(m->data + m->len, n->data, n->len);
        m->len += n->len;
        m->next = n->next;
        free(n);
        r->nseg--;
    }
}

/* Queue the bytes of [seq, seq+len) that no queued segment holds yet. */
static void enqueue(struct reasm *r, uint32_t seq, const uint8_t *data, uint32_t len, uint64_t ts)
{
    uint32_t off = seq - r->next; /* > 0 */
    if (off > r->cap || len > r->cap) {
        end(r, REASM_GAP);
        return;
    }
    struct reasm_seg **link = &r->queue;
    uint32_t start = off, stop = off + len;
    while (start < stop) {
        struct reasm_seg *e = *link;
        uint32_t e_start = e ? e->seq - r->next : stop;
        uint32_t e_stop = e ? e_start + e->len : stop;
        if (e && e_stop <= start) {
            link = &e->next;
            continue;
        }
        if (start < e_start) {
            uint32_t piece = (e_start < stop ? e_start : stop) - start;
            if (r->nseg >= REASM_MAX_SEGS || r->kept + r->queued + piece > r->cap) {
                end(r, REASM_GAP);
                return;
            }
            struct reasm_seg *s = malloc(sizeof *s + piece);
            if (!s) {
                end(r, REASM_GAP);
                return;
            }
            s->seq = r->next + start;
            s->len = piece;
            s->ts = ts;
            memcpy(s->data, data + (start - off), piece);
            s->next = e;
            *link = s;
            link = &s->next;
            r->nseg++;
            r->queued += piece;
            start += piece;
            continue;
        }
        /* start lies inside e: the first copy wins */
        start = e_stop;
        link = &e->next;
    }
    coalesce(r);
}

/* Hand over queued segments that `next` has reached. */
static void drain(struct reasm *r, reasm_consume_fn fn, void *ctx)
{
    while (r->state == REASM_RUN && r->queue && seq_diff(r->queue->seq, r->next) <= 0) {
        struct reasm_seg *s = r->queue;
        r->queue = s->next;
        r->nseg--;
        r->queued -= s->len;
        deliver(r, s->seq, s->data, s->len, s->ts, fn, ctx);
        free(s);
    }
}

enum reasm_state reasm_feed(struct reasm *r, uint32_t seq, bool syn, const uint8_t *data,
                            uint32_t caplen, uint32_t len, uint64_t ts,
                            reasm_consume_fn fn, void *ctx)
{
    if (r->state != REASM_RUN)
        return (enum reasm_state)r->state;
    if (syn)
        seq += 1;
    if (!r->started) {
        if (!syn && len == 0)
            return REASM_RUN;
        r->next = seq;
        r->started = true;
    }
    if (caplen > len)
        caplen = len;
    if (caplen > 0) {
        deliver(r, seq, data, caplen, ts, fn, ctx);
        drain(r, fn, ctx);
    }
    /* bytes cut off by the snap length never arrive: a gap, unless the
     * consumer has skipped past them */
    if (r->state == REASM_RUN && caplen < len && seq_diff(seq + len, r->next) > 0)
        end(r, REASM_GAP);
    return (enum reasm_state)r->state;
}

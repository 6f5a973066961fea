/*
 * workers.c - worker threads, the offline/pcap dispatcher, the writer
 * (workers.h; doc/internals/threads.md).
 *
 * Threads
 *   reader   (dispatch mode only: the caller of workers_run) reads the
 *            source, picks a worker by joy_flow_keys() (TCP by connection,
 *            the rest by host pair; not IP: worker 0), adds the packet to
 *            that worker's current batch and hands full batches over;
 *   workers  each drives its own meter (one context shared read-only) and
 *            collects its records into a 1 MiB text block; a full block
 *            is compressed by the worker into one complete gzip member
 *            (gzmember.h; plain output: copied as is) and queued;
 *   writer   appends the queued blocks to the output, one
 *            output_write_member() per block, and gives the buffer back.
 *
 * Queues
 *   reader -> worker: a ring of RING_SLOTS batches per worker (single
 *   producer, single consumer), two counting semaphores per ring (slots
 *   filled, slots free): one sem_post/sem_wait per batch of up to
 *   BATCH_PKTS packets, nothing per packet.  Reading capture files, a
 *   batch holds pointers into the chunks the file source read into (the
 *   chunk pool below: no copy); live, packets are copied into the batch's
 *   data area (the source's buffer is only valid until its next packet).
 *   Nothing is allocated per packet.
 *   worker -> writer: each worker owns OUT_BUFS block buffers; a full text
 *   block takes a free one (waiting when the writer is behind: back
 *   pressure, never a lost record), the writer returns it after writing.
 *
 * Clocks (dispatch mode)
 *   A meter's clock moves only with what it is given.  The reader keeps the
 *   clock one meter would have (the newest timestamp of an IP packet so
 *   far) and stores it with every packet; a worker moves its meter to that
 *   clock before the packet, and to the batch's end clock after the batch.
 *   So every flow sees its packets at the same clock as with one meter and
 *   expires at the same point in its own packet sequence: the records are,
 *   as a multiset, those of threads=1 (the exceptions are in libjoy.md:
 *   max_flows and the fragment table are per meter).  Live (libpcap), an
 *   idle source moves every worker to the wall clock, as threads=1 does.
 */
#include "workers.h"

#include "gzmember.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

enum {
    CLOCK_LOG = 1 << 19,        /* > (RING_SLOTS + 1) * PUBLISH_ALL ticks: see reader_tick */
    PUBLISH_ALL = 16384,        /* offline: every worker gets a batch every this many packets */
    BATCH_PKTS = 2048,
    BATCH_BYTES = 1 << 19,      /* >= the largest snaplen (262144) */
    RING_SLOTS = 16,
    TEXT_CAP = 1 << 20,         /* records per block (gzip member) */
    OUT_BUFS = 3,
    EXT_CAP = TEXT_CAP + TEXT_CAP / 2, /* views + text of the records of a block (grows;
                                 * a view adds about a third to its text, so the text
                                 * fills first and blocks are TEXT_CAP with further
                                 * destinations too) */
    CTL_MAX = 64,
    LIVE_PUBLISH_NS = 100000000, /* live dispatch: hand over batches at least every 100 ms */
    CHUNK_BYTES = 1 << 20,      /* capture files: the reader's read buffers ... */
    CHUNKS = 48,                /* ... in a pool of this many (shared by all workers; the
                                 * tests set 2..CHUNKS with JOY_CHUNKS).  As many as a
                                 * worker's full ring points into: with 32, mix.pcap's
                                 * reader sometimes stood up to 35 ms waiting for one
                                 * (-vv: 32 of 32 in use) while its own share waited too */
    BATCH_CHUNKS = 16,          /* chunks one batch may refer to */
    OWNER_SLOTS = 1 << 14,      /* address-pair hash buckets, each given to one meter */
    DGRAM_SLOTS = 1 << 13,      /* TCP datagrams whose first fragment was seen (direct-mapped) */
    HELD_MAX = 64,              /* TCP later fragments held for their first ... */
    HELD_BYTES = 1 << 22,       /* ... and their bytes at most */
    BACKLOG_MAX = 6 * BATCH_PKTS /* a worker with this many packets waiting gets no new
                                 * bucket while the reader meters (see reader_assign;
                                 * 4 batches before 1.3, with rings of 8: mix.pcap's
                                 * reader then ran 40 ms longer than the worker, -vv) */
};

/* Time spent waiting (-vv): where the threads of a run stood still */
struct waited {
    uint64_t ns, times;
};

struct pdesc {
    uint64_t ts, tick;           /* tick: clock changes before this packet */
    const uint8_t *data;         /* in a chunk of the pool, or in the batch's data */
    uint32_t caplen, wirelen;
    int32_t linktype;
};

struct batch {
    uint32_t n, used;
    uint64_t end_tick;           /* clock changes before the end of the batch */
    int64_t time_base;           /* of the packets' times (source_packet.time_base) */
    uint64_t ctl;                /* control operations posted before its end */
    bool end;                    /* the last batch */
    uint32_t n_chunks;           /* chunks its packets are in: one reference each */
    uint16_t chunks[BATCH_CHUNKS];
    struct pdesc d[BATCH_PKTS];
    uint8_t *data;               /* copies of packets not in a chunk (live capture) */
};

/*
 * The chunk pool (capture files): the file source reads straight into
 * CHUNK_BYTES buffers lent by the pool (source_file_set_bufs), and the
 * reader hands packets on by pointer; only a record cut by the end of a
 * chunk is copied (into the next chunk, by capfile.c).  A chunk counts its
 * references: one while the reader reads from it, one per batch that has
 * packets in it (taken by the reader when a batch first meets the chunk,
 * dropped by the worker after the batch: per batch, not per packet).  The
 * last reference puts it back on the free stack (under mu: once per chunk).
 * The reader waits for a free chunk when all are in use: so memory is
 * bounded by the pool, a slow worker stops the reader, nothing is dropped.
 * Before it waits, it hands over every batch it is filling, so every chunk
 * is held by a batch some worker will finish.
 */
struct chunk_pool {
    uint8_t *mem;                        /* n * CHUNK_BYTES */
    unsigned n;                          /* chunks (2 at least: the reader holds one) */
    _Atomic uint32_t refs[CHUNKS];
    pthread_mutex_t mu;
    pthread_cond_t cond;
    uint16_t free_stack[CHUNKS];         /* under mu; the last freed on top (warm in cache) */
    unsigned n_free;
    bool waiting;                        /* the reader waits for a chunk (under mu) */
    unsigned peak, waits;                /* most chunks in use, waits for one (-vv) */
    uint64_t wait_ns;                    /* time spent in those waits */
};

struct ring {
    struct batch *slot[RING_SLOTS];
    unsigned head, tail;         /* head: reader's, tail: worker's */
    sem_t filled, free;
    bool sems;
};

struct obuf {
    struct obuf *next;
    struct worker *owner;
    uint8_t *data;               /* the primary output's form: gzip member(s) or text */
    size_t len, cap;
    uint8_t *ext;                /* further destinations: records with their views */
    size_t ext_len, ext_cap;
    uint64_t n_records;
    uint64_t epoch;              /* control operations its worker had passed */
};

/* A control operation (SIGHUP, -G, flush_interval): a barrier in every
 * worker's record stream.  Records a worker emitted before it passed the
 * barrier are written before the operation, those after it after. */
struct ctl_op {
    bool tick, rotate, flush, limits;
    uint64_t t_ns;                       /* tick: the output's clock */
    uint64_t secs, bytes, records, keep; /* limits */
    const struct joy_reload *reload;     /* each worker's meter takes it as it passes */
    struct joy_reload *retire;           /* freed by the writer once every worker passed */
};

struct worker {
    struct workers *ws;
    unsigned id;
    pthread_t thread;
    bool started;
    struct joy_meter *meter;
    struct joy_source *src;      /* afpacket mode */
    struct ring ring;            /* dispatch mode */
    /* records */
    uint8_t *text;
    size_t text_len, text_cap;
    uint64_t text_records;
    uint8_t *ext;                /* records with views for the further destinations */
    size_t ext_len, ext_cap;
    struct gz_member *gz;
    struct obuf bufs[OUT_BUFS];
    struct obuf *free_bufs;      /* under ws->mu */
    pthread_cond_t free_cond;
    uint64_t passed;             /* control operations passed (under ws->mu; the
                                  * worker reads it without); UINT64_MAX: finished */
    uint64_t tick;               /* dispatch: clock changes the meter has been given */
    _Atomic uint64_t tick_done;  /* the same, for the reader (clock log reuse) */
    enum source_error error;
    uint64_t cpu_ns;             /* the thread's CPU time, taken as it ends (-vv) */
    uint64_t done_ns;            /* when it ended (monotonic; -vv) */
    struct waited waited_packets;    /* dispatch: for a batch (its ring empty; -vv) */
    struct waited waited_writer;     /* for a block buffer the writer had not returned */
    /* published counters */
    _Atomic uint64_t packets, bytes, records, flows_open, kpackets, kdrops, gso;
};

struct workers {
    unsigned n;
    const struct joy_context *ctx;
    struct joy_output *out;
    int gzip_level;
    struct joy_source *source;
    bool live;
    bool afpacket;
    uint64_t inactive_ns;
    source_log_fn log;
    void *log_user;
    volatile sig_atomic_t stop;
    uint64_t max_packets;            /* -c (0: none) */
    _Atomic uint64_t taken;          /* afpacket and -c: packets claimed by the workers */
    atomic_bool failed;              /* the output failed */
    bool primary, extras;            /* the output has a primary file / further destinations */
    workers_periodic_fn periodic;    /* called by the calling thread about every 100 ms */
    void *periodic_user;
    atomic_uint finished;            /* workers done */
    /* control operations: a ring of CTL_MAX, posted by the calling thread
     * (under mu), executed in order by the writer once every worker passed */
    struct ctl_op ctl[CTL_MAX];
    _Atomic uint64_t ctl_posted;
    uint64_t ctl_done;               /* under mu */
    pthread_cond_t ctl_cond;
    struct reader *rd;               /* dispatch: the reader, while it runs */
    uint64_t rot_secs, rot_next;     /* -G, in the calling thread: the next interval's start */
    bool ticked;
    /* published by the writer for workers_stats() */
    _Atomic uint64_t written, files;
    char name[512];                  /* under mu: the file being written */
    /* writer */
    pthread_t writer;
    bool writer_started;
    uint64_t reader_cpu_ns, writer_cpu_ns;   /* CPU time of the threads (-vv) */
    uint64_t reader_done_ns;         /* when the reader ended (monotonic; -vv) */
    struct waited reader_waited;     /* the reader, for room in a worker's ring (-vv) */
    uint64_t backlog_max;            /* BACKLOG_MAX, or JOY_BACKLOG_MAX (reader_endgame lowers
                                      * the reader's copy near the end of a file) */
    uint64_t buckets_new, buckets_again, buckets_moved;  /* reader_assign()'s choices (-vv) */
    uint64_t frag_followed, frag_held, frag_held_matched, frag_unmatched, frag_forgotten;
                                     /* TCP fragments (tcp_route, -vv) */
    pthread_mutex_t mu;
    pthread_cond_t q_cond;
    struct obuf *q_head, *q_tail;
    bool q_done;
    /* dispatch: every value one meter's clock took, in order (a ring
     * indexed by tick; written by the reader, read by every worker) */
    uint64_t *clock_log;
    struct chunk_pool pool;          /* dispatch from capture files (mem NULL: copies) */
    struct worker *inl;              /* files, no spare core: the reader meters this worker's
                                      * share itself (no thread, no ring); else NULL */
    struct worker w[];
};

static void wlog(struct workers *ws, enum source_severity sev, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void wlog(struct workers *ws, enum source_severity sev, const char *fmt, ...)
{
    if (!ws->log)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ws->log(ws->log_user, sev, msg);
}

/* A clock in nanoseconds (0 if it cannot be read). */
static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    if (clock_gettime(id, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t mono_ns(void) { return clock_ns(CLOCK_MONOTONIC); }
static uint64_t wall_ns(void) { return clock_ns(CLOCK_REALTIME); }

/* CPU time of the calling thread (for the -vv summary). */
static uint64_t thread_cpu_ns(void) { return clock_ns(CLOCK_THREAD_CPUTIME_ID); }

static void sem_wait_intr(sem_t *s, struct waited *wt)
{
    if (sem_trywait(s) == 0)
        return;
    uint64_t t0 = wall_ns();
    while (sem_wait(s) != 0 && errno == EINTR)
        ;
    wt->ns += wall_ns() - t0;
    wt->times++;
}

/* ---------------------------------------------------------------------
 * Records: worker -> writer
 */
static struct obuf *take_free_buf(struct worker *w)
{
    struct workers *ws = w->ws;
    pthread_mutex_lock(&ws->mu);
    if (!w->free_bufs) {
        pthread_cond_signal(&ws->q_cond);           /* whatever is queued: write it */
        uint64_t t0 = wall_ns();
        while (!w->free_bufs)
            pthread_cond_wait(&w->free_cond, &ws->mu);   /* the writer is behind: wait */
        w->waited_writer.ns += wall_ns() - t0;
        w->waited_writer.times++;
    }
    struct obuf *b = w->free_bufs;
    w->free_bufs = b->next;
    pthread_mutex_unlock(&ws->mu);
    b->next = NULL;
    return b;
}

/*
 * Queue a block for the writer.  Reading files, the writer is woken only
 * when a second block waits (or a worker needs a buffer back, a control
 * operation is posted or passed, a worker ends: each of those signals it
 * too), so that it writes two blocks per wake-up: every wake-up of a third
 * thread on two cores preempts a busy one (mix.pcap, full option set: 520
 * blocks, about 750 involuntary context switches per run before).  Live, every
 * block wakes it: records reach the output promptly.
 */
static void queue_buf(struct workers *ws, struct obuf *b)
{
    pthread_mutex_lock(&ws->mu);
    bool second = ws->q_head != NULL;
    if (ws->q_tail)
        ws->q_tail->next = b;
    else
        ws->q_head = b;
    ws->q_tail = b;
    if (second || ws->live)
        pthread_cond_signal(&ws->q_cond);
    pthread_mutex_unlock(&ws->mu);
}

static int ensure_cap(uint8_t **p, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    uint8_t *n = realloc(*p, need);
    if (!n)
        return -1;
    *p = n;
    *cap = need;
    return 0;
}

/* Hand the text block over to the writer (as one gzip member or as is). */
static void emit(struct worker *w)
{
    struct workers *ws = w->ws;
    if (w->text_records == 0)
        return;
    struct obuf *b = take_free_buf(w);
    b->owner = w;
    b->n_records = w->text_records;
    b->epoch = w->passed;
    b->len = 0;
    if (ws->extras) {            /* swap: the block takes the records, the worker its buffer */
        uint8_t *e = b->ext;
        size_t cap = b->ext_cap;
        b->ext = w->ext;
        b->ext_cap = w->ext_cap;
        b->ext_len = w->ext_len;
        w->ext = e;
        w->ext_cap = cap;
        w->ext_len = 0;
    }
    int rc = 0;
    if (!ws->primary) {
        /* network destinations only: nothing in the primary form */
    } else if (ws->gzip_level) {
        size_t need = gz_member_bound(w->text_len);
        rc = ensure_cap(&b->data, &b->cap, need);
        if (rc == 0)
            rc = gz_member_compress(w->gz, w->text, w->text_len, b->data, b->cap, &b->len);
    } else {
        rc = ensure_cap(&b->data, &b->cap, w->text_len);
        if (rc == 0) {
            memcpy(b->data, w->text, w->text_len);
            b->len = w->text_len;
        }
    }
    if (rc != 0) {
        wlog(ws, SOURCE_ERROR, "worker %u: cannot compress a block of records (out of memory?)",
             w->id);
        atomic_store(&ws->failed, true);
        b->len = 0;
        b->n_records = 0;
    }
    w->text_len = 0;
    w->text_records = 0;
    queue_buf(ws, b);
}

static size_t align8(size_t n) { return (n + 7u) & ~(size_t)7u; }

/* A record for the further destinations: its struct joy_record (pointers
 * cleared; community_id left non-NULL as a mark that its text follows), its
 * packet entries, its text, its community_id text with the NUL; 8-byte
 * aligned.  Every pointer of the view points into the meter's memory, valid
 * only during the callback, so everything the sinks read is copied. */
static size_t ext_size(const struct joy_record *rec)
{
    return align8(sizeof *rec + (size_t)rec->n_pkts * sizeof *rec->pkts + rec->len +
                  (rec->community_id ? strlen(rec->community_id) + 1 : 0));
}

static void on_record(void *user, const struct joy_record *rec)
{
    struct worker *w = user;
    struct workers *ws = w->ws;
    size_t text_need = ws->primary ? rec->len : 0;
    size_t ext_need = ws->extras ? ext_size(rec) : 0;
    if (w->text_len + text_need > w->text_cap || w->ext_len + ext_need > w->ext_cap) {
        emit(w);
        if ((text_need > w->text_cap && ensure_cap(&w->text, &w->text_cap, text_need) != 0) ||
            (ext_need > w->ext_cap && ensure_cap(&w->ext, &w->ext_cap, ext_need) != 0)) {
            wlog(ws, SOURCE_ERROR, "worker %u: out of memory for a record", w->id);
            atomic_store(&ws->failed, true);
            return;
        }
    }
    if (text_need) {
        memcpy(w->text + w->text_len, rec->json, rec->len);
        w->text_len += rec->len;
    }
    if (ext_need) {
        uint8_t *p = w->ext + w->ext_len;
        struct joy_record v = *rec;
        v.json = NULL;
        v.pkts = NULL;
        v.internal = NULL;
        memcpy(p, &v, sizeof v);
        p += sizeof v;
        if (rec->n_pkts) {
            memcpy(p, rec->pkts, (size_t)rec->n_pkts * sizeof *rec->pkts);
            p += (size_t)rec->n_pkts * sizeof *rec->pkts;
        }
        memcpy(p, rec->json, rec->len);
        p += rec->len;
        if (rec->community_id)
            memcpy(p, rec->community_id, strlen(rec->community_id) + 1);
        w->ext_len += ext_need;
    }
    w->text_records++;
}

/* Publish the worker's counters for workers_stats(). */
static void publish_stats(struct worker *w)
{
    struct joy_stats st;
    joy_meter_get_stats(w->meter, &st);
    atomic_store_explicit(&w->packets, st.packets, memory_order_relaxed);
    atomic_store_explicit(&w->bytes, st.bytes, memory_order_relaxed);
    atomic_store_explicit(&w->records, st.records, memory_order_relaxed);
    atomic_store_explicit(&w->flows_open, st.flows_open, memory_order_relaxed);
    if (w->src) {
        struct source_stats ss;
        if (source_stats(w->src, &ss) == 0) {
            atomic_store_explicit(&w->kpackets, ss.received, memory_order_relaxed);
            atomic_store_explicit(&w->kdrops, ss.dropped, memory_order_relaxed);
            atomic_store_explicit(&w->gso, ss.gso_frames, memory_order_relaxed);
        }
    }
}

/* Pass every control operation posted up to target: hand over the records
 * made before it (a barrier), take a reloaded model. */
static void worker_pass(struct worker *w, uint64_t target)
{
    struct workers *ws = w->ws;
    emit(w);
    pthread_mutex_lock(&ws->mu);
    for (uint64_t k = w->passed; k < target; k++) {
        const struct ctl_op *op = &ws->ctl[k % CTL_MAX];
        if (op->reload)
            joy_meter_reload(w->meter, op->reload);
    }
    w->passed = target;
    pthread_cond_signal(&ws->q_cond);
    pthread_mutex_unlock(&ws->mu);
}

/* afpacket: a control operation was posted since this worker last looked */
static inline void maybe_pass(struct worker *w)
{
    uint64_t p = atomic_load_explicit(&w->ws->ctl_posted, memory_order_acquire);
    if (p != w->passed)
        worker_pass(w, p);
}

/* The records of a block to the further destinations, each with its view. */
static int write_extras(struct workers *ws, const struct obuf *b)
{
    int rc = 0;
    size_t off = 0;
    while (off + sizeof(struct joy_record) <= b->ext_len) {
        struct joy_record rec;
        memcpy(&rec, b->ext + off, sizeof rec);
        size_t p = off + sizeof rec;
        rec.pkts = rec.n_pkts ? (const struct joy_pkt *)(const void *)(b->ext + p) : NULL;
        p += (size_t)rec.n_pkts * sizeof *rec.pkts;
        rec.json = (const char *)(b->ext + p);
        p += rec.len;
        if (rec.community_id) {
            rec.community_id = (const char *)(b->ext + p);
            p += strlen(rec.community_id) + 1;
        }
        off = align8(p);
        if (output_write_extra(ws->out, rec.json, rec.len, &rec) != 0)
            rc = -1;
    }
    return rc;
}

static void writer_block(struct workers *ws, const struct obuf *b)
{
    if (atomic_load(&ws->failed) || !b->n_records)
        return;
    if (ws->primary && output_write_member(ws->out, b->data, b->len, b->n_records) != 0)
        atomic_store(&ws->failed, true);             /* keep draining: nobody waits forever */
    if (ws->extras && write_extras(ws, b) != 0)
        atomic_store(&ws->failed, true);
    atomic_fetch_add_explicit(&ws->written, b->n_records, memory_order_relaxed);
}

static void writer_name(struct workers *ws)
{
    pthread_mutex_lock(&ws->mu);
    snprintf(ws->name, sizeof ws->name, "%s", output_name(ws->out));
    pthread_mutex_unlock(&ws->mu);
    atomic_store_explicit(&ws->files, output_files(ws->out), memory_order_relaxed);
}

static void writer_op(struct workers *ws, const struct ctl_op *op)
{
    struct joy_output *o = ws->out;
    bool ok = !atomic_load(&ws->failed);
    if (ok && op->rotate) {
        char was[512];
        snprintf(was, sizeof was, "%s", output_name(o));
        if (output_rotate(o) != 0)
            ok = false;
        else
            wlog(ws, SOURCE_INFO, "SIGHUP: %s closed; now writing %s", was, output_name(o));
    }
    if (op->limits)
        output_set_limits(o, op->secs, op->bytes, op->records, op->keep);
    if (ok && op->tick && output_tick(o, op->t_ns) != 0)
        ok = false;
    if (ok && op->flush && output_flush(o) != 0)
        ok = false;
    if (!ok)
        atomic_store(&ws->failed, true);
    joy_reload_free(op->retire);
    writer_name(ws);
}

static uint64_t min_passed(const struct workers *ws)
{
    uint64_t m = UINT64_MAX;
    for (unsigned i = 0; i < ws->n; i++)
        if (ws->w[i].passed < m)
            m = ws->w[i].passed;
    return m;
}

/* Blocks in queue order, except that a block made after a control
 * operation waits until every worker passed it and the operation ran. */
static void *writer_main(void *arg)
{
    struct workers *ws = arg;
    writer_name(ws);
    pthread_mutex_lock(&ws->mu);
    for (;;) {
        struct obuf *prev = NULL, *b = ws->q_head;
        while (b && b->epoch > ws->ctl_done) {
            prev = b;
            b = b->next;
        }
        if (b) {
            if (prev)
                prev->next = b->next;
            else
                ws->q_head = b->next;
            if (ws->q_tail == b)
                ws->q_tail = prev;
            pthread_mutex_unlock(&ws->mu);
            writer_block(ws, b);
            pthread_mutex_lock(&ws->mu);
            struct worker *w = b->owner;
            b->next = w->free_bufs;
            w->free_bufs = b;
            pthread_cond_signal(&w->free_cond);
            continue;
        }
        uint64_t posted = atomic_load(&ws->ctl_posted);
        if (ws->ctl_done < posted && min_passed(ws) > ws->ctl_done) {
            struct ctl_op op = ws->ctl[ws->ctl_done % CTL_MAX];
            pthread_mutex_unlock(&ws->mu);
            writer_op(ws, &op);
            pthread_mutex_lock(&ws->mu);
            ws->ctl_done++;
            pthread_cond_broadcast(&ws->ctl_cond);
            continue;
        }
        if (ws->q_done && !ws->q_head && ws->ctl_done == posted)
            break;                                   /* done and drained */
        pthread_cond_wait(&ws->q_cond, &ws->mu);
    }
    pthread_mutex_unlock(&ws->mu);
    ws->writer_cpu_ns = thread_cpu_ns();
    return NULL;
}

/* ---------------------------------------------------------------------
 * Workers
 */
static void worker_finish(struct worker *w)
{
    struct workers *ws = w->ws;
    joy_meter_flush(w->meter);
    emit(w);
    publish_stats(w);
    pthread_mutex_lock(&ws->mu);
    w->passed = UINT64_MAX;          /* no control operation waits for it any more */
    pthread_cond_signal(&ws->q_cond);
    pthread_mutex_unlock(&ws->mu);
    w->cpu_ns = thread_cpu_ns();
    w->done_ns = mono_ns();
    atomic_fetch_add(&ws->finished, 1);
}

/* ---------------------------------------------------------------------
 * The chunk pool
 */
static void chunk_release(struct chunk_pool *p, unsigned k)
{
    if (atomic_fetch_sub_explicit(&p->refs[k], 1, memory_order_acq_rel) != 1)
        return;
    pthread_mutex_lock(&p->mu);
    p->free_stack[p->n_free++] = (uint16_t)k;
    if (p->waiting)
        pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->mu);
}

static void reader_publish_all(struct reader *rd, bool end);

/* get() of struct source_bufs, in the reader's thread (inside source_next) */
static void *chunk_get(void *user, size_t need, size_t *cap)
{
    struct workers *ws = user;
    struct chunk_pool *p = &ws->pool;
    if (need > CHUNK_BYTES)
        return NULL;                 /* a record this long: the source's own buffer */
    pthread_mutex_lock(&p->mu);
    if (!p->n_free) {
        /* every chunk in use: hand over the batches being filled (they
         * may hold the chunks), then wait for a worker to release one */
        pthread_mutex_unlock(&p->mu);
        if (ws->rd)
            reader_publish_all(ws->rd, false);
        pthread_mutex_lock(&p->mu);
        p->waiting = true;
        p->waits++;
        uint64_t t0 = wall_ns();
        while (!p->n_free)
            pthread_cond_wait(&p->cond, &p->mu);
        p->wait_ns += wall_ns() - t0;
        p->waiting = false;
    }
    unsigned k = p->free_stack[--p->n_free];
    if (p->n - p->n_free > p->peak)
        p->peak = p->n - p->n_free;
    pthread_mutex_unlock(&p->mu);
    atomic_store_explicit(&p->refs[k], 1, memory_order_relaxed);    /* the reader's */
    *cap = CHUNK_BYTES;
    return p->mem + (size_t)k * CHUNK_BYTES;
}

static unsigned chunk_index(const struct chunk_pool *p, const void *buf)
{
    return (unsigned)(((const uint8_t *)buf - p->mem) / CHUNK_BYTES);
}

/* put() of struct source_bufs: the reader moved on from this chunk */
static void chunk_put(void *user, void *buf)
{
    struct workers *ws = user;
    chunk_release(&ws->pool, chunk_index(&ws->pool, buf));
}

/* Move a meter through the clock steps logged from tick up to target
 * (every value one meter's clock took, in order): flows expire at the same
 * steps as with one meter (which deadline a step passes first decides "i"
 * or "a").  Returns target. */
static inline uint64_t clock_catch_up(struct joy_meter *m, const uint64_t *log, uint64_t tick,
                                      uint64_t target)
{
    for (; tick < target; tick++)
        joy_meter_advance(m, log[tick % CLOCK_LOG]);
    return tick;
}

static void *dispatch_worker_main(void *arg)
{
    struct worker *w = arg;
    struct ring *r = &w->ring;
    const uint64_t *log = w->ws->clock_log;
    uint64_t tick = w->tick;
    for (;;) {
        sem_wait_intr(&r->filled, &w->waited_packets);
        struct batch *b = r->slot[r->tail % RING_SLOTS];
        if (b->n)
            joy_meter_set_time_base(w->meter, b->time_base);
        for (uint32_t i = 0; i < b->n; i++) {
            const struct pdesc *d = &b->d[i];
            tick = clock_catch_up(w->meter, log, tick, d->tick);   /* since its last packet */
            joy_meter_packet(w->meter, d->linktype, d->data, d->caplen, d->wirelen, d->ts);
        }
        for (uint32_t k = 0; k < b->n_chunks; k++)
            chunk_release(&w->ws->pool, b->chunks[k]);
        tick = clock_catch_up(w->meter, log, tick, b->end_tick);
        atomic_store_explicit(&w->tick_done, tick, memory_order_release);
        bool end = b->end;
        uint64_t ctl = b->ctl;
        r->tail++;
        sem_post(&r->free);
        publish_stats(w);
        if (ctl > w->passed)
            worker_pass(w, ctl);    /* the barrier sits at this batch's end */
        if (end)
            break;
    }
    worker_finish(w);
    return NULL;
}

/* -c with afpacket: the workers claim packets from one counter (an atomic
 * add per packet, only when -c is given); the claim that reaches the count
 * stops every socket.  False: the count was reached before this packet. */
static bool take_packet(struct workers *ws)
{
    uint64_t k = atomic_fetch_add_explicit(&ws->taken, 1, memory_order_relaxed);
    if (k >= ws->max_packets)
        return false;
    if (k + 1 == ws->max_packets) {
        wlog(ws, SOURCE_INFO, "%llu packets read (-c): stopping", (unsigned long long)k + 1);
        for (unsigned i = 0; i < ws->n; i++)
            if (ws->w[i].src)
                source_breakloop(ws->w[i].src);
    }
    return true;
}

static void *afpacket_worker_main(void *arg)
{
    struct worker *w = arg;
    struct workers *ws = w->ws;
    struct source_packet pkt;
    enum source_result res;
    uint32_t n = 0;
    /* No check of ws->stop here: workers_stop() breaks the source's loop,
     * and the source then hands over what its ring still holds (every
     * packet the kernel counted is read) before it ends. */
    while (!atomic_load_explicit(&ws->failed, memory_order_relaxed) &&
           (res = source_next(w->src, &pkt)) != SOURCE_END) {
        if (res == SOURCE_IDLE) {
            joy_meter_advance(w->meter, wall_ns());
            publish_stats(w);
            maybe_pass(w);
            continue;
        }
        if (ws->max_packets && !take_packet(ws))
            continue;               /* -c reached: what the rings still hold is read, not metered */
        joy_meter_packet(w->meter, pkt.linktype, pkt.data, pkt.caplen, pkt.wirelen, pkt.ts_ns);
        maybe_pass(w);              /* one relaxed load when nothing was posted */
        if ((++n & 4095) == 0)
            publish_stats(w);
    }
    w->error = source_error(w->src);
    worker_finish(w);
    return NULL;
}

/* ---------------------------------------------------------------------
 * The reader (dispatch mode)
 */
/* Where the first fragment of a TCP datagram went: its 5-tuple hash */
struct dgram {
    uint64_t key;                /* joy_flow_keys().datagram; 0: free */
    uint64_t ts;                 /* the earliest fragment's time */
    uint32_t hash;
};

/* A TCP later fragment that came before its first: a copy */
struct held {
    struct source_packet pkt;    /* data: copy */
    uint8_t *copy;
    uint64_t key;
    uint32_t addrs;              /* where it goes if its first never comes */
};

struct reader {
    struct workers *ws;
    struct batch *cur[WORKERS_MAX];
    uint64_t handed[WORKERS_MAX];    /* packets given to each worker's batches */
    /* bucket -> its worker + 1 (low 8 bits; 0: not seen yet) and, above,
     * the clock's second at its last packet (from base_s, rounded up;
     * saturated: the bucket never changes worker again) */
    uint32_t bucket[OWNER_SLOTS];
    uint64_t base_s;                 /* the clock's second at the first IP packet */
    bool based;
    uint64_t idle_s;                 /* a bucket idle longer than this may change worker */
    unsigned next;                   /* where the search for the least waiting starts */
    uint64_t clock;              /* what one meter's clock would be */
    uint64_t tick;               /* how often it changed: entries in ws->clock_log */
    bool epoch_warned;           /* a new clock epoch was announced */
    int64_t inl_time_base;       /* the time base the inline meter was given */
    bool inl_based;
    /* TCP by connection (see tcp_route) */
    bool by_conn;
    struct dgram *dgram;         /* DGRAM_SLOTS, allocated at the first TCP fragment */
    struct held held[HELD_MAX];  /* TCP later fragments waiting for their first, in order */
    unsigned n_held;
    size_t held_bytes;
    uint64_t hold_ns;            /* the longest a fragment is held (packet time) */
    uint64_t backlog_max;        /* reader_assign()'s threshold now (see reader_endgame) */
};

/* The inline meter (ws->inl) takes every clock step logged so far, as a
 * worker does at the end of a batch. */
static void inline_catch_up(struct reader *rd, struct worker *w)
{
    w->tick = clock_catch_up(w->meter, rd->ws->clock_log, w->tick, rd->tick);
    atomic_store_explicit(&w->tick_done, w->tick, memory_order_release);
}

static struct batch *reader_batch(struct reader *rd, unsigned i)
{
    struct batch *b = rd->cur[i];
    if (!b) {
        struct ring *r = &rd->ws->w[i].ring;
        sem_wait_intr(&r->free, &rd->ws->reader_waited);
        b = rd->cur[i] = r->slot[r->head % RING_SLOTS];
        b->n = b->used = 0;
        b->n_chunks = 0;
        b->end_tick = 0;
        b->ctl = 0;
        b->end = false;
    }
    return b;
}

static void reader_publish(struct reader *rd, unsigned i, bool end)
{
    struct worker *w = &rd->ws->w[i];
    if (w == rd->ws->inl) {
        /* what a worker does with a batch's end, at once: the clock steps,
         * the statistics, the control operations posted (the barrier) */
        inline_catch_up(rd, w);
        publish_stats(w);
        uint64_t ctl = atomic_load_explicit(&rd->ws->ctl_posted, memory_order_relaxed);
        if (ctl > w->passed)
            worker_pass(w, ctl);
        return;
    }
    struct batch *b = reader_batch(rd, i);
    struct ring *r = &rd->ws->w[i].ring;
    b->end_tick = rd->tick;
    b->ctl = atomic_load_explicit(&rd->ws->ctl_posted, memory_order_relaxed);
    b->end = end;
    rd->cur[i] = NULL;
    r->head++;
    sem_post(&r->filled);
}

static void reader_publish_all(struct reader *rd, bool end)
{
    for (unsigned i = 0; i < rd->ws->n; i++)
        reader_publish(rd, i, end);
}

/* One meter's clock moves to c: log it.  A worker is never more than
 * (RING_SLOTS + 1) * PUBLISH_ALL ticks behind (its ring holds at most
 * RING_SLOTS batches, and every batch is handed over within PUBLISH_ALL
 * packets), so an entry is not overwritten before every worker read it;
 * the check below only guards that reasoning (live: batches every 100 ms). */
static void reader_tick(struct reader *rd, uint64_t c)
{
    struct workers *ws = rd->ws;
    rd->clock = c;
    if ((rd->tick & 4095) == 0) {
        for (unsigned i = 0; i < ws->n; i++) {
            while (rd->tick - atomic_load_explicit(&ws->w[i].tick_done, memory_order_acquire) >=
                   CLOCK_LOG - 4096) {
                reader_publish(rd, i, false);
                struct timespec ts = {0, 1000000};
                nanosleep(&ts, NULL);
            }
        }
    }
    ws->clock_log[rd->tick % CLOCK_LOG] = c;
    rd->tick++;
}

/* ---------------------------------------------------------------------
 * Control operations (called by the calling thread: the reader in
 * dispatch mode, the thread in workers_run()'s wait loop in afpacket mode)
 */
static void ctl_post(struct workers *ws, const struct ctl_op *op)
{
    pthread_mutex_lock(&ws->mu);
    uint64_t posted = atomic_load_explicit(&ws->ctl_posted, memory_order_relaxed);
    /* full: wait for the writer (every operation posted so far is already
     * in every worker's stream, so they all get there) */
    while (posted - ws->ctl_done >= CTL_MAX)
        pthread_cond_wait(&ws->ctl_cond, &ws->mu);
    ws->ctl[posted % CTL_MAX] = *op;
    atomic_store_explicit(&ws->ctl_posted, posted + 1, memory_order_release);
    pthread_cond_signal(&ws->q_cond);
    pthread_mutex_unlock(&ws->mu);
    /* dispatch: the barrier sits here in every worker's packet stream */
    if (ws->rd)
        reader_publish_all(ws->rd, false);
}

/* The output's clock is t_ns: the first time, and whenever a -G interval
 * ended, a tick operation (the writer calls output_tick). */
static void ctl_tick(struct workers *ws, uint64_t t_ns)
{
    if (ws->ticked && !(ws->rot_secs && t_ns >= ws->rot_next))
        return;
    ws->ticked = true;
    struct ctl_op op = {.tick = true, .t_ns = t_ns};
    ctl_post(ws, &op);
    uint64_t t = t_ns / 1000000000u;
    ws->rot_next = ws->rot_secs ? (t - t % ws->rot_secs + ws->rot_secs) * 1000000000u : 0;
}

/*
 * The worker for an IP packet at time ts whose hash is h (a TCP segment's
 * 5-tuple hash, any other packet's address-pair hash: tcp_route).
 * The hash space is cut into OWNER_SLOTS buckets; a bucket's packets all go
 * to one worker while any meter could hold state from them, so every
 * packet of a flow (both directions, every fragment) goes to the same
 * meter, and the records are those of one meter whatever the choice.  A
 * bucket chooses its worker at its first packet, and again after it has
 * been idle longer than rd->idle_s: by then its owner's meter has expired
 * every flow of it (inactive_timeout, which threads=1 applies at the same
 * clock step) and every fragment entry is stale (60 s), so the next packet
 * starts new flows wherever it goes.
 *
 * The choice balances the work as it happens: a bucket goes to the worker
 * with the fewest packets waiting (handed over, not yet metered: its ring
 * and the batch being filled); when the reader meters a share itself
 * (ws->inl), it keeps the bucket unless some worker has fewer than
 * BACKLOG_MAX waiting.  So a worker that runs ahead gets the next host
 * pairs and one that falls behind gets none until it catches up, and
 * neither the reader (on a full ring) nor a worker (on an empty one) waits
 * for long, however unevenly the heavy host pairs would fall on a fixed
 * split of the hash space (bench/NOTES.md).
 */
static unsigned reader_assign(struct reader *rd, uint32_t h, uint64_t ts)
{
    uint32_t *e = &rd->bucket[h & (OWNER_SLOTS - 1)];
    uint64_t now = (ts > rd->clock ? ts : rd->clock) / 1000000000u;
    if (!rd->based) {
        rd->base_s = now;
        rd->based = true;
    }
    /* seconds since base_s, rounded up (never less idle than it was);
     * before base_s (a clock epoch that started earlier): 1, so no bucket
     * looks idle */
    uint64_t rel = now > rd->base_s ? now - rd->base_s + 1u : 1u;
    uint32_t stamp = rel < 0xffffffu ? (uint32_t)rel : 0xffffffu, last = *e >> 8;
    unsigned owner = *e & 0xffu;
    if (stamp < last)
        stamp = last;                        /* after a step back: keep the latest */
    if (owner && (last == 0xffffffu || (uint64_t)last + rd->idle_s >= stamp)) {
        *e = stamp << 8 | owner;
        return owner - 1u;
    }
    struct workers *ws = rd->ws;
    unsigned best = ws->n;
    uint64_t best_wait = UINT64_MAX;
    /* ties (an idle start, a light load) go round: the search starts one
     * further each time */
    for (unsigned k = 0; k < ws->n; k++) {
        unsigned i = (rd->next + k) % ws->n;
        if (&ws->w[i] == ws->inl)
            continue;
        uint64_t wait = rd->handed[i] - atomic_load_explicit(&ws->w[i].packets,
                                                             memory_order_relaxed);
        if (wait < best_wait) {
            best_wait = wait;
            best = i;
        }
    }
    rd->next = (rd->next + 1) % ws->n;
    if (ws->inl && (best == ws->n || best_wait >= rd->backlog_max))
        best = (unsigned)(ws->inl - ws->w);
    if (!owner) {
        ws->buckets_new++;
    } else {
        ws->buckets_again++;
        if (owner != best + 1u)
            ws->buckets_moved++;
    }
    *e = stamp << 8 | (best + 1u);
    return best;
}

/* A packet for worker i's batch: by pointer when it is in a chunk, else
 * copied. */
static void reader_add(struct reader *rd, unsigned i, const struct source_packet *pkt)
{
    struct workers *ws = rd->ws;
    struct batch *b = reader_batch(rd, i);
    uint32_t caplen = pkt->caplen;
    const uint8_t *data = pkt->data;
    if (pkt->buf) {
        /* in a chunk: passed by pointer; the batch takes a reference to
         * the chunk with its first packet in it */
        unsigned k = chunk_index(&ws->pool, pkt->buf);
        if (b->n == BATCH_PKTS ||
            (b->n_chunks == BATCH_CHUNKS && b->chunks[BATCH_CHUNKS - 1] != k)) {
            reader_publish(rd, i, false);
            b = reader_batch(rd, i);
        }
        if (!b->n_chunks || b->chunks[b->n_chunks - 1] != k) {
            atomic_fetch_add_explicit(&ws->pool.refs[k], 1, memory_order_relaxed);
            b->chunks[b->n_chunks++] = (uint16_t)k;
        }
    } else {
        if (b->n == BATCH_PKTS || b->used + caplen > BATCH_BYTES) {
            reader_publish(rd, i, false);
            b = reader_batch(rd, i);
        }
        if (caplen > BATCH_BYTES)
            caplen = BATCH_BYTES;
        memcpy(b->data + b->used, pkt->data, caplen);
        data = b->data + b->used;
        b->used += (caplen + 7u) & ~7u;
    }
    b->time_base = pkt->time_base;
    b->d[b->n] = (struct pdesc){.ts = pkt->ts_ns, .tick = rd->tick, .data = data,
                                .caplen = caplen, .wirelen = pkt->wirelen,
                                .linktype = pkt->linktype};
    b->n++;
    rd->handed[i]++;
}

/* A packet of the reader's own share (ws->inl): metered at once, while its
 * bytes are in this core's cache, after the clock steps before it. */
static void reader_meter(struct reader *rd, const struct source_packet *pkt)
{
    struct workers *ws = rd->ws;
    struct worker *w = ws->inl;
    if (!rd->inl_based || pkt->time_base != rd->inl_time_base) {
        joy_meter_set_time_base(w->meter, pkt->time_base);
        rd->inl_time_base = pkt->time_base;
        rd->inl_based = true;
    }
    w->tick = clock_catch_up(w->meter, ws->clock_log, w->tick, rd->tick);
    joy_meter_packet(w->meter, pkt->linktype, pkt->data, pkt->caplen, pkt->wirelen, pkt->ts_ns);
}

/* Give a packet to worker i: metered at once (the reader's share) or added
 * to the worker's batch. */
static void reader_give(struct reader *rd, unsigned i, const struct source_packet *pkt)
{
    if (&rd->ws->w[i] == rd->ws->inl)
        reader_meter(rd, pkt);
    else
        reader_add(rd, i, pkt);
}

/* The worker for a TCP packet whose 5-tuple hash is h.  TCP without ports
 * (h is the address pair's: a header cut short, ports 0, later fragments
 * whose first never came) is one flow per host pair, and one meter would
 * also gather such fragments parked at different times into one record
 * when it accounts for them (at the end: meter.c, account_orphans): so
 * those go to a worker that depends on the host pair alone, never on a
 * bucket that may change hands after idling. */
static unsigned tcp_worker(struct reader *rd, uint32_t h, uint32_t addrs, uint64_t ts)
{
    if (h == addrs)
        return (unsigned)(((uint64_t)h * rd->ws->n) >> 32);
    return reader_assign(rd, h, ts);
}

/* Hand on the held fragment k to the worker of hash h (its first came: h is
 * the first's 5-tuple hash; or it never will: h is its address pair's) */
static void held_release(struct reader *rd, unsigned k, uint32_t h)
{
    struct held *e = &rd->held[k];
    reader_give(rd, tcp_worker(rd, h, e->addrs, e->pkt.ts_ns), &e->pkt);
    rd->held_bytes -= e->pkt.caplen;
    free(e->copy);
    memmove(e, e + 1, (rd->n_held - k - 1) * sizeof *e);
    rd->n_held--;
}

/* The oldest held fragment, its first not come: to its address pair's
 * meter, where one meter would have counted it (a parked fragment whose
 * first never came: meter.c's account_orphans) */
static void held_expire(struct reader *rd)
{
    rd->ws->frag_unmatched++;
    held_release(rd, 0, rd->held[0].addrs);
}

/* The clock is about to move to ts (an IP packet's time, or live, the wall
 * clock): held fragments it would leave hold_ns or more behind go on now
 * (a meter takes a packet older than its clock by more than
 * inactive_timeout as a new clock epoch; and after 60 s one meter would
 * not match them with their first either).  A step back that starts a new
 * clock epoch lets every held fragment go first. */
static void held_expire_before(struct reader *rd, uint64_t ts)
{
    bool epoch = ts <= rd->clock && rd->clock - ts > rd->ws->inactive_ns;
    uint64_t next = ts > rd->clock ? ts : rd->clock;
    while (rd->n_held && (epoch || next - rd->held[0].pkt.ts_ns >= rd->hold_ns))
        held_expire(rd);
}

/*
 * TCP by connection.  The reader spreads TCP by 5-tuple, everything else by
 * host pair, so the connections between two busy hosts (a long download,
 * several in a row) go to different meters (doc/internals/threads.md).  A
 * flow is one 5-tuple, so its packets stay together; what needs care is a
 * fragmented TCP segment: its later fragments carry no ports.  So the
 * reader remembers, per datagram, the 5-tuple hash of the first fragment,
 * and a later fragment goes where its first went.  A later fragment that
 * comes before its first (one meter parks it, meter.c) is held here, a
 * copy, and handed to the first's meter just before the first; if the first
 * has not come within hold_ns of packet time (or too much is held), it goes
 * to its address pair's meter, where one meter would have counted it among
 * the fragments whose first never came.  Returns true when the packet was
 * held; else *h is the hash that picks its meter.
 */
static bool tcp_route(struct reader *rd, const struct joy_flow_keys *k,
                      const struct source_packet *pkt, uint32_t *h)
{
    struct workers *ws = rd->ws;
    if (k->fragment == JOY_FRAG_NONE) {
        *h = k->five;
        return false;
    }
    if (!rd->dgram && !(rd->dgram = calloc(DGRAM_SLOTS, sizeof *rd->dgram))) {
        *h = k->addrs;               /* no memory: by host pair, as without by_conn */
        return false;
    }
    struct dgram *d = &rd->dgram[(k->datagram ^ k->datagram >> 29) & (DGRAM_SLOTS - 1)];
    uint64_t ts = pkt->ts_ns;
    if (k->fragment == JOY_FRAG_FIRST) {
        *h = k->five;
        uint64_t first_ts = ts;
        for (unsigned i = 0; i < rd->n_held;) {
            if (rd->held[i].key == k->datagram) {
                if (rd->held[i].pkt.ts_ns < first_ts)
                    first_ts = rd->held[i].pkt.ts_ns;
                ws->frag_held_matched++;
                held_release(rd, i, k->five);
            } else {
                i++;
            }
        }
        if (d->key && d->key != k->datagram)
            ws->frag_forgotten++;
        *d = (struct dgram){.key = k->datagram, .ts = first_ts, .hash = k->five};
        return false;
    }
    /* a later fragment: where its first went, while one meter would still
     * match them (meter.c: FRAG_MAX_AGE, 60 s) */
    if (d->key == k->datagram && (ts >= d->ts ? ts - d->ts : d->ts - ts) < 60000000000ull) {
        *h = d->hash;
        ws->frag_followed++;
        return false;
    }
    uint8_t *copy = NULL;
    if (rd->hold_ns && pkt->caplen <= HELD_BYTES) {
        while (rd->n_held && (rd->n_held == HELD_MAX || rd->held_bytes + pkt->caplen > HELD_BYTES))
            held_expire(rd);
        copy = malloc(pkt->caplen ? pkt->caplen : 1);
    }
    if (!copy) {
        *h = k->addrs;
        ws->frag_unmatched++;
        return false;
    }
    memcpy(copy, pkt->data, pkt->caplen);
    struct held *e = &rd->held[rd->n_held++];
    e->pkt = *pkt;
    e->pkt.data = e->copy = copy;
    e->pkt.buf = NULL;
    e->key = k->datagram;
    e->addrs = k->addrs;
    rd->held_bytes += pkt->caplen;
    ws->frag_held++;
    return true;
}

/*
 * The end of a file: a new bucket goes to the worker unless it has
 * backlog_max packets waiting, so when the reader reads the last packet the
 * worker may still have that many to meter while the reader's own share is
 * done (on mix.pcap it ended ~20 ms after the reader, one core idle).  So
 * the threshold shrinks to the packets still to read (estimated from the
 * bytes left and the bytes per packet so far): near the end new flows stay
 * with the reader, and the worker's backlog drains as the file does (-vv:
 * "ended ... after the reader", 4-6 ms).  Every 4096 packets; a source of
 * unknown size (standard input) keeps the fixed threshold.
 */
static void reader_endgame(struct reader *rd, struct joy_source *s, uint64_t packets)
{
    const char *name;
    uint64_t done, total;
    if (source_file_progress(s, &name, &done, &total) != 0 || !total || !done || done > total)
        return;
    uint64_t rem = (total - done) / (done / packets + 1u);
    rd->backlog_max = rem < rd->ws->backlog_max ? rem : rd->ws->backlog_max;
}

static void reader_run(struct workers *ws)
{
    struct reader *rd = calloc(1, sizeof *rd);
    struct reader fallback;
    if (!rd) {                       /* it is small; but never fail here */
        memset(&fallback, 0, sizeof fallback);
        rd = &fallback;
    }
    rd->ws = ws;
    ws->rd = rd;
    /* idle buckets may change worker: every flow expired (inactive_timeout)
     * and every fragment entry stale (meter.c's FRAG_MAX_AGE, 60 s), with a
     * second to spare for the rounding of reader_assign's seconds */
    rd->idle_s = (ws->inactive_ns > 60000000000ull ? ws->inactive_ns : 60000000000ull) /
                 1000000000u + 2u;
    /* TCP by connection (tcp_route; JOY_DISPATCH=hosts: every packet by its
     * host pair, as before 1.3); a fragment is held until the clock would
     * pass it by inactive_timeout (at most 60 s) */
    const char *disp = getenv("JOY_DISPATCH");
    rd->by_conn = !(disp && strcmp(disp, "hosts") == 0);
    rd->hold_ns = ws->inactive_ns < 60000000000ull ? ws->inactive_ns : 60000000000ull;
    rd->backlog_max = ws->backlog_max;
    struct joy_source *s = ws->source;
    struct source_packet pkt;
    enum source_result res;
    uint64_t last_publish = ws->live ? wall_ns() : 0;
    uint32_t count = 0, since_periodic = 0;
    uint64_t total = 0;
    if (ws->pool.mem) {
        struct source_bufs bufs = {chunk_get, chunk_put, ws};
        source_file_set_bufs(s, &bufs);      /* -1 (copies) unless s reads files */
    }
    while (!ws->stop && !atomic_load_explicit(&ws->failed, memory_order_relaxed) &&
           (res = source_next(s, &pkt)) != SOURCE_END) {
        if (res == SOURCE_IDLE) {
            uint64_t now = wall_ns();
            if (rd->n_held)
                held_expire_before(rd, now);
            if (now > rd->clock)
                reader_tick(rd, now);
            reader_publish_all(rd, false);
            last_publish = now;
            if (ws->periodic)
                ws->periodic(ws->periodic_user);
            continue;
        }
        /* offline -G: the packet time, as threads=1 gives every packet's
         * time to output_tick() before the packet (the reader's clock) */
        if (!ws->live)
            ctl_tick(ws, pkt.ts_ns);
        struct joy_flow_keys k;
        bool ip = joy_flow_keys(pkt.linktype, pkt.data, pkt.caplen, pkt.wirelen, &k) == JOY_OK;
        if (ip && rd->n_held)
            held_expire_before(rd, pkt.ts_ns);
        uint32_t h = k.addrs;
        if (!ip)
            reader_give(rd, 0, &pkt);
        else if (k.proto != 6 || !rd->by_conn)
            reader_give(rd, reader_assign(rd, h, pkt.ts_ns), &pkt);
        else if (!tcp_route(rd, &k, &pkt, &h))
            reader_give(rd, tcp_worker(rd, h, k.addrs, pkt.ts_ns), &pkt);
        /* a step back beyond inactive_timeout is logged too: each meter
         * starts a new clock epoch at it, also one that gets no packet */
        if (ip && pkt.ts_ns <= rd->clock && rd->clock - pkt.ts_ns > ws->inactive_ns &&
            !rd->epoch_warned) {
            uint64_t back = rd->clock - pkt.ts_ns;
            wlog(ws, SOURCE_WARN, "packet time went back by %llu.%09llu s, more than "
                 "inactive_timeout: the open flows were expired and the clock restarted "
                 "(files out of time order?); said once, counted in the statistics",
                 (unsigned long long)(back / 1000000000u), (unsigned long long)(back % 1000000000u));
            rd->epoch_warned = true;
        }
        if (ip && (pkt.ts_ns > rd->clock || rd->clock - pkt.ts_ns > ws->inactive_ns))
            reader_tick(rd, pkt.ts_ns);
        if (++total == ws->max_packets) {
            wlog(ws, SOURCE_INFO, "%llu packets read (-c): stopping", (unsigned long long)total);
            break;
        }
        if ((total & 4095) == 0 && ws->inl)
            reader_endgame(rd, s, total);
        if (++count == PUBLISH_ALL) {
            count = 0;
            /* keep quiet workers' clocks (and their expiry) moving */
            reader_publish_all(rd, false);
        }
        if (ws->live ? (count & 15) == 0 : ++since_periodic == 4096) {
            uint64_t now = ws->live ? wall_ns() : 0;
            if (!ws->live || now - last_publish >= LIVE_PUBLISH_NS) {
                since_periodic = 0;
                if (ws->live) {
                    reader_publish_all(rd, false);
                    last_publish = now;
                }
                if (ws->periodic)
                    ws->periodic(ws->periodic_user);
            }
        }
    }
    while (rd->n_held)
        held_expire(rd);
    free(rd->dgram);
    reader_publish_all(rd, true);
    if (ws->inl)
        worker_finish(ws->inl);              /* its open flows, on this thread */
    if (ws->pool.mem)
        source_file_set_bufs(s, NULL);       /* the source gives back the chunk it holds */
    ws->reader_cpu_ns = thread_cpu_ns();
    ws->reader_done_ns = mono_ns();
    ws->rd = NULL;
    if (rd != &fallback)
        free(rd);
}

/* ---------------------------------------------------------------------
 * Set-up and the run
 */
static int worker_init(struct workers *ws, struct worker *w, unsigned id, char *err, size_t errlen)
{
    w->ws = ws;
    w->id = id;
    pthread_cond_init(&w->free_cond, NULL);
    if (!(w->meter = joy_meter_new(ws->ctx, on_record, w, err, errlen)))
        return -1;
    w->text_cap = TEXT_CAP;
    if (!(w->text = malloc(w->text_cap)))
        goto nomem;
    if (ws->gzip_level && !(w->gz = gz_member_new(ws->gzip_level)))
        goto nomem;
    size_t cap = ws->gzip_level ? gz_member_bound(TEXT_CAP) : TEXT_CAP;
    if (ws->extras && !(w->ext = malloc(w->ext_cap = EXT_CAP)))
        goto nomem;
    for (unsigned k = 0; k < OUT_BUFS; k++) {
        struct obuf *b = &w->bufs[k];
        if (!(b->data = malloc(cap)))
            goto nomem;
        b->cap = cap;
        if (ws->extras && !(b->ext = malloc(b->ext_cap = EXT_CAP)))
            goto nomem;
        b->next = w->free_bufs;
        w->free_bufs = b;
    }
    if (!ws->afpacket && w != ws->inl) {     /* the reader's own share has no ring */
        struct ring *r = &w->ring;
        for (unsigned k = 0; k < RING_SLOTS; k++) {
            if (!(r->slot[k] = calloc(1, sizeof *r->slot[k])) ||
                !(r->slot[k]->data = malloc(BATCH_BYTES)))
                goto nomem;
        }
        if (sem_init(&r->filled, 0, 0) != 0 || sem_init(&r->free, 0, RING_SLOTS) != 0)
            goto nomem;
        r->sems = true;
    }
    return 0;
nomem:
    snprintf(err, errlen, "out of memory");
    return -1;
}

struct workers *workers_new(const struct workers_opts *o, enum source_error *error, char *err,
                            size_t errlen)
{
    *error = SOURCE_FATAL;
    if (o->threads < 1 || o->threads > WORKERS_MAX) {
        *error = SOURCE_CONFIG;
        snprintf(err, errlen, "threads must be 1..%d", WORKERS_MAX);
        return NULL;
    }
    struct workers *ws = calloc(1, sizeof *ws + o->threads * sizeof ws->w[0]);
    if (!ws) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ws->n = o->threads;
    ws->ctx = o->ctx;
    ws->out = o->out;
    ws->gzip_level = output_gzip_level(o->out);
    ws->primary = output_has_primary(o->out);
    ws->extras = output_has_extra(o->out);
    ws->rot_secs = o->rotate_seconds;
    ws->periodic = o->periodic;
    ws->periodic_user = o->periodic_user;
    ws->source = o->source;
    ws->live = o->live;
    ws->inactive_ns = o->inactive_ns;
    ws->max_packets = o->max_packets;
    ws->afpacket = !o->source;
    ws->log = o->log;
    ws->log_user = o->log_user;
    pthread_mutex_init(&ws->mu, NULL);
    pthread_cond_init(&ws->q_cond, NULL);
    pthread_cond_init(&ws->ctl_cond, NULL);
    pthread_mutex_init(&ws->pool.mu, NULL);
    pthread_cond_init(&ws->pool.cond, NULL);
    if (!ws->afpacket && !ws->live) {
        /* anonymous memory, touched as chunks are first used; huge pages
         * where the system gives them on request (fewer page faults) */
        const char *e = getenv("JOY_CHUNKS");     /* tests: a small pool, many waits */
        ws->pool.n = e && atoi(e) >= 2 && atoi(e) <= CHUNKS ? (unsigned)atoi(e) : CHUNKS;
        void *m = mmap(NULL, (size_t)ws->pool.n * CHUNK_BYTES, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m != MAP_FAILED) {
#ifdef MADV_HUGEPAGE
            madvise(m, (size_t)ws->pool.n * CHUNK_BYTES, MADV_HUGEPAGE);
#endif
            ws->pool.mem = m;
        }
    }
    if (ws->pool.mem) {
        for (unsigned k = 0; k < ws->pool.n; k++)
            ws->pool.free_stack[ws->pool.n_free++] = (uint16_t)(ws->pool.n - 1 - k);
    }                                        /* no memory for it: packets are copied */
    /* Reading files with no core to spare for a reader of its own
     * (threads + 1 > online CPUs), the reader meters worker 0's share
     * itself: the reader's work then shares a core with one meter instead
     * of taking turns with all of them.  JOY_READER_METERS=0 or 1 forces
     * the choice (the tests run both). */
    /* reader_assign()'s threshold; the tests set a small one with
     * JOY_BACKLOG_MAX so that buckets change hands often */
    ws->backlog_max = BACKLOG_MAX;
    const char *bm = getenv("JOY_BACKLOG_MAX");
    if (bm && *bm)
        ws->backlog_max = strtoull(bm, NULL, 10);
    if (!ws->afpacket && !ws->live && ws->n > 1) {
        const char *e = getenv("JOY_READER_METERS");
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        bool inl = e && *e ? strcmp(e, "0") != 0 : cpus > 0 && (long)ws->n + 1 > cpus;
        if (inl)
            ws->inl = &ws->w[0];
    }
    if (!ws->afpacket && !(ws->clock_log = malloc(CLOCK_LOG * sizeof *ws->clock_log))) {
        snprintf(err, errlen, "out of memory");
        workers_free(ws);
        return NULL;
    }
    for (unsigned i = 0; i < ws->n; i++) {
        if (worker_init(ws, &ws->w[i], i, err, errlen) != 0) {
            workers_free(ws);
            return NULL;
        }
    }
    if (ws->afpacket) {
        int group = -1;
        for (unsigned i = 0; i < ws->n; i++) {
            struct source_afpacket_opts so = {o->interface, o->bpf, o->snaplen, o->promisc,
                                              ws->n > 1 ? o->fanout : AFP_FANOUT_NONE, &group,
                                              o->log, o->log_user};
            struct worker *w = &ws->w[i];
            if (!(w->src = source_afpacket_new(&so, error, err, errlen))) {
                workers_free(ws);
                return NULL;
            }
            if (source_open(w->src) != SOURCE_OK) {
                *error = source_error(w->src);
                snprintf(err, errlen, "%s", source_errmsg(w->src));
                workers_free(ws);
                return NULL;
            }
        }
        for (unsigned i = 0; i < ws->n; i++) {
            if (source_afpacket_start(ws->w[i].src) != SOURCE_OK) {
                *error = source_error(ws->w[i].src);
                snprintf(err, errlen, "%s", source_errmsg(ws->w[i].src));
                workers_free(ws);
                return NULL;
            }
        }
    }
    *error = SOURCE_OK;
    return ws;
}

/* Threads start with every signal blocked: signals go to the caller's
 * thread, whose handler stops the run (and whose blocking reads they
 * interrupt). */
static int start_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(t, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

enum source_error workers_run(struct workers *ws)
{
    enum source_error worst = SOURCE_OK;
    if (start_thread(&ws->writer, writer_main, ws) != 0) {
        wlog(ws, SOURCE_ERROR, "cannot start the writer thread");
        return SOURCE_FATAL;
    }
    ws->writer_started = true;
    unsigned started = 0, threads = ws->inl ? ws->n - 1 : ws->n;
    for (unsigned i = 0; i < ws->n; i++) {
        struct worker *w = &ws->w[i];
        if (w == ws->inl)
            continue;                /* metered by the reader (this thread) */
        if (start_thread(&w->thread, ws->afpacket ? afpacket_worker_main : dispatch_worker_main,
                         w) != 0) {
            wlog(ws, SOURCE_ERROR, "cannot start worker thread %u", i);
            worst = SOURCE_FATAL;
            break;
        }
        w->started = true;
        started++;
    }
    if (started < threads) {
        /* stop what runs; unstarted workers of the dispatcher get nothing */
        ws->stop = 1;
        for (unsigned i = 0; i < ws->n; i++) {
            if (!ws->w[i].started)
                continue;
            if (ws->afpacket)
                source_breakloop(ws->w[i].src);
            else {
                struct ring *r = &ws->w[i].ring;
                sem_wait_intr(&r->free, &ws->reader_waited);
                struct batch *b = r->slot[r->head % RING_SLOTS];
                b->n = 0;
                b->end_tick = 0;
                b->end = true;
                b->ctl = 0;
                r->head++;
                sem_post(&r->filled);
            }
        }
    } else if (!ws->afpacket) {
        reader_run(ws);
    } else {
        /* afpacket: this thread only waits, and runs the periodic work */
        while (atomic_load(&ws->finished) < ws->n) {
            struct timespec ts = {0, 50000000};
            nanosleep(&ts, NULL);
            if (ws->periodic)
                ws->periodic(ws->periodic_user);
        }
    }
    for (unsigned i = 0; i < ws->n; i++) {
        struct worker *w = &ws->w[i];
        if (w->started) {
            pthread_join(w->thread, NULL);
            w->started = false;
        }
        if (w->error > worst)
            worst = w->error;
    }
    pthread_mutex_lock(&ws->mu);
    for (unsigned i = 0; i < ws->n; i++)
        ws->w[i].passed = UINT64_MAX;            /* also the workers never started */
    ws->q_done = true;
    pthread_cond_signal(&ws->q_cond);
    pthread_mutex_unlock(&ws->mu);
    pthread_join(ws->writer, NULL);
    ws->writer_started = false;
    /* where the time went: each thread's CPU, and how long it stood still
     * waiting for another (bench/threads.py reads these lines) */
    if (!ws->afpacket)
        wlog(ws, SOURCE_DEBUG, "reader thread: %.3f s CPU; waited %.1f ms for room in a "
             "worker's ring (%llu times)", ws->reader_cpu_ns / 1e9, ws->reader_waited.ns / 1e6,
             (unsigned long long)ws->reader_waited.times);
    for (unsigned i = 0; i < ws->n; i++) {
        const struct worker *w = &ws->w[i];
        if (w == ws->inl)
            wlog(ws, SOURCE_DEBUG, "worker %u: in the reader thread, %llu packets; waited %.1f ms "
                 "for the writer (%llu times)", i, (unsigned long long)atomic_load(&w->packets),
                 w->waited_writer.ns / 1e6, (unsigned long long)w->waited_writer.times);
        else if (!ws->afpacket)
            wlog(ws, SOURCE_DEBUG, "worker %u: %.3f s CPU, %llu packets; waited %.1f ms for "
                 "packets (%llu times), %.1f ms for the writer (%llu times); ended %+.1f ms "
                 "after the reader", i, w->cpu_ns / 1e9,
                 (unsigned long long)atomic_load(&w->packets), w->waited_packets.ns / 1e6,
                 (unsigned long long)w->waited_packets.times, w->waited_writer.ns / 1e6,
                 (unsigned long long)w->waited_writer.times,
                 (double)(int64_t)(w->done_ns - ws->reader_done_ns) / 1e6);
        else
            wlog(ws, SOURCE_DEBUG, "worker %u: %.3f s CPU, %llu packets; waited %.1f ms for "
                 "the writer (%llu times)", i, w->cpu_ns / 1e9,
                 (unsigned long long)atomic_load(&w->packets), w->waited_writer.ns / 1e6,
                 (unsigned long long)w->waited_writer.times);
    }
    wlog(ws, SOURCE_DEBUG, "writer thread: %.3f s CPU", ws->writer_cpu_ns / 1e9);
    if (ws->pool.mem)
        wlog(ws, SOURCE_DEBUG, "chunks: %u of %u in use at most, %u waits for one (%.1f ms)",
             ws->pool.peak, ws->pool.n, ws->pool.waits, ws->pool.wait_ns / 1e6);
    if (!ws->afpacket)
        wlog(ws, SOURCE_DEBUG, "hash buckets (TCP by connection, the rest by host pair): %llu "
             "given a worker, %llu chosen again after idling, %llu of them moved to another "
             "worker", (unsigned long long)ws->buckets_new, (unsigned long long)ws->buckets_again,
             (unsigned long long)ws->buckets_moved);
    if (!ws->afpacket && (ws->frag_followed || ws->frag_held || ws->frag_unmatched))
        wlog(ws, SOURCE_DEBUG, "TCP later fragments: %llu after their first, %llu before it "
             "(held: %llu then followed it), %llu without it; %llu datagrams forgotten "
             "(table full)", (unsigned long long)ws->frag_followed,
             (unsigned long long)ws->frag_held, (unsigned long long)ws->frag_held_matched,
             (unsigned long long)ws->frag_unmatched, (unsigned long long)ws->frag_forgotten);
    return worst;
}

void workers_stop(struct workers *ws)
{
    ws->stop = 1;
    for (unsigned i = 0; i < ws->n; i++)
        if (ws->w[i].src)
            source_breakloop(ws->w[i].src);
    if (ws->source)
        source_breakloop(ws->source);
}

void workers_flush(struct workers *ws)
{
    struct ctl_op op = {.flush = true};
    ctl_post(ws, &op);
}

void workers_tick(struct workers *ws, uint64_t t_ns) { ctl_tick(ws, t_ns); }

void workers_hangup(struct workers *ws, const struct workers_hangup *h)
{
    struct ctl_op op = {.rotate = h->rotate, .limits = h->limits, .secs = h->secs,
                        .bytes = h->bytes, .records = h->records, .keep = h->keep,
                        .reload = h->reload, .retire = h->retire, .flush = true};
    ctl_post(ws, &op);
    if (h->limits && h->secs != ws->rot_secs) {
        ws->rot_secs = h->secs;
        ws->ticked = false;          /* the next tick sets the new interval */
    }
}

void workers_stats(const struct workers *ws, struct workers_stats *st)
{
    memset(st, 0, sizeof *st);
    st->n = ws->n;
    st->kernel = ws->afpacket;
    for (unsigned i = 0; i < ws->n; i++) {
        const struct worker *w = &ws->w[i];
        struct workers_stat *s = &st->w[i];
        s->packets = atomic_load_explicit(&w->packets, memory_order_relaxed);
        s->bytes = atomic_load_explicit(&w->bytes, memory_order_relaxed);
        s->records = atomic_load_explicit(&w->records, memory_order_relaxed);
        s->flows_open = atomic_load_explicit(&w->flows_open, memory_order_relaxed);
        s->kernel_packets = atomic_load_explicit(&w->kpackets, memory_order_relaxed);
        s->kernel_drops = atomic_load_explicit(&w->kdrops, memory_order_relaxed);
        s->gso_frames = atomic_load_explicit(&w->gso, memory_order_relaxed);
        st->total.packets += s->packets;
        st->total.bytes += s->bytes;
        st->total.records += s->records;
        st->total.flows_open += s->flows_open;
        st->total.kernel_packets += s->kernel_packets;
        st->total.kernel_drops += s->kernel_drops;
        st->total.gso_frames += s->gso_frames;
    }
}

uint64_t workers_written(struct workers *ws, uint64_t *files, char *name, size_t namelen)
{
    if (files)
        *files = atomic_load_explicit(&ws->files, memory_order_relaxed);
    if (name && namelen) {
        pthread_mutex_lock(&ws->mu);
        snprintf(name, namelen, "%s", ws->name);
        pthread_mutex_unlock(&ws->mu);
    }
    return atomic_load_explicit(&ws->written, memory_order_relaxed);
}

void workers_meter_stats(const struct workers *ws, struct joy_stats *sum)
{
    memset(sum, 0, sizeof *sum);
    for (unsigned i = 0; i < ws->n; i++) {
        struct joy_stats st;
        joy_meter_get_stats(ws->w[i].meter, &st);
        sum->packets += st.packets;
        sum->bytes += st.bytes;
        sum->not_ip += st.not_ip;
        sum->truncated += st.truncated;
        sum->malformed += st.malformed;
        sum->unsupported += st.unsupported;
        sum->frag_unmatched += st.frag_unmatched;
        sum->records += st.records;
        sum->oversized += st.oversized;
        sum->no_memory += st.no_memory;
        sum->flows_open += st.flows_open;
        sum->clock_epochs += st.clock_epochs;
        sum->tcp_reused += st.tcp_reused;
    }
}

bool workers_output_failed(const struct workers *ws) { return atomic_load(&ws->failed); }

void workers_free(struct workers *ws)
{
    if (!ws)
        return;
    for (unsigned i = 0; i < ws->n; i++) {
        struct worker *w = &ws->w[i];
        joy_meter_free(w->meter);
        source_close(w->src);
        gz_member_free(w->gz);
        free(w->text);
        free(w->ext);
        for (unsigned k = 0; k < OUT_BUFS; k++) {
            free(w->bufs[k].data);
            free(w->bufs[k].ext);
        }
        for (unsigned k = 0; k < RING_SLOTS; k++) {
            if (w->ring.slot[k])
                free(w->ring.slot[k]->data);
            free(w->ring.slot[k]);
        }
        if (w->ring.sems) {
            sem_destroy(&w->ring.filled);
            sem_destroy(&w->ring.free);
        }
        if (w->ws)
            pthread_cond_destroy(&w->free_cond);
    }
    free(ws->clock_log);
    if (ws->pool.mem)
        munmap(ws->pool.mem, (size_t)ws->pool.n * CHUNK_BYTES);
    pthread_mutex_destroy(&ws->pool.mu);
    pthread_cond_destroy(&ws->pool.cond);
    pthread_mutex_destroy(&ws->mu);
    pthread_cond_destroy(&ws->q_cond);
    pthread_cond_destroy(&ws->ctl_cond);
    free(ws);
}

/*
 * source.h - packet sources: where the frames that a meter reads come from.
 *
 * A source is a small object with an operations table, in the manner of
 * libpcap's pcap_t (pcap-int.h: activate_op, read_op, stats_op,
 * breakloop_op, cleanup_op).  Two exist: capture files and directories
 * (source_file.c, over capfile.c) and live capture through libpcap
 * (source_pcap.c).  The joy command picks one, then loops:
 *
 *     source_open(s)                              start (open the device)
 *     while ((r = source_next(s, &pkt)) != SOURCE_END)
 *         r == SOURCE_PACKET ? joy_meter_packet(m, pkt...) : joy_meter_advance(m, now)
 *     source_stats(s, &st); source_close(s);
 *     exit status from source_error(s)
 *
 * Contract
 *
 *  Threads.  A source has no global state: all of it is in its structure,
 *  and a source is driven by one thread at a time (one source per worker
 *  thread, each feeding its own meter).  Only source_breakloop() may be
 *  called from elsewhere: from a signal handler or another thread.
 *
 *  Packet memory.  next() hands back a pointer into the source's own
 *  buffer (capfile's read window, libpcap's ring) - never a copy.  The
 *  packet is valid until the next call of next() or close() on the same
 *  source, and is read-only.  A caller that needs it longer copies it.
 *  The file source allocates nothing per packet.
 *
 *  Filtering.  A source applies the BPF filter itself (compiled per link
 *  type for files, in the kernel for live capture) and hands out only the
 *  packets that pass.  It counts what it rejected in its statistics
 *  (`filtered`; a kernel filter's rejections are not seen and stay 0), and
 *  likewise the packets it skipped because joy does not decode their link
 *  type (`unsupported`).
 *
 *  Results of next().  SOURCE_PACKET: *pkt holds a packet.  SOURCE_IDLE: no
 *  packet arrived within the source's timeout (live capture, 100 ms) - the
 *  caller may move its meter's clock to the wall clock and call again.
 *  SOURCE_END: there is nothing more to read - every input was read, or
 *  breakloop() was called, or the source failed.  After SOURCE_END, next()
 *  keeps returning SOURCE_END.
 *
 *  Errors are sticky and graded: source_error() gives the worst so far,
 *    SOURCE_OK       nothing went wrong (ending by breakloop is not an error);
 *    SOURCE_DAMAGED  part of the input could not be read: a file damaged
 *                    midway, unreadable, not a capture file, or of a link
 *                    type joy does not decode.  Every packet before the
 *                    damage was handed out (so the records so far are
 *                    kept), and a multi-file source went on with its next
 *                    input;
 *    SOURCE_FATAL    the source cannot go on (no such interface, a read
 *                    error on the device): next() returns SOURCE_END;
 *    SOURCE_CONFIG   the settings are wrong (a filter that does not
 *                    compile): nothing was read.
 *  source_errmsg() gives the message of the worst error (the first one of
 *  that grade).  Every message - errors, warnings, "reading FILE" - is
 *  also passed as it happens to the source's log callback with a severity;
 *  the caller decides what to show (the joy command prefixes "joy: " and
 *  applies its verbosity).  A source never writes to stdout or stderr.
 *
 *  Stopping.  breakloop() is async-signal-safe: it only sets the source's
 *  `stop` flag (a lock-free atomic_int) and pokes what the source blocks in
 *  (pcap_breakloop() for libpcap, which wakes its poll()).  A blocking
 *  read() of a capture file (a FIFO, standard input) returns EINTR when
 *  the signal arrives - handlers are installed without SA_RESTART - and
 *  capfile ends the input there because it watches the same flag.  The
 *  next call of next() returns SOURCE_END; damage found while stopping is
 *  not reported.
 *
 * Adding a source (an AF_PACKET TPACKET_V3 fanout socket, say): write
 * source_xxx.c with a structure whose first member is struct joy_source,
 * a static const struct joy_source_ops, and a constructor that checks the
 * settings without touching the system (open() does that).  One such
 * source per worker thread, all joined to one fanout group, each with its
 * own meter.  doc/internals/capture.md has more.
 */
#ifndef JOY_SOURCE_H
#define JOY_SOURCE_H

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One packet, as handed out by next(): points into the source's buffer. */
struct source_packet {
    const uint8_t *data;
    void *buf;                /* file sources with buffers of the caller (source_file_set_bufs):
                               * the caller's buffer that holds data, else NULL */
    uint32_t caplen, wirelen;
    uint64_t ts_ns;           /* ns since time_base (the epoch, unless time_base != 0) */
    int64_t time_base;        /* seconds since the epoch where ts_ns counts from: 0, except
                               * for files whose first time is outside 1970..2514 (then
                               * the same for every packet of the run, see source_file.c) */
    int linktype;             /* pcap LINKTYPE_ value */
};

enum source_result {
    SOURCE_END = 0,
    SOURCE_PACKET = 1,
    SOURCE_IDLE = 2,
};

/* Worst error so far; ordered by gravity. */
enum source_error {
    SOURCE_OK = 0,
    SOURCE_DAMAGED = 1,
    SOURCE_FATAL = 2,
    SOURCE_CONFIG = 3,
};

/* Severities of log messages (the joy command's verbosity levels). */
enum source_severity {
    SOURCE_DEBUG = 1,
    SOURCE_INFO = 2,
    SOURCE_WARN = 3,
    SOURCE_ERROR = 4,
};

typedef void (*source_log_fn)(void *user, enum source_severity sev, const char *msg);

struct source_stats {
    uint64_t delivered;       /* packets handed out by next() */
    uint64_t received;        /* packets the capture took in (live: pcap ps_recv) */
    uint64_t dropped;         /* lost in the kernel for want of buffer (ps_drop) */
    uint64_t if_dropped;      /* lost by the interface (ps_ifdrop) */
    uint64_t filtered;        /* rejected by the source's BPF filter */
    uint64_t unsupported;     /* skipped: link type not decoded by joy */
    uint64_t gso_frames;      /* afpacket: frames longer than MTU + link header (offloads) */
    bool kernel;              /* received/dropped/if_dropped are the kernel's figures */
};

struct joy_source;

struct joy_source_ops {
    const char *name;                                   /* "file", "pcap" */
    /* Start: open the device.  SOURCE_OK or the error (also sticky). */
    enum source_error (*open)(struct joy_source *s);
    /* The next packet; see the contract above. */
    enum source_result (*next)(struct joy_source *s, struct source_packet *pkt);
    /* Counts so far.  0, or -1 when the figures cannot be had. */
    int (*stats)(struct joy_source *s, struct source_stats *st);
    /* Async-signal-safe: make next() return SOURCE_END soon. */
    void (*breakloop)(struct joy_source *s);
    /* Release everything, including the structure itself. */
    void (*close)(struct joy_source *s);
};

/* The part every source starts with. */
struct joy_source {
    const struct joy_source_ops *ops;
    atomic_int stop;                 /* set by breakloop() (a signal handler, any thread); lock-free */
    enum source_error error;         /* sticky: the worst so far */
    char errmsg[512];                /* message of the first error of that grade */
    source_log_fn log;               /* may be NULL */
    void *log_user;
};

/* Dispatch. */
static inline enum source_error source_open(struct joy_source *s)
{
    return s->ops->open(s);
}
static inline enum source_result source_next(struct joy_source *s, struct source_packet *pkt)
{
    return s->ops->next(s, pkt);
}
static inline int source_stats(struct joy_source *s, struct source_stats *st)
{
    return s->ops->stats(s, st);
}
static inline void source_breakloop(struct joy_source *s)
{
    s->ops->breakloop(s);
}
static inline void source_close(struct joy_source *s)
{
    if (s)
        s->ops->close(s);
}
static inline enum source_error source_error(const struct joy_source *s)
{
    return s->error;
}
static inline const char *source_errmsg(const struct joy_source *s)
{
    return s->errmsg;
}

/* For implementations (source.c). */
void source_init(struct joy_source *s, const struct joy_source_ops *ops, source_log_fn log,
                 void *log_user);
/* A message to the log callback. */
void source_log(struct joy_source *s, enum source_severity sev, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* An error: raise the sticky grade, keep the message, log it as SOURCE_ERROR. */
void source_fail(struct joy_source *s, enum source_error grade, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The default breakloop: set the stop flag. */
void source_breakloop_flag(struct joy_source *s);

/* ---------------------------------------------------------------------
 * Constructors.  They check the settings and allocate, nothing more:
 * open() starts the capture.  On failure NULL, with the message in err
 * and the grade in *error (SOURCE_CONFIG: bad settings; SOURCE_FATAL: no
 * memory).
 */

/* Capture files: each input is a pcap or pcapng file, '-' (standard
 * input) or a directory (its regular, non-hidden files in name order, not
 * recursively).  Packets of every input in turn: flows continue across
 * files.  bpf: a filter, or NULL / "" for none; it is compiled for each
 * link type met, and checked at once against Ethernet. */
struct source_file_opts {
    const char *const *inputs;
    size_t n_inputs;
    const char *bpf;
    source_log_fn log;
    void *log_user;
};
struct joy_source *source_file_new(const struct source_file_opts *o, enum source_error *error,
                                   char *err, size_t errlen);

/* Progress of a file source: the file being read (NULL between files),
 * the bytes read of all inputs so far and their total (0 when unknown:
 * standard input, a pipe).  0, or -1 when s is not a file source. */
int source_file_progress(struct joy_source *s, const char **name, uint64_t *done,
                         uint64_t *total);

/* Zero-copy reading (the dispatcher of workers.c): from now on the file
 * source reads into buffers that get() lends it, and returns each with
 * put() once it reads no more from it (capfile.h, capfile_set_bufs); a
 * packet in such a buffer has pkt->buf set and stays valid after the next
 * call, until the caller recycles the buffer.  NULL returns every lent
 * buffer at once (before the provider goes away).  0, or -1 when s is
 * not a file source. */
struct source_bufs {
    void *(*get)(void *user, size_t need, size_t *cap);
    void (*put)(void *user, void *buf);
    void *user;
};
int source_file_set_bufs(struct joy_source *s, const struct source_bufs *bufs);

/* Live capture with libpcap: snaplen, promiscuous mode, 100 ms timeout,
 * 32 MiB kernel buffer, nanosecond timestamps, the filter in the kernel. */
struct source_pcap_opts {
    const char *interface;
    const char *bpf;
    int snaplen;
    bool promisc;
    source_log_fn log;
    void *log_user;
};
struct joy_source *source_pcap_new(const struct source_pcap_opts *o, enum source_error *error,
                                   char *err, size_t errlen);

/* Live capture with an AF_PACKET socket and a TPACKET_V3 ring (Linux):
 * one source per worker thread, all in one fanout group so the kernel
 * spreads packets over them (doc/internals/threads.md).  open() makes the
 * socket, its 32 MiB ring and joins the group with a filter that rejects
 * everything; source_afpacket_start() then installs the real filter, so
 * no packet is seen before every socket of the group has joined.  The
 * constructor fails with SOURCE_CONFIG on a non-Linux system. */
enum afp_fanout {
    AFP_FANOUT_NONE = 0,   /* a single socket */
    AFP_FANOUT_ADDR,       /* classic-BPF program: symmetric hash of the address pair */
    AFP_FANOUT_HASH,       /* kernel: symmetric 5-tuple hash; fragments by address pair */
    AFP_FANOUT_CPU,        /* by the CPU that received the packet: splits flows */
    AFP_FANOUT_LB,         /* round robin: splits flows */
};
struct source_afpacket_opts {
    const char *interface;
    const char *bpf;          /* NULL or "": none */
    int snaplen;
    bool promisc;
    enum afp_fanout fanout;
    int *group;               /* in/out: -1 makes a new group (its id stored here) */
    source_log_fn log;
    void *log_user;
};
struct joy_source *source_afpacket_new(const struct source_afpacket_opts *o,
                                       enum source_error *error, char *err, size_t errlen);
/* After every socket of the group was opened: the real filter. */
enum source_error source_afpacket_start(struct joy_source *s);
/* Parse "addr", "hash", "cpu", "lb": the mode, or -1. */
int source_afpacket_fanout_mode(const char *name);
/* Is AF_PACKET capture built in (Linux)? */
bool source_afpacket_available(void);

#endif

/*
 * sink.h - where records go: one interface, one file per kind of sink.
 *
 * A sink is a struct joy_sink_ops (what the kind of sink does) and a
 * struct joy_sink (what every sink shares).  sink_open() picks the kind
 * from the target name and the gzip level; sink_open_ops() opens a given
 * kind.  doc/internals/output.md describes how to add one.
 *
 * The contract, for the caller (sink_*) and for each sink's ops:
 *
 *   One write per record.  sink_write() hands over exactly one complete
 *   record (its text, newline included) and the sink stores it in its own
 *   buffer or sends it whole; a record is never split across calls, so a
 *   sink that frames messages (Kafka, IPFIX, a stream socket) may treat
 *   each call as one message.  Writing allocates nothing per record.  The
 *   view pointer passed with the text is an opaque, borrowed description
 *   of the same record for sinks that want structured fields; it is valid
 *   only during the call, may be NULL, and the text sinks ignore it.
 *
 *   The error is sticky.  The first failure of write, flush or close is
 *   kept with its message ("NAME: what: strerror") in the base; from then
 *   on sink_write() and sink_flush() return -1 without calling the sink,
 *   and sink_close() reports that first message.
 *   A sink's op reports a failure by returning -1 with errno set, or by
 *   calling sink_fail() itself for a more specific message.
 *
 *   Files are committed, never half-written.  A target that is a regular
 *   file (or does not exist yet) is written as NAME.part (next to the file
 *   a symbolic link names: the link stays), locked with flock() while it is
 *   written; sink_close() with commit=true renames it to NAME when every
 *   write, the final flush and the close succeeded.  commit=false with no
 *   error removes NAME.part (nothing worth keeping: a usage error).  After
 *   an error (a full disk) the file is cut at its last complete record
 *   (rotate_salvage: gzip at its last sync flush, closed there), renamed to
 *   NAME and the error message says how many lines were kept; a file with
 *   no complete line is removed.  So a file under the final name is always
 *   complete.  Devices and pipes (/dev/null, a FIFO, /dev/stdout) and stdout
 *   are written in place: nothing is created, truncated or renamed.
 *
 *   Flush pushes every record written so far to the operating system: when
 *   sink_flush() returns 0, a reader of the file sees all of them (plain:
 *   the bytes; gzip: a sync flush, so zlib can decompress everything on
 *   disk so far although the member is not finished).  Nothing is synced to
 *   the disk (no fsync).  Flushing with nothing written since the last flush
 *   does nothing, so a periodic flush of an idle sink costs nothing and
 *   adds no bytes.  Without flushes the bytes written are the same as ever.
 *
 *   The counters (records, bytes) count the records accepted by write.
 */
#ifndef JOY_SINK_H
#define JOY_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sink_opts.h"

struct joy_sink;

/* ops->flags: the base opens the target (stdout, NAME.part or a device)
 * and hands the descriptor to open.  Sinks without it (network ones) get
 * fd -1 and the target name in s->name. */
#define SINK_FILE 1u

struct joy_sink_ops {
    const char *name; /* "plain", "zlib", "isa-l" */
    size_t size;      /* of the sink's own struct, which starts with struct joy_sink */
    unsigned flags;   /* SINK_FILE */
    /* Set up the sink on fd (STDOUT_FILENO when s->is_stdout) at gzip
     * level `level`.  0, or -1 leaving fd to the caller (who closes it). */
    int (*open)(struct joy_sink *s, int fd, int level);
    /* One whole record.  0, or -1 (errno set, or sink_fail called). */
    int (*write)(struct joy_sink *s, const char *rec, size_t len, const void *view);
    /* Push everything written so far to the OS (gzip: sync flush). */
    int (*flush)(struct joy_sink *s);
    /* Finish the stream (gzip trailer, last buffer) and release the
     * descriptor and the sink's own resources (not s itself).  abandon:
     * the output is being thrown away (an error happened, or an uncommitted
     * .part will be removed): write nothing more than needed to close. */
    int (*close)(struct joy_sink *s, bool abandon);
    /* Optional.  Append a block already in the sink's format, at a record
     * boundary: for gzip sinks one or more complete gzip members (the sink
     * first finishes the member it has open, so the block starts a new
     * one); for plain sinks whole records.  Written as is, in one go.  0,
     * or -1 (errno set, or sink_fail called).  NULL: sink_append fails
     * with ENOTSUP. */
    int (*append)(struct joy_sink *s, const void *block, size_t len);
    /* Optional (NULL: write with a NULL view).  The metadata line: Kafka
     * sends it to TOPIC.meta, IPFIX leaves it out. */
    int (*write_meta)(struct joy_sink *s, const char *line, size_t len);
    /* Optional: a one-line account of delivery (queued, spilled, dropped,
     * failed ...) into buf, "" when there is nothing to say. */
    void (*report)(const struct joy_sink *s, char *buf, size_t len);
    /* Optional: wait (bounded, as close would) until what the sink holds is
     * delivered, so that the report that follows is final; close then
     * does not wait again.  0, or -1. */
    int (*drain)(struct joy_sink *s);
};

struct joy_sink {
    const struct joy_sink_ops *ops;
    char *name;       /* what is written (NAME.part, a device, the target); NULL for stdout */
    char *final_name; /* NAME to rename to on commit; NULL unless a regular file */
    bool is_stdout;
    bool dirty;       /* records written since the last flush */
    int fd;           /* the descriptor handed to open (-1 for network sinks); the
                       * sink owns it: for size checks (lseek) only */
    int err;          /* first errno-style failure, 0 if none */
    char errmsg[256];
    uint64_t records; /* accepted by write */
    uint64_t bytes;
    struct sink_opts opt; /* network sinks: the settings, with the URL's query applied */
    char *query;          /* the URL's query text (opt's strings may point into it) */
};

extern const struct joy_sink_ops sink_plain_ops;
extern const struct joy_sink_ops sink_zlib_ops;
#ifdef JOY_HAVE_ISAL
extern const struct joy_sink_ops sink_isal_ops;
#endif
extern const struct joy_sink_ops sink_ipfix_udp_ops;  /* ipfix://HOST:PORT */
extern const struct joy_sink_ops sink_ipfix_tcp_ops;  /* ipfix+tcp://HOST:PORT */
extern const struct joy_sink_ops sink_ipfix_file_ops; /* ipfix+file:PATH */
extern const struct joy_sink_ops sink_stream_ops;     /* tcp://HOST:PORT, unix:PATH */
#ifdef JOY_HAVE_KAFKA
extern const struct joy_sink_ops sink_kafka_ops;      /* kafka://HOST:PORT[,...]/TOPIC */
#endif

/* Which network sinks this build has: "tcp unix ipfix ipfix+tcp ipfix+file[ kafka]". */
const char *sink_network_kinds(void);

/* The sink for a target: NULL or "-" stdout (plain); *.json and *.jsonl
 * plain; otherwise gzip: ISA-L for levels 1-3 when built with it, zlib for
 * 4-9 (and every level without ISA-L). */
const struct joy_sink_ops *sink_choose(const char *target, int gzip_level);

/* The gzip sink for a level (whatever the name). */
const struct joy_sink_ops *sink_gzip_ops(int gzip_level);

/* NULL with a message in err on failure. */
struct joy_sink *sink_open(const char *target, int gzip_level, char *err, size_t errlen);
struct joy_sink *sink_open_ops(const struct joy_sink_ops *ops, const char *target, int gzip_level,
                               char *err, size_t errlen);

/* Any target, with the network sinks' settings: files as sink_open(),
 * URLs (kafka://, ipfix://, ipfix+tcp://, ipfix+file:, tcp://, unix:) to
 * their sink.  A Kafka URL in a build without librdkafka is an error that
 * says so. */
struct joy_sink *sink_open_url(const char *target, const struct sink_opts *opt, char *err,
                               size_t errlen);

/* The metadata line (ops->write_meta, else write with a NULL view). */
int sink_write_meta(struct joy_sink *s, const char *line, size_t len);

/* 0, or -1 once anything failed (sticky). */
int sink_write(struct joy_sink *s, const char *rec, size_t len, const void *view);
int sink_flush(struct joy_sink *s);

/* A block of n_records records already in the sink's format (see
 * ops->append: gzip members for gzip sinks, plain records for plain
 * ones); the counters grow by n_records and len.  0, or -1 (sticky). */
int sink_append(struct joy_sink *s, const void *block, size_t len, uint64_t n_records);

/* Write all n bytes to fd, retrying short writes and EINTR: 0, or -1
 * with errno set (a write that returns 0 counts as an error). */
int sink_write_fd(int fd, const void *p, size_t n);

/* Does the sink write gzip (so sink_append takes gzip members)? */
bool sink_is_gzip(const struct joy_sink *s);

static inline bool sink_failed(const struct joy_sink *s) { return s->err != 0; }

/* Finish and free s.  commit: rename NAME.part to NAME; otherwise (and on
 * any error) NAME.part is removed.  0, or -1 with the first error's message
 * in err (err may be NULL). */
int sink_close(struct joy_sink *s, bool commit, char *err, size_t errlen);

/* Bytes of the file so far: what the sink wrote to its descriptor (plain:
 * every record accepted; gzip: the compressed bytes that left the
 * compressor, not those it still holds).  0 for stdout and network sinks. */
uint64_t sink_size(const struct joy_sink *s);

/* For the ops: record the first failure as "NAME: what: strerror(errno)"
 * (EIO if errno is 0).  Later calls change nothing.  Returns -1. */
int sink_fail(struct joy_sink *s, const char *what);

#endif

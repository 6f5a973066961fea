/*
 * output.h - where records go: stdout, a plain file or a gzip file, one
 * file or a series of them (rotation).
 *
 * A facade over the sinks (sink.h, doc/internals/output.md).  A named
 * regular file is written as NAME.part and renamed to NAME when it is
 * closed complete, so a file under the final name is always complete.  On
 * a write error the output remembers it (sticky), later writes are
 * ignored, and close reports it; the file is then cut at its last complete
 * record and kept (a full disk loses only what could not be written, and
 * says so).  close with commit=false and no error removes the .part.
 *
 * Rotation (rotate.h for the names): the output closes the current file
 * and opens the next one when a time interval ends (output_tick: wall
 * clock live, packet time offline), when the file reached a size or a
 * number of records (checked before each record), and on output_rotate()
 * (SIGHUP).  Every file starts with the header (the metadata line).  One
 * output_write() per record.
 */
#ifndef JOY_OUTPUT_H
#define JOY_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sink_opts.h"
#include <sys/types.h>

#include "sink_opts.h"

struct joy_output;

/* Messages about files (leftovers recovered, files removed by keep):
 * severity 2 info, 3 warning, 4 error. */
typedef void (*output_log_fn)(void *user, int severity, const char *msg);

struct output_opts {
    const char *path;        /* NULL or "-": stdout; may hold strftime conversions and %N */
    const char *outdir;      /* directory of a relative path; NULL or "" for none */
    int gzip_level;
    uint64_t rotate_seconds; /* -G: a new file every N seconds (aligned to multiples of N) */
    uint64_t rotate_bytes;   /* -C: a new file once this many bytes were written */
    uint64_t rotate_records; /* count=: a new file after this many records */
    uint64_t keep;           /* -W: at most this many files of this run (0: all) */
    bool recover;            /* finish the leftover .part files of earlier runs first */
    bool none;               /* no primary output: every destination is a network sink */
    output_log_fn log;
    void *log_user;
};

/* path NULL or "-" means stdout (plain).  gzip unless the name ends in
 * .json or .jsonl: levels 1-3 through ISA-L when joy was built with it,
 * else (and levels 4-9) through zlib.  Returns NULL with a message in err. */
struct joy_output *output_open(const char *path, int gzip_level, char *err, size_t errlen);

/* ---- several destinations: the primary output (the first -w when it is
 * a file or '-', with rotation) and further ones (files, and the URLs of
 * the network sinks: kafka://, ipfix://, ipfix+tcp://, ipfix+file:, tcp://,
 * unix:); doc/internals/output.md ---- */
struct joy_output *output_open_all(const struct output_opts *primary, const char *const *targets,
                                   size_t n, const struct sink_opts *opt, char *err,
                                   size_t errlen);
/* The same without rotation (the collector). */
struct joy_output *output_open_targets(const char *const *targets, size_t n,
                                       const struct sink_opts *opt, char *err, size_t errlen);
int output_add_targets(struct joy_output *o, const char *const *targets, size_t n,
                       const struct sink_opts *opt, char *err, size_t errlen);
/* One record to every destination; view: its struct joy_record (IPFIX
 * encodes from it, Kafka takes its key), NULL for none. */
int output_write_record(struct joy_output *o, const char *buf, size_t len, const void *view);
/* The metadata line (every primary file's header; Kafka: TOPIC.meta;
 * IPFIX: not exported). */
int output_write_metadata(struct joy_output *o, const char *buf, size_t len);
/* One line per network destination: delivered, queued, dropped, spilled.
 * At the end of a run: it first lets each network sink deliver what it
 * holds (bounded by its flush timeout, e.g. kafka_flush_timeout), so the
 * counts are final; output_close() then does not wait again. */
void output_report(struct joy_output *o, void (*say)(void *user, const char *line),
                   void *user);
/* "tcp unix ipfix ipfix+tcp ipfix+file[ kafka]" */
const char *output_network_kinds(void);
/* Are there destinations beyond the primary output? */
bool output_has_extra(const struct joy_output *o);
/* Is there a primary output (a file or '-'), or only network sinks? */
bool output_has_primary(const struct joy_output *o);
/* One record to the further destinations only (threads=N: the writer
 * sends the primary output whole blocks with output_write_member()). */
int output_write_extra(struct joy_output *o, const char *buf, size_t len, const void *view);
/* ---- */

/* The same with rotation.  The first file is created at once unless its
 * name depends on the time (then at the first output_tick or write).
 * Rotation needs a file name: NULL with a message for stdout, a device or
 * a FIFO. */
struct joy_output *output_open_opts(const struct output_opts *o, char *err, size_t errlen);

/* The text every file starts with (the metadata line, newline included);
 * written now if the current file is still empty.  0, or -1. */
int output_set_header(struct joy_output *o, const char *text, size_t len);

/* The time is now t_ns (ns since the epoch): open the first file if it
 * waits for a time, and rotate if a rotate_seconds interval ended.  0, or
 * -1 once a write has failed. */
int output_tick(struct joy_output *o, uint64_t t_ns);

/* Close the current file (complete, renamed) and open the next one now.
 * A no-op (0) for stdout, devices and FIFOs. */
int output_rotate(struct joy_output *o);

/* New limits (a reloaded configuration); they apply to the current file. */
void output_set_limits(struct joy_output *o, uint64_t rotate_seconds, uint64_t rotate_bytes,
                       uint64_t rotate_records, uint64_t keep);

/* 0, or -1 once a write has failed (the error is kept for output_close). */
int output_write(struct joy_output *o, const char *buf, size_t len);

/* A block of n_records whole records, already in the output's format:
 * for a gzip output one or more complete gzip members (gzmember.h), for a
 * plain one the records' text.  The member open so far (records given to
 * output_write) is finished first, so blocks always start at a member
 * boundary; rotation may split the file there.  Written in one go (one
 * write per block).  0, or -1 once a write has failed. */
int output_write_member(struct joy_output *o, const void *gz, size_t len, uint64_t n_records);

/* The gzip level when the output is gzip (what output_write_member takes
 * is then gzip members), 0 when it is plain text. */
int output_gzip_level(const struct joy_output *o);

/* Push every record written so far to the OS (gzip: a sync flush, so what
 * is on disk decompresses).  0, or -1 once a write has failed. */
int output_flush(struct joy_output *o);

bool output_failed(const struct joy_output *o);

/* Give the file being written to this user (before a privilege drop). */
int output_chown(struct joy_output *o, uid_t uid, gid_t gid);

/* The name being written ("standard output", NAME.part, a device). */
const char *output_name(const struct joy_output *o);

/* Files closed so far, and records written (all files). */
uint64_t output_files(const struct joy_output *o);
uint64_t output_records(const struct joy_output *o);

/* "isa-l" or "zlib": which library compresses at gzip_level. */
const char *output_gzip_engine(int gzip_level);

/* Finish and close.  commit: rename .part to the final name; otherwise
 * the .part file is removed (unless an error happened: then what was
 * written is kept, see above).  Returns 0, or -1 with a message in err. */
int output_close(struct joy_output *o, bool commit, char *err, size_t errlen);

#endif

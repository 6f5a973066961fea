/*
 * output.h - where records go: stdout, a plain file or a gzip file.
 *
 * A facade over the sinks (sink.h, doc/internals/output.md).  A named
 * regular file is written as NAME.part and renamed to NAME only by
 * output_close(commit=true) after everything was written and flushed, so a
 * file under the final name is always complete.  On a write error the
 * output remembers it (sticky), later writes are ignored, and close reports
 * it and removes the .part file (as does close with commit=false).  One
 * output_write() per record.
 */
#ifndef JOY_OUTPUT_H
#define JOY_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>

#include "sink_opts.h"

struct joy_output;

/* path NULL or "-" means stdout (plain).  gzip unless the name ends in
 * .json or .jsonl: levels 1-3 through ISA-L when joy was built with it,
 * else (and levels 4-9) through zlib.  Returns NULL with a message in err. */
struct joy_output *output_open(const char *path, int gzip_level, char *err, size_t errlen);

/* ---- several destinations (files, '-', and the URLs of the network
 * sinks: kafka://, ipfix://, ipfix+tcp://, ipfix+file:, tcp://, unix:);
 * doc/internals/output.md ---- */
struct joy_output *output_open_targets(const char *const *targets, size_t n,
                                       const struct sink_opts *opt, char *err, size_t errlen);
/* One record to every destination; view: its struct joy_record (IPFIX
 * encodes from it, Kafka takes its key), NULL for none. */
int output_write_record(struct joy_output *o, const char *buf, size_t len, const void *view);
/* The metadata line (Kafka: to TOPIC.meta; IPFIX: not exported). */
int output_write_metadata(struct joy_output *o, const char *buf, size_t len);
/* One line per network destination: delivered, queued, dropped, spilled. */
void output_report(const struct joy_output *o, void (*say)(void *user, const char *line),
                   void *user);
/* "tcp unix ipfix ipfix+tcp ipfix+file[ kafka]" */
const char *output_network_kinds(void);
/* ---- */

/* 0, or -1 once a write has failed (the error is kept for output_close). */
int output_write(struct joy_output *o, const char *buf, size_t len);

/* Push every record written so far to the OS (gzip: a sync flush, so what
 * is on disk decompresses).  0, or -1 once a write has failed. */
int output_flush(struct joy_output *o);

bool output_failed(const struct joy_output *o);

/* "isa-l" or "zlib": which library compresses at gzip_level. */
const char *output_gzip_engine(int gzip_level);

/* Finish and close.  commit: rename .part to the final name; otherwise
 * the .part file is removed.  Returns 0, or -1 with a message in err (and
 * the .part file removed). */
int output_close(struct joy_output *o, bool commit, char *err, size_t errlen);

#endif

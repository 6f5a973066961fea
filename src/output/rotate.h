/*
 * rotate.h - output files over time: names, targets, salvage, leftovers.
 *
 * The output facade (output.c) keeps one sink open at a time and uses
 * these helpers to decide what the next file is called, where it really
 * is (a symbolic link is followed, a device or FIFO is written in place),
 * how a file that could not be finished is closed at its last complete
 * record, and what to do with the `.part` files a crashed run left behind.
 * doc/internals/output.md ("Rotation") describes the rules.
 */
#ifndef JOY_ROTATE_H
#define JOY_ROTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where a name leads.  A regular file (or a new one) is written as
 * write_path = REAL.part and renamed to final_path = REAL on commit, REAL
 * being the name with its symbolic links followed: the link stays a link.
 * Anything else (a character device, a FIFO, /dev/stdout's /proc/self/fd
 * link) is written in place (direct): write_path is the name, final_path
 * NULL, and nothing is created, truncated or renamed; append is set when
 * the place is a regular file reached through /proc (a shell redirection). */
struct out_target {
    char *write_path;
    char *final_path;
    bool direct;
    bool append;
};

/* 0, or -1 with a message in err (out of memory, a loop of links). */
int rotate_resolve(const char *name, struct out_target *t, char *err, size_t errlen);
void rotate_target_free(struct out_target *t);

/* Finish the partial file open on fd (read-write) in place: plain text is
 * cut after its last newline; gzip is cut at the last point of its last
 * member where the compressed stream is at a byte-aligned block boundary
 * and the text ends with a newline (every sync flush is one), and the
 * member is closed there (an empty final block and the trailer).  Complete
 * members are kept as they are.  *lines: complete lines kept.  0, or -1
 * with a message (the file is then as it was, or cut but not closed). */
int rotate_salvage(int fd, uint64_t *lines, char *err, size_t errlen);

/* Does the name pattern depend on time (a strftime conversion)? */
bool rotate_has_time(const char *pattern);
/* Does it carry the file counter %N? */
bool rotate_has_counter(const char *pattern);

/* The name of a file: strftime conversions with the local time t_sec,
 * %N the file's number in this run (0, 1, ...), %% a percent sign.
 * 0, or -1 when it does not fit. */
int rotate_expand(const char *pattern, uint64_t t_sec, uint64_t seq, char *buf, size_t len);

/* name with the number n put before its extension (.json.gz, .jsonl.gz,
 * .json, .jsonl, .gz; else at the end), as tcpdump -C numbers its files:
 * flows.json.gz, flows1.json.gz, flows2.json.gz ... */
int rotate_number(const char *name, uint64_t n, char *buf, size_t len);

/* Leftovers: every NAME.part in the pattern's directory whose NAME the
 * pattern could have produced, and that no running process holds (joy
 * keeps a lock on the .part it writes), is salvaged and renamed to
 * NAME.recovered (NAME.recovered.2 ... when taken); an empty one is
 * removed.  Each is reported through log (severity 3 = warning). */
typedef void (*rotate_log_fn)(void *user, int severity, const char *msg);
void rotate_recover(const char *pattern, rotate_log_fn log, void *user);

#endif

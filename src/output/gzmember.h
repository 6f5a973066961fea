/*
 * gzmember.h - compress a block of records into one complete gzip member
 * (RFC 1952), for threads that compress in parallel and hand whole
 * members to one writer (output_write_member, output.h).  A multi-member
 * gzip file is one stream for gzip, zcat, zlib and Python's gzip module.
 *
 * One compressor per thread (it holds the library's stream state and
 * scratch); nothing is allocated per member.  Levels 1-3 use ISA-L when
 * joy was built with it, like the gzip sinks (sink_gzip_ops); else zlib.
 */
#ifndef JOY_GZMEMBER_H
#define JOY_GZMEMBER_H

#include <stddef.h>

struct gz_member;

/* NULL when out of memory or the level is not 1-9. */
struct gz_member *gz_member_new(int level);
void gz_member_free(struct gz_member *g);

/* Output bytes that always suffice for a member of len input bytes. */
size_t gz_member_bound(size_t len);

/* Compress in[0..len) into out as one complete member; *out_len its size.
 * 0, or -1 (out too small for an incompressible block, or a library
 * error). */
int gz_member_compress(struct gz_member *g, const void *in, size_t len, void *out, size_t out_cap,
                       size_t *out_len);

#endif

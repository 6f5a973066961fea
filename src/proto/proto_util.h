/*
 * proto_util.h - small protocol helpers shared by the record writer and
 * the modules: TCP options as JSON, TCP flags as letters, Community ID.
 */
#ifndef JOY_PROTO_UTIL_H
#define JOY_PROTO_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "packet.h"

struct jsonw;
struct flow;

/*
 * TCP options (RFC 9293 section 3.2, RFC 7323, RFC 2018, RFC 7413) as a
 * JSON array of one-member objects: {"mss":1460}, {"ws":7}, {"sackp":null},
 * {"sack":"hex"}, {"ts":{"val":N,"ecr":N}}, {"noop":null}, {"eol":null},
 * {"tfo":"hex"}, unknown kinds {"kind":N,"data":"hex"}, and an option
 * whose length is impossible {"malformed":{"kind":N,"len":N}} (which ends
 * the list).
 */
void tcp_opts_to_json(struct jsonw *w, const uint8_t *opts, size_t len);

/* Flags as letters in the order FSRPAUEC ("SA" for a SYN/ACK); buf >= 9. */
const char *tcp_flags_str(uint8_t flags, char *buf);

/*
 * Community ID v1 (https://github.com/corelight/community-id-spec) of a
 * flow, seed 0, as "1:<base64 of SHA-1>".  buf must hold 64 bytes.
 * Returns buf, or NULL if len is under 32 (SHA-1 is computed here, in
 * one block, without OpenSSL's per-call algorithm lookup).
 */
const char *community_id_v1(const struct flow *f, uint16_t seed, char *buf, size_t len);

/* SHA-1 of a message of at most 55 bytes (one block), with the CPU's SHA
 * instructions when it has them; sha1_c forces the portable C (tests). */
void sha1_one_block(const uint8_t *msg, size_t len, uint8_t out[20], bool sha1_c);

#endif

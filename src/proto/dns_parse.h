/*
 * dns_parse.h - DNS message parsing (RFC 1035 and successors) for the DNS
 * module, also used for DNS-encoded names inside DHCP options.
 *
 * Everything here reads through the cursor (cursor.h); nothing allocates.
 */
#ifndef JOY_DNS_PARSE_H
#define JOY_DNS_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cursor;
struct jsonw;
struct module_env;

/* Address anonymisation for the JSON writers (anon.h): addresses decoded
 * from a message are written as text, which the anon module rewrites;
 * `hide_raw` (anon_active() of the flow) writes opaque bytes that may hold
 * an address (the EDNS client-subnet option) as null. */
struct dns_anon {
    bool hide_raw;
};

/* A name is at most 255 octets on the wire; each octet becomes at most four
 * characters of text ("\DDD"), so the text always fits in this buffer. */
#define DNS_NAME_TEXT_MAX 1024
/* Compression pointers followed for one name, at most. */
#define DNS_NAME_MAX_HOPS 64
/* Resource records written per message, at most (the rest are counted). */
#define DNS_MAX_RR 256

enum dns_name_status {
    DNS_NAME_OK = 0,
    DNS_NAME_TRUNCATED,   /* ran past the end of the bytes */
    DNS_NAME_BAD_POINTER, /* a pointer that is not strictly backwards (loops, forward) */
    DNS_NAME_LABEL_TYPE,  /* label type 01 or 10 (RFC 6891 section 5: deprecated) */
    DNS_NAME_TOO_LONG,    /* more than 255 octets */
    DNS_NAME_TOO_DEEP,    /* more than DNS_NAME_MAX_HOPS pointers */
};

/*
 * Decode the name that starts at msg[off] into master-file text (RFC 1035
 * section 5.1): labels joined by '.', and inside a label '.' and '\' are
 * written "\." and "\\", and every byte outside 0x21..0x7e as "\DDD"
 * (three decimal digits), so the text maps back to the exact octets.  The
 * root name is ".".
 *
 * Compression: a pointer must point strictly before the start of the run
 * of labels that contains it, so every jump goes backwards past everything
 * read so far: loops and forward pointers are rejected, and at most
 * DNS_NAME_MAX_HOPS pointers are followed.  A pointer must also point at or
 * after ptr_min (12 in a DNS message: never into the header);
 * DNS_NO_POINTERS forbids compression (names that must be uncompressed).
 *
 * out must hold DNS_NAME_TEXT_MAX bytes; *out_len gets the text length (no
 * terminator is written).  *end gets the offset just past the name at its
 * original position (after the first pointer or the final zero).
 */
#define DNS_NO_POINTERS SIZE_MAX
enum dns_name_status dns_name_decode(const uint8_t *msg, size_t msg_len, size_t off,
                                     size_t ptr_min, char *out, size_t *out_len, size_t *end);

/*
 * The same decoding for the name at c->p, where c reads part of a message
 * that starts at msg (pointers are offsets from msg).  Nothing at or after
 * c->end is read, whether before or after a pointer.  On success c moves
 * past the name; on failure c is left in error.
 */
enum dns_name_status dns_name_read(struct cursor *c, const uint8_t *msg, size_t ptr_min,
                                   char *out, size_t *out_len);

const char *dns_name_status_str(enum dns_name_status st);

/*
 * Does this datagram look like a DNS message?  Strict: a sane header with
 * exactly one question that decodes, and for a query nothing but an
 * optional OPT record after it.  Used to find DNS on ports other than
 * 53, 5353 and 5355.
 */
bool dns_looks_like(const uint8_t *p, size_t len);

/*
 * Write one message as a JSON object (see doc/modules/dns.md).  `len`
 * bytes are available; `wire_len` is the message's real length, and `cut`
 * names why the bytes stop early (NULL when they do not); dir is 0 for a
 * message from the flow's client.  `an` (may be NULL) anonymises the
 * addresses (A, AAAA, SVCB hints) and hides the EDNS client subnet.
 */
void dns_message_json(struct jsonw *w, const uint8_t *msg, size_t len, size_t wire_len,
                      const char *cut, int dir, const struct dns_anon *an);

/*
 * Write one NetBIOS name service message (RFC 1002 section 4.2, UDP 137)
 * as a JSON object (doc/modules/dns.md, "NetBIOS name service"): id, the
 * header flags, opcode and rcode, and the name of the question (else of the
 * first answer) decoded from the first-level encoding: name, suffix byte,
 * scope.  Arguments as for dns_message_json().
 */
void nbns_message_json(struct jsonw *w, const uint8_t *msg, size_t len, size_t wire_len,
                       const char *cut, int dir);

#endif

/*
 * addr_scrub.h - find IP address literals in text and replace them.
 *
 * With anon=FILE, an address from an anonymised subnet must not appear
 * anywhere in a record: not only in sa/da, but also where a protocol quotes
 * it as text - an HTTP Host header or URI, a TLS server name, a
 * certificate's subject or subject alternative name, a DNS answer.  The
 * record writer therefore passes every string a module writes through
 * addr_scrub() (record.c), which looks for
 *
 *   IPv4  four decimal numbers 0-255 joined by dots ("10.1.2.3"), not part
 *         of a longer run of digits and dots ("1.10.1.2.3" is left alone,
 *         "10.1.2.3:80" and "10.1.2.3.nip.io" are found);
 *   IPv6  a run of hex digits, ':' and '.' with at least two ':' that
 *         inet_pton() accepts ("[2001:db8::1]:443", "fe80::1%eth0"),
 *
 * and asks `hide` about each one; an address that `hide` maps is replaced
 * by the text of its pseudonym (inet_ntop form).  Anything else is copied
 * unchanged.  The scan is linear and reads only s[0..len).
 */
#ifndef JOY_ADDR_SCRUB_H
#define JOY_ADDR_SCRUB_H

#include <stdbool.h>
#include <stddef.h>

#include "addr.h"

/* Map a (ipver 4 or 6) to its pseudonym in *out and return true, or return
 * false to keep it. */
typedef bool (*addr_hide_fn)(void *ctx, const struct ipaddr *a, int ipver, struct ipaddr *out);

/*
 * Copy s[0..len) to out (room for cap bytes) with every hidden address
 * replaced.  Returns 0 when no address was replaced (out then holds
 * nothing useful: use s itself); otherwise the length of the result, which
 * is complete only if it is <= cap - else call again with that much room.
 * A replaced literal grows by at most 37 bytes ("::" -> 39 characters).
 */
size_t addr_scrub(const char *s, size_t len, addr_hide_fn hide, void *ctx, char *out,
                  size_t cap);

#endif

/*
 * addr.h - an IPv4 or IPv6 address as 16 bytes, and its text form.
 *
 * The one address type of the code base: the decoder fills it, the flow
 * key holds two, and the JSON writers, the anonymiser and the prefix trie
 * read it.  It lives here, below everything else, so that utilities need
 * no engine header.
 */
#ifndef JOY_ADDR_H
#define JOY_ADDR_H

#include <stddef.h>
#include <stdint.h>

/* An IPv4 address is held in the first 4 bytes, the rest zero. */
struct ipaddr {
    uint8_t b[16];
};

/* Format an address (ipver 4 or 6) as text; buf must hold INET6_ADDRSTRLEN
 * (46) bytes.  Returns buf (an empty string if the address cannot be
 * formatted). */
const char *ipaddr_str(const struct ipaddr *a, int ipver, char *buf, size_t len);

/* The text of an address and its NUL, at most INET6_ADDRSTRLEN bytes. */
#define IPADDR_STRLEN 46
/* The same text as ipaddr_str() (never empty); returns its length. */
size_t ipaddr_fmt(const struct ipaddr *a, int ipver, char buf[IPADDR_STRLEN]);

#endif

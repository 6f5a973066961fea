/*
 * prefix_trie.h - sets of IPv4/IPv6 subnets, for labels and anonymisation.
 *
 * A `struct prefix_trie` maps address prefixes (10.0.0.0/8, 2001:db8::/32)
 * to a 64-bit mask of tags; looking up an address returns the union of the
 * tags of every prefix that contains it.  The label module gives each
 * label name one tag bit, the anon module uses a single bit.
 *
 * Use: pt_new(), then pt_add() / pt_load_file() any number of times, then
 * pt_build() once; pt_lookup() only after pt_build().  The trie is read-only
 * after it is built.
 *
 * Structure: one path-compressed binary trie per address family, built
 * from the prefixes sorted by (address, length) so that insertion walks a
 * cache-hot path.  Every node is a prefix (its key bits past its length are
 * zero); a node has at most two children and the nodes on the way down from
 * the root are its shorter prefixes, so a lookup is one walk of at most
 * 33 (IPv4) or 129 (IPv6) nodes and one comparison of the address with the
 * last node's key.
 *
 * Memory: a trie of N distinct prefixes has at most 2N nodes of 24 bytes
 * plus a 4-byte (IPv4) or 16-byte (IPv6) key each, i.e. at most 56 bytes
 * (IPv4) or 80 bytes (IPv6) per prefix; building needs 32 more bytes per
 * prefix for a moment.  At most PT_MAX_PREFIXES prefixes per trie.
 *
 * File format (pt_load_file): one prefix per line, `ADDR/LEN` or a bare
 * address (a /32 or /128); `#` starts a comment; blank lines are skipped;
 * leading and trailing white space is ignored.  Host bits past LEN are
 * cleared (192.168.1.7/24 means 192.168.1.0/24).  Anything else on a line
 * is an error naming FILE:LINE.
 */
#ifndef JOY_PREFIX_TRIE_H
#define JOY_PREFIX_TRIE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PT_MAX_PREFIXES (1u << 24)  /* 16,777,216 prefixes per trie */
#define PT_MAX_LINE 1024            /* bytes per line of a prefix file */

struct prefix_trie;

struct prefix_trie *pt_new(void);
void pt_free(struct prefix_trie *t);

/*
 * Add the prefix addr/len (ipver 4: addr holds 4 bytes, len <= 32; ipver 6:
 * 16 bytes, len <= 128) with the tags in `mask` (not 0).  Adding the same
 * prefix again ORs the masks.  Returns 0, or -1 with a message in err.
 */
int pt_add(struct prefix_trie *t, int ipver, const uint8_t *addr, unsigned len, uint64_t mask,
           char *err, size_t errlen);

/*
 * Parse one prefix from the text s[0..n) (no comment, no surrounding white
 * space): "ADDR", "ADDR/LEN".  Returns 0 and fills *ipver (4 or 6), addr
 * (4 or 16 bytes; host bits cleared) and *len, or -1 with a short reason.
 */
int pt_parse_prefix(const char *s, size_t n, int *ipver, uint8_t addr[16], unsigned *len,
                    const char **why);

/* Add every prefix of a file (see the format above) with tags `mask`.
 * Errors read "FILE:LINE: reason". */
int pt_load_file(struct prefix_trie *t, const char *path, uint64_t mask, char *err, size_t errlen);
/* The same from an open stream; `name` is used in messages. */
int pt_load_stream(struct prefix_trie *t, FILE *f, const char *name, uint64_t mask, char *err,
                   size_t errlen);

/* Build the tries from everything added.  0, or -1 (out of memory). */
int pt_build(struct prefix_trie *t, char *err, size_t errlen);

/* The union of the tags of all prefixes containing addr (4 or 16 bytes). */
uint64_t pt_lookup(const struct prefix_trie *t, int ipver, const uint8_t *addr);

/* Number of distinct prefixes and nodes (after pt_build), for tests. */
size_t pt_prefix_count(const struct prefix_trie *t);
size_t pt_node_count(const struct prefix_trie *t);

#endif

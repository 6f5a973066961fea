/*
 * bytedist.h - the 256 -> 16 byte map of the cdist= option.
 *
 * A map file has one line per byte value: "BYTE<white space>BIN" with BYTE
 * a decimal 0..255 and BIN a decimal 0..15 (the format of the original
 * Joy's share/compact_bd.txt).  Blank lines and '#' comments are allowed; every
 * byte value must appear exactly once.  See doc/modules/intraflow-a.md.
 */
#ifndef JOY_BYTEDIST_H
#define JOY_BYTEDIST_H

#include <stddef.h>
#include <stdint.h>

struct flow;
struct module_env;

#define CDIST_BINS 16
#define CDIST_MAX_FILE 65536 /* a map file is at most this many bytes */

/*
 * Parse the map text [data, data+len) into map[256].  `name` is the file
 * name used in messages.  Returns 0, or -1 with a one-line message
 * "name:line: ..." in err.  Never reads outside the given bytes.
 */
int cdist_parse_map(const uint8_t *data, size_t len, const char *name, uint8_t map[256],
                    char *err, size_t errlen);

/* The built-in map (cdist=default), identical to the shipped share/compact_bd.txt. */
void cdist_default_map(uint8_t map[256]);

/*
 * Typed access for other modules (the classifier): the byte counts of flow
 * f as the dist module keeps them (both directions summed, the first
 * dist_bytes payload bytes of each) into k[256].  Returns the number of
 * bytes counted: 0 (and k all zero) when the module is off or saw no
 * payload of f.  `env` is the calling module's own environment.
 */
uint64_t bytedist_of(const struct module_env *env, const struct flow *f, uint64_t k[256]);

#endif

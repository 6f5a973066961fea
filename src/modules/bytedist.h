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

#endif

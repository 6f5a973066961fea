/*
 * fuzz_cdist.c - the cdist= map file parser (cdist_parse_map) on arbitrary
 * bytes; a map it accepts must hold 256 bins below 16, and is written as a
 * JSON array that must validate.
 */
#include "bytedist.h"
#include "jsonw.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t map[256];
    char err[256];
    memset(map, 0xee, sizeof map);
    int rc = cdist_parse_map(data, size, "fuzz.map", map, err, sizeof err);
    struct jsonw w;
    jw_init(&w);
    jw_obj_open(&w);
    if (rc == 0) {
        jw_key(&w, "map");
        jw_arr_open(&w);
        for (int b = 0; b < 256; b++) {
            if (map[b] >= CDIST_BINS)
                abort();
            jw_uint(&w, map[b]);
        }
        jw_close(&w);
    } else {
        if (strncmp(err, "cdist: fuzz.map:", 16) != 0)
            abort();
        jw_kv_cstr(&w, "error", err);
    }
    jw_finish(&w);
    if (!json_validate(w.buf, w.len))
        abort();
    jw_free(&w);
    return 0;
}

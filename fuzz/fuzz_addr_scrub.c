/*
 * fuzz_addr_scrub.c - address literals in arbitrary text (addr_scrub.h).
 *
 * The hide function maps 10.0.0.0/8 and 2001:db8::/32 (as anon= would map
 * listed subnets) to addresses of the same length class, so replacements
 * happen often.  Checks: the size-then-retry protocol gives the same
 * result, growth stays within the documented bound, a replaced text is
 * never the same as its input; the text is then written as a JSON string
 * that must validate.
 */
#include "addr_scrub.h"
#include "jsonw.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool hide(void *ctx, const struct ipaddr *a, int ipver, struct ipaddr *out)
{
    (void)ctx;
    bool v4 = ipver == 4 && a->b[0] == 10;
    bool v6 = ipver == 6 && a->b[0] == 0x20 && a->b[1] == 0x01 && a->b[2] == 0x0d && a->b[3] == 0xb8;
    if (!v4 && !v6)
        return false;
    *out = *a;
    out->b[ipver == 4 ? 3 : 15] ^= 0xff; /* 10.x.y.z -> 10.x.y.(255-z): may grow */
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    /* first with room for half the input, then with what it asked for */
    size_t cap = size / 2;
    char *out = malloc(cap ? cap : 1);
    if (!out)
        return 0;
    size_t need = addr_scrub((const char *)data, size, hide, NULL, out, cap);
    if (need > cap) {
        free(out);
        cap = need;
        out = malloc(cap ? cap : 1);
        if (!out)
            return 0;
        if (addr_scrub((const char *)data, size, hide, NULL, out, cap) != need)
            abort();
    }
    if (need && need > size + 37 * (size / 2 + 1))
        abort(); /* more growth than the documented bound */
    if (need && need == size && memcmp(out, data, need) == 0)
        abort(); /* "replaced" but unchanged */
    struct jsonw w;
    jw_init(&w);
    jw_str(&w, need ? out : (const char *)data, need ? need : size);
    jw_finish(&w);
    if (!json_validate(w.buf, w.len))
        abort();
    jw_free(&w);
    free(out);
    return 0;
}

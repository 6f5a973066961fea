/*
 * fuzz_http.c - the http module (src/modules/mod_http.c) on arbitrary TCP segments,
 * through its module interface: see fuzz_appmod.h for the input layout
 * (set bit 2 of the first byte for TCP; UDP input is ignored by the
 * module).  Port pairs: the well-known port and ones that need detection
 * by content.
 */
#include "fuzz_appmod.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

extern const struct joy_module http_module;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint16_t ports[4][2] = {{40000, 80}, {40000, 8080}, {40000, 3128}, {80, 40000}};
    fuzz_appmod(&http_module, ports, data, size);
    return 0;
}

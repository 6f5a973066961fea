/*
 * fuzz_ike.c - the ike module (src/modules/mod_ike.c) on arbitrary packets, through
 * its module interface: see fuzz_appmod.h for the input layout.  The port
 * pairs cover the well-known ports and one that needs detection by content.
 */
#include "fuzz_appmod.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

extern const struct joy_module ike_module;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint16_t ports[4][2] = {{500, 500}, {4500, 4500}, {40000, 4500}, {7000, 7500}};
    fuzz_appmod(&ike_module, ports, data, size);
    return 0;
}

/*
 * fuzz_dhcp.c - the dhcp module (src/modules/mod_dhcp.c) on arbitrary packets, through
 * its module interface: see fuzz_appmod.h for the input layout.  The port
 * pairs cover the well-known ports and one that needs detection by content.
 */
#include "fuzz_appmod.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

extern const struct joy_module dhcp_module;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint16_t ports[4][2] = {{68, 67}, {546, 547}, {3000, 3067}, {67, 68}};
    fuzz_appmod(&dhcp_module, ports, data, size);
    return 0;
}

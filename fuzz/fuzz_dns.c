/*
 * fuzz_dns.c - the dns module (src/modules/mod_dns.c) on arbitrary packets, through
 * its module interface: see fuzz_appmod.h for the input layout.  The port
 * pairs cover the well-known ports, NetBIOS name service (137, written by
 * nbns_message_json) and one that needs detection by content.
 */
#include "fuzz_appmod.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

extern const struct joy_module dns_module;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint16_t ports[4][2] = {{40000, 53}, {5353, 5353}, {51000, 137}, {40000, 9999}};
    fuzz_appmod(&dns_module, ports, data, size);
    return 0;
}

/*
 * fuzz_dtls.c - the dtls module (src/modules/mod_dtls.c) on arbitrary datagrams
 * through its module interface (fuzz_udpmod.h): record and fragment
 * headers, reassembly, the TLS hello parser, JSON and fingerprints.
 */
#include "fuzz_udpmod.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

extern const struct joy_module dtls_module;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_udpmod(&dtls_module, data, size);
    return 0;
}

/*
 * modules.c - the table of feature modules.
 *
 * Adding a module: write src/mod_<name>.c defining one
 * `const struct joy_module <name>_module`, declare it below and add it to
 * joy_modules[].  Order here is the order of the modules' fields in every
 * record.  Option keys must be unique across the core and all modules
 * (the unit tests check it).
 */
#include "module.h"

extern const struct joy_module payload_module;
extern const struct joy_module tcpfp_module, salt_module, ppi_module, os_module;
extern const struct joy_module bytedist_module, wht_module, hd_module, idp_module;
extern const struct joy_module label_module, anon_module;
extern const struct joy_module dns_module, dhcp_module, ike_module;
extern const struct joy_module tls_module;
extern const struct joy_module quic_module, dtls_module;
extern const struct joy_module http_module, ssh_module;
extern const struct joy_module classify_module;
extern const struct joy_module exe_module;

const struct joy_module *const joy_modules[] = {
    &label_module, /* Joy printed sa_labels/da_labels first (after sp/dp) */
    &anon_module,  /* "anon": which of sa/da are pseudonyms */
    &bytedist_module,
    &wht_module,
    &tcpfp_module, /* no record fields; first so "tcp" leads "fingerprints" */
    &dns_module,
    &ssh_module,
    &tls_module,
    &quic_module, /* not in Joy: next to tls */
    &dtls_module, /* UDP only: writes "tls" like the tls module */
    &dhcp_module,
    &http_module,
    &ike_module, /* Joy: after dhcp and http */
    &payload_module,
    &salt_module,
    &ppi_module,
    &hd_module,
    &os_module,
    &idp_module,
    &exe_module, /* Joy's "exe" (live capture only) */
    &classify_module, /* after dist (it reads the byte counts); last, as Joy's p_malware */
};

const size_t joy_module_count = sizeof joy_modules / sizeof joy_modules[0];

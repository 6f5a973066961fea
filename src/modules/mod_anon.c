/*
 * \summary: anon module - prefix-preserving pseudonyms for listed subnets
 *
 * Options:
 *   anon=FILE       subnets to anonymise (prefix_trie.h format, IPv4 and
 *                   IPv6); off when unset.
 *   anon_key=FILE   the Crypto-PAn key (default joy.anon.key in the
 *                   current directory): 32 raw bytes or 64 hex digits;
 *                   created with mode 0600 from getrandom() when missing.
 *                   The key itself is never printed (the metadata line
 *                   shows the path only).
 *
 * Every address inside a listed subnet is replaced, in every record, by
 * its Crypto-PAn pseudonym (cryptopan.h), which is again an address of the
 * same family.  The work is a core service (anon.h, engine/anon.c): the
 * core shows sa and da as pseudonyms, computes community_id over them, and
 * fields that copy raw packet bytes are left out of such flows by their
 * modules.  This module declares the options and writes the record's
 * member  The
 *   "anon": ["sa", "da"]
 * naming which of sa/da are pseudonyms (one or both), so that a reader
 * never mistakes a pseudonym for a real address.  joy-anon maps pseudonyms
 * back with the key.
 *
 * Addresses that modules quote as text (HTTP headers, TLS names and
 * certificates, DNS answers, ...) are replaced the same way, in every
 * record, by rewriting the module fields before they are written
 * (anon_scrub, addr_scrub.h).
 *
 * Per-flow state: none (module_note(), so that write_json is called).
 * Cost: one trie lookup per address of each new flow; for each anonymised
 * address one batch of 32 (IPv4) or 128 (IPv6) AES blocks when the record
 * is written.
 */
#include "anon.h"
#include "flow.h"
#include "jsonw.h"
#include "module.h"

#include <stddef.h>

static const struct joy_option anon_options[] = {
    {"anon", OPT_STR, offsetof(struct anon_cfg, subnets), 0, 0, NULL, "FILE",
     "replace addresses inside the subnets listed in FILE (IPv4/IPv6) by Crypto-PAn "
     "prefix-preserving pseudonyms"},
    {"anon_key", OPT_STR, offsetof(struct anon_cfg, key), 0, 0, "joy.anon.key", "FILE",
     "key for anon= (32 bytes; created with mode 0600 when missing; see joy-anon)"},
    {NULL, 0, 0, 0, 0, NULL, NULL, NULL},
};

static void anon_packet(const struct module_env *env, void **state, const struct flow *f,
                        const struct packet *p, int dir)
{
    (void)env;
    (void)p;
    (void)dir;
    if (f->anon)
        module_note(state); /* "anon" is written from the subnet list */
}

static void anon_json(const struct module_env *env, const void *state, const struct flow *f,
                      struct jsonw *w)
{
    (void)state;
    jw_key(w, "anon");
    jw_arr_open(w);
    if (anon_is_hidden(env, flow_sa(f), f->key.ipver))
        jw_cstr(w, "sa");
    if (anon_is_hidden(env, flow_da(f), f->key.ipver))
        jw_cstr(w, "da");
    jw_close(w);
}

/* The options and the record member; the policy itself is loaded by the
 * core (context.c) from this module's option block. */
const struct joy_module anon_module = {
    .name = "anon",
    .summary = "Crypto-PAn pseudonyms for addresses in listed subnets",
    .options = anon_options,
    .config_size = sizeof(struct anon_cfg),
    .packet = anon_packet,
    .write_json = anon_json,
};

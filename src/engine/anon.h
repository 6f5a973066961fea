/*
 * anon.h - address anonymisation, a service of the core (anon=FILE).
 *
 * With anon=FILE every address inside the subnets listed in FILE is
 * replaced in records by its Crypto-PAn pseudonym (anon_key=FILE holds the
 * key).  The service has two halves:
 *   - struct anon_policy, in the read-only context: the subnet trie and
 *     the key, loaded once (anon_policy_new);
 *   - struct anon_worker, one per meter: the Crypto-PAn cipher state and
 *     the buffer for rewritten text, both mutable (anon_worker_new).
 * The core uses it for sa and da (and computes community_id over the
 * pseudonyms): when a flow is created the meter asks anon_hidden() about
 * both addresses and sets f->anon if either is hidden; record_write()
 * shows the pseudonyms and then passes the module fields of the record
 * through anon_scrub(), which replaces every address literal of an
 * anonymised subnet that a module quoted as text (HTTP Host, TLS names
 * and certificates, DNS answers ...; addr_scrub.h).  The anon module
 * (mod_anon.c) only declares the options and writes the "anon" member.
 *
 * Rule for modules: a field that copies packet bytes verbatim (idp_out /
 * idp_in, payload, ...) may carry the real addresses (in the IP header, in
 * an application payload that quotes them), so when anon_active(f) is true
 * such a field must be left out of the record (or be pseudonymised by the
 * module itself).  The flag is valid from the flow's first packet on: a
 * module can skip storing those bytes at all.
 *
 * Addresses a module prints as text need nothing (anon_scrub maps them),
 * so a module must NOT map such addresses itself - they would be mapped
 * twice.  anon_addr() is for addresses a module keeps in binary.
 *
 * Limit: flows between two addresses that are not anonymised are not
 * flagged, so their raw bytes (payload, idp) are kept even if they quote an
 * anonymised address (a DHCP request from 0.0.0.0, an mDNS answer).
 * doc/modules/anon.md.
 */
#ifndef JOY_ANON_H
#define JOY_ANON_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "flow.h"
#include "module.h"
#include "packet.h"

/* The anon module's options (mod_anon.c declares them; the core reads them). */
struct anon_cfg {
    char *subnets;   /* anon=FILE */
    char *key;       /* anon_key=FILE */
};

struct anon_policy;
struct anon_worker;

/* Load the subnets and the key (creating the key file when missing).
 * NULL with a message on failure.  Prints the warnings of `core`'s
 * verbosity (no subnets, a key others can read, a new key). */
struct anon_policy *anon_policy_new(const struct anon_cfg *cfg, const struct joy_config *core,
                                    char *err, size_t errlen);
void anon_policy_free(struct anon_policy *p);

/* Is the address inside an anonymised subnet? */
bool anon_hidden(const struct anon_policy *p, const struct ipaddr *a, int ipver);

struct anon_worker *anon_worker_new(const struct anon_policy *p, char *err, size_t errlen);
void anon_worker_free(struct anon_worker *w);

/* If `a` is hidden, store its pseudonym in *out (out may equal a) and
 * return true; otherwise return false and leave *out alone. */
bool anon_map(struct anon_worker *w, const struct ipaddr *a, int ipver, struct ipaddr *out);

/* The module fields [json, json+len) with every hidden address literal
 * replaced: the new text (valid until the next call) and its length, or
 * NULL when nothing changed. */
const char *anon_scrub(struct anon_worker *w, const char *json, size_t len, size_t *out_len);

/* anon_hidden() for a module (false when anonymisation is off). */
bool anon_is_hidden(const struct module_env *env, const struct ipaddr *a, int ipver);

/* Does the flow touch an anonymised subnet (raw-byte fields must go)? */
static inline bool anon_active(const struct flow *f)
{
    return f->anon;
}

/* anon_map() for a module: its meter's worker, if anonymisation is on. */
static inline bool anon_addr(const struct module_env *env, const struct ipaddr *a, int ipver,
                             struct ipaddr *out)
{
    return env->anon && anon_map(env->anon, a, ipver, out);
}

#endif

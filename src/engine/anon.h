/*
 * anon.h - what modules need to know about address anonymisation.
 *
 * With anon=FILE, every address inside the subnets listed in FILE is
 * replaced in records by its Crypto-PAn pseudonym (mod_anon.c).  The core
 * does it for sa and da (and computes community_id over the pseudonyms)
 * through the module hook `hide_addr` (module.h).  When a flow is created,
 * the meter asks that hook about both of its addresses and sets f->anon if
 * either one is hidden.
 *
 * Rule for modules: a field that copies packet bytes verbatim (idp_out /
 * idp_in, payload, ...) may carry the real addresses (in the IP header, in
 * an application payload that quotes them), so when anon_active(f) is true
 * such a field must be left out of the record (or be pseudonymised by the
 * module itself).  The flag is valid from the flow's first packet on: a
 * module can skip storing those bytes at all.
 *
 * Addresses a module prints as text (DNS answers, DHCP fields, IKE
 * identities, HTTP headers, TLS names and certificates ...) need nothing:
 * the anon module rewrites every address literal in the module fields of
 * every record (module.h rewrite_json, addr_scrub.h), whatever flow they
 * come from.  So a module must NOT map such addresses itself - they would
 * be mapped twice.  anon_addr() is for addresses a module keeps in binary.
 *
 * Limit: flows between two addresses that are not anonymised are not
 * flagged, so their raw bytes (payload, idp) are kept even if they quote an
 * anonymised address (a DHCP request from 0.0.0.0, an mDNS answer).
 * doc/modules/anon.md.
 */
#ifndef JOY_ANON_H
#define JOY_ANON_H

#include <stdbool.h>

#include "flow.h"
#include "module.h"
#include "packet.h"

/* Does the flow touch an anonymised subnet (raw-byte fields must go)? */
static inline bool anon_active(const struct flow *f)
{
    return f->anon;
}

/*
 * If the address `a` (ipver 4 or 6) lies in an anonymised subnet, store its
 * pseudonym in *out (out may equal a) and return true; otherwise return
 * false and leave *out alone.  `env` is the calling module's own env.
 */
static inline bool anon_addr(const struct module_env *env, const struct ipaddr *a, int ipver,
                             struct ipaddr *out)
{
    return env->anon_mod && env->anon_mod->hide_addr(env->anon_env, a, ipver, out);
}

#endif

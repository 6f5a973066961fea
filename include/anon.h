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
 * Addresses a module decodes and prints itself (DNS answers, DHCP fields,
 * IKE identities ...) can be mapped with anon_addr(), whatever flow they
 * come from: inside an anonymised subnet they get the same pseudonym as in
 * sa/da, other addresses are left alone.  Call it when the record is
 * written (it costs up to 128 AES blocks), not per packet.
 *
 * Limit: flows between two addresses that are not anonymised are not
 * flagged, so their raw bytes (payload, idp) are kept even if they quote an
 * anonymised address (a DHCP request from 0.0.0.0, an mDNS answer); modules
 * that decode addresses avoid that with anon_addr().  doc/modules/anon.md.
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

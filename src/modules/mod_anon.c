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
 * same family: sa and da through the core's `hide_addr` hook (module.h),
 * community_id is computed over the pseudonyms, and fields that copy raw
 * packet bytes are left out of such flows by their modules (anon.h).  The
 * record then carries
 *   "anon": ["sa", "da"]
 * naming which of sa/da are pseudonyms (one or both), so that a reader
 * never mistakes a pseudonym for a real address.  joy-anon maps pseudonyms
 * back with the key.
 *
 * Addresses that modules quote as text (HTTP headers, TLS names and
 * certificates, DNS answers, ...) are replaced the same way, in every
 * record, by rewriting the module fields before they are written
 * (anon_rewrite, addr_scrub.h).
 *
 * Per-flow state: none (a marker pointer, so that write_json is called).
 * Cost: one trie lookup per address of each new flow; for each anonymised
 * address one batch of 32 (IPv4) or 128 (IPv6) AES blocks when the record
 * is written.
 */
#include "addr_scrub.h"
#include "cryptopan.h"
#include "flow.h"
#include "jsonw.h"
#include "module.h"
#include "prefix_trie.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct anon_cfg {
    char *subnets;
    char *key;
};

struct anon_shared {
    struct prefix_trie *trie;
    struct cryptopan *cp;
    char *text;       /* the rewritten module fields of the latest record */
    size_t text_cap;
};

static const struct joy_option anon_options[] = {
    {"anon", OPT_STR, offsetof(struct anon_cfg, subnets), 0, 0, NULL, "FILE",
     "replace addresses inside the subnets listed in FILE (IPv4/IPv6) by Crypto-PAn "
     "prefix-preserving pseudonyms"},
    {"anon_key", OPT_STR, offsetof(struct anon_cfg, key), 0, 0, "joy.anon.key", "FILE",
     "key for anon= (32 bytes; created with mode 0600 when missing; see joy-anon)"},
    {NULL, 0, 0, 0, 0, NULL, NULL, NULL},
};

static bool anon_enabled(const void *cfg, const struct joy_config *core)
{
    (void)core;
    return ((const struct anon_cfg *)cfg)->subnets != NULL;
}

static void anon_teardown(void *shared)
{
    struct anon_shared *s = shared;
    if (!s)
        return;
    pt_free(s->trie);
    cryptopan_free(s->cp);
    free(s->text);
    free(s);
}

static int anon_setup(const void *cfgp, const struct joy_config *core, void **shared, char *err,
                      size_t errlen)
{
    const struct anon_cfg *cfg = cfgp;
    if (!cfg->key) {
        snprintf(err, errlen, "anon=%s needs a key file (anon_key=FILE)", cfg->subnets);
        return -1;
    }
    struct anon_shared *s = calloc(1, sizeof *s);
    if (!s || !(s->trie = pt_new())) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (pt_load_file(s->trie, cfg->subnets, 1, err, errlen) != 0 ||
        pt_build(s->trie, err, errlen) != 0) {
        anon_teardown(s);
        return -1;
    }
    uint8_t key[CRYPTOPAN_KEY_LEN];
    bool created, loose;
    if (cryptopan_key_load(cfg->key, true, key, &created, &loose, err, errlen) != 0) {
        anon_teardown(s);
        return -1;
    }
    s->cp = cryptopan_new(key, err, errlen);
    cryptopan_wipe(key, sizeof key);
    if (!s->cp) {
        anon_teardown(s);
        return -1;
    }
    bool warn = core->verbosity && core->verbosity <= 3, info = core->verbosity && core->verbosity <= 2;
    if (warn && pt_prefix_count(s->trie) == 0)
        fprintf(stderr, "joy: warning: %s: no subnets listed, nothing will be anonymised\n",
                cfg->subnets);
    if (warn && loose)
        fprintf(stderr, "joy: warning: %s: the anonymisation key can be read by group or others "
                "(chmod 600 it)\n", cfg->key);
    if (info && created)
        fprintf(stderr, "joy: created a new anonymisation key in %s (keep it to map pseudonyms "
                "back with joy-anon)\n", cfg->key);
    *shared = s;
    return 0;
}

static bool anon_hide(const struct module_env *env, const struct ipaddr *a, int ipver,
                      struct ipaddr *out)
{
    struct anon_shared *s = env->shared;
    if (!pt_lookup(s->trie, ipver, a->b))
        return false;
    if (out) {
        struct ipaddr r;
        memset(&r, 0, sizeof r);
        /* on a cipher failure r stays all zero: never the real address */
        cryptopan_anon(s->cp, a->b, ipver == 6 ? 16 : 4, r.b);
        *out = r;
    }
    return true;
}

static bool scrub_hide(void *ctx, const struct ipaddr *a, int ipver, struct ipaddr *out)
{
    return anon_hide(ctx, a, ipver, out);
}

/*
 * Addresses quoted as text in module fields (an HTTP Host header, a TLS
 * server name or certificate, a DNS answer, ...): every literal inside an
 * anonymised subnet becomes its pseudonym, in every record, whatever its
 * flow (addr_scrub.h).  Should memory for the rewritten text run out, the
 * module fields are dropped rather than written with the real addresses.
 */
static const char *anon_rewrite(const struct module_env *env, const char *json, size_t len,
                                size_t *out_len)
{
    struct anon_shared *s = env->shared;
    size_t need = addr_scrub(json, len, scrub_hide, (void *)env, s->text, s->text_cap);
    if (need == 0)
        return NULL;
    if (need > s->text_cap) {
        size_t cap = need + need / 2 + 256;
        char *t = realloc(s->text, cap);
        if (!t) {
            *out_len = 0;
            return "";
        }
        s->text = t;
        s->text_cap = cap;
        addr_scrub(json, len, scrub_hide, (void *)env, s->text, s->text_cap);
    }
    *out_len = need;
    return s->text;
}

static void anon_packet(const struct module_env *env, void **state, const struct flow *f,
                        const struct packet *p, int dir)
{
    (void)p;
    (void)dir;
    if (!*state && f->anon)
        *state = env->shared; /* a marker: "anon" is written from the trie */
}

static void anon_json(const struct module_env *env, const void *state, const struct flow *f,
                      struct jsonw *w)
{
    (void)state;
    const struct anon_shared *s = env->shared;
    jw_key(w, "anon");
    jw_arr_open(w);
    if (pt_lookup(s->trie, f->key.ipver, flow_sa(f)->b))
        jw_cstr(w, "sa");
    if (pt_lookup(s->trie, f->key.ipver, flow_da(f)->b))
        jw_cstr(w, "da");
    jw_close(w);
}

static void anon_free(void *state)
{
    (void)state; /* the marker is the shared state: nothing to free */
}

const struct joy_module anon_module = {
    .name = "anon",
    .summary = "Crypto-PAn pseudonyms for addresses in listed subnets",
    .options = anon_options,
    .config_size = sizeof(struct anon_cfg),
    .enabled = anon_enabled,
    .setup = anon_setup,
    .teardown = anon_teardown,
    .packet = anon_packet,
    .write_json = anon_json,
    .free_state = anon_free,
    .hide_addr = anon_hide,
    .rewrite_json = anon_rewrite,
};

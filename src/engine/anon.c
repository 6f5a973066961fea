/*
 * anon.c - the address anonymisation service (anon.h): Crypto-PAn
 * pseudonyms for the addresses of listed subnets.
 *
 * The policy (subnet trie, key) is built once per context and only read
 * afterwards; each meter has a worker with its own cipher state and text
 * buffer, so meters on different threads never share mutable state.
 */
#include "anon.h"

#include "addr_scrub.h"
#include "cryptopan.h"
#include "prefix_trie.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct anon_policy {
    struct prefix_trie *trie;
    uint8_t key[CRYPTOPAN_KEY_LEN];
};

struct anon_worker {
    const struct anon_policy *pol;
    struct cryptopan *cp;
    char *text;       /* the rewritten module fields of the latest record */
    size_t text_cap;
};

void anon_policy_free(struct anon_policy *p)
{
    if (!p)
        return;
    pt_free(p->trie);
    cryptopan_wipe(p->key, sizeof p->key);
    free(p);
}

struct anon_policy *anon_policy_new(const struct anon_cfg *cfg, const struct joy_config *core,
                                    char *err, size_t errlen)
{
    if (!cfg->key) {
        snprintf(err, errlen, "anon=%s needs a key file (anon_key=FILE)", cfg->subnets);
        return NULL;
    }
    struct anon_policy *p = calloc(1, sizeof *p);
    if (!p || !(p->trie = pt_new())) {
        free(p);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (pt_load_file(p->trie, cfg->subnets, 1, err, errlen) != 0 ||
        pt_build(p->trie, err, errlen) != 0) {
        anon_policy_free(p);
        return NULL;
    }
    bool created, loose;
    if (cryptopan_key_load(cfg->key, true, p->key, &created, &loose, err, errlen) != 0) {
        anon_policy_free(p);
        return NULL;
    }
    /* check the key once here, so a worker cannot fail for it later */
    struct cryptopan *cp = cryptopan_new(p->key, err, errlen);
    if (!cp) {
        anon_policy_free(p);
        return NULL;
    }
    cryptopan_free(cp);
    bool warn = core->verbosity && core->verbosity <= 3, info = core->verbosity && core->verbosity <= 2;
    if (warn && pt_prefix_count(p->trie) == 0)
        fprintf(stderr, "joy: warning: %s: no subnets listed, nothing will be anonymised\n",
                cfg->subnets);
    if (warn && loose)
        fprintf(stderr, "joy: warning: %s: the anonymisation key can be read by group or others "
                "(chmod 600 it)\n", cfg->key);
    if (info && created)
        fprintf(stderr, "joy: created a new anonymisation key in %s (keep it to map pseudonyms "
                "back with joy-anon)\n", cfg->key);
    return p;
}

bool anon_hidden(const struct anon_policy *p, const struct ipaddr *a, int ipver)
{
    return pt_lookup(p->trie, ipver, a->b);
}

bool anon_is_hidden(const struct module_env *env, const struct ipaddr *a, int ipver)
{
    return env->anon && anon_hidden(env->anon->pol, a, ipver);
}

struct anon_worker *anon_worker_new(const struct anon_policy *p, char *err, size_t errlen)
{
    struct anon_worker *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    w->pol = p;
    if (!(w->cp = cryptopan_new(p->key, err, errlen))) {
        free(w);
        return NULL;
    }
    return w;
}

void anon_worker_free(struct anon_worker *w)
{
    if (!w)
        return;
    cryptopan_free(w->cp);
    free(w->text);
    free(w);
}

bool anon_map(struct anon_worker *w, const struct ipaddr *a, int ipver, struct ipaddr *out)
{
    if (!pt_lookup(w->pol->trie, ipver, a->b))
        return false;
    struct ipaddr r;
    memset(&r, 0, sizeof r);
    /* on a cipher failure r stays all zero: never the real address */
    cryptopan_anon(w->cp, a->b, ipver == 6 ? 16 : 4, r.b);
    *out = r;
    return true;
}

static bool scrub_hide(void *ctx, const struct ipaddr *a, int ipver, struct ipaddr *out)
{
    struct anon_worker *w = ctx;
    return out ? anon_map(w, a, ipver, out) : anon_hidden(w->pol, a, ipver);
}

/*
 * Addresses quoted as text in module fields (an HTTP Host header, a TLS
 * server name or certificate, a DNS answer, ...): every literal inside an
 * anonymised subnet becomes its pseudonym, in every record, whatever its
 * flow (addr_scrub.h).  Should memory for the rewritten text run out, the
 * module fields are dropped rather than written with the real addresses.
 */
const char *anon_scrub(struct anon_worker *w, const char *json, size_t len, size_t *out_len)
{
    size_t need = addr_scrub(json, len, scrub_hide, w, w->text, w->text_cap);
    if (need == 0)
        return NULL;
    if (need > w->text_cap) {
        size_t cap = need + need / 2 + 256;
        char *t = realloc(w->text, cap);
        if (!t) {
            *out_len = 0;
            return "";
        }
        w->text = t;
        w->text_cap = cap;
        addr_scrub(json, len, scrub_hide, w, w->text, w->text_cap);
    }
    *out_len = need;
    return w->text;
}

/*
 * \summary: label module - names for the subnets sa and da belong to
 *
 * Option label=NAME:FILE (repeatable, at most LABEL_MAX distinct names):
 * FILE lists subnets, one prefix per line (see prefix_trie.h: "10.0.0.0/8",
 * "2001:db8::/32", a bare address is a /32 or /128, '#' comments).  The
 * same NAME may be given with several files; their subnets add up.
 * Output, for each flow whose client or server address lies in a listed
 * subnet (IPv4 and IPv6):
 *   "sa_labels": ["NAME", ...], "da_labels": ["NAME", ...]
 * each array in the order the names were first given, each name once, and
 * left out when empty.  Labels describe the real addresses, also when
 * anon= replaces them in sa/da.
 *
 * All prefixes of all files go into one prefix trie whose tags are one bit
 * per name; a lookup returns every name at once.  Nothing is stored per
 * flow: the per-flow state is the core's note (module_note()), so the
 * labels are looked up once, when the record is written.
 */
#include "flow.h"
#include "jsonw.h"
#include "module.h"
#include "prefix_trie.h"

#include <stdlib.h>
#include <string.h>

#define LABEL_MAX 64        /* one tag bit per name */
#define LABEL_NAME_MAX 63   /* bytes per name */

struct label_cfg {
    struct strlist specs;   /* "NAME:FILE" */
};

struct label_data {
    struct prefix_trie *trie;
    unsigned n;
    char *name[LABEL_MAX];
};

static const struct joy_option label_options[] = {
    {"label", OPT_LIST, offsetof(struct label_cfg, specs), 0, 0, NULL, "NAME:FILE",
     "add NAME to sa_labels/da_labels of addresses in the subnets listed in FILE "
     "(IPv4/IPv6, one prefix per line; at most 64 names)"},
    {NULL, 0, 0, 0, 0, NULL, NULL, NULL},
};

static void label_teardown(void *shared)
{
    struct label_data *s = shared;
    if (!s)
        return;
    pt_free(s->trie);
    for (unsigned i = 0; i < s->n; i++)
        free(s->name[i]);
    free(s);
}

/* A name: 1 to LABEL_NAME_MAX printable ASCII characters, no space, no ':'. */
static bool valid_name(const char *s, size_t n)
{
    if (n == 0 || n > LABEL_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f || s[i] == ':')
            return false;
    return true;
}

static int label_setup(const void *cfgp, const struct joy_config *core, void **data, char *err,
                       size_t errlen)
{
    (void)core;
    const struct label_cfg *cfg = cfgp;
    struct label_data *s = calloc(1, sizeof *s);
    if (!s || !(s->trie = pt_new())) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < cfg->specs.n; i++) {
        const char *spec = cfg->specs.v[i];
        const char *colon = strchr(spec, ':');
        size_t nlen = colon ? (size_t)(colon - spec) : 0;
        if (!colon || !colon[1] || !valid_name(spec, nlen)) {
            snprintf(err, errlen,
                     "label=%s: expected NAME:FILE, NAME being 1 to %d printable characters "
                     "without spaces or ':'", spec, LABEL_NAME_MAX);
            label_teardown(s);
            return -1;
        }
        unsigned idx = 0;
        while (idx < s->n && (strlen(s->name[idx]) != nlen || memcmp(s->name[idx], spec, nlen)))
            idx++;
        if (idx == s->n) {
            if (s->n == LABEL_MAX) {
                snprintf(err, errlen, "label=%s: more than %d label names", spec, LABEL_MAX);
                label_teardown(s);
                return -1;
            }
            if (!(s->name[idx] = strndup(spec, nlen))) {
                snprintf(err, errlen, "out of memory");
                label_teardown(s);
                return -1;
            }
            s->n++;
        }
        if (pt_load_file(s->trie, colon + 1, 1ull << idx, err, errlen) != 0) {
            label_teardown(s);
            return -1;
        }
    }
    if (pt_build(s->trie, err, errlen) != 0) {
        label_teardown(s);
        return -1;
    }
    *data = s;
    return 0;
}

static void label_packet(const struct module_env *env, void **state, const struct flow *f,
                         const struct packet *p, int dir)
{
    (void)f;
    (void)p;
    (void)dir;
    module_note(state); /* the labels are looked up at write time */
}

static void write_labels(struct jsonw *w, const char *key, const struct label_data *s,
                         uint64_t mask)
{
    if (!mask)
        return;
    jw_key(w, key);
    jw_arr_open(w);
    for (unsigned i = 0; i < s->n; i++)
        if (mask & (1ull << i))
            jw_cstr(w, s->name[i]);
    jw_close(w);
}

static void label_json(const struct module_env *env, const void *state, const struct flow *f,
                       struct jsonw *w)
{
    (void)state;
    const struct label_data *s = env->data;
    int v = f->key.ipver;
    write_labels(w, "sa_labels", s, pt_lookup(s->trie, v, flow_sa(f)->b));
    write_labels(w, "da_labels", s, pt_lookup(s->trie, v, flow_da(f)->b));
}

const struct joy_module label_module = {
    .name = "label",
    .summary = "sa_labels/da_labels: names of the listed subnets sa and da belong to",
    .options = label_options,
    .config_size = sizeof(struct label_cfg),
    .setup = label_setup,
    .teardown = label_teardown,
    .packet = label_packet,
    .write_json = label_json,
};

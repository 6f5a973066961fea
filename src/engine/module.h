/*
 * module.h - the feature module interface.
 *
 * A feature module (byte distribution, DNS, TLS, ...) is one file in src/
 * that defines one `const struct joy_module` and is listed once in the
 * table joy_modules[] (modules.c).  Nothing else in the meter names it.
 *
 * Life cycle:
 *   - its options (`options`, stored in a block of `config_size` bytes)
 *     are parsed with the core options; `enabled(cfg, core)` says whether the
 *     module is on for this run;
 *   - `setup` (optional) loads what it needs for the run (a map file, a
 *     key) into `*shared`, and may fail with a message;
 *   - for each packet of each flow, `packet` is called with `*state`,
 *     which is NULL until the module allocates its per-flow state (only
 *     for flows it cares about, and only once per flow - never per packet);
 *   - `write_json` writes the module's members into the record object
 *     (zero or more `jw_key` + value pairs) when the flow leaves the cache;
 *   - `free_state` releases the per-flow state.
 * `dir` is 0 for a packet sent by the flow's client (sa), 1 otherwise.
 * A module must bound its per-flow memory and must treat every packet byte
 * as hostile (use cursor.h).
 */
#ifndef JOY_MODULE_H
#define JOY_MODULE_H

#include <stddef.h>
#include <stdbool.h>

#include "config.h"

struct flow;
struct packet;
struct jsonw;
struct ipaddr;

struct module_env {
    const void *cfg;                 /* the module's own option block */
    void *shared;                    /* what setup() produced, or NULL */
    const struct joy_config *core;   /* the core options */
    /* the run's address anonymiser (anon=) or NULL: use anon_addr() (anon.h) */
    const struct joy_module *anon_mod;
    const struct module_env *anon_env;
};

struct joy_module {
    const char *name;                /* short name, usually its switch key */
    const char *summary;             /* one line for --help */
    const struct joy_option *options;/* terminated by an entry with key NULL */
    size_t config_size;
    bool (*enabled)(const void *cfg, const struct joy_config *core);
    int (*setup)(const void *cfg, const struct joy_config *core, void **shared,
                 char *err, size_t errlen);
    void (*teardown)(void *shared);
    void (*packet)(const struct module_env *env, void **state, const struct flow *f,
                   const struct packet *p, int dir);
    void (*write_json)(const struct module_env *env, const void *state, const struct flow *f,
                       struct jsonw *w);
    void (*free_state)(void *state);
    /* Optional: members of the shared "fingerprints" (dir 0, the client's)
     * and "fingerprints_in" (dir 1, the server's) objects, e.g.
     * "tcp": "(...)", "tls": "(...)", "ja3": "...".  Called only when the
     * core option fpx=1 and the module has state for the flow. */
    void (*write_fingerprints)(const struct module_env *env, const void *state,
                               const struct flow *f, struct jsonw *w, int dir);
    /* Optional (address anonymisation, see anon.h): is the address `a`
     * (ipver 4 or 6) one that records must not show?  If so, return true
     * and, when `out` is not NULL, store its replacement there (out may
     * equal a).  The meter calls it with out = NULL on both addresses of a
     * new flow to set f->anon; record_write() calls it on sa and da. */
    bool (*hide_addr)(const struct module_env *env, const struct ipaddr *a, int ipver,
                      struct ipaddr *out);
    /* Optional: rewrite the module part of a record - the JSON text that
     * every module's write_json and write_fingerprints wrote, which starts
     * with a ',' and holds whole members only - e.g. to replace address
     * literals quoted in it (anon: addr_scrub.h).  Return the new text and
     * its length in *out_len (memory the module owns, valid until its next
     * call), which must keep the same JSON structure; or NULL to keep the
     * text.  record_write() calls it once per record. */
    const char *(*rewrite_json)(const struct module_env *env, const char *json, size_t len,
                                size_t *out_len);
    /* Also call `packet` for TCP segments that the retransmission test
     * leaves out of the counters (retrans=0): a stream reassembler needs
     * reordered segments that arrive after later ones (see reasm.h). */
    bool sees_retrans;
};

extern const struct joy_module *const joy_modules[];
extern const size_t joy_module_count;

#endif

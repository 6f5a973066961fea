/*
 * module.h - the feature module interface (version 2).
 *
 * A feature module (byte distribution, DNS, TLS, ...) is one file in
 * src/modules/ that defines one `const struct joy_module` and is listed
 * once in the table joy_modules[] (modules.c).  Nothing else in the core
 * names it.  doc/internals/adding-a-module.md walks through adding one.
 *
 * Life cycle and ownership:
 *   - its options (`options`, stored in a block of `config_size` bytes)
 *     are parsed with the core options; `enabled(cfg, core)` says whether
 *     the module is on for the run (default: its first option is non-zero);
 *   - per context, once: `setup` loads what the module only reads during
 *     the run (a map file, a subnet trie) into `data`; every meter of the
 *     context shares it, on any thread, so it must never be written after
 *     setup returns (env->data is const) - except what has a lock of its
 *     own and says so (mod_tls's shared certificate cache);
 *   - per meter: `worker_init` makes the module's mutable scratch (OpenSSL
 *     digest contexts, text buffers, caches) in env->scratch, which only
 *     that meter's thread touches;
 *   - per flow: `packet` is called for each packet of a transport the
 *     module declared in `interest`, with `*state` NULL until the module
 *     stores per-flow state (allocated once per flow, never per packet).
 *     Instead of an allocation a module may store one of the core's
 *     markers: module_decline() (this flow is not for me: no more packet
 *     calls, nothing written) or module_note() (nothing to keep, but call
 *     write_json for this flow);
 *   - `write_json` writes the module's members into the record object
 *     (zero or more `jw_key` + value pairs) when the flow leaves the
 *     cache, if the module stored state or a note for it;
 *   - `free_state` releases an allocated state (default: free(); a state
 *     from module_calloc() is released with module_free());
 *   - `tick` (optional) is called about once per second of the meter's
 *     clock, for work that is not tied to a packet;
 *   - `worker_free` and `teardown` release scratch and data.
 * `dir` is 0 for a packet sent by the flow's client (sa), 1 otherwise.
 * A module must bound its per-flow memory and must treat every packet byte
 * as hostile (read it through cursor.h).
 *
 * Address anonymisation is a core service (anon.h): a module that keeps
 * addresses in binary maps them with anon_addr(env, ...); addresses quoted
 * as text are rewritten by the core.
 */
#ifndef JOY_MODULE_H
#define JOY_MODULE_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"

struct flow;
struct packet;
struct jsonw;
struct joy_context;
struct anon_worker;
struct modpool;

struct module_env {
    const void *cfg;                 /* the module's own option block */
    const void *data;                /* what setup() loaded: shared, read-only */
    void *scratch;                   /* what worker_init() made: this meter's own */
    const struct joy_config *core;   /* the core options */
    const struct joy_context *ctx;   /* for module_state() */
    struct anon_worker *anon;        /* anon= (anon.h), or NULL when off */
    struct modpool *pool;            /* this meter's pool for per-flow state (NULL: malloc) */
};

/* Which packets a module wants (`interest`; 0 means all of them). */
enum module_interest {
    MI_TCP = 1 << 0,     /* IP protocol 6 */
    MI_UDP = 1 << 1,     /* IP protocol 17 */
    MI_ICMP = 1 << 2,    /* IP protocols 1 and 58 */
    MI_OTHER = 1 << 3,   /* every other protocol */
    MI_ALL = MI_TCP | MI_UDP | MI_ICMP | MI_OTHER,
};

struct joy_module {
    const char *name;                /* short name, usually its switch key */
    const char *summary;             /* one line for --help */
    const struct joy_option *options;/* terminated by an entry with key NULL */
    size_t config_size;
    unsigned interest;               /* enum module_interest bits; 0 = MI_ALL */
    /* NULL: on when the first option (a switch or a number) is non-zero */
    bool (*enabled)(const void *cfg, const struct joy_config *core);
    int (*setup)(const void *cfg, const struct joy_config *core, void **data,
                 char *err, size_t errlen);
    void (*teardown)(void *data);
    int (*worker_init)(const struct module_env *env, void **scratch, char *err, size_t errlen);
    void (*worker_free)(void *scratch);
    void (*packet)(const struct module_env *env, void **state, const struct flow *f,
                   const struct packet *p, int dir);
    void (*write_json)(const struct module_env *env, const void *state, const struct flow *f,
                       struct jsonw *w);
    void (*free_state)(void *state);
    void (*tick)(const struct module_env *env, uint64_t now_ns);
    /* Optional: members of the shared "fingerprints" (dir 0, the client's)
     * and "fingerprints_in" (dir 1, the server's) objects, e.g.
     * "tcp": "(...)", "tls": "(...)", "ja3": "...".  Called only when the
     * core option fpx=1 and the module has state for the flow. */
    void (*write_fingerprints)(const struct module_env *env, const void *state,
                               const struct flow *f, struct jsonw *w, int dir);
    /* Also call `packet` for TCP segments that the retransmission test
     * leaves out of the counters (retrans=0): a stream reassembler needs
     * reordered segments that arrive after later ones (see reasm.h). */
    bool sees_retrans;
    /* Call `write_json` for every record, with state NULL when the module
     * stored nothing for the flow (the classifier scores every flow, also
     * one made only of fragments that no module saw). */
    bool writes_every_record;
    /* setup() may run again on SIGHUP (joy_context_reload) with a new
     * configuration; the meters then switch to the new data at a record
     * boundary, and teardown() frees it when the reload is freed. */
    bool reloadable;
};

extern const struct joy_module *const joy_modules[];
extern const size_t joy_module_count;

/* The core's per-flow markers (never freed, never passed to packet). */
extern char module_declined_marker, module_noted_marker;
#define MODULE_DECLINED ((void *)&module_declined_marker)
#define MODULE_NOTED ((void *)&module_noted_marker)

/* This flow is not for the module: no further packets, nothing written. */
static inline void module_decline(void **state) { *state = MODULE_DECLINED; }

/* Nothing to keep, but write_json is wanted for this flow. */
static inline void module_note(void **state)
{
    if (!*state)
        *state = MODULE_NOTED;
}

/*
 * Per-flow memory from the meter's pool (modpool.c): module_calloc() gives
 * `size` zeroed bytes (NULL when out of memory), module_malloc() the same
 * bytes not zeroed, module_realloc() grows or shrinks a block of either,
 * keeping its contents, and module_free() returns one (NULL is ignored).
 * Use them for what a flow allocates and frees with its record: after the
 * first records the pool serves them from free lists, with no malloc().
 * A block must be freed by module_free(), never free(), and only on the
 * thread of the meter whose env allocated it.  With env->pool NULL (a
 * fuzz target) or under AddressSanitizer they are malloc() and free().
 * A state made this way takes `.free_state = module_free` (or calls it
 * from its own free_state).
 */
#if defined(__SANITIZE_ADDRESS__)
#define MODPOOL_BYPASS 1                 /* AddressSanitizer: malloc() and free() */
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MODPOOL_BYPASS 1
#endif
#endif
void *module_calloc(const struct module_env *env, size_t size);
void *module_malloc(const struct module_env *env, size_t size);
void *module_realloc(const struct module_env *env, void *ptr, size_t size);
void module_free(void *ptr);

/* The meter's side: one pool per meter, freed after its flows. */
struct modpool *modpool_new(void);
void modpool_free(struct modpool *p);

/* Is s a state the module allocated (not NULL, not a marker)? */
static inline bool module_state_is_data(const void *s)
{
    return s && s != MODULE_DECLINED && s != MODULE_NOTED;
}

/* A module's option block in a configuration (for a module that follows
 * another one's switch, as dtls=2 follows tls). */
const void *module_config(const struct joy_config *core, const struct joy_module *mod);

/* Is the module on for the run (its enabled(), or the default rule)? */
bool module_is_enabled(const struct joy_module *mod, const void *cfg,
                       const struct joy_config *core);

/*
 * Typed access to another module's features of the same flow (the
 * classifier reads the byte distribution): the per-flow state of `mod` for
 * flow f, or NULL when that module is off or stored nothing for f.  Each
 * module that offers its state declares a typed accessor in its header
 * (e.g. bytedist.h) built on this.
 */
const void *module_state(const struct module_env *env, const struct flow *f,
                         const struct joy_module *mod);

#endif

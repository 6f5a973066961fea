/*
 * context.h - the read-only run context behind struct joy_context.
 *
 * A context is built once from a configuration (joy_context_new) and is
 * never written afterwards, so any number of meters on any number of
 * threads read it without locks.  It owns:
 *   - a deep copy of the configuration (core options and every module's
 *     option block);
 *   - the list of enabled modules, in table order (which is record order),
 *     and the reverse map from a module's table index to its slot;
 *   - what each enabled module loaded once for the run (`setup`: subnet
 *     tries, keys, byte maps): read-only data that meters share.
 * What a meter changes (flow table, per-flow state, module scratch such
 * as OpenSSL digest contexts and text buffers) lives in the meter.
 */
#ifndef JOY_CONTEXT_H
#define JOY_CONTEXT_H

#include "config.h"
#include "joy/joy.h"

struct anon_policy;

struct joy_context {
    struct joy_config cfg;
    size_t n_mod;                        /* enabled modules */
    size_t mod_index[JOY_MAX_MODULES];   /* slot -> index into joy_modules[] */
    int slot_of[JOY_MAX_MODULES];        /* index into joy_modules[] -> slot, or -1 */
    void *mod_data[JOY_MAX_MODULES];     /* slot -> what the module's setup() loaded */
    struct anon_policy *anon;            /* address anonymisation (anon=), or NULL */
};

/* What reload r holds for the module in slot (1, *data set), or 0 when it
 * did not reload that module (meter.c: joy_meter_reload). */
int context_reload_data(const struct joy_reload *r, const struct joy_context *ctx,
                            size_t slot, const void **data);

#endif

/*
 * record.h - writing one flow record (record.c).
 *
 * What record_write() needs from the meter: the core options, the enabled
 * modules' environments in slot order, and the meter's anonymisation
 * worker (NULL when anon= is off).
 */
#ifndef JOY_RECORD_H
#define JOY_RECORD_H

#include <stddef.h>

#include "config.h"
#include "flow.h"
#include "jsonw.h"
#include "module.h"

struct record_env {
    const struct joy_config *cfg;
    const struct module_env *envs;   /* one per enabled module, in slot order */
    const size_t *mod_index;         /* slot -> index into joy_modules[] */
    size_t n_mod;
    struct anon_worker *anon;
    int64_t time_base;               /* joy_meter_set_time_base() */
};

/* The flow as the record shows it: f itself, or (f->anon, see anon.h)
 * `copy` with each hidden address replaced by its pseudonym. */
const struct flow *record_shown_flow(const struct record_env *re, const struct flow *f,
                                     struct flow *copy);

/* Write the record of f (shown: from record_shown_flow) into w.
 * with_modules false: the core fields only (a record over the size cap).
 * cid (RECORD_CID_MAX bytes) receives the record's community_id text, or
 * "" when the record has none. */
#define RECORD_CID_MAX 64
void record_write(struct jsonw *w, const struct flow *f, const struct flow *shown,
                  const struct record_env *re, bool with_modules, char *cid);

#endif

/*
 * fuzz_common.h - helpers shared by the fuzz targets.
 *
 * fuzz_config_all_modules() switches every module on through its own
 * options (booleans 1, numbers 32 or their maximum), so a pipeline target
 * exercises every parser.  Options that name files are left unset, except
 * the classifier's model (test/data/classify.model, when it is found from
 * the current directory: classify=1 needs one; classify_features=1 not);
 * exe (live capture only) stays off.
 */
#ifndef JOY_FUZZ_COMMON_H
#define JOY_FUZZ_COMMON_H

#include "joy/joy.h"

#include "config.h"
#include "jsonw.h"
#include "module.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FUZZ_CLASSIFY_MODEL "test/data/classify.model"

static inline void fuzz_config_all_modules(struct joy_config *cfg)
{
    char err[256];
    if (config_init(cfg, err, sizeof err) != 0)
        abort();
    config_set(cfg, "fpx", "1", "fuzz", err, sizeof err);
    config_set(cfg, "num_pkts", "20", "fuzz", err, sizeof err);
    for (size_t i = 0; i < joy_module_count; i++) {
        if (strcmp(joy_modules[i]->name, "exe") == 0)
            continue;   /* live capture only: refused without an interface */
        for (const struct joy_option *o = joy_modules[i]->options; o && o->key; o++) {
            char v[32];
            if (o->type == OPT_BOOL)
                snprintf(v, sizeof v, "1");
            else if (o->type == OPT_UINT)
                snprintf(v, sizeof v, "%llu", (unsigned long long)(o->max >= 32 ? (o->min > 32 ? o->min : 32) : o->max));
            else
                continue;
            if (strcmp(o->key, "classify") == 0) {
                if (access(FUZZ_CLASSIFY_MODEL, R_OK) != 0)
                    continue;
                config_set(cfg, "model", FUZZ_CLASSIFY_MODEL, "fuzz", err, sizeof err);
            }
            config_set(cfg, o->key, v, "fuzz", err, sizeof err);
        }
    }
}

/* A record sink that insists on valid JSON. */
static inline void fuzz_check_json(void *ctx, const char *json, size_t len)
{
    (void)ctx;
    if (!json_validate(json, len)) {
        fprintf(stderr, "invalid JSON record: %.*s\n", (int)len, json);
        abort();
    }
}

/* The same as a joy_record_fn. */
static inline void fuzz_on_record(void *user, const struct joy_record *rec)
{
    fuzz_check_json(user, rec->json, rec->len);
}

/* A context over cfg and one meter on it, through the public API, as a
 * program would make them; aborts if either cannot be made. */
static inline struct joy_meter *fuzz_meter_new(const struct joy_config *cfg,
                                               struct joy_context **ctx)
{
    char err[512];
    *ctx = joy_context_new(cfg, err, sizeof err);
    struct joy_meter *m = *ctx ? joy_meter_new(*ctx, fuzz_on_record, NULL, err, sizeof err) : NULL;
    if (!m) {
        fprintf(stderr, "%s\n", err);
        abort();
    }
    return m;
}

static inline void fuzz_meter_free(struct joy_meter *m, struct joy_context *ctx)
{
    joy_meter_free(m);
    joy_context_free(ctx);
}

#endif

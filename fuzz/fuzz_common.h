/*
 * fuzz_common.h - helpers shared by the fuzz targets.
 *
 * fuzz_config_all_modules() switches every module on through its own
 * options (booleans 1, numbers 32 or their maximum), so a pipeline target
 * exercises every parser.  Options that name files are left unset.
 */
#ifndef JOY_FUZZ_COMMON_H
#define JOY_FUZZ_COMMON_H

#include "config.h"
#include "jsonw.h"
#include "module.h"

#include <stdio.h>
#include <stdlib.h>

static inline void fuzz_config_all_modules(struct joy_config *cfg)
{
    char err[256];
    if (config_init(cfg, err, sizeof err) != 0)
        abort();
    config_set(cfg, "fpx", "1", "fuzz", err, sizeof err);
    config_set(cfg, "num_pkts", "20", "fuzz", err, sizeof err);
    for (size_t i = 0; i < joy_module_count; i++) {
        for (const struct joy_option *o = joy_modules[i]->options; o && o->key; o++) {
            char v[32];
            if (o->type == OPT_BOOL)
                snprintf(v, sizeof v, "1");
            else if (o->type == OPT_UINT)
                snprintf(v, sizeof v, "%llu", (unsigned long long)(o->max >= 32 ? (o->min > 32 ? o->min : 32) : o->max));
            else
                continue;
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

#endif

/*
 * context.c - joy_context: the read-only half of a run (context.h).
 *
 * joy_context_new() copies the configuration, decides which modules are
 * on, and runs each enabled module's setup() once; the anonymisation
 * policy (anon=) is loaded here too.  After that nothing in the context
 * changes until joy_context_free(), which is why meters on several threads
 * may share one.
 */
#include "context.h"

#include "anon.h"
#include "flow.h"
#include "jsonw.h"
#include "module.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const struct joy_module anon_module;

const void *module_config(const struct joy_config *core, const struct joy_module *mod)
{
    for (size_t i = 0; i < joy_module_count; i++)
        if (joy_modules[i] == mod)
            return core->modcfg[i];
    return NULL;
}

bool module_is_enabled(const struct joy_module *mod, const void *cfg,
                       const struct joy_config *core)
{
    if (mod->enabled)
        return mod->enabled(cfg, core);
    const struct joy_option *o = mod->options;
    if (!o || !o->key)
        return false;
    const char *field = (const char *)cfg + o->offset;
    switch (o->type) {
    case OPT_BOOL: {
        bool b;
        memcpy(&b, field, sizeof b);
        return b;
    }
    case OPT_UINT: {
        uint64_t x;
        memcpy(&x, field, sizeof x);
        return x != 0;
    }
    case OPT_STR: {
        const char *s;
        memcpy(&s, field, sizeof s);
        return s != NULL;
    }
    case OPT_LIST: {
        const struct strlist *l = (const struct strlist *)field;
        return l->n != 0;
    }
    }
    return false;
}

const void *module_state(const struct module_env *env, const struct flow *f,
                         const struct joy_module *mod)
{
    for (size_t i = 0; i < joy_module_count; i++) {
        if (joy_modules[i] != mod)
            continue;
        int slot = env->ctx->slot_of[i];
        const void *s = slot < 0 ? NULL : f->mod[slot];
        return module_state_is_data(s) ? s : NULL;
    }
    return NULL;
}

void joy_context_free(struct joy_context *ctx)
{
    if (!ctx)
        return;
    for (size_t i = 0; i < ctx->n_mod; i++) {
        const struct joy_module *mod = joy_modules[ctx->mod_index[i]];
        if (mod->teardown && ctx->mod_data[i])
            mod->teardown(ctx->mod_data[i]);
    }
    anon_policy_free(ctx->anon);
    config_free(&ctx->cfg);
    free(ctx);
}

struct joy_context *joy_context_new(const struct joy_config *cfg, char *err, size_t errlen)
{
    char dummy[1];
    if (!err || !errlen) {
        err = dummy;
        errlen = sizeof dummy;
    }
    if (!cfg) {
        snprintf(err, errlen, "joy_context_new: no configuration");
        return NULL;
    }
    struct joy_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (config_copy(&ctx->cfg, cfg, err, errlen) != 0) {
        joy_context_free(ctx);
        return NULL;
    }
    const struct joy_config *c = &ctx->cfg;
    for (size_t i = 0; i < joy_module_count; i++) {
        const struct joy_module *mod = joy_modules[i];
        ctx->slot_of[i] = -1;
        if (!module_is_enabled(mod, c->modcfg[i], c))
            continue;
        size_t slot = ctx->n_mod++;
        ctx->mod_index[slot] = i;
        ctx->slot_of[i] = (int)slot;
        if (mod == &anon_module &&
            !(ctx->anon = anon_policy_new(c->modcfg[i], c, err, errlen))) {
            joy_context_free(ctx);
            return NULL;
        }
        if (mod->setup && mod->setup(c->modcfg[i], c, &ctx->mod_data[slot], err, errlen) != 0) {
            joy_context_free(ctx);
            return NULL;
        }
    }
    return ctx;
}

/* ---------------------------------------------------------------------
 * Reloading (joy.h): setup() of the reloadable modules run again with a
 * new configuration; the context is not touched.
 */
struct joy_reload {
    const struct joy_context *ctx;
    int n;                              /* modules reloaded */
    bool has[JOY_MAX_MODULES];          /* slot -> reloaded */
    void *data[JOY_MAX_MODULES];        /* slot -> the new data */
};

void joy_reload_free(struct joy_reload *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->ctx->n_mod; i++) {
        const struct joy_module *mod = joy_modules[r->ctx->mod_index[i]];
        if (r->has[i] && mod->teardown && r->data[i])
            mod->teardown(r->data[i]);
    }
    free(r);
}

int joy_reload_count(const struct joy_reload *r) { return r ? r->n : 0; }

struct joy_reload *joy_context_reload(const struct joy_context *ctx,
                                      const struct joy_config *cfg, char *err, size_t errlen)
{
    char dummy[1];
    if (!err || !errlen) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = '\0';
    if (!ctx || !cfg) {
        snprintf(err, errlen, "joy_context_reload: %s is NULL", ctx ? "cfg" : "the context");
        return NULL;
    }
    struct joy_reload *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->ctx = ctx;
    for (size_t i = 0; i < ctx->n_mod; i++) {
        size_t idx = ctx->mod_index[i];
        const struct joy_module *mod = joy_modules[idx];
        if (!mod->reloadable || !mod->setup || !module_is_enabled(mod, cfg->modcfg[idx], cfg))
            continue;
        if (mod->setup(cfg->modcfg[idx], cfg, &r->data[i], err, errlen) != 0) {
            joy_reload_free(r);
            return NULL;
        }
        r->has[i] = true;
        r->n++;
    }
    return r;
}

int context_reload_data(const struct joy_reload *r, const struct joy_context *ctx,
                            size_t slot, const void **data)
{
    if (!r || r->ctx != ctx || slot >= ctx->n_mod || !r->has[slot])
        return 0;
    *data = r->data[slot];
    return 1;
}

const struct joy_config *joy_context_config(const struct joy_context *ctx)
{
    return ctx ? &ctx->cfg : NULL;
}

long joy_context_metadata(const struct joy_context *ctx, const char *const *inputs,
                          size_t n_inputs, char *buf, size_t buflen)
{
    if (!ctx || (n_inputs && !inputs) || (buflen && !buf))
        return JOY_ERR_INVALID;
    struct jsonw w;
    jw_init(&w);
    jw_obj_open(&w);
    jw_kv_cstr(&w, "version", JOY_VERSION_STRING);
    jw_kv_cstr(&w, "schema", "joy-flow-3");
    /* Every option under one object, so that no key of this line collides
     * with a record key of another type (doc/schema.md). */
    jw_key(&w, "options");
    jw_obj_open(&w);
    config_to_json(&ctx->cfg, &w);
    jw_close(&w);
    jw_key(&w, "inputs");
    jw_arr_open(&w);
    for (size_t i = 0; i < n_inputs; i++)
        jw_cstr(&w, inputs[i]);
    jw_close(&w);
    jw_finish(&w);
    long n = w.overflow ? JOY_ERR_NOMEM : (long)w.len;
    if (n >= 0 && buflen) {
        size_t k = (size_t)n < buflen ? (size_t)n : buflen - 1;
        memcpy(buf, w.buf, k);
        buf[k] = '\0';
    }
    jw_free(&w);
    return n;
}

/* test_module.c - the module interface v2 seen from the core: the default
 * enabled() rule, the decline/note markers, module_config(), and typed
 * access to another module's per-flow state (bytedist_of through
 * module_state), plus the context's slot map. */
#include "bytedist.h"
#include "config.h"
#include "context.h"
#include "flow.h"
#include "module.h"
#include "packet.h"
#include "unit.h"

#include <stdlib.h>

extern const struct joy_module bytedist_module, dns_module, hd_module, label_module,
    tls_module, dtls_module;

static int table_index(const struct joy_module *mod)
{
    for (size_t i = 0; i < joy_module_count; i++)
        if (joy_modules[i] == mod)
            return (int)i;
    return -1;
}

static void test_default_enabled(void)
{
    char err[256];
    struct joy_config cfg;
    CHECK(config_init(&cfg, err, sizeof err) == 0);
    /* dns: a switch; hd: a number; label: a repeatable option; all off */
    CHECK(!module_is_enabled(&dns_module, module_config(&cfg, &dns_module), &cfg));
    CHECK(!module_is_enabled(&hd_module, module_config(&cfg, &hd_module), &cfg));
    CHECK(!module_is_enabled(&label_module, module_config(&cfg, &label_module), &cfg));
    CHECK(config_set(&cfg, "dns", "1", "t", err, sizeof err) == 0);
    CHECK(config_set(&cfg, "hd", "4", "t", err, sizeof err) == 0);
    CHECK(module_is_enabled(&dns_module, module_config(&cfg, &dns_module), &cfg));
    CHECK(module_is_enabled(&hd_module, module_config(&cfg, &hd_module), &cfg));
    /* dtls=2 follows tls through the tls module itself, not a key string */
    CHECK(!module_is_enabled(&dtls_module, module_config(&cfg, &dtls_module), &cfg));
    CHECK(config_set(&cfg, "tls", "1", "t", err, sizeof err) == 0);
    CHECK(module_is_enabled(&dtls_module, module_config(&cfg, &dtls_module), &cfg));
    CHECK(config_set(&cfg, "dtls", "0", "t", err, sizeof err) == 0);
    CHECK(!module_is_enabled(&dtls_module, module_config(&cfg, &dtls_module), &cfg));
    CHECK(module_config(&cfg, NULL) == NULL);
    config_free(&cfg);
}

static void test_markers(void)
{
    void *s = NULL;
    module_note(&s);
    CHECK(s == MODULE_NOTED && !module_state_is_data(s));
    module_decline(&s);
    CHECK(s == MODULE_DECLINED && !module_state_is_data(s));
    int x;
    s = &x;
    module_note(&s); /* a note never replaces real state */
    CHECK(s == &x && module_state_is_data(s));
    CHECK(!module_state_is_data(NULL));
}

/* The context maps table indexes to slots in table order. */
static void test_context_slots(void)
{
    char err[256];
    struct joy_config *cfg = joy_config_new(err, sizeof err);
    CHECK(cfg != NULL);
    CHECK(joy_config_set(cfg, "dist", "1", NULL, err, sizeof err) == JOY_OK);
    CHECK(joy_config_set(cfg, "dns", "1", NULL, err, sizeof err) == JOY_OK);
    struct joy_context *ctx = joy_context_new(cfg, err, sizeof err);
    joy_config_free(cfg);
    CHECK(ctx != NULL);
    if (!ctx)
        return;
    int prev = -1;
    for (size_t i = 0; i < ctx->n_mod; i++) {
        CHECK(ctx->slot_of[ctx->mod_index[i]] == (int)i);
        CHECK((int)ctx->mod_index[i] > prev); /* table order = record order */
        prev = (int)ctx->mod_index[i];
    }
    CHECK(ctx->slot_of[table_index(&bytedist_module)] >= 0);
    CHECK(ctx->slot_of[table_index(&dns_module)] >= 0);
    CHECK(ctx->slot_of[table_index(&hd_module)] == -1);
    joy_context_free(ctx);
}

/* A module reads the dist module's counts of the same flow. */
static void test_typed_access(void)
{
    char err[256];
    struct joy_config *cfg = joy_config_new(err, sizeof err);
    CHECK(joy_config_set(cfg, "dist", "1", NULL, err, sizeof err) == JOY_OK);
    struct joy_context *ctx = joy_context_new(cfg, err, sizeof err);
    joy_config_free(cfg);
    CHECK(ctx != NULL);
    if (!ctx)
        return;
    int slot = ctx->slot_of[table_index(&bytedist_module)];
    CHECK(slot >= 0);
    struct module_env env;
    memset(&env, 0, sizeof env);
    env.cfg = ctx->cfg.modcfg[table_index(&bytedist_module)];
    env.data = ctx->mod_data[slot];
    env.core = &ctx->cfg;
    env.ctx = ctx;
    void *states[JOY_MAX_MODULES] = {0};
    struct flow f;
    memset(&f, 0, sizeof f);
    f.mod = states;
    uint64_t k[256];
    CHECK(bytedist_of(&env, &f, k) == 0 && k['a'] == 0); /* no state yet */
    static const uint8_t text[] = "aab";
    struct packet p;
    memset(&p, 0, sizeof p);
    p.ipver = 4;
    p.proto = 17;
    p.payload = text;
    p.payload_cap = p.payload_len = 3;
    bytedist_module.packet(&env, &states[slot], &f, &p, 0);
    bytedist_module.packet(&env, &states[slot], &f, &p, 1);
    CHECK(bytedist_of(&env, &f, k) == 6);
    CHECK(k['a'] == 4 && k['b'] == 2 && k['c'] == 0);
    CHECK(module_state(&env, &f, &bytedist_module) == states[slot]);
    CHECK(module_state(&env, &f, &dns_module) == NULL); /* dns is off */
    void *real = states[slot];
    states[slot] = MODULE_DECLINED;
    CHECK(module_state(&env, &f, &bytedist_module) == NULL);
    CHECK(bytedist_of(&env, &f, k) == 0);
    states[slot] = real;
    bytedist_module.free_state(real);
    joy_context_free(ctx);
}

void run_module_tests(void)
{
    TEST_RUN(test_default_enabled);
    TEST_RUN(test_markers);
    TEST_RUN(test_context_slots);
    TEST_RUN(test_typed_access);
}

/*
 * fuzz_udpmod.h - drive one UDP handshake module (quic, dtls) through its
 * joy_module interface, fingerprints included.  Input (the layout of
 * fuzz_appmod.h, UDP only):
 *   byte 0: mode (bit 0: the flow's first packet is the server's)
 *   then packets: <ctl> <len u16 big-endian> <len bytes>; ctl bit 0: sent
 *   by the server; bit 2: the capture holds fewer bytes than the packet had.
 * The record fields and both fingerprint objects must be valid JSON.
 */
#ifndef JOY_FUZZ_UDPMOD_H
#define JOY_FUZZ_UDPMOD_H

#include "flow.h"
#include "jsonw.h"
#include "module.h"
#include "packet.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline void fuzz_udpmod(const struct joy_module *mod, const uint8_t *data, size_t size)
{
    if (size < 1)
        return;
    data++;
    size--;
    void *cfg = calloc(1, mod->config_size ? mod->config_size : 1);
    if (!cfg)
        return;
    *(bool *)cfg = true; /* the module's bool switch comes first */
    /* the module's run data and one meter's scratch, made once (as a
     * context and a meter would) */
    static void *data_, *scratch;
    static bool set_up;
    struct module_env env;
    memset(&env, 0, sizeof env);
    env.cfg = cfg;
    if (!set_up) {
        char err[256];
        if (mod->setup && mod->setup(cfg, NULL, &data_, err, sizeof err) != 0) {
            fprintf(stderr, "%s\n", err);
            abort();
        }
        env.data = data_;
        if (mod->worker_init && mod->worker_init(&env, &scratch, err, sizeof err) != 0) {
            fprintf(stderr, "%s\n", err);
            abort();
        }
    }
    set_up = true;
    env.data = data_;
    env.scratch = scratch;
    struct flow f;
    memset(&f, 0, sizeof f);
    f.key.proto = 17;
    f.key.ipver = 4;
    f.key.port[0] = 50000;
    f.key.port[1] = 443;
    void *state = NULL;
    while (size >= 3) {
        uint8_t ctl = data[0];
        size_t n = ((size_t)data[1] << 8) | data[2];
        data += 3;
        size -= 3;
        if (n > size)
            n = size;
        int dir = ctl & 1;
        struct packet p;
        memset(&p, 0, sizeof p);
        p.ipver = 4;
        p.proto = 17;
        p.has_ports = true;
        p.sport = f.key.port[dir];
        p.dport = f.key.port[!dir];
        p.payload = data;
        p.payload_cap = (uint32_t)n;
        p.payload_len = (uint32_t)n + ((ctl & 4) ? 100u : 0u);
        if (state != MODULE_DECLINED) /* as the meter does */
            mod->packet(&env, &state, &f, &p, dir);
        data += n;
        size -= n;
    }
    struct jsonw w;
    jw_init(&w);
    jw_obj_open(&w);
    if (state && state != MODULE_DECLINED) {
        mod->write_json(&env, state, &f, &w);
        for (int d = 0; d < 2; d++) {
            jw_key(&w, d ? "fingerprints_in" : "fingerprints");
            jw_obj_open(&w);
            mod->write_fingerprints(&env, state, &f, &w, d);
            jw_close(&w);
        }
    }
    jw_finish(&w);
    if (!json_validate(w.buf, w.len)) {
        fprintf(stderr, "invalid JSON: %.*s\n", (int)w.len, w.buf);
        abort();
    }
    jw_free(&w);
    if (module_state_is_data(state))
        mod->free_state(state);
    free(cfg);
}

#endif

/*
 * fuzz_appmod.h - drive one message module (dns, dhcp, ike) directly
 * through its joy_module interface: packets in, record fields out, and the
 * JSON must be valid.  Input:
 *   byte 0: bits 0-1 pick the port pair (module's table), bit 2 TCP instead
 *           of UDP, bit 3 the flow is anonymised (addresses written as null)
 *   then packets: <ctl> <len u16 big-endian> <len bytes>
 *     ctl bit 0: sent by the server; bit 1: first IP fragment (the UDP
 *     length says 64 more bytes); bit 2: the capture holds fewer bytes than
 *     the packet had (snap length); bit 3: SYN; bits 4-7: the TCP sequence
 *     number moves back by that many bytes (overlaps, retransmissions).
 * TCP sequence numbers start just below 2^32 so streams cross the wrap.
 */
#ifndef JOY_FUZZ_APPMOD_H
#define JOY_FUZZ_APPMOD_H

#include "flow.h"
#include "jsonw.h"
#include "module.h"
#include "packet.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline void fuzz_appmod(const struct joy_module *mod, const uint16_t ports[4][2],
                               const uint8_t *data, size_t size)
{
    if (size < 1)
        return;
    uint8_t mode = data[0];
    data++;
    size--;
    void *cfg = calloc(1, mod->config_size ? mod->config_size : 1);
    if (!cfg)
        return;
    *(bool *)cfg = true; /* every module here starts with its bool switch */
    struct module_env env;
    memset(&env, 0, sizeof env); /* no anonymiser */
    env.cfg = cfg;
    struct flow f;
    memset(&f, 0, sizeof f);
    bool tcp = mode & 4;
    f.key.proto = tcp ? 6 : 17;
    f.key.ipver = 4;
    f.anon = (mode & 8) != 0;
    const uint16_t *pp = ports[mode & 3];
    f.key.port[0] = pp[0];
    f.key.port[1] = pp[1];
    uint32_t seq[2] = {0xfffffff0u, 0x7ffffff0u};
    uint8_t l4[20];
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
        p.proto = f.key.proto;
        p.has_ports = true;
        p.sport = pp[dir];
        p.dport = pp[!dir];
        p.payload = data;
        p.payload_cap = (uint32_t)n;
        p.payload_len = (uint32_t)n + ((ctl & 4) ? 100u : 0u);
        memset(l4, 0, sizeof l4);
        if (ctl & 2) {
            p.frag = FRAG_FIRST;
            uint32_t ulen = p.payload_len + 8 + 64;
            l4[4] = (uint8_t)(ulen >> 8);
            l4[5] = (uint8_t)ulen;
            p.udp_len = (uint16_t)ulen;
        }
        p.l4 = l4;
        p.l4_cap = sizeof l4;
        if (tcp) {
            seq[dir] -= (uint32_t)(ctl >> 4);
            p.tcp_seq = seq[dir];
            p.tcp_flags = (ctl & 8) ? TCP_SYN : TCP_ACK;
            seq[dir] += p.payload_len + ((ctl & 8) ? 1u : 0u);
        }
        if (state != MODULE_DECLINED) /* as the meter does */
            mod->packet(&env, &state, &f, &p, dir);
        data += n;
        size -= n;
    }

    struct jsonw w;
    jw_init(&w);
    jw_obj_open(&w);
    if (state && state != MODULE_DECLINED)
        mod->write_json(&env, state, &f, &w);
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

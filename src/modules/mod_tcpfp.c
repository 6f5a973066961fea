/*
 * \summary: tcpfp module - the TCP part of "fingerprints" (fpx=1)
 *
 * No option of its own: it works when the core option fpx=1.  It writes
 *   "fingerprints":    {"tcp": "<fp of sa's first SYN>", ...}
 *   "fingerprints_in": {"tcp": "<fp of da's first SYN/ACK>", ...}
 * from the TCP options of the first packet with the SYN flag sent by each
 * side (the core keeps those option bytes: flow.h syn_opts).  The format
 * is Joy's (and mercury's TCP option list): the options in wire order, one
 * parenthesised lowercase-hex element per option; MSS (kind 2) and window
 * scale (kind 3) keep all their bytes (kind, length, value), every other
 * option only its kind byte:
 *   MSS 1460, SACK permitted, timestamps, NOP, WS 7 ->
 *   "(020405b4)(04)(08)(01)(030307)"
 * End of option list (kind 0) is written "(00)" and ends the list.  An
 * option whose length byte is missing, below 2 or runs past the option
 * bytes is written as its kind alone and ends the list.  A SYN without
 * options gives "".  No fingerprint is written when the SYN's options were
 * not all captured (snap length, or a data offset larger than the segment).
 * In a unidirectional record (bidir=0) side 0 is the record's sender, so
 * a server's record carries its SYN/ACK fingerprint in "fingerprints".
 *
 * Per-flow state: none is allocated.  The record writer calls the
 * fingerprint hook only for flows the module stored state or a note for,
 * so at a flow's first SYN packet the module notes the flow
 * (module_note()).
 */
#include "cursor.h"
#include "flow.h"
#include "jsonw.h"
#include "module.h"
#include "packet.h"

#include <stdint.h>

/* Longest string: 40 option bytes -> at most 40 * 4 characters + NUL. */
#define TCPFP_MAX (TCP_OPT_MAX * 4 + 1)


static bool tcpfp_enabled(const void *cfg, const struct joy_config *core)
{
    (void)cfg;
    return core->fpx; /* no option of its own: on with fpx=1 */
}

static void tcpfp_packet(const struct module_env *env, void **state, const struct flow *f,
                         const struct packet *p, int dir)
{
    (void)f;
    (void)dir;
    if (*state || p->proto != 6 || !p->has_ports || !(p->tcp_flags & TCP_SYN))
        return;
    module_note(state);
}

static void put_hex(char *buf, size_t *n, uint8_t b)
{
    static const char hex[] = "0123456789abcdef";
    buf[(*n)++] = hex[b >> 4];
    buf[(*n)++] = hex[b & 15];
}

/*
 * Format the option bytes as Joy's TCP fingerprint into buf (TCPFP_MAX
 * bytes).  Returns the string length.
 */
static size_t tcpfp_format(const uint8_t *opts, size_t len, char *buf)
{
    struct cursor c;
    size_t n = 0;
    cur_init(&c, opts, len);
    while (cur_left(&c) > 0) {
        const uint8_t *start = c.p;
        uint8_t kind = cur_u8(&c);
        size_t keep = 1; /* bytes of the option shown */
        bool stop = false;
        if (kind == 0) {
            stop = true;
        } else if (kind != 1) {
            uint8_t olen = cur_u8(&c);
            if (!cur_ok(&c) || olen < 2 || (size_t)(olen - 2) > cur_left(&c)) {
                stop = true;
            } else {
                cur_skip(&c, olen - 2u);
                if (kind == 2 || kind == 3)
                    keep = olen;
            }
        }
        buf[n++] = '(';
        for (size_t i = 0; i < keep; i++)
            put_hex(buf, &n, start[i]);
        buf[n++] = ')';
        if (stop)
            break;
    }
    buf[n] = '\0';
    return n;
}

static void tcpfp_fingerprints(const struct module_env *env, const void *state,
                               const struct flow *f, struct jsonw *w, int dir)
{
    (void)env;
    (void)state;
    const struct flow_side *s = &f->side[dir & 1];
    if (f->key.proto != 6 || !s->syn_seen || s->syn_optlen < s->syn_hdr_optlen)
        return;
    char buf[TCPFP_MAX];
    tcpfp_format(s->syn_opts, s->syn_optlen, buf);
    jw_kv_cstr(w, "tcp", buf);
}

const struct joy_module tcpfp_module = {
    .name = "tcpfp",
    .summary = "TCP option fingerprint of each side's SYN (with fpx=1)",
    .options = NULL,
    .config_size = 0,
    .interest = MI_TCP,
    .enabled = tcpfp_enabled,
    .packet = tcpfp_packet,
    .write_json = NULL,
    .write_fingerprints = tcpfp_fingerprints,
};

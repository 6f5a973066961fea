/*
 * \summary: os module - a crude operating-system guess from TTL and SYN window
 *
 * Option os=1 (default; os=0 turns it off).  For each side of a TCP flow
 * that sent a SYN (sa: its SYN, da: its SYN/ACK), the pair
 *   (minimum TTL / hop limit of all that side's counted packets,
 *    window field of that side's first SYN)
 * is looked up in the ten signatures the original Joy used (taken from
 * Tyagi et al., "Packet Inspection for Unauthorized OS Detection in
 * Enterprises", IEEE Security & Privacy magazine, table 1):
 *
 *   TTL 33-64:   5840 "Linux 2.4 and 2.6", 5720 "Google Customized Linux",
 *                16384 "OpenBSD, AIX 4.3", 32120 "Linux Kernel 2.2",
 *                65535 "FreeBSD / OS X"
 *   TTL 65-128:  8192 "Windows 7, Vista, and Server 8", 16384 "Windows 2000",
 *                65535 "Windows XP"
 *   TTL 129-255: 4128 "Cisco Router IOS 12.4", 8760 "Solaris 7"
 *
 * Output: "probable_os": {"out": "<name>", "in": "<name>"}, each member
 * only when that side matched, the whole field only when one did.
 * This is a heuristic of the 2000s: current Linux (window 29200 or 64240),
 * Windows 10/11 (64240, 65535) and macOS stacks mostly match nothing or the
 * wrong entry, and the window depends on the MSS, on tuning and on
 * middleboxes.  Treat it as a hint, never as an identification.
 *
 * Per-flow state: none is allocated; at a flow's first SYN packet the
 * module notes the flow (module_note()) so that write_json is called.
 */
#include "flow.h"
#include "jsonw.h"
#include "module.h"
#include "packet.h"

#include <stdint.h>

struct os_cfg {
    bool on;
};

struct os_sig {
    uint8_t ttl_lo, ttl_hi;
    uint16_t win;
    const char *name;
};

static const struct os_sig os_sigs[] = {
    {33, 64, 5840, "Linux 2.4 and 2.6"},
    {33, 64, 5720, "Google Customized Linux"},
    {33, 64, 16384, "OpenBSD, AIX 4.3"},
    {33, 64, 32120, "Linux Kernel 2.2"},
    {33, 64, 65535, "FreeBSD / OS X"},
    {65, 128, 8192, "Windows 7, Vista, and Server 8"},
    {65, 128, 16384, "Windows 2000"},
    {65, 128, 65535, "Windows XP"},
    {129, 255, 4128, "Cisco Router IOS 12.4"},
    {129, 255, 8760, "Solaris 7"},
};


static const struct joy_option os_options[] = {
    {"os", OPT_BOOL, offsetof(struct os_cfg, on), 0, 1, "1", "0|1",
     "probable_os: crude OS guess from minimum TTL and SYN window of each side"},
    {NULL, 0, 0, 0, 0, NULL, NULL, NULL},
};

static void os_packet(const struct module_env *env, void **state, const struct flow *f,
                      const struct packet *p, int dir)
{
    (void)env;
    (void)f;
    (void)dir;
    if (*state || p->proto != 6 || !p->has_ports || !(p->tcp_flags & TCP_SYN))
        return;
    module_note(state);
}

static const char *os_guess(const struct flow_side *s)
{
    if (!s->syn_seen || !s->ttl_seen)
        return NULL;
    for (size_t i = 0; i < sizeof os_sigs / sizeof os_sigs[0]; i++) {
        const struct os_sig *g = &os_sigs[i];
        if (s->min_ttl >= g->ttl_lo && s->min_ttl <= g->ttl_hi && s->syn_win == g->win)
            return g->name;
    }
    return NULL;
}

static void os_json(const struct module_env *env, const void *state, const struct flow *f,
                    struct jsonw *w)
{
    (void)env;
    (void)state;
    if (f->key.proto != 6)
        return;
    const char *out = os_guess(&f->side[0]), *in = os_guess(&f->side[1]);
    if (!out && !in)
        return;
    jw_key(w, "probable_os");
    jw_obj_open(w);
    if (out)
        jw_kv_cstr(w, "out", out);
    if (in)
        jw_kv_cstr(w, "in", in);
    jw_close(w);
}

const struct joy_module os_module = {
    .name = "os",
    .summary = "probable operating system from TTL and SYN window (a crude heuristic)",
    .options = os_options,
    .config_size = sizeof(struct os_cfg),
    .interest = MI_TCP,
    .packet = os_packet,
    .write_json = os_json,
};

/*
 * fuzz_tls.c - the TLS parser, its JSON writers and fingerprints, and the
 * tls module through the meter.  The first byte picks the mode:
 *   0  the rest is a TLS handshake message (header + body): ClientHello
 *      and ServerHello JSON fields and fingerprints
 *   1  the same with the DTLS handshake header
 *   2  an SSLv2-format ClientHello record
 *   3  a Certificate body (certificate_list): X.509 JSON via OpenSSL
 *   4+ a TCP connection through the meter with tls=1 fpx=1: byte 1 holds
 *      options (bit 0 retrans, bit 1 bidir=0, bit 2 reasm_bytes=1024,
 *      bits 3-5 num_pkts = 2^n), then segments
 *        <ctl> <len u16 big-endian> <len bytes>
 *      ctl bit 0: sent by the server; bit 1: sequence number moved back
 *      by ctl >> 2 bytes (a retransmission/overlap); bit 2 of a first
 *      segment: no handshake before it.  Sequence numbers start near
 *      2^32 so streams cross the wrap.
 * All JSON must be valid.
 */
#include "fuzz_common.h"
#include "tls_parse.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The run's OpenSSL state, made once (its certificate cache persists
 * across inputs, so cache hits are exercised too). */
static struct tls_ctx *run_ctx(void)
{
    static struct tls_ctx *ctx;
    if (!ctx && !(ctx = tls_ctx_new()))
        abort();
    return ctx;
}

static void check(struct jsonw *w)
{
    jw_finish(w);
    if (!json_validate(w->buf, w->len)) {
        fprintf(stderr, "invalid JSON: %.*s\n", (int)w->len, w->buf);
        abort();
    }
}

static void hello_json(const struct tls_hello *h)
{
    struct jsonw w;
    jw_init(&w);
    jw_obj_open(&w);
    const struct tls_hello *ch = h->type == TLS_HS_CLIENT_HELLO ? h : NULL;
    const struct tls_hello *sh = h->type == TLS_HS_SERVER_HELLO ? h : NULL;
    tls_json_versions(&w, ch, sh);
    tls_json_hellos(&w, ch, sh);
    tls_json_extras(&w, ch, sh);
    jw_key(&w, "fp");
    jw_obj_open(&w);
    tls_json_client_fingerprints(&w, ch, 't', run_ctx());
    tls_json_server_fingerprints(&w, sh, run_ctx());
    tls_json_partial(&w, ch, sh);
    jw_close(&w);
    check(&w);
    jw_free(&w);
    char small[16];
    if (ch) {
        tls_fp_npf(ch, small, sizeof small);
        tls_fp_ja3(ch, small, sizeof small);
    }
    if (sh)
        tls_fp_ja3s(sh, small, sizeof small);
}

/* raw IPv4 + TCP packet (DLT 101) */
static size_t build(uint8_t *pkt, int dir, uint32_t seq, uint32_t ack, uint8_t flags,
                    const uint8_t *pl, size_t n)
{
    static const uint8_t addr[2][4] = {{10, 0, 0, 1}, {10, 0, 0, 2}};
    static const uint16_t port[2] = {40000, 443};
    size_t tot = 40 + n;
    memset(pkt, 0, 40);
    pkt[0] = 0x45;
    pkt[2] = (uint8_t)(tot >> 8);
    pkt[3] = (uint8_t)tot;
    pkt[8] = 64;
    pkt[9] = 6;
    memcpy(pkt + 12, addr[dir], 4);
    memcpy(pkt + 16, addr[!dir], 4);
    uint8_t *t = pkt + 20;
    t[0] = (uint8_t)(port[dir] >> 8);
    t[1] = (uint8_t)port[dir];
    t[2] = (uint8_t)(port[!dir] >> 8);
    t[3] = (uint8_t)port[!dir];
    for (int i = 0; i < 4; i++) {
        t[4 + i] = (uint8_t)(seq >> (24 - 8 * i));
        t[8 + i] = (uint8_t)(ack >> (24 - 8 * i));
    }
    t[12] = 0x50;
    t[13] = flags;
    t[14] = 0xff;
    if (n)
        memcpy(pkt + 40, pl, n);
    return tot;
}

static void set(struct joy_config *cfg, const char *k, const char *v)
{
    char err[256];
    if (config_set(cfg, k, v, "fuzz", err, sizeof err) != 0)
        abort();
}

static void connection(const uint8_t *data, size_t size)
{
    if (size < 1)
        return;
    uint8_t opt = data[0];
    data++;
    size--;
    char err[512], v[16];
    struct joy_config cfg;
    if (config_init(&cfg, err, sizeof err) != 0)
        abort();
    set(&cfg, "tls", "1");
    set(&cfg, "max_flows", "16");
    set(&cfg, "fpx", "1");
    set(&cfg, "retrans", opt & 1 ? "1" : "0");
    set(&cfg, "bidir", opt & 2 ? "0" : "1");
    set(&cfg, "reasm_bytes", opt & 4 ? "1024" : "65536");
    snprintf(v, sizeof v, "%u", 1u << ((opt >> 3) & 7));
    set(&cfg, "num_pkts", v);
    struct joy_context *ctx;
    struct joy_meter *m = fuzz_meter_new(&cfg, &ctx);
    static uint8_t pkt[40 + 65536];
    uint32_t isn[2] = {0xfffff000u, 0x7ffffff0u};
    uint32_t pos[2] = {isn[0] + 1, isn[1] + 1};
    uint64_t ts = 1500000000000000000ull;
    size_t off = 0;
    bool first = true;
    while (size - off >= 3) {
        uint8_t ctl = data[off];
        size_t len = (size_t)data[off + 1] << 8 | data[off + 2];
        off += 3;
        if (len > size - off)
            len = size - off;
        if (first && !(ctl & 4)) {
            size_t n = build(pkt, 0, isn[0], 0, 0x02, NULL, 0);
            joy_meter_packet(m, 101, pkt, (uint32_t)n, (uint32_t)n, ts);
            n = build(pkt, 1, isn[1], isn[0] + 1, 0x12, NULL, 0);
            joy_meter_packet(m, 101, pkt, (uint32_t)n, (uint32_t)n, ts + 1000);
        }
        first = false;
        int dir = ctl & 1;
        uint32_t seq = pos[dir];
        if (ctl & 2)
            seq -= (uint32_t)(ctl >> 2);
        size_t n = build(pkt, dir, seq, pos[!dir], 0x18, data + off, len);
        ts += 1000000;
        joy_meter_packet(m, 101, pkt, (uint32_t)n, (uint32_t)n, ts);
        if (!(ctl & 2))
            pos[dir] += (uint32_t)len;
        off += len;
    }
    joy_meter_flush(m);
    fuzz_meter_free(m, ctx);
    config_free(&cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    data++;
    size--;
    struct tls_hello h;
    switch (mode) {
    case 0:
    case 1:
        if (tls_parse_handshake(&h, data, size, mode == 1) == 0)
            hello_json(&h);
        if (size > 4) {
            /* the body alone, as both hello types */
            if (tls_parse_hello(&h, TLS_HS_CLIENT_HELLO, data + 4, size - 4, mode == 1) == 0)
                hello_json(&h);
            if (tls_parse_hello(&h, TLS_HS_SERVER_HELLO, data + 4, size - 4, mode == 1) == 0)
                hello_json(&h);
        }
        break;
    case 2:
        if (tls_parse_sslv2_hello(&h, data, size) == 0)
            hello_json(&h);
        break;
    case 3: {
        struct jsonw w;
        jw_init(&w);
        jw_arr_open(&w);
        tls_json_cert_list(&w, data, size, 10, run_ctx());
        /* a second time: from the cache */
        tls_json_cert_list(&w, data, size, 10, run_ctx());
        jw_close(&w);
        check(&w);
        jw_free(&w);
        break;
    }
    default:
        connection(data, size);
        break;
    }
    return 0;
}

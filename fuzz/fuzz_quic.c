/*
 * fuzz_quic.c - the quic module (src/modules/mod_quic.c).  Mode byte bit 7 clear:
 * datagrams through the module interface (fuzz_udpmod.h), so headers,
 * coalescing, key derivation and decryption failures are exercised;
 * random bytes rarely pass the AEAD tag, so with bit 7 set the rest is
 * taken as plaintext Initial payloads instead (quic_fuzz_plain): frames,
 * CRYPTO reassembly, the TLS parser and the JSON/fingerprint writers.
 */
#include "fuzz_udpmod.h"
#include "quic_crypto.h"
#include "tls_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

extern const struct joy_module quic_module;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size >= 1 && (data[0] & 0x80)) {
        struct jsonw w;
        jw_init(&w);
        jw_obj_open(&w);
        static struct tls_ctx *tls; /* made once */
        if (!tls && !(tls = tls_ctx_new()))
            abort();
        quic_fuzz_plain(data + 1, size - 1, &w, tls);
        jw_finish(&w);
        if (!json_validate(w.buf, w.len)) {
            fprintf(stderr, "invalid JSON: %.*s\n", (int)w.len, w.buf);
            abort();
        }
        jw_free(&w);
        return 0;
    }
    fuzz_udpmod(&quic_module, data, size);
    return 0;
}

/*
 * fuzz_sct.c - the CT SCT list printer (tls_sct_list_text) against
 * OpenSSL's own (X509V3_EXT_print of the same extension): whenever joy's
 * printer accepts an input, its text must be OpenSSL's, byte for byte.
 * Byte 0 of the input chooses its form: even, the rest is the
 * extension's value as it is; odd, the rest is the TLS list body, wrapped
 * here in its list length and a DER OCTET STRING (so that the fuzzer
 * reaches the SCTs without having to guess two consistent lengths).
 */
#include "tls_parse.h"

#include <openssl/bio.h>
#include <openssl/x509v3.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 60000)
        return 0;
    uint8_t mode = data[0];
    data++;
    size--;
    uint8_t *ext = malloc(size + 8);
    if (!ext)
        return 0;
    size_t n = 0;
    if (mode & 1) {
        size_t inner = size + 2;
        ext[n++] = 0x04;
        if (inner < 0x80) {
            ext[n++] = (uint8_t)inner;
        } else if (inner < 0x100) {
            ext[n++] = 0x81;
            ext[n++] = (uint8_t)inner;
        } else {
            ext[n++] = 0x82;
            ext[n++] = (uint8_t)(inner >> 8);
            ext[n++] = (uint8_t)inner;
        }
        ext[n++] = (uint8_t)(size >> 8);
        ext[n++] = (uint8_t)size;
    }
    if (size)
        memcpy(ext + n, data, size);
    n += size;

    static char text[16384];
    size_t tl = tls_sct_list_text(ext, n, text, sizeof text);
    if (tl) {
        if (strlen(text) != tl)
            abort();
        /* OpenSSL's text of the same extension */
        ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
        X509_EXTENSION *ex = NULL;
        BIO *bio = BIO_new(BIO_s_mem());
        if (os && bio && ASN1_OCTET_STRING_set(os, ext, (int)n) &&
            (ex = X509_EXTENSION_create_by_NID(NULL, NID_ct_precert_scts, 0, os)) != NULL) {
            if (X509V3_EXT_print(bio, ex, 0, 0) <= 0)
                abort(); /* joy accepted what OpenSSL could not print */
            char *p = NULL;
            long pl = BIO_get_mem_data(bio, &p);
            if (pl < 0 || (size_t)pl != tl || memcmp(p, text, tl) != 0)
                abort();
        }
        X509_EXTENSION_free(ex);
        ASN1_OCTET_STRING_free(os);
        BIO_free(bio);
    }
    free(ext);
    return 0;
}

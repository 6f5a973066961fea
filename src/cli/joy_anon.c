/*
 * joy_anon.c - joy-anon: map addresses to and from joy's Crypto-PAn
 * pseudonyms with the key joy used (anon_key=).
 *
 *   joy-anon [-r] [-p] [-k KEYFILE] [ADDRESS ...]
 *
 * With no ADDRESS the addresses are read from standard input, one per line.
 * See usage() below and doc/joy-anon.1.
 */
#include "cryptopan.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#define JOY_ANON_VERSION "1.0.0"
#define DEFAULT_KEY "joy.anon.key"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: joy-anon [-r] [-p] [-k KEYFILE] [ADDRESS ...]\n"
            "\n"
            "Map IPv4 and IPv6 addresses to the Crypto-PAn pseudonyms that joy writes\n"
            "for anon=FILE, or with -r map pseudonyms back to the real addresses.\n"
            "The mapping is prefix-preserving: addresses that share their first k bits\n"
            "have pseudonyms that share their first k bits.  It is keyed: the same key\n"
            "always gives the same pseudonym, and without the key it cannot be undone.\n"
            "\n"
            "Options:\n"
            "  -k KEYFILE   the key joy used (its anon_key= option; default ./%s):\n"
            "               32 raw bytes or 64 hexadecimal digits.  joy-anon reads the\n"
            "               key, it never creates one.\n"
            "  -r           reverse: de-anonymise (pseudonym -> real address)\n"
            "  -p           print \"INPUT<TAB>OUTPUT\" instead of OUTPUT alone\n"
            "  -h, --help   this help\n"
            "  -V, --version  version of joy-anon and OpenSSL\n"
            "\n"
            "Each ADDRESS (dotted IPv4 or IPv6 text) gives one line of output, in order.\n"
            "With no ADDRESS, or ADDRESS '-', addresses are read from standard input, one\n"
            "per line; blank lines and text after '#' are skipped.\n"
            "\n"
            "joy only anonymises the addresses inside the subnets of its anon= file;\n"
            "joy-anon maps whatever it is given.  Which of a record's addresses are\n"
            "pseudonyms is in the record's \"anon\" member, e.g. \"anon\":[\"sa\"].\n"
            "\n"
            "Exit status: 0 every address mapped, 1 an input was not an address,\n"
            "2 usage error or unusable key file.\n"
            "\n"
            "Examples:\n"
            "  joy anon=share/internal.net anon_key=site.key -w flows.json.gz capture.pcap\n"
            "  joy-anon -k site.key -r 117.161.29.118     # the real address behind it\n"
            "  jq -r 'select(.anon) | .sa' flows.json | joy-anon -k site.key -r -p\n",
            DEFAULT_KEY);
}

static bool is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* Map one address given as text; 0, or 1 when it is not an address. */
static int map_one(struct cryptopan *cp, const char *text, bool reverse, bool pairs)
{
    uint8_t in[16], out[16];
    int af = strchr(text, ':') ? AF_INET6 : AF_INET;
    size_t nb = af == AF_INET6 ? 16 : 4;
    char buf[INET6_ADDRSTRLEN];
    if (inet_pton(af, text, in) != 1) {
        fprintf(stderr, "joy-anon: '%.60s' is not an IPv4 or IPv6 address\n", text);
        return 1;
    }
    int rc = reverse ? cryptopan_deanon(cp, in, nb, out) : cryptopan_anon(cp, in, nb, out);
    if (rc != 0 || !inet_ntop(af, out, buf, sizeof buf)) {
        fprintf(stderr, "joy-anon: cannot map '%s': cipher failure\n", text);
        return 1;
    }
    if (pairs)
        printf("%s\t%s\n", text, buf);
    else
        printf("%s\n", buf);
    return 0;
}

static int map_stream(struct cryptopan *cp, FILE *in, bool reverse, bool pairs)
{
    char line[512];
    unsigned long lineno = 0;
    int status = 0;
    while (fgets(line, sizeof line, in)) {
        lineno++;
        size_t n = strlen(line);
        if (n == sizeof line - 1 && line[n - 1] != '\n') {
            int c;
            while ((c = getc(in)) != EOF && c != '\n')
                ;
            fprintf(stderr, "joy-anon: line %lu: too long\n", lineno);
            status = 1;
            continue;
        }
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *s = line;
        while (is_space((unsigned char)*s))
            s++;
        n = strlen(s);
        while (n && is_space((unsigned char)s[n - 1]))
            s[--n] = '\0';
        if (!n)
            continue;
        if (map_one(cp, s, reverse, pairs) != 0)
            status = 1;
    }
    return status;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *keyfile = DEFAULT_KEY;
    bool reverse = false, pairs = false;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "k:rphV", longopts, NULL)) != -1) {
        switch (c) {
        case 'k': keyfile = optarg; break;
        case 'r': reverse = true; break;
        case 'p': pairs = true; break;
        case 'h': usage(stdout); return 0;
        case 'V':
            printf("joy-anon %s\n%s\n", JOY_ANON_VERSION, OpenSSL_version(OPENSSL_VERSION));
            return 0;
        default:
            if (optopt == 'k')
                fprintf(stderr, "joy-anon: option -k needs a key file (see joy-anon -h)\n");
            else if (optopt)
                fprintf(stderr, "joy-anon: unknown option -%c (see joy-anon -h)\n", optopt);
            else
                fprintf(stderr, "joy-anon: unknown option %s (see joy-anon -h)\n",
                        argv[optind - 1]);
            return 2;
        }
    }

    char err[512];
    uint8_t key[CRYPTOPAN_KEY_LEN];
    bool loose;
    if (cryptopan_key_load(keyfile, false, key, NULL, &loose, err, sizeof err) != 0) {
        fprintf(stderr, "joy-anon: %s\n", err);
        return 2;
    }
    if (loose)
        fprintf(stderr, "joy-anon: warning: %s: the key can be read by group or others "
                "(chmod 600 it)\n", keyfile);
    struct cryptopan *cp = cryptopan_new(key, err, sizeof err);
    cryptopan_wipe(key, sizeof key);
    if (!cp) {
        fprintf(stderr, "joy-anon: %s\n", err);
        return 2;
    }

    int status = 0;
    if (optind == argc) {
        status = map_stream(cp, stdin, reverse, pairs);
    } else {
        for (int i = optind; i < argc; i++) {
            int rc = strcmp(argv[i], "-") == 0 ? map_stream(cp, stdin, reverse, pairs)
                                               : map_one(cp, argv[i], reverse, pairs);
            if (rc)
                status = 1;
        }
    }
    cryptopan_free(cp);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        perror("joy-anon: standard output");
        return 1;
    }
    return status;
}

/*
 * addr_scrub.c - IP address literals in text, replaced by pseudonyms.
 *
 * See addr_scrub.h for what counts as a literal.  The scanner walks the
 * text once.  At each position that can start a literal (a digit or hex
 * letter or ':' not glued to a preceding letter, digit or '.'), it
 * takes the longest run of characters a literal may contain and tries
 * IPv4 on the run first, then IPv6.  A run that is neither is copied and
 * skipped as a whole, so no byte is examined more than twice.
 */
#include "addr_scrub.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
static bool is_alnum(char c) { return is_hex(c) || (c >= 'g' && c <= 'z') || (c >= 'G' && c <= 'Z'); }

/*
 * A dotted quad at s[0..n): exactly four decimal fields of 1-3 digits,
 * each <= 255.  The run was cut so that it has no further digits or dots
 * glued to it, except a final '.' that starts a name ("10.1.2.3.nip.io").
 */
static bool parse_v4(const char *s, size_t n, uint8_t out[4])
{
    size_t i = 0;
    for (int field = 0; field < 4; field++) {
        unsigned v = 0, digits = 0;
        while (i < n && is_digit(s[i]) && digits < 4) {
            v = v * 10 + (unsigned)(s[i] - '0');
            digits++;
            i++;
        }
        if (digits == 0 || digits > 3 || v > 255)
            return false;
        out[field] = (uint8_t)v;
        if (field < 3) {
            if (i >= n || s[i] != '.')
                return false;
            i++;
        }
    }
    return i == n;
}

/* Length of the run of IPv4 characters (digits and dots) at s, without a
 * trailing dot. */
static size_t v4_run(const char *s, size_t len)
{
    size_t n = 0;
    while (n < len && (is_digit(s[n]) || s[n] == '.'))
        n++;
    while (n > 0 && s[n - 1] == '.')
        n--;
    return n;
}

/* Length of the run of IPv6 characters (hex digits, ':' and '.') at s. */
static size_t v6_run(const char *s, size_t len)
{
    size_t n = 0;
    while (n < len && (is_hex(s[n]) || s[n] == ':' || s[n] == '.'))
        n++;
    return n;
}

static bool parse_v6(const char *s, size_t n, uint8_t out[16])
{
    char tmp[64];
    size_t colons = 0;
    for (size_t i = 0; i < n; i++)
        colons += s[i] == ':';
    if (colons < 2 || n >= sizeof tmp)
        return false;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    return inet_pton(AF_INET6, tmp, out) == 1;
}

/* The output: bytes are stored while they fit in cap, and n counts them
 * all, so a caller can learn the size it needs. */
struct sink {
    char *out;
    size_t cap, n;
};

static void emit(struct sink *o, const char *p, size_t k)
{
    if (o->n <= o->cap && k <= o->cap - o->n)
        memcpy(o->out + o->n, p, k);
    o->n += k;
}

/* Append the text of the pseudonym of the address (if hidden); true if so. */
static bool put_hidden(const uint8_t *bytes, int ipver, addr_hide_fn hide, void *ctx,
                       struct sink *o)
{
    struct ipaddr a, p;
    memset(&a, 0, sizeof a);
    memcpy(a.b, bytes, ipver == 4 ? 4 : 16);
    if (!hide(ctx, &a, ipver, &p))
        return false;
    char txt[INET6_ADDRSTRLEN];
    if (!inet_ntop(ipver == 4 ? AF_INET : AF_INET6, p.b, txt, sizeof txt))
        strcpy(txt, ipver == 4 ? "0.0.0.0" : "::");
    emit(o, txt, strlen(txt));
    return true;
}

/* An IPv6 literal; an IPv4-mapped one (::ffff:a.b.c.d) is an IPv4
 * address and is looked up as such. */
static bool put_hidden_v6(const uint8_t b[16], addr_hide_fn hide, void *ctx, struct sink *o)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(b, mapped, sizeof mapped) != 0)
        return put_hidden(b, 6, hide, ctx, o);
    size_t start = o->n;
    emit(o, "::ffff:", 7);
    if (put_hidden(b + 12, 4, hide, ctx, o))
        return true;
    o->n = start;
    return false;
}

size_t addr_scrub(const char *s, size_t len, addr_hide_fn hide, void *ctx, char *out,
                  size_t cap)
{
    struct sink o = {out, cap, 0};
    bool replaced = false;
    size_t i = 0;
    while (i < len) {
        char prev = i ? s[i - 1] : ' ';
        bool can_start = (is_hex(s[i]) || s[i] == ':') && !is_alnum(prev) && prev != '.';
        size_t n = 1; /* bytes of s to copy unchanged */
        if (can_start) {
            uint8_t b[16];
            size_t n4 = v4_run(s + i, len - i);
            bool glued = i + n4 < len && is_alnum(s[i + n4]); /* "1.2.3.4x" */
            if (n4 && !glued && parse_v4(s + i, n4, b) && put_hidden(b, 4, hide, ctx, &o)) {
                replaced = true;
                i += n4;
                continue;
            }
            size_t n6 = v6_run(s + i, len - i);
            if (n6 && parse_v6(s + i, n6, b) && put_hidden_v6(b, hide, ctx, &o)) {
                replaced = true;
                i += n6;
                continue;
            }
            /* not a hidden literal: copy the whole run */
            n = n6 > n4 ? n6 : n4;
            if (n == 0)
                n = 1;
        }
        emit(&o, s + i, n);
        i += n;
    }
    return replaced ? o.n : 0;
}

/*
 * addr.c - the text form of an address (addr.h).
 *
 * Formatted by hand: inet_ntop() goes through sprintf() for every group,
 * which cost more than the rest of a default record's JSON.  The output is
 * byte for byte glibc's inet_ntop() (RFC 5952: lowercase hex without
 * leading zeros, the longest run of two or more zero groups -- the first
 * of equal runs -- as "::", and the dotted quad for IPv4-compatible
 * "::a.b.c.d" and IPv4-mapped "::ffff:a.b.c.d" addresses); the unit test
 * compares the two on structured and random addresses.
 */
#include "addr.h"

#include <arpa/inet.h>
#include <string.h>

/* a byte in decimal, "0" to "255" */
static char *put_u8(char *o, unsigned v)
{
    if (v >= 100) {
        *o++ = (char)('0' + v / 100);
        v %= 100;
        *o++ = (char)('0' + v / 10);
        *o++ = (char)('0' + v % 10);
    } else if (v >= 10) {
        *o++ = (char)('0' + v / 10);
        *o++ = (char)('0' + v % 10);
    } else {
        *o++ = (char)('0' + v);
    }
    return o;
}

static char *put_quad(char *o, const uint8_t *b)
{
    for (int i = 0; i < 4; i++) {
        if (i)
            *o++ = '.';
        o = put_u8(o, b[i]);
    }
    return o;
}

static char *put_hex16(char *o, unsigned v)
{
    static const char hex[] = "0123456789abcdef";
    int shift = v >= 0x1000 ? 12 : v >= 0x100 ? 8 : v >= 0x10 ? 4 : 0;
    for (; shift >= 0; shift -= 4)
        *o++ = hex[(v >> shift) & 15];
    return o;
}

static char *put_v6(char *o, const uint8_t *b)
{
    unsigned words[8];
    for (int i = 0; i < 8; i++)
        words[i] = (unsigned)b[2 * i] << 8 | b[2 * i + 1];
    /* the longest run of zero groups, the first of equal ones */
    int best = -1, best_len = 0, cur = -1, cur_len = 0;
    for (int i = 0; i < 8; i++) {
        if (words[i] == 0) {
            if (cur < 0) {
                cur = i;
                cur_len = 1;
            } else {
                cur_len++;
            }
        } else if (cur >= 0) {
            if (best < 0 || cur_len > best_len) {
                best = cur;
                best_len = cur_len;
            }
            cur = -1;
        }
    }
    if (cur >= 0 && (best < 0 || cur_len > best_len)) {
        best = cur;
        best_len = cur_len;
    }
    if (best >= 0 && best_len < 2)
        best = -1;
    for (int i = 0; i < 8; i++) {
        if (best >= 0 && i >= best && i < best + best_len) {
            if (i == best)
                *o++ = ':';
            continue;
        }
        if (i)
            *o++ = ':';
        if (i == 6 && best == 0 && (best_len == 6 || (best_len == 5 && words[5] == 0xffff)))
            return put_quad(o, b + 12);
        o = put_hex16(o, words[i]);
    }
    if (best >= 0 && best + best_len == 8)
        *o++ = ':';
    return o;
}

size_t ipaddr_fmt(const struct ipaddr *a, int ipver, char buf[IPADDR_STRLEN])
{
    char *end = ipver == 6 ? put_v6(buf, a->b) : put_quad(buf, a->b);
    *end = '\0';
    return (size_t)(end - buf);
}

const char *ipaddr_str(const struct ipaddr *a, int ipver, char *buf, size_t len)
{
    if (len >= IPADDR_STRLEN)
        ipaddr_fmt(a, ipver, buf);
    else if (!inet_ntop(ipver == 6 ? AF_INET6 : AF_INET, a->b, buf, (socklen_t)len) && len)
        buf[0] = '\0';
    return buf;
}

/* test_addr.c - ipaddr_fmt() writes what glibc's inet_ntop() writes. */
#include "addr.h"
#include "unit.h"

#include <arpa/inet.h>
#include <stdint.h>

static int same_as_inet_ntop(const uint8_t *b, int ipver)
{
    struct ipaddr a;
    memset(&a, 0, sizeof a);
    memcpy(a.b, b, ipver == 6 ? 16 : 4);
    char mine[IPADDR_STRLEN], ref[INET6_ADDRSTRLEN];
    size_t n = ipaddr_fmt(&a, ipver, mine);
    if (!inet_ntop(ipver == 6 ? AF_INET6 : AF_INET, a.b, ref, sizeof ref))
        return 0;
    if (strcmp(mine, ref) != 0 || n != strlen(ref)) {
        fprintf(stderr, "ipaddr_fmt: \"%s\", inet_ntop: \"%s\"\n", mine, ref);
        return 0;
    }
    char small[8];
    return strcmp(ipaddr_str(&a, ipver, small, sizeof small), strlen(ref) < sizeof small ? ref : "") == 0;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t next32(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

static void test_ipaddr_fmt(void)
{
    uint8_t b[16];
    int bad = 0;
    /* every byte value in every IPv4 position */
    for (int pos = 0; pos < 4; pos++)
        for (int v = 0; v < 256; v++) {
            memset(b, 0, sizeof b);
            b[pos] = (uint8_t)v;
            b[(pos + 1) % 4] = (uint8_t)(255 - v);
            bad += !same_as_inet_ntop(b, 4);
        }
    /* every pattern of zero / non-zero groups, with several group values
     * (1, 0xffff, 0x00ab, 0xa000), and the IPv4-compatible and -mapped forms */
    static const uint16_t vals[] = {1, 0xffff, 0x00ab, 0xa000, 0x0f0f};
    for (int mask = 0; mask < 256; mask++)
        for (size_t k = 0; k < sizeof vals / sizeof vals[0]; k++) {
            for (int g = 0; g < 8; g++) {
                uint16_t v = (mask >> g) & 1 ? (uint16_t)(vals[(k + (size_t)g) % 5]) : 0;
                b[2 * g] = (uint8_t)(v >> 8);
                b[2 * g + 1] = (uint8_t)v;
            }
            bad += !same_as_inet_ntop(b, 6);
            b[10] = b[11] = 0xff; /* group 5 = ffff */
            bad += !same_as_inet_ntop(b, 6);
        }
    /* random addresses, with random groups zeroed */
    for (int i = 0; i < 200000; i++) {
        uint32_t zero = next32();
        for (int g = 0; g < 8; g++) {
            uint32_t r = next32();
            if ((zero >> g) & 1)
                r = 0;
            else if ((zero >> (8 + g)) & 1)
                r &= 0xff;
            b[2 * g] = (uint8_t)(r >> 8);
            b[2 * g + 1] = (uint8_t)r;
        }
        bad += !same_as_inet_ntop(b, 6);
        bad += !same_as_inet_ntop(b, 4);
    }
    CHECK(bad == 0);
}

void run_addr_tests(void)
{
    TEST_RUN(test_ipaddr_fmt);
}

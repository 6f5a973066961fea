/* test_sockproc.c - the namespace's address list of the process lookup
 * (src/util/sockproc.c) survives a failed getifaddrs().
 *
 * mod_exe.c asks for a flow only when one of its addresses is in that
 * list; an empty list after one failed read would leave every new flow of
 * the next second without "exe".  getifaddrs() is interposed here (the
 * executable's definition wins over the C library's; it calls the real
 * one unless told to fail), so the failure can be made on demand. */
#include "sockproc.h"
#include "unit.h"

#include <dlfcn.h>
#include <errno.h>
#include <ifaddrs.h>
#include <string.h>
#include <time.h>

static int fail_ifaddrs;
static unsigned ifaddrs_calls;

int getifaddrs(struct ifaddrs **ifap)
{
    static int (*real)(struct ifaddrs **);
    ifaddrs_calls++;
    if (fail_ifaddrs) {
        errno = ENOBUFS;
        return -1;
    }
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "getifaddrs");
    if (!real) {
        errno = ENOSYS;
        return -1;
    }
    return real(ifap);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, ms % 1000 * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_locals_kept_on_failure(void)
{
    char err[256];
    /* loopback: the lo addresses count, so the list is not empty on a
     * host with no other interface */
    struct sockproc *sp = sockproc_new(false, true, err, sizeof err);
    if (!sp) {
        printf("  skipped: %s\n", err);
        return;
    }
    struct sp_addr before[64], after[64];
    size_t n0 = sockproc_locals(sp, before, 64);
    CHECK(n0 > 0);
    CHECK(ifaddrs_calls > 0);
    static const uint8_t lo4[16] = {127, 0, 0, 1};
    static const uint8_t doc4[16] = {192, 0, 2, 1};   /* TEST-NET-1: nobody's */
    /* an address not in the list makes the lookup read the list again
     * (100 ms after the last read): that read fails */
    sleep_ms(150);
    fail_ifaddrs = 1;
    unsigned calls = ifaddrs_calls;
    CHECK(!sockproc_is_local(sp, 4, doc4));
    CHECK(ifaddrs_calls == calls + 1);
    CHECK(sockproc_stats(sp)->ifaddrs_failed == 1);
    size_t n1 = sockproc_locals(sp, after, 64);
    CHECK(n1 == n0);
    CHECK(n1 == n0 && memcmp(before, after, n0 * sizeof before[0]) == 0);
    CHECK(sockproc_is_local(sp, 4, lo4));
    /* the next read that works replaces it */
    fail_ifaddrs = 0;
    sleep_ms(150);
    CHECK(!sockproc_is_local(sp, 4, doc4));
    CHECK(sockproc_stats(sp)->ifaddrs_failed == 1);
    CHECK(sockproc_locals(sp, after, 64) == n0);
    sockproc_free(sp);
}

void run_sockproc_tests(void)
{
    TEST_RUN(test_locals_kept_on_failure);
}

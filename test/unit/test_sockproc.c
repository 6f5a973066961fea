/* test_sockproc.c - the namespace's address list of the process lookup
 * (src/util/sockproc.c) survives a failed getifaddrs().
 *
 * mod_exe.c asks for a flow only when one of its addresses is in that
 * list; an empty list after one failed read would leave every new flow of
 * the next second without "exe".  getifaddrs() and freeifaddrs() are
 * interposed here (the executable's definitions win over the C
 * library's): they call the real ones, or fail, or return a list of one
 * address of our own, so that each case can be made on demand. */
#include "sockproc.h"
#include "unit.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>
#include <time.h>

enum ifaddrs_mode { IFA_REAL, IFA_FAIL, IFA_FAKE };
static enum ifaddrs_mode ifa_mode;
static unsigned ifaddrs_calls;

/* IFA_FAKE's list: one interface "fake0" with 192.0.2.7 (TEST-NET-1) */
static struct sockaddr_in fake_sin = {.sin_family = AF_INET};
static struct ifaddrs fake_ifa = {.ifa_name = "fake0", .ifa_flags = IFF_UP,
                                  .ifa_addr = (struct sockaddr *)&fake_sin};

int getifaddrs(struct ifaddrs **ifap)
{
    static int (*real)(struct ifaddrs **);
    ifaddrs_calls++;
    if (ifa_mode == IFA_FAIL) {
        errno = ENOBUFS;
        return -1;
    }
    if (ifa_mode == IFA_FAKE) {
        fake_sin.sin_addr.s_addr = htonl(0xc0000207);
        *ifap = &fake_ifa;
        return 0;
    }
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "getifaddrs");
    if (!real) {
        errno = ENOSYS;
        return -1;
    }
    return real(ifap);
}

void freeifaddrs(struct ifaddrs *ifa)
{
    static void (*real)(struct ifaddrs *);
    if (ifa == &fake_ifa)
        return;
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "freeifaddrs");
    if (real)
        real(ifa);
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
    ifa_mode = IFA_REAL;
    struct sockproc *sp = sockproc_new(false, true, err, sizeof err);
    if (!sp) {
        printf("  skipped: %s\n", err);
        return;
    }
    struct sp_addr before[64], after[64];
    size_t n0 = sockproc_locals(sp, before, 64);
    CHECK(n0 > 0);
    static const uint8_t fake4[16] = {192, 0, 2, 7};
    /* an address not in the list makes the lookup read the list again
     * (100 ms after the last read): that read fails, the list stays */
    sleep_ms(150);
    ifa_mode = IFA_FAIL;
    unsigned calls = ifaddrs_calls;
    CHECK(!sockproc_is_local(sp, 4, fake4));
    CHECK(ifaddrs_calls == calls + 1);
    CHECK(sockproc_stats(sp)->ifaddrs_failed == 1);
    CHECK(sockproc_locals(sp, after, 64) == n0 &&
          memcmp(before, after, n0 * sizeof before[0]) == 0);
    /* the next read that works replaces it */
    sleep_ms(150);
    ifa_mode = IFA_FAKE;
    CHECK(sockproc_is_local(sp, 4, fake4));
    CHECK(ifaddrs_calls == calls + 2);
    CHECK(sockproc_stats(sp)->ifaddrs_failed == 1);
    CHECK(sockproc_locals(sp, after, 64) == 1 && after[0].ipver == 4 &&
          memcmp(after[0].a, fake4, 4) == 0);
    ifa_mode = IFA_REAL;
    sockproc_free(sp);
}

void run_sockproc_tests(void)
{
    TEST_RUN(test_locals_kept_on_failure);
}

/*
 * privdrop.c - run as an ordinary user with no capabilities (privdrop.h).
 * No libcap: the capget/capset system calls and prctl() are enough.
 */
#include "privdrop.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

int privdrop_lookup(const char *user, struct privdrop_user *u, char *err, size_t errlen)
{
    errno = 0;
    struct passwd *pw = getpwnam(user);
    if (!pw) {
        char *end;
        unsigned long id = strtoul(user, &end, 10);
        if (*user && !*end)
            pw = getpwuid((uid_t)id);
    }
    if (!pw) {
        snprintf(err, errlen, "username=%s: no such user%s%s", user, errno ? ": " : "",
                 errno ? strerror(errno) : "");
        return -1;
    }
    snprintf(u->name, sizeof u->name, "%s", pw->pw_name);
    u->uid = pw->pw_uid;
    u->gid = pw->pw_gid;
    return 0;
}

static int caps_get(struct __user_cap_data_struct d[2])
{
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    memset(d, 0, 2 * sizeof *d);
    return (int)syscall(SYS_capget, &h, d);
}

bool privdrop_has_caps(void)
{
    struct __user_cap_data_struct d[2];
    if (caps_get(d) != 0)
        return false;
    for (int i = 0; i < 2; i++)
        if (d[i].effective || d[i].permitted)
            return true;
    return false;
}

static int last_cap(void)
{
    int last = 40;
    FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "r");
    if (f) {
        if (fscanf(f, "%d", &last) != 1)
            last = 40;
        fclose(f);
    }
    return last;
}

/* Every capability set is empty, as the kernel says. */
static int check_none(char *err, size_t errlen)
{
    struct __user_cap_data_struct d[2];
    if (caps_get(d) != 0) {
        snprintf(err, errlen, "cannot read the capabilities: %s", strerror(errno));
        return -1;
    }
    for (int i = 0; i < 2; i++) {
        if (d[i].effective || d[i].permitted || d[i].inheritable) {
            snprintf(err, errlen, "capabilities are left after dropping them");
            return -1;
        }
    }
    return 0;
}

int privdrop_caps(char *err, size_t errlen)
{
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    memset(d, 0, sizeof d);
    if (syscall(SYS_capset, &h, d) != 0) {
        snprintf(err, errlen, "cannot drop the capabilities: %s", strerror(errno));
        return -1;
    }
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    return check_none(err, errlen);
}

int privdrop_become(const struct privdrop_user *u, char *err, size_t errlen)
{
    /* the bounding set: nothing can come back through an exec either */
    int last = last_cap();
    for (int c = 0; c <= last; c++) {
        if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0 && errno != EINVAL) {
            snprintf(err, errlen, "cannot drop capability %d from the bounding set: %s", c,
                     strerror(errno));
            return -1;
        }
    }
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
    if (initgroups(u->name, u->gid) != 0) {
        snprintf(err, errlen, "username=%s: cannot set its groups: %s", u->name, strerror(errno));
        return -1;
    }
    if (setgid(u->gid) != 0) {
        snprintf(err, errlen, "username=%s: cannot change group to %u: %s", u->name,
                 (unsigned)u->gid, strerror(errno));
        return -1;
    }
    if (setuid(u->uid) != 0) {
        snprintf(err, errlen, "username=%s: cannot change user to %u: %s", u->name,
                 (unsigned)u->uid, strerror(errno));
        return -1;
    }
    if (u->uid != 0 && (setuid(0) == 0 || getuid() != u->uid || geteuid() != u->uid)) {
        snprintf(err, errlen, "username=%s: the change of user did not hold", u->name);
        return -1;
    }
    /* setuid() from root cleared the permitted and effective sets; a uid 0
     * target keeps its user but still loses every capability */
    return privdrop_caps(err, errlen);
}

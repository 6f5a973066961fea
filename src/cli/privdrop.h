/*
 * privdrop.h - running as an ordinary user once the capture and the output
 * are open (joy -Z USER, username=), with no capabilities left.
 *
 * As root: the bounding set and the ambient set are emptied, the
 * supplementary groups become USER's (initgroups), then setgid and setuid;
 * the kernel clears the permitted and effective sets at setuid, and
 * no_new_privs is set, so nothing can be gained back.  Started by an
 * ordinary user with file capabilities (setcap cap_net_raw,cap_net_admin+ep)
 * or ambient ones (systemd AmbientCapabilities=), privdrop_caps() drops
 * them all once the capture is open.  Both check the result in the
 * kernel's figures (capget) and fail rather than run with privileges left.
 */
#ifndef JOY_PRIVDROP_H
#define JOY_PRIVDROP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct privdrop_user {
    char name[256];
    uid_t uid;
    gid_t gid;
};

/* Look USER up (a name, or a numeric uid).  0, or -1 with a message. */
int privdrop_lookup(const char *user, struct privdrop_user *u, char *err, size_t errlen);

/* Become u for good.  Needs root (CAP_SETUID, CAP_SETGID, CAP_SETPCAP).
 * 0, or -1 with a message (the process may then be half-way: stop). */
int privdrop_become(const struct privdrop_user *u, char *err, size_t errlen);

/* Does the process hold any capability (effective, permitted or ambient)? */
bool privdrop_has_caps(void);

/* Drop every capability of the process (effective, permitted, inheritable,
 * ambient) without changing user.  0, or -1 with a message. */
int privdrop_caps(char *err, size_t errlen);

#endif

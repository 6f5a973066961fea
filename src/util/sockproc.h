/*
 * sockproc.h - which local process owns a socket (Linux).
 *
 * The plumbing of process attribution (exe=1, src/modules/mod_exe.c):
 *
 *   0. when built with libbpf (JOY_HAVE_BPF): the eBPF source
 *      (sockproc.bpf.c) reports each TCP connect, UDP sendto and
 *      connected UDP socket with its process; a tuple it reported is
 *      answered from that event first: the process read from /proc when it
 *      still runs (same start time), else described by the event (pid,
 *      ppid, uid, comm, start time, cgroup id) with its executable's path
 *      and hash from the executable cache, keyed by the kernel's identity
 *      of the file (device, inode, mtime), or from the event's path when
 *      that names the same file;
 *   1. an exact-tuple NETLINK_SOCK_DIAG (inet_diag) query, TCP or UDP,
 *      IPv4 or IPv6, gives the socket's inode (for a server whose accepted
 *      socket is already gone, a second query finds the listening socket);
 *   2. an inode -> process index, built from /proc/PID/fd, refreshed from
 *      the pids that the proc connector (NETLINK_CONNECTOR, CN_IDX_PROC,
 *      needs CAP_NET_ADMIN) reports as forked or exec'd, and by a full
 *      rescan of /proc on a miss (at most one per SP_RESCAN_MS);
 *   3. the process: name, path, SHA-256 of the executable read through
 *      /proc/PID/exe (cached by device, inode, size and modification time),
 *      start time (guards the index against pid reuse), ppid, uid, user,
 *      command line, cgroup and container id.
 *
 * The sockets looked up are those of the calling thread's network
 * namespace.  Every call blocks (netlink round trips, /proc reads): call
 * it from a helper thread, never on the packet path.  One struct sockproc
 * belongs to one thread.
 */
#ifndef JOY_SOCKPROC_H
#define JOY_SOCKPROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SP_RESCAN_MS 50        /* minimum interval between full /proc rescans */
#define SP_NAME_MAX 64
#define SP_PATH_MAX 512
#define SP_CMDLINE_MAX 256
#define SP_USER_MAX 64
#define SP_CGROUP_MAX 256

/* One endpoint pair: `local` is the side whose socket is looked up. */
struct sp_tuple {
    uint8_t ipver;             /* 4 or 6 */
    uint8_t proto;             /* 6 TCP, 17 UDP */
    uint16_t lport, rport;     /* host order */
    uint8_t local[16], remote[16]; /* IPv4: the first 4 bytes */
};

enum sp_method {
    SP_NONE = 0,
    SP_DIAG,                   /* the socket of the exact tuple (sock_diag) */
    SP_LISTENER,               /* the listening socket of the local port */
    SP_CACHE,                  /* a socket of this tuple seen earlier */
    SP_EBPF,                   /* the process an eBPF program saw on this tuple */
};

const char *sp_method_name(enum sp_method m);

struct sp_proc {
    enum sp_method method;
    int32_t pid, ppid;
    uint32_t uid;
    uint64_t start_ns;         /* process start, CLOCK_REALTIME ns */
    uint64_t inode;            /* the socket's inode */
    bool deleted;              /* the executable was deleted or replaced */
    bool have_hash;
    char name[SP_NAME_MAX];    /* comm */
    char path[SP_PATH_MAX];    /* the executable (without " (deleted)") */
    char hash[65];             /* SHA-256, lowercase hex */
    char user[SP_USER_MAX];    /* "" when the uid has no name */
    char cmdline[SP_CMDLINE_MAX]; /* arguments joined by ' ', capped */
    char cgroup[SP_CGROUP_MAX];   /* cgroup v2 path, "" for the root */
    char container[65];        /* a 64-hex container id in the cgroup path, or "" */
};

struct sp_stats {
    uint64_t lookups, diag, listener, cache, no_socket, no_process, not_local;
    uint64_t rescans, connector_events;
    uint64_t ebpf;             /* sides answered from eBPF events */
    uint64_t ebpf_events;      /* events read */
    uint64_t ebpf_gone;        /* ... whose process had exited before it was read */
    uint64_t ebpf_gone_exe;    /* ... of which the executable was known (cache or path) */
    uint64_t exe_learnt;       /* executables found by an event's path (and hashed) */
    uint64_t ifaddrs_failed;   /* getifaddrs() failures (the addresses read before kept) */
};

struct sockproc;

/* A lookup state for this thread's network namespace.  NULL (message in
 * err) when sock_diag is unavailable.  `loopback`: sockproc_sees_loopback()
 * of the capture.  `connector` says whether the proc
 * connector could be joined (else the index is refreshed by rescans). */
struct sockproc *sockproc_new(bool want_ebpf, bool loopback, char *err, size_t errlen);

/* Does a capture on `ifaces` (comma-separated names, or "any") see the
 * loopback interface?  Only then are 127/8 and the loopback interface's
 * addresses local (elsewhere such packets are not this host's sockets'). */
bool sockproc_sees_loopback(const char *ifaces);

/* The eBPF source (sockproc.bpf.c): when built and want_ebpf, sockproc_new
 * attaches programs to the cgroup v2 root (sockops TCP_CONNECT_CB,
 * sendmsg4/6, connect4/6 with egress) that report (tuple, process) for
 * joy's network namespace through a ring buffer; sockproc_events() reads them and reads each
 * process from /proc at once, so a socket closed before its sock_diag
 * lookup is still attributed (method SP_EBPF).  sockproc_ebpf_status: what
 * runs or why not, for the start-up line; sockproc_ebpf_built: for -V. */
const char *sockproc_ebpf_status(const struct sockproc *sp);
const char *sockproc_ebpf_built(void);
bool sockproc_has_connector(const struct sockproc *sp);

/* Can sock_diag be used, and the proc connector (*connector)?  0, or -1
 * with a message in err.  Cheap: no /proc scan. */
int sockproc_probe(bool *connector, char *err, size_t errlen);
void sockproc_free(struct sockproc *sp);

/* Read pending proc connector and eBPF events (non-blocking).  The file
 * descriptor to poll() for eBPF events (read them at once: the process may
 * exit soon), or -1; the proc connector is not worth a wake-up (read it
 * every few milliseconds). */
void sockproc_events(struct sockproc *sp);
int sockproc_event_fd(const struct sockproc *sp);

/* Is the address one of this namespace's (refreshed at most once a second,
 * and once more on a miss)? */
bool sockproc_is_local(struct sockproc *sp, uint8_t ipver, const uint8_t *addr);

/*
 * The process owning the socket with local endpoint t->local:lport and
 * remote endpoint t->remote:rport.  `server` allows the listening-socket
 * fallback.  Fills *out and returns true, or returns false (no socket, or
 * no process holds it).
 */
bool sockproc_lookup(struct sockproc *sp, const struct sp_tuple *t, bool server,
                     struct sp_proc *out);

/* This namespace's addresses (refreshed when older than a second): up to
 * cap of them into out; returns their number. */
struct sp_addr {
    uint8_t ipver;
    uint8_t a[16];
};
size_t sockproc_locals(struct sockproc *sp, struct sp_addr *out, size_t cap);

const struct sp_stats *sockproc_stats(const struct sockproc *sp);

#endif

/*
 * sockproc.c - which local process owns a socket (Linux); see sockproc.h.
 *
 * sock_diag addressing (net/ipv4/inet_diag.c, udp_diag.c): for TCP the
 * request's idiag_src is the socket's local endpoint; for UDP the kernel
 * runs its receive lookup with src and dst swapped ("for historical
 * reasons"), so idiag_src is the remote endpoint.  That lookup also finds
 * unconnected (wildcard) UDP sockets, and for TCP a listener when no
 * connection matches: every reply is checked against the local port, and
 * a listener is accepted only when asked for (server side).
 */
#include "sockproc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>

#include <openssl/evp.h>

#include "sockproc_ev.h"

#ifdef JOY_HAVE_BPF
#include <bpf/libbpf.h>
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wcast-qual"
#include <sockproc.skel.h>   /* generated: bpftool gen skeleton (Makefile) */
#pragma GCC diagnostic pop
#endif

#define IDX_MIN 1024
#define DIRTY_MAX 1024
#define EXE_CACHE 128                     /* executables read (struct exe_ent) */
#define USER_CACHE 32
#define TUPLE_CACHE 512
#define TUPLE_CACHE_NS (300ull * 1000000000ull)
#define LOCAL_MAX 256
#define HASH_MAX_BYTES (512ull << 20)   /* larger executables are not hashed */
#define EV_CACHE 1024                     /* tuples reported by the eBPF programs */
#define EV_WAYS 8                         /* ... in sets of 8: the oldest is replaced */
#define EV_CACHE_NS (300ull * 1000000000ull)
#define CN_RCVBUF (4 << 20)               /* the connector is read every 10 ms */

struct idx_ent {
    uint64_t inode;   /* 0: empty */
    int32_t pid;
};

/*
 * The executables joy has read through /proc/PID/exe, for two purposes:
 * their SHA-256 is computed once per (device, inode, size, modification
 * time) as stat() reports them; and an eBPF event whose process exited
 * before joy read it, which carries the kernel's identity of the
 * executable (sockproc_ev.h: the inode's number, its super block's s_dev,
 * its i_mtime), finds its path and hash here under (kdev, kino, kmtime).
 *
 * That kernel identity is set when the entry is made, from the stat:
 * kdev = major << 20 | minor of st_dev (the kernel's internal dev_t, which
 * is not stat()'s encoding: glibc's makedev puts the minor's low byte
 * first), kino = st_ino.  On the usual file systems (ext4, xfs, tmpfs)
 * that is what the kernel reports.  Where stat() reports another device or
 * inode than the inode's own (overlayfs, btrfs subvolumes) it is corrected
 * by the first event whose process was read while it lived with the same
 * name (comm) it had at the event (not re-executed since).  Never guessed:
 * an exited process's executable is the file that its event's path names
 * when that file has the event's identity (exe_learn), else the entry of
 * that identity here, else unknown (no path, no hash).
 */
struct exe_ent {
    dev_t dev;                /* stat() of /proc/PID/exe */
    ino_t ino;
    off_t size;
    int64_t mtime_ns;
    uint32_t kdev;            /* the kernel's identity (above) */
    uint64_t kino;
    int64_t kmtime_ns;
    bool used;
    bool deleted;             /* no link left when read */
    char hex[65];             /* "" when not hashed (over HASH_MAX_BYTES) */
    char path[SP_PATH_MAX];   /* without " (deleted)" */
};

struct user_ent {
    uint32_t uid;
    bool used;
    char name[SP_USER_MAX];
};

struct tuple_ent {
    struct sp_tuple t;
    uint64_t when;
    struct sp_proc p;
    bool used;
};

struct local_addr {
    uint8_t ipver;
    uint8_t a[16];
};

struct sockproc {
    int diag_fd, cn_fd;
    uint32_t seq;
    struct idx_ent *idx;
    size_t idx_cap, idx_n;
    int32_t dirty[DIRTY_MAX];
    size_t n_dirty;
    bool dirty_overflow;
    uint64_t last_rescan;
    struct exe_ent exes[EXE_CACHE];
    unsigned exe_next;
    struct user_ent users[USER_CACHE];
    unsigned user_next;
    struct tuple_ent *tuples;
    struct local_addr locals[LOCAL_MAX];
    size_t n_locals;
    uint64_t locals_at;
    long clk_tck;
    struct sp_stats st;
    struct tuple_ent *evs;            /* EV_CACHE entries, when the eBPF source runs */
    char ebpf_status[384];            /* room for "eBPF (cgroup ...: on; not attached: off)" */
    uint64_t test_delay_ns;           /* JOY_TEST_EXE_EVENT_DELAY_MS (tests only) */
    int cg_fd;                        /* the cgroup v2 root the programs attach to, or -1 */
    char cg_root[SP_PATH_MAX];        /* ... its path as /proc/self/fd shows it */
    bool loopback;                    /* the capture sees the loopback interface */
#ifdef JOY_HAVE_BPF
    struct sockproc_bpf *skel;
    struct ring_buffer *rb;
#endif
};

const char *sp_method_name(enum sp_method m)
{
    switch (m) {
    case SP_DIAG: return "sock_diag";
    case SP_LISTENER: return "listener";
    case SP_CACHE: return "cache";
    case SP_EBPF: return "ebpf";
    default: return "none";
    }
}

static uint64_t now_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Wall-clock ns of a CLOCK_BOOTTIME instant (a process's start). */
static uint64_t boot_to_real_ns(uint64_t boot_ns)
{
    return now_ns(CLOCK_REALTIME) - now_ns(CLOCK_BOOTTIME) + boot_ns;
}

/* A file's modification time in ns, as stat() gives it. */
static int64_t stat_mtime_ns(const struct stat *st)
{
    return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

static void ebpf_events(struct sockproc *sp);

/* ---- the inode -> pid index --------------------------------------- */

static size_t idx_slot(uint64_t inode, size_t cap)
{
    return (size_t)((inode * 0x9E3779B97F4A7C15ull) >> 20) & (cap - 1);
}

static bool idx_grow(struct sockproc *sp)
{
    size_t cap = sp->idx_cap ? sp->idx_cap * 2 : IDX_MIN;
    struct idx_ent *n = calloc(cap, sizeof *n);
    if (!n)
        return false;
    for (size_t i = 0; i < sp->idx_cap; i++)
        if (sp->idx[i].inode) {
            size_t j = idx_slot(sp->idx[i].inode, cap);
            while (n[j].inode)
                j = (j + 1) & (cap - 1);
            n[j] = sp->idx[i];
        }
    free(sp->idx);
    sp->idx = n;
    sp->idx_cap = cap;
    return true;
}

static void idx_put(struct sockproc *sp, uint64_t inode, int32_t pid)
{
    if ((sp->idx_n + 1) * 2 > sp->idx_cap && !idx_grow(sp))
        return;
    size_t j = idx_slot(inode, sp->idx_cap);
    while (sp->idx[j].inode && sp->idx[j].inode != inode)
        j = (j + 1) & (sp->idx_cap - 1);
    if (!sp->idx[j].inode)
        sp->idx_n++;
    sp->idx[j].inode = inode;
    sp->idx[j].pid = pid;
}

static int32_t idx_get(const struct sockproc *sp, uint64_t inode)
{
    if (!sp->idx_cap)
        return 0;
    size_t j = idx_slot(inode, sp->idx_cap);
    while (sp->idx[j].inode) {
        if (sp->idx[j].inode == inode)
            return sp->idx[j].pid;
        j = (j + 1) & (sp->idx_cap - 1);
    }
    return 0;
}

/* Index the sockets that process `pid` holds open. */
static void scan_pid(struct sockproc *sp, int32_t pid)
{
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(dir);
    if (!d)
        return;
    int dfd = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        char link[64];
        ssize_t n = readlinkat(dfd, e->d_name, link, sizeof link - 1);
        if (n < 9 || memcmp(link, "socket:[", 8) != 0)
            continue;
        link[n] = 0;
        uint64_t ino = strtoull(link + 8, NULL, 10);
        if (ino)
            idx_put(sp, ino, pid);
    }
    closedir(d);
}

/* A full rescan of /proc takes milliseconds, and waits for SP_RESCAN_MS
 * since the previous one: meanwhile the eBPF events are read as they come
 * (their processes may be exiting), in the wait and every 32 processes. */
static void full_rescan(struct sockproc *sp)
{
    uint64_t t = now_ns(CLOCK_MONOTONIC);
    uint64_t next = sp->last_rescan + SP_RESCAN_MS * 1000000ull;
    while (sp->last_rescan && t < next) {
        int fd = sockproc_event_fd(sp);
        int ms = (int)((next - t + 999999) / 1000000);
        if (fd >= 0) {
            struct pollfd pfd = {fd, POLLIN, 0};
            poll(&pfd, 1, ms);
            ebpf_events(sp);
        } else {
            struct timespec ts = {0, (long)(next - t)};
            nanosleep(&ts, NULL);
        }
        t = now_ns(CLOCK_MONOTONIC);
    }
    if (sp->idx)
        memset(sp->idx, 0, sp->idx_cap * sizeof *sp->idx);
    sp->idx_n = 0;
    DIR *d = opendir("/proc");
    if (d) {
        struct dirent *e;
        unsigned n = 0;
        while ((e = readdir(d)))
            if (e->d_name[0] >= '1' && e->d_name[0] <= '9') {
                scan_pid(sp, (int32_t)atoi(e->d_name));
                if (++n % 32 == 0)
                    ebpf_events(sp);
            }
        closedir(d);
    }
    sp->n_dirty = 0;
    sp->dirty_overflow = false;
    sp->last_rescan = now_ns(CLOCK_MONOTONIC);
    sp->st.rescans++;
}

static void scan_dirty(struct sockproc *sp)
{
    for (size_t i = 0; i < sp->n_dirty; i++)
        scan_pid(sp, sp->dirty[i]);
    sp->n_dirty = 0;
}

/* ---- the proc connector -------------------------------------------- */

static int connector_open(void)
{
    int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_CONNECTOR);
    if (fd < 0)
        return -1;
    /* read every 10 ms rather than woken at each fork and exec: room for
     * a busy host's events in between (a loss means one full rescan) */
    int rcv = CN_RCVBUF;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv) != 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK, .nl_groups = CN_IDX_PROC};
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    /* nlmsghdr, cn_msg, then the operation (cn_msg ends in a flexible array) */
    enum proc_cn_mcast_op op = PROC_CN_MCAST_LISTEN;
    size_t len = NLMSG_LENGTH(sizeof(struct cn_msg) + sizeof op);
    uint64_t buf[(NLMSG_LENGTH(sizeof(struct cn_msg) + sizeof op) + 7) / 8];
    memset(buf, 0, sizeof buf);
    struct nlmsghdr *nh = (struct nlmsghdr *)buf;
    nh->nlmsg_len = (uint32_t)len;
    nh->nlmsg_type = NLMSG_DONE;
    struct cn_msg *cn = NLMSG_DATA(nh);
    cn->id.idx = CN_IDX_PROC;
    cn->id.val = CN_VAL_PROC;
    cn->len = sizeof op;
    memcpy(cn->data, &op, sizeof op);
    if (send(fd, buf, len, 0) != (ssize_t)len) {
        close(fd);
        return -1;
    }
    return fd;
}

/* The proc connector exists only in the initial network namespace: from
 * another one, open its socket there (setns for this thread only, needs
 * CAP_SYS_ADMIN) and come back; a socket keeps the namespace it was made
 * in.  Returns -2 when this thread could not return to its namespace. */
static int connector_open_any(void)
{
    int fd = connector_open();
    if (fd >= 0)
        return fd;
    int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    int init = open("/proc/1/ns/net", O_RDONLY | O_CLOEXEC);
    struct stat a, b;
    if (self >= 0 && init >= 0 && fstat(self, &a) == 0 && fstat(init, &b) == 0 &&
        a.st_ino != b.st_ino && setns(init, CLONE_NEWNET) == 0) {
        fd = connector_open();
        if (setns(self, CLONE_NEWNET) != 0) {
            if (fd >= 0)
                close(fd);
            fd = -2;
        }
    }
    if (self >= 0)
        close(self);
    if (init >= 0)
        close(init);
    return fd;
}

static void mark_dirty(struct sockproc *sp, int32_t pid)
{
    if (sp->n_dirty < DIRTY_MAX)
        sp->dirty[sp->n_dirty++] = pid;
    else
        sp->dirty_overflow = true;
}

static void connector_events(struct sockproc *sp)
{
    if (sp->cn_fd < 0)
        return;
    char buf[8192] __attribute__((aligned(8)));
    for (;;) {
        ssize_t n = recv(sp->cn_fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n <= 0) {
            if (n < 0 && errno == ENOBUFS)
                sp->dirty_overflow = true;   /* events lost */
            if (n < 0 && (errno == EINTR || errno == ENOBUFS))
                continue;
            return;
        }
        for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (size_t)n);
             nh = NLMSG_NEXT(nh, n)) {
            if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(struct cn_msg) + sizeof(struct proc_event)))
                continue;
            const struct cn_msg *cn = NLMSG_DATA(nh);
            const struct proc_event *ev = (const struct proc_event *)cn->data;
            sp->st.connector_events++;
            if (ev->what == PROC_EVENT_FORK)
                mark_dirty(sp, ev->event_data.fork.child_tgid);
            else if (ev->what == PROC_EVENT_EXEC)
                mark_dirty(sp, ev->event_data.exec.process_tgid);
        }
    }
}

void sockproc_events(struct sockproc *sp)
{
    connector_events(sp);
    ebpf_events(sp);
}

int sockproc_event_fd(const struct sockproc *sp)
{
#ifdef JOY_HAVE_BPF
    if (sp->rb)
        return ring_buffer__epoll_fd(sp->rb);
#endif
    (void)sp;
    return -1;
}
bool sockproc_has_connector(const struct sockproc *sp) { return sp->cn_fd >= 0; }

/* ---- sock_diag ------------------------------------------------------ */

struct diag_reply {
    uint64_t inode;
    uint8_t state;
    uint16_t sport;
};

/* One SOCK_DIAG_BY_FAMILY request for the exact id; true with *r filled. */
static bool diag_one(struct sockproc *sp, uint8_t ipver, uint8_t proto, const uint8_t *src,
                     uint16_t sport, const uint8_t *dst, uint16_t dport, struct diag_reply *r)
{
    struct {
        struct nlmsghdr nh;
        struct inet_diag_req_v2 req;
    } msg;
    memset(&msg, 0, sizeof msg);
    msg.nh.nlmsg_len = sizeof msg;
    msg.nh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    msg.nh.nlmsg_flags = NLM_F_REQUEST;
    msg.nh.nlmsg_seq = ++sp->seq;
    msg.req.sdiag_family = ipver == 6 ? AF_INET6 : AF_INET;
    msg.req.sdiag_protocol = proto;
    msg.req.idiag_states = ~0u;
    msg.req.id.idiag_sport = htons(sport);
    msg.req.id.idiag_dport = htons(dport);
    memcpy(msg.req.id.idiag_src, src, ipver == 6 ? 16 : 4);
    memcpy(msg.req.id.idiag_dst, dst, ipver == 6 ? 16 : 4);
    msg.req.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
    msg.req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
    struct sockaddr_nl nl = {.nl_family = AF_NETLINK};
    if (sendto(sp->diag_fd, &msg, sizeof msg, 0, (struct sockaddr *)&nl, sizeof nl) < 0)
        return false;
    char buf[4096] __attribute__((aligned(8)));
    bool found = false;
    for (;;) {
        ssize_t n = recv(sp->diag_fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        bool done = false;
        for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (size_t)n);
             nh = NLMSG_NEXT(nh, n)) {
            if (nh->nlmsg_seq != sp->seq)
                continue;   /* a late answer to an earlier request */
            done = true;
            if (nh->nlmsg_type == SOCK_DIAG_BY_FAMILY &&
                nh->nlmsg_len >= NLMSG_LENGTH(sizeof(struct inet_diag_msg))) {
                const struct inet_diag_msg *m = NLMSG_DATA(nh);
                r->inode = m->idiag_inode;
                r->state = m->idiag_state;
                r->sport = ntohs(m->id.idiag_sport);
                found = true;
            }
        }
        if (done)
            return found;
    }
}

#define TCP_LISTEN_STATE 10

/* The inode of the local socket of t (0 when none); *listener set when
 * it is a listening socket. */
static uint64_t diag_lookup(struct sockproc *sp, const struct sp_tuple *t, bool server,
                            bool *listener)
{
    struct diag_reply r;
    static const uint8_t any[16];
    *listener = false;
    if (t->proto == 6) {
        bool hit = diag_one(sp, t->ipver, 6, t->local, t->lport, t->remote, t->rport, &r);
        if (hit &&
            r.sport == t->lport && r.inode) {
            if (r.state != TCP_LISTEN_STATE)
                return r.inode;
            if (server) {
                *listener = true;
                return r.inode;
            }
            return 0;
        }
        /* the accepted socket is gone (or in TIME_WAIT): the listener */
        if (server && diag_one(sp, t->ipver, 6, t->local, t->lport, any, 0, &r) &&
            r.sport == t->lport && r.inode && r.state == TCP_LISTEN_STATE) {
            *listener = true;
            return r.inode;
        }
        return 0;
    }
    if (diag_one(sp, t->ipver, 17, t->remote, t->rport, t->local, t->lport, &r) &&
        r.sport == t->lport && r.inode)
        return r.inode;
    return 0;
}

/* ---- local addresses ------------------------------------------------ */

/* The namespace's addresses, again.  When getifaddrs() fails (its netlink
 * dumps can, on a busy or short-of-memory host) the list read before
 * stays: an empty one would make every flow of the next second "between
 * other hosts", never looked up (mod_exe.c declines them on the packet
 * path). */
static void locals_refresh(struct sockproc *sp)
{
    struct ifaddrs *ifa;
    sp->locals_at = now_ns(CLOCK_MONOTONIC);
    if (getifaddrs(&ifa) != 0) {
        sp->st.ifaddrs_failed++;
        return;
    }
    sp->n_locals = 0;
    for (struct ifaddrs *i = ifa; i && sp->n_locals < LOCAL_MAX; i = i->ifa_next) {
        if (!i->ifa_addr || ((i->ifa_flags & IFF_LOOPBACK) && !sp->loopback))
            continue;
        struct local_addr *l = &sp->locals[sp->n_locals];
        memset(l, 0, sizeof *l);
        if (i->ifa_addr->sa_family == AF_INET) {
            l->ipver = 4;
            memcpy(l->a, &((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr, 4);
            sp->n_locals++;
        } else if (i->ifa_addr->sa_family == AF_INET6) {
            l->ipver = 6;
            memcpy(l->a, &((struct sockaddr_in6 *)(void *)i->ifa_addr)->sin6_addr, 16);
            sp->n_locals++;
        }
    }
    freeifaddrs(ifa);
}

static bool locals_has(const struct sockproc *sp, uint8_t ipver, const uint8_t *addr)
{
    if (ipver == 4 && addr[0] == 127 && sp->loopback)
        return true;
    for (size_t i = 0; i < sp->n_locals; i++)
        if (sp->locals[i].ipver == ipver && memcmp(sp->locals[i].a, addr, ipver == 6 ? 16 : 4) == 0)
            return true;
    return false;
}

bool sockproc_is_local(struct sockproc *sp, uint8_t ipver, const uint8_t *addr)
{
    uint64_t t = now_ns(CLOCK_MONOTONIC);
    if (t - sp->locals_at > 1000000000ull)
        locals_refresh(sp);
    if (locals_has(sp, ipver, addr))
        return true;
    if (t - sp->locals_at > 100000000ull) {   /* a new address: look again */
        locals_refresh(sp);
        return locals_has(sp, ipver, addr);
    }
    return false;
}

/* Is one of the capture's interfaces (comma-separated names, or "any") the
 * loopback interface? */
bool sockproc_sees_loopback(const char *ifaces)
{
    if (!ifaces || strcmp(ifaces, "any") == 0)
        return true;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    bool lo = false;
    const char *p = ifaces;
    while (*p && !lo) {
        size_t n = strcspn(p, ",");
        struct ifreq ifr;
        memset(&ifr, 0, sizeof ifr);
        if (n < sizeof ifr.ifr_name) {
            memcpy(ifr.ifr_name, p, n);
            if (strcmp(ifr.ifr_name, "any") == 0 || strcmp(ifr.ifr_name, "lo") == 0)
                lo = true;
            else if (fd >= 0 && ioctl(fd, SIOCGIFFLAGS, &ifr) == 0 &&
                     (ifr.ifr_flags & IFF_LOOPBACK))
                lo = true;
        }
        p += n;
        if (*p == ',')
            p++;
    }
    if (fd >= 0)
        close(fd);
    return lo;
}

size_t sockproc_locals(struct sockproc *sp, struct sp_addr *out, size_t cap)
{
    if (now_ns(CLOCK_MONOTONIC) - sp->locals_at > 1000000000ull)
        locals_refresh(sp);
    size_t n = 0;
    for (; n < sp->n_locals && n < cap; n++) {
        out[n].ipver = sp->locals[n].ipver;
        memcpy(out[n].a, sp->locals[n].a, 16);
    }
    return n;
}

/* ---- process details ------------------------------------------------ */

static ssize_t read_small(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t n = 0;
    while (n + 1 < cap) {
        ssize_t k = read(fd, buf + n, cap - 1 - n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        n += (size_t)k;
    }
    close(fd);
    buf[n] = 0;
    return (ssize_t)n;
}

/* comm, ppid and start time (clock ticks after boot) from /proc/PID/stat. */
static bool read_stat(int32_t pid, char *comm, size_t commcap, int32_t *ppid, uint64_t *start)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if (read_small(path, buf, sizeof buf) <= 0)
        return false;
    char *l = strchr(buf, '('), *r = strrchr(buf, ')');
    if (!l || !r || r < l)
        return false;
    if (comm) {
        size_t n = (size_t)(r - l - 1);
        if (n >= commcap)
            n = commcap - 1;
        memcpy(comm, l + 1, n);
        comm[n] = 0;
    }
    /* after ") ": field 3 state, 4 ppid, ..., 22 starttime */
    char *p = r + 2;
    int field = 3;
    char *save = NULL;
    for (char *tok = strtok_r(p, " ", &save); tok; tok = strtok_r(NULL, " ", &save), field++) {
        if (field == 4 && ppid)
            *ppid = (int32_t)atoi(tok);
        if (field == 22) {
            *start = strtoull(tok, NULL, 10);
            return true;
        }
    }
    return false;
}

static void user_name(struct sockproc *sp, uint32_t uid, char *out, size_t cap)
{
    for (unsigned i = 0; i < USER_CACHE; i++)
        if (sp->users[i].used && sp->users[i].uid == uid) {
            snprintf(out, cap, "%s", sp->users[i].name);
            return;
        }
    struct passwd pw, *res = NULL;
    char buf[2048];
    struct user_ent *u = &sp->users[sp->user_next++ % USER_CACHE];
    u->used = true;
    u->uid = uid;
    u->name[0] = 0;
    if (getpwuid_r(uid, &pw, buf, sizeof buf, &res) == 0 && res && res->pw_name)
        snprintf(u->name, sizeof u->name, "%s", res->pw_name);
    snprintf(out, cap, "%s", u->name);
}

static void hash_fd(int fd, char hex[65])
{
    hex[0] = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (!c)
        return;
    unsigned char buf[65536], md[32];
    unsigned mdlen = 0;
    bool ok = EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1;
    uint64_t total = 0;
    while (ok) {
        ssize_t k = read(fd, buf, sizeof buf);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            ok = false;
        if (k <= 0)
            break;
        total += (uint64_t)k;
        if (total > HASH_MAX_BYTES)
            ok = false;
        else
            ok = EVP_DigestUpdate(c, buf, (size_t)k) == 1;
    }
    if (ok && EVP_DigestFinal_ex(c, md, &mdlen) == 1 && mdlen == 32)
        for (unsigned i = 0; i < 32; i++)
            snprintf(hex + 2 * i, 3, "%02x", md[i]);
    EVP_MD_CTX_free(c);
}

/* The kernel's internal dev_t (MKDEV) of a stat() st_dev. */
static uint32_t kdev_of(dev_t d)
{
    return (uint32_t)((major(d) << 20) | (minor(d) & 0xfffff));
}

/* The cache entry of the executable open as fd (stat st, modification
 * time mt), now named path: the one hashed before under this or another
 * name, else a new entry, hashed (the oldest one is replaced).  *added
 * says which. */
static struct exe_ent *exe_cache_get(struct sockproc *sp, int fd, const struct stat *st,
                                     int64_t mt, const char *path, bool deleted, bool *added)
{
    *added = false;
    for (unsigned i = 0; i < EXE_CACHE; i++) {
        struct exe_ent *h = &sp->exes[i];
        if (h->used && h->dev == st->st_dev && h->ino == st->st_ino &&
            h->size == st->st_size && h->mtime_ns == mt) {
            /* the path (a rename, a deletion) as it is named now */
            snprintf(h->path, sizeof h->path, "%s", path);
            h->deleted = deleted;
            return h;
        }
    }
    struct exe_ent *h = &sp->exes[sp->exe_next++ % EXE_CACHE];
    *h = (struct exe_ent){.dev = st->st_dev, .ino = st->st_ino, .size = st->st_size,
                          .mtime_ns = mt, .kdev = kdev_of(st->st_dev), .kino = st->st_ino,
                          .kmtime_ns = mt, .used = true, .deleted = deleted};
    hash_fd(fd, h->hex);
    snprintf(h->path, sizeof h->path, "%s", path);
    *added = true;
    return h;
}

/* Path and hash of the executable, through /proc/PID/exe itself (the
 * binary the process runs, even when its file was replaced or deleted).
 * Returns its entry in the executable cache, or NULL. */
static struct exe_ent *read_exe(struct sockproc *sp, int32_t pid, struct sp_proc *o)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/exe", (int)pid);
    ssize_t n = readlink(path, o->path, sizeof o->path - 1);
    o->path[n > 0 ? n : 0] = 0;
    /* a process exiting between the readlink and the open has a path
     * but no executable to hash any more: no path either (the caller
     * treats it as gone, not as a process whose binary was not hashed) */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        o->path[0] = 0;
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        o->path[0] = 0;
        return NULL;
    }
    static const char del[] = " (deleted)";
    size_t pl = strlen(o->path);
    if (st.st_nlink == 0) {
        o->deleted = true;
        if (pl >= sizeof del - 1 && strcmp(o->path + pl - (sizeof del - 1), del) == 0)
            o->path[pl - (sizeof del - 1)] = 0;
    }
    int64_t mt = stat_mtime_ns(&st);
    bool added;
    struct exe_ent *h = exe_cache_get(sp, fd, &st, mt, o->path, o->deleted, &added);
    close(fd);
    memcpy(o->hash, h->hex, sizeof o->hash);
    o->have_hash = o->hash[0] != 0;
    return h;
}

static void read_cmdline(int32_t pid, struct sp_proc *o)
{
    char path[64], buf[SP_CMDLINE_MAX];
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
    ssize_t n = read_small(path, buf, sizeof buf);
    if (n <= 0) {
        o->cmdline[0] = 0;
        return;
    }
    while (n > 0 && buf[n - 1] == 0)
        n--;
    for (ssize_t i = 0; i < n; i++)
        if (buf[i] == 0)
            buf[i] = ' ';
    memcpy(o->cmdline, buf, (size_t)n);
    o->cmdline[n] = 0;
}

static bool is_hex64(const char *s)
{
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* A cgroup v2 path ("/a/b") into o->cgroup (left "" for the root) and a
 * container id found in it into o->container. */
static void set_cgroup(struct sp_proc *o, const char *cg)
{
    o->cgroup[0] = o->container[0] = 0;
    if (strcmp(cg, "/") != 0)
        snprintf(o->cgroup, sizeof o->cgroup, "%s", cg);
    /* docker-<id>.scope, /docker/<id>, cri-containerd-<id>, libpod-<id> */
    size_t len = strlen(cg);
    for (size_t i = 0; i + 64 <= len; i++)
        if ((i == 0 || cg[i - 1] == '/' || cg[i - 1] == '-') && is_hex64(cg + i) &&
            (i + 64 == len || cg[i + 64] == '/' || cg[i + 64] == '.')) {
            memcpy(o->container, cg + i, 64);
            o->container[64] = 0;
            break;
        }
}

static void read_cgroup(int32_t pid, struct sp_proc *o)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/cgroup", (int)pid);
    o->cgroup[0] = o->container[0] = 0;
    if (read_small(path, buf, sizeof buf) <= 0)
        return;
    /* cgroup v2: the line "0::/path" */
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        if (strncmp(line, "0::", 3) == 0) {
            set_cgroup(o, line + 3);
            break;
        }
}

static bool read_uid(int32_t pid, uint32_t *uid)
{
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    if (read_small(path, buf, sizeof buf) <= 0)
        return false;
    const char *u = strstr(buf, "\nUid:");
    unsigned long real, eff;
    if (!u || sscanf(u + 5, "%lu %lu", &real, &eff) != 2)
        return false;
    *uid = (uint32_t)eff;   /* the effective uid: the one a socket is created with */
    return true;
}

/* The process `pid` from /proc into *o; its start time (clock ticks after
 * boot) into *ticks and its executable's cache entry into *exe when not
 * NULL.  False when it is gone, a zombie or kernel thread (no executable),
 * or was replaced by another process of the same pid while being read. */
static bool fill_proc(struct sockproc *sp, int32_t pid, struct sp_proc *o, uint64_t *ticks,
                      struct exe_ent **exe)
{
    uint64_t start = 0;
    memset(o, 0, sizeof *o);
    o->pid = pid;
    if (!read_stat(pid, o->name, sizeof o->name, &o->ppid, &start) || !read_uid(pid, &o->uid))
        return false;
    o->start_ns = boot_to_real_ns(start * (1000000000ull / (uint64_t)sp->clk_tck));
    user_name(sp, o->uid, o->user, sizeof o->user);
    struct exe_ent *x = read_exe(sp, pid, o);
    if (exe)
        *exe = x;
    if (!o->path[0])
        return false;   /* a zombie or a kernel thread: no executable */
    read_cmdline(pid, o);
    read_cgroup(pid, o);
    /* the process must still be the one we read (pid reuse) */
    uint64_t again = 0;
    if (ticks)
        *ticks = start;
    return read_stat(pid, NULL, 0, NULL, &again) && again == start;
}

/* Does `pid` still hold socket `inode`? */
static bool holds(int32_t pid, uint64_t inode)
{
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(dir);
    if (!d)
        return false;
    char want[48];
    int wl = snprintf(want, sizeof want, "socket:[%llu]", (unsigned long long)inode);
    bool yes = false;
    struct dirent *e;
    while (!yes && (e = readdir(d))) {
        char link[48];
        ssize_t n = readlinkat(dirfd(d), e->d_name, link, sizeof link);
        yes = n == wl && memcmp(link, want, (size_t)n) == 0;
    }
    closedir(d);
    return yes;
}

/* ---- the tuple cache ------------------------------------------------ */

static uint64_t tuple_hash(const struct sp_tuple *t)
{
    const uint8_t *b = (const uint8_t *)t;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < sizeof *t; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static struct tuple_ent *tuple_slot(struct sockproc *sp, const struct sp_tuple *t)
{
    return &sp->tuples[tuple_hash(t) % TUPLE_CACHE];
}

/* ---- the eBPF source ------------------------------------------------ */

/*
 * The event table: the processes the eBPF events named, by tuple, until
 * the helper's lookup of the flow asks for them (usually a few ms later;
 * seconds when the helper lags behind a burst of new flows).  EV_CACHE
 * entries in sets of EV_WAYS, a tuple's set chosen by its hash; a new
 * tuple replaces the oldest entry of its set, so an entry is lost only
 * after EV_WAYS newer tuples of its set (on average EV_CACHE newer
 * events), not at the first collision.
 */
static struct tuple_ent *ev_set(struct sockproc *sp, const struct sp_tuple *t)
{
    return &sp->evs[tuple_hash(t) % (EV_CACHE / EV_WAYS) * EV_WAYS];
}

/* The tuple an event reported, or NULL. */
static const struct sp_proc *ev_find(struct sockproc *sp, const struct sp_tuple *t)
{
    if (!sp->evs)
        return NULL;
    /* a tuple has one entry at most: ev_put() reuses it */
    const struct tuple_ent *set = ev_set(sp, t);
    for (unsigned i = 0; i < EV_WAYS; i++) {
        const struct tuple_ent *e = &set[i];
        if (e->used && memcmp(&e->t, t, sizeof *t) == 0)
            return now_ns(CLOCK_MONOTONIC) - e->when < EV_CACHE_NS ? &e->p : NULL;
    }
    return NULL;
}

#ifdef JOY_HAVE_BPF
/* The entry for a new event of tuple t: its own, else a free one, else
 * the oldest of its set. */
static struct tuple_ent *ev_put(struct sockproc *sp, const struct sp_tuple *t)
{
    struct tuple_ent *set = ev_set(sp, t), *victim = &set[0];
    for (unsigned i = 0; i < EV_WAYS; i++) {
        struct tuple_ent *e = &set[i];
        if (e->used && memcmp(&e->t, t, sizeof *t) == 0)
            return e;
        if (victim->used && (!e->used || e->when < victim->when))
            victim = e;
    }
    return victim;
}

/* The modification time of an event's executable, in ns. */
static int64_t ev_mtime_ns(const struct spb_proc *k)
{
    return k->exe_mtime_sec * 1000000000ll + (int64_t)k->exe_mtime_nsec;
}

static bool exe_key_eq(const struct exe_ent *x, const struct spb_proc *k)
{
    return x->used && x->kino == k->exe_ino && x->kdev == k->exe_dev &&
           x->kmtime_ns == ev_mtime_ns(k);
}

static struct exe_ent *exe_by_key(struct sockproc *sp, const struct spb_proc *k)
{
    if (!k->exe_ino)
        return NULL;
    for (unsigned i = 0; i < EXE_CACHE; i++)
        if (exe_key_eq(&sp->exes[i], k))
            return &sp->exes[i];
    return NULL;
}

/* The executable an event names by its path (sockproc_ev.h), when the file
 * that path names in joy's mount namespace is that executable (the
 * event's device, inode and modification time): into the executable
 * cache, hashed.  Its entry, or NULL (no path, another file, or a file
 * system whose stat() differs from the inode's own identity). */
static struct exe_ent *exe_learn(struct sockproc *sp, const struct spb_event *ev)
{
    const struct spb_proc *k = &ev->p;
    size_t len = ev->path_len;
    if (!k->exe_ino || !len || len > SPB_PATH_MAX || ev->path[len - 1] != 0)
        return NULL;
    /* the components, file first: joined in reverse order */
    const char *comp[SPB_PATH_DEPTH];
    size_t n = 0;
    for (size_t i = 0; i < len && n < SPB_PATH_DEPTH; i += strlen(ev->path + i) + 1)
        comp[n++] = ev->path + i;
    char path[SP_PATH_MAX];
    size_t pl = 0;
    for (size_t j = n; j-- > 0;) {
        size_t cl = strlen(comp[j]);
        if (!cl || strchr(comp[j], '/') || strcmp(comp[j], "..") == 0 || pl + 1 + cl >= sizeof path)
            return NULL;
        path[pl++] = '/';
        memcpy(path + pl, comp[j], cl);
        pl += cl;
    }
    if (!pl)
        return NULL;
    path[pl] = 0;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return NULL;
    }
    int64_t mt = stat_mtime_ns(&st);
    if (!S_ISREG(st.st_mode) || kdev_of(st.st_dev) != k->exe_dev ||
        st.st_ino != k->exe_ino ||
        mt != ev_mtime_ns(k)) {
        close(fd);
        return NULL;
    }
    /* hashed before (under this path or another name of the file), or now */
    bool added;
    struct exe_ent *h = exe_cache_get(sp, fd, &st, mt, path, false, &added);
    close(fd);
    if (added)
        sp->st.exe_learnt++;
    return h;
}

/* The cgroup v2 path of cgroup `id` (an event's: the inode number of its
 * directory, which is also its file handle on the cgroup2 file system:
 * open_by_handle_at needs CAP_DAC_READ_SEARCH) into o->cgroup and
 * o->container; nothing when it is gone or cannot be opened. */
static void cgroup_by_id(struct sockproc *sp, uint64_t id, struct sp_proc *o)
{
    if (sp->cg_fd < 0 || !id)
        return;
    union {
        struct file_handle fh;
        char buf[sizeof(struct file_handle) + sizeof(uint64_t)];
    } h;
    memset(&h, 0, sizeof h);
    h.fh.handle_bytes = sizeof id;
    h.fh.handle_type = 0xfe;   /* FILEID_KERNFS */
    memcpy(h.buf + sizeof(struct file_handle), &id, sizeof id);
    int fd = open_by_handle_at(sp->cg_fd, &h.fh, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return;
    char link[64], cg[SP_CGROUP_MAX + SP_PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, cg, sizeof cg - 1);
    close(fd);
    if (n <= 0)
        return;
    cg[n] = 0;
    /* the path below the mount point */
    size_t pl = strlen(sp->cg_root);
    if (strcmp(sp->cg_root, "/") == 0)
        set_cgroup(o, cg);
    else if (strncmp(cg, sp->cg_root, pl) == 0 && (cg[pl] == 0 || cg[pl] == '/'))
        set_cgroup(o, cg[pl] ? cg + pl : "/");
}

/* An event whose process had exited (or whose pid another process has
 * taken) when joy read it: described by the event alone (comm, pid, ppid,
 * uid, start time), and the path and hash of its executable when the
 * executable cache knows the kernel's identity of it, or the event's path
 * names that very file; nothing is guessed. */
static void ev_only(struct sockproc *sp, const struct spb_event *ev, struct sp_proc *p)
{
    const struct spb_proc *k = &ev->p;
    memset(p, 0, sizeof *p);
    p->pid = (int32_t)k->tgid;
    p->ppid = (int32_t)k->ppid;
    p->uid = k->uid;
    size_t n = strnlen(k->comm, sizeof k->comm);
    memcpy(p->name, k->comm, n);
    p->name[n] = 0;
    user_name(sp, p->uid, p->user, sizeof p->user);
    if (k->start_boottime)
        p->start_ns = boot_to_real_ns(k->start_boottime);
    cgroup_by_id(sp, k->cgroup_id, p);
    /* first the event's own path (the name the binary had when it ran),
     * then the cache: a file deleted since, or one that joy's mount
     * namespace names otherwise */
    const struct exe_ent *x = exe_learn(sp, ev);
    bool at_path = x != NULL;
    if (!x)
        x = exe_by_key(sp, k);
    if (!x)
        return;
    snprintf(p->path, sizeof p->path, "%s", x->path);
    memcpy(p->hash, x->hex, sizeof p->hash);
    p->have_hash = p->hash[0] != 0;
    /* deleted or replaced since: the path names no longer this file */
    struct stat st;
    p->deleted = !at_path &&
                 (x->deleted || stat(x->path, &st) != 0 || st.st_dev != x->dev ||
                  st.st_ino != x->ino ||
                  stat_mtime_ns(&st) != x->mtime_ns);
    sp->st.ebpf_gone_exe++;
}

/* One event: the process, read from /proc at once (it may exit in a few
 * milliseconds), into the event table under the tuple; a process already
 * gone is described by the event (ev_only).  An SPB_HOOK_EXE event (a UDP
 * socket connected: its tuple comes with its first datagram, from the
 * egress program, which has no path) only teaches the executable cache. */
static void ev_handle(struct sockproc *sp, const struct spb_event *ev)
{
    sp->st.ebpf_events++;
    const struct spb_proc *k = &ev->p;
    const struct spb_tuple *et = &ev->t;
    if (et->hook == SPB_HOOK_EXE) {
        if (!exe_by_key(sp, k))
            exe_learn(sp, ev);
        return;
    }
    if ((et->ipver != 4 && et->ipver != 6) || (et->proto != 6 && et->proto != 17) || !k->tgid)
        return;
    struct sp_tuple t;
    memset(&t, 0, sizeof t);
    t.ipver = et->ipver;
    t.proto = et->proto;
    t.lport = et->lport;
    t.rport = et->rport;
    memcpy(t.local, et->laddr, et->ipver == 6 ? 16 : 4);
    memcpy(t.remote, et->raddr, et->ipver == 6 ? 16 : 4);
    if (sp->test_delay_ns) {
        /* the test knob: as if the helper were this late */
        uint64_t at = ev->when + sp->test_delay_ns, t0 = now_ns(CLOCK_BOOTTIME);
        if (t0 < at) {
            struct timespec ts = {(time_t)((at - t0) / 1000000000ull),
                                  (long)((at - t0) % 1000000000ull)};
            nanosleep(&ts, NULL);
        }
    }
    struct sp_proc p;
    uint64_t ticks = 0;
    struct exe_ent *x = NULL;
    bool alive = fill_proc(sp, (int32_t)k->tgid, &p, &ticks, &x);
    /* the same process: its start time (pid reuse) */
    if (alive && k->start_boottime &&
        ticks != k->start_boottime / (1000000000ull / (uint64_t)sp->clk_tck))
        alive = false;
    if (alive) {
        if (k->start_boottime)   /* ns rather than clock ticks */
            p.start_ns = boot_to_real_ns(k->start_boottime);
        /* the kernel's identity of its executable, for the events of the
         * processes of this binary that exit before joy reads them: when
         * stat() did not give it (overlayfs, btrfs), learnt from an event
         * whose process still has the name it had then (the leader's
         * comm: not re-executed since) */
        if (x && k->exe_ino && !exe_key_eq(x, k) &&
            strncmp(p.name, k->comm, sizeof k->comm) == 0) {
            x->kdev = k->exe_dev;
            x->kino = k->exe_ino;
            x->kmtime_ns = ev_mtime_ns(k);
        }
    } else {
        sp->st.ebpf_gone++;
        ev_only(sp, ev, &p);
    }
    p.method = SP_EBPF;
    struct tuple_ent *e = ev_put(sp, &t);
    e->used = true;
    e->t = t;
    e->when = now_ns(CLOCK_MONOTONIC);
    e->p = p;
}

static int ev_cb(void *ctx, void *data, size_t len)
{
    struct spb_event ev;
    if (len >= sizeof ev) {
        memcpy(&ev, data, sizeof ev);
        ev_handle(ctx, &ev);
    }
    return 0;
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
    (void)level;
    (void)fmt;
    (void)ap;
    return 0;
}

/* The mount point of the cgroup v2 hierarchy, from the mountinfo file of
 * /proc/PID (self, else 1: `ip netns exec` remounts /sys without the
 * cgroup file systems; then PID 1's mount is opened through
 * /proc/1/root); false when there is none. */
static bool cgroup2_root(const char *pid, char *out, size_t cap)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%s/mountinfo", pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    char line[1024];
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        /* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS... - FSTYPE SOURCE SUPEROPTS */
        const char *sep = strstr(line, " - ");
        if (!sep || strncmp(sep + 3, "cgroup2 ", 8) != 0)
            continue;
        char root[512], mnt[512];
        if (sscanf(line, "%*s %*s %*s %511s %511s", root, mnt) == 2 && strcmp(root, "/") == 0 &&
            !strchr(mnt, '\\')) {
            int n = strcmp(pid, "self") == 0 ? snprintf(out, cap, "%s", mnt)
                                             : snprintf(out, cap, "/proc/%s/root%s", pid, mnt);
            found = n > 0 && (size_t)n < cap;
        }
    }
    fclose(f);
    return found;
}

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

/* Load and attach the programs (sockproc.bpf.c) to the root of the cgroup
 * v2 hierarchy; sp->ebpf_status says what runs, or why not. */
static void ebpf_start(struct sockproc *sp)
{
    char cg[512];
    uint64_t cookie = 0;
    socklen_t cl = sizeof cookie;
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    bool have_cookie = s >= 0 && getsockopt(s, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &cl) == 0;
    if (s >= 0)
        close(s);
    if (!have_cookie) {
        snprintf(sp->ebpf_status, sizeof sp->ebpf_status,
                 "off (no SO_NETNS_COOKIE: needs Linux 5.14 or later)");
        return;
    }
    if (!cgroup2_root("self", cg, sizeof cg) && !cgroup2_root("1", cg, sizeof cg)) {
        snprintf(sp->ebpf_status, sizeof sp->ebpf_status, "off (no cgroup v2 hierarchy mounted)");
        return;
    }
    int cgfd = open(cg, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cgfd < 0) {
        snprintf(sp->ebpf_status, sizeof sp->ebpf_status, "off (%.100s: %s)", cg, strerror(errno));
        return;
    }
    libbpf_set_print(libbpf_quiet);
    struct sockproc_bpf *k = sockproc_bpf__open();
    if (!k) {
        snprintf(sp->ebpf_status, sizeof sp->ebpf_status, "off (open: %s)", strerror(errno));
        close(cgfd);
        return;
    }
    k->rodata->spb_netns = cookie;
    if (sockproc_bpf__load(k) != 0) {
        int e = errno;
        snprintf(sp->ebpf_status, sizeof sp->ebpf_status,
                 "off (loading the BPF programs: %s; needs CAP_BPF and CAP_NET_ADMIN, or root)",
                 strerror(e));
        sockproc_bpf__destroy(k);
        close(cgfd);
        return;
    }
    /* each program alone: a kernel without one hook keeps the others */
    static const char *const names[] = {"sockops", "sendmsg4", "sendmsg6", "connect4",
                                        "connect6", "egress"};
    struct bpf_program *progs[] = {k->progs.spb_sockops, k->progs.spb_sendmsg4,
                                   k->progs.spb_sendmsg6, k->progs.spb_connect4,
                                   k->progs.spb_connect6, k->progs.spb_egress};
    struct bpf_link **links[] = {&k->links.spb_sockops, &k->links.spb_sendmsg4,
                                 &k->links.spb_sendmsg6, &k->links.spb_connect4,
                                 &k->links.spb_connect6, &k->links.spb_egress};
    char on[96] = "", off[96] = "";
    int err = 0;
    for (size_t i = 0; i < sizeof progs / sizeof progs[0]; i++) {
        *links[i] = bpf_program__attach_cgroup(progs[i], cgfd);
        if (!*links[i])
            err = errno;
        char *dst = *links[i] ? on : off;
        size_t l = strlen(dst);
        snprintf(dst + l, sizeof on - l, "%s%s", l ? " " : "", names[i]);
    }
    if (!on[0]) {
        close(cgfd);
        snprintf(sp->ebpf_status, sizeof sp->ebpf_status,
                 "off (attaching to cgroup %.80s: %s; needs CAP_NET_ADMIN)", cg, strerror(err));
        sockproc_bpf__destroy(k);
        return;
    }
    sp->rb = ring_buffer__new(bpf_map__fd(k->maps.events), ev_cb, sp, NULL);
    sp->evs = calloc(EV_CACHE, sizeof *sp->evs);
    if (!sp->rb || !sp->evs) {
        snprintf(sp->ebpf_status, sizeof sp->ebpf_status, "off (ring buffer: %s)",
                 strerror(errno));
        ring_buffer__free(sp->rb);
        sp->rb = NULL;
        free(sp->evs);
        sp->evs = NULL;
        sockproc_bpf__destroy(k);
        close(cgfd);
        return;
    }
    sp->skel = k;
    /* kept for the cgroup paths of processes gone before their event is
     * read (cgroup_by_id) */
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", cgfd);
    ssize_t rl = readlink(link, sp->cg_root, sizeof sp->cg_root - 1);
    if (rl > 0) {
        sp->cg_root[rl] = 0;
        sp->cg_fd = cgfd;
    } else {
        close(cgfd);
    }
    snprintf(sp->ebpf_status, sizeof sp->ebpf_status, "eBPF (cgroup %.100s: %s%s%s%s)", cg, on,
             off[0] ? "; not attached: " : "", off, "");
}

static void ebpf_events(struct sockproc *sp)
{
    if (sp->rb)
        ring_buffer__consume(sp->rb);
}

static void ebpf_stop(struct sockproc *sp)
{
    ring_buffer__free(sp->rb);
    sp->rb = NULL;
    sockproc_bpf__destroy(sp->skel);
    sp->skel = NULL;
}

const char *sockproc_ebpf_built(void)
{
    static char s[96];
    snprintf(s, sizeof s, "eBPF, cgroup sockops, sendmsg, connect, egress (libbpf %s)",
             libbpf_version_string());
    return s;
}
#else
static void ebpf_start(struct sockproc *sp)
{
    snprintf(sp->ebpf_status, sizeof sp->ebpf_status,
             "not built (configure found no libbpf, clang -target bpf or bpftool)");
}
static void ebpf_events(struct sockproc *sp) { (void)sp; }
static void ebpf_stop(struct sockproc *sp) { (void)sp; }
const char *sockproc_ebpf_built(void) { return "not built (no libbpf)"; }
#endif

const char *sockproc_ebpf_status(const struct sockproc *sp) { return sp->ebpf_status; }

/* ---- the lookup ----------------------------------------------------- */

bool sockproc_lookup(struct sockproc *sp, const struct sp_tuple *t0, bool server,
                     struct sp_proc *out)
{
    struct sp_tuple t = *t0;
    if (t.ipver == 4) {
        memset(t.local + 4, 0, 12);
        memset(t.remote + 4, 0, 12);
    }
    sp->st.lookups++;
    if (!sockproc_is_local(sp, t.ipver, t.local)) {
        sp->st.not_local++;
        return false;
    }
    sockproc_events(sp);
    /* the process an eBPF program saw on this exact tuple: first, as it
     * needs no system call and does not race the socket's close */
    const struct sp_proc *ev = ev_find(sp, &t);
    if (!ev && t.proto == 17) {
        /* sendto from a socket bound to no address: the event has no
         * source address (the route chose it) */
        struct sp_tuple w = t;
        memset(w.local, 0, sizeof w.local);
        ev = ev_find(sp, &w);
    }
    if (ev) {
        *out = *ev;
        sp->st.ebpf++;
        return true;
    }
    bool listener;
    uint64_t inode = diag_lookup(sp, &t, server, &listener);
    struct tuple_ent *te = tuple_slot(sp, &t);
    if (!inode) {
        if (te->used && memcmp(&te->t, &t, sizeof t) == 0 &&
            now_ns(CLOCK_MONOTONIC) - te->when < TUPLE_CACHE_NS) {
            *out = te->p;
            out->method = SP_CACHE;
            sp->st.cache++;
            return true;
        }
        sp->st.no_socket++;
        return false;
    }
    int32_t pid = idx_get(sp, inode);
    if (pid && !holds(pid, inode))
        pid = 0;
    if (!pid && sp->n_dirty && !sp->dirty_overflow) {
        scan_dirty(sp);
        pid = idx_get(sp, inode);
    }
    if (!pid) {
        full_rescan(sp);
        pid = idx_get(sp, inode);
    }
    if (!pid || !fill_proc(sp, pid, out, NULL, NULL)) {
        sp->st.no_process++;
        return false;
    }
    out->inode = inode;
    out->method = listener ? SP_LISTENER : SP_DIAG;
    if (listener)
        sp->st.listener++;
    else
        sp->st.diag++;
    te->used = true;
    te->t = t;
    te->when = now_ns(CLOCK_MONOTONIC);
    te->p = *out;
    return true;
}

const struct sp_stats *sockproc_stats(const struct sockproc *sp) { return &sp->st; }

struct sockproc *sockproc_new(bool want_ebpf, bool loopback, char *err, size_t errlen)
{
    struct sockproc *sp = calloc(1, sizeof *sp);
    if (!sp || !(sp->tuples = calloc(TUPLE_CACHE, sizeof *sp->tuples))) {
        free(sp);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    sp->cn_fd = -1;
    sp->cg_fd = -1;
    sp->loopback = loopback;
    sp->clk_tck = sysconf(_SC_CLK_TCK);
    if (sp->clk_tck <= 0)
        sp->clk_tck = 100;
    sp->diag_fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (sp->diag_fd < 0) {
        snprintf(err, errlen, "exe=1: NETLINK_SOCK_DIAG socket: %s", strerror(errno));
        sockproc_free(sp);
        return NULL;
    }
    struct timeval tv = {1, 0};
    setsockopt(sp->diag_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sp->cn_fd = connector_open_any();
    if (sp->cn_fd == -2) {
        snprintf(err, errlen, "exe=1: cannot return to joy's network namespace");
        sp->cn_fd = -1;
        sockproc_free(sp);
        return NULL;
    }
    locals_refresh(sp);
    full_rescan(sp);
    /* tests only: read each eBPF event's process this many ms after the
     * event (as a helper delayed by a loaded host would), so that the
     * processes of short-lived flows have exited (test/test_exe.py) */
    const char *delay = getenv("JOY_TEST_EXE_EVENT_DELAY_MS");
    if (delay && *delay)
        sp->test_delay_ns = strtoull(delay, NULL, 10) % 10000 * 1000000ull;
    if (want_ebpf)
        ebpf_start(sp);
    else
        snprintf(sp->ebpf_status, sizeof sp->ebpf_status, "off (exe_ebpf=0)");
    return sp;
}

int sockproc_probe(bool *connector, char *err, size_t errlen)
{
    int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0) {
        snprintf(err, errlen, "exe=1: NETLINK_SOCK_DIAG socket: %s", strerror(errno));
        return -1;
    }
    close(fd);
    int cn = connector_open_any();
    if (cn == -2) {
        snprintf(err, errlen, "exe=1: cannot return to joy's network namespace");
        return -1;
    }
    *connector = cn >= 0;
    if (cn >= 0)
        close(cn);
    return 0;
}

void sockproc_free(struct sockproc *sp)
{
    if (!sp)
        return;
    if (sp->diag_fd >= 0)
        close(sp->diag_fd);
    if (sp->cn_fd >= 0)
        close(sp->cn_fd);
    if (sp->cg_fd >= 0)
        close(sp->cg_fd);
    ebpf_stop(sp);
    free(sp->evs);
    free(sp->idx);
    free(sp->tuples);
    free(sp);
}

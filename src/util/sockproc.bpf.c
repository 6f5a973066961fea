/*
 * sockproc.bpf.c - joy's event-driven process attribution (exe=1): BPF
 * programs that tell the helper thread which process owned a socket at
 * the moment it connected or sent a UDP datagram, so that a socket closed
 * before the helper's sock_diag lookup is still attributed.
 *
 * Built only when ./configure finds clang (-target bpf), bpftool and
 * libbpf; compiled into an object, then into a skeleton header
 * (bpftool gen skeleton) that sockproc.c includes.  The programs use the
 * stable BPF context structures (struct bpf_sock_ops, bpf_sock_addr) for
 * the socket, and read the current task (bpf_get_current_task, CO-RE
 * reads that libbpf relocates to the running kernel's struct layouts) for
 * what identifies the process and its executable after it exits
 * (sockproc_ev.h); no kprobe or fentry (kernels without CONFIG_KPROBES, or
 * sandboxes that refuse tracing programs, still run them).  Reading the
 * task needs CAP_PERFMON (or CAP_SYS_ADMIN) at load.
 *
 * Attached to the root of the cgroup v2 hierarchy (every process below it),
 * in process context, where the current task is the socket's process:
 *   sockops (BPF_SOCK_OPS_TCP_CONNECT_CB)  a TCP client, its local port
 *                                          chosen, before its SYN
 *   cgroup/sendmsg4, cgroup/sendmsg6       a UDP datagram sent with an
 *                                          address (sendto on an
 *                                          unconnected socket)
 *   cgroup/connect4, cgroup/connect6       a UDP socket connected: its
 *   + cgroup_skb/egress                    process waits for the socket's
 *                                          first datagram (below)
 * Only sockets of joy's network namespace (spb_netns, a netns cookie, set
 * before load) are reported.  A UDP tuple is reported once per process
 * (the LRU map `seen`), not once per datagram.  The programs never refuse
 * anything: they return 1 (allow).
 */
#include <vmlinux.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "sockproc_ev.h"

/* joy's own code is BSD-2-Clause (GPL compatible). */
char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile __u64 spb_netns = 0;   /* netns cookie; 0: every namespace */

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 1 << 20);
} events SEC(".maps");

struct seen_key {
    __u8 ipver, proto;
    __u16 lport, rport;
    __u8 laddr[16], raddr[16];
    __u32 tgid;
};

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 8192);
    __type(key, struct seen_key);
    __type(value, __u8);
} seen SEC(".maps");

#define AF_INET 2
#define AF_INET6 10

/* Kernels before 6.7 kept the modification time in a timespec64 (named
 * __i_mtime in 6.6): CO-RE flavours of struct inode for them. */
struct inode___v66 {
    struct timespec64 __i_mtime;
} __attribute__((preserve_access_index));
struct inode___old {
    struct timespec64 i_mtime;
} __attribute__((preserve_access_index));

/* The current process: ids, comm, and what identifies it and its
 * executable after it exits (sockproc_ev.h).  The task is read through
 * bpf_get_current_task and CO-RE reads (bpf_probe_read_kernel), which the
 * cgroup program types may call when the loader has CAP_PERFMON (root). */
static __always_inline void current_proc(struct spb_proc *p)
{
    __u64 id = bpf_get_current_pid_tgid();
    p->tgid = (__u32)(id >> 32);
    p->tid = (__u32)id;
    p->uid = (__u32)bpf_get_current_uid_gid();
    bpf_get_current_comm(p->comm, sizeof p->comm);
    p->cgroup_id = bpf_get_current_cgroup_id();
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    p->start_boottime = BPF_CORE_READ(task, start_boottime);
    p->ppid = (__u32)BPF_CORE_READ(task, real_parent, tgid);
    struct inode *ino = BPF_CORE_READ(task, mm, exe_file, f_inode);
    if (!ino)
        return;
    p->exe_ino = BPF_CORE_READ(ino, i_ino);
    p->exe_dev = BPF_CORE_READ(ino, i_sb, s_dev);
    if (bpf_core_field_exists(ino->i_mtime_sec)) {
        p->exe_mtime_sec = BPF_CORE_READ(ino, i_mtime_sec);
        p->exe_mtime_nsec = BPF_CORE_READ(ino, i_mtime_nsec);
    } else if (bpf_core_field_exists(((struct inode___v66 *)ino)->__i_mtime)) {
        struct inode___v66 *o = (void *)ino;
        p->exe_mtime_sec = BPF_CORE_READ(o, __i_mtime.tv_sec);
        p->exe_mtime_nsec = (__u32)BPF_CORE_READ(o, __i_mtime.tv_nsec);
    } else {
        struct inode___old *o = (void *)ino;
        p->exe_mtime_sec = BPF_CORE_READ(o, i_mtime.tv_sec);
        p->exe_mtime_nsec = (__u32)BPF_CORE_READ(o, i_mtime.tv_nsec);
    }
}

/* The path of the executable f into e->path (sockproc_ev.h): the names of
 * its dentries up to its mount's root, then of the mount points, up to the
 * root of the mount tree (a mount that is its own parent). */
static __always_inline void exe_path(struct spb_event *e, struct file *f)
{
    struct dentry *d = BPF_CORE_READ(f, f_path.dentry);
    struct vfsmount *vm = BPF_CORE_READ(f, f_path.mnt);
    if (!d || !vm)
        return;
    struct mount *m = container_of(vm, struct mount, mnt);
    __u32 off = 0;
    for (int i = 0; i < SPB_PATH_DEPTH; i++) {
        if (d == BPF_CORE_READ(vm, mnt_root)) {
            struct mount *up = BPF_CORE_READ(m, mnt_parent);
            if (up == m) {
                e->path_len = (__u16)off;   /* the root: complete */
                return;
            }
            d = BPF_CORE_READ(m, mnt_mountpoint);
            m = up;
            vm = &up->mnt;
            continue;
        }
        struct dentry *parent = BPF_CORE_READ(d, d_parent);
        if (parent == d)
            return;   /* a root that is not its mount's: not reachable */
        const unsigned char *name = BPF_CORE_READ(d, d_name.name);
        off &= SPB_PATH_MAX - 1;
        long n = bpf_probe_read_kernel_str(e->path + off, SPB_PATH_MAX, name);
        if (n <= 1 || off + n > SPB_PATH_MAX)
            return;   /* unreadable, or too long */
        off += (__u32)n;
        d = parent;
    }
}

/* The current process into e (with the path of its executable), then e
 * to the ring buffer. */
static __always_inline void send(const struct spb_tuple *tmpl)
{
    struct spb_event *e = bpf_ringbuf_reserve(&events, sizeof *e, 0);
    if (!e)
        return;
    __builtin_memcpy(&e->t, tmpl, sizeof e->t);
    e->when = bpf_ktime_get_boot_ns();
    e->path_len = 0;
    current_proc(&e->p);
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    struct file *f = BPF_CORE_READ(task, mm, exe_file);
    if (f)
        exe_path(e, f);
    bpf_ringbuf_submit(e, 0);
}

static __always_inline bool v4mapped(const __u32 *a)
{
    return a[0] == 0 && a[1] == 0 && a[2] == bpf_htonl(0xffff);
}

SEC("sockops")
int spb_sockops(struct bpf_sock_ops *ctx)
{
    if (ctx->op != BPF_SOCK_OPS_TCP_CONNECT_CB)
        return 1;
    if (spb_netns && bpf_get_netns_cookie(ctx) != spb_netns)
        return 1;
    struct spb_tuple e = {};
    e.proto = 6;
    e.hook = SPB_HOOK_CONNECT;
    e.lport = (__u16)ctx->local_port;                  /* host order */
    e.rport = (__u16)bpf_ntohl(ctx->remote_port);      /* network order in the high half */
    __u32 l[4], r[4];
    if (ctx->family == AF_INET6) {
        l[0] = ctx->local_ip6[0];
        l[1] = ctx->local_ip6[1];
        l[2] = ctx->local_ip6[2];
        l[3] = ctx->local_ip6[3];
        r[0] = ctx->remote_ip6[0];
        r[1] = ctx->remote_ip6[1];
        r[2] = ctx->remote_ip6[2];
        r[3] = ctx->remote_ip6[3];
        if (!v4mapped(r)) {
            e.ipver = 6;
            __builtin_memcpy(e.laddr, l, 16);
            __builtin_memcpy(e.raddr, r, 16);
            send(&e);
            return 1;
        }
    } else if (ctx->family != AF_INET) {
        return 1;
    }
    e.ipver = 4;
    __u32 s = ctx->local_ip4, d = ctx->remote_ip4;
    __builtin_memcpy(e.laddr, &s, 4);
    __builtin_memcpy(e.raddr, &d, 4);
    send(&e);
    return 1;
}

/* A UDP datagram: reported when its (tuple, process) is new. */
static __always_inline void udp_event(struct spb_tuple *e)
{
    e->proto = 17;
    e->hook = SPB_HOOK_UDP;
    struct seen_key k = {};
    k.ipver = e->ipver;
    k.proto = 17;
    k.lport = e->lport;
    k.rport = e->rport;
    __builtin_memcpy(k.laddr, e->laddr, 16);
    __builtin_memcpy(k.raddr, e->raddr, 16);
    k.tgid = (__u32)(bpf_get_current_pid_tgid() >> 32);
    __u8 one = 1;
    if (bpf_map_update_elem(&seen, &k, &one, BPF_NOEXIST) != 0)
        return;   /* already reported */
    send(e);
}

/* Connected UDP sockets (connect, then send without an address): at
 * connect the local port is often not chosen yet, so the process waits in
 * `pending` under the socket's cookie, and the socket's first datagram
 * (cgroup_skb/egress, which has no process) reports it with its tuple. */
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 8192);
    __type(key, __u64);
    __type(value, struct spb_proc);
} pending SEC(".maps");

static __always_inline int udp_connect(struct bpf_sock_addr *ctx)
{
    if (ctx->type != 2 /* SOCK_DGRAM */ || ctx->protocol != 17)
        return 1;
    if (spb_netns && bpf_get_netns_cookie(ctx) != spb_netns)
        return 1;
    struct spb_proc p = {};
    current_proc(&p);
    __u64 cookie = bpf_get_socket_cookie(ctx);
    bpf_map_update_elem(&pending, &cookie, &p, BPF_ANY);
    /* the egress program has no process to name the executable: its
     * path goes now, in an event of its own (no tuple) */
    struct spb_tuple t = {};
    t.hook = SPB_HOOK_EXE;
    send(&t);
    return 1;
}

SEC("cgroup/connect4")
int spb_connect4(struct bpf_sock_addr *ctx)
{
    return udp_connect(ctx);
}

SEC("cgroup/connect6")
int spb_connect6(struct bpf_sock_addr *ctx)
{
    return udp_connect(ctx);
}

SEC("cgroup_skb/egress")
int spb_egress(struct __sk_buff *skb)
{
    __u64 cookie = bpf_get_socket_cookie(skb);
    struct spb_proc *p = bpf_map_lookup_elem(&pending, &cookie);
    if (!p)
        return 1;
    struct spb_event *e = bpf_ringbuf_reserve(&events, sizeof *e, 0);
    if (!e)
        return 1;
    __builtin_memset(&e->t, 0, sizeof e->t);
    e->when = bpf_ktime_get_boot_ns();
    e->path_len = 0;
    e->t.proto = 17;
    e->t.hook = SPB_HOOK_UDP;
    __builtin_memcpy(&e->p, p, sizeof e->p);
    __u16 ports[2];
    bool ok = false;
    if (skb->protocol == bpf_htons(0x0800)) {
        __u8 vihl, proto;
        if (bpf_skb_load_bytes(skb, 0, &vihl, 1) == 0 &&
            bpf_skb_load_bytes(skb, 9, &proto, 1) == 0 && proto == 17 &&
            bpf_skb_load_bytes(skb, 12, e->t.laddr, 4) == 0 &&
            bpf_skb_load_bytes(skb, 16, e->t.raddr, 4) == 0 &&
            bpf_skb_load_bytes(skb, (vihl & 0xf) * 4, ports, 4) == 0) {
            e->t.ipver = 4;
            ok = true;
        }
    } else if (skb->protocol == bpf_htons(0x86dd)) {
        __u8 next;
        if (bpf_skb_load_bytes(skb, 6, &next, 1) == 0 && next == 17 &&
            bpf_skb_load_bytes(skb, 8, e->t.laddr, 16) == 0 &&
            bpf_skb_load_bytes(skb, 24, e->t.raddr, 16) == 0 &&
            bpf_skb_load_bytes(skb, 40, ports, 4) == 0) {
            e->t.ipver = 6;
            ok = true;
        }
    }
    if (!ok) {
        bpf_ringbuf_discard(e, 0);
        return 1;
    }
    e->t.lport = bpf_ntohs(ports[0]);
    e->t.rport = bpf_ntohs(ports[1]);
    bpf_ringbuf_submit(e, 0);
    bpf_map_delete_elem(&pending, &cookie);
    return 1;
}

SEC("cgroup/sendmsg4")
int spb_sendmsg4(struct bpf_sock_addr *ctx)
{
    if (ctx->type != 2 /* SOCK_DGRAM */ || ctx->protocol != 17)
        return 1;
    if (spb_netns && bpf_get_netns_cookie(ctx) != spb_netns)
        return 1;
    struct bpf_sock *sk = ctx->sk;
    if (!sk)
        return 1;
    struct spb_tuple e = {};
    e.ipver = 4;
    e.lport = (__u16)sk->src_port;                     /* host order */
    e.rport = bpf_ntohs((__u16)ctx->user_port);
    /* the source: IP_PKTINFO's, else the bound address, else 0 (the route's:
     * joy matches it as "any local address") */
    __u32 s = ctx->msg_src_ip4;
    if (!s)
        s = sk->src_ip4;
    __u32 d = ctx->user_ip4;
    __builtin_memcpy(e.laddr, &s, 4);
    __builtin_memcpy(e.raddr, &d, 4);
    udp_event(&e);
    return 1;
}

SEC("cgroup/sendmsg6")
int spb_sendmsg6(struct bpf_sock_addr *ctx)
{
    if (ctx->type != 2 || ctx->protocol != 17)
        return 1;
    if (spb_netns && bpf_get_netns_cookie(ctx) != spb_netns)
        return 1;
    struct bpf_sock *sk = ctx->sk;
    if (!sk)
        return 1;
    struct spb_tuple e = {};
    __u32 r[4], l[4];
    r[0] = ctx->user_ip6[0];
    r[1] = ctx->user_ip6[1];
    r[2] = ctx->user_ip6[2];
    r[3] = ctx->user_ip6[3];
    l[0] = ctx->msg_src_ip6[0];
    l[1] = ctx->msg_src_ip6[1];
    l[2] = ctx->msg_src_ip6[2];
    l[3] = ctx->msg_src_ip6[3];
    if (!(l[0] | l[1] | l[2] | l[3])) {
        l[0] = sk->src_ip6[0];
        l[1] = sk->src_ip6[1];
        l[2] = sk->src_ip6[2];
        l[3] = sk->src_ip6[3];
    }
    e.lport = (__u16)sk->src_port;
    e.rport = bpf_ntohs((__u16)ctx->user_port);
    if (v4mapped(r)) {
        /* a dual-stack socket sending to an IPv4 address */
        e.ipver = 4;
        __u32 s = v4mapped(l) ? l[3] : 0, d = r[3];
        __builtin_memcpy(e.laddr, &s, 4);
        __builtin_memcpy(e.raddr, &d, 4);
    } else {
        e.ipver = 6;
        __builtin_memcpy(e.laddr, l, 16);
        __builtin_memcpy(e.raddr, r, 16);
    }
    udp_event(&e);
    return 1;
}

/*
 * sockproc_ev.h - the event that joy's eBPF programs (sockproc.bpf.c)
 * send to the helper thread (sockproc.c) through a BPF ring buffer: which
 * process opened a TCP connection or sent a UDP datagram,
 * with the socket's tuple as the kernel saw it at that moment.
 *
 * Shared by the BPF object (built by clang -target bpf) and joy: fixed-size
 * fields only, no pointers, 64-bit members first (one layout for the BPF
 * target and every 32- or 64-bit host).  Little and big endian hosts alike:
 * the ports are host order, the addresses network order (IPv4: the first
 * 4 bytes).
 *
 * struct spb_proc is what identifies the process and its executable at
 * the moment of the socket event, read from the current task by the
 * kernel, so that the helper can still describe a process that has exited
 * before it read the event:
 *   start_boottime  task->start_boottime, ns since boot including suspend
 *                   (/proc/PID/stat's starttime is this in clock ticks):
 *                   guards against pid reuse, and gives the uptime;
 *   exe_ino, exe_dev, exe_mtime_*
 *                   task->mm->exe_file's inode: i_ino, the super block's
 *                   s_dev in the kernel's internal encoding (major << 20 |
 *                   minor, not stat()'s st_dev encoding), and i_mtime;
 *                   exe_ino 0: not read (no mm: a kernel thread);
 *   cgroup_id       the task's cgroup v2 id (the inode of its directory).
 *
 * The event also carries the executable's path as the kernel's dentries
 * and mounts name it (struct spb_event.path): its components from the file
 * up to the root of the process's mount tree, each ending in a NUL, in
 * that order (the file's name first); path_len bytes, 0 when the walk did
 * not reach the root within SPB_PATH_MAX bytes and SPB_PATH_DEPTH
 * components.  It is only a candidate: joy trusts it when the file it
 * names has the event's device, inode and modification time.
 */
#ifndef JOY_SOCKPROC_EV_H
#define JOY_SOCKPROC_EV_H

#define SPB_HOOK_CONNECT 1   /* sockops TCP_CONNECT_CB: a TCP client, before its SYN */
#define SPB_HOOK_UDP 2       /* cgroup sendmsg4/6: a UDP datagram sent to an address */
#define SPB_HOOK_EXE 3       /* cgroup connect4/6 of a UDP socket: no tuple yet (its
                                first datagram reports it), the executable's path */

#define SPB_PATH_MAX 256     /* bytes of path components (path_len <= SPB_PATH_MAX) */
#define SPB_PATH_DEPTH 24    /* components and mount points walked */

struct spb_proc {
    unsigned long long start_boottime;
    unsigned long long cgroup_id;
    unsigned long long exe_ino;
    long long exe_mtime_sec;
    unsigned int exe_mtime_nsec;
    unsigned int exe_dev;                 /* kernel dev_t: major << 20 | minor */
    unsigned int tgid, tid, uid, ppid;    /* uid: the real uid; ppid: real_parent's tgid */
    char comm[16];                        /* the thread's comm */
};

struct spb_tuple {
    unsigned char ipver;     /* 4 or 6; 0 in an SPB_HOOK_EXE event */
    unsigned char proto;     /* 6 or 17 */
    unsigned char hook;      /* SPB_HOOK_* */
    unsigned char pad;
    unsigned short lport, rport;
    unsigned char laddr[16], raddr[16];
};

struct spb_event {
    struct spb_proc p;
    unsigned long long when;   /* CLOCK_BOOTTIME ns of the event */
    struct spb_tuple t;
    unsigned short path_len;
    unsigned char pad2[2];
    /* 2 * SPB_PATH_MAX: each component is read with a constant size
     * (SPB_PATH_MAX) at an offset below SPB_PATH_MAX, which is what the
     * BPF verifier can bound; only path_len bytes are used */
    char path[2 * SPB_PATH_MAX];
};

#endif

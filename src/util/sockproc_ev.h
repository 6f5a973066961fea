/*
 * sockproc_ev.h - the event that joy's eBPF programs (sockproc.bpf.c)
 * send to the helper thread (sockproc.c) through a BPF ring buffer: which
 * process opened a TCP connection or sent a UDP datagram,
 * with the socket's tuple as the kernel saw it at that moment.
 *
 * Shared by the BPF object (built by clang -target bpf) and joy: fixed-size
 * fields only, no pointers.  Little and big endian hosts alike: the ports
 * are host order, the addresses network order (IPv4: the first 4 bytes).
 */
#ifndef JOY_SOCKPROC_EV_H
#define JOY_SOCKPROC_EV_H

#define SPB_HOOK_CONNECT 1   /* sockops TCP_CONNECT_CB: a TCP client, before its SYN */
#define SPB_HOOK_UDP 2       /* cgroup sendmsg4/6: a UDP datagram sent to an address */

struct spb_event {
    unsigned char ipver;     /* 4 or 6 */
    unsigned char proto;     /* 6 or 17 */
    unsigned char hook;      /* SPB_HOOK_* */
    unsigned char pad;
    unsigned short lport, rport;
    unsigned char laddr[16], raddr[16];
    unsigned int tgid, tid, uid;           /* uid: the real uid */
    char comm[16];
};

#endif

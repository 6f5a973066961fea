/*
 * capfile.h - a reader for classic pcap and pcapng capture files.
 *
 * Why not libpcap's reader: libpcap 1.10 refuses pcapng files whose
 * interfaces have different link types, and does not say at which byte
 * offset a damaged file went wrong.  This reader handles both formats,
 * both byte orders, microsecond and nanosecond (and any pcapng if_tsresol)
 * timestamps, several sections and interfaces, and reports the offset of
 * the first damaged record.  libpcap is still used for live capture and
 * to compile and run BPF filters.
 *
 * Packets are returned by pointer into the reader's buffer: valid until
 * the next call.  Every length in the file is checked before use.
 */
#ifndef JOY_CAPFILE_H
#define JOY_CAPFILE_H

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct capfile;

/* The exact seconds of a time stamp are kept within +-2^62 (146 billion
 * years); every pcap time and every pcapng time whose if_tsresol is finer
 * than a second fits whatever its if_tsoffset within +-2^62 s. */
#define CAP_SEC_MAX (INT64_C(1) << 62)

struct cap_packet {
    const uint8_t *data;
    void *buf;            /* the provider's buffer holding data (capfile_set_bufs), or NULL */
    uint32_t caplen, wirelen;
    uint64_t ts;          /* ns since the epoch (saturates in 2554, 0 before 1970) */
    int64_t sec;          /* the exact time: seconds since the epoch (may be negative; */
    uint32_t nsec;        /* saturates at +-CAP_SEC_MAX), and nanoseconds (< 1e9) */
    int linktype;
    uint32_t interface;   /* pcapng interface index, 0 for pcap */
};

enum cap_status {
    CAP_PACKET = 1,
    CAP_EOF = 0,
    CAP_DAMAGED = -1,     /* message and offset available */
};

/* "-" reads standard input.  NULL with a message in err on failure
 * (unreadable, not a capture file, empty). */
struct capfile *capfile_open(const char *path, char *err, size_t errlen);

/* The same on a copy of a capture file held in memory (fuzzing, tests). */
struct capfile *capfile_open_mem(const uint8_t *data, size_t len, char *err, size_t errlen);

/* Next packet.  Packets of interfaces with an unsupported link type are
 * still returned (the caller decides); see capfile_notice(). */
enum cap_status capfile_next(struct capfile *cf, struct cap_packet *pkt);

/* A flag that a signal handler sets: a read interrupted by a signal while
 * it is set ends the input (capfile_next returns CAP_EOF). */
void capfile_set_stop_flag(struct capfile *cf, const atomic_int *flag);

/*
 * Buffers from the caller (zero-copy dispatch, workers.c).  Without a
 * provider the reader keeps one buffer of its own, moving the unread
 * bytes to its start before each read.  With one, a read that needs room
 * takes a fresh buffer from get() instead (the unread bytes - a record cut
 * by the end of the window - are copied over) and hands the old one back
 * with put(): the bytes of every packet stay where they were read until
 * the caller recycles that buffer, so packets are passed on by pointer.
 * get() returns a buffer of at least need bytes (*cap: its size), or NULL:
 * the reader then uses a buffer of its own (packets with buf NULL).
 * capfile_set_bufs(cf, NULL) hands back the provider's buffer at once (the
 * unread bytes move to a buffer of the reader's); so does capfile_close.
 */
struct cap_bufs {
    void *(*get)(void *user, size_t need, size_t *cap);
    void (*put)(void *user, void *buf);
    void *user;
};
void capfile_set_bufs(struct capfile *cf, const struct cap_bufs *bufs);

/* After CAP_DAMAGED: what went wrong and where. */
const char *capfile_error(const struct capfile *cf);
uint64_t capfile_error_offset(const struct capfile *cf);

/* The link type of a classic pcap file, or of the first pcapng interface. */
int capfile_linktype(const struct capfile *cf);
bool capfile_is_pcapng(const struct capfile *cf);
uint64_t capfile_offset(const struct capfile *cf);   /* bytes consumed */

void capfile_close(struct capfile *cf);

#endif

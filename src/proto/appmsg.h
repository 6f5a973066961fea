/*
 * appmsg.h - a bounded per-flow store of raw application messages.
 *
 * The DNS, DHCP and IKE modules keep the bytes of the messages they see
 * and parse them only when the record is written (write_json), so the
 * packet path does no parsing or formatting beyond finding message
 * boundaries.  A store holds at most `max_msgs` messages and `max_bytes`
 * message bytes, in the order the messages started.
 *
 * A message is first reserved (appmsg_begin: its room is taken from the
 * byte budget at once, so two directions can fill messages at the same
 * time, as DNS over TCP does) and then filled (appmsg_fill).  A message
 * that did not fit completely keeps its first bytes and says why
 * (APPMSG_CUT_*); a message for which nothing could be reserved is only
 * counted in `omitted`.
 *
 * Memory: the entry array is allocated with the store (max_msgs entries);
 * the byte buffer starts small and doubles up to max_bytes, so a flow
 * causes at most a handful of allocations, never one per packet.
 */
#ifndef JOY_APPMSG_H
#define JOY_APPMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Why a stored message is shorter than the message on the wire. */
enum {
    APPMSG_CUT_NONE = 0,
    APPMSG_CUT_CAPTURE = 1,  /* the capture holds fewer bytes (snap length) */
    APPMSG_CUT_FRAGMENT = 2, /* only the first IP fragment was seen */
    APPMSG_CUT_BUDGET = 3,   /* the per-flow byte budget ran out */
    APPMSG_CUT_STREAM = 4,   /* TCP: a gap, or the flow ended mid-message */
    APPMSG_CUT_BY_MODULE = 5,/* the module kept only what it parses (IKE) */
};

struct appmsg {
    uint32_t off;      /* of the first byte in the store's buffer */
    uint32_t room;     /* bytes reserved */
    uint32_t len;      /* bytes filled so far (<= room) */
    uint32_t wire_len; /* length of the whole message on the wire */
    uint8_t dir;       /* 0 from the client (sa), 1 from the server */
    uint8_t cut;       /* APPMSG_CUT_* when len < wire_len */
};

struct appmsg_store {
    uint32_t n, max_msgs;
    uint32_t used, size, max_bytes;
    uint32_t omitted;  /* messages seen but not stored (a cap was reached) */
    uint8_t *data;
    struct appmsg msg[]; /* max_msgs entries */
};

/* A store with room for max_msgs messages and max_bytes bytes; NULL if
 * out of memory.  Free with appmsg_free(). */
struct appmsg_store *appmsg_new(uint32_t max_msgs, uint32_t max_bytes);
void appmsg_free(struct appmsg_store *s);

/*
 * Reserve a message of wire_len bytes sent in direction dir.  Up to
 * wire_len bytes are reserved (fewer when the budget is short: then the
 * message is marked APPMSG_CUT_BUDGET).  Returns the message, or NULL when
 * the message count is at its cap, the budget is empty (both counted in
 * `omitted`) or memory ran out.  The pointer is valid until the next
 * appmsg_begin on the same store.
 */
struct appmsg *appmsg_begin(struct appmsg_store *s, int dir, uint32_t wire_len);

/* Append up to n bytes to message m (what does not fit its room is
 * dropped); returns the number of bytes taken. */
uint32_t appmsg_fill(struct appmsg_store *s, struct appmsg *m, const uint8_t *p, uint32_t n);

/* Reserve and fill in one step (a datagram); `cut` says why cap < wire_len. */
struct appmsg *appmsg_add(struct appmsg_store *s, int dir, const uint8_t *p, uint32_t cap,
                          uint32_t wire_len, uint8_t cut);

static inline const uint8_t *appmsg_bytes(const struct appmsg_store *s, const struct appmsg *m)
{
    static const uint8_t none[1];
    return s->data ? s->data + m->off : none; /* no buffer yet: only empty messages */
}

/* A short word for a cut reason ("capture", "fragment", ...), NULL for none. */
const char *appmsg_cut_name(uint8_t cut);

#endif

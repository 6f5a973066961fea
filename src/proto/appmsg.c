/*
 * \summary: a bounded per-flow store of raw application messages
 *
 * See appmsg.h.  The byte buffer grows by doubling (starting at 512 bytes)
 * and never beyond the store's max_bytes.
 */
#include "appmsg.h"

#include <stdlib.h>
#include <string.h>

#define APPMSG_FIRST_SIZE 512u

struct appmsg_store *appmsg_new(uint32_t max_msgs, uint32_t max_bytes)
{
    struct appmsg_store *s = calloc(1, sizeof *s + (size_t)max_msgs * sizeof s->msg[0]);
    if (!s)
        return NULL;
    s->max_msgs = max_msgs;
    s->max_bytes = max_bytes;
    return s;
}

void appmsg_free(struct appmsg_store *s)
{
    if (!s)
        return;
    free(s->data);
    free(s);
}

/* Make the buffer hold at least `need` bytes (need <= max_bytes). */
static bool appmsg_grow(struct appmsg_store *s, uint32_t need)
{
    if (need <= s->size)
        return true;
    uint32_t size = s->size ? s->size : APPMSG_FIRST_SIZE;
    while (size < need && size < s->max_bytes)
        size = size > s->max_bytes / 2 ? s->max_bytes : size * 2;
    if (size < need)
        size = need;
    uint8_t *d = realloc(s->data, size);
    if (!d)
        return false;
    s->data = d;
    s->size = size;
    return true;
}

struct appmsg *appmsg_begin(struct appmsg_store *s, int dir, uint32_t wire_len)
{
    uint32_t left = s->max_bytes - s->used;
    if (s->n >= s->max_msgs || (left == 0 && wire_len > 0)) {
        s->omitted++;
        return NULL;
    }
    uint32_t room = wire_len < left ? wire_len : left;
    if (!appmsg_grow(s, s->used + room)) {
        s->omitted++;
        return NULL;
    }
    struct appmsg *m = &s->msg[s->n++];
    m->off = s->used;
    m->room = room;
    m->len = 0;
    m->wire_len = wire_len;
    m->dir = (uint8_t)dir;
    m->cut = room < wire_len ? APPMSG_CUT_BUDGET : APPMSG_CUT_NONE;
    s->used += room;
    return m;
}

uint32_t appmsg_fill(struct appmsg_store *s, struct appmsg *m, const uint8_t *p, uint32_t n)
{
    uint32_t free_room = m->room - m->len;
    if (n > free_room)
        n = free_room;
    if (n) {
        memcpy(s->data + m->off + m->len, p, n);
        m->len += n;
    }
    return n;
}

struct appmsg *appmsg_add(struct appmsg_store *s, int dir, const uint8_t *p, uint32_t cap,
                          uint32_t wire_len, uint8_t cut)
{
    if (cap > wire_len)
        cap = wire_len;
    /* reserve only what was captured: the rest can never be filled */
    struct appmsg *m = appmsg_begin(s, dir, cap);
    if (!m)
        return NULL;
    appmsg_fill(s, m, p, cap);
    m->wire_len = wire_len;
    if (m->cut == APPMSG_CUT_NONE && cap < wire_len)
        m->cut = cut;
    return m;
}

const char *appmsg_cut_name(uint8_t cut)
{
    switch (cut) {
    case APPMSG_CUT_CAPTURE: return "capture";
    case APPMSG_CUT_FRAGMENT: return "fragment";
    case APPMSG_CUT_BUDGET: return "budget";
    case APPMSG_CUT_STREAM: return "stream";
    case APPMSG_CUT_BY_MODULE: return "module";
    default: return NULL;
    }
}

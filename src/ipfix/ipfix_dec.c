/*
 * ipfix_dec.c - NetFlow v5, NetFlow v9 and IPFIX messages to flow records.
 *
 * Untrusted input: every byte through util/cursor.h; every length checked
 * against what remains; bounded memory (template caps per exporter and in
 * total, the least recently used template goes first; expiry).
 */
#include "ipfix.h"

#include "cursor.h"

#include <stdlib.h>
#include <string.h>

#define NTP_OFFSET 2208988800ull
#define MAX_TEMPLATE_FIELDS 512
#define HASH_BUCKETS 1024

struct tfield {
    uint16_t id;  /* without the enterprise bit (v9: the type) */
    uint16_t len; /* 65535: variable */
    uint32_t pen;
};

struct exporter;

struct tmpl {
    struct tmpl *hnext;            /* hash chain */
    struct tmpl *lprev, *lnext;    /* global LRU list, most recent first */
    struct tmpl *eprev, *enext;    /* the exporter's templates */
    struct exporter *ex;
    uint32_t domain;
    uint16_t id;
    uint8_t version;
    bool options;                  /* an options template: its data is not flows */
    uint64_t used, updated;        /* use counter, seconds */
    uint16_t n;
    size_t min_len;
    struct tfield *f;
};

struct exporter {
    struct exporter *next;
    char name[80];
    size_t n;
    struct tmpl *head;
};

struct ipfix_collector {
    struct ipfix_limits lim;
    struct tmpl *bucket[HASH_BUCKETS];
    struct tmpl *lru_head, *lru_tail;
    struct exporter *exporters;
    size_t n_templates;
    uint64_t tick;
    struct ipfix_collector_stats st;
    struct ipfix_flow flow; /* scratch for one record */
    struct tfield fields[MAX_TEMPLATE_FIELDS];
};

struct ipfix_collector *ipfix_collector_new(const struct ipfix_limits *lim)
{
    struct ipfix_collector *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    if (lim)
        c->lim = *lim;
    if (!c->lim.templates_per_exporter)
        c->lim.templates_per_exporter = 256;
    if (!c->lim.templates_total)
        c->lim.templates_total = 4096;
    if (!c->lim.template_timeout_s)
        c->lim.template_timeout_s = 1800;
    return c;
}

static void drop_template(struct ipfix_collector *c, struct tmpl *t);

void ipfix_collector_free(struct ipfix_collector *c)
{
    if (!c)
        return;
    while (c->lru_head)
        drop_template(c, c->lru_head);
    struct exporter *e = c->exporters;
    while (e) {
        struct exporter *n = e->next;
        free(e);
        e = n;
    }
    free(c);
}

void ipfix_collector_get_stats(const struct ipfix_collector *c, struct ipfix_collector_stats *st)
{
    *st = c->st;
}

size_t ipfix_collector_templates(const struct ipfix_collector *c) { return c->n_templates; }

/* ---- the template cache ---- */
static uint32_t hash_key(const struct exporter *ex, uint32_t domain, uint16_t id)
{
    uintptr_t p = (uintptr_t)ex;
    uint64_t h = (uint64_t)p * 0x9e3779b97f4a7c15ull ^ (uint64_t)domain * 0xc2b2ae3d27d4eb4full ^ id;
    h ^= h >> 29;
    return (uint32_t)(h % HASH_BUCKETS);
}

static struct exporter *find_exporter(struct ipfix_collector *c, const char *name, bool create)
{
    for (struct exporter *e = c->exporters; e; e = e->next)
        if (strcmp(e->name, name) == 0)
            return e;
    if (!create)
        return NULL;
    struct exporter *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    snprintf(e->name, sizeof e->name, "%s", name);
    e->next = c->exporters;
    c->exporters = e;
    return e;
}

static void forget_exporter_if_empty(struct ipfix_collector *c, struct exporter *ex)
{
    if (ex->n)
        return;
    for (struct exporter **pp = &c->exporters; *pp; pp = &(*pp)->next) {
        if (*pp == ex) {
            *pp = ex->next;
            free(ex);
            return;
        }
    }
}

static void drop_template(struct ipfix_collector *c, struct tmpl *t)
{
    struct tmpl **pp = &c->bucket[hash_key(t->ex, t->domain, t->id)];
    while (*pp && *pp != t)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = t->hnext;
    if (t->lprev)
        t->lprev->lnext = t->lnext;
    else
        c->lru_head = t->lnext;
    if (t->lnext)
        t->lnext->lprev = t->lprev;
    else
        c->lru_tail = t->lprev;
    if (t->eprev)
        t->eprev->enext = t->enext;
    else
        t->ex->head = t->enext;
    if (t->enext)
        t->enext->eprev = t->eprev;
    t->ex->n--;
    c->n_templates--;
    struct exporter *ex = t->ex;
    free(t->f);
    free(t);
    forget_exporter_if_empty(c, ex);
}

static void lru_touch(struct ipfix_collector *c, struct tmpl *t)
{
    t->used = ++c->tick;
    if (c->lru_head == t)
        return;
    /* unlink */
    if (t->lprev)
        t->lprev->lnext = t->lnext;
    if (t->lnext)
        t->lnext->lprev = t->lprev;
    else if (c->lru_tail == t)
        c->lru_tail = t->lprev;
    /* push front */
    t->lprev = NULL;
    t->lnext = c->lru_head;
    if (c->lru_head)
        c->lru_head->lprev = t;
    c->lru_head = t;
    if (!c->lru_tail)
        c->lru_tail = t;
}

static struct tmpl *find_template(struct ipfix_collector *c, struct exporter *ex, uint32_t domain,
                                  uint16_t id, uint64_t now)
{
    if (!ex)
        return NULL;
    for (struct tmpl *t = c->bucket[hash_key(ex, domain, id)]; t; t = t->hnext) {
        if (t->ex == ex && t->domain == domain && t->id == id) {
            if (c->lim.template_timeout_s && now > t->updated &&
                now - t->updated > c->lim.template_timeout_s) {
                c->st.templates_expired++;
                drop_template(c, t);
                return NULL;
            }
            lru_touch(c, t);
            return t;
        }
    }
    return NULL;
}

/* Store (or replace) a template; fields are copied. */
static void add_template(struct ipfix_collector *c, const char *exporter, uint32_t domain,
                         uint16_t id, uint8_t version, bool options, const struct tfield *f,
                         uint16_t n, uint64_t now)
{
    struct exporter *ex = find_exporter(c, exporter, true);
    if (!ex) {
        c->st.templates_refused++;
        return;
    }
    for (struct tmpl *t = c->bucket[hash_key(ex, domain, id)]; t; t = t->hnext) {
        if (t->ex == ex && t->domain == domain && t->id == id) {
            drop_template(c, t);
            ex = find_exporter(c, exporter, true);
            if (!ex) {
                c->st.templates_refused++;
                return;
            }
            break;
        }
    }
    if (ex->n >= c->lim.templates_per_exporter) {
        struct tmpl *old = ex->head;
        for (struct tmpl *t = ex->head; t; t = t->enext)
            if (t->used < old->used)
                old = t;
        bool last = ex->n == 1;
        drop_template(c, old);
        c->st.templates_evicted++;
        if (last && !(ex = find_exporter(c, exporter, true))) {
            c->st.templates_refused++;
            return;
        }
    }
    while (c->n_templates >= c->lim.templates_total && c->lru_tail) {
        struct tmpl *victim = c->lru_tail;
        bool mine = victim->ex == ex && ex->n == 1;
        drop_template(c, victim);
        c->st.templates_evicted++;
        if (mine && !(ex = find_exporter(c, exporter, true))) {
            c->st.templates_refused++;
            return;
        }
    }
    struct tmpl *t = calloc(1, sizeof *t);
    struct tfield *copy = malloc((n ? n : 1) * sizeof *copy);
    if (!t || !copy) {
        free(t);
        free(copy);
        c->st.templates_refused++;
        forget_exporter_if_empty(c, ex);
        return;
    }
    memcpy(copy, f, n * sizeof *copy);
    t->f = copy;
    t->n = n;
    t->ex = ex;
    t->domain = domain;
    t->id = id;
    t->version = version;
    t->options = options;
    t->updated = now;
    for (uint16_t i = 0; i < n; i++)
        t->min_len += f[i].len == 65535 ? 1 : f[i].len;
    uint32_t h = hash_key(ex, domain, id);
    t->hnext = c->bucket[h];
    c->bucket[h] = t;
    t->enext = ex->head;
    if (ex->head)
        ex->head->eprev = t;
    ex->head = t;
    ex->n++;
    c->n_templates++;
    t->lprev = t->lnext = NULL;
    t->lnext = c->lru_head;
    if (c->lru_head)
        c->lru_head->lprev = t;
    c->lru_head = t;
    if (!c->lru_tail)
        c->lru_tail = t;
    t->used = ++c->tick;
    c->st.templates++;
}

static void withdraw(struct ipfix_collector *c, const char *exporter, uint32_t domain, uint16_t id,
                     bool all)
{
    struct exporter *ex = find_exporter(c, exporter, false);
    if (!ex)
        return;
    struct tmpl *t = ex->head;
    while (t) {
        struct tmpl *next = t->enext;
        bool last = ex->n == 1;
        if (t->domain == domain && (all || t->id == id)) {
            drop_template(c, t);
            if (last)
                return; /* the exporter went with its last template */
        }
        t = next;
    }
}

/* ---- value readers ---- */
static uint64_t read_uint(const uint8_t *p, size_t len)
{
    uint64_t v = 0;
    for (size_t i = 0; i < len && i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static uint64_t ntp_to_ns(uint64_t v)
{
    uint64_t sec = v >> 32, frac = v & 0xffffffffu;
    if (sec < NTP_OFFSET)
        return 0;
    uint64_t us = (frac * 1000000u + (1ull << 31)) >> 32;
    return (sec - NTP_OFFSET) * 1000000000ull + us * 1000u;
}

/* Times the record carried, resolved at the end (the finest wins). */
struct times {
    uint64_t start_ns[5], end_ns[5]; /* by precision: s, ms, us, ns, sysuptime */
    bool has_start[5], has_end[5];
    uint64_t up_start, up_end;
    bool has_up_start, has_up_end;
};

static void set_time(struct times *t, bool end, int prec, uint64_t ns)
{
    if (end) {
        t->end_ns[prec] = ns;
        t->has_end[prec] = true;
    } else {
        t->start_ns[prec] = ns;
        t->has_start[prec] = true;
    }
}

/* One basicList (RFC 6313): lengths, times, directions, byte distribution. */
static void basic_list(struct ipfix_flow *fl, const uint8_t *p, size_t len, uint16_t ipt[],
                       uint32_t *n_len, uint32_t *n_ipt, uint32_t *n_dir, uint8_t dir[])
{
    struct cursor c;
    cur_init(&c, p, len);
    cur_u8(&c); /* semantic */
    uint16_t id = cur_u16(&c);
    uint16_t elen = cur_u16(&c);
    uint32_t pen = 0;
    if (id & 0x8000u) {
        pen = cur_u32(&c);
        id &= 0x7fffu;
    }
    if (!cur_ok(&c) || elen == 0 || elen == 65535 || elen > 8)
        return;
    size_t n = cur_left(&c) / elen;
    /* the three lists of "packets" set has_splt even when empty (a record
     * whose flow carried no payload has "packets": []) */
    if (pen == IPFIX_PEN_CISCO && id == ETA_SPLT_LENGTHS) {
        for (size_t i = 0; i < n && i < IPFIX_MAX_SPLT; i++)
            fl->splt[i].len = (uint32_t)read_uint(cur_bytes(&c, elen), elen);
        *n_len = n > IPFIX_MAX_SPLT ? IPFIX_MAX_SPLT : (uint32_t)n;
        fl->has_splt = true;
    } else if (pen == IPFIX_PEN_CISCO && id == ETA_SPLT_TIMES) {
        for (size_t i = 0; i < n && i < IPFIX_MAX_SPLT; i++)
            ipt[i] = (uint16_t)read_uint(cur_bytes(&c, elen), elen);
        *n_ipt = n > IPFIX_MAX_SPLT ? IPFIX_MAX_SPLT : (uint32_t)n;
        fl->has_splt = true;
    } else if (pen == 0 && id == 61) {
        for (size_t i = 0; i < n && i < IPFIX_MAX_SPLT; i++)
            dir[i] = (uint8_t)(read_uint(cur_bytes(&c, elen), elen) & 1);
        *n_dir = n > IPFIX_MAX_SPLT ? IPFIX_MAX_SPLT : (uint32_t)n;
        fl->has_splt = true;
    } else if (pen == IPFIX_PEN_CISCO && id == ETA_BD && n == 256) {
        for (size_t i = 0; i < 256; i++)
            fl->bd[i] = read_uint(cur_bytes(&c, elen), elen);
        fl->has_bd = true;
    }
}

/* One field of a data record (IPFIX or v9: v9 types are IPFIX ids below
 * 128; v9 types >= 32768 are Cisco's, PEN 9 with the top bit cleared). */
static void field(struct ipfix_flow *fl, struct times *tm, const struct tfield *f,
                  const uint8_t *p, size_t len, unsigned version, uint16_t ipt[], uint32_t *n_len,
                  uint32_t *n_ipt, uint32_t *n_dir, uint8_t dir[])
{
    struct joy_record *v = &fl->view;
    uint32_t pen = f->pen;
    uint16_t id = f->id;
    if (version == 9 && id >= 32768) {
        pen = IPFIX_PEN_CISCO;
        id = (uint16_t)(id - 32768);
    }
    uint64_t x = len <= 8 ? read_uint(p, len) : 0;
    if (pen == 0) {
        switch (id) {
        case 8: if (len == 4) { memcpy(v->sa, p, 4); v->ip_version = 4; } break;
        case 12: if (len == 4) { memcpy(v->da, p, 4); v->ip_version = 4; } break;
        case 27: if (len == 16) { memcpy(v->sa, p, 16); v->ip_version = 6; } break;
        case 28: if (len == 16) { memcpy(v->da, p, 16); v->ip_version = 6; } break;
        case 7: v->sp = (uint16_t)x; fl->has_ports = true; break;
        case 11: v->dp = (uint16_t)x; fl->has_ports = true; break;
        case 4: v->protocol = (uint8_t)x; break;
        case 1: case 85: case 231: v->out.ip_bytes = x; break;
        case 2: case 86: case 298: v->out.packets = x; break;
        case 232: v->in.ip_bytes = x; fl->has_reverse = true; break;
        case 299: v->in.packets = x; fl->has_reverse = true; break;
        case 23: if (version == 9) { v->in.ip_bytes = x; fl->has_reverse = true; } break;
        case 24: if (version == 9) { v->in.packets = x; fl->has_reverse = true; } break;
        case 6: v->out.tcp_flags = (uint8_t)x; break;
        case 136: fl->end_reason = (uint8_t)x; fl->has_end_reason = true; break;
        case 239: fl->bidir_dir = (uint8_t)x; break;
        case 150: set_time(tm, false, 0, x * 1000000000ull); break;
        case 151: set_time(tm, true, 0, x * 1000000000ull); break;
        case 152: set_time(tm, false, 1, x * 1000000ull); break;
        case 153: set_time(tm, true, 1, x * 1000000ull); break;
        case 154: set_time(tm, false, 2, ntp_to_ns(x)); break;
        case 155: set_time(tm, true, 2, ntp_to_ns(x)); break;
        case 156: set_time(tm, false, 3, ntp_to_ns(x)); break;
        case 157: set_time(tm, true, 3, ntp_to_ns(x)); break;
        case 22: tm->up_start = x; tm->has_up_start = true; break;
        case 21: tm->up_end = x; tm->has_up_end = true; break;
        case 291: basic_list(fl, p, len, ipt, n_len, n_ipt, n_dir, dir); break;
        default: break;
        }
    } else if (pen == IPFIX_PEN_REVERSE) {
        switch (id) {
        case 1: case 85: v->in.ip_bytes = x; fl->has_reverse = true; break;
        case 2: case 86: v->in.packets = x; fl->has_reverse = true; break;
        case 6: v->in.tcp_flags = (uint8_t)x; break;
        default: break;
        }
    } else if (pen == IPFIX_PEN_CERT) {
        if (id == 502) {
            fl->payload_out = x;
            fl->has_payload_bytes = true;
        } else if (id == (502 | IPFIX_ENTERPRISE_REVERSE_BIT)) {
            fl->payload_in = x;
        }
    } else if (pen == IPFIX_PEN_CISCO) {
        if (id == ETA_IDP) {
            fl->idp_out = p;
            fl->idp_out_len = len;
        } else if (id == (ETA_IDP | IPFIX_ENTERPRISE_REVERSE_BIT)) {
            fl->idp_in = p;
            fl->idp_in_len = len;
        }
    }
}

static void resolve_times(struct ipfix_flow *fl, const struct times *tm, unsigned version,
                          uint64_t hdr_secs, uint64_t hdr_uptime_ms)
{
    for (int prec = 3; prec >= 0; prec--) {
        if (tm->has_start[prec] && !fl->has_times) {
            fl->view.time_start_ns = tm->start_ns[prec];
            fl->view.time_end_ns = tm->has_end[prec] ? tm->end_ns[prec] : tm->start_ns[prec];
            fl->has_times = true;
        }
    }
    if (!fl->has_times && version == 9 && tm->has_up_start) {
        /* v9: FIRST/LAST_SWITCHED are sysUptime ms; the header maps uptime to time */
        uint64_t boot_ms = hdr_secs * 1000u - hdr_uptime_ms;
        fl->view.time_start_ns = (boot_ms + tm->up_start) * 1000000ull;
        fl->view.time_end_ns = (boot_ms + (tm->has_up_end ? tm->up_end : tm->up_start)) * 1000000ull;
        fl->has_times = true;
    }
    if (fl->view.time_end_ns < fl->view.time_start_ns)
        fl->view.time_end_ns = fl->view.time_start_ns;
}

static void finish_flow(struct ipfix_flow *fl)
{
    struct joy_record *v = &fl->view;
    if (!v->ip_version)
        v->ip_version = 4;
    v->has_ports = v->protocol == 6 || v->protocol == 17 || v->protocol == 132 || v->protocol == 136;
    v->out.bytes = fl->payload_out;
    v->in.bytes = fl->payload_in;
    switch (fl->end_reason) {
    case 1: v->expire = JOY_EXPIRE_INACTIVE; break;
    case 2: v->expire = JOY_EXPIRE_ACTIVE; break;
    case 3: v->expire = JOY_EXPIRE_CLOSED; break;   /* end of flow detected (TCP FIN, RST) */
    case 4: v->expire = JOY_EXPIRE_END; break;
    case 5: v->expire = JOY_EXPIRE_ROOM; break;
    default: v->expire = JOY_EXPIRE_NONE; break;
    }
    v->pkts = fl->n_splt ? fl->splt : NULL;
    v->n_pkts = fl->n_splt;
}

static void reset_flow(struct ipfix_flow *fl, const char *exporter, unsigned version,
                       uint32_t domain, uint16_t tid)
{
    /* everything but the big arrays, which the flags guard */
    memset(&fl->view, 0, sizeof fl->view);
    fl->version = version;
    fl->domain = domain;
    fl->template_id = tid;
    fl->exporter = exporter;
    fl->has_ports = fl->has_times = fl->has_reverse = fl->has_payload_bytes = false;
    fl->has_end_reason = fl->has_bd = fl->has_splt = false;
    fl->payload_out = fl->payload_in = 0;
    fl->end_reason = fl->bidir_dir = 0;
    fl->n_splt = 0;
    fl->idp_out = fl->idp_in = NULL;
    fl->idp_out_len = fl->idp_in_len = 0;
}

/* One data record of template t at cursor c; false if it does not fit. */
static bool data_record(struct ipfix_collector *c, struct cursor *cur, const struct tmpl *t,
                        const char *exporter, uint64_t hdr_secs, uint64_t hdr_uptime,
                        ipfix_flow_fn on_flow, void *user)
{
    struct ipfix_flow *fl = &c->flow;
    struct times tm;
    memset(&tm, 0, sizeof tm);
    reset_flow(fl, exporter, t->version, t->domain, t->id);
    uint16_t *ipt = fl->splt_ipt;
    uint8_t dir[IPFIX_MAX_SPLT];
    uint32_t n_len = 0, n_ipt = 0, n_dir = 0;
    for (uint16_t i = 0; i < t->n; i++) {
        size_t len = t->f[i].len;
        if (len == 65535) {
            len = cur_u8(cur);
            if (len == 255)
                len = cur_u16(cur);
        }
        const uint8_t *p = cur_bytes(cur, len);
        if (!cur_ok(cur))
            return false;
        field(fl, &tm, &t->f[i], p, len, t->version, ipt, &n_len, &n_ipt, &n_dir, dir);
    }
    if (t->options)
        return true;
    resolve_times(fl, &tm, t->version, hdr_secs, hdr_uptime);
    if (n_len) {
        uint64_t ts = fl->view.time_start_ns;
        for (uint32_t i = 0; i < n_len; i++) {
            uint16_t d = i < n_ipt ? ipt[i] : 0;
            ts += (uint64_t)d * 1000000u;
            fl->splt[i].ts_ns = ts;
            fl->splt[i].dir = i < n_dir ? dir[i] : 0;
            if (i >= n_ipt)
                ipt[i] = 0;
        }
        fl->n_splt = n_len;
    }
    finish_flow(fl);
    c->st.records++;
    if (on_flow)
        on_flow(user, fl);
    return true;
}

/* ---- NetFlow v5 ---- */
static int collect_v5(struct ipfix_collector *c, const char *exporter, struct cursor *cur,
                      ipfix_flow_fn on_flow, void *user)
{
    cur_u16(cur); /* version */
    unsigned count = cur_u16(cur);
    uint64_t uptime = cur_u32(cur), secs = cur_u32(cur), nsecs = cur_u32(cur);
    cur_u32(cur); /* flow sequence */
    uint8_t engine_type = cur_u8(cur), engine_id = cur_u8(cur);
    cur_u16(cur); /* sampling */
    if (!cur_ok(cur) || count == 0 || count > 30 || cur_left(cur) < (size_t)count * 48)
        return -1;
    uint64_t boot_ms = secs * 1000u + nsecs / 1000000u - uptime;
    int n = 0;
    for (unsigned i = 0; i < count; i++) {
        struct ipfix_flow *fl = &c->flow;
        reset_flow(fl, exporter, 5, (uint32_t)engine_type << 8 | engine_id, 0);
        struct joy_record *v = &fl->view;
        v->ip_version = 4;
        cur_copy(cur, v->sa, 4);
        cur_copy(cur, v->da, 4);
        cur_skip(cur, 4 + 2 + 2); /* next hop, input, output */
        v->out.packets = cur_u32(cur);
        v->out.ip_bytes = cur_u32(cur);
        uint64_t first = cur_u32(cur), last = cur_u32(cur);
        v->sp = cur_u16(cur);
        v->dp = cur_u16(cur);
        cur_skip(cur, 1);
        v->out.tcp_flags = cur_u8(cur);
        v->protocol = cur_u8(cur);
        cur_skip(cur, 1 + 2 + 2 + 1 + 1 + 2);
        if (!cur_ok(cur))
            return -1;
        fl->has_ports = true;
        v->time_start_ns = (boot_ms + first) * 1000000ull;
        v->time_end_ns = (boot_ms + last) * 1000000ull;
        if (v->time_end_ns < v->time_start_ns)
            v->time_end_ns = v->time_start_ns;
        fl->has_times = true;
        finish_flow(fl);
        c->st.records++;
        n++;
        if (on_flow)
            on_flow(user, fl);
    }
    return n;
}

/* A template record's fields into f; the number of fields, or -1. */
static int read_fields(struct cursor *s, unsigned count, bool ipfix, struct tfield *f)
{
    if (count > MAX_TEMPLATE_FIELDS)
        return -1;
    for (unsigned i = 0; i < count; i++) {
        uint16_t id = cur_u16(s), len = cur_u16(s);
        uint32_t pen = 0;
        if (ipfix && (id & 0x8000u)) {
            pen = cur_u32(s);
            id &= 0x7fffu;
        }
        if (!cur_ok(s))
            return -1;
        if (!ipfix && len == 65535)
            return -1; /* v9 has no variable length */
        f[i] = (struct tfield){id, len, pen};
    }
    return (int)count;
}

/* ---- NetFlow v9 and IPFIX ---- */
static int collect_v9_ipfix(struct ipfix_collector *c, const char *exporter, struct cursor *msg,
                            unsigned version, uint64_t now, ipfix_flow_fn on_flow, void *user)
{
    bool ipfix = version == 10;
    uint64_t uptime = 0, secs;
    uint32_t domain;
    cur_u16(msg); /* version */
    if (ipfix) {
        unsigned len = cur_u16(msg);
        if (len < 16 || len > cur_left(msg) + 4)
            return -1;
        /* the message is what the header says; the rest is ignored */
        struct cursor whole = *msg;
        cur_init(msg, whole.p, len - 4);
        secs = cur_u32(msg);
        cur_u32(msg); /* sequence */
        domain = cur_u32(msg);
    } else {
        cur_u16(msg); /* count */
        uptime = cur_u32(msg);
        secs = cur_u32(msg);
        cur_u32(msg); /* sequence */
        domain = cur_u32(msg);
    }
    if (!cur_ok(msg))
        return -1;
    int n = 0;
    struct tfield *fields = c->fields;
    while (cur_left(msg) >= 4) {
        uint16_t set_id = cur_u16(msg), set_len = cur_u16(msg);
        if (set_len < 4 || set_len - 4u > cur_left(msg)) {
            c->st.bad_sets++;
            return n ? n : -1;
        }
        struct cursor s = cur_sub(msg, set_len - 4u);
        bool tmpl_set = ipfix ? set_id == 2 : set_id == 0;
        bool opt_set = ipfix ? set_id == 3 : set_id == 1;
        if (tmpl_set || opt_set) {
            while (cur_left(&s) >= 4) {
                uint16_t tid = cur_u16(&s), count = cur_u16(&s);
                if (opt_set) {
                    if (ipfix) {
                        if (count == 0) { /* withdrawal of an options template */
                            withdraw(c, exporter, domain, tid, tid == 3);
                            continue;
                        }
                        cur_u16(&s); /* scope field count */
                    } else {
                        /* v9: scope length and option length, in bytes */
                        unsigned opt_len = cur_u16(&s);
                        count = (uint16_t)(((unsigned)count + opt_len) / 4);
                    }
                }
                if (!cur_ok(&s))
                    break;
                if (ipfix && count == 0) { /* withdrawal */
                    withdraw(c, exporter, domain, tid, tid == 2);
                    continue;
                }
                int nf = read_fields(&s, count, ipfix, fields);
                if (nf < 0 || tid < 256) {
                    c->st.bad_sets++;
                    c->st.templates_refused++;
                    break;
                }
                add_template(c, exporter, domain, tid, (uint8_t)version, opt_set, fields,
                             (uint16_t)nf, now);
                if (!ipfix && opt_set)
                    break; /* v9 options templates: one per flowset with padding */
            }
        } else if (set_id >= 256) {
            struct exporter *ex = find_exporter(c, exporter, false);
            struct tmpl *t = find_template(c, ex, domain, set_id, now);
            if (!t) {
                c->st.no_template++;
                continue;
            }
            size_t min = t->min_len ? t->min_len : 1;
            while (cur_left(&s) >= min) {
                size_t before = cur_left(&s);
                if (!data_record(c, &s, t, exporter, secs, uptime, on_flow, user)) {
                    c->st.bad_sets++;
                    break;
                }
                if (!t->options)
                    n++;
                if (cur_left(&s) >= before)
                    break;
            }
        } else {
            c->st.bad_sets++;
        }
    }
    return n;
}

int ipfix_collect(struct ipfix_collector *c, const char *exporter, const uint8_t *msg, size_t len,
                  uint64_t now_s, ipfix_flow_fn on_flow, void *user)
{
    struct cursor cur;
    cur_init(&cur, msg, len);
    if (len < 4) {
        c->st.bad_messages++;
        return -1;
    }
    unsigned version = (unsigned)msg[0] << 8 | msg[1];
    int n;
    c->st.messages++;
    if (version == 5)
        n = collect_v5(c, exporter, &cur, on_flow, user);
    else if (version == 9 || version == 10)
        n = collect_v9_ipfix(c, exporter, &cur, version, now_s, on_flow, user);
    else
        n = -1;
    if (n < 0)
        c->st.bad_messages++;
    return n;
}

/*
 * \summary: byte distribution module - byte_dist, compact_byte_dist, entropy
 *
 * Options: dist=1 (byte_dist, byte_dist_mean, byte_dist_std), entropy=1
 * (entropy, total_entropy), cdist=FILE|default (compact_byte_dist),
 * dist_bytes=N (the byte range, default 4000, 0 = every byte).
 *
 * The byte range, the same for every field and whatever options are on:
 * the first dist_bytes captured payload bytes of EACH direction, taken from
 * the packets that the core counts in bytes_out/bytes_in (TCP
 * retransmissions are left out unless retrans=1), in arrival order.  The
 * two directions are summed into one histogram of 256 counts.
 *
 * Packet path: integer increments only (a 4-way unrolled loop over a
 * 256-entry uint16 histogram, promoted once to uint64 before any count
 * could pass 65535, so nothing wraps).  Floating point is used only in
 * write_json.  State: about 0.5 KiB per flow that carried payload (2 KiB
 * more after promotion, only for flows with more than 65535 bytes counted,
 * which the default dist_bytes=4000 never reaches).  The small histogram
 * matters: every page of the heap's peak size costs a page fault.
 */
#include "bytedist.h"
#include "cursor.h"
#include "flow.h"
#include "jsonw.h"
#include "module.h"
#include "packet.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bytedist_cfg {
    bool dist;
    bool entropy;
    char *cdist;
    uint64_t dist_bytes;
};

/* What setup() makes once per context (read-only afterwards): the cdist map. */
struct bytedist_data {
    bool have_map;
    uint8_t map[256];
};

struct bytedist_state {
    uint64_t counted[2];   /* bytes counted per direction */
    uint64_t *wide;        /* uint64 histogram once promoted, else NULL */
    uint16_t hist[256];    /* both directions summed */
};

static const struct joy_option bytedist_options[] = {
    {"dist", OPT_BOOL, offsetof(struct bytedist_cfg, dist), 0, 1, "0", "0|1",
     "byte_dist (256 counts), byte_dist_mean, byte_dist_std of the payload bytes"},
    {"cdist", OPT_STR, offsetof(struct bytedist_cfg, cdist), 0, 0, NULL, "FILE",
     "compact_byte_dist: 16 counts through a 256->16 map file ('default': built-in map)"},
    {"entropy", OPT_BOOL, offsetof(struct bytedist_cfg, entropy), 0, 1, "0", "0|1",
     "entropy (bits per byte) and total_entropy of the payload bytes"},
    {"dist_bytes", OPT_UINT, offsetof(struct bytedist_cfg, dist_bytes), 0, UINT64_MAX, "4000",
     "N", "dist/cdist/entropy count the first N payload bytes of each direction (0: all)"},
    {NULL, 0, 0, 0, 0, NULL, NULL, NULL},
};

/* ---------------------------------------------------------------------
 * The 256 -> 16 map
 */

/*
 * The built-in map groups bytes by what they usually are in payload:
 *   0 NUL; 1 other C0 controls and DEL (0x01-0x08, 0x0e-0x1f, 0x7f);
 *   2 TAB LF VT FF CR (0x09-0x0d); 3 space; 4 digits; 5 A-Z; 6 a-z;
 *   7 the other printable ASCII (punctuation);
 *   8-15 the high half in runs of 16: bin = 8 + ((byte - 0x80) >> 4).
 */
void cdist_default_map(uint8_t map[256])
{
    for (int b = 0; b < 256; b++) {
        uint8_t bin;
        if (b == 0)
            bin = 0;
        else if (b >= 0x09 && b <= 0x0d)
            bin = 2;
        else if (b < 0x20 || b == 0x7f)
            bin = 1;
        else if (b == 0x20)
            bin = 3;
        else if (b >= '0' && b <= '9')
            bin = 4;
        else if (b >= 'A' && b <= 'Z')
            bin = 5;
        else if (b >= 'a' && b <= 'z')
            bin = 6;
        else if (b < 0x80)
            bin = 7;
        else
            bin = (uint8_t)(8 + ((b - 0x80) >> 4));
        map[b] = bin;
    }
}

static void skip_blanks(struct cursor *c)
{
    while (cur_has(c, 1) && (cur_peek(c, 0) == ' ' || cur_peek(c, 0) == '\t'))
        cur_skip(c, 1);
}

static bool is_digit(uint8_t ch) { return ch >= '0' && ch <= '9'; }

/* A decimal number of at most 9 digits; -1 if there is none, -2 if longer. */
static long parse_dec(struct cursor *c)
{
    if (!cur_has(c, 1) || !is_digit(cur_peek(c, 0)))
        return -1;
    long v = 0;
    int digits = 0;
    while (cur_has(c, 1) && is_digit(cur_peek(c, 0))) {
        uint8_t d = cur_u8(c);
        if (++digits <= 9)
            v = v * 10 + (d - '0');
    }
    return digits > 9 ? -2 : v;
}

static int map_fail(char *err, size_t errlen, const char *name, unsigned long line,
                    const char *what)
{
    snprintf(err, errlen, "cdist: %s:%lu: %s", name, line, what);
    return -1;
}

int cdist_parse_map(const uint8_t *data, size_t len, const char *name, uint8_t map[256],
                    char *err, size_t errlen)
{
    unsigned long where[256] = {0}; /* line of each byte's entry, 0 = none yet */
    struct cursor c;
    cur_init(&c, data, len);
    unsigned long line = 0;
    char msg[160];
    while (cur_has(&c, 1)) {
        line++;
        /* isolate one line */
        size_t n = 0;
        while (n < cur_left(&c) && cur_peek(&c, n) != '\n')
            n++;
        struct cursor l = cur_sub(&c, n);
        cur_skip(&c, cur_has(&c, 1) ? 1 : 0); /* the '\n' */
        skip_blanks(&l);
        if (!cur_has(&l, 1) || cur_peek(&l, 0) == '#' ||
            (cur_peek(&l, 0) == '\r' && cur_left(&l) == 1))
            continue; /* blank or comment */
        long byte = parse_dec(&l);
        size_t before_bin = cur_left(&l);
        skip_blanks(&l);
        bool sep = cur_left(&l) != before_bin;
        long bin = sep ? parse_dec(&l) : -1;
        if (byte == -1 || bin == -1)
            return map_fail(err, errlen, name, line,
                            "expected 'BYTE<TAB>BIN' (two decimal numbers)");
        if (byte < 0 || byte > 255) {
            if (byte < 0)
                snprintf(msg, sizeof msg, "byte value out of range 0-255 (too many digits)");
            else
                snprintf(msg, sizeof msg, "byte value %ld out of range 0-255", byte);
            return map_fail(err, errlen, name, line, msg);
        }
        if (bin < 0 || bin >= CDIST_BINS) {
            if (bin < 0)
                snprintf(msg, sizeof msg, "bin out of range 0-15 (too many digits)");
            else
                snprintf(msg, sizeof msg, "bin %ld out of range 0-15", bin);
            return map_fail(err, errlen, name, line, msg);
        }
        skip_blanks(&l);
        if (cur_has(&l, 1) && cur_peek(&l, 0) == '\r')
            cur_skip(&l, 1);
        if (cur_has(&l, 1) && cur_peek(&l, 0) != '#')
            return map_fail(err, errlen, name, line, "unexpected text after the bin");
        if (where[byte]) {
            snprintf(msg, sizeof msg, "byte %ld already mapped on line %lu", byte, where[byte]);
            return map_fail(err, errlen, name, line, msg);
        }
        where[byte] = line;
        map[byte] = (uint8_t)bin;
    }
    for (int b = 0; b < 256; b++) {
        if (!where[b]) {
            snprintf(msg, sizeof msg,
                     "end of file: byte %d has no bin (all 256 byte values must be mapped)", b);
            return map_fail(err, errlen, name, line + 1, msg);
        }
    }
    return 0;
}

static int load_map_file(const char *path, uint8_t map[256], char *err, size_t errlen)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        snprintf(err, errlen, "cdist: %s: %s", path, strerror(errno));
        return -1;
    }
    uint8_t *buf = malloc(CDIST_MAX_FILE + 1);
    if (!buf) {
        fclose(fp);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t n = fread(buf, 1, CDIST_MAX_FILE + 1, fp);
    int rd_err = ferror(fp) ? errno : 0;
    fclose(fp);
    int rc;
    if (rd_err) {
        snprintf(err, errlen, "cdist: %s: cannot read: %s", path, strerror(rd_err));
        rc = -1;
    } else if (n > CDIST_MAX_FILE) {
        snprintf(err, errlen, "cdist: %s: larger than %d bytes, not a byte map", path,
                 CDIST_MAX_FILE);
        rc = -1;
    } else {
        rc = cdist_parse_map(buf, n, path, map, err, errlen);
    }
    free(buf);
    return rc;
}

/* ---------------------------------------------------------------------
 * The module
 */

static bool bytedist_enabled(const void *cfg, const struct joy_config *core)
{
    (void)core;
    const struct bytedist_cfg *c = cfg;
    return c->dist || c->entropy || c->cdist;
}

static int bytedist_setup(const void *cfg, const struct joy_config *core, void **data,
                          char *err, size_t errlen)
{
    (void)core;
    const struct bytedist_cfg *c = cfg;
    struct bytedist_data *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    *data = s;
    if (!c->cdist)
        return 0;
    if (strcmp(c->cdist, "default") == 0) {
        cdist_default_map(s->map);
    } else if (load_map_file(c->cdist, s->map, err, errlen) != 0) {
        free(s);
        *data = NULL;
        return -1;
    }
    s->have_map = true;
    return 0;
}

static void count16(uint16_t *h, const uint8_t *p, size_t n)
{
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        h[p[i]]++;
        h[p[i + 1]]++;
        h[p[i + 2]]++;
        h[p[i + 3]]++;
    }
    for (; i < n; i++)
        h[p[i]]++;
}

static void count64(uint64_t *h, const uint8_t *p, size_t n)
{
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        h[p[i]]++;
        h[p[i + 1]]++;
        h[p[i + 2]]++;
        h[p[i + 3]]++;
    }
    for (; i < n; i++)
        h[p[i]]++;
}

static void bytedist_packet(const struct module_env *env, void **state, const struct flow *f,
                            const struct packet *p, int dir)
{
    (void)f;
    if (!p->payload_cap || !p->payload)
        return;
    const struct bytedist_cfg *c = env->cfg;
    uint64_t limit = c->dist_bytes ? c->dist_bytes : UINT64_MAX;
    struct bytedist_state *s = *state;
    if (!s) {
        s = module_calloc(env, sizeof *s);
        if (!s)
            return;
        *state = s;
    }
    uint64_t room = limit - s->counted[dir];
    if (!room)
        return;
    uint64_t n = p->payload_cap < room ? p->payload_cap : room;
    if (!s->wide && s->counted[0] + s->counted[1] + n > UINT16_MAX) {
        /* a bin could pass 65535: move to 64-bit counts, once */
        uint64_t *w = module_malloc(env, 256 * sizeof *w);
        if (!w)
            return;
        for (int i = 0; i < 256; i++)
            w[i] = s->hist[i];
        s->wide = w;
    }
    if (s->wide)
        count64(s->wide, p->payload, (size_t)n);
    else
        count16(s->hist, p->payload, (size_t)n);
    s->counted[dir] += n;
}

/* The histogram as 64-bit counts, whichever width it is kept in. */
static void get_counts(const struct bytedist_state *s, uint64_t k[256])
{
    if (s->wide) {
        memcpy(k, s->wide, 256 * sizeof k[0]);
    } else {
        for (int b = 0; b < 256; b++)
            k[b] = s->hist[b];
    }
}

extern const struct joy_module bytedist_module;

uint64_t bytedist_of(const struct module_env *env, const struct flow *f, uint64_t k[256])
{
    const struct bytedist_state *s = module_state(env, f, &bytedist_module);
    if (!s) {
        memset(k, 0, 256 * sizeof k[0]);
        return 0;
    }
    get_counts(s, k);
    return s->counted[0] + s->counted[1];
}

/*
 * The bins that are not empty, in byte order (byte[i] has count[i] > 0,
 * i < n).  Every sum over the bins below skips the empty ones (60% of
 * them in the benchmark mix, most of them in a record of a few packets);
 * listing them first, without a branch per bin, keeps those loops short
 * and free of mispredicted tests.
 */
struct used_bins {
    int n;
    uint8_t byte[256];
    uint64_t count[256];
};

static void list_used(const uint64_t k[256], struct used_bins *u)
{
    int n = 0;
    for (int b = 0; b < 256; b++) {
        u->byte[n] = (uint8_t)b;
        u->count[n] = k[b];
        n += k[b] != 0;
    }
    u->n = n;
}

/* The used bins of the histogram, whichever width it is kept in; runs of
 * four empty 16-bit bins (most of them in a short flow's histogram) are
 * passed over in one test. */
static void list_used_state(const struct bytedist_state *s, struct used_bins *u)
{
    if (s->wide) {
        list_used(s->wide, u);
        return;
    }
    int n = 0;
    for (int b = 0; b < 256; b += 4) {
        uint64_t four;
        memcpy(&four, &s->hist[b], sizeof four);
        if (!four)
            continue;
        for (int i = b; i < b + 4; i++) {
            uint64_t c = s->hist[i];
            u->byte[n] = (uint8_t)i;
            u->count[n] = c;
            n += c != 0;
        }
    }
    u->n = n;
}

/* v with 6 decimals, fewer when it is too large for 6 (never null) */
static void put_real(struct jsonw *w, double v)
{
    int dec = 6;
    double lim = 9e12;
    while (dec > 0 && fabs(v) >= lim) {
        dec--;
        lim *= 10;
    }
    jw_fixed(w, v, dec);
}

/*
 * byte_dist, byte_dist_mean, byte_dist_std of the n counted bytes (the
 * counts written straight from the histogram, 16-bit counts eight at a
 * time: jw_u16_array).  The sum of count * byte is kept in an integer:
 * it is exact, and it equals the sum in doubles of earlier versions bit
 * for bit while it stays below 2^53 (n below about 3.5e13 bytes).
 */
static void write_dist(struct jsonw *w, const struct bytedist_state *s,
                       const struct used_bins *u, uint64_t n)
{
    double dn = (double)n;
    uint64_t sum = 0;
    for (int i = 0; i < u->n; i++)
        sum += u->count[i] * u->byte[i];
    jw_key(w, "byte_dist");
    if (s->wide)
        jw_uint_array(w, s->wide, 256);
    else
        jw_u16_array(w, s->hist, 256);
    double mean = (double)sum / dn;
    double var = 0;
    for (int i = 0; i < u->n; i++) {
        double d = u->byte[i] - mean;
        var += (double)u->count[i] * d * d;
    }
    var /= dn;
    jw_key(w, "byte_dist_mean");
    put_real(w, mean);
    jw_key(w, "byte_dist_std");
    put_real(w, sqrt(var));
}

static void write_cdist(struct jsonw *w, const struct used_bins *u, const uint8_t map[256])
{
    /* four partial sums, so that neighbouring bytes of the same bin do not
     * wait on each other's addition; integer sums, so the order is free */
    uint64_t part[4][CDIST_BINS] = {{0}};
    for (int i = 0; i < u->n; i++)
        part[i & 3][map[u->byte[i]]] += u->count[i];
    uint64_t bins[CDIST_BINS];
    for (int i = 0; i < CDIST_BINS; i++)
        bins[i] = part[0][i] + part[1][i] + part[2][i] + part[3][i];
    jw_key(w, "compact_byte_dist");
    jw_uint_array(w, bins, CDIST_BINS);
}

/*
 * Terms q log2 q (q = count / n) of one record.  The bins of a record
 * mostly share a few small counts, so the term of each count below
 * ENT_CACHE is computed once per record: bit c of `have` says term[c] is
 * set.  A cached term is the result of the same operations, so the sum
 * is the same to the last bit.
 */
#define ENT_CACHE 64
struct ent_terms {
    double dn;
    uint64_t have;
    double term[ENT_CACHE];
};

static double ent_term(struct ent_terms *t, uint64_t count)
{
    if (count < ENT_CACHE && (t->have >> count & 1))
        return t->term[count];
    double q = (double)count / t->dn;
    double v = q * log2(q);
    if (count < ENT_CACHE) {
        t->term[count] = v;
        t->have |= 1ull << count;
    }
    return v;
}

static void write_entropy(struct jsonw *w, const struct used_bins *u, uint64_t n)
{
    struct ent_terms t;
    t.dn = (double)n;
    t.have = 0;
    double h = 0;
    for (int i = 0; i < u->n; i++)
        h -= ent_term(&t, u->count[i]);
    if (h < 0) /* -0.0 for a single byte value */
        h = 0;
    jw_key(w, "entropy");
    put_real(w, h);
    jw_key(w, "total_entropy");
    put_real(w, h * t.dn);
}

static void bytedist_json(const struct module_env *env, const void *state, const struct flow *f,
                          struct jsonw *w)
{
    (void)f;
    const struct bytedist_cfg *c = env->cfg;
    const struct bytedist_data *sh = env->data;
    const struct bytedist_state *s = state;
    uint64_t n = s->counted[0] + s->counted[1];
    if (!n)
        return;
    struct used_bins u;
    list_used_state(s, &u);
    if (c->dist)
        write_dist(w, s, &u, n);
    if (sh && sh->have_map)
        write_cdist(w, &u, sh->map);
    if (c->entropy)
        write_entropy(w, &u, n);
}

static void bytedist_free(void *state)
{
    struct bytedist_state *s = state;
    if (s)
        module_free(s->wide);
    module_free(s);
}

const struct joy_module bytedist_module = {
    .name = "dist",
    .summary = "byte distribution and entropy of the first payload bytes",
    .options = bytedist_options,
    .config_size = sizeof(struct bytedist_cfg),
    .enabled = bytedist_enabled,
    .setup = bytedist_setup,
    .teardown = free,
    .packet = bytedist_packet,
    .write_json = bytedist_json,
    .free_state = bytedist_free,
};

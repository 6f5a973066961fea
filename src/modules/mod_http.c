/*
 * \summary: http module - HTTP/1.x requests and responses over reassembled
 * TCP: start lines, every header in wire order, first body bytes
 *
 * Option http=1.  A TCP flow is HTTP when the first bytes of a direction's
 * stream (at the SYN's sequence number + 1 when the SYN was seen, else the
 * direction's first data segment) start a request line ("TOKEN SP") or a
 * status line ("HTTP/1."), on any port.  Each direction then has a
 * reassembler (reasm.h) and reads messages one after another (keep-alive
 * and pipelining): the start line and the header lines are copied (each
 * line cut at LINE_CAP bytes), the body is framed by Transfer-Encoding:
 * chunked, Content-Length or, for a response, the end of the connection
 * (no body for responses to HEAD, 1xx, 204 and 304), its first BODY_KEEP
 * bytes (after de-chunking) are kept and the rest is skipped without being
 * copied.  The first http_messages= messages of a direction are kept; later
 * ones are still framed (start line, framing headers, body skipped) but only
 * counted ("http_omitted").  A direction ends at a line that is not
 * a start line where one is expected, at a malformed chunk size, at a
 * header block longer than HDR_BLOCK_MAX, after a 101 or a 2xx to CONNECT
 * (the stream is no longer HTTP), or on a reassembly gap.
 *
 * Per-flow memory: the state (~250 bytes), one arena holding the kept lines
 * of both directions (at most arena_max bytes: ARENA_PER_MSG per kept
 * message, at least ARENA_MIN; lines that do not fit are
 * left out and the message is marked truncated), the kept messages' array
 * (grown by doubling up to http_messages entries per direction), and the reassembly
 * buffers (at most REASM_CAP bytes per direction; in practice one partial
 * line).  Formatting happens in write_json only.
 */
#include "anon.h"
#include "cryptopan.h"
#include "flow.h"
#include "jsonw.h"
#include "module.h"
#include "packet.h"
#include "reasm.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MSGS_DEFAULT 16      /* http_messages= default: messages kept per direction */
#define MSGS_MAX 1000        /* http_messages= maximum */
#define MAX_HDRS 100         /* header lines kept per message */
#define LINE_CAP 8192        /* bytes kept per line (longer lines are cut) */
#define BODY_KEEP 8          /* body bytes kept per message */
#define ARENA_MIN 65536      /* line bytes kept per flow, both directions, at least */
#define ARENA_PER_MSG 2048   /* ... and per kept message of each direction */
#define RQ_RING 64           /* requests not kept whose HEAD/CONNECT flag is remembered */
#define HDR_BLOCK_MAX 262144 /* a header block longer than this ends the direction */
#define CHUNK_LINE_MAX 1024  /* a chunk-size line longer than this is malformed */
#define REASM_CAP 65536      /* reassembly cap per direction */
#define MAX_BLANK 4          /* empty lines tolerated before a start line */

#define UA_MAX_NAMES 256   /* useranon: names read from the file */
#define UA_MAX_NAME 128     /* useranon: longest name */
#define UA_PSEUDO 16        /* useranon: pseudonym bytes (written as 32 hex digits) */

struct http_cfg {
    bool on;
    uint64_t messages;
    char *useranon;
    char *useranon_key;
};

/* Per run (useranon=): the names and their pseudonyms, computed once. */
struct http_data {
    uint32_t n;
    uint8_t len[UA_MAX_NAMES];
    char name[UA_MAX_NAMES][UA_MAX_NAME];
    char pseudo[UA_MAX_NAMES][2 * UA_PSEUDO];
};

static const struct joy_option http_options[] = {
    {"http", OPT_BOOL, offsetof(struct http_cfg, on), 0, 1, "0", "0|1",
     "HTTP/1.x start lines, headers in wire order and first body bytes, any TCP port"},
    {"http_messages", OPT_UINT, offsetof(struct http_cfg, messages), 1, MSGS_MAX, "16", "N",
     "HTTP messages kept per direction of a flow; later ones are counted in "
     "http_omitted"},
    {"useranon", OPT_STR, offsetof(struct http_cfg, useranon), 0, 0, NULL, "FILE",
     "replace the user names listed in FILE (one a line) wherever they occur in HTTP URIs "
     "by keyed pseudonyms"},
    {"useranon_key", OPT_STR, offsetof(struct http_cfg, useranon_key), 0, 0, "joy.anon.key",
     "FILE", "key for useranon= (same file format and handling as anon_key)"},
    {NULL, 0, 0, 0, 0, NULL, NULL, NULL},
};

enum phase {
    PH_START,    /* expecting a start line */
    PH_HDR,      /* header lines */
    PH_BODY_LEN, /* body of known length */
    PH_CH_SIZE,  /* chunk-size line */
    PH_CH_DATA,  /* chunk data */
    PH_CH_CRLF,  /* the line ending after chunk data */
    PH_CH_TRAIL, /* trailer lines */
    PH_BODY_EOF, /* body until the connection closes */
    PH_END
};

/* a kept line in the arena: 4-byte header (length 24 bits, flags) + bytes */
#define LF_CUT 1

struct http_msg {
    uint32_t off;       /* arena offset of the first line (the start line) */
    uint16_t nlines;    /* lines kept (start line included) */
    uint8_t body_n;     /* body bytes in body[] */
    bool trunc;         /* a line was cut, or lines were left out */
    bool head, connect; /* request method HEAD / CONNECT */
    bool resp;
    uint16_t code;
    uint8_t body[BODY_KEEP];
};

struct http_flow;

struct http_side {
    struct reasm rs;
    struct http_flow *fl;
    uint8_t dir;
    uint8_t phase;
    uint8_t blank;      /* empty lines before the start line */
    bool skip_line;     /* rest of an over-long line is being skipped */
    bool chunked, has_len, bad_len;
    uint16_t nhdr;      /* header lines seen in the current message */
    uint32_t nmsg;      /* messages begun (kept or not) */
    uint32_t nkept;     /* of which kept in msg[] (the first ones) */
    uint32_t room;      /* entries allocated in msg[] */
    uint32_t nfinal;    /* final (non-1xx) responses */
    uint64_t rq_head, rq_connect; /* requests not kept: HEAD/CONNECT, bit nmsg % RQ_RING */
    uint32_t blk;       /* bytes of the current header block */
    uint32_t chline;    /* bytes of the current chunk-size line */
    uint64_t left;      /* body or chunk bytes still to come */
    uint64_t clen;      /* Content-Length */
    struct http_msg *msg;   /* the kept messages */
    struct http_msg spare;  /* the current message when it is not kept */
};

struct http_flow {
    struct http_side s[2];
    uint8_t *arena;
    uint32_t alen, asize, arena_max;
    uint32_t max_msgs;
};

/* The message being read (nmsg > 0). */
static struct http_msg *cur_msg(struct http_side *s)
{
    return s->nmsg > s->nkept ? &s->spare : &s->msg[s->nkept - 1];
}

/* useranon=FILE: read the names, derive each one's pseudonym =
 * HMAC-SHA256(key, name) cut to UA_PSEUDO bytes, lowercase hex. */
static int http_setup(const void *cfgp, const struct joy_config *core, void **data, char *err,
                      size_t errlen)
{
    (void)core;
    const struct http_cfg *cfg = cfgp;
    *data = NULL;
    if (!cfg->useranon)
        return 0;
    if (!cfg->useranon_key) {
        snprintf(err, errlen, "useranon=%s needs a key file (useranon_key=FILE)", cfg->useranon);
        return -1;
    }
    FILE *fp = fopen(cfg->useranon, "r");
    if (!fp) {
        snprintf(err, errlen, "useranon: cannot open %s", cfg->useranon);
        return -1;
    }
    struct http_data *sh = calloc(1, sizeof *sh);
    if (!sh) {
        fclose(fp);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    char line[1024];
    int rc = 0;
    unsigned lineno = 0;
    while (rc == 0 && fgets(line, sizeof line, fp)) {
        lineno++;
        size_t n = strlen(line);
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ' ||
                     line[n - 1] == '\t'))
            n--;
        size_t b = 0;
        while (b < n && (line[b] == ' ' || line[b] == '\t'))
            b++;
        if (b == n || line[b] == '#')
            continue;
        if (n - b > UA_MAX_NAME || sh->n >= UA_MAX_NAMES) {
            snprintf(err, errlen, "useranon: %s:%u: %s", cfg->useranon, lineno,
                     sh->n >= UA_MAX_NAMES ? "more than 256 names" : "name longer than 128 bytes");
            rc = -1;
            break;
        }
        memcpy(sh->name[sh->n], line + b, n - b);
        sh->len[sh->n] = (uint8_t)(n - b);
        sh->n++;
    }
    fclose(fp);
    uint8_t key[CRYPTOPAN_KEY_LEN];
    bool created, loose;
    if (rc == 0 &&
        cryptopan_key_load(cfg->useranon_key, true, key, &created, &loose, err, errlen) != 0)
        rc = -1;
    static const char hexd[] = "0123456789abcdef";
    for (uint32_t i = 0; rc == 0 && i < sh->n; i++) {
        uint8_t md[EVP_MAX_MD_SIZE];
        unsigned int ml = 0;
        if (!HMAC(EVP_sha256(), key, (int)sizeof key, (const uint8_t *)sh->name[i], sh->len[i], md,
                  &ml) || ml < UA_PSEUDO) {
            ERR_clear_error();
            snprintf(err, errlen, "useranon: HMAC failed");
            rc = -1;
            break;
        }
        for (int j = 0; j < UA_PSEUDO; j++) {
            sh->pseudo[i][2 * j] = hexd[md[j] >> 4];
            sh->pseudo[i][2 * j + 1] = hexd[md[j] & 15];
        }
    }
    cryptopan_wipe(key, sizeof key);
    if (rc != 0) {
        cryptopan_wipe(sh, sizeof *sh);
        free(sh);
        return -1;
    }
    *data = sh;
    return 0;
}

static void http_teardown(void *shared)
{
    if (shared) {
        cryptopan_wipe(shared, sizeof(struct http_data));
        free(shared);
    }
}

/* ---- small helpers ---------------------------------------------------------- */

static bool is_tchar(uint8_t c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool ieq(const uint8_t *p, size_t n, const char *s)
{
    size_t k = strlen(s);
    if (n != k)
        return false;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (c >= 'A' && c <= 'Z')
            c = (uint8_t)(c + 32);
        if (c != (uint8_t)s[i])
            return false;
    }
    return true;
}

static bool is_version(const uint8_t *p, size_t n)
{
    return n == 8 && memcmp(p, "HTTP/", 5) == 0 && p[5] >= '0' && p[5] <= '9' && p[6] == '.' &&
           p[7] >= '0' && p[7] <= '9';
}

/* Could p[0..n) (n may be short) begin a request or status line?
 * 1 yes, 0 no, -1 too few bytes to tell. */
static int start_line_prefix(const uint8_t *p, size_t n)
{
    static const char http1[] = "HTTP/1.";
    size_t i;
    for (i = 0; i < n && i < 7; i++)
        if (p[i] != (uint8_t)http1[i])
            break;
    if (i == 7 || (i == n && n < 7))
        return i == 7 ? 1 : -1;
    /* request: a method token (at most 32 chars) then SP */
    for (i = 0; i < n && i <= 32; i++) {
        if (p[i] == ' ')
            return i > 0 ? 1 : 0;
        if (!is_tchar(p[i]))
            return 0;
    }
    return i < n || i > 32 ? 0 : -1;
}

struct start_line {
    bool resp;
    const uint8_t *a, *b, *c; /* method/version, uri/code, version/reason */
    size_t an, bn, cn;
};

/* Parse a complete start line (without its line ending). */
static bool parse_start(const uint8_t *p, size_t n, struct start_line *sl)
{
    memset(sl, 0, sizeof *sl);
    if (n >= 12 && memcmp(p, "HTTP/", 5) == 0) {
        if (!is_version(p, 8) || p[8] != ' ')
            return false;
        for (int i = 9; i < 12; i++)
            if (p[i] < '0' || p[i] > '9')
                return false;
        if (n > 12 && p[12] != ' ')
            return false;
        sl->resp = true;
        sl->a = p;
        sl->an = 8;
        sl->b = p + 9;
        sl->bn = 3;
        sl->c = p + (n > 12 ? 13 : 12);
        sl->cn = n > 12 ? n - 13 : 0;
        return true;
    }
    const uint8_t *sp1 = memchr(p, ' ', n);
    if (!sp1 || sp1 == p)
        return false;
    size_t mlen = (size_t)(sp1 - p);
    if (mlen > 32)
        return false;
    for (size_t i = 0; i < mlen; i++)
        if (!is_tchar(p[i]))
            return false;
    if (n < mlen + 1 + 1 + 1 + 8)
        return false;
    const uint8_t *ver = p + n - 8;
    if (!is_version(ver, 8) || ver[-1] != ' ')
        return false;
    sl->a = p;
    sl->an = mlen;
    sl->b = sp1 + 1;
    sl->bn = (size_t)(ver - 1 - sl->b);
    if (sl->bn == 0)
        return false;
    sl->c = ver;
    sl->cn = 8;
    return true;
}

/* ---- the arena ------------------------------------------------------------- */

static bool arena_add(struct http_flow *h, const uint8_t *p, size_t n, uint8_t flags)
{
    size_t need = 4 + n;
    if (h->alen + need > h->arena_max)
        return false;
    if (h->alen + need > h->asize) {
        size_t want = h->asize ? h->asize : 1024;
        while (want < h->alen + need)
            want *= 2;
        if (want > h->arena_max)
            want = h->arena_max;
        uint8_t *a = realloc(h->arena, want);
        if (!a)
            return false;
        h->arena = a;
        h->asize = (uint32_t)want;
    }
    uint8_t *d = h->arena + h->alen;
    d[0] = (uint8_t)(n >> 16);
    d[1] = (uint8_t)(n >> 8);
    d[2] = (uint8_t)n;
    d[3] = flags;
    if (n)
        memcpy(d + 4, p, n);
    h->alen += (uint32_t)need;
    return true;
}

/* ---- the consumer ------------------------------------------------------------ */

static void side_end(struct http_side *s) { s->phase = PH_END; }

/* The header block of the current message is complete: choose how its
 * body is framed. */
static void headers_done(struct http_side *s)
{
    struct http_msg *m = cur_msg(s);
    if (!m->resp) {
        if (s->chunked)
            s->phase = PH_CH_SIZE;
        else if (s->bad_len)
            s->phase = PH_END; /* cannot find the next message */
        else if (s->has_len && s->clen > 0) {
            s->phase = PH_BODY_LEN;
            s->left = s->clen;
        } else
            s->phase = PH_START;
        return;
    }
    if (m->code >= 100 && m->code < 200) {
        s->phase = m->code == 101 ? PH_END : PH_START; /* 101: protocol switched */
        return;
    }
    /* the request this final response answers */
    const struct http_side *o = &s->fl->s[!s->dir];
    bool head = false, connect = false;
    if (s->nfinal < o->nkept) {
        head = o->msg[s->nfinal].head;
        connect = o->msg[s->nfinal].connect;
    } else if (s->nfinal < o->nmsg && o->nmsg - s->nfinal <= RQ_RING) {
        head = (o->rq_head >> (s->nfinal % RQ_RING)) & 1;
        connect = (o->rq_connect >> (s->nfinal % RQ_RING)) & 1;
    }
    s->nfinal++;
    if (connect && m->code >= 200 && m->code < 300) {
        s->phase = PH_END; /* a tunnel follows */
        return;
    }
    if (head || m->code == 204 || m->code == 304)
        s->phase = PH_START;
    else if (s->chunked)
        s->phase = PH_CH_SIZE;
    else if (s->has_len && !s->bad_len) {
        s->phase = s->clen ? PH_BODY_LEN : PH_START;
        s->left = s->clen;
    } else
        s->phase = PH_BODY_EOF;
}

static void body_bytes(struct http_side *s, const uint8_t *p, size_t n)
{
    struct http_msg *m = cur_msg(s);
    while (n > 0 && m->body_n < BODY_KEEP) {
        m->body[m->body_n++] = *p++;
        n--;
    }
}

/* Parse one header line (no line ending) for the framing fields. */
static void header_line(struct http_side *s, const uint8_t *p, size_t n)
{
    const uint8_t *colon = memchr(p, ':', n);
    if (!colon)
        return;
    size_t nn = (size_t)(colon - p);
    const uint8_t *v = colon + 1, *e = p + n;
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    size_t vn = (size_t)(e - v);
    if (ieq(p, nn, "content-length")) {
        uint64_t x = 0;
        bool ok = vn > 0;
        for (size_t i = 0; i < vn && ok; i++) {
            if (v[i] < '0' || v[i] > '9' || x > (UINT64_MAX - 9) / 10)
                ok = false;
            else
                x = x * 10 + (uint64_t)(v[i] - '0');
        }
        if (!ok || (s->has_len && x != s->clen))
            s->bad_len = true;
        s->has_len = true;
        s->clen = x;
    } else if (ieq(p, nn, "transfer-encoding")) {
        /* chunked when it is the last coding listed */
        const uint8_t *q = e;
        while (q > v && q[-1] != ',')
            q--;
        while (q < e && (*q == ' ' || *q == '\t'))
            q++;
        s->chunked = ieq(q, (size_t)(e - q), "chunked");
    }
}

/* A complete line (without CR LF) in the start/header phases; `cut` if
 * bytes of it were left out. */
static void line(struct http_side *s, const uint8_t *p, size_t n, bool cut)
{
    struct http_flow *h = s->fl;
    if (s->phase == PH_START) {
        struct start_line sl;
        if (n == 0 && !cut) {
            if (++s->blank > MAX_BLANK)
                side_end(s);
            return;
        }
        if (cut || s->nmsg == UINT32_MAX || !parse_start(p, n, &sl)) {
            side_end(s);
            return;
        }
        bool keep = s->nkept == s->nmsg && s->nkept < h->max_msgs;
        if (keep && s->nkept == s->room) {
            /* grow the kept messages' array by doubling, up to the cap */
            uint32_t want = s->room ? s->room * 2 : 4;
            if (want > h->max_msgs)
                want = h->max_msgs;
            struct http_msg *a = realloc(s->msg, (size_t)want * sizeof *a);
            if (a) {
                s->msg = a;
                s->room = want;
            } else {
                keep = false; /* out of memory: counted as left out */
            }
        }
        struct http_msg *m = keep ? &s->msg[s->nkept++] : &s->spare;
        uint32_t idx = s->nmsg++;
        memset(m, 0, sizeof *m);
        m->off = h->alen;
        m->resp = sl.resp;
        if (sl.resp)
            m->code = (uint16_t)((sl.b[0] - '0') * 100 + (sl.b[1] - '0') * 10 + (sl.b[2] - '0'));
        else {
            m->head = ieq(sl.a, sl.an, "head");
            m->connect = ieq(sl.a, sl.an, "connect");
            uint64_t bit = 1ull << (idx % RQ_RING);
            s->rq_head = m->head ? s->rq_head | bit : s->rq_head & ~bit;
            s->rq_connect = m->connect ? s->rq_connect | bit : s->rq_connect & ~bit;
        }
        if (!keep)
            m->body_n = BODY_KEEP; /* nothing of it is kept: skip its body at once */
        else if (arena_add(h, p, n, 0))
            m->nlines = 1;
        else
            m->trunc = true;
        s->blank = 0;
        s->nhdr = 0;
        s->blk = (uint32_t)n;
        s->chunked = s->has_len = s->bad_len = false;
        s->clen = 0;
        s->phase = PH_HDR;
        return;
    }
    /* PH_HDR */
    struct http_msg *m = cur_msg(s);
    if (n == 0 && !cut) {
        headers_done(s);
        return;
    }
    s->blk += (uint32_t)n + 2;
    if (s->blk > HDR_BLOCK_MAX) {
        m->trunc = true;
        side_end(s);
        return;
    }
    if (!cut)
        header_line(s, p, n);
    if (m == &s->spare)
        return; /* not kept: read for its framing only */
    if (s->nhdr >= MAX_HDRS || !arena_add(h, p, n, cut ? LF_CUT : 0))
        m->trunc = true;
    else {
        m->nlines++;
        if (cut)
            m->trunc = true;
    }
    s->nhdr++;
}

/* A chunk-size line: hex digits, optional extensions. */
static void chunk_size_line(struct http_side *s, const uint8_t *p, size_t n)
{
    uint64_t x = 0;
    size_t i = 0;
    for (; i < n; i++) {
        uint8_t c = p[i];
        int d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            break;
        if (x >> 60) {
            side_end(s);
            return;
        }
        x = x * 16 + (uint64_t)d;
    }
    if (i == 0 || (i < n && p[i] != ';' && p[i] != ' ' && p[i] != '\t')) {
        side_end(s);
        return;
    }
    if (x == 0) {
        s->phase = PH_CH_TRAIL;
        s->nhdr = 0; /* counts trailer lines from here */
    }
    else {
        s->left = x;
        s->phase = PH_CH_DATA;
    }
}

static size_t consume(void *ctx, const uint8_t *data, size_t len, uint64_t ts)
{
    (void)ts;
    struct http_side *s = ctx;
    size_t i = 0;
    while (s->phase != PH_END) {
        switch (s->phase) {
        case PH_START:
        case PH_HDR:
        case PH_CH_SIZE:
        case PH_CH_CRLF:
        case PH_CH_TRAIL: {
            if (i == len)
                return i;
            const uint8_t *p = data + i;
            size_t n = len - i;
            if (s->phase == PH_START && s->nmsg == 0 && !s->skip_line &&
                start_line_prefix(p, n) == 0) {
                side_end(s); /* not HTTP */
                break;
            }
            const uint8_t *lf = memchr(p, '\n', n);
            size_t ll = lf ? (size_t)(lf - p) : n; /* line bytes available */
            size_t limit = s->phase == PH_START || s->phase == PH_HDR ? LINE_CAP : CHUNK_LINE_MAX;
            if (s->skip_line) {
                /* the rest of a cut line */
                if (!lf)
                    return len;
                s->skip_line = false;
                i += ll + 1;
                if (s->phase != PH_HDR && s->phase != PH_START)
                    side_end(s);
                continue;
            }
            if (!lf && ll < limit)
                return i; /* wait for the rest of the line */
            bool cut = !lf || ll > limit;
            size_t keep = ll > limit ? limit : ll;
            if (!cut && keep > 0 && p[keep - 1] == '\r')
                keep--;
            if (s->phase == PH_START || s->phase == PH_HDR) {
                if (s->phase == PH_HDR)
                    s->blk += (uint32_t)(ll - keep); /* bytes cut off count too */
                line(s, p, keep, cut);
            } else if (cut) {
                side_end(s);
            } else if (s->phase == PH_CH_SIZE) {
                chunk_size_line(s, p, keep);
            } else if (s->phase == PH_CH_CRLF) {
                s->phase = keep == 0 ? PH_CH_SIZE : PH_END;
            } else { /* trailer */
                if (keep == 0)
                    s->phase = PH_START;
                else if (++s->nhdr > MAX_HDRS)
                    side_end(s);
            }
            if (!lf) {
                /* an over-long line: skip to its end */
                s->skip_line = true;
                return len;
            }
            i += ll + 1;
            break;
        }
        case PH_BODY_LEN:
        case PH_CH_DATA: {
            size_t n = len - i;
            if (n > s->left)
                n = (size_t)s->left;
            body_bytes(s, data + i, n);
            i += n;
            s->left -= n;
            struct http_msg *m = cur_msg(s);
            if (s->left > 0) {
                if (m->body_n < BODY_KEEP)
                    return i; /* need more body bytes */
                /* skip the rest of the body/chunk without copying */
                uint64_t skip = s->left;
                s->left = 0;
                s->phase = s->phase == PH_BODY_LEN ? PH_START : PH_CH_CRLF;
                if (skip > (uint64_t)SIZE_MAX - len)
                    return REASM_STOP;
                return len + (size_t)skip;
            }
            s->phase = s->phase == PH_BODY_LEN ? PH_START : PH_CH_CRLF;
            break;
        }
        case PH_BODY_EOF: {
            body_bytes(s, data + i, len - i);
            i = len;
            if (cur_msg(s)->body_n >= BODY_KEEP)
                return REASM_STOP; /* nothing can follow this body */
            return i;
        }
        }
    }
    return REASM_STOP;
}

/* ---- packets ---------------------------------------------------------------- */

static struct http_flow *http_new(const struct module_env *env, const struct flow *f, int dir,
                                  uint32_t start)
{
    const struct http_cfg *cfg = env->cfg;
    struct http_flow *h = module_calloc(env, sizeof *h);
    if (!h)
        return NULL;
    h->max_msgs = cfg->messages >= 1 && cfg->messages <= MSGS_MAX ? (uint32_t)cfg->messages
                                                                  : MSGS_DEFAULT;
    h->arena_max = 2 * h->max_msgs * ARENA_PER_MSG;
    if (h->arena_max < ARENA_MIN)
        h->arena_max = ARENA_MIN;
    for (int d = 0; d < 2; d++) {
        struct http_side *s = &h->s[d];
        reasm_init(&s->rs, REASM_CAP);
        s->fl = h;
        s->dir = (uint8_t)d;
        s->phase = PH_START;
        reasm_start_side(&s->rs, &f->side[d], d == dir, start);
    }
    return h;
}

static void http_packet(const struct module_env *env, void **state, const struct flow *f,
                        const struct packet *p, int dir)
{
    if (p->proto != 6 || !p->l4)
        return;
    struct http_flow *h = *state;
    if (!h) {
        if (!p->payload_cap)
            return;
        uint32_t seq;
        if (!reasm_first_data(&f->side[dir], p, &seq))
            return; /* only the stream's first bytes can start HTTP */
        if (start_line_prefix(p->payload, p->payload_cap) != 1)
            return;
        h = http_new(env, f, dir, seq);
        if (!h)
            return;
        *state = h;
    }
    struct http_side *s = &h->s[dir];
    if (s->phase == PH_END || !reasm_running(&s->rs))
        return;
    reasm_feed(&s->rs, p->tcp_seq, (p->tcp_flags & TCP_SYN) != 0, p->payload, p->payload_cap,
               p->payload_len, p->ts, consume, s);
    if (!reasm_running(&s->rs) || s->phase == PH_END) {
        reasm_stop(&s->rs);
        reasm_free(&s->rs);
    }
}

/* ---- output ----------------------------------------------------------------- */

static void one(struct jsonw *w, const char *k, const uint8_t *v, size_t n)
{
    jw_obj_open(w);
    jw_kv_str(w, k, v, n);
    jw_close(w);
}

/* {"<name>": "<value>"} where the name comes from the wire: jw_key() takes
 * only trusted literals, so the name is written with jw_str() (which
 * escapes anything) and turned into a key by writing the ':' after it. */
static void one_kv(struct jsonw *w, const uint8_t *k, size_t kn, const uint8_t *v, size_t vn)
{
    jw_obj_open(w);
    jw_key_str(w, k, kn);
    jw_str(w, v, vn);
    jw_close(w);
}

/* With anon (anon_active): only method, version and code are written -
 * the URI, reason, header values and body are verbatim bytes that may
 * quote anonymised addresses (anon.h). */
/* {"uri": ...} with every listed user name replaced by its pseudonym (the
 * longest name matching at each position, left to right). */
static void write_uri(const struct http_data *sh, const uint8_t *u, size_t n, struct jsonw *w)
{
    uint8_t *o = sh && sh->n ? malloc(n * 2 * UA_PSEUDO + 1) : NULL;
    if (!o) {
        one(w, "uri", u, n);
        return;
    }
    size_t on = 0;
    for (size_t i = 0; i < n;) {
        int best = -1;
        for (uint32_t k = 0; k < sh->n; k++)
            if (sh->len[k] <= n - i && (best < 0 || sh->len[k] > sh->len[best]) &&
                memcmp(u + i, sh->name[k], sh->len[k]) == 0)
                best = (int)k;
        if (best < 0) {
            o[on++] = u[i++];
            continue;
        }
        memcpy(o + on, sh->pseudo[best], 2 * UA_PSEUDO);
        on += 2 * UA_PSEUDO;
        i += sh->len[best];
    }
    one(w, "uri", o, on);
    free(o);
}

static void write_msg(const struct http_flow *h, const struct http_msg *m, bool anon,
                      const struct http_data *sh, struct jsonw *w)
{
    jw_arr_open(w);
    const uint8_t *a = h->arena + m->off;
    for (uint16_t i = 0; i < m->nlines; i++) {
        size_t n = ((size_t)a[0] << 16) | ((size_t)a[1] << 8) | a[2];
        const uint8_t *p = a + 4;
        a += 4 + n;
        if (i == 0) {
            struct start_line sl;
            if (!parse_start(p, n, &sl))
                continue;
            if (sl.resp) {
                one(w, "version", sl.a, sl.an);
                one(w, "code", sl.b, sl.bn);
                if (!anon)
                    one(w, "reason", sl.c, sl.cn);
            } else {
                one(w, "method", sl.a, sl.an);
                if (!anon)
                    write_uri(sh, sl.b, sl.bn, w);
                one(w, "version", sl.c, sl.cn);
            }
            if (anon)
                break;
            continue;
        }
        const uint8_t *colon = memchr(p, ':', n);
        if (!colon) {
            one(w, "malformed", p, n);
            continue;
        }
        const uint8_t *v = colon + 1, *e = p + n;
        while (v < e && (*v == ' ' || *v == '\t'))
            v++;
        if (!(p[-1] & LF_CUT))
            while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
        one_kv(w, p, (size_t)(colon - p), v, (size_t)(e - v));
    }
    if (m->body_n && !anon) {
        jw_obj_open(w);
        jw_kv_hex(w, "body", m->body, m->body_n);
        jw_close(w);
    }
    if (m->trunc && !anon) {
        jw_obj_open(w);
        jw_kv_bool(w, "truncated", true);
        jw_close(w);
    }
    jw_close(w);
}

static void http_write_json(const struct module_env *env, const void *state, const struct flow *f,
                            struct jsonw *w)
{
    const struct http_flow *h = state;
    uint32_t n = h->s[0].nkept > h->s[1].nkept ? h->s[0].nkept : h->s[1].nkept;
    if (n == 0)
        return;
    jw_key(w, "http");
    jw_arr_open(w);
    for (uint32_t i = 0; i < n; i++) {
        jw_obj_open(w);
        for (int d = 0; d < 2; d++) {
            if (i < h->s[d].nkept) {
                jw_key(w, d == 0 ? "out" : "in");
                write_msg(h, &h->s[d].msg[i], anon_active(f), env->data, w);
            }
        }
        jw_close(w);
    }
    jw_close(w);
    uint32_t lo = h->s[0].nmsg - h->s[0].nkept, li = h->s[1].nmsg - h->s[1].nkept;
    if (lo || li) {
        /* messages framed past http_messages= (or not stored: out of memory) */
        jw_key(w, "http_omitted");
        jw_obj_open(w);
        jw_kv_uint(w, "out", lo);
        jw_kv_uint(w, "in", li);
        jw_close(w);
    }
}

static void http_free(void *state)
{
    struct http_flow *h = state;
    if (!h)
        return;
    free(h->s[0].msg);
    free(h->s[1].msg);
    reasm_free(&h->s[0].rs);
    reasm_free(&h->s[1].rs);
    free(h->arena);
    module_free(h);
}

const struct joy_module http_module = {
    .name = "http",
    .summary = "HTTP/1.x messages over reassembled TCP (any port)",
    .options = http_options,
    .config_size = sizeof(struct http_cfg),
    .interest = MI_TCP,
    .setup = http_setup,
    .teardown = http_teardown,
    .packet = http_packet,
    .write_json = http_write_json,
    .free_state = http_free,
    .sees_retrans = true,
};

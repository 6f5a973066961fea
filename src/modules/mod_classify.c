/*
 * \summary: classify module - logistic-regression score of each flow (p_malware)
 *
 * Options: classify=1 with model=FILE (a "joy-model 1" file written by
 * joy-train) or model=SPLT_FILE:BD_FILE (Joy's two parameter files, 208
 * and 464 numbers); classify_features=1 writes the feature vector.
 *
 * Output, when the record is written (never on the packet path):
 *   "p_malware": 0.93716...           the model's probability of its
 *                                     positive class (Joy's member name)
 *   "classifier": {"model": NAME, "version": V}
 *   "clf": {"set": "joy-splt-bd-v1", "x": [443, 51234, ...]}
 *                                     (classify_features=1; joy-splt-v1
 *                                     without dist=1)
 * p_malware has 12 significant digits; the clf numbers 17, so a reader
 * gets the meter's binary64 values back.
 *
 * Features: ONE definition, doc/modules/classify.md "Feature definition",
 * shared with saltUI/joytrain/features.py; a joy-model file names its
 * feature set and the SHA-256 of that definition's text, and a model made
 * for another definition is refused at start-up.  Everything is computed
 * from what the record shows: sp/dp, the packet and byte counters, the
 * SPLT entries (f->splt, with "ipt" in integer milliseconds exactly as the
 * record writes them) and the byte counts of the dist module
 * (bytedist_of(), so this module sits after it in the table).
 *
 * Joy's pair is scored as Joy's classify.c did: x as above except
 * x[207+v] = byte_dist[v] * (1 / (bytes_out + bytes_in)); the BD model (464) when
 * the record has byte_dist and bytes_out + bytes_in > 100, else the SPLT
 * model (208); z = bias + sum w[i] x[i]; p = 1 / (1 + exp(min(-z, 500))).
 * (Joy computed in float; this is binary64.)
 *
 * Cost: nothing per packet (no packet callback; writes_every_record);
 * per record O(num_pkts + 463).  Memory: the model (about 15 KiB, shared
 * by the meters of a context) and a per-meter scratch of 12 bytes per
 * num_pkts entry.
 */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF /* the definition has no fused multiply-add */
#endif

#include "bytedist.h"
#include "classify.h"
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

struct classify_cfg {
    bool classify;
    char *model;
    bool features;
};

static const struct joy_option classify_options[] = {
    {"classify", OPT_BOOL, offsetof(struct classify_cfg, classify), 0, 1, "0", "0|1",
     "score each flow with the model= logistic regression: p_malware, classifier"},
    {"model", OPT_STR, offsetof(struct classify_cfg, model), 0, 0, NULL, "FILE",
     "classifier model: a joy-train file, or Joy's SPLT_FILE:BD_FILE parameter pair (SIGHUP reloads it)"},
    {"classify_features", OPT_BOOL, offsetof(struct classify_cfg, features), 0, 1, "0", "0|1",
     "write the classifier's feature vector (clf) in each record, for joy-train"},
    {NULL, 0, 0, 0, 0, NULL, NULL, NULL},
};

/* ---------------------------------------------------------------------
 * Features
 */

static const char *const meta_names[7] = {"dp", "sp", "pkts_in", "pkts_out",
                                          "bytes_in", "bytes_out", "duration_ms"};

void clf_feature_name(unsigned i, char *buf, size_t len)
{
    if (i < 7)
        snprintf(buf, len, "%s", meta_names[i]);
    else if (i < 107)
        snprintf(buf, len, "len_%u_%u", (i - 7) / 10, (i - 7) % 10);
    else if (i < 207)
        snprintf(buf, len, "ipt_%u_%u", (i - 107) / 10, (i - 107) % 10);
    else if (i < CLF_N_BD)
        snprintf(buf, len, "bd_%u", i - 207);
    else
        snprintf(buf, len, "?");
}

static unsigned len_bin(uint64_t v) { return v / 150 < 9 ? (unsigned)(v / 150) : 9; }
static unsigned ipt_bin(uint64_t v) { return v / 50 < 9 ? (unsigned)(v / 50) : 9; }

/* The Markov matrix x[10][10] from transition counts c and row sums r.
 * A row without transitions is all +0 (what c * 0 would give). */
static void markov_rows(const uint32_t *c, const uint32_t *r, double *x)
{
    for (int i = 0; i < 10; i++) {
        double *row = x + i * 10;
        if (!r[i]) {
            memset(row, 0, 10 * sizeof *row);
            continue;
        }
        double ri = 1.0 / (double)r[i];
        for (int j = 0; j < 10; j++)
            row[j] = (double)c[i * 10 + j] * ri;
    }
}

/* x[0..CLF_N_SPLT-1]: the meta features and the two Markov matrices. */
static void splt_features(const struct clf_input *in, double x[CLF_N_SPLT])
{
    x[0] = (double)in->dp;
    x[1] = (double)in->sp;
    x[2] = (double)in->pkts_in;
    x[3] = (double)in->pkts_out;
    x[4] = (double)in->bytes_in;
    x[5] = (double)in->bytes_out;
    uint32_t n = in->n_pkts;
    uint64_t dur = 0;
    for (uint32_t k = 0; k < n; k++)
        dur += in->ipt[k];
    x[6] = (double)dur;
    double *ml = x + 7, *mt = x + 107;
    if (n <= 1) {
        memset(ml, 0, 100 * sizeof *ml);
        memset(mt, 0, 100 * sizeof *mt);
        if (n == 1) {
            unsigned l = len_bin(in->len[0]), t = ipt_bin(in->ipt[0]);
            ml[l * 10 + l] = 1;
            mt[t * 10 + t] = 1;
        }
    } else {
        uint32_t cl[100] = {0}, ct[100] = {0}, rl[10] = {0}, rt[10] = {0};
        unsigned pl = len_bin(in->len[0]), pt = ipt_bin(in->ipt[0]);
        for (uint32_t k = 1; k < n; k++) {
            unsigned l = len_bin(in->len[k]), t = ipt_bin(in->ipt[k]);
            cl[pl * 10 + l]++;
            ct[pt * 10 + t]++;
            rl[pl]++;
            rt[pt]++;
            pl = l;
            pt = t;
        }
        markov_rows(cl, rl, ml);
        markov_rows(ct, rt, mt);
    }
}

void clf_features(const struct clf_input *in, bool legacy_bd, double x[CLF_N_BD])
{
    splt_features(in, x);
    double *bd = x + CLF_N_SPLT;
    uint64_t s = in->bd ? in->bd_total : 0;
    uint64_t denom = legacy_bd ? in->bytes_out + in->bytes_in : s;
    if (s && denom) {
        double r = 1.0 / (double)denom;
        int v = 0;
#if defined(__GNUC__)
        /* Two at a time: a count c < 2^52 is exactly the double whose bits
         * are those of 2^52 with c in the mantissa, minus 2^52 -- the same
         * value as (double)c, so the same products. */
        if (s < (1ull << 52)) {
            typedef uint64_t v2u __attribute__((vector_size(16)));
            typedef double v2d __attribute__((vector_size(16)));
            const v2u magic = {0x4330000000000000ull, 0x4330000000000000ull};
            const v2d two52 = {4503599627370496.0, 4503599627370496.0};
            const v2d rr = {r, r};
            for (; v < 256; v += 2) {
                v2u c;
                v2d d;
                memcpy(&c, in->bd + v, sizeof c);
                c |= magic;
                memcpy(&d, &c, sizeof d);
                d = (d - two52) * rr;
                memcpy(bd + v, &d, sizeof d);
            }
        }
#endif
        for (; v < 256; v++)
            bd[v] = (double)(int64_t)in->bd[v] * r;
    } else {
        for (int v = 0; v < 256; v++)
            bd[v] = 0;
    }
}

static double logistic(double z)
{
    double a = -z < 500 ? -z : 500;
    return 1.0 / (1.0 + exp(a));
}

double clf_score(const struct clf_model *m, const double x[CLF_N_BD], bool have_bd,
                 uint64_t total_bytes, bool *used_bd)
{
    double z;
    *used_bd = false;
    if (m->kind == CLF_JOY_PAIR) {
        if (have_bd && total_bytes > 100) {
            *used_bd = true;
            /* a feature that is 0 adds +-0, which leaves z as it is */
            z = m->bd[0];
            for (unsigned i = 0; i < CLF_N_BD; i++)
                if (x[i] != 0)
                    z = z + m->bd[i + 1] * x[i];
        } else {
            z = m->splt[0];
            for (unsigned i = 0; i < CLF_N_SPLT; i++)
                if (x[i] != 0)
                    z = z + m->splt[i + 1] * x[i];
        }
        return logistic(z);
    }
    /* eight partial sums in the definition's order (a term of a feature
     * that is 0 is +-0 and changes no sum, so every term is added) */
    double S[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    /* without byte counts x[207..] is all 0: stop after the block of 207 */
    unsigned n = have_bd ? m->n : (m->n < 208 ? m->n : 208);
    unsigned i = 0;
#if defined(__GNUC__)
    /* lanes k = 0..7 of four 2-wide vectors: each lane adds its own terms
     * in index order, exactly as the scalar loop below would */
    typedef double v2d __attribute__((vector_size(16)));
    /* unaligned loads straight from the arrays (a v2d copied out with
     * memcpy went through the stack: twice the instructions) */
    typedef double v2du __attribute__((vector_size(16), aligned(8), may_alias));
    v2d a0 = {0, 0}, a1 = {0, 0}, a2 = {0, 0}, a3 = {0, 0};
    for (; i + 8 <= n; i += 8) {
        const v2du *c = (const v2du *)(m->coef + i), *v = (const v2du *)(x + i);
        a0 = a0 + c[0] * v[0];
        a1 = a1 + c[1] * v[1];
        a2 = a2 + c[2] * v[2];
        a3 = a3 + c[3] * v[3];
    }
    S[0] = a0[0], S[1] = a0[1], S[2] = a1[0], S[3] = a1[1];
    S[4] = a2[0], S[5] = a2[1], S[6] = a3[0], S[7] = a3[1];
#endif
    for (; i + 8 <= n; i += 8)
        for (unsigned k = 0; k < 8; k++)
            S[k] = S[k] + m->coef[i + k] * x[i + k];
    for (unsigned k = 0; i + k < n; k++)
        S[k] = S[k] + m->coef[i + k] * x[i + k];
    z = m->b + (((S[0] + S[1]) + (S[2] + S[3])) + ((S[4] + S[5]) + (S[6] + S[7])));
    *used_bd = m->n == CLF_N_BD;
    return logistic(z);
}

/* ---------------------------------------------------------------------
 * Model files (untrusted text, read through a cursor)
 */

static int fail(char *err, size_t errlen, const char *name, unsigned long line, const char *what)
{
    if (line)
        snprintf(err, errlen, "model: %s:%lu: %s", name, line, what);
    else
        snprintf(err, errlen, "model: %s: %s", name, what);
    return -1;
}

static bool is_space(uint8_t ch) { return ch == ' ' || ch == '\t' || ch == '\r'; }

static void skip_blanks(struct cursor *c)
{
    while (cur_has(c, 1) && is_space(cur_peek(c, 0)))
        cur_skip(c, 1);
}

/* The next white-space-separated word of line l (empty at the end). */
static struct cursor next_word(struct cursor *l)
{
    skip_blanks(l);
    size_t n = 0;
    while (n < cur_left(l) && !is_space(cur_peek(l, n)))
        n++;
    return cur_sub(l, n);
}

static bool word_is(const struct cursor *w, const char *s)
{
    size_t n = strlen(s);
    if (cur_left(w) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (cur_peek(w, i) != (uint8_t)s[i])
            return false;
    return true;
}

/* A decimal number (digits, sign, '.', exponent; no hex, inf or nan). */
static bool word_number(struct cursor w, double *v)
{
    char buf[64];
    size_t n = cur_left(&w);
    if (n == 0 || n >= sizeof buf)
        return false;
    for (size_t i = 0; i < n; i++) {
        uint8_t ch = cur_peek(&w, i);
        if (!((ch >= '0' && ch <= '9') || ch == '+' || ch == '-' || ch == '.' || ch == 'e' ||
              ch == 'E'))
            return false;
        buf[i] = (char)ch;
    }
    buf[n] = 0;
    char *end;
    errno = 0;
    double d = strtod(buf, &end);
    if (end != buf + n || !isfinite(d))
        return false;
    *v = d;
    return true;
}

/* A name: 1..CLF_NAME_MAX-1 characters of [A-Za-z0-9._:@+/-]. */
static bool word_name(struct cursor w, char *out)
{
    size_t n = cur_left(&w);
    if (n == 0 || n >= CLF_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        uint8_t ch = cur_peek(&w, i);
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              ch == '.' || ch == '_' || ch == ':' || ch == '@' || ch == '+' || ch == '/' ||
              ch == '-'))
            return false;
        out[i] = (char)ch;
    }
    out[n] = 0;
    return true;
}

/* Isolate the next line of c into *l (without '\n'); false at the end. */
static bool next_line(struct cursor *c, struct cursor *l)
{
    if (!cur_has(c, 1))
        return false;
    size_t n = 0;
    while (n < cur_left(c) && cur_peek(c, n) != '\n')
        n++;
    *l = cur_sub(c, n);
    cur_skip(c, cur_has(c, 1) ? 1 : 0);
    return true;
}

int clf_parse_model(const uint8_t *data, size_t len, const char *name, struct clf_model *m,
                    char *err, size_t errlen)
{
    struct cursor c, l;
    cur_init(&c, data, len);
    memset(m, 0, sizeof *m);
    m->kind = CLF_JOY_MODEL;
    unsigned long line = 0;
    bool magic = false, done = false;
    bool have_name = false, have_version = false, have_features = false, have_threshold = false,
         have_intercept = false;
    unsigned nf = 0;
    char msg[200], fname[32];
    while (!done && next_line(&c, &l)) {
        line++;
        skip_blanks(&l);
        if (!cur_has(&l, 1) || cur_peek(&l, 0) == '#')
            continue;
        struct cursor key = next_word(&l);
        if (!magic) {
            struct cursor v = next_word(&l);
            if (!word_is(&key, "joy-model"))
                return fail(err, errlen, name, line,
                            "not a joy-model file (first line must be 'joy-model 1'; Joy's "
                            "parameter files are given as model=SPLT_FILE:BD_FILE)");
            if (!word_is(&v, "1"))
                return fail(err, errlen, name, line,
                            "unsupported joy-model format version (this joy reads 1)");
            magic = true;
        } else if (word_is(&key, "name") || word_is(&key, "version") ||
                   word_is(&key, "positive")) {
            bool is_name = word_is(&key, "name"), is_ver = word_is(&key, "version");
            char *dst = is_name ? m->name : is_ver ? m->version : m->positive;
            bool *seen = is_name ? &have_name : is_ver ? &have_version : NULL;
            if ((seen && *seen) || (!seen && m->positive[0]))
                return fail(err, errlen, name, line, "repeated key");
            if (!word_name(next_word(&l), dst))
                return fail(err, errlen, name, line,
                            "expected a name of 1-63 characters [A-Za-z0-9._:@+/-]");
            if (seen)
                *seen = true;
        } else if (word_is(&key, "features")) {
            if (have_features)
                return fail(err, errlen, name, line, "repeated key");
            struct cursor set = next_word(&l), hash = next_word(&l);
            if (word_is(&set, "joy-splt-v1"))
                m->n = CLF_N_SPLT;
            else if (word_is(&set, "joy-splt-bd-v1"))
                m->n = CLF_N_BD;
            else
                return fail(err, errlen, name, line,
                            "unknown feature set (this joy computes joy-splt-v1 and "
                            "joy-splt-bd-v1)");
            if (!word_is(&hash, CLF_DEF_SHA256))
                return fail(err, errlen, name, line,
                            "the model was made for another feature definition (its SHA-256 "
                            "differs from this joy's " CLF_DEF_SHA256 "): retrain it with the "
                            "joy-train of this version");
            have_features = true;
        } else if (word_is(&key, "threshold") || word_is(&key, "intercept")) {
            bool is_thr = word_is(&key, "threshold");
            bool *seen = is_thr ? &have_threshold : &have_intercept;
            double v;
            if (*seen)
                return fail(err, errlen, name, line, "repeated key");
            if (!word_number(next_word(&l), &v))
                return fail(err, errlen, name, line, "expected a decimal number");
            if (is_thr && !(v >= 0 && v <= 1))
                return fail(err, errlen, name, line, "threshold must be within 0..1");
            *(is_thr ? &m->threshold : &m->intercept) = v;
            *seen = true;
            continue;
        } else if (word_is(&key, "info")) {
            continue; /* free text for people */
        } else if (word_is(&key, "feature")) {
            if (!have_features)
                return fail(err, errlen, name, line, "'feature' lines must follow 'features'");
            if (nf >= m->n) {
                snprintf(msg, sizeof msg, "more than the %u features of the set", m->n);
                return fail(err, errlen, name, line, msg);
            }
            struct cursor fn = next_word(&l);
            clf_feature_name(nf, fname, sizeof fname);
            if (!word_is(&fn, fname)) {
                snprintf(msg, sizeof msg, "feature %u must be '%s'", nf, fname);
                return fail(err, errlen, name, line, msg);
            }
            double mean, sd, w;
            if (!word_number(next_word(&l), &mean) || !word_number(next_word(&l), &sd) ||
                !word_number(next_word(&l), &w))
                return fail(err, errlen, name, line,
                            "expected 'feature NAME MEAN STD WEIGHT' (decimal numbers)");
            if (!(sd > 0))
                return fail(err, errlen, name, line, "STD must be greater than 0");
            m->mean[nf] = mean;
            m->std[nf] = sd;
            m->weight[nf] = w;
            nf++;
        } else if (word_is(&key, "end")) {
            done = true;
        } else {
            return fail(err, errlen, name, line,
                        "unknown key (expected name, version, positive, features, threshold, "
                        "intercept, info, feature or end)");
        }
        skip_blanks(&l);
        if (cur_has(&l, 1) && cur_peek(&l, 0) != '#')
            return fail(err, errlen, name, line, "unexpected text at the end of the line");
    }
    if (!magic)
        return fail(err, errlen, name, 0, "empty file, not a joy-model file");
    if (!done)
        return fail(err, errlen, name, line + 1, "end of file before the 'end' line");
    const char *missing = !have_name ? "name" : !have_version ? "version"
                          : !have_features ? "features" : !have_threshold ? "threshold"
                          : !have_intercept ? "intercept" : NULL;
    if (missing) {
        snprintf(msg, sizeof msg, "no '%s' line before 'end'", missing);
        return fail(err, errlen, name, line, msg);
    }
    if (nf != m->n) {
        snprintf(msg, sizeof msg, "%u feature lines, the set has %u", nf, m->n);
        return fail(err, errlen, name, line, msg);
    }
    /* the score's coefficients, in the definition's order of operations */
    double b = m->intercept;
    for (unsigned i = 0; i < m->n; i++) {
        m->coef[i] = m->weight[i] / m->std[i];
        b = b - m->coef[i] * m->mean[i];
        if (!isfinite(m->coef[i])) {
            snprintf(msg, sizeof msg, "feature %u: WEIGHT / STD is not finite", i);
            return fail(err, errlen, name, line, msg);
        }
    }
    if (!isfinite(b))
        return fail(err, errlen, name, line, "the weights overflow (the score's constant is not finite)");
    m->b = b;
    return 0;
}

int clf_parse_joy_params(const uint8_t *data, size_t len, const char *name, double *out,
                         size_t want, char *err, size_t errlen)
{
    struct cursor c, l;
    cur_init(&c, data, len);
    unsigned long line = 0;
    size_t got = 0;
    char msg[200];
    while (next_line(&c, &l)) {
        line++;
        for (;;) {
            struct cursor w = next_word(&l);
            if (!cur_has(&w, 1))
                break;
            double v;
            if (!word_number(w, &v))
                return fail(err, errlen, name, line, "expected a decimal number");
            if (got >= want) {
                snprintf(msg, sizeof msg,
                         "more than %zu numbers (Joy's %s file has bias + %zu weights)", want,
                         want == CLF_N_SPLT + 1 ? "SPLT" : "BD", want - 1);
                return fail(err, errlen, name, line, msg);
            }
            out[got++] = v;
        }
    }
    if (got != want) {
        snprintf(msg, sizeof msg, "%zu numbers, Joy's %s file has %zu (bias + %zu weights)", got,
                 want == CLF_N_SPLT + 1 ? "SPLT" : "BD", want, want - 1);
        return fail(err, errlen, name, line + 1, msg);
    }
    return 0;
}

/* Read a whole file of at most CLF_MAX_FILE bytes; *buf is malloc'ed. */
static int read_file(const char *path, uint8_t **buf, size_t *len, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        snprintf(err, errlen, "model: %s: %s", path, strerror(errno));
        return -1;
    }
    uint8_t *b = malloc(CLF_MAX_FILE + 1);
    if (!b) {
        fclose(fp);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t n = fread(b, 1, CLF_MAX_FILE + 1, fp);
    int rd_err = ferror(fp) ? errno : 0;
    fclose(fp);
    if (rd_err || n > CLF_MAX_FILE) {
        if (rd_err)
            snprintf(err, errlen, "model: %s: cannot read: %s", path, strerror(rd_err));
        else
            snprintf(err, errlen, "model: %s: larger than %u bytes, not a model", path,
                     CLF_MAX_FILE);
        free(b);
        return -1;
    }
    *buf = b;
    *len = n;
    return 0;
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* A name for a Joy pair: the file names, cut to fit and made safe. */
static void pair_name(const char *splt, const char *bd, char *out)
{
    char tmp[2 * CLF_NAME_MAX];
    snprintf(tmp, sizeof tmp, "%s:%s", base_name(splt), base_name(bd));
    size_t k = 0;
    for (size_t i = 0; tmp[i] && k + 1 < CLF_NAME_MAX; i++) {
        char ch = tmp[i];
        bool ok = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
                  (ch >= 'A' && ch <= 'Z') || strchr("._:@+-", ch);
        out[k++] = ok ? ch : '_';
    }
    out[k] = 0;
}

int clf_load(const char *spec, struct clf_model *m, char *err, size_t errlen)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    FILE *probe = fopen(spec, "rb");
    const char *colon = strchr(spec, ':');
    if (probe || !colon) {
        if (probe)
            fclose(probe);
        if (read_file(spec, &buf, &len, err, errlen) != 0)
            return -1;
        int rc = clf_parse_model(buf, len, spec, m, err, errlen);
        free(buf);
        return rc;
    }
    /* Joy's pair SPLT_FILE:BD_FILE */
    size_t n1 = (size_t)(colon - spec);
    char *splt = malloc(n1 + 1);
    if (!splt) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(splt, spec, n1);
    splt[n1] = 0;
    const char *bd = colon + 1;
    memset(m, 0, sizeof *m);
    m->kind = CLF_JOY_PAIR;
    m->n = CLF_N_BD;
    m->threshold = 0.5;
    int rc = -1;
    if (read_file(splt, &buf, &len, err, errlen) == 0) {
        rc = clf_parse_joy_params(buf, len, splt, m->splt, CLF_N_SPLT + 1, err, errlen);
        free(buf);
        buf = NULL;
    }
    if (rc == 0) {
        rc = read_file(bd, &buf, &len, err, errlen);
        if (rc == 0)
            rc = clf_parse_joy_params(buf, len, bd, m->bd, CLF_N_BD + 1, err, errlen);
        free(buf);
    }
    if (rc == 0) {
        pair_name(splt, bd, m->name);
        snprintf(m->version, sizeof m->version, "joy-params");
    }
    free(splt);
    return rc;
}

/* ---------------------------------------------------------------------
 * The module
 */

struct classify_scratch {
    bool dist_on;          /* dist=1: records have byte_dist */
    uint32_t cap;
    uint32_t *len;
    uint64_t *ipt;
};

static bool classify_enabled(const void *cfg, const struct joy_config *core)
{
    (void)core;
    const struct classify_cfg *c = cfg;
    return c->classify || c->features;
}

extern const struct joy_module bytedist_module;

struct dist_view {
    bool on;
    uint64_t dist_bytes;
};

/* The dist module's switch and byte range, read through its option table. */
static struct dist_view dist_view(const struct joy_config *core)
{
    struct dist_view v = {false, 0};
    const void *bc = module_config(core, &bytedist_module);
    if (!bc)
        return v;
    for (const struct joy_option *o = bytedist_module.options; o->key; o++) {
        if (strcmp(o->key, "dist") == 0)
            memcpy(&v.on, (const char *)bc + o->offset, sizeof v.on);
        else if (strcmp(o->key, "dist_bytes") == 0)
            memcpy(&v.dist_bytes, (const char *)bc + o->offset, sizeof v.dist_bytes);
    }
    return v;
}

/* The module's shared data: the model, and its "classifier" object as
 * JSON text, written once here instead of formatted for every record. */
struct classify_data {
    struct clf_model m;
    size_t classifier_len;
    char classifier[2 * 6 * CLF_NAME_MAX + 64]; /* every byte escaped as \u00XX */
};

static int classify_setup(const void *cfg, const struct joy_config *core, void **data,
                          char *err, size_t errlen)
{
    const struct classify_cfg *c = cfg;
    struct dist_view dv = dist_view(core);
    if (!c->classify) {
        if (c->model)
            snprintf(err, errlen, "model=%s is used only with classify=1", c->model);
        return c->model ? -1 : 0;
    }
    if (!c->model) {
        snprintf(err, errlen,
                 "classify=1 needs model=FILE (joy-train's output, or Joy's SPLT_FILE:BD_FILE)");
        return -1;
    }
    struct classify_data *d = malloc(sizeof *d);
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    struct clf_model *m = &d->m;
    if (clf_load(c->model, m, err, errlen) != 0) {
        free(d);
        return -1;
    }
    if (m->kind == CLF_JOY_MODEL && m->n == CLF_N_BD && (!dv.on || dv.dist_bytes != 4000)) {
        snprintf(err, errlen,
                 "model: %s uses feature set joy-splt-bd-v1, which needs dist=1 and "
                 "dist_bytes=4000",
                 c->model);
        free(d);
        return -1;
    }
    struct jsonw w;
    jw_init(&w);
    jw_obj_open(&w);
    jw_kv_cstr(&w, "model", m->name);
    jw_kv_cstr(&w, "version", m->version);
    jw_close(&w);
    bool fits = !w.overflow && w.len <= sizeof d->classifier;
    if (fits) {
        memcpy(d->classifier, w.buf, w.len);
        d->classifier_len = w.len;
    }
    jw_free(&w);
    if (!fits) {
        snprintf(err, errlen, "out of memory");
        free(d);
        return -1;
    }
    *data = d;
    return 0;
}

static int classify_worker_init(const struct module_env *env, void **scratch, char *err,
                                size_t errlen)
{
    struct classify_scratch *s = calloc(1, sizeof *s);
    uint32_t cap = (uint32_t)env->core->num_pkts;
    if (s) {
        s->dist_on = dist_view(env->core).on;
        s->cap = cap;
        s->len = malloc((cap ? cap : 1) * sizeof *s->len);
        s->ipt = malloc((cap ? cap : 1) * sizeof *s->ipt);
    }
    if (!s || !s->len || !s->ipt) {
        if (s) {
            free(s->len);
            free(s->ipt);
        }
        free(s);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    *scratch = s;
    return 0;
}

static void classify_worker_free(void *scratch)
{
    struct classify_scratch *s = scratch;
    if (s) {
        free(s->len);
        free(s->ipt);
    }
    free(s);
}

/* v with 17 significant digits (a binary64 reads back exactly); integers
 * (most features: counters, and the many zeros) without printf */
static void put_double(struct jsonw *w, double v)
{
    char b[40];
    if (v >= 0 && v < 9007199254740992.0 && v == (double)(uint64_t)v) {
        jw_uint(w, (uint64_t)v);
        return;
    }
    int n = snprintf(b, sizeof b, "%.17g", v);
    if (n > 0 && (size_t)n < sizeof b && isfinite(v))
        jw_raw_value(w, b, (size_t)n);
    else
        jw_null(w);
}

/*
 * A probability 0 <= p <= 1 with 12 significant digits (relative error
 * below 5e-12; printf's exact %.17g costs more than the whole score).
 * Plain decimal down to 1e-5, then d.ddde-N.
 */
static void put_prob(struct jsonw *w, double p)
{
    if (!(p > 0) || p >= 1) {
        jw_raw_value(w, p >= 1 ? "1" : "0", 1);
        return;
    }
    int e = (int)floor(log10(p));
    uint64_t d = (uint64_t)llround(p * pow(10.0, 11 - e));
    if (d >= 1000000000000ull) { /* rounded up to 10^12 */
        d /= 10;
        e++;
    } else if (d < 100000000000ull) { /* log10 a hair too high */
        d = (uint64_t)llround(p * pow(10.0, 12 - e));
        e--;
    }
    char dig[13], b[40];
    for (int i = 11; i >= 0; i--) {
        dig[i] = (char)('0' + d % 10);
        d /= 10;
    }
    int nd = 12;
    while (nd > 1 && dig[nd - 1] == '0')
        nd--;
    int n = 0;
    if (e >= 0) { /* only p = 1.0 rounds to here; written as digits */
        b[n++] = dig[0];
    } else if (e >= -5) {
        b[n++] = '0';
        b[n++] = '.';
        for (int z = 0; z < -e - 1; z++)
            b[n++] = '0';
        for (int i = 0; i < nd; i++)
            b[n++] = dig[i];
    } else {
        b[n++] = dig[0];
        if (nd > 1) {
            b[n++] = '.';
            for (int i = 1; i < nd; i++)
                b[n++] = dig[i];
        }
        n += snprintf(b + n, sizeof b - (size_t)n, "e-%d", -e);
    }
    jw_raw_value(w, b, (size_t)n);
}

static void classify_json(const struct module_env *env, const void *state, const struct flow *f,
                          struct jsonw *w)
{
    (void)state;
    const struct classify_cfg *c = env->cfg;
    const struct classify_data *d = env->data;
    const struct clf_model *m = d ? &d->m : NULL;
    struct classify_scratch *s = env->scratch;
    bool bidir = env->core->bidir;

    /* the SPLT entries with "ipt" exactly as record.c writes them */
    uint32_t n = f->n_splt < s->cap ? f->n_splt : s->cap;
    uint64_t prev = f->t_start;
    for (uint32_t i = 0; i < n; i++) {
        const struct splt_entry *e = &f->splt[i];
        s->ipt[i] = e->ts > prev ? (e->ts - prev) / 1000000u : 0;
        if (e->ts > prev)
            prev = e->ts;
        s->len[i] = e->len;
    }
    /* The byte distribution is read only when it is used: by a model of
     * the joy-splt-bd-v1 set or Joy's pair, or to write the features. */
    bool need_bd = c->features || (m && (m->kind == CLF_JOY_PAIR || m->n > CLF_N_SPLT));
    uint64_t k[256];
    uint64_t counted = need_bd ? bytedist_of(env, f, k) : 0;
    bool ports = flow_has_ports(f);
    struct clf_input in = {
        .dp = ports ? flow_dp(f) : 0,
        .sp = ports ? flow_sp(f) : 0,
        .pkts_in = bidir ? f->side[1].pkts : 0,
        .pkts_out = f->side[0].pkts,
        .bytes_in = bidir ? f->side[1].bytes : 0,
        .bytes_out = f->side[0].bytes,
        .n_pkts = n,
        .len = s->len,
        .ipt = s->ipt,
        .bd = s->dist_on && counted ? k : NULL,
        .bd_total = counted,
    };
    double x[CLF_N_BD];
    bool dist_on = s->dist_on;
    if (m) {
        bool legacy = m->kind == CLF_JOY_PAIR;
        bool used_bd;
        /* without it, x[CLF_N_SPLT..] is not read (clf_score stops at
         * m->n = CLF_N_SPLT) */
        if (need_bd)
            clf_features(&in, legacy, x);
        else
            splt_features(&in, x);
        double p = clf_score(m, x, in.bd != NULL, in.bytes_out + in.bytes_in, &used_bd);
        jw_key(w, "p_malware");
        put_prob(w, p);
        jw_key(w, "classifier");
        jw_raw_value(w, d->classifier, d->classifier_len);
        if (legacy && c->features)
            clf_features(&in, false, x);
    } else {
        clf_features(&in, false, x);
    }
    if (c->features) {
        unsigned nx = dist_on ? CLF_N_BD : CLF_N_SPLT;
        jw_key(w, "clf");
        jw_obj_open(w);
        jw_kv_cstr(w, "set", dist_on ? "joy-splt-bd-v1" : "joy-splt-v1");
        jw_key(w, "x");
        jw_arr_open(w);
        for (unsigned i = 0; i < nx; i++)
            put_double(w, x[i]);
        jw_close(w);
        jw_close(w);
    }
}

const struct joy_module classify_module = {
    .name = "classify",
    .summary = "logistic-regression score of each flow (p_malware) and its feature vector",
    .options = classify_options,
    .config_size = sizeof(struct classify_cfg),
    .enabled = classify_enabled,
    .setup = classify_setup,
    .teardown = free,
    .worker_init = classify_worker_init,
    .worker_free = classify_worker_free,
    .write_json = classify_json,
    .writes_every_record = true,
    .reloadable = true,
};

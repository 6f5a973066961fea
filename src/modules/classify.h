/*
 * classify.h - the classifier's model files and feature vector
 * (mod_classify.c; user page and feature definition: doc/modules/classify.md).
 *
 * Two kinds of model:
 *   - a "joy-model 1" text file: a feature set (joy-splt-v1 or
 *     joy-splt-bd-v1) checked by the SHA-256 of the feature definition,
 *     per-feature mean, std and weight, intercept, threshold;
 *   - Joy's pair of parameter files SPLT_FILE:BD_FILE (208 and 464
 *     whitespace-separated numbers: bias, then one weight per feature).
 *
 * The parsers read untrusted bytes through a cursor (fuzz/fuzz_model.c).
 */
#ifndef JOY_CLASSIFY_H
#define JOY_CLASSIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CLF_N_SPLT 207     /* joy-splt-v1 */
#define CLF_N_BD 463       /* joy-splt-bd-v1 */
#define CLF_MAX_FILE (1u << 20) /* a model file is at most this many bytes */
#define CLF_NAME_MAX 64

/* SHA-256 of the canonical feature definition (doc/modules/classify.md) */
#define CLF_DEF_SHA256 "964965522e5f23e47cc875fe8b4b1d1a721b1aec1509d496e7efb007a43bf7d0"

enum clf_kind {
    CLF_JOY_MODEL = 1,     /* our "joy-model 1" file */
    CLF_JOY_PAIR = 2,      /* Joy's SPLT:BD parameter files */
};

struct clf_model {
    int kind;                      /* enum clf_kind */
    unsigned n;                    /* features used: CLF_N_SPLT or CLF_N_BD */
    char name[CLF_NAME_MAX];
    char version[CLF_NAME_MAX];
    char positive[CLF_NAME_MAX];   /* what a high score means ("" = unsaid) */
    double intercept, threshold;
    double mean[CLF_N_BD], std[CLF_N_BD], weight[CLF_N_BD];
    /* the score's coefficients, c[i] = weight[i] / std[i], and its
     * constant b (doc/modules/classify.md), computed once by
     * clf_prepare() */
    double coef[CLF_N_BD];
    double b;
    /* CLF_JOY_PAIR: Joy's parameters, [0] the bias */
    double splt[CLF_N_SPLT + 1];
    double bd[CLF_N_BD + 1];
};

/*
 * Parse a "joy-model 1" file held in [data, data+len).  `name` is the file
 * name used in messages.  Returns 0, or -1 with one line "name:line: ..."
 * in err.  Never reads outside the given bytes.
 */
int clf_parse_model(const uint8_t *data, size_t len, const char *name, struct clf_model *m,
                    char *err, size_t errlen);

/* Parse one of Joy's parameter files: exactly `want` numbers into out[]. */
int clf_parse_joy_params(const uint8_t *data, size_t len, const char *name, double *out,
                         size_t want, char *err, size_t errlen);

/*
 * Load a model given as the model= option: a joy-model file, or Joy's
 * SPLT_FILE:BD_FILE pair (used when `spec` is not itself a file and holds
 * a ':').  Reusable (a reload builds a new model and swaps it in).
 */
int clf_load(const char *spec, struct clf_model *m, char *err, size_t errlen);

/* Name of feature i (0..CLF_N_BD-1) as written in model files. */
void clf_feature_name(unsigned i, char *buf, size_t len);

/*
 * What the features are computed from (the fields of a flow record).
 * ipt/len: n_pkts entries; bd: 256 counts (each below 2^63) or NULL.
 */
struct clf_input {
    uint64_t dp, sp, pkts_in, pkts_out, bytes_in, bytes_out;
    uint32_t n_pkts;
    const uint32_t *len;
    const uint64_t *ipt;
    const uint64_t *bd;
    uint64_t bd_total;   /* the sum of bd[0..255] */
};

/* x[0..CLF_N_BD-1]; legacy_bd: Joy's byte_dist / (bytes_out + bytes_in). */
void clf_features(const struct clf_input *in, bool legacy_bd, double x[CLF_N_BD]);

/* The score p of feature vector x (computed with legacy_bd for a Joy
 * pair); *used_bd tells which of Joy's two models scored. */
double clf_score(const struct clf_model *m, const double x[CLF_N_BD], bool have_bd,
                 uint64_t total_bytes, bool *used_bd);

#endif

/*
 * fuzz_model.c - the classifier's model file parsers (classify.h) on
 * arbitrary bytes: as a "joy-model 1" file and as Joy's SPLT and BD
 * parameter files.  A model that is accepted must score a fixed feature
 * vector to a probability in [0, 1]; a refusal must name the file.
 */
#include "classify.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct clf_model model;

static void check_score(const struct clf_model *m)
{
    static const uint32_t len[5] = {0, 1500, 149, 150, 70000};
    static const uint64_t ipt[5] = {0, 49, 50, 1000000, 3};
    uint64_t bd[256];
    for (int v = 0; v < 256; v++)
        bd[v] = (uint64_t)(v * 7 % 13);
    uint64_t total = 0;
    for (int v = 0; v < 256; v++)
        total += bd[v];
    struct clf_input in = {443, 51000, 9, 11, 5000, 300, 5, len, ipt, bd, total};
    double x[CLF_N_BD];
    bool used;
    clf_features(&in, m->kind == CLF_JOY_PAIR, x);
    double p = clf_score(m, x, true, 5300, &used);
    if (!(p >= 0 && p <= 1) && !isnan(p))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    if (clf_parse_model(data, size, "fuzz.model", &model, err, sizeof err) == 0) {
        if (model.n != CLF_N_SPLT && model.n != CLF_N_BD)
            abort();
        for (unsigned i = 0; i < model.n; i++)
            if (!(model.std[i] > 0))
                abort();
        check_score(&model);
    } else if (strncmp(err, "model: fuzz.model", 17) != 0) {
        abort();
    }
    memset(&model, 0, sizeof model);
    model.kind = CLF_JOY_PAIR;
    int a = clf_parse_joy_params(data, size, "fuzz.splt", model.splt, CLF_N_SPLT + 1, err,
                                 sizeof err);
    if (a != 0 && strncmp(err, "model: fuzz.splt", 16) != 0)
        abort();
    int b = clf_parse_joy_params(data, size, "fuzz.bd", model.bd, CLF_N_BD + 1, err, sizeof err);
    if (b != 0 && strncmp(err, "model: fuzz.bd", 14) != 0)
        abort();
    if (a == 0 || b == 0)
        check_score(&model);
    return 0;
}

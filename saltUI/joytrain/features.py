"""The classifier's feature vector, computed from one joy flow record.

This is the definition of doc/modules/classify.md ("Feature definition"),
the same as src/modules/mod_classify.c computes in the meter, operation for
operation, so that a score computed here equals the meter's p_malware.

    vector(rec)                 -> 463 floats (joy-splt-bd-v1; the first 207
                                   are joy-splt-v1)
    vector(rec, legacy_bd=True) -> Joy's byte normalisation (for Joy's
                                   SPLT:BD parameter pairs)
"""

# SHA-256 of the canonical text of the definition (the fenced block under
# "Feature definition" in doc/modules/classify.md); a model file stores it.
DEF_SHA256 = "964965522e5f23e47cc875fe8b4b1d1a721b1aec1509d496e7efb007a43bf7d0"

N_SPLT = 207
N_BD = 463
SETS = {"joy-splt-v1": N_SPLT, "joy-splt-bd-v1": N_BD}

_META = ["dp", "sp", "pkts_in", "pkts_out", "bytes_in", "bytes_out", "duration_ms"]


def feature_names(n=N_BD):
    """Names of x[0..n-1] as written in model files."""
    names = list(_META)
    names += ["len_%d_%d" % (i, j) for i in range(10) for j in range(10)]
    names += ["ipt_%d_%d" % (i, j) for i in range(10) for j in range(10)]
    names += ["bd_%d" % v for v in range(256)]
    return names[:n]


def _int(rec, key):
    v = rec.get(key)
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else 0


def _len_bin(v):
    return min(v // 150, 9)


def _ipt_bin(v):
    return min(v // 50, 9)


def _markov(bins):
    x = [0.0] * 100
    n = len(bins)
    if n == 1:
        x[bins[0] * 10 + bins[0]] = 1.0
        return x
    if n == 0:
        return x
    c = [0] * 100
    for k in range(1, n):
        c[bins[k - 1] * 10 + bins[k]] += 1
    for i in range(10):
        r = sum(c[i * 10:i * 10 + 10])
        if r:
            ri = 1.0 / float(r)
            for j in range(10):
                x[i * 10 + j] = float(c[i * 10 + j]) * ri
    return x


def byte_dist(rec):
    """The record's 256 byte counts, or None when it has none."""
    bd = rec.get("byte_dist")
    if isinstance(bd, list) and len(bd) == 256:
        return [v if isinstance(v, int) and v >= 0 else 0 for v in bd]
    return None


def vector(rec, legacy_bd=False):
    """x[0..462] of a flow record (a dict from joy's JSON output)."""
    x = [float(_int(rec, "dp")), float(_int(rec, "sp")),
         float(_int(rec, "num_pkts_in")), float(_int(rec, "num_pkts_out")),
         float(_int(rec, "bytes_in")), float(_int(rec, "bytes_out"))]
    pk = rec.get("packets") or []
    lens = [_int(p, "b") for p in pk if isinstance(p, dict)]
    ipts = [_int(p, "ipt") for p in pk if isinstance(p, dict)]
    x.append(float(sum(ipts)))
    x += _markov([_len_bin(v) for v in lens])
    x += _markov([_ipt_bin(v) for v in ipts])
    bd = byte_dist(rec)
    s = sum(bd) if bd else 0
    denom = (_int(rec, "bytes_out") + _int(rec, "bytes_in")) if legacy_bd else s
    if s and denom:
        r = 1.0 / float(denom)
        x += [float(v) * r for v in bd]
    else:
        x += [0.0] * 256
    return x


def record_set(rec):
    """The feature set a record supports: joy-splt-bd-v1 with byte_dist."""
    return "joy-splt-bd-v1" if "byte_dist" in rec else "joy-splt-v1"


def training_vector(rec, n):
    """x[0..n-1] for training: the record's own "clf" vector when the meter
    wrote one (classify_features=1), else computed here (the same values)."""
    clf = rec.get("clf")
    if isinstance(clf, dict) and isinstance(clf.get("x"), list) and len(clf["x"]) >= n:
        return [float(v) for v in clf["x"][:n]]
    return vector(rec)[:n]

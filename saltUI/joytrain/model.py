"""Logistic-regression flow classifiers: train, save, load, score.

    train(pos_records, neg_records, penalty="l2", C=1.0, seed=0) -> Model
    Model.save(path); load(path) -> Model; Model.score(record) -> float

A model file is the "joy-model 1" text format of doc/modules/classify.md,
which the meter reads with classify=1 model=FILE; load() also reads Joy's
pair of parameter files given as "SPLT_FILE:BD_FILE".  Model.score(record)
computes exactly what the meter writes as p_malware for that record.

Solver: scikit-learn (LogisticRegression on standardised features) when it
can be imported, else an exact pure-Python solver of the same objective
(L2: L-BFGS; L1: FISTA), deterministic; Model.solver says which.
"""
import datetime
import hashlib
import math
import os
import random
import re
import sys

from . import features as F
from . import __version__

MAGIC = "joy-model 1"
_NAME_RE = re.compile(r"^[A-Za-z0-9._:@+/-]{1,63}$")
_NUM_RE = re.compile(r"^[0-9+\-.eE]{1,63}$")


class ModelError(Exception):
    pass


def _logistic(z):
    a = -z if -z < 500 else 500.0
    return 1.0 / (1.0 + math.exp(a))


def _safe_name(s):
    s = re.sub(r"[^A-Za-z0-9._:@+/-]", "_", s or "model")[:63]
    return s or "model"


class Model:
    """A scorer: our joy-model (kind "joy-model") or Joy's pair ("joy-pair")."""

    def __init__(self):
        self.kind = "joy-model"
        self.name = "model"
        self.version = "1"
        self.positive = ""
        self.feature_set = "joy-splt-bd-v1"
        self.n = F.N_BD
        self.mean = []
        self.std = []
        self.weight = []
        self.intercept = 0.0
        self.threshold = 0.5
        self.info = []
        self.solver = ""
        self.splt = None   # Joy pair: 208 values, [0] the bias
        self.bd = None     # Joy pair: 464 values
        self._cb = None    # (coef, b), made on the first score

    # --- scoring (the order of operations is the meter's) ---------------
    def coefficients(self):
        """(c, b): c[i] = weight[i] / std[i] and the constant b, computed in
        the definition's order (doc/modules/classify.md), as the meter does."""
        c = [self.weight[i] / self.std[i] for i in range(self.n)]
        b = self.intercept
        for i in range(self.n):
            b = b - c[i] * self.mean[i]
        return c, b

    def check(self, name="model"):
        """Refuse what the meter refuses: a coefficient or constant that is
        not finite."""
        c, b = self.coefficients()
        for i, v in enumerate(c):
            if not math.isfinite(v):
                raise ModelError("%s: feature %d: WEIGHT / STD is not finite" % (name, i))
        if not math.isfinite(b):
            raise ModelError("%s: the weights overflow (the score's constant is not finite)" % name)

    def score_x(self, x):
        """p of a feature vector x (at least self.n values)."""
        if getattr(self, "_cb", None) is None:
            self._cb = self.coefficients()
        c, b = self._cb
        S = [0.0] * 8
        for i in range(self.n):
            if x[i] != 0:
                S[i & 7] = S[i & 7] + c[i] * x[i]
        z = b + (((S[0] + S[1]) + (S[2] + S[3])) + ((S[4] + S[5]) + (S[6] + S[7])))
        return _logistic(z)

    def score(self, rec):
        """p for one flow record: equal to the meter's p_malware."""
        if self.kind == "joy-pair":
            x = F.vector(rec, legacy_bd=True)
            total = F._int(rec, "bytes_out") + F._int(rec, "bytes_in")
            if F.byte_dist(rec) is not None and total > 100:
                z = self.bd[0]
                for i in range(F.N_BD):
                    if x[i] != 0:
                        z = z + self.bd[i + 1] * x[i]
            else:
                z = self.splt[0]
                for i in range(F.N_SPLT):
                    if x[i] != 0:
                        z = z + self.splt[i + 1] * x[i]
            return _logistic(z)
        return self.score_x(F.vector(rec))

    def label(self, p):
        return p >= self.threshold

    # --- the file ---------------------------------------------------------
    def text(self):
        if self.kind != "joy-model":
            raise ModelError("Joy's parameter pair is not saved as a joy-model file")
        out = [MAGIC,
               "# joy-train (joytrain %s); format and features: doc/modules/classify.md" % __version__,
               "name %s" % self.name, "version %s" % self.version]
        if self.positive:
            out.append("positive %s" % self.positive)
        out.append("features %s %s" % (self.feature_set, F.DEF_SHA256))
        out.append("threshold %r" % float(self.threshold))
        out.append("intercept %r" % float(self.intercept))
        for line in self.info:
            out.append("info %s" % line.replace("\n", " "))
        for nm, m, s, w in zip(F.feature_names(self.n), self.mean, self.std, self.weight):
            out.append("feature %s %r %r %r" % (nm, float(m), float(s), float(w)))
        out.append("end")
        return "\n".join(out) + "\n"

    def save(self, path):
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(self.text())
        os.replace(tmp, path)


# --- loading ---------------------------------------------------------------

def _num(tok, where):
    if not _NUM_RE.match(tok):
        raise ModelError("%s: expected a decimal number, got %r" % (where, tok[:40]))
    try:
        v = float(tok)
    except ValueError:
        raise ModelError("%s: expected a decimal number, got %r" % (where, tok[:40]))
    if math.isinf(v) or math.isnan(v):
        raise ModelError("%s: not a finite number" % where)
    return v


def parse_model_text(text, name="model"):
    """A joy-model file's text -> Model (the checks of the meter's parser)."""
    m = Model()
    seen = set()
    magic = done = False
    feats = []
    names = F.feature_names()
    lines = text.split("\n")
    for ln, raw in enumerate(lines, 1):
        where = "%s:%d" % (name, ln)
        line = raw.strip(" \t\r")
        if not line or line.startswith("#"):
            continue
        w = line.split()
        if not magic:
            if w[0] != "joy-model":
                raise ModelError("%s: not a joy-model file (first line must be 'joy-model 1'; "
                                 "Joy's parameter files are given as SPLT_FILE:BD_FILE)" % where)
            if len(w) < 2 or w[1] != "1":
                raise ModelError("%s: unsupported joy-model format version" % where)
            magic = True
            continue
        key = w[0]
        if key == "info":
            m.info.append(line[4:].strip())
            if line[4:].strip().startswith("solver "):
                m.solver = line[4:].strip()[7:].split()[0]
            continue
        if key == "end":
            done = True
            break
        if key in ("name", "version", "positive", "features", "threshold", "intercept"):
            if key in seen:
                raise ModelError("%s: repeated key" % where)
            seen.add(key)
        if key in ("name", "version", "positive"):
            if len(w) != 2 or not _NAME_RE.match(w[1]):
                raise ModelError("%s: expected a name of 1-63 characters [A-Za-z0-9._:@+/-]" % where)
            setattr(m, key, w[1])
        elif key == "features":
            if len(w) != 3 or w[1] not in F.SETS:
                raise ModelError("%s: unknown feature set" % where)
            if w[2] != F.DEF_SHA256:
                raise ModelError("%s: the model was made for another feature definition "
                                 "(SHA-256 %s, this joy-train has %s)" % (where, w[2], F.DEF_SHA256))
            m.feature_set, m.n = w[1], F.SETS[w[1]]
        elif key in ("threshold", "intercept"):
            if len(w) != 2:
                raise ModelError("%s: expected one number" % where)
            v = _num(w[1], where)
            if key == "threshold" and not 0 <= v <= 1:
                raise ModelError("%s: threshold must be within 0..1" % where)
            setattr(m, key, v)
        elif key == "feature":
            if "features" not in seen:
                raise ModelError("%s: 'feature' lines must follow 'features'" % where)
            i = len(feats)
            if i >= m.n:
                raise ModelError("%s: more than the %d features of the set" % (where, m.n))
            if len(w) != 5 or w[1] != names[i]:
                raise ModelError("%s: expected 'feature %s MEAN STD WEIGHT'" % (where, names[i]))
            mean, sd, wt = (_num(t, where) for t in w[2:5])
            if not sd > 0:
                raise ModelError("%s: STD must be greater than 0" % where)
            feats.append((mean, sd, wt))
        else:
            raise ModelError("%s: unknown key %r" % (where, key[:40]))
    if not magic:
        raise ModelError("%s: empty file, not a joy-model file" % name)
    if not done:
        raise ModelError("%s: end of file before the 'end' line" % name)
    for k in ("name", "version", "features", "threshold", "intercept"):
        if k not in seen:
            raise ModelError("%s: no '%s' line" % (name, k))
    if len(feats) != m.n:
        raise ModelError("%s: %d feature lines, the set has %d" % (name, len(feats), m.n))
    m.mean = [f[0] for f in feats]
    m.std = [f[1] for f in feats]
    m.weight = [f[2] for f in feats]
    m.check(name)
    return m


def _joy_params(path, want):
    with open(path, "r", encoding="utf-8", errors="replace") as f:
        vals = []
        for ln, line in enumerate(f, 1):
            for tok in line.split():
                vals.append(_num(tok, "%s:%d" % (path, ln)))
    if len(vals) != want:
        raise ModelError("%s: %d numbers, Joy's %s file has %d (bias + %d weights)" % (
            path, len(vals), "SPLT" if want == F.N_SPLT + 1 else "BD", want, want - 1))
    return vals


def load(path):
    """A model: a joy-model file, or Joy's pair "SPLT_FILE:BD_FILE"."""
    if os.path.isfile(path) or ":" not in path:
        with open(path, "r", encoding="utf-8", errors="replace") as f:
            return parse_model_text(f.read(), path)
    splt, bd = path.split(":", 1)
    m = Model()
    m.kind = "joy-pair"
    m.splt = _joy_params(splt, F.N_SPLT + 1)
    m.bd = _joy_params(bd, F.N_BD + 1)
    m.name = _safe_name("%s:%s" % (os.path.basename(splt), os.path.basename(bd)))
    m.version = "joy-params"
    m.feature_set = "joy-legacy"
    return m


# --- training ----------------------------------------------------------------

def _have_sklearn():
    if os.environ.get("JOYTRAIN_SOLVER") == "stdlib":
        return False
    try:
        import numpy  # noqa: F401
        import sklearn  # noqa: F401
        return True
    except ImportError:
        return False


def _standardise(X, n):
    cnt = len(X)
    mean, std = [], []
    for j in range(n):
        col = [r[j] for r in X]
        m = math.fsum(col) / cnt
        v = math.fsum((c - m) * (c - m) for c in col) / cnt
        s = math.sqrt(v)
        mean.append(m)
        std.append(s if s > 0 else 1.0)
    return mean, std


def _fit_sklearn(Z, y, penalty, C, seed):
    import numpy as np
    import sklearn
    from sklearn.linear_model import LogisticRegression
    if penalty == "l1":
        clf = LogisticRegression(penalty="l1", C=C, solver="liblinear", random_state=seed,
                                 max_iter=10000, tol=1e-8)
        how = "liblinear"
    else:
        clf = LogisticRegression(penalty="l2", C=C, solver="lbfgs", random_state=seed,
                                 max_iter=10000, tol=1e-10)
        how = "lbfgs"
    clf.fit(np.array(Z, dtype=float), np.array(y))
    return ([float(v) for v in clf.coef_[0]], float(clf.intercept_[0]),
            "sklearn-%s %s" % (sklearn.__version__, how))


def _fit_stdlib(Z, y, penalty, C, seed):
    """Minimise C * sum(log(1 + exp(-t m))) + P(w), m = b + w.z, t = +-1,
    P = |w|^2 / 2 (L-BFGS) or |w|_1 (FISTA); b unpenalised.  Rows are kept
    sparse (most Markov and byte features are 0 in a flow)."""
    d = len(Z[0]) if Z else 0
    rows = []
    for r in Z:
        idx = [j for j in range(d) if r[j] != 0.0]
        rows.append((idx, [r[j] for j in idx]))
    t = [1.0 if v else -1.0 for v in y]

    def loss_grad(w, b):
        f = 0.0
        g = [0.0] * d
        gb = 0.0
        for (idx, val), ti in zip(rows, t):
            m = b
            for j, v in zip(idx, val):
                m += w[j] * v
            u = -ti * m
            # log(1 + e^u) and its derivative, stably
            if u > 0:
                e = math.exp(-u)
                f += u + math.log1p(e)
                s = 1.0 / (1.0 + e)
            else:
                e = math.exp(u)
                f += math.log1p(e)
                s = e / (1.0 + e)
            c = -ti * s * C
            if c:
                gb += c
                for j, v in zip(idx, val):
                    g[j] += c * v
        return f * C, g, gb

    if penalty == "l1":
        return _fista(loss_grad, d, C) + ("stdlib fista",)
    return _lbfgs(loss_grad, d) + ("stdlib lbfgs",)


def _lbfgs(loss_grad, d, iters=1000, mem=10, tol=1e-7):
    x = [0.0] * (d + 1)  # w..., b

    def fg(x):
        f, g, gb = loss_grad(x[:d], x[d])
        f += 0.5 * math.fsum(v * v for v in x[:d])
        g = [g[j] + x[j] for j in range(d)] + [gb]
        return f, g

    f, g = fg(x)
    S, Y = [], []
    for _ in range(iters):
        if max(abs(v) for v in g) < tol * max(1.0, abs(f)):
            break
        q = list(g)
        alphas = []
        for s, yv in reversed(list(zip(S, Y))):
            rho = 1.0 / math.fsum(a * b for a, b in zip(yv, s))
            a = rho * math.fsum(a1 * b1 for a1, b1 in zip(s, q))
            alphas.append((a, rho, s, yv))
            q = [qi - a * yi for qi, yi in zip(q, yv)]
        if S:
            gamma = math.fsum(a * b for a, b in zip(S[-1], Y[-1])) / math.fsum(v * v for v in Y[-1])
            q = [gamma * v for v in q]
        else:
            gn = math.sqrt(math.fsum(v * v for v in g))
            q = [v / max(gn, 1.0) for v in q]
        for a, rho, s, yv in reversed(alphas):
            bta = rho * math.fsum(a1 * b1 for a1, b1 in zip(yv, q))
            q = [qi + si * (a - bta) for qi, si in zip(q, s)]
        p = [-v for v in q]
        dg = math.fsum(a * b for a, b in zip(p, g))
        if dg >= 0:  # not a descent direction: restart with the gradient
            S, Y = [], []
            p = [-v for v in g]
            dg = -math.fsum(v * v for v in g)
        step = 1.0
        while True:
            xn = [a + step * b for a, b in zip(x, p)]
            fn, gn_ = fg(xn)
            if fn <= f + 1e-4 * step * dg or step < 1e-12:
                break
            step *= 0.5
        s = [a - b for a, b in zip(xn, x)]
        yv = [a - b for a, b in zip(gn_, g)]
        if math.fsum(a * b for a, b in zip(s, yv)) > 1e-12:
            S.append(s)
            Y.append(yv)
            if len(S) > mem:
                S.pop(0)
                Y.pop(0)
        if abs(f - fn) <= 1e-13 * max(1.0, abs(f)):
            x, f, g = xn, fn, gn_
            break
        x, f, g = xn, fn, gn_
    return x[:d], x[d]


def _fista(loss_grad, d, C, iters=3000, tol=1e-9):
    w = [0.0] * d
    b = 0.0
    yw, yb = list(w), b
    tk = 1.0
    L = 1.0
    fprev = None
    for _ in range(iters):
        f, g, gb = loss_grad(yw, yb)
        while True:
            nw = [yw[j] - g[j] / L for j in range(d)]
            nw = [math.copysign(max(abs(v) - 1.0 / L, 0.0), v) for v in nw]
            nb = yb - gb / L
            fn, _, _ = loss_grad(nw, nb)
            dw = [nw[j] - yw[j] for j in range(d)] + [nb - yb]
            quad = f + math.fsum(a * b for a, b in zip(g + [gb], dw)) + \
                0.5 * L * math.fsum(v * v for v in dw)
            if fn <= quad + 1e-12:
                break
            L *= 2.0
        tn = (1.0 + math.sqrt(1.0 + 4.0 * tk * tk)) / 2.0
        yw = [nw[j] + (tk - 1.0) / tn * (nw[j] - w[j]) for j in range(d)]
        yb = nb + (tk - 1.0) / tn * (nb - b)
        obj = fn + math.fsum(abs(v) for v in nw)
        w, b, tk = nw, nb, tn
        if fprev is not None and abs(fprev - obj) <= tol * max(1.0, abs(obj)):
            break
        fprev = obj
    return w, b


def choose_set(records):
    """joy-splt-bd-v1 when every record could have byte_dist (some have it)."""
    return "joy-splt-bd-v1" if any("byte_dist" in r for r in records) else "joy-splt-v1"


def train(pos_records, neg_records, penalty="l2", C=1.0, seed=0, feature_set=None,
          name="model", positive="", threshold=0.5, version=None, solver="auto"):
    """Train a logistic regression: positives score high."""
    if penalty not in ("l1", "l2"):
        raise ModelError("penalty must be l1 or l2")
    if not pos_records or not neg_records:
        raise ModelError("training needs positive and negative records (%d and %d given)" % (
            len(pos_records), len(neg_records)))
    fs = feature_set or choose_set(list(pos_records) + list(neg_records))
    if fs not in F.SETS:
        raise ModelError("unknown feature set %r" % fs)
    n = F.SETS[fs]
    X = [F.training_vector(r, n) for r in pos_records] + [F.training_vector(r, n) for r in neg_records]
    y = [1] * len(pos_records) + [0] * len(neg_records)
    mean, std = _standardise(X, n)
    Z = [[(r[j] - mean[j]) / std[j] for j in range(n)] for r in X]
    use_sk = solver == "sklearn" or (solver == "auto" and _have_sklearn())
    if use_sk:
        w, b, how = _fit_sklearn(Z, y, penalty, C, seed)
    else:
        w, b, how = _fit_stdlib(Z, y, penalty, C, seed)
    m = Model()
    m.name = _safe_name(name)
    m.positive = _safe_name(positive) if positive else ""
    m.feature_set, m.n = fs, n
    m.mean, m.std, m.weight, m.intercept = mean, std, w, b
    m.threshold = float(threshold)
    m.solver = how.split()[0]
    m.info = ["solver %s penalty=%s C=%r seed=%d" % (how, penalty, float(C), seed),
              "data positives=%d negatives=%d" % (len(pos_records), len(neg_records)),
              "trained %s python %s" % (datetime.datetime.now(datetime.timezone.utc)
                                        .strftime("%Y-%m-%dT%H:%M:%SZ"), sys.version.split()[0])]
    if version:
        m.version = _safe_name(version)
    else:
        body = "\n".join("%r %r %r" % t for t in zip(mean, std, w)) + "\n%r" % b
        m.version = hashlib.sha256(body.encode()).hexdigest()[:12]
    return m


# --- evaluation ----------------------------------------------------------------

def roc_auc(pos_scores, neg_scores):
    """Area under the ROC curve (Mann-Whitney, ties count half)."""
    if not pos_scores or not neg_scores:
        return float("nan")
    allv = sorted([(s, 1) for s in pos_scores] + [(s, 0) for s in neg_scores])
    rank_sum = 0.0
    i = 0
    while i < len(allv):
        j = i
        while j < len(allv) and allv[j][0] == allv[i][0]:
            j += 1
        r = (i + 1 + j) / 2.0
        rank_sum += r * sum(1 for k in range(i, j) if allv[k][1])
        i = j
    npos, nneg = len(pos_scores), len(neg_scores)
    return (rank_sum - npos * (npos + 1) / 2.0) / (npos * nneg)


def report(pos_scores, neg_scores, threshold):
    tp = sum(1 for s in pos_scores if s >= threshold)
    fn = len(pos_scores) - tp
    fp = sum(1 for s in neg_scores if s >= threshold)
    tn = len(neg_scores) - fp
    return {"auc": roc_auc(pos_scores, neg_scores), "threshold": threshold,
            "tp": tp, "fn": fn, "fp": fp, "tn": tn,
            "precision": tp / (tp + fp) if tp + fp else float("nan"),
            "recall": tp / (tp + fn) if tp + fn else float("nan")}


def format_report(r, title):
    return ("%s: ROC AUC %.4f; at threshold %g: precision %.4f recall %.4f\n"
            "  confusion: TP %d  FN %d  FP %d  TN %d" % (
                title, r["auc"], r["threshold"], r["precision"], r["recall"],
                r["tp"], r["fn"], r["fp"], r["tn"]))


def cross_validate(pos, neg, k=5, seed=0, **kw):
    """Stratified k-fold: every record scored by a model not trained on it."""
    rnd = random.Random(seed)
    pi, ni = list(range(len(pos))), list(range(len(neg)))
    rnd.shuffle(pi)
    rnd.shuffle(ni)
    ps, ns = [], []
    for fold in range(k):
        tp = [pos[i] for n_, i in enumerate(pi) if n_ % k != fold]
        tn = [neg[i] for n_, i in enumerate(ni) if n_ % k != fold]
        m = train(tp, tn, seed=seed, **kw)
        ps += [m.score(pos[i]) for n_, i in enumerate(pi) if n_ % k == fold]
        ns += [m.score(neg[i]) for n_, i in enumerate(ni) if n_ % k == fold]
    return ps, ns

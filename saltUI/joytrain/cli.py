"""joy-train: train a logistic-regression flow classifier on joy's features,
cross-validate it, test it on held-out data, or print scores.

  joy-train -p POS... -n NEG... -o MODEL [--penalty l1|l2] [-C C] [--seed S]
            [--cv K] [--test DIR... | --test-pos P... --test-neg N...]
  joy-train --score MODEL FILE...

POS/NEG/FILE: joy output (JSON lines, plain or gzip), captures (run
through joy bidir=1 dist=1), or directories of them.  See joy-train(1).
"""
import argparse
import os
import sys

from . import data
from . import model as jtm


def _fmt_id(r):
    def v(k):
        x = r.get(k)
        return "-" if x is None else str(x)
    return "%s %s %s %s %s" % (v("sa"), v("sp"), v("da"), v("dp"), v("pr"))


def main(argv=None):
    ap = argparse.ArgumentParser(prog="joy-train", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-p", "--positive", nargs="+", metavar="POS", default=[],
                    help="positive examples (the class scored high)")
    ap.add_argument("-n", "--negative", nargs="+", metavar="NEG", default=[],
                    help="negative examples")
    ap.add_argument("-o", "--output", metavar="MODEL", help="model file to write")
    ap.add_argument("--penalty", choices=["l1", "l2"], default="l2")
    ap.add_argument("-C", type=float, default=1.0, help="inverse regularisation strength (1.0)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--features", choices=["auto", "joy-splt-v1", "joy-splt-bd-v1"], default="auto",
                    help="feature set (auto: joy-splt-bd-v1 when the records have byte_dist)")
    ap.add_argument("--threshold", type=float, default=0.5,
                    help="score at or above which a flow is called positive (0.5)")
    ap.add_argument("--name", help="model name (default: the output file's base name)")
    ap.add_argument("--model-version", help="model version (default: a digest of the weights)")
    ap.add_argument("--positive-label", default="", help="what a high score means, e.g. malware")
    ap.add_argument("--solver", choices=["auto", "sklearn", "stdlib"], default="auto")
    ap.add_argument("--cv", type=int, metavar="K", help="k-fold cross-validation report")
    ap.add_argument("--test", nargs="+", metavar="DIR", default=[],
                    help="held-out set: each DIR has pos/ and neg/ subdirectories")
    ap.add_argument("--test-pos", nargs="+", metavar="P", default=[])
    ap.add_argument("--test-neg", nargs="+", metavar="N", default=[])
    ap.add_argument("--score", nargs="+", metavar=("MODEL", "FILE"),
                    help="print 'sa sp da dp pr score' for every record of the files")
    ap.add_argument("--joy", metavar="PATH", help="the joy program used for captures")
    ap.add_argument("--joy-option", action="append", default=[], metavar="KEY=VALUE",
                    help="extra joy option for captures (repeatable)")
    a = ap.parse_args(argv)
    opts = data.JOY_OPTIONS + a.joy_option

    def load(paths):
        return data.load_records(paths, a.joy, opts)

    try:
        if a.score:
            if len(a.score) < 2:
                ap.error("--score MODEL FILE...")
            m = jtm.load(a.score[0])
            out = sys.stdout
            for r in load(a.score[1:]):
                out.write("%s %r\n" % (_fmt_id(r), m.score(r)))
            return 0
        if not a.positive or not a.negative or not (a.output or a.cv):
            ap.error("training needs -p POS... -n NEG... and -o MODEL (or --cv K)")
        pos, neg = load(a.positive), load(a.negative)
        kw = dict(penalty=a.penalty, C=a.C,
                  feature_set=None if a.features == "auto" else a.features,
                  name=a.name or (os.path.splitext(os.path.basename(a.output))[0]
                                  if a.output else "model"),
                  positive=a.positive_label, threshold=a.threshold,
                  version=a.model_version, solver=a.solver)
        print("joy-train: %d positive and %d negative records; feature set %s" % (
            len(pos), len(neg), kw["feature_set"] or jtm.choose_set(pos + neg)), file=sys.stderr)
        if a.cv:
            if a.cv < 2:
                ap.error("--cv needs K >= 2")
            ps, ns = jtm.cross_validate(pos, neg, k=a.cv, seed=a.seed, **kw)
            print(jtm.format_report(jtm.report(ps, ns, a.threshold), "%d-fold cross-validation" % a.cv))
        m = jtm.train(pos, neg, seed=a.seed, **kw)
        print("joy-train: solver %s" % m.info[0].split()[1], file=sys.stderr)
        if a.output:
            m.save(a.output)
            print("joy-train: wrote %s (name %s, version %s)" % (a.output, m.name, m.version),
                  file=sys.stderr)
        tpos, tneg = list(a.test_pos), list(a.test_neg)
        for d in a.test:
            for sub, lst in (("pos", tpos), ("neg", tneg)):
                p = os.path.join(d, sub)
                if not os.path.isdir(p):
                    raise data.DataError("%s: no %s/ subdirectory (--test DIR holds pos/ and neg/)" % (d, sub))
                lst.append(p)
        if tpos or tneg:
            ps = [m.score(r) for r in load(tpos)]
            ns = [m.score(r) for r in load(tneg)]
            print(jtm.format_report(jtm.report(ps, ns, a.threshold), "held-out test"))
        return 0
    except (data.DataError, jtm.ModelError, OSError) as e:
        print("joy-train: %s" % e, file=sys.stderr)
        return 2

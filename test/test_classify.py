#!/usr/bin/env python3
"""test_classify.py - the classifier (src/modules/mod_classify.c) and joy-train (saltUI/).

Interpreters: this script runs under whatever python3 runs it (make check:
the first python3 on PATH) and imports saltUI/joytrain with the standard
library only.  joy-train itself is run twice as a program:
  * with /usr/bin/python3 when that interpreter can import sklearn (the
    scikit-learn solver; skipped with a message otherwise);
  * with this interpreter (sys.executable), which takes the pure-Python
    solver when it cannot import sklearn (--solver auto; the check asserts
    which solver was reported).

Checks:
  1. the SHA-256 of the feature definition's canonical text (the fenced
     block in doc/modules/classify.md) equals the constant in
     src/modules/classify.h and in saltUI/joytrain/features.py;
  2. start-up errors (exit 2, file and line named): no model, missing file,
     wrong magic, tampered feature-definition hash, wrong feature name,
     too few features, non-numeric weight, Joy pair of wrong length,
     bd feature set without dist=1;
  3. equality: on every capture of ../shared/pcaps (skipped with a message
     when absent) and on the generated captures (test/gen_pcaps.py), joy's
     "clf" vector equals features.vector() of the same record exactly, and
     joy's p_malware equals `joy-train --score` within 1e-9, for a trained
     joy-model file and for a Joy SPLT:BD pair (bidir=1 dist=1; also bidir=0);
  4. live traffic (root and `ip netns` needed, else skipped): two network
     namespaces joined by a veth pair, python3 -m http.server in one, curl
     in the other: bulk downloads (positive) vs small fetches (negative)
     from the same server and port, captured with dumpcap; joy
     classify_features=1 -> joy-train (both interpreters) -> joy classify=1
     model=... on the capture: held-out ROC AUC of the meter's p_malware
     >= 0.95.  The namespaces are removed at the end, also on failure.
Last line: "N passed, N failed, N skipped"; exit 1 on failure.
"""
import glob
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
JOY = os.environ.get("JOY", os.path.join(REPO, "joy"))
SHARED = os.path.join(os.path.dirname(REPO), "shared", "pcaps")
TRAIN = os.path.join(REPO, "saltUI", "joy-train")
sys.path.insert(0, os.path.join(REPO, "saltUI"))
from joytrain import features as F  # noqa: E402
from joytrain import model as jtm  # noqa: E402

passed = failed = skipped = 0


def ok(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what)


def skip(what, why):
    global skipped
    skipped += 1
    print("SKIP %s: %s" % (what, why))


def joy(args, **kw):
    return subprocess.run([JOY] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def records(text):
    out = []
    for line in text.splitlines():
        d = json.loads(line)
        if "sa" in d and "pr" in d:
            out.append(d)
    return out


def sklearn_python():
    py = "/usr/bin/python3"
    if os.path.exists(py) and subprocess.run(
            [py, "-c", "import sklearn, numpy"], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL).returncode == 0:
        return py
    return None


def run_train(py, args):
    p = subprocess.run([py, TRAIN, "--joy", JOY] + args, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=300)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


# ---------------------------------------------------------------------------
def check_definition():
    doc = open(os.path.join(REPO, "doc", "modules", "classify.md")).read()
    m = re.search(r"<!-- feature-definition -->\n```text\n(.*?)```\n", doc, re.S)
    ok(m is not None, "doc/modules/classify.md has the fenced feature definition")
    if not m:
        return
    h = hashlib.sha256(m.group(1).encode()).hexdigest()
    hdr = open(os.path.join(REPO, "src", "modules", "classify.h")).read()
    ok('#define CLF_DEF_SHA256 "%s"' % h in hdr, "classify.h CLF_DEF_SHA256 == sha256(definition) %s" % h)
    ok(F.DEF_SHA256 == h, "features.py DEF_SHA256 == sha256(definition) %s" % h)
    ok(len(F.feature_names()) == 463 and F.feature_names()[207] == "bd_0", "feature names")


def good_model_text(n=207, dist=False):
    m = jtm.Model()
    m.name, m.version = "t", "1"
    m.feature_set = "joy-splt-bd-v1" if n == 463 else "joy-splt-v1"
    m.n = n
    rnd = random.Random(1)
    m.mean = [rnd.uniform(-1, 1) for _ in range(n)]
    m.std = [rnd.uniform(0.5, 2) for _ in range(n)]
    m.weight = [rnd.uniform(-1, 1) for _ in range(n)]
    return m.text()


def check_errors(d):
    sample = os.path.join(HERE, "data", "sample.pcap")
    good = good_model_text()
    cases = []

    def case(name, text, want, extra=()):
        path = os.path.join(d, name)
        with open(path, "w") as f:
            f.write(text)
        cases.append((path, want, list(extra)))

    lines = good.split("\n")
    case("magic.model", "joy-modle 1\n" + "\n".join(lines[1:]), "magic.model:1: not a joy-model")
    case("hash.model", good.replace(F.DEF_SHA256, "0" * 64), "hash.model:5: the model was made for another")
    idx = next(i for i, l in enumerate(lines) if l.startswith("feature len_0_0"))
    bad = list(lines)
    bad[idx] = bad[idx].replace("len_0_0", "len_0_1")
    case("name.model", "\n".join(bad), "name.model:%d: feature 7 must be 'len_0_0'" % (idx + 1))
    last = max(i for i, l in enumerate(lines) if l.startswith("feature "))
    short = [l for i, l in enumerate(lines) if i != last]
    case("short.model", "\n".join(short), "206 feature lines, the set has 207")
    bad = list(lines)
    bad[idx] = bad[idx].rsplit(" ", 1)[0] + " 0x1p3"
    case("num.model", "\n".join(bad), "num.model:%d: expected 'feature NAME" % (idx + 1))
    case("bdset.model", good_model_text(463), "needs dist=1 and dist_bytes=4000")
    case("trunc.model", good.rsplit("end", 1)[0], "end of file before the 'end' line")
    for path, want, extra in cases:
        p = joy(["bidir=1", "classify=1", "model=" + path, "-r", sample] + extra)
        err = p.stderr.decode()
        ok(p.returncode == 2 and want in err, "%s: exit %d, want %r in %r" % (
            os.path.basename(path), p.returncode, want, err.strip()[-300:]))
    # Joy's pair of the wrong length
    s = os.path.join(d, "splt.txt")
    b = os.path.join(d, "bd.txt")
    with open(s, "w") as f:
        f.write("\n".join("%.18e" % 0.5 for _ in range(207)) + "\n")
    with open(b, "w") as f:
        f.write("\n".join("%.18e" % 0.5 for _ in range(464)) + "\n")
    p = joy(["classify=1", "model=%s:%s" % (s, b), "-r", sample])
    ok(p.returncode == 2 and "splt.txt:208: 207 numbers, Joy's SPLT file has 208" in p.stderr.decode(),
       "short Joy SPLT file: %r" % p.stderr.decode()[-200:])
    p = joy(["classify=1", "-r", sample])
    ok(p.returncode == 2 and "classify=1 needs model=FILE" in p.stderr.decode(), "classify=1 without model")
    p = joy(["classify=1", "model=" + os.path.join(d, "nonexistent"), "-r", sample])
    ok(p.returncode == 2 and "nonexistent: No such file" in p.stderr.decode(), "missing model file")
    # the Python loader refuses the same files
    for path, want, _ in cases[:-2]:
        try:
            jtm.load(path)
            ok(False, "joytrain loads bad %s" % path)
        except jtm.ModelError:
            ok(True, "")


# ---------------------------------------------------------------------------
def joy_pair(d):
    rnd = random.Random(7)
    s = os.path.join(d, "joy_splt.txt")
    b = os.path.join(d, "joy_bd.txt")
    # small weights for the counters so that scores spread over (0, 1)
    def vals(n):
        v = [rnd.uniform(-1, 1)]
        v += [rnd.uniform(-1e-4, 1e-4) for _ in range(7)]
        v += [rnd.uniform(-2, 2) for _ in range(n - 8)]
        return v
    with open(s, "w") as f:
        f.write("\n".join("%.18e" % v for v in vals(208)) + "\n")
    with open(b, "w") as f:
        f.write("\n".join("%.18e" % v for v in vals(464)) + "\n")
    return "%s:%s" % (s, b)


def check_equality(d, captures, model_path, label, opts):
    """joy classify=1 on every capture; joy-train --score on its output."""
    all_out = os.path.join(d, "eq-%s.json" % label)
    n_rec = 0
    worst_x = 0
    bad_x = 0
    with open(all_out, "w") as out:
        for cap in captures:
            p = joy(opts + ["classify=1", "classify_features=1", "model=" + model_path, "-r", cap])
            # 1: a damaged or unsupported capture (the flows read so far are kept)
            if p.returncode not in (0, 1):
                ok(False, "%s: joy exit %d: %s" % (cap, p.returncode, p.stderr.decode()[-300:]))
                continue
            for r in records(p.stdout.decode()):
                x = F.vector(r)
                cx = r.get("clf", {}).get("x", [])
                if cx != x[:len(cx)] or len(cx) not in (207, 463):
                    bad_x += 1
                    if bad_x <= 3:
                        print("  clf differs:", cap, [(i, a, b) for i, (a, b) in
                                                      enumerate(zip(cx, x)) if a != b][:5])
                out.write(json.dumps(r) + "\n")
                n_rec += 1
    ok(bad_x == 0, "%s: meter's clf vector == features.vector() on %d records (%d differ)" % (
        label, n_rec, bad_x))
    rc, so, se = run_train(sys.executable, ["--score", model_path, all_out])
    recs = records(open(all_out).read())
    lines = so.splitlines()
    ok(rc == 0 and len(lines) == len(recs), "%s: --score printed %d lines for %d records (%s)" % (
        label, len(lines), len(recs), se.strip()[-200:]))
    diff = 0.0
    for r, line in zip(recs, lines):
        diff = max(diff, abs(r["p_malware"] - float(line.split()[-1])))
    ok(diff <= 1e-9 and recs, "%s: |p_malware - joy-train --score| <= 1e-9 (max %g over %d records)" % (
        label, diff, len(recs)))
    print("equality %s: %d records from %d captures, max |p_malware - score| = %g" % (
        label, len(recs), len(captures), diff))
    return diff


def check_generated_and_shared(d):
    gen = os.path.join(d, "gen")
    os.makedirs(gen)
    subprocess.run([sys.executable, os.path.join(HERE, "gen_pcaps.py"), gen], check=True,
                   stdout=subprocess.DEVNULL)
    gcaps = sorted(glob.glob(os.path.join(gen, "*.pcap*")))
    # a model trained on the generated captures: TCP flows vs the rest
    out = []
    for c in gcaps:
        p = joy(["bidir=1", "dist=1", "-r", c])
        out += records(p.stdout.decode())
    pos = [r for r in out if r["pr"] == 6]
    neg = [r for r in out if r["pr"] != 6]
    m = jtm.train(pos, neg, solver="stdlib", name="gen")
    mpath = os.path.join(d, "gen.model")
    m.save(mpath)
    ok(jtm.load(mpath).text() == m.text(), "saved model reads back identically")
    pair = joy_pair(d)
    caps = list(gcaps)
    if os.path.isdir(SHARED):
        caps += sorted(glob.glob(os.path.join(SHARED, "*.pcap*")) + glob.glob(os.path.join(SHARED, "*.cap")))
    else:
        skip("../shared/pcaps", "absent; equality checked on the generated captures only")
    worst = 0.0
    worst = max(worst, check_equality(d, caps, mpath, "joy-model", ["bidir=1", "dist=1"]))
    worst = max(worst, check_equality(d, caps, pair, "joy-pair", ["bidir=1", "dist=1"]))
    worst = max(worst, check_equality(d, gcaps, pair, "joy-pair-unidir",
                                      ["bidir=0", "dist=1", "num_pkts=200"]))
    # a model on joy-splt-v1 without dist
    m2 = jtm.train(pos, neg, solver="stdlib", name="gen-splt", feature_set="joy-splt-v1")
    m2path = os.path.join(d, "gen-splt.model")
    m2.save(m2path)
    worst = max(worst, check_equality(d, gcaps, m2path, "joy-splt-v1", ["bidir=1", "zeros=1"]))
    return worst


# ---------------------------------------------------------------------------
def have(t):
    return shutil.which(t) is not None


def live(d):
    need = ("ip", "curl", "dumpcap")
    if os.geteuid() != 0 or not all(have(t) for t in need):
        skip("live bulk vs small HTTP in network namespaces", "needs root, ip, curl and dumpcap")
        return
    tag = "jclf%d" % (os.getpid() % 100000)
    ns_s, ns_c = tag + "s", tag + "c"
    vs, vc = tag[:12] + "s", tag[:12] + "c"
    procs = []

    def run(*a):
        return subprocess.run(list(a), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=30).returncode

    if run("ip", "netns", "add", ns_s) != 0:
        skip("live bulk vs small HTTP", "cannot create a network namespace (ip netns add)")
        return
    try:
        run("ip", "netns", "add", ns_c)
        run("ip", "link", "add", vs, "type", "veth", "peer", "name", vc)
        run("ip", "link", "set", vs, "netns", ns_s)
        run("ip", "link", "set", vc, "netns", ns_c)
        run("ip", "netns", "exec", ns_s, "ip", "addr", "add", "10.77.0.1/24", "dev", vs)
        for a in ("10.77.0.11", "10.77.0.12", "10.77.0.13", "10.77.0.14"):
            run("ip", "netns", "exec", ns_c, "ip", "addr", "add", a + "/24", "dev", vc)
        for ns, v in ((ns_s, vs), (ns_c, vc)):
            run("ip", "netns", "exec", ns, "ip", "link", "set", v, "up")
            run("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        www = os.path.join(d, "www")
        os.makedirs(www)
        rnd = random.Random(3)
        for i in range(20):
            with open(os.path.join(www, "big%d.bin" % i), "wb") as f:
                f.write(bytes(rnd.getrandbits(8) for _ in range(rnd.randint(150000, 900000))))
            with open(os.path.join(www, "small%d.bin" % i), "wb") as f:
                f.write(bytes(rnd.getrandbits(8) for _ in range(rnd.randint(300, 6000))))
        srv = subprocess.Popen(["ip", "netns", "exec", ns_s, sys.executable, "-m", "http.server",
                                "8000", "--bind", "10.77.0.1", "--directory", www],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(srv)
        for _ in range(50):
            if run("ip", "netns", "exec", ns_c, "curl", "-s", "-o", "/dev/null",
                   "http://10.77.0.1:8000/small0.bin") == 0:
                break
            time.sleep(0.1)
        pcap = os.path.join(d, "live.pcap")
        cap = subprocess.Popen(["ip", "netns", "exec", ns_s, "dumpcap", "-q", "-i", vs, "-f",
                                "tcp port 8000", "-w", pcap, "-a", "duration:120"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(cap)
        for _ in range(50):
            if os.path.exists(pcap) and os.path.getsize(pcap) > 0:
                break
            time.sleep(0.1)
        time.sleep(0.5)
        # classes interleaved in time; source address = (class, train/test)
        jobs = [("big", "10.77.0.11")] * 40 + [("big", "10.77.0.12")] * 40 + \
               [("small", "10.77.0.13")] * 40 + [("small", "10.77.0.14")] * 40
        rnd.shuffle(jobs)
        t0 = time.time()
        # Every fetch takes its source port from one shared random range: the
        # kernel's own choice depends on the source address, and sp is a
        # feature, so per-address port ranges would let a model tell the
        # train and test addresses apart instead of the classes.
        for kind, src in jobs:
            url = "http://10.77.0.1:8000/%s%d.bin" % (kind, rnd.randrange(20))
            for _ in range(5):
                port = str(rnd.randrange(20000, 60000))
                if run("ip", "netns", "exec", ns_c, "curl", "-s", "-o", "/dev/null", "--interface",
                       src, "--local-port", port, url) == 0:
                    break
        print("live: %d curl fetches in %.1f s" % (len(jobs), time.time() - t0))
        time.sleep(1.0)
        cap.send_signal(signal.SIGINT)
        cap.wait(timeout=10)
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        run("ip", "netns", "del", ns_s)
        run("ip", "netns", "del", ns_c)
    ok(not os.path.exists("/var/run/netns/" + ns_s) and not os.path.exists("/var/run/netns/" + ns_c),
       "network namespaces removed")
    p = joy(["bidir=1", "dist=1", "classify_features=1", "-r", pcap])
    recs = [r for r in records(p.stdout.decode()) if r.get("dp") == 8000]
    split = {}
    for r in recs:
        split.setdefault(r["sa"], []).append(r)
    counts = {a: len(v) for a, v in split.items()}
    ok(all(counts.get(a, 0) >= 38 for a in ("10.77.0.11", "10.77.0.12", "10.77.0.13", "10.77.0.14")),
       "live capture has the flows of every class and phase: %s" % counts)
    files = {}
    for a, name in (("10.77.0.11", "pos-train"), ("10.77.0.12", "pos-test"),
                    ("10.77.0.13", "neg-train"), ("10.77.0.14", "neg-test")):
        files[name] = os.path.join(d, name + ".json")
        with open(files[name], "w") as f:
            for r in split.get(a, []):
                f.write(json.dumps(r) + "\n")
    runs = []
    skpy = sklearn_python()
    if skpy:
        runs.append((skpy, "sklearn"))
    else:
        skip("joy-train with scikit-learn", "/usr/bin/python3 cannot import sklearn "
             "(apt-get install python3-sklearn)")
    runs.append((sys.executable, None))
    for py, want in runs:
        mpath = os.path.join(d, "live-%s.model" % (want or "default"))
        rc, so, se = run_train(py, ["-p", files["pos-train"], "-n", files["neg-train"], "-o", mpath,
                                    "--cv", "4", "--test-pos", files["pos-test"],
                                    "--test-neg", files["neg-test"], "--positive-label", "bulk"])
        ok(rc == 0, "joy-train (%s) exit %d: %s" % (py, rc, se[-300:]))
        if rc:
            continue
        solver = re.search(r"solver (\S+)", se)
        solver = solver.group(1) if solver else "?"
        if want:
            ok(solver.startswith("sklearn"), "%s used sklearn (%s)" % (py, solver))
        else:
            try:
                import sklearn  # noqa: F401
                has_sk = True
            except ImportError:
                has_sk = False
            ok(solver.startswith("sklearn") == has_sk, "%s solver %s" % (py, solver))
        m = re.search(r"held-out test: ROC AUC ([0-9.]+)", so)
        ok(m and float(m.group(1)) >= 0.95, "joy-train held-out AUC (%s): %s" % (solver, so.strip()))
        # the meter on the capture: held-out flows scored by classify=1
        p = joy(["bidir=1", "dist=1", "classify=1", "model=" + mpath, "-r", pcap])
        scored = [r for r in records(p.stdout.decode()) if r.get("dp") == 8000]
        ps = [r["p_malware"] for r in scored if r["sa"] == "10.77.0.12"]
        ns = [r["p_malware"] for r in scored if r["sa"] == "10.77.0.14"]
        rep = jtm.report(ps, ns, 0.5)
        print("live %s: meter held-out %s" % (solver, jtm.format_report(rep, "p_malware").replace("\n", ";")))
        ok(rep["auc"] >= 0.95, "meter's held-out ROC AUC >= 0.95 (%s): %.4f" % (solver, rep["auc"]))
        ok(all(r.get("classifier", {}).get("model") == "live-%s" % (want or "default") for r in scored),
           "classifier.model names the model")
        check_equality(d, [pcap], mpath, "live-" + solver, ["bidir=1", "dist=1"])


def main():
    d = tempfile.mkdtemp(prefix="t-classify-")
    t0 = time.time()
    try:
        check_definition()
        check_errors(d)
        check_generated_and_shared(d)
        live(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    print("test_classify: %.1f s" % (time.time() - t0))
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Frozen records: the records joy writes must not change by accident.

Refactoring (the libjoy re-layout, the module interface, the cursor
port) must leave every record byte for byte as it was.  This test runs
joy with a set of option sets that together switch on every module and
every core option the other tests use, over

  - every capture in ../shared/pcaps (skipped, with a message, when the
    checkout has no ../shared beside it),
  - every capture test/gen_pcaps.py generates, and
  - test/data/sample.pcap,

and compares a SHA-256 of each run's records (every line after the
metadata line) and its exit status with test/frozen/records.sha256.

When a change to the records is intended, regenerate the file and commit
it with the change, saying why in the commit message:

    JOY=./joy python3 test/test_frozen_records.py --update

The metadata line is left out of the hash: it names the inputs (paths
differ between checkouts) and will change shape on purpose.

Interpreter: any Python 3 (standard library only).
"""
import hashlib
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "pcaps")
FROZEN = os.path.join(HERE, "frozen", "records.sha256")
JOY = os.path.abspath(os.environ.get("JOY", os.path.join(ROOT, "joy")))
INTERNAL_NET = os.path.join(ROOT, "share", "share/internal.net")
if not os.path.exists(INTERNAL_NET):
    INTERNAL_NET = os.path.join(ROOT, "share/internal.net")

FOREVER = "inactive_timeout=315360000 active_timeout=315360000"
FULL = ("bidir=1 dist=1 entropy=1 tls=1 dns=1 http=1 ssh=1 dhcp=1 ike=1 idp=1400 "
        "payload=1 wht=1 salt=1 ppi=1 fpx=1")

# name -> options (ANON and KEY are replaced by paths made at run time)
OPTION_SETS = [
    ("default", ""),
    ("unidir", "bidir=0"),
    ("zeros-retrans", "zeros=1 retrans=1 num_pkts=200"),
    ("intraflow", "dist=1 entropy=1 cdist=default wht=1 hd=8 idp=64 payload=1 salt=1 ppi=1 fpx=1"),
    ("app", "tls=1 quic=1 fpx=1 dns=1 http=1 ssh=1 dhcp=1 ike=1"),
    ("full", FULL + " quic=1 hd=4 cdist=default"),
    ("full-unidir", FULL.replace("bidir=1", "bidir=0") + " " + FOREVER),
    ("short-timeouts", "inactive_timeout=1 active_timeout=2 tls=1 dns=1 http=1 max_flows=5"),
    ("npkts0", "num_pkts=0 fpx=1 tls=1 salt=1 ppi=1 os=0 community_id=0"),
    ("dtls-only", "dtls=1 quic=1 dhcpv6=1 dist_bytes=0 dist=1 idp=1500"),
    ("anon-label", "anon=ANON anon_key=KEY label=internal:ANON http=1 dns=1 tls=1 dhcp=1 "
                   "ike=1 fpx=1 useranon=USERS useranon_key=KEY"),
]


def captures(gen_dir):
    out = [("sample", os.path.join(ROOT, "test", "data", "sample.pcap"))]
    for n in sorted(os.listdir(gen_dir)):
        p = os.path.join(gen_dir, n)
        if os.path.isfile(p):
            out.append(("gen/" + n, p))
    if os.path.isdir(SHARED):
        for n in sorted(os.listdir(SHARED)):
            if n.endswith((".pcap", ".pcapng", ".cap")):
                out.append(("shared/" + n, os.path.join(SHARED, n)))
    return out


def run_one(args, cap, cwd):
    p = subprocess.run([JOY, "-q"] + args + ["-w", "-", cap], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, cwd=cwd, timeout=120)
    body = p.stdout.split(b"\n", 1)
    rest = body[1] if len(body) > 1 else b""
    return p.returncode, hashlib.sha256(rest).hexdigest(), rest.count(b"\n")


def main():
    update = "--update" in sys.argv
    with tempfile.TemporaryDirectory(prefix="joy-frozen-") as tmp:
        gen = os.path.join(tmp, "gen")
        os.mkdir(gen)
        subprocess.run([sys.executable, os.path.join(HERE, "gen_pcaps.py"), gen], check=True,
                       stdout=subprocess.DEVNULL)
        key = os.path.join(tmp, "k.hex")
        with open(key, "w") as f:
            f.write(bytes(range(32)).hex() + "\n")
        users = os.path.join(tmp, "users.txt")
        with open(users, "w") as f:
            f.write("alice\nbob\nadmin\n")
        caps = captures(gen)
        results = {}
        for name, opts in OPTION_SETS:
            args = opts.replace("ANON", INTERNAL_NET).replace("KEY", key) \
                       .replace("USERS", users).split()
            for cname, cap in caps:
                rc, digest, n = run_one(args, cap, tmp)
                results["%s %s" % (name, cname)] = "%d %d %s" % (rc, n, digest)

    if update:
        os.makedirs(os.path.dirname(FROZEN), exist_ok=True)
        old = load()
        old.update(results)
        with open(FROZEN, "w") as f:
            f.write("# option-set capture exit-status records sha256(records)\n")
            f.write("# regenerate: JOY=./joy python3 test/test_frozen_records.py --update\n")
            for k in sorted(old):
                f.write("%s %s\n" % (k, old[k]))
        print("wrote %d entries to %s" % (len(old), FROZEN))
        print("0 passed, 0 failed")
        return 0

    frozen = load()
    passed = failed = skipped = 0
    for k in sorted(results):
        if k not in frozen:
            print("NEW  %s: not in %s (run with --update)" % (k, FROZEN))
            failed += 1
        elif frozen[k] != results[k]:
            print("FAIL %s: frozen %s, now %s" % (k, frozen[k], results[k]))
            failed += 1
        else:
            passed += 1
    if not os.path.isdir(SHARED):
        n_shared = sum(1 for k in frozen if " shared/" in k)
        print("SKIP %d frozen runs over ../shared/pcaps: no ../shared beside this checkout"
              % n_shared)
        skipped += n_shared
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return 1 if failed else 0


def load():
    out = {}
    if not os.path.exists(FROZEN):
        return out
    with open(FROZEN) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            parts = line.split()
            out[parts[0] + " " + parts[1]] = " ".join(parts[2:])
    return out


if __name__ == "__main__":
    sys.exit(main())

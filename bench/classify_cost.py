#!/usr/bin/env python3
"""Instruction count of classify=1 on top of the full feature set (callgrind).

  bench/classify_cost.py [--pcap bench/mix.pcap] [--model test/data/classify.model ...]
                         [--joy ./joy] [--plain]

Runs joy under `valgrind --tool=callgrind` on the capture, with the full
feature set (bidir dist entropy tls dns http ssh dhcp ike idp=1400 payload
wht salt ppi fpx), writing gzip output (ISA-L when built with it) to a
temporary file -- once without the classifier and once per --model with
`classify=1 model=MODEL` (default: test/data/classify.model, feature set
joy-splt-v1, and a joy-splt-bd-v1 model made from it with the 256 byte
distribution features added) -- and prints the instructions executed (all
threads, joy and its libraries) and the growth in per cent.  Instruction
counts do not depend on the load of the machine: two runs of the same build
on the same capture agree to within 0.01% (the writer thread's timing moves
a few hundred thousand instructions), so this is the number to quote on the
shared machines, where CPU times vary by more than the classifier costs.
Instructions are not time (the classifier's floating point may run at
another rate per instruction than the rest), but they are what can be
compared run to run here.  --plain writes uncompressed JSON instead.
A bd model (feature set joy-splt-bd-v1) needs dist=1 dist_bytes=4000, which
the full feature set has.  About two minutes per run on mix.pcap; needs
valgrind (Debian `valgrind`).
Interpreter: any Python 3 (standard library only).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FULL = ["bidir=1", "dist=1", "entropy=1", "tls=1", "dns=1", "http=1", "ssh=1", "dhcp=1",
        "ike=1", "idp=1400", "payload=1", "wht=1", "salt=1", "ppi=1", "fpx=1"]


def instructions(joy, pcap, opts, tmp, plain):
    out = os.path.join(tmp, "out.json" if plain else "out.json.gz")
    cmd = ["valgrind", "--tool=callgrind",
           "--callgrind-out-file=" + os.path.join(tmp, "callgrind.out"),
           joy] + FULL + opts + ["progress=0", "-r", pcap, "-w", out]
    run = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if run.returncode != 0:
        sys.exit("classify_cost: %s failed:\n%s" % (" ".join(cmd), run.stderr[-2000:]))
    found = re.search(r"Collected : (\d+)", run.stderr) or \
        re.search(r"I\s+refs:\s+([\d,]+)", run.stderr)
    if not found:
        sys.exit("classify_cost: no instruction count in callgrind's output")
    return int(found.group(1).replace(",", "")), " ".join(cmd[3:])


def bd_model(splt_model, path):
    """A joy-splt-bd-v1 model made from a joy-splt-v1 one: its lines, and the 256
    byte-distribution features with small made-up weights (the cost of scoring does
    not depend on the weights)."""
    with open(splt_model) as handle:
        lines = handle.read().splitlines()
    out = []
    for line in lines:
        if line.startswith("features joy-splt-v1 "):
            line = line.replace("joy-splt-v1", "joy-splt-bd-v1", 1)
        elif line.startswith("name "):
            line = "name bench-bd"
        elif line.strip() == "end":
            out += ["feature bd_%d 0.004 0.01 %r" % (v, 0.01 * ((v % 7) - 3))
                    for v in range(256)]
        out.append(line)
    with open(path, "w") as handle:
        handle.write("\n".join(out) + "\n")
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--pcap", default=os.path.join(HERE, "mix.pcap"))
    ap.add_argument("--joy", default=os.path.join(ROOT, "joy"))
    ap.add_argument("--model", action="append",
                    help="model file (repeatable; default: test/data/classify.model, a "
                         "joy-splt-v1 model, and a joy-splt-bd-v1 model made from it)")
    ap.add_argument("--plain", action="store_true", help="uncompressed JSON output")
    a = ap.parse_args()
    if not shutil.which("valgrind"):
        sys.exit("classify_cost: valgrind is not installed (apt-get install valgrind)")
    if not os.path.exists(a.pcap):
        sys.exit("classify_cost: %s is absent (bench/bench.py builds bench/mix.pcap from "
                 "../shared/bench; or give --pcap FILE)" % a.pcap)
    tmp = tempfile.mkdtemp(prefix="joy-classify-cost-")
    try:
        models = a.model
        if not models:
            splt = os.path.join(ROOT, "test", "data", "classify.model")
            models = [splt, bd_model(splt, os.path.join(tmp, "bench-bd.model"))]
        base, cmd = instructions(a.joy, a.pcap, [], tmp, a.plain)
        print("without classifier: %15s instructions   (%s)" % ("{:,}".format(base), cmd))
        for model in models:
            n, cmd = instructions(a.joy, a.pcap, ["classify=1", "model=" + model], tmp,
                                  a.plain)
            print("with %-14s %15s instructions   %+.2f%%" % (
                os.path.basename(model) + ":", "{:,}".format(n), 100.0 * (n - base) / base))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""One million flows open at once against the same flows one at a time.

  bench/flood_bench.py [--flows N] [--runs R] [--joy JOY] [--vs OTHER_JOY] [--] [joy options ...]

Writes two captures of N distinct one-packet TCP SYN flows with
bench/flood.py (cached in $TMPDIR as joy-flood-N-{open,seq}.pcap):
"open", 1 microsecond apart, so all N flows are in the table at once
(default max_flows is 1,000,000) until the final flush; and "seq", 11 s
apart, so each flow expires (inactive_timeout=10) before the next arrives
and the table holds one flow.  joy (and --vs) run on both alternately R
times (default 3); reported from the medians of CPU time (user + sys):
nanoseconds per packet for each and their ratio (open / seq), and peak RSS
with the bytes per open flow, (RSS open - RSS seq) / N.  The CPU model is
printed with every result.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from bench import cpu_model, timed  # noqa: E402


def capture(n, kind):
    path = os.path.join(tempfile.gettempdir(), "joy-flood-%d-%s.pcap" % (n, kind))
    if not os.path.exists(path):
        extra = [] if kind == "open" else ["--gap", "11"]
        with open(path + ".tmp", "wb") as f:
            subprocess.run([sys.executable, os.path.join(HERE, "flood.py"), str(n)] + extra,
                           stdout=f, check=True)
        os.rename(path + ".tmp", path)
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--flows", type=int, default=1000000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--joy", default=os.path.join(ROOT, "joy"))
    ap.add_argument("--vs", help="another joy binary to compare in the same runs")
    ap.add_argument("opts", nargs="*", help="joy options")
    a = ap.parse_args()
    n = a.flows
    caps = {k: capture(n, k) for k in ("open", "seq")}
    joys = [a.joy] + ([a.vs] if a.vs else [])
    cpu = {(j, k): [] for j in joys for k in caps}
    rss = {(j, k): [] for j in joys for k in caps}
    for _ in range(a.runs):
        for j in joys:
            for k, pcap in caps.items():
                t, r = timed([j, "-r", pcap, "-w", "/dev/null", "progress=0"] + a.opts)
                cpu[j, k].append(t)
                rss[j, k].append(r)
    print("cpu         %s" % cpu_model())
    print("input       %d one-packet SYN flows, open at once (1 us apart) / one at a time (11 s apart)" % n)
    print("joy options %s" % (" ".join(a.opts) or "(default record)"))
    for j in joys:
        o = statistics.median(cpu[j, "open"]) / n * 1e9
        s = statistics.median(cpu[j, "seq"]) / n * 1e9
        ro, rs = max(rss[j, "open"]) * 1024, max(rss[j, "seq"]) * 1024
        print("%s" % j)
        print("  open      %6.0f ns/packet  peak RSS %7.1f MB" % (o, ro / 1e6))
        print("  seq       %6.0f ns/packet  peak RSS %7.1f MB" % (s, rs / 1e6))
        print("  ratio     %.2fx the CPU per packet of one flow at a time (median of %d)" % (o / s, a.runs))
        print("  memory    %.0f bytes per open flow ((RSS open - RSS seq) / %d), %.0f bytes of peak RSS per flow"
              % ((ro - rs) / n, n, ro / n))


if __name__ == "__main__":
    main()

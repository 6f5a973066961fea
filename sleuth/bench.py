#!/usr/bin/env python3
"""Benchmark: --where + --select throughput of sleuth over synthetic joy records.

Usage:  python3 sleuth/bench.py [--records N] [--keep FILE] [--runs R] [-- extra sleuth args]

Generates N (default 1,000,000) joy-schema flow records (5-tuple, counters,
times, a 10-entry ``packets`` array, ``ip``, ``community_id``, ``expire_type``;
about 1 in 20 flows is split in two by an active timeout, so stitching has
work to do), writes them to a temporary JSON Lines file, then runs::

    sleuth FILE --where 'dp=443,bytes_out>100|pr=17' --select 'sa,da,sp,dp,bytes_out,packets[{b}]'

with its output going to /dev/null, R times (default 3), and reports records
per second of wall time for the best run, plus the CPU time used (sleuth is a
single process on one core).  It then does the same with ``--strict``, which
parses every line (no raw-line prefilter, see sleuth_pkg/prefilter.py).
``--keep FILE --reuse`` keeps the generated input and reuses it next time.
"""

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
QUERY = "dp=443,bytes_out>100|pr=17"
SELECT = "sa,da,sp,dp,bytes_out,packets[{b}]"


def make_record(rng, index, start):
    """One synthetic record in joy's key order."""
    pr = 6 if rng.random() < 0.8 else 17
    dp = rng.choice((443, 80, 53, 8080, 22, 123)) if pr == 6 else rng.choice((53, 443, 123))
    packets = []
    for _ in range(10):
        packets.append({"b": rng.randint(0, 1460), "dir": rng.choice(">>><"),
                        "ipt": rng.randint(0, 300)})
    end = start + rng.random() * 5
    out_pkts, in_pkts = rng.randint(1, 60), rng.randint(0, 60)
    return {
        "sa": "10.%d.%d.%d" % (index >> 16 & 255, index >> 8 & 255, index & 255),
        "da": "192.0.2.%d" % rng.randint(1, 254), "pr": pr,
        "sp": rng.randint(1024, 65535), "dp": dp,
        "bytes_out": rng.randint(0, 50000), "num_pkts_out": out_pkts,
        "bytes_in": rng.randint(0, 500000), "num_pkts_in": in_pkts,
        "time_start": round(start, 6), "time_end": round(end, 6),
        "packets": packets,
        "ip": {"out": {"ttl": 64, "id": [rng.randint(0, 65535) for _ in range(3)]},
               "in": {"ttl": 57, "id": [rng.randint(0, 65535) for _ in range(3)]}},
        "community_id": "1:%028x=" % rng.getrandbits(112),
        "expire_type": "i",
    }


def generate(path, count, seed=1):
    rng = random.Random(seed)
    encode = json.JSONEncoder(separators=(",", ":")).encode
    start = 1700000000.0
    written = 0
    with open(path, "w") as handle:
        handle.write(json.dumps({"version": "bench", "inactive_timeout": 10,
                                 "active_timeout": 30}) + "\n")
        while written < count:
            start += 0.0005
            record = make_record(rng, written, start)
            if written % 20 == 0 and written + 1 < count:
                # an active-timeout split: two records of the same flow
                first = dict(record, expire_type="a")
                second = dict(record, time_start=round(record["time_end"] + 0.5, 6),
                              time_end=round(record["time_end"] + 1.5, 6), expire_type="i")
                handle.write(encode(first) + "\n")
                handle.write(encode(second) + "\n")
                written += 2
            else:
                handle.write(encode(record) + "\n")
                written += 1
    return written


def run_once(path, extra):
    command = [sys.executable, os.path.join(HERE, "sleuth"), path, "--where", QUERY,
               "--select", SELECT] + extra
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    with open(os.devnull, "w") as sink:
        subprocess.run(command, stdout=sink, check=True)
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1000000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", metavar="FILE", help="write the input here and keep it")
    parser.add_argument("--reuse", action="store_true",
                        help="with --keep: use FILE as it is if it exists")
    parser.add_argument("extra", nargs="*", help="extra sleuth arguments (after --)")
    args = parser.parse_args()
    if args.keep:
        path = args.keep
    else:
        with tempfile.NamedTemporaryFile(prefix="sleuth-bench-", suffix=".jsonl",
                                         delete=False) as handle:
            path = handle.name
    try:
        if args.reuse and args.keep and os.path.exists(path):
            with open(path, "rb") as handle:
                count = sum(1 for _ in handle) - 1
            print("reusing %s: %d records" % (path, count))
        else:
            began = time.perf_counter()
            count = generate(path, args.records)
            print("generated %d records (%.1f MB) in %.1f s"
                  % (count, os.path.getsize(path) / 1e6, time.perf_counter() - began))
        print("python: %s %s" % (sys.executable, sys.version.split()[0]))
        for extra in (args.extra, args.extra + ["--strict"]):
            results = [run_once(path, extra) for _ in range(args.runs)]
            wall, cpu = min(results)
            print("sleuth FILE --where '%s' --select '%s' %s"
                  % (QUERY, SELECT, " ".join(extra)))
            print("  best of %d: %.2f s wall, %.2f s CPU, %d records/s (wall), "
                  "%d records/s (CPU)" % (args.runs, wall, cpu, count / wall, count / cpu))
    finally:
        if not args.keep and os.path.exists(path):
            os.unlink(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

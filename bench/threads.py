#!/usr/bin/env python3
"""Wall time of joy threads=1 against threads=N on one capture (offline).

  bench/threads.py [--runs N] [--pcap FILE] [--threads N] [--joy JOY] [--one-core]
                   [--ceiling]
                   [--] [joy options ...]

Default: bench/mix.pcap (built by ../shared/bench/make-mix.sh) with the
full option set (bidir dist entropy tls dns http ssh dhcp ike idp payload
wht salt ppi fpx), gzip output to a temporary file.  threads=1 and
threads=N run alternately (the machine is shared and noisy); the medians
of wall, user and sys time are printed with the CPU model, the load
average and the ratio wall(1) / wall(N), and for threads=N the median CPU
time of each thread, the time it stood waiting for another (the reader:
for room in a ring or a free chunk), how long the last worker ran on after
the reader had ended (alone on the machine), and how busy the CPUs were
((user + sys) / (wall x CPUs)); joy -vv prints the threads'
figures as the run ends: the reader, which is the main thread and so
includes the start-up, each worker, the writer.
The records of the last runs are compared (sorted) so a speed-up never
comes from writing something else.  The ratio is also given per round (a
threads=1 run and the threads=N run beside it), with its quartiles: on a
VM whose cores change speed from run to run, that spread is the noise.
--ceiling adds, each round, N threads=1 runs at the same time (each its
own output): N x wall(threads=1 alone) / wall(the slowest of them) is the
most any threads=N could gain at that hour on this machine (N meters with
nothing to pass between them), so the ratio can be read against what the
cores themselves allow; a VM's cores may slow each other down (shared
caches, memory, the host's other guests).
--one-core adds a threads=N run with every thread on one CPU each round:
its CPU time against threads=1's is what the threads cost apart from the
cores passing packets to each other.  Each run writes a new file: the
previous run's output is removed before the clock starts, as a sensor
writes new files; renaming over an existing file makes ext4 write the new
file's blocks out at the rename (auto_da_alloc), 20-30 ms on mix.pcap's
31 MB that belong to the file system, the same for both modes.
"""
import argparse
import gzip
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FULL = ("bidir=1 dist=1 entropy=1 tls=1 dns=1 http=1 ssh=1 dhcp=1 ike=1 idp=1400 payload=1 "
        "wht=1 salt=1 ppi=1 fpx=1").split()


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


THREAD_CPU = re.compile(r"joy: (reader thread|worker \d+|writer thread): ([0-9.]+) s CPU")
THREAD_LINE = re.compile(r"joy: (reader thread|worker \d+): (.*)")
WAITED = re.compile(r"waited ([0-9.]+) ms")
CHUNK_WAIT = re.compile(r"joy: chunks: .* waits for one \(([0-9.]+) ms\)")
ENDED = re.compile(r"ended ([-+0-9.]+) ms after the reader")


def run(joy, pcap, out, opts, threads, cpu=None):
    """wall, user, sys and (threads > 1) {thread: CPU seconds} and {thread:
    ms it waited for another}; cpu: run every thread on that one CPU"""
    rfd, wfd = os.pipe()
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        os.dup2(wfd, 2)
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})
        os.execv(joy, [joy, "-vv" if threads > 1 else "-q", "-w", out] + opts + [pcap])
    os.close(wfd)
    with os.fdopen(rfd, "r", errors="replace") as f:
        err = f.read()
    _, status, ru = os.wait4(pid, 0)
    wall = time.monotonic() - t0
    if os.WEXITSTATUS(status) != 0:
        sys.exit("bench: joy exited with %d: %s" % (os.WEXITSTATUS(status), err[-400:]))
    waited = dict((m.group(1), sum(float(x) for x in WAITED.findall(m.group(2))))
                  for m in THREAD_LINE.finditer(err))
    m = CHUNK_WAIT.search(err)            # the reader, for a free chunk of the pool
    if m and "reader thread" in waited:
        waited["reader thread"] += float(m.group(1))
    ends = [float(x) for x in ENDED.findall(err)]
    return wall, ru.ru_utime, ru.ru_stime, dict((m.group(1), float(m.group(2)))
                                               for m in THREAD_CPU.finditer(err)), waited, \
        max(ends) if ends else None


def run_together(joy, pcap, outs, opts):
    """len(outs) threads=1 runs started at once; the wall time of the
    slowest (each writes its own file, removed first as in run())"""
    t0 = time.monotonic()
    pids = []
    for out in outs:
        if os.path.exists(out):
            os.unlink(out)
        pids.append(subprocess.Popen([joy, "-q", "-w", out] + opts + ["threads=1", pcap]))
    for p in pids:
        if p.wait() != 0:
            sys.exit("bench: joy exited with %d (--ceiling)" % p.returncode)
    wall = time.monotonic() - t0
    for out in outs:
        os.unlink(out)
    return wall


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pcap")
    ap.add_argument("--joy", default=os.path.join(ROOT, "joy"))
    ap.add_argument("--one-core", action="store_true",
                    help="also run threads=N with every thread on one CPU: its CPU time "
                         "against threads=1 is what the threads cost apart from the cores "
                         "passing data to each other")
    ap.add_argument("--ceiling", action="store_true",
                    help="also run N threads=1 jobs at once each round: what the machine's "
                         "cores allow N meters to gain at that hour")
    ap.add_argument("opts", nargs="*")
    a = ap.parse_args()
    pcap = a.pcap
    if not pcap:
        for p in (os.path.join(HERE, "mix.pcap"),):
            if os.path.exists(p):
                pcap = p
                break
    if not pcap:
        sys.exit("bench: no capture (give --pcap)")
    opts = a.opts or FULL
    tmp = tempfile.mkdtemp(prefix="joy-bench-")
    outs = {1: os.path.join(tmp, "t1.json.gz"), a.threads: os.path.join(tmp, "tn.json.gz")}
    res = {1: [], a.threads: []}
    pinned = []
    together = []
    one_cpu = min(os.sched_getaffinity(0))
    with open(pcap, "rb") as f:          # warm the page cache
        while f.read(1 << 24):
            pass
    for i in range(a.runs):
        for t in (1, a.threads) if i % 2 == 0 else (a.threads, 1):
            if os.path.exists(outs[t]):  # a new file each run, as a sensor writes (see above)
                os.unlink(outs[t])
            res[t].append(run(a.joy, pcap, outs[t], opts + ["threads=%d" % t], t))
        if a.ceiling:
            together.append(run_together(a.joy, pcap, [os.path.join(tmp, "c%d.json.gz" % k)
                                                        for k in range(a.threads)],
                                         opts))
        if a.one_core:
            os.unlink(outs[a.threads])
            pinned.append(run(a.joy, pcap, outs[a.threads], opts + ["threads=%d" % a.threads],
                              a.threads, one_cpu))
    recs = []
    for t in (1, a.threads):
        with gzip.open(outs[t], "rb") as f:
            recs.append(sorted(f.read().splitlines()[1:]))
        os.unlink(outs[t])
    os.rmdir(tmp)
    print("CPU: %s, %d online; load average %.2f at the end" % (cpu_model(), os.cpu_count(),
                                                                os.getloadavg()[0]))
    print("capture: %s (%.0f MB); options: %s" % (pcap, os.path.getsize(pcap) / 1e6, " ".join(opts)))
    med = {}
    for t in (1, a.threads):
        w = statistics.median(r[0] for r in res[t])
        u = statistics.median(r[1] for r in res[t])
        s = statistics.median(r[2] for r in res[t])
        med[t] = w
        print("threads=%-2d wall %.3f s  user %.3f s  sys %.3f s  (median of %d; walls %s)" %
              (t, w, u, s, a.runs, " ".join("%.2f" % r[0] for r in res[t])))
    names = sorted(set(k for r in res[a.threads] for k in r[3]),
                   key=lambda k: (k != "reader thread", k == "writer thread", k))
    if names:
        print("threads=%d CPU per thread (median): %s" % (a.threads, ", ".join(
            "%s %.3f s" % (k, statistics.median(r[3].get(k, 0.0) for r in res[a.threads]))
            for k in names)))
        waits = sorted(set(k for r in res[a.threads] for k in r[4]),
                       key=lambda k: (k != "reader thread", k.startswith("last"), k))
        busy = statistics.median((r[1] + r[2]) / (r[0] * min(a.threads, os.cpu_count() or 1))
                                 for r in res[a.threads])
        print("threads=%d waiting for another thread (median): %s; the CPUs busy %.0f%% of the "
              "wall time ((user + sys) / (wall x CPUs used))" % (a.threads, ", ".join(
                  "%s %.1f ms" % (k, statistics.median(r[4].get(k, 0.0) for r in res[a.threads]))
                  for k in waits) or "none reported", 100 * busy))
        ends = [r[5] for r in res[a.threads] if r[5] is not None]
        if ends:
            print("threads=%d the last worker ended %+.1f ms after the reader (median; "
                  "the reader's core idle meanwhile)" % (a.threads, statistics.median(ends)))
    if pinned:
        cpu1 = statistics.median(r[1] + r[2] for r in res[1])
        cpup = statistics.median(r[1] + r[2] for r in pinned)
        cpun = statistics.median(r[1] + r[2] for r in res[a.threads])
        print("CPU (user + sys, median): threads=1 %.3f s; threads=%d on one CPU %.3f s (%+.1f%%); "
              "on all %.3f s (%+.1f%%)" % (cpu1, a.threads, cpup, 100 * (cpup / cpu1 - 1), cpun,
                                           100 * (cpun / cpu1 - 1)))
    # the runs alternate, so each round's two runs saw the machine in about
    # the same state: the spread of the rounds' ratios shows the noise
    q = statistics.quantiles([x[0] / y[0] for x, y in zip(res[1], res[a.threads])], n=4) \
        if a.runs >= 2 else [0, 0, 0]
    print("speed-up wall(1)/wall(%d) = %.2f (of the medians); per round: median %.2f, "
          "quartiles %.2f-%.2f; records %s" %
          (a.threads, med[1] / med[a.threads], q[1], q[0], q[2],
           "identical (as multisets)" if recs[0] == recs[1] else "DIFFER"))
    if together:
        ceil = [a.threads * x[0] / c for x, c in zip(res[1], together)]
        got = [x[0] / y[0] for x, y in zip(res[1], res[a.threads])]
        print("ceiling: %d threads=1 runs at once took %.3f s (median), so at most %.2fx "
              "(per round: median %.2fx); threads=%d reached %.0f%% of it (per round: "
              "median %.0f%%)" %
              (a.threads, statistics.median(together), a.threads * med[1] /
               statistics.median(together), statistics.median(ceil), a.threads,
               100 * (med[1] / med[a.threads]) / (a.threads * med[1] /
                                                   statistics.median(together)),
               100 * statistics.median(g / c for g, c in zip(got, ceil))))
    return 0 if recs[0] == recs[1] else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Benchmark joy against the libpcap read floor.

  bench/bench.py [--runs N] [--pcap FILE] [--joy JOY] [--vs OTHER_JOY] [--] [joy options ...]

Builds bench/floor (a pcap_dispatch loop doing nothing per packet) and,
unless --pcap is given, ../shared/bench/mix.pcap via make-mix.sh (cached in
bench/mix.pcap).  Then runs the floor and joy alternately N times (default 5)
and reports, from the median CPU times (user + sys of each child process):
packets per second for both, their CPU-time ratio, and joy's peak RSS.
With --vs, a second joy binary (e.g. a build of an older commit) runs in
the same alternation, so a change can be judged by two ratios measured
side by side.  The CPU model is printed with every result.
Ratios measured in one run are what to quote: the machine is shared.
"""
import argparse
import os
import resource
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def timed(cmd):
    with open(os.devnull, "wb") as null:
        pid = os.fork()
        if pid == 0:
            os.dup2(null.fileno(), 1)
            try:
                os.execvp(cmd[0], cmd)
            finally:
                os._exit(127)
        _, status, ru = os.wait4(pid, 0)
    if os.WEXITSTATUS(status) not in (0,):
        sys.exit("bench: %s exited with %d" % (" ".join(cmd), os.WEXITSTATUS(status)))
    return ru.ru_utime + ru.ru_stime, ru.ru_maxrss


def packets_in(pcap):
    out = subprocess.run([os.path.join(HERE, "floor"), pcap], stdout=subprocess.PIPE, check=True)
    return int(out.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--pcap")
    ap.add_argument("--joy", default=os.path.join(ROOT, "joy"))
    ap.add_argument("--vs", help="another joy binary to compare in the same runs")
    ap.add_argument("opts", nargs="*", help="joy options, e.g. tls=1 dns=1")
    a = ap.parse_args()

    floor = os.path.join(HERE, "floor")
    if not os.path.exists(floor) or os.path.getmtime(floor) < os.path.getmtime(floor + ".c"):
        subprocess.run(["cc", "-O2", "-o", floor, floor + ".c", "-lpcap"], check=True)
    pcap = a.pcap
    if not pcap:
        pcap = os.path.join(HERE, "mix.pcap")
        if not os.path.exists(pcap):
            mk = os.path.join(ROOT, "..", "shared", "bench", "make-mix.sh")
            if not os.path.exists(mk):
                sys.exit("bench: ../shared/bench is absent; give --pcap FILE")
            print("bench: building %s with make-mix.sh ..." % pcap, file=sys.stderr)
            subprocess.run(["sh", mk, pcap + ".tmp"], check=True, stdout=subprocess.DEVNULL)
            os.rename(pcap + ".tmp", pcap)
    n = packets_in(pcap)
    joy_cmd = [a.joy, "-r", pcap, "-w", "/dev/null", "progress=0"] + a.opts
    vs_cmd = [a.vs, "-r", pcap, "-w", "/dev/null", "progress=0"] + a.opts if a.vs else None
    floor_cmd = [floor, pcap]
    timed(floor_cmd)  # warm the page cache
    ft, jt, rss, vt = [], [], [], []
    for _ in range(a.runs):
        t, _ = timed(floor_cmd)
        ft.append(t)
        t, r = timed(joy_cmd)
        jt.append(t)
        rss.append(r)
        if vs_cmd:
            t, _ = timed(vs_cmd)
            vt.append(t)
    f, j = statistics.median(ft), statistics.median(jt)
    print("cpu         %s" % cpu_model())
    print("input       %s (%d packets)" % (pcap, n))
    print("joy options %s" % (" ".join(a.opts) or "(default record)"))
    print("floor       %.3f s CPU  %.2f Mpps" % (f, n / f / 1e6))
    print("joy         %.3f s CPU  %.2f Mpps  peak RSS %.1f MB" % (j, n / j / 1e6, max(rss) / 1024))
    print("ratio       %.2fx the floor's CPU time (median of %d alternating runs)" % (j / f, a.runs))
    if vt:
        v = statistics.median(vt)
        print("vs          %s: %.3f s CPU, %.2fx the floor; this joy / that one = %.3f"
              % (a.vs, v, v / f, j / v))


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip() + " (%d cores)" % os.cpu_count()
    except OSError:
        pass
    return "unknown"


if __name__ == "__main__":
    main()

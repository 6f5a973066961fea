#!/usr/bin/env python3
"""CPU per packet of live capture with and without exe=1.

  bench/exe_cost.py [--pcap bench/mix.pcap] [--packets 300000] [--pps 50000]
                    [--rounds 3] [--joy ./joy]

Root only.  Makes two network namespaces joined by a veth pair (removed at
the end, also on failure); joy captures on one end (`joy -i VETH -w FILE`,
the default record, then the same with exe=1) while tcpreplay sends the
first N packets of the capture from the other end at a fixed rate.  joy's
CPU time (user + system, all its threads, from wait4() on joy itself) is divided by the packets joy received.  Rounds alternate
without/with exe=1; the medians are compared.  The flows of mix.pcap are
between other hosts, so with exe=1 every new flow is asked for and
answered "not local" by the helper thread: this measures the packet-path
cost (one ring slot per new flow) plus the helper's idle polling.
The machine is shared: quote numbers with the CPU model printed, and rerun.
Interpreter: any Python 3 (standard library only).
"""
import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown CPU"


def sh(*a):
    subprocess.run(a, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def one(joy, ns_a, ns_b, pcap, packets, pps, extra, tmp):
    out = os.path.join(tmp, "live.json")
    errf = open(os.path.join(tmp, "err"), "w+b")
    p = subprocess.Popen(["ip", "netns", "exec", ns_b, joy, "-i", "vb", "-w", out] + extra,
                         stderr=errf)
    time.sleep(1.0)
    subprocess.run(["ip", "netns", "exec", ns_a, "tcpreplay", "-q", "-i", "va", "--pps", str(pps),
                    "--limit", str(packets), pcap], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    other = threads_cpu(p.pid)
    p.send_signal(signal.SIGINT)
    _, _, ru = os.wait4(p.pid, 0)   # joy itself (ip netns exec execs it), all its threads
    p.returncode = 0
    cpu = ru.ru_utime + ru.ru_stime
    errf.seek(0)
    err = errf.read()
    errf.close()
    m = re.search(r"(\d+) packets received by filter, (\d+) dropped by kernel", err.decode())
    if not m:
        raise RuntimeError("joy said: " + err.decode())
    got, drop = int(m.group(1)), int(m.group(2))
    return cpu, got, drop, other


def threads_cpu(pid):
    """CPU seconds of joy's threads other than the main one (the exe helper)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            if int(tid) == pid:
                continue
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])   # utime, stime
    except OSError:
        pass
    return total / tick


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pcap", default=os.path.join(ROOT, "bench", "mix.pcap"))
    ap.add_argument("--packets", type=int, default=300000)
    ap.add_argument("--pps", type=int, default=50000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--joy", default=os.path.join(ROOT, "joy"))
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("skipped: needs root")
        return 0
    if not os.path.exists(a.pcap):
        a.pcap = os.path.join(ROOT, "bench", "mix.pcap")
    joy = os.path.abspath(a.joy)
    tag = str(os.getpid() % 100000)
    ns_a, ns_b = "exebA" + tag, "exebB" + tag
    tmp = tempfile.mkdtemp(prefix="joy-exebench-")
    try:
        sh("ip", "netns", "add", ns_a)
        sh("ip", "netns", "add", ns_b)
        sh("ip", "link", "add", "va", "netns", ns_a, "type", "veth", "peer", "name", "vb",
           "netns", ns_b)
        for ns, dev in ((ns_a, "va"), (ns_b, "vb")):
            sh("ip", "-n", ns, "link", "set", dev, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", ns_b, "addr", "add", "10.78.0.2/24", "dev", "vb")
        res = {"default": [], "exe=1": []}
        for _ in range(a.rounds):
            for name, extra in (("default", []), ("exe=1", ["exe=1"])):
                cpu, got, drop, other = one(joy, ns_a, ns_b, a.pcap, a.packets, a.pps, extra,
                                            tmp)
                res[name].append((cpu / max(got, 1) * 1e9, got, drop, other / max(got, 1) * 1e9))
        print("exe cost: %s (%d CPUs), %s, %d packets at %d pps, %d rounds" % (
            cpu_model(), os.cpu_count(), os.path.basename(a.pcap), a.packets, a.pps, a.rounds))
        med = {}
        for name, rows in res.items():
            med[name] = statistics.median(r[0] for r in rows)
            print("  %-8s CPU ns/packet %s  median %.0f  (received %s, dropped %s); "
                  "threads other than the meter's: %s ns/packet" % (
                      name, " ".join("%.0f" % r[0] for r in rows), med[name],
                      rows[-1][1], sum(r[2] for r in rows),
                      " ".join("%.0f" % r[3] for r in rows)))
        print("  exe=1 / default: %+.1f%%; exe helper thread: %.1f%% of the default's CPU" % (
            (med["exe=1"] / med["default"] - 1) * 100,
            statistics.median(r[3] for r in res["exe=1"]) / med["default"] * 100))
        return 0
    finally:
        for ns in (ns_a, ns_b):
            subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Highest replay rate joy captures with zero drops (capture=afpacket).

  bench/live_threads.py [--threads 1,2] [--rates 100000,...,0] [--packets N] [--joy JOY]

Root only.  Makes two network namespaces joined by a veth pair (removed at
the end, also on failure), writes a capture of N UDP packets (default
200000, 100 bytes of payload, 2000 flows between 200 address pairs, both
directions; default 1,000,000: more than the capture rings hold, so a
step measures a sustained rate, not a burst), and for each thread count
and each rate (ascending) runs `joy -i VETH capture=afpacket threads=T -w
FILE.json.gz` (default record) in one namespace while `tcpreplay -K --pps
RATE` (rate 0: `--topspeed`) sends the capture from the other.  A step passes when joy's kernel counters show 0 drops and joy read
every packet tcpreplay sent; the table gives the highest passing rate and
the drops at the first failing one.  The machine is shared: quote numbers
with the CPU model printed, and rerun.
"""
import argparse
import os
import re
import signal
import struct
import subprocess
import sys
import tempfile
import time


def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown CPU"


def make_pcap(path, n):
    out = [struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1)]
    payload = b"p" * 100
    for i in range(n):
        f = i % 2000
        a = bytes([10, 88, (f // 10) % 200 // 250, (f // 10) % 200 + 1])
        b = bytes([10, 89, 0, (f // 10) % 200 + 1])
        sp, dp = 20000 + f, 53
        if (i // 2000) % 2:
            a, b, sp, dp = b, a, dp, sp
        udp = struct.pack(">HHHH", sp, dp, 8 + len(payload), 0) + payload
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i & 0xffff, 0, 64, 17, 0, a, b) + udp
        frame = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00" + ip
        ts = i * 10
        out.append(struct.pack("<IIII", ts // 10**6, ts % 10**6, len(frame), len(frame)) + frame)
    with open(path, "wb") as fh:
        fh.write(b"".join(out))


def sh(*a):
    subprocess.run(a, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def step(joy, ns_a, ns_b, va, vb, pcap, threads, rate, tmp):
    out = os.path.join(tmp, "live.json.gz")
    j = subprocess.Popen(["ip", "netns", "exec", ns_b, joy, "-i", vb, "capture=afpacket",
                          "threads=%d" % threads, "-w", out], stderr=subprocess.PIPE)
    time.sleep(1.0)
    # -K: the capture is read into memory first, so the sender spends its
    # core on sending; rate 0: as fast as tcpreplay can
    pace = ["--topspeed"] if rate == 0 else ["--pps", str(rate)]
    r = subprocess.run(["ip", "netns", "exec", ns_a, "tcpreplay", "-K", "-i", va] + pace + [pcap],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    txt = r.stdout.decode("utf-8", "replace")
    m = re.search(r"Actual: (\d+) packets", txt)
    sent = int(m.group(1)) if m else -1
    am = re.search(r"Rated: [\d.]+ Bps, [\d.]+ Mbps, ([\d.]+) pps", txt)
    actual = float(am.group(1)) if am else 0.0
    time.sleep(0.5)
    j.send_signal(signal.SIGINT)
    _, err = j.communicate(timeout=120)
    err = err.decode("utf-8", "replace")
    k = re.search(r"joy: (\d+) packets received by filter, (\d+) dropped by kernel", err)
    recv, drop = (int(k.group(1)), int(k.group(2))) if k else (-1, -1)
    return sent, actual, recv, drop


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rates", default="100000,200000,400000,600000,0",
                    help="packets per second to ask tcpreplay for, ascending; 0: --topspeed")
    ap.add_argument("--packets", type=int, default=1000000)
    ap.add_argument("--joy", default=os.path.join(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))), "joy"))
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("live_threads: needs root")
    tmp = tempfile.mkdtemp(prefix="joy-live-bench-")
    pcap = os.path.join(tmp, "replay.pcap")
    make_pcap(pcap, a.packets)
    tag = str(os.getpid() % 100000)
    ns_a, ns_b, va, vb = "jlb_a" + tag, "jlb_b" + tag, "jla" + tag, "jlb" + tag
    rows = []
    try:
        sh("ip", "netns", "add", ns_a)
        sh("ip", "netns", "add", ns_b)
        sh("ip", "link", "add", va, "type", "veth", "peer", "name", vb)
        sh("ip", "link", "set", va, "netns", ns_a)
        sh("ip", "link", "set", vb, "netns", ns_b)
        sh("ip", "-n", ns_a, "link", "set", va, "up")
        sh("ip", "-n", ns_b, "link", "set", vb, "up")
        for t in [int(x) for x in a.threads.split(",")]:
            best, fail = None, None
            for rate in [int(x) for x in a.rates.split(",")]:
                sent, actual, recv, drop = step(a.joy, ns_a, ns_b, va, vb, pcap, t, rate, tmp)
                good = drop == 0 and recv >= sent > 0
                print("threads=%d --pps %s: sent %d at %.0f pps, kernel %d, dropped %d -> %s" %
                      (t, rate or "top", sent, actual, recv, drop, "ok" if good else "LOSS"),
                      flush=True)
                if good:
                    best = (rate, actual)
                else:
                    fail = (rate, actual, drop, recv)
                    break
            rows.append((t, best, fail))
    finally:
        subprocess.run(["ip", "netns", "del", ns_a], stderr=subprocess.DEVNULL)
        subprocess.run(["ip", "netns", "del", ns_b], stderr=subprocess.DEVNULL)
        for f in os.listdir(tmp):
            os.unlink(os.path.join(tmp, f))
        os.rmdir(tmp)
    print("\nCPU: %s, %d online; %d packets of 142 bytes per step; default record" %
          (cpu_model(), os.cpu_count(), a.packets))
    print("| threads | highest rate with 0 drops (asked / achieved pps) | first rate with loss |")
    print("|---|---|---|")
    for t, best, fail in rows:
        b = "%s / %.0f" % (best[0] or "top speed", best[1]) if best else "none"
        f = ("%s / %.0f: %d of %d dropped" % ((fail[0] or "top speed",) + fail[1:])) if fail \
            else "none up to the highest rate tried"
        print("| %d | %s | %s |" % (t, b, f))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""CPU cost of the network outputs: joy with and without -w ipfix:// / kafka://.

  bench/export.py [--runs N] [--pcap FILE] [--joy JOY] [--kafka "OPTIONS"]...

Runs joy on the capture (default ../shared/bench/mix.pcap, or bench/mix.pcap)
with the default record and -w /dev/null, then the same with
-w ipfix://127.0.0.1:PORT (a UDP socket that reads and discards), and with
-w kafka://BOOTSTRAP/joy.bench against librdkafka's mock cluster
(test/kafka/mock_cluster.c, built here; skipped without librdkafka-dev).
Each --kafka adds one more Kafka run with those joy options (space
separated, e.g. --kafka "kafka_compression=lz4"); without any, the Kafka
run uses joy's defaults.  Each --ipfix adds an IPFIX run besides the
default one (e.g. --ipfix ipfix_mtu=1500: Ethernet-sized messages; on
loopback joy fills the path MTU, 64 KiB).

The mock cluster is a separate process (its brokers' CPU is not joy's);
what joy is billed for is its own thread, librdkafka's threads and the
kernel's work in joy's system calls, which on loopback includes the
receiving side of TCP.  The modes alternate, run after run, so that a
change in the machine's load touches all of them alike; the report gives
the median and the minimum CPU time (user + sys) of each, its split, the
minor page faults, and the load average before and after.  With Kafka,
it also runs bench/kafka_floor.c on the same records: the CPU librdkafka
alone needs to produce them (one message per record, keyed by
community_id, joy's settings), a floor no caller can go under; its
percentage is of the file run.
Interpreter: any Python 3 (standard library only).
"""
import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def timed(cmd):
    """(user + sys seconds, user, sys, minor faults) of one run of cmd."""
    with open(os.devnull, "wb") as null:
        pid = os.fork()
        if pid == 0:
            os.dup2(null.fileno(), 1)
            os.dup2(null.fileno(), 2)
            os.execvp(cmd[0], cmd)
        _, status, ru = os.wait4(pid, 0)
    if os.WEXITSTATUS(status) != 0:
        sys.exit("bench: %s exited with %d" % (" ".join(cmd), os.WEXITSTATUS(status)))
    return ru.ru_utime + ru.ru_stime, ru.ru_utime, ru.ru_stime, ru.ru_minflt


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def discard_udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)

    def loop():
        while True:
            s.recv(65536)
    threading.Thread(target=loop, daemon=True).start()
    return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--pcap")
    ap.add_argument("--joy", default=os.path.join(ROOT, "joy"))
    ap.add_argument("--kafka", action="append", default=[],
                    help="joy options for one more Kafka run (repeatable)")
    ap.add_argument("--floor", action="append", default=[],
                    help="librdkafka properties for one more kafka_floor run (repeatable), "
                         "e.g. compression.codec=none")
    ap.add_argument("--ipfix", action="append", default=[],
                    help="joy options for one more IPFIX run (repeatable), e.g. ipfix_mtu=1500")
    a = ap.parse_args()
    pcap = a.pcap or next((p for p in (os.path.join(ROOT, "..", "shared", "bench", "mix.pcap"),
                                       os.path.join(HERE, "mix.pcap")) if os.path.exists(p)), None)
    if not pcap:
        sys.exit("bench: give --pcap FILE")
    modes = [("file", [])]
    port = discard_udp()
    for opts in [""] + a.ipfix:
        modes.append(("ipfix " + opts if opts else "ipfix",
                      ["-w", "ipfix://127.0.0.1:%d" % port] + opts.split()))
    tmp = tempfile.mkdtemp(prefix="joy-bench-")
    mock = None
    floors = []
    exe = os.path.join(tmp, "mock_cluster")
    if subprocess.run(["cc", "-O2", "-o", exe, os.path.join(ROOT, "test/kafka/mock_cluster.c"),
                       "-lrdkafka"], stderr=subprocess.DEVNULL).returncode == 0 and \
            "kafka" in subprocess.run([a.joy, "-V"], stdout=subprocess.PIPE, text=True).stdout:
        # its own process: the brokers' CPU must not be billed to joy
        mock = subprocess.Popen([exe, "1"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
        boot = mock.stdout.readline().strip()
        url = ["-w", "kafka://%s/joy.bench" % boot]
        for opts in a.kafka or [""]:
            modes.append(("kafka " + opts if opts else "kafka", url + opts.split()))
        # librdkafka's own floor: the same records, produced by a program
        # that does nothing else (bench/kafka_floor.c)
        floor = os.path.join(tmp, "kafka_floor")
        recs = os.path.join(tmp, "records.json")
        if subprocess.run(["cc", "-O2", "-o", floor, os.path.join(HERE, "kafka_floor.c"),
                           "-lrdkafka"], stderr=subprocess.DEVNULL).returncode == 0 and \
                subprocess.run([a.joy, "-r", pcap, "-w", recs, "progress=0"]).returncode == 0:
            floors = [("zstd", [])] + [(o, o.split()) for o in a.floor]
        else:
            floors = []
    else:
        print("bench: no Kafka (librdkafka-dev or a Kafka build of joy): kafka mode skipped")
    load0 = os.getloadavg()[0]
    runs = {m: [] for m, _ in modes}
    for _ in range(a.runs):
        for m, extra in modes:
            runs[m].append(timed([a.joy, "-r", pcap, "-w", os.devnull, "progress=0"] + extra))
    floor_runs = {f: [] for f, _ in floors}
    for _ in range(a.runs):
        for f, props in floors:
            out = subprocess.run([floor, boot, "joy.floor", recs] + props, stdout=subprocess.PIPE,
                                 text=True, check=True).stdout.split()
            floor_runs[f].append((float(out[out.index("user") + 1]), float(out[out.index("sys") + 1])))
    load1 = os.getloadavg()[0]
    if mock:
        mock.stdin.close()
        mock.wait()
    shutil.rmtree(tmp, ignore_errors=True)
    print("CPU: %s (%d online); capture %s; %d runs alternating; load average %.2f before, "
          "%.2f after" % (cpu_model(), os.cpu_count() or 0, pcap, a.runs, load0, load1))
    print("  %-40s %8s %7s %8s %7s %7s %7s %9s" % ("mode", "median", "", "min", "", "user",
                                                    "sys", "minflt"))
    base = statistics.median(r[0] for r in runs["file"])
    base_min = min(r[0] for r in runs["file"])
    for m, _ in modes:
        t = [r[0] for r in runs[m]]
        med, lo = statistics.median(t), min(t)
        print("  %-40s %7.3fs %+6.1f%% %7.3fs %+6.1f%% %6.3fs %6.3fs %9d" % (
            m, med, 100.0 * (med - base) / base if base else 0, lo,
            100.0 * (lo - base_min) / base_min if base_min else 0,
            statistics.median(r[1] for r in runs[m]), statistics.median(r[2] for r in runs[m]),
            statistics.median(r[3] for r in runs[m])))
    for f, _ in floors:
        t = [u + s for u, s in floor_runs[f]]
        med = statistics.median(t)
        print("  %-40s %7.3fs %+6.1f%% %7.3fs %+6.1f%% %6.3fs %6.3fs" % (
            "librdkafka alone (kafka_floor, %s)" % f, med, 100.0 * med / base if base else 0,
            min(t), 100.0 * min(t) / base_min if base_min else 0,
            statistics.median(u for u, _ in floor_runs[f]),
            statistics.median(s for _, s in floor_runs[f])))


if __name__ == "__main__":
    main()

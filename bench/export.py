#!/usr/bin/env python3
"""CPU cost of the network outputs: joy with and without -w ipfix:// / kafka://.

  bench/export.py [--runs N] [--pcap FILE] [--joy JOY]

Runs joy on the capture (default ../shared/bench/mix.pcap, or bench/mix.pcap)
with the default record and -w /dev/null, then the same with
-w ipfix://127.0.0.1:PORT (a UDP socket that reads and discards), and with
-w kafka://BOOTSTRAP/joy.bench against librdkafka's mock cluster
(test/kafka/mock_cluster.c, built here; skipped without librdkafka-dev).
Reports the median CPU time (user + sys of joy, which includes librdkafka's
threads) of each and the overhead against the file-only run, with the CPU
model.  Interpreter: any Python 3 (standard library only).
"""
import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def timed(cmd):
    with open(os.devnull, "wb") as null:
        pid = os.fork()
        if pid == 0:
            os.dup2(null.fileno(), 1)
            os.dup2(null.fileno(), 2)
            os.execvp(cmd[0], cmd)
        _, status, ru = os.wait4(pid, 0)
    if os.WEXITSTATUS(status) != 0:
        sys.exit("bench: %s exited with %d" % (" ".join(cmd), os.WEXITSTATUS(status)))
    return ru.ru_utime + ru.ru_stime


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
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--pcap")
    ap.add_argument("--joy", default=os.path.join(ROOT, "joy"))
    a = ap.parse_args()
    pcap = a.pcap or next((p for p in (os.path.join(ROOT, "..", "shared", "bench", "mix.pcap"),
                                       os.path.join(HERE, "mix.pcap")) if os.path.exists(p)), None)
    if not pcap:
        sys.exit("bench: give --pcap FILE")
    modes = [("file", [])]
    port = discard_udp()
    modes.append(("ipfix", ["-w", "ipfix://127.0.0.1:%d" % port]))
    tmp = tempfile.mkdtemp(prefix="joy-bench-")
    mock = None
    exe = os.path.join(tmp, "mock_cluster")
    if subprocess.run(["cc", "-O2", "-o", exe, os.path.join(ROOT, "test/kafka/mock_cluster.c"),
                       "-lrdkafka"], stderr=subprocess.DEVNULL).returncode == 0 and \
            "kafka" in subprocess.run([a.joy, "-V"], stdout=subprocess.PIPE, text=True).stdout:
        mock = subprocess.Popen([exe, "1"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True)
        boot = mock.stdout.readline().strip()
        modes.append(("kafka", ["-w", "kafka://%s/joy.bench" % boot]))
    else:
        print("bench: no Kafka (librdkafka-dev or a Kafka build of joy): kafka mode skipped")
    times = {m: [] for m, _ in modes}
    for _ in range(a.runs):
        for m, extra in modes:
            times[m].append(timed([a.joy, "-r", pcap, "-w", os.devnull] + extra))
    if mock:
        mock.stdin.close()
        mock.wait()
    base = statistics.median(times["file"])
    print("CPU: %s; capture %s; %d runs, median CPU seconds (user+sys)" % (cpu_model(), pcap, a.runs))
    for m, _ in modes:
        t = statistics.median(times[m])
        print("  %-6s %7.3f s  %+6.1f%%" % (m, t, 100.0 * (t - base) / base if base else 0))


if __name__ == "__main__":
    main()

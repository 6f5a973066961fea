#!/usr/bin/env python3
"""Live capture on the loopback interface.

joy -i lo captures while this test sends UDP datagrams and a TCP exchange
between two sockets on 127.0.0.1 (ports chosen by the kernel, so other
traffic cannot be confused with ours), then SIGINT stops it.  Checks: exit
status 0, the kernel's drop count line, a complete gzip file, and the exact
packet and byte counts of our two flows; and that an idle flow is written
by the wall clock (expire_type "i") while no packets arrive.
Needs the right to capture (root); skipped otherwise.
"""
import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JOY = os.environ.get("JOY", os.path.join(ROOT, "joy"))


def can_capture():
    return os.geteuid() == 0


def start(args, dest):
    p = subprocess.Popen([JOY, "-i", "lo", "-w", dest] + args, stderr=subprocess.PIPE)
    time.sleep(1.0)  # let the capture start
    return p


def stop(p):
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=30)
    return p.returncode, err.decode("utf-8", "replace")


def load(dest):
    with gzip.open(dest, "rb") as f:
        lines = f.read().decode().splitlines()
    objs = [json.loads(l) for l in lines]
    return objs[0], objs[1:]


def find(recs, port):
    return [r for r in recs if port in (r.get("sp"), r.get("dp"))]


def main():
    if not can_capture():
        print("skipped: live capture needs root")
        print("0 passed, 0 failed, 1 skipped")
        return 0
    passed = failed = 0
    tmp = tempfile.mkdtemp(prefix="joy-live-")

    # 1. UDP and TCP traffic, stopped by SIGINT
    dest = os.path.join(tmp, "live.json.gz")
    p = start(["-f", "udp or tcp"], dest)
    srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    srv.bind(("127.0.0.1", 0))
    cli = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    cli.bind(("127.0.0.1", 0))
    uport = cli.getsockname()[1]
    for i in range(5):
        cli.sendto(b"x" * (100 + i), srv.getsockname())
        data, addr = srv.recvfrom(2048)
        srv.sendto(b"y" * 10, addr)
        cli.recvfrom(2048)
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(1)
    c = socket.create_connection(lst.getsockname())
    tport = c.getsockname()[1]
    a, _ = lst.accept()
    c.sendall(b"hello joy" * 10)
    got = b""
    while len(got) < 90:
        got += a.recv(100)
    a.sendall(b"ok")
    c.recv(10)
    c.close()
    a.close()
    time.sleep(0.5)
    rc, err = stop(p)
    try:
        assert rc == 0, (rc, err)
        assert "dropped by kernel" in err, err
        assert subprocess.run(["gzip", "-t", dest]).returncode == 0
        meta, recs = load(dest)
        assert meta["options"]["interface"] == "lo"
        u = find(recs, uport)
        assert len(u) == 1, u
        u = u[0]
        assert u["sp"] == uport and u["num_pkts_out"] == 5 and u["num_pkts_in"] == 5
        assert u["bytes_out"] == sum(100 + i for i in range(5)) and u["bytes_in"] == 50
        assert u["expire_type"] == "e"
        t = find(recs, tport)
        assert len(t) == 1, t
        t = t[0]
        assert t["sp"] == tport and t["bytes_out"] == 90 and t["bytes_in"] == 2
        assert t["tcp"]["out"]["flags"] == "S" and t["tcp"]["in"]["flags"] == "SA"
        passed += 1
    except AssertionError as e:
        failed += 1
        print("FAIL live capture stopped by SIGINT: %s" % (e,))

    # 2. an idle flow leaves by the wall clock while the link is silent
    dest = os.path.join(tmp, "idle.json.gz")
    p = start(["inactive_timeout=1", "-f", "udp"], dest)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.sendto(b"ping", s.getsockname())
    iport = s.getsockname()[1]
    time.sleep(3.0)
    rc, err = stop(p)
    try:
        assert rc == 0, err
        meta, recs = load(dest)
        r = find(recs, iport)
        assert len(r) == 1 and r[0]["expire_type"] == "i", r
        passed += 1
    except AssertionError as e:
        failed += 1
        print("FAIL idle flow by wall clock: %s" % (e,))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Worker threads (threads=N), the dispatcher, AF_PACKET fanout, one output.

Any Python 3 (standard library only); run as `python3 test/test_threads.py`
(test/run_all.py runs it with the interpreter that runs it).

Offline: threads=1, 2 and 4 must write the same multiset of records (the
JSON lines after the metadata line, sorted) and the same summary counts,
with default options and with a full option set, gzip and plain output,
on every capture in ../shared/pcaps (skipped with a message when absent),
on the generated captures of test/gen_pcaps.py and on a synthetic capture
made here (many hosts, time gaps past both timeouts, timestamps out of
order, IPv4/IPv6 fragments).  mix.pcap (bench/mix.pcap of this checkout or
$JOY_MIX) once with the full option set when present.  The same under
ThreadSanitizer with build-tsan/joy ($JOY_TSAN) when it was built, also
while SIGHUP and SIGUSR1 arrive during a threads=2 run with -G and a
unix: stream (every record in the rotated files and in the stream).

Live (root and `ip netns` needed, else skipped with a message): two network
namespaces joined by a veth pair made here (removed at the end, also on
failure); UDP request/response flows over IPv4 and IPv6, fragmented
datagrams both ways, TCP connections.  joy -i VETH threads=2 with
capture=afpacket fanout=addr, fanout=hash, and capture=pcap (dispatcher),
while dumpcap writes the same packets to a pcap (tcpdump is not installed
here; dumpcap is libpcap too).  Checks: every flow in exactly one record
with both directions (no flow split between workers), the records equal
joy's offline records of dumpcap's pcap (flow keys, packet and byte
counts), kernel-counted packets = read + dropped.  fanout=cpu is refused
without fanout_unsafe=1.  Last line: "N passed, N failed, N skipped".
"""
import glob
import gzip
import json
import os
import random
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JOY = os.environ.get("JOY", os.path.join(ROOT, "joy"))
JOY_TSAN = os.environ.get("JOY_TSAN", os.path.join(ROOT, "build-tsan", "joy"))
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "pcaps")
MIX = os.environ.get("JOY_MIX", os.path.join(ROOT, "bench", "mix.pcap"))
FULL = ("bidir=1 dist=1 entropy=1 tls=1 dns=1 http=1 ssh=1 dhcp=1 ike=1 idp=1400 payload=1 "
        "wht=1 salt=1 ppi=1 fpx=1").split()

passed = failed = skipped = 0


def ok(name):
    global passed
    passed += 1


def bad(name, why):
    global failed
    failed += 1
    print("FAIL %s: %s" % (name, why))


def skip(name, why):
    global skipped
    skipped += 1
    print("skipped %s: %s" % (name, why))


SUMMARY = re.compile(r"joy: (\d+) packets, (\d+) records; skipped: .*")


def run_joy(joy, inp, out, opts, timeout=600, reader_meters=None, chunks=None, backlog=None,
            dispatch=None):
    """reader_meters: JOY_READER_METERS (1: the reader meters worker 0's share
    itself, 0: a reader that only dispatches; None: joy picks by the CPUs);
    chunks: JOY_CHUNKS, the size of the reader's chunk pool (default 48);
    backlog: JOY_BACKLOG_MAX (reader_assign's threshold, default 12288; with
    the reader metering and small captures a low one makes the host-pair
    buckets go to both meters and change hands after idling); dispatch:
    JOY_DISPATCH ("hosts": every packet by host pair, TCP too)"""
    env = dict(os.environ)
    for k in ("JOY_READER_METERS", "JOY_CHUNKS", "JOY_BACKLOG_MAX", "JOY_DISPATCH"):
        env.pop(k, None)
    if dispatch is not None:
        env["JOY_DISPATCH"] = dispatch
    if backlog is not None:
        env["JOY_BACKLOG_MAX"] = str(backlog)
    if reader_meters is not None:
        env["JOY_READER_METERS"] = str(reader_meters)
    if chunks is not None:
        env["JOY_CHUNKS"] = str(chunks)
    p = subprocess.run([joy, "-v", "-w", out] + opts + [inp], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout, env=env)
    err = p.stderr.decode("utf-8", "replace")
    if out.endswith(".gz"):
        try:
            with gzip.open(out, "rb") as f:
                data = f.read()
        except (OSError, EOFError):
            data = b""
    else:
        with open(out, "rb") as f:
            data = f.read()
    lines = data.splitlines()
    summary = [l for l in err.splitlines() if SUMMARY.match(l)]
    return p.returncode, lines, summary, err


def records(lines):
    return sorted(lines[1:])


# ---------------------------------------------------------------------------
# A synthetic capture: many hosts, gaps past the timeouts, out-of-order
# timestamps, IPv4 and IPv6 fragments, TCP and UDP both ways.  The reader
# spreads TCP by connection, so fragmented TCP segments are there in every
# order: first fragment first, the later one first (the reader holds it for
# its first) and, with orphans, a later fragment whose first never comes
# (one meter accounts for those when another datagram takes their slot of
# its fragment table, or at the end: tables are per meter, so only a capture
# with few fragmented datagrams compares equal; doc/libjoy.md).
def synth_pcap(path, seed=7, n=6000, orphans=False):
    rnd = random.Random(seed)
    out = [struct.pack("<IHHiIII", 0xa1b23c4d, 2, 4, 0, 0, 262144, 1)]   # ns pcap
    t = 1600000000 * 10**9

    def rec(ts, frame):
        out.append(struct.pack("<IIII", ts // 10**9, ts % 10**9, len(frame), len(frame)) + frame)

    def eth(ethertype, payload):
        return b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02" + struct.pack(">H", ethertype) + payload

    def ip4(src, dst, proto, payload, ident=0, frag=0, mf=False):
        flags = (0x2000 if mf else 0) | (frag // 8)
        h = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, flags, 64, proto, 0,
                        bytes(src), bytes(dst))
        return eth(0x0800, h + payload)

    def ip6(src, dst, nh, payload):
        h = struct.pack(">IHBB16s16s", 0x60000000, len(payload), nh, 64, bytes(src), bytes(dst))
        return eth(0x86dd, h + payload)

    def udp(sp, dp, data):
        return struct.pack(">HHHH", sp, dp, 8 + len(data), 0) + data

    def tcp(sp, dp, seq, ack, flags, data):
        return struct.pack(">HHIIBBHHH", sp, dp, seq, ack, 5 << 4, flags, 65535, 0, 0) + data

    hosts4 = [[10, 1, rnd.randrange(4), rnd.randrange(1, 250)] for _ in range(60)]
    hosts6 = [[0xfd, 0] + [0] * 12 + [rnd.randrange(4), rnd.randrange(1, 250)] for _ in range(20)]
    flows = []
    for i in range(400):
        v6 = i % 5 == 0
        hs = hosts6 if v6 else hosts4
        a, b = rnd.sample(range(len(hs)), 2)
        flows.append((v6, hs[a], hs[b], rnd.choice([6, 17]), 1024 + i, rnd.choice([53, 80, 443, 7000])))
    ident = 1
    for k in range(n):
        r = rnd.random()
        if r < 0.002:
            t += rnd.choice([11, 15, 25, 31, 35]) * 10**9      # past the timeouts
        elif r < 0.02:
            t -= rnd.randrange(1, 2 * 10**6)                 # out of order (by < 2 ms)
        else:
            t += rnd.randrange(1, 50 * 10**6)
        v6, a, b, proto, sp, dp = rnd.choice(flows)
        if rnd.random() < 0.5:
            a, b, sp, dp = b, a, dp, sp
        size = rnd.choice([0, 10, 100, 600, 1400])
        data = bytes(rnd.randrange(256) for _ in range(min(size, 64))) * (size // 64 + 1)
        data = data[:size]
        if proto == 17 and not v6 and rnd.random() < 0.05:   # a fragmented datagram
            payload = udp(sp, dp, data * 3 + b"x" * 1600)
            ident += 1
            parts = [(0, payload[:1480], True), (1480, payload[1480:], False)]
            if rnd.random() < 0.3:
                parts.reverse()
            for off, chunk, mf in parts:
                rec(t, ip4(a, b, 17, chunk, ident, off, mf))
                t += 1000
            continue
        if proto == 6 and not v6 and rnd.random() < 0.04:    # a fragmented TCP segment
            seg = tcp(sp, dp, k * 1000, k * 7, 0x18, data * 2 + b"y" * 1500)
            ident += 1
            parts = [(0, seg[:1480], True), (1480, seg[1480:], False)]
            order = rnd.random()
            if order < 0.3:
                parts.reverse()                              # the later fragment first
            elif order < 0.4 and orphans:
                parts = parts[1:]                            # its first never comes
            for off, chunk, mf in parts:
                rec(t, ip4(a, b, 6, chunk, ident, off, mf))
                t += 1000
            continue
        if proto == 17:
            l4 = udp(sp, dp, data)
        else:
            l4 = tcp(sp, dp, k * 1000, k * 7, rnd.choice([0x02, 0x12, 0x10, 0x18, 0x11]), data)
        rec(t, ip6(a, b, proto, l4) if v6 else ip4(a, b, proto, l4, ident))
        if rnd.random() < 0.01:
            rec(t, eth(0x0806, b"\x00" * 28))                 # ARP: not IP
    with open(path, "wb") as f:
        f.write(b"".join(out))


# ---------------------------------------------------------------------------
def offline(tmp):
    caps = []
    if os.path.isdir(SHARED):
        caps += sorted(p for p in glob.glob(os.path.join(SHARED, "*"))
                       if re.search(r"\.(pcap|pcapng|cap)$", p))
    else:
        skip("shared-pcaps", "%s is absent: only generated captures" % SHARED)
    gen = os.path.join(tmp, "gen")
    os.makedirs(gen)
    g = subprocess.run([sys.executable, os.path.join(ROOT, "test", "gen_pcaps.py"), gen],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if g.returncode != 0:
        bad("gen_pcaps", g.stderr.decode()[-300:])
    caps += sorted(glob.glob(os.path.join(gen, "*")))
    for seed in (1, 2):
        p = os.path.join(tmp, "synth%d.pcap" % seed)
        synth_pcap(p, seed)
        caps.append(p)
    # A synthetic capture with a small active timeout: many "a" cuts.
    caps_opts = [(c, []) for c in caps] + [(c, FULL) for c in caps]
    caps_opts.append((os.path.join(tmp, "synth1.pcap"), ["active_timeout=2", "inactive_timeout=1"]))
    # -c COUNT: the reader stops after COUNT packets, as threads=1 does
    caps_opts += [(os.path.join(tmp, "synth%d.pcap" % s), ["-c", c])
                  for s in (1, 2) for c in ("1", "777", "5000")]
    n = 0
    for cap, opts in caps_opts:
        name = "%s %s" % (os.path.basename(cap), "full" if opts == FULL else " ".join(opts) or "default")
        ref = run_joy(JOY, cap, os.path.join(tmp, "r1.json"), opts + ["threads=1"])
        # gzip with the reader metering a share itself (a low JOY_BACKLOG_MAX:
        # both meters get host pairs, and they change hands after idling),
        # plain with a reader that only dispatches (doc/internals/threads.md):
        # both on every capture
        for t, ext, rm in ((2, ".json.gz", 1), (4, ".json.gz", 1), (2, ".json", 0), (4, ".json", 0)):
            got = run_joy(JOY, cap, os.path.join(tmp, "r%d%s" % (t, ext)), opts + ["threads=%d" % t],
                          reader_meters=rm, backlog=256 if rm else None)
            what = "%s threads=%d %s%s" % (name, t, ext, " reader meters" if rm else "")
            if got[0] != ref[0]:
                bad(what, "exit status %d, threads=1: %d" % (got[0], ref[0]))
            elif records(got[1]) != records(ref[1]):
                bad(what, "records differ from threads=1 (%d vs %d lines)" % (len(got[1]), len(ref[1])))
            elif got[2] != ref[2]:
                bad(what, "summary %s, threads=1: %s" % (got[2], ref[2]))
            elif ref[1] and got[1][0][:1] != b"{":
                bad(what, "no metadata line first")
            else:
                n += 1
                ok(what)
    print("offline: %d comparisons with threads=1 (%d captures)" % (n, len(caps)))

    # A pool of 2 chunks (the least that works): the reader must wait for a
    # chunk again and again (a synthetic capture of about 20 MB, read 1 MiB
    # at a time); nothing is lost, nothing hangs.  Whether one run waits
    # depends on timing, so the waits are counted over all the runs.
    cap = os.path.join(tmp, "synth_big.pcap")
    synth_pcap(cap, 3, 40000)
    ref = run_joy(JOY, cap, os.path.join(tmp, "r1.json"), FULL + ["threads=1"])
    waits = moved = 0
    for t, rm in ((2, 1), (2, 0), (4, 1), (4, 0)):
        got = run_joy(JOY, cap, os.path.join(tmp, "c.json"), FULL + ["-vv", "threads=%d" % t],
                      reader_meters=rm, chunks=2, backlog=256 if rm else None)
        what = "synth_big threads=%d JOY_READER_METERS=%d JOY_CHUNKS=2" % (t, rm)
        m = re.search(r"chunks: (\d+) of 2 in use at most, (\d+) waits", got[3])
        mv = re.search(r"hash buckets \(TCP by connection, the rest by host pair\): \d+ given a "
                       r"worker, \d+ chosen again after idling, (\d+) of them moved", got[3])
        if got[0] != ref[0] or records(got[1]) != records(ref[1]):
            bad(what, "records differ from threads=1")
        elif not m or not mv:
            bad(what, "no chunk or bucket statistics: %s" % got[3][-300:])
        else:
            waits += int(m.group(2))
            moved += int(mv.group(1))
            ok(what)
    # host pairs idle past the timeouts came back on another meter, and the
    # records are still those of threads=1
    if moved:
        ok("idle buckets moved to another worker (%d times in 4 runs)" % moved)
        print("buckets moved after idling: %d times in 4 runs" % moved)
    else:
        bad("idle host pairs", "no bucket changed worker after idling")
    if waits:
        ok("chunk pool of 2: %d waits for a chunk" % waits)
        print("chunk pool of 2: the reader waited %d times in 4 runs" % waits)
    else:
        bad("chunk pool of 2", "the reader never waited for a chunk")
    os.unlink(cap)

    tcp_by_connection(tmp)

    if os.path.exists(MIX):
        ref = run_joy(JOY, MIX, os.path.join(tmp, "m1.json.gz"), FULL + ["threads=1"])
        for rm in (1, 0):
            got = run_joy(JOY, MIX, os.path.join(tmp, "m2.json.gz"), FULL + ["threads=2"],
                          reader_meters=rm)
            what = "mix.pcap JOY_READER_METERS=%d" % rm
            if ref[0] == got[0] and records(ref[1]) == records(got[1]) and ref[2] == got[2]:
                ok(what)
                print("%s: threads=2 = threads=1 (%d records)" % (what, len(ref[1]) - 1))
            else:
                bad(what, "threads=2 differs from threads=1")
        for f in ("m1.json.gz", "m2.json.gz"):
            os.unlink(os.path.join(tmp, f))
    else:
        skip("mix.pcap", "%s not present" % MIX)

    # ThreadSanitizer: the dispatcher, workers and writer
    if os.path.exists(JOY_TSAN):
        tsan_caps = [os.path.join(tmp, "synth1.pcap"), os.path.join(tmp, "synth2.pcap")]
        tsan_caps += [c for c in caps if "http" in c or "tls" in c][:4]
        env = dict(os.environ, TSAN_OPTIONS="halt_on_error=1 exitcode=66")
        for cap in tsan_caps:
            for t, ext, rm in ((2, ".json.gz", "1"), (4, ".json", "0")):
                ref = run_joy(JOY, cap, os.path.join(tmp, "t1.json"), FULL + ["threads=1"])
                out = os.path.join(tmp, "ts" + ext)
                p = subprocess.run([JOY_TSAN, "-v", "-w", out, "threads=%d" % t] + FULL + [cap],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   env=dict(env, JOY_READER_METERS=rm), timeout=600)
                err = p.stderr.decode("utf-8", "replace")
                opener = gzip.open if ext.endswith(".gz") else open
                with opener(out, "rb") as f:
                    lines = f.read().splitlines()
                what = "tsan %s threads=%d" % (os.path.basename(cap), t)
                if "ThreadSanitizer" in err or p.returncode != ref[0]:
                    bad(what, "exit %d\n%s" % (p.returncode, err[-2000:]))
                elif records(lines) != records(ref[1]):
                    bad(what, "records differ from threads=1")
                else:
                    ok(what)
        print("tsan: %d runs of build-tsan/joy" % (2 * len(tsan_caps)))
        tsan_signals(tmp, env)
    else:
        skip("tsan", "%s not built (make tsan)" % JOY_TSAN)


def two_hosts_pcap(path, conns=40, pkts=60):
    """One client and one server, `conns` TCP connections one after another."""
    out = [struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1)]
    t = 1600000000 * 10**6
    cli, srv = bytes([10, 9, 0, 1]), bytes([10, 9, 0, 2])
    for c in range(conns):
        sp = 40000 + c
        for k in range(pkts):
            up = k % 2 == 0
            src, dst, a, b = (cli, srv, sp, 443) if up else (srv, cli, 443, sp)
            seg = struct.pack(">HHIIBBHHH", a, b, k, k, 5 << 4, 0x18, 65535, 0, 0) + b"z" * 400
            ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(seg), k, 0, 64, 6, 0, src, dst) + seg
            frame = b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00" + ip
            out.append(struct.pack("<IIII", t // 10**6, t % 10**6, len(frame), len(frame)) + frame)
            t += 200
    with open(path, "wb") as f:
        f.write(b"".join(out))


def tcp_by_connection(tmp):
    """The reader spreads TCP by connection: the connections between two
    hosts go to more than one worker (by host pair, as JOY_DISPATCH=hosts
    does, one worker gets them all); fragmented TCP segments in every order
    stay in their flows (the records equal threads=1's, above and here)."""
    cap = os.path.join(tmp, "two_hosts.pcap")
    two_hosts_pcap(cap)
    ref = run_joy(JOY, cap, os.path.join(tmp, "h1.json"), ["threads=1"])
    for disp in (None, "hosts"):
        got = run_joy(JOY, cap, os.path.join(tmp, "h2.json"), ["-vv", "threads=2"],
                      reader_meters=0, dispatch=disp)
        counts = [int(x) for x in re.findall(r"worker \d+: [0-9.]+ s CPU, (\d+) packets", got[3])]
        what = "two hosts, 40 TCP connections, threads=2%s" % (" JOY_DISPATCH=hosts" if disp else "")
        if got[0] != ref[0] or records(got[1]) != records(ref[1]):
            bad(what, "records differ from threads=1")
        elif len(counts) != 2 or sum(counts) != 40 * 60:
            bad(what, "worker packet counts %s (want 2 workers, 2400 packets)" % counts)
        elif disp is None and min(counts) < 40 * 60 // 4:
            bad(what, "connections not spread: workers metered %s packets" % counts)
        elif disp == "hosts" and min(counts) != 0:
            bad(what, "one host pair on two workers: %s packets" % counts)
        else:
            ok(what)
            print("%s: the workers metered %s packets" % (what, counts))
    os.unlink(cap)
    cap = os.path.join(tmp, "tcpfrag.pcap")
    synth_pcap(cap, 5, 3000, orphans=True)
    ref = run_joy(JOY, cap, os.path.join(tmp, "f1.json"), FULL + ["threads=1"])
    seen = [0, 0, 0, 0]
    for t, rm in ((2, 1), (2, 0), (4, 1), (4, 0)):
        got = run_joy(JOY, cap, os.path.join(tmp, "f2.json"), FULL + ["-vv", "threads=%d" % t],
                      reader_meters=rm, backlog=256 if rm else None)
        m = re.search(r"TCP later fragments: (\d+) after their first, (\d+) before it \(held: "
                      r"(\d+) then followed it\), (\d+) without it", got[3])
        what = "TCP fragments in every order threads=%d JOY_READER_METERS=%d" % (t, rm)
        if got[0] != ref[0] or records(got[1]) != records(ref[1]):
            bad(what, "records differ from threads=1")
        elif not m:
            bad(what, "no TCP fragment statistics: %s" % got[3][-300:])
        else:
            seen = [x + int(y) for x, y in zip(seen, m.groups())]
            ok(what)
    if seen[0] and seen[2] and seen[3]:
        ok("TCP later fragments: after their first, held for it, and without it")
        print("TCP later fragments in 4 runs: %d after their first, %d held then followed it, "
              "%d without it" % (seen[0], seen[2], seen[3]))
    else:
        bad("TCP fragment cases", "not every case met: %s" % seen)
    got = run_joy(JOY, cap, os.path.join(tmp, "f2.json"), FULL + ["threads=2"], reader_meters=1,
                  backlog=256, dispatch="hosts")
    if got[0] == ref[0] and records(got[1]) == records(ref[1]):
        ok("TCP fragments in every order JOY_DISPATCH=hosts")
    else:
        bad("TCP fragments in every order JOY_DISPATCH=hosts", "records differ from threads=1")
    os.unlink(cap)


def tsan_signals(tmp, env):
    """build-tsan/joy threads=2 reading a FIFO with -G, a unix: stream and a
    flush interval, while SIGHUP and SIGUSR1 arrive: no race, every record
    in the files and in the stream."""
    import socket
    import threading
    cap = os.path.join(tmp, "synth1.pcap")
    ref = run_joy(JOY, cap, os.path.join(tmp, "sig1.json"), ["threads=1"])
    with open(cap, "rb") as f:
        blob = f.read()
    fifo = os.path.join(tmp, "sig.fifo")
    os.mkfifo(fifo)
    d = os.path.join(tmp, "sig")
    os.mkdir(d)
    path = os.path.join(tmp, "sig.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    data = []

    def accept():
        c, _ = srv.accept()
        while True:
            b = c.recv(65536)
            if not b:
                break
            data.append(b)
        c.close()
    t = threading.Thread(target=accept, daemon=True)
    t.start()
    p = subprocess.Popen([JOY_TSAN, "-v", "-r", fifo, "-G", "60", "-w", os.path.join(d, "f.json.gz"),
                          "-w", "unix:" + path, "threads=2"], stderr=subprocess.PIPE, env=env)
    w = open(fifo, "wb")
    parts = 4
    for k in range(parts):
        w.write(blob[k * len(blob) // parts:(k + 1) * len(blob) // parts])
        w.flush()
        time.sleep(0.5)
        p.send_signal(signal.SIGHUP)
        time.sleep(0.1)
        p.send_signal(signal.SIGUSR1)
    w.close()
    _, err = p.communicate(timeout=600)
    t.join(30)
    srv.close()
    err = err.decode("utf-8", "replace")
    got = []
    files = sorted(os.listdir(d))
    for f in files:
        with gzip.open(os.path.join(d, f), "rb") as g:
            got += g.read().splitlines()[1:]
    stream = b"".join(data).splitlines()[1:]
    what = "tsan threads=2 with SIGHUP, SIGUSR1, -G, a file and a unix: stream"
    if "ThreadSanitizer" in err or p.returncode != ref[0] or [f for f in files if f.endswith(".part")]:
        bad(what, "exit %d, files %s\n%s" % (p.returncode, files, err[-2000:]))
    elif sorted(got) != records(ref[1]) or sorted(stream) != records(ref[1]):
        bad(what, "records differ from threads=1 (%d files)" % len(files))
    elif "statistics (SIGUSR1): worker 1:" not in err or len(files) < 3:
        bad(what, "no per-worker statistics or too few files: %s %s" % (files, err[-500:]))
    else:
        ok(what)
        print("%s: %d files" % (what, len(files)))


# ---------------------------------------------------------------------------
# Live
SERVER = r"""
import selectors, socket, sys
sel = selectors.DefaultSelector()
for fam, addr in ((socket.AF_INET, sys.argv[1]), (socket.AF_INET6, sys.argv[2])):
    u = socket.socket(fam, socket.SOCK_DGRAM); u.bind((addr, 7000)); sel.register(u, selectors.EVENT_READ, "u")
    t = socket.socket(fam, socket.SOCK_STREAM); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.bind((addr, 7001)); t.listen(64); sel.register(t, selectors.EVENT_READ, "l")
print("ready", flush=True)
while True:
    for key, _ in sel.select():
        s = key.fileobj
        if key.data == "u":
            d, a = s.recvfrom(65535); s.sendto(d[:len(d)], a)
        elif key.data == "l":
            c, _ = s.accept(); sel.register(c, selectors.EVENT_READ, "c")
        else:
            try:
                d = s.recv(65535)
            except OSError:
                d = b""
            if d:
                s.sendall(d[:100])
            else:
                sel.unregister(s); s.close()
"""

CLIENT = r"""
import socket, sys, time
a4, a6, big = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
socks = []
for i in range(300):
    fam, addr = (socket.AF_INET6, a6) if i % 4 == 0 else (socket.AF_INET, a4)
    s = socket.socket(fam, socket.SOCK_DGRAM); s.settimeout(2)
    size = 3000 if i % 10 == 3 else 50 + i          # every 10th: fragmented both ways
    for k in range(2):
        s.sendto(b"q" * size, (addr, 7000))
        try:
            s.recvfrom(65535)
        except OSError:
            pass
    socks.append(s)
for i in range(20):
    fam, addr = (socket.AF_INET6, a6) if i % 2 else (socket.AF_INET, a4)
    c = socket.create_connection((addr, 7001), timeout=3)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for k in range(3):
        c.sendall(b"hello %d" % k); c.recv(100)
    c.close()
if big:
    c = socket.create_connection((a4, 7001), timeout=5)
    c.sendall(b"z" * 2000000); c.shutdown(socket.SHUT_WR)
    while c.recv(65536):
        pass
    c.close()
time.sleep(0.3)
for s in socks:
    s.close()
print("done", flush=True)
"""


def sh(*args, check=True):
    p = subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if check and p.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(args), p.stderr.decode().strip()))
    return p


def key_counts(recs, ours):
    out = []
    for r in recs:
        if not ours(r):
            continue
        out.append((r["sa"], r["da"], r["pr"], r.get("sp"), r.get("dp"), r.get("num_pkts_out"),
                    r.get("num_pkts_in"), r.get("bytes_out"), r.get("bytes_in")))
    return sorted(out, key=repr)


def live(tmp):
    if os.geteuid() != 0:
        skip("live", "needs root (network namespaces, AF_PACKET)")
        return
    if not shutil.which("ip") or sh("ip", "netns", "list", check=False).returncode != 0:
        skip("live", "`ip netns` is unavailable")
        return
    dumpcap = shutil.which("dumpcap") or shutil.which("tcpdump")
    tag = "%d" % (os.getpid() % 100000)
    na, nb, va, vb = "jthr_a" + tag, "jthr_b" + tag, "jta" + tag, "jtb" + tag
    a4, b4, a6, b6 = "10.77.0.1", "10.77.0.2", "fd77::1", "fd77::2"
    procs = []
    try:
        try:
            sh("ip", "netns", "add", na)
            sh("ip", "netns", "add", nb)
            sh("ip", "link", "add", va, "type", "veth", "peer", "name", vb)
            sh("ip", "link", "set", va, "netns", na)
            sh("ip", "link", "set", vb, "netns", nb)
            for ns, dev, a, b in ((na, va, a4, a6), (nb, vb, b4, b6)):
                sh("ip", "-n", ns, "addr", "add", a + "/24", "dev", dev)
                sh("ip", "-n", ns, "addr", "add", b + "/64", "dev", dev, "nodad")
                sh("ip", "-n", ns, "link", "set", dev, "up")
                sh("ip", "-n", ns, "link", "set", "lo", "up")
        except (RuntimeError, OSError) as e:
            skip("live", "cannot make network namespaces: %s" % e)
            return
        srv = subprocess.Popen(["ip", "netns", "exec", nb, sys.executable, "-c", SERVER, b4, b6],
                               stdout=subprocess.PIPE)
        procs.append(srv)
        srv.stdout.readline()

        def ours(r):
            return r.get("pr") in (6, 17) and (r.get("sp") in (7000, 7001) or r.get("dp") in (7000, 7001))

        # refusing flow-splitting modes
        p = sh("ip", "netns", "exec", nb, JOY, "-i", vb, "capture=afpacket", "threads=2", "fanout=cpu",
               check=False)
        if p.returncode == 2 and b"fanout_unsafe" in p.stderr:
            ok("fanout=cpu refused")
        else:
            bad("fanout=cpu refused", "exit %d: %s" % (p.returncode, p.stderr.decode()[-300:]))

        modes = [("afpacket", "addr"), ("afpacket", "hash"), ("pcap", "addr"),
                 ("afpacket", "cpu")]
        for cap, fan in modes:
            name = "live capture=%s fanout=%s" % (cap, fan)
            out = os.path.join(tmp, "live-%s-%s.json" % (cap, fan))
            ref = os.path.join(tmp, "live-%s-%s.pcap" % (cap, fan))
            args = ["ip", "netns", "exec", nb, JOY, "-v", "-i", vb, "-w", out, "threads=2",
                    "capture=" + cap, "fanout=" + fan]
            if fan == "cpu":
                args.append("fanout_unsafe=1")
            j = subprocess.Popen(args, stderr=subprocess.PIPE)
            procs.append(j)
            d = None
            if dumpcap:
                # a 64 MiB buffer; what the reference itself dropped is read
                # from its exit summary (a busy machine can starve it)
                dargs = ([dumpcap, "-q", "-B", "64", "-i", vb, "-P", "-w", ref]
                         if "dumpcap" in dumpcap else [dumpcap, "-B", "65536", "-i", vb, "-w", ref])
                d = subprocess.Popen(["ip", "netns", "exec", nb] + dargs, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
                procs.append(d)
            time.sleep(1.5)
            c = subprocess.run(["ip", "netns", "exec", na, sys.executable, "-c", CLIENT, b4, b6,
                                "1" if fan == "hash" else "0"], stdout=subprocess.PIPE, timeout=120)
            time.sleep(0.5)
            j.send_signal(signal.SIGINT)
            if d:
                d.send_signal(signal.SIGINT)
            _, err = j.communicate(timeout=60)
            err = err.decode("utf-8", "replace")
            ref_dropped = 0
            if d:
                _, derr = d.communicate(timeout=30)
                derr = derr.decode("utf-8", "replace")
                # dumpcap: "... (pcap:N/dumpcap:N/flushed:N/ps_ifdrop:N)";
                # tcpdump: "N packets dropped by kernel"
                ref_dropped = sum(int(x) for x in re.findall(
                    r"(?:pcap|dumpcap|ps_ifdrop):(\d+)", derr))
                ref_dropped += sum(int(x) for x in re.findall(r"(\d+) packets dropped by kernel", derr))
            if j.returncode != 0 or c.returncode != 0:
                bad(name, "exit %d (client %d): %s" % (j.returncode, c.returncode, err[-500:]))
                continue
            with open(out) as f:
                recs = [json.loads(l) for l in f.read().splitlines()[1:]]
            mine = [r for r in recs if ours(r)]
            keys = {}
            for r in mine:
                k = (r["pr"],) + tuple(sorted([(r["sa"], r.get("sp")), (r["da"], r.get("dp"))]))
                keys.setdefault(k, []).append(r)
            split = [k for k, v in keys.items() if len(v) != 1 or not v[0].get("num_pkts_in")
                     or not v[0].get("num_pkts_out")]
            if fan == "cpu":
                ok(name + " runs") if mine else bad(name, "no records")
                continue
            if len(keys) < 300 or split:
                bad(name, "%d flows, %d split or one-sided, e.g. %s" % (len(keys), len(split), split[:2]))
            else:
                ok(name + ": no flow split")
            frag = [r for r in mine if r["pr"] == 17 and r.get("bytes_out", 0) >= 6000]
            if len(frag) < 25 or any(r.get("bytes_in", 0) < 6000 for r in frag):
                bad(name, "fragmented datagrams not counted in their flows (%d flows)" % len(frag))
            else:
                ok(name + ": fragments in their flows")
            # kernel counts = read + dropped (afpacket); summary packets = read
            m = re.search(r"joy: (\d+) packets received by filter, (\d+) dropped by kernel", err)
            reads = [int(x) for x in re.findall(r"worker \d+: \d+ packets received by filter, \d+ "
                                                 r"dropped by kernel, (\d+) read", err)]
            s = SUMMARY.search(err)
            if not m or not s:
                bad(name, "no statistics line: " + err[-400:])
            elif cap == "afpacket" and (len(reads) != 2 or int(m.group(1)) != sum(reads) + int(m.group(2))
                                        or int(s.group(1)) != sum(reads)):
                bad(name, "kernel %s + %s dropped != read %s" % (m.group(1), m.group(2), reads))
            else:
                ok(name + ": kernel packets = read + dropped")
                print("%s: %s packets, %s dropped, per worker read %s" % (name, m.group(1), m.group(2),
                                                                           reads or "-"))
            if fan == "hash":
                if "longer than the MTU" in err:
                    ok(name + ": GSO warning")
                else:
                    skip(name + ": GSO warning", "no super-packet seen (offloads off?)")
            if not d:
                skip(name + " vs pcap", "neither dumpcap nor tcpdump installed")
                continue
            off = os.path.join(tmp, "off.json")
            rc, lines, _, _ = run_joy(JOY, ref, off, [])
            offrecs = [json.loads(l) for l in lines[1:]]
            a, b = key_counts(recs, ours), key_counts(offrecs, ours)
            if rc == 0 and a != b and ref_dropped:
                skip(name + " vs pcap", "the reference capture itself dropped %d packets "
                     "(a busy machine); joy's own counts were checked above" % ref_dropped)
            elif rc != 0 or a != b:
                diff = [x for x in a if x not in b][:2] + [x for x in b if x not in a][:2]
                bad(name + " vs pcap", "%d vs %d flows; differ: %s" % (len(a), len(b), diff))
            else:
                ok(name + " = offline records of the captured pcap")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        sh("ip", "netns", "del", na, check=False)
        sh("ip", "netns", "del", nb, check=False)


def main():
    tmp = tempfile.mkdtemp(prefix="joy-threads-")
    try:
        offline(tmp)
        live(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Outputs by URL, IPFIX export and collection, streams, the metadata line.

  - the metadata line: "options" object, metadata=0, several -w at once
  - IPFIX: joy -> joy round trips over UDP, TCP and from a capture of the
    export (every field the eta profile carries); UDP messages fill the path
    MTU (loopback 65536, a namespace's loopback set to 9000) or ipfix_mtu /
    ?mtu=, never more, and the datagrams read back give every record; nfcapd/nfdump decode
    joy's export with tshark's packets and IP bytes per conversation;
    tshark's cflow dissector reads it without errors; softflowd's IPFIX
    (biflows) and NetFlow v9 to joy's collector and to nfcapd give the same
    flows and totals; hostile messages (truncations, floods) never crash
  - tcp:// and unix: JSON Lines streams: byte-equal delivery; a peer that
    comes late gets everything in order (spill and replay); drop counts
  - threads=2 with several -w (a gzip file, tcp://, unix:, ipfix+file:,
    ipfix+tcp://): every worker's records reach every destination through
    the writer thread: the same multiset of lines as threads=1's file, and
    the IPFIX export read back by joy's collector keeps every field

Tools that are absent (nfcapd, softflowd, tshark) skip their cases with a
message.  Interpreter: any Python 3 (standard library only).
"""
import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JOY = os.environ.get("JOY", os.path.join(ROOT, "joy"))
R = {"passed": 0, "failed": 0, "skipped": 0}
SAMPLE = os.path.join(ROOT, "test", "data", "sample.pcap")
ROUND = ["sa", "da", "pr", "sp", "dp", "bytes_out", "num_pkts_out", "bytes_in", "num_pkts_in",
         "time_start", "time_end", "packets", "byte_dist", "idp_out", "idp_in", "expire_type"]


def check(name, ok, detail=""):
    R["passed" if ok else "failed"] += 1
    print("%s %s%s" % ("ok  " if ok else "FAIL", name, "" if ok else ": " + str(detail)[:700]))


def skip(name, why):
    R["skipped"] += 1
    print("skip %s: %s" % (name, why))


def joy(*args, timeout=120, **kw):
    return subprocess.run([JOY] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout, **kw)


def load(path):
    with open(path) as f:
        objs = [json.loads(l) for l in f if l.strip()]
    return objs[0] if objs and "version" in objs[0] else None, [o for o in objs if "version" not in o]


def free_port(kind=socket.SOCK_DGRAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def key5(r):
    return (r["pr"], r["sa"], r.get("sp"), r["da"], r.get("dp"))


def collector(port, out, *extra):
    p = subprocess.Popen([JOY, "ipfix_collect_port=%d" % port, "ipfix_collect_online=1", "-w", out,
                          "verbosity=2"] + list(extra), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    deadline = time.time() + 10
    while time.time() < deadline:  # listening when the TCP port answers
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    return p


def stop(p):
    time.sleep(0.5)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=30)
    return p.returncode, err.decode()


def pcap_of_udp(path, payloads, dport, sport=40000):
    """Each payload as an IPv4/UDP datagram 127.0.0.1:sport -> :dport (raw IP pcap)."""
    out = [struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 262144, 101)]
    for i, pl in enumerate(payloads):
        udp = struct.pack(">HHHH", sport, dport, 8 + len(pl), 0) + pl
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i & 0xffff, 0, 64, 17, 0,
                         b"\x7f\0\0\1", b"\x7f\0\0\1") + udp
        out.append(struct.pack("<IIII", 1700000000 + i, 0, len(ip), len(ip)) + ip)
    with open(path, "wb") as f:
        f.write(b"".join(out))


def ipfix_messages(blob):
    msgs, off = [], 0
    while off + 4 <= len(blob):
        n = struct.unpack(">H", blob[off + 2:off + 4])[0]
        if n < 16:
            break
        msgs.append(blob[off:off + n])
        off += n
    return msgs


def compare(a, b, keys=ROUND):
    """Records of a and b by 5-tuple and start: the keys that differ."""
    idx = {}
    for r in b:
        idx.setdefault((key5(r), r.get("time_start")), []).append(r)
    bad = []
    for r in a:
        m = idx.get((key5(r), r.get("time_start")))
        if not m:
            bad.append(("missing", key5(r)))
            continue
        o = m.pop(0)
        for k in keys:
            if r.get(k) != o.get(k):
                bad.append((k, key5(r), str(r.get(k))[:60], str(o.get(k))[:60]))
    return bad


def main():
    tmp = tempfile.mkdtemp(prefix="joy-export-")
    try:
        subprocess.run([sys.executable, os.path.join(ROOT, "test", "gen_pcaps.py"), tmp],
                       check=True, stdout=subprocess.DEVNULL)
        caps = [SAMPLE] + sorted(os.path.join(tmp, n) for n in os.listdir(tmp)
                                 if n.endswith(".pcap") and os.path.getsize(os.path.join(tmp, n)) < 2e6)
        for fn in (metadata_cases, ipfix_roundtrips, ipfix_udp_sizes, ipfix_capture_and_hostile,
                   nfcapd_cases,
                   tshark_cases, softflowd_cases, stream_cases, threads_cases):
            try:
                fn(tmp, caps)
            except Exception as e:  # noqa: BLE001
                check(fn.__name__, False, "%s: %s" % (type(e).__name__, e))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed, %d skipped" % (R["passed"], R["failed"], R["skipped"]))
    return 1 if R["failed"] else 0


# ---------------------------------------------------------------------------
def metadata_cases(tmp, caps):
    p = joy("-r", SAMPLE, "tls=1", "dns=1", "http=1", "ppi=1", "hd=1", "wht=1", "payload=4")
    lines = p.stdout.decode().splitlines()
    meta = json.loads(lines[0])
    check("metadata line: version, schema, options, inputs only",
          sorted(meta) == ["inputs", "options", "schema", "version"] and
          meta["schema"] == "joy-flow-3", sorted(meta))
    rec_keys = set()
    for l in lines[1:]:
        rec_keys |= set(json.loads(l))
    check("no metadata key collides with a record key", not (set(meta) & rec_keys),
          set(meta) & rec_keys)
    check("the options hold every option (tls is a number there)",
          meta["options"]["tls"] == 1 and meta["options"]["output"] is None)
    p2 = joy("-r", SAMPLE, "metadata=0")
    check("metadata=0 leaves the line out, records unchanged",
          p2.stdout.decode().splitlines() == lines[1:] or
          [json.loads(l) for l in p2.stdout.decode().splitlines()] ==
          [json.loads(l) for l in joy("-r", SAMPLE).stdout.decode().splitlines()[1:]])
    a, b = os.path.join(tmp, "m.json"), os.path.join(tmp, "m.json.gz")
    p = joy("-r", SAMPLE, "-w", a, "-w", b)
    import gzip
    with gzip.open(b, "rt") as f:
        gz = f.read()
    check("-w twice: a plain and a gzip file, the same lines",
          p.returncode == 0 and open(a).read() == gz, p.stderr)
    meta, _ = load(a)
    check("-w twice: output= the first, outputs= the others",
          meta["options"]["output"] == a and meta["options"]["outputs"] == [b])
    p = joy("-r", SAMPLE, "-w", "tcp://127.0.0.1:1?on_full=maybe")
    check("a bad URL parameter: exit 1 naming it", p.returncode == 1 and b"on_full" in p.stderr,
          p.stderr)
    p = joy("-r", SAMPLE, "export_on_full=maybe")
    check("a bad export_on_full: exit 2", p.returncode == 2, p.stderr)


# ---------------------------------------------------------------------------
def ipfix_roundtrips(tmp, caps):
    opts = ["ipfix_export_template=eta", "dist=1", "idp=200", "bidir=1"]
    for proto in ("udp", "tcp"):
        port = free_port(socket.SOCK_STREAM)
        out = os.path.join(tmp, "coll-%s.json" % proto)
        ref = os.path.join(tmp, "ref-%s.json" % proto)
        col = collector(port, out)
        url = ("ipfix://127.0.0.1:%d" if proto == "udp" else "ipfix+tcp://127.0.0.1:%d") % port
        bad, n = [], 0
        for cap in caps:
            p = joy("-r", cap, "-w", ref, "-w", url, *opts)
            _, recs = load(ref)
            n += len(recs)
            time.sleep(0.05)
        rc, err = stop(col)
        _, got = load(out)
        allref = []
        for cap in caps:
            joy("-r", cap, "-w", ref, *opts)
            allref += load(ref)[1]
        bad = compare(allref, got)
        check("joy -> IPFIX/%s (eta profile) -> joy keeps every field (%d records)" % (proto.upper(), n),
              rc == 0 and len(got) == len(allref) and not bad, (rc, len(got), len(allref), bad[:5], err[-300:]))
    # Joy's keys map onto the same sink
    port = free_port()
    out = os.path.join(tmp, "coll-keys.json")
    col = collector(port, out)
    p = joy("-r", SAMPLE, "-w", os.devnull, "ipfix_export_port=%d" % free_port(),
            "ipfix_export_remote_port=%d" % port, "ipfix_export_remote_host=127.0.0.1")
    stop(col)
    ref = load(joy("-r", SAMPLE, "-w", os.path.join(tmp, "k.json")) and os.path.join(tmp, "k.json"))[1]
    check("Joy's ipfix_export_* keys export to the collector",
          p.returncode == 0 and len(load(out)[1]) == len(ref), p.stderr)


UDP_SIZES = r"""
import json, socket, subprocess, sys, threading
joy, cap, mtu, extra = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
if mtu != "-":
    subprocess.run(["ip", "link", "set", "lo", "up", "mtu", mtu], check=True)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
s.bind(("127.0.0.1", 0))
s.settimeout(1.0)
got = []
def rx():
    while True:
        try:
            got.append(s.recv(70000).hex())
        except socket.timeout:
            return
t = threading.Thread(target=rx)
t.start()
url = "ipfix://127.0.0.1:%d" % s.getsockname()[1]
if extra and extra[0].startswith("?"):
    url, extra = url + extra[0], extra[1:]
p = subprocess.run([joy, "-r", cap, "-w", "/dev/null", "-w", url] + extra, stderr=subprocess.PIPE)
t.join()
print(json.dumps({"rc": p.returncode, "err": p.stderr.decode()[-300:], "dgrams": got}))
"""


def udp_export(tmp, cap, mtu="-", *extra, netns=False):
    """joy -r cap -w ipfix://127.0.0.1:P [extra]: (exit status, stderr, the datagrams)."""
    cmd = [sys.executable, "-c", UDP_SIZES, JOY, cap, mtu] + list(extra)
    if netns:
        cmd = ["unshare", "-n"] + cmd
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    if p.returncode != 0:
        return None, p.stderr.decode()[-300:], []
    r = json.loads(p.stdout)
    return r["rc"], r["err"], [bytes.fromhex(d) for d in r["dgrams"]]


def ipfix_udp_sizes(tmp, caps):
    """UDP messages fill the path MTU and never exceed it; read back, the
    datagrams give every record (joy's collector from a capture of them)."""
    # 3000 one-packet UDP flows: about 180 KB of IPFIX records
    cap = os.path.join(tmp, "many-flows.pcap")
    out = [struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 262144, 101)]
    for i in range(3000):
        udp = struct.pack(">HHHH", 1024 + i, 53, 8 + 4, 0) + b"flow"
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i, 0, 64, 17, 0,
                         bytes([10, 0, i >> 8, i & 255]), b"\x0a\x09\x09\x09") + udp
        out.append(struct.pack("<IIII", 1700000000, i, len(ip), len(ip)) + ip)
    with open(cap, "wb") as f:
        f.write(b"".join(out))
    ref = os.path.join(tmp, "sizes-ref.json")
    joy("-r", cap, "-w", ref)
    want = sorted(key5(r) for r in load(ref)[1])

    def records_of(dgrams, name):
        pc = os.path.join(tmp, name + ".pcap")
        pcap_of_udp(pc, dgrams, 4739)
        out = os.path.join(tmp, name + ".json")
        joy("-r", pc, "-w", out, "ipfix_collect_port=4739")
        return sorted(key5(r) for r in load(out)[1])

    def well_formed(dgrams):
        return all(len(d) >= 16 and d[:2] == b"\0\x0a" and struct.unpack(">H", d[2:4])[0] == len(d)
                   for d in dgrams)

    cases = [("loopback's path MTU (65536)", "-", (), 60000, 65507, False),
             ("ipfix_mtu=1500", "-", ("ipfix_mtu=1500",), 1400, 1472, False),
             ("?mtu=1500", "-", ("?mtu=1500",), 1400, 1472, False)]
    if os.geteuid() == 0 and shutil.which("unshare") and shutil.which("ip"):
        cases.append(("a namespace whose loopback has MTU 9000", "9000", (), 8900, 9000 - 28, True))
    else:
        skip("IPFIX path MTU in a namespace", "needs root, unshare and ip")
    for name, mtu, extra, lo, hi, ns in cases:
        rc, err, dgrams = udp_export(tmp, cap, mtu, *extra, netns=ns)
        sizes = [len(d) for d in dgrams]
        got = records_of(dgrams, "sizes%d" % len(sizes))
        check("IPFIX/UDP, %s: %d datagrams filled to %d-%d bytes (largest %d), every record read "
              "back (%d)" % (name, len(sizes), lo, hi, max(sizes or [0]), len(want)),
              rc == 0 and sizes and lo < max(sizes) <= hi and well_formed(dgrams) and got == want,
              (rc, err, sizes[:20], len(got), len(want)))
    for bad, said in (("?mtu=100", "mtu=100"), ("ipfix_mtu=100", "mtu=100"),
                      ("?mtu=70000", "mtu=70000")):
        rc, err, dgrams = udp_export(tmp, cap, "-", bad)
        check("IPFIX/UDP %s: refused with a clear message" % bad,
              rc not in (0, None) and said + ": give 576-65535" in err and not dgrams, (rc, err))


def ipfix_capture_and_hostile(tmp, caps):
    f = os.path.join(tmp, "x.ipfix")
    ref = os.path.join(tmp, "x.json")
    opts = ["ipfix_export_template=eta", "dist=1", "idp=100"]
    p = joy("-w", ref, "-w", "ipfix+file:" + f, *opts, *caps)
    msgs = ipfix_messages(open(f, "rb").read())
    check("ipfix+file: a file of IPFIX messages", msgs and
          all(m[:2] == b"\x00\x0a" for m in msgs), p.stderr)
    pc = os.path.join(tmp, "x.pcap")
    pcap_of_udp(pc, msgs, 4739)
    out = os.path.join(tmp, "x-coll.json")
    p = joy("-r", pc, "ipfix_collect_port=4739", "-w", out)
    bad = compare(load(ref)[1], load(out)[1])
    check("collector from a capture (-r, UDP to ipfix_collect_port) keeps every field",
          p.returncode == 0 and len(load(out)[1]) == len(load(ref)[1]) and not bad, bad[:5])
    meta, recs = load(out)
    check("collected records carry ip_bytes and the exporter",
          recs and all("ip_bytes_out" in r and r["ipfix"]["exporter"].startswith("127.0.0.1:")
                       for r in recs))
    # hostile: truncations, bit flips, template floods, data before template
    rnd = random.Random(7)
    bads = []
    for m in msgs[:20]:
        for _ in range(30):
            b = bytearray(m)
            for _ in range(rnd.randint(1, 8)):
                b[rnd.randrange(len(b))] = rnd.randrange(256)
            bads.append(bytes(b[:rnd.randint(0, len(b))]))
    flood = []
    for i in range(300):
        sets = b""
        for t in range(200):
            body = struct.pack(">HH", 256 + (i * 200 + t) % 65000, 2) + struct.pack(">HHHH", 8, 4, 12, 4)
            sets += body
        hdr = struct.pack(">HHIII", 10, 16 + 4 + len(sets), 0, i, 1)
        flood.append(hdr + struct.pack(">HH", 2, 4 + len(sets)) + sets)
    data_first = [struct.pack(">HHIII", 10, 28, 0, 0, 5) + struct.pack(">HH", 300, 12) + b"\0" * 8]
    v9 = struct.pack(">HHIIII", 9, 1, 1000, 1700000000, 0, 0) + struct.pack(">HH", 0, 4 + 4 + 8) + \
        struct.pack(">HH", 400, 2) + struct.pack(">HHHH", 8, 4, 12, 4) + \
        struct.pack(">HH", 400, 12) + b"\x0a\0\0\1\x0a\0\0\2"
    v5 = struct.pack(">HHIIIIBBH", 5, 1, 1000, 1700000000, 0, 0, 0, 0, 0) + \
        struct.pack(">4s4s4sHHIIIIHHBBBBHHBBH", b"\x0a\0\0\1", b"\x0a\0\0\2", b"\0" * 4, 0, 0, 3,
                    180, 500, 900, 1234, 80, 0, 0x1b, 6, 0, 0, 0, 0, 0, 0)
    pcap_of_udp(pc, bads + flood + data_first + [v9, v5], 4739)
    out = os.path.join(tmp, "h.json")
    p = joy("-r", pc, "ipfix_collect_port=4739", "-w", out, "verbosity=2", timeout=120)
    ok = p.returncode == 0
    try:
        _, recs = load(out)
    except ValueError:
        ok, recs = False, []
    check("hostile IPFIX/NetFlow: no crash, valid JSON, bounded templates",
          ok and b"evicted" in p.stderr, p.stderr[-400:])
    v5r = [r for r in recs if r.get("ipfix", {}).get("version") == 5]
    v9r = [r for r in recs if r.get("ipfix", {}).get("version") == 9]
    check("NetFlow v5: a record with counters and times",
          len(v5r) == 1 and v5r[0]["num_pkts_out"] == 3 and v5r[0]["ip_bytes_out"] == 180 and
          v5r[0]["dp"] == 80 and round(v5r[0]["time_end"] - v5r[0]["time_start"], 6) == 0.4, v5r)
    check("NetFlow v9: template then data", len(v9r) == 1 and v9r[0]["da"] == "10.0.0.2", v9r)
    asan = os.environ.get("JOY_ASAN")
    if asan and os.path.exists(asan):
        p = subprocess.run([asan, "-r", pc, "ipfix_collect_port=4739", "-w", os.devnull],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
        check("hostile IPFIX under ASan/UBSan", p.returncode == 0, p.stderr[-500:])


# ---------------------------------------------------------------------------
def tshark_conversations(caps):
    """address pair -> [packets, ip bytes] as tshark counts them."""
    conv = {}
    for cap in caps:
        p = subprocess.run(["tshark", "-n", "-r", cap, "-T", "fields", "-E", "separator=,", "-E", "aggregator=;",
                            "-e", "ip.src", "-e", "ip.dst", "-e", "ipv6.src", "-e", "ipv6.dst",
                            "-e", "ip.proto", "-e", "ipv6.nxt", "-e", "ip.len", "-e", "ipv6.plen",
                            "-e", "ip.frag_offset", "-Y", "ip or ipv6"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        for line in p.stdout.splitlines():
            f = line.split(",")
            if len(f) < 9:
                continue
            first = lambda s: s.split(";")[0]  # noqa: E731 - outer header of tunnels
            if f[0]:
                a, b, pr, n = first(f[0]), first(f[1]), first(f[4]), int(first(f[6]) or 0)
            else:
                a, b, pr, n = first(f[2]), first(f[3]), first(f[5]), int(first(f[7]) or 0) + 40
            k = tuple(sorted((a, b)))
            c = conv.setdefault(k, [0, 0])
            c[0] += 1
            c[1] += n
    return conv


def nfcapd_cases(tmp, caps):
    if not shutil.which("nfcapd") or not shutil.which("nfdump") or not shutil.which("tshark"):
        return skip("nfcapd interop", "nfcapd/nfdump or tshark not installed (Debian nfdump)")
    port = free_port()
    d = os.path.join(tmp, "nf")
    os.mkdir(d)
    nf = subprocess.Popen(["nfcapd", "-b", "127.0.0.1", "-p", str(port), "-w", d, "-B", "8000000"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)
    sel = [c for c in caps if "frag" not in c and "tunnel" not in c and "gre" not in c]
    jconv = {}
    for cap in sel:
        j = os.path.join(tmp, "nfj.json")
        joy("-r", cap, "-w", j, "-w", "ipfix://127.0.0.1:%d" % port)
        for r in load(j)[1]:
            c = jconv.setdefault(tuple(sorted((r["sa"], r["da"]))), [0])
            c[0] += r["num_pkts_out"] + r.get("num_pkts_in", 0)
    time.sleep(1)
    nf.send_signal(signal.SIGTERM)
    nf.wait(timeout=30)
    files = [os.path.join(d, n) for n in os.listdir(d) if n.startswith("nfcapd.")]
    rows = []
    for fn in files:
        p = subprocess.run(["nfdump", "-r", fn, "-o", "csv", "-q"], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
        rows += [l.split(",") for l in p.stdout.splitlines() if l.count(",") > 14]
    conv = {}  # by address pair: tshark names IPv6 extension headers as the protocol
    for r in rows:
        k = tuple(sorted((r[3], r[4])))
        c = conv.setdefault(k, [0, 0])
        c[0] += int(r[11]) + int(r[13])
        c[1] += int(r[12]) + int(r[14])
    want = tshark_conversations(sel)
    # packets: nfdump = joy's records, everywhere; IP bytes: nfdump = tshark
    # wherever joy and tshark count the same packets (joy leaves out what it
    # cannot decode: truncated or malformed headers, see tshark_check.py)
    pk = [(k, conv[k], jconv.get(k)) for k in conv if conv[k][0] != (jconv.get(k) or [0])[0]]
    same = [k for k in conv if want.get(k) and want[k][0] == conv[k][0]]
    diff = [(k, conv[k], want[k]) for k in same if conv[k] != want[k]]
    check("nfcapd decodes joy's IPFIX: flows and packets = joy's records (%d conversations)"
          % len(conv), rows and len(conv) == len(jconv) and not pk, pk[:5])
    check("nfcapd's packets and IP bytes per conversation = tshark's (%d of %d conversations "
          "where joy and tshark count the same packets)" % (len(same), len(conv)),
          len(same) >= len(conv) * 3 // 4 and not diff, diff[:5])


def tshark_cases(tmp, caps):
    if not shutil.which("tshark"):
        return skip("tshark IPFIX dissector", "tshark not installed")
    f = os.path.join(tmp, "t.ipfix")
    joy("-w", os.devnull, "-w", "ipfix+file:" + f, "ipfix_export_template=eta", "dist=1",
        "idp=64", *caps)
    msgs = ipfix_messages(open(f, "rb").read())
    pc = os.path.join(tmp, "t.pcap")
    pcap_of_udp(pc, msgs, 4739)
    p = subprocess.run(["tshark", "-n", "-r", pc, "-d", "udp.port==4739,cflow", "-V"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300)
    out = p.stdout
    nflows = out.count("\n        Flow ") + out.count("\n    FlowSet") * 0
    check("tshark's cflow dissector reads joy's IPFIX without errors",
          p.returncode == 0 and "Malformed" not in out and "[Expert Info (Error" not in out and
          "Cisco NetFlow/IPFIX" in out and "reverse" in out.lower(), p.stderr[-300:])


def softflowd_cases(tmp, caps):
    if not shutil.which("softflowd") or not shutil.which("nfcapd"):
        return skip("softflowd interop", "softflowd or nfcapd not installed")
    sel = [c for c in caps if "tcp" in os.path.basename(c) or "udp" in os.path.basename(c)][:8] or caps[:8]
    for version, extra in (("10", ["-b"]), ("9", [])):
        port = free_port(socket.SOCK_STREAM)
        out = os.path.join(tmp, "sf-%s.json" % version)
        col = collector(port, out)
        d = os.path.join(tmp, "sfnf" + version)
        os.mkdir(d)
        nport = free_port()
        nf = subprocess.Popen(["nfcapd", "-b", "127.0.0.1", "-p", str(nport), "-w", d],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
        for cap in sel:
            for dest in (port, nport):
                subprocess.run(["softflowd", "-r", cap, "-v", version, "-n", "127.0.0.1:%d" % dest]
                               + extra, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               timeout=60)
        time.sleep(1)
        stop(col)
        nf.send_signal(signal.SIGTERM)
        nf.wait(timeout=30)
        _, recs = load(out)
        rows = []
        for fn in os.listdir(d):
            if fn.startswith("nfcapd."):
                p = subprocess.run(["nfdump", "-r", os.path.join(d, fn), "-o", "csv", "-q"],
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
                rows += [l.split(",") for l in p.stdout.splitlines() if l.count(",") > 14]
        jp = sum(r["num_pkts_out"] + r.get("num_pkts_in", 0) for r in recs)
        jb = sum(r["ip_bytes_out"] + r.get("ip_bytes_in", 0) for r in recs)
        npk = sum(int(r[11]) + int(r[13]) for r in rows)
        nby = sum(int(r[12]) + int(r[14]) for r in rows)
        check("softflowd NetFlow/IPFIX v%s -> joy and nfcapd: same flows (%d) and totals"
              % (version, len(recs)), recs and len(recs) == len(rows) and (jp, jb) == (npk, nby),
              (len(recs), len(rows), jp, npk, jb, nby))


# ---------------------------------------------------------------------------
class Listener(threading.Thread):
    def __init__(self, family, addr, delay=0.0):
        super().__init__(daemon=True)
        self.family, self.addr, self.delay, self.data = family, addr, delay, b""
        self.ready = threading.Event()

    def run(self):
        time.sleep(self.delay)
        s = socket.socket(self.family, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(self.addr)
        s.listen(4)
        self.ready.set()
        s.settimeout(30)
        try:
            while True:
                c, _ = s.accept()
                c.settimeout(5)
                while True:
                    try:
                        b = c.recv(65536)
                    except socket.timeout:
                        break
                    if not b:
                        break
                    self.data += b
                c.close()
        except OSError:
            pass


def stream_cases(tmp, caps):
    ref = os.path.join(tmp, "s.json")
    joy("-r", SAMPLE, "-w", ref, *caps[:10])
    want = open(ref, "rb").read()
    port = free_port(socket.SOCK_STREAM)
    ln = Listener(socket.AF_INET, ("127.0.0.1", port))
    ln.start()
    ln.ready.wait(5)
    p = joy("-r", SAMPLE, "-w", "tcp://127.0.0.1:%d" % port, *caps[:10])
    time.sleep(0.5)
    check("tcp://: the same lines as the file, in order", p.returncode == 0 and
          ln.data.split(b"\n", 1)[1] == want.split(b"\n", 1)[1], (p.stderr[-200:], len(ln.data)))
    path = os.path.join(tmp, "s.sock")
    ln = Listener(socket.AF_UNIX, path)
    ln.start()
    ln.ready.wait(5)
    p = joy("-r", SAMPLE, "-w", "unix:" + path, *caps[:10])
    time.sleep(0.5)
    check("unix:: the same lines as the file", p.returncode == 0 and
          ln.data.split(b"\n", 1)[1] == want.split(b"\n", 1)[1], p.stderr[-200:])
    # a peer that comes 1.5 s late: queue of 5, spill, replay, all in order
    port = free_port(socket.SOCK_STREAM)
    ln = Listener(socket.AF_INET, ("127.0.0.1", port), delay=1.5)
    ln.start()
    spill = os.path.join(tmp, "spill.bin")
    p = joy("-r", SAMPLE, "-w", "tcp://127.0.0.1:%d?on_full=spill&queue=5&spill=%s" % (port, spill),
            "verbosity=2", *caps[:10])
    time.sleep(0.5)
    check("a late peer gets every record in order (spilled and replayed)",
          p.returncode == 0 and ln.data.split(b"\n", 1)[1] == want.split(b"\n", 1)[1] and
          b"spilled" in p.stderr and not os.path.exists(spill), p.stderr[-300:])
    # nobody listening: drop counts, and what was queued is reported undelivered
    port = free_port(socket.SOCK_STREAM)
    p = joy("-r", SAMPLE, "-w", "tcp://127.0.0.1:%d?on_full=drop&queue=2" % port,
            "kafka_flush_timeout=1", "verbosity=2")
    check("nobody listening, on_full=drop: exit 1, dropped and undelivered counted",
          p.returncode == 1 and b"dropped" in p.stderr and b"not delivered" in p.stderr,
          p.stderr[-300:])
    p = joy("-r", SAMPLE, "-w", "tcp://127.0.0.1:%d?on_full=spill&spill=%s" % (port, spill),
            "kafka_flush_timeout=1")
    check("nobody listening, on_full=spill: exit 1, the records kept in the spill file",
          p.returncode == 1 and os.path.exists(spill) and spill.encode() in p.stderr,
          p.stderr[-300:])


def threads_cases(tmp, caps):
    """threads=2 and several -w: every destination gets every worker's records."""
    opts = ["ipfix_export_template=eta", "dist=1", "idp=100", "bidir=1"]
    ref = os.path.join(tmp, "t1.json")
    p = joy("-w", ref, "threads=1", *opts, *caps)
    rc1 = p.returncode           # 1: the generated captures include damaged ones
    meta, want = load(ref)
    want_lines = sorted(open(ref, "rb").read().splitlines()[1:])
    port = free_port(socket.SOCK_STREAM)
    tl = Listener(socket.AF_INET, ("127.0.0.1", port))
    tl.start()
    path = os.path.join(tmp, "t.sock")
    ul = Listener(socket.AF_UNIX, path)
    ul.start()
    tl.ready.wait(5)
    ul.ready.wait(5)
    out = os.path.join(tmp, "t2.json.gz")
    xf = os.path.join(tmp, "t2.ipfix")
    p = joy("-w", out, "-w", "tcp://127.0.0.1:%d" % port, "-w", "unix:" + path,
            "-w", "ipfix+file:" + xf, "threads=2", *opts, *caps)
    time.sleep(0.5)
    import gzip
    got_file = sorted(gzip.open(out).read().splitlines()[1:])
    check("threads=2, four -w: accepted, the file = threads=1's records (%d)" % len(want_lines),
          p.returncode == rc1 and got_file == want_lines and len(want_lines) > 50,
          (p.returncode, p.stderr[-300:], len(got_file), len(want_lines)))
    for name, ln in (("tcp://", tl), ("unix:", ul)):
        lines = ln.data.splitlines()
        check("threads=2: %s gets the metadata line, then every worker's records" % name,
              lines and b'"version"' in lines[0] and sorted(lines[1:]) == want_lines,
              (len(lines), len(want_lines)))
    msgs = ipfix_messages(open(xf, "rb").read())
    pc = os.path.join(tmp, "t2.pcap")
    pcap_of_udp(pc, msgs, 4739)
    col = os.path.join(tmp, "t2-coll.json")
    p = joy("-r", pc, "ipfix_collect_port=4739", "-w", col)
    got = load(col)[1]
    bad = compare(want, got)
    check("threads=2: ipfix+file: read back by the collector keeps every field (%d records)" % len(got),
          p.returncode == 0 and len(got) == len(want) and not bad, (len(got), len(want), bad[:5]))
    # network destinations only (no file), over IPFIX/TCP to joy's collector
    port = free_port(socket.SOCK_STREAM)
    cout = os.path.join(tmp, "t-coll-tcp.json")
    c = collector(port, cout)
    p = joy("-w", "ipfix+tcp://127.0.0.1:%d" % port, "threads=2", *opts, *caps)
    rc, err = stop(c)
    got = load(cout)[1]
    bad = compare(want, got)
    check("threads=2, -w ipfix+tcp:// only: the collector gets every record with every field",
          p.returncode == rc1 and rc == 0 and len(got) == len(want) and not bad,
          (p.returncode, p.stderr[-300:], len(got), len(want), bad[:5]))


if __name__ == "__main__":
    sys.exit(main())

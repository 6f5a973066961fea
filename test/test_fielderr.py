#!/usr/bin/env python3
"""Regression tests for the field errors of issue #16 (not TLS).

Run:   python3 test/test_fielderr.py [-v]     (JOY=path overrides <repo>/joy)
Interpreter: any Python 3 (standard library only; the first python3 on PATH).
Last line: "N passed, N failed, N skipped"; exit 1 on any failure.

Every capture is written here with python struct; where tshark (or capinfos)
decodes the field, joy's value is compared with its value (skipped with a
message when tshark is not installed).

1. DNS: records with empty RDATA (RFC 2136 UPDATE prerequisites and deletes,
   class ANY/NONE) are not "malformed"; a record whose RDATA does not match its
   type still is.  NetBIOS name service (UDP 137) is written as "nbns" (id,
   flags, opcode, rcode, the name from the first-level encoding, suffix,
   scope), never as "dns"; checked against tshark's nbns.* fields.
2. HTTP: http_messages= (default 16, up to 1000) and "http_omitted" counting
   the messages left out of each direction.
3. Capture time going backwards by more than inactive_timeout (two halves of
   a capture swapped, as mergecap -a writes them): a new clock epoch, flows
   of the old epoch expire with the right reason, one warning, the statistic.
4. Times after 2554 (and far before it): pcap with nanosecond resolution and
   pcapng with if_tsresol/if_tsoffset print exactly (checked with tshark's
   frame.time_epoch).
5. Retransmission: one definition (doc/schema.md), checked on a reordered
   and a retransmitted segment.
"""
import gzip
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JOY = os.environ.get("JOY", os.path.join(REPO, "joy"))
VERBOSE = "-v" in sys.argv
HUGE = "315360000"

passed = failed = skipped = 0


def ok(cond, name, detail=""):
    global passed, failed
    if cond:
        passed += 1
        if VERBOSE:
            print("ok  ", name)
    else:
        failed += 1
        print("FAIL", name, detail)
    return cond


def skip(name, why):
    global skipped
    skipped += 1
    print("skip", name + ":", why)


def have(tool):
    return shutil.which(tool) is not None


def run_joy(pcap, *opts, want_err=False):
    cmd = [JOY, "bidir=1"] + list(opts) + ["-w", "-", pcap]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    err = p.stderr.decode("utf-8", "replace")
    if "Sanitizer" in err or "runtime error:" in err:
        ok(False, "sanitizer report on %s" % os.path.basename(pcap), err[-2000:])
    recs = []
    for line in p.stdout.decode("utf-8", "replace").splitlines():
        o = json.loads(line)
        if "version" in o and "sa" not in o:
            continue  # the metadata line
        recs.append(o)
    if want_err:
        return recs, err, p.returncode
    return recs


def tshark_fields(pcap, dfilter, fields, extra=()):
    cmd = ["tshark", "-n", "-r", pcap, "-Y", dfilter, "-T", "fields", "-E", "occurrence=a",
           "-E", "aggregator=;"] + list(extra)
    for f in fields:
        cmd += ["-e", f]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=120)
    rows = []
    for line in p.stdout.decode("utf-8", "replace").splitlines():
        v = line.split("\t")
        v += [""] * (len(fields) - len(v))
        rows.append(dict(zip(fields, v)))
    return rows


# ---------------------------------------------------------------------------
# pcap writing
def write_pcap(path, frames, linktype=101, times=None, nsec=False):
    """frames: list of bytes; times: list of (sec, frac) (frac in us or ns)."""
    magic = 0xA1B23C4D if nsec else 0xA1B2C3D4
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", magic, 2, 4, 0, 0, 262144, linktype))
        for i, fr in enumerate(frames):
            sec, frac = times[i] if times else (1700000000 + i // 1000, (i % 1000) * 1000)
            f.write(struct.pack("<IIII", sec, frac, len(fr), len(fr)) + fr)


def ip4(src, dst, proto, payload, ident=1):
    hdr = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, 0, 64, proto, 0,
                      bytes(src), bytes(dst))
    return hdr + payload


def udp4(src, dst, sp, dp, payload):
    return ip4(src, dst, 17, struct.pack(">HHHH", sp, dp, 8 + len(payload), 0) + payload)


def tcp4(src, dst, sp, dp, seq, ack, flags, payload=b""):
    return ip4(src, dst, 6, struct.pack(">HHIIBBHHH", sp, dp, seq & 0xFFFFFFFF, ack, 5 << 4,
                                        flags, 65535, 0, 0) + payload)


def dname(*labels):
    return b"".join(bytes([len(l)]) + l for l in labels) + b"\0"


def dns_hdr(ident, flags, qd, an, ns, ar):
    return struct.pack(">HHHHHH", ident, flags, qd, an, ns, ar)


def rr(name, rtype, rdata, ttl=300, cls=1):
    return name + struct.pack(">HHIH", rtype, cls, ttl, len(rdata)) + rdata


C = [10, 0, 0, 1]
S = [10, 0, 0, 53]


# ---------------------------------------------------------------------------
# 1. DNS: empty RDATA; NetBIOS name service
def nb_encode(name, suffix):
    raw = name.encode().ljust(15, b" ")[:15] + bytes([suffix])
    return b"".join(bytes([0x41 + (b >> 4), 0x41 + (b & 15)]) for b in raw)


def test_dns(d):
    zone = dname(b"example", b"com")
    host = dname(b"host", b"example", b"com")
    # RFC 2136 UPDATE (opcode 5): zone SOA; prerequisite "RRset exists"
    # (class ANY, TTL 0, no RDATA); update: delete the A RRset (class ANY,
    # no RDATA), delete all RRsets of a name (type ANY, class ANY), delete one
    # RR (class NONE, with RDATA), add one A.
    upd = (dns_hdr(0x1234, 5 << 11, 1, 1, 4, 0) + zone + struct.pack(">HH", 6, 1)
           + rr(host, 1, b"", ttl=0, cls=255)
           + rr(host, 1, b"", ttl=0, cls=255)
           + rr(dname(b"old", b"example", b"com"), 255, b"", ttl=0, cls=255)
           + rr(host, 28, bytes(16), ttl=0, cls=254)
           + rr(host, 1, bytes([192, 0, 2, 7]), ttl=300))
    resp = dns_hdr(0x1234, 0x8000 | (5 << 11), 1, 0, 0, 0) + zone + struct.pack(">HH", 6, 1)
    # a plain response with an empty A (and a bad A of 5 bytes: still malformed)
    bad = (dns_hdr(0x4321, 0x8180, 1, 2, 0, 0) + host + struct.pack(">HH", 1, 1)
           + rr(host, 1, b"") + rr(host, 1, b"\1\2\3\4\5"))
    frames = [udp4(C, S, 40000, 53, upd), udp4(S, C, 53, 40000, resp),
              udp4(C, S, 40001, 53, bad)]
    pcap = os.path.join(d, "dns-update.pcap")
    write_pcap(pcap, frames)
    recs = run_joy(pcap, "dns=1")
    r = {x["sp"]: x for x in recs}
    u = r[40000]["dns"][0]
    rrs = u.get("rr", [])
    ok(len(rrs) == 5 and "malformed" not in json.dumps(u),
       "dns update: no record with empty RDATA is malformed", json.dumps(u))
    ok([(x.get("type"), x.get("rdlength"), x.get("class")) for x in rrs[:3]]
       == [(1, 0, 255), (1, 0, 255), (255, 0, 255)],
       "dns update: empty RDATA written as type + rdlength 0 + class", json.dumps(rrs))
    ok(rrs[3].get("aaaa") == "::" and rrs[3].get("class") == 254 and rrs[4].get("a") == "192.0.2.7",
       "dns update: delete-one (class NONE) and add written by type", json.dumps(rrs))
    b = r[40001]["dns"][0]["rr"]
    ok(b[0].get("type") == 1 and b[0].get("rdlength") == 0 and "malformed" not in b[0],
       "dns: empty A RDATA in a response not malformed", json.dumps(b))
    ok(b[1].get("malformed") == "rdata_length", "dns: 5-byte A RDATA still malformed",
       json.dumps(b))
    if have("tshark"):
        rows = tshark_fields(pcap, "dns", ["udp.srcport", "dns.resp.type", "dns.resp.len",
                                           "dns.resp.class", "_ws.malformed"])
        t = {int(x["udp.srcport"]): x for x in rows}
        tt = t.get(40000, {})
        ok(tt.get("dns.resp.len", "").split(";") == [str(x["rdlength"]) if "rdlength" in x else
                                                    {"aaaa": "16", "a": "4"}[
                                                        "aaaa" if "aaaa" in x else "a"]
                                                    for x in rrs]
           and tt.get("dns.resp.type", "").split(";") == ["1", "1", "255", "28", "1"]
           and not tt.get("_ws.malformed"),
           "dns update: rdlengths and types as tshark", repr(tt))
    else:
        skip("dns update vs tshark", "tshark not installed")

    # NetBIOS name service: a broadcast name query, a positive response, a
    # node status query to an ephemeral port, a name with a scope
    B = [10, 0, 0, 255]
    N = [10, 0, 0, 9]
    q = (dns_hdr(0x8001, 0x0110, 1, 0, 0, 0) + bytes([32]) + nb_encode("WORKGROUP", 0x1D)
         + b"\0" + struct.pack(">HH", 0x20, 1))
    ans = (dns_hdr(0x8001, 0x8500, 0, 1, 0, 0) + bytes([32]) + nb_encode("WORKGROUP", 0x1D)
           + b"\0" + struct.pack(">HHIH", 0x20, 1, 300000, 6) + b"\0\0" + bytes(N))
    st = (dns_hdr(0x0042, 0x0000, 1, 0, 0, 0) + bytes([32]) + nb_encode("*", 0) + b"\0"
          + struct.pack(">HH", 0x21, 1))
    sc = (dns_hdr(0x0077, 0x2910, 1, 0, 0, 1) + bytes([32]) + nb_encode("HOST-A", 0x20)
          + bytes([4]) + b"corp" + bytes([3]) + b"lan" + b"\0" + struct.pack(">HH", 0x20, 1)
          + b"\xc0\x0c" + struct.pack(">HHIH", 0x20, 1, 300000, 6) + b"\0\0" + bytes(C))
    frames = [udp4(C, B, 137, 137, q), udp4(N, C, 137, 137, ans),
              udp4(C, N, 51000, 137, st), udp4(C, N, 137, 137, sc)]
    pcap = os.path.join(d, "nbns.pcap")
    write_pcap(pcap, frames)
    recs = run_joy(pcap, "dns=1")
    ok(not any("dns" in x for x in recs), "nbns: no flow reported as dns",
       json.dumps([x.get("dns") for x in recs]))
    msgs = []
    for x in recs:
        for m in x.get("nbns", []):
            msgs.append(m)
    msgs.sort(key=lambda m: (m["id"], m["resp"]))
    ok(len(msgs) == 4, "nbns: four messages", json.dumps(msgs))
    want = [(0x42, False, 0, 0, "*", 0, 0x21, None), (0x77, False, 5, 0, "HOST-A", 0x20, 0x20,
                                                      "corp.lan"),
            (0x8001, False, 0, 0, "WORKGROUP", 0x1D, 0x20, None),
            (0x8001, True, 0, 0, "WORKGROUP", 0x1D, 0x20, None)]
    got = [(m.get("id"), m.get("resp"), m.get("op"), m.get("rc"), m.get("name"), m.get("suffix"),
            m.get("type"), m.get("scope")) for m in msgs]
    ok(got == want, "nbns: id, resp, op, rc, name, suffix, type, scope", "%r" % got)
    if have("tshark"):
        rows = tshark_fields(pcap, "nbns", ["nbns.id", "nbns.flags", "nbns.flags.opcode",
                                            "nbns.flags.rcode", "nbns.name", "nbns.type"])
        tv = sorted((int(x["nbns.id"], 0), int(x["nbns.flags"], 0), int(x["nbns.flags.opcode"]),
                     int(x["nbns.flags.rcode"] or 0),
                     x["nbns.name"].split(";")[0].split(" (")[0],  # tshark adds " (role)"
                     int(x["nbns.type"].split(";")[0])) for x in rows)
        jv = sorted((m["id"], m["flags"], m["op"], m["rc"],
                     "%s<%02x>%s" % (m["name"], m["suffix"],
                                     "." + m["scope"] if m.get("scope") else ""),
                     m["type"]) for m in msgs)
        ok(len(rows) == 4 and tv == jv, "nbns: the same as tshark", "%r\n%r" % (tv, jv))
    else:
        skip("nbns vs tshark", "tshark not installed")


# ---------------------------------------------------------------------------
# 2. HTTP: http_messages= and http_omitted
def http_flow(n, sp=41000, head_every=0):
    """One keep-alive connection with n request/response pairs (every
    head_every-th request a HEAD, answered with a Content-Length but no body)."""
    H = [10, 0, 0, 80]
    fr = [tcp4(C, H, sp, 80, 1000, 0, 0x02), tcp4(H, C, 80, sp, 5000, 1001, 0x12),
          tcp4(C, H, sp, 80, 1001, 5001, 0x10)]
    cs, ss = 1001, 5001
    for i in range(n):
        head = head_every and i % head_every == head_every - 1
        q = ("%s /item/%d HTTP/1.1\r\nHost: example.com\r\n\r\n"
             % ("HEAD" if head else "GET", i)).encode()
        body = b"x" * (i % 7 + 1)
        r = (b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)) + (b"" if head
                                                                                else body)
        fr.append(tcp4(C, H, sp, 80, cs, ss, 0x18, q))
        cs += len(q)
        fr.append(tcp4(H, C, 80, sp, ss, cs, 0x18, r))
        ss += len(r)
    fr.append(tcp4(C, H, sp, 80, cs, ss, 0x11))
    fr.append(tcp4(H, C, 80, sp, ss, cs + 1, 0x11))
    return fr


def test_http(d):
    pcap = os.path.join(d, "http-many.pcap")
    write_pcap(pcap, http_flow(40, head_every=5))
    r = run_joy(pcap, "http=1")[0]
    ok(len(r.get("http", [])) == 16 and r.get("http_omitted") == {"out": 24, "in": 24},
       "http: default keeps 16 messages a direction, http_omitted counts 24 + 24",
       "%d %r" % (len(r.get("http", [])), r.get("http_omitted")))
    r = run_joy(pcap, "http=1", "http_messages=1000")[0]
    h = r.get("http", [])
    ok(len(h) == 40 and "http_omitted" not in r, "http_messages=1000: all 40 pairs, no omitted",
       "%d %r" % (len(h), r.get("http_omitted")))
    uris = [m["out"][1]["uri"] for m in h]
    codes = [m["in"][1]["code"] for m in h]
    ok(uris == ["/item/%d" % i for i in range(40)] and codes == ["200"] * 40,
       "http_messages=1000: requests and responses in order")
    r = run_joy(pcap, "http=1", "http_messages=3")[0]
    ok(len(r.get("http", [])) == 3 and r.get("http_omitted") == {"out": 37, "in": 37},
       "http_messages=3: 3 kept, 37 + 37 omitted (HEAD responses framed)",
       "%r" % r.get("http_omitted"))
    if have("tshark"):
        rows = tshark_fields(pcap, "http", ["http.request.uri", "http.response.code"])
        tu = [x["http.request.uri"] for x in rows if x["http.request.uri"]]
        tc = [x["http.response.code"] for x in rows if x["http.response.code"]]
        ok(tu == uris and tc == codes, "http_messages=1000: the same messages as tshark",
           "%d %d" % (len(tu), len(tc)))
    else:
        skip("http vs tshark", "tshark not installed")
    # 3000 pairs, cap 1000: bounded, counted
    pcap = os.path.join(d, "http-3000.pcap")
    write_pcap(pcap, http_flow(3000))
    r = run_joy(pcap, "http=1", "http_messages=1000")[0]
    ok(len(r.get("http", [])) == 1000 and r.get("http_omitted") == {"out": 2000, "in": 2000},
       "http_messages=1000 on 3000 pairs: 1000 kept, 2000 + 2000 omitted",
       "%d %r" % (len(r.get("http", [])), r.get("http_omitted")))
    ok(r["http"][999]["out"][1]["uri"] == "/item/999" and "truncated" not in json.dumps(r["http"]),
       "http_messages=1000: the 1000th message whole")
    for bad in ("0", "1001", "x"):
        p = subprocess.run([JOY, "http=1", "http_messages=" + bad, "-w", "-", pcap],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
        ok(p.returncode == 2 and b"http_messages" in p.stderr,
           "http_messages=%s refused (exit 2, named)" % bad, p.stderr.decode()[-200:])
    p = subprocess.run([JOY, "-h"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    ok(b"http_messages" in p.stdout, "joy -h lists http_messages")
    cfg = open(os.path.join(REPO, "options.cfg")).read()
    ok("http_messages" in cfg, "options.cfg lists http_messages")


# ---------------------------------------------------------------------------
# 3. Capture time going backwards: a new clock epoch
T0 = 1700000000


def epoch_parts():
    """Three consecutive 100 s parts of one capture, as lists of (ts_ns, frame):
    3000 short UDP flows per part (one every 1/30 s, a query and an answer
    1 ms apart), never spanning two parts, and near the end of part 2 one
    long flow (a packet every 2 s from +175 s to +199 s)."""
    parts = []
    for k in range(3):
        pk = []
        for i in range(3000):
            t = (T0 + 100 * k) * 10**9 + i * (10**9 // 30)
            cl = [10, 1 + k, i // 250, 1 + i % 250]
            sv = [10, 9, 0, 1]
            pk.append((t, udp4(cl, sv, 20000 + i % 1000, 9999, b"q" * 10)))
            pk.append((t + 10**6, udp4(sv, cl, 9999, 20000 + i % 1000, b"a" * 20)))
        if k == 1:
            for j in range(13):
                t = (T0 + 175 + 2 * j) * 10**9
                pk.append((t, udp4([10, 7, 7, 7], [10, 9, 0, 2], 30000, 7777, b"long")))
        pk.sort(key=lambda x: x[0])
        parts.append(pk)
    return parts


def write_parts(path, parts):
    frames = [f for p in parts for (_, f) in p]
    times = [(t // 10**9, (t % 10**9) // 1000) for p in parts for (t, _) in p]
    write_pcap(path, frames, times=times)


def flowset(recs):
    return sorted((r["sa"], r["da"], r["sp"], r["dp"], r["time_start"], r["time_end"],
                   r["num_pkts_out"], r.get("num_pkts_in", 0), r["bytes_out"]) for r in recs)


def test_epoch(d):
    a, b, c = epoch_parts()
    inorder = os.path.join(d, "epoch-inorder.pcap")
    swapped = os.path.join(d, "epoch-swapped.pcap")  # what mergecap -a b.pcap a.pcap writes
    three = os.path.join(d, "epoch-cba.pcap")
    write_parts(inorder, [a, b])
    write_parts(swapped, [b, a])
    write_parts(three, [c, b, a])
    opts = ("inactive_timeout=10", "active_timeout=30", "max_flows=1000")
    ref = run_joy(inorder, *opts)
    recs, err, rc = run_joy(swapped, *opts, want_err=True)
    ok(rc == 0, "epoch: exit 0", err[-300:])
    ok(len(recs) == 6001 and flowset(recs) == flowset(ref),
       "epoch: the same 6001 records (5-tuple, times, counts) as in time order",
       "%d records" % len(recs))
    why = {}
    for r in recs:
        why[r["expire_type"]] = why.get(r["expire_type"], 0) + 1
    ok(why.get("r", 0) == 0, "epoch: open flows stay under max_flows=1000 (no 'r' eviction)",
       repr(why))
    # at the jump, part b's open flows leave as the old clock would have
    # expired them: the long flow (started at +175 s) reaches active_timeout
    # (at +205 s) before inactive_timeout (+209 s); the rest are inactive
    lng = [r for r in recs if r["sa"] == "10.7.7.7"]
    ok(len(lng) == 1 and lng[0]["expire_type"] == "a" and lng[0]["num_pkts_out"] == 13,
       "epoch: the long flow open at the jump expires 'a' (active before inactive)",
       json.dumps(lng)[:300])
    tail_b = [r for r in recs if r["sa"].startswith("10.2.") and r["time_start"] > T0 + 190]
    ok(tail_b and all(r["expire_type"] == "i" for r in tail_b),
       "epoch: part b's flows open at the jump expire 'i', not at the end",
       repr(sorted({r["expire_type"] for r in tail_b})))
    end = [r for r in recs if r["expire_type"] == "e"]
    ok(end and all(r["time_end"] > T0 + 89 for r in end),
       "epoch: only the last flows of the new epoch end with the input ('e')",
       "%d e-records" % len(end))
    order = [r["sa"].split(".")[1] for r in recs]
    first_a = order.index("1")
    ok(all(x != "2" for x in order[first_a:]),
       "epoch: every record of the old epoch written before the new epoch's")
    ok(err.count("the clock restarted (files out of time order?)") == 1,
       "epoch: one warning on stderr", err[-500:])
    recs3, err3, rc3 = run_joy(three, *opts, want_err=True)
    ok(len(recs3) == 9001 and err3.count("the clock restarted (files out of time order?)") == 1
       and "inactive_timeout 2 times" in err3,
       "epoch: two jumps, warned once, counted twice in the summary", err3[-500:])
    rt, errt, _ = run_joy(swapped, *opts, "threads=2", want_err=True)
    ok(sorted(flowset(rt)) == sorted(flowset(recs))
       and sorted(r["expire_type"] for r in rt) == sorted(r["expire_type"] for r in recs)
       and errt.count("the clock restarted (files out of time order?)") == 1,
       "epoch: threads=2 writes the same records with the same reasons, warns once",
       errt[-300:])
    why3 = {r["expire_type"] for r in recs3}
    ok("r" not in why3, "epoch: three parts, still bounded", repr(why3))
    # a step back smaller than inactive_timeout is not an epoch
    small = os.path.join(d, "epoch-small.pcap")
    pk = [(T0 * 10**9 + 5 * 10**9, udp4(C, S, 1, 2, b"x")),
          (T0 * 10**9, udp4(C, S, 3, 4, b"y")),
          (T0 * 10**9 + 6 * 10**9, udp4(C, S, 1, 2, b"z"))]
    write_parts(small, [pk])
    r4, err4, _ = run_joy(small, *opts, want_err=True)
    ok(len(r4) == 2 and "went back" not in err4 and all(r["expire_type"] == "e" for r in r4),
       "epoch: going back by less than inactive_timeout changes nothing", err4[-300:])
    # the unsorted in-time-order capture as a cross-check of what tshark reads
    if have("capinfos"):
        p = subprocess.run(["capinfos", "-o", swapped], stdout=subprocess.PIPE, timeout=60)
        ok(b"False" in p.stdout, "epoch: capinfos says the swapped capture is not in order",
           p.stdout.decode()[-200:])
    else:
        skip("epoch vs capinfos", "capinfos not installed")


# ---------------------------------------------------------------------------
# 4. Times outside 1970..2554
def pad4(b):
    return b + b"\0" * (-len(b) % 4)


def ng_block(btype, body):
    n = 12 + len(body)
    return struct.pack("<II", btype, n) + body + struct.pack("<I", n)


def write_pcapng(path, frames, tsresol=None, tsoffset=None, linktype=101):
    """frames: list of (ts_units, bytes), ts_units a 64-bit count of if_tsresol units."""
    shb = ng_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    opts = b""
    if tsresol is not None:
        opts += struct.pack("<HH", 9, 1) + pad4(bytes([tsresol]))
    if tsoffset is not None:
        opts += struct.pack("<HHq", 14, 8, tsoffset)
    if opts:
        opts += struct.pack("<HH", 0, 0)
    idb = ng_block(1, struct.pack("<HHI", linktype, 0, 0) + opts)
    out = shb + idb
    for ts, fr in frames:
        out += ng_block(6, struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(fr), len(fr))
                        + pad4(fr))
    with open(path, "wb") as f:
        f.write(out)


def usec_text(sec, frac_num, frac_den):
    """sec + frac_num/frac_den as joy writes it (6 decimals, truncated)."""
    from fractions import Fraction
    v = Fraction(sec) + Fraction(frac_num, frac_den)
    q = (v * 10**6).numerator // (v * 10**6).denominator  # microseconds, rounded down
    if q >= 0:
        return "%d.%06d" % (q // 10**6, q % 10**6)
    return "-%d.%06d" % ((-q) // 10**6, (-q) % 10**6)


def test_time(d):
    u64 = 2**64 - 1
    cases = [
        # name, tsresol, tsoffset, [ts units...], expected seconds as (sec, num, den)
        ("ns-2554-max", 9, None, [u64 - 2 * 10**9, u64], [(0, u64 - 2 * 10**9, 10**9),
                                                        (0, u64, 10**9)]),
        ("us-year-294000", 6, None, [2**63, 2**63 + 1500000],
         [(0, 2**63, 10**6), (0, 2**63 + 1500000, 10**6)]),
        ("us-offset-1e12", 6, 10**12, [123456, 2123457],
         [(10**12, 123456, 10**6), (10**12, 2123457, 10**6)]),
        ("ns-offset-before-1970", 9, -10**10, [500000000, 1750000000],
         [(-10**10, 500000000, 10**9), (-10**10, 1750000000, 10**9)]),
        ("2pow-20-far", 0x80 | 20, 2**40, [2**60, 2**60 + 2**19],
         [(2**40, 2**60, 2**20), (2**40, 2**60 + 2**19, 2**20)]),
    ]
    for name, res, off, tss, want in cases:
        pcap = os.path.join(d, "time-%s.pcapng" % name)
        frames = [(tss[0], udp4(C, S, 1111, 2222, b"a")), (tss[1], udp4(S, C, 2222, 1111, b"bb"))]
        write_pcapng(pcap, frames, tsresol=res, tsoffset=off)
        recs = run_joy(pcap, "inactive_timeout=5", "active_timeout=60")
        w0, w1 = usec_text(*want[0]), usec_text(*want[1])
        got = [(json.dumps(r["time_start"]), json.dumps(r["time_end"])) for r in recs]
        # the raw JSON text: floats in Python would lose the digits
        raw = subprocess.run([JOY, "bidir=1", "-w", "-", pcap], stdout=subprocess.PIPE,
                             timeout=60).stdout.decode().splitlines()[-1]
        ok(len(recs) == 1 and ('"time_start":%s,' % w0) in raw and ('"time_end":%s,' % w1) in raw,
           "time %s: time_start %s, time_end %s exactly" % (name, w0, w1), raw[:400])
        ok(len(recs) == 1 and recs[0]["packets"][1]["ipt"] == round_ipt(want),
           "time %s: ipt in ms" % name, json.dumps(recs[0]["packets"]) if recs else "")
        if have("tshark"):
            rows = tshark_fields(pcap, "frame", ["frame.time_epoch"])
            te = [x["frame.time_epoch"] for x in rows]
            ok(len(te) == 2 and all(tshark_us(t) == w for t, w in zip(te, (w0, w1))),
               "time %s: the same as tshark's frame.time_epoch" % name, "%r vs %r" % (te, (w0, w1)))
        else:
            skip("time vs tshark", "tshark not installed")
    # IPFIX export: flowStart/EndMilliseconds of the far time
    pcap = os.path.join(d, "time-us-offset-1e12.pcapng")
    ipf = os.path.join(d, "time.ipfix")
    subprocess.run([JOY, "-r", pcap, "-w", "ipfix+file:" + ipf], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=60)
    data = open(ipf, "rb").read() if os.path.exists(ipf) else b""
    ok(struct.pack(">Q", 10**15 + 123) in data and struct.pack(">Q", 10**15 + 2123) in data,
       "time: IPFIX flowStart/EndMilliseconds of a time in the year 33658")
    # nanosecond classic pcap at the end of its 32-bit range
    pcap = os.path.join(d, "time-pcap-ns.pcap")
    write_pcap(pcap, [udp4(C, S, 1, 2, b"x"), udp4(C, S, 1, 2, b"y")],
               times=[(2**32 - 2, 999999999), (2**32 - 1, 999999999)], nsec=True)
    raw = subprocess.run([JOY, "-w", "-", pcap], stdout=subprocess.PIPE,
                         timeout=60).stdout.decode().splitlines()[-1]
    ok('"time_start":4294967294.999999,' in raw and '"time_end":4294967295.999999,' in raw,
       "time: nanosecond pcap at 2106 exactly", raw[:300])
    # a run whose files are 600 years apart: the later file is held at the
    # edge of the span (documented), never wraps
    a = os.path.join(d, "time-a.pcapng")
    b = os.path.join(d, "time-b.pcapng")
    write_pcapng(a, [(10**9, udp4(C, S, 1, 2, b"x"))], tsresol=9, tsoffset=1700000000)
    write_pcapng(b, [(10**9, udp4(C, S, 3, 4, b"y"))], tsresol=9,
                 tsoffset=1700000000 + 600 * 365 * 86400)
    p = subprocess.run([JOY, "-w", "-", a, b], stdout=subprocess.PIPE, timeout=60)
    lines = [json.loads(x) for x in p.stdout.decode().splitlines()[1:]]
    ok(len(lines) == 2 and lines[0]["time_start"] == 1700000001.0
       and 18446744072 < lines[1]["time_start"] < 18446744074,
       "time: a second file past the span is held at its edge", repr([x["time_start"] for x in lines]))
    if have("capinfos"):
        pcap = os.path.join(d, "time-ns-2554-max.pcapng")
        p = subprocess.run(["capinfos", "-a", "-e", "-S", "-T", "-r", pcap], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
        ok(p.returncode == 0 and b"18446744071.709551615" in p.stdout
           and b"18446744073.709551615" in p.stdout,
           "time: capinfos reads the far-future capture too", p.stdout.decode()[-300:])


def round_ipt(want):
    from fractions import Fraction
    a = Fraction(want[0][0]) + Fraction(want[0][1], want[0][2])
    b = Fraction(want[1][0]) + Fraction(want[1][1], want[1][2])
    return int((b - a) * 1000)


def tshark_us(t):
    """tshark's frame.time_epoch text as joy writes the same time (6 decimals,
    rounded down).  tshark 4.0 prints a time before 1970 as its (negative)
    seconds followed by the positive fraction: "-10000000000.500000000" is
    -10000000000 s + 0.5 s."""
    from fractions import Fraction
    i, _, f = t.partition(".")
    v = Fraction(int(i)) + Fraction(int(f or "0"), 10 ** len(f or "0"))
    return usec_text(0, v.numerator, v.denominator)


# ---------------------------------------------------------------------------
# 5. TCP retransmissions: the definition in doc/schema.md
def test_retrans(d):
    H = [10, 0, 0, 7]

    def seg(seq, n, flags=0x18):
        return tcp4(C, H, 42000, 7000, seq, 1, flags, bytes([0x41 + (seq % 26)]) * n)

    # ISN 999: data from 1000.  (label, segment, is it a retransmission?)
    steps = [
        ("syn", tcp4(C, H, 42000, 7000, 999, 0, 0x02), False),
        ("1000-1099", seg(1000, 100), False),
        ("1200-1299 (gap 1100-1199)", seg(1200, 100), False),
        ("1100-1199 late: fills the latest gap", seg(1100, 100), False),
        ("1000-1099 again", seg(1000, 100), True),
        ("1400-1499 (gap 1300-1399)", seg(1300 + 100, 100), False),
        ("1600-1699 (gap 1500-1599, the latest)", seg(1600, 100), False),
        ("1300-1399 late: an older gap", seg(1300, 100), True),
        ("1500-1549: part of the latest gap", seg(1500, 50), False),
        ("1550-1599: the rest of it", seg(1550, 50), False),
        ("1550-1599 again", seg(1550, 50), True),
        ("1650-1749: partly beyond the highest", seg(1650, 100), False),
        ("pure ACK below the highest", tcp4(C, H, 42000, 7000, 1000, 1, 0x10), False),
        ("1700-1749 again with FIN", seg(1700, 50, 0x19), True),
    ]
    frames = [x[1] for x in steps]
    times = [(1700000000, 10 * i) for i in range(len(frames))]
    pcap = os.path.join(d, "retrans.pcap")
    write_pcap(pcap, frames, times=times)
    want_rt = sum(1 for x in steps if x[2])
    want_data = sum(1 for x in steps if not x[2] and len(x[1]) > 40)
    r = run_joy(pcap, "num_pkts=200")[0]
    ok(r.get("debug", {}).get("tcp_retrans") == want_rt,
       "retrans: debug.tcp_retrans as doc/schema.md defines it (%d)" % want_rt,
       json.dumps(r.get("debug")))
    ok(len(r["packets"]) == want_data and r["num_pkts_out"] == len(steps) - want_rt,
       "retrans=0: the %d new data segments in packets, retransmissions not counted" % want_data,
       "%d %d" % (len(r["packets"]), r["num_pkts_out"]))
    new_bytes = sum(len(x[1]) - 40 for x in steps if not x[2])
    ok(r["bytes_out"] == new_bytes, "retrans=0: bytes_out counts reordered new data",
       "%d != %d" % (r["bytes_out"], new_bytes))
    r = run_joy(pcap, "num_pkts=200", "retrans=1")[0]
    ok(r["num_pkts_out"] == len(steps) and r.get("debug", {}).get("tcp_retrans") == want_rt,
       "retrans=1: every segment counted, the same retransmissions flagged")
    # the documents: the definition once, in schema.md; the others refer to it
    docs = {}
    for root, _, files in os.walk(os.path.join(REPO, "doc")):
        for f in files:
            if f.endswith(".md"):
                docs[os.path.relpath(os.path.join(root, f), REPO)] = open(
                    os.path.join(root, f), encoding="utf-8").read()
    ok('id="tcp-retransmissions"' in docs["doc/schema.md"], "schema.md holds the definition")
    wrong = [k for k, v in docs.items()
             if "reordering) therefore also counts as a retransmission" in v
             or "and so does a late, reordered segment" in v
             or "A segment that arrives\nafter a later one is therefore also left out" in v]
    ok(not wrong, "no page says every reordered segment is a retransmission", repr(wrong))
    refs = [k for k in ("doc/modules/intraflow-a.md", "doc/modules/salt.md", "doc/modules/ppi.md",
                        "doc/modules/reasm.md") if "schema.md#tcp-retransmissions" not in docs[k]]
    ok(not refs, "the pages on retransmissions refer to the definition", repr(refs))
    if have("tshark"):
        # tshark (4.x) flags every segment that starts below the next
        # expected number as a "suspected retransmission" (also reordered new
        # data): joy's retransmissions must be among its suspects, and the
        # plain re-sends must be there
        rows = tshark_fields(pcap, "tcp", ["frame.number", "tcp.analysis.retransmission"],
                             extra=["-o", "tcp.analyze_sequence_numbers:TRUE"])
        sus = {int(x["frame.number"]) for x in rows if x["tcp.analysis.retransmission"]}
        mine = {i + 1 for i, x in enumerate(steps) if x[2]}
        ok(mine <= sus and {5, 11} <= sus, "retrans: joy's retransmissions among tshark's suspects",
           "%r %r" % (sorted(mine), sorted(sus)))
    else:
        skip("retrans vs tshark", "tshark not installed")


# ---------------------------------------------------------------------------
def main():
    if not os.path.exists(JOY):
        print("joy binary not found: %s (build it or set JOY)" % JOY)
        print("0 passed, 1 failed")
        return 1
    d = tempfile.mkdtemp(prefix="joy-fielderr-")
    try:
        for part in (test_dns, test_http, test_epoch, test_time, test_retrans):
            try:
                part(d)
            except Exception as e:  # one failure, the rest still runs
                import traceback
                traceback.print_exc()
                ok(False, "exception in %s" % part.__name__, repr(e))
    finally:
        shutil.rmtree(d, ignore_errors=True)
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

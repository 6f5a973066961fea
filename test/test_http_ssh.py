#!/usr/bin/env python3
"""test_http_ssh.py - the http and ssh modules (src/modules/mod_http.c, src/modules/mod_ssh.c).

Checks, with joy run as `joy http=1 ssh=1 -r F -w -`:
  * every capture in ../shared/pcaps whose truth file has http/ssh records:
    per flow and direction, the messages in order (method, uri, version,
    code, reason, every header name/value in wire order, first body bytes
    after de-chunking) and the SSH banner and KEXINIT lists + cookie;
  * the same captures against tshark's own fields (-T json);
  * captures made here: curl against python3 -m http.server (keep-alive,
    two requests on one connection), a tiny chunked HTTP server, ssh
    against a throwaway sshd (if installed) - all on 127.0.0.1;
  * hand-made hostile captures: 10,000 headers, a 1 MB header line, binary
    garbage on port 80 and 22, headers with quotes and backslashes, a
    pipelined burst past the message cap, a bulk body.
Last line: "N passed, N failed, N skipped"; exit 1 on failure.
"""
import hashlib
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
JOY = os.environ.get("JOY", os.path.join(REPO, "joy"))
SHARED = os.path.join(os.path.dirname(REPO), "shared", "pcaps")
TMP = tempfile.mkdtemp(prefix="t-http-ssh-")
TSHARK = shutil.which("tshark")      # the oracle; without it, the truth files only

passed = failed = skipped = 0


def ok(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what)


def skip(what):
    global skipped
    skipped += 1
    print("SKIP:", what)


def run_joy(pcap, *opts, timeout=120):
    t0 = time.time()
    res = subprocess.run([JOY, "http=1", "ssh=1", *opts, "-r", pcap, "-w", "-"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    recs = []
    valid = True
    for line in res.stdout.decode("utf-8", "strict").splitlines():
        try:
            r = json.loads(line)
            if "sa" in r:
                recs.append(r)
        except ValueError:
            valid = False
    return res.returncode, recs, valid, time.time() - t0


def key4(r):
    return (r.get("sa"), r.get("sp"), r.get("da"), r.get("dp"))


def find_flow(recs, src, sport, dst, dport):
    """(record, dir) with dir 0 when src is the record's sa."""
    for r in recs:
        if (r.get("sa"), r.get("sp"), r.get("da"), r.get("dp")) == (src, sport, dst, dport):
            return r, 0
        if (r.get("sa"), r.get("sp"), r.get("da"), r.get("dp")) == (dst, dport, src, sport):
            return r, 1
    return None, None


def joy_msgs(rec, d):
    """The list of messages of one direction: dicts with start-line fields,
    'headers' [[name, value], ...], 'body' hex or ''."""
    out = []
    for pair in rec.get("http", []):
        side = pair.get("out" if d == 0 else "in")
        if side is None:
            continue
        m = {"headers": [], "body": ""}
        for el in side:
            (k, v), = el.items()
            if k in ("method", "uri", "version", "code", "reason", "body", "truncated"):
                m[k] = v
            else:
                m["headers"].append([k, v])
        out.append(m)
    return out


def dechunk_prefix(raw):
    """First bytes of a chunked body from its raw prefix (None if unknown)."""
    out = b""
    i = 0
    while i < len(raw):
        j = raw.find(b"\r\n", i)
        if j < 0:
            return out if len(out) >= 8 else None
        try:
            n = int(raw[i:j].split(b";")[0], 16)
        except ValueError:
            return None
        if n == 0:
            return out
        data = raw[j + 2:j + 2 + n]
        out += data
        if len(data) < n or len(out) >= 8:
            return out
        i = j + 2 + n + 2
    return out if len(out) >= 8 else None


def truth_records(name):
    path = os.path.join(SHARED, "truth", name + ".jsonl")
    flows, msgs = {}, []
    with open(path) as f:
        for line in f:
            t = json.loads(line)
            if t.get("type") == "flow":
                flows[t["id"]] = t
            elif t.get("type") in ("http", "ssh"):
                msgs.append(t)
    return flows, msgs


def check_truth(name):
    pcap = os.path.join(SHARED, name)
    rc, recs, valid, _ = run_joy(pcap)
    ok(rc == 0 and valid, "%s: joy ran, valid JSON" % name)
    flows, msgs = truth_records(name)
    seqs = {}
    ssh = {}
    for t in msgs:
        fl = flows.get(t["flow"])
        if not fl or fl.get("proto") != 6:
            continue
        src, sport, dst, dport = fl["src"], fl["sport"], fl["dst"], fl["dport"]
        if t["dir"] == "b2a":
            src, sport, dst, dport = dst, dport, src, sport
        k = (src, sport, dst, dport)
        if t["type"] == "http":
            seqs.setdefault(k, []).append(t)
        else:
            ssh.setdefault(k, {}).update({a: b for a, b in t.items() if a not in ("frame",)})
    for k, lst in seqs.items():
        rec, d = find_flow(recs, *k)
        if rec is None and name.startswith(("gre-", "tunnel-")):
            skip("%s: tunnel flow %s keyed differently" % (name, k))
            continue
        if not ok(rec is not None, "%s: flow %s in joy output" % (name, k)):
            continue
        got = joy_msgs(rec, d)
        ok(len(got) == min(len(lst), 16), "%s %s: %d messages, truth %d" % (name, k, len(got), len(lst)))
        for i, (t, g) in enumerate(zip(lst, got)):
            w = "%s %s msg %d" % (name, k, i)
            if t["kind"] == "request":
                ok(g.get("method") == t["method"], w + " method %r %r" % (g.get("method"), t["method"]))
                ok(g.get("uri") == t["uri"], w + " uri")
                ok(g.get("version") == t["version"], w + " version")
            else:
                ok(g.get("code") == "%03d" % t["status"], w + " code %r %r" % (g.get("code"), t["status"]))
                ok(g.get("reason") == t["reason"], w + " reason %r %r" % (g.get("reason"), t["reason"]))
                ok(g.get("version") == t["version"], w + " version")
            ok(g["headers"] == t["headers"], w + " headers\n  joy   %s\n  truth %s" % (g["headers"], t["headers"]))
            raw = bytes.fromhex(t["body_prefix_hex"])
            chunked = any(h[0].lower() == "transfer-encoding" and "chunked" in h[1].lower()
                          for h in t["headers"])
            exp = dechunk_prefix(raw) if chunked else raw[:min(8, t["body_len_raw"])]
            if exp is None:
                skip(w + " body prefix not derivable")
            else:
                ok(g["body"] == exp[:8].hex(), w + " body %r %r" % (g["body"], exp[:8].hex()))
    for k, t in ssh.items():
        rec, d = find_flow(recs, *k)
        if not ok(rec is not None and "ssh" in rec, "%s: ssh flow %s" % (name, k)):
            continue
        s = rec["ssh"]["cli" if d == 0 else "srv"]
        w = "%s %s ssh" % (name, k)
        if "protocol" in t:
            ok(s.get("protocol") == t["protocol"], w + " protocol %r %r" % (s.get("protocol"), t["protocol"]))
        if "kex_algorithms" in t:
            for tk, jk in (("kex_algorithms", "kex_algos"),
                           ("server_host_key_algorithms", "s_host_key_algos"),
                           ("encryption_algorithms_client_to_server", "c_encryption_algos"),
                           ("encryption_algorithms_server_to_client", "s_encryption_algos"),
                           ("mac_algorithms_client_to_server", "c_mac_algos"),
                           ("mac_algorithms_server_to_client", "s_mac_algos"),
                           ("compression_algorithms_client_to_server", "c_comp_algos"),
                           ("compression_algorithms_server_to_client", "s_comp_algos")):
                ok(s.get(jk) == t[tk], w + " " + jk)
            ok(s.get("cookie") == t["cookie"].replace(":", ""), w + " cookie")
            check_hassh(s, d == 1, w)


def check_hassh(s, server, w):
    if server:
        a = ";".join([s["kex_algos"], s["s_encryption_algos"], s["s_mac_algos"], s["s_comp_algos"]])
        ok(s.get("hassh_server") == hashlib.md5(a.encode()).hexdigest(), w + " hassh_server")
    else:
        a = ";".join([s["kex_algos"], s["c_encryption_algos"], s["c_mac_algos"], s["c_comp_algos"]])
        ok(s.get("hassh") == hashlib.md5(a.encode()).hexdigest(), w + " hassh")


# ---- tshark -------------------------------------------------------------------

def tshark_json(pcap, filt, fields, port=None):
    args = ["tshark", "-n", "-r", pcap, "-Y", filt, "-T", "json"]
    if port:
        args += ["-d", "tcp.port==%d,%s" % (port, filt)]
    for f in fields:
        args += ["-e", f]
    r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=120)
    try:
        return [p["_source"]["layers"] for p in json.loads(r.stdout.decode() or "[]")]
    except ValueError:
        return []


def addr_of(L):
    """Candidate (src, sport, dst, dport): each IP layer (outer first)."""
    srcs = (L.get("ip.src") or []) + (L.get("ipv6.src") or [])
    dsts = (L.get("ip.dst") or []) + (L.get("ipv6.dst") or [])
    sp, dp = int(L["tcp.srcport"][0]), int(L["tcp.dstport"][0])
    return tuple((a, sp, b, dp) for a, b in zip(srcs, dsts))


def find_any(recs, cands):
    for k in cands:
        rec, d = find_flow(recs, *k)
        if rec is not None:
            return rec, d
    return None, None


def check_tshark_http(pcap, w, port=None):
    L = tshark_json(pcap, "http", ["ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "tcp.srcport",
                                   "tcp.dstport", "http.request.method", "http.request.uri",
                                   "http.request.version", "http.response.code",
                                   "http.response.phrase", "http.user_agent", "http.host",
                                   "http.request.line", "http.response.line"], port)
    rc, recs, valid, _ = run_joy(pcap)
    per = {}
    for l in L:
        if "http.request.method" not in l and "http.response.code" not in l:
            continue
        per.setdefault(addr_of(l), []).append(l)
    n = 0
    for k, lst in per.items():
        rec, d = find_any(recs, k)
        if rec is None:
            skip("%s: tshark flow %s not keyed the same (tunnel?)" % (w, k))
            continue
        got = joy_msgs(rec, d)
        for i, (l, g) in enumerate(zip(lst[:16], got)):
            ww = "%s %s #%d (tshark)" % (w, k, i)
            if "http.request.method" in l:
                ok(g.get("method") == l["http.request.method"][0], ww + " method")
                ok(g.get("uri") == l["http.request.uri"][0], ww + " uri")
                ok(g.get("version") == l["http.request.version"][0], ww + " version")
                lines = l.get("http.request.line", [])
            else:
                ok(g.get("code") == l["http.response.code"][0], ww + " code")
                ok(g.get("reason") == l.get("http.response.phrase", [""])[0], ww + " phrase")
                lines = l.get("http.response.line", [])
            hd = {h[0].lower(): h[1] for h in g["headers"]}
            if "http.user_agent" in l:
                ok(hd.get("user-agent") == l["http.user_agent"][0], ww + " user_agent")
            if "http.host" in l:
                ok(hd.get("host") == l["http.host"][0], ww + " host")
            exp = []
            for x in lines:
                x = x[:-2] if x.endswith("\r\n") else x.rstrip("\n")
                a, _, b = x.partition(":")
                exp.append([a, b.strip(" \t")])
            ok(exp == g["headers"], ww + " header lines\n  joy    %s\n  tshark %s" % (g["headers"], exp))
            n += 1
    return n


def check_tshark_ssh(pcap, w, port=None):
    L = tshark_json(pcap, "ssh", ["ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "tcp.srcport",
                                  "tcp.dstport", "ssh.protocol", "ssh.kex_algorithms",
                                  "ssh.server_host_key_algorithms",
                                  "ssh.encryption_algorithms_client_to_server",
                                  "ssh.host_key.type", "ssh.cookie"], port)
    rc, recs, valid, _ = run_joy(pcap)
    ok(rc == 0 and valid, w + " joy ran")
    n = 0
    for l in L:
        rec, d = find_any(recs, addr_of(l))
        if rec is None or "ssh" not in rec:
            ok(False, "%s: no ssh record for %s" % (w, addr_of(l)))
            continue
        s = rec["ssh"]["cli" if d == 0 else "srv"]
        if "ssh.protocol" in l:
            ok(s.get("protocol") == l["ssh.protocol"][0], w + " protocol")
            n += 1
        if "ssh.kex_algorithms" in l:
            ok(s.get("kex_algos") == l["ssh.kex_algorithms"][0], w + " kex_algorithms")
            ok(s.get("s_host_key_algos") == l["ssh.server_host_key_algorithms"][0], w + " shk")
            ok(s.get("c_encryption_algos") == l["ssh.encryption_algorithms_client_to_server"][0],
               w + " enc c2s")
            n += 1
        if "ssh.host_key.type" in l:
            ok(rec["ssh"]["srv"].get("s_hostkey_type") == l["ssh.host_key.type"][0],
               w + " host key type %r %r" % (rec["ssh"]["srv"].get("s_hostkey_type"),
                                             l["ssh.host_key.type"][0]))
            n += 1
    return n


# ---- pcap writing ---------------------------------------------------------------

def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


class Pcap:
    def __init__(self, path):
        self.f = open(path, "wb")
        self.f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 262144, 1))
        self.t = 1700000000.0

    def tcp(self, src, dst, sp, dp, seq, ack, flags, data=b""):
        tcp = struct.pack("!HHIIBBHHH", sp, dp, seq & 0xffffffff, ack & 0xffffffff, 5 << 4, flags,
                          65535, 0, 0) + data
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0, 64, 6, 0,
                         socket.inet_aton(src), socket.inet_aton(dst))
        ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
        frame = b"\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\x08\x00" + ip + tcp
        self.t += 0.001
        sec = int(self.t)
        self.f.write(struct.pack("<IIII", sec, int((self.t - sec) * 1e6), len(frame), len(frame)))
        self.f.write(frame)

    def close(self):
        self.f.close()


def tcp_conv(path, c2s, s2c_list=None, port=80, seg=1400, interleave=None):
    """One TCP connection: the client sends c2s (bytes), the server s2c;
    segments of at most seg bytes."""
    p = Pcap(path)
    c, s = "10.1.1.1", "10.2.2.2"
    cs, ss = 1000, 5000
    p.tcp(c, s, 40000, port, cs, 0, 0x02)
    p.tcp(s, c, port, 40000, ss, cs + 1, 0x12)
    cs += 1
    ss += 1
    p.tcp(c, s, 40000, port, cs, ss, 0x10)
    for i in range(0, len(c2s), seg):
        d = c2s[i:i + seg]
        p.tcp(c, s, 40000, port, cs, ss, 0x18, d)
        cs += len(d)
    s2c = s2c_list or b""
    for i in range(0, len(s2c), seg):
        d = s2c[i:i + seg]
        p.tcp(s, c, port, 40000, ss, cs, 0x18, d)
        ss += len(d)
    p.tcp(c, s, 40000, port, cs, ss, 0x11)
    p.tcp(s, c, port, 40000, ss, cs + 1, 0x11)
    p.close()


def hostile():
    # quotes, backslashes, control bytes and non-UTF-8 kept exactly
    req = (b'GET /a"b\\c HTTP/1.1\r\nHost: x\r\nX-Q: say "hi" \\ there\r\n'
           b'X-Bin: \x01\xff\xc3\xa9\r\nWeird\r\n\r\n')
    resp = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n6\r\ndefghi\r\n0\r\nT: 1\r\n\r\n"
    path = os.path.join(TMP, "quotes.pcap")
    tcp_conv(path, req, resp, port=8081)
    rc, recs, valid, _ = run_joy(path)
    ok(rc == 0 and valid, "quotes: valid JSON")
    rec = recs[0] if recs else {}
    out = joy_msgs(rec, 0)
    inn = joy_msgs(rec, 1)
    ok(out and out[0].get("uri") == 'https://x"b\\c'[8:].join(["/a", ""]) or
       (out and out[0].get("uri") == '/a"b\\c'), "quotes: uri exact")
    if out:
        ok(["X-Q", 'say "hi" \\ there'] in out[0]["headers"], "quotes: header value exact")
        ok(["X-Bin", "\x01\u00ff\u00e9"] in out[0]["headers"], "quotes: binary header escaped losslessly %r" % out[0]["headers"])
    ok(inn and inn[0]["body"] == b"abcdefgh".hex(), "chunked: de-chunked body prefix %r" % (inn and inn[0]["body"]))

    # anon=: verbatim fields (uri, reason, header values, body) are left out
    af = os.path.join(TMP, "anon.txt")
    with open(af, "w") as fh:
        fh.write("10.0.0.0/8\n")
    rc, recs, valid, _ = run_joy(path, "anon=" + af, "anon_key=" + os.path.join(TMP, "anon.key"))
    h = recs[0].get("http") if recs else None
    ok(rc == 0 and valid and h == [{"out": [{"method": "GET"}, {"version": "HTTP/1.1"}],
                                    "in": [{"version": "HTTP/1.1"}, {"code": "200"}]}],
       "anon: only method/version/code %r" % h)

    # useranon=: listed user names replaced in URIs by HMAC-SHA256(key, name)[:16] hex
    import hmac
    key = bytes(range(32))
    kf = os.path.join(TMP, "ua.key")
    with open(kf, "w") as fh:
        fh.write(key.hex() + "\n")
    os.chmod(kf, 0o600)
    uf = os.path.join(TMP, "users.txt")
    with open(uf, "w") as fh:
        fh.write("# users\nal\nalice\n  bob\n")
    upath = os.path.join(TMP, "users.pcap")
    tcp_conv(upath, b"GET /home/alice/x?u=bob&v=al&w=Alice HTTP/1.1\r\nHost: alice\r\n\r\n",
             b"HTTP/1.1 204 No Content\r\n\r\n")
    rc, recs, valid, _ = run_joy(upath, "useranon=" + uf, "useranon_key=" + kf)
    ps = {n: hmac.new(key, n.encode(), "sha256").digest()[:16].hex() for n in ("al", "alice", "bob")}
    want = "/home/%s/x?u=%s&v=%s&w=Alice" % (ps["alice"], ps["bob"], ps["al"])
    out = joy_msgs(recs[0], 0) if recs else []
    ok(rc == 0 and valid and out and out[0].get("uri") == want,
       "useranon: %r" % (out and out[0].get("uri")))
    ok(out and ["Host", "alice"] in out[0]["headers"], "useranon: headers untouched (URI only)")
    r = subprocess.run([JOY, "http=1", "useranon=/nonexistent/x", "-r", upath, "-w", "-"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    ok(r.returncode != 0 and b"useranon" in r.stderr, "useranon: missing file is an error")

    # 10,000 headers
    req = b"GET / HTTP/1.1\r\n" + b"".join(b"H%d: v\r\n" % i for i in range(10000)) + b"\r\n"
    req += b"GET /second HTTP/1.1\r\nHost: y\r\n\r\n"
    path = os.path.join(TMP, "manyhdr.pcap")
    tcp_conv(path, req, b"HTTP/1.1 204 No Content\r\n\r\n")
    rc, recs, valid, dt = run_joy(path)
    ok(rc == 0 and valid and dt < 20, "10k headers: valid JSON, %.1fs" % dt)
    out = joy_msgs(recs[0], 0) if recs else []
    ok(len(out) == 2 and len(out[0]["headers"]) == 100 and out[0].get("truncated") is True
       and out[1].get("uri") == "/second", "10k headers: 100 kept, truncated, next message found")

    # a 1 MB header line
    req = b"GET / HTTP/1.1\r\nX-Big: " + b"A" * (1 << 20) + b"\r\nHost: z\r\n\r\n"
    path = os.path.join(TMP, "bigline.pcap")
    tcp_conv(path, req, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    rc, recs, valid, dt = run_joy(path)
    ok(rc == 0 and valid and dt < 20, "1MB line: valid JSON")
    out = joy_msgs(recs[0], 0) if recs else []
    inn = joy_msgs(recs[0], 1) if recs else []
    ok(len(out) == 1 and out[0]["headers"][0][0] == "X-Big" and len(out[0]["headers"][0][1]) < 8200
       and out[0].get("truncated") is True and ["Host", "z"] in out[0]["headers"],
       "1MB line: cut, flagged, later header kept")
    ok(len(inn) == 1 and inn[0]["body"] == "6f6b", "1MB line: response parsed")

    # binary garbage on 80 and 22
    import random
    rnd = random.Random(5)
    for port in (80, 22, 8080):
        g = bytes(rnd.getrandbits(8) for _ in range(200000))
        path = os.path.join(TMP, "garbage%d.pcap" % port)
        tcp_conv(path, g, g[::-1], port=port)
        rc, recs, valid, dt = run_joy(path)
        ok(rc == 0 and valid and recs and "http" not in recs[0] and "ssh" not in recs[0],
           "garbage on %d: no http/ssh fields, valid JSON" % port)
    # garbage after a valid start
    path = os.path.join(TMP, "garbage2.pcap")
    tcp_conv(path, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n" + bytes(range(256)) * 100,
             b"SSH-2.0-x\r\n" + bytes(rnd.getrandbits(8) for _ in range(50000)), port=80)
    rc, recs, valid, dt = run_joy(path)
    ok(rc == 0 and valid and recs and len(joy_msgs(recs[0], 0)) == 1, "garbage after message")

    # pipelined burst past the cap, then a 5 MB body that must be skipped
    req = b"".join(b"GET /p%d HTTP/1.1\r\nHost: h\r\n\r\n" % i for i in range(40))
    resp = b"".join(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nr%02d" % i for i in range(39))
    resp += b"HTTP/1.1 200 OK\r\nContent-Length: 5000000\r\n\r\n" + b"Z" * 5000000
    path = os.path.join(TMP, "pipeline.pcap")
    tcp_conv(path, req, resp)
    rc, recs, valid, dt = run_joy(path)
    ok(rc == 0 and valid, "pipeline: valid JSON")
    out = joy_msgs(recs[0], 0) if recs else []
    inn = joy_msgs(recs[0], 1) if recs else []
    ok(len(out) == 16 and len(inn) == 16 and [m["uri"] for m in out] == ["/p%d" % i for i in range(16)]
       and inn[15]["body"] == b"r15".hex(), "pipeline: 16 per direction, in order")
    # a response to HEAD has no body; 304 neither
    req = b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\nGET /3 HTTP/1.1\r\n\r\n"
    resp = (b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n"
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n"
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nX")
    path = os.path.join(TMP, "head.pcap")
    tcp_conv(path, req, resp)
    rc, recs, valid, dt = run_joy(path)
    inn = joy_msgs(recs[0], 1) if recs else []
    ok(len(inn) == 3 and inn[2]["body"] == "58" and inn[0]["body"] == "", "HEAD/304: no body")
    # a close-delimited response body
    path = os.path.join(TMP, "close.pcap")
    tcp_conv(path, b"GET / HTTP/1.0\r\n\r\n", b"HTTP/1.0 200 OK\r\nServer: s\r\n\r\n0123456789abcdef")
    rc, recs, valid, dt = run_joy(path)
    inn = joy_msgs(recs[0], 1) if recs else []
    ok(len(inn) == 1 and inn[0]["body"] == b"01234567".hex(), "close-delimited body")

    # SSH: a handshake made by hand (banner, KEXINIT both ways, ECDH 30/31, NEWKEYS)
    def pkt(payload):
        pad = 8 - ((len(payload) + 5) % 8)
        if pad < 4:
            pad += 8
        return struct.pack("!IB", len(payload) + pad + 1, pad) + payload + b"\0" * pad

    def sstr(b):
        return struct.pack("!I", len(b)) + b

    def kexinit(cookie, kex, enc):
        lists = [kex, b"ssh-ed25519", enc, enc, b"hmac-sha2-256", b"hmac-sha2-256", b"none",
                 b"none", b"", b""]
        return b"\x14" + cookie + b"".join(sstr(x) for x in lists) + b"\0" + b"\0" * 4

    hk = sstr(b"ssh-ed25519") + sstr(b"K" * 32)
    sig = sstr(b"ssh-ed25519") + sstr(b"S" * 64)
    cli = (b"SSH-2.0-TestClient_1.0\r\n" + pkt(kexinit(b"c" * 16, b"sntrup,curve25519-sha256,ext-info-c",
                                                        b"aes128-ctr,aes256-ctr"))
           + pkt(b"\x1e" + sstr(b"Q" * 32)) + pkt(b"\x15") + b"\xaa" * 3000)
    srv = (b"hello there\r\nSSH-2.0-TestServer_2.0\r\n" +
           pkt(kexinit(b"s" * 16, b"curve25519-sha256,ecdh-sha2-nistp256", b"aes256-ctr"))
           + pkt(b"\x1f" + sstr(hk) + sstr(b"F" * 32) + sstr(sig)) + pkt(b"\x15") + b"\xbb" * 3000)
    path = os.path.join(TMP, "ssh.pcap")
    tcp_conv(path, cli, srv, port=2222, seg=37)
    rc, recs, valid, dt = run_joy(path)
    ok(rc == 0 and valid and recs and "ssh" in recs[0], "ssh synthetic: record")
    if recs and "ssh" in recs[0]:
        c, s = recs[0]["ssh"]["cli"], recs[0]["ssh"]["srv"]
        ok(c.get("protocol") == "SSH-2.0-TestClient_1.0" and s.get("protocol") == "SSH-2.0-TestServer_2.0",
           "ssh synthetic: banners")
        ok(s.get("kex_algo") == "curve25519-sha256", "ssh synthetic: negotiated kex")
        ok(s.get("s_hostkey_type") == "ssh-ed25519" and s.get("s_hostkey") == hk.hex(), "ssh: host key")
        ok(c.get("c_kex") == (b"Q" * 32).hex() and s.get("s_kex") == (b"F" * 32).hex(), "ssh: kex values")
        ok(s.get("s_signature_type") == "ssh-ed25519", "ssh: signature type")
        ok(c.get("unencrypted") == 3 and s.get("unencrypted") == 3 and c.get("newkeys") is True,
           "ssh: unencrypted count %r %r" % (c.get("unencrypted"), s.get("unencrypted")))
        ok(c.get("cookie") == (b"c" * 16).hex(), "ssh: cookie")
        check_hassh(c, False, "ssh synthetic")
        check_hassh(s, True, "ssh synthetic")
        ok(c.get("hassh") == hashlib.md5(b"sntrup,curve25519-sha256,ext-info-c;aes128-ctr,aes256-ctr;"
                                         b"hmac-sha2-256;none").hexdigest(), "ssh: hassh value")
    # SSH: an over-long banner is cut at 255 bytes, the packets after it are still read
    path = os.path.join(TMP, "sshlong.pcap")
    tcp_conv(path, b"SSH-2.0-" + b"x" * 3000 + b"\r\n" + pkt(kexinit(b"d" * 16, b"k1", b"e1")),
             b"SSH-2.0-srv\r\n" + pkt(kexinit(b"e" * 16, b"k1", b"e1")), port=22)
    rc, recs, valid, dt = run_joy(path)
    c = recs[0].get("ssh", {}).get("cli", {}) if recs else {}
    ok(rc == 0 and valid and c.get("protocol") == "SSH-2.0-" + "x" * 247 and c.get("kex_algos") == "k1"
       and recs[0]["ssh"]["srv"].get("kex_algo") == "k1", "ssh: long banner cut, KEXINIT after it read")

    # SSH: lying packet length
    path = os.path.join(TMP, "sshbad.pcap")
    tcp_conv(path, b"SSH-2.0-a\r\n" + b"\xff\xff\xff\xff\x04" + b"x" * 100, b"SSH-2.0-b\n" + pkt(b"\x14"),
             port=22)
    rc, recs, valid, dt = run_joy(path)
    ok(rc == 0 and valid and recs and recs[0].get("ssh", {}).get("cli", {}).get("unencrypted") == 0,
       "ssh: lying length ends the direction")


# ---- live captures -------------------------------------------------------------

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def capture(port, path, action):
    cap = subprocess.Popen(["dumpcap", "-q", "-i", "lo", "-f", "tcp port %d" % port, "-w", path],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.5)
    try:
        action()
    finally:
        time.sleep(1.0)
        cap.terminate()
        try:
            cap.wait(10)
        except subprocess.TimeoutExpired:
            cap.kill()


CHUNK_SERVER = r'''
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1); s.settimeout(20)
c, _ = s.accept(); c.settimeout(10)
buf = b""
for n in range(2):
    while b"\r\n\r\n" not in buf:
        d = c.recv(4096)
        if not d: break
        buf += d
    buf = buf[buf.find(b"\r\n\r\n") + 4:]
    body = [b"Hello, ", b"chunked \"world\"", b"!" * 3000]
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nX-Quote: a\"b\\c\r\n\r\n"
              + b"".join(b"%x\r\n%s\r\n" % (len(x), x) for x in body) + b"0\r\n\r\n")
c.close()
'''


def live_http():
    if not shutil.which("dumpcap") or not shutil.which("curl") or not TSHARK:
        skip("live http: dumpcap/curl/tshark (the oracle) missing")
        return
    port = free_port()
    www = os.path.join(TMP, "www")
    os.makedirs(www, exist_ok=True)
    with open(os.path.join(www, "a.txt"), "wb") as f:
        f.write(b"first file\n")
    with open(os.path.join(www, "b.bin"), "wb") as f:
        f.write(bytes(range(256)) * 40)
    path = os.path.join(TMP, "live-http.pcap")
    srv = subprocess.Popen([sys.executable, "-m", "http.server", "--protocol", "HTTP/1.1", "-b",
                            "127.0.0.1", str(port)], cwd=www, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        time.sleep(1)

        def act():
            subprocess.run(["curl", "-s", "-o", "/dev/null", "-o", "/dev/null", "-o", "/dev/null",
                            "-A", 'joy "test" \\agent', "-H", "X-Test: one, two",
                            "http://127.0.0.1:%d/a.txt" % port, "http://127.0.0.1:%d/b.bin" % port,
                            "http://127.0.0.1:%d/missing" % port], timeout=20)
        capture(port, path, act)
    finally:
        srv.terminate()
        srv.wait(10)
    n = check_tshark_http(path, "live http.server", port)
    ok(n >= 6, "live http.server: %d messages checked against tshark" % n)
    rc, recs, valid, _ = run_joy(path)
    r = [x for x in recs if "http" in x]
    ok(len(r) == 1 and len(r[0]["http"]) == 3, "live http.server: keep-alive, 3 pairs on one flow")
    if r:
        inn = joy_msgs(r[0], 1)
        ok(len(inn) == 3 and inn[1]["body"] == bytes(range(8)).hex(), "live: body of b.bin")
        out = joy_msgs(r[0], 0)
        ok(["User-Agent", 'joy "test" \\agent'] in out[0]["headers"], "live: user agent exact")

    # chunked
    port = free_port()
    path = os.path.join(TMP, "live-chunked.pcap")
    srv = subprocess.Popen([sys.executable, "-c", CHUNK_SERVER, str(port)])
    try:
        time.sleep(1)

        def act2():
            subprocess.run(["curl", "-s", "-o", "/dev/null", "-o", "/dev/null",
                            "http://127.0.0.1:%d/x" % port, "http://127.0.0.1:%d/y" % port],
                           timeout=20)
        capture(port, path, act2)
    finally:
        srv.wait(30)
    n = check_tshark_http(path, "live chunked", port)
    ok(n == 4, "live chunked: %d messages checked against tshark" % n)
    rc, recs, valid, _ = run_joy(path)
    r = [x for x in recs if "http" in x]
    inn = joy_msgs(r[0], 1) if r else []
    ok(len(inn) == 2 and all(m["body"] == b"Hello, c".hex() for m in inn), "live chunked: de-chunked bodies")
    ok(inn and ["X-Quote", 'a"b\\c'] in inn[0]["headers"], "live chunked: quoted header")


def live_ssh():
    sshd = shutil.which("sshd") or ("/usr/sbin/sshd" if os.path.exists("/usr/sbin/sshd") else None)
    if not sshd or not shutil.which("ssh") or not shutil.which("dumpcap") or \
            not TSHARK:
        skip("live ssh: sshd/ssh/dumpcap/tshark missing (synthetic handshake checked instead)")
        return
    d = os.path.join(TMP, "sshd")
    os.makedirs(d, exist_ok=True)
    hk = os.path.join(d, "hostkey")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hk], check=True)
    port = free_port()
    cfg = os.path.join(d, "sshd_config")
    with open(cfg, "w") as f:
        f.write("Port %d\nListenAddress 127.0.0.1\nHostKey %s\nPidFile %s/pid\nUsePAM no\n"
                "PasswordAuthentication no\nKbdInteractiveAuthentication no\nStrictModes no\n"
                % (port, hk, d))
    os.makedirs("/run/sshd", exist_ok=True)
    path = os.path.join(TMP, "live-ssh.pcap")
    srv = subprocess.Popen([sshd, "-D", "-e", "-f", cfg], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        time.sleep(1)

        def act():
            subprocess.run(["ssh", "-p", str(port), "-o", "StrictHostKeyChecking=no", "-o",
                            "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o",
                            "ConnectTimeout=5", "nobody@127.0.0.1", "true"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=20)
        capture(port, path, act)
    finally:
        srv.terminate()
        srv.wait(10)
    n = check_tshark_ssh(path, "live ssh", port)
    ok(n >= 5, "live ssh: %d tshark fields checked" % n)
    rc, recs, valid, _ = run_joy(path)
    r = [x for x in recs if "ssh" in x]
    if ok(len(r) == 1, "live ssh: one ssh flow"):
        s = r[0]["ssh"]
        ok(s["srv"].get("s_hostkey_type") == "ssh-ed25519", "live ssh: host key type")
        with open(hk + ".pub") as f:
            import base64
            blob = base64.b64decode(f.read().split()[1])
        ok(s["srv"].get("s_hostkey") == blob.hex(), "live ssh: host key equals the generated key")
        ok(s["cli"].get("newkeys") and s["srv"].get("newkeys"), "live ssh: newkeys both ways")
        ok(bool(s["srv"].get("kex_algo")) and s["cli"].get("c_kex") and s["srv"].get("s_kex"),
           "live ssh: kex values")
        check_hassh(s["cli"], False, "live ssh")
        check_hassh(s["srv"], True, "live ssh")


def main():
    if not os.path.exists(JOY):
        print("joy binary not found:", JOY)
        print("0 passed, 1 failed")
        sys.exit(1)
    if os.path.isdir(SHARED):
        for name in ("http11-chunked-gzip.pcap", "http11-get-gzip-dpkt.pcap", "http11-post-form.pcap",
                     "http-dns-wikipedia.pcap", "mixed-joy-sample-http-dns.pcap",
                     "linktype-sll-http.pcap", "linktype-raw101-ipv6-http.pcap",
                     "linktype-raw12-derived.pcap", "mpls-in-vlan-http.pcap",
                     "pppoe-ipv6-http.pcap", "browser-firefox58-mixed.pcap",
                     "tcp-fast-open.pcap", "tunnel-6in4-http.pcap", "gre-tunnel-mixed.pcap",
                     "ssh-dropbear.pcap", "ssh-openssh-session.pcap"):
            if not os.path.exists(os.path.join(SHARED, name)):
                skip(name + " absent")
                continue
            check_truth(name)
            pcap = os.path.join(SHARED, name)
            if not TSHARK:
                skip(name + ": tshark absent (checked against its truth file only)")
            elif name.startswith("ssh-"):
                check_tshark_ssh(pcap, name)
            else:
                check_tshark_http(pcap, name)
    else:
        skip("../shared/pcaps absent")
    hostile()
    live_http()
    live_ssh()
    shutil.rmtree(TMP, ignore_errors=True)
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

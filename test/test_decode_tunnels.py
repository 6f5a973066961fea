#!/usr/bin/env python3
"""Tunnel decapsulation and the new link types (issue 16), checked against tshark.

Interpreter: any Python 3 (standard library only).  Run from anywhere:
    python3 test/test_decode_tunnels.py          (JOY=path overrides <repo>/joy)
Last line: "N passed, N failed, N skipped"; exit 1 on any failure.

1. synthesised captures (test/gen_pcaps.py: tunnel_udp = VXLAN, GENEVE, GTP-U,
   Teredo, MPLS over UDP; tunnel_gre = GRE key, gretap, MPLS over GRE, PPTP,
   ERSPAN II/III, VXLAN in GRE; tunnel_ipip = 4in4/6in4/4in6/6in6; link_* = 802.11,
   radiotap, PPI, NFLOG, PFLOG, FDDI, IPNET, USER0) go through test/tshark_check.py:
   every outer flow (tunnels=0) and every inner flow (tunnels=4) must agree with
   tshark's dissection.  Skipped when tshark is not on PATH.
2. kernel tunnels: for each of gre, gretap, ip6gre, ipip, sit, ip6tnl (4in6, 6in6),
   vxlan and geneve, two network namespaces joined by a veth pair get a tunnel
   device each; a UDP request and its reply cross the tunnel while a raw socket in
   the first namespace records the veth (pcap, Ethernet).  joy must report the inner
   flow (its 5-tuple, 1 packet and the payload bytes each way) with a tunnel member
   naming the type and the outer addresses, and tshark_check must agree.  The
   namespaces and links are created and removed here; traffic stays inside them.
   Skipped (with the reason) when not root, without `ip`, or when the kernel lacks a
   tunnel type (that one type is skipped).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
JOY = os.path.abspath(os.environ.get("JOY", os.path.join(ROOT, "joy")))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True
import gen_pcaps  # noqa: E402

RESULTS = {"passed": 0, "failed": 0, "skipped": 0}


def result(kind, name, why=""):
    RESULTS[kind] += 1
    tag = {"passed": "ok  ", "failed": "FAIL", "skipped": "SKIP"}[kind]
    print("%s %s%s" % (tag, name, (": " + why) if why else ""))


def tshark_check(paths):
    p = subprocess.run([sys.executable, os.path.join(HERE, "tshark_check.py")] + paths,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       env=dict(os.environ, JOY=JOY))
    out = p.stdout.decode("utf-8", "replace")
    return p.returncode == 0, out


def joy_records(path, *args):
    p = subprocess.run([JOY, "-q"] + list(args) + ["-w", "-", path], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    lines = p.stdout.decode().splitlines()[1:]
    return p.returncode, [json.loads(x) for x in lines]


# ----------------------------------------------------------------- kernel tunnels
CAPTURE = r'''
import socket, struct, sys, time
iface, path, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((iface, 0))
s.settimeout(0.1)
out = open(path, "wb")
out.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
out.flush()
print("ready", flush=True)
end = time.time() + secs
while time.time() < end:
    try:
        fr = s.recv(65535)
    except socket.timeout:
        continue
    t = time.time()
    out.write(struct.pack("<IIII", int(t), int((t % 1) * 1e6), len(fr), len(fr)) + fr)
    out.flush()
'''
SERVER = r'''
import socket, sys
fam = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
s.settimeout(8)
print("ready", flush=True)
data, peer = s.recvfrom(2000)
s.sendto(b"R" * 33, peer)
'''
CLIENT = r'''
import socket, sys
fam = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
s.settimeout(3)
s.sendto(b"Q" * 21, (sys.argv[3], int(sys.argv[4])))
s.recvfrom(2000)
'''

O4 = ("10.199.0.1", "10.199.0.2")
O6 = ("fd99:199::1", "fd99:199::2")
I4 = ("192.168.199.1", "192.168.199.2")
I6 = ("fd98:199::1", "fd98:199::2")

# name: (outer pair, inner pair, ip link arguments (after "type"), expected layer)
KINDS = [
    ("gre", O4, I4, lambda l, r: ["gre", "local", l, "remote", r, "key", "7"],
     {"type": "gre", "key": 7}),
    ("gretap", O4, I4, lambda l, r: ["gretap", "local", l, "remote", r], {"type": "gretap"}),
    ("ip6gre", O6, I4, lambda l, r: ["ip6gre", "local", l, "remote", r], {"type": "gre"}),
    ("ipip", O4, I4, lambda l, r: ["ipip", "local", l, "remote", r], {"type": "4in4"}),
    ("sit", O4, I6, lambda l, r: ["sit", "local", l, "remote", r], {"type": "6in4"}),
    ("ip6tnl-4in6", O6, I4, lambda l, r: ["ip6tnl", "mode", "ipip6", "local", l, "remote", r],
     {"type": "4in6"}),
    ("ip6tnl-6in6", O6, I6, lambda l, r: ["ip6tnl", "mode", "ip6ip6", "local", l, "remote", r],
     {"type": "6in6"}),
    ("vxlan", O4, I4, lambda l, r: ["vxlan", "id", "42", "local", l, "remote", r,
                                    "dstport", "4789"], {"type": "vxlan", "vni": 42}),
    ("geneve", O4, I4, lambda l, r: ["geneve", "id", "43", "remote", r],
     {"type": "geneve", "vni": 43}),
]


def sh(*cmd, ns=None, check=True):
    full = (["ip", "netns", "exec", ns] if ns else []) + list(cmd)
    p = subprocess.run(full, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if check and p.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(full), p.stderr.decode().strip()))
    return p


def kernel_case(tmp, name, outer, inner, linkargs, want):
    pid = os.getpid()
    na, nb = "joyt%da" % pid, "joyt%db" % pid
    pcap = os.path.join(tmp, "kernel-%s.pcap" % name)
    procs = []
    try:
        sh("ip", "netns", "add", na)
        sh("ip", "netns", "add", nb)
        sh("ip", "link", "add", "veth0", "netns", na, "type", "veth", "peer", "name", "veth1",
           "netns", nb)
        for ns, dev, addr in ((na, "veth0", outer[0]), (nb, "veth1", outer[1])):
            if ":" in addr:
                sh("ip", "-6", "addr", "add", addr + "/64", "dev", dev, "nodad", ns=ns)
            else:
                sh("ip", "addr", "add", addr + "/24", "dev", dev, ns=ns)
            sh("ip", "link", "set", dev, "up", ns=ns)
            sh("ip", "link", "set", "lo", "up", ns=ns)
        for ns, (l, r), addr in ((na, outer, inner[0]), (nb, outer[::-1], inner[1])):
            p = sh("ip", "link", "add", "t0", "type", *linkargs(l, r), ns=ns, check=False)
            if p.returncode != 0:
                return "skip", "the kernel cannot make a %s device (%s)" % (
                    name, p.stderr.decode().strip())
            if ":" in addr:
                sh("ip", "-6", "addr", "add", addr + "/64", "dev", "t0", "nodad", ns=ns)
            else:
                sh("ip", "addr", "add", addr + "/24", "dev", "t0", ns=ns)
            sh("ip", "link", "set", "t0", "up", ns=ns)
        cap = subprocess.Popen(["ip", "netns", "exec", na, sys.executable, "-c", CAPTURE,
                                "veth0", pcap, "3"], stdout=subprocess.PIPE)
        procs.append(cap)
        cap.stdout.readline()
        srv = subprocess.Popen(["ip", "netns", "exec", nb, sys.executable, "-c", SERVER,
                                inner[1], "5353"], stdout=subprocess.PIPE)
        procs.append(srv)
        srv.stdout.readline()
        time.sleep(0.3)
        cl = sh(sys.executable, "-c", CLIENT, inner[0], "4242", inner[1], "5353", ns=na,
                check=False)
        if cl.returncode != 0:
            return "fail", "no reply through the %s tunnel: %s" % (name, cl.stderr.decode()[-200:])
        cap.wait(timeout=10)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        sh("ip", "netns", "del", na, check=False)
        sh("ip", "netns", "del", nb, check=False)
    rc, recs = joy_records(pcap)
    mine = [r for r in recs if r.get("sp") == 4242 and r.get("dp") == 5353]
    if rc != 0 or len(mine) != 1:
        return "fail", "joy exit %s, %d records of the inner flow" % (rc, len(mine))
    r = mine[0]
    tun = r.get("tunnel") or [{}]
    layer = dict(want, sa=outer[0], da=outer[1])
    bad = [k for k, v in layer.items() if tun[0].get(k) != v]
    if (r["sa"], r["da"]) != inner or (r["num_pkts_out"], r["bytes_out"]) != (1, 21) or \
            (r["num_pkts_in"], r["bytes_in"]) != (1, 33) or bad or len(tun) != 1:
        return "fail", "record %s" % json.dumps(r)[:400]
    ok, out = tshark_check([pcap]) if shutil.which("tshark") else (True, "")
    if not ok:
        return "fail", "tshark_check: " + out[-600:]
    return "pass", ""


def main():
    if not os.access(JOY, os.X_OK):
        print("joy binary %s not found (build it or set JOY=)" % JOY)
        print("0 passed, 1 failed, 0 skipped")
        return 1
    tmp = tempfile.mkdtemp(prefix="joy-tunnels-")
    try:
        gen_pcaps.main([tmp])
        names = sorted(n for n in os.listdir(tmp) if n.startswith(("tunnel_", "link_")))
        # tunnels=0 keeps the outer keying
        rc, recs = joy_records(os.path.join(tmp, "tunnel_gre.pcap"), "tunnels=0")
        if rc == 0 and len(recs) == 1 and "tunnel" not in recs[0]:
            result("passed", "tunnels=0: one outer GRE flow")
        else:
            result("failed", "tunnels=0: one outer GRE flow", "%d records" % len(recs))
        if not shutil.which("tshark"):
            result("skipped", "tshark cross-check of the synthesised captures",
                   "tshark is not on PATH")
        else:
            ok, out = tshark_check([os.path.join(tmp, n) for n in names])
            last = out.strip().splitlines()[-1]
            if ok:
                result("passed", "tshark cross-check of %d synthesised captures (%s)"
                       % (len(names), last))
            else:
                result("failed", "tshark cross-check of the synthesised captures", out[-1500:])
        if os.geteuid() != 0:
            result("skipped", "kernel tunnels", "not root: network namespaces need root")
        elif not shutil.which("ip"):
            result("skipped", "kernel tunnels", "no `ip` (iproute2) on PATH")
        else:
            for name, outer, inner, args, want in KINDS:
                try:
                    st, why = kernel_case(tmp, name, outer, inner, args, want)
                except (RuntimeError, subprocess.TimeoutExpired) as e:
                    st, why = "skip", "cannot set up the namespaces: %s" % e
                result({"pass": "passed", "fail": "failed", "skip": "skipped"}[st],
                       "kernel %s tunnel" % name, why)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed, %d skipped"
          % (RESULTS["passed"], RESULTS["failed"], RESULTS["skipped"]))
    return 1 if RESULTS["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())

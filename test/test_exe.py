#!/usr/bin/env python3
"""Process attribution (exe=1) in two network namespaces joined by a veth.

Namespace C (the client side, 10.77.0.1 / fd77::1) runs two joys on vc:
`joy -i vc exe=1` (with the eBPF source when it is built and loads) and
`joy -i vc exe=1 exe_ebpf=0` (sock_diag alone), on the same traffic; both
enter C with `nsenter --net` (keeps the cgroup v2 mount the eBPF programs
attach to; `ip netns exec` remounts /sys without it).  Namespace S
(10.77.0.2 / fd77::2) runs an HTTP server (IPv4 and IPv6) and a UDP sink.
All traffic stays inside the two namespaces, which are removed at the end,
also on failure.

Traffic and checks, for each joy (each attributed flow's exe.path and
exe.hash must be the real binary's path and sha256sum, exe.pid the
process's pid, exe.user its user; an eBPF attribution whose process exited
before joy read it has no path: then its name and user):
  long-lived (must all be attributed): TCP over IPv4 and IPv6 (2 s each),
    one of them as user nobody, a connected UDP socket, a server in the
    capturing namespace (its flows carry the server's process), a copy of
    curl whose file is deleted while it downloads (2 MB at 500 KB/s), and a
    copy of python deleted before it connects (exe.deleted set; the hash is
    the deleted copy's, read through /proc/PID/exe);
  short-lived (N_SHORT each; the process exits at once): curl over IPv4 and
    IPv6, a Python program doing one sendto on an unconnected UDP socket,
    one doing connect and send on a UDP socket:
    all attributed when the eBPF source is active (asserted), reported (not
    asserted) without it, where the socket is usually gone before the
    lookup; any attribution made must still be right;
  no exe on flows between other hosts (packets sent from S to an address
    that is not C's, to a port on which C has a wildcard UDP socket);
  exe=1 on a capture file: refused with one line, exit status 2.

Needs root (namespaces, capture); skipped otherwise.  Without libbpf (or
when the programs cannot load here) the eBPF checks are skipped with the
reason joy gave.
Interpreter: any Python 3 (standard library only).
"""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JOY = os.path.abspath(os.environ.get("JOY", os.path.join(ROOT, "joy")))
TAG = "%d" % (os.getpid() % 100000)
NC, NS = "joyexeC" + TAG, "joyexeS" + TAG
N_SHORT = 20
SYS_PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable

passed = failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print("FAIL %s %s" % (name, detail))


def sh(*cmd, check_rc=True):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if check_rc and r.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(cmd), r.stderr.decode(errors="replace")))
    return r.stdout.decode()


def inns(ns, *cmd, **kw):
    return subprocess.Popen(["ip", "netns", "exec", ns] + list(cmd), **kw)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 16), b""):
            h.update(b)
    return h.hexdigest()


def setup():
    sh("ip", "netns", "add", NC)
    sh("ip", "netns", "add", NS)
    sh("ip", "link", "add", "vc", "netns", NC, "type", "veth", "peer", "name", "vs", "netns", NS)
    for ns, dev, a4, a6 in ((NC, "vc", "10.77.0.1", "fd77::1"), (NS, "vs", "10.77.0.2", "fd77::2")):
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", ns, "addr", "add", a4 + "/24", "dev", dev)
        sh("ip", "-n", ns, "addr", "add", a6 + "/64", "dev", dev, "nodad")
        sh("ip", "-n", ns, "link", "set", dev, "up")
    mac = json.loads(sh("ip", "-n", NC, "-j", "link", "show", "vc"))[0]["address"]
    # 10.77.0.9 is nobody's address: S sends its packets to C's MAC
    sh("ip", "-n", NS, "neigh", "add", "10.77.0.9", "lladdr", mac, "dev", "vs")


def teardown():
    for ns in (NC, NS):
        pids = subprocess.run(["ip", "netns", "pids", ns], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL).stdout.split()
        for p in pids:
            try:
                os.kill(int(p), signal.SIGKILL)
            except (OSError, ValueError):
                pass
        subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)


LONG_TCP = r"""
import socket, sys, time
fam = socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET
s = socket.socket(fam)
s.connect((sys.argv[1], int(sys.argv[2])))
s.sendall(b'GET /big HTTP/1.0\r\n')
for i in range(20):
    time.sleep(0.1)
    s.sendall(b'X-Pad: %d\r\n' % i)
s.sendall(b'\r\n')
while s.recv(65536):
    pass
"""

LONG_UDP = r"""
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect((sys.argv[1], int(sys.argv[2])))
for i in range(20):
    s.send(b'tick %d' % i)
    time.sleep(0.1)
"""

SHORT_UDP = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b'once', (sys.argv[1], int(sys.argv[2])))
"""

SHORT_UDP_CONN = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect((sys.argv[1], int(sys.argv[2])))
s.send(b'once')
"""

UDP_SINK = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('0.0.0.0', int(sys.argv[1])))
while True:
    s.recvfrom(2048)
"""

TCP_SERVER = r"""
import socket, sys
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(('0.0.0.0', int(sys.argv[1])))
l.listen(16)
while True:
    a, _ = l.accept()
    while True:
        d = a.recv(4096)
        if not d:
            break
        a.sendall(d)
    a.close()
"""

TCP_HOLD = r"""
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
for i in range(10):
    s.sendall(b'hello %d' % i)
    s.recv(100)
    time.sleep(0.1)
"""


def main():
    if os.geteuid() != 0:
        print("skipped: test_exe needs root (network namespaces and live capture)")
        print("0 passed, 0 failed, 1 skipped")
        return 0
    if not shutil.which("curl"):
        print("skipped: test_exe needs curl")
        print("0 passed, 0 failed, 1 skipped")
        return 0
    tmp = tempfile.mkdtemp(prefix="joy-exe-")
    os.chmod(tmp, 0o755)
    try:
        return run(tmp)
    finally:
        teardown()
        shutil.rmtree(tmp, ignore_errors=True)


def run(tmp):
    # the offline refusal
    pcap = os.path.join(ROOT, "test", "data")
    caps = [os.path.join(pcap, n) for n in sorted(os.listdir(pcap)) if n.endswith(".pcap")] \
        if os.path.isdir(pcap) else []
    r = subprocess.run([JOY, "exe=1"] + caps[:1] + ["-w", os.path.join(tmp, "off.json")],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err = r.stderr.decode().strip()
    check("offline refusal", r.returncode == 2 and "exe=1" in err and len(err.splitlines()) == 1,
          (r.returncode, err))

    teardown()
    setup()
    www = os.path.join(tmp, "www")
    os.mkdir(www)
    with open(os.path.join(www, "big"), "wb") as f:
        f.write(b"b" * 30000)
    # 2 MB read at 500 KB/s: curl holds its socket about 4 s (a 30 KB body
    # arrives in one read, and curl closed it within 0.1 s: too short for a
    # lookup queued behind the /proc rescans of the other new flows)
    with open(os.path.join(www, "huge"), "wb") as f:
        f.write(b"h" * 2000000)
    dev = subprocess.DEVNULL
    servers = [
        inns(NS, sys.executable, "-m", "http.server", "--bind", "::", "8080", "--directory", www,
             stdout=dev, stderr=dev),
        inns(NS, sys.executable, "-c", UDP_SINK, "9999", stdout=dev, stderr=dev),
        inns(NS, sys.executable, "-c", UDP_SINK, "5555", stdout=dev, stderr=dev),
        inns(NC, sys.executable, "-c", UDP_SINK, "5555", stdout=dev, stderr=dev),
    ]
    local_srv = inns(NC, sys.executable, "-c", TCP_SERVER, "7070", stdout=dev, stderr=dev)
    time.sleep(1.0)
    out = os.path.join(tmp, "exe.json")
    out0 = os.path.join(tmp, "exe-noebpf.json")
    # nsenter --net keeps the mounts (the cgroup v2 hierarchy the eBPF
    # programs attach to); `ip netns exec` remounts /sys without it
    if shutil.which("nsenter"):
        def joy_in_nc(*args):
            return subprocess.Popen(["nsenter", "--net=/run/netns/" + NC, JOY] + list(args),
                                    stderr=subprocess.PIPE)
    else:
        def joy_in_nc(*args):
            return inns(NC, JOY, *args, stderr=subprocess.PIPE)
    joy = joy_in_nc("-i", "vc", "exe=1", "-w", out)
    # the same traffic without the eBPF source (sock_diag alone), for comparison
    joy0 = joy_in_nc("-i", "vc", "exe=1", "exe_ebpf=0", "-w", out0)
    time.sleep(1.5)

    py = os.path.realpath(sys.executable)
    syspy = os.path.realpath(SYS_PY)
    curl = os.path.realpath(shutil.which("curl"))
    expect = {}   # pid -> (kind, path, hash, user)

    def note(p, kind, path, user="root"):
        expect[p.pid] = (kind, path, sha256(path), user)
        return p

    # long-lived
    longs = [
        note(inns(NC, sys.executable, "-c", LONG_TCP, "10.77.0.2", "8080", stdout=dev, stderr=dev),
             "long", py),
        note(inns(NC, sys.executable, "-c", LONG_TCP, "fd77::2", "8080", stdout=dev, stderr=dev),
             "long", py),
        note(inns(NC, "setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", SYS_PY,
                  "-c", LONG_TCP, "10.77.0.2", "8080", stdout=dev, stderr=dev),
             "long", syspy, "nobody"),
        note(inns(NC, sys.executable, "-c", LONG_UDP, "10.77.0.2", "9999", stdout=dev, stderr=dev),
             "long", py),
    ]
    # a binary deleted while it runs
    dcopy = os.path.join(tmp, "curl-copy")
    shutil.copy2(curl, dcopy)
    dhash = sha256(dcopy)
    dproc = inns(NC, dcopy, "-s", "--limit-rate", "500K", "-o", "/dev/null",
                 "http://10.77.0.2:8080/huge", stdout=dev, stderr=dev)
    expect[dproc.pid] = ("replaced", dcopy, dhash, "root")
    # ... and one deleted before it opens its socket (exe.deleted is set)
    pcopy = os.path.join(tmp, "python-copy")
    shutil.copy2(syspy, pcopy)
    pproc = inns(NC, pcopy, "-c", "import time; time.sleep(1.0)\n" + LONG_TCP, "10.77.0.2", "8080",
                 stdout=dev, stderr=dev)
    expect[pproc.pid] = ("deleted", pcopy, sha256(pcopy), "root")
    time.sleep(0.5)
    os.unlink(dcopy)
    os.unlink(pcopy)
    # a server in the capturing namespace (clients in S)
    holds = [inns(NS, sys.executable, "-c", TCP_HOLD, "10.77.0.1", "7070", stdout=dev, stderr=dev)
             for _ in range(2)]
    expect[local_srv.pid] = ("server", py, sha256(py), "root")

    # short-lived
    shorts = []
    for i in range(N_SHORT):
        for args in (("curl", "-s", "-4", "-o", "/dev/null", "http://10.77.0.2:8080/"),
                     ("curl", "-s", "-6", "-o", "/dev/null", "http://[fd77::2]:8080/")):
            p = inns(NC, *args, stdout=dev, stderr=dev)
            note(p, "short-curl" + args[2], curl)
            p.wait()
            shorts.append(p)
        p = inns(NC, sys.executable, "-c", SHORT_UDP, "10.77.0.2", "9999", stdout=dev, stderr=dev)
        note(p, "short-udp", py)
        p.wait()
        shorts.append(p)
        p = inns(NC, sys.executable, "-c", SHORT_UDP_CONN, "10.77.0.2", "9999", stdout=dev,
                 stderr=dev)
        note(p, "short-udp-conn", py)
        p.wait()
        shorts.append(p)
    # flows between other hosts: S -> 10.77.0.9 (UDP to the port of C's wildcard socket, TCP)
    inns(NS, sys.executable, "-c", SHORT_UDP, "10.77.0.9", "5555").wait()
    inns(NS, "curl", "-s", "-m", "1", "http://10.77.0.9:7070/", stdout=dev, stderr=dev).wait()

    for p in longs + holds + [dproc, pproc]:
        p.wait(timeout=30)
    time.sleep(1.0)
    jerrs = []
    for j in (joy, joy0):
        j.send_signal(signal.SIGINT)
        _, e = j.communicate(timeout=30)
        jerrs.append(e.decode(errors="replace"))
        if os.environ.get("EXE_DEBUG"):
            print(jerrs[-1])
    ebpf = "event-driven source: eBPF" in jerrs[0]
    if not ebpf:
        why = [l for l in jerrs[0].splitlines() if "event-driven source" in l]
        print("test_exe: eBPF source not active (%s): short-lived flows reported, not asserted"
              % (why[0].split("event-driven source: ", 1)[-1] if why else "no start-up line"))
    for label, path, err, with_ebpf in (("", out, jerrs[0], ebpf),
                                        ("exe_ebpf=0: ", out0, jerrs[1], False)):
        analyse(label, path, err, with_ebpf, expect, local_srv)
    check("exe_ebpf=0 says the eBPF source is off",
          "event-driven source: off (exe_ebpf=0)" in jerrs[1], jerrs[1])
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


def analyse(label, out, jerr, ebpf, expect, local_srv):
    """Check one joy's records; short-lived flows asserted only with eBPF."""
    joy_rc = 0 if "packets received by filter" in jerr else 1
    check(label + "joy exit", joy_rc == 0, jerr)
    check(label + "start-up line names the method", "exe=1: sock_diag" in jerr, jerr)

    recs = []
    with open(out) as f:
        for line in f:
            o = json.loads(line)
            if "sa" in o:
                recs.append(o)

    # every attribution must be right; an eBPF attribution whose process
    # had exited before joy read it carries name, pid and user, no path
    seen = {}
    wrong = []
    for r in recs:
        for k in ("exe", "exe_in"):
            e = r.get(k)
            if not e:
                continue
            exp = expect.get(e["pid"])
            if exp is None:
                wrong.append(("unknown pid", r))
                continue
            kind, path, h, user = exp
            if "path" not in e and e.get("method") == "ebpf":
                # the name is the kernel's comm: the command's name as
                # executed (python3 for python3.11 through its link), cut
                # to 15 bytes; no uptime or ppid when it had exited
                ok = (e.get("user") == user and bool(e.get("name")) and
                      os.path.basename(path).startswith(e["name"]) and
                      "uptime" not in e and "ppid" not in e)
            else:
                ok = e.get("path") == path and e.get("hash") == h and e.get("user") == user
            if not ok:
                wrong.append((kind, path, user, e))
                continue
            if kind == "deleted" and not e.get("deleted"):
                wrong.append(("not marked deleted", e))
                continue
            seen.setdefault(e["pid"], []).append(r)
    check(label + "every attribution is right (path, sha256, pid, user)", not wrong, wrong[:3])

    def rate(kinds):
        pids = [p for p, v in expect.items() if v[0] in kinds]
        return sum(1 for p in pids if p in seen), len(pids)

    got, n = rate(("long",))
    check(label + "long-lived TCP/UDP v4/v6 attributed", got == n, "%d/%d" % (got, n))
    got, n = rate(("deleted",))
    check(label + "binary deleted before it connects: attributed, exe.deleted", got == n,
          "%d/%d" % (got, n))
    got, n = rate(("replaced",))
    check(label + "binary deleted while it downloads: attributed, its hash", got == n,
          "%d/%d" % (got, n))
    srv = [r for r in recs if r.get("dp") == 7070 and r.get("da") == "10.77.0.1"]
    ok = len(srv) == 2 and all(r.get("exe", {}).get("pid") == local_srv.pid for r in srv)
    check(label + "server in the capturing namespace", ok, srv)
    others = [r for r in recs if "10.77.0.9" in (r.get("sa"), r.get("da"))]
    check(label + "flows between other hosts carry no exe",
          len(others) >= 2 and not any("exe" in r or "exe_in" in r for r in others),
          [(r.get("sa"), r.get("da"), r.get("dp"), r.get("exe")) for r in others])
    rates = {}
    for kinds in (("short-curl-4",), ("short-curl-6",), ("short-udp",), ("short-udp-conn",)):
        rates[kinds[0]] = rate(kinds)
    if ebpf:
        # the event-driven source: every short-lived flow (curl -4/-6, sendto,
        # connect + send)
        for k, (a, b) in rates.items():
            check(label + "short-lived %s attributed (eBPF)" % k, a == b, "%d/%d" % (a, b))
    methods = {}
    for r in recs:
        for k in ("exe", "exe_in"):
            if k in r:
                methods[r[k]["method"]] = methods.get(r[k]["method"], 0) + 1
    print("test_exe: %slong-lived %d/%d attributed; short-lived (exits at once%s): %s; "
          "methods %s" % (
              label, rate(("long", "deleted", "server", "replaced"))[0],
              rate(("long", "deleted", "server", "replaced"))[1],
              ", eBPF source" if ebpf else ", no eBPF source: reported, not asserted",
              ", ".join("%s %d/%d" % (k, a, b) for k, (a, b) in rates.items()), methods))


if __name__ == "__main__":
    sys.exit(main())

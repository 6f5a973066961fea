#!/usr/bin/env python3
"""Process attribution (exe=1) in two network namespaces joined by a veth.

Namespace C (the client side, 10.77.0.1 / fd77::1) runs three joys on vc:
`joy -i vc exe=1` (with the eBPF source when it is built and loads),
`joy -i vc exe=1 exe_ebpf=0` (sock_diag alone), and a "delayed" joy with the
test knob JOY_TEST_EXE_EVENT_DELAY_MS=100 (its helper reads each eBPF
event's process 100 ms after the event, as a helper of a loaded host
could: the short-lived processes have exited by then and are described
from the event), all on the same traffic; they enter C with `nsenter
--net` (keeps the cgroup v2 mount the eBPF programs attach to; `ip netns
exec` remounts /sys without it).  Namespace S (10.77.0.2 / fd77::2) runs an
HTTP server (IPv4 and IPv6) and a UDP sink.  All traffic stays inside the
two namespaces, which are removed at the end, also on failure.

Traffic and checks, for each joy: every attribution right: exe.pid the
process's, exe.user its user, exe.ppid the test's pid (`ip netns exec`
executes the command in its own place), time_start - exe.uptime within the
process's life as the test saw it, exe.cgroup its cgroup v2 path, and
exe.path and exe.hash the real binary's path and sha256sum, except for an
eBPF attribution whose process exited before joy read it and whose
executable joy could not identify (no path, no hash: then its name):
  long-lived (must all be attributed): TCP over IPv4 and IPv6 (2 s each),
    one of them as user nobody, a connected UDP socket, a server in the
    capturing namespace (its flows carry the server's process), a copy of
    curl whose file is deleted while it downloads (2 MB at 500 KB/s), and a
    copy of python deleted before it connects (exe.deleted set; the hash is
    the deleted copy's, read through /proc/PID/exe);
  short-lived (the process exits at once; in a cgroup of their own when one
    can be made): N_SHORT each of curl over IPv4 and IPv6, a Python program
    doing one sendto on an unconnected UDP socket, one doing connect and
    send on a UDP socket, on an idle host, then N_SHORT each more while
    2 busy loops per CPU run: with the eBPF source >= 99 % of them must
    carry path and hash (asserted for the plain and the delayed joy);
    reported, not asserted, without it (the socket is usually gone before
    the lookup);
  TCP port reuse: REUSE_N Python clients in turn from one local port (IPv4, IPv6):
    a record per connection (expire_type "c" but the last), each with its
    own process (with the eBPF source; records alone without it);
  never-seen copies of python deleted right after their process exits:
    attributed; by the delayed joy without path or hash (never a guess);
  no exe on flows between other hosts (packets sent from S to an address
    that is not C's, to a port on which C has a wildcard UDP socket);
  exe=1 on a capture file: refused with one line, exit status 2.

Needs root (namespaces, capture); skipped otherwise.  Without libbpf (or
when the programs cannot load here) the eBPF checks are skipped with the
reason joy gave.  EXE_DEBUG=DIR prints joy's messages, copies the records
to DIR and lists the flows without path.
Interpreter: any Python 3 (standard library only).
"""
import hashlib
import json
import os
import re
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
N_SHORT = 20           # of each short-lived kind, idle and again loaded
REUSE_N = 3            # short-lived TCP clients from one local port, one after the other
# below the kernel's ephemeral range (32768-60999) and the UDP senders' 21000-21999,
# so no other client of the test is handed one of them by connect()
REUSE_PORT4, REUSE_PORT6 = 23123, 23124
DELAY_MS = 100         # the delayed joy reads each eBPF event's process this late
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


def cgroup2_mount():
    """The cgroup v2 mount point, or None."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            a, _, b = line.partition(" - ")
            if b.startswith("cgroup2 ") and a.split()[3] == "/":
                return a.split()[4]
    return None


def own_cgroup():
    """This process's cgroup v2 path, None for the root (joy leaves it out)."""
    with open("/proc/self/cgroup") as f:
        for line in f:
            if line.startswith("0::"):
                cg = line[3:].strip()
                return None if cg == "/" else cg
    return None


CG_MNT = cgroup2_mount()
CG_NAME = "/joy-exe-test" + TAG      # the short-lived processes run in it


def teardown():
    if CG_MNT and os.path.isdir(CG_MNT + CG_NAME):
        try:
            os.rmdir(CG_MNT + CG_NAME)
        except OSError:
            pass
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

# argv: host, port, source port: one TCP request from a fixed port, read to
# the end (the server closes first) so that the next client can take the port
TCP_FROM_PORT = r"""
import socket, sys
fam = socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET
s = socket.socket(fam)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('', int(sys.argv[3])))
s.connect((sys.argv[1], int(sys.argv[2])))
s.sendall(b'GET / HTTP/1.0\r\n\r\n')
while s.recv(65536):
    pass
s.close()
"""

# argv: host, port[, source port]: the short-lived UDP senders get a source
# port each (outside the ephemeral range), as two senders that drew the
# same ephemeral port would make one flow of two processes
SHORT_UDP = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
if len(sys.argv) > 3:
    s.bind(('0.0.0.0', int(sys.argv[3])))
s.sendto(b'once', (sys.argv[1], int(sys.argv[2])))
"""

SHORT_UDP_CONN = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
if len(sys.argv) > 3:
    s.bind(('0.0.0.0', int(sys.argv[3])))
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
    expect = {}   # pid -> {kind, path, hash, user, t0, t1 (time.time() around its life)}
    t_srv = time.time()
    local_srv = inns(NC, sys.executable, "-c", TCP_SERVER, "7070", stdout=dev, stderr=dev)
    time.sleep(1.0)
    outs = {"": os.path.join(tmp, "exe.json"),
            "exe_ebpf=0: ": os.path.join(tmp, "exe-noebpf.json"),
            "delayed: ": os.path.join(tmp, "exe-delayed.json")}
    # nsenter --net keeps the mounts (the cgroup v2 hierarchy the eBPF
    # programs attach to); `ip netns exec` remounts /sys without it
    def joy_in_nc(*args, env=None):
        cmd = ["nsenter", "--net=/run/netns/" + NC] if shutil.which("nsenter") \
            else ["ip", "netns", "exec", NC]
        return subprocess.Popen(cmd + [JOY] + list(args), stderr=subprocess.PIPE, env=env)
    joys = {
        "": joy_in_nc("-i", "vc", "exe=1", "-w", outs[""]),
        # the same traffic without the eBPF source (sock_diag alone), for comparison
        "exe_ebpf=0: ": joy_in_nc("-i", "vc", "exe=1", "exe_ebpf=0", "-w", outs["exe_ebpf=0: "]),
        # ... and with a helper that reads each event's process only
        # DELAY_MS after the event (the test knob of sockproc.c): the
        # processes of the short-lived flows have exited by then, and are
        # described from the event (the executable's identity and path)
        "delayed: ": joy_in_nc("-i", "vc", "exe=1", "-w", outs["delayed: "],
                               env=dict(os.environ, JOY_TEST_EXE_EVENT_DELAY_MS=str(DELAY_MS))),
    }
    time.sleep(1.5)

    py = os.path.realpath(sys.executable)
    syspy = os.path.realpath(SYS_PY)
    curl = os.path.realpath(shutil.which("curl"))

    def note(p, kind, path, t0, user="root", h=None):
        expect[p.pid] = {"kind": kind, "path": path, "hash": h or sha256(path), "user": user,
                         "t0": t0, "t1": None}
        return p

    # long-lived
    t0 = time.time()
    longs = [
        note(inns(NC, sys.executable, "-c", LONG_TCP, "10.77.0.2", "8080", stdout=dev, stderr=dev),
             "long", py, t0),
        note(inns(NC, sys.executable, "-c", LONG_TCP, "fd77::2", "8080", stdout=dev, stderr=dev),
             "long", py, t0),
        note(inns(NC, "setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", SYS_PY,
                  "-c", LONG_TCP, "10.77.0.2", "8080", stdout=dev, stderr=dev),
             "long", syspy, t0, "nobody"),
        note(inns(NC, sys.executable, "-c", LONG_UDP, "10.77.0.2", "9999", stdout=dev, stderr=dev),
             "long", py, t0),
    ]
    # a binary deleted while it runs
    dcopy = os.path.join(tmp, "curl-copy")
    shutil.copy2(curl, dcopy)
    dproc = note(inns(NC, dcopy, "-s", "--limit-rate", "500K", "-o", "/dev/null",
                      "http://10.77.0.2:8080/huge", stdout=dev, stderr=dev),
                 "replaced", dcopy, t0)
    # ... and one deleted before it opens its socket (exe.deleted is set)
    pcopy = os.path.join(tmp, "python-copy")
    shutil.copy2(syspy, pcopy)
    pproc = note(inns(NC, pcopy, "-c", "import time; time.sleep(1.0)\n" + LONG_TCP, "10.77.0.2",
                      "8080", stdout=dev, stderr=dev),
                 "deleted", pcopy, t0)
    time.sleep(0.5)
    os.unlink(dcopy)
    os.unlink(pcopy)
    # a server in the capturing namespace (clients in S)
    holds = [inns(NS, sys.executable, "-c", TCP_HOLD, "10.77.0.1", "7070", stdout=dev, stderr=dev)
             for _ in range(2)]
    note(local_srv, "server", py, t_srv)

    # short-lived: N_SHORT of each kind on an idle host, then N_SHORT more
    # while busy loops keep every CPU busy (twice over); in a cgroup of their
    # own when one can be made (joy names it also for processes read after
    # they exited: from the event's cgroup id)
    cg = None
    if CG_MNT:
        try:
            os.mkdir(CG_MNT + CG_NAME)
            cg = CG_NAME
        except OSError as e:
            print("test_exe: no cgroup for the short-lived processes (%s)" % e)
    def into_cg():
        # in the child before `ip netns exec` (which remounts /sys)
        if cg:
            with open(CG_MNT + CG_NAME + "/cgroup.procs", "w") as f:
                f.write("%d" % os.getpid())

    sports = iter(range(21000, 22000))     # a source port per short-lived UDP sender

    def shorts(phase):
        for i in range(N_SHORT):
            for kind, args in (
                    ("short-curl-4", ("curl", "-s", "-4", "-o", "/dev/null",
                                      "http://10.77.0.2:8080/")),
                    ("short-curl-6", ("curl", "-s", "-6", "-o", "/dev/null",
                                      "http://[fd77::2]:8080/")),
                    ("short-udp", (sys.executable, "-c", SHORT_UDP, "10.77.0.2", "9999",
                                   str(next(sports)))),
                    ("short-udp-conn", (sys.executable, "-c", SHORT_UDP_CONN, "10.77.0.2",
                                        "9999", str(next(sports))))):
                t0 = time.time()
                p = inns(NC, *args, stdout=dev, stderr=dev, preexec_fn=into_cg)
                note(p, kind, curl if args[0] == "curl" else py, t0)
                expect[p.pid]["phase"] = phase
                expect[p.pid]["cgroup"] = cg
                p.wait()
                expect[p.pid]["t1"] = time.time()

    shorts("idle")
    # TCP port reuse: REUSE_N short-lived clients one after the other from
    # one local port (IPv4 and IPv6).  Each reads to the end before it
    # closes, so the server closes first: the client's port is free at once
    # (curl may close first and leave it in TIME_WAIT for a minute) and the
    # server's TIME_WAIT accepts the next SYN.  Each connection is a record
    # of its own (expire_type "c" but the last) with its own process.
    for addr, port in (("10.77.0.2", REUSE_PORT4), ("fd77::2", REUSE_PORT6)):
        for i in range(REUSE_N):
            t0 = time.time()
            p = inns(NC, sys.executable, "-c", TCP_FROM_PORT, addr, "8080", str(port),
                     stdout=dev, stderr=dev, preexec_fn=into_cg)
            note(p, "reuse", py, t0)
            expect[p.pid].update(phase="idle", cgroup=cg, port=port)
            rc = p.wait()
            expect[p.pid]["t1"] = time.time()
            expect[p.pid]["rc"] = rc
            time.sleep(0.2)
    # never-seen binaries whose file is deleted right after their process
    # exits: the delayed joy cannot identify them (no path, no hash; never
    # a guess), the others read them while they ran
    for i in range(3):
        gcopy = os.path.join(tmp, "python-gone%d" % i)
        # a new modification time: copies with one mtime may get the freed
        # inode of the previous one, and be taken for it (doc/modules/exe.md)
        shutil.copy(syspy, gcopy)
        t0 = time.time()
        p = note(inns(NC, gcopy, "-c", SHORT_UDP, "10.77.0.2", "9999", stdout=dev, stderr=dev),
                 "gone-deleted", gcopy, t0)
        p.wait()
        os.unlink(gcopy)
        expect[p.pid]["t1"] = time.time()
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
               for _ in range(2 * (os.cpu_count() or 2))]
    try:
        shorts("loaded")
    finally:
        for b in burners:
            b.kill()
            b.wait()
    # flows between other hosts: S -> 10.77.0.9 (UDP to the port of C's wildcard socket, TCP)
    inns(NS, sys.executable, "-c", SHORT_UDP, "10.77.0.9", "5555").wait()
    inns(NS, "curl", "-s", "-m", "1", "http://10.77.0.9:7070/", stdout=dev, stderr=dev).wait()

    for p in longs + holds + [dproc, pproc]:
        rc = p.wait(timeout=30)
        if p.pid in expect:
            expect[p.pid]["t1"] = time.time()
            expect[p.pid]["rc"] = rc
    expect[local_srv.pid]["t1"] = time.time()
    time.sleep(1.0)
    jerrs = {}
    for label, j in joys.items():
        j.send_signal(signal.SIGINT)
        _, e = j.communicate(timeout=30)
        jerrs[label] = e.decode(errors="replace")
        if os.environ.get("EXE_DEBUG"):
            print(jerrs[label])
    if os.environ.get("EXE_DEBUG"):
        for o in outs.values():
            shutil.copy(o, os.path.join(os.environ["EXE_DEBUG"], os.path.basename(o)))
    ebpf = "event-driven source: eBPF" in jerrs[""]
    if not ebpf:
        why = [l for l in jerrs[""].splitlines() if "event-driven source" in l]
        print("test_exe: eBPF source not active (%s): short-lived flows reported, not asserted"
              % (why[0].split("event-driven source: ", 1)[-1] if why else "no start-up line"))
    # each process's flows as any joy attributed them (to say, when one
    # joy misses a process, what became of its flows there)
    recs = {label: flow_records(o) for label, o in outs.items()}
    tuples = {}
    for r in (r for rs in recs.values() for r in rs):
        for k in ("exe", "exe_in"):
            if k in r:
                tuples.setdefault(r[k]["pid"], set()).add(five_tuple(r))
    for label in outs:
        analyse(label, recs[label], jerrs[label], ebpf and label != "exe_ebpf=0: ", expect,
                local_srv, tuples)
    check("exe_ebpf=0 says the eBPF source is off",
          "event-driven source: off (exe_ebpf=0)" in jerrs["exe_ebpf=0: "], jerrs["exe_ebpf=0: "])
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


def flow_records(path):
    """The flow records of one joy's output (not its metadata line)."""
    with open(path) as f:
        return [o for o in map(json.loads, f) if "sa" in o]


def five_tuple(r):
    return (r.get("sa"), r.get("sp"), r.get("da"), r.get("dp"), r.get("pr"))


def analyse(label, recs, jerr, ebpf, expect, local_srv, tuples):
    """Check one joy's records; short-lived flows asserted only with eBPF."""
    joy_rc = 0 if "packets received by filter" in jerr else 1
    check(label + "joy exit", joy_rc == 0, jerr)
    check(label + "start-up line names the method", "exe=1: sock_diag" in jerr, jerr)

    # every attribution must be right: pid, user, ppid (the test's own
    # process: `ip netns exec` executes the command in its place), the
    # process's start (time_start - uptime) within its life as the test saw
    # it; path and hash those of the real binary (sha256sum), except for an
    # eBPF attribution whose process had exited before joy read it and whose
    # executable joy could not identify: then no path, no hash, and its name
    # the kernel's comm (python3 for python3.11 run through its link)
    full = {}     # pid -> records with path and hash right
    seen = {}     # pid -> records attributed right (with or without path)
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
            start = r["time_start"] - e.get("uptime", -1e9)
            t1 = exp["t1"] or time.time()
            if e.get("user") != exp["user"] or e.get("ppid") != os.getpid() or \
                    not exp["t0"] - 0.1 <= start <= t1 + 0.1:
                wrong.append((exp["kind"], "pid/user/ppid/uptime", exp, e, r["time_start"]))
                continue
            if e.get("cgroup") != exp.get("cgroup", own_cgroup()):
                wrong.append((exp["kind"], "cgroup", exp, e))
                continue
            if "path" in e:
                ok = e.get("path") == exp["path"] and e.get("hash") == exp["hash"]
            else:
                ok = e.get("method") == "ebpf" and "hash" not in e and bool(e.get("name")) and \
                    os.path.basename(exp["path"]).startswith(e["name"])
            if not ok:
                wrong.append((exp["kind"], exp["path"], exp["user"], e))
                continue
            if exp["kind"] == "deleted" and not e.get("deleted"):
                wrong.append(("not marked deleted", e))
                continue
            seen.setdefault(e["pid"], []).append(r)
            if "path" in e:
                full.setdefault(e["pid"], []).append(r)
    check(label + "every attribution is right (path, sha256, pid, user, ppid, uptime, cgroup)",
          not wrong, wrong[:3])
    if os.environ.get("EXE_DEBUG"):
        for p, v in sorted(expect.items()):
            if p not in full:
                print("no path:", label, p, v["kind"], v.get("phase"), "attributed" if p in seen
                      else "not attributed")

    def rate(kinds, phases=None, got=full):
        pids = [p for p, v in expect.items() if v["kind"] in kinds and
                (phases is None or v.get("phase") in phases)]
        return sum(1 for p in pids if p in got), len(pids)

    def missed_long(kinds):
        """What a miss of a long-lived process was: its exit status, when
        the test reaped it, its flows as another joy saw them and their
        records here, and joy's lookup counts."""
        out = []
        for p, v in sorted(expect.items()):
            if v["kind"] in kinds and p not in full:
                mine = [(r.get("sp"), r.get("dp"), r.get("expire_type"), r.get("num_pkts_out"),
                         r.get("num_pkts_in"), r.get("exe"), r.get("exe_in"))
                        for r in recs if five_tuple(r) in tuples.get(p, ())]
                out.append({"pid": p, "kind": v["kind"], "rc": v.get("rc"),
                            "reaped after s": round((v["t1"] or time.time()) - v["t0"], 2),
                            "flows elsewhere": sorted(tuples.get(p, ()), key=str),
                            "their records here": mine})
        return out, [l for l in jerr.splitlines() if "joy: exe:" in l][-1:]

    got, n = rate(("long",))
    check(label + "long-lived TCP/UDP v4/v6 attributed", got == n,
          ("%d/%d" % (got, n), missed_long(("long",))))
    got, n = rate(("deleted",))
    check(label + "binary deleted before it connects: attributed, exe.deleted", got == n,
          ("%d/%d" % (got, n), missed_long(("deleted",))))
    got, n = rate(("replaced",))
    check(label + "binary deleted while it downloads: attributed, its hash", got == n,
          ("%d/%d" % (got, n), missed_long(("replaced",))))
    srv = [r for r in recs if r.get("dp") == 7070 and r.get("da") == "10.77.0.1"]
    ok = len(srv) == 2 and all(r.get("exe", {}).get("pid") == local_srv.pid for r in srv)
    check(label + "server in the capturing namespace", ok, srv)
    others = [r for r in recs if "10.77.0.9" in (r.get("sa"), r.get("da"))]
    check(label + "flows between other hosts carry no exe",
          len(others) >= 2 and not any("exe" in r or "exe_in" in r for r in others),
          [(r.get("sa"), r.get("da"), r.get("dp"), r.get("exe")) for r in others])
    short = ("short-curl-4", "short-curl-6", "short-udp", "short-udp-conn")
    rates = {(k, ph): rate((k,), (ph,)) for ph in ("idle", "loaded") for k in short}
    if ebpf:
        # the event-driven source: >= 99 % of the short-lived flows (curl
        # -4/-6, sendto, connect + send; idle and loaded) with the path and
        # SHA-256 of their binary
        got, n = rate(short)
        # (the detail: joy's own account of its lookups, and the short-lived
        # processes whose flows have no record with their path)
        missed = sorted((v["kind"], v["phase"], p) for p, v in expect.items()
                        if v["kind"] in short and p not in full)
        check(label + "short-lived flows with path and hash (eBPF): >= 99%",
              n and got >= 0.99 * n, "%d/%d %s; missed %s; %s" % (
                  got, n, rates, missed[:6],
                  [l for l in jerr.splitlines() if "joy: exe:" in l][-1:]))
    # TCP port reuse: one record per connection, each with its own process
    for port in (REUSE_PORT4, REUSE_PORT6):
        pids = [p for p, v in expect.items() if v["kind"] == "reuse" and v.get("port") == port]
        # records of these clients' time only: a port is never promised to
        # one program, even outside the ephemeral range
        lo = min((expect[p]["t0"] for p in pids), default=0) - 0.1
        hi = max((expect[p]["t1"] for p in pids), default=0) + 0.1
        rs = sorted((r for r in recs if r.get("sp") == port and r.get("dp") == 8080
                     and lo <= r["time_start"] <= hi),
                    key=lambda r: r["time_start"])
        ok = len(pids) == REUSE_N and all(expect[p]["rc"] == 0 for p in pids) and \
            len(rs) == len(pids) and \
            [r.get("expire_type") for r in rs][:-1] == ["c"] * (len(pids) - 1)
        if ebpf:
            ok = ok and [r.get("exe", {}).get("pid") for r in rs] == pids and \
                all(p in full for p in pids)
        check(label + "TCP port reuse (port %d): a record per connection%s" % (
            port, ", each with its process" if ebpf else ""), ok,
            ([expect[p]["rc"] for p in pids], sorted(pids),
             [(r.get("expire_type"), r.get("num_pkts_out"), r.get("exe", {}).get("pid")) for r in rs]))
    # the never-seen deleted binary: attributed (pid, user); by the delayed
    # joy without path and hash
    g = [p for p, v in expect.items() if v["kind"] == "gone-deleted"]
    check(label + "short-lived, binary deleted after it exits: attributed",
          not ebpf or all(p in seen for p in g), [(p, p in seen) for p in g])
    if label == "delayed: " and ebpf:
        check(label + "... and with no path or hash when read after its exit",
              not any(p in full for p in g), [full.get(p) for p in g])
    m = re.search(r"(\d+) processes gone before read, (\d+) of them with a known executable", jerr)
    if label == "delayed: " and ebpf:
        # the knob worked: the short-lived processes had exited when read
        n = rate(short)[1]
        check(label + "short-lived processes had exited before joy read them",
              m and int(m.group(1)) >= n // 2, m and m.group(0))
    methods = {}
    for r in recs:
        for k in ("exe", "exe_in"):
            if k in r:
                methods[r[k]["method"]] = methods.get(r[k]["method"], 0) + 1
    print("test_exe: %slong-lived %d/%d attributed; short-lived (exits at once%s), with path "
          "and hash: %s; %s; methods %s" % (
              label, rate(("long", "deleted", "server", "replaced"))[0],
              rate(("long", "deleted", "server", "replaced"))[1],
              ", eBPF source" if ebpf else ", no eBPF source: reported, not asserted",
              ", ".join("%s %s %d/%d" % (k, ph, a, b) for (k, ph), (a, b) in rates.items()),
              m.group(0) if m else "no process gone", methods))


if __name__ == "__main__":
    sys.exit(main())

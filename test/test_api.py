#!/usr/bin/env python3
"""libjoy as a user gets it: a staged install, the guide's examples, the API tests.

Runs with any Python 3 (standard library only).  Needs cc, make, nm, readelf
(binutils), pkg-config and libpcap's headers.

  1. `make install DESTDIR=$TMP PREFIX=/usr` (against the existing build:
     JOY_BUILD, default build/; nothing is rebuilt that is up to date), then
     the installed tree: header, libjoy.a, libjoy.so -> libjoy.so.1 ->
     libjoy.so.X.Y.Z, joy.pc, man pages (libjoy.3 lists every function of
     joy.h), /etc/joy/options.cfg, share data; the soname; every dynamic
     symbol of libjoy.so and every global symbol of libjoy.a starts with
     joy_, and every function of joy.h is exported.
  2. The FIRST ```c block of doc/libjoy.md, compiled with
     `cc ... $(pkg-config --cflags --libs joy) -lpcap` against the staged
     install (PKG_CONFIG_SYSROOT_DIR) and statically (libjoy.a): its whole
     output must equal `joy -w - FILE [options]` byte for byte, on
     test/data/sample.pcap and on the captures of ../shared/pcaps (when that
     directory exists: CI has it, a fresh clone does not), for two option
     sets.  The second block (two threads) must give joy's records.
  3. test/api/api_basics.c (the API surface, its own "N passed, N failed")
     and test/api/api_threads.c (N meters on N threads, packets split by
     joy_flow_hash, clocks kept in step by joy_meter_advance) built against
     the install: api_threads with 2 and 3 threads gives, as a multiset,
     exactly joy's records.
  4. JOY_TSAN_API (the `make tsan` build of api_threads.c with
     ThreadSanitizer): a few captures, halt_on_error=1, same records and no
     report.  Skipped with a message when unset, not built, or when the
     TSan runtime cannot run here.
  5. `make uninstall DESTDIR=$TMP PREFIX=/usr` leaves no file behind.

Environment: JOY (joy binary, default ./joy), JOY_BUILD (build directory),
JOY_TSAN_API, CC (default cc), JOY_SHARED_PCAPS (default ../shared/pcaps).
Prints one line per check; the last line is "N passed, N failed, N skipped".
"""
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JOY = os.environ.get("JOY", os.path.join(ROOT, "joy"))
BUILD = os.environ.get("JOY_BUILD", os.path.join(ROOT, "build"))
CC = os.environ.get("CC", "cc")
SHARED = os.environ.get("JOY_SHARED_PCAPS",
                        os.path.join(os.path.dirname(ROOT), "shared", "pcaps"))
SAMPLE = os.path.join(ROOT, "test", "data", "sample.pcap")

OPTION_SETS = [[], ["tls=1", "dns=1", "http=1", "fpx=1", "dist=1"]]
# For the threaded runs also short timeouts: expiry in the middle of the
# capture, where the meters' clocks must move together.
THREAD_OPTION_SETS = OPTION_SETS + [["inactive_timeout=1", "active_timeout=2", "tls=1",
                                     "ssh=1", "quic=1", "wht=1", "hd=1"]]
# Captures that the example legitimately reads differently from joy.
KNOWN_DIFFERENT = {
    # packet times in the year 151991: beyond 2^64 ns since the epoch; joy's
    # reader saturates them, the example's tv_sec * 1e9 wraps around.
    "pcapng-little-endian-dhcp.pcapng",
}
MIN_SHARED = 8

RESULTS = {"passed": 0, "failed": 0, "skipped": 0}


def report(ok, name, detail=""):
    RESULTS["passed" if ok else "failed"] += 1
    print("%s %s%s" % ("PASS" if ok else "FAIL", name,
                       (": " + detail) if detail and not ok else ""))
    sys.stdout.flush()
    return ok


def skip(name, why):
    RESULTS["skipped"] += 1
    print("SKIP %s: %s" % (name, why))
    sys.stdout.flush()


def run(cmd, env=None, cwd=None, timeout=120, stdin=None):
    e = dict(os.environ)
    if env:
        e.update(env)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e,
                       cwd=cwd or ROOT, timeout=timeout, stdin=stdin or subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def header_functions():
    text = open(os.path.join(ROOT, "include", "joy", "joy.h")).read()
    return sorted(set(re.findall(r"JOY_API[^;(]*?\b(joy_\w+)\s*\(", text)))


def header_version():
    text = open(os.path.join(ROOT, "include", "joy", "joy.h")).read()
    return re.search(r'#define JOY_VERSION_STRING "([^"]+)"', text).group(1)


# ---------------------------------------------------------------------------
# 1. the installed tree

def check_tree(stage):
    usr = os.path.join(stage, "usr")
    lib = os.path.join(usr, "lib")
    version = header_version()
    real = "libjoy.so." + version
    files = ["usr/bin/joy", "usr/bin/joy-anon", "usr/include/joy/joy.h", "usr/lib/libjoy.a",
             "usr/lib/" + real, "usr/lib/pkgconfig/joy.pc", "usr/share/man/man1/joy.1",
             "usr/share/man/man1/joy-anon.1", "usr/share/man/man3/libjoy.3",
             "etc/joy/options.cfg", "usr/share/joy/compact_bd.txt",
             "usr/share/joy/internal.net"]
    missing = [f for f in files if not os.path.isfile(os.path.join(stage, f))]
    report(not missing, "install: every file in place", "missing " + ", ".join(missing))
    same = (os.path.isfile(os.path.join(usr, "include/joy/joy.h")) and
            open(os.path.join(usr, "include/joy/joy.h"), "rb").read() ==
            open(os.path.join(ROOT, "include/joy/joy.h"), "rb").read())
    report(same, "install: the header is include/joy/joy.h")

    def link(name):
        p = os.path.join(lib, name)
        return os.readlink(p) if os.path.islink(p) else None
    chain = (link("libjoy.so"), link("libjoy.so.1"))
    report(chain == ("libjoy.so.1", real) and not os.path.islink(os.path.join(lib, real)),
           "install: libjoy.so -> libjoy.so.1 -> " + real, "found %r" % (chain,))

    pc = {}
    pcfile = os.path.join(lib, "pkgconfig", "joy.pc")
    if os.path.isfile(pcfile):
        for line in open(pcfile):
            m = re.match(r"(\w+)\s*[=:]\s*(.*)", line.strip())
            if m:
                pc[m.group(1)] = m.group(2)
    report(pc.get("prefix") == "/usr" and pc.get("libdir") == "/usr/lib" and
           pc.get("includedir") == "/usr/include" and pc.get("Version") == version,
           "install: joy.pc names PREFIX=/usr and version " + version, repr(pc))

    rc, out, err = run(["readelf", "-d", os.path.join(lib, real)])
    soname = re.search(r"\(SONAME\).*\[(.*)\]", out.decode())
    report(rc == 0 and soname and soname.group(1) == "libjoy.so.1", "libjoy.so: SONAME libjoy.so.1",
           soname.group(1) if soname else err.strip())

    rc, out, err = run(["nm", "-D", "--defined-only", os.path.join(lib, real)])
    syms = []
    for line in out.decode().splitlines():
        parts = line.split()
        if len(parts) >= 2:
            typ, name = parts[-2], parts[-1]
            if typ == "A" and re.match(r"JOY_\d+$", name):
                continue  # the version node of the version script
            syms.append(name.split("@")[0])
    bad = [s for s in syms if not s.startswith("joy_")]
    report(rc == 0 and syms and not bad, "libjoy.so: %d dynamic symbols, all joy_*" % len(syms),
           "not joy_: " + " ".join(bad[:20]) if bad else err.strip())
    missing = [f for f in header_functions() if f not in syms]
    report(rc == 0 and not missing, "libjoy.so: exports every function of joy.h (%d)"
           % len(header_functions()), "missing " + " ".join(missing))

    rc, out, err = run(["nm", "-g", "--defined-only", os.path.join(lib, "libjoy.a")])
    gsyms = [l.split()[-1] for l in out.decode().splitlines()
             if l.strip() and not l.endswith(":") and len(l.split()) >= 2]
    bad = [s for s in gsyms if not s.startswith("joy_")]
    report(rc == 0 and gsyms and not bad, "libjoy.a: %d global symbols, all joy_*" % len(gsyms),
           "not joy_: " + " ".join(bad[:20]) if bad else err.strip())

    man3 = os.path.join(usr, "share/man/man3/libjoy.3")
    text = open(man3).read() if os.path.isfile(man3) else ""
    missing = [f for f in header_functions() if f + "(" not in text.replace("\\", "")]
    report(text and not missing, "libjoy.3: names every function of joy.h",
           "missing " + " ".join(missing))
    if shutil.which("groff"):
        rc, out, err = run(["groff", "-man", "-Tutf8", "-ww", "-z", man3])
        report(rc == 0 and not err.strip(), "libjoy.3: groff -man renders without warnings",
               err.strip()[:300])
    else:
        skip("libjoy.3 renders", "groff not installed")


# ---------------------------------------------------------------------------
# building against the staged install

def pc_env(stage):
    return {"PKG_CONFIG_PATH": os.path.join(stage, "usr", "lib", "pkgconfig"),
            "PKG_CONFIG_SYSROOT_DIR": stage, "PKG_CONFIG_LIBDIR": ""}


def pkg_config(stage, *args):
    rc, out, err = run(["pkg-config"] + list(args) + ["joy"], env=pc_env(stage))
    if rc != 0:
        raise RuntimeError("pkg-config %s joy: %s" % (" ".join(args), err.strip()))
    return out.decode().split()


def compile_c(name, src, out, flags, std=None):
    cmd = [CC] + ([std] if std else []) + ["-Wall", "-Wextra", "-O1", "-o", out, src] + flags
    rc, _, err = run(cmd)
    ok = rc == 0 and not err.strip()
    report(ok, "build " + name, (" ".join(cmd) + "\n" + err.strip())[:1500])
    return ok


def first_blocks(path, n):
    text = open(path).read()
    return re.findall(r"^```c\n(.*?)^```", text, re.S | re.M)[:n]


# ---------------------------------------------------------------------------
# joy's output, cached

JOY_OUT = {}


def joy_output(capture, opts):
    key = (capture, tuple(opts))
    if key not in JOY_OUT:
        rc, out, _ = run([JOY, "-w", "-", capture] + opts, timeout=120)
        JOY_OUT[key] = (rc, out)
    return JOY_OUT[key]


def records_of(blob):
    lines = blob.splitlines(keepends=True)
    return collections.Counter(lines)


def comparable_captures():
    """sample.pcap, and the shared captures (or None when absent)."""
    if not os.path.isdir(SHARED):
        return None
    names = sorted(n for n in os.listdir(SHARED)
                   if n.endswith((".pcap", ".pcapng", ".cap")) and n not in KNOWN_DIFFERENT)
    return [os.path.join(SHARED, n) for n in names]


def compare_whole(prog, env, captures, opts):
    """prog FILE opts must write exactly what joy -w - FILE opts writes."""
    compared, bad, not_joy = 0, [], 0
    for cap in captures:
        jrc, jout = joy_output(cap, opts)
        if jrc != 0:
            not_joy += 1  # joy's own reader reports damage or an unsupported link type
            continue
        rc, out, err = run([prog, cap] + opts, env=env, timeout=120)
        compared += 1
        if rc != 0 or out != jout:
            bad.append("%s (rc %d%s)" % (os.path.basename(cap), rc,
                                         ": " + err.strip()[:200] if err.strip() else ""))
    return compared, bad, not_joy


def compare_records(prog, args, env, captures, opts, cwd=None, check_stderr=None):
    """prog args FILE opts must write joy's records (as a multiset)."""
    compared, bad = 0, []
    for cap in captures:
        jrc, jout = joy_output(cap, opts)
        if jrc != 0:
            continue
        rc, out, err = run([prog] + args + [cap] + opts, env=env, cwd=cwd, timeout=300)
        compared += 1
        want = records_of(jout.split(b"\n", 1)[1] if b"\n" in jout else b"")
        problem = None
        if rc != 0:
            problem = "rc %d: %s" % (rc, err.strip()[:300])
        elif check_stderr and check_stderr(err):
            problem = "stderr: " + err.strip()[:600]
        elif records_of(out) != want:
            got = records_of(out)
            problem = "%d records, joy has %d; %d differ" % (
                sum(got.values()), sum(want.values()), sum(((got - want) + (want - got)).values()))
        if problem:
            bad.append("%s: %s" % (os.path.basename(cap), problem))
    return compared, bad


def opts_name(opts):
    return "[%s]" % (" ".join(opts) if opts else "defaults")


# ---------------------------------------------------------------------------

def main():
    t0 = time.time()
    tmp = tempfile.mkdtemp(prefix="joy-api-")
    try:
        run_all(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("(%.1f s)" % (time.time() - t0))
    print("%d passed, %d failed, %d skipped" % (RESULTS["passed"], RESULTS["failed"],
                                                RESULTS["skipped"]))
    return 1 if RESULTS["failed"] else 0


def run_all(tmp):
    stage = os.path.join(tmp, "stage")
    make_vars = ["DESTDIR=" + stage, "PREFIX=/usr"]
    if os.path.abspath(BUILD) != os.path.join(ROOT, "build"):
        make_vars.append("BUILD=" + BUILD)
    rc, out, err = run(["make", "--no-print-directory", "install"] + make_vars, timeout=900)
    if not report(rc == 0, "make install DESTDIR=... PREFIX=/usr",
                  (out.decode("utf-8", "replace")[-1500:] + err[-1500:])):
        return
    check_tree(stage)

    # the joy command's message for an unknown key is the library's
    rc, _, err = run([JOY, "nosuchkey=1", SAMPLE])
    report(rc == 2 and err == "joy: command line: unknown option 'nosuchkey' (see joy -h)\n",
           "joy nosuchkey=1: the message api_basics expects from joy_config_set",
           "rc %d, %r" % (rc, err))

    try:
        cflags = pkg_config(stage, "--cflags")
        libs = pkg_config(stage, "--libs")
        static_libs = [("-l:libjoy.a" if f == "-ljoy" else f)
                       for f in pkg_config(stage, "--static", "--libs")]
        report(any(f.startswith("-I" + stage) for f in cflags) and "-ljoy" in libs,
               "pkg-config --cflags --libs joy", " ".join(cflags + libs))
    except RuntimeError as e:
        report(False, "pkg-config", str(e))
        return
    runenv = {"LD_LIBRARY_PATH": os.path.join(stage, "usr", "lib")}
    captures = comparable_captures()

    # --- the guide's examples ---------------------------------------------
    guide = os.path.join(ROOT, "doc", "libjoy.md")
    blocks = first_blocks(guide, 2)
    if not report(len(blocks) == 2, "doc/libjoy.md has its two C examples", "%d" % len(blocks)):
        blocks += [""] * 2
    ex1, ex2 = os.path.join(tmp, "flows.c"), os.path.join(tmp, "flows2.c")
    open(ex1, "w").write(blocks[0])
    open(ex2, "w").write(blocks[1])
    builds = {}
    if compile_c("doc/libjoy.md example 1 (shared)", ex1, os.path.join(tmp, "flows"),
                 cflags + libs + ["-lpcap"]):
        builds["shared"] = os.path.join(tmp, "flows")
    if compile_c("doc/libjoy.md example 1 (static libjoy.a)", ex1,
                 os.path.join(tmp, "flows-static"), cflags + static_libs + ["-lpcap"]):
        rc, out, _ = run(["readelf", "-d", os.path.join(tmp, "flows-static")])
        if report(rc == 0 and b"libjoy" not in out, "example 1 (static) needs no libjoy.so"):
            builds["static"] = os.path.join(tmp, "flows-static")
    for kind, prog in sorted(builds.items()):
        for opts in OPTION_SETS:
            n, bad, _ = compare_whole(prog, runenv, [SAMPLE], opts)
            report(n == 1 and not bad, "example 1 (%s) = joy -w - sample.pcap %s"
                   % (kind, opts_name(opts)), "; ".join(bad))
            if captures is None:
                skip("example 1 (%s) on shared captures %s" % (kind, opts_name(opts)),
                     "%s does not exist" % SHARED)
                continue
            n, bad, not_joy = compare_whole(prog, runenv, captures, opts)
            report(n >= MIN_SHARED and not bad,
                   "example 1 (%s) = joy -w - on %d shared captures %s (left out: %d that "
                   "joy rejects, %d known to differ)"
                   % (kind, n, opts_name(opts), not_joy, len(KNOWN_DIFFERENT)),
                   "; ".join(bad[:10]) or "fewer than %d compared" % MIN_SHARED)
    if compile_c("doc/libjoy.md example 2 (two threads)", ex2, os.path.join(tmp, "flows2"),
                 cflags + libs + ["-lpcap", "-lpthread"]):
        caps = [SAMPLE] + (captures or [])[:12]
        n, bad = compare_records(os.path.join(tmp, "flows2"), [], runenv, caps, [])
        report(n >= 1 and not bad, "example 2 gives joy's records on %d captures" % n,
               "; ".join(bad[:10]))

    # --- test/api --------------------------------------------------------------
    basics = os.path.join(tmp, "api_basics")
    if compile_c("test/api/api_basics.c", os.path.join(ROOT, "test", "api", "api_basics.c"),
                 basics, cflags + libs, std="-std=c11"):
        rc, out, err = run([basics, tmp], env=runenv)
        lines = out.decode("utf-8", "replace").strip().splitlines()
        last = lines[-1] if lines else ""
        m = re.match(r"(\d+) passed, (\d+) failed$", last)
        report(rc == 0 and m and m.group(2) == "0" and int(m.group(1)) > 0,
               "api_basics: " + last, "\n".join(lines[-20:]) + err[-500:])
    threads = os.path.join(tmp, "api_threads")
    if compile_c("test/api/api_threads.c", os.path.join(ROOT, "test", "api", "api_threads.c"),
                 threads, cflags + libs + ["-lpcap", "-lpthread"], std="-std=gnu11"):
        caps = [SAMPLE] + (captures or [])
        for n_threads in (2, 3):
            for opts in THREAD_OPTION_SETS:
                n, bad = compare_records(threads, ["-t", str(n_threads)], runenv, caps, opts)
                report(n >= (1 + MIN_SHARED if captures else 1) and not bad,
                       "api_threads -t %d: joy's records on %d captures %s"
                       % (n_threads, n, opts_name(opts)), "; ".join(bad[:10]))
        if captures is None:
            skip("api_threads on shared captures", "%s does not exist" % SHARED)

    # --- ThreadSanitizer ---------------------------------------------------------
    check_tsan(tmp, captures)

    # --- uninstall ---------------------------------------------------------------
    rc, out, err = run(["make", "--no-print-directory", "uninstall"] + make_vars, timeout=300)
    left = []
    for d, _, names in os.walk(stage):
        left += [os.path.relpath(os.path.join(d, n), stage) for n in names]
    report(rc == 0 and not left, "make uninstall leaves no file behind",
           "rc %d; left: %s" % (rc, " ".join(sorted(left)[:20])))


def check_tsan(tmp, captures):
    tsan = os.environ.get("JOY_TSAN_API")
    if not tsan:
        skip("ThreadSanitizer api_threads", "JOY_TSAN_API is not set (make check sets it)")
        return
    if not os.path.isfile(tsan):
        skip("ThreadSanitizer api_threads", "%s was not built (make tsan: no TSan here?)" % tsan)
        return
    env = {"TSAN_OPTIONS": "halt_on_error=1"}
    rc, _, err = run([tsan, SAMPLE], env=env)
    if rc != 0 and "ThreadSanitizer" in err and "WARNING: ThreadSanitizer" not in err:
        skip("ThreadSanitizer api_threads", "the TSan runtime cannot run here: " +
             err.strip().splitlines()[0][:200])
        return
    names = ["browser-firefox58-mixed.pcap", "tls-clienthellos-top100.pcap",
             "ipv4-fragments-udp.pcap", "quic-v2-http3.pcap", "dns-mx-loc-many-queries.pcap"]
    caps = [SAMPLE] + [c for c in (captures or []) if os.path.basename(c) in names]
    key = os.path.join(tmp, "anon.key")
    sets = [["tls=1", "dns=1", "http=1", "fpx=1", "dist=1", "quic=1"],
            ["anon=" + os.path.join(ROOT, "share", "internal.net"), "anon_key=" + key,
             "inactive_timeout=1", "active_timeout=2"]]
    for opts in sets:
        n, bad = compare_records(tsan, ["-t", "3"], env, caps, opts, cwd=tmp,
                                 check_stderr=lambda e: "ThreadSanitizer" in e)
        report(n >= 1 and not bad, "ThreadSanitizer api_threads -t 3: no report, joy's records "
               "on %d captures %s" % (n, opts_name([o.split("=")[0] + "=..." if "/" in o else o
                                                     for o in opts])), "; ".join(bad[:5]))


if __name__ == "__main__":
    sys.exit(main())

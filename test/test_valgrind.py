#!/usr/bin/env python3
"""valgrind memcheck over joy with every module on: no invalid read or write,
no use of uninitialised memory, no leak.

Runs the release binary (JOY) under `valgrind --leak-check=full
--errors-for-leak-kinds=definite,indirect --error-exitcode=99` on the bundled
sample and, when ../shared/pcaps is present, on a few captures that exercise
TLS, DNS, HTTP, fragments and damaged input.  Skipped when valgrind is absent.
"""
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JOY = os.environ.get("JOY", os.path.join(ROOT, "joy"))
SHARED = os.path.join(ROOT, "..", "shared", "pcaps")


def module_options():
    """Every boolean and numeric module option switched on (file options left out)."""
    cfg = subprocess.run([JOY, "--options-cfg"], stdout=subprocess.PIPE, check=True).stdout.decode()
    opts = []
    section_core = True
    for line in cfg.splitlines():
        if line.startswith("# ---- ") and "core" not in line:
            section_core = False
        if section_core or line.startswith("#") or "=" not in line:
            continue
        key, val = [x.strip() for x in line.split("=", 1)]
        if val == "0" and key != "exe":   # exe=1: live capture only
            opts.append(key + "=" + ("32" if key in ("idp", "payload", "hd", "dist_bytes") else "1"))
    if "classify=1" in opts:  # the classifier needs a model file
        opts.append("model=" + os.path.join(ROOT, "test", "data", "classify.model"))
    return opts + ["fpx=1"]


def main():
    if not shutil.which("valgrind"):
        print("skipped: valgrind is not installed")
        print("0 passed, 0 failed, 1 skipped")
        return 0
    inputs = [os.path.join(ROOT, "test", "data", "sample.pcap")]
    for name in ("tls12-handshake-selfsigned.pcap", "mixed-joy-sample-http-dns.pcap",
                 "ipv4-fragments-udp.pcap", "malformed-tls-cert-der-and-bad-record.pcap",
                 "dns-over-tcp-edns-cookie.pcap", "ikev2-sa-init.pcap", "dhcp-joy.pcap",
                 "ssh-dropbear.pcap"):
        p = os.path.join(SHARED, name)
        if os.path.exists(p):
            inputs.append(p)
    if len(inputs) == 1:
        print("note: ../shared/pcaps absent; valgrind runs on the bundled sample only")
    opts = module_options()
    passed = failed = 0
    tmp = tempfile.mkdtemp(prefix="joy-vg-")
    try:
        for path in inputs:
            out = os.path.join(tmp, "out.json.gz")
            cmd = ["valgrind", "-q", "--leak-check=full", "--errors-for-leak-kinds=definite,indirect",
                   "--error-exitcode=99", JOY, "-r", path, "-w", out, "progress=0",
                   "anon_key=" + os.path.join(tmp, "key")] + opts
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600)
            err = p.stderr.decode("utf-8", "replace")
            if p.returncode in (0, 1) and "==" not in err:
                passed += 1
            else:
                failed += 1
                print("FAIL %s (exit %d):\n%s" % (os.path.basename(path), p.returncode, err[-4000:]))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""sleuth --fingerprint on fresh traffic: browsers and libraries are recognised.

Interpreter: any Python 3 (standard library only; sleuth runs with the same one).

On the loopback interface, as root: three `openssl s_server -www` on
127.0.0.1 (a throw-away certificate), `joy -i lo tls=1 fpx=1` capturing
their ports, and three clients, one per server:

  * headless Debian Chromium (new empty profile) fetching https://127.0.0.1:P1/;
  * curl fetching https://localhost:P2/ (--resolve to 127.0.0.1, so SNI is sent);
  * `openssl s_client -tls1_2 -cipher AES128-SHA256:CAMELLIA128-SHA`, a client
    that is not in the database.

Then `sleuth OUT --fingerprint` (the shipped database,
sleuth/sleuth_pkg/data/fingerprints.json, built by sleuth/tools/build_fpdb.sh)
must name chromium and curl with the installed versions -- Chromium matched
on the order-independent Joy string and JA4 although its extension order and
GREASE values differ from the run the database was built from -- and report
no match for the third client.

Skipped, with a message, without root (live capture), openssl, curl or
chromium, and when the installed chromium or curl is not the version the
database was built with (rebuild it with `sh sleuth/tools/build_fpdb.sh`).
Last line: "N passed, N failed, N skipped".
"""
import gzip
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JOY = os.environ.get("JOY", os.path.join(ROOT, "joy"))
SLEUTH = os.path.join(ROOT, "sleuth", "sleuth")
DB = os.path.join(ROOT, "sleuth", "sleuth_pkg", "data", "fingerprints.json")
sys.path.insert(0, os.path.join(ROOT, "sleuth"))
from sleuth_pkg import tlsfp  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
RESULTS = {"passed": 0, "failed": 0, "skipped": 0}


def check(name, condition, detail=""):
    if condition:
        RESULTS["passed"] += 1
    else:
        RESULTS["failed"] += 1
        print("FAIL %s %s" % (name, detail))


def skip(name, why):
    RESULTS["skipped"] += 1
    print("skipped: %s: %s" % (name, why))


def done():
    print("%d passed, %d failed, %d skipped"
          % (RESULTS["passed"], RESULTS["failed"], RESULTS["skipped"]))
    return 1 if RESULTS["failed"] else 0


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_listening(port, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def version_of(command, field):
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    words = out.split("\n", 1)[0].split()
    return words[field] if len(words) > field else None


def main():
    if os.geteuid() != 0:
        print("skipped: live capture on lo needs root")
        print("0 passed, 0 failed, 1 skipped")
        return 0
    for tool in ("openssl", "curl"):
        if not shutil.which(tool):
            print("skipped: %s is not installed" % tool)
            print("0 passed, 0 failed, 1 skipped")
            return 0
    with open(DB) as handle:
        entries = json.load(handle)["entries"]
    db_versions = {}
    for entry in entries:
        db_versions.setdefault(entry.get("client"), set()).add(entry.get("client_version"))
    curl_version = version_of(["curl", "--version"], 1)
    chromium_version = version_of([CHROMIUM, "--version"], 1) if CHROMIUM else None

    tmp = tempfile.mkdtemp(prefix="joy-sleuth-fpdb-")
    procs = []
    try:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-keyout", os.path.join(tmp, "key.pem"),
                        "-out", os.path.join(tmp, "cert.pem"), "-days", "1",
                        "-subj", "/CN=localhost"], capture_output=True, check=True)
        ports = {name: free_port() for name in ("chromium", "curl", "unknown")}
        for port in ports.values():
            procs.append(subprocess.Popen(
                ["openssl", "s_server", "-accept", "127.0.0.1:%d" % port,
                 "-cert", os.path.join(tmp, "cert.pem"), "-key", os.path.join(tmp, "key.pem"),
                 "-www", "-quiet"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        if not all(wait_listening(p) for p in ports.values()):
            check("s_server listening", False)
            return done()
        dest = os.path.join(tmp, "live.json.gz")
        bpf = "tcp and (%s)" % " or ".join("port %d" % p for p in ports.values())
        joy = subprocess.Popen([JOY, "-i", "lo", "-f", bpf, "tls=1", "fpx=1", "-w", dest],
                               stderr=subprocess.PIPE)
        time.sleep(1.5)     # let the capture start

        page = ""
        if CHROMIUM:
            profile = os.path.join(tmp, "chromium-profile")
            os.mkdir(profile)
            run = subprocess.run(
                [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--ignore-certificate-errors",
                 "--user-data-dir=" + profile, "--dump-dom",
                 "https://127.0.0.1:%d/" % ports["chromium"]],
                capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
            page = run.stdout
        run = subprocess.run(["curl", "-sk", "--max-time", "10", "--resolve",
                              "localhost:%d:127.0.0.1" % ports["curl"],
                              "https://localhost:%d/" % ports["curl"]],
                             capture_output=True, text=True, timeout=30)
        curl_page = run.stdout
        subprocess.run(["openssl", "s_client", "-tls1_2", "-cipher",
                        "AES128-SHA256:CAMELLIA128-SHA", "-connect",
                        "127.0.0.1:%d" % ports["unknown"], "-servername", "localhost"],
                       input="", capture_output=True, text=True, timeout=30)
        time.sleep(0.5)
        joy.send_signal(signal.SIGINT)
        _, err = joy.communicate(timeout=60)
        check("joy -i lo exits 0", joy.returncode == 0, err.decode("utf-8", "replace")[-500:])
        if CHROMIUM:
            check("chromium fetched the page", "s_server" in page, page[:200])
        check("curl fetched the page", "s_server" in curl_page, curl_page[:200])

        out = subprocess.run([sys.executable, SLEUTH, dest, "--fingerprint"],
                             capture_output=True, text=True, timeout=120)
        check("sleuth --fingerprint exits 0", out.returncode == 0, out.stderr[-500:])
        records = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
        by_port = {name: [r for r in records if r.get("dp") == port
                          and "tls" in r.get("inferences", {})]
                   for name, port in ports.items()}

        # Chromium: every hello matched, on the Joy string (canonical form) and JA4
        if not CHROMIUM:
            skip("chromium", "chromium is not installed (apt-get install chromium)")
        elif chromium_version not in db_versions.get("chromium (by IP address, no SNI)", ()):
            skip("chromium", "the database was built with chromium %s, %s is installed: "
                 "rebuild it with sh sleuth/tools/build_fpdb.sh"
                 % (sorted(db_versions.get("chromium (by IP address, no SNI)", ())),
                    chromium_version))
        else:
            flows = by_port["chromium"]
            check("chromium: hellos captured", len(flows) >= 1, len(flows))
            entry = [e for e in entries if e.get("client") == "chromium (by IP address, no SNI)"
                     and e.get("client_version") == chromium_version][0]
            for flow in flows:
                matches = flow["inferences"]["tls"]["matches"]
                check("chromium: one match", len(matches) == 1, matches)
                if not matches:
                    continue
                top = matches[0]
                check("chromium: named", top.get("client") == "chromium (by IP address, no SNI)"
                      and top.get("client_version") == chromium_version, top)
                check("chromium: matched on tls and ja4",
                      "tls" in top["matched_on"] and "ja4" in top["matched_on"], top)
                # the hello differs on the wire from the database's (extension order,
                # GREASE values): only the order-independent forms are equal
                fresh = flow["fingerprints"]["tls"]
                check("chromium: wire form differs from the database's", fresh != entry["tls"])
                check("chromium: canonical forms equal",
                      tlsfp.canonical_fingerprint(tlsfp.parse_joy_fingerprint(fresh))
                      == tlsfp.canonical_fingerprint(tlsfp.parse_joy_fingerprint(entry["tls"])))
                check("chromium: JA4 equals the database's",
                      flow["inferences"]["tls"].get("ja4") == entry["ja4"],
                      (flow["inferences"]["tls"].get("ja4"), entry["ja4"]))

        # curl: its default hello, by name
        if curl_version not in db_versions.get("curl", ()):
            skip("curl", "the database was built with curl %s, %s is installed: rebuild it "
                 "with sh sleuth/tools/build_fpdb.sh"
                 % (sorted(db_versions.get("curl", ())), curl_version))
        else:
            flows = by_port["curl"]
            check("curl: one hello", len(flows) == 1, len(flows))
            for flow in flows:
                matches = flow["inferences"]["tls"]["matches"]
                check("curl: matched", len(matches) >= 1, matches)
                if matches:
                    top = matches[0]
                    check("curl: named", top.get("client") == "curl"
                          and top.get("client_version") == curl_version, top)
                    check("curl: matched on tls, ja4 and ja3",
                          sorted(top["matched_on"]) == ["ja3", "ja4", "tls"], top)
                    # (curl --http1.1 differs only in ALPN, which JA3 leaves out)
                    check("curl: only curl entries",
                          all(m.get("client", "").startswith("curl") for m in matches), matches)

        # a client that is not in the database: fingerprinted, no match (its JA4 says:
        # TLS 1.2, SNI, 3 cipher suites -- the two asked for and the SCSV --, 5 extensions)
        flows = by_port["unknown"]
        check("unknown: one hello", len(flows) == 1, len(flows))
        for flow in flows:
            inference = flow["inferences"]["tls"]
            check("unknown: no match", inference["matches"] == [], inference)
            check("unknown: JA3 and JA4 still reported",
                  inference.get("ja4", "").startswith("t12d0305") and len(inference.get("ja3", ""))
                  == 32, inference)
    finally:
        for proc in procs:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    return done()


if __name__ == "__main__":
    sys.exit(main())

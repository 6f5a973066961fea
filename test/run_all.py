#!/usr/bin/env python3
"""Run every test suite of joy and add up their results.

Each suite is a program whose last output line is "N passed, N failed"
(optionally ", N skipped"); the suites are:

  unit            build/unit_tests (C unit tests), and the same under ASan/UBSan
  golden          test/run_golden.py: generated captures + expected records
  golden-asan     the golden tests again with the sanitizer build of joy
  test_*.py       every test/test_*.py (modules; against tshark and references)
  crosscheck      test/tshark_check.py: flows/packets/bytes/times vs tshark
  sanitize        test/sanitize_check.sh: every capture under ASan/UBSan
  sleuth          sleuth/run_tests.py
  *-asan          with CI=true or JOY_ASAN_ALL=1: every test_*.py again with
                  the sanitizer build (JOY_SANITIZED=1 tells tests that
                  measure memory to skip that part)

Environment: JOY (joy binary), JOY_ASAN (sanitizer build), UNIT_TESTS.
The last line printed is the total: "N passed, N failed, N skipped".
"""
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUMMARY = re.compile(r"(\d+) passed, (\d+) failed(?:, (\d+) skipped)?\s*$")
TIMEOUT = 1800


def suites(env):
    joy = env["JOY"]
    asan = env.get("JOY_ASAN", os.path.join(ROOT, "build-asan", "joy"))
    unit = env.get("UNIT_TESTS", os.path.join(ROOT, "build", "unit_tests"))
    py = sys.executable or "python3"
    out = [("unit", [unit], {})]
    unit_asan = os.path.join(os.path.dirname(asan), "unit_tests")
    if os.path.exists(unit_asan):
        out.append(("unit-asan", [unit_asan], {}))
    out.append(("golden", [py, "test/run_golden.py"], {}))
    if os.path.exists(asan):
        out.append(("golden-asan", [py, "test/run_golden.py"], {"JOY": asan}))
    tests = sorted(n for n in os.listdir(os.path.join(ROOT, "test"))
                   if n.startswith("test_") and n.endswith(".py"))
    for name in tests:
        out.append((name[:-3], [py, os.path.join("test", name)], {}))
    # The whole suite again under AddressSanitizer + UBSan: in CI (CI=true) or
    # with JOY_ASAN_ALL=1.  valgrind cannot run a sanitizer build, and the fuzz
    # replay is a sanitizer build already.
    if os.path.exists(asan) and (env.get("CI") == "true" or env.get("JOY_ASAN_ALL") == "1"):
        for name in tests:
            if name in ("test_valgrind.py", "test_fuzz_replay.py"):
                continue
            out.append((name[:-3] + "-asan", [py, os.path.join("test", name)],
                        {"JOY": asan, "JOY_SANITIZED": "1", "JOY_SKIP_HUGE": "1",
                         "JOY_SKIP_MILLION": "1"}))
    out.append(("crosscheck", [py, "test/tshark_check.py"], {}))
    if os.path.exists(asan):
        out.append(("sanitize", ["sh", "test/sanitize_check.sh", env["GENERATED"]], {"JOY_ASAN": asan}))
    if os.path.exists(os.path.join(ROOT, "sleuth", "run_tests.py")):
        out.append(("sleuth", [py, "sleuth/run_tests.py"], {}))
    return out


def main():
    import tempfile
    gen = tempfile.mkdtemp(prefix="joy-gen-")
    subprocess.run([sys.executable, os.path.join(ROOT, "test", "gen_pcaps.py"), gen],
                   check=True, stdout=subprocess.DEVNULL)
    try:
        return run(gen)
    finally:
        import shutil
        shutil.rmtree(gen, ignore_errors=True)


def run(gen):
    env = dict(os.environ)
    env["GENERATED"] = gen
    env.setdefault("JOY", os.path.join(ROOT, "joy"))
    env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    only = sys.argv[1:]
    totals = [0, 0, 0]
    bad = []
    for name, cmd, extra in suites(env):
        if only and name not in only:
            continue
        e = dict(env)
        e.update(extra)
        t0 = time.time()
        try:
            p = subprocess.run(cmd, cwd=ROOT, env=e, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=TIMEOUT)
            text = p.stdout.decode("utf-8", "replace")
            rc = p.returncode
        except subprocess.TimeoutExpired as ex:
            text = (ex.stdout or b"").decode("utf-8", "replace")
            text += "\n(timed out after %d s)" % TIMEOUT
            rc = -1
        except OSError as ex:
            text, rc = str(ex), -1
        lines = [l for l in text.splitlines() if l.strip()]
        m = SUMMARY.search(lines[-1]) if lines else None
        dt = time.time() - t0
        if m:
            p_, f_, s_ = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
        else:
            p_, f_, s_ = 0, 1, 0
        if rc != 0 and f_ == 0:
            f_ = 1
        totals[0] += p_
        totals[1] += f_
        totals[2] += s_
        status = "ok" if f_ == 0 else "FAILED"
        print("%-22s %4d passed, %3d failed, %3d skipped  %6.1fs  %s" % (name, p_, f_, s_, dt, status))
        if f_:
            bad.append(name)
            tail = "\n".join(lines[-40:])
            print("    " + tail.replace("\n", "\n    "))
        sys.stdout.flush()
    if bad:
        print("failed suites: " + ", ".join(bad))
    print("%d passed, %d failed, %d skipped" % tuple(totals))
    return 1 if totals[1] else 0


if __name__ == "__main__":
    sys.exit(main())

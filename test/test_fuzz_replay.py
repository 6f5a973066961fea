#!/usr/bin/env python3
"""Replay every fuzz corpus under AddressSanitizer and UBSan.

For each fuzz target fuzz/fuzz_NAME.c, `make asan` builds
build-asan/replay_NAME, which runs the target's entry point on files.  Each
target is replayed on its corpus fuzz/corpus/NAME (seeds and regression
inputs for crashes found earlier); the pipeline target also on every test
capture (generated ones and, when present, ../shared/pcaps).  A target
passes when the sanitizers report nothing and it exits 0.
"""
import glob
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ASAN_DIR = os.path.dirname(os.environ.get("JOY_ASAN", os.path.join(ROOT, "build-asan", "joy")))


def main():
    passed = failed = skipped = 0
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=1"
    env["UBSAN_OPTIONS"] = "halt_on_error=1:print_stacktrace=1"
    shared = os.path.join(ROOT, "..", "shared", "pcaps")
    with tempfile.TemporaryDirectory(prefix="joy-replay-") as gen:
        subprocess.run([sys.executable, os.path.join(ROOT, "test", "gen_pcaps.py"), gen],
                       check=True, stdout=subprocess.DEVNULL)
        for src in sorted(glob.glob(os.path.join(ROOT, "fuzz", "fuzz_*.c"))):
            name = os.path.basename(src)[len("fuzz_"):-2]
            binary = os.path.join(ASAN_DIR, "replay_" + name)
            if not os.path.exists(binary):
                print("SKIP %s: %s not built (make asan)" % (name, binary))
                skipped += 1
                continue
            inputs = [p for p in [os.path.join(ROOT, "fuzz", "corpus", name)] if os.path.isdir(p)]
            if name == "pipeline":
                inputs += [gen, os.path.join(ROOT, "test", "data")]
                if os.path.isdir(shared):
                    inputs.append(shared)
                else:
                    print("note: ../shared/pcaps absent; pipeline replay uses generated captures only")
            if not inputs:
                print("SKIP %s: no corpus in fuzz/corpus/%s" % (name, name))
                skipped += 1
                continue
            p = subprocess.run([binary] + inputs, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=1200)
            out = p.stdout.decode("utf-8", "replace")
            if p.returncode == 0 and "ERROR" not in out and "runtime error" not in out:
                passed += 1
                print("ok   %s: %s" % (name, out.strip().splitlines()[-1] if out.strip() else ""))
            else:
                failed += 1
                print("FAIL %s (exit %d):\n%s" % (name, p.returncode, out[-3000:]))
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

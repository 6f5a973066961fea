#!/usr/bin/env python3
"""Run every sleuth test (sleuth/tests/test_*.py, unittest).

Usage:  python3 sleuth/run_tests.py [-v] [PATTERN]

Prints unittest's usual report, the reason of every skipped test, and as its
last line ``N passed, N failed`` (``, N skipped`` when tests were skipped;
errors count as failures).  Exits 1 if any test failed, else 0.
"""

import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.join(HERE, "tests")


def main(argv):
    verbose = "-v" in argv
    patterns = [a for a in argv[1:] if a != "-v"]
    sys.path.insert(0, TESTS)
    sys.path.insert(0, HERE)
    loader = unittest.TestLoader()
    suite = loader.discover(TESTS, pattern=patterns[0] if patterns else "test_*.py",
                            top_level_dir=TESTS)
    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=2 if verbose else 1)
    result = runner.run(suite)
    for test, reason in result.skipped:
        print("skipped: %s: %s" % (test.id(), reason))
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    passed = result.testsRun - failed - skipped - len(result.expectedFailures)
    line = "%d passed, %d failed" % (passed, failed)
    if skipped:
        line += ", %d skipped" % skipped
    sys.stdout.flush()
    print(line)
    return 1 if failed or result.testsRun == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

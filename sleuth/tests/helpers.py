"""Shared helpers for the sleuth tests: paths, running sleuth in-process or as a program."""

import io
import json
import os
import subprocess
import sys
import tempfile

TESTS = os.path.dirname(os.path.abspath(__file__))
SLEUTH_DIR = os.path.dirname(TESTS)
REPO = os.path.dirname(SLEUTH_DIR)
DATA = os.path.join(TESTS, "data")
SCRIPT = os.path.join(SLEUTH_DIR, "sleuth")

if SLEUTH_DIR not in sys.path:
    sys.path.insert(0, SLEUTH_DIR)

from sleuth_pkg.cli import main  # noqa: E402


def data(name):
    return os.path.join(DATA, name)


class _BytesStdin(io.BytesIO):
    """Stands for sys.stdin.buffer."""


def run(args, stdin=None):
    """Run sleuth in this process: returns (status, stdout text, stderr text)."""
    out, err = io.StringIO(), io.StringIO()
    stdin_stream = _BytesStdin(stdin) if stdin is not None else None
    status = main(list(args), stdout=out, stderr=err, stdin=stdin_stream)
    return status, out.getvalue(), err.getvalue()


def run_json(args, stdin=None):
    """Run sleuth and parse its JSON Lines output (asserting status 0)."""
    status, out, err = run(args, stdin)
    if status != 0:
        raise AssertionError("sleuth %s exited %d: %s" % (args, status, err))
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def run_program(args, stdin=None, env=None, python=None):
    """Run the ./sleuth script as a separate process: returns CompletedProcess (bytes)."""
    command = [python or sys.executable, SCRIPT] + list(args)
    return subprocess.run(command, input=stdin, capture_output=True, env=env, timeout=120)


def records(name):
    """Flow records of a fixture file (metadata line skipped)."""
    with open(data(name)) as handle:
        objs = [json.loads(line) for line in handle if line.strip()]
    return [o for o in objs if "version" not in o]


class TempDir:
    """Context manager giving a temporary directory path."""

    def __enter__(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="sleuth-test-")
        return self._tmp.name

    def __exit__(self, *exc):
        self._tmp.cleanup()

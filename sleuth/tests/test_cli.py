"""Command line: --help, usage errors, the launcher script, installed layout, pipes."""

import os
import shutil
import subprocess
import sys
import unittest

from helpers import SCRIPT, SLEUTH_DIR, TempDir, data, run, run_program
from sleuth_pkg.cli import build_parser

FLOWS = data("flows.jsonl")


class Help(unittest.TestCase):
    def test_every_option_documented_with_an_example(self):
        parser = build_parser()
        for action in parser._actions:
            if not action.option_strings or action.dest in ("help", "version"):
                continue
            with self.subTest(option=action.option_strings[0]):
                self.assertTrue(action.help)
                self.assertIn("e.g. ", action.help)

    def test_help_text(self):
        result = run_program(["--help"])
        self.assertEqual(result.returncode, 0)
        text = result.stdout.decode()
        for word in ("--where", "--select", "--groupby", "--dist", "--sum", "--pretty",
                     "--no_stitch", "--fingerprint", "--tls_sec", "--csv", "--tsv", "--count",
                     "--head", "--stats", "query language", "CIDR", "examples:", "exit status"):
            self.assertIn(word, text)

    def test_version(self):
        result = run_program(["--version"])
        self.assertEqual(result.returncode, 0)
        self.assertTrue(result.stdout.startswith(b"sleuth "))


class Usage(unittest.TestCase):
    def test_unknown_option_one_line_status_2(self):
        status, out, err = run(["--frobnicate"])
        self.assertEqual(status, 2)
        self.assertEqual(len(err.splitlines()), 1)
        self.assertIn("unrecognized arguments: --frobnicate", err)

    def test_dash_spelling_accepted(self):
        self.assertEqual(run([FLOWS, "--no-stitch", "--count"])[1], "9\n")

    def test_bad_numbers(self):
        self.assertEqual(run([FLOWS, "--stitch_timeout", "x"])[0], 2)
        self.assertEqual(run([FLOWS, "--stitch_timeout", "-1"])[0], 2)
        self.assertEqual(run([FLOWS, "--top", "0", "--stats"])[0], 2)


class Script(unittest.TestCase):
    def test_runs_as_program_and_reads_stdin(self):
        with open(FLOWS, "rb") as handle:
            result = run_program(["--where", "dp=443", "--count"], stdin=handle.read())
        self.assertEqual((result.returncode, result.stdout), (0, b"3\n"))

    @unittest.skipUnless(os.path.exists("/usr/bin/python3"), "no /usr/bin/python3")
    def test_runs_under_debian_python(self):
        result = run_program([FLOWS, "--count"], python="/usr/bin/python3")
        self.assertEqual((result.returncode, result.stdout), (0, b"9\n"), result.stderr)

    def test_installed_layout(self):
        # bin/sleuth with the package under share/joy/sleuth, as `make install` lays it out
        with TempDir() as prefix:
            os.makedirs(os.path.join(prefix, "bin"))
            shutil.copy(SCRIPT, os.path.join(prefix, "bin", "sleuth"))
            shutil.copytree(os.path.join(SLEUTH_DIR, "sleuth_pkg"),
                            os.path.join(prefix, "share", "joy", "sleuth", "sleuth_pkg"),
                            ignore=shutil.ignore_patterns("__pycache__"))
            result = subprocess.run([sys.executable, os.path.join(prefix, "bin", "sleuth"),
                                     FLOWS, "--tls_sec", "--fingerprint", "--count"],
                                    capture_output=True, timeout=60)
        self.assertEqual((result.returncode, result.stdout), (0, b"9\n"), result.stderr)

    def test_make_install_layout_with_symlink(self):
        # what the top-level Makefile does: share/joy/sleuth/ + bin/sleuth symlink + bin/joy
        with TempDir() as prefix:
            share = os.path.join(prefix, "share", "joy", "sleuth")
            shutil.copytree(SLEUTH_DIR, share, ignore=shutil.ignore_patterns("tests",
                                                                             "__pycache__"))
            os.makedirs(os.path.join(prefix, "bin"))
            os.symlink("../share/joy/sleuth/sleuth", os.path.join(prefix, "bin", "sleuth"))
            joy = os.path.join(prefix, "bin", "joy")
            with open(joy, "w") as handle:
                handle.write("#!/bin/sh\necho '{\"sa\":\"1.2.3.4\",\"da\":\"5.6.7.8\"}'\n")
            os.chmod(joy, 0o755)
            pcap = os.path.join(prefix, "x.pcap")
            with open(pcap, "wb") as handle:
                handle.write(bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000"))
            env = dict(os.environ, PATH="/usr/bin:/bin")
            env.pop("SLEUTH_SCRIPT", None)
            result = subprocess.run([os.path.join(prefix, "bin", "sleuth"), pcap, "--select",
                                     "sa"], capture_output=True, env=env, timeout=60)
        self.assertEqual((result.returncode, result.stdout), (0, b'{"sa":"1.2.3.4"}\n'),
                         result.stderr)

    def test_missing_package_is_a_clear_error(self):
        with TempDir() as tmp:
            copy = os.path.join(tmp, "sleuth")
            shutil.copy(SCRIPT, copy)
            env = dict(os.environ)
            env.pop("SLEUTH_LIBDIR", None)
            result = subprocess.run([sys.executable, copy, "--help"], capture_output=True,
                                    env=env, timeout=60)
        self.assertEqual(result.returncode, 2)
        self.assertIn(b"cannot find the sleuth_pkg package", result.stderr)

    def test_closed_pipe_is_quiet(self):
        with open(FLOWS, "rb") as handle:
            big = b"".join(handle.readlines()[1:]) * 3000
        proc = subprocess.Popen([sys.executable, SCRIPT, "--no_stitch"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        head = subprocess.Popen(["head", "-n", "1"], stdin=proc.stdout, stdout=subprocess.PIPE)
        proc.stdout.close()
        try:
            proc.stdin.write(big)
        except BrokenPipeError:
            pass
        proc.stdin.close()
        first = head.communicate(timeout=60)[0]
        err = proc.stderr.read()
        proc.stderr.close()
        self.assertEqual(proc.wait(timeout=60), 0)
        self.assertEqual(len(first.splitlines()), 1)
        self.assertEqual(err, b"")


if __name__ == "__main__":
    unittest.main()

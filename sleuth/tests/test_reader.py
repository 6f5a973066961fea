"""Inputs: compression by content, stdin, metadata, malformed lines, damaged files, captures."""

import bz2
import gzip
import json
import lzma
import os
import shutil
import stat
import struct
import subprocess
import sys
import unittest

from helpers import SLEUTH_DIR, TempDir, data, records, run, run_json


def plain_bytes():
    with open(data("flows.jsonl"), "rb") as handle:
        return handle.read()


def write_fake_joy(directory, behaviour):
    """A stand-in joy: prints canned records for -r FILE -w -, or fails like an old joy."""
    path = os.path.join(directory, "joy")
    with open(path, "w") as handle:
        handle.write("#!/bin/sh\n")
        handle.write('echo "$@" >> "%s/args.log"\n' % directory)
        if behaviour == "old":
            # rejects module options the way an older joy would
            handle.write('for a in "$@"; do case "$a" in tls=*|dns=*|http=*|fpx=*) '
                         'echo "joy: unknown option $a" >&2; exit 2;; esac; done\n')
        if behaviour == "old-silent":
            handle.write('for a in "$@"; do case "$a" in *=*) echo "bad option" >&2; exit 2;; '
                         'esac; done\n')
        if behaviour == "fail":
            handle.write('echo "joy: truncated capture" >&2\n')
            handle.write("echo '{\"version\":\"fake\"}'\n")
            handle.write("echo '{\"sa\":\"1.1.1.1\",\"da\":\"2.2.2.2\",\"pr\":6,\"sp\":1,"
                         "\"dp\":2,\"bytes_out\":1,\"num_pkts_out\":1,\"time_start\":1.0,"
                         "\"time_end\":1.0,\"expire_type\":\"e\"}'\n")
            handle.write("exit 1\n")
        handle.write("echo '{\"version\":\"fake\",\"inactive_timeout\":10}'\n")
        handle.write("echo '{\"sa\":\"10.1.1.1\",\"da\":\"10.2.2.2\",\"pr\":6,\"sp\":1000,"
                     "\"dp\":443,\"bytes_out\":5,\"num_pkts_out\":1,\"time_start\":1.0,"
                     "\"time_end\":2.0,\"expire_type\":\"e\"}'\n")
    os.chmod(path, os.stat(path).st_mode | stat.S_IEXEC)
    return path


PCAP = struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1)
PCAPNG = struct.pack("<II", 0x0a0d0d0a, 28) + struct.pack("<IHHq", 0x1a2b3c4d, 1, 0, -1) \
    + struct.pack("<I", 28)


class Compression(unittest.TestCase):
    def check(self, name, blob):
        with TempDir() as tmp:
            path = os.path.join(tmp, name)
            with open(path, "wb") as handle:
                handle.write(blob)
            rows = run_json(["--no_stitch", "--no_dns_link", path])
        self.assertEqual(rows, records("flows.jsonl"))

    def test_plain(self):
        self.check("flows.txt", plain_bytes())

    def test_gzip_detected_by_content(self):
        self.check("flows.json", gzip.compress(plain_bytes()))

    def test_gzip_multi_member(self):
        blob = plain_bytes()
        half = blob.index(b"\n", len(blob) // 2) + 1
        self.check("flows.gz", gzip.compress(blob[:half]) + gzip.compress(blob[half:]))

    def test_bzip2(self):
        self.check("flows.dat", bz2.compress(plain_bytes()))

    def test_xz(self):
        self.check("flows.json.gz", lzma.compress(plain_bytes()))   # misleading name

    def test_nested_gzip_of_xz(self):
        self.check("flows", gzip.compress(lzma.compress(plain_bytes())))

    def test_stdin_plain_and_compressed(self):
        for blob in (plain_bytes(), gzip.compress(plain_bytes()), bz2.compress(plain_bytes()),
                     lzma.compress(plain_bytes())):
            rows = run_json(["--no_stitch", "--no_dns_link"], stdin=blob)
            self.assertEqual(rows, records("flows.jsonl"))
            rows = run_json(["--no_stitch", "-"], stdin=blob)
            self.assertEqual(len(rows), 9)

    def test_several_inputs_in_order(self):
        rows = run_json(["--no_stitch", "--select", "sa", data("flows.jsonl"),
                         data("malformed.jsonl")])
        self.assertEqual(len(rows), 11)
        self.assertEqual(rows[-1], {"sa": "10.9.0.7"})

    def test_empty_input(self):
        self.assertEqual(run(["--no_stitch"], stdin=b""), (0, "", ""))
        self.assertEqual(run([], stdin=gzip.compress(b"")), (0, "", ""))


class Malformed(unittest.TestCase):
    def test_reported_with_file_and_line_and_run_continues(self):
        status, out, err = run([data("malformed.jsonl")])
        self.assertEqual(status, 0)
        rows = [json.loads(line) for line in out.splitlines()]
        self.assertEqual([r["sa"] for r in rows], ["10.9.0.1", "10.9.0.7"])
        name = data("malformed.jsonl")
        for lineno in (3, 6, 7, 8, 10):
            self.assertIn("%s:%d: skipped unparseable line" % (name, lineno), err)
        for lineno in (1, 2, 4, 5, 9):
            self.assertNotIn("%s:%d:" % (name, lineno), err)
        self.assertIn("skipped 5 unparseable lines in total", err)

    def test_many_bad_lines_are_summarised(self):
        blob = b"".join(b"garbage %d\n" % i for i in range(50))
        status, out, err = run([], stdin=blob)
        self.assertEqual(status, 0)
        self.assertEqual(err.count("skipped unparseable line"), 20)
        self.assertIn("<stdin>: 50 unparseable lines (the first 20 are shown above)", err)

    def test_hostile_lines(self):
        blob = b" null\n" + b"[" * 100000 + b"\n" + b'{"a":' * 50000 + b"\n" + b"\x00\n"
        status, out, err = run([], stdin=blob)
        self.assertEqual((status, out), (0, ""))
        self.assertIn("<stdin>:1: skipped unparseable line: not a JSON object", err)
        self.assertIn("<stdin>:2: skipped unparseable line: nested too deeply", err)
        self.assertIn("<stdin>:3: skipped unparseable line", err)
        self.assertIn("<stdin>:4: skipped unparseable line", err)

    def test_metadata_lines_skipped_anywhere(self):
        blob = b'{"version":"1"}\n{"sa":"a","da":"b","pr":6,"time_start":1,"time_end":1}\n' \
               b'{"version":"2","x":1}\n'
        self.assertEqual(run_json(["--no_stitch", "--no_dns_link"], stdin=blob),
                         [{"sa": "a", "da": "b", "pr": 6, "time_start": 1, "time_end": 1}])

    def test_crlf_lines(self):
        blob = plain_bytes().replace(b"\n", b"\r\n")
        self.assertEqual(run_json(["--no_stitch", "--no_dns_link"], stdin=blob),
                         records("flows.jsonl"))


class Damaged(unittest.TestCase):
    def test_truncated_gzip_keeps_good_lines_and_exits_1(self):
        blob = gzip.compress(plain_bytes() * 20)
        status, out, err = run(["--no_stitch"], stdin=blob[:len(blob) // 2])
        self.assertEqual(status, 1)
        self.assertGreater(len(out.splitlines()), 0)
        self.assertIn("damaged gzip data after line", err)

    def test_corrupt_xz(self):
        blob = bytearray(lzma.compress(plain_bytes()))
        blob[40:60] = b"\x00" * 20
        status, out, err = run(["--no_stitch"], stdin=bytes(blob))
        self.assertEqual(status, 1)
        self.assertIn("damaged xz data", err)

    def test_missing_file_other_inputs_still_read(self):
        status, out, err = run(["--no_stitch", "/nonexistent/flows.json", data("flows.jsonl")])
        self.assertEqual(status, 1)
        self.assertIn("cannot read /nonexistent/flows.json", err)
        self.assertEqual(len(out.splitlines()), 9)


class Captures(unittest.TestCase):
    """pcap/pcapng inputs go through joy; a fake joy stands in for the real one here."""

    def run_capture(self, behaviour, blob=PCAP, name="x.pcap", stdin=False, extra=()):
        with TempDir() as tmp:
            joy = write_fake_joy(tmp, behaviour)
            path = os.path.join(tmp, name)
            with open(path, "wb") as handle:
                handle.write(blob)
            args = ["--joy", joy] + list(extra)
            if stdin:
                result = run(args, stdin=blob)
            else:
                result = run(args + [path])
            with open(os.path.join(tmp, "args.log")) as handle:
                calls = handle.read().splitlines()
        return result, calls

    def test_pcap_by_magic_runs_joy_with_module_options(self):
        (status, out, err), calls = self.run_capture("ok", name="capture.bin")
        self.assertEqual(status, 0, err)
        self.assertEqual(json.loads(out)["dp"], 443)
        self.assertEqual(len(calls), 1)
        self.assertRegex(calls[0], r"^-r \S+capture\.bin -w - tls=1 dns=1 http=1 fpx=1$")

    def test_pcapng_and_compressed_pcap_and_stdin(self):
        for blob, stdin in ((PCAPNG, False), (gzip.compress(PCAP), False), (PCAP, True),
                            (bz2.compress(PCAPNG), True)):
            (status, out, err), calls = self.run_capture("ok", blob=blob, stdin=stdin)
            self.assertEqual(status, 0, err)
            self.assertEqual(len(out.splitlines()), 1)

    def test_old_joy_retried_without_module_options(self):
        (status, out, err), calls = self.run_capture("old")
        self.assertEqual(status, 0, err)
        self.assertEqual(len(out.splitlines()), 1)
        # the fake joy names one option per run: each is dropped in turn
        self.assertEqual(len(calls), 5)
        self.assertTrue(calls[1].endswith("-w - dns=1 http=1 fpx=1"), calls)
        self.assertTrue(calls[4].endswith("-w -"), calls)
        self.assertIn("joy did not accept tls=1 (joy: unknown option tls=1); running it again "
                      "with dns=1 http=1 fpx=1", err)
        self.assertIn("joy did not accept fpx=1 (joy: unknown option fpx=1); running it again "
                      "without module options", err)

    def test_unnamed_rejection_drops_all_options(self):
        (status, out, err), calls = self.run_capture("old-silent")
        self.assertEqual(status, 0, err)
        self.assertEqual(len(calls), 2)
        self.assertTrue(calls[1].endswith("-w -"), calls)

    def test_joy_failure_reported_records_kept(self):
        (status, out, err), calls = self.run_capture("fail")
        self.assertEqual(status, 1)
        self.assertEqual(json.loads(out)["sa"], "1.1.1.1")
        self.assertIn("joy: truncated capture", err)
        self.assertIn("joy exited with status 1", err)

    def test_joy_options_option(self):
        (status, out, err), calls = self.run_capture("ok", extra=["--joy_options", "dns=1"])
        self.assertTrue(calls[0].endswith("-w - dns=1"), calls)

    def test_no_joy(self):
        with TempDir() as tmp:
            path = os.path.join(tmp, "x.pcap")
            with open(path, "wb") as handle:
                handle.write(PCAP)
            status, out, err = run(["--joy", os.path.join(tmp, "nojoy"), path])
        self.assertEqual(status, 1)
        self.assertIn("is a packet capture, but no joy binary was found", err)

    def test_joy_found_next_to_the_repository(self):
        # a copy of the repository layout: <repo>/sleuth/sleuth finds <repo>/joy
        with TempDir() as tmp:
            tree = os.path.join(tmp, "repo")
            shutil.copytree(SLEUTH_DIR, os.path.join(tree, "sleuth"),
                            ignore=shutil.ignore_patterns("tests", "__pycache__"))
            write_fake_joy(tree, "ok")
            path = os.path.join(tmp, "x.pcap")
            with open(path, "wb") as handle:
                handle.write(PCAP)
            env = dict(os.environ, PATH="/usr/bin:/bin")
            env.pop("SLEUTH_SCRIPT", None)
            result = subprocess.run([sys.executable, os.path.join(tree, "sleuth", "sleuth"), path],
                                    capture_output=True, env=env, timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(json.loads(result.stdout)["dp"], 443)


if __name__ == "__main__":
    unittest.main()

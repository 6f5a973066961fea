"""Joy's options (--normalize, --fingerprint KINDS, --sec_*), Joy's fingerprint database
format, `python3 -m sleuth`, pyproject.toml, and the documentation's first examples."""

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import unittest

import pcapgen
from helpers import REPO, SCRIPT, TempDir, data, run, run_json
from sleuth_pkg import tlsfp
from sleuth_pkg.fingerprint import DEFAULT_DB, load_database

FLOWS = data("flows.jsonl")
JOY = os.environ.get("JOY") or os.path.join(REPO, "joy")


def _db_entry(prefix):
    for entry in load_database(DEFAULT_DB)["entries"]:
        if entry["id"].startswith(prefix):
            return entry
    raise AssertionError("no %s entry in the shipped database" % prefix)


def _joy_works():
    try:
        return subprocess.run([JOY, "-h"], capture_output=True, timeout=20).returncode in (0, 1)
    except OSError:
        return False


class Normalize(unittest.TestCase):
    def test_selected_leaves_become_null(self):
        rows = run_json([FLOWS, "--where", "tls=*", "--select", "sp,tls{sni,scs}",
                         "--normalize", "tls{sni}", "--no_stitch"])
        self.assertTrue(rows)
        for row in rows:
            self.assertIn("sni", row["tls"])
            self.assertIsNone(row["tls"]["sni"])
            self.assertIn("scs", row["tls"])

    def test_without_select_and_through_arrays(self):
        rows = run_json([FLOWS, "--where", "packets=*", "--normalize", "packets[{ipt}],sp",
                         "--no_stitch", "--head", "2"])
        for row in rows:
            self.assertIsNone(row["sp"])
            self.assertTrue(all(p["ipt"] is None for p in row["packets"] if "ipt" in p))
            self.assertTrue(any("b" in p for p in row["packets"]))

    def test_normalize_merges_dist(self):
        records = [{"sa": "10.0.0.%d" % i, "tls": {"sni": ["h%d.example" % i], "cs": ["c02b"]}}
                   for i in range(5)]
        text = "".join(json.dumps(r) + "\n" for r in records).encode()
        plain = run_json(["--select", "tls{sni,cs}", "--dist"], stdin=text)
        self.assertEqual(len(plain), 5)
        merged = run_json(["--select", "tls{sni,cs}", "--normalize", "tls{sni}", "--dist"],
                          stdin=text)
        self.assertEqual(len(merged), 1)
        self.assertEqual(merged[0]["count"], 5)

    def test_bad_spec(self):
        status, out, err = run([FLOWS, "--normalize", "tls{"])
        self.assertEqual((status, out), (2, ""))
        self.assertIn("--normalize", err)


class SecOptions(unittest.TestCase):
    def sec(self, *extra):
        rows = run_json([FLOWS, "--tls_sec", "--where", "tls=*", "--no_stitch",
                         "--select", "sp,tls_sec"] + list(extra))
        return {r["sp"]: r["tls_sec"] for r in rows}

    def test_failure_threshold(self):
        default = self.sec()
        self.assertEqual(default[50000]["concerns"], [])           # acceptable: no concern
        wider = self.sec("--sec_failure_threshold", "3")
        self.assertTrue(wider[50000]["concerns"])
        self.assertTrue(all(c.startswith(("acceptable", "legacy", "avoid"))
                            for c in wider[50000]["concerns"]))
        by_name = self.sec("--sec_failure_threshold", "acceptable")
        self.assertEqual(by_name, wider)
        narrow = self.sec("--sec_failure_threshold", "1")
        self.assertTrue(all(c.startswith("avoid") for s in narrow.values() for c in s["concerns"]))
        none = self.sec("--sec_failure_threshold", "0")
        self.assertTrue(all(s["concerns"] == [] for s in none.values()))

    def test_unknowns(self):
        record = {"sa": "a", "da": "b", "tls": {"scs": "7777", "s_version": 5}}
        text = (json.dumps(record) + "\n").encode()
        report = run_json(["--tls_sec"], stdin=text)[0]["tls_sec"]
        self.assertEqual(report["unknown"], ["cipher suite 7777"])
        self.assertEqual(report["classification"], "acceptable")
        ignore = run_json(["--tls_sec", "--sec_unknowns", "ignore"], stdin=text)[0]["tls_sec"]
        self.assertNotIn("unknown", ignore)
        self.assertEqual(ignore["classification"], "acceptable")
        fail = run_json(["--tls_sec", "--sec_unknowns", "fail"], stdin=text)[0]["tls_sec"]
        self.assertEqual(fail["classification"], "unknown")

    def test_compliance(self):
        sec = self.sec("--sec_compliance", "fips_140", "cnsa")
        self.assertEqual(sec[50000]["fips_140_compliant"], "yes")     # ECDHE-RSA-AES128-GCM
        self.assertEqual(sec[50000]["cnsa_compliant"], "no")
        self.assertEqual(sec[41000]["fips_140_compliant"], "no")      # 3DES
        self.assertEqual(sec[40001]["fips_140_compliant"], "yes")     # TLS_AES_256_GCM_SHA384
        self.assertEqual(sec[40001]["cnsa_compliant"], "yes")
        again = self.sec("--sec_compliance", "fips_140,cnsa")
        self.assertEqual(again, sec)
        # a file after the profiles stays an input
        rows = run_json(["--tls_sec", "--sec_compliance", "fips_140", FLOWS, "--count"])
        self.assertTrue(rows[0] > 0)

    def test_errors(self):
        for args in (["--tls_sec", "--sec_failure_threshold", "9"],
                     ["--tls_sec", "--sec_failure_threshold", "bad"],
                     ["--tls_sec", "--sec_unknowns", "maybe"],
                     ["--tls_sec", "--sec_compliance", "pci"],
                     ["--sec_compliance", "fips_140"], ["--sec_unknowns", "ignore"]):
            status, out, err = run([FLOWS] + args)
            self.assertEqual((status, out), (2, ""), args)
            self.assertEqual(len(err.splitlines()), 1, err)


JOY_DB_LINES = [
    {"str_repr": None, "process_info": [{"process": "curl", "application_category": "cli",
                                         "prevalence": 0.9, "sha256": "00" * 32,
                                         "os_info": {"Linux": 1}}],
     "min_implementation_date": "2019-01", "max_implementation_date": "2023-01",
     "tls_features": {"version": "TLS 1.2", "cipher_suites": [], "extensions": []}},
    {"str_repr": "(0303)(c02b)((0000))", "max_implementation_date": "2010-02"},
]


class JoyDatabase(unittest.TestCase):
    def setUp(self):
        self.curl = _db_entry("curl-7")
        self.lines = [dict(line) for line in JOY_DB_LINES]
        hello = tlsfp.parse_joy_fingerprint(self.curl["tls"])
        # Joy keeps the wire order; matching is order-insensitive
        self.lines[0]["str_repr"] = tlsfp.joy_fingerprint(
            (hello[0], hello[1], list(reversed(hello[2]))))
        self.record = {"sa": "10.0.0.1", "da": "10.0.0.2", "pr": 6, "sp": 1, "dp": 443,
                       "fingerprints": {"tls": self.curl["tls"]}}

    def write(self, tmp, name, lines, compress=False):
        path = os.path.join(tmp, name)
        text = "".join(json.dumps(line) + "\n" for line in lines).encode()
        with (gzip.open(path, "wb") if compress else open(path, "wb")) as handle:
            handle.write(text)
        return path

    def test_joy_json_lines_match(self):
        with TempDir() as tmp:
            for compress in (False, True):
                path = self.write(tmp, "res_tls_fingerprints.json" + (".gz" if compress else ""),
                                  self.lines, compress)
                rows = run_json(["--fingerprint", "--fp_db", path, "--select", "inferences"],
                                stdin=(json.dumps(self.record) + "\n").encode())
                matches = rows[0]["inferences"]["tls"]["matches"]
                self.assertEqual(len(matches), 1, matches)
                match = matches[0]
                self.assertEqual(match["id"], os.path.basename(path) + ":1")
                self.assertEqual(match["client"], "curl")
                self.assertEqual(match["process_info"][0]["process"], "curl")
                self.assertEqual(match["max_implementation_date"], "2023-01")
                self.assertEqual(match["tls_version"], "TLS 1.2")
                self.assertEqual(match["matched_on"], ["tls"])

    def test_several_databases(self):
        with TempDir() as tmp:
            joy_db = self.write(tmp, "joy.json", self.lines)
            rows = run_json(["--fingerprint", "--fp_db", joy_db, "--fp_db", DEFAULT_DB,
                             "--select", "inferences"],
                            stdin=(json.dumps(self.record) + "\n").encode())
            ids = [m["id"] for m in rows[0]["inferences"]["tls"]["matches"]]
            self.assertIn("joy.json:1", ids)
            self.assertIn(self.curl["id"], ids)

    def test_bad_joy_files(self):
        with TempDir() as tmp:
            path = os.path.join(tmp, "db.json")
            for content, message in (
                    (b'{"str_repr":"(0303)(c02b)()"}\n{"str_repr":\n', "line 2 is not valid JSON"),
                    (b'{"str_repr":"(0303)(c02b)()"}\n{"label":"x"}\n', 'line 2 has no "str_repr"'),
                    (b'{"str_repr":"(0303)(c02b)()"}\n{"str_repr":"<script>"}\n',
                     "not a Joy TLS fingerprint"),
                    (b"\x1f\x8b\x08\x00garbage", "truncated gzip"),
                    (b"\xff\xfe\x00", "not UTF-8"),
                    (b"[" * 100000, "nested too deeply")):
                with open(path, "wb") as handle:
                    handle.write(content)
                status, out, err = run([FLOWS, "--fingerprint", "--fp_db", path])
                self.assertEqual((status, out), (2, ""), content[:40])
                self.assertEqual(len(err.splitlines()), 1, err)
                self.assertIn(message, err.replace("Not a gzipped file", "truncated gzip"))


class FingerprintKinds(unittest.TestCase):
    RECORD = {"sa": "10.0.0.1", "da": "10.0.0.2", "pr": 6, "sp": 1, "dp": 80,
              "fingerprints": {"tcp": "(0204ffd7)(04)(08)(01)(03030a)"},
              "http": [{"out": [{"method": "GET"}, {"uri": "/"},
                                {"User-Agent": "curl/7.88.1"}]}]}

    def infer(self, *args):
        rows = run_json(list(args) + ["--select", "inferences"],
                        stdin=(json.dumps(self.RECORD) + "\n").encode())
        return rows[0].get("inferences", {})

    def test_tcp_and_http(self):
        tcp = self.infer("--fingerprint", "tcp")["tcp"]
        self.assertEqual(tcp["options"], ["mss=65495", "sack_permitted", "timestamps", "nop",
                                          "wscale=10"])
        self.assertTrue(tcp["matches"])
        self.assertIn("kernel", tcp["matches"][0]["client"])
        # the MSS value is not compared
        other = dict(self.RECORD, fingerprints={"tcp": "(020405b4)(04)(08)(01)(03030a)"})
        rows = run_json(["--fingerprint", "tcp", "--select", "inferences"],
                        stdin=(json.dumps(other) + "\n").encode())
        self.assertTrue(rows[0]["inferences"]["tcp"]["matches"])
        http = self.infer("--fingerprint", "http")["http"]
        self.assertEqual(http["user_agent"], "curl/7.88.1")
        self.assertEqual(http["matches"][0]["client"], "curl")

    def test_forms(self):
        self.assertEqual(set(self.infer("--fingerprint", "all")), {"tcp", "http"})
        self.assertEqual(set(self.infer("--fingerprint", "tcp,http")), {"tcp", "http"})
        self.assertEqual(set(self.infer("--fingerprint=http")), {"http"})
        self.assertEqual(self.infer("--fingerprint"), {})           # tls only; none here
        # a file after a bare --fingerprint is an input, not a kind
        status, out, err = run(["--fingerprint", FLOWS, "--count"])
        self.assertEqual(status, 0, err)
        self.assertGreater(int(out), 0)
        status, out, err = run([FLOWS, "--fingerprint=foo"])
        self.assertEqual((status, out), (2, ""))
        self.assertIn("tls, tcp, http, all", err)


@unittest.skipUnless(_joy_works(), "no working joy at %s: the capture tests are skipped" % JOY)
class OnCaptures(unittest.TestCase):
    """A capture whose client sends curl's ClientHello with SNI www.example.com."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = TempDir()
        cls.dir = cls.tmp.__enter__()
        cls.pcap = os.path.join(cls.dir, "x.pcap")
        hello = tlsfp.parse_joy_fingerprint(_db_entry("curl-7")["tls"])
        pcapgen.write_pcap(cls.pcap, pcapgen.tls_packets(hello))
        cls.bin = os.path.join(cls.dir, "bin")
        os.mkdir(cls.bin)
        os.symlink(os.path.abspath(JOY), os.path.join(cls.bin, "joy"))
        os.symlink(SCRIPT, os.path.join(cls.bin, "sleuth"))

    @classmethod
    def tearDownClass(cls):
        cls.tmp.__exit__(None, None, None)

    def first_example(self, doc, fence="```sh"):
        with open(os.path.join(REPO, doc)) as handle:
            text = handle.read()
        block = text.split(fence, 1)[1].split("```", 1)[0]
        return [line.split("  #")[0].strip() for line in block.strip().splitlines()]

    def run_shell(self, command):
        command = command.replace("x.pcap", self.pcap)
        env = dict(os.environ, PATH=self.bin + os.pathsep + os.environ.get("PATH", ""))
        result = subprocess.run(["sh", "-c", command], cwd=REPO, env=env, capture_output=True,
                                timeout=120)
        self.assertEqual(result.returncode, 0, (command, result.stderr))
        return result.stdout.decode()

    def test_first_example_of_doc_sleuth_md(self):
        line = self.first_example("doc/sleuth.md")[0]
        self.assertIn("joy", line)
        out = self.run_shell(line)
        rows = [json.loads(x) for x in out.splitlines()]
        self.assertEqual(len(rows), 1, out)
        self.assertEqual(rows[0]["tls"]["sni"], ["www.example.com"])
        self.assertEqual(rows[0]["tls"]["scs"], "1302")

    def test_first_examples_of_sleuth_readme(self):
        lines = self.first_example("sleuth/README.md")
        first = [json.loads(x) for x in self.run_shell(lines[0]).splitlines()]
        self.assertEqual(first[0]["tls"]["sni"], ["www.example.com"])
        second = [json.loads(x) for x in self.run_shell(lines[1]).splitlines()]
        inferred = second[0]["inferences"]
        self.assertEqual(inferred["tls"]["matches"][0]["client"], "curl")
        self.assertIn("tcp", inferred)

    def test_capture_fingerprint_end_to_end(self):
        rows = run_json([self.pcap, "--joy", JOY, "--fingerprint", "--select",
                         "fingerprints,inferences"])
        self.assertEqual(rows[0]["inferences"]["tls"]["matches"][0]["id"],
                         _db_entry("curl-7")["id"])


class Packaging(unittest.TestCase):
    def test_python_m_sleuth(self):
        env = dict(os.environ, PYTHONPATH=REPO)
        env.pop("SLEUTH_SCRIPT", None)
        result = subprocess.run([sys.executable, "-m", "sleuth", FLOWS, "--count"], cwd="/",
                                env=env, capture_output=True, timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertGreater(int(result.stdout), 0)
        result = subprocess.run([sys.executable, "-m", "sleuth", "--version"], cwd=REPO,
                                capture_output=True, timeout=60)
        self.assertTrue(result.stdout.startswith(b"sleuth "), result)

    def test_pyproject_declares_both_scripts(self):
        try:
            import tomllib
        except ImportError:
            self.skipTest("tomllib needs Python 3.11")
        with open(os.path.join(REPO, "pyproject.toml"), "rb") as handle:
            project = tomllib.load(handle)
        scripts = project["project"]["scripts"]
        self.assertEqual(scripts["sleuth"], "sleuth:main")
        self.assertEqual(scripts["joy-train"], "joytrain.cli:main")
        self.assertIn("data/*.json", project["tool"]["setuptools"]["package-data"][
            "sleuth.sleuth_pkg"])

    def test_pip_install_into_a_venv(self):
        python = "/usr/bin/python3"
        probe = subprocess.run([python, "-c", "import setuptools, wheel, venv, pip"],
                               capture_output=True) if os.path.exists(python) else None
        if probe is None or probe.returncode != 0:
            self.skipTest("/usr/bin/python3 lacks setuptools/wheel/pip: pip install not tried")
        with TempDir() as tmp:
            src = os.path.join(tmp, "src")
            # a copy: the build writes build/ and *.egg-info next to pyproject.toml
            os.mkdir(src)
            shutil.copy(os.path.join(REPO, "pyproject.toml"), src)
            shutil.copytree(os.path.join(REPO, "sleuth"), os.path.join(src, "sleuth"),
                            ignore=shutil.ignore_patterns("tests", "__pycache__"))
            os.makedirs(os.path.join(src, "doc"))
            shutil.copy(os.path.join(REPO, "doc", "sleuth.md"), os.path.join(src, "doc"))
            shutil.copy(os.path.join(REPO, "LICENSE"), src)
            if os.path.isdir(os.path.join(REPO, "saltUI", "joytrain")):
                shutil.copytree(os.path.join(REPO, "saltUI", "joytrain"),
                                os.path.join(src, "saltUI", "joytrain"),
                                ignore=shutil.ignore_patterns("__pycache__"))
            venv = os.path.join(tmp, "venv")
            subprocess.run([python, "-m", "venv", "--system-site-packages", venv], check=True,
                           timeout=120)
            result = subprocess.run([os.path.join(venv, "bin", "pip"), "install", "--no-deps",
                                     "--no-build-isolation", "--no-index", "-q", src],
                                    capture_output=True, timeout=300, cwd=tmp)
            self.assertEqual(result.returncode, 0, result.stderr.decode()[-2000:])
            sleuth = os.path.join(venv, "bin", "sleuth")
            self.assertTrue(os.path.exists(os.path.join(venv, "bin", "joy-train")))
            result = subprocess.run([sleuth, FLOWS, "--fingerprint", "--tls_sec", "--count"],
                                    capture_output=True, timeout=60, cwd=tmp)
            self.assertEqual(result.returncode, 0, result.stderr)   # data files installed
            self.assertGreater(int(result.stdout), 0)


if __name__ == "__main__":
    unittest.main()

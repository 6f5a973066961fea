"""The raw-line prefilter gives the same results as parsing every line (--strict)."""

import json
import random
import unittest

from helpers import data, run
from sleuth_pkg.prefilter import requirement
from sleuth_pkg.query import parse_where

QUERIES = ["dp=443", "dp=443,tls{sni}=*.example.com", "pr=17|pr=1", "dp=80|dp=53",
           "pr=6,dp=443|dp=80", "sp=22|dp=22", "dp=443,bytes_out>100|pr=17", "dp=5000",
           "dp=53,linked_dns=*", "dp=443,linked_dns=*", "pr=6,(dp=80|dp=8443)"]


def synthetic_lines(count=3000, seed=7):
    """joy-like records, some split by an active timeout (some reversed), DNS mixed in."""
    rng = random.Random(seed)
    lines = ['{"version":"t","inactive_timeout":10,"active_timeout":30}']
    now = 1000.0
    for i in range(count):
        now += 0.01
        sp, dp = rng.randint(1024, 1100), rng.choice((443, 80, 53, 22, 8443))
        rec = {"sa": "10.0.0.%d" % rng.randint(1, 9), "da": "10.1.0.%d" % rng.randint(1, 9),
               "pr": 17 if dp == 53 else 6, "sp": sp, "dp": dp,
               "bytes_out": rng.randint(0, 3000), "num_pkts_out": 2,
               "bytes_in": rng.randint(0, 3000), "num_pkts_in": 1,
               "time_start": round(now, 6), "time_end": round(now + rng.random() * 5, 6),
               "packets": [{"b": rng.randint(0, 1500), "dir": ">", "ipt": 1}],
               "expire_type": rng.choice("iiiiiae")}
        if dp == 53:
            rec["dns"] = [{"rn": "h%d.example" % i, "rr": [{"a": rec["da"].replace("10.1",
                                                                                  "10.2")}]}]
        lines.append(json.dumps(rec, separators=(",", ":")))
        if rec["expire_type"] == "a":
            cont = dict(rec, time_start=rec["time_end"] + 1, time_end=rec["time_end"] + 2,
                        expire_type="i")
            if rng.random() < 0.5:
                cont.update(sa=rec["da"], da=rec["sa"], sp=rec["dp"], dp=rec["sp"])
            lines.append(json.dumps(cont, separators=(",", ":")))
    return ("\n".join(lines) + "\n").encode()


class SameAsStrict(unittest.TestCase):
    def compare(self, args, stdin=None):
        fast = run(args, stdin)
        strict = run(args + ["--strict"], stdin)
        self.assertEqual(fast, strict, args)
        return fast

    def test_fixtures(self):
        for name in ("flows.jsonl", "stitch.jsonl"):
            for query in QUERIES:
                self.compare([data(name), "--where", query])
                self.compare([data(name), "--where", query, "--no_stitch"])

    def test_synthetic_with_stitching_and_dns(self):
        blob = synthetic_lines()
        matched = 0
        for query in QUERIES:
            status, out, err = self.compare(["--where", query], blob)
            matched += len(out.splitlines())
        self.assertGreater(matched, 1000)
        status, out, err = self.compare(["--where", "dp=443", "--stats"], blob)
        self.assertGreater(json.loads(out)["stitched_flows"], 0)


class Requirements(unittest.TestCase):
    def test_which_queries_get_a_prefilter(self):
        line = b'{"pr":6,"sp":1234,"dp":443}'
        for query, usable, keeps in (("dp=443", True, True), ("dp=80", True, False),
                                     ("dp=443,bytes_out>1", True, True),
                                     ("dp=80|pr=6", True, True), ("dp=80|pr=17", True, False),
                                     ("dp=80|bytes_out>1", False, None),
                                     ("dp~443", False, None), ("dp>400", False, None),
                                     ("dp=4*", False, None), ('dp="443"', False, None),
                                     ("sa=10.0.0.1", False, None), ("bytes_out=5", False, None),
                                     ("!dp=80", False, None), ("tls{dp}=443", False, None)):
            need = requirement(parse_where(query))
            self.assertEqual(need is not None, usable, query)
            if need is not None:
                self.assertEqual(need(line), keeps, query)


class Reporting(unittest.TestCase):
    def test_broken_lines_are_still_reported(self):
        blob = (b'{"sa":"1","da":"2","pr":6,"sp":1,"dp":80,"time_start":1,"time_end":1,'
                b'"expire_type":"i"}\n'
                b'{"sa":"1","da":"2","pr":6,"sp":1,"dp":80,"time_st\n'     # truncated
                b'garbage\n')
        status, out, err = run(["--where", "dp=443"], blob)
        self.assertEqual((status, out), (0, ""))
        self.assertIn("<stdin>:2: skipped unparseable line", err)
        self.assertIn("<stdin>:3: skipped unparseable line", err)

    def test_structural_damage_is_reported_even_when_skippable(self):
        good = (b'{"sa":"1","da":"2","pr":6,"sp":1,"dp":80,"time_start":1,"time_end":1,'
                b'"expire_type":"i","packets":[{"b":1}]}')
        for bad in (good[:-1], good + good, good.replace(b'"sa"', b'"s\xffa"'),
                    b"x" + good, good[:30]):
            status, out, err = run(["--where", "dp=443"], bad + b"\n")
            self.assertIn("skipped unparseable line", err, bad)
        self.assertEqual(run(["--where", "dp=443"], good + b"\n"), (0, "", ""))

    def test_strict_reports_everything(self):
        blob = b'{"sa":"1","dp":80,"oops":}\n'
        self.assertEqual(run(["--where", "dp=443"], blob)[2], "")
        self.assertIn("skipped unparseable line", run(["--where", "dp=443", "--strict"], blob)[2])


if __name__ == "__main__":
    unittest.main()

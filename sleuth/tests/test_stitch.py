"""Stitching: what must merge, what must not, and the streaming window."""

import json
import unittest

from helpers import data, records, run_json
from sleuth_pkg.stitch import Stitcher, flow_key


def read_bytes(name):
    with open(data(name), "rb") as handle:
        return handle.read()


def stitched_by_case():
    rows = run_json(["--no_dns_link", data("stitch.jsonl")])
    return {row["case"]: row for row in rows}


class ShouldMerge(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rows = stitched_by_case()

    def test_same_direction_continuation(self):
        a = self.rows["A same direction, continued"]
        self.assertEqual(a["stitched"], 2)
        self.assertEqual((a["bytes_out"], a["bytes_in"]), (150, 1500))
        self.assertEqual((a["num_pkts_out"], a["num_pkts_in"]), (3, 5))
        self.assertEqual((a["time_start"], a["time_end"]), (100.0, 140.0))
        self.assertEqual([p["b"] for p in a["packets"]], [100, 1000, 50, 500])
        # first appended ipt: from the last listed packet (100.1 s) to 130.0 s
        self.assertEqual(a["packets"][2]["ipt"], 29900)
        self.assertEqual(a["expire_type"], "i")
        self.assertEqual(a["tls"], {"sni": ["a.example"]})       # from the first record
        self.assertEqual(a["http"], [{"out": [{"method": "GET"}]}])   # only in the later one
        self.assertNotIn("A2", self.rows)

    def test_reversed_continuation_swaps_directions(self):
        b = self.rows["B reversed continuation"]
        self.assertEqual(b["stitched"], 2)
        self.assertEqual((b["sa"], b["sp"]), ("10.0.0.1", 2222))
        self.assertEqual((b["bytes_out"], b["bytes_in"]), (10 + 300, 20 + 7000))
        self.assertEqual((b["num_pkts_out"], b["num_pkts_in"]), (1 + 4, 1 + 5))
        self.assertEqual([(p["b"], p["dir"]) for p in b["packets"]],
                         [(10, ">"), (20, "<"), (7000, "<"), (300, ">")])
        self.assertEqual(b["ip"], {"out": {"ttl": 64}, "in": {"ttl": 55}})
        self.assertEqual(b["fingerprints_in"], {"tcp": "(server)"})
        self.assertNotIn("fingerprints", b)
        self.assertEqual((b["time_start"], b["time_end"]), (101.0, 135.0))

    def test_three_parts(self):
        h = self.rows["H three parts"]
        self.assertEqual(h["stitched"], 3)
        self.assertEqual((h["bytes_out"], h["bytes_in"]), (111, 222))
        self.assertEqual([p["b"] for p in h["packets"]], [1, 10, 100])
        self.assertEqual((h["time_start"], h["time_end"]), (700.0, 761.0))


class ShouldNotMerge(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rows = stitched_by_case()
        cls.originals = {r["case"]: r for r in records("stitch.jsonl")}

    def assert_untouched(self, *cases):
        for case in cases:
            self.assertEqual(self.rows[case], self.originals[case], case)

    def test_gap_longer_than_timeout(self):
        self.assert_untouched("C gap too long", "C2")

    def test_first_record_ended_by_inactivity(self):
        self.assert_untouched("D first ended by inactivity", "D2")

    def test_first_record_ended_by_tcp_port_reuse(self):
        # expire_type "c": the connection ended and a new one began on the same
        # ports 0.5 s later; the same pair with "a" is merged (the control)
        def pair(why):
            a = {"sa": "10.9.0.1", "da": "10.9.0.2", "pr": 6, "sp": 41001, "dp": 80,
                 "bytes_out": 10, "num_pkts_out": 5, "bytes_in": 20, "num_pkts_in": 3,
                 "time_start": 100.0, "time_end": 100.007, "expire_type": why}
            b = dict(a, bytes_out=30, bytes_in=40, time_start=100.5, time_end=100.507,
                     expire_type="e")
            return "".join(json.dumps(r) + "\n" for r in (a, b)).encode()
        rows = run_json(["--no_dns_link"], stdin=pair("c"))
        self.assertEqual([(r["bytes_out"], r["expire_type"]) for r in rows], [(10, "c"), (30, "e")])
        self.assertFalse(any("stitched" in r for r in rows))
        rows = run_json(["--no_dns_link"], stdin=pair("a"))
        self.assertEqual([(r["bytes_out"], r["stitched"]) for r in rows], [(40, 2)])

    def test_unidirectional_opposite_directions(self):
        self.assert_untouched("E unidirectional forward", "E2 unidirectional reverse")

    def test_overlapping_records(self):
        self.assert_untouched("F overlapping", "F2")

    def test_different_five_tuple(self):
        self.assert_untouched("G other port", "G2")

    def test_held_record_without_continuation_written_unchanged(self):
        self.assert_untouched("I never continued")

    def test_every_record_written_once(self):
        self.assertEqual(len(self.rows), 18 - 4)

    def test_no_stitch_keeps_everything(self):
        rows = run_json(["--no_stitch", "--no_dns_link", data("stitch.jsonl")])
        self.assertEqual(rows, records("stitch.jsonl"))


class Timeouts(unittest.TestCase):
    def test_stitch_timeout_option(self):
        rows = run_json(["--no_dns_link", "--stitch_timeout", "25", data("stitch.jsonl")])
        cases = {r["case"]: r for r in rows}
        self.assertEqual(cases["C gap too long"]["stitched"], 2)     # 21 s gap now allowed
        self.assertNotIn("C2", cases)

    def test_timeout_from_joy_metadata(self):
        text = read_bytes("stitch.jsonl").replace(b'"inactive_timeout":10',
                                                   b'"inactive_timeout":30')
        rows = run_json(["--no_dns_link"], stdin=text)
        cases = {r["case"]: r for r in rows}
        self.assertEqual(cases["C gap too long"]["stitched"], 2)

    def test_timeout_from_joy_flow_3_metadata(self):
        # schema joy-flow-3: the options are under "options"
        lines = read_bytes("stitch.jsonl").split(b"\n")
        meta = json.loads(lines[0])
        opts = {k: meta.pop(k) for k in list(meta) if k not in ("version", "schema", "inputs")}
        opts["inactive_timeout"] = 30
        meta["options"] = opts
        text = b"\n".join([json.dumps(meta).encode()] + lines[1:])
        rows = run_json(["--no_dns_link"], stdin=text)
        cases = {r["case"]: r for r in rows}
        self.assertEqual(cases["C gap too long"]["stitched"], 2)

    def test_command_line_beats_metadata(self):
        text = read_bytes("stitch.jsonl").replace(b'"inactive_timeout":10',
                                                   b'"inactive_timeout":30')
        rows = run_json(["--no_dns_link", "--stitch_timeout", "1"], stdin=text)
        cases = {r["case"]: r for r in rows}
        self.assertNotIn("stitched", cases["C gap too long"])
        self.assertEqual(cases["A same direction, continued"]["stitched"], 2)   # 0.1 s gap


class Streaming(unittest.TestCase):
    def rec(self, sp, start, end, expire="a"):
        return {"sa": "10.0.0.1", "da": "10.0.0.2", "pr": 6, "sp": sp, "dp": 80,
                "bytes_out": 1, "num_pkts_out": 1, "bytes_in": 1, "num_pkts_in": 1,
                "time_start": start, "time_end": end, "expire_type": expire}

    def test_only_flows_inside_the_window_are_held(self):
        stitcher = Stitcher(timeout=10, active_timeout=30)
        out = []
        peak = 0
        for i in range(2000):
            start = i * 1.0
            out.extend(stitcher.push(self.rec(1000 + i, start, start + 0.5)))
            out.extend(stitcher._expired())
            peak = max(peak, sum(len(v) for v in stitcher.pending.values()))
        out.extend(stitcher.flush())
        self.assertEqual(len(out), 2000)
        self.assertLess(peak, 60)          # window = 2*10 + 30 + 5 = 55 s of flows

    def test_final_records_pass_straight_through(self):
        stitcher = Stitcher()
        gen = stitcher.process(iter([self.rec(1, 0.0, 1.0, "i"), self.rec(2, 0.5, 1.5, "e")]))
        self.assertEqual([r["sp"] for r in gen], [1, 2])
        self.assertEqual(stitcher.pending, {})

    def test_flow_key_is_direction_independent(self):
        forward = self.rec(1234, 0, 1)
        reverse = dict(forward, sa="10.0.0.2", da="10.0.0.1", sp=80, dp=1234)
        self.assertEqual(flow_key(forward), flow_key(reverse))
        self.assertIsNone(flow_key({"sa": "x"}))
        icmp = {"sa": "10.0.0.1", "da": "10.0.0.2", "pr": 1, "sp": None, "dp": None}
        self.assertEqual(flow_key(icmp), (1, ("10.0.0.1", -1), ("10.0.0.2", -1)))

    def test_records_without_times_pass_through(self):
        stitcher = Stitcher()
        odd = {"sa": "1", "da": "2", "pr": 6}
        self.assertEqual(list(stitcher.process(iter([odd]))), [odd])


if __name__ == "__main__":
    unittest.main()

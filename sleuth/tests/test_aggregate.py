"""--dist, --groupby, --sum, --count, --head, --stats and the CSV/TSV/pretty writers."""

import csv
import io
import json
import unittest

from helpers import data, records, run, run_json

FLOWS = data("flows.jsonl")


class Dist(unittest.TestCase):
    def test_dist_of_selected_field(self):
        rows = run_json([FLOWS, "--select", "dp", "--dist"])
        self.assertEqual(rows[0], {"count": 3, "total": 9, "dp": 443})
        self.assertEqual(rows[1], {"count": 2, "total": 9, "dp": 80})
        self.assertEqual(sum(r["count"] for r in rows), 9)
        self.assertEqual(len(rows), 6)            # 443, 80, 53, null (ICMP), 123, 8443
        self.assertIn({"count": 1, "total": 9, "dp": None}, rows)
        counts = [r["count"] for r in rows]
        self.assertEqual(counts, sorted(counts, reverse=True))

    def test_dist_of_nested_selection(self):
        rows = run_json([FLOWS, "--select", "tls{scs}", "--where", "tls=*", "--dist"])
        self.assertEqual([r["tls"]["scs"] for r in rows], ["1302", "c02f", "000a"])

    def test_dist_with_head(self):
        rows = run_json([FLOWS, "--select", "dp", "--dist", "--head", "2"])
        self.assertEqual([r["dp"] for r in rows], [443, 80])


class GroupBySum(unittest.TestCase):
    def test_groupby_alone_counts(self):
        rows = run_json([FLOWS, "--groupby", "sa"])
        self.assertEqual(rows[0], {"sa": "10.0.0.5", "count": 4})
        self.assertEqual(sum(r["count"] for r in rows), 9)

    def test_groupby_sum(self):
        rows = run_json([FLOWS, "--groupby", "da", "--sum", "bytes_out,bytes_in"])
        by_da = {r["da"]: r for r in rows}
        self.assertEqual(by_da["93.184.216.34"], {"da": "93.184.216.34", "bytes_out": 527,
                                                   "bytes_in": 4310, "count": 2})
        self.assertEqual(by_da["198.51.100.7"]["bytes_out"], 190)
        self.assertEqual(rows[0]["da"], "93.184.216.34")   # biggest groups first

    def test_sum_alone_with_constant_selected_fields(self):
        rows = run_json([FLOWS, "--select", "pr,bytes_out,bytes_in", "--where", "pr=6",
                         "--sum", "bytes_out,bytes_in"])
        self.assertEqual(rows, [{"pr": 6, "bytes_out": 517 + 190 + 600 + 300 + 10 + 0,
                                 "bytes_in": 4310 + 1200 + 9000 + 2500 + 0, "count": 6}])

    def test_sum_nested_and_array_paths(self):
        rows = run_json([FLOWS, "--sum", "packets[{b}],tls{c_key_length}"])
        self.assertEqual(rows[0]["count"], 9)
        self.assertEqual(rows[0]["tls"], {"c_key_length": 264 + 528 + 1040})
        expected = sum(p["b"] for r in records("flows.jsonl") for p in r.get("packets", []))
        self.assertEqual(rows[0]["packets"], {"b": expected})

    def test_sum_numeric_arrays_element_by_element(self):
        blob = b'{"byte_dist":[1,2,3]}\n{"byte_dist":[10,20,30,40]}\n{"x":1}\n'
        rows = run_json(["--no_stitch", "--sum", "byte_dist"], stdin=blob)
        self.assertEqual(rows, [{"byte_dist": [11, 22, 33, 40], "count": 3}])

    def test_groupby_dist(self):
        rows = run_json([FLOWS, "--groupby", "sa", "--select", "dp", "--dist"])
        first = [r for r in rows if r["sa"] == "10.0.0.5"]
        self.assertEqual(first[0], {"sa": "10.0.0.5", "count": 1, "total": 4, "dp": 53})
        self.assertEqual(len(first), 4)

    def test_groupby_nested_key(self):
        rows = run_json([FLOWS, "--groupby", "tls{s_version}", "--where", "tls=*"])
        self.assertEqual(sorted(r["tls"]["s_version"] for r in rows), [3, 5, 6])


class CountHead(unittest.TestCase):
    def test_count(self):
        self.assertEqual(run([FLOWS, "--count"]), (0, "9\n", ""))
        self.assertEqual(run([FLOWS, "--where", "dp=443", "--count"])[1], "3\n")
        self.assertEqual(run([FLOWS, "--select", "dp", "--dist", "--count"])[1], "6\n")

    def test_head(self):
        rows = run_json([FLOWS, "--head", "2", "--select", "sp"])
        self.assertEqual(rows, [{"sp": 53001}, {"sp": 40001}])
        self.assertEqual(run([FLOWS, "--head", "2", "--count"])[1], "2\n")

    def test_head_must_be_positive(self):
        status, out, err = run([FLOWS, "--head", "0"])
        self.assertEqual(status, 2)
        self.assertIn("must be at least 1", err)


class Stats(unittest.TestCase):
    def test_summary(self):
        [stats] = run_json([FLOWS, "--stats", "--top", "3"])
        self.assertEqual(stats["flows"], 9)
        self.assertEqual(stats["bytes"]["out"], 33 + 517 + 190 + 600 + 56 + 48 + 300 + 10)
        self.assertEqual(stats["bytes"]["total"], stats["bytes"]["out"] + stats["bytes"]["in"])
        self.assertEqual(stats["time"]["first"], 1700000000.0001)
        self.assertEqual(stats["time"]["last"], 1700000010.1)
        tcp = [r for r in records("flows.jsonl") if r["pr"] == 6]
        self.assertEqual(stats["protocols"][0], {
            "pr": 6, "name": "tcp", "flows": 6,
            "bytes": sum(r["bytes_out"] + r.get("bytes_in", 0) for r in tcp),
            "packets": sum(r["num_pkts_out"] + r.get("num_pkts_in", 0) for r in tcp)})
        self.assertEqual(len(stats["top_talkers"]), 3)
        self.assertEqual(stats["top_talkers"][0], {"addr": "2001:db8:1::53", "bytes": 9600,
                                                   "flows": 1})
        self.assertEqual(stats["top_talkers"][2], {"addr": "10.0.0.5", "bytes": 6357,
                                                   "flows": 4})
        self.assertEqual(stats["top_ports"][0], {"pr": 6, "dp": 443, "flows": 3,
                                                 "bytes": 517 + 4310 + 600 + 9000 + 300 + 2500})

    def test_stats_pretty_and_conflicts(self):
        status, out, err = run([FLOWS, "--stats", "--pretty"])
        self.assertEqual(status, 0)
        self.assertTrue(out.startswith("{\n  \"flows\": 9"))
        for extra in (["--dist"], ["--csv"], ["--count"]):
            self.assertEqual(run([FLOWS, "--stats"] + extra)[0], 2)


class Writers(unittest.TestCase):
    def test_csv_selected_fields(self):
        status, out, err = run([FLOWS, "--where", "dp=443", "--select", "sa,dp,tls{sni,scs}",
                                "--csv"])
        rows = list(csv.reader(io.StringIO(out)))
        self.assertEqual(rows[0], ["sa", "dp", "tls.sni", "tls.scs"])
        self.assertEqual(rows[1], ["10.0.0.5", "443", '["www.example.com"]', "1302"])
        self.assertEqual(rows[2][0], "2001:db8::1")
        self.assertEqual(len(rows), 4)

    def test_csv_quoting_and_default_columns(self):
        status, out, err = run([FLOWS, "--where", "http=*", "--select",
                                "http[{out[{User-Agent}]}]", "--csv"])
        rows = list(csv.reader(io.StringIO(out)))
        self.assertEqual(rows[0], ["http.out.User-Agent"])
        self.assertEqual(json.loads(rows[1][0]), [['curl/7.88.1 "quoted" café']])
        status, out, err = run([FLOWS, "--csv", "--head", "1"])
        header, first = list(csv.reader(io.StringIO(out)))
        self.assertEqual(header[:5], ["sa", "da", "pr", "sp", "dp"])
        self.assertEqual(first[9], "1700000000.0001")

    def test_tsv_missing_values_empty(self):
        status, out, err = run([FLOWS, "--where", "pr=1", "--select", "sa,sp,dp,bytes_in",
                                "--tsv"])
        self.assertEqual(out, "sa\tsp\tdp\tbytes_in\n10.0.0.9\t\t\t56\n")

    def test_csv_of_aggregates(self):
        status, out, err = run([FLOWS, "--groupby", "da", "--sum", "bytes_out", "--csv",
                                "--head", "1"])
        self.assertEqual(out, "da,bytes_out,count\n93.184.216.34,527,2\n")
        status, out, err = run([FLOWS, "--select", "dp", "--dist", "--tsv", "--head", "1"])
        self.assertEqual(out, "count\ttotal\tdp\n3\t9\t443\n")

    def test_pretty(self):
        status, out, err = run([FLOWS, "--head", "1", "--select", "sa,ip", "--pretty"])
        self.assertEqual(json.loads(out)["sa"], "10.0.0.5")
        self.assertIn('\n  "ip": {\n    "out": {', out)

    def test_compact_json_like_joy(self):
        status, out, err = run([FLOWS, "--head", "1", "--select", "sa,dp"])
        self.assertEqual(out, '{"sa":"10.0.0.5","dp":53}\n')

    def test_non_ascii_escaped_safely(self):
        status, out, err = run([FLOWS, "--where", "http=*", "--select", "http"])
        self.assertIn("caf\\u00e9", out)
        self.assertIn('\\"quoted\\"', out)
        self.assertEqual(json.loads(out)["http"][0]["out"][4]["User-Agent"],
                         'curl/7.88.1 "quoted" café')

    def test_option_conflicts(self):
        for args in (["--csv", "--tsv"], ["--csv", "--pretty"], ["--dist", "--sum", "x"],
                     ["--count", "--csv"], ["--fp_db", "x"], ["--tls_policy", "x"]):
            status, out, err = run([FLOWS] + args)
            self.assertEqual(status, 2, args)
            self.assertEqual(len(err.splitlines()), 1, err)


if __name__ == "__main__":
    unittest.main()

"""--select: selection specs and projection."""

import unittest

from helpers import data, run, run_json
from sleuth_pkg.errors import QueryError
from sleuth_pkg.projection import compile_projection, leaf_paths, parse_spec

REC = {"sa": "10.0.0.5", "da": "10.0.0.6", "dp": 443,
       "tls": {"sni": ["a.example"], "scs": "c02b", "cs": ["c02b", "c02f"],
               "s_cert": [{"serial_number": "01", "signature_algo": "x"},
                          {"serial_number": "02"}]},
       "packets": [{"b": 1, "dir": ">", "ipt": 0}, {"b": 2, "dir": "<", "ipt": 3}, {"ipt": 9}],
       "dns": [{"qn": "q", "rr": []}, {"rn": "r", "rr": [{"a": "1.2.3.4", "ttl": 5},
                                                        {"cname": "c", "ttl": 6}]}]}


def project(spec, record=REC):
    return compile_projection(parse_spec(spec))(record)


class Projection(unittest.TestCase):
    def test_top_level_in_spec_order(self):
        out = project("dp,sa")
        self.assertEqual(out, {"dp": 443, "sa": "10.0.0.5"})
        self.assertEqual(list(out), ["dp", "sa"])

    def test_missing_fields_left_out(self):
        self.assertEqual(project("sa,http"), {"sa": "10.0.0.5"})
        self.assertEqual(project("http"), {})

    def test_nested(self):
        self.assertEqual(project("tls{sni,scs}"), {"tls": {"sni": ["a.example"], "scs": "c02b"}})
        self.assertEqual(project("tls.scs"), {"tls": {"scs": "c02b"}})
        self.assertEqual(project("tls{nothing}"), {})

    def test_arrays(self):
        self.assertEqual(project("packets[{b}]"), {"packets": [{"b": 1}, {"b": 2}]})
        self.assertEqual(project("packets{b}"), project("packets[{b}]"))
        self.assertEqual(project("tls{s_cert[{serial_number}]}"),
                         {"tls": {"s_cert": [{"serial_number": "01"}, {"serial_number": "02"}]}})
        self.assertEqual(project("dns[{rr[{a}]}]"), {"dns": [{"rr": [{"a": "1.2.3.4"}]}]})
        self.assertEqual(project("tls{cs[]}"), {"tls": {"cs": ["c02b", "c02f"]}})

    def test_merge_duplicate_keys(self):
        self.assertEqual(project("tls{sni},tls{scs}"), project("tls{sni,scs}"))
        self.assertEqual(project("tls{sni},tls"), {"tls": REC["tls"]})

    def test_quoted_keys(self):
        rec = {"http": [{"out": [{"User-Agent": "x"}, {"Host": "h"}]}]}
        self.assertEqual(project('http[{out[{"User-Agent"}]}]', rec),
                         {"http": [{"out": [{"User-Agent": "x"}]}]})

    def test_leaf_paths(self):
        self.assertEqual(leaf_paths(parse_spec("sa,tls{sni,scs},packets[{b}]")),
                         [("sa",), ("tls", "sni"), ("tls", "scs"), ("packets", "b")])

    def test_bad_specs(self):
        for spec, expected in [("", "empty field list"), ("sa,", "expected a field name"),
                               ("tls{sni", "missing '}'"), ("a[{b}", "missing ']'"),
                               ("a[x]", "expected '[]' or '[{'"), ("dp=443", "belong in --where"),
                               ("sa da", "unexpected character"), ("'abc", "unterminated")]:
            with self.subTest(spec=spec):
                with self.assertRaises(QueryError) as ctx:
                    parse_spec(spec)
                self.assertIn(expected, str(ctx.exception))
                self.assertIn("--select", str(ctx.exception))


class SelectCli(unittest.TestCase):
    def test_streams_selected_fields(self):
        rows = run_json(["--select", "sa,dp,tls{sni}", "--where", "dp=443", data("flows.jsonl")])
        self.assertEqual(rows[0], {"sa": "10.0.0.5", "dp": 443,
                                   "tls": {"sni": ["www.example.com"]}})
        self.assertEqual(len(rows), 3)

    def test_bad_select_exit_2(self):
        status, out, err = run(["--select", "sa,{", data("flows.jsonl")])
        self.assertEqual(status, 2)
        self.assertEqual(len(err.splitlines()), 1)
        self.assertIn("--select", err)


if __name__ == "__main__":
    unittest.main()

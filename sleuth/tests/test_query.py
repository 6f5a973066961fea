"""The --where language: parsing good and bad queries, and what they match."""

import unittest

from helpers import run, run_json, data  # noqa: F401
from sleuth_pkg.errors import QueryError
from sleuth_pkg.query import compile_where

TLS = {"sa": "10.0.0.5", "da": "93.184.216.34", "pr": 6, "sp": 40001, "dp": 443,
       "bytes_out": 517, "time_start": 1700000000.02,
       "tls": {"sni": ["www.example.com"], "scs": "1302", "cs": ["1302", "c02b"],
               "s_cert": [{"signature_algo": "sha256WithRSAEncryption", "signature_key_size": 2048},
                          {"signature_algo": "sha1WithRSAEncryption", "signature_key_size": 1024}]},
       "packets": [{"b": 517, "dir": ">"}, {"b": 2920, "dir": "<"}, {"b": 10, "dir": "<"}],
       "flag": True, "note": None}
V6 = {"sa": "2001:db8::1", "da": "2001:0db8:0001:0000:0000:0000:0000:0053", "pr": 6, "dp": 443,
      "bytes_out": 600}
ICMP = {"sa": "10.0.0.9", "da": "10.0.0.1", "pr": 1, "sp": None, "dp": None, "bytes_out": 56}


def matches(query, record):
    return compile_where(query)(record)


class GoodQueries(unittest.TestCase):
    def test_equality_numbers_and_strings(self):
        self.assertTrue(matches("dp=443", TLS))
        self.assertFalse(matches("dp=80", TLS))
        self.assertTrue(matches("dp=443.0", TLS))
        self.assertTrue(matches("sa=10.0.0.5", TLS))
        self.assertTrue(matches("tls{scs}=1302", TLS))       # hex string field, digits only
        self.assertFalse(matches("tls{scs}=1303", TLS))

    def test_not_equal(self):
        self.assertTrue(matches("dp~80", TLS))
        self.assertFalse(matches("dp~443", TLS))
        self.assertTrue(matches("dp!=80", TLS))
        # ~ on arrays: no element equals the value
        self.assertFalse(matches("tls{cs[]}~c02b", TLS))
        self.assertTrue(matches("tls{cs[]}~0005", TLS))
        # missing field is "not equal"
        self.assertTrue(matches("dp~443", ICMP))

    def test_ordering(self):
        self.assertTrue(matches("bytes_out>500", TLS))
        self.assertFalse(matches("bytes_out>517", TLS))
        self.assertTrue(matches("bytes_out>=517", TLS))
        self.assertTrue(matches("bytes_out<=517", TLS))
        self.assertFalse(matches("bytes_out<517", TLS))
        self.assertTrue(matches("time_start>1700000000", TLS))
        self.assertFalse(matches("dp>0", ICMP))             # null is not a number
        self.assertTrue(matches("tls{scs}>1000", TLS) is False)   # string field vs number
        self.assertTrue(matches("tls{scs}>=c000", {"tls": {"scs": "c02b"}}))   # string order

    def test_wildcards(self):
        self.assertTrue(matches("tls{sni}=*.example.com", TLS))
        self.assertTrue(matches("tls{sni}=www.examp?e.com", TLS))
        self.assertFalse(matches("tls{sni}=*.example.org", TLS))
        self.assertTrue(matches("sa=10.0.0.*", TLS))
        self.assertTrue(matches("dp=4?3", TLS))               # wildcard on a number's text
        self.assertTrue(matches("tls{sni}~*.example.org", TLS))
        self.assertFalse(matches(r"tls{sni}=www\*", {"tls": {"sni": "www.x"}}))
        self.assertTrue(matches(r"tls{sni}=www\*", {"tls": {"sni": "www*"}}))

    def test_present_absent(self):
        self.assertTrue(matches("tls=*", TLS))
        self.assertTrue(matches("tls{sni}=*", TLS))
        self.assertFalse(matches("http=*", TLS))
        self.assertTrue(matches("http~*", TLS))
        self.assertFalse(matches("dp=*", ICMP))                # null counts as absent
        self.assertTrue(matches("dp~*", ICMP))
        self.assertFalse(matches("note=*", TLS))
        self.assertTrue(matches("flag=true", TLS))
        self.assertFalse(matches("flag=false", TLS))

    def test_arrays_any_element(self):
        self.assertTrue(matches("packets[{b}]>1000", TLS))
        self.assertTrue(matches("packets{b}>1000", TLS))
        self.assertTrue(matches("packets.b>1000", TLS))
        self.assertFalse(matches("packets[{b}]>5000", TLS))
        self.assertTrue(matches("tls{cs[]}=c02b", TLS))
        self.assertTrue(matches("tls{s_cert[{signature_algo}]}=sha1*", TLS))

    def test_scoped_element(self):
        # one element must satisfy the whole inner condition
        self.assertTrue(matches('packets[{b>1000,dir="<"}]', TLS))
        self.assertFalse(matches('packets[{b>1000,dir=">"}]', TLS))
        self.assertTrue(matches("tls{s_cert[{signature_algo=sha1*,signature_key_size<2048}]}",
                                TLS))
        self.assertFalse(matches("tls{s_cert[{signature_algo=sha256*,signature_key_size<2048}]}",
                                 TLS))
        self.assertTrue(matches("tls{sni=*.example.com}", TLS))

    def test_and_or_precedence(self):
        # "|" binds tighter than ","
        self.assertTrue(matches("dp=80|dp=443,pr=6", TLS))
        self.assertFalse(matches("dp=80|dp=443,pr=17", TLS))
        self.assertTrue(matches("pr=17,dp=80|pr=6", {"pr": 17, "dp": 53}) is False)
        self.assertTrue(matches("(pr=17,dp=80)|pr=6", TLS))
        self.assertTrue(matches("pr=6,(dp=80|dp=443)", TLS))
        self.assertTrue(matches("!dp=80", TLS))
        self.assertFalse(matches("!(dp=80|dp=443)", TLS))
        self.assertTrue(matches(" dp = 443 , pr = 6 ", TLS))

    def test_ipv4_cidr(self):
        self.assertTrue(matches("da=93.184.216.0/24", TLS))
        self.assertTrue(matches("sa=10.0.0.0/8", TLS))
        self.assertFalse(matches("sa=192.168.0.0/16", TLS))
        self.assertTrue(matches("sa~192.168.0.0/16", TLS))
        self.assertTrue(matches("sa=10.0.0.5/32", TLS))
        self.assertTrue(matches("sa=0.0.0.0/0", TLS))
        self.assertFalse(matches("sa=0.0.0.0/0", V6))          # families differ

    def test_ipv6(self):
        self.assertTrue(matches("sa=2001:db8::1", V6))
        self.assertTrue(matches("sa=2001:0db8:0:0:0:0:0:1", V6))    # another spelling
        self.assertTrue(matches("da=2001:db8:1::53", V6))
        self.assertTrue(matches("da=2001:db8::/32", V6))
        self.assertTrue(matches("sa=2001:db8::/32,da=2001:db8:1::/48", V6))
        self.assertFalse(matches("da=2001:db9::/32", V6))
        self.assertFalse(matches("sa=10.0.0.0/8", V6))
        self.assertTrue(matches("sa>=2001:db8::,sa<=2001:db8::ffff", V6))
        self.assertTrue(matches("sa=2001:db8::*", V6))          # wildcard on the text

    def test_quoted_values(self):
        rec = {"http": [{"out": [{"User-Agent": "curl/7.88.1 (x, y) | z"}]}]}
        self.assertTrue(matches('http[{out[{"User-Agent"}]}]="curl/7.88.1 (x, y) | z"', rec))
        self.assertTrue(matches("http{out{User-Agent}}='curl*'", rec))
        self.assertTrue(matches('sa="10.0.0.5"', TLS))
        self.assertFalse(matches('dp="443"', TLS))             # quoted: a string, not a number
        self.assertTrue(matches('x="a\\"b"', {"x": 'a"b'}))

    def test_parentheses_in_bare_values(self):
        rec = {"fingerprints": {"tls": "(0303)(c02b)((0000))"}}
        self.assertTrue(matches("fingerprints{tls}=(0303)*", rec))
        self.assertTrue(matches("(fingerprints{tls}=(0303)(c02b)((0000)))", rec))

    def test_nested_dotted_and_braces_equal(self):
        for query in ("tls.scs=1302", "tls{scs}=1302", "tls[{scs}]=1302"):
            self.assertTrue(matches(query, TLS), query)


class BadQueries(unittest.TestCase):
    CASES = [
        ("", "empty query"),
        ("dp", "expected an operator"),
        ("dp=", "missing value"),
        ("=443", "missing field name"),
        ("dp=443,", "expected a condition"),
        ("dp=443|", "expected a condition"),
        ("(dp=443", "missing ')' at the end"),
        ("dp=443)", "unbalanced ')'"),
        ("tls{sni=x", "missing '}'"),
        ("tls{sni}}=x", "unbalanced '}'"),
        ("packets[{b}=3", "expected ']'"),
        ("packets[b]=3", "expected '[]' or '[{'"),
        ("dp=443 pr=6", "unexpected 'p' after the value"),
        ("sni=\"abc", "unterminated quoted string"),
        ("tls{sni},dp=4", "expected an operator"),
        ("dp>*", "only works with = and ~"),
        ("tls{sni}>a*", "wildcards only work"),
        ("da>10.0.0.0/8", "CIDR prefix only works"),
        ("packets[{b>1}]=3", "an operator cannot follow"),
        ("!dp", "expected an operator"),
        ("dp=@ x", "unexpected 'x'"),
    ]

    def test_errors_are_one_line_with_position(self):
        for query, expected in self.CASES:
            with self.subTest(query=query):
                with self.assertRaises(QueryError) as ctx:
                    compile_where(query)
                message = str(ctx.exception)
                self.assertIn(expected, message)
                self.assertNotIn("\n", message)
                self.assertIn("--where", message)

    def test_empty_query_on_the_command_line(self):
        status, out, err = run(["--where", "", data("flows.jsonl")])
        self.assertEqual((status, out), (2, ""))
        self.assertIn("empty query", err)
        self.assertEqual(run(["--select", " ", data("flows.jsonl")])[0], 2)

    def test_position_points_at_error(self):
        with self.assertRaises(QueryError) as ctx:
            compile_where("dp=443,tls{sni}!x")
        self.assertEqual(ctx.exception.pos, 15)
        self.assertIn("column 16", str(ctx.exception))

    def test_cli_exit_status_2_and_one_line(self):
        status, out, err = run(["--where", "dp=443,(pr=6", data("flows.jsonl")])
        self.assertEqual(status, 2)
        self.assertEqual(out, "")
        self.assertEqual(len(err.strip().splitlines()), 1)
        self.assertEqual(err, "sleuth: --where 'dp=443,(pr=6': missing ')' at the end\n")

    def test_no_eval_of_input(self):
        # Python code in a query is just a (non-matching) value, never run.
        status, out, err = run(["--where", "dp=__import__('os').system('false')",
                                data("flows.jsonl")])
        self.assertEqual((status, out, err), (0, "", ""))
        status, out, err = run(["--where", "dp=1)or(__import__('os')", data("flows.jsonl")])
        self.assertEqual(status, 2)
        self.assertIn("unbalanced ')'", err)


class WhereOnFixture(unittest.TestCase):
    def count(self, query, *extra):
        return len(run_json(["--where", query, data("flows.jsonl")] + list(extra)))

    def test_counts(self):
        self.assertEqual(self.count("dp=443"), 3)
        self.assertEqual(self.count("dp=443,tls{sni}=*.example.com"), 2)
        self.assertEqual(self.count("da=10.0.0.0/8"), 2)
        self.assertEqual(self.count("sa=2001:db8::/32"), 1)
        self.assertEqual(self.count("dns=*"), 1)
        self.assertEqual(self.count("http{out{User-Agent}}=*quoted*"), 1)
        self.assertEqual(self.count("pr=1|pr=17"), 3)
        self.assertEqual(self.count("bytes_in~*"), 1)


if __name__ == "__main__":
    unittest.main()

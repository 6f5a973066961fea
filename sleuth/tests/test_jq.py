"""--where/--select agree with the equivalent jq programs on the same input."""

import json
import shutil
import subprocess
import unittest

from helpers import data, run_json

JQ = shutil.which("jq")

# (--where, --select, equivalent jq program)
CASES = [
    ("dp=443", "sa,da", 'select(.dp == 443) | {sa, da}'),
    ("dp=443,tls{sni}=*.example.com", "sa,da,tls{sni,scs}",
     'select(.dp == 443 and ([.tls.sni[]? | strings | test("^.*\\\\.example\\\\.com$")] | any))'
     ' | {sa, da, tls: (.tls | {sni, scs})}'),
    ("pr=17|pr=1", "sa,pr", 'select(.pr == 17 or .pr == 1) | {sa, pr}'),
    ("bytes_out>500", "sa,bytes_out", 'select(.bytes_out > 500) | {sa, bytes_out}'),
    ("bytes_out<=56,pr~6", "sa,bytes_out",
     'select(.bytes_out <= 56 and .pr != 6) | {sa, bytes_out}'),
    ("packets[{b}]>1000", "da,dp", 'select([.packets[]?.b] | any(. != null and . > 1000))'
     ' | {da, dp}'),
    ("http=*", "http[{out}]", 'select(.http != null) | {http: [.http[] | {out}]}'),
    ("dp~443", "dp", 'select(.dp != 443) | {dp}'),
    ("tls{cs[]}=0005", "da,tls{scs}",
     'select([.tls.cs[]?] | index("0005")) | {da, tls: {scs: .tls.scs}}'),
    ("sa=10.0.0.*", "sa,sp", 'select(.sa | test("^10\\\\.0\\\\.0\\\\..*$")) | {sa, sp}'),
    ("dns[{rr[{a}]}]=*", "dns[{rr[{a}]}]",
     'select([.dns[]?.rr[]?.a | select(. != null)] | length > 0)'
     ' | {dns: [.dns[] | {rr: [.rr[] | select(has("a")) | {a}]} | select(.rr | length > 0)]}'),
    ("time_start>=1700000005,time_start<1700000008", "time_start,pr",
     'select(.time_start >= 1700000005 and .time_start < 1700000008) | {time_start, pr}'),
    ("bytes_in~*", "sa,bytes_out", 'select(has("bytes_in") | not) | {sa, bytes_out}'),
    ("(dp=80|dp=53),bytes_in>100", "da", 'select((.dp == 80 or .dp == 53) and .bytes_in > 100)'
     ' | {da}'),
]

# --select without --where, with fields missing from some records
SELECT_ONLY = [
    ("ip{out{ttl}}", 'if .ip.out.ttl != null then {ip: {out: {ttl: .ip.out.ttl}}} else {} end'),
    ("sa,tls", '{sa} + (if has("tls") then {tls} else {} end)'),
]


@unittest.skipUnless(JQ, "jq is not installed: the jq comparisons are skipped")
class AgreesWithJq(unittest.TestCase):
    def jq(self, program, path):
        result = subprocess.run([JQ, "-c", program, path], capture_output=True, text=True,
                                check=True)
        return [json.loads(line) for line in result.stdout.splitlines()]

    def sleuth(self, args, path):
        return run_json(["--no_stitch", "--no_dns_link", path] + args)

    def test_where_and_select(self):
        for name in ("flows.jsonl", "stitch.jsonl"):
            path = data(name)
            for where, select, program in CASES:
                with self.subTest(file=name, where=where):
                    # the metadata line is not a record for sleuth; jq must skip it too
                    program = 'select(has("version") | not) | ' + program
                    self.assertEqual(self.sleuth(["--where", where, "--select", select], path),
                                     self.jq(program, path))

    def test_where_without_select(self):
        path = data("flows.jsonl")
        self.assertEqual(self.sleuth(["--where", "sa=10.0.0.0/8,dp=443|dp=80"], path),
                         self.jq('select(has("version") | not) | select((.sa | startswith("10."))'
                                 ' and (.dp == 443 or .dp == 80))', path))

    def test_select_only(self):
        path = data("flows.jsonl")
        for select, program in SELECT_ONLY:
            with self.subTest(select=select):
                self.assertEqual(self.sleuth(["--select", select], path),
                                 self.jq('select(has("version") | not) | ' + program, path))

    def test_some_cases_match_something(self):
        path = data("flows.jsonl")
        nonempty = sum(1 for where, select, _ in CASES
                       if self.sleuth(["--where", where, "--select", select], path))
        self.assertGreaterEqual(nonempty, len(CASES) - 1)


if __name__ == "__main__":
    unittest.main()

"""linked_dns, --tls_sec and --fingerprint."""

import csv
import json
import os
import unittest

from helpers import REPO, TempDir, data, run, run_json
from sleuth_pkg import pcapmini, tlsfp
from sleuth_pkg.dnslink import DnsLinker
from sleuth_pkg.fingerprint import DEFAULT_DB, FingerprintMatcher, load_database
from sleuth_pkg.tlssec import TlsClassifier, load_policy

FLOWS = data("flows.jsonl")
SHARED_JA4 = os.path.join(os.path.dirname(REPO), "shared", "ja4")


class DnsLinking(unittest.TestCase):
    def test_flows_to_answered_addresses_are_linked(self):
        rows = run_json([FLOWS, "--where", "linked_dns=*", "--select", "sp,linked_dns"])
        self.assertEqual([r["sp"] for r in rows], [40001, 40003])
        self.assertEqual(rows[0]["linked_dns"], {"name": "www.example.com", "server": "10.0.0.53",
                                                 "client": "10.0.0.5",
                                                 "time": 1700000000.0001, "ttl": 300})

    def test_off_switch_and_dns_record_itself(self):
        self.assertEqual(run_json([FLOWS, "--no_dns_link", "--where", "linked_dns=*"]), [])
        rows = run_json([FLOWS, "--where", "dns=*"])
        self.assertNotIn("linked_dns", rows[0])

    def test_aaaa_answers_and_time_order(self):
        linker = DnsLinker()
        linker.observe({"sa": "10.0.0.5", "da": "10.0.0.53", "sp": 5000, "dp": 53,
                        "time_start": 100.0,
                        "dns": [{"rn": "v6.example", "rr": [{"aaaa": "2001:db8::80", "ttl": 9}]}]})
        early = linker.link({"sa": "10.0.0.5", "da": "2001:db8::80", "time_start": 99.0})
        self.assertNotIn("linked_dns", early)             # flow started before the answer
        late = linker.link({"sa": "10.0.0.5", "da": "2001:db8::80", "time_start": 101.0})
        self.assertEqual(late["linked_dns"]["name"], "v6.example")

    def test_server_is_the_dns_port_side_even_when_reversed(self):
        linker = DnsLinker()
        linker.observe({"sa": "10.0.0.53", "da": "10.0.0.5", "sp": 53, "dp": 5000,
                        "time_start": 1.0, "dns": [{"rn": "x", "rr": [{"a": "192.0.2.1"}]}]})
        flow = linker.link({"sa": "10.0.0.5", "da": "192.0.2.1", "time_start": 2.0})
        self.assertEqual(flow["linked_dns"], {"name": "x", "server": "10.0.0.53",
                                              "client": "10.0.0.5", "time": 1.0})

    def test_prefers_answer_asked_by_the_same_client(self):
        linker = DnsLinker()
        for client, start, name in (("10.0.0.5", 1.0, "mine"), ("10.0.0.6", 2.0, "other")):
            linker.observe({"sa": client, "da": "10.0.0.53", "sp": 5000, "dp": 53,
                            "time_start": start, "dns": [{"rn": name, "rr": [{"a": "1.2.3.4"}]}]})
        flow = linker.link({"sa": "10.0.0.5", "da": "1.2.3.4", "time_start": 3.0})
        self.assertEqual(flow["linked_dns"]["name"], "mine")

    def test_non_answer_sections_ignored_and_memory_bounded(self):
        linker = DnsLinker(max_addresses=2)
        linker.observe({"sa": "a", "da": "b", "sp": 1, "dp": 53, "time_start": 1.0,
                        "dns": [{"rn": "n", "rr": [{"a": "9.9.9.9", "section": "additional"},
                                                  {"a": "1.1.1.1"}, {"a": "2.2.2.2"},
                                                  {"a": "3.3.3.3"}]}]})
        self.assertEqual(sorted(linker.answers), ["2.2.2.2", "3.3.3.3"])

    def test_dns_record_after_the_flow_still_links_when_stitching(self):
        with open(FLOWS) as handle:
            lines = handle.read().splitlines()
        reordered = [lines[0], lines[2], lines[1]]          # flow before its DNS record
        flow = json.loads(lines[2])
        flow["expire_type"] = "a"                           # held by the stitcher
        reordered[1] = json.dumps(flow)
        rows = run_json(["--where", "dp=443"], stdin="\n".join(reordered).encode())
        self.assertEqual(rows[0]["linked_dns"]["name"], "www.example.com")


class TlsSec(unittest.TestCase):
    def classify(self):
        rows = run_json([FLOWS, "--tls_sec", "--where", "tls=*", "--select", "da,tls_sec"])
        return {r["da"]: r["tls_sec"] for r in rows}

    def test_modern_tls13(self):
        sec = self.classify()["93.184.216.34"]
        self.assertEqual(sec["classification"], "recommended")
        self.assertEqual(sec["components"]["key_exchange"]["name"], "x25519")
        self.assertEqual(sec["components"]["cipher_suite"]["name"], "TLS_AES_256_GCM_SHA384")
        self.assertEqual(sec["concerns"], [])

    def test_tls12_with_2048_bit_rsa_is_acceptable(self):
        sec = self.classify()["2001:db8:1::53"]
        self.assertEqual(sec["classification"], "acceptable")
        self.assertEqual(sec["components"]["key_exchange"]["bits"], 256)
        self.assertEqual(sec["components"]["certificates"][0]["public_key"]["strength"], 112)

    def test_old_everything_is_avoid_with_concerns(self):
        sec = self.classify()["192.0.2.80"]
        self.assertEqual(sec["classification"], "avoid")
        text = " | ".join(sec["concerns"])
        for expected in ("TLS 1.0 is deprecated", "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
                         "RSA key transport 1024 bits", "sha1WithRSAEncryption",
                         "public key rsaEncryption 1024 bits"):
            self.assertIn(expected, text)
        # the self-signed root's own (md5) signature is not judged
        self.assertNotIn("md5", text)

    def test_filter_on_classification(self):
        rows = run_json([FLOWS, "--tls_sec", "--where", "tls_sec{classification}=avoid",
                         "--select", "da"])
        self.assertEqual(rows, [{"da": "192.0.2.80"}])

    def test_unknown_values_reported_not_judged(self):
        classifier = TlsClassifier(load_policy())
        sec = classifier.classify({"scs": "7777", "s_version": 5})
        self.assertEqual(sec["classification"], "acceptable")
        self.assertEqual(sec["unknown"], ["cipher suite 7777"])
        self.assertEqual(classifier.classify({})["classification"], "unknown")

    def test_version_and_suite_spellings(self):
        classifier = TlsClassifier(load_policy())
        for version in (6, "TLS 1.3", "0x0304", 0x0304, "TLSv1.3"):
            sec = classifier.classify({"s_version": version})
            self.assertEqual(sec["components"]["version"]["value"], "TLS1.3", version)
        for scs in ("c02b", "0xC02B", 0xc02b):
            sec = classifier.classify({"scs": scs})
            self.assertEqual(sec["components"]["cipher_suite"]["value"], "c02b")

    def test_policy_file_sources_and_classes(self):
        policy = load_policy()
        self.assertEqual(policy["classes"], ["recommended", "acceptable", "legacy", "avoid"])
        for code, entry in policy["cipher_suites"].items():
            self.assertIn(entry["class"], policy["classes"], code)
            for source in entry["sources"]:
                self.assertIn(source, policy["sources"], code)
        self.assertEqual(policy["cipher_suites"]["1301"]["class"], "recommended")
        self.assertEqual(policy["cipher_suites"]["0005"]["class"], "avoid")     # RC4
        self.assertEqual(policy["cipher_suites"]["002f"]["class"], "legacy")    # RSA kx

    def test_bad_policy_files(self):
        with TempDir() as tmp:
            bad = os.path.join(tmp, "p.json")
            for content, message in (("{", "not valid JSON"), ("{}", "not a sleuth TLS policy"),
                                     ('{"format":"sleuth-tls-policy"}', "lacks the")):
                with open(bad, "w") as handle:
                    handle.write(content)
                status, out, err = run([FLOWS, "--tls_sec", "--tls_policy", bad])
                self.assertEqual(status, 2)
                self.assertIn(message, err)
            status, out, err = run([FLOWS, "--tls_sec", "--tls_policy", bad + ".missing"])
            self.assertIn("cannot read TLS policy file", err)


class Fingerprints(unittest.TestCase):
    def test_fixture_flow_matches_curl(self):
        rows = run_json([FLOWS, "--fingerprint", "--where", "inferences=*",
                         "--select", "sp,inferences"])
        self.assertEqual(len(rows), 1)
        tls = rows[0]["inferences"]["tls"]
        self.assertEqual(tls["matches"][0]["client"], "curl")
        self.assertEqual(tls["matches"][0]["matched_on"], ["tls", "ja4", "ja3"])
        self.assertEqual(tls["ja4"], "t13d3112h2_e8f1e7e78f70_b26ce05bbdd6")

    def test_shuffled_extensions_still_match_on_tls_and_ja4(self):
        db = load_database()
        curl = db["entries"][0]
        version, ciphers, exts = tlsfp.parse_joy_fingerprint(curl["tls"])
        shuffled = tlsfp.joy_fingerprint((version, ciphers, list(reversed(exts))))
        record = {"pr": 6, "fingerprints": {"tls": shuffled}}
        FingerprintMatcher(db).annotate(record)
        match = record["inferences"]["tls"]["matches"][0]
        self.assertEqual(match["id"], curl["id"])
        self.assertEqual(match["matched_on"], ["tls", "ja4"])       # JA3 is order-sensitive

    # Two hellos of Chromium 156 (headless, https://127.0.0.1:PORT/) from two runs, as joy
    # wrote them: extensions permuted, a different GREASE value in signature_algorithms.
    CHROMIUM_RUNS = (
        "(0303)(0a0a130113021303c02bc02fc02cc030cca9cca8c013c014009c009d002f0035)((0a0a)"
        "(0023)(ca34)(001b0003020002)(000d001a00187a7a09040905090604030804040105030805050108"
        "060601)(0012)(002b0007060a0a03040303)(ff01)(000b00020100)(0033)(000500050100000000)"
        "(000a000c000a0a0a11ec001d00170018)(fe0d)(44cd)(0010000e000c02683208687474702f312e31)"
        "(0017)(002d00020101)(0a0a))",
        "(0303)(0a0a130113021303c02bc02fc02cc030cca9cca8c013c014009c009d002f0035)((0a0a)"
        "(000500050100000000)(ca34)(0017)(ff01)(0012)(000d001a00183a3a0904090509060403080404"
        "0105030805050108060601)(0010000e000c02683208687474702f312e31)(44cd)(0023)"
        "(001b0003020002)(fe0d)(002b0007060a0a03040303)(000a000c000a0a0a11ec001d00170018)"
        "(002d00020101)(0033)(000b00020100)(0a0a))")

    def test_chromium_runs_match_each_other_and_the_database(self):
        first, second = (tlsfp.parse_joy_fingerprint(t) for t in self.CHROMIUM_RUNS)
        self.assertEqual(tlsfp.canonical_fingerprint(first), tlsfp.canonical_fingerprint(second))
        # JA4 leaves GREASE out of the signature algorithms too (as joy's C code does)
        self.assertEqual(tlsfp.ja4(first), "t13i1516h2_8daaf6152771_cb7bf5808d99")
        self.assertEqual(tlsfp.ja4(second), tlsfp.ja4(first))
        self.assertNotEqual(tlsfp.ja3(first), tlsfp.ja3(second))       # order-sensitive
        db = load_database()
        for text in self.CHROMIUM_RUNS:
            record = {"pr": 6, "fingerprints": {"tls": text}}
            FingerprintMatcher(db).annotate(record)
            matches = record["inferences"]["tls"]["matches"]
            self.assertEqual([m["client"] for m in matches], ["chromium (by IP address, no SNI)"])
            self.assertEqual(matches[0]["matched_on"][:2], ["tls", "ja4"])

    def test_unknown_fingerprint_and_joy_given_values(self):
        db = load_database()
        record = {"fingerprints": {"tls": "(0303)(c02b)((0000))", "ja3": "0" * 32}}
        FingerprintMatcher(db).annotate(record)
        self.assertEqual(record["inferences"]["tls"]["matches"], [])
        self.assertEqual(record["inferences"]["tls"]["ja3"], "0" * 32)
        record = {"tls": {"ja4": db["entries"][1]["ja4"]}}
        FingerprintMatcher(db).annotate(record)
        self.assertEqual(record["inferences"]["tls"]["matches"][0]["id"], db["entries"][1]["id"])
        untouched = {"sa": "x"}
        self.assertEqual(FingerprintMatcher(db).annotate(dict(untouched)), untouched)

    def test_database_entries_are_consistent_and_sourced(self):
        db = load_database(DEFAULT_DB)
        self.assertGreaterEqual(len(db["entries"]), 3)
        ids = [e["id"] for e in db["entries"]]
        self.assertEqual(len(ids), len(set(ids)))
        for entry in db["entries"]:
            for key in ("client", "client_version"):
                self.assertTrue(entry[key], (entry["id"], key))
            self.assertIn("loopback", entry["source"]["method"])
            self.assertRegex(entry["source"]["date"], r"^\d{4}-\d\d-\d\d$")
            if "tls" not in entry:
                self.assertTrue(entry.get("tcp") or entry.get("user_agent"), entry["id"])
                continue
            hello = tlsfp.parse_joy_fingerprint(entry["tls"])
            self.assertIsNotNone(hello, entry["id"])
            self.assertEqual(tlsfp.ja3_string(hello), entry["ja3_full"], entry["id"])
            self.assertEqual(tlsfp.ja3(hello), entry["ja3"], entry["id"])
            self.assertEqual(tlsfp.ja4(hello), entry["ja4"], entry["id"])
            for key in ("client", "client_version", "tls_library"):
                self.assertTrue(entry[key], (entry["id"], key))
            self.assertIn("loopback", entry["source"]["method"])
            self.assertRegex(entry["source"]["date"], r"^\d{4}-\d\d-\d\d$")

    def test_bad_database_files(self):
        with TempDir() as tmp:
            bad = os.path.join(tmp, "db.json")
            for content, message in (
                    ("[", "not valid JSON"), ("{}", "not a sleuth fingerprint database"),
                    ('{"format":"sleuth-fingerprints","entries":{}}', "must be a list"),
                    ('{"format":"sleuth-fingerprints","entries":[{}]}', 'has no "id"'),
                    ('{"format":"sleuth-fingerprints","entries":[{"id":"x"}]}', "none of")):
                with open(bad, "w") as handle:
                    handle.write(content)
                status, out, err = run([FLOWS, "--fingerprint", "--fp_db", bad])
                self.assertEqual((status, out), (2, ""))
                self.assertIn(message, err)


class Ja3Ja4(unittest.TestCase):
    """JA3/JA4 computed by sleuth_pkg.tlsfp."""

    HELLO = (0x0303, [0x0a0a, 0x1301, 0xc02b],
             [(0x1a1a, b""), (0x0000, b"\x00\x0e\x00\x00\x0bexample.com"),
              (0x000a, b"\x00\x06\x2a\x2a\x00\x1d\x00\x17"), (0x000b, b"\x01\x00"),
              (0x0010, b"\x00\x03\x02h2"), (0x000d, b"\x00\x04\x04\x03\x08\x04"),
              (0x002b, b"\x04\x3a\x3a\x03\x04")])

    def test_ja3_removes_grease(self):
        self.assertEqual(tlsfp.ja3_string(self.HELLO), "771,4865-49195,0-10-11-16-13-43,29-23,0")

    def test_ja4_by_hand(self):
        import hashlib
        ciphers = hashlib.sha256(b"1301,c02b").hexdigest()[:12]
        exts = hashlib.sha256(b"000a,000b,000d,002b_0403,0804").hexdigest()[:12]
        self.assertEqual(tlsfp.ja4(self.HELLO), "t13d0206h2_%s_%s" % (ciphers, exts))
        self.assertTrue(tlsfp.ja4(self.HELLO, "q").startswith("q13d"))

    def test_ja4_ignores_grease_signature_algorithms(self):
        # JA4: "ignore GREASE values anywhere it sees them", signature
        # algorithms included (joy's C code drops them too)
        import hashlib
        hello = (self.HELLO[0], self.HELLO[1],
                 [e if e[0] != 0x000d else (0x000d, b"\x00\x06\x4a\x4a\x04\x03\x08\x04")
                  for e in self.HELLO[2]])
        exts = hashlib.sha256(b"000a,000b,000d,002b_0403,0804").hexdigest()[:12]
        self.assertTrue(tlsfp.ja4(hello).endswith("_" + exts))
        self.assertEqual(tlsfp.ja4(hello), tlsfp.ja4(self.HELLO))

    def test_ja4_alpn_specification_examples(self):
        # JA4 spec, "ALPN Extension Value": raw bytes; the first and last hex
        # digits when the first or last byte is not ASCII alphanumeric
        cases = [(b"h2", "h2"), (b"http/1.1", "h1"), (b"h", "hh"), (b"\xab", "ab"),
                 (b"\x20", "20"), (b"\xab\xcd", "ad"), (b"\x20\x61", "21"),
                 (b"\x30\xab", "3b"), (b"\x61\x20", "60"), (b"\x30\x31\xab\xcd", "3d"),
                 (b"\x30\xab\xcd\x31", "01"), (b"", "00")]
        for raw, want in cases:
            lst = bytes([len(raw)]) + raw
            exts = [(0x0010, len(lst).to_bytes(2, "big") + lst)]
            self.assertEqual(tlsfp.ja4((0x0303, [0x1301], exts))[8:10], want, raw)
        self.assertEqual(tlsfp.ja4((0x0303, [0x1301], [(0x0010, b"\x00\x00")]))[8:10], "00")

    def test_joy_string_round_trip(self):
        text = tlsfp.joy_fingerprint(self.HELLO)
        self.assertTrue(text.startswith("(0303)(0a0a1301c02b)((0a0a)(0000)"
                                        "(000a000800060a0a001d0017)"))
        again = tlsfp.parse_joy_fingerprint(text)
        self.assertEqual(tlsfp.ja3_string(again), tlsfp.ja3_string(self.HELLO))
        self.assertEqual(tlsfp.ja4(again), tlsfp.ja4(self.HELLO))
        self.assertIsNone(tlsfp.parse_joy_fingerprint("(0303)(c02)()"))
        self.assertIsNone(tlsfp.parse_joy_fingerprint("nonsense"))

    def test_missing_extension_data_gives_none(self):
        hello = (0x0303, [0x1301], [(0x000a, None)])
        self.assertIsNone(tlsfp.ja3(hello))
        self.assertIsNone(tlsfp.ja4((0x0303, [0x1301], [(0x002b, None)])))

    @unittest.skipUnless(os.path.isfile(os.path.join(SHARED_JA4, "expected.tsv")),
                         "../shared/ja4 (JA4 test vectors) not present")
    def test_against_ja4_specification_vectors(self):
        with open(os.path.join(SHARED_JA4, "expected.tsv")) as handle:
            rows = [r for r in csv.DictReader(handle, delimiter="\t") if r["transport"] == "tcp"]
        streams = {}
        checked = 0
        for row in rows:
            if row["file"] not in streams:
                streams[row["file"]] = pcapmini.tcp_streams(os.path.join(SHARED_JA4, row["file"]))
            for (src, dst, sport, dport), stream in streams[row["file"]].items():
                if (pcapmini.address_text(src), sport, pcapmini.address_text(dst), dport) == \
                        (row["src"], int(row["src_port"]), row["dst"], int(row["dst_port"])):
                    bodies = pcapmini.client_hello_bodies(stream)
                    self.assertTrue(bodies, row)
                    hello = tlsfp.parse_client_hello(bodies[0])
                    self.assertEqual(tlsfp.ja4(hello, "t"), row["ja4"], row)
                    checked += 1
        self.assertEqual(checked, len(rows))


if __name__ == "__main__":
    unittest.main()

"""sleuth on real joy output: captures written here, run through ../joy (skipped without it)."""

import gzip
import json
import os
import subprocess
import unittest

import pcapgen
from helpers import REPO, TempDir, run, run_json

# the joy next to the repository (as sleuth finds it), or $JOY as `make check` sets it
JOY = os.environ.get("JOY") or os.path.join(REPO, "joy")
WITH_JOY = ["--joy", JOY]


def joy_runs():
    if not (os.path.isfile(JOY) and os.access(JOY, os.X_OK)):
        return False
    try:
        return subprocess.run([JOY, "-V"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def long_udp_frames():
    """A UDP exchange of 12 s (a packet each way every second): joy splits it at its active
    timeout into records whose direction alternates."""
    frames = []
    for i in range(12):
        frames.append((1700000100.0 + i, pcapgen._ether(pcapgen._ipv4(
            "10.0.0.1", "10.0.0.9", 17, pcapgen._udp("10.0.0.1", "10.0.0.9", 5000, 6000,
                                                     b"x" * 100), i + 1))))
        frames.append((1700000100.5 + i, pcapgen._ether(pcapgen._ipv4(
            "10.0.0.9", "10.0.0.1", 17, pcapgen._udp("10.0.0.9", "10.0.0.1", 6000, 5000,
                                                     b"y" * 50), i + 100))))
    return frames


@unittest.skipUnless(joy_runs(), "no working joy binary at %s: real-joy tests skipped" % JOY)
class RealJoy(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = TempDir()
        cls.dir = cls.tmp.__enter__()
        cls.pcap = os.path.join(cls.dir, "sample.pcap")
        pcapgen.write_pcap(cls.pcap, pcapgen.sample_packets())
        cls.long = os.path.join(cls.dir, "long.pcap")
        pcapgen.write_pcap(cls.long, long_udp_frames())

    @classmethod
    def tearDownClass(cls):
        cls.tmp.__exit__(None, None, None)

    def test_capture_through_joy(self):
        rows = run_json(WITH_JOY + [self.pcap, "--select", "sa,da,pr,sp,dp,bytes_out,bytes_in"])
        self.assertIn({"sa": "10.0.0.1", "da": "10.0.0.2", "pr": 6, "sp": 40001, "dp": 80,
                       "bytes_out": len(pcapgen.REQUEST), "bytes_in": len(pcapgen.RESPONSE)},
                      rows)
        self.assertIn({"sa": "10.0.0.1", "da": "10.0.0.53", "pr": 17, "sp": 40000, "dp": 53,
                       "bytes_out": 30, "bytes_in": 46}, rows)
        self.assertEqual(len(rows), 2)

    @unittest.skipUnless(os.path.isfile(os.path.join(REPO, "joy")), "no joy in the repository")
    def test_joy_found_next_to_the_repository(self):
        self.assertEqual(run([self.pcap, "--count"])[1], "2\n")

    def test_where_select_and_count_on_capture(self):
        self.assertEqual(run(WITH_JOY + [self.pcap, "--where", "dp=80,da=10.0.0.0/24",
                                         "--count"])[1], "1\n")
        self.assertEqual(run(WITH_JOY + [self.pcap, "--where", "pr=17", "--select", "dp",
                                         "--csv"])[1],
                         "dp\n53\n")

    def test_dns_linking_on_joy_records(self):
        rows = run_json(WITH_JOY + [self.pcap, "--where", "dp=80", "--select", "dns,linked_dns"])
        status, out, err = run(WITH_JOY + [self.pcap, "--where", "dns=*", "--count"])
        if out == "0\n":
            self.skipTest("this joy does not write DNS records yet")
        self.assertEqual(rows[0]["linked_dns"]["name"], "example.test")
        self.assertEqual(rows[0]["linked_dns"]["server"], "10.0.0.53")

    def test_compressed_capture_and_stdin(self):
        with open(self.pcap, "rb") as handle:
            blob = handle.read()
        path = os.path.join(self.dir, "sample.pcap.gz")
        with open(path, "wb") as handle:
            handle.write(gzip.compress(blob))
        self.assertEqual(run(WITH_JOY + [path, "--count"])[1], "2\n")
        self.assertEqual(run(WITH_JOY + ["--count"], stdin=blob)[1], "2\n")

    def test_piped_joy_output_and_stats(self):
        result = subprocess.run([JOY, "-r", self.pcap, "-w", "-"], capture_output=True,
                                timeout=60, check=True)
        [stats] = run_json(["--stats"], stdin=result.stdout)
        self.assertEqual(stats["flows"], 2)
        self.assertEqual(stats["bytes"]["total"], 30 + 46 + len(pcapgen.REQUEST)
                         + len(pcapgen.RESPONSE))
        self.assertEqual({p["name"] for p in stats["protocols"]}, {"tcp", "udp"})

    def test_enrichment_options_run(self):
        for option in ("--tls_sec", "--fingerprint"):
            status, out, err = run(WITH_JOY + [self.pcap, option, "--count"])
            self.assertEqual((status, out), (0, "2\n"), err)

    def test_active_timeout_splits_are_stitched_back(self):
        result = subprocess.run([JOY, "-r", self.long, "-w", "-", "active_timeout=3"],
                                capture_output=True, timeout=60, check=True)
        pieces = [json.loads(line) for line in result.stdout.splitlines()[1:]]
        self.assertGreater(len(pieces), 1, "joy did not split the flow")
        self.assertEqual(len(run_json(["--no_stitch"], stdin=result.stdout)), len(pieces))
        [flow] = run_json([], stdin=result.stdout)
        client = [p for p in pieces if p["sa"] == "10.0.0.1"]
        self.assertEqual(flow["sa"], "10.0.0.1")
        self.assertEqual((flow["bytes_out"], flow["bytes_in"]), (12 * 100, 12 * 50))
        self.assertEqual((flow["num_pkts_out"], flow["num_pkts_in"]), (12, 12))
        self.assertEqual(flow["stitched"], len(pieces))
        self.assertEqual(flow["time_start"], min(p["time_start"] for p in pieces))
        self.assertEqual(flow["time_end"], max(p["time_end"] for p in pieces))
        self.assertEqual([p["b"] for p in flow["packets"]], [100, 50] * 12)
        self.assertEqual([p["dir"] for p in flow["packets"]], [">", "<"] * 12)
        self.assertTrue(client)


if __name__ == "__main__":
    unittest.main()

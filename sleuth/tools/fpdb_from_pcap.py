#!/usr/bin/env python3
"""Turn captures of known TLS clients into sleuth fingerprint database entries.

Usage: fpdb_from_pcap.py --manifest M.tsv --port PORT --output DB.json

The manifest (written by build_fpdb.sh) has one tab-separated line per
capture: name, client, client version, TLS library, pcap path, command.  For
each capture every ClientHello is extracted (sleuth_pkg.pcapmini), its Joy
string, JA3 and JA4 computed (sleuth_pkg.tlsfp), and the JA3 compared with
what tshark itself computes (``tls.handshake.ja3``/``ja3_full``, decoding the
port as TLS).  A mismatch, or a capture without a ClientHello, is an error.
Each distinct fingerprint of a client becomes one entry.
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from sleuth_pkg import pcapmini, tlsfp  # noqa: E402


def tshark_ja3(pcap, port):
    """{client port: (ja3, ja3_full)} according to tshark."""
    command = ["tshark", "-n", "-r", pcap, "-d", "tcp.port==%d,tls" % port,
               "-Y", "tls.handshake.type == 1", "-T", "fields",
               "-e", "tcp.srcport", "-e", "tls.handshake.ja3", "-e", "tls.handshake.ja3_full"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    result = {}
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[0]:
            result[int(parts[0])] = (parts[1], parts[2])
    return result


def hellos(pcap, port):
    """[(client port, Hello)] for the connections to ``port`` in a capture."""
    found = []
    for (src, dst, sport, dport), stream in sorted(pcapmini.tcp_streams(pcap).items()):
        if dport != port:
            continue
        for body in pcapmini.client_hello_bodies(stream):
            hello = tlsfp.parse_client_hello(body)
            if hello is not None:
                found.append((sport, hello))
    return found


def os_description():
    try:
        with open("/etc/os-release") as handle:
            info = dict(line.rstrip("\n").split("=", 1) for line in handle if "=" in line)
        name = info.get("PRETTY_NAME", "").strip('"')
    except OSError:
        name = platform.system()
    return "%s (%s)" % (name, platform.machine())


def tool_versions():
    out = subprocess.run(["tshark", "--version"], capture_output=True, text=True).stdout
    return {"tshark": out.splitlines()[0] if out else "unknown"}


def build(manifest, port):
    today = datetime.date.today().isoformat()
    entries = []
    seen = set()
    with open(manifest) as handle:
        rows = [line.rstrip("\n").split("\t") for line in handle if line.strip()]
    for name, client, version, library, pcap, command in rows:
        found = hellos(pcap, port)
        if not found:
            raise SystemExit("fpdb: no ClientHello in the capture of %s (%s)" % (name, pcap))
        reference = tshark_ja3(pcap, port)
        for index, (sport, hello) in enumerate(found):
            ja3_full = tlsfp.ja3_string(hello)
            ja3 = tlsfp.ja3(hello)
            theirs = reference.get(sport)
            if theirs is None or theirs != (ja3, ja3_full):
                raise SystemExit("fpdb: JA3 of %s differs from tshark's: %r vs %r"
                                 % (name, (ja3, ja3_full), theirs))
            joy = tlsfp.joy_fingerprint(hello)
            key = (client, tlsfp.canonical_fingerprint(hello))
            if key in seen:
                continue
            seen.add(key)
            ident = "%s-%s" % (name, version)
            if index:
                ident += "-%d" % (index + 1)
            entries.append({
                "id": ident,
                "client": client,
                "client_version": version,
                "tls_library": library,
                "platform": os_description(),
                "tls": joy,
                "ja3": ja3,
                "ja3_full": ja3_full,
                "ja4": tlsfp.ja4(hello, "t"),
                "source": {
                    "method": "ClientHello captured on loopback by sleuth/tools/build_fpdb.sh "
                              "(dumpcap -i lo) from this client connecting to openssl s_server "
                              "with a throw-away self-signed certificate; JA3 checked against "
                              "tshark's tls.handshake.ja3",
                    "date": today,
                    "command": command,
                    "tools": tool_versions(),
                },
            })
    return entries


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    entries = build(args.manifest, args.port)
    database = {
        "format": "sleuth-fingerprints",
        "format_version": 1,
        "description": "TLS client fingerprints of clients the project ran itself; see "
                       "sleuth_pkg/data/README.md for the format and "
                       "sleuth/tools/build_fpdb.sh for how it is built. JA4 values are computed "
                       "by sleuth_pkg/tlsfp.py (tshark 4.0 has no JA4), which the tests check "
                       "against the JA4 specification's own test vectors.",
        "entries": entries,
    }
    with open(args.output, "w") as handle:
        json.dump(database, handle, indent=1)
        handle.write("\n")
    print("%d entries" % len(entries))
    return 0


if __name__ == "__main__":
    sys.exit(main())

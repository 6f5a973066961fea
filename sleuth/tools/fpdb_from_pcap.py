#!/usr/bin/env python3
"""Turn captures of known TLS clients into sleuth fingerprint database entries.

Usage: fpdb_from_pcap.py --manifest M.tsv --port PORT [--http-manifest H.tsv
                         --http-port HPORT] --output DB.json

The manifest (written by build_fpdb.sh) has one tab-separated line per
capture: name, client, client version, TLS library, pcap path, command.  For
each capture every ClientHello is extracted (sleuth_pkg.pcapmini), its Joy
string, JA3 and JA4 computed (sleuth_pkg.tlsfp), and the JA3 compared with
what tshark itself computes (``tls.handshake.ja3``/``ja3_full``, decoding the
port as TLS).  A mismatch, or a capture without a ClientHello, is an error.
Each distinct fingerprint of a client becomes one entry; each distinct TCP
fingerprint of the clients' SYNs (Joy's ``fingerprints.tcp`` format: MSS and
window scale with their values, other options by kind) one more, named after
the kernel that sent it.

The HTTP manifest (name, client, version, pcap, command) lists captures of
plain-HTTP requests: each client's ``User-Agent`` becomes an entry for
``--fingerprint http``.
"""

import argparse
import datetime
import json
import os
import platform
import struct
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


def syn_fingerprints(pcap, port):
    """{client port: Joy TCP fingerprint of its SYN} for connections to ``port``."""
    found = {}
    for _, linktype, frame in pcapmini.read_packets(pcap):
        packet = pcapmini.ip_payload(linktype, frame)
        if not packet or packet[0] >> 4 != 4 or packet[9] != 6:
            continue
        segment = packet[(packet[0] & 0x0f) * 4:]
        if len(segment) < 20:
            continue
        sport, dport = struct.unpack(">HH", segment[:4])
        flags = segment[13]
        if dport != port or not flags & 0x02 or flags & 0x10 or sport in found:
            continue
        found[sport] = tcp_options_fingerprint(segment[20:(segment[12] >> 4) * 4])
    return found


def tcp_options_fingerprint(options):
    """Joy's format (doc/modules/tcpfp.md) of raw TCP option bytes."""
    out = []
    pos = 0
    while pos < len(options):
        kind = options[pos]
        if kind == 0:
            out.append("(00)")
            break
        if kind == 1:
            out.append("(01)")
            pos += 1
            continue
        if pos + 1 >= len(options) or options[pos + 1] < 2 or \
                pos + options[pos + 1] > len(options):
            out.append("(%02x)" % kind)
            break
        length = options[pos + 1]
        if kind in (2, 3):
            out.append("(%s)" % options[pos:pos + length].hex())
        else:
            out.append("(%02x)" % kind)
        pos += length
    return "".join(out)


def user_agents(pcap, port):
    """User-Agent values of the HTTP requests to ``port`` in a capture."""
    agents = []
    for (src, dst, sport, dport), stream in sorted(pcapmini.tcp_streams(pcap).items()):
        if dport != port:
            continue
        head = stream.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        for line in head.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "user-agent" and value.strip() not in agents:
                agents.append(value.strip())
    return agents


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
    tcp_seen = []
    with open(manifest) as handle:
        rows = [line.rstrip("\n").split("\t") for line in handle if line.strip()]
    for name, client, version, library, pcap, command in rows:
        found = hellos(pcap, port)
        if not found:
            raise SystemExit("fpdb: no ClientHello in the capture of %s (%s)" % (name, pcap))
        reference = tshark_ja3(pcap, port)
        syns = syn_fingerprints(pcap, port)
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
            entry = {
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
            }
            entries.append(entry)
        for value in syns.values():
            if value not in tcp_seen:
                tcp_seen.append(value)
    # the SYN comes from the kernel, not from the client: one entry per distinct SYN
    for index, value in enumerate(tcp_seen):
        entries.append({
            "id": "tcp-%s-%s%s" % (platform.system().lower(), platform.release(),
                                   "-%d" % (index + 1) if index else ""),
            "client": "%s kernel TCP stack" % platform.system(),
            "client_version": platform.release(),
            "platform": os_description(),
            "tcp": value,
            "source": {"method": "options of the clients' SYNs captured on loopback by "
                                 "sleuth/tools/build_fpdb.sh; the MSS value (65495 on "
                                 "loopback) is not compared when matching",
                       "date": today}})
    return entries


def build_http(manifest, port):
    today = datetime.date.today().isoformat()
    entries = []
    with open(manifest) as handle:
        rows = [line.rstrip("\n").split("\t") for line in handle if line.strip()]
    for name, client, version, pcap, command in rows:
        agents = user_agents(pcap, port)
        if not agents:
            raise SystemExit("fpdb: no User-Agent in the HTTP capture of %s (%s)" % (name, pcap))
        for index, agent in enumerate(agents):
            entries.append({
                "id": "http-%s-%s%s" % (name, version, "-%d" % (index + 1) if index else ""),
                "client": client, "client_version": version, "platform": os_description(),
                "user_agent": agent,
                "source": {"method": "User-Agent of a plain HTTP request captured on loopback by "
                                     "sleuth/tools/build_fpdb.sh (dumpcap -i lo) from this "
                                     "client fetching from python3 -m http.server",
                           "date": today, "command": command}})
    return entries


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--http-manifest")
    parser.add_argument("--http-port", type=int)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    entries = build(args.manifest, args.port)
    if args.http_manifest:
        entries += build_http(args.http_manifest, args.http_port)
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

#!/usr/bin/env python3
"""Cross-check joy's flow records against tshark on the real captures in ../shared/pcaps.

Run:   python3 test/tshark_check.py            (from anywhere; JOY=path overrides <repo>/joy)
       python3 test/tshark_check.py -v         (also print notes for whitelisted differences)
       python3 test/tshark_check.py FILE...    (only these captures, by name or path)
Last line: "N passed, N failed, N skipped" (one test per capture); exit 1 on any failure.
If ../shared/pcaps (relative to the repository root) is absent the test is skipped.

Two oracles, both made by tshark
--------------------------------
1. truth/<capture>.jsonl beside the captures: tshark 4.0.17's conversations, produced by
   an independent oracle script (bidirectional, initiator = sender of the first frame,
   per direction pkts / l4_bytes / ip_bytes and first/last timestamps, no flow timeout,
   IP fragments reassembled).  Always compared when present.
2. A live tshark run (when `tshark` is on PATH; otherwise this is said once and only the
   truth files are used): `tshark -n -r F -o ip.defragment:FALSE -o ipv6.defragment:FALSE
   -T fields ...` prints, for every frame, its time, the outer IP header (addresses,
   protocol, header / total / payload lengths, id, fragment fields, the IPv6 extension
   header chain) and the TCP/UDP/SCTP ports and lengths that follow it.  The test groups
   those frames into flows exactly as joy's contract says and compares every field,
   including the byte counts that tshark's conversations do not carry (ICMP, GRE, ESP,
   IGMP, 6in4, SCTP).  The live run is also compared against the truth files' totals, so
   a different tshark version shows up as a note rather than silently changing the oracle.

joy is run three times per capture, always with inactive_timeout=H active_timeout=H
(H = the largest value joy accepts, 3650 days) max_flows=<large> zeros=0 -w -:
   1. bidir=1 retrans=1   compared with the truth files and with the live tshark model;
   2. bidir=1 retrans=0   compared with the live model minus the retransmissions that
                          joy's rule finds in tshark's sequence numbers (see below);
   3. bidir=0 retrans=1   one record per direction: the two records of a conversation
                          must add up to the oracle's flow.
tshark's conversations have no timeout; with H that large joy writes one record per
5-tuple too, except where a flow lasts longer than H: malformed-tls-cert-der-and-bad-
record.pcap has a frame stamped 21 years before its neighbours, so joy's active timeout
legitimately cuts that flow in two.  Several records of one 5-tuple are therefore summed,
and are an error only when the flow is shorter than the active timeout, beyond those that
TCP port reuse ends (expire_type "c": a new connection on the same ports; tshark's
conversations keep one 5-tuple together).

Compared per flow: the set of flows (5-tuple, either orientation), packets per direction,
L4 payload bytes per direction, first and last time, and (live model) debug.tcp_retrans.
Flows are matched by their 5-tuple in either orientation; joy's client (sa) is the first
SYN's sender, else the first packet's sender, while the truth's initiator is the first
frame's sender, so each joy direction is mapped onto the oracle's by comparing addresses
and ports.  A flow whose two endpoints are identical (e.g. ICMP from 192.0.2.1 to
itself) has only one direction, and the sums are compared.  Exit status: 0, or 1 with a
warning naming the file for a damaged capture; every output line must parse as JSON and
the first one is the metadata object.

How the known differences between joy and tshark's conversations are reconciled
------------------------------------------------------------------------------
* Timestamps: tshark keeps nanoseconds, joy prints microseconds with exactly 6 decimals
  (it truncates); joy's value must equal tshark's truncated or rounded to the microsecond.
  joy's time_start / time_end are the earliest / latest packet time of the flow (joy
  copes with captures that are not in time order); tshark's conversations give the
  first / last frame in file order.  They differ only in a capture whose frames are out
  of time order (malformed-tls-cert-der-and-bad-record.pcap); the test compares joy
  with the earliest / latest of the oracle's frame times, and prints the difference as
  a note (-v).
* TCP retransmissions: tshark's conversations count every frame.  joy leaves out of its
  counts the segments whose data lies wholly at or below the highest sequence number
  already seen in that direction, unless retrans=1.  Run 1 uses retrans=1, so both count
  every segment and every payload byte: nothing is left to reconcile.  Run 2
  (retrans=0) checks joy's rule itself: the live model applies the rule, as the contract
  words it, to tshark's tcp.seq_raw / payload length / flags (SYN and FIN occupy one
  sequence number; a SYN resets the direction) and expects joy's counts without those
  segments and debug.tcp_retrans equal to their number.  tshark's own analysis flags
  (retransmission, fast / spurious retransmission, out-of-order, keep-alive) are a
  different heuristic; they are printed beside the rule's verdict as notes only.
* TCP payload length: joy takes it from the IP header (IP total length - IP header - TCP
  header), as its contract says; tshark's tcp.len is the same but clamped to the bytes
  present in the frame.  They differ only for frames whose wire length is shorter than
  their IP total length (tcp-reassembly-out-of-order.pcap: whitelisted for the truth's
  byte count; the live model uses the header lengths and checks the exact value).
* IP fragments: joy counts every later fragment in the flow of its first fragment (same
  source, destination, protocol and IP id, also when the later fragment comes first),
  packets +1 and bytes += the fragment's IP payload; the first fragment contributes its
  IP payload minus the L4 header.  tshark's reassembly puts every fragment frame in the
  reassembled datagram's flow and counts the L4 length of the reassembled datagram (UDP:
  its length field minus 8).  For complete, consistent datagrams both give the same
  packets and bytes (ipv6-fragmented-dns.pcap, ipv4-fragmented-icmp-echo.pcap).  The
  live model applies joy's rule to the individual fragments (tshark run with
  defragmentation off).  A later fragment whose first fragment never appears cannot be
  tied to ports: tshark's oracle gives it a flow of its own with sport/dport 0, and so
  must joy (joy writes 0/0 too; null would be accepted).  Two whitelisted cases, for the
  truth's byte count only: overlapping fragments (ipv4-fragments-udp.pcap: a UDP length
  field of 18 over 438 bytes of fragments) and lone first fragments of datagrams whose
  other fragments were not captured (malformed-badpackets-mix.pcap, INCOMPLETE_DATAGRAMS).
* ICMP / ICMPv6: one flow per address pair (ports null in joy, 0 in the truth); ICMP
  errors stay in the ICMP flow in both.  joy's bytes are the IP payload minus the 8-byte
  ICMP header; the truth's l4_bytes is 0 by convention and its ip_bytes includes IP
  headers whose length (IPv4 options, IPv6 extension headers) it does not record, so
  ICMP bytes are NOT compared with the truth files; they are compared with the live
  tshark model (IP total length - IP header length [- extension headers] - 8).
  Without tshark, ICMP bytes go unchecked (said in the output).
* Other IP protocols (GRE 47, ESP 50, IGMP 2, IPv6-in-IPv4 41, SCTP 132): like the truth,
  joy keys tunnels on the OUTER IP header and never looks inside (gre-tunnel-mixed.pcap is
  one GRE flow, tunnel-6in4-http.pcap one protocol-41 flow).  joy's bytes are the IP
  payload length (SCTP: IP payload minus the 12-byte common header); the truth's l4_bytes
  is 0 for them, so their bytes are compared with the live model only, as for ICMP.
* VLAN / QinQ / MPLS / PPPoE / SLL / PPP / raw IP / NULL framing: never part of the flow
  key in either; the live model starts at the first IP header tshark finds.
* Unsupported link types (802.11 radiotap): no flows expected, joy names the link type on
  stderr and skips the file (exit 0 or 1); tshark sees only ARP there, so both give 0.
* Damaged or truncated files: joy (its own pcap / pcapng reader) must exit 1 with a
  warning naming the file, and still write every flow seen before the damage.  joy and
  tshark stop at the same record (truncated-file-mid-packet.pcap: its one complete
  record, then a cut-short record header; malformed-tls-cert-der-and-bad-record.pcap: a
  record claiming 4 MB), so their flows agree.
* Non-IP frames (ARP, STP, ...) and frames whose IP header tshark rejects (bogus header
  length) make no flow in either.
Everything else must agree exactly.  Whitelist entries (WHITELIST below) name one capture,
one flow, one field and one oracle each, with the reason; nothing is skipped wholesale.
"""

import json
import os
import shutil
import subprocess
import sys
from decimal import Decimal
from ipaddress import ip_address

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PCAPS = os.path.join(os.path.dirname(ROOT), "shared", "pcaps")
TRUTH = os.path.join(PCAPS, "truth")
JOY = os.environ.get("JOY", os.path.join(ROOT, "joy"))
EXTS = (".pcap", ".pcapng", ".cap")
VERBOSE = False
ACTIVE_TIMEOUT_NS = 0  # set from the active_timeout joy is run with
USED_WHITELIST = set()

# ---------------------------------------------------------------------------------------
# Narrow whitelist: (capture, flow-key string as printed by this script or "*", field,
# oracle "truth"|"tshark"|"both") -> reason.  Field "flow" = the flow's presence.
# A whitelisted difference is printed as a note with -v, and is not a failure.
# ---------------------------------------------------------------------------------------
WHITELIST = {
    **{("pcapng-little-endian-dhcp.pcapng", k, fld, o):
       "the file's time stamps lie in the year 151991: joy keeps times as 64-bit nanoseconds "
       "since 1970, which end in the year 2554, and saturates there (18446744072.000000) "
       "instead of wrapping; tshark prints the absurd value"
       for k in ("udp 0.0.0.0:68 <-> 255.255.255.255:67", "udp 192.168.0.1:67 <-> 192.168.0.10:68")
       for fld in ("time_start", "time_end") for o in ("truth", "tshark")},
    ("ipv4-fragments-udp.pcap", "udp 164.1.123.61:137 <-> 164.1.123.163:123", "bytes_a2b", "truth"):
        "overlapping IPv4 fragments (two offset-0 fragments, 18 + 116 + 304 IP payload bytes): "
        "tshark reports the L4 length of its reassembled datagram (UDP length field 18 - 8 = 10); "
        "joy adds up the fragments' IP payloads as its contract says. The live tshark model "
        "(per fragment) still checks the exact value.",
    ("tcp-reassembly-out-of-order.pcap", "tcp 63.193.213.194:2564 <-> 128.3.97.175:80", "bytes_a2b",
     "truth"):
        "8 frames are shorter on the wire (pcap original length) than their IPv4 total length "
        "(e.g. IP 1500 in a 1506-byte Ethernet frame): tshark's tcp.len counts only the bytes "
        "present (1440), joy takes the length from the IP header (1448) as its contract says "
        "('lengths come from IP/UDP headers'); 64 bytes in all. The live model, which applies "
        "the contract to tshark's header fields, checks the exact value.",
}

# Captures holding first fragments of UDP datagrams whose other fragments were never
# captured.  tshark cannot reassemble them and counts the L4 length that the UDP header
# announces for the whole datagram; joy counts the bytes the captured IP packets carried
# (first fragment: IP payload - 8).  Applied, in these captures only, to the truth's byte
# count of a UDP direction whose l4_bytes exceeds what its IP packets can carry
# (ip_bytes - (IP header + 8) * pkts); the live tshark model checks the exact value.
INCOMPLETE_DATAGRAMS = {
    "malformed-badpackets-mix.pcap":
        "93 DNS responses captured as lone first fragments (MF=1, offset 0, IP total length "
        "1500, snaplen ~256) of 1.5-4 kB UDP datagrams; truth = UDP length field - 8, "
        "joy = 1480 - 8 = 1472 (or less) per first fragment.",
}

# Captures whose read by joy must end with exit status 1 (damaged file) -- in addition to
# any whose truth summary carries tshark warnings.
DAMAGED = {"truncated-file-mid-packet.pcap", "malformed-tls-cert-der-and-bad-record.pcap"}
# Captures with a link type joy does not decode: no flows, a line on stderr naming it.
# (802.11 radiotap, linktype-radiotap-arp.pcap, is decoded since issue 16: ARP only, no flows)
UNSUPPORTED_LINKTYPE = {"link_user0.pcap": "USER0 (LINKTYPE 147), made by test/gen_pcaps.py"}

PORT_PROTOS = (6, 17, 132)
PNAME = {1: "icmp", 2: "igmp", 6: "tcp", 17: "udp", 41: "ipv6-in-ip", 47: "gre", 50: "esp",
         58: "icmpv6", 132: "sctp"}


_NOTED = set()


def note(msg):
    if VERBOSE and msg not in _NOTED:
        _NOTED.add(msg)
        print("note: " + msg)


# ------------------------------------------------------------------------------ helpers
def norm_addr(a):
    return ip_address(a.strip()).compressed


def ns_of(ts):
    """'1418145369.924505488' (or Decimal / '...635237') -> integer nanoseconds."""
    d = Decimal(str(ts))
    return int(d * 1000000000)


def ts_ok(joy_ts, ns):
    """joy's 6-decimal time equals tshark's nanosecond time truncated or rounded."""
    if joy_ts is None or ns is None:
        return joy_ts is None and ns is None
    us = int(Decimal(str(joy_ts)) * 1000000)
    return us == ns // 1000 or us == (ns + 500) // 1000


def fmt_ns(ns):
    if ns is None:
        return "null"
    return "%d.%09d" % (ns // 1000000000, ns % 1000000000)


def flow_key(proto, a, ap, b, bp):
    """Canonical key, orientation independent."""
    e1, e2 = (a, ap if ap is not None else -1), (b, bp if bp is not None else -1)
    lo, hi = sorted([e1, e2], key=lambda e: (ip_address(e[0]).version, ip_address(e[0]).packed, e[1]))
    return (proto, lo, hi)


def key_str(k):
    if len(k) == 4:  # an inner flow: (proto, lo, hi, (outer a, outer b))
        return "%s in tunnel %s <-> %s%s" % (key_str(k[:3]), k[3][0], k[3][1],
                                              "".join(" vni " + v for v in k[3][2:]))
    proto, (a, ap), (b, bp) = k
    pn = PNAME.get(proto, "ip%d" % proto)

    def ep(addr, port):
        if port < 0:
            return addr
        return ("[%s]:%d" % (addr, port)) if ":" in addr else ("%s:%d" % (addr, port))
    return "%s %s <-> %s" % (pn, ep(a, ap), ep(b, bp))


class Flow:
    """One bidirectional flow in the oracle's orientation: a = initiator."""
    __slots__ = ("proto", "a", "ap", "b", "bp", "pkts", "bytes", "first", "last",
                 "tmin", "tmax", "bytes_known", "records", "closed", "extra", "retrans", "seq",
                 "hole")

    def __init__(self, proto, a, ap, b, bp):
        self.proto, self.a, self.ap, self.b, self.bp = proto, a, ap, b, bp
        self.pkts = [0, 0]
        self.bytes = [0, 0]
        self.first = None   # time of the first / last frame in file order
        self.last = None
        self.tmin = None    # earliest / latest frame time (joy's time_start / time_end)
        self.tmax = None
        self.retrans = 0    # TCP retransmissions by joy's rule (live model)
        self.seq = [None, None]  # per direction: highest sequence end seen (joy's rule)
        self.bytes_known = True
        self.records = 1
        self.closed = 0     # joy records ended by TCP port reuse (expire_type "c")
        self.extra = {}

    def key(self):
        return flow_key(self.proto, self.a, self.ap, self.b, self.bp)

    def dir_of(self, src, sport):
        """0 if a packet/record from (src, sport) is a->b, else 1."""
        if src == self.a and (self.ap == sport or self.ap is None):
            return 0
        return 1

    def see(self, ns):
        if self.first is None:
            self.first = ns
        self.last = ns
        self.tmin = ns if self.tmin is None else min(self.tmin, ns)
        self.tmax = ns if self.tmax is None else max(self.tmax, ns)

    def symmetric(self):
        return self.a == self.b and self.ap == self.bp


# -------------------------------------------------------------------------------- joy
def joy_help():
    try:
        p = subprocess.run([JOY, "-h"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=30)
        return p.stdout.decode("utf-8", "replace")
    except (OSError, subprocess.TimeoutExpired):
        return ""


def joy_options():
    """Option words that make joy's flows comparable to tshark's conversations."""
    h = joy_help()
    opts = ["bidir=1", "retrans=1", "zeros=0"]
    if "tunnels=" in h:
        opts.append("tunnels=0")  # the classic comparison keys tunnels on the outer header
    empty = os.path.join(PCAPS, "empty.pcap")
    probe_in = empty if os.path.exists(empty) else os.devnull
    for name in ("inactive_timeout", "active_timeout"):
        if h and name not in h:
            continue
        for val in ("2000000000", "1000000000", "315360000", "86400000"):
            p = subprocess.run([JOY, "%s=%s" % (name, val), "-w", "-", "-r", probe_in],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
            if p.returncode != 2:
                opts.append("%s=%s" % (name, val))
                break
        else:
            opts.append("%s=%s" % (name, "86400"))
    if "max_flows" in h:
        for val in ("10000000", "1000000", "100000"):
            p = subprocess.run([JOY, "max_flows=%s" % val, "-w", "-", "-r", probe_in],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
            if p.returncode != 2:
                opts.append("max_flows=%s" % val)
                break
    return opts


def run_joy(path, opts):
    """-> (rc, stderr text, list of flow dicts, list of problems)"""
    problems = []
    try:
        p = subprocess.run([JOY] + opts + ["-w", "-", "-r", path], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    except subprocess.TimeoutExpired:
        return None, "timeout", [], ["joy did not finish within 300 s"]
    except OSError as e:
        return None, str(e), [], ["cannot run joy: %s" % e]
    err = p.stderr.decode("utf-8", "replace")
    flows = []
    lines = p.stdout.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    elif lines:
        problems.append("output does not end with a newline")
    if not lines:
        problems.append("no output at all (not even the metadata line)")
    for i, raw in enumerate(lines):
        try:
            obj = json.loads(raw.decode("utf-8"), parse_float=Decimal)
        except (UnicodeDecodeError, ValueError) as e:
            problems.append("output line %d is not valid JSON (%s): %r" % (i + 1, e, raw[:120]))
            continue
        if not isinstance(obj, dict):
            problems.append("output line %d is not a JSON object" % (i + 1))
            continue
        if i == 0:
            if "version" not in obj:
                problems.append("first output line is not the metadata object (no \"version\")")
            continue
        if "version" in obj:
            problems.append("output line %d: a second metadata object" % (i + 1))
            continue
        flows.append(obj)
    if p.returncode < 0 or p.returncode > 2:
        problems.append("joy died: exit status %d; stderr: %s" % (p.returncode, err.strip()[-300:]))
    return p.returncode, err, flows, problems


def outer_pair(a, b):
    return tuple(sorted([norm_addr(a), norm_addr(b)],
                        key=lambda x: (ip_address(x).version, ip_address(x).packed)))


def joy_flows(records, problems, bidir=True, inner=False):
    """Joy records -> {key: Flow} (orientation: sa = a).  Records sharing a key are summed
    (with bidir=0 the two directions of a conversation are two records).  inner=True:
    only the records of inner flows (a "tunnel" member), keyed also on the outermost
    layer's address pair."""
    out = {}
    for r in records:
        if inner and "tunnel" not in r:
            continue
        try:
            proto = int(r["pr"])
            sa, da = norm_addr(r["sa"]), norm_addr(r["da"])
            sp, dp = r.get("sp"), r.get("dp")
            sp = int(sp) if sp is not None else None
            dp = int(dp) if dp is not None else None
            if proto in PORT_PROTOS and sp == 0 and dp == 0:
                # a later fragment whose first fragment was never seen: no ports known
                # (joy writes 0/0 like the truth files; null would do as well)
                sp = dp = None
            f = Flow(proto, sa, sp, da, dp)
            f.pkts = [int(r["num_pkts_out"]), int(r.get("num_pkts_in", 0))]
            f.bytes = [int(r["bytes_out"]), int(r.get("bytes_in", 0))]
            f.first = f.tmin = r["time_start"]
            f.last = f.tmax = r["time_end"]
            f.retrans = int((r.get("debug") or {}).get("tcp_retrans", 0))
            f.closed = 1 if r.get("expire_type") == "c" else 0
            for field in ("time_start", "time_end"):
                v = r[field]
                if not isinstance(v, Decimal) or v.as_tuple().exponent != -6:
                    problems.append("record %s: %s %s is not written with exactly 6 decimals"
                                    % (key_str(f.key()), field, v))
            for field in ("num_pkts_in", "bytes_in"):
                if bidir and field not in r:
                    problems.append("record %s has no %s (bidir=1)" % (key_str(f.key()), field))
                if not bidir and field in r:
                    problems.append("record %s has %s (bidir=0)" % (key_str(f.key()), field))
        except (KeyError, TypeError, ValueError) as e:
            problems.append("bad flow record (%s): %s" % (e, json.dumps(r, default=str)[:200]))
            continue
        k = f.key()
        if inner:
            vnis = [str(t["vni"]) for t in r["tunnel"] if "vni" in t]
            k = k + (outer_pair(r["tunnel"][0]["sa"], r["tunnel"][0]["da"]) + tuple(sorted(vnis)),)
        if k in out:
            g = out[k]
            g.records += 1
            g.closed += f.closed
            if not bidir and g.records == 2 and (sa, sp) != (g.a, g.ap):
                g.records = 1  # the other direction's record
            d = 0 if (sa == g.a and sp == g.ap) else 1
            if g.symmetric():
                d = 0
            g.pkts[d] += f.pkts[0]
            g.pkts[1 - d] += f.pkts[1]
            g.bytes[d] += f.bytes[0]
            g.bytes[1 - d] += f.bytes[1]
            g.first = g.tmin = min(g.tmin, f.tmin)
            g.last = g.tmax = max(g.tmax, f.tmax)
            g.retrans += f.retrans
        else:
            out[k] = f
    return out


# ------------------------------------------------------------------------------ truth
def truth_flows(name):
    """-> ({key: Flow}, summary dict) or (None, None) when no truth file."""
    path = os.path.join(TRUTH, name + ".jsonl")
    if not os.path.exists(path):
        return None, None
    flows, summary = {}, {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            d = json.loads(line)
            if d.get("type") == "summary":
                summary = d
            if d.get("type") != "flow":
                continue
            proto = int(d["proto"])
            ports = proto in PORT_PROTOS and not (d["sport"] == 0 and d["dport"] == 0)
            sp = int(d["sport"]) if ports else None
            dp = int(d["dport"]) if ports else None
            f = Flow(proto, norm_addr(d["src"]), sp, norm_addr(d["dst"]), dp)
            f.pkts = [d["a2b"]["pkts"], d["b2a"]["pkts"]]
            # l4_bytes is joy's bytes for TCP and UDP only (0 by convention otherwise).
            f.bytes_known = proto in (6, 17) and ports
            f.bytes = [d["a2b"]["l4_bytes"], d["b2a"]["l4_bytes"]]
            f.first = ns_of(d["first_ts"])
            f.last = ns_of(d["last_ts"])
            # earliest / latest time: the per-frame list holds the first 200 frames;
            # the per-direction first/last complete it
            times = [f.first, f.last] + [ns_of(d[x][y]) for x in ("a2b", "b2a")
                                         for y in ("first_ts", "last_ts") if d[x][y]]
            times += [ns_of(pk[1]) for pk in d.get("pkts", [])]
            f.tmin, f.tmax = min(times), max(times)
            f.extra["ip_bytes"] = [d["a2b"]["ip_bytes"], d["b2a"]["ip_bytes"]]
            hdr = 28 if ":" not in f.a else 48
            f.extra["incomplete"] = [proto == 17 and d[x]["pkts"] > 0 and
                                     d[x]["l4_bytes"] > d[x]["ip_bytes"] - hdr * d[x]["pkts"]
                                     for x in ("a2b", "b2a")]
            k = f.key()
            if k in flows:  # the oracle never splits a 5-tuple; be safe anyway
                g = flows[k]
                for i in (0, 1):
                    g.pkts[i] += f.pkts[i]
                    g.bytes[i] += f.bytes[i]
                g.last = f.last
                g.tmin, g.tmax = min(g.tmin, f.tmin), max(g.tmax, f.tmax)
            else:
                flows[k] = f
    return flows, summary


# ------------------------------------------------------------------------- live tshark
TS_FIELDS = [
    "frame.number", "frame.time_epoch", "frame.protocols",
    "ip.src", "ip.dst", "ip.proto", "ip.hdr_len", "ip.len", "ip.id", "ip.flags.mf",
    "ip.frag_offset",
    "ipv6.src", "ipv6.dst", "ipv6.plen", "ipv6.nxt",
    "ipv6.hopopts.len_oct", "ipv6.hopopts.nxt", "ipv6.routing.len_oct", "ipv6.routing.nxt",
    "ipv6.dstopts.len_oct", "ipv6.dstopts.nxt",
    "ipv6.fraghdr.nxt", "ipv6.fraghdr.offset", "ipv6.fraghdr.more", "ipv6.fraghdr.ident",
    "ah.length", "ah.next_header",
    "tcp.srcport", "tcp.dstport", "tcp.len", "tcp.hdr_len", "tcp.seq_raw", "tcp.flags",
    "udp.srcport", "udp.dstport", "udp.length",
    "sctp.srcport", "sctp.dstport",
    "tcp.analysis.retransmission", "tcp.analysis.fast_retransmission",
    "tcp.analysis.spurious_retransmission", "tcp.analysis.out_of_order",
    "tcp.analysis.keep_alive",
    "vxlan.vni", "geneve.vni",
]
TS_RETRANS_FLAGS = TS_FIELDS[-7:-2]
V6EXT = {"ipv6.hopopts": "ipv6.hopopts", "ipv6.routing": "ipv6.routing",
         "ipv6.dstopts": "ipv6.dstopts", "ipv6.fraghdr": "ipv6.fraghdr", "ah": "ah"}


def tshark_frames(path):
    """Run tshark (no reassembly) -> (list of per-frame dicts, error text or None)."""
    cmd = ["tshark", "-n", "-r", path, "-o", "ip.defragment:FALSE",
           "-o", "ipv6.defragment:FALSE", "-T", "fields", "-E", "separator=/t",
           "-E", "occurrence=a", "-E", "aggregator=|"]
    for f in TS_FIELDS:
        cmd += ["-e", f]
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600)
    except subprocess.TimeoutExpired:
        return None, "tshark timed out"
    err = p.stderr.decode("utf-8", "replace")
    if p.returncode != 0 and not p.stdout:
        if "aren't valid" in err or "not valid" in err:
            return None, "tshark does not know a field: " + err.strip()[:300]
    frames = []
    for line in p.stdout.decode("utf-8", "replace").split("\n"):
        if not line:
            continue
        cols = line.split("\t")
        cols += [""] * (len(TS_FIELDS) - len(cols))
        frames.append({f: (c.split("|") if c != "" else []) for f, c in zip(TS_FIELDS, cols)})
    return frames, None


def _int(v, default=None):
    try:
        return int(v, 0) if isinstance(v, str) else int(v)
    except (TypeError, ValueError):
        return default


def _flag(v):
    return v in ("1", "True", "true")


TUNNEL_LAYERS = {"gre", "vxlan", "geneve", "gtp", "teredo", "mpls", "erspan", "ppp", "eth",
                 "ip", "ipv6", "pptp", "ethertype", "udp", "llc", "vlan"}


def decode_frame(fr, inner=False):
    """Per-frame facts about the outer IP packet, or None for a non-IP frame.
    inner=True: about the innermost IP packet of a tunnelled frame (None when the frame
    carries no tunnel); pk["outer"] is the outermost IP header's address pair."""
    protos = fr["frame.protocols"][0].split(":") if fr["frame.protocols"] else []
    idx = next((i for i, p in enumerate(protos) if p in ("ip", "ipv6")), None)
    if idx is None:
        return None
    outer = None
    if inner:
        ips = [i for i, p in enumerate(protos) if p in ("ip", "ipv6")]
        # the inner-th IP header reached through tunnel layers only (an ICMP error
        # quoting a packet is no tunnel)
        reach = [ips[0]]
        for i in ips[1:]:
            if all(p in TUNNEL_LAYERS or p.startswith("ipv6.") for p in protos[reach[-1] + 1:i]):
                reach.append(i)
            else:
                break
        if inner >= len(reach):
            return None
        o = protos[ips[0]]
        idx = reach[inner]
        vnis = fr["vxlan.vni"][:protos[:idx].count("vxlan")] + \
            fr["geneve.vni"][:protos[:idx].count("geneve")]
        vnis = [str(_int(v)) for v in vnis]
        outer = outer_pair(fr[o + ".src"][0], fr[o + ".dst"][0]) + tuple(sorted(vnis))
    layer = protos[idx]
    before = protos[:idx]
    occ = {}

    def nth(field, layername):
        """value of field for the k-th occurrence of layername, k = its count in `before`."""
        k = occ.get(layername, 0)
        vals = fr[field]
        return vals[k] if k < len(vals) else None

    for p in before:  # layers before the outer IP are counted for occurrence indexing
        occ[p] = occ.get(p, 0) + 1
    pk = {"ts": ns_of(fr["frame.time_epoch"][0]), "no": _int(fr["frame.number"][0]),
          "ts_flagged": [x.split(".")[-1] for x in TS_RETRANS_FLAGS if fr[x]], "outer": outer}
    if layer == "ip":
        src, dst = nth("ip.src", "ip"), nth("ip.dst", "ip")
        if not src or not dst:
            return None
        hl, tl = _int(nth("ip.hdr_len", "ip")), _int(nth("ip.len", "ip"))
        proto = _int(nth("ip.proto", "ip"))
        if hl is None or tl is None or tl < hl or proto is None:
            return None
        pk.update(ver=4, src=norm_addr(src), dst=norm_addr(dst), proto=proto,
                  payload=tl - hl, ipid=nth("ip.id", "ip"))
        mf = _flag(nth("ip.flags.mf", "ip"))
        off = _int(nth("ip.frag_offset", "ip"), 0)
        pk["frag"] = "later" if off > 0 else ("first" if mf else None)
        occ["ip"] = occ.get("ip", 0) + 1
        nxt_i = idx + 1
    else:
        src, dst = nth("ipv6.src", "ipv6"), nth("ipv6.dst", "ipv6")
        if not src or not dst:
            return None
        plen = _int(nth("ipv6.plen", "ipv6"))
        nh = _int(nth("ipv6.nxt", "ipv6"))
        if plen is None or nh is None:
            return None
        occ["ipv6"] = occ.get("ipv6", 0) + 1
        ext = 0
        frag = None
        ipid = None
        i = idx + 1
        while i < len(protos) and protos[i] in V6EXT:
            name = protos[i]
            if name == "ah":
                ln = _int(nth("ah.length", "ah"))
                nh = _int(nth("ah.next_header", "ah"))
                ext += (ln + 2) * 4 if ln is not None else 0
            elif name == "ipv6.fraghdr":
                ext += 8
                nh = _int(nth("ipv6.fraghdr.nxt", name))
                off = _int(nth("ipv6.fraghdr.offset", name), 0)
                more = _flag(nth("ipv6.fraghdr.more", name))
                if off > 0:
                    frag = "later"
                elif more and frag is None:
                    frag = "first"
                ipid = nth("ipv6.fraghdr.ident", name)
            else:
                ln = _int(nth(name + ".len_oct", name))
                nh = _int(nth(name + ".nxt", name))
                ext += ln if ln is not None else 0
            occ[name] = occ.get(name, 0) + 1
            i += 1
        if nh is None:
            return None
        pk.update(ver=6, src=norm_addr(src), dst=norm_addr(dst), proto=nh,
                  payload=plen - ext, ipid=ipid, frag=frag)
        nxt_i = i
    # the layer right after the outer IP header (and its extension headers)
    l4 = protos[nxt_i] if nxt_i < len(protos) else None
    pk["sp"] = pk["dp"] = None
    pk["l4len"] = None
    pk["seq"] = None
    pk["tflags"] = 0
    proto = pk["proto"]
    if pk["frag"] != "later":
        if proto == 6 and l4 == "tcp":
            pk["sp"], pk["dp"] = _int(nth("tcp.srcport", "tcp")), _int(nth("tcp.dstport", "tcp"))
            # joy: IP payload (from the IP header) - TCP header; tshark's tcp.len is the
            # same except that it is clamped to the bytes present on the wire
            th = _int(nth("tcp.hdr_len", "tcp"))
            pk["l4len"] = pk["payload"] - th if th is not None else _int(nth("tcp.len", "tcp"))
            pk["seq"] = _int(nth("tcp.seq_raw", "tcp"))
            pk["tflags"] = _int(nth("tcp.flags", "tcp"), 0)
        elif proto == 17 and l4 == "udp":
            pk["sp"], pk["dp"] = _int(nth("udp.srcport", "udp")), _int(nth("udp.dstport", "udp"))
            ul = _int(nth("udp.length", "udp"))
            if pk["frag"] == "first":
                pk["l4len"] = pk["payload"] - 8
            else:
                pk["l4len"] = ul - 8 if ul is not None else None
        elif proto == 132 and l4 == "sctp":
            pk["sp"], pk["dp"] = _int(nth("sctp.srcport", "sctp")), _int(nth("sctp.dstport", "sctp"))
            pk["l4len"] = pk["payload"] - 12
        elif proto in (1, 58):
            pk["l4len"] = pk["payload"] - 8
        elif proto not in PORT_PROTOS:
            pk["l4len"] = pk["payload"]
    else:
        pk["l4len"] = pk["payload"]
    return pk


def _lt(a, b):
    return 0 < ((b - a) & 0xffffffff) < 0x80000000


def _le(a, b):
    return a == b or _lt(a, b)


def joy_retransmission(f, d, pk):
    """joy's contract on tshark's fields: a TCP segment with payload is a
    retransmission when its DATA lies wholly at or below the highest sequence number
    already seen in that direction (seq + len <= highest, modulo 2^32) and not inside
    the latest gap (a hole below the highest, left by a segment that arrived ahead of
    its turn: data filling it is reordered, not resent).  The highest sequence number is
    the end of the sequence space already used: SYN and FIN count 1, as in TCP; a SYN
    (re)sets it.  A segment that re-sends old data and adds a FIN is therefore a
    retransmission, as it is for tshark."""
    if pk["seq"] is None:
        return False
    if getattr(f, "hole", None) is None:
        f.hole = {}
    ln = pk["l4len"] or 0
    seq = pk["seq"]
    data_end = (seq + ln) & 0xffffffff
    end = (data_end + (1 if pk["tflags"] & 0x001 else 0)) & 0xffffffff
    if pk["tflags"] & 0x002:
        f.seq[d] = (seq + 1 + ln) & 0xffffffff
        f.hole[d] = (f.seq[d], f.seq[d])
        return False
    hi = f.seq[d]
    if hi is None:
        f.seq[d] = end
        f.hole[d] = (end, end)
        return False
    if ln == 0:
        if _lt(hi, end) and _le(seq, hi):
            f.seq[d] = end
        return False
    if _lt(hi, data_end):
        if _lt(hi, seq):
            f.hole[d] = (hi, seq)
        f.seq[d] = end
        return False
    lo, up = f.hole.get(d, (hi, hi))
    if lo != up and _lt(seq, up) and _lt(lo, data_end):
        if _le(seq, lo):
            f.hole[d] = (data_end if _lt(data_end, up) else up, up)
        else:
            f.hole[d] = (lo, seq)
        return False
    return True


FRAG_MAX_AGE_NS = 60 * 1000000000  # how far apart a datagram's fragments may be


def model_flows(frames, retrans=True, inner=False):
    """Group tshark's frames into flows by joy's rules -> {key: Flow} (a = first sender).
    retrans=False leaves out of the counts the TCP segments that joy's retransmission
    rule drops (they still set the flow's times, as in joy).  inner=True: the innermost
    packets of tunnelled frames, keyed also on the outermost address pair."""
    if inner:  # every level of every tunnelled frame
        pkts = []
        for fr in frames:
            for depth in range(1, 5):
                pk = decode_frame(fr, depth)
                if pk is None:
                    break
                pkts.append(pk)
    else:
        pkts = [pk for pk in (decode_frame(fr) for fr in frames) if pk is not None]
    # first fragments by (src, dst, IP id): a later fragment joins the flow of the first
    # fragment of its datagram, whether it came before or after it (nearest in time)
    firsts = {}
    for pk in pkts:
        if pk["frag"] == "first":
            firsts.setdefault((pk["src"], pk["dst"], pk["ipid"], pk["proto"]), []).append(pk)
    flows = {}
    for pk in pkts:
        proto = pk["proto"]
        if pk["frag"] == "later":
            cands = [c for c in firsts.get((pk["src"], pk["dst"], pk["ipid"], proto), [])
                     if abs(c["ts"] - pk["ts"]) < FRAG_MAX_AGE_NS]
            if cands:
                c = min(cands, key=lambda c: abs(c["ts"] - pk["ts"]))
                fkey = (proto, c["src"], c["sp"], c["dst"], c["dp"])
            else:  # orphan fragment: a flow of its own, no ports
                fkey = (proto, pk["src"], None, pk["dst"], None)
        elif proto in PORT_PROTOS and pk["sp"] is not None:
            fkey = (proto, pk["src"], pk["sp"], pk["dst"], pk["dp"])
        else:
            fkey = (proto, pk["src"], None, pk["dst"], None)
        k = flow_key(*fkey)
        if inner:
            k = k + (pk["outer"],)
        f = flows.get(k)
        if f is None:
            f = flows[k] = Flow(*fkey)
        f.see(pk["ts"])
        d = 0 if f.symmetric() else f.dir_of(pk["src"], fkey[2])
        if pk["ts_flagged"]:
            f.extra.setdefault("ts_flagged", []).append((pk["no"], "+".join(pk["ts_flagged"])))
        if proto == 6 and pk["frag"] is None and joy_retransmission(f, d, pk):
            f.retrans += 1
            f.extra.setdefault("retrans_frames", []).append(pk["no"])
            if not retrans:
                continue
        f.pkts[d] += 1
        if pk["l4len"] is None:
            f.bytes_known = False
        else:
            f.bytes[d] += pk["l4len"]
    return flows


# --------------------------------------------------------------------------- compare
def compare(cap, joyf, oracle, oname, failures, *, check_retrans=False):
    """Compare joy's flows with one oracle's; append unwhitelisted mismatches."""

    base = oname.split()[0]  # "truth" or "tshark", whatever joy run

    def report(k, field, jv, tv, t=None):
        ks = key_str(k) if k is not None else "-"
        if (base == "truth" and t is not None and field.startswith("bytes_")
                and cap in INCOMPLETE_DATAGRAMS
                and t.extra.get("incomplete", [False, False])[0 if field == "bytes_a2b" else 1]):
            note("%s %s %s: joy=%s tshark=%s [%s] incomplete datagram: %s"
                 % (cap, ks, field, jv, tv, oname, INCOMPLETE_DATAGRAMS[cap]))
            return
        for wk in ((cap, ks, field, base), (cap, ks, field, "both"),
                   (cap, "*", field, base), (cap, "*", field, "both")):
            if wk in WHITELIST:
                USED_WHITELIST.add(wk)
                note("%s %s %s: joy=%s tshark=%s [%s] whitelisted: %s"
                     % (cap, ks, field, jv, tv, oname, WHITELIST[wk]))
                return
        failures.append("%s | %s | %s | joy=%s tshark=%s [%s]" % (cap, ks, field, jv, tv, oname))

    for k, t in sorted(oracle.items(), key=lambda kv: (kv[1].first or 0, key_str(kv[0]))):
        j = joyf.get(k)
        if j is None:
            report(k, "flow", "missing", "present(%d+%d pkts)" % tuple(t.pkts))
            continue
        if j.records > 1 + j.closed and (t.tmax - t.tmin) < ACTIVE_TIMEOUT_NS:
            report(k, "records", j.records, 1)
        # map joy's directions onto the oracle's
        if t.symmetric():
            jp, jb = [sum(j.pkts), 0], [sum(j.bytes), 0]
            tp, tb = [sum(t.pkts), 0], [sum(t.bytes), 0]
        else:
            if (j.a, j.ap) == (t.a, t.ap):
                jp, jb = j.pkts, j.bytes
            else:
                jp, jb = j.pkts[::-1], j.bytes[::-1]
            tp, tb = t.pkts, t.bytes
        for i, dn in ((0, "a2b"), (1, "b2a")):
            if jp[i] != tp[i]:
                report(k, "pkts_" + dn, jp[i], tp[i])
        if t.bytes_known:
            for i, dn in ((0, "a2b"), (1, "b2a")):
                if jb[i] != tb[i]:
                    report(k, "bytes_" + dn, jb[i], tb[i], t)
        # joy: earliest and latest packet time; tshark's conversations: first and last
        # frame.  They differ only when a capture is not in time order.
        if not ts_ok(j.tmin, t.tmin):
            report(k, "time_start", j.tmin, fmt_ns(t.tmin))
        if not ts_ok(j.tmax, t.tmax):
            report(k, "time_end", j.tmax, fmt_ns(t.tmax))
        if (t.tmin, t.tmax) != (t.first, t.last):
            note("%s %s: frames out of time order: tshark's first/last frame %s/%s, "
                 "earliest/latest %s/%s; joy's time_start/time_end are compared with the "
                 "earliest/latest" % (cap, key_str(k), fmt_ns(t.first), fmt_ns(t.last),
                                      fmt_ns(t.tmin), fmt_ns(t.tmax)))
        if check_retrans and j.retrans != t.retrans:
            report(k, "debug.tcp_retrans", j.retrans, t.retrans)
    for k, j in sorted(joyf.items(), key=lambda kv: key_str(kv[0])):
        if k not in oracle:
            report(k, "flow", "present(%d+%d pkts)" % tuple(j.pkts), "absent")
    if len(joyf) != len(oracle):
        report(None, "num_flows", len(joyf), len(oracle))


def retrans_notes(cap, live):
    """tshark's own TCP analysis against joy's rule (information only: tshark also flags
    keep-alives and out-of-order segments, and joy's rule is deliberately simpler)."""
    for k, f in live.items():
        mine = f.extra.get("retrans_frames", [])
        theirs = f.extra.get("ts_flagged", [])
        if mine or theirs:
            note("%s %s: the contract's rule drops frames %s; tshark's analysis flags %s"
                 % (cap, key_str(k), mine, ["%d:%s" % x for x in theirs]))


def oracle_vs_oracle(cap, live, truth):
    """The live tshark model against the stored truth: notes only (version drift)."""
    for k, t in truth.items():
        m = live.get(k)
        if m is None:
            note("%s %s: in truth, not in the live tshark model" % (cap, key_str(k)))
            continue
        mp = m.pkts if (m.a, m.ap) == (t.a, t.ap) or t.symmetric() else m.pkts[::-1]
        if list(mp) != list(t.pkts):
            note("%s %s: live tshark pkts %s, truth %s" % (cap, key_str(k), mp, t.pkts))
    for k in live:
        if k not in truth:
            note("%s %s: in the live tshark model, not in truth" % (cap, key_str(k)))


# ------------------------------------------------------------------------------ main
def main(argv):
    global VERBOSE
    args = [a for a in argv if a not in ("-v", "--verbose")]
    VERBOSE = len(args) != len(argv)
    if not os.path.isdir(PCAPS):
        print("tshark_check: %s is absent; the cross-check against tshark is skipped" % PCAPS)
        print("0 passed, 0 failed, 1 skipped")
        return 0
    if not (os.path.isfile(JOY) and os.access(JOY, os.X_OK)):
        print("tshark_check: joy binary %s not found or not executable (build it, or set JOY=)" % JOY)
        print("0 passed, 1 failed, 0 skipped")
        return 1
    caps = sorted(f for f in os.listdir(PCAPS) if f.endswith(EXTS))
    extra = {}
    if args:
        want = {os.path.basename(a) for a in args}
        caps = [c for c in caps if c in want]
        # captures given by a path outside ../shared/pcaps (generated by a test):
        # no truth file, the live tshark oracle only
        for a in args:
            if os.path.isfile(a) and os.path.basename(a) not in caps:
                extra[os.path.basename(a)] = os.path.abspath(a)
                caps.append(os.path.basename(a))
    have_tshark = shutil.which("tshark") is not None
    if have_tshark:
        v = subprocess.run(["tshark", "-v"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        print("tshark_check: live oracle: " + v.stdout.decode("utf-8", "replace").split("\n")[0])
    else:
        print("tshark_check: tshark is not on PATH: comparing with the stored tshark 4.0.17 "
              "truth files only (ICMP/GRE/ESP/IGMP/SCTP byte counts go unchecked)")
    global ACTIVE_TIMEOUT_NS
    opts = joy_options()
    print("tshark_check: joy %s" % " ".join(opts))
    for o in opts:
        if o.startswith("active_timeout="):
            ACTIVE_TIMEOUT_NS = int(o.split("=")[1]) * 1000000000
    npass = nfail = nskip = 0
    for cap in caps:
        path = extra.get(cap) or os.path.join(PCAPS, cap)
        failures = []
        truth, summary = truth_flows(cap) if cap not in extra else (None, None)
        live = None
        if have_tshark:
            frames, err = tshark_frames(path)
            if frames is None:
                print("tshark_check: %s: live tshark unusable (%s); truth only" % (cap, err))
            else:
                live = model_flows(frames)
        if truth is None and live is None:
            print("SKIP %s: no truth file and no tshark" % cap)
            nskip += 1
            continue
        rc, err, records, problems = run_joy(path, opts)
        for pr in problems:
            failures.append("%s | - | output | %s" % (cap, pr))
        jf = joy_flows(records, failures)
        # exit status
        damaged = cap in DAMAGED or bool(summary and summary.get("warnings"))
        if cap in UNSUPPORTED_LINKTYPE:
            if rc not in (0, 1):
                failures.append("%s | - | exit | joy=%s expected 0 or 1 (unsupported link type %s)"
                                % (cap, rc, UNSUPPORTED_LINKTYPE[cap]))
            if not err.strip():
                failures.append("%s | - | stderr | joy printed nothing; expected a line naming "
                                "the link type %s" % (cap, UNSUPPORTED_LINKTYPE[cap]))
        elif damaged:
            if rc != 1:
                failures.append("%s | - | exit | joy=%s expected 1 (damaged file)" % (cap, rc))
            if cap not in err:
                failures.append("%s | - | stderr | no warning naming the file: %r"
                                % (cap, err.strip()[:200]))
        elif rc != 0:
            failures.append("%s | - | exit | joy=%s expected 0; stderr: %s"
                            % (cap, rc, err.strip()[:200]))
        if truth is not None:
            compare(cap, jf, truth, "truth", failures)
        if live is not None:
            compare(cap, jf, live, "tshark", failures, check_retrans=True)
            if truth is not None:
                oracle_vs_oracle(cap, live, truth)
            # retrans=0: joy leaves out TCP segments whose data lies wholly at or below
            # the highest sequence number already seen in their direction; the model
            # applies that rule to tshark's sequence numbers and lengths.
            if any(k[0] == 6 for k in live):
                rc0, err0, rec0, prob0 = run_joy(path, [o for o in opts if o != "retrans=1"]
                                                 + ["retrans=0"])
                for pr in prob0:
                    failures.append("%s | - | output(retrans=0) | %s" % (cap, pr))
                compare(cap, joy_flows(rec0, failures), model_flows(frames, retrans=False),
                        "tshark retrans=0", failures, check_retrans=True)
                retrans_notes(cap, live)
        # tunnels (joy's default tunnels=4): every inner flow of a tunnelled frame, keyed on
        # the innermost IP header and the outermost address pair, against tshark's
        # dissection of the same frames (its innermost ip/ipv6 layer)
        if live is not None and "tunnels=0" in opts:
            inner = model_flows(frames, inner=True)
            rct, errt, rect, probt = run_joy(path, [o for o in opts if o != "tunnels=0"])
            for pr in probt:
                failures.append("%s | - | output(tunnels) | %s" % (cap, pr))
            jt = joy_flows(rect, failures, inner=True)
            if inner or jt:
                compare(cap, jt, inner, "tshark tunnels", failures, check_retrans=True)
                if VERBOSE:
                    print("     %s: %d inner flows compared (tunnels=4)" % (cap, len(inner)))
        # bidir=0: one record per direction; they must add up to the same conversations
        ref, rname = (live, "tshark bidir=0") if live is not None else (truth, "truth bidir=0")
        if ref is not None:
            rcu, erru, recu, probu = run_joy(path, [o for o in opts if o != "bidir=1"]
                                             + ["bidir=0"])
            for pr in probu:
                failures.append("%s | - | output(bidir=0) | %s" % (cap, pr))
            compare(cap, joy_flows(recu, failures, bidir=False), ref, rname, failures)
        if failures:
            nfail += 1
            for f in failures:
                print("FAIL " + f)
        else:
            npass += 1
            if VERBOSE:
                print("ok   %s (%d flows)" % (cap, len(jf)))
    if not args and not VERBOSE:
        print("tshark_check: run with -v to see the reconciled differences")
    for wk in sorted(set(WHITELIST) - USED_WHITELIST):
        if wk[0] in caps:
            print("tshark_check: warning: whitelist entry no longer needed: %s" % (wk,))
    print("%d passed, %d failed, %d skipped" % (npass, nfail, nskip))
    return 1 if nfail else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

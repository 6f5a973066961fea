#!/usr/bin/env python3
"""Deterministic generator of the small captures used by joy's golden tests.

Usage:  python3 test/gen_pcaps.py [OUTDIR] [--only NAME ...]

OUTDIR defaults to test/data/ (next to this script).  Only the Python
standard library is used; every timestamp, address, identifier and payload
is fixed, so two runs write byte-identical files (run_golden.py checks this
against the committed test/data/sample.pcap).

The expected values in test/golden/*.json were derived by hand from the
packet descriptions below: when changing a capture, update its spec.

All times are kept as integer nanoseconds since the epoch (no floating
point); T0 = 1500000000 s (2017-07-14 02:40:00 UTC).

Also provides community_id() (Community ID v1, seed 0), checked against
the published baseline of github.com/corelight/community-id-spec by
community_id_selftest().
"""

import base64
import hashlib
import os
import socket
import struct
import sys

T0 = 1500000000  # seconds


def ts(sec=0, ms=0, us=0, ns=0):
    """Absolute time in integer nanoseconds: T0 + sec s + ms ms + us us + ns ns."""
    return (T0 + sec) * 1000000000 + ms * 1000000 + us * 1000 + ns


# --------------------------------------------------------------------------
# Community ID v1
# --------------------------------------------------------------------------

ICMP4_PAIRS = {8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 10: 9, 9: 10,
               17: 18, 18: 17}
ICMP6_PAIRS = {128: 129, 129: 128, 133: 134, 134: 133, 135: 136, 136: 135,
               130: 131, 131: 130, 139: 140, 140: 139, 144: 145, 145: 144}
PORT_PROTOS = (6, 17, 132)


def addr_bytes(a):
    if ':' in a:
        return socket.inet_pton(socket.AF_INET6, a)
    return socket.inet_pton(socket.AF_INET, a)


def community_id(saddr, daddr, proto, sport=None, dport=None, seed=0):
    """Community ID v1.  For ICMP/ICMPv6 pass the type as sport and the
    code as dport (the spec's port-equivalent mapping is applied here)."""
    s, d = addr_bytes(saddr), addr_bytes(daddr)
    one_way = False
    has_ports = proto in PORT_PROTOS or proto in (1, 58)
    if proto in (1, 58) and sport is not None:
        pairs = ICMP4_PAIRS if proto == 1 else ICMP6_PAIRS
        if sport in pairs:
            dport = pairs[sport]
        else:
            one_way = True
    if has_ports:
        sport = sport or 0
        dport = dport or 0
        ordered = s < d or (s == d and sport < dport)
    else:
        ordered = s < d
    if not (one_way or ordered):
        s, d = d, s
        sport, dport = dport, sport
    data = struct.pack('!H', seed) + s + d + struct.pack('!BB', proto, 0)
    if has_ports:
        data += struct.pack('!HH', sport, dport)
    return '1:' + base64.b64encode(hashlib.sha1(data).digest()).decode()


# From baseline/baseline_deflt.json of corelight/community-id-spec (seed 0).
CID_BASELINE = [
    (58, 'fe80::200:86ff:fe05:80da', 'fe80::260:97ff:fe07:69ea', 135, 136,
     '1:dGHyGvjMfljg6Bppwm3bg0LO8TY='),
    (58, 'fe80::260:97ff:fe07:69ea', 'fe80::200:86ff:fe05:80da', 136, 135,
     '1:dGHyGvjMfljg6Bppwm3bg0LO8TY='),
    (58, '3ffe:501:1800:2345::2', '3ffe:507:0:1:200:86ff:fe05:80da', 3, 0,
     '1:2ObVBgIn28oZvibYZhZMBgh7WdQ='),
    (58, '3ffe:507:0:1:200:86ff:fe05:80da', '3ffe:501:0:1001::2', 128, 129,
     '1:+TW+HtLHvV1xnGhV1lv7XoJrqQg='),
    (1, '192.168.0.89', '192.168.0.1', 8, 0, '1:X0snYXpgwiv9TZtqg64sgzUn6Dk='),
    (1, '192.168.0.1', '192.168.0.89', 0, 8, '1:X0snYXpgwiv9TZtqg64sgzUn6Dk='),
    (1, '10.0.0.1', '10.0.0.2', 11, 0, '1:YHxtAirCG//0OzkcVAukqKQN9xM='),
    (6, '2001:470:e5bf:dead:4957:2174:e82c:4887', '2607:f8b0:400c:c03::1a',
     63943, 25, '1:/qFaeAR+gFe1KYjMzVDsMv+wgU4='),
    (132, '192.168.170.8', '192.168.170.56', 7, 7,
     '1:MP2EtRCAUIZvTw6MxJHLV7N7JDs='),
    (6, '128.232.110.120', '66.35.250.204', 34855, 80,
     '1:LQU9qZlK+B5F3KDmev6m5PMibrg='),
    (6, '66.35.250.204', '128.232.110.120', 80, 34855,
     '1:LQU9qZlK+B5F3KDmev6m5PMibrg='),
    (17, '192.168.1.52', '8.8.8.8', 54585, 53, '1:d/FP5EW3wiY1vCndhwleRRKHowQ='),
    (46, '10.1.12.1', '10.1.12.2', None, None, '1:KHlLkgoJW7ifUTyTSgyVfkFHzKw='),
    (46, '10.1.12.2', '10.1.12.1', None, None, '1:KHlLkgoJW7ifUTyTSgyVfkFHzKw='),
]


def community_id_selftest():
    """Return a list of mismatches against the published baseline (empty = ok)."""
    bad = []
    for proto, sa, da, sp, dp, want in CID_BASELINE:
        got = community_id(sa, da, proto, sp, dp)
        if got != want:
            bad.append('%s %s %s %s %s: %s != %s' % (proto, sa, da, sp, dp, got, want))
    return bad


# --------------------------------------------------------------------------
# Packet builders (network layer and up)
# --------------------------------------------------------------------------

def csum(data):
    if len(data) % 2:
        data += b'\0'
    s = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff


def is6(a):
    return ':' in a


def pseudo(src, dst, proto, length):
    if is6(src):
        return addr_bytes(src) + addr_bytes(dst) + struct.pack('!IxxxB', length, proto)
    return addr_bytes(src) + addr_bytes(dst) + struct.pack('!xBH', proto, length)


def l4_csum(src, dst, proto, seg):
    return csum(pseudo(src, dst, proto, len(seg)) + seg)


def ipv4(src, dst, proto, payload, ttl=64, ident=0, df=False, mf=False,
         frag_off=0, options=b'', total_len=None):
    assert len(options) % 4 == 0
    ihl = 5 + len(options) // 4
    tot = total_len if total_len is not None else ihl * 4 + len(payload)
    ff = (0x4000 if df else 0) | (0x2000 if mf else 0) | frag_off
    hdr = struct.pack('!BBHHHBBH4s4s', 0x40 | ihl, 0, tot, ident, ff, ttl,
                      proto, 0, addr_bytes(src), addr_bytes(dst)) + options
    hdr = hdr[:10] + struct.pack('!H', csum(hdr)) + hdr[12:]
    return hdr + payload


def ipv6(src, dst, nh, payload, hlim=64):
    return struct.pack('!IHBB16s16s', 0x60000000, len(payload), nh, hlim,
                       addr_bytes(src), addr_bytes(dst)) + payload


def ip(src, dst, proto, l4, ttl=64, ident=0, **kw):
    if is6(src):
        return ipv6(src, dst, proto, l4, hlim=ttl)
    return ipv4(src, dst, proto, l4, ttl=ttl, ident=ident, **kw)


FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def tcp_seg(src, dst, sp, dp, seq, ack, flags, payload=b'', win=64240, opts=b''):
    assert len(opts) % 4 == 0
    doff = 5 + len(opts) // 4
    seg = struct.pack('!HHIIBBHHH', sp, dp, seq & 0xffffffff, ack & 0xffffffff,
                      doff << 4, flags, win, 0, 0) + opts + payload
    c = l4_csum(src, dst, 6, seg)
    return seg[:16] + struct.pack('!H', c) + seg[18:]


def udp_dgram(src, dst, sp, dp, payload):
    seg = struct.pack('!HHHH', sp, dp, 8 + len(payload), 0) + payload
    c = l4_csum(src, dst, 17, seg) or 0xffff
    return seg[:6] + struct.pack('!H', c) + seg[8:]


def udp(src, dst, sp, dp, payload, ttl=64, ident=0):
    return ip(src, dst, 17, udp_dgram(src, dst, sp, dp, payload), ttl=ttl, ident=ident)


def icmp4(src, dst, typ, code, rest, data, ttl=64, ident=0):
    msg = struct.pack('!BBH', typ, code, 0) + rest + data
    msg = msg[:2] + struct.pack('!H', csum(msg)) + msg[4:]
    return ipv4(src, dst, 1, msg, ttl=ttl, ident=ident)


def icmp6(src, dst, typ, code, rest, data, hlim=64):
    msg = struct.pack('!BBH', typ, code, 0) + rest + data
    c = l4_csum(src, dst, 58, msg)
    msg = msg[:2] + struct.pack('!H', c) + msg[4:]
    return ipv6(src, dst, 58, msg, hlim=hlim)


def crc32c(data):
    crc = 0xffffffff
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xffffffff


def sctp_packet(sp, dp, vtag, chunks):
    pkt = struct.pack('!HHII', sp, dp, vtag, 0) + chunks
    c = crc32c(pkt)
    return pkt[:8] + struct.pack('<I', c) + pkt[12:]


def sctp_data_chunk(tsn, data, stream=0, ssn=0, ppid=0):
    ln = 16 + len(data)
    pad = (-ln) % 4
    return struct.pack('!BBHIHHI', 0, 3, ln, tsn, stream, ssn, ppid) + data + b'\0' * pad


class TCPConv:
    """A TCP connection between client c and server s, tracking sequence
    numbers; .pkt() returns the IP packet (bytes) of the next segment."""

    def __init__(self, c, s, cport, sport, cisn=1000, sisn=5000, cttl=64,
                 sttl=64, cid=0x1000, sid=0x2000):
        self.c, self.s, self.cport, self.sport = c, s, cport, sport
        self.seq = {True: cisn, False: sisn}
        self.ttl = {True: cttl, False: sttl}
        self.ident = {True: cid, False: sid}

    def pkt(self, from_client, flags, payload=b'', seq=None, opts=b'', win=64240):
        fc = from_client
        src, dst = (self.c, self.s) if fc else (self.s, self.c)
        sp, dp = (self.cport, self.sport) if fc else (self.sport, self.cport)
        myseq = self.seq[fc] if seq is None else seq
        ack = self.seq[not fc] if flags & ACK else 0
        seg = tcp_seg(src, dst, sp, dp, myseq, ack, flags, payload, win, opts)
        if seq is None:
            self.seq[fc] += len(payload) + (1 if flags & (SYN | FIN) else 0)
        p = ip(src, dst, 6, seg, ttl=self.ttl[fc], ident=self.ident[fc])
        self.ident[fc] += 1
        return p


SYN_OPTS = (struct.pack('!BBH', 2, 4, 1460) + b'\x01' + struct.pack('!BBB', 3, 3, 7)
            + b'\x01\x01' + struct.pack('!BB', 4, 2))  # MSS, NOP, WS, NOP NOP SACKOK


# --------------------------------------------------------------------------
# Link layers
# --------------------------------------------------------------------------

DLT_NULL, DLT_EN10MB, DLT_RAW12, DLT_RAW14 = 0, 1, 12, 14
LINKTYPE_RAW, LINKTYPE_IEEE802_11, LINKTYPE_LOOP = 101, 105, 108
LINKTYPE_SLL, LINKTYPE_IPV4, LINKTYPE_IPV6, LINKTYPE_SLL2 = 113, 228, 229, 276


def ip_addrs(l3):
    if l3[0] >> 4 == 6:
        return l3[8:24], l3[24:40]
    return l3[12:16], l3[16:20]


def macs(l3):
    s, d = ip_addrs(l3)
    return b'\x02\x00' + d[-4:], b'\x02\x00' + s[-4:]   # (dst, src)


def ethertype(l3):
    return 0x86DD if l3[0] >> 4 == 6 else 0x0800


def eth(l3):
    d, s = macs(l3)
    return d + s + struct.pack('!H', ethertype(l3)) + l3


def vlan(l3):
    d, s = macs(l3)
    return d + s + struct.pack('!HHH', 0x8100, 100, ethertype(l3)) + l3


def qinq(l3):
    d, s = macs(l3)
    return d + s + struct.pack('!HHHHH', 0x88A8, 200, 0x8100, 100, ethertype(l3)) + l3


def mpls(l3):
    d, s = macs(l3)
    lab1 = (16 << 12) | (0 << 9) | (0 << 8) | 64     # label 16, S=0
    lab2 = (17 << 12) | (0 << 9) | (1 << 8) | 64     # label 17, S=1
    return d + s + struct.pack('!HII', 0x8847, lab1, lab2) + l3


def sll(l3):
    _, s = macs(l3)
    return struct.pack('!HHH', 0, 1, 6) + s + b'\0\0' + struct.pack('!H', ethertype(l3)) + l3


def sll2(l3):
    _, s = macs(l3)
    return struct.pack('!HHIHBB', ethertype(l3), 0, 2, 1, 0, 6) + s + b'\0\0' + l3


def null_af(l3, endian, af6):
    af = af6 if l3[0] >> 4 == 6 else 2
    return struct.pack(endian + 'I', af) + l3


def wifi(l3):
    d, s = macs(l3)
    hdr = struct.pack('<HH', 0x0108, 0) + d + s + d + struct.pack('<H', 0x10)
    return hdr + b'\xaa\xaa\x03\x00\x00\x00' + struct.pack('!H', ethertype(l3)) + l3


def wifi_qos(l3, protected=False):
    """802.11 QoS data frame (subtype 8), ToDS and FromDS (four addresses),
    QoS control; protected: the Protected flag and 16 bytes of ciphertext."""
    d, s = macs(l3)
    flags = 0x03 | (0x40 if protected else 0)
    hdr = struct.pack('<BBH', 0x88, flags, 0) + d + s + d + struct.pack('<H', 0x20) + s
    hdr += struct.pack('<H', 5)   # QoS control: TID 5
    if protected:
        return hdr + b'\x01\x00\x00\x20\x00\x00\x00\x00' + bytes(range(16)) + l3[:8]
    return hdr + b'\xaa\xaa\x03\x00\x00\x00' + struct.pack('!H', ethertype(l3)) + l3


def radiotap(frame):
    """radiotap v0 header, 12 bytes: present = flags + rate, flags 0, rate 2 Mb/s."""
    return struct.pack('<BBHIBBH', 0, 0, 12, 0x6, 0, 4, 0) + frame


def ppi(frame):
    """PPI v0 header of 8 bytes, inner DLT 105."""
    return struct.pack('<BBHI', 0, 0, 8, LINKTYPE_IEEE802_11) + frame


def nflog(l3):
    """NFLOG: family, version 0, resource id 1 (network order); TLVs in
    little-endian host order: NFULA_PACKET_HDR (1), NFULA_PREFIX (10),
    NFULA_PAYLOAD (9), each padded to 4 bytes."""
    fam = 10 if l3[0] >> 4 == 6 else 2

    def tlv(t, v):
        b = struct.pack('<HH', 4 + len(v), t) + v
        return b + b'\0' * (-len(b) % 4)
    return (struct.pack('!BBH', fam, 0, 1) + tlv(1, struct.pack('!HBB', ethertype(l3), 3, 0))
            + tlv(10, b'joy\0') + tlv(9, l3))


def pflog(l3):
    """OpenBSD pflog: length 61 (padded to 64), AF 2 or 24 (OpenBSD AF_INET6),
    action, reason, interface name, ruleset, rule numbers, uid, pid, dir."""
    af = 24 if l3[0] >> 4 == 6 else 2
    hdr = struct.pack('!BBBB16s16sIIIiIiB3x', 61, af, 0, 0, b'em0', b'', 1, 0, 0, 0, 0, 0, 1)
    return hdr + b'\0' * (64 - len(hdr)) + l3


def fddi(l3):
    """FDDI: frame control 0x50, destination, source, then 802.2 LLC/SNAP."""
    d, s = macs(l3)
    return (b'\x50' + d + s + b'\xaa\xaa\x03\x00\x00\x00' + struct.pack('!H', ethertype(l3))
            + l3)


def ipnet(l3):
    """Solaris ipnet: version 2, family 2 / 26, htype, length, ifindexes, zones."""
    fam = 26 if l3[0] >> 4 == 6 else 2
    return struct.pack('!BBHIIIII', 2, fam, 0, len(l3), 1, 0, 0, 0) + l3


# --------------------------------------------------------------------------
# Tunnels (synthesised; test/test_decode_tunnels.py also makes kernel ones)
# --------------------------------------------------------------------------

def inner_pair(a, b, sp, dp, req=b'q' * 20, rep=b'r' * 30):
    return (udp(a, b, sp, dp, req), udp(b, a, dp, sp, rep))


def vxlan_hdr(vni):
    return struct.pack('!BxxxI', 0x08, vni << 8)


def geneve_hdr(vni, proto=0x6558, opts=b''):
    return struct.pack('!BBHI', len(opts) // 4, 0, proto, vni << 8) + opts


def gtpu_hdr(teid, payload, ext=False):
    if ext:   # E flag: sequence, N-PDU, next type 0x85 (PDU session container, 4 bytes)
        body = struct.pack('!HBB', 0, 0, 0x85) + b'\x01\x00\x09\x00' + payload
        return struct.pack('!BBHI', 0x34, 0xff, len(body), teid) + body
    return struct.pack('!BBHI', 0x30, 0xff, len(payload), teid) + payload


def gre_hdr(proto, key=None, seq=None):
    flags = (0x2000 if key is not None else 0) | (0x1000 if seq is not None else 0)
    h = struct.pack('!HH', flags, proto)
    if key is not None:
        h += struct.pack('!I', key)
    if seq is not None:
        h += struct.pack('!I', seq)
    return h


def tunnel_udp_packets():
    """VXLAN (VNI 42 and 43 carrying the same inner 5-tuple: two flows), GENEVE
    (VNI 7, one 8-byte option), GTP-U (TEID 0x1001 up, 0x2002 down, the reply
    with an extension header), Teredo (the reply with an origin indication),
    MPLS over UDP (two labels).  Outer source ports differ per direction."""
    A, B = '10.40.0.1', '10.40.0.2'
    P = []
    q, r = inner_pair('192.168.40.1', '192.168.40.2', 1111, 2222)
    for i, vni in enumerate((42, 43)):
        P += [(ts(ms=10 * i), udp(A, B, 50001, 4789, vxlan_hdr(vni) + eth(q))),
              (ts(ms=10 * i + 1), udp(B, A, 50002, 4789, vxlan_hdr(vni) + eth(r)))]
    q, r = inner_pair('192.168.41.1', '192.168.41.2', 3333, 4444)
    opt = struct.pack('!HBB', 0x0102, 0x80, 1) + b'\xaa' * 4
    P += [(ts(ms=100), udp(A, B, 50003, 6081, geneve_hdr(7, opts=opt) + eth(q))),
          (ts(ms=101), udp(B, A, 50004, 6081, geneve_hdr(7, opts=opt) + eth(r)))]
    q, r = inner_pair('10.45.0.2', '8.8.8.8', 5555, 53)
    P += [(ts(ms=200), udp(A, B, 2152, 2152, gtpu_hdr(0x1001, q))),
          (ts(ms=201), udp(B, A, 2152, 2152, gtpu_hdr(0x2002, r, ext=True)))]
    q, r = inner_pair('2001:0:4136:e378:8000:63bf:3fff:fdd2', '2001:db8:44::1', 6666, 7777)
    C, S = '10.40.0.3', '10.40.0.4'
    P += [(ts(ms=300), udp(C, S, 40000, 3544, q)),
          (ts(ms=301), udp(S, C, 3544, 40000, struct.pack('!HH4s', 0, 0x63bf, b'\xf5\xff\xff\xfe') + r))]
    q, r = inner_pair('192.168.46.1', '192.168.46.2', 8888, 9999)
    lab = struct.pack('!II', (100 << 12) | 64, (200 << 12) | 0x100 | 64)
    lab2 = struct.pack('!II', (300 << 12) | 64, (400 << 12) | 0x100 | 64)
    P += [(ts(ms=400), udp(A, B, 50005, 6635, lab + q)),
          (ts(ms=401), udp(B, A, 50006, 6635, lab2 + r))]
    return P


def tunnel_gre_packets():
    """GRE with key 5 (IPv4 inside), transparent Ethernet bridging (key 6),
    MPLS over GRE, PPTP enhanced GRE (call ids 0x1111 / 0x2222, PPP), ERSPAN
    type II (session 9) and type III (session 10), and VXLAN nested in GRE."""
    A, B = '10.50.0.1', '10.50.0.2'
    P = []
    q, r = inner_pair('192.168.50.1', '192.168.50.2', 1001, 2001)
    P += [(ts(), ipv4(A, B, 47, gre_hdr(0x0800, key=5) + q, ident=1)),
          (ts(ms=1), ipv4(B, A, 47, gre_hdr(0x0800, key=5) + r, ident=2))]
    q, r = inner_pair('192.168.51.1', '192.168.51.2', 1002, 2002)
    P += [(ts(ms=10), ipv4(A, B, 47, gre_hdr(0x6558, key=6) + eth(q), ident=3)),
          (ts(ms=11), ipv4(B, A, 47, gre_hdr(0x6558, key=6) + eth(r), ident=4))]
    q, r = inner_pair('192.168.52.1', '192.168.52.2', 1003, 2003)
    lab = struct.pack('!I', (500 << 12) | 0x100 | 64)
    P += [(ts(ms=20), ipv4(A, B, 47, gre_hdr(0x8847) + lab + q, ident=5)),
          (ts(ms=21), ipv4(B, A, 47, gre_hdr(0x8847) + lab + r, ident=6))]
    q, r = inner_pair('192.168.53.1', '192.168.53.2', 1004, 2004)

    def pptp(call, seq, l3):
        ppp = b'\xff\x03\x00\x21' + l3
        return struct.pack('!HHHHI', 0x3001, 0x880b, len(ppp), call, seq) + ppp
    P += [(ts(ms=30), ipv4(A, B, 47, pptp(0x1111, 1, q), ident=7)),
          (ts(ms=31), ipv4(B, A, 47, pptp(0x2222, 1, r), ident=8))]
    q, r = inner_pair('192.168.54.1', '192.168.54.2', 1005, 2005)
    e2 = struct.pack('!HHI', 0x1000 | 10, 9, 0)      # ver 1, VLAN 10, session 9
    P += [(ts(ms=40), ipv4(A, B, 47, gre_hdr(0x88be, seq=1) + e2 + eth(q), ident=9)),
          (ts(ms=41), ipv4(A, B, 47, gre_hdr(0x88be, seq=2) + e2 + eth(r), ident=10))]
    q, r = inner_pair('192.168.55.1', '192.168.55.2', 1006, 2006)
    e3 = struct.pack('!HHIHH', 0x2000 | 10, 10, 12345, 0, 0)   # ver 2, session 10
    P += [(ts(ms=50), ipv4(A, B, 47, gre_hdr(0x22eb, seq=1) + e3 + eth(q), ident=11)),
          (ts(ms=51), ipv4(A, B, 47, gre_hdr(0x22eb, seq=2) + e3 + eth(r), ident=12))]
    q, r = inner_pair('192.168.56.1', '192.168.56.2', 1007, 2007)
    v1 = udp('10.51.0.1', '10.51.0.2', 50007, 4789, vxlan_hdr(77) + eth(q))
    v2 = udp('10.51.0.2', '10.51.0.1', 50008, 4789, vxlan_hdr(77) + eth(r))
    P += [(ts(ms=60), ipv4(A, B, 47, gre_hdr(0x0800) + v1, ident=13)),
          (ts(ms=61), ipv4(B, A, 47, gre_hdr(0x0800) + v2, ident=14))]
    return P


def tunnel_ipip_packets():
    """4in4, 6in4, 4in6 and 6in6 (protocols 4 and 41)."""
    P = []
    outer = [('10.60.0.1', '10.60.0.2'), ('2001:db8:60::1', '2001:db8:60::2')]
    inner = [('192.168.60.1', '192.168.60.2'), ('fd60::1', 'fd60::2')]
    k = 0
    for oa, ob in outer:
        for ia, ib in inner:
            q, r = inner_pair(ia, ib, 1100 + k, 2200 + k)
            pr = 41 if is6(ia) else 4
            P += [(ts(ms=10 * k), ip(oa, ob, pr, q, ident=2 * k + 1)),
                  (ts(ms=10 * k + 1), ip(ob, oa, pr, r, ident=2 * k + 2))]
            k += 1
    return P


# --------------------------------------------------------------------------
# File writers
# --------------------------------------------------------------------------

def pcap_bytes(linktype, frames, nano=False, big=False, snaplen=65535):
    """frames: list of (ts_ns, frame bytes).  Frames longer than snaplen are
    cut to snaplen with orig_len keeping the real length."""
    e = '>' if big else '<'
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = [struct.pack(e + 'IHHiIII', magic, 2, 4, 0, 0, snaplen, linktype)]
    for t, fr in frames:
        sec, frac = divmod(t, 1000000000)
        if not nano:
            assert frac % 1000 == 0, 'sub-microsecond time in a microsecond file'
            frac //= 1000
        cap = fr[:snaplen]
        out.append(struct.pack(e + 'IIII', sec, frac, len(cap), len(fr)) + cap)
    return b''.join(out)


def ng_block(btype, body, e='<'):
    body += b'\0' * ((-len(body)) % 4)
    ln = 12 + len(body)
    return struct.pack(e + 'II', btype, ln) + body + struct.pack(e + 'I', ln)


def ng_opts(opts, e='<'):
    """opts: list of (code, value bytes); adds opt_endofopt."""
    if not opts:
        return b''
    out = b''
    for code, val in opts:
        out += struct.pack(e + 'HH', code, len(val)) + val + b'\0' * ((-len(val)) % 4)
    return out + struct.pack(e + 'HH', 0, 0)


def ng_shb(e='<'):
    return ng_block(0x0A0D0D0A, struct.pack(e + 'IHHq', 0x1A2B3C4D, 1, 0, -1), e)


def ng_idb(linktype, opts=(), e='<'):
    return ng_block(1, struct.pack(e + 'HHI', linktype, 0, 262144) + ng_opts(list(opts), e), e)


def ng_epb(ifi, units, frame, e='<'):
    return ng_block(6, struct.pack(e + 'IIIII', ifi, units >> 32, units & 0xffffffff,
                                   len(frame), len(frame)) + frame, e)


def ng_spb(frame, e='<'):
    return ng_block(3, struct.pack(e + 'I', len(frame)) + frame, e)


def pcapng_bytes(interfaces, frames):
    """interfaces: list of (linktype, tsresol exponent or None).
    frames: list of (interface index, ts_ns, frame)."""
    out = [ng_shb()]
    for lt, res in interfaces:
        out.append(ng_idb(lt, [(9, bytes([res]))] if res is not None else []))
    for ifi, t, fr in frames:
        res = interfaces[ifi][1]
        if res is None:     # default if_tsresol: microseconds
            assert t % 1000 == 0
            units = t // 1000
        else:
            assert res == 9
            units = t
        out.append(ng_epb(ifi, units, fr))
    return b''.join(out)


def pcapng_be_bytes():
    """Big-endian pcapng section: one Ethernet interface with if_tsresol
    0x94 (units of 2^-20 s); a Name Resolution Block, an Interface
    Statistics Block and a custom block (0x00000BAD) between the packets are
    skipped.  UDP 172.16.4.1:41000 -> 172.16.4.2:42000 (12 bytes) at
    T0+0.5 s, reply (13 bytes) at T0+0.75 s (both exact in 2^-20 s units)."""
    e = '>'
    u = lambda sec, frac_units: sec * (1 << 20) + frac_units
    f1 = eth(udp('172.16.4.1', '172.16.4.2', 41000, 42000, b'k' * 12))
    f2 = eth(udp('172.16.4.2', '172.16.4.1', 42000, 41000, b'K' * 13))
    nrb = ng_block(4, struct.pack(e + 'HH', 1, 8) + addr_bytes('172.16.4.1') + b'h1\0\0'
                   + struct.pack(e + 'HH', 0, 0), e)
    isb = ng_block(5, struct.pack(e + 'III', 0, 0, 0), e)
    custom = ng_block(0x00000BAD, struct.pack(e + 'I', 32473) + b'joy-test', e)
    return b''.join([ng_shb(e), ng_idb(DLT_EN10MB, [(9, bytes([0x94]))], e), nrb,
                     ng_epb(0, u(T0, 1 << 19), f1, e), isb, custom,
                     ng_epb(0, u(T0, (1 << 19) + (1 << 18)), f2, e)])


def pcapng_sections_bytes():
    """Two sections.  Section 1: interface 0 = Ethernet (microseconds);
    UDP 172.16.5.1:43000 -> 172.16.5.2:44000 (14 bytes) at T0.
    Section 2 (interfaces numbered afresh): interface 0 = raw IP with
    if_tsoffset 100 s, the reply (15 bytes) stamped T0+0.001-100 s, i.e.
    T0+0.001 s; then a Simple Packet Block (no time stamp) carrying
    UDP 172.16.5.3:45000 -> 172.16.5.4:46000 (16 bytes)."""
    r1 = eth(udp('172.16.5.1', '172.16.5.2', 43000, 44000, b'l' * 14))
    r2 = udp('172.16.5.2', '172.16.5.1', 44000, 43000, b'L' * 15)
    r3 = udp('172.16.5.3', '172.16.5.4', 45000, 46000, b'm' * 16)
    return b''.join([ng_shb(), ng_idb(DLT_EN10MB), ng_epb(0, ts() // 1000, r1),
                     ng_shb(), ng_idb(LINKTYPE_RAW, [(14, struct.pack('<q', 100))]),
                     ng_epb(0, (ts(ms=1) - 100 * 10 ** 9) // 1000, r2),
                     ng_spb(r3)])


# --------------------------------------------------------------------------
# Captures
# --------------------------------------------------------------------------

HTTP_GET = (b'GET / HTTP/1.1\r\n'                       # 16
            b'Host: www.example.com\r\n'                # 23
            b'User-Agent: joy-test/1.0\r\n'             # 26
            b'Accept: */*\r\n'                          # 13
            b'\r\n')                                    # 2   -> 80
HTTP_BODY = b'<html><body>Hello from the joy test</body></html>\n'   # 50
HTTP_RESP = (b'HTTP/1.1 200 OK\r\n'                     # 17
             b'Content-Type: text/html\r\n'             # 25
             b'Content-Length: 50\r\n'                  # 20
             b'\r\n' + HTTP_BODY)                       # 2 + 50 -> 114
SSH_SERVER = b'SSH-2.0-OpenSSH_9.2p1\r\n'   # 23
SSH_CLIENT = b'SSH-2.0-OpenSSH_9.6\r\n'     # 21


def dns_query(qid, name):
    q = b''.join(bytes([len(p)]) + p.encode() for p in name.split('.')) + b'\0'
    return struct.pack('!HHHHHH', qid, 0x0100, 1, 0, 0, 0) + q + struct.pack('!HH', 1, 1)


def dns_answer(qid, name, addr):
    q = b''.join(bytes([len(p)]) + p.encode() for p in name.split('.')) + b'\0'
    a = struct.pack('!HHHIH', 0xC00C, 1, 1, 300, 4) + addr_bytes(addr)
    return struct.pack('!HHHHHH', qid, 0x8180, 1, 1, 0, 0) + q + struct.pack('!HH', 1, 1) + a


def sample_packets():
    """The README demo: HTTP over IPv4, DNS, ICMP echo, SSH banners over IPv6."""
    P = []
    # 1. HTTP: 192.168.1.100:49152 -> 203.0.113.80:80, time_start T0+1us.
    h = TCPConv('192.168.1.100', '203.0.113.80', 49152, 80, cisn=0x10000000,
                sisn=0x20000000, cttl=64, sttl=56, cid=0x1000, sid=0x2000)
    t = ts(us=1)
    P += [(t, h.pkt(True, SYN, opts=SYN_OPTS)),                  # +0   c 0
          (t + 10000000, h.pkt(False, SYN | ACK, opts=SYN_OPTS)),       # +10  s 0
          (t + 20000000, h.pkt(True, ACK)),                      # +20  c 0
          (t + 21000000, h.pkt(True, PSH | ACK, HTTP_GET)),      # +21  c 80
          (t + 31000000, h.pkt(False, ACK)),                     # +31  s 0
          (t + 32000000, h.pkt(False, PSH | ACK, HTTP_RESP)),    # +32  s 114
          (t + 33000000, h.pkt(True, ACK)),                      # +33  c 0
          (t + 40000000, h.pkt(True, FIN | ACK)),                # +40  c 0
          (t + 50000000, h.pkt(False, FIN | ACK)),               # +50  s 0
          (t + 51000000, h.pkt(True, ACK))]                      # +51  c 0
    # 2. DNS: 192.168.1.100:53001 -> 192.168.1.1:53 at T0+100.100 ms, answer +4 ms.
    c, r = '192.168.1.100', '192.168.1.1'
    P += [(ts(ms=100, us=100), udp(c, r, 53001, 53, dns_query(0x1A2B, 'www.example.com'),
                                   ttl=64, ident=0x3000)),
          (ts(ms=104, us=100), udp(r, c, 53, 53001,
                                   dns_answer(0x1A2B, 'www.example.com', '203.0.113.80'),
                                   ttl=63, ident=0x4000))]
    # 3. ICMP echo 192.168.1.100 -> 203.0.113.80, 56 data bytes, at T0+200 ms, reply +12 ms.
    data = bytes(range(56))
    P += [(ts(ms=200), icmp4(c, '203.0.113.80', 8, 0, struct.pack('!HH', 0x0042, 1), data,
                             ttl=64, ident=0x5000)),
          (ts(ms=212), icmp4('203.0.113.80', c, 0, 0, struct.pack('!HH', 0x0042, 1), data,
                             ttl=56, ident=0x6000))]
    # 4. SSH banners over IPv6: [2001:db8::100]:49200 -> [2001:db8::22]:22 at T0+1 s.
    s6 = TCPConv('2001:db8::100', '2001:db8::22', 49200, 22, cisn=7000, sisn=9000,
                 cttl=64, sttl=61)
    t = ts(sec=1)
    M = 1000000
    P += [(t, s6.pkt(True, SYN, opts=SYN_OPTS)),                 # +0  c 0
          (t + 5 * M, s6.pkt(False, SYN | ACK, opts=SYN_OPTS)),  # +5  s 0
          (t + 10 * M, s6.pkt(True, ACK)),                       # +10 c 0
          (t + 15 * M, s6.pkt(False, PSH | ACK, SSH_SERVER)),    # +15 s 23
          (t + 16 * M, s6.pkt(True, ACK)),                       # +16 c 0
          (t + 20 * M, s6.pkt(True, PSH | ACK, SSH_CLIENT)),     # +20 c 21
          (t + 25 * M, s6.pkt(False, ACK)),                      # +25 s 0
          (t + 30 * M, s6.pkt(True, FIN | ACK)),                 # +30 c 0
          (t + 35 * M, s6.pkt(False, FIN | ACK)),                # +35 s 0
          (t + 40 * M, s6.pkt(True, ACK))]                       # +40 c 0
    P.sort(key=lambda x: x[0])
    return P


def basic_packets(v4=True, v6=True, v6_ports=((10003, 20004),)):
    """The flows carried by every link-type capture:
    UDP 172.16.0.1:10001 -> 172.16.0.2:20002, 10 bytes at T0, reply 20 bytes at T0+1 ms;
    per (sp, dp) in v6_ports: UDP [fd00::1]:sp -> [fd00::2]:dp, 30 bytes, reply 40 bytes."""
    P = []
    if v4:
        P += [(ts(), udp('172.16.0.1', '172.16.0.2', 10001, 20002, b'A' * 10, ident=1)),
              (ts(ms=1), udp('172.16.0.2', '172.16.0.1', 20002, 10001, b'B' * 20, ident=2))]
    if v6:
        for i, (sp, dp) in enumerate(v6_ports):
            P += [(ts(ms=10 + 10 * i), udp('fd00::1', 'fd00::2', sp, dp, b'C' * 30)),
                  (ts(ms=11 + 10 * i), udp('fd00::2', 'fd00::1', dp, sp, b'D' * 40))]
    return P


NULL_V6 = ((10003, 20004), (10005, 20006), (10007, 20008))   # AF 24, 28, 30


def null_frames(endian, network_order=False):
    e = '>' if network_order else endian
    P = basic_packets(v6_ports=NULL_V6)
    out = []
    afs = [24, 24, 28, 28, 30, 30]
    k = 0
    for t, p in P:
        if p[0] >> 4 == 6:
            out.append((t, null_af(p, e, afs[k])))
            k += 1
        else:
            out.append((t, null_af(p, e, 2)))
    return out


def wrap(fn, P):
    return [(t, fn(p)) for t, p in P]


def ipv4_options_packets():
    # Record Route option: type 7, len 11, ptr 4, 8 address bytes, then EOL -> 12 bytes, IHL 8.
    opts = struct.pack('!BBB', 7, 11, 4) + b'\0' * 8 + b'\0'
    a, b = '10.7.0.1', '10.7.0.2'
    return [(ts(), ipv4(a, b, 17, udp_dgram(a, b, 41111, 42222, b'o' * 33), ttl=30,
                        ident=0x0701, options=opts)),
            (ts(ms=2), udp(b, a, 42222, 41111, b'p' * 44, ttl=31, ident=0x0702))]


def ipv6_ext_packets():
    a, b = '2001:db8:7::1', '2001:db8:7::2'
    # UDP [a]:7001 -> [b]:7002, 50 bytes, through:
    #   hop-by-hop 16 bytes (hdr ext len 1: PadN 12)          nh=43
    #   routing type 0, 24 bytes (hdr ext len 2, 1 address)    nh=60
    #   destination options 8 bytes (PadN 4)                   nh=51
    #   AH 20 bytes (payload len 3 -> (3+2)*4; 8-byte ICV)     nh=44
    #   fragment 8 bytes, offset 0, M=0 (atomic)               nh=17
    u = udp_dgram(a, b, 7001, 7002, b'e' * 50)
    frag = struct.pack('!BBHI', 17, 0, 0, 0x00070001)
    ah = struct.pack('!BBHII', 44, 3, 0, 0x1000, 1) + b'\x11' * 8
    assert len(ah) == 20
    dst = struct.pack('!BB', 51, 0) + b'\x01\x04' + b'\0' * 4
    rt = struct.pack('!BBBB', 60, 2, 0, 0) + b'\0' * 4 + addr_bytes(b)
    hbh = struct.pack('!BB', 43, 1) + b'\x01\x0c' + b'\0' * 12
    assert (len(hbh), len(rt), len(dst), len(frag)) == (16, 24, 8, 8)
    p1 = ipv6(a, b, 0, hbh + rt + dst + ah + frag + u, hlim=60)
    p2 = udp(b, a, 7002, 7001, b'f' * 60, ttl=50)
    # TCP [a]:7100 -> [b]:7101 (no SYN), 30 bytes through hop-by-hop 8 (nh=60)
    # and destination options 16 (hdr ext len 1, nh=6); reply 40 bytes plain.
    seg = tcp_seg(a, b, 7100, 7101, 100, 200, PSH | ACK, b'g' * 30)
    hbh8 = struct.pack('!BB', 60, 0) + b'\x01\x04' + b'\0' * 4
    dst16 = struct.pack('!BB', 6, 1) + b'\x01\x0c' + b'\0' * 12
    p3 = ipv6(a, b, 0, hbh8 + dst16 + seg, hlim=60)
    p4 = ip(b, a, 6, tcp_seg(b, a, 7101, 7100, 200, 130, PSH | ACK, b'h' * 40), ttl=50)
    return [(ts(), p1), (ts(ms=1), p2), (ts(ms=10), p3), (ts(ms=11), p4)]


def sctp_packets():
    a, b = '10.8.0.1', '10.8.0.2'
    c1 = sctp_data_chunk(1, b's' * 20)          # 16 + 20 = 36
    c2 = sctp_data_chunk(1, b't' * 30)          # 16 + 30 = 46 + 2 pad = 48
    return [(ts(), ipv4(a, b, 132, sctp_packet(50001, 50002, 0xA1, c1), ident=1)),
            (ts(ms=1), ipv4(b, a, 132, sctp_packet(50002, 50001, 0xB2, c2), ident=2))]


def gre_packets():
    a, b = '10.9.0.1', '10.9.0.2'
    in1 = udp('192.168.50.1', '192.168.50.2', 1000, 2000, b'i' * 12)   # 40
    in2 = udp('192.168.50.2', '192.168.50.1', 2000, 1000, b'j' * 24)   # 52
    g = struct.pack('!HH', 0, 0x0800)
    return [(ts(), ipv4(a, b, 47, g + in1, ident=1)),        # IP payload 44
            (ts(ms=1), ipv4(b, a, 47, g + in2, ident=2))]    # IP payload 56


def icmp_packets():
    a, b = '10.10.0.1', '10.10.0.2'
    d32 = bytes(range(32))
    P = [(ts(), icmp4(a, b, 8, 0, struct.pack('!HH', 0x1234, 1), d32, ident=11)),
         (ts(ms=1), icmp4(b, a, 0, 0, struct.pack('!HH', 0x1234, 1), d32, ttl=60, ident=21)),
         (ts(ms=1000), icmp4(a, b, 8, 0, struct.pack('!HH', 0x1235, 1), d32, ident=12)),
         (ts(ms=1001), icmp4(b, a, 0, 0, struct.pack('!HH', 0x1235, 1), d32, ttl=60, ident=22))]
    x, y = '2001:db8:a::1', '2001:db8:a::2'
    d16 = b'v6ping-payload!!'
    P += [(ts(ms=2000), icmp6(x, y, 128, 0, struct.pack('!HH', 7, 1), d16)),
          (ts(ms=2001), icmp6(y, x, 129, 0, struct.pack('!HH', 7, 1), d16, hlim=63))]
    # Port unreachable from a router 10.10.0.254 to 10.10.0.1, quoting a UDP
    # header: 20 + 8 quoted bytes after the 8-byte ICMP header.
    quoted = udp('10.10.0.1', '10.10.0.9', 3333, 4444, b'')
    P += [(ts(ms=3000), icmp4('10.10.0.254', a, 3, 3, b'\0' * 4, quoted, ttl=255, ident=31))]
    return P


def frag4_packets(ooo=False):
    """UDP 10.6.0.1:4001 -> 10.6.0.2:4002 with 1000 payload bytes (UDP length
    1008) sent as 3 fragments of IP payload 400 (offset 0, MF), 400 (offset
    50*8, MF), 208 (offset 100*8).  Reply: 20 bytes unfragmented.
    ooo: 10.6.1.1:4101 -> 10.6.1.2:4102, fragment 2 arrives before fragment 1."""
    if ooo:
        a, b, sp, dp, ident = '10.6.1.1', '10.6.1.2', 4101, 4102, 0x6161
    else:
        a, b, sp, dp, ident = '10.6.0.1', '10.6.0.2', 4001, 4002, 0x6060
    d = udp_dgram(a, b, sp, dp, bytes(i & 0xff for i in range(1000)))
    f1 = ipv4(a, b, 17, d[:400], ident=ident, mf=True, frag_off=0)
    f2 = ipv4(a, b, 17, d[400:800], ident=ident, mf=True, frag_off=50)
    f3 = ipv4(a, b, 17, d[800:], ident=ident, mf=False, frag_off=100)
    rep = udp(b, a, dp, sp, b'r' * 20, ident=0x7070)
    if ooo:
        order = [f2, f1, f3]
    else:
        order = [f1, f2, f3]
    return [(ts(ms=i), p) for i, p in enumerate(order)] + [(ts(ms=10), rep)]


def frag6_packets():
    """UDP [2001:db8:6::1]:6001 -> [2001:db8:6::2]:6002, 600 payload bytes
    (UDP length 608) as two fragments of 304 bytes each (offset 0 M=1, offset
    38*8 M=0), id 0x66066.  Reply: 25 bytes unfragmented."""
    a, b = '2001:db8:6::1', '2001:db8:6::2'
    d = udp_dgram(a, b, 6001, 6002, b'6' * 600)
    fh1 = struct.pack('!BBHI', 17, 0, (0 << 3) | 1, 0x66066)
    fh2 = struct.pack('!BBHI', 17, 0, (38 << 3) | 0, 0x66066)
    return [(ts(), ipv6(a, b, 44, fh1 + d[:304])),
            (ts(ms=1), ipv6(a, b, 44, fh2 + d[304:])),
            (ts(ms=5), udp(b, a, 6002, 6001, b'R' * 25))]


def tcp_retrans_packets():
    c = TCPConv('10.14.0.1', '10.14.0.2', 40001, 8080, cisn=1000, sisn=5000)
    M = 1000000
    P = [(ts(), c.pkt(True, SYN, opts=SYN_OPTS)),            # c 0
         (ts() + 10 * M, c.pkt(False, SYN | ACK, opts=SYN_OPTS)),  # s 0
         (ts() + 20 * M, c.pkt(True, ACK)),                    # c 0
         (ts() + 30 * M, c.pkt(True, PSH | ACK, b'q' * 100)),  # c 100 seq 1001
         (ts() + 230 * M, c.pkt(True, PSH | ACK, b'q' * 100, seq=1001)),  # c retrans
         (ts() + 240 * M, c.pkt(False, ACK)),                  # s 0
         (ts() + 250 * M, c.pkt(False, PSH | ACK, b'Q' * 200)),  # s 200
         (ts() + 260 * M, c.pkt(True, ACK)),                   # c 0
         (ts() + 270 * M, c.pkt(True, FIN | ACK)),             # c 0
         (ts() + 280 * M, c.pkt(False, FIN | ACK)),            # s 0
         (ts() + 290 * M, c.pkt(True, ACK))]                   # c 0
    return P


def tcp_synack_first_packets():
    c = TCPConv('10.15.0.1', '10.15.0.2', 40000, 80, cisn=100, sisn=900)
    c.seq[True] += 1   # the client's SYN (not captured) consumed one
    M = 1000000
    return [(ts(), c.pkt(False, SYN | ACK, opts=SYN_OPTS)),   # server first
            (ts() + 1 * M, c.pkt(True, ACK)),
            (ts() + 2 * M, c.pkt(True, PSH | ACK, b'x' * 50)),
            (ts() + 3 * M, c.pkt(False, ACK)),
            (ts() + 4 * M, c.pkt(False, PSH | ACK, b'y' * 300))]


def tcp_syn_late_packets():
    """A stray server->client ACK, then the client's SYN 1 s later on the same
    5-tuple: the client is still the SYN sender."""
    c = TCPConv('10.16.0.1', '10.16.0.2', 40100, 443, cisn=300, sisn=700)
    M = 1000000
    stray = ip('10.16.0.2', '10.16.0.1', 6,
               tcp_seg('10.16.0.2', '10.16.0.1', 443, 40100, 12345, 67890, ACK), ident=99)
    return [(ts(), stray),
            (ts(sec=1), c.pkt(True, SYN, opts=SYN_OPTS)),
            (ts(sec=1) + 1 * M, c.pkt(False, SYN | ACK, opts=SYN_OPTS)),
            (ts(sec=1) + 2 * M, c.pkt(True, ACK)),
            (ts(sec=1) + 3 * M, c.pkt(True, PSH | ACK, b'z' * 10))]


def tcp_reuse_packets():
    """TCP port reuse (meter.c tcp_new_connection): a SYN with a new
    sequence number after the connection ended (a FIN each way, or a RST)
    starts a new record; a repeated SYN, or a new SYN on a connection
    that has not ended, does not.  One scenario per client port:
      41001  two connections, the first closed by FIN both ways   -> 2
      41002  the first reset by the server (RST)                  -> 2
      41003  SYN, RST (port closed), the same SYN again           -> 1
      41004  a SYN with another ISN on an open connection         -> 1
      41005  half-closed (the client's FIN only), then a new SYN  -> 1
      41006  closed, then the server's SYN-ACK of a connection
             whose SYN was not captured                           -> 2
      [fd24::1]:41007  as 41001 over IPv6                         -> 2"""
    M = 1000000
    P = []

    def conn(t, c, first=(b'a' * 10, b'b' * 20), close='fin', syn=True):
        if syn:
            P.append((t, c.pkt(True, SYN, opts=SYN_OPTS)))
        P.append((t + 1 * M, c.pkt(False, SYN | ACK, opts=SYN_OPTS)))
        P.append((t + 2 * M, c.pkt(True, ACK)))
        P.append((t + 3 * M, c.pkt(True, PSH | ACK, first[0])))
        P.append((t + 4 * M, c.pkt(False, PSH | ACK, first[1])))
        if close == 'fin':
            P.append((t + 5 * M, c.pkt(True, FIN | ACK)))
            P.append((t + 6 * M, c.pkt(False, FIN | ACK)))
            P.append((t + 7 * M, c.pkt(True, ACK)))
        elif close == 'rst':
            P.append((t + 5 * M, c.pkt(False, RST | ACK)))
        elif close == 'half':
            P.append((t + 5 * M, c.pkt(True, FIN | ACK)))

    a, b = '10.24.0.1', '10.24.0.2'
    conn(ts(sec=0), TCPConv(a, b, 41001, 80, cisn=1000, sisn=5000))
    conn(ts(sec=1), TCPConv(a, b, 41001, 80, cisn=90000, sisn=70000), (b'c' * 30, b'd' * 40))
    conn(ts(sec=2), TCPConv(a, b, 41002, 80, cisn=2000, sisn=6000), close='rst')
    conn(ts(sec=3), TCPConv(a, b, 41002, 80, cisn=92000, sisn=72000), (b'c' * 31, b'd' * 41))
    c = TCPConv(a, b, 41003, 81, cisn=3000, sisn=7000)
    P.append((ts(sec=4), c.pkt(True, SYN, opts=SYN_OPTS)))
    P.append((ts(sec=4) + 1 * M, c.pkt(False, RST | ACK)))
    P.append((ts(sec=5), c.pkt(True, SYN, seq=3000, opts=SYN_OPTS)))
    conn(ts(sec=6), TCPConv(a, b, 41004, 80, cisn=4000, sisn=8000), close=None)
    P.append((ts(sec=7), TCPConv(a, b, 41004, 80, cisn=94000).pkt(True, SYN, opts=SYN_OPTS)))
    conn(ts(sec=8), TCPConv(a, b, 41005, 80, cisn=5000, sisn=9000), close='half')
    P.append((ts(sec=9), TCPConv(a, b, 41005, 80, cisn=95000).pkt(True, SYN, opts=SYN_OPTS)))
    conn(ts(sec=10), TCPConv(a, b, 41006, 80, cisn=6000, sisn=10000))
    c = TCPConv(a, b, 41006, 80, cisn=96000, sisn=76000)
    c.seq[True] += 1   # the client's SYN (not captured) consumed one
    conn(ts(sec=11), c, (b'c' * 33, b'd' * 43), syn=False)
    conn(ts(sec=12), TCPConv('fd24::1', 'fd24::2', 41007, 80, cisn=7000, sisn=11000))
    conn(ts(sec=13), TCPConv('fd24::1', 'fd24::2', 41007, 80, cisn=97000, sisn=77000),
         (b'c' * 34, b'd' * 44))
    return P


def udp_reply_first_packets():
    """A DNS answer without its query: the answering server (sender of the
    first packet) is sa.  Then a second answer."""
    s, c = '8.8.8.8', '10.17.0.1'
    return [(ts(), udp(s, c, 53, 33333, dns_answer(0x0101, 'www.example.com', '203.0.113.80'),
                       ttl=120, ident=7)),
            (ts(ms=3), udp(c, s, 33333, 53, dns_query(0x0202, 'www.example.com'), ident=8))]


def many_packets():
    """UDP 10.2.0.1:5000 -> 10.2.0.2:6000: 1200 packets, packet i (0..1199)
    has 10 + i % 7 payload bytes, IPv4 id i + 1, sent at T0 + 2*i ms."""
    return [(ts(ms=2 * i), udp('10.2.0.1', '10.2.0.2', 5000, 6000, b'm' * (10 + i % 7),
                               ident=i + 1))
            for i in range(1200)]


def inactive_packets():
    a, b = '10.13.0.1', '10.13.0.2'
    return [(ts(), udp(a, b, 6001, 6002, b'1' * 10)),
            (ts(ms=1), udp(b, a, 6002, 6001, b'2' * 20)),
            (ts(sec=15), udp(a, b, 6001, 6002, b'3' * 30)),
            (ts(sec=15, ms=1), udp(b, a, 6002, 6001, b'4' * 40))]


def active_packets():
    """UDP 10.12.0.1:5001 -> 10.12.0.2:5002, packet k = 0..14 at T0 + 5k s + k ms,
    100 payload bytes each (the k ms keep every split clear of the 30 s edge)."""
    return [(ts(sec=5 * k, ms=k), udp('10.12.0.1', '10.12.0.2', 5001, 5002, b'a' * 100,
                                      ident=k))
            for k in range(15)]


def evict_packets():
    """UDP 10.11.0.1:(20000+i) -> 10.11.0.2:9999, flows i = 0..15 at i ms
    (payload 10+i), flow 0 again at 16 ms (payload 5), flows 16..19 at 17..20 ms.
    With max_flows=16, flows 1..4 are the least recently active when 16..19 arrive."""
    P = []
    for i in range(16):
        P.append((ts(ms=i), udp('10.11.0.1', '10.11.0.2', 20000 + i, 9999, b'e' * (10 + i))))
    P.append((ts(ms=16), udp('10.11.0.1', '10.11.0.2', 20000, 9999, b'E' * 5)))
    for i in range(16, 20):
        P.append((ts(ms=i + 1), udp('10.11.0.1', '10.11.0.2', 20000 + i, 9999,
                                    b'e' * (10 + i))))
    return P


def snaplen_packets():
    a, b = '10.5.0.1', '10.5.0.2'
    return [(ts(), udp(a, b, 5555, 5556, b'u' * 1000, ident=1)),
            (ts(ms=1), ip(a, b, 6, tcp_seg(a, b, 5557, 80, 1, 1, PSH | ACK, b't' * 1400),
                          ident=2))]


def snaplen_short_packets():
    """Captured with snaplen 38: Ethernet + IPv4 header + the UDP ports only
    (the UDP length is not captured); then an IPv6 packet cut inside its
    header (addresses incomplete: no flow can be formed)."""
    return [(ts(), udp('10.5.1.1', '10.5.1.2', 5555, 5556, b'u' * 1000, ident=3)),
            (ts(ms=1), udp('fd00:5::1', 'fd00:5::2', 5555, 5556, b'v' * 100))]


def eth_pad(l3):
    fr = eth(l3)
    return fr + b'\0' * max(0, 60 - len(fr))


def padding_packets():
    """Short frames padded to the Ethernet minimum of 60 bytes: the padding
    is not payload.  UDP 10.20.0.1:7777 -> 10.20.0.2:7778 with 2 bytes
    (44-byte frame); TCP 10.20.0.1:7779 -> 10.20.0.2:7780 pure ACK (54) then
    1 data byte (55) 1 ms later."""
    a, b = '10.20.0.1', '10.20.0.2'
    return [(ts(), udp(a, b, 7777, 7778, b'hi', ident=1)),
            (ts(ms=10), ip(a, b, 6, tcp_seg(a, b, 7779, 7780, 1, 1, ACK), ident=2)),
            (ts(ms=11), ip(a, b, 6, tcp_seg(a, b, 7779, 7780, 1, 1, PSH | ACK, b'!'), ident=3))]


TS_OPTS = b'\x01\x01' + struct.pack('!BBII', 8, 10, 12345, 0)


def tcp_seqwrap_packets():
    """Client ISN 0xffffff00: its three data segments (200, 200, 100 bytes,
    with 12 bytes of timestamp options) cross the 2^32 sequence wrap and are
    all new data, not retransmissions."""
    c = TCPConv('10.23.0.1', '10.23.0.2', 40200, 8443, cisn=0xFFFFFF00, sisn=0x7FFFFFF0)
    M = 1000000
    return [(ts(), c.pkt(True, SYN, opts=SYN_OPTS)),
            (ts() + 1 * M, c.pkt(False, SYN | ACK, opts=SYN_OPTS)),
            (ts() + 2 * M, c.pkt(True, ACK, opts=TS_OPTS)),
            (ts() + 3 * M, c.pkt(True, PSH | ACK, b'w' * 200, opts=TS_OPTS)),
            (ts() + 4 * M, c.pkt(True, PSH | ACK, b'w' * 200, opts=TS_OPTS)),
            (ts() + 5 * M, c.pkt(True, PSH | ACK, b'w' * 100, opts=TS_OPTS)),
            (ts() + 6 * M, c.pkt(False, ACK, opts=TS_OPTS)),
            (ts() + 7 * M, c.pkt(False, PSH | ACK, b'W' * 50, opts=TS_OPTS))]


def idle_other_packets():
    """Flow A (UDP 10.21.0.1:1000 -> 10.21.0.2:2000, 10 bytes) has one packet
    at T0; flow B (10.21.0.3:13000 -> 10.21.0.4:14000, 20 bytes) has a packet
    every 2 s from T0 to T0+20 s.  A is idle past the 10 s inactive timeout
    in packet time long before the input ends."""
    P = [(ts(), udp('10.21.0.1', '10.21.0.2', 1000, 2000, b'A' * 10))]
    P += [(ts(sec=2 * k, us=1), udp('10.21.0.3', '10.21.0.4', 13000, 14000, b'B' * 20))
          for k in range(11)]
    return P


def esp_packets():
    """ESP (50), no ports: IPv6 [2001:db8:e::1] -> [2001:db8:e::2] with 40
    bytes of ESP, IPv4 10.22.0.1 -> 10.22.0.2 with 48 bytes."""
    e1 = struct.pack('!II', 0x100, 1) + b'\xee' * 32
    e2 = struct.pack('!II', 0x200, 1) + b'\xdd' * 40
    return [(ts(), ipv6('2001:db8:e::1', '2001:db8:e::2', 50, e1)),
            (ts(ms=1), ipv4('10.22.0.1', '10.22.0.2', 50, e2, ident=5))]


def split_packets():
    a, b = '10.18.0.1', '10.18.0.2'
    return [(ts(ms=i), udp(a, b, 8001, 8002, b's' * (10 * (i + 1)))) if i % 2 == 0
            else (ts(ms=i), udp(b, a, 8002, 8001, b'S' * (10 * (i + 1))))
            for i in range(4)]


def nsec_packets():
    a, b = '172.16.2.1', '172.16.2.2'
    return [(ts(ns=123456321), udp(a, b, 1234, 4321, b'n' * 11)),
            (ts(ns=125456400), udp(b, a, 4321, 1234, b'N' * 22))]


def pcapng_frames(mixed):
    """if0: Ethernet, microseconds.  if1: raw IP (mixed) or Ethernet, nanoseconds.
    A: UDP 172.16.3.1:41111 -> 172.16.3.2:42222 (5 / 6 bytes) on if0 at T0+1us, T0+1001us.
    B: UDP 172.16.3.3:3333 -> 172.16.3.4:4444 (7 / 8 bytes) on if1 at
       T0+500000200ns, T0+502000300ns.
    C: UDP [fd00:3::1]:5555 -> [fd00:3::2]:6666 (9 bytes) on if0 at T0+1 s,
       reply (10 bytes) on if1 at T0+1s+3000100ns."""
    w1 = (lambda p: p) if mixed else eth
    return [(0, ts(us=1), eth(udp('172.16.3.1', '172.16.3.2', 41111, 42222, b'a' * 5))),
            (0, ts(us=1001), eth(udp('172.16.3.2', '172.16.3.1', 42222, 41111, b'b' * 6))),
            (1, ts(ns=500000200), w1(udp('172.16.3.3', '172.16.3.4', 3333, 4444, b'c' * 7))),
            (1, ts(ns=502000300), w1(udp('172.16.3.4', '172.16.3.3', 4444, 3333, b'd' * 8))),
            (0, ts(sec=1), eth(udp('fd00:3::1', 'fd00:3::2', 5555, 6666, b'e' * 9))),
            (1, ts(sec=1, ns=3000100), w1(udp('fd00:3::2', 'fd00:3::1', 6666, 5555,
                                               b'f' * 10)))]


def truncated_bytes():
    """Flow A (2 packets) and flow B (1 packet) complete, then flow C's record
    header announcing 100 captured bytes of which only 40 are present."""
    P = [(ts(), udp('10.19.0.1', '10.19.0.2', 31001, 32001, b'a' * 10)),
         (ts(ms=1), udp('10.19.0.2', '10.19.0.1', 32001, 31001, b'b' * 20)),
         (ts(ms=2), udp('10.19.0.3', '10.19.0.4', 31003, 32003, b'c' * 30)),
         (ts(ms=3), udp('10.19.0.5', '10.19.0.6', 31005, 32005, b'd' * 58))]
    full = pcap_bytes(DLT_EN10MB, wrap(eth, P))
    # frames: 14 + 20 + 8 + payload: 52, 62, 72, 100
    rec4 = 24 + (16 + 52) + (16 + 62) + (16 + 72)   # = 258, offset of the 4th record
    assert struct.unpack('<I', full[rec4 + 8:rec4 + 12])[0] == 100
    return full[:rec4 + 16 + 40], rec4


def captures():
    """name -> bytes for every capture (directories as 'dir/name')."""
    C = {}
    C['sample.pcap'] = pcap_bytes(DLT_EN10MB, wrap(eth, sample_packets()))
    B = basic_packets()
    C['link_eth.pcap'] = pcap_bytes(DLT_EN10MB, wrap(eth, B))
    C['link_vlan.pcap'] = pcap_bytes(DLT_EN10MB, wrap(vlan, B))
    C['link_qinq.pcap'] = pcap_bytes(DLT_EN10MB, wrap(qinq, B))
    C['link_mpls.pcap'] = pcap_bytes(DLT_EN10MB, wrap(mpls, B))
    C['link_raw101.pcap'] = pcap_bytes(LINKTYPE_RAW, B)
    C['link_raw12.pcap'] = pcap_bytes(DLT_RAW12, B)
    C['link_raw14.pcap'] = pcap_bytes(DLT_RAW14, B)
    C['link_ipv4_228.pcap'] = pcap_bytes(LINKTYPE_IPV4, basic_packets(v6=False))
    C['link_ipv6_229.pcap'] = pcap_bytes(LINKTYPE_IPV6, basic_packets(v4=False))
    C['link_sll.pcap'] = pcap_bytes(LINKTYPE_SLL, wrap(sll, B))
    C['link_sll2.pcap'] = pcap_bytes(LINKTYPE_SLL2, wrap(sll2, B))
    C['link_null.pcap'] = pcap_bytes(DLT_NULL, null_frames('<'))
    C['link_null_be.pcap'] = pcap_bytes(DLT_NULL, null_frames('>'), big=True)
    C['link_loop.pcap'] = pcap_bytes(LINKTYPE_LOOP, null_frames('<', network_order=True))
    C['link_80211.pcap'] = pcap_bytes(LINKTYPE_IEEE802_11, wrap(wifi, B))
    W = [(t, wifi_qos(p, protected=(i == 1))) for i, (t, p) in enumerate(B)]
    C['link_80211_qos.pcap'] = pcap_bytes(LINKTYPE_IEEE802_11, W)
    C['link_radiotap.pcap'] = pcap_bytes(127, [(t, radiotap(f)) for t, f in wrap(wifi, B)])
    C['link_ppi.pcap'] = pcap_bytes(192, [(t, ppi(f)) for t, f in wrap(wifi, B)])
    C['link_nflog.pcap'] = pcap_bytes(239, wrap(nflog, B))
    C['link_pflog.pcap'] = pcap_bytes(117, wrap(pflog, B))
    C['link_fddi.pcap'] = pcap_bytes(10, wrap(fddi, B))
    C['link_ipnet.pcap'] = pcap_bytes(226, wrap(ipnet, B))
    C['link_user0.pcap'] = pcap_bytes(147, wrap(eth, B))
    C['tunnel_udp.pcap'] = pcap_bytes(DLT_EN10MB, wrap(eth, tunnel_udp_packets()))
    C['tunnel_gre.pcap'] = pcap_bytes(DLT_EN10MB, wrap(eth, tunnel_gre_packets()))
    C['tunnel_ipip.pcap'] = pcap_bytes(DLT_EN10MB, wrap(eth, tunnel_ipip_packets()))
    C['pcap_nsec.pcap'] = pcap_bytes(DLT_EN10MB, wrap(eth, nsec_packets()), nano=True)
    C['pcap_be.pcap'] = pcap_bytes(DLT_EN10MB, wrap(eth, B), big=True)
    C['pcapng_mixed.pcapng'] = pcapng_bytes([(DLT_EN10MB, None), (LINKTYPE_RAW, 9)],
                                            pcapng_frames(True))
    C['pcapng_eth2.pcapng'] = pcapng_bytes([(DLT_EN10MB, None), (DLT_EN10MB, 9)],
                                           pcapng_frames(False))
    C['pcapng_be.pcapng'] = pcapng_be_bytes()
    C['pcapng_sections.pcapng'] = pcapng_sections_bytes()
    C['pcap_truncated.pcap'] = truncated_bytes()[0]
    C['pcap_header_only.pcap'] = pcap_bytes(DLT_EN10MB, [])
    C['pcap_empty.pcap'] = b''
    C['pcap_garbage.pcap'] = bytes((i * 37 + 11) & 0xff for i in range(300))
    C['ipv4_options.pcap'] = pcap_bytes(DLT_EN10MB, wrap(eth, ipv4_options_packets()))
    C['ipv6_ext.pcap'] = pcap_bytes(DLT_EN10MB, wrap(eth, ipv6_ext_packets()))
    C['sctp.pcap'] = pcap_bytes(DLT_EN10MB, wrap(eth, sctp_packets()))
    C['gre.pcap'] = pcap_bytes(DLT_EN10MB, wrap(eth, gre_packets()))
    C['icmp.pcap'] = pcap_bytes(DLT_EN10MB, wrap(eth, icmp_packets()))
    C['frag4.pcap'] = pcap_bytes(DLT_EN10MB, wrap(eth, frag4_packets()))
    C['frag4_ooo.pcap'] = pcap_bytes(DLT_EN10MB, wrap(eth, frag4_packets(ooo=True)))
    C['frag6.pcap'] = pcap_bytes(DLT_EN10MB, wrap(eth, frag6_packets()))
    C['tcp_retrans.pcap'] = pcap_bytes(DLT_EN10MB, wrap(eth, tcp_retrans_packets()))
    C['tcp_synack_first.pcap'] = pcap_bytes(DLT_EN10MB, wrap(eth, tcp_synack_first_packets()))
    C['tcp_syn_late.pcap'] = pcap_bytes(DLT_EN10MB, wrap(eth, tcp_syn_late_packets()))
    C['tcp_reuse.pcap'] = pcap_bytes(DLT_EN10MB, wrap(eth, tcp_reuse_packets()))
    C['udp_reply_first.pcap'] = pcap_bytes(DLT_EN10MB, wrap(eth, udp_reply_first_packets()))
    C['udp_1200.pcap'] = pcap_bytes(LINKTYPE_RAW, many_packets())
    C['timeout_inactive.pcap'] = pcap_bytes(DLT_EN10MB, wrap(eth, inactive_packets()))
    C['timeout_active.pcap'] = pcap_bytes(DLT_EN10MB, wrap(eth, active_packets()))
    C['evict.pcap'] = pcap_bytes(DLT_EN10MB, wrap(eth, evict_packets()))
    C['snaplen.pcap'] = pcap_bytes(DLT_EN10MB, wrap(eth, snaplen_packets()), snaplen=64)
    C['snaplen_short.pcap'] = pcap_bytes(DLT_EN10MB, wrap(eth, snaplen_short_packets()),
                                         snaplen=38)
    C['eth_padding.pcap'] = pcap_bytes(DLT_EN10MB, wrap(eth_pad, padding_packets()))
    C['tcp_seqwrap.pcap'] = pcap_bytes(DLT_EN10MB, wrap(eth, tcp_seqwrap_packets()))
    C['timeout_idle_other.pcap'] = pcap_bytes(DLT_EN10MB, wrap(eth, idle_other_packets()))
    C['esp.pcap'] = pcap_bytes(DLT_EN10MB, wrap(eth, esp_packets()))
    S = wrap(eth, split_packets())
    C['split_a.pcap'] = pcap_bytes(DLT_EN10MB, S[:2])
    C['split_b.pcap'] = pcap_bytes(DLT_EN10MB, S[2:])
    C['splitdir/01.pcap'] = C['split_a.pcap']
    C['splitdir/02.pcap'] = C['split_b.pcap']
    return C


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    outdir = os.path.join(here, 'data')
    only = []
    args = list(argv)
    while args:
        a = args.pop(0)
        if a == '--only':
            if not args:
                sys.stderr.write('gen_pcaps.py: --only needs a name\n')
                return 2
            only.append(args.pop(0))
        elif a in ('-h', '--help'):
            print(__doc__)
            return 0
        else:
            outdir = a
    bad = community_id_selftest()
    if bad:
        sys.stderr.write('community_id self-test failed:\n  ' + '\n  '.join(bad) + '\n')
        return 1
    caps = captures()
    for n in only:
        if n not in caps:
            sys.stderr.write('gen_pcaps.py: unknown capture %s\n' % n)
            return 2
    for name, data in sorted(caps.items()):
        if only and name not in only:
            continue
        path = os.path.join(outdir, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'wb') as f:
            f.write(data)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))

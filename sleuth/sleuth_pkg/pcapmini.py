"""A minimal capture reader used by the fingerprint tools and the tests.

sleuth itself hands captures to joy; this module only exists so that the
fingerprint database builder (tools/fpdb_from_pcap.py) and the JA3/JA4 tests
can find the ClientHellos in a capture without joy.  It reads classic pcap
(µs and ns, either byte order) and pcapng (SHB/IDB/EPB/SPB blocks), decodes
Ethernet (with 802.1Q tags), Linux SLL/SLL2, BSD loopback and raw IP, IPv4
and IPv6 (skipping the common extension headers), and TCP.  TCP payload is
put back in sequence order per direction (first 64 KiB only), which is enough
to rebuild a ClientHello that spans several segments.
"""

import re
import struct

LINK_ETHERNET, LINK_NULL, LINK_RAW, LINK_LOOP, LINK_SLL, LINK_SLL2 = 1, 0, 101, 108, 113, 276
LINK_RAW_ALIASES = (12, 14, 228, 229)


def read_packets(path):
    """Yield ``(timestamp, linktype, frame bytes)`` for every packet of a capture."""
    with open(path, "rb") as handle:
        data = handle.read()
    if data[:4] == b"\x0a\x0d\x0d\x0a":
        yield from _pcapng_packets(data)
    else:
        yield from _pcap_packets(data)


def _pcap_packets(data):
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        raise ValueError("not a pcap or pcapng file")
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    linktype = struct.unpack(endian + "I", data[20:24])[0] & 0x0fffffff
    pos = 24
    while pos + 16 <= len(data):
        sec, frac, caplen, _ = struct.unpack(endian + "IIII", data[pos:pos + 16])
        pos += 16
        frame = data[pos:pos + caplen]
        pos += caplen
        yield sec + frac / (1e9 if nano else 1e6), linktype, frame


def _pcapng_packets(data):
    pos = 0
    endian = "<"
    interfaces = []
    while pos + 12 <= len(data):
        if data[pos:pos + 4] == b"\x0a\x0d\x0d\x0a":
            endian = "<" if data[pos + 8:pos + 12] == b"\x4d\x3c\x2b\x1a" else ">"
            interfaces = []
        btype, blen = struct.unpack(endian + "II", data[pos:pos + 8])
        if blen < 12:
            break
        body = data[pos + 8:pos + blen - 4]
        if btype == 1:                                  # interface description
            linktype = struct.unpack(endian + "H", body[:2])[0]
            interfaces.append((linktype, _if_resolution(body[8:], endian)))
        elif btype == 6 and len(body) >= 20:            # enhanced packet
            ifid, high, low, caplen, _ = struct.unpack(endian + "IIIII", body[:20])
            linktype, resolution = interfaces[ifid] if ifid < len(interfaces) else (1, 1e-6)
            stamp = ((high << 32) | low) * resolution
            yield stamp, linktype, body[20:20 + caplen]
        elif btype == 3 and len(body) >= 4:             # simple packet
            linktype = interfaces[0][0] if interfaces else 1
            yield 0.0, linktype, body[4:]
        pos += blen


def _if_resolution(options, endian):
    """Seconds per timestamp unit from an IDB's if_tsresol option (default µs)."""
    pos = 0
    while pos + 4 <= len(options):
        code, length = struct.unpack(endian + "HH", options[pos:pos + 4])
        if code == 0:
            break
        if code == 9 and length >= 1:
            value = options[pos + 4]
            return 2.0 ** -(value & 0x7f) if value & 0x80 else 10.0 ** -value
        pos += 4 + ((length + 3) & ~3)
    return 1e-6


def ip_payload(linktype, frame):
    """Return the IP packet inside a link-layer frame, or None."""
    if linktype == LINK_ETHERNET:
        pos, ethertype = 14, frame[12:14]
        while ethertype in (b"\x81\x00", b"\x88\xa8") and len(frame) >= pos + 4:
            ethertype = frame[pos + 2:pos + 4]
            pos += 4
        return frame[pos:] if ethertype in (b"\x08\x00", b"\x86\xdd") else None
    if linktype in (LINK_NULL, LINK_LOOP):
        return frame[4:]
    if linktype == LINK_RAW or linktype in LINK_RAW_ALIASES:
        return frame
    if linktype == LINK_SLL:
        return frame[16:] if frame[14:16] in (b"\x08\x00", b"\x86\xdd") else None
    if linktype == LINK_SLL2:
        return frame[20:] if frame[0:2] in (b"\x08\x00", b"\x86\xdd") else None
    return None


def tcp_segment(packet):
    """``(src, dst, sport, dport, seq, flags, payload)`` of a TCP/IP packet, or None."""
    if not packet:
        return None
    version = packet[0] >> 4
    if version == 4 and len(packet) >= 20:
        ihl = (packet[0] & 0x0f) * 4
        total = int.from_bytes(packet[2:4], "big")
        if packet[9] != 6 or (int.from_bytes(packet[6:8], "big") & 0x1fff):
            return None
        src, dst = packet[12:16], packet[16:20]
        segment = packet[ihl:total] if total >= ihl else packet[ihl:]
    elif version == 6 and len(packet) >= 40:
        nxt, pos = packet[6], 40
        while nxt in (0, 43, 60) and len(packet) >= pos + 8:
            nxt, pos = packet[pos], pos + 8 * (packet[pos + 1] + 1)
        if nxt != 6:
            return None
        src, dst = packet[8:24], packet[24:40]
        segment = packet[pos:40 + int.from_bytes(packet[4:6], "big")]
    else:
        return None
    if len(segment) < 20:
        return None
    sport, dport, seq = struct.unpack(">HHI", segment[:8])
    offset = (segment[12] >> 4) * 4
    return src, dst, sport, dport, seq, segment[13], segment[offset:]


def tcp_streams(path, limit=65536):
    """Map ``(src, dst, sport, dport)`` -> first ``limit`` bytes of that direction's stream."""
    segments = {}
    isn = {}
    for _, linktype, frame in read_packets(path):
        packet = ip_payload(linktype, frame)
        parsed = tcp_segment(packet) if packet else None
        if parsed is None:
            continue
        src, dst, sport, dport, seq, flags, payload = parsed
        key = (src, dst, sport, dport)
        if flags & 0x02:                                 # SYN
            isn[key] = (seq + 1) & 0xffffffff
        if payload:
            segments.setdefault(key, {}).setdefault(seq, payload)
    streams = {}
    for key, by_seq in segments.items():
        start = isn.get(key, min(by_seq))
        data = bytearray()
        expected = start
        for seq in sorted(by_seq, key=lambda s: (s - start) & 0xffffffff):
            payload = by_seq[seq]
            skip = (expected - seq) & 0xffffffff
            if skip >= len(payload) and skip < 0x80000000:
                continue                                 # retransmission
            if skip >= 0x80000000:
                break                                    # gap
            data += payload[skip:]
            expected = (seq + len(payload)) & 0xffffffff
            if len(data) >= limit:
                break
        streams[key] = bytes(data[:limit])
    return streams


_HELLO_RECORD = re.compile(rb"\x16\x03[\x00-\x04]..\x01", re.S)


def client_hello_bodies(stream):
    """ClientHello handshake bodies found at the start of a TLS byte stream."""
    handshake = bytearray()
    pos = 0
    if stream[:1] != b"\x16":
        # e.g. TLS after an HTTP CONNECT exchange: look for a ClientHello record
        found = _HELLO_RECORD.search(stream)
        if found is None:
            return []
        pos = found.start()
    while pos + 5 <= len(stream) and stream[pos] == 0x16:
        length = int.from_bytes(stream[pos + 3:pos + 5], "big")
        handshake += stream[pos + 5:pos + 5 + length]
        pos += 5 + length
        if len(handshake) >= 4:
            body_len = int.from_bytes(handshake[1:4], "big")
            if len(handshake) >= 4 + body_len:
                break
    if len(handshake) >= 4 and handshake[0] == 1:
        body_len = int.from_bytes(handshake[1:4], "big")
        if len(handshake) >= 4 + body_len:
            return [bytes(handshake[4:4 + body_len])]
    return []


def address_text(raw):
    """Dotted-quad or RFC 5952 text for 4- or 16-byte addresses."""
    import ipaddress
    return str(ipaddress.ip_address(bytes(raw)))

"""Write small classic pcap files for the tests (Ethernet/IPv4, hand-built packets)."""

import struct


def _checksum(data):
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xffff) + (total >> 16)
    return ~total & 0xffff


def _ip4(text):
    return bytes(int(x) for x in text.split("."))


def _ipv4(src, dst, proto, payload, ident):
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, 0x4000, 64, proto,
                         0, _ip4(src), _ip4(dst))
    header = header[:10] + struct.pack("!H", _checksum(header)) + header[12:]
    return header + payload


def _tcp(src, dst, sport, dport, seq, ack, flags, payload=b"", opts=b""):
    opts += b"\x00" * (-len(opts) % 4)
    offset = (5 + len(opts) // 4) << 4
    segment = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, offset, flags, 65535, 0, 0) + opts
    pseudo = _ip4(src) + _ip4(dst) + struct.pack("!BBH", 0, 6, len(segment) + len(payload))
    check = _checksum(pseudo + segment + payload)
    return segment[:16] + struct.pack("!H", check) + segment[18:] + payload


def _udp(src, dst, sport, dport, payload):
    header = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0)
    pseudo = _ip4(src) + _ip4(dst) + struct.pack("!BBH", 0, 17, 8 + len(payload))
    check = _checksum(pseudo + header + payload) or 0xffff
    return header[:6] + struct.pack("!H", check) + payload


def _ether(ip_packet):
    return b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00" + ip_packet


def _dns_name(name):
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\x00"


def dns_query(ident, name):
    return struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + _dns_name(name) \
        + struct.pack("!HH", 1, 1)


def dns_answer(ident, name, address, ttl=300):
    question = _dns_name(name) + struct.pack("!HH", 1, 1)
    answer = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, ttl, 4) + _ip4(address)
    return struct.pack("!HHHHHH", ident, 0x8180, 1, 1, 0, 0) + question + answer


REQUEST = b"GET / HTTP/1.1\r\nHost: example.test\r\nUser-Agent: sleuth-test\r\n\r\n"
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello"


def sample_packets(base=1700000000.0):
    """(timestamp, frame) list: a DNS exchange, then an HTTP/TCP connection to the answer."""
    client, resolver, server = "10.0.0.1", "10.0.0.53", "10.0.0.2"
    frames = []

    def add(offset, packet):
        frames.append((base + offset, _ether(packet)))

    add(0.000, _ipv4(client, resolver, 17, _udp(client, resolver, 40000, 53,
                                                 dns_query(0x1234, "example.test")), 1))
    add(0.010, _ipv4(resolver, client, 17, _udp(resolver, client, 53, 40000,
                                                 dns_answer(0x1234, "example.test", server)), 2))
    cseq, sseq = 1000, 5000
    add(0.100, _ipv4(client, server, 6, _tcp(client, server, 40001, 80, cseq, 0, 0x02), 3))
    add(0.101, _ipv4(server, client, 6, _tcp(server, client, 80, 40001, sseq, cseq + 1, 0x12), 4))
    add(0.102, _ipv4(client, server, 6, _tcp(client, server, 40001, 80, cseq + 1, sseq + 1,
                                             0x10), 5))
    add(0.103, _ipv4(client, server, 6, _tcp(client, server, 40001, 80, cseq + 1, sseq + 1,
                                             0x18, REQUEST), 6))
    add(0.120, _ipv4(server, client, 6, _tcp(server, client, 80, 40001, sseq + 1,
                                             cseq + 1 + len(REQUEST), 0x18, RESPONSE), 7))
    add(0.121, _ipv4(client, server, 6, _tcp(client, server, 40001, 80, cseq + 1 + len(REQUEST),
                                             sseq + 1 + len(RESPONSE), 0x11), 8))
    add(0.122, _ipv4(server, client, 6, _tcp(server, client, 80, 40001, sseq + 1 + len(RESPONSE),
                                             cseq + 2 + len(REQUEST), 0x11), 9))
    add(0.123, _ipv4(client, server, 6, _tcp(client, server, 40001, 80, cseq + 2 + len(REQUEST),
                                             sseq + 2 + len(RESPONSE), 0x10), 10))
    return frames


def write_pcap(path, frames):
    """Classic little-endian microsecond pcap, Ethernet link type."""
    with open(path, "wb") as handle:
        handle.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        for stamp, frame in frames:
            sec = int(stamp)
            usec = int(round((stamp - sec) * 1e6))
            handle.write(struct.pack("<IIII", sec, usec, len(frame), len(frame)))
            handle.write(frame)


# Linux's SYN options: MSS 1460, SACK permitted, timestamps, NOP, window scale 7
LINUX_SYN_OPTIONS = (b"\x02\x04\x05\xb4" + b"\x04\x02" + b"\x08\x0a" + b"\x00" * 8 + b"\x01"
                     + b"\x03\x03\x07")


def client_hello_record(hello, sni):
    """A TLS handshake record carrying a ClientHello built from a Hello tuple (tlsfp):
    extensions without data get empty data, except server_name, which names ``sni``."""
    version, ciphers, extensions = hello
    ext_bytes = b""
    for etype, data in extensions:
        if etype == 0:
            name = sni.encode()
            data = struct.pack("!HBH", len(name) + 3, 0, len(name)) + name
        ext_bytes += struct.pack("!HH", etype, len(data or b"")) + (data or b"")
    body = (struct.pack("!H", version) + bytes(range(32)) + b"\x00"
            + struct.pack("!H", 2 * len(ciphers)) + b"".join(struct.pack("!H", c) for c in ciphers)
            + b"\x01\x00" + struct.pack("!H", len(ext_bytes)) + ext_bytes)
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack("!H", len(handshake)) + handshake


def server_hello_record(suite=0x1302):
    exts = (struct.pack("!HHH", 0x002b, 2, 0x0304)
            + struct.pack("!HHHH", 0x0033, 36, 0x001d, 32) + bytes(32))
    body = (b"\x03\x03" + bytes(range(32, 64)) + b"\x00" + struct.pack("!H", suite) + b"\x00"
            + struct.pack("!H", len(exts)) + exts)
    handshake = b"\x02" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x03" + struct.pack("!H", len(handshake)) + handshake


def tls_packets(hello, sni="www.example.com", base=1700000100.0, sport=40443):
    """(timestamp, frame) list: a TCP connection from 10.0.0.1 to 10.0.0.2:443 whose client
    sends a Linux SYN and a ClientHello (``hello``: a tlsfp Hello tuple), the server a
    ServerHello, then both close."""
    client, server = "10.0.0.1", "10.0.0.2"
    frames = []

    def add(offset, packet):
        frames.append((base + offset, _ether(packet)))

    ch, sh = client_hello_record(hello, sni), server_hello_record()
    c, s = 1000, 5000
    add(0.000, _ipv4(client, server, 6, _tcp(client, server, sport, 443, c, 0, 0x02,
                                             opts=LINUX_SYN_OPTIONS), 1))
    add(0.001, _ipv4(server, client, 6, _tcp(server, client, 443, sport, s, c + 1, 0x12,
                                             opts=LINUX_SYN_OPTIONS), 2))
    add(0.002, _ipv4(client, server, 6, _tcp(client, server, sport, 443, c + 1, s + 1, 0x10), 3))
    add(0.003, _ipv4(client, server, 6, _tcp(client, server, sport, 443, c + 1, s + 1, 0x18,
                                             ch), 4))
    add(0.010, _ipv4(server, client, 6, _tcp(server, client, 443, sport, s + 1, c + 1 + len(ch),
                                             0x18, sh), 5))
    add(0.011, _ipv4(client, server, 6, _tcp(client, server, sport, 443, c + 1 + len(ch),
                                             s + 1 + len(sh), 0x11), 6))
    add(0.012, _ipv4(server, client, 6, _tcp(server, client, 443, sport, s + 1 + len(sh),
                                             c + 2 + len(ch), 0x11), 7))
    add(0.013, _ipv4(client, server, 6, _tcp(client, server, sport, 443, c + 2 + len(ch),
                                             s + 2 + len(sh), 0x10), 8))
    return frames

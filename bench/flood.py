#!/usr/bin/env python3
"""Write a pcap stream of N distinct TCP SYN flows (a SYN flood) to stdout.

  python3 bench/flood.py N [PACKETS_PER_SECOND] [--gap SECONDS] | joy -r - max_flows=100000 -w /dev/null

Every packet has its own source address and port (deterministic, no
randomness), 1 microsecond ... apart at the given rate (default 1,000,000/s),
so all N flows are open at once unless max_flows evicts them.  Used to check
that memory stays bounded by max_flows (see doc/robustness.md).

--gap SECONDS spaces the packets SECONDS apart instead (e.g. 11, more than
the default inactive_timeout of 10 s): the same flows then arrive one at a
time, each expiring before the next opens (bench/flood_bench.py compares
the two).
"""
import struct
import sys


def main():
    args = sys.argv[1:]
    gap_ns = None
    if "--gap" in args:
        i = args.index("--gap")
        gap_ns = int(float(args[i + 1]) * 1e9)
        del args[i:i + 2]
    n = int(args[0])
    rate = int(args[1]) if len(args) > 1 else 1000000
    out = sys.stdout.buffer
    out.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
    eth = b"\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\x08\x00"
    dst = bytes([192, 0, 2, 1])
    rec = struct.Struct("<IIII")
    iph = struct.Struct("!BBHHHBBH4s4s")
    tcp_tail = struct.pack("!IIBBHHH", 1, 0, 0x50, 0x02, 65535, 0, 0)
    chunk = []
    t0 = 1600000000 * 1000000
    for i in range(n):
        src = bytes([10, (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff])
        sport = 1024 + (i >> 24) * 1000
        ip = iph.pack(0x45, 0, 40, i & 0xffff, 0, 64, 6, 0, src, dst)
        tcp = struct.pack("!HH", sport, 80) + tcp_tail
        t = t0 + (i * gap_ns // 1000 if gap_ns is not None else i * 1000000 // rate)
        chunk.append(rec.pack(t // 1000000, t % 1000000, 54, 54) + eth + ip + tcp)
        if len(chunk) == 4096:
            out.write(b"".join(chunk))
            chunk = []
    out.write(b"".join(chunk))
    out.flush()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Kafka output (-w kafka://...) against librdkafka's mock cluster.

test/kafka/mock_cluster.c (built here with cc -lrdkafka) starts a 3-broker
cluster on loopback ports and reads topics back.  Checks: every record
reaches Kafka once, byte-equal to the file output, keyed by community_id
(5-tuple text without it), also with threads=2 (through the writer
thread), the metadata line on TOPIC.meta; brokers stopped
in the middle of a run lose and duplicate nothing (idempotent producer);
an unreachable cluster makes joy exit 1 naming the undelivered records;
joy -V names the sink.  Skips when joy was built without Kafka or
librdkafka-dev is missing.

Interpreter: any Python 3 (standard library only).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JOY = os.environ.get("JOY", os.path.join(ROOT, "joy"))
R = {"passed": 0, "failed": 0, "skipped": 0}


def check(name, ok, detail=""):
    R["passed" if ok else "failed"] += 1
    print("%s %s%s" % ("ok  " if ok else "FAIL", name, "" if ok else ": " + str(detail)[:600]))


class Cluster:
    def __init__(self, exe):
        self.p = subprocess.Popen([exe, "3"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True, bufsize=1)
        self.bootstrap = self.p.stdout.readline().strip()

    def cmd(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        return self.p.stdout.readline().strip()

    def consume(self, topic, count, ms=20000):
        self.p.stdin.write("consume %s %d %d\n" % (topic, count, ms))
        self.p.stdin.flush()
        msgs = []
        while True:
            line = self.p.stdout.readline()
            if not line or line.startswith("end"):
                return msgs
            head, _, value = line.rstrip("\n").partition("\t")
            parts = head.split(" ", 4)
            msgs.append((int(parts[1]), parts[4] if len(parts) > 4 else "", value))

    def close(self):
        try:
            self.p.stdin.close()
            self.p.wait(timeout=20)
        except Exception:  # noqa: BLE001
            self.p.kill()


def lines_of(path):
    with open(path) as f:
        return f.read().splitlines()


def main():
    v = subprocess.run([JOY, "-V"], stdout=subprocess.PIPE, text=True).stdout
    if "kafka" not in v:
        rc = subprocess.run([JOY, "-r", os.path.join(ROOT, "test/data/sample.pcap"), "-w",
                             "kafka://127.0.0.1:9/t"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
        check("a Kafka-less build refuses kafka:// with a clear message",
              rc.returncode != 0 and "without Kafka" in rc.stderr, rc.stderr)
        print("skip: joy was built without Kafka (librdkafka-dev)")
        R["skipped"] += 1
        return finish()
    tmp = tempfile.mkdtemp(prefix="joy-kafka-")
    exe = os.path.join(tmp, "mock_cluster")
    b = subprocess.run(["cc", "-O1", "-o", exe, os.path.join(ROOT, "test/kafka/mock_cluster.c"),
                        "-lrdkafka"], stderr=subprocess.PIPE, text=True)
    if b.returncode != 0:
        print("skip: cannot build test/kafka/mock_cluster.c: %s" % b.stderr[:200])
        R["skipped"] += 1
        return finish()
    try:
        subprocess.run([sys.executable, os.path.join(ROOT, "test", "gen_pcaps.py"), tmp],
                       check=True, stdout=subprocess.DEVNULL)
        run(tmp, exe)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return finish()


def many_flows_pcap(path, n=3000):
    """n UDP request/response flows over 30 s of packet time (raw IP)."""
    import struct
    out = [struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 101)]
    t0 = 1700000000.0
    for i in range(n):
        for k, (src, dst, sp, dp) in enumerate(((0x0a000001, 0x0a000002, 10000 + i % 50000, 53),
                                                (0x0a000002, 0x0a000001, 53, 10000 + i % 50000))):
            payload = b"q%06d" % i
            udp = struct.pack(">HHHH", sp, dp, 8 + len(payload), 0) + payload
            ip = struct.pack(">BBHHHBBHII", 0x45, 0, 20 + len(udp), i & 0xffff, 0, 64, 17, 0,
                             src + (i // 50000), dst) + udp
            t = t0 + i * 0.01 + k * 0.001
            out.append(struct.pack("<IIII", int(t), int((t % 1) * 1e6), len(ip), len(ip)) + ip)
    with open(path, "wb") as f:
        f.write(b"".join(out))


def pcap_split(path):
    """The global header and the records of a classic pcap file."""
    import struct
    data = open(path, "rb").read()
    magic = data[:4]
    e = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    recs, off = [], 24
    while off + 16 <= len(data):
        n = struct.unpack(e + "I", data[off + 8:off + 12])[0]
        recs.append(data[off:off + 16 + n])
        off += 16 + n
    return data[:24], recs


def run(tmp, exe):
    sample = os.path.join(ROOT, "test", "data", "sample.pcap")
    caps = sorted(os.path.join(tmp, n) for n in os.listdir(tmp) if n.endswith(".pcap"))
    c = Cluster(exe)
    try:
        check("mock cluster started", bool(c.bootstrap), c.bootstrap)
        c.cmd("topic joy.flows 4")
        out = os.path.join(tmp, "k.json")
        args = [JOY, "-w", out, "-w", "kafka://%s/joy.flows" % c.bootstrap, "bidir=1",
                "verbosity=2", sample] + caps[:20]
        p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=120)
        check("joy -w FILE -w kafka:// exits 0 (as joy -w FILE does)",
              p.returncode == subprocess.run(args[:1] + ["-w", os.devnull] + args[5:],
                                             stdout=subprocess.DEVNULL,
                                             stderr=subprocess.DEVNULL).returncode,
              p.stderr[-500:])
        recs = lines_of(out)[1:]
        # the summary comes after the flush: every record counted as delivered
        check("the exit summary counts every delivery (%d produced, %d delivered)" % (
              len(recs) + 1, len(recs) + 1),
              "%d messages produced, %d delivered, 0 failed" % (len(recs) + 1, len(recs) + 1)
              in p.stderr, p.stderr[-500:])
        msgs = c.consume("joy.flows", len(recs) + 10, 15000)
        values = sorted(m[2] for m in msgs)
        check("every record reaches Kafka once, byte-equal to the file (%d)" % len(recs),
              values == sorted(recs), "%d messages, %d records" % (len(msgs), len(recs)))
        keyed = all(m[1] == json.loads(m[2]).get("community_id") for m in msgs)
        check("the key is the record's community_id", keyed and msgs, msgs[:1])
        parts = {}
        for part, key, _ in msgs:
            parts.setdefault(key, set()).add(part)
        check("all records of a key in one partition", all(len(s) == 1 for s in parts.values()))
        meta = c.consume("joy.flows.meta", 1, 10000)
        check("the metadata line goes to TOPIC.meta with key 'metadata'",
              len(meta) == 1 and meta[0][2] == lines_of(out)[0] and meta[0][1] == "metadata",
              meta[:1])

        # threads=2: every worker's records through the writer thread, keyed
        c.cmd("topic joy.threads 4")
        out_t = os.path.join(tmp, "kt.json.gz")
        p = subprocess.run([JOY, "-w", out_t, "-w", "kafka://%s/joy.threads" % c.bootstrap,
                            "threads=2"] + args[5:], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=120)
        msgs = c.consume("joy.threads", len(recs) + 10, 15000)
        import gzip
        trecs = gzip.open(out_t).read().decode().splitlines()[1:]
        check("threads=2: every record reaches Kafka once, = threads=1's records (%d)" % len(msgs),
              sorted(m[2] for m in msgs) == sorted(recs) == sorted(trecs) and
              all(m[1] == json.loads(m[2]).get("community_id") for m in msgs),
              "%d messages, %d records, %s" % (len(msgs), len(recs), p.stderr[-300:]))

        # community_id=0: the key is the 5-tuple text
        out2 = os.path.join(tmp, "k2.json")
        p = subprocess.run([JOY, "-w", out2, "-w", "kafka://%s/joy.nocid" % c.bootstrap,
                            "community_id=0", sample], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=60)
        msgs = c.consume("joy.nocid", len(lines_of(out2)) - 1, 15000)
        ok = p.returncode == 0 and msgs
        for _, key, value in msgs:
            r = json.loads(value)
            ends = sorted([(r["sa"], r["sp"] or 0), (r["da"], r["dp"] or 0)])
            ok = ok and key.split(" ")[0] == str(r["pr"]) and len(key.split(" ")) == 5 and \
                r["sa"] in key and r["da"] in key
        check("community_id=0: key = 'PROTO ADDR PORT ADDR PORT'", ok, msgs[:1])

        # brokers down in the middle of a run: nothing lost, nothing twice
        big = os.path.join(tmp, "many.pcap")
        many_flows_pcap(big)
        head, frames = pcap_split(big)
        out3 = os.path.join(tmp, "k3.json")
        c.cmd("topic joy.down 4")
        j = subprocess.Popen([JOY, "-r", "-", "-w", out3, "-w",
                              "kafka://%s/joy.down" % c.bootstrap, "inactive_timeout=1",
                              "kafka_flush_timeout=60", "verbosity=2"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        half = len(frames) // 2
        j.stdin.write(head + b"".join(frames[:half]))
        j.stdin.flush()
        time.sleep(0.5)
        for bid in (1, 2, 3):
            c.cmd("down %d" % bid)
        j.stdin.write(b"".join(frames[half:]))
        j.stdin.close()
        time.sleep(2)
        for bid in (1, 2, 3):
            c.cmd("up %d" % bid)
        err = j.stderr.read()
        j.wait(timeout=120)
        recs3 = lines_of(out3)[1:]
        msgs = c.consume("joy.down", len(recs3) + 10, 20000)
        check("brokers down mid-run: joy exits 0 after they return", j.returncode == 0,
              err.decode()[-400:])
        check("brokers down mid-run: every record once (%d), none duplicated" % len(recs3),
              sorted(m[2] for m in msgs) == sorted(recs3),
              "%d messages for %d records" % (len(msgs), len(recs3)))
    finally:
        c.close()

    # nobody there: bounded wait, exit 1, the count of undelivered records
    t0 = time.time()
    p = subprocess.run([JOY, "-w", os.devnull, "-w", "kafka://127.0.0.1:9/nowhere",
                        "kafka_flush_timeout=2", "kafka_property=message.timeout.ms=1500",
                        sample], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=60)
    check("an unreachable cluster: exit 1 within the flush timeout, undelivered counted",
          p.returncode == 1 and "not delivered" in p.stderr and time.time() - t0 < 20,
          (p.returncode, p.stderr[-300:]))
    p = subprocess.run([JOY, "-w", "kafka://127.0.0.1:9/t", "kafka_property=nonsense.key=1",
                        sample], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    check("a bad kafka_property is refused with its name", p.returncode != 0 and
          "nonsense.key" in p.stderr, p.stderr)

    # the producer's codec and level as librdkafka reports its configuration
    def conf_of(*opts):
        p = subprocess.run([JOY, "-w", os.devnull, "-w", "kafka://127.0.0.1:9/t",
                            "kafka_property=debug=conf", "kafka_flush_timeout=1",
                            "kafka_property=message.timeout.ms=500"] + list(opts) + [sample],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
        return [ln.split("]:", 1)[1].strip() for ln in p.stderr.splitlines() if "|CONF|" in ln
                and "]:" in ln]
    conf = conf_of()
    check("default producer: zstd at compression.level 1",
          "compression.codec = zstd" in conf and "compression.level = 1" in conf, conf[:40])
    conf = conf_of("kafka_compression=none")
    check("kafka_compression=none turns compression off (it once read back as zstd)",
          "compression.codec = none" in conf, conf[:40])
    conf = conf_of("kafka_compression=lz4", "kafka_property=compression.level=5")
    check("kafka_property=compression.level overrides the default level",
          "compression.codec = lz4" in conf and "compression.level = 5" in conf, conf[:40])


def finish():
    print("%d passed, %d failed, %d skipped" % (R["passed"], R["failed"], R["skipped"]))
    return 1 if R["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())

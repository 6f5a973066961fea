#!/usr/bin/env python3
"""Command line, configuration and output behaviour of joy.

Each case runs the real binary (env JOY, default ./joy) and checks what a
user sees: exit status, the message naming the problem, the files left
behind, and the records.  Captures come from test/gen_pcaps.py.
"""
import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JOY = os.environ.get("JOY", os.path.join(ROOT, "joy"))
RESULTS = {"passed": 0, "failed": 0}


def joy(*args, stdin=None, timeout=60):
    p = subprocess.run([JOY] + list(args), input=stdin, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout, cwd=ROOT)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def records(blob):
    lines = blob.decode("utf-8").splitlines()
    objs = [json.loads(l) for l in lines]
    assert objs and "version" in objs[0], "first line is not the metadata object"
    return objs[0], objs[1:]


def case(fn):
    try:
        fn()
        RESULTS["passed"] += 1
    except Exception as e:  # noqa: BLE001 - report every failure
        RESULTS["failed"] += 1
        print("FAIL %s: %s: %s" % (fn.__name__, type(e).__name__, e))
    return fn


def main():
    tmp = tempfile.mkdtemp(prefix="joy-cli-")
    try:
        subprocess.run([sys.executable, os.path.join(ROOT, "test", "gen_pcaps.py"), tmp],
                       check=True, stdout=subprocess.DEVNULL)
        run_cases(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (RESULTS["passed"], RESULTS["failed"]))
    return 1 if RESULTS["failed"] else 0


def run_cases(tmp):
    sample = os.path.join(ROOT, "test", "data", "sample.pcap")

    @case
    def help_lists_every_option():
        rc, out, _ = joy("-h")
        assert rc == 0
        cfg = subprocess.run([JOY, "--options-cfg"], stdout=subprocess.PIPE).stdout.decode()
        keys = [l.split("=")[0].strip("# ").strip() for l in cfg.splitlines()
                if "=" in l and not l.startswith("# Use") and (not l.startswith("# ") or l.count(" = ") == 1)]
        keys = [k for k in keys if k and " " not in k]
        assert len(keys) > 10, keys
        for k in keys:
            assert (k + "=").encode() in out, "option %s missing from -h" % k

    @case
    def version_names_libraries():
        rc, out, _ = joy("-V")
        text = out.decode()
        assert rc == 0 and text.startswith("joy ")
        for lib in ("libpcap", "OpenSSL", "zlib"):
            assert lib in text, lib

    @case
    def shipped_options_cfg_is_current_and_accepted():
        gen = subprocess.run([JOY, "--options-cfg"], stdout=subprocess.PIPE).stdout
        with open(os.path.join(ROOT, "options.cfg"), "rb") as f:
            assert f.read() == gen, "options.cfg differs from 'joy --options-cfg': regenerate it"
        rc, out, err = joy("-x", "options.cfg", "-r", sample)
        assert rc == 0, err
        meta, recs = records(out)
        assert len(recs) == 4

    @case
    def unknown_key_is_exit_2_naming_it():
        rc, out, err = joy("nosuchkey=1", sample)
        assert rc == 2 and "nosuchkey" in err and out == b""
        rc, _, err = joy("num_pkts=abc", sample)
        assert rc == 2 and "num_pkts" in err and "abc" in err
        rc, _, err = joy("-J", sample)
        assert rc == 2 and "-J" in err

    @case
    def config_file_error_names_file_and_line():
        cfg = os.path.join(tmp, "bad.cfg")
        with open(cfg, "w") as f:
            f.write("# ok\nbidir = 1\n\nzeros = maybe\n")
        rc, _, err = joy("-x", cfg, sample)
        assert rc == 2 and ("%s:4" % cfg) in err and "zeros" in err, err

    @case
    def precedence_defaults_file_command_line():
        cfg = os.path.join(tmp, "p.cfg")
        with open(cfg, "w") as f:
            f.write("num_pkts = 3\nzeros = 1\n")
        _, out, _ = joy("-x", cfg, "-r", sample)
        meta, recs = records(out)
        assert meta["options"]["num_pkts"] == 3 and meta["options"]["zeros"] == 1
        assert max(len(r["packets"]) for r in recs) == 3
        _, out, _ = joy("num_pkts=2", "-x", cfg, "-r", sample)  # the command line wins, whatever the order
        meta, recs = records(out)
        assert meta["options"]["num_pkts"] == 2 and meta["options"]["zeros"] == 1

    @case
    def joy_style_words_and_getopt_agree():
        out1 = joy("bidir=1", sample)[1]
        out2 = joy("-r", sample, "-w", "-")[1]
        assert records(out1)[1] == records(out2)[1]

    @case
    def gzip_output_and_part_rename():
        dest = os.path.join(tmp, "flows.json.gz")
        rc, out, err = joy("-r", sample, "-w", dest)
        assert rc == 0 and out == b"", err
        assert os.path.exists(dest) and not os.path.exists(dest + ".part")
        with gzip.open(dest, "rb") as f:
            meta, recs = records(f.read())
        assert len(recs) == 4
        plain = os.path.join(tmp, "flows.jsonl")
        joy("output=" + plain, sample)
        with open(plain, "rb") as f:
            assert records(f.read())[1] == recs

    @case
    def every_gzip_level_writes_the_same_records():
        # 3000 flows with packet and IP-ID arrays: about 1 MB of JSON, so the
        # ISA-L sink (levels 1-3) compresses several full input buffers and
        # zlib (4-9) several of its own; gzip(1) and Python must both read
        # each file back to the plain run's records.
        flood = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "flood.py"), "3000"],
                               stdout=subprocess.PIPE, check=True).stdout
        rc, plain, err = joy("-r", "-", "-w", "-", stdin=flood)
        assert rc == 0, err
        want = records(plain)[1]
        assert len(want) == 3000 and len(plain) > 600000, len(plain)
        _, ver, _ = joy("-V")
        engines = [l for l in ver.decode().splitlines() if l.startswith("gzip levels")]
        assert len(engines) == 1, ver
        for level in (1, 2, 3, 4, 6, 9):
            dest = os.path.join(tmp, "lvl%d.json.gz" % level)
            rc, _, err = joy("-r", "-", "-w", dest, "gzip_level=%d" % level, stdin=flood)
            assert rc == 0, (level, err)
            assert subprocess.run(["gzip", "-t", dest]).returncode == 0, level
            with gzip.open(dest, "rb") as f:
                assert records(f.read())[1] == want, level
            assert os.path.getsize(dest) < len(plain) / 4, (level, os.path.getsize(dest))

    @case
    def unwritable_output_is_an_error():
        rc, _, err = joy("-r", sample, "-w", "/nonexistent-dir/x.json.gz")
        assert rc == 1 and "/nonexistent-dir/x.json.gz" in err

    @case
    def full_disk_is_an_error():
        if not os.path.exists("/dev/full"):
            return
        rc, _, err = joy("-r", sample, "-w", "/dev/full")
        assert rc == 1 and "No space" in err, (rc, err)

    @case
    def stdin_input():
        with open(sample, "rb") as f:
            data = f.read()
        rc, out, _ = joy("-r", "-", stdin=data)
        assert rc == 0 and len(records(out)[1]) == 4

    @case
    def directory_with_good_and_bad_files():
        d = os.path.join(tmp, "dir")
        os.mkdir(d)
        shutil.copy(sample, os.path.join(d, "a.pcap"))
        with open(os.path.join(d, "b-garbage.pcap"), "wb") as f:
            f.write(b"this is not a capture file at all")
        shutil.copy(sample, os.path.join(d, "c.pcap"))
        rc, out, err = joy(d)
        assert rc == 1 and "b-garbage.pcap" in err and "not a pcap" in err, err
        meta, recs = records(out)
        # the second copy continues the flows of the first (same times): same 5 records, doubled counts
        assert len(recs) == 4
        first = records(joy(sample)[1])[1]
        for a, b in zip(recs, first):
            assert a["num_pkts_out"] == 2 * b["num_pkts_out"]

    @case
    def empty_truncated_and_garbage_files():
        for name, why in (("pcap_empty.pcap", "empty"), ("pcap_header_only.pcap", None),
                          ("pcap_garbage.pcap", "not a pcap"), ("pcap_truncated.pcap", "damaged at byte offset")):
            path = os.path.join(tmp, name)
            assert os.path.exists(path), name
            rc, out, err = joy("-r", path)
            meta, recs = records(out)
            if why is None:
                assert rc == 0 and recs == [], (name, rc, err)
            else:
                assert rc == 1 and why in err and name in err, (name, rc, err)

    @case
    def deterministic_output():
        a = joy("-r", sample, "-w", "-")[1]
        b = joy("-r", sample, "-w", "-")[1]
        assert a == b

    @case
    def sigint_mid_read_writes_everything():
        # a long input: the sample many times over, through a FIFO so joy is mid-read
        fifo = os.path.join(tmp, "fifo")
        os.mkfifo(fifo)
        dest = os.path.join(tmp, "int.json.gz")
        p = subprocess.Popen([JOY, "-r", fifo, "-w", dest], stderr=subprocess.PIPE)
        with open(sample, "rb") as f:
            data = f.read()
        w = open(fifo, "wb")
        w.write(data)
        w.flush()
        time.sleep(0.5)
        p.send_signal(signal.SIGINT)
        try:
            w.close()
        except BrokenPipeError:
            pass
        _, err = p.communicate(timeout=30)
        assert p.returncode == 0, (p.returncode, err)
        assert subprocess.run(["gzip", "-t", dest]).returncode == 0
        with gzip.open(dest, "rb") as f:
            meta, recs = records(f.read())
        assert len(recs) == 4 and all(r["expire_type"] == "e" for r in recs[-1:])

    @case
    def unsupported_link_type_named():
        path = os.path.join(tmp, "link_user0.pcap")
        rc, out, err = joy("-r", path)
        assert rc == 1 and "not supported" in err and "USER0" in err, err
        assert records(out)[1] == []

    @case
    def no_input_is_a_usage_error():
        rc, _, err = joy()
        assert rc == 2 and "no input" in err


if __name__ == "__main__":
    sys.exit(main())

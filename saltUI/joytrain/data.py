"""Reading flow records: joy JSON output (plain or gzip), or captures run
through joy.  Paths may be files or directories (walked recursively)."""
import gzip
import json
import os
import shutil
import subprocess
import sys

PCAP_MAGIC = (b"\xa1\xb2\xc3\xd4", b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\x3c\x4d",
              b"\x4d\x3c\xb2\xa1", b"\x0a\x0d\x0d\x0a")

# joy's options for a capture given to joy-train: what the feature sets read
JOY_OPTIONS = ["bidir=1", "dist=1"]


class DataError(Exception):
    pass


def find_joy(explicit=None):
    """joy: --joy PATH, else next to this program, else the repository's
    ./joy (saltUI/..), else on PATH."""
    if explicit:
        return explicit
    here = os.path.dirname(os.path.abspath(sys.argv[0] or "."))
    real = os.path.dirname(os.path.realpath(sys.argv[0] or "."))
    pkg = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for d in (here, real, os.path.dirname(real), os.path.dirname(pkg)):
        cand = os.path.join(d, "joy")
        if os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    found = shutil.which("joy")
    if found:
        return found
    raise DataError("joy not found (next to joy-train, in the repository or on PATH): use --joy PATH")


def _files(path):
    if os.path.isdir(path):
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames.sort()
            for n in sorted(filenames):
                if not n.startswith("."):
                    yield os.path.join(dirpath, n)
    elif os.path.exists(path):
        yield path
    else:
        raise DataError("%s: no such file or directory" % path)


def _is_record(d):
    return isinstance(d, dict) and "sa" in d and "pr" in d


def _json_lines(lines, name):
    for i, line in enumerate(lines, 1):
        line = line.strip()
        if not line:
            continue
        try:
            d = json.loads(line)
        except ValueError as e:
            raise DataError("%s:%d: not a JSON line (%s)" % (name, i, e))
        if _is_record(d):
            yield d


def records_of_file(path, joy=None, joy_options=None):
    """The flow records of one file (JSON lines, gzip, or a capture)."""
    with open(path, "rb") as f:
        head = f.read(4)
    if head in PCAP_MAGIC:
        cmd = [find_joy(joy)] + list(joy_options or JOY_OPTIONS) + ["-r", path]
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if p.returncode != 0:
            raise DataError("%s: joy failed (exit %d): %s" % (
                path, p.returncode, p.stderr.decode("utf-8", "replace").strip()[-500:]))
        return list(_json_lines(p.stdout.decode("utf-8", "replace").splitlines(), path))
    if head[:2] == b"\x1f\x8b":
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
            return list(_json_lines(f, path))
    with open(path, "r", encoding="utf-8", errors="replace") as f:
        return list(_json_lines(f, path))


def load_records(paths, joy=None, joy_options=None):
    """Every flow record of the given files and directories, in order."""
    out = []
    for p in paths:
        for f in _files(p):
            out.extend(records_of_file(f, joy, joy_options))
    return out

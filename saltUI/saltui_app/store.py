"""Uploads: streamed to disk, recognised, parsed once into compact flow summaries.

An upload is a file in the server's temporary directory, named by a random id
(``secrets.token_urlsafe``).  What it is, is decided from its first bytes:

  1f 8b                      gzip: decompressed (streamed, size-capped) to JSON Lines
  pcap / pcapng magic        a capture: run through joy, whose output is kept
  anything else              JSON Lines (joy's output)

The JSON Lines file is then read line by line: joy's metadata line (an object
with ``version``) is skipped, every other line must be a JSON object.  Each
flow keeps a small summary (the table's columns) and the byte offset and
length of its line, so that a flow page reads just its own record back.
Nothing in an upload is ever executed or evaluated.
"""

import gzip
import json
import os
import re
import secrets
import shutil
import subprocess
import threading
import zlib

ID_RE = re.compile(r"[A-Za-z0-9_-]{16,64}\Z")
PCAP_MAGICS = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d",
               b"\x0a\x0d\x0d\x0a")
JOY_OPTIONS = ["bidir=1", "dist=1", "entropy=1", "tls=1", "dns=1", "http=1", "fpx=1"]
MAX_LINE = 16 << 20          # one JSON line longer than this is refused
MAX_ERRORS_SHOWN = 5

# summary columns: (name, type) -- the order of the compact lists kept per flow
COLUMNS = ("sa", "da", "pr", "sp", "dp", "bytes_out", "bytes_in", "num_pkts_out", "num_pkts_in",
           "time_start", "time_end", "sni", "p_malware")
_STR = {"sa", "da", "sni"}
PROTOCOLS = {1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6", 132: "sctp"}


class UploadError(Exception):
    """A bad upload: the message is shown to the user (HTTP status in ``status``)."""

    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


def new_id():
    return secrets.token_urlsafe(16)


def _num(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)) and value == value and abs(value) != float("inf"):
        return value
    return None


def _text(value, limit=512):
    if isinstance(value, list):
        value = next((v for v in value if isinstance(v, str)), None)
    if not isinstance(value, str):
        return None
    return value[:limit]


def summarize(record):
    """The compact summary list of one record (see COLUMNS)."""
    tls = record.get("tls")
    sni = _text(tls.get("sni")) if isinstance(tls, dict) else None
    row = []
    for name in COLUMNS:
        if name == "sni":
            row.append(sni)
        elif name in _STR:
            row.append(_text(record.get(name), 128))
        else:
            row.append(_num(record.get(name)))
    return row


class Upload:
    """One uploaded file, its JSON Lines form and the flows' summaries."""

    def __init__(self, ident, name, jsonl_path, kind):
        self.id = ident
        self.name = name
        self.path = jsonl_path
        self.kind = kind                 # "json", "gzip" or "pcap"
        self.rows = []                   # summaries (lists in COLUMNS order)
        self.spans = []                  # (offset, length) of each flow's line
        self.skipped = 0
        self.errors = []
        self.scores = {}                 # model id -> [score or None]
        self.lock = threading.Lock()

    def info(self):
        return {"id": self.id, "name": self.name, "kind": self.kind, "flows": len(self.rows),
                "skipped_lines": self.skipped, "errors": self.errors}

    def record(self, index):
        offset, length = self.spans[index]
        with open(self.path, "rb") as handle:
            handle.seek(offset)
            return json.loads(handle.read(length))

    def iter_records(self):
        """Every flow record, in order (re-read from disk)."""
        with open(self.path, "rb") as handle:
            for offset, length in self.spans:
                handle.seek(offset)
                yield json.loads(handle.read(length))


def receive(stream, length, directory, max_bytes):
    """Copy ``length`` bytes of a request body to a new file; returns its path."""
    if length > max_bytes:
        raise UploadError("the upload is %d bytes; this server accepts at most %d "
                          "(--max-upload)" % (length, max_bytes), 413)
    path = os.path.join(directory, new_id() + ".upload")
    remaining = length
    with open(path, "wb") as out:
        while remaining > 0:
            chunk = stream.read(min(remaining, 1 << 20))
            if not chunk:
                break
            out.write(chunk)
            remaining -= len(chunk)
    if remaining:
        os.unlink(path)
        raise UploadError("the upload ended after %d of %d bytes" % (length - remaining, length))
    return path


def _gunzip(src, dst, max_bytes):
    total = 0
    try:
        with gzip.open(src, "rb") as fin, open(dst, "wb") as fout:
            while True:
                chunk = fin.read(1 << 20)
                if not chunk:
                    break
                total += len(chunk)
                if total > max_bytes:
                    raise UploadError("the gzip file decompresses to more than %d bytes "
                                      "(--max-upload)" % max_bytes, 413)
                fout.write(chunk)
    except (EOFError, zlib.error) as exc:
        raise UploadError("damaged or truncated gzip file after %d decompressed bytes: %s"
                          % (total, exc or "the stream ends early"))
    except gzip.BadGzipFile as exc:
        raise UploadError("not a valid gzip file: %s" % exc)


def _run_joy(joy, src, dst, timeout):
    if not joy:
        raise UploadError("this upload is a capture, but no joy binary was found "
                          "(start saltui with --joy PATH)", 501)
    options = list(JOY_OPTIONS)
    for _attempt in range(3):
        try:
            result = subprocess.run([joy, "-r", src, "-w", dst] + options,
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise UploadError("joy did not finish within %d s on this capture" % timeout, 500)
        except OSError as exc:
            raise UploadError("cannot run joy (%s): %s" % (joy, exc.strerror or exc), 500)
        if result.returncode == 0:
            return
        message = result.stderr.decode("utf-8", "replace").strip().splitlines()
        rejected = [o for o in options if any(o.split("=")[0] in line for line in message)]
        if result.returncode == 2 and rejected and rejected != options:
            options = [o for o in options if o not in rejected]
            continue
        raise UploadError("joy could not read this capture: %s"
                          % (message[-1] if message else "exit status %d" % result.returncode))
    raise UploadError("joy rejected its options")


def prepare(raw_path, directory, joy, max_bytes, joy_timeout=600):
    """Turn a received file into JSON Lines: returns (path, kind)."""
    with open(raw_path, "rb") as handle:
        head = handle.read(4)
    if not head:
        raise UploadError("the upload is empty")
    base = raw_path[:-len(".upload")]
    if head[:2] == b"\x1f\x8b":
        inner = base + ".gunzip"
        _gunzip(raw_path, inner, max_bytes)
        os.unlink(raw_path)
        with open(inner, "rb") as handle:
            head = handle.read(4)
        if head in PCAP_MAGICS:
            out = base + ".jsonl"
            _run_joy(joy, inner, out, joy_timeout)
            os.unlink(inner)
            return out, "pcap"
        os.replace(inner, base + ".jsonl")
        return base + ".jsonl", "gzip"
    if head in PCAP_MAGICS:
        out = base + ".jsonl"
        _run_joy(joy, raw_path, out, joy_timeout)
        os.unlink(raw_path)
        return out, "pcap"
    os.replace(raw_path, base + ".jsonl")
    return base + ".jsonl", "json"


def parse(upload):
    """Read the JSON Lines file of an upload into its summaries (raises UploadError)."""
    rows, spans, errors = upload.rows, upload.spans, upload.errors
    offset = 0
    number = 0
    with open(upload.path, "rb") as handle:
        while True:
            line = handle.readline(MAX_LINE + 1)
            if not line:
                break
            number += 1
            start, offset = offset, offset + len(line)
            if len(line) > MAX_LINE and not line.endswith(b"\n"):
                raise UploadError("line %d is longer than %d bytes" % (number, MAX_LINE))
            text = line.strip()
            if not text:
                continue
            try:
                obj = json.loads(text)
            except (ValueError, RecursionError) as exc:
                upload.skipped += 1
                if len(errors) < MAX_ERRORS_SHOWN:
                    errors.append("line %d: not JSON (%s)" % (number, str(exc)[:120]))
                continue
            if not isinstance(obj, dict):
                upload.skipped += 1
                if len(errors) < MAX_ERRORS_SHOWN:
                    errors.append("line %d: not a JSON object" % number)
                continue
            if "version" in obj and "sa" not in obj:
                continue                                   # joy's metadata line
            rows.append(summarize(obj))
            spans.append((start, len(line)))
    if not rows:
        detail = "; ".join(errors[:2]) if errors else "the file holds no flow records"
        raise UploadError("no joy flow records in this upload (%s). saltUI reads joy's JSON "
                          "Lines output, plain or gzip, or a pcap/pcapng capture" % detail)


def remove_files(directory):
    shutil.rmtree(directory, ignore_errors=True)

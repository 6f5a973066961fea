"""Input: files or stdin, compression and captures detected by content.

``InputReader(names, ...).records()`` yields flow records (dicts) from every
input in order.  For each input the first bytes decide what it is:

  * gzip (1f 8b), bzip2 ("BZh") and xz (fd 37 7a 58 5a 00) are decompressed,
    and the result is examined again (so ``x.pcap.gz`` and ``x.json.xz`` work);
  * pcap (a1b2c3d4 / a1b23c4d in either byte order) and pcapng (0a0d0d0a) are
    run through joy (``joy -r FILE -w - tls=1 dns=1 http=1 fpx=1``); joy's
    standard output is read as JSON Lines while joy runs.  If joy rejects a
    module option (exit status 2 before any record, as an older joy does for
    a module it lacks), it is run again without the options its message
    names (without all of them if it names none);
  * anything else is read as JSON Lines.

Each line is parsed with :mod:`json`.  Blank lines are ignored.  Objects with
a "version" key are joy's metadata lines: they are not records, but their
``inactive_timeout``/``active_timeout`` values are passed to ``on_metadata``.
Lines that are not JSON objects are counted and reported on stderr with file
name and line number (the first ``max_warnings`` per input, then a total),
and reading goes on.  A damaged compressed stream or an unreadable file is
reported, the input is abandoned after the last good line, and
``exit_status`` becomes 1.
"""

import bz2
import gzip
import io
import json
import lzma
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zlib

GZIP_MAGIC = b"\x1f\x8b"
BZIP2_MAGIC = b"BZh"
XZ_MAGIC = b"\xfd7zXZ\x00"
PCAP_MAGICS = (b"\xa1\xb2\xc3\xd4", b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\x3c\x4d", b"\x4d\x3c\xb2\xa1")
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"

# Module options asked of joy when it runs a capture for us.  An older joy
# that rejects one of them (exit status 2, no records) is re-run without them.
DEFAULT_JOY_OPTIONS = ("tls=1", "dns=1", "http=1", "fpx=1")

_DAMAGED = (EOFError, OSError, zlib.error, lzma.LZMAError, ValueError)


def detect(head):
    """Name the format of a stream from its first bytes."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(BZIP2_MAGIC) and len(head) >= 4 and head[3:4].isdigit():
        return "bzip2"
    if head.startswith(XZ_MAGIC):
        return "xz"
    if head[:4] in PCAP_MAGICS:
        return "pcap"
    if head.startswith(PCAPNG_MAGIC):
        return "pcapng"
    return "json"


class _PrefixedRaw(io.RawIOBase):
    """A raw stream that returns ``prefix`` and then the rest of ``stream``."""

    def __init__(self, prefix, stream):
        super().__init__()
        self._prefix = prefix
        self._stream = stream

    def readable(self):
        return True

    def readinto(self, buffer):
        if self._prefix:
            count = min(len(buffer), len(self._prefix))
            buffer[:count] = self._prefix[:count]
            self._prefix = self._prefix[count:]
            return count
        data = self._stream.read(len(buffer))
        count = len(data)
        buffer[:count] = data
        return count


def sniff(stream, count=8):
    """Return ``(head, stream)``: the first ``count`` bytes and a stream that still has them."""
    peek = getattr(stream, "peek", None)
    if peek is not None:
        head = peek(count)[:count]
        if len(head) >= count:
            return head, stream
    head = stream.read(count)
    return head, io.BufferedReader(_PrefixedRaw(head, stream), 1 << 16)


def _decompressor(kind, stream):
    if kind == "gzip":
        return gzip.GzipFile(fileobj=stream, mode="rb")
    if kind == "bzip2":
        return bz2.BZ2File(stream, mode="rb")
    return lzma.LZMAFile(stream, mode="rb")


def script_dirs():
    """Directories of the running ``sleuth`` script: as invoked and with links resolved.

    The launcher puts its path in $SLEUTH_SCRIPT; without it (sleuth used as a
    library), the directory above this package stands in.
    """
    launcher = os.environ.get("SLEUTH_SCRIPT")
    if not launcher:
        return [os.path.dirname(os.path.dirname(os.path.realpath(__file__)))]
    dirs = [os.path.dirname(os.path.abspath(launcher)),
            os.path.dirname(os.path.realpath(launcher))]
    return dirs if dirs[0] != dirs[1] else dirs[:1]


def find_joy(explicit=None):
    """Locate the joy binary: --joy, then next to sleuth, then PATH.

    Looked at in order, for the script's directory as invoked and with links
    resolved: ``<dir>/../joy`` (the repository layout: sleuth/sleuth and
    ./joy), ``<dir>/joy`` (installed side by side in bin/); then ``joy`` on
    PATH.  Returns (path or None, the places looked at).
    """
    if explicit:
        return (explicit if os.access(explicit, os.X_OK) else None), [explicit]
    candidates = []
    for base in script_dirs():
        for path in (os.path.join(base, os.pardir, "joy"), os.path.join(base, "joy")):
            path = os.path.normpath(path)
            if path not in candidates:
                candidates.append(path)
    for path in candidates:
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path, candidates
    found = shutil.which("joy")
    return found, candidates + ["PATH"]


class InputReader:
    """Reads every input in turn; see the module docstring.

    Counters (after or during iteration): ``records``, ``bad_lines``,
    ``failed`` (inputs that could not be read completely), ``exit_status``.
    """

    def __init__(self, names, joy=None, joy_options=None, on_metadata=None,
                 err=None, max_warnings=20, stdin=None, prefilter=None):
        self.names = list(names) or ["-"]
        self.joy = joy
        self.joy_options = list(DEFAULT_JOY_OPTIONS if joy_options is None else joy_options)
        self.on_metadata = on_metadata
        self.err = err if err is not None else sys.stderr
        self.max_warnings = max_warnings
        self.stdin = stdin
        self.prefilter = prefilter      # keep(raw line) -> bool, see prefilter.py
        self.records = 0
        self.bad_lines = 0
        self.failed = 0

    @property
    def exit_status(self):
        return 1 if self.failed else 0

    def warn(self, message):
        self.err.write("sleuth: %s\n" % message)
        self.err.flush()

    # -- top level ------------------------------------------------------------
    def iter_records(self):
        """Yield the records of all inputs."""
        for name in self.names:
            yield from self._records_of(name)
        if self.bad_lines:
            self.warn("skipped %d unparseable line%s in total"
                      % (self.bad_lines, "" if self.bad_lines == 1 else "s"))

    def _records_of(self, name):
        display = "<stdin>" if name == "-" else name
        try:
            if name == "-":
                raw = self.stdin if self.stdin is not None else sys.stdin.buffer
            else:
                raw = open(name, "rb")
        except OSError as exc:
            self.failed += 1
            self.warn("cannot read %s: %s" % (display, exc.strerror or exc))
            return
        try:
            yield from self._records_of_stream(raw, display, name)
        finally:
            if name != "-":
                raw.close()

    def _records_of_stream(self, raw, display, name):
        stream = raw
        layers = []
        try:
            for _ in range(4):
                head, stream = sniff(stream)
                kind = detect(head)
                if kind not in ("gzip", "bzip2", "xz"):
                    break
                layers.append(kind)
                stream = _decompressor(kind, stream)
            else:
                kind = "json"
            if kind in ("pcap", "pcapng"):
                # joy gets a path: the file itself when it is a plain capture on
                # disk, otherwise a temporary copy of the (decompressed) bytes.
                if not layers and name != "-":
                    yield from self._records_of_capture(name, display)
                else:
                    yield from self._records_of_spooled_capture(stream, display)
                return
        except _DAMAGED as exc:
            self.failed += 1
            self.warn("%s: damaged %s data: %s" % (display, "/".join(layers) or "input", exc))
            return
        yield from self._records_of_lines(stream, display, layers)

    # -- JSON Lines -----------------------------------------------------------
    def _records_of_lines(self, stream, display, layers=()):
        # The hot loop of sleuth.  json.loads() is bypassed: decoding the line
        # and calling the C scanner directly saves a third of the parse time;
        # anything unusual (leading blanks, trailing data, errors) goes through
        # _parse_slow(), which gives json's own error messages.
        scan = _SCANNER
        keep = self.prefilter
        bad_here = 0
        lineno = 0
        iterator = iter(stream)
        while True:
            try:
                for line in iterator:
                    lineno += 1
                    if keep is not None and not keep(line):
                        continue
                    try:
                        text = line.decode("utf-8")
                        obj, end = scan(text, 0)
                        if end != len(text) and text[end:] != "\n" and text[end:].strip():
                            raise ValueError("extra data")
                    except (ValueError, StopIteration, RecursionError) as exc:
                        obj, reason = _parse_slow(line, exc)
                        if reason is not None:
                            bad_here += 1
                            self._bad_line(display, lineno, reason, bad_here)
                            continue
                        if obj is _BLANK:
                            continue
                    if type(obj) is not dict:
                        bad_here += 1
                        self._bad_line(display, lineno, "not a JSON object", bad_here)
                        continue
                    if "version" in obj:
                        if self.on_metadata is not None:
                            self.on_metadata(obj)
                        continue
                    self.records += 1
                    yield obj
                break
            except _DAMAGED as exc:
                self.failed += 1
                self.warn("%s: damaged %s data after line %d: %s"
                          % (display, "/".join(layers) or "input", lineno, exc))
                break
        if bad_here > self.max_warnings:
            self.warn("%s: %d unparseable lines (the first %d are shown above)"
                      % (display, bad_here, self.max_warnings))

    def _bad_line(self, display, lineno, reason, count):
        self.bad_lines += 1
        if count <= self.max_warnings:
            self.warn("%s:%d: skipped unparseable line: %s" % (display, lineno, reason))

    # -- captures through joy -------------------------------------------------
    def _records_of_spooled_capture(self, stream, display):
        with tempfile.NamedTemporaryFile(prefix="sleuth-", suffix=".pcap") as tmp:
            shutil.copyfileobj(stream, tmp, 1 << 20)
            tmp.flush()
            yield from self._records_of_capture(tmp.name, display)

    def _records_of_capture(self, path, display):
        joy, looked = find_joy(self.joy)
        if joy is None:
            self.failed += 1
            self.warn("%s is a packet capture, but no joy binary was found (looked at %s); "
                      "build joy or give --joy PATH" % (display, ", ".join(looked)))
            return
        options = self.joy_options
        while True:
            outcome = {}
            yield from self._run_joy(joy, path, display, options, outcome)
            status, lines, errors = outcome["status"], outcome["lines"], outcome["stderr"]
            if status == 2 and lines <= 1 and options:
                rejected = _rejected_options(options, errors)
                options = [o for o in options if o not in rejected]
                self.warn("%s: joy did not accept %s (%s); running it again%s"
                          % (display, " ".join(rejected), _first_line(errors),
                             " with " + " ".join(options) if options
                             else " without module options"))
                continue
            if errors:
                self.err.write(errors if errors.endswith("\n") else errors + "\n")
            if status != 0:
                self.failed += 1
                self.warn("%s: joy exited with status %d" % (display, status))
            return

    def _run_joy(self, joy, path, display, options, outcome):
        command = [joy, "-r", path, "-w", "-"] + list(options)
        with tempfile.TemporaryFile() as errfile:
            try:
                proc = subprocess.Popen(command, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=errfile)
            except OSError as exc:
                outcome.update(status=127, lines=0, stderr="cannot run %s: %s" % (joy, exc))
                return
            counter = _LineCounter(proc.stdout)
            try:
                yield from self._records_of_lines(counter, display + " (via joy)")
            finally:
                if proc.poll() is None and counter.eof is False:
                    proc.kill()
                proc.stdout.close()
                status = proc.wait()
            errfile.seek(0)
            text = errfile.read().decode("utf-8", "replace")
        outcome.update(status=status, lines=counter.count, stderr=text)


class _LineCounter:
    """Iterates over the lines of a binary stream, counting them and noting EOF."""

    def __init__(self, stream):
        self.stream = stream
        self.count = 0
        self.eof = False

    def __iter__(self):
        for line in self.stream:
            self.count += 1
            yield line
        self.eof = True


_SCANNER = json.JSONDecoder().scan_once


_BLANK = object()


def _parse_slow(line, first_error):
    """Parse a line the careful way: ``(obj, None)``, ``(_BLANK, None)`` for a blank
    line, or ``(None, reason)`` for an unparseable one."""
    if isinstance(first_error, UnicodeDecodeError):
        return None, _describe_json_error(first_error)
    if isinstance(first_error, RecursionError):
        return None, "nested too deeply"
    text = line.decode("utf-8").rstrip("\r\n")
    if not text.strip():
        return _BLANK, None
    try:
        return json.loads(text), None
    except RecursionError:
        return None, "nested too deeply"
    except ValueError as exc:
        return None, _describe_json_error(exc)


def _rejected_options(options, errors):
    """The module options an error message names (all of them if it names none)."""
    named = [o for o in options if re.search(r"\b%s\b" % re.escape(o.split("=")[0]), errors)]
    return named or list(options)


def _first_line(text):
    text = text.strip()
    return text.splitlines()[0] if text else "no message"


def _describe_json_error(exc):
    if isinstance(exc, json.JSONDecodeError):
        return "%s at character %d" % (exc.msg, exc.pos + 1)
    if isinstance(exc, UnicodeDecodeError):
        return "invalid UTF-8 at byte %d" % exc.start
    return str(exc)

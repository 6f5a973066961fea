"""--fingerprint: match TLS client fingerprints against a fingerprint database.

Database file (default ``data/fingerprints.json``; format documented in
``data/README.md`` and doc/sleuth.md)::

    {"format": "sleuth-fingerprints", "format_version": 1,
     "description": "...",
     "entries": [
        {"id": "curl-7.88.1-openssl-3.0",          unique name (required)
         "client": "curl", "client_version": "7.88.1",
         "tls_library": "OpenSSL 3.0.x", "platform": "Debian 12 (x86_64)",
         "tls":  "(0303)(...)((...)...)",          Joy-format ClientHello fingerprint
         "ja3":  "<md5 hex>", "ja3_full": "771,...",
         "ja4":  "t13d...",                        at least one of tls/ja3/ja4 required
         "source": {...free-form: how, when and with what it was captured...}},
        ...]}

For each flow the client fingerprint is taken from the record:
``fingerprints.tls`` (Joy format), and JA3/JA4 values if joy wrote them
(``fingerprints.ja3``/``ja4`` or ``tls.ja3``/``ja4``; a JA3 may be the MD5 or the
full string).  JA3 and JA4 are also computed from the Joy string when it
carries the needed extension data (see :mod:`tlsfp`).  A database entry
matches when its ``tls`` equals the flow's in canonical form (GREASE
normalised, also inside signature_algorithms; extensions sorted), or its ``ja4`` or ``ja3`` equals the flow's.
The flow then gets::

    "inferences": {"tls": {"ja3": ..., "ja4": ...,          (the flow's values)
                           "matches": [{"id", "client", "client_version",
                                        "tls_library", "matched_on": ["tls","ja4","ja3"]}]}}

``matches`` is empty when nothing matched; entries matched on more keys come
first.  Flows without any TLS client fingerprint are left unchanged.

Kinds (``--fingerprint tls|tcp|http|all``, comma lists allowed; Joy's form):

  tls   the ClientHello, as above (the default)
  tcp   joy's ``fingerprints.tcp`` (client SYN options) -> ``inferences.tcp``
        ``{"fingerprint", "options": [...], "matches": [...]}``; entries with a
        ``tcp`` string match when the option layout and window scale agree (the
        MSS value is ignored: it depends on the link's MTU, not on the stack)
  http  the client's User-Agent header -> ``inferences.http``
        ``{"user_agent", "matches": [...]}`` (entries with ``user_agent``)

Database files, any number, each auto-detected (gzip allowed):

  * ours: one JSON object ``{"format": "sleuth-fingerprints", ...}`` as above;
  * Joy's ``res_tls_fingerprints.json`` (and mercury's ``fingerprint_db.json``):
    JSON Lines, one object per line with ``str_repr`` (the Joy string) and
    optional ``process_info`` ``[{"process", "application_category",
    "prevalence", "os_info"...}]``, ``min_implementation_date``,
    ``max_implementation_date``, ``tls_features{version,...}``.  Such an
    entry gets the id ``<file name>:<line>``; its ``client`` is the list of
    process names, and the dates and version are reported in the match.
"""


import gzip
import hashlib
import json
import os
import re

from . import tlsfp
from .errors import DataFileError, UsageError

DEFAULT_DB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data",
                          "fingerprints.json")
_DESCRIBE = ("id", "client", "client_version", "tls_library", "platform", "process_info",
             "min_implementation_date", "max_implementation_date", "tls_version", "database")
KINDS = ("tls", "tcp", "http")
MAX_DB_BYTES = 1 << 30          # a database file larger than this is refused


def parse_kinds(text):
    """``tls``, ``tcp``, ``http``, ``all`` or a comma list -> tuple of kinds (UsageError)."""
    kinds = []
    for word in (text or "tls").split(","):
        word = word.strip().lower()
        if word == "all":
            return KINDS
        if word not in KINDS:
            raise UsageError("--fingerprint %r: expected tls, tcp, http, all or a comma list "
                             "of them" % text)
        if word not in kinds:
            kinds.append(word)
    return tuple(kinds)


def _read_bytes(path):
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_DB_BYTES + 1)
            if len(data) > MAX_DB_BYTES:
                raise DataFileError("fingerprint database %s is larger than %d bytes"
                                    % (path, MAX_DB_BYTES))
        if data[:2] == b"\x1f\x8b":
            with gzip.open(path, "rb") as handle:
                data = handle.read(MAX_DB_BYTES + 1)
            if len(data) > MAX_DB_BYTES:
                raise DataFileError("fingerprint database %s decompresses to more than %d "
                                    "bytes" % (path, MAX_DB_BYTES))
    except OSError as exc:
        raise DataFileError("cannot read fingerprint database %s: %s"
                            % (path, getattr(exc, "strerror", None) or exc))
    except EOFError:
        raise DataFileError("fingerprint database %s: truncated gzip data" % path)
    return data


def load_database(path=None):
    """Read and check one fingerprint database file, ours or Joy's (raises DataFileError).

    Returns ``{"format": "sleuth-fingerprints", "entries": [...]}``; a Joy file is
    converted into entries of our format.
    """
    path = path or DEFAULT_DB
    data = _read_bytes(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataFileError("fingerprint database %s is not UTF-8 text: %s" % (path, exc))
    try:
        whole = json.loads(text)
    except ValueError as exc:
        whole = _NOT_JSON
        first_error = exc
    except RecursionError:
        raise DataFileError("fingerprint database %s is nested too deeply" % path)
    if whole is _NOT_JSON:
        lines = [line for line in text.splitlines() if line.strip()]
        if len(lines) > 1 and lines[0].lstrip().startswith("{"):
            return _joy_database(path, lines)
        raise DataFileError("fingerprint database %s is not valid JSON: %s" % (path, first_error))
    if isinstance(whole, dict) and "str_repr" in whole:
        return _joy_database(path, [text])
    if isinstance(whole, list) and whole and all(isinstance(e, dict) and "str_repr" in e
                                                 for e in whole):
        return _joy_database(path, whole)
    if not isinstance(whole, dict) or whole.get("format") != "sleuth-fingerprints":
        raise DataFileError("%s is not a sleuth fingerprint database (no \"format\": "
                            "\"sleuth-fingerprints\") nor one in Joy's format (JSON Lines with "
                            "\"str_repr\")" % path)
    entries = whole.get("entries")
    if not isinstance(entries, list):
        raise DataFileError("fingerprint database %s: \"entries\" must be a list" % path)
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise DataFileError("fingerprint database %s: entry %d has no \"id\"" % (path, index))
        if not any(isinstance(entry.get(k), str) and entry.get(k)
                   for k in ("tls", "ja3", "ja3_full", "ja4", "tcp", "user_agent")):
            raise DataFileError("fingerprint database %s: entry %r has none of tls, ja3, ja4, "
                                "tcp, user_agent" % (path, entry["id"]))
        if isinstance(entry.get("tls"), str) and entry["tls"] and \
                tlsfp.parse_joy_fingerprint(entry["tls"]) is None:
            raise DataFileError("fingerprint database %s: entry %r: \"tls\" is not a Joy "
                                "fingerprint string" % (path, entry["id"]))
    return whole


_NOT_JSON = object()


def _joy_database(path, lines):
    """Entries of our format from Joy's JSON Lines (``str_repr`` + descriptions)."""
    name = os.path.basename(path)
    entries = []
    for number, line in enumerate(lines, 1):
        if isinstance(line, dict):
            obj = line
        else:
            try:
                obj = json.loads(line)
            except (ValueError, RecursionError) as exc:
                raise DataFileError("fingerprint database %s: line %d is not valid JSON: %s"
                                    % (path, number, exc))
        if not isinstance(obj, dict) or not isinstance(obj.get("str_repr"), str):
            raise DataFileError("fingerprint database %s: line %d has no \"str_repr\" string "
                                "(Joy's format)" % (path, number))
        if tlsfp.parse_joy_fingerprint(obj["str_repr"]) is None:
            raise DataFileError("fingerprint database %s: line %d: \"str_repr\" is not a Joy "
                                "TLS fingerprint string" % (path, number))
        entry = {"id": "%s:%d" % (name, number), "tls": obj["str_repr"], "database": name}
        procs = obj.get("process_info")
        if isinstance(procs, list):
            kept = [p for p in procs if isinstance(p, dict)][:20]
            names = [p.get("process") for p in kept if isinstance(p.get("process"), str)]
            if names:
                entry["client"] = ", ".join(names)
            entry["process_info"] = kept
        for key in ("min_implementation_date", "max_implementation_date"):
            if isinstance(obj.get(key), str):
                entry[key] = obj[key]
        features = obj.get("tls_features")
        if isinstance(features, dict) and isinstance(features.get("version"), str):
            entry["tls_version"] = features["version"]
        entries.append(entry)
    return {"format": "sleuth-fingerprints", "format_version": 1, "entries": entries}


def load_databases(paths):
    """All entries of several database files (the default one if ``paths`` is empty)."""
    entries = []
    for path in paths or [None]:
        entries.extend(load_database(path)["entries"])
    return {"format": "sleuth-fingerprints", "format_version": 1, "entries": entries}


_MSS = re.compile(r"\(0204[0-9a-f]*\)")


def tcp_canonical(text):
    """A TCP fingerprint with the MSS value removed (``(0204)``), lowercase; None if bad."""
    if not isinstance(text, str) or not re.fullmatch(r"(\([0-9a-fA-F]{2,}\))*", text):
        return None
    return _MSS.sub("(0204)", text.lower())


_TCP_OPTION_NAMES = {0: "eol", 1: "nop", 2: "mss", 3: "wscale", 4: "sack_permitted", 5: "sack",
                     8: "timestamps", 19: "md5sig", 28: "user_timeout", 29: "tcp_ao",
                     30: "mptcp", 34: "tfo"}


def tcp_options(text):
    """Readable names of the options in a TCP fingerprint (``mss=1460``, ``wscale=7``)."""
    out = []
    for element in re.findall(r"\(([0-9a-fA-F]*)\)", text or ""):
        if len(element) < 2:
            continue
        kind = int(element[:2], 16)
        name = _TCP_OPTION_NAMES.get(kind, "kind%d" % kind)
        if kind in (2, 3) and len(element) > 4:
            name += "=%d" % int(element[4:], 16)
        out.append(name)
    return out


def _user_agent(record):
    http = record.get("http")
    if type(http) is not list:
        return None
    for message in http:
        out = message.get("out") if type(message) is dict else None
        if type(out) is not list:
            continue
        for field in out:
            if type(field) is dict:
                for key, value in field.items():
                    if key.lower() == "user-agent" and isinstance(value, str):
                        return value
    return None


class FingerprintMatcher:
    """Index of a database by canonical Joy string, JA3 MD5, JA4, TCP and User-Agent."""

    def __init__(self, database, kinds=("tls",)):
        self.kinds = tuple(kinds)
        self.by_tls, self.by_ja3, self.by_ja4 = {}, {}, {}
        self.by_tcp, self.by_ua = {}, {}
        for entry in database["entries"]:
            hello = tlsfp.parse_joy_fingerprint(entry.get("tls"))
            if hello is not None:
                self.by_tls.setdefault(tlsfp.canonical_fingerprint(hello), []).append(entry)
            ja3 = _ja3_md5(entry.get("ja3")) or _ja3_md5(entry.get("ja3_full"))
            if ja3:
                self.by_ja3.setdefault(ja3, []).append(entry)
            if isinstance(entry.get("ja4"), str) and entry["ja4"]:
                self.by_ja4.setdefault(entry["ja4"], []).append(entry)
            tcp = tcp_canonical(entry.get("tcp"))
            if tcp:
                self.by_tcp.setdefault(tcp, []).append(entry)
            if isinstance(entry.get("user_agent"), str) and entry["user_agent"]:
                self.by_ua.setdefault(entry["user_agent"], []).append(entry)

    def annotate(self, record):
        """Add ``inferences.tls`` (and ``tcp``/``http`` when asked); returns the record."""
        if "tls" in self.kinds:
            result = self._tls(record)
            if result is not None:
                _inferences(record)["tls"] = result
        if "tcp" in self.kinds:
            fps = record.get("fingerprints")
            text = fps.get("tcp") if type(fps) is dict else None
            canonical = tcp_canonical(text)
            if canonical is not None:
                _inferences(record)["tcp"] = {
                    "fingerprint": text, "options": tcp_options(text),
                    "matches": _describe([(e, ["tcp"]) for e in self.by_tcp.get(canonical, ())])}
        if "http" in self.kinds:
            agent = _user_agent(record)
            if agent is not None:
                _inferences(record)["http"] = {
                    "user_agent": agent,
                    "matches": _describe([(e, ["user_agent"]) for e in self.by_ua.get(agent, ())])}
        return record

    def _tls(self, record):
        values = flow_fingerprints(record)
        if values is None:
            return None
        canonical, ja3s, ja4s = values
        matched = {}
        order = []

        def note(entries, key):
            for entry in entries:
                if entry["id"] not in matched:
                    matched[entry["id"]] = (entry, [])
                    order.append(entry["id"])
                if key not in matched[entry["id"]][1]:
                    matched[entry["id"]][1].append(key)

        if canonical:
            note(self.by_tls.get(canonical, ()), "tls")
        for value in ja4s:
            note(self.by_ja4.get(value, ()), "ja4")
        for value in ja3s:
            note(self.by_ja3.get(value, ()), "ja3")
        matches = _describe([matched[ident] for ident in order])
        matches.sort(key=lambda m: -len(m["matched_on"]))
        result = {}
        if ja3s:
            result["ja3"] = ja3s[0]
        if ja4s:
            result["ja4"] = ja4s[0]
        result["matches"] = matches
        return result


def _describe(pairs):
    out = []
    for entry, keys in pairs:
        item = {k: entry[k] for k in _DESCRIBE if k in entry}
        item["matched_on"] = list(keys)
        out.append(item)
    return out


def _inferences(record):
    inferences = record.get("inferences")
    if type(inferences) is not dict:
        inferences = record["inferences"] = {}
    return inferences


def _ja3_md5(value):
    """MD5 form of a JA3 value (given as MD5 or as the full string), or None."""
    if not isinstance(value, str) or not value:
        return None
    value = value.strip().lower()
    if "," in value:
        return hashlib.md5(value.encode("ascii", "replace")).hexdigest()
    if len(value) == 32 and all(c in "0123456789abcdef" for c in value):
        return value
    return None


def flow_fingerprints(record):
    """``(canonical joy string or None, [ja3 md5...], [ja4...])`` or None if the flow has none."""
    fps = record.get("fingerprints")
    tls = record.get("tls")
    fps = fps if type(fps) is dict else {}
    tls = tls if type(tls) is dict else {}
    ja3s, ja4s = [], []
    for source in (fps, tls):
        for key in ("ja3", "ja3_full", "ja3_string", "ja3_str"):
            value = _ja3_md5(source.get(key))
            if value and value not in ja3s:
                ja3s.append(value)
        value = source.get("ja4")
        if isinstance(value, str) and value and value not in ja4s:
            ja4s.append(value)
    canonical = None
    hello = tlsfp.parse_joy_fingerprint(fps.get("tls"))
    if hello is not None:
        canonical = tlsfp.canonical_fingerprint(hello)
        value = tlsfp.ja3(hello)
        if value and value not in ja3s:
            ja3s.append(value)
        transport = "q" if record.get("pr") == 17 else "t"
        value = tlsfp.ja4(hello, transport)
        if value and value not in ja4s:
            ja4s.append(value)
    if canonical is None and not ja3s and not ja4s:
        return None
    return canonical, ja3s, ja4s

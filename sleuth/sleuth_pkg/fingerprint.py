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
normalised, extensions sorted), or its ``ja4`` or ``ja3`` equals the flow's.
The flow then gets::

    "inferences": {"tls": {"ja3": ..., "ja4": ...,          (the flow's values)
                           "matches": [{"id", "client", "client_version",
                                        "tls_library", "matched_on": ["tls","ja4","ja3"]}]}}

``matches`` is empty when nothing matched; entries matched on more keys come
first.  Flows without any TLS client fingerprint are left unchanged.
"""

import hashlib
import json
import os

from . import tlsfp
from .errors import DataFileError

DEFAULT_DB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data",
                          "fingerprints.json")
_DESCRIBE = ("id", "client", "client_version", "tls_library", "platform")


def load_database(path=None):
    """Read and check a fingerprint database file (raises :class:`DataFileError`)."""
    path = path or DEFAULT_DB
    try:
        with open(path, "rb") as handle:
            data = json.loads(handle.read())
    except OSError as exc:
        raise DataFileError("cannot read fingerprint database %s: %s"
                            % (path, exc.strerror or exc))
    except ValueError as exc:
        raise DataFileError("fingerprint database %s is not valid JSON: %s" % (path, exc))
    if not isinstance(data, dict) or data.get("format") != "sleuth-fingerprints":
        raise DataFileError("%s is not a sleuth fingerprint database (no \"format\": "
                            "\"sleuth-fingerprints\")" % path)
    entries = data.get("entries")
    if not isinstance(entries, list):
        raise DataFileError("fingerprint database %s: \"entries\" must be a list" % path)
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise DataFileError("fingerprint database %s: entry %d has no \"id\"" % (path, index))
        if not any(isinstance(entry.get(k), str) and entry.get(k) for k in ("tls", "ja3", "ja4")):
            raise DataFileError("fingerprint database %s: entry %r has none of tls, ja3, ja4"
                                % (path, entry["id"]))
    return data


class FingerprintMatcher:
    """Index of a database by canonical Joy string, JA3 MD5 and JA4."""

    def __init__(self, database):
        self.by_tls, self.by_ja3, self.by_ja4 = {}, {}, {}
        for entry in database["entries"]:
            hello = tlsfp.parse_joy_fingerprint(entry.get("tls"))
            if hello is not None:
                self.by_tls.setdefault(tlsfp.canonical_fingerprint(hello), []).append(entry)
            ja3 = _ja3_md5(entry.get("ja3")) or _ja3_md5(entry.get("ja3_full"))
            if ja3:
                self.by_ja3.setdefault(ja3, []).append(entry)
            if isinstance(entry.get("ja4"), str) and entry["ja4"]:
                self.by_ja4.setdefault(entry["ja4"], []).append(entry)

    def annotate(self, record):
        """Add ``inferences.tls`` to a record with a client fingerprint; returns the record."""
        values = flow_fingerprints(record)
        if values is None:
            return record
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
        matches = []
        for ident in order:
            entry, keys = matched[ident]
            item = {k: entry[k] for k in _DESCRIBE if k in entry}
            item["matched_on"] = keys
            matches.append(item)
        matches.sort(key=lambda m: -len(m["matched_on"]))
        result = {}
        if ja3s:
            result["ja3"] = ja3s[0]
        if ja4s:
            result["ja4"] = ja4s[0]
        result["matches"] = matches
        inferences = record.get("inferences")
        if type(inferences) is not dict:
            inferences = record["inferences"] = {}
        inferences["tls"] = result
        return record


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

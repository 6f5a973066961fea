"""Writers: JSON Lines (compact, like joy's own output), pretty JSON, CSV and TSV.

A writer has ``write(obj)`` and ``close()``.  CSV/TSV writers are given their
columns up front (leaf paths such as ``("tls", "sni")``, written as the header
``tls.sni``) so that output can stream; a cell holds the value at that path
(through arrays: the list of values), scalars as text, ``true``/``false`` for
booleans, arrays and objects as compact JSON, and nothing for a missing value.
"""

import csv
import json

from .paths import get_nested

_COMPACT = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


class JsonWriter:
    def __init__(self, stream, pretty=False):
        self.stream = stream
        if pretty:
            encoder = json.JSONEncoder(indent=2, check_circular=False)
            self.encode = encoder.encode
        else:
            self.encode = _COMPACT

    def write(self, obj):
        self.stream.write(self.encode(obj) + "\n")

    def close(self):
        self.stream.flush()


class TableWriter:
    """CSV (``delimiter=","``) or TSV (``"\\t"``) with a header row."""

    def __init__(self, stream, columns, delimiter=","):
        self.stream = stream
        self.columns = [tuple(c) for c in columns]
        self.writer = csv.writer(stream, delimiter=delimiter, lineterminator="\n")
        self.writer.writerow([".".join(c) for c in self.columns])

    def write(self, obj):
        self.writer.writerow([_cell(get_nested(obj, path)) for path in self.columns])

    def close(self):
        self.stream.flush()


def _cell(value):
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (dict, list)):
        return _COMPACT(value)
    if isinstance(value, float):
        return repr(value)
    return value


class CountWriter:
    """--count: counts what would have been written and prints the number at the end."""

    def __init__(self, stream):
        self.stream = stream
        self.count = 0

    def write(self, obj):
        self.count += 1

    def close(self):
        self.stream.write("%d\n" % self.count)
        self.stream.flush()
